//! `a2e plugin ...`: new, build, install, list, call, remove, grants, grant, revoke, enable, disable,
//! secret.

use std::io::{BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use a2e_abi::GrantSpec;
use a2e_host::manifest::PluginManifest;
use a2e_host::{CallOptions, Host, HostConfig, InstallOptions};
use a2e_server::plugins::{sign_in_lockout, PluginChange};
use anyhow::{bail, Context};
use cargo_metadata::{Message, MetadataCommand};
use clap::Subcommand;
use serde_json::{json, Value};

use crate::exit::{self, coded};
use crate::{open_db, Cli};

#[derive(Subcommand, Debug)]
pub(crate) enum PluginCommand {
    /// Create a new plugin project from the template; it builds as is.
    New {
        /// Plugin name (lower-case letters, digits, '-' and '_').
        name: String,
        /// Parent directory of the new project.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// What to start from: `basic` (functions called over HTTP) or `realtime` (a shared
        /// counter room: joins, ticks, a schedule).
        #[arg(long, value_enum, default_value = "basic")]
        template: Template,
        /// The plugin's language: `rust` (cargo) or `assemblyscript` (npm; the basic template).
        #[arg(long, value_enum, default_value = "rust")]
        lang: Lang,
    },
    /// Build a plugin project for wasm32 and write dist/plugin.json and the module.
    Build {
        /// The project directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Where to write plugin.json and the module (default: DIR/dist).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Install a plugin from a directory, a plugin.json or a .wasm file.
    Install {
        /// Plugin directory, plugin.json, or .wasm.
        path: PathBuf,
        /// Grant what the plugin requests without asking.
        #[arg(long)]
        yes: bool,
        /// Install without granting anything.
        #[arg(long, conflicts_with = "yes")]
        no_grants: bool,
        /// Replace an installed plugin of the same name.
        #[arg(long)]
        replace: bool,
    },
    /// List installed plugins.
    List,
    /// Call FUNCTION of plugin NAME with INPUT (or standard input when INPUT is '-' or absent)
    /// and print the output bytes.
    Call {
        /// Plugin name.
        name: String,
        /// Exported function.
        function: String,
        /// Input bytes as text; '-' reads standard input.
        input: Option<String>,
    },
    /// Remove a plugin, its grants and its secrets.
    Remove {
        /// Plugin name.
        name: String,
        /// Also delete the plugin's key-value data.
        #[arg(long)]
        purge: bool,
        /// Remove it even if it signs people in (every account is locked out until it is back).
        #[arg(long)]
        force: bool,
    },
    /// Show the grants a plugin requests and holds.
    Grants {
        /// Plugin name.
        name: String,
    },
    /// Grant a plugin a capability.
    Grant {
        /// Plugin name.
        name: String,
        /// Grant name, such as kv, db:users, call:auth or subscribe:auth.
        grant: String,
    },
    /// Revoke a grant; it takes effect on the next call.
    Revoke {
        /// Plugin name.
        name: String,
        /// Grant name.
        grant: String,
        /// Revoke it even if the plugin signs people in and needs it.
        #[arg(long)]
        force: bool,
    },
    /// Accept calls to a plugin again.
    Enable {
        /// Plugin name.
        name: String,
    },
    /// Refuse calls to a plugin.
    Disable {
        /// Plugin name.
        name: String,
        /// Disable it even if it signs people in (every account is locked out until it is enabled).
        #[arg(long)]
        force: bool,
    },
    /// Set, list and delete a plugin's secrets (API keys): the host puts one into the plugin's
    /// requests to the one origin it is bound to, and never shows its value.
    #[command(subcommand)]
    Secret(SecretCommand),
}

/// `a2e plugin secret ...`: the secrets of a plugin.
#[derive(Subcommand, Debug)]
pub(crate) enum SecretCommand {
    /// Set (or replace) a secret; reads the value from standard input, or asks for it without
    /// echo on a terminal.
    Set {
        /// Plugin name.
        plugin: String,
        /// Secret name: 1-64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit.
        name: String,
        /// The only origin (`scheme://host[:port]`) the secret is sent to.
        #[arg(long, value_name = "URL")]
        origin: String,
    },
    /// List a plugin's secrets: names, origins and when they were set, never values.
    List {
        /// Plugin name.
        plugin: String,
    },
    /// Delete a secret; exits 1 when the plugin has no secret of that name.
    Delete {
        /// Plugin name.
        plugin: String,
        /// Secret name.
        name: String,
    },
}

pub(crate) fn run(cli: &Cli, cmd: &PluginCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PluginCommand::New { name, dir, template, lang: Lang::Rust } => new_project(cli, name, dir, *template),
        PluginCommand::New { name, dir, template, lang: Lang::Assemblyscript } => {
            if *template != Template::Basic {
                return Err(coded(exit::FAILURE, "the AssemblyScript template is the basic one; drop --template"));
            }
            new_assemblyscript_project(cli, name, dir)
        }
        PluginCommand::Build { dir, out } => build(cli, dir, out.as_deref()),
        _ => run_with_host(cli, cmd),
    }
}

/// Opens the host on the data dir; mail goes to SMTP when `A2E_SMTP_URL` is set, else to the
/// file outbox in the data dir.
pub(crate) fn open_host(cli: &Cli) -> anyhow::Result<Host> {
    let dir = cli.data_dir()?;
    let db = open_db(cli, &dir)?;
    let mut config = HostConfig::new(&dir);
    if let Ok(url) = std::env::var("A2E_SMTP_URL") {
        let mailer = a2e_host::mail::SmtpMailer::from_url(&url).map_err(|e| anyhow::anyhow!("A2E_SMTP_URL: {e}"))?;
        config.mailer = Some(std::sync::Arc::new(mailer));
    }
    Host::open(db, config).context("starting the plugin host")
}

fn parse_grant(name: &str) -> anyhow::Result<GrantSpec> {
    GrantSpec::parse(name).map_err(|e| anyhow::anyhow!(e))
}

fn run_with_host(cli: &Cli, cmd: &PluginCommand) -> anyhow::Result<ExitCode> {
    let host = open_host(cli)?;
    match cmd {
        PluginCommand::Install { path, yes, no_grants, replace } => {
            let source = host.inspect(path)?;
            let grants = source.manifest.grant_set()?;
            let grant_requested = if grants.is_empty() || *no_grants {
                false
            } else if *yes {
                true
            } else {
                confirm_grants(&source.manifest.name, &grants)?
            };
            let info = host.install_source(source, &InstallOptions { replace: *replace, grant_requested })?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                println!(
                    "installed {} {} ({} bytes, sha256 {})",
                    info.name, info.version, info.wasm_bytes, info.sha256
                );
                println!("exports: {}", info.exports.join(", "));
                println!(
                    "granted: {}",
                    if info.granted.is_empty() { "nothing".into() } else { info.granted.join(", ") }
                );
            }
        }
        PluginCommand::List => {
            let list = host.list()?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!("no plugins installed; install one with `a2e plugin install PATH`");
            } else {
                println!("{:<20} {:<10} {:<8} {:<30} exports", "name", "version", "enabled", "granted");
                for p in list {
                    println!(
                        "{:<20} {:<10} {:<8} {:<30} {}",
                        p.name,
                        p.version,
                        if p.enabled { "yes" } else { "no" },
                        p.granted.join(","),
                        p.exports.join(",")
                    );
                }
            }
        }
        PluginCommand::Call { name, function, input } => {
            let bytes = match input.as_deref() {
                Some("-") | None => {
                    let mut buf = Vec::new();
                    if input.is_some() || !std::io::stdin().is_terminal() {
                        std::io::stdin().read_to_end(&mut buf).context("reading the input from standard input")?;
                    }
                    buf
                }
                Some(text) => text.as_bytes().to_vec(),
            };
            let output = host.call(name, function, &bytes, &CallOptions::default())?;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&output)?;
            if std::io::stdout().is_terminal() && !output.ends_with(b"\n") {
                stdout.write_all(b"\n")?;
            }
        }
        PluginCommand::Remove { name, purge, force } => {
            refuse_lockout(&host, name, &PluginChange::Remove, *force)?;
            host.remove(name, *purge)?;
            print(cli, json!({ "removed": name, "purged": purge }), &format!("removed {name}"));
        }
        PluginCommand::Grants { name } => {
            let info = host.info(name)?;
            if cli.json {
                println!("{}", json!({ "plugin": name, "requested": info.requested_grants, "granted": info.granted }));
            } else {
                for grant in &info.requested_grants {
                    let held = if info.granted.contains(grant) { "granted" } else { "NOT granted" };
                    let what = GrantSpec::parse(grant).map(|g| g.describe()).unwrap_or_default();
                    println!("{grant:<12} {held:<12} {what}");
                }
                for grant in info.granted.iter().filter(|g| !info.requested_grants.contains(g)) {
                    println!("{grant:<12} granted      (not requested by the manifest)");
                }
                if info.requested_grants.is_empty() && info.granted.is_empty() {
                    println!("{name} requests and holds no grants");
                }
            }
        }
        PluginCommand::Grant { name, grant } => {
            host.grant(name, &[parse_grant(grant)?])?;
            print(cli, json!({ "plugin": name, "granted": grant }), &format!("granted {grant} to {name}"));
        }
        PluginCommand::Revoke { name, grant, force } => {
            let spec = parse_grant(grant)?;
            refuse_lockout(&host, name, &PluginChange::Revoke(spec.clone()), *force)?;
            let held = host.revoke(name, spec)?;
            if !held {
                return Err(coded(exit::FAILURE, format!("{name} does not hold {grant}")));
            }
            print(cli, json!({ "plugin": name, "revoked": grant }), &format!("revoked {grant} from {name}"));
        }
        PluginCommand::Enable { name } => {
            let info = host.set_enabled(name, true)?;
            print(cli, json!({ "plugin": name, "enabled": info.enabled }), &format!("{name} enabled"));
        }
        PluginCommand::Disable { name, force } => {
            refuse_lockout(&host, name, &PluginChange::Disable, *force)?;
            let info = host.set_enabled(name, false)?;
            let word = if info.enabled { "enabled" } else { "disabled" };
            print(cli, json!({ "plugin": name, "enabled": info.enabled }), &format!("{name} {word}"));
        }
        PluginCommand::Secret(cmd) => secret(cli, &host, cmd)?,
        PluginCommand::New { .. } | PluginCommand::Build { .. } => unreachable!("handled without a host"),
    }
    flush_events(&host);
    Ok(ExitCode::SUCCESS)
}

/// Runs `a2e plugin secret ...` on an open host; no output ever contains a secret's value.
fn secret(cli: &Cli, host: &Host, cmd: &SecretCommand) -> anyhow::Result<()> {
    match cmd {
        SecretCommand::Set { plugin, name, origin } => {
            // The host is open first: with --passphrase-stdin the passphrase is the first line of
            // input and the value follows it. An unknown plugin is refused before anyone types.
            host.info(plugin)?;
            let value = read_secret_value(name)?;
            let info = host
                .set_secret(plugin, name, &value, origin)
                .with_context(|| format!("setting secret {name} of {plugin}"))?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                println!("secret {} of {plugin} set, sent only to {}", info.name, info.origin);
            }
        }
        SecretCommand::List { plugin } => {
            let list = host.secrets(plugin).with_context(|| format!("listing the secrets of {plugin}"))?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!("{plugin} has no secrets; set one with `a2e plugin secret set {plugin} NAME --origin URL`");
            } else {
                println!("{:<24} {:<40} updated", "name", "origin");
                for s in list {
                    println!("{:<24} {:<40} {}", s.name, s.origin, format_utc_ms(s.updated_at));
                }
            }
        }
        SecretCommand::Delete { plugin, name } => {
            let deleted =
                host.delete_secret(plugin, name).with_context(|| format!("deleting secret {name} of {plugin}"))?;
            if !deleted {
                return Err(coded(exit::FAILURE, format!("plugin {plugin} has no secret named {name}")));
            }
            print(cli, json!({ "plugin": plugin, "deleted": name }), &format!("deleted secret {name} of {plugin}"));
        }
    }
    Ok(())
}

/// Reads the value of secret `name`: without echo on a terminal, else one line of standard input.
/// An empty value is refused.
fn read_secret_value(name: &str) -> anyhow::Result<String> {
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("Value of secret {name}: ")).context("reading the secret's value")?
    } else {
        crate::keys::read_line(&mut std::io::stdin().lock(), "secret's value")?
    };
    if value.is_empty() {
        return Err(coded(
            exit::FAILURE,
            "the secret's value is empty; write it to standard input, or run on a terminal to be asked for it",
        ));
    }
    Ok(value)
}

/// Formats a time in Unix milliseconds as `YYYY-MM-DD HH:MM:SS UTC`.
fn format_utc_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| format!("{ms} ms"), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// Refuses a change that would lock every account out, unless `force`; with `force`, warns.
fn refuse_lockout(host: &Host, name: &str, change: &PluginChange, force: bool) -> anyhow::Result<()> {
    match sign_in_lockout(host, name, change) {
        Some(reason) if !force => Err(coded(exit::FAILURE, format!("refused: {reason}"))),
        Some(_) => {
            eprintln!("warning: {name} signs people in; nobody can sign in until it is back (--force given)");
            Ok(())
        }
        None => Ok(()),
    }
}

/// Lets plugins subscribed to events handle the ones this command caused before the process
/// ends (their queues live in this process).
pub(crate) fn flush_events(host: &Host) {
    if !host.flush_events(std::time::Duration::from_secs(10)) {
        eprintln!("warning: plugins subscribed to events did not handle all of them within 10 s; the rest are lost");
    }
}

fn print(cli: &Cli, body: Value, text: &str) {
    if cli.json {
        println!("{body}");
    } else {
        println!("{text}");
    }
}

fn confirm_grants(name: &str, grants: &[GrantSpec]) -> anyhow::Result<bool> {
    eprintln!("{name} asks for:");
    for g in grants {
        eprintln!("  {:<12} {}", g.as_string(), g.describe());
    }
    if !std::io::stdin().is_terminal() {
        bail!("cannot ask for confirmation without a terminal: pass --yes to grant these, or --no-grants");
    }
    eprint!("Grant these? [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// The language of a new plugin project.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lang {
    /// Rust with the a2e-pdk crate, built by cargo.
    Rust,
    /// AssemblyScript with Extism's AssemblyScript PDK and a2e's typed host wrappers, built by npm.
    Assemblyscript,
}

/// The AssemblyScript template (plugins/template-as), file by file, as `a2e plugin new --lang
/// assemblyscript` writes it; the binary carries it, so no a2e checkout is needed.
const AS_TEMPLATE: &[(&str, &str)] = &[
    (".gitignore", include_str!("../../../plugins/template-as/.gitignore")),
    ("README.md", include_str!("../../../plugins/template-as/README.md")),
    ("a2e-abi.json", include_str!("../../../plugins/template-as/a2e-abi.json")),
    ("asconfig.json", include_str!("../../../plugins/template-as/asconfig.json")),
    ("assembly/index.ts", include_str!("../../../plugins/template-as/assembly/index.ts")),
    ("assembly/meta.ts", include_str!("../../../plugins/template-as/assembly/meta.ts")),
    ("assembly/tsconfig.json", include_str!("../../../plugins/template-as/assembly/tsconfig.json")),
    ("assembly/a2e/host.ts", include_str!("../../../plugins/template-as/assembly/a2e/host.ts")),
    ("assembly/a2e/index.ts", include_str!("../../../plugins/template-as/assembly/a2e/index.ts")),
    ("assembly/a2e/json.ts", include_str!("../../../plugins/template-as/assembly/a2e/json.ts")),
    ("assembly/a2e/pdk.ts", include_str!("../../../plugins/template-as/assembly/a2e/pdk.ts")),
    ("gen/gen-host.mjs", include_str!("../../../plugins/template-as/gen/gen-host.mjs")),
    ("package.json", include_str!("../../../plugins/template-as/package.json")),
    ("package-lock.json", include_str!("../../../plugins/template-as/package-lock.json")),
    ("scripts/build.mjs", include_str!("../../../plugins/template-as/scripts/build.mjs")),
];

/// The directory of a new project `name` in `parent`, refused when the name is not a plugin name
/// or the directory exists.
fn new_project_dir(name: &str, parent: &Path) -> anyhow::Result<PathBuf> {
    a2e_host::manifest::check_name(name)?;
    let dir = parent.join(name);
    if dir.exists() {
        return Err(coded(
            exit::FAILURE,
            format!("{} already exists; choose another name or directory", dir.display()),
        ));
    }
    Ok(dir)
}

fn new_assemblyscript_project(cli: &Cli, name: &str, parent: &Path) -> anyhow::Result<ExitCode> {
    let dir = new_project_dir(name, parent)?;
    for (path, text) in AS_TEMPLATE {
        let text = match *path {
            "package.json" | "package-lock.json" => {
                text.replace("\"name\": \"template-as\"", &format!("\"name\": \"{name}\"")).replace(
                    "The a2e template plugin in AssemblyScript: greet, repeat, validate and get_info.",
                    "An a2e plugin.",
                )
            }
            _ => (*text).to_owned(),
        };
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
    }
    print(
        cli,
        json!({ "created": dir }),
        &format!("created {}; build it with `a2e plugin build {}` (needs node and npm)", dir.display(), dir.display()),
    );
    Ok(ExitCode::SUCCESS)
}

/// Builds an AssemblyScript project (a package.json with an `a2e` section): `npm ci` when its
/// packages are missing, then its build script, which writes plugin.json and the module to `out`.
fn build_assemblyscript(cli: &Cli, dir: &Path, out: &Path) -> anyhow::Result<ExitCode> {
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    let run = |args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new(npm)
            .args(args)
            .current_dir(dir)
            // npm's and the build's progress go to stderr: stdout is for the result (--json).
            .stdout(std::io::stderr())
            .stderr(Stdio::inherit())
            .status()
            .with_context(|| format!("running npm {} (are node and npm installed?)", args.join(" ")))?;
        if !status.success() {
            bail!("`npm {}` failed in {} (see its output above)", args.join(" "), dir.display());
        }
        Ok(())
    };
    if !dir.join("node_modules").join("assemblyscript").is_dir() {
        eprintln!("installing the project's npm packages (npm ci)...");
        run(&["ci", "--prefer-offline", "--no-audit", "--no-fund"])?;
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let out = out.canonicalize().with_context(|| format!("resolving {}", out.display()))?;
    let out_arg = out.display().to_string();
    run(&["run", "--silent", "build", "--", "--out", &out_arg])?;
    let text = std::fs::read_to_string(out.join("plugin.json")).context("reading the built plugin.json")?;
    let manifest = PluginManifest::parse(&text)?;
    let wasm = std::fs::read(out.join(&manifest.wasm.file)).context("reading the built module")?;
    manifest.validate(&wasm, &a2e_host::Caps::default())?;
    report_built(cli, &out, &manifest, wasm.len());
    Ok(ExitCode::SUCCESS)
}

/// Prints what `a2e plugin build` wrote to `out`, for people or as JSON.
fn report_built(cli: &Cli, out: &Path, manifest: &PluginManifest, bytes: usize) {
    print(
        cli,
        json!({ "dir": out, "name": manifest.name, "bytes": bytes, "sha256": manifest.wasm.sha256, "exports": manifest.exports }),
        &format!(
            "built {}: {} ({} KiB, sha256 {})\nexports: {}\ninstall it with `a2e plugin install {}`",
            manifest.name,
            out.join(&manifest.wasm.file).display(),
            bytes.div_ceil(1024),
            manifest.wasm.sha256,
            manifest.exports.join(", "),
            out.display()
        ),
    );
}

/// A starting point for `a2e plugin new`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Template {
    /// Functions called over HTTP or the CLI (plugins/template).
    Basic,
    /// A realtime room plugin (plugins/counter).
    Realtime,
}

const TEMPLATE_LIB: &str = include_str!("../../../plugins/template/src/lib.rs");
const TEMPLATE_CARGO: &str = include_str!("../../../plugins/template/Cargo.toml");
const REALTIME_LIB: &str = include_str!("../../../plugins/counter/src/lib.rs");
const REALTIME_CARGO: &str = include_str!("../../../plugins/counter/Cargo.toml");

/// The `[package.metadata.a2e]` section of a template's Cargo.toml, as written there.
fn metadata_section(cargo_toml: &str) -> &str {
    let start = cargo_toml.find("[package.metadata.a2e]").expect("templates have an a2e metadata section");
    let rest = &cargo_toml[start..];
    let end = rest[1..].find("\n[").map_or(rest.len(), |i| i + 1);
    rest[..end].trim_end()
}

/// The plugin SDK (a2e-pdk and the a2e-abi wire types it uses), as this a2e was built with it:
/// written into every new Rust project under `a2e-sdk/`, so the project builds from an installed
/// `a2e` alone, without an a2e checkout, and always speaks this host's ABI.
const SDK_FILES: &[(&str, &str)] = &[
    ("pdk/Cargo.toml", include_str!("../../pdk/Cargo.toml")),
    ("pdk/src/lib.rs", include_str!("../../pdk/src/lib.rs")),
    ("abi/Cargo.toml", SDK_ABI_CARGO),
    ("abi/src/lib.rs", include_str!("../../abi/src/lib.rs")),
    ("abi/src/errors.rs", include_str!("../../abi/src/errors.rs")),
    ("abi/src/functions.rs", include_str!("../../abi/src/functions.rs")),
    ("abi/src/http.rs", include_str!("../../abi/src/http.rs")),
    ("abi/src/realtime.rs", include_str!("../../abi/src/realtime.rs")),
    ("abi/src/types.rs", include_str!("../../abi/src/types.rs")),
];

/// crates/abi/Cargo.toml without the workspace it inherits from.
const SDK_ABI_CARGO: &str = r#"[package]
name = "a2e-abi"
description = "Wire types shared by the a2e host and its WebAssembly plugins."
version = "0.1.0"
edition = "2021"
license = "Apache-2.0"

[features]
schema = ["dep:schemars"]

[dependencies]
serde = { version = "1", features = ["derive"] }
serde_json = "1"
schemars = { version = "1", optional = true }
"#;

/// Writes the SDK into `dir/a2e-sdk`.
fn write_sdk(dir: &Path) -> anyhow::Result<()> {
    for (path, text) in SDK_FILES {
        let path = dir.join("a2e-sdk").join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn new_project(cli: &Cli, name: &str, parent: &Path, template: Template) -> anyhow::Result<ExitCode> {
    let (lib, cargo) = match template {
        Template::Basic => (TEMPLATE_LIB, TEMPLATE_CARGO),
        Template::Realtime => (REALTIME_LIB, REALTIME_CARGO),
    };
    let dir = new_project_dir(name, parent)?;
    let cargo_toml = format!(
        r#"[package]
name = "{name}"
description = "An a2e plugin."
version = "0.1.0"
edition = "2021"

[lib]
crate-type = ["cdylib"]

[dependencies]
# The SDK of the a2e that created this project (`a2e-sdk/`); a newer a2e writes a newer one with
# `a2e plugin new`.
a2e-pdk = {{ path = "a2e-sdk/pdk" }}
# #[plugin_fn] expands to paths in extism_pdk, so plugins depend on it directly.
extism-pdk = "=1.4.1"
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"

# What `a2e plugin build` writes into plugin.json besides the name, version and exports.
{metadata}

[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
panic = "abort"
strip = true

# A standalone project, not part of an enclosing workspace.
[workspace]
"#,
        metadata = metadata_section(cargo),
    );
    std::fs::create_dir_all(dir.join("src")).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("Cargo.toml"), cargo_toml)?;
    std::fs::write(dir.join("src/lib.rs"), lib)?;
    std::fs::write(dir.join(".gitignore"), "/target\n/dist\n")?;
    write_sdk(&dir)?;
    print(
        cli,
        json!({ "created": dir }),
        &format!("created {}; build it with `a2e plugin build {}`", dir.display(), dir.display()),
    );
    Ok(ExitCode::SUCCESS)
}

/// Says what went wrong running `cargo metadata` (as `cargo`) on `manifest_path`.
fn metadata_error(error: cargo_metadata::Error, cargo: &str, manifest_path: &Path) -> anyhow::Error {
    match error {
        cargo_metadata::Error::Io(e) => anyhow::Error::new(e)
            .context(format!("running `{cargo} metadata` for {} (is cargo installed?)", manifest_path.display())),
        cargo_metadata::Error::CargoMetadata { stderr } => {
            anyhow::anyhow!("cargo metadata failed for {}: {}", manifest_path.display(), stderr.trim_end())
        }
        other => anyhow::Error::new(other).context(format!("reading cargo metadata of {}", manifest_path.display())),
    }
}

fn build(cli: &Cli, dir: &Path, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let manifest_path = dir.join("Cargo.toml");
    if !manifest_path.is_file() && dir.join("package.json").is_file() {
        let out = out.map(Path::to_path_buf).unwrap_or_else(|| dir.join("dist"));
        return build_assemblyscript(cli, dir, &out);
    }
    if !manifest_path.is_file() {
        return Err(coded(
            exit::FAILURE,
            format!("{} has no Cargo.toml or package.json; is it a plugin project?", dir.display()),
        ));
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let metadata = MetadataCommand::new()
        .cargo_path(&cargo)
        .manifest_path(&manifest_path)
        .no_deps()
        .exec()
        .map_err(|e| metadata_error(e, &cargo, &manifest_path))?;
    let wanted = manifest_path.canonicalize()?;
    let package = metadata
        .packages
        .into_iter()
        .find(|p| p.manifest_path.as_std_path() == wanted.as_path())
        .ok_or_else(|| anyhow::anyhow!("{} is not a package manifest", manifest_path.display()))?;
    let name = package.name.to_string();
    a2e_host::manifest::check_name(&name)?;

    eprintln!("building {name} for wasm32-unknown-unknown (release)...");
    let mut child = Command::new(&cargo)
        .args(["build", "--release", "--target", "wasm32-unknown-unknown", "--message-format=json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(&manifest_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("running cargo build")?;
    // Every message is read before waiting, so cargo never blocks on a full pipe.
    let messages = Message::parse_stream(BufReader::new(child.stdout.take().expect("piped")))
        .collect::<std::io::Result<Vec<_>>>()?;
    let status = child.wait()?;
    if !status.success() {
        bail!("the build failed (see the compiler output above); if the target is missing run `rustup target add wasm32-unknown-unknown`");
    }
    let wasm_path = messages
        .into_iter()
        .filter_map(|m| match m {
            Message::CompilerArtifact(artifact) if artifact.target.name.replace('-', "_") == name.replace('-', "_") => {
                Some(artifact.filenames)
            }
            _ => None,
        })
        .flatten()
        .find(|f| f.extension() == Some("wasm"))
        .ok_or_else(|| anyhow::anyhow!("the build produced no .wasm; is the crate-type cdylib?"))?;
    let wasm = std::fs::read(&wasm_path).with_context(|| format!("reading {wasm_path}"))?;

    let manifest = PluginManifest::from_cargo_package(&serde_json::to_value(&package)?, &wasm)?;
    let file = manifest.wasm.file.clone();
    let out = out.map(Path::to_path_buf).unwrap_or_else(|| dir.join("dist"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    std::fs::write(out.join(&file), &wasm)?;
    std::fs::write(out.join("plugin.json"), serde_json::to_string_pretty(&manifest)? + "\n")?;
    report_built(cli, &out, &manifest, wasm.len());
    Ok(ExitCode::SUCCESS)
}
