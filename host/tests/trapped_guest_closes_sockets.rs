//! A guest that traps while holding sockets leaves none open on the host.
//!
//! Alone in its test binary: it counts the whole process's descriptors,
//! which another test running in parallel would disturb.

mod common;

use std::net::{SocketAddr, TcpStream};

use witsock_host::{GuestStatus, Policy, RunOptions, Stdio};

/// The descriptors this process has open.
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd is readable")
        .count()
}

fn open_and_trap(guest: &witsock_host::Guest, count: usize) -> (GuestStatus, String) {
    let outcome = guest
        .run(&RunOptions {
            args: vec!["--open-and-trap".into(), count.to_string()],
            policy: Policy::loopback(),
            stdout: Stdio::Capture,
            stderr: Stdio::Capture,
            ..RunOptions::default()
        })
        .expect("the guest runs");
    (
        outcome.status,
        String::from_utf8_lossy(&outcome.stdout).into_owned(),
    )
}

#[test]
fn a_trapped_guest_leaves_no_descriptor_open() {
    let guest = common::guest();
    // A first run sets up what the runtime keeps for the process (its I/O
    // driver), so the count below sees only what a run leaves behind.
    let (status, _) = open_and_trap(&guest, 1);
    assert!(matches!(status, GuestStatus::Trapped(_)), "{status:?}");

    let before = open_descriptors();
    let (status, stdout) = open_and_trap(&guest, 100);
    let after = open_descriptors();

    match &status {
        GuestStatus::Trapped(why) => assert!(why.contains("unreachable"), "{why}"),
        other => panic!("the guest should trap, but {other}"),
    }
    // The guest really held 100 listeners when it trapped...
    let first: SocketAddr = stdout
        .trim()
        .strip_prefix("opened 100 listeners, first at ")
        .unwrap_or_else(|| panic!("unexpected guest output {stdout:?}"))
        .parse()
        .expect("the guest prints a socket address");
    // ...and none of them is left, neither as a descriptor nor as a listener.
    assert_eq!(
        after, before,
        "descriptors before and after the trapped run"
    );
    let refused = TcpStream::connect(first).expect_err("the trapped guest's listener is closed");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
}
