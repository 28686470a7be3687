//! Request input as the handlers see it: query and body parameters merged, whatever the
//! encoding.
//!
//! 115 sends form-encoded bodies (and query strings on GET); alipan sends JSON. The handlers
//! read parameters through [`Input`] so that a malformed body becomes the provider's own
//! "invalid parameter" answer rather than a framework rejection in a foreign shape.

use std::collections::HashMap;
use std::convert::Infallible;

use axum::body::to_bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use serde_json::Value;

/// Largest request body the simulator reads.
const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// Parameters and headers of one request.
#[derive(Debug, Default)]
pub(crate) struct Input {
    /// Query and form parameters (form values win over query values).
    pub params: HashMap<String, String>,
    /// The body parsed as JSON when it is a JSON object.
    pub json: Option<serde_json::Map<String, Value>>,
    /// Whether a body was present but could not be parsed.
    pub body_invalid: bool,
    /// The request headers.
    pub headers: HeaderMap,
}

impl Input {
    /// A parameter from the JSON body or the query/form, as a string; numbers and booleans
    /// are turned into their text. Empty strings count as missing.
    pub(crate) fn get(&self, key: &str) -> Option<String> {
        let from_json = self
            .json
            .as_ref()
            .and_then(|m| m.get(key))
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            });
        from_json
            .or_else(|| self.params.get(key).cloned())
            .filter(|s| !s.is_empty())
    }

    /// A raw JSON value from the body.
    pub(crate) fn json_value(&self, key: &str) -> Option<&Value> {
        self.json.as_ref().and_then(|m| m.get(key))
    }

    /// The bearer token of the `Authorization` header.
    pub(crate) fn bearer(&self) -> Option<&str> {
        let value = self.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim())
            .filter(|t| !t.is_empty())
    }

    /// The `User-Agent` header ("" when absent).
    pub(crate) fn user_agent(&self) -> String {
        self.headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    }
}

impl<S: Send + Sync> FromRequest<S> for Input {
    type Rejection = Infallible;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let mut input = Input {
            headers: parts.headers,
            ..Input::default()
        };
        if let Some(query) = parts.uri.query() {
            input
                .params
                .extend(url::form_urlencoded::parse(query.as_bytes()).into_owned());
        }
        let bytes = match to_bytes(body, BODY_LIMIT).await {
            Ok(b) => b,
            Err(_) => {
                input.body_invalid = true;
                return Ok(input);
            }
        };
        let trimmed = bytes.trim_ascii_start();
        if trimmed.is_empty() {
            return Ok(input);
        }
        let is_json = input
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("json"))
            || trimmed.first() == Some(&b'{');
        if is_json {
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => input.json = Some(map),
                _ => input.body_invalid = true,
            }
        } else {
            input
                .params
                .extend(url::form_urlencoded::parse(&bytes).into_owned());
        }
        Ok(input)
    }
}
