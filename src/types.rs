//! Small value types of `wit/types.wit`: families, socket types,
//! protocols, shutdown, flags, interest and readiness.

use core::ops::{BitOr, BitOrAssign};
use std::net::SocketAddr;

/// The address family of a socket: `address-family` in the WIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Domain {
    /// AF_INET.
    Ipv4,
    /// AF_INET6.
    Ipv6,
    /// AF_UNIX.
    Unix,
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

/// The type of a socket: `socket-type` in the WIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Type {
    /// SOCK_STREAM.
    Stream,
    /// SOCK_DGRAM.
    Datagram,
    /// SOCK_SEQPACKET (Unix sockets).
    SeqPacket,
}

/// The protocol of a socket: `protocol` in the WIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// IPPROTO_TCP.
    Tcp,
    /// IPPROTO_UDP.
    Udp,
}

/// Which half of a connection to shut down: `shutdown-how` in the WIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shutdown {
    /// SHUT_RD.
    Read,
    /// SHUT_WR: the peer reads end-of-stream.
    Write,
    /// SHUT_RDWR.
    Both,
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

macro_rules! bit_set {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $flag:ident = $bit:expr, $is:ident;)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(u8);

        impl $name {
            $($(#[$fdoc])* pub const $flag: $name = $name($bit);)*
            /// No flag set.
            pub const EMPTY: $name = $name(0);

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
    /// Flags for receives: `receive-flags` in the WIT.
    RecvFlags {
        /// MSG_PEEK: leave the data in the queue.
        PEEK = 1, is_peek;
        /// MSG_WAITALL: fill the whole buffer (blocking sockets).
        WAIT_ALL = 2, is_wait_all;
        /// MSG_OOB: out-of-band data.
        OUT_OF_BAND = 4, is_out_of_band;
    }
}

bit_set! {
    /// Flags for sends: `send-flags` in the WIT.
    SendFlags {
        /// MSG_OOB: out-of-band data.
        OUT_OF_BAND = 1, is_out_of_band;
        /// MSG_DONTROUTE: only to directly connected hosts.
        DONT_ROUTE = 2, is_dont_route;
    }
}

bit_set! {
    /// What a wait is for: `interest` in the WIT.
    Interest {
        /// Data, a connection or end-of-stream can be received.
        READABLE = 1, is_readable;
        /// Data can be sent, or a connect finished.
        WRITABLE = 2, is_writable;
    }
}

bit_set! {
    /// What a wait found: `readiness` in the WIT. Empty on timeout.
    Readiness {
        /// Readable.
        READABLE = 1, is_readable;
        /// Writable.
        WRITABLE = 2, is_writable;
        /// An error is pending (POLLERR).
        ERROR = 4, is_error;
        /// The peer hung up (POLLHUP).
        HANG_UP = 8, is_hang_up;
    }
}

impl Interest {
    /// Both readable and writable.
    pub const BOTH: Interest = Interest(3);
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
