//! `catsync retry`: rejected feed rows imported again from their raw records, under the leases of
//! their distributors' feed jobs.

use std::collections::BTreeSet;

use super::args::RetryArgs;
use super::display::thousands;
use super::{under_leases, Outcome, Settings};
use crate::control::lease::feed_job;
use crate::control::retry::{retry_errors, RetryRequest};
use crate::control::RunStatus;
use crate::source::feed::FeedProfile;

pub async fn run(settings: &Settings, args: &RetryArgs) -> anyhow::Result<Outcome> {
    let store = settings.open_store().await?;
    let request = RetryRequest { source: args.source.clone(), id: args.id, limit: args.limit };
    let jobs: BTreeSet<String> = store
        .error_records(&request.filter())
        .await?
        .iter()
        .filter_map(|e| e.source_table.strip_prefix("distributor:").map(feed_job))
        .collect();
    let jobs: Vec<String> = jobs.into_iter().collect();
    let work_dir = std::env::temp_dir().join(format!("catsync-retry-{}", std::process::id()));
    std::fs::create_dir_all(&work_dir)?;
    let profile_of = |distributor: &str| {
        settings
            .config
            .feed_profile(distributor)
            .unwrap_or_else(|| FeedProfile { distributor: distributor.to_string(), ..FeedProfile::default() })
    };
    let (request, dir) = (&request, &work_dir);
    let report = under_leases(&settings.job_leases(store), &jobs, |store| async move {
        Ok(retry_errors(store.as_ref(), &profile_of, request, dir).await?)
    })
    .await;
    let _ = std::fs::remove_dir_all(&work_dir);
    let report = report?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if !settings.quiet {
        println!(
            "retried {} rejected rows: {} imported and resolved, {} rejected again (new reason recorded), {} not retryable",
            thousands(report.examined),
            thousands(report.resolved),
            thousands(report.failed_again),
            thousands(report.skipped)
        );
        for reason in report.skipped_reasons.iter().take(10) {
            println!("  not retried  {reason}");
        }
    }
    let failed = report.runs.iter().any(|r| r.status == RunStatus::Failed);
    Ok(if failed { Outcome::Failed } else { Outcome::Completed })
}
