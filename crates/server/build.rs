//! Embeds the built web UI (`frontend/dist`) and the bundled plugins (auth and the game's
//! plugins, built for wasm32, with their package metadata) into the server, so `a2e serve` needs nothing else at run
//! time. Whatever is missing at build time is recorded as missing; the server says so when asked.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Plugins installed (and granted what they request) on first start.
const BUNDLED: &[&str] = &["auth", "game-logic", "anticheat", "tick-manager", "audit", "chat"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir.join("../..").canonicalize().expect("the workspace root");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    embed_ui(&root.join("frontend").join("dist"), &out);
    embed_plugins(&root, &out);
}

fn embed_ui(dist: &Path, out: &Path) {
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut files = Vec::new();
    if dist.is_dir() {
        collect(dist, dist, &mut files);
    }
    files.sort();
    let mut code =
        String::from("/// The built UI: (path, bytes), sorted by path.\npub static UI_FILES: &[(&str, &[u8])] = &[\n");
    for (rel, abs) in &files {
        writeln!(code, "    ({rel:?}, include_bytes!({:?})),", abs.display().to_string()).unwrap();
    }
    code.push_str("];\n");
    std::fs::write(out.join("ui_files.rs"), code).expect("writing ui_files.rs");
}

fn collect(base: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    for entry in std::fs::read_dir(dir).expect("reading frontend/dist").flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(base, &path, files);
        } else {
            let rel = path.strip_prefix(base).expect("inside dist").to_string_lossy().replace('\\', "/");
            files.push((rel, path));
        }
    }
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
        let package = packages.iter().find(|p| p["name"] == *name);
        match package {
            Some(package) if wasm.is_file() => {
                let json_path = out.join(format!("{name}.package.json"));
                std::fs::write(&json_path, package.to_string()).expect("writing package metadata");
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
fn cargo_packages(root: &Path) -> Vec<serde_json::Value> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--no-deps", "--offline", "--format-version", "1", "--manifest-path"])
        .arg(root.join("plugins").join("Cargo.toml"))
        .output();
    match output {
        Ok(o) if o.status.success() => {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("cargo metadata prints JSON");
            v["packages"].as_array().cloned().unwrap_or_default()
        }
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            println!("cargo:warning=cargo metadata of plugins/ failed: {}", err.lines().next().unwrap_or_default());
            Vec::new()
        }
        Err(e) => {
            println!("cargo:warning=cargo metadata of plugins/ could not run: {e}");
            Vec::new()
        }
    }
}
