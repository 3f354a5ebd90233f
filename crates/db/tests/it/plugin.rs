use a2e_db::{AuditFilter, Error, NewAuditEvent, Page};

use crate::{open_temp, T0};

#[test]
fn kv_is_isolated_per_plugin() {
    let (_dir, db) = open_temp();
    db.kv_set("alpha", "k", b"a-value", T0).unwrap();
    db.kv_set("beta", "k", b"b-value", T0).unwrap();
    assert_eq!(db.kv_get("alpha", "k").unwrap().unwrap().value, b"a-value");
    assert_eq!(db.kv_get("beta", "k").unwrap().unwrap().value, b"b-value");
    assert!(db.kv_delete("alpha", "k").unwrap());
    assert!(db.kv_get("alpha", "k").unwrap().is_none());
    assert!(db.kv_get("beta", "k").unwrap().is_some());
}

#[test]
fn kv_prefix_listing_and_limits() {
    let (_dir, db) = open_temp();
    for key in ["user:1", "user:2", "user:10", "users", "other"] {
        db.kv_set("p", key, key.as_bytes(), T0).unwrap();
    }
    db.kv_set("q", "user:3", b"x", T0).unwrap();
    let keys: Vec<String> = db.kv_list("p", "user:", Page::default()).unwrap().into_iter().map(|e| e.key).collect();
    assert_eq!(keys, ["user:1", "user:10", "user:2"]);
    assert_eq!(db.kv_list("p", "", Page { limit: 2, offset: 0 }).unwrap().len(), 2);
    // Keyset paging: keys after a key, within the prefix, the offset counted from there.
    let after = |a: &str, limit: u32, offset: u32| -> Vec<String> {
        db.kv_list_after("p", "user:", Some(a), Page { limit, offset }).unwrap().into_iter().map(|e| e.key).collect()
    };
    assert_eq!(after("user:1", 10, 0), ["user:10", "user:2"]);
    assert_eq!(after("user:1", 1, 1), ["user:2"]);
    assert_eq!(after("user:2", 10, 0), Vec::<String>::new());
    assert_eq!(after("a", 10, 0), ["user:1", "user:10", "user:2"], "an `after` before the prefix starts at the prefix");
    db.kv_set("p", "user:1", b"replaced", T0 + 1).unwrap();
    assert_eq!(db.kv_get("p", "user:1").unwrap().unwrap().updated_at, T0 + 1);
    assert!(matches!(db.kv_set("p", "", b"x", T0), Err(Error::InvalidInput(_))));
    assert!(matches!(db.kv_set("p", "big", &vec![0; a2e_db::MAX_KV_VALUE + 1], T0), Err(Error::InvalidInput(_))));
    // Many keys at once, all or none.
    let many: Vec<(String, Vec<u8>)> = (0..3).map(|i| (format!("m:{i}"), vec![i as u8])).collect();
    db.kv_set_many("p", &many, T0).unwrap();
    let bad = vec![("m:9".to_owned(), vec![1]), (String::new(), vec![2])];
    assert!(matches!(db.kv_set_many("p", &bad, T0), Err(Error::InvalidInput(_))));
    assert!(db.kv_get("p", "m:9").unwrap().is_none(), "nothing of a refused batch is written");
    assert_eq!(db.kv_list("p", "m:", Page::default()).unwrap().len(), 3);
    assert_eq!(db.kv_clear("p").unwrap(), 8);
    assert_eq!(db.kv_list("q", "", Page::default()).unwrap().len(), 1);
}

#[test]
fn grants_are_granted_listed_and_revoked() {
    let (_dir, db) = open_temp();
    db.grant("p", &["kv".into(), "time".into()], T0).unwrap();
    db.grant("p", &["kv".into()], T0 + 1).unwrap();
    db.grant("other", &["db.users.read".into()], T0).unwrap();
    let names: Vec<String> = db.list_grants("p").unwrap().into_iter().map(|g| g.grant).collect();
    assert_eq!(names, ["kv", "time"]);
    assert!(db.revoke("p", "kv").unwrap());
    assert!(!db.revoke("p", "kv").unwrap());
    assert_eq!(db.revoke_all("p").unwrap(), 1);
    assert_eq!(db.list_grants("other").unwrap().len(), 1);
}

#[test]
fn audit_events_are_recorded_filtered_and_paged() {
    let (_dir, db) = open_temp();
    for i in 0..5 {
        db.record_audit_event(
            &NewAuditEvent {
                kind: if i % 2 == 0 { "login.ok".into() } else { "login.failed".into() },
                plugin: Some("auth".into()),
                user_uuid: Some("u1".into()),
                client_addr: Some("127.0.0.1".into()),
                data: serde_json::json!({ "n": i }),
            },
            T0 + i,
        )
        .unwrap();
    }
    let ok = db
        .list_audit_events(&AuditFilter { kind: Some("login.ok".into()), ..Default::default() }, Page::default())
        .unwrap();
    assert_eq!(ok.len(), 3);
    assert_eq!(ok[0].data["n"], 4, "newest first");
    let older = db
        .list_audit_events(
            &AuditFilter { before_id: Some(ok[0].id), ..Default::default() },
            Page { limit: 2, offset: 0 },
        )
        .unwrap();
    assert_eq!(older.iter().map(|e| e.data["n"].as_i64().unwrap()).collect::<Vec<_>>(), [3, 2]);
    assert!(matches!(db.record_audit_event(&NewAuditEvent::default(), T0), Err(Error::InvalidInput(_))));
}

#[test]
fn rate_limit_window_allows_max_then_denies_then_resets() {
    let (_dir, db) = open_temp();
    for i in 1..=3 {
        let d = db.rate_limit_hit("login", "a@x", 3, 1000, T0).unwrap();
        assert!(d.allowed && d.count == i);
    }
    let denied = db.rate_limit_hit("login", "a@x", 3, 1000, T0 + 400).unwrap();
    assert!(!denied.allowed);
    assert_eq!(denied.retry_after_ms, 600);
    assert_eq!(db.rate_limit_peek("login", "a@x", 1000, T0 + 400).unwrap(), 3);
    assert!(db.rate_limit_hit("login", "other", 3, 1000, T0).unwrap().allowed, "keys are separate");
    assert!(db.rate_limit_hit("login", "a@x", 3, 1000, T0 + 1000).unwrap().allowed, "window expired");
    db.rate_limit_reset("login", "a@x").unwrap();
    assert_eq!(db.rate_limit_peek("login", "a@x", 1000, T0 + 1000).unwrap(), 0);
    assert_eq!(db.rate_limit_cleanup(T0 + 1).unwrap(), 1);
    assert!(matches!(db.rate_limit_hit("x", "y", 1, 0, T0), Err(Error::InvalidInput(_))));
}

#[test]
fn host_secret_is_created_once() {
    let (_dir, db) = open_temp();
    let first = db.host_secret("jwt", T0, || vec![7; 32]).unwrap();
    let second = db.host_secret("jwt", T0, || vec![9; 32]).unwrap();
    assert_eq!(first, vec![7; 32]);
    assert_eq!(second, first);
}

#[test]
fn data_version_changes_on_commits_from_any_connection() {
    let (dir, db) = open_temp();
    let v0 = db.data_version().unwrap();
    assert_eq!(db.data_version().unwrap(), v0, "stable without writes");
    db.grant("p", &["kv".into()], T0).unwrap();
    let v1 = db.data_version().unwrap();
    assert_ne!(v1, v0);
    // A second handle on the same file stands in for another process.
    let other = a2e_db::Db::open(dir.path(), &crate::key_file(&dir)).unwrap();
    other.revoke("p", "kv").unwrap();
    assert_ne!(db.data_version().unwrap(), v1);
}
