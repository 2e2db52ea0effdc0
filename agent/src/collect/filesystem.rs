//! Usage of mounted filesystems.
//!
//! sysinfo supplies the mount list; the numbers come from our own `statvfs` call,
//! because sysinfo keeps only `f_blocks` and `f_bavail` and so cannot tell used
//! blocks from the ones reserved for root (5 % by default on ext4, sometimes far
//! more). With `f_bfree` as well, every value matches psutil's `disk_usage()`:
//! used = (`f_blocks` − `f_bfree`) × `f_frsize`, free = `f_bavail` × `f_frsize`, and
//! utilization = used / (used + free), which reaches 1 exactly when an unprivileged
//! writer gets ENOSPC. The reserve is reported as its own state, as OpenTelemetry's
//! host metrics do, so used + free + reserved = limit.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use common::model::Sample;
use sysinfo::{DiskRefreshKind, Disks};

use super::{ratio, sample, CollectError, Result};

/// Bytes, labels `device`, `mountpoint`, `type`, `state` ∈ used, free, reserved.
/// psutil `disk_usage(mountpoint)`: `used`, `free`; reserved = total − used − free.
pub const USAGE: &str = "system.filesystem.usage";
/// Bytes, labels `device`, `mountpoint`, `type`; psutil `disk_usage().total`.
pub const LIMIT: &str = "system.filesystem.limit";
/// Ratio used / (used + free), same labels as the limit; psutil
/// `disk_usage().percent / 100` before its rounding to one decimal.
pub const UTILIZATION: &str = "system.filesystem.utilization";
/// Inodes, labels `device`, `mountpoint`, `type`, `state` ∈ used, free; from
/// `f_files` − `f_ffree` and `f_ffree` (`df -i`). Absent for filesystems without a
/// fixed inode table (btrfs, vfat), which report `f_files` = 0.
pub const INODES_USAGE: &str = "system.filesystem.inodes.usage";

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

/// The space of one filesystem in bytes, and its inodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Space {
    /// `f_blocks × f_frsize`; psutil `total`.
    pub total: u64,
    /// `f_bavail × f_frsize`, what an unprivileged writer can still use; psutil `free`.
    pub available: u64,
    /// `(f_bfree − f_bavail) × f_frsize`, free blocks only root may use. `None` when
    /// the numbers come from sysinfo, which does not expose `f_bfree`; the reserve is
    /// then counted as used.
    pub reserved: Option<u64>,
    /// `None` without a fixed inode table or when the numbers come from sysinfo.
    pub inodes: Option<Inodes>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Inodes {
    /// `f_files`.
    pub total: u64,
    /// `f_ffree`.
    pub free: u64,
}

impl Space {
    #[cfg(unix)]
    fn from_statvfs(st: &rustix::fs::StatVfs) -> Self {
        let bytes = |blocks: u64| blocks.saturating_mul(st.f_frsize);
        Self {
            total: bytes(st.f_blocks),
            available: bytes(st.f_bavail),
            reserved: Some(bytes(st.f_bfree.saturating_sub(st.f_bavail))),
            inodes: (st.f_files > 0).then_some(Inodes {
                total: st.f_files,
                free: st.f_ffree,
            }),
        }
    }
}

#[cfg(unix)]
fn statvfs(mountpoint: &Path) -> std::io::Result<Space> {
    Ok(Space::from_statvfs(&rustix::fs::statvfs(mountpoint)?))
}

#[cfg(not(unix))]
fn statvfs(_mountpoint: &Path) -> std::io::Result<Space> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// One mounted filesystem and its space.
#[derive(Debug, Clone, PartialEq)]
struct Mount {
    device: String,
    mountpoint: String,
    fs_type: String,
    space: Space,
}

pub(crate) struct Filesystems {
    disks: Disks,
    /// Mountpoints whose `statvfs` is failing, so that each failure is logged once.
    statvfs_failing: HashSet<String>,
}

impl Filesystems {
    pub(crate) fn new() -> Result<Self> {
        let disks = Disks::new_with_refreshed_list_specifics(DiskRefreshKind::nothing()).map_err(
            |error| CollectError::Sysinfo {
                what: "mount list",
                error,
            },
        )?;
        Ok(Self {
            disks,
            statvfs_failing: HashSet::new(),
        })
    }

    /// With `refresh_list`, re-reads the mount table (dropping unmounted
    /// filesystems); then calls `statvfs` on each mount.
    pub(crate) fn collect(&mut self, refresh_list: bool) -> Vec<Sample> {
        if refresh_list {
            // Only the list: sysinfo's own statvfs numbers are read just for a fallback.
            self.disks
                .refresh_specifics(true, DiskRefreshKind::nothing());
        }
        let mut mounts = Vec::new();
        for disk in self.disks.iter_mut() {
            let mountpoint = disk.mount_point().to_string_lossy().into_owned();
            let space = match statvfs(disk.mount_point()) {
                Ok(space) => {
                    if self.statvfs_failing.remove(&mountpoint) {
                        tracing::info!(%mountpoint, "statvfs works again");
                    }
                    space
                }
                Err(error) => {
                    if self.statvfs_failing.insert(mountpoint.clone()) {
                        tracing::warn!(
                            %mountpoint,
                            %error,
                            "statvfs failed; using sysinfo's numbers, which count reserved blocks as used"
                        );
                    }
                    disk.refresh_specifics(storage_only());
                    Space {
                        total: disk.total_space(),
                        available: disk.available_space(),
                        reserved: None,
                        inodes: None,
                    }
                }
            };
            mounts.push(Mount {
                device: disk.name().to_string_lossy().into_owned(),
                mountpoint,
                fs_type: disk.file_system().to_string_lossy().into_owned(),
                space,
            });
        }
        select(mounts)
            .iter()
            .flat_map(|m| samples(&m.device, &m.mountpoint, &m.fs_type, &m.space))
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
    !pseudo && mount.space.total > 0
}

/// The samples of one filesystem; the simulator uses this too, so both agree on
/// what `used` means.
pub(crate) fn samples(device: &str, mountpoint: &str, fs_type: &str, space: &Space) -> Vec<Sample> {
    let Space {
        total,
        available,
        reserved,
        inodes,
    } = *space;
    let used = total
        .saturating_sub(available)
        .saturating_sub(reserved.unwrap_or(0));
    let labels = [
        ("device", device),
        ("mountpoint", mountpoint),
        ("type", fs_type),
    ];
    let [d, m, t] = labels;
    let mut out = vec![
        sample(USAGE, &[d, m, t, ("state", "used")], used as f64),
        sample(USAGE, &[d, m, t, ("state", "free")], available as f64),
    ];
    if let Some(reserved) = reserved {
        out.push(sample(
            USAGE,
            &[d, m, t, ("state", "reserved")],
            reserved as f64,
        ));
    }
    out.push(sample(LIMIT, &labels, total as f64));
    out.push(sample(
        UTILIZATION,
        &labels,
        ratio(used, used.saturating_add(available)),
    ));
    if let Some(Inodes { total, free }) = inodes {
        let used = total.saturating_sub(free);
        out.push(sample(
            INODES_USAGE,
            &[d, m, t, ("state", "used")],
            used as f64,
        ));
        out.push(sample(
            INODES_USAGE,
            &[d, m, t, ("state", "free")],
            free as f64,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(device: &str, mountpoint: &str, fs_type: &str) -> Mount {
        Mount {
            device: device.to_owned(),
            mountpoint: mountpoint.to_owned(),
            fs_type: fs_type.to_owned(),
            space: Space {
                total: 1000,
                available: 400,
                reserved: Some(50),
                inodes: None,
            },
        }
    }

    fn check_select(input: Vec<Mount>, expected_mountpoints: &[&str]) {
        let kept: Vec<String> = select(input).into_iter().map(|m| m.mountpoint).collect();
        assert_eq!(kept, expected_mountpoints);
    }

    #[test]
    fn pseudo_filesystems_are_skipped() {
        check_select(
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
        check_select(vec![mount("overlay", "/", "overlay")], &["/"]);
    }

    #[test]
    fn bind_mounts_of_one_device_are_reported_once_at_the_shortest_path() {
        check_select(
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
        check_select(
            vec![mount("none", "/a", "ext4"), mount("none", "/b", "ext4")],
            &["/a", "/b"],
        );
    }

    /// `statvfs` fields: `f_frsize`, `f_blocks`, `f_bfree`, `f_bavail`, `f_files`, `f_ffree`.
    type Statvfs = [u64; 6];

    /// Renders the samples of one statvfs result as `name{state}` = value.
    fn check(statvfs: Statvfs, expected: &[&str]) {
        let [f_frsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree] = statvfs;
        let st = rustix::fs::StatVfs {
            f_bsize: f_frsize,
            f_frsize,
            f_blocks,
            f_bfree,
            f_bavail,
            f_files,
            f_ffree,
            f_favail: f_ffree,
            f_fsid: 0,
            f_flag: rustix::fs::StatVfsMountFlags::empty(),
            f_namemax: 255,
        };
        let out = samples("/dev/vda", "/", "ext4", &Space::from_statvfs(&st));
        let actual: Vec<String> = out
            .iter()
            .map(|s| match s.labels.get("state") {
                Some(state) => format!("{}{{{state}}} = {}", s.name, s.value),
                None => format!("{} = {}", s.name, s.value),
            })
            .collect();
        assert_eq!(actual, expected);
    }

    /// Guards against counting root's reserve as used: the `statvfs` of this
    /// development VM's `/`, where 64 % of the disk is reserved (sysinfo's numbers
    /// gave 70 % utilization). Expected values are psutil 7.2.2's `disk_usage("/")`
    /// from the same call: total=270553174016, used=18080923648, free=79491825664,
    /// percent=18.5.
    #[test]
    fn matches_psutil_with_a_large_root_reserve() {
        check(
            [
                4096, 66_053_021, 61_638_733, 19_407_184, 16_777_216, 16_356_694,
            ],
            &[
                "system.filesystem.usage{used} = 18080923648",
                "system.filesystem.usage{free} = 79491825664",
                "system.filesystem.usage{reserved} = 172980424704",
                "system.filesystem.limit = 270553174016",
                "system.filesystem.utilization = 0.18530710444761767",
                "system.filesystem.inodes.usage{used} = 420522",
                "system.filesystem.inodes.usage{free} = 16356694",
            ],
        );
    }

    /// psutil: total=2048000000, used=1536000000, free=409600000, percent=78.9; the
    /// fragment size, not the block size, is the unit. No inode table (btrfs).
    #[test]
    fn fragment_size_is_the_unit_and_zero_inodes_are_skipped() {
        check(
            [1024, 2_000_000, 500_000, 400_000, 0, 0],
            &[
                "system.filesystem.usage{used} = 1536000000",
                "system.filesystem.usage{free} = 409600000",
                "system.filesystem.usage{reserved} = 102400000",
                "system.filesystem.limit = 2048000000",
                "system.filesystem.utilization = 0.7894736842105263",
            ],
        );
    }

    /// psutil: percent=0.0 rather than a division by zero.
    #[test]
    fn empty_filesystem_is_zero_not_nan() {
        check(
            [4096, 0, 0, 0, 0, 0],
            &[
                "system.filesystem.usage{used} = 0",
                "system.filesystem.usage{free} = 0",
                "system.filesystem.usage{reserved} = 0",
                "system.filesystem.limit = 0",
                "system.filesystem.utilization = 0",
            ],
        );
    }

    #[test]
    fn sysinfo_fallback_counts_the_reserve_as_used() {
        let space = Space {
            total: 1000,
            available: 400,
            reserved: None,
            inodes: None,
        };
        let out = samples("/dev/sda1", "/", "ext4", &space);
        let values: Vec<f64> = out.iter().map(|s| s.value).collect();
        assert_eq!(values, [600.0, 400.0, 1000.0, 0.6]);
    }
}
