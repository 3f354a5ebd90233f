//! Token signing: HS256 JWTs with a host-held key of 32 random bytes that never enters plugin
//! memory. Verification is strict: only HS256, a valid signature (constant-time), integer `exp`
//! required and `nbf`/`iat` integers when present, `iss` and `aud` required and matching.
//! The audience is the calling plugin's name, so one plugin cannot accept another's tokens.

use a2e_abi::{self as abi, codes};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;

use super::CallCtx;
use crate::error::FnError;

/// Issuer of every token.
pub const ISSUER: &str = "a2e";
/// Clock tolerance for `exp` and `nbf`, in seconds. The host both signs and verifies with one
/// clock, so none is needed.
pub const JWT_LEEWAY_SECS: i64 = 0;
/// Longest lifetime a plugin may ask for, in seconds.
pub const MAX_TTL_SECS: u32 = 86_400;
/// Tokens longer than this are refused unparsed.
pub const MAX_TOKEN_BYTES: usize = 8192;

const RESERVED: [&str; 4] = ["iat", "exp", "iss", "aud"];

/// Signs `claims` for `audience`, valid from `now_secs` for `ttl_secs`.
pub fn sign_jwt(
    key: &[u8],
    audience: &str,
    claims: &Map<String, Value>,
    now_secs: i64,
    ttl_secs: u32,
) -> (String, i64) {
    let exp = now_secs + i64::from(ttl_secs);
    let mut body = claims.clone();
    body.insert("iat".into(), json!(now_secs));
    body.insert("exp".into(), json!(exp));
    body.insert("iss".into(), json!(ISSUER));
    body.insert("aud".into(), json!(audience));
    let header = B64URL.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = B64URL.encode(serde_json::to_vec(&body).expect("claims encode"));
    let signing_input = format!("{header}.{payload}");
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac accepts any key length");
    mac.update(signing_input.as_bytes());
    let signature = B64URL.encode(mac.finalize().into_bytes());
    (format!("{signing_input}.{signature}"), exp)
}

/// Verifies a token; returns its claims or why it was refused.
pub fn verify_jwt(key: &[u8], audience: &str, token: &str, now_secs: i64) -> Result<Map<String, Value>, &'static str> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err("token too long");
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a compact JWS");
    };
    let header: Value = B64URL.decode(header).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or("bad header")?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err("algorithm not allowed");
    }
    if header.get("crit").is_some() {
        return Err("critical header extensions are not supported");
    }
    let signature = B64URL.decode(signature).map_err(|_| "bad signature encoding")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac accepts any key length");
    let (signing_input, _) = token.rsplit_once('.').ok_or("not a compact JWS")?;
    mac.update(signing_input.as_bytes());
    mac.verify_slice(&signature).map_err(|_| "bad signature")?;
    let claims: Map<String, Value> =
        B64URL.decode(payload).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or("bad payload")?;
    let exp = claims.get("exp").ok_or("missing exp")?.as_i64().ok_or("exp must be an integer")?;
    if now_secs >= exp + JWT_LEEWAY_SECS {
        return Err("expired");
    }
    if let Some(nbf) = claims.get("nbf") {
        if now_secs + JWT_LEEWAY_SECS < nbf.as_i64().ok_or("nbf must be an integer")? {
            return Err("not yet valid");
        }
    }
    if let Some(iat) = claims.get("iat") {
        iat.as_i64().ok_or("iat must be an integer")?;
    }
    if claims.get("iss").and_then(Value::as_str) != Some(ISSUER) {
        return Err("wrong or missing issuer");
    }
    if claims.get("aud").and_then(Value::as_str) != Some(audience) {
        return Err("wrong or missing audience");
    }
    Ok(claims)
}

pub(super) fn token_sign(ctx: &CallCtx, req: abi::SignToken) -> Result<abi::SignedToken, FnError> {
    let Value::Object(claims) = req.claims else {
        return Err(FnError::invalid("claims must be a JSON object"));
    };
    if let Some(reserved) = RESERVED.iter().find(|r| claims.contains_key(**r)) {
        return Err(FnError::invalid(format!("claim `{reserved}` is set by the host")));
    }
    if req.ttl_secs == 0 || req.ttl_secs > MAX_TTL_SECS {
        return Err(FnError::invalid(format!("ttl_secs must be 1 to {MAX_TTL_SECS}")));
    }
    let now_secs = ctx.state.clock.now_ms().div_euclid(1000);
    let (token, exp) = sign_jwt(&ctx.state.signing_key, &ctx.plugin, &claims, now_secs, req.ttl_secs);
    Ok(abi::SignedToken { token, exp })
}

pub(super) fn token_verify(ctx: &CallCtx, req: abi::VerifyToken) -> Result<abi::VerifiedClaims, FnError> {
    let now_secs = ctx.state.clock.now_ms().div_euclid(1000);
    verify_jwt(&ctx.state.signing_key, &ctx.plugin, &req.token, now_secs)
        .map(|claims| abi::VerifiedClaims { claims: Value::Object(claims) })
        .map_err(|why| FnError::new(codes::UNAUTHENTICATED, format!("invalid token: {why}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = &[7; 32];
    const NOW: i64 = 1_700_000_000;

    fn claims() -> Map<String, Value> {
        json!({ "sub": "user-1", "typ": "access" }).as_object().unwrap().clone()
    }

    fn forge(header: Value, payload: Value, key: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            B64URL.encode(serde_json::to_vec(&header).unwrap()),
            B64URL.encode(serde_json::to_vec(&payload).unwrap())
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", B64URL.encode(mac.finalize().into_bytes()))
    }

    fn base_payload() -> Value {
        json!({ "sub": "u", "iat": NOW, "exp": NOW + 60, "iss": ISSUER, "aud": "auth" })
    }

    #[test]
    fn round_trip_and_expiry_boundary() {
        let (token, exp) = sign_jwt(KEY, "auth", &claims(), NOW, 60);
        assert_eq!(exp, NOW + 60);
        let got = verify_jwt(KEY, "auth", &token, NOW + 59).unwrap();
        assert_eq!(got["sub"], "user-1");
        assert_eq!(verify_jwt(KEY, "auth", &token, NOW + 60), Err("expired"), "expired exactly at exp (leeway 0)");
    }

    #[test]
    fn rejections() {
        let hs = json!({ "alg": "HS256", "typ": "JWT" });
        let (good, _) = sign_jwt(KEY, "auth", &claims(), NOW, 60);
        let none = format!("{}.{}.", B64URL.encode(br#"{"alg":"none"}"#), good.split('.').nth(1).unwrap());
        assert_eq!(verify_jwt(KEY, "auth", &none, NOW), Err("algorithm not allowed"));
        assert_eq!(
            verify_jwt(KEY, "auth", &forge(json!({"alg":"HS512"}), base_payload(), KEY), NOW),
            Err("algorithm not allowed")
        );
        assert_eq!(verify_jwt(KEY, "auth", &good, NOW).map(|_| ()), Ok(()));
        assert_eq!(verify_jwt(&[8; 32], "auth", &good, NOW), Err("bad signature"));
        let mut flipped = good.clone().into_bytes();
        let mid = good.find('.').unwrap() + 3;
        flipped[mid] = if flipped[mid] == b'A' { b'B' } else { b'A' };
        assert!(verify_jwt(KEY, "auth", std::str::from_utf8(&flipped).unwrap(), NOW).is_err());
        let mut p = base_payload();
        p.as_object_mut().unwrap().remove("exp");
        assert_eq!(verify_jwt(KEY, "auth", &forge(hs.clone(), p, KEY), NOW), Err("missing exp"));
        let mut p = base_payload();
        p["exp"] = json!((NOW + 60).to_string());
        assert_eq!(verify_jwt(KEY, "auth", &forge(hs.clone(), p, KEY), NOW), Err("exp must be an integer"));
        let mut p = base_payload();
        p["nbf"] = json!(NOW.to_string());
        assert_eq!(verify_jwt(KEY, "auth", &forge(hs.clone(), p, KEY), NOW), Err("nbf must be an integer"));
        let mut p = base_payload();
        p["nbf"] = json!(NOW + 10);
        assert_eq!(verify_jwt(KEY, "auth", &forge(hs.clone(), p, KEY), NOW), Err("not yet valid"));
        let mut p = base_payload();
        p.as_object_mut().unwrap().remove("iss");
        assert_eq!(verify_jwt(KEY, "auth", &forge(hs.clone(), p, KEY), NOW), Err("wrong or missing issuer"));
        let mut p = base_payload();
        p["aud"] = json!("other");
        assert_eq!(verify_jwt(KEY, "auth", &forge(hs.clone(), p, KEY), NOW), Err("wrong or missing audience"));
        assert_eq!(verify_jwt(KEY, "other-plugin", &good, NOW), Err("wrong or missing audience"));
        for junk in ["", "a.b", "a.b.c.d", "\0.\0.\0", "ü.ö.ä"] {
            assert!(verify_jwt(KEY, "auth", junk, NOW).is_err(), "{junk:?}");
        }
        assert_eq!(verify_jwt(KEY, "auth", &"a".repeat(10_000), NOW), Err("token too long"));
    }
}
