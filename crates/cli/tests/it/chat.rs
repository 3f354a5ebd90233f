//! `a2e chat` against a real model server (tools/model_server.py): a provider URL granted only
//! when allowed, the answer streamed to the terminal and stored, listing and export.

#[path = "../../../../tools/test_model.rs"]
mod test_model;

use crate::{a2e, stderr};

#[test]
fn chat_from_the_terminal_asks_before_granting_streams_and_stores_the_exchange() {
    let m = test_model::model();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // No administrator yet: a clear error.
    let none = a2e(d, &["chat", "hi"], &[], "");
    assert!(!none.status.success());
    assert!(stderr(&none).contains("no administrator yet"), "{}", stderr(&none));
    let made = a2e(
        d,
        &["user", "create", "--admin", "--name", "Root", "--email", "root@example.com"],
        &[],
        "a long enough password\n",
    );
    assert!(made.status.success(), "{}", stderr(&made));

    // A new provider URL without a terminal and without --yes: refused, nothing granted.
    let refused = a2e(d, &["chat", "--provider", &m.openai, "What is the capital of France?"], &[], "");
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(err.contains("--yes") && err.contains(&format!("http:{}", m.openai)), "{err}");
    let grants = a2e(d, &["plugin", "grants", "chat"], &[], "");
    assert!(!String::from_utf8_lossy(&grants.stdout).contains("http:"), "granted anyway");

    // With --yes: granted, added, answered as it streams, stored.
    let asked = a2e(
        d,
        &["chat", "--yes", "--provider", &m.openai, "What is the capital of France? Answer in one sentence."],
        &[],
        "",
    );
    assert!(asked.status.success(), "{}", stderr(&asked));
    let answer = String::from_utf8_lossy(&asked.stdout).trim().to_owned();
    assert!(!answer.is_empty(), "no answer printed; stderr: {}", stderr(&asked));
    let session =
        stderr(&asked).lines().find_map(|l| l.strip_prefix("(session ").map(|s| s.trim_end_matches(')').to_owned()));
    let session = session.expect("the session id is shown");
    let grants = a2e(d, &["plugin", "grants", "chat"], &[], "");
    assert!(String::from_utf8_lossy(&grants.stdout).contains(&format!("http:{}", m.openai)));

    // The same provider next time (no question), continuing the session.
    let more = a2e(d, &["chat", "--session", &session, "Say it again."], &[], "");
    assert!(more.status.success(), "{}", stderr(&more));

    let list = a2e(d, &["chat", "--list"], &[], "");
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(list.contains(&session) && list.contains("What is the capital of France?"), "{list}");
    let md = a2e(d, &["chat", "--export", &session], &[], "");
    let md = String::from_utf8_lossy(&md.stdout).into_owned();
    assert!(
        md.contains("## You") && md.contains(&answer) && md.contains("Say it again."),
        "{md}\n--- printed: {answer}"
    );

    // Interactive mode reads lines from standard input until /bye.
    let chatted = a2e(d, &["chat", "--session", &session], &[], "Thanks!\n/bye\n");
    assert!(chatted.status.success(), "{}", stderr(&chatted));
    assert!(!String::from_utf8_lossy(&chatted.stdout).trim().is_empty());

    // An Ollama server is told apart from an OpenAI-compatible one.
    let ollama = a2e(d, &["chat", "--yes", "--provider", &m.ollama, "Hello"], &[], "");
    assert!(ollama.status.success(), "{}", stderr(&ollama));
    assert!(!String::from_utf8_lossy(&ollama.stdout).trim().is_empty());

    // Bad names are clear errors.
    let agent = a2e(d, &["chat", "--agent", "Nobody", "hi"], &[], "");
    assert!(!agent.status.success() && stderr(&agent).contains("no agent named `Nobody`"), "{}", stderr(&agent));
    let user = a2e(d, &["chat", "--user", "ghost@example.com", "hi"], &[], "");
    assert!(!user.status.success() && stderr(&user).contains("ghost@example.com"), "{}", stderr(&user));
}
