//! The case list. Each entry names a scenario, the backends where it must
//! observe `unsupported` (with the reason), and its body.

use witsock::{Domain, ErrorCode, RecvFlags, SendFlags};

use crate::support::{expect_error, tcp_listener, tcp_pair};
use crate::{ensure, Backend, Case, CaseResult};

/// Every conformance case, in report order.
pub static CASES: &[Case] = &[
    Case {
        name: "tcp_v4_connect_accept_send_receive",
        unsupported_on: &[],
        run: tcp_v4_connect_accept_send_receive,
    },
    Case {
        name: "try_accept_empty_backlog_is_none",
        unsupported_on: &[],
        run: try_accept_empty_backlog_is_none,
    },
    Case {
        name: "defer_accept_round_trip",
        unsupported_on: &[
            (Backend::NativeMacos, "macOS has no TCP_DEFER_ACCEPT"),
            (Backend::WasiP2, "wasi:sockets has no TCP_DEFER_ACCEPT"),
        ],
        run: defer_accept_round_trip,
    },
];

fn tcp_v4_connect_accept_send_receive() -> CaseResult {
    let (client, server) = tcp_pair(Domain::Ipv4)?;
    let sent = client.send(b"ping", SendFlags::EMPTY)?;
    ensure!(sent == 4, "sent {sent} bytes, expected 4");
    crate::support::wait_for(&server, witsock::Interest::READABLE, "data")?;
    let mut buf = [0u8; 8];
    let n = server.recv(&mut buf, RecvFlags::EMPTY)?;
    ensure!(&buf[..n] == b"ping", "received {:?}", &buf[..n]);
    Ok(())
}

fn try_accept_empty_backlog_is_none() -> CaseResult {
    let (listener, _) = tcp_listener(Domain::Ipv4)?;
    ensure!(
        listener.try_accept()?.is_none(),
        "empty backlog returned a connection"
    );
    Ok(())
}

fn defer_accept_round_trip() -> CaseResult {
    let (listener, _) = tcp_listener(Domain::Ipv4)?;
    listener.set_option(witsock::SocketOption::DeferAccept(
        core::time::Duration::from_secs(5),
    ))?;
    match listener.option(witsock::OptionName::DeferAccept)? {
        witsock::SocketOption::DeferAccept(d) => ensure!(d.as_secs() >= 5, "read back {d:?}"),
        other => ensure!(false, "read back {other:?}"),
    }
    expect_error(
        listener.set_option(witsock::SocketOption::DeferAccept(
            core::time::Duration::from_millis(1500),
        )),
        ErrorCode::InvalidArgument,
        "a fractional TCP_DEFER_ACCEPT",
    )
}
