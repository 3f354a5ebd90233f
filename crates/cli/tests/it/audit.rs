//! `a2e audit verify` and `a2e audit export` over the trail the bundled audit plugin keeps.

use a2e_db::{Db, KeySource};

use crate::{a2e, json, stderr};

#[test]
fn audit_verify_reports_an_intact_trail_and_names_a_tampered_record() {
    let dir = tempfile::tempdir().unwrap();
    // No audit plugin yet: a clear error.
    let none = a2e(dir.path(), &["audit", "verify"], &[], "");
    assert_eq!(none.status.code(), Some(1));
    assert!(stderr(&none).contains("is it installed"), "{}", stderr(&none));
    // Creating accounts installs the bundled plugins; the sign-ups land on the trail.
    for (name, email) in [("Root", "root@example.com"), ("Ann", "ann@example.com")] {
        let out =
            a2e(dir.path(), &["user", "create", "--name", name, "--email", email], &[], "a long enough password\n");
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let ok = a2e(dir.path(), &["audit", "verify"], &[], "");
    assert!(ok.status.success(), "{}", stderr(&ok));
    let text = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert!(text.starts_with("audit trail intact: "), "{text}");
    let report = json(&a2e(dir.path(), &["--json", "audit", "verify"], &[], ""));
    assert_eq!(report["ok"], true);
    let records = report["checked"].as_u64().unwrap();
    assert!(records >= 2, "{report}");

    // Export: one JSON line per record, oldest first, chained.
    let file = dir.path().join("trail.jsonl");
    let out = a2e(dir.path(), &["audit", "export", "--out", file.to_str().unwrap()], &[], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len() as u64, records);
    for pair in lines.windows(2) {
        assert_eq!(pair[1]["prev"], pair[0]["hash"]);
    }

    // Someone with the key edits record 1 in the database: verify fails with exit code 4 and
    // names the record.
    {
        let db = Db::open(dir.path(), &KeySource::from_env(dir.path()).unwrap()).unwrap();
        let key = "r:000000000001";
        let mut record: serde_json::Value =
            serde_json::from_slice(&db.kv_get("audit", key).unwrap().unwrap().value).unwrap();
        record["kind"] = "nothing.happened".into();
        db.kv_set("audit", key, record.to_string().as_bytes(), 0).unwrap();
    }
    let broken = a2e(dir.path(), &["audit", "verify"], &[], "");
    assert_eq!(broken.status.code(), Some(4));
    let text = String::from_utf8_lossy(&broken.stdout).into_owned();
    assert!(text.contains("BROKEN at record 1"), "{text}");
}
