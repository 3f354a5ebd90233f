//! Outbound HTTP: `http_request` (whole response), `http_open`/`http_read`/`http_close` (a body
//! read piece by piece).
//!
//! A request goes only to an origin one of the plugin's `http:` grants covers, checked again on
//! every redirect. The host resolves names itself and connects only to public addresses, unless
//! the covering grant names the address (an IP address, or `localhost` for the loopback ones):
//! the check runs before the request, and again inside the connector on the addresses it
//! actually dials, so a name that changes its answer in between gains nothing. No proxy from the
//! environment is used. Requests run on one small runtime of their own, whatever embeds the host.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use a2e_abi::{self as abi, codes, OriginPattern};
use a2e_abi::{canonical_ip as canonical, is_public_ip as is_public};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Url;
use zeroize::Zeroizing;

use super::CallCtx;
use crate::error::FnError;

/// Default and largest total time of `http_request`.
const REQUEST_TIMEOUT: (u32, u32) = (30_000, 120_000);
/// Default and largest total time of a stream.
const STREAM_TIMEOUT: (u32, u32) = (600_000, 1_800_000);
/// Default and largest response body of `http_request`.
const REQUEST_MAX_BYTES: (u32, u32) = (1 << 20, 16 << 20);
/// Default and largest response body of a stream.
const STREAM_MAX_BYTES: (u32, u32) = (64 << 20, 256 << 20);
/// Default and largest bytes one `http_read` returns.
const READ_MAX_BYTES: (u32, u32) = (64 << 10, 1 << 20);
/// Longest one `http_read` waits.
const MAX_WAIT_MS: u32 = 30_000;
/// Streams one plugin may hold open.
pub const MAX_STREAMS_PER_PLUGIN: usize = 16;
/// Redirects followed.
const MAX_REDIRECTS: usize = 5;
/// Headers the host sets itself.
const RESERVED_HEADERS: &[&str] =
    &["host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "keep-alive", "trailer"];
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The runtime every outbound request runs on (one worker thread, started on first use, kept
/// for the life of the process).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("a2e-http")
            .enable_all()
            .build()
            .expect("the HTTP runtime starts")
    })
}

/// The origins a plugin may reach.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Origins(Vec<OriginPattern>);

impl Origins {
    fn covering(&self, url: &Url) -> Option<&OriginPattern> {
        let host = host_of(url)?;
        let port = url.port_or_known_default()?;
        self.0.iter().find(|p| p.matches(url.scheme(), &host, port))
    }

    fn listed(&self) -> String {
        self.0.iter().map(|p| format!("http:{p}")).collect::<Vec<_>>().join(", ")
    }

    /// Whether dialing `addr` for `host` is allowed: a public address, or one a pattern for
    /// that host names.
    fn may_dial(&self, host: &str, addr: IpAddr) -> bool {
        is_public(addr)
            || self.0.iter().any(|p| {
                p.names_address(addr)
                    && match &p.host {
                        abi::HostPattern::Ip(_) => true,
                        abi::HostPattern::Name(name) => name == host,
                        _ => false,
                    }
            })
    }
}

fn host_of(url: &Url) -> Option<String> {
    match url.host()? {
        url::Host::Domain(d) => Some(d.to_ascii_lowercase()),
        url::Host::Ipv4(ip) => Some(ip.to_string()),
        url::Host::Ipv6(ip) => Some(ip.to_string()),
    }
}

/// Resolves names for the client and keeps only the addresses the plugin may dial.
struct GuardedResolver {
    origins: Origins,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let origins = self.origins.clone();
        let host = name.as_str().to_ascii_lowercase();
        Box::pin(async move {
            let addrs = lookup(&host).await?;
            let allowed: Vec<SocketAddr> = addrs.into_iter().filter(|a| origins.may_dial(&host, a.ip())).collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves only to addresses no grant allows").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

async fn lookup(host: &str) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
    if found.is_empty() {
        return Err(format!("{host} has no address").into());
    }
    Ok(found)
}

/// One client per distinct set of origins (its resolver enforces them); kept for reuse of
/// connections and TLS setup.
fn client_for(origins: &Origins) -> Result<reqwest::Client, FnError> {
    static CLIENTS: OnceLock<Mutex<HashMap<Origins, reqwest::Client>>> = OnceLock::new();
    let mut clients = CLIENTS.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(client) = clients.get(origins) {
        return Ok(client.clone());
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(GuardedResolver { origins: origins.clone() }))
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("a2e/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| FnError::internal("building the HTTP client", e))?;
    if clients.len() >= 64 {
        clients.clear();
    }
    clients.insert(origins.clone(), client.clone());
    Ok(client)
}

fn origins_of(ctx: &CallCtx) -> Result<Origins, FnError> {
    Ok(Origins(ctx.grant_set()?.origins().to_vec()))
}

/// A checked request, ready to send.
struct Prepared {
    plugin: Arc<str>,
    origins: Origins,
    client: reqwest::Client,
    method: reqwest::Method,
    url: Url,
    headers: HeaderMap,
    /// Headers carrying secrets, with the one origin they may be sent to.
    secret_headers: Option<(HeaderMap, String)>,
    /// Hides the secrets' values in whatever the response brings back to the plugin.
    scrubber: Scrubber,
    body: Option<Vec<u8>>,
    timeout: Duration,
    max_bytes: u64,
    base64: bool,
}

fn prepare(ctx: &CallCtx, req: abi::HttpRequest, stream: bool) -> Result<Prepared, FnError> {
    let (timeouts, sizes) =
        if stream { (STREAM_TIMEOUT, STREAM_MAX_BYTES) } else { (REQUEST_TIMEOUT, REQUEST_MAX_BYTES) };
    let method = req.method.to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(FnError::invalid(format!("method must be one of {}", METHODS.join(", "))));
    }
    let url = Url::parse(&req.url).map_err(|e| FnError::invalid(format!("bad url `{}`: {e}", req.url)))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(FnError::invalid(format!("url `{}` must be an absolute http or https URL", req.url)));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FnError::invalid("credentials in the URL are refused; send them in a header"));
    }
    let mut headers = HeaderMap::new();
    let mut secret_headers = HeaderMap::new();
    let mut secrets = Vec::new();
    for (name, value) in &req.headers {
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("proxy-") {
            return Err(FnError::invalid(format!("header `{name}` is set by the host")));
        }
        let name = HeaderName::from_bytes(lower.as_bytes())
            .map_err(|_| FnError::invalid(format!("bad header name `{name}`")))?;
        if value.contains(SECRET_OPEN) {
            if method == "OPTIONS" {
                return Err(FnError::invalid("a secret cannot be sent with OPTIONS"));
            }
            let (text, secret) = with_secret(ctx, &url, name.as_str(), value)?;
            let mut value =
                HeaderValue::from_str(&text).map_err(|_| FnError::invalid(format!("bad value for header `{name}`")))?;
            value.set_sensitive(true);
            secret_headers.append(name, value);
            secrets.push(secret);
            continue;
        }
        let value =
            HeaderValue::from_str(value).map_err(|_| FnError::invalid(format!("bad value for header `{name}`")))?;
        headers.append(name, value);
    }
    let secret_headers = (!secret_headers.is_empty()).then(|| (secret_headers, url.origin().ascii_serialization()));
    let body = match req.body {
        None => None,
        Some(text) if req.base64 => {
            Some(B64.decode(text).map_err(|e| FnError::invalid(format!("body is not valid base64: {e}")))?)
        }
        Some(text) => Some(text.into_bytes()),
    };
    let timeout_ms = pick(req.timeout_ms, timeouts, "timeout_ms")?;
    let max_bytes = pick(req.max_bytes, sizes, "max_bytes")?;
    let origins = origins_of(ctx)?;
    check_origin(ctx, &origins, &url)?;
    Ok(Prepared {
        plugin: ctx.plugin.clone(),
        client: client_for(&origins)?,
        origins,
        method: reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| FnError::invalid(e.to_string()))?,
        url,
        headers,
        secret_headers,
        scrubber: Scrubber::new(secrets),
        body,
        timeout: Duration::from_millis(timeout_ms.into()),
        max_bytes: max_bytes.into(),
        base64: req.base64,
    })
}

/// Where a header names a secret: `{{secret:<name>}}`.
const SECRET_OPEN: &str = "{{secret:";

/// Longest secret value, in characters.
pub const MAX_SECRET_LEN: usize = 4096;

/// Headers a secret may be sent in: the ones services read credentials from.
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "x-api-key", "api-key", "x-goog-api-key", "x-auth-token"];

/// The header value `value` with its secret in place, and the secret's value. The value must be
/// `{{secret:<name>}}` alone or after an authentication scheme (`Bearer {{secret:<name>}}`), in a
/// credential header, so a plugin cannot place the secret where a server would echo it; and the
/// secret must be bound to the origin of `url` (checked here, before anything is sent).
fn with_secret(ctx: &CallCtx, url: &Url, header: &str, value: &str) -> Result<(String, Zeroizing<Vec<u8>>), FnError> {
    if !CREDENTIAL_HEADERS.contains(&header) {
        return Err(FnError::invalid(format!(
            "a secret can be sent only in a credential header ({}), not in `{header}`",
            CREDENTIAL_HEADERS.join(", ")
        )));
    }
    let (scheme, reference) = match value.rsplit_once(' ') {
        Some((scheme, reference)) => (Some(scheme), reference),
        None => (None, value),
    };
    let name = reference.strip_prefix(SECRET_OPEN).and_then(|r| r.strip_suffix("}}"));
    let scheme_ok = scheme.is_none_or(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    let Some(name) = name.filter(|_| scheme_ok) else {
        return Err(FnError::invalid(format!(
            "header `{header}` must be `{SECRET_OPEN}<name>}}}}` alone or after a scheme such as `Bearer `"
        )));
    };
    let (secret, bound) = ctx.state.db.plugin_secret(&ctx.plugin, name)?.ok_or_else(|| {
        FnError::new(codes::NOT_FOUND, format!("plugin `{}` has no secret named `{name}`", ctx.plugin))
    })?;
    let origin = url.origin().ascii_serialization();
    if bound != origin {
        return Err(FnError::new(
            codes::PERMISSION_DENIED,
            format!("secret `{name}` is bound to {bound} and is never sent to {origin}"),
        ));
    }
    let text = match scheme {
        Some(scheme) => format!("{scheme} {}", secret.as_str()),
        None => secret.as_str().to_owned(),
    };
    Ok((text, Zeroizing::new(secret.as_bytes().to_vec())))
}

/// Replaces the secrets a request carried by `[secret]` in what the response brings back to the
/// plugin (headers, body, the final URL, error messages), in case the server echoes them. For a
/// body read in pieces it holds back a piece's end while it could be the start of a secret, so a
/// secret split between two pieces is caught too.
struct Scrubber {
    secrets: Vec<Zeroizing<Vec<u8>>>,
    held: Vec<u8>,
}

/// What a secret is replaced with.
const HIDDEN: &[u8] = b"[secret]";

impl Scrubber {
    fn new(secrets: Vec<Zeroizing<Vec<u8>>>) -> Scrubber {
        Scrubber { secrets, held: Vec::new() }
    }

    /// `bytes` with every secret replaced (`bytes` itself when the request carried none).
    fn all(&self, bytes: Vec<u8>) -> Vec<u8> {
        let mut out = bytes;
        for secret in self.secrets.iter().filter(|s| !s.is_empty()) {
            let mut next = Vec::with_capacity(out.len());
            let mut i = 0;
            while i < out.len() {
                if out[i..].starts_with(secret) {
                    next.extend_from_slice(HIDDEN);
                    i += secret.len();
                } else {
                    next.push(out[i]);
                    i += 1;
                }
            }
            out = next;
        }
        out
    }

    /// `text` with every secret replaced.
    fn text(&self, text: String) -> String {
        if self.secrets.is_empty() {
            return text;
        }
        String::from_utf8_lossy(&self.all(text.into_bytes())).into_owned()
    }

    /// The next piece of a body, scrubbed, less a tail that may begin a secret (held for the next
    /// piece; the whole piece when all of it may).
    fn piece(&mut self, chunk: bytes::Bytes) -> bytes::Bytes {
        if self.secrets.is_empty() {
            return chunk;
        }
        self.held.extend_from_slice(&chunk);
        let held = std::mem::take(&mut self.held);
        let mut out = self.all(held);
        let longest = self.secrets.iter().map(|s| s.len()).max().unwrap_or(0);
        let keep = (1..=out.len().min(longest.saturating_sub(1)))
            .rev()
            .find(|&n| self.secrets.iter().any(|s| s.starts_with(&out[out.len() - n..])))
            .unwrap_or(0);
        self.held = out.split_off(out.len() - keep);
        out.into()
    }

    /// What is held back, at the end of the body (it did not become a secret).
    fn rest(&mut self) -> bytes::Bytes {
        std::mem::take(&mut self.held).into()
    }

    fn head(
        &self,
        (status, headers, url): (u16, BTreeMap<String, String>, String),
    ) -> (u16, BTreeMap<String, String>, String) {
        if self.secrets.is_empty() {
            return (status, headers, url);
        }
        let headers = headers.into_iter().map(|(k, v)| (k, self.text(v))).collect();
        (status, headers, self.text(url))
    }

    fn error(&self, err: FnError) -> FnError {
        if self.secrets.is_empty() {
            return err;
        }
        FnError::new(err.code, self.text(err.message))
    }
}

/// Checks a secret's name: 1-64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit.
pub fn check_secret_name(name: &str) -> Result<(), String> {
    let valid = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(format!("secret name `{name}` must be 1-64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit"))
    }
}

/// Checks a secret's value: 1 to [`MAX_SECRET_LEN`] visible ASCII characters or spaces, what a
/// header value can carry.
pub fn check_secret_value(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > MAX_SECRET_LEN {
        return Err(format!("a secret's value must be 1 to {MAX_SECRET_LEN} characters"));
    }
    if !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err("a secret's value must be visible ASCII characters or spaces (it is sent in a header)".into());
    }
    Ok(())
}

/// The origin a secret is bound to, from `url` (`scheme://host[:port]`, no path, query or
/// credentials), written as browsers write origins (default ports left out).
pub fn secret_origin(url: &str) -> Result<String, String> {
    let bad = |why: &str| Err(format!("origin `{url}` {why}"));
    let Ok(parsed) = Url::parse(url) else { return bad("is not a URL") };
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return bad("must be http:// or https:// and a host");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return bad("cannot hold credentials");
    }
    if parsed.path() != "/" || parsed.query().is_some() || parsed.fragment().is_some() {
        return bad("must be scheme://host[:port] only, without a path or query");
    }
    Ok(parsed.origin().ascii_serialization())
}

pub(super) fn secret_list(ctx: &CallCtx, _req: abi::Empty) -> Result<Vec<abi::SecretInfo>, FnError> {
    Ok(ctx.state.db.list_plugin_secrets(&ctx.plugin)?)
}

/// 0 picks the default; above the limit is refused.
fn pick(value: u32, (default, max): (u32, u32), what: &str) -> Result<u32, FnError> {
    match value {
        0 => Ok(default),
        v if v > max => Err(FnError::invalid(format!("{what} must be at most {max}"))),
        v => Ok(v),
    }
}

fn origin_text(url: &Url) -> String {
    let port = url.port_or_known_default().unwrap_or(0);
    match url.host() {
        Some(url::Host::Ipv6(ip)) => format!("{}://[{ip}]:{port}", url.scheme()),
        _ => format!("{}://{}:{port}", url.scheme(), url.host_str().unwrap_or("")),
    }
}

/// Refuses a URL no grant covers, and an address literal or name that leads only to addresses
/// the covering grant does not name. Runs before any byte is sent.
fn check_origin(ctx: &CallCtx, origins: &Origins, url: &Url) -> Result<(), FnError> {
    let denied = |why: String| Err(FnError::new(codes::PERMISSION_DENIED, why));
    if origins.covering(url).is_none() {
        let held = if origins.0.is_empty() { "none".to_owned() } else { origins.listed() };
        return denied(format!(
            "plugin `{}` has no http grant covering {} (it holds: {held}); grant http:{} to allow it",
            ctx.plugin,
            origin_text(url),
            origin_text(url)
        ));
    }
    let host = host_of(url).unwrap_or_default();
    if let Ok(ip) = host.parse::<IpAddr>() {
        if !origins.may_dial(&host, canonical(ip)) {
            return denied(format!("{host} is not a public address and no grant names it"));
        }
    }
    Ok(())
}

/// Resolves the URL's host and refuses it when none of its addresses may be dialed (the
/// connector checks again on the addresses it dials).
async fn check_addresses(origins: &Origins, url: &Url) -> Result<(), FnError> {
    let Some(url::Host::Domain(domain)) = url.host() else { return Ok(()) };
    let host = domain.to_ascii_lowercase();
    let addrs =
        lookup(&host).await.map_err(|e| FnError::new(codes::UNAVAILABLE, format!("cannot resolve {host}: {e}")))?;
    if !addrs.iter().any(|a| origins.may_dial(&host, a.ip())) {
        let list: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
        return Err(FnError::new(
            codes::PERMISSION_DENIED,
            format!(
                "{host} resolves to {} only, which is not public; a grant naming the address (http:{}://{}:{}) allows it",
                list.join(", "),
                url.scheme(),
                list[0],
                url.port_or_known_default().unwrap_or(0)
            ),
        ));
    }
    Ok(())
}

fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

fn transport_error(err: &reqwest::Error, url: &Url, timeout: Duration) -> FnError {
    if err.is_timeout() {
        FnError::new(codes::TIMEOUT, format!("{} timed out after {} ms", origin_text(url), timeout.as_millis()))
    } else {
        FnError::new(codes::UNAVAILABLE, format!("request to {} failed: {}", origin_text(url), describe(err)))
    }
}

/// Sends the request, following redirects (each checked like the first URL). Answers the
/// final response, or the error.
async fn send(ctx_plugin: &str, p: &Prepared, deadline: Instant) -> Result<reqwest::Response, FnError> {
    let mut url = p.url.clone();
    let mut method = p.method.clone();
    let mut body = p.body.clone();
    for hop in 0..=MAX_REDIRECTS {
        check_addresses(&p.origins, &url).await?;
        let left = deadline.saturating_duration_since(Instant::now());
        let mut builder = p.client.request(method.clone(), url.clone()).headers(p.headers.clone()).timeout(left);
        // Secrets go to their own origin only: a redirect elsewhere goes on without them.
        if let Some((secrets, origin)) = &p.secret_headers {
            if url.origin().ascii_serialization() == *origin {
                builder = builder.headers(secrets.clone());
            }
        }
        if let Some(body) = &body {
            builder = builder.body(body.clone());
        }
        let resp = builder.send().await.map_err(|e| transport_error(&e, &url, p.timeout))?;
        let status = resp.status();
        let location = resp.headers().get(reqwest::header::LOCATION).and_then(|l| l.to_str().ok());
        let (true, Some(location)) = (status.is_redirection(), location) else { return Ok(resp) };
        if hop == MAX_REDIRECTS {
            return Err(FnError::new(
                codes::UNAVAILABLE,
                format!("more than {MAX_REDIRECTS} redirects from {}", p.url),
            ));
        }
        let next = url
            .join(location)
            .map_err(|e| FnError::new(codes::UNAVAILABLE, format!("bad redirect location `{location}`: {e}")))?;
        if !matches!(next.scheme(), "http" | "https") {
            return Err(FnError::new(codes::PERMISSION_DENIED, format!("redirect to `{next}` refused: not http(s)")));
        }
        if p.origins.covering(&next).is_none() {
            return Err(FnError::new(
                codes::PERMISSION_DENIED,
                format!(
                    "redirect from {} to {} refused: plugin `{ctx_plugin}` has no http grant covering it",
                    origin_text(&url),
                    origin_text(&next)
                ),
            ));
        }
        if status == reqwest::StatusCode::SEE_OTHER
            || (matches!(status.as_u16(), 301 | 302) && method == reqwest::Method::POST)
        {
            method = reqwest::Method::GET;
            body = None;
        }
        url = next;
    }
    unreachable!("the loop returns on its last hop")
}

fn head_of(resp: &reqwest::Response) -> (u16, BTreeMap<String, String>, String) {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in resp.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value)
            })
            .or_insert(value);
    }
    (resp.status().as_u16(), headers, resp.url().to_string())
}

/// Runs `fut` on the HTTP runtime and waits for it on this (blocking) thread.
fn block<T: Send + 'static>(
    fut: impl std::future::Future<Output = Result<T, FnError>> + Send + 'static,
) -> Result<T, FnError> {
    let (tx, rx) = mpsc::sync_channel(1);
    runtime().spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().map_err(|_| FnError::internal("outbound HTTP", "the request task ended without an answer"))?
}

pub(super) fn http_request(ctx: &CallCtx, req: abi::HttpRequest) -> Result<abi::HttpResponse, FnError> {
    let p = prepare(ctx, req, false)?;
    let started = Instant::now();
    let plugin = p.plugin.clone();
    let (status, headers, url, bytes, base64) = block(async move {
        let deadline = Instant::now() + p.timeout;
        let fetched = async {
            let mut resp = send(&p.plugin, &p, deadline).await?;
            let head = head_of(&resp);
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| transport_error(&e, &p.url, p.timeout))? {
                if (body.len() + chunk.len()) as u64 > p.max_bytes {
                    return Err(FnError::new(
                        codes::TOO_LARGE,
                        format!("the response from {} is larger than {} bytes", origin_text(&p.url), p.max_bytes),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok((head, body))
        }
        .await;
        let ((status, headers, url), body) = fetched.map_err(|e| p.scrubber.error(e))?;
        let (status, headers, url) = p.scrubber.head((status, headers, url));
        Ok((status, headers, url, p.scrubber.all(body), p.base64))
    })?;
    tracing::debug!(%plugin, %url, status, ms = started.elapsed().as_millis() as u64, "outbound HTTP request");
    let body = if base64 { B64.encode(&bytes) } else { String::from_utf8_lossy(&bytes).into_owned() };
    Ok(abi::HttpResponse { status, headers, body, url })
}

enum Piece {
    Data(bytes::Bytes),
    End,
    Failed(FnError),
}

/// An open response body.
struct Stream {
    rx: mpsc::Receiver<Piece>,
    buffered: VecDeque<u8>,
    /// Bytes of an incomplete UTF-8 character held for the next read (text streams).
    carry: Vec<u8>,
    base64: bool,
    ended: bool,
    failed: Option<FnError>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Entry {
    plugin: Arc<str>,
    expires: Instant,
    stream: Arc<Mutex<Stream>>,
}

/// Every open stream, by id.
#[derive(Default)]
pub struct Streams {
    map: Mutex<HashMap<String, Entry>>,
}

impl Streams {
    fn get(&self, plugin: &str, id: &str) -> Result<Arc<Mutex<Stream>>, FnError> {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get(id) {
            Some(e) if &*e.plugin == plugin => Ok(e.stream.clone()),
            _ => Err(FnError::new(codes::NOT_FOUND, format!("no open stream `{id}`"))),
        }
    }

    fn remove(&self, id: &str) -> bool {
        self.map.lock().unwrap_or_else(PoisonError::into_inner).remove(id).is_some()
    }

    /// Closes every stream of `plugin` (when it is disabled, replaced or removed).
    pub fn close_all(&self, plugin: &str) {
        self.map.lock().unwrap_or_else(PoisonError::into_inner).retain(|_, e| &*e.plugin != plugin);
    }

    /// How many streams are open.
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether no stream is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub(super) fn http_open(ctx: &CallCtx, req: abi::HttpRequest) -> Result<abi::HttpStream, FnError> {
    let streams = &ctx.state.http;
    {
        let mut map = streams.map.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        map.retain(|_, e| e.expires > now);
        let mine = map.values().filter(|e| e.plugin == ctx.plugin).count();
        if mine >= MAX_STREAMS_PER_PLUGIN {
            return Err(FnError::new(
                codes::RATE_LIMITED,
                format!("plugin `{}` has {MAX_STREAMS_PER_PLUGIN} streams open; close one first", ctx.plugin),
            ));
        }
    }
    let p = prepare(ctx, req, true)?;
    let base64 = p.base64;
    let expires = Instant::now() + p.timeout + Duration::from_secs(60);
    let plugin = p.plugin.clone();
    let (head_tx, head_rx) = mpsc::sync_channel(1);
    let (tx, rx) = mpsc::channel();
    let task = runtime().spawn(async move {
        let deadline = Instant::now() + p.timeout;
        let mut p = p;
        let mut resp = match send(&p.plugin, &p, deadline).await {
            Ok(resp) => resp,
            Err(err) => {
                let _ = head_tx.send(Err(p.scrubber.error(err)));
                return;
            }
        };
        if head_tx.send(Ok(p.scrubber.head(head_of(&resp)))).is_err() {
            return;
        }
        let mut total = 0u64;
        loop {
            let mut pieces = Vec::with_capacity(2);
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    total += chunk.len() as u64;
                    if total > p.max_bytes {
                        pieces.push(Piece::Failed(FnError::new(
                            codes::TOO_LARGE,
                            format!("the response from {} is larger than {} bytes", origin_text(&p.url), p.max_bytes),
                        )));
                    } else {
                        pieces.push(Piece::Data(p.scrubber.piece(chunk)));
                    }
                }
                Ok(None) => {
                    pieces.push(Piece::Data(p.scrubber.rest()));
                    pieces.push(Piece::End);
                }
                Err(e) => pieces.push(Piece::Failed(p.scrubber.error(transport_error(&e, &p.url, p.timeout)))),
            }
            for piece in pieces {
                let last = !matches!(piece, Piece::Data(_));
                if tx.send(piece).is_err() || last {
                    return;
                }
            }
        }
    });
    let head = head_rx.recv().map_err(|_| FnError::internal("outbound HTTP", "the stream task ended early"));
    let (status, headers, url) = match head {
        Ok(Ok(head)) => head,
        Ok(Err(err)) | Err(err) => {
            task.abort();
            return Err(err);
        }
    };
    let mut raw = [0u8; 16];
    ctx.state.random.fill(&mut raw);
    let id = hex::encode(raw);
    let stream = Stream { rx, buffered: VecDeque::new(), carry: Vec::new(), base64, ended: false, failed: None, task };
    let entry = Entry { plugin, expires, stream: Arc::new(Mutex::new(stream)) };
    streams.map.lock().unwrap_or_else(PoisonError::into_inner).insert(id.clone(), entry);
    tracing::debug!(plugin = %ctx.plugin, %url, status, "outbound HTTP stream opened");
    Ok(abi::HttpStream { id, status, headers, url })
}

fn take(stream: &mut Stream, piece: Piece) {
    match piece {
        Piece::Data(bytes) => stream.buffered.extend(bytes.iter()),
        Piece::End => stream.ended = true,
        Piece::Failed(err) => stream.failed = Some(err),
    }
}

pub(super) fn http_read(ctx: &CallCtx, req: abi::HttpRead) -> Result<abi::HttpChunk, FnError> {
    let max = pick(req.max_bytes, READ_MAX_BYTES, "max_bytes")? as usize;
    if req.wait_ms > MAX_WAIT_MS {
        return Err(FnError::invalid(format!("wait_ms must be at most {MAX_WAIT_MS}")));
    }
    let shared = ctx.state.http.get(&ctx.plugin, &req.id)?;
    let Ok(mut stream) = shared.try_lock() else {
        return Err(FnError::new(codes::CONFLICT, format!("stream `{}` is being read by another call", req.id)));
    };
    while let Ok(piece) = stream.rx.try_recv() {
        take(&mut stream, piece);
    }
    let finished = |s: &Stream| s.ended || s.failed.is_some();
    if stream.buffered.is_empty() && !finished(&stream) && req.wait_ms > 0 {
        match stream.rx.recv_timeout(Duration::from_millis(req.wait_ms.into())) {
            Ok(piece) => take(&mut stream, piece),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => stream.ended = true,
        }
        while let Ok(piece) = stream.rx.try_recv() {
            take(&mut stream, piece);
        }
    }
    let n = stream.buffered.len().min(max);
    let mut bytes: Vec<u8> = std::mem::take(&mut stream.carry);
    bytes.extend(stream.buffered.drain(..n));
    let drained = stream.buffered.is_empty();
    let done = drained && finished(&stream);
    let data = if stream.base64 {
        B64.encode(&bytes)
    } else {
        let keep = if done { 0 } else { incomplete_tail(&bytes) };
        stream.carry = bytes.split_off(bytes.len() - keep);
        String::from_utf8_lossy(&bytes).into_owned()
    };
    if done {
        let failed = stream.failed.take();
        drop(stream);
        ctx.state.http.remove(&req.id);
        if let Some(err) = failed {
            if data.is_empty() {
                return Err(err);
            }
            // Hand out what arrived first; the error is the stream's last word.
            shared.lock().unwrap_or_else(PoisonError::into_inner).failed = Some(err);
            let entry =
                Entry { plugin: ctx.plugin.clone(), expires: Instant::now() + Duration::from_secs(60), stream: shared };
            ctx.state.http.map.lock().unwrap_or_else(PoisonError::into_inner).insert(req.id.clone(), entry);
            return Ok(abi::HttpChunk { data, done: false });
        }
    }
    Ok(abi::HttpChunk { data, done })
}

/// Length of an incomplete UTF-8 character at the end of `bytes` (0 to 3).
fn incomplete_tail(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let b = bytes[bytes.len() - back];
        if b & 0xC0 == 0x80 {
            continue;
        }
        let need = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return 0,
        };
        return if need > back { back } else { 0 };
    }
    0
}

pub(super) fn http_close(ctx: &CallCtx, req: abi::HttpClose) -> Result<abi::Deleted, FnError> {
    match ctx.state.http.get(&ctx.plugin, &req.id) {
        Ok(_) => Ok(abi::Deleted { deleted: ctx.state.http.remove(&req.id) }),
        Err(_) => Ok(abi::Deleted { deleted: false }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_split_over_pieces_is_hidden_even_when_a_piece_is_only_its_start() {
        let mut scrubber = Scrubber::new(vec![Zeroizing::new(b"s3cret".to_vec())]);
        let mut out = Vec::new();
        for piece in ["key=", "s3", "cr", "et;", "s3"] {
            out.extend_from_slice(&scrubber.piece(bytes::Bytes::from(piece)));
        }
        out.extend_from_slice(&scrubber.rest());
        assert_eq!(String::from_utf8(out).unwrap(), "key=[secret];s3");
        let plain = bytes::Bytes::from("nothing to hide");
        assert_eq!(Scrubber::new(Vec::new()).piece(plain.clone()), plain);
    }

    #[test]
    fn incomplete_utf8_tails_are_held_back() {
        assert_eq!(incomplete_tail(b"abc"), 0);
        let e_acute = "é".as_bytes();
        assert_eq!(incomplete_tail(&[b'a', e_acute[0]]), 1);
        assert_eq!(incomplete_tail(e_acute), 0);
        let euro = "€".as_bytes();
        assert_eq!(incomplete_tail(&euro[..2]), 2);
        let emoji = "😀".as_bytes();
        assert_eq!(incomplete_tail(&emoji[..3]), 3);
        assert_eq!(incomplete_tail(&[0xFF]), 0);
    }
}
