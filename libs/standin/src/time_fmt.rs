//! Dates and durations written the way Meilisearch writes them: RFC 3339 with as many fractional
//! digits as needed (`2026-11-21T05:01:17.26561898Z`) and ISO 8601 durations (`PT0.003621261S`).

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    // Formatting a UTC date with a four-digit year cannot fail; the fallback only keeps a
    // far-future date from ever panicking.
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

pub fn rfc3339_value(t: Option<OffsetDateTime>) -> Value {
    t.map_or(Value::Null, |t| Value::String(rfc3339(t)))
}

/// Meilisearch's port of the ISO 8601 duration writer `time` used to have.
pub fn iso_duration(d: Duration) -> Option<String> {
    if d.is_negative() {
        return None;
    }
    const SECS_PER_DAY: i64 = 86_400;
    let secs = d.whole_seconds();
    let days = secs / SECS_PER_DAY;
    let secs = secs - days * SECS_PER_DAY;
    let nanos = d.subsec_nanoseconds();
    let has_date = days != 0;
    let has_time = secs != 0 || nanos != 0 || !has_date;
    let mut out = String::from("P");
    if has_date {
        out.push_str(&format!("{days}D"));
    }
    if has_time {
        if nanos == 0 {
            out.push_str(&format!("T{secs}S"));
        } else if nanos % 1_000_000 == 0 {
            out.push_str(&format!("T{secs}.{:03}S", nanos / 1_000_000));
        } else if nanos % 1_000 == 0 {
            out.push_str(&format!("T{secs}.{:06}S", nanos / 1_000));
        } else {
            out.push_str(&format!("T{secs}.{nanos:09}S"));
        }
    }
    Some(out)
}

/// A short human duration for batch progress traces (`"1.82ms"`, `"48.22µs"`).
pub fn short_duration(d: Duration) -> String {
    let micros = d.whole_microseconds() as f64;
    if micros >= 1_000_000.0 {
        format!("{:.2}s", micros / 1_000_000.0)
    } else if micros >= 1_000.0 {
        format!("{:.2}ms", micros / 1_000.0)
    } else {
        format!("{:.2}µs", micros.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_match_meilisearch() {
        assert_eq!(
            iso_duration(Duration::nanoseconds(3_621_261)).as_deref(),
            Some("PT0.003621261S")
        );
        assert_eq!(
            iso_duration(Duration::milliseconds(1_500)).as_deref(),
            Some("PT1.500S")
        );
        assert_eq!(
            iso_duration(Duration::microseconds(2_100)).as_deref(),
            Some("PT0.002100S")
        );
        assert_eq!(iso_duration(Duration::ZERO).as_deref(), Some("PT0S"));
        assert_eq!(iso_duration(Duration::days(1)).as_deref(), Some("P1D"));
        assert_eq!(iso_duration(Duration::seconds(-1)), None);
    }

    #[test]
    fn dates_trim_trailing_zeros() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_795_237_277_059_531_000).ok();
        let s = t.map(rfc3339).unwrap_or_default();
        assert!(s.ends_with(".059531Z"), "{s}");
    }
}
