//! The users file: dashboard users (name + argon2 PHC string) and API tokens
//! (name + SHA-256 of the token), in TOML. Written only by `hostwatch user` /
//! `hostwatch token` (atomically, mode 0600); read by the server, which picks
//! up changes without a restart ([`Store`]). No plaintext secret is ever
//! stored: a token is shown once when made, then only its hash is kept — a
//! SHA-256 is enough there because tokens are 256 random bits, unlike passwords.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::password;

/// What every API token starts with, so a leaked one is recognisable.
pub const TOKEN_PREFIX: &str = "hwd_";
/// How often the server looks at the file's modification time at most.
pub const RELOAD_CHECK: Duration = Duration::from_secs(1);
const MAX_NAME_CHARS: usize = 64;

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsersFile {
    pub users: Vec<User>,
    pub tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    /// argon2 PHC string.
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    pub name: String,
    /// Hex SHA-256 of the whole token (prefix included).
    pub sha256: String,
    /// When it was made (ms since the epoch), for `hostwatch token list`.
    #[serde(default)]
    pub created_ms: i64,
}

const HEADER: &str = "# hostwatch dashboard users and API tokens.\n\
# Written by `hostwatch user add|passwd|remove` and `hostwatch token add|remove`;\n\
# passwords are argon2id hashes, tokens SHA-256 hashes. Keep it 0600.\n\n";

/// Whether `name` may name a user or token: 1–64 of `A-Za-z0-9._@-`.
pub fn valid_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "name {name:?}: use 1 to {MAX_NAME_CHARS} letters, digits or . _ @ -"
        ))
    }
}

/// A new API token: the prefix and 32 random bytes in hex.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// The hex SHA-256 a token is stored and looked up by.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl UsersFile {
    pub fn parse(text: &str) -> Result<Self, String> {
        let f: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        f.check()?;
        Ok(f)
    }

    /// Reads and checks `path`.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("users file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("users file {}: {e}", path.display()))
    }

    /// As [`read`](Self::read), with a missing file read as an empty one (the
    /// first `hostwatch user add` creates it).
    pub fn read_or_empty(path: &Path) -> Result<Self, String> {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            _ => Self::read(path),
        }
    }

    /// Names valid and unique, hashes well-formed.
    pub fn check(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for u in &self.users {
            valid_name(&u.name)?;
            if !seen.insert(("user", u.name.as_str())) {
                return Err(format!("user {:?} appears twice", u.name));
            }
            password::check_phc(&u.password).map_err(|e| format!("user {:?}: {e}", u.name))?;
        }
        for t in &self.tokens {
            valid_name(&t.name)?;
            if !seen.insert(("token", t.name.as_str())) {
                return Err(format!("token {:?} appears twice", t.name));
            }
            if t.sha256.len() != 64 || !t.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("token {:?}: sha256 must be 64 hex digits", t.name));
            }
        }
        Ok(())
    }

    /// Writes the file atomically (a temporary file beside it, then a rename),
    /// readable by its owner only.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let body = toml::to_string(self).map_err(|e| format!("encoding users file: {e}"))?;
        let tmp = path.with_extension("tmp");
        let err = |e: std::io::Error| format!("writing {}: {e}", tmp.display());
        {
            use std::io::Write as _;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&tmp).map_err(err)?;
            f.write_all(HEADER.as_bytes()).map_err(err)?;
            f.write_all(body.as_bytes()).map_err(err)?;
            f.sync_all().map_err(err)?;
        }
        std::fs::rename(&tmp, path).map_err(|e| format!("renaming to {}: {e}", path.display()))
    }

    /// Adds a user, or with `replace` sets an existing user's password.
    pub fn set_user(&mut self, name: &str, phc: String, replace: bool) -> Result<(), String> {
        valid_name(name)?;
        match self.users.iter_mut().find(|u| u.name == name) {
            Some(u) if replace => u.password = phc,
            Some(_) => {
                let hint = format!("change its password with `hostwatch user passwd {name}`");
                return Err(format!("user {name:?} exists ({hint})"));
            }
            None if replace => return Err(format!("no user {name:?}")),
            None => self.users.push(User {
                name: name.to_owned(),
                password: phc,
            }),
        }
        Ok(())
    }

    pub fn remove_user(&mut self, name: &str) -> Result<(), String> {
        let before = self.users.len();
        self.users.retain(|u| u.name != name);
        if self.users.len() == before {
            return Err(format!("no user {name:?}"));
        }
        Ok(())
    }

    /// Makes a token called `name` and returns it: the only time it is seen.
    pub fn add_token(&mut self, name: &str, now_ms: i64) -> Result<String, String> {
        valid_name(name)?;
        if self.tokens.iter().any(|t| t.name == name) {
            return Err(format!("token {name:?} exists (remove it first)"));
        }
        let token = new_token();
        self.tokens.push(Token {
            name: name.to_owned(),
            sha256: token_hash(&token),
            created_ms: now_ms,
        });
        Ok(token)
    }

    pub fn remove_token(&mut self, name: &str) -> Result<(), String> {
        let before = self.tokens.len();
        self.tokens.retain(|t| t.name != name);
        if self.tokens.len() == before {
            return Err(format!("no token {name:?}"));
        }
        Ok(())
    }
}

/// The users and tokens the server checks credentials against.
#[derive(Debug, Default)]
pub struct Index {
    /// name → PHC string
    users: HashMap<String, String>,
    /// token hash → token name
    tokens: HashMap<String, String>,
}

impl Index {
    pub fn from_file(f: &UsersFile) -> Self {
        Self {
            users: f
                .users
                .iter()
                .map(|u| (u.name.clone(), u.password.clone()))
                .collect(),
            tokens: f
                .tokens
                .iter()
                .map(|t| (t.sha256.to_ascii_lowercase(), t.name.clone()))
                .collect(),
        }
    }

    pub fn password_of(&self, user: &str) -> Option<&str> {
        self.users.get(user).map(String::as_str)
    }

    pub fn has_user(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }

    /// The name of the token whose hash this is.
    pub fn token_name(&self, token: &str) -> Option<&str> {
        self.tokens.get(&token_hash(token)).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.tokens.is_empty()
    }
}

/// Either the users in force, or why there are none (shown to clients).
pub type Users = Arc<Result<Index, String>>;

/// The users file as the server sees it, re-read when its modification time
/// changes (looked at no more than once per [`RELOAD_CHECK`]), so users and
/// tokens added or removed with the CLI take effect without a restart.
pub struct Store {
    path: Option<PathBuf>,
    state: RwLock<Loaded>,
}

struct Loaded {
    checked: Instant,
    mtime: Option<SystemTime>,
    users: Users,
}

impl Store {
    /// Loads `path` now; `None` means no file is configured.
    pub fn open(path: Option<PathBuf>) -> Self {
        let (mtime, users) = match &path {
            None => (None, Arc::new(Err(unconfigured()))),
            Some(p) => (
                std::fs::metadata(p).and_then(|m| m.modified()).ok(),
                Arc::new(load(p)),
            ),
        };
        Self {
            path,
            state: RwLock::new(Loaded {
                checked: Instant::now(),
                mtime,
                users,
            }),
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The users as last loaded, without looking at the file.
    pub fn loaded(&self) -> Users {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .users
            .clone()
    }

    /// The users in force, after re-reading the file if it changed.
    pub async fn current(&self) -> Users {
        let (due, mtime, users) = {
            // A poisoned lock only means a panic elsewhere mid-swap of an Arc:
            // the value is still whole.
            let s = self.state.read().unwrap_or_else(|p| p.into_inner());
            (
                s.checked.elapsed() >= RELOAD_CHECK,
                s.mtime,
                s.users.clone(),
            )
        };
        let Some(path) = self.path.as_ref().filter(|_| due) else {
            return users;
        };
        let now_mtime = tokio::fs::metadata(path)
            .await
            .and_then(|m| m.modified())
            .ok();
        let fresh = if now_mtime != mtime || now_mtime.is_none() {
            let p = path.clone();
            let loaded = tokio::task::spawn_blocking(move || load(&p))
                .await
                .unwrap_or_else(|e| Err(format!("reading the users file: {e}")));
            match &loaded {
                Ok(_) => tracing::info!(path = %path.display(), "users file (re)loaded"),
                Err(e) => tracing::error!(error = %e, "users file unusable: dashboard API refused"),
            }
            Some(Arc::new(loaded))
        } else {
            None
        };
        let mut s = self.state.write().unwrap_or_else(|p| p.into_inner());
        s.checked = Instant::now();
        s.mtime = now_mtime;
        if let Some(f) = fresh {
            s.users = f;
        }
        s.users.clone()
    }
}

fn unconfigured() -> String {
    "no dashboard users configured: set auth.users_file (or --users-file) and create a user \
     with `hostwatch user add NAME --users-file PATH`"
        .to_owned()
}

fn load(path: &Path) -> Result<Index, String> {
    let f = UsersFile::read(path)?;
    let index = Index::from_file(&f);
    if index.is_empty() {
        return Err(format!(
            "users file {} has no users or tokens yet: create one with \
             `hostwatch user add NAME --users-file {}`",
            path.display(),
            path.display()
        ));
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> User {
        User {
            name: name.into(),
            password: password::hash("a long password").expect("hash"),
        }
    }

    #[test]
    fn names() {
        for ok in ["alice", "ci-bot", "a.b_c@example.org", &"x".repeat(64)] {
            assert!(valid_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "with space", "quote\"", "new\nline", &"x".repeat(65)] {
            assert!(valid_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn round_trip_through_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("users.toml");
        let mut f = UsersFile::read_or_empty(&path).expect("missing = empty");
        assert_eq!(f, UsersFile::default());
        f.users.push(user("alice"));
        let token = f.add_token("ci", 7).expect("token");
        assert!(token.starts_with(TOKEN_PREFIX) && token.len() == TOKEN_PREFIX.len() + 64);
        f.write(&path).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains(&token), "only the hash is stored");
        let back = UsersFile::read(&path).expect("read back");
        assert_eq!(back, f);
        let index = Index::from_file(&back);
        assert_eq!(index.token_name(&token), Some("ci"));
        assert_eq!(index.token_name("hwd_wrong"), None);
        assert!(index.has_user("alice") && !index.has_user("bob"));
    }

    #[test]
    fn edits() {
        let mut f = UsersFile::default();
        f.set_user("alice", password::hash("first password").expect("h"), false)
            .expect("add");
        assert!(f.set_user("alice", "x".into(), false).is_err(), "exists");
        assert!(f.set_user("bob", "x".into(), true).is_err(), "no such user");
        let new = password::hash("second password").expect("h");
        f.set_user("alice", new.clone(), true).expect("passwd");
        assert_eq!(f.users[0].password, new);
        assert!(f.add_token("ci", 0).is_ok());
        assert!(f.add_token("ci", 0).is_err(), "token names are unique");
        assert!(f.remove_token("nope").is_err());
        f.remove_token("ci").expect("remove token");
        f.remove_user("alice").expect("remove user");
        assert!(f.remove_user("alice").is_err());
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        let cases = [
            ("[[users]]\nname = \"a\"\npassword = \"plain\"\n", "PHC"),
            ("[[tokens]]\nname = \"t\"\nsha256 = \"abc\"\n", "64 hex"),
            ("[[users]]\nname = \"a b\"\npassword = \"x\"\n", "letters"),
            ("admin = true\n", "unknown field"),
        ];
        for (text, why) in cases {
            let e = UsersFile::parse(text).expect_err(text);
            assert!(e.contains(why), "{text:?}: {e}");
        }
        // Two [[users]] tables with one name.
        let phc = password::hash("a long password").expect("hash");
        let twice = format!(
            "[[users]]\nname = \"a\"\npassword = \"{phc}\"\n\n[[users]]\nname = \"a\"\npassword = \"{phc}\"\n"
        );
        let e = UsersFile::parse(&twice).expect_err("twice");
        assert!(e.contains("twice"), "{e}");
    }

    #[tokio::test]
    async fn the_store_follows_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("users.toml");
        let none = Store::open(None);
        assert!(none
            .current()
            .await
            .as_ref()
            .as_ref()
            .is_err_and(|e| e.contains("no dashboard users")));

        let store = Store::open(Some(path.clone()));
        let e = store
            .current()
            .await
            .as_ref()
            .as_ref()
            .err()
            .cloned()
            .expect("missing file");
        assert!(e.contains("users.toml"), "{e}");

        UsersFile {
            users: vec![],
            tokens: vec![],
        }
        .write(&path)
        .expect("write empty");
        let store = Store::open(Some(path.clone()));
        let e = store
            .current()
            .await
            .as_ref()
            .as_ref()
            .err()
            .cloned()
            .expect("empty");
        assert!(e.contains("no users or tokens yet"), "{e}");

        let mut f = UsersFile::default();
        f.users.push(user("alice"));
        f.write(&path).expect("write");
        // Past the check interval, and with a different mtime even on a
        // coarse-grained file system.
        let later = SystemTime::now() + Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(later))
            .expect("mtime");
        store.state.write().expect("lock").checked = Instant::now() - RELOAD_CHECK;
        let users = store.current().await;
        assert!(users.as_ref().as_ref().is_ok_and(|i| i.has_user("alice")));
    }
}
