//! Serving the witsock imports next to wasmtime-wasi: the whole embedding
//! in one file.
//!
//! A guest that uses witsock, built with its `imports` feature, imports
//! `witsock:sockets/sockets` instead of wasi:sockets; this host provides
//! it from its native sockets under a [`Policy`] (here: loopback
//! only, plus a fresh private directory for Unix sockets, which the guest
//! finds in `WITSOCK_UNIX_SOCKET_DIR`), and wasmtime-wasi provides the
//! rest of WASI (and `wasi:io/poll`, which witsock's pollables belong to).
//!
//! Grant a directory of the guest's own: a grant covers everything below
//! it, so granting a shared one such as the system's temporary directory
//! would hand the guest every socket other programs keep there (which is
//! why `allow_unix_dir` refuses world-writable directories).
//!
//! ```text
//! cargo build --release --target wasm32-wasip2 -p witsock-guest-tests --features witsock/imports
//! cargo run --release -p witsock-host --example witsock_imports -- \
//!     target/wasm32-wasip2/release/witsock-guest-tests.wasm tcp_v4
//! ```
//!
//! Everything after the component's path is passed to it as arguments.
//! The example exits with the guest's exit code (134 if it traps).

use std::path::PathBuf;
use std::process::ExitCode;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxView, WasiView};
use witsock_host::imports::{self, WitsockCtx, WitsockCtxView};
use witsock_host::Policy;

/// The store's data: WASI's context, witsock's, and the resource table
/// both keep their handles in.
struct State {
    wasi: WasiCtx,
    witsock: WitsockCtx,
    table: ResourceTable,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((component, guest_args)) = args.split_first() else {
        eprintln!("usage: witsock_imports COMPONENT.wasm [ARGS...]");
        return ExitCode::from(2);
    };
    match run(component, guest_args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("witsock_imports: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(component: &str, guest_args: &[String]) -> wasmtime::Result<u8> {
    let engine = Engine::default();
    let mut linker = Linker::<State>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    fn view(state: &mut State) -> WitsockCtxView<'_> {
        WitsockCtxView {
            ctx: &mut state.witsock,
            table: &mut state.table,
        }
    }
    // The witsock interface, and wasi:sockets from the same socket layer
    // and policy (in place of wasmtime-wasi's).
    imports::add_to_linker(&mut linker, view)?;
    witsock_host::p2::add_to_linker(&mut linker, view)?;

    // Loopback addresses, every port; Unix sockets in a directory made for
    // this guest alone. Everything else is refused.
    let unix_dir = PrivateDir::new()?;
    let unix_path = unix_dir.0.to_string_lossy().into_owned();
    let policy = Policy::loopback().allow_unix_dir(&unix_dir.0)?;
    let wasi = WasiCtx::builder()
        .inherit_stdio()
        .arg(component)
        .args(guest_args)
        .env("WITSOCK_UNIX_SOCKET_DIR", &unix_path)
        .preopened_dir(&unix_dir.0, &unix_path, FsPerms::ReadWrite)?
        .build();
    let state = State {
        wasi,
        witsock: WitsockCtx::new(policy),
        table: ResourceTable::new(),
    };
    let mut store = Store::new(&engine, state);
    let component = Component::from_file(&engine, component)?;
    let command = Command::instantiate(&mut store, &component, &linker)?;
    let code = match command.wasi_cli_run().call_run(&mut store) {
        Ok(Ok(())) => 0,
        Ok(Err(())) => 1,
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(exit) => exit.0.clamp(0, 255) as u8,
            None => {
                eprintln!("witsock_imports: the guest trapped: {e:#}");
                134
            }
        },
    };
    // Dropping the store closes every socket the guest still held.
    drop(store);
    Ok(code)
}

/// A directory only this user can enter (mode 0700), created fresh under
/// the temporary directory and removed with its contents on drop.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn new() -> std::io::Result<PrivateDir> {
        use std::os::unix::fs::DirBuilderExt;
        let path = std::env::temp_dir().join(format!("witsock-guest-{}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(PrivateDir(std::fs::canonicalize(path)?))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
