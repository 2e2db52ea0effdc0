//! User names for the top list, from `/etc/passwd`.
//!
//! psutil's `username()` asks NSS (`pwd.getpwuid`), which may also consult
//! LDAP or systemd's dynamic users; linking NSS would mean libc's resolver in
//! the agent, so we read the local file and, like psutil when the lookup
//! fails, fall back to the uid as text.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// An unknown uid triggers a re-read at most this often: a user added while
/// the agent runs shows up, a uid that has no name costs nothing per tick.
const RELOAD_AT_MOST_EVERY: Duration = Duration::from_secs(60);

pub(crate) struct Users {
    path: PathBuf,
    names: HashMap<u32, String>,
    loaded_at: Option<Instant>,
}

impl Users {
    pub(crate) fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            names: HashMap::new(),
            loaded_at: None,
        }
    }

    /// The name of `uid`, or the uid as text when there is none.
    pub(crate) fn name(&mut self, uid: u32) -> String {
        if !self.names.contains_key(&uid) && self.may_reload() {
            self.reload();
        }
        self.names
            .get(&uid)
            .cloned()
            .unwrap_or_else(|| uid.to_string())
    }

    fn may_reload(&self) -> bool {
        self.loaded_at
            .is_none_or(|at| at.elapsed() >= RELOAD_AT_MOST_EVERY)
    }

    fn reload(&mut self) {
        self.loaded_at = Some(Instant::now());
        match std::fs::read_to_string(&self.path) {
            Ok(text) => self.names = parse_passwd(&text),
            Err(error) => {
                tracing::debug!(path = %self.path.display(), %error, "user names unavailable");
            }
        }
    }
}

/// `name:password:uid:gid:gecos:home:shell` lines; comments, NIS `+`/`-`
/// entries and malformed lines are skipped. The first name of a uid wins, as
/// with `getpwuid`.
pub(crate) fn parse_passwd(text: &str) -> HashMap<u32, String> {
    let mut names = HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.starts_with('+') || line.starts_with('-') {
            continue;
        }
        let mut fields = line.split(':');
        let (Some(name), Some(_), Some(uid)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if let (false, Ok(uid)) = (name.is_empty(), uid.parse()) {
            names.entry(uid).or_insert_with(|| name.to_owned());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd_lines() {
        let names = parse_passwd(
            "root:x:0:0:root:/root:/bin/bash
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
toor:x:0:0::/root:/bin/sh
+nisuser::::::
broken
nouid:x:abc:0::/:/bin/sh
:x:5:5::/:/bin/sh
",
        );
        let mut pairs: Vec<(u32, &str)> = names.iter().map(|(u, n)| (*u, n.as_str())).collect();
        pairs.sort();
        assert_eq!(pairs, [(0, "root"), (1, "daemon")]);
    }

    #[test]
    fn unknown_uids_become_numbers() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("passwd");
        std::fs::write(&path, "alice:x:1000:1000::/home/alice:/bin/sh\n").expect("write");
        let mut users = Users::new(&path);
        assert_eq!(users.name(1000), "alice");
        assert_eq!(users.name(4242), "4242");
        // A missing file is no names, not an error.
        let mut nobody = Users::new(dir.path().join("absent"));
        assert_eq!(nobody.name(0), "0");
    }
}
