//! Aliyun OSS V1 header signatures with STS credentials (`../shared/spec/upload.md` §3.3).
//!
//! Written here rather than taken from a crate: the maintained candidate, `reqsign-aliyun-oss`
//! (Apache OpenDAL), does sign V1 headers with a security token, `x-oss-*` headers and the
//! sub-resources we use, but it signs with the system time only (a signing time can be set in
//! its own tests, not by a caller), so neither the spec's worked examples can be pinned through
//! it nor can requests be dated on the clock the rest of the client uses; and it brings its
//! credential-loading framework (`reqsign-core`, `jiff`, `anyhow`, `log`, `http`, its own
//! `reqwest` line) for a hundred lines of string building. This module is that string building,
//! on the `hmac` and `sha1` crates, and it is pinned by the spec's three worked examples.

use std::fmt;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{KeyInit as _, Mac as _};

/// A secret of the STS credentials (`AccessKeySecret`, `SecurityToken`): `Debug` and
/// `Display` print `[redacted]`; the value is reached only through [`secret`](Self::secret).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct OssSecret(String);

impl OssSecret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Do not log it.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OssSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OssSecret([redacted])")
    }
}

impl fmt::Display for OssSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Query parameters that are part of the signed resource ("sub-resources"), from the OSS
/// SDKs' lists (spec §3.3). Any `x-oss-*` query parameter is signed too. Not signed:
/// `encoding-type`, `part-number-marker`, `max-parts`.
const SUB_RESOURCES: &[&str] = &[
    "acl",
    "append",
    "bucketInfo",
    "callback",
    "callback-var",
    "cname",
    "comp",
    "cors",
    "delete",
    "endTime",
    "img",
    "lifecycle",
    "live",
    "location",
    "logging",
    "objectMeta",
    "partNumber",
    "position",
    "qos",
    "referer",
    "replication",
    "replicationLocation",
    "replicationProgress",
    "restore",
    "security-token",
    "sequential",
    "startTime",
    "status",
    "style",
    "styleName",
    "symlink",
    "tagging",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "vod",
    "website",
];

fn is_sub_resource(key: &str) -> bool {
    SUB_RESOURCES.contains(&key)
        || key.starts_with("response-")
        || key.to_ascii_lowercase().starts_with("x-oss-")
}

/// What a V1 signature covers of one request.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    /// `GET`, `PUT`, `POST`, `DELETE`.
    pub method: &'a str,
    /// The `Content-MD5` header, `""` when absent.
    pub content_md5: &'a str,
    /// The `Content-Type` header, `""` when absent.
    pub content_type: &'a str,
    /// The `Date` header (RFC 1123, GMT).
    pub date: &'a str,
    /// Every header sent whose name starts with `x-oss-` (any case), the security token
    /// included.
    pub oss_headers: &'a [(&'a str, &'a str)],
    /// The bucket.
    pub bucket: &'a str,
    /// The object key, raw (not percent-encoded).
    pub key: &'a str,
    /// Every query parameter sent, raw: `(name, None)` for a bare `name`.
    pub query: &'a [(&'a str, Option<&'a str>)],
}

/// The V1 string to sign:
/// `VERB\nContent-MD5\nContent-Type\nDate\n` + canonical `x-oss-*` headers + resource.
pub(crate) fn string_to_sign(request: &Request<'_>) -> String {
    let mut headers: Vec<(String, &str)> = request
        .oss_headers
        .iter()
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim()))
        .filter(|(name, _)| name.starts_with("x-oss-"))
        .collect();
    headers.sort();
    let mut text = format!(
        "{}\n{}\n{}\n{}\n",
        request.method, request.content_md5, request.content_type, request.date
    );
    for (name, value) in headers {
        text.push_str(&name);
        text.push(':');
        text.push_str(value);
        text.push('\n');
    }
    text.push('/');
    text.push_str(request.bucket);
    text.push('/');
    text.push_str(request.key);
    let mut params: Vec<(&str, Option<&str>)> = request
        .query
        .iter()
        .copied()
        .filter(|(name, _)| is_sub_resource(name))
        .collect();
    params.sort_by(|a, b| a.0.cmp(b.0));
    for (i, (name, value)) in params.into_iter().enumerate() {
        text.push(if i == 0 { '?' } else { '&' });
        text.push_str(name);
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            text.push('=');
            text.push_str(value);
        }
    }
    text
}

/// `base64(HMAC-SHA1(secret, string_to_sign))`.
pub(crate) fn signature(secret: &OssSecret, string_to_sign: &str) -> String {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(secret.secret().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The `Authorization` header value, `OSS <AccessKeyId>:<Signature>`, as a secret.
pub(crate) fn authorization(
    access_key_id: &str,
    secret: &OssSecret,
    request: &Request<'_>,
) -> OssSecret {
    OssSecret(format!(
        "OSS {access_key_id}:{}",
        signature(secret, &string_to_sign(request))
    ))
}

/// `ms` (Unix milliseconds) as an RFC 1123 date in GMT (`Wed, 01 Jan 2025 00:00:00 GMT`),
/// whole seconds.
pub(crate) fn http_date(ms: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_millis(ms))
}

/// An HTTP date (a response's `Date` header) as Unix milliseconds.
pub(crate) fn parse_http_date(text: &str) -> Option<u64> {
    let when = httpdate::parse_http_date(text).ok()?;
    u64::try_from(when.duration_since(UNIX_EPOCH).ok()?.as_millis()).ok()
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    const DATE: &str = "Wed, 01 Jan 2025 00:00:00 GMT";
    const TOKEN: &str = "CAIStestToken";

    fn secret() -> OssSecret {
        OssSecret::new("TestSecretKey")
    }

    /// Spec §3.3, worked example 1: InitiateMultipartUpload (`encoding-type` not signed).
    #[test]
    fn worked_example_initiate() {
        let request = Request {
            method: "POST",
            content_md5: "",
            content_type: "application/octet-stream",
            date: DATE,
            oss_headers: &[("x-oss-security-token", TOKEN)],
            bucket: "fhnfile",
            key: "u/test.bin",
            query: &[
                ("encoding-type", Some("url")),
                ("sequential", Some("")),
                ("uploads", Some("")),
            ],
        };
        assert_eq!(
            string_to_sign(&request),
            "POST\n\napplication/octet-stream\nWed, 01 Jan 2025 00:00:00 GMT\nx-oss-security-token:CAIStestToken\n/fhnfile/u/test.bin?sequential&uploads"
        );
        assert_eq!(
            signature(&secret(), &string_to_sign(&request)),
            "rTi17chorkufald5sB//D3+PRiY="
        );
        // The bare form (`?sequential&uploads`) signs the same.
        let bare = Request {
            query: &[("uploads", None), ("sequential", None)],
            ..request
        };
        assert_eq!(
            signature(&secret(), &string_to_sign(&bare)),
            "rTi17chorkufald5sB//D3+PRiY="
        );
    }

    /// Spec §3.3, worked example 2: UploadPart, no Content-Type.
    #[test]
    fn worked_example_upload_part() {
        let request = Request {
            method: "PUT",
            content_md5: "",
            content_type: "",
            date: DATE,
            oss_headers: &[("X-Oss-Security-Token", TOKEN)],
            bucket: "fhnfile",
            key: "u/test.bin",
            query: &[
                ("uploadId", Some("0004B9894A22E5B1888A1E29F823ABCD")),
                ("partNumber", Some("1")),
            ],
        };
        assert_eq!(
            string_to_sign(&request),
            "PUT\n\n\nWed, 01 Jan 2025 00:00:00 GMT\nx-oss-security-token:CAIStestToken\n/fhnfile/u/test.bin?partNumber=1&uploadId=0004B9894A22E5B1888A1E29F823ABCD"
        );
        let auth = authorization("STS.id", &secret(), &request);
        assert_eq!(auth.secret(), "OSS STS.id:g/tHl5AvaHVzQdvUxUQDLMQxsUw=");
        assert_eq!(format!("{auth:?}"), "OssSecret([redacted])");
    }

    /// Spec §3.3, worked example 3: Complete with MoviePilot's callback headers.
    #[test]
    fn worked_example_complete_with_callback() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let callback = b64(
            r#"{"callbackUrl":"http://cb.example/done","callbackBody":"bucket=${bucket}&object=${object}&size=${size}&pick_code=${x:pick_code}"}"#,
        );
        let callback_var = b64(r#"{"x:pick_code":"abc123"}"#);
        let request = Request {
            method: "POST",
            content_md5: "",
            content_type: "",
            date: DATE,
            oss_headers: &[
                ("x-oss-security-token", TOKEN),
                ("x-oss-forbid-overwrite", "false"),
                ("X-oss-callback", &callback),
                ("x-oss-callback-var", &callback_var),
            ],
            bucket: "fhnfile",
            key: "u/test.bin",
            query: &[("uploadId", Some("0004B9894A22E5B1888A1E29F823ABCD"))],
        };
        let text = string_to_sign(&request);
        assert_eq!(
            text,
            "POST\n\n\nWed, 01 Jan 2025 00:00:00 GMT\n\
             x-oss-callback:eyJjYWxsYmFja1VybCI6Imh0dHA6Ly9jYi5leGFtcGxlL2RvbmUiLCJjYWxsYmFja0JvZHkiOiJidWNrZXQ9JHtidWNrZXR9Jm9iamVjdD0ke29iamVjdH0mc2l6ZT0ke3NpemV9JnBpY2tfY29kZT0ke3g6cGlja19jb2RlfSJ9\n\
             x-oss-callback-var:eyJ4OnBpY2tfY29kZSI6ImFiYzEyMyJ9\nx-oss-forbid-overwrite:false\n\
             x-oss-security-token:CAIStestToken\n\
             /fhnfile/u/test.bin?uploadId=0004B9894A22E5B1888A1E29F823ABCD"
        );
        assert_eq!(signature(&secret(), &text), "pJKkPdKalWs8uQ93d1nc9uF/Fcw=");
        // Any change to a signed header changes the signature.
        let other = Request {
            oss_headers: &[
                ("x-oss-security-token", TOKEN),
                ("x-oss-forbid-overwrite", "true"),
                ("x-oss-callback", &callback),
                ("x-oss-callback-var", &callback_var),
            ],
            ..request
        };
        assert_ne!(
            signature(&secret(), &string_to_sign(&other)),
            "pJKkPdKalWs8uQ93d1nc9uF/Fcw="
        );
    }

    #[test]
    fn unsigned_query_parameters_stay_out() {
        let request = Request {
            method: "GET",
            content_md5: "",
            content_type: "",
            date: DATE,
            oss_headers: &[],
            bucket: "b",
            key: "k",
            query: &[
                ("uploadId", Some("U")),
                ("part-number-marker", Some("3")),
                ("max-parts", Some("2")),
                ("x-oss-process", Some("p")),
            ],
        };
        assert_eq!(
            string_to_sign(&request),
            "GET\n\n\nWed, 01 Jan 2025 00:00:00 GMT\n/b/k?uploadId=U&x-oss-process=p"
        );
    }

    #[test]
    fn dates_both_ways() {
        let ms = 1_735_689_600_000; // 2025-01-01T00:00:00Z
        assert_eq!(http_date(ms), DATE);
        assert_eq!(http_date(ms + 999), DATE);
        assert_eq!(parse_http_date(DATE), Some(ms));
        assert_eq!(
            http_date(1_764_302_706_789),
            "Fri, 28 Nov 2025 04:05:06 GMT"
        );
        // Every month (a parser that only knew January once let a skewed clock go
        // uncorrected).
        assert_eq!(
            parse_http_date("Mon, 30 Nov 2026 16:16:48 GMT"),
            Some(1_796_055_408_000)
        );
        for month in 0..12u64 {
            let ms = ms + month * 31 * 86_400_000;
            assert_eq!(parse_http_date(&http_date(ms)), Some(ms));
        }
        assert_eq!(parse_http_date("nonsense"), None);
    }

    #[test]
    fn secrets_are_redacted() {
        let s = OssSecret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "OssSecret([redacted]) [redacted]");
    }
}
