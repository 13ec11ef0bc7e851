-- Posts, listings and engagement

CREATE TABLE posts (
    id              TEXT PRIMARY KEY,
    author_id       TEXT NOT NULL REFERENCES users(id),
    kind            TEXT NOT NULL,
    title           TEXT,
    body            TEXT NOT NULL,
    media           TEXT NOT NULL,
    tags            TEXT NOT NULL,
    mentions        TEXT NOT NULL,
    price           INTEGER,
    currency        TEXT,
    stock           INTEGER,
    status          TEXT,
    category_id     TEXT,
    attributes      TEXT,
    comments_count  INTEGER NOT NULL DEFAULT 0,
    favorites_count INTEGER NOT NULL DEFAULT 0,
    r_like          INTEGER NOT NULL DEFAULT 0,
    r_love          INTEGER NOT NULL DEFAULT 0,
    r_laugh         INTEGER NOT NULL DEFAULT 0,
    r_wow           INTEGER NOT NULL DEFAULT 0,
    r_sad           INTEGER NOT NULL DEFAULT 0,
    r_angry         INTEGER NOT NULL DEFAULT 0,
    rating_count    INTEGER NOT NULL DEFAULT 0,
    rating_sum      INTEGER NOT NULL DEFAULT 0,
    rating_avg      INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    edited_at       INTEGER,
    deleted_at      INTEGER
) STRICT;
-- Covers the feed's page selection (status included), so only the page's rows are read.
CREATE INDEX posts_by_author ON posts(author_id, created_at, id, status) WHERE deleted_at IS NULL;
CREATE INDEX posts_by_created ON posts(created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX posts_by_price ON posts(price, id) WHERE deleted_at IS NULL AND price IS NOT NULL;
CREATE INDEX posts_by_category ON posts(category_id, created_at) WHERE deleted_at IS NULL;
CREATE INDEX posts_by_rating ON posts(rating_avg, id) WHERE deleted_at IS NULL;

CREATE TABLE post_tags (
    tag        TEXT NOT NULL,
    post_id    TEXT NOT NULL REFERENCES posts(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tag, post_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX post_tags_by_time ON post_tags(created_at);
CREATE INDEX post_tags_by_post ON post_tags(post_id);

CREATE VIRTUAL TABLE posts_fts USING fts5(
    title, body, tags, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TABLE comments (
    id            TEXT PRIMARY KEY,
    post_id       TEXT NOT NULL REFERENCES posts(id),
    author_id     TEXT NOT NULL REFERENCES users(id),
    parent_id     TEXT REFERENCES comments(id),
    body          TEXT NOT NULL,
    replies_count INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    deleted_at    INTEGER
) STRICT;
CREATE INDEX comments_by_thread ON comments(post_id, parent_id, created_at, id);

CREATE TABLE reactions (
    post_id    TEXT NOT NULL REFERENCES posts(id),
    user_id    TEXT NOT NULL REFERENCES users(id),
    kind       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (post_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX reactions_by_user ON reactions(user_id, post_id);

CREATE TABLE favorites (
    user_id    TEXT NOT NULL REFERENCES users(id),
    post_id    TEXT NOT NULL REFERENCES posts(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, post_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX favorites_by_time ON favorites(user_id, created_at, post_id);
