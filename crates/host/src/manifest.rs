//! plugin.json: parsing, validation against the module, and generation for a bare .wasm.

use std::collections::BTreeMap;

use a2e_abi::{GrantSpec, ABI_VERSION, HOST_NAMESPACE};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{HostError, Result};

/// Extism's kernel namespace; imports from it are always provided.
pub const KERNEL_NAMESPACE: &str = "extism:host/env";

/// Upper bounds every plugin runs within, whatever its manifest asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caps {
    /// Most 64 KiB memory pages a plugin may use.
    pub memory_pages: u32,
    /// Longest a call may run, in ms.
    pub timeout_ms: u64,
    /// Most instances per plugin.
    pub max_instances: u32,
    /// Largest output a call may return, in bytes.
    pub max_output_bytes: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps { memory_pages: 4096, timeout_ms: 30_000, max_instances: 8, max_output_bytes: 16 << 20 }
    }
}

/// Resource limits a plugin asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Memory in 64 KiB pages (default 256 = 16 MiB).
    #[serde(default = "default_pages")]
    pub memory_pages: u32,
    /// Wall-clock limit per call in ms (default 5000).
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Fuel (instructions, roughly) per call; none means unlimited within the timeout.
    #[serde(default)]
    pub fuel: Option<u64>,
    /// Instances kept for concurrent calls (default 4).
    #[serde(default = "default_instances")]
    pub max_instances: u32,
}

fn default_pages() -> u32 {
    256
}
fn default_timeout() -> u64 {
    5_000
}
fn default_instances() -> u32 {
    4
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_pages: default_pages(),
            timeout_ms: default_timeout(),
            fuel: None,
            max_instances: default_instances(),
        }
    }
}

/// The module file and its pin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmRef {
    /// File name next to plugin.json (no directories).
    pub file: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

/// A plugin's manifest (plugin.json).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginManifest {
    /// Unique name: lower-case letters, digits, '-' and '_', starting with a letter, at most 64.
    pub name: String,
    /// Version string.
    pub version: String,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// The a2e ABI version it was built for.
    pub abi_version: u32,
    /// The module.
    pub wasm: WasmRef,
    /// Functions it exports for callers.
    pub exports: Vec<String>,
    /// Exports that signed-in regular users may call (others are admin-only).
    #[serde(default)]
    pub public: Vec<String>,
    /// Capabilities it asks for.
    #[serde(default)]
    pub grants: Vec<String>,
    /// Resource limits.
    #[serde(default)]
    pub limits: Limits,
    /// Configuration readable with `config_get`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Who may join the plugin's rooms.
    #[serde(default, skip_serializing_if = "RoomPolicy::is_default")]
    pub rooms: RoomPolicy,
    /// Exports the host runs on a schedule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<Schedule>,
    /// Exports the host calls with events of the given kinds (each kind needs a
    /// `subscribe:<kind>` grant).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<Subscription>,
}

/// Who may join a plugin's rooms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomPolicy {
    /// Clients that are not signed in may join (the plugin still decides each join).
    #[serde(default)]
    pub anonymous: bool,
}

impl RoomPolicy {
    fn is_default(&self) -> bool {
        self == &RoomPolicy::default()
    }
}

/// An export run on a schedule: exactly one of `every_secs` and `cron`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// The export to run.
    pub export: String,
    /// Run every this many seconds (1 to 604800), counted from when the host starts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_secs: Option<u64>,
    /// Run at the times of this cron expression, in UTC: five fields (minute hour day month
    /// weekday), or six or seven with seconds first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
}

/// An export called with every event whose kind one of `kinds` covers (`kind`, `prefix.`, `*`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    /// The export to call.
    pub export: String,
    /// Event kinds and prefixes.
    pub kinds: Vec<String>,
}

/// What a module imports and exports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleInfo {
    /// Exported function names.
    pub exports: Vec<String>,
    /// Imported functions as (module, name).
    pub imports: Vec<(String, String)>,
}

/// Reads a module's imports and exports. Fails on anything that is not a valid module.
pub fn inspect_module(wasm: &[u8]) -> Result<ModuleInfo> {
    use wasmparser::{ExternalKind, Parser, Payload, TypeRef};
    let mut info = ModuleInfo::default();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| HostError::Invalid(format!("not a WebAssembly module: {e}")))?;
        match payload {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(|e| HostError::Invalid(format!("bad import section: {e}")))?;
                    if matches!(import.ty, TypeRef::Func(_)) {
                        info.imports.push((import.module.to_owned(), import.name.to_owned()));
                    }
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(|e| HostError::Invalid(format!("bad export section: {e}")))?;
                    if export.kind == ExternalKind::Func {
                        info.exports.push(export.name.to_owned());
                    }
                }
            }
            Payload::ComponentSection { .. } | Payload::ModuleSection { .. } => {
                return Err(HostError::Invalid("components are not supported; build a core module".into()));
            }
            _ => {}
        }
    }
    Ok(info)
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Checks a plugin name.
pub fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        return Err(HostError::Invalid(format!(
            "plugin name `{name}` must start with a lower-case letter and use only a-z, 0-9, '-' and '_' (at most 64)"
        )));
    }
    Ok(())
}

impl PluginManifest {
    /// Parses plugin.json text; unknown fields are refused with serde's message naming them.
    pub fn parse(text: &str) -> Result<PluginManifest> {
        serde_json::from_str(text).map_err(|e| HostError::Invalid(format!("plugin.json: {e}")))
    }

    /// The requested grants, parsed.
    pub fn grant_set(&self) -> Result<Vec<GrantSpec>> {
        self.grants.iter().map(|g| GrantSpec::parse(g).map_err(HostError::Invalid)).collect()
    }

    /// Checks the realtime sections: exports exist, schedules parse, subscriptions are granted.
    fn validate_realtime(&self) -> Result<()> {
        let exported = |what: &str, export: &str| {
            if self.exports.iter().any(|e| e == export) {
                Ok(())
            } else {
                Err(HostError::Invalid(format!("{what} names export `{export}`, which is not in exports")))
            }
        };
        for (i, schedule) in self.schedules.iter().enumerate() {
            exported(&format!("schedules[{i}]"), &schedule.export)?;
            match (&schedule.every_secs, &schedule.cron) {
                (Some(secs), None) if (1..=604_800).contains(secs) => {}
                (Some(_), None) => {
                    return Err(HostError::Invalid(format!("schedules[{i}].every_secs must be 1 to 604800")))
                }
                (None, Some(expr)) => {
                    crate::rt::parse_cron(expr).map_err(|e| HostError::Invalid(format!("schedules[{i}]: {e}")))?;
                }
                _ => {
                    return Err(HostError::Invalid(format!("schedules[{i}] needs exactly one of every_secs and cron")))
                }
            }
        }
        let granted = self.grant_set()?;
        for (i, sub) in self.subscriptions.iter().enumerate() {
            exported(&format!("subscriptions[{i}]"), &sub.export)?;
            if sub.kinds.is_empty() {
                return Err(HostError::Invalid(format!("subscriptions[{i}].kinds must name at least one kind")));
            }
            for kind in &sub.kinds {
                let spec = GrantSpec::parse(&format!("subscribe:{kind}"))
                    .map_err(|e| HostError::Invalid(format!("subscriptions[{i}]: {e}")))?;
                if !granted.contains(&spec) {
                    return Err(HostError::Invalid(format!(
                        "subscriptions[{i}] listens to `{kind}`; add `{spec}` to grants"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Validates the manifest on its own and against the module bytes.
    pub fn validate(&self, wasm: &[u8], caps: &Caps) -> Result<ModuleInfo> {
        check_name(&self.name)?;
        if self.abi_version != ABI_VERSION {
            return Err(HostError::Invalid(format!(
                "plugin `{}` targets ABI version {}, this host speaks {ABI_VERSION}",
                self.name, self.abi_version
            )));
        }
        let file = &self.wasm.file;
        if file.is_empty() || file.contains(['/', '\\']) || file == "." || file == ".." || !file.ends_with(".wasm") {
            return Err(HostError::Invalid(format!("wasm.file `{file}` must be a plain file name ending in .wasm")));
        }
        self.grant_set()?;
        let actual = sha256_hex(wasm);
        if !actual.eq_ignore_ascii_case(&self.wasm.sha256) {
            return Err(HostError::Invalid(format!(
                "sha256 mismatch for {file}: plugin.json pins {}, the file is {actual}",
                self.wasm.sha256
            )));
        }
        let limits = &self.limits;
        if limits.memory_pages == 0 || limits.memory_pages > caps.memory_pages {
            return Err(HostError::Invalid(format!("limits.memory_pages must be 1 to {}", caps.memory_pages)));
        }
        if limits.timeout_ms == 0 || limits.timeout_ms > caps.timeout_ms {
            return Err(HostError::Invalid(format!("limits.timeout_ms must be 1 to {}", caps.timeout_ms)));
        }
        if limits.max_instances == 0 || limits.max_instances > caps.max_instances {
            return Err(HostError::Invalid(format!("limits.max_instances must be 1 to {}", caps.max_instances)));
        }
        if limits.fuel == Some(0) {
            return Err(HostError::Invalid("limits.fuel must be positive".into()));
        }
        let info = inspect_module(wasm)?;
        for export in &self.exports {
            if !info.exports.contains(export) {
                return Err(HostError::Invalid(format!(
                    "plugin.json lists export `{export}`, the module does not export it"
                )));
            }
        }
        for public in &self.public {
            if !self.exports.contains(public) {
                return Err(HostError::Invalid(format!("public function `{public}` is not in exports")));
            }
        }
        self.validate_realtime()?;
        for (module, name) in &info.imports {
            let known = match module.as_str() {
                KERNEL_NAMESPACE => true,
                HOST_NAMESPACE => a2e_abi::functions::find(name).is_some(),
                _ => false,
            };
            if !known {
                return Err(HostError::Invalid(format!(
                    "the module imports `{module}::{name}`, which a2e does not provide (a2e offers Extism's kernel and the host functions in docs/plugin-abi.md; WASI is off)"
                )));
            }
        }
        Ok(info)
    }

    /// A manifest for a bare module: name from the file name, every export, no grants.
    pub fn generate(file_name: &str, wasm: &[u8]) -> Result<PluginManifest> {
        let stem = file_name.strip_suffix(".wasm").unwrap_or(file_name);
        let name: String = stem
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c.to_ascii_lowercase() } else { '-' })
            .collect::<String>()
            .trim_matches('-')
            .to_owned();
        check_name(&name)?;
        let info = inspect_module(wasm)?;
        let internal = |n: &str| n.starts_with('_') || n == "memory" || n.starts_with("__");
        Ok(PluginManifest {
            name: name.clone(),
            version: "0.0.0".into(),
            description: format!("installed from {file_name}"),
            abi_version: ABI_VERSION,
            wasm: WasmRef { file: format!("{name}.wasm"), sha256: sha256_hex(wasm) },
            exports: info.exports.into_iter().filter(|e| !internal(e)).collect(),
            public: Vec::new(),
            grants: Vec::new(),
            limits: Limits::default(),
            config: BTreeMap::new(),
            rooms: RoomPolicy::default(),
            schedules: Vec::new(),
            subscriptions: Vec::new(),
        })
    }

    /// The manifest of a plugin crate: name, version and description from its `[package]`,
    /// grants, public functions, limits and config from `[package.metadata.a2e]`, and every
    /// export of the built module. `package` is one entry of `cargo metadata`'s `packages`.
    /// The result is validated against `wasm`.
    pub fn from_cargo_package(package: &serde_json::Value, wasm: &[u8]) -> Result<PluginManifest> {
        let name = package["name"].as_str().unwrap_or_default().to_owned();
        check_name(&name)?;
        let meta = &package["metadata"]["a2e"];
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default()
        };
        // A section absent from the metadata takes its default.
        fn section<T: serde::de::DeserializeOwned + Default>(
            meta: &serde_json::Value,
            key: &str,
            name: &str,
        ) -> Result<T> {
            if meta[key].is_null() {
                return Ok(T::default());
            }
            serde_json::from_value(meta[key].clone())
                .map_err(|e| HostError::Invalid(format!("[package.metadata.a2e] {key} of `{name}`: {e}")))
        }
        let limits: Limits = section(meta, "limits", &name)?;
        let config: BTreeMap<String, String> = section(meta, "config", &name)?;
        let rooms: RoomPolicy = section(meta, "rooms", &name)?;
        let schedules: Vec<Schedule> = section(meta, "schedules", &name)?;
        let subscriptions: Vec<Subscription> = section(meta, "subscriptions", &name)?;
        let internal = |n: &str| n.starts_with('_') || n == "memory";
        let exports = inspect_module(wasm)?.exports.into_iter().filter(|e| !internal(e)).collect();
        let manifest = PluginManifest {
            version: package["version"].as_str().unwrap_or("0.0.0").to_owned(),
            description: package["description"].as_str().unwrap_or_default().to_owned(),
            abi_version: ABI_VERSION,
            wasm: WasmRef { file: format!("{name}.wasm"), sha256: sha256_hex(wasm) },
            exports,
            public: strings(&meta["public"]),
            grants: strings(&meta["grants"]),
            limits,
            config,
            rooms,
            schedules,
            subscriptions,
            name,
        };
        manifest.validate(wasm, &Caps::default())?;
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> PluginManifest {
        PluginManifest::parse(
            r#"{"name":"demo","version":"1.0.0","abi_version":1,"wasm":{"file":"demo.wasm","sha256":"00"},"exports":[]}"#,
        )
        .unwrap()
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let err = PluginManifest::parse(r#"{"name":"x","version":"1","abi_version":1,"wasm":{"file":"x.wasm","sha256":""},"exports":[],"colour":"red"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn names_are_checked() {
        for bad in ["", "Upper", "1abc", "a/b", "../x", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        check_name("auth-2_x").unwrap();
    }

    #[test]
    fn unknown_grant_is_named() {
        let mut m = manifest();
        m.grants = vec!["kv".into(), "db:everything".into()];
        let err = m.grant_set().unwrap_err();
        assert!(err.to_string().contains("db:everything"), "{err}");
    }

    #[test]
    fn traversal_in_wasm_file_is_refused() {
        let mut m = manifest();
        m.wasm.file = "../../etc/passwd.wasm".into();
        let err = m.validate(b"", &Caps::default()).unwrap_err();
        assert!(err.to_string().contains("plain file name"), "{err}");
    }

    #[test]
    fn hash_mismatch_is_refused() {
        let err = manifest().validate(b"\0asm\x01\0\0\0", &Caps::default()).unwrap_err();
        assert!(err.to_string().contains("sha256 mismatch"), "{err}");
    }
}
