//! The hot paths allocate nothing: accept, would-block, send, receive,
//! errors, address conversions and poll, counted by the per-thread counting
//! allocator in `tests/common`.

use std::io;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};

use witsock::{
    poll, Domain, Error, ErrorCode, Interest, PollEntry, RecvFlags, SendFlags, SockAddr, Socket,
    Type,
};

mod common;

use common::count_allocations;

#[global_allocator]
static GLOBAL: common::CountingAllocator = common::CountingAllocator;

fn loopback_v4() -> SockAddr {
    SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 0)))
}

fn listener(backlog: u32) -> Socket {
    let l = Socket::new_nonblocking(Domain::Ipv4, Type::Stream, None).unwrap();
    l.bind(&loopback_v4()).unwrap();
    l.listen(backlog).unwrap();
    l
}

/// A connected TCP pair over loopback, both ends non-blocking.
fn tcp_pair() -> (Socket, Socket) {
    let l = listener(1);
    let client = Socket::new(Domain::Ipv4, Type::Stream, None).unwrap();
    client.connect(&l.local_addr().unwrap()).unwrap();
    client.set_nonblocking(true).unwrap();
    let (server, _) = l.accept().unwrap();
    (client, server)
}

#[test]
fn the_counter_counts() {
    // Guards the other tests: a counter that saw nothing would pass them.
    let (v, n) = count_allocations(|| vec![1u8; 16]);
    assert_eq!(v.len(), 16);
    assert!(n >= 1, "a Vec allocation was not counted");
}

#[test]
fn try_accept_on_an_empty_listener_allocates_nothing() {
    let l = listener(16);
    let (nones, n) = count_allocations(|| {
        let mut nones = 0u32;
        for _ in 0..10_000 {
            if matches!(l.try_accept(), Ok(None)) {
                nones += 1;
            }
        }
        nones
    });
    println!("try_accept x10000 on an empty listener: {n} allocations");
    assert_eq!(
        nones, 10_000,
        "every call must report no pending connection"
    );
    assert_eq!(n, 0, "try_accept with nothing pending allocated {n} times");
}

#[test]
fn accepting_100_connections_allocates_nothing() {
    const CONNECTIONS: usize = 100;
    let l = listener(128);
    let addr = l.local_addr().unwrap();
    let clients: Vec<Socket> = (0..CONNECTIONS)
        .map(|_| {
            let c = Socket::new(Domain::Ipv4, Type::Stream, None).unwrap();
            c.connect(&addr).unwrap();
            c
        })
        .collect();
    let mut accepted: Vec<(Socket, SockAddr)> = Vec::with_capacity(CONNECTIONS);

    let ((), n) = count_allocations(|| {
        while accepted.len() < CONNECTIONS {
            match l.try_accept() {
                Ok(Some(pair)) => accepted.push(pair),
                // Not queued yet: wait for the listener without a timeout.
                Ok(None) => {
                    l.wait(Interest::READABLE, None).unwrap();
                }
                Err(e) => panic!("accept failed: {e}"),
            }
        }
    });
    println!("accepting {CONNECTIONS} connections: {n} allocations");
    assert_eq!(accepted.len(), CONNECTIONS);
    assert_eq!(
        n, 0,
        "accepting {CONNECTIONS} connections allocated {n} times"
    );
    // The peers are the clients.
    for (_, peer) in &accepted {
        assert!(clients.iter().any(|c| c.local_addr().unwrap() == *peer));
    }
}

#[test]
fn send_and_recv_allocate_nothing() {
    let (client, server) = tcp_pair();
    let (unix_a, unix_b) = Socket::pair(Type::Stream, true).unwrap();
    let payload = [0x5au8; 64];
    let mut buf = [0u8; 64];
    let (received, n) = count_allocations(|| {
        let mut received = 0usize;
        for (tx, rx) in [(&client, &server), (&server, &client), (&unix_a, &unix_b)] {
            for _ in 0..1000 {
                assert_eq!(tx.send(&payload, SendFlags::EMPTY).unwrap(), 64);
                let mut got = 0;
                while got < 64 {
                    match rx.recv(&mut buf[got..], RecvFlags::EMPTY) {
                        Ok(k) => got += k,
                        Err(e) if e.is_would_block() => {
                            rx.wait(Interest::READABLE, None).unwrap();
                        }
                        Err(e) => panic!("recv failed: {e}"),
                    }
                }
                received += got;
            }
        }
        received
    });
    println!("3000 sends and receives of 64 bytes: {n} allocations");
    assert_eq!(received, 3 * 1000 * 64);
    assert_eq!(buf, payload);
    assert_eq!(n, 0, "send/recv of 64 bytes allocated {n} times");
}

#[test]
fn errors_allocate_nothing() {
    let (a, b) = Socket::pair(Type::Stream, true).unwrap();
    let mut buf = [0u8; 64];
    let (checked, n) = count_allocations(|| {
        let mut checked = 0u32;
        for _ in 0..1000 {
            // A would-block from the kernel, with its errno.
            let e = a.recv(&mut buf, RecvFlags::EMPTY).unwrap_err();
            assert!(e.is_would_block());
            assert_eq!(e.code(), ErrorCode::WouldBlock);
            assert!(e.raw_os_error().is_some());
            // Converted to io::Error and back.
            let io = io::Error::from(e);
            assert_eq!(io.kind(), io::ErrorKind::WouldBlock);
            let back = Error::from(io);
            assert_eq!(back.code(), ErrorCode::WouldBlock);
            // Built by hand, with an operation and an address.
            let e = Error::new(ErrorCode::TimedOut)
                .during(witsock::Operation::Connect)
                .at(&loopback_v4());
            assert_eq!(io::Error::from(e).kind(), io::ErrorKind::TimedOut);
            checked += 1;
        }
        checked
    });
    drop(b);
    println!("1000 would-block errors created and converted: {n} allocations");
    assert_eq!(checked, 1000);
    assert_eq!(n, 0, "handling errors allocated {n} times");
}

#[test]
fn address_conversions_allocate_nothing() {
    let v4: SocketAddr = SocketAddr::from(([192, 0, 2, 1], 80));
    let v6 = SocketAddr::V6(SocketAddrV6::new(
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
        443,
        7,
        3,
    ));
    let (ok, n) = count_allocations(|| {
        let mut ok = 0u32;
        for _ in 0..1000 {
            for std_addr in [v4, v6] {
                let addr = SockAddr::from(std_addr);
                if SocketAddr::try_from(addr) == Ok(std_addr) && addr.as_socket() == Some(std_addr)
                {
                    ok += 1;
                }
            }
        }
        ok
    });
    println!("2000 SockAddr <-> SocketAddr round trips: {n} allocations");
    assert_eq!(ok, 2000);
    assert_eq!(n, 0, "address conversions allocated {n} times");
}

#[test]
fn poll_on_three_sockets_allocates_nothing() {
    let (a, b) = Socket::pair(Type::Stream, true).unwrap();
    let (c, _d) = tcp_pair();
    b.send(b"x", SendFlags::EMPTY).unwrap();
    let (ready, n) = count_allocations(|| {
        let mut ready = 0usize;
        for _ in 0..1000 {
            let mut entries = [
                PollEntry::new(&a, Interest::READABLE),
                PollEntry::new(&b, Interest::WRITABLE),
                PollEntry::new(&c, Interest::READABLE),
            ];
            ready += poll(&mut entries, None).unwrap();
            assert!(entries[0].readiness().is_readable());
            assert!(entries[1].readiness().is_writable());
            assert!(entries[2].readiness().is_empty());
        }
        ready
    });
    println!("1000 polls on 3 sockets: {n} allocations");
    assert_eq!(ready, 2000, "two of three sockets are ready each time");
    assert_eq!(n, 0, "poll allocated {n} times");
}

/// A UDP socket bound to loopback, non-blocking, and its address.
fn udp_socket() -> (Socket, SockAddr) {
    let s = Socket::new_nonblocking(Domain::Ipv4, Type::Datagram, None).unwrap();
    s.bind(&loopback_v4()).unwrap();
    let addr = s.local_addr().unwrap();
    (s, addr)
}

#[test]
fn dropping_what_others_queued_before_a_connect_allocates_nothing() {
    use std::io::IoSliceMut;
    use witsock::IncomingDatagram;

    // A fresh receiver per round, each connected once the datagrams are
    // queued.
    let receivers: Vec<(Socket, SockAddr)> = (0..6).map(|_| udp_socket()).collect();
    let (peer, peer_addr) = udp_socket();
    let (stranger, _) = udp_socket();
    let mut buf = [0u8; 64];
    let mut storage = [[0u8; 64]; 4];
    let (received, n) = count_allocations(|| {
        let mut received = 0usize;
        // Each receive kind in turn (recv, recv-from, peek, vectored,
        // batch, and recv on a blocking socket), after a connect with
        // strangers' datagrams queued around the peer's.
        for (round, (rx, rx_addr)) in receivers.iter().enumerate() {
            for d in [&b"s1"[..], b"s2"] {
                stranger.send_to(d, rx_addr, SendFlags::EMPTY).unwrap();
            }
            peer.send_to(b"peer", rx_addr, SendFlags::EMPTY).unwrap();
            stranger.send_to(b"s3", rx_addr, SendFlags::EMPTY).unwrap();
            rx.connect(&peer_addr).unwrap();
            let got = match round {
                0 => rx.recv(&mut buf, RecvFlags::EMPTY).unwrap(),
                1 => {
                    let meta = rx.recv_from(&mut buf, RecvFlags::EMPTY).unwrap();
                    assert_eq!(meta.addr, peer_addr);
                    meta.len
                }
                2 => {
                    let n = rx.recv(&mut buf, RecvFlags::PEEK).unwrap();
                    assert_eq!(&buf[..n], b"peer", "peek showed another sender's datagram");
                    rx.recv(&mut buf, RecvFlags::EMPTY).unwrap()
                }
                3 => {
                    let (a, b) = buf.split_at_mut(2);
                    let mut bufs = [IoSliceMut::new(a), IoSliceMut::new(b)];
                    rx.recv_vectored(&mut bufs, RecvFlags::EMPTY).unwrap()
                }
                4 => {
                    let mut slots = storage.each_mut().map(|b| IncomingDatagram::new(b));
                    assert_eq!(rx.recv_batch(&mut slots).unwrap(), 1);
                    assert_eq!(slots[0].addr(), &peer_addr);
                    let n = slots[0].len();
                    buf[..n].copy_from_slice(slots[0].data());
                    n
                }
                _ => {
                    // Blocking: the strangers' datagrams are dropped, the
                    // peer's returned, and the next receive waits (here
                    // for the peer's second datagram).
                    rx.set_nonblocking(false).unwrap();
                    let n = rx.recv(&mut buf, RecvFlags::EMPTY).unwrap();
                    assert_eq!(&buf[..n], b"peer");
                    peer.send_to(b"peer", rx_addr, SendFlags::EMPTY).unwrap();
                    let n = rx.recv(&mut buf, RecvFlags::EMPTY).unwrap();
                    rx.set_nonblocking(true).unwrap();
                    n
                }
            };
            assert_eq!(&buf[..got], b"peer", "round {round}");
            received += 1;
            let e = rx.recv(&mut buf, RecvFlags::EMPTY).unwrap_err();
            assert!(e.is_would_block(), "round {round}: {e}");
        }
        received
    });
    println!("6 receives after connects, dropping 18 datagrams: {n} allocations");
    assert_eq!(received, 6);
    assert_eq!(
        n, 0,
        "dropping datagrams queued before a connect allocated {n} times"
    );
}
