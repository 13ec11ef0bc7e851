//! Use cases. Services own validation beyond single values, authorization of objects, and
//! publishing events. They take parsed domain values and return `AppError`s; they never see
//! GraphQL or HTTP types.

mod admin;
mod chat;
mod engagement;
mod feed;
mod notifications;
mod orders;
mod posts;
mod query_budget;
mod rate_limits;
mod reviews;
mod sessions;
mod social;
mod users;
mod wallet;

pub use admin::AdminService;
pub use chat::{ChatService, RoomFeed};
pub use engagement::EngagementService;
pub use feed::NumberedFeed;
pub use notifications::{NotificationFeed, NotificationService, Notifier};
pub use orders::{
    CartEntry, CartService, ChargeResult, CheckoutCommand, MockGateway, OrderService,
    PaymentGateway, actors_of, decline_reason, viewer_next_statuses,
};
pub use posts::{
    CreatePostCommand, FeedWatch, ListingDraft, PostFilter, PostService, PostWatch,
    UpdatePostCommand,
};
pub use query_budget::{BudgetPolicy, OverBudget, QueryBudget, ThrottleStatus};
pub use rate_limits::{Action, RateLimiter};
pub use reviews::{CreateReviewCommand, ReviewService, UpdateReviewCommand};
pub use sessions::{
    AuthSession, RegisterCommand, SessionRevoker, SessionService, SessionSettings, Viewer,
};
pub use social::SocialService;
pub use users::{UserService, UserSettings, sees_private_fields, visible_to};
pub use wallet::WalletService;

use std::net::IpAddr;

use crate::auth::{PasswordHasher, TokenKeys};
use crate::config::Config;
use crate::events::EventBus;
use crate::mail::Outbox;
use crate::store::Stores;

/// Every service, cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub users: UserService,
    pub sessions: SessionService,
    pub wallet: WalletService,
    pub admin: AdminService,
    pub posts: PostService,
    pub engagement: EngagementService,
    pub social: SocialService,
    pub chat: ChatService,
    pub notifications: NotificationService,
    pub cart: CartService,
    pub orders: OrderService,
    pub reviews: ReviewService,
    pub rate_limits: RateLimiter,
    /// Query-cost budgets, drawn by the GraphQL layer before each operation runs.
    pub query_budget: QueryBudget,
    pub events: EventBus,
}

impl Services {
    /// Wires the services to the stores. Mail goes to `outbox`; the delivery worker that
    /// drains it is the app's business.
    pub fn new(
        stores: Stores,
        hasher: PasswordHasher,
        tokens: TokenKeys,
        outbox: Outbox,
        config: &Config,
    ) -> Self {
        let events = EventBus::new(
            stores.event_log.clone(),
            std::time::Duration::from_millis(config.store.event_log_poll_ms.max(1)),
        );
        let rate_limits = RateLimiter::new(stores.rate_limits.clone(), config.rate_limits.clone());
        let revoker = SessionRevoker::new(stores.sessions.clone(), events.clone());
        let users = UserService::new(
            &stores,
            hasher,
            outbox,
            rate_limits.clone(),
            revoker.clone(),
            events.clone(),
            UserSettings::from_config(config),
        );
        let sessions = SessionService::new(
            revoker.clone(),
            users.clone(),
            rate_limits.clone(),
            tokens,
            SessionSettings::from_config(config),
        );
        let wallet = WalletService::new(stores.wallet.clone());
        let admin = AdminService::new(stores.users.clone(), users.clone(), revoker);
        let social = SocialService::new(
            stores.social.clone(),
            stores.users.clone(),
            rate_limits.clone(),
            events.clone(),
        );
        let posts = PostService::new(
            stores.posts.clone(),
            social.clone(),
            users.clone(),
            rate_limits.clone(),
            events.clone(),
        );
        let engagement = EngagementService::new(
            stores.engagement.clone(),
            social.clone(),
            posts.clone(),
            rate_limits.clone(),
            events.clone(),
        );
        let chat = ChatService::new(
            stores.chat.clone(),
            stores.social.clone(),
            users.clone(),
            posts.clone(),
            rate_limits.clone(),
            events.clone(),
        );
        let cart = CartService::new(stores.orders.clone(), posts.clone(), rate_limits.clone());
        let orders = OrderService::new(
            stores.orders.clone(),
            wallet.clone(),
            cart.clone(),
            std::sync::Arc::new(MockGateway),
            rate_limits.clone(),
            events.clone(),
            crate::store::UnpaidLimits {
                units_per_listing: i64::from(config.orders.max_unpaid_units_per_listing),
                orders: i64::from(config.orders.max_unpaid_orders),
            },
        );
        let reviews = ReviewService::new(
            stores.reviews.clone(),
            posts.clone(),
            rate_limits.clone(),
            events.clone(),
        );
        let query_budget = QueryBudget::new(
            stores.rate_limits.clone(),
            BudgetPolicy {
                maximum: config.graphql.cost_budget_maximum,
                restore_rate: config.graphql.cost_budget_restore_rate,
            },
            config.rate_limits.enabled,
        );
        Self {
            query_budget,
            cart,
            orders,
            reviews,
            posts,
            engagement,
            chat,
            notifications: NotificationService::new(stores.notifications.clone()),
            social,
            users,
            sessions,
            wallet,
            admin,
            rate_limits,
            events,
        }
    }
}

/// Where a request came from, as far as the edge can tell: the subject of per-address rate
/// limits. `ip` is `None` when the transport does not know it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientOrigin {
    pub ip: Option<IpAddr>,
}

impl ClientOrigin {
    /// The address as a rate-limit subject. An IPv6 client controls (at least) a whole /64,
    /// so it is counted per /64; an IPv4-mapped address counts as the IPv4 address.
    pub fn rate_subject(&self) -> Option<String> {
        Some(match self.ip? {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(ip: &str) -> Option<String> {
        ClientOrigin {
            ip: Some(ip.parse().expect("an IP address")),
        }
        .rate_subject()
    }

    #[test]
    fn clients_are_counted_per_ipv4_address_and_per_ipv6_64() {
        assert_eq!(subject("203.0.113.7").as_deref(), Some("203.0.113.7"));
        assert_eq!(
            subject("::ffff:203.0.113.7").as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            subject("2001:db8:1:2:aaaa::1"),
            subject("2001:db8:1:2:bbbb::2")
        );
        assert_eq!(
            subject("2001:db8:1:2::1").as_deref(),
            Some("2001:db8:1:2::/64")
        );
        assert_eq!(ClientOrigin::default().rate_subject(), None);
    }
}
