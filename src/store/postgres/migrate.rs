//! Creates and upgrades the PostgreSQL/CockroachDB schema.
//!
//! Each statement runs on its own (CockroachDB commits DDL implicitly since v25.1, so a wrapping
//! transaction would not make a migration atomic anyway); every statement is idempotent, and the
//! version is recorded after its last statement, so an interrupted migration simply runs again.

use tokio_postgres::Client;

use super::{db_err, retry};
use crate::store::{StoreError, SCHEMA_VERSION};

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "foundation", include_str!("migrations/0001_foundation.sql")),
    (2, "matching", include_str!("migrations/0002_matching.sql")),
    (3, "search_outbox", include_str!("migrations/0003_search_outbox.sql")),
    (4, "match_state", include_str!("migrations/0004_match_state.sql")),
    (5, "operations", include_str!("migrations/0005_operations.sql")),
];

pub async fn migrate(client: &mut Client) -> Result<i64, StoreError> {
    retry(|| async {
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INT8 PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)",
            )
            .await
            .map_err(db_err("creating schema_migrations"))
    })
    .await?;
    let current = version(client).await?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { found: current, supported: SCHEMA_VERSION });
    }
    for &(version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        for statement in statements(sql) {
            retry(|| async { client.batch_execute(statement).await.map_err(db_err("applying a schema migration")) })
                .await?;
        }
        retry(|| async {
            client
                .execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now()) ON CONFLICT (version) DO NOTHING",
                    &[&version, &name],
                )
                .await
                .map_err(db_err("recording a schema migration"))
        })
        .await?;
    }
    version(client).await
}

pub async fn version(client: &Client) -> Result<i64, StoreError> {
    let row = client
        .query_one("SELECT COALESCE(MAX(version), 0)::INT8 FROM schema_migrations", &[])
        .await
        .map_err(db_err("reading the schema version"))?;
    Ok(row.get(0))
}

/// Splits a migration file into statements at semicolons that end a line; comments are dropped.
fn statements(sql: &str) -> impl Iterator<Item = &str> {
    sql.split(";\n").map(str::trim).filter(|s| s.lines().any(|l| !l.trim().is_empty() && !l.trim().starts_with("--")))
}
