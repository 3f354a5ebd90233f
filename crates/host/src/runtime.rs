//! The plugin runtime: the registry of installed plugins, calls through per-plugin pools, grants,
//! install/remove/enable/disable and hot replace.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use a2e_abi::GrantSpec;
use a2e_db::Db;
use extism::{CompiledPlugin, Function, PluginBuilder};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::clock::{Clock, OsRandom, RandomSource, SystemClock};
use crate::error::{CallFailure, HostError, Result};
use crate::host_fns::{self, CallCtx};
use crate::mail::{FileOutbox, Mailer, QueuedMailer};
use crate::manifest::{sha256_hex, Caps, Limits, PluginManifest};
use crate::pool::{Checkout, Instance, Pool};
use crate::rt::{CountersSnapshot, Realtime, RoomLimits};
use crate::state::{EventBus, HostState};

/// Name of the host secret holding the token signing key.
pub const SIGNING_KEY_SECRET: &str = "token_signing_key";
/// Shortest signing key the host accepts, in bytes.
pub const MIN_SIGNING_KEY_BYTES: usize = 32;
const MANIFEST_FILE: &str = "plugin.json";
const DISABLED_MARKER: &str = "disabled";
/// After how long a `.staging-*` / `.old-*` dir is a leftover of an interrupted install rather
/// than an install in progress.
const STALE_INSTALL: Duration = Duration::from_secs(600);
/// How often a long-running host looks for plugin changes made by another process.
const PLUGINS_DIR_CHECK: Duration = Duration::from_secs(1);

/// How a [`Host`] is set up.
#[derive(Clone)]
pub struct HostConfig {
    /// The data dir: plugins live in `plugins/`, mail in `outbox/`, compiled modules in `cache/`.
    pub data_dir: PathBuf,
    /// Host-wide limits.
    pub caps: Caps,
    /// The clock plugins see.
    pub clock: Arc<dyn Clock>,
    /// The randomness plugins get.
    pub random: Arc<dyn RandomSource>,
    /// The mailer; the file outbox in `data_dir/outbox` when unset.
    pub mailer: Option<Arc<dyn Mailer>>,
    /// Where compiled modules are cached; `data_dir/cache` when unset.
    pub cache_dir: Option<PathBuf>,
    /// How long a call waits for a free instance.
    pub checkout_timeout: Duration,
    /// Per-plugin configuration that overrides the manifest's `config`.
    pub config_overrides: BTreeMap<String, BTreeMap<String, String>>,
    /// Defaults and caps of realtime rooms.
    pub room_limits: RoomLimits,
}

impl HostConfig {
    /// Defaults for `data_dir`: system clock, OS randomness, file outbox.
    pub fn new(data_dir: impl Into<PathBuf>) -> HostConfig {
        HostConfig {
            data_dir: data_dir.into(),
            caps: Caps::default(),
            clock: Arc::new(SystemClock),
            random: Arc::new(OsRandom),
            mailer: None,
            cache_dir: None,
            checkout_timeout: Duration::from_secs(30),
            config_overrides: BTreeMap::new(),
            room_limits: RoomLimits::default(),
        }
    }
}

/// Extra facts about one call.
#[derive(Clone, Debug, Default)]
pub struct CallOptions {
    /// The client address of the request that led to the call.
    pub client_addr: Option<String>,
    /// The signed-in user whose request led to the call (plugins read it with `context_get`).
    pub user: Option<a2e_abi::CallUser>,
}

/// Who a call is made for: passed from a call to the calls it makes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Caller {
    pub(crate) client_addr: Option<Arc<str>>,
    pub(crate) user: Option<Arc<a2e_abi::CallUser>>,
}

/// How to install.
#[derive(Clone, Debug, Default)]
pub struct InstallOptions {
    /// Replace an installed plugin of the same name (hot replace).
    pub replace: bool,
    /// Grant the plugin what its manifest requests.
    pub grant_requested: bool,
}

/// A plugin read from disk and validated, not yet installed.
#[derive(Clone, Debug)]
pub struct PluginSource {
    /// Its manifest (given or generated).
    pub manifest: PluginManifest,
    /// The module bytes, matching the manifest's pin.
    pub wasm: Vec<u8>,
}

/// A description of an installed plugin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Description.
    pub description: String,
    /// Exported functions.
    pub exports: Vec<String>,
    /// Functions regular users may call.
    pub public: Vec<String>,
    /// Grants the manifest requests.
    pub requested_grants: Vec<String>,
    /// Grants currently held.
    pub granted: Vec<String>,
    /// Whether calls are accepted.
    pub enabled: bool,
    /// SHA-256 of the module.
    pub sha256: String,
    /// Module size in bytes.
    pub wasm_bytes: usize,
    /// Instances alive now.
    pub instances: usize,
    /// Rooms open now.
    #[serde(default)]
    pub rooms: usize,
    /// Realtime counters: ticks, clients, messages, events, schedule runs.
    #[serde(default)]
    pub realtime: CountersSnapshot,
}

/// The module named by a manifest must sit beside it: a plain file name.
fn check_wasm_file_name(manifest: &PluginManifest) -> Result<()> {
    if manifest.wasm.file.contains(['/', '\\']) || manifest.wasm.file.starts_with("..") {
        return Err(HostError::Invalid(format!("wasm.file `{}` must be a plain file name", manifest.wasm.file)));
    }
    Ok(())
}

/// A loaded plugin version. Calls hold an `Arc` to it, so a replaced version lives until its
/// in-flight calls finish.
struct Loaded {
    /// The plugin name, shared with every call context.
    name: Arc<str>,
    manifest: PluginManifest,
    wasm: Arc<Vec<u8>>,
    /// SHA-256 of `wasm`, computed once when the version is loaded.
    sha256: Arc<str>,
    config: Arc<BTreeMap<String, String>>,
    enabled: bool,
    pool: Pool,
}

/// The a2e plugin host. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Host {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    state: Arc<HostState>,
    plugins_dir: PathBuf,
    cache_config: PathBuf,
    caps: Caps,
    checkout_timeout: Duration,
    config_overrides: BTreeMap<String, BTreeMap<String, String>>,
    functions: Vec<Function>,
    plugins: RwLock<BTreeMap<String, Arc<Loaded>>>,
    /// Held by every change to the set of installed plugins (install, replace, remove, enable,
    /// disable, the sync with the plugins dir), so that each change reads and writes one
    /// consistent state: no change puts back a version another one replaced.
    changes: Mutex<()>,
    /// Plugin dirs that did not load at the last sync, with their plugin.json's modification time.
    unloadable: Mutex<BTreeMap<String, std::time::SystemTime>>,
    background: AtomicBool,
}

impl Host {
    /// Opens the host on an open database and loads every installed plugin.
    pub fn open(db: Db, config: HostConfig) -> Result<Host> {
        let plugins_dir = config.data_dir.join("plugins");
        fs::create_dir_all(&plugins_dir).map_err(|e| HostError::io("creating plugins dir", &plugins_dir, e))?;
        let cache_dir = config.cache_dir.clone().unwrap_or_else(|| config.data_dir.join("cache"));
        let cache_config = write_cache_config(&cache_dir)?;
        let random = config.random.clone();
        let signing_key = db.host_secret(SIGNING_KEY_SECRET, config.clock.now_ms(), || {
            let mut key = vec![0u8; 32];
            random.fill(&mut key);
            key
        })?;
        if signing_key.len() < MIN_SIGNING_KEY_BYTES {
            return Err(HostError::Invalid(format!(
                "the token signing key is {} bytes; at least {MIN_SIGNING_KEY_BYTES} are required",
                signing_key.len()
            )));
        }
        let backend =
            config.mailer.clone().unwrap_or_else(|| Arc::new(FileOutbox::new(config.data_dir.join("outbox"))));
        let mailer = Arc::new(QueuedMailer::new(backend, 10_000));
        let state = Arc::new(HostState {
            db,
            clock: config.clock.clone(),
            random: config.random.clone(),
            mailer,
            events: EventBus::default(),
            signing_key: Zeroizing::new(signing_key),
            grants: crate::state::GrantCache::default(),
            rt: Realtime::new(config.room_limits),
            http: Default::default(),
        });
        (host_fns::DUMMY_HASH_WARMUP)();
        let host = Host {
            inner: Arc::new(Inner {
                state,
                plugins_dir,
                cache_config,
                caps: config.caps,
                checkout_timeout: config.checkout_timeout,
                config_overrides: config.config_overrides,
                functions: host_fns::extism_functions(),
                plugins: RwLock::new(BTreeMap::new()),
                changes: Mutex::new(()),
                unloadable: Mutex::new(BTreeMap::new()),
                background: AtomicBool::new(false),
            }),
        };
        host.inner.state.rt.link.set(Arc::downgrade(&host.inner));
        host.load_installed()?;
        for name in host.names() {
            host.reconcile(&name);
        }
        Ok(host)
    }

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Host {
        Host { inner }
    }

    fn names(&self) -> Vec<String> {
        self.inner.plugins.read().unwrap_or_else(PoisonError::into_inner).keys().cloned().collect()
    }

    /// Stops the host's realtime and background work for good, before a process exits: closes
    /// every room (its clients are told the server is stopping), ends schedules and event
    /// subscriptions, and waits up to `grace` for the plugin calls they started. Calls made
    /// directly keep working. Answers whether every call returned in time. Dropping the last
    /// handle of a host does the same with a grace of 10 s.
    pub fn shutdown(&self, grace: std::time::Duration) -> bool {
        self.inner.background.store(false, Ordering::SeqCst);
        self.inner.state.rt.shutdown("the server is stopping", grace)
    }

    /// Starts the background work of a long-running host (`a2e serve`, the desktop app): the
    /// schedules of every installed plugin. Rooms and event subscriptions work without it.
    pub fn start_background(&self) {
        if self.inner.background.swap(true, Ordering::SeqCst) {
            return;
        }
        for name in self.names() {
            self.reconcile(&name);
        }
        // Another process (the CLI, say) may install, replace, remove, enable or disable plugins
        // in the same data dir: the watcher brings this host in line within a second.
        let weak = Arc::downgrade(&self.inner);
        let Some(handle) = self.inner.state.rt.handle() else { return };
        handle.spawn(async move {
            let mut every = tokio::time::interval(PLUGINS_DIR_CHECK);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                every.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let host = Host::from_inner(inner);
                match tokio::task::spawn_blocking(move || host.sync_installed()).await {
                    Ok(Ok(changed)) if !changed.is_empty() => {
                        tracing::info!(plugins = ?changed, "plugins changed on disk by another process")
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) => tracing::warn!(error = %err, "checking the plugins dir failed"),
                    Err(err) => tracing::error!(error = %err, "checking the plugins dir panicked"),
                }
            }
        });
    }

    /// Brings the loaded plugins in line with the plugins dir, where another process may have
    /// installed, replaced, removed, enabled or disabled one; returns the names that changed.
    /// A replaced plugin keeps its rooms (the next tick runs the new version), as with
    /// [`Host::install_source`]; a removed or disabled one closes them.
    pub fn sync_installed(&self) -> Result<Vec<String>> {
        let _changes = self.lock_changes();
        let mut failed = self.inner.unloadable.lock().unwrap_or_else(PoisonError::into_inner);
        let dir = &self.inner.plugins_dir;
        let mut on_disk = std::collections::BTreeSet::new();
        let mut in_progress = std::collections::BTreeSet::new();
        for entry in fs::read_dir(dir).map_err(|e| HostError::io("reading plugins dir", dir, e))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            match name.strip_prefix(".staging-").or_else(|| name.strip_prefix(".old-")) {
                // `.staging-NAME-NONCE` / `.old-NAME-NONCE`: NAME is being written right now.
                Some(rest) => {
                    let age = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
                    if age.is_none_or(|age| age <= STALE_INSTALL) {
                        in_progress.insert(rest.rsplit_once('-').map_or(rest, |(n, _)| n).to_owned());
                    }
                }
                None if !name.starts_with('.') => {
                    on_disk.insert(name);
                }
                None => {}
            }
        }
        let mut changed = Vec::new();
        for name in &on_disk {
            if in_progress.contains(name) {
                continue;
            }
            let path = dir.join(name);
            let enabled = !path.join(DISABLED_MARKER).exists();
            let current = self.get(name).ok();
            let manifest_path = path.join(MANIFEST_FILE);
            let stamp = fs::metadata(&manifest_path).and_then(|m| m.modified()).ok();
            if stamp.is_some() && failed.get(name) == stamp.as_ref() {
                // Not loadable when last looked at, and not changed since.
                continue;
            }
            let Ok(text) = fs::read_to_string(&manifest_path) else { continue };
            let Ok(manifest) = PluginManifest::parse(&text) else { continue };
            match current {
                Some(loaded) if loaded.manifest == manifest && loaded.enabled == enabled => {}
                Some(loaded) if loaded.manifest == manifest => {
                    let again = self.make_loaded(manifest, loaded.wasm.clone(), enabled);
                    self.write_plugins().insert(name.clone(), Arc::new(again));
                    if !enabled {
                        self.close_plugin_io(name, "the plugin was disabled");
                    }
                    changed.push(name.clone());
                }
                _ => match self.read_dir_plugin(&path) {
                    Ok((manifest, wasm)) => {
                        failed.remove(name);
                        let loaded = self.make_loaded(manifest, Arc::new(wasm), enabled);
                        self.write_plugins().insert(name.clone(), Arc::new(loaded));
                        if !enabled {
                            self.close_plugin_io(name, "the plugin was disabled");
                        }
                        changed.push(name.clone());
                    }
                    // Half written, or invalid: looked at again once plugin.json changes.
                    Err(err) => {
                        tracing::warn!(plugin = %name, error = %err, "a plugin changed on disk does not load; keeping what runs");
                        if let Some(stamp) = stamp {
                            failed.insert(name.clone(), stamp);
                        }
                    }
                },
            }
        }
        for name in self.names() {
            // Looked at once more: a rename by another process may have hidden it from the listing.
            if !on_disk.contains(&name) && !in_progress.contains(&name) && !dir.join(&name).exists() {
                self.write_plugins().remove(&name);
                self.close_plugin_io(&name, "the plugin was removed");
                changed.push(name);
            }
        }
        for name in &changed {
            self.reconcile(name);
        }
        Ok(changed)
    }

    fn lock_changes(&self) -> MutexGuard<'_, ()> {
        self.inner.changes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes a plugin's rooms (telling their clients `reason`) and its outbound HTTP streams.
    fn close_plugin_io(&self, name: &str, reason: &str) {
        self.inner.state.rt.close_plugin_rooms(name, reason);
        self.inner.state.http.close_all(name);
    }

    /// Brings `name`'s schedules and subscriptions in line with its installed, enabled manifest.
    fn reconcile(&self, name: &str) {
        let loaded = self.get(name).ok().filter(|l| l.enabled);
        let background = self.inner.background.load(Ordering::SeqCst);
        self.inner.state.rt.reconcile(name, loaded.as_ref().map(|l| &l.manifest), background);
    }

    /// Rooms, clients and realtime counters.
    pub fn realtime(&self) -> &Realtime {
        &self.inner.state.rt
    }

    /// Waits up to `timeout` until plugins subscribed to events have handled every event queued
    /// for them; returns whether they did. Short-lived processes call it before they exit.
    pub fn flush_events(&self, timeout: Duration) -> bool {
        self.inner.state.rt.subscribers.flush(timeout)
    }

    /// Delivers an event that is not stored (a room join, say) to subscribed plugins.
    pub(crate) fn publish_transient(&self, kind: &str, plugin: &str, user: Option<&str>, data: serde_json::Value) {
        let rt = &self.inner.state.rt;
        if rt.subscribers.is_empty() {
            return;
        }
        rt.subscribers.deliver(&a2e_abi::EventDelivery {
            id: 0,
            kind: kind.to_owned(),
            plugin: Some(plugin.to_owned()),
            user_uuid: user.map(str::to_owned),
            data,
            at: self.inner.state.clock.now_ms(),
            dropped: 0,
        });
    }

    /// Whether `plugin` is installed, enabled and exports `export`.
    pub(crate) fn has_export(&self, plugin: &str, export: &str) -> bool {
        self.get(plugin).is_ok_and(|l| l.enabled && l.manifest.exports.iter().any(|e| e == export))
    }

    /// Whether `plugin`'s manifest lets clients that are not signed in join its rooms.
    pub(crate) fn allows_anonymous(&self, plugin: &str) -> bool {
        self.get(plugin).is_ok_and(|l| l.manifest.rooms.anonymous)
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.inner.state.db
    }

    /// The shared state (clock, event bus, mailer).
    pub fn state(&self) -> &Arc<HostState> {
        &self.inner.state
    }

    /// Waits until every email queued by plugins has been handed to the mail backend.
    pub fn flush_mail(&self) {
        self.inner.state.mailer.flush();
    }

    /// Subscribes to audit events with a queue of `capacity`.
    pub fn subscribe(&self, capacity: usize) -> tokio::sync::mpsc::Receiver<a2e_db::AuditEvent> {
        self.inner.state.events.subscribe(capacity)
    }

    /// Records an audit event on behalf of the host itself (an administrator's action, say) and
    /// publishes it to subscribers, exactly as a plugin's `event_emit` would.
    pub fn record_event(&self, event: &a2e_db::NewAuditEvent) -> Result<a2e_db::AuditEvent> {
        let state = &self.inner.state;
        let recorded = state.db.record_audit_event(event, state.clock.now_ms())?;
        state.publish(&recorded);
        Ok(recorded)
    }

    /// Directory holding installed plugins.
    pub fn plugins_dir(&self) -> &Path {
        &self.inner.plugins_dir
    }

    fn load_installed(&self) -> Result<()> {
        let entries = fs::read_dir(&self.inner.plugins_dir)
            .map_err(|e| HostError::io("reading plugins dir", &self.inner.plugins_dir, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                // Leftovers of an interrupted install; a recent one may be another process's
                // install in progress, so only old ones go.
                let age = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
                if age.is_some_and(|age| age > STALE_INSTALL) {
                    let _ = fs::remove_dir_all(&path);
                }
                continue;
            }
            match self.read_dir_plugin(&path) {
                Ok((manifest, wasm)) => {
                    let enabled = !path.join(DISABLED_MARKER).exists();
                    let loaded = self.make_loaded(manifest, Arc::new(wasm), enabled);
                    self.write_plugins().insert(name, Arc::new(loaded));
                }
                Err(err) => tracing::error!(plugin = %name, error = %err, "skipping a plugin that does not load"),
            }
        }
        Ok(())
    }

    fn read_dir_plugin(&self, dir: &Path) -> Result<(PluginManifest, Vec<u8>)> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let text = fs::read_to_string(&manifest_path).map_err(|e| HostError::io("reading", &manifest_path, e))?;
        let manifest = PluginManifest::parse(&text)?;
        let wasm_path = dir.join(&manifest.wasm.file);
        let wasm = fs::read(&wasm_path).map_err(|e| HostError::io("reading", &wasm_path, e))?;
        manifest.validate(&wasm, &self.inner.caps)?;
        Ok((manifest, wasm))
    }

    fn make_loaded(&self, manifest: PluginManifest, wasm: Arc<Vec<u8>>, enabled: bool) -> Loaded {
        let mut config = manifest.config.clone();
        if let Some(overrides) = self.inner.config_overrides.get(&manifest.name) {
            config.extend(overrides.clone());
        }
        let max = manifest.limits.max_instances as usize;
        Loaded {
            name: Arc::from(manifest.name.as_str()),
            sha256: Arc::from(sha256_hex(&wasm)),
            manifest,
            wasm,
            config: Arc::new(config),
            enabled,
            pool: Pool::new(max),
        }
    }

    fn write_plugins(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Loaded>>> {
        self.inner.plugins.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, name: &str) -> Result<Arc<Loaded>> {
        self.inner
            .plugins
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
            .ok_or_else(|| HostError::UnknownPlugin(name.to_owned()))
    }

    fn compile(&self, loaded: &Loaded) -> Result<CompiledPlugin> {
        let limits = &loaded.manifest.limits;
        let manifest = extism::Manifest::new([extism::Wasm::data(loaded.wasm.as_slice().to_vec())])
            .with_memory_max(limits.memory_pages)
            .with_timeout(Duration::from_millis(limits.timeout_ms))
            .with_config(loaded.config.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut builder = PluginBuilder::new(manifest)
            .with_wasi(false)
            .with_functions(self.inner.functions.clone())
            .with_cache_config(&self.inner.cache_config);
        if let Some(fuel) = limits.fuel {
            builder = builder.with_fuel_limit(fuel);
        }
        CompiledPlugin::new(builder).map_err(|e| HostError::Invalid(format!("the module does not compile: {e:#}")))
    }

    /// Calls `function` of `plugin` with `input`; returns the plugin's output bytes.
    ///
    /// Grants are checked against the database at the start of every call (through a cache that
    /// is dropped after any commit), so a revocation, even by another process, takes effect on the
    /// next call. A failing call (trap, panic, timeout, memory or fuel limit) discards its
    /// instance; other calls, including concurrent calls to the same plugin, are unaffected.
    pub fn call(&self, plugin: &str, function: &str, input: &[u8], options: &CallOptions) -> Result<Vec<u8>> {
        let caller = Caller {
            client_addr: options.client_addr.as_deref().map(Arc::from),
            user: options.user.clone().map(Arc::new),
        };
        self.call_inner(plugin, function, input, caller, Vec::new(), self.inner.checkout_timeout)
    }

    /// A call made by another plugin through `plugin_call`: `chain` lists the callers, and a
    /// busy pool is waited for at most `wait`.
    pub(crate) fn call_chained(
        &self,
        plugin: &str,
        function: &str,
        input: &[u8],
        caller: Caller,
        chain: Vec<Arc<str>>,
        wait: Duration,
    ) -> Result<Vec<u8>> {
        self.call_inner(plugin, function, input, caller, chain, wait)
    }

    fn call_inner(
        &self,
        plugin: &str,
        function: &str,
        input: &[u8],
        caller: Caller,
        chain: Vec<Arc<str>>,
        wait: Duration,
    ) -> Result<Vec<u8>> {
        let loaded = self.get(plugin)?;
        if !loaded.enabled {
            return Err(HostError::Disabled(plugin.to_owned()));
        }
        if !loaded.manifest.exports.iter().any(|e| e == function) {
            return Err(HostError::UnknownFunction { plugin: plugin.to_owned(), function: function.to_owned() });
        }
        let ctx = CallCtx {
            plugin: loaded.name.clone(),
            grants: std::sync::OnceLock::new(),
            chain,
            client_addr: caller.client_addr,
            user: caller.user,
            config: loaded.config.clone(),
            state: self.inner.state.clone(),
            last_http: Default::default(),
        };
        let mut instance = match loaded.pool.checkout(wait, plugin)? {
            Checkout::Ready(instance) => *instance,
            Checkout::Build => match self.compile(&loaded).and_then(Instance::new) {
                Ok(instance) => instance,
                Err(err) => {
                    loaded.pool.discard();
                    return Err(err);
                }
            },
        };
        let started = Instant::now();
        let result = instance.plugin.call_with_host_context::<&[u8], Vec<u8>, CallCtx>(function, input, ctx);
        match result {
            Ok(output) => {
                loaded.pool.give_back(instance);
                let limit = self.inner.caps.max_output_bytes;
                if output.len() > limit {
                    return Err(failed(plugin, function, CallFailure::OutputTooLarge { bytes: output.len(), limit }));
                }
                Ok(output)
            }
            Err(err) => {
                let fuel_used = instance.plugin.fuel_consumed();
                drop(instance);
                loaded.pool.discard();
                Err(failed(plugin, function, classify_failure(&err, started, fuel_used, &loaded.manifest.limits)))
            }
        }
    }

    /// Reads and validates a plugin source without installing it (to show its grants first);
    /// hand the result to [`Host::install_source`] to install it without reading it again.
    pub fn inspect(&self, source: &Path) -> Result<PluginSource> {
        let (manifest, wasm) = self.read_source(source)?;
        manifest.validate(&wasm, &self.inner.caps)?;
        Ok(PluginSource { manifest, wasm })
    }

    /// Validates a plugin given as bytes (an upload, say): its plugin.json text, or none (then a
    /// manifest is generated from `file_name` and the module's exports, with no grants).
    pub fn inspect_bytes(&self, manifest: Option<&str>, file_name: &str, wasm: Vec<u8>) -> Result<PluginSource> {
        let manifest = match manifest {
            Some(text) => {
                let manifest = PluginManifest::parse(text)?;
                check_wasm_file_name(&manifest)?;
                manifest
            }
            None => PluginManifest::generate(file_name, &wasm)?,
        };
        manifest.validate(&wasm, &self.inner.caps)?;
        Ok(PluginSource { manifest, wasm })
    }

    /// Installs a plugin from a directory with plugin.json, a plugin.json path, or a .wasm file
    /// (with a plugin.json beside it naming that file, or none: then one is generated).
    pub fn install(&self, source: &Path, options: &InstallOptions) -> Result<PluginInfo> {
        self.install_source(self.inspect(source)?, options)
    }

    /// Installs a source already read and validated by [`Host::inspect`].
    pub fn install_source(&self, source: PluginSource, options: &InstallOptions) -> Result<PluginInfo> {
        let PluginSource { manifest, wasm } = source;
        let grants = manifest.grant_set()?;
        let name = manifest.name.clone();
        let _changes = self.lock_changes();
        let current = self.get(&name).ok();
        if !options.replace && (current.is_some() || self.inner.plugins_dir.join(&name).exists()) {
            return Err(HostError::AlreadyInstalled(name));
        }
        let enabled = current.is_none_or(|l| l.enabled);
        let loaded = self.make_loaded(manifest, Arc::new(wasm), enabled);
        // Prove the module compiles and instantiates before anything on disk changes.
        let instance = Instance::new(self.compile(&loaded)?)?;
        for export in &loaded.manifest.exports {
            if !instance.plugin.function_exists(export) {
                return Err(HostError::Invalid(format!("export `{export}` is missing after instantiation")));
            }
        }
        self.write_plugin_dir(&loaded)?;
        if options.grant_requested {
            let names: Vec<String> = grants.iter().map(GrantSpec::as_string).collect();
            self.db().grant(&name, &names, self.inner.state.clock.now_ms())?;
        }
        // The checked instance becomes the first of the new pool.
        if let Checkout::Build = loaded.pool.checkout(Duration::ZERO, &name)? {
            loaded.pool.give_back(instance);
        }
        let previous = self.write_plugins().insert(name.clone(), Arc::new(loaded));
        tracing::info!(plugin = %name, replaced = previous.is_some(), "plugin installed");
        self.reconcile(&name);
        self.info(&name)
    }

    fn read_source(&self, source: &Path) -> Result<(PluginManifest, Vec<u8>)> {
        let read = |p: &Path| fs::read(p).map_err(|e| HostError::io("reading", p, e));
        let parse_at = |manifest_path: &Path| -> Result<(PluginManifest, Vec<u8>)> {
            let text = fs::read_to_string(manifest_path).map_err(|e| HostError::io("reading", manifest_path, e))?;
            let manifest = PluginManifest::parse(&text)?;
            check_wasm_file_name(&manifest)?;
            let dir = manifest_path.parent().unwrap_or(Path::new("."));
            let wasm = read(&dir.join(&manifest.wasm.file))?;
            Ok((manifest, wasm))
        };
        if source.is_dir() {
            return parse_at(&source.join(MANIFEST_FILE));
        }
        let file_name = source.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if file_name.ends_with(".json") {
            return parse_at(source);
        }
        if !file_name.ends_with(".wasm") {
            return Err(HostError::Invalid(format!(
                "{} is neither a plugin directory, a plugin.json nor a .wasm file",
                source.display()
            )));
        }
        let beside = source.with_file_name(MANIFEST_FILE);
        if beside.is_file() {
            let (manifest, wasm) = parse_at(&beside)?;
            if manifest.wasm.file == file_name {
                return Ok((manifest, wasm));
            }
        }
        let wasm = read(source)?;
        Ok((PluginManifest::generate(&file_name, &wasm)?, wasm))
    }

    fn write_plugin_dir(&self, loaded: &Loaded) -> Result<()> {
        let dir = &self.inner.plugins_dir;
        let name = &loaded.manifest.name;
        let mut nonce = [0u8; 8];
        self.inner.state.random.fill(&mut nonce);
        let staging = dir.join(format!(".staging-{name}-{}", hex::encode(nonce)));
        let old = dir.join(format!(".old-{name}-{}", hex::encode(nonce)));
        let target = dir.join(name);
        let io = |action: &'static str, p: &Path| {
            let p = p.to_path_buf();
            move |e| HostError::io(action, p, e)
        };
        fs::create_dir_all(&staging).map_err(io("creating", &staging))?;
        let manifest_json = serde_json::to_string_pretty(&loaded.manifest).expect("manifest serialises");
        fs::write(staging.join(MANIFEST_FILE), manifest_json).map_err(io("writing", &staging))?;
        fs::write(staging.join(&loaded.manifest.wasm.file), loaded.wasm.as_slice()).map_err(io("writing", &staging))?;
        if !loaded.enabled {
            fs::write(staging.join(DISABLED_MARKER), b"").map_err(io("writing", &staging))?;
        }
        if target.exists() {
            fs::rename(&target, &old).map_err(io("moving aside", &target))?;
        }
        fs::rename(&staging, &target).map_err(io("installing", &target))?;
        let _ = fs::remove_dir_all(&old);
        Ok(())
    }

    /// Removes a plugin and its grants; with `purge`, its key-value data too.
    pub fn remove(&self, name: &str, purge: bool) -> Result<()> {
        crate::manifest::check_name(name)?;
        let _changes = self.lock_changes();
        let removed = self.write_plugins().remove(name);
        self.close_plugin_io(name, "the plugin was removed");
        self.reconcile(name);
        let dir = self.inner.plugins_dir.join(name);
        if removed.is_none() && !dir.exists() {
            return Err(HostError::UnknownPlugin(name.to_owned()));
        }
        // Secrets first: a failure after this point leaves no key for a later plugin of this name.
        self.db().delete_plugin_secrets(name)?;
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| HostError::io("removing", &dir, e))?;
        }
        self.db().revoke_all(name)?;
        if purge {
            self.db().kv_clear(name)?;
        }
        Ok(())
    }

    /// Enables or disables a plugin; disabled plugins refuse calls.
    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<PluginInfo> {
        let changes = self.lock_changes();
        let current = self.get(name)?;
        let marker = self.inner.plugins_dir.join(name).join(DISABLED_MARKER);
        if enabled {
            match fs::remove_file(&marker) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(HostError::io("enabling", &marker, e)),
            }
        } else {
            fs::write(&marker, b"").map_err(|e| HostError::io("disabling", &marker, e))?;
        }
        let loaded = self.make_loaded(current.manifest.clone(), current.wasm.clone(), enabled);
        self.write_plugins().insert(name.to_owned(), Arc::new(loaded));
        if !enabled {
            self.close_plugin_io(name, "the plugin was disabled");
        }
        self.reconcile(name);
        drop(changes);
        self.info(name)
    }

    /// Describes one plugin.
    pub fn info(&self, name: &str) -> Result<PluginInfo> {
        let loaded = self.get(name)?;
        let granted = self.db().list_grants(name)?.into_iter().map(|g| g.grant).collect();
        let m = &loaded.manifest;
        Ok(PluginInfo {
            name: m.name.clone(),
            version: m.version.clone(),
            description: m.description.clone(),
            exports: m.exports.clone(),
            public: m.public.clone(),
            requested_grants: m.grants.clone(),
            granted,
            enabled: loaded.enabled,
            sha256: loaded.sha256.to_string(),
            wasm_bytes: loaded.wasm.len(),
            instances: loaded.pool.counts().0,
            rooms: self.inner.state.rt.rooms_of(name).len(),
            realtime: self.inner.state.rt.plugin_counters(name).snapshot(),
        })
    }

    /// Describes every plugin, by name.
    pub fn list(&self) -> Result<Vec<PluginInfo>> {
        let names: Vec<String> =
            self.inner.plugins.read().unwrap_or_else(PoisonError::into_inner).keys().cloned().collect();
        names.iter().map(|n| self.info(n)).collect()
    }

    /// Whether `function` of an installed plugin is public (callable by every signed-in user),
    /// without building the plugin's whole description.
    pub fn is_public(&self, plugin: &str, function: &str) -> Result<bool> {
        Ok(self.get(plugin)?.manifest.public.iter().any(|f| f == function))
    }

    /// The manifest of an installed plugin.
    pub fn manifest(&self, name: &str) -> Result<PluginManifest> {
        Ok(self.get(name)?.manifest.clone())
    }

    /// Grants `grants` (plain grants or [`GrantSpec`]s such as `call:auth`) to an installed plugin.
    pub fn grant<G: Clone + Into<GrantSpec>>(&self, name: &str, grants: &[G]) -> Result<()> {
        self.get(name)?;
        let names: Vec<String> = grants.iter().map(|g| g.clone().into().as_string()).collect();
        Ok(self.db().grant(name, &names, self.inner.state.clock.now_ms())?)
    }

    /// Stores (or replaces) the secret `name` of `plugin`, bound to `origin`
    /// (`scheme://host[:port]`): the host puts it into the headers of the plugin's requests to
    /// that origin that name `{{secret:<name>}}`, and no host function returns it.
    pub fn set_secret(&self, plugin: &str, name: &str, value: &str, origin: &str) -> Result<a2e_abi::SecretInfo> {
        let _changes = self.lock_changes();
        self.get(plugin)?;
        host_fns::check_secret_name(name).map_err(HostError::InvalidSecret)?;
        host_fns::check_secret_value(value).map_err(HostError::InvalidSecret)?;
        let origin = host_fns::secret_origin(origin).map_err(HostError::InvalidSecret)?;
        Ok(self.db().set_plugin_secret(plugin, name, value, &origin, self.inner.state.clock.now_ms())?)
    }

    /// The secrets of `plugin` by name: names and origins, never values.
    pub fn secrets(&self, plugin: &str) -> Result<Vec<a2e_abi::SecretInfo>> {
        self.get(plugin)?;
        Ok(self.db().list_plugin_secrets(plugin)?)
    }

    /// Deletes the secret `name` of `plugin`; returns whether it existed.
    pub fn delete_secret(&self, plugin: &str, name: &str) -> Result<bool> {
        let _changes = self.lock_changes();
        self.get(plugin)?;
        host_fns::check_secret_name(name).map_err(HostError::InvalidSecret)?;
        Ok(self.db().delete_plugin_secret(plugin, name)?)
    }

    /// Revokes one grant; returns whether it was held. Takes effect on the next call.
    pub fn revoke(&self, name: &str, grant: impl Into<GrantSpec>) -> Result<bool> {
        self.get(name)?;
        let grant = grant.into();
        let revoked = self.db().revoke(name, &grant.as_string())?;
        if matches!(grant, GrantSpec::Http(_)) {
            self.inner.state.http.close_all(name);
        }
        Ok(revoked)
    }
}

fn failed(plugin: &str, function: &str, failure: CallFailure) -> HostError {
    tracing::warn!(plugin, function, %failure, "plugin call failed");
    HostError::CallFailed { plugin: plugin.to_owned(), function: function.to_owned(), failure }
}

/// Decides how a call failed from typed values: the fuel meter, wasmtime's trap code, the call's
/// clock. Extism 1.30 replaces two typed causes by fixed messages before they reach a2e: the
/// timeout trap (`Trap::Interrupt`) becomes the error "timeout", so the clock decides (only
/// Extism's timer interrupts a call, and only after the limit); and its memory limiter's refusal
/// is the error "oom", which has no type of its own, so that one exact value is compared.
fn classify_failure(err: &extism::Error, started: Instant, fuel_used: Option<u64>, limits: &Limits) -> CallFailure {
    if let (Some(limit), Some(used)) = (limits.fuel, fuel_used) {
        if used >= limit {
            return CallFailure::OutOfFuel { limit };
        }
    }
    // When the plugin set an error message before trapping, Extism wraps the trap's error as the
    // context of that message.
    let trap = err
        .downcast_ref::<wasmtime::Trap>()
        .or_else(|| err.chain().find_map(|e| e.downcast_ref()))
        .or_else(|| err.downcast_ref::<extism::Error>().and_then(|inner| inner.downcast_ref::<wasmtime::Trap>()));
    if let Some(trap) = trap {
        return match trap {
            wasmtime::Trap::Interrupt => CallFailure::Timeout { limit_ms: limits.timeout_ms },
            wasmtime::Trap::OutOfFuel => CallFailure::OutOfFuel { limit: limits.fuel.unwrap_or_default() },
            other => CallFailure::Trap { trap: other.to_string(), function: innermost_function(err) },
        };
    }
    if started.elapsed() >= Duration::from_millis(limits.timeout_ms) {
        return CallFailure::Timeout { limit_ms: limits.timeout_ms };
    }
    if err.root_cause().to_string() == EXTISM_MEMORY_LIMIT {
        return CallFailure::OutOfMemory { limit_pages: limits.memory_pages };
    }
    // The plugin's own message (or the runtime's), with every cause kept.
    let text = format!("{err:#}");
    let mut message: String = text.chars().take(1000).collect();
    if message.len() < text.len() {
        message.push('…');
    }
    CallFailure::Reported(message)
}

/// The error Extism's memory limiter returns when a plugin asks for more than `memory_max`.
const EXTISM_MEMORY_LIMIT: &str = "oom";

/// The innermost named wasm function of a trap's backtrace.
fn innermost_function(err: &extism::Error) -> Option<String> {
    let trace = err.downcast_ref::<wasmtime::WasmBacktrace>()?;
    trace.frames().iter().find_map(|frame| frame.func_name().map(str::to_owned))
}

/// Writes the wasmtime cache configuration that points into `cache_dir`.
fn write_cache_config(cache_dir: &Path) -> Result<PathBuf> {
    let modules = cache_dir.join("wasmtime");
    fs::create_dir_all(&modules).map_err(|e| HostError::io("creating cache dir", &modules, e))?;
    let modules = modules.canonicalize().map_err(|e| HostError::io("resolving cache dir", &modules, e))?;
    let path = cache_dir.join("wasmtime.toml");
    let escaped = modules.display().to_string().replace('\\', "\\\\").replace('"', "\\\"");
    let text = format!("[cache]\ndirectory = \"{escaped}\"\n");
    if fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        let tmp = cache_dir.join(format!("wasmtime.toml.{}", std::process::id()));
        fs::write(&tmp, &text).map_err(|e| HostError::io("writing", &tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| HostError::io("writing", &path, e))?;
    }
    Ok(path)
}
