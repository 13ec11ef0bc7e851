-- Social graph. The counters on `users` are denormalised from `follows` and changed in
-- the same transaction as the edge, so profiles show them without counting rows.

ALTER TABLE users ADD COLUMN followers_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN following_count INTEGER NOT NULL DEFAULT 0;

CREATE TABLE follows (
    follower_id TEXT NOT NULL REFERENCES users(id),
    followee_id TEXT NOT NULL REFERENCES users(id),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (follower_id, followee_id),
    CHECK (follower_id <> followee_id)
) STRICT, WITHOUT ROWID;
-- Followers lists: newest first, ties broken by the follower's id (the keyset order).
CREATE INDEX follows_by_followee ON follows(followee_id, created_at, follower_id);
-- Following lists, same order.
CREATE INDEX follows_by_follower ON follows(follower_id, created_at, followee_id);

CREATE TABLE blocks (
    blocker_id TEXT NOT NULL REFERENCES users(id),
    blocked_id TEXT NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id),
    CHECK (blocker_id <> blocked_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX blocks_by_blocked ON blocks(blocked_id);
