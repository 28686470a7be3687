//! Printing results: human-readable lines, or one JSON document with `--json`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Prints `value` as pretty JSON.
pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    stdout_line(&serde_json::to_string_pretty(value)?)?;
    Ok(())
}

/// Prints a line on standard output.
pub fn line(text: impl AsRef<str>) {
    // A failed write to stdout other than a closed pipe is reported on stderr; the command
    // itself (whose effect has happened) is not failed by it.
    if let Err(err) = stdout_line(text.as_ref()) {
        note(format!("warning: cannot write to standard output: {err}"));
    }
}

/// Writes `text` and a newline to stdout and flushes. A reader that went away
/// (`cloudctl … | head -1`) is not an error: the rest of the output is dropped quietly, where
/// `println!` would panic.
fn stdout_line(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Prints a line on standard error (progress, QR codes, notes), keeping stdout for results.
#[allow(clippy::print_stderr)]
pub fn note(text: impl AsRef<str>) {
    eprintln!("{}", text.as_ref());
}

/// Unix seconds as an RFC 3339 UTC time.
pub fn time(unix: i64) -> String {
    cloud_clients::format_timestamp_ms(u64::try_from(unix).unwrap_or(0).saturating_mul(1000))
}

/// A `SystemTime` as an RFC 3339 UTC time (seconds precision).
pub fn system_time(t: SystemTime) -> String {
    time(
        t.duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0),
    )
}

/// Unix seconds now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Bytes in a readable unit.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn system_times_are_utc_with_seconds() {
        let t = UNIX_EPOCH + Duration::from_millis(1_764_302_706_789);
        assert_eq!(super::system_time(t), "2025-11-28T04:05:06Z");
        assert_eq!(super::system_time(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(super::time(1_764_302_706), "2025-11-28T04:05:06Z");
    }
}
