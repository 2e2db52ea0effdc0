//! A fleet: hosts spread round robin over sites, each site in its own time zone.

use super::rng::Rng;
use super::{Scenario, SimHost};

/// Keeps the site streams of the PRNG apart from the host streams.
const SITE_STREAM_SALT: u64 = 0x5173_0000_0000_0000;

/// What a fleet is made of.
#[derive(Debug, Clone, Default)]
pub struct FleetConfig {
    pub hosts: usize,
    /// Sites the hosts are spread over (0 counts as 1).
    pub sites: usize,
    pub seed: u64,
    pub scenario: Scenario,
}

/// `n` virtual hosts without anomalies; host `i` belongs to site `i % sites`.
pub fn fleet(n: usize, sites: usize, seed: u64) -> Vec<SimHost> {
    fleet_with(&FleetConfig {
        hosts: n,
        sites,
        seed,
        scenario: Scenario::Normal,
    })
}

/// A fleet running `config.scenario`. Hosts depend on (seed, index) only, so a
/// host of one scenario is the twin of the same host in another.
pub fn fleet_with(config: &FleetConfig) -> Vec<SimHost> {
    let sites = config.sites.max(1);
    let offsets: Vec<f64> = (0..sites)
        .map(|site| {
            let mut rng = Rng::derive(config.seed ^ SITE_STREAM_SALT, site as u64);
            rng.pick(&[-8.0, -5.0, 0.0, 1.0, 2.0, 5.5, 8.0, 9.0])
        })
        .collect();
    (0..config.hosts)
        .map(|index| {
            SimHost::new(
                config.seed,
                config.scenario,
                index,
                site_name(index % sites),
                offsets[index % sites],
            )
        })
        .collect()
}

/// `site-a` … `site-z`, then `site-aa`, `site-ab` …
pub(crate) fn site_name(index: usize) -> String {
    let mut letters = Vec::new();
    let mut n = index + 1;
    while n > 0 {
        n -= 1;
        letters.push(char::from(b'a' + (n % 26) as u8));
        n /= 26;
    }
    letters.reverse();
    format!("site-{}", letters.into_iter().collect::<String>())
}
