//! The address matrix: every kind of address a socket call can be given,
//! on TCP and UDP sockets of both families, times the calls that take an
//! address, each cell with the outcome the WIT documents
//! (`wit/sockets.wit`, "Destinations" and "Local addresses").
//!
//! A cell is data ([`Cell`]): the protocol, the socket's family, the call
//! (`bind`; `connect`, which is `start-connect` then `finish-connect` on
//! TCP and `start-connect` on UDP; `send-to`, UDP only) and the class of
//! address ([`Class`]). Its outcome comes from one table ([`expected`]),
//! the same on every backend; where a backend cannot make the call at
//! all, [`limit`] declares it `unsupported`, matching `capabilities`.
//! Cells are named `addr_tcp_v4__connect__multicast`.
//!
//! # Ports
//!
//! A `bind` binds port 0, so that only the address is judged, except in
//! the `loopback_live` class, which binds the port a live socket holds. A
//! `connect` or `send-to` goes to the port of a live peer on loopback (a
//! listener, a bound UDP socket), except in the `loopback_port_0` class:
//! its destination cells are the "port 0 as a destination" cells.
//!
//! # What a cell checks
//!
//! The call's outcome against the table. When the call was refused, the
//! socket must be as it was: the same call to a good address (loopback
//! port 0 for `bind`, the live loopback peer for the others) succeeds
//! afterwards, so a refusal is a check, not a connect that failed.
//!
//! Before a `connect` or `send-to` the socket is bound to its family's
//! loopback address, so that nothing it could send would leave the host
//! even if a check were missing; only the `v4_mapped` cells leave it
//! unbound, as a dual-stack socket bound to `::1` cannot reach an IPv4
//! peer.
//!
//! # Cells left out
//!
//! Traffic may only ever go to loopback, even from a wrong
//! implementation, so no cell is generated that would send a packet off
//! the host if the contract's checks were missing ([`expected`] gives the
//! reason for each):
//!
//! - no `connect` or `send-to` to a documentation address (`192.0.2.1`,
//!   `2001:db8::1`): they are routable unicast, and the contract lets them
//!   through to the kernel. Only their `bind` cells exist
//!   (`address-not-available`).
//! - no UDP `send-to` a multicast group (`224.0.0.1`, `ff02::1`,
//!   `ff01::1`): a valid datagram destination, which the kernel would send
//!   out of the default interface.
//! - no UDP `connect` to the IPv4 group `224.0.0.1`: a valid destination
//!   whose outcome is the host's, not the contract's (a kernel connects it;
//!   a sandbox's policy refuses it), and a send after it would leave the
//!   host. The IPv6 groups of the matrix need an interface and are refused
//!   by the contract before the kernel (which refuses them too), so their
//!   `connect` cells exist.
//!
//! What is generated and reaches the kernel at all: binds, connects and
//! sends to loopback, a TCP connect to multicast or broadcast (refused by
//! the contract with `invalid-argument`; a kernel refuses it without a
//! packet too, ENETUNREACH), and a UDP `connect` or `send-to` to
//! `255.255.255.255` from a loopback socket without `broadcast` (refused
//! by the contract with `access-denied`; the kernel refuses it with
//! EACCES, and a datagram from loopback stays on the host anyway).
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use witsock::{Domain, ErrorCode, Interest, SendFlags, SockAddr, Socket, SocketOption, Type};

use crate::matrix::{Family, Proto, Seen};
use crate::support::{loopback, port_of, tcp_listener, udp_socket, WAIT};
use crate::{Backend, CaseError, CaseResult};

/// `192.0.2.1`, the IPv4 documentation address the matrix binds.
const DOCUMENTATION_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// `2001:db8::1`, the IPv6 documentation address the matrix binds.
const DOCUMENTATION_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
/// `224.0.0.1`, all hosts: the IPv4 group the matrix binds.
const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);

/// The addresses off loopback that the matrix binds, and that a host's
/// conformance policy must let a guest bind so that the kernel, not the
/// policy, answers (`address-not-available`, `ok`): a bind sends nothing.
/// The matrix binds no other address off loopback but the unspecified
/// ones; the rest of its classes are refused before the backend.
pub const BOUND_OFF_LOOPBACK: &[IpAddr] = &[
    IpAddr::V4(DOCUMENTATION_V4),
    IpAddr::V6(DOCUMENTATION_V6),
    IpAddr::V4(GROUP_V4),
];

/// A call that takes an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// `bind`.
    Bind,
    /// `start-connect`, then for TCP `finish-connect` until connected.
    Connect,
    /// `send-to` of one byte (UDP).
    SendTo,
}

/// The class of address a call is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// `0.0.0.0` / `::`, with a real port for a destination.
    Unspecified,
    /// The loopback address with port 0.
    LoopbackPort0,
    /// The loopback address with the port a live socket holds.
    LoopbackLive,
    /// `255.255.255.255` (IPv4 sockets).
    Broadcast,
    /// `224.0.0.1` / `ff02::1` (link-local scope, no scope id).
    Multicast,
    /// `ff01::1`, interface-local scope, no scope id (IPv6 sockets).
    MulticastInterfaceLocal,
    /// `192.0.2.1` / `2001:db8::1`: unicast, not local to the host.
    Documentation,
    /// `::ffff:127.0.0.1` on an IPv6 socket with `ipv6-only` off.
    V4Mapped,
    /// `::ffff:127.0.0.1` on an IPv6 socket with `ipv6-only` on.
    V4MappedV6Only,
    /// An address of the other family: `127.0.0.1` on an IPv6 socket,
    /// `::1` on an IPv4 one.
    WrongFamily,
}

/// The protocols and their calls, in matrix order.
const PROTOS: &[(Proto, &[Call])] = &[
    (Proto::Tcp, &[Call::Bind, Call::Connect]),
    (Proto::Udp, &[Call::Bind, Call::Connect, Call::SendTo]),
];

/// The classes of each family, in matrix order.
const V4_CLASSES: &[Class] = &[
    Class::Unspecified,
    Class::LoopbackPort0,
    Class::LoopbackLive,
    Class::Broadcast,
    Class::Multicast,
    Class::Documentation,
    Class::WrongFamily,
];
const V6_CLASSES: &[Class] = &[
    Class::Unspecified,
    Class::LoopbackPort0,
    Class::LoopbackLive,
    Class::Multicast,
    Class::MulticastInterfaceLocal,
    Class::Documentation,
    Class::V4Mapped,
    Class::V4MappedV6Only,
    Class::WrongFamily,
];

/// One cell of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    /// TCP or UDP.
    pub proto: Proto,
    /// The socket's family.
    pub family: Family,
    /// The call.
    pub call: Call,
    /// The address it is given.
    pub class: Class,
}

fn snake(debug: impl std::fmt::Debug) -> String {
    let camel = format!("{debug:?}");
    let mut out = String::new();
    let mut prev_digit = false;
    for (i, c) in camel.chars().enumerate() {
        if (c.is_ascii_uppercase() || (c.is_ascii_digit() && !prev_digit)) && i > 0 {
            out.push('_');
        }
        prev_digit = c.is_ascii_digit();
        out.push(c.to_ascii_lowercase());
    }
    // `V4Mapped` reads `v_4_mapped` by the rule above.
    out.replace("v_4", "v4").replace("v_6", "v6")
}

impl Cell {
    /// `addr_tcp_v4__connect__multicast`.
    pub fn name(&self) -> String {
        let proto = match self.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        };
        format!(
            "addr_{proto}_{}__{}__{}",
            family_name(self.family),
            snake(self.call),
            snake(self.class)
        )
    }

    fn domain(&self) -> Domain {
        domain(self.family)
    }

    fn ty(&self) -> Type {
        match self.proto {
            Proto::Tcp => Type::Stream,
            Proto::Udp => Type::Datagram,
        }
    }

    /// Makes the call and compares what it did with the table; after a
    /// refusal, checks that the socket still takes a good address.
    pub fn run(&self) -> CaseResult {
        let wanted = expected(self).map_err(|why| {
            CaseError::Fail(format!("{} is left out of the matrix: {why}", self.name()))
        })?;
        let fixture = Fixture::build(self)?;
        let addr = fixture.address(self);
        let seen = fixture.call(self, &addr)?;
        if seen != wanted {
            return Err(CaseError::Fail(format!(
                "{} with {addr}: expected {wanted}, got {seen}",
                snake(self.call).replace('_', "-"),
            )));
        }
        if seen == Seen::Done {
            return Ok(());
        }
        let good = fixture.good_address(self);
        match fixture.call(self, &good)? {
            Seen::Done => Ok(()),
            again => Err(CaseError::Fail(format!(
                "after the refused {} with {addr}, the same call with {good} gave {again}: \
                 the refusal changed the socket",
                snake(self.call).replace('_', "-"),
            ))),
        }
    }
}

fn family_name(family: Family) -> &'static str {
    match family {
        Family::V4 => "v4",
        Family::V6 => "v6",
    }
}

fn domain(family: Family) -> Domain {
    match family {
        Family::V4 => Domain::Ipv4,
        Family::V6 => Domain::Ipv6,
    }
}

/// Every cell that exists, generated or left out, in matrix order.
fn every_cell() -> Vec<Cell> {
    let mut cells = Vec::new();
    for &(proto, calls) in PROTOS {
        for (family, classes) in [(Family::V4, V4_CLASSES), (Family::V6, V6_CLASSES)] {
            for &call in calls {
                for &class in classes {
                    cells.push(Cell {
                        proto,
                        family,
                        call,
                        class,
                    });
                }
            }
        }
    }
    cells
}

/// Every generated cell, in matrix order.
pub fn cells() -> Vec<Cell> {
    every_cell()
        .into_iter()
        .filter(|cell| expected(cell).is_ok())
        .collect()
}

/// The cells left out, with the reason (see the module docs).
pub fn left_out() -> Vec<(Cell, &'static str)> {
    every_cell()
        .into_iter()
        .filter_map(|cell| Some((cell, expected(&cell).err()?)))
        .collect()
}

/// A live socket and its address: a listener (TCP), a bound socket (UDP).
fn live(proto: Proto, domain: Domain) -> Result<(Socket, SockAddr), CaseError> {
    match proto {
        Proto::Tcp => tcp_listener(domain),
        Proto::Udp => udp_socket(domain),
    }
}

/// The socket under test and the live peers its addresses point at.
struct Fixture {
    socket: Socket,
    /// The live peer of the socket's own family.
    own: SockAddr,
    /// The live peer of the other family (the mapped and wrong-family
    /// classes point at it).
    other: Option<SockAddr>,
    _keep: Vec<Socket>,
}

impl Fixture {
    fn build(cell: &Cell) -> Result<Fixture, CaseError> {
        let domain = cell.domain();
        let (own_peer, own) = live(cell.proto, domain)?;
        let mut keep = vec![own_peer];
        let other = match cell.class {
            Class::V4Mapped | Class::V4MappedV6Only | Class::WrongFamily => {
                let other_domain = match cell.family {
                    Family::V4 => Domain::Ipv6,
                    Family::V6 => Domain::Ipv4,
                };
                let (peer, addr) = live(cell.proto, other_domain)?;
                keep.push(peer);
                Some(addr)
            }
            _ => None,
        };
        let socket = Socket::new_nonblocking(domain, cell.ty(), None)?;
        match cell.class {
            // Unsupported where there is no dual-stack.
            Class::V4Mapped => socket.set_option(SocketOption::Ipv6Only(false))?,
            Class::V4MappedV6Only => socket.set_option(SocketOption::Ipv6Only(true))?,
            _ => {}
        }
        if cell.call != Call::Bind && cell.class != Class::V4Mapped {
            socket.bind(&loopback(domain))?;
        }
        Ok(Fixture {
            socket,
            own,
            other,
            _keep: keep,
        })
    }

    /// The port of the live peer of `ip`'s family.
    fn live_port(&self, ip: IpAddr) -> u16 {
        let v4 = match ip {
            IpAddr::V4(_) => true,
            IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some(),
        };
        let own_v4 = self.own.domain() == Some(Domain::Ipv4);
        let peer = if v4 == own_v4 {
            Some(&self.own)
        } else {
            self.other.as_ref()
        };
        peer.and_then(|addr| port_of(addr).ok()).unwrap_or(0)
    }

    /// The cell's address (module docs: "Ports").
    fn address(&self, cell: &Cell) -> SockAddr {
        let ip = ip(cell);
        let port = match (cell.call, cell.class) {
            (Call::Bind, Class::LoopbackLive) => self.live_port(ip),
            (Call::Bind, _) | (_, Class::LoopbackPort0) => 0,
            _ => self.live_port(ip),
        };
        SocketAddr::new(ip, port).into()
    }

    /// The address the call must still take after a refusal.
    fn good_address(&self, cell: &Cell) -> SockAddr {
        match cell.call {
            Call::Bind => loopback(cell.domain()),
            Call::Connect | Call::SendTo => self.own,
        }
    }

    /// Makes the cell's call with `addr`; an `unsupported` answer is the
    /// case's `unsupported`.
    fn call(&self, cell: &Cell, addr: &SockAddr) -> Result<Seen, CaseError> {
        let s = &self.socket;
        let seen = match (cell.call, cell.proto) {
            (Call::Bind, _) => seen(s.bind(addr)),
            (Call::Connect, Proto::Tcp) => match s.start_connect(addr) {
                Ok(true) => Seen::Done,
                Ok(false) => finish(s)?,
                Err(e) => Seen::Err(e.code()),
            },
            (Call::Connect, Proto::Udp) => seen(s.start_connect(addr)),
            (Call::SendTo, _) => seen(s.send_to(b"x", addr, SendFlags::EMPTY)),
        };
        match seen {
            Seen::Err(ErrorCode::Unsupported | ErrorCode::OptionNotSupported) => Err(
                CaseError::Unsupported(format!("{:?} with {addr}: {seen}", cell.call)),
            ),
            seen => Ok(seen),
        }
    }
}

/// The IP address of the cell's class, for a socket of its family.
fn ip(cell: &Cell) -> IpAddr {
    let v6 = cell.family == Family::V6;
    match cell.class {
        Class::Unspecified if v6 => Ipv6Addr::UNSPECIFIED.into(),
        Class::Unspecified => Ipv4Addr::UNSPECIFIED.into(),
        Class::LoopbackPort0 | Class::LoopbackLive if v6 => Ipv6Addr::LOCALHOST.into(),
        Class::LoopbackPort0 | Class::LoopbackLive => Ipv4Addr::LOCALHOST.into(),
        Class::Broadcast => Ipv4Addr::BROADCAST.into(),
        Class::Multicast if v6 => Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1).into(),
        Class::Multicast => GROUP_V4.into(),
        Class::MulticastInterfaceLocal => Ipv6Addr::new(0xff01, 0, 0, 0, 0, 0, 0, 1).into(),
        Class::Documentation if v6 => DOCUMENTATION_V6.into(),
        Class::Documentation => DOCUMENTATION_V4.into(),
        Class::V4Mapped | Class::V4MappedV6Only => Ipv4Addr::LOCALHOST.to_ipv6_mapped().into(),
        Class::WrongFamily if v6 => Ipv4Addr::LOCALHOST.into(),
        Class::WrongFamily => Ipv6Addr::LOCALHOST.into(),
    }
}

/// Finishes a TCP connect in progress, waiting up to [`WAIT`] each step:
/// `ok` once connected, or the connect's error.
fn finish(socket: &Socket) -> Result<Seen, CaseError> {
    for _ in 0..8 {
        match socket.wait(Interest::WRITABLE, Some(WAIT)) {
            Ok(ready) if ready.is_empty() => {
                return Err(CaseError::Fail("timed out waiting for the connect".into()))
            }
            Ok(_) => {}
            Err(e) => return Ok(Seen::Err(e.code())),
        }
        match socket.finish_connect() {
            Ok(true) => return Ok(Seen::Done),
            Ok(false) => {}
            Err(e) => return Ok(Seen::Err(e.code())),
        }
    }
    Err(CaseError::Fail(
        "finish-connect kept reporting in progress on a writable socket".into(),
    ))
}

fn seen<T>(result: witsock::Result<T>) -> Seen {
    match result {
        Ok(_) => Seen::Done,
        Err(e) => Seen::Err(e.code()),
    }
}

use ErrorCode as E;
use Seen::Done;

const fn err(code: ErrorCode) -> Seen {
    Seen::Err(code)
}

/// Why the documentation destinations are left out.
const ROUTABLE: &str = "a documentation address is routable unicast that the contract lets \
                        through: a wrong implementation would send to it";
/// Why UDP sends to multicast groups are left out.
const MULTICAST_SEND: &str = "a multicast group is a valid datagram destination: the kernel \
                              would send to it out of the default interface";
/// Why a UDP connect to the IPv4 group is left out.
const MULTICAST_CONNECT: &str = "a valid destination whose outcome is the host's (a kernel \
                                 connects it, a sandbox's policy refuses it), and a send after \
                                 it would leave the host";

/// The documented outcome of a cell, the same on every backend (the
/// "Destinations" and "Local addresses" sections of `wit/sockets.wit`),
/// or why the cell is left out of the matrix.
pub fn expected(cell: &Cell) -> Result<Seen, &'static str> {
    let stream = cell.proto == Proto::Tcp;
    let v6 = cell.family == Family::V6;
    Ok(match (cell.call, cell.class) {
        // Local addresses.
        (Call::Bind, Class::Unspecified | Class::LoopbackPort0 | Class::V4Mapped) => Done,
        (Call::Bind, Class::LoopbackLive) => err(E::AddressInUse),
        (Call::Bind, Class::Documentation) => err(E::AddressNotAvailable),
        // A datagram socket binds an IPv4 group; the IPv6 groups here
        // need an interface.
        (Call::Bind, Class::Multicast) if !stream && !v6 => Done,
        (
            Call::Bind,
            Class::Broadcast
            | Class::Multicast
            | Class::MulticastInterfaceLocal
            | Class::V4MappedV6Only
            | Class::WrongFamily,
        ) => err(E::InvalidArgument),
        // Destinations.
        (_, Class::Documentation) => return Err(ROUTABLE),
        (Call::SendTo, Class::Multicast | Class::MulticastInterfaceLocal) => {
            return Err(MULTICAST_SEND)
        }
        (Call::Connect, Class::Multicast) if !stream && !v6 => return Err(MULTICAST_CONNECT),
        (_, Class::LoopbackLive | Class::V4Mapped) => Done,
        // No `broadcast` on the socket.
        (_, Class::Broadcast) if !stream => err(E::AccessDenied),
        (
            _,
            Class::Unspecified
            | Class::LoopbackPort0
            | Class::Broadcast
            | Class::Multicast
            | Class::MulticastInterfaceLocal
            | Class::V4MappedV6Only
            | Class::WrongFamily,
        ) => err(E::InvalidArgument),
    })
}

/// Where a backend cannot make the cell's call at all, and why (what
/// `capabilities` says of it).
pub fn limit(cell: &Cell, backend: Backend) -> Option<&'static str> {
    match (backend, cell.class) {
        (Backend::WasiP2, Class::V4Mapped) => {
            Some("wasi:sockets has no dual-stack: IPv6 sockets are IPv6-only")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_total_and_names_are_unique() {
        let cells = cells();
        let left_out = left_out();
        assert_eq!(cells.len(), 70, "cells");
        assert_eq!(left_out.len(), 10, "cells left out");
        assert_eq!(cells.len() + left_out.len(), every_cell().len());
        let mut names = std::collections::HashSet::new();
        for cell in &cells {
            let name = cell.name();
            assert!(names.insert(name.clone()), "{name} twice");
            assert!(name.starts_with("addr_"), "{name}");
        }
        for name in [
            "addr_tcp_v4__bind__unspecified",
            "addr_tcp_v4__connect__multicast",
            "addr_tcp_v6__connect__v4_mapped_v6_only",
            "addr_udp_v4__send_to__broadcast",
            "addr_udp_v4__bind__loopback_port_0",
            "addr_udp_v6__connect__multicast_interface_local",
            "addr_udp_v6__bind__documentation",
            "addr_udp_v6__send_to__wrong_family",
        ] {
            assert!(names.contains(name), "{name} missing");
        }
        // Nothing that could leave the host is generated.
        for cell in &cells {
            let destination = cell.call != Call::Bind;
            assert!(
                !(destination && cell.class == Class::Documentation),
                "{}",
                cell.name()
            );
            assert!(
                !(cell.call == Call::SendTo
                    && matches!(
                        cell.class,
                        Class::Multicast | Class::MulticastInterfaceLocal
                    )),
                "{}",
                cell.name()
            );
        }
        // Distinct from the state matrix's names.
        for cell in crate::matrix::cells() {
            assert!(!names.contains(&cell.name()), "{}", cell.name());
        }
    }

    #[test]
    fn binds_off_loopback_are_listed_for_the_host_policies() {
        for cell in cells() {
            let ip = ip(&cell).to_canonical();
            let reaches_backend = !matches!(expected(&cell), Ok(Seen::Err(E::InvalidArgument)));
            if cell.call == Call::Bind
                && reaches_backend
                && !ip.is_loopback()
                && !ip.is_unspecified()
            {
                assert!(BOUND_OFF_LOOPBACK.contains(&ip), "{}: {ip}", cell.name());
            }
        }
        for listed in BOUND_OFF_LOOPBACK {
            assert!(
                cells()
                    .iter()
                    .any(|cell| cell.call == Call::Bind && ip(cell) == *listed),
                "{listed} is bound by no cell"
            );
        }
    }

    #[test]
    fn limits_match_the_capabilities() {
        let caps = witsock::capabilities();
        let backend = Backend::current();
        for cell in cells() {
            let limited = limit(&cell, backend).is_some();
            let wanted = cell.class == Class::V4Mapped && !caps.dual_stack.is_available();
            assert_eq!(limited, wanted, "{}", cell.name());
        }
    }
}
