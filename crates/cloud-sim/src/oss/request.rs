//! An OSS request as the handlers see it (bucket, decoded key, decoded query, headers), its
//! authentication (V1 + STS, see the module docs of [`super`]) and the XML error answer.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use percent_encoding::percent_decode_str;
use quick_xml::escape::escape;

use super::{MAX_SKEW_SECS, sign};
use crate::core::Core;
use crate::token::random_hex;

/// The parsed request line and headers of one OSS request.
#[derive(Debug)]
pub(crate) struct OssRequest {
    pub method: Method,
    pub bucket: String,
    /// The decoded object key ("" for bucket requests).
    pub key: String,
    /// Decoded query parameters, in request order.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub request_id: String,
}

impl OssRequest {
    /// Parses the path (`/<bucket>/<percent-encoded key>`) and query; `None` when they do
    /// not decode as UTF-8.
    pub(crate) fn parse(method: Method, uri: &axum::http::Uri, headers: HeaderMap) -> Option<Self> {
        let path = uri.path().strip_prefix('/').unwrap_or(uri.path());
        let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
        let decode = |s: &str| {
            percent_decode_str(s)
                .decode_utf8()
                .ok()
                .map(|c| c.into_owned())
        };
        let mut query = Vec::new();
        for pair in uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            query.push((decode(k)?, decode(v)?));
        }
        Some(Self {
            method,
            bucket: decode(bucket)?,
            key: decode(key)?,
            query,
            headers,
            request_id: random_hex(12).to_ascii_uppercase(),
        })
    }

    /// A query parameter (the first, when repeated).
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.param(name).is_some()
    }

    /// A header as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether `encoding-type=url` asks for URL-encoded keys in the answer.
    pub(crate) fn url_encoding(&self) -> bool {
        self.param("encoding-type") == Some("url")
    }

    /// An OSS error answer for this request.
    pub(crate) fn error(&self, core: &Core, status: StatusCode, code: &str, msg: &str) -> Response {
        error_response(core, &self.request_id, status, code, msg, &[])
    }

    /// Checks the V1 signature and the STS credentials.
    pub(crate) fn authenticate(&self, core: &Core) -> Result<(), Response> {
        let denied = |code: &str, msg: &str| self.error(core, StatusCode::FORBIDDEN, code, msg);
        let Some(value) = self.header("authorization") else {
            return Err(denied(
                "AccessDenied",
                "You have no right to access this object because of bucket acl.",
            ));
        };
        let Some(auth) = sign::parse_authorization(value) else {
            return Err(denied(
                "AccessDenied",
                "Only V1 signatures (Authorization: OSS <AccessKeyId>:<Signature>) are \
                 simulated.",
            ));
        };
        let creds = core
            .oss
            .state
            .lock()
            .creds
            .get(&auth.access_key_id)
            .cloned();
        let Some(creds) = creds else {
            return Err(denied(
                "InvalidAccessKeyId",
                "The OSS Access Key Id you provided does not exist in our records.",
            ));
        };
        match self.header("x-oss-security-token") {
            Some(t) if t == creds.token => {}
            Some(_) => {
                return Err(denied(
                    "InvalidSecurityToken",
                    "The security token you provided is invalid.",
                ));
            }
            None => {
                return Err(denied(
                    "InvalidSecurityToken",
                    "The security token you provided is invalid (x-oss-security-token is \
                     missing).",
                ));
            }
        }
        let now = core.now_unix();
        if now >= creds.expires_at {
            return Err(error_response(
                core,
                &self.request_id,
                StatusCode::FORBIDDEN,
                "SecurityTokenExpired",
                "The security token you provided has expired.",
                &[("EC", "0002-00000007")],
            ));
        }
        let date = sign::signed_date(&self.headers).unwrap_or("");
        let Ok(when) = httpdate::parse_http_date(date) else {
            return Err(denied(
                "AccessDenied",
                "The request has no valid Date or x-oss-date header.",
            ));
        };
        let when = crate::util::unix_secs(when);
        if when.abs_diff(now) > MAX_SKEW_SECS {
            return Err(denied(
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            ));
        }
        let Some(sts) = sign::string_to_sign(
            self.method.as_str(),
            &self.headers,
            &self.bucket,
            &self.key,
            &self.query,
        ) else {
            return Err(denied(
                "SignatureDoesNotMatch",
                "A signed header is not valid text.",
            ));
        };
        if sign::sign(&creds.secret, &sts) != auth.signature {
            core.state.lock().stats.oss_signature_failures += 1;
            return Err(error_response(
                core,
                &self.request_id,
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you \
                 provided. Check your key and signing method.",
                &[
                    ("StringToSign", &sts),
                    ("OSSAccessKeyId", &auth.access_key_id),
                    ("SignatureProvided", &auth.signature),
                ],
            ));
        }
        Ok(())
    }
}

/// `<Error><Code/><Message/><RequestId/><HostId/>…</Error>` with `x-oss-request-id`;
/// counted in `Stats::oss_errors` under its code.
pub(crate) fn error_response(
    core: &Core,
    request_id: &str,
    status: StatusCode,
    code: &str,
    message: &str,
    extra: &[(&str, &str)],
) -> Response {
    *core
        .state
        .lock()
        .stats
        .oss_errors
        .entry(code.to_owned())
        .or_insert(0) += 1;
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>{}</Code>\n  \
         <Message>{}</Message>\n  <RequestId>{}</RequestId>\n  <HostId>{}</HostId>\n",
        escape(code),
        escape(message),
        escape(request_id),
        escape(core.oss.host()),
    );
    for (name, value) in extra {
        body.push_str(&format!("  <{name}>{}</{name}>\n", escape(*value)));
    }
    body.push_str("</Error>\n");
    let mut resp = (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response();
    with_request_id(&mut resp, request_id);
    resp
}

/// Adds `x-oss-request-id` (and `Server: AliyunOSS`) to an answer.
pub(crate) fn with_request_id(resp: &mut Response, request_id: &str) {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-oss-request-id", v);
    }
    resp.headers_mut()
        .insert(header::SERVER, HeaderValue::from_static("AliyunOSS"));
}
