//! Job leases in SQLite. The local clock is the database's clock here: every worker on one
//! SQLite file runs on this machine.

use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use super::{db_err, parse_ts, ts};
use crate::control::lease::{Fence, Lease};
use crate::control::now_micros;
use crate::store::StoreError;

const LEASE_COLUMNS: &str = "job, holder, token, acquired_at, renewed_at, expires_at";

fn expiry(ttl: Duration) -> (String, String) {
    let now = now_micros();
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    (ts(now), ts(now + ttl))
}

/// Takes the lease when it is free: no row, or an expired or released one (token + 1).
pub fn acquire(conn: &mut Connection, job: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
    let (now, expires) = expiry(ttl);
    let tx =
        conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err("starting a transaction"))?;
    let lease = tx
        .query_row(
            &format!(
                "INSERT INTO job_leases ({LEASE_COLUMNS}) VALUES (?1, ?2, 1, ?3, ?3, ?4)
                 ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, token = job_leases.token + 1,
                     acquired_at = excluded.acquired_at, renewed_at = excluded.renewed_at,
                     expires_at = excluded.expires_at
                  WHERE job_leases.expires_at <= excluded.acquired_at
                 RETURNING {LEASE_COLUMNS}"
            ),
            params![job, holder, now, expires],
            lease_from_row,
        )
        .optional()
        .map_err(db_err("taking a job lease"))?;
    tx.commit().map_err(db_err("taking a job lease"))?;
    Ok(lease)
}

pub fn renew(conn: &Connection, lease: &Lease, ttl: Duration) -> Result<Lease, StoreError> {
    let (now, expires) = expiry(ttl);
    conn.query_row(
        &format!(
            "UPDATE job_leases SET renewed_at = ?4, expires_at = ?5
              WHERE job = ?1 AND token = ?2 AND holder = ?3
             RETURNING {LEASE_COLUMNS}"
        ),
        params![lease.job, lease.token, lease.holder, now, expires],
        lease_from_row,
    )
    .optional()
    .map_err(db_err("renewing a job lease"))?
    .ok_or_else(|| StoreError::lease_lost(&lease.fence()))
}

pub fn release(conn: &Connection, lease: &Lease) -> Result<(), StoreError> {
    let now = ts(now_micros());
    conn.execute(
        "UPDATE job_leases SET expires_at = ?3 WHERE job = ?1 AND token = ?2 AND expires_at > ?3",
        params![lease.job, lease.token, now],
    )
    .map_err(db_err("releasing a job lease"))?;
    Ok(())
}

pub fn all(conn: &Connection) -> Result<Vec<Lease>, StoreError> {
    let mut stmt = conn
        .prepare(&format!("SELECT {LEASE_COLUMNS} FROM job_leases ORDER BY job"))
        .map_err(db_err("reading job_leases"))?;
    let rows = stmt.query_map([], lease_from_row).and_then(Iterator::collect).map_err(db_err("reading job_leases"))?;
    Ok(rows)
}

/// Inside a write transaction: fails with `LeaseLost` once another holder took the job over.
/// The token alone decides: expiry only allows a takeover, and a takeover changes the token. The
/// row is written (unchanged), so a takeover and this transaction are serialized: one of them
/// commits first, and a write after the takeover is refused.
pub fn check_fence(conn: &Connection, fence: Option<&Fence>) -> Result<(), StoreError> {
    let Some(fence) = fence else { return Ok(()) };
    let touched = conn
        .execute("UPDATE job_leases SET token = token WHERE job = ?1 AND token = ?2", params![fence.job, fence.token])
        .map_err(db_err("checking the job's lease"))?;
    StoreError::fence_checked(fence, touched as u64)
}

fn lease_from_row(r: &Row) -> rusqlite::Result<Lease> {
    Ok(Lease {
        job: r.get(0)?,
        holder: r.get(1)?,
        token: r.get(2)?,
        acquired_at: parse_ts(&r.get::<_, String>(3)?)?,
        renewed_at: parse_ts(&r.get::<_, String>(4)?)?,
        expires_at: parse_ts(&r.get::<_, String>(5)?)?,
    })
}
