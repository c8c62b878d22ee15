//! Address rules: `ADDRESS[/PREFIX]:PORTS`.
//!
//! - `ADDRESS` is an IPv4 address, or an IPv6 address in brackets
//!   (`[::1]`); `/PREFIX` widens it to a network (`127.0.0.0/8`,
//!   `[fd00::]/8`, also written `[fd00::/8]`). Bits past the prefix are
//!   ignored.
//! - `PORTS` is a port (`8080`), an inclusive range (`1024-65535`) or `*`
//!   (every port, 0 included).
//!
//! IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) are checked as the IPv4
//! address they stand for.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// A set of addresses: a network and a port range. Parse one from
/// `ADDRESS[/PREFIX]:PORTS` (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressRule {
    network: IpAddr,
    prefix_len: u8,
    first_port: u16,
    last_port: u16,
}

impl AddressRule {
    /// Every port of `network`/`prefix_len` from `first_port` to
    /// `last_port`. None if the prefix is longer than the address or the
    /// range is empty.
    pub fn new(
        network: IpAddr,
        prefix_len: u8,
        first_port: u16,
        last_port: u16,
    ) -> Option<AddressRule> {
        let max_len = if network.is_ipv4() { 32 } else { 128 };
        if prefix_len > max_len || first_port > last_port {
            return None;
        }
        Some(AddressRule {
            network: mask(network, prefix_len),
            prefix_len,
            first_port,
            last_port,
        })
    }

    /// Every IPv4 address, every port (`0.0.0.0/0:*`).
    pub const ANY_IPV4: AddressRule = AddressRule {
        network: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        prefix_len: 0,
        first_port: 0,
        last_port: u16::MAX,
    };

    /// Every IPv6 address, every port (`[::]/0:*`).
    pub const ANY_IPV6: AddressRule = AddressRule {
        network: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        prefix_len: 0,
        first_port: 0,
        last_port: u16::MAX,
    };

    /// The unspecified address of a family on port 0 only: the bind a
    /// client makes before it connects or sends.
    pub fn client_bind(ipv4: bool) -> AddressRule {
        let network = if ipv4 {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        };
        AddressRule {
            network,
            prefix_len: if ipv4 { 32 } else { 128 },
            first_port: 0,
            last_port: 0,
        }
    }

    /// Whether the rule covers its whole family and every port.
    pub fn is_everything(&self) -> bool {
        self.prefix_len == 0 && self.first_port == 0 && self.last_port == u16::MAX
    }

    /// Whether `addr` is in this rule's network and port range.
    pub fn matches(&self, addr: SocketAddr) -> bool {
        let ip = addr.ip().to_canonical();
        let in_network = match (ip, self.network) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(ip, self.prefix_len) == self.network
            }
            _ => false,
        };
        in_network && (self.first_port..=self.last_port).contains(&addr.port())
    }

    /// The same network with the ports `first` to `last`.
    pub fn with_ports(&self, first: u16, last: u16) -> AddressRule {
        AddressRule {
            first_port: first.min(last),
            last_port: last.max(first),
            ..*self
        }
    }

    /// The first port of the range.
    pub fn first_port(&self) -> u16 {
        self.first_port
    }

    /// The last port of the range.
    pub fn last_port(&self) -> u16 {
        self.last_port
    }

    /// Whether the rule is about IPv4 addresses.
    pub fn is_ipv4(&self) -> bool {
        self.network.is_ipv4()
    }
}

/// Keeps the first `prefix_len` bits of `ip`.
fn mask(ip: IpAddr, prefix_len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = bits.checked_shr(32 - u32::from(prefix_len)).unwrap_or(0);
            let masked = kept.checked_shl(32 - u32::from(prefix_len)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(masked))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = bits.checked_shr(128 - u32::from(prefix_len)).unwrap_or(0);
            let masked = kept.checked_shl(128 - u32::from(prefix_len)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(masked))
        }
    }
}

impl fmt::Display for AddressRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.network {
            IpAddr::V4(v4) => write!(f, "{v4}")?,
            IpAddr::V6(v6) => write!(f, "[{v6}]")?,
        }
        let full = if self.network.is_ipv4() { 32 } else { 128 };
        if self.prefix_len != full {
            write!(f, "/{}", self.prefix_len)?;
        }
        match (self.first_port, self.last_port) {
            (0, u16::MAX) => f.write_str(":*"),
            (a, b) if a == b => write!(f, ":{a}"),
            (a, b) => write!(f, ":{a}-{b}"),
        }
    }
}

/// A rule that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    input: String,
    reason: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid address rule `{}`: {} (expected ADDRESS[/PREFIX]:PORTS, e.g. 127.0.0.1:8080, 127.0.0.0/8:*, [::1]:1024-65535)",
            self.input, self.reason
        )
    }
}

impl std::error::Error for RuleError {}

impl FromStr for AddressRule {
    type Err = RuleError;

    fn from_str(input: &str) -> Result<AddressRule, RuleError> {
        let error = |reason: &str| RuleError {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let (host, ports) = if let Some(bracketed) = input.strip_prefix('[') {
            let (inside, after) = bracketed
                .split_once(']')
                .ok_or_else(|| error("a `[` without its `]`"))?;
            let (prefix, ports) = match after.split_once(':') {
                Some((prefix, ports)) => (prefix, ports),
                None => return Err(error("no port after the address")),
            };
            match (inside.contains('/'), prefix) {
                (_, "") => (inside.to_string(), ports),
                (false, p) if p.starts_with('/') => (format!("{inside}{p}"), ports),
                _ => return Err(error("unexpected text after `]`")),
            }
        } else {
            let (host, ports) = input
                .rsplit_once(':')
                .ok_or_else(|| error("no port after the address"))?;
            if host.contains(':') {
                return Err(error("an IPv6 address goes in brackets, as in [::1]:80"));
            }
            (host.to_string(), ports)
        };
        let (addr, prefix_len) = match host.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (host.as_str(), None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| error(&format!("`{addr}` is not an IP address")))?;
        if input.starts_with('[') && network.is_ipv4() {
            return Err(error("only IPv6 addresses go in brackets"));
        }
        let full = if network.is_ipv4() { 32 } else { 128 };
        let prefix_len = match prefix_len {
            None => full,
            Some(len) => len
                .parse::<u8>()
                .ok()
                .filter(|&n| n <= full)
                .ok_or_else(|| error(&format!("the prefix must be 0 to {full}, not `{len}`")))?,
        };
        let (first_port, last_port) = parse_ports(ports).map_err(|reason| error(&reason))?;
        AddressRule::new(network, prefix_len, first_port, last_port)
            .ok_or_else(|| error("an empty rule"))
    }
}

fn parse_ports(ports: &str) -> Result<(u16, u16), String> {
    let port = |s: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("`{s}` is not a port (0 to 65535)"))
    };
    match ports {
        "*" => Ok((0, u16::MAX)),
        "" => Err("no port after the `:`".to_string()),
        _ => match ports.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (port(first)?, port(last)?);
                if first > last {
                    return Err(format!("the port range {first}-{last} is empty"));
                }
                Ok((first, last))
            }
            None => port(ports).map(|p| (p, p)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> AddressRule {
        s.parse()
            .unwrap_or_else(|e| panic!("`{s}` should parse: {e}"))
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn rules_parse_and_print_canonically() {
        for (input, canonical) in [
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("127.0.0.1:0-65535", "127.0.0.1:*"),
            ("127.0.0.0/8:*", "127.0.0.0/8:*"),
            ("127.1.2.3/8:1024-2048", "127.0.0.0/8:1024-2048"),
            ("[::1]:8080", "[::1]:8080"),
            ("[fd00::]/8:*", "[fd00::]/8:*"),
            ("[fd00::/8]:443", "[fd00::]/8:443"),
            ("0.0.0.0/0:53", "0.0.0.0/0:53"),
            ("[::]/0:*", "[::]/0:*"),
        ] {
            assert_eq!(rule(input).to_string(), canonical, "{input}");
        }
    }

    #[test]
    fn bad_rules_are_refused_with_a_reason() {
        for (input, reason) in [
            ("", "no port"),
            ("127.0.0.1", "no port"),
            ("127.0.0.1:", "no port"),
            ("127.0.0.1:http", "not a port"),
            ("127.0.0.1:65536", "not a port"),
            ("127.0.0.1:9-3", "empty"),
            ("127.0.0.1:-3", "not a port"),
            ("localhost:80", "not an IP address"),
            ("127.0.0.1/33:80", "prefix must be 0 to 32"),
            ("127.0.0.1/x:80", "prefix must be 0 to 32"),
            ("::1:80", "brackets"),
            ("[::1]", "no port"),
            ("[::1:80", "without its `]`"),
            ("[::1]x:80", "unexpected text"),
            ("[::1/64]/64:80", "unexpected text"),
            ("[::1]/129:80", "prefix must be 0 to 128"),
            ("[127.0.0.1]:80", "only IPv6"),
        ] {
            let err = input
                .parse::<AddressRule>()
                .expect_err(&format!("`{input}` should not parse"));
            let message = err.to_string();
            assert!(message.contains(reason), "`{input}`: {message}");
            assert!(message.contains(&format!("`{input}`")), "{message}");
        }
    }

    #[test]
    fn rules_match_their_network_and_ports_only() {
        let lo = rule("127.0.0.0/8:1000-2000");
        assert!(lo.matches(addr("127.0.0.1:1000")));
        assert!(lo.matches(addr("127.255.0.9:2000")));
        assert!(!lo.matches(addr("127.0.0.1:999")));
        assert!(!lo.matches(addr("127.0.0.1:2001")));
        assert!(!lo.matches(addr("128.0.0.1:1500")));
        assert!(!lo.matches(addr("[::1]:1500")));
        // An IPv4-mapped address is the IPv4 address.
        assert!(lo.matches(addr("[::ffff:127.0.0.1]:1500")));

        let v6 = rule("[::1]:*");
        assert!(v6.matches(addr("[::1]:0")));
        assert!(v6.matches(addr("[::1]:65535")));
        assert!(!v6.matches(addr("[::2]:80")));
        assert!(!v6.matches(addr("127.0.0.1:80")));

        assert_eq!(rule("0.0.0.0/0:*"), AddressRule::ANY_IPV4);
        assert_eq!(rule("[::]/0:*"), AddressRule::ANY_IPV6);
        let everything = rule("0.0.0.0/0:*");
        assert!(everything.matches(addr("8.8.8.8:53")));
        assert!(!everything.matches(addr("[2001:db8::1]:53")));
    }
}
