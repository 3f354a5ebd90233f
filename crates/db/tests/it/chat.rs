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
        db.list_agents(false, Page::default()).unwrap().iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(db.list_agents(true, Page::default()).unwrap().len(), 1);
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
            &ChatSessionInput { id: "s1".into(), title: "Hello".into(), agent_id: Some("ag".into()), model_name: None },
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
                model_name: None,
            },
            T0 + 10 + i,
        )
        .unwrap();
    }
    // The new message bumped the session to the top of the list.
    let sessions = db.list_chat_sessions(Page::default()).unwrap();
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
    };
    assert!(matches!(db.add_chat_message(&orphan, T0), Err(Error::InvalidInput(_))));
    let bad_agent =
        ChatSessionInput { id: "s".into(), title: "t".into(), agent_id: Some("missing".into()), model_name: None };
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
            &ExecutionUpdate { status: "completed".into(), output: Some("ok".into()), error: None },
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
