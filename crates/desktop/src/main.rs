//! The a2e desktop app's entry point.
//!
//! With `A2E_DESKTOP_SMOKE=<dir>` set, the app checks itself once the UI has rendered: a script in
//! the webview reads the page heading and calls the `setup_status` command over IPC, and the app
//! writes the result to `<dir>/desktop-smoke.json`, saves a screenshot of the screen to
//! `<dir>/desktop.png` (ImageMagick's `import`) and exits.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::time::{Duration, Instant};

use tauri::Manager;

/// Waits for the UI's first heading, then round-trips one command through the IPC bridge and
/// reports through the URL's fragment, which the app reads back.
const SMOKE_SCRIPT: &str = r#"(async () => {
  if (window.__a2eSmoke) return;
  window.__a2eSmoke = true;
  let heading = null;
  for (let i = 0; i < 400 && !heading; i++) {
    heading = document.querySelector("h1")?.textContent ?? null;
    if (!heading) await new Promise((r) => setTimeout(r, 50));
  }
  let ipc;
  try { ipc = await window.__TAURI_INTERNALS__.invoke("setup_status", {}); } catch (e) { ipc = { error: e }; }
  location.hash = "smoke=" + encodeURIComponent(JSON.stringify({ heading, ipc }));
})();"#;

/// Decodes `%XX` escapes (what `encodeURIComponent` produces).
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

fn main() {
    a2e_server::process::bound_malloc();
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("A2E_LOG").unwrap_or_else(|_| "warn".into()))
        .init();
    let desktop = a2e_desktop::data_dir()
        .and_then(|dir| {
            let source = a2e_desktop::keys::key_source(&dir)?;
            a2e_desktop::Desktop::open(&dir, source)
        })
        .unwrap_or_else(|e| {
            eprintln!("a2e-desktop: {e}");
            std::process::exit(1);
        });
    let smoke = std::env::var_os("A2E_DESKTOP_SMOKE").map(std::path::PathBuf::from);
    let app = a2e_desktop::builder(tauri::Builder::default(), desktop.clone())
        .build(tauri::generate_context!())
        .unwrap_or_else(|e| {
            eprintln!("a2e-desktop: {e}");
            std::process::exit(1);
        });
    let host = desktop.host().clone();
    a2e_desktop::forward_events(app.handle().clone(), desktop);
    if let Some(dir) = smoke {
        let handle = app.handle().clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            // The configured window is created when the app starts running.
            let window = loop {
                if let Some(window) = handle.get_webview_window("main") {
                    break window;
                }
                if started.elapsed() > Duration::from_secs(60) {
                    eprintln!("a2e-desktop: the main window never opened");
                    handle.exit(1);
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            let mut polls = 0u32;
            let report = loop {
                if started.elapsed() > Duration::from_secs(90) {
                    break None;
                }
                std::thread::sleep(Duration::from_millis(200));
                // Until the page has loaded, a script may land in the blank document before it; the
                // script marks the document it runs in, so repeating it is harmless.
                if polls.is_multiple_of(10) {
                    let _ = window.eval(SMOKE_SCRIPT);
                }
                polls += 1;
                let fragment = window.url().ok().and_then(|u| u.fragment().map(str::to_owned));
                if let Some(report) = fragment.as_deref().and_then(|f| f.strip_prefix("smoke=")).map(percent_decode) {
                    break Some(report);
                }
            };
            std::fs::create_dir_all(&dir).ok();
            let code = match report {
                Some(report) => {
                    std::fs::write(dir.join("desktop-smoke.json"), &report).ok();
                    let shot = std::process::Command::new("import")
                        .args(["-window", "root"])
                        .arg(dir.join("desktop.png"))
                        .status();
                    if !shot.is_ok_and(|s| s.success()) {
                        eprintln!("a2e-desktop: could not take a screenshot with ImageMagick's `import`");
                    }
                    0
                }
                None => {
                    eprintln!("a2e-desktop: the UI did not report within 90 s");
                    1
                }
            };
            handle.exit(code);
        });
    }
    app.run(move |_, event| {
        if let tauri::RunEvent::Exit = event {
            // Rooms close with a reason, and no plugin call outlives the app.
            if !host.shutdown(Duration::from_secs(10)) {
                eprintln!("a2e-desktop: realtime plugin calls were still running 10 s after exit was asked");
            }
        }
    });
}
