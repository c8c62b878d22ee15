//! Conversions between the generated WIT types and witsock's.
//!
//! WIT-side enums are matched exhaustively (a case added to the WIT does
//! not compile until it is mapped); witsock's enums are `non_exhaustive`,
//! so their matches end in a fallback, and the tests below check that no
//! case of theirs reaches it.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::Duration;

use witsock::{
    Domain, ErrorCode, Interest, OptionName, Readiness, RecvFlags, SendFlags, Shutdown, SockAddr,
    SocketOption, Support, Type,
};

use super::bindings::witsock::sockets::types as wt;

/// A WIT error with its native code.
#[inline]
pub(crate) fn error(e: witsock::Error) -> wt::Error {
    wt::Error {
        code: error_code(e.code()),
        os_error: e.raw_os_error(),
    }
}

/// A WIT error without a native code: a refusal of the host's own.
#[inline]
pub(crate) fn refusal(code: wt::ErrorCode) -> wt::Error {
    wt::Error {
        code,
        os_error: None,
    }
}

pub(crate) fn error_code(code: ErrorCode) -> wt::ErrorCode {
    use wt::ErrorCode as W;
    match code {
        ErrorCode::WouldBlock => W::WouldBlock,
        ErrorCode::InProgress => W::InProgress,
        ErrorCode::AlreadyInProgress => W::AlreadyInProgress,
        ErrorCode::Interrupted => W::Interrupted,
        ErrorCode::AddressInUse => W::AddressInUse,
        ErrorCode::AddressNotAvailable => W::AddressNotAvailable,
        ErrorCode::ConnectionRefused => W::ConnectionRefused,
        ErrorCode::ConnectionReset => W::ConnectionReset,
        ErrorCode::ConnectionAborted => W::ConnectionAborted,
        ErrorCode::NotConnected => W::NotConnected,
        ErrorCode::AlreadyConnected => W::AlreadyConnected,
        ErrorCode::TimedOut => W::TimedOut,
        ErrorCode::HostUnreachable => W::HostUnreachable,
        ErrorCode::NetworkUnreachable => W::NetworkUnreachable,
        ErrorCode::NetworkDown => W::NetworkDown,
        ErrorCode::AccessDenied => W::AccessDenied,
        ErrorCode::InvalidArgument => W::InvalidArgument,
        ErrorCode::InvalidState => W::InvalidState,
        ErrorCode::MessageSize => W::MessageSize,
        ErrorCode::NoBufferSpace => W::NoBufferSpace,
        ErrorCode::TooManySockets => W::TooManySockets,
        ErrorCode::AddressFamilyNotSupported => W::AddressFamilyNotSupported,
        ErrorCode::ProtocolNotSupported => W::ProtocolNotSupported,
        ErrorCode::OptionNotSupported => W::OptionNotSupported,
        ErrorCode::OperationNotSupported => W::OperationNotSupported,
        ErrorCode::Shutdown => W::Shutdown,
        ErrorCode::NotASocket => W::NotASocket,
        ErrorCode::NameUnresolvable => W::NameUnresolvable,
        ErrorCode::TemporaryResolverFailure => W::TemporaryResolverFailure,
        ErrorCode::PermanentResolverFailure => W::PermanentResolverFailure,
        ErrorCode::Unsupported => W::Unsupported,
        _ => W::Other,
    }
}

fn error_code_from_wit(code: wt::ErrorCode) -> ErrorCode {
    use wt::ErrorCode as W;
    match code {
        W::WouldBlock => ErrorCode::WouldBlock,
        W::InProgress => ErrorCode::InProgress,
        W::AlreadyInProgress => ErrorCode::AlreadyInProgress,
        W::Interrupted => ErrorCode::Interrupted,
        W::AddressInUse => ErrorCode::AddressInUse,
        W::AddressNotAvailable => ErrorCode::AddressNotAvailable,
        W::ConnectionRefused => ErrorCode::ConnectionRefused,
        W::ConnectionReset => ErrorCode::ConnectionReset,
        W::ConnectionAborted => ErrorCode::ConnectionAborted,
        W::NotConnected => ErrorCode::NotConnected,
        W::AlreadyConnected => ErrorCode::AlreadyConnected,
        W::TimedOut => ErrorCode::TimedOut,
        W::HostUnreachable => ErrorCode::HostUnreachable,
        W::NetworkUnreachable => ErrorCode::NetworkUnreachable,
        W::NetworkDown => ErrorCode::NetworkDown,
        W::AccessDenied => ErrorCode::AccessDenied,
        W::InvalidArgument => ErrorCode::InvalidArgument,
        W::InvalidState => ErrorCode::InvalidState,
        W::MessageSize => ErrorCode::MessageSize,
        W::NoBufferSpace => ErrorCode::NoBufferSpace,
        W::TooManySockets => ErrorCode::TooManySockets,
        W::AddressFamilyNotSupported => ErrorCode::AddressFamilyNotSupported,
        W::ProtocolNotSupported => ErrorCode::ProtocolNotSupported,
        W::OptionNotSupported => ErrorCode::OptionNotSupported,
        W::OperationNotSupported => ErrorCode::OperationNotSupported,
        W::Shutdown => ErrorCode::Shutdown,
        W::NotASocket => ErrorCode::NotASocket,
        W::NameUnresolvable => ErrorCode::NameUnresolvable,
        W::TemporaryResolverFailure => ErrorCode::TemporaryResolverFailure,
        W::PermanentResolverFailure => ErrorCode::PermanentResolverFailure,
        W::Unsupported => ErrorCode::Unsupported,
        W::Other => ErrorCode::Other,
    }
}

pub(crate) fn domain(family: wt::AddressFamily) -> Domain {
    match family {
        wt::AddressFamily::Ipv4 => Domain::Ipv4,
        wt::AddressFamily::Ipv6 => Domain::Ipv6,
        wt::AddressFamily::Unix => Domain::Unix,
    }
}

pub(crate) fn socket_type(ty: wt::SocketType) -> Type {
    match ty {
        wt::SocketType::Stream => Type::Stream,
        wt::SocketType::Datagram => Type::Datagram,
        wt::SocketType::SeqPacket => Type::SeqPacket,
    }
}

/// `None` for a type witsock gained after this host was written.
fn socket_type_to_wit(ty: Type) -> Option<wt::SocketType> {
    match ty {
        Type::Stream => Some(wt::SocketType::Stream),
        Type::Datagram => Some(wt::SocketType::Datagram),
        Type::SeqPacket => Some(wt::SocketType::SeqPacket),
        _ => None,
    }
}

pub(crate) fn protocol(protocol: wt::Protocol) -> witsock::Protocol {
    match protocol {
        wt::Protocol::Tcp => witsock::Protocol::Tcp,
        wt::Protocol::Udp => witsock::Protocol::Udp,
    }
}

pub(crate) fn shutdown(how: wt::ShutdownHow) -> Shutdown {
    match how {
        wt::ShutdownHow::Read => Shutdown::Read,
        wt::ShutdownHow::Write => Shutdown::Write,
        wt::ShutdownHow::Both => Shutdown::Both,
    }
}

pub(crate) fn support(support: Support) -> wt::Support {
    match support {
        Support::Native => wt::Support::Native,
        Support::Emulated => wt::Support::Emulated,
        Support::Unsupported => wt::Support::Unsupported,
    }
}

/// The bits of a WIT flags value: flag `i` is bit `1 << i`, as witsock
/// lays out its own flags.
fn flag_bits(words: [u32; 1]) -> u32 {
    words[0]
}

pub(crate) fn send_flags(flags: wt::SendFlags) -> SendFlags {
    let bits = flag_bits(flags.as_array());
    let mut out = SendFlags::EMPTY;
    for (_, flag) in SendFlags::FLAGS {
        if bits & u32::from(flag.bits()) != 0 {
            out |= *flag;
        }
    }
    out
}

pub(crate) fn recv_flags(flags: wt::ReceiveFlags) -> RecvFlags {
    let bits = flag_bits(flags.as_array());
    let mut out = RecvFlags::EMPTY;
    for (_, flag) in RecvFlags::FLAGS {
        if bits & u32::from(flag.bits()) != 0 {
            out |= *flag;
        }
    }
    out
}

pub(crate) fn interest(interest: wt::Interest) -> Interest {
    let mut out = Interest::EMPTY;
    if interest.contains(wt::Interest::READABLE) {
        out |= Interest::READABLE;
    }
    if interest.contains(wt::Interest::WRITABLE) {
        out |= Interest::WRITABLE;
    }
    out
}

pub(crate) fn readiness(readiness: Readiness) -> wt::Readiness {
    let mut out = wt::Readiness::empty();
    if readiness.is_readable() {
        out |= wt::Readiness::READABLE;
    }
    if readiness.is_writable() {
        out |= wt::Readiness::WRITABLE;
    }
    if readiness.is_error() {
        out |= wt::Readiness::ERROR;
    }
    if readiness.is_hang_up() {
        out |= wt::Readiness::HANG_UP;
    }
    out
}

/// The path of a WIT Unix address (bytes, as the kernel takes them).
pub(crate) fn unix_path(bytes: &[u8]) -> witsock::Result<&std::path::Path> {
    use std::os::unix::ffi::OsStrExt;
    if bytes.is_empty() || bytes.contains(&0) {
        return Err(witsock::Error::new(ErrorCode::InvalidArgument));
    }
    Ok(std::path::Path::new(std::ffi::OsStr::from_bytes(bytes)))
}

pub(crate) fn ipv4(a: &wt::Ipv4SocketAddress) -> SocketAddrV4 {
    let (b0, b1, b2, b3) = a.address;
    SocketAddrV4::new(Ipv4Addr::new(b0, b1, b2, b3), a.port)
}

pub(crate) fn ipv6(a: &wt::Ipv6SocketAddress) -> SocketAddrV6 {
    let (s0, s1, s2, s3, s4, s5, s6, s7) = a.address;
    SocketAddrV6::new(
        Ipv6Addr::new(s0, s1, s2, s3, s4, s5, s6, s7),
        a.port,
        a.flow_info,
        a.scope_id,
    )
}

/// The WIT form of a socket address the kernel reported (an unknown family
/// reads as unnamed: witsock only hands back families it knows). A Unix
/// name the host bound through a pinned directory reads as the name the
/// guest asked for.
pub(crate) fn address_to_wit(addr: &SockAddr) -> wt::SocketAddress {
    if let Some(ip) = addr.as_socket() {
        return ip_to_wit(ip);
    }
    if let Some(path) = addr.as_unix_bytes() {
        return match crate::sockets::unix_path::guest_name(path) {
            Some(name) => wt::SocketAddress::Unix(name),
            None => wt::SocketAddress::Unnamed,
        };
    }
    if let Some(name) = addr.as_abstract_name() {
        return wt::SocketAddress::UnixAbstract(name.to_vec());
    }
    wt::SocketAddress::Unnamed
}

pub(crate) fn ip_to_wit(ip: SocketAddr) -> wt::SocketAddress {
    match ip {
        SocketAddr::V4(a) => {
            let [b0, b1, b2, b3] = a.ip().octets();
            wt::SocketAddress::Ipv4(wt::Ipv4SocketAddress {
                port: a.port(),
                address: (b0, b1, b2, b3),
            })
        }
        SocketAddr::V6(a) => {
            let [s0, s1, s2, s3, s4, s5, s6, s7] = a.ip().segments();
            wt::SocketAddress::Ipv6(wt::Ipv6SocketAddress {
                port: a.port(),
                flow_info: a.flowinfo(),
                address: (s0, s1, s2, s3, s4, s5, s6, s7),
                scope_id: a.scope_id(),
            })
        }
    }
}

pub(crate) fn option_name(name: wt::OptionName) -> OptionName {
    use wt::OptionName as W;
    match name {
        W::ReuseAddress => OptionName::ReuseAddress,
        W::ReusePort => OptionName::ReusePort,
        W::KeepAlive => OptionName::KeepAlive,
        W::Linger => OptionName::Linger,
        W::ReceiveBufferSize => OptionName::ReceiveBufferSize,
        W::SendBufferSize => OptionName::SendBufferSize,
        W::ReceiveTimeout => OptionName::ReceiveTimeout,
        W::SendTimeout => OptionName::SendTimeout,
        W::Broadcast => OptionName::Broadcast,
        W::Error => OptionName::Error,
        W::SocketType => OptionName::SocketType,
        W::NoDelay => OptionName::NoDelay,
        W::KeepAliveIdle => OptionName::KeepAliveIdle,
        W::KeepAliveInterval => OptionName::KeepAliveInterval,
        W::KeepAliveCount => OptionName::KeepAliveCount,
        W::DeferAccept => OptionName::DeferAccept,
        W::Ipv6Only => OptionName::Ipv6Only,
        W::HopLimit => OptionName::HopLimit,
        W::MulticastTtlV4 => OptionName::MulticastTtlV4,
        W::MulticastLoopV4 => OptionName::MulticastLoopV4,
        W::MulticastHopsV6 => OptionName::MulticastHopsV6,
        W::MulticastLoopV6 => OptionName::MulticastLoopV6,
        W::JoinMulticastV4 => OptionName::JoinMulticastV4,
        W::LeaveMulticastV4 => OptionName::LeaveMulticastV4,
        W::JoinMulticastV6 => OptionName::JoinMulticastV6,
        W::LeaveMulticastV6 => OptionName::LeaveMulticastV6,
    }
}

/// `None` for an option witsock gained after this host was written.
pub(crate) fn option_name_to_wit(name: OptionName) -> Option<wt::OptionName> {
    use wt::OptionName as W;
    Some(match name {
        OptionName::ReuseAddress => W::ReuseAddress,
        OptionName::ReusePort => W::ReusePort,
        OptionName::KeepAlive => W::KeepAlive,
        OptionName::Linger => W::Linger,
        OptionName::ReceiveBufferSize => W::ReceiveBufferSize,
        OptionName::SendBufferSize => W::SendBufferSize,
        OptionName::ReceiveTimeout => W::ReceiveTimeout,
        OptionName::SendTimeout => W::SendTimeout,
        OptionName::Broadcast => W::Broadcast,
        OptionName::Error => W::Error,
        OptionName::SocketType => W::SocketType,
        OptionName::NoDelay => W::NoDelay,
        OptionName::KeepAliveIdle => W::KeepAliveIdle,
        OptionName::KeepAliveInterval => W::KeepAliveInterval,
        OptionName::KeepAliveCount => W::KeepAliveCount,
        OptionName::DeferAccept => W::DeferAccept,
        OptionName::Ipv6Only => W::Ipv6Only,
        OptionName::HopLimit => W::HopLimit,
        OptionName::MulticastTtlV4 => W::MulticastTtlV4,
        OptionName::MulticastLoopV4 => W::MulticastLoopV4,
        OptionName::MulticastHopsV6 => W::MulticastHopsV6,
        OptionName::MulticastLoopV6 => W::MulticastLoopV6,
        OptionName::JoinMulticastV4 => W::JoinMulticastV4,
        OptionName::LeaveMulticastV4 => W::LeaveMulticastV4,
        OptionName::JoinMulticastV6 => W::JoinMulticastV6,
        OptionName::LeaveMulticastV6 => W::LeaveMulticastV6,
        _ => return None,
    })
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A byte count as the kernel takes it; anything past `usize` is out of
/// range, which `validate` rejects.
fn size(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn ipv4_addr((a, b, c, d): wt::Ipv4Address) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

fn ipv6_addr((a, b, c, d, e, f, g, h): wt::Ipv6Address) -> Ipv6Addr {
    Ipv6Addr::new(a, b, c, d, e, f, g, h)
}

fn ipv4_to_wit(ip: Ipv4Addr) -> wt::Ipv4Address {
    let [a, b, c, d] = ip.octets();
    (a, b, c, d)
}

fn ipv6_to_wit(ip: Ipv6Addr) -> wt::Ipv6Address {
    let [a, b, c, d, e, f, g, h] = ip.segments();
    (a, b, c, d, e, f, g, h)
}

/// The witsock option a WIT value sets (checked by `Socket::set_option`).
pub(crate) fn option(value: &wt::OptionValue) -> SocketOption {
    use wt::OptionValue as V;
    match *value {
        V::ReuseAddress(b) => SocketOption::ReuseAddress(b),
        V::ReusePort(b) => SocketOption::ReusePort(b),
        V::KeepAlive(b) => SocketOption::KeepAlive(b),
        V::Linger(ns) => SocketOption::Linger(ns.map(Duration::from_nanos)),
        V::ReceiveBufferSize(n) => SocketOption::ReceiveBufferSize(size(n)),
        V::SendBufferSize(n) => SocketOption::SendBufferSize(size(n)),
        V::ReceiveTimeout(ns) => SocketOption::ReceiveTimeout(ns.map(Duration::from_nanos)),
        V::SendTimeout(ns) => SocketOption::SendTimeout(ns.map(Duration::from_nanos)),
        V::Broadcast(b) => SocketOption::Broadcast(b),
        V::Error(e) => SocketOption::Error(e.map(|e| {
            witsock::Error::with_raw(error_code_from_wit(e.code), e.os_error.unwrap_or(0))
        })),
        V::SocketType(t) => SocketOption::SocketType(socket_type(t)),
        V::NoDelay(b) => SocketOption::NoDelay(b),
        V::KeepAliveIdle(ns) => SocketOption::KeepAliveIdle(Duration::from_nanos(ns)),
        V::KeepAliveInterval(ns) => SocketOption::KeepAliveInterval(Duration::from_nanos(ns)),
        V::KeepAliveCount(n) => SocketOption::KeepAliveCount(n),
        V::DeferAccept(ns) => SocketOption::DeferAccept(Duration::from_nanos(ns)),
        V::Ipv6Only(b) => SocketOption::Ipv6Only(b),
        V::HopLimit(n) => SocketOption::HopLimit(n),
        V::MulticastTtlV4(n) => SocketOption::MulticastTtlV4(n),
        V::MulticastLoopV4(b) => SocketOption::MulticastLoopV4(b),
        V::MulticastHopsV6(n) => SocketOption::MulticastHopsV6(n),
        V::MulticastLoopV6(b) => SocketOption::MulticastLoopV6(b),
        V::JoinMulticastV4(m) => SocketOption::JoinMulticastV4 {
            group: ipv4_addr(m.group),
            interface: ipv4_addr(m.interface),
        },
        V::LeaveMulticastV4(m) => SocketOption::LeaveMulticastV4 {
            group: ipv4_addr(m.group),
            interface: ipv4_addr(m.interface),
        },
        V::JoinMulticastV6(m) => SocketOption::JoinMulticastV6 {
            group: ipv6_addr(m.group),
            interface: m.interface,
        },
        V::LeaveMulticastV6(m) => SocketOption::LeaveMulticastV6 {
            group: ipv6_addr(m.group),
            interface: m.interface,
        },
    }
}

/// The WIT value of an option read from a socket; `None` for a value
/// witsock gained after this host was written.
pub(crate) fn option_to_wit(option: SocketOption) -> Option<wt::OptionValue> {
    use wt::OptionValue as V;
    Some(match option {
        SocketOption::ReuseAddress(b) => V::ReuseAddress(b),
        SocketOption::ReusePort(b) => V::ReusePort(b),
        SocketOption::KeepAlive(b) => V::KeepAlive(b),
        SocketOption::Linger(d) => V::Linger(d.map(nanos)),
        SocketOption::ReceiveBufferSize(n) => V::ReceiveBufferSize(n as u64),
        SocketOption::SendBufferSize(n) => V::SendBufferSize(n as u64),
        SocketOption::ReceiveTimeout(d) => V::ReceiveTimeout(d.map(nanos)),
        SocketOption::SendTimeout(d) => V::SendTimeout(d.map(nanos)),
        SocketOption::Broadcast(b) => V::Broadcast(b),
        SocketOption::Error(e) => V::Error(e.map(error)),
        SocketOption::SocketType(t) => V::SocketType(socket_type_to_wit(t)?),
        SocketOption::NoDelay(b) => V::NoDelay(b),
        SocketOption::KeepAliveIdle(d) => V::KeepAliveIdle(nanos(d)),
        SocketOption::KeepAliveInterval(d) => V::KeepAliveInterval(nanos(d)),
        SocketOption::KeepAliveCount(n) => V::KeepAliveCount(n),
        SocketOption::DeferAccept(d) => V::DeferAccept(nanos(d)),
        SocketOption::Ipv6Only(b) => V::Ipv6Only(b),
        SocketOption::HopLimit(n) => V::HopLimit(n),
        SocketOption::MulticastTtlV4(n) => V::MulticastTtlV4(n),
        SocketOption::MulticastLoopV4(b) => V::MulticastLoopV4(b),
        SocketOption::MulticastHopsV6(n) => V::MulticastHopsV6(n),
        SocketOption::MulticastLoopV6(b) => V::MulticastLoopV6(b),
        SocketOption::JoinMulticastV4 { group, interface } => V::JoinMulticastV4(wt::MulticastV4 {
            group: ipv4_to_wit(group),
            interface: ipv4_to_wit(interface),
        }),
        SocketOption::LeaveMulticastV4 { group, interface } => {
            V::LeaveMulticastV4(wt::MulticastV4 {
                group: ipv4_to_wit(group),
                interface: ipv4_to_wit(interface),
            })
        }
        SocketOption::JoinMulticastV6 { group, interface } => V::JoinMulticastV6(wt::MulticastV6 {
            group: ipv6_to_wit(group),
            interface,
        }),
        SocketOption::LeaveMulticastV6 { group, interface } => {
            V::LeaveMulticastV6(wt::MulticastV6 {
                group: ipv6_to_wit(group),
                interface,
            })
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sockets::Target;

    #[test]
    fn every_error_code_has_its_own_wit_case() {
        for &code in ErrorCode::ALL {
            let wit = error_code(code);
            assert_eq!(error_code_from_wit(wit), code, "{code:?}");
        }
    }

    #[test]
    fn every_option_name_has_its_own_wit_case() {
        for &name in OptionName::ALL {
            let wit = option_name_to_wit(name).expect("mapped");
            assert_eq!(option_name(wit), name, "{name:?}");
        }
    }

    #[test]
    fn flags_keep_their_bits() {
        let all = wt::SendFlags::OUT_OF_BAND | wt::SendFlags::DONT_ROUTE;
        let flags = send_flags(all);
        assert!(flags.is_out_of_band() && flags.is_dont_route());
        assert_eq!(send_flags(wt::SendFlags::empty()), SendFlags::EMPTY);
        let peek = recv_flags(wt::ReceiveFlags::PEEK);
        assert!(peek.is_peek() && !peek.is_wait_all() && !peek.is_out_of_band());
        let oob = recv_flags(wt::ReceiveFlags::OUT_OF_BAND);
        assert!(oob.is_out_of_band() && !oob.is_peek());
        let both = interest(wt::Interest::READABLE | wt::Interest::WRITABLE);
        assert!(both.is_readable() && both.is_writable());
        let r = readiness(Readiness::WRITABLE | Readiness::HANG_UP);
        assert_eq!(r, wt::Readiness::WRITABLE | wt::Readiness::HANG_UP);
    }

    #[test]
    fn addresses_round_trip() {
        for text in ["127.0.0.1:80", "[::1]:443", "[fe80::1%3]:9"] {
            let ip: SocketAddr = text.parse().unwrap();
            let wit = ip_to_wit(ip);
            let target = super::super::host::target(&wit).unwrap();
            assert!(matches!(target, Target::Ip(a) if a == ip), "{text}");
        }
        let unix = wt::SocketAddress::Unix(b"/tmp/x.sock".to_vec());
        let target = super::super::host::target(&unix).unwrap();
        assert!(matches!(target, Target::Path(p) if p == std::path::Path::new("/tmp/x.sock")));
        let addr = SockAddr::unix("/tmp/x.sock").unwrap();
        assert!(matches!(address_to_wit(&addr), wt::SocketAddress::Unix(p) if p == b"/tmp/x.sock"));
        for bad in [
            wt::SocketAddress::Unix(b"/tmp/a\0b".to_vec()),
            wt::SocketAddress::Unix(Vec::new()),
            wt::SocketAddress::Unnamed,
        ] {
            let e = super::super::host::target(&bad).unwrap_err();
            assert_eq!(e.code, wt::ErrorCode::InvalidArgument);
        }
    }
}
