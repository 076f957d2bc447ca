//! `catsync sync`: the configured Airtable tables into the store.

use std::fmt::Write as _;

use super::args::SyncArgs;
use super::display::{duration, thousands};
use super::{problem_lines, runs_outcome, under_leases, Outcome, Settings, UsageError};
use crate::config::AirtableTableSection;
use crate::control::lease::airtable_job;
use crate::control::RunStatus;
use crate::source::airtable::{sync_tables, SyncOptions, TableReport};

pub async fn run(settings: &Settings, args: &SyncArgs) -> anyhow::Result<Outcome> {
    let (section, client) = settings.airtable_client()?;
    let tables = pick_tables(&section.tables, &args.table)?;
    let store = settings.open_store().await?;
    let options = SyncOptions { full: args.full, reconcile: args.reconcile, allow_mass_delete: args.allow_mass_delete };
    let jobs: Vec<String> = tables.iter().map(|t| airtable_job(t.into.get_ref())).collect();
    let (client_ref, tables_ref) = (&client, &tables);
    let reports = under_leases(&settings.job_leases(store), &jobs, |store| async move {
        Ok(sync_tables(store.as_ref(), client_ref, tables_ref, options).await?)
    })
    .await?;
    if args.json {
        let doc = serde_json::json!({ "tables": reports, "airtable": client.request_counts() });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else if !settings.quiet {
        reports.iter().for_each(|r| print!("{}", summary(r)));
        let c = client.request_counts();
        println!("Airtable requests: {}, retried {}, rate-limited (429) {}", c.requests, c.retries, c.rate_limited);
    }
    Ok(outcome(&reports, args.strict))
}

/// The tables `--table` names (by store table, Airtable name or id), or all of them.
fn pick_tables<'a>(
    all: &'a [AirtableTableSection],
    wanted: &[String],
) -> anyhow::Result<Vec<&'a AirtableTableSection>> {
    if all.is_empty() {
        return Err(UsageError("[airtable] lists no tables: add [[airtable.tables]] sections".into()).into());
    }
    if wanted.is_empty() {
        return Ok(all.iter().collect());
    }
    wanted
        .iter()
        .map(|w| {
            all.iter().find(|t| t.into.get_ref() == w || &t.table == w).ok_or_else(|| {
                let known: Vec<&str> = all.iter().map(|t| t.into.get_ref().as_str()).collect();
                UsageError(format!("--table {w:?} is not a configured table (configured: {})", known.join(", "))).into()
            })
        })
        .collect()
}

pub(super) fn outcome(reports: &[TableReport], strict: bool) -> Outcome {
    runs_outcome(reports.iter().map(|r| (r.status, r.counts.rejected)), strict)
}

/// The few lines that say what a table's sync did.
pub(super) fn summary(r: &TableReport) -> String {
    let mut out = String::new();
    let status = match r.status {
        RunStatus::Succeeded => format!(
            "{} sync done in {}, {} records/s",
            r.mode,
            duration(r.elapsed_seconds),
            thousands(r.records_per_second.round() as u64)
        ),
        _ => "FAILED; the watermark did not move".to_string(),
    };
    let _ = writeln!(out, "Airtable {}/{} → {}: {status}", r.base, r.airtable_table, r.table);
    let c = &r.counts;
    if r.status == RunStatus::Succeeded {
        let _ = writeln!(
            out,
            "  records    read {}, inserted {}, updated {}, unchanged {}, deleted {}{}, with rejected values {}, warnings {}",
            thousands(c.read),
            thousands(c.inserted),
            thousands(c.updated),
            thousands(c.unchanged),
            thousands(c.deactivated),
            if r.reconciled { "" } else { " (no reconcile this run)" },
            thousands(c.rejected),
            thousands(c.warnings)
        );
    }
    problem_lines(&mut out, r.error.as_deref(), &r.problems, c.rejected + c.warnings);
    out
}
