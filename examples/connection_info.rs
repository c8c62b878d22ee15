//! What the kernel knows of a connection, the same code natively and in a
//! wasm guest (under `witsock-host run --allow-bind '127.0.0.1:*'
//! --allow-connect '127.0.0.1:*' --allow-socket-pairs`): `tcp-info`, the
//! bytes waiting to be read and to be acknowledged, and the process at
//! the other end of a Unix socket pair. Where the backend lacks one
//! (wasi:sockets), it says so.
//!
//! ```text
//! cargo run --example connection-info
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use witsock::{
    Domain, Error, ErrorCode, Interest, OptionName, RecvFlags, SendFlags, SockAddr, Socket,
    SocketOption, Type,
};

fn main() -> witsock::Result<()> {
    let listener = Socket::new(Domain::Ipv4, Type::Stream, None)?;
    listener.bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 0))))?;
    listener.listen(8)?;
    let addr = listener.local_addr()?;

    let client = Socket::new(Domain::Ipv4, Type::Stream, None)?;
    client.connect(&addr)?;
    listener.wait(Interest::READABLE, Some(Duration::from_secs(5)))?;
    report(
        "listener",
        listener.tcp_info().map(|info| {
            let waiting = info
                .unacked
                .map_or("an unknown number of".to_string(), |n| n.to_string());
            format!("{:?}, {waiting} connection(s) waiting", info.state)
        }),
    );
    let Some((server, peer)) = listener.try_accept()? else {
        return Err(Error::new(ErrorCode::WouldBlock));
    };
    println!("accepted {peer}");

    client.send(&[1u8; 3000], SendFlags::EMPTY)?;
    server.wait(Interest::READABLE, Some(Duration::from_secs(5)))?;
    report(
        "queues",
        queue(&server, OptionName::ReceiveQueue).and_then(|unread| {
            let unacknowledged = queue(&client, OptionName::SendQueue)?;
            Ok(format!(
                "server: {unread} bytes to read; client: {unacknowledged} bytes not yet acknowledged"
            ))
        }),
    );
    let mut buf = [0u8; 1000];
    let n = server.recv(&mut buf, RecvFlags::EMPTY)?;
    println!("read {n} bytes");

    report(
        "client",
        client.tcp_info().map(|info| {
            let or_unknown = |value: Option<u64>| value.map_or("?".to_string(), |n| n.to_string());
            format!(
            "{:?}, rtt {:?} (± {:?}), mss {}, congestion window {} bytes, {} bytes acknowledged, \
             delivery rate {} B/s",
            info.state,
            info.rtt,
            info.rtt_variance,
            info.mss,
            info.congestion_window,
            or_unknown(info.bytes_acked),
            or_unknown(info.delivery_rate),
        )
        }),
    );

    report(
        "socket pair",
        Socket::pair(Type::Stream, true).and_then(|(a, _b)| {
            match a.option(OptionName::PeerCredentials)? {
                SocketOption::PeerCredentials(peer) => Ok(format!(
                    "the other end is pid {}, uid {}, gid {}",
                    peer.pid.map_or("?".to_string(), |pid| pid.to_string()),
                    peer.uid,
                    peer.gid
                )),
                _ => Err(Error::new(ErrorCode::Other)),
            }
        }),
    );
    Ok(())
}

/// Prints what was read, or why it could not be.
fn report(what: &str, result: witsock::Result<String>) {
    match result {
        Ok(text) => println!("{what}: {text}"),
        Err(e) => println!("{what}: {e}"),
    }
}

/// The byte count of a `receive-queue` or `send-queue` read.
fn queue(socket: &Socket, name: OptionName) -> witsock::Result<usize> {
    match socket.option(name)? {
        SocketOption::ReceiveQueue(n) | SocketOption::SendQueue(n) => Ok(n),
        _ => Err(Error::new(ErrorCode::Other)),
    }
}
