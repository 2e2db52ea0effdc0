//! Which addresses a webhook may reach. Subscribers choose URLs, so without
//! a check anyone with an account could make the service probe the inside
//! network (SSRF): loopback, private, link-local (cloud metadata at
//! 169.254.169.254), CGNAT and the like are refused unless the operator
//! allows them. The check runs on every resolved address, inside the HTTP
//! client's resolver, so a name cannot pass the check and then resolve
//! somewhere else (DNS rebinding).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether `ip` is outside the public internet.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let v4 =
                    Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
                return is_internal_v4(v4);
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0)
        }
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // CGNAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

/// The resolver the webhook client uses: system DNS, then internal
/// addresses dropped; a name with nothing left fails to resolve.
#[derive(Clone, Copy)]
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_internal(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves only to internal addresses").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The check for URLs whose host is an IP literal (no resolver involved)
/// or `localhost`; names are checked as they resolve.
pub fn check_url(url: &url::Url) -> Result<(), String> {
    match url.host() {
        Some(url::Host::Ipv4(ip)) if is_internal(IpAddr::V4(ip)) => {
            Err(format!("{ip} is an internal address"))
        }
        Some(url::Host::Ipv6(ip)) if is_internal(IpAddr::V6(ip)) => {
            Err(format!("{ip} is an internal address"))
        }
        Some(url::Host::Domain(d)) if is_localhost_name(d) => {
            Err(format!("{d} is an internal address"))
        }
        None => Err("the URL has no host".into()),
        _ => Ok(()),
    }
}

fn is_localhost_name(d: &str) -> bool {
    let d = d.trim_end_matches('.').to_ascii_lowercase();
    d == "localhost" || d.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_ranges_as_data() {
        for (ip, internal) in [
            ("127.0.0.1", true),
            ("10.1.2.3", true),
            ("172.16.0.1", true),
            ("172.32.0.1", false),
            ("192.168.1.1", true),
            ("169.254.169.254", true),
            ("100.64.0.1", true),
            ("100.128.0.1", false),
            ("0.0.0.0", true),
            ("8.8.8.8", false),
            ("93.184.216.34", false),
            ("::1", true),
            ("fe80::1", true),
            ("fd00::1", true),
            ("::ffff:127.0.0.1", true),
            ("::ffff:8.8.8.8", false),
            ("64:ff9b::a00:1", true),
            ("2606:4700::1111", false),
        ] {
            let parsed: IpAddr = ip.parse().expect("ip");
            assert_eq!(is_internal(parsed), internal, "{ip}");
        }
    }

    #[tokio::test]
    async fn names_resolving_to_internal_addresses_do_not_resolve() {
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = "localhost".parse().expect("name");
        let err = PublicOnly.resolve(name).await.err().expect("refused");
        assert!(err.to_string().contains("internal"), "{err}");
    }

    #[test]
    fn literal_and_localhost_urls_are_checked_up_front() {
        let check = |u: &str| check_url(&url::Url::parse(u).expect("url"));
        assert!(check("http://127.0.0.1:8080/hook").is_err());
        assert!(check("http://[::1]/hook").is_err());
        assert!(check("http://localhost/hook").is_err());
        assert!(check("http://LocalHost./hook").is_err());
        assert!(check("https://hooks.example.com/x").is_ok());
    }
}
