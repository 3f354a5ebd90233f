//! docs/plugin-abi.md must list exactly the host functions of `HOST_FUNCTIONS`, with their grants,
//! request and response types and error codes. Regenerate with `A2E_BLESS=1 cargo test -p a2e-abi`.

use a2e_abi::{Grant, HOST_FUNCTIONS};

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

#[test]
fn plugin_abi_doc_matches_the_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/plugin-abi.md");
    let doc = std::fs::read_to_string(path).expect("docs/plugin-abi.md exists");
    let (start, end) = (doc.find(BEGIN).expect("begin marker"), doc.find(END).expect("end marker"));
    let current = &doc[start + BEGIN.len()..end];
    let expected = format!("\n{}", table());
    if current != expected {
        if std::env::var_os("A2E_BLESS").is_some() {
            let updated = format!("{}{}{}{}", &doc[..start], BEGIN, expected, &doc[end..]);
            std::fs::write(path, updated).unwrap();
            return;
        }
        panic!("docs/plugin-abi.md is out of date with crates/abi/src/functions.rs; run A2E_BLESS=1 cargo test -p a2e-abi --test docs");
    }
}
