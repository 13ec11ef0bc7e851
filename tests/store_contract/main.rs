//! The store contract suite: every test is written once, as an async function taking a fresh
//! [`agora::store::Stores`], and run against both adapters.
//!
//! - `sqlite::<name>` always runs, on a new SQLite file in a temporary directory.
//! - `mongo::<name>` needs a MongoDB server at `TEST_MONGODB_URI`, so it is `#[ignore]`d and
//!   `cargo test` needs no setup: `cargo test --test store_contract -- --ignored mongo::` runs it.
//!   Each test gets a new database, dropped afterwards (even when the test fails); run without
//!   the variable, it fails saying so.
//! - `mongo_text::<name>`, for the tests of text search, likewise needs `TEST_MONGODB_TEXT_URI`:
//!   a server with text indexes, which SecantusDB (CI's MongoDB stand-in) does not have; CI
//!   runs them against nx-27017.
//! - `upgrades::mongo::<name>`: MongoDB start-up on documents stored by earlier versions, on
//!   `TEST_MONGODB_URI` like `mongo::`.
//!
//! A test that passes on one adapter and fails on the other has found a bug in one of them.

mod chat;
mod engagement;
mod event_log;
mod fixtures;
mod harness;
mod notifications;
mod one_time_tokens;
mod orders;
mod outbox;
mod posts;
mod rate_limits;
mod reviews;
mod sessions;
mod social;
mod upgrades;
mod users;
mod wallet;

/// Generates `sqlite::<name>` for every listed `module::name`, and `mongo::<name>` for those
/// before `text search:` and `mongo_text::<name>` for those after it, both ignored unless asked
/// for. A contract test missing
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
                #[ignore = "needs TEST_MONGODB_URI: a MongoDB server (see README, Testing)"]
                async fn $name() {
                    crate::harness::on_mongo(crate::$module::$name).await;
                }
            )*
        }

        mod mongo_text {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[ignore = "needs TEST_MONGODB_TEXT_URI: a MongoDB server with text indexes (see README, Testing)"]
                async fn $text_name() {
                    crate::harness::on_mongo_text(crate::$text_module::$text_name).await;
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
    users::a_username_that_looks_like_a_taken_one_is_a_username_conflict,
    users::of_two_concurrent_look_alike_usernames_exactly_one_is_created,
    users::get_many_users_skips_unknown_ids_and_duplicates,
    users::password_hashes_are_stored_and_replaced,
    users::update_profile_sets_clears_and_leaves_fields,
    users::an_empty_profile_patch_only_touches_updated_at,
    users::roles_and_activation_are_updated,
    users::users_are_found_by_many_usernames_at_once,
    users::search_matches_username_and_display_name_case_insensitively,
    users::non_ascii_display_names_match_in_any_case,
    users::emails_match_only_when_asked,
    users::inactive_users_are_hidden_unless_included,
    users::search_metacharacters_are_literal,
    users::pages_cover_every_match_once_in_username_order,
    users::an_exactly_full_last_page_has_no_next,
    sessions::sessions_are_created_and_read_back,
    sessions::rotating_the_current_token_moves_it_and_the_expiry,
    sessions::replaying_a_retired_token_revokes_the_family,
    sessions::unknown_expired_and_revoked_tokens_are_rejected,
    sessions::only_one_of_twenty_concurrent_rotations_wins,
    sessions::only_the_most_recent_retired_tokens_are_remembered,
    sessions::revoking_by_token_ends_only_that_session,
    sessions::revoking_a_users_sessions_can_keep_one,
    sessions::unknown_session_ids_find_nothing,
    sessions::a_session_needs_an_existing_user,
    wallet::addresses_are_listed_oldest_first_and_removed_only_by_owner,
    wallet::cards_keep_brand_last4_and_expiry_only,
    wallet::cards_are_listed_oldest_first_and_removed_only_by_owner,
    wallet::owned_records_need_an_existing_user,
    wallet::an_unknown_owner_has_nothing_to_list_or_remove,
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
    engagement::favorites_are_idempotent_and_listed_newest_first,
    social::following_is_idempotent_and_counted_on_both_users,
    social::unfollowing_removes_the_edge_and_its_counts_once,
    social::blocking_removes_follows_both_ways_and_keeps_them_out,
    social::batch_helpers_answer_for_known_ids_only,
    social::edges_need_two_distinct_existing_users,
    social::follower_pages_cover_every_edge_once_with_follows_in_between,
    social::following_pages_list_followees_newest_first,
    social::twenty_concurrent_follows_of_one_pair_make_one_edge,
    social::twenty_concurrent_followers_are_all_counted,
    social::a_follow_racing_a_block_never_leaves_an_edge,
    users::email_verification_is_recorded_and_unknown_users_find_nothing,
    one_time_tokens::a_token_is_consumed_once_for_its_user,
    one_time_tokens::a_token_expires_at_its_expiry,
    one_time_tokens::a_newer_token_supersedes_the_previous_one_of_that_purpose_only,
    one_time_tokens::a_used_token_is_replaced_by_a_new_request,
    one_time_tokens::a_token_never_works_for_the_other_purpose,
    one_time_tokens::tokens_need_an_existing_user,
    one_time_tokens::only_one_of_twenty_concurrent_consumes_wins,
    one_time_tokens::concurrent_issues_leave_exactly_one_working_token,
    one_time_tokens::peeking_answers_like_consume_without_using_the_token_up,
    outbox::an_enqueued_message_reads_back_pending,
    outbox::a_claim_takes_the_oldest_due_message_once,
    outbox::a_sent_message_is_never_claimed_again_and_loses_its_bodies,
    outbox::a_failed_attempt_waits_for_its_retry_time,
    outbox::giving_up_fails_the_message_for_good,
    outbox::an_expired_lease_is_claimed_again_and_the_stale_holder_cannot_settle,
    outbox::only_one_of_twenty_concurrent_claims_gets_the_message,
    rate_limits::hits_beyond_the_limit_are_refused_until_the_oldest_leaves_the_window,
    rate_limits::keys_are_counted_independently,
    rate_limits::a_quiet_key_starts_over_after_a_whole_window,
    rate_limits::a_zero_limit_refuses_every_hit,
    rate_limits::exactly_the_limit_of_thirty_concurrent_hits_is_allowed,
    rate_limits::a_budget_spend_starts_from_now_or_from_its_time_whichever_is_later,
    rate_limits::concurrent_budget_spends_all_count,
    posts::text_search_works_or_is_reported_unsupported,
    chat::a_direct_room_is_one_per_pair_and_listing_whoever_opens_it,
    chat::twenty_concurrent_opens_of_one_pair_make_one_room,
    chat::a_group_room_reads_back_with_its_members_in_order,
    chat::messages_are_numbered_and_paged_newest_first,
    chat::only_members_of_an_existing_room_add_messages,
    chat::twenty_concurrent_messages_get_distinct_gapless_numbers,
    chat::unread_counts_follow_read_positions_and_own_messages,
    chat::rooms_are_listed_by_last_activity_without_gaps,
    event_log::entries_are_numbered_in_append_order_and_read_after_a_position,
    event_log::two_tails_read_the_same_sequence_of_concurrent_appends,
    event_log::a_tail_catches_up_after_a_gap_and_numbers_survive_pruning,
    event_log::a_tail_is_woken_after_an_append,
    event_log::a_batch_is_appended_in_order_under_consecutive_numbers,
    event_log::concurrent_batches_keep_each_batch_contiguous,
    event_log::ephemeral_entries_are_read_in_order_and_pruned_on_their_own,
    notifications::a_notification_reads_back_exactly_with_the_next_number,
    notifications::one_event_notifies_a_recipient_once_even_concurrently,
    notifications::twenty_concurrent_notifications_get_distinct_gapless_numbers,
    notifications::pages_are_newest_first_and_replay_is_oldest_first,
    notifications::marking_read_counts_only_the_recipients_unread_ones,
    notifications::a_batch_numbers_each_recipient_and_skips_what_is_stored,
    notifications::concurrent_batches_of_one_event_notify_each_recipient_once,
    notifications::a_batch_naming_an_unknown_recipient_stores_none_of_it,
    notifications::a_repeat_while_unread_updates_that_notification_instead_of_adding_one,
    notifications::marking_a_coalesced_notification_read_ends_its_coalescing,
    notifications::concurrent_repeats_converge_on_one_unread_notification,
    notifications::a_batch_mixing_new_and_coalesced_notifications_returns_only_the_new,
    orders::a_cart_keeps_one_line_per_listing_oldest_first,
    orders::checkout_takes_stock_stores_orders_and_empties_the_cart,
    orders::checkout_of_an_inactive_or_short_listing_changes_nothing,
    orders::fifty_concurrent_checkouts_of_ten_units_sell_exactly_ten,
    orders::twenty_concurrent_replays_of_one_key_place_one_set_of_orders,
    orders::a_key_reused_for_another_cart_is_refused,
    orders::a_checkout_without_orders_only_looks_its_key_up,
    orders::of_two_updates_from_one_revision_exactly_one_is_written,
    orders::cancelling_returns_stock_and_a_sold_listing_becomes_active,
    orders::orders_are_listed_newest_first_per_side_and_status,
    orders::payment_attempts_are_kept_oldest_first,
    orders::delivered_purchases_and_seller_stats_count_delivered_orders_only,
    orders::seller_stats_count_live_listings_per_status_and_sum_their_ratings,
    orders::a_checkout_over_an_unpaid_limit_takes_nothing_and_says_which,
    orders::paying_or_cancelling_an_unpaid_order_frees_room,
    orders::twenty_concurrent_checkouts_by_one_buyer_never_pass_the_limits,
    reviews::a_review_reads_back_and_a_second_by_the_same_author_conflicts,
    reviews::updating_and_deleting_move_the_counters,
    reviews::concurrent_reviews_keep_the_counters_exact,
    reviews::reviews_are_listed_newest_first_by_filter,
    reviews::a_sellers_rating_sums_their_listings,
    reviews::a_review_counts_as_verified_exactly_when_its_author_received_the_listing,
    reviews::deliveries_racing_reviews_still_count_every_verified_purchase;
    text search:
    posts::text_search_needs_every_word_in_any_case,
);
