//! Load check with a real HTTP client: `wrk` drives `GET /api/auth/session` (session cookie) at
//! 64 connections against the full a2e stack (axum, middleware, the auth plugin's
//! `verify_session`, the user load) and against a minimal native axum handler doing the same
//! session lookup in Rust (hash the token, read the session, check expiry, slide it when it moves
//! by a minute, load the user), in the same run.
//! Goal: full stack / native >= 0.7. Prints requests/s, latency and the ratio.
//!
//! Run with `cargo xtask bench` or `cargo bench -p a2e-server --bench http` after building
//! plugins/. Needs `wrk` (Debian: apt-get install wrk). `A2E_HTTP_BENCH_SECS` sets the duration
//! of each run (default 10).

use std::net::SocketAddr;
use std::process::Command;

use a2e_db::{Db, KeySource};
use a2e_host::{Host, HostConfig};
use a2e_server::{AppState, ServerConfig};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The auth plugin's defaults: 7-day idle expiry, 30-day absolute cap.
const IDLE_MS: i64 = 7 * 24 * 3_600_000;
const ABSOLUTE_MS: i64 = 30 * 24 * 3_600_000;

#[derive(Clone)]
struct Native {
    db: Db,
}

#[path = "../../../xtask/src/report.rs"]
mod report;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// The same checks the auth plugin's `verify_session` makes, plus the user load the server does.
async fn native_session(State(native): State<Native>, headers: HeaderMap) -> Result<Json<Value>, StatusCode> {
    let token = a2e_server::auth::session_cookie(&headers).ok_or(StatusCode::UNAUTHORIZED)?;
    if token.is_empty()
        || token.len() > 512
        || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let id = hex::encode(Sha256::digest(token.as_bytes()));
    let session = native.db.get_session(&id).map_err(|_| StatusCode::UNAUTHORIZED)?;
    let now = now_ms();
    let cap = session.created_at + ABSOLUTE_MS;
    if now >= session.expires_at || now >= cap {
        return Err(StatusCode::UNAUTHORIZED);
    }
    // The plugin's rule: the slide is written once it moves the expiry by a minute.
    let expires_at = (now + IDLE_MS).min(cap);
    if expires_at - session.expires_at >= 60_000 {
        native.db.touch_session(&session.id, now, expires_at).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    }
    let user = native.db.get_user_by_uuid(&session.user_uuid).map_err(|_| StatusCode::UNAUTHORIZED)?;
    Ok(Json(json!({ "user": { "uuid": user.uuid, "name": user.name, "email": user.email, "role": user.role } })))
}

struct Measured {
    rps: f64,
    latency: String,
    errors: String,
}

fn wrk(url: &str, cookie: &str, secs: u32) -> Measured {
    let out = Command::new("wrk")
        .args(["-t2", "-c64", &format!("-d{secs}s"), "--latency", "-H", &format!("Cookie: a2e_session={cookie}"), url])
        .output()
        .unwrap_or_else(|e| panic!("wrk: {e}; install it (Debian: apt-get install wrk)"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk output:\n{text}"));
    let pick = |p: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(p))
            .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_owned())
    };
    let latency = format!("p50 {} p99 {}", pick("50%").unwrap_or_default(), pick("99%").unwrap_or_default());
    let errors = text
        .lines()
        .filter(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ");
    Measured { rps, latency, errors: if errors.is_empty() { "none".into() } else { errors } }
}

async fn spawn(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
    addr
}

fn main() {
    // Measured as `a2e serve` runs (see a2e_server::process).
    a2e_server::process::bound_malloc();
    std::env::set_var("RUST_LIB_BACKTRACE", "0");
    let secs: u32 = std::env::var("A2E_HTTP_BENCH_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let source = KeySource::KeyFile(dir.path().join("db.key"));
    let db = Db::open(dir.path(), &source).unwrap();
    let host = Host::open(db.clone(), HostConfig::new(dir.path())).unwrap();
    a2e_server::bundled::install(&host).unwrap();
    let login = a2e_server::auth::create_user(
        &host,
        &a2e_server::auth::SignupRequest {
            name: "bench".into(),
            email: "bench@example.com".into(),
            password: "correct horse battery".into(),
        },
        false,
        None,
    )
    .unwrap();
    let token = login["session_token"].as_str().unwrap().to_owned();
    let uuid = login["user"]["uuid"].as_str().unwrap().to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut config = ServerConfig::new("http://127.0.0.1");
    // The forgot-password rounds below would hit the per-address and per-account limits.
    config.auth_per_ip_per_minute = u32::MAX;
    config.auth_per_account_per_minute = u32::MAX;
    let (state, full, native) = runtime.block_on(async {
        let state = AppState::new(host, source, config);
        let full = spawn(a2e_server::app(state.clone())).await;
        let native =
            spawn(Router::new().route("/api/auth/session", get(native_session)).with_state(Native { db })).await;
        (state, full, native)
    });
    // Warm both (instances, caches), then measure, native first.
    let _ = wrk(&format!("http://{full}/api/auth/session"), &token, 2);
    let _ = wrk(&format!("http://{native}/api/auth/session"), &token, 2);
    let n = wrk(&format!("http://{native}/api/auth/session"), &token, secs);
    let f = wrk(&format!("http://{full}/api/auth/session"), &token, secs);
    println!("\nverify-session over HTTP, wrk -t2 -c64 -d{secs}s, GET /api/auth/session with the session cookie");
    println!("{:<44} {:>12} {:>26}  errors", "", "requests/s", "latency");
    println!("{:<44} {:>12.0} {:>26}  {}", "native axum handler (Rust session lookup)", n.rps, n.latency, n.errors);
    println!("{:<44} {:>12.0} {:>26}  {}", "a2e full stack (middleware + auth plugin)", f.rps, f.latency, f.errors);
    report::emit(&report::ratio_row(
        "http",
        "verify-session requests/s: full stack / native axum handler",
        format!("{:.0}/s ({}; errors: {})", f.rps, f.latency, f.errors),
        format!("{:.0}/s ({}; errors: {})", n.rps, n.latency, n.errors),
        f.rps / n.rps,
        ">= 0.70",
    ));
    println!(
        "ratio full / native: {:.2} (goal >= 0.70: {})",
        f.rps / n.rps,
        if f.rps / n.rps >= 0.7 { "met" } else { "NOT met" }
    );

    let rounds = 100;
    let (known, unknown) = runtime.block_on(forgot_password_p50s(&state, &uuid, rounds));
    println!(
        "\nforgot-password over HTTP, p50 of {rounds}: unknown {unknown:.2} ms / known {known:.2} ms = {:.3}",
        unknown / known
    );
    report::emit(&report::ratio_row(
        "http",
        &format!(
            "forgot-password p50 over HTTP (answer floor {:?}): unknown / known email",
            state.config().min_answer_time
        ),
        format!("{unknown:.2} ms"),
        format!("{known:.2} ms"),
        unknown / known,
        "~1.00",
    ));
}

/// p50 of `POST /api/auth/password-reset/request` through the router, for the bench account's
/// address and for unknown ones, in interleaved rounds of alternating order.
async fn forgot_password_p50s(state: &AppState, uuid: &str, rounds: usize) -> (f64, f64) {
    use tower::ServiceExt;
    let app = a2e_server::app(state.clone());
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        for is_unknown in [i % 2 == 0, i % 2 == 1] {
            let email = if is_unknown { format!("nobody{i}@example.com") } else { "bench@example.com".into() };
            let mut request = axum::http::Request::post("/api/auth/password-reset/request")
                .header("host", "127.0.0.1")
                .header("origin", "http://127.0.0.1")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(json!({ "email": email }).to_string()))
                .unwrap();
            // A fresh client address per request keeps the per-address mail budget out of it.
            let n = i * 2 + usize::from(is_unknown);
            let client: SocketAddr = format!("10.1.{}.{}:4000", n / 250, n % 250 + 1).parse().unwrap();
            request.extensions_mut().insert(axum::extract::ConnectInfo(client));
            let started = std::time::Instant::now();
            let response = app.clone().oneshot(request).await.unwrap();
            let ms = started.elapsed().as_secs_f64() * 1e3;
            assert_eq!(response.status(), StatusCode::OK);
            if is_unknown {
                unknown.push(ms)
            } else {
                known.push(ms)
            }
        }
        // Keep the account below its mail budget so every round does the full work.
        state.host().db().rate_limit_reset("auth:reset-address", "bench@example.com").unwrap();
        state.host().db().rate_limit_reset("auth:email", uuid).unwrap();
    }
    (p50(known), p50(unknown))
}

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
