//! Cross-site request forgery: what a request authenticated by the session
//! cookie must show besides the cookie. Pure decisions over header values.
//!
//! - Any request (a GET and the live WebSocket's upgrade included) is refused
//!   when the browser says it comes from another site (`Sec-Fetch-Site:
//!   cross-site`) or names an `Origin` other than this host: that stops
//!   cross-site WebSocket hijacking, which `SameSite` alone does not on older
//!   browsers.
//! - A state-changing request (not GET/HEAD/OPTIONS) must also carry the
//!   session's CSRF token in `X-CSRF-Token` (the synchronizer-token pattern:
//!   the token is handed out by login and `/api/v1/auth/session` and never sits
//!   in a cookie another page could read).
//! - Login has no session yet, so it gets only the first check (login CSRF).
//!
//! Requests with an `Authorization: Bearer` token are not checked: a browser
//! never attaches one on its own.

/// The headers a decision reads; absent ones are `None`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Facts<'a> {
    pub method: &'a str,
    pub host: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub sec_fetch_site: Option<&'a str>,
    pub csrf_header: Option<&'a str>,
}

pub const HEADER: &str = "x-csrf-token";

fn safe_method(m: &str) -> bool {
    matches!(m, "GET" | "HEAD" | "OPTIONS")
}

/// Whether the request comes from a page of this origin (or from no page at all).
pub fn same_origin(f: &Facts<'_>) -> Result<(), &'static str> {
    match f.sec_fetch_site {
        Some("cross-site") => return Err("cross-site request refused"),
        // A sibling subdomain may not change anything either.
        Some("same-site") if !safe_method(f.method) => return Err("cross-origin request refused"),
        _ => {}
    }
    if let Some(origin) = f.origin {
        // `null` is what sandboxed frames and some redirects send: no page we know.
        let authority = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        match (authority, f.host) {
            (Some(a), Some(h)) if a.eq_ignore_ascii_case(h) => {}
            _ => return Err("request from another origin refused"),
        }
    }
    Ok(())
}

/// The decision for a request carrying a valid session cookie whose CSRF
/// token is `expected`.
pub fn check_session(f: &Facts<'_>, expected: &str) -> Result<(), &'static str> {
    same_origin(f)?;
    if safe_method(f.method) {
        return Ok(());
    }
    match f.csrf_header {
        Some(got) if super::constant_time_eq(got.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err("wrong CSRF token"),
        None => Err("missing X-CSRF-Token header"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "t0ken";

    fn facts<'a>(
        method: &'a str,
        origin: Option<&'a str>,
        site: Option<&'a str>,
        csrf: Option<&'a str>,
    ) -> Facts<'a> {
        Facts {
            method,
            host: Some("dash.example:8080"),
            origin,
            sec_fetch_site: site,
            csrf_header: csrf,
        }
    }

    #[test]
    fn session_requests_as_data() {
        let me = Some("https://dash.example:8080");
        let cases: &[(Facts<'_>, Result<(), &str>)] = &[
            // The page's own fetches and its WebSocket.
            (facts("GET", None, Some("same-origin"), None), Ok(())),
            (facts("GET", me, Some("same-origin"), None), Ok(())),
            (
                facts("GET", Some("http://DASH.example:8080"), None, None),
                Ok(()),
            ),
            // curl with a copied cookie: no browser headers at all.
            (facts("GET", None, None, None), Ok(())),
            (facts("GET", None, Some("none"), None), Ok(())),
            // Another site's page, by header or by Origin (a WebSocket upgrade).
            (
                facts("GET", None, Some("cross-site"), None),
                Err("cross-site request refused"),
            ),
            (
                facts("GET", Some("https://evil.example"), None, None),
                Err("request from another origin refused"),
            ),
            (
                facts("GET", Some("https://dash.example:8081"), None, None),
                Err("request from another origin refused"),
            ),
            (
                facts("GET", Some("null"), None, None),
                Err("request from another origin refused"),
            ),
            (facts("GET", None, Some("same-site"), None), Ok(())),
            // State changes need the token as well.
            (facts("POST", me, Some("same-origin"), Some(TOKEN)), Ok(())),
            (
                facts("POST", me, Some("same-origin"), None),
                Err("missing X-CSRF-Token header"),
            ),
            (
                facts("POST", me, Some("same-origin"), Some("t0kem")),
                Err("wrong CSRF token"),
            ),
            (
                facts("DELETE", None, None, Some("")),
                Err("wrong CSRF token"),
            ),
            (
                facts("POST", me, Some("same-site"), Some(TOKEN)),
                Err("cross-origin request refused"),
            ),
            (
                facts("POST", Some("https://evil.example"), None, Some(TOKEN)),
                Err("request from another origin refused"),
            ),
        ];
        for (f, want) in cases {
            assert_eq!(check_session(f, TOKEN), *want, "{f:?}");
        }
    }

    #[test]
    fn without_a_host_header_no_origin_matches() {
        let f = Facts {
            method: "GET",
            origin: Some("http://dash.example"),
            ..Default::default()
        };
        assert!(same_origin(&f).is_err());
        assert!(same_origin(&Facts {
            method: "POST",
            ..Default::default()
        })
        .is_ok());
    }
}
