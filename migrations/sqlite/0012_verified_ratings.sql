-- Verified-purchase ratings: each review's flag (its author has a DELIVERED order of the
-- listing), the listing's verified count and sum beside the overall ones, and the
-- verified average as the `RATING` order's key instead of the overall one. Existing
-- reviews and listings are backfilled from the orders here.

ALTER TABLE reviews ADD COLUMN verified INTEGER NOT NULL DEFAULT 0;
UPDATE reviews SET verified = 1 WHERE EXISTS (
    SELECT 1 FROM order_items i JOIN orders o ON o.id = i.order_id AND o.status = 'DELIVERED'
    WHERE i.buyer_id = reviews.author_id AND i.post_id = reviews.post_id);

DROP INDEX posts_by_rating;
ALTER TABLE posts DROP COLUMN rating_avg;
ALTER TABLE posts ADD COLUMN rating_verified_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE posts ADD COLUMN rating_verified_sum INTEGER NOT NULL DEFAULT 0;
ALTER TABLE posts ADD COLUMN rating_verified_avg INTEGER NOT NULL DEFAULT 0;
UPDATE posts SET
    rating_verified_count = (SELECT COUNT(*) FROM reviews r
                             WHERE r.post_id = posts.id AND r.verified = 1),
    rating_verified_sum = (SELECT COALESCE(SUM(r.rating), 0) FROM reviews r
                           WHERE r.post_id = posts.id AND r.verified = 1)
WHERE id IN (SELECT post_id FROM reviews WHERE verified = 1);
UPDATE posts SET rating_verified_avg = rating_verified_sum * 1000 / rating_verified_count
WHERE rating_verified_count > 0;
CREATE INDEX posts_by_verified_rating ON posts(rating_verified_avg, id) WHERE deleted_at IS NULL;
