//! Why a metric family produced nothing this tick.

/// A family's failure: logged once, counted, and the family skipped for this tick.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("{what} is not available on this host")]
    Unavailable { what: &'static str },
    #[error("reading {what} failed: {error}")]
    Sysinfo {
        what: &'static str,
        error: sysinfo::Error,
    },
    #[error("reading {path} failed: {error}")]
    Read { path: String, error: std::io::Error },
    #[error(transparent)]
    Parse(#[from] ParseError),
}

pub type Result<T, E = CollectError> = std::result::Result<T, E>;

/// Text from `/proc` or `/sys` that is not what the kernel writes: a truncated
/// read, a layout this code does not know. Never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("{file}: line {line} is malformed ({what}): {text:?}")]
    Line {
        file: &'static str,
        line: usize,
        /// The offending line, cut to [`MAX_QUOTED`] characters.
        text: String,
        what: &'static str,
    },
    #[error("{file} has no {what}")]
    Missing {
        file: &'static str,
        what: &'static str,
    },
    #[error("{file}: {what} is not a counter")]
    Value {
        file: &'static str,
        what: &'static str,
    },
}

/// Enough of a bad line to recognise it in a log without flooding it.
const MAX_QUOTED: usize = 120;

impl ParseError {
    pub(crate) fn line(file: &'static str, line: usize, text: &str, what: &'static str) -> Self {
        Self::Line {
            file,
            line,
            text: text.chars().take(MAX_QUOTED).collect(),
            what,
        }
    }
}
