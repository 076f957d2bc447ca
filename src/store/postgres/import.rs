//! Feed imports into PostgreSQL/CockroachDB, inside one transaction on a dedicated connection.
//!
//! Rows are staged, then merged with one `INSERT … SELECT … ON CONFLICT … WHERE content_hash IS
//! DISTINCT FROM …`, so unchanged rows are never rewritten, and the distributor's active rows
//! missing from the stage are deactivated. PostgreSQL stages with COPY into a temporary table;
//! CockroachDB (no temporary tables by default, COPY only in the simple protocol) stages with
//! multi-row upserts into the permanent `feed_stage` table under the run's id.

use std::collections::HashMap;
use std::fmt::Write as _;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::{pin_mut, SinkExt};
use rust_decimal::Decimal;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, GenericClient};
use uuid::Uuid;

use super::connect::ImportPath;
use super::{control, db_err};
use crate::control::{RunCounts, SyncErrorRecord};
use crate::product::DistributorProduct;
use crate::store::{check_mass_deactivation, FeedImport, FeedImportEnd, StoreError, StoredDistributorProduct};

const STAGE_COLUMNS: &str = "id, sku, gtin, mpn, brand, title, description, price, cost, quantity, category, \
                             source_updated_at, attributes, content_hash, active, line";

const CREATE_TEMP_STAGE: &str = "CREATE TEMPORARY TABLE catsync_feed_stage (
    id UUID NOT NULL, sku TEXT NOT NULL, gtin TEXT, mpn TEXT, brand TEXT, title TEXT, description TEXT,
    price NUMERIC(20,4), cost NUMERIC(20,4), quantity INT8, category TEXT, source_updated_at TIMESTAMPTZ,
    attributes JSONB NOT NULL, content_hash TEXT NOT NULL, active BOOLEAN NOT NULL, line INT8 NOT NULL
) ON COMMIT DROP";

/// Rows per multi-row staging statement on the upsert path (17 parameters each).
const STAGE_ROWS_PER_STATEMENT: usize = 500;

pub struct PgFeedImport {
    client: Client,
    path: ImportPath,
    run_id: Uuid,
    distributor: String,
    run_ts: DateTime<Utc>,
    active_before: u64,
    /// Distinct SKUs staged so far.
    distinct: u64,
    /// The temporary stage holds a SKU twice (the permanent one never does).
    staged_duplicates: bool,
}

impl PgFeedImport {
    pub async fn begin(
        client: Client,
        path: ImportPath,
        distributor: String,
        run_id: Uuid,
        run_ts: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        client.batch_execute("BEGIN").await.map_err(db_err("starting the import transaction"))?;
        if path == ImportPath::CopyMerge {
            client.batch_execute(CREATE_TEMP_STAGE).await.map_err(db_err("creating the staging table"))?;
        }
        let active: i64 = client
            .query_one("SELECT count(*) FROM distributor_products WHERE distributor = $1 AND active", &[&distributor])
            .await
            .map_err(db_err("counting active products"))?
            .get(0);
        Ok(PgFeedImport {
            client,
            path,
            run_id,
            distributor,
            run_ts,
            active_before: active as u64,
            distinct: 0,
            staged_duplicates: false,
        })
    }

    async fn copy_into_stage(&self, products: &[DistributorProduct]) -> Result<(), StoreError> {
        let mut buf = String::with_capacity(products.len() * 256);
        for p in products {
            encode_copy_row(&mut buf, p);
        }
        let sink = self
            .client
            .copy_in(&format!("COPY catsync_feed_stage ({STAGE_COLUMNS}) FROM STDIN"))
            .await
            .map_err(db_err("starting COPY into the staging table"))?;
        pin_mut!(sink);
        sink.send(Bytes::from(buf)).await.map_err(db_err("copying rows into the staging table"))?;
        sink.finish().await.map_err(db_err("finishing COPY into the staging table"))?;
        Ok(())
    }

    /// Stages rows under this run's id; a later row of the same SKU replaces the earlier one.
    async fn upsert_into_stage(&self, products: &[DistributorProduct]) -> Result<(), StoreError> {
        for chunk in products.chunks(STAGE_ROWS_PER_STATEMENT) {
            // One statement may not touch a row twice: keep the last occurrence of an id.
            let last: HashMap<Uuid, usize> = chunk.iter().enumerate().map(|(i, p)| (p.id, i)).collect();
            let rows: Vec<&DistributorProduct> =
                chunk.iter().enumerate().filter(|(i, p)| last[&p.id] == *i).map(|(_, p)| p).collect();
            let texts: Vec<[Option<String>; 3]> =
                rows.iter().map(|p| [decimal(p.price), decimal(p.cost), p.source_updated_at.map(copy_ts)]).collect();
            let lines: Vec<i64> = rows.iter().map(|p| p.line as i64).collect();
            let mut sql = format!("INSERT INTO feed_stage (run_id, {STAGE_COLUMNS}) VALUES ");
            let mut params: Vec<&(dyn ToSql + Sync)> = vec![&self.run_id];
            for (i, p) in rows.iter().enumerate() {
                let b = params.len();
                let _ = write!(
                    sql,
                    "{}($1, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}::TEXT::NUMERIC, ${}::TEXT::NUMERIC, ${}, ${}, ${}::TEXT::TIMESTAMPTZ, ${}::TEXT::JSONB, ${}, ${}, ${})",
                    if i > 0 { "," } else { "" },
                    b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8, b + 9, b + 10, b + 11, b + 12, b + 13, b + 14, b + 15, b + 16
                );
                let t = &texts[i];
                params.extend_from_slice(&[
                    &p.id,
                    &p.sku,
                    &p.gtin,
                    &p.mpn,
                    &p.brand,
                    &p.title,
                    &p.description,
                    &t[0],
                    &t[1],
                    &p.quantity,
                    &p.category,
                    &t[2],
                    &p.attributes_json,
                    &p.content_hash,
                    &p.active,
                    &lines[i],
                ]);
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

    /// The staged rows, one per SKU, as a `FROM` item aliased `s`.
    fn stage(&self) -> &'static str {
        match (self.path, self.staged_duplicates) {
            (ImportPath::CopyMerge, false) => "catsync_feed_stage s",
            (ImportPath::CopyMerge, true) => {
                "(SELECT DISTINCT ON (id) * FROM catsync_feed_stage ORDER BY id, line DESC) s"
            }
            (ImportPath::BatchUpsert, _) => "(SELECT * FROM feed_stage WHERE run_id = $3) s",
        }
    }

    /// Query parameters: distributor, run time and, for the permanent stage, the run id.
    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let mut p: Vec<&(dyn ToSql + Sync)> = vec![&self.distributor, &self.run_ts];
        if self.path == ImportPath::BatchUpsert {
            p.push(&self.run_id);
        }
        p
    }

    /// Merges the stage into `distributor_products`; returns (inserted, updated).
    async fn merge(&self) -> Result<(u64, u64), StoreError> {
        if self.path == ImportPath::CopyMerge {
            self.client
                .batch_execute("ANALYZE catsync_feed_stage")
                .await
                .map_err(db_err("analyzing the staging table"))?;
        }
        let sql = format!(
            "WITH merged AS (
                 INSERT INTO distributor_products AS t (id, distributor, sku, gtin, mpn, brand, title, description,
                     price, cost, quantity, category, source_updated_at, attributes, content_hash, active,
                     row_version, first_seen_at, last_seen_at, updated_at)
                 SELECT s.id, $1, s.sku, s.gtin, s.mpn, s.brand, s.title, s.description, s.price, s.cost, s.quantity,
                        s.category, s.source_updated_at, s.attributes, s.content_hash, s.active, 1, $2, $2, $2
                   FROM {stage}
                 ON CONFLICT (id) DO UPDATE SET
                     gtin = excluded.gtin, mpn = excluded.mpn, brand = excluded.brand, title = excluded.title,
                     description = excluded.description, price = excluded.price, cost = excluded.cost,
                     quantity = excluded.quantity, category = excluded.category,
                     source_updated_at = excluded.source_updated_at, attributes = excluded.attributes,
                     content_hash = excluded.content_hash, active = excluded.active,
                     row_version = t.row_version + 1, last_seen_at = excluded.last_seen_at,
                     updated_at = excluded.updated_at
                 WHERE t.content_hash IS DISTINCT FROM excluded.content_hash OR t.active IS DISTINCT FROM excluded.active
                 RETURNING t.first_seen_at = $2 AS inserted)
             SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged",
            stage = self.stage()
        );
        let row = self
            .client
            .query_one(sql.as_str(), &self.params())
            .await
            .map_err(db_err("merging staged rows into distributor_products"))?;
        Ok((row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64))
    }

    /// Marks the distributor's active SKUs that were not staged inactive; returns how many. A mass
    /// deactivation is refused after the fact: the error rolls the whole import back.
    async fn deactivate_missing(&self, allow_mass: bool) -> Result<u64, StoreError> {
        let update = format!(
            "UPDATE distributor_products AS t SET active = false, updated_at = $2, row_version = t.row_version + 1
              WHERE t.distributor = $1 AND t.active AND NOT EXISTS (SELECT 1 FROM {stage} WHERE s.id = t.id)",
            stage = self.stage()
        );
        let n = self
            .client
            .execute(update.as_str(), &self.params())
            .await
            .map_err(db_err("deactivating products missing from the feed"))?;
        check_mass_deactivation(&self.distributor, n, self.active_before, allow_mass)?;
        Ok(n)
    }
}

#[async_trait]
impl FeedImport for PgFeedImport {
    async fn write(
        &mut self,
        products: Vec<DistributorProduct>,
        problems: Vec<SyncErrorRecord>,
    ) -> Result<(), StoreError> {
        control::insert_errors(&self.client, &problems).await?;
        let distinct = products.iter().filter(|p| !p.supersedes_earlier_line).count() as u64;
        self.distinct += distinct;
        match self.path {
            ImportPath::CopyMerge => {
                self.staged_duplicates |= distinct < products.len() as u64;
                self.copy_into_stage(&products).await
            }
            ImportPath::BatchUpsert => self.upsert_into_stage(&products).await,
        }
    }

    async fn commit(self: Box<Self>, end: FeedImportEnd) -> Result<RunCounts, StoreError> {
        let (inserted, updated) = self.merge().await?;
        let deactivated =
            if end.deactivate_missing { self.deactivate_missing(end.allow_mass_deactivate).await? } else { 0 };
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
            deactivated,
            ..RunCounts::default()
        };
        run.counts = store_side.with_reader_counts(&run.counts);
        control::finish_run(&self.client, &run).await?;
        match &end.advance {
            Some(advance) => control::advance(&self.client, &run, advance).await?,
            None => control::record_failure(&self.client, &run.source, run.counts.rejected as i64).await?,
        }
        self.client.batch_execute("COMMIT").await.map_err(db_err("committing the import"))?;
        Ok(run.counts)
    }
}

fn decimal(d: Option<Decimal>) -> Option<String> {
    d.map(|d| d.to_string())
}

fn copy_ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Appends one row in COPY text format: tab-separated, `\N` for NULL, backslash escapes.
fn encode_copy_row(buf: &mut String, p: &DistributorProduct) {
    let _ = write!(buf, "{}", p.id);
    field(buf, Some(&p.sku));
    field(buf, p.gtin.as_deref());
    field(buf, p.mpn.as_deref());
    field(buf, p.brand.as_deref());
    field(buf, p.title.as_deref());
    field(buf, p.description.as_deref());
    field(buf, decimal(p.price).as_deref());
    field(buf, decimal(p.cost).as_deref());
    field(buf, p.quantity.map(|q| q.to_string()).as_deref());
    field(buf, p.category.as_deref());
    field(buf, p.source_updated_at.map(copy_ts).as_deref());
    field(buf, Some(&p.attributes_json));
    field(buf, Some(&p.content_hash));
    field(buf, Some(if p.active { "t" } else { "f" }));
    let _ = writeln!(buf, "\t{}", p.line);
}

fn field(buf: &mut String, value: Option<&str>) {
    buf.push('\t');
    let Some(v) = value else {
        buf.push_str("\\N");
        return;
    };
    if !v.contains(['\\', '\t', '\n', '\r']) {
        buf.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => buf.push_str("\\\\"),
            '\t' => buf.push_str("\\t"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            c => buf.push(c),
        }
    }
}

/// Every product of a distributor, for reports and tests.
pub async fn distributor_products(
    c: &impl GenericClient,
    distributor: &str,
) -> Result<Vec<StoredDistributorProduct>, StoreError> {
    let rows = c
        .query(
            "SELECT id, sku, gtin, mpn, brand, title, description, price::TEXT, cost::TEXT, quantity, category,
                    source_updated_at, attributes, content_hash, active, row_version, first_seen_at, last_seen_at, updated_at
               FROM distributor_products WHERE distributor = $1 ORDER BY sku",
            &[&distributor],
        )
        .await
        .map_err(db_err("reading distributor products"))?;
    let decimal = |s: Option<String>| s.and_then(|s| s.parse::<Decimal>().ok()).map(|d| d.normalize());
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
                price: decimal(r.get(7)),
                cost: decimal(r.get(8)),
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
