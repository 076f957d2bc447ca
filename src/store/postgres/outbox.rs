//! The search outbox in PostgreSQL/CockroachDB: entries written beside the rows they name, read and
//! deleted by `catsync index`.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::db_err;
use crate::control::{OutboxEntity, OutboxEntry};
use crate::store::StoreError;

/// Records that these rows changed (one statement).
pub async fn record(
    c: &impl GenericClient,
    entity: OutboxEntity,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    c.execute(
        "INSERT INTO search_outbox (entity, entity_id, created_at) SELECT $1, id, $3 FROM unnest($2::UUID[]) AS t (id)",
        &[&entity.as_str(), &ids, &now],
    )
    .await
    .map_err(db_err("writing the search outbox"))?;
    Ok(())
}

/// Records the catalog products the distributor products `ids` are linked or proposed to.
pub async fn record_matched_products(
    c: &impl GenericClient,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO search_outbox (entity, entity_id, created_at)
         SELECT 'product', product_id, $2 FROM product_matches WHERE distributor_product_id = ANY($1)",
        &[&ids, &now],
    )
    .await
    .map_err(db_err("writing the search outbox"))?;
    Ok(())
}

/// Records every product of `distributor` an import wrote (their `updated_at` is the import's).
pub async fn record_written_offers(
    c: &impl GenericClient,
    distributor: &str,
    run_ts: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO search_outbox (entity, entity_id, created_at)
         SELECT 'offer', id, $2 FROM distributor_products WHERE distributor = $1 AND updated_at = $2",
        &[&distributor, &run_ts],
    )
    .await
    .map_err(db_err("writing the search outbox"))?;
    Ok(())
}

/// The oldest `limit` entries.
pub async fn entries(c: &impl GenericClient, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
    let rows = c
        .query("SELECT id, entity, entity_id FROM search_outbox ORDER BY id LIMIT $1", &[&i64::from(limit)])
        .await
        .map_err(db_err("reading the search outbox"))?;
    Ok(rows
        .iter()
        .filter_map(|r| Some(OutboxEntry { id: r.get(0), entity: OutboxEntity::parse(r.get(1))?, entity_id: r.get(2) }))
        .collect())
}

pub async fn acknowledge(c: &impl GenericClient, ids: &[i64]) -> Result<(), StoreError> {
    c.execute("DELETE FROM search_outbox WHERE id = ANY($1)", &[&ids])
        .await
        .map_err(db_err("acknowledging search outbox entries"))?;
    Ok(())
}

pub async fn depth(c: &impl GenericClient) -> Result<u64, StoreError> {
    let row =
        c.query_one("SELECT COUNT(*) FROM search_outbox", &[]).await.map_err(db_err("counting the search outbox"))?;
    Ok(row.get::<_, i64>(0) as u64)
}

pub async fn oldest(c: &impl GenericClient) -> Result<Option<DateTime<Utc>>, StoreError> {
    let row = c
        .query_one("SELECT MIN(created_at) FROM search_outbox", &[])
        .await
        .map_err(db_err("reading the search outbox"))?;
    Ok(row.get(0))
}
