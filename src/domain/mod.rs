//! Pure domain types and rules: ids, validated values and the invariants they carry.
//!
//! Nothing here does I/O, is async, or knows about GraphQL, HTTP or a database. Inputs become
//! these types at the edge ("parse, don't validate"), so services only ever see valid values.

mod account;
mod card;
mod country;
mod ids;
mod mail;
mod validation;

pub use account::{
    Address, Bio, DisplayName, Email, NewAddress, NewPassword, Phone, ProfilePatch, Role, User,
    Username, WebUrl,
};
pub use card::{CardBrand, CardExpiry, CardNumber, PaymentCard};
pub use country::CountryCode;
pub use ids::{AddressId, CardId, MailId, SessionId, UserId};
pub use mail::OutgoingMail;
pub use validation::ValidationError;
