//! The SMTP mailer against a real SMTP server process (Python's aiosmtpd, installed by
//! `cargo xtask test`), driven by the auth plugin.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_smtp_server(maildir: &std::path::Path) -> (Server, u16) {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let python = std::env::var("A2E_PYTHON").unwrap_or_else(|_| "python3".into());
    let child = Command::new(python)
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
        .arg(maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with aiosmtpd (cargo xtask test installs it: pip install aiosmtpd)");
    let mut server = Server(child);
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (server, port);
        }
        if let Ok(Some(status)) = server.0.try_wait() {
            let mut err = String::new();
            std::io::Read::read_to_string(server.0.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("aiosmtpd exited with {status}: {err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("aiosmtpd did not start listening on port {port}");
}

#[test]
fn auth_mail_is_delivered_through_a_real_smtp_server() {
    let tmp = tempfile::tempdir().unwrap();
    // aiosmtpd's Mailbox handler creates the Maildir (with cur/new/tmp) when it does not exist.
    let maildir = tmp.path().join("mail");
    let (_server, port) = start_smtp_server(&maildir);
    let mailer = a2e_host::mail::SmtpMailer::from_url(&format!("smtp://127.0.0.1:{port}")).unwrap();
    let t = crate::test_host_with(|config| config.mailer = Some(Arc::new(mailer)));
    crate::install_fixture(&t, "fx", &["email"], json!({}));
    let sent = crate::host_fn(
        &t,
        "fx",
        "email_send",
        json!({ "to": "ada@example.com", "subject": "Über SMTP", "text": "line one\nline two" }),
    );
    assert_eq!(sent["success"], true, "{sent}");
    t.host.flush_mail();
    let delivered: Vec<_> = std::fs::read_dir(maildir.join("new")).unwrap().flatten().collect();
    assert_eq!(delivered.len(), 1);
    let message = std::fs::read_to_string(delivered[0].path()).unwrap();
    assert!(message.contains("To: ada@example.com"), "{message}");
    assert!(message.contains("line two"), "{message}");
    assert!(message.contains(sent["data"]["message_id"].as_str().unwrap()), "{message}");
    assert!(!dir_has_outbox(&t), "nothing went to the file outbox");
}

#[test]
fn an_unreachable_smtp_server_fails_delivery_without_failing_the_plugin() {
    use a2e_host::mail::{Email, Mailer, SmtpMailer};
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mailer = SmtpMailer::from_url(&format!("smtp://127.0.0.1:{port}")).unwrap();
    let email = Email { from: "a@x.com".into(), to: "b@x.com".into(), subject: "s".into(), text: "t".into() };
    let err = mailer.send(&email, "id@a2e", 0).unwrap_err();
    assert!(err.contains("SMTP delivery to 127.0.0.1"), "{err}");
    // Through the host the message is queued: the plugin gets its id at once and the failed
    // delivery is logged; the host keeps serving.
    let t = crate::test_host_with(|config| config.mailer = Some(Arc::new(mailer)));
    crate::install_fixture(&t, "fx", &["email"], json!({}));
    let sent = crate::host_fn(&t, "fx", "email_send", json!({ "to": "ada@example.com", "subject": "s", "text": "t" }));
    assert_eq!(sent["success"], true, "{sent}");
    t.host.flush_mail();
    assert_eq!(t.host.call("fx", "echo", b"ok", &Default::default()).unwrap(), b"ok");
}

fn dir_has_outbox(t: &crate::TestHost) -> bool {
    t.dir.path().join("outbox").exists()
}
