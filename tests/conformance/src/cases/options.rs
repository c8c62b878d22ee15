//! Socket options: every option read back as set on a socket of the right
//! kind, invalid values rejected before anything changes, and
//! `capabilities` agreeing with what the backend actually does.

use core::time::Duration;
use std::io::IoSlice;
use std::net::{Ipv4Addr, Ipv6Addr};

use witsock::{
    capabilities, Domain, ErrorCode, Interest, OptionName, RecvFlags, SendFlags, Socket,
    SocketOption, Support, TcpInfo, TcpState, Type,
};

use crate::support::{
    closed_port, expect_error, is_unsupported, loopback, loopback_interface_index, send_all,
    tcp_listener, tcp_pair, tcp_socket, wait_for,
};
use crate::{ensure, CaseError, CaseResult};

/// An IPv4 multicast group for administratively scoped tests.
const GROUP_V4: Ipv4Addr = Ipv4Addr::new(239, 255, 77, 1);
/// An IPv6 link-local, transient multicast group.
const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff12, 0, 0, 0, 0, 0, 0x7769, 0x7473);

/// A fresh, unbound socket of the kind `name` applies to: UDP for
/// broadcast and multicast, IPv6 for the IPv6 options, a TCP listener for
/// defer-accept, one end of a Unix stream pair for peer-credentials, TCP
/// otherwise.
fn socket_for(name: OptionName) -> Result<Socket, CaseError> {
    let udp = |domain| Socket::new_nonblocking(domain, Type::Datagram, None);
    Ok(match name {
        OptionName::Broadcast
        | OptionName::MulticastTtlV4
        | OptionName::MulticastLoopV4
        | OptionName::JoinMulticastV4
        | OptionName::LeaveMulticastV4 => udp(Domain::Ipv4)?,
        OptionName::MulticastHopsV6
        | OptionName::MulticastLoopV6
        | OptionName::JoinMulticastV6
        | OptionName::LeaveMulticastV6 => udp(Domain::Ipv6)?,
        OptionName::Ipv6Only => tcp_socket(Domain::Ipv6)?,
        OptionName::DeferAccept => tcp_listener(Domain::Ipv4)?.0,
        OptionName::PeerCredentials => Socket::pair(Type::Stream, true)?.0,
        _ => tcp_socket(Domain::Ipv4)?,
    })
}

/// Values that read back exactly as set, the first one different from
/// the platform default and the second different from the first.
fn values_for(name: OptionName) -> Vec<SocketOption> {
    let secs = Duration::from_secs;
    match name {
        // On by default on TCP (`option_reuse_address_is_on_for_tcp`).
        OptionName::ReuseAddress => vec![
            SocketOption::ReuseAddress(false),
            SocketOption::ReuseAddress(true),
        ],
        OptionName::ReusePort => vec![
            SocketOption::ReusePort(true),
            SocketOption::ReusePort(false),
        ],
        OptionName::KeepAlive => vec![
            SocketOption::KeepAlive(true),
            SocketOption::KeepAlive(false),
        ],
        OptionName::Linger => vec![
            SocketOption::Linger(Some(secs(7))),
            SocketOption::Linger(Some(secs(0))),
            SocketOption::Linger(None),
        ],
        // Within the default limits of every kernel (Linux's rmem_max and
        // wmem_max are 212992 by default, and it stores double).
        OptionName::ReceiveBufferSize => vec![
            SocketOption::ReceiveBufferSize(65536),
            SocketOption::ReceiveBufferSize(32768),
        ],
        OptionName::SendBufferSize => vec![
            SocketOption::SendBufferSize(65536),
            SocketOption::SendBufferSize(32768),
        ],
        // 1.5 s is a whole number of ticks at every usual kernel HZ.
        OptionName::ReceiveTimeout => vec![
            SocketOption::ReceiveTimeout(Some(Duration::from_millis(1500))),
            SocketOption::ReceiveTimeout(None),
        ],
        OptionName::SendTimeout => vec![
            SocketOption::SendTimeout(Some(Duration::from_millis(1500))),
            SocketOption::SendTimeout(None),
        ],
        OptionName::Broadcast => vec![
            SocketOption::Broadcast(true),
            SocketOption::Broadcast(false),
        ],
        OptionName::NoDelay => vec![SocketOption::NoDelay(true), SocketOption::NoDelay(false)],
        OptionName::KeepAliveIdle => vec![
            SocketOption::KeepAliveIdle(secs(30)),
            SocketOption::KeepAliveIdle(secs(45)),
        ],
        OptionName::KeepAliveInterval => vec![
            SocketOption::KeepAliveInterval(secs(7)),
            SocketOption::KeepAliveInterval(secs(11)),
        ],
        OptionName::KeepAliveCount => vec![
            SocketOption::KeepAliveCount(5),
            SocketOption::KeepAliveCount(9),
        ],
        OptionName::DeferAccept => vec![
            SocketOption::DeferAccept(secs(5)),
            SocketOption::DeferAccept(secs(0)),
        ],
        // False is dual-stack, which has its own case and limits.
        OptionName::Ipv6Only => vec![SocketOption::Ipv6Only(true)],
        OptionName::HopLimit => vec![SocketOption::HopLimit(42), SocketOption::HopLimit(7)],
        OptionName::MulticastTtlV4 => vec![
            SocketOption::MulticastTtlV4(7),
            SocketOption::MulticastTtlV4(1),
        ],
        OptionName::MulticastLoopV4 => vec![
            SocketOption::MulticastLoopV4(false),
            SocketOption::MulticastLoopV4(true),
        ],
        OptionName::MulticastHopsV6 => vec![
            SocketOption::MulticastHopsV6(7),
            SocketOption::MulticastHopsV6(1),
        ],
        OptionName::MulticastLoopV6 => vec![
            SocketOption::MulticastLoopV6(false),
            SocketOption::MulticastLoopV6(true),
        ],
        OptionName::JoinMulticastV4 => vec![SocketOption::JoinMulticastV4 {
            group: GROUP_V4,
            interface: Ipv4Addr::LOCALHOST,
        }],
        OptionName::LeaveMulticastV4 => vec![SocketOption::LeaveMulticastV4 {
            group: GROUP_V4,
            interface: Ipv4Addr::LOCALHOST,
        }],
        OptionName::JoinMulticastV6 => vec![SocketOption::JoinMulticastV6 {
            group: GROUP_V6,
            interface: loopback_interface_index(),
        }],
        OptionName::LeaveMulticastV6 => vec![SocketOption::LeaveMulticastV6 {
            group: GROUP_V6,
            interface: loopback_interface_index(),
        }],
        OptionName::Cork => vec![SocketOption::Cork(true), SocketOption::Cork(false)],
        OptionName::UserTimeout => vec![
            SocketOption::UserTimeout(Duration::from_millis(2500)),
            SocketOption::UserTimeout(Duration::ZERO),
        ],
        OptionName::NotSentLowWater => vec![
            SocketOption::NotSentLowWater(16384),
            SocketOption::NotSentLowWater(1),
        ],
        // AF41 and CS1, as DSCP << 2.
        OptionName::TrafficClass => vec![
            SocketOption::TrafficClass(0x88),
            SocketOption::TrafficClass(0x20),
            SocketOption::TrafficClass(0),
        ],
        // Read only: nothing to set.
        _ => Vec::new(),
    }
}

/// Reads `name`, failing unless it is `expected`.
fn expect_value(socket: &Socket, expected: SocketOption, what: &str) -> CaseResult {
    let got = socket.option(expected.name())?;
    ensure!(
        got == expected,
        "{what}: {} read back {got:?}, set {expected:?}",
        expected.name().wit_name()
    );
    Ok(())
}

/// Sets each of `name`'s values in turn and reads each back exactly.
fn round_trip(name: OptionName) -> CaseResult {
    let socket = socket_for(name)?;
    let values = values_for(name);
    ensure!(!values.is_empty(), "no values to set for {name:?}");
    for value in values {
        socket.set_option(value)?;
        expect_value(&socket, value, "after set")?;
    }
    Ok(())
}

macro_rules! round_trips {
    ($($fn_name:ident => $option:ident,)*) => {$(
        pub(crate) fn $fn_name() -> CaseResult {
            round_trip(OptionName::$option)
        }
    )*};
}

round_trips! {
    option_reuse_address_round_trip => ReuseAddress,
    option_reuse_port_round_trip => ReusePort,
    option_keep_alive_round_trip => KeepAlive,
    option_linger_round_trip => Linger,
    option_receive_buffer_size_round_trip => ReceiveBufferSize,
    option_send_buffer_size_round_trip => SendBufferSize,
    option_receive_timeout_round_trip => ReceiveTimeout,
    option_send_timeout_round_trip => SendTimeout,
    option_broadcast_round_trip => Broadcast,
    option_no_delay_round_trip => NoDelay,
    option_keep_alive_idle_round_trip => KeepAliveIdle,
    option_keep_alive_interval_round_trip => KeepAliveInterval,
    option_keep_alive_count_round_trip => KeepAliveCount,
    option_ipv6_only_round_trip => Ipv6Only,
    option_multicast_ttl_v4_round_trip => MulticastTtlV4,
    option_multicast_loop_v4_round_trip => MulticastLoopV4,
    option_multicast_hops_v6_round_trip => MulticastHopsV6,
    option_multicast_loop_v6_round_trip => MulticastLoopV6,
    option_cork_round_trip => Cork,
    option_user_timeout_round_trip => UserTimeout,
    option_not_sent_low_water_round_trip => NotSentLowWater,
}

/// Traffic class on both families (IP_TOS and IPV6_TCLASS), on TCP and
/// UDP; a value with ECN bits, or past what fits, is `invalid-argument`.
pub(crate) fn option_traffic_class_round_trip() -> CaseResult {
    for domain in [Domain::Ipv4, Domain::Ipv6] {
        for ty in [Type::Stream, Type::Datagram] {
            let socket = Socket::new_nonblocking(domain, ty, None)?;
            for value in values_for(OptionName::TrafficClass) {
                socket.set_option(value)?;
                expect_value(&socket, value, &format!("{domain:?} {ty:?}"))?;
            }
            expect_rejected(
                &socket,
                &[
                    SocketOption::TrafficClass(0x89),
                    SocketOption::TrafficClass(0x02),
                ],
            )?;
        }
    }
    Ok(())
}

/// A TCP bind turns `reuse-address` on unless the caller set it (as
/// wasi:sockets hosts do on every TCP bind): it reads false before the
/// bind, true after, and stays as the caller set it; sockets that never
/// bind (clients) keep the kernel's default, accepted ones inherit the
/// listener's.
pub(crate) fn option_reuse_address_follows_tcp_binds() -> CaseResult {
    let on = SocketOption::ReuseAddress(true);
    let off = SocketOption::ReuseAddress(false);
    for domain in [Domain::Ipv4, Domain::Ipv6] {
        let socket = tcp_socket(domain)?;
        expect_value(&socket, off, &format!("a fresh {domain:?} TCP socket"))?;
        socket.bind(&loopback(domain))?;
        expect_value(&socket, on, &format!("a bound {domain:?} TCP socket"))?;
        let chosen = tcp_socket(domain)?;
        chosen.set_option(off)?;
        chosen.bind(&loopback(domain))?;
        expect_value(
            &chosen,
            off,
            &format!("a {domain:?} TCP socket turned off, then bound"),
        )?;
        let (client, server) = tcp_pair(domain)?;
        expect_value(
            &client,
            off,
            &format!("a connected {domain:?} client that never bound"),
        )?;
        expect_value(&server, on, &format!("an accepted {domain:?} socket"))?;
        let (udp, _) = crate::support::udp_socket(domain)?;
        expect_value(&udp, off, &format!("a bound {domain:?} UDP socket"))?;
    }
    if capabilities().unix_sockets != Support::Unsupported {
        let unix = Socket::new_nonblocking(Domain::Unix, Type::Stream, None)?;
        expect_value(&unix, off, "a fresh Unix stream socket")?;
    }
    Ok(())
}

/// Hop limit on both families: IP_TTL and IPV6_UNICAST_HOPS, on TCP and UDP.
pub(crate) fn option_hop_limit_round_trip() -> CaseResult {
    for domain in [Domain::Ipv4, Domain::Ipv6] {
        for ty in [Type::Stream, Type::Datagram] {
            let socket = Socket::new_nonblocking(domain, ty, None)?;
            for hops in [42, 7] {
                socket.set_option(SocketOption::HopLimit(hops))?;
                expect_value(
                    &socket,
                    SocketOption::HopLimit(hops),
                    &format!("{domain:?} {ty:?}"),
                )?;
            }
        }
    }
    Ok(())
}

/// Linux rounds TCP_DEFER_ACCEPT up to its SYN-ACK retransmission
/// schedule, so 5 s reads back as at least 5 s, in whole seconds; 0 turns
/// it off exactly.
pub(crate) fn option_defer_accept_round_trip() -> CaseResult {
    let socket = socket_for(OptionName::DeferAccept)?;
    socket.set_option(SocketOption::DeferAccept(Duration::from_secs(5)))?;
    match socket.option(OptionName::DeferAccept)? {
        SocketOption::DeferAccept(d) => ensure!(
            d >= Duration::from_secs(5) && d.subsec_nanos() == 0,
            "5 s read back as {d:?}"
        ),
        other => return Err(CaseError::Fail(format!("read back {other:?}"))),
    }
    socket.set_option(SocketOption::DeferAccept(Duration::ZERO))?;
    expect_value(&socket, SocketOption::DeferAccept(Duration::ZERO), "off")
}

/// SO_ERROR on sockets with nothing pending.
pub(crate) fn option_error_round_trip() -> CaseResult {
    let fresh = tcp_socket(Domain::Ipv4)?;
    expect_value(&fresh, SocketOption::Error(None), "a fresh socket")?;
    let (client, server) = tcp_pair(Domain::Ipv4)?;
    expect_value(&client, SocketOption::Error(None), "a connected client")?;
    expect_value(&server, SocketOption::Error(None), "an accepted socket")?;
    let udp = Socket::new_nonblocking(Domain::Ipv4, Type::Datagram, None)?;
    expect_value(&udp, SocketOption::Error(None), "a UDP socket")
}

/// A refused non-blocking connect leaves its error pending in SO_ERROR,
/// and reading it clears it.
pub(crate) fn option_error_reports_pending_connect_error() -> CaseResult {
    let (_holder, addr) = closed_port(Domain::Ipv4)?;
    let client = tcp_socket(Domain::Ipv4)?;
    match client.start_connect(&addr) {
        Ok(true) => return Err(CaseError::Fail("connected to a closed port".into())),
        Ok(false) => {
            wait_for(&client, Interest::WRITABLE, "the refused connect")?;
            match client.option(OptionName::Error)? {
                SocketOption::Error(Some(e)) => ensure!(
                    e.code() == ErrorCode::ConnectionRefused,
                    "pending error {e}, expected connection-refused"
                ),
                other => {
                    return Err(CaseError::Fail(format!(
                        "after a refused connect the error option read {other:?}"
                    )))
                }
            }
        }
        // Refused at once: the error was reported, nothing is pending.
        Err(e) => ensure!(
            e.code() == ErrorCode::ConnectionRefused,
            "connect to a closed port: {e}"
        ),
    }
    expect_value(&client, SocketOption::Error(None), "after reading it")
}

pub(crate) fn option_socket_type_round_trip() -> CaseResult {
    for domain in [Domain::Ipv4, Domain::Ipv6] {
        for ty in [Type::Stream, Type::Datagram] {
            let socket = Socket::new_nonblocking(domain, ty, None)?;
            expect_value(
                &socket,
                SocketOption::SocketType(ty),
                &format!("{domain:?}"),
            )?;
        }
    }
    let (_, server) = tcp_pair(Domain::Ipv4)?;
    expect_value(
        &server,
        SocketOption::SocketType(Type::Stream),
        "an accepted socket",
    )
}

/// `tcp-info` reads the connection's state on a fresh socket, a listener
/// (with one connection waiting: Linux counts it as unacknowledged) and
/// both ends of a connection, and what the receiving end took in; it is
/// read only, and a stream option.
pub(crate) fn option_tcp_info_reads_the_connection() -> CaseResult {
    let state = |socket: &Socket| socket.tcp_info().map(|info| info.state);
    for domain in [Domain::Ipv4, Domain::Ipv6] {
        let fresh = tcp_socket(domain)?;
        ensure!(state(&fresh)? == TcpState::Closed, "a fresh socket");
        let (listener, addr) = tcp_listener(domain)?;
        let waiting = tcp_socket(domain)?;
        if !waiting.start_connect(&addr)? {
            crate::support::finish_connect(&waiting)?;
        }
        wait_for(&listener, Interest::READABLE, "a connection to accept")?;
        let info = listener.tcp_info()?;
        ensure!(info.state == TcpState::Listen, "a listener: {info:?}");
        if let Some(queued) = info.unacked {
            ensure!(queued == 1, "one connection waiting, read {queued}");
        }
        let (client, server) = tcp_pair(domain)?;
        send_all(&client, &[7u8; 1000])?;
        let mut buf = [0u8; 1000];
        let mut got = 0;
        while got < buf.len() {
            wait_for(&server, Interest::READABLE, "the bytes sent")?;
            let rest = buf.get_mut(got..).unwrap_or_default();
            let n = server.recv(rest, RecvFlags::EMPTY)?;
            ensure!(n > 0, "end of stream after {got} bytes");
            got += n;
        }
        for (end, socket) in [("client", &client), ("server", &server)] {
            let info = socket.tcp_info()?;
            ensure!(
                info.state == TcpState::Established && info.mss > 0 && info.congestion_window > 0,
                "the {end} of a connection: {info:?}"
            );
        }
        if let Some(received) = server.tcp_info()?.bytes_received {
            ensure!(received >= 1000, "the server received {received} bytes");
        }
        expect_error(
            client.set_option(SocketOption::TcpInfo(TcpInfo::default())),
            ErrorCode::InvalidArgument,
            "setting tcp-info",
        )?;
        let (udp, _) = crate::support::udp_socket(domain)?;
        expect_error(
            udp.tcp_info(),
            ErrorCode::OptionNotSupported,
            "tcp-info of a UDP socket",
        )?;
    }
    Ok(())
}

/// `receive-queue` counts what arrived and was not read, `send-queue`
/// what was written and not acknowledged (nothing, once the peer's
/// acknowledgement is in); a fresh socket and a listener hold none; both
/// are read only, and stream options.
pub(crate) fn option_receive_queue_and_send_queue_count_unread_and_unacknowledged_bytes(
) -> CaseResult {
    let queue = |socket: &Socket, name: OptionName| match socket.option(name)? {
        SocketOption::ReceiveQueue(n) | SocketOption::SendQueue(n) => Ok(n),
        other => Err(CaseError::Fail(format!("{name:?} read {other:?}"))),
    };
    for domain in [Domain::Ipv4, Domain::Ipv6] {
        let fresh = tcp_socket(domain)?;
        let (listener, _) = tcp_listener(domain)?;
        for (what, socket) in [("a fresh socket", &fresh), ("a listener", &listener)] {
            for name in [OptionName::ReceiveQueue, OptionName::SendQueue] {
                let n = queue(socket, name)?;
                ensure!(n == 0, "{what} holds {n} bytes ({name:?})");
            }
        }
        let (client, server) = tcp_pair(domain)?;
        send_all(&client, &[5u8; 1000])?;
        wait_for(&server, Interest::READABLE, "the bytes sent")?;
        // One segment on loopback: all of it is there once any is.
        let waiting = queue(&server, OptionName::ReceiveQueue)?;
        ensure!(waiting == 1000, "1000 bytes arrived, {waiting} wait");
        let mut buf = [0u8; 400];
        let n = server.recv(&mut buf, RecvFlags::EMPTY)?;
        let left = queue(&server, OptionName::ReceiveQueue)?;
        ensure!(left == 1000 - n, "read {n} of 1000, {left} wait");
        // The acknowledgement comes back at once on loopback; allow it time.
        let mut unacknowledged = queue(&client, OptionName::SendQueue)?;
        for _ in 0..500 {
            if unacknowledged == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
            unacknowledged = queue(&client, OptionName::SendQueue)?;
        }
        ensure!(
            unacknowledged == 0,
            "{unacknowledged} bytes still unacknowledged after 5 s"
        );
        expect_error(
            server.set_option(SocketOption::ReceiveQueue(0)),
            ErrorCode::InvalidArgument,
            "setting receive-queue",
        )?;
        let (udp, _) = crate::support::udp_socket(domain)?;
        expect_error(
            udp.option(OptionName::SendQueue),
            ErrorCode::OptionNotSupported,
            "send-queue of a UDP socket",
        )?;
    }
    Ok(())
}

/// Joining and leaving a group, on the loopback interface. Both options
/// are write only.
fn join_and_leave(join: OptionName, leave: OptionName) -> CaseResult {
    let socket = socket_for(join)?;
    for value in values_for(join).into_iter().chain(values_for(leave)) {
        socket.set_option(value)?;
    }
    Ok(())
}

pub(crate) fn option_join_multicast_v4_then_leave_multicast_v4() -> CaseResult {
    join_and_leave(OptionName::JoinMulticastV4, OptionName::LeaveMulticastV4)
}

pub(crate) fn option_join_multicast_v6_then_leave_multicast_v6() -> CaseResult {
    join_and_leave(OptionName::JoinMulticastV6, OptionName::LeaveMulticastV6)
}

/// Sets `valid`, then checks that each of `invalid` is rejected with
/// invalid-argument and leaves `valid` in place.
fn rejects(socket: &Socket, valid: SocketOption, invalid: &[SocketOption]) -> CaseResult {
    socket.set_option(valid)?;
    for &bad in invalid {
        expect_error(
            socket.set_option(bad),
            ErrorCode::InvalidArgument,
            &format!("set {bad:?}"),
        )?;
        expect_value(socket, valid, &format!("after rejecting {bad:?}"))?;
    }
    Ok(())
}

/// Invalid values are checked before the backend sees them, so every
/// backend rejects them the same way, even one that lacks the option.
fn expect_rejected(socket: &Socket, invalid: &[SocketOption]) -> CaseResult {
    for &bad in invalid {
        expect_error(
            socket.set_option(bad),
            ErrorCode::InvalidArgument,
            &format!("set {bad:?}"),
        )?;
    }
    Ok(())
}

pub(crate) fn option_zero_buffer_sizes_are_invalid_argument() -> CaseResult {
    let socket = tcp_socket(Domain::Ipv4)?;
    let too_big = witsock::MAX_BUFFER_SIZE.checked_add(1);
    let mut bad = vec![SocketOption::ReceiveBufferSize(0)];
    bad.extend(too_big.map(SocketOption::ReceiveBufferSize));
    rejects(&socket, SocketOption::ReceiveBufferSize(65536), &bad)?;
    let mut bad = vec![SocketOption::SendBufferSize(0)];
    bad.extend(too_big.map(SocketOption::SendBufferSize));
    rejects(&socket, SocketOption::SendBufferSize(65536), &bad)
}

pub(crate) fn option_zero_hop_limit_is_invalid_argument() -> CaseResult {
    for domain in [Domain::Ipv4, Domain::Ipv6] {
        let socket = tcp_socket(domain)?;
        rejects(
            &socket,
            SocketOption::HopLimit(42),
            &[SocketOption::HopLimit(0)],
        )?;
    }
    Ok(())
}

pub(crate) fn option_bad_keep_alive_values_are_invalid_argument() -> CaseResult {
    let socket = tcp_socket(Domain::Ipv4)?;
    rejects(
        &socket,
        SocketOption::KeepAliveCount(5),
        &[
            SocketOption::KeepAliveCount(0),
            SocketOption::KeepAliveCount(128),
        ],
    )?;
    rejects(
        &socket,
        SocketOption::KeepAliveIdle(Duration::from_secs(30)),
        &[
            SocketOption::KeepAliveIdle(Duration::ZERO),
            SocketOption::KeepAliveIdle(Duration::from_millis(1500)),
            SocketOption::KeepAliveIdle(Duration::from_secs(32768)),
        ],
    )?;
    rejects(
        &socket,
        SocketOption::KeepAliveInterval(Duration::from_secs(7)),
        &[
            SocketOption::KeepAliveInterval(Duration::ZERO),
            SocketOption::KeepAliveInterval(Duration::from_millis(500)),
            SocketOption::KeepAliveInterval(Duration::from_secs(32768)),
        ],
    )
}

pub(crate) fn option_fractional_seconds_are_invalid_argument() -> CaseResult {
    let socket = tcp_listener(Domain::Ipv4)?.0;
    expect_rejected(
        &socket,
        &[
            SocketOption::Linger(Some(Duration::from_millis(1500))),
            SocketOption::Linger(Some(Duration::from_nanos(1))),
            SocketOption::KeepAliveIdle(Duration::from_millis(2500)),
            SocketOption::KeepAliveInterval(Duration::from_millis(1001)),
            SocketOption::DeferAccept(Duration::from_millis(1500)),
            // User timeouts are whole milliseconds, within an int.
            SocketOption::UserTimeout(Duration::from_micros(2500)),
            SocketOption::UserTimeout(Duration::from_millis(u64::from(i32::MAX as u32) + 1)),
            SocketOption::NotSentLowWater(u32::MAX),
        ],
    )
}

pub(crate) fn option_zero_timeouts_are_invalid_argument() -> CaseResult {
    let socket = tcp_socket(Domain::Ipv4)?;
    expect_rejected(
        &socket,
        &[
            SocketOption::ReceiveTimeout(Some(Duration::ZERO)),
            SocketOption::SendTimeout(Some(Duration::ZERO)),
        ],
    )
}

pub(crate) fn option_setting_read_only_is_invalid_argument() -> CaseResult {
    let socket = tcp_socket(Domain::Ipv4)?;
    expect_rejected(
        &socket,
        &[
            SocketOption::Error(None),
            SocketOption::Error(Some(witsock::Error::new(ErrorCode::ConnectionReset))),
            SocketOption::SocketType(Type::Stream),
            SocketOption::SocketType(Type::Datagram),
        ],
    )?;
    // Still a stream socket with nothing pending.
    expect_value(&socket, SocketOption::SocketType(Type::Stream), "after")?;
    expect_value(&socket, SocketOption::Error(None), "after")
}

pub(crate) fn option_getting_write_only_is_invalid_argument() -> CaseResult {
    for name in [
        OptionName::JoinMulticastV4,
        OptionName::LeaveMulticastV4,
        OptionName::JoinMulticastV6,
        OptionName::LeaveMulticastV6,
    ] {
        let socket = socket_for(name)?;
        expect_error(
            socket.option(name),
            ErrorCode::InvalidArgument,
            &format!("get {}", name.wit_name()),
        )?;
    }
    Ok(())
}

pub(crate) fn option_join_non_multicast_group_is_invalid_argument() -> CaseResult {
    let v4 = socket_for(OptionName::JoinMulticastV4)?;
    expect_rejected(
        &v4,
        &[
            SocketOption::JoinMulticastV4 {
                group: Ipv4Addr::LOCALHOST,
                interface: Ipv4Addr::UNSPECIFIED,
            },
            SocketOption::LeaveMulticastV4 {
                group: Ipv4Addr::new(192, 0, 2, 1),
                interface: Ipv4Addr::UNSPECIFIED,
            },
        ],
    )?;
    let v6 = socket_for(OptionName::JoinMulticastV6)?;
    expect_rejected(
        &v6,
        &[
            SocketOption::JoinMulticastV6 {
                group: Ipv6Addr::LOCALHOST,
                interface: 0,
            },
            SocketOption::LeaveMulticastV6 {
                group: Ipv6Addr::UNSPECIFIED,
                interface: 0,
            },
        ],
    )
}

/// Whether a call's outcome means "this backend lacks it".
fn said_unsupported<T>(result: &witsock::Result<T>) -> bool {
    matches!(result, Err(e) if is_unsupported(e.code()))
}

/// `capabilities()` says an option or feature is unsupported exactly when
/// using it answers `unsupported` / `option-not-supported`.
pub(crate) fn capabilities_agree_with_behaviour() -> CaseResult {
    let caps = capabilities();
    let mut disagreements = Vec::new();
    let mut check = |what: String, declared: Support, unsupported: bool| {
        if (declared == Support::Unsupported) != unsupported {
            disagreements.push(format!(
                "{what}: capabilities say {}, the call {}",
                declared.wit_name(),
                if unsupported {
                    "is unsupported"
                } else {
                    "is supported"
                }
            ));
        }
    };

    for &name in OptionName::ALL {
        let declared = caps.option(name);
        let socket = match socket_for(name) {
            Ok(socket) => socket,
            // No socket of its kind here (Unix sockets on wasi-p2): the
            // option is as unsupported as its socket.
            Err(CaseError::Unsupported(_)) => {
                check(format!("get {}", name.wit_name()), declared, true);
                continue;
            }
            Err(e) => return Err(e),
        };
        let values = values_for(name);
        match values.first() {
            // Read-only options: the get decides.
            None => check(
                format!("get {}", name.wit_name()),
                declared,
                said_unsupported(&socket.option(name)),
            ),
            Some(&value) => {
                if name == OptionName::LeaveMulticastV6 || name == OptionName::LeaveMulticastV4 {
                    // Leaving needs a group joined first.
                    let join = match name {
                        OptionName::LeaveMulticastV4 => OptionName::JoinMulticastV4,
                        _ => OptionName::JoinMulticastV6,
                    };
                    for join_value in values_for(join) {
                        let _ = socket.set_option(join_value);
                    }
                }
                check(
                    format!("set {}", name.wit_name()),
                    declared,
                    said_unsupported(&socket.set_option(value)),
                );
                let write_only = matches!(
                    name,
                    OptionName::JoinMulticastV4
                        | OptionName::LeaveMulticastV4
                        | OptionName::JoinMulticastV6
                        | OptionName::LeaveMulticastV6
                );
                if !write_only {
                    check(
                        format!("get {}", name.wit_name()),
                        declared,
                        said_unsupported(&socket.option(name)),
                    );
                }
            }
        }
    }

    let v6 = tcp_socket(Domain::Ipv6)?;
    check(
        "dual-stack (set ipv6-only false)".into(),
        caps.dual_stack,
        said_unsupported(&v6.set_option(SocketOption::Ipv6Only(false))),
    );
    check(
        "unix-sockets (socket pair)".into(),
        caps.unix_sockets,
        said_unsupported(&Socket::pair(Type::Stream, true)),
    );
    let blocking = tcp_socket(Domain::Ipv4)?;
    check(
        "blocking-mode (set-nonblocking false)".into(),
        caps.blocking_mode,
        said_unsupported(&blocking.set_nonblocking(false)),
    );

    let (client, server) = tcp_pair(Domain::Ipv4)?;
    let parts = [IoSlice::new(b"vec"), IoSlice::new(b"tored")];
    check(
        "vectored-io (send-vectored on TCP)".into(),
        caps.vectored_io,
        said_unsupported(&client.send_vectored(&parts, SendFlags::EMPTY)),
    );
    send_all(&client, b"peek")?;
    wait_for(&server, Interest::READABLE, "data to peek at")?;
    let mut buf = [0u8; 16];
    check(
        "peek (receive with peek)".into(),
        caps.peek,
        said_unsupported(&server.recv(&mut buf, RecvFlags::PEEK)),
    );
    check(
        "out-of-band (send out-of-band)".into(),
        caps.out_of_band,
        said_unsupported(&client.send(b"!", SendFlags::OUT_OF_BAND)),
    );

    ensure!(
        disagreements.is_empty(),
        "capabilities disagree with behaviour: {}",
        disagreements.join("; ")
    );
    Ok(())
}
