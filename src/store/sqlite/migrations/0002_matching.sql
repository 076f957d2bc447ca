-- version 2: product matching
-- One row per distributor product with a link, a proposed link or a person's decision.
CREATE TABLE IF NOT EXISTS product_matches (
    distributor_product_id BLOB PRIMARY KEY,
    distributor TEXT NOT NULL,
    product_id BLOB NOT NULL,
    score REAL NOT NULL CHECK (score >= 0 AND score <= 1),
    method TEXT NOT NULL CHECK (method IN ('gtin', 'mpn', 'fuzzy', 'manual')),
    status TEXT NOT NULL CHECK (status IN ('auto', 'review', 'confirmed', 'rejected')),
    evidence TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    decided_at TEXT,
    note TEXT
);
CREATE INDEX IF NOT EXISTS product_matches_status ON product_matches (status, distributor, score);
CREATE INDEX IF NOT EXISTS product_matches_product ON product_matches (product_id);
-- Pairs a person rejected: never proposed again, even after the decision is reset.
CREATE TABLE IF NOT EXISTS match_rejections (
    distributor_product_id BLOB NOT NULL,
    product_id BLOB NOT NULL,
    rejected_at TEXT NOT NULL,
    PRIMARY KEY (distributor_product_id, product_id)
);
-- The content hash each distributor product was last matched at: a different one means rematch.
CREATE TABLE IF NOT EXISTS match_offer_state (
    distributor_product_id BLOB PRIMARY KEY,
    content_hash TEXT NOT NULL,
    matched_at TEXT NOT NULL
);
-- The catalog as the last matching run saw it: what changed since is what candidates changed by.
CREATE TABLE IF NOT EXISTS match_catalog_state (
    product_id BLOB PRIMARY KEY,
    content_hash TEXT NOT NULL
);
