//! The XML bodies of the OSS multipart calls (`../shared/spec/upload.md` §3.4), read with
//! quick-xml: the initiate and list-parts results, the error document, and the body of
//! CompleteMultipartUpload.

use serde::Deserialize;

/// `<InitiateMultipartUploadResult>`: only `UploadId` is used.
#[derive(Debug, Deserialize)]
struct Initiated {
    #[serde(rename = "UploadId")]
    upload_id: String,
}

/// The `UploadId` of an InitiateMultipartUpload answer.
pub(crate) fn upload_id(body: &str) -> Option<String> {
    quick_xml::de::from_str::<Initiated>(body)
        .ok()
        .map(|i| i.upload_id.trim().to_owned())
        .filter(|id| !id.is_empty())
}

/// A part the bucket holds (`<Part>` of ListParts).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct ListedPart {
    #[serde(rename = "PartNumber")]
    pub number: u64,
    #[serde(rename = "ETag")]
    pub etag: String,
    #[serde(rename = "Size")]
    pub size: u64,
}

/// One page of ListParts.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PartsPage {
    #[serde(rename = "IsTruncated", default)]
    truncated: Option<String>,
    #[serde(rename = "NextPartNumberMarker", default)]
    next_marker: Option<String>,
    #[serde(rename = "Part", default)]
    pub parts: Vec<ListedPart>,
}

impl PartsPage {
    /// The marker of the next page, when there is one.
    pub fn next(&self) -> Option<&str> {
        let truncated = self
            .truncated
            .as_deref()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("true"));
        self.next_marker
            .as_deref()
            .map(str::trim)
            .filter(|m| truncated && !m.is_empty())
    }
}

/// A ListParts page; `None` when the body is not one.
pub(crate) fn parts_page(body: &str) -> Option<PartsPage> {
    quick_xml::de::from_str(body).ok()
}

/// OSS's error document: code, message and request id (never the `StringToSign` or
/// `SignatureProvided` a `SignatureDoesNotMatch` carries — they hold the security token).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct OssError {
    /// The HTTP status it came with.
    #[serde(skip)]
    pub status: u16,
    #[serde(rename = "Code", default)]
    pub code: String,
    #[serde(rename = "Message", default)]
    pub message: String,
    #[serde(rename = "RequestId", default)]
    pub request_id: String,
    #[serde(rename = "EC", default)]
    pub ec: String,
}

impl std::fmt::Display for OssError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (HTTP {}", self.message, self.status)?;
        if !self.ec.is_empty() {
            write!(f, ", EC {}", self.ec)?;
        }
        if !self.request_id.is_empty() {
            write!(f, ", request id {}", self.request_id)?;
        }
        f.write_str(")")
    }
}

/// The error document of a `status` answer; a body that is not one (a proxy's HTML, an
/// empty body) gives an error with an empty code.
pub(crate) fn error(status: u16, body: &str, request_id: Option<&str>) -> OssError {
    let mut error: OssError = quick_xml::de::from_str(body).unwrap_or_default();
    error.status = status;
    if error.request_id.is_empty()
        && let Some(id) = request_id
    {
        id.clone_into(&mut error.request_id);
    }
    if error.message.is_empty() {
        error.message = if error.code.is_empty() {
            format!("{} bytes of unexpected answer", body.len())
        } else {
            error.code.clone()
        };
    }
    error
}

/// The CompleteMultipartUpload body: every part, ascending, with its ETag (quoted).
pub(crate) fn complete_body(parts: &[(u64, String)]) -> String {
    let mut body =
        String::from(r#"<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload>"#);
    for (number, etag) in parts {
        let etag = format!("\"{}\"", etag.trim_matches('"'));
        body.push_str("<Part><PartNumber>");
        body.push_str(&number.to_string());
        body.push_str("</PartNumber><ETag>");
        body.push_str(&quick_xml::escape::escape(etag.as_str()));
        body.push_str("</ETag></Part>");
    }
    body.push_str("</CompleteMultipartUpload>");
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initiate_answers() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>0004B98</UploadId></InitiateMultipartUploadResult>"#;
        assert_eq!(upload_id(body).as_deref(), Some("0004B98"));
        assert_eq!(upload_id("<html/>"), None);
    }

    #[test]
    fn list_parts_pages() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListPartsResult><Bucket>b</Bucket><Key>k</Key><UploadId>U</UploadId>
<PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>2</NextPartNumberMarker>
<MaxParts>2</MaxParts><IsTruncated>true</IsTruncated>
<Part><PartNumber>1</PartNumber><LastModified>2025-01-01T00:00:00.000Z</LastModified><ETag>"AB"</ETag><Size>102400</Size></Part>
<Part><PartNumber>2</PartNumber><ETag>&quot;CD&quot;</ETag><Size>7</Size></Part>
</ListPartsResult>"#;
        let page = parts_page(body).expect("a page");
        assert_eq!(page.next(), Some("2"));
        assert_eq!(
            page.parts,
            [
                ListedPart {
                    number: 1,
                    etag: "\"AB\"".into(),
                    size: 102_400
                },
                ListedPart {
                    number: 2,
                    etag: "\"CD\"".into(),
                    size: 7
                }
            ]
        );
        let last = parts_page(
            "<ListPartsResult><IsTruncated>false</IsTruncated><NextPartNumberMarker>9</NextPartNumberMarker></ListPartsResult>",
        )
        .expect("a page");
        assert_eq!((last.next(), last.parts.len()), (None, 0));
    }

    #[test]
    fn errors_keep_code_message_and_request_id_only() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message>
<RequestId>5C3D9175B6FC201293AD4890</RequestId><HostId>b.oss</HostId>
<SignatureProvided>secret-ish</SignatureProvided><StringToSign>x-oss-security-token:CAIS</StringToSign><EC>0002-00000040</EC></Error>"#;
        let err = error(403, body, None);
        assert_eq!(err.code, "SignatureDoesNotMatch");
        assert_eq!(err.request_id, "5C3D9175B6FC201293AD4890");
        let text = err.to_string();
        assert!(
            !text.contains("CAIS") && !text.contains("secret-ish"),
            "{text}"
        );
        assert!(text.contains("EC 0002-00000040"), "{text}");
        let odd = error(502, "<html>bad gateway</html>", Some("RID"));
        assert_eq!((odd.code.as_str(), odd.request_id.as_str()), ("", "RID"));
    }

    #[test]
    fn complete_bodies_list_parts_in_order_with_quoted_etags() {
        let body = complete_body(&[(1, "\"AB\"".into()), (2, "CD".into())]);
        assert_eq!(
            body,
            r#"<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;AB&quot;</ETag></Part><Part><PartNumber>2</PartNumber><ETag>&quot;CD&quot;</ETag></Part></CompleteMultipartUpload>"#
        );
    }
}
