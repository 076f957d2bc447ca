-- catsync schema, SQLite dialect. Timestamps are RFC 3339 UTC text with microseconds (they sort
-- as text), UUIDs are 16-byte BLOBs (half the index size of text), JSON is text, booleans are 0/1.
-- version 1: foundation
CREATE TABLE IF NOT EXISTS distributor_products (
    id BLOB PRIMARY KEY,
    distributor TEXT NOT NULL,
    sku TEXT NOT NULL,
    gtin TEXT,
    mpn TEXT,
    brand TEXT,
    title TEXT,
    description TEXT,
    price NUMERIC,
    cost NUMERIC,
    quantity INTEGER,
    category TEXT,
    source_updated_at TEXT,
    attributes TEXT NOT NULL DEFAULT '{}',
    content_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    row_version INTEGER NOT NULL DEFAULT 1,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (distributor, sku)
);
CREATE TABLE IF NOT EXISTS sync_control (
    source_table TEXT PRIMARY KEY,
    last_sync_time TEXT,
    watermark TEXT,
    records_processed INTEGER NOT NULL DEFAULT 0,
    success_count INTEGER NOT NULL DEFAULT 0,
    error_count INTEGER NOT NULL DEFAULT 0,
    metrics TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sync_runs (
    id BLOB PRIMARY KEY,
    source_table TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    rows_read INTEGER NOT NULL DEFAULT 0,
    rows_inserted INTEGER NOT NULL DEFAULT 0,
    rows_updated INTEGER NOT NULL DEFAULT 0,
    rows_unchanged INTEGER NOT NULL DEFAULT 0,
    rows_deactivated INTEGER NOT NULL DEFAULT 0,
    rows_rejected INTEGER NOT NULL DEFAULT 0,
    rows_warned INTEGER NOT NULL DEFAULT 0,
    elapsed_seconds REAL NOT NULL DEFAULT 0,
    rows_per_second REAL NOT NULL DEFAULT 0,
    message TEXT
);
CREATE INDEX IF NOT EXISTS sync_runs_source_started ON sync_runs (source_table, started_at);
CREATE TABLE IF NOT EXISTS sync_errors (
    id BLOB PRIMARY KEY,
    run_id BLOB,
    source_table TEXT NOT NULL,
    record_id TEXT,
    error_type TEXT NOT NULL,
    error_message TEXT NOT NULL,
    record_data TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    resolved INTEGER NOT NULL DEFAULT 0,
    resolved_at TEXT,
    resolution_notes TEXT
);
CREATE INDEX IF NOT EXISTS sync_errors_source_resolved ON sync_errors (source_table, resolved, created_at);
CREATE TABLE IF NOT EXISTS id_mappings (
    source_id TEXT NOT NULL,
    target_id TEXT NOT NULL,
    source_system TEXT NOT NULL,
    target_system TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (source_id, source_system, target_system)
);
