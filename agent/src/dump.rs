//! `--dump FILE`: the simulated fleet's batches as JSON lines, without a hub —
//! something a test (or a person) can diff. One line per host and step:
//! `{"host", "site", "timestamp_ms", "samples": [{"name", "labels", "value"}]}`,
//! hosts in fleet order within a step. With a backfill the steps come from its
//! [`Plan`](crate::backfill::Plan) and the command exits at the end; without one
//! it follows the clock at the interval until stopped.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use common::model::Sample;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::simulate::SimHost;
use crate::{backfill, Config, Error, Result};

#[derive(Serialize)]
struct Line<'a> {
    host: &'a str,
    site: &'a str,
    timestamp_ms: i64,
    samples: &'a [Sample],
}

type Output = Box<dyn Write + Send>;

pub async fn run(config: &Config, token: CancellationToken) -> Result<()> {
    let mut hosts = crate::simulated_fleet(config)?;
    let path = config.dump.as_deref().unwrap_or(Path::new("-"));
    let mut out: Output = if path == Path::new("-") {
        Box::new(BufWriter::new(std::io::stdout()))
    } else {
        Box::new(BufWriter::new(File::create(path).map_err(|source| {
            Error::Create {
                path: path.to_owned(),
                source,
            }
        })?))
    };
    if let Some(plan) = backfill::plan(config)? {
        let progress = backfill::Progress::new(hosts.len(), &plan);
        let reporter = tokio::spawn(
            backfill::report(progress.clone(), token.child_token())
                .instrument(tracing::info_span!("backfill")),
        );
        let stop = token.clone();
        let reporter_progress = progress.clone();
        let written = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            for step in 0..plan.steps {
                if stop.is_cancelled() {
                    break;
                }
                let (batches, rows) = write_step(&mut hosts, plan.at(step), &mut out)?;
                progress.add(hosts.len() as u64, batches, rows);
            }
            out.flush()
        })
        .await
        .map_err(|e| Error::Output(std::io::Error::other(e.to_string())))?;
        if written.is_ok() && reporter_progress.finished() {
            // It logs the summary and returns.
            let _ = reporter.await;
        } else {
            reporter.abort();
        }
        written?;
        return Ok(());
    }
    let mut ticker = tokio::time::interval(config.interval);
    let mut state = Some((hosts, out));
    loop {
        tokio::select! {
            _ = token.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let Some((mut hosts, mut out)) = state.take() else {
            break;
        };
        let now = common::now_ms();
        let (hosts, out, result) = tokio::task::spawn_blocking(move || {
            let result = write_step(&mut hosts, now, &mut out).and_then(|_| out.flush());
            (hosts, out, result)
        })
        .await
        .map_err(|e| Error::Output(std::io::Error::other(e.to_string())))?;
        result?;
        state = Some((hosts, out));
    }
    if let Some((_, mut out)) = state {
        out.flush()?;
    }
    Ok(())
}

/// Collects every host at `at_ms` and writes a line per host that reported;
/// returns (lines, samples) written.
fn write_step(hosts: &mut [SimHost], at_ms: i64, out: &mut Output) -> std::io::Result<(u64, u64)> {
    let (mut lines, mut rows) = (0, 0);
    for host in hosts {
        let mut samples = host.collect(at_ms);
        samples.retain(|s| s.value.is_finite());
        if samples.is_empty() {
            continue;
        }
        let line = Line {
            host: host.host(),
            site: host.site(),
            timestamp_ms: at_ms,
            samples: &samples,
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
        lines += 1;
        rows += samples.len() as u64;
    }
    Ok((lines, rows))
}
