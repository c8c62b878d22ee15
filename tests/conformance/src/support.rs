//! Helpers shared by the cases: loopback sockets, connected pairs, bounded
//! waits, error checks, and the few platform checks (close-on-exec, open
//! descriptors, SIGPIPE, temporary Unix socket paths) that need more than
//! witsock. All single-threaded and non-panicking.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use witsock::{Domain, ErrorCode, Interest, SockAddr, Socket, Type};

use crate::{ensure, CaseError, CaseResult};

/// The longest any single wait in a case may take.
pub const WAIT: Duration = Duration::from_secs(5);

/// The loopback address of `domain` with port 0.
pub fn loopback(domain: Domain) -> SockAddr {
    loopback_port(domain, 0)
}

/// The loopback address of `domain` with `port`.
pub fn loopback_port(domain: Domain, port: u16) -> SockAddr {
    let ip = match domain {
        Domain::Ipv6 => Ipv6Addr::LOCALHOST.into(),
        _ => Ipv4Addr::LOCALHOST.into(),
    };
    SocketAddr::new(ip, port).into()
}

/// The port of an IP address, failing the case for any other address.
pub fn port_of(addr: &SockAddr) -> Result<u16, CaseError> {
    addr.as_socket()
        .map(|a| a.port())
        .ok_or_else(|| CaseError::Fail(format!("{addr} is not an IP address")))
}

/// A non-blocking TCP socket of `domain`, not bound.
pub fn tcp_socket(domain: Domain) -> Result<Socket, CaseError> {
    Ok(Socket::new_nonblocking(domain, Type::Stream, None)?)
}

/// A non-blocking TCP listener on loopback and its address.
pub fn tcp_listener(domain: Domain) -> Result<(Socket, SockAddr), CaseError> {
    tcp_listener_with_backlog(domain, 128)
}

/// A non-blocking TCP listener on loopback with `backlog`, and its address.
pub fn tcp_listener_with_backlog(
    domain: Domain,
    backlog: u32,
) -> Result<(Socket, SockAddr), CaseError> {
    let listener = tcp_socket(domain)?;
    listener.bind(&loopback(domain))?;
    listener.listen(backlog)?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// A non-blocking UDP socket bound to loopback, and its address.
pub fn udp_socket(domain: Domain) -> Result<(Socket, SockAddr), CaseError> {
    let socket = Socket::new_nonblocking(domain, Type::Datagram, None)?;
    socket.bind(&loopback(domain))?;
    let addr = socket.local_addr()?;
    Ok((socket, addr))
}

/// A loopback address nobody listens on: a TCP socket bound to it but not
/// listening holds the port, so connecting there is refused and no other
/// test can take the port meanwhile. Keep the socket alive while using
/// the address.
pub fn closed_port(domain: Domain) -> Result<(Socket, SockAddr), CaseError> {
    let holder = tcp_socket(domain)?;
    holder.bind(&loopback(domain))?;
    let addr = holder.local_addr()?;
    Ok((holder, addr))
}

/// Waits up to [`WAIT`] for `interest`, failing the case on timeout.
pub fn wait_for(socket: &Socket, interest: Interest, what: &str) -> CaseResult {
    let ready = socket.wait(interest, Some(WAIT))?;
    ensure!(!ready.is_empty(), "timed out waiting for {what}");
    Ok(())
}

/// Accepts one connection, waiting up to [`WAIT`].
pub fn accept(listener: &Socket) -> Result<(Socket, SockAddr), CaseError> {
    // A readable listener has a connection, so one wait is enough; the
    // second round only covers a connection aborted in the queue.
    for _ in 0..8 {
        if let Some(pair) = listener.try_accept()? {
            return Ok(pair);
        }
        wait_for(listener, Interest::READABLE, "a connection")?;
    }
    Err(CaseError::Fail(
        "the listener stayed readable without a connection to accept".into(),
    ))
}

/// Finishes a non-blocking connect, waiting up to [`WAIT`] for each step.
pub fn finish_connect(socket: &Socket) -> CaseResult {
    for _ in 0..8 {
        wait_for(socket, Interest::WRITABLE, "the connect to finish")?;
        if socket.finish_connect()? {
            return Ok(());
        }
    }
    Err(CaseError::Fail(
        "finish-connect kept reporting in progress on a writable socket".into(),
    ))
}

/// Connects `socket` to `addr`, the non-blocking way.
pub fn connect(socket: &Socket, addr: &SockAddr) -> CaseResult {
    if socket.start_connect(addr)? {
        return Ok(());
    }
    finish_connect(socket)
}

/// A connected TCP pair over loopback: (client, server side), both
/// non-blocking.
pub fn tcp_pair(domain: Domain) -> Result<(Socket, Socket), CaseError> {
    let (_listener, client, server) = tcp_pair_and_listener(domain)?;
    Ok((client, server))
}

/// [`tcp_pair`], and the listener that accepted the server side, still
/// listening: (listener, client, server).
pub fn tcp_pair_and_listener(domain: Domain) -> Result<(Socket, Socket, Socket), CaseError> {
    let (listener, addr) = tcp_listener(domain)?;
    let client = tcp_socket(domain)?;
    let connected = client.start_connect(&addr)?;
    let (server, _) = accept(&listener)?;
    if !connected {
        finish_connect(&client)?;
    }
    Ok((listener, client, server))
}

/// Sends all of `data` on a non-blocking socket, waiting for room.
pub fn send_all(socket: &Socket, data: &[u8]) -> CaseResult {
    let mut rest = data;
    let mut rounds = 0usize;
    while !rest.is_empty() {
        rounds += 1;
        ensure!(rounds <= 100_000, "send made no progress");
        match socket.send(rest, witsock::SendFlags::EMPTY) {
            Ok(n) => rest = rest.get(n..).unwrap_or_default(),
            Err(e) if e.is_would_block() => wait_for(socket, Interest::WRITABLE, "room to send")?,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Receives exactly `len` bytes from a non-blocking stream socket, waiting
/// for each part; fails on end-of-stream.
pub fn recv_exact(socket: &Socket, len: usize) -> Result<Vec<u8>, CaseError> {
    let mut out = Vec::with_capacity(len);
    let mut buf = [0u8; 4096];
    let mut rounds = 0usize;
    while out.len() < len {
        rounds += 1;
        ensure!(rounds <= 100_000, "receive made no progress");
        let want = (len - out.len()).min(buf.len());
        let chunk = buf.get_mut(..want).unwrap_or_default();
        match socket.recv(chunk, witsock::RecvFlags::EMPTY) {
            Ok(0) => {
                return Err(CaseError::Fail(format!(
                    "end-of-stream after {} of {len} bytes",
                    out.len()
                )))
            }
            Ok(n) => out.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if e.is_would_block() => wait_for(socket, Interest::READABLE, "data")?,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// Receives one datagram from a non-blocking socket into a buffer of
/// `capacity` bytes, waiting up to [`WAIT`]: its bytes and metadata.
pub fn recv_datagram(
    socket: &Socket,
    capacity: usize,
) -> Result<(Vec<u8>, witsock::RecvMeta), CaseError> {
    let mut buf = vec![0u8; capacity];
    for _ in 0..8 {
        match socket.recv_from(&mut buf, witsock::RecvFlags::EMPTY) {
            Ok(meta) => {
                buf.truncate(meta.len);
                return Ok((buf, meta));
            }
            Err(e) if e.is_would_block() => wait_for(socket, Interest::READABLE, "a datagram")?,
            Err(e) => return Err(e.into()),
        }
    }
    Err(CaseError::Fail(
        "the socket stayed readable without a datagram".into(),
    ))
}

/// The first `n` bytes of `buf`, failing the case if `n` is out of range.
pub fn prefix(buf: &[u8], n: usize) -> Result<&[u8], CaseError> {
    buf.get(..n).ok_or_else(|| {
        CaseError::Fail(format!(
            "reported {n} bytes for a buffer of {} bytes",
            buf.len()
        ))
    })
}

/// Checks that `result` failed with `code`.
///
/// An `unsupported` or `option-not-supported` error (when `code` is not one
/// of those) becomes [`CaseError::Unsupported`], just as `?` would: a case
/// declared unsupported on a backend accepts it and every other case fails.
pub fn expect_error<T>(result: witsock::Result<T>, code: ErrorCode, what: &str) -> CaseResult {
    match result {
        Ok(_) => Err(CaseError::Fail(format!(
            "{what}: succeeded, expected {}",
            code.wit_name()
        ))),
        Err(e) if e.code() == code => Ok(()),
        Err(e) if is_unsupported(e.code()) => Err(CaseError::Unsupported(format!("{what}: {e}"))),
        Err(e) => Err(CaseError::Fail(format!(
            "{what}: got {} ({e}), expected {}",
            e.code().wit_name(),
            code.wit_name()
        ))),
    }
}

/// Checks that `result` failed with one of `codes`, returning the code.
pub fn expect_one_of<T>(
    result: witsock::Result<T>,
    codes: &[ErrorCode],
    what: &str,
) -> Result<ErrorCode, CaseError> {
    let names: Vec<&str> = codes.iter().map(|c| c.wit_name()).collect();
    match result {
        Ok(_) => Err(CaseError::Fail(format!(
            "{what}: succeeded, expected one of {names:?}"
        ))),
        Err(e) if codes.contains(&e.code()) => Ok(e.code()),
        Err(e) if is_unsupported(e.code()) => Err(CaseError::Unsupported(format!("{what}: {e}"))),
        Err(e) => Err(CaseError::Fail(format!(
            "{what}: got {} ({e}), expected one of {names:?}",
            e.code().wit_name()
        ))),
    }
}

/// The two codes that mean "this backend lacks the feature".
pub fn is_unsupported(code: ErrorCode) -> bool {
    matches!(code, ErrorCode::Unsupported | ErrorCode::OptionNotSupported)
}

/// Whether the descriptor behind `socket` is close-on-exec
/// (fcntl(2) F_GETFD). `None` where there is no exec: a wasm guest has no
/// descriptors that a child process could inherit, so the property does
/// not apply there and nothing is checked.
#[cfg(unix)]
pub fn close_on_exec(socket: &Socket) -> Result<Option<bool>, CaseError> {
    use std::os::fd::AsRawFd;
    // SAFETY: F_GETFD only reads the flags of a descriptor `socket` owns.
    let flags = unsafe { libc::fcntl(socket.as_raw_fd(), libc::F_GETFD) };
    ensure!(
        flags >= 0,
        "fcntl(F_GETFD): {}",
        std::io::Error::last_os_error()
    );
    Ok(Some(flags & libc::FD_CLOEXEC != 0))
}

/// Whether the descriptor behind `socket` is close-on-exec: never
/// applicable in wasm (there is no exec), so always `None`.
#[cfg(not(unix))]
pub fn close_on_exec(_socket: &Socket) -> Result<Option<bool>, CaseError> {
    Ok(None)
}

/// Fails the case if `socket` is known not to be close-on-exec.
pub fn ensure_close_on_exec(socket: &Socket, what: &str) -> CaseResult {
    if let Some(cloexec) = close_on_exec(socket)? {
        ensure!(cloexec, "{what} is not close-on-exec");
    }
    Ok(())
}

/// The number of descriptors this process has open, where the platform
/// can list them (/proc/self/fd on Linux, /dev/fd on macOS); `None`
/// elsewhere. The listing's own descriptor is counted every time, so two
/// counts compare exactly.
#[cfg(unix)]
pub fn open_descriptors() -> Option<usize> {
    ["/proc/self/fd", "/dev/fd"]
        .iter()
        .find_map(|dir| std::fs::read_dir(dir).ok().map(|d| d.count()))
}

/// No descriptor listing in wasm.
#[cfg(not(unix))]
pub fn open_descriptors() -> Option<usize> {
    None
}

/// Makes room for `needed` descriptors: raises the soft RLIMIT_NOFILE up
/// to the hard limit if it is lower (macOS starts at 256), and fails the
/// case if even the hard limit is too low.
#[cfg(unix)]
pub fn ensure_descriptor_room(needed: usize) -> CaseResult {
    use core::mem::MaybeUninit;
    let needed = libc::rlim_t::try_from(needed).unwrap_or(libc::rlim_t::MAX);
    let mut limit = MaybeUninit::<libc::rlimit>::zeroed();
    // SAFETY: getrlimit writes into the live storage.
    let r = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, limit.as_mut_ptr()) };
    ensure!(r == 0, "getrlimit: {}", std::io::Error::last_os_error());
    // SAFETY: getrlimit succeeded and filled it in.
    let mut limit = unsafe { limit.assume_init() };
    if limit.rlim_cur >= needed {
        return Ok(());
    }
    ensure!(
        limit.rlim_max >= needed,
        "this case needs {needed} descriptors; the hard limit is {}",
        limit.rlim_max
    );
    limit.rlim_cur = needed;
    // SAFETY: setrlimit reads the live, initialised limit.
    let r = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    ensure!(r == 0, "setrlimit: {}", std::io::Error::last_os_error());
    Ok(())
}

/// The host decides how many sockets a wasm guest may hold; nothing to
/// raise from inside.
#[cfg(not(unix))]
pub fn ensure_descriptor_room(_needed: usize) -> CaseResult {
    Ok(())
}

/// Runs `f` with SIGPIPE blocked in this thread and reports whether it
/// raised one: `Some(true)` if a SIGPIPE became pending meanwhile (it is
/// then consumed, so the process survives either way).
///
/// With the signal blocked, Linux queues it even though the Rust runtime
/// ignores SIGPIPE, so the check is exact there; a kernel that discards
/// ignored signals even while blocked (POSIX leaves it open) makes this
/// report `Some(false)`, and then only the process surviving under the
/// default disposition would tell.
#[cfg(unix)]
pub fn sigpipe_raised_during<T>(f: impl FnOnce() -> T) -> Result<(T, Option<bool>), CaseError> {
    use core::mem::MaybeUninit;
    use core::ptr;

    fn sigpipe_pending() -> Result<bool, CaseError> {
        let mut pending = MaybeUninit::<libc::sigset_t>::zeroed();
        // SAFETY: sigpending writes the pending set into the live storage.
        let r = unsafe { libc::sigpending(pending.as_mut_ptr()) };
        ensure!(r == 0, "sigpending: {}", std::io::Error::last_os_error());
        // SAFETY: sigpending filled the set; sigismember only reads it.
        Ok(unsafe { libc::sigismember(pending.as_ptr(), libc::SIGPIPE) } == 1)
    }

    fn consume(set: &libc::sigset_t) -> CaseResult {
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` holds SIGPIPE, which is pending and blocked, so
        // sigwait returns at once and removes it.
        let r = unsafe { libc::sigwait(set, &mut sig) };
        ensure!(r == 0, "sigwait: errno {r}");
        Ok(())
    }

    let mut set = MaybeUninit::<libc::sigset_t>::zeroed();
    let mut old = MaybeUninit::<libc::sigset_t>::zeroed();
    // SAFETY: the sets are live storage; sigemptyset initialises `set`
    // before sigaddset and pthread_sigmask read it.
    let r = unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, set.as_ptr(), old.as_mut_ptr())
    };
    ensure!(r == 0, "pthread_sigmask: errno {r}");
    // SAFETY: initialised above.
    let set = unsafe { set.assume_init() };
    // SAFETY: pthread_sigmask succeeded and wrote the previous mask.
    let old = unsafe { old.assume_init() };

    let checked = (|| -> Result<(T, Option<bool>), CaseError> {
        // A SIGPIPE left over from elsewhere is not ours to report.
        if sigpipe_pending()? {
            consume(&set)?;
        }
        let out = f();
        let raised = sigpipe_pending()?;
        if raised {
            consume(&set)?;
        }
        Ok((out, Some(raised)))
    })();
    // SAFETY: restores the mask saved above.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut()) };
    ensure!(r == 0, "pthread_sigmask (restore): errno {r}");
    checked
}

/// No signals in wasm: a send there cannot raise SIGPIPE, and the guest
/// surviving is all there is to check, so this reports `None`.
#[cfg(not(unix))]
pub fn sigpipe_raised_during<T>(f: impl FnOnce() -> T) -> Result<(T, Option<bool>), CaseError> {
    Ok((f(), None))
}

/// A fresh path for a Unix socket in the temporary directory; the file
/// the socket creates there is removed on drop.
pub struct UnixSocketPath {
    path: std::path::PathBuf,
}

impl UnixSocketPath {
    /// A path no other case or process uses.
    #[cfg(unix)]
    pub fn new() -> Result<UnixSocketPath, CaseError> {
        use core::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("witsock-conformance-{}-{n}.sock", std::process::id());
        let path = std::env::temp_dir().join(name);
        // A file left by an earlier, killed run of the same pid.
        let _ = std::fs::remove_file(&path);
        Ok(UnixSocketPath { path })
    }

    /// In wasm, a path in the host directory named by
    /// `WITSOCK_UNIX_SOCKET_DIR` (which a witsock host grants and preopens
    /// at the same path); without it there is no directory to use.
    #[cfg(not(unix))]
    pub fn new() -> Result<UnixSocketPath, CaseError> {
        use core::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let Some(dir) = std::env::var_os("WITSOCK_UNIX_SOCKET_DIR") else {
            return Err(CaseError::Fail(
                "no directory for a Unix socket path on this target (WITSOCK_UNIX_SOCKET_DIR is not set)"
                    .into(),
            ));
        };
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::path::Path::new(&dir).join(format!("witsock-conformance-{n}.sock"));
        let _ = std::fs::remove_file(&path);
        Ok(UnixSocketPath { path })
    }

    /// The path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Whether the socket file exists.
    pub fn exists(&self) -> bool {
        self.path.exists()
    }
}

impl Drop for UnixSocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A name for a Linux abstract Unix socket that no other case or process
/// uses.
pub fn unique_abstract_name() -> Vec<u8> {
    use core::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    #[cfg(unix)]
    let pid = std::process::id();
    #[cfg(not(unix))]
    let pid = 0;
    format!("witsock-conformance-{pid}-{n}").into_bytes()
}

/// The loopback interface's index, for joining IPv6 multicast groups
/// without depending on a default route; 0 (the kernel's choice) where it
/// cannot be looked up.
#[cfg(unix)]
pub fn loopback_interface_index() -> u32 {
    ["lo", "lo0"]
        .iter()
        .filter_map(|name| std::ffi::CString::new(*name).ok())
        // SAFETY: `name` is a valid NUL-terminated string for the call.
        .map(|name| unsafe { libc::if_nametoindex(name.as_ptr()) })
        .find(|&index| index != 0)
        .unwrap_or(0)
}

/// 0: the kernel's choice (wasm has no interface names).
#[cfg(not(unix))]
pub fn loopback_interface_index() -> u32 {
    0
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use std::os::fd::FromRawFd;

    use super::*;

    /// These tests open descriptors and one of them counts them: one at a
    /// time.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// A raw socket pair, without witsock's SIGPIPE and close-on-exec care.
    fn raw_pair() -> [libc::c_int; 2] {
        let mut fds = [0; 2];
        // SAFETY: fds has room for the two descriptors.
        let r = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) };
        assert_eq!(r, 0);
        fds
    }

    #[test]
    fn sigpipe_check_sees_a_raised_signal() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let [a, b] = raw_pair();
        // SAFETY: b is ours to close.
        unsafe { libc::close(b) };
        // SAFETY: a is open; the buffer is one live byte.
        let send = |flags| unsafe { libc::send(a, b"x".as_ptr().cast(), 1, flags) };
        let (r, raised) = sigpipe_raised_during(|| send(0)).unwrap();
        assert_eq!(r, -1);
        if cfg!(target_os = "linux") {
            assert_eq!(raised, Some(true), "a plain send to a closed peer");
        }
        #[cfg(target_os = "linux")]
        {
            let (r, raised) = sigpipe_raised_during(|| send(libc::MSG_NOSIGNAL)).unwrap();
            assert_eq!(r, -1);
            assert_eq!(raised, Some(false), "a send with MSG_NOSIGNAL");
        }
        // SAFETY: a is ours to close.
        unsafe { libc::close(a) };
    }

    #[test]
    fn close_on_exec_check_sees_a_missing_flag() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let [a, b] = raw_pair();
        // SAFETY: a and b are open descriptors nothing else owns.
        let (a, b) = unsafe { (Socket::from_raw_fd(a), Socket::from_raw_fd(b)) };
        assert_eq!(close_on_exec(&a).unwrap(), Some(false));
        // SAFETY: F_SETFD on a descriptor `b` owns.
        let r = unsafe {
            libc::fcntl(
                std::os::fd::AsRawFd::as_raw_fd(&b),
                libc::F_SETFD,
                libc::FD_CLOEXEC,
            )
        };
        assert_eq!(r, 0);
        assert_eq!(close_on_exec(&b).unwrap(), Some(true));
    }

    #[test]
    fn open_descriptors_counts_a_new_socket() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let before = open_descriptors().unwrap();
        let socket = tcp_socket(Domain::Ipv4).unwrap();
        assert_eq!(open_descriptors(), Some(before + 1));
        drop(socket);
        assert_eq!(open_descriptors(), Some(before));
    }
}
