//! Accept paths, witsock and its peers side by side:
//!
//! - `would_block_accept`: a non-blocking listener with an empty backlog,
//!   try-accept in a tight loop (ns per call, and heap allocations per
//!   call recorded for the report). Peers: raw accept4(2) (the floor), std
//!   `TcpListener::accept` (an `io::Error` per call), socket2, mio.
//! - `accept_burst`: connections per second for a burst of pending
//!   connections drained by try-accept, each accepted socket non-blocking
//!   and close-on-exec, with its peer address. Peers: raw accept4, std
//!   accept + set_nonblocking, socket2 accept + set_nonblocking, mio.

#[cfg(target_os = "linux")]
mod common;

#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOC: common::CountingAlloc = common::CountingAlloc;

#[cfg(target_os = "linux")]
mod linux {
    use std::hint::black_box;
    use std::io;
    use std::mem;
    use std::net::SocketAddr;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::time::{Duration, Instant};

    use criterion::{BenchmarkGroup, Criterion, Throughput};
    use witsock::{Domain, Socket, Type};

    use crate::common;

    /// Connections per burst.
    const BURST: usize = 32;

    /// A non-blocking witsock listener on loopback.
    fn witsock_listener() -> Socket {
        let l = Socket::new_nonblocking(Domain::Ipv4, Type::Stream, None).unwrap();
        l.bind(&common::loopback().into()).unwrap();
        l.listen(1024).unwrap();
        l
    }

    fn std_listener() -> std::net::TcpListener {
        let l = std::net::TcpListener::bind(common::loopback()).unwrap();
        l.set_nonblocking(true).unwrap();
        l
    }

    fn socket2_listener() -> socket2::Socket {
        let l = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        l.bind(&common::loopback().into()).unwrap();
        l.listen(1024).unwrap();
        l.set_nonblocking(true).unwrap();
        l
    }

    fn mio_listener() -> mio::net::TcpListener {
        mio::net::TcpListener::bind(common::loopback()).unwrap()
    }

    /// One accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC and the peer
    /// address: the floor every library builds on.
    #[inline]
    fn raw_accept4(listener: RawFd) -> io::Result<(OwnedFd, libc::sockaddr_storage)> {
        // SAFETY: all zeroes is a valid sockaddr_storage.
        let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
        let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: storage/len are live and sized for the call.
        let fd = unsafe {
            libc::accept4(
                listener,
                (&mut storage as *mut libc::sockaddr_storage).cast(),
                &mut len,
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: accept4 returned a new descriptor that nothing else owns.
        Ok((unsafe { OwnedFd::from_raw_fd(fd) }, storage))
    }

    /// accept4(2) returning the errno, as a caller that only checks for
    /// EAGAIN would: no `io::Error` at all.
    #[inline]
    fn raw_accept4_errno(listener: RawFd) -> Result<OwnedFd, i32> {
        // SAFETY: all zeroes is a valid sockaddr_storage.
        let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
        let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: storage/len are live and sized for the call.
        let fd = unsafe {
            libc::accept4(
                listener,
                (&mut storage as *mut libc::sockaddr_storage).cast(),
                &mut len,
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            // SAFETY: errno is thread-local and always readable.
            return Err(unsafe { *libc::__errno_location() });
        }
        // SAFETY: accept4 returned a new descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Benchmarks `op` (which must would-block) and records its heap
    /// allocations per call.
    fn would_block<T>(
        group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
        name: &str,
        mut op: impl FnMut() -> T,
    ) {
        let per_call = common::allocations_per_call(100_000, || {
            black_box(op());
        });
        common::record_allocations("would_block_accept", name, per_call);
        group.bench_function(name, |b| b.iter(|| black_box(op())));
    }

    pub fn would_block_accept(c: &mut Criterion) {
        let mut group = c.benchmark_group("would_block_accept");

        let l = witsock_listener();
        assert!(l.try_accept().unwrap().is_none());
        would_block(&mut group, "witsock", || l.try_accept());

        let raw = witsock_listener();
        let fd = raw.as_raw_fd();
        assert_eq!(raw_accept4_errno(fd).unwrap_err(), libc::EAGAIN);
        would_block(&mut group, "raw-accept4", || raw_accept4_errno(fd));

        let l = std_listener();
        assert_eq!(l.accept().unwrap_err().kind(), io::ErrorKind::WouldBlock);
        would_block(&mut group, "std", || l.accept());

        let l = socket2_listener();
        assert_eq!(l.accept().unwrap_err().kind(), io::ErrorKind::WouldBlock);
        would_block(&mut group, "socket2", || l.accept());

        let l = mio_listener();
        assert_eq!(l.accept().unwrap_err().kind(), io::ErrorKind::WouldBlock);
        would_block(&mut group, "mio", || l.accept());

        group.finish();
    }

    /// A client that resets its connection on close (SO_LINGER 0), so that
    /// millions of connections leave no TIME_WAIT behind.
    fn connect_client(to: SocketAddr) -> socket2::Socket {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_linger(Some(Duration::ZERO)).unwrap();
        s.connect(&to.into()).unwrap();
        s
    }

    /// Connects a burst of clients, then times draining them with
    /// `try_accept` (which returns `None` when nothing is pending).
    fn burst<T>(
        group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
        name: &str,
        to: SocketAddr,
        mut try_accept: impl FnMut() -> Option<T>,
    ) {
        group.bench_function(name, |b| {
            let mut clients = Vec::with_capacity(BURST);
            let mut accepted = Vec::with_capacity(BURST);
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    clients.extend((0..BURST).map(|_| connect_client(to)));
                    let start = Instant::now();
                    while accepted.len() < BURST {
                        // None only while the last handshakes are in flight.
                        if let Some(conn) = try_accept() {
                            accepted.push(conn);
                        }
                    }
                    total += start.elapsed();
                    clients.clear();
                    accepted.clear();
                }
                total
            })
        });
    }

    pub fn accept_burst(c: &mut Criterion) {
        let mut group = c.benchmark_group("accept_burst");
        group.throughput(Throughput::Elements(BURST as u64));

        let l = witsock_listener();
        let to = l.local_addr().unwrap().as_socket().unwrap();
        burst(&mut group, "witsock", to, || l.try_accept().unwrap());

        let raw = witsock_listener();
        let to = raw.local_addr().unwrap().as_socket().unwrap();
        let fd = raw.as_raw_fd();
        burst(&mut group, "raw-accept4", to, || raw_accept4(fd).ok());

        let l = std_listener();
        let to = l.local_addr().unwrap();
        burst(&mut group, "std", to, || match l.accept() {
            Ok((s, peer)) => {
                s.set_nonblocking(true).unwrap();
                Some((s, peer))
            }
            Err(_) => None,
        });

        let l = socket2_listener();
        let to = l.local_addr().unwrap().as_socket().unwrap();
        burst(&mut group, "socket2", to, || match l.accept() {
            Ok((s, peer)) => {
                s.set_nonblocking(true).unwrap();
                Some((s, peer))
            }
            Err(_) => None,
        });

        let l = mio_listener();
        let to = l.local_addr().unwrap();
        burst(&mut group, "mio", to, || l.accept().ok());

        group.finish();
    }
}

#[cfg(target_os = "linux")]
criterion::criterion_group! {
    name = benches;
    config = common::criterion();
    targets = linux::would_block_accept, linux::accept_burst
}

#[cfg(target_os = "linux")]
criterion::criterion_main!(benches);

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the accept benchmarks compare with accept4(2): Linux only");
}
