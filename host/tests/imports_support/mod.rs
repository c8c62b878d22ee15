//! Shared by the `imports*` tests: building the guests that import witsock
//! (once per test binary, into their own target directory so that the
//! build never waits on the one running the tests), fresh directories, and
//! counting the host's open descriptors.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use witsock_host::layout;
use witsock_host::{AddressRule, Guest, Policy, RunOptions, RunOutcome, Stdio};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the host crate is in the workspace")
        .to_path_buf()
}

/// Where guests are built: under the tests' own target directory (whose
/// `tmp` is `CARGO_TARGET_TMPDIR`), where `cargo xtask` builds them too.
fn guest_target_dir() -> PathBuf {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target directory");
    layout::imports_target_dir(base)
}

/// Builds `package` for wasm32-wasip2 in release mode, with `features`,
/// from `manifest`, and returns the component at `artifact`.
fn build_guest(manifest: &Path, package: &str, features: &str, artifact: &str) -> PathBuf {
    let target_dir = guest_target_dir();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            layout::GUEST_TARGET,
            "--package",
        ])
        .arg(package)
        .args(["--features", features, "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        // The build is for another target: nothing of this test's
        // environment applies.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building {package} failed ({status})");
    let path = layout::component(&target_dir, artifact);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// The guest suite built with `--features witsock/imports`.
pub fn guest_suite() -> &'static Guest {
    static GUEST: OnceLock<Guest> = OnceLock::new();
    GUEST.get_or_init(|| {
        let path = build_guest(
            &workspace().join("guest-tests/Cargo.toml"),
            layout::GUEST_SUITE,
            layout::IMPORTS_FEATURE,
            layout::GUEST_SUITE,
        );
        Guest::load(&path).expect("the guest suite loads")
    })
}

/// The probe guest of `host/tests/guests/witsock-probe`.
pub fn probe() -> &'static Guest {
    static GUEST: OnceLock<Guest> = OnceLock::new();
    GUEST.get_or_init(|| {
        let path = build_guest(
            &workspace().join("host/tests/guests/witsock-probe/Cargo.toml"),
            "witsock-probe",
            "",
            "witsock-probe",
        );
        Guest::load(&path).expect("the probe loads")
    })
}

/// Runs the probe with `args` under `policy`, capturing its output.
pub fn run_probe(policy: Policy, args: &[&str]) -> RunOutcome {
    run_probe_with(
        RunOptions {
            policy,
            ..RunOptions::default()
        },
        args,
    )
}

/// Runs the probe with `args` and `options`, capturing its output.
pub fn run_probe_with(mut options: RunOptions, args: &[&str]) -> RunOutcome {
    options.args = args.iter().map(|a| a.to_string()).collect();
    options.stdout = Stdio::Capture;
    options.stderr = Stdio::Capture;
    probe().run(&options).expect("the probe runs")
}

/// The probe's stdout as text.
pub fn stdout(outcome: &RunOutcome) -> String {
    String::from_utf8_lossy(&outcome.stdout).into_owned()
}

/// A fresh, empty directory under the system's temporary directory,
/// removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("witsock-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temporary directory");
        TempDir(std::fs::canonicalize(&path).expect("canonical temporary directory"))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The descriptors this process has open (the listing's own included, so
/// two counts compare exactly).
pub fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .or_else(|_| std::fs::read_dir("/dev/fd"))
        .expect("a descriptor listing")
        .count()
}

/// A policy rule from its text.
pub fn rule(text: &str) -> AddressRule {
    text.parse().expect("a rule")
}

/// Fails unless `line` is `MODE: EXPECTED…`.
pub fn assert_result(line: &str, mode: &str, expected: &str) {
    let prefix = format!("{mode}: {expected}");
    assert!(
        line.starts_with(&prefix),
        "expected `{prefix}…`, got `{line}`"
    );
}

/// Runs the `witsock-host` binary with `args`, its compile cache in a
/// directory of the tests' own (never the user's).
pub fn host_command<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_witsock-host"))
        .args(args)
        .env(
            witsock_host::CACHE_DIR_VAR,
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("witsock-host-compile-cache"),
        )
        .output()
        .expect("witsock-host runs")
}

/// Exactly one line on stderr, starting `witsock-host: `, and no sign of a
/// panic or a backtrace.
pub fn one_clear_line(output: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!text.contains("panicked"), "{text}");
    assert!(!text.contains("backtrace"), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(lines[0].starts_with("witsock-host: "), "{text}");
    lines[0].to_string()
}
