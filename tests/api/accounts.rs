//! The account journey and its refusals.

use serde_json::json;

use crate::helpers::spawn_app;

const VIEWER: &str = "{ viewer { id username displayName bio avatarUrl email phone roles
    addresses { id city country } paymentCards { id brand last4 expMonth expYear } } }";

#[tokio::test]
async fn the_whole_account_journey_works_end_to_end() {
    let app = spawn_app().await;
    let ann = app.register_as("ann", "SELLER").await;

    let viewer = app.data(Some(&ann.access), VIEWER, json!({})).await["viewer"].clone();
    assert_eq!(viewer["username"], "ann");
    assert_eq!(viewer["email"], "ann@example.com");
    assert_eq!(viewer["roles"], json!(["BUYER", "SELLER"]));

    let updated = app
        .data(
            Some(&ann.access),
            "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { displayName bio avatarUrl phone } }",
            json!({ "i": { "displayName": "Ann A.", "bio": "Vintage cameras", "avatarUrl": "https://cdn.example.com/a.png", "phone": "+7 701 123 45 67" } }),
        )
        .await;
    assert_eq!(
        updated["updateProfile"],
        json!({ "displayName": "Ann A.", "bio": "Vintage cameras", "avatarUrl": "https://cdn.example.com/a.png", "phone": "+77011234567" })
    );
    let cleared = app
        .data(
            Some(&ann.access),
            "mutation { updateProfile(input: { bio: null }) { displayName bio } }",
            json!({}),
        )
        .await;
    assert_eq!(
        cleared["updateProfile"],
        json!({ "displayName": "Ann A.", "bio": null })
    );

    let address = app
        .data(
            Some(&ann.access),
            "mutation($i: AddressInput!) { addAddress(input: $i) { id recipient city country } }",
            json!({ "i": { "recipient": "Ann", "phone": "+77011234567", "line1": "Abay 1", "city": "Almaty", "postalCode": "050000", "country": "kz" } }),
        )
        .await["addAddress"]
        .clone();
    assert_eq!(address["country"], "KZ");
    let card = app
        .data(
            Some(&ann.access),
            "mutation($i: CardInput!) { addPaymentCard(input: $i) { id brand last4 expMonth expYear } }",
            json!({ "i": { "number": "4242 4242 4242 4242", "expMonth": 12, "expYear": 2031 } }),
        )
        .await["addPaymentCard"]
        .clone();
    assert_eq!(card["brand"], "VISA");
    assert_eq!(card["last4"], "4242");

    let viewer = app.data(Some(&ann.access), VIEWER, json!({})).await["viewer"].clone();
    assert_eq!(viewer["addresses"][0]["id"], address["id"]);
    assert_eq!(viewer["paymentCards"][0]["id"], card["id"]);

    let removed = app
        .data(
            Some(&ann.access),
            "mutation($id: ID!) { removeAddress(id: $id) }",
            json!({ "id": address["id"] }),
        )
        .await;
    assert_eq!(removed["removeAddress"], true);

    let changed = app
        .data(
            Some(&ann.access),
            "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }",
            json!({ "c": ann.password, "n": "a-brand-new-password" }),
        )
        .await;
    assert_eq!(changed["changePassword"], true);
    let (code, _) = app
        .error_code(
            None,
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
            json!({ "e": ann.email, "p": ann.password }),
        )
        .await;
    assert_eq!(code, "UNAUTHENTICATED");
    let again = app.login(&ann.email, "a-brand-new-password").await;

    let refreshed = app
        .data(None, "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken user { username } } }", json!({ "t": again.refresh }))
        .await["refreshSession"]
        .clone();
    assert_eq!(refreshed["user"]["username"], "ann");
    let new_access = refreshed["accessToken"].as_str().unwrap();
    assert_eq!(
        app.data(Some(new_access), "{ viewer { username } }", json!({}))
            .await["viewer"]["username"],
        "ann"
    );

    let out = app
        .data(
            None,
            "mutation($t: String!) { logout(refreshToken: $t) }",
            json!({ "t": refreshed["refreshToken"] }),
        )
        .await;
    assert_eq!(out["logout"], true);
    let (status, body) = app
        .post(Some(new_access), "{ viewer { id } }", json!({}))
        .await;
    assert_eq!(
        (status, body["errors"][0]["extensions"]["code"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
}

#[tokio::test]
async fn changing_the_password_ends_other_sessions_but_keeps_this_one() {
    let app = spawn_app().await;
    let phone = app.register("bob").await;
    let laptop = app.login(&phone.email, &phone.password).await;
    app.data(
        Some(&laptop.access),
        "mutation($c: String!) { changePassword(currentPassword: $c, newPassword: \"another-long-one\") }",
        json!({ "c": phone.password }),
    )
    .await;
    assert_eq!(
        app.post(Some(&phone.access), "{ viewer { id } }", json!({}))
            .await
            .0,
        401
    );
    assert_eq!(
        app.post(Some(&laptop.access), "{ viewer { id } }", json!({}))
            .await
            .0,
        200
    );
    let (code, _) = app
        .error_code(
            None,
            "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }",
            json!({ "t": phone.refresh }),
        )
        .await;
    assert_eq!(code, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_taken_email_or_username_is_a_conflict_naming_the_field() {
    let app = spawn_app().await;
    app.register("cara").await;
    let register = "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }";
    for (email, username, field) in [
        ("CARA@example.com", "cara2", "email"),
        ("other@example.com", "Cara", "username"),
    ] {
        let (code, body) = app
            .error_code(None, register, json!({ "i": { "email": email, "password": "long-enough-pw", "username": username, "displayName": "C" } }))
            .await;
        assert_eq!(code, "CONFLICT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field);
    }
    let users = app.data(None, "{ users { totalCount } }", json!({})).await;
    assert_eq!(users["users"]["totalCount"], 1);
}

#[tokio::test]
async fn bad_registration_input_is_refused_with_the_field() {
    let app = spawn_app().await;
    let register = "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }";
    let base = json!({ "email": "dan@example.com", "password": "long-enough-pw", "username": "dan", "displayName": "Dan" });
    for (key, value, field) in [
        ("email", json!("not-an-email"), "input.email"),
        ("password", json!("short"), "input.password"),
        ("username", json!("9lives"), "input.username"),
        ("displayName", json!("   "), "input.displayName"),
        ("role", json!("ADMIN"), "input.role"),
    ] {
        let mut input = base.clone();
        input[key] = value;
        let (code, body) = app.error_code(None, register, json!({ "i": input })).await;
        assert_eq!(code, "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_give_the_same_error() {
    let app = spawn_app().await;
    let eve = app.register("eve").await;
    let login =
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }";
    let (_, wrong_password) = app
        .post(
            None,
            login,
            json!({ "e": eve.email, "p": "not-her-password" }),
        )
        .await;
    let (_, unknown_email) = app
        .post(
            None,
            login,
            json!({ "e": "nobody@example.com", "p": "not-her-password" }),
        )
        .await;
    let (_, malformed_email) = app
        .post(
            None,
            login,
            json!({ "e": "nobody", "p": "not-her-password" }),
        )
        .await;
    assert_eq!(
        wrong_password["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    assert_eq!(
        wrong_password["errors"][0]["message"],
        unknown_email["errors"][0]["message"]
    );
    assert_eq!(
        wrong_password["errors"][0]["message"],
        malformed_email["errors"][0]["message"]
    );
    assert_eq!(
        wrong_password["errors"][0]["extensions"],
        unknown_email["errors"][0]["extensions"]
    );
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_family() {
    let app = spawn_app().await;
    let fay = app.register("fay").await;
    let refresh =
        "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken } }";
    let first =
        app.data(None, refresh, json!({ "t": fay.refresh })).await["refreshSession"].clone();

    let (code, _) = app
        .error_code(None, refresh, json!({ "t": fay.refresh }))
        .await;
    assert_eq!(code, "UNAUTHENTICATED", "the replayed token is refused");
    let (code, _) = app
        .error_code(None, refresh, json!({ "t": first["refreshToken"] }))
        .await;
    assert_eq!(
        code, "UNAUTHENTICATED",
        "the newest token of the family died with it"
    );
    assert_eq!(
        app.post(
            first["accessToken"].as_str(),
            "{ viewer { id } }",
            json!({})
        )
        .await
        .0,
        401
    );
    assert_eq!(
        app.post(Some(&fay.access), "{ viewer { id } }", json!({}))
            .await
            .0,
        401
    );

    let other = app.login(&fay.email, &fay.password).await;
    assert_eq!(
        app.post(Some(&other.access), "{ viewer { id } }", json!({}))
            .await
            .0,
        200,
        "other sessions live on"
    );
}

#[tokio::test]
async fn a_deactivated_user_cannot_log_in_or_refresh_and_reactivation_restores_login() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let gus = app.register("gus").await;
    let set_active =
        "mutation($u: ID!, $a: Boolean!) { setUserActive(userId: $u, active: $a) { id active } }";
    let data = app
        .data(
            Some(&admin.access),
            set_active,
            json!({ "u": gus.id, "a": false }),
        )
        .await;
    assert_eq!(data["setUserActive"]["active"], false);

    assert_eq!(
        app.post(Some(&gus.access), "{ viewer { id } }", json!({}))
            .await
            .0,
        401
    );
    let (code, _) = app
        .error_code(
            None,
            "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }",
            json!({ "t": gus.refresh }),
        )
        .await;
    assert_eq!(code, "UNAUTHENTICATED");
    let (code, _) = app
        .error_code(
            None,
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
            json!({ "e": gus.email, "p": gus.password }),
        )
        .await;
    assert_eq!(code, "FORBIDDEN");
    let hidden = app
        .data(
            None,
            "query($id: ID!) { user(id: $id) { id } }",
            json!({ "id": gus.id }),
        )
        .await;
    assert_eq!(
        hidden["user"],
        json!(null),
        "deactivated accounts are hidden from the public"
    );

    app.data(
        Some(&admin.access),
        set_active,
        json!({ "u": gus.id, "a": true }),
    )
    .await;
    app.login(&gus.email, &gus.password).await;
}

#[tokio::test]
async fn admin_only_fields_and_mutations_refuse_everyone_else() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let hal = app.register("hal").await;
    let ivy = app.register("ivy").await;

    for mutation in [
        "mutation($u: ID!) { setUserRoles(userId: $u, roles: [SELLER]) { id } }",
        "mutation($u: ID!) { setUserActive(userId: $u, active: false) { id } }",
    ] {
        let (code, _) = app
            .error_code(Some(&hal.access), mutation, json!({ "u": ivy.id }))
            .await;
        assert_eq!(code, "FORBIDDEN");
        let (code, _) = app.error_code(None, mutation, json!({ "u": ivy.id })).await;
        assert_eq!(code, "UNAUTHENTICATED");
    }

    let as_hal = app
        .data(
            Some(&hal.access),
            "query($id: ID!) { user(id: $id) { email phone active } }",
            json!({ "id": ivy.id }),
        )
        .await;
    assert_eq!(
        as_hal["user"],
        json!({ "email": null, "phone": null, "active": null })
    );
    let as_admin = app
        .data(
            Some(&admin.access),
            "query($id: ID!) { user(id: $id) { email active } }",
            json!({ "id": ivy.id }),
        )
        .await;
    assert_eq!(
        as_admin["user"],
        json!({ "email": "ivy@example.com", "active": true })
    );

    let search =
        "query($s: String) { users(search: $s) { totalCount edges { node { username } } } }";
    let by_email = json!({ "s": "ivy@example" });
    assert_eq!(
        app.data(Some(&hal.access), search, by_email.clone()).await["users"]["totalCount"],
        0
    );
    assert_eq!(
        app.data(Some(&admin.access), search, by_email).await["users"]["edges"][0]["node"]["username"],
        "ivy"
    );

    let promoted = app
        .data(
            Some(&admin.access),
            "mutation($u: ID!) { setUserRoles(userId: $u, roles: [SELLER]) { roles } }",
            json!({ "u": ivy.id }),
        )
        .await;
    assert_eq!(
        promoted["setUserRoles"]["roles"],
        json!(["BUYER", "SELLER"])
    );
}

#[tokio::test]
async fn users_are_found_by_username_or_name_and_paginated_without_gaps() {
    let app = spawn_app().await;
    for name in ["kai", "kim", "kit", "lea", "kob"] {
        app.register(name).await;
    }
    let search = "query($s: String, $a: String) { users(search: $s, first: 2, after: $a) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { username } } } }";
    let mut seen = Vec::new();
    let mut after = serde_json::Value::Null;
    loop {
        let page = app
            .data(None, search, json!({ "s": "K", "a": after }))
            .await["users"]
            .clone();
        assert_eq!(page["totalCount"], 4);
        seen.extend(
            page["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["username"].as_str().unwrap().to_owned()),
        );
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, ["kai", "kim", "kit", "kob"]);
    let by_name = app
        .data(None, "{ user(username: \"LEA\") { username } }", json!({}))
        .await;
    assert_eq!(by_name["user"]["username"], "lea");

    let (code, body) = app
        .error_code(None, "{ users(first: 101) { totalCount } }", json!({}))
        .await;
    assert_eq!(
        (code.as_str(), &body["errors"][0]["extensions"]["field"]),
        ("BAD_USER_INPUT", &json!("first"))
    );
    let (code, _) = app
        .error_code(None, "{ users(after: \"%%%\") { totalCount } }", json!({}))
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
}

#[tokio::test]
async fn a_card_number_is_never_written_to_the_store() {
    let app = spawn_app().await;
    let jo = app.register("joe").await;
    let (code, body) = app
        .error_code(Some(&jo.access), "mutation { addPaymentCard(input: { number: \"4242424242424241\", expMonth: 1, expYear: 2031 }) { id } }", json!({}))
        .await;
    assert_eq!(
        (code.as_str(), &body["errors"][0]["extensions"]["field"]),
        ("BAD_USER_INPUT", &json!("input.number"))
    );
    app.data(
        Some(&jo.access),
        "mutation { addPaymentCard(input: { number: \"5555-5555-5555-4444\", expMonth: 1, expYear: 2031, holder: \"JO\" }) { id } }",
        json!({}),
    )
    .await;
    // Everything the app wrote: the database, its WAL and shared-memory files, and the mail
    // in `outbox/`.
    let mut written = Vec::new();
    let mut dirs = vec![app.data_dir.path().to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                written.extend(std::fs::read(path).unwrap());
            }
        }
    }
    let haystack = String::from_utf8_lossy(&written);
    assert!(haystack.contains("4444"), "the last four digits are stored");
    assert!(!haystack.contains("5555555555554444") && !haystack.contains("5555-5555-5555-4444"));
}

#[tokio::test]
async fn the_create_admin_command_makes_an_admin_who_can_log_in() {
    let app = spawn_app().await;
    let output = app.create_admin_command("boss@example.com", "boss-password-1");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let boss = app.login("boss@example.com", "boss-password-1").await;
    let viewer = app
        .data(Some(&boss.access), "{ viewer { roles } }", json!({}))
        .await;
    assert_eq!(viewer["viewer"]["roles"], json!(["BUYER", "ADMIN"]));
}
