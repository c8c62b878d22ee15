//! The wasi:sockets resources behind a [`Socket`], for calls witsock does
//! not wrap: what `AsFd` is natively.

use ::wasi::io::streams::{InputStream, OutputStream};
use ::wasi::sockets::tcp::TcpSocket;
use ::wasi::sockets::udp::{IncomingDatagramStream, OutgoingDatagramStream, UdpSocket};

use super::Kind;
use crate::Socket;

/// Access to the wasi:sockets resources (from the `wasi` crate, 0.14) that
/// a socket wraps, on wasm32-wasip2 only.
///
/// witsock keeps track of the socket's state (connected, listening, its
/// streams) itself: driving the resources directly (connecting, taking
/// streams, shutting down) leaves that state behind, so use them for what
/// witsock does not offer and let witsock do the rest.
impl Socket {
    /// The `tcp-socket` of a stream socket; None for a datagram socket.
    pub fn as_wasi_tcp(&self) -> Option<&TcpSocket> {
        match &self.inner.kind {
            Kind::Tcp(t) => Some(&t.socket),
            Kind::Udp(_) => None,
        }
    }

    /// The `udp-socket` of a datagram socket; None for a stream socket.
    pub fn as_wasi_udp(&self) -> Option<&UdpSocket> {
        match &self.inner.kind {
            Kind::Udp(u) => Some(&u.socket),
            Kind::Tcp(_) => None,
        }
    }

    /// The input stream of a connected stream socket (from `accept` or
    /// `finish-connect`); None before the connection is established and
    /// for datagram sockets.
    pub fn as_wasi_input_stream(&self) -> Option<&InputStream> {
        match &self.inner.kind {
            Kind::Tcp(t) => t.streams().map(|s| &s.input),
            Kind::Udp(_) => None,
        }
    }

    /// The output stream of a connected stream socket; None before the
    /// connection is established and for datagram sockets.
    pub fn as_wasi_output_stream(&self) -> Option<&OutputStream> {
        match &self.inner.kind {
            Kind::Tcp(t) => t.streams().map(|s| &s.output),
            Kind::Udp(_) => None,
        }
    }

    /// Calls `f` with the incoming and outgoing datagram streams of a bound
    /// datagram socket (created by this call if the socket has none yet)
    /// and returns its result; None for an unbound or a stream socket.
    ///
    /// The streams are unconnected and last as long as the socket: a
    /// connect is kept by witsock, which sends to the peer by address and
    /// drops datagrams from anyone else as it receives them. A datagram
    /// received through these streams directly is not filtered that way.
    /// `f` must not call back into this socket: it runs under the socket's
    /// lock.
    pub fn with_wasi_datagram_streams<R>(
        &self,
        f: impl FnOnce(&IncomingDatagramStream, &OutgoingDatagramStream) -> R,
    ) -> Option<R> {
        match &self.inner.kind {
            Kind::Udp(u) => u.with_streams(|s| f(&s.incoming, &s.outgoing)),
            Kind::Tcp(_) => None,
        }
    }
}
