//! What every benchmark binary shares: a counting allocator, short
//! criterion settings, loopback helpers and the allocation record that
//! `benches/tools/report.rs` reads.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::Criterion;

/// The system allocator, counting every allocation and reallocation.
pub struct CountingAlloc;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call forwards to the system allocator unchanged.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations so far in this process.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Heap allocations per call of `op`, over `calls` calls.
pub fn allocations_per_call(calls: u64, mut op: impl FnMut()) -> f64 {
    let before = allocations();
    for _ in 0..calls {
        op();
    }
    (allocations() - before) as f64 / calls as f64
}

/// Where criterion writes its results (the same rule criterion uses).
pub fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("criterion"),
        None => PathBuf::from("target/criterion"),
    }
}

/// Prints and records allocations per call for `group/function`, for the
/// report.
pub fn record_allocations(group: &str, function: &str, per_call: f64) {
    println!("{group}/{function}: {per_call} heap allocations per call");
    let dir = criterion_dir().join("witsock-allocations");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        dir.join(format!("{group}__{function}.txt")),
        format!("{per_call}\n"),
    );
}

/// Short runs: the machine is small and shared.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args()
}

/// 127.0.0.1 port 0.
pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Socket buffer size for [`tcp_pair`]: room for a whole measured write,
/// so one thread can write and then read it back without blocking.
pub const TCP_BUFFER: usize = 1 << 20;

/// A connected std TCP pair on loopback, blocking, TCP_NODELAY and
/// [`TCP_BUFFER`]-byte send and receive buffers on both ends (set before
/// the handshake, so the window scales to them).
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let new = || {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_recv_buffer_size(TCP_BUFFER).unwrap();
        s.set_send_buffer_size(TCP_BUFFER).unwrap();
        s
    };
    let listener = new();
    listener.bind(&loopback().into()).unwrap();
    listener.listen(1).unwrap();
    let client = new();
    client.connect(&listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    let (client, server) = (TcpStream::from(client), TcpStream::from(server));
    client.set_nodelay(true).unwrap();
    server.set_nodelay(true).unwrap();
    (client, server)
}

/// Reads exactly `len` bytes from `s` into `scratch` (reused) and drops
/// them.
pub fn drain(s: &mut TcpStream, scratch: &mut [u8], mut len: usize) {
    use std::io::Read;
    let room = scratch.len();
    while len > 0 {
        let n = s.read(&mut scratch[..len.min(room)]).unwrap();
        assert!(n > 0, "end of stream while draining");
        len -= n;
    }
}

/// setsockopt(2) of an int option, panicking on failure (benchmark set-up).
pub fn set_int_option(
    fd: std::os::fd::RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) {
    // SAFETY: the value is a live c_int of the size given.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "setsockopt: {}", std::io::Error::last_os_error());
}

/// One recvmsg(2) of a GRO-coalesced buffer: its length and the
/// segment size from the UDP_GRO control message (the whole length when
/// the kernel did not coalesce).
pub fn recv_gro(fd: std::os::fd::RawFd, buf: &mut [u8], control: &mut [u64; 8]) -> (usize, usize) {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain old data; all zeroes is an empty message.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(control) as _;
    // SAFETY: msg points at live buffers for the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    assert!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
    let mut segment = n as usize;
    // SAFETY: the kernel filled msg_control/msg_controllen; the CMSG
    // macros stay within them.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_UDP && (*cmsg).cmsg_type == libc::UDP_GRO {
                segment = (libc::CMSG_DATA(cmsg) as *const u16).read_unaligned() as usize;
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    (n as usize, segment)
}
