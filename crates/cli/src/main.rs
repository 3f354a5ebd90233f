//! The `a2e` command-line binary: a thin adapter over a2e-db and a2e-host.

mod audit_cmd;
mod chat_cmd;
mod db_cmd;
mod exit;
mod keys;
mod plugin_cmd;
mod serve_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// a2e: a WebAssembly plugin host on an encrypted embedded database.
#[derive(Parser, Debug)]
#[command(name = "a2e", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Where a2e keeps its database, key store, plugins and outbox.
    #[arg(long, global = true, env = "A2E_DATA_DIR", value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,

    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Read the database passphrase from the first line of standard input.
    #[arg(long, global = true)]
    pub(crate) passphrase_stdin: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Verify and export the audit trail kept by the audit plugin.
    #[command(subcommand)]
    Audit(audit_cmd::AuditCommand),
    /// Chat with a model through the chat plugin; the answer streams as it is written.
    Chat(chat_cmd::ChatArgs),
    /// Create, inspect and maintain the encrypted database.
    #[command(subcommand)]
    Db(db_cmd::DbCommand),
    /// Print the HTTP API's OpenAPI document (the same as `GET /api/openapi.json`), for API
    /// clients and code generators; needs no data dir.
    Openapi,
    /// Create, build, install, call and manage plugins.
    #[command(subcommand)]
    Plugin(plugin_cmd::PluginCommand),
    /// Serve the HTTP API, live events and the web UI (installs the bundled plugins on first start).
    Serve(serve_cmd::ServeArgs),
    /// Manage accounts.
    #[command(subcommand)]
    User(serve_cmd::UserCommand),
}

impl Cli {
    /// The data dir: `--data-dir`, `A2E_DATA_DIR`, or the platform's user data dir.
    pub(crate) fn data_dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.data_dir {
            return Ok(dir.clone());
        }
        directories::ProjectDirs::from("", "", "a2e")
            .map(|dirs| dirs.data_dir().to_owned())
            .ok_or_else(|| anyhow::anyhow!("no home directory found; pass --data-dir or set A2E_DATA_DIR"))
    }
}

/// Opens the database in `dir` (creating it on first use) with the key source the environment and
/// flags select.
pub(crate) fn open_db(cli: &Cli, dir: &std::path::Path) -> anyhow::Result<a2e_db::Db> {
    let stdin = std::io::stdin();
    let source = keys::resolve(dir, cli.passphrase_stdin, &mut stdin.lock())?;
    a2e_db::Db::open(dir, &source).with_context(|| format!("opening the database in {}", dir.display()))
}

fn openapi() -> anyhow::Result<ExitCode> {
    let doc = serde_json::to_string_pretty(&a2e_server::openapi()).context("encoding the OpenAPI document")?;
    println!("{doc}");
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    a2e_server::process::bound_malloc();
    // Errors from the wasm runtime would capture a backtrace on every plugin call when
    // RUST_BACKTRACE is set, doubling its cost; panics keep their backtraces.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("A2E_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let result = match &cli.command {
        Command::Audit(cmd) => audit_cmd::run(&cli, cmd),
        Command::Chat(args) => chat_cmd::run(&cli, args),
        Command::Db(cmd) => db_cmd::run(&cli, cmd),
        Command::Openapi => openapi(),
        Command::Plugin(cmd) => plugin_cmd::run(&cli, cmd),
        Command::Serve(args) => serve_cmd::serve(&cli, args),
        Command::User(cmd) => serve_cmd::user(&cli, cmd),
    };
    match result {
        Ok(code) => code,
        Err(err) => exit::report(&err, cli.json),
    }
}
