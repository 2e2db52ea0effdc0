//! Silences: matchers plus a time span during which matching alerts send
//! nothing. Expiring one sets its end to now; it is kept for the record.

use serde::{Deserialize, Serialize};

use crate::matcher::{self, Matcher};
use crate::model::LabelSet;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    #[serde(with = "matcher::text_list")]
    pub matchers: Vec<Matcher>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub created_by: String,
    pub comment: String,
    pub updated_at_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    Active,
    Expired,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Active => "active",
            State::Expired => "expired",
        }
    }
}

impl Silence {
    pub fn state(&self, now_ms: i64) -> State {
        if now_ms < self.starts_at_ms {
            State::Pending
        } else if now_ms < self.ends_at_ms {
            State::Active
        } else {
            State::Expired
        }
    }

    pub fn mutes(&self, labels: &LabelSet, now_ms: i64) -> bool {
        self.state(now_ms) == State::Active && matcher::all_match(&self.matchers, labels)
    }

    /// Checks what a client sent before it is stored.
    pub fn validate(&self) -> Result<(), String> {
        if self.matchers.is_empty() {
            return Err("a silence needs at least one matcher".into());
        }
        // A silence matching everything (every matcher accepts the empty
        // string) would mute the whole fleet; Alertmanager refuses it too.
        if self.matchers.iter().all(|m| m.matches(&LabelSet::new())) {
            return Err("at least one matcher must not match the empty string".into());
        }
        if self.ends_at_ms <= self.starts_at_ms {
            return Err("endsAt must be after startsAt".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn silence(m: &str, start: i64, end: i64) -> Silence {
        Silence {
            id: "s".into(),
            matchers: matcher::parse_list(m).expect("matchers"),
            starts_at_ms: start,
            ends_at_ms: end,
            created_by: "t".into(),
            comment: String::new(),
            updated_at_ms: 0,
        }
    }

    #[test]
    fn a_silence_mutes_only_while_active_and_only_what_matches() {
        let s = silence("host=db1", 100, 200);
        let db1: LabelSet = [("host".to_owned(), "db1".to_owned())].into();
        let db2: LabelSet = [("host".to_owned(), "db2".to_owned())].into();
        assert_eq!(
            [50, 100, 199, 200].map(|t| s.mutes(&db1, t)),
            [false, true, true, false]
        );
        assert!(!s.mutes(&db2, 150));
        assert_eq!(s.state(250), State::Expired);
    }

    #[test]
    fn silences_that_would_mute_everything_are_refused() {
        assert!(silence("host=~\".*\"", 0, 10).validate().is_err());
        assert!(silence("host=db1", 10, 10).validate().is_err());
        assert!(silence("host=db1", 0, 10).validate().is_ok());
    }
}
