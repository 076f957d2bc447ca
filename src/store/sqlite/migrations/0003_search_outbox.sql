-- version 3: the search outbox
-- Every write that changes what a search document holds records the row it changed here, in the
-- same transaction; `catsync index` deletes entries only after the index accepted their documents.
CREATE TABLE IF NOT EXISTS search_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL CHECK (entity IN ('offer', 'product')),
    entity_id BLOB NOT NULL,
    created_at TEXT NOT NULL
);
