use a2e_db::{
    AgentExecutionInput, AgentInput, ChatMessageInput, ChatSessionInput, Error, ExecutionFilter, ExecutionUpdate, Page,
};

use crate::{open_temp, T0};

fn agent(id: &str, active: bool) -> AgentInput {
    AgentInput {
        id: id.into(),
        name: format!("Agent {id}"),
        model_name: "m1".into(),
        is_active: active,
        ..Default::default()
    }
}

#[test]
fn agents_crud_and_listing() {
    let (_dir, db) = open_temp();
    db.create_agent(&agent("b", true), T0).unwrap();
    db.create_agent(&agent("a", false), T0).unwrap();
    assert!(matches!(db.create_agent(&agent("a", true), T0), Err(Error::AlreadyExists { field: "id" })));
    assert_eq!(
        db.list_agents(false, None, Page::default()).unwrap().iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(db.list_agents(true, None, Page::default()).unwrap().len(), 1);
    let mut changed = agent("a", true);
    changed.system_prompt = "be brief".into();
    let updated = db.update_agent(&changed, T0 + 5).unwrap();
    assert_eq!(
        (updated.system_prompt.as_str(), updated.is_active, updated.updated_at, updated.created_at),
        ("be brief", true, T0 + 5, T0)
    );
    assert_eq!(db.get_agent("a").unwrap(), updated);
    assert!(matches!(db.update_agent(&agent("zz", true), T0), Err(Error::NotFound { entity: "agent" })));
    assert!(db.delete_agent("a").unwrap());
    assert!(matches!(db.get_agent("a"), Err(Error::NotFound { .. })));
}

#[test]
fn chat_sessions_and_messages_with_paging() {
    let (_dir, db) = open_temp();
    db.create_agent(&agent("ag", true), T0).unwrap();
    let s = db
        .create_chat_session(
            &ChatSessionInput {
                id: "s1".into(),
                title: "Hello".into(),
                agent_id: Some("ag".into()),
                model_name: None,
                user_uuid: None,
            },
            T0,
        )
        .unwrap();
    db.create_chat_session(&ChatSessionInput { id: "s2".into(), title: "Other".into(), ..Default::default() }, T0 + 1)
        .unwrap();
    for i in 0..5 {
        db.add_chat_message(
            &ChatMessageInput {
                id: format!("m{i}"),
                session_id: "s1".into(),
                role: "user".into(),
                content: format!("msg {i}"),
                ..Default::default()
            },
            T0 + 10 + i,
        )
        .unwrap();
    }
    // The new message bumped the session to the top of the list.
    let sessions = db.list_chat_sessions(None, Page::default()).unwrap();
    assert_eq!(sessions[0].id, "s1");
    assert_eq!(sessions[0].updated_at, T0 + 14);
    let page = db.list_chat_messages("s1", Page { limit: 2, offset: 2 }).unwrap();
    assert_eq!(page.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["m2", "m3"]);
    assert_eq!(db.get_chat_message("m0").unwrap().content, "msg 0");
    assert!(db.delete_chat_message("m0").unwrap());
    assert_eq!(db.update_chat_session_title("s1", "Renamed", T0 + 20).unwrap().title, "Renamed");
    assert!(matches!(db.list_chat_messages("s1", Page { limit: 0, offset: 0 }), Err(Error::InvalidInput(_))));
    assert!(matches!(db.list_chat_messages("s1", Page { limit: 1001, offset: 0 }), Err(Error::InvalidInput(_))));

    // Deleting the agent keeps the session, without its agent.
    db.delete_agent("ag").unwrap();
    assert_eq!(db.get_chat_session(&s.id).unwrap().agent_id, None);
    // Deleting the session deletes its messages.
    assert!(db.delete_chat_session("s1").unwrap());
    assert!(matches!(db.get_chat_message("m1"), Err(Error::NotFound { .. })));
}

#[test]
fn foreign_keys_and_checks_are_enforced() {
    let (_dir, db) = open_temp();
    let orphan = ChatMessageInput {
        id: "m".into(),
        session_id: "missing".into(),
        role: "user".into(),
        content: "x".into(),
        model_name: None,
        ..Default::default()
    };
    assert!(matches!(db.add_chat_message(&orphan, T0), Err(Error::InvalidInput(_))));
    let bad_agent = ChatSessionInput {
        id: "s".into(),
        title: "t".into(),
        agent_id: Some("missing".into()),
        model_name: None,
        user_uuid: None,
    };
    assert!(matches!(db.create_chat_session(&bad_agent, T0), Err(Error::InvalidInput(_))));
    db.create_chat_session(&ChatSessionInput { id: "s".into(), title: "t".into(), ..Default::default() }, T0).unwrap();
    let bad_role = ChatMessageInput { session_id: "s".into(), role: "robot".into(), ..orphan };
    assert!(matches!(db.add_chat_message(&bad_role, T0), Err(Error::InvalidInput(_))));
    let exec = AgentExecutionInput { id: "e".into(), agent_id: "missing".into(), ..Default::default() };
    assert!(matches!(db.create_agent_execution(&exec, T0), Err(Error::InvalidInput(_))));
}

#[test]
fn settings_round_trip() {
    let (_dir, db) = open_temp();
    assert!(matches!(db.get_setting("theme"), Err(Error::NotFound { entity: "setting" })));
    db.set_setting("theme", "dark", T0).unwrap();
    assert_eq!(db.set_setting("theme", "light", T0 + 1).unwrap().value, "light");
    db.set_setting("a", "1", T0).unwrap();
    assert_eq!(
        db.list_settings(Page::default()).unwrap().iter().map(|s| s.key.as_str()).collect::<Vec<_>>(),
        ["a", "theme"]
    );
    assert!(db.delete_setting("theme").unwrap());
    assert!(matches!(db.set_setting("", "x", T0), Err(Error::InvalidInput(_))));
}

#[test]
fn agent_executions_lifecycle_and_filters() {
    let (_dir, db) = open_temp();
    db.create_agent(&agent("ag", true), T0).unwrap();
    db.create_chat_session(&ChatSessionInput { id: "s".into(), title: "t".into(), ..Default::default() }, T0).unwrap();
    let e1 = db
        .create_agent_execution(
            &AgentExecutionInput {
                id: "e1".into(),
                agent_id: "ag".into(),
                session_id: Some("s".into()),
                input: "hi".into(),
                message_id: None,
            },
            T0,
        )
        .unwrap();
    assert_eq!((e1.status.as_str(), e1.completed_at), ("running", None));
    db.create_agent_execution(
        &AgentExecutionInput { id: "e2".into(), agent_id: "ag".into(), ..Default::default() },
        T0 + 1,
    )
    .unwrap();
    let done = db
        .update_agent_execution(
            "e1",
            &ExecutionUpdate { status: "completed".into(), output: Some("ok".into()), ..Default::default() },
            T0 + 9,
        )
        .unwrap();
    assert_eq!(
        (done.status.as_str(), done.output.as_deref(), done.completed_at),
        ("completed", Some("ok"), Some(T0 + 9))
    );
    assert!(matches!(
        db.update_agent_execution("e2", &ExecutionUpdate { status: "exploded".into(), ..Default::default() }, T0),
        Err(Error::InvalidInput(_))
    ));
    let running = db
        .list_agent_executions(
            &ExecutionFilter { status: Some("running".into()), ..Default::default() },
            Page::default(),
        )
        .unwrap();
    assert_eq!(running.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["e2"]);
    let in_session = db
        .list_agent_executions(&ExecutionFilter { session_id: Some("s".into()), ..Default::default() }, Page::default())
        .unwrap();
    assert_eq!(in_session.len(), 1);
    assert_eq!(db.list_agent_executions(&ExecutionFilter::default(), Page::default()).unwrap()[0].id, "e2");
    assert_eq!(db.get_agent_execution("e1").unwrap(), done);
}

#[test]
fn messages_form_a_tree_grow_in_place_and_are_found_by_words() {
    let (_dir, db) = open_temp();
    let session = |id: &str, user: &str| ChatSessionInput {
        id: id.into(),
        title: id.into(),
        user_uuid: Some(user.into()),
        ..Default::default()
    };
    db.create_chat_session(&session("a", "alice"), T0).unwrap();
    db.create_chat_session(&session("b", "bob"), T0).unwrap();
    let msg = |id: &str, session: &str, parent: Option<&str>, content: &str| ChatMessageInput {
        id: id.into(),
        session_id: session.into(),
        role: "user".into(),
        content: content.into(),
        parent_id: parent.map(Into::into),
        ..Default::default()
    };
    db.add_chat_message(&msg("q", "a", None, "What is the capital of France?"), T0).unwrap();
    db.add_chat_message(&msg("r1", "a", Some("q"), ""), T0 + 1).unwrap();
    db.add_chat_message(&msg("r2", "a", Some("q"), "Lyon, I think"), T0 + 2).unwrap();
    db.add_chat_message(&msg("bq", "b", None, "Paris in spring"), T0).unwrap();
    // A parent in another session, or missing, is refused.
    for parent in ["bq", "nope"] {
        let err = db.add_chat_message(&msg("x", "a", Some(parent), "x"), T0).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    }
    let all = db.list_chat_messages("a", Page::default()).unwrap();
    let children: Vec<&str> =
        all.iter().filter(|m| m.parent_id.as_deref() == Some("q")).map(|m| m.id.as_str()).collect();
    assert_eq!(children, ["r1", "r2"]);
    // An answer grows in place, then ends stopped; the session moves up.
    let grown = db.update_chat_message("r1", "The capital", "streaming", T0 + 5).unwrap();
    assert_eq!((grown.content.as_str(), grown.status.as_str()), ("The capital", "streaming"));
    db.update_chat_message("r1", "The capital of France is Paris.", "stopped", T0 + 6).unwrap();
    assert_eq!(db.get_chat_session("a").unwrap().updated_at, T0 + 6);
    assert!(db.update_chat_message("r1", "x", "exploded", T0).is_err());
    assert!(matches!(db.update_chat_message("nope", "x", "done", T0), Err(Error::NotFound { .. })));
    // Search: words by prefix, in the updated text, only in the user's own sessions.
    let found = |q: &str, user: Option<&str>| -> Vec<String> {
        db.search_chat_messages(q, user, Page::default()).unwrap().into_iter().map(|m| m.id).collect()
    };
    assert_eq!(found("pari", Some("alice")), ["r1"]);
    assert_eq!(found("paris", Some("bob")), ["bq"]);
    let mut both = found("paris", None);
    both.sort();
    assert_eq!(both, ["bq", "r1"]);
    assert_eq!(found("capital france", Some("alice")).len(), 2);
    assert!(found("\"unbalanced AND (", Some("alice")).is_empty());
    assert!(matches!(db.search_chat_messages("  ?! ", None, Page::default()), Err(Error::InvalidInput(_))));
    // Owners filter the session list; deleting a message deletes its replies.
    let listed: Vec<String> =
        db.list_chat_sessions(Some("bob"), Page::default()).unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(listed, ["b"]);
    db.delete_chat_message("q").unwrap();
    assert!(db.list_chat_messages("a", Page::default()).unwrap().is_empty());
    assert!(found("capital", Some("alice")).is_empty());
}

#[test]
fn executions_can_stop_and_carry_their_figures() {
    let (_dir, db) = open_temp();
    db.create_agent(&AgentInput { user_uuid: Some("alice".into()), ..agent("mine", true) }, T0).unwrap();
    db.create_agent(&agent("shared", true), T0).unwrap();
    db.create_agent(&AgentInput { user_uuid: Some("bob".into()), ..agent("bobs", true) }, T0).unwrap();
    let visible: Vec<String> =
        db.list_agents(true, Some("alice"), Page::default()).unwrap().into_iter().map(|a| a.id).collect();
    assert_eq!(visible, ["mine", "shared"]);
    assert_eq!(db.get_agent("mine").unwrap().options, "{}");
    let run = AgentExecutionInput {
        id: "e".into(),
        agent_id: "mine".into(),
        message_id: Some("m".into()),
        ..Default::default()
    };
    db.create_agent_execution(&run, T0).unwrap();
    let update = ExecutionUpdate {
        status: "stopped".into(),
        first_token_ms: Some(40),
        total_ms: Some(900),
        completion_tokens: Some(12),
        ..Default::default()
    };
    let stopped = db.update_agent_execution("e", &update, T0 + 900).unwrap();
    assert_eq!(stopped.status, "stopped");
    assert_eq!(stopped.completed_at, Some(T0 + 900));
    assert_eq!((stopped.first_token_ms, stopped.total_ms, stopped.completion_tokens), (Some(40), Some(900), Some(12)));
    assert_eq!(stopped.message_id.as_deref(), Some("m"));
    assert_eq!(stopped.prompt_tokens, None);
}
