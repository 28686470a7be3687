//! Request binding the way gin's `ShouldBind` does it, and OpenList's path rules.
//!
//! Binding: a GET, or a body whose `Content-Type` is not `application/json`, binds from
//! the query and form; a JSON body binds from the JSON only (the query is ignored), an
//! empty one fails with `EOF`. Go's decoder matches keys case-insensitively, ignores
//! unknown keys and rejects a value of the wrong JSON type. Paths: `\` becomes `/`, a
//! leading `/` is added and Go's `path.Clean` applied; a `..` that cleaning removes is
//! refused (`using relative path is not allowed`).

use axum::http::{Method, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

use crate::input::Input;

/// The message of a path that escapes with `..`.
pub(crate) const RELATIVE_PATH: &str = "using relative path is not allowed";

enum Source<'a> {
    Json(&'a Map<String, Value>),
    Form(&'a std::collections::HashMap<String, String>),
}

/// A bound request body: typed field access with gin's error messages.
pub(crate) struct Bound<'a> {
    strukt: &'static str,
    source: Source<'a>,
}

/// Binds `input` into the Go struct named `strukt` (for error messages); `Err` is the
/// message of a `code:400` answer.
pub(crate) fn bind<'a>(
    input: &'a Input,
    method: &Method,
    strukt: &'static str,
) -> Result<Bound<'a>, String> {
    let json_body = method != Method::GET
        && input
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|ct| ct.split(';').next())
            .is_some_and(|ct| ct.trim().eq_ignore_ascii_case("application/json"));
    let source = if json_body {
        match (&input.json, input.body_invalid) {
            (Some(map), _) => Source::Json(map),
            (None, true) => {
                return Err(format!(
                    "json: cannot unmarshal request body into Go value of type handles.{strukt}"
                ));
            }
            (None, false) => return Err("EOF".to_owned()),
        }
    } else {
        Source::Form(&input.params)
    };
    Ok(Bound { strukt, source })
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl Bound<'_> {
    fn json(&self, key: &str) -> Option<&Value> {
        let Source::Json(map) = &self.source else {
            return None;
        };
        map.get(key).or_else(|| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
    }

    fn mismatch(&self, v: &Value, key: &str, go_type: &str) -> String {
        format!(
            "json: cannot unmarshal {} into Go struct field {}.{key} of type {go_type}",
            json_kind(v),
            self.strukt
        )
    }

    fn form(&self, key: &str) -> Option<&str> {
        match &self.source {
            Source::Form(params) => params.get(key).map(String::as_str),
            Source::Json(_) => None,
        }
    }

    /// A string field ("" when absent or null).
    pub(crate) fn string(&self, key: &str) -> Result<String, String> {
        match self.json(key) {
            None | Some(Value::Null) => Ok(self.form(key).unwrap_or_default().to_owned()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) => Err(self.mismatch(v, key, "string")),
        }
    }

    /// An `int` field (0 when absent).
    pub(crate) fn int(&self, key: &str) -> Result<i64, String> {
        match self.json(key) {
            None | Some(Value::Null) => match self.form(key) {
                None | Some("") => Ok(0),
                Some(s) => s
                    .parse()
                    .map_err(|_| format!("strconv.ParseInt: parsing {s:?}: invalid syntax")),
            },
            Some(v @ Value::Number(n)) => n.as_i64().ok_or_else(|| self.mismatch(v, key, "int")),
            Some(v) => Err(self.mismatch(v, key, "int")),
        }
    }

    /// A `bool` field (false when absent).
    pub(crate) fn bool(&self, key: &str) -> Result<bool, String> {
        match self.json(key) {
            None | Some(Value::Null) => match self.form(key) {
                None | Some("") => Ok(false),
                Some("1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
                Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
                Some(s) => Err(format!("strconv.ParseBool: parsing {s:?}: invalid syntax")),
            },
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.mismatch(v, key, "bool")),
        }
    }

    /// A `[]string` field (empty when absent or null).
    pub(crate) fn strings(&self, key: &str) -> Result<Vec<String>, String> {
        match self.json(key) {
            None | Some(Value::Null) => Ok(self
                .form(key)
                .map(|s| vec![s.to_owned()])
                .unwrap_or_default()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.mismatch(other, key, "string")),
                })
                .collect(),
            Some(v) => Err(self.mismatch(v, key, "[]string")),
        }
    }

    /// JSON keys the struct does not have (Go ignores them).
    pub(crate) fn unknown(&self, known: &[&str]) -> Vec<String> {
        match &self.source {
            Source::Json(map) => map
                .keys()
                .filter(|k| !known.iter().any(|f| f.eq_ignore_ascii_case(k)))
                .cloned()
                .collect(),
            Source::Form(_) => Vec::new(),
        }
    }
}

/// Go's `path.Clean` for a path that starts with `/`.
pub(crate) fn clean(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            p => out.push(p),
        }
    }
    format!("/{}", out.join("/"))
}

/// `utils.FixAndCleanPath`.
pub(crate) fn fix_and_clean(path: &str) -> String {
    let path = path.replace('\\', "/");
    if path.starts_with('/') {
        clean(&path)
    } else {
        clean(&format!("/{path}"))
    }
}

/// `utils.JoinBasePath`: the storage path of `req` for a user whose base is `base`.
pub(crate) fn join_base(base: &str, req: &str) -> Result<String, &'static str> {
    let relative = req.contains("..");
    let cleaned = fix_and_clean(req);
    if relative && !cleaned.contains("..") {
        return Err(RELATIVE_PATH);
    }
    Ok(join(&fix_and_clean(base), &cleaned))
}

/// Go's `path.Join` of two rooted paths.
pub(crate) fn join(a: &str, b: &str) -> String {
    clean(&format!("{a}/{b}"))
}

/// Go's `path.Dir` of a cleaned rooted path.
pub(crate) fn parent(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((dir, _)) if !dir.is_empty() => dir.to_owned(),
        _ => "/".to_owned(),
    }
}

/// Go's `path.Base` of a cleaned rooted path ("/" for the root).
pub(crate) fn base(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((_, name)) if !name.is_empty() => name.to_owned(),
        _ => "/".to_owned(),
    }
}

/// What Go's `url.PathEscape` leaves as it is: unreserved characters and `$&+:=@`; `/`
/// too, since [`escape_path`] escapes segment by segment and joins them with `/`.
const GO_PATH_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b':')
    .remove(b'=')
    .remove(b'@')
    .remove(b'/');

/// `utils.EncodePath(path, true)`: each segment through Go's `url.PathEscape`.
pub(crate) fn escape_path(path: &str) -> String {
    utf8_percent_encode(path, GO_PATH_KEEP).to_string()
}

/// Go's `url.PathUnescape` (`+` stays `+`); `Err` carries Go's message. Written here, not
/// on `percent_encoding::percent_decode_str`: that one passes an invalid escape (`%zz`)
/// through, where Go — and so OpenList — refuses the request.
pub(crate) fn path_unescape(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).filter(|h| h.len() == 2);
            let value = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
            match value {
                Some(v) => out.push(v),
                None => {
                    let bad: String = s[i..].chars().take(3).collect();
                    return Err(format!("invalid URL escape {bad:?}"));
                }
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "invalid URL escape: not UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_rules() {
        assert_eq!(fix_and_clean(""), "/");
        assert_eq!(fix_and_clean("a\\b//c/"), "/a/b/c");
        assert_eq!(fix_and_clean("../.."), "/");
        assert_eq!(join_base("/", "/media/../x"), Err(RELATIVE_PATH));
        assert_eq!(
            join_base("/home/al", "/a..b"),
            Ok("/home/al/a..b".to_owned())
        );
        assert_eq!(join_base("/home/al", "/"), Ok("/home/al".to_owned()));
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(parent("/a"), "/");
        assert_eq!(base("/a/b.mkv"), "b.mkv");
        assert_eq!(base("/"), "/");
        assert_eq!(
            escape_path("/电影/a b#?.mkv"),
            "/%E7%94%B5%E5%BD%B1/a%20b%23%3F.mkv"
        );
        // Go's PathEscape keeps these.
        assert_eq!(escape_path("/a$&+:=@~b;,"), "/a$&+:=@~b%3B%2C");
        assert_eq!(path_unescape("/a%20b+c").as_deref(), Ok("/a b+c"));
        assert!(path_unescape("/a%zz").is_err());
    }
}
