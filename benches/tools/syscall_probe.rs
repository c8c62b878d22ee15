//! Runs one operation N times between two markers, for
//! `benches/syscalls.sh` to count the syscalls in between under strace,
//! and prints the heap allocations made in between.
//!
//! With `ab`, it times the libraries instead, interleaved: round after
//! round, each library runs the scenario in turn (in a rotating order) and
//! the ratio witsock / peer is taken within each round, so that a machine
//! whose speed drifts (other work, a busy sibling hyperthread) shifts both
//! sides of a ratio alike. `benches/ab.sh` runs every scenario this way.
//!
//! ```text
//! syscall-probe <scenario> <library> <count>
//! syscall-probe ab <scenario> <count> <rounds> <library>...
//!   would-block-accept  witsock | raw | std | socket2 | mio
//!   accept              witsock | raw | std | socket2 | mio
//!   tcp-64k             witsock | std | mio   (64 KiB writes)
//!   tcp-ping            witsock | std | mio   (64-byte round trips)
//!   vectored-1024       witsock | std
//!   udp-64              witsock | witsock-batch | std | raw-gso-gro
//! ```
//!
//! The markers are write(2)s to descriptor -1 (they fail with EBADF and do
//! nothing): `witsock-probe:begin` and `witsock-probe:end`. Everything the
//! operation needs (listeners, pending connections, buffers, the vector
//! that keeps accepted sockets) is set up before the first marker and torn
//! down after the second.

#[cfg(target_os = "linux")]
#[path = "../common/mod.rs"]
mod common;

#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOC: common::CountingAlloc = common::CountingAlloc;

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    linux::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the syscall probe runs on Linux only");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::hint::black_box;
    use std::io::{self, IoSlice, Read, Write};
    use std::mem;
    use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::process::ExitCode;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::mpsc;
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    use witsock::{Domain, IncomingDatagram, OutgoingDatagram, RecvFlags, SendFlags, Socket, Type};

    use crate::common;

    fn marker(text: &str) {
        // SAFETY: write(2) to an invalid descriptor reads nothing and fails.
        unsafe { libc::write(-1, text.as_ptr().cast(), text.len()) };
    }

    /// Set in `ab` mode: time only, print nothing per run.
    static TIMING_ONLY: AtomicBool = AtomicBool::new(false);
    /// Nanoseconds per operation of the last measured section, as f64 bits.
    static LAST_NS_PER_OP: AtomicU64 = AtomicU64::new(0);

    /// Runs `op` between the markers, and prints allocations per operation
    /// (or, in `ab` mode, records the time per operation).
    fn measured(ops: u64, op: impl FnOnce()) {
        let before = common::allocations();
        marker("witsock-probe:begin");
        let start = Instant::now();
        measured_section(op);
        let elapsed = start.elapsed();
        marker("witsock-probe:end");
        let allocs = common::allocations() - before;
        let per_op = elapsed.as_nanos() as f64 / ops as f64;
        LAST_NS_PER_OP.store(per_op.to_bits(), Ordering::Relaxed);
        if !TIMING_ONLY.load(Ordering::Relaxed) {
            println!("allocations_per_op {}", allocs as f64 / ops as f64);
        }
    }

    /// The measured operations, in a function of their own so that
    /// `valgrind --tool=callgrind --toggle-collect='*measured_section*'`
    /// counts the instructions they run and nothing else.
    #[inline(never)]
    fn measured_section(op: impl FnOnce()) {
        op();
    }

    fn witsock_listener() -> Socket {
        let l = Socket::new_nonblocking(Domain::Ipv4, Type::Stream, None).unwrap();
        l.bind(&common::loopback().into()).unwrap();
        l.listen(4096).unwrap();
        l
    }

    /// A non-blocking listener with room for 4096 pending connections
    /// (std and mio's own `bind` allow fewer than a probe queues).
    fn deep_listener() -> socket2::Socket {
        let l = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        l.bind(&common::loopback().into()).unwrap();
        l.listen(4096).unwrap();
        l.set_nonblocking(true).unwrap();
        l
    }

    /// A listener of the library asked for, and the address to reach it.
    enum Listener {
        Witsock(Socket),
        Raw(Socket),
        Std(TcpListener),
        Socket2(socket2::Socket),
        Mio(mio::net::TcpListener),
    }

    impl Listener {
        fn new(library: &str) -> Option<Listener> {
            Some(match library {
                "witsock" => Listener::Witsock(witsock_listener()),
                "raw" => Listener::Raw(witsock_listener()),
                "std" => Listener::Std(deep_listener().into()),
                "socket2" => Listener::Socket2(deep_listener()),
                "mio" => Listener::Mio(mio::net::TcpListener::from_std(deep_listener().into())),
                _ => return None,
            })
        }

        fn addr(&self) -> SocketAddr {
            match self {
                Listener::Witsock(l) | Listener::Raw(l) => {
                    l.local_addr().unwrap().as_socket().unwrap()
                }
                Listener::Std(l) => l.local_addr().unwrap(),
                Listener::Socket2(l) => l.local_addr().unwrap().as_socket().unwrap(),
                Listener::Mio(l) => l.local_addr().unwrap(),
            }
        }

        /// One try-accept giving a non-blocking, close-on-exec socket and
        /// the peer address, the way each library does it; `None` when
        /// nothing is pending.
        fn try_accept(&self) -> Option<OwnedFd> {
            match self {
                Listener::Witsock(l) => l.try_accept().unwrap().map(|(s, peer)| {
                    black_box(peer);
                    OwnedFd::from(s)
                }),
                Listener::Raw(l) => {
                    // SAFETY: all zeroes is a valid sockaddr_storage.
                    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
                    let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                    // SAFETY: storage/len are live and sized for the call.
                    let fd = unsafe {
                        libc::accept4(
                            l.as_raw_fd(),
                            (&mut storage as *mut libc::sockaddr_storage).cast(),
                            &mut len,
                            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                        )
                    };
                    black_box(storage);
                    // SAFETY: a non-negative result is a new descriptor.
                    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
                }
                Listener::Std(l) => l.accept().ok().map(|(s, peer)| {
                    s.set_nonblocking(true).unwrap();
                    black_box(peer);
                    OwnedFd::from(s)
                }),
                Listener::Socket2(l) => l.accept().ok().map(|(s, peer)| {
                    s.set_nonblocking(true).unwrap();
                    black_box(peer);
                    OwnedFd::from(s)
                }),
                Listener::Mio(l) => l.accept().ok().map(|(s, peer)| {
                    black_box(peer);
                    // SAFETY: into_raw_fd hands over the descriptor.
                    unsafe { OwnedFd::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(s)) }
                }),
            }
        }
    }

    fn would_block_accept(library: &str, count: u64) -> Option<()> {
        let l = Listener::new(library)?;
        assert!(l.try_accept().is_none());
        measured(count, || {
            for _ in 0..count {
                black_box(l.try_accept());
            }
        });
        Some(())
    }

    fn accept(library: &str, count: u64) -> Option<()> {
        let l = Listener::new(library)?;
        let to = l.addr();
        let clients: Vec<socket2::Socket> = (0..count)
            .map(|_| {
                let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                    .unwrap();
                s.set_linger(Some(Duration::ZERO)).unwrap();
                s.connect(&to.into()).unwrap();
                s
            })
            .collect();
        let mut accepted = Vec::with_capacity(count as usize);
        let mut empty_polls = 0u64;
        measured(count, || {
            while accepted.len() < count as usize {
                match l.try_accept() {
                    Some(fd) => accepted.push(fd),
                    None => empty_polls += 1,
                }
            }
        });
        if !TIMING_ONLY.load(Ordering::Relaxed) {
            println!("empty_polls {empty_polls}");
        }
        drop(clients);
        Some(())
    }

    /// The far end of a TCP pair, on its own thread: drains everything, or
    /// echoes 64-byte messages back. It allocates before returning, so the
    /// measured section (which counts the whole process's allocations)
    /// does not see it.
    fn far_end(mut server: TcpStream, echo: bool) -> JoinHandle<()> {
        let (ready_tx, ready) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 256 * 1024];
            ready_tx.send(()).unwrap();
            if echo {
                while server.read_exact(&mut buf[..64]).is_ok() {
                    if server.write_all(&buf[..64]).is_err() {
                        break;
                    }
                }
            } else {
                while matches!(server.read(&mut buf), Ok(n) if n > 0) {}
            }
        });
        ready.recv().unwrap();
        thread
    }

    /// The far end of a TCP scenario. Counting runs give it a thread of its
    /// own, so that the near end's syscalls stand alone between the
    /// markers; timing runs (`ab`) keep it on the measuring thread, since
    /// cross-thread wake-ups would dominate the time and vary by tens of
    /// microseconds.
    enum FarEnd {
        Thread(JoinHandle<()>),
        Inline(TcpStream, Vec<u8>),
    }

    impl FarEnd {
        fn new(server: TcpStream, echo: bool) -> FarEnd {
            if TIMING_ONLY.load(Ordering::Relaxed) {
                FarEnd::Inline(server, vec![0u8; 256 * 1024])
            } else {
                FarEnd::Thread(far_end(server, echo))
            }
        }

        /// After the near end sent `len` bytes: an inline far end reads
        /// them, and sends them back when `echo`.
        fn serve(&mut self, len: usize, echo: bool) {
            if let FarEnd::Inline(server, buf) = self {
                common::drain(server, buf, len);
                if echo {
                    server.write_all(&buf[..len]).unwrap();
                }
            }
        }

        /// Waits for a far-end thread to see end-of-stream (the near end
        /// must be closed by now).
        fn finish(self) {
            if let FarEnd::Thread(thread) = self {
                thread.join().unwrap();
            }
        }
    }

    /// A mio stream and its poll, for the mio rows of the TCP scenarios.
    struct MioConn {
        stream: mio::net::TcpStream,
        poll: mio::Poll,
        events: mio::Events,
    }

    impl MioConn {
        fn new(std: TcpStream) -> MioConn {
            std.set_nonblocking(true).unwrap();
            let mut stream = mio::net::TcpStream::from_std(std);
            let poll = mio::Poll::new().unwrap();
            poll.registry()
                .register(
                    &mut stream,
                    mio::Token(0),
                    mio::Interest::READABLE | mio::Interest::WRITABLE,
                )
                .unwrap();
            MioConn {
                stream,
                poll,
                events: mio::Events::with_capacity(4),
            }
        }

        fn write_all(&mut self, mut buf: &[u8]) {
            while !buf.is_empty() {
                match self.stream.write(buf) {
                    Ok(n) => buf = &buf[n..],
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.poll.poll(&mut self.events, None).unwrap()
                    }
                    Err(e) => panic!("mio write: {e}"),
                }
            }
        }

        fn read_exact(&mut self, mut buf: &mut [u8]) {
            while !buf.is_empty() {
                match self.stream.read(buf) {
                    Ok(0) => panic!("mio read: end of stream"),
                    Ok(n) => buf = &mut buf[n..],
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.poll.poll(&mut self.events, None).unwrap()
                    }
                    Err(e) => panic!("mio read: {e}"),
                }
            }
        }
    }

    /// `count` writes of 64 KiB (`ping`: false) or 64-byte round trips
    /// (`ping`: true) from the near end of a TCP pair.
    fn tcp(library: &str, count: u64, ping: bool) -> Option<()> {
        let len = if ping { 64 } else { 64 * 1024 };
        let out = vec![9u8; len];
        let mut back = vec![0u8; len];
        let (client, server) = common::tcp_pair();
        let mut far = FarEnd::new(server, ping);
        match library {
            "witsock" => {
                let s = Socket::from(client);
                measured(count, || {
                    for _ in 0..count {
                        let mut sent = 0;
                        while sent < len {
                            sent += s.send(&out[sent..], SendFlags::EMPTY).unwrap();
                        }
                        far.serve(len, ping);
                        let mut got = 0;
                        while ping && got < len {
                            got += s.recv(&mut back[got..], RecvFlags::EMPTY).unwrap();
                        }
                    }
                });
            }
            "std" => {
                let mut s = client;
                measured(count, || {
                    for _ in 0..count {
                        s.write_all(&out).unwrap();
                        far.serve(len, ping);
                        if ping {
                            s.read_exact(&mut back).unwrap();
                        }
                    }
                });
            }
            "mio" => {
                let mut conn = MioConn::new(client);
                measured(count, || {
                    for _ in 0..count {
                        conn.write_all(&out);
                        far.serve(len, ping);
                        if ping {
                            conn.read_exact(&mut back);
                        }
                    }
                });
            }
            _ => return None,
        }
        far.finish();
        Some(())
    }

    fn vectored(library: &str, count: u64) -> Option<()> {
        const BUFFERS: usize = 1024;
        let storage = vec![[7u8; 64]; BUFFERS];
        let slices: Vec<IoSlice<'_>> = storage.iter().map(|b| IoSlice::new(b)).collect();
        let (client, server) = common::tcp_pair();
        let mut far = FarEnd::new(server, false);
        match library {
            "witsock" => {
                let s = Socket::from(client);
                measured(count, || {
                    for _ in 0..count {
                        assert_eq!(
                            s.send_vectored(&slices, SendFlags::EMPTY).unwrap(),
                            BUFFERS * 64
                        );
                        far.serve(BUFFERS * 64, false);
                    }
                });
            }
            "std" => {
                let mut s = client;
                measured(count, || {
                    for _ in 0..count {
                        assert_eq!(s.write_vectored(&slices).unwrap(), BUFFERS * 64);
                        far.serve(BUFFERS * 64, false);
                    }
                });
            }
            _ => return None,
        }
        far.finish();
        Some(())
    }

    /// `count` datagrams of 64 bytes out and back in, in bursts of 64.
    fn udp(library: &str, count: u64) -> Option<()> {
        const BURST: usize = 64;
        let payload = [1u8; 64];
        let bursts = count.div_ceil(BURST as u64);
        let ops = bursts * BURST as u64;
        match library {
            "witsock" | "witsock-batch" => {
                let tx = Socket::new(Domain::Ipv4, Type::Datagram, None).unwrap();
                let rx = Socket::new(Domain::Ipv4, Type::Datagram, None).unwrap();
                rx.bind(&common::loopback().into()).unwrap();
                let to = rx.local_addr().unwrap();
                let mut storage = vec![[0u8; 2048]; BURST];
                if library == "witsock" {
                    let buf = &mut storage[0];
                    measured(ops, || {
                        for _ in 0..bursts {
                            for _ in 0..BURST {
                                tx.send_to(&payload, &to, SendFlags::EMPTY).unwrap();
                            }
                            for _ in 0..BURST {
                                black_box(rx.recv_from(&mut buf[..], RecvFlags::EMPTY).unwrap());
                            }
                        }
                    });
                } else {
                    let out = [OutgoingDatagram::new(&payload, &to); BURST];
                    let mut slots: Vec<IncomingDatagram<'_>> = storage
                        .iter_mut()
                        .map(|b| IncomingDatagram::new(b))
                        .collect();
                    measured(ops, || {
                        for _ in 0..bursts {
                            let mut sent = 0;
                            while sent < BURST {
                                sent += tx.send_batch(&out[sent..]).unwrap();
                            }
                            let mut received = 0;
                            while received < BURST {
                                received += rx.recv_batch(&mut slots[received..]).unwrap();
                            }
                        }
                    });
                }
            }
            "std" => {
                let tx = UdpSocket::bind(common::loopback()).unwrap();
                let rx = UdpSocket::bind(common::loopback()).unwrap();
                let to = rx.local_addr().unwrap();
                let mut buf = [0u8; 2048];
                measured(ops, || {
                    for _ in 0..bursts {
                        for _ in 0..BURST {
                            tx.send_to(&payload, to).unwrap();
                        }
                        for _ in 0..BURST {
                            black_box(rx.recv_from(&mut buf).unwrap());
                        }
                    }
                });
            }
            "raw-gso-gro" => {
                // What the kernel can do beyond batching: one send(2) that
                // UDP_SEGMENT cuts into the burst, received coalesced by
                // UDP_GRO (a receive mode witsock does not offer).
                let tx = UdpSocket::bind(common::loopback()).unwrap();
                let rx = UdpSocket::bind(common::loopback()).unwrap();
                tx.connect(rx.local_addr().unwrap()).unwrap();
                common::set_int_option(tx.as_raw_fd(), libc::SOL_UDP, libc::UDP_SEGMENT, 64);
                common::set_int_option(rx.as_raw_fd(), libc::SOL_UDP, libc::UDP_GRO, 1);
                let superpacket = [1u8; 64 * BURST];
                let mut big = vec![0u8; 64 * 1024];
                let mut control = [0u64; 8];
                measured(ops, || {
                    for _ in 0..bursts {
                        assert_eq!(tx.send(&superpacket).unwrap(), superpacket.len());
                        let mut datagrams = 0;
                        while datagrams < BURST {
                            let (len, segment) =
                                common::recv_gro(rx.as_raw_fd(), &mut big, &mut control);
                            datagrams += len.div_ceil(segment.max(1));
                        }
                    }
                });
            }
            _ => return None,
        }
        Some(())
    }

    /// Runs `scenario` once for `library`; `None` if either is unknown.
    fn run(scenario: &str, library: &str, count: u64) -> Option<Option<()>> {
        Some(match scenario {
            "would-block-accept" => would_block_accept(library, count),
            "accept" => accept(library, count),
            "tcp-64k" => tcp(library, count, false),
            "tcp-ping" => tcp(library, count, true),
            "vectored-1024" => vectored(library, count),
            "udp-64" => udp(library, count),
            _ => return None,
        })
    }

    fn quantile(sorted: &[f64], q: f64) -> f64 {
        sorted[((sorted.len() - 1) as f64 * q).round() as usize]
    }

    /// Interleaved timing: prints, per library, the median time per
    /// operation and, for each peer, the median and quartiles of the
    /// per-round ratio witsock / peer.
    fn ab(scenario: &str, count: u64, rounds: usize, libraries: &[String]) -> ExitCode {
        TIMING_ONLY.store(true, Ordering::Relaxed);
        let mut times = vec![Vec::with_capacity(rounds); libraries.len()];
        for round in 0..rounds {
            for k in 0..libraries.len() {
                let i = (k + round) % libraries.len();
                match run(scenario, &libraries[i], count) {
                    Some(Some(())) => {}
                    _ => {
                        eprintln!("no library `{}` for {scenario}", libraries[i]);
                        return ExitCode::FAILURE;
                    }
                }
                times[i].push(f64::from_bits(LAST_NS_PER_OP.load(Ordering::Relaxed)));
            }
        }
        let median = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            quantile(&v, 0.5)
        };
        for (library, t) in libraries.iter().zip(&times) {
            println!("time {scenario} {library} {:.1}", median(t));
        }
        let (ours, peers): (Vec<usize>, Vec<usize>) =
            (0..libraries.len()).partition(|&i| libraries[i].starts_with("witsock"));
        for &w in &ours {
            for &p in &peers {
                let mut ratios: Vec<f64> =
                    times[w].iter().zip(&times[p]).map(|(a, b)| a / b).collect();
                ratios.sort_by(f64::total_cmp);
                println!(
                    "ratio {scenario} {} {} {:.3} {:.3} {:.3}",
                    libraries[w],
                    libraries[p],
                    quantile(&ratios, 0.5),
                    quantile(&ratios, 0.25),
                    quantile(&ratios, 0.75)
                );
            }
        }
        ExitCode::SUCCESS
    }

    fn number<T: std::str::FromStr>(text: &str, what: &str) -> Option<T> {
        let n = text.parse().ok();
        if n.is_none() {
            eprintln!("{what} must be a number, not `{text}`");
        }
        n
    }

    pub fn main() -> ExitCode {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if let [mode, scenario, count, rounds, libraries @ ..] = &args[..] {
            if mode == "ab" {
                let (Some(count), Some(rounds)) = (
                    number::<u64>(count, "count"),
                    number::<usize>(rounds, "rounds"),
                ) else {
                    return ExitCode::FAILURE;
                };
                if count == 0 || rounds == 0 || libraries.is_empty() {
                    eprintln!("ab needs a count and rounds of at least 1, and libraries");
                    return ExitCode::FAILURE;
                }
                return ab(scenario, count, rounds, libraries);
            }
        }
        let [scenario, library, count] = &args[..] else {
            eprintln!("usage: syscall-probe <scenario> <library> <count>");
            eprintln!("       syscall-probe ab <scenario> <count> <rounds> <library>...");
            return ExitCode::FAILURE;
        };
        let Some(count) = number::<u64>(count, "count") else {
            return ExitCode::FAILURE;
        };
        if count == 0 {
            eprintln!("count must be at least 1");
            return ExitCode::FAILURE;
        }
        match run(scenario, library, count) {
            Some(Some(())) => ExitCode::SUCCESS,
            Some(None) => {
                eprintln!("no library `{library}` for {scenario}");
                ExitCode::FAILURE
            }
            None => {
                eprintln!("unknown scenario `{scenario}`");
                ExitCode::FAILURE
            }
        }
    }
}
