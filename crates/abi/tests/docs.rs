//! docs/plugin-abi.md must list exactly the host functions of `HOST_FUNCTIONS`, with their grants,
//! request and response types and error codes. Regenerate with `A2E_BLESS=1 cargo test -p a2e-abi`.

use a2e_abi::functions::{round_trip, type_schemas};
use a2e_abi::{ErrorCode, Grant, HOST_FUNCTIONS};
use serde_json::{json, Map, Value};

const BEGIN: &str = "<!-- host-functions:begin (generated from crates/abi/src/functions.rs) -->";
const END: &str = "<!-- host-functions:end -->";

fn table() -> String {
    let mut out = String::from(
        "| function | grant | request | response (`data`) | errors | what it does |\n|---|---|---|---|---|---|\n",
    );
    for grant in Grant::ALL {
        for f in HOST_FUNCTIONS.iter().filter(|f| f.grant == grant) {
            let errors: Vec<&str> = ["PERMISSION_DENIED", "INVALID_INPUT"]
                .into_iter()
                .chain(f.errors.iter().copied())
                .chain(["INTERNAL"])
                .collect();
            out.push_str(&format!(
                "| `{}` | `{}` | {} | {} | {} | {} |\n",
                f.name,
                f.grant,
                type_link(f.request),
                type_link(f.response),
                errors.join(", "),
                f.summary
            ));
        }
    }
    out
}

/// A type name of the table as a link to its section below; `[T]` stays a list of `T`.
fn type_link(name: &str) -> String {
    let inner = name.trim_start_matches('[').trim_end_matches(']');
    let link = format!("[`{inner}`](#{})", inner.to_lowercase());
    if inner == name {
        link
    } else {
        format!("list of {link}")
    }
}

const TYPES_BEGIN: &str = "<!-- types:begin (generated from the types crates/abi/src/functions.rs names) -->";
const TYPES_END: &str = "<!-- types:end -->";

/// How a property's schema reads in the fields table.
fn describe(schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/$defs/");
        return format!("[`{name}`](#{})", name.to_lowercase());
    }
    if let Some(value) = schema.get("const") {
        return format!("`{value}`");
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        return format!("one of {}", names.join(", "));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let parts: Vec<String> = options.iter().map(describe).collect();
            return parts.join(" or ");
        }
    }
    let one = |kind: &str| -> String {
        match kind {
            "integer" => match schema.get("format").and_then(Value::as_str) {
                Some(format) => format!("integer ({format})"),
                None => "integer".into(),
            },
            "array" => match schema.get("items") {
                Some(items) => format!("list of {}", describe(items)),
                None => "list".into(),
            },
            "object" => match schema.get("additionalProperties") {
                Some(Value::Bool(false)) | None => "object".into(),
                Some(values) => format!("map of string to {}", describe(values)),
            },
            other => other.to_owned(),
        }
    };
    match schema.get("type") {
        Some(Value::String(kind)) => one(kind),
        Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).map(one).collect::<Vec<_>>().join(" or "),
        _ => "any JSON value".into(),
    }
}

/// Bounds and formats a property's schema states, for the fields table.
fn rules(schema: &Value) -> String {
    let mut out = Vec::new();
    for (key, label) in
        [("minimum", "min"), ("maximum", "max"), ("minLength", "min length"), ("maxLength", "max length")]
    {
        if let Some(v) = schema.get(key) {
            out.push(format!("{label} {v}"));
        }
    }
    if let Some(v) = schema.get("default").filter(|v| !v.is_null()) {
        out.push(format!("default `{v}`"));
    }
    out.join(", ")
}

/// A value for a string field, from its name: examples read as real data, not as "string".
fn example_string(field: &str) -> Value {
    let f = field;
    let text = if f.ends_with("uuid") {
        "7d444840-9dc0-41d1-b245-5ffdce74fad2"
    } else if f == "email" || f == "to" {
        "ada@example.com"
    } else if f.contains("password_hash") || f == "expected" || f == "hash" {
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2g"
    } else if f.contains("password") {
        "correct horse battery staple"
    } else if f.ends_with("_hash") {
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    } else if f == "token" {
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI3ZDQ0In0.c2lnbmF0dXJl"
    } else if f.ends_with("_id") || f == "id" || f == "family" {
        "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
    } else if f.contains("url") {
        "https://api.example.com/v1/models"
    } else if f == "method" {
        "GET"
    } else if f == "role" {
        "user"
    } else if f == "room" {
        "lobby"
    } else if f == "plugin" {
        "game-logic"
    } else if f == "function" {
        "join"
    } else if f == "kind" {
        "game.match_ended"
    } else if f == "level" {
        "info"
    } else if f == "status" {
        "done"
    } else if f == "reason" {
        "the match is over"
    } else if f == "value" || f == "bytes" || f == "data" || f == "body" || f == "chunk" {
        "aGVsbG8="
    } else if f == "key" || f == "prefix" || f == "after" {
        "greeting"
    } else if f == "client_addr" {
        "203.0.113.7"
    } else if f == "client" {
        "c-17"
    } else if f == "scope" {
        "login"
    } else if f == "error" {
        "the model server did not answer"
    } else if f == "subject" {
        "Your sign-in link"
    } else if f == "avatar" {
        "https://example.com/ada.png"
    } else if f == "headers" {
        "application/json"
    } else if f == "model_name" || f == "model" {
        "smollm2-135m-instruct"
    } else if f == "options" {
        "{\"temperature\":0.7}"
    } else if f == "system_prompt" {
        "You are a concise travel planner."
    } else if ["content", "input", "output", "message", "text", "description", "bio"].contains(&f) {
        "Plan a weekend in Lisbon."
    } else if f.ends_with("name") {
        "ada"
    } else if f == "title" {
        "Trip to Lisbon"
    } else if f == "query" {
        "lisbon"
    } else {
        "text"
    };
    json!(text)
}

/// An example value for `schema`, for a field named `field`; `defs` resolves references.
fn example(schema: &Value, field: &str, defs: &Map<String, Value>) -> Value {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/$defs/");
        return defs.get(name).map_or(Value::Null, |def| example(def, field, defs));
    }
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(first) = schema.get("enum").and_then(Value::as_array).and_then(|v| v.first()) {
        return first.clone();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let chosen = options.iter().find(|o| o.get("type") != Some(&json!("null"))).unwrap_or(&options[0]);
            return example(chosen, field, defs);
        }
    }
    let kind = match schema.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).find(|k| *k != "null").unwrap_or("null"),
        _ => return json!({ "score": 3 }),
    };
    match kind {
        "string" => example_string(field),
        "boolean" => json!(true),
        "number" => json!(0.5),
        "integer" => {
            if let Some(min) = schema.get("minimum").and_then(Value::as_i64).filter(|m| *m > 0) {
                json!(min)
            } else if field.ends_with("_at") || field == "now" || field == "ms" || field.ends_with("_before") {
                json!(1_767_225_600_000_i64)
            } else if let Some(value) = [
                ("status", 200),
                ("window_ms", 60_000),
                ("timeout_ms", 5_000),
                ("max_bytes", 1_048_576),
                ("max", 5),
                ("count", 3),
            ]
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, value)| *value)
            {
                json!(value)
            } else if field == "offset" {
                json!(0)
            } else if field == "limit" {
                json!(50)
            } else {
                json!(1)
            }
        }
        "array" => match schema.get("items") {
            Some(items) => json!([example(items, field, defs)]),
            None => json!([]),
        },
        "object" => {
            let mut out = Map::new();
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    out.insert(name.clone(), example(property, name, defs));
                }
            }
            match schema.get("additionalProperties") {
                Some(Value::Bool(false)) | None => {}
                Some(values) => {
                    out.insert("content-type".into(), example(values, field, defs));
                }
            }
            Value::Object(out)
        }
        _ => Value::Null,
    }
}

/// The examples of a definition: one per variant of a tagged enum, else one.
fn examples(def: &Value, defs: &Map<String, Value>) -> Vec<Value> {
    match def.get("oneOf").and_then(Value::as_array) {
        Some(variants) => variants.iter().map(|v| example(v, "", defs)).collect(),
        None => vec![example(def, "", defs)],
    }
}

fn fields_table(def: &Value) -> String {
    let Some(properties) = def.get("properties").and_then(Value::as_object) else {
        return String::new();
    };
    if properties.is_empty() {
        return "No fields: `{}`.\n\n".into();
    }
    let required: Vec<&str> = def
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = String::from("| field | type | required | rules | meaning |\n|---|---|---|---|---|\n");
    for (name, schema) in properties {
        let doc =
            schema.get("description").and_then(Value::as_str).unwrap_or("").replace('\n', " ").replace('|', "\\|");
        let needed = if required.contains(&name.as_str()) { "yes" } else { "no" };
        out.push_str(&format!("| `{name}` | {} | {needed} | {} | {doc} |\n", describe(schema), rules(schema)));
    }
    out.push('\n');
    out
}

/// The reference of every type the table names (and the types they use): fields and examples.
/// Each example of a table type is read into the real Rust type and written back unchanged.
fn types_section() -> String {
    let mut generator = schemars::SchemaGenerator::default();
    type_schemas(&mut generator);
    let defs = generator.definitions().clone();
    let mut out = String::new();
    let mut problems = Vec::new();
    for (name, def) in &defs {
        out.push_str(&format!("### `{name}`\n\n"));
        if let Some(doc) = def.get("description").and_then(Value::as_str) {
            out.push_str(&format!("{}\n\n", doc.replace('\n', " ")));
        }
        match def.get("oneOf").and_then(Value::as_array) {
            Some(variants) => {
                for variant in variants {
                    let doc = variant.get("description").and_then(Value::as_str).unwrap_or("One variant.");
                    out.push_str(&format!("{doc}\n\n"));
                    out.push_str(&fields_table(variant));
                }
            }
            None => out.push_str(&fields_table(def)),
        }
        let examples = examples(def, &defs);
        for value in &examples {
            match round_trip(name, value) {
                Some(Ok(back)) if &back == value => {}
                Some(Ok(back)) => problems.push(format!("{name}: example {value} came back as {back}")),
                Some(Err(err)) => problems.push(format!("{name}: example {value} is not one: {err}")),
                None => {} // only used inside other types, checked with them
            }
        }
        let label = if examples.len() == 1 { "Example" } else { "Examples" };
        out.push_str(&format!("{label}:\n\n```json\n"));
        for value in examples {
            out.push_str(&serde_json::to_string(&value).unwrap());
            out.push('\n');
        }
        out.push_str("```\n\n");
    }
    assert!(problems.is_empty(), "examples that are not their type:\n{}", problems.join("\n"));
    out
}

const CODES_BEGIN: &str = "<!-- error-codes:begin (generated from crates/abi/src/errors.rs) -->";
const CODES_END: &str = "<!-- error-codes:end -->";

fn codes_table() -> String {
    let mut out = String::from("| code | HTTP status | meaning |\n|---|---|---|\n");
    for code in ErrorCode::ALL {
        out.push_str(&format!("| `{code}` | {} | {} |\n", code.http_status(), code.doc()));
    }
    out
}

/// Checks (or, with A2E_BLESS set, rewrites) the generated part of the doc between two markers.
fn check_section(begin: &str, end: &str, generated: String, source: &str) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/plugin-abi.md");
    let doc = std::fs::read_to_string(path).expect("docs/plugin-abi.md exists");
    let (start, stop) = (doc.find(begin).expect("begin marker"), doc.find(end).expect("end marker"));
    let current = &doc[start + begin.len()..stop];
    let expected = format!("\n{generated}");
    if current != expected {
        if std::env::var_os("A2E_BLESS").is_some() {
            let updated = format!("{}{}{}{}", &doc[..start], begin, expected, &doc[stop..]);
            std::fs::write(path, updated).unwrap();
            return;
        }
        panic!("docs/plugin-abi.md is out of date with {source}; run A2E_BLESS=1 cargo test -p a2e-abi --test docs");
    }
}

#[test]
fn plugin_abi_doc_matches_the_table() {
    check_section(BEGIN, END, table(), "crates/abi/src/functions.rs");
}

#[test]
fn plugin_abi_doc_lists_every_error_code() {
    check_section(CODES_BEGIN, CODES_END, codes_table(), "crates/abi/src/errors.rs");
}

#[test]
fn plugin_abi_doc_shows_every_type_with_fields_and_examples() {
    check_section(TYPES_BEGIN, TYPES_END, types_section(), "the types crates/abi/src/functions.rs names");
}
