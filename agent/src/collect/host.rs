//! Host facts (sent once per connection) and uptime.

use common::model::{HostFacts, Sample};
use sysinfo::System;

use super::{sample, CollectError, Result};

/// Seconds since boot; psutil `time.time() - boot_time()`.
pub const UPTIME: &str = "system.uptime";

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
