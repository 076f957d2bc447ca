//! Versioned writes, shared by incremental `apply` and a rebuild's `write`: a change goes in only
//! when it is newer than what the index already holds for its id, so retried, reordered and late
//! changes never move a document backwards.

use std::collections::HashMap;

use tantivy::schema::IndexRecordOption;
use tantivy::{DocSet, IndexWriter, Searcher, TERMINATED};
use uuid::Uuid;

use super::schema::{fields, VERSION};
use crate::search::{ApplyReport, DocumentChange};

/// Versions written by this writer and not yet visible to a searcher, by id.
pub(super) type Written = HashMap<Uuid, i64>;

fn version_of(change: &DocumentChange) -> i64 {
    match change {
        DocumentChange::Upsert(product) => product.version,
        DocumentChange::Delete { version, .. } => *version,
    }
}

/// Writes the changes newer than both `written` and what `stored` finds; the rest are accepted
/// as no-ops. A document or tombstone being replaced is deleted first (Tantivy has no update).
pub(super) fn write_versioned(
    writer: &IndexWriter,
    changes: &[DocumentChange],
    written: &mut Written,
    stored: impl Fn(Uuid) -> tantivy::Result<Option<i64>>,
) -> tantivy::Result<ApplyReport> {
    let fields = fields();
    for change in changes {
        let id = change.id();
        let version = version_of(change);
        let held = match written.get(&id) {
            Some(&v) => Some(v),
            None => stored(id)?,
        };
        if held.is_some_and(|held| held >= version) {
            continue;
        }
        if held.is_some() {
            writer.delete_term(fields.id_term(id));
        }
        writer.add_document(fields.document(change))?;
        written.insert(id, version);
    }
    Ok(ApplyReport { accepted: changes.len(), failed: Vec::new() })
}

/// The version a searcher holds for an id (a document's or a tombstone's).
pub(super) fn stored_version(searcher: &Searcher, id: Uuid) -> tantivy::Result<Option<i64>> {
    let term = fields().id_term(id);
    let mut newest = None;
    for segment in searcher.segment_readers() {
        let Some(mut postings) =
            segment.inverted_index(term.field())?.read_postings(&term, IndexRecordOption::Basic)?
        else {
            continue;
        };
        let versions = segment.fast_fields().i64(VERSION)?;
        let mut doc = postings.doc();
        while doc != TERMINATED {
            if !segment.is_deleted(doc) {
                newest = newest.max(versions.first(doc));
            }
            doc = postings.advance();
        }
    }
    Ok(newest)
}
