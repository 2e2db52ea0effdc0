//! Where everything goes, always under a root directory: `/` on a real host, a
//! scratch directory in tests or when preparing an image. Paths are written as
//! the installed system sees them (`/etc/hostwatch/agent.toml`) and placed under
//! the root only when touched, so nothing here can name a path outside it.

use std::path::{Component, Path, PathBuf};

use super::error::{io, Error, Result};

/// The agent's config; holds the enrolment token.
pub const CONFIG: &str = "/etc/hostwatch/agent.toml";
pub const CONFIG_DIR: &str = "/etc/hostwatch";
/// A CA certificate copied by `--ca-file`.
pub const CA_FILE: &str = "/etc/hostwatch/ca.pem";
/// Where `install` puts the binary (the install script's layout).
pub const BINARY: &str = "/usr/local/bin/hostwatch-agent";
/// Where the .deb puts it.
pub const PACKAGED_BINARY: &str = "/usr/bin/hostwatch-agent";
pub const UNIT: &str = "/etc/systemd/system/hostwatch-agent.service";
/// Where a package's unit lives (merged-/usr systems have both).
pub const PACKAGED_UNITS: [&str; 2] = [
    "/usr/lib/systemd/system/hostwatch-agent.service",
    "/lib/systemd/system/hostwatch-agent.service",
];
/// The unit's `StateDirectory=`: spool and credential.
pub const STATE_DIR: &str = "/var/lib/hostwatch-agent";
pub const CREDENTIAL_FILE: &str = "/var/lib/hostwatch-agent/credential";
pub const SPOOL_DIR: &str = "/var/lib/hostwatch-agent/spool";
pub const SERVICE: &str = "hostwatch-agent";
/// The unit's `User=` and `Group=`.
pub const USER: &str = "hostwatch";

/// A validated root directory.
#[derive(Debug, Clone)]
pub struct Root {
    dir: PathBuf,
}

impl Root {
    /// Accepts an existing directory given without `..` (so a relative root
    /// cannot climb out of the working directory); resolves it to an absolute
    /// path with symlinks followed.
    pub fn new(given: &Path) -> Result<Self> {
        let reject = |reason: &str| Error::Root {
            root: given.to_owned(),
            reason: reason.to_owned(),
        };
        if given.as_os_str().is_empty() {
            return Err(reject("empty path"));
        }
        if given.components().any(|c| c == Component::ParentDir) {
            return Err(reject("must not contain `..`"));
        }
        let dir = given.canonicalize().map_err(|e| reject(&format!("{e}")))?;
        if !dir.is_dir() {
            return Err(reject("not a directory"));
        }
        Ok(Self { dir })
    }

    /// True when installing onto the running system, the only case in which
    /// systemd and the user database are touched.
    pub fn is_system(&self) -> bool {
        self.dir == Path::new("/")
    }

    /// `sys_path` (absolute, as the installed system sees it) under the root.
    pub fn path(&self, sys_path: &str) -> PathBuf {
        self.dir.join(sys_path.trim_start_matches('/'))
    }

    /// Creates `sys_dir` and its missing parents under the root, the last one
    /// with `mode`, checking that every existing component resolves inside the
    /// root: a symlink such as `<root>/etc -> /etc` must not carry a test or an
    /// image build onto the host.
    pub fn ensure_dir(&self, sys_dir: &str, mode: u32) -> Result<PathBuf> {
        use std::os::unix::fs::DirBuilderExt as _;
        let mut cur = self.dir.clone();
        let parts: Vec<&str> = sys_dir.split('/').filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            cur.push(part);
            if cur.symlink_metadata().is_ok() {
                self.check_inside(&cur)?;
                continue;
            }
            let m = if i + 1 == parts.len() { mode } else { 0o755 };
            std::fs::DirBuilder::new()
                .mode(m)
                .create(&cur)
                .map_err(io("creating", &cur))?;
        }
        Ok(cur)
    }

    /// Fails unless `path` (which must exist) resolves inside the root.
    pub fn check_inside(&self, path: &Path) -> Result<()> {
        let real = path.canonicalize().map_err(io("resolving", path))?;
        if real.starts_with(&self.dir) {
            Ok(())
        } else {
            Err(Error::Escapes {
                path: path.to_owned(),
                root: self.dir.clone(),
            })
        }
    }

    /// `sys_path` under the root, for removal: `None` when its directory is
    /// missing, an error when that directory resolves outside the root.
    pub fn inside(&self, sys_path: &str) -> Result<Option<PathBuf>> {
        let path = self.path(sys_path);
        match path.parent() {
            Some(dir) if dir.exists() => {
                self.check_inside(dir)?;
                Ok(Some(path))
            }
            _ => Ok(None),
        }
    }

    /// The parent directory of `sys_path` under the root, created if missing.
    pub fn ensure_parent(&self, sys_path: &str) -> Result<PathBuf> {
        let parent = Path::new(sys_path)
            .parent()
            .and_then(Path::to_str)
            .unwrap_or("/");
        self.ensure_dir(parent, 0o755)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_with_dotdot_or_missing_are_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        assert!(Root::new(&tmp.path().join("a/../b")).is_err());
        assert!(Root::new(Path::new("../x")).is_err());
        assert!(Root::new(&tmp.path().join("missing")).is_err());
        assert!(Root::new(Path::new("")).is_err());
        let root = Root::new(tmp.path()).expect("a temp dir is a root");
        assert!(!root.is_system());
        assert!(root
            .path(CONFIG)
            .starts_with(tmp.path().canonicalize().expect("canon")));
        assert!(Root::new(Path::new("/")).expect("/").is_system());
    }

    #[test]
    fn a_symlink_out_of_the_root_is_not_followed() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(outside.path(), tmp.path().join("etc")).expect("symlink");
        let root = Root::new(tmp.path()).expect("root");
        let err = root.ensure_dir(CONFIG_DIR, 0o755).expect_err("escapes");
        assert!(matches!(err, Error::Escapes { .. }), "{err}");
        assert!(!outside.path().join("hostwatch").exists());
        // A relative link that stays inside (Debian's lib -> usr/lib) is fine.
        std::fs::create_dir_all(tmp.path().join("usr/lib")).expect("mkdir");
        std::os::unix::fs::symlink("usr/lib", tmp.path().join("lib")).expect("symlink");
        root.ensure_dir("/lib/systemd/system", 0o755)
            .expect("inside");
        assert!(tmp.path().join("usr/lib/systemd/system").is_dir());
    }
}
