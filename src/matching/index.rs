//! Candidate generation without the cross product: a TF-IDF inverted index over catalog titles
//! (top-k per offer) joined with an exact index of part-number codes.

use std::collections::HashMap;

use super::text;
use super::ProductText;

/// Words in more than this share of catalog rows add cost, not recall…
const COMMON_WORD_SHARE: f64 = 0.05;
/// …and a posting list never grows past this, so a query stays cheap at a million rows.
const MAX_POSTINGS: usize = 2_000;
/// Code keys shared by more catalog rows than this are not identifying.
const CODE_POSTINGS_CAP: usize = 40;
/// A code carried by more products of both tables than this is a spec (`usb20`, `ddr3`), not a
/// part number.
const COMMON_CODE: u32 = 40;

/// A product's text prepared once: weighted words, codes, brand key, pack count.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// (word id, weight), L2-normalized TF-IDF.
    pub words: Vec<(u32, f32)>,
    /// Identifying codes of title and MPN field (spec tokens such as `usb20` shared by many
    /// products left out).
    pub codes: Vec<String>,
    /// The MPN field's own code: two of them that differ in a digit name two models.
    pub mpn: Option<String>,
    pub brand: Option<String>,
    pub gtin: Option<String>,
    pub pack: Option<u32>,
    pub measures: Vec<(text::Measure, u64)>,
    pub kit: bool,
    /// The colours the title names, one bit each.
    pub colours: u32,
    pub price: Option<f64>,
}

/// Document frequencies of words and codes over both sides, and the catalog's postings.
pub struct CatalogIndex {
    vocabulary: HashMap<String, u32>,
    idf: Vec<f32>,
    code_df: HashMap<String, u32>,
    postings: Vec<Vec<(u32, f32)>>,
    codes: HashMap<String, Vec<u32>>,
    gtins: HashMap<String, Vec<u32>>,
    pub catalog: Vec<Prepared>,
}

impl CatalogIndex {
    /// Indexes `catalog`; `offers` only contribute to document frequencies, so that a word or a
    /// code common in either table counts as common.
    pub fn build(catalog: &[ProductText], offers: &[ProductText]) -> CatalogIndex {
        let mut vocabulary: HashMap<String, u32> = HashMap::new();
        let mut df: Vec<u32> = Vec::new();
        let mut code_df: HashMap<String, u32> = HashMap::new();
        for p in catalog.iter().chain(offers) {
            let mut seen: Vec<u32> =
                text::words(&p.full_title()).into_iter().map(|w| intern(&mut vocabulary, &mut df, w)).collect();
            seen.sort_unstable();
            seen.dedup();
            seen.iter().for_each(|&id| df[id as usize] += 1);
            for code in text::codes(&p.title, &p.mpn) {
                *code_df.entry(code).or_default() += 1;
            }
        }
        let docs = (catalog.len() + offers.len()) as f32;
        let idf = df.iter().map(|&d| (docs / (1.0 + d as f32)).ln().max(0.0)).collect();
        let mut index = CatalogIndex {
            vocabulary,
            idf,
            code_df,
            postings: Vec::new(),
            codes: HashMap::new(),
            gtins: HashMap::new(),
            catalog: Vec::new(),
        };
        index.catalog = catalog.iter().map(|p| index.prepare(p)).collect();
        index.postings = vec![Vec::new(); index.idf.len()];
        let common = ((catalog.len() as f64 * COMMON_WORD_SHARE) as usize).clamp(50, MAX_POSTINGS);
        for (row, p) in index.catalog.iter().enumerate() {
            for &(word, weight) in &p.words {
                index.postings[word as usize].push((row as u32, weight));
            }
            for code in &p.codes {
                index.codes.entry(code.clone()).or_default().push(row as u32);
            }
            if let Some(gtin) = &p.gtin {
                index.gtins.entry(gtin.clone()).or_default().push(row as u32);
            }
        }
        for list in index.postings.iter_mut().filter(|l| l.len() > common) {
            list.clear();
        }
        index.codes.retain(|_, rows| rows.len() <= CODE_POSTINGS_CAP);
        index
    }

    /// Words, codes and keys of one product, weighted with this index's frequencies.
    pub fn prepare(&self, p: &ProductText) -> Prepared {
        let mut ids: Vec<u32> =
            text::words(&p.full_title()).iter().filter_map(|w| self.vocabulary.get(w).copied()).collect();
        ids.sort_unstable();
        ids.dedup();
        let norm = ids.iter().map(|&i| self.idf[i as usize].powi(2)).sum::<f32>().sqrt().max(1e-6);
        let mut codes: Vec<String> =
            text::codes(&p.title, &p.mpn).into_iter().filter(|c| self.code_frequency(c) <= COMMON_CODE).collect();
        codes.sort();
        Prepared {
            words: ids.into_iter().map(|i| (i, self.idf[i as usize] / norm)).collect(),
            codes,
            mpn: text::mpn_key(&p.mpn),
            brand: text::brand_key(&p.brand),
            gtin: crate::gtin::Gtin14::parse(&p.gtin).ok().map(|g| g.into_string()),
            // "SDVD7027BL-2PK": the pack count may sit in the part number only.
            pack: text::pack_count(&format!("{} {}", p.title, p.mpn)),
            measures: text::measures(&p.title),
            kit: text::is_kit(&p.title),
            colours: text::colours(&p.title, &p.mpn),
            price: p.price,
        }
    }

    /// How many products of both tables carry this code.
    pub fn code_frequency(&self, code: &str) -> u32 {
        self.code_df.get(code).copied().unwrap_or(0)
    }

    pub fn idf(&self, word: u32) -> f32 {
        self.idf[word as usize]
    }

    /// Catalog rows worth scoring against an offer: those with its GTIN, those sharing a code, and
    /// the `k` most similar titles.
    pub fn candidates(&self, offer: &Prepared, k: usize) -> Vec<u32> {
        let mut scores: HashMap<u32, f32> = HashMap::new();
        for &(word, weight) in &offer.words {
            for &(row, w) in &self.postings[word as usize] {
                *scores.entry(row).or_default() += weight * w;
            }
        }
        let mut ranked: Vec<(u32, f32)> = scores.into_iter().collect();
        let by_score = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if ranked.len() > k {
            ranked.select_nth_unstable_by(k, by_score);
            ranked.truncate(k);
        }
        let mut rows: Vec<u32> = ranked.into_iter().map(|(row, _)| row).collect();
        for code in &offer.codes {
            rows.extend(self.codes.get(code).into_iter().flatten());
        }
        rows.extend(offer.gtin.as_ref().and_then(|g| self.gtins.get(g)).into_iter().flatten());
        rows.sort_unstable();
        rows.dedup();
        rows
    }
}

fn intern(vocabulary: &mut HashMap<String, u32>, df: &mut Vec<u32>, word: String) -> u32 {
    let next = vocabulary.len() as u32;
    *vocabulary.entry(word).or_insert_with(|| {
        df.push(0);
        next
    })
}
