//! The arena game's simulation, and nothing else: a pure step function from (state, inputs,
//! dt) to (state, outcomes). It has no grants, so it can do no I/O; the same seed and the same
//! inputs always give the same state (randomness comes from a generator kept in the state).
//!
//! Rules: players move in a walled arena, pick up coins (+1) and dash (three times the speed
//! for a moment, then a cooldown). A dashing player who runs into another tags them: +2 for
//! the tagger, -1 for the tagged (never below 0), who is stunned for a second. The match ends
//! after its duration; the highest score wins.
//!
//! Movement is per input: an input carries a direction (length at most 1) and the time it
//! covers (`dt`, ms), so a client can predict its own movement exactly and reconcile with the
//! server by sequence number. Whoever calls `step` decides which inputs are valid (anticheat).

use a2e_pdk::prelude::*;
use serde::{Deserialize, Serialize};

mod sim;

pub use sim::*;

/// Starts a match: the arena, no players, the first coins.
#[plugin_fn]
pub fn new_match(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: NewMatch| Ok(sim::new_match(&req)))
}

/// Advances a match by one step.
#[plugin_fn]
pub fn step(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: StepRequest| {
        let mut state = req.state;
        let outcomes = sim::step(&mut state, req.dt_ms, &req.joins, &req.leaves, &req.inputs);
        let view = sim::view(&state);
        Ok(StepResult { state, outcomes, view })
    })
}

/// The rules' numbers, for clients that predict their own movement.
#[plugin_fn]
pub fn rules(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |_: serde_json::Value| Ok(sim::rules()))
}

/// Request of `step`.
#[derive(Deserialize)]
struct StepRequest {
    state: State,
    dt_ms: u32,
    #[serde(default)]
    joins: Vec<Join>,
    #[serde(default)]
    leaves: Vec<String>,
    #[serde(default)]
    inputs: Vec<Input>,
}

/// Response of `step`.
#[derive(Serialize)]
struct StepResult {
    state: State,
    outcomes: Vec<Outcome>,
    /// What clients are shown, so callers need not read the state.
    view: View,
}
