//! The ABI as data for plugin authors in any language, generated from `HOST_FUNCTIONS` and the
//! types it names: a JSON Schema per type in docs/abi/schemas/, and the table the AssemblyScript
//! wrappers are generated from (plugins/template-as/a2e-abi.json). Both are checked here;
//! `A2E_BLESS=1 cargo test -p a2e-abi --test schemas` rewrites them.

use std::path::{Path, PathBuf};

use a2e_abi::functions::{root_schemas, type_schemas};
use a2e_abi::{ABI_VERSION, HOST_FUNCTIONS, HOST_NAMESPACE};
use serde_json::{json, Map, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

fn blessing() -> bool {
    std::env::var_os("A2E_BLESS").is_some()
}

/// Compares `path` with `expected`; with A2E_BLESS set, writes it instead.
fn check(path: &Path, expected: &str, problems: &mut Vec<String>) {
    if std::fs::read_to_string(path).ok().as_deref() == Some(expected) {
        return;
    }
    if blessing() {
        std::fs::write(path, expected).unwrap();
    } else {
        problems.push(format!("{} is out of date", path.display()));
    }
}

fn finish(problems: Vec<String>, test: &str) {
    assert!(
        problems.is_empty(),
        "{}\nrun `A2E_BLESS=1 cargo test -p a2e-abi --test schemas -- {test}` and commit the result",
        problems.join("\n")
    );
}

#[test]
fn every_type_has_its_json_schema_file() {
    let dir = root().join("docs").join("abi").join("schemas");
    std::fs::create_dir_all(&dir).unwrap();
    let schemas = root_schemas();
    let mut problems = Vec::new();
    for (name, schema) in &schemas {
        let text = serde_json::to_string_pretty(schema).unwrap() + "\n";
        check(&dir.join(format!("{name}.json")), &text, &mut problems);
    }
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let known = file.strip_suffix(".json").is_some_and(|n| schemas.contains_key(n));
        if !known {
            if blessing() {
                std::fs::remove_file(entry.path()).unwrap();
            } else {
                problems.push(format!("{} names no type of the table", entry.path().display()));
            }
        }
    }
    finish(problems, "every_type_has_its_json_schema_file");
}

/// The AssemblyScript generator's field type for a property schema, and whether it may be null.
fn field_type(schema: &Value, defs: &Map<String, Value>) -> (String, bool) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/$defs/");
        return match defs.get(name) {
            Some(def) if is_struct(def) => (name.to_owned(), false),
            Some(def) => field_type(def, defs),
            None => ("json".into(), false),
        };
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let not_null: Vec<&Value> = options.iter().filter(|o| o.get("type") != Some(&json!("null"))).collect();
            let nullable = not_null.len() < options.len();
            if let [only] = not_null.as_slice() {
                let (t, inner_nullable) = field_type(only, defs);
                return (t, nullable || inner_nullable);
            }
            // A tagged or untagged enum: the wrapper passes it as JSON.
            return ("json".into(), nullable);
        }
    }
    let (kind, nullable) = match schema.get("type") {
        Some(Value::String(t)) => (t.as_str(), false),
        Some(Value::Array(types)) => {
            let nullable = types.contains(&json!("null"));
            let rest: Vec<&str> = types.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect();
            match rest.as_slice() {
                [one] => (*one, nullable),
                _ => return ("json".into(), nullable),
            }
        }
        _ => return ("json".into(), false),
    };
    let t = match kind {
        "string" => "string".to_owned(),
        "boolean" => "bool".to_owned(),
        "number" => "f64".to_owned(),
        "integer" => match schema.get("format").and_then(Value::as_str) {
            Some("uint64") => "u64".to_owned(),
            Some("uint32" | "uint16" | "uint8") => "u32".to_owned(),
            _ => "i64".to_owned(),
        },
        "array" => match schema.get("items").map(|items| field_type(items, defs)) {
            Some((item, false)) if item == "string" || defs.get(&item).is_some_and(is_struct) => format!("[{item}]"),
            _ => "json".to_owned(),
        },
        _ => "json".to_owned(),
    };
    (t, nullable)
}

/// Whether a definition is a struct with named fields (a class in the generated wrappers).
fn is_struct(def: &Value) -> bool {
    def.get("type") == Some(&json!("object")) && def.get("additionalProperties").is_none_or(|a| a == &json!(false))
}

fn struct_fields(def: &Value, defs: &Map<String, Value>) -> Vec<Value> {
    let required: Vec<&str> = def
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let empty = Map::new();
    let properties = def.get("properties").and_then(Value::as_object).unwrap_or(&empty);
    properties
        .iter()
        .map(|(name, schema)| {
            let (t, nullable) = field_type(schema, defs);
            let mut field = json!({ "name": name, "type": t });
            if nullable {
                field["optional"] = json!(true);
                field["skip_if_none"] = json!(true);
            } else if !required.contains(&name.as_str()) {
                let literal = schema.get("default").filter(|d| d.is_string() || d.is_number() || d.is_boolean());
                field["default"] = literal.cloned().unwrap_or(json!(true));
            }
            field
        })
        .collect()
}

/// An internally tagged enum (`#[serde(tag = "...")]`) as one struct: the tag, present in every
/// variant, is required; every other field is optional (it belongs to some variants only).
fn tagged_union(def: &Value) -> Option<Value> {
    let variants = def.get("oneOf")?.as_array()?;
    let mut properties = Map::new();
    let mut in_all: Option<Vec<String>> = None;
    for variant in variants {
        let props = variant.get("properties")?.as_object()?;
        let required: Vec<String> = variant
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        in_all = Some(match in_all {
            None => required,
            Some(all) => all.into_iter().filter(|r| required.contains(r)).collect(),
        });
        for (name, schema) in props {
            let schema = if schema.get("const").is_some() || schema.get("enum").is_some() {
                json!({ "type": "string" })
            } else {
                schema.clone()
            };
            properties.entry(name.clone()).or_insert(schema);
        }
    }
    Some(json!({ "type": "object", "properties": properties, "required": in_all.unwrap_or_default() }))
}

#[test]
fn the_assemblyscript_table_is_current() {
    let mut generator = schemars::SchemaGenerator::default();
    type_schemas(&mut generator);
    let defs = generator.definitions().clone();
    let mut types = Map::new();
    for (name, def) in &defs {
        if is_struct(def) {
            types.insert(name.clone(), Value::Array(struct_fields(def, &defs)));
        } else if let Some(merged) = tagged_union(def) {
            types.insert(name.clone(), Value::Array(struct_fields(&merged, &defs)));
        }
    }
    let class = |name: &str| name.trim_start_matches('[').trim_end_matches(']').to_owned();
    let functions: Vec<Value> = HOST_FUNCTIONS
        .iter()
        .filter(|f| types.contains_key(&class(f.request)) && types.contains_key(&class(f.response)))
        .map(|f| {
            json!({
                "name": f.name,
                "grant": f.grant.as_str(),
                "request": f.request,
                "response": f.response,
                "errors": f.errors,
                "summary": f.summary,
            })
        })
        .collect();
    let missing: Vec<&str> = HOST_FUNCTIONS
        .iter()
        .filter(|f| !types.contains_key(&class(f.request)) || !types.contains_key(&class(f.response)))
        .map(|f| f.name)
        .collect();
    assert!(missing.is_empty(), "host functions whose request or response is not a struct: {missing:?}");
    let table = json!({
        "abi_version": ABI_VERSION,
        "namespace": HOST_NAMESPACE,
        "functions": functions,
        "types": types,
    });
    let mut problems = Vec::new();
    let text = serde_json::to_string_pretty(&table).unwrap() + "\n";
    check(&root().join("plugins").join("template-as").join("a2e-abi.json"), &text, &mut problems);
    finish(problems, "the_assemblyscript_table_is_current");
}
