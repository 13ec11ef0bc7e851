//! Payments through a gateway behind a trait, so a real provider can replace the mock.
//!
//! The mock decides by the card's last four digits, the way providers' test cards do:
//!
//! | card number           | outcome                                                    |
//! |-----------------------|------------------------------------------------------------|
//! | 4242 4242 4242 4242   | succeeds                                                   |
//! | 4000 0000 0000 0002   | declined: `PAYMENT_DECLINED`, `reason: "card_declined"`     |
//! | 4000 0000 0000 9995   | insufficient funds: `PAYMENT_DECLINED`, `reason: "insufficient_funds"` |
//! | any other             | succeeds                                                   |

use crate::domain::{Money, PaymentCard, PaymentOutcome};

/// What a gateway answered to a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeResult {
    pub outcome: PaymentOutcome,
    /// The gateway's reference for the attempt.
    pub reference: String,
}

#[async_trait::async_trait]
pub trait PaymentGateway: Send + Sync {
    /// Charges `amount` to `card`. A refusal is an outcome, not an error; `Err` means the
    /// gateway could not be asked.
    async fn charge(&self, card: &PaymentCard, amount: Money) -> Result<ChargeResult, String>;
    /// Gives back a charge made earlier.
    async fn refund(&self, reference: &str, amount: Money) -> Result<ChargeResult, String>;
}

/// The test gateway (see the module docs). Never moves money.
#[derive(Debug, Clone, Copy, Default)]
pub struct MockGateway;

#[async_trait::async_trait]
impl PaymentGateway for MockGateway {
    async fn charge(&self, card: &PaymentCard, _amount: Money) -> Result<ChargeResult, String> {
        let outcome = match card.last4.as_str() {
            "0002" => PaymentOutcome::Declined,
            "9995" => PaymentOutcome::InsufficientFunds,
            _ => PaymentOutcome::Succeeded,
        };
        Ok(ChargeResult {
            outcome,
            reference: format!("mock_ch_{}", uuid::Uuid::now_v7().simple()),
        })
    }

    async fn refund(&self, _reference: &str, _amount: Money) -> Result<ChargeResult, String> {
        Ok(ChargeResult {
            outcome: PaymentOutcome::Refunded,
            reference: format!("mock_re_{}", uuid::Uuid::now_v7().simple()),
        })
    }
}

/// The stable `reason` of a refused charge, as clients see it in `extensions.reason`.
pub fn decline_reason(outcome: PaymentOutcome) -> Option<&'static str> {
    match outcome {
        PaymentOutcome::Declined => Some("card_declined"),
        PaymentOutcome::InsufficientFunds => Some("insufficient_funds"),
        PaymentOutcome::Succeeded | PaymentOutcome::Refunded => None,
    }
}
