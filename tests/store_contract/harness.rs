//! Runs one contract test against a fresh store of each kind.

use std::future::Future;

use agora::store::Stores;
use agora::store::mongo::IndexSet;

/// Where the MongoDB half of the suite runs, e.g.
/// `mongodb://127.0.0.1:27017/?directConnection=true`. Those tests are `#[ignore]`d, so a plain
/// `cargo test` skips them; asked for without the variable, they fail.
const MONGODB_URI_VAR: &str = "TEST_MONGODB_URI";

/// Where the tests needing a server with text indexes (`$text`) run, which the CI stand-in for
/// MongoDB (SecantusDB) lacks; CI points it at nx-27017. Ignored and required like
/// [`MONGODB_URI_VAR`].
const MONGODB_TEXT_URI_VAR: &str = "TEST_MONGODB_TEXT_URI";

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

/// Runs `test` on a new MongoDB database at `TEST_MONGODB_URI`, then drops it.
pub async fn on_mongo<F, Fut>(test: F)
where
    F: FnOnce(Stores) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let uri = required_uri(MONGODB_URI_VAR);
    on_new_database(&uri, MONGODB_URI_VAR, IndexSet::All, |stores, _| {
        test(stores)
    })
    .await;
}

/// Where a MongoDB test's database is: for the few tests that must shape stored documents
/// themselves (data written by an older version) and open the stores on them again.
#[derive(Debug, Clone)]
pub struct MongoDatabase {
    pub uri: String,
    pub name: String,
}

/// [`on_mongo`] for a test that also gets its database's location.
pub async fn on_mongo_database<F, Fut>(test: F)
where
    F: FnOnce(Stores, MongoDatabase) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let uri = required_uri(MONGODB_URI_VAR);
    on_new_database(&uri, MONGODB_URI_VAR, IndexSet::All, test).await;
}

/// Runs `test` on a new MongoDB database at `TEST_MONGODB_TEXT_URI`, then drops it:
/// for the tests of text search, which need a server with text indexes.
///
/// The store is opened with [`IndexSet::ContractOnly`] — the unique indexes and the text index,
/// not the compound indexes that only make lists fast — because nx-27017 0.8.1, the stand-in
/// CI uses here, breaks on a compound index whose key contains `_id` (it accepts the index,
/// then refuses every insert). Results do not depend on those indexes; every other test runs
/// with all of them on `TEST_MONGODB_URI`.
pub async fn on_mongo_text<F, Fut>(test: F)
where
    F: FnOnce(Stores) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let uri = required_uri(MONGODB_TEXT_URI_VAR);
    on_new_database(
        &uri,
        MONGODB_TEXT_URI_VAR,
        IndexSet::ContractOnly,
        |stores, _| test(stores),
    )
    .await;
}

/// The server address in `var`. A MongoDB test runs only when asked for (it is ignored
/// otherwise), so a missing address fails it rather than letting it pass having tested nothing.
fn required_uri(var: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|uri| !uri.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "{var} is not set: this test needs a MongoDB server \
                 (see README, Testing); without one, run plain `cargo test`, which skips it"
            )
        })
}

/// Opens the stores on a new database at `uri`, runs `test`, and drops the database.
///
/// The test runs in its own task so a failing assertion still lets the database be dropped;
/// the panic is then re-raised with its original message.
async fn on_new_database<F, Fut>(uri: &str, var: &str, indexes: IndexSet, test: F)
where
    F: FnOnce(Stores, MongoDatabase) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let database = format!("agora_test_{}", uuid::Uuid::now_v7().simple());
    let stores = agora::store::mongo::open_with(uri, &database, indexes)
        .await
        .unwrap_or_else(|e| panic!("MongoDB at {var} opens: {e}"));
    let location = MongoDatabase {
        uri: uri.to_owned(),
        name: database.clone(),
    };

    let outcome = tokio::spawn(test(stores, location)).await;

    match mongodb::Client::with_uri_str(uri).await {
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

/// For upgrades: lets `seed` write documents the way an earlier version stored them into a new
/// database at `TEST_MONGODB_URI`, then opens the stores on it (which creates indexes and fills
/// in what is missing, as a start-up does) and runs `test` with both; the database is dropped
/// afterwards, also when the test fails.
pub async fn on_mongo_seeded<S, SFut, F, Fut>(seed: S, test: F)
where
    S: FnOnce(mongodb::Database) -> SFut,
    SFut: Future<Output = ()>,
    F: FnOnce(Stores, mongodb::Database) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let uri = required_uri(MONGODB_URI_VAR);
    let client = mongodb::Client::with_uri_str(&uri)
        .await
        .unwrap_or_else(|e| panic!("MongoDB at {MONGODB_URI_VAR} connects: {e}"));
    let database = client.database(&format!("agora_test_{}", uuid::Uuid::now_v7().simple()));
    seed(database.clone()).await;
    let opened = agora::store::mongo::open_with(&uri, database.name(), IndexSet::All).await;
    let outcome = match opened {
        Ok(stores) => tokio::spawn(test(stores, database.clone())).await,
        Err(e) => {
            let _ = database.drop().await;
            panic!("the seeded database opens: {e}");
        }
    };
    if let Err(e) = database.drop().await {
        eprintln!("could not drop test database {}: {e}", database.name());
    }
    if let Err(err) = outcome {
        match err.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(err) => panic!("the test task did not finish: {err}"),
        }
    }
}
