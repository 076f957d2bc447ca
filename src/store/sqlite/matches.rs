//! Product matches in SQLite: `product_matches`, the decisions on them, their `id_mappings`, and
//! the state that makes a rematch incremental.

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use uuid::Uuid;

use super::control::{self, json};
use super::{db_err, outbox, parse_ts, ts};
use crate::control::{now_micros, OutboxEntity, RunCounts};
use crate::matching::record::{
    MatchDecision, MatchFilter, MatchLink, MatchQuality, MatchableOffer, MatchedOffer, MatchingCommit, ProductMatch,
    CATALOG_SYSTEM, SCORE_BUCKETS,
};
use crate::matching::{Method, Status};
use crate::store::matches::{distributor_system, fill_histogram, mapping_metadata, status_counts, UNDECIDED};
use crate::store::StoreError;

/// Distributor products gone inactive since they were matched (a matched product always has a
/// matched hash, and pruning clears it), read from the partial index `distributor_products_inactive`.
const NEWLY_INACTIVE: &str = "SELECT id FROM distributor_products WHERE active = 0 AND matched_hash IS NOT NULL";

const OFFER_COLUMNS: &str =
    "d.id, d.distributor, d.sku, d.gtin, d.mpn, d.brand, d.title, CAST(d.price AS REAL), d.content_hash, d.matched_hash";

pub fn matchable_offers(conn: &Connection, only_changed: bool) -> Result<Vec<MatchableOffer>, StoreError> {
    // Spelled as the partial index `distributor_products_unmatched` is, so that the planner uses it.
    let changed = if only_changed { "AND d.matched_hash IS NOT d.content_hash" } else { "" };
    let mut stmt = conn
        .prepare(&format!("SELECT {OFFER_COLUMNS} FROM distributor_products d WHERE d.active = 1 {changed}"))
        .map_err(db_err("reading distributor products to match"))?;
    let rows = stmt
        .query_map([], |r| offer_from_row(r, 0))
        .and_then(Iterator::collect)
        .map_err(db_err("reading distributor products to match"))?;
    Ok(rows)
}

fn offer_from_row(r: &Row, at: usize) -> rusqlite::Result<MatchableOffer> {
    Ok(MatchableOffer {
        id: r.get(at)?,
        distributor: r.get(at + 1)?,
        sku: r.get(at + 2)?,
        gtin: r.get(at + 3)?,
        mpn: r.get(at + 4)?,
        brand: r.get(at + 5)?,
        title: r.get(at + 6)?,
        price: r.get(at + 7)?,
        content_hash: r.get(at + 8)?,
        matched_hash: r.get(at + 9)?,
    })
}

pub fn product_matches(conn: &Connection, filter: &MatchFilter) -> Result<Vec<MatchedOffer>, StoreError> {
    // Spelled out when given, so that the lookup by id uses the primary key.
    let by_id = if filter.ids.is_some() { "m.distributor_product_id = ?3" } else { "?3 IS NULL" };
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT m.distributor_product_id, m.distributor, m.product_id, m.score, m.method, m.status, m.evidence,
                    m.created_at, m.updated_at, m.decided_at, m.note, {OFFER_COLUMNS}
               FROM product_matches m
               JOIN distributor_products d ON d.id = m.distributor_product_id
              WHERE (?1 IS NULL OR m.status = ?1) AND (?2 IS NULL OR m.distributor = ?2)
                AND {by_id} AND (?5 = 0 OR d.active = 1)
              ORDER BY m.score DESC, m.distributor_product_id LIMIT ?4"
        ))
        .map_err(db_err("reading product_matches"))?;
    let status = filter.status.map(Status::as_str);
    let limit = filter.limit.map_or(-1, i64::from);
    let ids: Vec<Option<Uuid>> = match &filter.ids {
        Some(ids) => ids.iter().copied().map(Some).collect(),
        None => vec![None],
    };
    let mut rows = Vec::new();
    for id in ids {
        let found = stmt
            .query_map(params![status, filter.distributor, id, limit, filter.active_only], |r| {
                Ok(MatchedOffer { product_match: match_from_row(r)?, offer: offer_from_row(r, 11)? })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(db_err("reading product_matches"))?;
        rows.extend(found);
    }
    Ok(rows)
}

fn match_from_row(r: &Row) -> rusqlite::Result<ProductMatch> {
    Ok(ProductMatch {
        distributor_product_id: r.get(0)?,
        distributor: r.get(1)?,
        product_id: r.get(2)?,
        score: r.get(3)?,
        method: known(4, Method::parse(&r.get::<_, String>(4)?))?,
        status: known(5, Status::parse(&r.get::<_, String>(5)?))?,
        evidence: json(r, 6)?,
        created_at: parse_ts(&r.get::<_, String>(7)?)?,
        updated_at: parse_ts(&r.get::<_, String>(8)?)?,
        decided_at: r.get::<_, Option<String>>(9)?.as_deref().map(parse_ts).transpose()?,
        note: r.get(10)?,
    })
}

/// A column value this build knows, or a conversion error naming the column.
fn known<T>(column: usize, value: Option<T>) -> rusqlite::Result<T> {
    value.ok_or_else(|| rusqlite::Error::InvalidColumnType(column, "unknown value".into(), rusqlite::types::Type::Text))
}

pub fn match_links(conn: &Connection) -> Result<Vec<MatchLink>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT distributor_product_id, distributor, product_id, status FROM product_matches
              WHERE distributor_product_id NOT IN (SELECT id FROM distributor_products WHERE active = 0)",
        )
        .map_err(db_err("reading product_matches"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(MatchLink {
                distributor_product_id: r.get(0)?,
                distributor: r.get(1)?,
                product_id: r.get(2)?,
                status: known(3, Status::parse(&r.get::<_, String>(3)?))?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(db_err("reading product_matches"))?;
    Ok(rows)
}

pub fn match_rejections(conn: &Connection) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT distributor_product_id, product_id FROM match_rejections")
        .map_err(db_err("reading match_rejections"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(Iterator::collect)
        .map_err(db_err("reading match_rejections"))?;
    Ok(rows)
}

pub fn matched_catalog(conn: &Connection) -> Result<Vec<(Uuid, String)>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT product_id, content_hash FROM match_catalog_state")
        .map_err(db_err("reading match_catalog_state"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(Iterator::collect)
        .map_err(db_err("reading match_catalog_state"))?;
    Ok(rows)
}

pub fn commit_matching(conn: &mut Connection, mut commit: MatchingCommit) -> Result<RunCounts, StoreError> {
    let tx =
        conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err("starting a transaction"))?;
    super::lease::check_fence(&tx, commit.run.fence.as_ref())?;
    let now = ts(commit.run.finished_at.unwrap_or_else(now_micros));
    commit.run.counts.deactivated += prune_inactive(&tx, &now)?;
    // Documents of the products a distributor product leaves, and of those it joins, change.
    let touched: Vec<Uuid> =
        commit.upserts.iter().map(|m| m.distributor_product_id).chain(commit.unlinked.iter().copied()).collect();
    outbox::record_matched_products(&tx, &touched, &now)?;
    {
        let mut upsert = tx
            .prepare_cached(&format!(
                "INSERT INTO product_matches (distributor_product_id, distributor, product_id, score, method, status,
                                              evidence, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
                 ON CONFLICT (distributor_product_id) DO UPDATE SET
                     product_id = excluded.product_id, score = excluded.score, method = excluded.method,
                     status = excluded.status, evidence = excluded.evidence, updated_at = excluded.updated_at
                  WHERE product_matches.status IN {UNDECIDED}"
            ))
            .map_err(db_err("preparing the product_matches upsert"))?;
        for m in &commit.upserts {
            upsert
                .execute(params![
                    m.distributor_product_id,
                    m.distributor,
                    m.product_id,
                    m.score,
                    m.method.as_str(),
                    m.status.as_str(),
                    m.evidence.to_string(),
                    now
                ])
                .map_err(db_err("writing product_matches"))?;
            sync_mapping(&tx, m.distributor_product_id, &now)?;
        }
        let mut unlink = tx
            .prepare_cached(&format!(
                "DELETE FROM product_matches WHERE distributor_product_id = ?1 AND status IN {UNDECIDED}"
            ))
            .map_err(db_err("preparing the product_matches delete"))?;
        for id in &commit.unlinked {
            unlink.execute([id]).map_err(db_err("removing product_matches"))?;
            sync_mapping(&tx, *id, &now)?;
        }
        outbox::record_matched_products(&tx, &touched, &now)?;
        outbox::record(&tx, OutboxEntity::Offer, &touched, &now)?;
        let mut examined = tx
            .prepare_cached("UPDATE distributor_products SET matched_hash = ?2 WHERE id = ?1")
            .map_err(db_err("preparing the matched_hash update"))?;
        for (id, hash) in &commit.examined {
            examined.execute(params![id, hash]).map_err(db_err("writing distributor_products.matched_hash"))?;
        }
        let mut catalog = tx
            .prepare_cached(
                "INSERT INTO match_catalog_state (product_id, content_hash) VALUES (?1, ?2)
                 ON CONFLICT (product_id) DO UPDATE SET content_hash = excluded.content_hash",
            )
            .map_err(db_err("preparing the match_catalog_state upsert"))?;
        for (id, hash) in &commit.catalog_changed {
            catalog.execute(params![id, hash]).map_err(db_err("writing match_catalog_state"))?;
        }
        let mut gone = tx
            .prepare_cached("DELETE FROM match_catalog_state WHERE product_id = ?1")
            .map_err(db_err("preparing the match_catalog_state delete"))?;
        for id in &commit.catalog_removed {
            gone.execute([id]).map_err(db_err("writing match_catalog_state"))?;
        }
    }
    control::finish_run(&tx, &commit.run)?;
    control::advance(&tx, &commit.run, &commit.advance)?;
    tx.commit().map_err(db_err("committing a matching run"))?;
    Ok(commit.run.counts)
}

/// Drops the automatic and review rows (and links) of distributor products no longer active, and
/// their matched state, so that a product that comes back is matched afresh. Returns how many rows.
fn prune_inactive(conn: &Connection, now: &str) -> Result<u64, StoreError> {
    // `+status`: without statistics SQLite would walk the status index (every automatic row)
    // rather than look up the few newly inactive products by key.
    conn.execute(
        &format!(
            "INSERT INTO search_outbox (entity, entity_id, created_at)
             SELECT 'product', product_id, ?1 FROM product_matches
              WHERE distributor_product_id IN ({NEWLY_INACTIVE}) AND +status = 'auto'"
        ),
        [now],
    )
    .map_err(db_err("writing the search outbox"))?;
    conn.execute(
        &format!(
            "DELETE FROM id_mappings WHERE target_system = '{CATALOG_SYSTEM}' AND (source_system, source_id) IN (
                 SELECT 'distributor:' || d.distributor, d.sku FROM product_matches m
                   JOIN distributor_products d ON d.id = m.distributor_product_id
                  WHERE m.distributor_product_id IN ({NEWLY_INACTIVE}) AND +m.status = 'auto')"
        ),
        [],
    )
    .map_err(db_err("removing links of inactive distributor products"))?;
    let pruned = conn
        .execute(
            &format!(
                "DELETE FROM product_matches
                  WHERE distributor_product_id IN ({NEWLY_INACTIVE}) AND +status IN {UNDECIDED}"
            ),
            [],
        )
        .map_err(db_err("removing matches of inactive distributor products"))?;
    conn.execute(&format!("UPDATE distributor_products SET matched_hash = NULL WHERE id IN ({NEWLY_INACTIVE})"), [])
        .map_err(db_err("clearing the match state of inactive distributor products"))?;
    Ok(pruned as u64)
}

/// Makes `id_mappings` say what `product_matches` says of one distributor product: its catalog
/// product while the link stands (auto or confirmed), nothing otherwise.
fn sync_mapping(conn: &Connection, id: Uuid, now: &str) -> Result<(), StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT d.distributor, d.sku, m.product_id, m.status, m.method, m.score
               FROM distributor_products d LEFT JOIN product_matches m ON m.distributor_product_id = d.id
              WHERE d.id = ?1",
        )
        .and_then(|mut s| {
            s.query_row([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<Uuid>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<f64>>(5)?,
                ))
            })
            .optional()
        })
        .map_err(db_err("reading a match for id_mappings"))?;
    let Some((distributor, sku, product, status, method, score)) = row else { return Ok(()) };
    let system = distributor_system(&distributor);
    match (product, status.as_deref().and_then(Status::parse)) {
        (Some(product), Some(status @ (Status::Auto | Status::Confirmed))) => {
            let metadata = mapping_metadata(status, method.as_deref().unwrap_or_default(), score.unwrap_or_default());
            conn.prepare_cached(&format!(
                "INSERT INTO id_mappings (source_id, target_id, source_system, target_system, metadata, created_at, updated_at)
                 VALUES (?1, ?2, ?3, '{CATALOG_SYSTEM}', ?4, ?5, ?5)
                 ON CONFLICT (source_id, source_system, target_system) DO UPDATE SET
                     target_id = excluded.target_id, metadata = excluded.metadata, updated_at = excluded.updated_at"
            ))
            .and_then(|mut s| s.execute(params![sku, product.hyphenated().to_string(), system, metadata.to_string(), now]))
            .map_err(db_err("writing id_mappings"))?;
        }
        _ => {
            conn.prepare_cached(&format!(
                "DELETE FROM id_mappings WHERE source_id = ?1 AND source_system = ?2 AND target_system = '{CATALOG_SYSTEM}'"
            ))
            .and_then(|mut s| s.execute(params![sku, system]))
            .map_err(db_err("removing id_mappings"))?;
        }
    }
    Ok(())
}

pub fn decide(
    conn: &mut Connection,
    id: Uuid,
    decision: &MatchDecision,
    note: Option<&str>,
) -> Result<bool, StoreError> {
    let tx =
        conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err("starting a transaction"))?;
    let now = ts(now_micros());
    let current: Option<Uuid> = tx
        .query_row("SELECT product_id FROM product_matches WHERE distributor_product_id = ?1", [id], |r| r.get(0))
        .optional()
        .map_err(db_err("reading a match"))?;
    outbox::record_matched_products(&tx, &[id], &now)?;
    let decided = match (decision, current) {
        (MatchDecision::Confirm { product: Some(product) }, current) if current != Some(*product) => {
            link_by_hand(&tx, id, *product, note, &now)?
        }
        (MatchDecision::Confirm { .. }, Some(product)) => {
            set_status(&tx, id, Status::Confirmed, note, &now)?;
            tx.execute(
                "DELETE FROM match_rejections WHERE distributor_product_id = ?1 AND product_id = ?2",
                params![id, product],
            )
            .map_err(db_err("removing a rejection"))?;
            true
        }
        (MatchDecision::Reject, Some(product)) => {
            set_status(&tx, id, Status::Rejected, note, &now)?;
            tx.execute(
                "INSERT INTO match_rejections (distributor_product_id, product_id, rejected_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
                params![id, product, now],
            )
            .map_err(db_err("recording a rejection"))?;
            true
        }
        (MatchDecision::Reset, Some(_)) => {
            tx.execute("DELETE FROM product_matches WHERE distributor_product_id = ?1", [id])
                .and_then(|_| tx.execute("UPDATE distributor_products SET matched_hash = NULL WHERE id = ?1", [id]))
                .map_err(db_err("resetting a match"))?;
            true
        }
        (_, None) => false,
    };
    if decided {
        sync_mapping(&tx, id, &now)?;
        outbox::record_matched_products(&tx, &[id], &now)?;
        outbox::record(&tx, OutboxEntity::Offer, &[id], &now)?;
        tx.commit().map_err(db_err("committing a match decision"))?;
    }
    Ok(decided)
}

fn set_status(conn: &Connection, id: Uuid, status: Status, note: Option<&str>, now: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE product_matches SET status = ?2, decided_at = ?3, updated_at = ?3, note = ?4 WHERE distributor_product_id = ?1",
        params![id, status.as_str(), now, note],
    )
    .map_err(db_err("recording a match decision"))?;
    Ok(())
}

/// A person's link to a product of their choosing; `false` if the distributor product is not active.
fn link_by_hand(conn: &Connection, id: Uuid, product: Uuid, note: Option<&str>, now: &str) -> Result<bool, StoreError> {
    let written = conn
        .execute(
            "INSERT INTO product_matches (distributor_product_id, distributor, product_id, score, method, status,
                                          evidence, created_at, updated_at, decided_at, note)
             SELECT id, distributor, ?2, 1.0, 'manual', 'confirmed', '{\"manual\":true}', ?3, ?3, ?3, ?4
               FROM distributor_products WHERE id = ?1 AND active = 1
             ON CONFLICT (distributor_product_id) DO UPDATE SET
                 product_id = excluded.product_id, score = 1.0, method = 'manual', status = 'confirmed',
                 evidence = excluded.evidence, updated_at = excluded.updated_at, decided_at = excluded.decided_at,
                 note = excluded.note",
            params![id, product, now, note],
        )
        .map_err(db_err("linking a distributor product by hand"))?;
    conn.execute(
        "DELETE FROM match_rejections WHERE distributor_product_id = ?1 AND product_id = ?2",
        params![id, product],
    )
    .map_err(db_err("removing a rejection"))?;
    Ok(written > 0)
}

pub fn match_quality(conn: &Connection) -> Result<MatchQuality, StoreError> {
    let mut quality = MatchQuality::default();
    let mut stmt = conn
        .prepare("SELECT status, COUNT(*) FROM product_matches GROUP BY status")
        .map_err(db_err("counting product_matches"))?;
    let counts: Vec<(String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(Iterator::collect)
        .map_err(db_err("counting product_matches"))?;
    quality.by_status = status_counts(counts);
    let mut stmt = conn
        .prepare("SELECT MIN(CAST(score * ?1 AS INTEGER), ?1 - 1), COUNT(*) FROM product_matches GROUP BY 1")
        .map_err(db_err("counting product_matches"))?;
    let buckets: Vec<(i64, i64)> = stmt
        .query_map([SCORE_BUCKETS as i64], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(Iterator::collect)
        .map_err(db_err("counting product_matches"))?;
    fill_histogram(&mut quality, buckets);
    Ok(quality)
}
