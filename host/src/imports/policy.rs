//! What a guest may do through the witsock imports. The default denies
//! every address and path; quotas always apply.
//!
//! # Addresses
//!
//! Without any address rule the guest has no TCP or UDP socket at all
//! (`create` is `access-denied`), as a wasi:sockets guest under the same
//! rules. Otherwise each use of an IP address is checked against its own
//! allow-list of
//! [`AddressRule`]s (`ADDRESS[/PREFIX]:PORTS`, parsed by
//! [`crate::policy`]), before anything reaches the network:
//!
//! | use | list | refused how |
//! |-----|------|-------------|
//! | `bind` (and `listen` on an unbound socket, as the unspecified address, port 0) | bind | `access-denied` |
//! | TCP `start-connect` | connect | `access-denied`; no SYN is sent |
//! | TCP `try-accept` | accept (the peer) | the connection is closed unseen |
//! | UDP `send-to`, `send-batch`, `start-connect` | send (the destination) | `access-denied`; nothing is sent |
//! | UDP receives | receive (the sender) | the datagram is dropped unseen |
//!
//! # Unix sockets
//!
//! Unix sockets exist for the guest only when granted: a directory
//! ([`allow_unix_dir`](WitsockPolicy::allow_unix_dir)), an abstract-name
//! prefix ([`allow_abstract_prefix`](WitsockPolicy::allow_abstract_prefix))
//! or socket pairs ([`allow_socket_pairs`](WitsockPolicy::allow_socket_pairs)).
//! Otherwise creating one is `unsupported`, as `capabilities` then says.
//!
//! A path is confined to the granted directories, each held open: the path
//! must be absolute and start with a granted directory's path, and the rest
//! is walked beneath that directory without following any symlink or `..`;
//! the kernel is handed the descriptor the walk ended on, so nothing is
//! resolved twice (see `sockets/unix_path.rs`). A world-writable
//! directory (`/tmp`) is granted only when forced
//! ([`allow_shared_unix_dir`](WitsockPolicy::allow_shared_unix_dir)).
//!
//! # Options
//!
//! Options that reach beyond the guest's own sockets are refused with
//! `access-denied` unless granted:
//! - sharing a port the guest does not hold: a bind with `reuse-port` (or
//!   `reuse-address` on a datagram socket, which Linux lets share a UDP
//!   port) onto a port no socket of this guest is bound to is done with
//!   the sharing options off, so it fails with `address-in-use` where
//!   another process holds the port
//!   ([`allow_shared_ports`](WitsockPolicy::allow_shared_ports));
//! - joining a multicast group, which makes the host join it on the
//!   network ([`allow_multicast`](WitsockPolicy::allow_multicast));
//! - a linger time, which makes the host's close(2) wait for the peer
//!   ([`allow_linger`](WitsockPolicy::allow_linger)); an abortive close
//!   (linger 0) is always allowed.
//!
//! Options outside the WIT cannot be reached at all.
//!
//! # Quotas
//!
//! [`Limits`]: sockets open at once (`too-many-sockets`, checked before a
//! socket is created or a connection accepted), the listen backlog and the
//! bytes the host buffers for one receive call (`invalid-argument` past
//! either).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use crate::policy::{AddressRule, Policy};
use crate::sockets::unix_path::{self, ConfinedPath, GrantedDir, PathRefusal, PathUse};

/// Quotas for one guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Sockets open at once (created, accepted or from a pair).
    pub max_sockets: usize,
    /// The largest listen backlog.
    pub max_backlog: u32,
    /// The most bytes the host buffers for one receive call (the sum of
    /// the lengths asked for, for vectored and batched receives).
    pub max_bytes_per_call: usize,
}

impl Default for Limits {
    /// 1024 sockets, a backlog of 1024, 4 MiB per call.
    fn default() -> Limits {
        Limits {
            max_sockets: 1024,
            max_backlog: 1024,
            max_bytes_per_call: 4 << 20,
        }
    }
}

/// What a guest may do through the witsock imports (see the
/// [module docs](crate::imports::policy)). The default denies every
/// address.
#[derive(Clone, Debug, Default)]
pub struct WitsockPolicy {
    bind: Vec<AddressRule>,
    connect: Vec<AddressRule>,
    accept: Vec<AddressRule>,
    send: Vec<AddressRule>,
    receive: Vec<AddressRule>,
    unix_dirs: Vec<GrantedDir>,
    abstract_prefixes: Vec<Vec<u8>>,
    socket_pairs: bool,
    name_lookup: bool,
    multicast: bool,
    shared_ports: bool,
    max_linger: Duration,
    limits: Limits,
    /// TCP, then UDP, turned off whatever the rules say (`-S tcp=n`).
    protocols_off: [bool; 2],
    /// Names the guest may look up without name lookup in general.
    lookup_names: Vec<String>,
}

/// What an address is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressUse {
    /// Binding a socket.
    Bind,
    /// Connecting a stream socket.
    Connect,
    /// A peer connecting to a listener.
    Accept,
    /// Sending datagrams to it (also connecting a datagram socket).
    Send,
    /// Receiving datagrams from it.
    Receive,
}

impl AddressUse {
    /// The name of the rule list for this use.
    pub fn list_name(self) -> &'static str {
        match self {
            AddressUse::Bind => "bind",
            AddressUse::Connect => "connect",
            AddressUse::Accept => "accept",
            AddressUse::Send => "send",
            AddressUse::Receive => "receive",
        }
    }
}

impl WitsockPolicy {
    /// Everything refused: no address, no Unix socket, no name lookup;
    /// default [`Limits`].
    pub fn deny_all() -> WitsockPolicy {
        WitsockPolicy::default()
    }

    /// Loopback only, every port, for every use: 127.0.0.0/8 and `[::1]`.
    pub fn loopback() -> WitsockPolicy {
        let rules = [
            AddressRule::new(Ipv4Addr::LOCALHOST.into(), 8, 0, u16::MAX),
            AddressRule::new(Ipv6Addr::LOCALHOST.into(), 128, 0, u16::MAX),
        ];
        let mut policy = WitsockPolicy::deny_all();
        for rule in rules.into_iter().flatten() {
            policy = policy.allow_bind(rule).allow_peer(rule);
        }
        policy
    }

    /// The same rights as a wasi:sockets [`Policy`]: its bind rules for
    /// binding, its connect rules for connecting and for sending and
    /// receiving datagrams, any peer for accepting (wasmtime-wasi checks
    /// the listen, not the peers), its name lookup.
    pub fn from_wasi_policy(policy: &Policy) -> WitsockPolicy {
        let mut out = WitsockPolicy::deny_all()
            .allow_name_lookup(policy.allows_ip_name_lookup())
            .with_limits(Limits {
                max_sockets: policy.max_sockets(),
                ..Limits::default()
            });
        for &rule in policy.bind_rules() {
            out = out.allow_bind(rule);
        }
        for &rule in policy.connect_rules() {
            out = out.allow_connect(rule).allow_udp_peer(rule);
        }
        // The implicit bind a connect or first send makes, which
        // wasi:sockets guests also make explicitly (a UDP socket must be
        // bound before it streams), in each family the guest may connect in.
        for ipv4 in [true, false] {
            if policy
                .connect_rules()
                .iter()
                .any(|rule| rule.is_ipv4() == ipv4)
            {
                out = out.allow_client_bind(ipv4);
            }
        }
        // A listener accepts any peer once the guest has network at all.
        if policy.allows_sockets() {
            for rule in [
                AddressRule::new(Ipv4Addr::UNSPECIFIED.into(), 0, 0, u16::MAX),
                AddressRule::new(Ipv6Addr::UNSPECIFIED.into(), 0, 0, u16::MAX),
            ]
            .into_iter()
            .flatten()
            {
                out = out.allow_accept(rule);
            }
        }
        out
    }

    /// Also allows binding to the addresses of `rule`.
    pub fn allow_bind(mut self, rule: AddressRule) -> WitsockPolicy {
        self.bind.push(rule);
        self
    }

    /// Also allows connecting stream sockets to the addresses of `rule`.
    pub fn allow_connect(mut self, rule: AddressRule) -> WitsockPolicy {
        self.connect.push(rule);
        self
    }

    /// Also allows accepting connections from peers in `rule`.
    pub fn allow_accept(mut self, rule: AddressRule) -> WitsockPolicy {
        self.accept.push(rule);
        self
    }

    /// Also allows sending datagrams to the addresses of `rule`.
    pub fn allow_udp_send(mut self, rule: AddressRule) -> WitsockPolicy {
        self.send.push(rule);
        self
    }

    /// Also allows receiving datagrams from the addresses of `rule`.
    pub fn allow_udp_receive(mut self, rule: AddressRule) -> WitsockPolicy {
        self.receive.push(rule);
        self
    }

    /// Sending datagrams to, and receiving them from, `rule`.
    pub fn allow_udp_peer(self, rule: AddressRule) -> WitsockPolicy {
        self.allow_udp_send(rule).allow_udp_receive(rule)
    }

    /// Every use but binding: connecting, accepting, sending and receiving
    /// datagrams.
    pub fn allow_peer(self, rule: AddressRule) -> WitsockPolicy {
        self.allow_connect(rule)
            .allow_accept(rule)
            .allow_udp_peer(rule)
    }

    /// Grants Unix socket paths inside `dir`, which is opened now and held
    /// open. Turns Unix sockets on.
    ///
    /// # Errors
    /// When `dir` cannot be opened, is not a directory, or is
    /// world-writable (as `/tmp` is: a grant reaches the whole subtree, so
    /// it would reach every user's sockets there; grant a private
    /// directory, or force it with
    /// [`allow_shared_unix_dir`](WitsockPolicy::allow_shared_unix_dir)); on
    /// systems without `/proc/self/fd`, where paths cannot be pinned.
    pub fn allow_unix_dir(self, dir: impl AsRef<Path>) -> std::io::Result<WitsockPolicy> {
        self.grant_unix_dir(dir.as_ref(), false)
    }

    /// Grants Unix socket paths inside `dir` like
    /// [`allow_unix_dir`](WitsockPolicy::allow_unix_dir), even when it is
    /// world-writable.
    ///
    /// # Errors
    /// As for `allow_unix_dir`, but for being world-writable.
    pub fn allow_shared_unix_dir(self, dir: impl AsRef<Path>) -> std::io::Result<WitsockPolicy> {
        self.grant_unix_dir(dir.as_ref(), true)
    }

    fn grant_unix_dir(mut self, dir: &Path, shared: bool) -> std::io::Result<WitsockPolicy> {
        self.unix_dirs.push(GrantedDir::open(dir, shared)?);
        Ok(self)
    }

    /// Grants Linux abstract Unix names that start with `prefix` (the
    /// empty prefix grants every name, and the unnamed bind that picks
    /// one). Turns Unix sockets on.
    pub fn allow_abstract_prefix(mut self, prefix: impl Into<Vec<u8>>) -> WitsockPolicy {
        self.abstract_prefixes.push(prefix.into());
        self
    }

    /// Allows or denies `socket-pair` (connected pairs touch no name).
    /// Turns Unix sockets on when allowed.
    pub fn allow_socket_pairs(mut self, allow: bool) -> WitsockPolicy {
        self.socket_pairs = allow;
        self
    }

    /// Allows or denies `resolve`.
    pub fn allow_name_lookup(mut self, allow: bool) -> WitsockPolicy {
        self.name_lookup = allow;
        self
    }

    /// Allows or denies joining multicast groups.
    pub fn allow_multicast(mut self, allow: bool) -> WitsockPolicy {
        self.multicast = allow;
        self
    }

    /// Allows or denies sharing ports the guest does not hold through
    /// `reuse-port` (and `reuse-address` on datagram sockets).
    pub fn allow_shared_ports(mut self, allow: bool) -> WitsockPolicy {
        self.shared_ports = allow;
        self
    }

    /// Allows linger times up to `max` (zero, the default, allows only an
    /// abortive close).
    pub fn allow_linger(mut self, max: Duration) -> WitsockPolicy {
        self.max_linger = max;
        self
    }

    /// Sets the quotas.
    pub fn with_limits(mut self, limits: Limits) -> WitsockPolicy {
        self.limits = limits;
        self
    }

    /// The quotas.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the guest may create TCP and UDP sockets: some address rule
    /// exists (as for wasi:sockets guests).
    pub fn allows_ip_sockets(&self) -> bool {
        [
            &self.bind,
            &self.connect,
            &self.accept,
            &self.send,
            &self.receive,
        ]
        .iter()
        .any(|rules| !rules.is_empty())
    }

    /// Whether the guest has Unix sockets at all.
    pub fn allows_unix_sockets(&self) -> bool {
        self.socket_pairs || !self.unix_dirs.is_empty() || !self.abstract_prefixes.is_empty()
    }

    /// Whether `socket-pair` is allowed.
    pub fn allows_socket_pairs(&self) -> bool {
        self.socket_pairs
    }

    /// Whether `resolve` is allowed.
    pub fn allows_name_lookup(&self) -> bool {
        self.name_lookup
    }

    /// Whether joining multicast groups is allowed.
    pub fn allows_multicast(&self) -> bool {
        self.multicast
    }

    /// Whether sharing ports the guest does not hold is allowed.
    pub fn allows_shared_ports(&self) -> bool {
        self.shared_ports
    }

    /// The longest linger time allowed.
    pub fn max_linger(&self) -> Duration {
        self.max_linger
    }

    /// Lets the guest look up `name` (compared without regard to case),
    /// whether or not it may look up names in general.
    pub fn allow_lookup_of(mut self, name: &str) -> WitsockPolicy {
        self.lookup_names
            .push(name.trim_end_matches('.').to_ascii_lowercase());
        self
    }

    /// Whether the guest may look up `name`.
    pub fn allows_lookup_of(&self, name: &str) -> bool {
        self.name_lookup
            || self
                .lookup_names
                .iter()
                .any(|granted| granted.eq_ignore_ascii_case(name.trim_end_matches('.')))
    }

    /// Drops every accept rule: a listener then accepts only the peers
    /// later rules name.
    pub fn without_accept_rules(mut self) -> WitsockPolicy {
        self.accept.clear();
        self
    }

    /// Lets the guest bind the unspecified address of a family on port 0,
    /// as a client does before it connects or sends.
    pub fn allow_client_bind(self, ipv4: bool) -> WitsockPolicy {
        let any: IpAddr = if ipv4 {
            Ipv4Addr::UNSPECIFIED.into()
        } else {
            Ipv6Addr::UNSPECIFIED.into()
        };
        let full = if ipv4 { 32 } else { 128 };
        match AddressRule::new(any, full, 0, 0) {
            Some(rule) if !self.bind.contains(&rule) => self.allow_bind(rule),
            _ => self,
        }
    }

    /// Turns TCP (`stream`) or UDP off whatever the rules say, as
    /// wasmtime's `-S tcp=n` and `-S udp=n` do.
    pub fn allow_protocol(mut self, stream: bool, allow: bool) -> WitsockPolicy {
        self.protocols_off[usize::from(!stream)] = !allow;
        self
    }

    /// Whether TCP (`stream`) or UDP sockets may be created at all.
    pub fn allows_protocol(&self, stream: bool) -> bool {
        !self.protocols_off[usize::from(!stream)]
    }

    /// The policy in words, one line per kind of grant, for
    /// `witsock-host run --verbose`.
    pub fn summary(&self) -> Vec<String> {
        let list = |rules: &[AddressRule]| {
            if rules.is_empty() {
                "none".to_string()
            } else {
                rules
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let yes = |on: bool| if on { "yes" } else { "no" };
        let mut lines: Vec<String> = [
            AddressUse::Bind,
            AddressUse::Connect,
            AddressUse::Accept,
            AddressUse::Send,
            AddressUse::Receive,
        ]
        .iter()
        .map(|&use_| format!("{} rules: {}", use_.list_name(), list(self.rules(use_))))
        .collect();
        let dirs: Vec<String> = self
            .unix_dirs
            .iter()
            .map(|dir| dir.path().display().to_string())
            .collect();
        lines.push(format!(
            "unix directories: {}",
            if dirs.is_empty() {
                "none".to_string()
            } else {
                dirs.join(", ")
            }
        ));
        if !self.lookup_names.is_empty() {
            lines.push(format!(
                "names it may look up: {}",
                self.lookup_names.join(", ")
            ));
        }
        lines.push(format!(
            "tcp: {}, udp: {}, name lookup: {}, multicast: {}, socket pairs: {}, shared ports: {}, linger up to {:?}",
            yes(self.allows_protocol(true)),
            yes(self.allows_protocol(false)),
            yes(self.name_lookup),
            yes(self.multicast),
            yes(self.socket_pairs),
            yes(self.shared_ports),
            self.max_linger,
        ));
        let limits = &self.limits;
        lines.push(format!(
            "quotas: {} sockets, backlog {}, {} bytes per receive call",
            limits.max_sockets, limits.max_backlog, limits.max_bytes_per_call
        ));
        lines
    }

    /// Whether `addr` may be used for `use_`.
    pub fn permits(&self, addr: SocketAddr, use_: AddressUse) -> bool {
        self.rules(use_).iter().any(|rule| rule.matches(addr))
    }

    /// The rules for `use_`.
    pub fn rules(&self, use_: AddressUse) -> &[AddressRule] {
        match use_ {
            AddressUse::Bind => &self.bind,
            AddressUse::Connect => &self.connect,
            AddressUse::Accept => &self.accept,
            AddressUse::Send => &self.send,
            AddressUse::Receive => &self.receive,
        }
    }

    /// Whether every sender of the family of `addr` is allowed, so that
    /// receives need not look at senders.
    pub(crate) fn receives_from_anyone(&self, ipv4: bool) -> bool {
        let any = if ipv4 {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        };
        let everything = AddressRule::new(any, 0, 0, u16::MAX);
        // A rule covering the whole family and every port: any rule equal
        // to 0.0.0.0/0:* (or [::]/0:*) once canonical.
        self.receive.iter().any(|rule| Some(*rule) == everything)
    }

    /// Whether the abstract name `name` is granted.
    pub(crate) fn permits_abstract(&self, name: &[u8]) -> bool {
        self.abstract_prefixes
            .iter()
            .any(|prefix| name.starts_with(prefix))
    }

    /// `path` resolved beneath a granted directory, to bind (`Create`) or
    /// to connect or send to (`Existing`).
    pub(crate) fn confine(&self, path: &Path, use_: PathUse) -> Result<ConfinedPath, PathRefusal> {
        unix_path::confine(&self.unix_dirs, path, use_)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> AddressRule {
        s.parse().expect("rule")
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("address")
    }

    #[test]
    fn the_default_policy_denies_every_use() {
        let policy = WitsockPolicy::deny_all();
        for use_ in [
            AddressUse::Bind,
            AddressUse::Connect,
            AddressUse::Accept,
            AddressUse::Send,
            AddressUse::Receive,
        ] {
            assert!(!policy.permits(addr("127.0.0.1:80"), use_), "{use_:?}");
        }
        assert!(!policy.allows_unix_sockets());
        assert!(!policy.allows_name_lookup());
        assert!(!policy.allows_multicast());
        assert_eq!(policy.max_linger(), Duration::ZERO);
    }

    #[test]
    fn each_list_allows_its_own_use_only() {
        let policy = WitsockPolicy::deny_all()
            .allow_bind(rule("127.0.0.1:8000-8100"))
            .allow_connect(rule("10.0.0.0/8:443"));
        assert!(policy.permits(addr("127.0.0.1:8050"), AddressUse::Bind));
        assert!(!policy.permits(addr("127.0.0.1:8101"), AddressUse::Bind));
        assert!(!policy.permits(addr("127.0.0.1:8050"), AddressUse::Connect));
        assert!(policy.permits(addr("10.2.3.4:443"), AddressUse::Connect));
        assert!(!policy.permits(addr("10.2.3.4:443"), AddressUse::Send));
        assert!(!policy.permits(addr("10.2.3.4:443"), AddressUse::Accept));
    }

    #[test]
    fn the_wasi_policy_maps_to_the_same_rights() {
        let wasi = Policy::deny_all()
            .allow_bind(rule("127.0.0.1:*"))
            .allow_connect(rule("127.0.0.1:9000"));
        let policy = WitsockPolicy::from_wasi_policy(&wasi);
        assert!(policy.permits(addr("127.0.0.1:0"), AddressUse::Bind));
        assert!(policy.permits(addr("127.0.0.1:9000"), AddressUse::Connect));
        assert!(policy.permits(addr("127.0.0.1:9000"), AddressUse::Send));
        assert!(policy.permits(addr("127.0.0.1:9000"), AddressUse::Receive));
        assert!(!policy.permits(addr("127.0.0.1:9001"), AddressUse::Connect));
        assert!(policy.permits(addr("192.0.2.1:5000"), AddressUse::Accept));
        assert!(!WitsockPolicy::from_wasi_policy(&Policy::deny_all())
            .permits(addr("127.0.0.1:1"), AddressUse::Accept));
        // A connect rule grants the implicit bind of its family, and only it.
        let client = WitsockPolicy::from_wasi_policy(
            &Policy::deny_all().allow_connect(rule("127.0.0.1:9000")),
        );
        assert!(client.permits(addr("0.0.0.0:0"), AddressUse::Bind));
        assert!(!client.permits(addr("0.0.0.0:80"), AddressUse::Bind));
        assert!(!client.permits(addr("[::]:0"), AddressUse::Bind));
        assert!(!client.permits(addr("127.0.0.1:0"), AddressUse::Bind));
    }

    #[test]
    fn receiving_from_anyone_needs_a_rule_for_the_whole_family() {
        let narrow = WitsockPolicy::loopback();
        assert!(!narrow.receives_from_anyone(true));
        let wide = narrow.allow_udp_receive(rule("0.0.0.0/0:*"));
        assert!(wide.receives_from_anyone(true));
        assert!(!wide.receives_from_anyone(false));
    }

    #[test]
    fn abstract_names_need_a_granted_prefix() {
        let policy = WitsockPolicy::deny_all().allow_abstract_prefix("app-");
        assert!(policy.allows_unix_sockets());
        assert!(policy.permits_abstract(b"app-1"));
        assert!(!policy.permits_abstract(b"other"));
        assert!(!policy.permits_abstract(b""));
        assert!(WitsockPolicy::deny_all()
            .allow_abstract_prefix("")
            .permits_abstract(b""));
    }
}
