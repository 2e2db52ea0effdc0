//! The per-process files we read: `/proc/PID/stat` for every process each
//! refresh, `/proc/PID/status` and `cmdline` only for the top list.

use crate::collect::ParseError;

/// What we use of one `/proc/PID/stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PidStat {
    /// `comm`: the executable name, cut by the kernel at 15 bytes.
    pub comm: String,
    /// One letter (`R`, `S`, `D`, `Z`, …).
    pub state: char,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    /// Clock ticks after boot at which the process started: with the pid, an
    /// identity that survives pid reuse.
    pub start_ticks: u64,
    /// Resident pages (the same count as `statm`'s second field).
    pub rss_pages: u64,
}

/// Parses `/proc/PID/stat`. The name sits between the first `(` and the *last*
/// `)`, since it may itself contain spaces and parentheses.
pub(crate) fn parse_stat(text: &str) -> Result<PidStat, ParseError> {
    let bad = |what| ParseError::line("/proc/PID/stat", 1, text, what);
    let open = text.find('(').ok_or_else(|| bad("no name"))?;
    let close = text
        .rfind(')')
        .filter(|&c| c > open)
        .ok_or_else(|| bad("no name"))?;
    let comm = text[open + 1..close].to_owned();
    // Fields after the name, numbered from 0 = state (field 3 in proc(5)).
    let fields: Vec<&str> = text[close + 1..].split_ascii_whitespace().collect();
    let number = |i: usize| -> Result<u64, ParseError> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| bad("field"))
    };
    let mut state = fields.first().ok_or_else(|| bad("no state"))?.chars();
    let state = match (state.next(), state.next()) {
        (Some(letter), None) => letter,
        _ => return Err(bad("state")),
    };
    // proc(5): utime 14, stime 15, starttime 22, rss 24.
    let cpu_ticks = number(11)?.saturating_add(number(12)?);
    // rss is a signed long, and can be read as negative briefly while a process
    // exits; that is no memory.
    let rss_pages = fields
        .get(21)
        .and_then(|f| f.parse::<i64>().ok())
        .ok_or_else(|| bad("rss"))?;
    Ok(PidStat {
        comm,
        state,
        cpu_ticks,
        start_ticks: number(19)?,
        rss_pages: u64::try_from(rss_pages).unwrap_or(0),
    })
}

/// psutil's status name for a state letter (`psutil._pslinux.PROC_STATUSES`).
pub(crate) fn status_name(state: char) -> &'static str {
    match state {
        'R' => "running",
        'S' => "sleeping",
        'D' => "disk_sleep",
        'T' => "stopped",
        't' => "tracing_stop",
        'Z' => "zombie",
        'X' | 'x' => "dead",
        'K' => "wake_kill",
        'W' => "waking",
        'I' => "idle",
        'P' => "parked",
        _ => "unknown",
    }
}

/// Every status name [`status_name`] can return for a known letter, in a fixed
/// order: the counts report each of them, zeros included.
pub(crate) const STATUSES: [&str; 11] = [
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

/// The real uid from `/proc/PID/status` (`Uid:` real, effective, saved, fs),
/// the one psutil's `username()` uses.
pub(crate) fn parse_real_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))?
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Resident pages, the second field of `/proc/PID/statm` (psutil's
/// `memory_info().rss` / page size).
pub(crate) fn parse_statm_resident(statm: &str) -> Option<u64> {
    statm.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// psutil's `name()`: `comm`, unless the kernel cut it at 15 bytes and the
/// basename of the first `cmdline` argument extends it.
pub(crate) fn full_name(comm: &str, cmdline: &[u8]) -> String {
    if comm.len() < 15 {
        return comm.to_owned();
    }
    let first = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    let first = String::from_utf8_lossy(first);
    let base = first.rsplit('/').next().unwrap_or_default();
    if base.starts_with(comm) {
        base.to_owned()
    } else {
        comm.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAT: &str = "21142 (cat) R 21140 21140 8560 0 -1 4194304 97 0 0 0 7 3 0 0 20 0 1 0 52247 3133440 361 18446744073709551615 93851312721920 93851312741801 0 0 17 1 0 0 0 0";

    #[test]
    fn parses_a_real_stat_line() {
        assert_eq!(
            parse_stat(CAT).expect("valid"),
            PidStat {
                comm: "cat".into(),
                state: 'R',
                cpu_ticks: 10,
                start_ticks: 52247,
                rss_pages: 361,
            }
        );
    }

    #[test]
    fn names_with_spaces_and_parentheses() {
        let text = CAT.replace("(cat)", "(a) b (c)");
        assert_eq!(parse_stat(&text).expect("valid").comm, "a) b (c");
    }

    #[test]
    fn malformed_or_truncated_lines_are_errors() {
        for (text, what) in [
            ("", "no name"),
            ("12 cat R 1", "no name"),
            ("12 (cat) ", "no state"),
            ("12 (cat) RS 1", "state"),
            (&CAT[..60], "rss"),
            (&CAT.replace(" 7 3 ", " x 3 "), "field"),
        ] {
            let error = parse_stat(text).expect_err(text);
            assert!(
                error.to_string().contains(&format!("({what})")),
                "{text}: {error}"
            );
        }
        let exiting = CAT.replace(" 361 ", " -1 ");
        assert_eq!(parse_stat(&exiting).expect("valid").rss_pages, 0);
    }

    #[test]
    fn statuses_as_psutil_names_them() {
        let names: Vec<&str> = "RSDTtZXxKWIP?".chars().map(status_name).collect();
        assert_eq!(
            names,
            [
                "running",
                "sleeping",
                "disk_sleep",
                "stopped",
                "tracing_stop",
                "zombie",
                "dead",
                "dead",
                "wake_kill",
                "waking",
                "idle",
                "parked",
                "unknown"
            ]
        );
    }

    #[test]
    fn real_uid_is_the_first_of_four() {
        assert_eq!(
            parse_real_uid("Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t0\n"),
            Some(1000)
        );
        assert_eq!(parse_real_uid("Name:\tx\n"), None);
        assert_eq!(parse_real_uid("Uid:\tabc\n"), None);
    }

    #[test]
    fn statm_resident_is_the_second_field() {
        assert_eq!(parse_statm_resident("765 361 318 5 0 92 0\n"), Some(361));
        assert_eq!(parse_statm_resident("765"), None);
        assert_eq!(parse_statm_resident("765 x"), None);
    }

    #[test]
    fn long_names_come_from_the_command_line() {
        assert_eq!(full_name("bash", b"/bin/bash\0-l\0"), "bash");
        assert_eq!(
            full_name("hostwatch-agent", b"/usr/bin/hostwatch-agent\0--once\0"),
            "hostwatch-agent"
        );
        assert_eq!(full_name("hostwatch-agen", b"x"), "hostwatch-agen");
        assert_eq!(
            full_name("systemd-journal", b"/lib/systemd/systemd-journald\0"),
            "systemd-journald"
        );
        assert_eq!(full_name("kworker/0:1-eve", b""), "kworker/0:1-eve");
        assert_eq!(
            full_name("python3.11-long", b"/usr/bin/other\0"),
            "python3.11-long"
        );
    }
}
