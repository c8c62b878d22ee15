//! The witsock calls, served from the native backend through witsock's
//! portable API, under the guest's [`WitsockPolicy`].
//!
//! Each call returns `wasmtime::Result<Result<T, wt::Error>>`: the inner
//! error goes to the guest; the outer one traps it, and is kept for a
//! handle the table does not hold (wasmtime already traps on a forged or
//! stale handle before the host sees it, so this is a second line).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::IoSliceMut;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Resource, ResourceTable, ResourceTableError};
use wasmtime_wasi::p2::DynPollable;
use witsock::{
    Domain, IncomingDatagram, OptionName, RecvFlags, SockAddr, Socket, SocketOption, Type,
};

use super::bindings::witsock::sockets::sockets as ws;
use super::bindings::witsock::sockets::types as wt;
use super::convert::{self, refusal};
use super::policy::{AddressUse, WitsockPolicy};
use super::resource::{PortKey, SharedSocket, SocketReadiness, SocketResource};
use super::unix_path::{ConfinedPath, PathRefusal, PathUse, UnixBinding};

/// What a witsock call returns: the guest's result, or a trap.
pub(crate) type HostResult<T> = wasmtime::Result<Result<T, wt::Error>>;

/// Buffers in one vectored call (Linux's UIO_MAXIOV).
pub(crate) const IOV_MAX: usize = 1024;

/// Vectored receives of up to this many buffers keep their bookkeeping on
/// the stack.
pub(crate) const INLINE_BUFFERS: usize = 64;

/// A guest's witsock state: its policy and what the quotas count. One per
/// store, next to the store's [`ResourceTable`].
pub struct WitsockCtx {
    policy: Arc<WitsockPolicy>,
    open_sockets: usize,
    /// Ports held by the guest's explicitly bound sockets, with how many
    /// sockets hold each.
    ports: HashMap<PortKey, usize>,
    /// The buffer receives land in, reused from call to call so that a
    /// receive that would block allocates nothing.
    spare: Vec<u8>,
}

impl WitsockCtx {
    /// A context enforcing `policy`.
    pub fn new(policy: WitsockPolicy) -> WitsockCtx {
        WitsockCtx {
            policy: Arc::new(policy),
            open_sockets: 0,
            ports: HashMap::new(),
            spare: Vec::new(),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &WitsockPolicy {
        &self.policy
    }

    /// How many sockets the guest holds open.
    pub fn open_sockets(&self) -> usize {
        self.open_sockets
    }

    /// The spare buffer with at least `len` initialised bytes.
    fn spare(&mut self, len: usize) -> &mut [u8] {
        if self.spare.len() < len {
            self.spare.resize(len, 0);
        }
        &mut self.spare[..len]
    }
}

impl std::fmt::Debug for WitsockCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WitsockCtx")
            .field("policy", &self.policy)
            .field("open_sockets", &self.open_sockets)
            .finish_non_exhaustive()
    }
}

/// What the witsock imports work on: the guest's [`WitsockCtx`] and the
/// store's [`ResourceTable`] (the one wasmtime-wasi uses, so that the
/// pollables of both mix).
pub struct WitsockCtxView<'a> {
    /// The guest's witsock state.
    pub ctx: &'a mut WitsockCtx,
    /// The store's resource table.
    pub table: &'a mut ResourceTable,
}

/// Returns the guest's error from a witsock result.
macro_rules! guest {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(e) => return Ok(Err(convert::error(e))),
        }
    };
}

/// Refuses the call with `code`.
macro_rules! refuse {
    ($code:ident) => {
        return Ok(Err(refusal(wt::ErrorCode::$code)))
    };
}

/// What a send needs from the table, taken before the guest's memory is
/// borrowed for the payload.
pub(crate) struct SendTarget {
    pub(crate) shared: Arc<SharedSocket>,
    pub(crate) policy: Arc<WitsockPolicy>,
    pub(crate) ty: Type,
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

/// The address to use for a Unix name under `policy`.
fn unix_address(
    policy: &WitsockPolicy,
    addr: &wt::SocketAddress,
    use_: PathUse,
) -> Result<CheckedAddress, wt::Error> {
    match addr {
        wt::SocketAddress::Unix(bytes) => {
            let path = convert::unix_path(bytes).map_err(convert::error)?;
            match policy.confine(path, use_) {
                Ok(confined) => Ok(CheckedAddress {
                    addr: SockAddr::unix(OsStr::from_bytes(&confined.kernel_name))
                        .map_err(convert::error)?,
                    confined: Some(confined),
                }),
                Err(PathRefusal::Denied) => Err(refusal(wt::ErrorCode::AccessDenied)),
                // What the kernel answers for a name that is not there.
                Err(PathRefusal::Missing) if use_ == PathUse::Existing => {
                    Err(refusal(wt::ErrorCode::ConnectionRefused))
                }
                Err(PathRefusal::Missing) => Err(refusal(wt::ErrorCode::AddressNotAvailable)),
                Err(PathRefusal::Invalid) => Err(refusal(wt::ErrorCode::InvalidArgument)),
            }
        }
        wt::SocketAddress::UnixAbstract(name) if policy.permits_abstract(name) => {
            Ok(SockAddr::unix_abstract(name)
                .map_err(convert::error)?
                .into())
        }
        wt::SocketAddress::UnixAbstract(_) => Err(refusal(wt::ErrorCode::AccessDenied)),
        _ => Ok(convert::address(addr).map_err(convert::error)?.into()),
    }
}

/// The address a guest sends to, connects to or binds, checked against
/// `policy` for `use_` (IP) or the granted directories and prefixes
/// (Unix).
///
/// A destination (`Connect`, `Send`) must name a peer: the unspecified
/// address and port 0 are `invalid-argument`, as on wasi:sockets (the
/// kernel would take them for the local host).
pub(crate) fn checked_address(
    policy: &WitsockPolicy,
    addr: &wt::SocketAddress,
    use_: AddressUse,
) -> Result<CheckedAddress, wt::Error> {
    match addr {
        wt::SocketAddress::Ipv4(_) | wt::SocketAddress::Ipv6(_) => {
            let sock = convert::address(addr).map_err(convert::error)?;
            let Some(ip) = sock.as_socket() else {
                return Err(refusal(wt::ErrorCode::InvalidArgument));
            };
            let destination = matches!(use_, AddressUse::Connect | AddressUse::Send);
            if destination && (ip.ip().to_canonical().is_unspecified() || ip.port() == 0) {
                return Err(refusal(wt::ErrorCode::InvalidArgument));
            }
            if policy.permits(ip, use_) {
                Ok(sock.into())
            } else {
                Err(refusal(wt::ErrorCode::AccessDenied))
            }
        }
        _ => {
            let path_use = if use_ == AddressUse::Bind {
                PathUse::Create
            } else {
                PathUse::Existing
            };
            unix_address(policy, addr, path_use)
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

impl WitsockCtxView<'_> {
    fn socket(&self, this: &Resource<SocketResource>) -> wasmtime::Result<&SocketResource> {
        Ok(self.table.get(this)?)
    }

    /// Adds a socket to the table, counting it; `too-many-sockets` if the
    /// table is full.
    fn push(&mut self, resource: SocketResource) -> HostResult<Resource<SocketResource>> {
        match self.table.push(resource) {
            Ok(handle) => {
                self.ctx.open_sockets += 1;
                Ok(Ok(handle))
            }
            Err(ResourceTableError::Full) => refuse!(TooManySockets),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether `more` sockets fit the quota.
    fn has_room(&self, more: usize) -> bool {
        self.ctx.open_sockets + more <= self.ctx.policy.limits().max_sockets
    }

    pub(crate) fn create(
        &mut self,
        family: wt::AddressFamily,
        ty: wt::SocketType,
        protocol: Option<wt::Protocol>,
        nonblocking: bool,
    ) -> HostResult<Resource<SocketResource>> {
        let domain = convert::domain(family);
        if domain == Domain::Unix && !self.ctx.policy.allows_unix_sockets() {
            refuse!(Unsupported);
        }
        // No IP rule at all: no TCP or UDP socket, as wasi:sockets answers
        // under the same rules (at the same step, creation).
        if domain != Domain::Unix && !self.ctx.policy.allows_ip_sockets() {
            refuse!(AccessDenied);
        }
        // An IP seq-packet socket is SCTP where the kernel has it: a
        // protocol the policy has no rules for (its associations would
        // arrive unfiltered).
        if domain != Domain::Unix && ty == wt::SocketType::SeqPacket {
            refuse!(ProtocolNotSupported);
        }
        if !self.has_room(1) {
            refuse!(TooManySockets);
        }
        let ty = convert::socket_type(ty);
        let protocol = protocol.map(convert::protocol);
        let socket = guest!(if nonblocking {
            Socket::new_nonblocking(domain, ty, protocol)
        } else {
            Socket::new(domain, ty, protocol)
        });
        self.push(SocketResource::new(socket, domain, ty, false))
    }

    pub(crate) fn socket_pair(
        &mut self,
        ty: wt::SocketType,
        nonblocking: bool,
    ) -> HostResult<(Resource<SocketResource>, Resource<SocketResource>)> {
        let policy = &self.ctx.policy;
        if !policy.allows_unix_sockets() {
            refuse!(Unsupported);
        }
        if !policy.allows_socket_pairs() {
            refuse!(AccessDenied);
        }
        if !self.has_room(2) {
            refuse!(TooManySockets);
        }
        let ty = convert::socket_type(ty);
        let (a, b) = guest!(Socket::pair(ty, nonblocking));
        let a = match self.push(SocketResource::new(a, Domain::Unix, ty, true))? {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        match self.push(SocketResource::new(b, Domain::Unix, ty, true))? {
            Ok(b) => Ok(Ok((a, b))),
            Err(e) => {
                self.drop_socket(a)?;
                Ok(Err(e))
            }
        }
    }

    /// Closes a socket the guest dropped (or one never handed out).
    pub(crate) fn drop_socket(&mut self, this: Resource<SocketResource>) -> wasmtime::Result<()> {
        let resource = self.table.delete(this)?;
        self.ctx.open_sockets = self.ctx.open_sockets.saturating_sub(1);
        if let Some(key) = resource.claimed_port {
            if let Some(count) = self.ctx.ports.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    self.ctx.ports.remove(&key);
                }
            }
        }
        Ok(())
    }

    pub(crate) fn set_nonblocking(
        &mut self,
        this: Resource<SocketResource>,
        nonblocking: bool,
    ) -> HostResult<()> {
        let socket = self.socket(&this)?.socket();
        Ok(socket.set_nonblocking(nonblocking).map_err(convert::error))
    }

    pub(crate) fn bind(
        &mut self,
        this: Resource<SocketResource>,
        addr: wt::SocketAddress,
    ) -> HostResult<()> {
        let checked = match checked_address(&self.ctx.policy, &addr, AddressUse::Bind) {
            Ok(checked) => checked,
            Err(e) => return Ok(Err(e)),
        };
        if let Some(ip) = checked.addr.as_socket() {
            if !self.permits_bind(self.socket(&this)?, ip) {
                refuse!(AccessDenied);
            }
        }
        self.bind_checked(&this, checked)
    }

    /// Whether the policy lets `resource` be bound to `ip`: a dual-stack
    /// IPv6 socket on the unspecified address is bound to IPv4's as well,
    /// and needs both allowed.
    fn permits_bind(&self, resource: &SocketResource, ip: SocketAddr) -> bool {
        let policy = &self.ctx.policy;
        if !policy.permits(ip, AddressUse::Bind) {
            return false;
        }
        let dual_stack = resource.domain == Domain::Ipv6
            && ip.is_ipv6()
            && ip.ip().is_unspecified()
            && !matches!(
                resource.socket().option(OptionName::Ipv6Only),
                Ok(SocketOption::Ipv6Only(true))
            );
        !dual_stack || policy.permits((Ipv4Addr::UNSPECIFIED, ip.port()).into(), AddressUse::Bind)
    }

    /// Binds to an address the policy allowed, keeping a port the guest
    /// does not hold from being shared: a sharing bind goes ahead only onto
    /// exactly the address and port a socket of the guest is bound to.
    fn bind_checked(
        &mut self,
        this: &Resource<SocketResource>,
        checked: CheckedAddress,
    ) -> HostResult<()> {
        let resource = self.table.get(this)?;
        let stream = resource.ty != Type::Datagram;
        let ip = checked.addr.as_socket();
        let held = ip.is_some_and(|ip| {
            ip.port() != 0 && self.ctx.ports.contains_key(&PortKey::new(stream, ip))
        });
        let result = if ip.is_some()
            && resource.shares_ports
            && !held
            && !self.ctx.policy.allows_shared_ports()
        {
            bind_unshared(resource.socket(), resource.ty, &checked.addr)
        } else {
            resource.socket().bind(&checked.addr)
        };
        guest!(result);
        let local = ip.and_then(|_| resource.socket().local_addr().ok()?.as_socket());
        let resource = self.table.get_mut(this)?;
        resource.bound = true;
        if let Some(confined) = checked.confined {
            resource.unix_binding = Some(Arc::new(UnixBinding::register(confined)));
        }
        if let (Some(local), None) = (local, resource.claimed_port) {
            let key = PortKey::new(stream, local);
            resource.claimed_port = Some(key);
            *self.ctx.ports.entry(key).or_insert(0) += 1;
        }
        Ok(Ok(()))
    }

    /// Before a listen, connect or send that would bind an unbound IP
    /// socket implicitly: listening needs the unspecified address to be
    /// allowed; a socket with a sharing option gets an explicit, unshared
    /// bind (an implicit one could join a port another process shares).
    fn settle_implicit_bind(
        &mut self,
        this: &Resource<SocketResource>,
        for_listen: bool,
    ) -> HostResult<()> {
        let resource = self.table.get(this)?;
        if resource.bound || resource.domain == Domain::Unix {
            return Ok(Ok(()));
        }
        if !for_listen && !resource.shares_ports {
            return Ok(Ok(()));
        }
        if resource.socket().local_addr().is_ok() {
            self.table.get_mut(this)?.bound = true;
            return Ok(Ok(()));
        }
        let any = unspecified(resource.domain);
        if for_listen && !self.permits_bind(resource, any) {
            refuse!(AccessDenied);
        }
        self.bind_checked(this, SockAddr::from(any).into())
    }

    /// Listens once the address the socket is bound to, with the port it
    /// actually has, is allowed: a rule for port 0 lets a socket bind to a
    /// port the system picks, not listen on it (as on wasi:sockets).
    pub(crate) fn listen(
        &mut self,
        this: Resource<SocketResource>,
        backlog: u32,
    ) -> HostResult<()> {
        if backlog > self.ctx.policy.limits().max_backlog {
            refuse!(InvalidArgument);
        }
        let resource = self.socket(&this)?;
        if resource.ty == Type::Datagram {
            // Before any implicit bind: the kernel's own answer.
            return Ok(resource.socket().listen(backlog).map_err(convert::error));
        }
        if let Err(e) = self.settle_implicit_bind(&this, true)? {
            return Ok(Err(e));
        }
        let resource = self.socket(&this)?;
        if resource.domain != Domain::Unix {
            // The port the socket really has; no address, no listen.
            let local = guest!(resource.socket().local_addr());
            match local.as_socket() {
                Some(ip) if self.permits_bind(resource, ip) => {}
                _ => refuse!(AccessDenied),
            }
        }
        Ok(resource.socket().listen(backlog).map_err(convert::error))
    }

    pub(crate) fn try_accept(
        &mut self,
        this: Resource<SocketResource>,
    ) -> HostResult<Option<(Resource<SocketResource>, wt::SocketAddress)>> {
        if !self.has_room(1) {
            refuse!(TooManySockets);
        }
        let listener = self.socket(&this)?;
        let (domain, ty) = (listener.domain, listener.ty);
        // The accepted socket's local name is the listener's.
        let binding = listener.unix_binding.clone();
        loop {
            let listener = self.socket(&this)?;
            let (socket, peer) = match guest!(listener.socket().try_accept()) {
                Some(pair) => pair,
                None => return Ok(Ok(None)),
            };
            if let Some(ip) = peer.as_socket() {
                if !self.ctx.policy.permits(ip, AddressUse::Accept) {
                    // Closed unseen; another connection may be waiting.
                    drop(socket);
                    continue;
                }
            }
            let peer = convert::address_to_wit(&peer);
            let mut accepted = SocketResource::new(socket, domain, ty, true);
            accepted.unix_binding = binding;
            return match self.push(accepted)? {
                Ok(handle) => Ok(Ok(Some((handle, peer)))),
                Err(e) => Ok(Err(e)),
            };
        }
    }

    pub(crate) fn start_connect(
        &mut self,
        this: Resource<SocketResource>,
        addr: wt::SocketAddress,
    ) -> HostResult<bool> {
        let resource = self.socket(&this)?;
        let use_ = if resource.ty == Type::Datagram {
            AddressUse::Send
        } else {
            AddressUse::Connect
        };
        let checked = match checked_address(&self.ctx.policy, &addr, use_) {
            Ok(checked) => checked,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = self.settle_implicit_bind(&this, false)? {
            return Ok(Err(e));
        }
        let socket = self.socket(&this)?.socket();
        let connected = guest!(socket.start_connect(&checked.addr));
        self.table.get_mut(&this)?.bound = true;
        Ok(Ok(connected))
    }

    pub(crate) fn finish_connect(&mut self, this: Resource<SocketResource>) -> HostResult<bool> {
        let socket = self.socket(&this)?.socket();
        Ok(socket.finish_connect().map_err(convert::error))
    }

    /// `disconnect`: the host's witsock dissolves the association itself
    /// (no policy check: it grants no new peer; each later `send-to` is
    /// checked as usual).
    pub(crate) fn disconnect(&mut self, this: Resource<SocketResource>) -> HostResult<()> {
        let socket = self.socket(&this)?.socket();
        Ok(socket.disconnect().map_err(convert::error))
    }

    /// The socket to send on, taken before the guest's memory is borrowed
    /// for the payload.
    pub(crate) fn send_target(
        &self,
        this: &Resource<SocketResource>,
    ) -> wasmtime::Result<SendTarget> {
        let resource = self.socket(this)?;
        Ok(SendTarget {
            shared: resource.shared.clone(),
            policy: self.ctx.policy.clone(),
            ty: resource.ty,
        })
    }

    /// Checks a destination and settles the socket's implicit bind, for
    /// `send-to`.
    pub(crate) fn send_to_target(
        &mut self,
        this: &Resource<SocketResource>,
        addr: &wt::SocketAddress,
    ) -> wasmtime::Result<Result<(SendTarget, CheckedAddress), wt::Error>> {
        let resource = self.socket(this)?;
        let use_ = if resource.ty == Type::Datagram {
            AddressUse::Send
        } else {
            AddressUse::Connect
        };
        let addr = match checked_address(&self.ctx.policy, addr, use_) {
            Ok(addr) => addr,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = self.settle_implicit_bind(this, false)? {
            return Ok(Err(e));
        }
        Ok(Ok((self.send_target(this)?, addr)))
    }

    /// Settles the socket's implicit bind before a batch.
    pub(crate) fn batch_target(
        &mut self,
        this: &Resource<SocketResource>,
    ) -> HostResult<SendTarget> {
        if let Err(e) = self.settle_implicit_bind(this, false)? {
            return Ok(Err(e));
        }
        Ok(Ok(self.send_target(this)?))
    }

    /// `invalid-argument` unless `len` bytes fit the per-call quota.
    fn check_buffered(&self, len: Option<usize>) -> Result<usize, wt::Error> {
        match len {
            Some(len) if len <= self.ctx.policy.limits().max_bytes_per_call => Ok(len),
            _ => Err(refusal(wt::ErrorCode::InvalidArgument)),
        }
    }

    /// Whether receives on this socket must look at each sender. An IPv6
    /// socket may be dual-stack and receive from IPv4 senders too, so it
    /// skips the check only when both families may send to it.
    fn filters_senders(&self, resource: &SocketResource) -> bool {
        let policy = &self.ctx.policy;
        resource.is_ip_datagram()
            && !(policy.receives_from_anyone(true)
                && (resource.domain == Domain::Ipv4 || policy.receives_from_anyone(false)))
    }

    pub(crate) fn receive(
        &mut self,
        this: Resource<SocketResource>,
        max_len: u64,
        flags: wt::ReceiveFlags,
    ) -> HostResult<Vec<u8>> {
        let len = match self.check_buffered(usize::try_from(max_len).ok()) {
            Ok(len) => len,
            Err(e) => return Ok(Err(e)),
        };
        let flags = convert::recv_flags(flags);
        let resource = self.table.get(&this)?;
        if self.filters_senders(resource) {
            return Ok(self.receive_datagram(&this, len, flags)?.map(|d| d.data));
        }
        let buf = self.ctx.spare(len);
        let n = guest!(resource.socket().recv(buf, flags));
        Ok(Ok(buf[..n].to_vec()))
    }

    pub(crate) fn receive_from(
        &mut self,
        this: Resource<SocketResource>,
        max_len: u64,
        flags: wt::ReceiveFlags,
    ) -> HostResult<ws::IncomingDatagram> {
        let len = match self.check_buffered(usize::try_from(max_len).ok()) {
            Ok(len) => len,
            Err(e) => return Ok(Err(e)),
        };
        self.receive_datagram(&this, len, convert::recv_flags(flags))
    }

    /// One datagram from a sender the policy allows; the others are
    /// consumed and dropped unseen.
    fn receive_datagram(
        &mut self,
        this: &Resource<SocketResource>,
        len: usize,
        flags: RecvFlags,
    ) -> HostResult<ws::IncomingDatagram> {
        let resource = self.table.get(this)?;
        let filter = self.filters_senders(resource);
        let policy = self.ctx.policy.clone();
        let buf = self.ctx.spare(len);
        loop {
            let meta = guest!(resource.socket().recv_from(buf, flags));
            let allowed = match meta.addr.as_socket() {
                Some(ip) if filter => policy.permits(ip, AddressUse::Receive),
                _ => true,
            };
            if allowed {
                return Ok(Ok(ws::IncomingDatagram {
                    data: buf[..meta.len].to_vec(),
                    remote_address: convert::address_to_wit(&meta.addr),
                    truncated: meta.truncated,
                }));
            }
            if flags.is_peek() {
                // Peeked: take it off the queue before looking further.
                guest!(resource.socket().recv_from(&mut [], RecvFlags::EMPTY));
            }
        }
    }

    /// Takes datagrams from senders the policy refuses off the head of the
    /// queue, so that the next receive gets an allowed one (or would
    /// block).
    fn skip_refused_senders(&mut self, this: &Resource<SocketResource>) -> HostResult<()> {
        let resource = self.table.get(this)?;
        if !self.filters_senders(resource) {
            return Ok(Ok(()));
        }
        loop {
            let meta = guest!(resource.socket().recv_from(&mut [], RecvFlags::PEEK));
            match meta.addr.as_socket() {
                Some(ip) if !self.ctx.policy.permits(ip, AddressUse::Receive) => {
                    guest!(resource.socket().recv_from(&mut [], RecvFlags::EMPTY));
                }
                _ => return Ok(Ok(())),
            }
        }
    }

    pub(crate) fn receive_vectored(
        &mut self,
        this: Resource<SocketResource>,
        lengths: &[u64],
        flags: wt::ReceiveFlags,
    ) -> HostResult<Vec<Vec<u8>>> {
        if lengths.len() > IOV_MAX {
            refuse!(InvalidArgument);
        }
        let total = lengths.iter().try_fold(0usize, |sum, &len| {
            sum.checked_add(usize::try_from(len).ok()?)
        });
        let total = match self.check_buffered(total) {
            Ok(total) => total,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = self.skip_refused_senders(&this)? {
            return Ok(Err(e));
        }
        let flags = convert::recv_flags(flags);
        let resource = self.table.get(&this)?;
        let spare = self.ctx.spare(total);
        let n = {
            // Each length fits `usize`: their sum does.
            let mut rest = &mut spare[..];
            let mut next = |len: u64| {
                let (head, tail) = std::mem::take(&mut rest).split_at_mut(len as usize);
                rest = tail;
                IoSliceMut::new(head)
            };
            let received = if lengths.len() <= INLINE_BUFFERS {
                let mut inline: [IoSliceMut<'_>; INLINE_BUFFERS] =
                    std::array::from_fn(|_| IoSliceMut::new(&mut []));
                for (slot, &len) in inline.iter_mut().zip(lengths) {
                    *slot = next(len);
                }
                resource
                    .socket()
                    .recv_vectored(&mut inline[..lengths.len()], flags)
            } else {
                let mut slices: Vec<IoSliceMut<'_>> =
                    lengths.iter().map(|&len| next(len)).collect();
                resource.socket().recv_vectored(&mut slices, flags)
            };
            guest!(received)
        };
        // The filled buffers, in order; the last may be short.
        let mut filled = Vec::new();
        let (mut offset, mut left) = (0usize, n);
        for &len in lengths {
            if left == 0 {
                break;
            }
            let take = (len as usize).min(left);
            filled.push(spare[offset..offset + take].to_vec());
            offset += len as usize;
            left -= take;
        }
        Ok(Ok(filled))
    }

    pub(crate) fn receive_batch(
        &mut self,
        this: Resource<SocketResource>,
        max_datagrams: u32,
        max_len: u64,
    ) -> HostResult<Vec<ws::IncomingDatagram>> {
        let count = (max_datagrams as usize).min(witsock::MAX_BATCH);
        let total = usize::try_from(max_len)
            .ok()
            .and_then(|len| len.checked_mul(count));
        if let Err(e) = self.check_buffered(total) {
            return Ok(Err(e));
        }
        if count == 0 {
            return Ok(Ok(Vec::new()));
        }
        // Fits usize: checked above.
        let len = max_len as usize;
        let resource = self.table.get(&this)?;
        let filter = self.filters_senders(resource);
        let policy = self.ctx.policy.clone();
        let spare = self.ctx.spare(len * count);
        loop {
            let mut slots: Vec<IncomingDatagram<'_>> = if len == 0 {
                (0..count).map(|_| IncomingDatagram::new(&mut [])).collect()
            } else {
                spare.chunks_mut(len).map(IncomingDatagram::new).collect()
            };
            let n = guest!(resource.socket().recv_batch(&mut slots));
            let received: Vec<ws::IncomingDatagram> = slots
                .iter()
                .take(n)
                .filter(|slot| match slot.addr().as_socket() {
                    Some(ip) if filter => policy.permits(ip, AddressUse::Receive),
                    _ => true,
                })
                .map(|slot| ws::IncomingDatagram {
                    data: slot.data().to_vec(),
                    remote_address: convert::address_to_wit(slot.addr()),
                    truncated: slot.is_truncated(),
                })
                .collect();
            // All were refused: look for more (or report would-block).
            if !received.is_empty() {
                return Ok(Ok(received));
            }
        }
    }

    pub(crate) fn shutdown(
        &mut self,
        this: Resource<SocketResource>,
        how: wt::ShutdownHow,
    ) -> HostResult<()> {
        let socket = self.socket(&this)?.socket();
        Ok(socket
            .shutdown(convert::shutdown(how))
            .map_err(convert::error))
    }

    pub(crate) fn local_address(
        &mut self,
        this: Resource<SocketResource>,
    ) -> HostResult<wt::SocketAddress> {
        let socket = self.socket(&this)?.socket();
        Ok(socket
            .local_addr()
            .map(|a| convert::address_to_wit(&a))
            .map_err(convert::error))
    }

    pub(crate) fn remote_address(
        &mut self,
        this: Resource<SocketResource>,
    ) -> HostResult<wt::SocketAddress> {
        let socket = self.socket(&this)?.socket();
        Ok(socket
            .peer_addr()
            .map(|a| convert::address_to_wit(&a))
            .map_err(convert::error))
    }

    pub(crate) fn set_option(
        &mut self,
        this: Resource<SocketResource>,
        value: wt::OptionValue,
    ) -> HostResult<()> {
        let option = convert::option(&value);
        // A bad value is `invalid-argument` whatever the policy says.
        guest!(option.validate());
        let policy = &self.ctx.policy;
        match option {
            SocketOption::Linger(Some(time)) if time > policy.max_linger() => {
                refuse!(AccessDenied)
            }
            SocketOption::JoinMulticastV4 { .. } | SocketOption::JoinMulticastV6 { .. }
                if !policy.allows_multicast() =>
            {
                refuse!(AccessDenied)
            }
            _ => {}
        }
        let resource = self.socket(&this)?;
        guest!(resource.socket().set_option(option));
        if matches!(
            option,
            SocketOption::ReusePort(_) | SocketOption::ReuseAddress(_)
        ) {
            let shares = sharing_options(resource.socket(), resource.ty)
                .iter()
                .any(|&(_, on)| on);
            self.table.get_mut(&this)?.shares_ports = shares;
        }
        Ok(Ok(()))
    }

    pub(crate) fn get_option(
        &mut self,
        this: Resource<SocketResource>,
        name: wt::OptionName,
    ) -> HostResult<wt::OptionValue> {
        let socket = self.socket(&this)?.socket();
        let value = guest!(socket.option(convert::option_name(name)));
        match convert::option_to_wit(value) {
            Some(value) => Ok(Ok(value)),
            None => refuse!(OptionNotSupported),
        }
    }

    pub(crate) fn wait(
        &mut self,
        this: Resource<SocketResource>,
        interest: wt::Interest,
        timeout_ns: Option<u64>,
    ) -> HostResult<wt::Readiness> {
        let socket = self.socket(&this)?.socket();
        let timeout = timeout_ns.map(Duration::from_nanos);
        Ok(socket
            .wait(convert::interest(interest), timeout)
            .map(convert::readiness)
            .map_err(convert::error))
    }

    pub(crate) fn subscribe(
        &mut self,
        this: Resource<SocketResource>,
        interest: wt::Interest,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let shared = self.socket(&this)?.shared.clone();
        let readiness = SocketReadiness {
            shared,
            interest: convert::interest(interest),
        };
        let child = self.table.push_child(readiness, &this)?;
        wasmtime_wasi::p2::subscribe(self.table, child)
    }

    pub(crate) fn poll(
        &mut self,
        entries: Vec<(Resource<SocketResource>, wt::Interest)>,
        timeout_ns: Option<u64>,
    ) -> HostResult<Vec<wt::Readiness>> {
        let mut polled = Vec::with_capacity(entries.len());
        for (handle, interest) in &entries {
            let socket = self.table.get(handle)?.socket();
            polled.push(witsock::PollEntry::new(
                socket,
                convert::interest(*interest),
            ));
        }
        let timeout = timeout_ns.map(Duration::from_nanos);
        guest!(witsock::poll(&mut polled, timeout));
        Ok(Ok(polled
            .iter()
            .map(|e| convert::readiness(e.readiness()))
            .collect()))
    }

    pub(crate) fn capabilities(&mut self) -> ws::Capabilities {
        let native = witsock::capabilities();
        let unix = if self.ctx.policy.allows_unix_sockets() {
            native.unix_sockets
        } else {
            witsock::Support::Unsupported
        };
        ws::Capabilities {
            dual_stack: convert::support(native.dual_stack),
            vectored_io: convert::support(native.vectored_io),
            batched_datagrams: convert::support(native.batched_datagrams),
            unix_sockets: convert::support(unix),
            peek: convert::support(native.peek),
            out_of_band: convert::support(native.out_of_band),
            blocking_mode: convert::support(native.blocking_mode),
            options: OptionName::ALL
                .iter()
                .filter_map(|&name| {
                    Some((
                        convert::option_name_to_wit(name)?,
                        convert::support(native.option(name)),
                    ))
                })
                .collect(),
        }
    }

    pub(crate) fn resolve(
        &mut self,
        name: String,
        port: u16,
    ) -> HostResult<Vec<wt::SocketAddress>> {
        if !self.ctx.policy.allows_name_lookup() {
            refuse!(AccessDenied);
        }
        let addrs = guest!(witsock::resolve(&name, port));
        Ok(Ok(addrs.map(|a| convert::address_to_wit(&a)).collect()))
    }
}
