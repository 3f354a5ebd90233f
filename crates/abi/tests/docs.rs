//! docs/plugin-abi.md must list exactly the host functions of `HOST_FUNCTIONS`, with their grants,
//! request and response types and error codes. Regenerate with `A2E_BLESS=1 cargo test -p a2e-abi`.

use a2e_abi::{ErrorCode, Grant, HOST_FUNCTIONS};

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
                "| `{}` | `{}` | `{}` | `{}` | {} | {} |\n",
                f.name,
                f.grant,
                f.request,
                f.response,
                errors.join(", "),
                f.summary
            ));
        }
    }
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
