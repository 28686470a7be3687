//! OSS V1 header signatures (`Authorization: OSS <AccessKeyId>:<Signature>`), rebuilt from
//! the request exactly as it arrived (spec upload.md §3.3):
//!
//! ```text
//! Signature    = base64(HMAC-SHA1(AccessKeySecret, StringToSign))
//! StringToSign = VERB \n Content-MD5 \n Content-Type \n Date \n
//!                CanonicalizedOSSHeaders CanonicalizedResource
//! ```
//!
//! - `Content-MD5` / `Content-Type`: the literal header values, "" when absent;
//! - `Date`: `x-oss-date` when present, else `Date`;
//! - canonicalized headers: every `x-oss-*` header, name lower-cased, value trimmed, repeated
//!   headers joined with `,`, sorted by name, each `name:value\n`;
//! - canonicalized resource: `/bucket/key` with the raw, decoded key, then the whitelisted
//!   sub-resources of the query sorted by name (`k` for an empty value, else `k=v`, decoded).
//!   `encoding-type`, `part-number-marker` and `max-parts` are not signed.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha1::Sha1;

/// Query parameters that are part of the canonicalized resource (oss2's
/// `_subresource_key_set` and the Go SDK's `signKeyList`).
const SUB_RESOURCES: &[&str] = &[
    "acl",
    "append",
    "asyncFetch",
    "bucketInfo",
    "callback",
    "callback-var",
    "cname",
    "comp",
    "continuation-token",
    "cors",
    "delete",
    "encryption",
    "endTime",
    "group",
    "inventory",
    "inventoryId",
    "lifecycle",
    "link",
    "live",
    "location",
    "logging",
    "metaQuery",
    "objectInfo",
    "objectMeta",
    "partNumber",
    "policy",
    "position",
    "qos",
    "qosInfo",
    "referer",
    "replication",
    "replicationLocation",
    "replicationProgress",
    "requestPayment",
    "resourceGroup",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "security-token",
    "sequential",
    "startTime",
    "stat",
    "status",
    "symlink",
    "tagging",
    "transferAcceleration",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "vod",
    "website",
    "worm",
    "wormExtend",
    "wormId",
    "x-oss-process",
    "x-oss-request-payer",
    "x-oss-traffic-limit",
];

/// Whether a query parameter is signed as a sub-resource.
pub(crate) fn is_sub_resource(name: &str) -> bool {
    SUB_RESOURCES.contains(&name)
}

/// The parts of `Authorization: OSS <id>:<signature>`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct V1Auth {
    pub access_key_id: String,
    pub signature: String,
}

/// Parses a V1 `Authorization` value; `None` when it is not `OSS id:sig`.
pub(crate) fn parse_authorization(value: &str) -> Option<V1Auth> {
    let rest = value.strip_prefix("OSS ")?;
    let (id, sig) = rest.trim().split_once(':')?;
    (!id.is_empty() && !sig.is_empty()).then(|| V1Auth {
        access_key_id: id.to_owned(),
        signature: sig.to_owned(),
    })
}

/// A header value as text ("" when absent; `None` when it is not visible ASCII / UTF-8).
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    match headers.get(name) {
        None => Some(""),
        Some(v) => v.to_str().ok(),
    }
}

/// The date the signature covers: `x-oss-date` when present, else `Date`.
pub(crate) fn signed_date(headers: &HeaderMap) -> Option<&str> {
    let oss = header(headers, "x-oss-date")?;
    if oss.is_empty() {
        header(headers, "date")
    } else {
        Some(oss)
    }
}

/// The V1 string to sign of a request; `None` when a signed header is not valid text.
/// `query` holds the decoded parameters in any order.
pub(crate) fn string_to_sign(
    method: &str,
    headers: &HeaderMap,
    bucket: &str,
    key: &str,
    query: &[(String, String)],
) -> Option<String> {
    let mut oss: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, value) in headers {
        let name = name.as_str().to_ascii_lowercase();
        if name.starts_with("x-oss-") {
            oss.entry(name)
                .or_default()
                .push(value.to_str().ok()?.trim());
        }
    }
    let mut out = String::new();
    out.push_str(method);
    out.push('\n');
    out.push_str(header(headers, "content-md5")?);
    out.push('\n');
    out.push_str(header(headers, "content-type")?);
    out.push('\n');
    out.push_str(signed_date(headers)?);
    out.push('\n');
    for (name, values) in &oss {
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push_str(&canonical_resource(bucket, key, query));
    Some(out)
}

/// `/bucket/key?sub&resources`.
pub(crate) fn canonical_resource(bucket: &str, key: &str, query: &[(String, String)]) -> String {
    let mut subs: Vec<&(String, String)> =
        query.iter().filter(|(k, _)| is_sub_resource(k)).collect();
    subs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = format!("/{bucket}/{key}");
    for (i, (k, v)) in subs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        if !v.is_empty() {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// `base64(HMAC-SHA1(secret, string_to_sign))`.
pub(crate) fn sign(secret: &str, string_to_sign: &str) -> String {
    // HMAC accepts keys of any length.
    let mut mac = match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(string_to_sign.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "TestSecretKey";
    const DATE: &str = "Wed, 01 Jan 2025 00:00:00 GMT";
    const UPLOAD: &str = "0004B9894A22E5B1888A1E29F823ABCD";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Spec §3.3 example 1: InitiateMultipartUpload as oss2 / the Go SDK send it.
    #[test]
    fn worked_example_initiate() {
        let h = headers(&[
            ("content-type", "application/octet-stream"),
            ("date", DATE),
            ("x-oss-security-token", "CAIStestToken"),
        ]);
        let query = q(&[
            ("encoding-type", "url"),
            ("sequential", ""),
            ("uploads", ""),
        ]);
        let sts = string_to_sign("POST", &h, "fhnfile", "u/test.bin", &query).unwrap();
        assert_eq!(
            sts,
            "POST\n\napplication/octet-stream\nWed, 01 Jan 2025 00:00:00 GMT\n\
             x-oss-security-token:CAIStestToken\n/fhnfile/u/test.bin?sequential&uploads"
        );
        assert_eq!(sign(SECRET, &sts), "rTi17chorkufald5sB//D3+PRiY=");
    }

    /// Spec §3.3 example 2: UploadPart, no Content-Type.
    #[test]
    fn worked_example_upload_part() {
        let h = headers(&[("date", DATE), ("x-oss-security-token", "CAIStestToken")]);
        let query = q(&[("partNumber", "1"), ("uploadId", UPLOAD)]);
        let sts = string_to_sign("PUT", &h, "fhnfile", "u/test.bin", &query).unwrap();
        assert_eq!(
            sts,
            format!(
                "PUT\n\n\n{DATE}\nx-oss-security-token:CAIStestToken\n\
                 /fhnfile/u/test.bin?partNumber=1&uploadId={UPLOAD}"
            )
        );
        assert_eq!(sign(SECRET, &sts), "g/tHl5AvaHVzQdvUxUQDLMQxsUw=");
    }

    /// Spec §3.3 example 3: CompleteMultipartUpload with MoviePilot's callback headers
    /// (mixed-case `X-oss-callback` as MoviePilot writes it).
    #[test]
    fn worked_example_complete_with_callback() {
        let cb = "eyJjYWxsYmFja1VybCI6Imh0dHA6Ly9jYi5leGFtcGxlL2RvbmUiLCJjYWxsYmFja0JvZHkiOiJidWNrZXQ9JHtidWNrZXR9Jm9iamVjdD0ke29iamVjdH0mc2l6ZT0ke3NpemV9JnBpY2tfY29kZT0ke3g6cGlja19jb2RlfSJ9";
        let cbv = "eyJ4OnBpY2tfY29kZSI6ImFiYzEyMyJ9";
        let h = headers(&[
            ("date", DATE),
            ("X-oss-callback", cb),
            ("x-oss-callback-var", cbv),
            ("x-oss-forbid-overwrite", "false"),
            ("x-oss-security-token", "CAIStestToken"),
        ]);
        let query = q(&[("uploadId", UPLOAD)]);
        let sts = string_to_sign("POST", &h, "fhnfile", "u/test.bin", &query).unwrap();
        assert_eq!(
            sts,
            format!(
                "POST\n\n\n{DATE}\nx-oss-callback:{cb}\nx-oss-callback-var:{cbv}\n\
                 x-oss-forbid-overwrite:false\nx-oss-security-token:CAIStestToken\n\
                 /fhnfile/u/test.bin?uploadId={UPLOAD}"
            )
        );
        assert_eq!(sign(SECRET, &sts), "pJKkPdKalWs8uQ93d1nc9uF/Fcw=");
        // The decoded callback is the one of the example.
        let decoded = String::from_utf8(STANDARD.decode(cb).unwrap()).unwrap();
        assert_eq!(
            decoded,
            "{\"callbackUrl\":\"http://cb.example/done\",\"callbackBody\":\"bucket=${bucket}&object=${object}&size=${size}&pick_code=${x:pick_code}\"}"
        );
    }

    #[test]
    fn x_oss_date_wins_and_values_are_trimmed() {
        let h = headers(&[
            ("date", DATE),
            ("x-oss-date", "Thu, 02 Jan 2025 00:00:00 GMT"),
            ("x-oss-meta-a", "  spaced  "),
        ]);
        let sts = string_to_sign("GET", &h, "b", "k", &[]).unwrap();
        assert_eq!(
            sts,
            "GET\n\n\nThu, 02 Jan 2025 00:00:00 GMT\nx-oss-date:Thu, 02 Jan 2025 00:00:00 GMT\n\
             x-oss-meta-a:spaced\n/b/k"
        );
    }

    #[test]
    fn unsigned_query_parameters_are_left_out() {
        let query = q(&[
            ("max-parts", "2"),
            ("part-number-marker", "1"),
            ("uploadId", "X"),
            ("encoding-type", "url"),
        ]);
        assert_eq!(
            canonical_resource("b", "a b/c", &query),
            "/b/a b/c?uploadId=X"
        );
    }

    #[test]
    fn authorization_header() {
        assert_eq!(
            parse_authorization("OSS STS.abc:c2ln="),
            Some(V1Auth {
                access_key_id: "STS.abc".into(),
                signature: "c2ln=".into()
            })
        );
        assert_eq!(parse_authorization("OSS4-HMAC-SHA256 Credential=x"), None);
        assert_eq!(parse_authorization("OSS :x"), None);
    }
}
