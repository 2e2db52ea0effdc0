//! `hostwatch detect`: replays NAB-style CSV series (`timestamp,value`)
//! through the hub's detection engine ([`hub::detect::Engine`], the code the
//! hub runs per series) and writes `timestamp,anomaly_score` for every row.
//!
//! Each file is a stream: rows go to a fresh engine one at a time, in file
//! order, and every row gets its score before the next is read. One engine
//! configuration serves every file; nothing here looks at labels.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hub::detect::{Config, Engine};

#[derive(Debug)]
pub enum DetectError {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The header has no `timestamp` or no `value` column.
    Header {
        path: PathBuf,
        header: String,
    },
    NoInput(PathBuf),
    Config(String),
}

impl fmt::Display for DetectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Header { path, header } => write!(
                f,
                "{}:1: expected a header with `timestamp` and `value` columns, found {header:?}",
                path.display()
            ),
            Self::NoInput(path) => write!(f, "{}: no .csv files found", path.display()),
            Self::Config(msg) => write!(f, "invalid detection config: {msg}"),
        }
    }
}

impl std::error::Error for DetectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DetectError + '_ {
    move |source| DetectError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What a run did, for the final report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub files: usize,
    pub rows: u64,
    /// Rows that could not be parsed: written with score 0, not scored.
    pub malformed: u64,
    /// Time spent inside [`Engine::update`] (excludes parsing and writing).
    pub engine_time: Duration,
}

/// Progress after each file: (files done, files in total, file just done).
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize, &Path);

/// Scores `input` (a CSV file or a folder searched recursively for `*.csv`)
/// into `output`, keeping each file's path relative to `input`.
pub fn run(
    input: &Path,
    output: &Path,
    config: &Config,
    progress: Progress<'_>,
) -> Result<Summary, DetectError> {
    config.validate().map_err(DetectError::Config)?;
    let files = discover(input)?;
    if files.is_empty() {
        return Err(DetectError::NoInput(input.to_owned()));
    }
    let mut summary = Summary::default();
    for (i, rel) in files.iter().enumerate() {
        let src = if rel.as_os_str().is_empty() {
            input.to_owned()
        } else {
            input.join(rel)
        };
        let name = if rel.as_os_str().is_empty() {
            PathBuf::from(input.file_name().unwrap_or_default())
        } else {
            rel.clone()
        };
        let dst = output.join(&name);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        score_file(&src, &dst, config, &mut summary)?;
        summary.files += 1;
        progress(i + 1, files.len(), &name);
    }
    Ok(summary)
}

/// Relative paths of the CSV files under `input`, sorted; a file input is
/// the single empty path.
fn discover(input: &Path) -> Result<Vec<PathBuf>, DetectError> {
    let meta = std::fs::metadata(input).map_err(io(input))?;
    if meta.is_file() {
        return Ok(vec![PathBuf::new()]);
    }
    let mut found = Vec::new();
    let mut stack = vec![input.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let path = entry.map_err(io(&dir))?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
            {
                if let Ok(rel) = path.strip_prefix(input) {
                    found.push(rel.to_owned());
                }
            }
        }
    }
    found.sort();
    Ok(found)
}

fn score_file(
    src: &Path,
    dst: &Path,
    config: &Config,
    summary: &mut Summary,
) -> Result<(), DetectError> {
    let reader = BufReader::new(File::open(src).map_err(io(src))?);
    let mut out = BufWriter::new(File::create(dst).map_err(io(dst))?);
    let mut lines = reader.lines();
    let header = lines
        .next()
        .transpose()
        .map_err(io(src))?
        .unwrap_or_default();
    let cols: Vec<&str> = header.trim().split(',').map(str::trim).collect();
    let (Some(ti), Some(vi)) = (
        cols.iter().position(|c| *c == "timestamp"),
        cols.iter().position(|c| *c == "value"),
    ) else {
        return Err(DetectError::Header {
            path: src.to_owned(),
            header,
        });
    };
    writeln!(out, "timestamp,anomaly_score").map_err(io(dst))?;

    let mut engine = Engine::new(config.clone());
    for (n, line) in lines.enumerate() {
        let line = line.map_err(io(src))?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let ts = fields.get(ti).copied().unwrap_or_default();
        let parsed = parse_time(ts).zip(fields.get(vi).and_then(|v| v.parse::<f64>().ok()));
        summary.rows += 1;
        let score = match parsed {
            Some((t, value)) => {
                let started = Instant::now();
                let o = engine.update(t, value);
                summary.engine_time += started.elapsed();
                o.score
            }
            None => {
                summary.malformed += 1;
                tracing::warn!(file = %src.display(), line = n + 2, row = %line, "malformed row, written with score 0");
                0.0
            }
        };
        writeln!(out, "{ts},{score}").map_err(io(dst))?;
    }
    out.flush().map_err(io(dst))
}

/// Seconds since the Unix epoch from `YYYY-MM-DD HH:MM:SS[.frac]` (also
/// with `T` and a trailing `Z`, read as UTC) or from epoch seconds or
/// milliseconds.
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(n) = s.parse::<i64>() {
        // Anything past the year 5138 in seconds is really milliseconds.
        return Some(if n.abs() >= 100_000_000_000 {
            n / 1000
        } else {
            n
        });
    }
    let s = s.trim_end_matches('Z');
    let (date, time) = s.split_once([' ', 'T'])?;
    let mut d = date.splitn(3, '-').map(str::parse::<i64>);
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let time = time.split('.').next()?;
    let mut t = time.splitn(3, ':').map(str::parse::<i64>);
    let (h, min, sec) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    let valid = (1..=12).contains(&m)
        && (1..=31).contains(&day)
        && (0..24).contains(&h)
        && (0..60).contains(&min)
        && (0..=60).contains(&sec);
    valid.then(|| days_from_civil(y, m, day) * 86_400 + h * 3600 + min * 60 + sec)
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard
/// Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    fn check(input: &str, expected: Option<i64>) {
        assert_eq!(parse_time(input), expected, "{input}");
    }

    #[test]
    fn timestamps() {
        check("1970-01-01 00:00:00", Some(0));
        check("2014-02-14 14:30:00", Some(1_392_388_200));
        check("2014-02-14T14:30:00Z", Some(1_392_388_200));
        check("2014-02-14 14:30:00.000000", Some(1_392_388_200));
        check("2000-03-01 00:00:00", Some(951_868_800));
        check("1392388200", Some(1_392_388_200));
        check("1392388200000", Some(1_392_388_200));
        check("2014-13-01 00:00:00", None);
        check("yesterday", None);
    }
}
