//! Feed imports into SQLite: rows are staged in a temporary table keyed by id (a later row of the
//! same SKU replaces the earlier one), then merged in one statement that skips unchanged rows —
//! the same shape as the PostgreSQL path, all inside one write transaction.

use std::path::PathBuf;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use rust_decimal::Decimal;

use super::control::{self, json, uuid};
use super::{connect, db_err, parse_ts, ts};
use crate::control::{RunCounts, SyncErrorRecord};
use crate::product::DistributorProduct;
use crate::store::{check_mass_deactivation, FeedImport, FeedImportEnd, StoreError, StoredDistributorProduct};

const CREATE_STAGE: &str = "
CREATE TEMP TABLE feed_stage (
    id TEXT PRIMARY KEY, sku TEXT NOT NULL, gtin TEXT, mpn TEXT, brand TEXT, title TEXT, description TEXT,
    price NUMERIC, cost NUMERIC, quantity INTEGER, category TEXT, source_updated_at TEXT, attributes TEXT NOT NULL,
    content_hash TEXT NOT NULL, active INTEGER NOT NULL
) WITHOUT ROWID";

const STAGE_ROW: &str = "
INSERT OR REPLACE INTO feed_stage (id, sku, gtin, mpn, brand, title, description, price, cost, quantity, category,
    source_updated_at, attributes, content_hash, active)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

/// Inserts new SKUs and rewrites changed ones; an unchanged row matches no `WHERE` and is neither
/// written nor returned. The returned flag tells an insert (first seen in this run) from an update.
const MERGE: &str = "
INSERT INTO distributor_products AS t (id, distributor, sku, gtin, mpn, brand, title, description, price, cost,
    quantity, category, source_updated_at, attributes, content_hash, active, row_version, first_seen_at,
    last_seen_at, updated_at)
SELECT id, ?1, sku, gtin, mpn, brand, title, description, price, cost, quantity, category, source_updated_at,
       attributes, content_hash, active, 1, ?2, ?2, ?2
  FROM feed_stage WHERE true
ON CONFLICT (id) DO UPDATE SET
    gtin = excluded.gtin, mpn = excluded.mpn, brand = excluded.brand, title = excluded.title,
    description = excluded.description, price = excluded.price, cost = excluded.cost, quantity = excluded.quantity,
    category = excluded.category, source_updated_at = excluded.source_updated_at, attributes = excluded.attributes,
    content_hash = excluded.content_hash, active = excluded.active, row_version = t.row_version + 1,
    last_seen_at = excluded.last_seen_at, updated_at = excluded.updated_at
WHERE t.content_hash IS NOT excluded.content_hash OR t.active IS NOT excluded.active
RETURNING first_seen_at = ?2";

/// Deactivates the distributor's active SKUs that were not staged.
const DEACTIVATE_MISSING: &str = "
UPDATE distributor_products AS t SET active = 0, updated_at = ?2, row_version = t.row_version + 1
 WHERE t.distributor = ?1 AND t.active AND NOT EXISTS (SELECT 1 FROM feed_stage s WHERE s.id = t.id)";

pub struct SqliteFeedImport {
    conn: Option<Connection>,
    distributor: String,
    run_ts: DateTime<Utc>,
    active_before: u64,
}

impl SqliteFeedImport {
    /// Opens a dedicated connection and takes the write lock for the whole import.
    pub async fn begin(path: PathBuf, distributor: String, run_ts: DateTime<Utc>) -> Result<Self, StoreError> {
        let mut import = SqliteFeedImport {
            conn: Some(connect(&path).map_err(db_err("opening the import connection"))?),
            distributor,
            run_ts,
            active_before: 0,
        };
        let distributor = import.distributor.clone();
        import.active_before = import
            .on_conn(move |c| {
                c.execute_batch("BEGIN IMMEDIATE").map_err(db_err("starting the import transaction"))?;
                c.execute_batch(CREATE_STAGE).map_err(db_err("creating the staging table"))?;
                c.query_row(
                    "SELECT count(*) FROM distributor_products WHERE distributor = ?1 AND active",
                    params![distributor],
                    |r| r.get::<_, i64>(0),
                )
                .map(|n| n as u64)
                .map_err(db_err("counting active products"))
            })
            .await?;
        Ok(import)
    }

    /// Runs `f` with the import's connection on the blocking pool.
    async fn on_conn<T, F>(&mut self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.take().expect("the import connection is returned after every call");
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = f(&conn);
            (conn, result)
        })
        .await
        .expect("SQLite tasks do not panic");
        self.conn = Some(conn);
        result
    }
}

fn stage(conn: &Connection, products: &[DistributorProduct]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(STAGE_ROW).map_err(db_err("preparing the staging insert"))?;
    for p in products {
        stmt.execute(params![
            p.id.to_string(),
            p.sku,
            p.gtin,
            p.mpn,
            p.brand,
            p.title,
            p.description,
            p.price.map(|d| d.to_string()),
            p.cost.map(|d| d.to_string()),
            p.quantity,
            p.category,
            p.source_updated_at.map(ts),
            p.attributes_json,
            p.content_hash,
            p.active,
        ])
        .map_err(db_err("staging a distributor product"))?;
    }
    Ok(())
}

/// Merges the staged rows; returns (distinct staged, inserted, updated).
fn merge(conn: &Connection, distributor: &str, run_ts: &str) -> Result<(u64, u64, u64), StoreError> {
    let staged: i64 =
        conn.query_row("SELECT count(*) FROM feed_stage", [], |r| r.get(0)).map_err(db_err("counting staged rows"))?;
    let mut stmt = conn.prepare(MERGE).map_err(db_err("preparing the merge"))?;
    let mut rows = stmt.query(params![distributor, run_ts]).map_err(db_err("merging staged rows"))?;
    let (mut inserted, mut updated) = (0, 0);
    while let Some(row) = rows.next().map_err(db_err("merging staged rows"))? {
        if row.get::<_, bool>(0).map_err(db_err("merging staged rows"))? {
            inserted += 1;
        } else {
            updated += 1;
        }
    }
    Ok((staged as u64, inserted, updated))
}

/// Marks active SKUs missing from the import inactive. A mass deactivation is refused after the
/// fact: the error rolls the whole import back.
fn deactivate_missing(
    conn: &Connection,
    distributor: &str,
    run_ts: &str,
    active_before: u64,
    allow_mass: bool,
) -> Result<u64, StoreError> {
    let n = conn
        .execute(DEACTIVATE_MISSING, params![distributor, run_ts])
        .map_err(db_err("deactivating products missing from the feed"))? as u64;
    check_mass_deactivation(distributor, n, active_before, allow_mass)?;
    Ok(n)
}

#[async_trait]
impl FeedImport for SqliteFeedImport {
    async fn write(
        &mut self,
        products: Vec<DistributorProduct>,
        problems: Vec<SyncErrorRecord>,
    ) -> Result<(), StoreError> {
        self.on_conn(move |c| {
            control::insert_errors(c, &problems)?;
            stage(c, &products)
        })
        .await
    }

    async fn commit(mut self: Box<Self>, end: FeedImportEnd) -> Result<RunCounts, StoreError> {
        let (distributor, run_ts, active_before) = (self.distributor.clone(), ts(self.run_ts), self.active_before);
        self.on_conn(move |c| {
            let (staged, inserted, updated) = merge(c, &distributor, &run_ts)?;
            let deactivated = if end.deactivate_missing {
                deactivate_missing(c, &distributor, &run_ts, active_before, end.allow_mass_deactivate)?
            } else {
                0
            };
            let mut run = end.run;
            let store_side = RunCounts {
                inserted,
                updated,
                unchanged: staged - inserted - updated,
                deactivated,
                ..RunCounts::default()
            };
            run.counts = store_side.with_reader_counts(&run.counts);
            control::finish_run(c, &run)?;
            match &end.advance {
                Some(advance) => control::advance(c, &run, advance)?,
                None => control::record_failure(c, &run.source, run.counts.rejected as i64)?,
            }
            c.execute_batch("COMMIT").map_err(db_err("committing the import"))?;
            Ok(run.counts)
        })
        .await
    }
}

/// Every product of a distributor, for reports and tests.
pub fn distributor_products(conn: &Connection, distributor: &str) -> Result<Vec<StoredDistributorProduct>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT id, sku, gtin, mpn, brand, title, description, CAST(price AS TEXT), CAST(cost AS TEXT), quantity,
                    category, source_updated_at, attributes, content_hash, active, row_version, first_seen_at,
                    last_seen_at, updated_at
               FROM distributor_products WHERE distributor = ?1 ORDER BY sku",
        )
        .map_err(db_err("reading distributor products"))?;
    let decimal = |s: Option<String>| s.and_then(|s| Decimal::from_str(&s).ok());
    let rows = stmt
        .query_map(params![distributor], |r| {
            Ok(StoredDistributorProduct {
                product: DistributorProduct {
                    id: uuid(r, 0)?,
                    sku: r.get(1)?,
                    gtin: r.get(2)?,
                    mpn: r.get(3)?,
                    brand: r.get(4)?,
                    title: r.get(5)?,
                    description: r.get(6)?,
                    price: decimal(r.get(7)?),
                    cost: decimal(r.get(8)?),
                    quantity: r.get(9)?,
                    category: r.get(10)?,
                    source_updated_at: r.get::<_, Option<String>>(11)?.as_deref().map(parse_ts).transpose()?,
                    attributes_json: json(r, 12)?.to_string(),
                    content_hash: r.get(13)?,
                    active: r.get(14)?,
                    line: 0,
                    supersedes_earlier_line: false,
                },
                row_version: r.get(15)?,
                first_seen_at: parse_ts(&r.get::<_, String>(16)?)?,
                last_seen_at: parse_ts(&r.get::<_, String>(17)?)?,
                updated_at: parse_ts(&r.get::<_, String>(18)?)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(db_err("reading distributor products"))?;
    Ok(rows)
}
