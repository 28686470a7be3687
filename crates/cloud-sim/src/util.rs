//! Small helpers: time formatting (ISO 8601, Go's RFC3339Nano) and path splitting.

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
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Formats a time as Go's RFC3339Nano in a fixed UTC offset, as OpenList sends times:
/// trailing zeros of the fraction trimmed (none when zero), `Z` for UTC, else `+08:00`.
pub(crate) fn rfc3339_nano(secs: u64, nanos: u32, offset_minutes: i32) -> String {
    let local = secs as i64 + i64::from(offset_minutes) * 60;
    let (days, rem) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
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
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{fraction}{zone}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
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
