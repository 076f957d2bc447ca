//! The `SearchIndex` contract, written once against `&dyn SearchIndex` and run against every
//! backend: what is searchable, exact identifiers first, typos, filters and facets, versions that
//! never go backwards, tombstones, zero-downtime rebuilds, and documents that survive reopening.

#[macro_use]
mod common;

use catsync::search::{DocumentChange, DocumentKind, ProductDocument, SearchQuery, SearchResults};
use common::search::{product, TestIndex};
use uuid::Uuid;

search_backend_tests!(
    upserted_products_are_searchable_and_counted,
    total_counts_every_match_beyond_the_limit,
    exact_gtin_given_as_upc_a_ranks_the_product_first,
    exact_sku_ranks_the_product_first,
    exact_mpn_ranks_the_product_first,
    a_typo_in_a_title_word_still_finds_the_product,
    brand_filter_keeps_that_brand_only,
    distributor_filter_keeps_products_it_offers,
    in_stock_filter_drops_products_without_stock,
    price_range_filters_on_the_lowest_price,
    facets_count_matching_products_by_brand_and_distributor_most_first,
    an_older_version_never_replaces_a_newer_one,
    an_older_version_later_in_the_same_batch_is_ignored,
    a_late_older_upsert_does_not_resurrect_a_deleted_product,
    a_newer_upsert_after_a_delete_brings_the_product_back,
    unmatched_distributor_products_are_searchable,
    full_rebuild_keeps_the_old_index_answering_until_finish,
    a_dropped_rebuild_leaves_the_old_index_and_the_next_rebuild_works,
    another_handle_sees_a_finished_rebuild,
    a_title_with_quotes_newlines_emoji_and_script_tag_round_trips,
    a_reopened_index_sees_the_data,
);

/// EAN-13 of the UPC-A `012345678905`.
const DRILL_EAN_13: &str = "0012345678905";
const DRILL_UPC_A: &str = "012345678905";

fn drill() -> ProductDocument {
    ProductDocument {
        brand: Some("Acme".into()),
        gtin: Some(DRILL_EAN_13.into()),
        mpn: Some("DRL-1800".into()),
        description: Some("Two batteries and a charger".into()),
        ..product(
            1,
            "Cordless Drill Driver Kit 18V",
            &[("northwind", "NW-55501", 99.0, 5), ("southwind", "SW-1001", 105.0, 0)],
        )
    }
}

/// Names the drill's SKU and MPN in its own text, so only exact matching puts the drill first.
fn impact_driver() -> ProductDocument {
    ProductDocument {
        brand: Some("Globex".into()),
        mpn: Some("IMP-20".into()),
        description: Some("Replaces the NW-55501 kit".into()),
        ..product(2, "Cordless Impact Driver for DRL-1800 batteries", &[("southwind", "SW-2002", 149.0, 0)])
    }
}

/// Mentions the drill's GTIN in its description.
fn safety_glasses() -> ProductDocument {
    ProductDocument {
        brand: Some("Acme".into()),
        description: Some(format!("Pairs with kit {DRILL_UPC_A}")),
        ..product(3, "Safety Glasses Clear", &[("northwind", "NW-777", 9.5, 100)])
    }
}

fn unmatched_hammer_drill() -> ProductDocument {
    ProductDocument {
        kind: DocumentKind::Unmatched,
        brand: Some("Initech".into()),
        ..product(4, "Hammer Drill 20V", &[("westwind", "WW-HD20", 79.0, 3)])
    }
}

fn catalog() -> Vec<ProductDocument> {
    vec![drill(), impact_driver(), safety_glasses(), unmatched_hammer_drill()]
}

fn upserts(products: Vec<ProductDocument>) -> Vec<DocumentChange> {
    products.into_iter().map(DocumentChange::Upsert).collect()
}

fn versioned(mut product: ProductDocument, version: i64) -> ProductDocument {
    product.version = version;
    product.title = format!("{} v{version}", product.title);
    product
}

fn delete(n: u128, version: i64) -> DocumentChange {
    DocumentChange::Delete { id: Uuid::from_u128(n), version }
}

async fn apply(t: &TestIndex, changes: Vec<DocumentChange>) {
    let report = t.index.apply(changes.clone()).await.unwrap();
    assert_eq!(report.accepted, changes.len(), "{report:?}");
    assert!(report.failed.is_empty(), "{report:?}");
}

async fn index_catalog(t: &TestIndex) {
    apply(t, upserts(catalog())).await;
}

fn words(text: &str) -> SearchQuery {
    SearchQuery { text: text.into(), limit: 10, ..SearchQuery::default() }
}

/// A filter-only search: every product, narrowed by the filters.
fn everything() -> SearchQuery {
    words("")
}

/// Searches are near real time on Elasticsearch: `count` makes every accepted write visible first.
async fn search(t: &TestIndex, query: SearchQuery) -> SearchResults {
    t.index.count().await.unwrap();
    t.index.search(&query).await.unwrap()
}

/// Hit ids as the small numbers the fixtures use, in rank order.
fn ids(results: &SearchResults) -> Vec<u128> {
    results.results.iter().map(|hit| hit.id.as_u128()).collect()
}

async fn assert_ranks_first(t: &TestIndex, text: &str, n: u128) {
    let found = search(t, words(text)).await;
    assert_eq!(ids(&found).first(), Some(&n), "{text:?} → {found:#?}");
}

fn sorted_ids(results: &SearchResults) -> Vec<u128> {
    let mut ids = ids(results);
    ids.sort_unstable();
    ids
}

async fn upserted_products_are_searchable_and_counted(t: &TestIndex) {
    index_catalog(t).await;
    assert_eq!(t.index.count().await.unwrap(), 4);
    let found = search(t, words("drill")).await;
    assert_eq!(sorted_ids(&found), vec![1, 4]);
    assert_eq!(found.total, 2);
    let hit = found.results.iter().find(|h| h.id == drill().id).unwrap();
    assert_eq!(
        (hit.title.as_str(), hit.lowest_price, hit.total_stock),
        ("Cordless Drill Driver Kit 18V", Some(99.0), 5)
    );
    assert_eq!(hit.offers, drill().offers);
    assert_eq!(t.index.document(drill().id).await.unwrap(), Some(drill()));
    assert_eq!(t.index.document(Uuid::from_u128(99)).await.unwrap(), None);
}

async fn total_counts_every_match_beyond_the_limit(t: &TestIndex) {
    index_catalog(t).await;
    let found = search(t, SearchQuery { limit: 1, ..words("cordless") }).await;
    assert_eq!(found.results.len(), 1);
    assert_eq!(found.total, 2);
}

async fn exact_gtin_given_as_upc_a_ranks_the_product_first(t: &TestIndex) {
    index_catalog(t).await;
    assert_ranks_first(t, DRILL_UPC_A, 1).await;
}

async fn exact_sku_ranks_the_product_first(t: &TestIndex) {
    index_catalog(t).await;
    assert_ranks_first(t, "nw-55501", 1).await;
}

async fn exact_mpn_ranks_the_product_first(t: &TestIndex) {
    index_catalog(t).await;
    assert_ranks_first(t, "DRL-1800", 1).await;
}

async fn a_typo_in_a_title_word_still_finds_the_product(t: &TestIndex) {
    index_catalog(t).await;
    assert_ranks_first(t, "cordles drill", 1).await;
}

async fn brand_filter_keeps_that_brand_only(t: &TestIndex) {
    index_catalog(t).await;
    let found = search(t, SearchQuery { brand: Some("Acme".into()), ..everything() }).await;
    assert_eq!(sorted_ids(&found), vec![1, 3]);
    let found = search(t, SearchQuery { brand: Some("Acme".into()), ..words("drill") }).await;
    assert_eq!(ids(&found), vec![1]);
}

async fn distributor_filter_keeps_products_it_offers(t: &TestIndex) {
    index_catalog(t).await;
    let found = search(t, SearchQuery { distributor: Some("southwind".into()), ..everything() }).await;
    assert_eq!(sorted_ids(&found), vec![1, 2]);
}

async fn in_stock_filter_drops_products_without_stock(t: &TestIndex) {
    index_catalog(t).await;
    let found = search(t, SearchQuery { in_stock: true, ..everything() }).await;
    assert_eq!(sorted_ids(&found), vec![1, 3, 4]);
}

async fn price_range_filters_on_the_lowest_price(t: &TestIndex) {
    index_catalog(t).await;
    let between = search(t, SearchQuery { min_price: Some(50.0), max_price: Some(99.0), ..everything() }).await;
    assert_eq!(sorted_ids(&between), vec![1, 4]);
    let from = search(t, SearchQuery { min_price: Some(100.0), ..everything() }).await;
    assert_eq!(sorted_ids(&from), vec![2]);
    let up_to = search(t, SearchQuery { max_price: Some(10.0), ..everything() }).await;
    assert_eq!(sorted_ids(&up_to), vec![3]);
}

/// Facet values lowercased: backends may report a brand as written or as its key.
fn facet(counts: &[(String, u64)]) -> Vec<(String, u64)> {
    counts.iter().map(|(value, n)| (value.to_lowercase(), *n)).collect()
}

fn pairs(expected: &[(&str, u64)]) -> Vec<(String, u64)> {
    expected.iter().map(|&(value, n)| (value.to_string(), n)).collect()
}

async fn facets_count_matching_products_by_brand_and_distributor_most_first(t: &TestIndex) {
    index_catalog(t).await;
    let all = search(t, SearchQuery { limit: 1, ..everything() }).await;
    assert_eq!(facet(&all.facets.brand), pairs(&[("acme", 2), ("globex", 1), ("initech", 1)]));
    // The drill has two offers from two distributors: each counts it once.
    assert_eq!(facet(&all.facets.distributor), pairs(&[("northwind", 2), ("southwind", 2), ("westwind", 1)]));
    let drills = search(t, words("drill")).await;
    assert_eq!(facet(&drills.facets.brand), pairs(&[("acme", 1), ("initech", 1)]));
    assert_eq!(facet(&drills.facets.distributor), pairs(&[("northwind", 1), ("southwind", 1), ("westwind", 1)]));
}

async fn an_older_version_never_replaces_a_newer_one(t: &TestIndex) {
    apply(t, upserts(vec![versioned(drill(), 2)])).await;
    apply(t, upserts(vec![versioned(drill(), 1)])).await;
    assert_eq!(t.index.document(drill().id).await.unwrap(), Some(versioned(drill(), 2)));
    assert_eq!(ids(&search(t, words("v2")).await), vec![1]);
    assert_eq!(search(t, words("v1")).await.total, 0);
    assert_eq!(t.index.count().await.unwrap(), 1);
}

async fn an_older_version_later_in_the_same_batch_is_ignored(t: &TestIndex) {
    apply(t, upserts(vec![versioned(drill(), 3), versioned(drill(), 2)])).await;
    assert_eq!(t.index.document(drill().id).await.unwrap(), Some(versioned(drill(), 3)));
    assert_eq!(t.index.count().await.unwrap(), 1);
}

async fn a_late_older_upsert_does_not_resurrect_a_deleted_product(t: &TestIndex) {
    apply(t, upserts(vec![versioned(drill(), 1)])).await;
    apply(t, vec![delete(1, 3)]).await;
    apply(t, upserts(vec![versioned(drill(), 2)])).await;
    assert_eq!(t.index.document(drill().id).await.unwrap(), None);
    assert_eq!(t.index.count().await.unwrap(), 0);
    assert_eq!(search(t, words("drill")).await.total, 0);
}

async fn a_newer_upsert_after_a_delete_brings_the_product_back(t: &TestIndex) {
    apply(t, vec![DocumentChange::Upsert(versioned(drill(), 1)), delete(1, 3)]).await;
    assert_eq!(t.index.count().await.unwrap(), 0);
    apply(t, upserts(vec![versioned(drill(), 4)])).await;
    assert_eq!(t.index.document(drill().id).await.unwrap(), Some(versioned(drill(), 4)));
    assert_eq!(ids(&search(t, words("drill")).await), vec![1]);
    assert_eq!(t.index.count().await.unwrap(), 1);
}

async fn unmatched_distributor_products_are_searchable(t: &TestIndex) {
    index_catalog(t).await;
    let found = search(t, words("hammer")).await;
    assert_eq!(ids(&found), vec![4]);
    assert_eq!(found.results[0].kind, DocumentKind::Unmatched);
    assert_ranks_first(t, "WW-HD20", 4).await;
}

async fn full_rebuild_keeps_the_old_index_answering_until_finish(t: &TestIndex) {
    apply(t, upserts(vec![drill(), impact_driver()])).await;
    let mut rebuild = t.index.begin_rebuild().await.unwrap();
    rebuild.write(vec![safety_glasses()]).await.unwrap();
    rebuild.write(vec![unmatched_hammer_drill()]).await.unwrap();
    assert_eq!(sorted_ids(&search(t, words("cordless")).await), vec![1, 2]);
    assert_eq!(search(t, words("glasses")).await.total, 0);
    assert_eq!(t.index.count().await.unwrap(), 2);
    rebuild.finish().await.unwrap();
    assert_eq!(search(t, words("cordless")).await.total, 0);
    assert_eq!(ids(&search(t, words("glasses")).await), vec![3]);
    assert_eq!(sorted_ids(&search(t, words("drill")).await), vec![4]);
    assert_eq!(t.index.count().await.unwrap(), 2);
}

async fn a_dropped_rebuild_leaves_the_old_index_and_the_next_rebuild_works(t: &TestIndex) {
    apply(t, upserts(vec![drill()])).await;
    let mut abandoned = t.index.begin_rebuild().await.unwrap();
    abandoned.write(vec![safety_glasses()]).await.unwrap();
    drop(abandoned);
    assert_eq!(t.index.count().await.unwrap(), 1);
    assert_eq!(ids(&search(t, words("drill")).await), vec![1]);
    assert_eq!(search(t, words("glasses")).await.total, 0);

    let mut next = t.index.begin_rebuild().await.unwrap();
    next.write(vec![unmatched_hammer_drill()]).await.unwrap();
    next.finish().await.unwrap();
    assert_eq!(ids(&search(t, words("drill")).await), vec![4]);
    assert_eq!(search(t, words("glasses")).await.total, 0);
}

async fn another_handle_sees_a_finished_rebuild(t: &TestIndex) {
    apply(t, upserts(vec![drill()])).await;
    let other = t.reopen().await;
    assert_eq!(other.count().await.unwrap(), 1);
    let mut rebuild = t.index.begin_rebuild().await.unwrap();
    rebuild.write(vec![safety_glasses(), unmatched_hammer_drill()]).await.unwrap();
    rebuild.finish().await.unwrap();
    assert_eq!(other.count().await.unwrap(), 2);
    assert_eq!(other.document(drill().id).await.unwrap(), None);
    other.apply(vec![DocumentChange::Upsert(impact_driver())]).await.unwrap();
    assert_eq!(t.index.count().await.unwrap(), 3);
}

async fn a_title_with_quotes_newlines_emoji_and_script_tag_round_trips(t: &TestIndex) {
    let nasty = "Drill \"Pro\" 18V\nline two\r\n🔧🚀 </script><script>alert('x')</script> \\ back\tslash";
    let product = ProductDocument { title: nasty.into(), ..drill() };
    apply(t, upserts(vec![product.clone()])).await;
    assert_eq!(t.index.document(product.id).await.unwrap(), Some(product));
    let found = search(t, words("script")).await;
    assert_eq!(found.results.len(), 1);
    assert_eq!(found.results[0].title, nasty);
}

async fn a_reopened_index_sees_the_data(t: &TestIndex) {
    apply(t, upserts(catalog())).await;
    apply(t, vec![delete(3, 2)]).await;
    let reopened = t.reopen().await;
    assert_eq!(reopened.count().await.unwrap(), 3);
    assert_eq!(reopened.document(drill().id).await.unwrap(), Some(drill()));
    assert_eq!(reopened.document(safety_glasses().id).await.unwrap(), None);
    let found = reopened.search(&words("drill")).await.unwrap();
    assert_eq!(sorted_ids(&found), vec![1, 4]);
}
