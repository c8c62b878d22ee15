//! The one guest runner: a compiled `wasi:cli/command` component run in a
//! fresh store with wasmtime-wasi, wasi:sockets and the witsock imports
//! from witsock's socket layer, synchronously ([`Guest::run`]) or on the
//! caller's tokio runtime ([`Guest::run_async`]).

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime::Store;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

use crate::imports::{self, WitsockCtx, WitsockCtxView};
use crate::wasi_quota::{self, QuotaView, SocketQuota};
use crate::{
    p2, store_limits, CacheOutcome, Compiled, HostError, LoadOptions, RunOptions, RunOutcome,
    StoreLimits, WasiSockets,
};

/// A compiled component, ready to run any number of times, each run in a
/// fresh store: a guest on wasi:sockets, one that imports witsock, or one
/// that uses both.
pub struct Guest {
    compiled: Compiled,
    linkers: [OnceLock<Result<Linker<GuestState>, String>>; 3],
}

/// Which of a [`Guest`]'s linkers a run uses.
#[derive(Clone, Copy)]
enum Linking {
    /// wasi:sockets and the imports from witsock's layer, calls that block
    /// waiting in the calling thread.
    Sync = 0,
    /// wasi:sockets from wasmtime-wasi (for comparison).
    WasmtimeWasi = 1,
    /// witsock's layer, calls that block awaiting the reactor.
    Async = 2,
}

/// The store's data: WASI, witsock, and the table both use.
struct GuestState {
    wasi: WasiCtx,
    witsock: WitsockCtx,
    table: ResourceTable,
    limits: StoreLimits,
    /// The guest's sockets when wasmtime-wasi serves wasi:sockets (witsock
    /// counts the others).
    wasi_sockets: SocketQuota,
}

impl QuotaView for GuestState {
    fn quota(&mut self) -> (&mut SocketQuota, &ResourceTable) {
        (&mut self.wasi_sockets, &self.table)
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn view(state: &mut GuestState) -> WitsockCtxView<'_> {
    WitsockCtxView {
        ctx: &mut state.witsock,
        table: &mut state.table,
    }
}

impl Guest {
    /// Reads and compiles the component at `path`, without a compile
    /// cache.
    pub fn load(path: impl AsRef<Path>) -> Result<Guest, HostError> {
        Guest::load_with(path, &LoadOptions::default())
    }

    /// Reads the component at `path` and compiles it, or loads it from the
    /// compile cache `options` names.
    pub fn load_with(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Guest, HostError> {
        let guest = Guest {
            compiled: Compiled::load(path.as_ref(), options)?,
            linkers: Default::default(),
        };
        // Link errors (a host bug) show at load, not at the first run.
        guest.linker(Linking::Sync)?;
        Ok(guest)
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.compiled.path
    }

    /// The names of the interfaces the component imports.
    pub fn imports(&self) -> Vec<String> {
        self.compiled.imports()
    }

    /// How long compiling it (or loading it from the compile cache) took.
    pub fn compile_time(&self) -> Duration {
        self.compiled.compile_time
    }

    /// Whether it was loaded from the compile cache, not compiled.
    pub fn from_cache(&self) -> bool {
        self.compiled.cache == CacheOutcome::Hit
    }

    /// What the compile cache did when it was loaded.
    pub fn cache_outcome(&self) -> &CacheOutcome {
        &self.compiled.cache
    }

    /// The linker of `linking`, made on first use.
    fn linker(&self, linking: Linking) -> Result<&Linker<GuestState>, HostError> {
        let made = self.linkers[linking as usize].get_or_init(|| {
            let mut linker = Linker::<GuestState>::new(&self.compiled.engine);
            let defined = match linking {
                Linking::Async => wasmtime_wasi::p2::add_to_linker_async(&mut linker)
                    .and_then(|()| imports::add_to_linker_async(&mut linker, view)),
                _ => wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
                    .and_then(|()| imports::add_to_linker(&mut linker, view)),
            };
            defined
                .and_then(|()| match linking {
                    Linking::WasmtimeWasi => wasi_quota::add_to_linker(&mut linker),
                    _ => p2::add_to_linker(&mut linker, view),
                })
                .map(|()| linker)
                .map_err(|e| format!("{e:#}"))
        });
        made.as_ref().map_err(|reason| HostError::Instantiate {
            path: self.compiled.path.clone(),
            reason: reason.clone(),
        })
    }

    /// Runs `wasi:cli/run` in a fresh store under `options`, in the
    /// calling thread: a blocking socket call of the guest waits in it.
    pub fn run(&self, options: &RunOptions) -> Result<RunOutcome, HostError> {
        self.run_observed(options, |_| {})
    }

    /// Runs like [`run`](Guest::run), calling `observe` once the guest has
    /// finished (exited or trapped) but before its store is dropped, with
    /// the guest's witsock state: what the guest still held is still open
    /// then.
    pub fn run_observed(
        &self,
        options: &RunOptions,
        observe: impl FnOnce(&WitsockCtx),
    ) -> Result<RunOutcome, HostError> {
        let linking = match options.wasi_sockets {
            WasiSockets::Witsock => Linking::Sync,
            WasiSockets::WasmtimeWasi => Linking::WasmtimeWasi,
        };
        let linker = self.linker(linking)?;
        let (mut store, captured) = self.store(options)?;
        self.compiled.set_deadline(&mut store, &options.limits);
        self.compiled
            .run(store, linker, captured, |state| observe(&state.witsock))
    }

    /// Runs `wasi:cli/run` in a fresh store under `options`, as a future
    /// for a tokio runtime with its I/O and time drivers: a blocking socket
    /// call, `wait`, `poll` or name lookup of the guest awaits the socket's
    /// readiness (or a blocking thread) instead of holding a worker, and a
    /// guest computing for long yields to the runtime every few
    /// milliseconds, so that one runtime thread serves any number of
    /// guests, however many of them are blocked.
    ///
    /// # Errors
    /// As [`run`](Guest::run); [`WasiSockets::WasmtimeWasi`] is for
    /// synchronous runs only.
    pub async fn run_async(&self, options: &RunOptions) -> Result<RunOutcome, HostError> {
        if options.wasi_sockets == WasiSockets::WasmtimeWasi {
            return Err(HostError::Instantiate {
                path: self.compiled.path.clone(),
                reason: "wasmtime-wasi's wasi:sockets serve synchronous runs only: \
                         run it with Guest::run, or serve wasi:sockets from witsock"
                    .to_string(),
            });
        }
        let linker = self.linker(Linking::Async)?;
        let (mut store, captured) = self.store(options)?;
        self.compiled
            .set_async_deadline(&mut store, &options.limits);
        self.compiled.run_async(store, linker, captured).await
    }

    /// A fresh store for one run under `options`.
    fn store(
        &self,
        options: &RunOptions,
    ) -> Result<(Store<GuestState>, crate::Captured), HostError> {
        let (mut builder, captured) =
            self.compiled
                .wasi_builder(&options.args, options.stdout, options.stderr);
        for (key, value) in &options.env {
            builder.env(key, value);
        }
        for dir in &options.preopens {
            let guest_path = dir.to_string_lossy();
            builder
                .preopened_dir(dir, guest_path, FsPerms::ReadWrite)
                .map_err(|e| self.compiled.instantiate_error(e))?;
        }
        options.policy.apply(&mut builder);
        let mut witsock = WitsockCtx::new(options.policy.clone());
        if let Some(hook) = &options.on_denial {
            witsock = witsock.on_denial(hook.clone());
        }
        let mut store = Store::new(
            &self.compiled.engine,
            GuestState {
                wasi: builder.build(),
                witsock,
                table: ResourceTable::new(),
                limits: store_limits(&options.limits),
                wasi_sockets: SocketQuota::new(
                    options.policy.limits().max_sockets,
                    options.policy.allows_name_lookup(),
                ),
            },
        );
        store.limiter(|state| &mut state.limits);
        Ok((store, captured))
    }
}
