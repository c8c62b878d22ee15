//! UDP: datagrams both ways with the sender's address, truncation, and
//! which peers a connected or unconnected socket hears, also of what was
//! queued before its connect, and what a disconnect undoes.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use witsock::{
    Domain, ErrorCode, IncomingDatagram, Interest, RecvFlags, SendFlags, SockAddr, Socket, Type,
};

use crate::support::{connect, expect_error, port_of, prefix, recv_datagram, udp_socket, wait_for};
use crate::{ensure, Backend, CaseError, CaseResult};

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

/// Checks a disconnected socket's local address against `bound`, what it
/// was bound to before it connected (the unspecified address for a socket
/// its connect bound): the same port, and the same IP but on macOS, whose
/// kernel resets the IP to the unspecified address (documented under
/// "States" in `wit/sockets.wit`).
fn expect_local_after_disconnect(socket: &Socket, bound: &SockAddr, what: &str) -> CaseResult {
    let local = socket.local_addr()?;
    let (Some(local_ip), Some(bound_ip)) = (local.as_socket(), bound.as_socket()) else {
        return Err(CaseError::Fail(format!(
            "{what}: the local address is {local}, bound to {bound}"
        )));
    };
    ensure!(
        local_ip.port() == bound_ip.port(),
        "{what}: the local port moved from {} to {} (local address {local})",
        bound_ip.port(),
        local_ip.port()
    );
    let reset_on_macos =
        Backend::current() == Backend::NativeMacos && local_ip.ip().is_unspecified();
    ensure!(
        local_ip.ip() == bound_ip.ip() || reset_on_macos,
        "{what}: the local address is {local}, bound to {bound}"
    );
    Ok(())
}

/// A UDP socket connected to a peer, then disconnected, hears every sender
/// again; what a stranger sent while it was connected stays dropped.
fn disconnect_hears_every_sender(domain: Domain) -> CaseResult {
    let (receiver, receiver_addr) = udp_socket(domain)?;
    let (peer, peer_addr) = udp_socket(domain)?;
    let (stranger, stranger_addr) = udp_socket(domain)?;
    connect(&receiver, &peer_addr)?;
    stranger.send_to(b"while connected", &receiver_addr, SendFlags::EMPTY)?;
    peer.send_to(b"peer", &receiver_addr, SendFlags::EMPTY)?;
    let (data, meta) = recv_datagram(&receiver, 64)?;
    ensure!(
        data == b"peer" && meta.addr == peer_addr,
        "connected: received {data:?} from {}, expected \"peer\" from {peer_addr}",
        meta.addr
    );
    let mut buf = [0u8; 64];
    expect_error(
        receiver.recv(&mut buf, RecvFlags::EMPTY),
        ErrorCode::WouldBlock,
        "receive while connected, after the peer's datagram (the stranger's must be dropped)",
    )?;

    receiver.disconnect()?;
    expect_local_after_disconnect(&receiver, &receiver_addr, "after the disconnect")?;
    stranger.send_to(b"after", &receiver_addr, SendFlags::EMPTY)?;
    let (data, meta) = recv_datagram(&receiver, 64)?;
    ensure!(
        data == b"after" && meta.addr == stranger_addr,
        "disconnected: received {data:?} from {}, expected \"after\" from {stranger_addr}",
        meta.addr
    );
    peer.send_to(b"old peer", &receiver_addr, SendFlags::EMPTY)?;
    let (data, meta) = recv_datagram(&receiver, 64)?;
    ensure!(
        data == b"old peer" && meta.addr == peer_addr,
        "disconnected: received {data:?} from {}, expected \"old peer\" from {peer_addr}",
        meta.addr
    );
    expect_error(
        receiver.recv(&mut buf, RecvFlags::EMPTY),
        ErrorCode::WouldBlock,
        "receive after the disconnect, once both datagrams were in (the one sent while \
         connected stays dropped)",
    )
}

pub(crate) fn udp_disconnect_hears_every_sender_again() -> CaseResult {
    disconnect_hears_every_sender(Domain::Ipv4)?;
    disconnect_hears_every_sender(Domain::Ipv6)
}

/// A disconnected socket sends as one that never connected: `send` is
/// `not-connected`, `send-to` reaches any peer (the old one too), and it
/// has no remote address.
pub(crate) fn udp_disconnect_sends_only_with_a_destination() -> CaseResult {
    for domain in [Domain::Ipv4, Domain::Ipv6] {
        let (socket, socket_addr) = udp_socket(domain)?;
        let (peer, peer_addr) = udp_socket(domain)?;
        let (stranger, _) = udp_socket(domain)?;
        connect(&socket, &peer_addr)?;
        socket.disconnect()?;
        expect_error(
            socket.send(b"to nobody", SendFlags::EMPTY),
            ErrorCode::NotConnected,
            "send without a destination after a disconnect",
        )?;
        expect_error(
            socket.peer_addr(),
            ErrorCode::NotConnected,
            "remote address after a disconnect",
        )?;
        expect_error(
            socket.finish_connect(),
            ErrorCode::InvalidState,
            "finish-connect after a disconnect",
        )?;
        for (to, to_addr, what) in [
            (&stranger, stranger.local_addr()?, "another peer"),
            (&peer, peer_addr, "the old peer"),
        ] {
            let n = socket.send_to(b"anyone", &to_addr, SendFlags::EMPTY)?;
            ensure!(n == 6, "send-to {what} sent {n} of 6 bytes");
            let (data, meta) = recv_datagram(to, 64)?;
            ensure!(
                data == b"anyone"
                    && meta.addr.as_socket().map(|a| a.port()) == Some(port_of(&socket_addr)?),
                "{what} received {data:?} from {}, expected \"anyone\" from port {}",
                meta.addr,
                port_of(&socket_addr)?
            );
        }
    }
    Ok(())
}

/// On a datagram socket with no peer a disconnect does nothing, and
/// succeeds: unbound stays unbound, bound keeps its address, and a
/// second disconnect after the first is no error.
pub(crate) fn udp_disconnect_without_a_peer_changes_nothing() -> CaseResult {
    let fresh = Socket::new_nonblocking(Domain::Ipv4, Type::Datagram, None)?;
    fresh.disconnect()?;
    expect_error(
        fresh.local_addr(),
        ErrorCode::InvalidState,
        "the local address of an unbound socket after a disconnect",
    )?;
    expect_error(
        fresh.peer_addr(),
        ErrorCode::NotConnected,
        "the remote address of an unbound socket after a disconnect",
    )?;
    // An ephemeral port a disconnect would release natively on Linux.
    let (bound, bound_addr) = udp_socket(Domain::Ipv4)?;
    bound.disconnect()?;
    let local = bound.local_addr()?;
    ensure!(
        local == bound_addr,
        "a socket with no peer was bound to {bound_addr}, after a disconnect to {local}"
    );
    let (sender, _) = udp_socket(Domain::Ipv4)?;
    sender.send_to(b"still here", &bound_addr, SendFlags::EMPTY)?;
    let (data, _) = recv_datagram(&bound, 64)?;
    ensure!(data == b"still here", "received {data:?}");

    let (socket, socket_addr) = udp_socket(Domain::Ipv6)?;
    let (_peer, peer_addr) = udp_socket(Domain::Ipv6)?;
    connect(&socket, &peer_addr)?;
    socket.disconnect()?;
    socket.disconnect()?;
    expect_local_after_disconnect(&socket, &socket_addr, "after two disconnects")?;
    expect_error(
        socket.peer_addr(),
        ErrorCode::NotConnected,
        "remote address after two disconnects",
    )
}

/// Connect, disconnect, connect to the other peer, round after round: each
/// connect hears and sends to its peer only, each disconnect everyone, and
/// the local port never moves. The socket is never bound: its first
/// connect binds it, to the unspecified address once disconnected.
pub(crate) fn udp_reconnect_after_disconnect_works() -> CaseResult {
    let socket = Socket::new_nonblocking(Domain::Ipv4, Type::Datagram, None)?;
    let (first, first_addr) = udp_socket(Domain::Ipv4)?;
    let (second, second_addr) = udp_socket(Domain::Ipv4)?;
    let peers = [(&first, &first_addr), (&second, &second_addr)];
    let mut port = None;
    let mut buf = [0u8; 64];
    for (round, (&(peer, peer_addr), &(other, other_addr))) in peers
        .iter()
        .cycle()
        .zip(peers.iter().cycle().skip(1))
        .take(8)
        .enumerate()
    {
        connect(&socket, peer_addr)?;
        let remote = socket.peer_addr()?;
        ensure!(
            remote == *peer_addr,
            "round {round}: connected to {peer_addr}, remote address is {remote}"
        );
        let local = socket.local_addr()?;
        let port = *port.get_or_insert(port_of(&local)?);
        ensure!(
            port_of(&local)? == port,
            "round {round}: connected, the local port moved from {port} to {local}"
        );
        // The socket sends from loopback to a loopback peer.
        let to = SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into();
        other.send_to(b"other", &to, SendFlags::EMPTY)?;
        peer.send_to(b"peer", &to, SendFlags::EMPTY)?;
        let (data, meta) = recv_datagram(&socket, 64)?;
        ensure!(
            data == b"peer" && meta.addr == *peer_addr,
            "round {round}: connected, received {data:?} from {}, expected \"peer\" from {peer_addr}",
            meta.addr
        );
        expect_error(
            socket.recv(&mut buf, RecvFlags::EMPTY),
            ErrorCode::WouldBlock,
            "receive while connected, after the peer's datagram (the other's must be dropped)",
        )?;
        socket.send(b"to peer", SendFlags::EMPTY)?;
        let (data, _) = recv_datagram(peer, 64)?;
        ensure!(
            data == b"to peer",
            "round {round}: the peer received {data:?}"
        );

        socket.disconnect()?;
        let unspecified = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into();
        expect_local_after_disconnect(&socket, &unspecified, &format!("round {round}"))?;
        other.send_to(b"anyone", &to, SendFlags::EMPTY)?;
        let (data, meta) = recv_datagram(&socket, 64)?;
        ensure!(
            data == b"anyone" && meta.addr == *other_addr,
            "round {round}: disconnected, received {data:?} from {}, expected \"anyone\" from {other_addr}",
            meta.addr
        );
    }
    Ok(())
}

/// What a stranger queued before the connect, and no receive dropped, is
/// received once the socket disconnects: nothing filters any more.
pub(crate) fn udp_disconnect_stops_dropping_what_others_queued() -> CaseResult {
    let (receiver, receiver_addr) = udp_socket(Domain::Ipv4)?;
    let (_peer, peer_addr) = udp_socket(Domain::Ipv4)?;
    let (stranger, stranger_addr) = udp_socket(Domain::Ipv4)?;
    stranger.send_to(b"queued", &receiver_addr, SendFlags::EMPTY)?;
    wait_for(&receiver, Interest::READABLE, "the stranger's datagram")?;
    connect(&receiver, &peer_addr)?;
    receiver.disconnect()?;
    let (data, meta) = recv_datagram(&receiver, 64)?;
    ensure!(
        data == b"queued" && meta.addr == stranger_addr,
        "received {data:?} from {}, expected \"queued\" from {stranger_addr}",
        meta.addr
    );
    Ok(())
}
