//! A subscription: one person's choice of alerts (matchers on labels and
//! severity) and where they go (channels), with their own grouping, timing
//! and quiet hours. Each belongs to its owner; nobody else sees or edits it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::matcher::{self, Matcher};
use crate::model::{Alert, Severity};

/// Where notifications go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Channel {
    /// Generic JSON webhook; with a secret, the body is signed
    /// (`X-Hostwatch-Signature: sha256=<hex HMAC>`).
    Webhook {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
    },
    /// A Slack-compatible incoming webhook (also Mattermost, Rocket.Chat).
    Slack { url: String },
    /// Email over SMTP, through the service's `[smtp]` settings.
    Email { to: String },
    /// An ntfy topic URL (`https://ntfy.sh/mytopic`), optionally with a token.
    Ntfy {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// The dashboard's live feed (`/api/v1/alerts/live`).
    Live,
}

impl Channel {
    pub fn kind(&self) -> &'static str {
        match self {
            Channel::Webhook { .. } => "webhook",
            Channel::Slack { .. } => "slack",
            Channel::Email { .. } => "email",
            Channel::Ntfy { .. } => "ntfy",
            Channel::Live => "live",
        }
    }

    /// The URL an HTTP channel posts to.
    pub fn url(&self) -> Option<&str> {
        match self {
            Channel::Webhook { url, .. } | Channel::Slack { url } | Channel::Ntfy { url, .. } => {
                Some(url)
            }
            _ => None,
        }
    }

    /// Without secrets, for listing.
    pub fn redacted(&self) -> Channel {
        match self {
            Channel::Webhook { url, secret } => Channel::Webhook {
                url: url.clone(),
                secret: secret.as_ref().map(|_| "<set>".to_owned()),
            },
            Channel::Ntfy { url, token } => Channel::Ntfy {
                url: url.clone(),
                token: token.as_ref().map(|_| "<set>".to_owned()),
            },
            other => other.clone(),
        }
    }
}

/// Hours during which notifications wait (they are sent when the quiet hours
/// end, coalesced), e.g. 22:00–07:00 at UTC+01:00. Critical alerts still go
/// out unless `hold_critical` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// `HH:MM`, local to `utc_offset`.
    pub start: String,
    pub end: String,
    /// `+01:00`, `-05:30`, or `Z`.
    #[serde(default = "utc")]
    pub utc_offset: String,
    #[serde(default)]
    pub hold_critical: bool,
}

fn utc() -> String {
    "Z".to_owned()
}

impl QuietHours {
    fn minutes(hhmm: &str) -> Result<i64, String> {
        let (h, m) = hhmm
            .split_once(':')
            .ok_or_else(|| format!("quiet hours time {hhmm:?} must be HH:MM"))?;
        let (h, m): (i64, i64) = (
            h.parse().map_err(|_| format!("hour in {hhmm:?}"))?,
            m.parse().map_err(|_| format!("minute in {hhmm:?}"))?,
        );
        if !(0..24).contains(&h) || !(0..60).contains(&m) {
            return Err(format!("quiet hours time {hhmm:?} out of range"));
        }
        Ok(h * 60 + m)
    }

    fn offset_minutes(&self) -> Result<i64, String> {
        let o = self.utc_offset.trim();
        if o == "Z" || o.is_empty() {
            return Ok(0);
        }
        let (sign, rest) = match o.split_at(1) {
            ("+", r) => (1, r),
            ("-", r) => (-1, r),
            _ => return Err(format!("utc_offset {o:?} must look like +01:00")),
        };
        Ok(sign * Self::minutes(rest)?)
    }

    pub fn validate(&self) -> Result<(), String> {
        Self::minutes(&self.start)?;
        Self::minutes(&self.end)?;
        self.offset_minutes()?;
        Ok(())
    }

    /// Whether `now_ms` falls inside; spans over midnight work (22:00–07:00).
    pub fn contains(&self, now_ms: i64) -> bool {
        let (Ok(s), Ok(e), Ok(off)) = (
            Self::minutes(&self.start),
            Self::minutes(&self.end),
            self.offset_minutes(),
        ) else {
            return false;
        };
        let local = (now_ms.div_euclid(60_000) + off).rem_euclid(24 * 60);
        if s <= e {
            (s..e).contains(&local)
        } else {
            local >= s || local < e
        }
    }

    /// The first minute at or after `now_ms` outside the quiet hours.
    pub fn ends_after(&self, now_ms: i64) -> i64 {
        let mut t = now_ms.div_euclid(60_000) * 60_000;
        for _ in 0..(24 * 60) {
            if !self.contains(t) {
                return t.max(now_ms);
            }
            t += 60_000;
        }
        now_ms
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub owner: String,
    pub name: String,
    #[serde(with = "matcher::text_list")]
    pub matchers: Vec<Matcher>,
    pub channels: Vec<Channel>,
    /// Labels whose values split alerts into groups (one notification each);
    /// `None` takes the service's `[route]` default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<Timing>,
    #[serde(default = "yes")]
    pub send_resolved: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    pub created_at_ms: i64,
}

fn yes() -> bool {
    true
}

/// Alertmanager's three timers. `group_wait`: how long a new group collects
/// alerts before its first notification; `group_interval`: the least time
/// between two notifications of a group when it changes; `repeat_interval`:
/// when an unchanged, still-firing group is sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    #[serde(with = "common::config::duration_str")]
    pub group_wait: Duration,
    #[serde(with = "common::config::duration_str")]
    pub group_interval: Duration,
    #[serde(with = "common::config::duration_str")]
    pub repeat_interval: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
        }
    }
}

impl Timing {
    pub fn validate(&self) -> Result<(), String> {
        if self.group_interval.is_zero() || self.repeat_interval.is_zero() {
            return Err("group_interval and repeat_interval must be above zero".into());
        }
        Ok(())
    }
}

/// The most channels one subscription may have.
pub const MAX_CHANNELS: usize = 8;

impl Subscription {
    pub fn matches(&self, alert: &Alert) -> bool {
        matcher::all_match(&self.matchers, &alert.labels)
    }

    /// Whether a notification of `worst` severity waits at `now_ms`.
    pub fn held_by_quiet_hours(&self, worst: Option<Severity>, now_ms: i64) -> bool {
        let Some(q) = &self.quiet_hours else {
            return false;
        };
        if worst == Some(Severity::Critical) && !q.hold_critical {
            return false;
        }
        q.contains(now_ms)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("a subscription needs a name".into());
        }
        if self.channels.is_empty() {
            return Err("a subscription needs at least one channel".into());
        }
        if self.channels.len() > MAX_CHANNELS {
            return Err(format!("at most {MAX_CHANNELS} channels per subscription"));
        }
        for c in &self.channels {
            if let Some(u) = c.url() {
                let parsed =
                    url::Url::parse(u).map_err(|e| format!("{} url {u:?}: {e}", c.kind()))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(format!("{} url {u:?} must be http or https", c.kind()));
                }
            }
            if let Channel::Email { to } = c {
                to.parse::<lettre::Address>()
                    .map_err(|e| format!("email address {to:?}: {e}"))?;
            }
        }
        if let Some(t) = &self.timing {
            t.validate()?;
        }
        if let Some(q) = &self.quiet_hours {
            q.validate()?;
        }
        Ok(())
    }

    /// Listing form: secrets replaced by `<set>`.
    pub fn redacted(&self) -> Subscription {
        let mut s = self.clone();
        s.channels = s.channels.iter().map(Channel::redacted).collect();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet(start: &str, end: &str, off: &str) -> QuietHours {
        QuietHours {
            start: start.into(),
            end: end.into(),
            utc_offset: off.into(),
            hold_critical: false,
        }
    }

    const MIN: i64 = 60_000;

    #[test]
    fn quiet_hours_cross_midnight_and_follow_the_offset() {
        let q = quiet("22:00", "07:00", "+01:00");
        // 21:30 UTC is 22:30 at +01:00: quiet. 06:30 UTC is 07:30: not.
        assert!(q.contains(21 * 60 * MIN + 30 * MIN));
        assert!(!q.contains(6 * 60 * MIN + 30 * MIN));
        assert!(q.contains(5 * 60 * MIN));
        assert_eq!(q.ends_after(5 * 60 * MIN), 6 * 60 * MIN);
        let day = quiet("12:00", "13:00", "Z");
        assert!(day.contains(12 * 60 * MIN) && !day.contains(13 * 60 * MIN));
        assert!(quiet("25:00", "07:00", "Z").validate().is_err());
        assert!(quiet("22:00", "07:00", "01:00").validate().is_err());
    }
}
