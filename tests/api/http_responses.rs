//! What every answer carries: security headers, `no-store` on GraphQL, and a GraphQL-shaped
//! JSON body with a stable code on every refusal.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

fn assert_protected(response: &reqwest::Response, what: &str) {
    let headers = response.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(headers["x-frame-options"], "DENY", "{what}");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("frame-ancestors 'none'"),
        "{what}: {policy}"
    );
}

/// The status and the JSON body's code; fails when the body is not the GraphQL error shape.
async fn coded(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{status}"
    );
    let body: Value = response.json().await.expect("a JSON body");
    let message = &body["errors"][0]["message"];
    assert!(message.as_str().is_some_and(|m| !m.is_empty()), "{body}");
    let code = body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code: {body}"))
        .to_owned();
    (status, code)
}

fn url(app: &TestApp, path: &str) -> String {
    format!("{}{path}", app.address)
}

#[tokio::test]
async fn every_response_forbids_sniffing_and_framing() {
    let app = spawn_app().await;
    let page = app.client.get(url(&app, "/")).send().await.unwrap();
    assert_protected(&page, "GraphiQL");
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("script-src https://unpkg.com 'sha256-"),
        "{policy}"
    );
    assert!(!policy.contains("'unsafe-eval'"), "{policy}");
    let post = app
        .client
        .post(url(&app, "/graphql"))
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_protected(&post, "POST /graphql");
    let health = app.client.get(url(&app, "/health")).send().await.unwrap();
    assert_protected(&health, "/health");
    let missing = app.client.get(url(&app, "/nope")).send().await.unwrap();
    assert_protected(&missing, "a 404");
}

#[tokio::test]
async fn graphql_answers_are_never_stored_by_caches() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let refresh = app
        .client
        .post(url(&app, "/graphql"))
        .json(&json!({
            "query": "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }",
            "variables": { "t": ann.refresh },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(refresh.status(), 200);
    assert_eq!(refresh.headers()["cache-control"], "no-store");
    let get = app
        .client
        .get(url(&app, "/graphql"))
        .query(&[("query", "{ viewer { id } }")])
        .bearer_auth(&ann.access)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(get.headers()["cache-control"], "no-store");
    let refused = app
        .client
        .post(url(&app, "/graphql"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn every_refusal_has_a_graphql_error_body_with_a_stable_code() {
    let app = spawn_app().await;
    let client = &app.client;

    let response = client.get(url(&app, "/nope")).send().await.unwrap();
    assert_eq!(coded(response).await, (404, "NOT_FOUND".into()));

    let response = client.put(url(&app, "/graphql")).send().await.unwrap();
    assert!(response.headers().contains_key("allow"));
    assert_eq!(coded(response).await, (405, "METHOD_NOT_ALLOWED".into()));
    let response = client.delete(url(&app, "/health")).send().await.unwrap();
    assert_eq!(coded(response).await, (405, "METHOD_NOT_ALLOWED".into()));

    let big = json!({ "query": format!("{{ __typename }} #{}", "x".repeat(200 * 1024)) });
    let response = client
        .post(url(&app, "/graphql"))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(coded(response).await, (413, "PAYLOAD_TOO_LARGE".into()));

    let long_query = format!("{{ __typename }} #{}", "x".repeat(9 * 1024));
    let response = client
        .get(url(&app, "/graphql"))
        .query(&[("query", long_query.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(coded(response).await, (414, "URI_TOO_LONG".into()));

    let response = client
        .post(url(&app, "/graphql"))
        .header("content-type", "text/plain")
        .body(json!({ "query": "{ __typename }" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        coded(response).await,
        (415, "UNSUPPORTED_MEDIA_TYPE".into())
    );

    // A URI under the limit still works.
    let response = client
        .get(url(&app, "/graphql"))
        .query(&[("query", "{ __typename }")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_request_over_the_time_limit_gets_a_coded_503() {
    let app = spawn_app_with(|config| config.http.request_timeout_secs = 1).await;
    // A body announced but never sent keeps the handler waiting past the limit.
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    stream
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: agora\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"query\":",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("}]}") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buffer[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let body: Value =
        serde_json::from_str(&answer[answer.find("\r\n\r\n").unwrap() + 4..]).expect("a JSON body");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "SERVICE_UNAVAILABLE"
    );
}
