//! A host the agent reports for: this machine or a simulated one. Each source
//! gets its own ingest stream (its own agent id and seq).

use common::model::{HostFacts, ProcessInfo, Sample};

use crate::collect::Collector;
use crate::simulate::SimHost;

pub enum Source {
    Local {
        collector: Box<Collector>,
        agent_id: String,
        site: String,
    },
    Simulated(Box<SimHost>),
}

impl Source {
    pub fn agent_id(&self) -> String {
        match self {
            Source::Local { agent_id, .. } => agent_id.clone(),
            Source::Simulated(s) => s.host().to_owned(),
        }
    }

    pub fn site(&self) -> String {
        match self {
            Source::Local { site, .. } => site.clone(),
            Source::Simulated(s) => s.site().to_owned(),
        }
    }

    pub fn facts(&self) -> HostFacts {
        match self {
            Source::Local { collector, .. } => collector.facts(),
            Source::Simulated(s) => s.facts(),
        }
    }

    /// Blocking for the local collector (sysinfo reads /proc): call it off the
    /// async workers.
    pub fn collect(&mut self, now_ms: i64) -> Vec<Sample> {
        match self {
            Source::Local { collector, .. } => collector.collect(),
            Source::Simulated(s) => s.collect(now_ms),
        }
    }

    /// The top processes as of the last `collect` (empty when unknown).
    pub fn processes(&self) -> Vec<ProcessInfo> {
        match self {
            Source::Local { collector, .. } => collector.processes(),
            Source::Simulated(s) => s.processes(),
        }
    }
}
