//! Conversions between `proto` messages and domain types, kept in one place so
//! storage, gateway and dashboard code never handle prost types.

use crate::model::{self, Labels};

pub fn labels_from_proto(labels: &[proto::Label]) -> Labels {
    labels
        .iter()
        .map(|l| (l.key.clone(), l.value.clone()))
        .collect()
}

pub fn labels_to_proto(labels: &Labels) -> Vec<proto::Label> {
    labels
        .iter()
        .map(|(k, v)| proto::Label {
            key: k.clone(),
            value: v.clone(),
        })
        .collect()
}

pub fn facts_from_proto(f: &proto::HostFacts) -> model::HostFacts {
    model::HostFacts {
        hostname: f.hostname.clone(),
        os: f.os.clone(),
        kernel: f.kernel.clone(),
        arch: f.arch.clone(),
        cpu_count: f.cpu_count,
        memory_bytes: f.memory_bytes,
        boot_time: f.boot_time,
        agent_version: f.agent_version.clone(),
        simulated: f.simulated,
    }
}

pub fn facts_to_proto(f: &model::HostFacts) -> proto::HostFacts {
    proto::HostFacts {
        hostname: f.hostname.clone(),
        os: f.os.clone(),
        kernel: f.kernel.clone(),
        arch: f.arch.clone(),
        cpu_count: f.cpu_count,
        memory_bytes: f.memory_bytes,
        boot_time: f.boot_time,
        agent_version: f.agent_version.clone(),
        simulated: f.simulated,
    }
}

pub fn status_from_proto(s: &proto::HostStatus) -> model::HostStatus {
    model::HostStatus {
        host: s.host.clone(),
        site: s.site.clone(),
        agent_id: s.agent_id.clone(),
        last_seen_ms: s.last_seen_ms,
        cpu_percent: s.cpu_percent,
        memory_percent: s.memory_percent,
        disk_percent: s.disk_percent,
        stored_seq: s.stored_seq,
        rows_stored: s.rows_stored,
        batches_stored: s.batches_stored,
        facts: s.facts.as_ref().map(facts_from_proto).unwrap_or_default(),
    }
}

pub fn status_to_proto(s: &model::HostStatus) -> proto::HostStatus {
    proto::HostStatus {
        host: s.host.clone(),
        site: s.site.clone(),
        agent_id: s.agent_id.clone(),
        facts: Some(facts_to_proto(&s.facts)),
        last_seen_ms: s.last_seen_ms,
        cpu_percent: s.cpu_percent,
        memory_percent: s.memory_percent,
        disk_percent: s.disk_percent,
        stored_seq: s.stored_seq,
        rows_stored: s.rows_stored,
        batches_stored: s.batches_stored,
    }
}

pub fn series_info_from_proto(s: &proto::SeriesInfo) -> model::SeriesInfo {
    model::SeriesInfo {
        host: s.host.clone(),
        name: s.name.clone(),
        labels: labels_from_proto(&s.labels),
        last_ms: s.last_ms,
        last_value: s.last_value,
    }
}

pub fn series_info_to_proto(s: &model::SeriesInfo) -> proto::SeriesInfo {
    proto::SeriesInfo {
        host: s.host.clone(),
        name: s.name.clone(),
        labels: labels_to_proto(&s.labels),
        last_ms: s.last_ms,
        last_value: s.last_value,
    }
}

pub fn range_query_from_proto(r: &proto::RangeRequest) -> model::RangeQuery {
    model::RangeQuery {
        host: r.host.clone(),
        name: r.name.clone(),
        labels: labels_from_proto(&r.labels),
        from_ms: r.from_ms,
        to_ms: r.to_ms,
        max_points: r.max_points as usize,
        // Unknown names fall back to avg; the gRPC layer rejects them first.
        agg: model::Agg::parse(&r.agg).unwrap_or_default(),
    }
}

pub fn range_query_to_proto(q: &model::RangeQuery) -> proto::RangeRequest {
    proto::RangeRequest {
        host: q.host.clone(),
        name: q.name.clone(),
        labels: labels_to_proto(&q.labels),
        from_ms: q.from_ms,
        to_ms: q.to_ms,
        max_points: u32::try_from(q.max_points).unwrap_or(u32::MAX),
        agg: q.agg.as_str().to_owned(),
    }
}

pub fn series_points_from_proto(s: &proto::SeriesPoints) -> model::SeriesPoints {
    model::SeriesPoints {
        host: s.host.clone(),
        name: s.name.clone(),
        labels: labels_from_proto(&s.labels),
        points: s
            .points
            .iter()
            .map(|p| model::Point {
                t: p.timestamp_ms,
                v: p.value,
            })
            .collect(),
    }
}

pub fn series_points_to_proto(s: &model::SeriesPoints) -> proto::SeriesPoints {
    proto::SeriesPoints {
        host: s.host.clone(),
        name: s.name.clone(),
        labels: labels_to_proto(&s.labels),
        points: s
            .points
            .iter()
            .map(|p| proto::Point {
                timestamp_ms: p.t,
                value: p.v,
            })
            .collect(),
    }
}

pub fn series_band_from_proto(s: &proto::SeriesBand) -> model::SeriesBand {
    model::SeriesBand {
        host: s.host.clone(),
        name: s.name.clone(),
        labels: labels_from_proto(&s.labels),
        band: s
            .band
            .iter()
            .map(|p| model::BandPoint {
                t: p.timestamp_ms,
                expected: p.expected,
                lo: p.lo,
                hi: p.hi,
            })
            .collect(),
    }
}

pub fn series_band_to_proto(s: &model::SeriesBand) -> proto::SeriesBand {
    proto::SeriesBand {
        host: s.host.clone(),
        name: s.name.clone(),
        labels: labels_to_proto(&s.labels),
        band: s
            .band
            .iter()
            .map(|p| proto::BandPoint {
                timestamp_ms: p.t,
                expected: p.expected,
                lo: p.lo,
                hi: p.hi,
            })
            .collect(),
    }
}

pub fn event_to_proto(e: &model::AnomalyEvent) -> proto::AnomalyEvent {
    proto::AnomalyEvent {
        id: e.id,
        host: e.host.clone(),
        site: e.site.clone(),
        name: e.name.clone(),
        labels: labels_to_proto(&e.labels),
        start_ms: e.start_ms,
        last_ms: e.last_ms,
        end_ms: e.end_ms.unwrap_or(0),
        severity: e.severity.clone(),
        score: e.score,
        actual: e.actual,
        expected: e.expected,
        evidence: e.evidence.clone(),
        top_processes: e.top_processes.iter().map(process_to_proto).collect(),
    }
}

pub fn process_to_proto(p: &model::ProcessInfo) -> proto::ProcessInfo {
    proto::ProcessInfo {
        pid: p.pid,
        name: p.name.clone(),
        user: p.user.clone(),
        cpu_utilization: p.cpu_utilization,
        memory_bytes: p.memory_bytes,
    }
}

/// Non-finite CPU shares become 0: the list is for reading, not arithmetic.
pub fn process_from_proto(p: &proto::ProcessInfo) -> model::ProcessInfo {
    model::ProcessInfo {
        pid: p.pid,
        name: p.name.clone(),
        user: p.user.clone(),
        cpu_utilization: if p.cpu_utilization.is_finite() {
            p.cpu_utilization
        } else {
            0.0
        },
        memory_bytes: p.memory_bytes,
    }
}

pub fn event_from_proto(e: &proto::AnomalyEvent) -> model::AnomalyEvent {
    model::AnomalyEvent {
        id: e.id,
        host: e.host.clone(),
        site: e.site.clone(),
        name: e.name.clone(),
        labels: labels_from_proto(&e.labels),
        start_ms: e.start_ms,
        last_ms: e.last_ms,
        end_ms: (e.end_ms != 0).then_some(e.end_ms),
        severity: e.severity.clone(),
        score: e.score,
        actual: e.actual,
        expected: e.expected,
        evidence: e.evidence.clone(),
        top_processes: e.top_processes.iter().map(process_from_proto).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_in_canonical_order() {
        let wire = vec![
            proto::Label {
                key: "state".into(),
                value: "used".into(),
            },
            proto::Label {
                key: "device".into(),
                value: "sda1".into(),
            },
        ];
        let labels = labels_from_proto(&wire);
        let back = labels_to_proto(&labels);
        assert_eq!(back[0].key, "device");
        assert_eq!(labels_from_proto(&back), labels);
    }
}
