//! `catsync match`: one matching run over the store. Reads the catalog (`[catalog]` table and
//! roles), the active distributor products and the decisions people made; rematches only what
//! changed; writes `product_matches` and `id_mappings` through one `Store::commit_matching`.
//!
//! What is rematched (everything on `--full`): distributor products new or changed since they were
//! last matched, those whose proposed product changed or left the catalog, and — when catalog
//! products were added or changed — those that now have one of them among their candidates.
//! Confirmed and rejected rows are never rematched; rejected pairs are never proposed again.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicUsize;

use serde::Serialize;
use uuid::Uuid;

use super::aliases::BrandAliases;
use super::record::{
    MatchFilter, MatchLink, MatchableOffer, MatchedOffer, MatchingCommit, ProductMatch, MATCHING_SOURCE,
};
use super::{match_offers, offers_near, Link, MatchHints, MatchOptions, Method, ProductText, Status};
use crate::catalog::{CatalogRoles, CatalogTable, StoredCatalogRecord};
use crate::control::{now_micros, ControlAdvance, RunCounts, RunRecord, RunStatus};
use crate::store::{Store, StoreError};

/// A score change smaller than this is not a change worth a write.
const SCORE_EPSILON: f64 = 1e-6;

/// What a run needs besides the store.
pub struct MatchRun<'a> {
    pub table: &'a CatalogTable,
    pub roles: &'a CatalogRoles,
    pub options: MatchOptions,
    /// Configured aliases; those learned from confirmed matches are added.
    pub aliases: BrandAliases,
    pub full: bool,
    /// Counts distributor products as they are scored.
    pub progress: Option<&'a AtomicUsize>,
}

/// What a run did, for the terminal and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct MatchReport {
    pub run_id: Uuid,
    pub status: RunStatus,
    pub full: bool,
    pub catalog_products: usize,
    pub catalog_changed: usize,
    pub offers_examined: usize,
    pub counts: RunCounts,
    /// Rows of this run's results by status, and automatic links by method.
    pub auto: usize,
    pub review: usize,
    pub by_gtin: usize,
    pub by_mpn: usize,
    pub by_title: usize,
    pub brand_aliases: usize,
    pub seconds: f64,
    pub error: Option<String>,
}

/// A distributor product as a run holds it: what decides whether it is rematched, and its text,
/// which moves to the matcher when it is (a first run's million texts are held once, not twice).
struct Offer {
    id: Uuid,
    distributor: String,
    content_hash: String,
    matched_hash: Option<String>,
    text: ProductText,
}

impl Offer {
    fn new(o: MatchableOffer, aliases: &BrandAliases) -> Offer {
        let brand = aliases.apply(o.brand.as_deref().unwrap_or_default()).to_string();
        let text = ProductText {
            id: o.sku,
            title: o.title.unwrap_or_default(),
            brand,
            mpn: o.mpn.unwrap_or_default(),
            gtin: o.gtin.unwrap_or_default(),
            price: o.price,
        };
        Offer { id: o.id, distributor: o.distributor, content_hash: o.content_hash, matched_hash: o.matched_hash, text }
    }

    /// New or changed since it was last matched.
    fn changed(&self) -> bool {
        self.matched_hash.as_ref() != Some(&self.content_hash)
    }
}

/// The catalog as matched: texts by row, and row by product id.
struct Catalog {
    ids: Vec<Uuid>,
    texts: Vec<ProductText>,
    hashes: Vec<String>,
    row: HashMap<Uuid, usize>,
}

impl Catalog {
    fn read(records: &[StoredCatalogRecord], roles: &CatalogRoles, aliases: &BrandAliases) -> Catalog {
        let live: Vec<&StoredCatalogRecord> = records.iter().filter(|r| r.deleted_at.is_none()).collect();
        let ids: Vec<Uuid> = live.iter().map(|r| r.record.id).collect();
        let texts = live
            .iter()
            .map(|r| {
                let mut text = roles.product_text(r);
                text.brand = aliases.apply(&text.brand).to_string();
                text
            })
            .collect();
        let hashes = live.iter().map(|r| r.record.content_hash.clone()).collect();
        let row = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        Catalog { ids, texts, hashes, row }
    }
}

/// Runs one matching run and records it (a failed run too).
pub async fn run_matching(store: &dyn Store, run: MatchRun<'_>) -> Result<MatchReport, StoreError> {
    let mut record = RunRecord::start(MATCHING_SOURCE);
    store.start_run(&record).await?;
    let outcome: Result<MatchReport, StoreError> = async {
        let (mut commit, report) = plan_and_match(store, &run, &record).await?;
        let mut finished = record.clone();
        finished.counts = commit.run.counts;
        finished.finish(RunStatus::Succeeded, None);
        commit.run = finished.clone();
        let counts = store.commit_matching(commit).await?;
        Ok(MatchReport { counts, seconds: finished.elapsed_seconds, ..report })
    }
    .await;
    if let Err(e) = &outcome {
        // The run's writes rolled back with it; its row says why.
        record.finish(RunStatus::Failed, Some(e.to_string()));
        store.fail_run(&record, Vec::new()).await?;
    }
    outcome
}

async fn plan_and_match(
    store: &dyn Store,
    run: &MatchRun<'_>,
    record: &RunRecord,
) -> Result<(MatchingCommit, MatchReport), StoreError> {
    let confirmed = MatchFilter { status: Some(Status::Confirmed), active_only: true, ..MatchFilter::default() };
    let confirmed = store.product_matches(&confirmed).await?;
    let records = store.catalog_records(run.table).await?;
    let mut aliases = run.aliases.clone();
    learn_aliases(&mut aliases, &confirmed, &records, run.roles);
    let catalog = Catalog::read(&records, run.roles, &aliases);
    drop(records);
    let before: HashMap<Uuid, String> = store.matched_catalog().await?.into_iter().collect();
    let changed: HashSet<usize> =
        (0..catalog.ids.len()).filter(|&i| before.get(&catalog.ids[i]) != Some(&catalog.hashes[i])).collect();
    let removed: Vec<Uuid> = before.keys().filter(|id| !catalog.row.contains_key(id)).copied().collect();
    let catalog_moved = !changed.is_empty() || !removed.is_empty();
    let mut read = store.matchable_offers(!run.full && !catalog_moved).await?;
    read.sort_by(|a, b| (&a.distributor, &a.sku).cmp(&(&b.distributor, &b.sku)));
    let mut offers: Vec<Offer> = read.into_iter().map(|o| Offer::new(o, &aliases)).collect();
    let rejected: HashSet<(Uuid, Uuid)> = store.match_rejections().await?.into_iter().collect();
    let links: HashMap<Uuid, MatchLink> =
        store.match_links().await?.into_iter().map(|l| (l.distributor_product_id, l)).collect();

    let selected = select(run, &catalog, &changed, &links, &offers);
    let existing = selected_rows(store, &selected, &links).await?;
    let mut plan = Plan::default();
    for group in offers.chunk_by_mut(|a, b| a.distributor == b.distributor) {
        let (ids, texts): (Vec<Uuid>, Vec<ProductText>) =
            group.iter_mut().filter(|o| selected.contains(&o.id)).map(|o| (o.id, std::mem::take(&mut o.text))).unzip();
        if ids.is_empty() {
            continue;
        }
        let distributor = &group[0].distributor;
        let found = match_group(run, &catalog, &links, &rejected, distributor, &ids, &texts);
        plan.add(&catalog, &existing, distributor, &ids, found);
    }
    let offers_examined = selected.len();
    // Decided rows stay as they are, but their products count as examined at this content.
    let examined = offers
        .into_iter()
        .filter(|o| o.changed() || selected.contains(&o.id))
        .map(|o| (o.id, o.content_hash))
        .collect();
    let report = MatchReport {
        run_id: record.id,
        status: RunStatus::Succeeded,
        full: run.full,
        catalog_products: catalog.ids.len(),
        catalog_changed: changed.len() + removed.len(),
        offers_examined,
        counts: plan.counts,
        auto: plan.auto,
        review: plan.review,
        by_gtin: plan.by_method(Method::Gtin),
        by_mpn: plan.by_method(Method::Mpn),
        by_title: plan.by_method(Method::Fuzzy),
        brand_aliases: aliases.len(),
        seconds: 0.0,
        error: None,
    };
    let metrics = serde_json::json!({
        "catalog_products": report.catalog_products,
        "catalog_changed": report.catalog_changed,
        "offers_examined": report.offers_examined,
        "auto": report.auto,
        "review": report.review,
    });
    let mut run_record = record.clone();
    run_record.counts = RunCounts { read: selected.len() as u64, ..plan.counts };
    let report = MatchReport { counts: run_record.counts, ..report };
    let commit = MatchingCommit {
        upserts: plan.upserts,
        unlinked: plan.unlinked,
        examined,
        catalog_changed: changed.iter().map(|&i| (catalog.ids[i], catalog.hashes[i].clone())).collect(),
        catalog_removed: removed,
        run: run_record,
        advance: ControlAdvance { watermark: None, metrics },
    };
    Ok((commit, report))
}

/// Brands people confirmed as the same (the offer's brand and its catalog product's) become aliases.
fn learn_aliases(
    aliases: &mut BrandAliases,
    confirmed: &[MatchedOffer],
    records: &[StoredCatalogRecord],
    roles: &CatalogRoles,
) {
    let confirmed: HashMap<Uuid, &MatchedOffer> = confirmed.iter().map(|m| (m.product_match.product_id, m)).collect();
    for record in records.iter().filter(|r| confirmed.contains_key(&r.record.id)) {
        let offer = &confirmed[&record.record.id].offer;
        if let Some(brand) = offer.brand.as_deref() {
            aliases.learn(brand, &roles.product_text(record).brand);
        }
    }
}

/// Distributor products to rematch (see the module comment).
fn select(
    run: &MatchRun<'_>,
    catalog: &Catalog,
    changed: &HashSet<usize>,
    links: &HashMap<Uuid, MatchLink>,
    offers: &[Offer],
) -> HashSet<Uuid> {
    let undecided: Vec<&Offer> =
        offers.iter().filter(|o| !links.get(&o.id).is_some_and(|l| l.status.is_decided())).collect();
    if run.full {
        return undecided.iter().map(|o| o.id).collect();
    }
    let moved = |product: &Uuid| catalog.row.get(product).is_none_or(|row| changed.contains(row));
    let mut selected: HashSet<Uuid> = undecided
        .iter()
        .filter(|o| o.changed() || links.get(&o.id).is_some_and(|l| moved(&l.product_id)))
        .map(|o| o.id)
        .collect();
    let rest: Vec<&Offer> = undecided.into_iter().filter(|o| !selected.contains(&o.id)).collect();
    if changed.is_empty() || rest.is_empty() {
        return selected;
    }
    let texts: Vec<ProductText> = rest.iter().map(|o| o.text.clone()).collect();
    for i in offers_near(&catalog.texts, changed, &texts, &run.options) {
        selected.insert(rest[i].id);
    }
    selected
}

/// The `product_matches` rows of the selected distributor products: read by id when they are few
/// (an incremental run), else all at once.
async fn selected_rows(
    store: &dyn Store,
    selected: &HashSet<Uuid>,
    links: &HashMap<Uuid, MatchLink>,
) -> Result<HashMap<Uuid, ProductMatch>, StoreError> {
    let ids: Vec<Uuid> = selected.iter().filter(|id| links.contains_key(id)).copied().collect();
    let filter = if ids.len() * 4 < links.len() {
        MatchFilter { ids: Some(ids), ..MatchFilter::default() }
    } else {
        MatchFilter { active_only: true, ..MatchFilter::default() }
    };
    let rows = store.product_matches(&filter).await?.into_iter().map(|m| m.product_match);
    Ok(rows.filter(|m| selected.contains(&m.distributor_product_id)).map(|m| (m.distributor_product_id, m)).collect())
}

/// Matches one distributor's selected offers, with its rejected pairs excluded and the products
/// its other offers hold taken.
fn match_group(
    run: &MatchRun<'_>,
    catalog: &Catalog,
    links: &HashMap<Uuid, MatchLink>,
    rejected: &HashSet<(Uuid, Uuid)>,
    distributor: &str,
    ids: &[Uuid],
    texts: &[ProductText],
) -> Vec<Link> {
    let in_group: HashSet<&Uuid> = ids.iter().collect();
    let taken = links
        .values()
        .filter(|l| l.distributor == distributor && l.status.is_link() && !in_group.contains(&l.distributor_product_id))
        .filter_map(|l| catalog.row.get(&l.product_id).copied())
        .collect();
    let rejected = ids
        .iter()
        .enumerate()
        .flat_map(|(i, id)| {
            rejected
                .iter()
                .filter(move |(offer, _)| offer == id)
                .filter_map(move |(_, p)| Some((i, *catalog.row.get(p)?)))
        })
        .collect();
    let hints = MatchHints { rejected, taken, progress: run.progress };
    match_offers(&catalog.texts, texts, &run.options, &hints)
}

/// The writes of a run, built group by group.
#[derive(Default)]
struct Plan {
    upserts: Vec<ProductMatch>,
    unlinked: Vec<Uuid>,
    counts: RunCounts,
    auto: usize,
    review: usize,
    methods: HashMap<&'static str, usize>,
}

impl Plan {
    fn add(
        &mut self,
        catalog: &Catalog,
        existing: &HashMap<Uuid, ProductMatch>,
        distributor: &str,
        ids: &[Uuid],
        links: Vec<Link>,
    ) {
        let mut linked: HashMap<usize, Link> = links.into_iter().map(|l| (l.offer, l)).collect();
        let now = now_micros();
        for (i, &id) in ids.iter().enumerate() {
            let before = existing.get(&id);
            let Some(link) = linked.remove(&i) else {
                if before.is_some() {
                    self.unlinked.push(id);
                    self.counts.deactivated += 1;
                } else {
                    self.counts.unchanged += 1;
                }
                continue;
            };
            match link.status {
                Status::Auto => {
                    self.auto += 1;
                    *self.methods.entry(link.method.as_str()).or_default() += 1;
                }
                _ => self.review += 1,
            }
            let row = ProductMatch {
                distributor_product_id: id,
                distributor: distributor.to_string(),
                product_id: catalog.ids[link.product],
                score: link.score,
                method: link.method,
                status: link.status,
                evidence: rounded(serde_json::to_value(&link.evidence).expect("evidence serializes")),
                created_at: before.map_or(now, |b| b.created_at),
                updated_at: now,
                decided_at: None,
                note: None,
            };
            match before {
                Some(b) if same_result(b, &row) => self.counts.unchanged += 1,
                Some(_) => {
                    self.counts.updated += 1;
                    self.upserts.push(row);
                }
                None => {
                    self.counts.inserted += 1;
                    self.upserts.push(row);
                }
            }
        }
    }

    fn by_method(&self, method: Method) -> usize {
        self.methods.get(method.as_str()).copied().unwrap_or(0)
    }
}

/// Evidence with its figures to four decimals: readable, and free of the float noise that would
/// make an unchanged match look changed (sums of f32 weights are not associative).
fn rounded(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or_default();
            serde_json::json!((x * 10_000.0).round() / 10_000.0)
        }
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, rounded(v))).collect()),
        other => other,
    }
}

fn same_result(a: &ProductMatch, b: &ProductMatch) -> bool {
    a.product_id == b.product_id
        && a.status == b.status
        && a.method == b.method
        && (a.score - b.score).abs() < SCORE_EPSILON
        && a.evidence == b.evidence
}
