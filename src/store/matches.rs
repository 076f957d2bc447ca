//! What both backends share about product matches: the SQL of "not yet decided" and the
//! `id_mappings` row of a link.

use crate::matching::Status;

pub use crate::product::distributor_source as distributor_system;

/// Statuses a matching run may overwrite; confirmed and rejected rows are a person's decisions.
pub const UNDECIDED: &str = "('auto', 'review')";

/// `id_mappings.metadata` of a standing link.
pub fn mapping_metadata(status: Status, method: &str, score: f64) -> serde_json::Value {
    serde_json::json!({ "status": status.as_str(), "method": method, "score": score })
}
