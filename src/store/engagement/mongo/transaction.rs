//! The transaction every engagement write runs in, and the checks and counter updates that
//! run inside it. See the parent module for why each write needs one.

use futures_util::future::BoxFuture;
use mongodb::ClientSession;
use mongodb::bson::{Document, doc};
use mongodb::error::Error as DriverError;
use mongodb::options::{ReadConcern, WriteConcern};

use super::MongoEngagementStore;
use crate::domain::{PostId, UserId};
use crate::store::StoreError;

type TxResult<R> = mongodb::error::Result<R>;

/// Why a transaction was given up on purpose: carried through the driver's error as a custom
/// payload, so the transaction aborts, and turned back into a [`StoreError::Backend`].
struct Abort(String);

pub(super) fn abort(message: String) -> DriverError {
    DriverError::custom(Abort(message))
}

pub(super) fn store_error(err: DriverError) -> StoreError {
    match err.get_custom::<Abort>() {
        Some(Abort(message)) => StoreError::Backend(message.clone()),
        None => StoreError::backend(err),
    }
}

impl MongoEngagementStore {
    /// Runs `body` in one transaction on a new session: snapshot reads, majority commit. The
    /// driver reruns `body` on `TransientTransactionError` and retries the commit on
    /// `UnknownTransactionCommitResult`, so `body` must only read and write through the
    /// session and return every error it meets (an error it swallowed might have aborted the
    /// transaction on the server).
    ///
    /// `body` gets its inputs through `context` and returns a boxed future (the driver's
    /// `and_run`): the async-closure form, `and_run2`, trips rustc's "`Send` is not general
    /// enough" limitation inside `async_trait` methods, whose futures must be `Send`.
    pub(super) async fn transaction<C, R, F>(
        &self,
        context: C,
        body: F,
    ) -> mongodb::error::Result<R>
    where
        C: Send,
        F: for<'s> FnMut(&'s mut ClientSession, &'s mut C) -> BoxFuture<'s, TxResult<R>> + Send,
    {
        let mut session = self.client.start_session().await?;
        session
            .start_transaction()
            .read_concern(ReadConcern::snapshot())
            .write_concern(WriteConcern::majority())
            .and_run(context, body)
            .await
    }

    /// Fails the transaction when the user does not exist (SQLite's foreign key).
    pub(super) async fn ensure_user(
        &self,
        session: &mut ClientSession,
        id: &UserId,
    ) -> mongodb::error::Result<()> {
        let found = self
            .users
            .find_one(doc! { "_id": id.as_str() })
            .projection(doc! { "_id": 1 })
            .session(session)
            .await?;
        match found {
            Some(_) => Ok(()),
            None => Err(abort(format!("user {id} does not exist"))),
        }
    }

    /// Applies `inc` to the post's counters, failing the transaction when the post does not
    /// exist (SQLite's foreign key). A soft-deleted post still exists and is still counted.
    pub(super) async fn bump(
        &self,
        session: &mut ClientSession,
        post_id: &PostId,
        inc: Document,
    ) -> mongodb::error::Result<()> {
        let result = self
            .posts
            .update_one(doc! { "_id": post_id.as_str() }, doc! { "$inc": inc })
            .session(session)
            .await?;
        if result.matched_count == 0 {
            return Err(abort(format!("post {post_id} does not exist")));
        }
        Ok(())
    }
}
