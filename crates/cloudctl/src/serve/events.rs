//! `GET /api/v1/events`: server-sent events.
//!
//! - `event: state`, `data: {"storage": "u115", "state": {...}}` on every token state
//!   change of a served storage (from its accessor's watch channel), and one per storage
//!   right after connecting;
//! - `event: login`, `data: {"storage": "u115", "login_id": "…", "status": "waiting" | …}`
//!   for QR login progress;
//! - a keep-alive comment every 15 s. The stream ends when the server stops.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{self, KeepAlive, Sse};
use cloud_clients::TokenState;
use futures::Stream;
use futures::StreamExt as _;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::auth::Auth;
use super::error::ApiResult;
use super::state::AppState;

/// One event for the stream.
#[derive(Debug, Clone)]
pub struct Event {
    /// `state` or `login`.
    pub name: &'static str,
    pub data: Value,
}

/// A token state event.
pub fn state_event(storage: &str, state: &TokenState) -> Event {
    Event {
        name: "state",
        data: json!({"storage": storage, "state": state}),
    }
}

/// A login progress event.
pub fn login_event(storage: &str, login_id: &str, status: &str, message: Option<&str>) -> Event {
    let mut data = json!({"storage": storage, "login_id": login_id, "status": status});
    if let Some(message) = message {
        data["message"] = Value::from(message);
    }
    Event {
        name: "login",
        data,
    }
}

fn to_sse(event: &Event) -> sse::Event {
    sse::Event::default()
        .event(event.name)
        .data(event.data.to_string())
}

/// The event stream.
pub async fn events(
    State(state): State<Arc<AppState>>,
    _auth: Auth,
) -> ApiResult<Sse<impl Stream<Item = Result<sse::Event, Infallible>>>> {
    // Subscribe before reading the current states, so no change falls in between.
    let receiver = state.events.subscribe();
    let mut initial = Vec::new();
    for conf in state.served()? {
        let Some(kind) = conf.kind else { continue };
        let drive = state.drive(&kind, false)?;
        initial.push(state_event(&kind, &drive.accessor().state()));
    }
    let shutdown = state.shutdown.clone();
    let live = futures::stream::unfold(
        (receiver, shutdown, Arc::clone(&state)),
        |(mut receiver, mut shutdown, state)| async move {
            if *shutdown.borrow() {
                return None;
            }
            let next = tokio::select! {
                next = receiver.recv() => next,
                _ = shutdown.changed() => return None,
            };
            let events = match next {
                Ok(event) => vec![event],
                // Fell behind: send every storage's current state again.
                Err(RecvError::Lagged(_)) => state
                    .opened()
                    .iter()
                    .map(|d| state_event(d.storage_type(), &d.accessor().state()))
                    .collect(),
                Err(RecvError::Closed) => return None,
            };
            Some((events, (receiver, shutdown, state)))
        },
    )
    .flat_map(futures::stream::iter);
    let stream = futures::stream::iter(initial)
        .chain(live)
        .map(|event| Ok(to_sse(&event)));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
