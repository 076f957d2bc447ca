//! `catsync import`: feed files into the store, one run per file.

use std::fmt::Write as _;

use super::args::ImportArgs;
use super::display::{duration, thousands};
use super::{problem_lines, runs_outcome, under_leases, Outcome, Settings, UsageError};
use crate::config::valid_name;
use crate::control::lease::feed_job;
use crate::control::RunStatus;
use crate::source::feed::import::{import_file, FileReport, ImportOptions};
use crate::source::feed::FeedProfile;

pub async fn run(settings: &Settings, args: &ImportArgs) -> anyhow::Result<Outcome> {
    let mut profile = profile_for(settings, &args.distributor)?;
    if let Some(mode) = args.mode {
        profile.mode = mode;
    }
    let store = settings.open_store().await?;
    let options =
        ImportOptions { allow_mass_deactivate: args.allow_mass_deactivate, progress: !settings.quiet && !args.json };
    let job = feed_job(&profile.distributor);
    let reports = under_leases(&settings.job_leases(store), &[job], |store| async move {
        let mut reports = Vec::new();
        for file in &args.files {
            let report = import_file(store.as_ref(), &profile, file, &options).await?;
            if !args.json && !settings.quiet {
                print!("{}", summary(&report));
            } else if report.status == RunStatus::Failed && !args.json {
                eprintln!("error: {}", report.error.as_deref().unwrap_or("import failed"));
            }
            reports.push(report);
        }
        Ok(reports)
    })
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "files": reports }))?);
    }
    Ok(outcome(&reports, args.strict))
}

/// The distributor's configured profile, or auto-detected columns for an unconfigured one.
pub(super) fn profile_for(settings: &Settings, distributor: &str) -> anyhow::Result<FeedProfile> {
    if settings.config.feed_profile(distributor).is_none() && !valid_name(distributor) {
        return Err(UsageError(format!(
            "distributor name {distributor:?} must be 1-64 lowercase letters, digits, '_' or '-'"
        ))
        .into());
    }
    Ok(settings.config.feed_profile_or_auto(distributor))
}

pub(super) fn outcome(reports: &[FileReport], strict: bool) -> Outcome {
    runs_outcome(reports.iter().map(|r| (r.status, r.counts.rejected)), strict)
}

/// The one-screen account of a file's import.
pub(super) fn summary(r: &FileReport) -> String {
    let mut out = String::new();
    let status = match r.status {
        RunStatus::Succeeded => {
            format!("done in {}, {} rows/s", duration(r.elapsed_seconds), thousands(r.rows_per_second.round() as u64))
        }
        _ => "FAILED, nothing was changed".to_string(),
    };
    let _ = writeln!(out, "{} → distributor {}: {status}", r.file.display(), r.distributor);
    if let Some(d) = &r.detected {
        let _ = writeln!(out, "  detected   {d}");
    }
    if !r.columns.is_empty() {
        let cols: Vec<String> = r.columns.iter().map(|(role, h)| format!("{role}={h:?}")).collect();
        let _ = writeln!(out, "  columns    {}", cols.join(", "));
    }
    let c = &r.counts;
    if r.status == RunStatus::Succeeded {
        let _ = writeln!(
            out,
            "  rows       read {}, inserted {}, updated {}, unchanged {}, deactivated {}, rejected {}, warnings {}",
            thousands(c.read),
            thousands(c.inserted),
            thousands(c.updated),
            thousands(c.unchanged),
            thousands(c.deactivated),
            thousands(c.rejected),
            thousands(c.warnings)
        );
    }
    let total = if r.status == RunStatus::Succeeded { c.rejected + c.warnings } else { r.problems.len() as u64 };
    problem_lines(&mut out, r.error.as_deref(), &r.problems, total);
    out
}
