//! The backend, chosen once for the target.
//!
//! # The contract every backend meets
//!
//! A backend exports exactly these items; the portable layer in `src/`
//! calls nothing else.
//!
//! - `RawAddr`: the address representation (`sockaddr_storage` natively),
//!   `Copy`, stored inline, with `from_socket`, `as_socket`, `unix`,
//!   `as_unix_path`, `as_abstract_name`, `is_unnamed`, `domain` and
//!   `as_bytes`.
//! - `Socket`: owns one socket and closes it on drop. Its methods
//!   (`new`, `pair`, `set_nonblocking`, `bind`, `listen`, `try_accept`,
//!   `start_connect`, `finish_connect`, `send`, `recv`, `send_to`,
//!   `recv_from`, `send_vectored`, `recv_vectored`, `shutdown`,
//!   `local_addr`, `peer_addr`, `set_option`, `option`, `wait`) return the
//!   portable [`Error`](crate::Error) with the native code kept, and no
//!   operation or address: the portable layer adds those.
//! - `PollEntry` and `poll`: waiting on many sockets without allocating.
//! - `error_code` and `errno_name`: the native error table.
//! - `capabilities`: the backend's [`Capabilities`](crate::Capabilities).
//!
//! Every backend:
//! - behaves as `wit/sockets.wit` documents. Where the platform differs it
//!   either makes the behaviour match (for example, `local_addr` of an
//!   unbound IP socket is `invalid-state` even though Linux answers
//!   `0.0.0.0:0`) or returns `unsupported` / `option-not-supported` and
//!   says so in `capabilities`. It never pretends: an option it cannot set
//!   is not reported as set.
//! - returns would-block as a value (`Ok(None)` from `try_accept`,
//!   `ErrorCode::WouldBlock` elsewhere) and never allocates for it, nor on
//!   the accept, send and receive paths.
//! - retries EINTR (or its equivalent) itself.
//! - creates sockets close-on-exec and never lets a send raise SIGPIPE.
//! - hands accepted sockets back non-blocking, whatever the listener's
//!   mode.
//! - validates nothing that [`SocketOption::validate`](crate::SocketOption::validate)
//!   or the portable layer already checked.

cfg_if::cfg_if! {
    if #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))] {
        mod unix;
        pub(crate) use self::unix::*;
        pub use self::unix::{errno_name, error_code};
    } else {
        compile_error!("witsock supports Linux and macOS natively (wasm32-wasip2 is on its way)");
    }
}
