//! `catsync dev …`: stand-ins for outside services, for development and demos. `dev airtable-sim`
//! serves the local Airtable Web API simulator (`dev::airtable_sim`) until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::{Outcome, UsageError};
use crate::dev::airtable_sim::{AirtableSim, SimConfig, DEV_TOKEN, SAMPLE_BASE};

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

pub async fn run(command: &DevCommand) -> anyhow::Result<Outcome> {
    match command {
        DevCommand::AirtableSim(args) => airtable_sim(args).await,
    }
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
