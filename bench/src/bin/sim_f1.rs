//! Detection on the simulator's ground truth: event-level precision, recall
//! and F1 of the hub's anomaly events against the incidents the simulator
//! injected.
//!
//! Generates a fleet's history with `agent::simulate` (as `--backfill --dump`
//! does: the same plan of instants, the same samples, non-finite values
//! dropped), feeds it step by step through `hub::detection::Offline` (the
//! hub's own per-row detection, one frame per step holding every host's
//! batch) and matches the events against the ground-truth file the hosts
//! wrote. Matching rules: `sim_f1/score.rs`.
//!
//!     cargo run --release -p bench --bin sim-f1 -- [--hosts N] [--days D] \
//!         [--scenario S] [--seed S] [--interval 1m] [--warmup-hours H] [--slack K] \
//!         [--dump DIR]

#[path = "sim_f1/score.rs"]
mod score;

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent::backfill::Plan;
use agent::simulate::{fleet_with, FleetConfig, GroundTruth, Record, Scenario};
use common::model::{AnomalyEvent, SeriesKey, StoredRows};
use hub::detection::Offline;

use score::{Event, Incident, CRASH};

/// The run ends here unless `--end` says otherwise: a fixed instant, so the
/// same arguments give the same history.
const DEFAULT_END: &str = "2025-03-01T00:00:00Z";
/// The hub's event severities, lowest first.
const SEVERITIES: [&str; 4] = ["low", "medium", "high", "critical"];

fn severity_rank(name: &str) -> usize {
    SEVERITIES.iter().position(|s| *s == name).unwrap_or(0)
}

struct Args {
    hosts: usize,
    days: f64,
    scenario: Scenario,
    seed: u64,
    interval: Duration,
    warmup_hours: f64,
    slack: i64,
    end_ms: i64,
    /// Events below this severity are left out (low, medium, high, critical).
    min_severity: String,
    /// Where to write the final events and the ground truth (JSON lines),
    /// for looking at what was missed.
    dump: Option<std::path::PathBuf>,
}

fn usage() -> ! {
    eprintln!(
        "usage: sim-f1 [--hosts N] [--days D] [--scenario S] [--seed S] [--interval 1m] \
         [--warmup-hours H] [--slack INTERVALS] [--end RFC3339|unix-ms] [--min-severity low] [--dump DIR]"
    );
    std::process::exit(2)
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        hosts: 20,
        days: 4.0,
        scenario: Scenario::Demo,
        seed: 42,
        interval: Duration::from_secs(60),
        warmup_hours: 24.0,
        slack: 2,
        end_ms: agent::simulate::calendar::parse_time(DEFAULT_END)?,
        min_severity: "low".into(),
        dump: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            usage();
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--hosts" => a.hosts = value.parse().map_err(|e| bad(&e))?,
            "--days" => a.days = value.parse().map_err(|e| bad(&e))?,
            "--scenario" => a.scenario = Scenario::parse(&value)?,
            "--seed" => a.seed = value.parse().map_err(|e| bad(&e))?,
            "--interval" => {
                a.interval = common::config::parse_duration(&value).map_err(|e| bad(&e))?
            }
            "--warmup-hours" => a.warmup_hours = value.parse().map_err(|e| bad(&e))?,
            "--slack" => a.slack = value.parse().map_err(|e| bad(&e))?,
            "--end" => a.end_ms = agent::simulate::calendar::parse_time(&value)?,
            "--dump" => a.dump = Some(value.into()),
            "--min-severity" if SEVERITIES.contains(&value.as_str()) => a.min_severity = value,
            "--min-severity" => return Err(format!("--min-severity: one of {SEVERITIES:?}")),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.hosts == 0 || a.days <= 0.0 || a.interval.is_zero() {
        return Err("--hosts, --days and --interval must be positive".into());
    }
    Ok(a)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sim-f1: {e}");
            usage();
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("sim-f1: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let span = Duration::from_secs_f64(args.days * 86_400.0);
    let plan = Plan::new(args.end_ms, span, args.interval).ok_or("nothing to generate")?;
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let truth_path = dir.path().join("truth.jsonl");
    let truth =
        Arc::new(GroundTruth::create(&truth_path).map_err(|e| format!("ground truth file: {e}"))?);
    let mut hosts = fleet_with(&FleetConfig {
        hosts: args.hosts,
        sites: 3,
        seed: args.seed,
        scenario: args.scenario,
    });
    for h in &mut hosts {
        h.set_ground_truth(truth.clone());
    }
    eprintln!(
        "sim-f1: {} hosts, {} days of {} at {:?} ({} steps), seed {}",
        args.hosts, args.days, args.scenario, args.interval, plan.steps, args.seed
    );

    // Keys interned per host, as the agent's row builder and the hub's symbol
    // table do: every row of a series shares one `Arc`.
    let mut keys: Vec<HashMap<SeriesKey, Arc<SeriesKey>>> = vec![HashMap::new(); hosts.len()];
    let mut detection = Offline::new();
    let mut events: BTreeMap<u64, AnomalyEvent> = BTreeMap::new();
    let started = Instant::now();
    let (mut rows, mut next_report) = (0u64, Instant::now() + Duration::from_secs(5));
    for step in 0..plan.steps {
        let at = plan.at(step);
        let mut frame = Vec::with_capacity(hosts.len());
        for (h, interned) in hosts.iter_mut().zip(&mut keys) {
            let samples = h.collect(at);
            if samples.is_empty() {
                continue;
            }
            let host_rows = samples
                .into_iter()
                .filter(|s| s.value.is_finite())
                .map(|s| {
                    let key = s.key();
                    let k = match interned.get(&key) {
                        Some(k) => k.clone(),
                        None => interned.entry(key.clone()).or_insert(Arc::new(key)).clone(),
                    };
                    (k, at, s.value)
                })
                .collect::<Vec<_>>();
            rows += host_rows.len() as u64;
            frame.push(StoredRows {
                host: h.host().to_owned(),
                site: h.site().to_owned(),
                rows: host_rows,
            });
        }
        for ev in detection.process(&frame) {
            events.insert(ev.id, ev);
        }
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(5);
            eprintln!(
                "sim-f1: {:>3.0} % ({} rows, {} events, {:.0} s)",
                100.0 * (step + 1) as f64 / plan.steps as f64,
                rows,
                events.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "sim-f1: generated and detected {rows} rows in {elapsed:.1} s ({:.0} rows/s)",
        rows as f64 / elapsed
    );
    drop(hosts);
    let (written, failed) = truth.counts();
    if failed > 0 {
        return Err(format!("{failed} ground-truth lines could not be written"));
    }

    if let Some(dir) = &args.dump {
        dump(dir, &events, &truth_path)?;
    }
    let scored_from = plan.first_ms + (args.warmup_hours * 3_600_000.0) as i64;
    let incidents: Vec<Incident> = read_truth(&truth_path)?
        .into_iter()
        .filter(|r| r.start >= scored_from)
        .map(|r| Incident {
            host: r.host,
            metric: r.metric,
            kind: r.kind,
            start: r.start,
            end: r.end,
        })
        .collect();
    let slack_ms = args.slack * args.interval.as_millis() as i64;
    let host_days = args.hosts as f64 * (args.days - args.warmup_hours / 24.0);
    let at_least = |min: &str| -> Vec<Event> {
        events
            .values()
            .filter(|e| e.start_ms >= scored_from)
            .filter(|e| severity_rank(&e.severity) >= severity_rank(min))
            .map(|e| Event {
                host: e.host.clone(),
                metric: e.name.clone(),
                metrics: contributors(e),
                start: e.start_ms,
            })
            .collect()
    };
    let scored = at_least(&args.min_severity);
    let s = score::score(&incidents, &scored, slack_ms);
    print_report(args, &s, written, incidents.len(), scored.len(), host_days);
    // What an operator who only looks at the more severe events would see.
    println!("\n| events of severity | precision | recall | F1 | events / host-day |");
    println!("|---|---|---|---|---|");
    for min in SEVERITIES {
        let e = at_least(min);
        let s = score::score(&incidents, &e, slack_ms);
        println!(
            "| {min} and up | {:.3} | {:.3} | {:.3} | {:.1} |",
            s.precision_without_crashes(),
            s.recall(false),
            s.f1(false),
            e.len() as f64 / host_days
        );
    }
    Ok(())
}

/// The metric of every series that contributed to a host-level event: its
/// evidence has one `name{labels}: score severity (…)` line per series
/// (`hub::detect::incident`), then possibly "and N more series" and the
/// multivariate line, which name no series.
fn contributors(e: &AnomalyEvent) -> Vec<String> {
    e.evidence
        .iter()
        .filter_map(|line| {
            let end = line.find(['{', ':'])?;
            let name = &line[..end];
            (!name.contains(' ') && name != "multivariate").then(|| name.to_owned())
        })
        .collect()
}

/// Writes `events.jsonl` (each event's last version) and `truth.jsonl`
/// into `dir`.
fn dump(
    dir: &std::path::Path,
    events: &BTreeMap<u64, AnomalyEvent>,
    truth: &std::path::Path,
) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(fail)?;
    let mut lines = String::new();
    for e in events.values() {
        lines += &serde_json::to_string(e).map_err(|e| e.to_string())?;
        lines.push('\n');
    }
    std::fs::write(dir.join("events.jsonl"), lines).map_err(fail)?;
    std::fs::copy(truth, dir.join("truth.jsonl")).map_err(fail)?;
    Ok(())
}

fn read_truth(path: &std::path::Path) -> Result<Vec<Record>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    std::io::BufReader::new(file)
        .lines()
        .map(|line| {
            let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
            serde_json::from_str(&line).map_err(|e| format!("ground truth line {line:?}: {e}"))
        })
        .collect()
}

fn print_report(
    args: &Args,
    s: &score::Score,
    written: u64,
    incidents: usize,
    events: usize,
    host_days: f64,
) {
    println!(
        "\nscenario {}, {} hosts, {} days (first {} h not scored), interval {:?}, seed {}, slack {} intervals, events of severity {} and up",
        args.scenario, args.hosts, args.days, args.warmup_hours, args.interval, args.seed, args.slack, args.min_severity
    );
    println!(
        "ground truth: {written} incidents written, {incidents} scored; hub events scored: {events}\n"
    );
    println!("| kind | incidents | detected | recall |");
    println!("|---|---|---|---|");
    for (kind, t) in &s.per_kind {
        println!(
            "| {kind} | {} | {} | {:.3} |",
            t.total,
            t.detected,
            t.recall()
        );
    }
    let with = s.tally(true);
    let without = s.tally(false);
    println!();
    println!("| | precision | recall | F1 |");
    println!("|---|---|---|---|");
    println!(
        "| without host crashes | {:.3} | {:.3} ({}/{}) | **{:.3}** |",
        s.precision_without_crashes(),
        without.recall(),
        without.detected,
        without.total,
        s.f1(false)
    );
    println!(
        "| with host crashes | {:.3} | {:.3} ({}/{}) | {:.3} |",
        s.precision(),
        with.recall(),
        with.detected,
        with.total,
        s.f1(true)
    );
    println!(
        "| events grouped per host (starts within the slack) | {:.3} ({} true, {} false groups) | {:.3} | {:.3} |",
        s.group_precision(),
        s.true_groups,
        s.false_groups,
        without.recall(),
        s.group_f1()
    );
    println!();
    println!(
        "events: {} true ({} explained only by a crash), {} false ({} of them duplicates of a claimed incident); {:.2} events per host-day, {:.2} false per host-day; {:.2} true events per detected incident",
        s.true_events,
        s.crash_only_events,
        s.false_events,
        s.duplicate_events,
        events as f64 / host_days,
        s.false_events as f64 / host_days,
        s.true_events as f64 / with.detected.max(1) as f64
    );
    let mut fp: Vec<(&String, &usize)> = s.false_by_metric.iter().collect();
    fp.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    println!("\n| false positives by metric (top 10) | events |");
    println!("|---|---|");
    for (m, n) in fp.into_iter().take(10) {
        println!("| {m} | {n} |");
    }
    if s.per_kind.contains_key(CRASH) {
        println!(
            "\nhost crashes: the hub sees no silence (no freshness detector); a crash counts as detected only when the reboot that follows opens an event."
        );
    }
}
