//! Variables, checked before anything runs.
//!
//! async-graphql only notices a missing non-null variable when a resolver reads it, and then
//! reports it as a plain resolver error ("Variable o is not defined"), which would leave as
//! `INTERNAL_SERVER_ERROR`; a value of the wrong type is reported against the argument it
//! reaches, not the variable. A request that leaves out a variable its operation requires, or
//! gives one a value its type cannot hold, is the client's mistake: `BAD_USER_INPUT`, with
//! the variable as `field`. Built-in scalars are checked here; enums, input objects and our
//! own scalars are left to async-graphql's coercion, which reports them as bad input too.

use async_graphql::parser::types::{BaseType, ExecutableDocument, Type};
use async_graphql::{ErrorExtensionValues, ServerError, Value, Variables};

/// Refuses the request when the operation it selects declares a non-null variable without
/// a default that `variables` leaves out or sets to null, or gives a variable a value its
/// declared type cannot hold. An operation name that selects nothing is left to validation.
pub fn check_provided(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
) -> Result<(), ServerError> {
    let Some(operation) = super::selected_operation(document, operation_name) else {
        return Ok(());
    };
    for definition in &operation.variable_definitions {
        let definition = &definition.node;
        let name = &definition.name.node;
        let problem = match variables.get(name) {
            None if definition.var_type.node.nullable || definition.default_value.is_some() => {
                continue;
            }
            None => "was not provided".to_owned(),
            Some(value) => match mismatch(&definition.var_type.node, value) {
                Some(problem) => problem,
                None => continue,
            },
        };
        let mut error = ServerError::new(
            format!(
                "variable `${name}` of type {} {problem}",
                definition.var_type.node
            ),
            Some(definition.name.pos),
        );
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", "BAD_USER_INPUT");
        extensions.set("field", name.as_str());
        error.extensions = Some(extensions);
        return Err(error);
    }
    Ok(())
}

/// Why `value` cannot be a `ty`, as far as the built-in scalars tell; `None` when it can or
/// when coercion decides.
fn mismatch(ty: &Type, value: &Value) -> Option<String> {
    if *value == Value::Null {
        return (!ty.nullable).then(|| "must not be null".to_owned());
    }
    match &ty.base {
        BaseType::List(item) => match value {
            Value::List(items) => items.iter().find_map(|v| mismatch(item, v)),
            // Input coercion takes a single value as a list of one.
            single => mismatch(item, single),
        },
        BaseType::Named(name) => {
            let fits = match name.as_str() {
                "Int" => matches!(value, Value::Number(n)
                    if n.as_i64().is_some_and(|n| i32::try_from(n).is_ok())),
                "Float" => matches!(value, Value::Number(_)),
                "String" => matches!(value, Value::String(_)),
                "Boolean" => matches!(value, Value::Boolean(_)),
                "ID" => {
                    matches!(value, Value::String(_))
                        || matches!(value, Value::Number(n) if n.is_i64() || n.is_u64())
                }
                _ => true,
            };
            (!fits).then(|| format!("cannot hold {}", describe(value)))
        }
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Number(n) => format!("the number {n}"),
        Value::String(_) => "a string".to_owned(),
        Value::Boolean(b) => format!("{b}"),
        Value::List(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str, operation: Option<&str>, variables: serde_json::Value) -> Option<String> {
        let document = async_graphql::parser::parse_query(query).unwrap();
        check_provided(&document, operation, &Variables::from_json(variables))
            .err()
            .map(|e| e.message)
    }

    #[test]
    fn a_missing_or_null_required_variable_is_named() {
        let query = "mutation($o: ID!) { follow(userId: $o) { id } }";
        assert_eq!(
            check(query, None, serde_json::json!({})).as_deref(),
            Some("variable `$o` of type ID! was not provided")
        );
        assert_eq!(
            check(query, None, serde_json::json!({ "o": null })).as_deref(),
            Some("variable `$o` of type ID! must not be null")
        );
        assert_eq!(check(query, None, serde_json::json!({ "o": "x" })), None);
    }

    #[test]
    fn optional_and_defaulted_variables_may_be_left_out() {
        assert_eq!(
            check(
                "query($n: Int, $m: Int! = 3) { __typename }",
                None,
                serde_json::json!({})
            ),
            None
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_is_named_with_its_variable() {
        let query = "query($n: Int, $ids: [ID!], $b: Boolean!) { __typename }";
        let check = |vars| check(query, None, vars);
        assert_eq!(
            check(serde_json::json!({ "n": "ten", "b": true })).as_deref(),
            Some("variable `$n` of type Int cannot hold a string")
        );
        assert_eq!(
            check(serde_json::json!({ "n": 1e10, "b": true })).as_deref(),
            Some("variable `$n` of type Int cannot hold the number 10000000000.0")
        );
        assert_eq!(
            check(serde_json::json!({ "ids": ["a", {}], "b": true })).as_deref(),
            Some("variable `$ids` of type [ID!] cannot hold an object")
        );
        assert_eq!(
            check(serde_json::json!({ "ids": ["a", null], "b": true })).as_deref(),
            Some("variable `$ids` of type [ID!] must not be null")
        );
        assert_eq!(
            check(serde_json::json!({ "n": 3, "ids": "one", "b": false })),
            None
        );
    }

    #[test]
    fn only_the_selected_operation_counts() {
        let query = "query A($x: ID!) { __typename } query B { __typename }";
        assert_eq!(check(query, Some("B"), serde_json::json!({})), None);
        assert!(check(query, Some("A"), serde_json::json!({})).is_some());
    }
}
