//! The state matrix: every state a TCP or UDP socket can be in, on IPv4 and
//! IPv6, times every socket call, and a get and a set of every option,
//! each cell with the outcome the WIT documents (`wit/sockets.wit`,
//! "States" and "Options").
//!
//! A cell is data ([`Cell`]): the protocol, family, state and call. Its
//! expected outcome comes from one table ([`expected`]), the same on every
//! backend; where a backend cannot build the state or make the call at
//! all, [`limit`] declares it `unsupported`, with the reason, matching
//! what `capabilities` says. A cell is named after what it does
//! (`tcp_v6_listening__send`, `udp_v4_bound__set_no_delay`), so a failure
//! says which state and which call.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::fmt::Write as _;
use std::io::{IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;
use std::time::Duration;

use witsock::{
    Domain, ErrorCode, IncomingDatagram, Interest, OptionName, OutgoingDatagram, RecvFlags,
    SendFlags, Shutdown, SockAddr, Socket, SocketOption, Support, Type,
};

use crate::support::{
    closed_port, finish_connect, is_unsupported, loopback, loopback_interface_index, tcp_listener,
    tcp_pair, tcp_socket, udp_socket, wait_for,
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
    /// UDP: connected to a peer, then disconnected: as bound again.
    UdpDisconnected,
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
    State::UdpDisconnected,
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
    /// `disconnect`.
    Disconnect,
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
    /// `wait` for readable, no time.
    WaitReadable,
    /// `wait` for writable, no time.
    WaitWritable,
    /// `get-option` of the option.
    Get(OptionName),
    /// `set-option` of the option, to the value [`set_value`] gives it,
    /// then (where the contract defines what it reads back) a get.
    Set(OptionName),
}

impl Call {
    /// The option a get or set is about.
    pub const fn option(self) -> Option<OptionName> {
        match self {
            Call::Get(name) | Call::Set(name) => Some(name),
            _ => None,
        }
    }

    /// `send_to`, `get_no_delay`.
    fn name(self) -> String {
        match self {
            Call::Get(name) => format!("get_{}", name.wit_name().replace('-', "_")),
            Call::Set(name) => format!("set_{}", name.wit_name().replace('-', "_")),
            call => snake(call),
        }
    }
}

/// Every call but the options', in matrix order; [`calls`] adds a get and
/// a set of every option.
const CALLS: &[Call] = &[
    Call::Bind,
    Call::Listen,
    Call::TryAccept,
    Call::StartConnect,
    Call::FinishConnect,
    Call::Disconnect,
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
    Call::WaitReadable,
    Call::WaitWritable,
];

/// Every call, in matrix order: [`CALLS`], then a get and a set of each
/// option of [`OptionName::ALL`].
fn calls() -> impl Iterator<Item = Call> {
    CALLS.iter().copied().chain(
        OptionName::ALL
            .iter()
            .flat_map(|&name| [Call::Get(name), Call::Set(name)]),
    )
}

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
        let _ = write!(name, "{proto}_{family}_{state}__{}", self.call.name());
        name
    }

    /// The call, as the WIT names it: `send-to`, `set-option(no-delay)`.
    fn call_name(&self) -> String {
        match self.call {
            Call::Get(name) => format!("get-option({})", name.wit_name()),
            Call::Set(name) => format!("set-option({})", name.wit_name()),
            call => snake(call).replace('_', "-"),
        }
    }

    fn domain(&self) -> Domain {
        match self.family {
            Family::V4 => Domain::Ipv4,
            Family::V6 => Domain::Ipv6,
        }
    }

    /// Builds the state, makes the call and compares what it did with the
    /// table.
    ///
    /// An `unsupported` or `option-not-supported` answer the table does not
    /// expect is the case's `unsupported`: declared by [`limit`], or a
    /// failure.
    pub fn run(&self) -> CaseResult {
        let fixture = Fixture::build(self)?;
        let seen = fixture.call(self)?;
        let wanted = expected(self);
        if wanted.contains(&seen) {
            return Ok(());
        }
        if let Seen::Err(code) = seen {
            if is_unsupported(code) {
                return Err(CaseError::Unsupported(format!(
                    "{}: {seen}",
                    self.call_name()
                )));
            }
        }
        let wanted: Vec<String> = wanted.iter().map(Seen::to_string).collect();
        Err(CaseError::Fail(format!(
            "{} in state {:?}: expected {}, got {seen}",
            self.call_name(),
            self.state,
            wanted.join(" or ")
        )))
    }
}

/// Every cell, in matrix order.
pub fn cells() -> Vec<Cell> {
    let mut cells = Vec::new();
    for (proto, states) in [(Proto::Tcp, TCP_STATES), (Proto::Udp, UDP_STATES)] {
        for family in [Family::V4, Family::V6] {
            for &state in states {
                for call in calls() {
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
                    State::UdpDisconnected => {
                        let (s, _) = udp_socket(domain)?;
                        s.start_connect(&target)?;
                        s.disconnect()?;
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

    /// Makes the cell's call and reduces what it returned to a [`Seen`]; a
    /// value read back that is not the one the contract defines fails the
    /// case.
    fn call(&self, cell: &Cell) -> Result<Seen, CaseError> {
        let s = &self.socket;
        let domain = self.target.domain().unwrap_or(Domain::Ipv4);
        let mut buf = [0u8; 16];
        Ok(match cell.call {
            Call::Bind => seen(s.bind(&loopback(domain))),
            Call::Listen => seen(s.listen(8)),
            Call::TryAccept => seen_bool(s.try_accept().map(|a| a.is_some())),
            Call::StartConnect => seen_bool(s.start_connect(&self.target)),
            Call::FinishConnect => seen_bool(s.finish_connect()),
            Call::Disconnect => seen(s.disconnect()),
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
            Call::WaitReadable => seen_bool(
                s.wait(Interest::READABLE, Some(Duration::ZERO))
                    .map(|r| r.is_readable()),
            ),
            Call::WaitWritable => seen_bool(
                s.wait(Interest::WRITABLE, Some(Duration::ZERO))
                    .map(|r| r.is_writable()),
            ),
            Call::Get(name) => match s.option(name) {
                Ok(value) => {
                    check_read(cell, None, value)?;
                    Done
                }
                Err(e) => Seen::Err(e.code()),
            },
            Call::Set(name) => {
                let value = set_value(name, cell.domain());
                match s.set_option(value) {
                    Ok(()) if defined_read_back(name) => {
                        let read = s.option(name).map_err(|e| {
                            CaseError::Fail(format!(
                                "set {value:?} succeeded, reading it back failed: {e}"
                            ))
                        })?;
                        check_read(cell, Some(value), read)?;
                        Done
                    }
                    result => seen(result),
                }
            }
        })
    }
}

/// The value a set cell sets: legal, and harmless for what the cell does
/// after (nothing), and for the sockets of other cells (each cell owns its
/// own): lingering off, timeouts on non-blocking sockets, the platform's
/// usual hop limit; the membership options use the all-hosts and
/// all-nodes groups on the loopback interface, which every interface has
/// joined already and never announces, so that no packet is sent; leaving
/// is of a group the socket never joined. The read-only options get a
/// value of their kind (the set fails before looking at it).
pub fn set_value(name: OptionName, domain: Domain) -> SocketOption {
    let secs = Duration::from_secs;
    match name {
        OptionName::ReuseAddress => SocketOption::ReuseAddress(true),
        OptionName::ReusePort => SocketOption::ReusePort(true),
        OptionName::KeepAlive => SocketOption::KeepAlive(true),
        OptionName::Linger => SocketOption::Linger(None),
        OptionName::ReceiveBufferSize => SocketOption::ReceiveBufferSize(65536),
        OptionName::SendBufferSize => SocketOption::SendBufferSize(65536),
        OptionName::ReceiveTimeout => SocketOption::ReceiveTimeout(Some(secs(1))),
        OptionName::SendTimeout => SocketOption::SendTimeout(Some(secs(1))),
        OptionName::Broadcast => SocketOption::Broadcast(true),
        OptionName::Error => SocketOption::Error(None),
        OptionName::SocketType => SocketOption::SocketType(Type::Stream),
        OptionName::NoDelay => SocketOption::NoDelay(true),
        OptionName::KeepAliveIdle => SocketOption::KeepAliveIdle(secs(30)),
        OptionName::KeepAliveInterval => SocketOption::KeepAliveInterval(secs(7)),
        OptionName::KeepAliveCount => SocketOption::KeepAliveCount(5),
        OptionName::DeferAccept => SocketOption::DeferAccept(Duration::ZERO),
        OptionName::Cork => SocketOption::Cork(false),
        OptionName::UserTimeout => SocketOption::UserTimeout(Duration::from_millis(2500)),
        OptionName::NotSentLowWater => SocketOption::NotSentLowWater(16384),
        OptionName::TrafficClass => SocketOption::TrafficClass(0x20),
        OptionName::TcpInfo => SocketOption::TcpInfo(witsock::TcpInfo::default()),
        OptionName::PeerCredentials => {
            SocketOption::PeerCredentials(witsock::PeerCredentials::default())
        }
        OptionName::ReceiveQueue => SocketOption::ReceiveQueue(0),
        OptionName::SendQueue => SocketOption::SendQueue(0),
        OptionName::Ipv6Only => SocketOption::Ipv6Only(true),
        OptionName::HopLimit => SocketOption::HopLimit(64),
        OptionName::MulticastTtlV4 => SocketOption::MulticastTtlV4(1),
        OptionName::MulticastLoopV4 => SocketOption::MulticastLoopV4(true),
        OptionName::MulticastHopsV6 => SocketOption::MulticastHopsV6(1),
        OptionName::MulticastLoopV6 => SocketOption::MulticastLoopV6(true),
        OptionName::JoinMulticastV4 => SocketOption::JoinMulticastV4 {
            group: ALL_HOSTS,
            interface: Ipv4Addr::LOCALHOST,
        },
        OptionName::LeaveMulticastV4 => SocketOption::LeaveMulticastV4 {
            group: ALL_HOSTS,
            interface: Ipv4Addr::LOCALHOST,
        },
        OptionName::JoinMulticastV6 => SocketOption::JoinMulticastV6 {
            group: ALL_NODES,
            interface: interface_index(domain),
        },
        OptionName::LeaveMulticastV6 => SocketOption::LeaveMulticastV6 {
            group: ALL_NODES,
            interface: interface_index(domain),
        },
        // A new option: the get and set cells fail until it has a value.
        _ => SocketOption::Error(None),
    }
}

/// 224.0.0.1: every IPv4 multicast interface is in it, and IGMP never
/// reports it.
const ALL_HOSTS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);
/// ff02::1: every IPv6 interface is in it, and MLD never reports it.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The loopback interface's index, for the IPv6 membership options (an
/// IPv4 socket never gets that far: the option is not its family's).
fn interface_index(domain: Domain) -> u32 {
    match domain {
        Domain::Ipv6 => loopback_interface_index(),
        _ => 0,
    }
}

/// Whether the contract defines what a get reads after the set cell's
/// set: exactly the value set, for every option but the read-only and
/// write-only ones. (Buffer sizes too: `get-option` undoes the kernel's
/// doubling, and 65536 is within every kernel's default limits.)
fn defined_read_back(name: OptionName) -> bool {
    !read_only(name) && !write_only(name)
}

/// `error`, `socket-type` and `tcp-info`.
fn read_only(name: OptionName) -> bool {
    name.is_read_only()
}

/// The multicast memberships.
fn write_only(name: OptionName) -> bool {
    matches!(
        name,
        OptionName::JoinMulticastV4
            | OptionName::LeaveMulticastV4
            | OptionName::JoinMulticastV6
            | OptionName::LeaveMulticastV6
    )
}

/// Checks a value read back: after a set, the value set; of
/// `socket-type`, the socket's type; anything else goes.
fn check_read(cell: &Cell, set: Option<SocketOption>, read: SocketOption) -> CaseResult {
    let wanted = match (set, read) {
        (Some(set), _) => set,
        (None, SocketOption::SocketType(_)) => SocketOption::SocketType(match cell.proto {
            Proto::Tcp => Type::Stream,
            Proto::Udp => Type::Datagram,
        }),
        (None, read) => read,
    };
    if read == wanted {
        Ok(())
    } else {
        Err(CaseError::Fail(format!(
            "{} in state {:?}: read {read:?}, expected {wanted:?}",
            cell.call_name(),
            cell.state
        )))
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
        Proto::Tcp => tcp(cell),
        Proto::Udp => udp(cell),
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

fn tcp(cell: &Cell) -> Vec<Seen> {
    use State::*;
    let (state, call) = (cell.state, cell.call);
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
        // A stream has no association to dissolve, whatever its state.
        Call::Disconnect => one(err(E::OperationNotSupported)),
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
        Call::SendTo => one(if connected(state) {
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
        Call::ShutdownRead | Call::ShutdownWrite | Call::ShutdownBoth => one(if connected(state) {
            Done
        } else {
            err(E::NotConnected)
        }),
        Call::LocalAddress => one(match state {
            Fresh | ConnectFailed => err(E::InvalidState),
            _ => Done,
        }),
        Call::RemoteAddress => one(if connected(state) && state != PeerReset {
            Done
        } else {
            err(E::NotConnected)
        }),
        Call::WaitReadable => one(match state {
            PeerShutWrite | ShutRead | ShutBoth | PeerReset | ConnectFailed => Yes,
            _ => No,
        }),
        Call::WaitWritable => one(match state {
            Listening => No,
            _ => Yes,
        }),
        Call::Get(_) | Call::Set(_) => one(option_outcome(cell)),
    }
}

fn udp(cell: &Cell) -> Vec<Seen> {
    use State::*;
    let (state, call) = (cell.state, cell.call);
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
        // With a peer or without (then nothing to do).
        Call::Disconnect => one(Done),
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
        Call::ShutdownRead | Call::ShutdownWrite | Call::ShutdownBoth => {
            one(err(E::OperationNotSupported))
        }
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
        Call::WaitReadable => one(No),
        Call::WaitWritable => one(Yes),
        Call::Get(_) | Call::Set(_) => one(option_outcome(cell)),
    }
}

/// The outcome of an option's get or set (the "Options" section of
/// `wit/sockets.wit`): what the portable layer answers before any backend
/// sees the call ([`portable_outcome`]), else success, but for leaving a
/// group the socket never joined.
fn option_outcome(cell: &Cell) -> Seen {
    portable_outcome(cell).unwrap_or(match cell.call {
        Call::Set(OptionName::LeaveMulticastV4 | OptionName::LeaveMulticastV6) => {
            err(E::AddressNotAvailable)
        }
        _ => Done,
    })
}

/// Whether an option exists on this kind of socket (`option-name` in
/// `wit/types.wit`): the TCP options on stream sockets, broadcast and
/// multicast on datagram sockets, the `-v4` ones on IPv4 and the `-v6`
/// ones and `ipv6-only` on IPv6, `peer-credentials` on none (it is a
/// Unix option); the rest everywhere.
fn option_exists(name: OptionName, proto: Proto, family: Family) -> bool {
    let tcp = proto == Proto::Tcp;
    let udp = proto == Proto::Udp;
    let v4 = family == Family::V4;
    let v6 = family == Family::V6;
    match name {
        OptionName::KeepAlive
        | OptionName::KeepAliveIdle
        | OptionName::KeepAliveInterval
        | OptionName::KeepAliveCount
        | OptionName::Linger
        | OptionName::NoDelay
        | OptionName::DeferAccept
        | OptionName::Cork
        | OptionName::UserTimeout
        | OptionName::NotSentLowWater
        | OptionName::TcpInfo
        | OptionName::ReceiveQueue
        | OptionName::SendQueue => tcp,
        OptionName::Broadcast => udp,
        OptionName::MulticastTtlV4
        | OptionName::MulticastLoopV4
        | OptionName::JoinMulticastV4
        | OptionName::LeaveMulticastV4 => udp && v4,
        OptionName::MulticastHopsV6
        | OptionName::MulticastLoopV6
        | OptionName::JoinMulticastV6
        | OptionName::LeaveMulticastV6 => udp && v6,
        OptionName::Ipv6Only => v6,
        OptionName::PeerCredentials => false,
        _ => true,
    }
}

/// What every backend answers an option's get or set with before the
/// backend itself is asked, in this order: setting a read-only option and
/// getting a write-only one are `invalid-argument`; an option of another
/// protocol or family is `option-not-supported`; `ipv6-only` cannot be
/// set once the socket has an address (`invalid-state`). None when the
/// backend answers.
pub fn portable_outcome(cell: &Cell) -> Option<Seen> {
    let (name, set) = match cell.call {
        Call::Get(name) => (name, false),
        Call::Set(name) => (name, true),
        _ => return None,
    };
    if (set && read_only(name)) || (!set && write_only(name)) {
        return Some(err(E::InvalidArgument));
    }
    if !option_exists(name, cell.proto, cell.family) {
        return Some(err(E::OptionNotSupported));
    }
    if set && name == OptionName::Ipv6Only && cell.state != State::Fresh {
        return Some(err(E::InvalidState));
    }
    // After a failed connect a socket can only be closed; what witsock
    // knows of it itself can still be read.
    let known = matches!(
        name,
        OptionName::Error | OptionName::SocketType | OptionName::Ipv6Only
    );
    if cell.state == State::ConnectFailed && (set || !known) {
        return Some(err(E::InvalidState));
    }
    None
}

/// Where a backend cannot build the cell's state or make its call at all,
/// and why (what `capabilities` says of it).
///
/// An option the running backend lacks (`capabilities().option(name)` is
/// `unsupported`) makes its get and set cells unsupported, with the
/// reason taken from the capability, except where the portable layer
/// answers first ([`portable_outcome`]). Capabilities are the running
/// backend's: for another backend only the limits that do not depend on
/// them are known, and a case is only ever judged on the backend that
/// runs it.
pub fn limit(cell: &Cell, backend: Backend) -> Option<&'static str> {
    if let Some(why) = state_limit(cell, backend) {
        return Some(why);
    }
    if backend != Backend::current() {
        return None;
    }
    option_limit(cell, |name| witsock::capabilities().option(name))
}

/// Where an option cell is unsupported on `backend`, whose options have
/// the support `support` gives.
fn option_limit(cell: &Cell, support: impl Fn(OptionName) -> Support) -> Option<&'static str> {
    let name = cell.call.option()?;
    if portable_outcome(cell).is_some() {
        return None;
    }
    match support(name) {
        Support::Unsupported => unsupported_option(name),
        Support::Native | Support::Emulated => None,
    }
}

/// The reason an option's cells are unsupported on the running backend:
/// what its capabilities say.
fn unsupported_option(name: OptionName) -> Option<&'static str> {
    static REASONS: OnceLock<Vec<String>> = OnceLock::new();
    let reasons = REASONS.get_or_init(|| {
        let backend = witsock::capabilities().backend;
        OptionName::ALL
            .iter()
            .map(|name| {
                format!(
                    "{backend} has no {} (capabilities: {} unsupported)",
                    name.native_name(),
                    name.wit_name()
                )
            })
            .collect()
    });
    let index = OptionName::ALL.iter().position(|&n| n == name)?;
    reasons.get(index).map(String::as_str)
}

/// Where a backend cannot build the cell's state, or make a call other
/// than an option's.
fn state_limit(cell: &Cell, backend: Backend) -> Option<&'static str> {
    if backend != Backend::WasiP2 {
        return None;
    }
    match (cell.proto, cell.state, cell.call) {
        (Proto::Tcp, State::PeerReset, _) => {
            Some("wasi:sockets has no SO_LINGER, so a peer cannot reset the connection")
        }
        // A send on an unconnected datagram socket is `not-connected`
        // before any backend is asked.
        (Proto::Udp, State::Fresh | State::Bound | State::UdpDisconnected, Call::SendVectored) => {
            None
        }
        (Proto::Udp, _, Call::SendVectored | Call::ReceiveVectored) => {
            Some("vectored I/O is emulated on wasi:sockets and would split a datagram")
        }
        // After shutdown(read), or a failed connect, a receive is
        // answered before any flag is looked at.
        (_, State::ShutRead | State::ShutBoth | State::ConnectFailed, Call::Peek) => None,
        (_, _, Call::Peek) => Some("wasi:sockets has no MSG_PEEK"),
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
        assert!(names.contains("tcp_v4_listening__set_no_delay"));
        assert!(names.contains("udp_v6_bound__get_multicast_hops_v6"));
    }

    #[test]
    fn a_disconnected_udp_socket_expects_what_a_bound_one_does() {
        let cells = cells();
        let disconnected: Vec<&Cell> = cells
            .iter()
            .filter(|c| c.state == State::UdpDisconnected)
            .collect();
        assert_eq!(disconnected.len(), 2 * calls().count());
        for cell in disconnected {
            let bound = Cell {
                state: State::Bound,
                ..*cell
            };
            assert_eq!(expected(cell), expected(&bound), "{}", cell.name());
            for backend in Backend::ALL {
                assert_eq!(
                    state_limit(cell, *backend),
                    state_limit(&bound, *backend),
                    "{} on {}",
                    cell.name(),
                    backend.name()
                );
            }
        }
        assert!(cells
            .iter()
            .filter(|c| c.call == Call::Disconnect)
            .all(|c| expected(c)
                == vec![match c.proto {
                    Proto::Tcp => err(E::OperationNotSupported),
                    Proto::Udp => Done,
                }]));
    }

    #[test]
    fn every_option_is_got_and_set_in_every_state() {
        let cells = cells();
        for (proto, states) in [(Proto::Tcp, TCP_STATES), (Proto::Udp, UDP_STATES)] {
            for family in [Family::V4, Family::V6] {
                for &state in states {
                    for &name in OptionName::ALL {
                        for call in [Call::Get(name), Call::Set(name)] {
                            let cell = Cell {
                                proto,
                                family,
                                state,
                                call,
                            };
                            assert!(cells.contains(&cell), "no cell {}", cell.name());
                        }
                    }
                }
            }
        }
    }

    /// What wasi-p2's capabilities say of its options (the table in
    /// `src/sys/wasi/mod.rs`).
    fn wasi_support(name: OptionName) -> Support {
        use OptionName as O;
        match name {
            O::KeepAlive
            | O::KeepAliveIdle
            | O::KeepAliveInterval
            | O::KeepAliveCount
            | O::HopLimit
            | O::ReceiveBufferSize
            | O::SendBufferSize => Support::Native,
            O::Ipv6Only | O::Error | O::SocketType => Support::Emulated,
            _ => Support::Unsupported,
        }
    }

    #[test]
    fn option_limits_come_from_the_capabilities() {
        let limited = |cell: &Cell| option_limit(cell, wasi_support);
        let cells = cells();
        let options: Vec<&Cell> = cells.iter().filter(|c| c.call.option().is_some()).collect();
        for cell in &options {
            let why = limited(cell);
            let name = cell.call.option();
            if portable_outcome(cell).is_some() {
                // Answered the same everywhere: never unsupported.
                assert_eq!(why, None, "{}", cell.name());
            } else if name.is_some_and(|n| wasi_support(n) == Support::Unsupported) {
                assert!(
                    why.is_some_and(|w| w.contains("capabilities")),
                    "{}: {why:?}",
                    cell.name()
                );
            } else {
                assert_eq!(why, None, "{}", cell.name());
            }
        }
        // Every option is available natively on Linux: nothing limited.
        assert!(options
            .iter()
            .all(|c| option_limit(c, |_| Support::Native).is_none()));
        let count = |f: &dyn Fn(&Cell) -> bool| options.iter().filter(|c| f(c)).count();
        // 24 options lacking, `peer-credentials` on no IP socket. On a TCP
        // socket 14 of them exist: 11 got and set; `tcp-info`,
        // `receive-queue` and `send-queue` only got (setting them is
        // `invalid-argument` everywhere), 25 cells a state, but after a
        // failed connect, where every backend answers `invalid-state`
        // first (10 states, 2 families). On a UDP socket 10: 8 got and
        // set, the 2 memberships of its family only set (getting them is
        // `invalid-argument` everywhere), 18 cells (5 states, 2 families).
        assert_eq!(count(&|c| limited(c).is_some()), 20 * 25 + 10 * 18);
        assert_eq!(
            count(&|c| limited(c).is_some() && c.state == State::ConnectFailed),
            0
        );
    }

    #[test]
    fn option_outcomes_follow_the_rules() {
        let cell = |proto, family, state, call| Cell {
            proto,
            family,
            state,
            call,
        };
        let outcome = |c: Cell| expected(&c);
        use Call::{Get, Set};
        use OptionName as O;
        for (c, want) in [
            (
                cell(Proto::Udp, Family::V4, State::Bound, Set(O::NoDelay)),
                err(E::OptionNotSupported),
            ),
            (
                cell(Proto::Tcp, Family::V4, State::Fresh, Set(O::Broadcast)),
                err(E::OptionNotSupported),
            ),
            (
                cell(Proto::Udp, Family::V4, State::Fresh, Get(O::Ipv6Only)),
                err(E::OptionNotSupported),
            ),
            (
                cell(Proto::Udp, Family::V6, State::Fresh, Set(O::MulticastTtlV4)),
                err(E::OptionNotSupported),
            ),
            (
                cell(Proto::Tcp, Family::V6, State::Fresh, Set(O::Ipv6Only)),
                Done,
            ),
            (
                cell(Proto::Tcp, Family::V6, State::Listening, Set(O::Ipv6Only)),
                err(E::InvalidState),
            ),
            (
                cell(Proto::Tcp, Family::V6, State::Listening, Get(O::Ipv6Only)),
                Done,
            ),
            (
                cell(Proto::Tcp, Family::V4, State::Connected, Set(O::Error)),
                err(E::InvalidArgument),
            ),
            (
                cell(
                    Proto::Tcp,
                    Family::V4,
                    State::Connected,
                    Get(O::JoinMulticastV4),
                ),
                err(E::InvalidArgument),
            ),
            (
                cell(
                    Proto::Udp,
                    Family::V6,
                    State::Bound,
                    Set(O::LeaveMulticastV6),
                ),
                err(E::AddressNotAvailable),
            ),
            (
                cell(Proto::Tcp, Family::V4, State::PeerReset, Set(O::KeepAlive)),
                Done,
            ),
        ] {
            assert_eq!(outcome(c), vec![want], "{}", c.name());
        }
    }
}
