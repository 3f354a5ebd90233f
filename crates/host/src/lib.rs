//! a2e-host: the plugin runtime of a2e.
//!
//! [`Host`] installs, loads and calls Extism plugins described by a plugin.json
//! ([`PluginManifest`]), each in its own instance pool with memory, time and fuel limits, and
//! provides them the host functions listed in [`a2e_abi::HOST_FUNCTIONS`]. Every host function
//! checks the caller's grants (stored in the database, read at the start of each call) before any
//! I/O, and answers with an envelope; a denial is an error value, never a trap. The database key
//! and the token signing key stay in the host.
//!
//! ```no_run
//! use a2e_host::{CallOptions, Host, HostConfig, InstallOptions};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::path::Path::new("/tmp/a2e-example");
//! let db = a2e_db::Db::open(dir, &a2e_db::KeySource::from_env(dir)?)?;
//! let host = Host::open(db, HostConfig::new(dir))?;
//! host.install(std::path::Path::new("plugins/template"), &InstallOptions { grant_requested: true, ..Default::default() })?;
//! let out = host.call("template", "greet", br#"{"name":"Ada"}"#, &CallOptions::default())?;
//! println!("{}", String::from_utf8_lossy(&out));
//! # Ok(()) }
//! ```

pub mod clock;
mod error;
pub mod host_fns;
pub mod mail;
pub mod manifest;
mod pool;
pub mod process;
pub mod rt;
mod runtime;
mod state;

pub use clock::{Clock, ManualClock, OsRandom, RandomSource, SystemClock};
pub use error::{storage_error, CallFailure, FnError, HostError, Result};
pub use manifest::{Caps, Limits, PluginManifest, RoomPolicy, Schedule, Subscription};
pub use runtime::{
    CallOptions, Host, HostConfig, InstallOptions, PluginInfo, PluginSource, MIN_SIGNING_KEY_BYTES, SIGNING_KEY_SECRET,
};
pub use state::{EventBus, HostState};
