//! `catsync match eval`: the matcher on two CSV files, scored against a file of true pairs.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;

use super::{Outcome, UsageError};
use crate::matching::eval::{evaluate, read_products, read_truth, ColumnMap, EvalError};
use crate::matching::{Link, MatchOptions, ProductText};

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

pub async fn run(command: &MatchCommand) -> anyhow::Result<Outcome> {
    let MatchCommand::Eval(args) = command;
    let usage = |e: EvalError| match e {
        EvalError::Columns(_) | EvalError::MissingColumn { .. } => anyhow::Error::new(UsageError(e.to_string())),
        other => anyhow::Error::new(other),
    };
    let columns = ColumnMap::default().with_overrides(&args.columns).map_err(usage)?;
    let catalog = read_products(&args.catalog, &columns).map_err(usage)?;
    let offers = read_products(&args.offers, &columns).map_err(usage)?;
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
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for link in links {
        let line = LinkLine { catalog_id: &catalog[link.product].id, offer_id: &offers[link.offer].id, link };
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(out.flush()?)
}
