//! witsock's project tasks, runnable on a machine that has only cargo and
//! rustup: each task installs the rustup targets it needs itself.
//!
//! ```text
//! cargo xtask conformance   the conformance matrix (native, wasi-p2, witsock-imports), the capabilities,
//!                           and 2000 differential programs on each guest
//! cargo xtask soak [N] [SEED]
//!                           N differential programs (default 100000) from SEED (default 1)
//! cargo xtask test          format, lint, macOS check, every test, and the conformance matrix
//! cargo xtask build         the library, the host (release) and both guest suite components
//! cargo xtask lint          cargo fmt --check and clippy -D warnings (native, wasm32-wasip2, the probe guest)
//! cargo xtask macos-check   check and clippy the library for both macOS targets
//! cargo xtask bench         the criterion benchmarks and their ratio table (benches/run.sh)
//! cargo xtask bench-ab      interleaved A/B timings, witsock against its peers (benches/ab.sh)
//! cargo xtask syscalls      syscalls and allocations per operation under strace (benches/syscalls.sh)
//! ```
//!
//! Everything that links wasmtime (the `witsock-host` package) is built in
//! release only, so wasmtime is compiled once, not once per profile.
//!
//! The guest suite is built twice for wasm32-wasip2: on wasi:sockets into
//! the target directory, and with `--features witsock/imports` into
//! `<target>/witsock-imports-guests` (where the host's tests build it too,
//! and where `witsock-host conformance` looks by default; see
//! `host/src/layout.rs`).
//!
//! The `justfile` has one recipe per task, for those who use `just`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

// The guests' layout, shared with the host (this package must not link
// wasmtime, so it compiles the host's dependency-free file itself).
#[path = "../../host/src/layout.rs"]
mod layout;

use layout::{GUEST_SUITE as GUEST, GUEST_TARGET as WASM_TARGET};

/// The whole conformance matrix, written by `cargo xtask conformance` (the
/// README links it).
const MATRIX_FILE: &str = "CONFORMANCE.md";

const MACOS_TARGETS: &[&str] = &["aarch64-apple-darwin", "x86_64-apple-darwin"];
/// The package that links wasmtime: release builds only.
const HOST: &str = "witsock-host";
/// The guest of the host's tests that imports witsock: a workspace of its
/// own.
const PROBE_MANIFEST: &str = "host/tests/guests/witsock-probe/Cargo.toml";

fn main() -> ExitCode {
    // Tasks name files relative to the workspace root (benches/*.sh, …):
    // run from there whatever directory `cargo xtask` was called in.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in a directory of the workspace");
    if let Err(e) = std::env::set_current_dir(root) {
        eprintln!(
            "xtask: cannot enter the workspace root {}: {e}",
            root.display()
        );
        return ExitCode::FAILURE;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    let result = match task {
        "conformance" => conformance(),
        "soak" => soak(&args[1..]),
        "test" => test(),
        "build" => build(),
        "lint" => lint(),
        "macos-check" => macos_check(),
        "bench" => bench(&args[1..]),
        "bench-ab" => run("bash", &["benches/ab.sh"]),
        "syscalls" => run("bash", &["benches/syscalls.sh"]),
        "help" | "-h" | "--help" => {
            println!("{}", HELP);
            Ok(())
        }
        other => Err(format!("unknown task `{other}`\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {task}: {e}");
            ExitCode::FAILURE
        }
    }
}

const HELP: &str =
    "usage: cargo xtask <conformance|test|build|lint|macos-check|bench|bench-ab|syscalls|soak [N] [SEED]>";

/// Differential programs `cargo xtask conformance` (and so CI) runs on
/// each guest: a few seconds to a minute; `soak` runs as many as asked.
const CI_PROGRAMS: u64 = 2000;

/// Runs a command, failing with its description if it fails.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    run_command(Command::new(program).args(args))
}

/// Runs `command`, echoing it first, failing with its description if it
/// fails.
fn run_command(command: &mut Command) -> Result<(), String> {
    let shown = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!("+ {shown}");
    let status = command
        .status()
        .map_err(|e| format!("cannot run {}: {e}", command.get_program().display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

/// The workspace root (this package is one level below it).
fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
}

/// Installs rustup targets that are missing.
fn ensure_targets(targets: &[&str]) -> Result<(), String> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("cannot run rustup: {e}"))?;
    let installed = String::from_utf8_lossy(&out.stdout);
    let missing: Vec<&str> = targets
        .iter()
        .copied()
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut args = vec!["target", "add"];
    args.extend(missing);
    run("rustup", &args)
}

/// The target directory cargo builds into (CARGO_TARGET_DIR, a config's
/// `build.target-dir`, or `target/`), as `cargo metadata` reports it.
fn target_dir() -> Result<PathBuf, String> {
    let out = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let json = String::from_utf8_lossy(&out.stdout);
    let key = "\"target_directory\":\"";
    let start = json
        .find(key)
        .ok_or("cargo metadata reported no target_directory")?
        + key.len();
    let end = json[start..]
        .find('"')
        .ok_or("cargo metadata: unterminated target_directory")?;
    Ok(PathBuf::from(
        json[start..start + end].replace("\\\\", "\\"),
    ))
}

fn lint() -> Result<(), String> {
    ensure_targets(&[WASM_TARGET])?;
    let probe = workspace().join(PROBE_MANIFEST);
    run("cargo", &["fmt", "--all", "--", "--check"])?;
    run_command(
        Command::new("cargo")
            .args(["fmt", "--manifest-path"])
            .arg(&probe)
            .args(["--", "--check"]),
    )?;
    run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--exclude",
            HOST,
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    run(
        "cargo",
        &[
            "clippy",
            "--release",
            "--package",
            HOST,
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // What an embedder builds: the library without the test tooling.
    run(
        "cargo",
        &[
            "clippy",
            "--release",
            "--package",
            HOST,
            "--no-default-features",
            "--lib",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    for features in [&[][..], &["--features", layout::IMPORTS_FEATURE][..]] {
        let mut args = vec![
            "clippy",
            "--package",
            "witsock",
            "--package",
            GUEST,
            "--target",
            WASM_TARGET,
        ];
        args.extend(features);
        args.extend(["--", "-D", "warnings"]);
        run("cargo", &args)?;
    }
    // The probe is a workspace of its own; its builds go where the host's
    // tests build it.
    run_command(
        Command::new("cargo")
            .args(["clippy", "--manifest-path"])
            .arg(&probe)
            .args(["--target", WASM_TARGET, "--target-dir"])
            .arg(layout::imports_target_dir(&target_dir()?))
            .args(["--", "-D", "warnings"]),
    )
}

fn macos_check() -> Result<(), String> {
    ensure_targets(MACOS_TARGETS)?;
    for target in MACOS_TARGETS {
        run(
            "cargo",
            &["check", "--package", "witsock", "--target", target],
        )?;
        run(
            "cargo",
            &[
                "clippy",
                "--package",
                "witsock",
                "--target",
                target,
                "--",
                "-D",
                "warnings",
            ],
        )?;
    }
    Ok(())
}

/// Builds the guest suite component on wasi:sockets; returns its path.
fn build_guest() -> Result<PathBuf, String> {
    ensure_targets(&[WASM_TARGET])?;
    run(
        "cargo",
        &[
            "build",
            "--package",
            GUEST,
            "--target",
            WASM_TARGET,
            "--release",
        ],
    )?;
    built(layout::wasi_guest_suite(&target_dir()?), "the guest suite")
}

/// Builds the guest suite component with the witsock imports into its own
/// target directory, as the host's tests do (host/tests/imports_support),
/// so that either build leaves the other up to date; returns its path.
fn build_imports_guest() -> Result<PathBuf, String> {
    ensure_targets(&[WASM_TARGET])?;
    let target_dir = target_dir()?;
    run_command(
        Command::new("cargo")
            .args(["build", "--release", "--target", WASM_TARGET, "--package"])
            .arg(GUEST)
            .args(["--features", layout::IMPORTS_FEATURE, "--manifest-path"])
            .arg(workspace().join("guest-tests/Cargo.toml"))
            .arg("--target-dir")
            .arg(layout::imports_target_dir(&target_dir))
            // A wasm build: flags meant for native code do not apply.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS"),
    )?;
    built(
        layout::imports_guest_suite(&target_dir),
        "the imports guest suite",
    )
}

/// `path` if it is a file, else an error naming `what`.
fn built(path: PathBuf, what: &str) -> Result<PathBuf, String> {
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{what} was not built at {}", path.display()))
    }
}

/// Builds the host in release; returns the binary's path.
fn build_host() -> Result<PathBuf, String> {
    run("cargo", &["build", "--package", HOST, "--release"])?;
    let path = target_dir()?
        .join("release")
        .join(format!("{HOST}{}", std::env::consts::EXE_SUFFIX));
    built(path, "the host")
}

fn build() -> Result<(), String> {
    run("cargo", &["build", "--workspace", "--exclude", HOST])?;
    build_host()?;
    build_guest()?;
    build_imports_guest()?;
    Ok(())
}

fn test() -> Result<(), String> {
    // Before anything builds a guest (the host's tests build them too).
    ensure_targets(&[WASM_TARGET])?;
    lint()?;
    macos_check()?;
    run("cargo", &["test", "--workspace", "--exclude", HOST])?;
    build_guest()?;
    build_imports_guest()?;
    run("cargo", &["test", "--package", HOST, "--release"])?;
    conformance()
}

/// The matrix: the shared cases natively (in the host's process), in the
/// guest suite on wasi:sockets and in the guest suite on the witsock
/// imports, both under wasmtime; fails when any cell fails.
fn conformance() -> Result<(), String> {
    let guest = build_guest()?;
    let imports_guest = build_imports_guest()?;
    let host = build_host()?;
    run_command(
        Command::new(&host)
            .arg("conformance")
            .arg("--guest")
            .arg(&guest)
            .arg("--imports-guest")
            .arg(&imports_guest)
            .arg("--matrix-file")
            .arg(workspace().join(MATRIX_FILE)),
    )?;
    differential(&host, &guest, &imports_guest, CI_PROGRAMS, 1)
}

/// Runs `programs` differential programs from `seed` on both guests.
fn differential(
    host: &Path,
    guest: &Path,
    imports_guest: &Path,
    programs: u64,
    seed: u64,
) -> Result<(), String> {
    run_command(
        Command::new(host)
            .arg("differential")
            .arg("--guest")
            .arg(guest)
            .arg("--imports-guest")
            .arg(imports_guest)
            .arg("--programs")
            .arg(programs.to_string())
            .arg("--seed")
            .arg(seed.to_string()),
    )
}

/// `cargo xtask soak [N] [SEED]`: the differential tester at length.
fn soak(args: &[String]) -> Result<(), String> {
    let number = |i: usize, default: u64| -> Result<u64, String> {
        args.get(i).map_or(Ok(default), |a| {
            a.parse()
                .map_err(|_| format!("soak takes numbers: N and SEED, not `{a}`"))
        })
    };
    let (programs, seed) = (number(0, 100_000)?, number(1, 1)?);
    let guest = build_guest()?;
    let imports_guest = build_imports_guest()?;
    let host = build_host()?;
    let started = std::time::Instant::now();
    differential(&host, &guest, &imports_guest, programs, seed)?;
    eprintln!(
        "soak: {programs} programs from seed {seed} in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Every criterion benchmark, then the ratio table (`benches/run.sh`);
/// extra arguments are criterion filters.
fn bench(extra: &[String]) -> Result<(), String> {
    let mut args = vec!["benches/run.sh"];
    args.extend(extra.iter().map(String::as_str));
    run("bash", &args)
}
