//! What can go wrong while installing or removing the agent.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("--root {root}: {reason}")]
    Root { root: PathBuf, reason: String },
    #[error("{} is outside the root {} (a symlink leads out of it); refusing to write there", path.display(), root.display())]
    Escapes { path: PathBuf, root: PathBuf },
    #[error("{action} {}: {source}{}", path.display(), permission_hint(source))]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config to write is invalid: {0}")]
    Config(String),
    #[error("{} already exists with different settings ({keys}); rerun with --force to replace it", path.display())]
    ConfigDiffers { path: PathBuf, keys: String },
    #[error("{} exists but is not a readable agent config ({reason}); rerun with --force to replace it", path.display())]
    ConfigUnreadable { path: PathBuf, reason: String },
    #[error("finding the running binary: {0}")]
    CurrentExe(std::io::Error),
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The usual cause of EACCES here is a forgotten `sudo`; say so.
fn permission_hint(e: &std::io::Error) -> &'static str {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        " (run as root, or install under a directory of your own with --root)"
    } else {
        ""
    }
}

/// `map_err` helper: an I/O error with what was being done to which path.
pub(crate) fn io(
    action: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_owned();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}
