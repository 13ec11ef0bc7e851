//! Runs one contract test against a fresh store of each kind.

use std::future::Future;

use agora::store::Stores;

/// The variable that enables the MongoDB half of the suite, e.g.
/// `mongodb://127.0.0.1:27017/?directConnection=true`.
const MONGODB_URI_VAR: &str = "TEST_MONGODB_URI";

/// Runs `test` on a new SQLite database in a temporary directory, removed afterwards.
pub async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Stores) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::TempDir::new().expect("a temporary directory can be created");
    let stores = agora::store::sqlite::open_file(&dir.path().join("contract.sqlite3"))
        .await
        .expect("a new SQLite database opens");
    test(stores).await;
}

/// Runs `test` on a new MongoDB database when `TEST_MONGODB_URI` is set, then drops it.
///
/// The test runs in its own task so a failing assertion still lets the database be dropped;
/// the panic is then re-raised with its original message.
pub async fn on_mongo<F, Fut>(name: &str, test: F)
where
    F: FnOnce(Stores) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(uri) = std::env::var(MONGODB_URI_VAR)
        .ok()
        .filter(|uri| !uri.is_empty())
    else {
        println!("skipped mongo::{name}: {MONGODB_URI_VAR} is not set");
        return;
    };
    let database = format!("agora_test_{}", uuid::Uuid::now_v7().simple());
    let stores = agora::store::mongo::open(&uri, &database)
        .await
        .unwrap_or_else(|e| panic!("MongoDB at {MONGODB_URI_VAR} opens: {e}"));

    let outcome = tokio::spawn(test(stores)).await;

    match mongodb::Client::with_uri_str(&uri).await {
        Ok(client) => {
            if let Err(e) = client.database(&database).drop().await {
                eprintln!("could not drop test database {database}: {e}");
            }
        }
        Err(e) => eprintln!("could not connect to drop test database {database}: {e}"),
    }
    if let Err(err) = outcome {
        match err.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(err) => panic!("the test task did not finish: {err}"),
        }
    }
}
