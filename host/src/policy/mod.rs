//! What a guest may do on the network: one policy for every interface a
//! guest imports (wasi:sockets and the witsock imports), enforced by the
//! host's socket layer ([`crate::sockets`]) with one vocabulary. The
//! default denies everything; quotas always apply.
//!
//! # Addresses
//!
//! Without any address rule the guest has no TCP or UDP socket at all
//! (creating one is `access-denied`). Otherwise each use of an IP address
//! is checked against its own allow-list of [`AddressRule`]s
//! (`ADDRESS[/PREFIX]:PORTS`, see [`rule`]) before anything reaches the
//! network:
//!
//! | use | list | refused how |
//! |-----|------|-------------|
//! | bind (and `listen` on an unbound socket, as the unspecified address, port 0) | bind | `access-denied` |
//! | `listen` | bind, with the port the socket actually has: a port the system picked needs a rule covering it (`*` or a range), not only port 0 | `access-denied` |
//! | TCP connect | connect | `access-denied`; no SYN is sent |
//! | TCP accept (the peer) | accept: any peer until the first accept rule | the connection is closed unseen |
//! | UDP send, UDP connect (the destination) | send | `access-denied`; nothing is sent |
//! | UDP receive (the sender) | receive | the datagram is dropped unseen |
//!
//! The words of the CLI (and of wasmtime's) are built from these lists:
//! [`allow_bind`](Policy::allow_bind) is the bind list;
//! [`allow_connect`](Policy::allow_connect) is connecting, sending to and
//! receiving from the rule's addresses, with the bind a client makes first
//! (its family's unspecified address, port 0). The finer methods
//! ([`allow_tcp_connect`](Policy::allow_tcp_connect),
//! [`allow_accept`](Policy::allow_accept),
//! [`allow_udp_send`](Policy::allow_udp_send),
//! [`allow_udp_receive`](Policy::allow_udp_receive)) grant one use each.
//!
//! # Unix sockets
//!
//! Unix sockets exist for the guest only when granted: a directory
//! ([`allow_unix_dir`](Policy::allow_unix_dir)), an abstract-name prefix
//! ([`allow_abstract_prefix`](Policy::allow_abstract_prefix)) or socket
//! pairs ([`allow_socket_pairs`](Policy::allow_socket_pairs)). Otherwise
//! creating one is `unsupported`, as `capabilities` then says.
//!
//! A path is confined to the granted directories, each held open: the path
//! must be absolute and start with a granted directory's path, and the rest
//! is walked beneath that directory without following any symlink or `..`;
//! the kernel is handed the descriptor the walk ended on, so nothing is
//! resolved twice (see `sockets/unix_path.rs`). A world-writable
//! directory (`/tmp`) is granted only when forced
//! ([`allow_shared_unix_dir`](Policy::allow_shared_unix_dir)).
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
//!   ([`allow_shared_ports`](Policy::allow_shared_ports));
//! - joining a multicast group, which makes the host join it on the
//!   network ([`allow_multicast`](Policy::allow_multicast));
//! - a linger time, which makes the host's close(2) wait for the peer
//!   ([`allow_linger`](Policy::allow_linger)); an abortive close
//!   (linger 0) is always allowed.
//!
//! Options outside the WIT cannot be reached at all. The read-only
//! `peer-credentials` of a Unix connection names the process at its other
//! end: the host itself for a socket pair, the peer process for a
//! connection through a granted path.
//!
//! # Quotas
//!
//! [`Limits`]: sockets open at once (`too-many-sockets`, or
//! `new-socket-limit` for a wasi:sockets guest, checked before a socket is
//! created or a connection accepted), the listen backlog (a larger one is
//! clamped to it, as the kernel clamps to `somaxconn`) and the bytes the
//! host buffers for one receive call (`invalid-argument` past it).
//!
//! # wasmtime-wasi's wasi:sockets
//!
//! When wasmtime-wasi serves wasi:sockets instead (for comparison,
//! [`WasiSockets::WasmtimeWasi`](crate::WasiSockets::WasmtimeWasi)), it
//! asks this policy about each address ([`apply`](Policy::apply)) and the
//! host counts its sockets against the same quota; Unix sockets, option
//! grants, the backlog and per-call quotas and names granted one by one
//! ([`allow_lookup_of`](Policy::allow_lookup_of)) are witsock's alone.

pub mod rule;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::WasiCtxBuilder;

pub use self::rule::{AddressRule, RuleError};
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

/// What a guest may do on the network (see the [module docs](self)). The
/// default denies everything.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    bind: Vec<AddressRule>,
    connect: Vec<AddressRule>,
    /// `None`: any peer (a listener needs a bind rule anyway).
    accept: Option<Vec<AddressRule>>,
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

/// The accept list of a policy without accept rules: every peer.
const ANY_PEER: [AddressRule; 2] = [AddressRule::ANY_IPV4, AddressRule::ANY_IPV6];

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

impl Policy {
    /// Everything refused: no address, no Unix socket, no name lookup;
    /// default [`Limits`].
    pub fn deny_all() -> Policy {
        Policy::default()
    }

    /// Loopback only, every port, for every use: 127.0.0.0/8 and `[::1]`.
    /// No name lookup. What the conformance suite runs under.
    pub fn loopback() -> Policy {
        let rules = ["127.0.0.0/8:*", "[::1]:*"];
        let mut policy = Policy::deny_all();
        for rule in rules {
            let rule: AddressRule = rule.parse().expect("a loopback rule");
            policy = policy.allow_bind(rule).allow_peer(rule);
        }
        policy
    }

    /// Also allows binding to, and listening on, the addresses of `rule`
    /// (`--allow-bind`).
    pub fn allow_bind(mut self, rule: AddressRule) -> Policy {
        self.bind.push(rule);
        self
    }

    /// Also allows talking to the addresses of `rule` (`--allow-connect`):
    /// connecting stream sockets, sending datagrams to and receiving them
    /// from them, and the bind a client of that family makes first (its
    /// unspecified address, port 0).
    pub fn allow_connect(self, rule: AddressRule) -> Policy {
        self.allow_tcp_connect(rule)
            .allow_udp_peer(rule)
            .allow_client_bind(rule.is_ipv4())
    }

    /// Also allows connecting stream sockets to the addresses of `rule`.
    pub fn allow_tcp_connect(mut self, rule: AddressRule) -> Policy {
        self.connect.push(rule);
        self
    }

    /// Also allows accepting connections from peers in `rule`. Until the
    /// first accept rule every peer is accepted; from it on, only those
    /// the accept rules name.
    pub fn allow_accept(mut self, rule: AddressRule) -> Policy {
        self.accept.get_or_insert_with(Vec::new).push(rule);
        self
    }

    /// Accepts no peer at all, until an accept rule names some.
    pub fn accept_no_peer(mut self) -> Policy {
        self.accept = Some(Vec::new());
        self
    }

    /// Also allows sending datagrams to the addresses of `rule`.
    pub fn allow_udp_send(mut self, rule: AddressRule) -> Policy {
        self.send.push(rule);
        self
    }

    /// Also allows receiving datagrams from the addresses of `rule`.
    pub fn allow_udp_receive(mut self, rule: AddressRule) -> Policy {
        self.receive.push(rule);
        self
    }

    /// Sending datagrams to, and receiving them from, `rule`.
    pub fn allow_udp_peer(self, rule: AddressRule) -> Policy {
        self.allow_udp_send(rule).allow_udp_receive(rule)
    }

    /// Every use but binding: connecting, accepting, sending and receiving
    /// datagrams.
    pub fn allow_peer(self, rule: AddressRule) -> Policy {
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
    /// [`allow_shared_unix_dir`](Policy::allow_shared_unix_dir)); on
    /// systems without `/proc/self/fd`, where paths cannot be pinned.
    pub fn allow_unix_dir(self, dir: impl AsRef<Path>) -> std::io::Result<Policy> {
        self.grant_unix_dir(dir.as_ref(), false)
    }

    /// Grants Unix socket paths inside `dir` like
    /// [`allow_unix_dir`](Policy::allow_unix_dir), even when it is
    /// world-writable.
    ///
    /// # Errors
    /// As for `allow_unix_dir`, but for being world-writable.
    pub fn allow_shared_unix_dir(self, dir: impl AsRef<Path>) -> std::io::Result<Policy> {
        self.grant_unix_dir(dir.as_ref(), true)
    }

    fn grant_unix_dir(mut self, dir: &Path, shared: bool) -> std::io::Result<Policy> {
        self.unix_dirs.push(GrantedDir::open(dir, shared)?);
        Ok(self)
    }

    /// Grants Linux abstract Unix names that start with `prefix` (the
    /// empty prefix grants every name, and the unnamed bind that picks
    /// one). Turns Unix sockets on.
    pub fn allow_abstract_prefix(mut self, prefix: impl Into<Vec<u8>>) -> Policy {
        self.abstract_prefixes.push(prefix.into());
        self
    }

    /// Allows or denies `socket-pair` (connected pairs touch no name).
    /// Turns Unix sockets on when allowed.
    pub fn allow_socket_pairs(mut self, allow: bool) -> Policy {
        self.socket_pairs = allow;
        self
    }

    /// Allows or denies name lookup (`resolve`, and wasi:sockets'
    /// `ip-name-lookup`).
    pub fn allow_name_lookup(mut self, allow: bool) -> Policy {
        self.name_lookup = allow;
        self
    }

    /// Allows or denies joining multicast groups.
    pub fn allow_multicast(mut self, allow: bool) -> Policy {
        self.multicast = allow;
        self
    }

    /// Allows or denies sharing ports the guest does not hold through
    /// `reuse-port` (and `reuse-address` on datagram sockets).
    pub fn allow_shared_ports(mut self, allow: bool) -> Policy {
        self.shared_ports = allow;
        self
    }

    /// Allows linger times up to `max` (zero, the default, allows only an
    /// abortive close).
    pub fn allow_linger(mut self, max: Duration) -> Policy {
        self.max_linger = max;
        self
    }

    /// Sets the quotas.
    pub fn with_limits(mut self, limits: Limits) -> Policy {
        self.limits = limits;
        self
    }

    /// The quotas.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the guest may create TCP and UDP sockets: some address rule
    /// exists.
    pub fn allows_ip_sockets(&self) -> bool {
        let accept = self.accept.as_deref().unwrap_or_default();
        [&self.bind, &self.connect, accept, &self.send, &self.receive]
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
    pub fn allow_lookup_of(mut self, name: &str) -> Policy {
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

    /// Lets the guest bind the unspecified address of a family on port 0,
    /// as a client does before it connects or sends.
    pub fn allow_client_bind(self, ipv4: bool) -> Policy {
        let rule = AddressRule::client_bind(ipv4);
        if self.bind.contains(&rule) {
            self
        } else {
            self.allow_bind(rule)
        }
    }

    /// Turns TCP (`stream`) or UDP off whatever the rules say, as
    /// wasmtime's `-S tcp=n` and `-S udp=n` do.
    pub fn allow_protocol(mut self, stream: bool, allow: bool) -> Policy {
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
        .map(|&use_| {
            let rules = match use_ {
                AddressUse::Accept if self.accept.is_none() => "any peer".to_string(),
                _ => list(self.rules(use_)),
            };
            format!("{} rules: {rules}", use_.list_name())
        })
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
            AddressUse::Accept => self.accept.as_deref().unwrap_or(&ANY_PEER),
            AddressUse::Send => &self.send,
            AddressUse::Receive => &self.receive,
        }
    }

    /// Whether every sender of the family of `addr` is allowed, so that
    /// receives need not look at senders.
    pub(crate) fn receives_from_anyone(&self, ipv4: bool) -> bool {
        self.receive
            .iter()
            .any(|rule| rule.is_ipv4() == ipv4 && rule.is_everything())
    }

    /// Whether the abstract name `name` is granted.
    pub(crate) fn permits_abstract(&self, name: &[u8]) -> bool {
        self.abstract_prefixes
            .iter()
            .any(|prefix| name.starts_with(prefix))
    }

    /// Configures `builder` to enforce this policy where wasmtime-wasi
    /// serves wasi:sockets: TCP and UDP on when some address rule exists
    /// (and the protocol is not turned off), name lookup, and each address
    /// checked against its list as the [module docs](self) say (the host
    /// counts wasmtime-wasi's sockets against the quota itself).
    pub fn apply(&self, builder: &mut WasiCtxBuilder) {
        let sockets = self.allows_ip_sockets();
        builder
            .allow_tcp(sockets && self.allows_protocol(true))
            .allow_udp(sockets && self.allows_protocol(false))
            .allow_ip_name_lookup(self.name_lookup);
        let policy = self.clone();
        builder.socket_addr_check(move |addr, use_| {
            Box::pin(std::future::ready(policy.permits_wasi(addr, use_)))
        });
    }

    /// Whether wasmtime-wasi may use `addr` for `use_`. It asks about the
    /// implicit bind of a connect or first send too (the unspecified
    /// address, port 0), which witsock's layer leaves to the kernel: that
    /// bind is allowed wherever the guest may connect or send in its
    /// family.
    fn permits_wasi(&self, addr: SocketAddr, use_: SocketAddrUse) -> bool {
        let implicit_bind = addr.ip().is_unspecified() && addr.port() == 0;
        let of_family = |rules: &[AddressRule]| rules.iter().any(|r| r.is_ipv4() == addr.is_ipv4());
        match use_ {
            SocketAddrUse::TcpBind if implicit_bind && of_family(&self.connect) => return true,
            SocketAddrUse::UdpBind if implicit_bind && of_family(&self.send) => return true,
            _ => {}
        }
        let use_ = match use_ {
            SocketAddrUse::TcpBind | SocketAddrUse::UdpBind | SocketAddrUse::TcpListen => {
                AddressUse::Bind
            }
            SocketAddrUse::TcpAccept => AddressUse::Accept,
            SocketAddrUse::TcpConnect => AddressUse::Connect,
            SocketAddrUse::UdpSend => AddressUse::Send,
            SocketAddrUse::UdpReceive => AddressUse::Receive,
        };
        self.permits(addr, use_)
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
        let policy = Policy::deny_all();
        for use_ in [
            AddressUse::Bind,
            AddressUse::Connect,
            AddressUse::Send,
            AddressUse::Receive,
        ] {
            assert!(!policy.permits(addr("127.0.0.1:80"), use_), "{use_:?}");
        }
        assert!(!policy.allows_ip_sockets());
        assert!(!policy.allows_unix_sockets());
        assert!(!policy.allows_name_lookup());
        assert!(!policy.allows_multicast());
        assert_eq!(policy.max_linger(), Duration::ZERO);
        for use_ in [
            SocketAddrUse::TcpBind,
            SocketAddrUse::TcpListen,
            SocketAddrUse::TcpConnect,
            SocketAddrUse::UdpBind,
            SocketAddrUse::UdpSend,
            SocketAddrUse::UdpReceive,
        ] {
            assert!(!policy.permits_wasi(addr("127.0.0.1:80"), use_), "{use_:?}");
            assert!(!policy.permits_wasi(addr("0.0.0.0:0"), use_), "{use_:?}");
        }
    }

    #[test]
    fn each_list_allows_its_own_use_only() {
        let policy = Policy::deny_all()
            .allow_bind(rule("127.0.0.1:8000-8100"))
            .allow_tcp_connect(rule("10.0.0.0/8:443"));
        assert!(policy.permits(addr("127.0.0.1:8050"), AddressUse::Bind));
        assert!(!policy.permits(addr("127.0.0.1:8101"), AddressUse::Bind));
        assert!(!policy.permits(addr("127.0.0.1:8050"), AddressUse::Connect));
        assert!(policy.permits(addr("10.2.3.4:443"), AddressUse::Connect));
        assert!(!policy.permits(addr("10.2.3.4:443"), AddressUse::Send));
        assert!(!policy.permits(addr("10.2.3.4:443"), AddressUse::Receive));
        assert!(!policy.permits(addr("0.0.0.0:0"), AddressUse::Bind));
    }

    #[test]
    fn connect_is_talking_to_the_rule_with_the_client_bind_of_its_family() {
        let policy = Policy::deny_all().allow_connect(rule("127.0.0.1:9000"));
        assert!(policy.allows_ip_sockets());
        for use_ in [AddressUse::Connect, AddressUse::Send, AddressUse::Receive] {
            assert!(policy.permits(addr("127.0.0.1:9000"), use_), "{use_:?}");
            assert!(!policy.permits(addr("127.0.0.1:9001"), use_), "{use_:?}");
        }
        assert!(policy.permits(addr("0.0.0.0:0"), AddressUse::Bind));
        assert!(!policy.permits(addr("0.0.0.0:80"), AddressUse::Bind));
        assert!(!policy.permits(addr("[::]:0"), AddressUse::Bind));
        assert!(!policy.permits(addr("127.0.0.1:0"), AddressUse::Bind));
        // Bound implicitly, the socket still may not listen on its port.
        assert!(!policy.permits_wasi(addr("0.0.0.0:41000"), SocketAddrUse::TcpListen));
        assert!(policy.permits_wasi(addr("0.0.0.0:0"), SocketAddrUse::TcpBind));
        assert!(policy.permits_wasi(addr("127.0.0.1:9000"), SocketAddrUse::UdpSend));
    }

    #[test]
    fn wasmtime_wasis_implicit_binds_follow_the_connect_and_send_rules() {
        let tcp = Policy::deny_all().allow_tcp_connect(rule("127.0.0.1:80"));
        assert!(tcp.permits_wasi(addr("0.0.0.0:0"), SocketAddrUse::TcpBind));
        assert!(!tcp.permits_wasi(addr("[::]:0"), SocketAddrUse::TcpBind));
        assert!(!tcp.permits_wasi(addr("0.0.0.0:0"), SocketAddrUse::UdpBind));
        assert!(!tcp.permits_wasi(addr("0.0.0.0:80"), SocketAddrUse::TcpBind));
        let udp = Policy::deny_all().allow_udp_send(rule("[::1]:53"));
        assert!(udp.permits_wasi(addr("[::]:0"), SocketAddrUse::UdpBind));
        assert!(!udp.permits_wasi(addr("[::]:0"), SocketAddrUse::TcpBind));
    }

    #[test]
    fn listeners_accept_any_peer_until_an_accept_rule() {
        let server = Policy::deny_all().allow_bind(rule("0.0.0.0:8080"));
        assert!(server.permits(addr("192.0.2.1:5000"), AddressUse::Accept));
        assert!(server.permits(addr("[2001:db8::1]:5000"), AddressUse::Accept));
        assert!(server.permits_wasi(addr("192.0.2.1:5000"), SocketAddrUse::TcpAccept));
        let narrowed = server.clone().allow_accept(rule("127.0.0.1:*"));
        assert!(narrowed.permits(addr("127.0.0.1:5000"), AddressUse::Accept));
        assert!(!narrowed.permits(addr("192.0.2.1:5000"), AddressUse::Accept));
        assert!(!narrowed.permits_wasi(addr("192.0.2.1:5000"), SocketAddrUse::TcpAccept));
        let closed = server.accept_no_peer();
        assert!(!closed.permits(addr("127.0.0.1:5000"), AddressUse::Accept));
        // Accepting grants no socket by itself.
        assert!(!Policy::deny_all().allows_ip_sockets());
    }

    #[test]
    fn the_loopback_policy_covers_both_loopbacks_for_every_use() {
        let policy = Policy::loopback();
        for a in ["127.0.0.1:0", "127.3.2.1:65535", "[::1]:0", "[::1]:443"] {
            for use_ in [
                AddressUse::Bind,
                AddressUse::Connect,
                AddressUse::Accept,
                AddressUse::Send,
                AddressUse::Receive,
            ] {
                assert!(policy.permits(addr(a), use_), "{a} {use_:?}");
            }
        }
        for a in ["10.0.0.1:80", "[::2]:80", "[fe80::1]:80", "192.168.1.1:0"] {
            assert!(!policy.permits(addr(a), AddressUse::Connect), "{a}");
            assert!(!policy.permits(addr(a), AddressUse::Bind), "{a}");
            assert!(!policy.permits(addr(a), AddressUse::Accept), "{a}");
        }
        assert!(!policy.allows_name_lookup());
    }

    #[test]
    fn receiving_from_anyone_needs_a_rule_for_the_whole_family() {
        let narrow = Policy::loopback();
        assert!(!narrow.receives_from_anyone(true));
        let wide = narrow.allow_udp_receive(rule("0.0.0.0/0:*"));
        assert!(wide.receives_from_anyone(true));
        assert!(!wide.receives_from_anyone(false));
    }

    #[test]
    fn abstract_names_need_a_granted_prefix() {
        let policy = Policy::deny_all().allow_abstract_prefix("app-");
        assert!(policy.allows_unix_sockets());
        assert!(policy.permits_abstract(b"app-1"));
        assert!(!policy.permits_abstract(b"other"));
        assert!(!policy.permits_abstract(b""));
        assert!(Policy::deny_all()
            .allow_abstract_prefix("")
            .permits_abstract(b""));
    }
}
