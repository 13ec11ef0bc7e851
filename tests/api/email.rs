//! The account's email lifecycle over the real API: password reset and email verification,
//! with tokens read out of the mail the default (file) mode wrote.

use agora::auth::RefreshToken;
use agora::domain::UserId;
use agora::store::{NewOneTimeToken, TokenPurpose};
use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const REQUEST_RESET: &str = "mutation($e: String!) { requestPasswordReset(email: $e) }";
const RESET: &str =
    "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }";
const VERIFY: &str = "mutation($t: String!) { verifyEmail(token: $t) }";
const REQUEST_VERIFICATION: &str = "mutation { requestEmailVerification }";
const LOGIN: &str =
    "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }";
const REFRESH: &str = "mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken } }";
const EMAIL_VERIFIED: &str = "{ viewer { emailVerified } }";

/// Requests a reset for `email` and returns the token from the mail.
async fn reset_token(app: &TestApp, email: &str) -> String {
    let data = app.data(None, REQUEST_RESET, json!({ "e": email })).await;
    assert_eq!(data["requestPasswordReset"], true);
    app.mail_to(email, "Reset your Agora password")
        .await
        .token_in_link("reset-password")
}

async fn refused_token(app: &TestApp, query: &str, variables: Value) {
    let (code, body) = app.error_code(None, query, variables).await;
    assert_eq!(code, "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "token", "{body}");
}

#[tokio::test]
async fn the_password_reset_journey_runs_on_the_token_in_the_mailed_link() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let laptop = app.login(&ann.email, &ann.password).await;

    let token = reset_token(&app, &ann.email).await;
    let new_password = "a-whole-new-password";
    let reset = app
        .data(None, RESET, json!({ "t": token, "p": new_password }))
        .await;

    assert_eq!(reset["resetPassword"], true);
    // Every session ended: refresh tokens and access tokens of both devices.
    for refresh in [&ann.refresh, &laptop.refresh] {
        let (code, _) = app.error_code(None, REFRESH, json!({ "r": refresh })).await;
        assert_eq!(code, "UNAUTHENTICATED");
    }
    let (status, _) = app
        .post(Some(&laptop.access), EMAIL_VERIFIED, json!({}))
        .await;
    assert_eq!(status, 401);
    let (code, _) = app
        .error_code(None, LOGIN, json!({ "e": ann.email, "p": ann.password }))
        .await;
    assert_eq!(code, "UNAUTHENTICATED");
    let fresh = app.login(&ann.email, new_password).await;
    // The token is used up.
    refused_token(
        &app,
        RESET,
        json!({ "t": token, "p": "yet-another-password" }),
    )
    .await;
    // Following the link proved the mailbox.
    let viewer = app
        .data(Some(&fresh.access), EMAIL_VERIFIED, json!({}))
        .await;
    assert_eq!(viewer["viewer"]["emailVerified"], true);
}

#[tokio::test]
async fn the_reset_mail_is_a_complete_message_with_text_and_html() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;

    app.data(None, REQUEST_RESET, json!({ "e": ann.email }))
        .await;
    let mail = app.mail_to(&ann.email, "Reset").await;

    assert_eq!(mail.to, ann.email);
    assert!(
        mail.message_id.ends_with("@agora.localhost>"),
        "{}",
        mail.message_id
    );
    assert!(mail.text.contains("Hello ann,"), "{}", mail.text);
    assert!(mail.text.contains("30 minutes"));
    assert!(
        mail.html
            .contains("http://127.0.0.1:3000/reset-password?token=")
    );
    mail.token_in_link("reset-password");
}

#[tokio::test]
async fn a_superseded_reset_token_is_refused_and_the_newer_one_works() {
    let app = spawn_app().await;
    let bob = app.register("bob").await;

    let older = reset_token(&app, &bob.email).await;
    let newer = reset_token(&app, &bob.email).await;

    refused_token(&app, RESET, json!({ "t": older, "p": "password-number-1" })).await;
    let reset = app
        .data(None, RESET, json!({ "t": newer, "p": "password-number-2" }))
        .await;
    assert_eq!(reset["resetPassword"], true);
}

#[tokio::test]
async fn an_expired_reset_token_is_refused() {
    let app = spawn_app().await;
    let cat = app.register("cat").await;
    // A token issued 31 minutes ago with the default 30-minute lifetime.
    let token = RefreshToken::generate();
    let issued = Utc::now() - Duration::minutes(31);
    app.core
        .stores
        .one_time_tokens
        .issue(&NewOneTimeToken {
            user_id: UserId::parse(&cat.id).unwrap(),
            purpose: TokenPurpose::PasswordReset,
            token_hash: token.hash,
            created_at: issued,
            expires_at: issued + Duration::minutes(30),
        })
        .await
        .unwrap();

    refused_token(
        &app,
        RESET,
        json!({ "t": token.token, "p": "a-fine-new-password" }),
    )
    .await;
    app.login(&cat.email, &cat.password).await;
}

#[tokio::test]
async fn a_reset_request_for_an_unknown_email_answers_exactly_like_one_for_a_known_email() {
    let app = spawn_app().await;
    let dan = app.register("dan").await;

    // The budget left (`extensions.cost`) moves with time, not with the email.
    let answer = |(status, mut body): (u16, Value)| {
        body.as_object_mut().unwrap().remove("extensions");
        (status, body)
    };
    let unknown = answer(
        app.post(None, REQUEST_RESET, json!({ "e": "nobody@example.com" }))
            .await,
    );
    let malformed = answer(
        app.post(None, REQUEST_RESET, json!({ "e": "not an email" }))
            .await,
    );
    let known = answer(
        app.post(None, REQUEST_RESET, json!({ "e": dan.email }))
            .await,
    );

    assert_eq!(unknown, known);
    assert_eq!(malformed, known);
    assert_eq!(
        known,
        (200, json!({ "data": { "requestPasswordReset": true } }))
    );
    // The worker delivers in queue order: once dan's reset is out, a mail to the unknown
    // address would have been delivered before it.
    app.mail_to(&dan.email, "Reset").await;
    let strays: Vec<_> = app
        .delivered_so_far()
        .await
        .into_iter()
        .filter(|d| d.to != dan.email)
        .collect();
    assert!(strays.is_empty(), "{strays:?}");
}

#[tokio::test]
async fn a_weak_new_password_is_refused_without_using_up_the_token() {
    let app = spawn_app().await;
    let eve = app.register("eve").await;
    let token = reset_token(&app, &eve.email).await;

    let (code, body) = app
        .error_code(None, RESET, json!({ "t": token, "p": "short" }))
        .await;

    assert_eq!(code, "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "newPassword");
    let reset = app
        .data(None, RESET, json!({ "t": token, "p": "long-enough-now" }))
        .await;
    assert_eq!(reset["resetPassword"], true);
}

#[tokio::test]
async fn resetting_the_password_closes_the_users_open_sockets() {
    let app = spawn_app().await;
    let fay = app.register("fay").await;
    let mut socket = app.ws("graphql-transport-ws").await;
    socket.init(Some(&fay.access)).await;
    let token = reset_token(&app, &fay.email).await;

    app.data(
        None,
        RESET,
        json!({ "t": token, "p": "brand-new-password" }),
    )
    .await;

    let (code, _) = socket.expect_close().await;
    assert_eq!(code, 4403);
}

#[tokio::test]
async fn registration_mails_a_verification_link_that_verifies_the_address_once() {
    let app = spawn_app().await;
    let gus = app.register("gus").await;
    let before = app.data(Some(&gus.access), EMAIL_VERIFIED, json!({})).await;
    assert_eq!(before["viewer"]["emailVerified"], false);

    let mail = app.mail_to(&gus.email, "Confirm your email address").await;
    let token = mail.token_in_link("verify-email");
    assert!(mail.text.contains("1 day"), "{}", mail.text);
    let verified = app.data(None, VERIFY, json!({ "t": token })).await;

    assert_eq!(verified["verifyEmail"], true);
    let after = app.data(Some(&gus.access), EMAIL_VERIFIED, json!({})).await;
    assert_eq!(after["viewer"]["emailVerified"], true);
    refused_token(&app, VERIFY, json!({ "t": token })).await;
}

#[tokio::test]
async fn a_new_verification_request_supersedes_the_registration_link() {
    let app = spawn_app().await;
    let hal = app.register("hal").await;
    let first = app
        .mail_to(&hal.email, "Confirm")
        .await
        .token_in_link("verify-email");

    let requested = app
        .data(Some(&hal.access), REQUEST_VERIFICATION, json!({}))
        .await;
    let second = app
        .mail_to(&hal.email, "Confirm")
        .await
        .token_in_link("verify-email");

    assert_eq!(requested["requestEmailVerification"], true);
    refused_token(&app, VERIFY, json!({ "t": first })).await;
    app.data(None, VERIFY, json!({ "t": second })).await;
    let (code, _) = app.error_code(None, REQUEST_VERIFICATION, json!({})).await;
    assert_eq!(code, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_token_works_only_for_its_own_purpose() {
    let app = spawn_app().await;
    let ivy = app.register("ivy").await;
    let verification = app
        .mail_to(&ivy.email, "Confirm")
        .await
        .token_in_link("verify-email");

    refused_token(
        &app,
        RESET,
        json!({ "t": verification, "p": "hijacked-password" }),
    )
    .await;

    app.data(None, VERIFY, json!({ "t": verification })).await;
    app.login(&ivy.email, &ivy.password).await;
}

#[tokio::test]
async fn login_can_be_refused_until_the_email_is_verified() {
    let app = spawn_app_with(|c| c.mail.require_verified_email_to_log_in = true).await;
    let joe = app.register("joe").await;

    let (code, body) = app
        .error_code(None, LOGIN, json!({ "e": joe.email, "p": joe.password }))
        .await;
    assert_eq!(code, "FORBIDDEN", "{body}");
    // A wrong password still says nothing about verification.
    let (code, _) = app
        .error_code(
            None,
            LOGIN,
            json!({ "e": joe.email, "p": "wrong-password" }),
        )
        .await;
    assert_eq!(code, "UNAUTHENTICATED");

    let token = app
        .mail_to(&joe.email, "Confirm")
        .await
        .token_in_link("verify-email");
    app.data(None, VERIFY, json!({ "t": token })).await;
    app.login(&joe.email, &joe.password).await;
}

#[tokio::test]
async fn an_admin_made_by_the_operator_is_not_locked_out_by_the_verification_rule() {
    let app = spawn_app_with(|c| c.mail.require_verified_email_to_log_in = true).await;

    let root = app.admin().await;

    let viewer = app
        .data(Some(&root.access), EMAIL_VERIFIED, json!({}))
        .await;
    assert_eq!(viewer["viewer"]["emailVerified"], true);
}

#[tokio::test]
async fn unverified_sellers_may_not_publish_listings_when_the_rule_is_on() {
    let app = spawn_app().await;
    let kim = app.register_as("kim", "SELLER").await;
    let (sessions, users) = (&app.core.services.sessions, &app.core.services.users);
    let viewer = sessions.authenticate(&kim.access).await.unwrap();

    let refused = users.require_verified_seller(&viewer).unwrap_err();
    assert_eq!(refused.code(), "FORBIDDEN");

    let token = app
        .mail_to(&kim.email, "Confirm")
        .await
        .token_in_link("verify-email");
    app.data(None, VERIFY, json!({ "t": token })).await;
    let verified = sessions.authenticate(&kim.access).await.unwrap();
    users.require_verified_seller(&verified).unwrap();
}

#[tokio::test]
async fn unverified_sellers_may_publish_when_the_rule_is_off() {
    let app = spawn_app_with(|c| c.mail.require_verified_seller = false).await;
    let lea = app.register_as("lea", "SELLER").await;
    let (sessions, users) = (&app.core.services.sessions, &app.core.services.users);

    let viewer = sessions.authenticate(&lea.access).await.unwrap();

    users.require_verified_seller(&viewer).unwrap();
}

#[tokio::test]
async fn the_pages_behind_mailed_links_are_served_without_referrer_or_caching() {
    let app = spawn_app().await;
    for path in ["reset-password", "verify-email"] {
        let response = app
            .client
            .get(format!("{}/{path}?token=abc", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert_eq!(headers["cache-control"], "no-store");
        let page = response.text().await.unwrap();
        assert!(page.contains("/graphql"), "{path} calls the API");
    }
}
