//! `/api/openapi.json` and `/api/docs`: the API described for people and
//! tools. The document is written by hand (`gateway/api/openapi.json`) — the
//! handlers take axum extractors, not annotated types — so the tests below
//! hold it to the router: every `/api/` route registered in this crate's
//! source is documented with its method, and nothing documented is missing.

use axum::http::header;
use axum::response::{IntoResponse, Response};

pub const DOCUMENT: &str = include_str!("../api/openapi.json");

pub async fn document() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT).into_response()
}

/// The browsable page: an embedded HTML file that renders [`DOCUMENT`].
pub async fn page() -> Response {
    crate::assets::serve("/apidocs.html".parse().unwrap_or_default()).await
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::DOCUMENT;

    /// `(method, path)` of every `.route("/api/…", get|post(…))` in `source`.
    fn routes_in(source: &str) -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        let mut rest = source;
        while let Some(at) = rest.find(".route(") {
            rest = &rest[at + ".route(".len()..];
            let call = &rest[..rest.find("))").map_or(rest.len(), |e| e + 1)];
            let Some(path) = call.split('"').nth(1) else {
                continue;
            };
            if !path.starts_with("/api/") {
                continue;
            }
            for method in ["get", "post", "put", "delete"] {
                if call.contains(&format!(" {method}(")) || call.contains(&format!(",{method}(")) {
                    out.insert((method.to_owned(), path.to_owned()));
                }
            }
        }
        out
    }

    fn documented() -> BTreeSet<(String, String)> {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).expect("valid JSON");
        let mut out = BTreeSet::new();
        for (path, ops) in doc["paths"].as_object().expect("paths") {
            for method in ops.as_object().expect("operations").keys() {
                out.insert((method.clone(), path.clone()));
            }
        }
        out
    }

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let mut served = routes_in(include_str!("lib.rs"));
        served.extend(routes_in(include_str!("auth/handlers.rs")));
        assert!(
            served.len() >= 10,
            "the route scan found too little: {served:?}"
        );
        let documented = documented();
        let undocumented: Vec<_> = served.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from openapi.json: {undocumented:?}"
        );
        let stale: Vec<_> = documented.difference(&served).collect();
        assert!(stale.is_empty(), "documented but not served: {stale:?}");
    }

    #[test]
    fn every_reference_resolves() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).expect("valid JSON");
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let pointer = r.strip_prefix('#').expect("local reference");
            assert!(doc.pointer(pointer).is_some(), "{r} resolves to nothing");
        }
    }

    fn collect_refs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("$ref", serde_json::Value::String(s)) => out.push(s.clone()),
                        _ => collect_refs(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_scan_reads_routes_as_written() {
        let src = r#"Router::new()
            .route("/api/v1/a", get(api::a))
            .route("/api/v1/b/{x}", post(b))
            .route("/metrics", get(m))"#;
        let want: BTreeSet<_> = [("get", "/api/v1/a"), ("post", "/api/v1/b/{x}")]
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(routes_in(src), want);
    }
}
