//! Which URLs and addresses a delivery may call: https only, never loopback,
//! private, link-local, CGNAT, multicast or unspecified (the dev stack's
//! local receiver aside).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const MAX_URL_LEN: usize = 2048;

/// What the dev stack allows beyond the deployed rules: a receiver on this
/// machine, so that webhooks can be tried on one machine. The exception is
/// by scheme and host, not by address: plain `http` to exactly `127.0.0.1`
/// or `localhost` on an explicit port. Every other loopback form (`https`,
/// `[::1]`, `[::ffff:127.0.0.1]`, `127.0.0.2`, `api.localhost`) is refused
/// as it is when deployed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    pub local_receiver: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("must be an https:// URL")]
    NotHttps,
    #[error("must be an absolute URL with a host")]
    Malformed,
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("must be at most {MAX_URL_LEN} characters")]
    TooLong,
    #[error("points at a loopback, private, link-local, shared or multicast address")]
    PrivateAddress,
    #[error("the host does not resolve")]
    Unresolvable,
}

/// A URL the rules allow: where to connect and what to check its host
/// resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedUrl {
    pub url: url::Url,
    /// Set when the host is a name (to resolve and then check); `None` for
    /// an address literal, already checked.
    pub host_to_resolve: Option<String>,
}

/// The name the dev stack's local receiver may be called by.
const LOCAL_RECEIVER_NAME: &str = "localhost";

/// `http://127.0.0.1:<port>` or `http://localhost:<port>`, as written: an
/// address spelt another way (`2130706433`, `0x7f.1`) is not the exception.
fn is_local_receiver(raw: &str, url: &url::Url) -> bool {
    let written = raw.get(..17).unwrap_or(raw).to_ascii_lowercase();
    let host = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip == Ipv4Addr::LOCALHOST && written.starts_with("http://127.0.0.1:"),
        Some(url::Host::Domain(name)) => name == LOCAL_RECEIVER_NAME && written.starts_with("http://localhost:"),
        _ => false,
    };
    url.scheme() == "http" && url.port().is_some() && host
}

/// Checks a URL's shape and any address literal in it; a named host still
/// has to resolve to allowed addresses ([`addresses_allowed`]).
pub fn check_url(raw: &str, policy: UrlPolicy) -> Result<CheckedUrl, UrlRefusal> {
    if raw.len() > MAX_URL_LEN {
        return Err(UrlRefusal::TooLong);
    }
    let url = url::Url::parse(raw).map_err(|_| UrlRefusal::Malformed)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefusal::Credentials);
    }
    let host = url.host().ok_or(UrlRefusal::Malformed)?.to_owned();
    if policy.local_receiver && is_local_receiver(raw, &url) {
        let host_to_resolve = matches!(host, url::Host::Domain(_)).then(|| LOCAL_RECEIVER_NAME.to_owned());
        return Ok(CheckedUrl { url, host_to_resolve });
    }
    if url.scheme() != "https" {
        return Err(UrlRefusal::NotHttps);
    }
    let host_to_resolve = match host {
        url::Host::Domain(name) => {
            if is_localhost_name(&name) {
                return Err(UrlRefusal::PrivateAddress);
            }
            Some(name)
        }
        url::Host::Ipv4(ip) => {
            addresses_allowed("", &[IpAddr::V4(ip)], policy)?;
            None
        }
        url::Host::Ipv6(ip) => {
            addresses_allowed("", &[IpAddr::V6(ip)], policy)?;
            None
        }
    };
    Ok(CheckedUrl { url, host_to_resolve })
}

fn is_localhost_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// What `host` resolved to may be called only if every address is public:
/// one private answer among public ones is how rebinding attacks get in.
/// The dev stack's local receiver, by name, must resolve to loopback only.
pub fn addresses_allowed(host: &str, addresses: &[IpAddr], policy: UrlPolicy) -> Result<(), UrlRefusal> {
    if addresses.is_empty() {
        return Err(UrlRefusal::Unresolvable);
    }
    let allowed: fn(IpAddr) -> bool =
        if policy.local_receiver && host == LOCAL_RECEIVER_NAME { ip_is_loopback } else { public_address };
    if addresses.iter().all(|ip| allowed(*ip)) { Ok(()) } else { Err(UrlRefusal::PrivateAddress) }
}

fn ip_is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// Not loopback, private, link-local (the instance metadata address among
/// them), shared CGNAT, multicast, broadcast, reserved or unspecified.
pub fn public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, _, _] = ip.octets();
    let cgnat = a == 100 && (64..128).contains(&b);
    let this_network = a == 0;
    let reserved = a >= 240;
    let benchmarking = a == 198 && (b == 18 || b == 19);
    let ietf = a == 192 && b == 0 && ip.octets()[2] == 0;
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || cgnat
        || this_network
        || reserved
        || benchmarking
        || ietf)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    // An IPv4 address inside IPv6 (mapped, or NAT64) is judged as IPv4.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return public_v4(v4);
    }
    let segments = ip.segments();
    if segments[0] == 0x64 && segments[1] == 0xff9b && segments[2..6] == [0, 0, 0, 0] {
        let o = ip.octets();
        return public_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    let unique_local = (segments[0] & 0xfe00) == 0xfc00;
    let link_local = (segments[0] & 0xffc0) == 0xfe80;
    let documentation = segments[0] == 0x2001 && segments[1] == 0x0db8;
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || unique_local || link_local || documentation)
}
