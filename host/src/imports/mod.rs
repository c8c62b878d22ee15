//! The witsock WIT (`witsock:sockets/imports`) served to guests from the
//! host's native backend, under the guest's [`Policy`](crate::Policy).
//!
//! A guest built with witsock's `imports` feature imports
//! `witsock:sockets/sockets` in place of wasi:sockets; this module is the
//! other side. Any wasmtime embedder offers it next to `wasmtime_wasi` in a
//! few lines: a [`WitsockCtx`] in the store's data, sharing the store's
//! [`ResourceTable`](wasmtime::component::ResourceTable), and
//! [`add_to_linker`].
//!
//! ```no_run
//! use wasmtime::component::{Component, Linker, ResourceTable};
//! use wasmtime::{Engine, Store};
//! use wasmtime_wasi::p2::bindings::sync::Command;
//! use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
//! use witsock_host::imports::{self, WitsockCtx, WitsockCtxView};
//! use witsock_host::Policy;
//!
//! struct State {
//!     wasi: WasiCtx,
//!     witsock: WitsockCtx,
//!     table: ResourceTable,
//! }
//!
//! impl WasiView for State {
//!     fn ctx(&mut self) -> WasiCtxView<'_> {
//!         WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
//!     }
//! }
//!
//! # fn main() -> wasmtime::Result<()> {
//! let engine = Engine::default();
//! let mut linker = Linker::<State>::new(&engine);
//! wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
//! fn view(state: &mut State) -> WitsockCtxView<'_> {
//!     WitsockCtxView { ctx: &mut state.witsock, table: &mut state.table }
//! }
//! imports::add_to_linker(&mut linker, view)?;
//! // wasi:sockets from the same socket layer, policy and quotas.
//! witsock_host::p2::add_to_linker(&mut linker, view)?;
//!
//! let state = State {
//!     wasi: WasiCtx::builder().inherit_stdio().build(),
//!     witsock: WitsockCtx::new(Policy::loopback()),
//!     table: ResourceTable::new(),
//! };
//! let mut store = Store::new(&engine, state);
//! let component = Component::from_file(&engine, "guest.wasm")?;
//! let command = Command::instantiate(&mut store, &component, &linker)?;
//! let _ = command.wasi_cli_run().call_run(&mut store)?;
//! # Ok(())
//! # }
//! ```
//!
//! # What the host guarantees
//!
//! - Sockets live in the store's table: dropping the store (after an exit
//!   or a trap) closes every socket the guest held.
//! - A forged or stale handle, or one of another resource type, traps the
//!   guest (wasmtime checks handles before the host sees them, and the
//!   host checks again); nothing the guest passes panics the host.
//! - Every address, path and option goes through the [`Policy`](crate::Policy)
//!   before it reaches the kernel, in the socket layer
//!   ([`crate::sockets`]) that serves wasi:sockets ([`crate::p2`]) too;
//!   quotas give the guest `too-many-sockets` or `invalid-argument`. A
//!   refusal is `access-denied` with no `os-error`, and goes to the
//!   context's [`on_denial`](WitsockCtx::on_denial) hook as a
//!   [`Denial`](crate::Denial).
//! - `subscribe` returns a `wasi:io/poll` pollable backed by the socket's
//!   readiness in the tokio reactor wasmtime-wasi runs on, so a guest can
//!   wait on witsock sockets and wasi streams, timers or sockets in one
//!   `poll`. wasmtime-wasi's `wasi:io/poll` must be in the linker.
//! - Payloads the guest sends are read in place from its memory; received
//!   data is copied once from the host's reused buffer into the returned
//!   list (which wasmtime then writes into the guest).
//!
//! The host socket behind every guest socket is non-blocking; a guest's
//! blocking mode is kept by the host, which waits for it between attempts
//! of a call (honouring `receive-timeout` and `send-timeout`). With
//! [`add_to_linker`] a blocking call, `wait` and `poll` wait in the
//! calling thread (poll(2)), as wasmtime-wasi's synchronous bindings do;
//! with [`add_to_linker_async`] they await the socket's readiness on the
//! tokio reactor, so that an async embedder's worker threads are never
//! held by a guest blocked in `try-accept` or `receive`.

mod blocking;
mod convert;
mod host;
mod linker;

use wasmtime::component::Linker;

pub use self::host::WitsockCtxView;
#[cfg(feature = "tools")]
pub use crate::conformance::{
    conformance_column, imports_conformance_policy as conformance_policy, UNIX_SOCKET_DIR_VAR,
};
pub use crate::sockets::resource::SocketResource;
pub use crate::sockets::WitsockCtx;

/// The bindings `bindgen!` generates for the witsock WIT: its types, with
/// `wasi:io/poll` taken from wasmtime-wasi (so that `subscribe` returns
/// wasmtime-wasi's pollable) and the `socket` resource as
/// [`SocketResource`].
#[allow(missing_docs, unused_doc_comments, clippy::all)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "witsock:sockets/imports",
        with: {
            "wasi:io/poll": wasmtime_wasi::p2::bindings::sync::io::poll,
            "witsock:sockets/sockets.socket": super::SocketResource,
        },
        require_store_data_send: true,
    });
}

/// Defines the witsock imports (`witsock:sockets/types` and
/// `witsock:sockets/sockets`) in `linker`. `get` returns the guest's
/// [`WitsockCtx`] and the store's [`ResourceTable`](wasmtime::component::ResourceTable):
///
/// ```ignore
/// imports::add_to_linker(&mut linker, |state| WitsockCtxView {
///     ctx: &mut state.witsock,
///     table: &mut state.table,
/// })?;
/// ```
///
/// `subscribe` returns wasmtime-wasi's `wasi:io/poll` pollable, so the
/// linker needs wasmtime-wasi too (`wasmtime_wasi::p2::add_to_linker_sync`
/// or `_async`), sharing the same table.
///
/// # Errors
/// When the linker already defines these interfaces.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> WitsockCtxView<'_>,
) -> wasmtime::Result<()> {
    linker::add(linker, get, linker::Mode::Sync)
}

/// Defines the witsock imports in `linker` as [`add_to_linker`] does, for
/// a store run with wasmtime's `_async` calls (`instantiate_async`,
/// `call_run` on the async `Command`) inside a tokio runtime: a blocking
/// socket call, `wait`, `poll` and `resolve` await instead of holding the
/// thread. The runtime needs its I/O and time drivers
/// (`Builder::enable_all`), as wasmtime-wasi's async bindings do; pair it
/// with `wasmtime_wasi::p2::add_to_linker_async`.
///
/// ```ignore
/// wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
/// imports::add_to_linker_async(&mut linker, view)?;
/// witsock_host::p2::add_to_linker(&mut linker, view)?;
/// let command = Command::instantiate_async(&mut store, &component, &linker).await?;
/// command.wasi_cli_run().call_run(&mut store).await?;
/// ```
///
/// # Errors
/// When the linker already defines these interfaces.
pub fn add_to_linker_async<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> WitsockCtxView<'_>,
) -> wasmtime::Result<()> {
    linker::add(linker, get, linker::Mode::Async)
}
