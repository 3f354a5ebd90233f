//! Database host functions: users, sessions, one-time and refresh tokens, agents, chat,
//! settings and agent executions. The storage rows are the `a2e_abi` types, so a row is the
//! response as it is, with no copy.

use a2e_abi::{self as abi, codes};
use a2e_db as store;

use super::CallCtx;
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

pub(super) fn db_create_user(ctx: &CallCtx, req: abi::CreateUser) -> R<store::User> {
    let new = store::NewUser {
        name: req.name,
        email: req.email,
        password_hash: req.password_hash,
        role: req.role.unwrap_or_default(),
        email_verified: false,
    };
    ctx.state.db.create_user(&new, now(ctx)).map_err(user_err)
}

pub(super) fn db_get_user_by_email(ctx: &CallCtx, req: abi::ByEmail) -> R<store::User> {
    Ok(ctx.state.db.get_user_by_email(&req.email)?)
}

pub(super) fn db_get_user_by_uuid(ctx: &CallCtx, req: abi::ByUuid) -> R<store::User> {
    Ok(ctx.state.db.get_user_by_uuid(&req.uuid)?)
}

pub(super) fn db_update_user_password(ctx: &CallCtx, req: abi::UpdatePassword) -> R<abi::Empty> {
    ctx.state.db.update_user_password(&req.uuid, &req.password_hash, now(ctx))?;
    Ok(abi::Empty {})
}

pub(super) fn db_replace_user_password_hash(ctx: &CallCtx, req: abi::ReplacePasswordHash) -> R<abi::Replaced> {
    let replaced = ctx.state.db.replace_user_password_hash(&req.uuid, &req.expected, &req.password_hash, now(ctx))?;
    Ok(abi::Replaced { replaced })
}

pub(super) fn db_update_user_email_verified(ctx: &CallCtx, req: abi::UpdateEmailVerified) -> R<abi::Empty> {
    ctx.state.db.update_user_email_verified(&req.uuid, req.verified, now(ctx))?;
    Ok(abi::Empty {})
}

pub(super) fn db_update_user_profile(ctx: &CallCtx, req: abi::UpdateProfile) -> R<store::User> {
    let update = store::ProfileUpdate { name: req.name, avatar: req.avatar, bio: req.bio };
    ctx.state.db.update_user_profile(&req.uuid, &update, now(ctx)).map_err(user_err)
}

pub(super) fn db_create_session(ctx: &CallCtx, req: abi::CreateSession) -> R<store::Session> {
    let new = store::NewSession { id: req.id, user_uuid: req.user_uuid, expires_at: req.expires_at };
    Ok(ctx.state.db.create_session(&new, now(ctx))?)
}

pub(super) fn db_get_session(ctx: &CallCtx, req: abi::ById) -> R<store::Session> {
    Ok(ctx.state.db.get_session(&req.id)?)
}

pub(super) fn db_touch_session(ctx: &CallCtx, req: abi::TouchSession) -> R<abi::Empty> {
    ctx.state.db.touch_session(&req.id, now(ctx), req.expires_at)?;
    Ok(abi::Empty {})
}

pub(super) fn db_list_user_sessions(ctx: &CallCtx, req: abi::ByUserUuid) -> R<Vec<store::Session>> {
    Ok(ctx.state.db.list_user_sessions(&req.user_uuid)?)
}

pub(super) fn db_delete_session(ctx: &CallCtx, req: abi::ById) -> R<abi::Deleted> {
    Ok(deleted(ctx.state.db.delete_session(&req.id)?))
}

pub(super) fn db_delete_user_sessions(ctx: &CallCtx, req: abi::ByUserUuid) -> R<abi::Count> {
    Ok(count(ctx.state.db.delete_user_sessions(&req.user_uuid)?))
}

pub(super) fn db_cleanup_expired_sessions(ctx: &CallCtx, _req: abi::Empty) -> R<abi::Count> {
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

pub(super) fn db_create_email_verification_token(
    ctx: &CallCtx,
    req: abi::CreateOneTimeToken,
) -> R<store::OneTimeToken> {
    Ok(ctx.state.db.create_email_verification_token(&new_token(req), now(ctx))?)
}

pub(super) fn db_get_email_verification_token(ctx: &CallCtx, req: abi::ByTokenHash) -> R<store::OneTimeToken> {
    Ok(ctx.state.db.get_email_verification_token(&req.token_hash)?)
}

pub(super) fn db_delete_email_verification_token(ctx: &CallCtx, req: abi::ByTokenHash) -> R<abi::Deleted> {
    Ok(deleted(ctx.state.db.delete_email_verification_token(&req.token_hash)?))
}

pub(super) fn db_consume_email_verification_token(ctx: &CallCtx, req: abi::ByTokenHash) -> R<store::OneTimeToken> {
    Ok(ctx.state.db.consume_email_verification_token(&req.token_hash, now(ctx))?)
}

pub(super) fn db_delete_user_email_verification_tokens(ctx: &CallCtx, req: abi::ByUserUuid) -> R<abi::Count> {
    Ok(count(ctx.state.db.delete_user_email_verification_tokens(&req.user_uuid)?))
}

pub(super) fn db_create_password_reset_token(ctx: &CallCtx, req: abi::CreateOneTimeToken) -> R<store::OneTimeToken> {
    Ok(ctx.state.db.create_password_reset_token(&new_token(req), now(ctx))?)
}

pub(super) fn db_get_password_reset_token(ctx: &CallCtx, req: abi::ByTokenHash) -> R<store::OneTimeToken> {
    Ok(ctx.state.db.get_password_reset_token(&req.token_hash)?)
}

pub(super) fn db_delete_password_reset_token(ctx: &CallCtx, req: abi::ByTokenHash) -> R<abi::Deleted> {
    Ok(deleted(ctx.state.db.delete_password_reset_token(&req.token_hash)?))
}

pub(super) fn db_consume_password_reset_token(ctx: &CallCtx, req: abi::ByTokenHash) -> R<store::OneTimeToken> {
    Ok(ctx.state.db.consume_password_reset_token(&req.token_hash, now(ctx))?)
}

pub(super) fn db_replace_password_reset_token(ctx: &CallCtx, req: abi::CreateOneTimeToken) -> R<store::OneTimeToken> {
    Ok(ctx.state.db.replace_password_reset_token(&new_token(req), now(ctx))?)
}

pub(super) fn db_delete_user_password_reset_tokens(ctx: &CallCtx, req: abi::ByUserUuid) -> R<abi::Count> {
    Ok(count(ctx.state.db.delete_user_password_reset_tokens(&req.user_uuid)?))
}

pub(super) fn db_create_refresh_token(ctx: &CallCtx, req: abi::CreateRefreshToken) -> R<store::RefreshToken> {
    let new = store::NewRefreshToken {
        token_hash: req.token_hash,
        family_id: req.family_id,
        user_uuid: req.user_uuid,
        session_id: req.session_id,
        expires_at: req.expires_at,
    };
    Ok(ctx.state.db.create_refresh_token(&new, now(ctx))?)
}

pub(super) fn db_get_refresh_token(ctx: &CallCtx, req: abi::ByTokenHash) -> R<store::RefreshToken> {
    Ok(ctx.state.db.get_refresh_token(&req.token_hash)?)
}

pub(super) fn db_rotate_refresh_token(ctx: &CallCtx, req: abi::RotateRefreshToken) -> R<store::Rotation> {
    Ok(ctx.state.db.rotate_refresh_token(&req.old_hash, &req.new_hash, req.expires_at, now(ctx))?)
}

pub(super) fn db_revoke_refresh_family(ctx: &CallCtx, req: abi::ByFamily) -> R<abi::Count> {
    Ok(count(ctx.state.db.revoke_refresh_family(&req.family_id, now(ctx))?))
}

pub(super) fn db_revoke_user_refresh_tokens(ctx: &CallCtx, req: abi::ByUserUuid) -> R<abi::Count> {
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

pub(super) fn db_create_agent(ctx: &CallCtx, req: abi::AgentInput) -> R<store::Agent> {
    Ok(ctx.state.db.create_agent(&agent_input(req), now(ctx))?)
}

pub(super) fn db_get_agent(ctx: &CallCtx, req: abi::ById) -> R<store::Agent> {
    Ok(ctx.state.db.get_agent(&req.id)?)
}

pub(super) fn db_update_agent(ctx: &CallCtx, req: abi::AgentInput) -> R<store::Agent> {
    Ok(ctx.state.db.update_agent(&agent_input(req), now(ctx))?)
}

pub(super) fn db_delete_agent(ctx: &CallCtx, req: abi::ById) -> R<abi::Deleted> {
    Ok(deleted(ctx.state.db.delete_agent(&req.id)?))
}

pub(super) fn db_list_agents(ctx: &CallCtx, req: abi::ListAgents) -> R<Vec<store::Agent>> {
    Ok(ctx.state.db.list_agents(req.active_only, req.user_uuid.as_deref(), page(req.page))?)
}

pub(super) fn db_create_chat_session(ctx: &CallCtx, req: abi::CreateChatSession) -> R<store::ChatSession> {
    let input = store::ChatSessionInput {
        id: req.id,
        title: req.title,
        model_name: req.model_name,
        agent_id: req.agent_id,
        user_uuid: req.user_uuid,
    };
    Ok(ctx.state.db.create_chat_session(&input, now(ctx))?)
}

pub(super) fn db_get_chat_session(ctx: &CallCtx, req: abi::ById) -> R<store::ChatSession> {
    Ok(ctx.state.db.get_chat_session(&req.id)?)
}

pub(super) fn db_update_chat_session_title(ctx: &CallCtx, req: abi::UpdateTitle) -> R<store::ChatSession> {
    Ok(ctx.state.db.update_chat_session_title(&req.id, &req.title, now(ctx))?)
}

pub(super) fn db_delete_chat_session(ctx: &CallCtx, req: abi::ById) -> R<abi::Deleted> {
    Ok(deleted(ctx.state.db.delete_chat_session(&req.id)?))
}

pub(super) fn db_list_chat_sessions(ctx: &CallCtx, req: abi::ListChatSessions) -> R<Vec<store::ChatSession>> {
    let paging = page(abi::Page { limit: req.limit, offset: req.offset });
    Ok(ctx.state.db.list_chat_sessions(req.user_uuid.as_deref(), paging)?)
}

pub(super) fn db_add_chat_message(ctx: &CallCtx, req: abi::AddChatMessage) -> R<store::ChatMessage> {
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

pub(super) fn db_get_chat_message(ctx: &CallCtx, req: abi::ById) -> R<store::ChatMessage> {
    Ok(ctx.state.db.get_chat_message(&req.id)?)
}

pub(super) fn db_list_chat_messages(ctx: &CallCtx, req: abi::ListChatMessages) -> R<Vec<store::ChatMessage>> {
    Ok(ctx.state.db.list_chat_messages(&req.session_id, page(req.page))?)
}

pub(super) fn db_update_chat_message(ctx: &CallCtx, req: abi::UpdateChatMessage) -> R<store::ChatMessage> {
    Ok(ctx.state.db.update_chat_message(&req.id, &req.content, &req.status, now(ctx))?)
}

pub(super) fn db_search_chat_messages(ctx: &CallCtx, req: abi::SearchChatMessages) -> R<Vec<store::ChatMessage>> {
    Ok(ctx.state.db.search_chat_messages(&req.query, req.user_uuid.as_deref(), page(req.page))?)
}

pub(super) fn db_delete_chat_message(ctx: &CallCtx, req: abi::ById) -> R<abi::Deleted> {
    Ok(deleted(ctx.state.db.delete_chat_message(&req.id)?))
}

pub(super) fn db_get_setting(ctx: &CallCtx, req: abi::ByKey) -> R<store::Setting> {
    Ok(ctx.state.db.get_setting(&req.key)?)
}

pub(super) fn db_set_setting(ctx: &CallCtx, req: abi::SetSetting) -> R<store::Setting> {
    Ok(ctx.state.db.set_setting(&req.key, &req.value, now(ctx))?)
}

pub(super) fn db_delete_setting(ctx: &CallCtx, req: abi::ByKey) -> R<abi::Deleted> {
    Ok(deleted(ctx.state.db.delete_setting(&req.key)?))
}

pub(super) fn db_list_settings(ctx: &CallCtx, req: abi::Page) -> R<Vec<store::Setting>> {
    Ok(ctx.state.db.list_settings(page(req))?)
}

pub(super) fn db_create_agent_execution(ctx: &CallCtx, req: abi::CreateAgentExecution) -> R<store::AgentExecution> {
    let input = store::AgentExecutionInput {
        id: req.id,
        agent_id: req.agent_id,
        session_id: req.session_id,
        input: req.input,
        message_id: req.message_id,
    };
    Ok(ctx.state.db.create_agent_execution(&input, now(ctx))?)
}

pub(super) fn db_update_agent_execution(ctx: &CallCtx, req: abi::UpdateAgentExecution) -> R<store::AgentExecution> {
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

pub(super) fn db_get_agent_execution(ctx: &CallCtx, req: abi::ById) -> R<store::AgentExecution> {
    Ok(ctx.state.db.get_agent_execution(&req.id)?)
}

pub(super) fn db_list_agent_executions(ctx: &CallCtx, req: abi::ListAgentExecutions) -> R<Vec<store::AgentExecution>> {
    let filter = store::ExecutionFilter { agent_id: req.agent_id, session_id: req.session_id, status: req.status };
    Ok(ctx.state.db.list_agent_executions(&filter, page(req.page))?)
}
