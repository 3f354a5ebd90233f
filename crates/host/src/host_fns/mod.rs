//! Host functions: one capability per file, one dispatcher that checks grants before any I/O and
//! answers every call with an envelope. No host function traps on bad input.

mod call;
mod crypto;
mod db;
mod events;
mod extism_http;
mod http;
mod kv;
mod misc;
mod rooms;
mod token;

use call::*;
use crypto::*;
use db::*;
use events::*;
use http::*;
use kv::*;
use misc::*;
use rooms::*;
use token::*;

use std::collections::BTreeMap;
use std::sync::Arc;

use a2e_abi::{codes, Envelope, Grant, GrantSpec, HostFunction, HOST_FUNCTIONS, HOST_NAMESPACE};
use extism::{CurrentPlugin, Function, UserData, Val, PTR};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::FnError;
use crate::state::HostState;

pub(crate) use crypto::DUMMY_HASH_WARMUP;
pub use http::{
    check_secret_name, check_secret_value, secret_origin, Streams as HttpStreams, MAX_SECRET_LEN,
    MAX_STREAMS_PER_PLUGIN,
};

/// Largest request a host function accepts, in bytes.
pub const MAX_REQUEST_BYTES: usize = 4 << 20;

/// The set of grants a plugin holds for one call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrantSet {
    bits: u32,
    callees: Vec<String>,
    subscriptions: Vec<String>,
    origins: Vec<a2e_abi::OriginPattern>,
}

impl GrantSet {
    /// A set holding `grants`.
    pub fn of<G: Into<GrantSpec>>(grants: impl IntoIterator<Item = G>) -> Self {
        let mut set = GrantSet::default();
        for grant in grants {
            match grant.into() {
                GrantSpec::Fixed(g) => set.bits |= 1 << g as u32,
                GrantSpec::Call(callee) => {
                    set.bits |= 1 << Grant::Call as u32;
                    set.callees.push(callee);
                }
                GrantSpec::Subscribe(pattern) => set.subscriptions.push(pattern),
                GrantSpec::Http(pattern) => {
                    set.bits |= 1 << Grant::Http as u32;
                    set.origins.push(pattern);
                }
            }
        }
        set
    }

    /// Whether `grant` is held (for `call:<plugin>`: whether any call grant is).
    pub fn contains(&self, grant: Grant) -> bool {
        self.bits & (1 << grant as u32) != 0
    }

    /// Whether `call:<plugin>` is held.
    pub fn may_call(&self, plugin: &str) -> bool {
        self.callees.iter().any(|c| c == plugin)
    }

    /// The origins the `http:` grants cover.
    pub fn origins(&self) -> &[a2e_abi::OriginPattern] {
        &self.origins
    }

    /// Whether a `subscribe:` grant covers events of `kind`.
    pub fn receives(&self, kind: &str) -> bool {
        self.subscriptions.iter().any(|p| a2e_abi::kind_matches(p, kind))
    }
}

/// Everything a host function knows about the call it serves.
pub struct CallCtx {
    /// The calling plugin.
    pub plugin: Arc<str>,
    /// Its grants, resolved at the first host-function call of the plugin call (a call that uses
    /// no host function pays nothing for them).
    pub grants: std::sync::OnceLock<Arc<GrantSet>>,
    /// The plugins whose calls led to this one through `plugin_call`, outermost first.
    pub chain: Vec<Arc<str>>,
    /// The client address of the request that led to the call, if any.
    pub client_addr: Option<Arc<str>>,
    /// The signed-in user behind the call, if any.
    pub user: Option<Arc<a2e_abi::CallUser>>,
    /// The plugin's configuration.
    pub config: Arc<BTreeMap<String, String>>,
    /// Shared host state.
    pub state: Arc<HostState>,
    /// The head of the last response of Extism's own `http_request` in this call.
    pub(crate) last_http: extism_http::LastResponse,
}

pub(crate) type Handler = fn(&CallCtx, &[u8]) -> Result<Vec<u8>, FnError>;

/// Decodes a request, turning any serde error into INVALID_INPUT.
pub(crate) fn decode<T: DeserializeOwned>(input: &[u8]) -> Result<T, FnError> {
    if input.len() > MAX_REQUEST_BYTES {
        return Err(FnError::invalid(format!("request exceeds {MAX_REQUEST_BYTES} bytes")));
    }
    serde_json::from_slice(input).map_err(|e| FnError::invalid(format!("malformed request: {e}")))
}

/// Encodes a successful response envelope.
pub(crate) fn encode<T: Serialize>(data: T) -> Result<Vec<u8>, FnError> {
    serde_json::to_vec(&Envelope::ok(data)).map_err(|e| FnError::internal("encoding a response", e))
}

/// Generates [`HANDLERS`] from the ABI table: for each host function, a byte handler that decodes
/// the table's request type, calls the function of the same name (its signature must take that
/// type and answer the table's response type, or this does not compile) and encodes the answer.
macro_rules! dispatch_table {
    ($($name:ident: $grant:ident, $req:ident => $resp:tt, $errors:expr, $summary:literal;)+) => {
        /// Every handler, in the order of [`HOST_FUNCTIONS`], by host-function name.
        pub(crate) static HANDLERS: &[(&str, Handler)] = &[$(
            (stringify!($name), {
                fn handler(ctx: &CallCtx, input: &[u8]) -> Result<Vec<u8>, FnError> {
                    let request: a2e_abi::$req = decode(input)?;
                    let response: dispatch_table!(@type $resp) = $name(ctx, request)?;
                    encode(response)
                }
                handler as Handler
            }),
        )+];
    };
    (@type [$t:ident]) => { Vec<a2e_abi::$t> };
    (@type $t:ident) => { a2e_abi::$t };
}

a2e_abi::host_function_table!(dispatch_table);

impl CallCtx {
    /// The plugin's grants for this call.
    fn grant_set(&self) -> Result<&GrantSet, FnError> {
        if let Some(set) = self.grants.get() {
            return Ok(set);
        }
        let set = self.state.grants.get(&self.state.db, &self.plugin).map_err(FnError::from)?;
        Ok(self.grants.get_or_init(|| set))
    }
}

/// Runs one host function for `ctx`: grant check first, then decode, run, encode.
pub fn dispatch(spec: &HostFunction, handler: Handler, ctx: &CallCtx, input: &[u8]) -> Vec<u8> {
    let result = match ctx.grant_set() {
        Err(err) => Err(err),
        Ok(grants) => run_granted(spec, handler, ctx, input, grants),
    };
    match result {
        Ok(bytes) => bytes,
        Err(err) => serde_json::to_vec(&Envelope::<()>::err(err.code, err.message)).expect("error envelope encodes"),
    }
}

fn run_granted(
    spec: &HostFunction,
    handler: Handler,
    ctx: &CallCtx,
    input: &[u8],
    grants: &GrantSet,
) -> Result<Vec<u8>, FnError> {
    if !grants.contains(spec.grant) {
        Err(FnError::new(
            codes::PERMISSION_DENIED,
            format!("plugin `{}` lacks the `{}` grant needed by {}", ctx.plugin, spec.grant, spec.name),
        ))
    } else {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(ctx, input)))
            .unwrap_or_else(|_| Err(FnError::internal(spec.name, "host function panicked")))
    }
}

/// Builds the Extism functions for every entry of [`HOST_FUNCTIONS`], and Extism's own HTTP
/// functions over a2e's rules.
pub fn extism_functions() -> Vec<Function> {
    assert_eq!(HANDLERS.len(), HOST_FUNCTIONS.len(), "HANDLERS follows HOST_FUNCTIONS one to one");
    let mut functions: Vec<Function> = HOST_FUNCTIONS
        .iter()
        .zip(HANDLERS)
        .map(|(spec, &(name, handler))| {
            debug_assert_eq!(spec.name, name, "HANDLERS follows the order of HOST_FUNCTIONS");
            Function::new(spec.name, [PTR], [PTR], UserData::new(()), move |plugin, inputs, outputs, _| {
                call_from_guest(spec, handler, plugin, inputs, outputs)
            })
            .with_namespace(HOST_NAMESPACE)
        })
        .collect();
    functions.extend(extism_http::functions());
    functions
}

fn call_from_guest(
    spec: &'static HostFunction,
    handler: Handler,
    plugin: &mut CurrentPlugin,
    inputs: &[Val],
    outputs: &mut [Val],
) -> Result<(), extism::Error> {
    let input: Result<Vec<u8>, FnError> = match inputs.first() {
        Some(val) => plugin
            .memory_get_val::<&[u8]>(val)
            .map(<[u8]>::to_vec)
            .map_err(|e| FnError::invalid(format!("cannot read the request from plugin memory: {e}"))),
        None => Err(FnError::invalid("missing request argument")),
    };
    let response = match (plugin.host_context::<CallCtx>(), input) {
        (Ok(ctx), Ok(input)) => dispatch(spec, handler, ctx, &input),
        (Err(_), _) => {
            serde_json::to_vec(&Envelope::<()>::err(codes::INTERNAL, "host function called outside an a2e call"))
                .expect("error envelope encodes")
        }
        (Ok(_), Err(err)) => {
            serde_json::to_vec(&Envelope::<()>::err(err.code, err.message)).expect("error envelope encodes")
        }
    };
    let out = outputs.first_mut().ok_or_else(|| extism::Error::msg("host function has no result slot"))?;
    plugin.memory_set_val(out, response.as_slice())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handlers_follow_the_abi_table_one_to_one() {
        let names: Vec<&str> = HANDLERS.iter().map(|(name, _)| *name).collect();
        let table: Vec<&str> = HOST_FUNCTIONS.iter().map(|spec| spec.name).collect();
        assert_eq!(names, table);
    }

    #[test]
    fn grant_set_holds_only_what_it_was_given() {
        let set = GrantSet::of([Grant::Kv, Grant::Email]);
        assert!(set.contains(Grant::Kv) && set.contains(Grant::Email));
        assert!(!set.contains(Grant::DbUsers) && !GrantSet::default().contains(Grant::Log));
        let scoped = GrantSet::of([GrantSpec::Call("auth".into()), GrantSpec::Subscribe("auth.".into())]);
        assert!(scoped.contains(Grant::Call) && scoped.may_call("auth") && !scoped.may_call("audit"));
        assert!(scoped.receives("auth.login") && !scoped.receives("game.end") && !scoped.contains(Grant::Kv));
    }
}
