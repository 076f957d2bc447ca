//! `catsync dev …`: stand-ins for outside services, for development and demos. `dev airtable-sim`
//! serves the local Airtable Web API simulator (`dev::airtable_sim`) until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::{Outcome, Settings, UsageError};
use crate::dev::airtable_sim::{AirtableSim, SimConfig, DEV_TOKEN, SAMPLE_BASE};
use crate::search::SearchQuery;

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Serve a local Airtable Web API simulator (records and metadata, read-only) until Ctrl-C.
    #[command(after_help = "\
Examples:
  catsync dev airtable-sim
  catsync dev airtable-sim --base my-base.json --listen 127.0.0.1:9000 --penalty-seconds 2

Point an Airtable client at the printed URL instead of https://api.airtable.com and send the
printed token as `Authorization: Bearer <token>`. The token may read every base, with the scopes
data.records:read and schema.bases:read. The default base is the bundled sample catalog
(samples/airtable/catalog-base.json): Brands, Suppliers and 150 Products.")]
    AirtableSim(AirtableSimArgs),
    /// Run a file of search queries against the configured index, one at a time, and print the
    /// latency figures (for bench/search_bench.py).
    #[command(after_help = "\
Examples:
  catsync dev query-latency --queries queries.txt
  catsync --search tantivy://bench/index dev query-latency --queries queries.txt --limit 20

One query per line. The index is opened once; each query's time is measured from the call to the
ranked results with facets, as `catsync search` and the dashboard ask for them.")]
    QueryLatency(QueryLatencyArgs),
}

#[derive(Debug, Args)]
pub struct QueryLatencyArgs {
    /// File of queries, one per line.
    #[arg(long)]
    pub queries: PathBuf,
    /// Results per query.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct AirtableSimArgs {
    /// A base fixture: the base schema with a `records` list per table (repeatable)
    /// [default: the bundled sample base].
    #[arg(long = "base", value_name = "FILE")]
    pub bases: Vec<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8479")]
    pub listen: SocketAddr,
    /// The bearer token the simulator accepts.
    #[arg(long, default_value = DEV_TOKEN)]
    pub token: String,
    /// How long a base or token gets 429 after going over its rate limit.
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub penalty_seconds: u64,
}

pub async fn run(settings: &Settings, command: &DevCommand) -> anyhow::Result<Outcome> {
    match command {
        DevCommand::AirtableSim(args) => airtable_sim(args).await,
        DevCommand::QueryLatency(args) => query_latency(settings, args).await,
    }
}

async fn query_latency(settings: &Settings, args: &QueryLatencyArgs) -> anyhow::Result<Outcome> {
    let text = std::fs::read_to_string(&args.queries).with_context(|| format!("reading {}", args.queries.display()))?;
    let queries: Vec<&str> = text.lines().map(str::trim).filter(|q| !q.is_empty()).collect();
    if queries.is_empty() {
        return Err(UsageError(format!("{} holds no queries", args.queries.display())).into());
    }
    let index = settings.open_search().await?;
    let mut millis = Vec::with_capacity(queries.len());
    let mut hits = 0u64;
    for q in &queries {
        let query = SearchQuery { text: (*q).to_string(), limit: args.limit, ..SearchQuery::default() };
        let started = std::time::Instant::now();
        hits += index.search(&query).await?.total.min(1);
        millis.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    millis.sort_by(f64::total_cmp);
    let at = |p: f64| millis[((millis.len() as f64 * p).ceil() as usize).clamp(1, millis.len()) - 1];
    let figures = serde_json::json!({
        "queries": millis.len(), "with_hits": hits, "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": at(1.0)
    });
    println!("{figures}");
    Ok(Outcome::Completed)
}

async fn airtable_sim(args: &AirtableSimArgs) -> anyhow::Result<Outcome> {
    let config = SimConfig { penalty: Duration::from_secs(args.penalty_seconds), ..SimConfig::default() };
    let sim = AirtableSim::new(config);
    let mut bases = Vec::new();
    if args.bases.is_empty() {
        let sample = serde_json::from_str(SAMPLE_BASE).context("reading the bundled sample base")?;
        bases.push(sim.load_base(&sample).context("loading the bundled sample base")?);
    }
    for path in &args.bases {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let fixture = serde_json::from_str(&text)
            .map_err(|e| UsageError(format!("{}: not a JSON base fixture: {e}", path.display())))?;
        bases.push(sim.load_base(&fixture).map_err(|e| UsageError(format!("{}: {e}", path.display())))?);
    }
    sim.add_token(&args.token, &["data.records:read", "schema.bases:read"], None);
    let server = sim.serve(args.listen).await.with_context(|| format!("listening on {}", args.listen))?;
    println!("url: {}", server.url());
    println!("token: {}", args.token);
    println!("bases: {}", bases.join(", "));
    println!("Serving the Airtable simulator until Ctrl-C.");
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    server.shutdown().await.context("stopping the simulator")?;
    Ok(Outcome::Completed)
}
