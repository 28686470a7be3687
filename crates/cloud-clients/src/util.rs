//! Small helpers without a better home: dates, through the `time` crate.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Unix milliseconds as an RFC 3339 UTC timestamp (`2026-11-28T04:05:06Z`), to the second.
pub fn format_timestamp_ms(ms: u64) -> String {
    let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX);
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "9999-12-31T23:59:59Z".to_owned())
}

/// Unix seconds of an RFC 3339 timestamp (`2025-01-02T03:04:05.000Z`, `…+08:00`); a space
/// instead of the `T` and a missing zone (read as UTC) are accepted, an impossible date
/// (31 February) is not.
pub(crate) fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    let mut normalized = text.replacen(' ', "T", 1);
    let has_zone = normalized.ends_with(['Z', 'z'])
        || normalized
            .get(19..)
            .is_some_and(|rest| rest.contains(['+', '-']));
    if !has_zone {
        normalized.push('Z');
    }
    OffsetDateTime::parse(&normalized, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

#[cfg(test)]
mod tests {
    use super::parse_timestamp;

    #[test]
    fn parses_rfc3339_and_rejects_impossible_dates() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_timestamp("2025-11-28T04:05:06.000Z"),
            Some(1_764_302_706)
        );
        assert_eq!(
            parse_timestamp("2025-11-28T12:05:06+08:00"),
            Some(1_764_302_706)
        );
        assert_eq!(parse_timestamp("2025-11-28 04:05:06"), Some(1_764_302_706));
        assert_eq!(parse_timestamp("2000-02-29T00:00:00Z"), Some(951_782_400));
        assert_eq!(parse_timestamp("2025-02-31T00:00:00Z"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn formats_utc() {
        assert_eq!(super::format_timestamp_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            super::format_timestamp_ms(1_764_302_706_000),
            "2025-11-28T04:05:06Z"
        );
        assert_eq!(
            super::format_timestamp_ms(951_782_400_000),
            "2000-02-29T00:00:00Z"
        );
    }
}
