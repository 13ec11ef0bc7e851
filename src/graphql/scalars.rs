//! Custom scalars.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

/// A decimal number as a string (`"1999.50"`), so no client ever parses money into a
/// float. Inputs also accept a JSON integer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal(pub String);

#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) => Ok(Decimal(s)),
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Decimal(n.to_string())),
            Value::Number(_) => Err(InputValueError::custom(
                "send decimals as strings (\"19.99\"): a JSON float cannot carry money exactly",
            )),
            other => Err(InputValueError::expected_type(other)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}
