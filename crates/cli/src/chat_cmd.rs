//! `a2e chat`: chat with a model from the terminal through the chat plugin, stored like the UI
//! stores it (in the chosen user's sessions). The answer streams to the terminal as it is written.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use a2e_abi::{CallUser, OriginPattern};
use a2e_host::{CallOptions, Host};
use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Value};

use crate::{exit, plugin_cmd, Cli};

#[derive(Args, Debug)]
pub(crate) struct ChatArgs {
    /// The message; without one, an interactive chat (end it with /bye or Ctrl-D).
    pub(crate) message: Option<String>,
    /// Use this agent (by name; default: the default assistant).
    #[arg(long, value_name = "NAME")]
    pub(crate) agent: Option<String>,
    /// Use this model (default: the agent's, or the provider's default).
    #[arg(long, value_name = "MODEL")]
    pub(crate) model: Option<String>,
    /// A provider id, or a model server's URL (added as a provider when new; an OpenAI-compatible
    /// server or Ollama, detected).
    #[arg(long, value_name = "URL|ID")]
    pub(crate) provider: Option<String>,
    /// Continue this session.
    #[arg(long, value_name = "ID")]
    pub(crate) session: Option<String>,
    /// Chat as this user (default: the first administrator).
    #[arg(long, value_name = "EMAIL")]
    pub(crate) user: Option<String>,
    /// Grant the chat plugin access to a new provider URL without asking.
    #[arg(long)]
    pub(crate) yes: bool,
    /// List the user's chat sessions.
    #[arg(long, conflicts_with_all = ["message", "export"])]
    pub(crate) list: bool,
    /// Print a session as Markdown (or JSON with --format json).
    #[arg(long, value_name = "ID", conflicts_with = "message")]
    pub(crate) export: Option<String>,
    /// Format of --export: markdown or json.
    #[arg(long, default_value = "markdown", value_parser = ["markdown", "json"])]
    pub(crate) format: String,
}

struct Chat {
    host: Host,
    options: CallOptions,
}

impl Chat {
    fn call(&self, function: &str, input: Value) -> anyhow::Result<Value> {
        let out = self
            .host
            .call("chat", function, input.to_string().as_bytes(), &self.options)
            .context("calling the chat plugin")?;
        let answer: Value =
            serde_json::from_slice(&out).context("the chat plugin answered something that is not JSON")?;
        if answer["success"] != true {
            bail!("{}", answer["error"]["message"].as_str().unwrap_or("the chat plugin failed"));
        }
        Ok(answer["data"].clone())
    }
}

fn user_of(host: &Host, email: Option<&str>) -> anyhow::Result<CallUser> {
    let db = host.db();
    let user = match email {
        Some(email) => db.get_user_by_email(email).with_context(|| format!("no account with the email {email}"))?,
        None => db
            .first_user_with_role("admin")
            .context("no administrator yet: set a2e up first (`a2e serve`, then the setup page), or pass --user")?,
    };
    Ok(CallUser { uuid: user.uuid, name: user.name, role: user.role })
}

pub(crate) fn run(cli: &Cli, args: &ChatArgs) -> anyhow::Result<ExitCode> {
    let host = plugin_cmd::open_host(cli)?;
    a2e_server::bundled::install(&host).context("installing the bundled plugins")?;
    let user = user_of(&host, args.user.as_deref())?;
    let chat = Chat { host, options: CallOptions { client_addr: None, user: Some(user) } };
    if args.list {
        let sessions = chat.call("sessions", json!({}))?;
        if cli.json {
            println!("{}", serde_json::to_string_pretty(&sessions)?);
        } else {
            for s in sessions.as_array().into_iter().flatten() {
                println!("{}  {}", s["id"].as_str().unwrap_or(""), s["title"].as_str().unwrap_or(""));
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(id) = &args.export {
        let out = chat.call("export", json!({ "id": id, "format": args.format }))?;
        match args.format.as_str() {
            "json" => println!("{}", serde_json::to_string_pretty(&out)?),
            _ => print!("{}", out["markdown"].as_str().unwrap_or("")),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let provider = match &args.provider {
        Some(p) if p.contains("://") => Some(provider_for_url(&chat, p, args.yes)?),
        other => other.clone(),
    };
    let agent = match &args.agent {
        Some(name) => Some(agent_id(&chat, name)?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut session = args.session.clone();
    let mut first = true;
    let mut failed = false;
    let mut ask = |text: &str, session: &mut Option<String>| -> anyhow::Result<bool> {
        let mut input = json!({ "content": text });
        if let Some(s) = session.as_deref() {
            input["session_id"] = json!(s);
        }
        if first {
            for (key, value) in [("agent_id", &agent), ("provider", &provider), ("model", &args.model)] {
                if let Some(v) = value {
                    input[key] = json!(v);
                }
            }
        }
        first = false;
        let started = chat.call("send", input)?;
        *session = started["session"]["id"].as_str().map(str::to_owned);
        let done = runtime.block_on(stream(&chat, &started))?;
        Ok(done)
    };
    if let Some(message) = &args.message {
        failed = !ask(message, &mut session)?;
    } else {
        let stdin = std::io::stdin();
        let interactive = stdin.is_terminal();
        if interactive {
            eprintln!("Chatting as {}. End with /bye or Ctrl-D.", chat.options.user.as_ref().map_or("", |u| &u.name));
        }
        let mut lines = stdin.lock().lines();
        loop {
            if interactive {
                eprint!(">>> ");
                std::io::stderr().flush()?;
            }
            let Some(line) = lines.next().transpose()? else { break };
            let line = line.trim();
            if line == "/bye" {
                break;
            }
            if line.is_empty() {
                continue;
            }
            if let Err(err) = ask(line, &mut session) {
                eprintln!("error: {err:#}");
            }
        }
    }
    if let Some(id) = session {
        eprintln!("(session {id})");
    }
    Ok(if failed { ExitCode::from(exit::FAILURE) } else { ExitCode::SUCCESS })
}

/// Prints the answer of `started` as it arrives; Ctrl-C stops it (what was written stays).
/// Answers whether it ended done.
async fn stream(chat: &Chat, started: &Value) -> anyhow::Result<bool> {
    let room = started["room"].as_str().context("the chat plugin did not name the answer's room")?;
    let message_id = started["message"]["id"].as_str().unwrap_or_default().to_owned();
    let rt = chat.host.realtime();
    let user = chat.options.user.as_ref().map(|u| (u.uuid.clone(), u.name.clone()));
    let (client, mut frames) = rt.connect(user.as_ref().map(|u| u.0.clone()), user.map(|u| u.1), 1024);
    let _leave = Disconnect(chat.host.clone(), client.clone());
    if let Err(err) = rt.join("chat", room, &client, Value::Null, None).await {
        // The room is gone: the answer finished before we joined; print it from the session.
        let _ = err;
        let session = chat.call("session", json!({ "id": started["session"]["id"] }))?;
        let message = session["messages"].as_array().into_iter().flatten().find(|m| m["id"] == message_id.as_str());
        let message = message.cloned().unwrap_or_default();
        println!("{}", message["content"].as_str().unwrap_or(""));
        return Ok(message["status"] == "done");
    }
    let mut out = std::io::stdout();
    let mut stopping = false;
    let mut shown = 0usize;
    loop {
        let frame = tokio::select! {
            frame = frames.recv() => frame,
            _ = tokio::signal::ctrl_c(), if !stopping => {
                stopping = true;
                let _ = chat.call("stop", json!({ "message_id": message_id }));
                continue;
            }
        };
        let Some(frame) = frame else { bail!("the answer's room went away") };
        let frame: Value = serde_json::from_str(&frame).unwrap_or_default();
        let data = &frame["data"];
        match (frame["type"].as_str(), data["type"].as_str()) {
            (Some("message"), Some("snapshot")) => {
                let text = data["content"].as_str().unwrap_or("");
                write!(out, "{text}")?;
                shown = text.len();
                if !["queued", "streaming"].contains(&data["status"].as_str().unwrap_or("")) {
                    return finish(data);
                }
            }
            (Some("message"), Some("delta")) => {
                let text = data["text"].as_str().unwrap_or("");
                write!(out, "{text}")?;
                shown += text.len();
            }
            (Some("message"), Some("done")) => {
                let whole = data["content"].as_str().unwrap_or("");
                if let Some(rest) = whole.get(shown..) {
                    write!(out, "{rest}")?;
                }
                return finish(data);
            }
            (Some("closed"), _) => bail!("the answer's room closed: {}", frame["reason"].as_str().unwrap_or("")),
            _ => {}
        }
        out.flush()?;
    }
}

fn finish(done: &Value) -> anyhow::Result<bool> {
    println!();
    match done["status"].as_str() {
        Some("done") => Ok(true),
        Some("stopped") => {
            eprintln!("(stopped)");
            Ok(true)
        }
        _ => {
            eprintln!("error: {}", done["error"].as_str().unwrap_or("the answer failed"));
            Ok(false)
        }
    }
}

struct Disconnect(Host, Arc<a2e_host::rt::Client>);

impl Drop for Disconnect {
    fn drop(&mut self) {
        self.0.realtime().disconnect(&self.1);
    }
}

fn agent_id(chat: &Chat, name: &str) -> anyhow::Result<String> {
    let agents = chat.call("agents", json!({}))?;
    let list = agents.as_array().cloned().unwrap_or_default();
    if let Some(a) = list.iter().find(|a| a["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name))) {
        return Ok(a["id"].as_str().unwrap_or_default().to_owned());
    }
    let names: Vec<&str> = list.iter().filter_map(|a| a["name"].as_str()).collect();
    bail!("no agent named `{name}` (agents: {})", names.join(", "))
}

/// The provider for a model server URL: an existing one with that base URL, or a new one after
/// the chat plugin was granted the URL's origin (asked on a terminal, or `--yes`).
fn provider_for_url(chat: &Chat, url: &str, yes: bool) -> anyhow::Result<String> {
    let base = url.trim().trim_end_matches('/').to_owned();
    let providers = chat.call("providers", json!({}))?;
    if let Some(p) = providers.as_array().into_iter().flatten().find(|p| p["base_url"] == base.as_str()) {
        return Ok(p["id"].as_str().unwrap_or_default().to_owned());
    }
    let (scheme, rest) = base.split_once("://").context("the provider URL needs a scheme: http:// or https://")?;
    let authority = rest.split('/').next().unwrap_or("");
    let default_port = if scheme == "https" { 443 } else { 80 };
    let origin = if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        format!("{scheme}://{authority}")
    } else {
        format!("{scheme}://{authority}:{default_port}")
    };
    let pattern = OriginPattern::parse(&origin).map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    let granted = chat.host.info("chat")?.granted;
    let covered =
        granted.iter().filter_map(|g| g.strip_prefix("http:")).filter_map(|g| OriginPattern::parse(g).ok()).any(|g| {
            match (&pattern.host, pattern.port) {
                (a2e_abi::HostPattern::Name(h), Some(port)) => g.matches(&pattern.scheme, h, port),
                (a2e_abi::HostPattern::Ip(ip), Some(port)) => g.matches(&pattern.scheme, &ip.to_string(), port),
                _ => false,
            }
        });
    if !covered {
        let grant = format!("http:{pattern}");
        eprintln!("The chat plugin may not reach {origin} yet. Granting `{grant}` lets it {}.", pattern.describe());
        let allowed = if yes {
            true
        } else if std::io::stdin().is_terminal() {
            eprint!("Grant it? [y/N] ");
            std::io::stderr().flush()?;
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer)?;
            matches!(answer.trim(), "y" | "Y" | "yes")
        } else {
            bail!("not granted: no terminal to ask on; pass --yes to grant `{grant}`, or run `a2e plugin grant chat {grant}`")
        };
        if !allowed {
            bail!("not granted; the chat plugin cannot reach {origin}");
        }
        chat.host.grant("chat", &[a2e_abi::GrantSpec::Http(pattern)])?;
    }
    let id: String =
        authority.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    let id: String = id.trim_matches('-').chars().take(32).collect();
    let mut last = None;
    for kind in ["openai", "ollama"] {
        match chat.call("save_provider", json!({ "id": id, "name": authority, "kind": kind, "base_url": base })) {
            Ok(saved) => return Ok(saved["provider"]["id"].as_str().unwrap_or(&id).to_owned()),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("could not add the provider")))
}
