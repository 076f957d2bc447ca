//! Job leases in PostgreSQL/CockroachDB, timed by the database's clock (`now()`), so workers on
//! machines whose clocks disagree still agree on who holds a job. Each statement stands alone
//! and goes through `retry` (CockroachDB may answer 40001 to any of them).

use std::time::Duration;

use tokio_postgres::{GenericClient, Row};

use super::{db_err, retry};
use crate::control::lease::{Fence, Lease};
use crate::store::StoreError;

const LEASE_COLUMNS: &str = "job, holder, token, acquired_at, renewed_at, expires_at";

fn millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

/// Takes the lease when it is free: no row, or an expired or released one (token + 1).
pub async fn acquire(
    c: &impl GenericClient,
    job: &str,
    holder: &str,
    ttl: Duration,
) -> Result<Option<Lease>, StoreError> {
    let sql = format!(
        "INSERT INTO job_leases ({LEASE_COLUMNS})
         VALUES ($1, $2, 1, now(), now(), now() + $3::INT8 * INTERVAL '1 millisecond')
         ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, token = job_leases.token + 1,
             acquired_at = excluded.acquired_at, renewed_at = excluded.renewed_at, expires_at = excluded.expires_at
          WHERE job_leases.expires_at <= now()
         RETURNING {LEASE_COLUMNS}"
    );
    let ttl = millis(ttl);
    let row = retry(|| async {
        c.query_opt(sql.as_str(), &[&job, &holder, &ttl]).await.map_err(db_err("taking a job lease"))
    })
    .await?;
    Ok(row.as_ref().map(lease_from_row))
}

pub async fn renew(c: &impl GenericClient, lease: &Lease, ttl: Duration) -> Result<Lease, StoreError> {
    let sql = format!(
        "UPDATE job_leases SET renewed_at = now(), expires_at = now() + $4::INT8 * INTERVAL '1 millisecond'
          WHERE job = $1 AND token = $2 AND holder = $3
         RETURNING {LEASE_COLUMNS}"
    );
    let ttl = millis(ttl);
    let row = retry(|| async {
        c.query_opt(sql.as_str(), &[&lease.job, &lease.token, &lease.holder, &ttl])
            .await
            .map_err(db_err("renewing a job lease"))
    })
    .await?;
    row.as_ref().map(lease_from_row).ok_or_else(|| StoreError::lease_lost(&lease.fence()))
}

pub async fn release(c: &impl GenericClient, lease: &Lease) -> Result<(), StoreError> {
    retry(|| async {
        c.execute(
            "UPDATE job_leases SET expires_at = now() WHERE job = $1 AND token = $2 AND expires_at > now()",
            &[&lease.job, &lease.token],
        )
        .await
        .map_err(db_err("releasing a job lease"))
    })
    .await?;
    Ok(())
}

pub async fn all(c: &impl GenericClient) -> Result<Vec<Lease>, StoreError> {
    let rows = c
        .query(&format!("SELECT {LEASE_COLUMNS} FROM job_leases ORDER BY job"), &[])
        .await
        .map_err(db_err("reading job_leases"))?;
    Ok(rows.iter().map(lease_from_row).collect())
}

/// Inside a write transaction: fails with `LeaseLost` once another holder took the job over.
/// The token alone decides: expiry only allows a takeover, and a takeover changes the token. The
/// row is written (unchanged), so the takeover's write and this transaction are serialized (a row
/// lock on PostgreSQL, a write conflict that restarts one of them on CockroachDB): a write after
/// the takeover is refused.
pub async fn check_fence(c: &impl GenericClient, fence: Option<&Fence>) -> Result<(), StoreError> {
    let Some(fence) = fence else { return Ok(()) };
    let touched = c
        .execute("UPDATE job_leases SET token = token WHERE job = $1 AND token = $2", &[&fence.job, &fence.token])
        .await
        .map_err(db_err("checking the job's lease"))?;
    StoreError::fence_checked(fence, touched as u64)
}

fn lease_from_row(r: &Row) -> Lease {
    Lease {
        job: r.get(0),
        holder: r.get(1),
        token: r.get(2),
        acquired_at: r.get(3),
        renewed_at: r.get(4),
        expires_at: r.get(5),
    }
}
