//! alipan QR login: [`QrLoginFlow`] for [`AlipanClient`].
//!
//! The QR payload handed to the caller is the authorisation page for the session,
//! `https://www.alipan.com/o/oauth/authorize?sid=<sid>` (configurable through
//! [`AlipanEndpoints::authorize_page`](super::AlipanEndpoints::authorize_page)); the
//! platform's `qrCodeUrl` is only a rendered image of it. alipan has no long-poll, so
//! [`poll_qr_login`](QrLoginFlow::poll_qr_login) asks for the status every
//! [`qr_poll_interval`](super::AlipanOptions::qr_poll_interval) until it moves on from the
//! status last reported for that session, or the timeout passes. A cancelled login is
//! reported by alipan as `QRCodeExpired`, so it ends as [`LoginStatus::Expired`].

use std::time::Duration;

use base64::Engine;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::api::{self, QrSession, QrStatus};
use super::client::{AlipanClient, PkceMethod};
use super::grant_from;
use crate::error::{Error, Result};
use crate::json::parse;
use crate::login::QrLoginFlow;
use crate::pkce::{self, verifier};
use crate::storage::{LoginStatus, QrLogin};
use crate::transport::Failure;

/// At most this many QR sessions are remembered between polls.
const QR_MEMORY: usize = 64;

/// The `code_challenge` for `verifier`: `S256` is base64url without padding of SHA-256,
/// `plain` the verifier itself.
pub(crate) fn challenge(method: PkceMethod, verifier: &str) -> String {
    match method {
        PkceMethod::S256 => {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pkce::sha256(verifier))
        }
        PkceMethod::Plain => verifier.to_owned(),
    }
}

impl AlipanClient {
    fn remember_qr(&self, sid: &str, status: LoginStatus) {
        let mut seen = self.qr_seen().lock();
        if status.is_final() {
            seen.remove(sid);
            return;
        }
        if seen.len() >= QR_MEMORY && !seen.contains_key(sid) {
            seen.clear();
        }
        seen.insert(sid.to_owned(), status);
    }

    /// Exchanges a confirmed login's code for tokens and saves them with the drive info.
    async fn finish_login(&self, login: &QrLogin, auth_code: &str) -> Result<()> {
        let operation = "exchanging the QR login for tokens";
        let get = |k: &str| login.session.get(k).and_then(Value::as_str);
        let (options_id, secret) = self.credentials()?;
        let client_id = get("client_id").map_or(options_id, str::to_owned);
        let (code_verifier, client_secret) = match (get("verifier"), &secret) {
            (Some(verifier), _) => (Some(verifier), None),
            (None, Some(secret)) => (None, Some(secret.secret())),
            (None, None) => {
                return Err(Error::Configuration {
                    storage: self.accessor().storage().to_owned(),
                    message: "the QR login was started with a client secret that is no longer \
                              configured"
                        .into(),
                });
            }
        };
        let body = api::TokenRequest {
            client_id: &client_id,
            grant_type: "authorization_code",
            refresh_token: None,
            code: Some(auth_code),
            code_verifier,
            client_secret,
        };
        let transport = self.transport();
        let request = transport
            .http()
            .client()
            .post(self.endpoints().url("/oauth/access_token"))
            .json(&body);
        let answer = transport.unauthenticated(operation, request).await?;
        let grant = grant_from(answer)
            .ok_or_else(|| transport.malformed(operation, "the answer carried no access token"))?;
        self.complete_login(grant).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl QrLoginFlow for AlipanClient {
    async fn start_qr_login(&self) -> Result<QrLogin> {
        let operation = "starting a QR login";
        let (client_id, secret) = self.credentials()?;
        let mut session = Map::new();
        session.insert("client_id".into(), client_id.clone().into());
        let method = self.options().pkce_method;
        let (challenge, verifier) = match &secret {
            Some(_) => (None, None),
            None => {
                let verifier = verifier(64);
                (Some(challenge(method, &verifier)), Some(verifier))
            }
        };
        let body = api::QrRequest {
            client_id: &client_id,
            scopes: &self.options().scopes,
            client_secret: secret.as_ref().map(|s| s.secret()),
            code_challenge: challenge.as_deref(),
            code_challenge_method: challenge.as_ref().map(|_| method.as_str()),
        };
        if let Some(verifier) = verifier {
            session.insert("verifier".into(), verifier.into());
        }
        let transport = self.transport();
        let request = transport
            .http()
            .client()
            .post(self.endpoints().url("/oauth/authorize/qrcode"))
            .json(&body);
        let answer = transport.unauthenticated(operation, request).await?;
        let qr: QrSession = parse(answer).unwrap_or_default();
        let Some(sid) = qr.sid.0 else {
            return Err(transport.malformed(operation, "the answer lacks sid"));
        };
        if let Some(image) = qr.qr_code_url.0 {
            session.insert("qr_code_url".into(), image.into());
        }
        session.insert("sid".into(), sid.clone().into());
        self.remember_qr(&sid, LoginStatus::Waiting);
        Ok(QrLogin {
            qr_payload: format!("{}?sid={sid}", self.endpoints().authorize_page),
            session,
        })
    }

    async fn poll_qr_login(&self, login: &QrLogin, timeout: Duration) -> Result<LoginStatus> {
        let operation = "polling the QR login";
        let transport = self.transport();
        let sid = login
            .session
            .get("sid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if sid.is_empty() {
            return Err(transport.malformed(operation, "the QR login has no sid"));
        }
        let last = self
            .qr_seen()
            .lock()
            .get(&sid)
            .copied()
            .unwrap_or(LoginStatus::Waiting);
        let deadline = Instant::now() + timeout;
        let url = self.endpoints().url(&format!("/oauth/qrcode/{sid}/status"));
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Ok(last);
            }
            let request = transport.http().client().get(&url).timeout(remaining);
            let answer: QrStatus = match transport.send(request).await {
                Ok(answer) => parse(answer).unwrap_or_default(),
                // Our own per-request timeout: nothing changed meanwhile.
                Err(Failure::Transient {
                    timed_out: true, ..
                }) => return Ok(last),
                Err(other) => return Err(transport.error(operation, other)),
            };
            let status = match answer.status.0.as_deref() {
                Some("LoginSuccess") => {
                    let Some(auth_code) = answer.auth_code.0 else {
                        return Err(transport.malformed(operation, "LoginSuccess without authCode"));
                    };
                    self.finish_login(login, &auth_code).await?;
                    LoginStatus::Confirmed
                }
                Some("ScanSuccess") => LoginStatus::Scanned,
                Some("QRCodeExpired") => LoginStatus::Expired,
                _ => LoginStatus::Waiting,
            };
            if status != last || status.is_final() {
                self.remember_qr(&sid, status);
                if status == LoginStatus::Confirmed {
                    tracing::info!(storage = %self.accessor().storage(), "QR login confirmed; tokens saved");
                }
                return Ok(status);
            }
            let pause = self
                .options()
                .qr_poll_interval
                .max(Duration::from_millis(10))
                .min(deadline.saturating_duration_since(Instant::now()));
            tokio::time::sleep(pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge() {
        // RFC 7636 appendix B.
        assert_eq!(
            challenge(
                PkceMethod::S256,
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
            ),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(challenge(PkceMethod::Plain, "abc"), "abc");
    }
}
