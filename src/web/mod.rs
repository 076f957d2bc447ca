//! Seeing what happened: the view models (`view`), their HTML (`pages`, `chart`, `report`), the
//! Prometheus text (`metrics`) and `catsync serve`, the live dashboard and JSON API. Only this
//! folder knows HTTP serving; the data comes from `Store` queries assembled in `view`.

mod auth;
mod chart;
pub mod format;
mod metrics;
mod pages;
pub mod report;
pub mod view;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use maud::Markup;
use serde::Deserialize;
use uuid::Uuid;

pub use auth::Guard;
use auth::Session;
use pages::SearchForm;

use crate::config::{CatalogSection, Secret};
use crate::control::lease::JobLeases;
use crate::control::retry::{retry_under_leases, RetryError, RetryRequest};
use crate::control::{ErrorFilter, ErrorType};
use crate::matching::record::{MatchDecision, MatchFilter};
use crate::matching::Status;
use crate::search::{SearchIndex, SearchQuery};
use crate::source::feed::FeedProfile;
use crate::store::{Store, StoreError};

/// Where `catsync serve` listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// What the dashboard reads and writes.
#[derive(Clone)]
pub struct Dashboard {
    pub store: Arc<dyn Store>,
    /// The search index, or why it could not be opened.
    pub search: Result<Arc<dyn SearchIndex>, String>,
    pub catalog: Option<CatalogSection>,
    /// The leases the retry button takes, as `catsync retry` does.
    pub leases: JobLeases,
    /// The configured distributors' feed profiles, for retried rows (others: `FeedProfile::auto`).
    pub feed_profiles: Vec<FeedProfile>,
}

/// Why `catsync serve` will not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("--listen {listen:?} is not an address and port (for example 127.0.0.1:8080)")]
    BadListen { listen: String },
    #[error(
        "refusing to listen on {addr} without a token: anyone who can reach it could read the catalog and decide \
         matches. Set one in catsync.toml:\n\n[serve]\ntoken = \"${{CATSYNC_TOKEN}}\"\n\nand export CATSYNC_TOKEN \
         (for example `export CATSYNC_TOKEN=$(openssl rand -hex 32)`), or listen on 127.0.0.1"
    )]
    NoToken { addr: SocketAddr },
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: SocketAddr, reason: String },
}

/// The address to listen on; a non-loopback address needs a token.
pub fn listen_address(listen: &str, token: Option<&Secret>) -> Result<SocketAddr, ServeError> {
    let addr: SocketAddr = listen.parse().map_err(|_| ServeError::BadListen { listen: listen.into() })?;
    if !addr.ip().is_loopback() && token.is_none() {
        return Err(ServeError::NoToken { addr });
    }
    Ok(addr)
}

/// Serves the dashboard on `addr` until `shutdown` completes; `ready` gets the bound address.
pub async fn serve(
    dashboard: Dashboard,
    guard: Guard,
    addr: SocketAddr,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let bind_err = |e: std::io::Error| ServeError::Bind { addr, reason: e.to_string() };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(bind_err)?;
    ready(listener.local_addr().map_err(bind_err)?);
    axum::serve(listener, app(dashboard, guard)).with_graceful_shutdown(shutdown).await.map_err(bind_err)
}

struct AppState {
    dashboard: Dashboard,
    guard: Guard,
}

type Shared = State<Arc<AppState>>;

/// The dashboard's routes behind the access check.
pub fn app(dashboard: Dashboard, guard: Guard) -> Router {
    let state = Arc::new(AppState { dashboard, guard });
    Router::new()
        .route("/", get(status_page))
        .route("/runs", get(runs_page))
        .route("/errors", get(errors_page))
        .route("/errors/{id}/retry", post(retry))
        .route("/matches", get(matches_page))
        .route("/matches/{id}/decide", post(decide))
        .route("/search", get(search_page))
        .route("/login", get(login_page).post(login))
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/status", get(api_status))
        .route("/api/runs", get(api_runs))
        .route("/api/errors", get(api_errors))
        .route("/api/matches", get(api_matches))
        .route("/api/search", get(api_search))
        .layer(middleware::from_fn_with_state(state.clone(), access))
        .with_state(state)
}

/// Who is asking: a browser session (made on first visit when no token is configured), and
/// whether the request proved the token with a bearer header.
#[derive(Clone)]
struct Access {
    session: Option<Session>,
    bearer: bool,
}

impl Access {
    /// The CSRF token this session's forms carry.
    fn csrf(&self, guard: &Guard) -> String {
        self.session.as_ref().map(|s| guard.csrf(s)).unwrap_or_default()
    }

    /// Whether a state-changing POST carrying `csrf` is this session's own (a bearer request
    /// cannot be forged by a browser, so it needs none). Every POST route but /login asks this.
    fn may_post(&self, guard: &Guard, csrf: &str) -> bool {
        self.bearer || self.session.as_ref().is_some_and(|s| guard.csrf_matches(s, csrf))
    }
}

async fn access(State(app): Shared, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path == "/healthz" {
        return next.run(req).await;
    }
    let guard = &app.guard;
    let headers = req.headers();
    if !guard.requires_token() && !loopback_host(headers) {
        // Without a token only local names are served: a rebound DNS name is not this dashboard.
        return (StatusCode::FORBIDDEN, "forbidden: this dashboard answers to 127.0.0.1 and localhost only\n")
            .into_response();
    }
    if req.method() == Method::POST && !same_origin(headers) {
        return (StatusCode::FORBIDDEN, "forbidden: the request comes from another site\n").into_response();
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| guard.token_matches(t.trim()));
    let mut session =
        headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).and_then(|c| guard.session_from_cookies(c));
    if guard.requires_token() && !bearer && session.is_none() && path != "/login" {
        return unauthorized(&path);
    }
    let fresh = session.is_none() && !guard.requires_token() && !bearer;
    if fresh {
        session = Some(guard.new_session());
    }
    req.extensions_mut().insert(Access { session: session.clone(), bearer });
    let mut response = next.run(req).await;
    if let (true, Some(s)) = (fresh, &session) {
        if let Ok(v) = HeaderValue::from_str(&guard.set_cookie(s)) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

fn unauthorized(path: &str) -> Response {
    if path.starts_with("/api/") || path == "/metrics" {
        let body = "unauthorized: send Authorization: Bearer <[serve] token>, or log in at /login\n";
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response();
    }
    (StatusCode::UNAUTHORIZED, page("log in", false, pages::login(None))).into_response()
}

fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|v| v.to_str().ok())
}

fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = host(headers) else { return false };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    name == "localhost" || name.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A POST whose Origin, when the browser sends one, names this server.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let Some(host) = host(headers) else { return false };
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

fn page(title: &str, nav: bool, body: Markup) -> Html<String> {
    Html(pages::document(title, nav, body).into_string())
}

/// A store failure as the page or API shows it (store errors carry no secrets).
struct Failure(String);

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure(e.to_string())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        tracing::warn!(error = %self.0, "dashboard request failed");
        (StatusCode::INTERNAL_SERVER_ERROR, format!("error: {}\n", self.0)).into_response()
    }
}

type Answer<T> = Result<T, Failure>;

async fn status_page(State(app): Shared) -> Answer<Html<String>> {
    let v = view::status(&*app.dashboard.store).await?;
    Ok(page("catsync status", true, maud::html! { h1 { "Status" } (pages::status(&v)) }))
}

async fn api_status(State(app): Shared) -> Answer<Json<view::StatusView>> {
    Ok(Json(view::status(&*app.dashboard.store).await?))
}

#[derive(Debug, Deserialize)]
struct RunsQuery {
    source: Option<String>,
    limit: Option<u32>,
}

/// Runs a page lists unless `limit` says otherwise.
const RUNS_LIMIT: u32 = 100;

async fn runs_view(app: &AppState, q: &RunsQuery) -> Answer<view::RunsView> {
    let source = q.source.as_deref().filter(|s| !s.is_empty());
    Ok(view::runs(&*app.dashboard.store, source, q.limit.unwrap_or(RUNS_LIMIT)).await?)
}

async fn runs_page(State(app): Shared, Query(q): Query<RunsQuery>) -> Answer<Html<String>> {
    let v = runs_view(&app, &q).await?;
    let title = v.source.as_deref().unwrap_or("all sources");
    Ok(page("catsync runs", true, maud::html! { h1 { "Runs: " (title) } (pages::runs(&v.runs)) }))
}

async fn api_runs(State(app): Shared, Query(q): Query<RunsQuery>) -> Answer<Json<view::RunsView>> {
    Ok(Json(runs_view(&app, &q).await?))
}

#[derive(Debug, Deserialize)]
struct ErrorsQuery {
    source: Option<String>,
    #[serde(rename = "type")]
    error_type: Option<String>,
    limit: Option<u32>,
}

/// Errors a page lists unless `limit` says otherwise.
const ERRORS_LIMIT: u32 = 100;

async fn errors_view(app: &AppState, q: &ErrorsQuery) -> Answer<view::ErrorsView> {
    let filter = ErrorFilter {
        source: q.source.clone().filter(|s| !s.is_empty()),
        types: q.error_type.as_deref().filter(|s| !s.is_empty()).map(ErrorType::parse).into_iter().collect(),
        limit: q.limit.unwrap_or(ERRORS_LIMIT),
        ..ErrorFilter::default()
    };
    Ok(view::errors(&*app.dashboard.store, filter).await?)
}

async fn errors_page(
    State(app): Shared,
    axum::Extension(access): axum::Extension<Access>,
    Query(q): Query<ErrorsQuery>,
) -> Answer<Html<String>> {
    let v = errors_view(&app, &q).await?;
    let csrf = access.csrf(&app.guard);
    let body = maud::html! {
        h1 { "Errors" }
        form #filter method="get" action="/errors" {
            "source " select name="source" {
                option value="" { "any" }
                @for source in sources(&v) {
                    option value=(source) selected[v.filter.source.as_deref() == Some(source)] { (source) }
                }
            }
            " type " select name="type" {
                option value="" { "any" }
                @for t in [ErrorType::Rejected, ErrorType::Warning, ErrorType::File] {
                    option value=(t.as_str()) selected[v.filter.types.contains(&t)] { (t.as_str()) }
                }
            }
            " " button type="submit" { "filter" }
        }
        (pages::errors(&v, |e| pages::retry_form(e, &csrf)))
    };
    Ok(page("catsync errors", true, body))
}

/// The sources that have errors, for the filter.
fn sources(v: &view::ErrorsView) -> Vec<&str> {
    let mut sources: Vec<&str> = v.tallies.iter().map(|t| t.source.as_str()).collect();
    sources.dedup();
    sources
}

async fn api_errors(State(app): Shared, Query(q): Query<ErrorsQuery>) -> Answer<Json<view::ErrorsView>> {
    Ok(Json(errors_view(&app, &q).await?))
}

#[derive(Debug, Deserialize)]
struct MatchesQuery {
    status: Option<String>,
    distributor: Option<String>,
    limit: Option<u32>,
}

/// Matches a page lists unless `limit` says otherwise.
const MATCHES_LIMIT: u32 = 50;

async fn matches_view(app: &AppState, q: &MatchesQuery) -> Answer<view::MatchesView> {
    let store = &*app.dashboard.store;
    let catalog = match &app.dashboard.catalog {
        Some(section) => view::catalog(store, section).await?,
        None => None,
    };
    let filter = MatchFilter {
        status: q.status.as_deref().and_then(Status::parse),
        distributor: q.distributor.clone().filter(|s| !s.is_empty()),
        limit: Some(q.limit.unwrap_or(MATCHES_LIMIT)),
        ..MatchFilter::default()
    };
    Ok(view::matches(store, catalog.as_ref(), &filter).await?)
}

async fn matches_page(
    State(app): Shared,
    axum::Extension(access): axum::Extension<Access>,
    Query(q): Query<MatchesQuery>,
) -> Answer<Html<String>> {
    let v = matches_view(&app, &q).await?;
    Ok(page("catsync matches", true, pages::matches(&v, &access.csrf(&app.guard))))
}

async fn api_matches(State(app): Shared, Query(q): Query<MatchesQuery>) -> Answer<Json<view::MatchesView>> {
    Ok(Json(matches_view(&app, &q).await?))
}

/// The answer to a POST without the session's CSRF token.
fn stale_form() -> Response {
    (StatusCode::FORBIDDEN, "forbidden: the form's CSRF token is missing or stale; reload the page\n").into_response()
}

#[derive(Debug, Deserialize)]
struct DecideForm {
    decision: String,
    #[serde(default)]
    csrf: String,
}

async fn decide(
    State(app): Shared,
    axum::Extension(access): axum::Extension<Access>,
    Path(id): Path<Uuid>,
    Form(form): Form<DecideForm>,
) -> Answer<Response> {
    if !access.may_post(&app.guard, &form.csrf) {
        return Ok(stale_form());
    }
    let decision = match form.decision.as_str() {
        "confirm" => MatchDecision::Confirm { product: None },
        "reject" => MatchDecision::Reject,
        other => {
            return Ok(
                (StatusCode::BAD_REQUEST, format!("decision {other:?} is not confirm or reject\n")).into_response()
            )
        }
    };
    if !app.dashboard.store.decide_match(id, &decision, Some("decided in the dashboard")).await? {
        return Ok((StatusCode::NOT_FOUND, format!("no match to decide for {id}\n")).into_response());
    }
    tracing::info!(%id, decision = decision.name(), "match decided in the dashboard");
    Ok(Redirect::to("/matches?status=review").into_response())
}

#[derive(Debug, Deserialize)]
struct RetryForm {
    #[serde(default)]
    csrf: String,
}

/// The retry button: one rejected row imported again from its raw record, under its feed job's
/// lease, as `catsync retry --id` does.
async fn retry(
    State(app): Shared,
    axum::Extension(access): axum::Extension<Access>,
    Path(id): Path<Uuid>,
    Form(form): Form<RetryForm>,
) -> Answer<Response> {
    if !access.may_post(&app.guard, &form.csrf) {
        return Ok(stale_form());
    }
    let d = &app.dashboard;
    let request = RetryRequest { id: Some(id), limit: 1, ..RetryRequest::default() };
    let profile_of = |distributor: &str| {
        let configured = d.feed_profiles.iter().find(|p| p.distributor == distributor);
        configured.cloned().unwrap_or_else(|| FeedProfile::auto(distributor))
    };
    match retry_under_leases(d.store.as_ref(), &d.leases, &profile_of, &request).await {
        Ok(report) if report.examined == 0 => {
            Ok((StatusCode::NOT_FOUND, format!("no unresolved rejected row {id} to retry\n")).into_response())
        }
        Ok(report) => {
            tracing::info!(%id, resolved = report.resolved, "error retried in the dashboard");
            Ok(Redirect::to("/errors").into_response())
        }
        Err(RetryError::Busy(why)) => Ok((StatusCode::CONFLICT, format!("{why}\n")).into_response()),
        Err(e) => Err(Failure(e.to_string())),
    }
}

/// Hits a search shows.
const SEARCH_LIMIT: usize = 20;

fn search_query(form: &SearchForm) -> Result<SearchQuery, String> {
    let price = |v: &Option<String>, name: &str| -> Result<Option<f64>, String> {
        match v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| format!("{name} {v:?} is not a number")),
        }
    };
    let text = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
    Ok(SearchQuery {
        text: form.q.clone(),
        limit: SEARCH_LIMIT,
        brand: text(&form.brand),
        distributor: text(&form.distributor),
        in_stock: form.in_stock.is_some(),
        min_price: price(&form.min_price, "min_price")?,
        max_price: price(&form.max_price, "max_price")?,
    })
}

async fn run_search(app: &AppState, form: &SearchForm) -> Result<crate::search::SearchResults, (StatusCode, String)> {
    let query = search_query(form).map_err(|e| (StatusCode::BAD_REQUEST, e))?;
    let index = app.dashboard.search.as_ref().map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.clone()))?;
    index.search(&query).await.map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

async fn search_page(State(app): Shared, Query(form): Query<SearchForm>) -> Response {
    if form.q.trim().is_empty() {
        return page("catsync search", true, pages::search(&form, None)).into_response();
    }
    match run_search(&app, &form).await {
        Ok(results) => page("catsync search", true, pages::search(&form, Some(&results))).into_response(),
        Err((code, e)) => {
            (code, page("catsync search", true, maud::html! { (pages::search(&form, None)) p.bad { (e) } }))
                .into_response()
        }
    }
}

async fn api_search(State(app): Shared, Query(form): Query<SearchForm>) -> Response {
    match run_search(&app, &form).await {
        Ok(results) => Json(results).into_response(),
        Err((code, e)) => (code, Json(serde_json::json!({ "error": e }))).into_response(),
    }
}

async fn metrics_text(State(app): Shared) -> Answer<Response> {
    let v = view::metrics(&*app.dashboard.store).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], metrics::render(&v)).into_response())
}

async fn login_page(State(app): Shared) -> Response {
    if !app.guard.requires_token() {
        return Redirect::to("/").into_response();
    }
    page("log in", false, pages::login(None)).into_response()
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
}

async fn login(State(app): Shared, Form(form): Form<LoginForm>) -> Response {
    if !app.guard.requires_token() {
        return Redirect::to("/").into_response();
    }
    if !app.guard.token_matches(&form.token) {
        tracing::warn!("dashboard login with a wrong token");
        return (StatusCode::UNAUTHORIZED, page("log in", false, pages::login(Some("That token is wrong."))))
            .into_response();
    }
    let session = app.guard.new_session();
    let mut response = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&app.guard.set_cookie(&session)) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}
