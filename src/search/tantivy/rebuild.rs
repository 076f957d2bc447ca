//! A full rebuild: a new generation filled from scratch while the live one keeps answering, made
//! live by one rename of the pointer in `finish`. Dropped unfinished, the new generation is never
//! pointed at; the next rebuild removes it. The rebuild lock keeps a second rebuild (in any
//! process) from removing a generation still being filled.

use std::fs::File;
use std::sync::Arc;

use tantivy::indexer::NoMergePolicy;
use tantivy::{Index, IndexWriter};

use super::layout::Layout;
use super::{blocking, create_generation, lock, open_generation, writer_error, Shared};
use crate::search::tantivy::write::{write_versioned, Written};
use crate::search::{ApplyReport, DocumentChange, IndexRebuild, ProductDocument, SearchError};

/// Writer memory for a rebuild, split between its threads: large segments, few merges.
const REBUILD_HEAP_BYTES: usize = 192 << 20;
const REBUILD_THREADS: usize = 2;

pub(super) struct TantivyRebuild {
    layout: Layout,
    /// Lent to the blocking pool during each call; `None` only after a call panicked.
    building: Option<Building>,
}

struct Building {
    shared: Arc<Shared>,
    generation: String,
    writer: IndexWriter,
    /// Every document written so far: a document sent twice is kept at its newest version.
    written: Written,
    _lock: File,
}

impl TantivyRebuild {
    pub(super) fn begin(shared: Arc<Shared>) -> Result<TantivyRebuild, SearchError> {
        let layout = &shared.layout;
        let lock = layout.lock_rebuild()?;
        // Without a readable pointer there is nothing to keep; the new generation will be live.
        if let Ok(live) = layout.live() {
            layout.remove_abandoned(&live)?;
        }
        let generation = layout.new_generation()?;
        let index: Index = create_generation(layout, &generation)?;
        let writer: IndexWriter =
            index.writer_with_num_threads(REBUILD_THREADS, REBUILD_HEAP_BYTES).map_err(|e| writer_error(layout, e))?;
        // Merging the segments of a fresh load would cost as much as the load itself.
        writer.set_merge_policy(Box::new(NoMergePolicy));
        let building = Building { shared: shared.clone(), generation, writer, written: Written::new(), _lock: lock };
        Ok(TantivyRebuild { layout: layout.clone(), building: Some(building) })
    }

    fn take(&mut self) -> Result<Building, SearchError> {
        let failed_earlier = || self.layout.error("this rebuild failed earlier and cannot go on; start a new one");
        self.building.take().ok_or_else(failed_earlier)
    }
}

impl Building {
    fn write(&mut self, documents: Vec<ProductDocument>) -> Result<ApplyReport, SearchError> {
        let changes: Vec<DocumentChange> = documents.into_iter().map(DocumentChange::Upsert).collect();
        // The new generation holds only what this rebuild wrote, all of it in `written`.
        write_versioned(&self.writer, &changes, &mut self.written, |_| Ok(None))
            .map_err(|e| self.shared.layout.error(format!("rebuild into {}: {e}", self.generation)))
    }

    fn finish(mut self) -> Result<(), SearchError> {
        let layout = self.shared.layout.clone();
        let failed =
            |e: tantivy::TantivyError| layout.error(format!("finishing the rebuild into {}: {e}", self.generation));
        self.writer.commit().map_err(failed)?;
        self.writer.wait_merging_threads().map_err(failed)?;
        let generation = open_generation(&layout, &self.generation)?;
        let _writing = lock(&self.shared.writing);
        let old = layout.live().ok();
        layout.switch_to(&self.generation)?;
        self.shared.install(generation);
        if let Some(old) = old {
            // The new index is live either way; the next rebuild removes what is left.
            if let Err(e) = layout.remove_generation(&old) {
                tracing::warn!(error = %e, "old index generation kept");
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl IndexRebuild for TantivyRebuild {
    async fn write(&mut self, documents: Vec<ProductDocument>) -> Result<ApplyReport, SearchError> {
        let mut building = self.take()?;
        let (building, report) = blocking(&self.layout, move || {
            let report = building.write(documents);
            Ok((building, report))
        })
        .await?;
        self.building = Some(building);
        report
    }

    async fn finish(mut self: Box<Self>) -> Result<(), SearchError> {
        let building = self.take()?;
        blocking(&self.layout, move || building.finish()).await
    }
}
