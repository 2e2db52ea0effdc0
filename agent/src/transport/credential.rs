//! The agent's side of authentication: what each host presents in its Hello,
//! and keeping the credential the hub issues for an enrolment token.
//!
//! `credential_file` holds one `AGENT_ID CREDENTIAL` line per host (a plain
//! agent reports one host; with `--simulate` each simulated host has its own
//! credential). It is written atomically (temporary file, fsync, rename,
//! fsync of the directory) with mode 0600, its directory created 0700, so a
//! crash never leaves a half-written secret and nobody else can read it.
//!
//! A Hello presents, in order: the credential known for this agent id (issued
//! during this run or read from the file), the `credentials` given in the
//! config, the enrolment token. After the hub refused a credential the next
//! Hello tries the token instead, if there is one (the hub's database may
//! have been reset); the hub never lets a revoked agent enrol again.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::{Config, Error, Result};

pub struct Credentials {
    file: Option<PathBuf>,
    token: String,
    /// agent id → credential: the file's content plus what was issued since.
    known: Mutex<BTreeMap<String, String>>,
    /// Serialises file writes (several hosts may enrol at once).
    writing: Mutex<()>,
}

/// What a Hello carries, and what kind it is (for logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    None,
    Credential(String),
    Token(String),
}

impl Presented {
    pub fn secret(&self) -> &str {
        match self {
            Presented::None => "",
            Presented::Credential(s) | Presented::Token(s) => s,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Presented::None => "nothing",
            Presented::Credential(_) => "credential",
            Presented::Token(_) => "enrolment token",
        }
    }
}

impl Credentials {
    /// Reads `credential_file` if it exists.
    pub fn load(config: &Config) -> Result<Self> {
        let mut known = BTreeMap::new();
        if let Some(path) = &config.credential_file {
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    known = parse(&text);
                    warn_if_readable_by_others(path);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(Error::Credential {
                        path: path.clone(),
                        source,
                    })
                }
            }
        }
        Ok(Self {
            file: config.credential_file.clone(),
            token: config.enrolment_token.trim().to_owned(),
            known: Mutex::new(known),
            writing: Mutex::new(()),
        })
    }

    /// What the next Hello of `agent_id` presents; `direct` is the
    /// configured `credentials`. `prefer_token` after a refused credential.
    pub fn for_hello(&self, agent_id: &str, direct: &str, prefer_token: bool) -> Presented {
        if prefer_token && !self.token.is_empty() {
            return Presented::Token(self.token.clone());
        }
        let known = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(agent_id)
            .cloned();
        if let Some(c) = known {
            return Presented::Credential(c);
        }
        let direct = direct.trim();
        if !direct.is_empty() {
            // Whatever the operator configured; the hub tells a token from a
            // credential by its prefix.
            return if direct.starts_with("hwt_") {
                Presented::Token(direct.to_owned())
            } else {
                Presented::Credential(direct.to_owned())
            };
        }
        if !self.token.is_empty() {
            return Presented::Token(self.token.clone());
        }
        Presented::None
    }

    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Keeps the credential the hub issued to `agent_id`: in memory at once,
    /// then in `credential_file` (off the async threads: it fsyncs).
    pub async fn store(self: &Arc<Self>, agent_id: &str, credential: &str) -> std::io::Result<()> {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(agent_id.to_owned(), credential.to_owned());
        let Some(path) = self.file.clone() else {
            return Ok(());
        };
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let _guard = me.writing.lock().unwrap_or_else(|p| p.into_inner());
            let text = render(&me.known.lock().unwrap_or_else(|p| p.into_inner()));
            write_atomic(&path, text.as_bytes())
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?
    }
}

fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            // The credential has no spaces; an agent id might.
            let (id, cred) = l.rsplit_once(char::is_whitespace)?;
            Some((id.trim().to_owned(), cred.to_owned()))
        })
        .collect()
}

fn render(known: &BTreeMap<String, String>) -> String {
    let mut out = String::from(
        "# hostwatch agent credentials, issued by the hub: AGENT_ID CREDENTIAL. Keep secret.\n",
    );
    for (id, cred) in known {
        out.push_str(id);
        out.push(' ');
        out.push_str(cred);
        out.push('\n');
    }
    out
}

/// Replaces `path` with `contents` so that a crash leaves either the old or
/// the new file, never a mix, readable by its owner only.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "credential".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        // `mode` applies only to a new file; a leftover one keeps its own.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn warn_if_readable_by_others(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "credential file is readable by others; chmod 600 it");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(file: &Path, token: &str) -> Config {
        Config {
            credential_file: Some(file.to_owned()),
            enrolment_token: token.into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn issued_credentials_are_kept_0600_and_reloaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("state/creds");
        let c = Arc::new(Credentials::load(&config(&file, "hwt_t")).expect("load"));
        assert_eq!(
            c.for_hello("a", "", false),
            Presented::Token("hwt_t".into())
        );
        c.store("a", "hwc_1").await.expect("store");
        c.store("b c", "hwc_2").await.expect("store");
        assert_eq!(
            c.for_hello("a", "", false),
            Presented::Credential("hwc_1".into())
        );
        let mode = std::fs::metadata(&file).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(file.parent().expect("parent"))
            .expect("dir")
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);

        let again = Credentials::load(&config(&file, "")).expect("reload");
        assert_eq!(
            again.for_hello("a", "", false),
            Presented::Credential("hwc_1".into())
        );
        assert_eq!(
            again.for_hello("b c", "", false),
            Presented::Credential("hwc_2".into())
        );
        assert_eq!(again.for_hello("z", "", false), Presented::None);
        assert_eq!(
            again.for_hello("z", "hwc_d", false),
            Presented::Credential("hwc_d".into())
        );
        // After a refusal the token is tried, when there is one.
        assert_eq!(c.for_hello("a", "", true), Presented::Token("hwt_t".into()));
        assert_eq!(
            again.for_hello("a", "", true),
            Presented::Credential("hwc_1".into())
        );
        let leftovers: Vec<_> = std::fs::read_dir(file.parent().expect("parent"))
            .expect("list")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}
