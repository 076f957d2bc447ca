//! A distributor's inbox: the files its `inbox` glob names, each imported once.
//!
//! A file is known by its path and fingerprint (content hash and size, `inbox_files` in the
//! store): an unchanged file is skipped, a changed one under the same name is a new file, and a
//! file whose import failed is not remembered, so the next cycle tries it again.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::import::{import_file, FileReport, ImportOptions};
use super::reader::fingerprint_text;
use super::{FeedError, FeedProfile};
use crate::control::{InboxFile, RunStatus};
use crate::store::{Store, StoreError};

/// What one pass over an inbox did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InboxReport {
    pub distributor: String,
    /// Files imported now (succeeded or failed), in name order.
    pub files: Vec<FileReport>,
    /// Files already imported with the same content.
    pub skipped: u64,
    /// Files not looked at because the worker is stopping.
    pub left: u64,
}

impl InboxReport {
    pub fn failed(&self) -> bool {
        self.files.iter().any(|f| f.status == RunStatus::Failed)
    }
}

/// Imports the new files of `glob` for `profile`'s distributor, in name order. `stopping` is
/// asked before each file: once it says yes, the remaining files wait for the next pass.
pub async fn import_inbox(
    store: &dyn Store,
    profile: &FeedProfile,
    glob: &str,
    options: &ImportOptions,
    stopping: &(dyn Fn() -> bool + Sync),
) -> Result<InboxReport, InboxError> {
    let paths = inbox_files(glob)?;
    let mut report = InboxReport { distributor: profile.distributor.clone(), ..InboxReport::default() };
    for (i, path) in paths.iter().enumerate() {
        if stopping() {
            report.left = (paths.len() - i) as u64;
            break;
        }
        // Reading a whole file is blocking work: off the runtime, so lease renewals keep going.
        let fingerprint = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || fingerprint(&path)).await.expect("hashing a file does not panic")?
        };
        let seen =
            InboxFile { distributor: profile.distributor.clone(), path: path.display().to_string(), fingerprint };
        if store.inbox_file_imported(&seen).await? {
            report.skipped += 1;
            continue;
        }
        let file = import_file(store, profile, path, options).await?;
        if file.status == RunStatus::Succeeded {
            store.record_inbox_file(&seen, file.run_id, None).await?;
        }
        report.files.push(file);
    }
    Ok(report)
}

/// Why an inbox could not be gone through.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("inbox {glob:?}: {reason}")]
    Glob { glob: String, reason: String },
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The files a glob names, in name order. Wildcards (`*`, `?`) may stand in the file name only
/// (`inbox/acme/*.csv`); a missing folder is an empty inbox.
pub fn inbox_files(glob: &str) -> Result<Vec<PathBuf>, InboxError> {
    let path = Path::new(glob);
    let pattern = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if dir.to_string_lossy().contains(['*', '?']) || pattern.is_empty() {
        let reason = "wildcards may stand only in the file name, as in inbox/acme/*.csv".to_string();
        return Err(InboxError::Glob { glob: glob.into(), reason });
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(InboxError::Glob { glob: glob.into(), reason: e.to_string() }),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .filter(|e| e.file_name().to_str().is_some_and(|n| wildcard_match(pattern.as_bytes(), n.as_bytes())))
        .map(|e| dir.join(e.file_name()))
        .collect();
    files.sort();
    Ok(files)
}

/// `*` matches any run of characters, `?` one; everything else itself.
fn wildcard_match(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            wildcard_match(&pattern[1..], name) || (!name.is_empty() && wildcard_match(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => wildcard_match(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => wildcard_match(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// The file's fingerprint, as its import records it.
pub fn fingerprint(path: &Path) -> Result<String, FeedError> {
    let io_err = |source| FeedError::Io { path: path.to_path_buf(), source };
    let mut file = std::fs::File::open(path).map_err(io_err)?;
    let mut hash = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io_err)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok(fingerprint_text(hash.digest128(), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_file_names() {
        assert!(wildcard_match(b"*.csv", b"2026-11-27.csv"));
        assert!(wildcard_match(b"feed-??.csv", b"feed-01.csv"));
        assert!(!wildcard_match(b"*.csv", b"2026-11-27.csv.tmp"));
        assert!(!wildcard_match(b"feed-?.csv", b"feed-01.csv"));
        assert!(wildcard_match(b"*", b"anything"));
    }

    #[test]
    fn an_inbox_lists_matching_files_in_name_order_and_a_missing_folder_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.csv", "a.csv", "c.txt"] {
            std::fs::write(dir.path().join(name), "sku\n1\n").unwrap();
        }
        let glob = format!("{}/*.csv", dir.path().display());
        let files = inbox_files(&glob).unwrap();
        assert_eq!(files, vec![dir.path().join("a.csv"), dir.path().join("b.csv")]);
        assert!(inbox_files(&format!("{}/missing/*.csv", dir.path().display())).unwrap().is_empty());
        assert!(inbox_files("in*/acme/x.csv").is_err());
    }
}
