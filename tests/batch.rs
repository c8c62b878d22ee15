//! `send_batch` / `recv_batch` on UDP over IPv4 loopback.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use witsock::{
    capabilities, Domain, ErrorCode, IncomingDatagram, Interest, Operation, OutgoingDatagram,
    RecvFlags, SendFlags, SockAddr, Socket, Support, Type, MAX_BATCH,
};

mod common;

use common::count_allocations;

#[global_allocator]
static GLOBAL: common::CountingAllocator = common::CountingAllocator;

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

    // A real destination (port 0 would be refused before any syscall).
    let to = SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 9)));
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
fn a_broadcast_without_the_option_is_access_denied_as_send_to_says() {
    // The sender is bound to loopback and the contract refuses before the
    // kernel: nothing leaves the host.
    let (sender, _) = udp(false);
    let broadcast: SockAddr = "255.255.255.255:9".parse::<SocketAddr>().unwrap().into();
    let e = sender
        .send_batch(&[OutgoingDatagram::new(b"x", &broadcast)])
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::AccessDenied);
    assert_eq!(e.ip_address(), broadcast.as_socket());
    let e = sender
        .send_to(b"x", &broadcast, witsock::SendFlags::EMPTY)
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::AccessDenied);
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

/// Receives `count` datagrams from `receiver` (non-blocking), each into a
/// buffer of 64 KiB, and returns their payloads in order.
fn receive(receiver: &Socket, count: usize) -> Vec<Vec<u8>> {
    let mut storage = vec![0u8; 65536 * 4];
    let mut slots: Vec<IncomingDatagram<'_>> = storage
        .chunks_mut(65536)
        .map(IncomingDatagram::new)
        .collect();
    let mut received = Vec::new();
    while received.len() < count {
        wait_readable(receiver);
        let n = receiver.recv_batch(&mut slots).unwrap();
        for slot in &slots[..n] {
            assert!(!slot.is_truncated());
            received.push(slot.data().to_vec());
        }
    }
    // Nothing more than the datagrams sent: no run arrived coalesced.
    let e = receiver.recv_batch(&mut slots).unwrap_err();
    assert_eq!(e.code(), ErrorCode::WouldBlock);
    received
}

/// Payloads of the given lengths, each filled with bytes that name it, so
/// that a merge, a split or a mix-up shows.
fn payloads(lengths: &[usize]) -> Vec<Vec<u8>> {
    lengths
        .iter()
        .enumerate()
        .map(|(i, &len)| (0..len).map(|k| (i * 7 + k / 256) as u8).collect())
        .collect()
}

/// Sends `payloads` to `to` in one `send_batch` and checks that they
/// arrive one by one, unchanged.
fn round_trip(lengths: &[usize]) {
    let (receiver, to) = udp(true);
    let (sender, _) = udp(false);
    let payloads = payloads(lengths);
    let out: Vec<OutgoingDatagram<'_>> = payloads
        .iter()
        .map(|p| OutgoingDatagram::new(p, &to))
        .collect();
    assert_eq!(sender.send_batch(&out).unwrap(), payloads.len());
    assert_eq!(receive(&receiver, payloads.len()), payloads);
}

#[test]
fn a_run_of_equal_datagrams_arrives_as_separate_datagrams() {
    round_trip(&[100; 10]);
}

#[test]
fn a_shorter_last_datagram_ends_a_run() {
    // The short one closes the first run; the next 100 starts another.
    round_trip(&[100, 100, 100, 37, 100, 100]);
}

#[test]
fn a_different_size_breaks_a_run() {
    round_trip(&[100, 100, 200, 200, 200, 100, 1, 1, 300]);
}

#[test]
fn empty_datagrams_are_not_coalesced() {
    round_trip(&[10, 10, 0, 10, 0, 0, 10, 10]);
}

#[test]
fn more_than_sixty_four_equal_datagrams_arrive_separately() {
    round_trip(&[48; 100]);
}

#[test]
fn a_run_stops_at_the_payload_limit() {
    // 3 × 30 000 bytes exceed one UDP_SEGMENT send's 65 507: the third
    // starts a new message.
    round_trip(&[30_000, 30_000, 30_000, 30_000]);
}

#[test]
fn datagrams_too_large_to_coalesce_go_out_alone() {
    // Two of these never fit one UDP_SEGMENT send; the largest is the
    // most a UDP datagram over IPv4 carries. (Few at a time: the default
    // receive buffer holds about 200 KB.)
    round_trip(&[40_000, 40_000, 5]);
    round_trip(&[65_507, 65_507]);
}

#[test]
fn a_different_destination_breaks_a_run() {
    let (a, to_a) = udp(true);
    let (b, to_b) = udp(true);
    let (sender, _) = udp(false);
    let payloads = payloads(&[64; 7]);
    let targets = [&to_a, &to_a, &to_b, &to_a, &to_a, &to_b, &to_b];
    let out: Vec<OutgoingDatagram<'_>> = payloads
        .iter()
        .zip(targets)
        .map(|(p, to)| OutgoingDatagram::new(p, to))
        .collect();
    assert_eq!(sender.send_batch(&out).unwrap(), 7);
    let pick = |indices: &[usize]| -> Vec<Vec<u8>> {
        indices.iter().map(|&i| payloads[i].clone()).collect()
    };
    assert_eq!(receive(&a, 4), pick(&[0, 1, 3, 4]));
    assert_eq!(receive(&b, 3), pick(&[2, 5, 6]));
}

#[test]
fn a_connected_run_arrives_as_separate_datagrams() {
    let (receiver, to) = udp(true);
    let (sender, from) = udp(false);
    sender.connect(&to).unwrap();
    let payloads = payloads(&[80, 80, 80, 80, 20]);
    let out: Vec<OutgoingDatagram<'_>> = payloads
        .iter()
        .map(|p| OutgoingDatagram::connected(p))
        .collect();
    assert_eq!(sender.send_batch(&out).unwrap(), 5);
    assert_eq!(receive(&receiver, 5), payloads);
    let mut buf = [0u8; 1];
    sender.send_to(b"x", &to, SendFlags::EMPTY).unwrap();
    wait_readable(&receiver);
    assert_eq!(
        receiver.recv_from(&mut buf, RecvFlags::EMPTY).unwrap().addr,
        from
    );
}

#[test]
fn unix_datagram_runs_are_not_coalesced() {
    // Only UDP segments; a Unix socket would take a run for one datagram.
    let (sender, receiver) = Socket::pair(Type::Datagram, false).unwrap();
    receiver.set_nonblocking(true).unwrap();
    let payloads = payloads(&[32; 5]);
    let out: Vec<OutgoingDatagram<'_>> = payloads
        .iter()
        .map(|p| OutgoingDatagram::connected(p))
        .collect();
    assert_eq!(sender.send_batch(&out).unwrap(), 5);
    assert_eq!(receive(&receiver, 5), payloads);
}

#[cfg(target_os = "linux")]
#[test]
fn a_refused_segmentation_falls_back_to_plain_datagrams() {
    use std::os::fd::AsRawFd;

    // With UDP checksums off (SO_NO_CHECK), the kernel refuses every
    // UDP_SEGMENT send with EINVAL but takes plain datagrams. The segment
    // size is above what any other test coalesces, so the limit learnt
    // process-wide (this size and larger) leaves them alone.
    let (receiver, to) = udp(true);
    let (sender, _) = udp(false);
    let on: libc::c_int = 1;
    // SAFETY: a live c_int of the size given, on a socket this test owns.
    let r = unsafe {
        libc::setsockopt(
            sender.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_NO_CHECK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0);
    let payloads = payloads(&[30_001, 30_001, 5]);
    let out: Vec<OutgoingDatagram<'_>> = payloads
        .iter()
        .map(|p| OutgoingDatagram::new(p, &to))
        .collect();
    assert_eq!(sender.send_batch(&out).unwrap(), 3);
    assert_eq!(receive(&receiver, 3), payloads);
}
