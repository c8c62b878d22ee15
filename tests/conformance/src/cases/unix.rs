//! Unix sockets: pairs, paths, abstract names and unnamed addresses.

use witsock::{
    Domain, ErrorCode, OptionName, PeerCredentials, RecvFlags, SendFlags, SockAddr, Socket,
    SocketOption, Type,
};

use crate::support::{
    accept, ensure_close_on_exec, expect_error, expect_one_of, finish_connect, recv_exact,
    send_all, sigpipe_raised_during, UnixSocketPath,
};
use crate::{ensure, CaseError, CaseResult};

pub(crate) fn unix_stream_pair_round_trip() -> CaseResult {
    let (a, b) = Socket::pair(Type::Stream, true)?;
    ensure_close_on_exec(&a, "a socket-pair end")?;
    ensure_close_on_exec(&b, "a socket-pair end")?;
    send_all(&a, b"to b")?;
    ensure!(recv_exact(&b, 4)? == b"to b", "b received other bytes");
    send_all(&b, b"to a")?;
    ensure!(recv_exact(&a, 4)? == b"to a", "a received other bytes");
    let mut buf = [0u8; 4];
    expect_error(
        a.recv(&mut buf, RecvFlags::EMPTY),
        ErrorCode::WouldBlock,
        "receive on an empty non-blocking pair end",
    )?;
    for (name, addr) in [
        ("local address of a", a.local_addr()?),
        ("remote address of a", a.peer_addr()?),
        ("local address of b", b.local_addr()?),
    ] {
        ensure!(addr.is_unnamed(), "{name} is {addr}, expected unnamed");
        ensure!(
            addr.domain() == Some(Domain::Unix),
            "{name} has family {:?}",
            addr.domain()
        );
    }

    // Closing one end: the other reads end-of-stream and a send fails
    // with `shutdown`, never SIGPIPE.
    drop(b);
    let n = a.recv(&mut buf, RecvFlags::EMPTY)?;
    ensure!(n == 0, "read {n} bytes from a closed pair end");
    let (result, raised) = sigpipe_raised_during(|| a.send(b"gone", SendFlags::EMPTY))?;
    expect_one_of(
        result,
        &[ErrorCode::Shutdown, ErrorCode::ConnectionReset],
        "send to a closed pair end",
    )?;
    ensure!(raised != Some(true), "the send raised SIGPIPE");
    Ok(())
}

pub(crate) fn unix_datagram_pair_keeps_boundaries() -> CaseResult {
    let (a, b) = Socket::pair(Type::Datagram, true)?;
    a.send(b"one", SendFlags::EMPTY)?;
    a.send(b"two!", SendFlags::EMPTY)?;
    let mut buf = [0u8; 16];
    let n = b.recv(&mut buf, RecvFlags::EMPTY)?;
    ensure!(
        buf.get(..n) == Some(&b"one"[..]),
        "first datagram {n} bytes"
    );
    let n = b.recv(&mut buf, RecvFlags::EMPTY)?;
    ensure!(
        buf.get(..n) == Some(&b"two!"[..]),
        "second datagram {n} bytes"
    );
    Ok(())
}

/// Listens on `addr`, connects an unbound client, and checks both sides'
/// addresses and a round trip.
fn listen_connect_accept(addr: &SockAddr) -> CaseResult {
    let listener = Socket::new_nonblocking(Domain::Unix, Type::Stream, None)?;
    listener.bind(addr)?;
    listener.listen(8)?;
    let local = listener.local_addr()?;
    ensure!(local == *addr, "listener bound to {addr} reports {local}");

    let client = Socket::new_nonblocking(Domain::Unix, Type::Stream, None)?;
    if !client.start_connect(addr)? {
        finish_connect(&client)?;
    }
    let (server, peer) = accept(&listener)?;
    ensure_close_on_exec(&server, "an accepted Unix socket")?;
    ensure!(
        peer.is_unnamed(),
        "the unbound client's address is {peer}, expected unnamed"
    );
    let client_peer = client.peer_addr()?;
    ensure!(
        client_peer == *addr,
        "client's remote address is {client_peer}, expected {addr}"
    );
    let server_local = server.local_addr()?;
    ensure!(
        server_local == *addr,
        "accepted socket's local address is {server_local}, expected {addr}"
    );
    send_all(&client, b"over unix")?;
    ensure!(
        recv_exact(&server, 9)? == b"over unix",
        "server received other bytes"
    );
    send_all(&server, b"back")?;
    ensure!(
        recv_exact(&client, 4)? == b"back",
        "client received other bytes"
    );
    Ok(())
}

pub(crate) fn unix_path_bind_listen_accept_connect() -> CaseResult {
    // Creating the socket comes first: it is what says `unsupported` where
    // there are no Unix sockets, before any file system work.
    drop(Socket::new_nonblocking(Domain::Unix, Type::Stream, None)?);
    let path = UnixSocketPath::new()?;
    let addr = SockAddr::unix(path.path())?;
    ensure!(
        addr.as_unix_path() == Some(path.path()),
        "address {addr} does not hold the path"
    );
    listen_connect_accept(&addr)?;
    ensure!(path.exists(), "binding did not create {addr}");

    // A second bind to the same path is refused while the file exists.
    let other = Socket::new_nonblocking(Domain::Unix, Type::Stream, None)?;
    expect_error(
        other.bind(&addr),
        ErrorCode::AddressInUse,
        "binding a path that exists",
    )?;

    // With the file removed nobody listens there any more.
    drop(path);
    let client = Socket::new_nonblocking(Domain::Unix, Type::Stream, None)?;
    expect_error(
        client.start_connect(&addr),
        ErrorCode::ConnectionRefused,
        "connecting to a removed socket path",
    )
}

/// `peer-credentials`: both ends of a socket pair, and a connection made
/// through a path, name the same process (this one, which made both
/// ends); a socket with no peer is `not-connected`; datagram sockets have
/// no such option, and it is read only.
pub(crate) fn unix_peer_credentials_name_the_peer() -> CaseResult {
    let credentials = |socket: &Socket| match socket.option(OptionName::PeerCredentials)? {
        SocketOption::PeerCredentials(peer) => Ok(peer),
        other => Err(CaseError::Fail(format!("peer-credentials read {other:?}"))),
    };
    let (a, b) = Socket::pair(Type::Stream, true)?;
    let mine = credentials(&a)?;
    ensure!(
        credentials(&b)? == mine,
        "the two ends of a pair name different processes: {mine:?}"
    );
    ensure!(
        mine.pid != Some(0),
        "a pair's peer has no process: {mine:?}"
    );
    let path = UnixSocketPath::new()?;
    let addr = SockAddr::unix(path.path())?;
    let listener = Socket::new_nonblocking(Domain::Unix, Type::Stream, None)?;
    listener.bind(&addr)?;
    listener.listen(4)?;
    let client = Socket::new_nonblocking(Domain::Unix, Type::Stream, None)?;
    if !client.start_connect(&addr)? {
        finish_connect(&client)?;
    }
    let (server, _) = accept(&listener)?;
    for (end, socket) in [("client", &client), ("server", &server)] {
        ensure!(
            credentials(socket)? == mine,
            "the {end} of a path connection names another process"
        );
    }
    let lone = Socket::new_nonblocking(Domain::Unix, Type::Stream, None)?;
    expect_error(
        lone.option(OptionName::PeerCredentials),
        ErrorCode::NotConnected,
        "the peer of an unconnected socket",
    )?;
    expect_error(
        a.set_option(SocketOption::PeerCredentials(PeerCredentials::default())),
        ErrorCode::InvalidArgument,
        "setting peer-credentials",
    )?;
    let (datagram, _) = Socket::pair(Type::Datagram, true)?;
    expect_error(
        datagram.option(OptionName::PeerCredentials),
        ErrorCode::OptionNotSupported,
        "peer-credentials of a datagram socket",
    )
}

pub(crate) fn unix_path_too_long_is_invalid_argument() -> CaseResult {
    drop(Socket::new_nonblocking(Domain::Unix, Type::Stream, None)?);
    let long = "x".repeat(200);
    match SockAddr::unix(&long) {
        Ok(addr) => Err(CaseError::Fail(format!(
            "a 200-byte path became the address {addr}"
        ))),
        Err(e) => expect_error::<()>(Err(e), ErrorCode::InvalidArgument, "a 200-byte path"),
    }
}

pub(crate) fn unix_abstract_name_bind_listen_accept_connect() -> CaseResult {
    drop(Socket::new_nonblocking(Domain::Unix, Type::Stream, None)?);
    let name = crate::support::unique_abstract_name();
    let addr = SockAddr::unix_abstract(&name)?;
    ensure!(
        addr.as_abstract_name() == Some(name.as_slice()),
        "address {addr} does not hold the name"
    );
    listen_connect_accept(&addr)
}

/// A Unix datagram pair end that disconnects forgets its peer: `send` is
/// `not-connected`, it has no remote address, a second disconnect is no
/// error, and the other end, still connected to it, can still send to it.
/// (Nothing is queued at the disconnect: Linux would drop that, and
/// report `connection-reset` to the other end.)
pub(crate) fn unix_datagram_pair_disconnect_forgets_the_peer() -> CaseResult {
    let (a, b) = Socket::pair(Type::Datagram, true)?;
    a.disconnect()?;
    expect_error(
        a.send(b"to nobody", SendFlags::EMPTY),
        ErrorCode::NotConnected,
        "send on a disconnected pair end",
    )?;
    expect_error(
        a.peer_addr(),
        ErrorCode::NotConnected,
        "remote address of a disconnected pair end",
    )?;
    a.disconnect()?;
    b.send(b"to a", SendFlags::EMPTY)?;
    let mut buf = [0u8; 16];
    crate::support::wait_for(&a, witsock::Interest::READABLE, "b's datagram")?;
    let n = a.recv(&mut buf, RecvFlags::EMPTY)?;
    ensure!(
        buf.get(..n) == Some(&b"to a"[..]),
        "the disconnected end received {n} bytes: {:?}",
        buf.get(..n)
    );
    Ok(())
}
