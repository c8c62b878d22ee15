//! Where the guest components are built, relative to a cargo target
//! directory: the guest suite for wasi:sockets, and the guests that import
//! witsock (the guest suite with `--features witsock/imports`, the probe).
//!
//! The imports guests get a target directory of their own under the main
//! one: the guest suite is the same package in both builds, so one target
//! directory would hold only one of the two components at a time.
//!
//! This file uses nothing but `std`: `xtask` compiles it too (it must not
//! link wasmtime), so the guests it builds are where `witsock-host` and the
//! host's tests look for them.

use std::path::{Path, PathBuf};

/// The target the guests are built for.
pub const GUEST_TARGET: &str = "wasm32-wasip2";

/// The guest suite's package, and the name of its component.
pub const GUEST_SUITE: &str = "witsock-guest-tests";

/// The feature that makes a guest import the witsock WIT.
pub const IMPORTS_FEATURE: &str = "witsock/imports";

/// The imports guests' target directory, relative to the main one.
pub const IMPORTS_GUESTS_DIR: &str = "witsock-imports-guests";

/// The target directory of the guests that import witsock, under the main
/// target directory `target_dir`.
pub fn imports_target_dir(target_dir: &Path) -> PathBuf {
    target_dir.join(IMPORTS_GUESTS_DIR)
}

/// The release component `artifact` built for [`GUEST_TARGET`] into
/// `guest_target_dir`.
pub fn component(guest_target_dir: &Path, artifact: &str) -> PathBuf {
    guest_target_dir
        .join(GUEST_TARGET)
        .join("release")
        .join(format!("{artifact}.wasm"))
}

/// The guest suite on wasi:sockets, built into the main target directory
/// `target_dir`.
pub fn wasi_guest_suite(target_dir: &Path) -> PathBuf {
    component(target_dir, GUEST_SUITE)
}

/// The guest suite built with [`IMPORTS_FEATURE`], under the main target
/// directory `target_dir`.
pub fn imports_guest_suite(target_dir: &Path) -> PathBuf {
    component(&imports_target_dir(target_dir), GUEST_SUITE)
}
