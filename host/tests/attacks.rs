//! The host attacked as a guest that wants out of its policy would attack
//! it, each attack bounded in time. Every test counts what a victim
//! outside the grant received, so a break shows as a number, not as a
//! message.
//!
//! - Unix paths: a directory in the grant swapped with a symlink that
//!   leads out, while two guests connect and bind through it; an outside
//!   server replying to a guest's address, which must lead back to the
//!   guest and nowhere else; names that outlive their socket.
//! - Port sharing: a guest that holds a port on one address joining a
//!   victim's `SO_REUSEPORT` socket on another.
//! - Listening on a port the system picked under a port-0 rule.
//! - Dual-stack IPv6 sockets slipping IPv4 past IPv4's rules.
//! - Unspecified destinations and port 0 reaching the local host.
//! - World-writable directories as grants.
//! - The CLI fed arguments that are not UTF-8.
//! - Traps the host raises: the reason reaches the user.
//! - Sockets, memory and time: a guest that takes all it can is stopped
//!   at its quota.

mod common;
mod imports_support;

use std::ffi::OsStr;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use imports_support::{
    assert_result, host_command, one_clear_line, probe, rule, run_probe, run_probe_with, stdout,
    TempDir,
};
use witsock::{Domain, SockAddr, Socket, SocketOption, Type};
use witsock_host::{GuestLimits, GuestStatus, Limits, Policy, RunOptions, Stdio};

/// The probe's report line for `mode` (its other lines are progress).
fn probe_line(policy: Policy, args: &[&str]) -> String {
    let outcome = run_probe(policy, args);
    report_line(&outcome, args)
}

fn report_line(outcome: &witsock_host::RunOutcome, args: &[&str]) -> String {
    let out = stdout(outcome);
    assert!(
        outcome.status.success(),
        "{args:?}: {} {out} {}",
        outcome.status,
        String::from_utf8_lossy(&outcome.stderr)
    );
    let prefix = format!("{}: ", args[0]);
    out.lines()
        .find(|line| line.starts_with(&prefix))
        .unwrap_or_else(|| panic!("{args:?}: no report in {out}"))
        .to_string()
}

/// The count after `key=` in a loop report (0 when absent).
fn outcome_count(line: &str, key: &str) -> usize {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(&format!("{key}=")))
        .map_or(0, |n| n.parse().expect("a count"))
}

/// Accepts on `listener` from another thread until `stop`, counting.
fn count_accepts(listener: UnixListener, stop: Arc<AtomicBool>) -> thread::JoinHandle<usize> {
    listener.set_nonblocking(true).expect("non-blocking");
    thread::spawn(move || {
        let mut accepted = 0;
        loop {
            match listener.accept() {
                Ok(_) => accepted += 1,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if stop.load(Ordering::Relaxed) {
                        return accepted;
                    }
                    thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    })
}

/// Two guests connect and bind through `granted/sub` while another writer
/// to the granted directory keeps exchanging `sub` (a directory holding a
/// decoy listener) with a symlink to `../outside` (where the victim
/// listens). Nothing may reach the victim or create a file outside, and
/// both states of `sub` must have been seen, so the race really ran.
#[test]
fn a_directory_swapped_for_a_symlink_leads_nowhere() {
    let root = TempDir::new("attack-swap");
    let granted = root.path().join("granted");
    let outside = root.path().join("outside");
    std::fs::create_dir_all(granted.join("sub")).expect("sub");
    std::fs::create_dir_all(&outside).expect("outside");
    std::os::unix::fs::symlink("../outside", granted.join("alt")).expect("symlink");
    let stop = Arc::new(AtomicBool::new(false));
    let victim = count_accepts(
        UnixListener::bind(outside.join("victim.sock")).expect("victim"),
        stop.clone(),
    );
    let decoy = count_accepts(
        UnixListener::bind(granted.join("sub/victim.sock")).expect("decoy"),
        stop.clone(),
    );

    let swaps = Arc::new(AtomicUsize::new(0));
    let swapper = {
        let (granted, stop, swaps) = (granted.clone(), stop.clone(), swaps.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    granted.join("sub"),
                    rustix::fs::CWD,
                    granted.join("alt"),
                    rustix::fs::RenameFlags::EXCHANGE,
                )
                .expect("exchange");
                swaps.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let policy = Policy::deny_all().allow_unix_dir(&granted).expect("grant");
    let guest = |args: Vec<String>| {
        let options = RunOptions {
            policy: policy.clone(),
            preopens: vec![granted.clone()],
            ..RunOptions::default()
        };
        thread::spawn(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            report_line(&run_probe_with(options, &args), &args)
        })
    };
    let target = granted.join("sub/victim.sock").display().to_string();
    let created = granted.join("sub/new.sock").display().to_string();
    let connector = guest(vec!["unix-connect-loop".into(), target, "1500".into()]);
    let binder = guest(vec!["unix-bind-loop".into(), created, "1500".into()]);
    let connects = connector.join().expect("connecting guest");
    let binds = binder.join().expect("binding guest");
    stop.store(true, Ordering::Relaxed);
    swapper.join().expect("swapper");
    let reached_victim = victim.join().expect("victim");
    let reached_decoy = decoy.join().expect("decoy");

    eprintln!(
        "{} swaps; {connects}; {binds}; the decoy accepted {reached_decoy}, the victim {reached_victim}",
        swaps.load(Ordering::Relaxed)
    );
    assert_eq!(reached_victim, 0, "connects reached the victim: {connects}");
    let leaked: Vec<_> = std::fs::read_dir(&outside)
        .expect("outside")
        .map(|entry| entry.expect("entry").file_name())
        .filter(|name| name != "victim.sock")
        .collect();
    assert!(
        leaked.is_empty(),
        "files created outside: {leaked:?} ({binds})"
    );
    // Both states were seen: connects got through to the decoy, and were
    // refused through the symlink; binds likewise.
    assert!(swaps.load(Ordering::Relaxed) > 1000, "too few swaps");
    assert!(reached_decoy > 0, "{connects}");
    assert!(outcome_count(&connects, "access-denied") > 0, "{connects}");
    assert!(outcome_count(&binds, "ok") > 0, "{binds}");
    assert!(outcome_count(&binds, "access-denied") > 0, "{binds}");
}

/// A victim's UDP socket with SO_REUSEPORT on 127.0.0.1:P; the guest binds
/// 127.0.0.2:P first, then tries to join 127.0.0.1:P. Datagrams sent to
/// the victim while the guest runs must all reach the victim.
#[test]
fn holding_a_port_on_one_address_does_not_share_another() {
    let victim = Socket::new(Domain::Ipv4, Type::Datagram, None).expect("socket");
    victim
        .set_option(SocketOption::ReusePort(true))
        .expect("reuse-port");
    victim
        .bind(&SockAddr::from(
            "127.0.0.1:0".parse::<SocketAddr>().unwrap(),
        ))
        .expect("bind");
    victim
        .set_option(SocketOption::ReceiveTimeout(Some(Duration::from_millis(
            100,
        ))))
        .expect("timeout");
    let target = victim.local_addr().unwrap().as_socket().unwrap();
    let port = target.port();

    let sender = thread::spawn(move || {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("sender");
        for _ in 0..20 {
            thread::sleep(Duration::from_millis(25));
            socket.send_to(b"for the victim", target).expect("send");
        }
    });
    let line = probe_line(
        Policy::loopback(),
        &[
            "reuse-port-after",
            "udp",
            &format!("127.0.0.2:{port}"),
            &format!("127.0.0.1:{port}"),
            "800",
        ],
    );
    sender.join().expect("sender");
    assert_result(&line, "reuse-port-after", "address-in-use");
    let mut received = 0;
    let mut buf = [0u8; 64];
    while victim.recv(&mut buf, witsock::RecvFlags::EMPTY).is_ok() {
        received += 1;
    }
    assert_eq!(received, 20, "{line}");
}

/// A victim listening with SO_REUSEPORT on 0.0.0.0:P; the guest binds
/// [::1]:P (IPv6 only) first, then tries to join 0.0.0.0:P. Every client
/// must reach the victim.
#[test]
fn holding_a_port_in_one_family_does_not_share_the_wildcard_of_another() {
    let victim = Socket::new(Domain::Ipv4, Type::Stream, None).expect("socket");
    victim
        .set_option(SocketOption::ReusePort(true))
        .expect("reuse-port");
    victim
        .bind(&SockAddr::from("0.0.0.0:0".parse::<SocketAddr>().unwrap()))
        .expect("bind");
    victim.listen(64).expect("listen");
    let port = victim.local_addr().unwrap().as_socket().unwrap().port();
    let policy = Policy::loopback()
        .allow_bind(rule("0.0.0.0:*"))
        .allow_bind(rule("[::]:*"));

    let clients = thread::spawn(move || {
        let mut connected = 0;
        for _ in 0..20 {
            thread::sleep(Duration::from_millis(25));
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                connected += 1;
            }
        }
        connected
    });
    let line = probe_line(
        policy,
        &[
            "reuse-port-after",
            "tcp",
            &format!("[::1]:{port}"),
            &format!("0.0.0.0:{port}"),
            "800",
        ],
    );
    let connected = clients.join().expect("clients");
    assert_result(&line, "reuse-port-after", "address-in-use");
    victim.set_nonblocking(true).expect("non-blocking");
    let mut accepted = 0;
    while let Ok(Some(_)) = victim.try_accept() {
        accepted += 1;
    }
    assert_eq!((connected, accepted), (20, 20), "{line}");
}

/// The guest's own port sharing still works on exactly the address it
/// holds.
#[test]
fn a_guest_shares_exactly_the_address_it_holds() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let line = probe_line(
        Policy::loopback(),
        &[
            "reuse-port-after",
            "udp",
            &format!("127.0.0.1:{port}"),
            &format!("127.0.0.1:{port}"),
            "10",
        ],
    );
    assert_result(
        &line,
        "reuse-port-after",
        &format!("ok bound 127.0.0.1:{port}"),
    );
}

/// `--allow-bind 0.0.0.0:0` lets a socket bind to a port the system
/// picks, not listen there.
#[test]
fn a_port_zero_rule_does_not_let_a_guest_listen() {
    let port_zero = Policy::deny_all().allow_bind(rule("0.0.0.0:0"));
    assert_result(
        &probe_line(port_zero.clone(), &["bind", "0.0.0.0:0"]),
        "bind",
        "ok 0.0.0.0:",
    );
    assert_result(
        &probe_line(port_zero, &["listen", "0.0.0.0:0"]),
        "listen",
        "access-denied",
    );
    let every_port = Policy::deny_all().allow_bind(rule("0.0.0.0:*"));
    assert_result(
        &probe_line(every_port, &["listen", "0.0.0.0:0"]),
        "listen",
        "ok 0.0.0.0:",
    );
}

/// A dual-stack listener on `[::]` also listens on IPv4: it needs IPv4's
/// rule too.
#[test]
fn a_dual_stack_listener_needs_both_families_allowed() {
    let v6_only_rules = Policy::deny_all().allow_bind(rule("[::]:*"));
    assert_result(
        &probe_line(v6_only_rules.clone(), &["listen", "[::]:0"]),
        "listen",
        "access-denied",
    );
    assert_result(
        &probe_line(v6_only_rules.clone(), &["listen", "[::]:0", "v6only"]),
        "listen",
        "ok [::]:",
    );
    assert_result(
        &probe_line(
            v6_only_rules.allow_bind(rule("0.0.0.0:*")),
            &["listen", "[::]:0"],
        ),
        "listen",
        "ok [::]:",
    );
}

/// Receiving only from IPv6 senders on a dual-stack socket: IPv4 senders
/// are dropped, not waved through because the socket is IPv6.
#[test]
fn a_dual_stack_socket_filters_ipv4_senders_too() {
    let port = UdpSocket::bind("[::]:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port();
    let policy = Policy::deny_all()
        .allow_bind(rule("[::]:*"))
        .allow_bind(rule("0.0.0.0:*"))
        .allow_udp_receive(rule("[::]/0:*"));
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let stop = stop.clone();
        thread::spawn(move || {
            let v4 = UdpSocket::bind("127.0.0.1:0").expect("v4 sender");
            let v6 = UdpSocket::bind("[::1]:0").expect("v6 sender");
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) && sent < 200 {
                let _ = v4.send_to(b"v4", ("127.0.0.1", port));
                let _ = v6.send_to(b"v6", ("::1", port));
                sent += 1;
                thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let line = probe_line(
        policy,
        &["udp-receive-count", &format!("[::]:{port}"), "1000"],
    );
    stop.store(true, Ordering::Relaxed);
    sender.join().expect("sender");
    assert_result(&line, "udp-receive-count", "ok received");
    assert!(line.contains("[::1]:"), "no IPv6 datagram arrived: {line}");
    assert!(
        !line.contains("127.0.0.1"),
        "an IPv4 sender got through: {line}"
    );
}

/// Rules naming unspecified addresses do not reach the services on the
/// local host; neither does port 0.
#[test]
fn unspecified_destinations_and_port_zero_are_invalid() {
    let v4 = TcpListener::bind("127.0.0.1:0").expect("v4 listener");
    let port = v4.local_addr().unwrap().port();
    let v6 = TcpListener::bind(("::1", port)).expect("v6 listener");
    let udp = UdpSocket::bind(("127.0.0.1", port)).expect("udp victim");
    let policy = Policy::deny_all()
        .allow_connect(rule(&format!("0.0.0.0:{port}")))
        .allow_connect(rule(&format!("[::]:{port}")))
        .allow_connect(rule(&format!("[::ffff:0.0.0.0]:{port}")))
        .allow_udp_send(rule(&format!("0.0.0.0:{port}")))
        .allow_udp_send(rule("127.0.0.1:*"));
    for addr in [
        format!("0.0.0.0:{port}"),
        format!("[::]:{port}"),
        format!("[::ffff:0.0.0.0]:{port}"),
    ] {
        assert_result(
            &probe_line(policy.clone(), &["connect", &addr]),
            "connect",
            "invalid-argument",
        );
    }
    for addr in [format!("0.0.0.0:{port}"), "127.0.0.1:0".to_string()] {
        assert_result(
            &probe_line(policy.clone(), &["udp-send", &addr]),
            "udp-send",
            "invalid-argument",
        );
    }
    for listener in [&v4, &v6] {
        listener.set_nonblocking(true).unwrap();
        assert_eq!(
            listener.accept().map(|_| ()).map_err(|e| e.kind()),
            Err(ErrorKind::WouldBlock),
            "a connection arrived"
        );
    }
    udp.set_nonblocking(true).unwrap();
    assert_eq!(
        udp.recv(&mut [0u8; 16]).map_err(|e| e.kind()),
        Err(ErrorKind::WouldBlock),
        "a datagram arrived"
    );
}

/// A grant covers everything below it: the system's temporary directory
/// is refused unless forced.
#[test]
fn world_writable_directories_are_not_granted_unless_forced() {
    let tmp = Path::new("/tmp");
    let refused = Policy::deny_all()
        .allow_unix_dir(tmp)
        .expect_err("/tmp granted");
    assert!(refused.to_string().contains("world-writable"), "{refused}");
    assert!(Policy::deny_all().allow_shared_unix_dir(tmp).is_ok());

    let output = host_command(&[
        OsStr::new("run"),
        probe().path().as_os_str(),
        OsStr::new("--allow-unix"),
        OsStr::new("/tmp"),
    ]);
    let line = one_clear_line(&output);
    assert_eq!(output.status.code(), Some(2), "{line}");
    assert!(line.contains("--allow-unix /tmp") && line.contains("world-writable"));
}

#[test]
fn arguments_that_are_not_utf8_get_an_error_not_a_panic() {
    let bad = OsStr::from_bytes(b"\xff\xfe");
    let guest = probe().path().as_os_str();
    let cases: [(Vec<&OsStr>, &str); 4] = [
        (vec![OsStr::new("run"), bad], "cannot load"),
        (
            vec![OsStr::new("run"), guest, OsStr::new("--allow-bind"), bad],
            "the rule",
        ),
        (
            vec![OsStr::new("run"), guest, OsStr::new("--allow-unix"), bad],
            "the directory",
        ),
        (
            vec![
                OsStr::new("run"),
                guest,
                OsStr::new("--"),
                OsStr::new("bind"),
                bad,
            ],
            "guest argument 2",
        ),
    ];
    for (args, expected) in cases {
        let output = host_command(&args);
        let line = one_clear_line(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {line}");
        assert!(line.contains(expected), "{args:?}: {line}");
    }
    // A command that is not UTF-8 is unknown; the usage follows.
    let output = host_command(&[bad]);
    let text = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    assert!(text.starts_with("witsock-host: unknown command"), "{text}");
}

/// Traps the host raises keep their reason, in the API and in the CLI.
#[test]
fn traps_the_host_raises_say_why() {
    for mode in [
        "forged-handle",
        "use-after-drop",
        "wrong-handle-type",
        "drop-socket-before-pollable",
    ] {
        let outcome = run_probe(Policy::loopback(), &[mode]);
        let GuestStatus::Trapped(why) = &outcome.status else {
            panic!("{mode}: {}", outcome.status);
        };
        assert!(!why.contains("backtrace"), "{mode}: {why}");
        assert!(
            why.contains("handle") || why.contains("resource") || why.contains("borrow"),
            "{mode}: `{why}` gives no reason"
        );
        let output = host_command(&[
            OsStr::new("run"),
            probe().path().as_os_str(),
            OsStr::new("--allow-bind"),
            OsStr::new("127.0.0.1:*"),
            OsStr::new("--"),
            OsStr::new(mode),
        ]);
        let line = one_clear_line(&output);
        assert_eq!(output.status.code(), Some(134), "{mode}: {line}");
        assert!(line.ends_with(&format!("trapped: {why}")), "{mode}: {line}");
    }
}

#[test]
fn a_guest_that_takes_memory_is_stopped_at_its_limit() {
    let options = RunOptions {
        limits: GuestLimits {
            max_memory: 16 << 20,
            ..GuestLimits::default()
        },
        ..RunOptions::default()
    };
    let outcome = run_probe_with(options, &["grow-memory", "64"]);
    let GuestStatus::Trapped(why) = &outcome.status else {
        panic!("{}: {}", outcome.status, stdout(&outcome));
    };
    assert!(why.contains("memory"), "{why}");
    // Under the default limit the same guest gets what it asked for.
    let line = probe_line(Policy::deny_all(), &["grow-memory", "64"]);
    assert_eq!(line, "grow-memory: ok 64 MiB");

    let output = host_command(&[
        OsStr::new("run"),
        probe().path().as_os_str(),
        OsStr::new("--max-memory"),
        OsStr::new("16M"),
        OsStr::new("--"),
        OsStr::new("grow-memory"),
        OsStr::new("64"),
    ]);
    let line = one_clear_line(&output);
    assert_eq!(output.status.code(), Some(134), "{line}");
    assert!(line.contains("memory"), "{line}");
}

#[test]
fn a_guest_that_never_stops_is_stopped_at_its_time_limit() {
    let started = Instant::now();
    let output = host_command(&[
        OsStr::new("run"),
        probe().path().as_os_str(),
        OsStr::new("--max-wall-time"),
        OsStr::new("0.3"),
        OsStr::new("--"),
        OsStr::new("spin"),
    ]);
    let line = one_clear_line(&output);
    assert_eq!(output.status.code(), Some(134), "{line}");
    assert!(line.contains("interrupt"), "{line}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    for bad in ["0", "-1", "soon", "NaN"] {
        let output = host_command(&[
            OsStr::new("run"),
            probe().path().as_os_str(),
            OsStr::new("--max-wall-time"),
            OsStr::new(bad),
        ]);
        let line = one_clear_line(&output);
        assert_eq!(output.status.code(), Some(2), "{bad}: {line}");
    }
}

/// A guest on wasi:sockets holds at most its quota of sockets; the ones it
/// drops do not count.
#[test]
fn wasi_sockets_guests_are_held_to_their_socket_quota() {
    let guest = common::guest();
    let run = |args: &[&str], max: usize| {
        guest
            .run(&RunOptions {
                args: args.iter().map(|a| a.to_string()).collect(),
                // What the suite needs, under a smaller quota.
                policy: {
                    let policy = witsock_host::conformance::conformance_policy();
                    let limits = Limits {
                        max_sockets: max,
                        ..*policy.limits()
                    };
                    policy.with_limits(limits)
                },
                stdout: Stdio::Capture,
                stderr: Stdio::Capture,
                ..RunOptions::default()
            })
            .expect("the guest runs")
    };
    // Five fit (the guest then traps on purpose, holding them).
    let outcome = run(&["--open-and-trap", "5"], 5);
    assert!(
        stdout(&outcome).starts_with("opened 5 listeners"),
        "{}",
        stdout(&outcome)
    );
    // The sixth is refused with an error, not a trap.
    let outcome = run(&["--open-and-trap", "6"], 5);
    let stderr = String::from_utf8_lossy(&outcome.stderr);
    assert_eq!(outcome.status, GuestStatus::Exited(1), "{stderr}");
    assert!(
        stderr.contains("listener 5 of 6") && stderr.contains("too many sockets"),
        "{stderr}"
    );
    // The whole suite creates and drops hundreds of sockets, a few at a
    // time, except one case that holds 1000 connections at once: under a
    // quota of 64 that case alone fails, with the quota's error, so
    // dropped sockets stop counting and the limit holds mid-run.
    let outcome = run(&[], 64);
    let reports: Vec<_> = stdout(&outcome)
        .lines()
        .filter_map(witsock_conformance::Report::from_json_line)
        .collect();
    let passed = reports
        .iter()
        .filter(|r| r.outcome == witsock_conformance::Outcome::Pass)
        .count();
    let failed: Vec<_> = reports
        .iter()
        .filter_map(|r| match &r.outcome {
            witsock_conformance::Outcome::Fail(why) => Some((r.case.as_str(), why.as_str())),
            _ => None,
        })
        .collect();
    assert!(passed >= 600, "{passed} cases passed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, "try_accept_burst_of_1000_connections");
    assert!(failed[0].1.contains("too many sockets"), "{failed:?}");
}

/// Run as a process of its own by
/// `an_outside_server_replying_to_guests_reaches_only_the_guests`: echoes
/// datagrams on `WITSOCK_ECHO_SOCKET` back to their senders, forty of
/// them or for eight seconds, holding descriptors open on `WITSOCK_ECHO_DECOY` the whole
/// time (so that a sender name read through its own descriptors would lead
/// there), and prints each sender.
#[test]
#[ignore = "a helper process, started by another test"]
fn outside_echo_server() {
    use std::os::unix::net::UnixDatagram;
    let (Ok(path), Ok(decoy)) = (
        std::env::var("WITSOCK_ECHO_SOCKET"),
        std::env::var("WITSOCK_ECHO_DECOY"),
    ) else {
        return;
    };
    let _decoys: Vec<std::fs::File> = (0..64)
        .map(|_| std::fs::File::open(&decoy).expect("the decoy directory"))
        .collect();
    let socket = UnixDatagram::bind(&path).expect("the server socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    println!("ready");
    let end = Instant::now() + Duration::from_secs(8);
    let mut buf = [0u8; 64];
    let mut echoed = 0;
    while echoed < 40 && Instant::now() < end {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let Some(from) = from.as_pathname() else {
            println!("from an unnamed socket");
            continue;
        };
        let sent = socket.send_to(&buf[..n], from);
        echoed += usize::from(sent.is_ok());
        println!("from {} reply {}", from.display(), sent.is_ok());
    }
}

/// A guest binds datagram sockets in forty directories of its grant and
/// pings a server in another process, which replies to each sender
/// address. The replies reach the guest, and none reaches the victim that
/// has the same name in a directory the server holds open.
#[test]
fn an_outside_server_replying_to_guests_reaches_only_the_guests() {
    use std::os::unix::net::UnixDatagram;
    let root = TempDir::new("attack-reply");
    let granted = root.path().join("granted");
    let victim_dir = root.path().join("victim");
    for i in 0..40 {
        std::fs::create_dir_all(granted.join(format!("d{i}"))).expect("subdirectory");
    }
    std::fs::create_dir_all(&victim_dir).expect("victim directory");
    let victim = UnixDatagram::bind(victim_dir.join("c.sock")).expect("victim");
    victim.set_nonblocking(true).expect("non-blocking");
    let server_path = granted.join("server.sock");

    let server = Command::new(std::env::current_exe().expect("this test"))
        .args(["--ignored", "--exact", "outside_echo_server", "--nocapture"])
        .env("WITSOCK_ECHO_SOCKET", &server_path)
        .env("WITSOCK_ECHO_DECOY", &victim_dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the server process");
    let ready = Instant::now() + Duration::from_secs(10);
    while !server_path.exists() && Instant::now() < ready {
        thread::sleep(Duration::from_millis(10));
    }
    let policy = Policy::deny_all().allow_unix_dir(&granted).expect("grant");
    let prefix = format!("{}/d", granted.display());
    let line = probe_line(
        policy,
        &[
            "unix-dgram-spray",
            &prefix,
            "c.sock",
            &server_path.display().to_string(),
            "40",
        ],
    );
    let output = server.wait_with_output().expect("the server ends");
    let log = String::from_utf8_lossy(&output.stdout);
    let mut buf = [0u8; 16];
    let mut reached_victim = 0;
    while victim.recv(&mut buf).is_ok() {
        reached_victim += 1;
    }
    assert_eq!(reached_victim, 0, "{line}\n{log}");
    assert_eq!(line, "unix-dgram-spray: ok sent 40 replies 40", "{log}");
    let host_fds = format!("from /proc/{}/fd/", std::process::id());
    assert!(log.lines().any(|l| l.starts_with(&host_fds)), "{log}");
}

/// A peer name outlives the socket that had it: once that socket is gone
/// the descriptor number in its kernel name may name something else, so
/// the guest reads it as unnamed, never as a raw or reused name.
#[test]
fn names_of_gone_sockets_read_as_unnamed() {
    let root = TempDir::new("attack-names");
    let path = root.path().join("s.sock").display().to_string();
    let policy = Policy::deny_all()
        .allow_unix_dir(root.path())
        .expect("grant");
    let options = RunOptions {
        policy,
        preopens: vec![root.path().to_path_buf()],
        ..RunOptions::default()
    };
    let args = ["unix-names", path.as_str()];
    let line = report_line(&run_probe_with(options, &args), &args);
    assert_eq!(
        line,
        format!("unix-names: ok peer unix:{path} local unix:{path} after unix:(unnamed)")
    );
}

/// Writes the component `wat` to a file and loads it.
fn component(root: &TempDir, name: &str, wat: &str) -> witsock_host::Guest {
    let path = root.path().join(name);
    std::fs::write(&path, wat::parse_str(wat).expect("valid WAT")).expect("written");
    witsock_host::Guest::load(&path).expect("loads")
}

/// A `wasi:cli/command` whose core module has `fields` and whose `run`
/// calls its `go`.
fn command_wat(fields: &str) -> String {
    format!(
        r#"(component
            (core module $m {fields})
            (core instance $i (instantiate $m))
            (func $run (result (result)) (canon lift (core func $i "go")))
            (instance $r (export "run" (func $run)))
            (export "wasi:cli/run@0.2.0" (instance $r)))"#
    )
}

/// Memories and tables are limited in total, not one by one: eight
/// memories of 16 MiB each, every one under a 64 MiB limit, and a table
/// grown to four million elements are each stopped.
#[test]
fn memory_and_table_limits_add_up_across_a_guests_memories_and_tables() {
    let root = TempDir::new("attack-limits");
    let memories = component(
        &root,
        "memories.wasm",
        &command_wat(&format!(
            "{} (func (export \"go\") (result i32) (i32.const 0))",
            "(memory 256) ".repeat(8)
        )),
    );
    let tables = component(
        &root,
        "tables.wasm",
        &command_wat(
            "(memory 1) (table 0 funcref) (func (export \"go\") (result i32) \
             (drop (table.grow 0 (ref.null func) (i32.const 4000000))) (i32.const 0))",
        ),
    );
    let limits = GuestLimits {
        max_memory: 64 << 20,
        ..GuestLimits::default()
    };
    for (guest, reason) in [(&memories, "memory limit"), (&tables, "table limit")] {
        let options = RunOptions {
            limits,
            stdout: witsock_host::Stdio::Capture,
            stderr: witsock_host::Stdio::Capture,
            ..RunOptions::default()
        };
        let why = match guest.run(&options) {
            Ok(outcome) => match outcome.status {
                GuestStatus::Trapped(why) => why,
                status => panic!("{reason}: {status}"),
            },
            Err(e) => e.to_string(),
        };
        assert!(why.contains(reason), "{why}");
    }
    // Under a limit that fits them, both run.
    let roomy = GuestLimits {
        max_memory: 256 << 20,
        max_table_elements: 8 << 20,
        ..GuestLimits::default()
    };
    for guest in [&memories, &tables] {
        let outcome = guest
            .run(&RunOptions {
                limits: roomy,
                ..RunOptions::default()
            })
            .expect("runs");
        assert!(outcome.status.success(), "{}", outcome.status);
    }
}

/// `--max-wall-time` also stops a guest that waits in a host call.
#[test]
fn a_guest_blocked_in_a_host_call_is_stopped_at_its_time_limit() {
    let started = Instant::now();
    let output = host_command(&[
        OsStr::new("run"),
        probe().path().as_os_str(),
        OsStr::new("--allow-bind"),
        OsStr::new("127.0.0.1:*"),
        OsStr::new("--max-wall-time"),
        OsStr::new("0.5"),
        OsStr::new("--"),
        OsStr::new("sleep"),
        OsStr::new("20"),
    ]);
    let line = one_clear_line(&output);
    assert_eq!(output.status.code(), Some(134), "{line}");
    assert!(line.contains("--max-wall-time"), "{line}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

/// A lookup the policy refuses is `access-denied` on both kinds of guest
/// (wasmtime-wasi alone would answer `permanent-resolver-failure`).
#[test]
fn a_refused_lookup_is_access_denied_on_wasi_sockets_too() {
    let guest = common::guest();
    let resolve = |policy: Policy| {
        let outcome = guest
            .run(&RunOptions {
                args: vec!["--resolve".into(), "localhost".into()],
                policy,
                stdout: Stdio::Capture,
                stderr: Stdio::Capture,
                ..RunOptions::default()
            })
            .expect("the guest runs");
        stdout(&outcome).trim().to_string()
    };
    let refused = resolve(Policy::loopback());
    assert!(
        refused.starts_with("resolve localhost: access-denied"),
        "{refused}"
    );
    let allowed = resolve(Policy::loopback().allow_name_lookup(true));
    assert!(
        allowed.starts_with("resolve localhost: 127.")
            || allowed.starts_with("resolve localhost: [::1]"),
        "{allowed}"
    );
    let imports = probe_line(Policy::loopback(), &["resolve", "localhost"]);
    assert_result(&imports, "resolve", "access-denied");
}
