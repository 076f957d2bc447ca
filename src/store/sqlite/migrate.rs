//! Creates and upgrades the SQLite schema, one recorded version at a time.

use rusqlite::Connection;

use crate::store::{StoreError, SCHEMA_VERSION};

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "foundation", include_str!("migrations/0001_foundation.sql")),
    (2, "matching", include_str!("migrations/0002_matching.sql")),
    (3, "search_outbox", include_str!("migrations/0003_search_outbox.sql")),
    (4, "match_state", include_str!("migrations/0004_match_state.sql")),
    (5, "operations", include_str!("migrations/0005_operations.sql")),
];

/// Applies every migration newer than the recorded version, each in its own transaction.
pub fn migrate(conn: &mut Connection) -> Result<i64, StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .map_err(super::db_err("creating schema_migrations"))?;
    let current = version(conn)?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { found: current, supported: SCHEMA_VERSION });
    }
    for &(version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = conn.transaction().map_err(super::db_err("starting a migration"))?;
        tx.execute_batch(sql).map_err(super::db_err("applying a schema migration"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![version, name, super::ts(crate::control::now_micros())],
        )
        .map_err(super::db_err("recording a schema migration"))?;
        tx.commit().map_err(super::db_err("committing a schema migration"))?;
    }
    version(conn)
}

pub fn version(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))
        .map_err(super::db_err("reading the schema version"))
}
