//! TCP and UDP protocol counters of the host's network namespace, from
//! `/proc/net/snmp` (`netstat -s`). psutil has no equivalent; the names follow
//! the OpenTelemetry system-metrics style. The counters are `unsigned long` in
//! the kernel, 64-bit on a 64-bit kernel: a decrease is a reset.

use std::collections::HashMap;
use std::time::Instant;

use common::model::Sample;

use super::rate::{Rates, Width};
use super::ParseError;

/// Segments retransmitted: `Tcp: RetransSegs`.
pub const TCP_RETRANSMITS: &str = "system.network.tcp.retransmits";
pub const TCP_RETRANSMITS_RATE: &str = "system.network.tcp.retransmits.rate";
/// Resets sent: `Tcp: OutRsts`.
pub const TCP_RESETS: &str = "system.network.tcp.resets";
pub const TCP_RESETS_RATE: &str = "system.network.tcp.resets.rate";
/// `type` ∈ active, passive: `Tcp: ActiveOpens`, `PassiveOpens`.
pub const TCP_OPENS: &str = "system.network.tcp.opens";
pub const TCP_OPENS_RATE: &str = "system.network.tcp.opens.rate";
/// `type` ∈ attempt_fails, in_errs, estab_resets: `Tcp: AttemptFails`, `InErrs`,
/// `EstabResets`.
pub const TCP_ERRORS: &str = "system.network.tcp.errors";
pub const TCP_ERRORS_RATE: &str = "system.network.tcp.errors.rate";
/// `direction` ∈ receive, transmit: `Udp: InDatagrams`, `OutDatagrams`.
pub const UDP_DATAGRAMS: &str = "system.network.udp.datagrams";
pub const UDP_DATAGRAMS_RATE: &str = "system.network.udp.datagrams.rate";
/// `type` ∈ in_errors, no_ports, rcvbuf_errors: `Udp: InErrors`, `NoPorts`,
/// `RcvbufErrors`.
pub const UDP_ERRORS: &str = "system.network.udp.errors";
pub const UDP_ERRORS_RATE: &str = "system.network.udp.errors.rate";

/// (metric, rate, label key, label value, section, field) for every series.
const SERIES: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        TCP_RETRANSMITS,
        TCP_RETRANSMITS_RATE,
        "",
        "",
        "Tcp",
        "RetransSegs",
    ),
    (TCP_RESETS, TCP_RESETS_RATE, "", "", "Tcp", "OutRsts"),
    (
        TCP_OPENS,
        TCP_OPENS_RATE,
        "type",
        "active",
        "Tcp",
        "ActiveOpens",
    ),
    (
        TCP_OPENS,
        TCP_OPENS_RATE,
        "type",
        "passive",
        "Tcp",
        "PassiveOpens",
    ),
    (
        TCP_ERRORS,
        TCP_ERRORS_RATE,
        "type",
        "attempt_fails",
        "Tcp",
        "AttemptFails",
    ),
    (
        TCP_ERRORS,
        TCP_ERRORS_RATE,
        "type",
        "in_errs",
        "Tcp",
        "InErrs",
    ),
    (
        TCP_ERRORS,
        TCP_ERRORS_RATE,
        "type",
        "estab_resets",
        "Tcp",
        "EstabResets",
    ),
    (
        UDP_DATAGRAMS,
        UDP_DATAGRAMS_RATE,
        "direction",
        "receive",
        "Udp",
        "InDatagrams",
    ),
    (
        UDP_DATAGRAMS,
        UDP_DATAGRAMS_RATE,
        "direction",
        "transmit",
        "Udp",
        "OutDatagrams",
    ),
    (
        UDP_ERRORS,
        UDP_ERRORS_RATE,
        "type",
        "in_errors",
        "Udp",
        "InErrors",
    ),
    (
        UDP_ERRORS,
        UDP_ERRORS_RATE,
        "type",
        "no_ports",
        "Udp",
        "NoPorts",
    ),
    (
        UDP_ERRORS,
        UDP_ERRORS_RATE,
        "type",
        "rcvbuf_errors",
        "Udp",
        "RcvbufErrors",
    ),
];

/// Parses the `Section: names…` / `Section: values…` line pairs of
/// `/proc/net/snmp` (and `/proc/net/netstat`, same layout) into
/// (section, field) → value text. Values stay text: some are signed
/// (`Tcp: MaxConn` is -1) and only the ones asked for are parsed.
pub(crate) fn parse_sections<'a>(
    file: &'static str,
    text: &'a str,
) -> Result<HashMap<(&'a str, &'a str), &'a str>, ParseError> {
    let mut out = HashMap::new();
    let mut lines = text.lines().enumerate();
    while let Some((number, line)) = lines.next() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |number: usize, line, what| ParseError::line(file, number + 1, line, what);
        let (section, names) = line
            .split_once(':')
            .ok_or_else(|| bad(number, line, "no section"))?;
        let Some((_, values_line)) = lines.next() else {
            return Err(bad(number, line, "names without values"));
        };
        let bad = |what| bad(number + 1, values_line, what);
        let values = match values_line.split_once(':') {
            Some((s, values)) if s == section => values,
            _ => return Err(bad("values of another section")),
        };
        let (names, values): (Vec<_>, Vec<_>) = (
            names.split_ascii_whitespace().collect(),
            values.split_ascii_whitespace().collect(),
        );
        if names.len() != values.len() {
            return Err(bad("as many values as names"));
        }
        out.extend(names.into_iter().map(|name| (section, name)).zip(values));
    }
    Ok(out)
}

pub(crate) fn collect(
    snmp: &str,
    at: Instant,
    rates: &mut Rates,
) -> Result<Vec<Sample>, ParseError> {
    let fields = parse_sections("/proc/net/snmp", snmp)?;
    let mut out = Vec::with_capacity(SERIES.len() * 2);
    for &(name, rate_name, key, label, section, field) in SERIES {
        let value = fields
            .get(&(section, field))
            .ok_or(ParseError::Missing {
                file: "/proc/net/snmp",
                what: field,
            })?
            .parse()
            .map_err(|_| ParseError::Value {
                file: "/proc/net/snmp",
                what: field,
            })?;
        let labels: &[(&str, &str)] = if key.is_empty() { &[] } else { &[(key, label)] };
        rates.counter(&mut out, name, rate_name, labels, value, Width::U64, at);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This development VM's `/proc/net/snmp`, trimmed to three sections.
    const SAMPLE: &str = "Ip: Forwarding DefaultTTL InReceives
Ip: 2 64 6702
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
Tcp: 1 200 120000 -1 73 42 11 7 6 6658 4903 5 1 24 0
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 43 2 3 44 4 0 0 0 0
";

    fn values(text: &str) -> Vec<String> {
        let mut rates = Rates::default();
        collect(text, Instant::now(), &mut rates)
            .expect("valid")
            .iter()
            .map(|s| {
                let labels: Vec<&str> = s.labels.values().map(String::as_str).collect();
                format!("{}{labels:?} = {}", s.name, s.value)
            })
            .collect()
    }

    #[test]
    fn reads_tcp_and_udp_counters() {
        assert_eq!(
            values(SAMPLE),
            [
                "system.network.tcp.retransmits[] = 5",
                "system.network.tcp.resets[] = 24",
                "system.network.tcp.opens[\"active\"] = 73",
                "system.network.tcp.opens[\"passive\"] = 42",
                "system.network.tcp.errors[\"attempt_fails\"] = 11",
                "system.network.tcp.errors[\"in_errs\"] = 1",
                "system.network.tcp.errors[\"estab_resets\"] = 7",
                "system.network.udp.datagrams[\"receive\"] = 43",
                "system.network.udp.datagrams[\"transmit\"] = 44",
                "system.network.udp.errors[\"in_errors\"] = 3",
                "system.network.udp.errors[\"no_ports\"] = 2",
                "system.network.udp.errors[\"rcvbuf_errors\"] = 4",
            ]
        );
    }

    #[test]
    fn malformed_or_truncated_files_are_errors() {
        let mut rates = Rates::default();
        let truncated = &SAMPLE[..SAMPLE.len() - 10];
        let no_udp = SAMPLE.lines().take(4).collect::<Vec<_>>().join("\n");
        let negative = SAMPLE.replace(" 5 1 24 0", " -5 1 24 0");
        let orphan = format!("{SAMPLE}Icmp: InMsgs\n");
        for (text, expected) in [
            (truncated, "/proc/net/snmp: line 6 is malformed (as many values as names): \"Udp: 43 2 3 44 \""),
            (&no_udp, "/proc/net/snmp has no InDatagrams"),
            (&negative, "/proc/net/snmp: RetransSegs is not a counter"),
            (&orphan, "/proc/net/snmp: line 7 is malformed (names without values): \"Icmp: InMsgs\""),
            ("Ip 1 2\n", "/proc/net/snmp: line 1 is malformed (no section): \"Ip 1 2\""),
        ] {
            let error = collect(text, Instant::now(), &mut rates).expect_err(text);
            assert_eq!(error.to_string(), expected);
        }
    }
}
