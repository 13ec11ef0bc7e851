//! Required variables, checked before anything runs.
//!
//! async-graphql only notices a missing non-null variable when a resolver reads it, and then
//! reports it as a plain resolver error ("Variable o is not defined"), which would leave as
//! `INTERNAL_SERVER_ERROR`. A request that leaves out a variable its operation requires is the
//! client's mistake: `BAD_USER_INPUT`, with the variable as `field`.

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ErrorExtensionValues, ServerError, Value, Variables};

/// Refuses the request when the operation it selects declares a non-null variable without
/// a default that `variables` leaves out or sets to null. An operation name that selects
/// nothing is left to validation.
pub fn check_provided(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
) -> Result<(), ServerError> {
    let selected = document
        .operations
        .iter()
        .find(|(name, _)| match (name, operation_name) {
            (Some(name), Some(wanted)) => name.as_str() == wanted,
            (_, None) => true,
            _ => false,
        });
    let Some((_, operation)) = selected else {
        return Ok(());
    };
    for definition in &operation.node.variable_definitions {
        let definition = &definition.node;
        if definition.var_type.node.nullable || definition.default_value.is_some() {
            continue;
        }
        let name = &definition.name.node;
        let problem = match variables.get(name) {
            None => "was not provided",
            Some(Value::Null) => "must not be null",
            Some(_) => continue,
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
    fn only_the_selected_operation_counts() {
        let query = "query A($x: ID!) { __typename } query B { __typename }";
        assert_eq!(check(query, Some("B"), serde_json::json!({})), None);
        assert!(check(query, Some("A"), serde_json::json!({})).is_some());
    }
}
