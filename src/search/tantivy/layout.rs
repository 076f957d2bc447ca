//! The directory behind `tantivy://PATH`: complete Tantivy indexes called generations, and a
//! pointer file naming the live one.
//!
//! ```text
//! PATH/CURRENT        "gen-000002": the live generation, replaced by writing a temporary file and
//!                     renaming it over, so a reader sees the old name or the new, never half
//! PATH/gen-000002/    the live index
//! PATH/gen-000003/    a rebuild in progress, or one abandoned (removed by the next rebuild)
//! PATH/rebuild.lock   locked by the process rebuilding, so two rebuilds never share a directory
//! ```

use std::fs::{self, File, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::search::SearchError;

const POINTER: &str = "CURRENT";
const POINTER_TEMP: &str = "CURRENT.tmp";
const REBUILD_LOCK: &str = "rebuild.lock";
const GENERATION_PREFIX: &str = "gen-";

/// The generations of one index directory.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    root: PathBuf,
}

impl Layout {
    pub(super) fn new(root: PathBuf) -> Layout {
        Layout { root }
    }

    pub(super) fn root(&self) -> &Path {
        &self.root
    }

    pub(super) fn generation_dir(&self, generation: &str) -> PathBuf {
        self.root.join(generation)
    }

    /// An error about this index directory, for the person who must fix it.
    pub(super) fn error(&self, reason: impl std::fmt::Display) -> SearchError {
        SearchError::Index { location: self.root.display().to_string(), reason: reason.to_string() }
    }

    /// Whether the pointer exists; a directory holding anything else is refused rather than mixed
    /// with an index.
    pub(super) fn is_initialized(&self) -> Result<bool, SearchError> {
        if self.root.join(POINTER).exists() {
            return Ok(true);
        }
        let foreign = self.entries()?.into_iter().find(|name| !is_ours(name));
        match foreign {
            Some(name) => Err(self.error(format!(
                "the directory holds {name:?} but no {POINTER} file, so it is not a catsync index; \
                 point [search] url at an empty or new directory"
            ))),
            None => Ok(false),
        }
    }

    /// The live generation's name, as the pointer says.
    pub(super) fn live(&self) -> Result<String, SearchError> {
        let path = self.root.join(POINTER);
        let text = fs::read_to_string(&path).map_err(|e| self.error(format!("cannot read {}: {e}", path.display())))?;
        let generation = text.trim();
        if generation_number(generation).is_none() || !self.generation_dir(generation).is_dir() {
            return Err(self.error(format!(
                "{} names {generation:?}, which is not a generation directory here; \
                 rebuild the index with `catsync index --full`",
                path.display()
            )));
        }
        Ok(generation.to_string())
    }

    /// Creates the directory of a new generation, numbered after every one on disk: a name once
    /// live is never reused, so another process that still has it open never reads a stranger.
    pub(super) fn new_generation(&self) -> Result<String, SearchError> {
        fs::create_dir_all(&self.root).map_err(|e| self.error(format!("cannot create the directory: {e}")))?;
        let last = self.entries()?.iter().filter_map(|name| generation_number(name)).max().unwrap_or(0);
        let generation = format!("{GENERATION_PREFIX}{:06}", last + 1);
        let dir = self.generation_dir(&generation);
        fs::create_dir(&dir).map_err(|e| self.error(format!("cannot create {}: {e}", dir.display())))?;
        Ok(generation)
    }

    /// Makes `generation` the live one: readers see either the old pointer or the new.
    pub(super) fn switch_to(&self, generation: &str) -> Result<(), SearchError> {
        let temp = self.root.join(POINTER_TEMP);
        let written = File::create(&temp)
            .and_then(|mut file| file.write_all(format!("{generation}\n").as_bytes()).and_then(|()| file.sync_all()))
            .and_then(|()| fs::rename(&temp, self.root.join(POINTER)))
            // The rename must reach the disk too, or a crash could bring the old pointer back.
            .and_then(|()| File::open(&self.root).and_then(|dir| dir.sync_all()));
        written.map_err(|e| self.error(format!("cannot switch {POINTER} to {generation}: {e}")))
    }

    pub(super) fn remove_generation(&self, generation: &str) -> Result<(), SearchError> {
        let dir = self.generation_dir(generation);
        fs::remove_dir_all(&dir)
            .map_err(|e| self.error(format!("cannot remove the old generation {}: {e}", dir.display())))
    }

    /// Removes generations left by rebuilds that never finished. Only safe under the rebuild lock.
    pub(super) fn remove_abandoned(&self, live: &str) -> Result<(), SearchError> {
        let mut abandoned =
            self.entries()?.into_iter().filter(|name| generation_number(name).is_some() && name != live);
        abandoned.try_for_each(|name| self.remove_generation(&name))
    }

    /// Takes the rebuild lock, held until the returned file is dropped (or the process dies).
    pub(super) fn lock_rebuild(&self) -> Result<File, SearchError> {
        let path = self.root.join(REBUILD_LOCK);
        let file = File::create(&path).map_err(|e| self.error(format!("cannot create {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(TryLockError::WouldBlock) => {
                Err(self.error("another catsync process is rebuilding this index; wait for it to finish"))
            }
            Err(TryLockError::Error(e)) => Err(self.error(format!("cannot lock {}: {e}", path.display()))),
        }
    }

    fn entries(&self) -> Result<Vec<String>, SearchError> {
        let listing = match fs::read_dir(&self.root) {
            Ok(listing) => listing,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.error(format!("cannot list the directory: {e}"))),
        };
        let names = listing.map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()));
        names.collect::<Result<_, _>>().map_err(|e| self.error(format!("cannot list the directory: {e}")))
    }
}

fn generation_number(name: &str) -> Option<u64> {
    name.strip_prefix(GENERATION_PREFIX)?.parse().ok()
}

fn is_ours(name: &str) -> bool {
    generation_number(name).is_some() || [POINTER, POINTER_TEMP, REBUILD_LOCK].contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_are_numbered_after_every_existing_one() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("index"));
        assert_eq!(layout.new_generation().unwrap(), "gen-000001");
        fs::create_dir(dir.path().join("index/gen-000007")).unwrap();
        assert_eq!(layout.new_generation().unwrap(), "gen-000008");
    }

    #[test]
    fn the_pointer_names_the_live_generation_and_abandoned_ones_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().to_path_buf());
        let live = layout.new_generation().unwrap();
        let abandoned = layout.new_generation().unwrap();
        layout.switch_to(&live).unwrap();
        assert_eq!(layout.live().unwrap(), live);
        layout.remove_abandoned(&live).unwrap();
        assert!(layout.generation_dir(&live).is_dir());
        assert!(!layout.generation_dir(&abandoned).exists());
    }

    #[test]
    fn a_directory_with_other_files_is_not_taken_for_an_index() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let err = Layout::new(dir.path().to_path_buf()).is_initialized().unwrap_err();
        assert!(err.to_string().contains("\"notes.txt\""), "{err}");
    }

    #[test]
    fn a_second_rebuild_lock_is_refused_while_the_first_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().to_path_buf());
        let held = layout.lock_rebuild().unwrap();
        assert!(layout.lock_rebuild().unwrap_err().to_string().contains("another catsync process"));
        drop(held);
        layout.lock_rebuild().unwrap();
    }

    #[test]
    fn a_pointer_to_a_missing_generation_says_how_to_recover() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().to_path_buf());
        layout.switch_to("gen-000004").unwrap();
        assert!(layout.live().unwrap_err().to_string().contains("catsync index --full"));
    }
}
