//! Small helpers: time formatting (alipan's ISO 8601, Go's RFC3339Nano) and path splitting.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch of `t` (zero before the epoch).
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `t + d` in Unix seconds.
pub(crate) fn unix_after(t: SystemTime, d: Duration) -> u64 {
    unix_secs(t).saturating_add(d.as_secs())
}

/// Formats Unix seconds as ISO 8601 UTC with milliseconds, as alipan does
/// (`2024-05-01T08:00:00.000Z`).
pub(crate) fn iso8601(secs: u64) -> String {
    format!("{}.000Z", date_time(secs, 0))
}

/// Formats a time as Go's RFC3339Nano in a fixed UTC offset, as OpenList sends times:
/// trailing zeros of the fraction trimmed (none when zero), `Z` for UTC, else `+08:00`.
pub(crate) fn rfc3339_nano(secs: u64, nanos: u32, offset_minutes: i32) -> String {
    let fraction = if nanos == 0 {
        String::new()
    } else {
        let digits = format!("{:09}", nanos.min(999_999_999));
        format!(".{}", digits.trim_end_matches('0'))
    };
    let zone = if offset_minutes == 0 {
        "Z".to_owned()
    } else {
        let sign = if offset_minutes < 0 { '-' } else { '+' };
        let abs = offset_minutes.unsigned_abs();
        format!("{sign}{:02}:{:02}", abs / 60, abs % 60)
    };
    format!("{}{fraction}{zone}", date_time(secs, offset_minutes))
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SS`, `offset_minutes` east of UTC (the `time` crate
/// does the calendar; the layouts above are the providers' own).
fn date_time(secs: u64, offset_minutes: i32) -> String {
    let utc = i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let t = match time::UtcOffset::from_whole_seconds(offset_minutes.saturating_mul(60)) {
        Ok(offset) => utc.to_offset(offset),
        Err(_) => utc,
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Splits an absolute path into its non-empty segments; `None` when it is not absolute or
/// has an empty, `.` or `..` segment. `/` gives no segments.
pub(crate) fn split_path(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix('/')?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let parts: Vec<&str> = rest.split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return None;
    }
    Some(parts)
}

/// The extension of a file name without the dot, lower-cased ("" when none).
pub(crate) fn extension(name: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext.to_ascii_lowercase(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_714_550_400), "2024-05-01T08:00:00.000Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn rfc3339_nano_dates() {
        assert_eq!(rfc3339_nano(0, 0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nano(1_715_924_875, 417_491_700, 480),
            "2024-05-17T13:47:55.4174917+08:00"
        );
        assert_eq!(
            rfc3339_nano(0, 500_000_000, -90),
            "1969-12-31T22:30:00.5-01:30"
        );
    }

    #[test]
    fn paths() {
        assert_eq!(split_path("/"), Some(vec![]));
        assert_eq!(split_path("/a/b.mkv"), Some(vec!["a", "b.mkv"]));
        assert_eq!(split_path("/a/"), Some(vec!["a"]));
        assert_eq!(split_path("a"), None);
        assert_eq!(split_path("/a//b"), None);
        assert_eq!(extension("Movie.MKV"), "mkv");
        assert_eq!(extension(".hidden"), "");
    }
}
