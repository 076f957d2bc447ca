//! `catsync run`: one cycle of every job; `catsync watch`: cycles until SIGINT or SIGTERM.
//!
//! A cycle is a list of steps — the Airtable tables, each distributor's inbox, matching, the
//! index, retention — each under the leases of its jobs, so that several workers can share one
//! store: a job held elsewhere is skipped, not waited for. A failed step is reported and the next
//! one runs; the steps are the library's (`sync_tables`, `import_inbox`, `run_matching`,
//! `run_index`), as the single commands call them.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use tokio::sync::Notify;

use super::args::{RunArgs, WatchArgs};
use super::display::{duration, error_chain, table, thousands};
use super::import::profile_for;
use super::matching::match_once;
use super::search::index_once;
use super::{Outcome, Settings, UsageError};
use crate::config::{parse_duration, DistributorSection};
use crate::control::lease::{airtable_job, describe_busy, feed_job, JobLeases, INDEX_JOB, MATCH_JOB};
use crate::control::{now_micros, RunStatus};
use crate::source::airtable::{sync_tables, SyncOptions};
use crate::source::feed::import::ImportOptions;
use crate::source::feed::inbox::import_inbox;
use crate::store::Store;

/// How a step of a cycle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    Succeeded,
    Failed,
    /// Not run: nothing configured for it, its job held by another worker, or the worker stopping.
    Skipped,
}

/// One line of a cycle's summary.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub step: String,
    pub status: StepStatus,
    /// What the step did, or why it failed or was skipped.
    pub detail: String,
    /// Rows (records, feed rows, distributor products, documents) the step went through.
    pub rows: u64,
    pub seconds: f64,
}

/// What a step's work returns: its status, its account and its rows.
type StepOutcome = (StepStatus, String, u64);

pub async fn run(settings: &Settings, args: &RunArgs) -> anyhow::Result<Outcome> {
    let store = settings.open_store().await?;
    let leases = settings.job_leases(store.clone());
    let steps = cycle(settings, &store, &leases, &AtomicBool::new(false)).await;
    print_steps(&steps, args.json, settings.quiet)?;
    Ok(outcome(&steps))
}

pub async fn watch(settings: &Settings, args: &WatchArgs) -> anyhow::Result<Outcome> {
    let every = watch_interval(settings, args)?;
    let store = settings.open_store().await?;
    let leases = settings.job_leases(store.clone());
    let stopping = Arc::new(AtomicBool::new(false));
    let wake = Arc::new(Notify::new());
    listen_for_stop(stopping.clone(), wake.clone())?;
    tracing::info!(every = ?every, holder = leases.holder(), "watching");
    loop {
        let started = Instant::now();
        let steps = cycle(settings, &store, &leases, &stopping).await;
        print_steps(&steps, args.json, settings.quiet)?;
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep_until((started + every).into()) => {}
            _ = wake.notified() => {}
        }
        if stopping.load(Ordering::SeqCst) {
            break;
        }
    }
    tracing::info!("stopped on a signal after finishing the step in progress");
    Ok(Outcome::Completed)
}

/// `--every`, else `[schedule] every`; neither is a usage error saying how to set one.
fn watch_interval(settings: &Settings, args: &WatchArgs) -> anyhow::Result<Duration> {
    let text = match (&args.every, &settings.config.schedule.every) {
        (Some(every), _) => every.clone(),
        (None, Some(every)) => every.get_ref().clone(),
        (None, None) => {
            return Err(UsageError(
                "how often? give --every 5m, or set [schedule] every = \"5m\" in catsync.toml".into(),
            )
            .into())
        }
    };
    parse_duration(&text).map_err(|e| UsageError(format!("--every: {e}")).into())
}

/// SIGINT or SIGTERM sets `stopping` and wakes the watch loop; the step in progress finishes.
fn listen_for_stop(stopping: Arc<AtomicBool>, wake: Arc<Notify>) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        tracing::warn!("stopping: finishing the step in progress");
        stopping.store(true, Ordering::SeqCst);
        wake.notify_one();
    });
    Ok(())
}

/// One cycle; the steps after a stop request are skipped.
async fn cycle(
    settings: &Settings,
    store: &Arc<dyn Store>,
    leases: &JobLeases,
    stopping: &AtomicBool,
) -> Vec<StepReport> {
    let stopped = || stopping.load(Ordering::SeqCst);
    let mut steps = Vec::new();
    if settings.config.airtable.as_ref().is_some_and(|a| !a.tables.is_empty()) && !stopped() {
        steps.push(step("airtable", airtable_step(settings, leases)).await);
    }
    for distributor in settings.config.distributors.iter().filter(|d| d.inbox.is_some()) {
        if stopped() {
            break;
        }
        let name = format!("feed:{}", distributor.name.get_ref());
        steps.push(step(&name, feed_step(settings, leases, distributor, &stopped)).await);
    }
    if !stopped() {
        steps.push(step("match", match_step(settings, leases)).await);
    }
    if !stopped() {
        steps.push(step("index", index_step(settings, leases)).await);
    }
    if !stopped() {
        steps.push(step("retention", retention_step(settings, store.as_ref())).await);
    }
    steps
}

/// Times a step; an error is a failed step whose detail is the error and its causes.
async fn step(name: &str, work: impl Future<Output = anyhow::Result<StepOutcome>>) -> StepReport {
    let started = Instant::now();
    let (status, detail, rows) = work.await.unwrap_or_else(|e| {
        tracing::error!(step = name, error = %error_chain(&e), "step failed");
        (StepStatus::Failed, error_chain(&e), 0)
    });
    StepReport { step: name.to_string(), status, detail, rows, seconds: started.elapsed().as_secs_f64() }
}

/// Runs `work` with the store fenced by the free leases among `jobs` and the jobs it holds; when
/// every job is held elsewhere the step is skipped, naming the holders.
async fn leased<F, Fut>(leases: &JobLeases, jobs: &[String], work: F) -> anyhow::Result<StepOutcome>
where
    F: FnOnce(Arc<dyn Store>, Vec<String>) -> Fut,
    Fut: Future<Output = anyhow::Result<StepOutcome>>,
{
    let acquired = leases.acquire(jobs).await?;
    let busy: Vec<String> = acquired.busy.iter().map(describe_busy).collect();
    if acquired.held.is_empty() {
        return Ok((StepStatus::Skipped, busy.join("; "), 0));
    }
    let held: Vec<String> = acquired.held.iter().map(|l| l.job.clone()).collect();
    let store = leases.fenced(&acquired.held);
    let (status, mut detail, rows) = leases.run(acquired.held, work(store, held)).await??;
    for b in busy {
        detail.push_str(&format!("; skipped: {b}"));
    }
    Ok((status, detail, rows))
}

async fn airtable_step(settings: &Settings, leases: &JobLeases) -> anyhow::Result<StepOutcome> {
    let (section, client) = settings.airtable_client()?;
    let jobs: Vec<String> = section.tables.iter().map(|t| airtable_job(t.into.get_ref())).collect();
    let client = &client;
    leased(leases, &jobs, |store, held| async move {
        let tables: Vec<_> = section.tables.iter().filter(|t| held.contains(&airtable_job(t.into.get_ref()))).collect();
        let reports = sync_tables(store.as_ref(), client, &tables, SyncOptions::default()).await?;
        let failed: Vec<String> = reports
            .iter()
            .filter(|r| r.status == RunStatus::Failed)
            .map(|r| format!("{}: {}", r.table, r.error.as_deref().unwrap_or("failed")))
            .collect();
        let done: Vec<String> =
            reports.iter().map(|r| format!("{} {} ({} read)", r.table, r.mode, thousands(r.counts.read))).collect();
        let rows = reports.iter().map(|r| r.counts.read).sum();
        Ok(match failed.is_empty() {
            true => (StepStatus::Succeeded, done.join(", "), rows),
            false => (StepStatus::Failed, failed.join("; "), rows),
        })
    })
    .await
}

async fn feed_step(
    settings: &Settings,
    leases: &JobLeases,
    distributor: &DistributorSection,
    stopped: &(dyn Fn() -> bool + Sync),
) -> anyhow::Result<StepOutcome> {
    let profile = profile_for(settings, distributor.name.get_ref())?;
    let glob = distributor.inbox.as_deref().expect("only distributors with an inbox");
    leased(leases, &[feed_job(&profile.distributor)], |store, _| async move {
        let options = ImportOptions { allow_mass_deactivate: false, progress: false };
        let report = import_inbox(store.as_ref(), &profile, glob, &options, stopped).await?;
        let rows = report.files.iter().map(|f| f.counts.read).sum();
        let mut detail = format!(
            "{} new file(s) imported, {} unchanged skipped",
            report.files.iter().filter(|f| f.status == RunStatus::Succeeded).count(),
            report.skipped
        );
        if report.left > 0 {
            detail.push_str(&format!(", {} left for the next cycle", report.left));
        }
        let failures: Vec<String> = report
            .files
            .iter()
            .filter(|f| f.status == RunStatus::Failed)
            .map(|f| format!("{}: {}", f.file.display(), f.error.as_deref().unwrap_or("failed")))
            .collect();
        if failures.is_empty() {
            return Ok((StepStatus::Succeeded, detail, rows));
        }
        Ok((StepStatus::Failed, format!("{detail}; failed (tried again next cycle): {}", failures.join("; ")), rows))
    })
    .await
}

async fn match_step(settings: &Settings, leases: &JobLeases) -> anyhow::Result<StepOutcome> {
    if settings.config.catalog.is_none() {
        return Ok((StepStatus::Skipped, "no [catalog] section in the config".into(), 0));
    }
    leased(leases, &[MATCH_JOB.to_string()], |store, _| async move {
        let report = match_once(settings, store.as_ref(), false, false).await?;
        let detail = format!("{} automatic links, {} for review", thousands(report.auto as u64), report.review);
        let status = if report.status == RunStatus::Failed { StepStatus::Failed } else { StepStatus::Succeeded };
        Ok((status, report.error.unwrap_or(detail), report.offers_examined as u64))
    })
    .await
}

async fn index_step(settings: &Settings, leases: &JobLeases) -> anyhow::Result<StepOutcome> {
    let index = settings.open_search().await?;
    let index = &*index;
    leased(leases, &[INDEX_JOB.to_string()], |store, _| async move {
        let report = index_once(settings, store.as_ref(), index, false).await?;
        let detail = format!(
            "{} documents written, {} removed, {} refused; {} in the index",
            thousands(report.upserted),
            thousands(report.deleted),
            thousands(report.failed),
            thousands(report.documents)
        );
        let status = if report.status == RunStatus::Failed { StepStatus::Failed } else { StepStatus::Succeeded };
        Ok((status, report.error.unwrap_or(detail), report.entries))
    })
    .await
}

/// Prunes runs and resolved errors past `[retention]`; unresolved errors are never deleted.
async fn retention_step(settings: &Settings, store: &dyn Store) -> anyhow::Result<StepOutcome> {
    let r = &settings.config.retention;
    let before = |days: &Option<toml::Spanned<u32>>| {
        days.as_ref().map(|d| now_micros() - chrono::Duration::days(i64::from(*d.get_ref())))
    };
    if r.runs_days.is_none() && r.errors_days.is_none() {
        return Ok((StepStatus::Skipped, "no [retention] in the config".into(), 0));
    }
    let pruned = store.prune(before(&r.runs_days), before(&r.errors_days)).await?;
    let detail = format!("{} runs and {} resolved errors deleted", pruned.runs, pruned.errors);
    Ok((StepStatus::Succeeded, detail, pruned.runs + pruned.errors))
}

fn outcome(steps: &[StepReport]) -> Outcome {
    match steps.iter().any(|s| s.status == StepStatus::Failed) {
        true => Outcome::Failed,
        false => Outcome::Completed,
    }
}

fn print_steps(steps: &[StepReport], json: bool, quiet: bool) -> anyhow::Result<()> {
    if json {
        let failed = steps.iter().any(|s| s.status == StepStatus::Failed);
        println!("{}", serde_json::to_string(&serde_json::json!({ "steps": steps, "failed": failed }))?);
    } else if !quiet {
        let rows: Vec<Vec<String>> = steps
            .iter()
            .map(|s| {
                let status = serde_json::to_value(s.status).ok().and_then(|v| v.as_str().map(str::to_string));
                vec![
                    s.step.clone(),
                    status.unwrap_or_default(),
                    thousands(s.rows),
                    duration(s.seconds),
                    s.detail.clone(),
                ]
            })
            .collect();
        print!("{}", table(&["step", "status", "rows", "time", "what it did"], &rows));
    }
    Ok(())
}
