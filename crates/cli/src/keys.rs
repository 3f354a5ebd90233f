//! Choosing the database key source for a command: environment, key file, or a passphrase.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use a2e_db::{KekKind, KeySource, KeyStore};
use anyhow::Context;

/// Resolves the key source for `data_dir`: `--passphrase-stdin`, then `A2E_DB_KEY` /
/// `A2E_DB_KEY_FILE`, then, if the key store says a passphrase wraps the key, a prompt; otherwise
/// the key file in the data dir.
pub fn resolve(data_dir: &Path, passphrase_stdin: bool, stdin: &mut dyn BufRead) -> anyhow::Result<KeySource> {
    if passphrase_stdin {
        return Ok(KeySource::passphrase(read_line(stdin, "passphrase")?)?);
    }
    let from_env = KeySource::from_env(data_dir)?;
    let stored = KeyStore::load(data_dir)?.map(|s| s.kek);
    if stored == Some(KekKind::Passphrase) && matches!(from_env, KeySource::KeyFile(_)) {
        if !std::io::stdin().is_terminal() {
            anyhow::bail!(
                "this database is protected by a passphrase; pass --passphrase-stdin and write it to standard input"
            );
        }
        let passphrase = rpassword::prompt_password("Database passphrase: ")
            .context("this database is protected by a passphrase; use --passphrase-stdin when not on a terminal")?;
        return Ok(KeySource::passphrase(passphrase)?);
    }
    Ok(from_env)
}

/// Reads one line (without its line ending) from `stdin`.
pub fn read_line(stdin: &mut dyn BufRead, what: &str) -> anyhow::Result<String> {
    let mut line = String::new();
    let read = stdin.read_line(&mut line).with_context(|| format!("reading the {what} from standard input"))?;
    if read == 0 {
        anyhow::bail!("standard input ended before the {what}");
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Asks for a new passphrase twice on the terminal.
pub fn prompt_new_passphrase() -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("no terminal to ask for the new passphrase; use --new-passphrase-stdin");
    }
    let first = rpassword::prompt_password("New passphrase: ")
        .context("no terminal to ask for the new passphrase; use --new-passphrase-stdin")?;
    let second = rpassword::prompt_password("Repeat the new passphrase: ")?;
    if first != second {
        anyhow::bail!("the two passphrases differ; nothing was changed");
    }
    Ok(first)
}
