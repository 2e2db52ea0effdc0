//! Metric names the simulator emits beyond those of [`crate::collect`]'s
//! original families. The real collector is gaining the same families; until
//! the names are unified in one place they are spelled here, exactly as the
//! collector spells them (OpenTelemetry system-metrics style).
//!
//! Every cumulative counter named here has a `.rate` twin: the difference of
//! two consecutive readings over the seconds between them, skipped on the first
//! reading and after a reboot, as the real collector does.

/// Cumulative seconds per `state` (user, nice, system, idle, iowait, irq,
/// softirq, steal); `cpu=cpuN` per core, no `cpu` label for the whole machine.
pub const CPU_TIME: &str = "system.cpu.time";
pub const CPU_CONTEXT_SWITCHES: &str = "system.cpu.context_switches";
pub const CPU_CONTEXT_SWITCHES_RATE: &str = "system.cpu.context_switches.rate";
pub const CPU_INTERRUPTS: &str = "system.cpu.interrupts";
pub const CPU_INTERRUPTS_RATE: &str = "system.cpu.interrupts.rate";

/// Pages swapped, `direction` ∈ in, out.
pub const PAGING_OPERATIONS: &str = "system.paging.operations";
pub const PAGING_OPERATIONS_RATE: &str = "system.paging.operations.rate";

/// Bytes, `device`, `direction` ∈ read, write.
pub const DISK_IO: &str = "system.disk.io";
pub const DISK_IO_RATE: &str = "system.disk.io.rate";
pub const DISK_OPERATIONS: &str = "system.disk.operations";
pub const DISK_OPERATIONS_RATE: &str = "system.disk.operations.rate";
/// Seconds spent on operations, `device`, `direction`.
pub const DISK_OPERATION_TIME: &str = "system.disk.operation_time";
/// Seconds with at least one operation in flight, `device`.
pub const DISK_IO_TIME: &str = "system.disk.io_time";
/// Busy fraction of the last interval, `device`.
pub const DISK_UTILIZATION: &str = "system.disk.utilization";

pub const NETWORK_PACKETS_RATE: &str = "system.network.packets.rate";
pub const NETWORK_ERRORS_RATE: &str = "system.network.errors.rate";
pub const NETWORK_DROPPED: &str = "system.network.dropped";
pub const NETWORK_DROPPED_RATE: &str = "system.network.dropped.rate";

pub const TCP_RETRANSMITS: &str = "system.network.tcp.retransmits";
pub const TCP_RETRANSMITS_RATE: &str = "system.network.tcp.retransmits.rate";
pub const TCP_RESETS: &str = "system.network.tcp.resets";
pub const TCP_RESETS_RATE: &str = "system.network.tcp.resets.rate";
/// `type` ∈ active, passive.
pub const TCP_OPENS: &str = "system.network.tcp.opens";
pub const TCP_OPENS_RATE: &str = "system.network.tcp.opens.rate";
/// `type` ∈ attempt_fails, in_errs, estab_resets.
pub const TCP_ERRORS: &str = "system.network.tcp.errors";
pub const TCP_ERRORS_RATE: &str = "system.network.tcp.errors.rate";
/// `direction` ∈ receive, transmit.
pub const UDP_DATAGRAMS: &str = "system.network.udp.datagrams";
pub const UDP_DATAGRAMS_RATE: &str = "system.network.udp.datagrams.rate";
/// `type` ∈ in_errors, no_ports, rcvbuf_errors.
pub const UDP_ERRORS: &str = "system.network.udp.errors";
pub const UDP_ERRORS_RATE: &str = "system.network.udp.errors.rate";
/// Sockets, `protocol` ∈ tcp, udp and `state` (TCP states as psutil names
/// them; UDP sockets are `NONE`).
pub const NETWORK_CONNECTIONS: &str = "system.network.connections";

/// Processes per `status`.
pub const PROCESSES_COUNT: &str = "system.processes.count";
pub const PROCESSES_CREATED: &str = "system.processes.created";
pub const PROCESSES_CREATED_RATE: &str = "system.processes.created.rate";

/// °C, `chip`, `sensor`.
pub const HW_TEMPERATURE: &str = "hw.temperature";
/// rpm, `chip`, `sensor`.
pub const HW_FAN_SPEED: &str = "hw.fan.speed";
/// Watts drawn, `chip=psu`, `sensor=psuN` (simulated hosts only).
pub const HW_POWER: &str = "hw.power";

/// Unix seconds of the last boot.
pub const BOOT_TIME: &str = "system.boot_time";
pub const FILE_DESCRIPTORS_USAGE: &str = "system.file_descriptors.usage";
pub const FILE_DESCRIPTORS_LIMIT: &str = "system.file_descriptors.limit";

/// Application metrics of web and api hosts (simulated only): p95 latency in
/// seconds, share of requests that failed, requests per second.
pub const APP_REQUEST_LATENCY: &str = "app.request.latency";
pub const APP_REQUEST_ERROR_RATIO: &str = "app.request.error_ratio";
pub const APP_REQUEST_RATE: &str = "app.request.rate";

/// CPU time states in `/proc/stat` column order.
pub const CPU_STATES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// TCP states in kernel order, as psutil names them.
pub const TCP_STATES: [&str; 11] = [
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
];

/// Process statuses, every one reported (zeros included).
pub const PROCESS_STATUSES: [&str; 11] = [
    "running",
    "sleeping",
    "disk_sleep",
    "stopped",
    "tracing_stop",
    "zombie",
    "dead",
    "wake_kill",
    "waking",
    "idle",
    "parked",
];
