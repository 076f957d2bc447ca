//! HTML of the views, shared by the report and the live pages. Every value from data goes through
//! maud's `( … )` splice, which escapes it; nothing here builds markup from strings by hand.

use chrono::{DateTime, Utc};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::chart;
use super::format::{duration, thousands};
use super::view::{ErrorsView, IndexFreshness, MatchItem, MatchesView, ProductSide, StatusView};
use crate::control::{ErrorType, RunRecord, SyncErrorRecord};
use crate::matching::record::MatchQuality;
use crate::search::SearchResults;

/// The style of every page and of the report: inline, so a page makes no request of its own.
const STYLE: &str = "
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:.6em 1.2em;display:flex;gap:1.2em;align-items:baseline}
header a{color:#cfd8ea;text-decoration:none}header a:hover{color:#fff}
header strong{font-size:1.1em;margin-right:1em}
main{padding:1em 1.2em;max-width:1200px}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;background:#fff;margin:.4em 0 1em;width:100%}
th,td{border:1px solid #dde1e8;padding:.3em .55em;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.warn{background:#fff4c2}.bad{background:#ffd6d6;color:#8a0000}
.succeeded{color:#176b2c}.failed{color:#8a0000}.running{color:#7a5b00}
pre{background:#fff;border:1px solid #dde1e8;padding:.5em;overflow:auto;max-height:14em;margin:.2em 0}
.muted{color:#667}
td.wm{max-width:16em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
td.t{white-space:nowrap}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:.8em}
.side{background:#fff;border:1px solid #dde1e8;padding:.5em}
.item{border:2px solid transparent;padding:.5em;margin:.6em 0;background:#eef1f5}
.item.selected{border-color:#2d6cdf}
button{font:inherit;padding:.25em .8em;cursor:pointer}
form.inline{display:inline}
.charts{display:flex;flex-wrap:wrap;gap:1em}
.chart{background:#fff;border:1px solid #dde1e8;padding:.4em}
.hint{font-size:.9em;color:#667}
";

/// A whole HTML document: inline style, a title, an optional navigation bar, the body.
pub fn document(title: &str, nav: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                @if nav {
                    header {
                        strong { "catsync" }
                        a href="/" { "status" }
                        a href="/runs" { "runs" }
                        a href="/errors" { "errors" }
                        a href="/matches?status=review" { "review queue" }
                        a href="/search" { "search" }
                        a href="/metrics" { "metrics" }
                    }
                }
                main { (body) }
            }
        }
    }
}

pub fn timestamp(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "never".into(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// The status table and the index freshness.
pub fn status(v: &StatusView) -> Markup {
    html! {
        p.muted { "store: " (v.store.location) " (" (v.store.backend) ") · as of " (timestamp(Some(v.generated_at))) }
        @if v.sources.is_empty() {
            p { "No source has been synced yet: try " code { "catsync demo" } "." }
        } @else {
            table #status {
                tr {
                    th { "source" } th { "last sync" } th { "watermark" } th { "processed" } th { "succeeded" }
                    th { "errors" } th { "error rate" } th { "last run" } th { "duration" } th { "records/s" }
                    th { "lease holder" }
                }
                @for s in &v.sources {
                    tr {
                        td { (s.control.source_table) }
                        td.t { (timestamp(s.control.last_sync_time)) }
                        td.wm title=(s.control.watermark.as_deref().unwrap_or("")) { code { (s.control.watermark.as_deref().unwrap_or("")) } }
                        td.n { (thousands(s.control.records_processed.max(0) as u64)) }
                        td.n { (thousands(s.control.success_count.max(0) as u64)) }
                        td.n { (thousands(s.control.error_count.max(0) as u64)) }
                        td class=(format!("n {}", s.error_level.as_str())) { (format!("{:.1}%", s.error_rate * 100.0)) }
                        @match &s.last_run {
                            Some(r) => {
                                td class=(r.status.as_str()) { (r.status.as_str()) }
                                td.n { (duration(r.elapsed_seconds)) }
                                td.n { (thousands(r.rows_per_second as u64)) }
                            }
                            None => { td { "-" } td { "-" } td { "-" } }
                        }
                        @match &s.lease {
                            Some(l) => td.lease title=(format!("token {}, until {}", l.token, timestamp(Some(l.expires_at)))) { (l.holder) }
                            None => td { "-" }
                        }
                    }
                }
            }
        }
        (freshness(&v.index))
    }
}

pub fn freshness(f: &IndexFreshness) -> Markup {
    html! {
        h2 { "Index freshness" }
        table #freshness {
            tr { th { "outbox depth" } td.n { (thousands(f.outbox_depth)) } }
            tr { th { "oldest waiting entry" } td {
                @match f.oldest_entry_age_seconds {
                    Some(age) => { (duration(age)) " old (" (timestamp(f.oldest_entry_at)) ")" }
                    None => { "none waiting" }
                }
            } }
            tr { th { "last index run" } td {
                @match &f.last_run {
                    Some(r) => { (r.status.as_str()) " at " (timestamp(Some(r.started_at))) ", " (duration(r.elapsed_seconds)) }
                    None => { "never" }
                }
            } }
        }
    }
}

pub fn runs(runs: &[RunRecord]) -> Markup {
    html! {
        @if runs.is_empty() { p { "No runs recorded yet." } } @else {
            table #runs {
                tr {
                    th { "started" } th { "source" } th { "status" } th { "read" } th { "inserted" } th { "updated" }
                    th { "rejected" } th { "duration" } th { "records/s" } th { "message" }
                }
                @for r in runs {
                    tr {
                        td.t { (timestamp(Some(r.started_at))) }
                        td { (r.source) }
                        td class=(r.status.as_str()) { (r.status.as_str()) }
                        td.n { (thousands(r.counts.read)) }
                        td.n { (thousands(r.counts.inserted)) }
                        td.n { (thousands(r.counts.updated)) }
                        td.n { (thousands(r.counts.rejected)) }
                        td.n { (duration(r.elapsed_seconds)) }
                        td.n { (thousands(r.rows_per_second as u64)) }
                        td { (r.message.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

/// The counts by source and type, then each error with its raw record; `action` renders what a
/// person can do about one error (nothing in the report).
pub fn errors(v: &ErrorsView, action: impl Fn(&SyncErrorRecord) -> Markup) -> Markup {
    html! {
        h2 { "Errors by source and type" }
        @if v.tallies.is_empty() { p { "No errors recorded." } } @else {
            table #tallies {
                tr { th { "source" } th { "type" } th { "total" } th { "unresolved" } }
                @for t in &v.tallies {
                    tr {
                        td { (t.source) } td { (t.error_type.as_str()) }
                        td.n { (thousands(t.total)) } td.n { (thousands(t.unresolved)) }
                    }
                }
            }
        }
        h2 { "Recent errors" }
        @if v.errors.is_empty() { p { "No errors match." } }
        @for e in &v.errors {
            div.item.error {
                strong { (e.source_table) " · " (e.error_type.as_str()) }
                span.muted { " " (timestamp(Some(e.created_at))) @if e.resolved { " · resolved" } }
                @if let Some(id) = &e.record_id { " · record " code { (id) } }
                p { (e.error_message) }
                pre { (serde_json::to_string_pretty(&e.record_data).unwrap_or_default()) }
                (action(e))
            }
        }
    }
}

pub fn quality(q: &MatchQuality) -> Markup {
    html! {
        table #quality {
            tr { @for (status, _) in &q.by_status { th { (status.as_str()) } } }
            tr { @for (_, n) in &q.by_status { td.n { (thousands(*n)) } } }
        }
        @if q.by_status.is_empty() { p { "No matches yet: run " code { "catsync match" } "." } }
        div.chart { (chart::histogram("match scores", &q.histogram)) }
    }
}

/// The review queue: each distributor product beside its catalog product, with the evidence and
/// the forms that decide it (POST with the session's CSRF token).
pub fn matches(v: &MatchesView, csrf: &str) -> Markup {
    let status = v.status.map_or("all", |s| s.as_str());
    html! {
        h1 { "Matches: " (status) }
        p.hint { "Keys: j/k next/previous, c confirm, r reject." }
        @if v.matches.is_empty() { p #empty { "Nothing to review." } }
        @for (i, m) in v.matches.iter().enumerate() {
            div.item.match_item id=(format!("m{i}")) data-id=(m.id) {
                strong { (m.distributor) ":" (m.sku) }
                span.muted { " score " (format!("{:.3}", m.score)) " · " (m.method.as_str()) " · " (m.status.as_str()) }
                div.pair {
                    div.side { h3 { "distributor product" } (side(&m.offer)) }
                    div.side { h3 { "catalog product" } (side(&m.product)) }
                }
                details { summary { "evidence" } pre { (serde_json::to_string_pretty(&m.evidence).unwrap_or_default()) } }
                (decision_form(m, "confirm", csrf))
                " "
                (decision_form(m, "reject", csrf))
            }
        }
        script { (PreEscaped(REVIEW_KEYS)) }
    }
}

/// The retry button of an unresolved rejected row (nothing for the others).
pub fn retry_form(e: &SyncErrorRecord, csrf: &str) -> Markup {
    html! {
        @if !e.resolved && e.error_type == ErrorType::Rejected {
            form.inline.retry method="post" action=(format!("/errors/{}/retry", e.id)) {
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { "retry" }
            }
        }
    }
}

fn decision_form(m: &MatchItem, decision: &str, csrf: &str) -> Markup {
    html! {
        form.inline.(decision) method="post" action=(format!("/matches/{}/decide", m.id)) {
            input type="hidden" name="decision" value=(decision);
            input type="hidden" name="csrf" value=(csrf);
            button type="submit" { (decision) }
        }
    }
}

fn side(p: &ProductSide) -> Markup {
    html! {
        p.title { (p.title) }
        table {
            tr { th { "brand" } td { (p.brand) } }
            tr { th { "mpn" } td { (p.mpn) } }
            tr { th { "gtin" } td { (p.gtin) } }
            tr { th { "price" } td { (p.price.map(|p| format!("{p:.2}")).unwrap_or_default()) } }
        }
    }
}

/// j/k move the selection, c/r submit its confirm/reject form.
const REVIEW_KEYS: &str = r#"
(function () {
  var items = Array.prototype.slice.call(document.querySelectorAll('.match_item'));
  var at = 0;
  function select(i) {
    if (!items.length) return;
    at = Math.max(0, Math.min(items.length - 1, i));
    items.forEach(function (el, j) { el.classList.toggle('selected', j === at); });
    items[at].scrollIntoView({block: 'nearest'});
  }
  select(0);
  document.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || /INPUT|TEXTAREA/.test(e.target.tagName)) return;
    if (e.key === 'j') select(at + 1);
    else if (e.key === 'k') select(at - 1);
    else if ((e.key === 'c' || e.key === 'r') && items.length) {
      items[at].querySelector(e.key === 'c' ? 'form.confirm' : 'form.reject').submit();
    }
  });
})();
"#;

/// What the search form holds, as the query string gave it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    pub q: String,
    pub brand: Option<String>,
    pub distributor: Option<String>,
    pub in_stock: Option<String>,
    pub min_price: Option<String>,
    pub max_price: Option<String>,
}

pub fn search(form: &SearchForm, results: Option<&SearchResults>) -> Markup {
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    html! {
        h1 { "Search" }
        form #search method="get" action="/search" {
            input type="search" name="q" value=(form.q) placeholder="words, GTIN, SKU or part number" autofocus;
            " brand " input name="brand" value=(value(&form.brand)) size="10";
            " distributor " input name="distributor" value=(value(&form.distributor)) size="10";
            " price " input name="min_price" value=(value(&form.min_price)) size="5";
            "–" input name="max_price" value=(value(&form.max_price)) size="5";
            label { input type="checkbox" name="in_stock" value="1" checked[form.in_stock.is_some()]; " in stock" }
            " " button type="submit" { "search" }
        }
        @if let Some(r) = results {
            p #total { (r.results.len()) " of " (thousands(r.total)) " products" }
            div.charts {
                (facet("brand", &r.facets.brand))
                (facet("distributor", &r.facets.distributor))
            }
            table #hits {
                tr { th { "title" } th { "brand" } th { "gtin" } th { "lowest price" } th { "stock" } th { "offers" } th { "why" } }
                @for h in &r.results {
                    tr {
                        td.hit { (h.title) }
                        td { (h.brand.as_deref().unwrap_or("")) }
                        td { (h.gtin.as_deref().unwrap_or("")) }
                        td.n { (h.lowest_price.map(|p| format!("{p:.2}")).unwrap_or_default()) }
                        td.n { (h.total_stock) }
                        td.n { (h.offers.len()) }
                        td.muted { (h.why.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

fn facet(name: &str, counts: &[(String, u64)]) -> Markup {
    html! {
        div.chart {
            strong { (name) }
            @for (value, n) in counts {
                div { (value) " " span.muted { "(" (thousands(*n)) ")" } }
            }
        }
    }
}

/// The login form of a server with a token; `message` says why the last try failed.
pub fn login(message: Option<&str>) -> Markup {
    html! {
        h1 { "catsync: log in" }
        @if let Some(m) = message { p.bad { (m) } }
        form #login method="post" action="/login" {
            label { "token " input type="password" name="token" autocomplete="current-password" autofocus; }
            " " button type="submit" { "log in" }
        }
        p.hint { "The token is [serve] token in catsync.toml; scripts send it as Authorization: Bearer." }
    }
}
