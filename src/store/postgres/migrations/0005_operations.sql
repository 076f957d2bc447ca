-- version 5: running unattended (PostgreSQL and CockroachDB)
-- One lease row per job (`airtable:<table>`, `feed:<distributor>`, `match`, `index`). A worker
-- works on a job only while it holds the row's lease; `token` grows by one on every takeover and
-- every write of the job checks it in its own transaction, so a stale holder can write nothing.
-- Expiry is judged by the database's clock. A released lease keeps its row (and its token).
CREATE TABLE IF NOT EXISTS job_leases (
    job TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    token INT8 NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    renewed_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
-- Inbox files `catsync run` imported: a file is known by its name and fingerprint (content hash
-- and size), so an unchanged file is imported once and a changed one under the same name again.
CREATE TABLE IF NOT EXISTS inbox_files (
    distributor TEXT NOT NULL,
    path TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    run_id UUID NOT NULL,
    imported_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (distributor, path, fingerprint)
);
