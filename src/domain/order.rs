//! Orders: their lifecycle as a state machine, the split of a cart into orders, and the
//! values an order snapshots at checkout.
//!
//! The machine is data: [`can_move`] says whether a role may move an order from one status to
//! another, and everything else (the service's checks, `nextStatuses`) asks it. Paying is the
//! only way out of `PENDING_PAYMENT` into `PAID`, so that edge is not in the table.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::validation::{ValidationError, clean_text};
use super::{Address, Amount, CardId, Currency, Money, OrderId, PostId, UserId};

/// Most units of one listing in one cart line.
pub const MAX_LINE_QUANTITY: i64 = 1000;
/// Most lines in a cart.
pub const MAX_CART_LINES: usize = 50;
pub const MAX_NOTE_CHARS: usize = 500;
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    PendingPayment,
    Paid,
    Processing,
    Shipped,
    OutForDelivery,
    Delivered,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::PendingPayment,
        OrderStatus::Paid,
        OrderStatus::Processing,
        OrderStatus::Shipped,
        OrderStatus::OutForDelivery,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "PENDING_PAYMENT",
            OrderStatus::Paid => "PAID",
            OrderStatus::Processing => "PROCESSING",
            OrderStatus::Shipped => "SHIPPED",
            OrderStatus::OutForDelivery => "OUT_FOR_DELIVERY",
            OrderStatus::Delivered => "DELIVERED",
            OrderStatus::Cancelled => "CANCELLED",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the stock of the order's items is still held by it: cancelling such an order
    /// gives the stock back.
    pub fn holds_stock(self) -> bool {
        self != OrderStatus::Cancelled
    }
}

/// Who is acting on an order, as far as the machine cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderActor {
    Buyer,
    Seller,
    Admin,
}

/// Whether `actor` may move an order from `from` to `to`.
///
/// - The seller works the order: `PAID → PROCESSING → SHIPPED → OUT_FOR_DELIVERY`.
/// - The buyer or the seller confirms delivery: `OUT_FOR_DELIVERY → DELIVERED`.
/// - The buyer or the seller cancels before shipping: from `PENDING_PAYMENT`, `PAID` or
///   `PROCESSING` to `CANCELLED`.
/// - An admin may make any of these moves.
/// - `PENDING_PAYMENT → PAID` happens only by paying (`payOrder`), never by a status update.
pub fn can_move(from: OrderStatus, to: OrderStatus, actor: OrderActor) -> bool {
    use OrderActor::{Admin, Buyer, Seller};
    use OrderStatus::*;
    let allowed: &[OrderActor] = match (from, to) {
        (Paid, Processing) | (Processing, Shipped) | (Shipped, OutForDelivery) => &[Seller, Admin],
        (OutForDelivery, Delivered) => &[Buyer, Seller, Admin],
        (PendingPayment | Paid | Processing, Cancelled) => &[Buyer, Seller, Admin],
        _ => &[],
    };
    allowed.contains(&actor)
}

/// The statuses any of `actors` may move an order in `status` to, in lifecycle order.
pub fn next_statuses(status: OrderStatus, actors: &[OrderActor]) -> Vec<OrderStatus> {
    OrderStatus::ALL
        .into_iter()
        .filter(|to| actors.iter().any(|a| can_move(status, *to, *a)))
        .collect()
}

/// One line of an order: what was bought, at the price and under the title it had at checkout.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    pub post_id: PostId,
    pub title: String,
    pub unit_price: Money,
    pub quantity: i64,
}

impl OrderItem {
    pub fn line_total(&self) -> Option<Money> {
        Some(Money {
            amount: self.unit_price.amount.checked_mul(self.quantity)?,
            currency: self.unit_price.currency,
        })
    }
}

/// One step of an order's history. `by` is `None` when the system moved it (checkout is the
/// buyer; expiry is the system).
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    pub status: OrderStatus,
    pub at: DateTime<Utc>,
    pub by: Option<UserId>,
}

/// How a payment attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentOutcome {
    Succeeded,
    Declined,
    InsufficientFunds,
    /// Money given back (an order cancelled after it was paid).
    Refunded,
}

impl PaymentOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentOutcome::Succeeded => "SUCCEEDED",
            PaymentOutcome::Declined => "DECLINED",
            PaymentOutcome::InsufficientFunds => "INSUFFICIENT_FUNDS",
            PaymentOutcome::Refunded => "REFUNDED",
        }
    }
}

/// One attempt to charge (or refund) an order, kept whatever its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentAttempt {
    pub id: String,
    pub order_id: OrderId,
    pub card_id: CardId,
    pub card_last4: String,
    pub amount: Money,
    pub outcome: PaymentOutcome,
    /// The gateway's reference for the charge.
    pub reference: String,
    pub at: DateTime<Utc>,
}

/// An order: one seller's part of a checkout.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub id: OrderId,
    pub number: String,
    pub buyer_id: UserId,
    pub seller_id: UserId,
    pub items: Vec<OrderItem>,
    pub total: Money,
    pub status: OrderStatus,
    pub history: Vec<StatusChange>,
    pub shipping_address: Address,
    pub note: Option<String>,
    /// The successful charge (and, after a paid order is cancelled, its refund), if any.
    pub payment: Option<PaymentAttempt>,
    /// Counts changes; a change is written only over the revision it was computed from.
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Order {
    /// Who `user` is to this order, if anyone (an admin is told apart by the caller).
    pub fn actor(&self, user: &UserId) -> Option<OrderActor> {
        if &self.buyer_id == user {
            Some(OrderActor::Buyer)
        } else if &self.seller_id == user {
            Some(OrderActor::Seller)
        } else {
            None
        }
    }

    /// The order moved to `to` at `at` by `by`, as the next revision would store it.
    pub fn moved(&self, to: OrderStatus, at: DateTime<Utc>, by: Option<UserId>) -> Order {
        let mut next = self.clone();
        next.status = to;
        next.history.push(StatusChange { status: to, at, by });
        next.updated_at = at;
        next
    }
}

/// A human-readable order number: the day (`YYMMDD`) and 12 hex digits of the order id's
/// random part, unique in practice and short enough to read out on the phone.
pub fn order_number(id: &OrderId, at: DateTime<Utc>) -> String {
    let raw = id.as_str();
    let tail = &raw[raw.len().saturating_sub(12)..];
    format!("{}-{}", at.format("%y%m%d"), tail.to_ascii_uppercase())
}

/// A cart line ready for checkout: the listing's live title, price and seller.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckoutLine {
    pub post_id: PostId,
    pub seller_id: UserId,
    pub title: String,
    pub unit_price: Money,
    pub quantity: i64,
}

/// Groups cart lines into orders: one per seller and currency (an order has one total), in
/// the order the groups first appear. `None` when a total overflows.
pub fn split_cart(
    lines: &[CheckoutLine],
    buyer: &UserId,
    address: &Address,
    note: Option<&str>,
    at: DateTime<Utc>,
) -> Option<Vec<Order>> {
    let mut groups: Vec<(UserId, Currency, Vec<OrderItem>)> = Vec::new();
    for line in lines {
        let item = OrderItem {
            post_id: line.post_id.clone(),
            title: line.title.clone(),
            unit_price: line.unit_price,
            quantity: line.quantity,
        };
        let currency = line.unit_price.currency;
        match groups
            .iter_mut()
            .find(|(s, c, _)| s == &line.seller_id && *c == currency)
        {
            Some((_, _, items)) => items.push(item),
            None => groups.push((line.seller_id.clone(), currency, vec![item])),
        }
    }
    groups
        .into_iter()
        .map(|(seller_id, currency, items)| {
            let mut total = Amount::from_scaled(0);
            for item in &items {
                total = total.checked_add(item.line_total()?.amount)?;
            }
            let id = OrderId::generate();
            Some(Order {
                number: order_number(&id, at),
                id,
                buyer_id: buyer.clone(),
                seller_id,
                items,
                total: Money {
                    amount: total,
                    currency,
                },
                status: OrderStatus::PendingPayment,
                history: vec![StatusChange {
                    status: OrderStatus::PendingPayment,
                    at,
                    by: Some(buyer.clone()),
                }],
                shipping_address: address.clone(),
                note: note.map(str::to_owned),
                payment: None,
                revision: 0,
                created_at: at,
                updated_at: at,
            })
        })
        .collect()
}

/// What a checkout's idempotency key is compared by: the cart's lines (listing and quantity),
/// sorted, plus the address. The same key with another fingerprint is a different request.
pub fn cart_fingerprint(lines: &[(PostId, i64)], address: &crate::domain::AddressId) -> String {
    let mut lines: Vec<String> = lines.iter().map(|(p, q)| format!("{p}x{q}")).collect();
    lines.sort();
    format!("{}|{}", address, lines.join(","))
}

pub fn parse_idempotency_key(field: &str, raw: &str) -> Result<String, ValidationError> {
    clean_text(field, raw, 1, MAX_IDEMPOTENCY_KEY_CHARS, false)
}

pub fn parse_note(field: &str, raw: &str) -> Result<String, ValidationError> {
    clean_text(field, raw, 1, MAX_NOTE_CHARS, true)
}

/// A cart line as stored: which listing, how many, since when.
#[derive(Debug, Clone, PartialEq)]
pub struct CartLine {
    pub post_id: PostId,
    pub quantity: i64,
    pub added_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderActor::{Admin, Buyer, Seller};
    use OrderStatus::*;

    #[test]
    fn the_seller_works_the_order_forward_and_only_the_seller() {
        assert!(can_move(Paid, Processing, Seller));
        assert!(can_move(Processing, Shipped, Seller));
        assert!(can_move(Shipped, OutForDelivery, Seller));
        assert!(!can_move(Paid, Processing, Buyer));
        assert!(!can_move(Processing, Shipped, Buyer));
        assert!(!can_move(Shipped, OutForDelivery, Buyer));
    }

    #[test]
    fn buyer_or_seller_confirm_delivery() {
        assert!(can_move(OutForDelivery, Delivered, Buyer));
        assert!(can_move(OutForDelivery, Delivered, Seller));
        assert!(!can_move(Shipped, Delivered, Seller));
    }

    #[test]
    fn cancelling_is_possible_only_before_shipping() {
        for from in [PendingPayment, Paid, Processing] {
            assert!(can_move(from, Cancelled, Buyer));
            assert!(can_move(from, Cancelled, Seller));
        }
        for from in [Shipped, OutForDelivery, Delivered, Cancelled] {
            for actor in [Buyer, Seller, Admin] {
                assert!(!can_move(from, Cancelled, actor), "{from:?} by {actor:?}");
            }
        }
    }

    #[test]
    fn paying_is_not_a_status_move_and_nothing_goes_backwards() {
        for actor in [Buyer, Seller, Admin] {
            assert!(!can_move(PendingPayment, Paid, actor));
            assert!(!can_move(Delivered, OutForDelivery, actor));
            assert!(!can_move(Shipped, Processing, actor));
            assert!(!can_move(Paid, Paid, actor));
        }
    }

    #[test]
    fn an_admin_may_make_every_legal_move() {
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                if can_move(from, to, Buyer) || can_move(from, to, Seller) {
                    assert!(can_move(from, to, Admin), "{from:?} -> {to:?}");
                }
            }
        }
    }

    #[test]
    fn next_statuses_are_the_viewers_legal_moves() {
        assert_eq!(next_statuses(Paid, &[Seller]), [Processing, Cancelled]);
        assert_eq!(next_statuses(Paid, &[Buyer]), [Cancelled]);
        assert_eq!(next_statuses(Shipped, &[Buyer]), []);
        assert_eq!(next_statuses(OutForDelivery, &[Buyer]), [Delivered]);
        assert_eq!(next_statuses(Delivered, &[Admin]), []);
    }

    #[test]
    fn statuses_round_trip_through_their_names_and_serde() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::from_name(status.as_str()), Some(status));
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
    }

    fn line(seller: &UserId, currency: &str, price: &str, quantity: i64) -> CheckoutLine {
        CheckoutLine {
            post_id: PostId::generate(),
            seller_id: seller.clone(),
            title: "Thing".into(),
            unit_price: Money::parse("price", price, currency).unwrap(),
            quantity,
        }
    }

    fn address(user: &UserId) -> Address {
        Address {
            id: crate::domain::AddressId::generate(),
            user_id: user.clone(),
            recipient: "Ann".into(),
            phone: "+77011234567".into(),
            line1: "1 Abay Avenue".into(),
            line2: None,
            city: "Almaty".into(),
            region: None,
            postal_code: "050000".into(),
            country: crate::domain::CountryCode::from_trusted("KZ".into()),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn a_cart_splits_into_one_order_per_seller_and_currency_with_exact_totals() {
        let (buyer, s1, s2) = (UserId::generate(), UserId::generate(), UserId::generate());
        let lines = [
            line(&s1, "USD", "10.50", 2),
            line(&s2, "USD", "3", 1),
            line(&s1, "USD", "0.25", 4),
            line(&s1, "EUR", "7", 1),
        ];
        let at = Utc::now();
        let orders = split_cart(&lines, &buyer, &address(&buyer), None, at).unwrap();
        assert_eq!(orders.len(), 3);
        assert_eq!(orders[0].seller_id, s1);
        assert_eq!(orders[0].items.len(), 2);
        assert_eq!(orders[0].total, Money::parse("t", "22.00", "USD").unwrap());
        assert_eq!(orders[1].total, Money::parse("t", "3", "USD").unwrap());
        assert_eq!(orders[2].total, Money::parse("t", "7", "EUR").unwrap());
        assert!(orders.iter().all(|o| o.status == PendingPayment));
        assert_eq!(orders[0].number.len(), 6 + 1 + 12);
    }

    #[test]
    fn the_fingerprint_ignores_line_order() {
        let (a, b) = (PostId::generate(), PostId::generate());
        let address = crate::domain::AddressId::generate();
        assert_eq!(
            cart_fingerprint(&[(a.clone(), 1), (b.clone(), 2)], &address),
            cart_fingerprint(&[(b.clone(), 2), (a.clone(), 1)], &address)
        );
        assert_ne!(
            cart_fingerprint(&[(a.clone(), 1)], &address),
            cart_fingerprint(&[(a, 2)], &address)
        );
    }
}
