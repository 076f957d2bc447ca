//! What both backends share about product matches: the SQL of "not yet decided" and the
//! `id_mappings` row of a link.

use crate::matching::record::{MatchQuality, SCORE_BUCKETS};
use crate::matching::Status;

pub use crate::product::distributor_source as distributor_system;

/// Statuses a matching run may overwrite; confirmed and rejected rows are a person's decisions.
pub const UNDECIDED: &str = "('auto', 'review')";

/// `id_mappings.metadata` of a standing link.
pub fn mapping_metadata(status: Status, method: &str, score: f64) -> serde_json::Value {
    serde_json::json!({ "status": status.as_str(), "method": method, "score": score })
}

/// `(status, rows)` as the database counted them, in `Status` order; unknown statuses are dropped.
pub fn status_counts(counts: Vec<(String, i64)>) -> Vec<(Status, u64)> {
    let mut known: Vec<(Status, u64)> =
        counts.into_iter().filter_map(|(s, n)| Some((Status::parse(&s)?, n as u64))).collect();
    known.sort_by_key(|(s, _)| *s as u8);
    known
}

/// Puts `(bucket, rows)` as the database counted them into the histogram.
pub fn fill_histogram(quality: &mut MatchQuality, buckets: Vec<(i64, i64)>) {
    for (bucket, rows) in buckets {
        quality.histogram[(bucket.max(0) as usize).min(SCORE_BUCKETS - 1)] += rows as u64;
    }
}
