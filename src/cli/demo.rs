//! `catsync demo`: the main job on embedded defaults. Imports the bundled sample feeds (four
//! distributors, four dialects) into the configured store and shows what happened.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::args::JsonArgs;
use super::import::{outcome, summary};
use super::{Outcome, Settings};
use crate::source::feed::import::{import_file, ImportOptions};
use crate::source::feed::FeedProfile;

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

/// Where the sample files are written so that errors can point at real files.
const SAMPLE_DIR: &str = "catsync-data/sample-feeds";

pub async fn run(settings: &Settings, args: &JsonArgs) -> anyhow::Result<Outcome> {
    let files = write_samples(Path::new(SAMPLE_DIR))?;
    let store = settings.open_store().await?;
    let options = ImportOptions { allow_mass_deactivate: false, progress: false };
    let mut reports = Vec::new();
    for (distributor, path) in &files {
        let profile = FeedProfile { distributor: distributor.to_string(), ..FeedProfile::default() };
        let report = import_file(store.as_ref(), &profile, path, &options).await?;
        if !args.json {
            println!("{}", summary(&report));
        }
        reports.push(report);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "files": reports }))?);
        return Ok(outcome(&reports, false));
    }
    let total: u64 = reports.iter().map(|r| r.counts.inserted + r.counts.updated + r.counts.unchanged).sum();
    println!(
        "{} products from {} distributors are in {}.\nNext: `catsync status`, `catsync errors`; run `catsync demo` again to see an unchanged re-import write nothing.",
        total,
        reports.len(),
        store.info().location
    );
    Ok(outcome(&reports, false))
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
