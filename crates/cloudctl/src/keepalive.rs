//! `cloudctl keepalive`: the library's [`KeepAlive`] in the foreground, printing each
//! storage's state changes (one line each, or with `--json` one compact JSON object per
//! line: `{"at": …, "storage": "u115", "state": {"state": "valid", "expires_at": …}}`),
//! until SIGINT/SIGTERM — then refreshes under way finish and save, and it exits 0.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Result;
use cloud_clients::{Flushed, KeepAlive, KeepAliveOptions, TokenAccessor, TokenState, provider_of};
use serde_json::json;

use crate::cli::KeepaliveArgs;
use crate::context::Context;
use crate::exit::UsageError;
use crate::output::{line, note, now, system_time, time};
use crate::signals::{FLUSH_TIMEOUT, Signals};

fn describe(state: &TokenState) -> String {
    match state {
        TokenState::Valid {
            expires_at: Some(at),
        } => format!("valid until {}", system_time(*at)),
        TokenState::Valid { expires_at: None } => "valid (no expiry given)".to_owned(),
        TokenState::NeedsLogin { reason } => format!("needs login: {reason}"),
        TokenState::RateLimited { until } => {
            format!("rate limited, no refresh before {}", system_time(*until))
        }
        TokenState::Refreshing => "refreshing".to_owned(),
        TokenState::LoggedOut => "not logged in (waiting for a login)".to_owned(),
        other => other.label().to_owned(),
    }
}

fn report(json_mode: bool, storage: &str, state: &TokenState) {
    if json_mode {
        // JSON Lines: one compact object per change.
        let value = json!({"at": time(now()), "storage": storage, "state": state});
        line(value.to_string());
    } else {
        line(format!("{} {storage}: {}", time(now()), describe(state)));
    }
}

/// Prints every state change of `accessor` until the process ends.
fn follow(ctx: &Context, accessor: &TokenAccessor) {
    let mut states = accessor.watch();
    let storage = accessor.storage().to_owned();
    let json_mode = ctx.json;
    report(json_mode, &storage, &states.borrow_and_update());
    tokio::spawn(async move {
        while states.changed().await.is_ok() {
            let state = states.borrow_and_update().clone();
            report(json_mode, &storage, &state);
        }
    });
}

pub async fn run(ctx: &Context, args: KeepaliveArgs, signals: &mut Signals) -> Result<()> {
    let storages = ctx.storages().await?;
    let explicit = !args.storages.is_empty();
    let kinds: Vec<String> = if explicit {
        for kind in &args.storages {
            if provider_of(kind).is_none() {
                return Err(UsageError(format!("no provider for storage type `{kind}`")).into());
            }
        }
        args.storages.clone()
    } else {
        storages
            .list()?
            .into_iter()
            .filter_map(|conf| conf.kind)
            .filter(|kind| provider_of(kind).is_some())
            .collect()
    };
    let options = KeepAliveOptions::default().lead(Duration::from_secs(args.lead));
    let mut keepalive = KeepAlive::start([], options);
    let mut kept = HashSet::new();
    for kind in &kinds {
        let drive = ctx.drive(&storages, kind)?;
        follow(ctx, drive.accessor());
        keepalive.add(drive.accessor().clone());
        kept.insert(kind.clone());
    }
    if kept.is_empty() {
        note("no storage to keep alive yet; waiting for one to be added (Ctrl-C to stop)");
    }
    let mut changes = storages.subscribe();
    let signal = loop {
        tokio::select! {
            signal = signals.recv() => break signal,
            change = changes.recv(), if !explicit => {
                let Some(change) = change else { continue };
                if change.conf.is_some()
                    && provider_of(&change.kind).is_some()
                    && kept.insert(change.kind.clone())
                {
                    let drive = ctx.drive(&storages, &change.kind)?;
                    follow(ctx, drive.accessor());
                    keepalive.add(drive.accessor().clone());
                }
            }
        }
    };
    note(format!(
        "{}: stopping; waiting for refreshes under way",
        signal.name
    ));
    let stop = keepalive.stop(FLUSH_TIMEOUT);
    let flushed = tokio::select! {
        flushed = stop => flushed,
        again = signals.recv() => {
            note(format!("{}: exiting without waiting", again.name));
            return Err(again.into());
        }
    };
    report_flushed(flushed);
    Ok(())
}

/// Says what happened to refreshes that were under way when a keep-alive stopped (shared
/// with `cloudctl serve`).
pub fn report_flushed(flushed: Vec<(String, Flushed)>) {
    for (storage, outcome) in flushed {
        match outcome {
            Flushed::Rescued(path) => note(format!(
                "{storage}: new tokens could not be saved to the database; kept in {} and saved by the next run",
                path.display()
            )),
            Flushed::StillRefreshing => note(format!(
                "{storage}: a token refresh did not finish within {}s",
                FLUSH_TIMEOUT.as_secs()
            )),
            _ => {}
        }
    }
}
