//! The dashboard over real HTTP (a server on a free loopback port, real stores), the HTML report,
//! `/metrics`, and the security model: tokens, the login cookie, CSRF and Origin checks, loopback
//! only without a token, hostile data escaped everywhere.

#[macro_use]
mod common;

use std::time::Duration;

use catsync::config::Secret;
use catsync::control::{ErrorFilter, ErrorType};
use catsync::matching::record::MatchFilter;
use catsync::matching::Status;
use catsync::web::{self, report, view, ServeError};
use common::web::{client, offer, seed, Seeded, TestServer, HOSTILE_RECORD, HOSTILE_TITLE};
use common::TestStore;
use reqwest::StatusCode;

backend_tests!(every_page_and_api_endpoint_answers_over_http);

const TOKEN: &str = "test-token-9f8e7d6c5b4a";

async fn get(url: &str) -> (StatusCode, String) {
    let r = client().get(url).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn json(url: &str) -> serde_json::Value {
    let r = client().get(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{url}");
    r.json().await.unwrap()
}

/// Asserts a page is HTML that shows hostile text as text only.
fn assert_escaped(page: &str) {
    assert!(!page.contains(HOSTILE_TITLE), "an unescaped product title");
    assert!(!page.contains(HOSTILE_RECORD), "an unescaped raw record");
    assert!(!page.contains("<img"), "no image element comes from data");
}

async fn every_page_and_api_endpoint_answers_over_http(t: &TestStore) {
    let seeded = seed(t).await;
    let s = TestServer::start(t, &seeded, None).await;
    let u = |path: &str| format!("{}{path}", s.url);

    let (code, body) = get(&u("/healthz")).await;
    assert_eq!((code, body.as_str()), (StatusCode::OK, "ok\n"));

    let (code, page) = get(&u("/")).await;
    assert_eq!(code, StatusCode::OK);
    assert!(page.contains("distributor:acme") && page.contains("Index freshness"), "{page}");
    assert!(page.contains("<td class=\"n bad\">25.0%</td>"), "an error rate above 5% is marked: {page}");
    let status = json(&u("/api/status")).await;
    let acme = status["sources"].as_array().unwrap().iter().find(|s| s["source_table"] == "distributor:acme").unwrap();
    assert_eq!(acme["error_count"], 1);
    assert_eq!(acme["error_level"], "bad", "1 error in 4 records is above 5%");
    assert!(status["index"]["outbox_depth"].is_u64());
    assert!(!status["store"]["location"].as_str().unwrap().contains("password"));

    let (code, page) = get(&u("/runs?source=distributor:acme")).await;
    assert_eq!(code, StatusCode::OK);
    assert!(page.contains("distributor:acme") && !page.contains(">matching<"), "{page}");
    let runs = json(&u("/api/runs?limit=2")).await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 2);
    let runs = json(&u("/api/runs?source=matching")).await;
    assert_eq!(runs["runs"][0]["source"], "matching");

    let (code, page) = get(&u("/errors?source=distributor:acme&type=rejected")).await;
    assert_eq!(code, StatusCode::OK);
    assert!(page.contains("&lt;script&gt;alert(2)&lt;/script&gt;"), "the raw record is shown, escaped");
    assert_escaped(&page);
    let errors = json(&u("/api/errors?source=distributor:acme&type=rejected")).await;
    assert_eq!(errors["errors"].as_array().unwrap().len(), 1);
    assert_eq!(errors["tallies"][0]["total"], 1);
    let none = json(&u("/api/errors?type=warning")).await;
    assert!(none["errors"].as_array().unwrap().is_empty());

    let (code, page) = get(&u("/matches?status=review")).await;
    assert_eq!(code, StatusCode::OK);
    assert!(page.contains("Bosch GSR12V-300 drill driver"), "the catalog product beside the offer");
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"), "the hostile title shows as text");
    assert_escaped(&page);
    let matches = json(&u("/api/matches?status=review")).await;
    let ids: Vec<&str> = matches["matches"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    let review: Vec<String> = seeded.review.iter().map(|id| id.to_string()).collect();
    assert_eq!(ids, review, "the review queue, best score first");
    assert_eq!(matches["matches"][0]["product"]["title"], "Bosch GSR12V-300 drill driver");

    let (code, page) = get(&u("/search?q=makita+impact")).await;
    assert_eq!(code, StatusCode::OK);
    assert!(page.contains("Makita impact driver 18V"), "{page}");
    let found = json(&u("/api/search?q=drill&brand=Bosch")).await;
    let titles: Vec<&str> = found["results"].as_array().unwrap().iter().map(|h| h["title"].as_str().unwrap()).collect();
    assert!(titles.contains(&"Bosch GSR12V-300 drill driver"), "{titles:?}");
    assert!(!titles.iter().any(|t| t.contains("Makita")), "the brand filter applies: {titles:?}");
    assert!(found["facets"]["brand"].is_array());
    let (code, _) = get(&u("/api/search?q=drill&min_price=cheap")).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "a price that is no number is the asker's mistake");

    let (code, text) = get(&u("/metrics")).await;
    assert_eq!(code, StatusCode::OK);
    assert!(text.contains("catsync_outbox_depth "), "{text}");
}

/// A SQLite store seeded for one test, with its dashboard.
async fn served(token: Option<&str>) -> (TestStore, Seeded, TestServer) {
    let t = TestStore::sqlite().await;
    let seeded = seed(&t).await;
    let s = TestServer::start(&t, &seeded, token).await;
    (t, seeded, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text_with_catsync_prefixes_and_no_secret() {
    let (_t, _seeded, s) = served(Some(TOKEN)).await;
    let r = client().get(format!("{}/metrics", s.url)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = r.text().await.unwrap();
    assert!(!text.contains(TOKEN));
    let mut families = std::collections::BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut words = rest.split(' ');
            assert!(matches!(words.next(), Some("HELP" | "TYPE")), "{line}");
            assert!(words.next().unwrap().starts_with("catsync_"), "{line}");
            continue;
        }
        // name{labels} value, with label values quoted.
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        value.parse::<f64>().unwrap_or_else(|_| panic!("not a number: {line}"));
        let name = series.split('{').next().unwrap();
        assert!(name.starts_with("catsync_") && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{line}");
        if let Some(labels) = series.strip_prefix(name) {
            assert!(labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')), "{line}");
        }
        families.insert(name.to_string());
    }
    for expected in [
        "catsync_runs_total",
        "catsync_run_rows_read_total",
        "catsync_run_duration_seconds_total",
        "catsync_records_processed_total",
        "catsync_source_errors_total",
        "catsync_sync_errors",
        "catsync_outbox_depth",
        "catsync_outbox_oldest_age_seconds",
        "catsync_matches",
    ] {
        assert!(families.contains(expected), "{expected} missing from {families:?}");
    }
    assert!(text.contains("catsync_runs_total{source=\"distributor:acme\",status=\"succeeded\"} 1"), "{text}");
    assert!(text.contains("catsync_matches{status=\"review\"} 2"), "{text}");
}

#[test]
fn without_a_token_only_loopback_addresses_are_served() {
    assert!(web::listen_address("127.0.0.1:8080", None).is_ok());
    assert!(web::listen_address("[::1]:8080", None).is_ok());
    let refused = web::listen_address("0.0.0.0:8080", None).unwrap_err();
    assert!(matches!(refused, ServeError::NoToken { .. }));
    let message = refused.to_string();
    assert!(message.contains("[serve]") && message.contains("${CATSYNC_TOKEN}"), "says how to set one: {message}");
    assert!(web::listen_address("0.0.0.0:8080", Some(&Secret::new(TOKEN))).is_ok());
    assert!(matches!(web::listen_address("localhost", None), Err(ServeError::BadListen { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_loopback_requests_are_served_and_other_host_names_refused() {
    let (_t, _seeded, s) = served(None).await;
    let (code, _) = get(&format!("{}/api/status", s.url)).await;
    assert_eq!(code, StatusCode::OK);
    let via_localhost = format!("http://localhost:{}/api/status", s.addr.port());
    assert_eq!(get(&via_localhost).await.0, StatusCode::OK);
    // A DNS name rebound to 127.0.0.1 by some web page is not this dashboard.
    let rebound = client().get(format!("{}/api/status", s.url)).header("Host", "evil.example:80").send().await.unwrap();
    assert_eq!(rebound.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_requests_need_the_bearer_header_or_the_login_cookie() {
    let (_t, _seeded, s) = served(Some(TOKEN)).await;
    let u = |path: &str| format!("{}{path}", s.url);
    for path in ["/", "/runs", "/errors", "/matches?status=review", "/search?q=drill", "/metrics", "/api/status"] {
        let r = client().get(u(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path} without the token");
        assert!(!r.text().await.unwrap().contains(TOKEN));
        let r = client().get(u(path)).bearer_auth("wrong").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path} with a wrong token");
        let r = client().get(u(path)).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path} with the bearer token");
    }
    assert_eq!(get(&u("/healthz")).await.0, StatusCode::OK, "health checks need no token");

    let wrong = client().post(u("/login")).form(&[("token", "wrong")]).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("set-cookie").is_none());

    let login = client().post(u("/login")).form(&[("token", TOKEN)]).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains(TOKEN), "the cookie is a signed session, not the token");
    let session = cookie.split(';').next().unwrap().to_string();
    let r = client().get(u("/api/status")).header("Cookie", &session).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the login cookie opens the dashboard");
    // The signature's last hex digit changed (to one it cannot already be).
    let last = if session.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &session[..session.len() - 1]);
    let r = client().get(u("/api/status")).header("Cookie", forged).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a cookie with a bad signature is no session");
}

/// The session cookie and CSRF token a browser gets from the review queue.
async fn review_form(s: &TestServer, auth: Option<&str>) -> (String, String) {
    let mut req = client().get(format!("{}/matches?status=review", s.url));
    if let Some(cookie) = auth {
        req = req.header("Cookie", cookie);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = match auth {
        Some(c) => c.to_string(),
        None => r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string(),
    };
    let page = r.text().await.unwrap();
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    (cookie, csrf)
}

async fn status_of(t: &TestStore, sku: &str) -> Status {
    let filter = MatchFilter { ids: Some(vec![offer(sku)]), ..MatchFilter::default() };
    t.store.product_matches(&filter).await.unwrap()[0].product_match.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_needs_the_sessions_csrf_token_and_a_same_origin_post() {
    let (t, _seeded, s) = served(None).await;
    let (cookie, csrf) = review_form(&s, None).await;
    let decide = format!("{}/matches/{}/decide", s.url, offer("A1"));
    let post = |fields: Vec<(&'static str, String)>, cookie: &str, origin: Option<String>| {
        let mut req = client().post(&decide).header("Cookie", cookie.to_string()).form(&fields);
        if let Some(o) = origin {
            req = req.header("Origin", o);
        }
        req.send()
    };
    let confirm = |csrf: &str| vec![("decision", "confirm".to_string()), ("csrf", csrf.to_string())];

    let r = post(vec![("decision", "confirm".into())], &cookie, None).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF token");
    let r = post(confirm("0123abcd"), &cookie, None).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a wrong CSRF token");
    let (other_cookie, _) = review_form(&s, None).await;
    let r = post(confirm(&csrf), &other_cookie, None).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "another session's token");
    let r = post(confirm(&csrf), &cookie, Some("http://evil.example".into())).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a POST from another site");
    let r = client().get(&decide).header("Cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "no state change by GET");
    assert_eq!(status_of(&t, "A1").await, Status::Review, "nothing refused changed the store");

    let r = post(confirm(&csrf), &cookie, Some(s.url.clone())).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(status_of(&t, "A1").await, Status::Confirmed);
    let reject = vec![("decision", "reject".to_string()), ("csrf", csrf.clone())];
    let r = client()
        .post(format!("{}/matches/{}/decide", s.url, offer("A2")))
        .header("Cookie", &cookie)
        .form(&reject)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(status_of(&t, "A2").await, Status::Rejected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_a_logged_in_decision_still_needs_csrf() {
    let (t, _seeded, s) = served(Some(TOKEN)).await;
    let login = client().post(format!("{}/login", s.url)).form(&[("token", TOKEN)]).send().await.unwrap();
    let session = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let (_, csrf) = review_form(&s, Some(&session)).await;
    let decide = format!("{}/matches/{}/decide", s.url, offer("A1"));
    let r = client().post(&decide).header("Cookie", &session).form(&[("decision", "confirm")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(status_of(&t, "A1").await, Status::Review);
    let r = client().post(&decide).form(&[("decision", "confirm"), ("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a CSRF token is no login");
    let fields = [("decision", "confirm"), ("csrf", csrf.as_str())];
    let r = client().post(&decide).header("Cookie", &session).form(&fields).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(status_of(&t, "A1").await, Status::Confirmed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_is_self_contained_html_with_every_value_escaped() {
    let t = TestStore::sqlite().await;
    let _seeded = seed(&t).await;
    let html = report::render(&view::report(&*t.store).await.unwrap());
    let dom = tl::parse(&html, tl::ParserOptions::default()).expect("the report parses as HTML");
    let parser = dom.parser();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for node in dom.nodes() {
        let Some(tag) = node.as_tag() else { continue };
        for attr in ["src", "href", "action", "srcset", "data"] {
            if let Some(Some(v)) = tag.attributes().get(attr) {
                panic!("the report fetches or links {:?} through {attr}", v.as_utf8_str());
            }
        }
        let name = tag.name().as_utf8_str();
        assert!(!["script", "link", "img", "iframe", "object"].contains(&name.as_ref()), "a <{name}> element");
    }
    assert!(!html.contains("http://") && !html.contains("https://"), "no URL at all");
    assert_escaped(&html);
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"), "the product title in the raw record");
    assert!(html.contains("&lt;script&gt;alert(2)&lt;/script&gt;"), "the raw record of the recent error");
    let text = |selector: &str| {
        dom.query_selector(selector)
            .and_then(|mut q| q.next())
            .map(|h| h.get(parser).unwrap().inner_text(parser).to_string())
    };
    assert!(text("table#status").unwrap().contains("distributor:acme"));
    assert!(text("table#quality").unwrap().contains("review"));
    assert!(text("table#freshness").unwrap().contains("outbox depth"));
    assert!(text("table#tallies").unwrap().contains("rejected"));
    let svgs = dom.query_selector("svg").unwrap().count();
    assert!(svgs >= 3, "charts of records/s and errors per source, and the score histogram: {svgs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lease_shows_its_holder_in_status_pages_and_metrics() {
    let (t, _seeded, s) = served(None).await;
    let lease = t.store.acquire_lease("feed:acme", "worker-b:4711:x", Duration::from_secs(60)).await.unwrap();
    assert!(lease.is_some());
    let status = json(&format!("{}/api/status", s.url)).await;
    let acme = status["sources"].as_array().unwrap().iter().find(|s| s["source_table"] == "distributor:acme").unwrap();
    assert_eq!(acme["lease"]["holder"], "worker-b:4711:x", "{acme}");
    assert_eq!(acme["lease"]["job"], "feed:acme");
    let (_, page) = get(&format!("{}/", s.url)).await;
    assert!(page.contains("worker-b:4711:x"), "the status page names the holder");
    let (_, metrics) = get(&format!("{}/metrics", s.url)).await;
    assert!(metrics.contains(r#"catsync_lease_token{job="feed:acme",holder="worker-b:4711:x"} 1"#), "{metrics}");

    t.store.release_lease(&lease.unwrap()).await.unwrap();
    let status = json(&format!("{}/api/status", s.url)).await;
    let acme = status["sources"].as_array().unwrap().iter().find(|s| s["source_table"] == "distributor:acme").unwrap();
    assert!(acme["lease"].is_null(), "a released lease holds nothing: {acme}");
}

/// The unresolved rejected rows of `t`, by id.
async fn open_rejections(t: &TestStore) -> Vec<catsync::control::SyncErrorRecord> {
    let filter =
        ErrorFilter { unresolved: true, types: vec![ErrorType::Rejected], limit: 10, ..ErrorFilter::default() };
    t.store.error_records(&filter).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retry_button_needs_csrf_waits_for_the_feed_lease_and_keeps_a_still_bad_rows_history() {
    let (t, _seeded, s) = served(None).await;
    let before = open_rejections(&t).await;
    assert_eq!(before.len(), 1, "the seeded row without a SKU");
    let old = &before[0];
    let r = client().get(format!("{}/errors", s.url)).send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let page = r.text().await.unwrap();
    assert!(page.contains(&format!("/errors/{}/retry", old.id)), "an unresolved rejected row has a retry button");
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let retry = format!("{}/errors/{}/retry", s.url, old.id);
    let post =
        |csrf: &str| client().post(&retry).header("Cookie", cookie.clone()).form(&[("csrf", csrf.to_string())]).send();

    assert_eq!(post("").await.unwrap().status(), StatusCode::FORBIDDEN, "no CSRF token");
    let other = t.store.acquire_lease("feed:acme", "worker-b", Duration::from_secs(60)).await.unwrap().unwrap();
    let r = post(&csrf).await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT, "the feed job is busy elsewhere");
    assert!(r.text().await.unwrap().contains("worker-b"), "the refusal names the holder");
    let ids = |errors: Vec<catsync::control::SyncErrorRecord>| errors.into_iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(ids(open_rejections(&t).await), vec![old.id], "nothing refused changed the store");

    t.store.release_lease(&other).await.unwrap();
    assert_eq!(post(&csrf).await.unwrap().status(), StatusCode::SEE_OTHER);
    let after = open_rejections(&t).await;
    assert_eq!(after.len(), 1, "still without a SKU: rejected again");
    assert_ne!(after[0].id, old.id, "the new rejection is a new row with the new reason");
    assert_eq!(after[0].record_data["fields"], old.record_data["fields"], "it keeps the raw record for the next retry");
    let all =
        t.store.error_records(&ErrorFilter { id: Some(old.id), limit: 1, ..ErrorFilter::default() }).await.unwrap();
    assert!(all[0].resolved, "the old row is resolved as superseded");
    assert!(all[0].resolution_notes.as_deref().unwrap_or_default().contains(&after[0].id.to_string()), "{:?}", all[0]);
    assert_eq!(post(&csrf).await.unwrap().status(), StatusCode::NOT_FOUND, "a resolved row is not retried twice");
}
