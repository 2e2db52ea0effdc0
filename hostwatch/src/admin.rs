//! `hostwatch hub token …` and `hostwatch hub agents …`: enrolment tokens and
//! agent credentials, straight on the hub's database (see `hub::auth::admin`).
//! Each function returns the text to print; `main` prints it.

use std::fmt::Write as _;
use std::time::Duration;

use hub::auth::{admin, secret};
use hub::{Config, Error, Result};

/// A new token: the secret (for stdout, so scripts can capture it) and a
/// line about it (for stderr).
pub async fn token_create(
    config: &Config,
    ttl: Duration,
    uses: u32,
    site: &str,
) -> Result<(String, String)> {
    let store = admin::open(config).await?;
    let (token, info) = admin::create_token(store.as_ref(), ttl, uses, site).await?;
    let note = format!(
        "token {} created: {} use(s), expires {}{}; it is shown only now",
        &info.token_hash[..secret::ID_CHARS],
        uses,
        utc(info.expires_ms),
        if site.is_empty() {
            String::new()
        } else {
            format!(", site {site}")
        }
    );
    Ok((token, note))
}

pub async fn token_list(config: &Config) -> Result<String> {
    let store = admin::open(config).await?;
    let now = common::now_ms();
    let mut out = format!(
        "{:<14} {:<12} {:>9} {:<21} {}\n",
        "TOKEN", "SITE", "USES LEFT", "EXPIRES", "STATE"
    );
    for t in store.tokens().await? {
        let state = if t.expires_ms <= now {
            "expired"
        } else if t.uses_left <= 0 {
            "used up"
        } else {
            "valid"
        };
        let _ = writeln!(
            out,
            "{:<14} {:<12} {:>9} {:<21} {}",
            &t.token_hash[..secret::ID_CHARS],
            or_any(&t.site),
            format!("{}/{}", t.uses_left.max(0), t.uses_total),
            utc(t.expires_ms),
            state
        );
    }
    Ok(out)
}

pub async fn agents_list(config: &Config) -> Result<String> {
    let store = admin::open(config).await?;
    let mut out = format!(
        "{:<32} {:<12} {:<14} {:<21} {:<21} {}\n",
        "AGENT", "SITE", "TOKEN", "ENROLLED", "LAST HELLO", "STATE"
    );
    for a in store.agents().await? {
        let state = match a.revoked_ms {
            Some(ms) => format!("revoked {}", utc(ms)),
            None => "active".into(),
        };
        let _ = writeln!(
            out,
            "{:<32} {:<12} {:<14} {:<21} {:<21} {}",
            a.agent_id,
            or_any(&a.site),
            &a.token_hash[..secret::ID_CHARS.min(a.token_hash.len())],
            utc(a.enrolled_ms),
            a.last_hello_ms.map(utc).unwrap_or_else(|| "never".into()),
            state
        );
    }
    Ok(out)
}

pub async fn agents_revoke(config: &Config, agent_id: &str) -> Result<String> {
    let store = admin::open(config).await?;
    if !store.revoke(agent_id, common::now_ms()).await? {
        return Err(Error::Invalid(format!("no enrolled agent {agent_id:?}")));
    }
    Ok(format!(
        "agent {agent_id} revoked: running hubs end its stream within {} s and refuse it from now on",
        hub::auth::POLL_INTERVAL.as_secs() + 1
    ))
}

pub async fn agents_remove(config: &Config, agent_id: &str) -> Result<String> {
    let store = admin::open(config).await?;
    if !store.remove(agent_id).await? {
        return Err(Error::Invalid(format!("no enrolled agent {agent_id:?}")));
    }
    Ok(format!(
        "agent {agent_id} removed: it has no credential now and may enrol again with a new token"
    ))
}

fn or_any(site: &str) -> &str {
    if site.is_empty() {
        "(any)"
    } else {
        site
    }
}

/// `YYYY-MM-DD HH:MM:SSZ` of unix ms.
fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(super::utc(951_782_400_000), "2000-02-29 00:00:00Z");
        assert_eq!(super::utc(1_795_000_000_123), "2026-11-18 11:06:40Z");
    }
}
