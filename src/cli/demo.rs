//! `catsync demo`: the main job on embedded defaults. Serves the bundled sample Airtable base from
//! the simulator, syncs it, imports the bundled sample feeds (four distributors, four dialects)
//! into the configured store, matches them to the catalog, indexes everything and runs two sample
//! searches, and shows what happened.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::args::JsonArgs;
use super::import::{outcome, summary};
use super::{init, matching, report, search, sync, Outcome, Settings};
use crate::catalog::{CatalogRoles, CatalogTable};
use crate::config::{Config, Secret};
use crate::dev::airtable_sim::{AirtableSim, SimConfig, SAMPLE_BASE};
use crate::matching::aliases::BrandAliases;
use crate::matching::run::{run_matching, MatchReport, MatchRun};
use crate::search::indexer::{run_index, CatalogSource};
use crate::search::{SearchIndex, SearchQuery, SearchResults};
use crate::source::airtable::{sync_tables, AirtableClient, RetryPolicy, SyncOptions, TableReport};
use crate::source::feed::import::{import_file, ImportOptions};
use crate::source::feed::FeedProfile;
use crate::store::Store;

/// The bundled feeds (written by samples/make_feeds.py) and the distributor each belongs to.
const SAMPLE_FEEDS: &[(&str, &str, &[u8])] = &[
    ("acme", "acme_us_comma_utf8.csv", include_bytes!("../../samples/feeds/acme_us_comma_utf8.csv")),
    (
        "nordhandel",
        "nordhandel_de_semicolon_cp1252.csv",
        include_bytes!("../../samples/feeds/nordhandel_de_semicolon_cp1252.csv"),
    ),
    ("pacific", "pacific_tab_utf16le.txt", include_bytes!("../../samples/feeds/pacific_tab_utf16le.txt")),
    ("summit", "summit_pipe.csv.gz", include_bytes!("../../samples/feeds/summit_pipe.csv.gz")),
];

/// The simulator's token for the demo; it never leaves this process.
const DEMO_TOKEN: &str = "patCATSYNCDEMO001.0000000000000000000000000000000000000000000000000000000000000000";

/// Where the sample files are written so that errors can point at real files.
const SAMPLE_DIR: &str = "catsync-data/sample-feeds";

/// The config of the sample base, for `catsync --config … matches` after the demo.
const DEMO_CONFIG: &str = "catsync-data/demo.toml";

/// Where the demo writes its HTML report.
const DEMO_REPORT: &str = "catsync-data/report.html";

pub async fn run(settings: &Settings, args: &JsonArgs) -> anyhow::Result<Outcome> {
    let files = write_samples(Path::new(SAMPLE_DIR))?;
    let store = settings.open_store().await?;
    let (tables, config) = sync_sample_base(store.as_ref()).await?;
    if !args.json {
        tables.iter().for_each(|t| println!("{}", sync::summary(t)));
    }
    let options = ImportOptions { allow_mass_deactivate: false, progress: false };
    let mut reports = Vec::new();
    for (distributor, path) in &files {
        let profile = FeedProfile::auto(distributor);
        let report = import_file(store.as_ref(), &profile, path, &options).await?;
        if !args.json {
            println!("{}", summary(&report));
        }
        reports.push(report);
    }
    let result = match (outcome(&reports, false), sync::outcome(&tables, false)) {
        (Outcome::Completed, other) => other,
        (failed, _) => failed,
    };
    let (table, roles) = sample_catalog(store.as_ref(), &config).await?;
    let matching = match_samples(store.as_ref(), &config, &table, &roles).await?;
    let index = settings.open_search().await?;
    let indexed = run_index(&*store, &*index, Some(CatalogSource { table: &table, roles: &roles }), false).await?;
    let searches = sample_searches(&*index, store.as_ref(), &table, &roles).await?;
    let report_path = report::write(&*store, Path::new(DEMO_REPORT)).await?;
    if args.json {
        let searches: Vec<_> = searches.iter().map(|(q, r)| serde_json::json!({ "query": q, "results": r })).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "tables": tables, "files": reports, "matching": matching, "index": indexed, "searches": searches,
                "report": report_path
            }))?
        );
        return Ok(result);
    }
    print!("{}", matching::summary(&matching));
    print!("{}", search::summary(&indexed, &index.location()));
    for (query, results) in &searches {
        print!("\ncatsync search {query:?}\n{}", search::hits_table(results));
    }
    let total: u64 = reports.iter().map(|r| r.counts.inserted + r.counts.updated + r.counts.unchanged).sum();
    let records: u64 = tables.iter().map(|t| t.counts.read).sum();
    println!(
        "\n{records} Airtable records from {} tables and {total} products from {} distributors are in {}.\nNext: `catsync status`, `catsync errors`, `catsync --config {DEMO_CONFIG} matches --status review`; run `catsync demo` again to see an incremental sync and an unchanged re-import write nothing.",
        tables.len(),
        reports.len(),
        store.info().location
    );
    println!(
        "The report is in {} (open it in a browser). For the live dashboard: `catsync --config {DEMO_CONFIG} serve`, then open http://{}/",
        report_path.display(),
        crate::web::DEFAULT_LISTEN
    );
    Ok(result)
}

/// The sample catalog table and its `[catalog]` roles.
async fn sample_catalog(store: &dyn Store, config: &Config) -> anyhow::Result<(CatalogTable, CatalogRoles)> {
    let section = config.catalog.as_ref().context("the demo config has a [catalog] section")?;
    crate::web::view::catalog(store, section).await?.context("the demo synced the catalog table")
}

/// A word query and an exact GTIN (the first catalog product's that has one), as a user would type them.
async fn sample_searches(
    index: &dyn SearchIndex,
    store: &dyn Store,
    table: &CatalogTable,
    roles: &CatalogRoles,
) -> anyhow::Result<Vec<(String, SearchResults)>> {
    let records = store.catalog_records(table).await?;
    let gtin = records.iter().map(|r| roles.product_text(r).gtin).find(|g| !g.is_empty()).unwrap_or_default();
    let mut out = Vec::new();
    for text in ["nvme ssd".to_string(), gtin] {
        let query = SearchQuery { text: text.clone(), limit: 3, ..SearchQuery::default() };
        out.push((text, index.search(&query).await?));
    }
    Ok(out)
}

/// Links the sample feeds' products to the sample catalog with the config's `[catalog]` roles.
async fn match_samples(
    store: &dyn Store,
    config: &Config,
    table: &CatalogTable,
    roles: &CatalogRoles,
) -> anyhow::Result<MatchReport> {
    let run = MatchRun {
        table,
        roles,
        options: config.matching.options(),
        aliases: BrandAliases::from_groups(&config.matching.brand_aliases),
        full: false,
        progress: None,
    };
    Ok(run_matching(store, run).await?)
}

/// Serves the bundled base from the simulator on a free local port, at Airtable's real rate
/// limits, and syncs every table of it with the config `catsync init` would write; that config is
/// saved for the commands that read it after the demo.
async fn sync_sample_base(store: &dyn Store) -> anyhow::Result<(Vec<TableReport>, Config)> {
    let sim = AirtableSim::new(SimConfig::default());
    let base = sim.load_base(&serde_json::from_str(SAMPLE_BASE)?)?;
    sim.add_token(DEMO_TOKEN, &["data.records:read", "schema.bases:read"], None);
    let server = sim.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let client = AirtableClient::new(&server.url(), Secret::new(DEMO_TOKEN), RetryPolicy::default());
    let schema = client.base_schema(&base).await?;
    // The simulator's token opens nothing once the demo ends, so the saved config may hold it.
    let text = init::config_text(&base, &server.url(), &schema).replace("${AIRTABLE_TOKEN}", DEMO_TOKEN);
    std::fs::write(DEMO_CONFIG, &text).with_context(|| format!("writing {DEMO_CONFIG}"))?;
    let config = Config::parse(&text, Path::new(DEMO_CONFIG))?;
    let tables: Vec<_> = config.airtable.iter().flat_map(|a| &a.tables).collect();
    let reports = sync_tables(store, &client, &tables, SyncOptions::default()).await?;
    Ok((reports, config))
}

fn write_samples(dir: &Path) -> anyhow::Result<Vec<(&'static str, PathBuf)>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    SAMPLE_FEEDS
        .iter()
        .map(|(distributor, name, bytes)| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
            Ok((*distributor, path))
        })
        .collect()
}
