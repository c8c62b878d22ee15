//! TCP: connecting and accepting on both loopbacks, accepted sockets'
//! mode, refused connects, binding conflicts, dual-stack, end-of-stream,
//! peers going away, and a burst of connections.

use std::collections::HashSet;

use witsock::{
    Domain, ErrorCode, Interest, OptionName, RecvFlags, SendFlags, Shutdown, SockAddr, Socket,
    SocketOption,
};

use crate::support::{
    accept, closed_port, ensure_close_on_exec, ensure_descriptor_room, expect_error, expect_one_of,
    finish_connect, is_unsupported, loopback, loopback_port, open_descriptors, port_of, prefix,
    recv_exact, send_all, sigpipe_raised_during, tcp_listener, tcp_listener_with_backlog, tcp_pair,
    tcp_socket, wait_for, WAIT,
};
use crate::{ensure, CaseError, CaseResult};

/// A message one way over a fresh pair, then a reply the other way.
fn round_trip(domain: Domain) -> CaseResult {
    let (client, server) = tcp_pair(domain)?;
    send_all(&client, b"ping from the client")?;
    let got = recv_exact(&server, 20)?;
    ensure!(got == b"ping from the client", "server received {got:?}");
    send_all(&server, b"pong from the server")?;
    let got = recv_exact(&client, 20)?;
    ensure!(got == b"pong from the server", "client received {got:?}");
    // Nothing else is queued either way.
    let mut buf = [0u8; 8];
    expect_error(
        client.recv(&mut buf, RecvFlags::EMPTY),
        ErrorCode::WouldBlock,
        "client receive with nothing queued",
    )?;
    expect_error(
        server.recv(&mut buf, RecvFlags::EMPTY),
        ErrorCode::WouldBlock,
        "server receive with nothing queued",
    )
}

pub(crate) fn tcp_v4_connect_accept_send_receive() -> CaseResult {
    round_trip(Domain::Ipv4)
}

pub(crate) fn tcp_v6_connect_accept_send_receive() -> CaseResult {
    round_trip(Domain::Ipv6)
}

pub(crate) fn try_accept_empty_backlog_is_none() -> CaseResult {
    for domain in [Domain::Ipv4, Domain::Ipv6] {
        let (listener, _) = tcp_listener(domain)?;
        ensure!(
            listener.try_accept()?.is_none(),
            "{domain:?}: an empty backlog returned a connection"
        );
        // Still none on a second try: would-block leaves nothing behind.
        ensure!(
            listener.try_accept()?.is_none(),
            "{domain:?}: a second try returned a connection"
        );
    }
    Ok(())
}

/// Checks what the contract promises of an accepted socket.
fn check_accepted(accepted: &Socket, what: &str) -> CaseResult {
    let mut buf = [0u8; 8];
    expect_error(
        accepted.recv(&mut buf, RecvFlags::EMPTY),
        ErrorCode::WouldBlock,
        &format!("receive on {what} with nothing to read"),
    )?;
    ensure_close_on_exec(accepted, what)
}

pub(crate) fn accepted_socket_is_nonblocking_and_close_on_exec() -> CaseResult {
    let (listener, addr) = tcp_listener(Domain::Ipv4)?;
    ensure_close_on_exec(&listener, "the listener")?;
    let client = tcp_socket(Domain::Ipv4)?;
    ensure_close_on_exec(&client, "a new socket")?;
    let connected = client.start_connect(&addr)?;
    let (server, _) = accept(&listener)?;
    if !connected {
        finish_connect(&client)?;
    }
    check_accepted(&server, "a socket accepted from a non-blocking listener")
}

pub(crate) fn accepted_socket_is_nonblocking_from_a_blocking_listener() -> CaseResult {
    let listener = Socket::new(Domain::Ipv4, witsock::Type::Stream, None)?;
    listener.bind(&loopback(Domain::Ipv4))?;
    listener.listen(8)?;
    let addr = listener.local_addr()?;
    let client = tcp_socket(Domain::Ipv4)?;
    let connected = client.start_connect(&addr)?;
    // Wait first, so that the blocking accept has a connection to take.
    wait_for(&listener, Interest::READABLE, "a connection")?;
    let (server, _) = listener
        .try_accept()?
        .ok_or_else(|| CaseError::Fail("a blocking listener returned no connection".into()))?;
    if !connected {
        finish_connect(&client)?;
    }
    check_accepted(&server, "a socket accepted from a blocking listener")
}

/// The peer address from accept is the client's local address.
fn peer_address(domain: Domain) -> CaseResult {
    let (listener, addr) = tcp_listener(domain)?;
    let client = tcp_socket(domain)?;
    let connected = client.start_connect(&addr)?;
    let (server, peer) = accept(&listener)?;
    if !connected {
        finish_connect(&client)?;
    }
    let client_local = client.local_addr()?;
    ensure!(
        peer == client_local,
        "accept reported {peer}, the client's local address is {client_local}"
    );
    let server_peer = server.peer_addr()?;
    ensure!(
        server_peer == client_local,
        "remote address of the accepted socket is {server_peer}, expected {client_local}"
    );
    let client_peer = client.peer_addr()?;
    ensure!(
        client_peer == addr,
        "client's remote address is {client_peer}, the listener is at {addr}"
    );
    let server_local = server.local_addr()?;
    ensure!(
        server_local == addr,
        "accepted socket's local address is {server_local}, the listener is at {addr}"
    );
    Ok(())
}

pub(crate) fn accept_peer_address_is_client_local_address_v4() -> CaseResult {
    peer_address(Domain::Ipv4)
}

pub(crate) fn accept_peer_address_is_client_local_address_v6() -> CaseResult {
    peer_address(Domain::Ipv6)
}

/// A connect to a closed port is refused, whether the refusal comes from
/// start-connect at once or from finish-connect after the wait.
fn refused(domain: Domain) -> CaseResult {
    let (_holder, addr) = closed_port(domain)?;

    // The non-blocking path, step by step.
    let client = tcp_socket(domain)?;
    match client.start_connect(&addr) {
        Ok(true) => return Err(CaseError::Fail("connected to a closed port".into())),
        Ok(false) => {
            wait_for(&client, Interest::WRITABLE, "the refused connect to finish")?;
            expect_error(
                client.finish_connect(),
                ErrorCode::ConnectionRefused,
                "finish-connect to a closed port",
            )?;
        }
        Err(e) => expect_error::<()>(
            Err(e),
            ErrorCode::ConnectionRefused,
            "start-connect to a closed port",
        )?,
    }

    // The waiting path on a fresh socket.
    let client = tcp_socket(domain)?;
    expect_error(
        client.connect_timeout(&addr, WAIT),
        ErrorCode::ConnectionRefused,
        "connect to a closed port",
    )
}

pub(crate) fn connect_to_closed_port_is_refused_v4() -> CaseResult {
    refused(Domain::Ipv4)
}

pub(crate) fn connect_to_closed_port_is_refused_v6() -> CaseResult {
    refused(Domain::Ipv6)
}

pub(crate) fn bind_port_in_use_is_address_in_use() -> CaseResult {
    for domain in [Domain::Ipv4, Domain::Ipv6] {
        let (_listener, addr) = tcp_listener(domain)?;
        let other = tcp_socket(domain)?;
        expect_error(
            other.bind(&addr),
            ErrorCode::AddressInUse,
            &format!("binding {addr}, where a listener is"),
        )?;
        // The failed bind left the socket usable.
        other.bind(&loopback(domain))?;
    }
    Ok(())
}

/// A server that closes its side of a connection first leaves that side
/// in TIME_WAIT on the listener's port. Binding the port again right away
/// works all the same (wasi:sockets says a bind is not affected by
/// TIME_WAIT; a TCP bind turns SO_REUSEADDR on first), unless
/// reuse-address was turned off where it can be; a second bind while the
/// new listener lives is `address-in-use`.
pub(crate) fn bind_port_in_time_wait_after_server_close_is_ok() -> CaseResult {
    for domain in [Domain::Ipv4, Domain::Ipv6] {
        let (listener, client, server) = crate::support::tcp_pair_and_listener(domain)?;
        let addr = listener.local_addr()?;
        // The server closes first; the client reads end-of-stream and
        // closes too, which puts the server's side in TIME_WAIT.
        drop(server);
        let mut buf = [0u8; 8];
        let mut ended = false;
        for _ in 0..8 {
            match client.recv(&mut buf, RecvFlags::EMPTY) {
                Ok(0) => {
                    ended = true;
                    break;
                }
                Ok(n) => return Err(CaseError::Fail(format!("received {n} bytes, sent none"))),
                Err(e) if e.is_would_block() => {
                    wait_for(&client, Interest::READABLE, "end-of-stream")?
                }
                Err(e) => return Err(e.into()),
            }
        }
        ensure!(ended, "no end-of-stream after the server closed");
        drop(client);
        drop(listener);

        // Where reuse-address can be turned off, TIME_WAIT holds the port.
        let unshared = tcp_socket(domain)?;
        match unshared.set_option(SocketOption::ReuseAddress(false)) {
            Ok(()) => expect_error(
                unshared.bind(&addr),
                ErrorCode::AddressInUse,
                &format!("binding {addr} in TIME_WAIT with reuse-address off"),
            )?,
            Err(e) if is_unsupported(e.code()) => {}
            Err(e) => return Err(e.into()),
        }

        // The closed sockets let go of the port a moment later (wasmtime
        // releases them on another thread): a bind may wait that long.
        let again = tcp_socket(domain)?;
        let deadline = std::time::Instant::now() + crate::support::WAIT;
        loop {
            match again.bind(&addr) {
                Ok(()) => break,
                Err(e)
                    if e.code() == ErrorCode::AddressInUse
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => {
                    return Err(CaseError::Fail(format!(
                        "binding {addr} again after the server closed: {e}"
                    )))
                }
            }
        }
        again.listen(128)?;
        let local = again.local_addr()?;
        ensure!(local == addr, "bound {addr}, the local address is {local}");
        let other = tcp_socket(domain)?;
        expect_error(
            other.bind(&addr),
            ErrorCode::AddressInUse,
            &format!("binding {addr}, where the new listener is"),
        )?;
        // And the new listener accepts.
        let client = tcp_socket(domain)?;
        let connected = client.start_connect(&addr)?;
        accept(&again)?;
        if !connected {
            finish_connect(&client)?;
        }
    }
    Ok(())
}

pub(crate) fn bind_same_socket_twice_is_invalid_state() -> CaseResult {
    for domain in [Domain::Ipv4, Domain::Ipv6] {
        let socket = tcp_socket(domain)?;
        socket.bind(&loopback(domain))?;
        let first = socket.local_addr()?;
        expect_error(
            socket.bind(&loopback(domain)),
            ErrorCode::InvalidState,
            "binding a bound socket again",
        )?;
        let after = socket.local_addr()?;
        ensure!(after == first, "the failed bind moved {first} to {after}");
    }
    Ok(())
}

pub(crate) fn bind_v4_address_on_v6_only_socket_is_invalid_argument() -> CaseResult {
    let socket = tcp_socket(Domain::Ipv6)?;
    socket.set_option(SocketOption::Ipv6Only(true))?;
    expect_error(
        socket.bind(&loopback(Domain::Ipv4)),
        ErrorCode::InvalidArgument,
        "binding an IPv4 address on an IPv6 socket",
    )?;
    let mapped: std::net::SocketAddr =
        std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.to_ipv6_mapped().into(), 0);
    expect_error(
        socket.bind(&mapped.into()),
        ErrorCode::InvalidArgument,
        "binding an IPv4-mapped address on an ipv6-only socket",
    )?;
    // Neither failure bound the socket.
    socket.bind(&loopback(Domain::Ipv6))?;
    Ok(())
}

pub(crate) fn dual_stack_v6_listener_accepts_v4_client() -> CaseResult {
    let listener = tcp_socket(Domain::Ipv6)?;
    listener.set_option(SocketOption::Ipv6Only(false))?;
    match listener.option(OptionName::Ipv6Only)? {
        SocketOption::Ipv6Only(false) => {}
        other => return Err(CaseError::Fail(format!("ipv6-only read back {other:?}"))),
    }
    let any: std::net::SocketAddr = (std::net::Ipv6Addr::UNSPECIFIED, 0).into();
    listener.bind(&any.into())?;
    listener.listen(8)?;
    let port = port_of(&listener.local_addr()?)?;

    let client = tcp_socket(Domain::Ipv4)?;
    let connected = client.start_connect(&loopback_port(Domain::Ipv4, port))?;
    let (server, peer) = accept(&listener)?;
    if !connected {
        finish_connect(&client)?;
    }
    let client_local = client
        .local_addr()?
        .as_socket()
        .ok_or_else(|| CaseError::Fail("client's local address is not IP".into()))?;
    let expected = std::net::SocketAddr::new(
        std::net::Ipv4Addr::LOCALHOST.to_ipv6_mapped().into(),
        client_local.port(),
    );
    let peer = peer
        .as_socket()
        .ok_or_else(|| CaseError::Fail(format!("peer {peer} is not IP")))?;
    ensure!(
        peer == expected,
        "accepted peer is {peer}, expected the IPv4-mapped {expected}"
    );
    send_all(&client, b"v4 to v6")?;
    let got = recv_exact(&server, 8)?;
    ensure!(got == b"v4 to v6", "received {got:?}");
    Ok(())
}

pub(crate) fn receive_after_peer_shutdown_write_is_end_of_stream() -> CaseResult {
    let (client, server) = tcp_pair(Domain::Ipv4)?;
    send_all(&client, b"last words")?;
    client.shutdown(Shutdown::Write)?;
    let got = recv_exact(&server, 10)?;
    ensure!(got == b"last words", "received {got:?}");
    wait_for(&server, Interest::READABLE, "end-of-stream")?;
    let mut buf = [0u8; 16];
    let n = server.recv(&mut buf, RecvFlags::EMPTY)?;
    ensure!(n == 0, "expected end-of-stream, received {n} more bytes");
    // End-of-stream stays: a second receive says the same.
    let n = server.recv(&mut buf, RecvFlags::EMPTY)?;
    ensure!(n == 0, "second receive after end-of-stream gave {n} bytes");
    // The other direction still works.
    send_all(&server, b"reply")?;
    let got = recv_exact(&client, 5)?;
    ensure!(got == b"reply", "half-closed client received {got:?}");
    Ok(())
}

pub(crate) fn shutdown_write_after_large_write_delivers_every_byte() -> CaseResult {
    const TOTAL: usize = 1 << 20;
    let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
    let (client, server) = tcp_pair(Domain::Ipv4)?;
    let mut received = Vec::with_capacity(TOTAL);
    let mut buf = vec![0u8; 64 * 1024];
    let mut sent = 0usize;
    let mut rounds = 0usize;

    // Write without blocking; whenever the writer is full, drain the reader.
    while sent < TOTAL {
        rounds += 1;
        ensure!(rounds <= 100_000, "no progress after {sent} bytes sent");
        let rest = data.get(sent..).unwrap_or_default();
        match client.send(rest, SendFlags::EMPTY) {
            Ok(n) => sent += n,
            Err(e) if e.is_would_block() => {
                let before = received.len();
                drain(&server, &mut buf, &mut received)?;
                if received.len() == before {
                    let ready = client.wait(Interest::WRITABLE, Some(WAIT))?;
                    ensure!(!ready.is_empty(), "writer stuck after {sent} bytes");
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    // Right after the last write: everything written must still arrive.
    client.shutdown(Shutdown::Write)?;

    rounds = 0;
    loop {
        rounds += 1;
        ensure!(
            rounds <= 100_000,
            "no end-of-stream after {} bytes",
            received.len()
        );
        match server.recv(&mut buf, RecvFlags::EMPTY) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(prefix(&buf, n)?),
            Err(e) if e.is_would_block() => {
                wait_for(&server, Interest::READABLE, "the rest of the data")?
            }
            Err(e) => return Err(e.into()),
        }
    }
    ensure!(
        received.len() == TOTAL,
        "received {} of {TOTAL} bytes",
        received.len()
    );
    let first_difference = received.iter().zip(&data).position(|(a, b)| a != b);
    ensure!(
        first_difference.is_none(),
        "the data differs from byte {first_difference:?}"
    );
    Ok(())
}

/// Receives whatever is queued, without waiting.
fn drain(socket: &Socket, buf: &mut [u8], into: &mut Vec<u8>) -> CaseResult {
    loop {
        match socket.recv(buf, RecvFlags::EMPTY) {
            Ok(0) => return Err(CaseError::Fail("unexpected end-of-stream".into())),
            Ok(n) => into.extend_from_slice(prefix(buf, n)?),
            Err(e) if e.is_would_block() => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Sends until the send fails, at most 64 times, waiting between sends
/// for the peer's reset to arrive. Returns the error.
fn send_until_error(socket: &Socket) -> Result<witsock::Error, CaseError> {
    for _ in 0..64 {
        match socket.send(b"are you there?", SendFlags::EMPTY) {
            Ok(_) => {
                // The closed peer answers with a reset: wait for it.
                socket.wait(Interest::READABLE, Some(WAIT))?;
            }
            Err(e) if e.is_would_block() => {
                socket.wait(Interest::WRITABLE, Some(WAIT))?;
            }
            Err(e) => return Ok(e),
        }
    }
    Err(CaseError::Fail(
        "64 sends to a closed peer all succeeded".into(),
    ))
}

/// Natively, SIGPIPE is blocked around the sends and its pending state
/// checked (see `sigpipe_raised_during`); the default disposition would
/// kill the process, and the Rust runtime ignoring SIGPIPE would hide it,
/// so the pending signal is the check. In wasm there are no signals:
/// the guest surviving is the check.
pub(crate) fn send_after_peer_closed_is_shutdown_or_reset_without_sigpipe() -> CaseResult {
    let (client, server) = tcp_pair(Domain::Ipv4)?;
    drop(server);
    let (error, raised) = sigpipe_raised_during(|| send_until_error(&client))?;
    let error = error?;
    expect_one_of::<()>(
        Err(error),
        &[ErrorCode::Shutdown, ErrorCode::ConnectionReset],
        "send after the peer closed",
    )?;
    ensure!(raised != Some(true), "a send raised SIGPIPE");

    // Once the reset has been reported, later sends say `shutdown` or
    // `connection-reset` too, still without SIGPIPE.
    let (again, raised) = sigpipe_raised_during(|| client.send(b"still there?", SendFlags::EMPTY))?;
    expect_one_of(
        again,
        &[ErrorCode::Shutdown, ErrorCode::ConnectionReset],
        "a second send after the peer closed",
    )?;
    ensure!(raised != Some(true), "the second send raised SIGPIPE");
    Ok(())
}

pub(crate) fn send_after_own_shutdown_write_is_shutdown() -> CaseResult {
    let (client, _server) = tcp_pair(Domain::Ipv4)?;
    client.shutdown(Shutdown::Write)?;
    let (result, raised) = sigpipe_raised_during(|| client.send(b"late", SendFlags::EMPTY))?;
    expect_error(result, ErrorCode::Shutdown, "send after shutdown(write)")?;
    ensure!(raised != Some(true), "the send raised SIGPIPE");
    Ok(())
}

pub(crate) fn try_accept_burst_of_1000_connections() -> CaseResult {
    const CLIENTS: usize = 1000;
    // Both ends of every connection, plus what the process already holds.
    ensure_descriptor_room(2 * CLIENTS + 256)?;
    let descriptors_before = open_descriptors();
    {
        let (listener, addr) = tcp_listener_with_backlog(Domain::Ipv4, 1024)?;
        let mut clients = Vec::with_capacity(CLIENTS);
        let mut in_progress = Vec::new();
        for i in 0..CLIENTS {
            let client = tcp_socket(Domain::Ipv4)?;
            if !client.start_connect(&addr)? {
                in_progress.push(i);
            }
            clients.push(client);
        }

        let mut accepted: Vec<(Socket, SockAddr)> = Vec::with_capacity(CLIENTS);
        let mut waits = 0usize;
        while accepted.len() < CLIENTS {
            match listener.try_accept()? {
                Some(pair) => accepted.push(pair),
                None => {
                    waits += 1;
                    ensure!(
                        waits <= 64,
                        "accepted {} of {CLIENTS} before the listener went quiet",
                        accepted.len()
                    );
                    wait_for(&listener, Interest::READABLE, "more connections")?;
                }
            }
        }
        ensure!(
            listener.try_accept()?.is_none(),
            "a connection beyond the {CLIENTS} made"
        );

        for i in in_progress {
            let client = clients
                .get(i)
                .ok_or_else(|| CaseError::Fail("client index out of range".into()))?;
            finish_connect(client)?;
        }
        // Every accepted peer is one of the clients, each exactly once.
        let mut client_ports = HashSet::with_capacity(CLIENTS);
        for client in &clients {
            client_ports.insert(port_of(&client.local_addr()?)?);
        }
        ensure!(client_ports.len() == CLIENTS, "clients share local ports");
        for (_, peer) in &accepted {
            let port = port_of(peer)?;
            ensure!(
                client_ports.remove(&port),
                "accepted peer {peer} is no client, or was accepted twice"
            );
        }
        // The first and the last connection carry data to the right peer.
        for client in [clients.first(), clients.last()].into_iter().flatten() {
            let local = client.local_addr()?;
            let (server, _) = accepted
                .iter()
                .find(|(_, peer)| *peer == local)
                .ok_or_else(|| CaseError::Fail(format!("no accepted socket for {local}")))?;
            send_all(client, b"hello")?;
            let got = recv_exact(server, 5)?;
            ensure!(
                got == b"hello",
                "the server side of {local} received {got:?}"
            );
        }
    }
    // Every socket, accepted or not, is closed by now.
    let descriptors_after = open_descriptors();
    ensure!(
        descriptors_before == descriptors_after,
        "open descriptors before the burst: {descriptors_before:?}, after: {descriptors_after:?}"
    );
    Ok(())
}
