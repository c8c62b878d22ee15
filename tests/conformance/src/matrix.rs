//! The state matrix: every state a TCP or UDP socket can be in, on IPv4 and
//! IPv6, times every socket call, each cell with the outcome the WIT
//! documents (`wit/sockets.wit`, "States").
//!
//! A cell is data ([`Cell`]): the protocol, family, state and call. Its
//! expected outcome comes from one table ([`expected`]), the same on every
//! backend; where a backend cannot build the state or make the call at
//! all, [`limit`] declares it `unsupported`, with the reason, matching
//! what `capabilities` says. A cell is named after what it does
//! (`tcp_v6_listening__send`), so a failure says which state and which
//! call.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::fmt::Write as _;
use std::io::{IoSlice, IoSliceMut};

use witsock::{
    Domain, ErrorCode, IncomingDatagram, Interest, OutgoingDatagram, RecvFlags, SendFlags,
    Shutdown, SockAddr, Socket, SocketOption, Type,
};

use crate::support::{
    closed_port, finish_connect, loopback, tcp_listener, tcp_pair, tcp_socket, udp_socket, wait_for,
};
use crate::{Backend, CaseError, CaseResult};

/// TCP or UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// A stream socket.
    Tcp,
    /// A datagram socket.
    Udp,
}

/// The address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// A state a socket can be in before the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Created, not bound.
    Fresh,
    /// Bound to the loopback address, port 0.
    Bound,
    /// Bound and listening (TCP).
    Listening,
    /// The client end of a connection, connected, nothing queued.
    Connected,
    /// The server end of a connection, from accept.
    Accepted,
    /// A connect to a closed port failed (`connection-refused`, reported
    /// by `finish-connect`).
    ConnectFailed,
    /// Connected; the peer shut its write half down.
    PeerShutWrite,
    /// Connected; this end shut its read half down.
    ShutRead,
    /// Connected; this end shut its write half down.
    ShutWrite,
    /// Connected; this end shut both halves down.
    ShutBoth,
    /// Connected; the peer closed with linger 0 (a reset).
    PeerReset,
    /// UDP: connected to a peer.
    UdpConnected,
    /// UDP: connected to one peer, then to another.
    UdpReconnected,
}

/// The states of each protocol, in matrix order.
const TCP_STATES: &[State] = &[
    State::Fresh,
    State::Bound,
    State::Listening,
    State::Connected,
    State::Accepted,
    State::ConnectFailed,
    State::PeerShutWrite,
    State::ShutRead,
    State::ShutWrite,
    State::ShutBoth,
    State::PeerReset,
];
const UDP_STATES: &[State] = &[
    State::Fresh,
    State::Bound,
    State::UdpConnected,
    State::UdpReconnected,
];

/// A call, with the arguments the matrix gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// `bind` to the loopback address, port 0.
    Bind,
    /// `listen` with backlog 8.
    Listen,
    /// `try-accept`.
    TryAccept,
    /// `start-connect` to a live peer (a listener; a UDP socket).
    StartConnect,
    /// `finish-connect`.
    FinishConnect,
    /// `send` of one byte.
    Send,
    /// `receive` of up to 16 bytes.
    Receive,
    /// `receive` with `peek`.
    Peek,
    /// `send-to` a live peer.
    SendTo,
    /// `receive-from`.
    ReceiveFrom,
    /// `send-vectored` of two buffers.
    SendVectored,
    /// `receive-vectored` into two buffers.
    ReceiveVectored,
    /// `send-batch` of one datagram to a live peer.
    SendBatch,
    /// `receive-batch` of up to 4 datagrams.
    ReceiveBatch,
    /// `shutdown(read)`.
    ShutdownRead,
    /// `shutdown(write)`.
    ShutdownWrite,
    /// `shutdown(both)`.
    ShutdownBoth,
    /// `local-address`.
    LocalAddress,
    /// `remote-address`.
    RemoteAddress,
    /// `get-option(socket-type)`.
    GetSocketType,
    /// `set-option(receive-buffer-size)`.
    SetReceiveBuffer,
    /// `get-option(error)`.
    GetError,
    /// `wait` for readable, no time.
    WaitReadable,
    /// `wait` for writable, no time.
    WaitWritable,
}

/// Every call, in matrix order.
const CALLS: &[Call] = &[
    Call::Bind,
    Call::Listen,
    Call::TryAccept,
    Call::StartConnect,
    Call::FinishConnect,
    Call::Send,
    Call::Receive,
    Call::Peek,
    Call::SendTo,
    Call::ReceiveFrom,
    Call::SendVectored,
    Call::ReceiveVectored,
    Call::SendBatch,
    Call::ReceiveBatch,
    Call::ShutdownRead,
    Call::ShutdownWrite,
    Call::ShutdownBoth,
    Call::LocalAddress,
    Call::RemoteAddress,
    Call::GetSocketType,
    Call::SetReceiveBuffer,
    Call::GetError,
    Call::WaitReadable,
    Call::WaitWritable,
];

/// What a call did, coarsely enough to be the same on every backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Succeeded (a value of no interest here: an address, a count).
    Done,
    /// Returned true / some / ready.
    Yes,
    /// Returned false / none / not ready.
    No,
    /// Received end-of-stream (no bytes).
    Eof,
    /// Failed with this code.
    Err(ErrorCode),
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seen::Done => f.write_str("ok"),
            Seen::Yes => f.write_str("ok(true)"),
            Seen::No => f.write_str("ok(false)"),
            Seen::Eof => f.write_str("end-of-stream"),
            Seen::Err(code) => f.write_str(code.wit_name()),
        }
    }
}

/// One cell of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    /// TCP or UDP.
    pub proto: Proto,
    /// IPv4 or IPv6.
    pub family: Family,
    /// The state before the call.
    pub state: State,
    /// The call.
    pub call: Call,
}

fn snake(debug: impl std::fmt::Debug) -> String {
    let camel = format!("{debug:?}");
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

impl Cell {
    /// `tcp_v4_listening__send`.
    pub fn name(&self) -> String {
        let mut name = String::new();
        let proto = match self.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        };
        let family = match self.family {
            Family::V4 => "v4",
            Family::V6 => "v6",
        };
        let state = snake(self.state).replace("udp_", "");
        let _ = write!(name, "{proto}_{family}_{state}__{}", snake(self.call));
        name
    }

    fn domain(&self) -> Domain {
        match self.family {
            Family::V4 => Domain::Ipv4,
            Family::V6 => Domain::Ipv6,
        }
    }

    /// Builds the state, makes the call and compares what it did with the
    /// table.
    pub fn run(&self) -> CaseResult {
        let fixture = Fixture::build(self)?;
        let seen = fixture.call(self.call)?;
        let wanted = expected(self);
        if wanted.contains(&seen) {
            Ok(())
        } else {
            let wanted: Vec<String> = wanted.iter().map(Seen::to_string).collect();
            Err(CaseError::Fail(format!(
                "{} in state {:?}: expected {}, got {seen}",
                snake(self.call).replace('_', "-"),
                self.state,
                wanted.join(" or ")
            )))
        }
    }
}

/// Every cell, in matrix order.
pub fn cells() -> Vec<Cell> {
    let mut cells = Vec::new();
    for (proto, states) in [(Proto::Tcp, TCP_STATES), (Proto::Udp, UDP_STATES)] {
        for family in [Family::V4, Family::V6] {
            for &state in states {
                for &call in CALLS {
                    cells.push(Cell {
                        proto,
                        family,
                        state,
                        call,
                    });
                }
            }
        }
    }
    cells
}

/// The socket under test and what keeps its state: the peer, a listener.
struct Fixture {
    socket: Socket,
    /// A live address to connect or send to: a listener (TCP), a bound
    /// socket (UDP).
    target: SockAddr,
    _keep: Vec<Socket>,
}

impl Fixture {
    fn build(cell: &Cell) -> Result<Fixture, CaseError> {
        let domain = cell.domain();
        match cell.proto {
            Proto::Tcp => {
                let (listener, target) = tcp_listener(domain)?;
                let mut keep = vec![listener];
                let socket = match cell.state {
                    State::Fresh => tcp_socket(domain)?,
                    State::Bound => {
                        let s = tcp_socket(domain)?;
                        s.bind(&loopback(domain))?;
                        s
                    }
                    State::Listening => {
                        let (s, _) = tcp_listener(domain)?;
                        s
                    }
                    State::Accepted => {
                        let (client, server) = tcp_pair(domain)?;
                        keep.push(client);
                        server
                    }
                    State::ConnectFailed => {
                        let (holder, closed) = closed_port(domain)?;
                        keep.push(holder);
                        let s = tcp_socket(domain)?;
                        match s.start_connect(&closed) {
                            Err(e) if e.code() == ErrorCode::ConnectionRefused => {}
                            Err(e) => return Err(e.into()),
                            Ok(_) => match finish_connect(&s) {
                                Err(CaseError::Fail(why)) if why.contains("refused") => {}
                                Err(e) => return Err(e),
                                Ok(()) => {
                                    return Err(CaseError::Fail(
                                        "a connect to a closed port succeeded".into(),
                                    ))
                                }
                            },
                        }
                        s
                    }
                    _ => {
                        let (client, server) = tcp_pair(domain)?;
                        match cell.state {
                            State::PeerShutWrite => {
                                server.shutdown(Shutdown::Write)?;
                                wait_for(&client, Interest::READABLE, "end-of-stream")?;
                            }
                            State::ShutRead => client.shutdown(Shutdown::Read)?,
                            State::ShutWrite => client.shutdown(Shutdown::Write)?,
                            State::ShutBoth => client.shutdown(Shutdown::Both)?,
                            State::PeerReset => {
                                server.set_option(SocketOption::Linger(Some(
                                    std::time::Duration::ZERO,
                                )))?;
                                drop(server);
                                wait_for(&client, Interest::READABLE, "the reset")?;
                                return Ok(Fixture {
                                    socket: client,
                                    target,
                                    _keep: keep,
                                });
                            }
                            _ => {}
                        }
                        keep.push(server);
                        client
                    }
                };
                Ok(Fixture {
                    socket,
                    target,
                    _keep: keep,
                })
            }
            Proto::Udp => {
                let (peer, target) = udp_socket(domain)?;
                let mut keep = vec![peer];
                let socket = match cell.state {
                    State::Fresh => Socket::new_nonblocking(domain, Type::Datagram, None)?,
                    State::Bound => udp_socket(domain)?.0,
                    State::UdpConnected => {
                        let (s, _) = udp_socket(domain)?;
                        s.start_connect(&target)?;
                        s
                    }
                    _ => {
                        let (s, _) = udp_socket(domain)?;
                        let (first, first_addr) = udp_socket(domain)?;
                        keep.push(first);
                        s.start_connect(&first_addr)?;
                        s.start_connect(&target)?;
                        s
                    }
                };
                Ok(Fixture {
                    socket,
                    target,
                    _keep: keep,
                })
            }
        }
    }

    /// Makes `call` and reduces what it returned to a [`Seen`]; an
    /// `unsupported` answer is the case's `unsupported`.
    fn call(&self, call: Call) -> Result<Seen, CaseError> {
        let s = &self.socket;
        let domain = self.target.domain().unwrap_or(Domain::Ipv4);
        let mut buf = [0u8; 16];
        let seen = match call {
            Call::Bind => seen(s.bind(&loopback(domain))),
            Call::Listen => seen(s.listen(8)),
            Call::TryAccept => seen_bool(s.try_accept().map(|a| a.is_some())),
            Call::StartConnect => seen_bool(s.start_connect(&self.target)),
            Call::FinishConnect => seen_bool(s.finish_connect()),
            Call::Send => seen(s.send(b"x", SendFlags::EMPTY)),
            Call::Receive => seen_len(s.recv(&mut buf, RecvFlags::EMPTY)),
            Call::Peek => seen_len(s.recv(&mut buf, RecvFlags::PEEK)),
            Call::SendTo => seen(s.send_to(b"x", &self.target, SendFlags::EMPTY)),
            Call::ReceiveFrom => seen_len(s.recv_from(&mut buf, RecvFlags::EMPTY).map(|m| m.len)),
            Call::SendVectored => {
                seen(s.send_vectored(&[IoSlice::new(b"a"), IoSlice::new(b"b")], SendFlags::EMPTY))
            }
            Call::ReceiveVectored => {
                let (a, b) = buf.split_at_mut(8);
                seen_len(s.recv_vectored(
                    &mut [IoSliceMut::new(a), IoSliceMut::new(b)],
                    RecvFlags::EMPTY,
                ))
            }
            Call::SendBatch => seen(s.send_batch(&[OutgoingDatagram::new(b"x", &self.target)])),
            Call::ReceiveBatch => {
                let (a, b) = buf.split_at_mut(8);
                let mut slots = [IncomingDatagram::new(a), IncomingDatagram::new(b)];
                seen(s.recv_batch(&mut slots))
            }
            Call::ShutdownRead => seen(s.shutdown(Shutdown::Read)),
            Call::ShutdownWrite => seen(s.shutdown(Shutdown::Write)),
            Call::ShutdownBoth => seen(s.shutdown(Shutdown::Both)),
            Call::LocalAddress => seen(s.local_addr()),
            Call::RemoteAddress => seen(s.peer_addr()),
            Call::GetSocketType => seen(s.option(witsock::OptionName::SocketType)),
            Call::SetReceiveBuffer => seen(s.set_option(SocketOption::ReceiveBufferSize(8192))),
            Call::GetError => seen(s.option(witsock::OptionName::Error)),
            Call::WaitReadable => seen_bool(
                s.wait(Interest::READABLE, Some(std::time::Duration::ZERO))
                    .map(|r| r.is_readable()),
            ),
            Call::WaitWritable => seen_bool(
                s.wait(Interest::WRITABLE, Some(std::time::Duration::ZERO))
                    .map(|r| r.is_writable()),
            ),
        };
        match seen {
            Seen::Err(ErrorCode::Unsupported | ErrorCode::OptionNotSupported) => {
                Err(CaseError::Unsupported(format!("{call:?}: {seen}")))
            }
            seen => Ok(seen),
        }
    }
}

fn seen<T>(result: witsock::Result<T>) -> Seen {
    match result {
        Ok(_) => Seen::Done,
        Err(e) => Seen::Err(e.code()),
    }
}

fn seen_bool(result: witsock::Result<bool>) -> Seen {
    match result {
        Ok(true) => Seen::Yes,
        Ok(false) => Seen::No,
        Err(e) => Seen::Err(e.code()),
    }
}

fn seen_len(result: witsock::Result<usize>) -> Seen {
    match result {
        Ok(0) => Seen::Eof,
        Ok(_) => Seen::Done,
        Err(e) => Seen::Err(e.code()),
    }
}

use ErrorCode as E;
use Seen::{Done, Eof, No, Yes};

const fn err(code: ErrorCode) -> Seen {
    Seen::Err(code)
}

/// The documented outcome of a cell, the same on every backend (see the
/// "States" section of `wit/sockets.wit`). Two outcomes are given only
/// where the WIT documents either.
pub fn expected(cell: &Cell) -> Vec<Seen> {
    match cell.proto {
        Proto::Tcp => tcp(cell.state, cell.call),
        Proto::Udp => udp(cell.state, cell.call),
    }
}

/// Whether the state has a connection (open, or half shut).
fn connected(state: State) -> bool {
    matches!(
        state,
        State::Connected
            | State::Accepted
            | State::PeerShutWrite
            | State::ShutRead
            | State::ShutWrite
            | State::ShutBoth
            | State::PeerReset
    )
}

fn tcp(state: State, call: Call) -> Vec<Seen> {
    use State::*;
    let one = |s: Seen| vec![s];
    match call {
        Call::Bind => one(if state == Fresh {
            Done
        } else {
            err(E::InvalidState)
        }),
        Call::Listen => one(match state {
            Fresh | Bound | Listening => Done,
            _ => err(E::InvalidState),
        }),
        Call::TryAccept => one(if state == Listening {
            No
        } else {
            err(E::InvalidState)
        }),
        Call::StartConnect => match state {
            // In progress, or connected at once on loopback.
            Fresh | Bound => vec![No, Yes],
            ConnectFailed => one(err(E::InvalidState)),
            // A listener counts as connected (EISCONN), as everywhere.
            _ => one(err(E::AlreadyConnected)),
        },
        Call::FinishConnect => one(match state {
            Connected | Accepted | PeerShutWrite | ShutRead | ShutWrite | ShutBoth => Yes,
            // The pending error, as SO_ERROR reports it.
            PeerReset => err(E::ConnectionReset),
            _ => err(E::InvalidState),
        }),
        Call::Send | Call::SendVectored => one(match state {
            Connected | Accepted | PeerShutWrite | ShutRead => Done,
            ShutWrite | ShutBoth => err(E::Shutdown),
            PeerReset => err(E::ConnectionReset),
            _ => err(E::NotConnected),
        }),
        // A stream sends with `send`: `send-to` is `already-connected`
        // on a connection and `not-connected` without one.
        Call::SendTo => one(if connected(state) && state != PeerReset {
            err(E::AlreadyConnected)
        } else {
            err(E::NotConnected)
        }),
        // Batches are for datagram sockets.
        Call::SendBatch => one(err(E::OperationNotSupported)),
        Call::Receive | Call::Peek | Call::ReceiveVectored | Call::ReceiveFrom => {
            one(match state {
                Connected | Accepted | ShutWrite => err(E::WouldBlock),
                PeerShutWrite | ShutRead | ShutBoth => Eof,
                PeerReset => err(E::ConnectionReset),
                _ => err(E::NotConnected),
            })
        }
        Call::ReceiveBatch => one(err(E::OperationNotSupported)),
        Call::ShutdownRead | Call::ShutdownWrite | Call::ShutdownBoth => {
            one(if connected(state) && state != PeerReset {
                Done
            } else {
                err(E::NotConnected)
            })
        }
        Call::LocalAddress => one(match state {
            Fresh | ConnectFailed => err(E::InvalidState),
            _ => Done,
        }),
        Call::RemoteAddress => one(if connected(state) && state != PeerReset {
            Done
        } else {
            err(E::NotConnected)
        }),
        Call::GetSocketType | Call::SetReceiveBuffer | Call::GetError => one(Done),
        Call::WaitReadable => one(match state {
            PeerShutWrite | ShutRead | ShutBoth | PeerReset | ConnectFailed => Yes,
            _ => No,
        }),
        Call::WaitWritable => one(match state {
            Listening => No,
            _ => Yes,
        }),
    }
}

fn udp(state: State, call: Call) -> Vec<Seen> {
    use State::*;
    let one = |s: Seen| vec![s];
    let connected = matches!(state, UdpConnected | UdpReconnected);
    match call {
        Call::Bind => one(if state == Fresh {
            Done
        } else {
            err(E::InvalidState)
        }),
        Call::Listen | Call::TryAccept => one(err(E::OperationNotSupported)),
        Call::StartConnect => one(Yes),
        Call::FinishConnect => one(if connected { Yes } else { err(E::InvalidState) }),
        Call::Send | Call::SendVectored => one(if connected {
            Done
        } else {
            err(E::NotConnected)
        }),
        Call::SendTo | Call::SendBatch => one(Done),
        Call::Receive | Call::Peek | Call::ReceiveVectored | Call::ReceiveFrom => {
            one(err(E::WouldBlock))
        }
        Call::ReceiveBatch => one(err(E::WouldBlock)),
        Call::ShutdownRead | Call::ShutdownWrite | Call::ShutdownBoth => one(if connected {
            Done
        } else {
            err(E::NotConnected)
        }),
        Call::LocalAddress => one(if state == Fresh {
            err(E::InvalidState)
        } else {
            Done
        }),
        Call::RemoteAddress => one(if connected {
            Done
        } else {
            err(E::NotConnected)
        }),
        Call::GetSocketType | Call::SetReceiveBuffer | Call::GetError => one(Done),
        Call::WaitReadable => one(No),
        Call::WaitWritable => one(Yes),
    }
}

/// Where a backend cannot build the cell's state or make its call at all,
/// and why (what `capabilities` says of it).
pub fn limit(cell: &Cell, backend: Backend) -> Option<&'static str> {
    if backend != Backend::WasiP2 {
        return None;
    }
    match (cell.proto, cell.state, cell.call) {
        (Proto::Tcp, State::PeerReset, _) => {
            Some("wasi:sockets has no SO_LINGER, so a peer cannot reset the connection")
        }
        (Proto::Udp, _, Call::SendVectored | Call::ReceiveVectored) => {
            Some("vectored I/O is emulated on wasi:sockets and would split a datagram")
        }
        // After shutdown(read), or a failed connect, a receive is
        // answered before any flag is looked at.
        (_, State::ShutRead | State::ShutBoth | State::ConnectFailed, Call::Peek) => None,
        (_, _, Call::Peek) => Some("wasi:sockets has no MSG_PEEK"),
        (Proto::Tcp, State::ConnectFailed, Call::SetReceiveBuffer) => {
            Some("wasi:sockets closes a socket whose connect failed: its options cannot be set")
        }
        (
            Proto::Udp,
            State::UdpConnected | State::UdpReconnected,
            Call::ShutdownRead | Call::ShutdownWrite | Call::ShutdownBoth,
        ) => Some("wasi:sockets cannot shut a UDP socket down"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_many_and_named_uniquely() {
        let cells = cells();
        assert!(cells.len() >= 400, "{} cells", cells.len());
        let mut names = std::collections::HashSet::new();
        for cell in &cells {
            assert!(names.insert(cell.name()), "{} twice", cell.name());
        }
        let first = cells.first().map(Cell::name);
        assert_eq!(first.as_deref(), Some("tcp_v4_fresh__bind"));
        assert!(names.contains("udp_v6_reconnected__receive_batch"));
    }
}
