//! The backend, chosen once for the target.
//!
//! # The contract every backend meets
//!
//! A backend exports exactly these items; the portable layer in `src/`
//! calls nothing else.
//!
//! - `RawAddr`: the address representation (`sockaddr_storage` natively,
//!   an IP socket address on wasm32-wasip2, an IP address or a Unix name
//!   with the `imports` feature), `Copy`, stored inline, with
//!   `zeroed`, `from_socket`, `as_socket`, `unix`, `as_unix_path`,
//!   `as_abstract_name`, `is_unnamed`, `domain` and `as_bytes`; natively
//!   also `as_ptr` (for `SockAddr::as_raw`).
//! - `Socket`: owns one socket and closes it on drop. Its methods
//!   (`new`, `pair`, `set_nonblocking`, `bind`, `listen`, `try_accept`,
//!   `start_connect`, `finish_connect`, `disconnect`, `send`, `recv`,
//!   `send_to`, `recv_from`, `send_vectored`, `recv_vectored`,
//!   `send_batch`, `recv_batch`, `shutdown`, `local_addr`, `peer_addr`,
//!   `set_option`, `option`, `wait`) return the portable
//!   [`Error`](crate::Error) with the native code kept, and no operation
//!   or address: the portable layer adds those. `datagram_connected` (no
//!   result) is called after every connect of an IP datagram socket.
//!   `disconnect` is called only on a datagram socket that has a peer
//!   (the portable layer answers the others); it leaves the socket with
//!   no peer, receiving from everyone (no filtering left from a connect),
//!   and bound to the port it had; on an error the portable layer asks
//!   `peer_addr` whether the peer is gone all the same. Natively it also has
//!   `from_fd`, `fd` and `into_fd`, for std's descriptor traits
//!   (`src/interop.rs`).
//! - `PollEntry` (`new`, `readiness`) and `poll`: waiting on many sockets
//!   (without allocating natively; the wasi bindings take and return
//!   lists).
//! - `error_code`, `errno_name` and `RAW_CODE_KIND`: the native error
//!   table (errno values natively, wasi:sockets `error-code` discriminants
//!   on wasm32-wasip2; with `imports` the raw code is the host's errno,
//!   already mapped by the host, and its names are the host's, fetched
//!   once), and what messages call a raw code (`errno`, `wasi error-code`,
//!   `host errno`).
//! - `hint`: what usually causes an error, for its message: natively, for
//!   an `access-denied` the kernel returned on a bind, connect or send
//!   (the host's kernel, firewall or permissions); `None` elsewhere.
//! - `capabilities`: the backend's [`Capabilities`](crate::Capabilities).
//! - the same auto traits on every backend: `Socket`, `SockAddr`, `Error`,
//!   `PollEntry`, `RecvMeta`, `Capabilities` and the batch datagrams are
//!   `Send + Sync`, `Addresses` is `Send` (asserted at the end of this
//!   file, so a backend that breaks it does not compile).
//! - `resolve` and `ResolvedAddrs`: name resolution (getaddrinfo(3)
//!   natively, wasi:sockets `ip-name-lookup` on wasm32-wasip2, the host's
//!   resolver with `imports`), an iterator of `SocketAddr` that owns what
//!   the resolver returned.
//!
//! The wasi:sockets backend also adds public methods to
//! [`Socket`](crate::Socket): `as_wasi_tcp` and the other accessors of the
//! wasi resources it wraps (`wasi/handles.rs`), what `AsFd` is natively.
//!
//! Every backend:
//! - behaves as `wit/sockets.wit` documents. Where the platform differs it
//!   either makes the behaviour match (for example, `local_addr` of an
//!   unbound IP socket is `invalid-state` even though Linux answers
//!   `0.0.0.0:0`) or returns `unsupported` / `option-not-supported` and
//!   says so in `capabilities`. It never pretends: an option it cannot set
//!   is not reported as set.
//! - returns would-block as a value (`Ok(None)` from `try_accept`,
//!   `ErrorCode::WouldBlock` elsewhere) and, natively, never allocates for
//!   it, nor on the accept, send and receive paths (the wasi bindings
//!   return received data and datagram lists in fresh allocations).
//! - has a connected UDP socket receive only from its peer, through
//!   every receive (peeks included), also what others sent before the
//!   connect: natively the kernel still queues that, so after
//!   `datagram_connected` the receives drop it, until one finds the queue
//!   empty; wasi-p2 keeps the peer itself; with `imports` the host's
//!   witsock does it. After `disconnect` nothing is dropped any more.
//! - `bind(addr, reuse_address)` and `listen(backlog, reuse_address)`:
//!   with `reuse_address` (a TCP socket whose caller did not set the
//!   option) turns SO_REUSEADDR on before binding, where the backend
//!   binds (natively); wasi:sockets hosts and the witsock host do it
//!   themselves.
//! - retries EINTR (or its equivalent) itself.
//! - creates sockets close-on-exec and never lets a send raise SIGPIPE
//!   (natively; wasi:sockets has neither exec nor signals).
//! - implements blocking mode, natively in the kernel, on wasm32-wasip2
//!   by waiting on the socket's pollables (every wasi:sockets call is
//!   non-blocking).
//! - hands accepted sockets back non-blocking, whatever the listener's
//!   mode.
//! - validates nothing that [`SocketOption::validate`](crate::SocketOption::validate)
//!   or the portable layer already checked (the listen backlog, the number
//!   of vectored buffers).

cfg_if::cfg_if! {
    if #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))] {
        mod unix;
        pub(crate) use self::unix::*;
        pub(crate) use self::unix::resolve::{resolve, ResolvedAddrs};
        pub use self::unix::{errno_name, error_code, ERRNO_NAMES};
        pub(crate) use self::unix::RAW_CODE_KIND;
    } else if #[cfg(all(target_os = "wasi", feature = "imports"))] {
        // The `imports` feature: the witsock WIT, served by the host.
        mod imports;
        pub(crate) use self::imports::*;
        pub use self::imports::{errno_name, error_code};
        pub(crate) use self::imports::RAW_CODE_KIND;
    } else if #[cfg(all(target_os = "wasi", target_env = "p2"))] {
        mod wasi;
        pub(crate) use self::wasi::*;
        pub use self::wasi::{errno_name, error_code};
        pub(crate) use self::wasi::RAW_CODE_KIND;
    } else {
        compile_error!("witsock supports Linux and macOS natively, and wasm32-wasip2");
    }
}

// The wasi error table depends on nothing wasi-specific: test it natively
// too.
#[cfg(all(test, not(target_os = "wasi")))]
#[path = "wasi/error_table.rs"]
mod wasi_error_table;

// The auto traits of the public types are part of the contract: code that
// compiles on one backend compiles on every one. Checked on each target.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    const fn send<T: Send>() {}
    send_sync::<crate::Socket>();
    send_sync::<crate::SockAddr>();
    send_sync::<crate::Error>();
    send_sync::<crate::PollEntry<'static>>();
    send_sync::<crate::RecvMeta>();
    send_sync::<crate::Capabilities>();
    send_sync::<crate::IncomingDatagram<'static>>();
    send_sync::<crate::OutgoingDatagram<'static>>();
    send::<crate::Addresses>();
};
