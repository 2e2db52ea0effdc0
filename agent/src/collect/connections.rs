//! Open TCP and UDP sockets by state, from `/proc/net/{tcp,tcp6,udp,udp6}`
//! (`netstat -an | count`): psutil's `net_connections(kind="inet")` grouped by
//! `(type, status)`.
//!
//! Every TCP state is reported, zeros included, so a series does not vanish
//! when its count drops to 0. UDP sockets have no state; psutil calls it
//! `NONE` and so do we. Two differences from psutil, both documented in the
//! README: psutil puts the sockets in a set and so merges entries it cannot
//! tell apart (no owning process visible and identical addresses, such as two
//! unbound sockets), which we count separately; and it maps each socket to its
//! process through every `/proc/PID/fd`, which we never do (that walk is what
//! makes `net_connections()` slow).

use common::model::Sample;

use super::{sample, ParseError};

/// Count of sockets, labels `protocol` ∈ tcp, udp and `state`.
pub const CONNECTIONS: &str = "system.network.connections";

/// The kernel's TCP states by number (`include/net/tcp_states.h`), named as
/// psutil names them.
const TCP_STATES: [&str; 11] = [
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

/// A state number outside [`TCP_STATES`] (a kernel newer than this code).
const UNKNOWN: &str = "UNKNOWN";

/// Sockets per TCP state (index = kernel state − 1) plus unknown ones.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct TcpCounts {
    pub by_state: [u64; 11],
    pub unknown: u64,
}

/// Counts the entries of `/proc/net/tcp` or `tcp6` by their `st` column.
pub(crate) fn count_tcp(
    file: &'static str,
    text: &str,
    counts: &mut TcpCounts,
) -> Result<(), ParseError> {
    for_each_state(file, text, |state| {
        match usize::from(state).checked_sub(1) {
            Some(index) if index < TCP_STATES.len() => counts.by_state[index] += 1,
            _ => counts.unknown += 1,
        }
    })
}

/// Counts the entries of `/proc/net/udp` or `udp6`.
pub(crate) fn count_udp(file: &'static str, text: &str) -> Result<u64, ParseError> {
    let mut count = 0;
    for_each_state(file, text, |_| count += 1)?;
    Ok(count)
}

/// Calls `f` with the state of every socket line after the header. A line
/// whose fourth column is not a two-digit hex state is malformed.
fn for_each_state(file: &'static str, text: &str, mut f: impl FnMut(u8)) -> Result<(), ParseError> {
    for (number, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let state = line
            .split_ascii_whitespace()
            .nth(3)
            .filter(|st| st.len() == 2)
            .and_then(|st| u8::from_str_radix(st, 16).ok())
            .ok_or_else(|| ParseError::line(file, number + 1, line, "socket state"))?;
        f(state);
    }
    Ok(())
}

/// The samples from the counts of both address families.
pub(crate) fn samples(tcp: &TcpCounts, udp: u64) -> Vec<Sample> {
    let mut out = Vec::with_capacity(TCP_STATES.len() + 2);
    for (state, count) in TCP_STATES.into_iter().zip(tcp.by_state) {
        out.push(sample(
            CONNECTIONS,
            &[("protocol", "tcp"), ("state", state)],
            count as f64,
        ));
    }
    if tcp.unknown > 0 {
        out.push(sample(
            CONNECTIONS,
            &[("protocol", "tcp"), ("state", UNKNOWN)],
            tcp.unknown as f64,
        ));
    }
    out.push(sample(
        CONNECTIONS,
        &[("protocol", "udp"), ("state", "NONE")],
        udp as f64,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines from this development VM's `/proc/net/tcp`, shortened after the
    /// inode column.
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1CE8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21391 1
   1: 0100007F:A1B2 0100007F:1CE8 01 00000000:00000000 00:00000000 00000000     0        0 21392 1
   2: 0100007F:A1B4 0100007F:1CE8 06 00000000:00000000 03:00000F9E 00000000     0        0 0 3
   3: 0100007F:A1B6 0100007F:1CE8 0C 00000000:00000000 00:00000000 00000000     0        0 0 3
";
    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 1234 2 0000000000000000 0
";

    #[test]
    fn counts_tcp_by_state_and_udp_as_none() {
        let mut tcp = TcpCounts::default();
        count_tcp("/proc/net/tcp", TCP, &mut tcp).expect("valid");
        count_tcp("/proc/net/tcp6", TCP, &mut tcp).expect("valid");
        let udp = count_udp("/proc/net/udp", UDP).expect("valid");
        let rendered: Vec<String> = samples(&tcp, udp)
            .iter()
            .filter(|s| s.value > 0.0)
            .map(|s| format!("{} {} {}", s.labels["protocol"], s.labels["state"], s.value))
            .collect();
        assert_eq!(
            rendered,
            [
                "tcp ESTABLISHED 2",
                "tcp TIME_WAIT 2",
                "tcp LISTEN 2",
                "tcp UNKNOWN 2",
                "udp NONE 1"
            ]
        );
        // Every known state is always there, zeros included.
        assert_eq!(samples(&TcpCounts::default(), 0).len(), 12);
    }

    #[test]
    fn malformed_or_truncated_lines_are_errors() {
        let mut tcp = TcpCounts::default();
        let cut = TCP
            .find("   3: 0100007F:A1B6 0100007F:1CE8 0")
            .expect("line 4")
            + 35;
        let truncated = &TCP[..cut];
        let error = count_tcp("/proc/net/tcp", truncated, &mut tcp).expect_err("truncated");
        assert!(
            error
                .to_string()
                .starts_with("/proc/net/tcp: line 5 is malformed (socket state)"),
            "{error}"
        );
        for line in [
            "   0: 0100007F:1CE8 00000000:0000",
            "   0: a b XYZ",
            "   0: a b G1",
        ] {
            let error = count_udp("/proc/net/udp", &format!("header\n{line}\n")).expect_err(line);
            assert_eq!(
                error.to_string(),
                format!("/proc/net/udp: line 2 is malformed (socket state): {line:?}")
            );
        }
        assert_eq!(
            count_udp("/proc/net/udp", "header only\n").expect("empty"),
            0
        );
    }
}
