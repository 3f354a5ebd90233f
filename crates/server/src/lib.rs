//! a2e-server: the HTTP/WebSocket face of a2e, a thin adapter over [`a2e_host::Host`].
//!
//! [`app`] builds the whole router (auth API over the auth plugin, plugin and admin APIs, live
//! events over WebSocket, `/healthz`, `/metrics`, the OpenAPI document and the embedded web UI),
//! so tests drive it without a socket; [`serve`] runs it on a listener until a shutdown signal,
//! letting in-flight requests finish.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use a2e_server::{app, AppState, ServerConfig};
//! let dir = std::path::Path::new("/tmp/a2e-example");
//! let source = a2e_db::KeySource::from_env(dir)?;
//! let db = a2e_db::Db::open(dir, &source)?;
//! let host = a2e_host::Host::open(db, a2e_host::HostConfig::new(dir))?;
//! a2e_server::bundled::install(&host)?;
//! let state = AppState::new(host, source, ServerConfig::new("http://127.0.0.1:8080"));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! a2e_server::serve(state, listener, std::future::pending()).await?;
//! # Ok(()) }
//! ```

pub mod admin;
pub mod auth;
pub mod bundled;
mod call;
pub mod error;
pub mod events;
mod http;
pub mod metrics;
mod openapi;
pub mod plugins;
pub mod rt;
/// Process set-up (re-exported from the host, where it lives).
pub use a2e_host::process;
mod ui;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use a2e_db::KeySource;
use a2e_host::Host;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{middleware, Json, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use error::{ApiError, ApiResult};

/// How the server behaves.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The URL people reach the server at; links in emails use it and it is an allowed origin.
    pub public_url: String,
    /// Further origins allowed to make state-changing requests (a UI dev server, say).
    pub extra_origins: Vec<String>,
    /// Mark the session cookie `Secure`; on by default when `public_url` is https.
    pub secure_cookies: bool,
    /// Requests per minute per client address on state-changing auth routes.
    pub auth_per_ip_per_minute: u32,
    /// Requests per minute per account (email or user) on state-changing auth routes.
    pub auth_per_account_per_minute: u32,
    /// Largest JSON request body, in bytes.
    pub body_limit: usize,
    /// Largest plugin upload, in bytes.
    pub upload_limit: usize,
    /// Longest a request may take before it is answered with 504 `TIMEOUT`.
    pub request_timeout: Duration,
    /// Events queued per WebSocket client before it is dropped as too slow.
    pub event_queue: usize,
    /// Shortest time an answer to signup, resend-verification and password-reset request takes:
    /// the work for an address with an account differs slightly from the work for one without
    /// (a committed token, a queued mail), and a fixed floor keeps that out of the answer's timing.
    pub min_answer_time: Duration,
    /// Limits of realtime connections (`/api/rt`).
    pub rt: rt::RtConfig,
}

impl ServerConfig {
    /// Defaults for a server reached at `public_url`.
    pub fn new(public_url: impl Into<String>) -> ServerConfig {
        let public_url = public_url.into().trim_end_matches('/').to_owned();
        ServerConfig {
            secure_cookies: public_url.starts_with("https://"),
            public_url,
            extra_origins: Vec::new(),
            auth_per_ip_per_minute: 120,
            auth_per_account_per_minute: 30,
            body_limit: 64 * 1024,
            upload_limit: 32 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            event_queue: 256,
            min_answer_time: Duration::from_millis(100),
            rt: rt::RtConfig::default(),
        }
    }
}

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    host: Host,
    key_source: KeySource,
    config: ServerConfig,
    metrics: metrics::Metrics,
    limits: http::AuthLimits,
    setup_lock: tokio::sync::Mutex<()>,
    started: Instant,
}

impl AppState {
    /// State over an open host; `key_source` is what the database was opened with (backups are
    /// wrapped with it).
    pub fn new(host: Host, key_source: KeySource, config: ServerConfig) -> AppState {
        let limits = http::AuthLimits::new(config.auth_per_ip_per_minute, config.auth_per_account_per_minute);
        AppState {
            inner: Arc::new(Inner {
                host,
                key_source,
                config,
                metrics: metrics::Metrics::default(),
                limits,
                setup_lock: tokio::sync::Mutex::new(()),
                started: Instant::now(),
            }),
        }
    }

    /// The plugin host.
    pub fn host(&self) -> &Host {
        &self.inner.host
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// Request and plugin-call counters.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }

    fn data_dir(&self) -> PathBuf {
        self.inner.host.plugins_dir().parent().map(PathBuf::from).unwrap_or_default()
    }
}

/// The OpenAPI document's frame; the paths come from the routers.
#[derive(OpenApi)]
#[openapi(
    info(title = "a2e", description = "The a2e HTTP API: accounts, plugins, administration and live events."),
    tags(
        (name = "auth", description = "Accounts and sessions, served by the auth plugin"),
        (name = "plugins", description = "Installed plugins and calls into them"),
        (name = "admin", description = "Database and audit log (administrators)"),
        (name = "realtime", description = "Rooms of plugins over one WebSocket, live events"),
        (name = "system", description = "Health and metrics")
    )
)]
struct ApiDoc;

/// The API routes with their OpenAPI description.
fn api(config: &ServerConfig) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::routes())
        .merge(plugins::routes(config.upload_limit))
        .merge(admin::routes())
        .merge(events::routes())
        .merge(rt::routes())
        .merge(http::system_routes())
}

/// The OpenAPI document of the whole API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api(&ServerConfig::new("http://localhost")).split_for_parts().1;
    openapi::complete(&mut doc);
    doc
}

/// The whole application: API, live events, health, metrics, OpenAPI document and web UI.
pub fn app(state: AppState) -> Router {
    let config = state.config().clone();
    let (router, mut doc) = api(&config).split_for_parts();
    openapi::complete(&mut doc);
    let doc = Arc::new(doc);
    let router = router
        .route("/api/openapi.json", get(move || async move { Json(doc.as_ref().clone()) }))
        .fallback(ui::serve)
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), http::guard));
    // Answers are gzipped for clients that accept it (the UI's scripts, JSON lists); WebSocket
    // upgrades, small bodies and images are left alone.
    http::security_headers(router)
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(middleware::from_fn_with_state(state.clone(), http::observe))
        .with_state(state)
}

/// How long a stopping server waits for realtime plugin calls in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves [`app`] on `listener` until `shutdown` completes, then stops accepting connections and
/// waits for in-flight requests to finish.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let host = state.host().clone();
    host.start_background();
    let sweeper = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                state.inner.limits.sweep();
            }
        })
    };
    let result = axum::serve(listener, app(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    sweeper.abort();
    // Rooms close with a reason their clients see, and no plugin call outlives the server.
    let stopped = tokio::task::spawn_blocking(move || host.shutdown(SHUTDOWN_GRACE)).await;
    if !matches!(stopped, Ok(true)) {
        tracing::warn!("realtime plugin calls were still running {} s after shutdown", SHUTDOWN_GRACE.as_secs());
    }
    result
}

/// Whether the web UI was built into this binary.
pub fn ui_built() -> bool {
    ui::is_built()
}
