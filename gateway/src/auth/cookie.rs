//! The session cookie: found in `Cookie` headers, set with every protection a
//! browser offers (`HttpOnly`: no script reads it; `SameSite=Strict`: no other
//! site's page sends it; `Secure` when the page is served over TLS).

use std::time::Duration;

pub const SESSION_COOKIE: &str = "hw_session";

/// The value of cookie `name` in the `Cookie` header values given (a browser
/// sends one header; HTTP/2 clients may split it).
pub fn find<'a>(headers: impl IntoIterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    headers
        .into_iter()
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// The `Set-Cookie` value that stores session `id` for `max_age`.
pub fn set(id: &str, max_age: Duration, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that makes the browser forget the session.
pub fn clear(secure: bool) -> String {
    set("", Duration::ZERO, secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_the_session_cookie() {
        let cases: &[(&[&str], Option<&str>)] = &[
            (&["hw_session=abc"], Some("abc")),
            (&["theme=dark; hw_session=abc; lang=en"], Some("abc")),
            (&["theme=dark", "hw_session=abc"], Some("abc")),
            (&["hw_session=\"abc\""], Some("abc")),
            (&["xhw_session=abc"], None),
            (&["hw_session="], None),
            (&["hw_session"], None),
            (&[""], None),
            (&[], None),
            // The first one wins, as browsers send the most specific path first.
            (&["hw_session=one; hw_session=two"], Some("one")),
        ];
        for (headers, want) in cases {
            assert_eq!(
                find(headers.iter().copied(), SESSION_COOKIE),
                *want,
                "{headers:?}"
            );
        }
    }

    #[test]
    fn attributes() {
        let plain = set("id1", Duration::from_secs(3600), false);
        assert_eq!(
            plain,
            "hw_session=id1; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600"
        );
        assert!(set("id1", Duration::from_secs(1), true).ends_with("; Secure"));
        assert!(clear(false).starts_with("hw_session=; ") && clear(false).contains("Max-Age=0"));
    }
}
