//! What the rules read from the edge's REST API (the same one the
//! dashboard uses): hosts, a host's series with their newest values, ranges.

use common::model::{HostStatus, Point, SeriesInfo, SeriesPoints};

#[derive(Clone)]
pub struct Edge {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

/// Points asked for per forecast range: enough for a fit, cheap to send.
const FORECAST_POINTS: usize = 120;

impl Edge {
    pub fn new(
        edge_url: &str,
        token: Option<String>,
        timeout: std::time::Duration,
    ) -> Result<Self, String> {
        let base = edge_url
            .trim_end_matches('/')
            .replacen("ws://", "http://", 1)
            .replacen("wss://", "https://", 1);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("building the edge client: {e}"))?;
        Ok(Self { base, token, http })
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path_and_query: &str) -> Result<T, String> {
        let mut r = self.http.get(format!("{}{path_and_query}", self.base));
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        let resp = r
            .send()
            .await
            .map_err(|e| format!("GET {path_and_query}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("GET {path_and_query}: {}", resp.status()));
        }
        resp.json()
            .await
            .map_err(|e| format!("GET {path_and_query}: {e}"))
    }

    pub async fn hosts(&self) -> Result<Vec<HostStatus>, String> {
        self.get("/api/v1/hosts").await
    }

    pub async fn series(&self, host: &str) -> Result<Vec<SeriesInfo>, String> {
        self.get(&format!("/api/v1/hosts/{}/series", encode(host)))
            .await
    }

    pub async fn range(
        &self,
        host: &str,
        s: &SeriesInfo,
        from: i64,
        to: i64,
    ) -> Result<Vec<Point>, String> {
        let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let q = format!(
            "/api/v1/series?host={}&name={}&labels={}&from={from}&to={to}&max_points={FORECAST_POINTS}",
            encode(host),
            encode(&s.name),
            encode(&labels.join(","))
        );
        let got: Vec<SeriesPoints> = self.get(&q).await?;
        Ok(got
            .into_iter()
            .find(|p| p.labels == s.labels)
            .map(|p| p.points)
            .unwrap_or_default())
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
