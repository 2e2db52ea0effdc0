//! Host facts (sent once per connection), uptime, boot time and the kernel's
//! file handle table.

use common::model::{HostFacts, Sample};
use sysinfo::System;

use super::{sample, CollectError, ParseError, Result};

/// Seconds since boot; psutil `time.time() - boot_time()`.
pub const UPTIME: &str = "system.uptime";
/// Unix seconds; psutil `boot_time()` (both read `/proc/stat` `btime`).
pub const BOOT_TIME: &str = "system.boot_time";
/// File handles allocated and in use, system-wide: `/proc/sys/fs/file-nr`
/// first field minus the second (no psutil equivalent).
pub const FILE_DESCRIPTORS_USAGE: &str = "system.file_descriptors.usage";
/// The system-wide maximum, `/proc/sys/fs/file-nr` third field (`fs.file-max`).
pub const FILE_DESCRIPTORS_LIMIT: &str = "system.file_descriptors.limit";

/// Used when the OS will not tell us its name; the hub still needs some identity.
const UNKNOWN_HOSTNAME: &str = "localhost";

pub(crate) fn hostname() -> String {
    System::host_name().unwrap_or_else(|error| {
        tracing::warn!(%error, fallback = UNKNOWN_HOSTNAME, "hostname unavailable");
        UNKNOWN_HOSTNAME.to_owned()
    })
}

/// Facts from sysinfo's static queries plus the counts `system` already loaded;
/// anything the OS does not report is left empty or 0 rather than failing.
pub(crate) fn facts(system: Option<&System>) -> HostFacts {
    let os = System::long_os_version()
        .or_else(|_| System::name())
        .unwrap_or_default();
    HostFacts {
        hostname: hostname(),
        os,
        kernel: System::kernel_version().unwrap_or_default(),
        arch: System::cpu_arch(),
        cpu_count: system.map_or(0, |s| u32::try_from(s.cpus().len()).unwrap_or(u32::MAX)),
        memory_bytes: system.map_or(0, System::total_memory),
        boot_time: System::boot_time().unwrap_or_default(),
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        simulated: false,
    }
}

pub(crate) fn uptime() -> Result<Vec<Sample>> {
    let seconds = System::uptime().map_err(|error| CollectError::Sysinfo {
        what: "uptime",
        error,
    })?;
    Ok(vec![sample(UPTIME, &[], seconds as f64)])
}

pub(crate) fn boot_time(btime: u64) -> Vec<Sample> {
    vec![sample(BOOT_TIME, &[], btime as f64)]
}

/// `allocated  free  maximum` from `/proc/sys/fs/file-nr`. Since 2.6 the kernel
/// frees handles at once and `free` is always 0, but older kernels count it.
pub(crate) fn file_descriptors(file_nr: &str) -> Result<Vec<Sample>, ParseError> {
    let bad = || ParseError::line("/proc/sys/fs/file-nr", 1, file_nr, "three counters");
    let numbers: Vec<u64> = file_nr
        .split_ascii_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let [allocated, free, max] = numbers[..] else {
        return Err(bad());
    };
    Ok(vec![
        sample(
            FILE_DESCRIPTORS_USAGE,
            &[],
            allocated.saturating_sub(free) as f64,
        ),
        sample(FILE_DESCRIPTORS_LIMIT, &[], max as f64),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_nr() {
        let values = |text| -> Vec<f64> {
            file_descriptors(text)
                .expect("valid")
                .iter()
                .map(|s| s.value)
                .collect()
        };
        assert_eq!(values("987\t0\t2466174\n"), [987.0, 2466174.0]);
        assert_eq!(
            values("1000 24 9223372036854775807"),
            [976.0, 9.223372036854776e18]
        );
        for bad in ["", "1 2", "1 2 3 4", "1 x 3"] {
            let error = file_descriptors(bad).expect_err(bad);
            assert!(error.to_string().contains("three counters"), "{error}");
        }
    }
}
