//! `a2e serve` (the HTTP server and web UI) and `a2e user create` (accounts from the command line).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use a2e_db::KeySource;
use a2e_host::{Host, HostConfig};
use a2e_server::bundled::Outcome;
use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::exit::{self, coded};
use crate::{keys, Cli};

/// Options of `a2e serve`.
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "A2E_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// The URL people reach this server at, used in email links [default: http://<addr>].
    #[arg(long, env = "A2E_PUBLIC_URL")]
    public_url: Option<String>,
    /// A further origin allowed to send state-changing requests (repeatable).
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
    /// Mark the session cookie Secure (automatic when the public URL is https).
    #[arg(long)]
    secure_cookies: bool,
    /// State-changing auth requests (login, signup, resets...) one client address may make per minute.
    #[arg(long, value_name = "N", default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    auth_rate_per_ip: u32,
    /// Auth requests about one account (by email or user) per minute, from any address.
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    auth_rate_per_account: u32,
    /// Realtime: frames queued per client before a client that does not keep up is disconnected.
    #[arg(long, value_name = "FRAMES", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65536))]
    rt_queue: u32,
    /// Realtime: largest message a client may send, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 16384, value_parser = clap::value_parser!(u32).range(64..=16_777_216))]
    rt_max_message: u32,
    /// Realtime: messages per second a client may send on average.
    #[arg(long, value_name = "N", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    rt_rate: u32,
    /// Realtime: messages a client may send in a burst above the average.
    #[arg(long, value_name = "N", default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    rt_burst: u32,
    /// Realtime: seconds between pings to each client.
    #[arg(long, value_name = "SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    rt_ping_secs: u64,
    /// Realtime: seconds without a pong (or with a socket too full to write) before a client is closed.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    rt_pong_secs: u64,
}

#[derive(Subcommand, Debug)]
pub(crate) enum UserCommand {
    /// Create an account (email marked verified); reads the password from standard input.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Email address.
        #[arg(long)]
        email: String,
        /// Make the account an administrator.
        #[arg(long)]
        admin: bool,
    },
}

/// Opens the database and the host with the bundled plugins installed; `public_url` becomes the
/// auth plugin's base URL for links in emails.
fn open(cli: &Cli, public_url: Option<&str>) -> anyhow::Result<(Host, KeySource, Vec<Outcome>)> {
    let dir = cli.data_dir()?;
    let stdin = std::io::stdin();
    let source = keys::resolve(&dir, cli.passphrase_stdin, &mut stdin.lock())?;
    let db = a2e_db::Db::open(&dir, &source).with_context(|| format!("opening the database in {}", dir.display()))?;
    let mut config = HostConfig::new(&dir);
    if let Ok(url) = std::env::var("A2E_SMTP_URL") {
        let mailer = a2e_host::mail::SmtpMailer::from_url(&url).map_err(|e| anyhow::anyhow!("A2E_SMTP_URL: {e}"))?;
        config.mailer = Some(Arc::new(mailer));
    }
    if let Some(url) = public_url {
        config.config_overrides.insert("auth".into(), BTreeMap::from([("base_url".to_owned(), url.to_owned())]));
    }
    let host = Host::open(db, config).context("starting the plugin host")?;
    let outcomes = a2e_server::bundled::install(&host).context("installing the bundled plugins")?;
    Ok((host, source, outcomes))
}

pub(crate) fn serve(cli: &Cli, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .map_err(|e| coded(exit::FAILURE, format!("cannot listen on {}: {e}", args.addr)))?;
        let local = listener.local_addr()?;
        let public_url = args.public_url.clone().unwrap_or_else(|| {
            let host = if local.ip().is_unspecified() { "localhost".to_owned() } else { local.ip().to_string() };
            format!("http://{host}:{}", local.port())
        });
        let (host, source, outcomes) = open(cli, Some(&public_url))?;
        for outcome in &outcomes {
            match outcome {
                Outcome::Installed(name) => eprintln!("installed the bundled plugin `{name}` with the grants it requests"),
                Outcome::Upgraded(name) => eprintln!("upgraded the bundled plugin `{name}`"),
                Outcome::Current(_) => {}
                Outcome::Missing(name) => eprintln!(
                    "warning: the bundled plugin `{name}` was not built into this binary; accounts need it (build with `cargo xtask run`)"
                ),
            }
        }
        if !a2e_server::ui_built() {
            eprintln!("warning: the web UI was not built into this binary; the API works, `/` explains how to build the UI");
        }
        let mut config = a2e_server::ServerConfig::new(&public_url);
        config.extra_origins = args.allow_origins.clone();
        config.secure_cookies |= args.secure_cookies;
        config.auth_per_ip_per_minute = args.auth_rate_per_ip;
        config.auth_per_account_per_minute = args.auth_rate_per_account;
        config.rt = a2e_server::rt::RtConfig {
            out_queue: args.rt_queue as usize,
            max_message_bytes: args.rt_max_message as usize,
            messages_per_sec: args.rt_rate,
            burst: args.rt_burst,
            ping_interval: std::time::Duration::from_secs(args.rt_ping_secs),
            pong_timeout: std::time::Duration::from_secs(args.rt_pong_secs),
        };
        let needs_setup = host.db().count_users_with_role("admin")? == 0;
        let state = a2e_server::AppState::new(host, source, config);
        println!("a2e listening on http://{local} (public URL {public_url}, data in {})", cli.data_dir()?.display());
        if needs_setup {
            println!("no administrator yet: open {public_url}/ to create one, or run `a2e user create --admin`");
        }
        a2e_server::serve(state, listener, shutdown_signal()).await.context("serving")?;
        eprintln!("a2e stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    eprintln!("shutting down: finishing in-flight requests");
}

pub(crate) fn user(cli: &Cli, cmd: &UserCommand) -> anyhow::Result<ExitCode> {
    let UserCommand::Create { name, email, admin } = cmd;
    // Opened first: with --passphrase-stdin the passphrase is the first line of input.
    let (host, _, _) = open(cli, None)?;
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        if rpassword::prompt_password("Repeat the password: ")? != first {
            return Err(coded(exit::FAILURE, "the two passwords differ; nothing was created"));
        }
        first
    } else {
        keys::read_line(&mut std::io::stdin().lock(), "password")?
    };
    let request = a2e_server::auth::SignupRequest { name: name.clone(), email: email.clone(), password };
    let login = a2e_server::auth::create_user(&host, &request, *admin, None)
        .map_err(|e| coded(exit::FAILURE, format!("{}: {}", e.code, e.message)))?;
    crate::plugin_cmd::flush_events(&host);
    let role = if *admin { "admin" } else { "user" };
    let uuid = login["user"]["uuid"].as_str().unwrap_or_default();
    if cli.json {
        println!("{}", json!({ "uuid": uuid, "name": name, "email": email, "role": role }));
    } else {
        println!("created {role} {name} <{email}> ({uuid})");
    }
    Ok(ExitCode::SUCCESS)
}
