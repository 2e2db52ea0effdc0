//! Label matchers, written as Alertmanager writes them (`site="eu"`,
//! `host!=db1`, `alertname=~"Disk.*"`, `team!~ops|sre`) plus severity
//! comparisons of our own (`severity>=high`), in comma-separated lists with
//! optional braces: `{site=eu, severity>=high}`.

use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::model::{LabelSet, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "=")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = "=~")]
    Re,
    #[serde(rename = "!~")]
    NotRe,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = "<")]
    Lt,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Re => "=~",
            Op::NotRe => "!~",
            Op::Ge => ">=",
            Op::Gt => ">",
            Op::Le => "<=",
            Op::Lt => "<",
        }
    }
}

/// One matcher. Serialized as its text (`severity>=high`), which is also how
/// it is stored.
#[derive(Clone)]
pub struct Matcher {
    pub name: String,
    pub op: Op,
    pub value: String,
    /// Anchored like Alertmanager's: `=~"a|b"` must match the whole value.
    regex: Option<Regex>,
    severity: Option<Severity>,
}

impl Matcher {
    pub fn new(name: &str, op: Op, value: &str) -> Result<Self, String> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "label name {name:?} must be letters, digits and underscores"
            ));
        }
        let regex = match op {
            Op::Re | Op::NotRe => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("matcher {name}{}{value:?}: {e}", op.as_str()))?,
            ),
            _ => None,
        };
        let severity = match op {
            Op::Ge | Op::Gt | Op::Le | Op::Lt => Some(Severity::parse(value).ok_or_else(|| {
                format!(
                    "{name}{}{value}: {value:?} is not a severity \
                     (info, low, medium, high, critical)",
                    op.as_str()
                )
            })?),
            _ => None,
        };
        Ok(Self {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            regex,
            severity,
        })
    }

    /// A missing label matches as the empty string, as in Alertmanager
    /// (`host=""` selects alerts without a host label).
    pub fn matches(&self, labels: &LabelSet) -> bool {
        let v = labels.get(&self.name).map_or("", String::as_str);
        match self.op {
            Op::Eq => v == self.value,
            Op::Ne => v != self.value,
            Op::Re => self.regex.as_ref().is_some_and(|r| r.is_match(v)),
            Op::NotRe => self.regex.as_ref().is_some_and(|r| !r.is_match(v)),
            Op::Ge | Op::Gt | Op::Le | Op::Lt => {
                let (Some(have), Some(want)) = (Severity::parse(v), self.severity) else {
                    return false;
                };
                match self.op {
                    Op::Ge => have >= want,
                    Op::Gt => have > want,
                    Op::Le => have <= want,
                    _ => have < want,
                }
            }
        }
    }

    /// Equality matchers as Alertmanager's JSON has them.
    pub fn is_regex(&self) -> bool {
        matches!(self.op, Op::Re | Op::NotRe)
    }

    pub fn is_equal(&self) -> bool {
        !matches!(self.op, Op::Ne | Op::NotRe)
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = self
            .value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        write!(f, "{}{}\"{quoted}\"", self.name, self.op.as_str())
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

/// All of a list must match (an empty list matches everything).
pub fn all_match(matchers: &[Matcher], labels: &LabelSet) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

/// Parses `a=b, c!~"x|y", severity>=high`, with or without `{}` around it.
pub fn parse_list(text: &str) -> Result<Vec<Matcher>, String> {
    let t = text.trim();
    let t = t
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(t);
    split_outside_quotes(t)?
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .map(|s| parse_one(&s))
        .collect()
}

/// Parses one `name op value`.
pub fn parse_one(text: &str) -> Result<Matcher, String> {
    let t = text.trim();
    let at = t
        .find(['=', '!', '<', '>'])
        .ok_or_else(|| format!("matcher {t:?} has no operator (=, !=, =~, !~, >=, >, <=, <)"))?;
    let (name, rest) = t.split_at(at);
    // Longest operators first.
    let ops = [
        ("=~", Op::Re),
        ("!~", Op::NotRe),
        ("!=", Op::Ne),
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("=", Op::Eq),
        (">", Op::Gt),
        ("<", Op::Lt),
    ];
    let (op, value) = ops
        .iter()
        .find_map(|(s, op)| rest.strip_prefix(s).map(|v| (*op, v)))
        .ok_or_else(|| format!("matcher {t:?}: unknown operator"))?;
    Matcher::new(name.trim(), op, &unquote(value.trim())?)
}

fn unquote(v: &str) -> Result<String, String> {
    let Some(inner) = v.strip_prefix('"') else {
        return Ok(v.to_owned());
    };
    let inner = inner
        .strip_suffix('"')
        .ok_or_else(|| format!("value {v:?} has no closing quote"))?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(o) => out.push(o),
                None => return Err(format!("value {v:?} ends in a backslash")),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn split_outside_quotes(t: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in t.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&t[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err(format!("matchers {t:?}: unclosed quote"));
    }
    parts.push(&t[start..]);
    Ok(parts)
}

/// Serde as the text form, so stored and sent matchers read like typed ones.
pub mod text_list {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Matcher;

    pub fn serialize<S: Serializer>(m: &[Matcher], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter().map(|m| m.to_string()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Matcher>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|t| super::parse_one(t).map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The one place the parser and matcher are called: `text` against labels.
    fn check(text: &str, pairs: &[(&str, &str)], expected: bool) {
        let m = parse_list(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            all_match(&m, &labels(pairs)),
            expected,
            "{text} vs {pairs:?}"
        );
    }

    #[test]
    fn matchers_as_data() {
        let l = &[("site", "eu"), ("host", "db1"), ("severity", "high")];
        check("site=eu", l, true);
        check("site=us", l, false);
        check("{site=\"eu\", host!=db2}", l, true);
        check("host=~\"db.*\"", l, true);
        check("host=~db", l, false); // anchored
        check("host!~\"web.*|cache.*\"", l, true);
        check("severity>=high", l, true);
        check("severity>high", l, false);
        check("severity>=medium,site=eu", l, true);
        check("severity<=low", l, false);
        check("severity>=low", &[("severity", "unknown")], false);
        check("team=\"\"", l, true); // missing label = empty
        check("", l, true);
        check("msg=\"a, b\"", &[("msg", "a, b")], true);
        check("msg=\"say \\\"hi\\\"\"", &[("msg", "say \"hi\"")], true);
    }

    #[test]
    fn bad_matchers_say_what_is_wrong() {
        for (text, want) in [
            ("site", "no operator"),
            ("severity>=urgent", "not a severity"),
            ("host=~\"(\"", "host=~"),
            ("a b=c", "label name"),
            ("x=\"open", "unclosed quote"),
        ] {
            let e = parse_list(text).expect_err(text);
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn text_form_round_trips() {
        let m = parse_list("a=~\"x|y\",severity>=high").expect("parses");
        let again = parse_list(
            &m.iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(","),
        )
        .expect("parses again");
        assert_eq!(m, again);
    }
}
