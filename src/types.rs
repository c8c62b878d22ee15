//! Small value types of `wit/types.wit`: families, socket types,
//! protocols, shutdown, flags, interest and readiness.
//!
//! Each enum and bit set carries its WIT names (`ALL` with `wit_name`, and
//! `FLAGS`), so that the test suite can compare them with the parsed WIT
//! and fail when the two drift apart.

use core::ops::{BitOr, BitOrAssign};
use std::net::SocketAddr;

/// Declares `$table`, the exported mirror table of a type the calling
/// macro declares (see `src/mirror.rs`). `$d` is a `$` token, for
/// the inner macro's own variables.
macro_rules! mirror_table {
    ($d:tt $table:ident, $wit:literal, $ours:ident [$($case:ident),* $(,)?]) => {
        #[doc = concat!(
            "The mirror table of `", $wit, "` and [`", stringify!($ours), "`]: ",
            "`", stringify!($table), "!(callback ARGS…)` expands to `callback! { ARGS… [",
            stringify!($ours), "] Case, … }` (see `witsock::mirror`). Not public API."
        )]
        #[doc(hidden)]
        #[macro_export]
        macro_rules! $table {
            ($d callback:ident $d ($d args:tt)*) => {
                $d callback! { $d ($d args)* [$d crate::$ours] $($case),* }
            };
        }
    };
}

/// Declares an enum that mirrors a WIT `enum`, case for case and in the
/// same order, with `ALL` (every case, in WIT order) and `wit_name`, and
/// its mirror table. It starts with a `$` token, the table's name and the
/// WIT type's name; each case is written `Name = "wit-name",`; attributes
/// (docs, derives, `#[non_exhaustive]`) pass through.
macro_rules! wit_enum {
    (
        $d:tt $table:ident, $wit_type:literal;
        $(#[$attr:meta])*
        pub enum $name:ident {
            $($(#[$case_attr:meta])* $case:ident = $wit:literal,)*
        }
    ) => {
        $(#[$attr])*
        pub enum $name {
            $($(#[$case_attr])* $case,)*
        }

        mirror_table!($d $table, $wit_type, $name [$($case),*]);

        impl $name {
            /// Every case, in WIT order.
            pub const ALL: &'static [$name] = &[$($name::$case,)*];

            /// The case's name in the WIT.
            pub const fn wit_name(self) -> &'static str {
                match self {
                    $($name::$case => $wit,)*
                }
            }
        }
    };
}

wit_enum! {
    $ __for_each_address_family, "address-family";
    /// The address family of a socket: `address-family` in the WIT.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    #[non_exhaustive]
    pub enum Domain {
        /// AF_INET.
        Ipv4 = "ipv4",
        /// AF_INET6.
        Ipv6 = "ipv6",
        /// AF_UNIX.
        Unix = "unix",
    }
}

impl Domain {
    /// The family of an IP socket address.
    #[inline]
    pub const fn for_address(addr: &SocketAddr) -> Domain {
        match addr {
            SocketAddr::V4(_) => Domain::Ipv4,
            SocketAddr::V6(_) => Domain::Ipv6,
        }
    }
}

wit_enum! {
    $ __for_each_socket_type, "socket-type";
    /// The type of a socket: `socket-type` in the WIT.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    #[non_exhaustive]
    pub enum Type {
        /// SOCK_STREAM.
        Stream = "stream",
        /// SOCK_DGRAM.
        Datagram = "datagram",
        /// SOCK_SEQPACKET (Unix sockets).
        SeqPacket = "seq-packet",
    }
}

wit_enum! {
    $ __for_each_protocol, "protocol";
    /// The protocol of a socket: `protocol` in the WIT.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    #[non_exhaustive]
    pub enum Protocol {
        /// IPPROTO_TCP.
        Tcp = "tcp",
        /// IPPROTO_UDP.
        Udp = "udp",
    }
}

wit_enum! {
    $ __for_each_tcp_state, "tcp-state";
    /// The state of a TCP connection, as `tcp-info` reports it: `tcp-state`
    /// in the WIT (RFC 9293's states).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub enum TcpState {
        /// CLOSED: no connection.
        #[default]
        Closed = "closed",
        /// LISTEN.
        Listen = "listen",
        /// SYN-SENT: connecting.
        SynSent = "syn-sent",
        /// SYN-RECEIVED.
        SynReceived = "syn-received",
        /// ESTABLISHED.
        Established = "established",
        /// FIN-WAIT-1.
        FinWait1 = "fin-wait1",
        /// FIN-WAIT-2.
        FinWait2 = "fin-wait2",
        /// CLOSE-WAIT: the peer shut its write half.
        CloseWait = "close-wait",
        /// CLOSING.
        Closing = "closing",
        /// LAST-ACK.
        LastAck = "last-ack",
        /// TIME-WAIT.
        TimeWait = "time-wait",
    }
}

wit_enum! {
    $ __for_each_shutdown_how, "shutdown-how";
    /// Which half of a connection to shut down: `shutdown-how` in the WIT.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum Shutdown {
        /// SHUT_RD.
        Read = "read",
        /// SHUT_WR: the peer reads end-of-stream.
        Write = "write",
        /// SHUT_RDWR.
        Both = "both",
    }
}

impl From<std::net::Shutdown> for Shutdown {
    fn from(how: std::net::Shutdown) -> Shutdown {
        match how {
            std::net::Shutdown::Read => Shutdown::Read,
            std::net::Shutdown::Write => Shutdown::Write,
            std::net::Shutdown::Both => Shutdown::Both,
        }
    }
}

/// Declares a bit set that mirrors a WIT `flags` type, and its mirror
/// table (after a `$` token, the table's name and the WIT type's name).
/// Each flag is written `NAME = bit, is_name, "wit-name";`: its constant,
/// its bit (flag `i` of the WIT is bit `1 << i`, as the component model
/// lays flags out), its test method and its name in the WIT, declared once
/// here and listed in `FLAGS`.
macro_rules! bit_set {
    ($d:tt $table:ident, $wit_type:literal; $(#[$doc:meta])* $name:ident {
        $($(#[$fdoc:meta])* $flag:ident = $bit:expr, $is:ident, $wit:literal;)*
    }) => {
        mirror_table!($d $table, $wit_type, $name [$($flag),*]);

        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(u8);

        impl $name {
            $($(#[$fdoc])* pub const $flag: $name = $name($bit);)*
            /// No flag set.
            pub const EMPTY: $name = $name(0);

            /// Every flag with its name in the WIT, in WIT order (lowest
            /// bit first).
            pub const FLAGS: &'static [(&'static str, $name)] = &[$(($wit, $name::$flag),)*];

            /// The raw bits: flag `i` of the WIT is bit `1 << i`.
            #[inline]
            pub const fn bits(self) -> u8 {
                self.0
            }

            /// The set of `bits`, for the crate's own conversions, which
            /// pass only bits of `FLAGS`.
            #[inline]
            #[allow(dead_code)] // The `imports` backend's.
            pub(crate) const fn from_bits_retain(bits: u8) -> $name {
                $name(bits)
            }

            /// True when every flag of `other` is set in `self`.
            #[inline]
            pub const fn contains(self, other: $name) -> bool {
                self.0 & other.0 == other.0
            }

            /// True when no flag is set.
            #[inline]
            pub const fn is_empty(self) -> bool {
                self.0 == 0
            }

            $(
                #[doc = concat!("True when `", stringify!($flag), "` is set.")]
                #[inline]
                pub const fn $is(self) -> bool {
                    self.0 & $bit != 0
                }
            )*
        }

        impl BitOr for $name {
            type Output = $name;
            #[inline]
            fn bitor(self, rhs: $name) -> $name {
                $name(self.0 | rhs.0)
            }
        }

        impl BitOrAssign for $name {
            #[inline]
            fn bitor_assign(&mut self, rhs: $name) {
                self.0 |= rhs.0;
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                let mut set = f.debug_set();
                $(if self.$is() { set.entry(&stringify!($flag)); })*
                set.finish()
            }
        }
    };
}

bit_set! {
    $ __for_each_receive_flag, "receive-flags";
    /// Flags for receives: `receive-flags` in the WIT.
    RecvFlags {
        /// MSG_PEEK: leave the data in the queue.
        PEEK = 1, is_peek, "peek";
        /// MSG_WAITALL: fill the whole buffer (blocking sockets).
        WAIT_ALL = 2, is_wait_all, "wait-all";
        /// MSG_OOB: out-of-band data.
        OUT_OF_BAND = 4, is_out_of_band, "out-of-band";
    }
}

bit_set! {
    $ __for_each_send_flag, "send-flags";
    /// Flags for sends: `send-flags` in the WIT.
    SendFlags {
        /// MSG_OOB: out-of-band data.
        OUT_OF_BAND = 1, is_out_of_band, "out-of-band";
        /// MSG_DONTROUTE: only to directly connected hosts.
        DONT_ROUTE = 2, is_dont_route, "dont-route";
    }
}

bit_set! {
    $ __for_each_interest_flag, "interest";
    /// What a wait is for: `interest` in the WIT.
    Interest {
        /// Data, a connection or end-of-stream can be received.
        READABLE = 1, is_readable, "readable";
        /// Data can be sent, or a connect finished.
        WRITABLE = 2, is_writable, "writable";
    }
}

bit_set! {
    $ __for_each_readiness_flag, "readiness";
    /// What a wait found: `readiness` in the WIT. Empty on timeout.
    Readiness {
        /// Readable.
        READABLE = 1, is_readable, "readable";
        /// Writable.
        WRITABLE = 2, is_writable, "writable";
        /// An error is pending (POLLERR).
        ERROR = 4, is_error, "error";
        /// The peer hung up (POLLHUP).
        HANG_UP = 8, is_hang_up, "hang-up";
    }
}

impl Interest {
    /// Both readable and writable.
    pub const BOTH: Interest = Interest(Interest::READABLE.0 | Interest::WRITABLE.0);
}

/// One received datagram's metadata: what
/// [`Socket::recv_from`](crate::Socket::recv_from) returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvMeta {
    /// Bytes written to the buffer.
    pub len: usize,
    /// The sender.
    pub addr: crate::SockAddr,
    /// The datagram was longer than the buffer and was cut (MSG_TRUNC).
    pub truncated: bool,
}
