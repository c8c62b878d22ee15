//! The wasm32-wasip2 backend: wasi:sockets 0.2 called directly through the
//! `wasi` crate (not wasi-libc, not std::net).
//!
//! What wasi:sockets cannot do is reported by [`capabilities`] and returns
//! `unsupported` / `option-not-supported`, never faked:
//! - no Unix sockets (`socket_pair` included);
//! - IPv6 sockets are always IPv6-only: `ipv6-only` reads `true`, setting
//!   it to `false` is `unsupported`, and an IPv4-mapped address on an IPv6
//!   socket is `invalid-argument`;
//! - no iovecs: vectored I/O on a stream socket sends or receives the
//!   buffers one after another (`emulated`); datagram sockets say
//!   `unsupported`, since that would split the datagram;
//! - no peek, no out-of-band data, no `dont-route`;
//! - of the options, only keep-alive (on, idle, interval, count), the hop
//!   limit, the buffer sizes and the listen backlog (through `listen`)
//!   exist; `error` and `socket-type` are answered from the backend's own
//!   state. After a failed TCP connect the host has closed the socket:
//!   its options are `unsupported` there, but for those the backend
//!   answers itself (`error`, `socket-type`, `ipv6-only`).
//!
//! Every wasi:sockets call is non-blocking. Blocking mode is emulated: a
//! blocking socket waits on its pollable (`Pollable::block`) where a
//! non-blocking one returns would-block, with no timeout (there is no
//! SO_RCVTIMEO/SO_SNDTIMEO; deadlines, in the portable layer, work as
//! natively).
//!
//! A UDP connect is kept by the backend, not the host (wasmtime can trap
//! a guest that re-creates a socket's streams for a new peer): any number
//! of connects to any peers work, connect errors and the local address
//! are still the host's, but a connected UDP socket never reports ICMP
//! errors (`connection-refused`); see `udp.rs`. A disconnect forgets the
//! peer the same way, with no call to the host.
//!
//! Errors keep the wasi:sockets `error-code` discriminant as their raw
//! code ([`error_code`] and [`errno_name`] read it back); wasi's
//! `unknown` is discriminant 0 and so has no raw code.

use core::ops::Deref;
use core::time::Duration;
use std::io::{IoSlice, IoSliceMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use ::wasi::sockets::network::{ErrorCode as WasiErrorCode, IpAddressFamily, Network};

use crate::{
    Capabilities, Domain, Error, ErrorCode, IncomingDatagram, Interest, OptionName,
    OutgoingDatagram, Protocol, Readiness, RecvFlags, Result, SendFlags, Shutdown, SocketOption,
    Support, Type,
};

mod addr;
mod error_table;
mod handles;
mod poll;
mod resolve;
mod tcp;
mod udp;

pub(crate) use self::addr::RawAddr;
pub use self::error_table::{errno_name, error_code};

/// Raw codes here are wasi:sockets `error-code` discriminants.
pub(crate) const RAW_CODE_KIND: &str = "wasi error-code";

/// No hints here: what causes a wasi:sockets error is the host's to say.
#[inline]
pub(crate) fn hint(
    _code: ErrorCode,
    _raw: i32,
    _op: Option<crate::Operation>,
    _target: crate::error::HintTarget,
) -> Option<&'static str> {
    None
}
pub(crate) use self::poll::{poll, PollEntry};
pub(crate) use self::resolve::{resolve, ResolvedAddrs};

use self::poll::{Signal, Watches};
use self::tcp::Tcp;
use self::udp::Udp;

/// The network the instance was given, fetched once.
fn network() -> &'static Network {
    static NETWORK: OnceLock<Network> = OnceLock::new();
    NETWORK.get_or_init(::wasi::sockets::instance_network::instance_network)
}

/// A wasi:sockets error with its portable code, keeping the discriminant.
#[inline]
fn wasi_error(code: WasiErrorCode) -> Error {
    let raw = code as i32;
    Error::with_raw(error_code(raw), raw)
}

/// A wasi:sockets error whose portable code the call refines (wasi says
/// `invalid-state` where POSIX says ENOTCONN, for instance).
#[inline]
fn wasi_error_as(code: ErrorCode, wasi: WasiErrorCode) -> Error {
    Error::with_raw(code, wasi as i32)
}

/// A wasi:sockets error of a call that needs a peer: wasi's
/// `invalid-state` is ENOTCONN there.
fn wasi_error_unless_connected(code: WasiErrorCode) -> Error {
    match code {
        WasiErrorCode::InvalidState => wasi_error_as(ErrorCode::NotConnected, code),
        code => wasi_error(code),
    }
}

/// A socket: TCP or UDP, and whether calls wait.
#[derive(Debug)]
pub(crate) struct Socket {
    kind: Kind,
    nonblocking: AtomicBool,
}

#[derive(Debug)]
enum Kind {
    Tcp(Tcp),
    Udp(Udp),
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Socket>();
};

impl Socket {
    fn from_kind(kind: Kind, nonblocking: bool) -> Socket {
        Socket {
            kind,
            nonblocking: AtomicBool::new(nonblocking),
        }
    }

    #[inline]
    fn nonblocking(&self) -> bool {
        self.nonblocking.load(Ordering::Relaxed)
    }

    pub(crate) fn new(
        domain: Domain,
        ty: Type,
        protocol: Option<Protocol>,
        nonblocking: bool,
    ) -> Result<Socket> {
        let Some(family) = addr::wasi_family(domain) else {
            return Err(Error::new(ErrorCode::Unsupported));
        };
        let kind = match (ty, protocol) {
            (Type::Stream, None | Some(Protocol::Tcp)) => Kind::Tcp(Tcp::new(family)?),
            (Type::Datagram, None | Some(Protocol::Udp)) => Kind::Udp(Udp::new(family)?),
            _ => return Err(Error::new(ErrorCode::ProtocolNotSupported)),
        };
        Ok(Socket::from_kind(kind, nonblocking))
    }

    /// socketpair(2) makes Unix sockets, which wasi:sockets lacks.
    pub(crate) fn pair(_ty: Type, _nonblocking: bool) -> Result<(Socket, Socket)> {
        Err(Error::new(ErrorCode::Unsupported))
    }

    pub(crate) fn set_nonblocking(&self, nonblocking: bool) -> Result<()> {
        self.nonblocking.store(nonblocking, Ordering::Relaxed);
        Ok(())
    }

    /// `reuse_address` is the host's to apply: wasi:sockets hosts set
    /// SO_REUSEADDR on every TCP bind themselves.
    pub(crate) fn bind(&self, addr: &RawAddr, _reuse_address: bool) -> Result<()> {
        match &self.kind {
            Kind::Tcp(t) => t.bind(addr),
            Kind::Udp(u) => u.bind(addr),
        }
    }

    /// `reuse_address`: as for `bind`, the host's.
    pub(crate) fn listen(&self, backlog: i32, _reuse_address: bool) -> Result<()> {
        match &self.kind {
            Kind::Tcp(t) => t.listen(backlog),
            Kind::Udp(_) => Err(Error::new(ErrorCode::OperationNotSupported)),
        }
    }

    #[inline]
    pub(crate) fn try_accept(&self) -> Result<Option<(Socket, RawAddr)>> {
        match &self.kind {
            Kind::Tcp(t) => Ok(t
                .try_accept(self.nonblocking())?
                // Accepted sockets are non-blocking, whatever the listener.
                .map(|(s, peer)| (Socket::from_kind(Kind::Tcp(s), true), peer))),
            Kind::Udp(_) => Err(Error::new(ErrorCode::OperationNotSupported)),
        }
    }

    pub(crate) fn start_connect(&self, addr: &RawAddr) -> Result<bool> {
        match &self.kind {
            Kind::Tcp(t) => t.start_connect(addr, self.nonblocking()),
            Kind::Udp(u) => u.connect(addr),
        }
    }

    pub(crate) fn finish_connect(&self) -> Result<bool> {
        match &self.kind {
            Kind::Tcp(t) => t.finish_connect(),
            Kind::Udp(u) => u.finish_connect(),
        }
    }

    /// Dissolves a UDP socket's association: the backend forgets the peer
    /// it keeps (`udp.rs`); TCP has none to dissolve.
    pub(crate) fn disconnect(&self) -> Result<()> {
        match &self.kind {
            Kind::Tcp(_) => Err(Error::new(ErrorCode::OperationNotSupported)),
            Kind::Udp(u) => u.disconnect(),
        }
    }

    /// A UDP socket connected: nothing to do, the backend keeps the peer
    /// and drops datagrams from others itself, those queued before the
    /// connect included (`udp.rs`).
    #[inline]
    pub(crate) fn datagram_connected(&self) {}

    #[inline]
    pub(crate) fn send(&self, buf: &[u8], flags: SendFlags) -> Result<usize> {
        self.send_in_mode(buf, flags, self.nonblocking())
    }

    fn send_in_mode(&self, buf: &[u8], flags: SendFlags, nonblocking: bool) -> Result<usize> {
        match &self.kind {
            Kind::Tcp(t) => t.send(buf, flags, nonblocking),
            Kind::Udp(u) => u.send(buf, flags, nonblocking),
        }
    }

    #[inline]
    pub(crate) fn recv(&self, buf: &mut [u8], flags: RecvFlags) -> Result<usize> {
        self.recv_in_mode(buf, flags, self.nonblocking())
    }

    fn recv_in_mode(&self, buf: &mut [u8], flags: RecvFlags, nonblocking: bool) -> Result<usize> {
        match &self.kind {
            Kind::Tcp(t) => t.recv(buf, flags, nonblocking),
            Kind::Udp(u) => u.recv_from(buf, flags, nonblocking).map(|(n, _, _)| n),
        }
    }

    #[inline]
    pub(crate) fn send_to(&self, buf: &[u8], addr: &RawAddr, flags: SendFlags) -> Result<usize> {
        match &self.kind {
            Kind::Tcp(t) => {
                tcp::check_send_flags(flags)?;
                t.send_to()
            }
            Kind::Udp(u) => u.send_to(buf, addr, flags, self.nonblocking()),
        }
    }

    #[inline]
    pub(crate) fn recv_from(
        &self,
        buf: &mut [u8],
        flags: RecvFlags,
    ) -> Result<(usize, RawAddr, bool)> {
        match &self.kind {
            Kind::Tcp(t) => t.recv_from(buf, flags, self.nonblocking()),
            Kind::Udp(u) => u.recv_from(buf, flags, self.nonblocking()),
        }
    }

    /// One send per buffer (see [`Socket::one_buffer_at_a_time`]).
    pub(crate) fn send_vectored(&self, bufs: &[IoSlice<'_>], flags: SendFlags) -> Result<usize> {
        self.one_buffer_at_a_time(bufs.iter().map(|b| &**b), |buf, nonblocking| {
            self.send_in_mode(buf, flags, nonblocking)
        })
    }

    /// One receive per buffer (see [`Socket::one_buffer_at_a_time`]).
    pub(crate) fn recv_vectored(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        flags: RecvFlags,
    ) -> Result<usize> {
        self.one_buffer_at_a_time(bufs.iter_mut().map(|b| &mut **b), |buf, nonblocking| {
            self.recv_in_mode(buf, flags, nonblocking)
        })
    }

    /// Vectored I/O without iovecs: `io` once per non-empty buffer, in
    /// order, until one comes back short or fails. Only the first call may
    /// wait; a failure after some bytes went through ends the call with
    /// those, and the next call reports it. Datagram sockets:
    /// `unsupported`, since each buffer would be a datagram of its own.
    fn one_buffer_at_a_time<B: Deref<Target = [u8]>>(
        &self,
        bufs: impl Iterator<Item = B>,
        mut io: impl FnMut(B, bool) -> Result<usize>,
    ) -> Result<usize> {
        let Kind::Tcp(_) = self.kind else {
            return Err(Error::new(ErrorCode::Unsupported));
        };
        let mut total = 0;
        for buf in bufs.filter(|b| !b.is_empty()) {
            let len = buf.len();
            match io(buf, self.nonblocking() || total > 0) {
                Ok(n) => {
                    total += n;
                    if n < len {
                        break;
                    }
                }
                Err(e) if total == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(total)
    }

    /// Several datagrams in one wasi:sockets `send`.
    pub(crate) fn send_batch(&self, datagrams: &[OutgoingDatagram<'_>]) -> Result<usize> {
        match &self.kind {
            Kind::Udp(u) => u.send_batch(datagrams, self.nonblocking()),
            Kind::Tcp(_) => Err(Error::new(ErrorCode::OperationNotSupported)),
        }
    }

    /// Several datagrams from one wasi:sockets `receive`.
    pub(crate) fn recv_batch(&self, slots: &mut [IncomingDatagram<'_>]) -> Result<usize> {
        match &self.kind {
            Kind::Udp(u) => u.recv_batch(slots, self.nonblocking()),
            Kind::Tcp(_) => Err(Error::new(ErrorCode::OperationNotSupported)),
        }
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> Result<()> {
        match &self.kind {
            Kind::Tcp(t) => t.shutdown(how),
            Kind::Udp(u) => u.shutdown(),
        }
    }

    /// Unknown here: every socket of this backend is created by witsock,
    /// which records its family and type.
    pub(crate) fn kind(&self) -> Option<(Domain, Type)> {
        None
    }

    pub(crate) fn local_addr(&self) -> Result<RawAddr> {
        match &self.kind {
            Kind::Tcp(t) => t.local_addr(),
            Kind::Udp(u) => u.local_addr(),
        }
    }

    pub(crate) fn peer_addr(&self) -> Result<RawAddr> {
        match &self.kind {
            Kind::Tcp(t) => t.peer_addr(),
            Kind::Udp(u) => u.peer_addr(),
        }
    }

    pub(crate) fn set_option(&self, option: &SocketOption) -> Result<()> {
        match &self.kind {
            Kind::Tcp(t) => t.set_option(option),
            Kind::Udp(u) => u.set_option(option),
        }
    }

    pub(crate) fn option(&self, name: OptionName) -> Result<SocketOption> {
        match &self.kind {
            Kind::Tcp(t) => t.option(name),
            Kind::Udp(u) => u.option(name),
        }
    }

    pub(crate) fn wait(&self, interest: Interest, timeout: Option<Duration>) -> Result<Readiness> {
        let mut entry = [PollEntry::new(self, interest)];
        poll(&mut entry, timeout)?;
        Ok(entry[0].readiness())
    }

    /// The pollables to wait on for `interest`, or what is ready now.
    fn watch<'a>(&'a self, interest: Interest, watches: &mut Watches<'a>) {
        match &self.kind {
            Kind::Tcp(t) => t.watch(interest, watches),
            Kind::Udp(u) => u.watch(interest, watches),
        }
    }

    /// What a fired pollable means for this socket.
    fn signal_readiness(&self, interest: Interest, signal: Signal) -> Readiness {
        match (signal, &self.kind) {
            (Signal::Readable, _) => Readiness::READABLE,
            (Signal::Input, Kind::Tcp(t)) => t.input_readiness(),
            (Signal::Datagram, Kind::Udp(u)) => u.datagram_readiness(),
            (Signal::Input | Signal::Datagram, _) => Readiness::EMPTY,
            (Signal::Writable, _) => Readiness::WRITABLE,
            (Signal::Connect, Kind::Tcp(t)) => t.connect_readiness(interest),
            (Signal::Connect, Kind::Udp(_)) => Readiness::EMPTY,
        }
    }
}

/// The options TCP and UDP share or lack alike.
fn set_common_option(option: &SocketOption, family: IpAddressFamily) -> Result<()> {
    match (*option, family) {
        // IPv6 sockets are IPv6-only on wasi:sockets, and cannot be
        // anything else.
        (SocketOption::Ipv6Only(true), IpAddressFamily::Ipv6) => Ok(()),
        (SocketOption::Ipv6Only(false), IpAddressFamily::Ipv6) => {
            Err(Error::new(ErrorCode::Unsupported))
        }
        // Read-only: rejected by validate() already; kept total.
        (SocketOption::Error(_) | SocketOption::SocketType(_), _) => {
            Err(Error::new(ErrorCode::InvalidArgument))
        }
        _ => Err(Error::new(ErrorCode::OptionNotSupported)),
    }
}

fn common_option(name: OptionName, family: IpAddressFamily) -> Result<SocketOption> {
    match (name, family) {
        (OptionName::Ipv6Only, IpAddressFamily::Ipv6) => Ok(SocketOption::Ipv6Only(true)),
        (
            OptionName::JoinMulticastV4
            | OptionName::LeaveMulticastV4
            | OptionName::JoinMulticastV6
            | OptionName::LeaveMulticastV6,
            _,
        ) => Err(Error::new(ErrorCode::InvalidArgument)),
        _ => Err(Error::new(ErrorCode::OptionNotSupported)),
    }
}

/// What wasi:sockets 0.2 can do.
static CAPABILITIES: Capabilities = {
    let mut c = Capabilities::uniform("wasi-p2", Support::Unsupported);
    c.vectored_io = Support::Emulated;
    // udp `send` and `receive` take and return lists of datagrams.
    c.batched_datagrams = Support::Native;
    c.blocking_mode = Support::Emulated;
    c.with_option(OptionName::KeepAlive, Support::Native)
        .with_option(OptionName::KeepAliveIdle, Support::Native)
        .with_option(OptionName::KeepAliveInterval, Support::Native)
        .with_option(OptionName::KeepAliveCount, Support::Native)
        .with_option(OptionName::HopLimit, Support::Native)
        .with_option(OptionName::ReceiveBufferSize, Support::Native)
        .with_option(OptionName::SendBufferSize, Support::Native)
        // Always on for IPv6 sockets; reads back true, cannot be turned off.
        .with_option(OptionName::Ipv6Only, Support::Emulated)
        // A failed connect's error, kept by the backend until read.
        .with_option(OptionName::Error, Support::Emulated)
        .with_option(OptionName::SocketType, Support::Emulated)
};

pub(crate) fn capabilities() -> &'static Capabilities {
    &CAPABILITIES
}

#[cfg(test)]
mod tests {
    use ::wasi::sockets::network::ErrorCode as W;

    use super::error_table::WASI_ERROR_CODES;
    use super::*;

    /// Every case of the `wasi` crate's enum.
    const ALL_WASI_CODES: [W; 21] = [
        W::Unknown,
        W::AccessDenied,
        W::NotSupported,
        W::InvalidArgument,
        W::OutOfMemory,
        W::Timeout,
        W::ConcurrencyConflict,
        W::NotInProgress,
        W::WouldBlock,
        W::InvalidState,
        W::NewSocketLimit,
        W::AddressNotBindable,
        W::AddressInUse,
        W::RemoteUnreachable,
        W::ConnectionRefused,
        W::ConnectionReset,
        W::ConnectionAborted,
        W::DatagramTooLarge,
        W::NameUnresolvable,
        W::TemporaryResolverFailure,
        W::PermanentResolverFailure,
    ];

    /// Stops compiling when the `wasi` crate gains a case, so that the
    /// table and `ALL_WASI_CODES` are revisited.
    fn listed(code: W) {
        match code {
            W::Unknown
            | W::AccessDenied
            | W::NotSupported
            | W::InvalidArgument
            | W::OutOfMemory
            | W::Timeout
            | W::ConcurrencyConflict
            | W::NotInProgress
            | W::WouldBlock
            | W::InvalidState
            | W::NewSocketLimit
            | W::AddressNotBindable
            | W::AddressInUse
            | W::RemoteUnreachable
            | W::ConnectionRefused
            | W::ConnectionReset
            | W::ConnectionAborted
            | W::DatagramTooLarge
            | W::NameUnresolvable
            | W::TemporaryResolverFailure
            | W::PermanentResolverFailure => {}
        }
    }

    #[test]
    fn the_table_is_indexed_by_the_wasi_discriminants() {
        assert_eq!(ALL_WASI_CODES.len(), WASI_ERROR_CODES.len());
        for code in ALL_WASI_CODES {
            listed(code);
            let raw = code as i32;
            assert_eq!(errno_name(raw), Some(code.name()), "{code:?}");
            let e = wasi_error(code);
            assert_eq!(e.code(), error_code(raw), "{code:?}");
            // Discriminant 0 (`unknown`) cannot be kept: 0 means none.
            let kept = if raw == 0 { None } else { Some(raw) };
            assert_eq!(e.raw_os_error(), kept, "{code:?}");
        }
    }

    #[test]
    fn addresses_round_trip_through_wasi() {
        for text in ["127.0.0.1:80", "[::1]:443", "[fe80::1%3]:9"] {
            let std: std::net::SocketAddr = text.parse().unwrap();
            let raw = RawAddr::from_socket(&std);
            let back = RawAddr::from_wasi(raw.to_wasi().unwrap());
            assert_eq!(back.as_socket(), Some(std), "{text}");
        }
        assert!(RawAddr::zeroed().to_wasi().is_err());
        assert_eq!(RawAddr::zeroed().domain(), None);
    }
}
