//! Socket options: [`OptionName`] and [`SocketOption`], the `option-name`
//! enum and `option-value` variant of `wit/types.wit`.
//!
//! Every value is checked here, before any syscall, so that all backends
//! reject the same values with `invalid-argument` and none is silently
//! clamped.

use core::time::Duration;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::{Domain, Error, ErrorCode, Operation, Result, TcpState, Type};

/// Declares [`OptionName`] and its mirror table (`mirror_table!` in
/// `types.rs`), after a `$` token.
macro_rules! option_names {
    ($d:tt $($(#[$doc:meta])* $name:ident = $wit:literal, $native:literal;)*) => {
        mirror_table!($d __for_each_option_name, "option-name", OptionName [$($name),*]);

        /// The name of a socket option: `option-name` in `wit/types.wit`.
        ///
        /// An option exists on the IP sockets its documentation names
        /// (every IP socket when it names none); on any other, getting or
        /// setting it is `option-not-supported` on every backend.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum OptionName {
            $($(#[$doc])* $name,)*
        }

        impl OptionName {
            /// Every option, in WIT order.
            pub const ALL: &'static [OptionName] = &[$(OptionName::$name,)*];

            /// The case's name in the WIT (`reuse-address`).
            pub const fn wit_name(self) -> &'static str {
                match self {
                    $(OptionName::$name => $wit,)*
                }
            }

            /// The native option's name (`SO_REUSEADDR`), for messages.
            pub const fn native_name(self) -> &'static str {
                match self {
                    $(OptionName::$name => $native,)*
                }
            }
        }
    };
}

option_names! {
    $
    /// SO_REUSEADDR (bool). On by default natively on TCP sockets, off on
    /// the others; wasi-p2 has none (`option-not-supported`) and sets it
    /// on every TCP bind itself.
    ReuseAddress = "reuse-address", "SO_REUSEADDR";
    /// SO_REUSEPORT (bool).
    ReusePort = "reuse-port", "SO_REUSEPORT";
    /// SO_KEEPALIVE (bool). Stream sockets.
    KeepAlive = "keep-alive", "SO_KEEPALIVE";
    /// SO_LINGER. Stream sockets.
    Linger = "linger", "SO_LINGER";
    /// SO_RCVBUF.
    ReceiveBufferSize = "receive-buffer-size", "SO_RCVBUF";
    /// SO_SNDBUF.
    SendBufferSize = "send-buffer-size", "SO_SNDBUF";
    /// SO_RCVTIMEO.
    ReceiveTimeout = "receive-timeout", "SO_RCVTIMEO";
    /// SO_SNDTIMEO.
    SendTimeout = "send-timeout", "SO_SNDTIMEO";
    /// SO_BROADCAST (bool). Datagram sockets.
    Broadcast = "broadcast", "SO_BROADCAST";
    /// SO_ERROR (read only).
    Error = "error", "SO_ERROR";
    /// SO_TYPE (read only).
    SocketType = "socket-type", "SO_TYPE";
    /// TCP_NODELAY (bool). Stream sockets.
    NoDelay = "no-delay", "TCP_NODELAY";
    /// TCP_KEEPIDLE (TCP_KEEPALIVE on macOS). Stream sockets.
    KeepAliveIdle = "keep-alive-idle", "TCP_KEEPIDLE";
    /// TCP_KEEPINTVL. Stream sockets.
    KeepAliveInterval = "keep-alive-interval", "TCP_KEEPINTVL";
    /// TCP_KEEPCNT. Stream sockets.
    KeepAliveCount = "keep-alive-count", "TCP_KEEPCNT";
    /// TCP_DEFER_ACCEPT (Linux). Stream sockets.
    DeferAccept = "defer-accept", "TCP_DEFER_ACCEPT";
    /// IPV6_V6ONLY (bool). IPv6 sockets, before they have an address.
    Ipv6Only = "ipv6-only", "IPV6_V6ONLY";
    /// IP_TTL or IPV6_UNICAST_HOPS.
    HopLimit = "hop-limit", "IP_TTL/IPV6_UNICAST_HOPS";
    /// IP_MULTICAST_TTL. IPv4 datagram sockets.
    MulticastTtlV4 = "multicast-ttl-v4", "IP_MULTICAST_TTL";
    /// IP_MULTICAST_LOOP (bool). IPv4 datagram sockets.
    MulticastLoopV4 = "multicast-loop-v4", "IP_MULTICAST_LOOP";
    /// IPV6_MULTICAST_HOPS. IPv6 datagram sockets.
    MulticastHopsV6 = "multicast-hops-v6", "IPV6_MULTICAST_HOPS";
    /// IPV6_MULTICAST_LOOP (bool). IPv6 datagram sockets.
    MulticastLoopV6 = "multicast-loop-v6", "IPV6_MULTICAST_LOOP";
    /// TCP_CORK (TCP_NOPUSH on macOS) (bool). Stream sockets.
    Cork = "cork", "TCP_CORK";
    /// TCP_USER_TIMEOUT (Linux). Stream sockets.
    UserTimeout = "user-timeout", "TCP_USER_TIMEOUT";
    /// TCP_NOTSENT_LOWAT. Stream sockets.
    NotSentLowWater = "not-sent-low-water", "TCP_NOTSENT_LOWAT";
    /// IP_TOS or IPV6_TCLASS.
    TrafficClass = "traffic-class", "IP_TOS/IPV6_TCLASS";
    /// TCP_INFO (TCP_CONNECTION_INFO on macOS) (read only). Stream sockets.
    TcpInfo = "tcp-info", "TCP_INFO";
    /// SO_PEERCRED (getpeereid on macOS) (read only). Unix stream and
    /// seq-packet sockets.
    PeerCredentials = "peer-credentials", "SO_PEERCRED";
    /// FIONREAD (read only). Stream sockets.
    ReceiveQueue = "receive-queue", "FIONREAD";
    /// SIOCOUTQ (SO_NWRITE on macOS) (read only). Stream sockets.
    SendQueue = "send-queue", "SIOCOUTQ";
    /// IP_ADD_MEMBERSHIP (write only). IPv4 datagram sockets.
    JoinMulticastV4 = "join-multicast-v4", "IP_ADD_MEMBERSHIP";
    /// IP_DROP_MEMBERSHIP (write only). IPv4 datagram sockets.
    LeaveMulticastV4 = "leave-multicast-v4", "IP_DROP_MEMBERSHIP";
    /// IPV6_JOIN_GROUP (write only). IPv6 datagram sockets.
    JoinMulticastV6 = "join-multicast-v6", "IPV6_JOIN_GROUP";
    /// IPV6_LEAVE_GROUP (write only). IPv6 datagram sockets.
    LeaveMulticastV6 = "leave-multicast-v6", "IPV6_LEAVE_GROUP";
}

impl OptionName {
    /// `error`, `socket-type` and `tcp-info`: setting them is
    /// `invalid-argument`.
    pub const fn is_read_only(self) -> bool {
        matches!(
            self,
            OptionName::Error
                | OptionName::SocketType
                | OptionName::TcpInfo
                | OptionName::PeerCredentials
                | OptionName::ReceiveQueue
                | OptionName::SendQueue
        )
    }

    /// The multicast membership options: getting them is
    /// `invalid-argument`, whatever the socket.
    pub const fn is_write_only(self) -> bool {
        matches!(
            self,
            OptionName::JoinMulticastV4
                | OptionName::LeaveMulticastV4
                | OptionName::JoinMulticastV6
                | OptionName::LeaveMulticastV6
        )
    }

    /// Whether the option exists on an IP socket of `domain` and `ty`, as
    /// `option-name` in `wit/types.wit` says: the TCP options (keep-alive
    /// and its timers, `linger`, `no-delay`, `defer-accept`, `cork`,
    /// `user-timeout`, `not-sent-low-water`) on stream
    /// sockets, `broadcast` and the multicast options on datagram sockets,
    /// the `-v4` options on IPv4 sockets and `ipv6-only` and the `-v6`
    /// options on IPv6 sockets; the rest on every IP socket. Elsewhere the
    /// option is `option-not-supported` on every backend, before any
    /// syscall. `peer-credentials` exists on Unix stream and seq-packet
    /// sockets only; the other options of Unix sockets are left to the
    /// kernel.
    pub(crate) const fn applies_to(self, domain: Domain, ty: Type) -> bool {
        use OptionName as O;
        let stream = matches!(ty, Type::Stream);
        let datagram = matches!(ty, Type::Datagram);
        match domain {
            Domain::Unix => !(datagram && matches!(self, O::PeerCredentials)),
            Domain::Ipv4 | Domain::Ipv6 => {
                let v4 = matches!(domain, Domain::Ipv4);
                match self {
                    O::KeepAlive
                    | O::KeepAliveIdle
                    | O::KeepAliveInterval
                    | O::KeepAliveCount
                    | O::Linger
                    | O::NoDelay
                    | O::DeferAccept
                    | O::Cork
                    | O::UserTimeout
                    | O::NotSentLowWater
                    | O::TcpInfo
                    | O::ReceiveQueue
                    | O::SendQueue => stream,
                    O::Broadcast => datagram,
                    O::MulticastTtlV4
                    | O::MulticastLoopV4
                    | O::JoinMulticastV4
                    | O::LeaveMulticastV4 => datagram && v4,
                    O::MulticastHopsV6
                    | O::MulticastLoopV6
                    | O::JoinMulticastV6
                    | O::LeaveMulticastV6 => datagram && !v4,
                    O::Ipv6Only => !v4,
                    O::PeerCredentials => false,
                    O::ReuseAddress
                    | O::ReusePort
                    | O::ReceiveBufferSize
                    | O::SendBufferSize
                    | O::ReceiveTimeout
                    | O::SendTimeout
                    | O::Error
                    | O::SocketType
                    | O::HopLimit
                    | O::TrafficClass => true,
                }
            }
        }
    }
}

impl core::fmt::Display for OptionName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.native_name())
    }
}

/// The largest keep-alive idle time and interval, in seconds (Linux's
/// MAX_TCP_KEEPIDLE and MAX_TCP_KEEPINTVL).
pub const MAX_KEEPALIVE_SECS: u64 = 32767;
/// The largest keep-alive probe count (Linux's MAX_TCP_KEEPCNT).
pub const MAX_KEEPALIVE_COUNT: u32 = 127;
/// The largest buffer size accepted (the kernel takes an `int`).
pub const MAX_BUFFER_SIZE: usize = i32::MAX as usize;
/// The largest TCP_USER_TIMEOUT, in milliseconds (the kernel takes an
/// `int`).
pub const MAX_USER_TIMEOUT_MILLIS: u64 = i32::MAX as u64;
/// The largest TCP_NOTSENT_LOWAT (the kernel reads it back as an `int`).
pub const MAX_NOT_SENT_LOW_WATER: u32 = i32::MAX as u32;
/// The ECN bits of a traffic class, which `traffic-class` leaves clear.
pub const ECN_MASK: u8 = 0b11;

/// A socket option and its value: `option-value` in `wit/types.wit`.
///
/// Pass one to [`Socket::set_option`](crate::Socket::set_option); get one
/// back from [`Socket::option`](crate::Socket::option).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketOption {
    /// SO_REUSEADDR: a TCP bind turns it on unless the caller set it, so
    /// that the bind is not affected by TIME_WAIT (see
    /// [`Socket::bind`](crate::Socket::bind)).
    ReuseAddress(bool),
    /// SO_REUSEPORT.
    ReusePort(bool),
    /// SO_KEEPALIVE.
    KeepAlive(bool),
    /// SO_LINGER: None is off; Some(whole seconds) is on.
    Linger(Option<Duration>),
    /// SO_RCVBUF in bytes, 1 to `i32::MAX`. Read back as set (Linux's
    /// doubling undone).
    ReceiveBufferSize(usize),
    /// SO_SNDBUF in bytes, 1 to `i32::MAX`.
    SendBufferSize(usize),
    /// SO_RCVTIMEO for blocking sockets; None for no timeout. Not zero.
    ReceiveTimeout(Option<Duration>),
    /// SO_SNDTIMEO for blocking sockets; None for no timeout. Not zero.
    SendTimeout(Option<Duration>),
    /// SO_BROADCAST.
    Broadcast(bool),
    /// SO_ERROR: the pending error, cleared by reading it. Read only.
    Error(Option<Error>),
    /// SO_TYPE. Read only.
    SocketType(Type),
    /// TCP_NODELAY.
    NoDelay(bool),
    /// TCP_KEEPIDLE (TCP_KEEPALIVE on macOS): whole seconds, 1 to 32767.
    KeepAliveIdle(Duration),
    /// TCP_KEEPINTVL: whole seconds, 1 to 32767.
    KeepAliveInterval(Duration),
    /// TCP_KEEPCNT: 1 to 127.
    KeepAliveCount(u32),
    /// TCP_DEFER_ACCEPT (Linux): whole seconds; zero turns it off.
    DeferAccept(Duration),
    /// IPV6_V6ONLY.
    Ipv6Only(bool),
    /// IP_TTL or IPV6_UNICAST_HOPS by the socket's family: 1 to 255.
    HopLimit(u8),
    /// IP_MULTICAST_TTL: 0 (this host only) to 255.
    MulticastTtlV4(u8),
    /// IP_MULTICAST_LOOP.
    MulticastLoopV4(bool),
    /// IPV6_MULTICAST_HOPS: 0 to 255.
    MulticastHopsV6(u8),
    /// IPV6_MULTICAST_LOOP.
    MulticastLoopV6(bool),
    /// IP_ADD_MEMBERSHIP. Write only.
    JoinMulticastV4 {
        /// The group.
        group: Ipv4Addr,
        /// The local interface address; UNSPECIFIED lets the kernel choose.
        interface: Ipv4Addr,
    },
    /// IP_DROP_MEMBERSHIP. Write only.
    LeaveMulticastV4 {
        /// The group.
        group: Ipv4Addr,
        /// The local interface address.
        interface: Ipv4Addr,
    },
    /// IPV6_JOIN_GROUP. Write only.
    JoinMulticastV6 {
        /// The group.
        group: Ipv6Addr,
        /// The interface index; 0 lets the kernel choose.
        interface: u32,
    },
    /// IPV6_LEAVE_GROUP. Write only.
    LeaveMulticastV6 {
        /// The group.
        group: Ipv6Addr,
        /// The interface index.
        interface: u32,
    },
    /// TCP_CORK (TCP_NOPUSH on macOS): partial segments wait until it is
    /// turned off (on Linux, at most 200 ms).
    Cork(bool),
    /// TCP_USER_TIMEOUT (Linux): whole milliseconds up to
    /// [`MAX_USER_TIMEOUT_MILLIS`]; zero is the kernel's default.
    UserTimeout(Duration),
    /// TCP_NOTSENT_LOWAT: 0 (the system's default) to
    /// [`MAX_NOT_SENT_LOW_WATER`] bytes.
    NotSentLowWater(u32),
    /// IP_TOS or IPV6_TCLASS by the socket's family: the DSCP shifted left
    /// by two, the ECN bits ([`ECN_MASK`]) clear.
    TrafficClass(u8),
    /// TCP_INFO (TCP_CONNECTION_INFO on macOS): what the kernel knows of
    /// the connection. Read only.
    TcpInfo(TcpInfo),
    /// SO_PEERCRED (getpeereid and LOCAL_PEERPID on macOS): the process at
    /// the other end of a Unix connection. Read only.
    PeerCredentials(PeerCredentials),
    /// FIONREAD: bytes received and not yet read (0 on a listener). Read
    /// only.
    ReceiveQueue(usize),
    /// SIOCOUTQ (SO_NWRITE on macOS): bytes written and not yet
    /// acknowledged by the peer (0 on a listener). Read only.
    SendQueue(usize),
}

/// The process at the other end of a Unix stream or seq-packet socket, as
/// it was when the connection was made (for a socket pair, the process
/// that made the pair): `peer-credentials` in `wit/types.wit`.
///
/// # References
/// - [Linux `unix(7)`](https://man7.org/linux/man-pages/man7/unix.7.html),
///   SO_PEERCRED
/// - macOS: getpeereid(3), LOCAL_PEERPID in `<sys/un.h>`
#[doc(alias = "SO_PEERCRED")]
#[doc(alias = "getpeereid")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct PeerCredentials {
    /// Its process id, where the platform reports it.
    pub pid: Option<u32>,
    /// Its effective user id.
    pub uid: u32,
    /// Its effective group id.
    pub gid: u32,
}

/// The field table of `peer-credentials` and [`PeerCredentials`], as
/// [`__for_each_tcp_info_field!`]'s. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __for_each_peer_credentials_field {
    ($callback:ident $($args:tt)*) => {
        $callback! { $($args)* [$crate::PeerCredentials] pid, uid, gid }
    };
}

/// What the kernel knows of a TCP socket's connection: `tcp-info` in
/// `wit/types.wit`, read as the `tcp-info` option (TCP_INFO on Linux,
/// TCP_CONNECTION_INFO on macOS) or with
/// [`Socket::tcp_info`](crate::Socket::tcp_info). A field the platform does
/// not report is `None`.
///
/// # References
/// - [Linux `tcp(7)`](https://man7.org/linux/man-pages/man7/tcp.7.html),
///   `struct tcp_info` in `<linux/tcp.h>`
/// - macOS: `struct tcp_connection_info` in `<netinet/tcp.h>`
#[doc(alias = "TCP_INFO")]
#[doc(alias = "TCP_CONNECTION_INFO")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TcpInfo {
    /// The connection's state.
    pub state: TcpState,
    /// The smoothed round-trip time (microseconds on Linux, milliseconds on
    /// macOS).
    pub rtt: Duration,
    /// The round-trip time's variance, as `rtt`.
    pub rtt_variance: Duration,
    /// The largest segment it sends, in bytes.
    pub mss: u32,
    /// The congestion window, in bytes (on Linux, its segments times
    /// `mss`).
    pub congestion_window: u64,
    /// Segments retransmitted over the connection's life. `None` on macOS
    /// (which counts retransmitted bytes).
    pub retransmits: Option<u64>,
    /// Segments sent and not yet acknowledged; on a Linux listener, the
    /// connections waiting to be accepted. `None` on macOS.
    pub unacked: Option<u32>,
    /// Bytes the peer acknowledged (Linux 4.1 and later).
    pub bytes_acked: Option<u64>,
    /// Bytes received (Linux 4.1 and later; macOS).
    pub bytes_received: Option<u64>,
    /// The most recent delivery rate, bytes per second (Linux 4.9 and
    /// later).
    pub delivery_rate: Option<u64>,
}

/// The field table of `tcp-info` and [`TcpInfo`] (see `witsock::mirror`):
/// `__for_each_tcp_info_field!(callback ARGS…)` expands to `callback! {
/// ARGS… [TcpInfo] field, … }`, every field in WIT order, named as both
/// bindings generators name them. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __for_each_tcp_info_field {
    ($callback:ident $($args:tt)*) => {
        $callback! { $($args)* [$crate::TcpInfo]
            state, rtt, rtt_variance, mss, congestion_window, retransmits, unacked,
            bytes_acked, bytes_received, delivery_rate
        }
    };
}

/// Fails to compile unless a record's field table names every field of
/// its struct.
macro_rules! every_field_in_the_table {
    ([$ours:path] $($field:ident),*) => {
        const _: () = {
            #[allow(dead_code)]
            fn every_field_is_in_the_table(value: &$ours) {
                let $ours { $($field: _),* } = *value;
            }
        };
    };
}

__for_each_tcp_info_field!(every_field_in_the_table);
__for_each_peer_credentials_field!(every_field_in_the_table);

/// The mirror table of `option-value` and [`SocketOption`] (see
/// `witsock::mirror`): `__for_each_option_value!(callback ARGS…)` expands
/// to `callback! { ARGS… [SocketOption] values { Case, … } memberships {
/// Case: Record, … } }`, the options with one payload and the multicast
/// memberships (`group` and `interface`) with their WIT record. Not public
/// API.
#[doc(hidden)]
#[macro_export]
macro_rules! __for_each_option_value {
    ($callback:ident $($args:tt)*) => {
        $callback! { $($args)* [$crate::SocketOption]
            values {
                ReuseAddress, ReusePort, KeepAlive, Linger, ReceiveBufferSize, SendBufferSize,
                ReceiveTimeout, SendTimeout, Broadcast, Error, SocketType, NoDelay,
                KeepAliveIdle, KeepAliveInterval, KeepAliveCount, DeferAccept, Ipv6Only,
                HopLimit, MulticastTtlV4, MulticastLoopV4, MulticastHopsV6, MulticastLoopV6,
                Cork, UserTimeout, NotSentLowWater, TrafficClass, TcpInfo, PeerCredentials,
                ReceiveQueue, SendQueue
            }
            memberships {
                JoinMulticastV4: MulticastV4, LeaveMulticastV4: MulticastV4,
                JoinMulticastV6: MulticastV6, LeaveMulticastV6: MulticastV6
            }
        }
    };
}

/// `SocketOption::name`, from the option value table: every case of
/// [`SocketOption`] must be in the table (this match is exhaustive) with
/// its shape, and name an [`OptionName`].
macro_rules! socket_option_name {
    ([$ours:ty] values { $($case:ident),* } memberships { $($m:ident: $rec:ident),* }) => {
        impl SocketOption {
            /// The option's name.
            pub const fn name(&self) -> OptionName {
                match self {
                    $(SocketOption::$case(_) => OptionName::$case,)*
                    $(SocketOption::$m { group: _, interface: _ } => OptionName::$m,)*
                }
            }
        }
    };
}

__for_each_option_value!(socket_option_name);

impl SocketOption {
    /// Checks the value against the contract in `wit/types.wit`:
    /// read-only options, zero and out-of-range values are
    /// `invalid-argument`. Every backend calls this before its syscall.
    pub fn validate(&self) -> Result<()> {
        let ok = match *self {
            SocketOption::Linger(Some(d)) => whole_secs(d, 0, i32::MAX as u64),
            SocketOption::ReceiveBufferSize(n) | SocketOption::SendBufferSize(n) => {
                (1..=MAX_BUFFER_SIZE).contains(&n)
            }
            SocketOption::ReceiveTimeout(Some(d)) | SocketOption::SendTimeout(Some(d)) => {
                !d.is_zero() && d.as_secs() <= i32::MAX as u64
            }
            SocketOption::KeepAliveIdle(d) | SocketOption::KeepAliveInterval(d) => {
                whole_secs(d, 1, MAX_KEEPALIVE_SECS)
            }
            SocketOption::KeepAliveCount(n) => (1..=MAX_KEEPALIVE_COUNT).contains(&n),
            SocketOption::DeferAccept(d) => whole_secs(d, 0, i32::MAX as u64),
            SocketOption::HopLimit(n) => n != 0,
            SocketOption::UserTimeout(d) => {
                d.subsec_nanos() % 1_000_000 == 0
                    && d.as_millis() <= u128::from(MAX_USER_TIMEOUT_MILLIS)
            }
            SocketOption::NotSentLowWater(n) => n <= MAX_NOT_SENT_LOW_WATER,
            SocketOption::TrafficClass(class) => class & ECN_MASK == 0,
            SocketOption::Error(_)
            | SocketOption::SocketType(_)
            | SocketOption::TcpInfo(_)
            | SocketOption::PeerCredentials(_)
            | SocketOption::ReceiveQueue(_)
            | SocketOption::SendQueue(_) => false,
            SocketOption::JoinMulticastV4 { group, .. }
            | SocketOption::LeaveMulticastV4 { group, .. } => group.is_multicast(),
            SocketOption::JoinMulticastV6 { group, .. }
            | SocketOption::LeaveMulticastV6 { group, .. } => group.is_multicast(),
            _ => true,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::new(ErrorCode::InvalidArgument).during(Operation::SetOption(self.name())))
        }
    }

    /// The boolean value, for the on/off options.
    pub const fn as_bool(&self) -> Option<bool> {
        match *self {
            SocketOption::ReuseAddress(b)
            | SocketOption::ReusePort(b)
            | SocketOption::KeepAlive(b)
            | SocketOption::Broadcast(b)
            | SocketOption::NoDelay(b)
            | SocketOption::Ipv6Only(b)
            | SocketOption::MulticastLoopV4(b)
            | SocketOption::MulticastLoopV6(b)
            | SocketOption::Cork(b) => Some(b),
            _ => None,
        }
    }
}

/// `d` is a whole number of seconds within `min..=max`.
fn whole_secs(d: Duration, min: u64, max: u64) -> bool {
    d.subsec_nanos() == 0 && (min..=max).contains(&d.as_secs())
}
