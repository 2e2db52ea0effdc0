//! Block device I/O from `/proc/diskstats`: bytes, operations, time spent and
//! the busy fraction, per device.
//!
//! Every line of the file is reported, as psutil's
//! `disk_io_counters(perdisk=True)` does: whole disks, partitions, and idle
//! `loop`/`ram`/`zram` devices with all-zero counters (psutil 7 skips none).

use std::time::Instant;

use common::model::Sample;

use super::rate::{Rates, Width};
use super::{sample, ParseError};

/// Cumulative bytes, labels `device`, `direction` ∈ read, write; psutil
/// `read_bytes`, `write_bytes` (sectors × 512, whatever the device's sector size).
pub const IO: &str = "system.disk.io";
pub const IO_RATE: &str = "system.disk.io.rate";
/// Cumulative completed operations; psutil `read_count`, `write_count`.
pub const OPERATIONS: &str = "system.disk.operations";
pub const OPERATIONS_RATE: &str = "system.disk.operations.rate";
/// Cumulative seconds spent on operations (overlapping ones add up); psutil
/// `read_time`, `write_time` / 1000.
pub const OPERATION_TIME: &str = "system.disk.operation_time";
/// Cumulative seconds with at least one operation in flight, label `device`;
/// psutil `busy_time` / 1000.
pub const IO_TIME: &str = "system.disk.io_time";
/// Share of the last interval the device was busy, in [0, 1]: the growth of
/// `busy_time` over the elapsed time (iostat's `%util` / 100).
pub const UTILIZATION: &str = "system.disk.utilization";

/// psutil's `DISK_SECTOR_SIZE`: the kernel counts in 512-byte units.
const SECTOR_BYTES: u64 = 512;

/// One line of `/proc/diskstats`. The millisecond fields are `%u` in the
/// kernel, 32-bit counters that wrap every 49.7 days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DiskStats {
    pub device: String,
    /// Completed operations, read and write.
    pub operations: [u64; 2],
    pub sectors: [u64; 2],
    pub time_ms: [u64; 2],
    pub io_time_ms: u64,
}

/// Parses the text of `/proc/diskstats` the way psutil reads its three layouts:
/// 14 or 18+ fields (a disk on 2.6+, partitions too since 2.6.25), 7 (a
/// partition on early 2.6, no times) and 15 (2.4). Any other line is an error.
pub(crate) fn parse(text: &str) -> Result<Vec<DiskStats>, ParseError> {
    let mut out = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let bad = |what| ParseError::line("/proc/diskstats", number + 1, line, what);
        let (device, numbers) = match fields.len() {
            15 => (fields[3], &fields[4..]),
            14 | 18.. => (fields[2], &fields[3..]),
            7 => (fields[2], &fields[3..]),
            _ => return Err(bad("field count")),
        };
        let n = |i: usize| -> Result<u64, ParseError> {
            numbers
                .get(i)
                .and_then(|word| word.parse().ok())
                .ok_or_else(|| bad("counter"))
        };
        let stats = if fields.len() == 7 {
            DiskStats {
                device: device.to_owned(),
                operations: [n(0)?, n(2)?],
                sectors: [n(1)?, n(3)?],
                time_ms: [0, 0],
                io_time_ms: 0,
            }
        } else {
            // reads, merged, sectors, ms, writes, merged, sectors, ms, in flight, busy ms
            let reads = if fields.len() == 15 {
                // 2.4 puts the read count before the name.
                fields[2].parse().map_err(|_| bad("counter"))?
            } else {
                n(0)?
            };
            let shift = usize::from(fields.len() == 15);
            let n = |i: usize| n(i - shift);
            DiskStats {
                device: device.to_owned(),
                operations: [reads, n(4)?],
                sectors: [n(2)?, n(6)?],
                time_ms: [n(3)?, n(7)?],
                io_time_ms: n(9)?,
            }
        };
        out.push(stats);
    }
    Ok(out)
}

pub(crate) fn collect(
    text: &str,
    at: Instant,
    rates: &mut Rates,
) -> Result<Vec<Sample>, ParseError> {
    let disks = parse(text)?;
    let mut out = Vec::with_capacity(disks.len() * 13);
    for disk in &disks {
        let device = disk.device.as_str();
        for (i, direction) in ["read", "write"].into_iter().enumerate() {
            let labels = [("device", device), ("direction", direction)];
            let bytes = disk.sectors[i].saturating_mul(SECTOR_BYTES);
            rates.counter(&mut out, IO, IO_RATE, &labels, bytes, Width::U64, at);
            let ops = disk.operations[i];
            rates.counter(
                &mut out,
                OPERATIONS,
                OPERATIONS_RATE,
                &labels,
                ops,
                Width::U64,
                at,
            );
            out.push(sample(
                OPERATION_TIME,
                &labels,
                disk.time_ms[i] as f64 / 1000.0,
            ));
        }
        let labels = [("device", device)];
        let busy = sample(IO_TIME, &labels, disk.io_time_ms as f64 / 1000.0);
        // Milliseconds busy per second elapsed, / 1000: the busy share. The
        // clamp absorbs the kernel accounting a request's time at completion.
        if let Some(ms_per_s) =
            rates.rate(UTILIZATION, &busy.labels, disk.io_time_ms, Width::U32, at)
        {
            out.push(sample(
                UTILIZATION,
                &labels,
                (ms_per_s / 1000.0).clamp(0.0, 1.0),
            ));
        }
        out.push(busy);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This development VM's `/proc/diskstats` (kernel 6.x, 20 fields) plus a
    /// partition line in each older layout.
    const SAMPLE: &str = "   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 254       0 vda 32065 6211 2900042 9963 25264 30168 3939208 37410 0 8140 50096 10432 46 1010064 1577 4688 1145
 254       1 vda1 31000 6000 2800000 9000 25000 30000 3900000 37000 0 8000 50000 10000 40 1000000 1500 0 0
   3       1 hda1 8 16 32 64
   3       0   9 hda 8 18 10 16 20 11 22 12 13 14 15
";

    #[test]
    fn parses_every_layout() {
        let disks = parse(SAMPLE).expect("valid");
        let names: Vec<&str> = disks.iter().map(|d| d.device.as_str()).collect();
        assert_eq!(names, ["loop0", "vda", "vda1", "hda1", "hda"]);
        assert_eq!(
            disks[1],
            DiskStats {
                device: "vda".into(),
                operations: [32065, 25264],
                sectors: [2900042, 3939208],
                time_ms: [9963, 37410],
                io_time_ms: 8140,
            }
        );
        assert_eq!(
            disks[3],
            DiskStats {
                device: "hda1".into(),
                operations: [8, 32],
                sectors: [16, 64],
                time_ms: [0, 0],
                io_time_ms: 0,
            }
        );
        // 2.4: "major minor reads name merged sectors ms writes merged sectors
        // ms in-flight busy weighted".
        assert_eq!(disks[4].operations, [9, 16]);
        assert_eq!(disks[4].sectors, [18, 11]);
        assert_eq!(disks[4].time_ms, [10, 22]);
        assert_eq!(disks[4].io_time_ms, 13);
    }

    #[test]
    fn malformed_or_truncated_lines_are_errors() {
        for (text, expected) in [
            ("254 0 vda 1 2 3\n", "/proc/diskstats: line 1 is malformed (field count): \"254 0 vda 1 2 3\""),
            (&SAMPLE[..150], "/proc/diskstats: line 2 is malformed (field count): \" 254       0 vda 32065 6211 2900042 9963 25264 30168 3939208 37410 0 8140 50096 10432 46 1010064 \""),
            ("3 1 hda1 8 x 32 64\n", "/proc/diskstats: line 1 is malformed (counter): \"3 1 hda1 8 x 32 64\""),
        ] {
            assert_eq!(parse(text).expect_err(text).to_string(), expected);
        }
        assert_eq!(parse("").expect("empty is no disk"), []);
    }

    #[test]
    fn bytes_rates_and_utilization() {
        let mut rates = Rates::default();
        let start = Instant::now();
        let line =
            |sectors: u64, busy: u64| format!("8 0 sda 10 0 {sectors} 5 20 0 0 7 0 {busy} 12\n");
        let first = collect(&line(100, 1000), start, &mut rates).expect("valid");
        assert!(first
            .iter()
            .all(|s| !s.name.ends_with(".rate") && s.name != UTILIZATION));
        let later = start + std::time::Duration::from_secs(2);
        let second = collect(&line(300, 1500), later, &mut rates).expect("valid");
        let get = |name: &str, direction: Option<&str>| {
            second
                .iter()
                .find(|s| {
                    s.name == name && s.labels.get("direction").map(String::as_str) == direction
                })
                .map(|s| s.value)
        };
        assert_eq!(get(IO, Some("read")), Some(300.0 * 512.0));
        assert_eq!(get(IO_RATE, Some("read")), Some(100.0 * 512.0));
        assert_eq!(get(OPERATIONS_RATE, Some("write")), Some(0.0));
        assert_eq!(get(OPERATION_TIME, Some("write")), Some(0.007));
        assert_eq!(get(IO_TIME, None), Some(1.5));
        // 500 ms busy in 2 s.
        assert_eq!(get(UTILIZATION, None), Some(0.25));
    }
}
