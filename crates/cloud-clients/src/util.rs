//! Small helpers without a better home.

/// Unix milliseconds as an RFC 3339 UTC timestamp (`2026-11-28T04:05:06Z`).
pub fn format_timestamp_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
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
