//! `catsync match`: a matching run over the store; `catsync match eval`: the matcher on two CSV
//! files, scored against a file of true pairs; `catsync match evidence`: what it sees in listed pairs.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use super::display::{duration, thousands};
use super::{under_leases, Outcome, Settings, UsageError};
use crate::catalog::CatalogRoles;
use crate::catalog::CatalogTable;
use crate::control::lease::MATCH_JOB;
use crate::matching::aliases::BrandAliases;
use crate::matching::eval::{evaluate, pair_evidence, read_pairs, read_products, read_truth, ColumnMap, EvalError};
use crate::matching::run::{run_matching, MatchReport, MatchRun};
use crate::matching::{Link, MatchOptions, ProductText};
use crate::store::Store;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MatchArgs {
    #[command(subcommand)]
    pub command: Option<MatchCommand>,
    /// Rematch every active distributor product, not only new and changed ones.
    #[arg(long)]
    pub full: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum MatchCommand {
    /// Match two CSV files and print precision, recall and F1 against a file of true pairs.
    #[command(after_help = "\
Examples:
  catsync match eval --catalog catalog.csv --offers feed.csv --truth pairs.csv
  catsync match eval --catalog walmart.csv --offers amazon.csv --truth gt.csv --columns mpn=modelno,gtin= --json

Files may be comma, semicolon, tab or | separated. Columns default to id, title, brand, mpn, gtin
and price; --columns FIELD=HEADER renames them for both files (an empty HEADER: the files have no
such column). The truth file lists catalog id, offer id per line after a header. Only automatic
links count as answers; review cases are reported separately.")]
    Eval(EvalArgs),
    /// Print what the matcher sees in each listed pair: its evidence, match weight and whether
    /// blocking proposes it.
    #[command(after_help = "\
Examples:
  catsync match evidence --catalog catalog.csv --offers feed.csv --pairs labelled.csv
  catsync match evidence --catalog walmart.csv --offers amazon.csv --pairs train.csv --columns mpn=modelno,gtin= --out train.jsonl

One JSON line per pair, in the order of the pairs file: catalog_id, offer_id, label, candidate,
weight, score, levels and evidence. The pairs file lists catalog id, offer id and optionally a
label (1/0 or true/false) per line after a header, so labelled pairs can be read back to fit
weights (bench/fit_weights.py) or to see why a pair was not linked.")]
    Evidence(EvidenceArgs),
}

#[derive(Debug, Args)]
pub struct EvidenceArgs {
    /// Catalog products.
    #[arg(long)]
    pub catalog: PathBuf,
    /// Offers (a distributor feed).
    #[arg(long)]
    pub offers: PathBuf,
    /// Pairs: catalog id, offer id, optional label.
    #[arg(long)]
    pub pairs: PathBuf,
    /// Column names, as FIELD=HEADER pairs separated by commas.
    #[arg(long, default_value = "")]
    pub columns: String,
    /// Write the lines to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Catalog products (the side each offer links to).
    #[arg(long)]
    pub catalog: PathBuf,
    /// Offers (a distributor feed).
    #[arg(long)]
    pub offers: PathBuf,
    /// True pairs: catalog id, offer id.
    #[arg(long)]
    pub truth: PathBuf,
    /// Column names, as FIELD=HEADER pairs separated by commas.
    #[arg(long, default_value = "")]
    pub columns: String,
    /// Score from which a link is made without review.
    #[arg(long, default_value_t = MatchOptions::default().auto_accept)]
    pub auto_accept: f64,
    /// Score from which a candidate is queued for review.
    #[arg(long, default_value_t = MatchOptions::default().review)]
    pub review: f64,
    /// Estimate the feature weights from the feeds (Fellegi-Sunter with EM) instead of using the
    /// hand-set weights.
    #[arg(long)]
    pub estimate_weights: bool,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write every link and review case, with its evidence, to this file (JSON lines).
    #[arg(long)]
    pub links: Option<PathBuf>,
}

pub async fn run(settings: &Settings, args: &MatchArgs) -> anyhow::Result<Outcome> {
    match &args.command {
        Some(MatchCommand::Eval(eval)) => return run_eval(eval).await,
        Some(MatchCommand::Evidence(evidence)) => return run_evidence(evidence).await,
        None => {}
    }
    let store = settings.open_store().await?;
    let report = under_leases(&settings.job_leases(store), &[MATCH_JOB.to_string()], |store| async move {
        match_once(settings, &*store, args.full, !settings.quiet && !args.json).await
    })
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", summary(&report));
    }
    Ok(Outcome::Completed)
}

/// One matching run over the store (a progress bar on a terminal when `progress`).
pub(crate) async fn match_once(
    settings: &Settings,
    store: &dyn Store,
    full: bool,
    progress: bool,
) -> anyhow::Result<MatchReport> {
    let (table, roles) = catalog(settings, store).await?;
    let counter = Arc::new(AtomicUsize::new(0));
    let bar = progress_bar(progress, counter.clone());
    let run = MatchRun {
        table: &table,
        roles: &roles,
        options: settings.config.matching.options(),
        aliases: BrandAliases::from_groups(&settings.config.matching.brand_aliases),
        full,
        progress: Some(&counter),
    };
    let report = run_matching(store, run).await;
    bar.finish_and_clear();
    Ok(report?)
}

/// The `[catalog]` table as stored and its roles, or a usage error saying what is missing.
pub(crate) async fn catalog(settings: &Settings, store: &dyn Store) -> anyhow::Result<(CatalogTable, CatalogRoles)> {
    let section = settings.config.catalog.as_ref().ok_or_else(|| {
        UsageError(
            "no [catalog] section in the config: name the store table of the product catalog and its title, gtin, mpn and brand columns (catsync init writes one)".into(),
        )
    })?;
    let name = section.table.get_ref();
    crate::web::view::catalog(store, section).await?.ok_or_else(|| {
        UsageError(format!("the catalog table {name:?} is not in the store yet: run `catsync sync` first")).into()
    })
}

fn progress_bar(enabled: bool, counter: Arc<AtomicUsize>) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} matching: {msg} distributor products scored ({elapsed})")
            .expect("the template is valid"),
    );
    let ticker = bar.clone();
    tokio::spawn(async move {
        while !ticker.is_finished() {
            ticker.set_message(thousands(counter.load(Ordering::Relaxed) as u64));
            ticker.tick();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    bar
}

pub(crate) fn summary(r: &MatchReport) -> String {
    let c = &r.counts;
    let mode = if r.full { "full" } else { "incremental" };
    format!(
        "matching ({mode}): {} distributor products examined against {} catalog products ({} changed) in {}\n  \
         links      {} automatic ({} by GTIN, {} by part number, {} by title), {} for review\n  \
         rows       {} new, {} changed, {} unchanged, {} removed\n  \
         review     catsync matches --status review\n",
        thousands(r.offers_examined as u64),
        thousands(r.catalog_products as u64),
        thousands(r.catalog_changed as u64),
        duration(r.seconds),
        thousands(r.auto as u64),
        thousands(r.by_gtin as u64),
        thousands(r.by_mpn as u64),
        thousands(r.by_title as u64),
        thousands(r.review as u64),
        thousands(c.inserted),
        thousands(c.updated),
        thousands(c.unchanged),
        thousands(c.deactivated),
    )
}

/// A bad `--columns` or a missing column is a usage error (exit 2); the rest is the run's.
fn usage(e: EvalError) -> anyhow::Error {
    match e {
        EvalError::Columns(_) | EvalError::MissingColumn { .. } => anyhow::Error::new(UsageError(e.to_string())),
        other => anyhow::Error::new(other),
    }
}

/// Both products files, read with the `--columns` mapping.
fn read_sides(columns: &str, catalog: &Path, offers: &Path) -> anyhow::Result<(Vec<ProductText>, Vec<ProductText>)> {
    let columns = ColumnMap::default().with_overrides(columns).map_err(usage)?;
    Ok((read_products(catalog, &columns).map_err(usage)?, read_products(offers, &columns).map_err(usage)?))
}

async fn run_evidence(args: &EvidenceArgs) -> anyhow::Result<Outcome> {
    let (catalog, offers) = read_sides(&args.columns, &args.catalog, &args.offers)?;
    let pairs = read_pairs(&args.pairs).map_err(usage)?;
    let file = args.pairs.clone();
    let evidence =
        tokio::task::spawn_blocking(move || pair_evidence(&catalog, &offers, &pairs, &file, &MatchOptions::default()))
            .await?
            .map_err(usage)?;
    match &args.out {
        Some(path) => write_json_file(path, &evidence).with_context(|| format!("cannot write {}", path.display()))?,
        None => write_json_lines(&mut std::io::stdout().lock(), &evidence)?,
    }
    Ok(Outcome::Completed)
}

async fn run_eval(args: &EvalArgs) -> anyhow::Result<Outcome> {
    let (catalog, offers) = read_sides(&args.columns, &args.catalog, &args.offers)?;
    let truth = read_truth(&args.truth).map_err(usage)?;
    let options = MatchOptions {
        auto_accept: args.auto_accept,
        review: args.review,
        estimate_weights: args.estimate_weights,
        ..MatchOptions::default()
    };
    let (catalog, offers, (report, links)) = tokio::task::spawn_blocking(move || {
        let evaluated = evaluate(&catalog, &offers, &truth, &options);
        (catalog, offers, evaluated)
    })
    .await?;
    if let Some(path) = &args.links {
        write_links(path, &catalog, &offers, &links).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} catalog products, {} offers, {} true pairs: {} links ({} by GTIN, {} by part number, {} by title), {} for review, in {:.1} s",
            report.catalog, report.offers, report.true_pairs, report.links, report.links_by_gtin, report.links_by_mpn,
            report.links_by_title, report.review, report.seconds
        );
        println!("precision {:.3}  recall {:.3}  F1 {:.3}", report.precision, report.recall, report.f1);
    }
    Ok(Outcome::Completed)
}

/// One link as a line of `--links`: the ids of both sides instead of row numbers.
#[derive(Serialize)]
struct LinkLine<'a> {
    catalog_id: &'a str,
    offer_id: &'a str,
    #[serde(flatten)]
    link: &'a Link,
}

fn write_links(path: &Path, catalog: &[ProductText], offers: &[ProductText], links: &[Link]) -> anyhow::Result<()> {
    let lines = links.iter().map(|link| LinkLine {
        catalog_id: &catalog[link.product].id,
        offer_id: &offers[link.offer].id,
        link,
    });
    write_json_file(path, lines)
}

/// One JSON object per line, then a flush.
fn write_json_lines<T: Serialize>(out: &mut dyn Write, lines: impl IntoIterator<Item = T>) -> anyhow::Result<()> {
    for line in lines {
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(out.flush()?)
}

/// `write_json_lines` into a new file at `path`.
fn write_json_file<T: Serialize>(path: &Path, lines: impl IntoIterator<Item = T>) -> anyhow::Result<()> {
    write_json_lines(&mut std::io::BufWriter::new(std::fs::File::create(path)?), lines)
}
