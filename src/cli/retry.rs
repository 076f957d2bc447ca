//! `catsync retry`: rejected feed rows imported again from their raw records, under the leases of
//! their distributors' feed jobs.

use super::args::RetryArgs;
use super::display::thousands;
use super::{Outcome, Settings};
use crate::control::retry::{retry_under_leases, RetryRequest};
use crate::control::RunStatus;

pub async fn run(settings: &Settings, args: &RetryArgs) -> anyhow::Result<Outcome> {
    let store = settings.open_store().await?;
    let request = RetryRequest { source: args.source.clone(), id: args.id, limit: args.limit };
    let profile_of = |distributor: &str| settings.config.feed_profile_or_auto(distributor);
    let report = retry_under_leases(store.as_ref(), &settings.job_leases(store.clone()), &profile_of, &request).await?;
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
