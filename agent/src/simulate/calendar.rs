//! Time of day and of week on a host's local clock, and the two time formats the
//! simulator speaks (RFC 3339 text and unix milliseconds).

use std::f64::consts::{PI, TAU};

pub(crate) const MS_PER_HOUR: f64 = 3_600_000.0;
const HOURS_PER_WEEK: f64 = 168.0;
/// 1970-01-01 was a Thursday: in hours since a Thursday midnight, the weekend
/// runs from Saturday 00:00 (hour 48) to Monday 00:00 (hour 96).
const WEEKEND: (f64, f64) = (48.0, 96.0);
/// Traffic does not switch off at midnight: the weekend fades in and out over
/// this many hours.
const WEEKEND_EDGE_HOURS: f64 = 6.0;

/// Hours since the epoch on a clock `utc_offset_hours` ahead of UTC.
pub(crate) fn local_hours(now_ms: i64, utc_offset_hours: f64) -> f64 {
    now_ms as f64 / MS_PER_HOUR + utc_offset_hours
}

/// The daily cycle in [-1, 1]: 1 at `peak_hour` local time.
pub(crate) fn daily(local_hours: f64, peak_hour: f64) -> f64 {
    (TAU * (local_hours - peak_hour) / 24.0).cos()
}

/// How much of the weekend it is, in [0, 1]: 0 Monday to Friday, 1 on Saturday
/// and Sunday, with smooth edges.
pub(crate) fn weekend(local_hours: f64) -> f64 {
    let h = local_hours.rem_euclid(HOURS_PER_WEEK);
    let edge = |x: f64| {
        let s = (x / WEEKEND_EDGE_HOURS + 0.5).clamp(0.0, 1.0);
        0.5 - 0.5 * (PI * s).cos()
    };
    edge(h - WEEKEND.0) - edge(h - WEEKEND.1)
}

/// `2025-03-01T12:00:00.000Z`.
pub fn iso8601(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// Unix milliseconds from `1740830400000` or RFC 3339 text such as
/// `2025-03-01T12:00:00Z`, `2025-03-01 12:00:00.250+01:00`.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse()
            .map_err(|_| format!("time {t:?}: unix milliseconds out of range"));
    }
    rfc3339(t).ok_or_else(|| {
        format!("time {t:?}: expected unix milliseconds or RFC 3339 (2025-03-01T12:00:00Z)")
    })
}

fn rfc3339(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(range)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &t[19..];
    let mut millis = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        // Milliseconds: the first three digits, padded.
        let first: String = frac[..digits].chars().chain("00".chars()).take(3).collect();
        millis = first.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_minutes = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let minutes = rest[1..3].parse::<i64>().ok()? * 60 + rest[4..6].parse::<i64>().ok()?;
            if *sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };
    let valid = (1..=12).contains(&mo)
        && (1..=days_in_month(y, mo)).contains(&d)
        && h < 24
        && mi < 60
        && s < 61;
    valid.then(|| {
        ((days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset_minutes * 60) * 1000)
            + millis
    })
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Option<i64>) {
        assert_eq!(parse_time(text).ok(), expected, "{text}");
    }

    #[test]
    fn times_parse_and_print() {
        check("1740830400000", Some(1_740_830_400_000));
        check("2025-03-01T12:00:00Z", Some(1_740_830_400_000));
        check("2025-03-01t12:00:00.25z", Some(1_740_830_400_250));
        check("2025-03-01 13:00:00+01:00", Some(1_740_830_400_000));
        check("2025-03-01T07:30:00-04:30", Some(1_740_830_400_000));
        check("2024-02-29T00:00:00Z", Some(1_709_164_800_000));
        check("2025-02-29T00:00:00Z", None);
        check("2025-03-01T12:00:00", None);
        check("yesterday", None);
        check("", None);
        assert_eq!(iso8601(1_740_830_400_250), "2025-03-01T12:00:00.250Z");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        for ms in [0, 951_782_400_000, 1_709_164_800_123, 4_102_444_800_000] {
            assert_eq!(parse_time(&iso8601(ms)), Ok(ms));
        }
    }

    #[test]
    fn weekend_is_saturday_and_sunday() {
        // 2025-03-01 was a Saturday, 2025-03-03 a Monday.
        let at = |text: &str| weekend(local_hours(parse_time(text).expect("valid"), 0.0));
        assert_eq!(at("2025-02-27T12:00:00Z"), 0.0);
        assert_eq!(at("2025-03-01T12:00:00Z"), 1.0);
        assert_eq!(at("2025-03-02T20:00:00Z"), 1.0);
        assert_eq!(at("2025-03-03T12:00:00Z"), 0.0);
        let edge = at("2025-03-01T00:00:00Z");
        assert!((edge - 0.5).abs() < 1e-9, "{edge}");
        assert_eq!(daily(14.0, 14.0), 1.0);
    }
}
