//! Instance pools. Every instance is built from its own compiled module and so has its own engine:
//! Extism's timeout bumps the epoch of an engine, which would fail every instance sharing it, so
//! sharing is avoided and a timeout fails only the call that overran. Compiles after the first hit
//! the on-disk wasmtime cache.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use extism::{CompiledPlugin, Plugin};

use crate::error::{HostError, Result};

/// One ready instance.
pub(crate) struct Instance {
    pub(crate) plugin: Plugin,
    // Keeps the engine and module of this instance alive.
    _compiled: CompiledPlugin,
}

impl Instance {
    pub(crate) fn new(compiled: CompiledPlugin) -> Result<Instance> {
        let plugin = Plugin::new_from_compiled(&compiled)
            .map_err(|e| HostError::Invalid(format!("the module does not instantiate: {e:#}")))?;
        Ok(Instance { plugin, _compiled: compiled })
    }
}

/// A bounded set of instances of one plugin version.
pub(crate) struct Pool {
    state: Mutex<PoolState>,
    freed: Condvar,
    max: usize,
}

struct PoolState {
    idle: Vec<Instance>,
    live: usize,
}

/// What a checkout yields: an idle instance, or the right to build a new one.
pub(crate) enum Checkout {
    Ready(Box<Instance>),
    Build,
}

impl Pool {
    pub(crate) fn new(max: usize) -> Pool {
        Pool { state: Mutex::new(PoolState { idle: Vec::new(), live: 0 }), freed: Condvar::new(), max: max.max(1) }
    }

    /// Takes an idle instance, or a slot to build one, waiting up to `timeout` for either.
    pub(crate) fn checkout(&self, timeout: Duration, plugin: &str) -> Result<Checkout> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(instance) = state.idle.pop() {
                return Ok(Checkout::Ready(Box::new(instance)));
            }
            if state.live < self.max {
                state.live += 1;
                return Ok(Checkout::Build);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(HostError::Busy(plugin.to_owned()));
            }
            state = self.freed.wait_timeout(state, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Returns a healthy instance for reuse.
    pub(crate) fn give_back(&self, instance: Instance) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).idle.push(instance);
        self.freed.notify_one();
    }

    /// Forgets a slot whose instance failed or could not be built; a later call builds afresh.
    pub(crate) fn discard(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.live = state.live.saturating_sub(1);
        drop(state);
        self.freed.notify_one();
    }

    /// (live instances, idle instances).
    pub(crate) fn counts(&self) -> (usize, usize) {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        (state.live, state.idle.len())
    }
}
