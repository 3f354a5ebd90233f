//! `plugin_call`: one plugin calls an export of another under a `call:<callee>` grant. The callee
//! runs with its own grants and limits. Cycles and chains deeper than [`MAX_CALL_DEPTH`] are
//! refused, and a callee whose instances are all busy is waited for only up to the request's
//! timeout, so calls between plugins cannot deadlock.

use std::time::Duration;

use a2e_abi as abi;
use a2e_abi::codes;
use serde_json::Value;

use super::CallCtx;
use crate::error::{FnError, HostError};

/// Longest chain of plugin calls (the outermost call counts as one).
pub const MAX_CALL_DEPTH: usize = 4;

pub(super) fn plugin_call(ctx: &CallCtx, req: abi::PluginCall) -> Result<abi::PluginOutput, FnError> {
    let grants = ctx.grant_set()?;
    if !grants.may_call(&req.plugin) {
        return Err(FnError::new(
            codes::PERMISSION_DENIED,
            format!("plugin `{}` lacks the `call:{}` grant needed to call it", ctx.plugin, req.plugin),
        ));
    }
    let mut chain = ctx.chain.clone();
    chain.push(ctx.plugin.clone());
    if chain.iter().any(|p| **p == *req.plugin) {
        let path: Vec<&str> = chain.iter().map(|p| &**p).chain([req.plugin.as_str()]).collect();
        return Err(FnError::new(codes::CONFLICT, format!("call cycle refused: {}", path.join(" -> "))));
    }
    if chain.len() >= MAX_CALL_DEPTH {
        return Err(FnError::new(
            codes::CONFLICT,
            format!("call depth limit: a chain of plugin calls may be at most {MAX_CALL_DEPTH} deep"),
        ));
    }
    let wait = Duration::from_millis(req.timeout_ms.unwrap_or(1000).min(30_000));
    let input = serde_json::to_vec(&req.input).map_err(|e| FnError::invalid(format!("input: {e}")))?;
    let host = ctx.state.rt.link.host().ok_or_else(|| FnError::new(codes::UNAVAILABLE, "the host is stopping"))?;
    let caller = crate::runtime::Caller { client_addr: ctx.client_addr.clone(), user: ctx.user.clone() };
    match host.call_chained(&req.plugin, &req.function, &input, caller, chain, wait) {
        Ok(bytes) => {
            let output = serde_json::from_slice::<Value>(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
            Ok(abi::PluginOutput { output })
        }
        Err(err @ (HostError::UnknownPlugin(_) | HostError::UnknownFunction { .. })) => {
            Err(FnError::new(codes::NOT_FOUND, err.to_string()))
        }
        Err(err @ (HostError::Disabled(_) | HostError::Busy(_))) => {
            Err(FnError::new(codes::UNAVAILABLE, err.to_string()))
        }
        Err(err @ HostError::CallFailed { failure: crate::CallFailure::Timeout { .. }, .. }) => {
            Err(FnError::new(codes::TIMEOUT, err.to_string()))
        }
        Err(err @ HostError::CallFailed { .. }) => Err(FnError::new(codes::CALL_FAILED, err.to_string())),
        Err(other) => Err(FnError::internal("plugin_call", other)),
    }
}
