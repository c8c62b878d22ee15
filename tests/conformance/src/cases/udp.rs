//! UDP: datagrams both ways with the sender's address, truncation, and
//! which peers a connected or unconnected socket hears.

use std::time::Duration;

use witsock::{Domain, ErrorCode, Interest, RecvFlags, SendFlags, Socket, Type};

use crate::support::{connect, expect_error, port_of, recv_datagram, udp_socket};
use crate::{ensure, CaseResult};

fn round_trip(domain: Domain) -> CaseResult {
    let (a, a_addr) = udp_socket(domain)?;
    let (b, b_addr) = udp_socket(domain)?;

    let n = a.send_to(b"from a", &b_addr, SendFlags::EMPTY)?;
    ensure!(n == 6, "send-to sent {n} of 6 bytes");
    let (data, meta) = recv_datagram(&b, 64)?;
    ensure!(data == b"from a", "b received {data:?}");
    ensure!(
        meta.addr == a_addr,
        "b saw the sender as {}, a is at {a_addr}",
        meta.addr
    );
    ensure!(!meta.truncated, "a whole datagram was reported truncated");

    b.send_to(b"reply from b", &meta.addr, SendFlags::EMPTY)?;
    let (data, meta) = recv_datagram(&a, 64)?;
    ensure!(data == b"reply from b", "a received {data:?}");
    ensure!(
        meta.addr == b_addr,
        "a saw the sender as {}, b is at {b_addr}",
        meta.addr
    );
    Ok(())
}

pub(crate) fn udp_v4_send_to_receive_from() -> CaseResult {
    round_trip(Domain::Ipv4)
}

pub(crate) fn udp_v6_send_to_receive_from() -> CaseResult {
    round_trip(Domain::Ipv6)
}

pub(crate) fn udp_truncation_is_reported() -> CaseResult {
    let (a, _) = udp_socket(Domain::Ipv4)?;
    let (b, b_addr) = udp_socket(Domain::Ipv4)?;
    let datagram: Vec<u8> = (0..100u8).collect();
    a.send_to(&datagram, &b_addr, SendFlags::EMPTY)?;
    let (data, meta) = recv_datagram(&b, 10)?;
    ensure!(meta.len == 10, "a 10-byte buffer took {} bytes", meta.len);
    ensure!(
        data.as_slice() == datagram.get(..10).unwrap_or_default(),
        "the cut datagram is {data:?}"
    );
    ensure!(
        meta.truncated,
        "a 100-byte datagram in a 10-byte buffer was not reported truncated"
    );
    // The rest of a cut datagram is gone: the next one arrives whole.
    a.send_to(b"next", &b_addr, SendFlags::EMPTY)?;
    let (data, meta) = recv_datagram(&b, 10)?;
    ensure!(data == b"next", "after truncation received {data:?}");
    ensure!(!meta.truncated, "a 4-byte datagram was reported truncated");
    // Exactly the buffer's size is not truncation.
    a.send_to(b"0123456789", &b_addr, SendFlags::EMPTY)?;
    let (data, meta) = recv_datagram(&b, 10)?;
    ensure!(data == b"0123456789", "received {data:?}");
    ensure!(
        !meta.truncated,
        "a datagram exactly the buffer's size was reported truncated"
    );
    Ok(())
}

pub(crate) fn udp_connected_socket_ignores_other_peers() -> CaseResult {
    let (receiver, receiver_addr) = udp_socket(Domain::Ipv4)?;
    let (peer, peer_addr) = udp_socket(Domain::Ipv4)?;
    let (stranger, _) = udp_socket(Domain::Ipv4)?;
    connect(&receiver, &peer_addr)?;
    let remote = receiver.peer_addr()?;
    ensure!(
        remote == peer_addr,
        "connected to {peer_addr}, remote address is {remote}"
    );

    stranger.send_to(b"stranger", &receiver_addr, SendFlags::EMPTY)?;
    peer.send_to(b"peer", &receiver_addr, SendFlags::EMPTY)?;
    let (data, meta) = recv_datagram(&receiver, 64)?;
    ensure!(
        data == b"peer",
        "the connected socket received {data:?} from {}",
        meta.addr
    );
    ensure!(meta.addr == peer_addr, "sender reported as {}", meta.addr);
    let mut buf = [0u8; 64];
    expect_error(
        receiver.recv(&mut buf, RecvFlags::EMPTY),
        ErrorCode::WouldBlock,
        "receive after the peer's datagram (the stranger's must be dropped)",
    )?;

    // A connected socket sends to its peer without an address.
    receiver.send(b"to peer", SendFlags::EMPTY)?;
    let (data, _) = recv_datagram(&peer, 64)?;
    ensure!(data == b"to peer", "peer received {data:?}");
    Ok(())
}

pub(crate) fn udp_unconnected_socket_hears_every_sender() -> CaseResult {
    let (receiver, receiver_addr) = udp_socket(Domain::Ipv4)?;
    let (first, first_addr) = udp_socket(Domain::Ipv4)?;
    let (second, second_addr) = udp_socket(Domain::Ipv4)?;
    first.send_to(b"first", &receiver_addr, SendFlags::EMPTY)?;
    second.send_to(b"second", &receiver_addr, SendFlags::EMPTY)?;
    let mut heard = Vec::new();
    for _ in 0..2 {
        let (data, meta) = recv_datagram(&receiver, 64)?;
        heard.push((data, meta.addr));
    }
    heard.sort_by(|x, y| x.0.cmp(&y.0));
    let expected = vec![
        (b"first".to_vec(), first_addr),
        (b"second".to_vec(), second_addr),
    ];
    ensure!(heard == expected, "heard {heard:?}, expected {expected:?}");
    Ok(())
}

/// Connects to alternate peers this many times.
const RECONNECT_ROUNDS: usize = 16;

/// A socket connected again to another peer hears only the new peer and
/// sends only to it, round after round, whatever receive and wait it left
/// unanswered before. Its first connect binds it; its local address is the
/// one it sends from and stays the same.
pub(crate) fn udp_reconnect_to_another_peer_delivers_only_from_the_new_peer() -> CaseResult {
    let receiver = Socket::new_nonblocking(Domain::Ipv4, Type::Datagram, None)?;
    let (first, first_addr) = udp_socket(Domain::Ipv4)?;
    let (second, second_addr) = udp_socket(Domain::Ipv4)?;
    let peers = [(&first, &first_addr), (&second, &second_addr)];
    let mut receiver_addr = None;
    let mut buf = [0u8; 64];
    for (round, (&(peer, peer_addr), &(old_peer, _))) in peers
        .iter()
        .cycle()
        .zip(peers.iter().cycle().skip(1))
        .take(RECONNECT_ROUNDS)
        .enumerate()
    {
        connect(&receiver, peer_addr)?;
        let remote = receiver.peer_addr()?;
        ensure!(
            remote == *peer_addr,
            "round {round}: connected to {peer_addr}, remote address is {remote}"
        );
        let local = receiver.local_addr()?;
        let local_ip = local.as_socket().map(|a| a.ip());
        ensure!(
            local_ip.is_some_and(|ip| ip.is_loopback()) && port_of(&local)? != 0,
            "round {round}: connected to loopback, the local address is {local}"
        );
        let receiver_addr = receiver_addr.get_or_insert(local);
        ensure!(
            local == *receiver_addr,
            "round {round}: the local address moved from {receiver_addr} to {local}"
        );

        old_peer.send_to(b"old", receiver_addr, SendFlags::EMPTY)?;
        peer.send_to(b"new", receiver_addr, SendFlags::EMPTY)?;
        let (data, meta) = recv_datagram(&receiver, 64)?;
        ensure!(
            data == b"new" && meta.addr == *peer_addr,
            "round {round}: received {data:?} from {}, expected \"new\" from {peer_addr}",
            meta.addr
        );
        // Leave a receive and a wait for the peer unanswered: the next
        // connect must not depend on them.
        expect_error(
            receiver.recv(&mut buf, RecvFlags::EMPTY),
            ErrorCode::WouldBlock,
            "receive after the new peer's datagram (the old peer's must be dropped)",
        )?;
        let ready = receiver.wait(Interest::READABLE, Some(Duration::ZERO))?;
        ensure!(
            !ready.is_readable(),
            "round {round}: readable with nothing from the peer ({ready:?})"
        );

        receiver.send(b"to new", SendFlags::EMPTY)?;
        let (data, meta) = recv_datagram(peer, 64)?;
        ensure!(
            data == b"to new" && meta.addr == *receiver_addr,
            "round {round}: the peer received {data:?} from {}, expected \"to new\" from {receiver_addr}",
            meta.addr
        );
    }
    Ok(())
}
