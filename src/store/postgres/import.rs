//! Feed imports into PostgreSQL/CockroachDB, inside one transaction on a dedicated connection.
//!
//! The import first locks its source's `sync_control` row (so imports of one distributor queue
//! up instead of racing) and loads the distributor's stored hashes (`KnownProducts`), so only rows
//! that need writing are sent. PostgreSQL streams them with COPY: straight into the table on a
//! distributor's first import, else into a temporary stage merged by one
//! `INSERT … SELECT … ON CONFLICT … WHERE content_hash IS DISTINCT FROM …`. CockroachDB (no
//! temporary tables by default, COPY only in the simple protocol) stages with multi-row upserts
//! into the permanent `feed_stage` table under the run's id.

use std::collections::HashMap;
use std::fmt::Write as _;

use async_trait::async_trait;
use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Utc};
use futures_util::{pin_mut, TryStreamExt};
use rust_decimal::Decimal;
use tokio_postgres::types::{accepts, to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{Client, GenericClient};
use uuid::Uuid;

use super::connect::ImportPath;
use super::{control, copy_in, db_err, placeholders};
use crate::control::lease::Fence;
use crate::control::{RunCounts, SyncErrorRecord};
use crate::product::DistributorProduct;
use crate::store::known::KnownProducts;
use crate::store::{FeedImport, FeedImportEnd, StoreError, StoredDistributorProduct};

const PRODUCT_COLUMNS: &str = "sku, gtin, mpn, brand, title, description, price, cost, quantity, category, \
                               source_updated_at, attributes, content_hash, active";

const CREATE_TEMP_STAGE: &str = "CREATE TEMPORARY TABLE catsync_feed_stage (
    id UUID NOT NULL, sku TEXT NOT NULL, gtin TEXT, mpn TEXT, brand TEXT, title TEXT, description TEXT,
    price NUMERIC(20,4), cost NUMERIC(20,4), quantity INT8, category TEXT, source_updated_at TIMESTAMPTZ,
    attributes JSONB NOT NULL, content_hash TEXT NOT NULL, active BOOLEAN NOT NULL, line INT8 NOT NULL
) ON COMMIT DROP";

/// A row first seen in this run keeps version 1 when a later line of the file rewrites it.
const ON_CONFLICT: &str = "ON CONFLICT (id) DO UPDATE SET
    gtin = excluded.gtin, mpn = excluded.mpn, brand = excluded.brand, title = excluded.title,
    description = excluded.description, price = excluded.price, cost = excluded.cost,
    quantity = excluded.quantity, category = excluded.category,
    source_updated_at = excluded.source_updated_at, attributes = excluded.attributes,
    content_hash = excluded.content_hash, active = excluded.active,
    row_version = CASE WHEN t.first_seen_at = excluded.first_seen_at THEN t.row_version ELSE t.row_version + 1 END,
    last_seen_at = excluded.last_seen_at, updated_at = excluded.updated_at
WHERE t.content_hash IS DISTINCT FROM excluded.content_hash OR t.active IS DISTINCT FROM excluded.active";

/// Rows per multi-row staging statement on the upsert path (17 parameters each).
const STAGE_ROWS_PER_STATEMENT: usize = 500;
/// Ids per deactivation statement.
const IDS_PER_STATEMENT: usize = 10_000;

pub struct PgFeedImport {
    client: Client,
    path: ImportPath,
    run_id: Uuid,
    distributor: String,
    run_ts: DateTime<Utc>,
    known: KnownProducts,
    /// Nothing of this distributor was stored: COPY goes straight into the table (PostgreSQL).
    direct: bool,
    /// The table was empty: its unique constraints were dropped for the load and are rebuilt at
    /// commit, in the same transaction (a bulk load, as pg_restore does it).
    bulk: bool,
    /// Distinct SKUs delivered so far.
    distinct: u64,
    /// Rows sent to the stage so far.
    staged: u64,
    /// The temporary stage holds a SKU twice (the permanent one never does).
    staged_duplicates: bool,
    /// The import's lease, checked in its commit.
    fence: Option<Fence>,
}

impl PgFeedImport {
    pub async fn begin(
        client: Client,
        path: ImportPath,
        source: &str,
        distributor: String,
        run_id: Uuid,
        run_ts: DateTime<Utc>,
        fence: Option<Fence>,
    ) -> Result<Self, StoreError> {
        client.batch_execute("BEGIN").await.map_err(db_err("starting the import transaction"))?;
        lock_source(&client, source).await?;
        let known = load_known(&client, &distributor).await?;
        let direct = known.is_empty() && path == ImportPath::CopyMerge;
        let bulk = direct && table_is_empty(&client).await?;
        if path == ImportPath::CopyMerge {
            client.batch_execute(CREATE_TEMP_STAGE).await.map_err(db_err("creating the staging table"))?;
        }
        if bulk {
            client.batch_execute(DROP_CONSTRAINTS).await.map_err(db_err("preparing the bulk load"))?;
        }
        Ok(PgFeedImport {
            client,
            path,
            run_id,
            distributor,
            run_ts,
            direct,
            bulk,
            known,
            distinct: 0,
            staged: 0,
            fence,
            staged_duplicates: false,
        })
    }

    async fn copy_into_stage(&self, products: &[DistributorProduct]) -> Result<(), StoreError> {
        let statement = format!("COPY catsync_feed_stage (id, {PRODUCT_COLUMNS}, line) FROM STDIN (FORMAT binary)");
        let types: Vec<Type> = [Type::UUID].into_iter().chain(PRODUCT_TYPES).chain([Type::INT8]).collect();
        let (attributes, lines) = (attributes_of(products), lines_of(products));
        copy_in(&self.client, &statement, &types, products.len(), |i, row| {
            row.push(&products[i].id);
            product_values(&products[i], &attributes[i], row);
            row.push(&lines[i]);
        })
        .await
    }

    async fn copy_into_table(&self, products: &[DistributorProduct]) -> Result<(), StoreError> {
        let statement = format!(
            "COPY distributor_products (id, distributor, {PRODUCT_COLUMNS}, row_version, first_seen_at, last_seen_at, \
             updated_at) FROM STDIN (FORMAT binary)"
        );
        let types: Vec<Type> = [Type::UUID, Type::TEXT]
            .into_iter()
            .chain(PRODUCT_TYPES)
            .chain([Type::INT8, Type::TIMESTAMPTZ, Type::TIMESTAMPTZ, Type::TIMESTAMPTZ])
            .collect();
        let attributes = attributes_of(products);
        copy_in(&self.client, &statement, &types, products.len(), |i, row| {
            row.extend_from_slice(&[&products[i].id, &self.distributor]);
            product_values(&products[i], &attributes[i], row);
            row.extend_from_slice(&[&FIRST_VERSION, &self.run_ts, &self.run_ts, &self.run_ts]);
        })
        .await
    }

    /// Stages rows under this run's id; a later row of the same SKU replaces the earlier one.
    async fn upsert_into_stage(&self, products: &[DistributorProduct]) -> Result<(), StoreError> {
        for chunk in products.chunks(STAGE_ROWS_PER_STATEMENT) {
            // One statement may not touch a row twice: keep the last occurrence of an id.
            let last: HashMap<Uuid, usize> = chunk.iter().enumerate().map(|(i, p)| (p.id, i)).collect();
            let rows: Vec<DistributorProduct> =
                chunk.iter().enumerate().filter(|(i, p)| last[&p.id] == *i).map(|(_, p)| p.clone()).collect();
            let (attributes, lines) = (attributes_of(&rows), lines_of(&rows));
            let mut sql = format!("INSERT INTO feed_stage (run_id, id, {PRODUCT_COLUMNS}, line) VALUES ");
            let mut params: Vec<&(dyn ToSql + Sync)> = vec![&self.run_id];
            for (i, p) in rows.iter().enumerate() {
                let _ = write!(sql, "{}($1, {})", if i > 0 { "," } else { "" }, placeholders(params.len() + 1, 16));
                params.push(&p.id);
                product_values(p, &attributes[i], &mut params);
                params.push(&lines[i]);
            }
            sql.push_str(
                " ON CONFLICT (run_id, id) DO UPDATE SET sku = excluded.sku, gtin = excluded.gtin, mpn = excluded.mpn,
                  brand = excluded.brand, title = excluded.title, description = excluded.description,
                  price = excluded.price, cost = excluded.cost, quantity = excluded.quantity,
                  category = excluded.category, source_updated_at = excluded.source_updated_at,
                  attributes = excluded.attributes, content_hash = excluded.content_hash, active = excluded.active,
                  line = excluded.line",
            );
            self.client.execute(sql.as_str(), &params).await.map_err(db_err("staging distributor products"))?;
        }
        Ok(())
    }

    /// Merges the stage into `distributor_products`; returns (inserted, updated).
    async fn merge(&self) -> Result<(u64, u64), StoreError> {
        let (stage, params): (&str, Vec<&(dyn ToSql + Sync)>) = match (self.path, self.staged_duplicates) {
            (ImportPath::CopyMerge, false) => ("catsync_feed_stage", vec![&self.distributor, &self.run_ts]),
            (ImportPath::CopyMerge, true) => (
                "(SELECT DISTINCT ON (id) * FROM catsync_feed_stage ORDER BY id, line DESC) s",
                vec![&self.distributor, &self.run_ts],
            ),
            (ImportPath::BatchUpsert, _) => {
                ("(SELECT * FROM feed_stage WHERE run_id = $3) s", vec![&self.distributor, &self.run_ts, &self.run_id])
            }
        };
        let sql = format!(
            "WITH merged AS (
                 INSERT INTO distributor_products AS t (id, distributor, {PRODUCT_COLUMNS}, row_version,
                     first_seen_at, last_seen_at, updated_at)
                 SELECT id, $1, {PRODUCT_COLUMNS}, 1, $2, $2, $2 FROM {stage}
                 {ON_CONFLICT}
                 RETURNING t.first_seen_at = $2 AS inserted)
             SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged"
        );
        let row = self.client.query_one(sql.as_str(), &params).await.map_err(db_err("merging staged rows"))?;
        Ok((row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64))
    }

    async fn deactivate(&self, ids: &[Uuid]) -> Result<(), StoreError> {
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            self.client
                .execute(
                    "UPDATE distributor_products SET active = false, updated_at = $2, row_version = row_version + 1
                      WHERE id = ANY($1)",
                    &[&chunk, &self.run_ts],
                )
                .await
                .map_err(db_err("deactivating products missing from the feed"))?;
        }
        Ok(())
    }
}

/// Loading an empty table, the unique indexes are built once from the loaded rows instead of row
/// by row (a repeated SKU waits in the stage, so the rebuild cannot fail on it). The ALTER holds the
/// table exclusively until commit: only ever done while the table is empty.
const DROP_CONSTRAINTS: &str = "ALTER TABLE distributor_products DROP CONSTRAINT distributor_products_pkey,
    DROP CONSTRAINT distributor_products_distributor_sku_key";
const ADD_CONSTRAINTS: &str =
    "ALTER TABLE distributor_products ADD CONSTRAINT distributor_products_pkey PRIMARY KEY (id),
    ADD CONSTRAINT distributor_products_distributor_sku_key UNIQUE (distributor, sku)";

async fn table_is_empty(client: &Client) -> Result<bool, StoreError> {
    let row = client
        .query_one("SELECT NOT EXISTS (SELECT 1 FROM distributor_products)", &[])
        .await
        .map_err(db_err("checking for an empty table"))?;
    Ok(row.get(0))
}

/// Takes the source's `sync_control` row for the rest of the transaction: a second import of the
/// same distributor waits here instead of racing this one.
async fn lock_source(client: &Client, source: &str) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO sync_control (source_table, created_at, updated_at) VALUES ($1, now(), now())
             ON CONFLICT (source_table) DO NOTHING",
            &[&source],
        )
        .await
        .map_err(db_err("registering the source"))?;
    client
        .query_one("SELECT source_table FROM sync_control WHERE source_table = $1 FOR UPDATE", &[&source])
        .await
        .map_err(db_err("locking the source"))?;
    Ok(())
}

async fn load_known(client: &Client, distributor: &str) -> Result<KnownProducts, StoreError> {
    let rows = client
        .query_raw("SELECT id, content_hash, active FROM distributor_products WHERE distributor = $1", [distributor])
        .await
        .map_err(db_err("reading stored products"))?;
    pin_mut!(rows);
    let mut known = KnownProducts::default();
    while let Some(r) = rows.try_next().await.map_err(db_err("reading stored products"))? {
        known.insert(r.get(0), r.get(1), r.get(2));
    }
    Ok(known)
}

#[async_trait]
impl FeedImport for PgFeedImport {
    async fn write(
        &mut self,
        products: Vec<DistributorProduct>,
        problems: Vec<SyncErrorRecord>,
    ) -> Result<(), StoreError> {
        control::insert_errors(&self.client, &problems).await?;
        let (to_write, distinct) = self.known.take_batch(&self.distributor, products, &problems);
        self.distinct += distinct;
        match (self.path, self.direct) {
            (ImportPath::CopyMerge, true) => {
                // Only a repeated SKU can conflict with a row of this import: those go through the stage.
                let (repeats, firsts): (Vec<_>, Vec<_>) = to_write.into_iter().partition(|p| p.supersedes_earlier_line);
                self.copy_into_table(&firsts).await?;
                self.staged += repeats.len() as u64;
                self.staged_duplicates |= !repeats.is_empty();
                self.copy_into_stage(&repeats).await
            }
            (ImportPath::CopyMerge, false) => {
                self.staged += to_write.len() as u64;
                self.staged_duplicates |= to_write.iter().any(|p| p.supersedes_earlier_line);
                self.copy_into_stage(&to_write).await
            }
            (ImportPath::BatchUpsert, _) => {
                self.staged += to_write.len() as u64;
                self.upsert_into_stage(&to_write).await
            }
        }
    }

    async fn commit(self: Box<Self>, end: FeedImportEnd) -> Result<RunCounts, StoreError> {
        let missing = self.known.to_deactivate(&self.distributor, end.deactivate_missing, end.allow_mass_deactivate)?;
        super::lease::check_fence(&self.client, self.fence.as_ref()).await?;
        let started = std::time::Instant::now();
        if self.bulk {
            self.client.batch_execute(ADD_CONSTRAINTS).await.map_err(db_err("rebuilding the unique indexes"))?;
            tracing::debug!(elapsed = ?started.elapsed(), "rebuilt the unique indexes");
        }
        let merged = if self.staged > 0 { self.merge().await? } else { (0, 0) };
        // On a first import every delivered SKU is new, whatever the merge of repeats reports.
        let (inserted, updated) = if self.direct { (self.distinct, 0) } else { merged };
        self.deactivate(&missing).await?;
        super::outbox::record_written_offers(&self.client, &self.distributor, self.run_ts).await?;
        if self.path == ImportPath::BatchUpsert {
            self.client
                .execute("DELETE FROM feed_stage WHERE run_id = $1", &[&self.run_id])
                .await
                .map_err(db_err("clearing the staging rows"))?;
        }
        let mut run = end.run;
        let store_side = RunCounts {
            inserted,
            updated,
            unchanged: self.distinct.saturating_sub(inserted + updated),
            deactivated: missing.len() as u64,
            ..RunCounts::default()
        };
        run.counts = store_side.with_reader_counts(&run.counts);
        control::conclude(&self.client, &run, end.advance.as_ref(), run.counts.rejected as i64).await?;
        self.client.batch_execute("COMMIT").await.map_err(db_err("committing the import"))?;
        tracing::debug!(elapsed = ?started.elapsed(), "committed");
        Ok(run.counts)
    }
}

/// Types of `PRODUCT_COLUMNS`, for binary COPY.
const PRODUCT_TYPES: [Type; 14] = [
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::INT8,
    Type::TEXT,
    Type::TIMESTAMPTZ,
    Type::JSONB,
    Type::TEXT,
    Type::BOOL,
];

const FIRST_VERSION: i64 = 1;

/// A JSON object already serialized, sent as JSONB without a parse and re-serialization.
#[derive(Debug)]
struct Jsonb<'a>(&'a str);

impl ToSql for Jsonb<'_> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.put_u8(1); // the JSONB binary format version
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    accepts!(JSONB);
    to_sql_checked!();
}

fn attributes_of(products: &[DistributorProduct]) -> Vec<Jsonb<'_>> {
    products.iter().map(|p| Jsonb(&p.attributes_json)).collect()
}

fn lines_of(products: &[DistributorProduct]) -> Vec<i64> {
    products.iter().map(|p| p.line as i64).collect()
}

/// Appends the values of `PRODUCT_COLUMNS`.
fn product_values<'a>(p: &'a DistributorProduct, attributes: &'a Jsonb<'a>, row: &mut Vec<&'a (dyn ToSql + Sync)>) {
    row.extend_from_slice(&[
        &p.sku,
        &p.gtin,
        &p.mpn,
        &p.brand,
        &p.title,
        &p.description,
        &p.price,
        &p.cost,
        &p.quantity,
        &p.category,
        &p.source_updated_at,
        attributes,
        &p.content_hash,
        &p.active,
    ]);
}

/// Every product of a distributor, for reports and tests.
pub async fn distributor_products(
    c: &impl GenericClient,
    distributor: &str,
) -> Result<Vec<StoredDistributorProduct>, StoreError> {
    let rows = c
        .query(
            "SELECT id, sku, gtin, mpn, brand, title, description, price, cost, quantity, category,
                    source_updated_at, attributes, content_hash, active, row_version, first_seen_at, last_seen_at, updated_at
               FROM distributor_products WHERE distributor = $1 ORDER BY sku",
            &[&distributor],
        )
        .await
        .map_err(db_err("reading distributor products"))?;
    Ok(rows
        .iter()
        .map(|r| StoredDistributorProduct {
            product: DistributorProduct {
                id: r.get(0),
                sku: r.get(1),
                gtin: r.get(2),
                mpn: r.get(3),
                brand: r.get(4),
                title: r.get(5),
                description: r.get(6),
                price: r.get::<_, Option<Decimal>>(7).map(|d| d.normalize()),
                cost: r.get::<_, Option<Decimal>>(8).map(|d| d.normalize()),
                quantity: r.get(9),
                category: r.get(10),
                source_updated_at: r.get(11),
                attributes_json: r.get::<_, serde_json::Value>(12).to_string(),
                content_hash: r.get(13),
                active: r.get(14),
                line: 0,
                supersedes_earlier_line: false,
            },
            row_version: r.get(15),
            first_seen_at: r.get(16),
            last_seen_at: r.get(17),
            updated_at: r.get(18),
        })
        .collect())
}
