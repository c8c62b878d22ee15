//! Conversions between witsock's types and the generated WIT types, from
//! the mirror tables (see `src/mirror.rs`), which the witsock host feeds
//! its own generators.
//!
//! Enums map case by case with exhaustive matches on both sides (a case
//! added to either does not compile until it is mapped), and flags flag
//! by flag. Each table direction round-trips every case, checked when
//! this file compiles (the `const` blocks below): the guest's tests
//! cannot run without a host.

use super::bindings::witsock::sockets::types as wt;
use crate::mirror::{
    ipv4_from_wit, ipv4_to_wit, ipv6_from_wit, ipv6_to_wit, nanos_from_wit, nanos_to_wit,
    size_from_wit, size_to_wit,
};
use crate::{Error, SocketOption, Type};

/// Maps an enum whose cases the WIT type has under the same names, both
/// ways: `mirror_enum!(to, from, WitType, [Ours] Case, …)`.
macro_rules! mirror_enum {
    ($to:ident, $from:ident, $theirs:ty, [$ours:ty] $($case:ident),* $(,)?) => {
        #[inline]
        pub(super) const fn $to(value: $ours) -> $theirs {
            match value {
                $(<$ours>::$case => <$theirs>::$case,)*
            }
        }

        #[inline]
        pub(super) const fn $from(value: $theirs) -> $ours {
            match value {
                $(<$theirs>::$case => <$ours>::$case,)*
            }
        }

        const _: () = {
            $(
                assert!($from($to(<$ours>::$case)) as u8 == <$ours>::$case as u8);
                assert!($to($from(<$theirs>::$case)) as u8 == <$theirs>::$case as u8);
            )*
        };
    };
}

/// Maps a flags type whose flags the WIT type has under the same names,
/// both ways, flag by flag: `mirror_flags!(to, from, WitType, [Ours]
/// FLAG, …)`. The WIT type must have no other flag.
macro_rules! mirror_flags {
    ($to:ident, $from:ident, $theirs:ty, [$ours:ty] $($flag:ident),* $(,)?) => {
        #[inline]
        pub(super) const fn $to(flags: $ours) -> $theirs {
            let mut out = <$theirs>::empty();
            $(if flags.contains(<$ours>::$flag) {
                out = out.union(<$theirs>::$flag);
            })*
            out
        }

        #[inline]
        pub(super) const fn $from(flags: $theirs) -> $ours {
            let mut bits = 0;
            $(if flags.contains(<$theirs>::$flag) {
                bits |= <$ours>::$flag.bits();
            })*
            <$ours>::from_bits_retain(bits)
        }

        const _: () = {
            assert!(<$theirs>::all().bits() == 0 $(| <$theirs>::$flag.bits())*);
            assert!($to($from(<$theirs>::all())).bits() == <$theirs>::all().bits());
            $(
                assert!($from($to(<$ours>::$flag)).bits() == <$ours>::$flag.bits());
                assert!($to($from(<$theirs>::$flag)).bits() == <$theirs>::$flag.bits());
            )*
        };
    };
}

__for_each_error_code!(mirror_enum error_code_to_wit, error_code_from_wit, wt::ErrorCode,);
__for_each_option_name!(mirror_enum option_name_to_wit, option_name_from_wit, wt::OptionName,);
__for_each_address_family!(mirror_enum family_to_wit, family_from_wit, wt::AddressFamily,);
__for_each_socket_type!(mirror_enum type_to_wit, type_from_wit, wt::SocketType,);
__for_each_protocol!(mirror_enum protocol_to_wit, protocol_from_wit, wt::Protocol,);
__for_each_shutdown_how!(mirror_enum shutdown_to_wit, shutdown_from_wit, wt::ShutdownHow,);
__for_each_support!(mirror_enum support_to_wit, support_from_wit, wt::Support,);
__for_each_tcp_state!(mirror_enum tcp_state_to_wit, tcp_state_from_wit, wt::TcpState,);

__for_each_receive_flag!(mirror_flags recv_flags_to_wit, recv_flags_from_wit, wt::ReceiveFlags,);
__for_each_send_flag!(mirror_flags send_flags_to_wit, send_flags_from_wit, wt::SendFlags,);
__for_each_interest_flag!(mirror_flags interest_to_wit, interest_from_wit, wt::Interest,);
__for_each_readiness_flag!(mirror_flags readiness_to_wit, readiness_from_wit, wt::Readiness,);

crate::__mirror_ip_socket_addresses!(pub(super) wt::Ipv4SocketAddress, wt::Ipv6SocketAddress);

/// The host's error, with the host's native code kept.
#[inline]
pub(super) fn error_from_wit(e: wt::Error) -> Error {
    let wt::Error { code, os_error } = e;
    Error::with_raw(error_code_from_wit(code), os_error.unwrap_or(0))
}

#[inline]
fn error_to_wit(e: &Error) -> wt::Error {
    wt::Error {
        code: error_code_to_wit(e.code()),
        os_error: e.raw_os_error(),
    }
}

/// An option payload and its WIT form.
trait Mirror<W>: Sized {
    fn to_wit(self) -> W;
    fn from_wit(value: W) -> Self;
}

/// Payloads that are the same type on both sides.
macro_rules! same_payload {
    ($($ty:ty),*) => {$(
        impl Mirror<$ty> for $ty {
            #[inline]
            fn to_wit(self) -> $ty {
                self
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
            fn to_wit(self) -> $theirs {
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
    core::time::Duration => u64: nanos_to_wit, nanos_from_wit;
    usize => u64: size_to_wit, size_from_wit;
    std::net::Ipv4Addr => wt::Ipv4Address: ipv4_to_wit, ipv4_from_wit;
    std::net::Ipv6Addr => wt::Ipv6Address: ipv6_to_wit, ipv6_from_wit;
    Type => wt::SocketType: type_to_wit, type_from_wit;
    Error => wt::Error: |e: Error| error_to_wit(&e), error_from_wit;
    crate::TcpState => wt::TcpState: tcp_state_to_wit, tcp_state_from_wit;
}

/// A record payload, field by field, from its field table.
macro_rules! mirror_record {
    ($theirs:ident [$ours:ty] $($field:ident),*) => {
        impl Mirror<wt::$theirs> for $ours {
            #[inline]
            fn to_wit(self) -> wt::$theirs {
                wt::$theirs { $($field: self.$field.to_wit()),* }
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

crate::__for_each_tcp_info_field!(mirror_record TcpInfo);
crate::__for_each_peer_credentials_field!(mirror_record PeerCredentials);

impl<T: Mirror<W>, W> Mirror<Option<W>> for Option<T> {
    #[inline]
    fn to_wit(self) -> Option<W> {
        self.map(T::to_wit)
    }
    #[inline]
    fn from_wit(value: Option<W>) -> Option<T> {
        value.map(T::from_wit)
    }
}

/// `option_to_wit` and `option_from_wit`, from the option value table.
macro_rules! mirror_options {
    ([$ours:ty] values { $($case:ident),* } memberships { $($m:ident: $rec:ident),* }) => {
        /// The WIT value of an option already validated by the portable
        /// layer.
        #[inline]
        pub(super) fn option_to_wit(option: &SocketOption) -> wt::OptionValue {
            match *option {
                $(SocketOption::$case(value) => wt::OptionValue::$case(value.to_wit()),)*
                $(SocketOption::$m { group, interface } => wt::OptionValue::$m(wt::$rec {
                    group: group.to_wit(),
                    interface: interface.to_wit(),
                }),)*
            }
        }

        /// The option value the host read.
        #[inline]
        pub(super) fn option_from_wit(value: wt::OptionValue) -> SocketOption {
            match value {
                $(wt::OptionValue::$case(value) => SocketOption::$case(Mirror::from_wit(value)),)*
                $(wt::OptionValue::$m(wt::$rec { group, interface }) => SocketOption::$m {
                    group: Mirror::from_wit(group),
                    interface: Mirror::from_wit(interface),
                },)*
            }
        }
    };
}

__for_each_option_value!(mirror_options);
