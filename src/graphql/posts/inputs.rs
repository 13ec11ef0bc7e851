//! Inputs of posts and listings, parsed into domain values with client-side field paths.

use async_graphql::{Enum, InputObject, MaybeUndefined};

use super::types::{ListingStatus, PostKind};
use crate::domain::{self, Attribute, CategoryId, Listing, Money, PostBody, ValidationError};
use crate::error::AppError;
use crate::graphql::scalars::Decimal;
use crate::service::{CreatePostCommand, ListingDraft, UpdatePostCommand};
use crate::store::ListingPatch;

#[derive(InputObject)]
pub struct MoneyInput {
    pub amount: Decimal,
    /// ISO 4217, e.g. `KZT`.
    pub currency: String,
}

impl MoneyInput {
    fn parse(&self, field: &str) -> Result<Money, ValidationError> {
        let money = Money::parse(field, &self.amount.0, &self.currency)?;
        Listing::validate_price(field, &money)?;
        Ok(money)
    }
}

#[derive(InputObject)]
pub struct AttributeInput {
    pub key: String,
    pub value: String,
}

#[derive(InputObject)]
pub struct ListingInput {
    pub price: MoneyInput,
    pub stock: i32,
    pub category_id: Option<async_graphql::ID>,
    #[graphql(default_with = "ListingStatus::Active")]
    pub status: ListingStatus,
    pub attributes: Option<Vec<AttributeInput>>,
}

fn attributes(field: &str, list: &[AttributeInput]) -> Result<Vec<Attribute>, ValidationError> {
    let pairs: Vec<(String, String)> = list
        .iter()
        .map(|a| (a.key.clone(), a.value.clone()))
        .collect();
    Attribute::parse_list(field, &pairs)
}

fn category(raw: &async_graphql::ID, field: &str) -> Result<CategoryId, ValidationError> {
    CategoryId::parse(raw.as_str())
        .ok_or_else(|| ValidationError::new(field, "is not a known category"))
}

impl ListingInput {
    fn parse(&self) -> Result<ListingDraft, ValidationError> {
        Listing::validate_stock("input.listing.stock", i64::from(self.stock))?;
        Ok(ListingDraft {
            price: self.price.parse("input.listing.price")?,
            stock: i64::from(self.stock),
            category_id: self
                .category_id
                .as_ref()
                .map(|c| category(c, "input.listing.categoryId"))
                .transpose()?,
            status: self.status.into(),
            attributes: attributes(
                "input.listing.attributes",
                self.attributes.as_deref().unwrap_or_default(),
            )?,
        })
    }

    /// On update every listing field given replaces the stored one.
    fn parse_patch(&self) -> Result<ListingPatch, ValidationError> {
        let draft = self.parse()?;
        Ok(ListingPatch {
            price: Some(draft.price),
            stock: Some(draft.stock),
            status: Some(draft.status),
            category_id: Some(draft.category_id),
            attributes: self.attributes.as_ref().map(|_| draft.attributes),
        })
    }
}

#[derive(InputObject)]
pub struct CreatePostInput {
    #[graphql(default_with = "PostKind::Text")]
    pub kind: PostKind,
    pub title: Option<String>,
    /// Hashtags (`#tag`) and mentions (`@username`) are read from the body.
    pub body: String,
    /// Image URLs (http/https), at most 10.
    pub media_urls: Option<Vec<String>>,
    /// Required when `kind` is `LISTING`.
    pub listing: Option<ListingInput>,
}

impl CreatePostInput {
    pub fn parse(self) -> Result<CreatePostCommand, ValidationError> {
        Ok(CreatePostCommand {
            kind: self.kind.into(),
            title: self
                .title
                .as_deref()
                .filter(|t| !t.trim().is_empty())
                .map(|t| domain::parse_title("input.title", t))
                .transpose()?,
            body: PostBody::parse("input.body", &self.body)?,
            media: domain::parse_media(
                "input.mediaUrls",
                self.media_urls.as_deref().unwrap_or_default(),
            )?,
            listing: self.listing.as_ref().map(ListingInput::parse).transpose()?,
        })
    }
}

/// Fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdatePostInput {
    /// `null` removes the title (text posts only).
    pub title: MaybeUndefined<String>,
    pub body: Option<String>,
    pub media_urls: Option<Vec<String>>,
    pub listing: Option<ListingInput>,
}

impl UpdatePostInput {
    pub fn parse(self) -> Result<UpdatePostCommand, ValidationError> {
        Ok(UpdatePostCommand {
            title: match &self.title {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(t) if t.trim().is_empty() => Some(None),
                MaybeUndefined::Value(t) => Some(Some(domain::parse_title("input.title", t)?)),
            },
            body: self
                .body
                .as_deref()
                .map(|b| PostBody::parse("input.body", b))
                .transpose()?,
            media: self
                .media_urls
                .as_deref()
                .map(|m| domain::parse_media("input.mediaUrls", m))
                .transpose()?,
            listing: self
                .listing
                .as_ref()
                .map(ListingInput::parse_patch)
                .transpose()?,
        })
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
pub enum PostOrder {
    #[default]
    Newest,
    PriceAsc,
    PriceDesc,
    /// Best rated first by the average over verified purchases (`RatingSummary.verifiedAverage`),
    /// so reviews from accounts that never bought a listing cannot move it; listings without
    /// verified reviews come last.
    Rating,
}

impl From<PostOrder> for crate::store::PostOrder {
    fn from(order: PostOrder) -> Self {
        match order {
            PostOrder::Newest => Self::Newest,
            PostOrder::PriceAsc => Self::PriceAsc,
            PostOrder::PriceDesc => Self::PriceDesc,
            PostOrder::Rating => Self::Rating,
        }
    }
}

#[derive(InputObject, Default)]
pub struct PostFilter {
    /// Words that must all appear in the title, body or tags.
    pub text: Option<String>,
    pub author_id: Option<async_graphql::ID>,
    pub kind: Option<PostKind>,
    pub tag: Option<String>,
    /// Includes the category's subcategories.
    pub category_id: Option<async_graphql::ID>,
    /// Inclusive bounds; amounts in the listing's currency.
    pub price_min: Option<Decimal>,
    pub price_max: Option<Decimal>,
    pub status: Option<ListingStatus>,
    pub in_stock: Option<bool>,
    pub created_after: Option<chrono::DateTime<chrono::Utc>>,
    pub created_before: Option<chrono::DateTime<chrono::Utc>>,
}

impl PostFilter {
    pub fn parse(self) -> Result<crate::service::PostFilter, AppError> {
        // Bounds are compared on the stored scale, which holds every currency's decimals.
        let four_digits = domain::Currency::parse("currency", "CLF").map_err(AppError::from)?;
        let bound = |field: &str, raw: &Option<Decimal>| {
            raw.as_ref()
                .map(|d| {
                    domain::Amount::parse(field, &d.0, four_digits).map(domain::Amount::scaled)
                })
                .transpose()
        };
        let author_id = match &self.author_id {
            Some(id) => Some(crate::graphql::parse_id::<domain::UserId>(
                "filter.authorId",
                id,
            )?),
            None => None,
        };
        let category_id = self
            .category_id
            .as_ref()
            .map(|c| category(c, "filter.categoryId"))
            .transpose()?;
        Ok(crate::service::PostFilter {
            text: self.text.filter(|t| !t.trim().is_empty()),
            author_id,
            kind: self.kind.map(Into::into),
            tag: self
                .tag
                .map(|t| t.trim().trim_start_matches('#').to_lowercase())
                .filter(|t| !t.is_empty()),
            category_id,
            price_min: bound("filter.priceMin", &self.price_min)?,
            price_max: bound("filter.priceMax", &self.price_max)?,
            status: self.status.map(Into::into),
            in_stock: self.in_stock,
            created_after: self.created_after,
            created_before: self.created_before,
        })
    }
}
