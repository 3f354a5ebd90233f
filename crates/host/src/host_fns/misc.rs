//! Small capabilities: time, randomness, logging, configuration, rate limits and email.

use a2e_abi::{self as abi, codes};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::CallCtx;
use crate::error::FnError;
use crate::mail::{check_header, Email, Mailer};

/// Most random bytes one call may ask for.
pub const MAX_RANDOM_BYTES: u32 = 65_536;
/// Log messages are cut to this many bytes.
pub const MAX_LOG_BYTES: usize = 4096;

pub(super) fn time_now(ctx: &CallCtx, _req: abi::Empty) -> Result<abi::Now, FnError> {
    Ok(abi::Now { unix_ms: ctx.state.clock.now_ms() })
}

pub(super) fn random_bytes(ctx: &CallCtx, req: abi::RandomRequest) -> Result<abi::RandomBytes, FnError> {
    if req.len == 0 || req.len > MAX_RANDOM_BYTES {
        return Err(FnError::invalid(format!("len must be 1 to {MAX_RANDOM_BYTES}")));
    }
    let mut bytes = vec![0u8; req.len as usize];
    ctx.state.random.fill(&mut bytes);
    Ok(abi::RandomBytes { bytes: B64.encode(bytes) })
}

pub(super) fn log(ctx: &CallCtx, req: abi::LogRequest) -> Result<abi::Empty, FnError> {
    let mut message = req.message;
    if message.len() > MAX_LOG_BYTES {
        let mut cut = MAX_LOG_BYTES;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
    }
    let plugin = &*ctx.plugin;
    match req.level.as_str() {
        "trace" => tracing::trace!(target: "a2e::plugin", plugin, "{message}"),
        "debug" => tracing::debug!(target: "a2e::plugin", plugin, "{message}"),
        "info" => tracing::info!(target: "a2e::plugin", plugin, "{message}"),
        "warn" => tracing::warn!(target: "a2e::plugin", plugin, "{message}"),
        "error" => tracing::error!(target: "a2e::plugin", plugin, "{message}"),
        other => {
            return Err(FnError::invalid(format!("unknown log level `{other}` (trace, debug, info, warn, error)")))
        }
    }
    Ok(abi::Empty {})
}

pub(super) fn config_get(ctx: &CallCtx, req: abi::ByKey) -> Result<abi::ConfigValue, FnError> {
    Ok(abi::ConfigValue { value: ctx.config.get(&req.key).cloned() })
}

pub(super) fn context_get(ctx: &CallCtx, _req: abi::Empty) -> Result<abi::CallContext, FnError> {
    Ok(abi::CallContext {
        client_addr: ctx.client_addr.as_deref().map(str::to_owned),
        user: ctx.user.as_deref().cloned(),
        caller: ctx.chain.last().map(|caller| caller.to_string()),
    })
}

/// Rate-limit counters live in the calling plugin's namespace.
fn scoped(ctx: &CallCtx, scope: &str) -> Result<String, FnError> {
    if scope.is_empty() || scope.len() > 64 {
        return Err(FnError::invalid("scope must be 1 to 64 bytes"));
    }
    Ok(format!("{}:{scope}", ctx.plugin))
}

pub(super) fn ratelimit_hit(ctx: &CallCtx, req: abi::RateLimitHit) -> Result<abi::RateDecision, FnError> {
    if req.key.len() > 512 {
        return Err(FnError::invalid("key must be at most 512 bytes"));
    }
    let d = ctx.state.db.rate_limit_hit(
        &scoped(ctx, &req.scope)?,
        &req.key,
        req.max,
        req.window_ms,
        ctx.state.clock.now_ms(),
    )?;
    Ok(abi::RateDecision { allowed: d.allowed, count: d.count, retry_after_ms: d.retry_after_ms })
}

pub(super) fn ratelimit_peek(ctx: &CallCtx, req: abi::RateLimitKey) -> Result<abi::Count, FnError> {
    let n =
        ctx.state.db.rate_limit_peek(&scoped(ctx, &req.scope)?, &req.key, req.window_ms, ctx.state.clock.now_ms())?;
    Ok(abi::Count { count: u64::from(n) })
}

pub(super) fn ratelimit_reset(ctx: &CallCtx, req: abi::RateLimitKey) -> Result<abi::Empty, FnError> {
    ctx.state.db.rate_limit_reset(&scoped(ctx, &req.scope)?, &req.key)?;
    Ok(abi::Empty {})
}

pub(super) fn email_send(ctx: &CallCtx, req: abi::SendEmail) -> Result<abi::EmailSent, FnError> {
    a2e_db::normalize_email(&req.to).map_err(|_| FnError::invalid("`to` is not a valid email address"))?;
    check_header("to", &req.to).and_then(|_| check_header("subject", &req.subject)).map_err(FnError::invalid)?;
    if req.subject.len() > 998 || req.text.len() > 1 << 20 {
        return Err(FnError::invalid("subject must be at most 998 bytes and text at most 1 MiB"));
    }
    let from = ctx.config.get("mail_from").cloned().unwrap_or_else(|| format!("{}@a2e.localhost", ctx.plugin));
    let mut id = [0u8; 12];
    ctx.state.random.fill(&mut id);
    let message_id = format!("{}.{}@a2e", hex::encode(id), ctx.plugin);
    let email = Email { from, to: req.to, subject: req.subject, text: req.text };
    ctx.state.mailer.send(&email, &message_id, ctx.state.clock.now_ms()).map_err(|e| {
        tracing::error!(plugin = &*ctx.plugin, error = %e, "queueing email failed");
        FnError::new(codes::UNAVAILABLE, "the mailer cannot take the message now")
    })?;
    Ok(abi::EmailSent { message_id })
}
