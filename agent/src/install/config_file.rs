//! The `agent.toml` that `install` writes, and how it compares with one that is
//! already there.

use std::path::Path;
use std::time::Duration;

use crate::Config;

use super::layout;

/// What the installer puts into the config; every other key keeps its default.
#[derive(Debug, Clone)]
pub struct Settings {
    pub hub_url: String,
    pub enrolment_token: String,
    pub site: String,
    pub interval: Duration,
    /// Whether a CA certificate was copied to [`layout::CA_FILE`].
    pub ca_file: bool,
}

impl Settings {
    /// The file's text. It is parsed back and validated by the caller
    /// ([`parse`]) before it is written, so a bad `--hub` fails at install time
    /// rather than in a restart loop.
    pub fn render(&self) -> String {
        let mut t = String::from(
            "# Written by `hostwatch-agent install`. Every key and its default:\n\
             # config/agent.example.toml in the hostwatch sources.\n",
        );
        let mut line = |k: &str, v: &str| t.push_str(&format!("{k} = {}\n", toml_string(v)));
        line("hub_url", &self.hub_url);
        line("enrolment_token", &self.enrolment_token);
        line("credential_file", layout::CREDENTIAL_FILE);
        line("spool_dir", layout::SPOOL_DIR);
        line("site", &self.site);
        line("interval", &duration_text(self.interval));
        if self.ca_file {
            line("ca_file", layout::CA_FILE);
        }
        t
    }
}

/// Parses and validates config text; `path` only names it in the message.
pub fn parse(text: &str, path: &Path) -> Result<Config, String> {
    let c: Config = common::config::parse(text, path).map_err(|e| e.to_string())?;
    c.validate()?;
    Ok(c)
}

/// The installer's keys on which two configs disagree. Keys it does not write
/// (an `agent_id` added by hand, say) are not compared, so installing again
/// with the same arguments keeps them.
pub fn differing_keys(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    let mut check = |differs: bool, key| {
        if differs {
            keys.push(key);
        }
    };
    check(old.hub_url != new.hub_url, "hub_url");
    check(
        old.enrolment_token != new.enrolment_token,
        "enrolment_token",
    );
    check(
        old.credential_file != new.credential_file,
        "credential_file",
    );
    check(old.spool_dir != new.spool_dir, "spool_dir");
    check(old.site != new.site, "site");
    check(old.interval != new.interval, "interval");
    check(old.ca_file != new.ca_file, "ca_file");
    keys
}

/// `1s`, `90s` or `250ms`: what `common::config::parse_duration` reads back.
fn duration_text(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// A TOML basic string: quotes, backslashes and control characters escaped, so
/// no argument can add a key of its own.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn settings() -> Settings {
        Settings {
            hub_url: "https://hub.example:7400".into(),
            enrolment_token: "tok\"en\\\n= x".into(),
            site: "paris".into(),
            interval: Duration::from_millis(2500),
            ca_file: true,
        }
    }

    #[test]
    fn rendered_config_parses_back_with_the_same_values() {
        let s = settings();
        let c = parse(&s.render(), Path::new("agent.toml")).expect("valid");
        assert_eq!(c.hub_url, s.hub_url);
        assert_eq!(c.enrolment_token, s.enrolment_token);
        assert_eq!(c.site, "paris");
        assert_eq!(c.interval, Duration::from_millis(2500));
        assert_eq!(
            c.credential_file,
            Some(PathBuf::from(layout::CREDENTIAL_FILE))
        );
        assert_eq!(c.spool_dir, Some(PathBuf::from(layout::SPOOL_DIR)));
        assert_eq!(c.ca_file, Some(PathBuf::from(layout::CA_FILE)));
        assert!(differing_keys(&c, &c).is_empty());
    }

    #[test]
    fn differences_are_named_by_key() {
        let a = parse(&settings().render(), Path::new("a")).expect("valid");
        let mut other = settings();
        other.enrolment_token = "new".into();
        other.interval = Duration::from_secs(10);
        let b = parse(&other.render(), Path::new("b")).expect("valid");
        assert_eq!(differing_keys(&a, &b), ["enrolment_token", "interval"]);
    }

    #[test]
    fn an_invalid_hub_is_refused() {
        let mut s = settings();
        s.hub_url = "hub:7400".into();
        let err = parse(&s.render(), Path::new("a")).expect_err("no scheme");
        assert!(err.contains("http://"), "{err}");
    }
}
