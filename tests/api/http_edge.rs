//! The HTTP edge: GraphQL-over-HTTP rules, limits and refusals.

use serde_json::{Value, json};

use crate::helpers::{assert_introspection_and_suggestions_are_off, spawn_app};

async fn post_raw(
    app: &crate::helpers::TestApp,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, String, Value) {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, content_type, body)
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = spawn_app().await;
    let (status, _, body) = post_raw(&app, Some("application/json"), None, "{\"query\": ").await;
    assert_eq!((status, code(&body)), (400, "BAD_REQUEST"));
    let (status, _, body) =
        post_raw(&app, Some("application/json"), None, r#"{"query": 42}"#).await;
    assert_eq!((status, code(&body)), (400, "BAD_REQUEST"));
    let (status, _, body) =
        post_raw(&app, Some("application/json"), None, r#"{"variables": {}}"#).await;
    assert_eq!((status, code(&body)), (400, "BAD_REQUEST"));
}

#[tokio::test]
async fn a_batch_array_is_refused() {
    let app = spawn_app().await;
    let batch =
        json!([{ "query": "{ viewer { id } }" }, { "query": "{ viewer { id } }" }]).to_string();
    let (status, _, body) = post_raw(&app, Some("application/json"), None, batch).await;
    assert_eq!((status, code(&body)), (400, "BAD_REQUEST"));
}

#[tokio::test]
async fn an_oversized_body_is_a_413() {
    let app = spawn_app().await;
    let big = json!({ "query": format!("{{ viewer {{ id }} }} #{}", "x".repeat(200 * 1024)) })
        .to_string();
    let (status, _, body) = post_raw(&app, Some("application/json"), None, big).await;
    assert_eq!((status, code(&body)), (413, "PAYLOAD_TOO_LARGE"));
}

#[tokio::test]
async fn an_alias_bomb_is_refused_whatever_its_size() {
    let app = spawn_app().await;
    // 8 MB of `__typename` aliases never reaches GraphQL.
    let aliases: String = (0..700_000).map(|i| format!("a{i}:__typename ")).collect();
    let bomb = json!({ "query": format!("{{ {aliases} }}") }).to_string();
    assert!(bomb.len() > 8_000_000);
    let (status, _, _) = post_raw(&app, Some("application/json"), None, bomb).await;
    assert_eq!(status, 413);

    // One that fits the body limit is counted and refused before execution.
    let aliases: String = (0..5_000).map(|i| format!("a{i}:__typename ")).collect();
    let small = json!({ "query": format!("{{ {aliases} }}") }).to_string();
    assert!(small.len() < 128 * 1024);
    let (status, content_type, body) = post_raw(
        &app,
        Some("application/json"),
        Some("application/graphql-response+json"),
        small,
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (400, "GRAPHQL_VALIDATION_FAILED"),
        "{body}"
    );
    assert!(content_type.starts_with("application/graphql-response+json"));

    // Fragments are counted at their expanded size.
    let mut query = String::from("query { ...F0 }");
    for i in 0..20 {
        query.push_str(&format!(
            " fragment F{i} on Query {{ ...F{} ...F{} }}",
            i + 1,
            i + 1
        ));
    }
    query.push_str(" fragment F20 on Query { __typename }");
    let (status, _, body) = post_raw(
        &app,
        Some("application/json"),
        None,
        json!({ "query": query }).to_string(),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (200, "GRAPHQL_VALIDATION_FAILED"),
        "{body}"
    );
}

#[tokio::test]
async fn a_post_without_a_json_content_type_is_refused() {
    let app = spawn_app().await;
    let body = json!({ "query": "{ viewer { id } }" }).to_string();
    for content_type in [
        Some("text/plain"),
        None,
        Some("application/x-www-form-urlencoded"),
        Some("application/json; charset=latin1"),
    ] {
        let (status, _, response) = post_raw(&app, content_type, None, body.clone()).await;
        assert_eq!(
            (status, code(&response)),
            (415, "UNSUPPORTED_MEDIA_TYPE"),
            "{content_type:?}"
        );
    }
    let (status, _, _) = post_raw(&app, Some("application/json; charset=utf-8"), None, body).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn get_runs_queries_but_refuses_mutations_with_405() {
    let app = spawn_app().await;
    let get = |query: &str| {
        app.client
            .get(format!("{}/graphql", app.address))
            .query(&[("query", query)])
            .send()
    };
    let response = get("{ viewer { id } }").await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["data"],
        json!({ "viewer": null })
    );

    let response = get("mutation { logout(refreshToken: \"x\") }")
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");

    let response = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[
            (
                "query",
                "query A { viewer { id } } mutation B { logout(refreshToken: \"x\") }",
            ),
            ("operationName", "B"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405, "the selected operation decides");
}

#[tokio::test]
async fn the_response_type_follows_the_accept_header() {
    let app = spawn_app().await;
    let invalid = json!({ "query": "{ nope }" }).to_string();
    let (status, content_type, body) = post_raw(
        &app,
        Some("application/json"),
        Some("application/json"),
        invalid.clone(),
    )
    .await;
    assert_eq!((status, code(&body)), (200, "GRAPHQL_VALIDATION_FAILED"));
    assert!(content_type.starts_with("application/json"));

    let (status, content_type, _) = post_raw(
        &app,
        Some("application/json"),
        Some("application/graphql-response+json"),
        invalid,
    )
    .await;
    assert_eq!(status, 400);
    assert!(content_type.starts_with("application/graphql-response+json"));

    let unparsable = json!({ "query": "{ viewer { " }).to_string();
    let (status, _, body) = post_raw(
        &app,
        Some("application/json"),
        Some("application/graphql-response+json"),
        unparsable,
    )
    .await;
    assert_eq!((status, code(&body)), (400, "GRAPHQL_PARSE_FAILED"));

    let valid = json!({ "query": "{ viewer { id } }" }).to_string();
    let (status, content_type, _) =
        post_raw(&app, Some("application/json"), Some("*/*"), valid.clone()).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("application/json"));
    let (status, _, body) =
        post_raw(&app, Some("application/json"), Some("text/html"), valid).await;
    assert_eq!((status, code(&body)), (406, "NOT_ACCEPTABLE"));
}

#[tokio::test]
async fn a_wrongly_typed_variable_is_bad_user_input() {
    let app = spawn_app().await;
    let (code, _) = app
        .error_code(
            None,
            "query($n: Int) { users(first: $n) { totalCount } }",
            json!({ "n": "ten" }),
        )
        .await;
    assert!(
        code == "BAD_USER_INPUT" || code == "GRAPHQL_VALIDATION_FAILED",
        "{code}"
    );
}

#[tokio::test]
async fn graphiqls_introspection_query_fits_the_default_limits_and_deep_queries_do_not() {
    let app = spawn_app().await;
    let data = app.data(None, INTROSPECTION, json!({})).await;
    assert!(data["__schema"]["types"].as_array().unwrap().len() > 10);

    let deep = format!("{{ viewer {{ {}id{} }} }}", "__typename ".repeat(0), "");
    app.data(None, &deep, json!({})).await;
    let too_deep = format!(
        "{{ __schema {{ types {{ {} name {} }} }} }}",
        "fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType {",
        "} } } } } } } } } } } } } } }"
    );
    let (code, _) = app.error_code(None, &too_deep, json!({})).await;
    assert_eq!(code, "GRAPHQL_VALIDATION_FAILED");
}

#[tokio::test]
async fn health_ready_and_graphiql_are_served() {
    let app = spawn_app().await;
    let health: Value = app
        .client
        .get(format!("{}/health", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready: Value = app
        .client
        .get(format!("{}/ready", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready, json!({ "status": "ready", "store": "sqlite" }));
    let page = app
        .client
        .get(&app.address)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("graphiql"), "GraphiQL is served at /");
    let response = app
        .client
        .get(format!("{}/health", app.address))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn introspection_can_be_switched_off_for_production() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.graphql.introspection = false.into();
        config.graphql.suggestions = false.into();
    })
    .await;
    assert_introspection_and_suggestions_are_off(&app).await;
}

/// The query GraphiQL sends on load (graphql-js `getIntrospectionQuery`).
const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}
"#;
