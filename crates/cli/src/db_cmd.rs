//! `a2e db ...`: init, status, stats, verify, backup, restore, rekey and change-passphrase.

use std::io::{self, BufRead};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use a2e_db::{Db, KeySource, KeyStore};
use anyhow::Context;
use clap::Subcommand;
use serde_json::json;

use crate::exit::{self, coded};
use crate::{keys, Cli};

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Create the encrypted database and its key store (does nothing if they exist).
    Init,
    /// Show where the database is, how it is keyed, its schema version and health.
    Status,
    /// Row counts, file and WAL sizes, cipher settings and schema version.
    Stats,
    /// Check the schema and every page (quick_check and cipher_integrity_check); exit 4 on problems.
    Verify,
    /// Write an encrypted online backup to PATH and its key store to PATH.keystore.json.
    Backup {
        /// Destination file; must not exist.
        path: PathBuf,
    },
    /// Replace the database with a verified backup. Stop every a2e process using the data dir first.
    Restore {
        /// Backup file written by `a2e db backup`.
        path: PathBuf,
        /// Confirm that the current database is to be replaced.
        #[arg(long)]
        yes: bool,
    },
    /// Re-encrypt the database under a fresh random data key.
    Rekey,
    /// Protect the database key with a new passphrase (the data is not re-encrypted).
    ChangePassphrase {
        /// Read the new passphrase from standard input (after the current one, if
        /// --passphrase-stdin is also given).
        #[arg(long)]
        new_passphrase_stdin: bool,
    },
}

pub fn run(cli: &Cli, cmd: &DbCommand) -> anyhow::Result<ExitCode> {
    let dir = cli.data_dir()?;
    let stdin = io::stdin();
    let mut input = stdin.lock();
    match cmd {
        DbCommand::Init => init(cli, &dir, &mut input),
        DbCommand::Status => status(cli, &dir, &mut input),
        DbCommand::Stats => {
            let db = open_existing(cli, &dir, &mut input)?;
            let stats = db.stats()?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                println!("schema version  {}", stats.schema_version);
                println!("encrypted       {}", yes_no(stats.encrypted));
                println!(
                    "cipher          {} ({})",
                    stats.cipher_version.as_deref().unwrap_or("-"),
                    stats.cipher_provider.as_deref().unwrap_or("-")
                );
                println!(
                    "file            {} bytes ({} pages of {})",
                    stats.file_bytes, stats.page_count, stats.page_size
                );
                println!("wal             {} bytes", stats.wal_bytes);
                println!("rows:");
                for (table, count) in &stats.tables {
                    println!("  {table:<28} {count}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Verify => {
            let db = open_existing(cli, &dir, &mut input)?;
            let schema = db.verify_schema()?;
            let integrity = db.integrity_check()?;
            let ok = schema.ok && integrity.ok;
            if cli.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({ "ok": ok, "schema": schema, "integrity": integrity }))?
                );
            } else {
                println!(
                    "schema     {} (version {} of {})",
                    ok_str(schema.ok),
                    schema.version,
                    schema.expected_version
                );
                for t in &schema.missing_tables {
                    println!("  missing table {t}");
                }
                for i in &schema.missing_indexes {
                    println!("  missing index {i}");
                }
                println!("integrity  {}", ok_str(integrity.ok));
                for line in integrity.quick_check.iter().chain(&integrity.cipher_integrity_check) {
                    println!("  {line}");
                }
            }
            Ok(ExitCode::from(if ok { exit::OK } else { exit::CHECK_FAILED }))
        }
        DbCommand::Backup { path } => {
            let source = keys::resolve(&dir, cli.passphrase_stdin, &mut input)?;
            let db = open_with(&dir, &source)?;
            let report = db.backup_to(path, &source)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("backup written to {} ({} bytes)", report.path.display(), report.bytes);
                if let Some(ks) = &report.keystore_path {
                    println!("its key store is {}; keep both files together", ks.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Restore { path, yes } => {
            if !yes {
                return Err(coded(
                    exit::FAILURE,
                    format!("restoring replaces the database in {}; run again with --yes to confirm", dir.display()),
                ));
            }
            let source = keys::resolve(&dir, cli.passphrase_stdin, &mut input)?;
            a2e_db::restore(&dir, &source, path)?;
            let db = open_with(&dir, &source)?;
            let users = db.count_users()?;
            print_result(
                cli,
                json!({ "restored": path, "users": users }),
                &format!("restored {} ({users} users)", path.display()),
            );
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Rekey => {
            require_initialized(&dir)?;
            let source = keys::resolve(&dir, cli.passphrase_stdin, &mut input)?;
            let report = a2e_db::rekey(&dir, &source)?;
            print_result(
                cli,
                serde_json::to_value(&report)?,
                &format!("database re-encrypted: key {} replaced by {}", report.old_key, report.new_key),
            );
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::ChangePassphrase { new_passphrase_stdin } => {
            require_initialized(&dir)?;
            let old = keys::resolve(&dir, cli.passphrase_stdin, &mut input)?;
            let new = if *new_passphrase_stdin {
                keys::read_line(&mut input, "new passphrase")?
            } else {
                keys::prompt_new_passphrase()?
            };
            let new = KeySource::passphrase(new)?;
            a2e_db::change_key_source(&dir, &old, &new)?;
            print_result(cli, json!({ "changed": true }), "the database key is now protected by the new passphrase");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn init(cli: &Cli, dir: &Path, input: &mut dyn BufRead) -> anyhow::Result<ExitCode> {
    let existed = KeyStore::load(dir)?.is_some();
    let source = keys::resolve(dir, cli.passphrase_stdin, input)?;
    let db = open_with(dir, &source)?;
    let message = if existed { "already initialized" } else { "initialized" };
    print_result(
        cli,
        json!({ "data_dir": dir, "created": !existed, "key_source": source.kind(), "key": db.key_fingerprint() }),
        &format!("{message}: encrypted database at {} (key source: {:?})", db.path().display(), source.kind()),
    );
    Ok(ExitCode::SUCCESS)
}

fn status(cli: &Cli, dir: &Path, input: &mut dyn BufRead) -> anyhow::Result<ExitCode> {
    let store = KeyStore::load(dir)?;
    let Some(store) = store else {
        print_result(
            cli,
            json!({ "data_dir": dir, "initialized": false }),
            &format!("no database in {} yet; run `a2e db init`", dir.display()),
        );
        return Ok(ExitCode::from(exit::NOT_INITIALIZED));
    };
    let source = keys::resolve(dir, cli.passphrase_stdin, input)?;
    let db = open_with(dir, &source)?;
    db.health()?;
    let schema = db.verify_schema()?;
    if cli.json {
        let body = json!({
            "data_dir": dir,
            "initialized": true,
            "database": db.path(),
            "encrypted": db.is_encrypted(),
            "key_source": store.kek,
            "key": db.key_fingerprint(),
            "schema_version": schema.version,
            "schema_ok": schema.ok,
            "healthy": true,
        });
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        println!("data dir        {}", dir.display());
        println!("database        {}", db.path().display());
        println!("encrypted       {} (key {})", yes_no(db.is_encrypted()), db.key_fingerprint().unwrap_or_default());
        println!("key source      {:?}", store.kek);
        println!("schema          version {} ({})", schema.version, ok_str(schema.ok));
        println!("health          ok");
    }
    Ok(ExitCode::SUCCESS)
}

fn require_initialized(dir: &Path) -> anyhow::Result<()> {
    if KeyStore::load(dir)?.is_none() {
        return Err(coded(exit::NOT_INITIALIZED, format!("no database in {} yet; run `a2e db init`", dir.display())));
    }
    Ok(())
}

fn open_existing(cli: &Cli, dir: &Path, input: &mut dyn BufRead) -> anyhow::Result<Db> {
    require_initialized(dir)?;
    let source = keys::resolve(dir, cli.passphrase_stdin, input)?;
    open_with(dir, &source)
}

fn open_with(dir: &Path, source: &KeySource) -> anyhow::Result<Db> {
    Db::open(dir, source).with_context(|| format!("opening the database in {}", dir.display()))
}

fn print_result(cli: &Cli, body: serde_json::Value, text: &str) {
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&body).expect("json value serialises"));
    } else {
        println!("{text}");
    }
}

fn yes_no(v: bool) -> &'static str {
    if v {
        "yes"
    } else {
        "no"
    }
}

fn ok_str(v: bool) -> &'static str {
    if v {
        "ok"
    } else {
        "PROBLEMS FOUND"
    }
}
