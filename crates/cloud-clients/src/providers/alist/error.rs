//! The one place OpenList's envelope codes are read: its classifier.

use serde_json::Value;

use super::api::Envelope;
use crate::transport::{Answer, Auth, Failure, Protocol, Refusal};

/// OpenList's answers: HTTP 200 with `{code, message, data}`, `code` 200 for success; the
/// session token goes in `Authorization` without `Bearer`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AlistProtocol;

/// What a body that is not the JSON envelope looks like, for the error text.
fn describe_body(body: &[u8]) -> String {
    let head = String::from_utf8_lossy(&body[..body.len().min(512)]).to_ascii_lowercase();
    if head.contains("<html") || head.contains("<!doctype") || head.contains("<h1") {
        "an HTML page".to_owned()
    } else {
        format!("{} bytes that are not JSON", body.len())
    }
}

impl Protocol for AlistProtocol {
    fn provider(&self) -> &'static str {
        "alist"
    }

    fn auth(&self) -> Auth {
        Auth::Raw
    }

    /// Success returns `data`.
    fn classify(&self, answer: Answer<'_>) -> Result<Value, Failure> {
        let status = answer.status;
        let Ok(envelope) = serde_json::from_slice::<Envelope>(answer.body) else {
            return Err(Failure::transient(format!(
                "the server answered HTTP {status} with {} instead of OpenList's JSON envelope \
                 (a reverse proxy's error page, or a URL that is not an OpenList server)",
                describe_body(answer.body)
            )));
        };
        if envelope.code == 200 && status.is_success() {
            return Ok(envelope.data);
        }
        let message = envelope.message;
        let code = envelope.code;
        if code == 429 {
            return Err(Failure::RateLimited(answer.retry_after));
        }
        let exists = message == "file exists"
            || (message.starts_with("file [") && message.ends_with("] exists"));
        let missing = message.contains("object not found");
        let refusal = Box::new(Refusal {
            status: status.as_u16(),
            code: code.to_string(),
            message,
            data: envelope.data,
        });
        Err(match code {
            401 => Failure::TokenRejected(refusal),
            _ if exists => Failure::AlreadyExists(refusal),
            _ if missing => Failure::NotFound(refusal),
            _ => Failure::Other(refusal),
        })
    }
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;
    use serde_json::json;

    use super::*;

    fn kind(body: &[u8]) -> &'static str {
        let answer = Answer {
            status: StatusCode::OK,
            retry_after: None,
            body,
        };
        match AlistProtocol.classify(answer) {
            Ok(_) => "ok",
            Err(Failure::NotFound(_)) => "not found",
            Err(Failure::AlreadyExists(_)) => "exists",
            Err(Failure::TokenRejected(_)) => "token rejected",
            Err(Failure::RateLimited(_)) => "rate limited",
            Err(Failure::Transient { .. }) => "transient",
            Err(_) => "other",
        }
    }

    fn envelope(code: i64, message: &str) -> Vec<u8> {
        json!({"code": code, "message": message, "data": null})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn envelopes_map_to_failure_classes() {
        assert_eq!(kind(&envelope(200, "success")), "ok");
        assert_eq!(
            kind(&envelope(401, "token is invalidated")),
            "token rejected"
        );
        assert_eq!(kind(&envelope(401, "token is expired")), "token rejected");
        assert_eq!(kind(&envelope(500, "object not found")), "not found");
        assert_eq!(
            kind(&envelope(
                500,
                "failed get objs: failed get dir: object not found"
            )),
            "not found"
        );
        assert_eq!(
            kind(&envelope(500, "failed get storage: storage not found")),
            "other"
        );
        assert_eq!(kind(&envelope(403, "file [a.mkv] exists")), "exists");
        assert_eq!(kind(&envelope(500, "file exists")), "exists");
        assert_eq!(
            kind(&envelope(429, "Too many unsuccessful sign-in attempts")),
            "rate limited"
        );
        assert_eq!(kind(&envelope(403, "permission denied")), "other");
        assert_eq!(kind(b"<!DOCTYPE html><html></html>"), "transient");
        assert_eq!(kind(b""), "transient");
    }

    #[test]
    fn an_html_page_is_named_as_such() {
        let answer = Answer {
            status: StatusCode::BAD_GATEWAY,
            retry_after: None,
            body: b"<html><h1>502 Bad Gateway</h1></html>",
        };
        let Err(Failure::Transient { reason, .. }) = AlistProtocol.classify(answer) else {
            panic!("transient expected");
        };
        assert!(
            reason.contains("HTML page") && reason.contains("502"),
            "{reason}"
        );
    }
}
