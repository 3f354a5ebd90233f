//! Chat with local language models over a2e's encrypted chat store.
//!
//! Providers (an administrator's list of model servers: Ollama or OpenAI-compatible), agents
//! (a system prompt and model settings, a user's own or shared by an administrator), sessions
//! whose messages form a tree (regenerate, edit and fork add branches and keep the old ones),
//! answers written server-side and streamed through a room per answer (see `gen`), one
//! execution row per answer, full-text search, export and import. Every function works for the
//! signed-in user who calls it and sees only that user's sessions.

use a2e_pdk::abi::{
    AddChatMessage, Agent, AgentInput, ById, CallUser, ChatMessage, ChatSession, CreateAgentExecution,
    CreateChatSession, ListAgents, ListChatMessages, ListChatSessions, Page, SearchChatMessages, UpdateTitle,
};
use a2e_pdk::codes;
use a2e_pdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

mod gen;
mod providers;

use providers::Provider;

/// The agent used when a chat names none.
const DEFAULT_AGENT: &str = "default";

fn config_num(key: &str, default: u64) -> u64 {
    config::get(key).ok().flatten().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

fn invalid(message: impl Into<String>) -> HostError {
    error(codes::INVALID_INPUT, message)
}

fn not_found(what: &str) -> HostError {
    error(codes::NOT_FOUND, format!("no such {what}"))
}

/// The signed-in user of this call.
fn caller() -> Result<CallUser> {
    context::user()?.ok_or_else(|| error(codes::UNAUTHENTICATED, "sign in to chat"))
}

fn require_admin(user: &CallUser) -> Result<()> {
    if user.role == "admin" {
        Ok(())
    } else {
        Err(error(codes::PERMISSION_DENIED, "only an administrator may do this"))
    }
}

fn new_id(prefix: &str) -> Result<String> {
    let bytes = random::bytes(8)?;
    Ok(format!("{prefix}{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

/// Model settings of an agent (stored as its `options`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Options {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
}

impl Options {
    fn check(&self) -> Result<()> {
        if self.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
            return Err(invalid("temperature must be 0 to 2"));
        }
        if self.top_p.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
            return Err(invalid("top_p must be 0 to 1"));
        }
        if self.max_tokens.is_some_and(|t| t == 0 || t > 32_768) || self.context_length.is_some_and(|c| c > 1 << 20) {
            return Err(invalid("max_tokens must be 1 to 32768 and context_length at most 1048576"));
        }
        if self.stop.as_ref().is_some_and(|s| s.len() > 8 || s.iter().any(|x| x.is_empty() || x.len() > 64)) {
            return Err(invalid("stop holds at most 8 sequences of 1 to 64 bytes"));
        }
        Ok(())
    }
}

fn options_of(agent: &Agent) -> Options {
    serde_json::from_str(&agent.options).unwrap_or_default()
}

// ---------------------------------------------------------------- providers

#[derive(Serialize)]
struct ProviderView {
    id: String,
    name: String,
    kind: String,
    base_url: String,
    default_model: Option<String>,
    users: Vec<String>,
}

fn view(p: &Provider) -> ProviderView {
    ProviderView {
        id: p.id.clone(),
        name: p.name.clone(),
        kind: p.kind.clone(),
        base_url: p.base_url.clone(),
        default_model: p.default_model.clone(),
        users: p.users.clone(),
    }
}

/// The providers the caller may use.
#[plugin_fn]
pub fn providers(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |_: Value| {
        let user = caller()?;
        let all = providers::all()?;
        Ok(all
            .iter()
            .filter(|p| user.role == "admin" || providers::allowed(p, &user.uuid))
            .map(view)
            .collect::<Vec<_>>())
    })
}

/// Adds or replaces a provider (administrators). With `check: true` (the default) the model
/// list is fetched first, so a URL the plugin may not reach, or that serves no models, is
/// refused with the reason.
#[plugin_fn]
pub fn save_provider(input: Vec<u8>) -> FnResult<Vec<u8>> {
    #[derive(Deserialize)]
    struct Req {
        #[serde(flatten)]
        provider: Provider,
        #[serde(default = "yes")]
        check: bool,
    }
    fn yes() -> bool {
        true
    }
    handle(&input, |req: Req| {
        require_admin(&caller()?)?;
        let mut p = req.provider;
        p.base_url = p.base_url.trim().trim_end_matches('/').to_owned();
        let models = if req.check { providers::models(&p)? } else { Vec::new() };
        if p.default_model.is_none() {
            p.default_model = models.first().cloned();
        }
        let saved = providers::save(p)?;
        Ok(json!({ "provider": view(&saved), "models": models }))
    })
}

/// Removes a provider (administrators).
#[plugin_fn]
pub fn delete_provider(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: ById| {
        require_admin(&caller()?)?;
        Ok(json!({ "deleted": providers::delete(&req.id)? }))
    })
}

fn usable_provider(user: &CallUser, id: Option<&str>) -> Result<Provider> {
    let all = providers::all()?;
    let usable: Vec<&Provider> =
        all.iter().filter(|p| user.role == "admin" || providers::allowed(p, &user.uuid)).collect();
    match id {
        Some(id) => usable.into_iter().find(|p| p.id == id).cloned().ok_or_else(|| not_found("provider")),
        None => usable.first().map(|p| (*p).clone()).ok_or_else(|| {
            error(
                codes::NOT_FOUND,
                "no model provider is set up yet: an administrator adds one on the Chat providers page",
            )
        }),
    }
}

/// The models of a provider, from the provider.
#[plugin_fn]
pub fn models(input: Vec<u8>) -> FnResult<Vec<u8>> {
    #[derive(Deserialize, Default)]
    struct Req {
        #[serde(default)]
        provider: Option<String>,
    }
    handle(&input, |req: Option<Req>| {
        let user = caller()?;
        let p = usable_provider(&user, req.unwrap_or_default().provider.as_deref())?;
        Ok(json!({ "provider": p.id, "models": providers::models(&p)?, "default_model": p.default_model }))
    })
}

// ---------------------------------------------------------------- agents

/// The caller's agents and the shared ones.
#[plugin_fn]
pub fn agents(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |_: Value| {
        let user = caller()?;
        ensure_default_agent()?;
        host::db_list_agents(&ListAgents {
            active_only: true,
            page: Page { limit: 200, offset: 0 },
            user_uuid: Some(user.uuid),
        })
    })
}

fn ensure_default_agent() -> Result<Agent> {
    match host::db_get_agent(&ById { id: DEFAULT_AGENT.into() }) {
        Ok(agent) => Ok(agent),
        Err(e) if e.code == codes::NOT_FOUND => host::db_create_agent(&AgentInput {
            id: DEFAULT_AGENT.into(),
            name: "Assistant".into(),
            description: "A helpful assistant with no special instructions.".into(),
            model_name: String::new(),
            system_prompt: String::new(),
            is_active: Some(true),
            user_uuid: None,
            options: Some("{}".into()),
        }),
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
struct SaveAgent {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    system_prompt: String,
    /// The model; empty for the provider's default.
    #[serde(default)]
    model: String,
    #[serde(default)]
    options: Options,
    /// Shared with every user (administrators only).
    #[serde(default)]
    shared: bool,
}

/// Creates or updates an agent. Users edit their own; shared agents are the administrators'.
#[plugin_fn]
pub fn save_agent(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: SaveAgent| {
        let user = caller()?;
        if req.shared {
            require_admin(&user)?;
        }
        let name = req.name.trim();
        if name.is_empty() || name.chars().count() > 80 {
            return Err(invalid("an agent's name is 1 to 80 characters"));
        }
        if req.system_prompt.len() > 16_384 || req.description.chars().count() > 500 {
            return Err(invalid("the system prompt is at most 16384 bytes and the description 500 characters"));
        }
        req.options.check()?;
        let existing = match &req.id {
            Some(id) => Some(host::db_get_agent(&ById { id: id.clone() })?),
            None => None,
        };
        if let Some(agent) = &existing {
            let mine = agent.user_uuid.as_deref() == Some(user.uuid.as_str());
            if !mine {
                require_admin(&user).map_err(|_| error(codes::PERMISSION_DENIED, "shared agents are read-only"))?;
            }
        }
        let input = AgentInput {
            id: match &req.id {
                Some(id) => id.clone(),
                None => new_id("a-")?,
            },
            name: name.to_owned(),
            description: req.description,
            model_name: req.model,
            system_prompt: req.system_prompt,
            is_active: Some(true),
            user_uuid: if req.shared { None } else { Some(user.uuid) },
            options: Some(serde_json::to_string(&req.options).unwrap_or_else(|_| "{}".into())),
        };
        if existing.is_some() {
            host::db_update_agent(&input)
        } else {
            host::db_create_agent(&input)
        }
    })
}

/// Deletes one of the caller's agents (shared ones: administrators).
#[plugin_fn]
pub fn delete_agent(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: ById| {
        let user = caller()?;
        let agent = host::db_get_agent(&req)?;
        if agent.user_uuid.as_deref() != Some(user.uuid.as_str()) {
            require_admin(&user).map_err(|_| error(codes::PERMISSION_DENIED, "shared agents are read-only"))?;
        }
        if agent.id == DEFAULT_AGENT {
            return Err(invalid("the default agent stays"));
        }
        host::db_delete_agent(&req)
    })
}

fn usable_agent(user: &CallUser, id: Option<&str>) -> Result<Agent> {
    let agent = match id {
        None => ensure_default_agent()?,
        Some(id) if id == DEFAULT_AGENT => ensure_default_agent()?,
        Some(id) => host::db_get_agent(&ById { id: id.into() }).map_err(|_| not_found("agent"))?,
    };
    match agent.user_uuid.as_deref() {
        None => Ok(agent),
        Some(owner) if owner == user.uuid => Ok(agent),
        Some(_) => Err(not_found("agent")),
    }
}

// ---------------------------------------------------------------- sessions

/// A session's own settings, beside the stored row.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct SessionMeta {
    provider: String,
    model: String,
}

fn meta_key(session: &str) -> String {
    format!("session:{session}")
}

fn own_session(user: &CallUser, id: &str) -> Result<ChatSession> {
    let session = host::db_get_chat_session(&ById { id: id.into() }).map_err(|_| not_found("chat"))?;
    if session.user_uuid.as_deref() != Some(user.uuid.as_str()) {
        return Err(not_found("chat"));
    }
    Ok(session)
}

fn messages_of(session: &str) -> Result<Vec<ChatMessage>> {
    host::db_list_chat_messages(&ListChatMessages { session_id: session.into(), page: Page { limit: 1000, offset: 0 } })
}

/// The caller's sessions, most recent first.
#[plugin_fn]
pub fn sessions(input: Vec<u8>) -> FnResult<Vec<u8>> {
    #[derive(Deserialize, Default)]
    struct Req {
        #[serde(default)]
        offset: u32,
    }
    handle(&input, |req: Option<Req>| {
        let user = caller()?;
        let offset = req.unwrap_or_default().offset;
        host::db_list_chat_sessions(&ListChatSessions { user_uuid: Some(user.uuid), limit: 100, offset })
    })
}

/// One session with all its messages (every branch: a message's `parent_id` links them) and,
/// for answers being written, the room to join to follow them.
#[plugin_fn]
pub fn session(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: ById| {
        let user = caller()?;
        let session = own_session(&user, &req.id)?;
        let messages = messages_of(&session.id)?;
        let meta = session_meta(&session)?;
        let streaming: Vec<Value> = messages
            .iter()
            .filter(|m| m.status == "streaming")
            .map(|m| json!({ "message_id": m.id, "room": gen::room_id(&m.id) }))
            .collect();
        Ok(
            json!({ "session": session, "messages": messages, "provider": meta.provider, "model": meta.model, "streaming": streaming }),
        )
    })
}

/// Renames a session.
#[plugin_fn]
pub fn rename_session(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: UpdateTitle| {
        let user = caller()?;
        own_session(&user, &req.id)?;
        let title = req.title.trim();
        if title.is_empty() || title.chars().count() > 120 {
            return Err(invalid("a title is 1 to 120 characters"));
        }
        host::db_update_chat_session_title(&UpdateTitle { id: req.id, title: title.to_owned() })
    })
}

/// Deletes a session, its messages and the answers being written in it.
#[plugin_fn]
pub fn delete_session(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: ById| {
        let user = caller()?;
        let session = own_session(&user, &req.id)?;
        for m in messages_of(&session.id)?.iter().filter(|m| m.status == "streaming") {
            gen::request_stop(&m.id)?;
        }
        kv::delete(&meta_key(&session.id))?;
        host::db_delete_chat_session(&req)
    })
}

fn title_from(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("New chat");
    if line.chars().count() <= 60 {
        return line.to_owned();
    }
    let cut: String = line.chars().take(60).collect();
    match cut.rfind(' ') {
        Some(space) if space > 20 => format!("{}…", &cut[..space]),
        _ => format!("{cut}…"),
    }
}

// ---------------------------------------------------------------- answers

#[derive(Deserialize)]
struct Send {
    /// The session; absent to start a new one.
    #[serde(default)]
    session_id: Option<String>,
    /// The message this one follows; absent for the end of the newest branch.
    #[serde(default)]
    parent_id: Option<String>,
    content: String,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    model: Option<String>,
}

#[derive(Serialize)]
struct Started {
    session: ChatSession,
    user_message: Option<ChatMessage>,
    message: ChatMessage,
    room: String,
    execution_id: String,
    /// When the answer took its place in its provider and model's queue (Unix ms); answers
    /// are written one at a time per provider and model, in this order.
    queued_at: i64,
}

/// Sends a message and starts the answer. The answer is written server-side: follow it by
/// joining `room` (each piece arrives as `{"type":"delta","text"}`, the end as
/// `{"type":"done","status"}`), or read the session again.
#[plugin_fn]
pub fn send(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: Send| {
        let user = caller()?;
        check_content(&req.content)?;
        let agent = usable_agent(&user, req.agent_id.as_deref())?;
        let (session, meta, parent) = match &req.session_id {
            Some(id) => {
                let session = own_session(&user, id)?;
                let mut meta = session_meta(&session)?;
                if let Some(p) = &req.provider {
                    meta.provider = p.clone();
                }
                if let Some(m) = &req.model {
                    meta.model = m.clone();
                }
                let messages = messages_of(id)?;
                let parent = match &req.parent_id {
                    Some(p) if messages.iter().any(|m| m.id == *p) => Some(p.clone()),
                    Some(_) => return Err(not_found("message to reply to")),
                    None => newest_leaf(&messages),
                };
                (session, meta, parent)
            }
            None => {
                let options = options_of(&agent);
                let provider = usable_provider(&user, req.provider.as_deref().or(options.provider.as_deref()))?;
                let model = req
                    .model
                    .clone()
                    .filter(|m| !m.is_empty())
                    .or_else(|| Some(agent.model_name.clone()).filter(|m| !m.is_empty()))
                    .or(provider.default_model.clone())
                    .ok_or_else(|| invalid("name a model: the provider has no default model"))?;
                let session = host::db_create_chat_session(&CreateChatSession {
                    id: new_id("s-")?,
                    title: title_from(&req.content),
                    model_name: Some(model.clone()),
                    agent_id: Some(agent.id.clone()),
                    user_uuid: Some(user.uuid.clone()),
                })?;
                (session, SessionMeta { provider: provider.id, model }, None)
            }
        };
        kv::set(&meta_key(&session.id), serde_json::to_vec(&meta).unwrap_or_default())?;
        let question = host::db_add_chat_message(&AddChatMessage {
            id: new_id("m-")?,
            session_id: session.id.clone(),
            role: "user".into(),
            content: req.content.clone(),
            model_name: None,
            parent_id: parent,
            status: None,
        })?;
        let started = answer(&user, &session, &agent, &meta, &question)?;
        Ok(Started { user_message: Some(question), ..started })
    })
}

fn check_content(content: &str) -> Result<()> {
    let max = config_num("max_message_bytes", 32_768) as usize;
    if content.trim().is_empty() {
        return Err(invalid("the message is empty"));
    }
    if content.len() > max {
        return Err(invalid(format!("the message is {} bytes; at most {max}", content.len())));
    }
    Ok(())
}

/// The newest message without replies: the end of the branch shown by default.
fn newest_leaf(messages: &[ChatMessage]) -> Option<String> {
    messages
        .iter()
        .rev()
        .find(|m| !messages.iter().any(|c| c.parent_id.as_deref() == Some(m.id.as_str())))
        .map(|m| m.id.clone())
}

/// The path from the first message to `last`.
fn path_to(messages: &[ChatMessage], last: &str) -> Vec<ChatMessage> {
    let mut path = Vec::new();
    let mut at = Some(last.to_owned());
    while let Some(id) = at {
        let Some(m) = messages.iter().find(|m| m.id == id) else { break };
        at = m.parent_id.clone();
        path.push(m.clone());
        if path.len() > messages.len() {
            break;
        }
    }
    path.reverse();
    path
}

/// Starts an assistant answer to `question` (a user message).
fn answer(
    user: &CallUser,
    session: &ChatSession,
    agent: &Agent,
    meta: &SessionMeta,
    question: &ChatMessage,
) -> Result<Started> {
    let provider = usable_provider(user, Some(&meta.provider))?;
    let messages = messages_of(&session.id)?;
    let history = path_to(&messages, &question.id);
    let max_history = config_num("max_history", 200) as usize;
    if history.len() > max_history {
        return Err(invalid(format!(
            "this conversation has {} messages on its branch; the limit is {max_history}: start a new chat",
            history.len()
        )));
    }
    let mut prompt = Vec::new();
    if !agent.system_prompt.trim().is_empty() {
        prompt.push(json!({ "role": "system", "content": agent.system_prompt }));
    }
    for m in history.iter().filter(|m| !(m.role == "assistant" && m.content.is_empty())) {
        prompt.push(json!({ "role": m.role, "content": m.content }));
    }
    let options = options_of(agent);
    let request = providers::chat_request(&provider, &meta.model, &prompt, &options, config_num("max_tokens", 1024));
    let message = host::db_add_chat_message(&AddChatMessage {
        id: new_id("m-")?,
        session_id: session.id.clone(),
        role: "assistant".into(),
        content: String::new(),
        model_name: Some(meta.model.clone()),
        parent_id: Some(question.id.clone()),
        status: Some("streaming".into()),
    })?;
    let execution = host::db_create_agent_execution(&CreateAgentExecution {
        id: new_id("e-")?,
        agent_id: agent.id.clone(),
        session_id: Some(session.id.clone()),
        input: question.content.clone(),
        message_id: Some(message.id.clone()),
    })?;
    let g = gen::Gen {
        message_id: message.id.clone(),
        session_id: session.id.clone(),
        user_uuid: user.uuid.clone(),
        exec_id: execution.id.clone(),
        provider: provider.id.clone(),
        kind: provider.kind.clone(),
        model: meta.model.clone(),
        request: Some(request),
        ..Default::default()
    };
    let queued_at = time::now()?;
    if let Err(err) = gen::start(g, queued_at) {
        // Keep the question; the answer that could not start is marked failed, with the reason.
        let _ = host::db_update_chat_message(&a2e_pdk::abi::UpdateChatMessage {
            id: message.id.clone(),
            content: String::new(),
            status: "failed".into(),
        });
        let _ = host::db_update_agent_execution(&a2e_pdk::abi::UpdateAgentExecution {
            id: execution.id.clone(),
            status: "failed".into(),
            output: None,
            error: Some(err.message.clone()),
            first_token_ms: None,
            total_ms: Some(0),
            prompt_tokens: None,
            completion_tokens: None,
        });
        return Err(err);
    }
    Ok(Started {
        session: session.clone(),
        user_message: None,
        room: gen::room_id(&message.id),
        message,
        execution_id: execution.id,
        queued_at,
    })
}

fn agent_of(user: &CallUser, session: &ChatSession) -> Result<Agent> {
    usable_agent(user, session.agent_id.as_deref()).or_else(|_| ensure_default_agent())
}

fn session_meta(session: &ChatSession) -> Result<SessionMeta> {
    Ok(kv::get(&meta_key(&session.id))?.and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default())
}

/// Writes a new answer beside an earlier one (same question); the earlier stays as a branch.
#[plugin_fn]
pub fn regenerate(input: Vec<u8>) -> FnResult<Vec<u8>> {
    #[derive(Deserialize)]
    struct Req {
        message_id: String,
        #[serde(default)]
        model: Option<String>,
    }
    handle(&input, |req: Req| {
        let user = caller()?;
        let old = host::db_get_chat_message(&ById { id: req.message_id }).map_err(|_| not_found("message"))?;
        let session = own_session(&user, &old.session_id)?;
        if old.role != "assistant" {
            return Err(invalid("only an answer can be regenerated; edit a question instead"));
        }
        let question_id = old.parent_id.ok_or_else(|| invalid("this answer has no question"))?;
        let question = host::db_get_chat_message(&ById { id: question_id })?;
        let mut meta = session_meta(&session)?;
        if let Some(model) = req.model.filter(|m| !m.is_empty()) {
            meta.model = model;
            kv::set(&meta_key(&session.id), serde_json::to_vec(&meta).unwrap_or_default())?;
        }
        answer(&user, &session, &agent_of(&user, &session)?, &meta, &question)
    })
}

/// Sends an edited question beside the original (same parent) and answers it.
#[plugin_fn]
pub fn edit(input: Vec<u8>) -> FnResult<Vec<u8>> {
    #[derive(Deserialize)]
    struct Req {
        message_id: String,
        content: String,
    }
    handle(&input, |req: Req| {
        let user = caller()?;
        check_content(&req.content)?;
        let old = host::db_get_chat_message(&ById { id: req.message_id }).map_err(|_| not_found("message"))?;
        let session = own_session(&user, &old.session_id)?;
        if old.role != "user" {
            return Err(invalid("only a question can be edited; regenerate an answer instead"));
        }
        let question = host::db_add_chat_message(&AddChatMessage {
            id: new_id("m-")?,
            session_id: session.id.clone(),
            role: "user".into(),
            content: req.content,
            model_name: None,
            parent_id: old.parent_id,
            status: None,
        })?;
        let started = answer(&user, &session, &agent_of(&user, &session)?, &session_meta(&session)?, &question)?;
        Ok(Started { user_message: Some(question), ..started })
    })
}

/// Stops an answer being written; what was written stays, marked stopped.
#[plugin_fn]
pub fn stop(input: Vec<u8>) -> FnResult<Vec<u8>> {
    #[derive(Deserialize)]
    struct Req {
        message_id: String,
    }
    handle(&input, |req: Req| {
        let user = caller()?;
        let m = host::db_get_chat_message(&ById { id: req.message_id }).map_err(|_| not_found("message"))?;
        own_session(&user, &m.session_id)?;
        if m.status != "streaming" {
            return Ok(json!({ "stopping": false, "status": m.status }));
        }
        gen::request_stop(&m.id)?;
        Ok(json!({ "stopping": true, "status": m.status }))
    })
}

// ---------------------------------------------------------------- search, export, import

/// Searches the caller's messages (every word, by prefix).
#[plugin_fn]
pub fn search(input: Vec<u8>) -> FnResult<Vec<u8>> {
    #[derive(Deserialize)]
    struct Req {
        query: String,
    }
    handle(&input, |req: Req| {
        let user = caller()?;
        if req.query.len() > 200 {
            return Err(invalid("a search is at most 200 bytes"));
        }
        let found = host::db_search_chat_messages(&SearchChatMessages {
            query: req.query,
            user_uuid: Some(user.uuid),
            page: Page { limit: 50, offset: 0 },
        })?;
        let mut titles: Vec<(String, String)> = Vec::new();
        let mut hits = Vec::new();
        for m in found {
            let title = match titles.iter().find(|(id, _)| *id == m.session_id) {
                Some((_, t)) => t.clone(),
                None => {
                    let t = host::db_get_chat_session(&ById { id: m.session_id.clone() })?.title;
                    titles.push((m.session_id.clone(), t.clone()));
                    t
                }
            };
            hits.push(json!({ "session_id": m.session_id, "title": title, "message": m }));
        }
        Ok(hits)
    })
}

/// A session as JSON (`format: "json"`, every branch, for import) or Markdown (the branch ending
/// at `leaf`, default the newest).
#[plugin_fn]
pub fn export(input: Vec<u8>) -> FnResult<Vec<u8>> {
    #[derive(Deserialize)]
    struct Req {
        id: String,
        #[serde(default)]
        format: Option<String>,
        #[serde(default)]
        leaf: Option<String>,
    }
    handle(&input, |req: Req| {
        let user = caller()?;
        let session = own_session(&user, &req.id)?;
        let messages = messages_of(&session.id)?;
        match req.format.as_deref().unwrap_or("json") {
            "json" => Ok(json!({
                "a2e_chat_export": 1,
                "title": session.title,
                "model": session.model_name,
                "created_at": session.created_at,
                "messages": messages.iter().map(|m| json!({
                    "id": m.id, "parent_id": m.parent_id, "role": m.role, "content": m.content,
                    "model": m.model_name, "status": m.status, "created_at": m.created_at,
                })).collect::<Vec<_>>(),
            })),
            "markdown" => {
                let leaf = req.leaf.or_else(|| newest_leaf(&messages)).unwrap_or_default();
                let mut md = format!("# {}\n", session.title);
                for m in path_to(&messages, &leaf) {
                    let who = match (m.role.as_str(), &m.model_name) {
                        ("assistant", Some(model)) => format!("Assistant ({model})"),
                        ("assistant", None) => "Assistant".into(),
                        ("system", _) => "System".into(),
                        _ => "You".into(),
                    };
                    let note = if m.status == "stopped" { " — stopped" } else { "" };
                    md.push_str(&format!("\n## {who}{note}\n\n{}\n", m.content));
                }
                Ok(json!({ "markdown": md }))
            }
            other => Err(invalid(format!("format must be json or markdown, not `{other}`"))),
        }
    })
}

/// Imports a session exported as JSON into a new session of the caller's.
#[plugin_fn]
pub fn import(input: Vec<u8>) -> FnResult<Vec<u8>> {
    #[derive(Deserialize)]
    struct Message {
        id: String,
        #[serde(default)]
        parent_id: Option<String>,
        role: String,
        content: String,
        #[serde(default)]
        model: Option<String>,
        #[serde(default)]
        status: Option<String>,
    }
    #[derive(Deserialize)]
    struct Export {
        a2e_chat_export: u32,
        title: String,
        #[serde(default)]
        model: Option<String>,
        messages: Vec<Message>,
    }
    handle(&input, |req: Export| {
        let user = caller()?;
        if req.a2e_chat_export != 1 {
            return Err(invalid("this export's version is not 1"));
        }
        if req.messages.len() > 1000 {
            return Err(invalid("an import holds at most 1000 messages"));
        }
        let max = config_num("max_message_bytes", 32_768) as usize * 4;
        for (i, m) in req.messages.iter().enumerate() {
            if !["user", "assistant", "system"].contains(&m.role.as_str()) || m.content.len() > max {
                return Err(invalid(format!(
                    "message {i}: role must be user, assistant or system, content at most {max} bytes"
                )));
            }
            let known = m.parent_id.as_ref().is_none_or(|p| req.messages[..i].iter().any(|x| x.id == *p));
            if !known {
                return Err(invalid(format!("message {i}: its parent must come before it")));
            }
        }
        let title = title_from(&req.title);
        let session = host::db_create_chat_session(&CreateChatSession {
            id: new_id("s-")?,
            title,
            model_name: req.model.clone(),
            agent_id: Some(ensure_default_agent()?.id),
            user_uuid: Some(user.uuid),
        })?;
        let mut ids: Vec<(String, String)> = Vec::new();
        for m in req.messages {
            let id = new_id("m-")?;
            let parent = m.parent_id.and_then(|p| ids.iter().find(|(old, _)| *old == p).map(|(_, new)| new.clone()));
            let status = match m.status.as_deref() {
                Some("stopped") => "stopped",
                Some("failed") | Some("streaming") => "failed",
                _ => "done",
            };
            host::db_add_chat_message(&AddChatMessage {
                id: id.clone(),
                session_id: session.id.clone(),
                role: m.role,
                content: m.content,
                model_name: m.model,
                parent_id: parent,
                status: Some(status.into()),
            })?;
            ids.push((m.id, id));
        }
        Ok(json!({ "session": session, "messages": ids.len() }))
    })
}

// ---------------------------------------------------------------- the answer rooms

/// A client joins an answer's room to follow it.
#[plugin_fn]
pub fn room_join(input: Vec<u8>) -> FnResult<Vec<u8>> {
    room::join(&input, gen::join)
}

/// A client left an answer's room.
#[plugin_fn]
pub fn room_leave(input: Vec<u8>) -> FnResult<Vec<u8>> {
    room::leave(&input, gen::leave)
}

/// One tick of an answer's room.
#[plugin_fn]
pub fn room_tick(input: Vec<u8>) -> FnResult<Vec<u8>> {
    room::tick(&input, gen::tick)
}
