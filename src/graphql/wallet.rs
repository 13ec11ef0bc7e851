//! The wallet over GraphQL: saving and removing the viewer's addresses and payment cards, and
//! their output types. `User.addresses` and `User.paymentCards` read them.

use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};

use super::ContextExt;
use crate::domain::{
    self, AddressId, CardExpiry, CardId, CardNumber, CountryCode, DisplayName, NewAddress, Phone,
    ValidationError,
};
use crate::error::AppError;
use crate::graphql::parse_id;

#[derive(Default)]
pub struct WalletMutation;

#[Object]
impl WalletMutation {
    async fn add_address(&self, ctx: &Context<'_>, input: AddressInput) -> Result<Address> {
        let viewer = ctx.require_viewer()?;
        let address = ctx
            .services()
            .wallet
            .add_address(viewer, input.parse()?)
            .await?;
        Ok(Address(address))
    }

    async fn remove_address(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id::<AddressId>("id", &id)?;
        Ok(ctx.services().wallet.remove_address(viewer, &id).await?)
    }

    /// Saves a card: the number is checked and discarded; brand, last four digits and
    /// expiry are kept.
    async fn add_payment_card(&self, ctx: &Context<'_>, input: CardInput) -> Result<PaymentCard> {
        let viewer = ctx.require_viewer()?;
        let (number, expiry, holder) = input.parse()?;
        let card = ctx
            .services()
            .wallet
            .add_card(viewer, number, expiry, holder)
            .await?;
        Ok(PaymentCard(card))
    }

    async fn remove_payment_card(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id::<CardId>("id", &id)?;
        Ok(ctx.services().wallet.remove_card(viewer, &id).await?)
    }
}

/// A saved shipping address.
pub struct Address(pub domain::Address);

#[Object]
impl Address {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn recipient(&self) -> &str {
        &self.0.recipient
    }
    async fn phone(&self) -> &str {
        &self.0.phone
    }
    async fn line1(&self) -> &str {
        &self.0.line1
    }
    async fn line2(&self) -> Option<&str> {
        self.0.line2.as_deref()
    }
    async fn city(&self) -> &str {
        &self.0.city
    }
    async fn region(&self) -> Option<&str> {
        self.0.region.as_deref()
    }
    async fn postal_code(&self) -> &str {
        &self.0.postal_code
    }
    /// ISO 3166-1 alpha-2.
    async fn country(&self) -> &str {
        self.0.country.as_str()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A saved card. The full number is never stored: only what a receipt would show.
pub struct PaymentCard(pub domain::PaymentCard);

#[Object]
impl PaymentCard {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// `VISA`, `MASTERCARD`, `AMEX`, `DISCOVER`, `JCB`, `UNIONPAY`, `MIR` or `UNKNOWN`.
    async fn brand(&self) -> &'static str {
        self.0.brand.as_str()
    }
    async fn last4(&self) -> &str {
        &self.0.last4
    }
    async fn exp_month(&self) -> u32 {
        self.0.exp_month
    }
    async fn exp_year(&self) -> i32 {
        self.0.exp_year
    }
    async fn holder(&self) -> Option<&str> {
        self.0.holder.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(InputObject)]
pub struct AddressInput {
    pub recipient: String,
    pub phone: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, e.g. `KZ`.
    pub country: String,
}

impl AddressInput {
    fn parse(self) -> Result<NewAddress, AppError> {
        use crate::domain::ValidationError as V;
        let text = |field: &str, raw: &str, max: usize| -> Result<String, V> {
            let value = raw.trim();
            if value.is_empty() {
                return Err(V::new(field, "must not be empty"));
            }
            if value.chars().count() > max || value.chars().any(char::is_control) {
                return Err(V::new(
                    field,
                    format!("must be at most {max} characters of text"),
                ));
            }
            Ok(value.to_owned())
        };
        let optional_text =
            |field: &str, raw: Option<String>, max: usize| -> Result<Option<String>, V> {
                raw.filter(|r| !r.trim().is_empty())
                    .map(|r| text(field, &r, max))
                    .transpose()
            };
        let parsed = (|| {
            Ok::<_, V>(NewAddress {
                recipient: text("recipient", &self.recipient, 100)?,
                phone: Phone::parse("phone", &self.phone)?.into_string(),
                line1: text("line1", &self.line1, 200)?,
                line2: optional_text("line2", self.line2, 200)?,
                city: text("city", &self.city, 100)?,
                region: optional_text("region", self.region, 100)?,
                postal_code: text("postalCode", &self.postal_code, 20)?,
                country: CountryCode::parse("country", &self.country)?,
            })
        })();
        parsed.map_err(|e| AppError::from(e.under("input")))
    }
}

#[derive(InputObject)]
pub struct CardInput {
    /// The full card number. It is checked (Luhn) and then discarded: only the brand, the
    /// last four digits and the expiry are stored.
    pub number: String,
    pub exp_month: i32,
    /// Four digits, or two (`29` means 2029).
    pub exp_year: i32,
    pub holder: Option<String>,
}

impl CardInput {
    fn parse(self) -> Result<(CardNumber, CardExpiry, Option<String>), AppError> {
        let under = |e: ValidationError| AppError::from(e.under("input"));
        let number = CardNumber::parse("number", &self.number).map_err(under)?;
        let expiry =
            CardExpiry::parse(self.exp_month, self.exp_year, crate::clock::now()).map_err(under)?;
        let holder = match self
            .holder
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty())
        {
            Some(holder) => Some(
                DisplayName::parse(holder)
                    .map_err(|_| {
                        AppError::bad_input("input.holder", "must be 1 to 50 characters of text")
                    })?
                    .into_string(),
            ),
            None => None,
        };
        Ok((number, expiry, holder))
    }
}
