//! The command line: every command, flag and example. Parsing only; `cli::run` validates and acts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::dev::DevCommand;
use super::matches::MatchesArgs;
use super::matching::MatchArgs;
use super::search::{IndexArgs, SearchArgs};
use crate::source::feed::FeedMode;

const EXAMPLES: &str = "\
Examples:
  catsync demo                                  sync a simulated Airtable base and import sample feeds
  catsync init --airtable-base appXXXXXXXXXXXXXX  write catsync.toml from an Airtable base's schema
  catsync sync                                  sync every configured Airtable table (incremental)
  catsync import acme.csv --distributor acme    import one distributor feed
  catsync status                                where every source stands
  catsync errors --limit 20                     the latest rejected rows, with file, line and column
  catsync --store postgres://postgres@127.0.0.1:5432/catalog check

Exit codes: 0 done (rejected rows are counted, not fatal), 1 a run failed, 2 usage or configuration
error, 3 rows were rejected and --strict was given.";

/// Keeps a product catalog in sync between Airtable, distributor feeds, a SQL store and a search index.
#[derive(Debug, Parser)]
#[command(name = "catsync", version, after_help = EXAMPLES)]
pub struct Cli {
    /// Configuration file [default: ./catsync.toml when present].
    #[arg(long, global = true, env = "CATSYNC_CONFIG", hide_env_values = true)]
    pub config: Option<PathBuf>,
    /// Store URL: sqlite://PATH, postgres://… or postgresql://… (CockroachDB too)
    /// [default: sqlite://catsync-data/catsync.db].
    #[arg(long, global = true, env = "CATSYNC_STORE", hide_env_values = true)]
    pub store: Option<String>,
    /// Search index URL: tantivy://PATH or http(s)://… [default: tantivy://catsync-data/index].
    #[arg(long, global = true, env = "CATSYNC_SEARCH", hide_env_values = true)]
    pub search: Option<String>,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr; no progress bar.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log lines as text for people, or as JSON objects (one per line) for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import distributor feed files into the store.
    #[command(after_help = "\
Examples:
  catsync import inbox/acme/2026-11-27.csv --distributor acme
  catsync import feed.csv.gz --distributor acme --mode delta --json
  catsync import truncated.csv --distributor acme --allow-mass-deactivate

Each file is one run: it commits whole (rows, rejects, run record, watermark) or not at all.
In full mode (the default) SKUs missing from the file become inactive; more than 20% of the
distributor's active SKUs is refused unless --allow-mass-deactivate.")]
    Import(ImportArgs),
    /// Sync the configured Airtable tables into the store (incremental by default).
    #[command(after_help = "\
Examples:
  catsync sync                          every table; only records modified since the last run
  catsync sync --table products --full  list every record of one table again
  catsync sync --reconcile --json       also look for records deleted in Airtable now

Deleted records are found by a reconcile (an id-only listing) every reconcile_every runs, on
--reconcile, and on every full sync; their rows get deleted_at. A reconcile that would delete more
than 20% of a table is refused unless --allow-mass-delete.")]
    Sync(SyncArgs),
    /// Write a catsync.toml for an Airtable base: every table, every field, typed columns.
    #[command(after_help = "\
Examples:
  AIRTABLE_TOKEN=pat… catsync init --airtable-base appXXXXXXXXXXXXXX
  catsync init --airtable-base appXXXXXXXXXXXXXX --out catalog.toml --force

The token is read from AIRTABLE_TOKEN (or [airtable] token of an existing config) and written to
the file as ${AIRTABLE_TOKEN}, never in clear.")]
    Init(InitArgs),
    /// Show where each source stands: last sync, watermark, totals, error rate, last run, outbox.
    #[command(after_help = "Examples:\n  catsync status\n  catsync status --json\n\n\
Error rates above 1% are yellow and above 5% red when the output is a terminal.")]
    Status(JsonArgs),
    /// List runs, newest first.
    #[command(after_help = "Examples:\n  catsync runs\n  catsync runs --source distributor:acme --limit 5 --json")]
    Runs(RunsArgs),
    /// Write the HTML report: status, runs over time, errors, slowest runs, match quality, index freshness.
    #[command(after_help = "Examples:\n  catsync report --html report.html\n\n\
One self-contained file (inline CSS and SVG charts, no scripts, no external requests).")]
    Report(ReportArgs),
    /// Serve the live dashboard, the JSON API and /metrics.
    #[command(after_help = "\
Examples:
  catsync serve                         http://127.0.0.1:8080/
  CATSYNC_TOKEN=… catsync serve --listen 0.0.0.0:8080

Routes: / /runs /errors /matches?status=review /search?q= /metrics /healthz and /api/status,
/api/runs, /api/errors, /api/matches, /api/search. Listening off loopback needs [serve] token.")]
    Serve(ServeArgs),
    /// List rejected rows and warnings, newest first, with their raw data.
    #[command(after_help = "Examples:\n  catsync errors\n  catsync errors --limit 200 --json")]
    Errors(ErrorsArgs),
    /// Import the bundled sample feeds into the configured store (embedded SQLite by default).
    #[command(
        after_help = "Examples:\n  catsync demo\n  catsync --store postgres://postgres@127.0.0.1:5432/test demo"
    )]
    Demo(JsonArgs),
    /// Validate the configuration, connect to the store (creating or migrating its schema) and
    /// compare the config with the Airtable schema (fields renamed, added or removed).
    #[command(after_help = "Examples:\n  catsync check\n  catsync --config prod.toml check")]
    Check,
    /// Link distributor products to catalog products (incremental by default); `catsync match
    /// eval` measures the matcher on labelled CSV files.
    #[command(after_help = "\
Examples:
  catsync match                 match new and changed distributor products
  catsync match --full --json   rematch everything, print the summary as JSON
  catsync match eval --catalog catalog.csv --offers feed.csv --truth pairs.csv

Scores from [matching] auto_accept (0.9) link automatically; from review (0.5) they wait in the
review queue (catsync matches --status review). Confirmed and rejected matches are never changed
by a run, and a rejected pair is never proposed again.")]
    Match(MatchArgs),
    /// List product matches and the review queue; confirm, reject or reset them.
    #[command(after_help = "\
Examples:
  catsync matches --status review                 the review queue, best score first
  catsync matches confirm 0f8e…  acme:SKU-123       confirm the proposed links
  catsync matches confirm acme:SKU-9 --product recXXXXXXXXXXXXXX   link by hand
  catsync matches reject acme:SKU-123 --note \"other voltage\"
  catsync matches reset acme:SKU-123              forget the decision; rematch on the next run

A distributor product is named by its id (the first column) or as DISTRIBUTOR:SKU.")]
    Matches(MatchesArgs),
    /// Bring the search index up to date with the store (incremental, through the outbox).
    #[command(after_help = "\
Examples:
  catsync index                 send the documents the store changed since the last run
  catsync index --full --json   rebuild the whole index beside the live one, then switch

Every store write records the rows it changed in an outbox in the same transaction; entries are
removed only after the index accepted their documents, so a killed run sends some documents
twice and never misses one. Exit status 3 when the index refused documents (see catsync errors).")]
    Index(IndexArgs),
    /// Search the product index.
    #[command(after_help = "\
Examples:
  catsync search \"cordless drill\"
  catsync search 0088256000021                  an exact GTIN, SKU or part number comes first
  catsync search drill --brand Bosch --in-stock --price 50..150 --json")]
    Search(SearchArgs),
    /// One whole cycle: Airtable sync, new inbox files of every distributor, match, index, retention.
    #[command(after_help = "\
Examples:
  catsync run                   one cycle, a summary table at the end
  catsync run --json            the summary as JSON

Each job works under its lease (airtable:<table>, feed:<distributor>, match, index): a job another
worker holds is skipped. A failed step does not stop the steps after it; the exit status is 1 when
any step failed. Inbox files are imported once each (by name and content); a file whose import
failed is tried again next cycle.")]
    Run(RunArgs),
    /// Run cycles until SIGINT or SIGTERM; then finish the current step and exit 0.
    #[command(after_help = "\
Examples:
  catsync watch --every 5m
  catsync watch                 every [schedule] every of catsync.toml

Several watch processes (on one machine or many) can share one store: each job runs in one of
them at a time, and the job of a worker that died is taken over once its lease expires.")]
    Watch(WatchArgs),
    /// Import rejected feed rows again from their raw records, after a config or mapping fix.
    #[command(after_help = "\
Examples:
  catsync retry                              every unresolved rejected row (up to --limit)
  catsync retry --source distributor:acme --limit 500
  catsync retry --id 6f1c…

Rows that import now get their error resolved with a note; rows rejected again keep their old
error (resolved as superseded, naming the new one) and a new error with the new reason.")]
    Retry(RetryArgs),
    /// Development tools: local stand-ins for outside services (catsync dev airtable-sim).
    #[command(
        after_help = "Examples:\n  catsync dev airtable-sim\n  catsync dev airtable-sim --base bench-base.json --listen 127.0.0.1:0"
    )]
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Feed files (CSV/TSV/TXT, optionally .gz).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Distributor the files belong to (its [[distributors]] entry gives the column mapping).
    #[arg(long, short)]
    pub distributor: String,
    /// full: the file is the whole catalog; delta: only changed rows [default: from config, else full].
    #[arg(long, value_enum)]
    pub mode: Option<FeedMode>,
    /// Deactivate even when more than 20% of the distributor's active SKUs are missing.
    #[arg(long)]
    pub allow_mass_deactivate: bool,
    /// Exit with status 3 when any row was rejected.
    #[arg(long)]
    pub strict: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Only this table (its `into` store table name, or its Airtable table name or id); repeatable.
    #[arg(long)]
    pub table: Vec<String>,
    /// List every record, not only those modified since the last run (also finds deletions).
    #[arg(long)]
    pub full: bool,
    /// Look for records deleted in Airtable in this run.
    #[arg(long)]
    pub reconcile: bool,
    /// Soft-delete even when more than 20% of a table's records are missing from Airtable.
    #[arg(long)]
    pub allow_mass_delete: bool,
    /// Exit with status 3 when any value was rejected.
    #[arg(long)]
    pub strict: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The base to describe (app…).
    #[arg(long)]
    pub airtable_base: String,
    /// Airtable API URL [default: [airtable] api_url, else https://api.airtable.com].
    #[arg(long, env = "AIRTABLE_API_URL")]
    pub airtable_url: Option<String>,
    /// Where to write the config.
    #[arg(long, default_value = "catsync.toml")]
    pub out: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct JsonArgs {
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ErrorsArgs {
    /// Print as JSON, raw records included.
    #[arg(long)]
    pub json: bool,
    /// How many errors to show.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only this source (distributor:acme, a catalog table's source, matching, index).
    #[arg(long)]
    pub source: Option<String>,
    /// How many runs to show.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Time between cycle starts, such as 30s, 5m, 1h [default: [schedule] every].
    #[arg(long)]
    pub every: Option<String>,
    /// Print each cycle's summary as JSON (one object per line).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    /// How many errors at most.
    #[arg(long, default_value_t = 1000)]
    pub limit: u32,
    /// Only errors of this source (distributor:NAME).
    #[arg(long)]
    pub source: Option<String>,
    /// Only this error (its id, as `catsync errors --json` shows it).
    #[arg(long)]
    pub id: Option<uuid::Uuid>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The HTML file to write.
    #[arg(long, value_name = "FILE")]
    pub html: PathBuf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port [default: [serve] listen, else 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<String>,
}
