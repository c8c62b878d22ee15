//! UDP: datagrams both ways with the sender's address, truncation, and
//! which peers a connected or unconnected socket hears, also of what was
//! queued before its connect.

use std::time::Duration;

use witsock::{
    Domain, ErrorCode, IncomingDatagram, Interest, RecvFlags, SendFlags, SockAddr, Socket, Type,
};

use crate::support::{connect, expect_error, port_of, prefix, recv_datagram, udp_socket, wait_for};
use crate::{ensure, CaseError, CaseResult};

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

/// The receive calls a connected UDP socket must filter alike.
#[derive(Clone, Copy, Debug)]
enum Via {
    /// `receive`: no sender reported.
    Receive,
    /// `receive-from`.
    ReceiveFrom,
    /// `receive` with `peek`, then `receive-from` of the same datagram.
    Peek,
    /// `receive-batch`, four slots.
    ReceiveBatch,
}

/// A datagram and its sender, where the call reports one.
type Datagram = (Vec<u8>, Option<SockAddr>);

/// What one non-blocking call of `how` returns: empty on would-block.
fn receive_some(socket: &Socket, how: Via) -> Result<Vec<Datagram>, CaseError> {
    let mut buf = [0u8; 64];
    let would_block = |e: &witsock::Error| e.is_would_block();
    match how {
        Via::Receive => match socket.recv(&mut buf, RecvFlags::EMPTY) {
            Ok(n) => Ok(vec![(prefix(&buf, n)?.to_vec(), None)]),
            Err(e) if would_block(&e) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        },
        Via::ReceiveFrom => match socket.recv_from(&mut buf, RecvFlags::EMPTY) {
            Ok(meta) => Ok(vec![(prefix(&buf, meta.len)?.to_vec(), Some(meta.addr))]),
            Err(e) if would_block(&e) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        },
        Via::Peek => {
            let n = match socket.recv(&mut buf, RecvFlags::PEEK) {
                Ok(n) => n,
                Err(e) if would_block(&e) => return Ok(Vec::new()),
                Err(e) => return Err(e.into()),
            };
            let peeked = prefix(&buf, n)?.to_vec();
            let mut again = [0u8; 64];
            let meta = socket.recv_from(&mut again, RecvFlags::EMPTY)?;
            let taken = prefix(&again, meta.len)?;
            ensure!(
                taken == peeked.as_slice(),
                "peeked {peeked:?}, then received {taken:?} from {}",
                meta.addr
            );
            Ok(vec![(peeked, Some(meta.addr))])
        }
        Via::ReceiveBatch => {
            let mut storage = [[0u8; 64]; 4];
            let mut slots = storage.each_mut().map(|b| IncomingDatagram::new(b));
            match socket.recv_batch(&mut slots) {
                Ok(n) => Ok(slots
                    .iter()
                    .take(n)
                    .map(|s| (s.data().to_vec(), Some(*s.addr())))
                    .collect()),
                Err(e) if would_block(&e) => Ok(Vec::new()),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// Receives with `how` until the socket would block, waiting (up to
/// [`WAIT`](crate::support::WAIT) each time) while fewer than `expected`
/// have come, and checks that exactly `expected` came, in order, all from
/// `from`.
fn expect_only(
    socket: &Socket,
    how: Via,
    expected: &[&[u8]],
    from: &SockAddr,
    what: &str,
) -> CaseResult {
    let mut got: Vec<Datagram> = Vec::new();
    for _ in 0..16 {
        let some = receive_some(socket, how)?;
        if !some.is_empty() {
            got.extend(some);
            continue;
        }
        if got.len() >= expected.len() {
            let text = |d: &[u8]| String::from_utf8_lossy(d).into_owned();
            let data: Vec<String> = got.iter().map(|(d, _)| text(d)).collect();
            let expected: Vec<String> = expected.iter().map(|d| text(d)).collect();
            ensure!(
                data == expected,
                "{what} ({how:?}): received {data:?}, expected {expected:?}"
            );
            for (data, sender) in &got {
                if let Some(sender) = sender {
                    ensure!(
                        sender == from,
                        "{what} ({how:?}): {:?} came from {sender}, expected {from}",
                        text(data)
                    );
                }
            }
            return Ok(());
        }
        // Readiness may be spurious here (a datagram then dropped): the
        // next round finds out.
        wait_for(socket, Interest::READABLE, &format!("{what} ({how:?})"))?;
    }
    Err(CaseError::Fail(format!(
        "{what} ({how:?}): still receiving after {} datagrams",
        got.len()
    )))
}

/// Datagrams another sender queued before the connect are not received
/// after it; the peer's, queued before or after, are.
fn connect_drops_what_others_queued(how: Via) -> CaseResult {
    let (receiver, receiver_addr) = udp_socket(Domain::Ipv4)?;
    let (peer, peer_addr) = udp_socket(Domain::Ipv4)?;
    let (stranger, _) = udp_socket(Domain::Ipv4)?;
    // The stranger's first datagram is queued for sure (the socket is
    // readable with nothing else sent), ahead of the peer's.
    stranger.send_to(b"stranger 1", &receiver_addr, SendFlags::EMPTY)?;
    wait_for(&receiver, Interest::READABLE, "the stranger's datagram")?;
    peer.send_to(b"peer 1", &receiver_addr, SendFlags::EMPTY)?;
    stranger.send_to(b"stranger 2", &receiver_addr, SendFlags::EMPTY)?;
    connect(&receiver, &peer_addr)?;
    expect_only(
        &receiver,
        how,
        &[b"peer 1"],
        &peer_addr,
        "after the connect",
    )?;
    peer.send_to(b"peer 2", &receiver_addr, SendFlags::EMPTY)?;
    stranger.send_to(b"stranger 3", &receiver_addr, SendFlags::EMPTY)?;
    expect_only(
        &receiver,
        how,
        &[b"peer 2"],
        &peer_addr,
        "after the queue was drained",
    )
}

pub(crate) fn udp_connect_drops_what_others_queued_for_receive() -> CaseResult {
    connect_drops_what_others_queued(Via::Receive)
}

pub(crate) fn udp_connect_drops_what_others_queued_for_receive_from() -> CaseResult {
    connect_drops_what_others_queued(Via::ReceiveFrom)
}

pub(crate) fn udp_connect_drops_what_others_queued_for_peek() -> CaseResult {
    connect_drops_what_others_queued(Via::Peek)
}

pub(crate) fn udp_connect_drops_what_others_queued_for_receive_batch() -> CaseResult {
    connect_drops_what_others_queued(Via::ReceiveBatch)
}

/// After a connect to another peer, what the old peer queued while it
/// was the peer is not received.
pub(crate) fn udp_reconnect_drops_what_the_old_peer_queued() -> CaseResult {
    for how in [Via::Receive, Via::ReceiveFrom, Via::ReceiveBatch] {
        let (receiver, receiver_addr) = udp_socket(Domain::Ipv4)?;
        let (old, old_addr) = udp_socket(Domain::Ipv4)?;
        let (new, new_addr) = udp_socket(Domain::Ipv4)?;
        connect(&receiver, &old_addr)?;
        old.send_to(b"old 1", &receiver_addr, SendFlags::EMPTY)?;
        wait_for(&receiver, Interest::READABLE, "the old peer's datagram")?;
        connect(&receiver, &new_addr)?;
        old.send_to(b"old 2", &receiver_addr, SendFlags::EMPTY)?;
        new.send_to(b"new 1", &receiver_addr, SendFlags::EMPTY)?;
        expect_only(
            &receiver,
            how,
            &[b"new 1"],
            &new_addr,
            "after the reconnect",
        )?;
    }
    Ok(())
}
