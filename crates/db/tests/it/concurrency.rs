use std::sync::{Arc, Barrier};
use std::thread;

use a2e_db::{ChatMessageInput, ChatSessionInput, Error, NewAuditEvent, NewOneTimeToken, NewUser, Page};

use crate::{hash, open_temp, user, T0};

#[test]
fn eight_threads_of_mixed_writes_never_surface_busy() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 500;
    let (_dir, db) = open_temp();
    db.create_chat_session(&ChatSessionInput { id: "s".into(), title: "t".into(), ..Default::default() }, T0).unwrap();
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let db = db.clone();
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                for i in 0..PER_THREAD {
                    let id = format!("{t}-{i}");
                    match i % 4 {
                        0 => db
                            .create_user(
                                &NewUser {
                                    name: id.clone(),
                                    email: format!("{id}@x.com"),
                                    password_hash: "h".into(),
                                    ..Default::default()
                                },
                                T0,
                            )
                            .map(drop),
                        1 => db.kv_set(&format!("plugin{t}"), &id, id.as_bytes(), T0),
                        2 => db
                            .add_chat_message(
                                &ChatMessageInput {
                                    id,
                                    session_id: "s".into(),
                                    role: "user".into(),
                                    content: "x".into(),
                                    model_name: None,
                                    ..Default::default()
                                },
                                T0,
                            )
                            .map(drop),
                        _ => db
                            .record_audit_event(&NewAuditEvent { kind: "test".into(), ..Default::default() }, T0)
                            .map(drop),
                    }
                    .unwrap_or_else(|e| panic!("thread {t} op {i}: {e}"));
                    // Readers run between writes.
                    db.count_users().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let stats = db.stats().unwrap();
    let quarter = (THREADS * PER_THREAD / 4) as i64;
    assert_eq!(stats.tables["users"], quarter);
    assert_eq!(stats.tables["plugin_kv"], quarter);
    assert_eq!(stats.tables["chat_messages"], quarter);
    assert_eq!(stats.tables["audit_events"], quarter);
    assert_eq!(db.kv_list("plugin3", "", Page { limit: 1000, offset: 0 }).unwrap().len(), PER_THREAD / 4);
}

#[test]
fn ten_concurrent_consumers_of_one_token_get_exactly_one_success() {
    let (_dir, db) = open_temp();
    let u = user(&db, "ada", "ada@example.com");
    for round in 0..5 {
        db.create_password_reset_token(
            &NewOneTimeToken {
                token_hash: hash(round),
                user_uuid: u.uuid.clone(),
                email: u.email.clone(),
                expires_at: T0 + 100,
            },
            T0,
        )
        .unwrap();
        let barrier = Arc::new(Barrier::new(10));
        let handles: Vec<_> = (0..10)
            .map(|_| {
                let (db, barrier) = (db.clone(), barrier.clone());
                thread::spawn(move || {
                    barrier.wait();
                    db.consume_password_reset_token(&hash(round), T0 + 1)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "round {round}");
        assert!(results.iter().filter_map(|r| r.as_ref().err()).all(|e| matches!(e, Error::NotFound { .. })));
    }
}

#[test]
fn parallel_signups_with_one_email_leave_one_row() {
    let (_dir, db) = open_temp();
    let variants = ["same@example.com", "SAME@example.com", " same@Example.com ", "Same@EXAMPLE.com"];
    let barrier = Arc::new(Barrier::new(20));
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let (db, barrier) = (db.clone(), barrier.clone());
            let email = variants[i % variants.len()].to_owned();
            thread::spawn(move || {
                barrier.wait();
                db.create_user(
                    &NewUser { name: format!("n{i}"), email, password_hash: "h".into(), ..Default::default() },
                    T0,
                )
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| matches!(e, Error::AlreadyExists { field: "email" })));
    assert_eq!(db.count_users().unwrap(), 1);
}
