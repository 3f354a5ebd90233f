//! The answers every route can give besides its own, added to the OpenAPI document in one place
//! because they come from the layers around the handlers, not from the handlers: the guard
//! (tokens in URLs, CSRF, per-address rate limits, the request timeout), the JSON and body-size
//! extractors, the sign-in extractors, and storage or plugin failures.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, OpenApi, Ref, ResponseBuilder};

/// Operations anyone may call without signing in. Every other `/api` operation needs a session
/// cookie or a bearer token (a test checks both ways against the running app).
pub(crate) const PUBLIC: &[(&str, &str)] = &[
    ("get", "/api/setup"),
    ("post", "/api/setup"),
    ("post", "/api/auth/signup"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/refresh"),
    ("post", "/api/auth/verify-email"),
    ("post", "/api/auth/resend-verification"),
    ("post", "/api/auth/password-reset/request"),
    ("post", "/api/auth/password-reset/confirm"),
    // Anonymous clients may join the rooms of plugins that allow them.
    ("get", "/api/rt"),
];

/// WebSocket handshakes: answered 101 or an error, without the request timeout.
const UPGRADES: &[&str] = &["/api/rt", "/api/events"];

fn error(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", Content::new(Some(Ref::from_schema_name("ErrorBody"))))
        .build()
        .into()
}

fn add(operation: &mut Operation, status: u16, description: &str) {
    operation.responses.responses.entry(status.to_string()).or_insert_with(|| error(description));
}

/// Adds the shared answers and the sign-in requirement to every `/api` operation of `doc`.
pub(crate) fn complete(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .security_schemes
        .insert("bearer".into(), SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    components
        .security_schemes
        .insert("cookie".into(), SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::auth::SESSION_COOKIE))));
    for (path, item) in doc.paths.paths.iter_mut() {
        if !path.starts_with("/api/") {
            continue;
        }
        let methods = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("patch", &mut item.patch),
        ];
        for (method, operation) in methods {
            let Some(operation) = operation.as_mut() else { continue };
            let changes_state = method != "get";
            let has_body = operation.request_body.is_some();
            let json_body = operation
                .request_body
                .as_ref()
                .is_some_and(|body| body.content.keys().any(|media| media == "application/json"));
            add(operation, 400, "The request is malformed: bad JSON, parameters or fields, or a token in the URL");
            if !PUBLIC.contains(&(method, path.as_str())) {
                operation.security = Some(vec![
                    SecurityRequirement::new("bearer", Vec::<String>::new()),
                    SecurityRequirement::new("cookie", Vec::<String>::new()),
                ]);
                add(operation, 401, "Not signed in, or the session or token is invalid or expired");
            }
            if changes_state || UPGRADES.contains(&path.as_str()) {
                add(operation, 403, "The request's Origin is not this server's (CSRF defence)");
            }
            if has_body {
                add(operation, 413, "The body is over the size limit");
            }
            if json_body {
                add(operation, 415, "The body is not sent as `Content-Type: application/json`");
            }
            let auth_route = path.starts_with("/api/auth/") || path == "/api/setup";
            if changes_state && auth_route {
                add(operation, 429, "Too many requests from this address or for this account; try again later");
            }
            add(operation, 500, "An internal error; the server log has the cause");
            add(operation, 503, "A dependency is unavailable (the auth plugin, or the database is busy)");
            if !UPGRADES.contains(&path.as_str()) {
                add(operation, 504, "The request ran past the server's time limit");
            }
        }
    }
}
