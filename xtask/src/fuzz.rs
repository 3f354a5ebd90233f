//! Fuzzing with cargo-fuzz (libFuzzer): `cargo xtask fuzz NAME|all [--seconds N|--minutes N]`,
//! and a short run of every target in `cargo xtask test`.
//!
//! The targets live in `fuzz/` (their own cargo workspace, built with the nightly toolchain and
//! libFuzzer's coverage instrumentation into the shared target dir). Each run starts from the
//! committed seeds (`fuzz/seeds/NAME`) and every input that once crashed
//! (`fuzz/regressions/NAME`, replayed first, so a fixed crash stays fixed), plus the corpus the
//! earlier runs on this machine grew (`<target>/fuzz-corpus/NAME`). A crash stops the run, saves
//! the input under `<target>/fuzz-artifacts/NAME/` and fails the task with the command that
//! replays it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Every fuzz target.
pub const TARGETS: &[&str] = &["manifest", "host_functions", "auth_plugin", "auth_http"];

/// The cargo-fuzz release the tasks install when it is missing.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// Build flags: no sanitizer (the code under test is safe Rust; the C parts, SQLCipher and
/// libFuzzer, are not instrumented either way), debug assertions and overflow checks on, the
/// real `cfg` (no `cfg(fuzzing)` switching dependencies to other code paths), and 16 codegen
/// units (cargo-fuzz defaults to one per crate, leaving LLVM one thread per crate; with 16 the
/// cold build took 13.5 minutes here).
const BUILD_FLAGS: &[&str] = &["-s", "none", "-a", "--no-cfg-fuzzing", "--codegen-units", "16"];

fn ok(program: &str, args: &[&str]) -> bool {
    Command::new(program).args(args).output().is_ok_and(|o| o.status.success())
}

/// Installs the nightly toolchain and cargo-fuzz when missing (both from the Rust registries).
pub fn tools() -> Result<()> {
    if !ok("rustup", &["run", "nightly", "rustc", "--version"]) {
        crate::step("installing the nightly Rust toolchain (cargo-fuzz needs it)");
        let status = Command::new("rustup").args(["toolchain", "install", "nightly", "--profile", "minimal"]).status();
        if !status.is_ok_and(|s| s.success()) {
            bail!("could not install the nightly toolchain; run `rustup toolchain install nightly --profile minimal`");
        }
    }
    if !ok("cargo", &["fuzz", "--version"]) {
        crate::step(&format!("installing cargo-fuzz {CARGO_FUZZ_VERSION} from crates.io"));
        let status =
            Command::new("cargo").args(["install", "--locked", "cargo-fuzz", "--version", CARGO_FUZZ_VERSION]).status();
        if !status.is_ok_and(|s| s.success()) {
            bail!("could not install cargo-fuzz; run `cargo install --locked cargo-fuzz`");
        }
    }
    Ok(())
}

fn fuzz_cargo(root: &Path, target_dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.arg("+nightly").arg("fuzz").args(args).current_dir(root.join("fuzz"));
    // The targets find the plugins built for wasm32 here (the server embeds the auth plugin at
    // build time from the same place).
    cmd.env("CARGO_TARGET_DIR", target_dir);
    cmd.env("A2E_PLUGIN_WASM_DIR", target_dir.join("wasm32-unknown-unknown").join("release"));
    // A set RUST_BACKTRACE makes every Extism call capture a backtrace.
    cmd.env("RUST_LIB_BACKTRACE", "0");
    // As the a2e binaries run (a2e_host::process): freed Argon2 buffers go back to the system.
    cmd.env("MALLOC_MMAP_THRESHOLD_", "131072");
    cmd
}

/// Builds every target (the plugins must be built first).
pub fn build(root: &Path, target_dir: &Path) -> Result<()> {
    crate::step("building the fuzz targets (nightly, libFuzzer)");
    let target_dir_arg = target_dir.display().to_string();
    let mut args = vec!["build"];
    args.extend_from_slice(BUILD_FLAGS);
    args.extend_from_slice(&["--target-dir", &target_dir_arg]);
    let status = fuzz_cargo(root, target_dir, &args).status().context("starting cargo fuzz")?;
    if !status.success() {
        bail!("building the fuzz targets failed ({status})");
    }
    Ok(())
}

/// How much of libFuzzer's output to show.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// All of it, as it comes.
    Stream,
    /// Into `<target>/fuzz-logs/NAME.log`; the summary is printed, and the log's end on failure.
    Summary,
}

/// Runs target `name` for `seconds`, after replaying its seeds and regression inputs.
pub fn run(root: &Path, target_dir: &Path, name: &str, seconds: u64, output: Output) -> Result<()> {
    if !TARGETS.contains(&name) {
        bail!("unknown fuzz target `{name}` (targets: {})", TARGETS.join(", "));
    }
    crate::step(&format!("fuzzing `{name}` for {seconds} s"));
    let corpus = target_dir.join("fuzz-corpus").join(name);
    let artifacts = target_dir.join("fuzz-artifacts").join(name);
    for dir in [&corpus, &artifacts] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let seeds = root.join("fuzz").join("seeds").join(name);
    let regressions = root.join("fuzz").join("regressions").join(name);
    let target_dir_arg = target_dir.display().to_string();
    let mut args = vec!["run"];
    args.extend_from_slice(BUILD_FLAGS);
    args.extend_from_slice(&["--target-dir", &target_dir_arg, name]);
    let mut dirs: Vec<PathBuf> = vec![corpus];
    dirs.extend([seeds, regressions].into_iter().filter(|d| d.is_dir()));
    let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    args.extend(dirs.iter().map(String::as_str));
    let max_time = format!("-max_total_time={seconds}");
    let prefix = format!("-artifact_prefix={}/", artifacts.display());
    args.extend_from_slice(&[
        "--",
        &max_time,
        &prefix,
        // One input may run argon2id a few times; anything near this is a hang.
        "-timeout=30",
        "-rss_limit_mb=4096",
        "-max_len=16384",
        "-print_final_stats=1",
    ]);
    let mut cmd = fuzz_cargo(root, target_dir, &args);
    let log = target_dir.join("fuzz-logs").join(format!("{name}.log"));
    if output == Output::Summary {
        std::fs::create_dir_all(log.parent().expect("log dir"))?;
        let file = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        cmd.stderr(file.try_clone()?).stdout(file);
    }
    let status = cmd.status().context("starting cargo fuzz")?;
    if output == Output::Summary {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let summary: Vec<&str> =
            lines.iter().copied().filter(|l| l.starts_with("Done ") || l.starts_with("stat::")).collect();
        let shown = if status.success() { summary } else { lines[lines.len().saturating_sub(60)..].to_vec() };
        for line in shown {
            println!("  {line}");
        }
        println!("  (full output: {})", log.display());
    }
    if !status.success() {
        bail!(
            "fuzz target `{name}` failed ({status}); the input is saved in {} \
             (replay: cd fuzz && cargo +nightly fuzz run {} {name} <input>; \
             then copy it to fuzz/regressions/{name}/ and add a test for the fix)",
            artifacts.display(),
            BUILD_FLAGS.join(" ")
        );
    }
    Ok(())
}

/// Parses `NAME|all [--seconds N|--minutes N]` (default: one minute each).
pub fn parse_args(args: &[String]) -> Result<(Vec<String>, u64)> {
    let usage = "usage: cargo xtask fuzz NAME|all [--seconds N|--minutes N]";
    let Some(name) = args.first() else { bail!("{usage} (targets: {})", TARGETS.join(", ")) };
    let names: Vec<String> = match name.as_str() {
        "all" => TARGETS.iter().map(|t| (*t).to_owned()).collect(),
        one if TARGETS.contains(&one) => vec![one.to_owned()],
        other => bail!("unknown fuzz target `{other}` (targets: {}, or all)", TARGETS.join(", ")),
    };
    let seconds = match args.get(1..) {
        Some([]) | None => 60,
        Some([flag, value]) if flag == "--seconds" || flag == "--minutes" => {
            let n: f64 = value.parse().with_context(|| format!("{flag} needs a number, not `{value}`"))?;
            if !(n.is_finite() && n > 0.0) {
                bail!("{flag} needs a positive number, not `{value}`");
            }
            let secs = if flag == "--minutes" { n * 60.0 } else { n };
            (secs.round() as u64).max(1)
        }
        Some(_) => bail!("{usage}"),
    };
    Ok((names, seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn one_target_or_all_with_a_duration() {
        assert_eq!(parse_args(&args(&["manifest"])).unwrap(), (vec!["manifest".to_owned()], 60));
        assert_eq!(parse_args(&args(&["auth_http", "--minutes", "2.5"])).unwrap().1, 150);
        let (names, secs) = parse_args(&args(&["all", "--seconds", "5"])).unwrap();
        assert_eq!((names.len(), secs), (TARGETS.len(), 5));
    }

    #[test]
    fn bad_arguments_are_refused_with_the_reason() {
        let err = |list: &[&str]| parse_args(&args(list)).unwrap_err().to_string();
        assert!(err(&[]).contains("usage"));
        assert!(err(&["nope"]).contains("unknown fuzz target `nope`"));
        assert!(err(&["manifest", "--minutes", "ten"]).contains("needs a number"));
        assert!(err(&["manifest", "--seconds", "-3"]).contains("positive"));
        assert!(err(&["manifest", "--hours", "1"]).contains("usage"));
    }
}
