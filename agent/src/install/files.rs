//! File operations of the installer: every write goes to a temporary file in the
//! same directory and is renamed over the target, so a crash or a full disk
//! never leaves half a config, unit or binary behind, and a running agent keeps
//! executing its old binary until it restarts.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use super::error::{io, Result};

/// Did a write change anything?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Written,
    Unchanged,
}

/// Writes `bytes` to `path` with `mode` unless it already holds exactly that;
/// the mode is enforced either way.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<Change> {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        set_mode(path, mode)?;
        return Ok(Change::Unchanged);
    }
    let tmp = temp_path(path);
    let written = (|| {
        // Created with the final mode so the content is never readable by
        // others, not even between create and chmod.
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        // The umask may have narrowed the mode at creation.
        f.set_permissions(Permissions::from_mode(mode))?;
        f.sync_all()
    })();
    finish(&tmp, path, written)?;
    Ok(Change::Written)
}

/// How the binary got into place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryChange {
    /// The running binary is already the installed one.
    SameFile,
    Unchanged,
    Copied,
}

/// Copies the binary at `src` to `dst` (mode 0755), unless `dst` is `src`
/// itself or already has the same bytes.
pub fn install_binary(src: &Path, dst: &Path) -> Result<BinaryChange> {
    let src_meta = fs::metadata(src).map_err(io("reading", src))?;
    if let Ok(dst_meta) = fs::metadata(dst) {
        if dst_meta.dev() == src_meta.dev() && dst_meta.ino() == src_meta.ino() {
            return Ok(BinaryChange::SameFile);
        }
        if dst_meta.len() == src_meta.len() && same_bytes(src, dst)? {
            set_mode(dst, 0o755)?;
            return Ok(BinaryChange::Unchanged);
        }
    }
    let tmp = temp_path(dst);
    let copied = (|| {
        let mut from = File::open(src)?;
        let mut to = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(&tmp)?;
        std::io::copy(&mut from, &mut to)?;
        to.set_permissions(Permissions::from_mode(0o755))?;
        to.sync_all()
    })();
    finish(&tmp, dst, copied)?;
    Ok(BinaryChange::Copied)
}

/// Removes a file; `Ok(false)` when it was not there.
pub fn remove_file(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io("removing", path)(e)),
    }
}

/// Removes a directory and everything in it; `Ok(false)` when it was not there.
/// Symlinks inside are removed, never followed.
pub fn remove_tree(path: &Path) -> Result<bool> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io("removing", path)(e)),
    }
}

pub fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, Permissions::from_mode(mode)).map_err(io("setting the mode of", path))
}

/// Hands `path` to `uid:gid`.
pub fn chown(path: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(io("changing the owner of", path))
}

fn same_bytes(a: &Path, b: &Path) -> Result<bool> {
    let a = fs::read(a).map_err(io("reading", a))?;
    let b = fs::read(b).map_err(io("reading", b))?;
    Ok(a == b)
}

/// `.<name>.tmp-<pid>` beside `path`: same filesystem, so the rename is atomic.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Renames the finished temp file over `path` and syncs the directory, or
/// removes the temp file when writing it failed.
fn finish(tmp: &Path, path: &Path, written: std::io::Result<()>) -> Result<()> {
    if let Err(e) = written.and_then(|()| fs::rename(tmp, path)) {
        let _ = fs::remove_file(tmp);
        return Err(io("writing", path)(e));
    }
    if let Some(dir) = path.parent() {
        // The rename is durable only once the directory is synced.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("syncing", dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_once_then_reports_unchanged_and_enforces_the_mode() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let p = tmp.path().join("f");
        assert_eq!(
            write_atomic(&p, b"a", 0o600).expect("write"),
            Change::Written
        );
        assert_eq!(fs::metadata(&p).expect("meta").mode() & 0o777, 0o600);
        set_mode(&p, 0o644).expect("chmod");
        assert_eq!(
            write_atomic(&p, b"a", 0o600).expect("write"),
            Change::Unchanged
        );
        assert_eq!(fs::metadata(&p).expect("meta").mode() & 0o777, 0o600);
        assert_eq!(
            write_atomic(&p, b"b", 0o600).expect("write"),
            Change::Written
        );
        assert_eq!(fs::read(&p).expect("read"), b"b");
        // No temp file left behind.
        assert_eq!(fs::read_dir(tmp.path()).expect("ls").count(), 1);
    }

    #[test]
    fn binary_copy_is_skipped_for_the_same_file_or_bytes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let src = tmp.path().join("src");
        let dst = tmp.path().join("dst");
        fs::write(&src, b"\x7fELF one").expect("write");
        assert_eq!(
            install_binary(&src, &src).expect("same"),
            BinaryChange::SameFile
        );
        assert_eq!(
            install_binary(&src, &dst).expect("copy"),
            BinaryChange::Copied
        );
        assert_eq!(fs::metadata(&dst).expect("meta").mode() & 0o777, 0o755);
        assert_eq!(
            install_binary(&src, &dst).expect("again"),
            BinaryChange::Unchanged
        );
        fs::write(&src, b"\x7fELF two").expect("write");
        assert_eq!(
            install_binary(&src, &dst).expect("new"),
            BinaryChange::Copied
        );
        assert_eq!(fs::read(&dst).expect("read"), b"\x7fELF two");
    }
}
