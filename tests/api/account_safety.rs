//! Account input that must not get through, over the real API: guessable passwords wherever a
//! password is set, and usernames and display names that hide or disguise what they are.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const REGISTER: &str = "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }";
const CHANGE_PASSWORD: &str =
    "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";
const RESET_PASSWORD: &str =
    "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }";
const UPDATE_PROFILE: &str =
    "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { displayName } }";
const USER_COUNT: &str = "{ users { totalCount } }";

/// A registration input for `username` that passes every rule.
fn registration(username: &str) -> Value {
    json!({
        "email": format!("{username}@example.com"),
        "password": "correct horse battery",
        "username": username,
        "displayName": "Someone",
    })
}

/// Registers with `key` set to `value` and returns the refusal's code, field and message.
async fn refused_registration(app: &TestApp, key: &str, value: Value) -> (String, Value, String) {
    let mut input = registration("fresh_name");
    input[key] = value;
    let (code, body) = app.error_code(None, REGISTER, json!({ "i": input })).await;
    let error = &body["errors"][0];
    let message = error["message"].as_str().unwrap_or_default().to_owned();
    (code, error["extensions"]["field"].clone(), message)
}

/// Sets the display name through `updateProfile` and expects it refused on its field.
async fn refused_display_name_update(app: &TestApp, access: &str, display_name: &str) {
    let (code, body) = app
        .error_code(
            Some(access),
            UPDATE_PROFILE,
            json!({ "i": { "displayName": display_name } }),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["field"],
        "input.displayName"
    );
}

async fn user_count(app: &TestApp) -> u64 {
    app.data(None, USER_COUNT, json!({})).await["users"]["totalCount"]
        .as_u64()
        .expect("a count")
}

#[tokio::test]
async fn registering_with_password_or_12345678_is_refused_with_the_reason() {
    let app = spawn_app().await;

    for weak in ["password", "12345678"] {
        let (code, field, message) = refused_registration(&app, "password", json!(weak)).await;
        assert_eq!(code, "BAD_USER_INPUT", "{weak}");
        assert_eq!(field, "input.password", "{weak}");
        assert!(
            message.contains("is too easy to guess")
                && message.contains("This is a top-10 common password."),
            "{weak}: {message}"
        );
    }
    assert_eq!(user_count(&app).await, 0);
}

#[tokio::test]
async fn a_password_made_of_the_users_own_email_is_refused_at_registration() {
    let app = spawn_app().await;
    let mut input = registration("mallory_k");
    input["email"] = json!("mallory.kingsley@example.com");
    input["password"] = json!("mallory.kingsley");

    let (code, body) = app.error_code(None, REGISTER, json!({ "i": input })).await;

    assert_eq!(code, "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.password");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("It contains your email address or username."),
        "{message}"
    );
    assert_eq!(user_count(&app).await, 0);
}

#[tokio::test]
async fn changing_to_a_guessable_password_is_refused_and_the_old_one_still_works() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;

    for weak in ["password", "12345678"] {
        let (code, body) = app
            .error_code(
                Some(&ann.access),
                CHANGE_PASSWORD,
                json!({ "c": ann.password, "n": weak }),
            )
            .await;
        assert_eq!(code, "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "newPassword");
    }

    app.login(&ann.email, &ann.password).await;
    // Anonymous callers are refused before any password rule.
    let (code, _) = app
        .error_code(None, CHANGE_PASSWORD, json!({ "c": "x", "n": "12345678" }))
        .await;
    assert_eq!(code, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_guessable_reset_password_is_refused_and_leaves_the_link_usable() {
    let app = spawn_app().await;
    let bea = app.register("bea").await;
    app.data(
        None,
        "mutation($e: String!) { requestPasswordReset(email: $e) }",
        json!({ "e": bea.email }),
    )
    .await;
    let token = app
        .mail_to(&bea.email, "Reset your Agora password")
        .await
        .token_in_link("reset-password");

    for weak in ["password", "12345678"] {
        let (code, body) = app
            .error_code(None, RESET_PASSWORD, json!({ "t": token, "p": weak }))
            .await;
        assert_eq!(code, "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "newPassword");
    }
    app.login(&bea.email, &bea.password).await;

    let reset = app
        .data(
            None,
            RESET_PASSWORD,
            json!({ "t": token, "p": "a whole new passphrase" }),
        )
        .await;
    assert_eq!(reset["resetPassword"], true);
    app.login(&bea.email, "a whole new passphrase").await;
}

#[tokio::test]
async fn the_create_admin_command_refuses_a_guessable_password() {
    let app = spawn_app().await;
    let output = app.create_admin_command("boss@example.com", "12345678");

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("BAD_USER_INPUT: password is too easy to guess."),
        "{stderr}"
    );
    assert_eq!(user_count(&app).await, 0);
}

#[tokio::test]
async fn a_right_to_left_override_is_refused_in_usernames_and_display_names() {
    let app = spawn_app().await;

    let (code, field, message) =
        refused_registration(&app, "username", json!("ann\u{202E}gpj")).await;
    assert_eq!(
        (code.as_str(), field),
        ("BAD_USER_INPUT", json!("input.username"))
    );
    assert!(message.contains("bidirectional control"), "{message}");

    let (code, field, message) =
        refused_registration(&app, "displayName", json!("Ann\u{202E}gpj.exe")).await;
    assert_eq!(
        (code.as_str(), field),
        ("BAD_USER_INPUT", json!("input.displayName"))
    );
    assert!(message.contains("bidirectional overrides"), "{message}");

    let cat = app.register("cat").await;
    refused_display_name_update(&app, &cat.access, "Cat\u{202E}").await;
    assert_eq!(user_count(&app).await, 1);
}

#[tokio::test]
async fn a_lone_zero_width_space_is_neither_a_username_nor_a_display_name() {
    let app = spawn_app().await;

    let (code, field, message) = refused_registration(&app, "username", json!("\u{200B}")).await;
    assert_eq!(
        (code.as_str(), field),
        ("BAD_USER_INPUT", json!("input.username"))
    );
    assert!(message.contains("invisible"), "{message}");

    let (code, field, message) = refused_registration(&app, "displayName", json!("\u{200B}")).await;
    assert_eq!(
        (code.as_str(), field),
        ("BAD_USER_INPUT", json!("input.displayName"))
    );
    assert!(
        message.contains("must contain a visible character"),
        "{message}"
    );

    let cid = app.register("cid").await;
    refused_display_name_update(&app, &cid.access, " \u{200B}\u{FEFF} ").await;
    let profile = app
        .data(Some(&cid.access), "{ viewer { displayName } }", json!({}))
        .await;
    assert_eq!(profile["viewer"]["displayName"], "cid");
}

#[tokio::test]
async fn a_username_that_looks_like_a_taken_one_is_refused() {
    let app = spawn_app().await;
    app.register("cam_l").await;

    // Cyrillic с and а (U+0441, U+0430) are not username letters at all.
    let (code, field, message) =
        refused_registration(&app, "username", json!("\u{441}\u{430}m_l")).await;
    assert_eq!(
        (code.as_str(), field),
        ("BAD_USER_INPUT", json!("input.username"))
    );
    assert_eq!(
        message,
        "input.username may only contain letters a-z, digits and underscores"
    );
    // Latin look-alikes (`1` for `l`, `rn` for `m`) are a conflict, like the name itself.
    for look_alike in ["cam_1", "carn_l", "CARN_1"] {
        let (code, body) = app
            .error_code(None, REGISTER, json!({ "i": registration(look_alike) }))
            .await;
        assert_eq!(code, "CONFLICT", "{look_alike}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "username");
    }
    assert_eq!(user_count(&app).await, 1);
}

#[tokio::test]
async fn a_case_or_width_variant_of_a_taken_username_is_the_same_name() {
    let app = spawn_app().await;
    app.register("dan_99").await;

    for variant in [
        "DAN_99",
        "Dan_99",
        "\u{FF24}\u{FF21}\u{FF2E}_\u{FF19}\u{FF19}",
    ] {
        let (code, body) = app
            .error_code(None, REGISTER, json!({ "i": registration(variant) }))
            .await;
        assert_eq!(code, "CONFLICT", "{variant}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "username");
    }
    // Looking the name up by a variant finds the one account.
    let found = app
        .data(
            None,
            "query($u: String!) { user(username: $u) { username } }",
            json!({ "u": "\u{FF44}\u{FF41}\u{FF4E}_99" }),
        )
        .await;
    assert_eq!(found["user"]["username"], "dan_99");
    assert_eq!(user_count(&app).await, 1);
}

#[tokio::test]
async fn of_two_concurrent_registrations_of_look_alike_names_exactly_one_succeeds() {
    let app = spawn_app().await;
    let (first, second) = tokio::join!(
        app.post(None, REGISTER, json!({ "i": registration("eve_l") })),
        app.post(None, REGISTER, json!({ "i": registration("eve_1") })),
    );

    let codes: Vec<&str> = [&first.1, &second.1]
        .iter()
        .map(|body| {
            body["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or("OK")
        })
        .collect();
    let mut sorted = codes.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["CONFLICT", "OK"], "{first:?} {second:?}");
    assert_eq!(user_count(&app).await, 1);
}
