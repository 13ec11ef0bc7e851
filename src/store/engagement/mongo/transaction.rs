//! The transaction every engagement write runs in, and the checks and counter updates that
//! run inside it. See the parent module for why each write needs one.

use futures_util::future::BoxFuture;
use mongodb::ClientSession;
use mongodb::bson::{Document, doc};

use super::MongoEngagementStore;
use crate::domain::{PostId, UserId};
use crate::store::mongo::abort;

impl MongoEngagementStore {
    /// Runs `body` in one transaction (see [`crate::store::mongo::transaction`]).
    pub(super) async fn transaction<C, R, F>(
        &self,
        context: C,
        body: F,
    ) -> mongodb::error::Result<R>
    where
        C: Send,
        F: for<'s> FnMut(
                &'s mut ClientSession,
                &'s mut C,
            ) -> BoxFuture<'s, mongodb::error::Result<R>>
            + Send,
    {
        crate::store::mongo::transaction(&self.client, context, body).await
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
