//! The mirror of the WIT, written once, for the two sides that convert it:
//! the `imports` guest (`src/sys/imports/convert.rs`, witsock's types to
//! and from wit-bindgen's) and the witsock host (`host/src/imports/`,
//! wasmtime's bindgen types to and from witsock's). Not public API.
//!
//! # Tables
//!
//! Each mirrored enum and flags type has a table, a `#[macro_export]`
//! macro declared by the macro that declares the type itself
//! (`mirror_table!` in `types.rs`), so the table cannot miss a case of
//! witsock's:
//!
//! | table                           | witsock type   | WIT type         |
//! |---------------------------------|----------------|------------------|
//! | `__for_each_error_code!`        | `ErrorCode`    | `error-code`     |
//! | `__for_each_option_name!`       | `OptionName`   | `option-name`    |
//! | `__for_each_option_value!`      | `SocketOption` | `option-value`   |
//! | `__for_each_address_family!`    | `Domain`       | `address-family` |
//! | `__for_each_socket_type!`       | `Type`         | `socket-type`    |
//! | `__for_each_protocol!`          | `Protocol`     | `protocol`       |
//! | `__for_each_shutdown_how!`      | `Shutdown`     | `shutdown-how`   |
//! | `__for_each_support!`           | `Support`      | `support`        |
//! | `__for_each_tcp_state!`         | `TcpState`     | `tcp-state`      |
//! | `__for_each_receive_flag!`      | `RecvFlags`    | `receive-flags`  |
//! | `__for_each_send_flag!`         | `SendFlags`    | `send-flags`     |
//! | `__for_each_interest_flag!`     | `Interest`     | `interest`       |
//! | `__for_each_readiness_flag!`    | `Readiness`    | `readiness`      |
//!
//! `table!(callback ARGS…)` expands to `callback! { ARGS… [witsock::Type]
//! Case, Case, … }`: whatever followed the callback's name, then the
//! witsock type in brackets and its cases (flags: constants) in WIT order,
//! named as both bindings generators name them. Each side feeds the tables
//! its own small generator, which matches the WIT side exhaustively: a
//! case added to witsock's type lands in the table and fails to compile
//! on both sides until the WIT has it, and a case added to the WIT fails
//! to compile until witsock has it. `__for_each_option_value!` passes
//! `values { Case, … } memberships { Case: Record, … }`: the options with
//! one payload, and the multicast memberships with their WIT record
//! (`group` and `interface`); witsock's `SocketOption::name` is generated
//! from it, so it too lists every case. `__for_each_tcp_info_field!` lists
//! the fields of `TcpInfo` (the `tcp-info` record), which both sides mirror
//! field by field; a field missing from it does not compile;
//! `__for_each_peer_credentials_field!` does the same for
//! `PeerCredentials`.
//!
//! The payloads convert with the functions below, the same on both sides:
//! durations saturate at `u64::MAX` nanoseconds, byte counts at
//! `usize::MAX` (which option validation rejects, as too large).

use core::time::Duration;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A duration as WIT nanoseconds; one past `u64` nanoseconds (585 years)
/// saturates.
#[inline]
pub const fn nanos_to_wit(d: Duration) -> u64 {
    let n = d.as_nanos();
    if n > u64::MAX as u128 {
        u64::MAX
    } else {
        n as u64
    }
}

/// WIT nanoseconds as a duration.
#[inline]
pub const fn nanos_from_wit(ns: u64) -> Duration {
    Duration::from_nanos(ns)
}

/// A byte count as the WIT's `u64`.
#[inline]
pub const fn size_to_wit(n: usize) -> u64 {
    n as u64
}

/// A WIT byte count; one past `usize` (a 32-bit guest) saturates, and
/// option validation rejects it as out of range.
#[inline]
pub const fn size_from_wit(n: u64) -> usize {
    if n > usize::MAX as u64 {
        usize::MAX
    } else {
        n as usize
    }
}

/// An IPv4 address as the WIT tuple, most significant byte first.
#[inline]
pub const fn ipv4_to_wit(ip: Ipv4Addr) -> (u8, u8, u8, u8) {
    let [a, b, c, d] = ip.octets();
    (a, b, c, d)
}

/// The WIT tuple of an IPv4 address.
#[inline]
pub const fn ipv4_from_wit((a, b, c, d): (u8, u8, u8, u8)) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

/// The WIT tuple of an IPv6 address's eight groups.
pub type Ipv6Groups = (u16, u16, u16, u16, u16, u16, u16, u16);

/// An IPv6 address as the WIT tuple, most significant group first.
#[inline]
pub const fn ipv6_to_wit(ip: Ipv6Addr) -> Ipv6Groups {
    let [a, b, c, d, e, f, g, h] = ip.segments();
    (a, b, c, d, e, f, g, h)
}

/// The WIT tuple of an IPv6 address.
#[inline]
pub const fn ipv6_from_wit((a, b, c, d, e, f, g, h): Ipv6Groups) -> Ipv6Addr {
    Ipv6Addr::new(a, b, c, d, e, f, g, h)
}

/// Declares the conversions between `SocketAddrV4` / `SocketAddrV6` and
/// the WIT records `ipv4-socket-address` / `ipv6-socket-address` (given
/// as the generated types' paths), with visibility `$vis`:
/// `ipv4_socket_address_to_wit`, `ipv4_socket_address_from_wit` and the
/// same for IPv6. Both directions name every field, so a field added to
/// the WIT does not compile. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __mirror_ip_socket_addresses {
    ($vis:vis $v4:path, $v6:path) => {
        /// The WIT record of an IPv4 socket address.
        #[inline]
        $vis fn ipv4_socket_address_to_wit(a: &::std::net::SocketAddrV4) -> $v4 {
            $v4 {
                port: a.port(),
                address: $crate::mirror::ipv4_to_wit(*a.ip()),
            }
        }

        /// The IPv4 socket address of a WIT record.
        #[inline]
        $vis fn ipv4_socket_address_from_wit(a: &$v4) -> ::std::net::SocketAddrV4 {
            let $v4 { port, address } = *a;
            ::std::net::SocketAddrV4::new($crate::mirror::ipv4_from_wit(address), port)
        }

        /// The WIT record of an IPv6 socket address.
        #[inline]
        $vis fn ipv6_socket_address_to_wit(a: &::std::net::SocketAddrV6) -> $v6 {
            $v6 {
                port: a.port(),
                flow_info: a.flowinfo(),
                address: $crate::mirror::ipv6_to_wit(*a.ip()),
                scope_id: a.scope_id(),
            }
        }

        /// The IPv6 socket address of a WIT record.
        #[inline]
        $vis fn ipv6_socket_address_from_wit(a: &$v6) -> ::std::net::SocketAddrV6 {
            let $v6 {
                port,
                flow_info,
                address,
                scope_id,
            } = *a;
            ::std::net::SocketAddrV6::new(
                $crate::mirror::ipv6_from_wit(address),
                port,
                flow_info,
                scope_id,
            )
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Domain, ErrorCode, Interest, OptionName, Protocol, Readiness, RecvFlags, SendFlags,
        Shutdown, Support, TcpState, Type,
    };

    /// The table's cases, as a slice of witsock's values.
    macro_rules! cases {
        ([$ours:ty] $($case:ident),*) => {
            &[$(<$ours>::$case),*]
        };
    }

    /// The table's flags with their names.
    macro_rules! flags {
        ([$ours:ty] $($flag:ident),*) => {
            &[$((stringify!($flag), <$ours>::$flag)),*]
        };
    }

    /// The option names of the option value table, in its order.
    macro_rules! value_names {
        ([$ours:ty] values { $($case:ident),* } memberships { $($m:ident: $rec:ident),* }) => {
            &[$(OptionName::$case,)* $(OptionName::$m,)*]
        };
    }

    #[test]
    fn tables_list_every_case_in_wit_order() {
        let errors: &[ErrorCode] = __for_each_error_code!(cases);
        assert_eq!(errors, ErrorCode::ALL);
        let names: &[OptionName] = __for_each_option_name!(cases);
        assert_eq!(names, OptionName::ALL);
        let values: &[OptionName] = __for_each_option_value!(value_names);
        assert_eq!(values, OptionName::ALL);
        let domains: &[Domain] = __for_each_address_family!(cases);
        assert_eq!(domains, Domain::ALL);
        let types: &[Type] = __for_each_socket_type!(cases);
        assert_eq!(types, Type::ALL);
        let protocols: &[Protocol] = __for_each_protocol!(cases);
        assert_eq!(protocols, Protocol::ALL);
        let hows: &[Shutdown] = __for_each_shutdown_how!(cases);
        assert_eq!(hows, Shutdown::ALL);
        let supports: &[Support] = __for_each_support!(cases);
        assert_eq!(supports, Support::ALL);
        let states: &[TcpState] = __for_each_tcp_state!(cases);
        assert_eq!(states, TcpState::ALL);
    }

    #[test]
    fn flag_tables_list_every_flag_lowest_bit_first() {
        fn check<T: Copy + PartialEq + core::fmt::Debug>(
            table: &[(&str, T)],
            flags: &[(&str, T)],
            bits: fn(T) -> u8,
        ) {
            assert_eq!(table.len(), flags.len());
            for (i, (&(name, flag), &(_, declared))) in table.iter().zip(flags).enumerate() {
                assert_eq!(flag, declared, "{name}");
                assert_eq!(bits(flag), 1 << i, "{name}");
            }
        }
        check(
            __for_each_receive_flag!(flags),
            RecvFlags::FLAGS,
            RecvFlags::bits,
        );
        check(
            __for_each_send_flag!(flags),
            SendFlags::FLAGS,
            SendFlags::bits,
        );
        check(
            __for_each_interest_flag!(flags),
            Interest::FLAGS,
            Interest::bits,
        );
        check(
            __for_each_readiness_flag!(flags),
            Readiness::FLAGS,
            Readiness::bits,
        );
    }

    #[test]
    fn payloads_saturate() {
        assert_eq!(nanos_to_wit(Duration::from_nanos(7)), 7);
        assert_eq!(nanos_to_wit(Duration::MAX), u64::MAX);
        assert_eq!(nanos_from_wit(u64::MAX), Duration::from_nanos(u64::MAX));
        assert_eq!(size_from_wit(size_to_wit(usize::MAX)), usize::MAX);
        let ip = Ipv4Addr::new(192, 0, 2, 1);
        assert_eq!(ipv4_from_wit(ipv4_to_wit(ip)), ip);
        assert_eq!(ipv4_to_wit(ip), (192, 0, 2, 1));
        let ip6: Ipv6Addr = "2001:db8::1:2".parse().unwrap();
        assert_eq!(ipv6_from_wit(ipv6_to_wit(ip6)), ip6);
        assert_eq!(ipv6_to_wit(ip6), (0x2001, 0xdb8, 0, 0, 0, 0, 1, 2));
    }
}
