//! `cloudctl serve`: one keeper of every login of a database for all the programs of a
//! host. It keeps every login alive (the library's [`KeepAlive`], as `cloudctl keepalive`
//! does) and serves, on loopback by default, a token API for programs (API keys), server-
//! sent events, QR and password logins, and the web console. `docs/serve.md` is the manual.
//!
//! Modules: [`keys`] the API key store, [`auth`] keys/sessions/CSRF, [`limits`] rate
//! limits, [`api`] token endpoints, [`login`] logins, [`events`] SSE, [`openapi`] the
//! document, [`console`] static files and security headers, [`state`] shared state.

mod api;
mod auth;
mod console;
mod error;
mod events;
mod keys;
mod limits;
mod login;
mod openapi;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use cloud_clients::{KeepAlive, KeepAliveOptions, OpenOptions};
use serde_json::json;
use storage_helper::StorageHelper;
use tokio::sync::watch;

use crate::cli::ServeArgs;
use crate::context::Context;
use crate::exit::{NotFound, UsageError};
use crate::output::{line, note, now, time};
use crate::signals::{FLUSH_TIMEOUT, Signals};

use error::ApiError;
use state::AppState;

/// Largest request body accepted (logins are a few hundred bytes).
const BODY_LIMIT: usize = 16 * 1024;
/// Longest a request may take (a QR login start or a refresh waits on the provider, whose
/// client gives up after 30 s). The event stream is exempt.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(45);

/// A time as the API writes it (RFC 3339, UTC).
pub(crate) fn api_time(at: SystemTime) -> String {
    let ms = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    cloud_clients::format_timestamp_ms(ms)
}

async fn timeout(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took too long",
        )
        .into_response(),
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

/// The router: every route of the contract (`/work/notes/serve-contract.md`, documented in
/// `docs/serve.md` and the OpenAPI document).
fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/openapi.json", get(openapi::openapi))
        .route(
            "/session",
            post(auth::create_session)
                .get(auth::get_session)
                .delete(auth::delete_session),
        )
        .route("/storages", get(api::storages))
        .route("/storages/{name}/token", get(api::token))
        .route("/storages/{name}/refresh", post(api::refresh))
        .route("/storages/{name}/logout", post(api::logout))
        .route("/storages/{name}/login/qr", post(login::start_qr))
        .route("/storages/{name}/login/password", post(login::password))
        .route("/storages/{name}/login/{login_id}", delete(login::cancel))
        .layer(middleware::from_fn(timeout))
        // The stream lives as long as the client listens: no request timeout.
        .route("/events", get(events::events))
        .fallback(not_found);
    Router::new()
        .route("/", get(console::index))
        .route("/console.js", get(console::script))
        .route("/console.css", get(console::style))
        .nest("/api/v1", api)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(console::headers))
        .with_state(state)
}

/// `cloudctl serve`, and its key commands.
pub async fn run(ctx: &Context, args: ServeArgs, signals: &mut Signals) -> Result<()> {
    let store = ctx.store().await?;
    if let Some(name) = &args.new_key {
        let key = keys::create(&store, name, time(now()))
            .await
            .map_err(key_error)?;
        if ctx.json {
            crate::output::json(&json!({"name": name, "api_key": key}))?;
        } else {
            line(&key);
            note(format!(
                "API key `{name}` created. It is shown only this once: only its SHA-256 is stored. \
                 Send it as `Authorization: Bearer <key>`."
            ));
        }
        return Ok(());
    }
    if args.list_keys {
        let list = keys::list(&store).await.map_err(key_error)?;
        if ctx.json {
            let list: Vec<_> = list
                .iter()
                .map(|k| json!({"name": k.name, "created": k.created}))
                .collect();
            return crate::output::json(&json!({"keys": list}));
        }
        if list.is_empty() {
            note("no API keys; create one with `cloudctl serve --new-key NAME`");
        }
        for key in list {
            line(format!("{}\tcreated {}", key.name, key.created));
        }
        return Ok(());
    }
    if let Some(name) = &args.revoke_key {
        keys::revoke(&store, name).await.map_err(key_error)?;
        return crate::commands::done(ctx, &format!("API key `{name}` revoked"));
    }
    serve(ctx, &args, StorageHelper::new(store), signals).await
}

fn key_error(err: keys::KeyError) -> anyhow::Error {
    match err {
        keys::KeyError::Missing(_) => NotFound(err.to_string()).into(),
        keys::KeyError::Exists(_) | keys::KeyError::BadName(_) => {
            UsageError(err.to_string()).into()
        }
        other => other.into(),
    }
}

async fn serve(
    ctx: &Context,
    args: &ServeArgs,
    storages: StorageHelper,
    signals: &mut Signals,
) -> Result<()> {
    let mut options = OpenOptions::default();
    options.endpoints = ctx.endpoints.clone();
    let keepalive = KeepAlive::start([], KeepAliveOptions::default());
    let (stop, stopped) = watch::channel(false);
    let one_time = keys::random_token();
    let state = Arc::new(AppState::new(
        storages.clone(),
        options,
        keepalive,
        stopped.clone(),
        one_time.clone(),
    ));
    for conf in state.served()? {
        if let Some(kind) = conf.kind {
            state.drive(&kind, false)?;
        }
    }
    // Storages added while running (another process logs one in) are kept alive too.
    {
        let state = Arc::clone(&state);
        let mut changes = storages.subscribe();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    change = changes.recv() => {
                        let Some(change) = change else { break };
                        if change.conf.is_some() {
                            let _ = state.drive(&change.kind, false);
                        }
                    }
                    _ = stopped.changed() => break,
                }
            }
        });
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        note(format!(
            "warning: listening on {addr}, which is not a loopback address, without TLS: API keys, \
             session cookies and tokens cross the network in clear text. Put a TLS proxy in front \
             or listen on 127.0.0.1."
        ));
    }
    let shown = if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    if ctx.json {
        line(
            json!({"event": "listening", "url": format!("http://{shown}"),
            "console": format!("http://{shown}/#one_time={one_time}")})
            .to_string(),
        );
    } else {
        line(format!("listening on http://{shown}"));
        line(format!(
            "console (this link signs in once): http://{shown}/#one_time={one_time}"
        ));
    }
    let app = router(Arc::clone(&state));
    let mut graceful = stopped.clone();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = graceful.wait_for(|stop| *stop).await;
    });
    let mut server = tokio::spawn(async move { server.await });
    let signal = tokio::select! {
        signal = signals.recv() => signal,
        ended = &mut server => {
            ended.context("the server task")?.context("serving")?;
            anyhow::bail!("the server stopped by itself");
        }
    };
    note(format!(
        "{}: stopping; finishing requests and refreshes under way",
        signal.name
    ));
    // No new connections; event streams end; requests under way finish.
    stop.send_replace(true);
    for (_, running) in state
        .logins
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain()
    {
        running.task.abort();
    }
    let finish = async {
        match tokio::time::timeout(FLUSH_TIMEOUT, &mut server).await {
            Ok(Ok(Err(err))) => note(format!("serving ended with an error: {err}")),
            Err(_) => note("requests still open after the wait; closing them"),
            _ => {}
        }
        if let Some(keepalive) = state.take_keepalive() {
            crate::keepalive::report_flushed(keepalive.stop(FLUSH_TIMEOUT).await);
        }
    };
    tokio::select! {
        () = finish => {}
        again = signals.recv() => {
            note(format!("{}: exiting without waiting", again.name));
            return Err(again.into());
        }
    }
    Ok(())
}
