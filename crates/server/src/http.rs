//! Cross-cutting HTTP concerns: request logs and metrics, security headers, CSRF (Origin)
//! checks, refusal of tokens in URLs, rate limits on the auth routes, request timeouts, and the
//! `/healthz` and `/metrics` routes.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use a2e_abi::codes;

use crate::error::ApiError;
use crate::AppState;

/// Query parameter names that would carry a credential; the API refuses them.
const TOKEN_PARAMS: &[&str] = &["token", "session_token", "access_token", "refresh_token", "session", "jwt"];

/// The Content-Security-Policy of every answer: the UI loads only its own scripts and styles,
/// talks only to its own origin, and may not be framed.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The client address of a request (from the connection), when known.
pub(crate) fn client_addr(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|ci| ci.0)
}

/// Rate limiters of the state-changing auth routes: per client address and per account.
pub(crate) struct AuthLimits {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_account: DefaultKeyedRateLimiter<String>,
}

impl AuthLimits {
    pub(crate) fn new(per_ip_per_minute: u32, per_account_per_minute: u32) -> AuthLimits {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).expect("at least one"));
        AuthLimits {
            per_ip: RateLimiter::keyed(quota(per_ip_per_minute)),
            per_account: RateLimiter::keyed(quota(per_account_per_minute)),
        }
    }

    /// Counts one request for `account` (an email address or user id), case-insensitively.
    pub(crate) fn check_account(&self, account: &str) -> Result<(), ApiError> {
        let key = account.trim().to_lowercase();
        self.per_account.check_key(&key).map_err(|_| limited())
    }

    fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.per_ip.check_key(&ip).map_err(|_| limited())
    }

    /// Forgets clients that have not been seen for a while.
    pub(crate) fn sweep(&self) {
        self.per_ip.retain_recent();
        self.per_account.retain_recent();
        self.per_ip.shrink_to_fit();
        self.per_account.shrink_to_fit();
    }
}

fn limited() -> ApiError {
    ApiError::new(a2e_abi::codes::RATE_LIMITED, "too many requests; wait a minute and try again")
}

impl AppState {
    pub(crate) fn check_account_rate(&self, account: &str) -> Result<(), ApiError> {
        self.inner.limits.check_account(account)
    }
}

/// Logs every request and counts it in the metrics by route.
pub(crate) async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| {
        if request.uri().path().starts_with("/api/") {
            "unmatched".into()
        } else {
            "ui".into()
        }
    });
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state.metrics().request(method.as_str(), &route, status, elapsed);
    tracing::info!(target: "a2e_server::access", %method, path, status, micros = elapsed.as_micros() as u64, "request");
    response
}

/// Checks a request before any handler sees it, and bounds its time (not a WebSocket's).
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match check(&state, &request) {
        Ok(()) => {
            let timeout = state.config().request_timeout;
            let is_upgrade = request.headers().contains_key(header::UPGRADE);
            if is_upgrade {
                next.run(request).await
            } else {
                match tokio::time::timeout(timeout, next.run(request)).await {
                    Ok(response) => response,
                    Err(_) => ApiError::new(codes::TIMEOUT, format!("the request took longer than {timeout:?}"))
                        .into_response(),
                }
            }
        }
        Err(err) => err.into_response(),
    }
}

/// The security headers every answer carries (and `Cache-Control: no-store` unless the handler
/// chose a caching policy), as `tower-http` layers to wrap the router in.
pub(crate) fn security_headers<S>(router: axum::Router<S>) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    use tower_http::set_header::SetResponseHeaderLayer as Set;
    router
        .layer(Set::overriding(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)))
        .layer(Set::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(Set::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(Set::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(Set::overriding(
            axum::http::HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(Set::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
}

fn check(state: &AppState, request: &Request<Body>) -> Result<(), ApiError> {
    let path = request.uri().path();
    if !path.starts_with("/api/") {
        return Ok(());
    }
    if let Some(query) = request.uri().query() {
        let carries_token = query.split('&').filter_map(|pair| pair.split('=').next()).any(|name| {
            let name = name.to_ascii_lowercase();
            TOKEN_PARAMS.contains(&name.as_str())
        });
        if carries_token {
            return Err(ApiError::new(
                codes::TOKEN_IN_URL,
                "tokens are never accepted in a URL; send them in the request body, a cookie or the Authorization header",
            ));
        }
    }
    let changes_state = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let is_websocket = request.headers().contains_key(header::UPGRADE);
    if changes_state || is_websocket {
        check_origin(state, request.headers())?;
    }
    let is_auth_route = path.starts_with("/api/auth/") || path == "/api/setup";
    if changes_state && is_auth_route {
        if let Some(addr) = client_addr(request.extensions()) {
            state.inner.limits.check_ip(addr.ip())?;
        }
    }
    Ok(())
}

/// CSRF defence: a state-changing request (or a WebSocket handshake) that names an origin must
/// come from this server's own origin or a configured one; one that carries the session cookie
/// must name its origin. Clients without cookies (API clients with a bearer token) need none.
fn check_origin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let Some(origin) = origin else {
        if crate::auth::session_cookie(headers).is_some() {
            return Err(ApiError::new(codes::CSRF, "a cookie-authenticated request must carry an Origin header"));
        }
        return Ok(());
    };
    let origin = origin.trim_end_matches('/');
    let config = state.config();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let same_host = host.is_some_and(|h| origin == format!("http://{h}") || origin == format!("https://{h}"));
    if same_host
        || origin == config.public_url
        || config.extra_origins.iter().any(|o| o.trim_end_matches('/') == origin)
    {
        return Ok(());
    }
    Err(ApiError::new(codes::CSRF, format!("requests from origin {origin} are not allowed")))
}

/// What `/healthz` answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// "ok" or "unavailable".
    pub status: String,
    /// Seconds since the server started.
    pub uptime_secs: u64,
    /// Whether the database answered.
    pub database: bool,
}

pub(crate) fn system_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(metrics))
}

/// Liveness and readiness: the server runs and the database answers.
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn healthz(State(state): State<AppState>) -> Response {
    let db = state.host().db().clone();
    let database = tokio::task::spawn_blocking(move || db.health().is_ok()).await.unwrap_or(false);
    let health = Health {
        status: if database { "ok" } else { "unavailable" }.into(),
        uptime_secs: state.inner.started.elapsed().as_secs(),
        database,
    };
    let status = if database { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(health)).into_response()
}

/// Prometheus metrics: requests and latencies by route, plugin calls and errors by plugin.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "OpenMetrics text format", content_type = "application/openmetrics-text")))]
async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics().render(state.host());
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}
