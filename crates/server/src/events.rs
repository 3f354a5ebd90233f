//! `/api/events`: live audit and plugin events over a WebSocket, for administrators.
//!
//! Each client gets its own bounded queue on the host's event bus, read by the socket's async
//! task (no thread per socket). A client that falls behind (its queue fills) is dropped by the
//! bus and its socket closed; other clients and the plugins that emit events are not held up.
//! The same stream is a topic of the realtime socket (`/api/rt`, `{"type":"subscribe",
//! "topic":"events"}`); this route stays for clients that only want events.

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
    let receiver = state.host().subscribe(state.config().event_queue);
    upgrade.on_upgrade(move |socket| pump(socket, receiver))
}

async fn pump(socket: WebSocket, mut receiver: tokio::sync::mpsc::Receiver<a2e_db::AuditEvent>) {
    let (mut sink, mut stream) = socket.split();
    let _ = sink.send(Message::Text(r#"{"kind":"events.connected"}"#.into())).await;
    loop {
        tokio::select! {
            next = receiver.recv() => match next {
                Some(event) => {
                    let text = serde_json::to_string(&AuditEventView::from(event)).unwrap_or_default();
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                // The bus dropped this subscriber: its queue filled up.
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
}
