//! witsock's project tasks, runnable on a machine that has only cargo and
//! rustup: each task installs the rustup targets it needs itself.
//!
//! ```text
//! cargo xtask conformance   the conformance suite on every backend, and the capability matrix
//! cargo xtask test          format, lint, macOS check, and every test
//! cargo xtask lint          cargo fmt --check and clippy -D warnings
//! cargo xtask macos-check   check and clippy the library for both macOS targets
//! cargo xtask bench         the criterion benchmarks
//! ```
//!
//! The `justfile` has one recipe per task, for those who use `just`.

use std::process::{Command, ExitCode};

const MACOS_TARGETS: &[&str] = &["aarch64-apple-darwin", "x86_64-apple-darwin"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    let result = match task {
        "conformance" => conformance(),
        "test" => test(),
        "lint" => lint(),
        "macos-check" => macos_check(),
        "bench" => bench(&args[1..]),
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

const HELP: &str = "usage: cargo xtask <conformance|test|lint|macos-check|bench>";

/// Runs a command, failing with its description if it fails.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("+ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
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

fn lint() -> Result<(), String> {
    run("cargo", &["fmt", "--all", "--", "--check"])?;
    run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
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

fn test() -> Result<(), String> {
    lint()?;
    macos_check()?;
    run("cargo", &["test", "--workspace"])
}

fn conformance() -> Result<(), String> {
    run(
        "cargo",
        &[
            "test",
            "--package",
            "witsock",
            "--test",
            "conformance",
            "--",
            "--nocapture",
        ],
    )
}

fn bench(extra: &[String]) -> Result<(), String> {
    let mut args = vec!["bench", "--package", "witsock"];
    args.extend(extra.iter().map(String::as_str));
    run("cargo", &args)
}
