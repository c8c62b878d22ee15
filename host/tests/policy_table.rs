//! One table of policy cases, each run against both kinds of guest: the
//! guest suite on wasi:sockets and the guest suite built with
//! `--features witsock/imports`. Both are served by the host's one socket
//! layer, so the same rules must give the same answer at the same step,
//! and the same denial: through the CLI (its stderr line) and through the
//! embedding API (the denial hook).

mod common;
mod imports_support;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use witsock_conformance::differential::parse_outcome_line;
use witsock_host::denial::DeniedOperation;

use witsock_host::{AddressRule, Denial, DenialHook, Guest, Limits, Policy, RunOptions, Stdio};

/// A policy case: the CLI flags, the program the guest runs, what the
/// program's last operation must answer, and the start of the line the
/// host prints for the denial.
struct Case {
    name: &'static str,
    flags: &'static [&'static str],
    program: &'static str,
    outcome: &'static str,
    denial: &'static str,
    /// The rest of the denial line, past the address (whose port varies).
    denial_rest: &'static str,
    operation: DeniedOperation,
}

const CASES: &[Case] = &[
    Case {
        name: "connect outside the connect rules",
        flags: &["--allow-bind", "127.0.0.1:*", "--allow-connect", "127.0.0.1:1-2"],
        program: "new 0 tcp4; bind 0 loopback-v4; listen 0 4; new 1 tcp4; connect 1 @0",
        outcome: "access-denied",
        denial: "witsock-host: denied connect to 127.0.0.1:",
        denial_rest: ": no connect rule matches (rules: 127.0.0.1:1-2); add --allow-connect 127.0.0.1:",
        operation: DeniedOperation::Connect,
    },
    Case {
        name: "bind without a bind rule",
        flags: &["--allow-connect", "127.0.0.1:*"],
        program: "new 0 udp4; bind 0 loopback-v4",
        outcome: "access-denied",
        denial: "witsock-host: denied bind on 127.0.0.1:0",
        denial_rest: ": no bind rule matches (rules: 0.0.0.0:0); add --allow-bind 127.0.0.1:0",
        operation: DeniedOperation::Bind,
    },
    Case {
        name: "listen on a port the system picked, with a rule for port 0",
        flags: &["--allow-bind", "127.0.0.1:0"],
        program: "new 0 tcp4; bind 0 loopback-v4; listen 0 4",
        outcome: "access-denied",
        denial: "witsock-host: denied listen on 127.0.0.1:",
        denial_rest: ": no bind rule matches (rules: 127.0.0.1:0); add --allow-bind 127.0.0.1:*",
        operation: DeniedOperation::Listen,
    },
    Case {
        name: "a socket without any rule",
        flags: &[],
        program: "new 0 tcp6",
        outcome: "access-denied",
        denial: "witsock-host: denied an IPv6 socket",
        denial_rest: ": the policy has no address rule, so no TCP or UDP; add --allow-bind RULE or --allow-connect RULE",
        operation: DeniedOperation::Create,
    },
    Case {
        name: "TCP turned off as wasmtime's -S tcp=n does",
        flags: &["--allow-bind", "127.0.0.1:*", "-S", "tcp=n"],
        program: "new 0 udp4; new 1 tcp4",
        outcome: "access-denied",
        denial: "witsock-host: denied a TCP socket",
        denial_rest: ": TCP sockets are turned off; add -S tcp=y",
        operation: DeniedOperation::Create,
    },
    Case {
        name: "the socket quota, counted across the guest's sockets",
        flags: &["--allow-bind", "127.0.0.1:*", "--max-sockets", "2"],
        program: "new 0 udp4; new 1 tcp4; new 2 udp6",
        outcome: "too-many-sockets",
        denial: "witsock-host: denied a new socket",
        denial_rest: ": too many sockets: the guest holds 2, the most it may (--max-sockets 2); add --max-sockets N, above 2",
        operation: DeniedOperation::Quota,
    },
    Case {
        name: "UDP sends need a UDP rule when the connect rules are for TCP",
        flags: &["--allow-bind", "127.0.0.1:*", "--allow-connect", "tcp://127.0.0.1:*"],
        program: "new 0 tcp4; bind 0 loopback-v4; listen 0 4; new 1 tcp4; connect 1 @0; \
                  new 2 udp4; bind 2 loopback-v4; new 3 udp4; bind 3 loopback-v4; send-to 3 @2 5",
        outcome: "access-denied",
        denial: "witsock-host: denied send to 127.0.0.1:",
        denial_rest: ": no send rule matches (rules: none); add --allow-connect udp://127.0.0.1:",
        operation: DeniedOperation::Send,
    },
    Case {
        name: "a listener accepts only the peers --allow-inbound tcp:// names",
        flags: &[
            "--allow-bind",
            "127.0.0.1:*",
            "--allow-connect",
            "127.0.0.1:*",
            "--allow-inbound",
            "tcp://127.0.0.2:*",
        ],
        program: "new 0 tcp4; bind 0 loopback-v4; listen 0 4; new 1 tcp4; connect 1 @0; accept 0 2",
        outcome: "none",
        denial: "witsock-host: denied connection from 127.0.0.1:",
        denial_rest: ": no accept rule matches (rules: 127.0.0.2:*); add --allow-inbound tcp://127.0.0.1:*",
        operation: DeniedOperation::Accept,
    },
];

/// The two guest suites: on wasi:sockets, and on the witsock imports.
fn guests() -> [(&'static str, std::path::PathBuf); 2] {
    [
        ("wasi:sockets", common::guest_path()),
        (
            "witsock imports",
            imports_support::guest_suite().path().to_path_buf(),
        ),
    ]
}

/// The last outcome of the program line on `stdout`.
fn last_outcome(stdout: &str) -> String {
    let (_, outcomes) = stdout
        .lines()
        .find_map(parse_outcome_line)
        .unwrap_or_else(|| panic!("no program line in {stdout:?}"));
    outcomes.last().cloned().expect("an outcome per operation")
}

/// Runs `case` through `witsock-host run` on the guest at `guest`.
fn run_cli(guest: &Path, case: &Case, extra: &[&str]) -> (String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_witsock-host"))
        .arg("run")
        .arg(guest)
        .args(case.flags)
        .args(extra)
        .args(["--", "--differential-program", case.program])
        .output()
        .expect("witsock-host runs");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn every_case_gives_both_kinds_of_guest_the_same_answer_and_the_same_denial_line() {
    for (kind, guest) in guests() {
        for case in CASES {
            let (stdout, stderr) = run_cli(&guest, case, &[]);
            let what = format!("{} on {kind}:\n{stdout}\n{stderr}", case.name);
            assert_eq!(last_outcome(&stdout), case.outcome, "{what}");
            let lines: Vec<&str> = stderr
                .lines()
                .filter(|line| line.starts_with("witsock-host: denied"))
                .collect();
            assert_eq!(lines.len(), 1, "one line per distinct denial: {what}");
            let line = lines[0];
            assert!(line.starts_with(case.denial), "{what}");
            let rest = &line[case.denial.len()..];
            // Past the address's port (when it varies) comes the reason.
            let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
            assert!(rest.starts_with(case.denial_rest), "{what}");

            let (quiet_stdout, quiet_stderr) = run_cli(&guest, case, &["--quiet"]);
            assert_eq!(last_outcome(&quiet_stdout), case.outcome, "{what}");
            assert!(
                !quiet_stderr.contains("denied"),
                "--quiet prints no denial: {quiet_stderr}"
            );
        }
    }
}

/// The CLI's policy for `flags`, built as `witsock-host run` builds it, for
/// the cases that only use address rules and `--max-sockets`.
fn policy_of(flags: &[&str]) -> Option<Policy> {
    let mut policy = Policy::deny_all();
    let mut words = flags.iter();
    while let Some(&flag) = words.next() {
        let value = words.next()?;
        policy = match flag {
            "--allow-bind" => policy.allow_bind(value.parse::<AddressRule>().ok()?),
            "--allow-connect" => policy.allow_connect(value.parse::<AddressRule>().ok()?),
            "--max-sockets" => policy.with_limits(Limits {
                max_sockets: value.parse().ok()?,
                ..Limits::default()
            }),
            _ => return None,
        };
    }
    Some(policy)
}

#[test]
fn embedders_get_the_same_denials_through_the_hook_on_both_kinds_of_guest() {
    let wasi_guest = common::guest();
    let imports_guest: &Guest = imports_support::guest_suite();
    let mut checked = 0;
    for case in CASES {
        let Some(policy) = policy_of(case.flags) else {
            continue;
        };
        let args = vec![
            "--differential-program".to_string(),
            case.program.to_string(),
        ];
        let recorder = || {
            let seen: Arc<Mutex<Vec<Denial>>> = Arc::default();
            let sink = seen.clone();
            let hook = DenialHook::new(move |denial| sink.lock().unwrap().push(denial.clone()));
            (seen, hook)
        };

        let (wasi_seen, hook) = recorder();
        let outcome = wasi_guest
            .run(&RunOptions {
                args: args.clone(),
                policy: policy.clone(),
                stdout: Stdio::Capture,
                stderr: Stdio::Capture,
                on_denial: Some(hook),
                ..RunOptions::default()
            })
            .expect("the guest runs");
        let stdout = String::from_utf8_lossy(&outcome.stdout).into_owned();
        assert_eq!(
            last_outcome(&stdout),
            case.outcome,
            "{}: {stdout}",
            case.name
        );

        let (imports_seen, hook) = recorder();
        let outcome = imports_guest
            .run(&RunOptions {
                args,
                policy,
                stdout: Stdio::Capture,
                stderr: Stdio::Capture,
                on_denial: Some(hook),
                ..RunOptions::default()
            })
            .expect("the guest runs");
        let stdout = String::from_utf8_lossy(&outcome.stdout).into_owned();
        assert_eq!(
            last_outcome(&stdout),
            case.outcome,
            "{}: {stdout}",
            case.name
        );

        let wasi_seen = wasi_seen.lock().unwrap();
        let imports_seen = imports_seen.lock().unwrap();
        assert_eq!(wasi_seen.len(), 1, "{}: {wasi_seen:?}", case.name);
        assert_eq!(imports_seen.len(), 1, "{}: {imports_seen:?}", case.name);
        for denial in [&wasi_seen[0], &imports_seen[0]] {
            assert_eq!(denial.operation, case.operation, "{}", case.name);
        }
        // The same refusal but for the port the kernel picked.
        assert_eq!(wasi_seen[0].reason, imports_seen[0].reason, "{}", case.name);
        checked += 1;
    }
    assert!(checked >= 4, "the table has address and quota cases");
}

#[test]
fn wasmtime_wasi_stays_selectable_for_comparison() {
    let guest: &Guest = &common::guest();
    let case = &CASES[0];
    let policy = policy_of(case.flags).expect("an address policy");
    let outcome = guest
        .run(&RunOptions {
            args: vec!["--differential-program".into(), case.program.into()],
            policy,
            stdout: Stdio::Capture,
            stderr: Stdio::Capture,
            wasi_sockets: witsock_host::WasiSockets::WasmtimeWasi,
            ..RunOptions::default()
        })
        .expect("the guest runs");
    let stdout = String::from_utf8_lossy(&outcome.stdout).into_owned();
    // The same rules give the same answer there too.
    assert_eq!(last_outcome(&stdout), case.outcome, "{stdout}");
}

#[test]
fn a_rule_by_name_grants_its_addresses_and_its_lookup_only() {
    for (kind, guest) in guests() {
        let run = |args: &[&str]| {
            let output = Command::new(env!("CARGO_BIN_EXE_witsock-host"))
                .arg("run")
                .arg(&guest)
                .args([
                    "--allow-bind",
                    "127.0.0.1:*",
                    "--allow-connect",
                    "localhost:*",
                    "--",
                ])
                .args(args)
                .output()
                .expect("witsock-host runs");
            (
                String::from_utf8_lossy(&output.stdout).into_owned(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            )
        };
        let (stdout, stderr) = run(&["--resolve", "localhost"]);
        assert!(
            stdout.starts_with("resolve localhost: 127.0.0.1:")
                || stdout.starts_with("resolve localhost: [::1]:"),
            "{kind}: {stdout}{stderr}"
        );
        assert!(!stderr.contains("denied"), "{kind}: {stderr}");
        let (stdout, stderr) = run(&["--resolve", "example.invalid"]);
        assert!(
            stdout.starts_with("resolve example.invalid: access-denied"),
            "{kind}: {stdout}{stderr}"
        );
        assert!(
            stderr.contains("witsock-host: denied lookup example.invalid: name lookup is not granted; add --allow-lookup"),
            "{kind}: {stderr}"
        );
        // The name's addresses: a connect to a loopback listener.
        let (stdout, stderr) = run(&[
            "--differential-program",
            "new 0 tcp4; bind 0 loopback-v4; listen 0 4; new 1 tcp4; connect 1 @0; accept 0 2",
        ]);
        // Without --allow-inbound tcp://, a listener accepts any peer.
        assert!(
            last_outcome(&stdout).starts_with("ok"),
            "{kind}: {stdout}{stderr}"
        );
        assert!(!stderr.contains("denied"), "{kind}: {stderr}");
    }
}
