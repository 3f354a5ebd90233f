//! The auth API over the auth plugin, the first-run setup, and the extractors that say who is
//! calling: [`Authed`] (any signed-in user) and [`Admin`].
//!
//! Browsers hold the session token in an HttpOnly, SameSite=Lax cookie; API clients send
//! `Authorization: Bearer` with the session token or an access token. Tokens in URLs are refused
//! before any handler runs.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use a2e_abi::codes;

use crate::call;
use crate::error::{ApiError, ApiJson, ApiResult, ErrorBody};
use crate::http::client_addr;
use crate::AppState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "a2e_session";

/// A signed-in caller.
#[derive(Clone, Debug)]
pub struct Authed {
    /// The user, as the auth plugin answered when it checked the token.
    pub user: UserView,
    /// The session token, when the caller presented one (not an access token).
    pub session_token: Option<String>,
    /// The short id of the caller's session (opaque to the server; the auth plugin's).
    pub session: Option<String>,
    /// The client address.
    pub client: Option<String>,
}

impl Authed {
    /// Options for a plugin call made for this caller: plugins read who with `context_get`.
    pub fn call_options(&self) -> a2e_host::CallOptions {
        let user = a2e_abi::CallUser {
            uuid: self.user.uuid.clone(),
            name: self.user.name.clone(),
            role: self.user.role.clone(),
        };
        a2e_host::CallOptions { client_addr: self.client.clone(), user: Some(user) }
    }
}

/// A signed-in administrator.
#[derive(Clone, Debug)]
pub struct Admin(pub Authed);

/// The session cookie's value, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (name, value) = c.trim().split_once('=')?;
        (name == SESSION_COOKIE && !value.is_empty()).then(|| value.to_owned())
    })
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Authed, ApiError> {
        if let Some(authed) = parts.extensions.get::<Authed>() {
            return Ok(authed.clone());
        }
        let client = client_addr(&parts.extensions).map(|a| a.ip().to_string());
        let token = bearer(&parts.headers)
            .or_else(|| session_cookie(&parts.headers))
            .ok_or_else(|| ApiError::unauthenticated("sign in first"))?;
        let is_access_token = token.split('.').count() == 3;
        let answer = if is_access_token {
            call::auth(state, "verify_access_token", json!({ "token": token }), client.clone()).await?
        } else {
            call::auth(state, "verify_session", json!({ "session_token": token }), client.clone()).await?
        };
        let user: UserView = decode(answer["user"].clone(), "answer about the signed-in user")?;
        let session = answer["session"].as_str().map(str::to_owned);
        let authed = Authed { user, session_token: (!is_access_token).then_some(token), session, client };
        parts.extensions.insert(authed.clone());
        Ok(authed)
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Admin, ApiError> {
        let authed = Authed::from_request_parts(parts, state).await?;
        if authed.user.role != "admin" {
            return Err(ApiError::forbidden("this needs an administrator"));
        }
        Ok(Admin(authed))
    }
}

/// The caller's client address, for handlers that need no sign-in.
struct Client(Option<String>);

impl FromRequestParts<AppState> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Client, ApiError> {
        Ok(Client(client_addr(&parts.extensions).map(|a| a.ip().to_string())))
    }
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(setup_status, setup))
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(session))
        .routes(routes!(verify_email))
        .routes(routes!(resend_verification))
        .routes(routes!(password_reset_request))
        .routes(routes!(password_reset_confirm))
        .routes(routes!(change_password))
        .routes(routes!(refresh))
        .routes(routes!(profile, update_profile))
        .routes(routes!(sessions))
        .routes(routes!(revoke_session))
}

/// A user as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// Stable id.
    pub uuid: String,
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// Whether the address is confirmed.
    pub email_verified: bool,
    /// Avatar URL.
    pub avatar: Option<String>,
    /// About the user.
    pub bio: Option<String>,
    /// "user" or "admin".
    pub role: String,
    /// Creation time, Unix ms.
    pub created_at: i64,
}

/// Name, email and password of a new account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SignupRequest {
    /// Display name (unique): 1 to 100 characters, not only spaces, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// Email address: name@domain, at most 254 characters, no spaces or control characters.
    #[schema(min_length = 3, max_length = 254, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]+@[^\s@\x00-\x1f\x7f-\x9f]+$")]
    pub email: String,
    /// Password, 8 to 256 characters.
    #[schema(min_length = 8, max_length = 256)]
    pub password: String,
}

/// Email and password.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Email address (any text: an unknown address gets the same answer as a wrong password).
    pub email: String,
    /// Password, at most 256 characters.
    #[schema(max_length = 256)]
    pub password: String,
}

/// A new session. The session token is also set as an HttpOnly cookie.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// The signed-in user.
    pub user: UserView,
    /// Session token for `Authorization: Bearer` (browsers use the cookie instead).
    pub session_token: String,
    /// When the session expires unless used, Unix ms.
    pub session_expires_at: i64,
    /// Short-lived JWT access token.
    pub access_token: String,
    /// Its expiry, Unix seconds.
    pub access_expires_at: i64,
    /// Refresh token (single use; rotated by `/api/auth/refresh`).
    pub refresh_token: String,
}

/// An email address.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EmailRequest {
    /// Email address: name@domain, at most 254 characters, no spaces or control characters.
    #[schema(min_length = 3, max_length = 254, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]+@[^\s@\x00-\x1f\x7f-\x9f]+$")]
    pub email: String,
}

/// A one-time token from an email link.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// The token.
    pub token: String,
}

/// A reset token and the new password.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ResetConfirmRequest {
    /// The token from the reset email.
    pub token: String,
    /// The new password, 8 to 256 characters.
    #[schema(min_length = 8, max_length = 256)]
    pub password: String,
}

/// The current and the new password.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    /// The current password.
    #[schema(max_length = 256)]
    pub current_password: String,
    /// The new password, 8 to 256 characters.
    #[schema(min_length = 8, max_length = 256)]
    pub new_password: String,
}

/// A refresh token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// The refresh token.
    pub refresh_token: String,
}

/// Fields to change; absent ones stay.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProfileUpdate {
    /// Display name: 1 to 100 characters, not only spaces, no control characters.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: Option<String>,
    /// Avatar URL, at most 2048 characters ("" removes it).
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub avatar: Option<String>,
    /// About the user, at most 1000 characters ("" removes it).
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub bio: Option<String>,
}

/// The current session.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    /// The user.
    pub user: UserView,
}

/// One of the user's sessions.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionItem {
    /// Short id (a prefix of the stored hash; not usable as a token).
    pub id: String,
    /// Created, Unix ms.
    pub created_at: i64,
    /// Last used, Unix ms.
    pub last_seen_at: i64,
    /// Expires, Unix ms.
    pub expires_at: i64,
    /// Whether it is the session of this request.
    pub current: bool,
}

/// Whether the first administrator still has to be created.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SetupStatus {
    /// True until an administrator exists.
    pub needs_setup: bool,
}

/// The answer to a request that may send an account email (signup, a new verification link, a
/// password reset): the same whether or not the address has an account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MailStatus {
    /// `verification_sent` (signup, resend verification) or `reset_sent` (password reset).
    pub status: String,
}

/// The answer to a logout.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoggedOut {
    /// Whether a session was found and ended (false when it had ended already).
    pub logged_out: bool,
}

/// The answer to ending every session of the user.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionsEnded {
    /// How many sessions were ended.
    pub sessions_ended: u64,
}

/// The answer to a redeemed email verification token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EmailVerified {
    /// Always true: the address is confirmed.
    pub verified: bool,
}

/// The answer to a password set with a reset token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PasswordReset {
    /// Always true: the new password is set and every session of the account has ended.
    pub reset: bool,
}

/// The answer to a password change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PasswordChanged {
    /// Always true: the new password is set and every session of the user has ended.
    pub changed: bool,
}

/// A new access token and refresh token, in exchange for a refresh token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefreshResponse {
    /// Short-lived JWT access token.
    pub access_token: String,
    /// Its expiry, Unix seconds.
    pub access_expires_at: i64,
    /// The next refresh token (single use; the one presented is spent).
    pub refresh_token: String,
}

/// The answer to ending one of the user's sessions.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionEnded {
    /// Always true: the session and its refresh tokens are gone.
    pub ended: bool,
    /// Whether it was the session of this request (its cookie is then cleared).
    pub current: bool,
}

/// Reads the auth plugin's answer `data` as a `T`; `what` names the answer in the error.
fn decode<T: serde::de::DeserializeOwned>(data: Value, what: &str) -> ApiResult<T> {
    serde_json::from_value(data).map_err(|e| ApiError::internal(&format!("reading the auth plugin's {what}"), e))
}

fn cookie(state: &AppState, token: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if state.config().secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        max_age_secs.max(0)
    ))
    .expect("token characters are cookie-safe")
}

fn with_cookie(mut response: Response, value: HeaderValue) -> Response {
    response.headers_mut().append(header::SET_COOKIE, value);
    response
}

fn login_response(state: &AppState, data: Value) -> ApiResult<Response> {
    let login: LoginResponse = decode(data, "login answer")?;
    let now_ms = state.host().state().clock.now_ms();
    let max_age = (login.session_expires_at - now_ms) / 1000;
    let value = cookie(state, &login.session_token, max_age);
    Ok(with_cookie(ApiJson(login).into_response(), value))
}

fn need_session(authed: &Authed) -> ApiResult<String> {
    authed.session_token.clone().ok_or_else(|| {
        ApiError::invalid(
            "this needs the session token (cookie or `Authorization: Bearer <session token>`), not an access token",
        )
    })
}

/// Whether the first administrator still has to be created.
#[utoipa::path(get, path = "/api/setup", tag = "auth", responses((status = 200, body = SetupStatus)))]
async fn setup_status(State(state): State<AppState>) -> ApiResult<ApiJson<SetupStatus>> {
    Ok(ApiJson(SetupStatus { needs_setup: admin_count(&state).await? == 0 }))
}

/// Creates the first administrator and signs them in; refused once an administrator exists.
#[utoipa::path(post, path = "/api/setup", tag = "auth", request_body = SignupRequest,
    responses((status = 200, body = LoginResponse), (status = 409, body = ErrorBody), (status = 400, body = ErrorBody)))]
async fn setup(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<SignupRequest>,
) -> ApiResult<Response> {
    state.check_account_rate(&req.email)?;
    let _one_at_a_time = state.inner.setup_lock.lock().await;
    if admin_count(&state).await? > 0 {
        return Err(ApiError::new(codes::CONFLICT, "an administrator exists already; sign in instead"));
    }
    let host = state.host().clone();
    let login = call::blocking(move || create_user(&host, &req, true, client)).await?;
    login_response(&state, login)
}

async fn admin_count(state: &AppState) -> ApiResult<i64> {
    let db = state.host().db().clone();
    call::blocking(move || Ok(db.count_users_with_role("admin")?)).await
}

/// Creates an account through the auth plugin's `create_user` (email marked verified), as an
/// administrator or not, then signs it in with the plugin's `login` and returns that answer. Used
/// by the setup screen and by `a2e user create`; the plugin holds every rule (name, email,
/// password, an email that is taken).
pub fn create_user(
    host: &a2e_host::Host,
    req: &SignupRequest,
    admin: bool,
    client: Option<String>,
) -> ApiResult<Value> {
    let options = a2e_host::CallOptions { client_addr: client, ..Default::default() };
    let run = |function: &str, body: Value| -> ApiResult<Value> {
        let out = host.call(call::AUTH_PLUGIN, function, body.to_string().as_bytes(), &options)?;
        match call::read_output(out) {
            call::Output::Ok(data) => Ok(data),
            call::Output::Failed(err) => Err(err),
            call::Output::Raw(_) => Err(ApiError::internal("the auth plugin", "it answered without an envelope")),
        }
    };
    let role = if admin { "admin" } else { "user" };
    run(
        "create_user",
        json!({ "name": req.name, "email": req.email, "password": req.password, "role": role, "email_verified": true }),
    )?;
    run("login", json!({ "email": req.email, "password": req.password }))
}

/// Creates an account and emails a verification link. An email that is taken gets the same answer.
#[utoipa::path(post, path = "/api/auth/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 200, description = "verification sent", body = MailStatus), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn signup(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<SignupRequest>,
) -> ApiResult<ApiJson<MailStatus>> {
    at_least(state.config().min_answer_time, async {
        state.check_account_rate(&req.email)?;
        let body = serde_json::to_value(&req).map_err(|e| ApiError::internal("encoding", e))?;
        let data = call::auth(&state, "signup", body, client).await?;
        Ok(ApiJson(decode(data, "signup answer")?))
    })
    .await
}

/// Runs `work`, then waits until `floor` has passed since it started, whatever the outcome: the
/// answers of routes that must not reveal whether an address has an account all take the same
/// time (unless the work itself takes longer).
async fn at_least<T>(floor: std::time::Duration, work: impl std::future::Future<Output = T>) -> T {
    let deadline = tokio::time::Instant::now() + floor;
    let out = work.await;
    tokio::time::sleep_until(deadline).await;
    out
}

/// Signs in; sets the session cookie and returns the tokens.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    state.check_account_rate(&req.email)?;
    let body = serde_json::to_value(&req).map_err(|e| ApiError::internal("encoding", e))?;
    let data = call::auth(&state, "login", body, client).await?;
    login_response(&state, data)
}

/// Ends this session and its refresh tokens; clears the cookie.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses((status = 200, description = "logged out", body = LoggedOut), (status = 401, body = ErrorBody)))]
async fn logout(State(state): State<AppState>, authed: Authed) -> ApiResult<Response> {
    let token = need_session(&authed)?;
    let data = call::auth(&state, "logout", json!({ "session_token": token }), authed.client).await?;
    let answer: LoggedOut = decode(data, "logout answer")?;
    Ok(with_cookie(ApiJson(answer).into_response(), cookie(&state, "", 0)))
}

/// Ends every session of the user; clears the cookie.
#[utoipa::path(post, path = "/api/auth/logout-all", tag = "auth",
    responses((status = 200, description = "all sessions ended", body = SessionsEnded),
              (status = 401, body = ErrorBody)))]
async fn logout_all(State(state): State<AppState>, authed: Authed) -> ApiResult<Response> {
    let token = need_session(&authed)?;
    let data = call::auth(&state, "logout_all", json!({ "session_token": token }), authed.client).await?;
    let answer: SessionsEnded = decode(data, "answer to ending every session")?;
    Ok(with_cookie(ApiJson(answer).into_response(), cookie(&state, "", 0)))
}

/// The signed-in user (and a slid session expiry).
#[utoipa::path(get, path = "/api/auth/session", tag = "auth",
    responses((status = 200, body = SessionView), (status = 401, body = ErrorBody)))]
async fn session(authed: Authed) -> ApiJson<SessionView> {
    ApiJson(SessionView { user: authed.user.clone() })
}

/// Redeems an email verification token.
#[utoipa::path(post, path = "/api/auth/verify-email", tag = "auth", request_body = TokenRequest,
    responses((status = 200, description = "verified", body = EmailVerified), (status = 401, body = ErrorBody)))]
async fn verify_email(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<TokenRequest>,
) -> ApiResult<ApiJson<EmailVerified>> {
    let data = call::auth(&state, "verify_email", json!({ "token": req.token }), client).await?;
    Ok(ApiJson(decode(data, "email verification answer")?))
}

/// Sends a new verification link (same answer for unknown addresses).
#[utoipa::path(post, path = "/api/auth/resend-verification", tag = "auth", request_body = EmailRequest,
    responses((status = 200, description = "sent if the account exists", body = MailStatus),
              (status = 429, body = ErrorBody)))]
async fn resend_verification(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<EmailRequest>,
) -> ApiResult<ApiJson<MailStatus>> {
    at_least(state.config().min_answer_time, async {
        state.check_account_rate(&req.email)?;
        let data = call::auth(&state, "request_email_verification", json!({ "email": req.email }), client).await?;
        Ok(ApiJson(decode(data, "answer to a verification request")?))
    })
    .await
}

/// Emails a password-reset link (same answer for unknown addresses).
#[utoipa::path(post, path = "/api/auth/password-reset/request", tag = "auth", request_body = EmailRequest,
    responses((status = 200, description = "sent if the account exists", body = MailStatus),
              (status = 429, body = ErrorBody)))]
async fn password_reset_request(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<EmailRequest>,
) -> ApiResult<ApiJson<MailStatus>> {
    at_least(state.config().min_answer_time, async {
        state.check_account_rate(&req.email)?;
        let data = call::auth(&state, "request_password_reset", json!({ "email": req.email }), client).await?;
        Ok(ApiJson(decode(data, "answer to a password reset request")?))
    })
    .await
}

/// Sets a new password with a reset token; ends every session of the account.
#[utoipa::path(post, path = "/api/auth/password-reset/confirm", tag = "auth", request_body = ResetConfirmRequest,
    responses((status = 200, description = "password set", body = PasswordReset), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
async fn password_reset_confirm(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<ResetConfirmRequest>,
) -> ApiResult<ApiJson<PasswordReset>> {
    let body = json!({ "token": req.token, "password": req.password });
    let data = call::auth(&state, "reset_password", body, client).await?;
    Ok(ApiJson(decode(data, "password reset answer")?))
}

/// Changes the password (needs the current one); ends every session.
#[utoipa::path(post, path = "/api/auth/change-password", tag = "auth", request_body = ChangePasswordRequest,
    responses((status = 200, description = "changed", body = PasswordChanged), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
async fn change_password(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> ApiResult<Response> {
    state.check_account_rate(&authed.user.uuid)?;
    let token = need_session(&authed)?;
    let body =
        json!({ "session_token": token, "current_password": req.current_password, "new_password": req.new_password });
    let data = call::auth(&state, "change_password", body, authed.client).await?;
    let answer: PasswordChanged = decode(data, "password change answer")?;
    Ok(with_cookie(ApiJson(answer).into_response(), cookie(&state, "", 0)))
}

/// Exchanges a refresh token for a new access token and refresh token.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, description = "new tokens", body = RefreshResponse), (status = 401, body = ErrorBody)))]
async fn refresh(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<ApiJson<RefreshResponse>> {
    let data = call::auth(&state, "refresh", json!({ "refresh_token": req.refresh_token }), client).await?;
    Ok(ApiJson(decode(data, "refresh answer")?))
}

/// The signed-in user's profile.
#[utoipa::path(get, path = "/api/auth/profile", tag = "auth",
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody)))]
async fn profile(authed: Authed) -> ApiJson<UserView> {
    ApiJson(authed.user.clone())
}

/// Changes name, avatar or bio.
#[utoipa::path(patch, path = "/api/auth/profile", tag = "auth", request_body = ProfileUpdate,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn update_profile(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<ProfileUpdate>,
) -> ApiResult<ApiJson<UserView>> {
    let token = need_session(&authed)?;
    let body = json!({ "session_token": token, "name": req.name, "avatar": req.avatar, "bio": req.bio });
    let data = call::auth(&state, "update_profile", body, authed.client).await?;
    Ok(ApiJson(decode(data, "updated profile")?))
}

/// The signed-in user's sessions, as the auth plugin lists them.
#[utoipa::path(get, path = "/api/auth/sessions", tag = "auth",
    responses((status = 200, body = Vec<SessionItem>), (status = 401, body = ErrorBody)))]
async fn sessions(State(state): State<AppState>, authed: Authed) -> ApiResult<ApiJson<Vec<SessionItem>>> {
    let data = call::auth_for(&state, "list_sessions", json!({ "current": authed.session }), &authed).await?;
    Ok(ApiJson(decode(data, "list of sessions")?))
}

/// Ends one of the signed-in user's sessions (and its refresh tokens); the auth plugin finds it
/// among the caller's own.
#[utoipa::path(delete, path = "/api/auth/sessions/{id}", tag = "auth",
    params(("id" = String, Path, description = "Short session id from the list")),
    responses((status = 200, description = "ended", body = SessionEnded), (status = 404, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
async fn revoke_session(State(state): State<AppState>, authed: Authed, Path(id): Path<String>) -> ApiResult<Response> {
    let body = json!({ "id": id, "current": authed.session });
    let data = call::auth_for(&state, "end_session", body, &authed).await?;
    let answer: SessionEnded = decode(data, "answer to ending a session")?;
    let current = answer.current;
    let response = ApiJson(answer).into_response();
    Ok(if current { with_cookie(response, cookie(&state, "", 0)) } else { response })
}
