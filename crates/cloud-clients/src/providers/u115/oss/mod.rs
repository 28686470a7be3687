//! The Aliyun OSS side of a 115 upload (`../shared/spec/upload.md` §3): one multipart upload
//! of one object with STS credentials — initiate (`sequential`), parts, ListParts, and
//! Complete with 115's callback.
//!
//! Every request is signed with V1 ([`sign`]) on the client's clock, carries
//! `x-oss-security-token`, and goes through one loop ([`Oss::request`]) that:
//! renews the STS credentials (`/open/upload/get_token`) before they lapse (when less than
//! a fifth of their lifetime, at most 5 minutes, is left) and when OSS says they lapsed
//! (`SecurityTokenExpired`, `InvalidAccessKeyId`, `InvalidSecurityToken`, …), then repeats
//! the request; corrects the date once after `RequestTimeTooSkewed` (from the answer's
//! `Date`); and retries 5xx answers and cut connections a bounded number of times. Only the
//! failed request is repeated: finished parts are never sent again.

mod failure;
mod send;
pub(crate) mod sign;
mod url;
pub(crate) mod xml;

pub(crate) use failure::Failure;

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use reqwest::Method;

use self::failure::read_error;
use self::send::Call;
use self::sign::OssSecret;
use super::client::U115Client;

/// Attempts of one request on a 5xx, a cut connection or a bad part checksum.
const ATTEMPTS: u32 = 4;
/// Credential renewals in a row for one request before giving up.
const RENEWALS: u32 = 3;
/// Renew when less than this is left of the credentials (or a fifth of their lifetime).
const RENEW_MARGIN_MS: u64 = 5 * 60 * 1000;
/// OSS codes that mean "these credentials are no longer (or not) valid": fetch new ones.
const CREDENTIAL_CODES: &[&str] = &[
    "SecurityTokenExpired",
    "InvalidAccessKeyId",
    "InvalidSecurityToken",
    "AccessKeyIdAndSecurityTokenNotMatch",
];

/// Temporary OSS credentials from `get_token`. The secret and the token are redacted in
/// `Debug`.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    /// The OSS endpoint, with scheme (`http://127.0.0.1:9000`, `https://oss-cn-…`).
    pub endpoint: String,
    pub access_key_id: String,
    pub access_key_secret: OssSecret,
    pub security_token: OssSecret,
    /// When they expire (Unix ms), when 115 says.
    pub expires_ms: Option<u64>,
    /// When they were received (Unix ms, the client's clock).
    pub received_ms: u64,
}

impl Credentials {
    /// Whether they should be renewed at `now` (Unix ms).
    fn due(&self, now: u64) -> bool {
        self.expires_ms.is_some_and(|expires| {
            let lifetime = expires.saturating_sub(self.received_ms);
            now + RENEW_MARGIN_MS.min(lifetime / 5) >= expires
        })
    }
}

/// The multipart upload of one object.
#[derive(Debug)]
pub(crate) struct Oss<'a> {
    client: &'a U115Client,
    bucket: String,
    key: String,
    creds: Credentials,
    /// The provider's clock minus ours (ms), learnt from a `RequestTimeTooSkewed`.
    skew_ms: i64,
    /// Credential renewals so far.
    pub renewals: u64,
}

impl<'a> Oss<'a> {
    pub fn new(client: &'a U115Client, bucket: &str, key: &str, creds: Credentials) -> Self {
        Self {
            client,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            creds,
            skew_ms: 0,
            renewals: 0,
        }
    }

    fn now(&self) -> u64 {
        self.client
            .accessor()
            .now_ms()
            .saturating_add_signed(self.skew_ms)
    }

    async fn renew(&mut self) -> std::result::Result<(), Failure> {
        self.creds = self.client.sts_credentials().await.map_err(Failure::Api)?;
        self.renewals += 1;
        tracing::debug!(storage = %self.client.accessor().storage(), renewals = self.renewals, "OSS credentials renewed");
        Ok(())
    }

    /// Sends `call` until it succeeds (2xx but 203) or fails for good; `check` looks at a
    /// successful answer and may ask for a retry (a part whose checksum is wrong).
    async fn request(
        &mut self,
        call: &Call<'_>,
        check: &(dyn Fn(&reqwest::Response) -> Option<String> + Sync),
    ) -> std::result::Result<reqwest::Response, Failure> {
        let (mut failures, mut renewals, mut skew_fixed) = (0, 0, false);
        loop {
            if self.creds.due(self.now()) {
                self.renew().await?;
            }
            let reason = match self.send(call).await {
                Err(reason) => reason,
                Ok(response) if response.status().is_server_error() => {
                    format!("OSS answered HTTP {}", response.status())
                }
                Ok(response)
                    if response.status() == reqwest::StatusCode::NON_AUTHORITATIVE_INFORMATION =>
                {
                    return Err(Failure::Callback(read_error(response).await));
                }
                Ok(response) if response.status().is_success() => match check(&response) {
                    None => return Ok(response),
                    Some(reason) => reason,
                },
                Ok(response) => {
                    let server_ms = response
                        .headers()
                        .get(reqwest::header::DATE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(sign::parse_http_date);
                    let error = read_error(response).await;
                    if CREDENTIAL_CODES.contains(&error.code.as_str()) && renewals < RENEWALS {
                        renewals += 1;
                        tracing::info!(storage = %self.client.accessor().storage(), code = %error.code, "OSS refused the credentials; fetching new ones");
                        self.renew().await?;
                        continue;
                    }
                    if error.code == "RequestTimeTooSkewed"
                        && !skew_fixed
                        && let Some(server_ms) = server_ms
                    {
                        skew_fixed = true;
                        let ours = self.client.accessor().now_ms();
                        self.skew_ms = i64::try_from(server_ms).unwrap_or(0)
                            - i64::try_from(ours).unwrap_or(0);
                        continue;
                    }
                    return Err(Failure::Refused(error));
                }
            };
            failures += 1;
            if failures >= ATTEMPTS {
                return Err(Failure::Exhausted(format!(
                    "failed {failures} times: {reason}"
                )));
            }
            tracing::debug!(%reason, "OSS request failed; retrying");
            tokio::time::sleep(Duration::from_millis(250 << failures)).await;
        }
    }

    /// InitiateMultipartUpload (`?sequential&uploads`): the upload id.
    pub async fn initiate(&mut self) -> std::result::Result<String, Failure> {
        let call = Call {
            method: Method::POST,
            query: vec![("sequential", None), ("uploads", None)],
            headers: Vec::new(),
            body: Bytes::new(),
            transfer: false,
        };
        let response = self.request(&call, &|_| None).await?;
        let body = response.text().await.unwrap_or_default();
        xml::upload_id(&body).ok_or_else(|| {
            Failure::Exhausted("the InitiateMultipartUpload answer has no UploadId".into())
        })
    }

    /// UploadPart: the part's ETag. `crc` (CRC-64/XZ of `bytes`) is checked against
    /// `x-oss-hash-crc64ecma` when OSS sends one; a mismatch is retried.
    pub async fn upload_part(
        &mut self,
        upload_id: &str,
        number: u64,
        bytes: Bytes,
        crc: u64,
    ) -> std::result::Result<String, Failure> {
        let call = Call {
            method: Method::PUT,
            query: vec![
                ("partNumber", Some(number.to_string())),
                ("uploadId", Some(upload_id.to_owned())),
            ],
            headers: Vec::new(),
            body: bytes,
            transfer: true,
        };
        let check = move |response: &reqwest::Response| {
            let theirs = response.headers().get("x-oss-hash-crc64ecma")?;
            match theirs
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                Some(theirs) if theirs == crc => None,
                _ => Some(format!(
                    "part {number}: OSS's CRC-64 {theirs:?} differs from ours ({crc})"
                )),
            }
        };
        let response = self.request(&call, &check).await?;
        response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| Failure::Exhausted(format!("part {number}: no ETag in the answer")))
    }

    /// ListParts, every page: the parts the bucket holds for `upload_id`.
    pub async fn list_parts(
        &mut self,
        upload_id: &str,
    ) -> std::result::Result<Vec<xml::ListedPart>, Failure> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..=10_000 {
            let mut query = vec![("uploadId", Some(upload_id.to_owned()))];
            if let Some(marker) = marker.take() {
                query.push(("part-number-marker", Some(marker)));
            }
            let call = Call {
                method: Method::GET,
                query,
                headers: Vec::new(),
                body: Bytes::new(),
                transfer: false,
            };
            let body = self
                .request(&call, &|_| None)
                .await?
                .text()
                .await
                .unwrap_or_default();
            let page = xml::parts_page(&body).ok_or_else(|| {
                Failure::Exhausted("the ListParts answer is not a parts list".into())
            })?;
            let next = page.next().map(str::to_owned);
            parts.extend(page.parts);
            match next {
                Some(next) => marker = Some(next),
                None => break,
            }
        }
        Ok(parts)
    }

    /// CompleteMultipartUpload with 115's callback: the callback's answer (JSON text).
    pub async fn complete(
        &mut self,
        upload_id: &str,
        parts: &[(u64, String)],
        callback: &str,
        callback_var: &str,
    ) -> std::result::Result<String, Failure> {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let call = Call {
            method: Method::POST,
            query: vec![("uploadId", Some(upload_id.to_owned()))],
            headers: vec![
                ("x-oss-callback", b64(callback)),
                ("x-oss-callback-var", b64(callback_var)),
                ("x-oss-forbid-overwrite", "false".into()),
            ],
            body: Bytes::from(xml::complete_body(parts)),
            transfer: false,
        };
        let response = self.request(&call, &|_| None).await?;
        response
            .text()
            .await
            .map_err(|e| Failure::Exhausted(crate::http::describe(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(received_ms: u64, expires_ms: Option<u64>) -> Credentials {
        Credentials {
            endpoint: "http://127.0.0.1:9".into(),
            access_key_id: "STS.id".into(),
            access_key_secret: OssSecret::new("very-secret"),
            security_token: OssSecret::new("CAIS-token"),
            expires_ms,
            received_ms,
        }
    }

    #[test]
    fn credentials_are_renewed_before_they_lapse() {
        // An hour: renewed in the last 5 minutes.
        let hour = creds(0, Some(3_600_000));
        assert!(!hour.due(3_600_000 - 300_001));
        assert!(hour.due(3_600_000 - 300_000));
        // 10 s: renewed in the last fifth (2 s).
        let short = creds(0, Some(10_000));
        assert!(!short.due(7_999) && short.due(8_000));
        // No expiry given: renewed only when OSS refuses them.
        assert!(!creds(0, None).due(u64::MAX / 2));
        let text = format!("{hour:?}");
        assert!(
            !text.contains("very-secret") && !text.contains("CAIS-token"),
            "{text}"
        );
    }
}

/// The simulator checks what this signer signs: a wrong secret, and a sub-resource changed
/// after signing, are refused; the same requests signed right are accepted.
#[cfg(test)]
mod against_the_simulator {
    use sha1::Digest as _;
    use storage_helper::StorageHelper;
    use system_config::SystemConfig;

    use super::*;
    use crate::provider::Grant;
    use crate::secret::{AccessToken, RefreshToken};
    use crate::u115::U115Options;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tampered_signatures_are_refused() -> anyhow::Result<()> {
        let sim = cloud_sim::Sim115::start(cloud_sim::Config115::default()).await?;
        sim.create_account("alice");
        let db = test_support::TestDb::sqlite()?;
        let storages = StorageHelper::new(SystemConfig::open(&db.url).await?);
        let options = U115Options::at(sim.base_url()).requests_per_second(0.0);
        let client = U115Client::new(&storages, options)?;
        let pair = sim.login("alice");
        client
            .accessor()
            .save_login(Grant {
                access_token: AccessToken::new(pair.access_token.as_str()),
                refresh_token: pair.refresh_token.as_deref().map(RefreshToken::new),
                expires_in: pair.expires_in,
                extra: serde_json::Map::new(),
            })
            .await?;
        let bytes = vec![7u8; 200_000];
        let sha1 = hex::encode_upper(sha1::Sha1::digest(&bytes));
        let init = client
            .upload_init(&[
                ("file_name", "t.bin".into()),
                ("file_size", bytes.len().to_string()),
                ("target", "U_1_0".into()),
                ("fileid", sha1),
            ])
            .await?;
        let dest = init
            .destination()
            .ok_or_else(|| anyhow::anyhow!("no destination"))?;
        let creds = client.sts_credentials().await?;

        // A wrong secret: SignatureDoesNotMatch, and no renewal (the credentials are fine).
        let mut wrong = creds.clone();
        wrong.access_key_secret = OssSecret::new(format!("{}x", creds.access_key_secret.secret()));
        let mut oss = Oss::new(&client, &dest.bucket, &dest.object, wrong);
        match oss.initiate().await {
            Err(Failure::Refused(err)) => assert_eq!(err.code, "SignatureDoesNotMatch"),
            other => panic!("accepted a wrong signature: {other:?}"),
        }
        assert_eq!(oss.renewals, 0);

        // Signed right: accepted.
        let mut oss = Oss::new(&client, &dest.bucket, &dest.object, creds);
        let upload_id = oss.initiate().await.map_err(|f| anyhow::anyhow!("{f:?}"))?;

        // A part signed for number 1 and sent as number 2: refused.
        let call = Call {
            method: Method::PUT,
            query: vec![
                ("partNumber", Some("1".into())),
                ("uploadId", Some(upload_id.clone())),
            ],
            headers: Vec::new(),
            body: Bytes::from(bytes.clone()),
            transfer: true,
        };
        let (http, request) = oss.build_with_body(&call).build_split();
        let mut request = request?;
        let tampered = request
            .url()
            .as_str()
            .replace("partNumber=1", "partNumber=2");
        *request.url_mut() = reqwest::Url::parse(&tampered)?;
        let answer = http.execute(request).await?;
        assert_eq!(answer.status(), 403);
        assert_eq!(read_error(answer).await.code, "SignatureDoesNotMatch");
        // The same request untouched: stored.
        let (http, request) = oss.build_with_body(&call).build_split();
        assert_eq!(http.execute(request?).await?.status(), 200);
        let stats = sim.stats();
        assert_eq!(stats.oss_signature_failures, 2);
        assert_eq!(
            (stats.oss_parts_stored, stats.oss_bytes_received),
            (1, 200_000)
        );
        Ok(())
    }
}
