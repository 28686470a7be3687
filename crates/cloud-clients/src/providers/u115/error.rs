//! The one place 115's error codes are read: its envelope classifier.

use serde_json::Value;

use super::code;
use crate::json::number_i64;
#[cfg(test)]
use crate::provider::RefreshFailure;
use crate::transport::{Answer, Failure, Protocol, Refusal};

/// The "access limit reached" message of 115's quota answers.
pub const QUOTA_MESSAGE: &str = "已达到当前访问上限";

/// 115's answers: `{"state", "code", "message", "data"}`, `code` 0 for success, errors
/// usually under HTTP 200.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct U115Protocol;

impl Protocol for U115Protocol {
    fn provider(&self) -> &'static str {
        "u115"
    }

    /// Success returns the whole envelope (a listing's `count` is beside `data`).
    fn classify(&self, answer: Answer<'_>) -> Result<Value, Failure> {
        let status = answer.status;
        let envelope: Value = serde_json::from_slice(answer.body).map_err(|_| {
            Failure::transient(format!(
                "malformed answer (HTTP {status}, {} bytes, not the 115 JSON envelope)",
                answer.body.len()
            ))
        })?;
        let Some(code) = envelope.get("code").and_then(number_i64) else {
            return Err(Failure::transient(format!(
                "malformed answer (HTTP {status}): no `code` in the envelope"
            )));
        };
        if code == 0 {
            return Ok(envelope);
        }
        let message = envelope
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if code == code::QUOTA
            || code == code::QUOTA_406
            || code == code::REFRESH_TOO_FREQUENT
            || message.contains(QUOTA_MESSAGE)
        {
            return Err(Failure::RateLimited(None));
        }
        if code == code::REFRESH_FAILED {
            return Err(Failure::transient(format!("{message} ({code})")));
        }
        let data = envelope.get("data").cloned().unwrap_or(Value::Null);
        // 115 documents no "not found" code: a missing path answers with `data: []`.
        let missing =
            status == reqwest::StatusCode::NOT_FOUND || data.as_array().is_some_and(Vec::is_empty);
        let refusal = Box::new(Refusal {
            status: status.as_u16(),
            code: code.to_string(),
            message,
            data,
        });
        Err(match code {
            code::ACCESS_INVALID | code::ACCESS_CHECK_FAILED => Failure::TokenRejected(refusal),
            code::EXISTS => Failure::AlreadyExists(refusal),
            code::REFRESH_INVALID | code::REFRESH_EXPIRED => Failure::NeedsLogin(refusal),
            code::REFRESH_REUSED => Failure::Reused(refusal),
            _ if missing => Failure::NotFound(refusal),
            _ => Failure::Other(refusal),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use reqwest::StatusCode;
    use serde_json::json;

    use super::*;

    fn classify(status: u16, body: Value) -> Result<Value, Failure> {
        let body = body.to_string();
        U115Protocol.classify(Answer {
            status: StatusCode::from_u16(status).expect("status"),
            retry_after: Some(Duration::from_secs(7)),
            body: body.as_bytes(),
        })
    }

    fn kind(result: Result<Value, Failure>) -> &'static str {
        match result {
            Ok(_) => "ok",
            Err(Failure::NotFound(_)) => "not found",
            Err(Failure::AlreadyExists(_)) => "exists",
            Err(Failure::TokenRejected(_)) => "token rejected",
            Err(Failure::NeedsLogin(_)) => "needs login",
            Err(Failure::Reused(_)) => "reused",
            Err(Failure::RateLimited(_)) => "rate limited",
            Err(Failure::Transient { .. }) => "transient",
            Err(Failure::Other(_)) => "other",
        }
    }

    #[test]
    fn envelopes_map_to_failure_classes() {
        let err = |code: i64, data: Value| {
            kind(classify(
                200,
                json!({"state": false, "code": code, "message": "m", "data": data}),
            ))
        };
        assert_eq!(
            kind(classify(200, json!({"state": true, "code": 0, "data": []}))),
            "ok"
        );
        assert_eq!(err(40_140_125, Value::Null), "token rejected");
        assert_eq!(err(40_140_126, Value::Null), "token rejected");
        assert_eq!(err(20_004, Value::Null), "exists");
        assert_eq!(err(40_140_116, Value::Null), "needs login");
        assert_eq!(err(40_140_119, Value::Null), "needs login");
        assert_eq!(err(40_140_120, json!([])), "reused");
        assert_eq!(err(40_140_117, Value::Null), "rate limited");
        assert_eq!(err(770_004, Value::Null), "rate limited");
        assert_eq!(err(40_140_121, Value::Null), "transient");
        // A missing path answers with `data: []`, whatever the code.
        assert_eq!(err(20_018, json!([])), "not found");
        assert_eq!(err(99, json!([])), "not found");
        assert_eq!(err(20_018, Value::Null), "other");
        assert_eq!(
            kind(classify(200, json!({"code": 1, "message": QUOTA_MESSAGE}))),
            "rate limited"
        );
        assert_eq!(kind(classify(404, json!({"code": 404}))), "not found");
        assert_eq!(kind(classify(200, json!({"data": {}}))), "transient");
        let html = U115Protocol.classify(Answer {
            status: StatusCode::OK,
            retry_after: None,
            body: b"<html>",
        });
        assert_eq!(kind(html), "transient");
    }

    #[test]
    fn refresh_outcomes_keep_the_code_in_the_reason() {
        let refused = classify(200, json!({"code": 40_140_116, "message": "revoked"}))
            .expect_err("refused")
            .into_refresh_failure("115");
        assert_eq!(
            refused,
            RefreshFailure::NeedsLogin {
                reason: "115 refused the refresh token: revoked (40140116)".into()
            }
        );
        let reused = classify(200, json!({"code": 40_140_120, "message": "used"}))
            .expect_err("reused")
            .into_refresh_failure("115");
        assert!(
            matches!(reused, RefreshFailure::Reused { .. }),
            "{reused:?}"
        );
    }
}
