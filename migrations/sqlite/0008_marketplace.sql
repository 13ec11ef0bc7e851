-- Marketplace: carts, checkouts (idempotency records), orders with their items, payment
-- attempts. An order is stored whole as JSON (`record`, the shape of
-- `store::orders::record`) beside the columns lists filter and sort by.

CREATE TABLE cart_items (
    user_id  TEXT NOT NULL REFERENCES users(id),
    post_id  TEXT NOT NULL REFERENCES posts(id),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    added_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, post_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE checkouts (
    buyer_id    TEXT NOT NULL REFERENCES users(id),
    idem_key    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    order_ids   TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (buyer_id, idem_key)
) STRICT, WITHOUT ROWID;

CREATE TABLE orders (
    id         TEXT PRIMARY KEY,
    buyer_id   TEXT NOT NULL REFERENCES users(id),
    seller_id  TEXT NOT NULL REFERENCES users(id),
    status     TEXT NOT NULL,
    revision   INTEGER NOT NULL,
    currency   TEXT NOT NULL,
    total      INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    record     TEXT NOT NULL
) STRICT;
CREATE INDEX orders_by_buyer ON orders(buyer_id, created_at, id);
CREATE INDEX orders_by_buyer_status ON orders(buyer_id, status, created_at, id);
CREATE INDEX orders_by_seller ON orders(seller_id, created_at, id);
CREATE INDEX orders_by_seller_status ON orders(seller_id, status, created_at, id);
CREATE INDEX orders_by_status ON orders(status, created_at);

-- One row per listing in an order (a cart has one line per listing), for "has this buyer
-- a delivered order containing this listing".
CREATE TABLE order_items (
    order_id TEXT NOT NULL REFERENCES orders(id),
    post_id  TEXT NOT NULL REFERENCES posts(id),
    buyer_id TEXT NOT NULL,
    PRIMARY KEY (order_id, post_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX order_items_by_buyer ON order_items(buyer_id, post_id);

CREATE TABLE payment_attempts (
    id       TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders(id),
    at       INTEGER NOT NULL,
    record   TEXT NOT NULL
) STRICT;
CREATE INDEX payment_attempts_by_order ON payment_attempts(order_id, at);
