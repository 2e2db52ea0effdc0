//! Alertmanager's v2 API, the parts Prometheus and amtool use: alerts in
//! (`POST /api/v2/alerts`), alerts out, silences, status and receivers.
//! JSON field names are Alertmanager's (camelCase, RFC 3339 times).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::ApiState;
use crate::clock::{now_ms, parse_rfc3339, to_rfc3339};
use crate::engine::default_end;
use crate::error::{Error, Result};
use crate::matcher::{self, Matcher, Op};
use crate::model::{Alert, LabelSet, Origin};
use crate::silence::Silence;

/// Limits on what one alert may carry.
pub const MAX_LABELS: usize = 64;
pub const MAX_NAME_LEN: usize = 128;
pub const MAX_LABEL_VALUE_LEN: usize = 4096;
pub const MAX_ANNOTATION_LEN: usize = 16 << 10;
/// A start further ahead than this is a clock gone wrong.
pub const MAX_FUTURE_MS: i64 = 5 * 60_000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    pub labels: LabelSet,
    #[serde(default)]
    pub annotations: LabelSet,
    #[serde(default)]
    pub starts_at: Option<String>,
    #[serde(default)]
    pub ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
}

fn valid_name(n: &str) -> bool {
    let mut c = n.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && n.len() <= MAX_NAME_LEN
}

/// Turns one posted alert into ours, or says what is wrong with it.
pub fn to_alert(
    p: PostableAlert,
    now: i64,
    resolve_timeout: std::time::Duration,
) -> Result<Alert, String> {
    if p.labels.is_empty() {
        return Err("an alert needs labels".into());
    }
    if p.labels.len() > MAX_LABELS {
        return Err(format!("more than {MAX_LABELS} labels"));
    }
    for (k, v) in &p.labels {
        if !valid_name(k) {
            return Err(format!("label name {k:?} is invalid"));
        }
        if v.is_empty() || v.len() > MAX_LABEL_VALUE_LEN {
            return Err(format!(
                "label {k}: value empty or over {MAX_LABEL_VALUE_LEN} bytes"
            ));
        }
    }
    for (k, v) in &p.annotations {
        if !valid_name(k) || v.len() > MAX_ANNOTATION_LEN {
            return Err(format!(
                "annotation {k:?} is invalid or over {MAX_ANNOTATION_LEN} bytes"
            ));
        }
    }
    let start = p
        .starts_at
        .as_deref()
        .map(parse_rfc3339)
        .transpose()?
        .flatten();
    let end = p
        .ends_at
        .as_deref()
        .map(parse_rfc3339)
        .transpose()?
        .flatten();
    // Without a start, Alertmanager takes the end (a "resolved" report), else now.
    let start = start.unwrap_or_else(|| end.map_or(now, |e| e.min(now)));
    if start > now + MAX_FUTURE_MS {
        return Err(format!("startsAt {} is in the future", to_rfc3339(start)));
    }
    if let Some(e) = end {
        if e < start {
            return Err("endsAt is before startsAt".into());
        }
    }
    let mut a = Alert::new(p.labels, Origin::Api, now);
    a.annotations = p.annotations;
    a.starts_at_ms = start;
    a.ends_at_ms = end.or_else(|| default_end(Origin::Api, now, resolve_timeout));
    a.generator_url = p.generator_url.unwrap_or_default();
    Ok(a)
}

pub async fn post_alerts(
    State(s): State<ApiState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<impl IntoResponse> {
    s.check_ingest(&headers)?;
    let posted: Vec<PostableAlert> = serde_json::from_slice(&body).map_err(|e| {
        s.metrics.rejected("malformed");
        Error::Invalid(format!("body is not a list of alerts: {e}"))
    })?;
    let now = now_ms();
    let mut alerts = Vec::with_capacity(posted.len());
    let mut errors = Vec::new();
    for p in posted {
        match to_alert(p, now, s.config.resolve_timeout) {
            Ok(a) => alerts.push(a),
            Err(e) => {
                s.metrics.rejected("invalid_alert");
                errors.push(e);
            }
        }
    }
    // As in Alertmanager: the valid ones are kept even when others are not.
    if !alerts.is_empty() {
        s.engine.ingest(alerts, None).await?;
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors.join("; ")));
    }
    Ok(StatusCode::OK)
}

#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AmMatcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl AmMatcher {
    fn from_matcher(m: &Matcher) -> Self {
        Self {
            name: m.name.clone(),
            value: m.value.clone(),
            is_regex: m.is_regex(),
            is_equal: m.is_equal(),
        }
    }

    fn to_matcher(&self) -> Result<Matcher, String> {
        let op = match (self.is_regex, self.is_equal) {
            (false, true) => Op::Eq,
            (false, false) => Op::Ne,
            (true, true) => Op::Re,
            (true, false) => Op::NotRe,
        };
        Matcher::new(&self.name, op, &self.value)
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertStatus {
    state: &'static str,
    silenced_by: Vec<String>,
    inhibited_by: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Receiver {
    name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GettableAlert {
    labels: LabelSet,
    annotations: LabelSet,
    starts_at: String,
    ends_at: String,
    updated_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: String,
    fingerprint: String,
    status: AlertStatus,
    receivers: Vec<Receiver>,
}

#[derive(Debug, Deserialize, Default)]
pub struct AlertFilter {
    /// Alertmanager sends `filter` once per matcher; we also take a comma list.
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    silenced: Option<bool>,
    #[serde(default)]
    inhibited: Option<bool>,
    #[serde(default)]
    active: Option<bool>,
}

pub async fn get_alerts(
    State(s): State<ApiState>,
    Query(f): Query<AlertFilter>,
) -> Result<impl IntoResponse> {
    let matchers = match &f.filter {
        Some(t) => matcher::parse_list(t).map_err(Error::Invalid)?,
        None => Vec::new(),
    };
    let views = s.engine.alerts().await?;
    let out: Vec<GettableAlert> = views
        .into_iter()
        .filter(|v| v.state != "resolved")
        .filter(|v| matcher::all_match(&matchers, &v.alert.labels))
        .filter(|v| f.silenced.unwrap_or(true) || v.silenced_by.is_empty())
        .filter(|v| f.inhibited.unwrap_or(true) || v.inhibited_by.is_empty())
        .filter(|v| f.active.unwrap_or(true) || v.state != "active")
        .map(|v| GettableAlert {
            starts_at: to_rfc3339(v.alert.starts_at_ms),
            ends_at: v.alert.ends_at_ms.map(to_rfc3339).unwrap_or_default(),
            updated_at: to_rfc3339(v.alert.updated_at_ms),
            generator_url: v.alert.generator_url.clone(),
            fingerprint: v.alert.fingerprint.to_string(),
            status: AlertStatus {
                state: v.state,
                silenced_by: v.silenced_by,
                inhibited_by: v.inhibited_by,
            },
            receivers: v
                .receivers
                .into_iter()
                .map(|name| Receiver { name })
                .collect(),
            labels: v.alert.labels,
            annotations: v.alert.annotations,
        })
        .collect();
    Ok(Json(out))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableSilence {
    #[serde(default)]
    pub id: Option<String>,
    pub matchers: Vec<AmMatcher>,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SilenceStatus {
    state: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GettableSilence {
    id: String,
    matchers: Vec<AmMatcher>,
    starts_at: String,
    ends_at: String,
    updated_at: String,
    created_by: String,
    comment: String,
    status: SilenceStatus,
}

fn gettable(s: &Silence, now: i64) -> GettableSilence {
    GettableSilence {
        id: s.id.clone(),
        matchers: s.matchers.iter().map(AmMatcher::from_matcher).collect(),
        starts_at: to_rfc3339(s.starts_at_ms),
        ends_at: to_rfc3339(s.ends_at_ms),
        updated_at: to_rfc3339(s.updated_at_ms),
        created_by: s.created_by.clone(),
        comment: s.comment.clone(),
        status: SilenceStatus {
            state: s.state(now).as_str(),
        },
    }
}

pub async fn post_silence(
    State(s): State<ApiState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<impl IntoResponse> {
    s.check_ingest(&headers)?;
    let p: PostableSilence = serde_json::from_slice(&body).map_err(|e| {
        s.metrics.rejected("malformed");
        Error::Invalid(format!("body is not a silence: {e}"))
    })?;
    let matchers = p
        .matchers
        .iter()
        .map(AmMatcher::to_matcher)
        .collect::<Result<Vec<_>, _>>()
        .map_err(Error::Invalid)?;
    let now = now_ms();
    let starts = parse_rfc3339(&p.starts_at)
        .map_err(Error::Invalid)?
        .unwrap_or(now);
    let ends = parse_rfc3339(&p.ends_at)
        .map_err(Error::Invalid)?
        .ok_or_else(|| Error::Invalid("endsAt is required".into()))?;
    let silence = Silence {
        id: p.id.unwrap_or_default(),
        matchers,
        starts_at_ms: starts,
        ends_at_ms: ends,
        created_by: p.created_by,
        comment: p.comment,
        updated_at_ms: now,
    };
    let id = s.engine.put_silence(silence).await?;
    Ok(Json(serde_json::json!({ "silenceID": id })))
}

pub async fn get_silences(
    State(s): State<ApiState>,
    Query(f): Query<AlertFilter>,
) -> Result<impl IntoResponse> {
    let matchers = match &f.filter {
        Some(t) => matcher::parse_list(t).map_err(Error::Invalid)?,
        None => Vec::new(),
    };
    let now = now_ms();
    let out: Vec<GettableSilence> = s
        .engine
        .silences()
        .await?
        .iter()
        // A filter keeps silences whose equality matchers agree with it.
        .filter(|sil| {
            matchers.iter().all(|m| {
                sil.matchers
                    .iter()
                    .any(|sm| sm.name == m.name && sm.value == m.value)
            })
        })
        .map(|sil| gettable(sil, now))
        .collect();
    Ok(Json(out))
}

pub async fn get_silence(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse> {
    let all = s.engine.silences().await?;
    let sil = all
        .iter()
        .find(|x| x.id == id)
        .ok_or_else(|| Error::NotFound(format!("silence {id}")))?;
    Ok(Json(gettable(sil, now_ms())))
}

pub async fn delete_silence(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse> {
    s.check_ingest(&headers)?;
    s.engine.expire_silence(id).await?;
    Ok(StatusCode::OK)
}

pub async fn status(State(s): State<ApiState>) -> impl IntoResponse {
    let version = env!("CARGO_PKG_VERSION");
    Json(serde_json::json!({
        "cluster": { "name": "hostwatch-alerts", "status": "disabled", "peers": [] },
        "versionInfo": {
            "version": version, "revision": "", "branch": "", "buildUser": "",
            "buildDate": "", "goVersion": "none (hostwatch, Rust)"
        },
        "config": { "original": "" },
        "uptime": to_rfc3339(s.started_ms),
    }))
}

pub async fn receivers(State(s): State<ApiState>) -> Result<impl IntoResponse> {
    let subs = s.engine.subscriptions().await?;
    Ok(Json(
        subs.iter()
            .map(|x| Receiver {
                name: x.name.clone(),
            })
            .collect::<Vec<_>>(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posted(json: &str) -> Result<Alert, String> {
        let p: PostableAlert = serde_json::from_str(json).map_err(|e| e.to_string())?;
        to_alert(p, 1_800_000_000_000, std::time::Duration::from_secs(300))
    }

    #[test]
    fn posted_alerts_as_data() {
        let a = posted(r#"{"labels":{"alertname":"X","severity":"high"}}"#).expect("valid");
        assert_eq!(a.starts_at_ms, 1_800_000_000_000);
        assert_eq!(
            a.ends_at_ms,
            Some(1_800_000_300_000),
            "resolve_timeout applies"
        );
        let a = posted(
            r#"{"labels":{"alertname":"X"},"startsAt":"0001-01-01T00:00:00Z","endsAt":"2027-01-15T08:00:00Z"}"#,
        )
        .expect("valid");
        assert_eq!(a.starts_at_ms, 1_800_000_000_000, "Go's zero time is unset");
        let a = posted(r#"{"labels":{"alertname":"X"},"endsAt":"2027-01-15T07:59:00Z"}"#)
            .expect("a resolved report without a start");
        assert_eq!(a.starts_at_ms, a.ends_at_ms.expect("end"));
        for (json, want) in [
            (r#"{"labels":{}}"#, "needs labels"),
            (r#"{"labels":{"9x":"y"}}"#, "label name"),
            (r#"{"labels":{"a":""}}"#, "value empty"),
            (
                r#"{"labels":{"a":"b"},"startsAt":"2099-01-01T00:00:00Z"}"#,
                "future",
            ),
            (
                r#"{"labels":{"a":"b"},"startsAt":"2027-01-01T00:00:00Z","endsAt":"2026-01-01T00:00:00Z"}"#,
                "before startsAt",
            ),
            (r#"{"labels":{"a":"b"},"startsAt":"noon"}"#, "time"),
        ] {
            let e = posted(json).expect_err(json);
            assert!(e.contains(want), "{json}: {e}");
        }
    }
}
