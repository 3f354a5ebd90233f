//! a2e-db-crashload: a load generator for the crash tests. It works on the database in DIR and
//! prints one line per acknowledged (committed) operation, so a parent that kills it with SIGKILL
//! at a random moment knows what must have survived.
//!
//! Usage: `a2e-db-crashload writes DIR` (users, kv sets and chat messages as fast as it can),
//! `a2e-db-crashload rekey DIR` (rekeys in a loop), `a2e-db-crashload passphrase DIR`
//! (switches between two secrets in a loop), `a2e-db-crashload restore DIR BACKUP` (restores a
//! backup in a loop).

use std::io::Write;
use std::path::Path;

use a2e_db::{ChatMessageInput, ChatSessionInput, Db, KeySource, NewUser};

/// The two secrets the passphrase mode switches between (the crash test uses the same two).
const SECRETS: [&str; 2] = ["crash test secret number one", "crash test secret number two"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (mode, dir) = match (args.get(1), args.get(2)) {
        (Some(mode), Some(dir)) => (mode.as_str(), Path::new(dir)),
        _ => {
            eprintln!("usage: a2e-db-crashload writes|rekey|passphrase|restore DIR [BACKUP]");
            std::process::exit(2);
        }
    };
    let key_file = KeySource::KeyFile(dir.join(a2e_db::keys::KEY_FILE));
    let mut out = std::io::stdout().lock();
    let mut ack = |line: String| {
        writeln!(out, "{line}").and_then(|_| out.flush()).expect("parent reads acknowledgements");
    };
    match mode {
        "writes" => {
            let db = Db::open(dir, &key_file).expect("open");
            let run = std::process::id();
            let session = format!("s{run}");
            db.create_chat_session(
                &ChatSessionInput { id: session.clone(), title: "crash".into(), ..Default::default() },
                0,
            )
            .expect("chat session");
            for i in 0u64.. {
                let id = format!("{run}-{i}");
                match i % 3 {
                    0 => {
                        let user = NewUser {
                            name: id.clone(),
                            email: format!("{id}@x.com"),
                            password_hash: "h".into(),
                            ..Default::default()
                        };
                        db.create_user(&user, 0).expect("create user");
                        ack(format!("user {id}@x.com"));
                    }
                    1 => {
                        db.kv_set("crash", &id, id.as_bytes(), 0).expect("kv set");
                        ack(format!("kv {id}"));
                    }
                    _ => {
                        let message = ChatMessageInput {
                            id: id.clone(),
                            session_id: session.clone(),
                            role: "user".into(),
                            content: id.clone(),
                            model_name: None,
                            ..Default::default()
                        };
                        db.add_chat_message(&message, 0).expect("chat message");
                        ack(format!("message {id}"));
                    }
                }
            }
        }
        "rekey" => loop {
            let report = a2e_db::rekey(dir, &key_file).expect("rekey");
            ack(format!("rekeyed {}", report.new_key));
        },
        "passphrase" => loop {
            let (old, new) = match Db::open(dir, &KeySource::secret(SECRETS[0].into()).unwrap()) {
                Ok(_) => (SECRETS[0], SECRETS[1]),
                Err(_) => (SECRETS[1], SECRETS[0]),
            };
            let (old, new) = (KeySource::secret(old.into()).unwrap(), KeySource::secret(new.into()).unwrap());
            a2e_db::change_key_source(dir, &old, &new).expect("change key source");
            ack("changed".into());
        },
        "restore" => {
            let backup = Path::new(args.get(3).expect("BACKUP path"));
            loop {
                a2e_db::restore(dir, &key_file, backup).expect("restore");
                ack("restored".into());
            }
        }
        other => {
            eprintln!("unknown mode {other}");
            std::process::exit(2);
        }
    }
}
