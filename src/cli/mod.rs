//! The command-line edge: resolves settings, runs one command, maps the outcome to an exit code.
//! Commands live one per file; the work itself is library code in the other folders.

pub mod args;
mod check;
mod demo;
mod dev;
mod display;
mod errors;
mod import;
mod init;
mod matches;
mod matching;
mod report;
mod retry;
mod run;
mod search;
mod serve;
mod status;
mod sync;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

pub use args::Cli;
use args::Command;

use crate::config::{AirtableSection, Config, ConfigError, DEFAULT_SEARCH_URL, DEFAULT_STORE_URL};
use crate::control::lease::{describe_busy, holder_id, JobLeases};
use crate::search::{SearchError, SearchIndex, SearchSettings, DEFAULT_INDEX};
use crate::source::airtable::{AirtableClient, RetryPolicy};
use crate::store::{self, Store};

/// Exit status of a command that ran to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done; rejected rows, if any, are recorded.
    Completed,
    /// A run failed.
    Failed,
    /// Rows were rejected and `--strict` was given.
    Rejected,
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> ExitCode {
        ExitCode::from(match o {
            Outcome::Completed => 0,
            Outcome::Failed => 1,
            Outcome::Rejected => 3,
        })
    }
}

/// The exit outcome of a command's runs, each given as its status and its rejected count.
pub(crate) fn runs_outcome(runs: impl IntoIterator<Item = (crate::control::RunStatus, u64)>, strict: bool) -> Outcome {
    let mut outcome = Outcome::Completed;
    for (status, rejected) in runs {
        if status == crate::control::RunStatus::Failed {
            return Outcome::Failed;
        }
        if strict && rejected > 0 {
            outcome = Outcome::Rejected;
        }
    }
    outcome
}

/// The closing lines of a run summary: its error, the problems quoted, and how many more there are.
pub(crate) fn problem_lines(out: &mut String, error: Option<&str>, problems: &[String], total: u64) {
    use std::fmt::Write as _;
    if let Some(e) = error {
        let _ = writeln!(out, "  error      {e}");
    }
    for p in problems {
        let _ = writeln!(out, "  problem    {p}");
    }
    let more = total.saturating_sub(problems.len() as u64);
    if more > 0 {
        let _ = writeln!(out, "  … {} more in sync_errors: catsync errors", display::thousands(more));
    }
}

/// Runs a command's work under the leases of `jobs`, so that it never runs beside a `catsync
/// watch` (or another command) doing the same job; `work` gets the store with their fences. A job
/// held elsewhere is an error naming its holder and when its lease expires.
pub(crate) async fn under_leases<T, F, Fut>(leases: &JobLeases, jobs: &[String], work: F) -> anyhow::Result<T>
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    match leases.run_exclusive(jobs, work).await? {
        Ok(done) => done,
        Err(busy) => anyhow::bail!("{}; try again then", describe_busy(&busy)),
    }
}

/// A mistake in the command line or the configuration (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Configuration resolved from flags, environment, config file and defaults, in that order.
pub struct Settings {
    pub config: Config,
    pub config_path: Option<PathBuf>,
    pub store_url: String,
    pub search_url: String,
    pub quiet: bool,
}

impl Settings {
    pub fn resolve(cli: &Cli) -> Result<Settings, ConfigError> {
        let default_path = Path::new("catsync.toml");
        let config_path = cli.config.clone().or_else(|| default_path.exists().then(|| default_path.to_path_buf()));
        let config = match &config_path {
            Some(p) => Config::load(p)?,
            None => Config::default(),
        };
        let store_url =
            cli.store.clone().or_else(|| config.store.url.clone()).unwrap_or_else(|| DEFAULT_STORE_URL.into());
        let search_url =
            cli.search.clone().or_else(|| config.search.url.clone()).unwrap_or_else(|| DEFAULT_SEARCH_URL.into());
        Ok(Settings { config, config_path, store_url, search_url, quiet: cli.quiet })
    }

    /// The Airtable client of the `[airtable]` section; without one, a usage error saying what to add.
    pub fn airtable_client(&self) -> anyhow::Result<(&AirtableSection, AirtableClient)> {
        let section = self.config.airtable.as_ref().ok_or_else(|| {
            UsageError(
                "no [airtable] section in the config: run `catsync init --airtable-base app…` to write one".into(),
            )
        })?;
        let policy = RetryPolicy {
            penalty: Duration::from_secs_f64(*section.penalty_seconds.get_ref()),
            ..RetryPolicy::default()
        };
        Ok((section, AirtableClient::new(&section.api_url, section.token.clone(), policy)))
    }

    /// `[search]` resolved with the `--search` flag and the defaults.
    pub fn search_settings(&self) -> SearchSettings {
        let s = &self.config.search;
        SearchSettings {
            url: self.search_url.clone(),
            index: s.index.clone().unwrap_or_else(|| DEFAULT_INDEX.into()),
            username: s.username.clone(),
            password: s.password.clone(),
            api_key: s.api_key.clone(),
            ca_file: s.ca_file.clone(),
        }
    }

    /// Opens the configured search index; a bad URL is a usage error.
    pub async fn open_search(&self) -> anyhow::Result<Arc<dyn SearchIndex>> {
        crate::search::open(&self.search_settings()).await.map_err(|e| match e {
            SearchError::UnsupportedScheme { .. } => anyhow::Error::new(UsageError(e.to_string())),
            other => anyhow::Error::new(other).context("opening the search index"),
        })
    }

    /// This process's leases on `store`, timed by `[schedule] lease_seconds`.
    pub fn job_leases(&self, store: Arc<dyn Store>) -> JobLeases {
        JobLeases::new(store, holder_id(), self.config.schedule.lease_ttl())
    }

    /// Opens the configured store; a bad URL is a usage error.
    pub async fn open_store(&self) -> anyhow::Result<Arc<dyn Store>> {
        store::open(&self.store_url).await.map_err(|e| match e {
            store::StoreError::UnsupportedScheme { .. } | store::StoreError::InvalidUrl { .. } => {
                anyhow::Error::new(UsageError(e.to_string()))
            }
            other => anyhow::Error::new(other).context("opening the store"),
        })
    }
}

/// Runs the command and returns the process exit code; errors are printed with their causes.
pub async fn run(cli: Cli) -> ExitCode {
    let result = async {
        let settings = Settings::resolve(&cli).map_err(|e| anyhow::Error::new(UsageError(e.to_string())))?;
        match &cli.command {
            Command::Import(a) => import::run(&settings, a).await,
            Command::Sync(a) => sync::run(&settings, a).await,
            Command::Init(a) => init::run(&settings, a).await,
            Command::Status(a) => status::run(&settings, a).await,
            Command::Runs(a) => status::runs(&settings, a).await,
            Command::Report(a) => report::run(&settings, a).await,
            Command::Serve(a) => serve::run(&settings, a).await,
            Command::Errors(a) => errors::run(&settings, a).await,
            Command::Demo(a) => demo::run(&settings, a).await,
            Command::Check => check::run(&settings).await,
            Command::Match(a) => matching::run(&settings, a).await,
            Command::Matches(a) => matches::run(&settings, a).await,
            Command::Index(a) => search::index(&settings, a).await,
            Command::Search(a) => search::search(&settings, a).await,
            Command::Dev { command } => dev::run(&settings, command).await,
            Command::Run(a) => run::run(&settings, a).await,
            Command::Watch(a) => run::watch(&settings, a).await,
            Command::Retry(a) => retry::run(&settings, a).await,
        }
        .context(format!("catsync {} failed", command_name(&cli.command)))
    }
    .await;
    match result {
        Ok(outcome) => outcome.into(),
        Err(e) => {
            let usage = e.chain().any(|c| c.is::<UsageError>());
            eprintln!("error: {}", display::error_chain(&e));
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Import(_) => "import",
        Command::Sync(_) => "sync",
        Command::Init(_) => "init",
        Command::Status(_) => "status",
        Command::Runs(_) => "runs",
        Command::Report(_) => "report",
        Command::Serve(_) => "serve",
        Command::Errors(_) => "errors",
        Command::Demo(_) => "demo",
        Command::Check => "check",
        Command::Match(_) => "match",
        Command::Matches(_) => "matches",
        Command::Index(_) => "index",
        Command::Search(_) => "search",
        Command::Dev { .. } => "dev",
        Command::Run(_) => "run",
        Command::Watch(_) => "watch",
        Command::Retry(_) => "retry",
    }
}
