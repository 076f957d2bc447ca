-- version 4: the hash a distributor product was last matched at lives on its row, so that "new or
-- changed since matched" is read from a partial index of the few rows that differ instead of a
-- join over every row. Every product is matched again once after this upgrade; decisions stay.
ALTER TABLE distributor_products ADD COLUMN matched_hash TEXT;
DROP TABLE IF EXISTS match_offer_state;
CREATE INDEX IF NOT EXISTS distributor_products_unmatched ON distributor_products (id)
    WHERE active = 1 AND matched_hash IS NOT content_hash;
-- Inactive products, with what pruning needs: those matched since they went inactive have a
-- matched hash.
CREATE INDEX IF NOT EXISTS distributor_products_inactive ON distributor_products (id, matched_hash)
    WHERE active = 0;
-- Inactive products whose automatic or review rows a run has not pruned yet are marked, so that
-- the next run prunes them.
UPDATE distributor_products SET matched_hash = ''
 WHERE active = 0 AND id IN (SELECT distributor_product_id FROM product_matches WHERE status IN ('auto', 'review'));
