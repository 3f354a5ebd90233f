//! Tests of the desktop app's commands through Tauri's mock runtime (no display): every command
//! with its success and error paths, event forwarding, the command tables, and the key source.

mod commands; // every command, success and error paths; events
mod keys; // keyring with fallback

use std::sync::Arc;

use a2e_db::KeySource;
use serde_json::Value;
use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::WebviewWindow;
use tempfile::TempDir;

/// An app on the mock runtime over a fresh data dir, with its main window.
pub struct TestApp {
    /// The data dir.
    pub dir: TempDir,
    /// The app state.
    pub desktop: Arc<a2e_desktop::Desktop>,
    /// The app.
    pub app: tauri::App<MockRuntime>,
    /// Its main window.
    pub window: WebviewWindow<MockRuntime>,
}

/// Builds the app as `main.rs` does, on the mock runtime.
pub fn app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let desktop = a2e_desktop::Desktop::open(dir.path(), KeySource::KeyFile(dir.path().join("db.key"))).unwrap();
    let app = a2e_desktop::builder(mock_builder(), desktop.clone()).build(mock_context(noop_assets())).unwrap();
    a2e_desktop::forward_events(app.handle().clone(), desktop.clone());
    let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();
    TestApp { dir, desktop, app, window }
}

impl TestApp {
    /// Invokes `command` with `args` as the UI's `api.ts` would; the error is the `{code, message}` value.
    pub fn invoke(&self, command: &str, args: Value) -> Result<Value, Value> {
        self.request(command, tauri::ipc::InvokeBody::Json(args), Default::default())
    }

    /// Invokes `command` with a raw body and headers, as the UI's `invoke(cmd, bytes, { headers })`.
    pub fn invoke_raw(&self, command: &str, bytes: Vec<u8>, headers: &[(&str, &str)]) -> Result<Value, Value> {
        let mut map = tauri::http::HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                tauri::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                tauri::http::HeaderValue::from_str(value).unwrap(),
            );
        }
        self.request(command, tauri::ipc::InvokeBody::Raw(bytes), map)
    }

    fn request(
        &self,
        command: &str,
        body: tauri::ipc::InvokeBody,
        headers: tauri::http::HeaderMap,
    ) -> Result<Value, Value> {
        get_ipc_response(
            &self.window,
            InvokeRequest {
                cmd: command.into(),
                callback: tauri::ipc::CallbackFn(0),
                error: tauri::ipc::CallbackFn(1),
                url: "tauri://localhost".parse().unwrap(),
                body,
                headers,
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|body| body.deserialize::<Value>().unwrap())
    }

    /// Asserts success and returns the result.
    #[track_caller]
    pub fn ok(&self, command: &str, args: Value) -> Value {
        self.invoke(command, args).unwrap_or_else(|e| panic!("{command} failed: {e}"))
    }

    /// Asserts failure with `code`.
    #[track_caller]
    pub fn fails(&self, command: &str, args: Value, code: &str) {
        match self.invoke(command, args) {
            Ok(v) => panic!("{command} succeeded: {v}"),
            Err(e) => {
                assert_eq!(e["code"], code, "{command}: {e}");
                assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{command}: {e}");
            }
        }
    }

    /// The token in the newest mail to `to` linking to `path`.
    pub fn mailed_token(&self, to: &str, path: &str) -> String {
        self.desktop.host().flush_mail();
        let outbox = self.dir.path().join("outbox");
        let mut files: Vec<_> = std::fs::read_dir(&outbox).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        files
            .iter()
            .rev()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .filter(|t| t.contains(&format!("To: {to}")))
            .find_map(|t| {
                let start = t.find(&format!("{path}?token="))? + path.len() + 7;
                Some(t[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect())
            })
            .unwrap_or_else(|| panic!("no mail to {to} with a {path} link"))
    }
}

/// The template plugin's module, built by `cargo xtask test` into the shared target dir.
pub fn template_wasm() -> Vec<u8> {
    let exe = std::env::current_exe().unwrap();
    let path = exe.ancestors().nth(3).unwrap().join("wasm32-unknown-unknown/release/template.wasm");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask test`", path.display()))
}
