//! 115 QR login: [`QrLoginFlow`] for [`U115Client`]. The status endpoint is a long-poll;
//! our own per-request timeout ends a poll that saw no change.

use std::time::Duration;

use base64::Engine;
use serde_json::{Map, Value};

use super::api::{self, DeviceCode, QrStatus};
use super::client::U115Client;
use crate::error::{Error, Result};
use crate::json::parse;
use crate::login::QrLoginFlow;
use crate::pkce::{self, verifier};
use crate::provider::TokenAnswer;
use crate::storage::{LoginStatus, QrLogin};
use crate::transport::Failure;

/// base64(SHA-256(verifier)), as 115 expects for `code_challenge_method=sha256`.
pub(crate) fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(pkce::sha256(verifier))
}

impl U115Client {
    async fn client_id(&self) -> Result<String> {
        if let Some(id) = self.options_client_id() {
            return Ok(id);
        }
        let config = self.transport().handle().get_conf()?;
        config
            .get("client_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| Error::Configuration {
                storage: self.accessor().storage().to_owned(),
                message: "115 needs your application's APP ID from the 115 Open Platform: set \
                          `client_id` in the storage's config or in U115Options"
                    .into(),
            })
    }
}

#[async_trait::async_trait]
impl QrLoginFlow for U115Client {
    async fn start_qr_login(&self) -> Result<QrLogin> {
        let operation = "starting a QR login";
        let client_id = self.client_id().await?;
        let verifier = verifier(64);
        let request = self
            .transport()
            .http()
            .client()
            .post(format!("{}/open/authDeviceCode", self.endpoints().passport))
            .form(&[
                ("client_id", client_id.as_str()),
                ("code_challenge", challenge(&verifier).as_str()),
                ("code_challenge_method", "sha256"),
            ]);
        let data = self.unauthenticated(operation, request).await?;
        let code: DeviceCode = parse(data).unwrap_or_default();
        let (Some(uid), Some(time), Some(qrcode), Some(sign)) =
            (code.uid.0, code.time.0, code.qrcode.0, code.sign.0)
        else {
            return Err(self
                .transport()
                .malformed(operation, "the answer lacks uid, time, qrcode or sign"));
        };
        let mut session = Map::new();
        session.insert("uid".into(), uid.into());
        session.insert("time".into(), time.into());
        session.insert("sign".into(), sign.into());
        session.insert("verifier".into(), verifier.into());
        Ok(QrLogin {
            qr_payload: qrcode,
            session,
        })
    }

    async fn poll_qr_login(&self, login: &QrLogin, timeout: Duration) -> Result<LoginStatus> {
        let get = |k: &str| {
            login
                .session
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let transport = self.transport();
        let request = transport
            .http()
            .client()
            .get(format!("{}/get/status/", self.endpoints().qrcode))
            .query(&[
                ("uid", get("uid")),
                ("time", get("time")),
                ("sign", get("sign")),
            ])
            .timeout(timeout);
        let mut envelope = match transport.send(request).await {
            Ok(envelope) => envelope,
            // Our own per-request timeout: nothing changed meanwhile.
            Err(Failure::Transient {
                timed_out: true, ..
            }) => return Ok(LoginStatus::Waiting),
            // A refused poll: the session is over; its `data.status` says how.
            Err(failure) if failure.refusal().is_some() => {
                let data = failure.refusal().map_or(Value::Null, |r| r.data.clone());
                let status: QrStatus = parse(data).unwrap_or_default();
                return Ok(if status.status.0 == Some(-2) {
                    LoginStatus::Cancelled
                } else {
                    LoginStatus::Expired
                });
            }
            Err(other) => return Err(transport.error("polling the QR login", other)),
        };
        if api::qr_gone(envelope.get("state")) {
            return Ok(LoginStatus::Expired);
        }
        let status: QrStatus = envelope
            .get_mut("data")
            .map(Value::take)
            .and_then(parse)
            .unwrap_or_default();
        let status = match status.status.0 {
            Some(1) => LoginStatus::Scanned,
            Some(2) => LoginStatus::Confirmed,
            Some(-2) => LoginStatus::Cancelled,
            Some(n) if n < 0 => LoginStatus::Expired,
            _ => LoginStatus::Waiting,
        };
        if status != LoginStatus::Confirmed {
            return Ok(status);
        }
        let operation = "exchanging the QR login for tokens";
        let request = transport
            .http()
            .client()
            .post(format!(
                "{}/open/deviceCodeToToken",
                self.endpoints().passport
            ))
            .form(&[("uid", get("uid")), ("code_verifier", get("verifier"))]);
        let data = self.unauthenticated(operation, request).await?;
        let grant = TokenAnswer::grant(data, false)
            .ok_or_else(|| transport.malformed(operation, "the answer carried no access token"))?;
        self.accessor().save_login(grant).await?;
        tracing::info!(storage = %self.accessor().storage(), "QR login confirmed; tokens saved");
        Ok(LoginStatus::Confirmed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge() {
        // RFC 7636 appendix B, in standard (padded) base64 as 115 takes it.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM="
                .replace('-', "+")
                .replace('_', "/")
        );
    }
}
