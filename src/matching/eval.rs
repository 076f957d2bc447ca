//! `catsync match eval`: the matcher run on two CSV files and scored against a file of true pairs,
//! for users tuning thresholds on their own labelled data and for our own benchmark; and `catsync
//! match evidence`: what the matcher sees in each listed pair.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::index::CatalogIndex;
use super::score::{score, Evidence, Levels, Weights};
use super::{match_feed, Link, MatchOptions, Method, ProductText, Status};

/// Which header of a products file holds which field.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    pub id: String,
    pub title: String,
    pub brand: Option<String>,
    pub mpn: Option<String>,
    pub gtin: Option<String>,
    pub price: Option<String>,
}

impl Default for ColumnMap {
    fn default() -> ColumnMap {
        ColumnMap {
            id: "id".into(),
            title: "title".into(),
            brand: Some("brand".into()),
            mpn: Some("mpn".into()),
            gtin: Some("gtin".into()),
            price: Some("price".into()),
        }
    }
}

impl ColumnMap {
    /// Applies `field=header` overrides (`mpn=modelno,gtin=`; an empty header drops the field).
    pub fn with_overrides(mut self, overrides: &str) -> Result<ColumnMap, EvalError> {
        for pair in overrides.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, header) = pair.split_once('=').ok_or_else(|| EvalError::Columns(pair.to_string()))?;
            let header = Some(header.trim().to_string()).filter(|h| !h.is_empty());
            match field.trim() {
                "id" => self.id = header.ok_or_else(|| EvalError::Columns(pair.to_string()))?,
                "title" => self.title = header.ok_or_else(|| EvalError::Columns(pair.to_string()))?,
                "brand" => self.brand = header,
                "mpn" => self.mpn = header,
                "gtin" => self.gtin = header,
                "price" => self.price = header,
                _ => return Err(EvalError::Columns(pair.to_string())),
            }
        }
        Ok(self)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: csv::Error },
    #[error("{}: no column {header:?} for {field} (its columns: {known}); map it with --columns {field}=HEADER", path.display())]
    MissingColumn { path: PathBuf, field: &'static str, header: String, known: String },
    #[error("--columns {0:?}: expected FIELD=HEADER with FIELD one of id, title, brand, mpn, gtin, price")]
    Columns(String),
    #[error("{}: line {line} has fewer than two columns; a pairs file lists catalog id, offer id", path.display())]
    Truth { path: PathBuf, line: u64 },
    #[error("{}: line {line}: label {label:?} is none of 1/0, true/false, yes/no", path.display())]
    Label { path: PathBuf, line: u64, label: String },
    #[error("{}: line {line}: no product with id {id:?} in the {side} file", path.display())]
    UnknownId { path: PathBuf, line: u64, side: &'static str, id: String },
}

/// Precision, recall and F1 of the automatic links, and what else the run did.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub catalog: usize,
    pub offers: usize,
    pub true_pairs: usize,
    pub links: usize,
    pub review: usize,
    pub true_positives: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub links_by_gtin: usize,
    pub links_by_mpn: usize,
    pub links_by_title: usize,
    pub seconds: f64,
}

/// Matches `offers` against `catalog` and scores the automatic links against `truth`
/// (catalog id, offer id); the links come back too, review cases included, for error analysis.
pub fn evaluate(
    catalog: &[ProductText],
    offers: &[ProductText],
    truth: &[(String, String)],
    options: &MatchOptions,
) -> (EvalReport, Vec<Link>) {
    let started = std::time::Instant::now();
    let links = match_feed(catalog, offers, options);
    let truth: HashSet<(&str, &str)> = truth.iter().map(|(c, o)| (c.as_str(), o.as_str())).collect();
    let auto: Vec<_> = links.iter().filter(|l| l.status == Status::Auto).collect();
    let hits =
        auto.iter().filter(|l| truth.contains(&(catalog[l.product].id.as_str(), offers[l.offer].id.as_str()))).count();
    let precision = ratio(hits, auto.len());
    let recall = ratio(hits, truth.len());
    let by = |m: Method| auto.iter().filter(|l| l.method == m).count();
    let report = EvalReport {
        catalog: catalog.len(),
        offers: offers.len(),
        true_pairs: truth.len(),
        links: auto.len(),
        review: links.len() - auto.len(),
        true_positives: hits,
        precision,
        recall,
        f1: if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 },
        links_by_gtin: by(Method::Gtin),
        links_by_mpn: by(Method::Mpn),
        links_by_title: by(Method::Fuzzy),
        seconds: started.elapsed().as_secs_f64(),
    };
    (report, links)
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Reads a products file (comma, semicolon, tab or `|` separated, UTF-8 with or without BOM).
pub fn read_products(path: &Path, columns: &ColumnMap) -> Result<Vec<ProductText>, EvalError> {
    let mut reader = csv_reader(path)?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|source| EvalError::Read { path: path.into(), source })?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
        .collect();
    let find = |field: &'static str, header: &str| {
        headers.iter().position(|h| h.eq_ignore_ascii_case(header)).ok_or_else(|| EvalError::MissingColumn {
            path: path.into(),
            field,
            header: header.to_string(),
            known: headers.join(", "),
        })
    };
    let optional = |field: &'static str, header: &Option<String>| header.as_deref().map(|h| find(field, h)).transpose();
    let (id, title) = (find("id", &columns.id)?, find("title", &columns.title)?);
    let brand = optional("brand", &columns.brand)?;
    let mpn = optional("mpn", &columns.mpn)?;
    let gtin = optional("gtin", &columns.gtin)?;
    let price = optional("price", &columns.price)?;
    let mut products = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|source| EvalError::Read { path: path.into(), source })?;
        let cell = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or_default().to_string();
        products.push(ProductText {
            id: cell(Some(id)),
            title: cell(Some(title)),
            brand: cell(brand),
            mpn: cell(mpn),
            gtin: cell(gtin),
            price: cell(price).trim().parse().ok(),
        });
    }
    Ok(products)
}

/// A pair of a labelled pairs file: catalog id, offer id and, when a third column says so,
/// whether the two are one product.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledPair {
    pub catalog_id: String,
    pub offer_id: String,
    pub label: Option<bool>,
    /// Its line in the file, for messages.
    pub line: u64,
}

/// Reads a pairs file: catalog id, offer id and an optional label (`1`/`0`, `true`/`false`) per
/// line after a header.
pub fn read_pairs(path: &Path) -> Result<Vec<LabelledPair>, EvalError> {
    let mut reader = csv_reader(path)?;
    let mut pairs = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|source| EvalError::Read { path: path.into(), source })?;
        let line = record.position().map_or(0, |p| p.line());
        let (Some(catalog_id), Some(offer_id)) = (record.get(0), record.get(1)) else {
            return Err(EvalError::Truth { path: path.into(), line });
        };
        let label = match record.get(2).map(|l| l.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") => None,
            Some("1" | "true" | "yes") => Some(true),
            Some("0" | "false" | "no") => Some(false),
            Some(other) => return Err(EvalError::Label { path: path.into(), line, label: other.to_string() }),
        };
        pairs.push(LabelledPair {
            catalog_id: catalog_id.trim().to_string(),
            offer_id: offer_id.trim().to_string(),
            label,
            line,
        });
    }
    Ok(pairs)
}

/// Reads a truth file: its pairs not labelled as non-matches (a file of true pairs only, or a
/// labelled pairs file).
pub fn read_truth(path: &Path) -> Result<Vec<(String, String)>, EvalError> {
    Ok(read_pairs(path)?.into_iter().filter(|p| p.label != Some(false)).map(|p| (p.catalog_id, p.offer_id)).collect())
}

/// What the matcher sees in one listed pair: for fitting weights to labelled pairs and for
/// finding out why a pair was or was not linked.
#[derive(Debug, Clone, Serialize)]
pub struct PairEvidence {
    pub catalog_id: String,
    pub offer_id: String,
    pub label: Option<bool>,
    /// Whether blocking proposes the pair (the product is among the offer's candidates).
    pub candidate: bool,
    /// Match weight in log-odds, and as a 0–1 score.
    pub weight: f64,
    pub score: f64,
    /// The level of each discrete feature, in the order of [`FEATURES`](super::score::FEATURES).
    pub levels: Levels,
    pub evidence: Evidence,
}

/// The evidence of each pair of `pairs` (read from `file`), with the catalog indexed as
/// `match_feed` indexes it.
pub fn pair_evidence(
    catalog: &[ProductText],
    offers: &[ProductText],
    pairs: &[LabelledPair],
    file: &Path,
    options: &MatchOptions,
) -> Result<Vec<PairEvidence>, EvalError> {
    let position = |texts: &[ProductText]| -> HashMap<String, usize> {
        texts.iter().enumerate().map(|(i, t)| (t.id.clone(), i)).collect()
    };
    let (catalog_at, offer_at) = (position(catalog), position(offers));
    let index = CatalogIndex::build(catalog, offers);
    let weights = Weights::hand();
    pairs
        .iter()
        .map(|pair| {
            let unknown = |side: &'static str, id: &str| EvalError::UnknownId {
                path: file.into(),
                line: pair.line,
                side,
                id: id.to_string(),
            };
            let row = *catalog_at.get(&pair.catalog_id).ok_or_else(|| unknown("catalog", &pair.catalog_id))?;
            let offer = *offer_at.get(&pair.offer_id).ok_or_else(|| unknown("offers", &pair.offer_id))?;
            let prepared = index.prepare(&offers[offer]);
            let evidence = Evidence::compare(&index, index.row(row), &prepared);
            let weight = evidence.weight(&weights);
            Ok(PairEvidence {
                catalog_id: pair.catalog_id.clone(),
                offer_id: pair.offer_id.clone(),
                label: pair.label,
                candidate: index.candidates(&prepared, options.candidates).contains(&(row as u32)),
                weight,
                score: score(weight),
                levels: evidence.levels(),
                evidence,
            })
        })
        .collect()
}

/// A CSV reader with the delimiter the header line uses most.
fn csv_reader(path: &Path) -> Result<csv::Reader<std::fs::File>, EvalError> {
    let open = |e: std::io::Error| EvalError::Read { path: path.into(), source: e.into() };
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(std::fs::File::open(path).map_err(open)?), &mut first)
        .map_err(open)?;
    let delimiter =
        [b',', b';', b'\t', b'|'].into_iter().max_by_key(|d| first.bytes().filter(|b| b == d).count()).unwrap_or(b',');
    let file = std::fs::File::open(path).map_err(open)?;
    Ok(csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(file))
}
