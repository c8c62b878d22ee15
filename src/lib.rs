//! # witsock
//!
//! One socket API for native code and WebAssembly.
//!
//! The contract is the WIT package in `wit/` (`witsock:sockets`): its
//! documented behaviour holds on every backend. This crate mirrors it:
//!
//! | WIT (`wit/`)                 | Rust                         |
//! |------------------------------|------------------------------|
//! | `error-code`, `error`        | [`ErrorCode`], [`Error`]     |
//! | `socket-address`             | [`SockAddr`]                 |
//! | `address-family`, `socket-type`, `protocol` | [`Domain`], [`Type`], [`Protocol`] |
//! | `option-name`, `option-value`| [`OptionName`], [`SocketOption`] |
//! | `socket` resource            | [`Socket`]                   |
//! | `poll`                       | [`poll()`]                   |
//! | `capabilities`               | [`capabilities()`]           |
//! | `resolve`                    | [`resolve()`]                |
//!
//! Each call goes `Socket` (thin, inlined) → the one backend chosen in
//! `src/sys/mod.rs` → `libc` (Linux, macOS), or wasi:sockets through the
//! `wasi` crate (wasm32-wasip2).
//!
//! ```
//! use witsock::{Domain, RecvFlags, SendFlags, SockAddr, Socket, Type};
//!
//! # fn main() -> witsock::Result<()> {
//! let listener = Socket::new_nonblocking(Domain::Ipv4, Type::Stream, None)?;
//! listener.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
//! listener.listen(128)?;
//! let addr = listener.local_addr()?;
//!
//! let client = Socket::new(Domain::Ipv4, Type::Stream, None)?;
//! client.connect(&addr)?;
//! let (server, peer) = listener.accept()?;
//! assert_eq!(peer, client.local_addr()?);
//!
//! client.send(b"ping", SendFlags::EMPTY)?;
//! let mut buf = [0u8; 4];
//! server.set_nonblocking(false)?;
//! let n = server.recv(&mut buf, RecvFlags::EMPTY)?;
//! assert_eq!(&buf[..n], b"ping");
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

// The types that mirror the WIT declare its mirror tables (macros, see
// `mirror`): these come first, so that the modules below see them.
#[macro_use]
mod types;
#[macro_use]
mod error;
#[macro_use]
mod options;
#[macro_use]
mod capabilities;

mod addr;
mod batch;
mod deadline;
#[cfg(unix)]
mod interop;
#[doc(hidden)]
pub mod mirror;
mod poll;
mod resolve;
mod socket;
mod state;
mod sys;

pub use addr::SockAddr;
pub use batch::{IncomingDatagram, OutgoingDatagram, MAX_BATCH};
pub use capabilities::{capabilities, Capabilities, Support};
pub use error::{Error, ErrorCode, Operation, Result};
pub use options::{
    OptionName, PeerCredentials, SocketOption, TcpInfo, ECN_MASK, MAX_BUFFER_SIZE,
    MAX_KEEPALIVE_COUNT, MAX_KEEPALIVE_SECS, MAX_NOT_SENT_LOW_WATER, MAX_USER_TIMEOUT_MILLIS,
};
pub use poll::{poll, PollEntry};
pub use resolve::{resolve, Addresses};
pub use socket::Socket;
pub use types::{
    Domain, Interest, Protocol, Readiness, RecvFlags, RecvMeta, SendFlags, Shutdown, TcpState, Type,
};

/// The native errno table, exposed for tests and tools that print errors:
/// the portable code and symbolic name of a raw errno on this platform
/// (of a wasi:sockets `error-code` discriminant on wasm32-wasip2).
#[doc(hidden)]
pub mod errno {
    /// Every errno of the native table with its name (a host sends these
    /// to the guests it serves, for their messages).
    #[cfg(unix)]
    pub use crate::sys::ERRNO_NAMES;
    pub use crate::sys::{errno_name, error_code};
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
