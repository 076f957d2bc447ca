//! `catsync report --html FILE`: the report view as one self-contained HTML file.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::args::ReportArgs;
use super::{Outcome, Settings};
use crate::store::Store;
use crate::web::{report, view};

pub async fn run(settings: &Settings, args: &ReportArgs) -> anyhow::Result<Outcome> {
    let store = settings.open_store().await?;
    let path = write(&*store, &args.html).await?;
    if !settings.quiet {
        println!("report written to {}", path.display());
    }
    Ok(Outcome::Completed)
}

/// Renders the report of `store` into `path` (its folder is created) and returns the path.
pub(crate) async fn write(store: &dyn Store, path: &Path) -> anyhow::Result<PathBuf> {
    let html = report::render(&view::report(store).await?);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, html).with_context(|| format!("writing the report to {}", path.display()))?;
    Ok(path.to_path_buf())
}
