//! Conversions between witsock's types and the generated WIT types.
//!
//! Enums map case by case with exhaustive matches (a case added on either
//! side does not compile until it is mapped); flags keep their bits, which
//! the portable types lay out as the component model does.

use core::time::Duration;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::bindings::witsock::sockets::types as wt;
use crate::{
    Error, ErrorCode, Interest, OptionName, Readiness, RecvFlags, Result, SendFlags, SocketOption,
    Support, Type,
};

/// Maps two enums whose cases have the same names, both ways.
macro_rules! same_cases {
    ($to:ident, $from:ident, $ours:ident, $theirs:ty, [$($case:ident),* $(,)?]) => {
        #[allow(dead_code)]
        pub(super) fn $to(value: $ours) -> $theirs {
            match value {
                $($ours::$case => <$theirs>::$case,)*
            }
        }

        #[allow(dead_code)]
        pub(super) fn $from(value: $theirs) -> $ours {
            match value {
                $(<$theirs>::$case => $ours::$case,)*
            }
        }
    };
}

same_cases!(
    error_code_to_wit,
    error_code_from_wit,
    ErrorCode,
    wt::ErrorCode,
    [
        WouldBlock,
        InProgress,
        AlreadyInProgress,
        Interrupted,
        AddressInUse,
        AddressNotAvailable,
        ConnectionRefused,
        ConnectionReset,
        ConnectionAborted,
        NotConnected,
        AlreadyConnected,
        TimedOut,
        HostUnreachable,
        NetworkUnreachable,
        NetworkDown,
        AccessDenied,
        InvalidArgument,
        InvalidState,
        MessageSize,
        NoBufferSpace,
        TooManySockets,
        AddressFamilyNotSupported,
        ProtocolNotSupported,
        OptionNotSupported,
        OperationNotSupported,
        Shutdown,
        NotASocket,
        NameUnresolvable,
        TemporaryResolverFailure,
        PermanentResolverFailure,
        Unsupported,
        Other,
    ]
);

same_cases!(
    option_name_to_wit,
    option_name_from_wit,
    OptionName,
    wt::OptionName,
    [
        ReuseAddress,
        ReusePort,
        KeepAlive,
        Linger,
        ReceiveBufferSize,
        SendBufferSize,
        ReceiveTimeout,
        SendTimeout,
        Broadcast,
        Error,
        SocketType,
        NoDelay,
        KeepAliveIdle,
        KeepAliveInterval,
        KeepAliveCount,
        DeferAccept,
        Ipv6Only,
        HopLimit,
        MulticastTtlV4,
        MulticastLoopV4,
        MulticastHopsV6,
        MulticastLoopV6,
        JoinMulticastV4,
        LeaveMulticastV4,
        JoinMulticastV6,
        LeaveMulticastV6,
    ]
);

same_cases!(
    support_to_wit,
    support_from_wit,
    Support,
    wt::Support,
    [Native, Emulated, Unsupported,]
);

same_cases!(
    type_to_wit,
    type_from_wit,
    Type,
    wt::SocketType,
    [Stream, Datagram, SeqPacket,]
);

/// The host's error, with the host's native code kept.
#[inline]
pub(super) fn error_from_wit(e: wt::Error) -> Error {
    let code = error_code_from_wit(e.code);
    match e.os_error {
        Some(raw) => Error::with_raw(code, raw),
        None => Error::new(code),
    }
}

fn error_to_wit(e: &Error) -> wt::Error {
    wt::Error {
        code: error_code_to_wit(e.code()),
        os_error: e.raw_os_error(),
    }
}

#[inline]
pub(super) fn send_flags_to_wit(flags: SendFlags) -> wt::SendFlags {
    wt::SendFlags::from_bits_truncate(flags.bits())
}

#[inline]
pub(super) fn recv_flags_to_wit(flags: RecvFlags) -> wt::ReceiveFlags {
    wt::ReceiveFlags::from_bits_truncate(flags.bits())
}

#[inline]
pub(super) fn interest_to_wit(interest: Interest) -> wt::Interest {
    wt::Interest::from_bits_truncate(interest.bits())
}

#[inline]
pub(super) fn readiness_from_wit(readiness: wt::Readiness) -> Readiness {
    let mut out = Readiness::EMPTY;
    for (_, flag) in Readiness::FLAGS {
        if readiness.bits() & flag.bits() != 0 {
            out |= *flag;
        }
    }
    out
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn size_to_wit(n: usize) -> u64 {
    n as u64
}

fn size_from_wit(n: u64) -> Result<usize> {
    usize::try_from(n).map_err(|_| Error::new(ErrorCode::InvalidArgument))
}

fn ipv4_to_wit(ip: Ipv4Addr) -> wt::Ipv4Address {
    let [a, b, c, d] = ip.octets();
    (a, b, c, d)
}

fn ipv4_from_wit((a, b, c, d): wt::Ipv4Address) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

fn ipv6_to_wit(ip: Ipv6Addr) -> wt::Ipv6Address {
    let [a, b, c, d, e, f, g, h] = ip.segments();
    (a, b, c, d, e, f, g, h)
}

fn ipv6_from_wit((a, b, c, d, e, f, g, h): wt::Ipv6Address) -> Ipv6Addr {
    Ipv6Addr::new(a, b, c, d, e, f, g, h)
}

/// The WIT value of an option already validated by the portable layer.
pub(super) fn option_to_wit(option: &SocketOption) -> wt::OptionValue {
    use wt::OptionValue as V;
    match *option {
        SocketOption::ReuseAddress(b) => V::ReuseAddress(b),
        SocketOption::ReusePort(b) => V::ReusePort(b),
        SocketOption::KeepAlive(b) => V::KeepAlive(b),
        SocketOption::Linger(d) => V::Linger(d.map(nanos)),
        SocketOption::ReceiveBufferSize(n) => V::ReceiveBufferSize(size_to_wit(n)),
        SocketOption::SendBufferSize(n) => V::SendBufferSize(size_to_wit(n)),
        SocketOption::ReceiveTimeout(d) => V::ReceiveTimeout(d.map(nanos)),
        SocketOption::SendTimeout(d) => V::SendTimeout(d.map(nanos)),
        SocketOption::Broadcast(b) => V::Broadcast(b),
        SocketOption::Error(e) => V::Error(e.as_ref().map(error_to_wit)),
        SocketOption::SocketType(t) => V::SocketType(type_to_wit(t)),
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
        SocketOption::JoinMulticastV4 { group, interface } => {
            V::JoinMulticastV4(multicast_v4(group, interface))
        }
        SocketOption::LeaveMulticastV4 { group, interface } => {
            V::LeaveMulticastV4(multicast_v4(group, interface))
        }
        SocketOption::JoinMulticastV6 { group, interface } => {
            V::JoinMulticastV6(multicast_v6(group, interface))
        }
        SocketOption::LeaveMulticastV6 { group, interface } => {
            V::LeaveMulticastV6(multicast_v6(group, interface))
        }
    }
}

fn multicast_v4(group: Ipv4Addr, interface: Ipv4Addr) -> wt::MulticastV4 {
    wt::MulticastV4 {
        group: ipv4_to_wit(group),
        interface: ipv4_to_wit(interface),
    }
}

fn multicast_v6(group: Ipv6Addr, interface: u32) -> wt::MulticastV6 {
    wt::MulticastV6 {
        group: ipv6_to_wit(group),
        interface,
    }
}

/// The option value the host read.
pub(super) fn option_from_wit(value: wt::OptionValue) -> Result<SocketOption> {
    use wt::OptionValue as V;
    Ok(match value {
        V::ReuseAddress(b) => SocketOption::ReuseAddress(b),
        V::ReusePort(b) => SocketOption::ReusePort(b),
        V::KeepAlive(b) => SocketOption::KeepAlive(b),
        V::Linger(ns) => SocketOption::Linger(ns.map(Duration::from_nanos)),
        V::ReceiveBufferSize(n) => SocketOption::ReceiveBufferSize(size_from_wit(n)?),
        V::SendBufferSize(n) => SocketOption::SendBufferSize(size_from_wit(n)?),
        V::ReceiveTimeout(ns) => SocketOption::ReceiveTimeout(ns.map(Duration::from_nanos)),
        V::SendTimeout(ns) => SocketOption::SendTimeout(ns.map(Duration::from_nanos)),
        V::Broadcast(b) => SocketOption::Broadcast(b),
        V::Error(e) => SocketOption::Error(e.map(error_from_wit)),
        V::SocketType(t) => SocketOption::SocketType(type_from_wit(t)),
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
            group: ipv4_from_wit(m.group),
            interface: ipv4_from_wit(m.interface),
        },
        V::LeaveMulticastV4(m) => SocketOption::LeaveMulticastV4 {
            group: ipv4_from_wit(m.group),
            interface: ipv4_from_wit(m.interface),
        },
        V::JoinMulticastV6(m) => SocketOption::JoinMulticastV6 {
            group: ipv6_from_wit(m.group),
            interface: m.interface,
        },
        V::LeaveMulticastV6(m) => SocketOption::LeaveMulticastV6 {
            group: ipv6_from_wit(m.group),
            interface: m.interface,
        },
    })
}
