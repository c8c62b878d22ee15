//! Operations in the wrong state, each with the error `wit/sockets.wit`
//! documents for it.

use witsock::{Domain, ErrorCode, RecvFlags, SendFlags, Shutdown, Socket, Type};

use crate::support::{
    expect_error, loopback, recv_exact, send_all, tcp_listener, tcp_pair, tcp_socket, udp_socket,
};
use crate::{ensure, CaseResult};

pub(crate) fn accept_on_socket_not_listening_is_invalid_state() -> CaseResult {
    let fresh = tcp_socket(Domain::Ipv4)?;
    expect_error(
        fresh.try_accept(),
        ErrorCode::InvalidState,
        "accept on a fresh socket",
    )?;
    let bound = tcp_socket(Domain::Ipv4)?;
    bound.bind(&loopback(Domain::Ipv4))?;
    expect_error(
        bound.try_accept(),
        ErrorCode::InvalidState,
        "accept on a bound socket that is not listening",
    )?;
    let (client, _server) = tcp_pair(Domain::Ipv4)?;
    expect_error(
        client.try_accept(),
        ErrorCode::InvalidState,
        "accept on a connected socket",
    )
}

pub(crate) fn listen_on_udp_is_operation_not_supported() -> CaseResult {
    let (socket, _) = udp_socket(Domain::Ipv4)?;
    expect_error(
        socket.listen(8),
        ErrorCode::OperationNotSupported,
        "listen on a UDP socket",
    )
}

pub(crate) fn accept_on_udp_is_operation_not_supported() -> CaseResult {
    let (socket, _) = udp_socket(Domain::Ipv4)?;
    expect_error(
        socket.try_accept(),
        ErrorCode::OperationNotSupported,
        "accept on a UDP socket",
    )
}

pub(crate) fn listen_backlog_zero_is_invalid_argument() -> CaseResult {
    let socket = tcp_socket(Domain::Ipv4)?;
    socket.bind(&loopback(Domain::Ipv4))?;
    expect_error(
        socket.listen(0),
        ErrorCode::InvalidArgument,
        "listen with backlog 0",
    )?;
    // The rejected call changed nothing: the socket can still listen.
    socket.listen(1)?;
    Ok(())
}

pub(crate) fn listen_on_connected_socket_is_invalid_state() -> CaseResult {
    let (client, _server) = tcp_pair(Domain::Ipv4)?;
    expect_error(
        client.listen(8),
        ErrorCode::InvalidState,
        "listen on a connected socket",
    )
}

pub(crate) fn connect_twice_is_already_connected() -> CaseResult {
    let (listener, addr) = tcp_listener(Domain::Ipv4)?;
    let (client, _server) = tcp_pair(Domain::Ipv4)?;
    expect_error(
        client.start_connect(&addr),
        ErrorCode::AlreadyConnected,
        "connect on a connected socket",
    )?;
    // Nothing reached the second listener.
    crate::ensure!(
        listener.try_accept()?.is_none(),
        "the second connect reached the listener"
    );
    Ok(())
}

pub(crate) fn finish_connect_without_connect_is_invalid_state() -> CaseResult {
    for domain in [Domain::Ipv4, Domain::Ipv6] {
        let socket = tcp_socket(domain)?;
        expect_error(
            socket.finish_connect(),
            ErrorCode::InvalidState,
            "finish-connect on a fresh socket",
        )?;
    }
    let bound = tcp_socket(Domain::Ipv4)?;
    bound.bind(&loopback(Domain::Ipv4))?;
    expect_error(
        bound.finish_connect(),
        ErrorCode::InvalidState,
        "finish-connect on a bound socket",
    )
}

pub(crate) fn local_address_of_unbound_socket_is_invalid_state() -> CaseResult {
    for domain in [Domain::Ipv4, Domain::Ipv6] {
        for ty in [Type::Stream, Type::Datagram] {
            let socket = Socket::new_nonblocking(domain, ty, None)?;
            expect_error(
                socket.local_addr(),
                ErrorCode::InvalidState,
                &format!("local address of an unbound {domain:?} {ty:?} socket"),
            )?;
        }
    }
    Ok(())
}

pub(crate) fn remote_address_unconnected_is_not_connected() -> CaseResult {
    let fresh = tcp_socket(Domain::Ipv4)?;
    expect_error(
        fresh.peer_addr(),
        ErrorCode::NotConnected,
        "remote address of a fresh TCP socket",
    )?;
    let (listener, _) = tcp_listener(Domain::Ipv6)?;
    expect_error(
        listener.peer_addr(),
        ErrorCode::NotConnected,
        "remote address of a listener",
    )?;
    let (udp, _) = udp_socket(Domain::Ipv4)?;
    expect_error(
        udp.peer_addr(),
        ErrorCode::NotConnected,
        "remote address of an unconnected UDP socket",
    )
}

/// The WIT's answer for a send on a TCP socket that never connected is
/// `not-connected`, whatever the kernel's errno.
pub(crate) fn send_on_unconnected_tcp_is_not_connected() -> CaseResult {
    let fresh = tcp_socket(Domain::Ipv4)?;
    expect_error(
        fresh.send(b"nobody", SendFlags::EMPTY),
        ErrorCode::NotConnected,
        "send on a fresh TCP socket",
    )?;
    let mut buf = [0u8; 8];
    expect_error(
        fresh.recv(&mut buf, RecvFlags::EMPTY),
        ErrorCode::NotConnected,
        "receive on a fresh TCP socket",
    )?;
    let bound = tcp_socket(Domain::Ipv4)?;
    bound.bind(&loopback(Domain::Ipv4))?;
    expect_error(
        bound.send(b"nobody", SendFlags::EMPTY),
        ErrorCode::NotConnected,
        "send on a bound TCP socket",
    )?;
    let (listener, _) = tcp_listener(Domain::Ipv4)?;
    expect_error(
        listener.send(b"nobody", SendFlags::EMPTY),
        ErrorCode::NotConnected,
        "send on a listener",
    )?;
    let parts = [std::io::IoSlice::new(b"no"), std::io::IoSlice::new(b"body")];
    expect_error(
        fresh.send_vectored(&parts, SendFlags::EMPTY),
        ErrorCode::NotConnected,
        "vectored send on a fresh TCP socket",
    )
}

pub(crate) fn send_on_unconnected_udp_is_not_connected() -> CaseResult {
    let (udp, _) = udp_socket(Domain::Ipv4)?;
    expect_error(
        udp.send(b"nobody", SendFlags::EMPTY),
        ErrorCode::NotConnected,
        "send without an address on an unconnected UDP socket",
    )?;
    // The refused send changed nothing: an unbound socket stays unbound
    // (Linux would bind it to an ephemeral port).
    let fresh = Socket::new_nonblocking(Domain::Ipv4, Type::Datagram, None)?;
    expect_error(
        fresh.send(b"nobody", SendFlags::EMPTY),
        ErrorCode::NotConnected,
        "send on an unbound UDP socket",
    )?;
    expect_error(
        fresh.local_addr(),
        ErrorCode::InvalidState,
        "the local address after a refused send",
    )
}

pub(crate) fn shutdown_unconnected_is_not_connected() -> CaseResult {
    for domain in [Domain::Ipv4, Domain::Ipv6] {
        let fresh = tcp_socket(domain)?;
        expect_error(
            fresh.shutdown(Shutdown::Both),
            ErrorCode::NotConnected,
            "shutdown of a fresh TCP socket",
        )?;
        // The refused shutdown changed nothing (Linux would shut the
        // halves anyway, and a receive would then be end-of-stream).
        let mut buf = [0u8; 4];
        expect_error(
            fresh.recv(&mut buf, RecvFlags::EMPTY),
            ErrorCode::NotConnected,
            "receive after a refused shutdown",
        )?;
        let (listener, _) = tcp_listener(domain)?;
        expect_error(
            listener.shutdown(Shutdown::Read),
            ErrorCode::NotConnected,
            "shutdown of a listener",
        )?;
        let (udp, _) = udp_socket(domain)?;
        expect_error(
            udp.shutdown(Shutdown::Both),
            ErrorCode::OperationNotSupported,
            "shutdown of a UDP socket",
        )?;
    }
    Ok(())
}

pub(crate) fn receive_from_on_a_stream_names_the_peer() -> CaseResult {
    for domain in [Domain::Ipv4, Domain::Ipv6] {
        let (client, server) = tcp_pair(domain)?;
        crate::support::send_all(&client, b"hello")?;
        crate::support::wait_for(&server, witsock::Interest::READABLE, "the bytes")?;
        let mut buf = [0u8; 16];
        let meta = server.recv_from(&mut buf, RecvFlags::EMPTY)?;
        let client_addr = client.local_addr()?;
        crate::ensure!(
            meta.addr == client_addr && meta.len > 0 && !meta.truncated,
            "receive-from on a stream: {} bytes from {}, expected the peer {client_addr}",
            meta.len,
            meta.addr
        );
    }
    Ok(())
}

pub(crate) fn resolve_checks_names_before_any_resolver() -> CaseResult {
    // Literals resolve to themselves, with no lookup (and so with no
    // lookup grant from a host).
    for (name, expected) in [
        ("127.0.0.1", "127.0.0.1:80"),
        ("::1", "[::1]:80"),
        ("[::]", "[::]:80"),
    ] {
        let addrs: Vec<String> = witsock::resolve(name, 80)?.map(|a| a.to_string()).collect();
        crate::ensure!(
            addrs == [expected],
            "`{name}` resolved to {addrs:?}, expected {expected}"
        );
    }
    // What is not a host name never reaches a resolver.
    for name in [
        "",
        " ",
        "127.0.0.1:80",
        "http://example.com/",
        "[127.0.0.1]",
    ] {
        expect_error(
            witsock::resolve(name, 80),
            ErrorCode::InvalidArgument,
            &format!("resolving `{name}`"),
        )?;
    }
    Ok(())
}

/// `disconnect` is for datagram sockets: on a stream, in any state, it is
/// `operation-not-supported`, and a connection goes on unharmed (an
/// AF_UNSPEC connect would abort it natively).
pub(crate) fn disconnect_on_a_stream_is_operation_not_supported() -> CaseResult {
    let fresh = tcp_socket(Domain::Ipv4)?;
    expect_error(
        fresh.disconnect(),
        ErrorCode::OperationNotSupported,
        "disconnect on a fresh TCP socket",
    )?;
    let (listener, _) = tcp_listener(Domain::Ipv6)?;
    expect_error(
        listener.disconnect(),
        ErrorCode::OperationNotSupported,
        "disconnect on a listener",
    )?;
    let (client, server) = tcp_pair(Domain::Ipv4)?;
    for (socket, what) in [
        (&client, "a connected client"),
        (&server, "an accepted socket"),
    ] {
        expect_error(
            socket.disconnect(),
            ErrorCode::OperationNotSupported,
            &format!("disconnect on {what}"),
        )?;
    }
    client.peer_addr()?;
    send_all(&client, b"still connected")?;
    let got = recv_exact(&server, 15)?;
    ensure!(got == b"still connected", "the server received {got:?}");
    send_all(&server, b"back")?;
    let got = recv_exact(&client, 4)?;
    ensure!(got == b"back", "the client received {got:?}");
    Ok(())
}
