//! Every malformed request shape we could think of gets a coded client error, never
//! `INTERNAL_SERVER_ERROR` and never a 500.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// Sends `body` as the raw JSON request body, with and without a token.
async fn send_raw(app: &TestApp, token: Option<&str>, body: &str) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Every `extensions.code` in `body`'s errors.
fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    e["extensions"]["code"]
                        .as_str()
                        .unwrap_or("<none>")
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_missing_required_variable_is_bad_user_input_naming_it() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;

    let (code, body) = app
        .error_code(
            Some(&ann.access),
            "mutation($o: ID!) { follow(userId: $o) { id } }",
            json!({}),
        )
        .await;

    assert_eq!(code, "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "o", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("`$o`")
    );
}

#[tokio::test]
async fn no_malformed_request_answers_internal_server_error() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let follow = "mutation($o: ID!) { follow(userId: $o) { id } }";
    let posts = "query($n: Int, $a: String) { posts(first: $n, after: $a) { nodes { id } } }";
    let shapes: Vec<(&str, Value)> = vec![
        // Variables: missing, null, wrong types, wrong shapes, undeclared, unused.
        ("missing required variable", json!({ "query": follow })),
        (
            "null required variable",
            json!({ "query": follow, "variables": { "o": null } }),
        ),
        (
            "object for an ID",
            json!({ "query": follow, "variables": { "o": { "x": 1 } } }),
        ),
        (
            "list for an ID",
            json!({ "query": follow, "variables": { "o": ["a"] } }),
        ),
        (
            "number for an ID",
            json!({ "query": follow, "variables": { "o": 12 } }),
        ),
        (
            "malformed id",
            json!({ "query": follow, "variables": { "o": "not-an-id" } }),
        ),
        (
            "string for an Int",
            json!({ "query": posts, "variables": { "n": "ten" } }),
        ),
        (
            "float for an Int",
            json!({ "query": posts, "variables": { "n": 1.5 } }),
        ),
        (
            "huge Int",
            json!({ "query": posts, "variables": { "n": 1e40 } }),
        ),
        (
            "negative page",
            json!({ "query": posts, "variables": { "n": -1 } }),
        ),
        (
            "page over the maximum",
            json!({ "query": posts, "variables": { "n": 101 } }),
        ),
        (
            "garbage cursor",
            json!({ "query": posts, "variables": { "a": "%%%" } }),
        ),
        (
            "cursor of the wrong kind",
            json!({ "query": posts, "variables": { "a": "YWJj" } }),
        ),
        (
            "variables as a list",
            json!({ "query": posts, "variables": [1, 2] }),
        ),
        (
            "variables as a string",
            json!({ "query": posts, "variables": "{}" }),
        ),
        (
            "undeclared variable",
            json!({ "query": "{ posts(first: $n) { nodes { id } } }" }),
        ),
        (
            "unused variable",
            json!({ "query": "query($n: Int) { __typename }" }),
        ),
        (
            "variable of an unknown type",
            json!({ "query": "query($n: Nope) { __typename }" }),
        ),
        (
            "input variable for a scalar",
            json!({ "query": "query($n: PostFilter) { posts(first: $n) { nodes { id } } }" }),
        ),
        // Documents that do not parse or validate.
        ("empty query", json!({ "query": "" })),
        ("only a comment", json!({ "query": "# nothing" })),
        ("unterminated", json!({ "query": "{ posts { nodes { id }" })),
        ("query as a number", json!({ "query": 12 })),
        ("no query", json!({ "variables": {} })),
        ("unknown field", json!({ "query": "{ nope }" })),
        (
            "unknown argument",
            json!({ "query": "{ posts(nope: 1) { nodes { id } } }" }),
        ),
        (
            "scalar with a selection",
            json!({ "query": "{ posts { totalCount { x } } }" }),
        ),
        (
            "object without a selection",
            json!({ "query": "{ posts }" }),
        ),
        ("unknown fragment", json!({ "query": "{ ...Nope }" })),
        (
            "fragment cycle",
            json!({ "query": "{ viewer { ...A } } fragment A on User { ...B } fragment B on User { ...A }" }),
        ),
        (
            "fragment on a wrong type",
            json!({ "query": "{ viewer { ... on Post { id } } }" }),
        ),
        (
            "misplaced directive",
            json!({ "query": "query @skip(if: true) { __typename }" }),
        ),
        (
            "unknown directive",
            json!({ "query": "{ __typename @nope }" }),
        ),
        (
            "two anonymous operations",
            json!({ "query": "{ __typename } { __typename }" }),
        ),
        (
            "duplicate operation names",
            json!({ "query": "query A { __typename } query A { __typename }" }),
        ),
        (
            "unknown operation name",
            json!({ "query": "query A { __typename }", "operationName": "B" }),
        ),
        (
            "operation name of the wrong type",
            json!({ "query": "{ __typename }", "operationName": 3 }),
        ),
        (
            "ambiguous without a name",
            json!({ "query": "query A { __typename } query B { __typename }" }),
        ),
        (
            "subscription over HTTP",
            json!({ "query": "subscription { notificationAdded { id } }" }),
        ),
        (
            "bad enum value",
            json!({ "query": "{ posts(orderBy: SIDEWAYS) { nodes { id } } }" }),
        ),
        (
            "string for an enum",
            json!({ "query": "{ posts(orderBy: \"NEWEST\") { nodes { id } } }" }),
        ),
        (
            "missing input field",
            json!({ "query": "mutation { createPost(input: {}) { id } }" }),
        ),
        (
            "extra input field",
            json!({ "query": "mutation { createPost(input: { kind: TEXT, body: \"x\", nope: 1 }) { id } }" }),
        ),
        (
            "list for an input object",
            json!({ "query": "mutation { createPost(input: [1]) { id } }" }),
        ),
        (
            "bad money amount",
            json!({ "query": "{ posts(filter: { minPrice: \"lots\" }) { nodes { id } } }" }),
        ),
        (
            "huge literal",
            json!({ "query": "{ posts(first: 99999999999999999999) { nodes { id } } }" }),
        ),
        (
            "deep nesting",
            json!({ "query": format!("{}{}", "{ viewer { followers { nodes ".repeat(20), "} } }".repeat(20)) }),
        ),
        (
            "extensions as a list",
            json!({ "query": "{ __typename }", "extensions": [1] }),
        ),
        (
            "persisted query without text",
            json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": "abc" } } }),
        ),
    ];

    for (what, body) in &shapes {
        for token in [None, Some(ann.access.as_str())] {
            let (status, answer) = send_raw(&app, token, &body.to_string()).await;
            assert_ne!(status, 500, "{what}: {answer}");
            let codes = codes(&answer);
            assert!(
                !codes.is_empty() || answer["data"].is_object(),
                "{what}: neither data nor a coded error: {status} {answer}"
            );
            assert!(
                !codes
                    .iter()
                    .any(|c| c == "INTERNAL_SERVER_ERROR" || c == "<none>"),
                "{what}: {status} {answer}"
            );
        }
    }

    // Bodies that are not a GraphQL request object at all.
    for raw in [
        "",
        "null",
        "[]",
        "\"query\"",
        "{",
        "{\"query\": \"{ __typename }\"",
        "\u{0}",
    ] {
        let (status, answer) = send_raw(&app, None, raw).await;
        assert_eq!(status, 400, "{raw:?}: {answer}");
        assert!(!codes(&answer).is_empty(), "{raw:?}: {answer}");
    }
    let data = app.data(None, "{ __typename }", json!({})).await;
    assert_eq!(data["__typename"], "Query");
}

#[tokio::test]
async fn a_mistyped_variable_is_bad_user_input_naming_it() {
    let app = spawn_app().await;

    let (code, body) = app
        .error_code(
            None,
            "query($n: Int) { posts(first: $n) { nodes { id } } }",
            json!({ "n": "ten" }),
        )
        .await;

    assert_eq!(code, "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "n", "{body}");
}

/// SecantusDB (CI's MongoDB stand-in) cannot build text indexes: post text search there is a
/// coded `FEATURE_UNAVAILABLE`, never an internal error. A MongoDB that has them answers.
#[tokio::test]
#[ignore = "needs TEST_MONGODB_URI: a MongoDB server (see README, Testing)"]
async fn post_text_search_without_a_text_index_is_feature_unavailable_on_mongodb() {
    let mongo = crate::helpers::counting_app_on_mongodb().await;
    let (status, body) = mongo
        .app
        .post(
            None,
            "{ posts(filter: { text: \"canon\" }) { nodes { id } } }",
            json!({}),
        )
        .await;
    mongo.drop_database().await;

    assert_eq!(status, 200);
    if body["data"]["posts"].is_object() {
        return;
    }
    assert_eq!(codes(&body), ["FEATURE_UNAVAILABLE"], "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("text search is unavailable"),
        "{body}"
    );
}

/// One rule for ids in every field: a malformed id is `BAD_USER_INPUT` naming its argument;
/// a well-formed id that names nothing finds nothing (`null`).
#[tokio::test]
async fn a_malformed_id_is_bad_user_input_on_its_argument_in_every_field() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let malformed = "not an id!";
    let cases = [
        ("query($id: ID!) { post(id: $id) { id } }", "id"),
        ("query($id: ID!) { user(id: $id) { id } }", "id"),
        ("query($id: ID!) { chatRoom(id: $id) { id } }", "id"),
        ("query($id: ID!) { order(id: $id) { id } }", "id"),
        (
            "mutation($id: ID!) { follow(userId: $id) { id } }",
            "userId",
        ),
        ("mutation($id: ID!) { deletePost(id: $id) }", "id"),
        (
            "mutation($id: ID!) { markNotificationsRead(ids: [$id]) }",
            "ids",
        ),
        (
            "query($id: ID!) { posts(filter: { authorId: $id }) { totalCount } }",
            "filter.authorId",
        ),
    ];
    for (query, field) in cases {
        let (code, body) = app
            .error_code(Some(&ann.access), query, json!({ "id": malformed }))
            .await;
        assert_eq!(code, "BAD_USER_INPUT", "{query}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"], field,
            "{query}: {body}"
        );
    }

    let unknown = "0000000000000000000000000000abcd";
    for (query, name) in [
        ("query($id: ID!) { post(id: $id) { id } }", "post"),
        ("query($id: ID!) { user(id: $id) { id } }", "user"),
        ("query($id: ID!) { chatRoom(id: $id) { id } }", "chatRoom"),
    ] {
        let data = app
            .data(Some(&ann.access), query, json!({ "id": unknown }))
            .await;
        assert_eq!(data[name], Value::Null, "{query}: {data}");
    }
}
