use crate::{a2e, json, stderr};

#[test]
fn init_then_status_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let out = a2e(dir.path(), &["db", "init", "--json"], &[], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["created"], true);
    assert!(dir.path().join("a2e.db").exists() && dir.path().join("keystore.json").exists());
    assert!(stderr(&out).contains("key file"), "warns about the key file: {}", stderr(&out));
    let again = a2e(dir.path(), &["db", "init", "--json"], &[], "");
    assert_eq!(json(&again)["created"], false);
    let status = a2e(dir.path(), &["db", "status", "--json"], &[], "");
    assert!(status.status.success(), "{}", stderr(&status));
    let body = json(&status);
    assert_eq!(
        (body["encrypted"].as_bool(), body["schema_ok"].as_bool(), body["key_source"].as_str()),
        (Some(true), Some(true), Some("key_file"))
    );
    let text = a2e(dir.path(), &["db", "status"], &[], "");
    assert!(String::from_utf8_lossy(&text.stdout).contains("health          ok"));
}

#[test]
fn status_of_an_empty_data_dir_exits_5() {
    let dir = tempfile::tempdir().unwrap();
    let out = a2e(dir.path(), &["db", "status"], &[], "");
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stdout).contains("a2e db init"));
    assert_eq!(a2e(dir.path(), &["db", "stats"], &[], "").status.code(), Some(5));
    assert_eq!(a2e(dir.path(), &["db", "rekey"], &[], "").status.code(), Some(5));
}

#[test]
fn wrong_secret_exits_3_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let ok = a2e(dir.path(), &["db", "init"], &[("A2E_DB_KEY", "the correct secret")], "");
    assert!(ok.status.success(), "{}", stderr(&ok));
    let out = a2e(dir.path(), &["db", "status"], &[("A2E_DB_KEY", "not the right secret")], "");
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("wrong key"), "{}", stderr(&out));
    let out = a2e(dir.path(), &["db", "status", "--json"], &[], "");
    assert_eq!(out.status.code(), Some(3));
    assert!(json(&out)["error"]["message"].as_str().unwrap().contains("A2E_DB_KEY"));
}

#[test]
fn short_secret_is_refused_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let out = a2e(dir.path(), &["db", "init"], &[("A2E_DB_KEY", "short")], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("at least 16 characters"), "{}", stderr(&out));
    assert!(!dir.path().join("keystore.json").exists());
}

#[test]
fn key_file_env_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("secret.txt");
    std::fs::write(&key_path, "a secret from a file\n").unwrap();
    let env = [("A2E_DB_KEY_FILE", key_path.to_str().unwrap())];
    let data = dir.path().join("data");
    assert!(a2e(&data, &["db", "init"], &env, "").status.success());
    assert!(a2e(&data, &["db", "status"], &env, "").status.success());
    assert!(!data.join("db.key").exists());
    assert_eq!(a2e(&data, &["db", "status"], &[("A2E_DB_KEY", "a secret from a file")], "").status.code(), Some(0));
}

#[test]
fn verify_stats_backup_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    assert!(a2e(dir.path(), &["db", "init"], &[], "").status.success());
    let verify = a2e(dir.path(), &["db", "verify", "--json"], &[], "");
    assert_eq!(verify.status.code(), Some(0), "{}", stderr(&verify));
    assert_eq!(json(&verify)["ok"], true);
    let stats = a2e(dir.path(), &["db", "stats", "--json"], &[], "");
    assert_eq!(json(&stats)["tables"]["users"], 0);

    let backup = dir.path().join("backups/one.db");
    let out = a2e(dir.path(), &["db", "backup", backup.to_str().unwrap()], &[], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(backup.exists());
    let again = a2e(dir.path(), &["db", "backup", backup.to_str().unwrap()], &[], "");
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("refusing to overwrite"));

    let unconfirmed = a2e(dir.path(), &["db", "restore", backup.to_str().unwrap()], &[], "");
    assert_eq!(unconfirmed.status.code(), Some(1));
    assert!(stderr(&unconfirmed).contains("--yes"));
    let restored = a2e(dir.path(), &["db", "restore", backup.to_str().unwrap(), "--yes", "--json"], &[], "");
    assert!(restored.status.success(), "{}", stderr(&restored));
    assert_eq!(json(&restored)["users"], 0);

    std::fs::write(&backup, b"this is not a database at all, just some bytes").unwrap();
    let bad = a2e(dir.path(), &["db", "restore", backup.to_str().unwrap(), "--yes"], &[], "");
    assert_eq!(bad.status.code(), Some(4), "{}", stderr(&bad));
    assert!(a2e(dir.path(), &["db", "verify"], &[], "").status.success());
}

#[test]
fn rekey_and_change_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let init = a2e(dir.path(), &["db", "init", "--json"], &[], "");
    let key = json(&init)["key"].clone();
    let rekey = a2e(dir.path(), &["db", "rekey", "--json"], &[], "");
    assert!(rekey.status.success(), "{}", stderr(&rekey));
    assert_eq!(json(&rekey)["old_key"], key);
    assert_ne!(json(&rekey)["new_key"], key);

    let change = a2e(dir.path(), &["db", "change-passphrase", "--new-passphrase-stdin"], &[], "my new passphrase\n");
    assert!(change.status.success(), "{}", stderr(&change));
    assert!(!dir.path().join("db.key").exists(), "the key file is retired");
    let wrong = a2e(dir.path(), &["db", "status", "--passphrase-stdin"], &[], "not my passphrase\n");
    assert_eq!(wrong.status.code(), Some(3));
    let right = a2e(dir.path(), &["db", "status", "--passphrase-stdin", "--json"], &[], "my new passphrase\n");
    assert!(right.status.success(), "{}", stderr(&right));
    assert_eq!(json(&right)["key_source"], "passphrase");
    // Without a terminal and without --passphrase-stdin the command says what to do.
    let no_tty = a2e(dir.path(), &["db", "status"], &[], "");
    assert_ne!(no_tty.status.code(), Some(0));
    assert!(stderr(&no_tty).contains("--passphrase-stdin"), "{}", stderr(&no_tty));
    let short = a2e(
        dir.path(),
        &["db", "change-passphrase", "--passphrase-stdin", "--new-passphrase-stdin"],
        &[],
        "my new passphrase\nshort\n",
    );
    assert_eq!(short.status.code(), Some(1));
    assert!(a2e(dir.path(), &["db", "status", "--passphrase-stdin"], &[], "my new passphrase\n").status.success());
}
