//! `catsync index` (the store's outbox into the search index) and `catsync search`.

use clap::Args;

use super::display::{duration, table, thousands};
use super::{under_leases, Outcome, Settings, UsageError};
use crate::catalog::CatalogRoles;
use crate::control::lease::INDEX_JOB;
use crate::search::indexer::{run_index, CatalogSource, IndexReport};
use crate::search::{SearchHit, SearchIndex, SearchQuery, SearchResults};
use crate::store::Store;

#[derive(Debug, Args)]
pub struct IndexArgs {
    /// Rebuild the whole index beside the live one and switch to it when it is complete.
    #[arg(long)]
    pub full: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words, or an exact GTIN, SKU or part number.
    pub query: String,
    /// How many results.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// Only this brand.
    #[arg(long)]
    pub brand: Option<String>,
    /// Only products this distributor offers.
    #[arg(long)]
    pub distributor: Option<String>,
    /// Only products with stock.
    #[arg(long)]
    pub in_stock: bool,
    /// Lowest price range, MIN..MAX (either side may be left out: 10.., ..99.5).
    #[arg(long, value_parser = parse_price_range)]
    pub price: Option<(Option<f64>, Option<f64>)>,
    /// Print as JSON, facets included.
    #[arg(long)]
    pub json: bool,
}

fn parse_price_range(s: &str) -> Result<(Option<f64>, Option<f64>), String> {
    let (min, max) = s.split_once("..").ok_or_else(|| format!("{s:?} is not MIN..MAX (for example 10..99.5)"))?;
    let bound = |b: &str| -> Result<Option<f64>, String> {
        let b = b.trim();
        if b.is_empty() {
            return Ok(None);
        }
        b.parse::<f64>().map(Some).map_err(|_| format!("{b:?} in --price {s:?} is not a number"))
    };
    Ok((bound(min)?, bound(max)?))
}

pub async fn index(settings: &Settings, args: &IndexArgs) -> anyhow::Result<Outcome> {
    let store = settings.open_store().await?;
    let index = settings.open_search().await?;
    let index_ref = &*index;
    let report = under_leases(&settings.job_leases(store), &[INDEX_JOB.to_string()], |store| async move {
        index_once(settings, &*store, index_ref, args.full).await
    })
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", summary(&report, &index.location()));
    }
    Ok(if report.failed > 0 { Outcome::Rejected } else { Outcome::Completed })
}

/// One index run: the outbox (or, with `full`, the whole store) into the search index.
pub(crate) async fn index_once(
    settings: &Settings,
    store: &dyn Store,
    index: &dyn SearchIndex,
    full: bool,
) -> anyhow::Result<IndexReport> {
    let catalog = match &settings.config.catalog {
        Some(section) => store.catalog_table(section.table.get_ref()).await?.map(|t| {
            let roles = CatalogRoles::new(section, &t);
            (t, roles)
        }),
        None => None,
    };
    let source = catalog.as_ref().map(|(table, roles)| CatalogSource { table, roles });
    Ok(run_index(store, index, source, full).await?)
}

pub(crate) fn summary(r: &IndexReport, location: &str) -> String {
    let mode = if r.full { "full rebuild" } else { "incremental" };
    let mut out = format!(
        "index ({mode}) → {location}: {} documents written, {} removed, {} refused, from {} outbox entries in {}\n  \
         index      {} documents; {} outbox entries left\n",
        thousands(r.upserted),
        thousands(r.deleted),
        thousands(r.failed),
        thousands(r.entries),
        duration(r.seconds),
        thousands(r.documents),
        thousands(r.outbox_left),
    );
    if r.failed > 0 {
        out.push_str("  refused    see catsync errors\n");
    }
    out
}

pub async fn search(settings: &Settings, args: &SearchArgs) -> anyhow::Result<Outcome> {
    if args.limit == 0 {
        return Err(UsageError("--limit must be at least 1".into()).into());
    }
    let index = settings.open_search().await?;
    let (min_price, max_price) = args.price.unwrap_or_default();
    let query = SearchQuery {
        text: args.query.clone(),
        limit: args.limit,
        brand: args.brand.clone(),
        distributor: args.distributor.clone(),
        in_stock: args.in_stock,
        min_price,
        max_price,
    };
    let results = index.search(&query).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        print!("{}", hits_table(&results));
    }
    Ok(Outcome::Completed)
}

pub(crate) fn hits_table(results: &SearchResults) -> String {
    if results.results.is_empty() {
        return "no products found\n".into();
    }
    let money = |p: Option<f64>| p.map(|p| format!("{p:.2}")).unwrap_or_default();
    let rows: Vec<Vec<String>> = results
        .results
        .iter()
        .map(|h: &SearchHit| {
            vec![
                h.title.clone(),
                h.brand.clone().unwrap_or_default(),
                money(h.lowest_price),
                h.total_stock.to_string(),
                h.offers.len().to_string(),
                h.why.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut out = format!("{} of {} products\n", results.results.len(), thousands(results.total));
    out.push_str(&table(&["title", "brand", "lowest price", "stock", "offers", "why"], &rows));
    out
}
