//! The store queries behind the views (`catsync status`, `runs`, `report`, `serve`), written once
//! against the `Store` trait and run against SQLite, PostgreSQL and PostgreSQL on CockroachDB's
//! path: errors filtered and counted, runs summed and ranked, match quality, outbox age.

#[macro_use]
mod common;

use catsync::control::{ControlAdvance, ErrorFilter, ErrorTally, ErrorType, RunRecord, RunStatus, SyncErrorRecord};
use catsync::matching::record::MatchDecision;
use catsync::matching::Status;
use common::web::{offer, seed};
use common::TestStore;

backend_tests!(
    errors_are_filtered_by_source_type_and_resolution_and_counted,
    runs_are_summed_per_source_and_status_and_the_slowest_come_first,
    match_quality_counts_statuses_and_buckets_scores,
    the_outbox_age_is_its_oldest_entry_and_none_when_empty,
);

/// Records a finished run of `source` that took `seconds`, read `read` rows and had `errors`.
async fn finished_run(t: &TestStore, source: &str, seconds: f64, read: u64, errors: &[(ErrorType, &str)]) -> RunRecord {
    let mut run = RunRecord::start(source);
    t.store.start_run(&run).await.unwrap();
    run.counts.read = read;
    run.counts.rejected = errors.iter().filter(|(ty, _)| *ty == ErrorType::Rejected).count() as u64;
    let status = if read > 0 { RunStatus::Succeeded } else { RunStatus::Failed };
    run.finish(status, None);
    run.elapsed_seconds = seconds;
    let errors: Vec<SyncErrorRecord> = errors
        .iter()
        .map(|(ty, msg)| SyncErrorRecord::new(&run, *ty, None, msg.to_string(), serde_json::json!({ "raw": msg })))
        .collect();
    let advance = (read > 0).then(|| ControlAdvance { watermark: None, metrics: serde_json::json!({}) });
    t.store.finish_run(&run, errors, advance).await.unwrap();
    run
}

async fn errors_are_filtered_by_source_type_and_resolution_and_counted(t: &TestStore) {
    finished_run(t, "distributor:acme", 1.0, 10, &[(ErrorType::Rejected, "a1"), (ErrorType::Warning, "a2")]).await;
    finished_run(t, "distributor:zeta", 1.0, 10, &[(ErrorType::Rejected, "z1"), (ErrorType::Rejected, "z2")]).await;
    t.sql_rows("UPDATE sync_errors SET resolved = true WHERE error_message = 'z1'").await;
    let messages = |errors: Vec<SyncErrorRecord>| {
        let mut m: Vec<String> = errors.into_iter().map(|e| e.error_message).collect();
        m.sort();
        m
    };
    let find = |f: ErrorFilter| async move { messages(t.store.error_records(&f).await.unwrap()) };
    let all = ErrorFilter { limit: 100, ..ErrorFilter::default() };
    assert_eq!(find(all.clone()).await, ["a1", "a2", "z1", "z2"]);
    assert_eq!(find(ErrorFilter { source: Some("distributor:acme".into()), ..all.clone() }).await, ["a1", "a2"]);
    assert_eq!(find(ErrorFilter { types: vec![ErrorType::Rejected], ..all.clone() }).await, ["a1", "z1", "z2"]);
    assert_eq!(find(ErrorFilter { unresolved: true, ..all.clone() }).await, ["a1", "a2", "z2"]);
    assert_eq!(find(ErrorFilter { limit: 1, ..all.clone() }).await.len(), 1);
    assert_eq!(t.store.sync_errors(3).await.unwrap().len(), 3, "the unfiltered reader is the same query");
    let tally = |source: &str, error_type, total, unresolved| ErrorTally {
        source: source.into(),
        error_type,
        total,
        unresolved,
    };
    assert_eq!(
        t.store.error_tallies().await.unwrap(),
        [
            tally("distributor:acme", ErrorType::Rejected, 1, 1),
            tally("distributor:acme", ErrorType::Warning, 1, 1),
            tally("distributor:zeta", ErrorType::Rejected, 2, 1),
        ]
    );
}

async fn runs_are_summed_per_source_and_status_and_the_slowest_come_first(t: &TestStore) {
    finished_run(t, "distributor:acme", 2.5, 10, &[(ErrorType::Rejected, "x")]).await;
    let slow = finished_run(t, "distributor:acme", 30.0, 5, &[]).await;
    finished_run(t, "distributor:acme", 1.0, 0, &[]).await;
    let second = finished_run(t, "matching", 7.0, 3, &[]).await;
    let running = RunRecord::start("index");
    t.store.start_run(&running).await.unwrap();
    let tallies = t.store.run_tallies().await.unwrap();
    let summary: Vec<(String, RunStatus, u64, u64, u64, f64)> =
        tallies.into_iter().map(|r| (r.source, r.status, r.runs, r.rows_read, r.rows_rejected, r.seconds)).collect();
    assert_eq!(
        summary,
        [
            ("distributor:acme".into(), RunStatus::Failed, 1, 0, 0, 1.0),
            ("distributor:acme".into(), RunStatus::Succeeded, 2, 15, 1, 32.5),
            ("index".into(), RunStatus::Running, 1, 0, 0, 0.0),
            ("matching".into(), RunStatus::Succeeded, 1, 3, 0, 7.0),
        ]
    );
    let slowest: Vec<_> = t.store.slowest_runs(2).await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(slowest, [slow.id, second.id], "finished runs only, longest first");
}

async fn match_quality_counts_statuses_and_buckets_scores(t: &TestStore) {
    let empty = t.store.match_quality().await.unwrap();
    assert!(empty.by_status.is_empty() && empty.histogram.iter().all(|&n| n == 0));
    seed(t).await;
    assert!(t.store.decide_match(offer("A2"), &MatchDecision::Reject, None).await.unwrap());
    let q = t.store.match_quality().await.unwrap();
    assert_eq!(q.by_status, [(Status::Auto, 1), (Status::Review, 1), (Status::Rejected, 1)]);
    let mut expected = [0u64; 10];
    expected[8] = 1; // 0.82
    expected[6] = 1; // 0.61
    expected[9] = 1; // 0.97
    assert_eq!(q.histogram, expected);
}

async fn the_outbox_age_is_its_oldest_entry_and_none_when_empty(t: &TestStore) {
    assert_eq!(t.store.outbox_oldest().await.unwrap(), None);
    let before = catsync::control::now_micros();
    let path = t.feed("a.csv", "sku,title,price\nA,Drill,10\nB,Saw,20\n");
    t.import("acme", &path, catsync::source::feed::FeedMode::Full).await;
    let oldest = t.store.outbox_oldest().await.unwrap().expect("the import left entries");
    assert!(oldest >= before && oldest <= catsync::control::now_micros(), "{oldest} after {before}");
    let ids: Vec<i64> = t.store.search_outbox(100).await.unwrap().iter().map(|e| e.id).collect();
    t.store.acknowledge_outbox(&ids, None).await.unwrap();
    assert_eq!(t.store.outbox_oldest().await.unwrap(), None);
}
