//! Serving the witsock imports next to wasmtime-wasi: the whole embedding
//! in one file.
//!
//! A guest that uses witsock, built with its `imports` feature, imports
//! `witsock:sockets/sockets` instead of wasi:sockets; this host provides
//! it from its native sockets under a [`WitsockPolicy`] (here: loopback
//! only, plus a directory for Unix sockets), and wasmtime-wasi provides the
//! rest of WASI (and `wasi:io/poll`, which witsock's pollables belong to).
//!
//! ```text
//! cargo build --release --target wasm32-wasip2 -p witsock-guest-tests --features witsock/imports
//! cargo run --release -p witsock-host --example witsock_imports -- \
//!     target/wasm32-wasip2/release/witsock-guest-tests.wasm tcp_v4
//! ```
//!
//! Everything after the component's path is passed to it as arguments.
//! The example exits with the guest's exit code (134 if it traps).

use std::process::ExitCode;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxView, WasiView};
use witsock_host::imports::{self, WitsockCtx, WitsockCtxView, WitsockPolicy};

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
    imports::add_to_linker(&mut linker, |state| WitsockCtxView {
        ctx: &mut state.witsock,
        table: &mut state.table,
    })?;

    // Loopback addresses, every port; Unix sockets in the temporary
    // directory. Everything else is refused.
    let policy = WitsockPolicy::loopback().allow_unix_dir(std::env::temp_dir())?;
    let wasi = WasiCtx::builder()
        .inherit_stdio()
        .arg(component)
        .args(guest_args)
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
