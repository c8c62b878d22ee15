//! Bad handles trap the guest, never the host; whatever a trapped guest
//! held is closed; a socket's pollable mixes with wasi's.
//!
//! The tests here count the process's descriptors, so they run one at a
//! time (a lock), each after a warm-up run that lets wasmtime-wasi's
//! runtime open what it keeps for the life of the process.

mod imports_support;

use std::sync::Mutex;

use imports_support::{guest_suite, open_descriptors, run_probe, stdout};
use witsock_host::{GuestStatus, Limits, Policy, RunOptions, Stdio};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs each guest once (one of them trapping), so that later descriptor
/// counts see only what a run leaves behind: wasmtime keeps a memory
/// image (a memfd) per component once instantiated, and wasmtime-wasi's
/// runtime its reactor.
fn warm_up() {
    let outcome = run_probe(Policy::loopback(), &["pollable-mix"]);
    assert!(outcome.status.success(), "{}", outcome.status);
    let outcome = guest_suite()
        .run(&RunOptions {
            args: vec!["--open-and-trap".into(), "1".into()],
            policy: Policy::loopback(),
            stdout: Stdio::Discard,
            stderr: Stdio::Discard,
            ..RunOptions::default()
        })
        .expect("the guest runs");
    assert!(
        matches!(outcome.status, GuestStatus::Trapped(_)),
        "{}",
        outcome.status
    );
}

fn assert_traps(mode: &str, before_trap: &str) {
    let _serial = serial();
    warm_up();
    let before = open_descriptors();
    let outcome = run_probe(Policy::loopback(), &[mode]);
    let out = stdout(&outcome);
    assert!(
        matches!(outcome.status, GuestStatus::Trapped(_)),
        "{mode}: {} with {out}",
        outcome.status
    );
    assert!(out.contains(before_trap), "{mode}: {out}");
    assert!(
        !out.contains("returned") && !out.contains("survived"),
        "{mode}: the call went through: {out}"
    );
    assert_eq!(open_descriptors(), before, "{mode}: descriptors left open");
}

#[test]
fn a_forged_handle_traps_the_guest() {
    assert_traps("forged-handle", "forged-handle: calling");
}

#[test]
fn a_dropped_handle_traps_the_guest() {
    assert_traps("use-after-drop", "use-after-drop: calling");
}

#[test]
fn a_handle_of_another_type_traps_the_guest() {
    assert_traps("wrong-handle-type", "wrong-handle-type: calling");
}

#[test]
fn dropping_a_socket_before_its_pollable_traps_the_guest() {
    assert_traps(
        "drop-socket-before-pollable",
        "drop-socket-before-pollable: dropping",
    );
}

#[test]
fn a_trapped_guest_leaves_no_socket_open() {
    let _serial = serial();
    warm_up();
    let before = open_descriptors();
    let mut during = None;
    let outcome = guest_suite()
        .run_observed(
            &RunOptions {
                args: vec!["--open-and-trap".into(), "100".into()],
                policy: Policy::loopback(),
                stdout: Stdio::Capture,
                stderr: Stdio::Capture,
                ..RunOptions::default()
            },
            |ctx| during = Some((ctx.open_sockets(), open_descriptors())),
        )
        .expect("the guest runs");
    let out = stdout(&outcome);
    assert!(
        matches!(outcome.status, GuestStatus::Trapped(_)),
        "{} with {out}",
        outcome.status
    );
    assert!(out.contains("opened 100 listeners"), "{out}");
    let (sockets, descriptors) = during.expect("observed before the store was dropped");
    assert_eq!(sockets, 100, "sockets the guest held when it trapped");
    assert!(
        descriptors >= before + 100,
        "{descriptors} descriptors open at the trap, {before} before"
    );
    assert_eq!(
        open_descriptors(),
        before,
        "descriptors left open after the trap"
    );
}

#[test]
fn a_guest_at_its_quota_still_gets_errors_not_traps() {
    let _serial = serial();
    warm_up();
    let before = open_descriptors();
    let policy = Policy::loopback().with_limits(Limits {
        max_sockets: 3,
        ..Limits::default()
    });
    let outcome = run_probe(policy, &["open", "50"]);
    assert!(outcome.status.success(), "{}", outcome.status);
    assert_eq!(
        stdout(&outcome).trim(),
        "open: opened 3 of 50, then too-many-sockets"
    );
    assert_eq!(open_descriptors(), before);
}

#[test]
fn socket_pollables_mix_with_wasi_pollables() {
    let _serial = serial();
    let outcome = run_probe(Policy::loopback(), &["pollable-mix"]);
    let out = stdout(&outcome);
    assert!(outcome.status.success(), "{} {out}", outcome.status);
    // First only the 50 ms timer (index 1) is ready; once data is sent,
    // the socket (index 0) is, long before the 30 s timer.
    assert_eq!(
        out.trim(),
        "pollable-mix: ok first [1] second [0] ready true"
    );
}
