//! How an OSS request fails for good, and the public error each failure becomes
//! (`../shared/spec/upload.md` §3.4).

use super::xml::{self, OssError};
use crate::error::{Error, ProviderErrorKind};

/// How a request failed for good.
#[derive(Debug)]
pub(crate) enum Failure {
    /// OSS refused it (its error document).
    Refused(OssError),
    /// CompleteMultipartUpload answered 203: the data is stored but the callback failed.
    Callback(OssError),
    /// 5xx, cut connections or bad checksums outlasted the retries.
    Exhausted(String),
    /// Renewing the credentials failed (a 115 API error).
    Api(Error),
}

/// How long the body of an error answer may take.
const ERROR_BODY_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The error document of a failed answer (its body read, at most what OSS sends).
pub(super) async fn read_error(response: reqwest::Response) -> OssError {
    let status = response.status().as_u16();
    let request_id = response
        .headers()
        .get("x-oss-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // A part's answer comes on the upload client, which has no deadline of its own.
    let body = tokio::time::timeout(ERROR_BODY_WAIT, response.text())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    xml::error(status, &body, request_id.as_deref())
}

impl Failure {
    /// The public error for `operation` on `storage`.
    pub fn into_error(self, storage: &str, operation: &str) -> Error {
        let provider = |kind, code: &str, message: String| Error::Provider {
            storage: storage.to_owned(),
            operation: operation.to_owned(),
            kind,
            code: code.to_owned(),
            message,
        };
        match self {
            Failure::Api(err) => err,
            Failure::Exhausted(reason) => Error::Transient {
                storage: storage.to_owned(),
                reason: format!("OSS: {reason}"),
            },
            Failure::Callback(err) => provider(
                ProviderErrorKind::Other,
                "CallbackFailed",
                format!(
                    "OSS stored the data but 115's callback failed, so 115 did not register the \
                     file ({}: {err}); uploading again starts a new upload",
                    if err.code.is_empty() {
                        "CallbackFailed"
                    } else {
                        &err.code
                    }
                ),
            ),
            Failure::Refused(err) => {
                let kind = match err.code.as_str() {
                    "FileAlreadyExists" => ProviderErrorKind::AlreadyExists,
                    "NoSuchUpload" | "NoSuchKey" | "NoSuchBucket" => ProviderErrorKind::NotFound,
                    _ => ProviderErrorKind::Other,
                };
                let code = if err.code.is_empty() {
                    format!("HTTP {}", err.status)
                } else {
                    err.code.clone()
                };
                provider(kind, &code, format!("OSS: {err}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_become_typed_errors() {
        let refused = |code: &str| {
            Failure::Refused(OssError {
                status: 409,
                code: code.into(),
                message: "m".into(),
                request_id: "RID".into(),
                ec: String::new(),
            })
            .into_error("u115", "uploading")
        };
        assert!(refused("FileAlreadyExists").is_already_exists());
        assert!(refused("NoSuchUpload").is_not_found());
        let text = refused("AccessDenied").to_string();
        assert!(
            text.contains("AccessDenied") && text.contains("request id RID"),
            "{text}"
        );
        let callback = Failure::Callback(OssError {
            status: 203,
            code: "CallbackFailed".into(),
            ..OssError::default()
        })
        .into_error("u115", "completing an upload");
        assert!(matches!(&callback, Error::Provider { code, .. } if code == "CallbackFailed"));
        assert!(
            Failure::Exhausted("x".into())
                .into_error("u115", "u")
                .is_transient()
        );
    }
}
