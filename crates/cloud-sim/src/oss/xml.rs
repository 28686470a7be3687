//! OSS XML bodies: the answers of Initiate, ListParts and Complete, and the
//! `CompleteMultipartUpload` request body, parsed with a real XML parser (quick-xml) so the
//! Go SDK's form (no declaration, quotes as `&#34;`) and oss2's (`<?xml … ?>` with single
//! quotes, raw `"`) both read the same.

use quick_xml::escape::escape;
use quick_xml::events::Event;
use quick_xml::reader::Reader;

use super::{OssRequest, Part};
use crate::util::iso8601;

const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// A key as the answer shows it: URL-encoded under `encoding-type=url`.
fn key_text(key: &str, url: bool) -> String {
    if url {
        percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC).to_string()
    } else {
        escape(key).into_owned()
    }
}

fn encoding(url: bool) -> &'static str {
    if url {
        "  <EncodingType>url</EncodingType>\n"
    } else {
        ""
    }
}

pub(super) fn initiate_result(bucket: &str, key: &str, upload_id: &str, url: bool) -> String {
    format!(
        "{DECL}<InitiateMultipartUploadResult>\n  <Bucket>{}</Bucket>\n  <Key>{}</Key>\n  \
         <UploadId>{upload_id}</UploadId>\n{}</InitiateMultipartUploadResult>\n",
        escape(bucket),
        key_text(key, url),
        encoding(url),
    )
}

pub(super) fn list_parts_result(
    r: &OssRequest,
    upload_id: &str,
    marker: u32,
    max: usize,
    truncated: bool,
    page: &[(&u32, &Part)],
) -> String {
    let url = r.url_encoding();
    let next = page.last().map(|(n, _)| **n).unwrap_or(marker);
    let mut out = format!(
        "{DECL}<ListPartsResult>\n  <Bucket>{}</Bucket>\n  <Key>{}</Key>\n  \
         <UploadId>{upload_id}</UploadId>\n{}  <PartNumberMarker>{marker}</PartNumberMarker>\n  \
         <NextPartNumberMarker>{next}</NextPartNumberMarker>\n  <MaxParts>{max}</MaxParts>\n  \
         <IsTruncated>{truncated}</IsTruncated>\n",
        escape(&r.bucket),
        key_text(&r.key, url),
        encoding(url),
    );
    for (n, p) in page {
        out.push_str(&format!(
            "  <Part>\n    <PartNumber>{n}</PartNumber>\n    <LastModified>{}</LastModified>\n    \
             <ETag>&quot;{}&quot;</ETag>\n    <HashCrc64ecma>{}</HashCrc64ecma>\n    \
             <Size>{}</Size>\n  </Part>\n",
            iso8601(p.modified),
            p.etag,
            p.crc64,
            p.size,
        ));
    }
    out.push_str("</ListPartsResult>\n");
    out
}

pub(super) fn complete_result(
    endpoint: &str,
    bucket: &str,
    key: &str,
    etag: &str,
    url: bool,
) -> String {
    let location = format!(
        "{endpoint}/{bucket}/{}",
        percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC)
    );
    format!(
        "{DECL}<CompleteMultipartUploadResult>\n{}  <Location>{}</Location>\n  \
         <Bucket>{}</Bucket>\n  <Key>{}</Key>\n  <ETag>&quot;{etag}&quot;</ETag>\n\
         </CompleteMultipartUploadResult>\n",
        encoding(url),
        escape(&location),
        escape(bucket),
        key_text(key, url),
    )
}

/// One `<Part>` of a Complete body.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ListedPart {
    pub number: u32,
    /// The ETag with its quotes stripped, upper case.
    pub etag: String,
}

/// Parses `<CompleteMultipartUpload><Part><PartNumber/><ETag/></Part>…`; `Err` with a
/// reason for anything else (the caller answers `MalformedXML`).
pub(super) fn parse_complete(body: &[u8]) -> Result<Vec<ListedPart>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut parts = Vec::new();
    let mut number: Option<String> = None;
    let mut etag: Option<String> = None;
    let mut saw_root = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("XML error at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(e) => {
                let name = e.name().as_ref().to_owned();
                match (path.len(), name.as_str()) {
                    (0, "CompleteMultipartUpload") => saw_root = true,
                    (0, other) => return Err(format!("unexpected root element <{other}>")),
                    (1, "Part") => {
                        number = None;
                        etag = None;
                    }
                    (2, "PartNumber" | "ETag") => {}
                    (_, other) => return Err(format!("unexpected element <{other}>")),
                }
                path.push(name);
            }
            Event::Empty(e) => {
                let name = e.name().as_ref().to_owned();
                if path.is_empty() && name == "CompleteMultipartUpload" {
                    saw_root = true;
                } else {
                    return Err(format!("unexpected empty element <{name}/>"));
                }
            }
            Event::Text(t) => {
                let value = t.xml10_content().into_owned();
                match path.last().map(String::as_str) {
                    Some("PartNumber") => number.get_or_insert_with(String::new).push_str(&value),
                    Some("ETag") => etag.get_or_insert_with(String::new).push_str(&value),
                    _ if value.trim().is_empty() => {}
                    _ => return Err("text outside <PartNumber> / <ETag>".to_owned()),
                }
            }
            Event::GeneralRef(r) => {
                let resolved = r
                    .resolve_char_ref()
                    .map_err(|e| format!("bad character reference: {e}"))?;
                let name = r.xml10_content();
                let ch = match (resolved, name.as_ref()) {
                    (Some(c), _) => c,
                    (None, "quot") => '"',
                    (None, "amp") => '&',
                    (None, "lt") => '<',
                    (None, "gt") => '>',
                    (None, "apos") => '\'',
                    (None, other) => return Err(format!("unknown entity &{other};")),
                };
                match path.last().map(String::as_str) {
                    Some("ETag") => etag.get_or_insert_with(String::new).push(ch),
                    Some("PartNumber") => number.get_or_insert_with(String::new).push(ch),
                    _ => return Err("entity outside <PartNumber> / <ETag>".to_owned()),
                }
            }
            Event::End(_) => {
                let closed = path.pop();
                if closed.as_deref() == Some("Part") {
                    let n = number
                        .take()
                        .and_then(|n| n.trim().parse::<u32>().ok())
                        .ok_or("a <Part> without a numeric <PartNumber>")?;
                    let e = etag.take().ok_or("a <Part> without <ETag>")?;
                    parts.push(ListedPart {
                        number: n,
                        etag: e.trim().trim_matches('"').to_ascii_uppercase(),
                    });
                }
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::CData(_) => return Err("CDATA is not expected".to_owned()),
            Event::Eof => break,
        }
    }
    if !saw_root || !path.is_empty() {
        return Err("no complete <CompleteMultipartUpload> element".to_owned());
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_sdk_form() {
        let body = b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&#34;ABC&#34;</ETag></Part><Part><PartNumber>2</PartNumber><ETag>&#34;def&#34;</ETag></Part></CompleteMultipartUpload>";
        assert_eq!(
            parse_complete(body).unwrap(),
            vec![
                ListedPart {
                    number: 1,
                    etag: "ABC".into()
                },
                ListedPart {
                    number: 2,
                    etag: "DEF".into()
                }
            ]
        );
    }

    #[test]
    fn oss2_form() {
        let body = b"<?xml version='1.0' encoding='utf-8'?>\n<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"ABC\"</ETag></Part></CompleteMultipartUpload>";
        assert_eq!(
            parse_complete(body).unwrap(),
            vec![ListedPart {
                number: 1,
                etag: "ABC".into()
            }]
        );
    }

    #[test]
    fn malformed() {
        assert!(parse_complete(b"<CompleteMultipartUpload><Part>").is_err());
        assert!(parse_complete(b"<Other/>").is_err());
        assert!(parse_complete(b"not xml").is_err());
        assert!(
            parse_complete(
                b"<CompleteMultipartUpload><Part><ETag>x</ETag></Part></CompleteMultipartUpload>"
            )
            .is_err()
        );
        assert_eq!(
            parse_complete(b"<CompleteMultipartUpload/>").unwrap(),
            Vec::<ListedPart>::new()
        );
    }
}
