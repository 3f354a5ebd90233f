//! Build, test and CI tasks for a2e: `cargo xtask test`, `cargo xtask run`, `cargo xtask bench`.
//!
//! Each task installs what it needs first (the wasm32 target through rustup) and says what to
//! install by hand when it cannot.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

const USAGE: &str = "usage: cargo xtask <command>

commands:
  test            set up, then run every check: fmt, clippy (warnings denied) and all tests
  run [ARGS...]   set up, build a2e in release mode and run it (default: `db init` then `db status`)
  bench           run every benchmark and print the ratio tables";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "test" => test(),
        "run" => run(&rest),
        "bench" => bench(),
        "" | "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_owned()
}

fn step(name: &str) {
    println!("\n==> {name}");
}

fn cargo(args: &[&str]) -> Result<()> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(root())
        .status()
        .with_context(|| format!("starting cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Makes sure the toolchain pieces the build needs are installed.
fn setup() -> Result<()> {
    step("setup: checking the wasm32-unknown-unknown target");
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    match installed {
        Ok(out) if String::from_utf8_lossy(&out.stdout).contains("wasm32-unknown-unknown") => Ok(()),
        Ok(_) => {
            let status = Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]).status()?;
            if !status.success() {
                bail!("could not install the wasm32-unknown-unknown target; run `rustup target add wasm32-unknown-unknown`");
            }
            Ok(())
        }
        Err(_) => {
            println!("rustup not found: make sure the wasm32-unknown-unknown target is installed for your toolchain");
            Ok(())
        }
    }
}

fn test() -> Result<()> {
    setup()?;
    step("cargo fmt --check");
    cargo(&["fmt", "--all", "--check"])?;
    step("cargo clippy (warnings denied)");
    cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    step("cargo test (workspace)");
    cargo(&["test", "--workspace"])?;
    println!("\nall checks passed");
    Ok(())
}

fn run(args: &[String]) -> Result<()> {
    setup()?;
    step("building a2e (release)");
    cargo(&["build", "--release", "--package", "a2e"])?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let bin = target.join("release").join("a2e");
    let runs: Vec<Vec<String>> = if args.is_empty() {
        vec![vec!["db".into(), "init".into()], vec!["db".into(), "status".into()]]
    } else {
        vec![args.to_vec()]
    };
    for args in runs {
        step(&format!("a2e {}", args.join(" ")));
        let status = Command::new(&bin).args(&args).status().with_context(|| format!("starting {}", bin.display()))?;
        if !status.success() {
            std::process::exit(status.code().unwrap_or(1));
        }
    }
    Ok(())
}

fn bench() -> Result<()> {
    setup()?;
    step("storage: plain SQLite vs SQLCipher");
    cargo(&["bench", "--package", "a2e-db", "--bench", "db"])?;
    Ok(())
}
