//! UDP on wasi:sockets: a `udp-socket` and its incoming and outgoing
//! datagram streams.
//!
//! wasi:sockets sends and receives through streams that `stream` hands
//! out on a bound socket, optionally for one peer (a connect). This module
//! evens out the differences with POSIX:
//! - the streams are created when first needed (a send, a receive or a
//!   wait); a socket that is not bound then is bound to the unspecified
//!   address first, as sendto(2) and connect(2) do.
//! - the streams are always unconnected and are never replaced: a connect
//!   is kept here. Sends go to the peer by address and datagrams from
//!   anyone else are dropped as they are received. A connect to another
//!   peer changes only that, any number of times. (The filter applies
//!   when a datagram is received, as witsock's native one does to what
//!   was queued before a connect; a kernel also drops, as they arrive,
//!   datagrams from others than the peer of the moment, so after a
//!   connect to another peer one that peer sent earlier is delivered here
//!   and not natively: see "States" in `wit/sockets.wit`.)
//! - sending to another address than the peer of a connected socket is
//!   `already-connected` (EISCONN, as macOS says; Linux sends it).
//! - a disconnect (connect(2) with AF_UNSPEC) forgets the peer kept here:
//!   the host's socket was never connected, so nothing is asked of it
//!   (no `stream(None)`, which would be a second `stream`), and it stays
//!   bound where it was. Datagrams from others the host queued while the
//!   socket was connected and that no receive dropped yet are received
//!   then (natively the kernel dropped them as they arrived: see "States"
//!   in `wit/sockets.wit`).
//!
//! Why the host never connects the streams: a new peer would need new
//! streams, and wasmtime (48) traps the guest in `stream` while anything
//! still shares the socket. A receive that found nothing leaves a task in
//! the host that holds the socket until a datagram arrives; dropping the
//! stream only asks the host's runtime to cancel that task, which happens
//! later on another thread. No call lets the guest wait for that, so a
//! second `stream` after a receive or a wait that found nothing can trap,
//! however long the guest waits first. `stream` is therefore called once
//! per socket, without a peer.
//!
//! What a connect still checks: a throwaway socket of the same family,
//! bound to the unspecified address, is connected by the host to the peer
//! (a fresh socket, so its one `stream` never traps). Its error is the
//! connect's (policy `access-denied`, `invalid-argument`, unreachable
//! networks), and the local address the host picked for it says which
//! address the socket now sends from: the local address of a socket bound
//! to the unspecified address reads as that one while connected, as
//! natively.
//!
//! What is lost against a socket the host connects: ICMP errors
//! (`connection-refused` after sending to a closed port) are never
//! reported, and datagrams from other senders reach the host's receive
//! buffer before being dropped here. Datagrams from others that arrived
//! before the connect are dropped too, as the WIT says (Linux and macOS
//! would still deliver them; the native backend drops them itself).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ::wasi::io::poll::Pollable;
use ::wasi::sockets::network::{ErrorCode as WasiErrorCode, IpAddressFamily, IpSocketAddress};
use ::wasi::sockets::udp::{
    IncomingDatagram as WasiIncomingDatagram, IncomingDatagramStream,
    OutgoingDatagram as WasiOutgoingDatagram, OutgoingDatagramStream, UdpSocket,
};
use ::wasi::sockets::udp_create_socket::create_udp_socket;

use super::addr::{from_wasi, to_wasi, unspecified, RawAddr};
use super::poll::{Signal, Watches};
use super::tcp::{buffer_size, check_recv_flags, check_send_flags};
use super::{network, wasi_error, wasi_error_unless_connected};
use crate::{
    Error, ErrorCode, IncomingDatagram, Interest, OptionName, OutgoingDatagram, Readiness,
    RecvFlags, Result, SendFlags, SocketOption, Type,
};

/// The streams of a socket, with their pollables.
#[derive(Debug)]
pub(super) struct DatagramStreams {
    // Field order is drop order: the pollables are children of the
    // streams. They are shared so that `poll` can hold them without
    // holding the lock; the streams live as long as the socket.
    incoming_ready: Arc<Pollable>,
    outgoing_ready: Arc<Pollable>,
    pub(super) incoming: IncomingDatagramStream,
    pub(super) outgoing: OutgoingDatagramStream,
}

#[derive(Debug, Default)]
struct State {
    /// A datagram a readiness check received before a receive asked.
    early: Option<WasiIncomingDatagram>,
    /// None until first needed; unconnected, never replaced (module docs).
    streams: Option<DatagramStreams>,
    /// The peer of a connected socket.
    peer: Option<SocketAddr>,
    /// The local IP the host sends to the peer from (module docs); None
    /// when it could not be asked.
    peer_route: Option<IpAddr>,
}

/// Whether two addresses name the same endpoint: the IP and port (the
/// host reports no IPv6 flow label that a peer's address would carry).
fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    a.ip() == b.ip() && a.port() == b.port()
}

impl State {
    /// Whether a datagram from `from` is for this socket: from anyone
    /// when it is not connected, from the peer when it is.
    fn accepts(&self, from: IpSocketAddress) -> bool {
        self.peer
            .is_none_or(|peer| same_endpoint(peer, from_wasi(from)))
    }

    /// Where a send goes: `to`, or the peer of a connected socket.
    fn target(&self, to: Option<SocketAddr>) -> Result<SocketAddr> {
        match (self.peer, to) {
            (Some(peer), None) => Ok(peer),
            (Some(peer), Some(to)) if same_endpoint(peer, to) => Ok(peer),
            (Some(_), Some(_)) => Err(Error::new(ErrorCode::AlreadyConnected)),
            (None, Some(to)) => Ok(to),
            // send(2) on an unconnected datagram socket: EDESTADDRREQ.
            (None, None) => Err(Error::new(ErrorCode::NotConnected)),
        }
    }
}

/// A UDP socket.
#[derive(Debug)]
pub(super) struct Udp {
    // Dropped first: the streams are children of the socket.
    state: Mutex<State>,
    pub(super) socket: UdpSocket,
    family: IpAddressFamily,
}

impl Udp {
    pub(super) fn new(family: IpAddressFamily) -> Result<Udp> {
        let socket = create_udp_socket(family).map_err(wasi_error)?;
        Ok(Udp {
            state: Mutex::new(State::default()),
            socket,
            family,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Calls `f` with the datagram streams of a bound socket, creating
    /// them if need be.
    pub(super) fn with_streams<R>(&self, f: impl FnOnce(&DatagramStreams) -> R) -> Option<R> {
        let mut state = self.state();
        self.streams(&mut state, false).ok().flatten().map(f)
    }

    fn bind_to(&self, addr: IpSocketAddress) -> Result<()> {
        bind_socket(&self.socket, addr)
    }

    /// Whether the socket is bound; when `bind` is set, binds it to the
    /// unspecified address if it is not.
    fn ensure_bound(&self, bind: bool) -> Result<bool> {
        match self.socket.local_address() {
            Ok(_) => Ok(true),
            Err(WasiErrorCode::InvalidState) if bind => {
                self.bind_to(unspecified(self.family))?;
                Ok(true)
            }
            Err(WasiErrorCode::InvalidState) => Ok(false),
            Err(e) => Err(wasi_error(e)),
        }
    }

    /// The streams, created if need be (binding the socket first when
    /// `bind` is set); None for a socket that is not bound, when not
    /// binding. They are created once, unconnected (module docs).
    fn streams<'s>(&self, state: &'s mut State, bind: bool) -> Result<Option<&'s DatagramStreams>> {
        if state.streams.is_none() {
            if !self.ensure_bound(bind)? {
                return Ok(None);
            }
            let (incoming, outgoing) = self.socket.stream(None).map_err(wasi_error)?;
            state.streams = Some(DatagramStreams {
                incoming_ready: Arc::new(incoming.subscribe()),
                outgoing_ready: Arc::new(outgoing.subscribe()),
                incoming,
                outgoing,
            });
        }
        Ok(state.streams.as_ref())
    }

    pub(super) fn bind(&self, addr: &RawAddr) -> Result<()> {
        self.bind_to(addr.to_wasi()?)
    }

    /// connect(2) on UDP: sets the peer, here (module docs); completes at
    /// once. Any number of connects, to any peers, re-create nothing.
    pub(super) fn connect(&self, addr: &RawAddr) -> Result<bool> {
        let to = addr
            .as_socket()
            .ok_or(Error::new(ErrorCode::InvalidArgument))?;
        self.check_remote(to)?;
        let mut state = self.state();
        let route = self.probe_connect(to)?;
        // connect(2) binds a socket that is not bound.
        self.ensure_bound(true)?;
        state.peer = Some(to);
        state.peer_route = route;
        if state
            .early
            .as_ref()
            .is_some_and(|d| !state.accepts(d.remote_address))
        {
            state.early = None;
        }
        Ok(true)
    }

    /// connect(2) with AF_UNSPEC on UDP: forgets the peer (module docs).
    /// The early datagram, if any, is the old peer's, which anyone's is
    /// now: it stays. The local address reads as bound again (no route).
    pub(super) fn disconnect(&self) -> Result<()> {
        let mut state = self.state();
        state.peer = None;
        state.peer_route = None;
        Ok(())
    }

    /// Has the host connect a throwaway socket to `to` (module docs): its
    /// error, or the local IP it would send from. Ok(None) when the
    /// throwaway socket itself cannot be had (no socket, no port left):
    /// the connect then goes ahead without the host's word, and the first
    /// send reports what the host refuses.
    fn probe_connect(&self, to: SocketAddr) -> Result<Option<IpAddr>> {
        let Ok(probe) = create_udp_socket(self.family) else {
            return Ok(None);
        };
        if bind_socket(&probe, unspecified(self.family)).is_err() {
            return Ok(None);
        }
        let (incoming, outgoing) = probe.stream(Some(to_wasi(to))).map_err(wasi_error)?;
        let route = probe
            .local_address()
            .ok()
            .map(|local| from_wasi(local).ip());
        // Children before their socket; nothing ever waited on these
        // streams, so the host lets go of them at once.
        drop((incoming, outgoing));
        drop(probe);
        Ok(route)
    }

    /// What the host checks first in a connect, checked here so that bad
    /// input costs no throwaway socket: `invalid-argument` for another
    /// family, an IPv4-mapped address on an IPv6 socket, the unspecified
    /// address or port 0.
    fn check_remote(&self, to: SocketAddr) -> Result<()> {
        let family_ok = match (to, self.family) {
            (SocketAddr::V4(_), IpAddressFamily::Ipv4) => true,
            (SocketAddr::V6(a), IpAddressFamily::Ipv6) => a.ip().to_ipv4_mapped().is_none(),
            _ => false,
        };
        if !family_ok || to.ip().is_unspecified() || to.port() == 0 {
            return Err(Error::new(ErrorCode::InvalidArgument));
        }
        Ok(())
    }

    pub(super) fn finish_connect(&self) -> Result<bool> {
        if self.state().peer.is_some() {
            Ok(true)
        } else {
            Err(Error::new(ErrorCode::InvalidState))
        }
    }

    fn send_one(&self, buf: &[u8], to: Option<SocketAddr>, nonblocking: bool) -> Result<usize> {
        let mut state = self.state();
        let target = state.target(to)?;
        self.streams(&mut state, true)?;
        let remote_address = Some(to_wasi(target));
        let streams = state
            .streams
            .as_ref()
            .ok_or(Error::new(ErrorCode::InvalidState))?;
        loop {
            if streams.outgoing.check_send().map_err(wasi_error)? > 0 {
                let datagram = WasiOutgoingDatagram {
                    data: buf.to_vec(),
                    remote_address,
                };
                let sent = streams
                    .outgoing
                    .send(core::slice::from_ref(&datagram))
                    .map_err(wasi_error)?;
                if sent == 1 {
                    return Ok(buf.len());
                }
            }
            if nonblocking {
                return Err(Error::new(ErrorCode::WouldBlock));
            }
            streams.outgoing_ready.block();
        }
    }

    pub(super) fn send(&self, buf: &[u8], flags: SendFlags, nonblocking: bool) -> Result<usize> {
        check_send_flags(flags)?;
        self.send_one(buf, None, nonblocking)
    }

    pub(super) fn send_to(
        &self,
        buf: &[u8],
        addr: &RawAddr,
        flags: SendFlags,
        nonblocking: bool,
    ) -> Result<usize> {
        check_send_flags(flags)?;
        let to = addr
            .as_socket()
            .ok_or(Error::new(ErrorCode::InvalidArgument))?;
        self.send_one(buf, Some(to), nonblocking)
    }

    /// Up to `max` datagrams for this socket: the early one first, then
    /// what the host has, without waiting. Empty when nothing is there.
    fn take_datagrams(
        state: &mut State,
        max: usize,
    ) -> Result<Vec<WasiIncomingDatagram>, WasiErrorCode> {
        let mut out = Vec::new();
        out.extend(state.early.take());
        let Some(streams) = state.streams.as_ref() else {
            return Ok(out);
        };
        while out.len() < max {
            let mut batch = streams.incoming.receive((max - out.len()) as u64)?;
            if batch.is_empty() {
                break;
            }
            batch.retain(|d| state.accepts(d.remote_address));
            // The host's list becomes the answer when it is the first: no
            // second vector per receive.
            if out.is_empty() {
                out = batch;
            } else {
                out.append(&mut batch);
            }
        }
        Ok(out)
    }

    /// Receives up to `max` datagrams, waiting for the first unless
    /// `nonblocking`.
    fn receive(&self, max: usize, nonblocking: bool) -> Result<Vec<WasiIncomingDatagram>> {
        let mut state = self.state();
        // Nothing arrives at an unbound socket, as with recvfrom(2).
        let Some(ready) = self
            .streams(&mut state, false)?
            .map(|s| s.incoming_ready.clone())
        else {
            return nothing_arrives(nonblocking);
        };
        loop {
            match Self::take_datagrams(&mut state, max) {
                Ok(datagrams) if !datagrams.is_empty() => return Ok(datagrams),
                Ok(_) if nonblocking => return Err(Error::new(ErrorCode::WouldBlock)),
                Ok(_) => ready.block(),
                Err(e) => return Err(wasi_error(e)),
            }
        }
    }

    pub(super) fn recv_from(
        &self,
        buf: &mut [u8],
        flags: RecvFlags,
        nonblocking: bool,
    ) -> Result<(usize, RawAddr, bool)> {
        check_recv_flags(flags)?;
        let mut datagrams = self.receive(1, nonblocking)?;
        let Some(d) = datagrams.pop() else {
            return Err(Error::new(ErrorCode::WouldBlock));
        };
        let n = d.data.len().min(buf.len());
        buf[..n].copy_from_slice(&d.data[..n]);
        Ok((n, RawAddr::from_wasi(d.remote_address), d.data.len() > n))
    }

    /// As many of `datagrams` as `check-send` permits, in one wasi:sockets
    /// `send`.
    pub(super) fn send_batch(
        &self,
        datagrams: &[OutgoingDatagram<'_>],
        nonblocking: bool,
    ) -> Result<usize> {
        let mut state = self.state();
        // The datagrams up to the first that cannot go; that one's error is
        // the call's if it is the first.
        let mut targets = Vec::with_capacity(datagrams.len());
        for d in datagrams {
            let to = match d.addr {
                Some(addr) => match addr.as_socket() {
                    Some(to) => Some(to),
                    None if targets.is_empty() => {
                        return Err(Error::new(ErrorCode::InvalidArgument))
                    }
                    None => break,
                },
                None => None,
            };
            match state.target(to) {
                Ok(target) => targets.push(target),
                Err(e) if targets.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        self.streams(&mut state, true)?;
        let batch: Vec<WasiOutgoingDatagram> = datagrams
            .iter()
            .zip(&targets)
            .map(|(d, &target)| WasiOutgoingDatagram {
                data: d.data.to_vec(),
                remote_address: Some(to_wasi(target)),
            })
            .collect();
        let streams = state
            .streams
            .as_ref()
            .ok_or(Error::new(ErrorCode::InvalidState))?;
        loop {
            let permitted = streams.outgoing.check_send().map_err(wasi_error)?;
            let count = batch
                .len()
                .min(usize::try_from(permitted).unwrap_or(usize::MAX));
            if count > 0 {
                let sent = streams.outgoing.send(&batch[..count]).map_err(wasi_error)?;
                if sent > 0 {
                    return Ok(sent as usize);
                }
            }
            if nonblocking {
                return Err(Error::new(ErrorCode::WouldBlock));
            }
            streams.outgoing_ready.block();
        }
    }

    /// Up to `slots.len()` datagrams from one wasi:sockets `receive`.
    pub(super) fn recv_batch(
        &self,
        slots: &mut [IncomingDatagram<'_>],
        nonblocking: bool,
    ) -> Result<usize> {
        let datagrams = self.receive(slots.len(), nonblocking)?;
        let received = datagrams.len().min(slots.len());
        for (slot, d) in slots.iter_mut().zip(datagrams) {
            let n = d.data.len().min(slot.buf.len());
            slot.buf[..n].copy_from_slice(&d.data[..n]);
            slot.len = n;
            slot.truncated = d.data.len() > n;
            slot.addr.raw = RawAddr::from_wasi(d.remote_address);
        }
        Ok(received)
    }

    /// shutdown(2): wasi:sockets has no shutdown for UDP.
    /// No UDP shutdown on wasi:sockets, nor in the contract (the portable
    /// layer answers first).
    pub(super) fn shutdown(&self) -> Result<()> {
        Err(Error::new(ErrorCode::OperationNotSupported))
    }

    /// getsockname(2). A connected socket bound to the unspecified
    /// address reads as bound to the address it sends to the peer from,
    /// as natively (module docs).
    pub(super) fn local_addr(&self) -> Result<RawAddr> {
        let mut local = from_wasi(self.socket.local_address().map_err(wasi_error)?);
        let state = self.state();
        if let Some(route) = state.peer_route.filter(|_| local.ip().is_unspecified()) {
            local.set_ip(route);
        }
        Ok(RawAddr::from_socket(&local))
    }

    pub(super) fn peer_addr(&self) -> Result<RawAddr> {
        let state = self.state();
        if let Some(peer) = state.peer {
            return Ok(RawAddr::from_socket(&peer));
        }
        // Not connected, as far as witsock knows; ask the host, whose
        // answer says why.
        self.socket
            .remote_address()
            .map(RawAddr::from_wasi)
            .map_err(wasi_error_unless_connected)
    }

    pub(super) fn set_option(&self, option: &SocketOption) -> Result<()> {
        let s = &self.socket;
        match *option {
            SocketOption::HopLimit(n) => s.set_unicast_hop_limit(n),
            SocketOption::ReceiveBufferSize(n) => s.set_receive_buffer_size(n as u64),
            SocketOption::SendBufferSize(n) => s.set_send_buffer_size(n as u64),
            _ => return super::set_common_option(option, self.family),
        }
        .map_err(wasi_error)
    }

    pub(super) fn option(&self, name: OptionName) -> Result<SocketOption> {
        let s = &self.socket;
        Ok(match name {
            OptionName::HopLimit => {
                SocketOption::HopLimit(s.unicast_hop_limit().map_err(wasi_error)?)
            }
            OptionName::ReceiveBufferSize => SocketOption::ReceiveBufferSize(buffer_size(
                s.receive_buffer_size().map_err(wasi_error)?,
            )),
            OptionName::SendBufferSize => {
                SocketOption::SendBufferSize(buffer_size(s.send_buffer_size().map_err(wasi_error)?))
            }
            // wasi:sockets reports a UDP error on the receive it belongs
            // to; none is ever left pending.
            OptionName::Error => SocketOption::Error(None),
            OptionName::SocketType => SocketOption::SocketType(Type::Datagram),
            _ => return super::common_option(name, self.family),
        })
    }

    pub(super) fn watch(&self, interest: Interest, watches: &mut Watches<'_>) {
        let mut state = self.state();
        if interest.is_readable() && state.early.is_some() {
            watches.ready(Readiness::READABLE);
        }
        // A socket that is not bound never receives; its streams wait
        // until it is. A failure to create them is left for the next
        // receive or send to report.
        match self.streams(&mut state, false) {
            Ok(Some(streams)) => {
                if interest.is_readable() {
                    watches.shared(streams.incoming_ready.clone(), Signal::Datagram);
                }
                if interest.is_writable() {
                    watches.shared(streams.outgoing_ready.clone(), Signal::Writable);
                }
            }
            // An unbound UDP socket can always send (the send binds it).
            _ if interest.is_writable() => watches.ready(Readiness::WRITABLE),
            _ => {}
        }
    }

    /// Whether a receive would find a datagram for this socket now. The
    /// host's readiness counts datagrams from anyone; a connected socket
    /// receives one to know, and keeps it.
    pub(super) fn datagram_readiness(&self) -> Readiness {
        let mut state = self.state();
        if state.early.is_some() || state.peer.is_none() {
            return Readiness::READABLE;
        }
        match Self::take_datagrams(&mut state, 1) {
            Ok(mut datagrams) => match datagrams.pop() {
                Some(d) => {
                    state.early = Some(d);
                    Readiness::READABLE
                }
                None => Readiness::EMPTY,
            },
            // The next receive fails the same way: report it readable.
            Err(_) => Readiness::READABLE | Readiness::ERROR,
        }
    }
}

/// Binds `socket` to `addr`, waiting for the bind to finish.
fn bind_socket(socket: &UdpSocket, addr: IpSocketAddress) -> Result<()> {
    socket.start_bind(network(), addr).map_err(wasi_error)?;
    loop {
        match socket.finish_bind() {
            Err(WasiErrorCode::WouldBlock) => socket.subscribe().block(),
            r => return r.map_err(wasi_error),
        }
    }
}

/// A receive on a socket that is not bound: would-block, or for a
/// blocking socket a wait that never ends, as recvfrom(2) does.
fn nothing_arrives<T>(nonblocking: bool) -> Result<T> {
    if nonblocking {
        return Err(Error::new(ErrorCode::WouldBlock));
    }
    loop {
        ::wasi::clocks::monotonic_clock::subscribe_duration(u64::MAX).block();
    }
}
