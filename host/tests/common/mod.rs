//! Shared by the host's integration tests: the guest suite component,
//! built on first use.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use witsock_host::Guest;

/// The target directory of this build (`CARGO_TARGET_TMPDIR` is its `tmp`).
fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target directory")
        .to_path_buf()
}

/// The guest suite component, built (or brought up to date) once per test
/// binary with `cargo build -p witsock-guest-tests --target wasm32-wasip2
/// --release`, so the tests never run a stale guest.
pub fn guest_path() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let target_dir = target_dir();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
            let status = Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "--package",
                    "witsock-guest-tests",
                    "--target",
                    "wasm32-wasip2",
                    "--release",
                    "--target-dir",
                ])
                .arg(&target_dir)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("cannot run cargo to build the guest suite");
            assert!(
                status.success(),
                "building the guest suite failed ({status}); is the wasm32-wasip2 target installed? (`rustup target add wasm32-wasip2`)"
            );
            let path = target_dir.join("wasm32-wasip2/release/witsock-guest-tests.wasm");
            assert!(path.is_file(), "{} was not built", path.display());
            path
        })
        .clone()
}

/// The guest suite, loaded.
pub fn guest() -> Guest {
    Guest::load(guest_path()).unwrap_or_else(|e| panic!("{e}"))
}
