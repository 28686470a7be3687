//! `cloudctl login`: the login a storage supports — a QR code shown in the terminal and
//! confirmed on the phone, or a user name and password (read from a prompt or standard
//! input, never from the command line).

use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use cloud_clients::{CloudStorage, LoginKind, LoginStatus, Password};
use serde_json::json;

use crate::cli::LoginArgs;
use crate::context::Context;
use crate::exit::UsageError;
use crate::output::{line, note};

/// Renders `payload` as a QR code for a terminal.
pub fn qr_text(payload: &str) -> Result<String> {
    let code = qrcode::QrCode::new(payload.as_bytes()).context("rendering the QR code")?;
    Ok(code
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

/// How a QR login is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// The QR code and status lines on standard error.
    Terminal,
    /// JSON lines on standard output: `{"event":"qr","qr_payload":…}`, then
    /// `{"event":"status","status":"scanned"}` for every change.
    Json,
}

/// Runs a QR login to the end, showing the code and each status change.
pub async fn qr_login(drive: &dyn CloudStorage, timeout: Duration, show: Show) -> Result<()> {
    let login = drive.start_qr_login().await?;
    if show == Show::Json {
        line(
            json!({"event": "qr", "storage": drive.storage_type(), "app": drive.display_name(),
                   "qr_payload": login.qr_payload})
            .to_string(),
        );
    } else {
        note(qr_text(&login.qr_payload)?);
        note(format!(
            "Scan with the {} app: {}",
            drive.display_name(),
            login.qr_payload
        ));
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = None;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Err(UsageError(format!(
                "no confirmation within {}s; run login again",
                timeout.as_secs()
            ))
            .into());
        }
        // Ctrl-C is handled for every command (`signals`): the login stops, nothing saved.
        let status = drive
            .poll_qr_login(&login, left.min(Duration::from_secs(30)))
            .await?;
        if last != Some(status) && show == Show::Json {
            line(json!({"event": "status", "status": status}).to_string());
            last = Some(status);
        }
        if last != Some(status) {
            note(match status {
                LoginStatus::Waiting => "waiting for the scan…",
                LoginStatus::Scanned => "scanned; confirm on the phone…",
                LoginStatus::Confirmed => "confirmed; tokens saved",
                LoginStatus::Expired => "the QR code expired",
                LoginStatus::Cancelled => "cancelled on the phone",
            });
            last = Some(status);
        }
        match status {
            LoginStatus::Confirmed => return Ok(()),
            LoginStatus::Expired | LoginStatus::Cancelled => {
                return Err(anyhow!(cloud_clients::Error::NeedsLogin {
                    storage: drive.storage_type().to_owned(),
                    reason: format!("the QR login ended: {status:?}; run login again"),
                }));
            }
            LoginStatus::Waiting | LoginStatus::Scanned => {}
        }
    }
}

pub async fn run(ctx: &Context, args: LoginArgs) -> Result<()> {
    let storages = ctx.storages().await?;
    let drive = ctx.client(&storages, &args.storage)?;
    // The login asked for: a password login when a user name is given, else the first the
    // storage offers that this tool can run. Checked before anything is asked or saved.
    let kind = if args.username.is_some() {
        LoginKind::Password
    } else {
        drive
            .logins()
            .into_iter()
            .find(|k| matches!(k, LoginKind::Qr | LoginKind::Password))
            .unwrap_or(LoginKind::Qr)
    };
    if kind == LoginKind::Password {
        drive.require_password_login()?;
    } else {
        drive.require_qr_login()?;
    }
    if let Some(id) = &args.client_id {
        storages
            .patch(&args.storage, &json!({"client_id": id}))
            .await?;
    }
    if kind == LoginKind::Password {
        password_login(drive.as_ref(), &args).await?;
    } else {
        let show = if ctx.json { Show::Json } else { Show::Terminal };
        qr_login(drive.as_ref(), Duration::from_secs(args.timeout), show).await?;
    }
    if ctx.json {
        // The last JSON line: the login as stored.
        let status = crate::token::status_of(&storages, &args.storage)?;
        line(json!({"event": "done", "storage": args.storage, "login": status}).to_string());
        return Ok(());
    }
    crate::token::report(ctx, &storages, &[args.storage])
}

/// A password login: the user name from `--username`, the password from standard input
/// (`--password-stdin`) or an interactive prompt without echo — never the command line.
async fn password_login(drive: &dyn CloudStorage, args: &LoginArgs) -> Result<()> {
    let flow = drive.require_password_login()?;
    let Some(username) = args.username.as_deref() else {
        return Err(UsageError(format!(
            "{} logs in with a user name and password: pass --username",
            drive.storage_type()
        ))
        .into());
    };
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        rpassword::prompt_password(format!(
            "Password for {username} on {}: ",
            drive.storage_type()
        ))
        .context("reading the password from the terminal")?
    };
    if password.is_empty() {
        return Err(UsageError("the password is empty".into()).into());
    }
    flow.login_with_password(username, &Password::new(password))
        .await?;
    note(format!("{}: logged in as {username}", drive.storage_type()));
    Ok(())
}
