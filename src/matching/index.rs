//! Candidate generation without the cross product: a TF-IDF inverted index over catalog titles
//! (top-k per offer) joined with an exact index of part-number codes.

use std::collections::HashSet;

// Millions of short words are hashed per run; SipHash was a third of building the index.
use foldhash::{HashMap, HashMapExt};
use std::sync::OnceLock;

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
    /// The parts of its dashed codes (`TL-ANT2405CL` → `ant2405cl`): they match exactly, but
    /// are no evidence of a variant.
    pub code_parts: Vec<String>,
    /// The MPN field's own code: two of them that differ in a digit name two models.
    pub mpn: Option<String>,
    pub brand: Option<String>,
    pub gtin: Option<String>,
    pub pack: Option<u32>,
    pub measures: Vec<(text::Measure, u64)>,
    pub kit: bool,
    /// A refurbished, remanufactured or generic item, not the maker's new one.
    pub not_new: bool,
    /// The colours the title names, one bit each.
    pub colours: u32,
    /// The devices the title names (iPhone, iPad, camera…), one bit each.
    pub devices: u32,
    pub price: Option<f64>,
}

impl Prepared {
    /// Whole codes, then the parts of dashed ones.
    pub fn all_codes(&self) -> impl Iterator<Item = &str> + Clone {
        self.codes.iter().chain(&self.code_parts).map(String::as_str)
    }
}

/// Products tokenized per parallel batch: big enough to keep both cores busy, small enough that
/// a million offers' words are never held at once.
const TOKEN_BATCH: usize = 20_000;

/// Document frequencies of words and codes over both sides, and the catalog's postings. A catalog
/// row is fully prepared only when it first comes up as a candidate: an incremental run with a few
/// offers compares them with a few thousand rows, not the whole catalog.
pub struct CatalogIndex<'a> {
    texts: &'a [ProductText],
    vocabulary: HashMap<String, u32>,
    idf: Vec<f32>,
    code_df: HashMap<String, u32>,
    postings: Vec<Vec<(u32, f32)>>,
    codes: HashMap<String, Vec<u32>>,
    gtins: HashMap<String, Vec<u32>>,
    /// Boxed: most rows are never prepared, and a slot is a pointer, not a whole `Prepared`.
    prepared: Vec<OnceLock<Box<Prepared>>>,
}

/// What posting a product takes: its distinct terms, its codes and its GTIN.
struct Tokens {
    /// The terms joined by spaces: one allocation to free on the counting thread, not one per term.
    terms: String,
    codes: text::Codes,
    gtin: Option<String>,
}

impl Tokens {
    fn of(p: &ProductText) -> Tokens {
        let mut terms = text::terms(&p.full_title());
        terms.sort_unstable();
        terms.dedup();
        Tokens { terms: terms.join(" "), codes: text::codes(&p.title, &p.mpn), gtin: gtin_key(&p.gtin) }
    }
}

/// Words and codes counted over both tables, word ids given in the order words are first seen.
#[derive(Default)]
struct Frequencies {
    vocabulary: HashMap<String, u32>,
    df: Vec<u32>,
    code_df: HashMap<String, u32>,
}

impl Frequencies {
    /// Counts `products`, tokenized on every core, handing each one's tokens (words as ids) to `seen`.
    fn count(&mut self, products: &[ProductText], mut seen: impl FnMut(Vec<u32>, Tokens)) {
        for batch in products.chunks(TOKEN_BATCH) {
            for tokens in super::in_parallel(batch, |_, p| Tokens::of(p)) {
                let ids = tokens.terms.split(' ').filter(|t| !t.is_empty()).map(|t| self.intern(t)).collect();
                for code in tokens.codes.iter() {
                    // Counting is sequential: a known code costs a look-up, not a copy.
                    match self.code_df.get_mut(code) {
                        Some(n) => *n += 1,
                        None => {
                            self.code_df.insert(code.clone(), 1);
                        }
                    }
                }
                seen(ids, tokens);
            }
        }
    }

    fn intern(&mut self, word: &str) -> u32 {
        let id = match self.vocabulary.get(word) {
            Some(&id) => id,
            None => {
                let id = self.vocabulary.len() as u32;
                self.vocabulary.insert(word.to_string(), id);
                self.df.push(0);
                id
            }
        };
        self.df[id as usize] += 1;
        id
    }
}

impl<'a> CatalogIndex<'a> {
    /// Indexes `catalog`; `offers` only contribute to document frequencies, so that a word or a
    /// code common in either table counts as common.
    pub fn build(catalog: &'a [ProductText], offers: &[ProductText]) -> CatalogIndex<'a> {
        let mut frequencies = Frequencies::default();
        let mut rows: Vec<(Vec<u32>, Tokens)> = Vec::with_capacity(catalog.len());
        frequencies.count(catalog, |ids, tokens| rows.push((ids, tokens)));
        frequencies.count(offers, |_, _| ());
        let docs = (catalog.len() + offers.len()) as f32;
        let Frequencies { vocabulary, df, code_df } = frequencies;
        let mut index = CatalogIndex {
            texts: catalog,
            vocabulary,
            idf: df.iter().map(|&d| (docs / (1.0 + d as f32)).ln().max(0.0)).collect(),
            code_df,
            postings: vec![Vec::new(); df.len()],
            codes: HashMap::new(),
            gtins: HashMap::new(),
            prepared: (0..catalog.len()).map(|_| OnceLock::new()).collect(),
        };
        // A word in more catalog rows than this gets no postings: each list is sized once, and a
        // common word's is never filled.
        let common = ((catalog.len() as f64 * COMMON_WORD_SHARE) as usize).clamp(50, MAX_POSTINGS);
        let mut in_catalog = vec![0usize; index.postings.len()];
        rows.iter().flat_map(|(ids, _)| ids).for_each(|&id| in_catalog[id as usize] += 1);
        for (list, &n) in index.postings.iter_mut().zip(&in_catalog) {
            if n <= common {
                list.reserve_exact(n);
            }
        }
        // Weighing needs every frequency, so it is a second parallel pass; posting stays in order.
        let weighted = super::in_parallel(&rows, |_, (ids, _)| index.weighted(ids.clone()));
        for (row, (words, (_, tokens))) in weighted.into_iter().zip(rows).enumerate() {
            index.post(row as u32, words, tokens, |word| in_catalog[word as usize] <= common);
        }
        index.codes.retain(|_, rows| rows.len() <= CODE_POSTINGS_CAP);
        index
    }

    /// Adds a catalog row to the postings of its words that are `rare`, weighted as `prepare`
    /// weighs them.
    fn post(&mut self, row: u32, words: Vec<(u32, f32)>, tokens: Tokens, rare: impl Fn(u32) -> bool) {
        for (word, weight) in words.into_iter().filter(|(word, _)| rare(*word)) {
            self.postings[word as usize].push((row, weight));
        }
        for code in tokens.codes.whole.into_iter().chain(tokens.codes.parts) {
            if self.code_frequency(&code) <= COMMON_CODE {
                self.codes.entry(code).or_default().push(row);
            }
        }
        if let Some(gtin) = tokens.gtin {
            self.gtins.entry(gtin).or_default().push(row);
        }
    }

    /// A catalog row prepared for comparison (once, on first use).
    pub fn row(&self, row: usize) -> &Prepared {
        self.prepared[row].get_or_init(|| Box::new(self.prepare(&self.texts[row])))
    }

    /// Distinct word ids, L2-normalized TF-IDF weighted.
    fn weighted(&self, mut ids: Vec<u32>) -> Vec<(u32, f32)> {
        ids.sort_unstable();
        ids.dedup();
        let norm = ids.iter().map(|&i| self.idf[i as usize].powi(2)).sum::<f32>().sqrt().max(1e-6);
        ids.into_iter().map(|i| (i, self.idf[i as usize] / norm)).collect()
    }

    /// Words, codes and keys of one product, weighted with this index's frequencies.
    pub fn prepare(&self, p: &ProductText) -> Prepared {
        let ids = text::terms(&p.full_title()).iter().filter_map(|w| self.vocabulary.get(w).copied()).collect();
        let identifying = |codes: HashSet<String>| -> Vec<String> {
            let mut codes: Vec<String> = codes.into_iter().filter(|c| self.code_frequency(c) <= COMMON_CODE).collect();
            codes.sort();
            codes
        };
        let text::Codes { whole, parts } = text::codes(&p.title, &p.mpn);
        let title = text::words(&p.title);
        Prepared {
            words: self.weighted(ids),
            codes: identifying(whole),
            code_parts: identifying(parts),
            mpn: text::mpn_key(&p.mpn),
            brand: text::brand_key(&p.brand),
            gtin: gtin_key(&p.gtin),
            // "SDVD7027BL-2PK": the pack count may sit in the part number only.
            pack: text::pack_count(&format!("{} {}", p.title, p.mpn)),
            measures: text::measures(&p.title),
            kit: text::is_kit(&title),
            not_new: text::is_not_new(&title),
            colours: text::colours(&title, &p.mpn),
            devices: text::devices(&title),
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
        for code in offer.all_codes() {
            rows.extend(self.codes.get(code).into_iter().flatten());
        }
        rows.extend(offer.gtin.as_ref().and_then(|g| self.gtins.get(g)).into_iter().flatten());
        rows.sort_unstable();
        rows.dedup();
        rows
    }
}

/// A GTIN as the index keys it (GTIN-14), if it is a valid one.
fn gtin_key(gtin: &str) -> Option<String> {
    crate::gtin::Gtin14::parse(gtin).ok().map(|g| g.into_string())
}
