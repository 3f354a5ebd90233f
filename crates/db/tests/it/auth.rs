use a2e_db::{Error, NewOneTimeToken, NewRefreshToken, NewSession, Rotation};

use crate::{hash, open_temp, user, T0};

#[test]
fn session_lifecycle() {
    let (_dir, db) = open_temp();
    let u = user(&db, "ada", "ada@example.com");
    let s =
        db.create_session(&NewSession { id: hash(1), user_uuid: u.uuid.clone(), expires_at: T0 + 1000 }, T0).unwrap();
    assert_eq!((s.created_at, s.last_seen_at, s.expires_at), (T0, T0, T0 + 1000));
    assert_eq!(db.get_session(&hash(1)).unwrap(), s);
    db.touch_session(&hash(1), T0 + 500, T0 + 1500).unwrap();
    let touched = db.get_session(&hash(1)).unwrap();
    assert_eq!((touched.last_seen_at, touched.expires_at), (T0 + 500, T0 + 1500));
    // A session expired at exactly its expiry cannot be extended.
    assert!(matches!(db.touch_session(&hash(1), T0 + 1500, T0 + 9999), Err(Error::NotFound { .. })));
    assert!(db.delete_session(&hash(1)).unwrap());
    assert!(!db.delete_session(&hash(1)).unwrap());
    assert!(matches!(db.get_session(&hash(1)), Err(Error::NotFound { entity: "session" })));
}

#[test]
fn session_for_unknown_user_or_with_bad_hash_is_invalid_input() {
    let (_dir, db) = open_temp();
    let err =
        db.create_session(&NewSession { id: hash(1), user_uuid: "ghost".into(), expires_at: T0 }, T0).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    let u = user(&db, "ada", "ada@example.com");
    let err =
        db.create_session(&NewSession { id: "raw-token".into(), user_uuid: u.uuid, expires_at: T0 }, T0).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
}

#[test]
fn delete_user_sessions_and_cleanup_expired() {
    let (_dir, db) = open_temp();
    let a = user(&db, "a", "a@x.com");
    let b = user(&db, "b", "b@x.com");
    for (n, owner, exp) in [(1, &a, T0 + 10), (2, &a, T0 + 20), (3, &b, T0 + 10), (4, &b, T0 + 100)] {
        db.create_session(&NewSession { id: hash(n), user_uuid: owner.uuid.clone(), expires_at: exp }, T0).unwrap();
    }
    assert_eq!(db.list_user_sessions(&a.uuid).unwrap().len(), 2);
    assert_eq!(db.delete_user_sessions(&a.uuid).unwrap(), 2);
    assert_eq!(db.list_user_sessions(&b.uuid).unwrap().len(), 2);
    // Exactly at expires_at counts as expired.
    assert_eq!(db.cleanup_expired_sessions(T0 + 10).unwrap(), 1);
    assert!(db.get_session(&hash(4)).is_ok());
}

#[test]
fn one_time_tokens_are_single_use_and_expire() {
    let (_dir, db) = open_temp();
    let u = user(&db, "ada", "ada@example.com");
    let new = |n| crate::one_time(&u, n);
    let created = db.create_email_verification_token(&new(1), T0).unwrap();
    assert_eq!(db.get_email_verification_token(&hash(1)).unwrap(), created);
    assert_eq!(db.consume_email_verification_token(&hash(1), T0 + 1).unwrap(), created);
    assert!(matches!(db.consume_email_verification_token(&hash(1), T0 + 1), Err(Error::NotFound { .. })));

    db.create_email_verification_token(&new(2), T0).unwrap();
    assert!(matches!(db.consume_email_verification_token(&hash(2), T0 + 100), Err(Error::NotFound { .. })));
    assert!(
        matches!(db.get_email_verification_token(&hash(2)), Err(Error::NotFound { .. })),
        "expired token is deleted"
    );

    db.create_email_verification_token(&new(3), T0).unwrap();
    assert!(db.delete_email_verification_token(&hash(3)).unwrap());
    db.create_email_verification_token(&new(4), T0).unwrap();
    assert_eq!(db.delete_user_email_verification_tokens(&u.uuid).unwrap(), 1);

    db.create_password_reset_token(&new(5), T0).unwrap();
    db.create_password_reset_token(&new(6), T0).unwrap();
    assert_eq!(db.get_password_reset_token(&hash(5)).unwrap().email, u.email);
    assert!(db.delete_password_reset_token(&hash(5)).unwrap());
    assert_eq!(db.consume_password_reset_token(&hash(6), T0 + 99).unwrap().user_uuid, u.uuid);
    db.create_password_reset_token(&new(7), T0).unwrap();
    db.create_password_reset_token(&new(8), T0).unwrap();
    assert_eq!(db.delete_user_password_reset_tokens(&u.uuid).unwrap(), 2);
    // Reset and verification tables are separate.
    db.create_password_reset_token(&new(9), T0).unwrap();
    assert!(matches!(db.consume_email_verification_token(&hash(9), T0), Err(Error::NotFound { .. })));
}

#[test]
fn refresh_rotation_and_reuse_detection() {
    let (_dir, db) = open_temp();
    let u = user(&db, "ada", "ada@example.com");
    db.create_refresh_token(
        &NewRefreshToken {
            token_hash: hash(1),
            family_id: "fam".into(),
            user_uuid: u.uuid.clone(),
            session_id: None,
            expires_at: T0 + 100,
        },
        T0,
    )
    .unwrap();
    let Rotation::Rotated { token } = db.rotate_refresh_token(&hash(1), &hash(2), T0 + 200, T0 + 1).unwrap() else {
        panic!("expected rotation")
    };
    assert_eq!((token.family_id.as_str(), token.parent_hash.as_deref()), ("fam", Some(hash(1).as_str())));
    assert_eq!(db.get_refresh_token(&hash(1)).unwrap().revoked_at, Some(T0 + 1));

    // Replaying the used token revokes the whole family, including the live successor.
    let replay = db.rotate_refresh_token(&hash(1), &hash(3), T0 + 200, T0 + 2).unwrap();
    assert_eq!(replay, Rotation::Reused { family_id: "fam".into(), user_uuid: u.uuid.clone() });
    assert_eq!(db.get_refresh_token(&hash(2)).unwrap().revoked_at, Some(T0 + 2));
    assert!(matches!(db.rotate_refresh_token(&hash(2), &hash(4), T0 + 200, T0 + 3).unwrap(), Rotation::Reused { .. }));
    assert_eq!(db.rotate_refresh_token(&hash(99), &hash(5), T0, T0).unwrap(), Rotation::NotFound);
    assert!(matches!(db.get_refresh_token(&hash(3)), Err(Error::NotFound { .. })));
}

#[test]
fn expired_refresh_token_does_not_rotate() {
    let (_dir, db) = open_temp();
    let u = user(&db, "ada", "ada@example.com");
    let new = |n, fam: &str| NewRefreshToken {
        token_hash: hash(n),
        family_id: fam.into(),
        user_uuid: u.uuid.clone(),
        session_id: None,
        expires_at: T0 + 100,
    };
    db.create_refresh_token(&new(1, "f1"), T0).unwrap();
    assert_eq!(db.rotate_refresh_token(&hash(1), &hash(2), T0 + 300, T0 + 100).unwrap(), Rotation::Expired);
    db.create_refresh_token(&new(3, "f2"), T0).unwrap();
    db.create_refresh_token(&new(4, "f3"), T0).unwrap();
    assert_eq!(db.revoke_refresh_family("f2", T0).unwrap(), 1);
    assert_eq!(db.revoke_user_refresh_tokens(&u.uuid, T0).unwrap(), 1);
}

#[test]
fn deleting_a_session_detaches_its_refresh_tokens() {
    let (_dir, db) = open_temp();
    let u = user(&db, "ada", "ada@example.com");
    db.create_session(&NewSession { id: hash(10), user_uuid: u.uuid.clone(), expires_at: T0 + 100 }, T0).unwrap();
    db.create_refresh_token(
        &NewRefreshToken {
            token_hash: hash(1),
            family_id: "f".into(),
            user_uuid: u.uuid.clone(),
            session_id: Some(hash(10)),
            expires_at: T0 + 100,
        },
        T0,
    )
    .unwrap();
    db.delete_session(&hash(10)).unwrap();
    assert_eq!(db.get_refresh_token(&hash(1)).unwrap().session_id, None);
}

#[test]
fn replacing_a_reset_token_drops_the_older_ones_in_one_step() {
    let (_dir, db) = open_temp();
    let u = user(&db, "ada", "ada@example.com");
    let new = |n| crate::one_time(&u, n);
    db.create_password_reset_token(&new(1), T0).unwrap();
    db.create_password_reset_token(&new(2), T0).unwrap();
    assert_eq!(db.replace_password_reset_token(&new(3), T0).unwrap().token_hash, hash(3));
    assert!(matches!(db.get_password_reset_token(&hash(1)), Err(Error::NotFound { .. })));
    assert!(matches!(db.get_password_reset_token(&hash(2)), Err(Error::NotFound { .. })));
    assert!(db.get_password_reset_token(&hash(3)).is_ok());
    let ghost = NewOneTimeToken { user_uuid: "ghost".into(), ..new(4) };
    assert!(matches!(db.replace_password_reset_token(&ghost, T0), Err(Error::InvalidInput(_))));
}
