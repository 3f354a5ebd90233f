//! Model providers: the Ollama API (`/api/chat` as NDJSON, `/api/tags`) and the OpenAI-compatible
//! API (`/v1/chat/completions` as server-sent events, `/v1/models`). An administrator configures
//! them; each base URL needs an `http:` grant for this plugin, which the error says when missing.

use a2e_pdk::abi::{Empty, HttpRequest, Page};
use a2e_pdk::codes;
use a2e_pdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{invalid, Options};

/// A configured model server.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Provider {
    /// Short id (a-z, 0-9, '-').
    pub id: String,
    /// Display name (default: the id).
    #[serde(default)]
    pub name: String,
    /// "openai" or "ollama".
    pub kind: String,
    /// Base URL, such as `http://127.0.0.1:8080` (no trailing slash).
    pub base_url: String,
    /// Users who may use it; empty for everyone.
    #[serde(default)]
    pub users: Vec<String>,
    /// The model picked when none is named.
    #[serde(default)]
    pub default_model: Option<String>,
}

fn key(id: &str) -> String {
    format!("provider:{id}")
}

/// Every provider, by id.
pub fn all() -> Result<Vec<Provider>> {
    let entries = kv::list("provider:", Page { limit: 200, offset: 0 })?;
    Ok(entries.iter().filter_map(|(_, v)| serde_json::from_slice::<Provider>(v).ok()).collect())
}

/// One provider.
pub fn get(id: &str) -> Result<Provider> {
    match kv::get(&key(id))? {
        Some(bytes) => {
            serde_json::from_slice(&bytes).map_err(|e| error(codes::INTERNAL, format!("provider {id}: {e}")))
        }
        None => Err(error(codes::NOT_FOUND, format!("no provider `{id}`"))),
    }
}

/// Whether `user` may use `p`.
pub fn allowed(p: &Provider, user: &str) -> bool {
    p.users.is_empty() || p.users.iter().any(|u| u == user)
}

/// Checks and stores a provider (replacing one with the same id).
pub fn save(mut p: Provider) -> Result<Provider> {
    let ok_id = !p.id.is_empty()
        && p.id.len() <= 32
        && p.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok_id {
        return Err(invalid("a provider id is 1 to 32 of a-z, 0-9 and '-'"));
    }
    if p.kind != "openai" && p.kind != "ollama" {
        return Err(invalid("kind must be `openai` (any OpenAI-compatible server) or `ollama`"));
    }
    p.base_url = p.base_url.trim().trim_end_matches('/').to_owned();
    let scheme_ok = p.base_url.starts_with("http://") || p.base_url.starts_with("https://");
    if !scheme_ok || p.base_url.len() > 512 || p.base_url.contains(char::is_whitespace) {
        return Err(invalid("base_url must be an http:// or https:// URL"));
    }
    if p.name.trim().is_empty() {
        p.name = p.id.clone();
    }
    if p.name.chars().count() > 80 {
        return Err(invalid("a provider name is at most 80 characters"));
    }
    kv::set(&key(&p.id), serde_json::to_vec(&p).unwrap_or_default())?;
    Ok(p)
}

/// Removes a provider.
pub fn delete(id: &str) -> Result<bool> {
    kv::delete(&key(id))
}

/// Turns a denial of the HTTP capability into the step an administrator takes.
pub fn explain(p: &Provider, err: HostError) -> HostError {
    if err.code == codes::PERMISSION_DENIED {
        let origin = origin_of(&p.base_url);
        return error(
            codes::PERMISSION_DENIED,
            format!(
                "the chat plugin may not reach {origin} yet: an administrator grants it `http:{origin}` (Plugins page, or `a2e plugin grant chat http:{origin}`) ({})",
                err.message
            ),
        );
    }
    err
}

/// `scheme://host[:port]` of a URL.
pub fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    format!("{scheme}://{host}")
}

/// The name of the host secret that holds a provider's API key.
pub fn key_secret(p: &Provider) -> String {
    format!("provider.{}", p.id)
}

/// Adds the provider's API key to `req` when an administrator gave it one: the header names the
/// host secret and the host puts the key in, so the key never enters this plugin.
fn authorize(p: &Provider, req: &mut HttpRequest) {
    let name = key_secret(p);
    let has_key = host::secret_list(&Empty {}).is_ok_and(|secrets| secrets.iter().any(|s| s.name == name));
    if has_key {
        req.headers.insert("authorization".into(), format!("Bearer {{{{secret:{name}}}}}"));
    }
}

/// The models the provider serves, from the provider.
pub fn models(p: &Provider) -> Result<Vec<String>> {
    let url = match p.kind.as_str() {
        "ollama" => format!("{}/api/tags", p.base_url),
        _ => format!("{}/v1/models", p.base_url),
    };
    let mut req = HttpRequest::get(url);
    req.timeout_ms = 10_000;
    authorize(p, &mut req);
    let resp = http::request(&req).map_err(|e| explain(p, e))?;
    if resp.status != 200 {
        return Err(error(
            codes::UNAVAILABLE,
            format!("{} answered {} to the model list: {}", p.name, resp.status, cut(&resp.body, 300)),
        ));
    }
    let body: Value = serde_json::from_str(&resp.body)
        .map_err(|e| error(codes::UNAVAILABLE, format!("{} sent a model list that is not JSON: {e}", p.name)))?;
    let list = match p.kind.as_str() {
        "ollama" => body["models"].as_array().map(|m| m.iter().filter_map(|x| x["name"].as_str()).collect::<Vec<_>>()),
        _ => body["data"].as_array().map(|m| m.iter().filter_map(|x| x["id"].as_str()).collect::<Vec<_>>()),
    };
    Ok(list.unwrap_or_default().into_iter().map(str::to_owned).collect())
}

/// The streaming request for one answer.
pub fn chat_request(p: &Provider, model: &str, messages: &[Value], o: &Options, max_tokens: u64) -> HttpRequest {
    let limit = o.max_tokens.unwrap_or(max_tokens).min(max_tokens);
    let body = match p.kind.as_str() {
        "ollama" => {
            let mut options = json!({ "num_predict": limit });
            set(&mut options, "temperature", o.temperature.map(Value::from));
            set(&mut options, "top_p", o.top_p.map(Value::from));
            set(&mut options, "seed", o.seed.map(Value::from));
            set(&mut options, "num_ctx", o.context_length.map(Value::from));
            set(&mut options, "stop", o.stop.clone().map(Value::from));
            json!({ "model": model, "messages": messages, "stream": true, "options": options })
        }
        _ => {
            let mut body = json!({
                "model": model, "messages": messages, "stream": true,
                "stream_options": { "include_usage": true }, "max_tokens": limit,
            });
            set(&mut body, "temperature", o.temperature.map(Value::from));
            set(&mut body, "top_p", o.top_p.map(Value::from));
            set(&mut body, "seed", o.seed.map(Value::from));
            set(&mut body, "stop", o.stop.clone().map(Value::from));
            body
        }
    };
    let path = if p.kind == "ollama" { "/api/chat" } else { "/v1/chat/completions" };
    let mut req = HttpRequest::post_json(format!("{}{path}", p.base_url), &body);
    req.timeout_ms = 1_800_000;
    authorize(p, &mut req);
    req
}

fn set(obj: &mut Value, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        obj[key] = v;
    }
}

/// What a piece of a streamed answer held.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Text of the answer.
    pub text: String,
    /// The provider said the answer is complete.
    pub done: bool,
    /// Token counts, when the provider sent them.
    pub prompt_tokens: Option<i64>,
    /// Generated tokens.
    pub completion_tokens: Option<i64>,
    /// An error the provider reported inside the stream.
    pub error: Option<String>,
}

/// Parses the complete lines of `buf` (NDJSON for Ollama, SSE for OpenAI), leaving a partial
/// last line in `buf`.
pub fn parse(kind: &str, buf: &mut String, out: &mut Parsed) {
    while let Some(end) = buf.find('\n') {
        let line: String = buf.drain(..=end).collect();
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if kind == "ollama" {
            ollama_line(line, out);
        } else if let Some(data) = line.strip_prefix("data:") {
            openai_data(data.trim(), out);
        }
    }
}

fn ollama_line(line: &str, out: &mut Parsed) {
    let Ok(v) = serde_json::from_str::<Value>(line) else { return };
    if let Some(err) = v["error"].as_str() {
        out.error = Some(err.to_owned());
    }
    if let Some(text) = v["message"]["content"].as_str() {
        out.text.push_str(text);
    }
    if v["done"] == true {
        out.done = true;
        out.prompt_tokens = v["prompt_eval_count"].as_i64();
        out.completion_tokens = v["eval_count"].as_i64();
    }
}

fn openai_data(data: &str, out: &mut Parsed) {
    if data == "[DONE]" {
        out.done = true;
        return;
    }
    let Ok(v) = serde_json::from_str::<Value>(data) else { return };
    if let Some(err) = v["error"]["message"].as_str().or(v["error"].as_str()) {
        out.error = Some(err.to_owned());
    }
    if let Some(text) = v["choices"][0]["delta"]["content"].as_str() {
        out.text.push_str(text);
    }
    if v["usage"].is_object() {
        out.prompt_tokens = v["usage"]["prompt_tokens"].as_i64();
        out.completion_tokens = v["usage"]["completion_tokens"].as_i64();
    }
}

/// At most `n` characters of `text`.
pub fn cut(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}
