//! Crash safety: a child process works on the database and is killed with SIGKILL at random
//! moments; every time, the database must open, pass both integrity checks, and hold every write
//! the child acknowledged.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use a2e_db::{Db, KeySource};

use crate::key_file;

const SECRETS: [&str; 2] = ["crash test secret number one", "crash test secret number two"];

/// A small xorshift generator, seeded per test, for kill delays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Runs the load generator in `mode`, kills it after `after`, and returns the complete lines it
/// acknowledged.
fn run_and_kill(args: &[&str], after: Duration) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_a2e-db-crashload"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("load generator starts");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if line.ends_with('\n') {
                lines.push(line.trim_end().to_owned());
            }
            line.clear();
        }
        lines
    });
    std::thread::sleep(after);
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    reader.join().unwrap()
}

fn check_opens_clean(dir: &Path, source: &KeySource) -> Db {
    let db = Db::open(dir, source).unwrap_or_else(|e| panic!("the database does not open after a kill: {e}"));
    let report = db.integrity_check().unwrap();
    assert!(report.ok, "integrity after a kill: {report:?}");
    db
}

#[test]
fn killed_writers_lose_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut acked: Vec<String> = Vec::new();
    for _ in 0..50 {
        acked.extend(run_and_kill(&["writes", path], Duration::from_millis(20 + rng.below(150))));
        let db = check_opens_clean(dir.path(), &key_file(&dir));
        for line in &acked {
            let (kind, id) = line.split_once(' ').unwrap();
            match kind {
                "user" => assert!(db.get_user_by_email(id).is_ok(), "lost acknowledged user {id}"),
                "kv" => assert!(db.kv_get("crash", id).unwrap().is_some(), "lost acknowledged kv {id}"),
                "message" => assert!(db.get_chat_message(id).is_ok(), "lost acknowledged message {id}"),
                other => panic!("unexpected line {other}"),
            }
        }
    }
    assert!(acked.len() > 50, "the writer made progress: {} acknowledged writes", acked.len());
    let unique: HashSet<&String> = acked.iter().collect();
    assert_eq!(unique.len(), acked.len());
}

#[test]
fn a_kill_during_rekey_leaves_a_database_that_opens() {
    let dir = tempfile::tempdir().unwrap();
    let kept = crate::user(&Db::open(dir.path(), &key_file(&dir)).unwrap(), "kept", "kept@x.com");
    let path = dir.path().to_str().unwrap();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut rekeys = 0;
    for _ in 0..20 {
        rekeys += run_and_kill(&["rekey", path], Duration::from_millis(10 + rng.below(400))).len();
        let db = check_opens_clean(dir.path(), &key_file(&dir));
        assert_eq!(db.get_user_by_uuid(&kept.uuid).unwrap(), kept);
    }
    assert!(rekeys > 0, "the child completed rekeys between kills");
}

#[test]
fn a_kill_during_a_key_source_change_leaves_one_of_the_two_working() {
    let dir = tempfile::tempdir().unwrap();
    let first = KeySource::secret(SECRETS[0].into()).unwrap();
    let second = KeySource::secret(SECRETS[1].into()).unwrap();
    let kept = crate::user(&Db::open(dir.path(), &first).unwrap(), "kept", "kept@x.com");
    let path = dir.path().to_str().unwrap();
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut changes = 0;
    for _ in 0..20 {
        changes += run_and_kill(&["passphrase", path], Duration::from_millis(10 + rng.below(300))).len();
        let db = Db::open(dir.path(), &first)
            .or_else(|_| Db::open(dir.path(), &second))
            .unwrap_or_else(|e| panic!("neither key opens the database: {e}"));
        assert!(db.integrity_check().unwrap().ok);
        assert_eq!(db.get_user_by_uuid(&kept.uuid).unwrap(), kept);
    }
    assert!(changes > 0);
}

#[test]
fn a_kill_during_restore_leaves_a_database_that_opens() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), &key_file(&dir)).unwrap();
    for i in 0..50 {
        crate::user(&db, &format!("u{i}"), &format!("u{i}@x.com"));
    }
    let backups = tempfile::tempdir().unwrap();
    let backup = backups.path().join("b.db");
    db.backup_to(&backup, &key_file(&dir)).unwrap();
    crate::user(&db, "after", "after@x.com");
    drop(db);
    let (path, backup) = (dir.path().to_str().unwrap(), backup.to_str().unwrap());
    let mut rng = Rng(0xA076_1D64_78BD_642F);
    for _ in 0..20 {
        run_and_kill(&["restore", path, backup], Duration::from_millis(10 + rng.below(300)));
        let db = check_opens_clean(dir.path(), &key_file(&dir));
        // Either the state before the first restore finished, or the backup's.
        let users = db.count_users().unwrap();
        assert!(users == 50 || users == 51, "{users} users");
    }
}
