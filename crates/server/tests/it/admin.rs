//! The admin API: database and audit log.

use axum::http::{Method, StatusCode};

use crate::{req, server};

#[tokio::test]
async fn database_status_stats_verify_and_backup() {
    let s = server();
    let admin = s.admin().await;
    let st = req(Method::GET, "/api/admin/db/status").cookie(&admin).send(&s.app).await.expect(StatusCode::OK);
    assert_eq!(st.body["encrypted"], true);
    assert_eq!(st.body["healthy"], true);
    assert!(st.body["key_fingerprint"].as_str().unwrap().len() > 4);
    assert!(!st.text.contains("db.key\":"), "no key material: {}", st.text);
    let stats = req(Method::GET, "/api/admin/db/stats").cookie(&admin).send(&s.app).await.expect(StatusCode::OK);
    assert_eq!(stats.body["tables"]["users"], 1);
    let v = req(Method::POST, "/api/admin/db/verify").cookie(&admin).send(&s.app).await.expect(StatusCode::OK);
    assert_eq!(v.body["ok"], true, "{}", v.text);
    let b = req(Method::POST, "/api/admin/db/backup").cookie(&admin).send(&s.app).await.expect(StatusCode::OK);
    let path = std::path::PathBuf::from(b.body["path"].as_str().unwrap());
    assert!(path.starts_with(s.dir.path().join("backups")), "{}", path.display());
    assert!(path.is_file());
    assert!(std::path::Path::new(b.body["keystore_path"].as_str().unwrap()).is_file());
    // Two backups in the same millisecond get distinct names.
    let again = req(Method::POST, "/api/admin/db/backup").cookie(&admin).send(&s.app).await.expect(StatusCode::OK);
    assert_ne!(again.body["path"], b.body["path"]);
    // The backup restores into a fresh data dir with the same key source.
    let restored = tempfile::tempdir().unwrap();
    let source = a2e_db::KeySource::KeyFile(s.dir.path().join("db.key"));
    a2e_db::restore(restored.path(), &source, &path).unwrap();
    let db = a2e_db::Db::open(restored.path(), &source).unwrap();
    assert_eq!(db.count_users().unwrap(), 1);
}

#[tokio::test]
async fn admin_routes_refuse_regular_users_and_strangers() {
    let s = server();
    s.admin().await;
    let user = s.user("rita").await;
    let session = user["session_token"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, "/api/admin/db/status"),
        (Method::GET, "/api/admin/db/stats"),
        (Method::POST, "/api/admin/db/verify"),
        (Method::POST, "/api/admin/db/backup"),
        (Method::GET, "/api/admin/audit"),
    ] {
        req(method.clone(), path)
            .cookie(session)
            .send(&s.app)
            .await
            .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
        req(method, path).send(&s.app).await.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    assert!(!s.dir.path().join("backups").exists());
}

#[tokio::test]
async fn audit_log_pages_and_filters() {
    let s = server();
    let admin = s.admin().await;
    for _ in 0..3 {
        s.login("admin@example.com", "wrong password!").await.expect(StatusCode::UNAUTHORIZED);
    }
    let all = req(Method::GET, "/api/admin/audit").cookie(&admin).send(&s.app).await.expect(StatusCode::OK);
    let ids: Vec<i64> = all.body.as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let failed = req(Method::GET, "/api/admin/audit?kind=login.failed&limit=2")
        .cookie(&admin)
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    let page = failed.body.as_array().unwrap();
    assert_eq!(page.len(), 2);
    assert!(page.iter().all(|e| e["kind"] == "login.failed" && e["plugin"] == "auth"));
    let last = page[1]["id"].as_i64().unwrap();
    let next = req(Method::GET, &format!("/api/admin/audit?kind=login.failed&before_id={last}"))
        .cookie(&admin)
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    assert_eq!(next.body.as_array().unwrap().len(), 1);
    assert!(!all.text.contains("wrong password!"), "no passwords in the audit log");
    for bad in ["limit=0", "limit=501", "limit=abc", "before_id=x"] {
        req(Method::GET, &format!("/api/admin/audit?{bad}"))
            .cookie(&admin)
            .send(&s.app)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "INVALID_INPUT");
    }
}
