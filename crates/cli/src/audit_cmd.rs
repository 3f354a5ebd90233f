//! `a2e audit`: the audit trail kept by the `audit` plugin (verify, export).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use a2e_host::{CallOptions, Host};
use anyhow::Context;
use clap::Subcommand;
use serde_json::{json, Value};

use crate::{exit, plugin_cmd, Cli};

#[derive(Subcommand, Debug)]
pub(crate) enum AuditCommand {
    /// Check the hash chain of the audit trail; exits 4 and names the first broken record when a
    /// record was changed, deleted or reordered.
    Verify,
    /// Write the audit trail as JSON lines, oldest first.
    Export {
        /// Write to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Only records after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
    },
}

/// Calls `function` of the audit plugin and returns its data, or the plugin's error.
fn call(host: &Host, function: &str, input: &Value) -> anyhow::Result<Value> {
    let out = host
        .call("audit", function, input.to_string().as_bytes(), &CallOptions::default())
        .context("calling the audit plugin (is it installed? `a2e serve` installs it)")?;
    let answer: Value = serde_json::from_slice(&out).context("the audit plugin answered something that is not JSON")?;
    if answer["success"] != true {
        let error = &answer["error"];
        anyhow::bail!(
            "audit.{function}: {}: {}",
            error["code"].as_str().unwrap_or("ERROR"),
            error["message"].as_str().unwrap_or("")
        );
    }
    Ok(answer["data"].clone())
}

pub(crate) fn run(cli: &Cli, cmd: &AuditCommand) -> anyhow::Result<ExitCode> {
    let host = plugin_cmd::open_host(cli)?;
    match cmd {
        AuditCommand::Verify => {
            let mut input = json!({});
            let mut checked = 0u64;
            let answer = loop {
                let part = call(&host, "verify", &input)?;
                checked += part["checked"].as_u64().unwrap_or(0);
                if part["done"] == true {
                    break part;
                }
                input = json!({ "from": part["next"]["from"], "prev": part["next"]["prev"] });
            };
            let ok = answer["ok"] == true;
            if cli.json {
                let mut report = answer.clone();
                report["checked"] = json!(checked);
                println!("{report}");
            } else if ok {
                println!(
                    "audit trail intact: {checked} records ({} to {}), head {}",
                    answer["first"],
                    answer["last"],
                    answer["head"].as_str().unwrap_or("")
                );
            } else {
                println!(
                    "audit trail BROKEN at record {}: {}",
                    answer["broken"]["seq"],
                    answer["broken"]["reason"].as_str().unwrap_or("")
                );
            }
            Ok(ExitCode::from(if ok { exit::OK } else { exit::CHECK_FAILED }))
        }
        AuditCommand::Export { out, after } => {
            let mut sink: Box<dyn Write> = match out {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
                )),
                None => Box::new(std::io::stdout().lock()),
            };
            let mut after = *after;
            let mut count = 0u64;
            loop {
                let part = call(&host, "export", &json!({ "after": after }))?;
                sink.write_all(part["lines"].as_str().unwrap_or("").as_bytes()).context("writing the export")?;
                count += part["count"].as_u64().unwrap_or(0);
                match part["next"].as_u64() {
                    Some(next) => after = next,
                    None => break,
                }
            }
            sink.flush().context("writing the export")?;
            if out.is_some() {
                eprintln!("exported {count} audit records");
            }
            Ok(ExitCode::from(exit::OK))
        }
    }
}
