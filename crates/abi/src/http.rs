//! Outbound HTTP: the origin patterns of `http:` grants and the types of the `http_*` host
//! functions.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The host part of an [`OriginPattern`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostPattern {
    /// `*`: any host name (public addresses only).
    Any,
    /// `*.example.com`: any subdomain of the name (not the name itself).
    Subdomains(String),
    /// One host name, lower case.
    Name(String),
    /// One IP address. Only a pattern naming an address allows a loopback, private or link-local one.
    Ip(IpAddr),
}

/// An origin pattern: `<scheme>://<host>[:<port>]`, scheme `http` or `https`, host a name, `*`,
/// `*.<domain>` or an IP address (IPv6 in brackets), port a number or `*` (default: the scheme's).
///
/// ```
/// use a2e_abi::OriginPattern;
/// let p = OriginPattern::parse("https://*.example.com").unwrap();
/// assert!(p.matches("https", "api.example.com", 443));
/// assert!(!p.matches("https", "example.com", 443) && !p.matches("http", "api.example.com", 80));
/// let local = OriginPattern::parse("http://127.0.0.1:11434").unwrap();
/// assert!(local.matches("http", "127.0.0.1", 11434) && !local.matches("http", "127.0.0.1", 80));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OriginPattern {
    /// `http` or `https`.
    pub scheme: String,
    /// Which hosts.
    pub host: HostPattern,
    /// Which port; `None` for any.
    pub port: Option<u16>,
}

impl OriginPattern {
    /// Parses a pattern; the error says what is wrong.
    pub fn parse(text: &str) -> Result<OriginPattern, String> {
        let usage = "expected <scheme>://<host>[:<port>] with scheme http or https, host a name, *, *.<domain> or an IP address, port a number or *";
        let (scheme, rest) = text.split_once("://").ok_or(usage)?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return Err(format!("scheme must be http or https ({usage})")),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
            return Err(format!("an origin has no path, query, user or spaces ({usage})"));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (addr, after) = v6.split_once(']').ok_or("an IPv6 address needs its closing ]")?;
            (format!("[{addr}]"), after.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (rest.to_owned(), None),
            }
        };
        let port = match port {
            None => Some(default_port),
            Some("*") => None,
            Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p > 0).ok_or(format!("bad port `{p}` ({usage})"))?),
        };
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(domain) = host.strip_prefix("*.") {
            if !is_host_name(domain) {
                return Err(format!("bad domain `{domain}` ({usage})"));
            }
            HostPattern::Subdomains(domain.to_owned())
        } else if let Some(ip) = parse_ip(&host) {
            HostPattern::Ip(ip)
        } else if is_host_name(&host) {
            HostPattern::Name(host)
        } else {
            return Err(format!("bad host `{host}` ({usage})"));
        };
        Ok(OriginPattern { scheme, host, port })
    }

    /// Whether a request to `scheme://host:port` is covered. `host` is lower case, an IPv6
    /// address without brackets.
    pub fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        if self.scheme != scheme || self.port.is_some_and(|p| p != port) {
            return false;
        }
        match &self.host {
            HostPattern::Any => parse_ip(host).is_none(),
            HostPattern::Subdomains(domain) => {
                host.len() > domain.len() + 1
                    && host.ends_with(domain.as_str())
                    && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            }
            HostPattern::Name(name) => name == host,
            HostPattern::Ip(ip) => parse_ip(host) == Some(*ip),
        }
    }

    /// The address this pattern names explicitly, if it names one (`localhost` names the
    /// loopback addresses).
    pub fn names_address(&self, addr: IpAddr) -> bool {
        match &self.host {
            HostPattern::Ip(ip) => canonical_ip(*ip) == canonical_ip(addr),
            HostPattern::Name(name) if name == "localhost" => canonical_ip(addr).is_loopback(),
            _ => false,
        }
    }

    /// What the grant allows, for the install prompt.
    pub fn describe(&self) -> String {
        let port = self.port.map(|p| format!(" on port {p}")).unwrap_or_else(|| " on any port".into());
        match &self.host {
            HostPattern::Any => format!("make {} requests to any public host{port}", self.scheme),
            HostPattern::Subdomains(d) => format!("make {} requests to hosts under {d}{port}", self.scheme),
            HostPattern::Name(n) => format!("make {} requests to {n}{port}", self.scheme),
            HostPattern::Ip(ip) => format!("make {} requests to the address {ip}{port}", self.scheme),
        }
    }
}

impl std::fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://", self.scheme)?;
        match &self.host {
            HostPattern::Any => f.write_str("*")?,
            HostPattern::Subdomains(d) => write!(f, "*.{d}")?,
            HostPattern::Name(n) => f.write_str(n)?,
            HostPattern::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
            HostPattern::Ip(ip) => write!(f, "{ip}")?,
        }
        let default = if self.scheme == "https" { 443 } else { 80 };
        match self.port {
            None => f.write_str(":*"),
            Some(p) if p == default => Ok(()),
            Some(p) => write!(f, ":{p}"),
        }
    }
}

/// An IPv4-mapped IPv6 address as its IPv4 address; every other address as is.
pub fn canonical_ip(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
        v4 => v4,
    }
}

/// Whether `addr` is a public unicast address: not loopback, private, shared (CGNAT),
/// link-local (cloud metadata lives there), unique-local, multicast, documentation,
/// benchmarking, reserved or unspecified.
pub fn is_public_ip(addr: IpAddr) -> bool {
    match canonical_ip(addr) {
        IpAddr::V4(ip) => {
            let [a, b, c, _] = ip.octets();
            !(ip.is_unspecified()
                || ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_multicast()
                || ip.is_broadcast()
                || ip.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(ip) => {
            let first = ip.segments()[0];
            !(ip.is_unspecified()
                || ip.is_loopback()
                || ip.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && ip.segments()[1] == 0x0db8
                || first == 0x0064 && ip.segments()[1] == 0xff9b)
        }
    }
}

fn parse_ip(host: &str) -> Option<IpAddr> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    bare.parse().ok()
}

fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn default_method() -> String {
    "GET".into()
}

/// Request of `http_request` and `http_open`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HttpRequest {
    /// GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS (default GET).
    #[serde(default = "default_method")]
    pub method: String,
    /// An absolute http or https URL whose origin one of the plugin's `http:` grants covers.
    pub url: String,
    /// Request headers (Host, Content-Length, Transfer-Encoding, Connection and proxy headers are set by the host).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body (text, or base64 when `base64` is true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Whether `body` and the response body (or chunks) are base64 instead of UTF-8 text.
    #[serde(default)]
    pub base64: bool,
    /// Longest the whole exchange may take, in ms: 0 for the default (30 s for `http_request`,
    /// 10 minutes for a stream); at most 120 s for `http_request`, 30 minutes for a stream.
    #[serde(default)]
    pub timeout_ms: u32,
    /// Largest response body, in bytes: 0 for the default (1 MiB for `http_request`, 64 MiB for
    /// a stream); at most 16 MiB for `http_request`, 256 MiB for a stream.
    #[serde(default)]
    pub max_bytes: u32,
}

impl HttpRequest {
    /// A GET of `url`.
    pub fn get(url: impl Into<String>) -> Self {
        HttpRequest {
            method: default_method(),
            url: url.into(),
            headers: BTreeMap::new(),
            body: None,
            base64: false,
            timeout_ms: 0,
            max_bytes: 0,
        }
    }

    /// A POST of a JSON body to `url`.
    pub fn post_json(url: impl Into<String>, body: &impl Serialize) -> Self {
        let mut req = HttpRequest::get(url);
        req.method = "POST".into();
        req.headers.insert("content-type".into(), "application/json".into());
        req.body = Some(serde_json::to_string(body).unwrap_or_default());
        req
    }
}

/// Response of `http_request`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HttpResponse {
    /// Status code (redirects are followed, up to 5, each checked against the grants).
    pub status: u16,
    /// Response headers, lower-case names; repeated headers joined with ", ".
    pub headers: BTreeMap<String, String>,
    /// The body (text with invalid UTF-8 replaced, or base64).
    pub body: String,
    /// The URL that answered, after redirects.
    pub url: String,
}

/// Response of `http_open`: the head of a response whose body is read with `http_read`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HttpStream {
    /// Stream id, for `http_read` and `http_close`; only the plugin that opened it can use it.
    pub id: String,
    /// Status code.
    pub status: u16,
    /// Response headers, lower-case names.
    pub headers: BTreeMap<String, String>,
    /// The URL that answered, after redirects.
    pub url: String,
}

/// Request of `http_read`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HttpRead {
    /// Stream id.
    pub id: String,
    /// Most bytes to return (0: 64 KiB; at most 1 MiB).
    #[serde(default)]
    pub max_bytes: u32,
    /// Longest to wait for data when none is buffered, in ms (0: do not wait; at most 30000).
    #[serde(default)]
    pub wait_ms: u32,
}

/// Response of `http_read`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HttpChunk {
    /// The body bytes that arrived (text cut at a character boundary, or base64); may be empty.
    pub data: String,
    /// True once the body ended: the stream is closed and its id no longer valid.
    pub done: bool,
}

/// Request of `http_close`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HttpClose {
    /// Stream id.
    pub id: String,
}

/// A secret an administrator gave the plugin (an API key), as the plugin and the API may see it:
/// never its value. A request header that contains `{{secret:<name>}}` gets the value in its place
/// when the request goes to the secret's origin, and only then.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SecretInfo {
    /// The secret's name: 1-64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit.
    pub name: String,
    /// The only origin (`scheme://host[:port]`) the host sends it to.
    pub origin: String,
    /// When it was last set, Unix ms.
    pub updated_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_parse_print_and_match() {
        for (text, printed) in [
            ("https://api.example.com", "https://api.example.com"),
            ("https://api.example.com:443/", "https://api.example.com"),
            ("HTTP://LocalHost:11434", "http://localhost:11434"),
            ("http://[::1]:8080", "http://[::1]:8080"),
            ("https://*.example.com:*", "https://*.example.com:*"),
            ("https://*", "https://*"),
        ] {
            assert_eq!(OriginPattern::parse(text).unwrap().to_string(), printed, "{text}");
        }
        for bad in [
            "api.example.com",
            "ftp://x.org",
            "https://",
            "https://x.org/path",
            "https://u@x.org",
            "https://x.org:0",
            "https://x.org:99999",
            "https://*.",
            "https://-x.org",
            "http://[::1",
        ] {
            assert!(OriginPattern::parse(bad).is_err(), "{bad}");
        }
        let any = OriginPattern::parse("https://*").unwrap();
        assert!(any.matches("https", "x.org", 443) && !any.matches("https", "1.2.3.4", 443));
        let v6 = OriginPattern::parse("http://[::1]:*").unwrap();
        assert!(v6.matches("http", "::1", 9) && v6.names_address("::1".parse().unwrap()));
        let local = OriginPattern::parse("http://localhost:11434").unwrap();
        assert!(local.names_address("127.0.0.1".parse().unwrap()) && !local.names_address("10.0.0.1".parse().unwrap()));
        assert!(!any.names_address("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn only_public_unicast_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!is_public_ip(private.parse().unwrap()), "{private}");
        }
        for public in ["1.1.1.1", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public_ip(public.parse().unwrap()), "{public}");
        }
    }
}
