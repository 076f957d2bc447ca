//! A `SearchQuery` as a Tantivy query, and its hits, total and facets.
//!
//! Every word must match somewhere (title counts most, then brand, MPN, description; a title word
//! of 5+ letters may be off by one edit). Independently, any GTIN, SKU or MPN the text contains
//! matches its product exactly with a score far above any text score, so it ranks first. Filters
//! narrow both; tombstones never match.

use std::ops::Bound;

use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::agg_result::{AggregationResult, AggregationResults, BucketResult};
use tantivy::aggregation::{AggContextParams, AggregationCollector, Key};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, EmptyQuery, FuzzyTermQuery, Occur, Query, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocAddress, Index, Searcher, TantivyDocument, Term};

use super::live;
use super::schema::{fields, gtin_key, sku_key, BRAND_KEY, DISTRIBUTOR};
use crate::matching::text::{brand_key, mpn_key};
use crate::search::{Facets, ProductDocument, SearchHit, SearchQuery, SearchResults};

/// Above any BM25 score a few words reach, so an exact identifier always ranks first.
const EXACT_GTIN_SCORE: f32 = 1000.0;
const EXACT_SKU_SCORE: f32 = 900.0;
const EXACT_MPN_SCORE: f32 = 800.0;
const TITLE_BOOST: f32 = 3.0;
const BRAND_BOOST: f32 = 2.0;
const MPN_BOOST: f32 = 1.5;
/// Shorter words have too many neighbours one edit away.
const FUZZY_MIN_LEN: usize = 5;
/// Facet values returned per facet.
const FACET_SIZE: usize = 20;

/// One word of the query: its stem (for ranked fields) and its lowercase form (for typos).
struct Word {
    stem: String,
    plain: String,
}

/// Identifier keys found in the query text.
#[derive(Default)]
struct Identifiers {
    gtins: Vec<String>,
    skus: Vec<String>,
    mpns: Vec<String>,
}

impl Identifiers {
    /// Each whitespace-separated token, and the whole text (a GTIN may be typed with spaces).
    fn in_text(text: &str) -> Identifiers {
        let mut found = Identifiers::default();
        for candidate in text.split_whitespace().chain([text.trim()]) {
            push_new(&mut found.gtins, gtin_key(candidate));
            push_new(&mut found.skus, sku_key(candidate));
            push_new(&mut found.mpns, mpn_key(candidate));
        }
        found
    }

    /// The strongest exact identifier a product shares with the query.
    fn shared_with(&self, product: &ProductDocument) -> Option<&'static str> {
        if product.gtin.as_deref().and_then(gtin_key).is_some_and(|k| self.gtins.contains(&k)) {
            Some("exact GTIN")
        } else if product.offers.iter().filter_map(|o| sku_key(&o.sku)).any(|k| self.skus.contains(&k)) {
            Some("exact SKU")
        } else if product.mpn.as_deref().and_then(mpn_key).is_some_and(|k| self.mpns.contains(&k)) {
            Some("exact MPN")
        } else {
            None
        }
    }
}

fn push_new(keys: &mut Vec<String>, key: Option<String>) {
    if let Some(key) = key.filter(|k| !keys.contains(k)) {
        keys.push(key);
    }
}

/// A search ready to run on one generation.
pub(super) struct PreparedSearch {
    query: Box<dyn Query>,
    words: Vec<Word>,
    identifiers: Identifiers,
    stemmer: TextAnalyzer,
    limit: usize,
}

impl PreparedSearch {
    pub fn new(index: &Index, search: &SearchQuery) -> tantivy::Result<PreparedSearch> {
        let f = fields();
        let mut stemmer = index.tokenizer_for_field(f.title)?;
        let mut plain = index.tokenizer_for_field(f.title_words)?;
        // Both analyzers split alike; only the stemming differs.
        let words = tokens(&mut stemmer, &search.text)
            .into_iter()
            .zip(tokens(&mut plain, &search.text))
            .map(|(stem, plain)| Word { stem, plain })
            .collect::<Vec<_>>();
        let identifiers = Identifiers::in_text(&search.text);
        let matching = matching_query(search, &words, &identifiers);
        let mut clauses = vec![(Occur::Must, matching)];
        clauses.extend(filters(search).into_iter().map(|q| (Occur::Must, q)));
        let query = Box::new(live(Box::new(BooleanQuery::new(clauses))));
        Ok(PreparedSearch { query, words, identifiers, stemmer, limit: search.limit })
    }

    pub fn run(mut self, searcher: &Searcher) -> tantivy::Result<SearchResults> {
        // TopDocs allocates for its limit and refuses 0: ask for no more hits than there are
        // documents, and for one (dropped below) in a count-only search.
        let limit = self.limit.min(searcher.num_docs() as usize).max(1);
        let top = TopDocs::with_limit(limit).order_by_score();
        let (top, total, aggregations) = searcher.search(&self.query, &(top, Count, facet_collector()))?;
        let mut results = Vec::with_capacity(top.len());
        for (score, address) in top.into_iter().take(self.limit) {
            results.push(self.hit(searcher, score, address)?);
        }
        Ok(SearchResults { total: total as u64, results, facets: facets(aggregations) })
    }

    fn hit(&mut self, searcher: &Searcher, score: f32, address: DocAddress) -> tantivy::Result<SearchHit> {
        let doc: TantivyDocument = searcher.doc(address)?;
        let product = fields()
            .stored_product(&doc)
            .map_err(|e| tantivy::TantivyError::InternalError(format!("a stored document is not valid JSON: {e}")))?
            .ok_or_else(|| tantivy::TantivyError::InternalError("a tombstone matched a search".into()))?;
        let why = self.why(&product);
        Ok(SearchHit {
            id: product.id,
            score,
            kind: product.kind,
            title: product.title,
            brand: product.brand,
            gtin: product.gtin,
            mpn: product.mpn,
            lowest_price: product.lowest_price,
            total_stock: product.total_stock,
            offers: product.offers,
            why,
        })
    }

    /// An exact identifier, else the fields holding a query word ("title, brand").
    fn why(&mut self, product: &ProductDocument) -> Option<String> {
        if let Some(exact) = self.identifiers.shared_with(product) {
            return Some(exact.to_string());
        }
        let candidates = [
            ("title", Some(product.title.as_str())),
            ("brand", product.brand.as_deref()),
            ("mpn", product.mpn.as_deref()),
            ("description", product.description.as_deref()),
        ];
        let mut matched = Vec::new();
        for (name, text) in candidates {
            let stems = tokens(&mut self.stemmer, text.unwrap_or_default());
            if self.words.iter().any(|w| stems.contains(&w.stem)) {
                matched.push(name);
            }
        }
        if matched.is_empty() && self.title_has_near_word(&product.title) {
            matched.push("title (spelling corrected)");
        }
        (!matched.is_empty()).then(|| matched.join(", "))
    }

    fn title_has_near_word(&self, title: &str) -> bool {
        let title = title.to_lowercase();
        let title_words: Vec<&str> = title.split(|c: char| !c.is_alphanumeric()).collect();
        self.words.iter().any(|w| title_words.iter().any(|t| within_one_edit(&w.plain, t)))
    }
}

fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    analyzer.token_stream(text).process(&mut |token| out.push(token.text.clone()));
    out
}

fn term(field: Field, text: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::WithFreqs))
}

fn boosted(query: Box<dyn Query>, boost: f32) -> Box<dyn Query> {
    Box::new(BoostQuery::new(query, boost))
}

/// Words or identifiers; everything when the text is empty (a filter-only search).
fn matching_query(search: &SearchQuery, words: &[Word], identifiers: &Identifiers) -> Box<dyn Query> {
    if search.text.trim().is_empty() {
        return Box::new(AllQuery);
    }
    let f = fields();
    let exact = |field: Field, keys: &[String], score: f32| -> Vec<Box<dyn Query>> {
        keys.iter().map(|k| Box::new(ConstScoreQuery::new(term(field, k), score)) as Box<dyn Query>).collect()
    };
    let mut alternatives = exact(f.gtin, &identifiers.gtins, EXACT_GTIN_SCORE);
    alternatives.extend(exact(f.sku, &identifiers.skus, EXACT_SKU_SCORE));
    alternatives.extend(exact(f.mpn_key, &identifiers.mpns, EXACT_MPN_SCORE));
    if !words.is_empty() {
        alternatives.push(Box::new(BooleanQuery::intersection(words.iter().map(word_query).collect())));
    }
    if alternatives.is_empty() {
        return Box::new(EmptyQuery);
    }
    Box::new(BooleanQuery::union(alternatives))
}

fn word_query(word: &Word) -> Box<dyn Query> {
    let f = fields();
    let mut fields_matching = vec![
        boosted(term(f.title, &word.stem), TITLE_BOOST),
        boosted(term(f.brand, &word.stem), BRAND_BOOST),
        boosted(term(f.mpn, &word.stem), MPN_BOOST),
        term(f.description, &word.stem),
    ];
    if word.plain.chars().count() >= FUZZY_MIN_LEN {
        let typo = FuzzyTermQuery::new(Term::from_field_text(f.title_words, &word.plain), 1, true);
        fields_matching.push(Box::new(typo));
    }
    Box::new(BooleanQuery::union(fields_matching))
}

fn filters(search: &SearchQuery) -> Vec<Box<dyn Query>> {
    let f = fields();
    let mut filters = Vec::new();
    if let Some(brand) = &search.brand {
        // A brand with no key ("Inc.") can match no product.
        let key = brand_key(brand).unwrap_or_default();
        filters.push(term(f.brand_key, &key));
    }
    if let Some(distributor) = &search.distributor {
        filters.push(term(f.distributor, distributor));
    }
    if search.in_stock {
        let positive = Bound::Excluded(Term::from_field_i64(f.total_stock, 0));
        filters.push(Box::new(tantivy::query::RangeQuery::new(positive, Bound::Unbounded)));
    }
    if search.min_price.is_some() || search.max_price.is_some() {
        let bound = |price: Option<f64>| {
            price.map_or(Bound::Unbounded, |p| Bound::Included(Term::from_field_f64(f.lowest_price, p)))
        };
        let range = tantivy::query::RangeQuery::new(bound(search.min_price), bound(search.max_price));
        filters.push(Box::new(range));
    }
    filters
}

fn facet_collector() -> AggregationCollector {
    let request = serde_json::json!({
        "brand": { "terms": { "field": BRAND_KEY, "size": FACET_SIZE } },
        "distributor": { "terms": { "field": DISTRIBUTOR, "size": FACET_SIZE } },
    });
    let aggregations: Aggregations = serde_json::from_value(request).expect("the facet request is valid");
    AggregationCollector::from_aggs(aggregations, AggContextParams::default())
}

fn facets(mut results: AggregationResults) -> Facets {
    let mut counts = |name: &str| {
        let Some(AggregationResult::BucketResult(BucketResult::Terms { buckets, .. })) = results.0.remove(name) else {
            return Vec::new();
        };
        let mut counts: Vec<(String, u64)> = buckets
            .into_iter()
            .filter_map(|b| match b.key {
                Key::Str(value) => Some((value, b.doc_count)),
                _ => None,
            })
            .collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        counts
    };
    Facets { brand: counts("brand"), distributor: counts("distributor") }
}

/// Whether two words differ by at most one insertion, deletion, substitution or swap of
/// neighbours: what the title's fuzzy query accepts.
fn within_one_edit(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[prefix..], &b[prefix..]);
    match (a.len(), b.len()) {
        (0, 0) => true,
        (la, lb) if la == lb => a[1..] == b[1..] || (la >= 2 && a[0] == b[1] && a[1] == b[0] && a[2..] == b[2..]),
        (la, lb) if la == lb + 1 => a[1..] == *b,
        (la, lb) if lb == la + 1 => b[1..] == *a,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_edit_or_one_swap_is_near_and_two_are_not() {
        assert!(within_one_edit("cordles", "cordless"));
        assert!(within_one_edit("drlil", "drill"));
        assert!(within_one_edit("drills", "drill"));
        assert!(within_one_edit("grill", "drill"));
        assert!(!within_one_edit("cordls", "cordless"));
        assert!(within_one_edit("dirll", "drill"));
        assert!(!within_one_edit("drl", "drill"));
    }

    #[test]
    fn identifiers_are_read_from_tokens_and_from_the_whole_text() {
        let ids = Identifiers::in_text("0 12345 67890 5");
        assert_eq!(ids.gtins, vec!["00012345678905".to_string()]);
        let ids = Identifiers::in_text("battery DRL-1800");
        assert!(ids.mpns.contains(&"drl1800".to_string()));
        assert!(ids.skus.contains(&"drl1800".to_string()));
    }
}
