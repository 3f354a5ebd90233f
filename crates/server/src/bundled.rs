//! Plugins built into the binary (auth, and the game: game-logic, anticheat, tick-manager,
//! audit) and their installation on first start.

use a2e_host::{Host, HostError, InstallOptions, PluginManifest, PluginSource};

include!(concat!(env!("OUT_DIR"), "/bundled_plugins.rs"));

/// What [`install`] did for one bundled plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Installed now, with the grants its manifest requests.
    Installed(String),
    /// Replaced an older build, and granted what it requests.
    Upgraded(String),
    /// The same build is installed already.
    Current(String),
    /// Not built into this binary.
    Missing(String),
}

/// The bundled plugins' manifests and modules.
pub fn sources() -> Result<Vec<PluginSource>, HostError> {
    BUNDLED_PLUGINS
        .iter()
        .map(|(name, package, wasm)| {
            let package: serde_json::Value = serde_json::from_str(package)
                .map_err(|e| HostError::Internal(format!("bundled metadata of {name}: {e}")))?;
            let manifest = PluginManifest::from_cargo_package(&package, wasm)?;
            Ok(PluginSource { manifest, wasm: wasm.to_vec() })
        })
        .collect()
}

/// Installs every bundled plugin that is not installed (granting what it requests), and
/// upgrades those installed from another build of it. A plugin removed by an administrator is
/// installed again on the next start.
pub fn install(host: &Host) -> Result<Vec<Outcome>, HostError> {
    let mut outcomes: Vec<Outcome> = MISSING_PLUGINS.iter().map(|n| Outcome::Missing((*n).to_owned())).collect();
    for source in sources()? {
        let name = source.manifest.name.clone();
        match host.info(&name) {
            Ok(info) if info.sha256 == source.manifest.wasm.sha256 => outcomes.push(Outcome::Current(name)),
            Ok(_) => {
                host.install_source(source, &InstallOptions { replace: true, grant_requested: true })?;
                outcomes.push(Outcome::Upgraded(name));
            }
            Err(HostError::UnknownPlugin(_)) => {
                host.install_source(source, &InstallOptions { replace: false, grant_requested: true })?;
                outcomes.push(Outcome::Installed(name));
            }
            Err(other) => return Err(other),
        }
    }
    Ok(outcomes)
}
