-- version 2: product matching (PostgreSQL and CockroachDB)
-- One row per distributor product with a link, a proposed link or a person's decision.
CREATE TABLE IF NOT EXISTS product_matches (
    distributor_product_id UUID PRIMARY KEY,
    distributor TEXT NOT NULL,
    product_id UUID NOT NULL,
    score FLOAT8 NOT NULL CHECK (score >= 0 AND score <= 1),
    method TEXT NOT NULL CHECK (method IN ('gtin', 'mpn', 'fuzzy', 'manual')),
    status TEXT NOT NULL CHECK (status IN ('auto', 'review', 'confirmed', 'rejected')),
    evidence JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    decided_at TIMESTAMPTZ,
    note TEXT
);
CREATE INDEX IF NOT EXISTS product_matches_status ON product_matches (status, distributor, score);
CREATE INDEX IF NOT EXISTS product_matches_product ON product_matches (product_id);
-- Pairs a person rejected: never proposed again, even after the decision is reset.
CREATE TABLE IF NOT EXISTS match_rejections (
    distributor_product_id UUID NOT NULL,
    product_id UUID NOT NULL,
    rejected_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (distributor_product_id, product_id)
);
-- The content hash each distributor product was last matched at: a different one means rematch.
CREATE TABLE IF NOT EXISTS match_offer_state (
    distributor_product_id UUID PRIMARY KEY,
    content_hash TEXT NOT NULL,
    matched_at TIMESTAMPTZ NOT NULL
);
-- The catalog as the last matching run saw it: what changed since is what candidates changed by.
CREATE TABLE IF NOT EXISTS match_catalog_state (
    product_id UUID PRIMARY KEY,
    content_hash TEXT NOT NULL
);
