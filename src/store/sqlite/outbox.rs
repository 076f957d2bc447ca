//! The search outbox in SQLite: entries written beside the rows they name, read and deleted by
//! `catsync index`.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use uuid::Uuid;

use super::{db_err, parse_ts};
use crate::control::lease::Fence;
use crate::control::{OutboxEntity, OutboxEntry};
use crate::store::StoreError;

/// Records that these rows changed.
pub fn record<'a>(
    conn: &Connection,
    entity: OutboxEntity,
    ids: impl IntoIterator<Item = &'a Uuid>,
    now: &str,
) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached("INSERT INTO search_outbox (entity, entity_id, created_at) VALUES (?1, ?2, ?3)")
        .map_err(db_err("preparing the search outbox insert"))?;
    for id in ids {
        stmt.execute(params![entity.as_str(), id, now]).map_err(db_err("writing the search outbox"))?;
    }
    Ok(())
}

/// Records the catalog products the distributor products `ids` are linked or proposed to.
pub fn record_matched_products(conn: &Connection, ids: &[Uuid], now: &str) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO search_outbox (entity, entity_id, created_at)
             SELECT 'product', product_id, ?2 FROM product_matches WHERE distributor_product_id = ?1",
        )
        .map_err(db_err("preparing the search outbox insert"))?;
    for id in ids {
        stmt.execute(params![id, now]).map_err(db_err("writing the search outbox"))?;
    }
    Ok(())
}

/// Records every product of `distributor` an import wrote (their `updated_at` is the import's).
pub fn record_written_offers(conn: &Connection, distributor: &str, run_ts: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO search_outbox (entity, entity_id, created_at)
         SELECT 'offer', id, ?2 FROM distributor_products WHERE distributor = ?1 AND updated_at = ?2",
        params![distributor, run_ts],
    )
    .map_err(db_err("writing the search outbox"))?;
    Ok(())
}

/// The oldest `limit` entries.
pub fn entries(conn: &Connection, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT id, entity, entity_id FROM search_outbox ORDER BY id LIMIT ?1")
        .map_err(db_err("reading the search outbox"))?;
    let rows = stmt
        .query_map([limit], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Uuid>(2)?)))
        .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
        .map_err(db_err("reading the search outbox"))?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, entity, entity_id)| {
            Some(OutboxEntry { id, entity: OutboxEntity::parse(&entity)?, entity_id })
        })
        .collect())
}

pub fn acknowledge(conn: &mut Connection, ids: &[i64], fence: Option<&Fence>) -> Result<(), StoreError> {
    let tx = conn.transaction().map_err(db_err("starting a transaction"))?;
    super::lease::check_fence(&tx, fence)?;
    {
        let mut stmt = tx
            .prepare_cached("DELETE FROM search_outbox WHERE id = ?1")
            .map_err(db_err("preparing the search outbox delete"))?;
        for id in ids {
            stmt.execute([id]).map_err(db_err("acknowledging search outbox entries"))?;
        }
    }
    tx.commit().map_err(db_err("acknowledging search outbox entries"))
}

pub fn depth(conn: &Connection) -> Result<u64, StoreError> {
    conn.query_row("SELECT COUNT(*) FROM search_outbox", [], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
        .map_err(db_err("counting the search outbox"))
}

pub fn oldest(conn: &Connection) -> Result<Option<DateTime<Utc>>, StoreError> {
    let oldest: Option<String> = conn
        .query_row("SELECT MIN(created_at) FROM search_outbox", [], |r| r.get(0))
        .map_err(db_err("reading the search outbox"))?;
    oldest.as_deref().map(parse_ts).transpose().map_err(db_err("reading the search outbox"))
}
