//! `hostwatch-agent install` and `uninstall`: put the agent on a host as a
//! hardened systemd service, or take it off again. Everything is written under a
//! root directory, `/` on a real host; systemd and the user database are touched
//! only for `/`.
//!
//! - [`layout`]: every path, and the validated [`layout::Root`] they live under.
//! - [`config_file`]: the `agent.toml` written, compared with an existing one.
//! - [`unit`]: the systemd unit, embedded from `infra/systemd/`.
//! - [`files`]: atomic writes with modes, the binary copy.
//! - [`system`]: the service user and systemctl.
//!
//! Both steps report what they did, one line per file, on the writer given.

pub mod config_file;
pub mod error;
pub mod files;
pub mod layout;
pub mod system;
pub mod unit;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{Error, Result};

use files::{BinaryChange, Change};
use layout::Root;

#[derive(clap::Args, Debug, Clone)]
pub struct InstallArgs {
    /// gRPC URL of the site's hub, e.g. https://hub.example:7400.
    #[arg(long)]
    pub hub: String,
    /// One-time enrolment token issued by the hub.
    #[arg(long, env = "HOSTWATCH_ENROLMENT_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Install under this directory instead of / (an image being built, a
    /// test); systemd and the user database are then left alone.
    #[arg(long, default_value = "/")]
    pub root: PathBuf,
    /// Site this host belongs to (empty: the hub's own).
    #[arg(long, default_value = "")]
    pub site: String,
    /// Collection interval, e.g. 1s, 500ms, 5m.
    #[arg(long, default_value = "1s", value_parser = common::config::parse_duration)]
    pub interval: Duration,
    /// CA certificate (PEM) to trust for the hub; copied to /etc/hostwatch/ca.pem.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Write everything but do not enable or start the service.
    #[arg(long)]
    pub no_start: bool,
    /// Replace an existing config whose settings differ.
    #[arg(long)]
    pub force: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct UninstallArgs {
    /// The directory the agent was installed under.
    #[arg(long, default_value = "/")]
    pub root: PathBuf,
    /// Also remove the config (with its token) and the state directory (the
    /// spool of undelivered batches and the per-agent credential).
    #[arg(long)]
    pub purge: bool,
}

/// Installs (or updates) the agent under `args.root`.
pub fn install(args: &InstallArgs, out: &mut dyn Write) -> Result<()> {
    let root = Root::new(&args.root)?;
    if args.token.trim().is_empty() {
        return Err(Error::Config("--token is empty".into()));
    }
    let settings = config_file::Settings {
        hub_url: args.hub.clone(),
        enrolment_token: args.token.clone(),
        site: args.site.clone(),
        interval: args.interval,
        ca_file: args.ca_file.is_some(),
    };
    // Every refusal comes before the first write.
    let config = config_to_write(&root, &settings, args.force)?;
    let ca_pem = match &args.ca_file {
        Some(ca) => Some(std::fs::read(ca).map_err(error::io("reading", ca))?),
        None => None,
    };
    let exe = std::env::current_exe().map_err(Error::CurrentExe)?;
    let packaged = packaged(&root, &exe);

    // The user first: the files below are handed to it.
    let owner = if root.is_system() && system::is_root() {
        Some(ensure_user(out)?)
    } else {
        None
    };
    let mut changed = false;

    if let Some(pem) = ca_pem {
        root.ensure_dir(layout::CONFIG_DIR, 0o755)?;
        let path = root.path(layout::CA_FILE);
        let c = files::write_atomic(&path, &pem, 0o644)?;
        changed |= c == Change::Written;
        report(out, "ca", &path, written(c, "0644"))?;
    }

    changed |= write_config(&root, config, owner, out)?;

    let state = root.ensure_dir(layout::STATE_DIR, 0o700)?;
    files::set_mode(&state, 0o700)?;
    if let Some((uid, gid)) = owner {
        files::chown(&state, uid, gid)?;
    }
    report(out, "state", &state, "ready (0700)")?;

    let binary = if packaged {
        let path = root.path(layout::PACKAGED_BINARY);
        report(out, "binary", &path, "from the package, left as it is")?;
        layout::PACKAGED_BINARY
    } else {
        root.ensure_parent(layout::BINARY)?;
        let path = root.path(layout::BINARY);
        let c = files::install_binary(&exe, &path)?;
        changed |= c == BinaryChange::Copied;
        let what = match c {
            BinaryChange::SameFile => "already this binary",
            BinaryChange::Unchanged => "unchanged (0755)",
            BinaryChange::Copied => "copied (0755)",
        };
        report(out, "binary", &path, what)?;
        layout::BINARY
    };

    if packaged {
        // On merged-/usr systems both paths name the same file: report one.
        let units = layout::PACKAGED_UNITS.iter().map(|u| root.path(u));
        if let Some(u) = units.into_iter().find(|p| p.exists()) {
            report(out, "unit", &u, "from the package")?;
        }
    } else {
        root.ensure_parent(layout::UNIT)?;
        let path = root.path(layout::UNIT);
        let c = files::write_atomic(&path, unit::render(binary).as_bytes(), 0o644)?;
        changed |= c == Change::Written;
        report(out, "unit", &path, written(c, "0644"))?;
    }

    start(&root, args.no_start, changed, binary, out)
}

/// Stops and removes the agent installed under `args.root`.
pub fn uninstall(args: &UninstallArgs, out: &mut dyn Write) -> Result<()> {
    let root = Root::new(&args.root)?;
    let systemd = root.is_system() && system::systemd_running();
    let known_unit = std::iter::once(layout::UNIT)
        .chain(layout::PACKAGED_UNITS)
        .any(|u| root.path(u).exists());
    if systemd && known_unit {
        match system::systemctl(&["disable", "--now", layout::SERVICE]) {
            Ok(()) => writeln!(out, "service {} stopped and disabled", layout::SERVICE),
            Err(e) => writeln!(out, "warning: {e}"),
        }
        .map_err(error::io("writing to", Path::new("stdout")))?;
    } else if !root.is_system() {
        note(
            out,
            &format!("systemd not touched (root is {})", args.root.display()),
        )?;
    }

    let unit_removed = remove(&root, layout::UNIT, out)?;
    remove(&root, layout::BINARY, out)?;
    if systemd && unit_removed {
        system::systemctl(&["daemon-reload"])?;
    }
    if let Some(u) = layout::PACKAGED_UNITS
        .iter()
        .find(|u| root.path(u).exists())
    {
        note(
            out,
            &format!(
                "{u} and {} belong to the package: apt remove hostwatch-agent",
                layout::PACKAGED_BINARY
            ),
        )?;
    }

    if args.purge {
        remove(&root, layout::CONFIG, out)?;
        if root.path(layout::CA_FILE).exists() {
            remove(&root, layout::CA_FILE, out)?;
        }
        // Only if empty: anything else in it is not ours.
        let _ = std::fs::remove_dir(root.path(layout::CONFIG_DIR));
        if let Some(path) = root.inside(layout::STATE_DIR)? {
            let what = if files::remove_tree(&path)? {
                "removed"
            } else {
                "not present"
            };
            report(out, "state", &path, what)?;
        }
        if root.is_system() && system::lookup_user(layout::USER).is_some() {
            note(
                out,
                &format!(
                    "user {} kept (userdel {} removes it)",
                    layout::USER,
                    layout::USER
                ),
            )?;
        }
    } else {
        report(
            out,
            "config",
            &root.path(layout::CONFIG),
            "kept (--purge removes it)",
        )?;
        report(
            out,
            "state",
            &root.path(layout::STATE_DIR),
            "kept (--purge removes it)",
        )?;
    }
    Ok(())
}

/// Decides about the config before anything is written: `Some(text)` to
/// write, `None` to keep the one there (it has these settings). Refuses an
/// invalid config, and one with other settings without `force`.
fn config_to_write(
    root: &Root,
    settings: &config_file::Settings,
    force: bool,
) -> Result<Option<String>> {
    let text = settings.render();
    let wanted = config_file::parse(&text, Path::new(layout::CONFIG)).map_err(Error::Config)?;
    let path = root.path(layout::CONFIG);
    let old = match std::fs::read_to_string(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(text)),
        Err(e) => return Err(error::io("reading", &path)(e)),
        Ok(old) => old,
    };
    if old == text {
        return Ok(None);
    }
    if force {
        return Ok(Some(text));
    }
    let old = config_file::parse(&old, &path).map_err(|reason| Error::ConfigUnreadable {
        path: path.clone(),
        reason,
    })?;
    let keys = config_file::differing_keys(&old, &wanted);
    if keys.is_empty() {
        Ok(None)
    } else {
        Err(Error::ConfigDiffers {
            path,
            keys: keys.join(", "),
        })
    }
}

/// Writes (or keeps) the config, mode 0600, owned by the service user: the
/// agent reads the token, nobody else but root can. True if it changed.
fn write_config(
    root: &Root,
    text: Option<String>,
    owner: Option<(u32, u32)>,
    out: &mut dyn Write,
) -> Result<bool> {
    root.ensure_dir(layout::CONFIG_DIR, 0o755)?;
    let path = root.path(layout::CONFIG);
    let change = match text {
        Some(text) => files::write_atomic(&path, text.as_bytes(), 0o600)?,
        None => {
            files::set_mode(&path, 0o600)?;
            Change::Unchanged
        }
    };
    if let Some((uid, gid)) = owner {
        files::chown(&path, uid, gid)?;
    }
    report(out, "config", &path, written(change, "0600"))?;
    Ok(change == Change::Written)
}

/// Enables and (re)starts the service, or says how to.
fn start(
    root: &Root,
    no_start: bool,
    changed: bool,
    binary: &str,
    out: &mut dyn Write,
) -> Result<()> {
    let how = format!(
        "systemctl daemon-reload && systemctl enable --now {}",
        layout::SERVICE
    );
    if !root.is_system() {
        return note(
            out,
            &format!("systemd not touched (root is not /); on the target system run: {how}"),
        );
    }
    if no_start {
        return note(
            out,
            &format!("not started (--no-start); to start it: {how}"),
        );
    }
    if !system::systemd_running() {
        return note(
            out,
            &format!(
                "systemd is not running here (no /run/systemd/system); run the agent yourself: {binary} --config {}",
                layout::CONFIG
            ),
        );
    }
    system::systemctl(&["daemon-reload"])?;
    system::systemctl(&["enable", layout::SERVICE])?;
    // An agent already running keeps its old config and binary until restarted.
    let verb = if changed { "restart" } else { "start" };
    system::systemctl(&[verb, layout::SERVICE])?;
    note(
        out,
        &format!(
            "service {} enabled and {}; logs: journalctl -u {} -f",
            layout::SERVICE,
            if changed { "(re)started" } else { "running" },
            layout::SERVICE
        ),
    )
}

/// The service user, created when missing.
fn ensure_user(out: &mut dyn Write) -> Result<(u32, u32)> {
    if let Some(ids) = system::lookup_user(layout::USER) {
        note(out, &format!("user {} exists", layout::USER))?;
        return Ok(ids);
    }
    system::create_user()?;
    let ids = system::lookup_user(layout::USER).ok_or_else(|| Error::Command {
        command: format!("getent passwd {}", layout::USER),
        detail: "user not found right after useradd".into(),
    })?;
    note(
        out,
        &format!("user {} created (system user, no login)", layout::USER),
    )?;
    Ok(ids)
}

/// True when the running binary is the .deb's and the package's unit is there:
/// then both stay the package's, and install only configures.
fn packaged(root: &Root, exe: &Path) -> bool {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    same(exe, &root.path(layout::PACKAGED_BINARY))
        && layout::PACKAGED_UNITS.iter().any(|u| root.path(u).exists())
}

/// Removes one file of ours; true if it was there.
fn remove(root: &Root, sys_path: &str, out: &mut dyn Write) -> Result<bool> {
    let Some(path) = root.inside(sys_path)? else {
        return Ok(false);
    };
    let removed = files::remove_file(&path)?;
    report(
        out,
        kind(sys_path),
        &path,
        if removed { "removed" } else { "not present" },
    )?;
    Ok(removed)
}

/// The report's first column for a path.
fn kind(sys_path: &str) -> &'static str {
    match sys_path {
        layout::UNIT => "unit",
        layout::BINARY => "binary",
        layout::CONFIG => "config",
        layout::CA_FILE => "ca",
        _ => "file",
    }
}

fn written(c: Change, mode: &str) -> String {
    match c {
        Change::Written => format!("written ({mode})"),
        Change::Unchanged => format!("unchanged ({mode})"),
    }
}

fn report(
    out: &mut dyn Write,
    what: &str,
    path: &Path,
    outcome: impl std::fmt::Display,
) -> Result<()> {
    writeln!(out, "{what:<7} {}  {outcome}", path.display())
        .map_err(error::io("writing to", Path::new("stdout")))
}

fn note(out: &mut dyn Write, text: &str) -> Result<()> {
    writeln!(out, "{text}").map_err(error::io("writing to", Path::new("stdout")))
}
