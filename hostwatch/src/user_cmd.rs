//! `hostwatch user add|passwd|remove|list` and `hostwatch token
//! add|remove|list`: the dashboard's users file (see `gateway::auth::users`).
//! Passwords are read from the terminal without echo (twice), or as one line
//! from standard input when it is not a terminal (for scripts); a token is
//! printed once on stdout and only its hash is kept.

use std::io::{BufRead as _, IsTerminal as _};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use gateway::auth::{password, users::UsersFile};

#[derive(Args, Debug)]
pub struct UserArgs {
    #[command(subcommand)]
    pub command: UserCommand,
    #[command(flatten)]
    pub file: FileArg,
}

#[derive(Args, Debug)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
    #[command(flatten)]
    pub file: FileArg,
}

#[derive(Args, Debug)]
pub struct FileArg {
    /// The users file: the edge's or gateway's auth.users_file (created by
    /// the first `user add`).
    #[arg(long, env = "HOSTWATCH_USERS_FILE", global = true)]
    pub users_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a dashboard user; the password is read from the terminal (or stdin).
    Add { name: String },
    /// Set a user's password.
    Passwd { name: String },
    /// Delete a user; their sessions end within a second.
    Remove { name: String },
    /// List users.
    List,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an API token (`Authorization: Bearer …`) and print it, only now.
    Add { name: String },
    /// Delete a token; it is refused within a second.
    Remove { name: String },
    /// List tokens (names and creation times; the tokens themselves are not kept).
    List,
}

impl FileArg {
    fn path(&self) -> anyhow::Result<&Path> {
        self.users_file
            .as_deref()
            .context("which users file? give --users-file PATH (or HOSTWATCH_USERS_FILE)")
    }
}

fn read(path: &Path) -> anyhow::Result<UsersFile> {
    UsersFile::read_or_empty(path).map_err(anyhow::Error::msg)
}

fn write(f: &UsersFile, path: &Path) -> anyhow::Result<()> {
    f.write(path).map_err(anyhow::Error::msg)
}

/// The new password: twice from the terminal, or one line of stdin.
fn new_password(name: &str) -> anyhow::Result<String> {
    let pw = if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password(format!("password for {name}: "))
            .context("reading the password")?;
        let b = rpassword::prompt_password("again: ").context("reading the password")?;
        if a != b {
            bail!("the passwords differ");
        }
        a
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    };
    if let Some(why) = password::weak(&pw) {
        bail!(why);
    }
    Ok(pw)
}

/// Runs a `hostwatch user` command; what it did goes to stderr, lists to stdout.
pub fn user(a: UserArgs) -> anyhow::Result<()> {
    let path = a.file.path()?;
    let mut f = read(path)?;
    match a.command {
        UserCommand::Add { name } => {
            gateway::auth::users::valid_name(&name).map_err(anyhow::Error::msg)?;
            if f.users.iter().any(|u| u.name == name) {
                bail!("user {name:?} exists (change its password with `hostwatch user passwd {name}`)");
            }
            let phc = password::hash(&new_password(&name)?).map_err(anyhow::Error::msg)?;
            f.set_user(&name, phc, false).map_err(anyhow::Error::msg)?;
            write(&f, path)?;
            eprintln!("user {name} added to {}", path.display());
        }
        UserCommand::Passwd { name } => {
            if !f.users.iter().any(|u| u.name == name) {
                bail!("no user {name:?} in {}", path.display());
            }
            let phc = password::hash(&new_password(&name)?).map_err(anyhow::Error::msg)?;
            f.set_user(&name, phc, true).map_err(anyhow::Error::msg)?;
            write(&f, path)?;
            eprintln!("password of {name} changed");
        }
        UserCommand::Remove { name } => {
            f.remove_user(&name).map_err(anyhow::Error::msg)?;
            write(&f, path)?;
            eprintln!("user {name} removed");
        }
        UserCommand::List => {
            for u in &f.users {
                println!("{}", u.name);
            }
        }
    }
    Ok(())
}

/// Runs a `hostwatch token` command; a new token is the only thing on stdout.
pub fn token(a: TokenArgs) -> anyhow::Result<()> {
    let path = a.file.path()?;
    let mut f = read(path)?;
    match a.command {
        TokenCommand::Add { name } => {
            let token = f
                .add_token(&name, common::now_ms())
                .map_err(anyhow::Error::msg)?;
            write(&f, path)?;
            println!("{token}");
            eprintln!(
                "token {name} added to {}; it is shown only now. Use it as `Authorization: Bearer TOKEN`.",
                path.display()
            );
        }
        TokenCommand::Remove { name } => {
            f.remove_token(&name).map_err(anyhow::Error::msg)?;
            write(&f, path)?;
            eprintln!("token {name} removed");
        }
        TokenCommand::List => {
            for t in &f.tokens {
                println!(
                    "{}\tcreated {}\tsha256 {}…",
                    t.name,
                    format_ms(t.created_ms),
                    &t.sha256[..12]
                );
            }
        }
    }
    Ok(())
}

/// `2026-12-03T15:04:05Z` from ms since the epoch (UTC, no leap seconds).
fn format_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::format_ms;

    #[test]
    fn creation_times() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_ms(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(format_ms(1_796_310_245_000), "2026-12-03T15:04:05Z");
    }
}
