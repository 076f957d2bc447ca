//! House rules checked by `cargo test`: every source file says what it is for, no test is
//! skipped, and backends are named only inside `store/`.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    for file in rust_files(&root().join("src")).into_iter().chain(rust_files(&root().join("tests"))) {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("//!"), "{} does not start with a //! paragraph", file.display());
    }
}

#[test]
fn no_test_is_ignored_or_expected_to_panic() {
    let banned = [concat!("#[", "ignore"), concat!("#[", "should_panic")];
    for file in rust_files(&root().join("src")).into_iter().chain(rust_files(&root().join("tests"))) {
        let text = std::fs::read_to_string(&file).unwrap();
        for word in banned {
            assert!(!text.contains(word), "{} uses {word}", file.display());
        }
    }
}

#[test]
fn only_the_store_names_its_backends() {
    let backends = ["sqlite::", "postgres::", "rusqlite", "tokio_postgres"];
    for file in rust_files(&root().join("src")) {
        if file.starts_with(root().join("src/store")) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for name in backends {
            assert!(!text.contains(name), "{} names the backend {name:?}; go through store::Store", file.display());
        }
    }
}
