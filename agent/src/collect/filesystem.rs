//! Usage of mounted filesystems.
//!
//! sysinfo reads `statvfs` and exposes total = `f_blocks × f_frsize` and available =
//! `f_bavail × f_frsize`, but not `f_bfree`. psutil's `disk_usage()` has total and
//! free (= available) the same, but its `used` is total − `f_bfree × f_frsize`,
//! which leaves out the blocks reserved for root (5 % by default on ext4). We can
//! only compute used = total − available, so our `used` counts the reserved blocks
//! and our utilization, used / total, is what an unprivileged writer sees: it
//! reaches 1 exactly when such a writer gets ENOSPC. psutil's `percent` is
//! used / (used + free), slightly lower.

use std::collections::BTreeMap;

use common::model::Sample;
use sysinfo::{DiskRefreshKind, Disks};

use super::{ratio, sample, CollectError, Result};

/// Bytes, labels `device`, `mountpoint`, `type`, `state` ∈ used, free.
/// psutil `disk_usage(mountpoint)`: used ≈ `total - free` (see module docs), `free`.
pub const USAGE: &str = "system.filesystem.usage";
/// Bytes, labels `device`, `mountpoint`, `type`; psutil `disk_usage().total`.
pub const LIMIT: &str = "system.filesystem.limit";
/// Ratio used / total, same labels as the limit; ≈ psutil `disk_usage().percent / 100`.
pub const UTILIZATION: &str = "system.filesystem.utilization";

/// Kernel and memory-backed filesystems that say nothing about disk space. sysinfo
/// already drops most of them on Linux; the list also covers other platforms.
const PSEUDO_TYPES: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fusectl",
    "hugetlbfs",
    "mqueue",
    "nsfs",
    "proc",
    "pstore",
    "ramfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
];

/// One mounted filesystem as sysinfo last saw it.
#[derive(Debug, Clone, PartialEq)]
struct Mount {
    device: String,
    mountpoint: String,
    fs_type: String,
    total: u64,
    available: u64,
}

pub(crate) struct Filesystems {
    disks: Disks,
}

impl Filesystems {
    pub(crate) fn new() -> Result<Self> {
        let disks = Disks::new_with_refreshed_list_specifics(storage_only()).map_err(|error| {
            CollectError::Sysinfo {
                what: "mount list",
                error,
            }
        })?;
        Ok(Self { disks })
    }

    /// With `refresh_list`, re-reads the mount table (dropping unmounted
    /// filesystems); otherwise only calls `statvfs` on the known mounts.
    pub(crate) fn collect(&mut self, refresh_list: bool) -> Vec<Sample> {
        if refresh_list {
            self.disks.refresh_specifics(true, storage_only());
        } else {
            for disk in self.disks.iter_mut() {
                disk.refresh_specifics(storage_only());
            }
        }
        let mounts = self.disks.iter().map(|disk| Mount {
            device: disk.name().to_string_lossy().into_owned(),
            mountpoint: disk.mount_point().to_string_lossy().into_owned(),
            fs_type: disk.file_system().to_string_lossy().into_owned(),
            total: disk.total_space(),
            available: disk.available_space(),
        });
        select(mounts)
            .iter()
            .flat_map(|m| samples(&m.device, &m.mountpoint, &m.fs_type, m.total, m.available))
            .collect()
    }
}

/// Only `statvfs`: disk kind and I/O counters are not collected here.
fn storage_only() -> DiskRefreshKind {
    DiskRefreshKind::nothing().with_storage()
}

/// Drops pseudo filesystems and keeps one mount per device, sorted by mountpoint.
///
/// A device mounted several times (bind mounts, containers' `/etc/hosts`, btrfs
/// subvolumes) has the same space behind every mountpoint, so reporting each would
/// count it twice; the shortest mountpoint is the one people know it by. Device names
/// without a `/` (`overlay`, `none`, `tmpfs`) are placeholders shared by unrelated
/// filesystems, so those are only merged when the mountpoint is also the same.
fn select(mounts: impl IntoIterator<Item = Mount>) -> Vec<Mount> {
    let mut by_device: BTreeMap<(String, String), Mount> = BTreeMap::new();
    for mount in mounts {
        if !is_real(&mount) {
            continue;
        }
        let key = if mount.device.contains('/') {
            (mount.device.clone(), String::new())
        } else {
            (mount.device.clone(), mount.mountpoint.clone())
        };
        let shorter = |kept: &Mount| {
            (mount.mountpoint.len(), &mount.mountpoint) < (kept.mountpoint.len(), &kept.mountpoint)
        };
        match by_device.get(&key) {
            Some(kept) if !shorter(kept) => {}
            _ => {
                by_device.insert(key, mount);
            }
        }
    }
    let mut kept: Vec<Mount> = by_device.into_values().collect();
    kept.sort_by(|a, b| a.mountpoint.cmp(&b.mountpoint));
    kept
}

/// An overlay is the root of a container, worth reporting only as `/`; elsewhere
/// it is a container's layer whose space belongs to the host filesystem below.
fn is_real(mount: &Mount) -> bool {
    let pseudo = PSEUDO_TYPES.contains(&mount.fs_type.as_str())
        || (mount.fs_type == "overlay" && mount.mountpoint != "/");
    !pseudo && mount.total > 0
}

/// The samples of one filesystem; the simulator uses this too, so both agree on
/// what `used` means.
pub(crate) fn samples(
    device: &str,
    mountpoint: &str,
    fs_type: &str,
    total: u64,
    available: u64,
) -> Vec<Sample> {
    let used = total.saturating_sub(available);
    let labels = [
        ("device", device),
        ("mountpoint", mountpoint),
        ("type", fs_type),
    ];
    let [d, m, t] = labels;
    vec![
        sample(USAGE, &[d, m, t, ("state", "used")], used as f64),
        sample(USAGE, &[d, m, t, ("state", "free")], available as f64),
        sample(LIMIT, &labels, total as f64),
        sample(UTILIZATION, &labels, ratio(used, total)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(device: &str, mountpoint: &str, fs_type: &str) -> Mount {
        Mount {
            device: device.to_owned(),
            mountpoint: mountpoint.to_owned(),
            fs_type: fs_type.to_owned(),
            total: 1000,
            available: 400,
        }
    }

    fn check(input: Vec<Mount>, expected_mountpoints: &[&str]) {
        let kept: Vec<String> = select(input).into_iter().map(|m| m.mountpoint).collect();
        assert_eq!(kept, expected_mountpoints);
    }

    #[test]
    fn pseudo_filesystems_are_skipped() {
        check(
            vec![
                mount("proc", "/proc", "proc"),
                mount("tmpfs", "/dev/shm", "tmpfs"),
                mount("/dev/sda1", "/", "ext4"),
                mount("overlay", "/var/lib/docker/overlay2/x/merged", "overlay"),
            ],
            &["/"],
        );
    }

    #[test]
    fn container_root_overlay_is_kept() {
        check(vec![mount("overlay", "/", "overlay")], &["/"]);
    }

    #[test]
    fn bind_mounts_of_one_device_are_reported_once_at_the_shortest_path() {
        check(
            vec![
                mount("/dev/vda", "/etc/hosts", "ext4"),
                mount("/dev/vda", "/", "ext4"),
                mount("/dev/vda", "/etc/resolv.conf", "ext4"),
                mount("/dev/vdb", "/var/lib/db", "xfs"),
            ],
            &["/", "/var/lib/db"],
        );
    }

    #[test]
    fn placeholder_device_names_are_not_merged() {
        check(
            vec![mount("none", "/a", "ext4"), mount("none", "/b", "ext4")],
            &["/a", "/b"],
        );
    }

    #[test]
    fn used_counts_reserved_blocks() {
        let out = samples("/dev/sda1", "/", "ext4", 1000, 400);
        assert_eq!(out[0].value, 600.0);
        assert_eq!(out[1].value, 400.0);
        assert_eq!(out[3].value, 0.6);
    }
}
