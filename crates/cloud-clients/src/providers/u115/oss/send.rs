//! One OSS request: built, signed (V1 with the STS token, [`super::sign`]) and sent — an API
//! call on the client with a deadline, a part on the upload client under
//! [`watch`](crate::transfer::sending::watch) (no deadline while its body moves).

use bytes::Bytes;
use reqwest::Method;

use super::Oss;
use super::sign;
use super::url::object_url;
use crate::transfer::sending::{Sent, answer_wait, bytes_body, watch};

/// A header value that HTTP libraries leave out of their `Debug` output. A value that is
/// not a valid header (it never is: OSS issues ASCII) is sent empty and refused by OSS.
fn sensitive(value: &str) -> reqwest::header::HeaderValue {
    let mut value = reqwest::header::HeaderValue::from_str(value)
        .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

/// One request: method, query and the `x-oss-*` headers beyond the token.
pub(super) struct Call<'a> {
    pub method: Method,
    pub query: Vec<(&'a str, Option<String>)>,
    pub headers: Vec<(&'a str, String)>,
    pub body: Bytes,
    /// A part: sent on the upload client, watched (no deadline while the body moves).
    pub transfer: bool,
}

impl Oss<'_> {
    /// Builds and signs `call` on `client` (without its body).
    fn build(&self, call: &Call<'_>, client: &reqwest::Client) -> reqwest::RequestBuilder {
        let date = sign::http_date(self.now());
        let mut headers: Vec<(&str, &str)> = call
            .headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        headers.push(("x-oss-security-token", self.creds.security_token.secret()));
        let query: Vec<(&str, Option<&str>)> = call
            .query
            .iter()
            .map(|(name, value)| (*name, value.as_deref()))
            .collect();
        let authorization = sign::authorization(
            &self.creds.access_key_id,
            &self.creds.access_key_secret,
            &sign::Request {
                method: call.method.as_str(),
                content_md5: "",
                content_type: "",
                date: &date,
                oss_headers: &headers,
                bucket: &self.bucket,
                key: &self.key,
                query: &query,
            },
        );
        let mut request = client
            .request(
                call.method.clone(),
                object_url(&self.creds.endpoint, &self.bucket, &self.key, &call.query),
            )
            .header(reqwest::header::DATE, date)
            .header(
                reqwest::header::AUTHORIZATION,
                sensitive(authorization.secret()),
            );
        for (name, value) in headers {
            request = if name == "x-oss-security-token" {
                request.header(name, sensitive(value))
            } else {
                request.header(name, value)
            };
        }
        request
    }

    /// `call` built and signed on the API client with its body, for tests that change a
    /// request after it was signed.
    #[cfg(test)]
    pub(super) fn build_with_body(&self, call: &Call<'_>) -> reqwest::RequestBuilder {
        let http = self.client.transport().http();
        self.build(call, http.client()).body(call.body.clone())
    }

    /// Sends `call` once: the answer, or why there is none.
    pub(super) async fn send(&self, call: &Call<'_>) -> Result<reqwest::Response, String> {
        let http = self.client.transport().http();
        if !call.transfer {
            return self
                .build(call, http.client())
                .body(call.body.clone())
                .send()
                .await
                .map_err(crate::http::describe);
        }
        let sent = Sent::default();
        let len = call.body.len() as u64;
        let request = self
            .build(call, http.upload())
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(bytes_body(call.body.clone(), &sent))
            .send();
        let idle = http.options().read_timeout;
        match watch(request, &sent, len, idle, answer_wait(idle, len), |_| {}).await {
            Ok(answer) => answer.map_err(crate::http::describe),
            Err(stalled) => Err(stalled),
        }
    }
}
