//! `/api/v1/subscriptions`: each person creates, lists and deletes their own
//! (admins see all); `/api/v1/deliveries` shows what happened to them;
//! `/api/v1/alerts` lists alerts with what holds each back.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;

use super::ApiState;
use crate::clock::now_ms;
use crate::deliver::target;
use crate::error::{Error, Result};
use crate::matcher::{self, Matcher};
use crate::subscription::{Channel, QuietHours, Subscription, Timing};

/// Subscriptions one person may hold.
pub const MAX_PER_OWNER: usize = 100;

/// What a client sends to create one. Matchers come as text
/// (`"site=eu,severity>=high"`) or as a list of texts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    pub name: String,
    #[serde(default, rename = "match")]
    pub match_text: Option<String>,
    #[serde(default)]
    pub matchers: Option<Vec<String>>,
    pub channels: Vec<Channel>,
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    #[serde(default)]
    pub timing: Option<Timing>,
    #[serde(default)]
    pub send_resolved: Option<bool>,
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
}

fn matchers_of(n: &NewSubscription) -> Result<Vec<Matcher>, String> {
    let mut out = match &n.match_text {
        Some(t) => matcher::parse_list(t)?,
        None => Vec::new(),
    };
    for t in n.matchers.iter().flatten() {
        out.push(matcher::parse_one(t)?);
    }
    Ok(out)
}

pub async fn create(
    State(s): State<ApiState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<impl IntoResponse> {
    let caller = s.caller(&headers)?;
    let n: NewSubscription = serde_json::from_slice(&body).map_err(|e| {
        s.metrics.rejected("malformed");
        Error::Invalid(format!("body is not a subscription: {e}"))
    })?;
    let matchers = matchers_of(&n).map_err(Error::Invalid)?;
    let sub = Subscription {
        id: crate::ids::new_id(),
        owner: caller.name.clone(),
        name: n.name,
        matchers,
        channels: n.channels,
        group_by: n.group_by,
        timing: n.timing,
        send_resolved: n.send_resolved.unwrap_or(true),
        quiet_hours: n.quiet_hours,
        created_at_ms: now_ms(),
    };
    sub.validate().map_err(Error::Invalid)?;
    if !(s.config.allow_private_targets || s.config.demo) {
        for c in &sub.channels {
            if let Some(u) = c.url().and_then(|u| url::Url::parse(u).ok()) {
                target::check_url(&u).map_err(|e| {
                    s.metrics.refused_target();
                    Error::Invalid(format!(
                        "{} url: {e}; internal targets need allow_private_targets",
                        c.kind()
                    ))
                })?;
            }
        }
    }
    if sub
        .channels
        .iter()
        .any(|c| matches!(c, Channel::Email { .. }))
        && s.config.smtp.is_none()
    {
        return Err(Error::Invalid(
            "email needs an [smtp] relay in the alerts config".into(),
        ));
    }
    let owned = s
        .engine
        .subscriptions()
        .await?
        .iter()
        .filter(|x| x.owner == caller.name)
        .count();
    // Admins (and the demo's one user) manage everyone's and are not capped.
    if owned >= MAX_PER_OWNER && !caller.admin {
        return Err(Error::Full(format!(
            "{MAX_PER_OWNER} subscriptions per person"
        )));
    }
    s.engine.put_subscription(sub.clone()).await?;
    tracing::info!(id = %sub.id, owner = %sub.owner, name = %sub.name, "subscription created");
    Ok((StatusCode::CREATED, Json(sub.redacted())))
}

pub async fn list(State(s): State<ApiState>, headers: HeaderMap) -> Result<impl IntoResponse> {
    let caller = s.caller(&headers)?;
    let subs: Vec<Subscription> = s
        .engine
        .subscriptions()
        .await?
        .iter()
        .filter(|x| caller.admin || x.owner == caller.name)
        .map(|x| x.redacted())
        .collect();
    Ok(Json(subs))
}

pub async fn remove(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse> {
    let caller = s.caller(&headers)?;
    s.engine.delete_subscription(id, caller.scope()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct Limit {
    #[serde(default)]
    limit: Option<usize>,
}

pub async fn deliveries(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Query(q): Query<Limit>,
) -> Result<impl IntoResponse> {
    let caller = s.caller(&headers)?;
    let ids: Vec<String> = s
        .engine
        .subscriptions()
        .await?
        .iter()
        .filter(|x| caller.admin || x.owner == caller.name)
        .map(|x| x.id.clone())
        .collect();
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(s.store.deliveries(&ids, limit).await?))
}

pub async fn list_alerts(State(s): State<ApiState>) -> Result<impl IntoResponse> {
    Ok(Json(s.engine.alerts().await?))
}
