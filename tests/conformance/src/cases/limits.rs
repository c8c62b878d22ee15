//! What each backend lacks, declared once: every case's `unsupported_on`
//! comes from here, so adjusting a backend's expectations is a one-line
//! change in this file.
//!
//! `Backend::WitsockImports` (a guest served by a Linux host through the
//! witsock WIT) expects what native Linux does, so it appears nowhere.

use witsock::OptionName;

use crate::Backend;

/// A backend and why it lacks a feature.
pub(crate) type Limits = &'static [(Backend, &'static str)];

/// Supported everywhere.
pub(crate) const NONE: Limits = &[];

/// An IPv6 socket with `ipv6-only` off accepting IPv4 peers.
pub(crate) const DUAL_STACK: Limits = &[(Backend::WasiP2, "wasi:sockets has no dual-stack")];

/// `receive` with `peek`.
pub(crate) const PEEK: Limits = &[(Backend::WasiP2, "wasi:sockets has no MSG_PEEK")];

/// Out-of-band data.
pub(crate) const OUT_OF_BAND: Limits = &[(Backend::WasiP2, "wasi:sockets has no out-of-band data")];

/// AF_UNIX sockets.
pub(crate) const UNIX_SOCKETS: Limits = &[(Backend::WasiP2, "wasi:sockets has no Unix sockets")];

/// Linux abstract Unix names.
pub(crate) const ABSTRACT_UNIX_NAMES: Limits = &[
    (
        Backend::NativeMacos,
        "abstract Unix names exist only on Linux",
    ),
    (Backend::WasiP2, "wasi:sockets has no Unix sockets"),
];

/// `set-nonblocking(false)`: calls that wait in the kernel.
///
/// The wasi:sockets backend is expected to provide blocking calls by
/// waiting on the socket's pollable (single-threaded, so honestly
/// blocking); if it returns `unsupported` instead, declare it here.
pub(crate) const BLOCKING_MODE: Limits = NONE;

const NO_REUSE_ADDRESS: Limits = &[(
    Backend::WasiP2,
    "wasi:sockets has no SO_REUSEADDR (its TCP binds set it implicitly)",
)];
const NO_REUSE_PORT: Limits = &[(Backend::WasiP2, "wasi:sockets has no SO_REUSEPORT")];
const NO_LINGER: Limits = &[(Backend::WasiP2, "wasi:sockets has no SO_LINGER")];
const NO_TIMEOUTS: Limits = &[(
    Backend::WasiP2,
    "wasi:sockets has no SO_RCVTIMEO/SO_SNDTIMEO",
)];
const NO_BROADCAST: Limits = &[(Backend::WasiP2, "wasi:sockets has no SO_BROADCAST")];
const NO_NODELAY: Limits = &[(Backend::WasiP2, "wasi:sockets has no TCP_NODELAY")];
const NO_DEFER_ACCEPT: Limits = &[
    (Backend::NativeMacos, "macOS has no TCP_DEFER_ACCEPT"),
    (Backend::WasiP2, "wasi:sockets has no TCP_DEFER_ACCEPT"),
];
const NO_MULTICAST: Limits = &[(Backend::WasiP2, "wasi:sockets has no multicast")];
const NO_CORK: Limits = &[(Backend::WasiP2, "wasi:sockets has no TCP_CORK")];
const NO_USER_TIMEOUT: Limits = &[
    (Backend::NativeMacos, "macOS has no TCP_USER_TIMEOUT"),
    (Backend::WasiP2, "wasi:sockets has no TCP_USER_TIMEOUT"),
];
const NO_NOT_SENT_LOW_WATER: Limits = &[(Backend::WasiP2, "wasi:sockets has no TCP_NOTSENT_LOWAT")];
const NO_TRAFFIC_CLASS: Limits = &[(Backend::WasiP2, "wasi:sockets has no IP_TOS/IPV6_TCLASS")];
const NO_TCP_INFO: Limits = &[(Backend::WasiP2, "wasi:sockets has no TCP_INFO")];
const NO_QUEUES: Limits = &[(Backend::WasiP2, "wasi:sockets has no FIONREAD or SIOCOUTQ")];

/// Where an option (set and get alike) is `option-not-supported`.
///
/// Getting a write-only membership option is `invalid-argument`
/// everywhere, multicast or not: the name itself is never readable.
///
/// `ipv6-only` is supported everywhere as a value that can be read and set
/// to true; setting it to false is [`DUAL_STACK`].
pub(crate) const fn option(name: OptionName) -> Limits {
    match name {
        OptionName::ReuseAddress => NO_REUSE_ADDRESS,
        OptionName::ReusePort => NO_REUSE_PORT,
        OptionName::Linger => NO_LINGER,
        OptionName::ReceiveTimeout | OptionName::SendTimeout => NO_TIMEOUTS,
        OptionName::Broadcast => NO_BROADCAST,
        OptionName::NoDelay => NO_NODELAY,
        OptionName::DeferAccept => NO_DEFER_ACCEPT,
        OptionName::Cork => NO_CORK,
        OptionName::UserTimeout => NO_USER_TIMEOUT,
        OptionName::NotSentLowWater => NO_NOT_SENT_LOW_WATER,
        OptionName::TrafficClass => NO_TRAFFIC_CLASS,
        OptionName::TcpInfo => NO_TCP_INFO,
        OptionName::ReceiveQueue | OptionName::SendQueue => NO_QUEUES,
        OptionName::MulticastTtlV4
        | OptionName::MulticastLoopV4
        | OptionName::MulticastHopsV6
        | OptionName::MulticastLoopV6
        | OptionName::JoinMulticastV4
        | OptionName::LeaveMulticastV4
        | OptionName::JoinMulticastV6
        | OptionName::LeaveMulticastV6 => NO_MULTICAST,
        _ => NONE,
    }
}
