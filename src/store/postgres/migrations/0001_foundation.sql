-- catsync schema, PostgreSQL/CockroachDB dialect: one idempotent statement per step, explicit
-- integer widths (INT8), TIMESTAMPTZ, JSONB, UUID keys (no sequences, no hotspots).
-- version 1: foundation
CREATE TABLE IF NOT EXISTS distributor_products (
    id UUID NOT NULL,
    distributor TEXT NOT NULL,
    sku TEXT NOT NULL,
    gtin TEXT,
    mpn TEXT,
    brand TEXT,
    title TEXT,
    description TEXT,
    price NUMERIC(20,4),
    cost NUMERIC(20,4),
    quantity INT8,
    category TEXT,
    source_updated_at TIMESTAMPTZ,
    attributes JSONB NOT NULL DEFAULT '{}',
    content_hash TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT true,
    row_version INT8 NOT NULL DEFAULT 1,
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    -- Named, because a bulk load into the empty table drops and rebuilds them.
    CONSTRAINT distributor_products_pkey PRIMARY KEY (id),
    CONSTRAINT distributor_products_distributor_sku_key UNIQUE (distributor, sku)
);
CREATE TABLE IF NOT EXISTS sync_control (
    source_table TEXT PRIMARY KEY,
    last_sync_time TIMESTAMPTZ,
    watermark TEXT,
    records_processed INT8 NOT NULL DEFAULT 0,
    success_count INT8 NOT NULL DEFAULT 0,
    error_count INT8 NOT NULL DEFAULT 0,
    metrics JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS sync_runs (
    id UUID PRIMARY KEY,
    source_table TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status TEXT NOT NULL,
    rows_read INT8 NOT NULL DEFAULT 0,
    rows_inserted INT8 NOT NULL DEFAULT 0,
    rows_updated INT8 NOT NULL DEFAULT 0,
    rows_unchanged INT8 NOT NULL DEFAULT 0,
    rows_deactivated INT8 NOT NULL DEFAULT 0,
    rows_rejected INT8 NOT NULL DEFAULT 0,
    rows_warned INT8 NOT NULL DEFAULT 0,
    elapsed_seconds FLOAT8 NOT NULL DEFAULT 0,
    rows_per_second FLOAT8 NOT NULL DEFAULT 0,
    message TEXT
);
CREATE INDEX IF NOT EXISTS sync_runs_source_started ON sync_runs (source_table, started_at);
CREATE TABLE IF NOT EXISTS sync_errors (
    id UUID PRIMARY KEY,
    run_id UUID,
    source_table TEXT NOT NULL,
    record_id TEXT,
    error_type TEXT NOT NULL,
    error_message TEXT NOT NULL,
    record_data JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL,
    resolved BOOLEAN NOT NULL DEFAULT false,
    resolved_at TIMESTAMPTZ,
    resolution_notes TEXT
);
CREATE INDEX IF NOT EXISTS sync_errors_source_resolved ON sync_errors (source_table, resolved, created_at);
CREATE TABLE IF NOT EXISTS id_mappings (
    source_id TEXT NOT NULL,
    target_id TEXT NOT NULL,
    source_system TEXT NOT NULL,
    target_system TEXT NOT NULL,
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source_id, source_system, target_system)
);
-- Staging rows of imports on CockroachDB, where temporary tables are off by default. Rows live
-- only inside their import's transaction.
CREATE TABLE IF NOT EXISTS feed_stage (
    run_id UUID NOT NULL,
    id UUID NOT NULL,
    sku TEXT NOT NULL,
    gtin TEXT,
    mpn TEXT,
    brand TEXT,
    title TEXT,
    description TEXT,
    price NUMERIC(20,4),
    cost NUMERIC(20,4),
    quantity INT8,
    category TEXT,
    source_updated_at TIMESTAMPTZ,
    attributes JSONB NOT NULL,
    content_hash TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    line INT8 NOT NULL,
    PRIMARY KEY (run_id, id)
);
