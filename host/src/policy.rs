//! What a guest may do on the network: allow-lists of addresses to bind
//! and to talk to, and whether it may resolve names. Everything else is
//! denied, and a policy without any rule turns TCP and UDP off entirely.
//!
//! # Rules
//!
//! A rule is `ADDRESS[/PREFIX]:PORTS`:
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
//!
//! # What each rule allows
//!
//! wasmtime-wasi asks the policy about every address a guest uses
//! ([`SocketAddrUse`]). The answers:
//!
//! | use | allowed when |
//! |-----|--------------|
//! | TCP or UDP bind | a bind rule matches the address. Binding the unspecified address (`0.0.0.0` or `::`) on port 0 is also allowed when a connect rule of that family exists: that is the implicit bind a connect or first send makes. |
//! | TCP listen | a bind rule matches the address the socket is bound to, with the port it actually has: listening on a port the system picked needs a rule covering that port (`*` or a range), not only port 0. |
//! | TCP accept | always: the listen was checked. |
//! | TCP connect, UDP send | a connect rule matches the remote address. |
//! | UDP receive | a connect rule matches the sender; other datagrams are dropped unseen. |
//!
//! # Socket quotas
//!
//! A guest holds at most [`max_sockets`](Policy::max_sockets) sockets at
//! once (1024 by default); creating or accepting one more is
//! `new-socket-limit`. wasmtime-wasi 48 does not consult the embedder when
//! a socket is created, so the host wraps the functions that create them
//! (see `wasi_quota.rs`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::WasiCtxBuilder;

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

/// What a guest may do on the network. The default denies everything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    bind: Vec<AddressRule>,
    connect: Vec<AddressRule>,
    ip_name_lookup: bool,
    max_sockets: usize,
}

impl Default for Policy {
    /// No rules, no name lookup, at most
    /// [`DEFAULT_MAX_SOCKETS`](Policy::DEFAULT_MAX_SOCKETS) sockets.
    fn default() -> Policy {
        Policy {
            bind: Vec::new(),
            connect: Vec::new(),
            ip_name_lookup: false,
            max_sockets: Policy::DEFAULT_MAX_SOCKETS,
        }
    }
}

impl Policy {
    /// How many sockets a guest may hold at once unless told otherwise.
    pub const DEFAULT_MAX_SOCKETS: usize = 1024;

    /// Sets how many sockets the guest may hold at once: one more is
    /// `new-socket-limit` (see [Socket quotas](self#socket-quotas)).
    pub fn with_max_sockets(mut self, max: usize) -> Policy {
        self.max_sockets = max;
        self
    }

    /// How many sockets the guest may hold at once.
    pub fn max_sockets(&self) -> usize {
        self.max_sockets
    }

    /// No network at all: TCP, UDP and name lookup are off.
    pub fn deny_all() -> Policy {
        Policy::default()
    }

    /// Loopback only, every port: bind and talk to 127.0.0.0/8 and
    /// `[::1]`. No name lookup. What the conformance suite runs under.
    pub fn loopback() -> Policy {
        let rules = [
            AddressRule::new(Ipv4Addr::LOCALHOST.into(), 8, 0, u16::MAX),
            AddressRule::new(Ipv6Addr::LOCALHOST.into(), 128, 0, u16::MAX),
        ];
        let mut policy = Policy::deny_all();
        for rule in rules.into_iter().flatten() {
            policy = policy.allow_bind(rule).allow_connect(rule);
        }
        policy
    }

    /// Also allows binding and listening on the addresses of `rule`.
    pub fn allow_bind(mut self, rule: AddressRule) -> Policy {
        self.bind.push(rule);
        self
    }

    /// Also allows connecting and sending to, and receiving datagrams
    /// from, the addresses of `rule`.
    pub fn allow_connect(mut self, rule: AddressRule) -> Policy {
        self.connect.push(rule);
        self
    }

    /// Allows or denies `wasi:sockets/ip-name-lookup`.
    pub fn allow_ip_name_lookup(mut self, allow: bool) -> Policy {
        self.ip_name_lookup = allow;
        self
    }

    /// The bind rules.
    pub fn bind_rules(&self) -> &[AddressRule] {
        &self.bind
    }

    /// The connect rules.
    pub fn connect_rules(&self) -> &[AddressRule] {
        &self.connect
    }

    /// Whether name lookup is allowed.
    pub fn allows_ip_name_lookup(&self) -> bool {
        self.ip_name_lookup
    }

    /// Whether TCP and UDP are on: some rule exists.
    pub fn allows_sockets(&self) -> bool {
        !self.bind.is_empty() || !self.connect.is_empty()
    }

    /// Whether the guest may use `addr` for `use_` (the table in the
    /// [module docs](self)).
    pub fn permits(&self, addr: SocketAddr, use_: SocketAddrUse) -> bool {
        let any = |rules: &[AddressRule]| rules.iter().any(|rule| rule.matches(addr));
        match use_ {
            SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => {
                any(&self.bind) || (self.is_implicit_bind(addr))
            }
            SocketAddrUse::TcpListen => any(&self.bind),
            SocketAddrUse::TcpAccept => true,
            SocketAddrUse::TcpConnect | SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => {
                any(&self.connect)
            }
        }
    }

    /// `addr` is the unspecified address on port 0, which a connect or a
    /// first send binds implicitly, and the guest may connect somewhere in
    /// that family.
    fn is_implicit_bind(&self, addr: SocketAddr) -> bool {
        addr.ip().is_unspecified()
            && addr.port() == 0
            && self
                .connect
                .iter()
                .any(|rule| rule.is_ipv4() == addr.is_ipv4())
    }

    /// Configures `builder` to enforce this policy.
    pub fn apply(&self, builder: &mut WasiCtxBuilder) {
        let sockets = self.allows_sockets();
        builder
            .allow_tcp(sockets)
            .allow_udp(sockets)
            .allow_ip_name_lookup(self.ip_name_lookup);
        let policy = self.clone();
        builder.socket_addr_check(move |addr, use_| {
            let allowed = policy.permits(addr, use_);
            Box::pin(std::future::ready(allowed))
        });
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

        let everything = rule("0.0.0.0/0:*");
        assert!(everything.matches(addr("8.8.8.8:53")));
        assert!(!everything.matches(addr("[2001:db8::1]:53")));
    }

    #[test]
    fn the_default_policy_denies_everything() {
        let policy = Policy::deny_all();
        assert!(!policy.allows_sockets());
        assert!(!policy.allows_ip_name_lookup());
        for use_ in [
            SocketAddrUse::TcpBind,
            SocketAddrUse::TcpListen,
            SocketAddrUse::TcpConnect,
            SocketAddrUse::UdpBind,
            SocketAddrUse::UdpSend,
            SocketAddrUse::UdpReceive,
        ] {
            assert!(!policy.permits(addr("127.0.0.1:80"), use_), "{use_:?}");
            assert!(!policy.permits(addr("0.0.0.0:0"), use_), "{use_:?}");
        }
    }

    #[test]
    fn connect_rules_allow_the_implicit_bind_of_their_family_only() {
        let policy = Policy::deny_all().allow_connect(rule("127.0.0.1:8080"));
        assert!(policy.allows_sockets());
        assert!(policy.permits(addr("127.0.0.1:8080"), SocketAddrUse::TcpConnect));
        assert!(!policy.permits(addr("127.0.0.1:8081"), SocketAddrUse::TcpConnect));
        assert!(policy.permits(addr("0.0.0.0:0"), SocketAddrUse::TcpBind));
        assert!(policy.permits(addr("0.0.0.0:0"), SocketAddrUse::UdpBind));
        assert!(!policy.permits(addr("[::]:0"), SocketAddrUse::TcpBind));
        assert!(!policy.permits(addr("0.0.0.0:8080"), SocketAddrUse::TcpBind));
        assert!(!policy.permits(addr("127.0.0.1:0"), SocketAddrUse::TcpBind));
        // Bound implicitly, the socket still may not listen.
        assert!(!policy.permits(addr("0.0.0.0:41000"), SocketAddrUse::TcpListen));
    }

    #[test]
    fn bind_rules_allow_bind_and_listen_not_connect() {
        let policy = Policy::deny_all().allow_bind(rule("127.0.0.1:*"));
        assert!(policy.permits(addr("127.0.0.1:0"), SocketAddrUse::TcpBind));
        assert!(policy.permits(addr("127.0.0.1:41000"), SocketAddrUse::TcpListen));
        assert!(policy.permits(addr("127.0.0.1:5353"), SocketAddrUse::UdpBind));
        assert!(policy.permits(addr("10.1.2.3:5000"), SocketAddrUse::TcpAccept));
        assert!(!policy.permits(addr("127.0.0.2:0"), SocketAddrUse::TcpBind));
        assert!(!policy.permits(addr("0.0.0.0:0"), SocketAddrUse::TcpListen));
        assert!(!policy.permits(addr("127.0.0.1:80"), SocketAddrUse::TcpConnect));
        assert!(!policy.permits(addr("127.0.0.1:80"), SocketAddrUse::UdpSend));
        assert!(!policy.permits(addr("127.0.0.1:80"), SocketAddrUse::UdpReceive));
    }

    #[test]
    fn the_loopback_policy_covers_both_loopbacks() {
        let policy = Policy::loopback();
        for a in ["127.0.0.1:0", "127.3.2.1:65535", "[::1]:0", "[::1]:443"] {
            for use_ in [
                SocketAddrUse::TcpBind,
                SocketAddrUse::TcpListen,
                SocketAddrUse::TcpConnect,
                SocketAddrUse::UdpBind,
                SocketAddrUse::UdpSend,
                SocketAddrUse::UdpReceive,
            ] {
                assert!(policy.permits(addr(a), use_), "{a} {use_:?}");
            }
        }
        for a in ["10.0.0.1:80", "[::2]:80", "[fe80::1]:80", "192.168.1.1:0"] {
            assert!(!policy.permits(addr(a), SocketAddrUse::TcpConnect), "{a}");
            assert!(!policy.permits(addr(a), SocketAddrUse::TcpBind), "{a}");
        }
        assert!(!policy.allows_ip_name_lookup());
    }
}
