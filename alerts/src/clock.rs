//! Wall-clock milliseconds and the RFC 3339 text Alertmanager's API speaks.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub fn to_rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Milliseconds of an RFC 3339 time. Go's zero time (`0001-01-01T00:00:00Z`),
/// which Prometheus sends for "unset", reads as `None`.
pub fn parse_rfc3339(s: &str) -> Result<Option<i64>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|e| format!("time {s:?}: {e}"))?;
    if t.year() <= 1 {
        return Ok(None);
    }
    Ok(Some((t.unix_timestamp_nanos() / 1_000_000) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_and_go_zero_time_is_unset() {
        let ms = 1_764_000_000_123;
        assert_eq!(parse_rfc3339(&to_rfc3339(ms)), Ok(Some(ms)));
        assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z"), Ok(None));
        assert_eq!(
            parse_rfc3339("2026-12-03T10:00:00.5+01:00"),
            Ok(Some(1_796_288_400_500))
        );
        assert!(parse_rfc3339("yesterday").is_err());
    }
}
