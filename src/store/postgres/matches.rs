//! Product matches in PostgreSQL/CockroachDB: `product_matches`, the decisions on them, their
//! `id_mappings`, and the state that makes a rematch incremental. Bulk writes go as arrays through
//! `unnest` (one statement per chunk, on both servers) rather than a statement per row.

use chrono::{DateTime, Utc};
use tokio_postgres::{Client, GenericClient, Row};
use uuid::Uuid;

use super::{control, db_err, in_transaction, outbox};
use crate::control::{now_micros, OutboxEntity, RunCounts};
use crate::matching::record::{
    MatchDecision, MatchFilter, MatchLink, MatchQuality, MatchableOffer, MatchedOffer, MatchingCommit, ProductMatch,
    CATALOG_SYSTEM, SCORE_BUCKETS,
};
use crate::matching::{Method, Status};
use crate::store::matches::{fill_histogram, status_counts, UNDECIDED};
use crate::store::StoreError;

/// Rows per `unnest` statement.
const CHUNK: usize = 10_000;

/// Distributor products gone inactive since they were matched (a matched product always has a
/// matched hash, and pruning clears it), read from the partial index `distributor_products_inactive`.
const NEWLY_INACTIVE: &str = "SELECT id FROM distributor_products WHERE NOT active AND matched_hash IS NOT NULL";

const OFFER_COLUMNS: &str =
    "d.id, d.distributor, d.sku, d.gtin, d.mpn, d.brand, d.title, d.price::FLOAT8, d.content_hash, d.matched_hash";

pub async fn matchable_offers(c: &Client, only_changed: bool) -> Result<Vec<MatchableOffer>, StoreError> {
    // Spelled as the partial index `distributor_products_unmatched` is, so that the planner uses it.
    let changed = if only_changed { "AND d.matched_hash IS DISTINCT FROM d.content_hash" } else { "" };
    let rows = c
        .query(&format!("SELECT {OFFER_COLUMNS} FROM distributor_products d WHERE d.active {changed}"), &[])
        .await
        .map_err(db_err("reading distributor products to match"))?;
    Ok(rows.iter().map(|r| offer_from_row(r, 0)).collect())
}

fn offer_from_row(r: &Row, at: usize) -> MatchableOffer {
    MatchableOffer {
        id: r.get(at),
        distributor: r.get(at + 1),
        sku: r.get(at + 2),
        gtin: r.get(at + 3),
        mpn: r.get(at + 4),
        brand: r.get(at + 5),
        title: r.get(at + 6),
        price: r.get(at + 7),
        content_hash: r.get(at + 8),
        matched_hash: r.get(at + 9),
    }
}

pub async fn product_matches(c: &Client, filter: &MatchFilter) -> Result<Vec<MatchedOffer>, StoreError> {
    let status = filter.status.map(Status::as_str);
    let limit = filter.limit.map(i64::from);
    let rows = c
        .query(
            &format!(
                "SELECT m.distributor_product_id, m.distributor, m.product_id, m.score, m.method, m.status, m.evidence,
                        m.created_at, m.updated_at, m.decided_at, m.note, {OFFER_COLUMNS}
                   FROM product_matches m
                   JOIN distributor_products d ON d.id = m.distributor_product_id
                  WHERE ($1::TEXT IS NULL OR m.status = $1) AND ($2::TEXT IS NULL OR m.distributor = $2)
                    AND ($3::UUID[] IS NULL OR m.distributor_product_id = ANY($3)) AND (NOT $5 OR d.active)
                  ORDER BY m.score DESC, m.distributor_product_id LIMIT $4"
            ),
            &[&status, &filter.distributor, &filter.ids, &limit, &filter.active_only],
        )
        .await
        .map_err(db_err("reading product_matches"))?;
    rows.iter().map(|r| Ok(MatchedOffer { product_match: match_from_row(r)?, offer: offer_from_row(r, 11) })).collect()
}

/// A column value this build knows, or an error naming it.
fn known<T>(what: &str, value: String, parse: impl Fn(&str) -> Option<T>) -> Result<T, StoreError> {
    parse(&value).ok_or_else(|| StoreError::Database {
        context: "reading product_matches".into(),
        reason: format!("unknown {what} {value:?}: written by a newer catsync?"),
        retryable: false,
    })
}

fn match_from_row(r: &Row) -> Result<ProductMatch, StoreError> {
    Ok(ProductMatch {
        distributor_product_id: r.get(0),
        distributor: r.get(1),
        product_id: r.get(2),
        score: r.get(3),
        method: known("method", r.get(4), Method::parse)?,
        status: known("status", r.get(5), Status::parse)?,
        evidence: r.get(6),
        created_at: r.get(7),
        updated_at: r.get(8),
        decided_at: r.get(9),
        note: r.get(10),
    })
}

pub async fn match_links(c: &Client) -> Result<Vec<MatchLink>, StoreError> {
    let rows = c
        .query(
            "SELECT distributor_product_id, distributor, product_id, status FROM product_matches
              WHERE distributor_product_id NOT IN (SELECT id FROM distributor_products WHERE NOT active)",
            &[],
        )
        .await
        .map_err(db_err("reading product_matches"))?;
    rows.iter()
        .map(|r| {
            Ok(MatchLink {
                distributor_product_id: r.get(0),
                distributor: r.get(1),
                product_id: r.get(2),
                status: known("status", r.get(3), Status::parse)?,
            })
        })
        .collect()
}

pub async fn match_rejections(c: &Client) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
    let rows = c
        .query("SELECT distributor_product_id, product_id FROM match_rejections", &[])
        .await
        .map_err(db_err("reading match_rejections"))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

pub async fn matched_catalog(c: &Client) -> Result<Vec<(Uuid, String)>, StoreError> {
    let rows = c
        .query("SELECT product_id, content_hash FROM match_catalog_state", &[])
        .await
        .map_err(db_err("reading match_catalog_state"))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

pub async fn commit_matching(c: &Client, commit: &MatchingCommit) -> Result<RunCounts, StoreError> {
    in_transaction(c, "committing a matching run", || async {
        super::lease::check_fence(c, commit.run.fence.as_ref()).await?;
        let now = commit.run.finished_at.unwrap_or_else(now_micros);
        let mut run = commit.run.clone();
        run.counts.deactivated += prune_inactive(c, now).await?;
        // Documents of the products a distributor product leaves, and of those it joins, change.
        let touched: Vec<Uuid> =
            commit.upserts.iter().map(|m| m.distributor_product_id).chain(commit.unlinked.iter().copied()).collect();
        for ids in touched.chunks(CHUNK) {
            outbox::record_matched_products(c, ids, now).await?;
        }
        for chunk in commit.upserts.chunks(CHUNK) {
            upsert_matches(c, chunk, now).await?;
            let ids: Vec<Uuid> = chunk.iter().map(|m| m.distributor_product_id).collect();
            sync_mappings(c, &ids, now).await?;
        }
        for ids in commit.unlinked.chunks(CHUNK) {
            c.execute(
                &format!(
                    "DELETE FROM product_matches WHERE distributor_product_id = ANY($1) AND status IN {UNDECIDED}"
                ),
                &[&ids],
            )
            .await
            .map_err(db_err("removing product_matches"))?;
            sync_mappings(c, ids, now).await?;
        }
        for ids in touched.chunks(CHUNK) {
            outbox::record_matched_products(c, ids, now).await?;
            outbox::record(c, OutboxEntity::Offer, ids, now).await?;
        }
        for chunk in commit.examined.chunks(CHUNK) {
            let (ids, hashes): (Vec<Uuid>, Vec<&str>) = chunk.iter().map(|(id, h)| (*id, h.as_str())).unzip();
            c.execute(
                "UPDATE distributor_products d SET matched_hash = t.hash
                   FROM unnest($1::UUID[], $2::TEXT[]) AS t (id, hash) WHERE d.id = t.id",
                &[&ids, &hashes],
            )
            .await
            .map_err(db_err("writing distributor_products.matched_hash"))?;
        }
        for chunk in commit.catalog_changed.chunks(CHUNK) {
            let (ids, hashes): (Vec<Uuid>, Vec<&str>) = chunk.iter().map(|(id, h)| (*id, h.as_str())).unzip();
            c.execute(
                "INSERT INTO match_catalog_state (product_id, content_hash)
                 SELECT id, hash FROM unnest($1::UUID[], $2::TEXT[]) AS t (id, hash)
                 ON CONFLICT (product_id) DO UPDATE SET content_hash = excluded.content_hash",
                &[&ids, &hashes],
            )
            .await
            .map_err(db_err("writing match_catalog_state"))?;
        }
        for ids in commit.catalog_removed.chunks(CHUNK) {
            c.execute("DELETE FROM match_catalog_state WHERE product_id = ANY($1)", &[&ids])
                .await
                .map_err(db_err("writing match_catalog_state"))?;
        }
        control::finish_run(c, &run).await?;
        control::advance(c, &run, &commit.advance).await?;
        Ok(run.counts)
    })
    .await
}

async fn upsert_matches(c: &Client, chunk: &[ProductMatch], now: DateTime<Utc>) -> Result<(), StoreError> {
    let ids: Vec<Uuid> = chunk.iter().map(|m| m.distributor_product_id).collect();
    let distributors: Vec<&str> = chunk.iter().map(|m| m.distributor.as_str()).collect();
    let products: Vec<Uuid> = chunk.iter().map(|m| m.product_id).collect();
    let scores: Vec<f64> = chunk.iter().map(|m| m.score).collect();
    let methods: Vec<&str> = chunk.iter().map(|m| m.method.as_str()).collect();
    let statuses: Vec<&str> = chunk.iter().map(|m| m.status.as_str()).collect();
    let evidence: Vec<&serde_json::Value> = chunk.iter().map(|m| &m.evidence).collect();
    c.execute(
        &format!(
            "INSERT INTO product_matches (distributor_product_id, distributor, product_id, score, method, status,
                                          evidence, created_at, updated_at)
             SELECT id, distributor, product, score, method, status, evidence, $8, $8
               FROM unnest($1::UUID[], $2::TEXT[], $3::UUID[], $4::FLOAT8[], $5::TEXT[], $6::TEXT[], $7::JSONB[])
                 AS t (id, distributor, product, score, method, status, evidence)
             ON CONFLICT (distributor_product_id) DO UPDATE SET
                 product_id = excluded.product_id, score = excluded.score, method = excluded.method,
                 status = excluded.status, evidence = excluded.evidence, updated_at = excluded.updated_at
              WHERE product_matches.status IN {UNDECIDED}"
        ),
        &[&ids, &distributors, &products, &scores, &methods, &statuses, &evidence, &now],
    )
    .await
    .map_err(db_err("writing product_matches"))?;
    Ok(())
}

/// Drops the automatic and review rows (and links) of distributor products no longer active, and
/// their matched state, so that a product that comes back is matched afresh. Returns how many rows.
async fn prune_inactive(c: &Client, now: DateTime<Utc>) -> Result<u64, StoreError> {
    c.execute(
        &format!(
            "INSERT INTO search_outbox (entity, entity_id, created_at)
             SELECT 'product', product_id, $1 FROM product_matches
              WHERE distributor_product_id IN ({NEWLY_INACTIVE}) AND status = 'auto'"
        ),
        &[&now],
    )
    .await
    .map_err(db_err("writing the search outbox"))?;
    c.execute(
        &format!(
            "DELETE FROM id_mappings i USING product_matches m, distributor_products d
              WHERE m.distributor_product_id IN ({NEWLY_INACTIVE}) AND m.status = 'auto'
                AND d.id = m.distributor_product_id AND i.target_system = '{CATALOG_SYSTEM}'
                AND i.source_system = 'distributor:' || d.distributor AND i.source_id = d.sku"
        ),
        &[],
    )
    .await
    .map_err(db_err("removing links of inactive distributor products"))?;
    let pruned = c
        .execute(
            &format!(
                "DELETE FROM product_matches
                  WHERE distributor_product_id IN ({NEWLY_INACTIVE}) AND status IN {UNDECIDED}"
            ),
            &[],
        )
        .await
        .map_err(db_err("removing matches of inactive distributor products"))?;
    c.execute(&format!("UPDATE distributor_products SET matched_hash = NULL WHERE id IN ({NEWLY_INACTIVE})"), &[])
        .await
        .map_err(db_err("clearing the match state of inactive distributor products"))?;
    Ok(pruned)
}

/// Makes `id_mappings` say what `product_matches` says of these distributor products: their
/// catalog product while the link stands (auto or confirmed), nothing otherwise.
async fn sync_mappings(c: &impl GenericClient, ids: &[Uuid], now: DateTime<Utc>) -> Result<(), StoreError> {
    c.execute(
        &format!(
            "DELETE FROM id_mappings i USING distributor_products d
              WHERE d.id = ANY($1) AND i.target_system = '{CATALOG_SYSTEM}'
                AND i.source_system = 'distributor:' || d.distributor AND i.source_id = d.sku
                AND NOT EXISTS (SELECT 1 FROM product_matches m
                                 WHERE m.distributor_product_id = d.id AND m.status IN ('auto', 'confirmed'))"
        ),
        &[&ids],
    )
    .await
    .map_err(db_err("removing id_mappings"))?;
    c.execute(
        &format!(
            "INSERT INTO id_mappings (source_id, target_id, source_system, target_system, metadata, created_at, updated_at)
             SELECT d.sku, m.product_id::TEXT, 'distributor:' || d.distributor, '{CATALOG_SYSTEM}',
                    jsonb_build_object('status', m.status, 'method', m.method, 'score', m.score), $2, $2
               FROM product_matches m JOIN distributor_products d ON d.id = m.distributor_product_id
              WHERE m.distributor_product_id = ANY($1) AND m.status IN ('auto', 'confirmed')
             ON CONFLICT (source_id, source_system, target_system) DO UPDATE SET
                 target_id = excluded.target_id, metadata = excluded.metadata, updated_at = excluded.updated_at"
        ),
        &[&ids, &now],
    )
    .await
    .map_err(db_err("writing id_mappings"))?;
    Ok(())
}

pub async fn decide(c: &Client, id: Uuid, decision: &MatchDecision, note: Option<&str>) -> Result<bool, StoreError> {
    in_transaction(c, "committing a match decision", || async {
        let now = now_micros();
        let current: Option<Uuid> = c
            .query_opt("SELECT product_id FROM product_matches WHERE distributor_product_id = $1 FOR UPDATE", &[&id])
            .await
            .map_err(db_err("reading a match"))?
            .map(|r| r.get(0));
        outbox::record_matched_products(c, &[id], now).await?;
        let decided = match (decision, current) {
            (MatchDecision::Confirm { product: Some(product) }, current) if current != Some(*product) => {
                link_by_hand(c, id, *product, note, now).await?
            }
            (MatchDecision::Confirm { .. }, Some(product)) => {
                set_status(c, id, Status::Confirmed, note, now).await?;
                c.execute(
                    "DELETE FROM match_rejections WHERE distributor_product_id = $1 AND product_id = $2",
                    &[&id, &product],
                )
                .await
                .map_err(db_err("removing a rejection"))?;
                true
            }
            (MatchDecision::Reject, Some(product)) => {
                set_status(c, id, Status::Rejected, note, now).await?;
                c.execute(
                    "INSERT INTO match_rejections (distributor_product_id, product_id, rejected_at) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    &[&id, &product, &now],
                )
                .await
                .map_err(db_err("recording a rejection"))?;
                true
            }
            (MatchDecision::Reset, Some(_)) => {
                c.execute("DELETE FROM product_matches WHERE distributor_product_id = $1", &[&id])
                    .await
                    .map_err(db_err("resetting a match"))?;
                c.execute("UPDATE distributor_products SET matched_hash = NULL WHERE id = $1", &[&id])
                    .await
                    .map_err(db_err("resetting a match"))?;
                true
            }
            (_, None) => false,
        };
        if decided {
            sync_mappings(c, &[id], now).await?;
            outbox::record_matched_products(c, &[id], now).await?;
            outbox::record(c, OutboxEntity::Offer, &[id], now).await?;
        }
        Ok(decided)
    })
    .await
}

async fn set_status(
    c: &Client,
    id: Uuid,
    status: Status,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE product_matches SET status = $2, decided_at = $3, updated_at = $3, note = $4 WHERE distributor_product_id = $1",
        &[&id, &status.as_str(), &now, &note],
    )
    .await
    .map_err(db_err("recording a match decision"))?;
    Ok(())
}

/// A person's link to a product of their choosing; `false` if the distributor product is not active.
async fn link_by_hand(
    c: &Client,
    id: Uuid,
    product: Uuid,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let written = c
        .execute(
            "INSERT INTO product_matches (distributor_product_id, distributor, product_id, score, method, status,
                                          evidence, created_at, updated_at, decided_at, note)
             SELECT id, distributor, $2, 1.0, 'manual', 'confirmed', '{\"manual\": true}', $3, $3, $3, $4
               FROM distributor_products WHERE id = $1 AND active
             ON CONFLICT (distributor_product_id) DO UPDATE SET
                 product_id = excluded.product_id, score = 1.0, method = 'manual', status = 'confirmed',
                 evidence = excluded.evidence, updated_at = excluded.updated_at, decided_at = excluded.decided_at,
                 note = excluded.note",
            &[&id, &product, &now, &note],
        )
        .await
        .map_err(db_err("linking a distributor product by hand"))?;
    c.execute("DELETE FROM match_rejections WHERE distributor_product_id = $1 AND product_id = $2", &[&id, &product])
        .await
        .map_err(db_err("removing a rejection"))?;
    Ok(written > 0)
}

pub async fn match_quality(c: &impl GenericClient) -> Result<MatchQuality, StoreError> {
    let counts = c
        .query("SELECT status, COUNT(*)::INT8 FROM product_matches GROUP BY status", &[])
        .await
        .map_err(db_err("counting product_matches"))?;
    let buckets = c
        .query(
            // Both operands FLOAT8 and the bucket by position: CockroachDB has no FLOAT8 * INT8.
            "SELECT LEAST(FLOOR(score * $1::FLOAT8)::INT8, $2::INT8) AS bucket, COUNT(*)::INT8
               FROM product_matches GROUP BY 1",
            &[&(SCORE_BUCKETS as f64), &(SCORE_BUCKETS as i64 - 1)],
        )
        .await
        .map_err(db_err("counting product_matches"))?;
    let mut quality = MatchQuality {
        by_status: status_counts(counts.iter().map(|r| (r.get(0), r.get(1))).collect()),
        ..MatchQuality::default()
    };
    fill_histogram(&mut quality, buckets.iter().map(|r| (r.get(0), r.get(1))).collect());
    Ok(quality)
}
