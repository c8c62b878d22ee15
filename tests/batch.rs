//! `send_batch` / `recv_batch` on UDP over IPv4 loopback.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use witsock::{
    capabilities, Domain, ErrorCode, IncomingDatagram, Interest, Operation, OutgoingDatagram,
    RecvFlags, SendFlags, SockAddr, Socket, Support, Type, MAX_BATCH,
};

/// Counts allocations per thread, so that tests running in parallel do not
/// disturb each other.
struct CountingAllocator;

thread_local! {
    // Const-initialised and without a destructor: reading it never
    // allocates.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: the allocator also runs while thread locals are torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is forwarded unchanged to `System`.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller's guarantees for `layout` are passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: `ptr` came from `System` with `layout`, as the caller
        // guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// `f`'s result and the allocations it made on this thread.
fn count_allocations<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = ALLOCATIONS.with(Cell::get);
    let result = f();
    (result, ALLOCATIONS.with(Cell::get) - before)
}

fn loopback_any() -> SockAddr {
    "127.0.0.1:0".parse::<SocketAddr>().unwrap().into()
}

/// A bound UDP socket on 127.0.0.1, non-blocking when asked.
fn udp(nonblocking: bool) -> (Socket, SockAddr) {
    let s = if nonblocking {
        Socket::new_nonblocking(Domain::Ipv4, Type::Datagram, None)
    } else {
        Socket::new(Domain::Ipv4, Type::Datagram, None)
    }
    .unwrap();
    s.bind(&loopback_any()).unwrap();
    let addr = s.local_addr().unwrap();
    (s, addr)
}

/// The payload of datagram `i`: its own length and bytes, so a mix-up
/// shows.
fn payload(i: usize) -> Vec<u8> {
    (0..(i % 7) + 1).map(|k| (i * 31 + k) as u8).collect()
}

/// Waits (bounded) until `s` is readable, so that a batch receive that
/// follows finds the datagrams queued.
fn wait_readable(s: &Socket) {
    let r = s
        .wait(Interest::READABLE, Some(Duration::from_secs(5)))
        .unwrap();
    assert!(r.is_readable(), "no datagram arrived");
}

#[test]
fn sixty_four_datagrams_out_and_in() {
    let (receiver, to) = udp(true);
    let (sender, from) = udp(false);
    let payloads: Vec<Vec<u8>> = (0..64).map(payload).collect();
    let out: Vec<OutgoingDatagram<'_>> = payloads
        .iter()
        .map(|p| OutgoingDatagram::new(p, &to))
        .collect();
    assert_eq!(sender.send_batch(&out).unwrap(), 64);

    let mut storage = vec![[0u8; 16]; 64];
    let mut slots: Vec<IncomingDatagram<'_>> = storage
        .iter_mut()
        .map(|b| IncomingDatagram::new(b))
        .collect();
    let mut got = 0;
    let mut received: Vec<Vec<u8>> = Vec::new();
    while got < 64 {
        wait_readable(&receiver);
        let n = receiver.recv_batch(&mut slots[got..]).unwrap();
        assert!(n >= 1);
        for slot in &slots[got..got + n] {
            assert_eq!(slot.addr(), &from);
            assert!(!slot.is_truncated());
            received.push(slot.data().to_vec());
        }
        got += n;
    }
    assert_eq!(received, payloads);
}

#[test]
fn more_than_one_chunk_is_sent_in_order() {
    let (receiver, to) = udp(true);
    let (sender, _) = udp(false);
    let count = MAX_BATCH * 2 + 5;
    let payloads: Vec<Vec<u8>> = (0..count)
        .map(|i| (i as u32).to_be_bytes().to_vec())
        .collect();
    let out: Vec<OutgoingDatagram<'_>> = payloads
        .iter()
        .map(|p| OutgoingDatagram::new(p, &to))
        .collect();
    assert_eq!(sender.send_batch(&out).unwrap(), count);

    let mut storage = vec![[0u8; 8]; MAX_BATCH * 2];
    let mut slots: Vec<IncomingDatagram<'_>> = storage
        .iter_mut()
        .map(|b| IncomingDatagram::new(b))
        .collect();
    let mut received = Vec::new();
    while received.len() < count {
        wait_readable(&receiver);
        let n = receiver.recv_batch(&mut slots).unwrap();
        // Never more than one recvmmsg's worth, whatever the slots.
        assert!((1..=MAX_BATCH).contains(&n), "received {n}");
        received.extend(slots[..n].iter().map(|s| s.data().to_vec()));
    }
    assert_eq!(received, payloads);
}

#[test]
fn truncation_is_reported_per_datagram() {
    let (receiver, to) = udp(false);
    let (sender, from) = udp(false);
    let long = [7u8; 100];
    let short = [9u8; 4];
    let out = [
        OutgoingDatagram::new(&long, &to),
        OutgoingDatagram::new(&short, &to),
    ];
    assert_eq!(sender.send_batch(&out).unwrap(), 2);

    let mut a = [0u8; 10];
    let mut b = [0u8; 10];
    let mut slots = [IncomingDatagram::new(&mut a), IncomingDatagram::new(&mut b)];
    let mut got = 0;
    while got < 2 {
        got += receiver.recv_batch(&mut slots[got..]).unwrap();
    }
    assert!(slots[0].is_truncated());
    assert_eq!(slots[0].data(), &[7u8; 10]);
    assert_eq!(slots[0].meta().len, 10);
    assert!(!slots[1].is_truncated());
    assert_eq!(slots[1].data(), &short);
    assert_eq!(slots[1].addr(), &from);
}

#[test]
fn empty_socket_would_block() {
    let (receiver, _) = udp(true);
    let mut buf = [0u8; 32];
    let mut slots = [IncomingDatagram::new(&mut buf)];
    let e = receiver.recv_batch(&mut slots).unwrap_err();
    assert_eq!(e.code(), ErrorCode::WouldBlock);
    assert_eq!(e.operation(), Some(Operation::Receive));
    // The slot was left alone.
    assert!(slots[0].is_empty());
    assert_eq!(slots[0].addr().domain(), None);
}

#[test]
fn read_deadline_times_out_on_an_empty_socket() {
    let (receiver, _) = udp(true);
    receiver.set_read_deadline(Some(Instant::now() + Duration::from_millis(20)));
    let mut buf = [0u8; 32];
    let mut slots = [IncomingDatagram::new(&mut buf)];
    let e = receiver.recv_batch(&mut slots).unwrap_err();
    assert_eq!(e.code(), ErrorCode::TimedOut);
    assert_eq!(e.operation(), Some(Operation::Receive));
}

#[test]
fn read_deadline_waits_for_a_datagram() {
    let (receiver, to) = udp(true);
    let (sender, from) = udp(false);
    receiver.set_read_deadline(Some(Instant::now() + Duration::from_secs(10)));
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        sender.send_to(b"late", &to, SendFlags::EMPTY).unwrap();
    });
    let mut buf = [0u8; 32];
    let mut slots = [IncomingDatagram::new(&mut buf)];
    assert_eq!(receiver.recv_batch(&mut slots).unwrap(), 1);
    assert_eq!(slots[0].data(), b"late");
    assert_eq!(slots[0].addr(), &from);
    t.join().unwrap();
}

#[test]
fn empty_batches_make_no_syscall() {
    // Any syscall on a descriptor that is not a socket fails with
    // not-a-socket, so Ok(0) shows that none was made.
    let not_a_socket = std::fs::File::open("/dev/null").unwrap();
    let s = Socket::from(std::os::fd::OwnedFd::from(not_a_socket));
    assert_eq!(s.send_batch(&[]).unwrap(), 0);
    assert_eq!(s.recv_batch(&mut []).unwrap(), 0);

    let to = loopback_any();
    let e = s
        .send_batch(&[OutgoingDatagram::new(b"x", &to)])
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotASocket);
    let mut buf = [0u8; 4];
    let e = s
        .recv_batch(&mut [IncomingDatagram::new(&mut buf)])
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotASocket);
}

#[test]
fn connected_socket_sends_without_addresses() {
    let (receiver, to) = udp(false);
    let (sender, from) = udp(false);
    sender.connect(&to).unwrap();
    let out = [
        OutgoingDatagram::connected(b"a"),
        OutgoingDatagram::connected(b"bb"),
    ];
    assert_eq!(sender.send_batch(&out).unwrap(), 2);
    let mut buf = [0u8; 8];
    for want in [&b"a"[..], b"bb"] {
        let meta = receiver.recv_from(&mut buf, RecvFlags::EMPTY).unwrap();
        assert_eq!(&buf[..meta.len], want);
        assert_eq!(meta.addr, from);
    }
}

#[test]
fn unconnected_socket_without_address_is_not_connected() {
    let (sender, _) = udp(true);
    let e = sender
        .send_batch(&[OutgoingDatagram::connected(b"x")])
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotConnected);
    assert_eq!(e.operation(), Some(Operation::Send));
}

#[test]
fn a_bad_datagram_stops_the_batch_and_is_reported_next() {
    let (receiver, to) = udp(false);
    let (sender, _) = udp(false);
    let v6: SockAddr = "[::1]:9".parse::<SocketAddr>().unwrap().into();
    let out = [
        OutgoingDatagram::new(b"first", &to),
        OutgoingDatagram::new(b"wrong family", &v6),
        OutgoingDatagram::new(b"third", &to),
    ];
    let sent = sender.send_batch(&out).unwrap();
    assert_eq!(sent, 1);
    let e = sender.send_batch(&out[sent..]).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    assert_eq!(e.ip_address(), v6.as_socket());
    assert_eq!(sender.send_batch(&out[sent + 1..]).unwrap(), 1);

    let mut buf = [0u8; 16];
    for want in [&b"first"[..], b"third"] {
        let meta = receiver.recv_from(&mut buf, RecvFlags::EMPTY).unwrap();
        assert_eq!(&buf[..meta.len], want);
    }
}

#[test]
fn slots_are_reused_across_calls() {
    let (receiver, to) = udp(false);
    let (sender, from) = udp(false);
    let mut storage = [[0u8; 8]; 4];
    let mut slots = storage.each_mut().map(|b| IncomingDatagram::new(b));
    for round in 0u8..3 {
        let data = [round; 3];
        sender
            .send_batch(&[OutgoingDatagram::new(&data, &to)])
            .unwrap();
        assert_eq!(receiver.recv_batch(&mut slots).unwrap(), 1);
        assert_eq!(slots[0].data(), &data);
        assert_eq!(slots[0].addr(), &from);
    }
}

#[test]
fn batches_do_not_allocate() {
    // The counter sees allocations on this thread.
    let (v, allocations) = count_allocations(|| std::hint::black_box(Vec::<u8>::with_capacity(16)));
    assert_eq!(allocations, 1);
    drop(v);

    let (receiver, to) = udp(true);
    let (sender, _) = udp(false);
    let payload = [5u8; 64];
    let out = [OutgoingDatagram::new(&payload, &to); 64];
    let mut storage = vec![[0u8; 128]; 64];
    let mut slots: Vec<IncomingDatagram<'_>> = storage
        .iter_mut()
        .map(|b| IncomingDatagram::new(b))
        .collect();

    let (sent, allocations) = count_allocations(|| sender.send_batch(&out));
    assert_eq!(sent.unwrap(), 64);
    assert_eq!(allocations, 0, "send_batch allocated");

    let mut received = 0;
    while received < 64 {
        wait_readable(&receiver);
        let (n, allocations) = count_allocations(|| receiver.recv_batch(&mut slots[received..]));
        received += n.unwrap();
        assert_eq!(allocations, 0, "recv_batch allocated");
    }
    assert!(slots.iter().all(|s| s.data() == payload));

    let (r, allocations) = count_allocations(|| receiver.recv_batch(&mut slots));
    assert_eq!(r.unwrap_err().code(), ErrorCode::WouldBlock);
    assert_eq!(allocations, 0, "a would-block recv_batch allocated");
}

#[test]
fn capability_matches_the_platform() {
    let expected = if cfg!(target_os = "linux") {
        Support::Native
    } else {
        Support::Emulated
    };
    assert_eq!(capabilities().batched_datagrams, expected);
}
