//! Object URLs (`../shared/spec/upload.md` §3.2).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters of a key that are sent as they are: OSS SDKs encode everything else, `/`
/// included (`%2F`).
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The URL of `key` in `bucket` at `endpoint`: path style when the endpoint's host is an IP
/// address (a simulator on 127.0.0.1), virtual-host style (`bucket.host`) otherwise
/// (spec §3.2); the key percent-encoded with `/` as `%2F`, as the OSS SDKs send it.
pub(super) fn object_url(
    endpoint: &str,
    bucket: &str,
    key: &str,
    query: &[(&str, Option<String>)],
) -> String {
    let endpoint = endpoint.trim().trim_end_matches('/');
    let (scheme, host) = endpoint.split_once("://").unwrap_or(("https", endpoint));
    let key = utf8_percent_encode(key, KEY);
    let bare_host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let ip = bare_host.parse::<std::net::IpAddr>().is_ok()
        || (host.starts_with('[') && host.contains(']'));
    let mut url = if ip {
        format!("{scheme}://{host}/{bucket}/{key}")
    } else {
        format!("{scheme}://{bucket}.{host}/{key}")
    };
    for (i, (name, value)) in query.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(name);
        if let Some(value) = value {
            url.push('=');
            url.extend(utf8_percent_encode(value, KEY));
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_path_style_for_ip_hosts_and_virtual_host_style_otherwise() {
        let query = [("partNumber", Some("1".to_owned())), ("uploads", None)];
        assert_eq!(
            object_url("http://127.0.0.1:9000/", "fhnfile", "u/a b+c.bin", &query),
            "http://127.0.0.1:9000/fhnfile/u%2Fa%20b%2Bc.bin?partNumber=1&uploads"
        );
        assert_eq!(
            object_url("http://[::1]:9000", "b", "k", &[]),
            "http://[::1]:9000/b/k"
        );
        assert_eq!(
            object_url(
                "https://oss-cn-shenzhen.aliyuncs.com",
                "fhnfile",
                "u/x",
                &[]
            ),
            "https://fhnfile.oss-cn-shenzhen.aliyuncs.com/u%2Fx"
        );
        assert_eq!(
            object_url("oss-cn-shenzhen.aliyuncs.com", "b", "k", &[]),
            "https://b.oss-cn-shenzhen.aliyuncs.com/k"
        );
    }
}
