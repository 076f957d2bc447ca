//! Running unattended, against SQLite, PostgreSQL and PostgreSQL on CockroachDB's path: leases
//! and their fencing tokens, inbox fingerprints, retries of rejected rows, retention.

#[macro_use]
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use catsync::control::lease::{feed_job, JobLeases, Lease, INDEX_JOB, MATCH_JOB};
use catsync::control::retry::{retry_errors, RetryRequest};
use catsync::control::{ErrorFilter, ErrorResolution, ErrorType, InboxFile, RunRecord, RunStatus};
use catsync::source::feed::import::{import_file, ImportOptions};
use catsync::source::feed::inbox::import_inbox;
use catsync::source::feed::{FeedMode, FeedProfile, Role};
use catsync::store::{FencedStore, Store, StoreError};
use common::{catalog_record, catalog_table, TestStore};

backend_tests!(
    two_workers_compete_for_a_job_and_only_one_runs_it,
    a_takeover_increments_the_token_and_a_release_frees_the_job,
    a_stale_holder_s_writes_are_refused_after_a_takeover_and_the_data_is_unchanged,
    a_worker_whose_lease_was_taken_over_stops_its_work,
    an_inbox_file_is_imported_once_and_again_when_it_changes,
    a_failed_inbox_file_is_tried_again_on_the_next_pass,
    retry_imports_rows_a_config_fix_makes_valid_and_keeps_the_history_of_still_bad_ones,
    retention_deletes_old_runs_and_resolved_errors_but_never_unresolved_ones,
);

const TTL: Duration = Duration::from_secs(60);

fn workers(t: &TestStore) -> (JobLeases, JobLeases) {
    (JobLeases::new(t.store.clone(), "worker-a".into(), TTL), JobLeases::new(t.store.clone(), "worker-b".into(), TTL))
}

async fn two_workers_compete_for_a_job_and_only_one_runs_it(t: &TestStore) {
    let (a, b) = workers(t);
    let ran = AtomicUsize::new(0);
    let job = [MATCH_JOB.to_string()];
    let (got_a, got_b) = tokio::join!(a.acquire(&job), b.acquire(&job));
    let (got_a, got_b) = (got_a.unwrap(), got_b.unwrap());
    assert_eq!(got_a.held.len() + got_b.held.len(), 1, "exactly one worker holds the job: {got_a:?} {got_b:?}");
    let (winner, winner_leases, loser) = if got_a.held.is_empty() { (&b, got_b, got_a) } else { (&a, got_a, got_b) };
    assert_eq!(loser.busy.len(), 1);
    assert_eq!(loser.busy[0].holder, winner.holder(), "the loser learns who holds the job");
    winner
        .run(winner_leases.held, async {
            ran.fetch_add(1, Ordering::SeqCst);
        })
        .await
        .unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    let leases = t.store.leases().await.unwrap();
    assert_eq!(leases.len(), 1);
    assert!(leases[0].expires_at <= catsync::control::now_micros(), "released after the work: {leases:?}");
}

async fn a_takeover_increments_the_token_and_a_release_frees_the_job(t: &TestStore) {
    let s = &t.store;
    let first = s.acquire_lease("index", "a", TTL).await.unwrap().expect("a free job");
    assert_eq!(first.token, 1);
    assert!(s.acquire_lease("index", "b", TTL).await.unwrap().is_none(), "held by a");
    let renewed = s.renew_lease(&first, TTL).await.unwrap();
    assert_eq!(renewed.token, 1);
    assert!(renewed.expires_at >= first.expires_at);
    s.release_lease(&renewed).await.unwrap();
    let second = s.acquire_lease("index", "b", TTL).await.unwrap().expect("released");
    assert_eq!((second.token, second.holder.as_str()), (2, "b"));
    let err = s.renew_lease(&renewed, TTL).await.unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
    assert!(err.to_string().contains("lease lost"), "{err}");
}

/// Holder `a` took the job with a lease that expired at once; `b` took it over.
async fn taken_over(t: &TestStore, job: &str) -> (Lease, Lease) {
    let stale = t.store.acquire_lease(job, "a", Duration::ZERO).await.unwrap().unwrap();
    let current = t.store.acquire_lease(job, "b", TTL).await.unwrap().expect("an expired lease is free");
    assert_eq!(current.token, stale.token + 1);
    (stale, current)
}

fn lease_lost<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    match result {
        Err(StoreError::LeaseLost { .. }) => {}
        other => panic!("expected a lost lease, got {other:?}"),
    }
}

async fn a_stale_holder_s_writes_are_refused_after_a_takeover_and_the_data_is_unchanged(t: &TestStore) {
    let (stale, current) = taken_over(t, &feed_job("acme")).await;
    let stale_store = FencedStore::new(t.store.clone(), std::slice::from_ref(&stale));
    let profile = FeedProfile { distributor: "acme".into(), ..FeedProfile::default() };
    let file = t.feed("a.csv", "sku,title,price\nA,Drill,10\nB,Saw,20\n");
    let refused = import_file(&stale_store, &profile, &file, &ImportOptions::default()).await;
    assert!(
        refused.as_ref().is_err_and(|e| matches!(e, StoreError::LeaseLost { .. }))
            || refused.as_ref().is_ok_and(|r| r.status == RunStatus::Failed),
        "{refused:?}"
    );
    assert!(t.products("acme").await.is_empty(), "the stale holder wrote nothing");
    assert!(t.store.source_status("distributor:acme").await.unwrap().is_none_or(|s| s.watermark.is_none()));

    let current_store = FencedStore::new(t.store.clone(), &[current]);
    let report = import_file(&current_store, &profile, &file, &ImportOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    assert_eq!(t.products("acme").await.len(), 2);

    // Every other fenced write path refuses the stale token too.
    let mut run = RunRecord::start("distributor:acme");
    t.store.start_run(&run).await.unwrap();
    run.finish(RunStatus::Succeeded, None);
    lease_lost(stale_store.finish_run(&run, vec![], None).await);
    let outbox = t.store.search_outbox(100).await.unwrap();
    let ids: Vec<i64> = outbox.iter().map(|e| e.id).collect();
    assert!(!ids.is_empty());
    let (stale_index, _) = taken_over(t, INDEX_JOB).await;
    lease_lost(t.store.acknowledge_outbox(&ids, Some(&stale_index.fence())).await);
    assert_eq!(t.store.search_outbox(100).await.unwrap().len(), ids.len(), "the outbox is unchanged");
    let seen = InboxFile { distributor: "acme".into(), path: "a.csv".into(), fingerprint: "xxh3:0:1".into() };
    lease_lost(t.store.record_inbox_file(&seen, run.id, Some(&stale.fence())).await);
    assert!(!t.store.inbox_file_imported(&seen).await.unwrap());

    let (stale_table, _) = taken_over(t, "airtable:products").await;
    let table = catalog_table("products", &[("name", "text")]);
    t.store.prepare_catalog_table(&table).await.unwrap();
    let stale_store = FencedStore::new(t.store.clone(), &[stale_table]);
    let run = RunRecord::start(&table.source());
    let mut sync = stale_store.begin_catalog_sync(&table, &run).await.unwrap();
    let record = catalog_record("rec1", vec![catsync::catalog::CellValue::Text("Drill".into())]);
    lease_lost(sync.write(vec![record], vec![]).await);
    assert!(t.rows(&table).await.is_empty(), "no catalog row was written");
}

async fn a_worker_whose_lease_was_taken_over_stops_its_work(t: &TestStore) {
    // A worker that stalled past its lease (a long pause, a cut network): another took over.
    let (stale, current) = taken_over(t, MATCH_JOB).await;
    let worker = JobLeases::new(t.store.clone(), stale.holder.clone(), Duration::from_millis(300));
    let outcome = worker.run(vec![stale], std::future::pending::<()>()).await;
    lease_lost(outcome);
    let leases = t.store.leases().await.unwrap();
    assert_eq!(leases, [current], "the new holder's lease is left alone");
}

fn acme_profile() -> FeedProfile {
    FeedProfile { distributor: "acme".into(), mode: FeedMode::Delta, ..FeedProfile::default() }
}

async fn an_inbox_file_is_imported_once_and_again_when_it_changes(t: &TestStore) {
    let inbox = t.dir.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    std::fs::write(inbox.join("today.csv"), "sku,title,price\nA,Drill,10\n").unwrap();
    let glob = format!("{}/*.csv", inbox.display());
    let (profile, options) = (acme_profile(), ImportOptions::default());
    let pass = || import_inbox(t.store.as_ref(), &profile, &glob, &options, &|| false);
    let first = pass().await.unwrap();
    assert_eq!((first.files.len(), first.skipped), (1, 0));
    let second = pass().await.unwrap();
    assert_eq!((second.files.len(), second.skipped), (0, 1), "the same file is imported once");
    std::fs::write(inbox.join("today.csv"), "sku,title,price\nA,Drill,12\n").unwrap();
    let third = pass().await.unwrap();
    assert_eq!((third.files.len(), third.skipped), (1, 0), "a changed file under the same name is new");
    assert_eq!(t.products("acme").await[0].product.price.map(|p| p.to_string()).as_deref(), Some("12"));
    let stopped = import_inbox(t.store.as_ref(), &profile, &glob, &options, &|| true).await.unwrap();
    assert_eq!(stopped.left, 1, "a stopping worker leaves the files for the next pass");
}

async fn a_failed_inbox_file_is_tried_again_on_the_next_pass(t: &TestStore) {
    let inbox = t.dir.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    std::fs::write(inbox.join("broken.csv"), b"\x89PNG\r\n\x1a\n not a feed").unwrap();
    let glob = format!("{}/*.csv", inbox.display());
    let (profile, options) = (acme_profile(), ImportOptions::default());
    for _ in 0..2 {
        let report = import_inbox(t.store.as_ref(), &profile, &glob, &options, &|| false).await.unwrap();
        assert_eq!((report.files.len(), report.skipped), (1, 0), "{report:?}");
        assert!(report.failed());
    }
}

async fn retry_imports_rows_a_config_fix_makes_valid_and_keeps_the_history_of_still_bad_ones(t: &TestStore) {
    // "Code" is no SKU synonym: without a mapping every row is rejected, raw fields kept.
    let file = t.feed("codes.csv", "Code,title,price\nA1,Drill,10\nA2,Saw,abc\n");
    let first = t.import("acme", &file, FeedMode::Delta).await;
    assert_eq!(first.counts.rejected, 2, "{first:?}");
    let fixed = |d: &str| FeedProfile {
        distributor: d.to_string(),
        columns: [(Role::Sku, "Code".to_string())].into(),
        ..FeedProfile::default()
    };
    let request = RetryRequest { limit: 100, ..RetryRequest::default() };
    let report = retry_errors(t.store.as_ref(), &fixed, &request, t.dir.path()).await.unwrap();
    assert_eq!((report.examined, report.resolved, report.failed_again), (2, 1, 1), "{report:?}");
    let products = t.products("acme").await;
    assert_eq!(products.iter().map(|p| p.product.sku.as_str()).collect::<Vec<_>>(), ["A1"]);

    let all = t.store.error_records(&ErrorFilter { limit: 100, ..ErrorFilter::default() }).await.unwrap();
    let old: Vec<_> = all.iter().filter(|e| e.run_id == first.run_id).collect();
    assert_eq!(old.len(), 2);
    assert!(old.iter().all(|e| e.resolved && e.resolved_at.is_some()), "{old:?}");
    let imported = old.iter().find(|e| e.record_data["fields"]["Code"] == "A1").unwrap();
    assert!(imported.resolution_notes.as_deref().unwrap().contains("imported"), "{imported:?}");
    let still_bad = old.iter().find(|e| e.record_data["fields"]["Code"] == "A2").unwrap();
    assert!(still_bad.error_message.contains("SKU") || still_bad.error_message.contains("sku"), "the old reason stays");
    let note = still_bad.resolution_notes.as_deref().unwrap();
    assert!(note.contains("rejected again"), "{note}");
    let unresolved =
        ErrorFilter { unresolved: true, types: vec![ErrorType::Rejected], limit: 100, ..ErrorFilter::default() };
    let open = t.store.error_records(&unresolved).await.unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert!(note.contains(&open[0].id.to_string()), "the old error names the new one: {note}");
    assert!(open[0].error_message.contains("price"), "the new reason: {}", open[0].error_message);
    assert_eq!(open[0].record_data["fields"]["price"], "abc", "the raw record is kept for the next retry");
}

async fn retention_deletes_old_runs_and_resolved_errors_but_never_unresolved_ones(t: &TestStore) {
    let clean = t.feed("clean.csv", "sku,title,price\nA,Drill,10\n");
    let clean_run = t.import("acme", &clean, FeedMode::Delta).await;
    let bad = t.feed("bad.csv", "sku,title,price\nB,Saw,abc\nC,Hose,xyz\n");
    let bad_run = t.import("acme", &bad, FeedMode::Delta).await;
    let errors = t.store.error_records(&ErrorFilter { limit: 100, ..ErrorFilter::default() }).await.unwrap();
    assert_eq!(errors.len(), 2);
    t.store.resolve_errors(&[ErrorResolution { id: errors[0].id, note: "fixed by hand".into() }], None).await.unwrap();
    let future = catsync::control::now_micros() + chrono::Duration::days(1);
    let pruned = t.store.prune(Some(future), Some(future)).await.unwrap();
    assert_eq!((pruned.runs, pruned.errors), (1, 1), "{pruned:?}");
    let left = t.store.error_records(&ErrorFilter { limit: 100, ..ErrorFilter::default() }).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, errors[1].id, "the unresolved error stays");
    let runs: Vec<_> = t.store.runs(None, 100).await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(runs, [bad_run.run_id], "the run of an unresolved error stays; {} went", clean_run.run_id);
    let none = t.store.prune(None, None).await.unwrap();
    assert_eq!((none.runs, none.errors), (0, 0));
}
