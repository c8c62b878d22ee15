//! The policy is enforced on a real guest: a connect it does not allow
//! fails with `access-denied` and never reaches the listener.

mod common;

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener};

use witsock_host::{AddressRule, GuestStatus, Policy, RunOptions, Stdio};

/// Runs the guest's `--connect ADDR` under `policy`; returns its report line.
fn guest_connect(addr: SocketAddr, policy: Policy) -> (GuestStatus, String) {
    let outcome = common::guest()
        .run(&RunOptions {
            args: vec!["--connect".into(), addr.to_string()],
            policy,
            stdout: Stdio::Capture,
            stderr: Stdio::Capture,
            ..RunOptions::default()
        })
        .expect("the guest runs");
    (
        outcome.status,
        String::from_utf8_lossy(&outcome.stdout).trim().to_string(),
    )
}

fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
    listener.set_nonblocking(true).expect("non-blocking");
    let addr = listener.local_addr().expect("its address");
    (listener, addr)
}

fn rule(s: &str) -> AddressRule {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_connect_outside_the_policy_is_access_denied_and_never_arrives() {
    let (listener, addr) = listener();
    // Allowed: the same address on every other port.
    let mut policy = Policy::deny_all();
    if let Some(below) = addr.port().checked_sub(1) {
        policy = policy.allow_connect(rule(&format!("127.0.0.1:0-{below}")));
    }
    if let Some(above) = addr.port().checked_add(1) {
        policy = policy.allow_connect(rule(&format!("127.0.0.1:{above}-65535")));
    }
    let (status, line) = guest_connect(addr, policy);
    assert_eq!(status, GuestStatus::Exited(1), "{line}");
    assert!(
        line.starts_with(&format!("connect {addr}: access-denied")),
        "{line}"
    );
    let accepted = listener.accept().map(|_| ()).map_err(|e| e.kind());
    assert_eq!(
        accepted,
        Err(ErrorKind::WouldBlock),
        "the listener saw a connection"
    );
}

#[test]
fn a_guest_without_rules_has_no_network() {
    let (listener, addr) = listener();
    let (status, line) = guest_connect(addr, Policy::deny_all());
    assert_eq!(status, GuestStatus::Exited(1), "{line}");
    assert!(
        line.starts_with(&format!("connect {addr}: access-denied")),
        "{line}"
    );
    let accepted = listener.accept().map(|_| ()).map_err(|e| e.kind());
    assert_eq!(accepted, Err(ErrorKind::WouldBlock));
}

#[test]
fn a_connect_the_policy_allows_arrives() {
    let (listener, addr) = listener();
    let policy = Policy::deny_all().allow_connect(rule(&format!("127.0.0.1:{}", addr.port())));
    let (status, line) = guest_connect(addr, policy);
    assert_eq!(line, format!("connect {addr}: connected"));
    assert_eq!(status, GuestStatus::Exited(0));
    // The handshake completed before the guest returned: it is queued.
    let (_, peer) = listener.accept().expect("the guest's connection is queued");
    assert!(peer.ip().is_loopback(), "{peer}");
}
