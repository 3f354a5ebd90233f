//! `/api/events`: live audit and plugin events over a WebSocket, for administrators.
//!
//! Each client gets its own bounded queue on the host's event bus. A client that falls behind
//! (its queue fills) is dropped by the bus and its socket closed; other clients and the plugins
//! that emit events are not held up.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::AuditEventView;
use crate::auth::Admin;
use crate::error::ErrorBody;
use crate::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events))
}

/// Upgrades to a WebSocket that streams every new audit event as a JSON text message
/// (the shape of an audit log entry).
#[utoipa::path(get, path = "/api/events", tag = "admin",
    responses((status = 101, description = "switching to a WebSocket of AuditEventView messages"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn events(State(state): State<AppState>, _: Admin, upgrade: WebSocketUpgrade) -> Response {
    let queue = state.config().event_queue;
    let receiver = state.host().subscribe(queue);
    upgrade.on_upgrade(move |socket| pump(socket, receiver, queue))
}

async fn pump(socket: WebSocket, receiver: crossbeam_channel::Receiver<a2e_db::AuditEvent>, queue: usize) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(queue.max(1));
    // The bus is a blocking channel: a thread moves its events onto the socket's async queue.
    // When the socket is slow the async queue fills, this thread blocks, the bus finds the
    // subscriber's queue full and drops it, and the disconnect ends this thread and the socket.
    let bridge = std::thread::spawn(move || loop {
        match receiver.recv_timeout(std::time::Duration::from_millis(500)) {
            Ok(event) => {
                let text = serde_json::to_string(&AuditEventView::from(event)).unwrap_or_default();
                if tx.blocking_send(text).is_err() {
                    break;
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) if !tx.is_closed() => {}
            Err(_) => break,
        }
    });
    let (mut sink, mut stream) = socket.split();
    let _ = sink.send(Message::Text(r#"{"kind":"events.connected"}"#.into())).await;
    loop {
        tokio::select! {
            next = rx.recv() => match next {
                Some(text) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                None => {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
            },
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    drop(rx);
    // The bridge notices the closed queue within its poll interval and ends.
    drop(bridge);
}
