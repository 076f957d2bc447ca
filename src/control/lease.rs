//! Leases with fencing tokens: how several workers share one store without a coordinator.
//!
//! Each job (`airtable:<store table>`, `feed:<distributor>`, `match`, `index`) has one lease row in
//! the store. A worker takes the lease before it works on the job and renews it while it works;
//! the lease expires by the database's clock, so a crashed worker's job is taken over once its
//! lease runs out. Every takeover increments the row's token, and every write a job makes checks
//! its token (`Fence`) in the write's own transaction: a worker that lost its lease (paused, cut
//! off, too slow to renew) has its writes refused, not merged with the new holder's.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::{FencedStore, Store, StoreError};

/// One row of `job_leases`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub job: String,
    /// Who holds it: `host:pid:random`, unique per process.
    pub holder: String,
    /// Fencing token: +1 on every acquisition, never reused.
    pub token: i64,
    pub acquired_at: DateTime<Utc>,
    pub renewed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Lease {
    /// What the job's writes carry to prove they still hold this lease.
    pub fn fence(&self) -> Fence {
        Fence { job: self.job.clone(), token: self.token }
    }
}

/// A job's lease token, checked by the store in the transaction of each write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub job: String,
    pub token: i64,
}

/// The job of an Airtable table synced into store table `table`.
pub fn airtable_job(table: &str) -> String {
    format!("airtable:{table}")
}

/// The job of a distributor's feed imports.
pub fn feed_job(distributor: &str) -> String {
    format!("feed:{distributor}")
}

/// The job of matching runs.
pub const MATCH_JOB: &str = "match";
/// The job of index runs.
pub const INDEX_JOB: &str = "index";

/// The job whose lease guards the runs of `source` (a `sync_runs.source_table`).
pub fn job_of_source(source: &str) -> Option<String> {
    if let Some(table) = source.strip_prefix("airtable:") {
        return Some(airtable_job(table));
    }
    if let Some(distributor) = source.strip_prefix("distributor:") {
        return Some(feed_job(distributor));
    }
    match source {
        crate::matching::record::MATCHING_SOURCE => Some(MATCH_JOB.to_string()),
        crate::search::indexer::INDEX_SOURCE => Some(INDEX_JOB.to_string()),
        _ => None,
    }
}

/// This process's holder id: host name, process id and a random part (a restarted process with
/// the same pid is another holder).
pub fn holder_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}:{:08x}", std::process::id(), fastrand::u32(..))
}

/// Takes, renews and releases the leases of one worker (one process).
#[derive(Clone)]
pub struct JobLeases {
    store: Arc<dyn Store>,
    holder: String,
    ttl: Duration,
}

/// The leases a worker took, and those other holders hold.
#[derive(Debug, Default)]
pub struct Acquired {
    pub held: Vec<Lease>,
    /// Jobs held elsewhere: the other holder's lease row.
    pub busy: Vec<Lease>,
}

impl JobLeases {
    pub fn new(store: Arc<dyn Store>, holder: String, ttl: Duration) -> JobLeases {
        JobLeases { store, holder, ttl }
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Takes every free lease among `jobs`.
    pub async fn acquire(&self, jobs: &[String]) -> Result<Acquired, StoreError> {
        let mut acquired = Acquired::default();
        for job in jobs {
            match self.store.acquire_lease(job, &self.holder, self.ttl).await? {
                Some(lease) => acquired.held.push(lease),
                None => {
                    let other = self.store.leases().await?.into_iter().find(|l| &l.job == job);
                    acquired.busy.extend(other);
                }
            }
        }
        Ok(acquired)
    }

    /// The store as the holder of `leases` writes to it: every write of their jobs is fenced.
    pub fn fenced(&self, leases: &[Lease]) -> Arc<dyn Store> {
        Arc::new(FencedStore::new(self.store.clone(), leases))
    }

    /// Runs `work` under every lease of `jobs`, given the store fenced by them; when another worker
    /// holds one of them, releases what it took and returns that worker's lease instead.
    pub async fn run_exclusive<T, F, Fut>(&self, jobs: &[String], work: F) -> Result<Result<T, Lease>, StoreError>
    where
        F: FnOnce(Arc<dyn Store>) -> Fut,
        Fut: Future<Output = T>,
    {
        let acquired = self.acquire(jobs).await?;
        if let Some(busy) = acquired.busy.into_iter().next() {
            self.run(acquired.held, async {}).await?;
            return Ok(Err(busy));
        }
        let store = self.fenced(&acquired.held);
        Ok(Ok(self.run(acquired.held, work(store)).await?))
    }

    /// Runs `work` while renewing `leases` every third of their time, then releases them. A lease
    /// found lost stops the work where it is (`StoreError::LeaseLost`): its unfinished transaction
    /// is rolled back, and the fence refuses anything it would still write. A renewal that fails
    /// for another reason (the database busy) is tried again at the next tick.
    pub async fn run<T>(&self, mut leases: Vec<Lease>, work: impl Future<Output = T>) -> Result<T, StoreError> {
        let outcome = {
            let renewals = async {
                loop {
                    tokio::time::sleep(self.ttl / 3).await;
                    for lease in leases.iter_mut() {
                        match self.store.renew_lease(lease, self.ttl).await {
                            Ok(renewed) => *lease = renewed,
                            Err(e @ StoreError::LeaseLost { .. }) => return e,
                            Err(e) => {
                                tracing::warn!(job = %lease.job, error = %e, "could not renew the lease; trying again")
                            }
                        }
                    }
                }
            };
            tokio::select! {
                done = work => Ok(done),
                lost = renewals => Err(lost),
            }
        };
        for lease in &leases {
            if let Err(e) = self.store.release_lease(lease).await {
                tracing::warn!(job = %lease.job, error = %e, "could not release the lease; it expires by itself");
            }
        }
        outcome
    }
}

/// A one-line account of who holds a busy job and until when.
pub fn describe_busy(lease: &Lease) -> String {
    format!(
        "job {} is held by {} until {} (another catsync is working on it; its lease expires then unless renewed)",
        lease.job,
        lease.holder,
        lease.expires_at.format("%Y-%m-%d %H:%M:%S UTC")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_run_source_has_its_job() {
        assert_eq!(job_of_source("airtable:products").as_deref(), Some("airtable:products"));
        assert_eq!(job_of_source("distributor:acme").as_deref(), Some("feed:acme"));
        assert_eq!(job_of_source("matching").as_deref(), Some("match"));
        assert_eq!(job_of_source("index").as_deref(), Some("index"));
        assert_eq!(job_of_source("something"), None);
    }
}
