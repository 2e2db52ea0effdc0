//! Network interface counters and byte rates.

use std::collections::HashMap;
use std::time::Instant;

use common::model::Sample;
use sysinfo::Networks;

use super::{sample, CollectError, Result};

/// Cumulative bytes, labels `device`, `direction` ∈ receive, transmit.
/// psutil `net_io_counters(pernic=True)[device].bytes_recv`, `.bytes_sent`.
pub const IO: &str = "system.network.io";
/// Bytes per second over the last interval, same labels; the difference of two
/// psutil `bytes_recv` / `bytes_sent` readings over the time between them.
pub const IO_RATE: &str = "system.network.io.rate";
/// Cumulative packets; psutil `packets_recv`, `packets_sent`.
pub const PACKETS: &str = "system.network.packets";
/// Cumulative errors; psutil `errin`, `errout`.
pub const ERRORS: &str = "system.network.errors";

/// Values of the `direction` label, in the order of the arrays below.
const DIRECTIONS: [&str; 2] = ["receive", "transmit"];

/// Byte counters (receive, transmit) of one interface at one instant.
struct Reading {
    at: Instant,
    bytes: [u64; 2],
}

pub(crate) struct Network {
    networks: Networks,
    /// Last reading per interface, the base of the next rate.
    previous: HashMap<String, Reading>,
}

impl Network {
    pub(crate) fn new() -> Result<Self> {
        let networks =
            Networks::new_with_refreshed_list().map_err(|error| CollectError::Sysinfo {
                what: "network interfaces",
                error,
            })?;
        Ok(Self {
            networks,
            previous: HashMap::new(),
        })
    }

    /// With `refresh_list`, interfaces that disappeared are dropped; on Linux sysinfo
    /// reads `/sys/class/net` on every refresh either way, so new ones show up at once.
    pub(crate) fn collect(&mut self, refresh_list: bool) -> Vec<Sample> {
        self.networks.refresh(refresh_list);
        // One instant for all interfaces: they were read back to back.
        let now = Instant::now();
        let mut out = Vec::new();
        let mut current = HashMap::with_capacity(self.networks.len());
        let mut devices: Vec<_> = self.networks.iter().collect();
        devices.sort_by(|a, b| a.0.cmp(b.0));
        for (name, data) in devices {
            let device = name.to_string_lossy().into_owned();
            let bytes = [data.total_received(), data.total_transmitted()];
            let packets = [
                data.total_packets_received(),
                data.total_packets_transmitted(),
            ];
            let errors = [
                data.total_errors_on_received(),
                data.total_errors_on_transmitted(),
            ];
            let previous = self.previous.get(&device);
            let elapsed = previous.map(|p| now.duration_since(p.at).as_secs_f64());
            for (i, direction) in DIRECTIONS.into_iter().enumerate() {
                let labels = [("device", device.as_str()), ("direction", direction)];
                out.push(sample(IO, &labels, bytes[i] as f64));
                out.push(sample(PACKETS, &labels, packets[i] as f64));
                out.push(sample(ERRORS, &labels, errors[i] as f64));
                let before = previous.map(|p| p.bytes[i]);
                if let Some(rate) = elapsed.and_then(|secs| rate(before, bytes[i], secs)) {
                    out.push(sample(IO_RATE, &labels, rate));
                }
            }
            current.insert(device, Reading { at: now, bytes });
        }
        // Replacing the map also forgets interfaces that are gone.
        self.previous = current;
        out
    }
}

/// Bytes per second between two readings of a counter, or `None` when there is no
/// honest answer: no previous reading (first tick), the counter went down (interface
/// re-created, driver reset, or a 32-bit counter wrapped — indistinguishable, so no
/// guess), or no time passed.
pub(crate) fn rate(previous: Option<u64>, current: u64, elapsed_secs: f64) -> Option<f64> {
    let previous = previous?;
    if current < previous || !elapsed_secs.is_finite() || elapsed_secs <= 0.0 {
        return None;
    }
    Some((current - previous) as f64 / elapsed_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(previous: Option<u64>, current: u64, elapsed_secs: f64, expected: Option<f64>) {
        assert_eq!(
            rate(previous, current, elapsed_secs),
            expected,
            "rate({previous:?}, {current}, {elapsed_secs})"
        );
    }

    #[test]
    fn rate_cases() {
        // Normal: 1000 bytes in 2 s.
        check(Some(1_000), 3_000, 2.0, Some(1_000.0));
        // Idle interface.
        check(Some(5), 5, 1.0, Some(0.0));
        // First tick: nothing to compare with.
        check(None, 3_000, 1.0, None);
        // Counter reset or wrap: never a negative rate.
        check(Some(3_000), 10, 1.0, None);
        check(Some(u64::from(u32::MAX) - 10), 20, 1.0, None);
        // No time passed, or a nonsensical interval: never Inf or NaN.
        check(Some(1), 2, 0.0, None);
        check(Some(1), 2, -1.0, None);
        check(Some(1), 2, f64::NAN, None);
        check(Some(1), 2, f64::INFINITY, None);
    }
}
