//! Embeds the bundled plugins (auth and the game's plugins, built for wasm32, with their package
//! metadata) into the server, and rebuilds it when the web UI (`frontend/dist`, embedded by
//! `src/ui.rs`) changes, so `a2e serve` needs nothing else at run time. Whatever is missing at
//! build time is recorded as missing; the server says so when asked.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use cargo_metadata::{MetadataCommand, Package};

/// Plugins installed (and granted what they request) on first start.
const BUNDLED: &[&str] = &["auth", "game-logic", "anticheat", "tick-manager", "audit", "chat"];

/// Embeds the bundled plugins and tracks the web UI.
fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir.join("../..").canonicalize().expect("the workspace root");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    track_ui(&root.join("frontend").join("dist"));
    embed_plugins(&root, &out);
}

/// Makes cargo rebuild the server when the built UI changes. The `RustEmbed` derive in
/// `src/ui.rs` embeds `frontend/dist` and tracks each file it embeds, but not the folder itself:
/// without this, a UI built after the server (or a file added to it) would not be picked up.
fn track_ui(dist: &Path) {
    println!("cargo:rerun-if-changed={}", dist.display());
}

/// Where the plugins workspace put its wasm32 release builds: `A2E_PLUGIN_WASM_DIR`, or the
/// target dir this build runs in.
fn wasm_dir(root: &Path, out: &Path) -> PathBuf {
    println!("cargo:rerun-if-env-changed=A2E_PLUGIN_WASM_DIR");
    if let Some(dir) = std::env::var_os("A2E_PLUGIN_WASM_DIR") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| {
        // OUT_DIR is <target>/<profile>/build/<pkg>/out.
        out.ancestors().nth(4).map(Path::to_path_buf).unwrap_or_else(|| root.join("target"))
    });
    target.join("wasm32-unknown-unknown").join("release")
}

/// Writes `bundled_plugins.rs`: the bundled plugins that were built, each with its package
/// metadata and module, and the names of those that were not.
fn embed_plugins(root: &Path, out: &Path) {
    let dir = wasm_dir(root, out);
    let packages = cargo_packages(root);
    let mut code = String::from(
        "/// Bundled plugins: (name, cargo package metadata as JSON, module bytes); missing ones are absent.\npub static BUNDLED_PLUGINS: &[(&str, &str, &[u8])] = &[\n",
    );
    let mut missing = Vec::new();
    for name in BUNDLED {
        let wasm = dir.join(format!("{}.wasm", name.replace('-', "_")));
        println!("cargo:rerun-if-changed={}", wasm.display());
        println!("cargo:rerun-if-changed={}", root.join("plugins").join(name).join("Cargo.toml").display());
        let package = packages.iter().find(|p| p.name.as_str() == *name);
        match package {
            Some(package) if wasm.is_file() => {
                let json_path = out.join(format!("{name}.package.json"));
                let json = serde_json::to_string(package).expect("package metadata serializes to JSON");
                std::fs::write(&json_path, json).expect("writing package metadata");
                writeln!(
                    code,
                    "    ({name:?}, include_str!({:?}), include_bytes!({:?})),",
                    json_path.display().to_string(),
                    wasm.display().to_string()
                )
                .unwrap();
            }
            _ => missing.push(*name),
        }
    }
    code.push_str(
        "];\n/// Bundled plugins that were not built when the server was.\npub static MISSING_PLUGINS: &[&str] = &[",
    );
    for name in &missing {
        write!(code, "{name:?}, ").unwrap();
    }
    code.push_str("];\n");
    std::fs::write(out.join("bundled_plugins.rs"), code).expect("writing bundled_plugins.rs");
    if !missing.is_empty() {
        println!(
            "cargo:warning=bundled plugins not built ({}): build plugins/ for wasm32 first (`cargo xtask run` does)",
            missing.join(", ")
        );
    }
}

/// The packages of the plugins workspace, from `cargo metadata --no-deps`.
fn cargo_packages(root: &Path) -> Vec<Package> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let metadata = MetadataCommand::new()
        .cargo_path(cargo)
        .manifest_path(root.join("plugins").join("Cargo.toml"))
        .no_deps()
        .other_options(vec!["--offline".to_owned()])
        .exec();
    match metadata {
        Ok(metadata) => metadata.packages,
        Err(cargo_metadata::Error::CargoMetadata { stderr }) => {
            println!("cargo:warning=cargo metadata of plugins/ failed: {}", stderr.lines().next().unwrap_or_default());
            Vec::new()
        }
        Err(cargo_metadata::Error::ErrUtf8(e)) => {
            let err = String::from_utf8_lossy(e.as_bytes());
            println!("cargo:warning=cargo metadata of plugins/ failed: {}", err.lines().next().unwrap_or_default());
            Vec::new()
        }
        Err(cargo_metadata::Error::Io(e)) => {
            println!("cargo:warning=cargo metadata of plugins/ could not run: {e}");
            Vec::new()
        }
        Err(e) => panic!("reading the output of cargo metadata of plugins/: {e}"),
    }
}
