//! The store contract suite: every test is written once, as an async function taking a fresh
//! [`agora::store::Stores`], and run against both adapters.
//!
//! - `sqlite::<name>` always runs, on a new SQLite file in a temporary directory.
//! - `mongo::<name>` runs when `TEST_MONGODB_URI` is set, each test in a new database that is
//!   dropped afterwards (even when the test fails); without the variable it prints that it was
//!   skipped and passes, so `cargo test` needs no setup.
//! - `mongo_text::<name>`, for the tests of text search, runs likewise when
//!   `TEST_MONGODB_TEXT_URI` is set: they need a server with text indexes, which SecantusDB
//!   (CI's MongoDB stand-in) does not have; CI runs them against nx-27017.
//!
//! A test that passes on one adapter and fails on the other has found a bug in one of them.

mod engagement;
mod fixtures;
mod harness;
mod posts;
mod search;
mod sessions;
mod users;
mod wallet;

/// Generates `sqlite::<name>` for every listed `module::name`, and `mongo::<name>` for those
/// before `text search:` and `mongo_text::<name>` for those after it. A contract test missing
/// from these lists is dead code, which clippy refuses, so none can be forgotten.
macro_rules! contract_tests {
    (
        $($module:ident::$name:ident),* $(,)?;
        text search: $($text_module:ident::$text_name:ident),* $(,)?
    ) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    crate::harness::on_sqlite(crate::$module::$name).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $text_name() {
                    crate::harness::on_sqlite(crate::$text_module::$text_name).await;
                }
            )*
        }

        mod mongo {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    crate::harness::on_mongo(stringify!($name), crate::$module::$name).await;
                }
            )*
        }

        mod mongo_text {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $text_name() {
                    crate::harness::on_mongo_text(
                        stringify!($text_name),
                        crate::$text_module::$text_name,
                    )
                    .await;
                }
            )*
        }
    };
}

contract_tests!(
    users::a_created_user_reads_back_exactly,
    users::optional_profile_fields_read_back_as_none,
    users::unknown_ids_find_nothing,
    users::emails_are_unique,
    users::usernames_are_unique,
    users::get_many_users_skips_unknown_ids_and_duplicates,
    users::password_hashes_are_stored_and_replaced,
    users::update_profile_sets_clears_and_leaves_fields,
    users::an_empty_profile_patch_only_touches_updated_at,
    users::roles_and_activation_are_updated,
    search::search_matches_username_and_display_name_case_insensitively,
    search::non_ascii_display_names_match_in_any_case,
    search::emails_match_only_when_asked,
    search::inactive_users_are_hidden_unless_included,
    search::search_metacharacters_are_literal,
    search::pages_cover_every_match_once_in_username_order,
    search::an_exactly_full_last_page_has_no_next,
    sessions::sessions_are_created_and_read_back,
    sessions::rotating_the_current_token_moves_it_and_the_expiry,
    sessions::replaying_a_retired_token_revokes_the_family,
    sessions::unknown_expired_and_revoked_tokens_are_rejected,
    sessions::only_one_of_twenty_concurrent_rotations_wins,
    sessions::only_the_most_recent_retired_tokens_are_remembered,
    sessions::revoking_by_token_ends_only_that_session,
    sessions::revoking_a_users_sessions_can_keep_one,
    wallet::addresses_are_listed_oldest_first_and_removed_only_by_owner,
    wallet::cards_keep_brand_last4_and_expiry_only,
    wallet::cards_are_listed_oldest_first_and_removed_only_by_owner,
    wallet::owned_records_need_an_existing_user,
    posts::a_created_post_reads_back_exactly,
    posts::deleted_posts_are_never_returned,
    posts::editing_a_post_sets_edited_at_and_settles_the_listing_status,
    posts::the_feed_pages_newest_first_without_gaps_while_posts_arrive,
    posts::search_filters_narrow_the_results,
    posts::price_orders_page_by_price_and_skip_posts_without_one,
    posts::trending_tags_count_recent_listed_posts,
    engagement::comments_are_counted_and_threaded_oldest_first,
    engagement::a_deleted_comment_keeps_its_place_and_stops_counting,
    engagement::first_comments_come_in_one_batch_per_post,
    engagement::reacting_again_replaces_the_kind,
    engagement::concurrent_reactions_keep_counts_exact,
    engagement::favorites_are_idempotent_and_listed_newest_first;
    text search:
    posts::text_search_needs_every_word_in_any_case,
);
