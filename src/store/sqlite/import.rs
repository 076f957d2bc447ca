//! Feed imports into SQLite, inside one write transaction on a dedicated connection.
//!
//! The distributor's stored hashes are loaded first (`KnownProducts`), so only rows that need
//! writing reach SQL. A distributor's first import inserts straight into the table; later ones
//! append the rows to write to a temporary stage, de-duplicate it (later lines win) and merge it
//! with one statement that skips rows whose content did not change.

use std::path::PathBuf;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::control::{self, json};
use super::{connect, db_err, parse_ts, ts};
use crate::control::lease::Fence;
use crate::control::{RunCounts, SyncErrorRecord};
use crate::product::DistributorProduct;
use crate::store::known::KnownProducts;
use crate::store::{FeedImport, FeedImportEnd, StoreError, StoredDistributorProduct};

const CREATE_STAGE: &str = "
CREATE TEMP TABLE feed_stage (
    id BLOB NOT NULL, sku TEXT NOT NULL, gtin TEXT, mpn TEXT, brand TEXT, title TEXT, description TEXT,
    price NUMERIC, cost NUMERIC, quantity INTEGER, category TEXT, source_updated_at TEXT, attributes TEXT NOT NULL,
    content_hash TEXT NOT NULL, active INTEGER NOT NULL
)";

const STAGE_ROW: &str = "
INSERT INTO feed_stage (id, sku, gtin, mpn, brand, title, description, price, cost, quantity, category,
    source_updated_at, attributes, content_hash, active)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

/// Page cache of the import connection (negative: KiB), sized to stay within ~300 MB peak.
const FIRST_IMPORT_CACHE: &str = "PRAGMA cache_size = -65536";
const UPDATE_CACHE: &str = "PRAGMA cache_size = -32768";

/// Keeps only the last staged row of each SKU.
const DEDUPLICATE_STAGE: &str =
    "DELETE FROM feed_stage WHERE rowid NOT IN (SELECT max(rowid) FROM feed_stage GROUP BY id)";

/// The columns written, the update of a conflicting row, and the guard that skips unchanged rows.
/// A row first seen in this run keeps version 1 when a later line of the file rewrites it.
const TARGET_COLUMNS: &str = "id, distributor, sku, gtin, mpn, brand, title, description, price, cost, quantity, \
    category, source_updated_at, attributes, content_hash, active, row_version, first_seen_at, last_seen_at, updated_at";
const ON_CONFLICT: &str = "
ON CONFLICT (id) DO UPDATE SET
    gtin = excluded.gtin, mpn = excluded.mpn, brand = excluded.brand, title = excluded.title,
    description = excluded.description, price = excluded.price, cost = excluded.cost, quantity = excluded.quantity,
    category = excluded.category, source_updated_at = excluded.source_updated_at, attributes = excluded.attributes,
    content_hash = excluded.content_hash, active = excluded.active,
    row_version = CASE WHEN t.first_seen_at = excluded.first_seen_at THEN t.row_version ELSE t.row_version + 1 END,
    last_seen_at = excluded.last_seen_at, updated_at = excluded.updated_at
WHERE t.content_hash IS NOT excluded.content_hash OR t.active IS NOT excluded.active";

pub struct SqliteFeedImport {
    conn: Option<Connection>,
    distributor: String,
    run_ts: DateTime<Utc>,
    known: KnownProducts,
    /// Nothing of this distributor was stored: rows are inserted without staging.
    direct: bool,
    /// Distinct SKUs delivered so far.
    distinct: u64,
    /// The stage holds a SKU twice.
    staged_duplicates: bool,
    /// The import's lease, checked in its commit.
    fence: Option<Fence>,
}

impl SqliteFeedImport {
    /// Opens a dedicated connection, takes the write lock for the whole import and loads what
    /// the store holds for the distributor.
    pub async fn begin(
        path: PathBuf,
        distributor: String,
        run_ts: DateTime<Utc>,
        fence: Option<Fence>,
    ) -> Result<Self, StoreError> {
        let conn = connect(&path).map_err(db_err("opening the import connection"))?;
        let mut import = SqliteFeedImport {
            conn: Some(conn),
            distributor: distributor.clone(),
            run_ts,
            known: KnownProducts::default(),
            direct: false,
            distinct: 0,
            staged_duplicates: false,
            fence,
        };
        let known = import
            .on_conn(move |c| {
                c.execute_batch("BEGIN IMMEDIATE").map_err(db_err("starting the import transaction"))?;
                load_known(c, &distributor)
            })
            .await?;
        import.direct = known.is_empty();
        import.known = known;
        // A first import inserts into indexes that no longer fit a small cache, and holds no
        // stored hashes in memory: give SQLite the room. Later imports write few rows.
        let setup =
            if import.direct { FIRST_IMPORT_CACHE.to_string() } else { format!("{CREATE_STAGE}; {UPDATE_CACHE}") };
        import.on_conn(move |c| c.execute_batch(&setup).map_err(db_err("preparing the import"))).await?;
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

fn load_known(conn: &Connection, distributor: &str) -> Result<KnownProducts, StoreError> {
    let mut stmt = conn
        .prepare("SELECT id, content_hash, active FROM distributor_products WHERE distributor = ?1")
        .map_err(db_err("reading stored products"))?;
    let mut rows = stmt.query(params![distributor]).map_err(db_err("reading stored products"))?;
    let mut known = KnownProducts::default();
    while let Some(r) = rows.next().map_err(db_err("reading stored products"))? {
        let read = || -> rusqlite::Result<_> { Ok((r.get(0)?, r.get_ref(1)?.as_str()?.to_string(), r.get(2)?)) };
        let (id, hash, active) = read().map_err(db_err("reading stored products"))?;
        known.insert(id, &hash, active);
    }
    Ok(known)
}

/// Writes rows with one prepared statement: `sql` takes the 15 product values as ?1..?15, then
/// the distributor as ?16 and the run time as ?17 when it uses them.
fn write_rows(conn: &Connection, sql: &str, products: &[DistributorProduct], extra: &[&str]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_err("preparing the product insert"))?;
    for p in products {
        // Bound in place: no per-row vector of parameters.
        let bound = bind_product(&mut stmt, p)
            .and_then(|()| extra.iter().enumerate().try_for_each(|(i, value)| stmt.raw_bind_parameter(16 + i, value)));
        bound.and_then(|()| stmt.raw_execute()).map_err(db_err("writing a distributor product"))?;
    }
    Ok(())
}

/// Binds the 15 product values to ?1..?15.
fn bind_product(stmt: &mut rusqlite::CachedStatement<'_>, p: &DistributorProduct) -> rusqlite::Result<()> {
    stmt.raw_bind_parameter(1, p.id)?;
    stmt.raw_bind_parameter(2, &p.sku)?;
    stmt.raw_bind_parameter(3, &p.gtin)?;
    stmt.raw_bind_parameter(4, &p.mpn)?;
    stmt.raw_bind_parameter(5, &p.brand)?;
    stmt.raw_bind_parameter(6, &p.title)?;
    stmt.raw_bind_parameter(7, &p.description)?;
    stmt.raw_bind_parameter(8, p.price.map(|d| d.to_string()))?;
    stmt.raw_bind_parameter(9, p.cost.map(|d| d.to_string()))?;
    stmt.raw_bind_parameter(10, p.quantity)?;
    stmt.raw_bind_parameter(11, &p.category)?;
    stmt.raw_bind_parameter(12, p.source_updated_at.map(ts))?;
    stmt.raw_bind_parameter(13, &p.attributes_json)?;
    stmt.raw_bind_parameter(14, &p.content_hash)?;
    stmt.raw_bind_parameter(15, p.active)
}

/// Inserts rows of a distributor that had none: no stage, no comparisons.
fn insert_direct(
    conn: &Connection,
    distributor: &str,
    run_ts: &str,
    products: &[DistributorProduct],
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO distributor_products AS t ({TARGET_COLUMNS})
         VALUES (?1, ?16, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, 1, ?17, ?17, ?17) {ON_CONFLICT}"
    );
    write_rows(conn, &sql, products, &[distributor, run_ts])
}

/// Merges the stage; returns (inserted, updated).
fn merge(conn: &Connection, distributor: &str, run_ts: &str) -> Result<(u64, u64), StoreError> {
    let sql = format!(
        "INSERT INTO distributor_products AS t ({TARGET_COLUMNS})
         SELECT id, ?1, sku, gtin, mpn, brand, title, description, price, cost, quantity, category, source_updated_at,
                attributes, content_hash, active, 1, ?2, ?2, ?2
           FROM feed_stage WHERE true {ON_CONFLICT}
         RETURNING first_seen_at = ?2"
    );
    let mut stmt = conn.prepare(&sql).map_err(db_err("preparing the merge"))?;
    let mut rows = stmt.query(params![distributor, run_ts]).map_err(db_err("merging staged rows"))?;
    let (mut inserted, mut updated) = (0, 0);
    while let Some(row) = rows.next().map_err(db_err("merging staged rows"))? {
        if row.get::<_, bool>(0).map_err(db_err("merging staged rows"))? {
            inserted += 1;
        } else {
            updated += 1;
        }
    }
    Ok((inserted, updated))
}

fn deactivate(conn: &Connection, run_ts: &str, ids: &[Uuid]) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare(
            "UPDATE distributor_products SET active = 0, updated_at = ?2, row_version = row_version + 1 WHERE id = ?1",
        )
        .map_err(db_err("preparing deactivation"))?;
    for id in ids {
        stmt.execute(params![id, run_ts]).map_err(db_err("deactivating a product missing from the feed"))?;
    }
    Ok(())
}

#[async_trait]
impl FeedImport for SqliteFeedImport {
    async fn write(
        &mut self,
        products: Vec<DistributorProduct>,
        problems: Vec<SyncErrorRecord>,
    ) -> Result<(), StoreError> {
        let (to_write, distinct) = self.known.take_batch(&self.distributor, products, &problems);
        self.distinct += distinct;
        self.staged_duplicates |= to_write.iter().any(|p| p.supersedes_earlier_line);
        let (distributor, run_ts, direct) = (self.distributor.clone(), ts(self.run_ts), self.direct);
        self.on_conn(move |c| {
            control::insert_errors(c, &problems)?;
            match direct {
                true => insert_direct(c, &distributor, &run_ts, &to_write),
                false => write_rows(c, STAGE_ROW, &to_write, &[]),
            }
        })
        .await
    }

    async fn commit(mut self: Box<Self>, end: FeedImportEnd) -> Result<RunCounts, StoreError> {
        let missing = self.known.to_deactivate(&self.distributor, end.deactivate_missing, end.allow_mass_deactivate)?;
        let (distributor, run_ts) = (self.distributor.clone(), ts(self.run_ts));
        let (direct, duplicates, distinct) = (self.direct, self.staged_duplicates, self.distinct);
        let fence = self.fence.clone();
        self.on_conn(move |c| {
            super::lease::check_fence(c, fence.as_ref())?;
            let (inserted, updated) = if direct {
                (distinct, 0)
            } else {
                if duplicates {
                    c.execute_batch(DEDUPLICATE_STAGE).map_err(db_err("removing repeated SKUs from the stage"))?;
                }
                merge(c, &distributor, &run_ts)?
            };
            deactivate(c, &run_ts, &missing)?;
            super::outbox::record_written_offers(c, &distributor, &run_ts)?;
            let mut run = end.run;
            let store_side = RunCounts {
                inserted,
                updated,
                unchanged: distinct - inserted - updated,
                deactivated: missing.len() as u64,
                ..RunCounts::default()
            };
            run.counts = store_side.with_reader_counts(&run.counts);
            control::conclude(c, &run, end.advance.as_ref(), run.counts.rejected as i64)?;
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
    let decimal = |s: Option<String>| s.and_then(|s| Decimal::from_str(&s).ok()).map(|d| d.normalize());
    let rows = stmt
        .query_map(params![distributor], |r| {
            Ok(StoredDistributorProduct {
                product: DistributorProduct {
                    id: r.get(0)?,
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
