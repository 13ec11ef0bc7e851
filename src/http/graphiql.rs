//! GraphiQL at `/`, with a Content-Security-Policy that lets exactly this page work.
//!
//! The page loads React and GraphiQL from unpkg.com and its icon from graphql.org (issue 15
//! will serve them from here); those two origins are the only ones allowed. Its one inline
//! script is allowed by its SHA-256 hash rather than by `'unsafe-inline'`, so an injected
//! script cannot run; inline styles stay allowed (GraphiQL's editors set styles at run
//! time, and CSS cannot run code). It may only talk to this origin (`connect-src 'self'`
//! covers the `ws:`/`wss:` subscription socket) and nothing may frame it.

use std::sync::LazyLock;

use axum::http::HeaderValue;
use axum::http::header::CONTENT_SECURITY_POLICY;
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

/// Where the page's scripts and styles come from.
const CDN: &str = "https://unpkg.com";
/// Where its icon comes from.
const ICON_ORIGIN: &str = "https://graphql.org";

/// The page and its policy, built once.
static PAGE: LazyLock<(String, HeaderValue)> = LazyLock::new(|| {
    let html = async_graphql::http::GraphiQLSource::build()
        .endpoint("/graphql")
        .subscription_endpoint("/graphql/ws")
        .title("Agora GraphQL")
        .finish();
    let policy = policy_for(&html);
    let policy =
        HeaderValue::from_str(&policy).expect("a policy of ASCII origins and base64 hashes");
    (html, policy)
});

pub async fn page() -> Response {
    let (html, policy) = &*PAGE;
    let mut response = Html(html.clone()).into_response();
    response
        .headers_mut()
        .insert(CONTENT_SECURITY_POLICY, policy.clone());
    response
}

fn policy_for(html: &str) -> String {
    let hashes: String = inline_scripts(html)
        .map(|script| {
            let digest = Sha256::digest(script.as_bytes());
            format!(
                " 'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        })
        .collect();
    format!(
        "default-src 'none'; script-src {CDN}{hashes}; style-src {CDN} 'unsafe-inline'; \
         font-src {CDN} data:; img-src 'self' data: {ICON_ORIGIN}; connect-src 'self'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// The text of every `<script>` without a `src`, exactly as the browser hashes it.
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    html.split("<script>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</script>").map(|(script, _)| script))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `src="…"` and `href="…"` of the page.
    fn resources(html: &str) -> Vec<&str> {
        ["src=\"", "href=\""]
            .iter()
            .flat_map(|attribute| {
                html.split(attribute)
                    .skip(1)
                    .filter_map(|rest| rest.split_once('"').map(|(url, _)| url))
            })
            .collect()
    }

    #[test]
    fn the_policy_allows_what_the_page_loads_and_nothing_else() {
        let (html, policy) = &*PAGE;
        let policy = policy.to_str().unwrap();
        let loaded = resources(html);
        assert!(!loaded.is_empty());
        for url in loaded {
            assert!(
                url.starts_with(&format!("{CDN}/")) || url.starts_with(&format!("{ICON_ORIGIN}/")),
                "the page loads {url}, which the policy does not name"
            );
        }
        let scripts: Vec<_> = inline_scripts(html).collect();
        assert_eq!(scripts.len(), 1, "GraphiQL's page has one inline script");
        let script_src = policy
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap();
        assert!(!script_src.contains("unsafe"), "{script_src}");
        assert_eq!(script_src.matches("'sha256-").count(), 1, "{script_src}");
        assert!(policy.contains("frame-ancestors 'none'"));
    }
}
