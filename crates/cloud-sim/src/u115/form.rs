//! `multipart/form-data` bodies for the upload endpoints: DOC115 says "form-data" although
//! every client studied sends `application/x-www-form-urlencoded` (spec upload.md §2.1,
//! §4.2 item 1: accept both). Other bodies go to the shared [`Input`] parser.

use axum::body::to_bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;

use crate::input::Input;

/// Largest multipart body read (the upload endpoints take a few short fields).
const LIMIT: usize = 1024 * 1024;

/// [`Input`] that also understands `multipart/form-data`.
pub(crate) struct FormInput(pub Input);

/// The boundary of a `multipart/form-data` content type.
fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The text fields of a multipart body (`None` when it is not one).
fn fields(body: &str, boundary: &str) -> Option<Vec<(String, String)>> {
    let delimiter = format!("--{boundary}");
    let mut out = Vec::new();
    let mut segments = body.split(delimiter.as_str());
    segments.next()?; // the preamble
    for seg in segments {
        if seg.starts_with("--") {
            return Some(out);
        }
        let seg = seg.strip_prefix("\r\n").unwrap_or(seg);
        let (head, value) = seg.split_once("\r\n\r\n")?;
        let name = head.split("\r\n").find_map(|line| {
            let (h, v) = line.split_once(':')?;
            if !h.trim().eq_ignore_ascii_case("content-disposition") {
                return None;
            }
            let start = v.find("name=\"")? + 6;
            let len = v[start..].find('"')?;
            Some(v[start..start + len].to_owned())
        })?;
        out.push((name, value.strip_suffix("\r\n").unwrap_or(value).to_owned()));
    }
    None
}

impl<S: Send + Sync> FromRequest<S> for FormInput {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let multipart = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(boundary);
        let Some(boundary) = multipart else {
            return Input::from_request(req, state).await.map(FormInput);
        };
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
        let parsed = to_bytes(body, LIMIT)
            .await
            .ok()
            .and_then(|b| String::from_utf8(b.to_vec()).ok())
            .and_then(|text| fields(&text, &boundary));
        match parsed {
            Some(f) => input.params.extend(f),
            None => input.body_invalid = true,
        }
        Ok(FormInput(input))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_form_data() {
        let ct = "multipart/form-data; boundary=\"XyZ\"";
        let b = boundary(ct).unwrap();
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"file_name\"\r\n\r\na b.mkv\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"file_size\"\r\n\r\n12\r\n--XyZ--\r\n";
        assert_eq!(
            fields(body, &b).unwrap(),
            vec![
                ("file_name".to_owned(), "a b.mkv".to_owned()),
                ("file_size".to_owned(), "12".to_owned())
            ]
        );
        assert_eq!(boundary("application/x-www-form-urlencoded"), None);
        assert_eq!(fields("garbage", "XyZ"), None);
    }
}
