use a2e_db::{Error, NewUser, ProfileUpdate};

use crate::{open_temp, user, T0};

#[test]
fn create_then_get_by_email_and_uuid() {
    let (_dir, db) = open_temp();
    let created = user(&db, "ada", "Ada@Example.com");
    assert_eq!(created.role, "user");
    assert!(!created.email_verified);
    assert_eq!(created.email, "Ada@Example.com");
    assert_eq!(db.get_user_by_email("ada@example.COM").unwrap(), created);
    assert_eq!(db.get_user_by_uuid(&created.uuid).unwrap(), created);
    assert_eq!(db.count_users().unwrap(), 1);
}

#[test]
fn unknown_user_is_not_found() {
    let (_dir, db) = open_temp();
    assert!(matches!(db.get_user_by_email("nobody@example.com"), Err(Error::NotFound { entity: "user" })));
    assert!(matches!(db.get_user_by_uuid("nope"), Err(Error::NotFound { .. })));
    assert!(matches!(db.update_user_password("nope", "h", T0), Err(Error::NotFound { .. })));
}

#[test]
fn duplicate_email_and_name_are_already_exists_with_the_field() {
    let (_dir, db) = open_temp();
    user(&db, "ada", "ada@example.com");
    let new = |name: &str, email: &str| NewUser {
        name: name.into(),
        email: email.into(),
        password_hash: "h".into(),
        ..Default::default()
    };
    let err = db.create_user(&new("other", " ADA@example.com "), T0).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { field: "email" }), "{err}");
    let err = db.create_user(&new("ada", "x@example.com"), T0).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { field: "name" }), "{err}");
    assert_eq!(db.count_users().unwrap(), 1);
}

#[test]
fn emails_differing_only_by_unicode_case_or_normalisation_collide() {
    let (_dir, db) = open_temp();
    user(&db, "j1", "J\u{00D6}RG@example.com");
    for variant in ["j\u{00F6}rg@example.com", "jo\u{0308}rg@example.com", "JO\u{0308}RG@EXAMPLE.COM"] {
        let err = db
            .create_user(
                &NewUser {
                    name: format!("n{}", variant.len()),
                    email: variant.into(),
                    password_hash: "h".into(),
                    ..Default::default()
                },
                T0,
            )
            .unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { field: "email" }), "{variant:?}: {err}");
        assert!(db.get_user_by_email(variant).is_ok());
    }
}

#[test]
fn invalid_input_is_refused_before_writing() {
    let (_dir, db) = open_temp();
    let base = NewUser { name: "n".into(), email: "a@b.c".into(), password_hash: "h".into(), ..Default::default() };
    for bad in [
        NewUser { email: "no-at".into(), ..base.clone() },
        NewUser { name: "".into(), ..base.clone() },
        NewUser { name: "x".repeat(201), ..base.clone() },
        NewUser { password_hash: "".into(), ..base.clone() },
        NewUser { role: "root".into(), ..base.clone() },
    ] {
        assert!(matches!(db.create_user(&bad, T0), Err(Error::InvalidInput(_))), "{bad:?}");
    }
    assert_eq!(db.count_users().unwrap(), 0);
}

#[test]
fn injection_strings_are_stored_literally() {
    let (_dir, db) = open_temp();
    let name = "x'); DROP TABLE users;--";
    let created = user(&db, name, "o'r@x.com");
    assert_eq!(db.get_user_by_uuid(&created.uuid).unwrap().name, name);
    assert!(matches!(db.get_user_by_email("'or'1'='1'--@x.com"), Err(Error::NotFound { .. })));
    assert!(matches!(db.get_user_by_email("x@x.com';DROP-TABLE-users;--"), Err(Error::NotFound { .. })));
    assert_eq!(db.count_users().unwrap(), 1);
}

#[test]
fn updates_change_only_their_fields() {
    let (_dir, db) = open_temp();
    let u = user(&db, "ada", "ada@example.com");
    db.update_user_password(&u.uuid, "new-hash", T0 + 1).unwrap();
    db.update_user_email_verified(&u.uuid, true, T0 + 2).unwrap();
    db.update_user_role(&u.uuid, "admin", T0 + 3).unwrap();
    db.update_user_disabled(&u.uuid, true, T0 + 4).unwrap();
    let got = db.get_user_by_uuid(&u.uuid).unwrap();
    assert_eq!(
        (got.password_hash.as_str(), got.email_verified, got.role.as_str(), got.disabled),
        ("new-hash", true, "admin", true)
    );
    assert_eq!(got.updated_at, T0 + 4);
    assert!(matches!(db.update_user_role(&u.uuid, "root", T0), Err(Error::InvalidInput(_))));

    let updated = db
        .update_user_profile(&u.uuid, &ProfileUpdate { bio: Some("hello".into()), ..Default::default() }, T0 + 5)
        .unwrap();
    assert_eq!(
        (updated.name.as_str(), updated.bio.as_deref(), updated.avatar.as_deref()),
        ("ada", Some("hello"), None)
    );
    let cleared = db
        .update_user_profile(
            &u.uuid,
            &ProfileUpdate { name: Some("ada2".into()), avatar: Some("a.png".into()), bio: Some(String::new()) },
            T0 + 6,
        )
        .unwrap();
    assert_eq!((cleared.name.as_str(), cleared.bio, cleared.avatar.as_deref()), ("ada2", None, Some("a.png")));
    assert!(matches!(db.update_user_profile("missing", &ProfileUpdate::default(), T0), Err(Error::NotFound { .. })));
}

#[test]
fn rehash_replaces_only_the_expected_hash() {
    let (_dir, db) = open_temp();
    let u = user(&db, "ada", "ada@example.com");
    assert!(!db.replace_user_password_hash(&u.uuid, "other", "new", T0).unwrap());
    assert!(db.replace_user_password_hash(&u.uuid, &u.password_hash, "new", T0).unwrap());
    assert_eq!(db.get_user_by_uuid(&u.uuid).unwrap().password_hash, "new");
}
