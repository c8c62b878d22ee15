//! The witsock imports' policy, seen from a guest: each kind of use
//! allowed and denied, Unix paths confined, quotas, and the options that
//! reach beyond the guest's own sockets.

mod imports_support;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use imports_support::{assert_result, rule, run_probe, stdout, TempDir};
use witsock::{Domain, SockAddr, Socket, SocketOption, Type};
use witsock_host::{Limits, Policy};

/// Runs the probe and returns its one line, checking it exited cleanly.
fn probe_line(policy: Policy, args: &[&str]) -> String {
    let outcome = run_probe(policy, args);
    let out = stdout(&outcome);
    assert!(
        outcome.status.success(),
        "{args:?}: {} {out} {}",
        outcome.status,
        String::from_utf8_lossy(&outcome.stderr)
    );
    out.trim().to_string()
}

/// A loopback port nobody is bound to (right now).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn bind_follows_the_bind_rules() {
    let policy = Policy::deny_all().allow_bind(rule("127.0.0.1:*"));
    assert_result(
        &probe_line(policy.clone(), &["bind", "127.0.0.1:0"]),
        "bind",
        "ok 127.0.0.1:",
    );
    assert_result(
        &probe_line(policy.clone(), &["udp-bind", "127.0.0.1:0"]),
        "udp-bind",
        "ok",
    );
    assert_result(
        &probe_line(policy.clone(), &["bind", "127.0.0.2:0"]),
        "bind",
        "access-denied",
    );
    assert_result(
        &probe_line(policy, &["bind", "[::1]:0"]),
        "bind",
        "access-denied",
    );
    assert_result(
        &probe_line(Policy::deny_all(), &["udp-bind", "127.0.0.1:0"]),
        "udp-bind",
        "access-denied",
    );
}

#[test]
fn errors_name_the_hosts_errno_as_the_host_does() {
    let held = TcpListener::bind("127.0.0.1:0").expect("a listener");
    let addr = held.local_addr().expect("its address").to_string();
    let policy = Policy::deny_all().allow_bind(rule("127.0.0.1:*"));
    let line = probe_line(policy, &["bind", &addr]);
    let (raw, name) = witsock::errno::ERRNO_NAMES
        .iter()
        .find(|(_, name)| *name == "EADDRINUSE")
        .expect("the host's table names EADDRINUSE");
    assert!(
        line.starts_with("bind: address-in-use (")
            && line.contains(&format!("({name}, host errno {raw})")),
        "{line}"
    );
    drop(held);
}

#[test]
fn a_denied_connect_never_reaches_the_network() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("non-blocking");
    let addr = listener.local_addr().expect("address");
    let target = addr.to_string();

    // Denied: another port is allowed, not this one.
    let other = rule(&format!("127.0.0.1:{}", addr.port() ^ 1));
    let line = probe_line(
        Policy::deny_all().allow_connect(other),
        &["connect", &target],
    );
    assert_result(&line, "connect", "access-denied");
    let nothing = listener.accept();
    assert!(
        matches!(&nothing, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the listener saw a connection: {nothing:?}"
    );

    // Allowed: the same listener sees the guest.
    let allowed = rule(&format!("127.0.0.1:{}", addr.port()));
    let line = probe_line(
        Policy::deny_all().allow_connect(allowed),
        &["connect", &target],
    );
    assert_result(&line, "connect", "ok");
    listener.set_nonblocking(false).expect("blocking");
    let (_, peer) = listener.accept().expect("the guest's connection");
    assert_eq!(peer.ip(), addr.ip());
}

/// Connects from `local` (a host socket bound there) to `to`, retrying
/// while nobody listens yet.
fn connect_from(local: &str, to: SocketAddr) -> Socket {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let socket = Socket::new(Domain::Ipv4, Type::Stream, None).expect("socket");
        let from: SocketAddr = local.parse().expect("address");
        socket.bind(&from.into()).expect("bind");
        match socket.connect_timeout(&to.into(), Duration::from_secs(5)) {
            Ok(()) => return socket,
            Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("connect from {local} to {to}: {e}"),
        }
    }
}

#[test]
fn accepted_peers_follow_the_accept_rules() {
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let policy = Policy::deny_all()
        .allow_bind(rule("127.0.0.1:*"))
        .allow_accept(rule("127.0.0.1:*"));
    let target = addr.to_string();
    let guest = thread::spawn(move || probe_line(policy, &["accept-one", &target]));

    // Refused first (127.0.0.2 is not in the accept rules), then allowed.
    let refused = connect_from("127.0.0.2:0", addr);
    let allowed = connect_from("127.0.0.1:0", addr);
    let line = guest.join().expect("the guest thread");
    let allowed_addr = allowed.local_addr().expect("local address");
    assert_eq!(line, format!("accept-one: ok {allowed_addr}"));

    // The refused connection was closed by the host, unseen by the guest.
    let mut buf = [0u8; 1];
    refused.set_nonblocking(false).expect("blocking");
    refused
        .set_option(SocketOption::ReceiveTimeout(Some(Duration::from_secs(10))))
        .expect("timeout");
    match refused.recv(&mut buf, witsock::RecvFlags::EMPTY) {
        Ok(0) => {}
        Err(e) if e.code() == witsock::ErrorCode::ConnectionReset => {}
        other => panic!("the refused connection is still open: {other:?}"),
    }
}

#[test]
fn datagrams_go_only_to_allowed_destinations() {
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("receiver");
    receiver.set_nonblocking(true).expect("non-blocking");
    let addr = receiver.local_addr().expect("address");
    let target = addr.to_string();

    let other = rule(&format!("127.0.0.1:{}", addr.port() ^ 1));
    let line = probe_line(
        Policy::deny_all().allow_udp_send(other),
        &["udp-send", &target],
    );
    assert_result(&line, "udp-send", "access-denied");
    let mut buf = [0u8; 16];
    assert!(
        receiver.recv_from(&mut buf).is_err(),
        "a denied datagram arrived"
    );

    let allowed = rule(&format!("127.0.0.1:{}", addr.port()));
    let line = probe_line(
        Policy::deny_all().allow_udp_send(allowed),
        &["udp-send", &target],
    );
    assert_result(&line, "udp-send", "ok 5");
    receiver.set_nonblocking(false).expect("blocking");
    receiver
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let (n, _) = receiver.recv_from(&mut buf).expect("the datagram");
    assert_eq!(&buf[..n], b"probe");
}

#[test]
fn batches_go_out_whole_in_chunks_and_stop_at_a_refused_destination() {
    let policy = Policy::loopback();
    // More than one host chunk (64 datagrams).
    assert_eq!(
        probe_line(policy, &["batch", "200"]),
        "batch: ok sent 200 received 200"
    );
    let policy = Policy::deny_all()
        .allow_bind(rule("127.0.0.1:*"))
        .allow_udp_peer(rule("127.0.0.1:*"));
    assert_eq!(
        probe_line(policy, &["batch-refused"]),
        "batch-refused: ok sent 5 received 5 then access-denied, nothing more"
    );
}

#[test]
fn datagrams_from_refused_senders_are_dropped_unseen() {
    let port = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let policy = Policy::deny_all()
        .allow_bind(rule("127.0.0.1:*"))
        .allow_udp_receive(rule("127.0.0.1:*"));
    let target = addr.to_string();
    let guest = thread::spawn(move || probe_line(policy, &["udp-receive", &target]));

    let refused = UdpSocket::bind("127.0.0.2:0").expect("refused sender");
    let allowed = UdpSocket::bind("127.0.0.1:0").expect("allowed sender");
    // The guest binds when it runs: keep sending, the refused sender first,
    // until it has received one.
    while !guest.is_finished() {
        refused.send_to(b"refused", addr).expect("send");
        allowed.send_to(b"allowed", addr).expect("send");
        thread::sleep(Duration::from_millis(20));
    }
    let line = guest.join().expect("the guest thread");
    let from = allowed.local_addr().expect("address");
    assert_eq!(line, format!("udp-receive: ok allowed from {from}"));
}

#[test]
fn unix_paths_stay_in_granted_directories() {
    let root = TempDir::new("unix-policy");
    let granted = root.path().join("granted");
    let outside = root.path().join("outside");
    std::fs::create_dir_all(&granted).expect("granted directory");
    std::fs::create_dir_all(&outside).expect("outside directory");
    std::os::unix::fs::symlink(&outside, granted.join("escape")).expect("symlink");
    let policy = Policy::deny_all().allow_unix_dir(&granted).expect("grant");
    let path = |p: &std::path::Path| p.to_string_lossy().into_owned();

    let inside = granted.join("a.sock");
    assert_result(
        &probe_line(policy.clone(), &["unix-bind", &path(&inside)]),
        "unix-bind",
        "ok",
    );
    assert!(inside.exists(), "binding inside did not create the file");

    for (what, target) in [
        ("outside", outside.join("b.sock")),
        ("through ..", granted.join("../outside/c.sock")),
        ("through a symlink", granted.join("escape/d.sock")),
    ] {
        let line = probe_line(policy.clone(), &["unix-bind", &path(&target)]);
        assert_result(&line, "unix-bind", "access-denied");
        assert!(
            std::fs::read_dir(&outside)
                .expect("listing")
                .next()
                .is_none(),
            "{what}: a file appeared outside"
        );
    }

    // A symlink inside pointing at a socket outside: connecting is refused
    // and the listener outside sees nothing.
    let listener_path = outside.join("listener.sock");
    let listener = std::os::unix::net::UnixListener::bind(&listener_path).expect("listener");
    listener.set_nonblocking(true).expect("non-blocking");
    let link = granted.join("link.sock");
    std::os::unix::fs::symlink(&listener_path, &link).expect("symlink");
    let line = probe_line(policy.clone(), &["unix-connect", &path(&link)]);
    assert_result(&line, "unix-connect", "access-denied");
    assert!(
        listener.accept().is_err(),
        "the listener outside saw a connection"
    );

    // A listener inside is reachable.
    let reachable = granted.join("reachable.sock");
    let inner = std::os::unix::net::UnixListener::bind(&reachable).expect("listener");
    let line = probe_line(policy, &["unix-connect", &path(&reachable)]);
    assert_result(&line, "unix-connect", "ok");
    inner.set_nonblocking(true).expect("non-blocking");
    assert!(inner.accept().is_ok(), "the listener inside saw nothing");

    // Without a grant there are no Unix sockets at all: a refusal of the
    // policy (access-denied without a native code), not a missing feature.
    let line = probe_line(
        Policy::loopback(),
        &["unix-bind", &path(&granted.join("e.sock"))],
    );
    assert_result(&line, "unix-bind", "access-denied");
}

#[test]
fn abstract_names_and_pairs_need_their_grants() {
    let policy = Policy::deny_all().allow_abstract_prefix("witsock-probe-");
    let name = format!("witsock-probe-{}", std::process::id());
    assert_result(
        &probe_line(policy.clone(), &["abstract-bind", &name]),
        "abstract-bind",
        "ok",
    );
    assert_result(
        &probe_line(policy.clone(), &["abstract-bind", "someone-else"]),
        "abstract-bind",
        "access-denied",
    );
    assert_result(
        &probe_line(policy.clone(), &["pair"]),
        "pair",
        "access-denied",
    );
    assert_result(
        &probe_line(Policy::deny_all(), &["pair"]),
        "pair",
        "access-denied",
    );
    assert_result(
        &probe_line(Policy::deny_all().allow_socket_pairs(true), &["pair"]),
        "pair",
        "ok",
    );
}

#[test]
fn quotas_refuse_what_exceeds_them() {
    let limits = Limits {
        max_sockets: 5,
        max_backlog: 8,
        max_bytes_per_call: 1024,
    };
    let policy = Policy::loopback().with_limits(limits);
    assert_eq!(
        probe_line(policy.clone(), &["open", "10"]),
        "open: opened 5 of 10, then too-many-sockets"
    );
    // A backlog past the quota is clamped to it, as the kernel clamps one
    // past somaxconn.
    assert_result(
        &probe_line(policy.clone(), &["listen-backlog", "9"]),
        "listen-backlog",
        "ok",
    );
    assert_result(
        &probe_line(policy.clone(), &["listen-backlog", "8"]),
        "listen-backlog",
        "ok",
    );
    assert_result(
        &probe_line(policy.clone(), &["receive-len", "1025"]),
        "receive-len",
        "invalid-argument",
    );
    assert_result(
        &probe_line(policy, &["receive-len", "1024"]),
        "receive-len",
        "would-block",
    );
}

#[test]
fn options_beyond_the_guests_sockets_need_grants() {
    let policy = Policy::loopback();
    assert_result(
        &probe_line(policy.clone(), &["linger", "5"]),
        "linger",
        "access-denied",
    );
    assert_result(
        &probe_line(policy.clone(), &["linger", "0"]),
        "linger",
        "ok",
    );
    assert_result(
        &probe_line(
            policy.clone().allow_linger(Duration::from_secs(10)),
            &["linger", "5"],
        ),
        "linger",
        "ok",
    );
    let multicast = policy.clone().allow_bind(rule("0.0.0.0:*"));
    assert_result(
        &probe_line(multicast.clone(), &["join-multicast"]),
        "join-multicast",
        "access-denied",
    );
    assert_result(
        &probe_line(multicast.allow_multicast(true), &["join-multicast"]),
        "join-multicast",
        "ok",
    );
}

#[test]
fn reuse_port_shares_only_the_guests_own_ports() {
    // A host listener with SO_REUSEPORT: the guest may not join it.
    let host = Socket::new(Domain::Ipv4, Type::Stream, None).expect("socket");
    host.set_option(SocketOption::ReusePort(true))
        .expect("reuse-port");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("address");
    host.bind(&SockAddr::from(any)).expect("bind");
    host.listen(4).expect("listen");
    let port = host
        .local_addr()
        .expect("address")
        .as_socket()
        .expect("ip")
        .port();
    let port = port.to_string();

    let policy = Policy::loopback();
    assert_result(
        &probe_line(policy.clone(), &["reuse-port", &port]),
        "reuse-port",
        "address-in-use",
    );
    assert_result(
        &probe_line(
            policy.clone().allow_shared_ports(true),
            &["reuse-port", &port],
        ),
        "reuse-port",
        "ok",
    );
    // Its own sockets share a port as natively.
    assert_result(
        &probe_line(policy, &["reuse-port-own"]),
        "reuse-port-own",
        "ok both on",
    );
}

#[test]
fn name_lookup_needs_a_grant() {
    let policy = Policy::loopback();
    assert_result(
        &probe_line(policy.clone(), &["resolve", "localhost"]),
        "resolve",
        "access-denied",
    );
    assert_result(
        &probe_line(
            policy.clone().allow_name_lookup(true),
            &["resolve", "localhost"],
        ),
        "resolve",
        "ok ",
    );
    // A literal is no lookup: it resolves to itself in the guest, without
    // the grant.
    assert_result(
        &probe_line(policy, &["resolve", "127.0.0.1"]),
        "resolve",
        "ok 127.0.0.1:80",
    );
}
