//! `cloudctl token …`: the state of stored logins (read by the library's one status reader,
//! [`LoginSummary`], the same rules the token core applies), refreshes and the token itself.

use anyhow::Result;
use cloud_clients::{LoginSummary, SummaryState, TokenState};
use serde_json::{Map, Value, json};
use storage_helper::{StorageConf, StorageHelper};

use crate::cli::TokenAction;
use crate::context::Context;
use crate::exit::NotFound;
use crate::output::{json, line, note, system_time, time};

/// The stored login of a storage entry.
pub fn summary_of(conf: &StorageConf) -> LoginSummary {
    let mut entry = conf.extra.clone();
    entry.insert("config".into(), Value::Object(conf.config.clone()));
    LoginSummary::now(&entry)
}

fn unix_secs(ms: u64) -> i64 {
    i64::try_from(ms / 1000).unwrap_or(i64::MAX)
}

/// A login summary as JSON: times in RFC 3339, never a secret.
fn status_json(summary: &LoginSummary) -> Value {
    let now = crate::output::now();
    json!({
        "state": summary.state.label(),
        "expires_at": summary.expires_at_ms.map(|ms| time(unix_secs(ms))),
        "seconds_left": summary.expires_at_ms.map(|ms| (unix_secs(ms) - now).max(0)),
        "refreshable": summary.refreshable,
        "reason": summary.reason,
        "rate_limited_until": summary.rate_limited_until_ms.map(|ms| time(unix_secs(ms))),
        "refreshing": summary.refreshing,
    })
}

fn status_line(kind: &str, summary: &LoginSummary) -> String {
    let status = status_json(summary);
    let mut text = format!("{kind}: {}", summary.state.label());
    match summary.state {
        SummaryState::NeedsLogin => {
            if let Some(reason) = &summary.reason {
                text.push_str(&format!(" ({reason}); log in again"));
            }
        }
        SummaryState::RateLimited => {
            if let Some(until) = status["rate_limited_until"].as_str() {
                text.push_str(&format!(", no refresh before {until}"));
            }
        }
        SummaryState::Due => text.push_str(" (refreshes on next use)"),
        SummaryState::Expired => text.push_str(" (log in again)"),
        _ => {}
    }
    if let Some(at) = status["expires_at"].as_str() {
        text.push_str(&format!(
            ", expires {at} ({}s left)",
            status["seconds_left"]
        ));
    }
    if summary.refreshing {
        text.push_str(", a refresh is under way");
    }
    text
}

/// Prints the login state of `only` (or of every drive storage).
/// The stored login of one storage as JSON (never a secret).
pub fn status_of(storages: &StorageHelper, storage: &str) -> Result<Value> {
    let conf = storages
        .get(storage)?
        .ok_or_else(|| NotFound(format!("no storage `{storage}`")))?;
    Ok(status_json(&summary_of(&conf)))
}

pub fn report(ctx: &Context, storages: &StorageHelper, only: &[String]) -> Result<()> {
    let mut report = Map::new();
    let mut lines = Vec::new();
    for conf in storages.list()? {
        let Some(kind) = conf.kind.clone() else {
            continue;
        };
        let wanted = if only.is_empty() {
            cloud_clients::provider_of(&kind).is_some()
        } else {
            only.contains(&kind)
        };
        if wanted && !report.contains_key(&kind) {
            let summary = summary_of(&conf);
            lines.push(status_line(&kind, &summary));
            report.insert(kind, status_json(&summary));
        }
    }
    for name in only {
        if !report.contains_key(name) {
            // A malformed entry is named by its own error rather than "no storage".
            storages.get(name)?;
            return Err(NotFound(format!("no storage `{name}`")).into());
        }
    }
    if ctx.json {
        return json(&report);
    }
    for text in lines {
        line(text);
    }
    Ok(())
}

/// `cloudctl token status|refresh|print`.
pub async fn run(ctx: &Context, action: TokenAction) -> Result<()> {
    let storages = ctx.storages().await?;
    match action {
        TokenAction::Status { storage } => {
            report(ctx, &storages, &storage.into_iter().collect::<Vec<_>>())
        }
        TokenAction::Refresh { storage, force } => {
            let drive = ctx.drive(&storages, &storage)?;
            if force {
                // Succeeds only when a new token was obtained and saved.
                drive.accessor().force_refresh().await?;
            } else {
                drive.accessor().access_token().await?;
            }
            if let TokenState::RateLimited { until } = drive.accessor().state() {
                note(format!(
                    "rate-limited by the provider until {}; the current token is still valid",
                    system_time(until)
                ));
            }
            report(ctx, &storages, &[storage])
        }
        TokenAction::Print { storage } => {
            let drive = ctx.drive(&storages, &storage)?;
            let token = drive.accessor().access_token().await?;
            if ctx.json {
                json(&json!({"access_token": token.secret()}))
            } else {
                line(token.secret());
                Ok(())
            }
        }
    }
}
