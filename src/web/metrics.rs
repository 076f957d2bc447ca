//! `/metrics`: a `MetricsView` in the Prometheus text format, every series prefixed `catsync_`.
//! Labels carry source names, statuses and types only, never a URL or a secret.

use std::fmt::Write as _;

use super::view::MetricsView;

/// Writes the family `catsync_<name>`: its help and type lines, then one line per sample.
fn series(out: &mut String, name: &str, kind: &str, help: &str, samples: Vec<(Vec<(&str, &str)>, f64)>) {
    let _ = writeln!(out, "# HELP catsync_{name} {help}\n# TYPE catsync_{name} {kind}");
    for (labels, value) in samples {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
        let labels = if labels.is_empty() { String::new() } else { format!("{{{}}}", labels.join(",")) };
        let _ = writeln!(out, "catsync_{name}{labels} {value}");
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

pub fn render(v: &MetricsView) -> String {
    let mut out = String::new();
    let by_run = |f: fn(&crate::control::RunTally) -> f64| {
        v.runs.iter().map(|t| (vec![("source", t.source.as_str()), ("status", t.status.as_str())], f(t))).collect()
    };
    series(&mut out, "runs_total", "counter", "Runs recorded in sync_runs.", by_run(|t| t.runs as f64));
    series(&mut out, "run_rows_read_total", "counter", "Records read by runs.", by_run(|t| t.rows_read as f64));
    series(
        &mut out,
        "run_rows_rejected_total",
        "counter",
        "Records rejected by runs.",
        by_run(|t| t.rows_rejected as f64),
    );
    series(&mut out, "run_duration_seconds_total", "counter", "Time spent in runs.", by_run(|t| t.seconds));
    let by_lease = |f: fn(&crate::control::lease::Lease) -> f64| {
        let leases = &v.status.leases;
        leases.iter().map(|l| (vec![("job", l.job.as_str()), ("holder", l.holder.as_str())], f(l))).collect()
    };
    series(
        &mut out,
        "lease_expiry_timestamp_seconds",
        "gauge",
        "When each held job lease expires unless renewed, Unix time; one series per job and holder.",
        by_lease(|l| l.expires_at.timestamp() as f64),
    );
    series(&mut out, "lease_token", "gauge", "Fencing token of each held job lease.", by_lease(|l| l.token as f64));
    let sources = &v.status.sources;
    let by_source = |f: fn(&super::view::SourceView) -> f64| {
        sources.iter().map(|s| (vec![("source", s.control.source_table.as_str())], f(s))).collect()
    };
    series(
        &mut out,
        "records_processed_total",
        "counter",
        "Records processed by successful runs (sync_control).",
        by_source(|s| s.control.records_processed as f64),
    );
    series(
        &mut out,
        "source_errors_total",
        "counter",
        "Errors counted against each source (sync_control).",
        by_source(|s| s.control.error_count as f64),
    );
    series(
        &mut out,
        "last_sync_timestamp_seconds",
        "gauge",
        "Start of the last successful run, Unix time.",
        by_source(|s| s.control.last_sync_time.map_or(0.0, |t| t.timestamp() as f64)),
    );
    series(
        &mut out,
        "last_run_duration_seconds",
        "gauge",
        "Duration of the latest run.",
        by_source(|s| s.last_run.as_ref().map_or(0.0, |r| r.elapsed_seconds)),
    );
    series(
        &mut out,
        "sync_errors",
        "gauge",
        "sync_errors rows by source and type.",
        v.errors
            .iter()
            .map(|t| (vec![("source", t.source.as_str()), ("type", t.error_type.as_str())], t.total as f64))
            .collect(),
    );
    series(
        &mut out,
        "sync_errors_unresolved",
        "gauge",
        "Unresolved sync_errors rows by source and type.",
        v.errors
            .iter()
            .map(|t| (vec![("source", t.source.as_str()), ("type", t.error_type.as_str())], t.unresolved as f64))
            .collect(),
    );
    series(
        &mut out,
        "outbox_depth",
        "gauge",
        "Search outbox entries waiting for the index.",
        vec![(vec![], v.status.index.outbox_depth as f64)],
    );
    series(
        &mut out,
        "outbox_oldest_age_seconds",
        "gauge",
        "Age of the oldest waiting outbox entry (0 when none waits).",
        vec![(vec![], v.status.index.oldest_entry_age_seconds.unwrap_or(0.0))],
    );
    series(
        &mut out,
        "matches",
        "gauge",
        "product_matches rows by status.",
        v.quality.by_status.iter().map(|(s, n)| (vec![("status", s.as_str())], *n as f64)).collect(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_and_each_family_has_help_and_type() {
        let mut out = String::new();
        series(&mut out, "x_total", "counter", "An example.", vec![(vec![("source", "a\"b\\c\nd")], 2.0)]);
        assert_eq!(
            out,
            "# HELP catsync_x_total An example.\n# TYPE catsync_x_total counter\ncatsync_x_total{source=\"a\\\"b\\\\c\\nd\"} 2\n"
        );
    }
}
