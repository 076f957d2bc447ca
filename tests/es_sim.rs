//! The Elasticsearch/OpenSearch simulator over real HTTP: what catsync's search-index client will
//! meet, checked with reqwest against `EsSim::serve_local` — the root document of each flavour,
//! auth, indices with settings, mappings and aliases (and the atomic swap), `_bulk` framing and
//! per-item results, external versions, delete tombstones within and after `index.gc_deletes`,
//! injected item and request faults, `_update`'s refusal of external versions, near-real-time
//! `_count`/`_search` with filters and aggregations, 413, `filter_path` and the request log.

use std::time::Duration;

use catsync::dev::es_sim::{EsConfig, EsSim, Fault, Flavour, ItemFault, SimServer};
use reqwest::Method;
use serde_json::{json, Value};

const NDJSON: &str = "application/x-ndjson";

struct Cluster {
    sim: EsSim,
    server: SimServer,
    http: reqwest::Client,
}

impl Cluster {
    async fn start(flavour: Flavour) -> Cluster {
        Cluster::with_config(EsConfig::new(flavour)).await
    }

    async fn with_config(config: EsConfig) -> Cluster {
        let sim = EsSim::with_config(config);
        let server = sim.serve_local().await.unwrap();
        Cluster { sim, server, http: reqwest::Client::new() }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.server.url()))
    }

    /// Sends JSON (or nothing) and returns the status and the JSON answer (`null` when empty).
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.unwrap()).await
    }

    async fn bulk(&self, path: &str, ndjson: &str) -> (u16, Value) {
        read(self.send_bulk(path, Some(NDJSON), ndjson).await.unwrap()).await
    }

    /// A bulk body with this content type (`None`: no header); the connection error if any.
    async fn send_bulk(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> reqwest::Result<reqwest::Response> {
        let mut request = self.request(Method::POST, path).body(body.to_string());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send().await
    }

    /// A bulk that must be accepted; its items.
    async fn bulk_items(&self, path: &str, ndjson: &str) -> Vec<Value> {
        let (status, body) = self.bulk(path, ndjson).await;
        assert_eq!(status, 200, "{body}");
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_object().unwrap().values().next().unwrap().clone())
            .collect()
    }
}

async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
}

/// NDJSON from (action line, optional source) pairs, ending in a newline.
fn ndjson(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn index_line(id: &str, version: u64) -> Value {
    json!({"index": {"_id": id, "version": version, "version_type": "external"}})
}

fn products_mapping() -> Value {
    json!({
        "settings": {"index": {"number_of_replicas": 0, "refresh_interval": "-1"}},
        "mappings": {"dynamic": "strict", "properties": {
            "title": {"type": "text", "fields": {"raw": {"type": "keyword", "normalizer": "lower"}}},
            "brand": {"type": "keyword"},
            "gtin": {"type": "keyword"},
            "min_price": {"type": "scaled_float", "scaling_factor": 100},
            "total_stock": {"type": "long"},
            "in_stock": {"type": "boolean"},
            "updated_at": {"type": "date"},
            "offers": {"type": "nested", "properties": {
                "distributor": {"type": "keyword"}, "price": {"type": "scaled_float", "scaling_factor": 100}}}}}
    })
}

#[tokio::test]
async fn the_root_document_tells_elasticsearch_from_opensearch() {
    let es = Cluster::start(Flavour::Elasticsearch).await;
    let response = es.request(Method::GET, "/").send().await.unwrap();
    assert_eq!(response.headers()["x-elastic-product"], "Elasticsearch");
    let (_, root) = read(response).await;
    assert_eq!(root["version"]["number"], "8.19.3");
    assert_eq!(root["version"]["build_flavor"], "default");
    assert!(root["version"].get("distribution").is_none());
    assert_eq!(root["tagline"], "You Know, for Search");

    let os = Cluster::start(Flavour::OpenSearch).await;
    let response = os.request(Method::GET, "/").send().await.unwrap();
    assert!(response.headers().get("x-elastic-product").is_none());
    let (_, root) = read(response).await;
    assert_eq!(root["version"]["distribution"], "opensearch");
    assert_eq!(root["version"]["number"], "2.19.1");
    assert!(root["version"].get("build_flavor").is_none());
    assert_eq!(root["tagline"], "The OpenSearch Project: https://opensearch.org/");
}

#[tokio::test]
async fn credentials_are_checked_once_any_are_configured() {
    let es = Cluster::start(Flavour::Elasticsearch).await;
    assert_eq!(es.call(Method::GET, "/", None).await.0, 200, "auth is off until a credential exists");
    es.sim.add_user("catsync", "s3cret");
    let api_key = es.sim.add_api_key("VuaCfGcBCdbkQm-e5aOx", "ui2lp2axTNmsyakw9tvNnw");

    let missing = es.request(Method::GET, "/").send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let challenges: Vec<_> =
        missing.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    assert_eq!(challenges, ["Basic realm=\"security\" charset=\"UTF-8\"", "ApiKey"]);
    let (_, body) = read(missing).await;
    assert_eq!(body["error"]["type"], "security_exception");
    assert_eq!(body["error"]["root_cause"][0]["type"], "security_exception");
    assert_eq!(body["status"], 401);

    let wrong = es.request(Method::GET, "/_bulk").basic_auth("catsync", Some("nope")).send().await.unwrap();
    let (status, body) = read(wrong).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["reason"], "unable to authenticate user [catsync] for REST request [/_bulk]");

    let basic = es.request(Method::GET, "/").basic_auth("catsync", Some("s3cret")).send().await.unwrap();
    assert_eq!(basic.status(), 200);
    let key = es.request(Method::GET, "/").header("authorization", format!("ApiKey {api_key}")).send().await.unwrap();
    assert_eq!(key.status(), 200);
    let bad_key = es.request(Method::GET, "/").header("authorization", "ApiKey Zm9vOmJhcg==").send().await.unwrap();
    assert_eq!(bad_key.status(), 401);

    let logged: Vec<_> =
        es.sim.requests().iter().filter_map(|r| r.header("authorization").map(str::to_string)).collect();
    assert!(logged.contains(&"Basic Y2F0c3luYzpzM2NyZXQ=".to_string()), "{logged:?}");
    assert!(logged.contains(&format!("ApiKey {api_key}")));

    let os = Cluster::start(Flavour::OpenSearch).await;
    os.sim.add_user("admin", "Str0ng!Pass");
    let os_key = os.sim.add_api_key("id", "key");
    let refused =
        os.request(Method::GET, "/").header("authorization", format!("ApiKey {os_key}")).send().await.unwrap();
    assert_eq!(refused.status(), 401, "OpenSearch takes no API keys");
    assert_eq!(refused.headers()["www-authenticate"], "Basic realm=\"OpenSearch Security\"");
    assert_eq!(refused.text().await.unwrap(), "Unauthorized");
    let ok = os.request(Method::GET, "/").basic_auth("admin", Some("Str0ng!Pass")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn indices_keep_their_settings_and_mappings() {
    let es = Cluster::start(Flavour::Elasticsearch).await;
    let (status, body) = es.call(Method::PUT, "/products_v1", Some(products_mapping())).await;
    assert_eq!(
        (status, body.clone()),
        (200, json!({"acknowledged": true, "shards_acknowledged": true, "index": "products_v1"}))
    );
    let (status, body) = es.call(Method::PUT, "/products_v1", Some(json!({}))).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "resource_already_exists_exception");
    let uuid = es.sim.settings("products_v1").unwrap()["index.uuid"].as_str().unwrap().to_string();
    assert_eq!(body["error"]["reason"], format!("index [products_v1/{uuid}] already exists"));

    assert_eq!(es.call(Method::HEAD, "/products_v1", None).await, (200, Value::Null));
    assert_eq!(es.call(Method::HEAD, "/nothing", None).await, (404, Value::Null));
    let (status, body) = es.call(Method::GET, "/nothing/_settings", None).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["root_cause"][0]["type"], "index_not_found_exception");
    assert_eq!(body["error"]["reason"], "no such index [nothing]");
    assert_eq!(body["error"]["resource.id"], "nothing");

    let (_, settings) = es.call(Method::GET, "/products_v1/_settings", None).await;
    assert_eq!(settings["products_v1"]["settings"]["index"]["refresh_interval"], "-1");
    assert_eq!(settings["products_v1"]["settings"]["index"]["number_of_replicas"], "0");
    let restore = json!({"index": {"refresh_interval": "1s", "number_of_replicas": 1}});
    assert_eq!(
        es.call(Method::PUT, "/products_v1/_settings", Some(restore)).await,
        (200, json!({"acknowledged": true}))
    );
    let stored = es.sim.settings("products_v1").unwrap();
    assert_eq!(
        (stored["index.refresh_interval"].clone(), stored["index.number_of_replicas"].clone()),
        (json!("1s"), json!("1"))
    );
    let (status, body) =
        es.call(Method::PUT, "/products_v1/_settings", Some(json!({"index": {"number_of_shards": 2}}))).await;
    assert_eq!(status, 400);
    assert!(body["error"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("Can't update non dynamic settings [[index.number_of_shards]]"));
    let (status, body) =
        es.call(Method::PUT, "/products_v1/_settings", Some(json!({"index": {"refresh_interval": "soon"}}))).await;
    assert_eq!((status, body["error"]["type"].clone()), (400, json!("illegal_argument_exception")));

    let (_, mapping) = es.call(Method::GET, "/products_v1/_mapping", None).await;
    assert_eq!(mapping["products_v1"]["mappings"]["dynamic"], "strict");
    assert_eq!(mapping["products_v1"]["mappings"]["properties"]["offers"]["type"], "nested");
    let (status, body) = es.call(Method::PUT, "/Products", Some(json!({}))).await;
    assert_eq!((status, body["error"]["type"].clone()), (400, json!("invalid_index_name_exception")));

    assert_eq!(es.call(Method::DELETE, "/products_v1", None).await, (200, json!({"acknowledged": true})));
    assert!(es.sim.indices().is_empty());
}

#[tokio::test]
async fn an_alias_swap_is_atomic_and_writes_follow_the_write_index() {
    let es = Cluster::start(Flavour::Elasticsearch).await;
    let mut v1 = products_mapping();
    v1["aliases"] = json!({"products": {"is_write_index": true}});
    assert_eq!(es.call(Method::PUT, "/products_v1", Some(v1)).await.0, 200);
    assert_eq!(es.call(Method::PUT, "/products_v2", Some(products_mapping())).await.0, 200);

    let items = es.bulk_items("/products/_bulk", &ndjson(&[index_line("a", 1), json!({"title": "Drill"})])).await;
    assert_eq!(items[0]["_index"], "products_v1", "the item names the concrete index");
    assert_eq!(es.call(Method::HEAD, "/_alias/products", None).await.0, 200);
    assert_eq!(es.call(Method::HEAD, "/_alias/other", None).await.0, 404);

    // A failing action leaves every earlier action of the request undone.
    let failing = json!({"actions": [
        {"remove": {"index": "products_v1", "alias": "products"}},
        {"add": {"index": "products_v2", "alias": "products", "is_write_index": true}},
        {"remove": {"index": "products_v2", "alias": "not_there"}}]});
    let (status, body) = es.call(Method::POST, "/_aliases", Some(failing)).await;
    assert_eq!((status, body["error"]["type"].clone()), (404, json!("aliases_not_found_exception")));
    assert_eq!(es.sim.write_index("products").as_deref(), Some("products_v1"));

    let swap = json!({"actions": [
        {"remove": {"index": "products_v1", "alias": "products"}},
        {"add": {"index": "products_v2", "alias": "products", "is_write_index": true}}]});
    assert_eq!(es.call(Method::POST, "/_aliases", Some(swap)).await, (200, json!({"acknowledged": true})));
    let (_, alias) = es.call(Method::GET, "/_alias/products", None).await;
    assert_eq!(alias, json!({"products_v2": {"aliases": {"products": {"is_write_index": true}}}}));
    let items = es
        .bulk_items("/_bulk", &ndjson(&[json!({"index": {"_index": "products", "_id": "b"}}), json!({"title": "Saw"})]))
        .await;
    assert_eq!(items[0]["_index"], "products_v2");
    assert!(es.sim.documents("products_v2").contains_key("b"));
    assert!(!es.sim.documents("products_v1").contains_key("b"));

    let (status, body) = es.call(Method::GET, "/_alias/missing", None).await;
    assert_eq!((status, body), (404, json!({"error": "alias [missing] missing", "status": 404})));
    let (status, body) = es
        .call(
            Method::POST,
            "/_aliases",
            Some(json!({"actions": [{"add": {"index": "products_v1", "alias": "products_v2"}}]})),
        )
        .await;
    assert_eq!((status, body["error"]["type"].clone()), (400, json!("invalid_alias_name_exception")));
    let (status, body) = es.call(Method::DELETE, "/products", None).await;
    assert_eq!(
        (status, body["error"]["type"].clone()),
        (400, json!("illegal_argument_exception")),
        "no delete by alias"
    );

    let (status, body) = es
        .call(Method::POST, "/_aliases", Some(json!({"actions": [{"remove_index": {"index": "products_v1"}}]})))
        .await;
    assert_eq!((status, body), (200, json!({"acknowledged": true})));
    assert_eq!(es.sim.indices(), ["products_v2"]);
    assert_eq!(es.sim.aliases()["products"], ["products_v2"]);
}

#[tokio::test]
async fn require_alias_refuses_what_auto_creation_would_create() {
    let es = Cluster::start(Flavour::Elasticsearch).await;
    let (status, body) = es
        .bulk(
            "/_bulk?require_alias=true",
            &ndjson(&[json!({"index": {"_index": "products", "_id": "a"}}), json!({"t": 1})]),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["items"][0]["index"]["status"], 404);
    assert_eq!(body["items"][0]["index"]["error"]["type"], "index_not_found_exception");
    assert!(es.sim.indices().is_empty());

    es.bulk_items("/_bulk", &ndjson(&[json!({"index": {"_index": "products", "_id": "a"}}), json!({"t": 1})])).await;
    assert_eq!(es.sim.indices(), ["products"], "the trap: an index named like the alias");
    let (_, mapping) = es.call(Method::GET, "/products/_mapping", None).await;
    assert_eq!(mapping["products"]["mappings"]["properties"]["t"]["type"], "long");
}

#[tokio::test]
async fn bulk_framing_errors_fail_the_whole_request() {
    let es = Cluster::start(Flavour::Elasticsearch).await;
    let body = ndjson(&[index_line("a", 1), json!({"title": "x"})]);

    let (status, answer) = es.bulk("/products/_bulk", body.trim_end()).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["type"], "illegal_argument_exception");
    assert_eq!(answer["error"]["reason"], "The bulk request must be terminated by a newline [\\n]");

    let wrong_type = es.send_bulk("/products/_bulk", Some("text/plain"), &body).await.unwrap();
    assert_eq!(
        read(wrong_type).await,
        (406, json!({"error": "Content-Type header [text/plain] is not supported", "status": 406}))
    );
    let none = es.send_bulk("/products/_bulk", None, &body).await.unwrap();
    assert_eq!(read(none).await, (406, json!({"error": "Content-Type header is missing", "status": 406})));
    let as_json = es.send_bulk("/products/_bulk", Some("application/json"), &body).await.unwrap();
    assert_eq!(as_json.status(), 200, "application/json is accepted for _bulk too");
    es.sim.clear_log();

    let cases = [
        ("{\"index\":{\"_id\":\"b\"}\n{\"title\":\"x\"}\n".to_string(), "x_content_parse_exception"),
        ("{\"upsert\":{\"_id\":\"b\"}}\n{}\n".to_string(), "illegal_argument_exception"),
        ("{\"index\":{\"_id\":\"b\",\"_type\":\"_doc\"}}\n{}\n".to_string(), "illegal_argument_exception"),
        (
            ndjson(&[json!({"update": {"_id": "a", "version": 2, "version_type": "external"}}), json!({"doc": {}})]),
            "illegal_argument_exception",
        ),
        (
            ndjson(&[json!({"create": {"_id": "b", "version": 2, "version_type": "external"}}), json!({})]),
            "action_request_validation_exception",
        ),
        ("\n".to_string(), "action_request_validation_exception"),
    ];
    for (body, kind) in cases {
        let (status, answer) = es.bulk("/products/_bulk", &body).await;
        assert_eq!((status, answer["error"]["type"].clone()), (400, json!(kind)), "{body}");
    }
    let (_, answer) =
        es.bulk("/products/_bulk", &ndjson(&[json!({"update": {"_id": "a", "version": 2}}), json!({"doc": {}})])).await;
    assert_eq!(
        answer["error"]["reason"],
        "Update requests do not support versioning. Please use `if_seq_no` and `if_primary_term` instead"
    );
    let (_, answer) = es
        .bulk(
            "/products/_bulk",
            &ndjson(&[json!({"create": {"_id": "b", "version": 2, "version_type": "external"}}), json!({})]),
        )
        .await;
    assert_eq!(
        answer["error"]["reason"],
        "Validation Failed: 1: create operations only support internal versioning. use index instead;"
    );
    assert_eq!(es.sim.documents("products").len(), 1, "only the accepted request wrote");
    assert_eq!(es.sim.requests().len(), 8);
}

#[tokio::test]
async fn external_versions_let_only_newer_writes_through() {
    let es = Cluster::start(Flavour::Elasticsearch).await;
    es.call(Method::PUT, "/products", Some(products_mapping())).await;
    let first = es.bulk_items("/products/_bulk", &ndjson(&[index_line("a", 5), json!({"title": "v5"})])).await;
    assert_eq!(
        (first[0]["status"].clone(), first[0]["result"].clone(), first[0]["_version"].clone()),
        (json!(201), json!("created"), json!(5))
    );

    let items = es
        .bulk_items(
            "/products/_bulk",
            &ndjson(&[
                index_line("a", 4),
                json!({"title": "older"}),
                index_line("a", 5),
                json!({"title": "equal"}),
                index_line("b", 1),
                json!({"title": "other"}),
                index_line("a", 7),
                json!({"title": "v7"}),
            ]),
        )
        .await;
    assert_eq!(items[0]["status"], 409);
    assert_eq!(items[0]["error"]["type"], "version_conflict_engine_exception");
    assert_eq!(
        items[0]["error"]["reason"],
        "[a]: version conflict, current version [5] is higher or equal to the one provided [4]"
    );
    assert_eq!(items[0]["error"]["index"], "products");
    assert_eq!(items[1]["status"], 409, "an equal version is rejected too");
    assert_eq!((items[2]["status"].clone(), items[2]["result"].clone()), (json!(201), json!("created")));
    assert_eq!(
        (items[3]["status"].clone(), items[3]["result"].clone(), items[3]["_version"].clone()),
        (json!(200), json!("updated"), json!(7))
    );
    assert!(items[3]["_seq_no"].as_u64().unwrap() > items[2]["_seq_no"].as_u64().unwrap());
    assert_eq!(items[3]["_primary_term"], 1);
    let doc = es.sim.document("products", "a").unwrap();
    assert_eq!((doc.version, doc.source), (7, json!({"title": "v7"})));

    let gte = json!({"index": {"_id": "a", "version": 7, "version_type": "external_gte"}});
    let items = es.bulk_items("/products/_bulk", &ndjson(&[gte, json!({"title": "v7 again"})])).await;
    assert_eq!(items[0]["status"], 200, "external_gte accepts an equal version");

    let (status, body) =
        es.call(Method::PUT, "/products/_doc/a?version=6&version_type=external", Some(json!({"title": "x"}))).await;
    assert_eq!((status, body["error"]["type"].clone()), (409, json!("version_conflict_engine_exception")));
    assert_eq!(body["error"]["root_cause"][0]["type"], "version_conflict_engine_exception");

    let (status, body) = es.call(Method::GET, "/products/_doc/a", None).await;
    assert_eq!((status, body["_version"].clone(), body["found"].clone()), (200, json!(7), json!(true)));
    assert_eq!(
        es.call(Method::GET, "/products/_doc/zzz", None).await,
        (404, json!({"_index": "products", "_id": "zzz", "found": false}))
    );
}

#[tokio::test]
async fn a_delete_keeps_its_version_only_for_gc_deletes() {
    let es = Cluster::start(Flavour::Elasticsearch).await;
    es.call(Method::PUT, "/products", Some(products_mapping())).await;
    es.bulk_items("/products/_bulk", &ndjson(&[index_line("a", 5), json!({"title": "v5"})])).await;
    let delete = json!({"delete": {"_id": "a", "version": 6, "version_type": "external"}});
    let items = es.bulk_items("/products/_bulk", &ndjson(std::slice::from_ref(&delete))).await;
    assert_eq!(
        (items[0]["status"].clone(), items[0]["result"].clone(), items[0]["_version"].clone()),
        (json!(200), json!("deleted"), json!(6))
    );
    let items = es.bulk_items("/products/_bulk", &ndjson(&[delete])).await;
    assert_eq!(items[0]["status"], 409, "the tombstone orders a repeated delete");

    let late = ndjson(&[index_line("a", 4), json!({"title": "late v4"})]);
    let items = es.bulk_items("/products/_bulk", &late).await;
    assert_eq!(
        items[0]["error"]["reason"],
        "[a]: version conflict, current version [6] is higher or equal to the one provided [4]"
    );
    es.sim.advance_clock(Duration::from_secs(59));
    assert_eq!(es.bulk_items("/products/_bulk", &late).await[0]["status"], 409, "still within 60 s");
    es.sim.advance_clock(Duration::from_secs(2));
    let items = es.bulk_items("/products/_bulk", &late).await;
    assert_eq!(
        (items[0]["status"].clone(), items[0]["result"].clone()),
        (json!(201), json!("created")),
        "the trap: resurrected"
    );
    assert_eq!(es.sim.document("products", "a").unwrap().source, json!({"title": "late v4"}));

    // A missing document's delete is not an error, and leaves a tombstone too.
    let (status, body) = es
        .bulk("/products/_bulk", &ndjson(&[json!({"delete": {"_id": "b", "version": 3, "version_type": "external"}})]))
        .await;
    assert_eq!((status, body["errors"].clone()), (200, json!(false)));
    assert_eq!(
        (body["items"][0]["delete"]["status"].clone(), body["items"][0]["delete"]["result"].clone()),
        (json!(404), json!("not_found"))
    );

    es.call(Method::PUT, "/products/_settings", Some(json!({"index": {"gc_deletes": "1h"}}))).await;
    es.bulk_items(
        "/products/_bulk",
        &ndjson(&[json!({"delete": {"_id": "a", "version": 9, "version_type": "external"}})]),
    )
    .await;
    es.sim.advance_clock(Duration::from_secs(120));
    let items = es.bulk_items("/products/_bulk", &late).await;
    assert_eq!(items[0]["status"], 409, "a raised gc_deletes keeps the tombstone");
}

#[tokio::test]
async fn injected_item_faults_fail_only_their_items() {
    for (flavour, parse_error) in
        [(Flavour::Elasticsearch, "document_parsing_exception"), (Flavour::OpenSearch, "mapper_parsing_exception")]
    {
        let es = Cluster::start(flavour).await;
        es.call(Method::PUT, "/products", Some(products_mapping())).await;
        es.sim.inject_items(ItemFault::Next { count: 2, status: 429 });
        es.sim.inject_items(ItemFault::Unmappable("d".into()));
        let lines: Vec<Value> =
            ["a", "b", "c", "d", "e"].iter().flat_map(|id| [index_line(id, 1), json!({"title": id})]).collect();
        let (status, body) = es.bulk("/products/_bulk", &ndjson(&lines)).await;
        assert_eq!((status, body["errors"].clone()), (200, json!(true)));
        let items: Vec<&Value> = body["items"].as_array().unwrap().iter().map(|i| &i["index"]).collect();
        let statuses: Vec<u64> = items.iter().map(|i| i["status"].as_u64().unwrap()).collect();
        assert_eq!(statuses, [429, 429, 201, 400, 201]);
        assert_eq!(items[0]["error"]["type"], "es_rejected_execution_exception");
        assert_eq!(items[3]["error"]["type"], parse_error);
        assert!(items[2].get("error").is_none());
        let stored: Vec<String> = es.sim.documents("products").into_keys().collect();
        assert_eq!(stored, ["c", "e"]);

        // The rejections were used up; the mapping error is permanent until cleared.
        let retry: Vec<Value> =
            ["a", "b", "d"].iter().flat_map(|id| [index_line(id, 1), json!({"title": id})]).collect();
        let statuses: Vec<Value> =
            es.bulk_items("/products/_bulk", &ndjson(&retry)).await.iter().map(|i| i["status"].clone()).collect();
        assert_eq!(statuses, [json!(201), json!(201), json!(400)]);
        es.sim.clear_item_faults();
        assert_eq!(es.bulk_items("/products/_bulk", &ndjson(&retry[4..])).await[0]["status"], 201);
    }
}

#[tokio::test]
async fn values_that_do_not_fit_the_mapping_fail_their_item() {
    let es = Cluster::start(Flavour::Elasticsearch).await;
    es.call(Method::PUT, "/products", Some(products_mapping())).await;
    let lines = ndjson(&[
        index_line("price", 1),
        json!({"title": "x", "min_price": "cheap"}),
        index_line("stock", 1),
        json!({"total_stock": 1.5}),
        index_line("date", 1),
        json!({"updated_at": "yesterday"}),
        index_line("strict", 1),
        json!({"colour": "red"}),
        index_line("object", 1),
        json!({"offers": "acme"}),
        index_line("coerced", 1),
        json!({"min_price": "12.50", "in_stock": "true", "updated_at": "2025-03-01T10:00:00Z"}),
    ]);
    let items = es.bulk_items("/products/_bulk", &lines).await;
    assert_eq!(items[0]["error"]["type"], "document_parsing_exception");
    assert_eq!(
        items[0]["error"]["reason"],
        "[1:14] failed to parse field [min_price] of type [scaled_float] in document with id 'price'. Preview of field's value: 'cheap'"
    );
    assert_eq!(items[1]["status"], 201, "a fraction into a long is truncated, not refused");
    assert_eq!(items[2]["error"]["type"], "document_parsing_exception");
    assert_eq!(items[3]["error"]["type"], "strict_dynamic_mapping_exception");
    assert_eq!(
        items[3]["error"]["reason"],
        "[1:11] mapping set to strict, dynamic introduction of [colour] within [_doc] is not allowed"
    );
    assert_eq!(items[4]["status"], 400);
    assert_eq!(items[5]["status"], 201);

    let os = Cluster::start(Flavour::OpenSearch).await;
    os.bulk_items("/logs/_bulk", &ndjson(&[json!({"index": {"_id": "1"}}), json!({"n": 1, "when": "2025-01-01"})]))
        .await;
    let items = os.bulk_items("/logs/_bulk", &ndjson(&[json!({"index": {"_id": "2"}}), json!({"n": "many"})])).await;
    assert_eq!(items[0]["error"]["type"], "mapper_parsing_exception");
    assert_eq!(
        items[0]["error"]["reason"],
        "failed to parse field [n] of type [long] in document with id '2'. Preview of field's value: 'many'"
    );
    assert_eq!(os.sim.mapping("logs").unwrap()["properties"]["when"]["type"], "date", "dates are detected");
}

#[tokio::test]
async fn update_refuses_external_versions_and_bumps_the_internal_one() {
    let es = Cluster::start(Flavour::Elasticsearch).await;
    es.call(Method::PUT, "/products", Some(products_mapping())).await;
    es.bulk_items("/products/_bulk", &ndjson(&[index_line("a", 1042), json!({"title": "Drill", "min_price": 20})]))
        .await;

    let (status, body) = es
        .call(
            Method::POST,
            "/products/_update/a?version=1043&version_type=external",
            Some(json!({"doc": {"min_price": 18}})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "action_request_validation_exception");
    assert_eq!(
        body["error"]["reason"],
        "Validation Failed: 1: internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` instead;"
    );

    let (status, body) = es.call(Method::POST, "/products/_update/a", Some(json!({"doc": {"min_price": 18}}))).await;
    assert_eq!((status, body["result"].clone(), body["_version"].clone()), (200, json!("updated"), json!(1043)));
    let (_, body) = es.call(Method::POST, "/products/_update/a", Some(json!({"doc": {"min_price": 18}}))).await;
    assert_eq!((body["result"].clone(), body["_shards"]["total"].clone()), (json!("noop"), json!(0)));
    assert_eq!(es.sim.document("products", "a").unwrap().source, json!({"title": "Drill", "min_price": 18}));
    // §8.5: the next external write carrying the store's next version now conflicts.
    let items = es.bulk_items("/products/_bulk", &ndjson(&[index_line("a", 1043), json!({"title": "Drill"})])).await;
    assert_eq!(items[0]["status"], 409);

    let (status, body) =
        es.call(Method::POST, "/products/_update/missing", Some(json!({"doc": {"min_price": 1}}))).await;
    assert_eq!((status, body["error"]["type"].clone()), (404, json!("document_missing_exception")));
    let (status, body) = es
        .call(Method::POST, "/products/_update/new", Some(json!({"doc": {"title": "New"}, "doc_as_upsert": true})))
        .await;
    assert_eq!((status, body["result"].clone()), (201, json!("created")));

    let doc = es.sim.document("products", "new").unwrap();
    let stale = format!("/products/_doc/new?if_seq_no={}&if_primary_term=1", doc.seq_no + 1);
    let (status, body) = es.call(Method::PUT, &stale, Some(json!({"title": "x"}))).await;
    assert_eq!((status, body["error"]["type"].clone()), (409, json!("version_conflict_engine_exception")));
    let fresh = format!("/products/_doc/new?if_seq_no={}&if_primary_term=1", doc.seq_no);
    assert_eq!(es.call(Method::PUT, &fresh, Some(json!({"title": "x"}))).await.0, 200);
    let (status, body) = es.call(Method::DELETE, "/products/_doc/new", None).await;
    assert_eq!((status, body["result"].clone()), (200, json!("deleted")));
    let (status, body) = es.call(Method::DELETE, "/products/_doc/new", None).await;
    assert_eq!((status, body["result"].clone()), (404, json!("not_found")));
}

/// Three products, refreshed.
async fn catalog(es: &Cluster) {
    es.call(Method::PUT, "/products_v1", Some(products_mapping())).await;
    let alias = json!({"actions": [{"add": {"index": "products_v1", "alias": "products"}}]});
    es.call(Method::POST, "/_aliases", Some(alias)).await;
    let docs = [
        (
            "p1",
            json!({"title": "Cordless Drill 18V \"Pro\"", "brand": "Boschmann", "gtin": "04006381333931", "min_price": 129.9, "total_stock": 40, "in_stock": true,
                      "offers": [{"distributor": "acme", "price": 129.9}, {"distributor": "zeta", "price": 140.0}]}),
        ),
        (
            "p2",
            json!({"title": "Drill bits set", "brand": "Boschmann", "gtin": "04006381333948", "min_price": 19.5, "total_stock": 0, "in_stock": false,
                      "offers": [{"distributor": "acme", "price": 19.5}]}),
        ),
        (
            "p3",
            json!({"title": "Spirit level 60 cm", "brand": "Stabilo", "gtin": "04005500123453", "min_price": 24.5, "total_stock": 7, "in_stock": true,
                      "offers": [{"distributor": "zeta", "price": 24.5}]}),
        ),
    ];
    let lines: Vec<Value> = docs.iter().flat_map(|(id, doc)| [index_line(id, 1), doc.clone()]).collect();
    es.bulk_items("/products/_bulk", &ndjson(&lines)).await;
}

#[tokio::test]
async fn count_and_search_see_refreshed_documents_with_filters_and_facets() {
    let es = Cluster::start(Flavour::Elasticsearch).await;
    catalog(&es).await;
    let (_, body) = es.call(Method::GET, "/products/_count", None).await;
    assert_eq!(body["count"], 0, "refresh_interval -1: nothing searchable before a refresh");
    assert_eq!(es.call(Method::POST, "/products/_refresh", None).await.0, 200);
    let (_, body) = es.call(Method::GET, "/products/_count", None).await;
    assert_eq!(body["count"], 3);
    let (_, body) =
        es.call(Method::POST, "/products/_count", Some(json!({"query": {"term": {"in_stock": true}}}))).await;
    assert_eq!(body["count"], 2);

    let query = json!({
        "size": 10, "track_total_hits": true,
        "query": {"bool": {
            "must": [{"match": {"title": "drill"}}],
            "filter": [{"term": {"brand": "Boschmann"}}, {"range": {"min_price": {"gte": 10, "lte": 200}}}],
            "must_not": [{"term": {"in_stock": false}}]}},
        "aggs": {"brands": {"terms": {"field": "brand"}},
                 "offers": {"nested": {"path": "offers"}, "aggs": {"distributors": {"terms": {"field": "offers.distributor"}}}}},
        "_source": ["title", "min_price"]});
    let (status, body) = es.call(Method::POST, "/products/_search", Some(query)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["hits"]["total"], json!({"value": 1, "relation": "eq"}));
    let hit = &body["hits"]["hits"][0];
    assert_eq!((hit["_id"].clone(), hit["_index"].clone()), (json!("p1"), json!("products_v1")));
    assert_eq!(hit["_source"], json!({"title": "Cordless Drill 18V \"Pro\"", "min_price": 129.9}));
    assert!(hit["_score"].as_f64().unwrap() > 0.0);
    assert_eq!(body["aggregations"]["brands"]["buckets"], json!([{"key": "Boschmann", "doc_count": 1}]));
    assert_eq!(body["aggregations"]["offers"]["doc_count"], 2);
    assert_eq!(
        body["aggregations"]["offers"]["distributors"]["buckets"],
        json!([{"key": "acme", "doc_count": 1}, {"key": "zeta", "doc_count": 1}])
    );

    let facets = json!({"size": 0, "aggs": {"brands": {"terms": {"field": "brand"}}}});
    let (_, body) = es.call(Method::POST, "/products/_search", Some(facets)).await;
    assert_eq!(body["hits"]["hits"], json!([]));
    assert_eq!(
        body["aggregations"]["brands"]["buckets"],
        json!([{"key": "Boschmann", "doc_count": 2}, {"key": "Stabilo", "doc_count": 1}])
    );

    let sorted = json!({"sort": [{"min_price": "desc"}], "from": 1, "size": 1, "query": {"match_all": {}}});
    let (_, body) = es.call(Method::POST, "/products/_search", Some(sorted)).await;
    assert_eq!(body["hits"]["hits"][0]["_id"], "p3");
    assert_eq!(body["hits"]["hits"][0]["sort"], json!([24.5]));
    assert_eq!(body["hits"]["hits"][0]["_score"], Value::Null);

    let ranked = json!({"query": {"multi_match": {"query": "drill set", "fields": ["title^3", "brand"]}}});
    let (_, body) = es.call(Method::POST, "/products/_search", Some(ranked)).await;
    let ids: Vec<&str> = body["hits"]["hits"].as_array().unwrap().iter().map(|h| h["_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["p2", "p1"], "more query words matched rank first");

    let exact = json!({"query": {"bool": {"should": [{"term": {"gtin": "04005500123453"}}, {"term": {"title.raw": "SPIRIT LEVEL 60 CM"}}]}}});
    let (_, body) = es.call(Method::POST, "/products/_search", Some(exact)).await;
    assert_eq!(body["hits"]["hits"][0]["_id"], "p3");
    assert_eq!(body["hits"]["hits"][0]["_score"], 2.0, "a normalized keyword matches case-insensitively");

    let flat = json!({"query": {"term": {"offers.distributor": "acme"}}});
    let (_, body) = es.call(Method::POST, "/products/_search", Some(flat)).await;
    assert_eq!(body["hits"]["total"]["value"], 0, "nested fields need a nested query");
    let nested = json!({"query": {"nested": {"path": "offers", "query": {"bool": {"filter": [
        {"term": {"offers.distributor": "acme"}}, {"range": {"offers.price": {"lt": 100}}}]}}}}});
    let (_, body) = es.call(Method::POST, "/products/_search", Some(nested)).await;
    assert_eq!(body["hits"]["hits"][0]["_id"], "p2");
    assert_eq!(body["hits"]["total"]["value"], 1);

    let (status, body) = es.call(Method::POST, "/products/_search", Some(json!({"sort": ["title"]}))).await;
    assert_eq!((status, body["error"]["root_cause"][0]["type"].clone()), (400, json!("illegal_argument_exception")));
    let (status, body) = es.call(Method::POST, "/products/_search", Some(json!({"query": {"fuzzy_thing": {}}}))).await;
    assert_eq!((status, body["error"]["type"].clone()), (400, json!("parsing_exception")));
    let (status, _) = es.call(Method::POST, "/missing/_search", Some(json!({}))).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn writes_become_searchable_with_refresh_or_after_the_interval() {
    let es = Cluster::start(Flavour::OpenSearch).await;
    es.call(Method::PUT, "/logs", Some(json!({"settings": {"refresh_interval": "30s"}}))).await;
    es.bulk_items("/logs/_bulk", &ndjson(&[json!({"index": {"_id": "1"}}), json!({"n": 1})])).await;
    assert_eq!(es.call(Method::GET, "/logs/_count", None).await.1["count"], 0);
    es.sim.advance_clock(Duration::from_secs(30));
    assert_eq!(es.call(Method::GET, "/logs/_count", None).await.1["count"], 1);
    es.bulk_items("/logs/_bulk?refresh=wait_for", &ndjson(&[json!({"index": {"_id": "2"}}), json!({"n": 2})])).await;
    assert_eq!(es.call(Method::GET, "/logs/_count", None).await.1["count"], 2);
    let (_, body) = es.call(Method::GET, "/logs/_doc/2", None).await;
    assert_eq!(body["_source"], json!({"n": 2}), "get is real time");
}

#[tokio::test]
async fn bodies_over_max_content_length_get_413() {
    let es = Cluster::with_config(EsConfig { max_content_length: 1024, ..EsConfig::new(Flavour::Elasticsearch) }).await;
    let lines: Vec<Value> = (0..40).flat_map(|i| [index_line(&format!("id{i}"), 1), json!({"title": "x"})]).collect();
    let body = ndjson(&lines);
    assert!(body.len() > 1024);
    assert_eq!(es.bulk("/products/_bulk", &body).await, (413, Value::Null));
    assert!(es.sim.indices().is_empty());
    assert_eq!(es.bulk("/products/_bulk", &ndjson(&lines[..2])).await.0, 200);
}

#[tokio::test]
async fn whole_request_faults_and_the_request_log() {
    let es = Cluster::start(Flavour::Elasticsearch).await;
    let body = ndjson(&[index_line("a", 1), json!({"title": "x"})]);
    es.sim.inject_on("_bulk", Fault::Status(429));
    es.sim.inject_on("_bulk", Fault::Status(503));
    assert_eq!(es.call(Method::GET, "/", None).await.0, 200, "a path-bound fault waits for its path");
    let (status, answer) = es.bulk("/products/_bulk", &body).await;
    assert_eq!((status, answer["error"]["type"].clone()), (429, json!("es_rejected_execution_exception")));
    let (status, answer) = es.bulk("/products/_bulk", &body).await;
    assert_eq!((status, answer["error"]["type"].clone()), (503, json!("cluster_block_exception")));
    assert!(es.sim.indices().is_empty(), "refused requests write nothing");

    es.sim.inject(Fault::Drop);
    let dropped = es.send_bulk("/products/_bulk", Some(NDJSON), &body).await;
    assert!(dropped.is_err());
    assert!(es.sim.indices().is_empty());

    es.sim.inject(Fault::DropAfterApply);
    let dropped = es.send_bulk("/products/_bulk", Some(NDJSON), &body).await;
    assert!(dropped.is_err());
    assert_eq!(es.sim.document("products", "a").unwrap().version, 1, "applied but not acknowledged");

    es.sim.inject(Fault::Slow(Duration::from_millis(300)));
    let started = std::time::Instant::now();
    let items = es.bulk_items("/products/_bulk?filter_path=errors,items.*.status", &body).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(items, [json!({"status": 409})], "filter_path keeps only the asked fields");

    let log = es.sim.requests();
    let last = log.last().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.as_str(), last.query.as_str()),
        ("POST", "/products/_bulk", "filter_path=errors,items.*.status")
    );
    assert_eq!(last.content_type.as_deref(), Some(NDJSON));
    assert_eq!(last.body, body);
    assert_eq!(last.status, 200);
    assert_eq!(log.iter().filter(|r| r.status == 0).count(), 2, "dropped connections are logged with status 0");
}

#[tokio::test]
async fn unknown_parameters_and_methods_are_refused_as_the_servers_do() {
    let es = Cluster::start(Flavour::Elasticsearch).await;
    let (status, body) =
        es.bulk("/products/_bulk?version_type=external", &ndjson(&[index_line("a", 1), json!({})])).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["reason"], "request [/products/_bulk] contains unrecognized parameter: [version_type]");
    let (status, body) = es.call(Method::GET, "/products/_bulk", None).await;
    assert_eq!(status, 405);
    assert_eq!(body["error"], "Incorrect HTTP method for uri [/products/_bulk] and method [GET], allowed: [POST, PUT]");

    let vendored = "application/vnd.elasticsearch+x-ndjson; compatible-with=8";
    let body = ndjson(&[index_line("a", 1), json!({})]);
    assert_eq!(es.send_bulk("/products/_bulk", Some(vendored), &body).await.unwrap().status(), 200);
    let os = Cluster::start(Flavour::OpenSearch).await;
    let os_answer = os.send_bulk("/products/_bulk", Some(vendored), &body).await.unwrap();
    assert_eq!(os_answer.status(), 406, "OpenSearch refuses Elastic's vendored media types");
}
