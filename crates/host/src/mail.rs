//! The host mailer behind `email_send`: a file outbox (the embedded default), one .eml per message.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

/// A message to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    /// Sender address.
    pub from: String,
    /// Recipient address.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
}

/// Something that delivers email.
pub trait Mailer: Send + Sync {
    /// Sends `email`; returns the message id.
    fn send(&self, email: &Email, message_id: &str, date_ms: i64) -> Result<(), String>;
}

/// Delivers mail on a background thread, so that a request's answer never waits for (or reveals,
/// through its timing) the delivery of a message. Delivery failures are logged.
pub struct QueuedMailer {
    sender: std::sync::Mutex<Option<crossbeam_channel::Sender<(Email, String, i64)>>>,
    worker: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    pending: Arc<(std::sync::Mutex<usize>, std::sync::Condvar)>,
}

impl std::fmt::Debug for QueuedMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueuedMailer")
    }
}

use std::sync::Arc;

impl QueuedMailer {
    /// Starts a delivery thread in front of `inner` with room for `capacity` queued messages.
    pub fn new(inner: Arc<dyn Mailer>, capacity: usize) -> QueuedMailer {
        let (tx, rx) = crossbeam_channel::bounded::<(Email, String, i64)>(capacity.max(1));
        let pending = Arc::new((std::sync::Mutex::new(0usize), std::sync::Condvar::new()));
        let counter = pending.clone();
        let worker = std::thread::Builder::new()
            .name("a2e-mail".into())
            .spawn(move || {
                for (email, id, date) in rx {
                    if let Err(error) = inner.send(&email, &id, date) {
                        tracing::error!(message_id = %id, %error, "mail delivery failed");
                    }
                    let mut n = counter.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    *n = n.saturating_sub(1);
                    counter.1.notify_all();
                }
            })
            .expect("spawning the mail thread");
        QueuedMailer { sender: std::sync::Mutex::new(Some(tx)), worker: std::sync::Mutex::new(Some(worker)), pending }
    }

    /// Waits until every queued message has been handed to the mailer.
    pub fn flush(&self) {
        let mut n = self.pending.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while *n > 0 {
            n = self.pending.1.wait(n).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

impl Mailer for QueuedMailer {
    fn send(&self, email: &Email, message_id: &str, date_ms: i64) -> Result<(), String> {
        for (name, value) in [("from", &email.from), ("to", &email.to), ("subject", &email.subject)] {
            check_header(name, value)?;
        }
        let sender = self.sender.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let sender = sender.as_ref().ok_or("the mail queue is closed")?;
        *self.pending.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
        sender.try_send((email.clone(), message_id.to_owned(), date_ms)).map_err(|_| {
            let mut n = self.pending.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            *n = n.saturating_sub(1);
            "the mail queue is full".to_owned()
        })
    }
}

impl Drop for QueuedMailer {
    /// Delivers what is queued before the host goes away.
    fn drop(&mut self) {
        self.sender.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(worker) = self.worker.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            let _ = worker.join();
        }
    }
}

/// Writes each message as an RFC 5322 .eml file into a directory.
#[derive(Debug)]
pub struct FileOutbox {
    dir: PathBuf,
    /// Orders messages written within one millisecond; starts after the files already there.
    sequence: std::sync::Mutex<Option<u64>>,
}

impl FileOutbox {
    /// An outbox writing into `dir` (created on first use).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileOutbox { dir: dir.into(), sequence: std::sync::Mutex::new(None) }
    }

    /// The outbox directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

/// Sends through an SMTP server with lettre.
pub struct SmtpMailer {
    transport: lettre::SmtpTransport,
    server: String,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SmtpMailer({})", self.server)
    }
}

impl SmtpMailer {
    /// A mailer for `url`: `smtp://[user:pass@]host[:port]` (plain, or STARTTLS with
    /// `?tls=required`) or `smtps://...` (implicit TLS), as lettre understands them.
    pub fn from_url(url: &str) -> Result<SmtpMailer, String> {
        let transport = lettre::SmtpTransport::from_url(url).map_err(|e| format!("invalid SMTP URL: {e}"))?.build();
        // host:port only: never the credentials.
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let rest = rest.rsplit('@').next().unwrap_or(rest);
        let server = rest.split(['?', '/']).next().unwrap_or(rest).to_owned();
        Ok(SmtpMailer { transport, server })
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, email: &Email, message_id: &str, _date_ms: i64) -> Result<(), String> {
        use lettre::Transport;
        for (name, value) in [("from", &email.from), ("to", &email.to), ("subject", &email.subject)] {
            check_header(name, value)?;
        }
        let message = lettre::Message::builder()
            .message_id(Some(format!("<{message_id}>")))
            .from(email.from.parse().map_err(|e| format!("invalid sender: {e}"))?)
            .to(email.to.parse().map_err(|e| format!("invalid recipient: {e}"))?)
            .subject(email.subject.clone())
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(email.text.clone())
            .map_err(|e| format!("building the message: {e}"))?;
        self.transport.send(&message).map(drop).map_err(|e| format!("SMTP delivery to {} failed: {e}", self.server))
    }
}

/// Rejects header values that could inject headers.
pub fn check_header(name: &str, value: &str) -> Result<(), String> {
    if value.contains(['\r', '\n', '\0']) {
        return Err(format!("{name} must not contain line breaks"));
    }
    Ok(())
}

impl Mailer for FileOutbox {
    fn send(&self, email: &Email, message_id: &str, date_ms: i64) -> Result<(), String> {
        for (name, value) in [("from", &email.from), ("to", &email.to), ("subject", &email.subject)] {
            check_header(name, value)?;
        }
        fs::create_dir_all(&self.dir).map_err(|e| format!("creating outbox {}: {e}", self.dir.display()))?;
        let body = email.text.replace("\r\n", "\n").replace('\n', "\r\n");
        let text = format!(
            "Message-ID: <{message_id}>\r\nDate: {}\r\nFrom: {}\r\nTo: {}\r\nSubject: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n",
            rfc5322_date(date_ms),
            email.from,
            email.to,
            email.subject
        );
        let tmp = self.dir.join(format!(".{message_id}.tmp"));
        let seq = {
            let mut seq = self.sequence.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let next = seq.unwrap_or_else(|| fs::read_dir(&self.dir).map(|d| d.count() as u64).unwrap_or(0));
            *seq = Some(next + 1);
            next
        };
        // Names sort in sending order: time, then sequence.
        let path = self.dir.join(format!("{date_ms:013}-{seq:08}-{message_id}.eml"));
        let mut file = fs::File::create(&tmp).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
        file.write_all(text.as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
        fs::rename(&tmp, &path).map_err(|e| format!("writing {}: {e}", path.display()))
    }
}

/// Formats Unix ms as an RFC 5322 date in UTC, such as "Tue, 14 Nov 2023 22:13:20 +0000".
pub fn rfc5322_date(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default().format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc5322() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(1_700_000_000_000), "Tue, 14 Nov 2023 22:13:20 +0000");
        assert_eq!(rfc5322_date(951_782_400_000), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn header_injection_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = FileOutbox::new(dir.path());
        let email = Email { from: "a@x".into(), to: "b@x\r\nBcc: c@x".into(), subject: "s".into(), text: "t".into() };
        assert!(outbox.send(&email, "id1", 0).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
