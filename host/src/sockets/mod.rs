//! The host's socket layer: a guest's sockets under its [`Policy`],
//! with the quotas, the ports it holds and the senders it may hear from.
//! Both interfaces a guest can import are thin adapters over it: the
//! witsock imports ([`crate::imports`]) and wasi:sockets ([`crate::p2`]).
//!
//! It knows nothing of either WIT. It works on witsock's own types
//! ([`SockAddr`], [`witsock::Error`]) and calls only witsock's portable
//! API; every refusal of the policy is a [`witsock::Error`] without a
//! native code, after a [`Denial`] went to the context's hook.

pub(crate) mod resource;
pub(crate) mod unix_path;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use witsock::{
    Domain, ErrorCode, Operation, OptionName, Protocol, RecvFlags, SockAddr, Socket, SocketOption,
    Type,
};

use self::resource::{PortKey, SocketResource};
use self::unix_path::{ConfinedPath, PathRefusal, PathUse, UnixBinding};
use crate::denial::{Denial, DenialHook, DeniedOperation, Grant};
use crate::policy::{AddressUse, Policy};

/// A guest's socket state: its policy and what the quotas count. One per
/// store, for both interfaces.
pub struct WitsockCtx {
    pub(crate) gate: Arc<Gate>,
    open_sockets: usize,
    /// Sockets the guest dropped that are still closing on a blocking
    /// thread (a linger time): open on the host, so counted in the quota.
    lingering: Arc<AtomicUsize>,
    /// Ports held by the guest's explicitly bound sockets, with how many
    /// sockets hold each.
    ports: HashMap<PortKey, usize>,
    /// The buffer receives land in, reused from call to call so that a
    /// receive that would block allocates nothing.
    spare: Vec<u8>,
    /// Name lookups running at once: each holds a blocking thread.
    pub(crate) lookups: Arc<tokio::sync::Semaphore>,
}

/// The most name lookups one guest runs at once; the rest wait for a turn
/// without holding a thread.
pub(crate) const MAX_CONCURRENT_LOOKUPS: usize = 4;

/// The policy and who hears of its refusals: what a check needs, shared
/// with calls that let go of the context while they hold the guest's
/// memory.
#[derive(Clone)]
pub(crate) struct Gate {
    pub(crate) policy: Policy,
    on_denial: Option<DenialHook>,
}

impl WitsockCtx {
    /// A context enforcing `policy`.
    pub fn new(policy: Policy) -> WitsockCtx {
        WitsockCtx {
            gate: Arc::new(Gate {
                policy,
                on_denial: None,
            }),
            open_sockets: 0,
            lingering: Arc::default(),
            ports: HashMap::new(),
            spare: Vec::new(),
            lookups: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_LOOKUPS)),
        }
    }

    /// Calls `hook` with every refusal of the policy, as it happens.
    #[must_use]
    pub fn on_denial(mut self, hook: DenialHook) -> WitsockCtx {
        Arc::make_mut(&mut self.gate).on_denial = Some(hook);
        self
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.gate.policy
    }

    /// How many sockets the guest holds open, on both interfaces, with
    /// those it dropped that are still lingering in their close.
    pub fn open_sockets(&self) -> usize {
        self.open_sockets + self.lingering.load(Ordering::Relaxed)
    }

    /// The spare buffer with at least `len` initialised bytes.
    pub(crate) fn spare(&mut self, len: usize) -> &mut [u8] {
        if self.spare.len() < len {
            self.spare.resize(len, 0);
        }
        &mut self.spare[..len]
    }

    /// Whether `more` sockets fit the quota; reports it when not.
    pub(crate) fn check_room(&self, more: usize, op: Operation) -> witsock::Result<()> {
        let max = self.gate.policy.limits().max_sockets;
        let held = self.open_sockets();
        if held + more <= max {
            return Ok(());
        }
        Err(self.gate.deny(
            ErrorCode::TooManySockets,
            op,
            Denial {
                operation: DeniedOperation::Quota,
                target: "a new socket".to_string(),
                reason: format!(
                    "too many sockets: the guest holds {held}, the most it may (--max-sockets {max})"
                ),
                grant: Some(Grant::MaxSockets(max)),
            },
        ))
    }

    /// Counts a socket the adapter is about to hand out.
    pub(crate) fn count(&mut self, resource: SocketResource) -> SocketResource {
        self.open_sockets += 1;
        resource
    }

    /// Forgets a counted socket the table had no room for.
    pub(crate) fn forget_unpushed(&mut self) {
        self.open_sockets = self.open_sockets.saturating_sub(1);
    }

    /// Forgets a socket the guest dropped (or one never handed out): it no
    /// longer counts and its port is released.
    pub(crate) fn forget(&mut self, resource: &SocketResource) {
        self.open_sockets = self.open_sockets.saturating_sub(1);
        if let Some(key) = resource.claimed_port {
            if let Some(count) = self.ports.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    self.ports.remove(&key);
                }
            }
        }
    }

    /// Whether the policy lets the guest have sockets of `domain`; reports
    /// it when not.
    pub(crate) fn check_domain(&self, domain: Domain) -> witsock::Result<()> {
        if domain == Domain::Unix && !self.gate.policy.allows_unix_sockets() {
            return Err(self.gate.deny(
                ErrorCode::AccessDenied,
                Operation::Create,
                Denial {
                    operation: DeniedOperation::Create,
                    target: "a Unix socket".to_string(),
                    reason: "no Unix socket directory, abstract prefix or socket pairs granted"
                        .to_string(),
                    grant: Some(Grant::UnixSockets),
                },
            ));
        }
        // No IP rule at all: no TCP or UDP socket (at the same step,
        // creation, on both interfaces).
        if domain != Domain::Unix && !self.gate.policy.allows_ip_sockets() {
            return Err(self.gate.deny(
                ErrorCode::AccessDenied,
                Operation::Create,
                Denial {
                    operation: DeniedOperation::Create,
                    target: if domain == Domain::Ipv6 {
                        "an IPv6 socket"
                    } else {
                        "an IPv4 socket"
                    }
                    .to_string(),
                    reason: "the policy has no address rule, so no TCP or UDP".to_string(),
                    grant: Some(Grant::AnyIpRule),
                },
            ));
        }
        Ok(())
    }

    /// A new socket, counted.
    pub(crate) fn create(
        &mut self,
        domain: Domain,
        ty: Type,
        protocol: Option<Protocol>,
        nonblocking: bool,
    ) -> witsock::Result<SocketResource> {
        self.check_domain(domain)?;
        if domain != Domain::Unix && matches!(ty, Type::Stream | Type::Datagram) {
            let stream = ty == Type::Stream;
            if !self.gate.policy.allows_protocol(stream) {
                let name = if stream { "tcp" } else { "udp" };
                return Err(self.gate.deny(
                    ErrorCode::AccessDenied,
                    Operation::Create,
                    Denial {
                        operation: DeniedOperation::Create,
                        target: format!("a {} socket", name.to_uppercase()),
                        reason: format!("{} sockets are turned off", name.to_uppercase()),
                        grant: Some(Grant::Protocol(stream)),
                    },
                ));
            }
        }
        // An IP seq-packet socket is SCTP where the kernel has it: a
        // protocol the policy has no rules for (its associations would
        // arrive unfiltered).
        if domain != Domain::Unix && ty == Type::SeqPacket {
            return Err(witsock::Error::new(ErrorCode::ProtocolNotSupported));
        }
        self.check_room(1, Operation::Create)?;
        let socket = Socket::new_nonblocking(domain, ty, protocol)?;
        Ok(self.count(SocketResource::new(socket, domain, ty, false, !nonblocking)))
    }

    /// A connected pair of Unix sockets, counted.
    pub(crate) fn socket_pair(
        &mut self,
        ty: Type,
        nonblocking: bool,
    ) -> witsock::Result<(SocketResource, SocketResource)> {
        if !self.gate.policy.allows_socket_pairs() {
            return Err(self.gate.deny(
                ErrorCode::AccessDenied,
                Operation::Create,
                Denial {
                    operation: DeniedOperation::Create,
                    target: "a socket pair".to_string(),
                    reason: "socket pairs are not granted".to_string(),
                    grant: Some(Grant::SocketPairs),
                },
            ));
        }
        self.check_room(2, Operation::Create)?;
        let (a, b) = Socket::pair(ty, true)?;
        let a = self.count(SocketResource::new(a, Domain::Unix, ty, true, !nonblocking));
        let b = self.count(SocketResource::new(b, Domain::Unix, ty, true, !nonblocking));
        Ok((a, b))
    }

    /// Binds `resource` to `addr` once the policy allows it.
    pub(crate) fn bind(
        &mut self,
        resource: &mut SocketResource,
        target: Target<'_>,
    ) -> witsock::Result<()> {
        let checked = self.gate.checked_address(target, AddressUse::Bind)?;
        if let Some(ip) = checked.addr.as_socket() {
            self.gate.check_bind(resource, ip, Operation::Bind)?;
        }
        self.bind_checked(resource, checked)
    }

    /// Binds to an address the policy allowed, keeping a port the guest
    /// does not hold from being shared: a sharing bind goes ahead only onto
    /// exactly the address and port a socket of the guest is bound to.
    fn bind_checked(
        &mut self,
        resource: &mut SocketResource,
        checked: CheckedAddress,
    ) -> witsock::Result<()> {
        let stream = resource.ty != Type::Datagram;
        let ip = checked.addr.as_socket();
        let held = ip
            .is_some_and(|ip| ip.port() != 0 && self.ports.contains_key(&PortKey::new(stream, ip)));
        if ip.is_some() && resource.shares_ports && !held && !self.gate.policy.allows_shared_ports()
        {
            bind_unshared(resource.socket(), resource.ty, &checked.addr)?;
        } else {
            resource.socket().bind(&checked.addr)?;
        }
        let local = ip.and_then(|_| resource.socket().local_addr().ok()?.as_socket());
        resource.bound = true;
        if let Some(confined) = checked.confined {
            resource.unix_binding = Some(Arc::new(UnixBinding::register(confined)));
        }
        if let (Some(local), None) = (local, resource.claimed_port) {
            let key = PortKey::new(stream, local);
            resource.claimed_port = Some(key);
            *self.ports.entry(key).or_insert(0) += 1;
        }
        Ok(())
    }

    /// Before a listen, connect or send that would bind an unbound IP
    /// socket implicitly: listening needs the unspecified address to be
    /// allowed; a socket with a sharing option gets an explicit, unshared
    /// bind (an implicit one could join a port another process shares).
    pub(crate) fn settle_implicit_bind(
        &mut self,
        resource: &mut SocketResource,
        for_listen: bool,
    ) -> witsock::Result<()> {
        if resource.bound || resource.domain == Domain::Unix {
            return Ok(());
        }
        if !for_listen && !resource.shares_ports {
            return Ok(());
        }
        if resource.socket().local_addr().is_ok() {
            resource.bound = true;
            return Ok(());
        }
        let any = unspecified(resource.domain);
        if for_listen {
            self.gate.check_bind(resource, any, Operation::Listen)?;
        }
        self.bind_checked(resource, SockAddr::from(any).into())
    }

    /// The backlog a listen gets: the guest's, clamped to the quota as the
    /// kernel clamps it to `somaxconn`.
    pub(crate) fn backlog(&self, backlog: u32) -> u32 {
        backlog.min(self.gate.policy.limits().max_backlog)
    }

    /// Listens once the address the socket is bound to, with the port it
    /// actually has, is allowed: a rule for port 0 lets a socket bind to a
    /// port the system picks, not listen on it (as on wasi:sockets).
    pub(crate) fn listen(
        &mut self,
        resource: &mut SocketResource,
        backlog: u32,
    ) -> witsock::Result<()> {
        let backlog = self.backlog(backlog);
        if resource.ty == Type::Datagram {
            // Before any implicit bind: the kernel's own answer.
            return resource.socket().listen(backlog);
        }
        self.check_listen(resource)?;
        resource.socket().listen(backlog)
    }

    /// The policy's part of a listen: the implicit bind, then the address
    /// the socket really has.
    pub(crate) fn check_listen(&mut self, resource: &mut SocketResource) -> witsock::Result<()> {
        self.settle_implicit_bind(resource, true)?;
        if resource.domain != Domain::Unix {
            // The port the socket really has; no address, no listen.
            let local = resource.socket().local_addr()?;
            match local.as_socket() {
                Some(ip) => self.gate.check_bind(resource, ip, Operation::Listen)?,
                None => {
                    return Err(
                        witsock::Error::new(ErrorCode::AccessDenied).during(Operation::Listen)
                    )
                }
            }
        }
        Ok(())
    }

    /// A connection a peer the policy allows made, counted; the others are
    /// closed unseen. `None` when none is waiting.
    pub(crate) fn try_accept(
        &mut self,
        listener: &SocketResource,
    ) -> witsock::Result<Option<(SocketResource, SockAddr)>> {
        self.check_room(1, Operation::Accept)?;
        for _ in 0..MAX_REFUSED_PER_CALL {
            let Some((socket, peer)) = listener.socket().try_accept()? else {
                return Ok(None);
            };
            if let Some(ip) = peer.as_socket() {
                if !self.gate.policy.permits(ip, AddressUse::Accept) {
                    // Closed unseen; another connection may be waiting.
                    self.gate.report_refused_peer(AddressUse::Accept, ip);
                    drop(socket);
                    continue;
                }
            }
            // Non-blocking, whatever the listener's mode (the WIT's
            // try-accept).
            let mut accepted =
                SocketResource::new(socket, listener.domain, listener.ty, true, false);
            // The accepted socket's local name is the listener's.
            accepted.unix_binding = listener.unix_binding.clone();
            // The kernel copies the listener's linger time to the socket.
            let lingers = listener.shared.lingers();
            accepted
                .shared
                .set_lingers(lingers.then(|| self.lingering.clone()));
            return Ok(Some((self.count(accepted), peer)));
        }
        // A flood of refused peers: the guest's call returns, as if none
        // waited; the next call goes on.
        Err(refused_flood(Operation::Accept))
    }

    /// The use a destination of `resource` is checked for.
    fn destination_use(resource: &SocketResource) -> AddressUse {
        if resource.ty == Type::Datagram {
            AddressUse::Send
        } else {
            AddressUse::Connect
        }
    }

    /// Checks a destination (to connect or send to) and settles the
    /// socket's implicit bind.
    pub(crate) fn check_destination(
        &mut self,
        resource: &mut SocketResource,
        target: Target<'_>,
    ) -> witsock::Result<CheckedAddress> {
        let checked = self
            .gate
            .checked_address(target, Self::destination_use(resource))?;
        self.settle_implicit_bind(resource, false)?;
        Ok(checked)
    }

    /// Starts connecting once the policy allows the peer: true when it
    /// connected at once.
    pub(crate) fn start_connect(
        &mut self,
        resource: &mut SocketResource,
        target: Target<'_>,
    ) -> witsock::Result<bool> {
        let checked = self.check_destination(resource, target)?;
        let connected = resource.socket().start_connect(&checked.addr)?;
        resource.bound = true;
        Ok(connected)
    }

    /// `invalid-argument` unless `len` bytes fit the per-call quota.
    pub(crate) fn check_buffered(&self, len: Option<usize>) -> witsock::Result<usize> {
        let max = self.gate.policy.limits().max_bytes_per_call;
        match len {
            Some(len) if len <= max => Ok(len),
            _ => Err(self.gate.deny(
                ErrorCode::InvalidArgument,
                Operation::Receive,
                Denial {
                    operation: DeniedOperation::Quota,
                    target: "a receive".to_string(),
                    reason: format!(
                        "a receive of more than {max} bytes in one call (the per-call limit)"
                    ),
                    grant: Some(Grant::MaxBytesPerCall(max)),
                },
            )),
        }
    }

    /// Whether receives on this socket must look at each sender.
    pub(crate) fn filters_senders(&self, resource: &SocketResource) -> bool {
        self.filters_senders_of(resource.domain, resource.ty)
    }

    /// Whether receives on a socket of `domain` and `ty` must look at each
    /// sender: IP datagram sockets only, and an IPv6 one may be dual-stack
    /// and receive from IPv4 senders too, so it skips the check only when
    /// both families may send to it.
    pub(crate) fn filters_senders_of(&self, domain: Domain, ty: Type) -> bool {
        let policy = &self.gate.policy;
        ty == Type::Datagram
            && domain != Domain::Unix
            && !(policy.receives_from_anyone(true)
                && (domain == Domain::Ipv4 || policy.receives_from_anyone(false)))
    }

    /// One datagram (or stream read) of at most `len` bytes from a sender
    /// the policy allows, in the spare buffer; datagrams from the others
    /// are consumed and dropped unseen. Returns the length, the sender and
    /// whether it was truncated.
    pub(crate) fn receive_from(
        &mut self,
        resource: &SocketResource,
        len: usize,
        flags: RecvFlags,
    ) -> witsock::Result<(usize, SockAddr, bool)> {
        let filter = self.filters_senders(resource);
        self.receive_on(resource.socket(), filter, len, flags)
    }

    /// [`receive_from`](WitsockCtx::receive_from) on `socket`, looking at
    /// each sender if `filter`.
    pub(crate) fn receive_on(
        &mut self,
        socket: &Socket,
        filter: bool,
        len: usize,
        flags: RecvFlags,
    ) -> witsock::Result<(usize, SockAddr, bool)> {
        for _ in 0..MAX_REFUSED_PER_CALL {
            let buf = self.spare(len);
            let meta = socket.recv_from(buf, flags)?;
            if !filter || self.gate.admits_sender(&meta.addr) {
                return Ok((meta.len, meta.addr, meta.truncated));
            }
            if flags.is_peek() {
                // Peeked: take it off the queue before looking further.
                socket.recv_from(&mut [], RecvFlags::EMPTY)?;
            }
        }
        Err(refused_flood(Operation::Receive))
    }

    /// Takes datagrams from senders the policy refuses off the head of the
    /// queue, so that the next receive gets an allowed one (or would
    /// block).
    pub(crate) fn skip_refused_senders(&self, resource: &SocketResource) -> witsock::Result<()> {
        if !self.filters_senders(resource) {
            return Ok(());
        }
        for _ in 0..MAX_REFUSED_PER_CALL {
            let meta = resource.socket().recv_from(&mut [], RecvFlags::PEEK)?;
            if self.gate.admits_sender(&meta.addr) {
                return Ok(());
            }
            resource.socket().recv_from(&mut [], RecvFlags::EMPTY)?;
        }
        Err(refused_flood(Operation::Receive))
    }

    /// Sets an option once the policy allows it.
    pub(crate) fn set_option(
        &self,
        resource: &mut SocketResource,
        option: SocketOption,
    ) -> witsock::Result<()> {
        // A bad value is `invalid-argument` whatever the policy says.
        option.validate()?;
        let policy = &self.gate.policy;
        let op = Operation::SetOption(option.name());
        match option {
            SocketOption::Linger(Some(time)) if time > policy.max_linger() => {
                return Err(self.gate.deny(
                    ErrorCode::AccessDenied,
                    op,
                    Denial {
                        operation: DeniedOperation::SetOption,
                        target: "linger".to_string(),
                        reason: format!(
                            "a linger time of {time:?}, longer than the {:?} allowed",
                            policy.max_linger()
                        ),
                        grant: Some(Grant::Linger(time)),
                    },
                ));
            }
            SocketOption::JoinMulticastV4 { .. } | SocketOption::JoinMulticastV6 { .. }
                if !policy.allows_multicast() =>
            {
                return Err(self.gate.deny(
                    ErrorCode::AccessDenied,
                    op,
                    Denial {
                        operation: DeniedOperation::SetOption,
                        target: "multicast".to_string(),
                        reason: "joining multicast groups is not granted".to_string(),
                        grant: Some(Grant::Multicast),
                    },
                ));
            }
            _ => {}
        }
        resource.socket().set_option(option)?;
        if let SocketOption::Linger(linger) = option {
            let lingers = linger.is_some_and(|time| !time.is_zero());
            resource
                .shared
                .set_lingers(lingers.then(|| self.lingering.clone()));
        }
        if matches!(
            option,
            SocketOption::ReusePort(_) | SocketOption::ReuseAddress(_)
        ) {
            resource.shares_ports = sharing_options(resource.socket(), resource.ty)
                .iter()
                .any(|&(_, on)| on);
        }
        Ok(())
    }

    /// Whether the policy allows name lookup; reports it when not.
    pub(crate) fn check_lookup(&self, name: &str) -> witsock::Result<()> {
        if self.gate.policy.allows_lookup_of(name) {
            return Ok(());
        }
        Err(self.gate.deny(
            ErrorCode::AccessDenied,
            Operation::Resolve,
            Denial {
                operation: DeniedOperation::Lookup,
                target: name.to_string(),
                reason: "name lookup is not granted".to_string(),
                grant: Some(Grant::NameLookup),
            },
        ))
    }
}

impl Gate {
    /// Reports `denial` and returns the guest's error for it: `code`
    /// without a native code.
    pub(crate) fn deny(&self, code: ErrorCode, op: Operation, denial: Denial) -> witsock::Error {
        if let Some(hook) = &self.on_denial {
            hook.call(&denial);
        }
        witsock::Error::new(code).during(op)
    }

    /// Reports a refused use of an IP address.
    fn deny_address(&self, op: Operation, use_: AddressUse, addr: SocketAddr) -> witsock::Error {
        let operation = match op {
            Operation::Listen => DeniedOperation::Listen,
            Operation::Connect => DeniedOperation::Connect,
            Operation::Send => DeniedOperation::Send,
            Operation::Accept => DeniedOperation::Accept,
            Operation::Receive => DeniedOperation::Receive,
            _ => DeniedOperation::Bind,
        };
        let denial = Denial::address(operation, use_, addr, self.policy.rules(use_));
        self.deny(ErrorCode::AccessDenied, op, denial)
    }

    /// Reports a datagram or connection from a peer the policy refuses;
    /// the caller drops it unseen.
    fn report_refused_peer(&self, use_: AddressUse, addr: SocketAddr) {
        if self.on_denial.is_none() {
            // Nobody listens: a flood of refused peers costs no formatting.
            return;
        }
        let op = if use_ == AddressUse::Accept {
            Operation::Accept
        } else {
            Operation::Receive
        };
        let _ = self.deny_address(op, use_, addr);
    }

    /// The address to use for a Unix name.
    fn unix_address(&self, target: Target<'_>, use_: PathUse) -> witsock::Result<CheckedAddress> {
        let op = if use_ == PathUse::Create {
            Operation::Bind
        } else {
            Operation::Connect
        };
        let path = match target {
            Target::Ip(ip) => return Ok(SockAddr::from(ip).into()),
            Target::Abstract(name) if self.policy.permits_abstract(name) => {
                return Ok(SockAddr::unix_abstract(name)?.into());
            }
            Target::Abstract(name) => {
                return Err(self.deny(
                    ErrorCode::AccessDenied,
                    op,
                    Denial {
                        operation: DeniedOperation::UnixPath,
                        target: format!("@{}", String::from_utf8_lossy(name)),
                        reason: "no granted abstract-name prefix matches".to_string(),
                        grant: Some(Grant::UnixSockets),
                    },
                ));
            }
            Target::Path(path) => path,
        };
        match self.policy.confine(path, use_) {
            Ok(confined) => Ok(CheckedAddress {
                addr: SockAddr::unix(OsStr::from_bytes(&confined.kernel_name))?,
                confined: Some(confined),
            }),
            Err(PathRefusal::Denied) => Err(self.deny(
                ErrorCode::AccessDenied,
                op,
                Denial {
                    operation: DeniedOperation::UnixPath,
                    target: path.display().to_string(),
                    reason: "not beneath a granted directory (or it goes through a symlink or ..)"
                        .to_string(),
                    grant: path.parent().map(|dir| Grant::UnixDir(dir.to_path_buf())),
                },
            )),
            // What the kernel answers for a name that is not there.
            Err(PathRefusal::Missing) if use_ == PathUse::Existing => {
                Err(witsock::Error::new(ErrorCode::ConnectionRefused).during(op))
            }
            Err(PathRefusal::Missing) => {
                Err(witsock::Error::new(ErrorCode::AddressNotAvailable).during(op))
            }
            Err(PathRefusal::Invalid) => {
                Err(witsock::Error::new(ErrorCode::InvalidArgument).during(op))
            }
        }
    }

    /// The address a guest sends to, connects to or binds, checked against
    /// the policy for `use_` (IP) or the granted directories and prefixes
    /// (Unix).
    ///
    /// A destination (`Connect`, `Send`) must name a peer: the unspecified
    /// address and port 0 are `invalid-argument`, as on wasi:sockets (the
    /// kernel would take them for the local host).
    pub(crate) fn checked_address(
        &self,
        target: Target<'_>,
        use_: AddressUse,
    ) -> witsock::Result<CheckedAddress> {
        let op = match use_ {
            AddressUse::Bind => Operation::Bind,
            AddressUse::Send => Operation::Send,
            _ => Operation::Connect,
        };
        let Target::Ip(ip) = target else {
            let path_use = if use_ == AddressUse::Bind {
                PathUse::Create
            } else {
                PathUse::Existing
            };
            return self.unix_address(target, path_use);
        };
        let destination = matches!(use_, AddressUse::Connect | AddressUse::Send);
        if destination && (ip.ip().to_canonical().is_unspecified() || ip.port() == 0) {
            return Err(witsock::Error::new(ErrorCode::InvalidArgument)
                .during(op)
                .at(&ip.into()));
        }
        if self.policy.permits(ip, use_) {
            Ok(SockAddr::from(ip).into())
        } else {
            Err(self.deny_address(op, use_, ip))
        }
    }

    /// Whether the policy lets `resource` be bound to `ip`: a dual-stack
    /// IPv6 socket on the unspecified address is bound to IPv4's as well,
    /// and needs both allowed. Reports the refusal as `op`.
    fn check_bind(
        &self,
        resource: &SocketResource,
        ip: SocketAddr,
        op: Operation,
    ) -> witsock::Result<()> {
        if !self.policy.permits(ip, AddressUse::Bind) {
            return Err(self.deny_address(op, AddressUse::Bind, ip));
        }
        let dual_stack = resource.domain == Domain::Ipv6
            && ip.is_ipv6()
            && ip.ip().is_unspecified()
            && !matches!(
                resource.socket().option(OptionName::Ipv6Only),
                Ok(SocketOption::Ipv6Only(true))
            );
        let v4: SocketAddr = (Ipv4Addr::UNSPECIFIED, ip.port()).into();
        if dual_stack && !self.policy.permits(v4, AddressUse::Bind) {
            return Err(self.deny_address(op, AddressUse::Bind, v4));
        }
        Ok(())
    }

    /// Whether a datagram from `sender` may reach the guest; reports it
    /// when not.
    pub(crate) fn admits_sender(&self, sender: &SockAddr) -> bool {
        match sender.as_socket() {
            Some(ip) if !self.policy.permits(ip, AddressUse::Receive) => {
                self.report_refused_peer(AddressUse::Receive, ip);
                false
            }
            _ => true,
        }
    }
}

impl std::fmt::Debug for WitsockCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WitsockCtx")
            .field("policy", &self.gate.policy)
            .field("open_sockets", &self.open_sockets)
            .finish_non_exhaustive()
    }
}

/// The most refused peers (connections or datagrams) one call drops
/// before it returns `would-block`: a flood from refused senders cannot
/// keep a guest's call in the host forever (readiness stays set, so the
/// guest's next call goes on).
pub(crate) const MAX_REFUSED_PER_CALL: usize = 64;

/// What a call that dropped [`MAX_REFUSED_PER_CALL`] refused peers
/// returns.
pub(crate) fn refused_flood(op: Operation) -> witsock::Error {
    witsock::Error::new(ErrorCode::WouldBlock).during(op)
}

/// An address a guest names, before the policy has seen it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target<'a> {
    /// An IP address and port.
    Ip(SocketAddr),
    /// A Unix socket path, as the guest wrote it.
    Path(&'a Path),
    /// A Linux abstract name.
    Abstract(&'a [u8]),
}

/// An address the policy allowed, ready for the kernel. A Unix path keeps
/// open the descriptor its name goes through, until the call is made (and,
/// for a bind, as long as the socket lives).
#[derive(Debug)]
pub(crate) struct CheckedAddress {
    pub(crate) addr: SockAddr,
    pub(crate) confined: Option<ConfinedPath>,
}

impl From<SockAddr> for CheckedAddress {
    fn from(addr: SockAddr) -> CheckedAddress {
        CheckedAddress {
            addr,
            confined: None,
        }
    }
}

/// The unspecified address of an IP family, port 0.
fn unspecified(domain: Domain) -> SocketAddr {
    match domain {
        Domain::Ipv6 => (Ipv6Addr::UNSPECIFIED, 0).into(),
        _ => (Ipv4Addr::UNSPECIFIED, 0).into(),
    }
}

/// Whether a sharing option is on: `reuse-port`, or `reuse-address` on a
/// datagram socket.
fn sharing_options(socket: &Socket, ty: Type) -> [(OptionName, bool); 2] {
    let on = |name| {
        matches!(
            socket.option(name),
            Ok(SocketOption::ReusePort(true) | SocketOption::ReuseAddress(true))
        )
    };
    [
        (OptionName::ReusePort, on(OptionName::ReusePort)),
        (
            OptionName::ReuseAddress,
            ty == Type::Datagram && on(OptionName::ReuseAddress),
        ),
    ]
}

fn set_sharing(socket: &Socket, name: OptionName, on: bool) -> witsock::Result<()> {
    socket.set_option(match name {
        OptionName::ReusePort => SocketOption::ReusePort(on),
        _ => SocketOption::ReuseAddress(on),
    })
}

/// Binds with the sharing options off (then turns them back on): a port
/// someone else holds is then `address-in-use`, as if the guest had not
/// asked to share.
fn bind_unshared(socket: &Socket, ty: Type, addr: &SockAddr) -> witsock::Result<()> {
    let options = sharing_options(socket, ty);
    for (name, on) in options {
        if on {
            set_sharing(socket, name, false)?;
        }
    }
    let bound = socket.bind(addr);
    for (name, on) in options {
        if on {
            // The bind's outcome stands either way; the options are back
            // as the guest set them unless the kernel refuses now.
            let _ = set_sharing(socket, name, true);
        }
    }
    bound
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::policy::Limits;

    /// A context under `policy` and the denials it reported.
    fn recording(policy: Policy) -> (WitsockCtx, Arc<Mutex<Vec<Denial>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let ctx = WitsockCtx::new(policy).on_denial(DenialHook::new(move |denial| {
            sink.lock().unwrap().push(denial.clone());
        }));
        (ctx, seen)
    }

    #[test]
    fn a_backlog_past_the_quota_is_clamped() {
        let limits = Limits {
            max_backlog: 8,
            ..Limits::default()
        };
        let ctx = WitsockCtx::new(Policy::loopback().with_limits(limits));
        assert_eq!(ctx.backlog(4096), 8);
        assert_eq!(ctx.backlog(3), 3);
    }

    #[test]
    fn a_refused_connect_names_the_rules_and_what_would_allow_it() {
        let policy = Policy::deny_all().allow_connect("127.0.0.1:1000-2000".parse().unwrap());
        let (mut ctx, seen) = recording(policy);
        let mut socket = ctx
            .create(Domain::Ipv4, Type::Stream, None, true)
            .expect("a socket");
        let target: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let e = ctx
            .start_connect(&mut socket, Target::Ip(target))
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::AccessDenied);
        assert_eq!(e.raw_os_error(), None, "a refusal carries no native code");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(
            seen[0].to_string(),
            "denied connect to 127.0.0.1:5000: no connect rule matches (rules: 127.0.0.1:1000-2000)"
        );
        assert_eq!(
            seen[0].grant,
            Some(Grant::Rule(
                AddressUse::Connect,
                "127.0.0.1:5000".parse().unwrap()
            ))
        );
        ctx.forget(&socket);
        assert_eq!(ctx.open_sockets(), 0);
    }

    /// A socket dropped with a linger time on a tokio runtime closes on a
    /// blocking thread, and counts in the quota until that close returns.
    #[test]
    fn a_lingering_close_counts_in_the_quota_until_it_returns() {
        use std::io::Read;
        let limits = Limits {
            max_sockets: 2,
            ..Limits::default()
        };
        let policy = Policy::loopback()
            .allow_linger(std::time::Duration::from_secs(60))
            .with_limits(limits);
        let mut ctx = WitsockCtx::new(policy);
        let peer = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
        let addr = peer.local_addr().expect("its address");
        let mut socket = ctx
            .create(Domain::Ipv4, Type::Stream, None, true)
            .expect("a socket");
        let connected = ctx
            .start_connect(&mut socket, Target::Ip(addr))
            .expect("connecting");
        let (mut accepted, _) = peer.accept().expect("the connection");
        if !connected {
            socket
                .socket()
                .wait(witsock::Interest::WRITABLE, None)
                .expect("connected");
        }
        let linger = SocketOption::Linger(Some(std::time::Duration::from_secs(60)));
        ctx.set_option(&mut socket, linger)
            .expect("a granted linger");
        // Fill the peer's window and the send buffer: the close must wait.
        let chunk = [9u8; 65536];
        let mut queued = 0;
        while let Ok(n) = socket.socket().send(&chunk, witsock::SendFlags::EMPTY) {
            queued += n;
        }
        assert!(queued > 0);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        {
            let _on_the_runtime = runtime.enter();
            ctx.forget(&socket);
            drop(socket);
        }
        assert_eq!(ctx.open_sockets(), 1, "the lingering close still counts");
        assert!(ctx.check_room(2, Operation::Create).is_err());
        // The peer takes everything: the close returns, the count drops.
        let mut received = Vec::new();
        accepted.read_to_end(&mut received).expect("to the end");
        assert_eq!(received.len(), queued);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while ctx.open_sockets() != 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the close never returned"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(ctx.check_room(2, Operation::Create).is_ok());
    }

    #[test]
    fn the_socket_quota_says_how_many_the_guest_holds() {
        let limits = Limits {
            max_sockets: 1,
            ..Limits::default()
        };
        let (mut ctx, seen) = recording(Policy::loopback().with_limits(limits));
        let first = ctx
            .create(Domain::Ipv4, Type::Datagram, None, true)
            .expect("one");
        let e = ctx
            .create(Domain::Ipv4, Type::Datagram, None, true)
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::TooManySockets);
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen[0].reason,
            "too many sockets: the guest holds 1, the most it may (--max-sockets 1)"
        );
        drop(seen);
        ctx.forget(&first);
        assert!(ctx.create(Domain::Ipv4, Type::Datagram, None, true).is_ok());
    }

    #[test]
    fn no_rule_at_all_means_no_ip_socket_and_says_so() {
        let (mut ctx, seen) = recording(Policy::deny_all());
        let e = ctx
            .create(Domain::Ipv6, Type::Stream, None, true)
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::AccessDenied);
        let e = ctx
            .create(Domain::Unix, Type::Stream, None, true)
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::AccessDenied);
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].grant, Some(Grant::AnyIpRule));
        assert_eq!(seen[1].grant, Some(Grant::UnixSockets));
        assert_eq!(ctx.open_sockets(), 0);
    }

    #[test]
    fn a_guest_chosen_name_cannot_write_control_characters_to_the_host() {
        let (ctx, seen) = recording(Policy::loopback());
        assert!(ctx.check_lookup("evil\n\u{1b}[2Jname").is_err());
        let line = seen.lock().unwrap()[0].to_string();
        assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line:?}");
        assert!(line.contains("evil\\n\\u{1b}[2Jname"), "{line:?}");
    }

    #[test]
    fn a_lookup_without_the_grant_is_a_denial() {
        let (ctx, seen) = recording(Policy::loopback());
        let e = ctx.check_lookup("example.com").unwrap_err();
        assert_eq!(e.code(), ErrorCode::AccessDenied);
        assert_eq!(seen.lock().unwrap()[0].grant, Some(Grant::NameLookup));
    }
}
