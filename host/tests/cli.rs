//! The `witsock-host` binary on bad input and faults: one clear line on
//! stderr, a non-zero exit, never a panic.

mod common;
mod imports_support;

use imports_support::{host_command, one_clear_line};

use std::path::PathBuf;
use std::process::{Command, Output};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A file under this test's scratch directory holding `bytes`.
fn scratch_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("witsock-host-cli");
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("scratch file");
    path
}

#[test]
fn a_missing_file_cannot_be_loaded() {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-such-guest.wasm");
    let output = host_command(&["run", path.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(2));
    let line = one_clear_line(&output);
    assert!(
        line.starts_with(&format!("witsock-host: cannot load {}: ", path.display())),
        "{line}"
    );
    assert!(line.contains("No such file"), "{line}");
}

#[test]
fn a_file_that_is_not_wasm_cannot_be_loaded() {
    let path = scratch_file("not-wasm.wasm", b"#!/bin/sh\necho hello\n");
    let output = host_command(&["run", path.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(2));
    let line = one_clear_line(&output);
    assert!(line.contains("cannot load"), "{line}");
    assert!(line.ends_with("not a WebAssembly file"), "{line}");
}

#[test]
fn a_core_module_is_not_a_component() {
    // The smallest core module: the magic number and version 1.
    let path = scratch_file("core.wasm", b"\0asm\x01\0\0\0");
    let output = host_command(&["run", path.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(2));
    let line = one_clear_line(&output);
    assert!(line.contains("cannot load"), "{line}");
    assert!(line.contains("a core module, not a component"), "{line}");
}

#[test]
fn a_component_that_is_not_a_command_cannot_be_instantiated() {
    // The empty component: valid, but it exports no `wasi:cli/run`.
    let path = scratch_file("empty-component.wasm", b"\0asm\x0d\0\x01\0");
    let output = host_command(&["run", path.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(2));
    let line = one_clear_line(&output);
    assert!(
        line.starts_with(&format!(
            "witsock-host: cannot instantiate {}: ",
            path.display()
        )),
        "{line}"
    );
    assert!(line.contains("wasi:cli/run"), "{line}");
}

#[test]
fn a_truncated_component_cannot_be_loaded() {
    let guest = std::fs::read(common::guest_path()).expect("the guest suite");
    let path = scratch_file("truncated.wasm", &guest[..guest.len() / 2]);
    let output = host_command(&["run", path.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(2));
    let line = one_clear_line(&output);
    assert!(line.contains("cannot load"), "{line}");
    assert!(line.contains("not a valid component"), "{line}");
}

#[test]
fn a_policy_that_does_not_parse_is_refused_before_loading() {
    for (rule, reason) in [
        ("127.0.0.1", "no port"),
        ("localhost:80", "not an IP address"),
        ("::1:80", "brackets"),
        ("10.0.0.0/40:*", "prefix"),
        ("127.0.0.1:80-70", "empty"),
    ] {
        for flag in ["--allow-bind", "--allow-connect"] {
            if flag == "--allow-connect" && rule == "localhost:80" {
                // A peer rule by name: see below.
                continue;
            }
            // The guest is never loaded: a missing file is not reported.
            let output = host_command(&["run", "missing.wasm", flag, rule]);
            assert_eq!(output.status.code(), Some(2), "{flag} {rule}");
            let line = one_clear_line(&output);
            assert!(
                line.contains(&format!("invalid address rule `{rule}`")),
                "{line}"
            );
            assert!(line.contains(reason), "{line}");
        }
    }
    // A peer rule may name a host; one that does not resolve is refused
    // before loading too.
    let output = host_command(&[
        "run",
        "missing.wasm",
        "--allow-connect",
        "no-such-host.invalid:80",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let line = one_clear_line(&output);
    assert!(
        line.starts_with("witsock-host: --allow-connect no-such-host.invalid:80: cannot resolve no-such-host.invalid"),
        "{line}"
    );
}

#[test]
fn a_trapping_guest_is_reported_and_exits_134() {
    let guest = common::guest_path();
    let guest = guest.to_str().expect("utf-8 path");
    let output = host_command(&[
        "run",
        guest,
        "--allow-bind",
        "127.0.0.1:*",
        "--",
        "--open-and-trap",
        "5",
    ]);
    assert_eq!(output.status.code(), Some(134), "{}", stderr(&output));
    let line = one_clear_line(&output);
    assert_eq!(
        line,
        format!(
            "witsock-host: {guest} trapped: wasm trap: wasm `unreachable` instruction executed"
        )
    );
    // The guest had its sockets open when it trapped.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("opened 5 listeners"), "{stdout}");
}

#[test]
fn a_guest_denied_the_network_fails_without_trapping() {
    let guest = common::guest_path();
    let output = host_command(&[
        "run",
        guest.to_str().expect("utf-8 path"),
        "--",
        "--open-and-trap",
        "1",
    ]);
    // No rule: the first socket is refused, so the guest exits 1 before
    // it could trap.
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("access"), "{}", stderr(&output));
}

#[test]
fn the_guest_exit_code_and_arguments_pass_through() {
    let guest = common::guest_path();
    let output = host_command(&[
        "run",
        guest.to_str().expect("utf-8 path"),
        "--allow-bind",
        "127.0.0.0/8:*",
        "--allow-connect",
        "127.0.0.0/8:*",
        "--",
        "tcp_v4_connect_accept_send_receive",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let reports: Vec<_> = stdout
        .lines()
        .filter_map(witsock_conformance::Report::from_json_line)
        .collect();
    assert_eq!(reports.len(), 1, "{stdout}");
    assert_eq!(reports[0].case, "tcp_v4_connect_accept_send_receive");
    assert_eq!(reports[0].outcome, witsock_conformance::Outcome::Pass);
}

/// The reports of the guest suite in `output`'s stdout.
fn reports(output: &Output) -> Vec<witsock_conformance::Report> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(witsock_conformance::Report::from_json_line)
        .collect()
}

#[test]
fn run_serves_the_witsock_imports_under_the_rules() {
    let guest = imports_support::guest_suite().path();
    let output = host_command(&[
        "run",
        guest.to_str().expect("utf-8 path"),
        "--allow-bind",
        "127.0.0.0/8:*",
        "--allow-connect",
        "127.0.0.0/8:*",
        "--",
        "tcp_v4_connect_accept_send_receive",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", stderr(&output));
    let reports = reports(&output);
    assert_eq!(reports.len(), 1, "{stdout}");
    assert_eq!(reports[0].case, "tcp_v4_connect_accept_send_receive");
    // The imports build, not the wasi:sockets one, is what ran.
    assert_eq!(
        reports[0].backend,
        witsock_conformance::Backend::WitsockImports.name()
    );
    assert_eq!(reports[0].outcome, witsock_conformance::Outcome::Pass);
}

#[test]
fn run_without_rules_denies_the_witsock_imports() {
    let guest = imports_support::guest_suite().path();
    let output = host_command(&[
        "run",
        guest.to_str().expect("utf-8 path"),
        "--",
        "tcp_v4_connect_accept_send_receive",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}{}", stderr(&output));
    // The case reports its failure; the suite then exits 1.
    let reports = reports(&output);
    assert_eq!(reports.len(), 1, "{stdout}");
    match &reports[0].outcome {
        witsock_conformance::Outcome::Fail(detail) => {
            // The first step of the case, creating its listener, is
            // refused: without rules there are no TCP or UDP sockets, as
            // for a wasi:sockets guest.
            assert!(detail.contains("access denied"), "{detail}");
            assert!(detail.starts_with("socket:"), "{detail}");
        }
        other => panic!("expected a failure, got {other:?}: {stdout}"),
    }
}

#[test]
fn allow_unix_grants_its_directory_only() {
    let probe = imports_support::probe().path();
    let probe = probe.to_str().expect("utf-8 path");
    let root = imports_support::TempDir::new("cli-allow-unix");
    let granted = root.path().join("granted");
    let outside = root.path().join("outside");
    std::fs::create_dir_all(&granted).expect("granted directory");
    std::fs::create_dir_all(&outside).expect("outside directory");
    let granted_arg = granted.to_str().expect("utf-8 path");
    let unix_bind = |path: &std::path::Path| {
        let path = path.to_str().expect("utf-8 path");
        let output = host_command(&[
            "run",
            probe,
            "--allow-unix",
            granted_arg,
            "--",
            "unix-bind",
            path,
        ]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };

    let inside = granted.join("a.sock");
    let line = unix_bind(&inside);
    assert!(line.starts_with("unix-bind: ok"), "{line}");
    assert!(inside.exists(), "binding inside did not create the file");

    let line = unix_bind(&outside.join("b.sock"));
    assert!(line.starts_with("unix-bind: access-denied"), "{line}");
    let left: Vec<_> = std::fs::read_dir(&outside).expect("listing").collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_missing_unix_directory_is_refused_before_loading() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-such-unix-dir");
    let dir = dir.to_str().expect("utf-8 path");
    // The guest is never loaded: a missing file is not reported.
    let output = host_command(&["run", "missing.wasm", "--allow-unix", dir]);
    assert_eq!(output.status.code(), Some(2));
    let line = one_clear_line(&output);
    assert!(
        line.starts_with(&format!("witsock-host: --allow-unix {dir}: ")),
        "{line}"
    );
    assert!(line.contains("No such file"), "{line}");
}

#[test]
fn usage_errors_exit_2_with_usage() {
    for args in [
        &[][..],
        &["frobnicate"][..],
        &["run"][..],
        &["run", "a.wasm", "b.wasm"][..],
        &["run", "a.wasm", "--allow-bind"][..],
        &["run", "a.wasm", "--allow-unix"][..],
        &["run", "a.wasm", "--no-such-flag"][..],
        &["conformance", "--guest"][..],
        &["conformance", "--imports-guest"][..],
        &["conformance", "extra"][..],
    ] {
        let output = host_command(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let text = stderr(&output);
        assert!(text.starts_with("witsock-host: "), "{args:?}: {text}");
        assert!(text.contains("usage: witsock-host run"), "{args:?}: {text}");
        assert!(!text.contains("panicked"), "{args:?}: {text}");
    }
}

#[test]
fn conformance_with_a_missing_guest_says_so() {
    let output = host_command(&["conformance", "--guest", "nowhere/guest.wasm"]);
    assert_eq!(output.status.code(), Some(2));
    let line = one_clear_line(&output);
    assert!(
        line.starts_with("witsock-host: cannot load nowhere/guest.wasm: "),
        "{line}"
    );
}

#[test]
fn conformance_prints_the_three_columns_and_the_capabilities() {
    let guest = common::guest_path();
    let imports_guest = imports_support::guest_suite().path();
    let tmp = imports_support::TempDir::new("cli-conformance-tmp");
    let output = Command::new(env!("CARGO_BIN_EXE_witsock-host"))
        .args([
            "conformance",
            "--guest",
            guest.to_str().expect("utf-8 path"),
            "--imports-guest",
            imports_guest.to_str().expect("utf-8 path"),
            "--filter",
            "unix_path_bind_listen_accept_connect",
        ])
        .env("TMPDIR", tmp.path())
        .output()
        .expect("witsock-host runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", stderr(&output));
    let header = stdout
        .lines()
        .find(|l| l.starts_with("case "))
        .unwrap_or_default();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["case", "native-linux", "wasi-p2", "witsock-imports"],
        "{stdout}"
    );
    let row: Vec<_> = stdout
        .lines()
        .find(|l| l.starts_with("unix_path_bind_listen_accept_connect "))
        .unwrap_or_else(|| panic!("no row for the case: {stdout}"))
        .split_whitespace()
        .collect();
    assert_eq!(row[1], "pass", "{stdout}");
    assert_eq!(row[2], "unsupported", "{stdout}");
    assert_eq!(row.last(), Some(&"pass"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("capability ")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("option no-delay ")),
        "{stdout}"
    );
    for summary in [
        "native-linux: 1 passed, 0 failed, 0 unsupported",
        "wasi-p2: 0 passed, 0 failed, 1 unsupported",
        "witsock-imports: 1 passed, 0 failed, 0 unsupported",
    ] {
        assert!(stdout.contains(summary), "{summary}\n{stdout}");
    }
    // The Unix socket directory is gone.
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("the temporary directory")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn conformance_fails_and_cleans_up_when_the_imports_guest_does_not_import_witsock() {
    // The wasi:sockets guest suite in the imports column: it has no
    // wasi:sockets access there, so its cases fail.
    let guest = common::guest_path();
    let guest = guest.to_str().expect("utf-8 path");
    let tmp = imports_support::TempDir::new("cli-conformance-fail-tmp");
    let output = Command::new(env!("CARGO_BIN_EXE_witsock-host"))
        .args([
            "conformance",
            "--guest",
            guest,
            "--imports-guest",
            guest,
            "--filter",
            "tcp_v4_connect_accept_send_receive",
        ])
        .env("TMPDIR", tmp.path())
        .output()
        .expect("witsock-host runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}{}", stderr(&output));
    assert!(
        stdout.contains("not witsock-imports: build it with `--features witsock/imports`"),
        "{stdout}"
    );
    assert!(
        stderr(&output).starts_with("witsock-host: conformance: "),
        "{}",
        stderr(&output)
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("the temporary directory")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn verbose_prints_the_policy_and_what_the_guest_imports() {
    let wasi = common::guest_path();
    let imports = imports_support::guest_suite().path().to_path_buf();
    for (guest, interface) in [
        (&wasi, "wasi:sockets/tcp@"),
        (&imports, "witsock:sockets/sockets@"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_witsock-host"))
            .arg("run")
            .arg(guest)
            .args([
                "--allow-bind",
                "127.0.0.1:*",
                "--max-backlog",
                "16",
                "--verbose",
            ])
            .args(["--", "--differential-program", "new 0 tcp4"])
            .output()
            .expect("witsock-host runs");
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(0), "{err}");
        assert!(
            err.contains("witsock-host: wasi:sockets served by witsock's socket layer"),
            "{err}"
        );
        assert!(
            err.contains("witsock-host: policy: bind rules: 127.0.0.1:*"),
            "{err}"
        );
        assert!(err.contains("quotas: 1024 sockets, backlog 16,"), "{err}");
        let imports_line = err
            .lines()
            .find(|line| line.contains(" imports: "))
            .unwrap_or_else(|| panic!("no imports line: {err}"));
        assert!(imports_line.contains(interface), "{imports_line}");
    }
}

#[test]
fn wasmtime_network_options_keep_their_meaning() {
    let guest = common::guest_path();
    let program = "new 0 tcp4; bind 0 loopback-v4; listen 0 4; new 1 tcp4; connect 1 @0";
    let run = |flags: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_witsock-host"))
            .arg("run")
            .arg(&guest)
            .args(flags)
            .args(["--", "--differential-program", program])
            .output()
            .expect("witsock-host runs")
    };
    let outcomes = |output: &Output| {
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .find(|line| line.starts_with("program\t"))
            .map(str::to_string)
            .unwrap_or_default()
    };
    // Every address, as `wasmtime run -S inherit-network` grants.
    let open = run(&["-S", "inherit-network"]);
    assert_eq!(
        outcomes(&open),
        "program\tok\tok\tok\tok\tok",
        "{}",
        stderr(&open)
    );
    assert!(!stderr(&open).contains("denied"), "{}", stderr(&open));
    // The joined form, and an option turned off again.
    let closed = run(&["-Sinherit-network=y,tcp=n"]);
    // The first operation, creating a TCP socket, is refused; the rest
    // have no socket to work on.
    assert!(
        outcomes(&closed).starts_with("program\taccess-denied\tno-socket"),
        "{}",
        stderr(&closed)
    );
    // Options that are not about the network are refused by name.
    let other = run(&["-S", "inherit-env"]);
    assert_eq!(other.status.code(), Some(2));
    let line = one_clear_line(&other);
    assert!(line.starts_with("witsock-host: -S inherit-env: "), "{line}");
}

#[test]
fn flags_only_the_socket_layer_enforces_are_refused_with_wasmtime_wasis_sockets() {
    let guest = common::guest_path();
    for flags in [
        &["--max-backlog", "8"][..],
        &["--max-bytes-per-call", "64K"],
        &["--allow-connect", "localhost:80"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_witsock-host"))
            .arg("run")
            .arg(&guest)
            .args(flags)
            .args(["--wasi-sockets", "wasmtime-wasi"])
            .output()
            .expect("witsock-host runs");
        assert_eq!(output.status.code(), Some(2), "{flags:?}");
        let line = one_clear_line(&output);
        assert!(
            line.contains("apply to witsock's socket layer only"),
            "{flags:?}: {line}"
        );
    }
}

/// wasmtime-wasi's wasi:sockets asks the same policy about every address
/// and protocol: `-S tcp=n` and rules by protocol hold there as they do on
/// witsock's socket layer.
#[test]
fn protocols_and_protocol_rules_hold_on_wasmtime_wasis_sockets_too() {
    let guest = common::guest_path();
    let cases: [(&[&str], &str, &str); 2] = [
        (
            &["--allow-bind", "127.0.0.1:*", "-S", "tcp=n"],
            "new 0 udp4; new 1 tcp4",
            "program\tok\taccess-denied",
        ),
        (
            &[
                "--allow-bind",
                "127.0.0.1:*",
                "--allow-connect",
                "tcp://127.0.0.1:*",
            ],
            "new 0 udp4; bind 0 loopback-v4; new 1 udp4; bind 1 loopback-v4; send-to 1 @0 5",
            "program\tok\tok\tok\tok\taccess-denied",
        ),
    ];
    for (flags, program, expected) in cases {
        for sockets in ["witsock", "wasmtime-wasi"] {
            let output = Command::new(env!("CARGO_BIN_EXE_witsock-host"))
                .arg("run")
                .arg(&guest)
                .args(flags)
                .args(["--wasi-sockets", sockets, "--quiet"])
                .args(["--", "--differential-program", program])
                .output()
                .expect("witsock-host runs");
            let stdout = String::from_utf8_lossy(&output.stdout);
            let outcomes = stdout
                .lines()
                .find(|line| line.starts_with("program\t"))
                .unwrap_or_default();
            assert_eq!(
                outcomes,
                expected,
                "{flags:?} on {sockets}: {}",
                stderr(&output)
            );
        }
    }
}

/// `--denial-log FILE` takes the denial lines off the stderr the guest
/// shares, where a guest could print lines that look like them.
#[test]
fn denial_lines_can_go_to_a_file_the_guest_cannot_write() {
    let dir = imports_support::TempDir::new("denial-log");
    let log = dir.path().join("denials.log");
    let output = Command::new(env!("CARGO_BIN_EXE_witsock-host"))
        .arg("run")
        .arg(common::guest_path())
        .args([
            "--allow-bind",
            "127.0.0.1:*",
            "--allow-connect",
            "127.0.0.1:1-2",
        ])
        .arg("--denial-log")
        .arg(&log)
        .args(["--", "--differential-program"])
        .arg("new 0 tcp4; bind 0 loopback-v4; listen 0 4; new 1 tcp4; connect 1 @0")
        .output()
        .expect("witsock-host runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("program\tok\tok\tok\tok\taccess-denied"),
        "{stdout}{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("denied"), "{}", stderr(&output));
    let logged = std::fs::read_to_string(&log).expect("the log");
    let lines: Vec<&str> = logged.lines().collect();
    assert_eq!(lines.len(), 1, "{logged}");
    assert!(
        lines[0].starts_with("witsock-host: denied connect to 127.0.0.1:")
            && lines[0].contains(
                ": no connect rule matches (rules: 127.0.0.1:1-2); add --allow-connect 127.0.0.1:"
            ),
        "{logged}"
    );
    // A log that cannot be opened stops the run before the guest loads.
    let refused = Command::new(env!("CARGO_BIN_EXE_witsock-host"))
        .arg("run")
        .arg(common::guest_path())
        .arg("--denial-log")
        .arg(dir.path().join("missing").join("denials.log"))
        .output()
        .expect("witsock-host runs");
    assert_eq!(refused.status.code(), Some(2));
    assert!(one_clear_line(&refused).starts_with("witsock-host: --denial-log "));
}
