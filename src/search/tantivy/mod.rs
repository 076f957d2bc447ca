//! The embedded backend, `tantivy://PATH`: a Tantivy index on local disk.
//!
//! PATH holds generations, each a complete index, and a pointer naming the live one (`layout`).
//! Every search and write first reads the pointer and reopens when another process (or a rebuild
//! here) switched it, so a long-running process follows rebuilds. Writes are versioned
//! (`write`): a change older than the document or tombstone the index holds is a no-op. A full
//! rebuild (`rebuild`) fills a new generation and switches the pointer in `finish`.
//!
//! Tantivy is blocking; every call runs on tokio's blocking pool. One writer per generation at a
//! time: within the process by a mutex, across processes by Tantivy's lock file.

mod layout;
mod query;
mod rebuild;
mod schema;
mod write;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use tantivy::collector::{Count, TopDocs};
use tantivy::indexer::LogMergePolicy;
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{Index, IndexReader, IndexWriter, Searcher, TantivyDocument, TantivyError, Term};
use uuid::Uuid;

use self::layout::Layout;
use self::query::PreparedSearch;
use self::schema::{fields, TOMBSTONE};
use self::write::{stored_version, write_versioned, Written};
use crate::search::{
    ApplyReport, DocumentChange, IndexRebuild, ProductDocument, SearchError, SearchIndex, SearchQuery, SearchResults,
};

/// Writer memory for incremental batches: a few thousand documents at a time.
const APPLY_HEAP_BYTES: usize = 64 << 20;
/// Segments larger than this are left alone by incremental writes (see `small_segment_merges`).
const APPLY_MERGE_MAX_DOCS: usize = 10_000;

/// A Tantivy index directory, open for searching and writing.
pub struct TantivyIndex {
    shared: Arc<Shared>,
}

/// What the index handle and its rebuilds share.
struct Shared {
    layout: Layout,
    /// The generation last opened; replaced when the pointer moves.
    live: Mutex<Option<Generation>>,
    /// Held while writing to the live generation or switching it, so that no write of this
    /// process lands in a generation being retired.
    writing: Mutex<()>,
}

/// One opened generation.
#[derive(Clone)]
struct Generation {
    name: String,
    index: Index,
    reader: IndexReader,
}

impl TantivyIndex {
    /// Opens the index at `path`, creating an empty one when the directory is new.
    pub async fn open(path: PathBuf) -> Result<TantivyIndex, SearchError> {
        let layout = Layout::new(path);
        let shared = Arc::new(Shared { layout: layout.clone(), live: Mutex::new(None), writing: Mutex::new(()) });
        blocking(&layout, move || {
            if !shared.layout.is_initialized()? {
                let first = shared.layout.new_generation()?;
                create_generation(&shared.layout, &first)?;
                shared.layout.switch_to(&first)?;
            }
            Ok(TantivyIndex { shared })
        })
        .await
    }

    /// Runs `work` on the live generation, on the blocking pool.
    async fn on_live<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Generation) -> tantivy::Result<T> + Send + 'static,
    ) -> Result<T, SearchError> {
        let shared = self.shared.clone();
        blocking(&self.shared.layout, move || {
            let generation = shared.current()?;
            work(&generation).map_err(|e| shared.layout.error(e))
        })
        .await
    }
}

impl Shared {
    /// The live generation, reopened if the pointer moved since the last call.
    fn current(&self) -> Result<Generation, SearchError> {
        let name = self.layout.live()?;
        let mut live = lock(&self.live);
        match live.as_ref() {
            Some(generation) if generation.name == name => Ok(generation.clone()),
            _ => {
                let generation = open_generation(&self.layout, &name)?;
                *live = Some(generation.clone());
                Ok(generation)
            }
        }
    }

    /// Makes an opened generation the one this process searches, once the pointer names it.
    fn install(&self, generation: Generation) {
        *lock(&self.live) = Some(generation);
    }

    /// Applies changes to the live generation; again to the next one when a rebuild elsewhere
    /// switched the pointer meanwhile, so the changes are never left only in a retired index.
    fn apply(&self, changes: &[DocumentChange]) -> Result<ApplyReport, SearchError> {
        let _writing = lock(&self.writing);
        loop {
            let generation = self.current()?;
            let report = generation.apply(changes).map_err(|e| writer_error(&self.layout, e))?;
            if self.layout.live()? == generation.name {
                return Ok(report);
            }
        }
    }
}

impl Generation {
    /// A searcher that sees every commit so far, including other processes' commits that the
    /// reader's own polling has not picked up yet.
    fn fresh_searcher(&self) -> tantivy::Result<Searcher> {
        self.reader.reload()?;
        Ok(self.reader.searcher())
    }

    fn apply(&self, changes: &[DocumentChange]) -> tantivy::Result<ApplyReport> {
        let mut writer: IndexWriter = self.index.writer_with_num_threads(1, APPLY_HEAP_BYTES)?;
        writer.set_merge_policy(Box::new(small_segment_merges()));
        let searcher = self.reader.searcher();
        let report = write_versioned(&writer, changes, &mut Written::new(), |id| stored_version(&searcher, id))?;
        writer.commit()?;
        // Merges left running would be cancelled with the writer, and segments would pile up.
        writer.wait_merging_threads()?;
        self.reader.reload()?;
        Ok(report)
    }
}

/// Merges only the small segments incremental writes leave: merging a rebuild's large segments
/// would make one small batch wait many seconds. Deleted versions in large segments stay until
/// the next full rebuild.
fn small_segment_merges() -> LogMergePolicy {
    let mut policy = LogMergePolicy::default();
    policy.set_max_docs_before_merge(APPLY_MERGE_MAX_DOCS);
    policy
}

/// Live documents (not tombstones) matching `query`.
fn live(query: Box<dyn Query>) -> BooleanQuery {
    let tombstone = Term::from_field_text(fields().kind, TOMBSTONE);
    BooleanQuery::new(vec![
        (Occur::Must, query),
        (Occur::MustNot, Box::new(TermQuery::new(tombstone, IndexRecordOption::Basic))),
    ])
}

fn find_document(searcher: &Searcher, id: Uuid) -> tantivy::Result<Option<ProductDocument>> {
    let by_id = live(Box::new(TermQuery::new(fields().id_term(id), IndexRecordOption::Basic)));
    let Some((_, address)) = searcher.search(&by_id, &TopDocs::with_limit(1).order_by_score())?.pop() else {
        return Ok(None);
    };
    let doc: TantivyDocument = searcher.doc(address)?;
    fields()
        .stored_product(&doc)
        .map_err(|e| TantivyError::InternalError(format!("document {id} is stored as invalid JSON: {e}")))
}

fn create_generation(layout: &Layout, name: &str) -> Result<Index, SearchError> {
    let dir = layout.generation_dir(name);
    Index::create_in_dir(&dir, fields().schema.clone())
        .map_err(|e| layout.error(format!("cannot create an index in {}: {e}", dir.display())))
}

fn open_generation(layout: &Layout, name: &str) -> Result<Generation, SearchError> {
    let dir = layout.generation_dir(name);
    let index = Index::open_in_dir(&dir).map_err(|e| layout.error(format!("cannot open {}: {e}", dir.display())))?;
    if index.schema() != fields().schema {
        return Err(layout.error(format!(
            "{} was written by another catsync version (its fields differ); rebuild it with `catsync index --full`",
            dir.display()
        )));
    }
    let reader = index.reader().map_err(|e| layout.error(format!("cannot read {}: {e}", dir.display())))?;
    Ok(Generation { name: name.to_string(), index, reader })
}

/// A writer that cannot be had because another process holds it says so.
fn writer_error(layout: &Layout, error: TantivyError) -> SearchError {
    match error {
        TantivyError::LockFailure(..) => {
            layout.error("another catsync process is writing to this index; wait for it to finish")
        }
        other => layout.error(other),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere leaves the data as valid as before: every update is a single assignment.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs blocking Tantivy work off the async runtime.
async fn blocking<T: Send + 'static>(
    layout: &Layout,
    work: impl FnOnce() -> Result<T, SearchError> + Send + 'static,
) -> Result<T, SearchError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| layout.error(format!("index task failed: {e}")))?
}

#[async_trait::async_trait]
impl SearchIndex for TantivyIndex {
    fn location(&self) -> String {
        format!("tantivy://{}", self.shared.layout.root().display())
    }

    async fn apply(&self, changes: Vec<DocumentChange>) -> Result<ApplyReport, SearchError> {
        let shared = self.shared.clone();
        blocking(&self.shared.layout, move || shared.apply(&changes)).await
    }

    async fn begin_rebuild(&self) -> Result<Box<dyn IndexRebuild>, SearchError> {
        let shared = self.shared.clone();
        let rebuild = blocking(&self.shared.layout, move || rebuild::TantivyRebuild::begin(shared)).await?;
        Ok(Box::new(rebuild))
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchResults, SearchError> {
        let query = query.clone();
        self.on_live(move |generation| {
            PreparedSearch::new(&generation.index, &query)?.run(&generation.reader.searcher())
        })
        .await
    }

    async fn count(&self) -> Result<u64, SearchError> {
        self.on_live(|generation| Ok(generation.fresh_searcher()?.search(&live(Box::new(AllQuery)), &Count)? as u64))
            .await
    }

    async fn document(&self, id: Uuid) -> Result<Option<ProductDocument>, SearchError> {
        self.on_live(move |generation| find_document(&generation.fresh_searcher()?, id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::{DocumentKind, Offer};

    fn drill() -> ProductDocument {
        ProductDocument {
            id: Uuid::from_u128(1),
            version: 1,
            kind: DocumentKind::Catalog,
            title: "Cordless Drill".into(),
            brand: Some("Acme".into()),
            gtin: Some("0012345678905".into()),
            mpn: Some("DRL-1800".into()),
            description: None,
            price: None,
            fields: serde_json::Map::new(),
            offers: vec![Offer {
                distributor: "northwind".into(),
                sku: "NW-1".into(),
                price: Some(9.0),
                quantity: Some(1),
            }],
            lowest_price: Some(9.0),
            total_stock: 1,
            offer_count: 1,
        }
    }

    async fn index_with_drill(dir: &tempfile::TempDir) -> TantivyIndex {
        let index = TantivyIndex::open(dir.path().join("index")).await.unwrap();
        index.apply(vec![DocumentChange::Upsert(drill())]).await.unwrap();
        index
    }

    async fn why(index: &TantivyIndex, text: &str) -> Option<String> {
        let query = SearchQuery { text: text.into(), limit: 1, ..SearchQuery::default() };
        index.search(&query).await.unwrap().results.remove(0).why
    }

    #[tokio::test]
    async fn hits_say_which_identifier_or_fields_matched() {
        let dir = tempfile::tempdir().unwrap();
        let index = index_with_drill(&dir).await;
        assert_eq!(why(&index, "012345678905").await.as_deref(), Some("exact GTIN"));
        assert_eq!(why(&index, "nw-1").await.as_deref(), Some("exact SKU"));
        assert_eq!(why(&index, "drl1800").await.as_deref(), Some("exact MPN"));
        assert_eq!(why(&index, "acme drills").await.as_deref(), Some("title, brand"));
        assert_eq!(why(&index, "cordles").await.as_deref(), Some("title (spelling corrected)"));
    }

    #[tokio::test]
    async fn finish_leaves_only_the_new_generation_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let index = index_with_drill(&dir).await;
        drop(index.begin_rebuild().await.unwrap());
        let mut rebuild = index.begin_rebuild().await.unwrap();
        rebuild.write(vec![drill()]).await.unwrap();
        rebuild.finish().await.unwrap();
        let layout = &index.shared.layout;
        let live = layout.live().unwrap();
        let mut on_disk: Vec<String> = std::fs::read_dir(layout.root())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("gen-"))
            .collect();
        on_disk.sort();
        assert_eq!(on_disk, vec![live]);
    }
}
