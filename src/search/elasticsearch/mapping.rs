//! The index catsync creates (settings and explicit mappings) and the document as stored in it:
//! the `ProductDocument` itself, read back whole from `_source`, plus a `keys` object of
//! normalized identifiers that exact GTIN/MPN/SKU queries and the distributor facet use.

use serde::Serialize;
use serde_json::{json, Value};

use crate::gtin::Gtin14;
use crate::matching::text::{mpn_key, squash};
use crate::search::ProductDocument;

/// How long a delete's version is remembered (`index.gc_deletes`, 60 s by default). After that
/// window a late write carrying an older version would bring a deleted product back. Writes are
/// late when a batch sits in backoff (minutes at most) or an indexer stalls mid-run; documents are
/// otherwise built from the store when sent, so an older version only ever travels in such a
/// straggler. Six hours covers a stuck run with a wide margin; a tombstone is a few bytes per
/// deleted document, so even a day of catalog deletes costs little memory.
pub(crate) const GC_DELETES: &str = "6h";

/// The normalizer keyword fields compare with: case and accents do not matter.
const KEY_NORMALIZER: &str = "catalog_key";

/// `PUT /{index}` for a new concrete index. A bulk-loading index starts with no replicas and no
/// refresh (restored before it goes live); otherwise the alias is added in the same request.
pub(crate) fn index_body(alias: Option<&str>, bulk_loading: bool) -> Value {
    let mut settings = json!({
        "gc_deletes": GC_DELETES,
        "analysis": {"normalizer": {KEY_NORMALIZER: {"type": "custom", "filter": ["lowercase", "asciifolding"]}}},
    });
    if bulk_loading {
        settings["number_of_replicas"] = json!(0);
        settings["refresh_interval"] = json!("-1");
    }
    let mut body = json!({"settings": {"index": settings}, "mappings": mappings()});
    if let Some(alias) = alias {
        body["aliases"] = json!({alias: {"is_write_index": true}});
    }
    body
}

/// Explicit and strict: a field the code forgets to map fails loudly as a per-document error
/// instead of being guessed (a GTIN guessed as `long` would lose its leading zeros for good).
fn mappings() -> Value {
    let keyword = json!({"type": "keyword"});
    let key = json!({"type": "keyword", "normalizer": KEY_NORMALIZER});
    let money = json!({"type": "scaled_float", "scaling_factor": 100});
    let text_with_keyword = json!({"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 512}}});
    json!({
        "dynamic": "strict",
        "properties": {
            "id": keyword,
            "version": {"type": "long"},
            "kind": keyword,
            "title": text_with_keyword,
            "brand": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 512}, "key": key}},
            "gtin": keyword,
            "mpn": text_with_keyword,
            "description": {"type": "text"},
            "price": money,
            // Catalog columns vary by config: kept in `_source` for `document`, never indexed.
            "fields": {"type": "object", "dynamic": false},
            // Nested, so that one offer's distributor and price are matched together.
            "offers": {"type": "nested", "properties": {
                "distributor": keyword, "sku": keyword, "price": money, "quantity": {"type": "long"},
            }},
            "lowest_price": money,
            "total_stock": {"type": "long"},
            "offer_count": {"type": "integer"},
            "keys": {"properties": {"gtin": key, "mpn": key, "sku": key, "distributor": keyword}},
        }
    })
}

/// A document as sent: the product document and its search keys.
#[derive(Serialize)]
pub(crate) struct StoredDocument<'a> {
    #[serde(flatten)]
    document: &'a ProductDocument,
    keys: SearchKeys,
}

/// Normalized identifiers, so that `0400638133393`, `04006381333931` and `4006381333931` find the
/// same product, and `CD994FN#140` finds `cd994fn`.
#[derive(Serialize)]
struct SearchKeys {
    gtin: Option<String>,
    mpn: Option<String>,
    sku: Vec<String>,
    /// One entry per distributor, so the facet counts products rather than offers.
    distributor: Vec<String>,
}

impl<'a> StoredDocument<'a> {
    pub(crate) fn new(document: &'a ProductDocument) -> StoredDocument<'a> {
        let mut distributor: Vec<String> = document.offers.iter().map(|o| o.distributor.clone()).collect();
        distributor.sort();
        distributor.dedup();
        let keys = SearchKeys {
            gtin: document.gtin.as_deref().and_then(gtin_key),
            mpn: document.mpn.as_deref().and_then(mpn_key),
            sku: document.offers.iter().filter_map(|o| sku_key(&o.sku)).collect(),
            distributor,
        };
        StoredDocument { document, keys }
    }
}

/// A GTIN as 14 digits, also when its check digit is wrong (a feed's typo is still its key).
pub(crate) fn gtin_key(raw: &str) -> Option<String> {
    match Gtin14::parse(raw) {
        Ok(gtin) | Err((_, Some(gtin))) => Some(gtin.into_string()),
        Err((_, None)) => None,
    }
}

/// A SKU without case, spaces or punctuation: `AB-123 x` and `ab123x` are one SKU to a searcher.
pub(crate) fn sku_key(raw: &str) -> Option<String> {
    Some(squash(raw)).filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_normalized_as_the_queries_normalize_them() {
        assert_eq!(gtin_key("4006381333931").as_deref(), Some("04006381333931"));
        assert_eq!(gtin_key("cordless drill"), None);
        assert_eq!(sku_key(" AB-123 ").as_deref(), Some("ab123"));
        assert_eq!(sku_key("--"), None);
    }

    #[test]
    fn a_bulk_loading_index_has_no_alias_replicas_or_refresh() {
        let body = index_body(None, true);
        assert_eq!(body["settings"]["index"]["refresh_interval"], "-1");
        assert_eq!(body["settings"]["index"]["number_of_replicas"], 0);
        assert!(body.get("aliases").is_none());
        let live = index_body(Some("products"), false);
        assert_eq!(live["aliases"]["products"]["is_write_index"], true);
        assert_eq!(live["settings"]["index"]["gc_deletes"], GC_DELETES);
    }
}
