#!/usr/bin/env python3
"""Compares `hostwatch-agent --once --format json` with psutil on this machine.

psutil is read right before the agent starts (B) and right after it exits (A).
The agent reads the host twice, one interval apart, strictly between the two,
so instead of widening tolerances blindly each value is held to what the
window [B, A] allows:

- totals (memory, swap, filesystem sizes, CPU count, device sets) must be equal,
  the boot time within 1 s;
- cumulative counters must lie between their B and A readings, exactly;
- every rate must be between 0 and (A - B) / interval: the agent's two reads
  fall inside the window and are at least one interval apart;
- CPU utilization must match the busy share of the ticks between B and the
  agent's own last reading, give or take the part of that span before the
  agent's first reading (computed, not guessed) and 2 points;
- other percentages (memory, swap, filesystems) within 2 points of the range
  spanned by B and A;
- counts of processes and sockets within the range spanned by B and A plus
  what the kernel counters say was created in between (forks, TCP opens) and a
  small constant for what no counter sees; see COUNT_SLACK.

Prints one row per metric and exits 1 on any mismatch, naming each.
Usage: psutil-parity.py PATH/TO/hostwatch-agent [--interval 1s]
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time

import psutil

# Events no kernel counter reports but which change a count within a window of
# about a second: a socket bound or put in LISTEN, a UDP socket for a DNS
# lookup, a process changing state without forking (stopped, exiting to a
# zombie, a kernel worker waking). Two such events per count.
COUNT_SLACK = 2
# Percentage points allowed on ratios, as the task asks (psutil rounds its
# percents to one decimal; the rest is what moves in a second).
POINTS = 0.02
# Handles the agent itself holds while it reads /proc/sys/fs/file-nr (stdio,
# epoll, eventfd, one per runtime thread, the file being read), which neither
# psutil reading sees, plus those of processes that lived only in between.
FD_SLACK = 64
# Since Linux 6.2 a process's RSS is a per-CPU counter and /proc shows the
# approximate sum: each CPU may hold up to a batch of max(32, 2 x CPUs) pages
# it has not folded in yet, so two reads of an unchanged process can differ.
RSS_SLACK = psutil.cpu_count() * max(32, 2 * psutil.cpu_count()) * os.sysconf("SC_PAGE_SIZE")
# psutil's swap_memory().sin/sout are pages x 4096, whatever the page size.
PSUTIL_SWAP_PAGE = 4096


def read_snmp():
    """/proc/net/snmp as {(section, field): int}; psutil has no equivalent."""
    out = {}
    with open("/proc/net/snmp") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        section, names = names.split(":", 1)
        _, values = values.split(":", 1)
        for name, value in zip(names.split(), values.split()):
            out[(section, name)] = int(value)
    return out


def read_forks():
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("processes "):
                return int(line.split()[1])
    raise RuntimeError("/proc/stat has no processes line")


def read_file_nr():
    with open("/proc/sys/fs/file-nr") as f:
        allocated, free, limit = (int(x) for x in f.read().split())
    return allocated - free, limit


def snapshot():
    """Everything psutil (and, where it has nothing, /proc) says, read back to back."""
    s = {"time": time.time()}
    s["cpu_count"] = psutil.cpu_count()
    s["cpu_times"] = psutil.cpu_times()
    s["cpu_times_percpu"] = psutil.cpu_times(percpu=True)
    s["cpu_stats"] = psutil.cpu_stats()
    s["boot_time"] = psutil.boot_time()
    s["loadavg"] = psutil.getloadavg()
    s["vm"] = psutil.virtual_memory()
    s["swap"] = psutil.swap_memory()
    s["disk_io"] = psutil.disk_io_counters(perdisk=True, nowrap=False)
    s["net_io"] = psutil.net_io_counters(pernic=True, nowrap=False)
    s["snmp"] = read_snmp()
    s["forks"] = read_forks()
    s["file_nr"] = read_file_nr()
    s["temperatures"] = psutil.sensors_temperatures()
    s["fans"] = psutil.sensors_fans()
    conns = {}
    for c in psutil.net_connections("inet"):
        proto = "tcp" if c.type == 1 else "udp"
        conns[(proto, c.status)] = conns.get((proto, c.status), 0) + 1
    s["connections"] = conns
    procs = {}
    attrs = ["name", "username", "status", "memory_info", "cpu_times", "create_time"]
    for p in psutil.process_iter(attrs):
        procs[p.pid] = p.info
    s["processes"] = procs
    return s


class Agent:
    def __init__(self, snapshot):
        self.snapshot = snapshot
        self.values = {}
        for s in snapshot["samples"]:
            key = (s["name"], tuple(sorted(s.get("labels", {}).items())))
            self.values[key] = s["value"]

    def get(self, name, **labels):
        return self.values.get((name, tuple(sorted(labels.items()))))

    def series(self, name):
        """[(labels dict, value)] of one metric."""
        return [(dict(k[1]), v) for k, v in self.values.items() if k[0] == name]


class Report:
    def __init__(self):
        self.rows = []
        self.failures = []

    def check(self, metric, source, rule, results):
        """results: [(series description, ok, detail)]."""
        bad = [(what, detail) for what, ok, detail in results if not ok]
        self.rows.append((metric, source, rule, len(results), "FAIL" if bad else "ok"))
        for what, detail in bad:
            self.failures.append(f"{metric} {what}: {detail}")

    def print(self):
        header = ("metric", "psutil / source", "rule", "series", "result")
        widths = [max(len(str(r[i])) for r in self.rows + [header]) for i in range(5)]
        line = "  ".join("{:<%d}" % w for w in widths)
        print(line.format(*header))
        print(line.format(*("-" * w for w in widths)))
        for row in self.rows:
            print(line.format(*row))


def between(what, value, low, high, eps=1e-9):
    if value is None:
        return (what, False, "missing from the agent's output")
    ok = low - eps * max(1.0, abs(low)) <= value <= high + eps * max(1.0, abs(high))
    return (what, ok, f"agent {value!r} not in [{low!r}, {high!r}]")


def equal(what, value, expected, tolerance=0.0):
    if value is None:
        return (what, False, "missing from the agent's output")
    return (what, abs(value - expected) <= tolerance, f"agent {value!r}, psutil {expected!r}")


def counter(report, agent, b, a, interval, metric, rate, source, series):
    """series: [(labels, before, after)]: value between, rate within the window."""
    report.check(metric, source, "B <= agent <= A", [
        between(str(labels), agent.get(metric, **labels), lo, hi) for labels, lo, hi in series
    ])
    if rate:
        report.check(rate, source, "0 <= rate <= (A-B)/interval", [
            between(str(labels), agent.get(rate, **labels), 0.0, (hi - lo) / interval)
            for labels, lo, hi in series
        ])


def cpu_checks(report, agent, b, a, interval):
    states = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
    series = [({"state": s}, getattr(b["cpu_times"], s), getattr(a["cpu_times"], s)) for s in states]
    for i, (tb, ta) in enumerate(zip(b["cpu_times_percpu"], a["cpu_times_percpu"])):
        series += [({"cpu": f"cpu{i}", "state": s}, getattr(tb, s), getattr(ta, s)) for s in states]
    counter(report, agent, b, a, interval, "system.cpu.time", None,
            "cpu_times(), cpu_times(percpu=True)", series)

    # Utilization: the agent's last reading X of the CPU times is in its output.
    # Over [B, X] psutil's formula gives u_BX; the agent's own window is the
    # last `interval` of it, so the two differ by at most the share of [B, X]
    # before the agent's first reading, plus 1 tick of rounding per CPU.
    results = []
    tick = 0.01
    ncpu = len(b["cpu_times_percpu"])
    for cpu, before in [(None, b["cpu_times"])] + [
        (f"cpu{i}", t) for i, t in enumerate(b["cpu_times_percpu"])
    ]:
        labels = {"cpu": cpu} if cpu else {}
        x = [agent.get("system.cpu.time", **labels, state=s) for s in states]
        if None in x:
            results.append((str(labels), False, "no system.cpu.time"))
            continue
        d = [max(0.0, xs - getattr(before, s)) for xs, s in zip(x, states)]
        total = sum(d)
        busy = total - d[3] - d[4]
        u_bx = busy / total if total > 0 else 0.0
        cpus = ncpu if cpu is None else 1
        before_first = max(0.0, total - cpus * interval) + cpus * tick
        allowance = (before_first / total if total > 0 else 1.0) + POINTS
        results.append(equal(str(labels), agent.get("system.cpu.utilization", **labels), u_bx, allowance))
    report.check("system.cpu.utilization", "cpu_percent() over [B, agent]",
                 "computed window share + 2 pt", results)

    report.check("system.cpu.logical.count", "cpu_count()", "equal",
                 [equal("", agent.get("system.cpu.logical.count"), b["cpu_count"])])
    for field, metric in [("ctx_switches", "system.cpu.context_switches"),
                          ("interrupts", "system.cpu.interrupts")]:
        counter(report, agent, b, a, interval, metric, metric + ".rate", f"cpu_stats().{field}",
                [({}, getattr(b["cpu_stats"], field), getattr(a["cpu_stats"], field))])
    # /proc/loadavg (the agent's source) prints 2 decimals, rounded in fixed
    # point; psutil's getloadavg() has full precision: 0.01 apart at most.
    report.check("system.cpu.load_average.*", "getloadavg()", "between B and A +- 0.01", [
        between(m, agent.get(f"system.cpu.load_average.{m}"), min(lb, la) - 0.01, max(lb, la) + 0.01)
        for m, lb, la in zip(["1m", "5m", "15m"], b["loadavg"], a["loadavg"])
    ])


def memory_checks(report, agent, b, a):
    total = b["vm"].total
    report.check("system.memory.limit", "virtual_memory().total", "equal",
                 [equal("", agent.get("system.memory.limit"), total)])
    results = []
    for state in ["used", "free", "available", "buffers", "cached", "shared"]:
        vb, va = getattr(b["vm"], state) / total, getattr(a["vm"], state) / total
        value = agent.get("system.memory.usage", state=state)
        results.append(between(state, None if value is None else value / total,
                               min(vb, va) - POINTS, max(vb, va) + POINTS))
    report.check("system.memory.usage", "virtual_memory() fields", "share of total +-2 pt", results)
    pb, pa = b["vm"].percent / 100, a["vm"].percent / 100
    report.check("system.memory.utilization", "virtual_memory().percent", "+-2 pt", [
        between("", agent.get("system.memory.utilization"), min(pb, pa) - POINTS, max(pb, pa) + POINTS)
    ])
    used = agent.get("system.paging.usage", state="used")
    free = agent.get("system.paging.usage", state="free")
    report.check("system.paging.usage", "swap_memory().total", "used + free equal", [
        equal("", None if used is None or free is None else used + free, b["swap"].total)
    ])
    sb, sa = b["swap"].percent / 100, a["swap"].percent / 100
    report.check("system.paging.utilization", "swap_memory().percent", "+-2 pt", [
        between("", agent.get("system.paging.utilization"), min(sb, sa) - POINTS, max(sb, sa) + POINTS)
    ])


def filesystem_checks(report, agent):
    totals, utilizations = [], []
    limits = agent.series("system.filesystem.limit")
    for labels, limit in limits:
        mountpoint = labels["mountpoint"]
        before = psutil.disk_usage(mountpoint)
        totals.append(equal(mountpoint, limit, before.total))
        util = agent.get("system.filesystem.utilization", **labels)
        p = before.percent / 100
        utilizations.append(between(mountpoint, util, p - POINTS, p + POINTS))
    if not limits:
        totals.append(("", False, "the agent reported no filesystem"))
    report.check("system.filesystem.limit", "disk_usage(mp).total", "equal", totals)
    report.check("system.filesystem.utilization", "disk_usage(mp).percent", "+-2 pt", utilizations)


def disk_checks(report, agent, b, a, interval):
    devices = sorted(a["disk_io"])
    agent_devices = sorted({l["device"] for l, _ in agent.series("system.disk.io")})
    report.check("system.disk.* devices", "disk_io_counters(perdisk=True)", "same set", [
        ("", agent_devices == devices, f"agent {agent_devices}, psutil {devices}")
    ])
    common = [d for d in devices if d in b["disk_io"]]
    for metric, rate, fields, scale in [
        ("system.disk.io", "system.disk.io.rate", ("read_bytes", "write_bytes"), 1),
        ("system.disk.operations", "system.disk.operations.rate", ("read_count", "write_count"), 1),
        ("system.disk.operation_time", None, ("read_time", "write_time"), 1000),
    ]:
        series = []
        for d in common:
            for direction, field in zip(("read", "write"), fields):
                series.append(({"device": d, "direction": direction},
                               getattr(b["disk_io"][d], field) / scale,
                               getattr(a["disk_io"][d], field) / scale))
        counter(report, agent, b, a, interval, metric, rate, "disk_io_counters(perdisk=True)." +
                "/".join(fields), series)
    series = [({"device": d}, b["disk_io"][d].busy_time / 1000, a["disk_io"][d].busy_time / 1000)
              for d in common]
    counter(report, agent, b, a, interval, "system.disk.io_time", None, "busy_time", series)
    report.check("system.disk.utilization", "busy_time", "0 <= u <= (A-B)/interval", [
        between(str(l), agent.get("system.disk.utilization", **l), 0.0, min(1.0, (hi - lo) / interval))
        for l, lo, hi in series
    ])


def network_checks(report, agent, b, a, interval):
    nics = sorted(a["net_io"])
    agent_nics = sorted({l["device"] for l, _ in agent.series("system.network.io")})
    report.check("system.network.* devices", "net_io_counters(pernic=True)", "same set", [
        ("", agent_nics == nics, f"agent {agent_nics}, psutil {nics}")
    ])
    common = [n for n in nics if n in b["net_io"]]
    for metric, fields in [
        ("system.network.io", ("bytes_recv", "bytes_sent")),
        ("system.network.packets", ("packets_recv", "packets_sent")),
        ("system.network.errors", ("errin", "errout")),
        ("system.network.dropped", ("dropin", "dropout")),
    ]:
        series = []
        for n in common:
            for direction, field in zip(("receive", "transmit"), fields):
                series.append(({"device": n, "direction": direction},
                               getattr(b["net_io"][n], field), getattr(a["net_io"][n], field)))
        counter(report, agent, b, a, interval, metric, metric + ".rate",
                "net_io_counters(pernic=True)." + "/".join(fields), series)

    for metric, label, pairs in [
        ("system.network.tcp.retransmits", None, [(None, "Tcp", "RetransSegs")]),
        ("system.network.tcp.resets", None, [(None, "Tcp", "OutRsts")]),
        ("system.network.tcp.opens", "type", [("active", "Tcp", "ActiveOpens"),
                                               ("passive", "Tcp", "PassiveOpens")]),
        ("system.network.tcp.errors", "type", [("attempt_fails", "Tcp", "AttemptFails"),
                                                ("in_errs", "Tcp", "InErrs"),
                                                ("estab_resets", "Tcp", "EstabResets")]),
        ("system.network.udp.datagrams", "direction", [("receive", "Udp", "InDatagrams"),
                                                        ("transmit", "Udp", "OutDatagrams")]),
        ("system.network.udp.errors", "type", [("in_errors", "Udp", "InErrors"),
                                                ("no_ports", "Udp", "NoPorts"),
                                                ("rcvbuf_errors", "Udp", "RcvbufErrors")]),
    ]:
        series = [({label: v} if label else {}, b["snmp"][(sec, f)], a["snmp"][(sec, f)])
                  for v, sec, f in pairs]
        counter(report, agent, b, a, interval, metric, metric + ".rate",
                "/proc/net/snmp (no psutil)", series)

    # Sockets: a state gains members through opens (counted by the kernel)
    # and through binds, listens and closes (not counted): COUNT_SLACK.
    opens = sum(a["snmp"][("Tcp", f)] - b["snmp"][("Tcp", f)] for f in ("ActiveOpens", "PassiveOpens"))
    keys = set(b["connections"]) | set(a["connections"])
    keys |= {(l["protocol"], l["state"]) for l, _ in agent.series("system.network.connections")}
    results = []
    for proto, state in sorted(keys):
        cb, ca = b["connections"].get((proto, state), 0), a["connections"].get((proto, state), 0)
        slack = COUNT_SLACK + (opens if proto == "tcp" else 0)
        value = agent.get("system.network.connections", protocol=proto, state=state)
        results.append(between(f"{proto} {state}", value, min(cb, ca) - slack, max(cb, ca) + slack))
    report.check("system.network.connections", "net_connections('inet') by (type, status)",
                 f"B..A +- (tcp opens {opens}) + {COUNT_SLACK}", results)


def stable_name(name):
    """A workqueue worker's name ends with the queue it last served
    ("kworker/1:2-events"), which changes under our feet: keep the worker."""
    return name.split("-", 1)[0] if name.startswith("kworker/") else name


def process_checks(report, agent, b, a, interval):
    forks = (b["forks"], a["forks"])
    counter(report, agent, b, a, interval, "system.processes.created",
            "system.processes.created.rate", "/proc/stat processes (no psutil)", [({}, *forks)])
    # The number of processes at the agent's reading: at most the number at B
    # plus every fork since, at least the number at A minus every fork since
    # (each process that existed then and exited before A was counted at A's
    # expense). Forks include threads, so this is an upper bound on churn.
    f = forks[1] - forks[0]
    nb, na = len(b["processes"]), len(a["processes"])
    total = sum(v for _, v in agent.series("system.processes.count"))
    report.check("system.processes.count (sum)", "len(process_iter())",
                 f"[A - forks, B + forks], forks={f}", [between("", total, na - f, nb + f)])
    # Per status: running and sleeping swap members thousands of times a second
    # with no counter to bound it; the other statuses change rarely.
    results = []
    for status in ["disk_sleep", "stopped", "tracing_stop", "zombie", "dead", "idle", "parked"]:
        cb = sum(1 for p in b["processes"].values() if p["status"] == status)
        ca = sum(1 for p in a["processes"].values() if p["status"] == status)
        value = agent.get("system.processes.count", status=status)
        slack = f + COUNT_SLACK
        results.append(between(status, value, min(cb, ca) - slack, max(cb, ca) + slack))
    report.check("system.processes.count{status}", "process_iter() status",
                 f"B..A +- forks + {COUNT_SLACK} (not running/sleeping)", results)

    top = agent.snapshot.get("processes", [])
    names, memory, cpu, moving = [], [], [], 0
    for p in top:
        pb, pa = b["processes"].get(p["pid"]), a["processes"].get(p["pid"])
        # Compare only processes that were the same one at B and at A.
        if not pb or not pa or pb["create_time"] != pa["create_time"]:
            continue
        if None in (pb["memory_info"], pa["memory_info"], pb["cpu_times"], pa["cpu_times"]):
            continue  # a zombie, or access denied: nothing to compare with
        what = f"pid {p['pid']}"
        names.append((what, (stable_name(p["name"]), p["user"]) in {
            (stable_name(pb["name"]), pb["username"]), (stable_name(pa["name"]), pa["username"])},
            f"agent {p['name']}/{p['user']}, psutil {pb['name']}/{pb['username']} then "
            f"{pa['name']}/{pa['username']}"))
        # A process whose RSS moved between B and A may have been anywhere at
        # the agent's reading (heaps grow and shrink): only steady ones compare.
        rb, ra = pb["memory_info"].rss, pa["memory_info"].rss
        if rb == ra:
            memory.append(equal(what, p["memory_bytes"], rb, RSS_SLACK))
        else:
            moving += 1
        used = sum(pa["cpu_times"][:2]) - sum(pb["cpu_times"][:2])
        cpu.append(between(what, p["cpu_utilization"], 0.0, used / interval + 0.02))
    report.check("processes[].name/user", "Process.name(), .username()", "equal to B or A", names)
    report.check("processes[].memory_bytes", "memory_info().rss",
                 f"equal +- {RSS_SLACK // 1024} KiB if steady ({moving} moving, skipped)", memory)
    report.check("processes[].cpu_utilization", "cpu_times() user+system",
                 "0 <= u <= (A-B)/interval + 2 pt", cpu)
    # Membership: whoever is in psutil's top 5 by RSS at both ends is in ours.
    def top5(s):
        ranked = sorted(s["processes"].items(), key=lambda kv: -(kv[1]["memory_info"].rss
                                                                  if kv[1]["memory_info"] else 0))
        return {pid for pid, _ in ranked[:5]}
    listed = {p["pid"] for p in top}
    report.check("processes[] membership", "top 5 by rss at B and A", "listed", [
        (f"pid {pid}", pid in listed, "missing from the agent's top list")
        for pid in sorted(top5(b) & top5(a))
    ])


def host_checks(report, agent, b, a):
    report.check("system.boot_time", "boot_time()", "within 1 s",
                 [equal("", agent.get("system.boot_time"), b["boot_time"], 1.0)])
    uptime = agent.get("system.uptime")
    report.check("system.uptime", "time() - boot_time()", "B..A +- 1 s", [
        between("", uptime, b["time"] - b["boot_time"] - 1, a["time"] - a["boot_time"] + 1)
    ])
    (ub, lb), (ua, _) = b["file_nr"], a["file_nr"]
    report.check("system.file_descriptors.limit", "/proc/sys/fs/file-nr (no psutil)", "equal",
                 [equal("", agent.get("system.file_descriptors.limit"), lb)])
    report.check("system.file_descriptors.usage", "/proc/sys/fs/file-nr (no psutil)",
                 f"B..A +- {FD_SLACK}", [between("", agent.get("system.file_descriptors.usage"),
                                                  min(ub, ua) - FD_SLACK, max(ub, ua) + FD_SLACK)])
    for metric, key in [("hw.temperature", "temperatures"), ("hw.fan.speed", "fans")]:
        # Keys as the agent builds them: a missing label is the file's stem,
        # which psutil does not expose, so only the chips are compared.
        chips = sorted({chip for chip in a[key]})
        agent_chips = sorted({l["chip"].split("@")[0] for l, _ in agent.series(metric)})
        report.check(metric + " chips", f"sensors_{key}()", "same set", [
            ("", agent_chips == chips, f"agent {agent_chips}, psutil {chips}")
        ])


def parse_interval(text):
    units = {"ms": 0.001, "s": 1.0, "m": 60.0}
    for unit in ("ms", "s", "m"):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    raise SystemExit(f"cannot read interval {text!r}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("agent", help="path to the hostwatch-agent binary")
    parser.add_argument("--interval", default="1s")
    args = parser.parse_args()
    interval = parse_interval(args.interval)

    b = snapshot()
    run = subprocess.run([args.agent, "--once", "--format", "json", "--interval", args.interval],
                         capture_output=True, text=True, timeout=120)
    a = snapshot()
    if run.returncode != 0:
        sys.exit(f"hostwatch-agent exited with {run.returncode}:\n{run.stderr}")
    agent = Agent(json.loads(run.stdout))
    if any(not math.isfinite(s["value"]) for s in agent.snapshot["samples"]):
        sys.exit("the agent printed a non-finite value")

    report = Report()
    cpu_checks(report, agent, b, a, interval)
    memory_checks(report, agent, b, a)
    filesystem_checks(report, agent)
    disk_checks(report, agent, b, a, interval)
    network_checks(report, agent, b, a, interval)
    process_checks(report, agent, b, a, interval)
    host_checks(report, agent, b, a)

    print(f"psutil {psutil.__version__}; window B..A {a['time'] - b['time']:.2f} s; "
          f"{len(agent.values)} agent series, {len(agent.snapshot.get('processes', []))} top processes")
    report.print()
    if report.failures:
        print(f"\n{len(report.failures)} mismatch(es):")
        for failure in report.failures:
            print("  " + failure)
        sys.exit(1)
    print(f"\nparity: {sum(r[3] for r in report.rows)} series compared, all within bounds")


if __name__ == "__main__":
    main()
