//! Distributor feeds: CSV files in every dialect, read as a stream of typed `DistributorProduct`s
//! and row problems.
//!
//! Reading never loads a whole file: `decode` unwraps gzip and transcodes to UTF-8, `dialect`
//! sniffs the delimiter from the first 64 KiB, `columns` maps the header row to canonical fields,
//! `value` types each cell, and `reader` turns each record into a product or a rejection. A bad
//! row never stops the others; a file that cannot be read at all is one `FeedError`.
//! `import` drives a reader into a `store::FeedImport` transaction; `inbox` imports the new files
//! of a distributor's inbox glob, each once.

pub mod columns;
pub mod decode;
pub mod dialect;
pub mod import;
pub mod inbox;
pub mod reader;
pub mod value;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use columns::Role;
pub use reader::FeedReader;

/// Whether a file lists a distributor's whole catalog or only changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FeedMode {
    /// The file is the distributor's whole catalog: SKUs missing from it become inactive.
    #[default]
    Full,
    /// The file holds changed rows only: nothing is deactivated.
    Delta,
}

impl fmt::Display for FeedMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FeedMode::Full => "full",
            FeedMode::Delta => "delta",
        })
    }
}

/// What catsync knows about one distributor's feed: its name and how its columns are named.
#[derive(Debug, Clone, Default)]
pub struct FeedProfile {
    pub distributor: String,
    pub columns: BTreeMap<Role, String>,
    pub mode: FeedMode,
}

impl FeedProfile {
    /// An unconfigured distributor's profile: columns found by their headers, full mode.
    pub fn auto(distributor: &str) -> FeedProfile {
        FeedProfile { distributor: distributor.to_string(), ..FeedProfile::default() }
    }
}

/// A feed file that cannot be read at all. Row-level problems are `RowProblem`s instead.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: the file is empty", path.display())]
    Empty { path: PathBuf },
    #[error("{}: this is {format}, not a CSV or text feed", path.display())]
    NotText { path: PathBuf, format: &'static str },
    #[error("{} line {line}: {source}", path.display())]
    Header { path: PathBuf, line: u64, source: columns::MappingError },
}

/// How bad a row problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The row was not imported.
    Rejected,
    /// The row was imported; something in it deserves a look.
    Warning,
}

/// Something wrong with one row, with everything needed to find and fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct RowProblem {
    pub severity: Severity,
    pub line: u64,
    pub sku: Option<String>,
    /// Header of the offending column, when one column is to blame.
    pub field: Option<String>,
    pub message: String,
    /// The row as read: header and raw value of every column.
    pub raw: Vec<(String, String)>,
}

impl RowProblem {
    /// `acme.csv line 1042, column "Dealer Price": "12,5O" is not a number`.
    pub fn describe(&self, file: &str) -> String {
        match &self.field {
            Some(field) => format!("{file} line {}, column {field:?}: {}", self.line, self.message),
            None => format!("{file} line {}: {}", self.line, self.message),
        }
    }
}

/// One data row of a feed, read and judged.
// Most rows are products, moved once into a batch: boxing them would cost an allocation per row.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum FeedRecord {
    Product(crate::product::DistributorProduct, Vec<RowProblem>),
    Rejected(RowProblem),
}
