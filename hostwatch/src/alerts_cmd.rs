//! `hostwatch alerts subscribe|subscriptions|unsubscribe|hash-token`: a small
//! client of the alert service's `/api/v1/subscriptions`.

use anyhow::{bail, Context as _};
use serde_json::{json, Value};

/// Where the service is and who is asking.
pub struct Client {
    pub url: String,
    pub token: Option<String>,
}

/// What `subscribe` sends; the channels are the flags given.
#[derive(Debug, Default)]
pub struct NewSubscription {
    pub name: String,
    pub matchers: String,
    pub webhooks: Vec<String>,
    pub secret: Option<String>,
    pub slack: Vec<String>,
    pub emails: Vec<String>,
    pub ntfy: Vec<String>,
    pub live: bool,
    pub group_by: Option<Vec<String>>,
    /// `22:00-07:00`
    pub quiet_hours: Option<String>,
    pub utc_offset: String,
}

impl NewSubscription {
    /// The JSON body of `POST /api/v1/subscriptions`.
    pub fn body(&self) -> anyhow::Result<Value> {
        let mut channels: Vec<Value> = Vec::new();
        for url in &self.webhooks {
            channels.push(json!({"type": "webhook", "url": url, "secret": self.secret}));
        }
        channels.extend(
            self.slack
                .iter()
                .map(|u| json!({"type": "slack", "url": u})),
        );
        channels.extend(
            self.emails
                .iter()
                .map(|t| json!({"type": "email", "to": t})),
        );
        channels.extend(self.ntfy.iter().map(|u| json!({"type": "ntfy", "url": u})));
        if self.live {
            channels.push(json!({"type": "live"}));
        }
        if channels.is_empty() {
            bail!("give at least one of --webhook, --slack, --email, --ntfy, --live");
        }
        let mut body = json!({
            "name": match (self.name.is_empty(), self.matchers.is_empty()) {
                (false, _) => self.name.clone(),
                (true, false) => self.matchers.clone(),
                (true, true) => "everything".to_owned(),
            },
            "match": self.matchers,
            "channels": channels,
        });
        if let Some(g) = &self.group_by {
            body["group_by"] = json!(g);
        }
        if let Some(q) = &self.quiet_hours {
            let (start, end) = q
                .split_once('-')
                .context("--quiet-hours must look like 22:00-07:00")?;
            body["quiet_hours"] =
                json!({"start": start, "end": end, "utc_offset": self.utc_offset});
        }
        Ok(body)
    }
}

impl Client {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = reqwest::Client::new()
            .request(method, format!("{}{path}", self.url.trim_end_matches('/')));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn answer(r: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let resp = r.send().await.context("reaching the alert service")?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let msg = body["error"].as_str().unwrap_or("no details");
            bail!("the alert service answered {status}: {msg}");
        }
        Ok(body)
    }

    /// Creates a subscription; returns its id.
    pub async fn subscribe(&self, s: &NewSubscription) -> anyhow::Result<String> {
        let body = s.body()?;
        let v = Self::answer(
            self.request(reqwest::Method::POST, "/api/v1/subscriptions")
                .json(&body),
        )
        .await?;
        Ok(v["id"].as_str().unwrap_or_default().to_owned())
    }

    /// The caller's subscriptions as a table.
    pub async fn list(&self) -> anyhow::Result<String> {
        let v = Self::answer(self.request(reqwest::Method::GET, "/api/v1/subscriptions")).await?;
        let mut out = format!("{:<36}  {:<20}  {:<32}  channels\n", "id", "name", "match");
        for s in v.as_array().into_iter().flatten() {
            let matchers: Vec<&str> = s["matchers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let channels: Vec<String> = s["channels"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    let kind = c["type"].as_str().unwrap_or("?");
                    let target = c["url"].as_str().or(c["to"].as_str()).unwrap_or("");
                    if target.is_empty() {
                        kind.to_owned()
                    } else {
                        format!("{kind} {target}")
                    }
                })
                .collect();
            out.push_str(&format!(
                "{:<36}  {:<20}  {:<32}  {}\n",
                s["id"].as_str().unwrap_or(""),
                s["name"].as_str().unwrap_or(""),
                if matchers.is_empty() {
                    "(everything)".to_owned()
                } else {
                    matchers.join(",")
                },
                channels.join("; ")
            ));
        }
        Ok(out)
    }

    pub async fn unsubscribe(&self, id: &str) -> anyhow::Result<()> {
        Self::answer(self.request(
            reqwest::Method::DELETE,
            &format!("/api/v1/subscriptions/{id}"),
        ))
        .await
        .map(drop)
    }
}

/// A new random API token and the `[[users]]` entry that accepts it.
pub fn new_token(name: &str) -> (String, String) {
    use rand::Rng;
    let bytes: [u8; 24] = rand::rng().random();
    let token = format!("hwa_{}", hex::encode(bytes));
    let entry = format!(
        "[[users]]\nname = \"{name}\"\ntoken_sha256 = \"{}\"\n",
        alerts::api::token_hash(&token)
    );
    (token, entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_the_api_body() {
        let s = NewSubscription {
            matchers: "site=eu,severity>=high".into(),
            webhooks: vec!["https://h.example/x".into()],
            secret: Some("k".into()),
            emails: vec!["a@example.org".into()],
            quiet_hours: Some("22:00-07:00".into()),
            utc_offset: "+01:00".into(),
            ..Default::default()
        };
        let b = s.body().expect("body");
        assert_eq!(b["name"], "site=eu,severity>=high");
        assert_eq!(
            b["channels"][0],
            json!({"type": "webhook", "url": "https://h.example/x", "secret": "k"})
        );
        assert_eq!(b["channels"][1]["to"], "a@example.org");
        assert_eq!(b["quiet_hours"]["end"], "07:00");
        assert!(
            NewSubscription::default().body().is_err(),
            "no channel, no subscription"
        );
    }
}
