//! Block devices: bytes, operations, time spent, and how busy each disk is.

use common::model::Sample;

use super::counter::Counter;
use super::names;
use super::profile::{DiskSpec, Media, Profile};
use super::rng::{Drift, Rng};
use crate::collect::sample;

const DIRECTIONS: [&str; 2] = ["read", "write"];
/// A disk is never reported busier than this: queueing time grows without
/// bound near 1.
const MAX_BUSY: f64 = 0.98;

struct Disk {
    name: &'static str,
    media: Media,
    /// Bytes per second at average demand, read and write.
    base_bps: [f64; 2],
    noise: Drift,
    bytes: [Counter; 2],
    ops: [Counter; 2],
    /// Milliseconds spent on operations, read and write, as the kernel counts.
    op_time_ms: [Counter; 2],
    /// Milliseconds with at least one operation in flight.
    busy_ms: Counter,
    /// `busy_ms` at the previous reading, for the utilization.
    busy_before: Option<f64>,
}

pub(crate) struct Disks(Vec<Disk>);

impl Disks {
    pub(crate) fn new(profile: &Profile, rng: &mut Rng) -> Self {
        let scale = rng.range(0.6, 1.4);
        Self(
            profile
                .disks
                .iter()
                .map(|spec: &DiskSpec| Disk {
                    name: spec.name,
                    media: spec.media,
                    base_bps: [spec.read_bps * scale, spec.write_bps * scale],
                    noise: Drift::new(0.35, 900.0, rng),
                    bytes: Default::default(),
                    ops: Default::default(),
                    op_time_ms: Default::default(),
                    busy_ms: Counter::default(),
                    busy_before: None,
                })
                .collect(),
        )
    }

    pub(crate) fn restart(&mut self, uptime_secs: f64) {
        for d in &mut self.0 {
            let (service, op_bytes) = d.media.service();
            let mut busy = 0.0;
            for i in 0..2 {
                let bytes = d.base_bps[i] * uptime_secs * 0.8;
                d.bytes[i].restart(bytes);
                d.ops[i].restart(bytes / op_bytes);
                d.op_time_ms[i].restart(bytes / op_bytes * service * 1000.0);
                busy += bytes / op_bytes * service * 1000.0;
            }
            d.busy_ms.restart(busy.min(uptime_secs * 1000.0 * MAX_BUSY));
            d.busy_before = None;
        }
    }

    /// One reading at `demand` (1 = average); returns the busiest disk's
    /// utilization, which shows up as iowait and blocked tasks.
    pub(crate) fn step(
        &mut self,
        dt: f64,
        demand: f64,
        rng: &mut Rng,
        out: &mut Vec<Sample>,
    ) -> f64 {
        let mut busiest: f64 = 0.0;
        for d in &mut self.0 {
            let level = demand * d.noise.step(dt, rng).exp();
            let write_share = rng.range(0.9, 1.1);
            let (service, op_bytes) = d.media.service();
            let bps = [d.base_bps[0] * level, d.base_bps[1] * level * write_share];
            let ops = [bps[0] / op_bytes, bps[1] / op_bytes];
            let busy = ((ops[0] + ops[1]) * service).min(MAX_BUSY);
            // Waiting in the queue stretches each operation (M/M/1 response time).
            let per_op_ms = service * 1000.0 / (1.0 - busy);
            busiest = busiest.max(busy);
            for (i, direction) in DIRECTIONS.into_iter().enumerate() {
                d.bytes[i].advance(bps[i], dt);
                d.ops[i].advance(ops[i], dt);
                d.op_time_ms[i].advance(ops[i] * per_op_ms, dt);
                let labels = [("device", d.name), ("direction", direction)];
                d.bytes[i].emit(names::DISK_IO, names::DISK_IO_RATE, &labels, dt, out);
                d.ops[i].emit(
                    names::DISK_OPERATIONS,
                    names::DISK_OPERATIONS_RATE,
                    &labels,
                    dt,
                    out,
                );
                out.push(sample(
                    names::DISK_OPERATION_TIME,
                    &labels,
                    d.op_time_ms[i].whole() / 1000.0,
                ));
            }
            d.busy_ms.advance(busy * 1000.0, dt);
            let busy_ms = d.busy_ms.whole();
            out.push(sample(
                names::DISK_IO_TIME,
                &[("device", d.name)],
                busy_ms / 1000.0,
            ));
            // Like iostat's %util: the growth of busy time over the interval.
            if let Some(before) = d.busy_before.filter(|_| dt > 0.0) {
                out.push(sample(
                    names::DISK_UTILIZATION,
                    &[("device", d.name)],
                    ((busy_ms - before) / 1000.0 / dt).clamp(0.0, 1.0),
                ));
            }
            d.busy_before = Some(busy_ms);
        }
        busiest
    }
}
