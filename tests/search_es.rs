//! The Elasticsearch/OpenSearch backend over real HTTP. Behaviour tests run against the simulator
//! in both flavours and, when `CATSYNC_TEST_ES` names a cluster, against that cluster too; tests
//! that need the request log or injected faults run against the simulator only.

mod common;

use std::sync::{Arc, Mutex};

use catsync::dev::es_sim::{Fault, Flavour, ItemFault, LoggedRequest};
use catsync::search::elasticsearch::{self, Product};
use catsync::search::{DocumentChange, DocumentKind, Offer, ProductDocument, SearchError, SearchIndex, SearchQuery};
use common::search_es::{quick_options, settings, EsTarget};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

/// Runs each `async fn(&EsTarget)` against both simulator flavours and the real cluster, if any.
macro_rules! on_every_cluster {
    ($($name:ident),* $(,)?) => {
        on_every_cluster!(@on elasticsearch_sim, Some(super::EsTarget::simulated(super::Flavour::Elasticsearch).await); $($name),*);
        on_every_cluster!(@on opensearch_sim, Some(super::EsTarget::simulated(super::Flavour::OpenSearch).await); $($name),*);
        on_every_cluster!(@on real_cluster, super::EsTarget::real().await; $($name),*);
    };
    (@on $cluster:ident, $target:expr; $($name:ident),*) => {
        mod $cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(t) = $target else { return };
                    super::$name(&t).await;
                    t.cleanup().await;
                }
            )*
        }
    };
}

on_every_cluster!(
    documents_round_trip_exactly_through_document_and_search,
    an_older_version_never_replaces_a_newer_one,
    deleted_documents_stay_deleted_when_a_stale_write_arrives,
    the_same_batch_applied_twice_leaves_the_same_index,
    a_rebuild_swaps_the_alias_and_removes_the_old_index,
    a_rebuild_dropped_unfinished_leaves_the_live_index_serving,
    exact_identifiers_rank_first_and_filters_and_facets_apply,
);

fn id(n: u32) -> Uuid {
    Uuid::from_u128(0x5eed_0000 + u128::from(n))
}

fn product(n: u32, version: i64) -> ProductDocument {
    let offers = vec![Offer {
        distributor: "acme".into(),
        sku: format!("AC-{n}"),
        price: Some(10.0 + f64::from(n)),
        quantity: Some(3),
    }];
    ProductDocument {
        id: id(n),
        version,
        kind: DocumentKind::Catalog,
        title: format!("Cordless drill {n} version {version}"),
        brand: Some("Boschmann".into()),
        gtin: None,
        mpn: Some(format!("DR-{n}00X")),
        description: None,
        price: None,
        fields: serde_json::Map::new(),
        offers,
        lowest_price: Some(10.0 + f64::from(n)),
        total_stock: 3,
        offer_count: 1,
    }
}

fn upserts(documents: &[ProductDocument]) -> Vec<DocumentChange> {
    documents.iter().cloned().map(DocumentChange::Upsert).collect()
}

fn words(text: &str) -> SearchQuery {
    SearchQuery { text: text.into(), limit: 20, ..SearchQuery::default() }
}

async fn apply_all(index: &dyn SearchIndex, changes: Vec<DocumentChange>) {
    let expected = changes.len();
    let report = index.apply(changes).await.unwrap();
    assert_eq!((report.accepted, report.failed), (expected, Vec::new()));
}

async fn version_of(t: &EsTarget, n: u32) -> Option<i64> {
    t.index.document(id(n)).await.unwrap().map(|d| d.version)
}

async fn documents_round_trip_exactly_through_document_and_search(t: &EsTarget) {
    let mut nasty = product(1, 3);
    nasty.title = "Drill \"Pro\" 18V\nsecond line\t😀 </script><script>alert(1)</script> \\ end".into();
    nasty.description = Some("Ünïcödé — “quotes” and 'single' ones".into());
    nasty.gtin = Some("04006381333931".into());
    nasty.fields.insert("Colour".into(), json!("red"));
    nasty.fields.insert("Dimensions".into(), json!({"w": 10, "h": [1, 2.5]}));
    apply_all(&*t.index, upserts(std::slice::from_ref(&nasty))).await;

    assert_eq!(t.index.document(id(1)).await.unwrap().as_ref(), Some(&nasty));
    assert_eq!(t.index.document(id(99)).await.unwrap(), None);
    assert_eq!(t.index.count().await.unwrap(), 1);
    let found = t.index.search(&words("drill")).await.unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(found.results[0].title, nasty.title);
    assert_eq!(found.results[0].offers, nasty.offers);
}

async fn an_older_version_never_replaces_a_newer_one(t: &EsTarget) {
    apply_all(&*t.index, upserts(&[product(1, 2)])).await;
    // The retry of an older batch arrives late: accepted as superseded, and changes nothing.
    apply_all(&*t.index, upserts(&[product(1, 1)])).await;
    let stored = t.index.document(id(1)).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.title.as_str()), (2, "Cordless drill 1 version 2"));
    apply_all(&*t.index, upserts(&[product(1, 3)])).await;
    assert_eq!(version_of(t, 1).await, Some(3));
}

async fn deleted_documents_stay_deleted_when_a_stale_write_arrives(t: &EsTarget) {
    apply_all(&*t.index, upserts(&[product(1, 1), product(2, 1)])).await;
    apply_all(&*t.index, vec![DocumentChange::Delete { id: id(1), version: 2 }]).await;
    assert_eq!(version_of(t, 1).await, None);
    // The write the delete replaced arrives late, and a never-indexed document is deleted.
    apply_all(&*t.index, upserts(&[product(1, 1)])).await;
    apply_all(&*t.index, vec![DocumentChange::Delete { id: id(7), version: 1 }]).await;
    assert_eq!(version_of(t, 1).await, None);
    assert_eq!(t.index.count().await.unwrap(), 1);
    assert_eq!(t.index.search(&words("drill")).await.unwrap().total, 1);
}

async fn the_same_batch_applied_twice_leaves_the_same_index(t: &EsTarget) {
    // A crash after the bulk succeeded but before the outbox was acknowledged sends it all again.
    let batch: Vec<DocumentChange> = upserts(&[product(1, 1), product(2, 4), product(3, 1)])
        .into_iter()
        .chain([DocumentChange::Delete { id: id(3), version: 2 }])
        .collect();
    apply_all(&*t.index, batch.clone()).await;
    let first = snapshot(t).await;
    apply_all(&*t.index, batch).await;
    assert_eq!(snapshot(t).await, first);
    assert_eq!(first, vec![Some(1), Some(4), None]);
    assert_eq!(t.index.count().await.unwrap(), 2);
}

async fn snapshot(t: &EsTarget) -> Vec<Option<i64>> {
    let mut versions = Vec::new();
    for n in 1..=3 {
        versions.push(version_of(t, n).await);
    }
    versions
}

async fn a_rebuild_swaps_the_alias_and_removes_the_old_index(t: &EsTarget) {
    apply_all(&*t.index, upserts(&[product(1, 1), product(2, 1)])).await;
    let before = t.alias_indices().await;
    let mut rebuild = t.index.begin_rebuild().await.unwrap();
    let loaded = rebuild.write(vec![product(1, 1), product(2, 1)]).await.unwrap();
    assert_eq!(loaded.accepted, 2);
    // Writes continue through the alias into the old index while the load runs.
    apply_all(&*t.index, upserts(&[product(3, 1), product(1, 2)])).await;
    assert_eq!(version_of(t, 3).await, Some(1), "the live index takes writes during a rebuild");
    rebuild.finish().await.unwrap();

    let after = t.alias_indices().await;
    assert_eq!(after.len(), 1);
    assert_ne!(after, before);
    assert_eq!(t.indices().await, after, "the old index is gone");
    // Chosen behaviour: the swap drops what went to the old index; the caller re-sends the
    // changes made since the rebuild began (the outbox kept them), and versions sort out the overlap.
    assert_eq!((version_of(t, 1).await, version_of(t, 3).await), (Some(1), None));
    apply_all(&*t.index, upserts(&[product(3, 1), product(1, 2), product(2, 1)])).await;
    assert_eq!(snapshot(t).await, vec![Some(2), Some(1), Some(1)]);
    assert_eq!(t.index.count().await.unwrap(), 3);
    let (_, live) = t.call(Method::GET, &format!("/{}/_settings?flat_settings=true", after[0])).await;
    assert_ne!(live[&after[0]]["settings"]["index.refresh_interval"], "-1", "refresh is back on");
}

async fn a_rebuild_dropped_unfinished_leaves_the_live_index_serving(t: &EsTarget) {
    apply_all(&*t.index, upserts(&[product(1, 1)])).await;
    let live = t.alias_indices().await;
    let mut rebuild = t.index.begin_rebuild().await.unwrap();
    rebuild.write(vec![product(5, 1)]).await.unwrap();
    drop(rebuild);
    assert_eq!(t.alias_indices().await, live);
    assert_eq!((version_of(t, 1).await, version_of(t, 5).await), (Some(1), None));
    // The next rebuild starts clean and ends with one index, whether or not the drop's cleanup ran.
    let rebuild = t.index.begin_rebuild().await.unwrap();
    rebuild.finish().await.unwrap();
    assert_eq!(t.indices().await.len(), 1);
    assert_eq!(t.index.count().await.unwrap(), 0);
}

async fn exact_identifiers_rank_first_and_filters_and_facets_apply(t: &EsTarget) {
    let mut drill = product(1, 1);
    drill.gtin = Some("4006381333931".into());
    drill.title = "Impact driver".into();
    let mut other = product(2, 1);
    other.brand = Some("Makito".into());
    other.offers.push(Offer { distributor: "zenith".into(), sku: "Z-9".into(), price: Some(50.0), quantity: Some(0) });
    other.offer_count = 2;
    let mut empty = product(3, 1);
    empty.total_stock = 0;
    empty.lowest_price = Some(99.0);
    apply_all(&*t.index, upserts(&[drill, other, empty])).await;
    t.index.count().await.unwrap();

    let gtin = t.index.search(&words("04006381333931")).await.unwrap();
    assert_eq!(gtin.results.first().map(|h| h.id), Some(id(1)));
    let sku = t.index.search(&words("z9")).await.unwrap();
    assert_eq!(sku.results.first().map(|h| h.id), Some(id(2)));
    let mpn = t.index.search(&words("dr-300x")).await.unwrap();
    assert_eq!(mpn.results.first().map(|h| h.id), Some(id(3)));

    let all = t.index.search(&words("")).await.unwrap();
    assert_eq!(all.total, 3);
    assert_eq!(all.facets.brand, vec![("Boschmann".to_string(), 2), ("Makito".to_string(), 1)]);
    assert_eq!(all.facets.distributor, vec![("acme".to_string(), 3), ("zenith".to_string(), 1)]);
    let ids = |q: SearchQuery| async move {
        let mut ids: Vec<Uuid> = t.index.search(&q).await.unwrap().results.iter().map(|h| h.id).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(SearchQuery { brand: Some("makito".into()), ..words("") }).await, vec![id(2)]);
    assert_eq!(ids(SearchQuery { distributor: Some("zenith".into()), ..words("") }).await, vec![id(2)]);
    assert_eq!(ids(SearchQuery { in_stock: true, ..words("") }).await, vec![id(1), id(2)]);
    assert_eq!(ids(SearchQuery { min_price: Some(11.5), max_price: Some(50.0), ..words("") }).await, vec![id(2)]);
}

// ---- Against the simulator only: the request log and injected faults. ----

fn bulks(t: &EsTarget) -> Vec<LoggedRequest> {
    t.sim.as_ref().unwrap().requests().into_iter().filter(|r| r.path.ends_with("/_bulk")).collect()
}

/// The action lines of a bulk body, each with the document line that follows it, if any.
fn actions(body: &str) -> Vec<(Value, Option<Value>)> {
    assert!(body.ends_with('\n'), "a bulk body ends with a newline");
    let mut lines = body.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).peekable();
    let mut out = Vec::new();
    while let Some(action) = lines.next() {
        let source = if action.get("index").is_some() { lines.next() } else { None };
        out.push((action, source));
    }
    out
}

#[tokio::test]
async fn bulk_bodies_are_ndjson_with_versioned_actions_and_one_action_per_document() {
    for flavour in [Flavour::Elasticsearch, Flavour::OpenSearch] {
        let t = EsTarget::simulated(flavour).await;
        let changes: Vec<DocumentChange> = upserts(&[product(1, 5), product(2, 6)])
            .into_iter()
            .chain([DocumentChange::Delete { id: id(3), version: 9 }])
            .collect();
        apply_all(&*t.index, changes).await;
        let bulks = bulks(&t);
        assert_eq!(bulks.len(), 1);
        assert_eq!(bulks[0].content_type.as_deref(), Some("application/x-ndjson"));
        assert_eq!(bulks[0].path, "/products/_bulk");
        assert!(bulks[0].query.contains("require_alias=true"), "{}", bulks[0].query);
        let sent = actions(&bulks[0].body);
        assert_eq!(bulks[0].body.lines().count(), 5);
        let expected = [("index", id(1), 5), ("index", id(2), 6), ("delete", id(3), 9)];
        assert_eq!(sent.len(), expected.len());
        for ((action, source), (kind, id, version)) in sent.iter().zip(expected) {
            let meta = &action[kind];
            assert_eq!(action.as_object().unwrap().len(), 1);
            assert_eq!(
                (meta["_id"].as_str(), meta["version"].as_i64()),
                (Some(id.to_string().as_str()), Some(version))
            );
            assert_eq!(meta["version_type"], "external");
            if let Some(source) = source {
                assert_eq!(source["id"], id.to_string());
                assert!(source["keys"].is_object());
            }
        }
        let hides = bulks[0].query.contains("include_source_on_error=false");
        assert_eq!(hides, flavour == Flavour::Elasticsearch, "only Elasticsearch 8.18+ knows the parameter");
    }
}

#[tokio::test]
async fn an_item_refused_for_load_is_retried_alone_until_accepted() {
    for status in [429, 503] {
        let t = EsTarget::simulated(Flavour::Elasticsearch).await;
        t.sim.as_ref().unwrap().inject_items(ItemFault::Next { count: 1, status });
        apply_all(&*t.index, upserts(&[product(1, 1), product(2, 1), product(3, 1)])).await;
        let bulks = bulks(&t);
        assert_eq!(bulks.len(), 2);
        let resent: Vec<Value> = actions(&bulks[1].body).into_iter().map(|(a, _)| a["index"]["_id"].clone()).collect();
        assert_eq!(resent, vec![json!(id(1).to_string())], "only the refused item goes again");
        assert_eq!(snapshot(&t).await, vec![Some(1), Some(1), Some(1)]);
    }
}

#[tokio::test]
async fn an_item_refused_every_time_is_reported_after_bounded_attempts() {
    let t = EsTarget::simulated(Flavour::OpenSearch).await;
    t.sim.as_ref().unwrap().inject_items(ItemFault::Next { count: 1000, status: 429 });
    let report = t.index.apply(upserts(&[product(1, 1)])).await.unwrap();
    assert_eq!(report.accepted, 0);
    assert_eq!(report.failed.len(), 1);
    assert!(report.failed[0].reason.contains("still refused after 5 attempts"), "{}", report.failed[0].reason);
    assert_eq!(bulks(&t).len(), 5);
}

#[tokio::test]
async fn an_unmappable_document_fails_alone_and_is_not_retried() {
    for (flavour, kind) in
        [(Flavour::Elasticsearch, "document_parsing_exception"), (Flavour::OpenSearch, "mapper_parsing_exception")]
    {
        let t = EsTarget::simulated(flavour).await;
        t.sim.as_ref().unwrap().inject_items(ItemFault::Unmappable(id(2).to_string()));
        let report = t.index.apply(upserts(&[product(1, 1), product(2, 1), product(3, 1)])).await.unwrap();
        assert_eq!(report.accepted, 2);
        assert_eq!(report.failed.len(), 1);
        assert_eq!(report.failed[0].id, id(2));
        assert!(report.failed[0].reason.starts_with(kind), "{}", report.failed[0].reason);
        assert_eq!(bulks(&t).len(), 1);
        assert_eq!(snapshot(&t).await, vec![Some(1), None, Some(1)]);
    }
}

#[tokio::test]
async fn a_bulk_whose_answer_was_lost_is_sent_again_without_duplicates() {
    let t = EsTarget::simulated(Flavour::Elasticsearch).await;
    t.sim.as_ref().unwrap().inject_on("_bulk", Fault::DropAfterApply);
    apply_all(&*t.index, upserts(&[product(1, 1), product(2, 1)])).await;
    let bulks = bulks(&t);
    assert_eq!((bulks.len(), bulks[0].status, bulks[1].status), (2, 0, 200));
    assert_eq!(t.sim.as_ref().unwrap().documents("products").len(), 2);
    assert_eq!(t.index.count().await.unwrap(), 2);
}

#[tokio::test]
async fn whole_requests_refused_for_load_are_retried() {
    let t = EsTarget::simulated(Flavour::Elasticsearch).await;
    let sim = t.sim.as_ref().unwrap();
    for fault in [Fault::Status(429), Fault::Status(503), Fault::Status(502), Fault::Drop] {
        sim.inject_on("_bulk", fault);
    }
    apply_all(&*t.index, upserts(&[product(1, 1)])).await;
    assert_eq!(bulks(&t).iter().map(|r| r.status).collect::<Vec<_>>(), vec![429, 503, 502, 0, 200]);
}

#[tokio::test]
async fn batches_are_bounded_by_documents_and_bytes() {
    let (sim, server) = EsTarget::serve(Flavour::Elasticsearch).await;
    let mut options = quick_options();
    options.bulk.batch_documents = 2;
    let index = elasticsearch::connect(&settings(&server.url(), "products"), options.clone()).await.unwrap();
    let documents: Vec<ProductDocument> = (1..=5).map(|n| product(n, 1)).collect();
    apply_all(&index, upserts(&documents)).await;
    options.bulk = elasticsearch::BulkLimits { batch_bytes: 1, batch_documents: 1000, in_flight: 2 };
    let index = elasticsearch::connect(&settings(&server.url(), "products"), options).await.unwrap();
    apply_all(&index, upserts(&documents)).await;
    let sizes: Vec<usize> =
        sim.requests().iter().filter(|r| r.path.ends_with("_bulk")).map(|r| actions(&r.body).len()).collect();
    let (by_count, by_bytes) = sizes.split_at(3);
    assert_eq!(
        {
            let mut s = by_count.to_vec();
            s.sort();
            s
        },
        vec![1, 2, 2]
    );
    assert_eq!(by_bytes, [1, 1, 1, 1, 1], "a document over the byte budget still goes, alone");
}

#[tokio::test]
async fn first_use_creates_a_strict_index_behind_the_alias() {
    let t = EsTarget::simulated(Flavour::OpenSearch).await;
    let sim = t.sim.as_ref().unwrap();
    let behind = sim.aliases()["products"].clone();
    assert_eq!(behind.len(), 1);
    assert!(behind[0].starts_with("products-"), "{behind:?}");
    assert_eq!(sim.mapping(&behind[0]).unwrap()["dynamic"], "strict");
    assert_eq!(sim.settings(&behind[0]).unwrap()["index.gc_deletes"], "6h");
    // Opening again reuses it.
    elasticsearch::connect(&t.settings, quick_options()).await.unwrap();
    assert_eq!(sim.indices(), behind);
}

#[tokio::test]
async fn an_index_holding_the_alias_name_is_refused() {
    let (sim, server) = EsTarget::serve(Flavour::Elasticsearch).await;
    sim.create_index("products", &json!({})).unwrap();
    let error = elasticsearch::connect(&settings(&server.url(), "products"), quick_options()).await.err().unwrap();
    assert!(error.to_string().contains("needs that name for an alias"), "{error}");
}

#[tokio::test]
async fn a_rebuild_loads_with_refresh_and_replicas_off_then_restores_them() {
    let t = EsTarget::simulated(Flavour::Elasticsearch).await;
    let sim = t.sim.as_ref().unwrap();
    let old = sim.aliases()["products"][0].clone();
    let rebuild = t.index.begin_rebuild().await.unwrap();
    let new = sim.indices().into_iter().find(|i| *i != old).unwrap();
    let loading = sim.settings(&new).unwrap();
    assert_eq!(
        (loading["index.refresh_interval"].as_str(), loading["index.number_of_replicas"].as_str()),
        (Some("-1"), Some("0"))
    );
    rebuild.finish().await.unwrap();
    let live = sim.settings(&new).unwrap();
    assert_eq!((live.get("index.refresh_interval"), live["index.number_of_replicas"].as_str()), (None, Some("1")));
    let swaps: Vec<Value> = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/_aliases")
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert_eq!(swaps.len(), 1, "one atomic swap");
    assert_eq!(swaps[0]["actions"][0]["remove"]["indices"], json!([old]));
    assert_eq!(swaps[0]["actions"][1]["add"]["index"], json!(new));
}

#[tokio::test]
async fn opensearch_and_elasticsearch_are_told_apart() {
    for (flavour, product) in
        [(Flavour::Elasticsearch, Product::Elasticsearch), (Flavour::OpenSearch, Product::OpenSearch)]
    {
        let t = EsTarget::simulated(flavour).await;
        assert_eq!(t.index.server().product, product);
    }
}

#[tokio::test]
async fn an_unsupported_version_is_refused() {
    let root = json!({"name": "old", "version": {"number": "7.17.9", "build_flavor": "default"}, "tagline": "You Know, for Search"});
    let app = axum::Router::new().route("/", axum::routing::get(move || async move { axum::Json(root) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let error = elasticsearch::connect(&settings(&url, "products"), quick_options()).await.err().unwrap();
    let text = error.to_string();
    assert!(text.contains("Elasticsearch 7.17.9") && text.contains("supports Elasticsearch 8"), "{text}");
}

/// Everything `tracing` writes while `run` runs, on this thread.
async fn logged<F: std::future::Future<Output = ()>>(run: F) -> String {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let buffer = buffer.clone();
        move || Capture(buffer.clone())
    };
    let subscriber = tracing_subscriber::fmt().with_writer(writer).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    run.await;
    let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    text
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const PASSWORD: &str = "pa55-W0rd-never-shown";

#[tokio::test(flavor = "current_thread")]
async fn basic_auth_is_sent_on_every_request_and_never_logged() {
    let (sim, server) = EsTarget::serve(Flavour::OpenSearch).await;
    sim.add_user("catsync", PASSWORD);
    let mut with_password = settings(&server.url(), "products");
    with_password.username = Some("catsync".into());
    with_password.password = Some(catsync::config::Secret::new(PASSWORD));
    let log = logged(async {
        let index = elasticsearch::connect(&with_password, quick_options()).await.unwrap();
        sim.inject_on("_bulk", Fault::Status(503));
        apply_all(&index, upserts(&[product(1, 1)])).await;
        assert!(!index.location().contains(PASSWORD));
    })
    .await;
    assert!(log.contains("retrying") && log.contains("cluster_block_exception"), "the retry was logged: {log}");
    assert!(!log.contains(PASSWORD), "{log}");
    let reference = reqwest::Client::new().get(server.url()).basic_auth("catsync", Some(PASSWORD)).build().unwrap();
    let expected = reference.headers()["authorization"].to_str().unwrap().to_string();
    let requests = sim.requests();
    assert!(requests.len() >= 4);
    assert!(requests.iter().all(|r| r.header("authorization") == Some(expected.as_str())));
}

#[tokio::test]
async fn api_keys_are_sent_as_configured() {
    let (sim, server) = EsTarget::serve(Flavour::Elasticsearch).await;
    let encoded = sim.add_api_key("VuaCfGcBCdbkQm-e5aOx", "ui2lp2axTNmsyakw9tvNnw");
    let mut with_key = settings(&server.url(), "products");
    with_key.api_key = Some(catsync::config::Secret::new(&encoded));
    let index = elasticsearch::connect(&with_key, quick_options()).await.unwrap();
    apply_all(&index, upserts(&[product(1, 1)])).await;
    let expected = format!("ApiKey {encoded}");
    assert!(sim.requests().iter().all(|r| r.header("authorization") == Some(expected.as_str())));
}

#[tokio::test]
async fn refused_credentials_are_unauthorized_without_the_password() {
    for flavour in [Flavour::Elasticsearch, Flavour::OpenSearch] {
        let (sim, server) = EsTarget::serve(flavour).await;
        sim.add_user("catsync", "the-right-one");
        let mut wrong = settings(&server.url().replace("http://", &format!("http://catsync:{PASSWORD}@")), "products");
        wrong.username = Some("catsync".into());
        wrong.password = Some(catsync::config::Secret::new(PASSWORD));
        let error = elasticsearch::connect(&wrong, quick_options()).await.err().unwrap();
        assert!(matches!(error, SearchError::Unauthorized { status: 401, .. }), "{error:?}");
        let text = format!("{error} {error:?}");
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(text.contains("GET http://catsync:***@127.0.0.1"), "names the request: {text}");
    }
}
