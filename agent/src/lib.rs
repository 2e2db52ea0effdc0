//! The hostwatch agent: collects host metrics and streams them to a hub.
//!
//! - [`collect`]: real host metrics from `/proc` and `/sys`, one file per family.
//! - [`simulate`]: virtual hosts (role profiles, daily cycle, noise) for demos and tests.
//! - [`source`]: one reporting host, real or simulated.
//! - [`transport`]: the ingest stream (hello/welcome, per-stream symbol table,
//!   unacked [`transport::Queue`], optionally backed by the on-disk
//!   [`transport::spool`], resend after reconnect, backoff with full jitter).
//! - [`config`]: the agent's `Config`; [`cli`]: its flags, shared with `hostwatch agent`.
//! - [`install`]: `hostwatch-agent install`/`uninstall`, the systemd service.
//! - [`backfill`]: history for simulated hosts before they go live, paced by
//!   the hub's acks; [`dump`]: simulated batches to a file instead of a hub.
//!
//! Each host gets two tasks: a collector that pushes one batch per interval into
//! the host's queue (so collection never waits for the network), and a stream
//! that ships the queue. The agent never links a database or Redis client.

pub mod backfill;
pub mod cli;
pub mod collect;
pub mod config;
pub mod dump;
pub mod error;
pub mod install;
pub mod simulate;
pub mod source;
pub mod transport;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::model::{Sample, SeriesKey, Snapshot};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use config::Config;
pub use error::{Error, Result};

use source::Source;
use transport::queue::{QueueStats, Rows};
use transport::{Identity, Queue};

/// A running agent: one queue and two tasks per host.
pub struct Agent {
    hosts: Vec<(String, Arc<Queue>)>,
    tasks: Vec<JoinHandle<()>>,
}

impl Agent {
    /// Starts collecting and streaming for every configured host.
    pub fn start(config: Config, token: CancellationToken) -> Result<Self> {
        config.validate().map_err(Error::Config)?;
        let mut sources = Vec::new();
        if config.collect_local {
            let collector = collect::Collector::new().watching(&config.watch_processes);
            let agent_id = if config.agent_id.is_empty() {
                collector.hostname()
            } else {
                config.agent_id.clone()
            };
            sources.push(Source::Local {
                collector: Box::new(collector),
                agent_id,
                site: config.site.clone(),
            });
        }
        for sim in simulated_fleet(&config)? {
            sources.push(Source::Simulated(Box::new(sim)));
        }
        let backfill = backfill::plan(&config)?;
        let mut agent = Agent {
            hosts: Vec::new(),
            tasks: Vec::new(),
        };
        // TLS files and the credential file are read once, here: a bad one
        // fails the start instead of every reconnect.
        let link = transport::Link::from_config(&config)?;
        // Every spool is opened before any task starts, so a failure leaves
        // nothing running.
        let mut hosts = Vec::with_capacity(sources.len());
        for src in sources {
            let id = Identity {
                agent_id: src.agent_id(),
                site: src.site(),
                credentials: config.credentials.clone(),
                facts: src.facts(),
            };
            let queue = Arc::new(match &config.spool_dir {
                None => Queue::new(config.queue_batches),
                Some(root) => {
                    let dir = transport::spool::host_dir(root, &id.agent_id);
                    Queue::with_spool(&dir, config.spool_bytes)
                        .map_err(|source| Error::Spool { path: dir, source })?
                }
            });
            hosts.push((src, id, queue));
        }
        let backfill = backfill.map(|plan| {
            let progress = backfill::Progress::new(config.simulate, &plan);
            tracing::info!(
                hosts = config.simulate,
                from = %simulate::calendar::iso8601(plan.first_ms),
                to = %simulate::calendar::iso8601(plan.last_ms()),
                steps = plan.steps,
                "backfill starting"
            );
            agent.tasks.push(tokio::spawn(
                backfill::report(progress.clone(), token.child_token())
                    .instrument(tracing::info_span!("backfill")),
            ));
            backfill::Backfill {
                plan,
                progress,
                bound: backfill::MAX_PENDING.min(config.queue_batches / 2).max(1),
            }
        });
        for (src, id, queue) in hosts {
            let (interval_tx, interval_rx) = watch::channel(config.interval);
            let span = tracing::info_span!("host", agent = %id.agent_id);
            agent.tasks.push(tokio::spawn(
                collect_loop(
                    src,
                    queue.clone(),
                    interval_rx,
                    token.child_token(),
                    backfill.clone(),
                )
                .instrument(span.clone()),
            ));
            agent.hosts.push((id.agent_id.clone(), queue.clone()));
            agent.tasks.push(tokio::spawn(
                transport::run(link.clone(), id, queue, interval_tx, token.child_token())
                    .instrument(span),
            ));
        }
        tracing::info!(hosts = agent.hosts.len(), hub = %config.hub_url, interval = ?config.interval, "agent started");
        Ok(agent)
    }

    /// Delivery counters per agent id.
    pub fn stats(&self) -> Vec<(String, QueueStats)> {
        self.hosts
            .iter()
            .map(|(id, q)| (id.clone(), q.stats()))
            .collect()
    }

    /// Waits for every task to stop (after the token is cancelled) and returns
    /// the final delivery counters.
    pub async fn join(self) -> Vec<(String, QueueStats)> {
        for t in self.tasks {
            let _ = t.await;
        }
        self.hosts
            .iter()
            .map(|(id, q)| (id.clone(), q.stats()))
            .collect()
    }
}

/// Runs the agent until `shutdown` (with `dump`, until the backfill is written).
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<()> {
    if config.dump.is_some() {
        config.validate().map_err(Error::Config)?;
        return dump::run(&config, shutdown).await;
    }
    for (agent, s) in Agent::start(config, shutdown)?.join().await {
        if s.pending > 0 || s.dropped_batches > 0 {
            tracing::warn!(%agent, pending = s.pending, dropped = s.dropped_batches, "stopped with undelivered batches");
        }
    }
    Ok(())
}

/// One snapshot of this machine (`hostwatch-agent --once`). Waits one interval
/// between two reads so utilisation and rates cover a real span, as psutil's
/// `cpu_percent(interval=…)` does.
pub async fn snapshot_once(interval: Duration) -> Result<Snapshot> {
    tokio::task::spawn_blocking(move || {
        let mut c = collect::Collector::with_cadence(collect::Cadence::EVERY_TICK);
        let _ = c.collect();
        std::thread::sleep(interval);
        let samples = c.collect();
        Snapshot {
            host: c.hostname(),
            timestamp_ms: common::now_ms(),
            samples,
            processes: c.processes(),
        }
    })
    .await
    .map_err(|e| Error::Output(std::io::Error::other(e.to_string())))
}

/// The simulated hosts of `config`, writing to its ground-truth file if any.
pub(crate) fn simulated_fleet(config: &Config) -> Result<Vec<simulate::SimHost>> {
    let scenario = simulate::Scenario::parse(&config.scenario).map_err(Error::Config)?;
    let mut hosts = simulate::fleet_with(&simulate::FleetConfig {
        hosts: config.simulate,
        sites: config.sites,
        seed: config.seed,
        scenario,
    });
    for p in config.injections().map_err(Error::Config)? {
        tracing::info!(
            kind = p.kind.name(),
            host = %p.host,
            site = %p.site,
            from = %simulate::calendar::iso8601(p.start_ms),
            to = %simulate::calendar::iso8601(p.end_ms),
            severity = p.severity,
            "incident injected"
        );
        hosts[p.index].inject(p.kind, p.start_ms, p.end_ms, p.severity);
    }
    if let Some(path) = &config.ground_truth {
        let sink =
            Arc::new(
                simulate::GroundTruth::create(path).map_err(|source| Error::Create {
                    path: path.clone(),
                    source,
                })?,
            );
        for host in &mut hosts {
            host.set_ground_truth(sink.clone());
        }
    }
    Ok(hosts)
}

async fn collect_loop(
    source: Source,
    queue: Arc<Queue>,
    interval: watch::Receiver<Duration>,
    token: CancellationToken,
    backfill: Option<backfill::Backfill>,
) {
    let mut rows = RowBuilder::default();
    let mut source = Some(source);
    if let Some(b) = backfill {
        match source.take() {
            Some(src @ Source::Simulated(_)) => {
                source = backfill::host(src, &queue, &b, &mut rows, &token).await;
            }
            // This machine has no history to make up: it goes live at once.
            local => {
                tracing::info!("not simulated: no backfill, live at once");
                source = local;
            }
        }
    }
    if let Some(source) = source {
        collect_until_cancelled(source, &queue, interval, token, rows).await;
    }
    queue.close();
}

/// Turns samples into queue rows: non-finite values skipped (warned once),
/// keys interned so every row of a series shares one allocation.
#[derive(Default)]
pub(crate) struct RowBuilder {
    keys: HashMap<SeriesKey, Arc<SeriesKey>>,
    non_finite_warned: bool,
}

impl RowBuilder {
    pub(crate) fn rows(&mut self, samples: Vec<Sample>, at_ms: i64) -> Rows {
        let mut rows: Rows = Vec::with_capacity(samples.len());
        for s in samples {
            if !s.value.is_finite() {
                if !self.non_finite_warned {
                    tracing::warn!(metric = %s.name, "collector produced a non-finite value; skipped");
                    self.non_finite_warned = true;
                }
                continue;
            }
            let key = s.key();
            let k = match self.keys.get(&key) {
                Some(k) => k.clone(),
                None => {
                    let k = Arc::new(key.clone());
                    self.keys.insert(key, k.clone());
                    k
                }
            };
            rows.push((k, at_ms, s.value));
        }
        rows
    }
}

async fn collect_until_cancelled(
    source: Source,
    queue: &Arc<Queue>,
    mut interval: watch::Receiver<Duration>,
    token: CancellationToken,
    mut builder: RowBuilder,
) {
    let mut source = Some(source);
    let mut ticker = tokio::time::interval(*interval.borrow_and_update());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = ticker.tick() => {}
            Ok(()) = interval.changed() => {
                let d = *interval.borrow_and_update();
                tracing::info!(interval = ?d, "collection interval changed by the hub");
                ticker = tokio::time::interval(d);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                continue;
            }
        }
        let Some(mut src) = source.take() else { return };
        let now = common::now_ms();
        let joined = tokio::task::spawn_blocking(move || {
            let samples = src.collect(now);
            let top = src.processes();
            (src, samples, top)
        })
        .await;
        let (src, samples, top) = match joined {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "collector panicked; this host stops reporting");
                return;
            }
        };
        source = Some(src);
        queue.set_top(top);
        let rows = builder.rows(samples, now);
        if !rows.is_empty() {
            // With a spool a push writes and fsyncs, so it runs off the async
            // worker threads.
            let queue = queue.clone();
            if let Err(e) = tokio::task::spawn_blocking(move || queue.push(rows)).await {
                tracing::error!(error = %e, "queueing a batch panicked; this host stops reporting");
                return;
            }
        }
    }
}
