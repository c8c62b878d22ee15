//! The native backend for Linux and macOS: raw syscalls through `libc`.
//!
//! What the two kernels share lives here; where they differ (socket
//! creation flags, accept4, SIGPIPE suppression, option numbers, errno
//! values) the platform module chosen below provides it.

use core::mem;
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;
use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::{
    Capabilities, Domain, Error, ErrorCode, Interest, Protocol, Readiness, RecvFlags, Result,
    SendFlags, Shutdown, Type,
};

mod addr;
mod batch;
mod errno;
mod hint;
mod options;
pub(crate) mod resolve;

pub(crate) use self::addr::RawAddr;
pub use self::errno::{errno_name, error_code, ERRNO_NAMES};
pub(crate) use self::hint::hint;

/// Raw codes here are errnos.
pub(crate) const RAW_CODE_KIND: &str = "errno";

cfg_if::cfg_if! {
    if #[cfg(any(target_os = "linux", target_os = "android"))] {
        mod linux;
        use self::linux as platform;
    } else {
        mod apple;
        use self::apple as platform;
    }
}

/// The errno of the last failed call.
#[inline]
fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The last error with its portable code replaced, keeping the errno.
#[inline]
fn last_error_as(code: ErrorCode) -> Error {
    Error::with_raw(code, errno())
}

/// Runs a syscall that returns -1 on error, retrying EINTR.
#[inline]
fn cvt_retry<T: PartialEq + From<i8>>(mut call: impl FnMut() -> T) -> core::result::Result<T, i32> {
    loop {
        let r = call();
        if r != T::from(-1) {
            return Ok(r);
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// A native socket: the descriptor, closed on drop.
#[derive(Debug)]
pub(crate) struct Socket {
    fd: OwnedFd,
    /// Whether datagrams from others than the peer may still be queued on
    /// a connected UDP socket (see [`Socket::datagram_connected`]): the
    /// low bit is set while they may be; the other bits count connects,
    /// so that a receive that found the queue empty clears the bit only
    /// if no connect came in between.
    queued_before_connect: AtomicU32,
}

/// The low bit of `queued_before_connect`.
const FILTERING: u32 = 1;

/// Whether a datagram from `from` comes from `peer`: the same IP and port
/// (flow label and scope are not part of who sent it).
#[inline]
fn same_endpoint(peer: SocketAddr, from: SocketAddr) -> bool {
    peer.ip() == from.ip() && peer.port() == from.port()
}

fn domain_raw(domain: Domain) -> libc::c_int {
    match domain {
        Domain::Ipv4 => libc::AF_INET,
        Domain::Ipv6 => libc::AF_INET6,
        Domain::Unix => libc::AF_UNIX,
    }
}

fn type_raw(ty: Type) -> libc::c_int {
    match ty {
        Type::Stream => libc::SOCK_STREAM,
        Type::Datagram => libc::SOCK_DGRAM,
        Type::SeqPacket => libc::SOCK_SEQPACKET,
    }
}

fn protocol_raw(protocol: Option<Protocol>) -> libc::c_int {
    match protocol {
        None => 0,
        Some(Protocol::Tcp) => libc::IPPROTO_TCP,
        Some(Protocol::Udp) => libc::IPPROTO_UDP,
    }
}

#[inline]
fn send_flags(flags: SendFlags) -> libc::c_int {
    let mut raw = platform::SEND_FLAGS;
    if flags.is_out_of_band() {
        raw |= libc::MSG_OOB;
    }
    if flags.is_dont_route() {
        raw |= libc::MSG_DONTROUTE;
    }
    raw
}

#[inline]
fn recv_flags(flags: RecvFlags) -> libc::c_int {
    let mut raw = 0;
    if flags.is_peek() {
        raw |= libc::MSG_PEEK;
    }
    if flags.is_wait_all() {
        raw |= libc::MSG_WAITALL;
    }
    if flags.is_out_of_band() {
        raw |= libc::MSG_OOB;
    }
    raw
}

/// Wraps a descriptor the kernel just returned.
///
/// # Safety
/// `fd` must be a valid, open descriptor that nothing else owns.
#[inline]
unsafe fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: guaranteed by the caller.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

impl Socket {
    #[inline]
    pub(crate) fn from_fd(fd: OwnedFd) -> Socket {
        Socket {
            fd,
            queued_before_connect: AtomicU32::new(0),
        }
    }

    #[inline]
    pub(crate) fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    #[inline]
    pub(crate) fn into_fd(self) -> OwnedFd {
        self.fd
    }

    #[inline]
    fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub(crate) fn new(
        domain: Domain,
        ty: Type,
        protocol: Option<Protocol>,
        nonblocking: bool,
    ) -> Result<Socket> {
        platform::socket(
            domain_raw(domain),
            type_raw(ty),
            protocol_raw(protocol),
            nonblocking,
        )
        .map(Socket::from_fd)
    }

    pub(crate) fn pair(ty: Type, nonblocking: bool) -> Result<(Socket, Socket)> {
        let (a, b) = platform::socketpair(type_raw(ty), nonblocking)?;
        Ok((Socket::from_fd(a), Socket::from_fd(b)))
    }

    pub(crate) fn set_nonblocking(&self, nonblocking: bool) -> Result<()> {
        set_nonblocking(self.raw(), nonblocking)
    }

    /// bind(2); with `reuse_address`, SO_REUSEADDR first (a TCP bind is
    /// not held up by TIME_WAIT).
    pub(crate) fn bind(&self, addr: &RawAddr, reuse_address: bool) -> Result<()> {
        if reuse_address {
            self.reuse_address();
        }
        let (ptr, len) = addr.as_ptr();
        // SAFETY: ptr/len describe a live sockaddr of `len` bytes.
        match cvt_retry(|| unsafe { libc::bind(self.raw(), ptr, len) }) {
            Ok(_) => Ok(()),
            Err(libc::EINVAL) => Err(self.classify_einval(addr)),
            Err(libc::EAFNOSUPPORT) => Err(Error::with_raw(
                ErrorCode::InvalidArgument,
                libc::EAFNOSUPPORT,
            )),
            Err(e) => Err(Error::from_raw_os_error(e)),
        }
    }

    /// bind(2) says EINVAL both for "already bound" and for an address of
    /// the wrong size; the WIT tells them apart, so look at the socket.
    #[cold]
    fn classify_einval(&self, addr: &RawAddr) -> Error {
        let code = match self.getname(libc::getsockname) {
            Ok(local) if local.raw_family() != addr.raw_family() => ErrorCode::InvalidArgument,
            Ok(local) if local.as_socket().is_some_and(|a| a.port() != 0) => {
                ErrorCode::InvalidState
            }
            Ok(local) if local.as_unix_path().is_some() || local.as_abstract_name().is_some() => {
                ErrorCode::InvalidState
            }
            _ => ErrorCode::InvalidArgument,
        };
        Error::with_raw(code, libc::EINVAL)
    }

    /// listen(2); with `reuse_address` (an unbound TCP socket, which the
    /// listen binds), SO_REUSEADDR first, as `bind` does.
    pub(crate) fn listen(&self, backlog: i32, reuse_address: bool) -> Result<()> {
        if reuse_address {
            self.reuse_address();
        }
        // SAFETY: plain syscall on an owned descriptor.
        match cvt_retry(|| unsafe { libc::listen(self.raw(), backlog) }) {
            Ok(_) => Ok(()),
            // Linux: listen on a connected socket.
            Err(libc::EINVAL) => Err(Error::with_raw(ErrorCode::InvalidState, libc::EINVAL)),
            Err(e) => Err(Error::from_raw_os_error(e)),
        }
    }

    #[inline]
    pub(crate) fn try_accept(&self) -> Result<Option<(Socket, RawAddr)>> {
        loop {
            let mut peer = RawAddr::zeroed();
            match platform::accept(self.raw(), &mut peer) {
                Ok(fd) => return Ok(Some((Socket::from_fd(fd), peer))),
                Err(libc::EAGAIN) => return Ok(None),
                // The connection died in the queue; another may be waiting.
                Err(libc::ECONNABORTED) | Err(libc::EPROTO) => continue,
                // Linux: accept on a socket that is not listening.
                Err(libc::EINVAL) => {
                    return Err(Error::with_raw(ErrorCode::InvalidState, libc::EINVAL))
                }
                Err(e) => return Err(Error::from_raw_os_error(e)),
            }
        }
    }

    pub(crate) fn start_connect(&self, addr: &RawAddr) -> Result<bool> {
        let (ptr, len) = addr.as_ptr();
        // SAFETY: ptr/len describe a live sockaddr of `len` bytes.
        let r = unsafe { libc::connect(self.raw(), ptr, len) };
        if r == 0 {
            return Ok(true);
        }
        match errno() {
            libc::EINPROGRESS => Ok(false),
            // An interrupted connect goes on in the background.
            libc::EINTR => Ok(false),
            libc::EAFNOSUPPORT | libc::EINVAL => Err(last_error_as(ErrorCode::InvalidArgument)),
            // A Unix path with no socket behind it: nobody listens there.
            libc::ENOENT => Err(last_error_as(ErrorCode::ConnectionRefused)),
            e => Err(Error::from_raw_os_error(e)),
        }
    }

    pub(crate) fn finish_connect(&self) -> Result<bool> {
        if let Some(e) = self.so_error()? {
            return Err(e);
        }
        match self.getname(libc::getpeername) {
            Ok(peer) => {
                self.settle_connect(&peer);
                Ok(true)
            }
            Err(e) if e.code() == ErrorCode::NotConnected => {
                // Either still connecting (not yet writable) or never
                // started; a listener is never writable either, and no
                // connect can be started on it.
                let ready = self.wait(Interest::WRITABLE, Some(Duration::ZERO))?;
                if ready.is_writable() || ready.is_hang_up() || self.is_listening() {
                    Err(Error::with_raw(ErrorCode::InvalidState, libc::ENOTCONN))
                } else {
                    Ok(false)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Linux leaves a socket whose non-blocking connect completed in its
    /// "connecting" state until connect(2) is called again, and that call
    /// then succeeds whatever the address; calling it once now (it returns
    /// 0) makes a later start-connect fail with `already-connected`, as the
    /// WIT says. Other kernels already answer EISCONN.
    #[cold]
    fn settle_connect(&self, peer: &RawAddr) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let (ptr, len) = peer.as_ptr();
            // SAFETY: ptr/len describe a live sockaddr of `len` bytes; the
            // result is deliberately ignored (the connect is done).
            let _ = unsafe { libc::connect(self.raw(), ptr, len) };
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = peer;
    }

    /// The error of a failed send. Linux answers EPIPE for a send on a TCP
    /// socket that never connected (fresh, bound or listening), where the
    /// WIT says `not-connected`; SO_PEERNAME (unlike getpeername(2)) still
    /// finds the peer of a connection that has since closed, so only a
    /// socket that never had a peer becomes `not-connected`.
    #[cold]
    fn send_error(&self, send_errno: i32) -> Error {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if send_errno == libc::EPIPE {
            /// SO_PEERNAME, 28 on every Linux architecture (not in libc).
            const SO_PEERNAME: libc::c_int = 28;
            // Any length up to the peer address's will do: only ENOTCONN
            // (no peer at all) matters.
            let mut addr = RawAddr::zeroed();
            let (ptr, _) = addr.as_mut_ptr();
            let mut len = mem::size_of::<libc::sa_family_t>() as libc::socklen_t;
            // SAFETY: ptr points at a sockaddr_storage, larger than `len`.
            let r = unsafe {
                libc::getsockopt(
                    self.raw(),
                    libc::SOL_SOCKET,
                    SO_PEERNAME,
                    ptr.cast(),
                    &mut len,
                )
            };
            if r == -1 && errno() == libc::ENOTCONN {
                return Error::with_raw(ErrorCode::NotConnected, send_errno);
            }
        }
        Error::from_raw_os_error(send_errno)
    }

    /// Whether the socket listens (SO_ACCEPTCONN); false when that cannot
    /// be read.
    /// SO_REUSEADDR on, before a bind; as with wasmtime's, a failure
    /// leaves the bind to answer.
    fn reuse_address(&self) {
        let _ = options::setsockopt(
            self.raw(),
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            1 as libc::c_int,
        );
    }

    fn is_listening(&self) -> bool {
        options::getsockopt::<libc::c_int>(self.raw(), libc::SOL_SOCKET, libc::SO_ACCEPTCONN)
            .is_ok_and(|on| on != 0)
    }

    pub(crate) fn so_error(&self) -> Result<Option<Error>> {
        let raw: libc::c_int = options::getsockopt(self.raw(), libc::SOL_SOCKET, libc::SO_ERROR)?;
        Ok((raw != 0).then(|| Error::from_raw_os_error(raw)))
    }

    #[inline]
    pub(crate) fn send(&self, buf: &[u8], flags: SendFlags) -> Result<usize> {
        let flags = send_flags(flags);
        // SAFETY: buf is a live slice of buf.len() bytes.
        cvt_retry(|| unsafe { libc::send(self.raw(), buf.as_ptr().cast(), buf.len(), flags) })
            .map(|n| n as usize)
            .map_err(|e| self.send_error(e))
    }

    #[inline]
    pub(crate) fn recv(&self, buf: &mut [u8], flags: RecvFlags) -> Result<usize> {
        let flags = recv_flags(flags);
        if self.filtering() {
            let mut iov = [IoSliceMut::new(&mut *buf)];
            if let Some((n, _, _)) = self.recv_from_peer(&mut iov, flags)? {
                return Ok(n);
            }
        }
        // SAFETY: buf is a live, writable slice of buf.len() bytes.
        cvt_retry(|| unsafe { libc::recv(self.raw(), buf.as_mut_ptr().cast(), buf.len(), flags) })
            .map(|n| n as usize)
            .map_err(Error::from_raw_os_error)
    }

    #[inline]
    pub(crate) fn send_to(&self, buf: &[u8], addr: &RawAddr, flags: SendFlags) -> Result<usize> {
        let flags = send_flags(flags);
        let (ptr, len) = addr.as_ptr();
        // SAFETY: buf and the address are live for the call.
        cvt_retry(|| unsafe {
            libc::sendto(self.raw(), buf.as_ptr().cast(), buf.len(), flags, ptr, len)
        })
        .map(|n| n as usize)
        .map_err(|e| match e {
            libc::EAFNOSUPPORT => Error::with_raw(ErrorCode::InvalidArgument, e),
            e => Error::from_raw_os_error(e),
        })
    }

    #[inline]
    pub(crate) fn recv_from(
        &self,
        buf: &mut [u8],
        flags: RecvFlags,
    ) -> Result<(usize, RawAddr, bool)> {
        let flags = recv_flags(flags);
        let mut iov = [IoSliceMut::new(buf)];
        if self.filtering() {
            if let Some((n, peer, msg_flags)) = self.recv_from_peer(&mut iov, flags)? {
                return Ok((n, peer, msg_flags & libc::MSG_TRUNC != 0));
            }
        }
        let mut peer = RawAddr::zeroed();
        let (n, msg_flags) = self.recvmsg(&mut iov, Some(&mut peer), flags)?;
        Ok((n, peer, msg_flags & libc::MSG_TRUNC != 0))
    }

    #[inline]
    pub(crate) fn send_vectored(&self, bufs: &[IoSlice<'_>], flags: SendFlags) -> Result<usize> {
        // SAFETY: msghdr is plain old data; all zeroes is an empty message.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        // IoSlice is guaranteed to be ABI-compatible with iovec on unix.
        msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = bufs.len() as _;
        let flags = send_flags(flags);
        // SAFETY: msg points at `bufs`, which outlives the call; the kernel
        // only reads the buffers.
        cvt_retry(|| unsafe { libc::sendmsg(self.raw(), &msg, flags) })
            .map(|n| n as usize)
            .map_err(|e| self.send_error(e))
    }

    #[inline]
    pub(crate) fn recv_vectored(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        flags: RecvFlags,
    ) -> Result<usize> {
        let flags = recv_flags(flags);
        if self.filtering() {
            if let Some((n, _, _)) = self.recv_from_peer(bufs, flags)? {
                return Ok(n);
            }
        }
        self.recvmsg(bufs, None, flags).map(|(n, _)| n)
    }

    /// Called once a UDP socket is connected (again, maybe to another
    /// peer). The kernel drops datagrams from anyone else from then on,
    /// but hands out those already queued; the WIT says a connected socket
    /// receives only from its peer, so receives drop those, until one
    /// finds the queue empty.
    #[inline]
    pub(crate) fn datagram_connected(&self) {
        // A new count, with the flag set; a connect is no hot path.
        let next = |v: u32| Some((v | FILTERING).wrapping_add(2));
        let _ = self
            .queued_before_connect
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, next);
    }

    /// Dissolves a connected datagram socket's association: one connect(2)
    /// with an address whose family is AF_UNSPEC (the portable layer only
    /// calls this on a datagram socket with a peer). Receives stop
    /// filtering: what others queued before the connect is theirs again.
    ///
    /// Linux releases the port of a socket not bound to an explicit one
    /// (`__udp_disconnect` unhashes it unless SOCK_BINDPORT_LOCK is set),
    /// and resets a local IP the socket was not bound to explicitly to the
    /// unspecified address; the socket is then bound again at once to that
    /// IP and its old port (now explicit, so the next disconnect keeps it).
    ///
    /// macOS first disconnects the socket (`soconnectlock` calls
    /// `sodisconnectlocked` on a connected datagram socket whatever the
    /// address), then hands the AF_UNSPEC address to the protocol's
    /// connect, which refuses it: EAFNOSUPPORT (IPv4: `in_pcbladdr`),
    /// EINVAL (IPv6: the length), or ENOENT (Unix: `unp_connect` takes
    /// family 0 and looks up the empty path). Those mean success there
    /// once getpeername(2) confirms the peer is gone; the port stays, the
    /// local IP becomes the unspecified address (`udp_disconnect` resets
    /// it).
    pub(crate) fn disconnect(&self) -> Result<()> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let before = self.getname(libc::getsockname)?;
        // SAFETY: sockaddr is plain old data; all zeroes is family
        // AF_UNSPEC.
        let mut unspec: libc::sockaddr = unsafe { mem::zeroed() };
        unspec.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
        #[cfg(target_vendor = "apple")]
        {
            unspec.sa_len = mem::size_of::<libc::sockaddr>() as u8;
        }
        let len = mem::size_of::<libc::sockaddr>() as libc::socklen_t;
        // SAFETY: `unspec` is a live sockaddr of `len` bytes.
        match cvt_retry(|| unsafe { libc::connect(self.raw(), &unspec, len) }) {
            Ok(_) => {}
            #[cfg(target_vendor = "apple")]
            Err(libc::EAFNOSUPPORT | libc::EINVAL | libc::ENOENT)
                if self
                    .getname(libc::getpeername)
                    .is_err_and(|e| e.code() == ErrorCode::NotConnected) => {}
            Err(e) => return Err(Error::from_raw_os_error(e)),
        }
        self.stop_filtering();
        #[cfg(any(target_os = "linux", target_os = "android"))]
        self.bind_again(&before)?;
        Ok(())
    }

    /// Receives stop dropping other senders' datagrams: a new count, with
    /// the flag clear, so that a receive filtering meanwhile sets nothing.
    fn stop_filtering(&self) {
        let next = |v: u32| Some((v & !FILTERING).wrapping_add(2));
        let _ = self
            .queued_before_connect
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, next);
    }

    /// After a disconnect on Linux: binds the socket again to its old port
    /// if the kernel released it, on the IP it is left with (the one it
    /// was bound to, or the unspecified address); `before` is its address
    /// while connected, whose scope id an IPv6 address it keeps still
    /// needs.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn bind_again(&self, before: &RawAddr) -> Result<()> {
        let Some(before) = before.as_socket().filter(|a| a.port() != 0) else {
            // A Unix socket: its name, if any, is not released.
            return Ok(());
        };
        let after = self.getname(libc::getsockname)?;
        let Some(mut again) = after.as_socket().filter(|a| a.port() == 0) else {
            return Ok(());
        };
        if again.ip() == before.ip() {
            again = before;
        } else {
            again.set_port(before.port());
        }
        self.bind(&RawAddr::from_socket(&again), false)
    }

    /// Whether receives must look at each sender: one load, the whole cost
    /// on the normal path.
    #[inline]
    fn filtering(&self) -> bool {
        self.queued_before_connect.load(Ordering::Relaxed) & FILTERING != 0
    }

    /// A receive while datagrams queued before a connect may be left
    /// ([`datagram_connected`](Socket::datagram_connected)): recvmsg(2)
    /// with MSG_DONTWAIT and the sender, dropping datagrams from others
    /// than the peer, until one from the peer comes (returned with its
    /// sender and message flags; a peek leaves it queued).
    ///
    /// `Ok(None)` once the queue is empty: what was queued before the
    /// connect is gone, the flag is cleared, and the caller receives the
    /// normal way (waiting there, on a blocking socket). A peeked datagram
    /// from someone else is taken off the queue before looking further (a
    /// receive on another thread between the two may lose its own
    /// datagram to that; receives racing on one socket share its queue
    /// anyway).
    ///
    /// Costs one getpeername(2) per call that receives something; nothing
    /// is allocated.
    #[cold]
    #[inline(never)]
    fn recv_from_peer(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        flags: libc::c_int,
    ) -> Result<Option<(usize, RawAddr, libc::c_int)>> {
        let pending = self.queued_before_connect.load(Ordering::Relaxed);
        if pending & FILTERING == 0 {
            return Ok(None);
        }
        // Asked once the first datagram is in: None when there is no IP
        // peer to compare with, and then nothing is dropped.
        let mut peer: Option<Option<SocketAddr>> = None;
        loop {
            let mut from = RawAddr::zeroed();
            let (n, msg_flags) =
                match self.recvmsg(bufs, Some(&mut from), flags | libc::MSG_DONTWAIT) {
                    Ok(received) => received,
                    Err(e) if e.is_would_block() => {
                        // Unless a connect came meanwhile (then its own
                        // count is there and stays).
                        let _ = self.queued_before_connect.compare_exchange(
                            pending,
                            pending & !FILTERING,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        );
                        return Ok(None);
                    }
                    Err(e) => return Err(e),
                };
            let peer = *peer.get_or_insert_with(|| {
                self.getname(libc::getpeername)
                    .ok()
                    .and_then(|p| p.as_socket())
            });
            match (peer, from.as_socket()) {
                (Some(peer), Some(sender)) if !same_endpoint(peer, sender) => {
                    if flags & libc::MSG_PEEK != 0 {
                        // Take the peeked datagram off the queue (a
                        // zero-length receive drops a whole datagram).
                        let _ = self.recvmsg(&mut [], None, libc::MSG_DONTWAIT);
                    }
                }
                _ => return Ok(Some((n, from, msg_flags))),
            }
        }
    }

    /// recvmsg(2) into `bufs`, optionally with the sender; returns the
    /// length and the message flags.
    #[inline]
    fn recvmsg(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        peer: Option<&mut RawAddr>,
        flags: libc::c_int,
    ) -> Result<(usize, libc::c_int)> {
        // SAFETY: msghdr is plain old data; all zeroes is an empty message.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        // IoSliceMut is guaranteed to be ABI-compatible with iovec on unix.
        msg.msg_iov = bufs.as_mut_ptr().cast::<libc::iovec>();
        msg.msg_iovlen = bufs.len() as _;
        let mut name_len_out = None;
        if let Some(peer) = peer {
            let (name, len) = peer.as_mut_ptr();
            msg.msg_name = name.cast();
            // SAFETY: len points into `peer`, which is live.
            msg.msg_namelen = unsafe { *len };
            name_len_out = Some(len);
        }
        // SAFETY: msg points at live buffers and address storage that
        // outlive the call.
        let n = cvt_retry(|| unsafe { libc::recvmsg(self.raw(), &mut msg, flags) })
            .map_err(Error::from_raw_os_error)?;
        if let Some(len) = name_len_out {
            // SAFETY: len still points into the caller's live RawAddr.
            unsafe { *len = msg.msg_namelen };
        }
        Ok((n as usize, msg.msg_flags))
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> Result<()> {
        let how = match how {
            Shutdown::Read => libc::SHUT_RD,
            Shutdown::Write => libc::SHUT_WR,
            Shutdown::Both => libc::SHUT_RDWR,
        };
        // SAFETY: plain syscall on an owned descriptor.
        cvt_retry(|| unsafe { libc::shutdown(self.raw(), how) })
            .map(drop)
            .map_err(Error::from_raw_os_error)
    }

    fn getname(
        &self,
        call: unsafe extern "C" fn(
            libc::c_int,
            *mut libc::sockaddr,
            *mut libc::socklen_t,
        ) -> libc::c_int,
    ) -> Result<RawAddr> {
        let mut addr = RawAddr::zeroed();
        let (ptr, len) = addr.as_mut_ptr();
        // SAFETY: ptr/len point into `addr`, sized sockaddr_storage.
        cvt_retry(|| unsafe { call(self.raw(), ptr, len) }).map_err(Error::from_raw_os_error)?;
        Ok(addr)
    }

    pub(crate) fn local_addr(&self) -> Result<RawAddr> {
        let addr = self.getname(libc::getsockname)?;
        // The kernel reports an unbound IP socket as port 0; the WIT says
        // that is not an address.
        if addr.as_socket().is_some_and(|a| a.port() == 0) {
            return Err(Error::new(ErrorCode::InvalidState));
        }
        Ok(addr)
    }

    pub(crate) fn peer_addr(&self) -> Result<RawAddr> {
        self.getname(libc::getpeername)
    }

    /// The family and type, from the kernel (for an adopted descriptor).
    pub(crate) fn kind(&self) -> Option<(Domain, Type)> {
        let domain = match self.family().ok()? {
            libc::AF_INET => Domain::Ipv4,
            libc::AF_INET6 => Domain::Ipv6,
            libc::AF_UNIX => Domain::Unix,
            _ => return None,
        };
        let ty =
            match options::getsockopt::<libc::c_int>(self.raw(), libc::SOL_SOCKET, libc::SO_TYPE)
                .ok()?
            {
                libc::SOCK_STREAM => Type::Stream,
                libc::SOCK_DGRAM => Type::Datagram,
                libc::SOCK_SEQPACKET => Type::SeqPacket,
                _ => return None,
            };
        Some((domain, ty))
    }

    /// The socket's family, from the kernel.
    pub(crate) fn family(&self) -> Result<libc::c_int> {
        Ok(self.getname(libc::getsockname)?.raw_family() as libc::c_int)
    }

    pub(crate) fn set_option(&self, option: &crate::SocketOption) -> Result<()> {
        options::set_option(self, option)
    }

    pub(crate) fn option(&self, name: crate::OptionName) -> Result<crate::SocketOption> {
        options::get_option(self, name)
    }

    pub(crate) fn wait(&self, interest: Interest, timeout: Option<Duration>) -> Result<Readiness> {
        let mut entry = [PollEntry::new(self, interest)];
        poll(&mut entry, timeout)?;
        Ok(entry[0].readiness())
    }
}

fn set_nonblocking(fd: RawFd, nonblocking: bool) -> Result<()> {
    // SAFETY: fcntl on an owned descriptor.
    let flags = cvt_retry(|| unsafe { libc::fcntl(fd, libc::F_GETFL) })
        .map_err(Error::from_raw_os_error)?;
    let new = if nonblocking {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    if new != flags {
        // SAFETY: fcntl on an owned descriptor.
        cvt_retry(|| unsafe { libc::fcntl(fd, libc::F_SETFL, new) })
            .map_err(Error::from_raw_os_error)?;
    }
    Ok(())
}

/// A `struct pollfd`.
#[repr(transparent)]
pub(crate) struct PollEntry(libc::pollfd);

impl PollEntry {
    #[inline]
    pub(crate) fn new(socket: &Socket, interest: Interest) -> PollEntry {
        let mut events = 0;
        if interest.is_readable() {
            events |= libc::POLLIN;
        }
        if interest.is_writable() {
            events |= libc::POLLOUT;
        }
        PollEntry(libc::pollfd {
            fd: socket.raw(),
            events,
            revents: 0,
        })
    }

    #[inline]
    pub(crate) fn readiness(&self) -> Readiness {
        let r = self.0.revents;
        let mut out = Readiness::EMPTY;
        if r & (libc::POLLIN | libc::POLLPRI) != 0 {
            out |= Readiness::READABLE;
        }
        if r & libc::POLLOUT != 0 {
            out |= Readiness::WRITABLE;
        }
        if r & (libc::POLLERR | libc::POLLNVAL) != 0 {
            out |= Readiness::ERROR;
        }
        if r & libc::POLLHUP != 0 {
            out |= Readiness::HANG_UP;
        }
        out
    }
}

/// Milliseconds for poll(2), rounded up so a wait never ends early.
fn poll_timeout(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(t) => {
            let ms = t.as_nanos().div_ceil(1_000_000);
            ms.min(libc::c_int::MAX as u128) as libc::c_int
        }
    }
}

pub(crate) fn poll(entries: &mut [PollEntry], timeout: Option<Duration>) -> Result<usize> {
    let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
    let mut left = timeout;
    loop {
        for e in entries.iter_mut() {
            e.0.revents = 0;
        }
        // SAFETY: PollEntry is repr(transparent) over pollfd, and the
        // slice is live and writable for the call.
        let r = unsafe {
            libc::poll(
                entries.as_mut_ptr().cast::<libc::pollfd>(),
                entries.len() as libc::nfds_t,
                poll_timeout(left),
            )
        };
        if r >= 0 {
            return Ok(r as usize);
        }
        match errno() {
            libc::EINTR => {
                if let Some(d) = deadline {
                    left = Some(d.saturating_duration_since(std::time::Instant::now()));
                }
            }
            e => return Err(Error::from_raw_os_error(e)),
        }
    }
}

pub(crate) fn capabilities() -> &'static Capabilities {
    &platform::CAPABILITIES
}
