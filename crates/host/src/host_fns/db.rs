//! Database host functions: users, sessions, one-time and refresh tokens, agents, chat,
//! settings and agent executions. Responses are the storage rows, whose JSON shape equals the
//! matching `a2e_abi` type (checked by tests).

use a2e_abi::{self as abi, codes};
use a2e_db as store;

use super::{typed, CallCtx, Handler};
use crate::error::FnError;

type R<T> = Result<T, FnError>;

fn now(ctx: &CallCtx) -> i64 {
    ctx.state.clock.now_ms()
}

fn page(p: abi::Page) -> store::Page {
    store::Page { limit: p.limit, offset: p.offset }
}

fn deleted(deleted: bool) -> abi::Deleted {
    abi::Deleted { deleted }
}

fn count(count: u64) -> abi::Count {
    abi::Count { count }
}

/// A user collision is USER_EXISTS rather than the generic ALREADY_EXISTS.
fn user_err(err: store::Error) -> FnError {
    match err {
        store::Error::AlreadyExists { field } => {
            FnError::new(codes::USER_EXISTS, format!("a user with this {field} exists"))
        }
        other => other.into(),
    }
}

fn create_user(ctx: &CallCtx, req: abi::CreateUser) -> R<store::User> {
    let new = store::NewUser {
        name: req.name,
        email: req.email,
        password_hash: req.password_hash,
        role: req.role.unwrap_or_default(),
        email_verified: false,
    };
    ctx.state.db.create_user(&new, now(ctx)).map_err(user_err)
}

fn get_user_by_email(ctx: &CallCtx, req: abi::ByEmail) -> R<store::User> {
    Ok(ctx.state.db.get_user_by_email(&req.email)?)
}

fn get_user_by_uuid(ctx: &CallCtx, req: abi::ByUuid) -> R<store::User> {
    Ok(ctx.state.db.get_user_by_uuid(&req.uuid)?)
}

fn update_user_password(ctx: &CallCtx, req: abi::UpdatePassword) -> R<abi::Empty> {
    ctx.state.db.update_user_password(&req.uuid, &req.password_hash, now(ctx))?;
    Ok(abi::Empty {})
}

fn replace_user_password_hash(ctx: &CallCtx, req: abi::ReplacePasswordHash) -> R<abi::Replaced> {
    let replaced = ctx.state.db.replace_user_password_hash(&req.uuid, &req.expected, &req.password_hash, now(ctx))?;
    Ok(abi::Replaced { replaced })
}

fn update_user_email_verified(ctx: &CallCtx, req: abi::UpdateEmailVerified) -> R<abi::Empty> {
    ctx.state.db.update_user_email_verified(&req.uuid, req.verified, now(ctx))?;
    Ok(abi::Empty {})
}

fn update_user_profile(ctx: &CallCtx, req: abi::UpdateProfile) -> R<store::User> {
    let update = store::ProfileUpdate { name: req.name, avatar: req.avatar, bio: req.bio };
    ctx.state.db.update_user_profile(&req.uuid, &update, now(ctx)).map_err(user_err)
}

fn create_session(ctx: &CallCtx, req: abi::CreateSession) -> R<store::Session> {
    let new = store::NewSession { id: req.id, user_uuid: req.user_uuid, expires_at: req.expires_at };
    Ok(ctx.state.db.create_session(&new, now(ctx))?)
}

fn get_session(ctx: &CallCtx, req: abi::ById) -> R<store::Session> {
    Ok(ctx.state.db.get_session(&req.id)?)
}

fn touch_session(ctx: &CallCtx, req: abi::TouchSession) -> R<abi::Empty> {
    ctx.state.db.touch_session(&req.id, now(ctx), req.expires_at)?;
    Ok(abi::Empty {})
}

fn list_user_sessions(ctx: &CallCtx, req: abi::ByUserUuid) -> R<Vec<store::Session>> {
    Ok(ctx.state.db.list_user_sessions(&req.user_uuid)?)
}

fn delete_session(ctx: &CallCtx, req: abi::ById) -> R<abi::Deleted> {
    Ok(deleted(ctx.state.db.delete_session(&req.id)?))
}

fn delete_user_sessions(ctx: &CallCtx, req: abi::ByUserUuid) -> R<abi::Count> {
    Ok(count(ctx.state.db.delete_user_sessions(&req.user_uuid)?))
}

fn cleanup_expired_sessions(ctx: &CallCtx, _req: abi::Empty) -> R<abi::Count> {
    Ok(count(ctx.state.db.cleanup_expired_sessions(now(ctx))?))
}

fn new_token(req: abi::CreateOneTimeToken) -> store::NewOneTimeToken {
    store::NewOneTimeToken {
        token_hash: req.token_hash,
        user_uuid: req.user_uuid,
        email: req.email,
        expires_at: req.expires_at,
    }
}

fn create_email_verification_token(ctx: &CallCtx, req: abi::CreateOneTimeToken) -> R<store::OneTimeToken> {
    Ok(ctx.state.db.create_email_verification_token(&new_token(req), now(ctx))?)
}

fn get_email_verification_token(ctx: &CallCtx, req: abi::ByTokenHash) -> R<store::OneTimeToken> {
    Ok(ctx.state.db.get_email_verification_token(&req.token_hash)?)
}

fn delete_email_verification_token(ctx: &CallCtx, req: abi::ByTokenHash) -> R<abi::Deleted> {
    Ok(deleted(ctx.state.db.delete_email_verification_token(&req.token_hash)?))
}

fn consume_email_verification_token(ctx: &CallCtx, req: abi::ByTokenHash) -> R<store::OneTimeToken> {
    Ok(ctx.state.db.consume_email_verification_token(&req.token_hash, now(ctx))?)
}

fn delete_user_email_verification_tokens(ctx: &CallCtx, req: abi::ByUserUuid) -> R<abi::Count> {
    Ok(count(ctx.state.db.delete_user_email_verification_tokens(&req.user_uuid)?))
}

fn create_password_reset_token(ctx: &CallCtx, req: abi::CreateOneTimeToken) -> R<store::OneTimeToken> {
    Ok(ctx.state.db.create_password_reset_token(&new_token(req), now(ctx))?)
}

fn get_password_reset_token(ctx: &CallCtx, req: abi::ByTokenHash) -> R<store::OneTimeToken> {
    Ok(ctx.state.db.get_password_reset_token(&req.token_hash)?)
}

fn delete_password_reset_token(ctx: &CallCtx, req: abi::ByTokenHash) -> R<abi::Deleted> {
    Ok(deleted(ctx.state.db.delete_password_reset_token(&req.token_hash)?))
}

fn consume_password_reset_token(ctx: &CallCtx, req: abi::ByTokenHash) -> R<store::OneTimeToken> {
    Ok(ctx.state.db.consume_password_reset_token(&req.token_hash, now(ctx))?)
}

fn replace_password_reset_token(ctx: &CallCtx, req: abi::CreateOneTimeToken) -> R<store::OneTimeToken> {
    Ok(ctx.state.db.replace_password_reset_token(&new_token(req), now(ctx))?)
}

fn delete_user_password_reset_tokens(ctx: &CallCtx, req: abi::ByUserUuid) -> R<abi::Count> {
    Ok(count(ctx.state.db.delete_user_password_reset_tokens(&req.user_uuid)?))
}

fn create_refresh_token(ctx: &CallCtx, req: abi::CreateRefreshToken) -> R<store::RefreshToken> {
    let new = store::NewRefreshToken {
        token_hash: req.token_hash,
        family_id: req.family_id,
        user_uuid: req.user_uuid,
        session_id: req.session_id,
        expires_at: req.expires_at,
    };
    Ok(ctx.state.db.create_refresh_token(&new, now(ctx))?)
}

fn get_refresh_token(ctx: &CallCtx, req: abi::ByTokenHash) -> R<store::RefreshToken> {
    Ok(ctx.state.db.get_refresh_token(&req.token_hash)?)
}

fn rotate_refresh_token(ctx: &CallCtx, req: abi::RotateRefreshToken) -> R<store::Rotation> {
    Ok(ctx.state.db.rotate_refresh_token(&req.old_hash, &req.new_hash, req.expires_at, now(ctx))?)
}

fn revoke_refresh_family(ctx: &CallCtx, req: abi::ByFamily) -> R<abi::Count> {
    Ok(count(ctx.state.db.revoke_refresh_family(&req.family_id, now(ctx))?))
}

fn revoke_user_refresh_tokens(ctx: &CallCtx, req: abi::ByUserUuid) -> R<abi::Count> {
    Ok(count(ctx.state.db.revoke_user_refresh_tokens(&req.user_uuid, now(ctx))?))
}

fn agent_input(req: abi::AgentInput) -> store::AgentInput {
    store::AgentInput {
        id: req.id,
        name: req.name,
        description: req.description,
        model_name: req.model_name,
        system_prompt: req.system_prompt,
        is_active: req.is_active.unwrap_or(true),
        user_uuid: req.user_uuid,
        options: req.options.unwrap_or_else(|| "{}".into()),
    }
}

fn create_agent(ctx: &CallCtx, req: abi::AgentInput) -> R<store::Agent> {
    Ok(ctx.state.db.create_agent(&agent_input(req), now(ctx))?)
}

fn get_agent(ctx: &CallCtx, req: abi::ById) -> R<store::Agent> {
    Ok(ctx.state.db.get_agent(&req.id)?)
}

fn update_agent(ctx: &CallCtx, req: abi::AgentInput) -> R<store::Agent> {
    Ok(ctx.state.db.update_agent(&agent_input(req), now(ctx))?)
}

fn delete_agent(ctx: &CallCtx, req: abi::ById) -> R<abi::Deleted> {
    Ok(deleted(ctx.state.db.delete_agent(&req.id)?))
}

fn list_agents(ctx: &CallCtx, req: abi::ListAgents) -> R<Vec<store::Agent>> {
    Ok(ctx.state.db.list_agents(req.active_only, req.user_uuid.as_deref(), page(req.page))?)
}

fn create_chat_session(ctx: &CallCtx, req: abi::CreateChatSession) -> R<store::ChatSession> {
    let input = store::ChatSessionInput {
        id: req.id,
        title: req.title,
        model_name: req.model_name,
        agent_id: req.agent_id,
        user_uuid: req.user_uuid,
    };
    Ok(ctx.state.db.create_chat_session(&input, now(ctx))?)
}

fn get_chat_session(ctx: &CallCtx, req: abi::ById) -> R<store::ChatSession> {
    Ok(ctx.state.db.get_chat_session(&req.id)?)
}

fn update_chat_session_title(ctx: &CallCtx, req: abi::UpdateTitle) -> R<store::ChatSession> {
    Ok(ctx.state.db.update_chat_session_title(&req.id, &req.title, now(ctx))?)
}

fn delete_chat_session(ctx: &CallCtx, req: abi::ById) -> R<abi::Deleted> {
    Ok(deleted(ctx.state.db.delete_chat_session(&req.id)?))
}

fn list_chat_sessions(ctx: &CallCtx, req: abi::ListChatSessions) -> R<Vec<store::ChatSession>> {
    let paging = page(abi::Page { limit: req.limit, offset: req.offset });
    Ok(ctx.state.db.list_chat_sessions(req.user_uuid.as_deref(), paging)?)
}

fn add_chat_message(ctx: &CallCtx, req: abi::AddChatMessage) -> R<store::ChatMessage> {
    let input = store::ChatMessageInput {
        id: req.id,
        session_id: req.session_id,
        role: req.role,
        content: req.content,
        model_name: req.model_name,
        parent_id: req.parent_id,
        status: req.status.unwrap_or_else(|| "done".into()),
    };
    Ok(ctx.state.db.add_chat_message(&input, now(ctx))?)
}

fn get_chat_message(ctx: &CallCtx, req: abi::ById) -> R<store::ChatMessage> {
    Ok(ctx.state.db.get_chat_message(&req.id)?)
}

fn list_chat_messages(ctx: &CallCtx, req: abi::ListChatMessages) -> R<Vec<store::ChatMessage>> {
    Ok(ctx.state.db.list_chat_messages(&req.session_id, page(req.page))?)
}

fn update_chat_message(ctx: &CallCtx, req: abi::UpdateChatMessage) -> R<store::ChatMessage> {
    Ok(ctx.state.db.update_chat_message(&req.id, &req.content, &req.status, now(ctx))?)
}

fn search_chat_messages(ctx: &CallCtx, req: abi::SearchChatMessages) -> R<Vec<store::ChatMessage>> {
    Ok(ctx.state.db.search_chat_messages(&req.query, req.user_uuid.as_deref(), page(req.page))?)
}

fn delete_chat_message(ctx: &CallCtx, req: abi::ById) -> R<abi::Deleted> {
    Ok(deleted(ctx.state.db.delete_chat_message(&req.id)?))
}

fn get_setting(ctx: &CallCtx, req: abi::ByKey) -> R<store::Setting> {
    Ok(ctx.state.db.get_setting(&req.key)?)
}

fn set_setting(ctx: &CallCtx, req: abi::SetSetting) -> R<store::Setting> {
    Ok(ctx.state.db.set_setting(&req.key, &req.value, now(ctx))?)
}

fn delete_setting(ctx: &CallCtx, req: abi::ByKey) -> R<abi::Deleted> {
    Ok(deleted(ctx.state.db.delete_setting(&req.key)?))
}

fn list_settings(ctx: &CallCtx, req: abi::Page) -> R<Vec<store::Setting>> {
    Ok(ctx.state.db.list_settings(page(req))?)
}

fn create_agent_execution(ctx: &CallCtx, req: abi::CreateAgentExecution) -> R<store::AgentExecution> {
    let input = store::AgentExecutionInput {
        id: req.id,
        agent_id: req.agent_id,
        session_id: req.session_id,
        input: req.input,
        message_id: req.message_id,
    };
    Ok(ctx.state.db.create_agent_execution(&input, now(ctx))?)
}

fn update_agent_execution(ctx: &CallCtx, req: abi::UpdateAgentExecution) -> R<store::AgentExecution> {
    let update = store::ExecutionUpdate {
        status: req.status,
        output: req.output,
        error: req.error,
        first_token_ms: req.first_token_ms,
        total_ms: req.total_ms,
        prompt_tokens: req.prompt_tokens,
        completion_tokens: req.completion_tokens,
    };
    Ok(ctx.state.db.update_agent_execution(&req.id, &update, now(ctx))?)
}

fn get_agent_execution(ctx: &CallCtx, req: abi::ById) -> R<store::AgentExecution> {
    Ok(ctx.state.db.get_agent_execution(&req.id)?)
}

fn list_agent_executions(ctx: &CallCtx, req: abi::ListAgentExecutions) -> R<Vec<store::AgentExecution>> {
    let filter = store::ExecutionFilter { agent_id: req.agent_id, session_id: req.session_id, status: req.status };
    Ok(ctx.state.db.list_agent_executions(&filter, page(req.page))?)
}

pub(super) fn handlers() -> Vec<(&'static str, Handler)> {
    vec![
        ("db_create_user", typed!(create_user)),
        ("db_get_user_by_email", typed!(get_user_by_email)),
        ("db_get_user_by_uuid", typed!(get_user_by_uuid)),
        ("db_update_user_password", typed!(update_user_password)),
        ("db_replace_user_password_hash", typed!(replace_user_password_hash)),
        ("db_update_user_email_verified", typed!(update_user_email_verified)),
        ("db_update_user_profile", typed!(update_user_profile)),
        ("db_create_session", typed!(create_session)),
        ("db_get_session", typed!(get_session)),
        ("db_touch_session", typed!(touch_session)),
        ("db_list_user_sessions", typed!(list_user_sessions)),
        ("db_delete_session", typed!(delete_session)),
        ("db_delete_user_sessions", typed!(delete_user_sessions)),
        ("db_cleanup_expired_sessions", typed!(cleanup_expired_sessions)),
        ("db_create_email_verification_token", typed!(create_email_verification_token)),
        ("db_get_email_verification_token", typed!(get_email_verification_token)),
        ("db_delete_email_verification_token", typed!(delete_email_verification_token)),
        ("db_consume_email_verification_token", typed!(consume_email_verification_token)),
        ("db_delete_user_email_verification_tokens", typed!(delete_user_email_verification_tokens)),
        ("db_create_password_reset_token", typed!(create_password_reset_token)),
        ("db_get_password_reset_token", typed!(get_password_reset_token)),
        ("db_delete_password_reset_token", typed!(delete_password_reset_token)),
        ("db_consume_password_reset_token", typed!(consume_password_reset_token)),
        ("db_replace_password_reset_token", typed!(replace_password_reset_token)),
        ("db_delete_user_password_reset_tokens", typed!(delete_user_password_reset_tokens)),
        ("db_create_refresh_token", typed!(create_refresh_token)),
        ("db_get_refresh_token", typed!(get_refresh_token)),
        ("db_rotate_refresh_token", typed!(rotate_refresh_token)),
        ("db_revoke_refresh_family", typed!(revoke_refresh_family)),
        ("db_revoke_user_refresh_tokens", typed!(revoke_user_refresh_tokens)),
        ("db_create_agent", typed!(create_agent)),
        ("db_get_agent", typed!(get_agent)),
        ("db_update_agent", typed!(update_agent)),
        ("db_delete_agent", typed!(delete_agent)),
        ("db_list_agents", typed!(list_agents)),
        ("db_create_chat_session", typed!(create_chat_session)),
        ("db_get_chat_session", typed!(get_chat_session)),
        ("db_update_chat_session_title", typed!(update_chat_session_title)),
        ("db_delete_chat_session", typed!(delete_chat_session)),
        ("db_list_chat_sessions", typed!(list_chat_sessions)),
        ("db_add_chat_message", typed!(add_chat_message)),
        ("db_update_chat_message", typed!(update_chat_message)),
        ("db_search_chat_messages", typed!(search_chat_messages)),
        ("db_get_chat_message", typed!(get_chat_message)),
        ("db_list_chat_messages", typed!(list_chat_messages)),
        ("db_delete_chat_message", typed!(delete_chat_message)),
        ("db_get_setting", typed!(get_setting)),
        ("db_set_setting", typed!(set_setting)),
        ("db_delete_setting", typed!(delete_setting)),
        ("db_list_settings", typed!(list_settings)),
        ("db_create_agent_execution", typed!(create_agent_execution)),
        ("db_update_agent_execution", typed!(update_agent_execution)),
        ("db_get_agent_execution", typed!(get_agent_execution)),
        ("db_list_agent_executions", typed!(list_agent_executions)),
    ]
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;
    use serde::Serialize;

    use super::*;

    /// The storage row must serialise to exactly the JSON of the ABI type plugins decode.
    fn same_shape<Row: Serialize, Wire: Serialize + DeserializeOwned>(row: Row) {
        let json = serde_json::to_value(&row).unwrap();
        let wire: Wire = serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{e}: {json}"));
        assert_eq!(serde_json::to_value(&wire).unwrap(), json);
    }

    #[test]
    fn storage_rows_have_the_abi_shapes() {
        let s = |v: &str| v.to_owned();
        same_shape::<_, abi::User>(store::User {
            id: 1,
            uuid: s("u"),
            name: s("n"),
            email: s("e"),
            password_hash: s("h"),
            email_verified: true,
            avatar: None,
            bio: Some(s("b")),
            role: s("user"),
            disabled: false,
            created_at: 1,
            updated_at: 2,
        });
        same_shape::<_, abi::Session>(store::Session {
            id: s("i"),
            user_uuid: s("u"),
            created_at: 1,
            last_seen_at: 2,
            expires_at: 3,
        });
        let token =
            store::OneTimeToken { token_hash: s("t"), user_uuid: s("u"), email: s("e"), created_at: 1, expires_at: 2 };
        same_shape::<_, abi::OneTimeToken>(token);
        let refresh = store::RefreshToken {
            token_hash: s("t"),
            family_id: s("f"),
            user_uuid: s("u"),
            session_id: Some(s("s")),
            parent_hash: None,
            created_at: 1,
            expires_at: 2,
            revoked_at: Some(3),
        };
        same_shape::<_, abi::RefreshToken>(refresh.clone());
        same_shape::<_, abi::Rotation>(store::Rotation::Rotated { token: refresh });
        same_shape::<_, abi::Rotation>(store::Rotation::Reused { family_id: s("f"), user_uuid: s("u") });
        same_shape::<_, abi::Rotation>(store::Rotation::Expired);
        same_shape::<_, abi::Rotation>(store::Rotation::NotFound);
        same_shape::<_, abi::Agent>(store::Agent {
            id: s("a"),
            name: s("n"),
            description: s("d"),
            model_name: s("m"),
            system_prompt: s("p"),
            is_active: true,
            created_at: 1,
            updated_at: 2,
            user_uuid: Some(s("u")),
            options: s("{}"),
        });
        same_shape::<_, abi::ChatSession>(store::ChatSession {
            id: s("c"),
            title: s("t"),
            model_name: None,
            agent_id: Some(s("a")),
            created_at: 1,
            updated_at: 2,
            user_uuid: Some(s("u")),
        });
        same_shape::<_, abi::ChatMessage>(store::ChatMessage {
            id: s("m"),
            session_id: s("c"),
            role: s("user"),
            content: s("x"),
            model_name: None,
            created_at: 1,
            parent_id: Some(s("p")),
            status: s("done"),
        });
        same_shape::<_, abi::Setting>(store::Setting { key: s("k"), value: s("v"), updated_at: 1 });
        same_shape::<_, abi::AgentExecution>(store::AgentExecution {
            id: s("e"),
            agent_id: s("a"),
            session_id: None,
            status: s("running"),
            input: s("i"),
            output: None,
            error: Some(s("x")),
            started_at: 1,
            completed_at: None,
            message_id: Some(s("m")),
            first_token_ms: Some(3),
            total_ms: None,
            prompt_tokens: Some(4),
            completion_tokens: None,
        });
    }
}
