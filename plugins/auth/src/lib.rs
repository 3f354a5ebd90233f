//! The a2e auth plugin: signup, login, sessions with idle and absolute expiry, email verification,
//! password reset, password change, profiles, HS256 access tokens and rotating refresh tokens with
//! reuse detection. It reaches storage, hashing, signing, mail and the clock only through the
//! a2e host; tokens are drawn from the host CSPRNG and stored as SHA-256 only.

use a2e_pdk::abi::*;
use a2e_pdk::prelude::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

/// Shortest password, in characters.
const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password, in characters (so at most 1024 bytes); longer ones are refused before
/// hashing. Characters, like every other length here, so the API schema can state it exactly.
const MAX_PASSWORD_CHARS: usize = 256;
/// Longest email, in characters.
const MAX_EMAIL_CHARS: usize = 254;
/// Longest token accepted from a caller, in bytes.
const MAX_TOKEN_BYTES: usize = 256;
/// Longest name, in characters.
const MAX_NAME_CHARS: usize = 100;
const GENERIC_LOGIN_ERROR: &str = "invalid email or password";

/// Largest request accepted, in bytes; larger ones are refused before any work.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// `handle`, after refusing oversized requests.
fn guarded<Req, Resp, F>(input: &[u8], f: F) -> FnResult<Vec<u8>>
where
    Req: serde::de::DeserializeOwned,
    Resp: Serialize,
    F: FnOnce(Req) -> Result<Resp>,
{
    if input.len() > MAX_REQUEST_BYTES {
        return handle(b"null", |_: Option<()>| -> Result<()> {
            Err(invalid(format!("request exceeds {MAX_REQUEST_BYTES} bytes")))
        });
    }
    handle(input, f)
}

/// Settings from the plugin's config, with safe defaults.
struct Settings {
    session_idle_ms: i64,
    session_absolute_ms: i64,
    access_ttl_secs: u32,
    refresh_ttl_ms: i64,
    verification_ttl_ms: i64,
    reset_ttl_ms: i64,
    base_url: String,
    max_login_failures: u32,
    max_login_failures_per_addr: u32,
    failure_window_ms: i64,
    emails_per_window: u32,
    emails_per_addr: u32,
    email_window_ms: i64,
}

fn setting<T: std::str::FromStr>(key: &str, default: T) -> Result<T> {
    Ok(config::get(key)?.and_then(|v| v.parse().ok()).unwrap_or(default))
}

/// The settings, read from the plugin's config once per instance: an instance's config is fixed
/// (a new config comes with a new plugin version and so with new instances).
fn settings() -> Result<&'static Settings> {
    static SETTINGS: std::sync::OnceLock<Settings> = std::sync::OnceLock::new();
    if let Some(s) = SETTINGS.get() {
        return Ok(s);
    }
    let loaded = load_settings()?;
    Ok(SETTINGS.get_or_init(|| loaded))
}

fn load_settings() -> Result<Settings> {
    const HOUR: i64 = 3_600_000;
    Ok(Settings {
        session_idle_ms: setting("session_idle_ms", 7 * 24 * HOUR)?,
        session_absolute_ms: setting("session_absolute_ms", 30 * 24 * HOUR)?,
        access_ttl_secs: setting("access_ttl_secs", 900u32)?.clamp(1, 900),
        refresh_ttl_ms: setting("refresh_ttl_ms", 30 * 24 * HOUR)?,
        verification_ttl_ms: setting("verification_ttl_ms", 24 * HOUR)?,
        reset_ttl_ms: setting("reset_ttl_ms", HOUR)?.clamp(1, HOUR),
        base_url: setting("base_url", "http://localhost:8080".to_owned())?.trim_end_matches('/').to_owned(),
        max_login_failures: setting("max_login_failures", 5u32)?,
        max_login_failures_per_addr: setting("max_login_failures_per_addr", 50u32)?,
        failure_window_ms: setting("failure_window_ms", 15 * 60_000)?,
        emails_per_window: setting("emails_per_window", 5u32)?,
        emails_per_addr: setting("emails_per_addr", 20u32)?,
        email_window_ms: setting("email_window_ms", HOUR)?,
    })
}

fn unauthenticated(message: &str) -> HostError {
    error(codes::UNAUTHENTICATED, message)
}

fn invalid(message: impl Into<String>) -> HostError {
    error(codes::INVALID_INPUT, message)
}

/// A fresh token (256 bits from the host CSPRNG, base64url) and its SHA-256 hex.
fn new_token() -> Result<(String, String)> {
    let raw = B64URL.encode(random::bytes(32)?);
    let hash = token_hash(&raw);
    Ok((raw, hash))
}

fn token_hash(raw: &str) -> String {
    Sha256::digest(raw.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks the shape of a caller's token before it is hashed: base64url only, bounded length.
fn presented_token(raw: &str) -> Result<String> {
    if raw.is_empty()
        || raw.len() > MAX_TOKEN_BYTES
        || !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(unauthenticated("invalid or expired token"));
    }
    Ok(token_hash(raw))
}

fn check_email(email: &str) -> Result<()> {
    let ok = !email.is_empty()
        && email.chars().count() <= MAX_EMAIL_CHARS
        && email.trim() == email
        && !email.chars().any(|c| c.is_control() || c.is_whitespace())
        && email.rsplit_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
    if !ok {
        return Err(invalid(
            "email must look like name@domain, at most 254 characters, without spaces or control characters",
        ));
    }
    Ok(())
}

fn check_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
        return Err(invalid(format!("password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<()> {
    let n = name.chars().count();
    if name.trim().is_empty() || n > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(invalid(format!("name must be 1 to {MAX_NAME_CHARS} characters without control characters")));
    }
    Ok(())
}

/// Counter key for an email: the same for every case variant.
fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

fn emit(kind: &str, user_uuid: Option<&str>, data: serde_json::Value) {
    if let Err(e) = events::emit(kind, user_uuid, data) {
        a2e_pdk::warn!("could not record {kind}: {}", e.message);
    }
}

/// The part of a user a client may see.
#[derive(Serialize)]
struct Profile {
    uuid: String,
    name: String,
    email: String,
    email_verified: bool,
    avatar: Option<String>,
    bio: Option<String>,
    role: String,
    created_at: i64,
}

impl From<User> for Profile {
    fn from(u: User) -> Self {
        Profile {
            uuid: u.uuid,
            name: u.name,
            email: u.email,
            email_verified: u.email_verified,
            avatar: u.avatar,
            bio: u.bio,
            role: u.role,
            created_at: u.created_at,
        }
    }
}

/// Sends a verification link unless the user's mail budget is spent.
fn send_verification(s: &Settings, user: &User, now: i64) -> Result<()> {
    if !mail_budget(s, &user.uuid)? {
        return Ok(());
    }
    let (raw, hash) = new_token()?;
    host::db_create_email_verification_token(&CreateOneTimeToken {
        token_hash: hash,
        user_uuid: user.uuid.clone(),
        email: user.email.clone(),
        expires_at: now + s.verification_ttl_ms,
    })?;
    email::send(&SendEmail {
        to: user.email.clone(),
        subject: "Verify your email address".into(),
        text: format!(
            "Hello {},\n\nconfirm your email address by opening this link:\n{}/verify-email?token={raw}\n\nThe link expires in {} hours.\n",
            user.name,
            s.base_url,
            s.verification_ttl_ms / 3_600_000
        ),
    })?;
    Ok(())
}

/// Counts one email against the per-user and per-client-address budgets; false when spent.
fn mail_budget(s: &Settings, user_uuid: &str) -> Result<bool> {
    if let Some(addr) = context::client_addr()? {
        let by_addr = RateLimitHit {
            scope: "email-addr".into(),
            key: addr,
            max: s.emails_per_addr,
            window_ms: s.email_window_ms,
        };
        if !ratelimit::hit(&by_addr)?.allowed {
            return Ok(false);
        }
    }
    let d = ratelimit::hit(&RateLimitHit {
        scope: "email".into(),
        key: user_uuid.into(),
        max: s.emails_per_window,
        window_ms: s.email_window_ms,
    })?;
    Ok(d.allowed)
}

#[derive(Deserialize)]
struct SignupRequest {
    name: String,
    email: String,
    password: String,
}

/// Creates an account and sends a verification email. An already registered email gets exactly
/// the answer a new one gets, and no second account.
#[plugin_fn]
pub fn signup(input: Vec<u8>) -> FnResult<Vec<u8>> {
    guarded(&input, |req: SignupRequest| {
        check_name(&req.name)?;
        check_email(&req.email)?;
        check_password(&req.password)?;
        let s = settings()?;
        let now = time::now()?;
        let hash = crypto::hash_password(&HashPassword { password: req.password })?.hash;
        let create =
            CreateUser { name: req.name.trim().into(), email: req.email.clone(), password_hash: hash, role: None };
        match host::db_create_user(&create) {
            Ok(user) => {
                emit("signup", Some(&user.uuid), json!({}));
                send_verification(s, &user, now)?;
            }
            Err(e) if e.code == codes::USER_EXISTS && e.message.contains("name") => {
                return Err(error("NAME_TAKEN", "this name is taken; choose another"));
            }
            Err(e) if e.code == codes::USER_EXISTS => {}
            Err(e) => return Err(e),
        }
        Ok(json!({ "status": "verification_sent" }))
    })
}

#[derive(Deserialize)]
struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Serialize)]
struct LoginResponse {
    session_token: String,
    session_expires_at: i64,
    access_token: String,
    access_expires_at: i64,
    refresh_token: String,
    user: Profile,
}

/// Logs in. Unknown email, wrong password, disabled account and throttled account all get one
/// generic error, after the same password-hashing work.
#[plugin_fn]
pub fn login(input: Vec<u8>) -> FnResult<Vec<u8>> {
    guarded(&input, |req: LoginRequest| {
        if req.password.chars().count() > MAX_PASSWORD_CHARS {
            return Err(invalid(format!("password must be at most {MAX_PASSWORD_CHARS} characters")));
        }
        let s = settings()?;
        let key = email_key(&req.email);
        let throttle =
            RateLimitKey { scope: "login-failures".into(), key: key.clone(), window_ms: s.failure_window_ms };
        let addr_throttle = context::client_addr()?.map(|addr| RateLimitKey {
            scope: "login-failures-addr".into(),
            key: addr,
            window_ms: s.failure_window_ms,
        });
        let addr_locked = match &addr_throttle {
            Some(k) => ratelimit::peek(k)?.count >= u64::from(s.max_login_failures_per_addr),
            None => false,
        };
        let locked = addr_locked || ratelimit::peek(&throttle)?.count >= u64::from(s.max_login_failures);
        let user = match check_email(&req.email) {
            Ok(()) => match host::db_get_user_by_email(&ByEmail { email: req.email.clone() }) {
                Ok(user) => Some(user),
                Err(e) if e.code == codes::NOT_FOUND => None,
                Err(e) => return Err(e),
            },
            Err(_) => None,
        };
        let check = crypto::verify_password(&VerifyPassword {
            password: req.password.clone(),
            hash: user.as_ref().map(|u| u.password_hash.clone()),
        })?;
        let user = match user {
            Some(user) if check.valid && !locked && !user.disabled => user,
            other => {
                let uuid = other.as_ref().map(|u| u.uuid.as_str());
                if let Some(k) = &addr_throttle {
                    ratelimit::hit(&RateLimitHit {
                        scope: k.scope.clone(),
                        key: k.key.clone(),
                        max: s.max_login_failures_per_addr,
                        window_ms: s.failure_window_ms,
                    })?;
                }
                if !locked {
                    let d = ratelimit::hit(&RateLimitHit {
                        scope: throttle.scope.clone(),
                        key: key.clone(),
                        max: s.max_login_failures,
                        window_ms: s.failure_window_ms,
                    })?;
                    if d.count >= s.max_login_failures {
                        emit("login.locked", uuid, json!({}));
                    }
                }
                emit("login.failed", uuid, json!({ "locked": locked }));
                return Err(unauthenticated(GENERIC_LOGIN_ERROR));
            }
        };
        ratelimit::reset(&throttle)?;
        if check.needs_rehash {
            let fresh = crypto::hash_password(&HashPassword { password: req.password })?.hash;
            host::db_replace_user_password_hash(&ReplacePasswordHash {
                uuid: user.uuid.clone(),
                expected: user.password_hash.clone(),
                password_hash: fresh,
            })?;
        }
        let issued = issue_session(s, &user.uuid)?;
        emit("login.ok", Some(&user.uuid), json!({}));
        Ok(LoginResponse {
            session_token: issued.session_token,
            session_expires_at: issued.session_expires_at,
            access_token: issued.access_token,
            access_expires_at: issued.access_expires_at,
            refresh_token: issued.refresh_token,
            user: user.into(),
        })
    })
}

struct Issued {
    session_token: String,
    session_expires_at: i64,
    access_token: String,
    access_expires_at: i64,
    refresh_token: String,
}

/// A new session with its refresh family (named after the session) and an access token.
fn issue_session(s: &Settings, user_uuid: &str) -> Result<Issued> {
    let now = time::now()?;
    let (session_token, session_id) = new_token()?;
    let expires_at = now + s.session_idle_ms.min(s.session_absolute_ms);
    host::db_create_session(&CreateSession { id: session_id.clone(), user_uuid: user_uuid.into(), expires_at })?;
    let (refresh_token, refresh_hash) = new_token()?;
    host::db_create_refresh_token(&CreateRefreshToken {
        token_hash: refresh_hash,
        family_id: session_id.clone(),
        user_uuid: user_uuid.into(),
        session_id: Some(session_id.clone()),
        expires_at: now + s.refresh_ttl_ms,
    })?;
    let access = access_token(s, user_uuid, &session_id)?;
    Ok(Issued {
        session_token,
        session_expires_at: expires_at,
        access_token: access.token,
        access_expires_at: access.exp,
        refresh_token,
    })
}

fn access_token(s: &Settings, user_uuid: &str, session_id: &str) -> Result<SignedToken> {
    token::sign(&SignToken {
        claims: json!({ "sub": user_uuid, "sid": session_id, "typ": "access" }),
        ttl_secs: s.access_ttl_secs,
    })
}

/// Checks a session token; on success slides the idle expiry (never past the absolute cap).
fn live_session(s: &Settings, raw: &str) -> Result<Session> {
    let id = presented_token(raw)?;
    let session = match host::db_get_session(&ById { id: id.clone() }) {
        Ok(session) => session,
        Err(e) if e.code == codes::NOT_FOUND => return Err(unauthenticated("invalid or expired session")),
        Err(e) => return Err(e),
    };
    let now = time::now()?;
    let cap = session.created_at + s.session_absolute_ms;
    if now >= session.expires_at || now >= cap {
        host::db_delete_session(&ById { id })?;
        return Err(unauthenticated("invalid or expired session"));
    }
    let expires_at = (now + s.session_idle_ms).min(cap);
    // Writing on every request would make each authenticated request a database commit; the
    // slide is written once it moves the expiry by a tenth of the idle window (at most a
    // minute). Between writes the session expires earlier than a slide on every request would
    // make it, never later, and its "last seen" is as old as the last write.
    let step = (s.session_idle_ms / 10).min(SLIDE_STEP_MS);
    if expires_at - session.expires_at < step {
        return Ok(session);
    }
    host::db_touch_session(&TouchSession { id: session.id.clone(), expires_at })?;
    Ok(Session { last_seen_at: now, expires_at, ..session })
}

/// The most a session's sliding expiry may lag behind its last use before it is written, in ms.
const SLIDE_STEP_MS: i64 = 60_000;

#[derive(Deserialize)]
struct SessionRequest {
    session_token: String,
}

/// The short id a session is shown and ended by: the first 16 hex digits of its token's hash.
fn short_id(session_id: &str) -> String {
    session_id.chars().take(16).collect()
}

/// The account behind a live session or access token; a disabled or deleted account is signed
/// out like an expired session.
fn signed_in_account(user_uuid: &str, refusal: &str) -> Result<Profile> {
    match host::db_get_user_by_uuid(&ByUuid { uuid: user_uuid.into() }) {
        Ok(user) if !user.disabled => Ok(user.into()),
        Ok(_) => Err(unauthenticated(refusal)),
        Err(e) if e.code == codes::NOT_FOUND => Err(unauthenticated(refusal)),
        Err(e) => Err(e),
    }
}

/// Checks a session token and extends its idle expiry; answers the signed-in account and the
/// session's short id.
#[plugin_fn]
pub fn verify_session(input: Vec<u8>) -> FnResult<Vec<u8>> {
    guarded(&input, |req: SessionRequest| {
        let session = live_session(settings()?, &req.session_token)?;
        let user = signed_in_account(&session.user_uuid, "invalid or expired session")?;
        Ok(json!({
            "user_uuid": session.user_uuid,
            "expires_at": session.expires_at,
            "session": short_id(&session.id),
            "user": user,
        }))
    })
}

/// Ends one session and revokes its refresh tokens.
#[plugin_fn]
pub fn logout(input: Vec<u8>) -> FnResult<Vec<u8>> {
    guarded(&input, |req: SessionRequest| {
        let id = presented_token(&req.session_token)?;
        host::db_revoke_refresh_family(&ByFamily { family_id: id.clone() })?;
        let deleted = host::db_delete_session(&ById { id })?.deleted;
        Ok(json!({ "logged_out": deleted }))
    })
}

/// Ends every session of the session's user and revokes all their refresh tokens.
#[plugin_fn]
pub fn logout_all(input: Vec<u8>) -> FnResult<Vec<u8>> {
    guarded(&input, |req: SessionRequest| {
        let session = live_session(settings()?, &req.session_token)?;
        let by_user = ByUserUuid { user_uuid: session.user_uuid.clone() };
        host::db_revoke_user_refresh_tokens(&by_user)?;
        let count = host::db_delete_user_sessions(&by_user)?.count;
        emit("logout.all", Some(&session.user_uuid), json!({ "sessions": count }));
        Ok(json!({ "sessions_ended": count }))
    })
}

#[derive(Deserialize)]
struct EmailRequest {
    email: String,
}

/// Sends a new verification email; answers the same for unknown and verified addresses.
#[plugin_fn]
pub fn request_email_verification(input: Vec<u8>) -> FnResult<Vec<u8>> {
    guarded(&input, |req: EmailRequest| {
        check_email(&req.email)?;
        let s = settings()?;
        match host::db_get_user_by_email(&ByEmail { email: req.email }) {
            Ok(user) if !user.email_verified => send_verification(s, &user, time::now()?)?,
            Ok(_) => {}
            Err(e) if e.code == codes::NOT_FOUND => {}
            Err(e) => return Err(e),
        }
        Ok(json!({ "status": "verification_sent" }))
    })
}

/// Consumes a one-time token (atomically, so only one caller can) and returns its user; the token
/// must still name the email address the account has.
fn redeem(raw: &str, consume: fn(&ByTokenHash) -> Result<OneTimeToken>) -> Result<User> {
    let token_hash = presented_token(raw)?;
    let token = match consume(&ByTokenHash { token_hash }) {
        Ok(token) => token,
        Err(e) if e.code == codes::NOT_FOUND => return Err(unauthenticated("invalid or expired token")),
        Err(e) => return Err(e),
    };
    let user = host::db_get_user_by_uuid(&ByUuid { uuid: token.user_uuid })?;
    if !user.email.eq_ignore_ascii_case(&token.email) {
        return Err(unauthenticated("invalid or expired token"));
    }
    Ok(user)
}

#[derive(Deserialize)]
struct TokenRequest {
    token: String,
}

/// Redeems a verification token (once); it must still match the account's email.
#[plugin_fn]
pub fn verify_email(input: Vec<u8>) -> FnResult<Vec<u8>> {
    guarded(&input, |req: TokenRequest| {
        let user = redeem(&req.token, host::db_consume_email_verification_token)?;
        host::db_update_user_email_verified(&UpdateEmailVerified { uuid: user.uuid.clone(), verified: true })?;
        emit("email.verified", Some(&user.uuid), json!({}));
        Ok(json!({ "verified": true }))
    })
}

/// Sends a password-reset link (valid one hour at most); answers the same for unknown addresses.
/// A new request invalidates earlier reset links.
#[plugin_fn]
pub fn request_password_reset(input: Vec<u8>) -> FnResult<Vec<u8>> {
    guarded(&input, |req: EmailRequest| {
        check_email(&req.email)?;
        let s = settings()?;
        // Counted for known and unknown addresses alike: it limits reset mails per address and
        // makes both paths do the same first write.
        let per_address = ratelimit::hit(&RateLimitHit {
            scope: "reset-address".into(),
            key: email_key(&req.email),
            max: s.emails_per_window,
            window_ms: s.email_window_ms,
        })?;
        let email = req.email;
        let user = match host::db_get_user_by_email(&ByEmail { email: email.clone() }) {
            Ok(user) => Some(user),
            Err(e) if e.code == codes::NOT_FOUND => None,
            Err(e) => return Err(e),
        };
        if let Some(user) = user.filter(|u| !u.disabled && per_address.allowed) {
            if mail_budget(s, &user.uuid)? {
                let (raw, hash) = new_token()?;
                host::db_replace_password_reset_token(&CreateOneTimeToken {
                    token_hash: hash,
                    user_uuid: user.uuid.clone(),
                    email: user.email.clone(),
                    expires_at: time::now()? + s.reset_ttl_ms,
                })?;
                email::send(&SendEmail {
                    to: user.email.clone(),
                    subject: "Reset your password".into(),
                    text: format!(
                        "Hello {},\n\nset a new password by opening this link:\n{}/reset-password?token={raw}\n\nThe link expires in {} minutes. If you did not ask for it, ignore this email.\n",
                        user.name,
                        s.base_url,
                        s.reset_ttl_ms / 60_000
                    ),
                })?;
                emit("password_reset.requested", Some(&user.uuid), json!({}));
            }
        } else {
            // An unknown (or disabled, or throttled) address does work of the same kind and size
            // as a known one, so the answer's timing does not tell them apart: a token is drawn
            // and hashed, the per-recipient mail budget is counted, and the request is audited
            // (a reset asked for an unknown address is itself worth recording).
            let (_, hash) = new_token()?;
            mail_budget(s, &format!("address:{}", email_key(&email)))?;
            // The same write transaction a known address runs; with no such user the insert is
            // refused by the foreign key and rolled back, which is the expected outcome here.
            let _ = host::db_replace_password_reset_token(&CreateOneTimeToken {
                token_hash: hash,
                user_uuid: String::new(),
                email: email.clone(),
                expires_at: time::now()? + s.reset_ttl_ms,
            });
            emit("password_reset.requested", None, json!({ "known": false }));
        }
        Ok(json!({ "status": "reset_sent" }))
    })
}

#[derive(Deserialize)]
struct ResetRequest {
    token: String,
    password: String,
}

/// Sets a new password with a reset token (once), then ends every session and refresh token.
#[plugin_fn]
pub fn reset_password(input: Vec<u8>) -> FnResult<Vec<u8>> {
    guarded(&input, |req: ResetRequest| {
        check_password(&req.password)?;
        let user = redeem(&req.token, host::db_consume_password_reset_token)?;
        let new_hash = crypto::hash_password(&HashPassword { password: req.password })?.hash;
        end_everything(&user.uuid, &new_hash)?;
        let s = settings()?;
        ratelimit::reset(&RateLimitKey {
            scope: "login-failures".into(),
            key: email_key(&user.email),
            window_ms: s.failure_window_ms,
        })?;
        emit("password_reset.completed", Some(&user.uuid), json!({}));
        Ok(json!({ "reset": true }))
    })
}

/// Stores a new hash and revokes every session, refresh token and reset token of the user.
fn end_everything(user_uuid: &str, new_hash: &str) -> Result<()> {
    host::db_update_user_password(&UpdatePassword { uuid: user_uuid.into(), password_hash: new_hash.into() })?;
    let by_user = ByUserUuid { user_uuid: user_uuid.into() };
    host::db_delete_user_sessions(&by_user)?;
    host::db_revoke_user_refresh_tokens(&by_user)?;
    host::db_delete_user_password_reset_tokens(&by_user)?;
    Ok(())
}

#[derive(Deserialize)]
struct ChangePasswordRequest {
    session_token: String,
    current_password: String,
    new_password: String,
}

/// Changes the password given the current one; every session ends, and the caller logs in again.
#[plugin_fn]
pub fn change_password(input: Vec<u8>) -> FnResult<Vec<u8>> {
    guarded(&input, |req: ChangePasswordRequest| {
        check_password(&req.new_password)?;
        if req.current_password.chars().count() > MAX_PASSWORD_CHARS {
            return Err(unauthenticated(GENERIC_LOGIN_ERROR));
        }
        let session = live_session(settings()?, &req.session_token)?;
        let user = host::db_get_user_by_uuid(&ByUuid { uuid: session.user_uuid })?;
        let check = crypto::verify_password(&VerifyPassword {
            password: req.current_password,
            hash: Some(user.password_hash.clone()),
        })?;
        if !check.valid {
            emit("password_change.failed", Some(&user.uuid), json!({}));
            return Err(unauthenticated("the current password is wrong"));
        }
        let new_hash = crypto::hash_password(&HashPassword { password: req.new_password })?.hash;
        end_everything(&user.uuid, &new_hash)?;
        emit("password.changed", Some(&user.uuid), json!({}));
        Ok(json!({ "changed": true }))
    })
}

/// The session user's profile.
#[plugin_fn]
pub fn get_profile(input: Vec<u8>) -> FnResult<Vec<u8>> {
    guarded(&input, |req: SessionRequest| {
        let session = live_session(settings()?, &req.session_token)?;
        Ok(Profile::from(host::db_get_user_by_uuid(&ByUuid { uuid: session.user_uuid })?))
    })
}

#[derive(Deserialize)]
struct ProfileRequest {
    session_token: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    avatar: Option<String>,
    #[serde(default)]
    bio: Option<String>,
}

/// Updates the session user's name, avatar or bio.
#[plugin_fn]
pub fn update_profile(input: Vec<u8>) -> FnResult<Vec<u8>> {
    guarded(&input, |req: ProfileRequest| {
        if let Some(name) = &req.name {
            check_name(name)?;
        }
        if req.avatar.as_ref().is_some_and(|a| a.chars().count() > 2048)
            || req.bio.as_ref().is_some_and(|b| b.chars().count() > 1000)
        {
            return Err(invalid("avatar must be at most 2048 characters and bio at most 1000 characters"));
        }
        let session = live_session(settings()?, &req.session_token)?;
        let update = UpdateProfile {
            uuid: session.user_uuid,
            name: req.name.map(|n| n.trim().to_owned()),
            avatar: req.avatar,
            bio: req.bio,
        };
        match host::db_update_user_profile(&update) {
            Ok(user) => Ok(Profile::from(user)),
            Err(e) if e.code == codes::USER_EXISTS => Err(error("NAME_TAKEN", "this name is taken; choose another")),
            Err(e) => Err(e),
        }
    })
}

#[derive(Deserialize)]
struct RefreshRequest {
    refresh_token: String,
}

/// Exchanges a refresh token for a new access token and a new refresh token. Presenting a used
/// token revokes its whole family.
#[plugin_fn]
pub fn refresh(input: Vec<u8>) -> FnResult<Vec<u8>> {
    guarded(&input, |req: RefreshRequest| {
        let s = settings()?;
        let old_hash = presented_token(&req.refresh_token)?;
        let (raw, new_hash) = new_token()?;
        let now = time::now()?;
        let rotation = host::db_rotate_refresh_token(&RotateRefreshToken {
            old_hash,
            new_hash,
            expires_at: now + s.refresh_ttl_ms,
        })?;
        match rotation {
            Rotation::Rotated { token } => {
                let session_id = token.session_id.clone().unwrap_or_default();
                if host::db_get_session(&ById { id: session_id.clone() }).is_err() {
                    host::db_revoke_refresh_family(&ByFamily { family_id: token.family_id })?;
                    return Err(unauthenticated("invalid or expired refresh token"));
                }
                let access = access_token(s, &token.user_uuid, &session_id)?;
                Ok(json!({ "access_token": access.token, "access_expires_at": access.exp, "refresh_token": raw }))
            }
            Rotation::Reused { family_id, user_uuid } => {
                host::db_delete_session(&ById { id: family_id.clone() })?;
                emit("refresh.reuse_detected", Some(&user_uuid), json!({}));
                Err(unauthenticated("invalid or expired refresh token"))
            }
            Rotation::Expired | Rotation::NotFound => Err(unauthenticated("invalid or expired refresh token")),
        }
    })
}

/// Verifies an access token: signature, expiry, audience, `typ = access`, and a live session.
#[plugin_fn]
pub fn verify_access_token(input: Vec<u8>) -> FnResult<Vec<u8>> {
    guarded(&input, |req: TokenRequest| {
        if req.token.len() > 4096 {
            return Err(unauthenticated("invalid access token"));
        }
        let claims = match token::verify(&VerifyToken { token: req.token }) {
            Ok(v) => v.claims,
            Err(e) if e.code == codes::UNAUTHENTICATED => return Err(unauthenticated("invalid access token")),
            Err(e) => return Err(e),
        };
        if claims["typ"] != "access" {
            return Err(unauthenticated("invalid access token"));
        }
        let session_id = claims["sid"].as_str().unwrap_or_default().to_owned();
        let Ok(session) = host::db_get_session(&ById { id: session_id }) else {
            return Err(unauthenticated("invalid access token"));
        };
        let user = signed_in_account(&session.user_uuid, "invalid access token")?;
        Ok(json!({
            "user_uuid": claims["sub"],
            "exp": claims["exp"],
            "session": short_id(&session.id),
            "user": user,
        }))
    })
}

/// The signed-in user the host says the call is made for.
fn calling_user() -> Result<CallUser> {
    context::user()?.ok_or_else(|| unauthenticated("sign in first"))
}

#[derive(Deserialize)]
struct SessionsRequest {
    /// The short id of the session the request came with, to mark it.
    #[serde(default)]
    current: Option<String>,
}

#[derive(Serialize)]
struct SessionItem {
    id: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    current: bool,
}

/// The live sessions of the signed-in user, newest first.
fn live_sessions_of(s: &Settings, user_uuid: &str) -> Result<Vec<Session>> {
    let now = time::now()?;
    let sessions = host::db_list_user_sessions(&ByUserUuid { user_uuid: user_uuid.into() })?;
    Ok(sessions.into_iter().filter(|x| x.expires_at > now && now < x.created_at + s.session_absolute_ms).collect())
}

/// Lists the calling user's live sessions (the user comes from the call context, set by the
/// host for a signed-in request).
#[plugin_fn]
pub fn list_sessions(input: Vec<u8>) -> FnResult<Vec<u8>> {
    guarded(&input, |req: SessionsRequest| {
        let user = calling_user()?;
        let items: Vec<SessionItem> = live_sessions_of(settings()?, &user.uuid)?
            .into_iter()
            .map(|x| {
                let id = short_id(&x.id);
                SessionItem {
                    current: req.current.as_deref() == Some(id.as_str()),
                    id,
                    created_at: x.created_at,
                    last_seen_at: x.last_seen_at,
                    expires_at: x.expires_at,
                }
            })
            .collect();
        Ok(items)
    })
}

#[derive(Deserialize)]
struct EndSessionRequest {
    /// Short id from `list_sessions`.
    id: String,
    #[serde(default)]
    current: Option<String>,
}

/// Ends one of the calling user's sessions by its short id, with its refresh tokens.
#[plugin_fn]
pub fn end_session(input: Vec<u8>) -> FnResult<Vec<u8>> {
    guarded(&input, |req: EndSessionRequest| {
        let user = calling_user()?;
        let not_found = || error(codes::NOT_FOUND, "no such session");
        if req.id.len() != 16 || !req.id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        let session = live_sessions_of(settings()?, &user.uuid)?
            .into_iter()
            .find(|x| x.id.starts_with(&req.id))
            .ok_or_else(not_found)?;
        host::db_revoke_refresh_family(&ByFamily { family_id: session.id.clone() })?;
        host::db_delete_session(&ById { id: session.id })?;
        emit("session.ended", Some(&user.uuid), json!({ "session": req.id }));
        Ok(json!({ "ended": true, "current": req.current.as_deref() == Some(req.id.as_str()) }))
    })
}

#[derive(Deserialize)]
struct CreateAccountRequest {
    name: String,
    email: String,
    password: String,
    /// "user" (default) or "admin".
    #[serde(default)]
    role: Option<String>,
    /// Whether the address counts as confirmed (no verification email is sent either way).
    #[serde(default)]
    email_verified: bool,
}

/// Creates an account with a role, for an administrator or the host itself (the setup screen,
/// `a2e user create`). Refused for a signed-in caller who is not an administrator; not public, so
/// only administrators reach it through the HTTP API.
#[plugin_fn]
pub fn create_user(input: Vec<u8>) -> FnResult<Vec<u8>> {
    guarded(&input, |req: CreateAccountRequest| {
        if let Some(plugin) = context::caller()? {
            return Err(error(
                codes::PERMISSION_DENIED,
                format!(
                    "accounts are created by the host or an administrator, not at the request of plugin `{plugin}`"
                ),
            ));
        }
        let caller = context::user()?;
        if caller.as_ref().is_some_and(|c| c.role != "admin") {
            return Err(error(codes::PERMISSION_DENIED, "only an administrator can create accounts"));
        }
        let role = req.role.as_deref().unwrap_or("user");
        if role != "user" && role != "admin" {
            return Err(invalid(format!("role must be \"user\" or \"admin\", not {role:?}")));
        }
        check_name(&req.name)?;
        check_email(&req.email)?;
        check_password(&req.password)?;
        let hash = crypto::hash_password(&HashPassword { password: req.password })?.hash;
        let create = CreateUser {
            name: req.name.trim().into(),
            email: req.email.clone(),
            password_hash: hash,
            role: Some(role.into()),
        };
        let mut user = match host::db_create_user(&create) {
            Ok(user) => user,
            Err(e) if e.code == codes::USER_EXISTS && e.message.contains("name") => {
                return Err(error(codes::USER_EXISTS, "this name is taken; choose another"));
            }
            Err(e) if e.code == codes::USER_EXISTS => {
                return Err(error(codes::USER_EXISTS, "an account with this email exists already"));
            }
            Err(e) => return Err(e),
        };
        if req.email_verified {
            host::db_update_user_email_verified(&UpdateEmailVerified { uuid: user.uuid.clone(), verified: true })?;
            user.email_verified = true;
        }
        let kind = if role == "admin" { "admin.created" } else { "user.created" };
        emit(kind, Some(&user.uuid), json!({ "by": caller.map(|c| c.uuid) }));
        Ok(Profile::from(user))
    })
}
