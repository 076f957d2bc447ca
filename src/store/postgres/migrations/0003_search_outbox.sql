-- version 3: the search outbox (PostgreSQL and CockroachDB)
-- Every write that changes what a search document holds records the row it changed here, in the
-- same transaction; `catsync index` deletes entries only after the index accepted their documents.
-- Ids only identify entries (on CockroachDB they come from unique_rowid()); nothing relies on
-- their order matching commit order.
CREATE TABLE IF NOT EXISTS search_outbox (
    id BIGSERIAL PRIMARY KEY,
    entity TEXT NOT NULL CHECK (entity IN ('offer', 'product')),
    entity_id UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
