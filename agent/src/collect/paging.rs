//! Swap traffic: pages swapped in and out since boot, from `/proc/vmstat`.

use std::time::Instant;

use common::model::Sample;

use super::rate::{Rates, Width};
use super::ParseError;

/// Cumulative pages, `direction` ∈ in, out: `/proc/vmstat` `pswpin`, `pswpout`.
/// psutil `swap_memory().sin` and `.sout` are the same counters in bytes, always
/// multiplied by 4096 (psutil hard-codes 4 KiB whatever the page size).
pub const OPERATIONS: &str = "system.paging.operations";
/// Pages per second over the last interval, same labels.
pub const OPERATIONS_RATE: &str = "system.paging.operations.rate";

/// `pswpin` and `pswpout` from the text of `/proc/vmstat`.
pub(crate) fn parse_vmstat(text: &str) -> Result<[u64; 2], ParseError> {
    let (mut pages_in, mut pages_out) = (None, None);
    for (number, line) in text.lines().enumerate() {
        let mut words = line.split_ascii_whitespace();
        let slot = match words.next() {
            Some("pswpin") => &mut pages_in,
            Some("pswpout") => &mut pages_out,
            _ => continue,
        };
        let value = words.next().and_then(|word| word.parse().ok());
        *slot =
            Some(value.ok_or_else(|| {
                ParseError::line("/proc/vmstat", number + 1, line, "swap counter")
            })?);
    }
    let missing = |what| ParseError::Missing {
        file: "/proc/vmstat",
        what,
    };
    Ok([
        pages_in.ok_or_else(|| missing("pswpin"))?,
        pages_out.ok_or_else(|| missing("pswpout"))?,
    ])
}

pub(crate) fn collect(
    vmstat: &str,
    at: Instant,
    rates: &mut Rates,
) -> Result<Vec<Sample>, ParseError> {
    let pages = parse_vmstat(vmstat)?;
    let mut out = Vec::with_capacity(4);
    for (direction, value) in ["in", "out"].into_iter().zip(pages) {
        let labels = [("direction", direction)];
        rates.counter(
            &mut out,
            OPERATIONS,
            OPERATIONS_RATE,
            &labels,
            value,
            Width::U64,
            at,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_swap_counters() {
        let text = "nr_free_pages 5136821\npgpgin 1450021\npgpgout 1969604\npswpin 12\npswpout 345\npgalloc_dma 0\n";
        assert_eq!(parse_vmstat(text).expect("valid"), [12, 345]);
    }

    #[test]
    fn malformed_or_truncated_text_is_an_error() {
        for (text, expected) in [
            ("pswpin 1\n", "/proc/vmstat has no pswpout"),
            ("", "/proc/vmstat has no pswpin"),
            (
                "pswpin\npswpout 1\n",
                "/proc/vmstat: line 1 is malformed (swap counter): \"pswpin\"",
            ),
            (
                "pswpin -1\npswpout 1\n",
                "/proc/vmstat: line 1 is malformed (swap counter): \"pswpin -1\"",
            ),
        ] {
            assert_eq!(parse_vmstat(text).expect_err(text).to_string(), expected);
        }
    }

    #[test]
    fn rates_follow_the_second_read() {
        let mut rates = Rates::default();
        let start = Instant::now();
        let first = collect("pswpin 10\npswpout 20\n", start, &mut rates).expect("valid");
        assert_eq!(first.len(), 2);
        let later = start + std::time::Duration::from_secs(1);
        let second = collect("pswpin 15\npswpout 20\n", later, &mut rates).expect("valid");
        let rate: Vec<(String, f64)> = second
            .iter()
            .filter(|s| s.name == OPERATIONS_RATE)
            .map(|s| (s.labels["direction"].clone(), s.value))
            .collect();
        assert_eq!(rate, [("in".to_owned(), 5.0), ("out".to_owned(), 0.0)]);
    }
}
