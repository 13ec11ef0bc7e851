-- Reviews: one per author and listing; the listing's rating histogram beside the count and
-- sum it already has, all changed in the review's transaction

CREATE TABLE reviews (
    id         TEXT PRIMARY KEY,
    post_id    TEXT NOT NULL REFERENCES posts(id),
    author_id  TEXT NOT NULL REFERENCES users(id),
    seller_id  TEXT NOT NULL REFERENCES users(id),
    rating     INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    body       TEXT,
    media      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    edited_at  INTEGER,
    UNIQUE (author_id, post_id)
) STRICT;
CREATE INDEX reviews_by_post ON reviews(post_id, created_at, id);
CREATE INDEX reviews_by_created ON reviews(created_at, id);

ALTER TABLE posts ADD COLUMN rating_h1 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE posts ADD COLUMN rating_h2 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE posts ADD COLUMN rating_h3 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE posts ADD COLUMN rating_h4 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE posts ADD COLUMN rating_h5 INTEGER NOT NULL DEFAULT 0;
