//! Reading provider answers, whose numbers and ids come as JSON numbers or strings.

use serde_json::Value;

/// A non-empty string, or a number as text (ids arrive both ways).
pub(crate) fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An unsigned number given as a JSON number or a numeric string.
pub(crate) fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A signed number given as a JSON number or a numeric string.
pub(crate) fn number_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A text field of an answer, read leniently ([`text`]): `None` when missing, empty or
/// neither string nor number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Text(pub Option<String>);

/// An unsigned number field of an answer, read leniently ([`number`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Num(pub Option<u64>);

/// A signed number field of an answer, read leniently ([`number_i64`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Int(pub Option<i64>);

impl<'de> serde::Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Text(text(&serde::Deserialize::deserialize(d)?)))
    }
}

impl<'de> serde::Deserialize<'de> for Num {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Num(number(&serde::Deserialize::deserialize(d)?)))
    }
}

impl<'de> serde::Deserialize<'de> for Int {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Int(number_i64(&serde::Deserialize::deserialize(d)?)))
    }
}

/// `value` read as `T`; `None` when it does not fit.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(value: Value) -> Option<T> {
    serde_json::from_value(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_and_ids_in_either_form() {
        assert_eq!(text(&json!("a")), Some("a".into()));
        assert_eq!(text(&json!(12)), Some("12".into()));
        assert_eq!(text(&json!("")), None);
        assert_eq!(number(&json!(" 7 ")), Some(7));
        assert_eq!(number(&json!(7)), Some(7));
        assert_eq!(number_i64(&json!("-2")), Some(-2));
        assert_eq!(number(&json!(null)), None);
    }
}
