//! [`Socket`]: the `socket` resource of `wit/sockets.wit`.
//!
//! Each method is a thin, inlined layer over the backend in [`crate::sys`]:
//! it records the operation and address on errors and, for waits, applies
//! the socket's deadlines. The syscalls themselves live in the backend.

use core::time::Duration;
use std::io::{self, IoSlice, IoSliceMut};
use std::time::Instant;

use crate::deadline::Deadlines;
use crate::state::{self, SocketState};
use crate::{
    sys, Domain, Error, ErrorCode, Interest, Operation, OptionName, Protocol, Readiness, RecvFlags,
    RecvMeta, Result, SendFlags, Shutdown, SockAddr, SocketOption, Type,
};

/// The most buffers one vectored call takes on every backend (Linux's
/// UIO_MAXIOV, macOS's IOV_MAX); more is `invalid-argument`.
const IOV_MAX: usize = 1024;

/// A socket. Dropping it closes the descriptor (close(2)).
///
/// Created close-on-exec; natively sends never raise SIGPIPE
/// (`MSG_NOSIGNAL` on Linux, `SO_NOSIGPIPE` on macOS); EINTR is retried
/// inside witsock.
///
/// # Blocking, non-blocking and deadlines
/// A blocking socket waits in the kernel (bounded by the
/// [`ReceiveTimeout`](SocketOption::ReceiveTimeout) and
/// [`SendTimeout`](SocketOption::SendTimeout) options). A non-blocking
/// socket returns [`ErrorCode::WouldBlock`] instead, unless a read or write
/// deadline is set: then a call that would block waits for readiness until
/// the deadline and fails with [`ErrorCode::TimedOut`] after it. Deadlines
/// cost nothing until a call would block.
#[derive(Debug)]
pub struct Socket {
    pub(crate) inner: sys::Socket,
    deadlines: Deadlines,
    state: SocketState,
}

impl Socket {
    /// A socket whose family and type the kernel will be asked for when
    /// needed (an adopted descriptor).
    #[inline]
    pub(crate) fn from_sys(inner: sys::Socket) -> Socket {
        Socket {
            inner,
            deadlines: Deadlines::new(),
            state: SocketState::unknown(),
        }
    }

    /// A socket made elsewhere (a descriptor handed to witsock).
    #[cfg_attr(not(unix), allow(dead_code))]
    pub(crate) fn adopt(inner: sys::Socket) -> Socket {
        let socket = Socket::from_sys(inner);
        // An adopted descriptor: what the portable checks need to know of
        // it is read from the kernel once (adoption is rare; calls are
        // not).
        socket.kind();
        if socket.inner.peer_addr().is_ok() {
            socket.state.note_connected();
        }
        if socket
            .inner
            .local_addr()
            .is_ok_and(|raw| SockAddr { raw }.as_socket().is_some_and(|a| a.port() != 0))
        {
            socket.state.note_address();
        }
        socket
    }

    #[inline]
    fn from_sys_of(inner: sys::Socket, domain: Domain, ty: Type) -> Socket {
        Socket {
            inner,
            deadlines: Deadlines::new(),
            state: SocketState::new(domain, ty),
        }
    }

    /// The family and type, if known.
    #[inline]
    pub(crate) fn kind(&self) -> Option<(Domain, Type)> {
        self.state.kind(|| self.inner.kind())
    }

    /// Creates a blocking socket (socket(2) with SOCK_CLOEXEC).
    ///
    /// `protocol: None` picks the default for the family and type.
    ///
    /// # Errors
    /// `address-family-not-supported`, `protocol-not-supported`,
    /// `too-many-sockets`, `access-denied`.
    ///
    /// # References
    /// [socket(2)](https://man7.org/linux/man-pages/man2/socket.2.html)
    #[inline]
    pub fn new(domain: Domain, ty: Type, protocol: Option<Protocol>) -> Result<Socket> {
        sys::Socket::new(domain, ty, protocol, false)
            .map(|inner| Socket::from_sys_of(inner, domain, ty))
            .map_err(|e| e.during(Operation::Create))
    }

    /// Creates a non-blocking socket: one socket(2) with
    /// SOCK_NONBLOCK | SOCK_CLOEXEC on Linux.
    #[inline]
    pub fn new_nonblocking(domain: Domain, ty: Type, protocol: Option<Protocol>) -> Result<Socket> {
        sys::Socket::new(domain, ty, protocol, true)
            .map(|inner| Socket::from_sys_of(inner, domain, ty))
            .map_err(|e| e.during(Operation::Create))
    }

    /// A connected pair of Unix sockets (socketpair(2)).
    ///
    /// # Errors
    /// `unsupported` where the backend has no Unix sockets.
    pub fn pair(ty: Type, nonblocking: bool) -> Result<(Socket, Socket)> {
        sys::Socket::pair(ty, nonblocking)
            .map(|(a, b)| {
                let (a, b) = (
                    Socket::from_sys_of(a, Domain::Unix, ty),
                    Socket::from_sys_of(b, Domain::Unix, ty),
                );
                a.state.note_connected();
                b.state.note_connected();
                (a, b)
            })
            .map_err(|e| e.during(Operation::Create))
    }

    /// Switches blocking mode (fcntl(2) O_NONBLOCK).
    #[inline]
    pub fn set_nonblocking(&self, nonblocking: bool) -> Result<()> {
        self.inner
            .set_nonblocking(nonblocking)
            .map_err(|e| e.during(Operation::SetNonblocking))
    }

    /// Binds to a local address (bind(2)).
    ///
    /// A TCP bind is not affected by the TIME_WAIT state of a recently
    /// closed connection on the same address, as on wasi:sockets: a TCP
    /// bind turns [`ReuseAddress`](SocketOption::ReuseAddress) on first
    /// (one setsockopt(2)) unless the caller set it, as wasi:sockets hosts
    /// do on every TCP bind; accepted sockets inherit it, and sockets that
    /// never bind keep it off. A live listener on the address still makes
    /// it `address-in-use`.
    ///
    /// # Errors
    /// `address-in-use`, `address-not-available`, `access-denied`,
    /// `invalid-argument` (address of another family, or never bindable:
    /// the broadcast address, multicast on a stream socket, an IPv6
    /// address that needs a scope id and has none), `invalid-state`
    /// (already bound).
    ///
    /// # References
    /// [bind(2)](https://man7.org/linux/man-pages/man2/bind.2.html)
    #[inline]
    pub fn bind(&self, addr: &SockAddr) -> Result<()> {
        self.unless_connect_failed(ErrorCode::InvalidState)
            .and_then(|()| match self.state.was_connected() {
                true => Err(state::state_error(ErrorCode::InvalidState)),
                false => Ok(()),
            })
            .and_then(|()| state::check_local(addr, self.kind(), |name| self.option_on(name)))
            .and_then(|()| self.inner.bind(&addr.raw, self.implicit_reuse_address()))
            .inspect(|()| self.state.note_address())
            .map_err(|e| e.during(Operation::Bind).at(addr))
    }

    /// Listens for connections (listen(2)); `backlog` from 1 to `i32::MAX`.
    ///
    /// # Errors
    /// `invalid-argument` (backlog 0 or too large), `invalid-state`
    /// (connected), `operation-not-supported` (datagram socket),
    /// `address-in-use` (on Linux, another socket bound to the same port
    /// with `reuse-address` listens already).
    ///
    /// # References
    /// [listen(2)](https://man7.org/linux/man-pages/man2/listen.2.html)
    #[inline]
    pub fn listen(&self, backlog: u32) -> Result<()> {
        if backlog == 0 || backlog > i32::MAX as u32 {
            return Err(Error::new(ErrorCode::InvalidArgument).during(Operation::Listen));
        }
        self.unless_connect_failed(ErrorCode::InvalidState)
            .map_err(|e| e.during(Operation::Listen))?;
        // A listen on an unbound socket binds it: as for `bind`,
        // SO_REUSEADDR first unless the caller chose.
        let reuse = !self.state.had_address() && self.implicit_reuse_address();
        self.inner
            .listen(backlog as i32, reuse)
            .inspect(|()| self.state.note_address())
            .map_err(|e| e.during(Operation::Listen))
    }

    /// Accepts a pending connection, or returns `None` when none is pending
    /// on a non-blocking listener (a blocking listener waits).
    ///
    /// The new socket is non-blocking and close-on-exec. On Linux this is
    /// exactly one accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC, and the peer
    /// address comes from that call; on macOS accept(2) then the fcntl(2)s
    /// needed. Neither the accept nor the would-block path allocates.
    ///
    /// # Errors
    /// `invalid-state` (not listening), `operation-not-supported` (datagram
    /// socket), `connection-aborted`, `too-many-sockets`.
    ///
    /// # References
    /// [accept4(2)](https://man7.org/linux/man-pages/man2/accept.2.html)
    #[inline]
    pub fn try_accept(&self) -> Result<Option<(Socket, SockAddr)>> {
        match self.inner.try_accept() {
            Ok(Some((s, raw))) => {
                let socket = match self.kind() {
                    Some((domain, ty)) => Socket::from_sys_of(s, domain, ty),
                    None => Socket::from_sys(s),
                };
                socket.state.note_connected();
                Ok(Some((socket, SockAddr { raw })))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(e.during(Operation::Accept)),
        }
    }

    /// Accepts a connection, waiting for one whatever the socket's mode,
    /// until the read deadline if one is set.
    ///
    /// # Errors
    /// As [`try_accept`](Socket::try_accept); `timed-out` past the deadline.
    pub fn accept(&self) -> Result<(Socket, SockAddr)> {
        loop {
            if let Some(pair) = self.try_accept()? {
                return Ok(pair);
            }
            self.wait_until(Interest::READABLE, self.deadlines.read())
                .map_err(|e| e.during(Operation::Accept))?;
        }
    }

    /// Starts connecting (connect(2)). Returns `true` when connected at
    /// once, `false` when the connect is in progress: wait for
    /// [`Interest::WRITABLE`], then call
    /// [`finish_connect`](Socket::finish_connect).
    ///
    /// A UDP socket connects at once, as often as asked, to another peer
    /// each time, and from then on receives only from that peer: natively
    /// the kernel still hands out what others sent before the connect, so
    /// the receives that follow drop those datagrams (recvmsg(2) with the
    /// sender, and one getpeername(2) per call), until one finds the queue
    /// empty; after that a receive costs what it did before. Readiness may
    /// meanwhile be spurious: readable for a datagram that is then
    /// dropped. [`disconnect`](Socket::disconnect) dissolves the
    /// association.
    ///
    /// # Errors
    /// `connection-refused`, `host-unreachable`, `network-unreachable`,
    /// `timed-out`, `invalid-argument` (address family, not a peer: the
    /// WIT's "Destinations"), `access-denied` (datagram broadcast without
    /// `broadcast`), `already-connected`, `already-in-progress`.
    ///
    /// # References
    /// [connect(2)](https://man7.org/linux/man-pages/man2/connect.2.html)
    #[inline]
    pub fn start_connect(&self, addr: &SockAddr) -> Result<bool> {
        let kind = self.kind();
        self.unless_connect_failed(ErrorCode::InvalidState)
            .and_then(|()| state::check_remote(addr, kind, |name| self.option_on(name)))
            .and_then(|()| {
                let connected = self.inner.start_connect(&addr.raw).inspect_err(|e| {
                    self.state.note_connect_error(e);
                })?;
                self.state.note_address();
                if connected {
                    self.state.note_connected();
                    if matches!(kind, Some((Domain::Ipv4 | Domain::Ipv6, Type::Datagram))) {
                        self.inner.datagram_connected();
                    }
                }
                Ok(connected)
            })
            .map_err(|e| e.during(Operation::Connect).at(addr))
    }

    /// `Err(code)` once a connect on this socket has failed.
    #[inline]
    fn unless_connect_failed(&self, code: ErrorCode) -> Result<()> {
        if self.state.connect_failed() {
            Err(state::state_error(code))
        } else {
            Ok(())
        }
    }

    /// `not-connected` after a failed connect and for a datagram socket
    /// with no peer, before the kernel (Linux binds an unbound one to an
    /// ephemeral port even as it refuses the send, wasi:sockets does not);
    /// `shutdown` once this end shut its write half. One load.
    #[inline]
    fn unless_cannot_send(&self) -> Result<()> {
        // Shut by this end: `shutdown`, whatever else the connection went
        // through since (a kernel reports a reset first).
        match self.state.send_refusal() {
            Some(code) => Err(state::state_error(code)),
            None => Ok(()),
        }
    }

    /// Whether a bind turns SO_REUSEADDR on first: on TCP sockets, unless
    /// the caller set it (TCP binds are not held up by TIME_WAIT, as on
    /// wasi:sockets).
    fn implicit_reuse_address(&self) -> bool {
        matches!(
            self.kind(),
            Some((Domain::Ipv4 | Domain::Ipv6, Type::Stream))
        ) && !self.state.reuse_address_set()
    }

    /// A stream socket that has (had) a connection: an empty send there
    /// is answered without the kernel.
    #[cold]
    fn is_connected_stream(&self) -> bool {
        self.state.was_connected() && matches!(self.kind(), Some((_, Type::Stream)))
    }

    /// The sender of what a receive-from got: on a stream socket the peer,
    /// which the kernel does not report there (recvmsg(2) leaves the name
    /// empty on TCP).
    fn sender_or_peer(&self, sender: SockAddr) -> SockAddr {
        match self.kind() {
            Some((domain, Type::Stream)) => match self.inner.peer_addr() {
                Ok(raw) => SockAddr { raw },
                // The kernel forgot the peer (a reset): the unspecified
                // address of the family says so, on every backend.
                Err(_) => match domain {
                    Domain::Ipv6 => {
                        std::net::SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0)).into()
                    }
                    Domain::Ipv4 => {
                        std::net::SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0)).into()
                    }
                    _ => sender,
                },
            },
            _ => sender,
        }
    }

    /// What a receive returns once receives are over: end-of-stream after
    /// `shutdown(read)`, `not-connected` after a failed connect.
    #[cold]
    fn receives_over(&self) -> Result<usize> {
        self.unless_connect_failed(ErrorCode::NotConnected)
            .map(|()| 0)
            .map_err(|e| e.during(Operation::Receive))
    }

    /// `send-to` (and `send-batch`) on a stream socket: the WIT sends on a
    /// connected stream with `send`, and a stream needs a connection.
    #[cold]
    fn stream_send_to_error(&self) -> Error {
        // By what the socket went through, not by whether the kernel still
        // knows the peer (it forgets it at a reset; wasi:sockets does not).
        let code = if self.state.connect_failed() || !self.state.was_connected() {
            ErrorCode::NotConnected
        } else {
            ErrorCode::AlreadyConnected
        };
        Error::new(code).during(Operation::Send)
    }

    /// Whether a boolean option (`ipv6-only`, `broadcast`) is on, for the
    /// address checks of the few addresses that depend on one; false when
    /// the backend cannot read it.
    #[cold]
    pub(crate) fn option_on(&self, name: OptionName) -> bool {
        matches!(
            self.inner.option(name),
            Ok(SocketOption::Ipv6Only(true) | SocketOption::Broadcast(true))
        )
    }

    #[inline]
    pub(crate) fn is_stream(&self) -> bool {
        matches!(self.kind(), Some((_, Type::Stream)))
    }

    /// Finishes a connect started with
    /// [`start_connect`](Socket::start_connect): `true` once connected,
    /// `false` while in progress.
    ///
    /// # Errors
    /// The connect's own error; `invalid-state` if none was started.
    #[inline]
    pub fn finish_connect(&self) -> Result<bool> {
        self.unless_connect_failed(ErrorCode::InvalidState)
            .and_then(|()| {
                let connected = self.inner.finish_connect().inspect_err(|e| {
                    self.state.note_connect_error(e);
                })?;
                if connected {
                    self.state.note_connected();
                }
                Ok(connected)
            })
            .map_err(|e| e.during(Operation::Connect))
    }

    /// Connects, waiting until done whatever the socket's mode (until the
    /// write deadline if one is set).
    pub fn connect(&self, addr: &SockAddr) -> Result<()> {
        if self.start_connect(addr)? {
            return Ok(());
        }
        loop {
            self.wait_until(Interest::WRITABLE, self.deadlines.write())
                .map_err(|e| e.during(Operation::Connect).at(addr))?;
            if self.finish_connect().map_err(|e| e.at(addr))? {
                return Ok(());
            }
        }
    }

    /// Connects with a timeout, whatever the socket's mode.
    pub fn connect_timeout(&self, addr: &SockAddr, timeout: Duration) -> Result<()> {
        if self.start_connect(addr)? {
            return Ok(());
        }
        let deadline = Instant::now().checked_add(timeout);
        loop {
            self.wait_until(Interest::WRITABLE, deadline)
                .map_err(|e| e.during(Operation::Connect).at(addr))?;
            if self.finish_connect().map_err(|e| e.at(addr))? {
                return Ok(());
            }
        }
    }

    /// Dissolves a datagram socket's association (connect(2) with an
    /// address whose family is AF_UNSPEC): the socket forgets its peer and
    /// is what it was before its first connect, bound to the same local
    /// port.
    ///
    /// Afterwards it receives from every sender again, `send` is
    /// `not-connected` (as on a datagram socket that never connected),
    /// `send-to` sends to any destination, `remote-address` is
    /// `not-connected`, and it may connect again, to any peer. What others
    /// queued before its connect and no receive has dropped yet is
    /// received: nothing filters any more. On a datagram socket with no
    /// peer it does nothing and succeeds (the kernel is not asked: Linux
    /// would release an ephemeral port even then), so a second disconnect
    /// is `Ok` too.
    ///
    /// The local address: Linux releases an ephemeral port at a disconnect
    /// (one the socket was bound to explicitly it keeps), so witsock binds
    /// the socket to the same address and port again at once; the local
    /// IP is the one bound (the unspecified address of a socket bound to
    /// it, or bound by its connect), no longer the one it sent to the peer
    /// from. macOS keeps the port but resets the local IP to the
    /// unspecified address even of a socket bound to a specific one (BSD's
    /// `udp_disconnect` does), which witsock cannot undo (a bound socket
    /// cannot be bound again there): documented in `wit/sockets.wit`.
    ///
    /// A Unix datagram socket forgets its peer the same way; Linux also
    /// drops what was queued for it then and, if there was something and
    /// the old peer is connected back to it, that peer's next call reports
    /// `connection-reset` once.
    ///
    /// # Errors
    /// `operation-not-supported` on a stream or seqpacket socket (connect(2)
    /// with AF_UNSPEC would abort a TCP connection: refused before the
    /// kernel); `address-in-use` on Linux when another socket took the
    /// released port before witsock could bind it again: the socket is
    /// disconnected all the same, but no longer bound.
    ///
    /// # References
    /// [connect(2)](https://man7.org/linux/man-pages/man2/connect.2.html):
    /// "Connectionless sockets may dissolve the association by connecting
    /// to an address with the sa_family member of sockaddr set to
    /// AF_UNSPEC".
    #[doc(alias = "connect")]
    #[doc(alias = "AF_UNSPEC")]
    pub fn disconnect(&self) -> Result<()> {
        if !matches!(self.kind(), Some((_, Type::Datagram))) {
            return Err(
                state::state_error(ErrorCode::OperationNotSupported).during(Operation::Disconnect)
            );
        }
        if !self.state.was_connected() {
            return Ok(());
        }
        let result = self.inner.disconnect();
        // An error after the association was dissolved (the port taken
        // before the bind again) leaves it dissolved: ask.
        if result.is_ok() || self.inner.peer_addr().is_err() {
            self.state.note_disconnected();
        }
        result.map_err(|e| e.during(Operation::Disconnect))
    }

    /// Sends on a connected socket (send(2) with MSG_NOSIGNAL). Returns the
    /// bytes sent, possibly fewer than `buf.len()`. An empty `buf` on a
    /// stream socket that has a connection sends nothing and returns 0
    /// without asking the kernel, so it reports no error the connection
    /// already has (a reset), as on wasi:sockets, where an empty write
    /// cannot see one.
    ///
    /// # Errors
    /// `would-block`, `shutdown` (never SIGPIPE), `connection-reset`,
    /// `not-connected`, `message-size`; `timed-out` past the write deadline.
    ///
    /// # References
    /// [send(2)](https://man7.org/linux/man-pages/man2/send.2.html)
    #[inline]
    pub fn send(&self, buf: &[u8], flags: SendFlags) -> Result<usize> {
        self.unless_cannot_send()
            .map_err(|e| e.during(Operation::Send))?;
        if buf.is_empty() && self.is_connected_stream() {
            return Ok(0);
        }
        loop {
            match self.inner.send(buf, flags) {
                Err(e) if e.is_would_block() => self.wait_write(e, Operation::Send)?,
                r => return r.map_err(|e| e.during(Operation::Send)),
            }
        }
    }

    /// Receives into `buf` (recv(2)). `Ok(0)` on a stream socket with a
    /// non-empty buffer is end-of-stream. A connected UDP socket receives
    /// only from its peer (see [`start_connect`](Socket::start_connect)).
    ///
    /// # Errors
    /// `would-block`, `connection-reset`, `not-connected`; `timed-out` past
    /// the read deadline.
    ///
    /// # References
    /// [recv(2)](https://man7.org/linux/man-pages/man2/recv.2.html)
    #[inline]
    pub fn recv(&self, buf: &mut [u8], flags: RecvFlags) -> Result<usize> {
        if self.state.receives_over() {
            return self.receives_over();
        }
        loop {
            match self.inner.recv(buf, flags) {
                Err(e) if e.is_would_block() => self.wait_read(e, Operation::Receive)?,
                r => return r.map_err(|e| e.during(Operation::Receive)),
            }
        }
    }

    /// Sends a datagram to `addr` (sendto(2)).
    ///
    /// # Errors
    /// `would-block`, `message-size`, `access-denied` (broadcast without
    /// SO_BROADCAST), `invalid-argument` (address family, not a peer: the
    /// WIT's "Destinations").
    ///
    /// # References
    /// [sendto(2)](https://man7.org/linux/man-pages/man2/sendto.2.html)
    #[inline]
    pub fn send_to(&self, buf: &[u8], addr: &SockAddr, flags: SendFlags) -> Result<usize> {
        let kind = self.kind();
        if matches!(kind, Some((_, Type::Stream))) {
            return Err(self.stream_send_to_error().at(addr));
        }
        // A connected datagram socket sends only to its peer (Linux would
        // send anywhere, macOS nowhere; wasi:sockets sends to the peer).
        if self.state.was_connected() {
            return match self.inner.peer_addr() {
                Ok(peer) if SockAddr { raw: peer } == *addr => self.send(buf, flags),
                _ => Err(state::state_error(ErrorCode::AlreadyConnected)
                    .during(Operation::Send)
                    .at(addr)),
            };
        }
        state::check_remote(addr, kind, |name| self.option_on(name))
            .map_err(|e| e.during(Operation::Send).at(addr))?;
        loop {
            match self.inner.send_to(buf, &addr.raw, flags) {
                Err(e) if e.is_would_block() => self.wait_write(e, Operation::Send)?,
                r => return r.map_err(|e| e.during(Operation::Send).at(addr)),
            }
        }
    }

    /// Receives one datagram and its sender (recvmsg(2), so that truncation
    /// is reported in the same call). On a connected socket the sender is
    /// the peer (see [`start_connect`](Socket::start_connect)).
    ///
    /// # References
    /// [recvmsg(2)](https://man7.org/linux/man-pages/man2/recvmsg.2.html)
    #[inline]
    pub fn recv_from(&self, buf: &mut [u8], flags: RecvFlags) -> Result<RecvMeta> {
        if self.state.receives_over() {
            self.receives_over()?;
            return Ok(RecvMeta {
                len: 0,
                addr: self.peer_addr()?,
                truncated: false,
            });
        }
        loop {
            match self.inner.recv_from(buf, flags) {
                Err(e) if e.is_would_block() => self.wait_read(e, Operation::Receive)?,
                r => {
                    return r
                        .map(|(len, raw, truncated)| RecvMeta {
                            len,
                            addr: self.sender_or_peer(SockAddr { raw }),
                            truncated,
                        })
                        .map_err(|e| e.during(Operation::Receive))
                }
            }
        }
    }

    /// Sends several buffers as one (sendmsg(2)). `IoSlice` is laid out as
    /// `iovec`, so the buffers go to the kernel as they are, with no copy
    /// and no allocation, up to IOV_MAX (1024) buffers.
    ///
    /// # Errors
    /// As [`send`](Socket::send); `invalid-argument` past IOV_MAX buffers.
    #[inline]
    pub fn send_vectored(&self, bufs: &[IoSlice<'_>], flags: SendFlags) -> Result<usize> {
        if bufs.len() > IOV_MAX {
            return Err(Error::new(ErrorCode::InvalidArgument).during(Operation::Send));
        }
        self.unless_cannot_send()
            .map_err(|e| e.during(Operation::Send))?;
        if bufs.iter().all(|b| b.is_empty()) && self.is_connected_stream() {
            return Ok(0);
        }
        loop {
            match self.inner.send_vectored(bufs, flags) {
                Err(e) if e.is_would_block() => self.wait_write(e, Operation::Send)?,
                r => return r.map_err(|e| e.during(Operation::Send)),
            }
        }
    }

    /// Receives into several buffers (recvmsg(2)), up to IOV_MAX (1024)
    /// buffers.
    ///
    /// # Errors
    /// As [`recv`](Socket::recv); `invalid-argument` past IOV_MAX buffers.
    #[inline]
    pub fn recv_vectored(&self, bufs: &mut [IoSliceMut<'_>], flags: RecvFlags) -> Result<usize> {
        if bufs.len() > IOV_MAX {
            return Err(Error::new(ErrorCode::InvalidArgument).during(Operation::Receive));
        }
        if self.state.receives_over() {
            return self.receives_over();
        }
        loop {
            match self.inner.recv_vectored(bufs, flags) {
                Err(e) if e.is_would_block() => self.wait_read(e, Operation::Receive)?,
                r => return r.map_err(|e| e.during(Operation::Receive)),
            }
        }
    }

    /// Shuts down one or both halves (shutdown(2)).
    ///
    /// # Errors
    /// `not-connected`.
    #[inline]
    pub fn shutdown(&self, how: Shutdown) -> Result<()> {
        // Linux shuts an unconnected socket's halves even as it answers
        // ENOTCONN (a later receive is end-of-stream); a socket that never
        // had a connection is refused before the kernel sees it.
        if matches!(self.kind(), Some((_, Type::Datagram))) {
            return Err(
                state::state_error(ErrorCode::OperationNotSupported).during(Operation::Shutdown)
            );
        }
        if !self.state.was_connected() {
            return Err(state::state_error(ErrorCode::NotConnected).during(Operation::Shutdown));
        }
        self.unless_connect_failed(ErrorCode::NotConnected)
            .and_then(|()| match self.inner.shutdown(how) {
                // The connection ended (a reset): nothing left to shut.
                Err(e) if e.code() == ErrorCode::NotConnected => Ok(()),
                r => r,
            })
            .map_err(|e| e.during(Operation::Shutdown))?;
        // Kernels keep handing out what was queued (Linux), or a backend
        // what it read ahead (wasi-p2): the WIT says no more receives.
        if how != Shutdown::Write {
            self.state.shut_read();
        }
        if how != Shutdown::Read {
            self.state.shut_write();
        }
        Ok(())
    }

    /// The local address (getsockname(2)).
    ///
    /// # Errors
    /// `invalid-state` on an IP socket that is not bound.
    #[inline]
    pub fn local_addr(&self) -> Result<SockAddr> {
        self.unless_connect_failed(ErrorCode::InvalidState)
            .and_then(|()| self.inner.local_addr())
            .map(|raw| SockAddr { raw })
            .map_err(|e| e.during(Operation::LocalAddress))
    }

    /// The peer's address (getpeername(2)).
    ///
    /// # Errors
    /// `not-connected`.
    #[inline]
    pub fn peer_addr(&self) -> Result<SockAddr> {
        self.unless_connect_failed(ErrorCode::NotConnected)
            .and_then(|()| self.inner.peer_addr())
            .map(|raw| SockAddr { raw })
            .map_err(|e| e.during(Operation::RemoteAddress))
    }

    /// Sets an option (setsockopt(2)) after checking its value, that it
    /// exists on this kind of socket, and the socket's state.
    ///
    /// The checks come in this order, the same on every backend (the
    /// "Options" section of `wit/sockets.wit`): the value
    /// (`invalid-argument`, read-only options included), the kind of socket
    /// (`option-not-supported` for an option of another protocol or
    /// family, see [`OptionName`]), then the state (`ipv6-only` once the
    /// socket has an address is `invalid-state`).
    ///
    /// # Errors
    /// `invalid-argument` (zero, out of range, read only),
    /// `option-not-supported` (the backend or this kind of socket lacks
    /// it), `invalid-state` (`ipv6-only` after bind, listen or connect),
    /// `address-not-available` (leaving a group not joined).
    #[inline]
    pub fn set_option(&self, option: SocketOption) -> Result<()> {
        option.validate()?;
        let name = option.name();
        self.option_exists(name)
            .and_then(|()| match name {
                OptionName::Ipv6Only if self.has_address() => {
                    Err(state::state_error(ErrorCode::InvalidState))
                }
                // A socket whose connect failed can only be closed
                // (wasi:sockets hosts close it at once).
                _ => self.unless_connect_failed(ErrorCode::InvalidState),
            })
            .and_then(|()| self.inner.set_option(&option))
            .inspect(|()| {
                if name == OptionName::ReuseAddress {
                    self.state.note_reuse_address_set();
                }
            })
            .map_err(|e| e.during(Operation::SetOption(name)))
    }

    /// Reads an option (getsockopt(2)).
    ///
    /// # Errors
    /// `invalid-argument` for the write-only options (whatever the
    /// socket), then `option-not-supported` (the backend or this kind of
    /// socket lacks it).
    #[inline]
    pub fn option(&self, name: OptionName) -> Result<SocketOption> {
        if name.is_write_only() {
            return Err(Error::new(ErrorCode::InvalidArgument).during(Operation::GetOption(name)));
        }
        self.option_exists(name)
            .and_then(|()| match name {
                // Answered from what witsock knows of the socket.
                OptionName::Error | OptionName::SocketType | OptionName::Ipv6Only => Ok(()),
                _ => self.unless_connect_failed(ErrorCode::InvalidState),
            })
            .and_then(|()| self.inner.option(name))
            .map_err(|e| e.during(Operation::GetOption(name)))
    }

    /// What the kernel knows of this TCP socket's connection: the
    /// `tcp-info` option (getsockopt(2) TCP_INFO, TCP_CONNECTION_INFO on
    /// macOS), typed.
    ///
    /// # Errors
    /// As [`option`](Socket::option): `option-not-supported` on a socket
    /// that is not a stream socket, or where the backend lacks it.
    ///
    /// # References
    /// - [Linux `tcp(7)`](https://man7.org/linux/man-pages/man7/tcp.7.html)
    #[doc(alias = "TCP_INFO")]
    #[inline]
    pub fn tcp_info(&self) -> Result<crate::TcpInfo> {
        match self.option(OptionName::TcpInfo)? {
            SocketOption::TcpInfo(info) => Ok(info),
            // Every backend answers `tcp-info` with its own case.
            _ => {
                Err(Error::new(ErrorCode::Other).during(Operation::GetOption(OptionName::TcpInfo)))
            }
        }
    }

    /// `option-not-supported` unless `name` exists on this kind of socket.
    #[inline]
    fn option_exists(&self, name: OptionName) -> Result<()> {
        match self.kind() {
            Some((domain, ty)) if !name.applies_to(domain, ty) => {
                Err(state::state_error(ErrorCode::OptionNotSupported))
            }
            _ => Ok(()),
        }
    }

    /// Whether the socket has a local address, or had one: bound,
    /// listening, connecting or connected, or after a failed connect (an
    /// adopted descriptor is asked).
    #[cold]
    fn has_address(&self) -> bool {
        self.state.had_address() || self.inner.local_addr().is_ok()
    }

    /// Takes the pending error (SO_ERROR), if any.
    pub fn take_error(&self) -> Result<Option<Error>> {
        match self.option(OptionName::Error)? {
            SocketOption::Error(e) => Ok(e),
            _ => Err(Error::new(ErrorCode::Other).during(Operation::GetOption(OptionName::Error))),
        }
    }

    /// Waits until the socket is ready for `interest`, at most `timeout`
    /// (None: forever). Returns the empty set on timeout (poll(2)).
    ///
    /// Readable on a UDP socket just connected may be for a datagram from
    /// another sender, queued before the connect, that the next receive
    /// drops and then reports would-block.
    #[inline]
    pub fn wait(&self, interest: Interest, timeout: Option<Duration>) -> Result<Readiness> {
        self.inner
            .wait(interest, timeout)
            .map_err(|e| e.during(Operation::Wait))
    }

    /// Sets the read deadline for receives and accepts on a non-blocking
    /// socket; `None` clears it.
    #[inline]
    pub fn set_read_deadline(&self, deadline: Option<Instant>) {
        self.deadlines.set_read(deadline);
    }

    /// Sets the write deadline for sends and connects on a non-blocking
    /// socket; `None` clears it.
    #[inline]
    pub fn set_write_deadline(&self, deadline: Option<Instant>) {
        self.deadlines.set_write(deadline);
    }

    /// The read deadline.
    #[inline]
    pub fn read_deadline(&self) -> Option<Instant> {
        self.deadlines.read()
    }

    /// The write deadline.
    #[inline]
    pub fn write_deadline(&self) -> Option<Instant> {
        self.deadlines.write()
    }

    #[cold]
    fn wait_read(&self, would_block: Error, op: Operation) -> Result<()> {
        self.wait_deadline(would_block, Interest::READABLE, self.deadlines.read(), op)
    }

    #[cold]
    fn wait_write(&self, would_block: Error, op: Operation) -> Result<()> {
        self.wait_deadline(would_block, Interest::WRITABLE, self.deadlines.write(), op)
    }

    /// After a would-block: without a deadline, hands the would-block back
    /// (with its native code); with one, waits until ready or the deadline
    /// passes.
    fn wait_deadline(
        &self,
        would_block: Error,
        interest: Interest,
        deadline: Option<Instant>,
        op: Operation,
    ) -> Result<()> {
        match deadline {
            None => Err(would_block.during(op)),
            Some(d) => self.wait_until(interest, Some(d)).map_err(|e| e.during(op)),
        }
    }

    /// Waits for `interest` until `deadline` (None: forever); `timed-out`
    /// once it has passed.
    fn wait_until(&self, interest: Interest, deadline: Option<Instant>) -> Result<()> {
        loop {
            let timeout = match deadline {
                None => None,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Err(Error::new(ErrorCode::TimedOut)),
                },
            };
            if !self.inner.wait(interest, timeout)?.is_empty() {
                return Ok(());
            }
        }
    }
}

impl io::Read for Socket {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.recv(buf, RecvFlags::EMPTY)?)
    }

    #[inline]
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        Ok(self.recv_vectored(bufs, RecvFlags::EMPTY)?)
    }
}

impl io::Read for &Socket {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.recv(buf, RecvFlags::EMPTY)?)
    }
}

impl io::Write for Socket {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(self.send(buf, SendFlags::EMPTY)?)
    }

    #[inline]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Ok(self.send_vectored(bufs, SendFlags::EMPTY)?)
    }

    #[inline]
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl io::Write for &Socket {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(self.send(buf, SendFlags::EMPTY)?)
    }

    #[inline]
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
