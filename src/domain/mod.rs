//! Pure domain types and rules: ids, validated values and the invariants they carry.
//!
//! Nothing here does I/O, is async, or knows about GraphQL, HTTP or a database. Inputs become
//! these types at the edge ("parse, don't validate"), so services only ever see valid values.

mod account;
mod card;
mod category;
mod chat;
mod country;
mod ids;
mod mail;
mod money;
mod notification;
mod order;
mod password;
mod post;
mod review;
mod validation;

pub use account::{
    Address, Bio, DisplayName, Email, NewAddress, Phone, ProfilePatch, Role, User, Username, WebUrl,
};
pub use card::{CardBrand, CardExpiry, CardNumber, PaymentCard};
pub use category::{Category, categories, category, with_descendants};
pub use chat::{
    ChatRoom, ChatRoomKind, GroupTitle, MAX_GROUP_MEMBERS, Message, direct_key, parse_message_body,
};
pub use country::CountryCode;
pub use ids::{
    AddressId, CardId, CategoryId, ChatRoomId, CommentId, Id, MailId, MessageId, NotificationId,
    OrderId, PostId, ReviewId, SessionId, UserId,
};
pub use mail::OutgoingMail;
pub use money::{Amount, Currency, Money};
pub use notification::{Notification, NotificationKind};
pub use order::{
    CartLine, CheckoutLine, MAX_CART_LINES, MAX_LINE_QUANTITY, Order, OrderActor, OrderItem,
    OrderStatus, PaymentAttempt, PaymentOutcome, StatusChange, can_move, cart_fingerprint,
    next_statuses, order_number, parse_idempotency_key, parse_note, split_cart,
};
pub use password::NewPassword;
pub use post::{
    Attribute, Comment, Listing, ListingStatus, MAX_ATTRIBUTES, MAX_MEDIA, MAX_MENTIONS, Post,
    PostBody, PostCounts, PostKind, ReactionKind, parse_comment_body, parse_media, parse_title,
};
pub use review::{Rating, RatingSummary, Review, parse_review_body};
pub use validation::ValidationError;
