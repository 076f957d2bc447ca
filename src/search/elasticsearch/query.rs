//! `SearchQuery` → `_search` body, and the answer → `SearchResults` (elasticsearch-bulk.md §11.1).
//!
//! Words match title, brand, MPN and description with typo tolerance (`fuzziness: AUTO`); the
//! same text is also tried as an exact GTIN, MPN and SKU against the normalized keys, boosted so
//! far above any word match that an exact identifier always ranks first. Each clause is named
//! (`_name`), so that a server returning `matched_queries` tells `why` a product matched. Filters
//! never score; facets count the matching products by brand and by distributor.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::mapping::{gtin_key, sku_key};
use crate::matching::text::mpn_key;
use crate::search::{Facets, ProductDocument, SearchError, SearchHit, SearchQuery, SearchResults};

/// Far above what word matches score, so an exact identifier wins whatever else matches.
const EXACT_BOOST: f64 = 1000.0;
/// Facet values returned per facet.
const FACET_SIZE: usize = 20;

const EXACT_GTIN: &str = "exact GTIN";
const EXACT_MPN: &str = "exact MPN";
const EXACT_SKU: &str = "exact SKU";
const WORDS: &str = "words";

/// The `_search` body for a query.
pub(crate) fn search_body(query: &SearchQuery) -> Value {
    json!({
        "size": query.limit,
        "track_total_hits": true,
        "query": {"bool": {
            "must": [text_query(query.text.trim())],
            "filter": filters(query),
        }},
        "aggs": {
            "brand": {"terms": {"field": "brand.keyword", "size": FACET_SIZE}},
            "distributor": {"terms": {"field": "keys.distributor", "size": FACET_SIZE}},
        },
    })
}

/// Words or an exact identifier; everything when there is no text (filters alone).
fn text_query(text: &str) -> Value {
    if text.is_empty() {
        return json!({"match_all": {}});
    }
    let mut should = vec![json!({"multi_match": {
        "query": text,
        "fields": ["title^3", "brand^2", "mpn", "description"],
        "fuzziness": "AUTO",
        "_name": WORDS,
    }})];
    let exact = [
        ("keys.gtin", gtin_key(text), EXACT_GTIN),
        ("keys.mpn", mpn_key(text), EXACT_MPN),
        ("keys.sku", sku_key(text), EXACT_SKU),
    ];
    for (field, key, name) in exact {
        if let Some(key) = key {
            should.push(json!({"term": {field: {"value": key, "boost": EXACT_BOOST, "_name": name}}}));
        }
    }
    json!({"bool": {"should": should, "minimum_should_match": 1}})
}

fn filters(query: &SearchQuery) -> Vec<Value> {
    let mut filters = Vec::new();
    if let Some(brand) = &query.brand {
        filters.push(json!({"term": {"brand.key": brand}}));
    }
    if let Some(distributor) = &query.distributor {
        filters.push(json!({"nested": {"path": "offers", "query": {"term": {"offers.distributor": distributor}}}}));
    }
    if query.in_stock {
        filters.push(json!({"range": {"total_stock": {"gt": 0}}}));
    }
    let bounds: Map<String, Value> = [("gte", query.min_price), ("lte", query.max_price)]
        .into_iter()
        .filter_map(|(bound, price)| Some((bound.to_string(), json!(price?))))
        .collect();
    if !bounds.is_empty() {
        filters.push(json!({"range": {"lowest_price": bounds}}));
    }
    filters
}

/// Reads a `_search` answer; `location` names the request in errors.
pub(crate) fn results(answer: &Value, location: &str) -> Result<SearchResults, SearchError> {
    let hits = answer["hits"]["hits"].as_array().map(Vec::as_slice).unwrap_or_default();
    let results = hits.iter().map(|hit| search_hit(hit, location)).collect::<Result<_, _>>()?;
    Ok(SearchResults {
        total: answer["hits"]["total"]["value"].as_u64().unwrap_or(hits.len() as u64),
        results,
        facets: Facets {
            brand: buckets(&answer["aggregations"]["brand"]),
            distributor: buckets(&answer["aggregations"]["distributor"]),
        },
    })
}

fn search_hit(hit: &Value, location: &str) -> Result<SearchHit, SearchError> {
    let document = stored_document(&hit["_source"], location)?;
    Ok(SearchHit {
        id: document.id,
        score: hit["_score"].as_f64().unwrap_or_default() as f32,
        kind: document.kind,
        why: why(&hit["matched_queries"]),
        title: document.title,
        brand: document.brand,
        gtin: document.gtin,
        mpn: document.mpn,
        lowest_price: document.lowest_price,
        total_stock: document.total_stock,
        offers: document.offers,
    })
}

/// A `_source` as the `ProductDocument` it was written from.
pub(crate) fn stored_document(source: &Value, location: &str) -> Result<ProductDocument, SearchError> {
    ProductDocument::deserialize(source).map_err(|e| SearchError::Index {
        location: location.to_string(),
        reason: format!("holds a document catsync cannot read ({e}); rebuild it with `catsync index --full`"),
    })
}

/// An exact identifier says it all; otherwise the word match, if the server named it.
fn why(matched: &Value) -> Option<String> {
    let names: Vec<&str> = matched.as_array()?.iter().filter_map(Value::as_str).collect();
    [EXACT_GTIN, EXACT_MPN, EXACT_SKU, WORDS].into_iter().find(|n| names.contains(n)).map(str::to_string)
}

fn buckets(aggregation: &Value) -> Vec<(String, u64)> {
    let buckets = aggregation["buckets"].as_array().map(Vec::as_slice).unwrap_or_default();
    buckets.iter().filter_map(|b| Some((b["key"].as_str()?.to_string(), b["doc_count"].as_u64()?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gtin_query_also_asks_for_the_exact_key() {
        let body = search_body(&SearchQuery { text: "4006381333931".into(), limit: 5, ..SearchQuery::default() });
        let should = body["query"]["bool"]["must"][0]["bool"]["should"].as_array().unwrap();
        let gtin = should.iter().find(|c| c["term"]["keys.gtin"].is_object()).unwrap();
        assert_eq!(gtin["term"]["keys.gtin"]["value"], "04006381333931");
        assert_eq!(gtin["term"]["keys.gtin"]["_name"], EXACT_GTIN);
    }

    #[test]
    fn why_prefers_the_exact_identifier() {
        assert_eq!(why(&json!(["words", "exact GTIN"])).as_deref(), Some(EXACT_GTIN));
        assert_eq!(why(&json!(["words"])).as_deref(), Some(WORDS));
        assert_eq!(why(&Value::Null), None);
    }

    #[test]
    fn filters_never_score_and_cover_every_option() {
        let query = SearchQuery {
            text: String::new(),
            limit: 10,
            brand: Some("Bosch".into()),
            distributor: Some("acme".into()),
            in_stock: true,
            min_price: Some(5.0),
            max_price: None,
        };
        let body = search_body(&query);
        assert_eq!(body["query"]["bool"]["must"][0], json!({"match_all": {}}));
        assert_eq!(body["query"]["bool"]["filter"].as_array().unwrap().len(), 4);
    }
}
