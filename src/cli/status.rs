//! `catsync status`: where every source stands.

use super::args::JsonArgs;
use super::display::{duration, table, thousands};
use super::{Outcome, Settings};

pub async fn run(settings: &Settings, args: &JsonArgs) -> anyhow::Result<Outcome> {
    let store = settings.open_store().await?;
    let sources = store.sources().await?;
    let mut last_runs = Vec::new();
    for s in &sources {
        last_runs.push(store.runs(Some(&s.source_table), 1).await?.into_iter().next());
    }
    if args.json {
        let sources: Vec<_> =
            sources.iter().zip(&last_runs).map(|(s, r)| serde_json::json!({ "source": s, "last_run": r })).collect();
        let info = store.info();
        let doc = serde_json::json!({
            "store": { "backend": info.backend.name(), "location": info.location },
            "sources": sources,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(Outcome::Completed);
    }
    println!("store: {} ({})", store.info().location, store.info().backend.name());
    if sources.is_empty() {
        println!("no source has been synced yet: try `catsync demo` or `catsync import FILE --distributor NAME`");
        return Ok(Outcome::Completed);
    }
    let rows: Vec<Vec<String>> = sources
        .iter()
        .zip(&last_runs)
        .map(|(s, run)| {
            let rate =
                if s.records_processed > 0 { s.error_count as f64 / s.records_processed as f64 * 100.0 } else { 0.0 };
            vec![
                s.source_table.clone(),
                s.last_sync_time.map_or("never".into(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
                thousands(s.records_processed as u64),
                thousands(s.success_count as u64),
                thousands(s.error_count as u64),
                format!("{rate:.1}%"),
                run.as_ref().map_or("-".into(), |r| {
                    format!(
                        "{} in {}, {} rows/s",
                        r.status.as_str(),
                        duration(r.elapsed_seconds),
                        thousands(r.rows_per_second as u64)
                    )
                }),
            ]
        })
        .collect();
    print!("{}", table(&["source", "last sync", "processed", "succeeded", "errors", "error rate", "last run"], &rows));
    Ok(Outcome::Completed)
}
