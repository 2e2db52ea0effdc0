//! Network interface counters and their rates, from `/proc/net/dev` — the file
//! psutil's `net_io_counters(pernic=True)` reads, one file for every interface
//! (sysinfo would open eight files per interface under `/sys/class/net`).
//!
//! Every interface is reported, `lo` included, as psutil does. The counters are
//! 64-bit in the kernel (`rtnl_link_stats64`): a decrease is a reset (interface
//! re-created), never a wrap.

use std::time::Instant;

use common::model::Sample;

use super::rate::{Rates, Width};
use super::ParseError;

/// Cumulative bytes, labels `device`, `direction` ∈ receive, transmit.
/// psutil `net_io_counters(pernic=True)[device].bytes_recv`, `.bytes_sent`.
pub const IO: &str = "system.network.io";
/// Per second over the last interval, same labels.
pub const IO_RATE: &str = "system.network.io.rate";
/// Cumulative packets; psutil `packets_recv`, `packets_sent`.
pub const PACKETS: &str = "system.network.packets";
pub const PACKETS_RATE: &str = "system.network.packets.rate";
/// Cumulative errors; psutil `errin`, `errout`.
pub const ERRORS: &str = "system.network.errors";
pub const ERRORS_RATE: &str = "system.network.errors.rate";
/// Cumulative dropped packets; psutil `dropin`, `dropout`.
pub const DROPPED: &str = "system.network.dropped";
pub const DROPPED_RATE: &str = "system.network.dropped.rate";

/// One interface's counters, each as [receive, transmit].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Interface {
    pub device: String,
    pub bytes: [u64; 2],
    pub packets: [u64; 2],
    pub errors: [u64; 2],
    pub dropped: [u64; 2],
}

/// Parses `/proc/net/dev`: two header lines, then `name: 8 receive counters
/// 8 transmit counters`. The name ends at the last colon, as psutil reads it.
pub(crate) fn parse(text: &str) -> Result<Vec<Interface>, ParseError> {
    let mut out = Vec::new();
    for (number, line) in text.lines().enumerate().skip(2) {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what| ParseError::line("/proc/net/dev", number + 1, line, what);
        let (name, counters) = line.rsplit_once(':').ok_or_else(|| bad("no colon"))?;
        let counters: Vec<u64> = counters
            .split_ascii_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| bad("counter"))?;
        if counters.len() < 16 {
            return Err(bad("fewer than 16 counters"));
        }
        let pair = |receive: usize| [counters[receive], counters[receive + 8]];
        out.push(Interface {
            device: name.trim().to_owned(),
            bytes: pair(0),
            packets: pair(1),
            errors: pair(2),
            dropped: pair(3),
        });
    }
    Ok(out)
}

pub(crate) fn collect(
    text: &str,
    at: Instant,
    rates: &mut Rates,
) -> Result<Vec<Sample>, ParseError> {
    let interfaces = parse(text)?;
    let mut out = Vec::with_capacity(interfaces.len() * 16);
    for interface in &interfaces {
        for (i, direction) in ["receive", "transmit"].into_iter().enumerate() {
            let labels = [
                ("device", interface.device.as_str()),
                ("direction", direction),
            ];
            for (name, rate_name, value) in [
                (IO, IO_RATE, interface.bytes[i]),
                (PACKETS, PACKETS_RATE, interface.packets[i]),
                (ERRORS, ERRORS_RATE, interface.errors[i]),
                (DROPPED, DROPPED_RATE, interface.dropped[i]),
            ] {
                rates.counter(&mut out, name, rate_name, &labels, value, Width::U64, at);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This development VM's `/proc/net/dev`, plus an alias with a colon.
    const SAMPLE: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:   44731     441    0    0    0     0          0         0    44731     441    0    0    0     0       0          0
  eth0: 165591062  116806    1    2    0     0          0         0   380177    4551    3    4    0     0       0          0
eth0:1: 10 1 0 0 0 0 0 0 20 2 0 0 0 0 0 0
";

    #[test]
    fn parses_every_interface() {
        let interfaces = parse(SAMPLE).expect("valid");
        assert_eq!(
            interfaces[1],
            Interface {
                device: "eth0".into(),
                bytes: [165591062, 380177],
                packets: [116806, 4551],
                errors: [1, 3],
                dropped: [2, 4],
            }
        );
        let names: Vec<&str> = interfaces.iter().map(|i| i.device.as_str()).collect();
        assert_eq!(names, ["lo", "eth0", "eth0:1"]);
    }

    #[test]
    fn malformed_or_truncated_lines_are_errors() {
        let header = "h1\nh2\n";
        for (line, expected) in [
            ("eth0 1 2 3", "no colon"),
            ("eth0: 1 2 3 4 5 6 7 8 9 10 11 12", "fewer than 16 counters"),
            ("eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x", "counter"),
        ] {
            let error = parse(&format!("{header}{line}\n")).expect_err(line);
            assert_eq!(
                error.to_string(),
                format!("/proc/net/dev: line 3 is malformed ({expected}): {line:?}")
            );
        }
        assert_eq!(parse("only a header\n").expect("no interface"), []);
    }

    #[test]
    fn every_counter_has_a_rate_from_the_second_read() {
        let mut rates = Rates::default();
        let start = Instant::now();
        let first = collect(SAMPLE, start, &mut rates).expect("valid");
        assert_eq!(first.len(), 3 * 2 * 4);
        let later = start + std::time::Duration::from_secs(1);
        let grown = SAMPLE.replace("  44731     441", "  45731     451");
        let second = collect(&grown, later, &mut rates).expect("valid");
        assert_eq!(second.len(), 3 * 2 * 8);
        let rate = |name: &str| {
            second
                .iter()
                .find(|s| {
                    s.name == name
                        && s.labels["device"] == "lo"
                        && s.labels["direction"] == "receive"
                })
                .map(|s| s.value)
        };
        assert_eq!(rate(IO_RATE), Some(1000.0));
        assert_eq!(rate(PACKETS_RATE), Some(10.0));
        assert_eq!(rate(DROPPED_RATE), Some(0.0));
    }
}
