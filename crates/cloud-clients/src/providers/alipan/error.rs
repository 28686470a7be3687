//! The one place alipan's error codes are read: its answer classifier, and the wording of
//! a refused drive.

use serde_json::Value;

use super::code;
use crate::error::Error;
use crate::transport::{Answer, Failure, Protocol, Refusal};

/// alipan's answers: the payload itself on success, `{"code", "message", "requestId"}`
/// with an HTTP 4xx status on errors.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AlipanProtocol;

impl Protocol for AlipanProtocol {
    fn provider(&self) -> &'static str {
        "alipan"
    }

    fn classify(&self, answer: Answer<'_>) -> Result<Value, Failure> {
        let status = answer.status;
        let body = answer.body;
        if status.is_success() && body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        let value: Value = serde_json::from_slice(body).map_err(|_| {
            Failure::transient(format!(
                "malformed answer (HTTP {status}, {} bytes, not JSON)",
                body.len()
            ))
        })?;
        if status.is_success() {
            return if value.is_object() || value.is_null() {
                Ok(value)
            } else {
                Err(Failure::transient(format!(
                    "malformed answer (HTTP {status}): not a JSON object"
                )))
            };
        }
        let Some(code) = value
            .get("code")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
        else {
            return Err(Failure::transient(format!(
                "malformed error answer (HTTP {status}): no `code`"
            )));
        };
        let refusal = Box::new(Refusal {
            status: status.as_u16(),
            code: code.to_owned(),
            message: value
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            data: Value::Null,
        });
        Err(match code {
            code::TOO_MANY_REQUESTS => Failure::RateLimited(answer.retry_after),
            code::ACCESS_TOKEN_INVALID | code::ACCESS_TOKEN_EXPIRED | code::I400JD => {
                Failure::TokenRejected(refusal)
            }
            code::REFRESH_TOKEN_EXPIRED => Failure::NeedsLogin(refusal),
            code::REFRESH_TOKEN_INVALID | code::REFRESH_TOKEN_MISSING => Failure::Reused(refusal),
            c if c.starts_with("NotFound") => Failure::NotFound(refusal),
            c if c.starts_with("AlreadyExist") => Failure::AlreadyExists(refusal),
            _ => Failure::Other(refusal),
        })
    }
}

/// A refusal of the drive itself names the drive and says what helps.
pub(crate) fn name_drive(err: Error, drive: Option<&str>) -> Error {
    match (err, drive) {
        (
            Error::Provider {
                storage,
                operation,
                kind,
                code,
                message,
            },
            Some(drive),
        ) if code == code::USER_NOT_ALLOWED_ACCESS_DRIVE
            || code == code::FORBIDDEN_DRIVE_NOT_VALID =>
        {
            Error::Provider {
                storage,
                operation,
                kind,
                message: format!(
                    "drive {drive} cannot be used by this account ({message}); log in again or \
                     choose another drive"
                ),
                code,
            }
        }
        (err, _) => err,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use reqwest::StatusCode;
    use serde_json::json;

    use super::*;
    use crate::error::ProviderErrorKind;

    fn classify(status: u16, body: &str) -> Result<Value, Failure> {
        AlipanProtocol.classify(Answer {
            status: StatusCode::from_u16(status).expect("status"),
            retry_after: Some(Duration::from_secs(7)),
            body: body.as_bytes(),
        })
    }

    fn refused(status: u16, code: &str) -> Failure {
        classify(status, &json!({"code": code, "message": "m"}).to_string()).expect_err(code)
    }

    #[test]
    fn answers_map_to_failure_classes() {
        assert_eq!(classify(200, "  "), Ok(Value::Null));
        assert_eq!(classify(200, r#"{"a":1}"#), Ok(json!({"a": 1})));
        assert!(matches!(
            classify(200, "[1]"),
            Err(Failure::Transient { .. })
        ));
        assert!(matches!(
            classify(502, "<html>"),
            Err(Failure::Transient { .. })
        ));
        assert!(matches!(
            classify(400, "{}"),
            Err(Failure::Transient { .. })
        ));
        assert!(matches!(
            refused(404, "NotFound.File"),
            Failure::NotFound(_)
        ));
        assert!(matches!(
            refused(404, "NotFound.Drive"),
            Failure::NotFound(_)
        ));
        assert!(matches!(
            refused(409, "AlreadyExist.File"),
            Failure::AlreadyExists(_)
        ));
        assert!(matches!(
            refused(401, "AccessTokenInvalid"),
            Failure::TokenRejected(_)
        ));
        assert!(matches!(
            refused(401, "AccessTokenExpired"),
            Failure::TokenRejected(_)
        ));
        assert!(matches!(refused(401, "I400JD"), Failure::TokenRejected(_)));
        assert!(matches!(
            refused(400, "RefreshTokenExpired"),
            Failure::NeedsLogin(_)
        ));
        assert!(matches!(
            refused(400, "InvalidParameter.RefreshToken"),
            Failure::Reused(_)
        ));
        assert_eq!(
            refused(400, "TooManyRequests"),
            Failure::RateLimited(Some(Duration::from_secs(7)))
        );
        assert!(matches!(refused(403, "Forbidden"), Failure::Other(_)));
    }

    #[test]
    fn a_refused_drive_is_named() {
        let err = Error::Provider {
            storage: "alipan".into(),
            operation: "listing a folder".into(),
            kind: ProviderErrorKind::Other,
            code: code::FORBIDDEN_DRIVE_NOT_VALID.into(),
            message: "forbidden".into(),
        };
        let named = name_drive(err.clone(), Some("d-1")).to_string();
        assert!(named.contains("drive d-1 cannot be used"), "{named}");
        assert_eq!(name_drive(err.clone(), None).to_string(), err.to_string());
    }
}
