//! `catsync status` and `catsync runs`: the status and runs views in the terminal.

use std::io::IsTerminal;

use super::args::{JsonArgs, RunsArgs};
use super::display::{cut, duration, table, thousands};
use super::{Outcome, Settings};
use crate::control::RunRecord;
use crate::web::view::{self, IndexFreshness, Level, StatusView};

pub async fn run(settings: &Settings, args: &JsonArgs) -> anyhow::Result<Outcome> {
    let store = settings.open_store().await?;
    let v = view::status(&*store).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", status_text(&v, std::io::stdout().is_terminal()));
    }
    Ok(Outcome::Completed)
}

/// The status table; error rates coloured (yellow above 1%, red above 5%) when `colour`.
pub(crate) fn status_text(v: &StatusView, colour: bool) -> String {
    let mut out = format!("store: {} ({})\n", v.store.location, v.store.backend);
    if v.sources.is_empty() {
        out.push_str("no source has been synced yet: try `catsync demo` or `catsync import FILE --distributor NAME`\n");
        return out + &freshness_text(&v.index);
    }
    let rows: Vec<Vec<String>> = v
        .sources
        .iter()
        .map(|s| {
            let c = &s.control;
            let (status, took, speed) = s.last_run.as_ref().map_or(("-".into(), "-".into(), "-".into()), |r| {
                (r.status.as_str().to_string(), duration(r.elapsed_seconds), thousands(r.rows_per_second as u64))
            });
            let rate = format!("{:.1}%", s.error_rate * 100.0);
            vec![
                c.source_table.clone(),
                c.last_sync_time.map_or("never".into(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
                cut(c.watermark.as_deref().unwrap_or("-"), 20),
                thousands(c.records_processed.max(0) as u64),
                thousands(c.success_count.max(0) as u64),
                thousands(c.error_count.max(0) as u64),
                status,
                took,
                speed,
                s.lease.as_ref().map_or("-".into(), |l| cut(&l.holder, 28)),
                // Last, so that colour codes do not upset the column widths.
                if colour { coloured(&rate, s.error_level) } else { rate },
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "source",
            "last sync",
            "watermark",
            "processed",
            "succeeded",
            "errors",
            "last run",
            "duration",
            "records/s",
            "lease holder",
            "error rate",
        ],
        &rows,
    ));
    out + &freshness_text(&v.index)
}

fn freshness_text(f: &IndexFreshness) -> String {
    let oldest = f.oldest_entry_age_seconds.map(|a| format!(" (oldest {} old)", duration(a))).unwrap_or_default();
    let last = f
        .last_run
        .as_ref()
        .map_or("never".into(), |r| format!("{} {}", r.status.as_str(), r.started_at.format("%Y-%m-%d %H:%M:%S UTC")));
    let entries = if f.outbox_depth == 1 { "entry" } else { "entries" };
    format!("outbox: {} {entries} waiting for the index{oldest}; last index run: {last}\n", thousands(f.outbox_depth))
}

fn coloured(text: &str, level: Level) -> String {
    match level {
        Level::Ok => text.to_string(),
        Level::Warn => format!("\x1b[33m{text}\x1b[0m"),
        Level::Bad => format!("\x1b[31m{text}\x1b[0m"),
    }
}

pub async fn runs(settings: &Settings, args: &RunsArgs) -> anyhow::Result<Outcome> {
    let store = settings.open_store().await?;
    let v = view::runs(&*store, args.source.as_deref(), args.limit).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", runs_text(&v.runs));
    }
    Ok(Outcome::Completed)
}

fn runs_text(runs: &[RunRecord]) -> String {
    if runs.is_empty() {
        return "no runs recorded\n".into();
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                r.source.clone(),
                r.status.as_str().into(),
                thousands(r.counts.read),
                thousands(r.counts.inserted),
                thousands(r.counts.updated),
                thousands(r.counts.rejected),
                duration(r.elapsed_seconds),
                thousands(r.rows_per_second as u64),
            ]
        })
        .collect();
    table(
        &["started (UTC)", "source", "status", "read", "inserted", "updated", "rejected", "duration", "records/s"],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rates_are_coloured_only_when_asked() {
        assert_eq!(coloured("0.5%", Level::Ok), "0.5%");
        assert_eq!(coloured("2.0%", Level::Warn), "\x1b[33m2.0%\x1b[0m");
        assert_eq!(coloured("9.0%", Level::Bad), "\x1b[31m9.0%\x1b[0m");
    }
}
