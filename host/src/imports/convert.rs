//! Conversions between the generated WIT types and witsock's, from
//! witsock's mirror tables (see `witsock::mirror`), which the guest side
//! of the `imports` backend feeds its own generators.
//!
//! WIT-side enums are matched exhaustively (a case added to the WIT does
//! not compile until witsock and its table have it, and a case added to
//! witsock lands in its table and does not compile until the WIT has it).
//! witsock's enums are mostly `non_exhaustive`, so their matches end in a
//! fallback, which the table makes unreachable; the tests below check that
//! each table direction round-trips every case.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use witsock::mirror::{
    ipv4_from_wit, ipv4_to_wit, ipv6_from_wit, ipv6_to_wit, nanos_from_wit, nanos_to_wit,
    size_from_wit, size_to_wit,
};
use witsock::{ErrorCode, SockAddr, SocketOption, Type};

use super::bindings::witsock::sockets::types as wt;

/// Maps an enum whose cases the WIT type has under the same names, both
/// ways: `mirror_enum!(total|partial to, from, WitType, [Ours] Case, …)`.
/// `partial` is for a `non_exhaustive` witsock enum: `to` returns an
/// `Option`, `None` in a fallback no case of the table reaches.
macro_rules! mirror_enum {
    (total $to:ident, $from:ident, $theirs:ty, [$ours:ty] $($case:ident),* $(,)?) => {
        #[inline]
        #[allow(dead_code)] // The host needs one direction, the tests both.
        pub(crate) fn $to(value: $ours) -> $theirs {
            match value {
                $(<$ours>::$case => <$theirs>::$case,)*
            }
        }

        mirror_enum!(@from $from, $theirs, [$ours] $($case),*);
    };
    (partial $to:ident, $from:ident, $theirs:ty, [$ours:ty] $($case:ident),* $(,)?) => {
        #[inline]
        #[allow(dead_code)] // The host needs one direction, the tests both.
        pub(crate) fn $to(value: $ours) -> Option<$theirs> {
            match value {
                $(<$ours>::$case => Some(<$theirs>::$case),)*
                _ => None,
            }
        }

        mirror_enum!(@from $from, $theirs, [$ours] $($case),*);
    };
    (@from $from:ident, $theirs:ty, [$ours:ty] $($case:ident),*) => {
        #[inline]
        #[allow(dead_code)] // The host needs one direction, the tests both.
        pub(crate) fn $from(value: $theirs) -> $ours {
            match value {
                $(<$theirs>::$case => <$ours>::$case,)*
            }
        }
    };
}

/// Maps a flags type whose flags the WIT type has under the same names,
/// both ways, flag by flag: `mirror_flags!(to, from, WitType, [Ours] FLAG,
/// …)`.
macro_rules! mirror_flags {
    ($to:ident, $from:ident, $theirs:ty, [$ours:ty] $($flag:ident),* $(,)?) => {
        #[inline]
        #[allow(dead_code)] // The host needs one direction, the tests both.
        pub(crate) fn $to(flags: $ours) -> $theirs {
            let mut out = <$theirs>::empty();
            $(if flags.contains(<$ours>::$flag) {
                out |= <$theirs>::$flag;
            })*
            out
        }

        #[inline]
        #[allow(dead_code)] // The host needs one direction, the tests both.
        pub(crate) fn $from(flags: $theirs) -> $ours {
            let mut out = <$ours>::EMPTY;
            $(if flags.contains(<$theirs>::$flag) {
                out |= <$ours>::$flag;
            })*
            out
        }
    };
}

witsock::__for_each_error_code!(mirror_enum partial error_code_to_wit, error_code_from_wit, wt::ErrorCode,);
witsock::__for_each_option_name!(mirror_enum partial option_name_to_wit, option_name, wt::OptionName,);
witsock::__for_each_address_family!(mirror_enum partial domain_to_wit, domain, wt::AddressFamily,);
witsock::__for_each_socket_type!(mirror_enum partial socket_type_to_wit, socket_type, wt::SocketType,);
witsock::__for_each_protocol!(mirror_enum partial protocol_to_wit, protocol, wt::Protocol,);
witsock::__for_each_shutdown_how!(mirror_enum total shutdown_to_wit, shutdown, wt::ShutdownHow,);
witsock::__for_each_support!(mirror_enum total support, support_from_wit, wt::Support,);
witsock::__for_each_tcp_state!(mirror_enum total tcp_state_to_wit, tcp_state, wt::TcpState,);

witsock::__for_each_receive_flag!(mirror_flags recv_flags_to_wit, recv_flags, wt::ReceiveFlags,);
witsock::__for_each_send_flag!(mirror_flags send_flags_to_wit, send_flags, wt::SendFlags,);
witsock::__for_each_interest_flag!(mirror_flags interest_to_wit, interest, wt::Interest,);
witsock::__for_each_readiness_flag!(mirror_flags readiness, readiness_from_wit, wt::Readiness,);

witsock::__mirror_ip_socket_addresses!(pub(crate) wt::Ipv4SocketAddress, wt::Ipv6SocketAddress);

/// The WIT code of a witsock code (`other` in the fallback no code
/// reaches).
#[inline]
pub(crate) fn error_code(code: ErrorCode) -> wt::ErrorCode {
    error_code_to_wit(code).unwrap_or(wt::ErrorCode::Other)
}

/// A WIT error with its native code.
#[inline]
pub(crate) fn error(e: witsock::Error) -> wt::Error {
    wt::Error {
        code: error_code(e.code()),
        os_error: e.raw_os_error(),
    }
}

/// The witsock error of a WIT error, with its native code.
#[inline]
fn error_from_wit(e: wt::Error) -> witsock::Error {
    let wt::Error { code, os_error } = e;
    witsock::Error::with_raw(error_code_from_wit(code), os_error.unwrap_or(0))
}

/// A WIT error without a native code: a refusal of the host's own.
#[inline]
pub(crate) fn refusal(code: wt::ErrorCode) -> wt::Error {
    wt::Error {
        code,
        os_error: None,
    }
}

/// The path of a WIT Unix address (bytes, as the kernel takes them).
pub(crate) fn unix_path(bytes: &[u8]) -> witsock::Result<&std::path::Path> {
    use std::os::unix::ffi::OsStrExt;
    if bytes.is_empty() || bytes.contains(&0) {
        return Err(witsock::Error::new(ErrorCode::InvalidArgument));
    }
    Ok(std::path::Path::new(std::ffi::OsStr::from_bytes(bytes)))
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
        SocketAddr::V4(a) => wt::SocketAddress::Ipv4(ipv4_socket_address_to_wit(&a)),
        SocketAddr::V6(a) => wt::SocketAddress::Ipv6(ipv6_socket_address_to_wit(&a)),
    }
}

/// An option payload and its WIT form. `to_wit` is `None` only in the
/// fallback of a `non_exhaustive` witsock enum, which no case reaches.
trait Mirror<W>: Sized {
    fn to_wit(self) -> Option<W>;
    fn from_wit(value: W) -> Self;
}

/// Payloads that are the same type on both sides.
macro_rules! same_payload {
    ($($ty:ty),*) => {$(
        impl Mirror<$ty> for $ty {
            #[inline]
            fn to_wit(self) -> Option<$ty> {
                Some(self)
            }
            #[inline]
            fn from_wit(value: $ty) -> $ty {
                value
            }
        }
    )*};
}

same_payload!(bool, u8, u32, u64);

/// Payloads that convert with a pair of functions.
macro_rules! payload {
    ($($ours:ty => $theirs:ty: $to:expr, $from:expr;)*) => {$(
        impl Mirror<$theirs> for $ours {
            #[inline]
            fn to_wit(self) -> Option<$theirs> {
                $to(self)
            }
            #[inline]
            fn from_wit(value: $theirs) -> $ours {
                $from(value)
            }
        }
    )*};
}

payload! {
    Duration => u64: |d| Some(nanos_to_wit(d)), nanos_from_wit;
    usize => u64: |n| Some(size_to_wit(n)), size_from_wit;
    Ipv4Addr => wt::Ipv4Address: |ip| Some(ipv4_to_wit(ip)), ipv4_from_wit;
    Ipv6Addr => wt::Ipv6Address: |ip| Some(ipv6_to_wit(ip)), ipv6_from_wit;
    Type => wt::SocketType: socket_type_to_wit, socket_type;
    witsock::Error => wt::Error: |e| Some(error(e)), error_from_wit;
    witsock::TcpState => wt::TcpState: |s| Some(tcp_state_to_wit(s)), tcp_state;
}

/// A record payload, field by field, from its field table.
macro_rules! mirror_record {
    ($theirs:ident [$ours:ty] $($field:ident),*) => {
        impl Mirror<wt::$theirs> for $ours {
            #[inline]
            fn to_wit(self) -> Option<wt::$theirs> {
                Some(wt::$theirs { $($field: self.$field.to_wit()?),* })
            }
            #[inline]
            fn from_wit(value: wt::$theirs) -> $ours {
                let mut ours = <$ours>::default();
                $(ours.$field = Mirror::from_wit(value.$field);)*
                ours
            }
        }
    };
}

witsock::__for_each_tcp_info_field!(mirror_record TcpInfo);
witsock::__for_each_peer_credentials_field!(mirror_record PeerCredentials);

impl<T: Mirror<W>, W> Mirror<Option<W>> for Option<T> {
    #[inline]
    fn to_wit(self) -> Option<Option<W>> {
        match self {
            Some(value) => Some(Some(value.to_wit()?)),
            None => Some(None),
        }
    }
    #[inline]
    fn from_wit(value: Option<W>) -> Option<T> {
        value.map(T::from_wit)
    }
}

/// `option` and `option_to_wit`, from the option value table.
macro_rules! mirror_options {
    ([$ours:ty] values { $($case:ident),* } memberships { $($m:ident: $rec:ident),* }) => {
        /// The witsock option a WIT value sets (checked by
        /// `Socket::set_option`).
        #[inline]
        pub(crate) fn option(value: &wt::OptionValue) -> SocketOption {
            match *value {
                $(wt::OptionValue::$case(value) => SocketOption::$case(Mirror::from_wit(value)),)*
                $(wt::OptionValue::$m(wt::$rec { group, interface }) => SocketOption::$m {
                    group: Mirror::from_wit(group),
                    interface: Mirror::from_wit(interface),
                },)*
            }
        }

        /// The WIT value of an option read from a socket (`None` in the
        /// fallback no option reaches).
        #[inline]
        pub(crate) fn option_to_wit(option: SocketOption) -> Option<wt::OptionValue> {
            Some(match option {
                $(SocketOption::$case(value) => wt::OptionValue::$case(value.to_wit()?),)*
                $(SocketOption::$m { group, interface } => wt::OptionValue::$m(wt::$rec {
                    group: group.to_wit()?,
                    interface: interface.to_wit()?,
                }),)*
                _ => return None,
            })
        }
    };
}

witsock::__for_each_option_value!(mirror_options);

#[cfg(test)]
mod tests {
    use crate::sockets::Target;
    use std::net::{Ipv4Addr, Ipv6Addr};

    use witsock::{
        Domain, Interest, OptionName, Protocol, Readiness, RecvFlags, SendFlags, Shutdown, Support,
    };

    use super::*;

    /// Asserts that both directions of an enum mapping round-trip every
    /// case of the table, and that each case maps to its namesake.
    macro_rules! enum_round_trips {
        ($to:ident, $from:ident, $theirs:ty, [$ours:ty] $($case:ident),* $(,)?) => {{
            let mut cases = 0;
            $(
                let (ours, theirs) = (<$ours>::$case, <$theirs>::$case);
                assert_eq!(Option::from($to(ours)), Some(theirs), "{ours:?} to the WIT");
                assert_eq!($from(theirs), ours, "{theirs:?} from the WIT");
                assert_eq!(Option::from($to($from(theirs))), Some(theirs), "{theirs:?}");
                assert_eq!(Option::from($to(ours)).map($from), Some(ours), "{ours:?}");
                cases += 1;
            )*
            cases
        }};
    }

    /// Asserts that both directions of a flags mapping round-trip every
    /// flag of the table, and all of them at once, and that the WIT type
    /// has no flag beyond the table's (its `Debug` names every flag of
    /// `all()`).
    macro_rules! flags_round_trip {
        ($to:ident, $from:ident, $theirs:ty, [$ours:ty] $($flag:ident),* $(,)?) => {{
            let mut all = <$ours>::EMPTY;
            $(
                let (ours, theirs) = (<$ours>::$flag, <$theirs>::$flag);
                assert_eq!($to(ours), theirs, "{ours:?} to the WIT");
                assert_eq!($from(theirs), ours, "{theirs:?} from the WIT");
                all |= ours;
            )*
            assert_eq!($from(<$theirs>::all()), all);
            assert_eq!($to(all), $to($from(<$theirs>::all())));
            assert_eq!($from(<$theirs>::empty()), <$ours>::EMPTY);
            let names: &[&str] = &[$(stringify!($flag)),*];
            assert_eq!(
                format!("{:?}", <$theirs>::all()),
                format!("({})", names.join("|")),
                "the WIT's flags are the table's"
            );
        }};
    }

    #[test]
    fn every_enum_table_round_trips_both_ways() {
        let n = witsock::__for_each_error_code!(
            enum_round_trips error_code_to_wit, error_code_from_wit, wt::ErrorCode,
        );
        assert_eq!(n, ErrorCode::ALL.len());
        let n = witsock::__for_each_option_name!(
            enum_round_trips option_name_to_wit, option_name, wt::OptionName,
        );
        assert_eq!(n, OptionName::ALL.len());
        let n = witsock::__for_each_address_family!(
            enum_round_trips domain_to_wit, domain, wt::AddressFamily,
        );
        assert_eq!(n, Domain::ALL.len());
        let n = witsock::__for_each_socket_type!(
            enum_round_trips socket_type_to_wit, socket_type, wt::SocketType,
        );
        assert_eq!(n, Type::ALL.len());
        let n = witsock::__for_each_protocol!(
            enum_round_trips protocol_to_wit, protocol, wt::Protocol,
        );
        assert_eq!(n, Protocol::ALL.len());
        let n = witsock::__for_each_shutdown_how!(
            enum_round_trips shutdown_to_wit, shutdown, wt::ShutdownHow,
        );
        assert_eq!(n, Shutdown::ALL.len());
        let n = witsock::__for_each_support!(
            enum_round_trips support, support_from_wit, wt::Support,
        );
        assert_eq!(n, Support::ALL.len());
        let n = witsock::__for_each_tcp_state!(
            enum_round_trips tcp_state_to_wit, tcp_state, wt::TcpState,
        );
        assert_eq!(n, witsock::TcpState::ALL.len());
    }

    #[test]
    fn every_flags_table_round_trips_both_ways() {
        witsock::__for_each_receive_flag!(
            flags_round_trip recv_flags_to_wit, recv_flags, wt::ReceiveFlags,
        );
        witsock::__for_each_send_flag!(
            flags_round_trip send_flags_to_wit, send_flags, wt::SendFlags,
        );
        witsock::__for_each_interest_flag!(
            flags_round_trip interest_to_wit, interest, wt::Interest,
        );
        witsock::__for_each_readiness_flag!(
            flags_round_trip readiness, readiness_from_wit, wt::Readiness,
        );
        assert_eq!(RecvFlags::FLAGS.len(), 3);
        assert_eq!(SendFlags::FLAGS.len(), 2);
        assert_eq!(Interest::FLAGS.len(), 2);
        assert_eq!(Readiness::FLAGS.len(), 4);
    }

    /// One value of every option, each with a payload that is not the
    /// default.
    fn one_of_each_option() -> Vec<SocketOption> {
        let v4 = Ipv4Addr::new(239, 1, 2, 3);
        let v6: Ipv6Addr = "ff02::1:2".parse().unwrap();
        let refused = witsock::Error::with_raw(ErrorCode::ConnectionRefused, 111);
        vec![
            SocketOption::ReuseAddress(true),
            SocketOption::ReusePort(true),
            SocketOption::KeepAlive(true),
            SocketOption::Linger(Some(Duration::from_secs(3))),
            SocketOption::ReceiveBufferSize(65536),
            SocketOption::SendBufferSize(1 << 20),
            SocketOption::ReceiveTimeout(Some(Duration::from_millis(1500))),
            SocketOption::SendTimeout(None),
            SocketOption::Broadcast(true),
            SocketOption::Error(Some(refused)),
            SocketOption::SocketType(Type::SeqPacket),
            SocketOption::NoDelay(true),
            SocketOption::KeepAliveIdle(Duration::from_secs(60)),
            SocketOption::KeepAliveInterval(Duration::from_secs(5)),
            SocketOption::KeepAliveCount(9),
            SocketOption::DeferAccept(Duration::from_secs(2)),
            SocketOption::Ipv6Only(true),
            SocketOption::HopLimit(17),
            SocketOption::MulticastTtlV4(4),
            SocketOption::MulticastLoopV4(false),
            SocketOption::MulticastHopsV6(5),
            SocketOption::MulticastLoopV6(false),
            SocketOption::Cork(true),
            SocketOption::UserTimeout(Duration::from_millis(2500)),
            SocketOption::NotSentLowWater(16384),
            SocketOption::TrafficClass(0x88),
            SocketOption::TcpInfo({
                let mut info = witsock::TcpInfo::default();
                info.state = witsock::TcpState::CloseWait;
                info.rtt = Duration::from_micros(1234);
                info.rtt_variance = Duration::from_micros(99);
                info.mss = 1448;
                info.congestion_window = 14480;
                info.retransmits = Some(3);
                info.unacked = Some(2);
                info.bytes_acked = Some(1 << 33);
                info.bytes_received = None;
                info.delivery_rate = Some(125_000_000);
                info
            }),
            SocketOption::PeerCredentials({
                let mut peer = witsock::PeerCredentials::default();
                peer.pid = Some(4242);
                peer.uid = 1000;
                peer.gid = 100;
                peer
            }),
            SocketOption::ReceiveQueue(600),
            SocketOption::SendQueue(1 << 20),
            SocketOption::JoinMulticastV4 {
                group: v4,
                interface: Ipv4Addr::new(192, 0, 2, 1),
            },
            SocketOption::LeaveMulticastV4 {
                group: v4,
                interface: Ipv4Addr::UNSPECIFIED,
            },
            SocketOption::JoinMulticastV6 {
                group: v6,
                interface: 3,
            },
            SocketOption::LeaveMulticastV6 {
                group: v6,
                interface: 0,
            },
        ]
    }

    #[test]
    fn every_option_value_round_trips() {
        let options = one_of_each_option();
        let names: Vec<OptionName> = options.iter().map(SocketOption::name).collect();
        assert_eq!(names, OptionName::ALL, "one value of each option, in order");
        for value in options {
            let wit = option_to_wit(value).expect("mapped");
            assert_eq!(option(&wit), value, "{value:?}");
        }
    }

    #[test]
    fn option_payloads_saturate_as_on_the_guest() {
        let huge = Duration::MAX;
        let wit = option_to_wit(SocketOption::KeepAliveIdle(huge)).unwrap();
        assert!(matches!(wit, wt::OptionValue::KeepAliveIdle(u64::MAX)));
        let set = option(&wt::OptionValue::ReceiveBufferSize(u64::MAX));
        assert_eq!(set, SocketOption::ReceiveBufferSize(usize::MAX));
        assert_eq!(
            set.validate().unwrap_err().code(),
            ErrorCode::InvalidArgument
        );
        let no_raw = option(&wt::OptionValue::Error(Some(refusal(wt::ErrorCode::Other))));
        let SocketOption::Error(Some(e)) = no_raw else {
            panic!("{no_raw:?}")
        };
        assert_eq!((e.code(), e.raw_os_error()), (ErrorCode::Other, None));
    }

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
