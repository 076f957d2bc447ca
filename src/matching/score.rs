//! How much one catalog product and one offer agree, as discrete evidence a reviewer can read and
//! a match weight: the sum of log-odds contributions (Fellegi-Sunter style), turned into 0–1.

use serde::Serialize;

use super::index::{CatalogIndex, Prepared};
use super::text::Measure;

/// A code shared by at most this many products of both tables identifies one product.
const RARE_CODE: u32 = 8;

/// How the part numbers of the two sides compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeLevel {
    /// The same code, rare in both tables.
    RareExact,
    /// The same code, but one that several products carry.
    CommonExact,
    /// One code ends with or contains the other (a vendor prefix, a colour suffix).
    Variant,
    /// Both sides carry codes and none agree.
    Conflict,
    /// The part numbers are two models of one family: the same stem, then other digits
    /// (`ICUSB2328` / `ICUSB2324`), whatever else the titles share.
    Sibling,
    /// One side has no code.
    Unknown,
}

/// Agreement of an attribute both sides may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Agreement {
    Agree,
    Conflict,
    Unknown,
}

/// Which features agreed, saved with each match as its evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub gtin: Agreement,
    pub code: CodeLevel,
    /// The shared code, when one decided.
    pub shared_code: Option<String>,
    pub brand: Agreement,
    pub pack: Agreement,
    /// Capacities, wattages, port counts… of one kind on both sides: equal or not.
    pub measures: Agreement,
    /// Whether both or only one side is a kit or bundle.
    pub kit: Agreement,
    /// Whether both or only one side is a refurbished, remanufactured or generic item.
    pub condition: Agreement,
    /// Colours named on both sides: one in common or none.
    pub colour: Agreement,
    /// Devices named on both sides (an iPhone case, an iPod case): one in common or none.
    pub device: Agreement,
    /// Share of the shorter title's IDF mass found in the other title.
    pub title_coverage: f32,
    /// TF-IDF cosine of the titles.
    pub title_cosine: f32,
    /// min/max of the two prices.
    pub price_ratio: Option<f64>,
}

impl Evidence {
    pub fn compare(index: &CatalogIndex, product: &Prepared, offer: &Prepared) -> Evidence {
        let (code, shared_code) = match (&product.mpn, &offer.mpn) {
            (Some(a), Some(b)) if is_sibling(a, b) => (CodeLevel::Sibling, None),
            _ => compare_codes(index, product, offer),
        };
        // A family or spec code in both titles (`dms59`, `ieee1394`) while the part numbers
        // themselves differ says less than a shared part number.
        let code = match code {
            CodeLevel::RareExact if disowned(product.mpn.as_deref(), offer.mpn.as_deref(), shared_code.as_deref()) => {
                CodeLevel::CommonExact
            }
            code => code,
        };
        Evidence {
            gtin: agreement(product.gtin.as_ref(), offer.gtin.as_ref(), |a, b| a == b),
            code,
            shared_code,
            brand: agreement(product.brand.as_ref(), offer.brand.as_ref(), |a, b| super::text::brands_agree(a, b)),
            // Only stated counts compare: "10-Disc Spindle" is a 10-pack without the word.
            pack: agreement(product.pack.as_ref(), offer.pack.as_ref(), |a, b| a == b),
            measures: compare_measures(&product.measures, &offer.measures),
            kit: both_or_one(product.kit, offer.kit),
            condition: both_or_one(product.not_new, offer.not_new),
            colour: named_alike(product.colours, offer.colours),
            device: named_alike(product.devices, offer.devices),
            title_coverage: coverage(index, product, offer),
            title_cosine: cosine(product, offer),
            price_ratio: match (product.price, offer.price) {
                (Some(a), Some(b)) if a > 0.0 && b > 0.0 => Some(a.min(b) / a.max(b)),
                _ => None,
            },
        }
    }

    /// The level of each discrete feature, in the order of [`FEATURES`].
    pub fn levels(&self) -> Levels {
        let agreement = |a: Agreement| a as u8;
        [
            agreement(self.gtin),
            self.code as u8,
            agreement(self.brand),
            agreement(self.pack),
            agreement(self.measures),
            agreement(self.kit),
            agreement(self.condition),
            agreement(self.colour),
            agreement(self.device),
            price_level(self.price_ratio),
        ]
    }

    /// What the titles say, in log-odds: a continuous part the discrete weights add to.
    pub fn title_weight(&self, weights: &Weights) -> f64 {
        weights.coverage * self.title_coverage as f64 + weights.cosine * self.title_cosine as f64
    }

    /// The match weight in log-odds: each feature adds what its level says for or against.
    pub fn weight(&self, weights: &Weights) -> f64 {
        weights.intercept + self.title_weight(weights) + weights.discrete(&self.levels())
    }
}

/// The discrete features, each with its number of levels.
pub const FEATURES: [(&str, usize); 10] = [
    ("gtin", 3),
    ("code", 6),
    ("brand", 3),
    ("pack", 3),
    ("measures", 3),
    ("kit", 3),
    ("condition", 3),
    ("colour", 3),
    ("device", 3),
    ("price", 5),
];

/// Retailer prices of one item differ by 2× and more, so a usual ratio (or none) says nothing;
/// a far one weighs against and one within a few percent for: levels usual, extreme (< 0.3),
/// far (< 0.5), close (≥ 0.9), equal (≥ 0.99).
fn price_level(ratio: Option<f64>) -> u8 {
    match ratio {
        Some(r) if r < 0.3 => 1,
        Some(r) if r < 0.5 => 2,
        Some(r) if r >= 0.99 => 4,
        Some(r) if r >= 0.9 => 3,
        _ => 0,
    }
}

/// One pair's level of each feature in [`FEATURES`].
pub type Levels = [u8; FEATURES.len()];

/// Log-odds weights: a constant, one per unit of each title similarity and one per level of each
/// discrete feature.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    pub intercept: f64,
    /// Per unit of title coverage (0–1).
    pub coverage: f64,
    /// Per unit of title cosine (0–1).
    pub cosine: f64,
    pub levels: [Vec<f64>; FEATURES.len()],
}

impl Weights {
    /// Weights set by hand on Walmart-Amazon training pairs: the starting point and prior of the
    /// per-feed estimate. Levels in the order of `Agreement` (agree, conflict, unknown) and
    /// `CodeLevel`.
    pub fn hand() -> Weights {
        Weights {
            intercept: -6.0,
            coverage: 7.0,
            cosine: 2.0,
            levels: [
                vec![14.0, -6.0, 0.0],
                vec![6.0, 2.5, 3.0, -2.0, -4.0, 0.0],
                vec![1.0, -3.0, 0.0],
                vec![0.0, -2.5, 0.0],
                vec![0.0, -3.0, 0.0],
                vec![0.0, -1.5, 0.0],
                vec![0.0, -3.0, 0.0],
                vec![0.0, -4.0, 0.0],
                vec![0.0, -3.0, 0.0],
                vec![0.0, -1.5, -0.5, 0.5, 1.0],
            ],
        }
    }

    /// The sum of the discrete features' weights at these levels.
    pub fn discrete(&self, levels: &Levels) -> f64 {
        self.levels.iter().zip(levels).map(|(w, &l)| w[l as usize]).sum()
    }
}

/// A match weight as a 0–1 score.
pub fn score(weight: f64) -> f64 {
    1.0 / (1.0 + (-weight).exp())
}

/// Sets of named things (colours, devices) as bits: agree on one in common, conflict on none.
fn named_alike(a: u32, b: u32) -> Agreement {
    match (a, b) {
        (0, _) | (_, 0) => Agreement::Unknown,
        (a, b) if a & b != 0 => Agreement::Agree,
        _ => Agreement::Conflict,
    }
}

/// A property only one side has (a kit, a refurbished item) conflicts; one both have agrees.
fn both_or_one(a: bool, b: bool) -> Agreement {
    match (a, b) {
        (true, true) => Agreement::Agree,
        (false, false) => Agreement::Unknown,
        _ => Agreement::Conflict,
    }
}

fn agreement<T>(a: Option<&T>, b: Option<&T>, same: impl Fn(&T, &T) -> bool) -> Agreement {
    match (a, b) {
        (Some(a), Some(b)) if same(a, b) => Agreement::Agree,
        (Some(_), Some(_)) => Agreement::Conflict,
        _ => Agreement::Unknown,
    }
}

fn compare_codes(index: &CatalogIndex, product: &Prepared, offer: &Prepared) -> (CodeLevel, Option<String>) {
    // Whole codes and dashed parts match exactly; only whole codes make variants.
    let all = Prepared::all_codes;
    if all(product).next().is_none() || all(offer).next().is_none() {
        return (CodeLevel::Unknown, None);
    }
    let mut best = (CodeLevel::Conflict, None);
    for code in all(product).filter(|c| all(offer).any(|o| o == *c)) {
        if index.code_frequency(code) <= RARE_CODE {
            return (CodeLevel::RareExact, Some(code.to_string()));
        }
        best = (CodeLevel::CommonExact, Some(code.to_string()));
    }
    if best.0 == CodeLevel::Conflict {
        let variant = product.codes.iter().find(|p| offer.codes.iter().any(|o| is_variant(p, o)));
        if let Some(code) = variant {
            best = (CodeLevel::Variant, Some(code.clone()));
        } else if other_schemes(all(product), all(offer)) {
            return (CodeLevel::Unknown, None);
        }
    }
    best
}

/// Whether a code both titles share names a family or a spec rather than the item: it is
/// neither side's part number while the two part numbers (same scheme) are unrelated
/// (`DMSVGAVGA1` / `DMSDVIDVI1` sharing `dms59`), or the one side with a part number carries
/// another of the same scheme (`VMAX135XWH2` while both titles say `Plus2`).
fn disowned(a: Option<&str>, b: Option<&str>, shared: Option<&str>) -> bool {
    let same_scheme = |a: &str, b: &str| !other_schemes([a].into_iter(), [b].into_iter());
    match (a, b, shared) {
        (Some(a), Some(b), Some(shared)) => {
            a != shared && b != shared && a != b && !is_variant(a, b) && same_scheme(a, b)
        }
        (Some(mpn), None, Some(shared)) | (None, Some(mpn), Some(shared)) => {
            mpn != shared && !is_variant(mpn, shared) && same_scheme(mpn, shared)
        }
        _ => false,
    }
}

/// Whether the two sides number the item in two schemes: only item numbers on one side
/// (Case Logic `59253`, a retailer's number), only part numbers with letters on the other
/// (`CDE-72BLUE`). Codes that cannot meet are no evidence against.
fn other_schemes<'a>(
    mut product: impl Iterator<Item = &'a str> + Clone,
    mut offer: impl Iterator<Item = &'a str> + Clone,
) -> bool {
    let numeric = |c: &str| c.bytes().all(|b| b.is_ascii_digit());
    let lettered = |c: &str| c.bytes().any(|b| b.is_ascii_alphabetic());
    product.clone().all(numeric) && offer.clone().all(lettered) || product.all(lettered) && offer.all(numeric)
}

/// `icusb2328` / `icusb2324`, `cmpsu500cxv2` / `cmpsu430cxv2`: codes of one length with a shared
/// stem of 3+ characters, then different digits. A different letter there is often a colour
/// (`…ubl` / `…ubk`), a different length a zero written out (`…rvd110` / `…rvd0110`).
fn is_sibling(a: &str, b: &str) -> bool {
    let stem = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    match (a.as_bytes().get(stem), b.as_bytes().get(stem)) {
        (Some(x), Some(y)) => a.len() == b.len() && stem >= 3 && x.is_ascii_digit() && y.is_ascii_digit(),
        _ => false,
    }
}

fn compare_measures(a: &[(Measure, u64)], b: &[(Measure, u64)]) -> Agreement {
    if super::text::measures_conflict(a, b) {
        Agreement::Conflict
    } else if a.iter().any(|m| b.contains(m)) {
        Agreement::Agree
    } else {
        Agreement::Unknown
    }
}

/// `s82abcp` / `hons82abcp` (a vendor prefix), `lapst110` / `lapst110black` (a suffix): one code
/// contains the other and the shorter still has 5 characters; or the two differ only in zeros
/// and the shorter has 6.
fn is_variant(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short.len() >= 5 && long.contains(short) || short.len() >= 6 && same_but_zeros(a, b)
}

/// `rp01050106r1m1` / `rp0100050106r1m1`, `oczssdpx1rvd110` / `oczssdpx1rvd0110`: one code
/// with zeros written out or left off.
fn same_but_zeros(a: &str, b: &str) -> bool {
    a.len() != b.len() && a.bytes().filter(|&c| c != b'0').eq(b.bytes().filter(|&c| c != b'0'))
}

/// The share of the shorter title's IDF mass that the other title also has: catalog titles are
/// short and offer titles verbose, so this beats a symmetric score.
fn coverage(index: &CatalogIndex, a: &Prepared, b: &Prepared) -> f32 {
    let (short, long) = if a.words.len() <= b.words.len() { (a, b) } else { (b, a) };
    let total: f32 = short.words.iter().map(|(w, _)| index.idf(*w)).sum();
    if total <= 0.0 {
        return 0.0;
    }
    let shared: f32 = short
        .words
        .iter()
        .filter(|(w, _)| long.words.binary_search_by_key(w, |(id, _)| *id).is_ok())
        .map(|(w, _)| index.idf(*w))
        .sum();
    shared / total
}

fn cosine(a: &Prepared, b: &Prepared) -> f32 {
    let (mut i, mut j, mut dot) = (0, 0, 0.0);
    while i < a.words.len() && j < b.words.len() {
        match a.words[i].0.cmp(&b.words[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                dot += a.words[i].1 * b.words[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    dot
}
