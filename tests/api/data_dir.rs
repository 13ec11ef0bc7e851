//! The data directory holds the database, the JWT key and mails with live reset links:
//! owner-only, whether the server creates it or finds it looser than that.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::json;

use crate::helpers::{JWT_SECRET, spawn_app_with};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn a_new_data_directory_and_its_files_are_private_to_the_owner() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("fresh/data");
    let app = spawn_app_with(|config| {
        config.store.data_dir = data.clone();
        // The development key, generated into the directory.
        config.auth.jwt_secret = None;
    })
    .await;
    app.data(None, "{ __typename }", json!({})).await;
    app.register("ann").await;
    assert_eq!(mode(&data), 0o700);
    for file in [
        "agora.sqlite3",
        "agora.sqlite3-wal",
        "agora.sqlite3-shm",
        "jwt-secret",
    ] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
}

#[tokio::test]
async fn a_loose_existing_data_directory_is_tightened_at_start_up_and_mail_is_private() {
    let mut loose = None;
    let app = spawn_app_with(|config| {
        let data = config.store.data_dir.clone();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(data.join("outbox")).unwrap();
        std::fs::set_permissions(data.join("outbox"), std::fs::Permissions::from_mode(0o777))
            .unwrap();
        for file in ["jwt-secret", "outbox/old.eml"] {
            std::fs::write(data.join(file), JWT_SECRET).unwrap();
            std::fs::set_permissions(data.join(file), std::fs::Permissions::from_mode(0o644))
                .unwrap();
        }
        config.auth.jwt_secret = None;
        loose = Some(data);
    })
    .await;
    let data = loose.unwrap();
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("outbox")), 0o700);
    assert_eq!(mode(&data.join("jwt-secret")), 0o600);
    assert_eq!(mode(&data.join("outbox/old.eml")), 0o600);

    // A reset mail written now holds a live token: owner-only from the start.
    let ann = app.register("ann").await;
    app.data(
        None,
        "mutation($e: String!) { requestPasswordReset(email: $e) }",
        json!({ "e": ann.email }),
    )
    .await;
    app.mail_to(&ann.email, "Reset").await;
    let written: Vec<_> = std::fs::read_dir(data.join("outbox"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "eml"))
        .collect();
    assert!(written.len() >= 2, "{written:?}");
    for path in written {
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
}
