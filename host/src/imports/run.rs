//! Running a `wasi:cli/command` component with the witsock imports next to
//! wasmtime-wasi, and the conformance column of a guest suite built with
//! `--features witsock/imports`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime::Store;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

use super::{add_to_linker, WitsockCtx, WitsockCtxView, WitsockPolicy};
use crate::wasi_quota::{self, QuotaView, SocketQuota};
use crate::{
    store_limits, CacheOutcome, Compiled, DenialHook, GuestLimits, HostError, LoadOptions, Policy,
    RunOutcome, Stdio, StoreLimits, WasiSockets,
};

/// The environment variable that tells the guest suite where to put Unix
/// socket files (a directory the host grants and preopens).
pub const UNIX_SOCKET_DIR_VAR: &str = "WITSOCK_UNIX_SOCKET_DIR";

/// How to run a guest with the witsock imports.
#[derive(Clone, Debug, Default)]
pub struct WitsockRunOptions {
    /// The guest's arguments, after its program name.
    pub args: Vec<String>,
    /// Environment variables.
    pub env: Vec<(String, String)>,
    /// Host directories the guest may open, each at its own path.
    pub preopens: Vec<PathBuf>,
    /// What the guest may do through the witsock imports.
    pub witsock: WitsockPolicy,
    /// What it may do through wasi:sockets (nothing by default).
    pub wasi: Policy,
    /// Where its stdout goes.
    pub stdout: Stdio,
    /// Where its stderr goes.
    pub stderr: Stdio,
    /// How much memory and time it may take.
    pub limits: GuestLimits,
    /// Which implementation serves wasi:sockets (under the `witsock`
    /// policy when it is witsock's, the `wasi` one otherwise).
    pub wasi_sockets: WasiSockets,
    /// Called with every refusal of the policy.
    pub on_denial: Option<DenialHook>,
}

/// A compiled component that imports witsock, ready to run any number of
/// times, each run in a fresh store.
pub struct WitsockGuest {
    compiled: Compiled,
    /// wasi:sockets from witsock's socket layer.
    linker: Linker<GuestState>,
    /// wasi:sockets from wasmtime-wasi.
    wasmtime_linker: Linker<GuestState>,
}

/// The store's data: WASI, witsock, and the table both use.
struct GuestState {
    wasi: WasiCtx,
    witsock: WitsockCtx,
    table: ResourceTable,
    limits: StoreLimits,
    /// The guest's wasi:sockets sockets (its witsock ones are counted by
    /// `witsock`).
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

impl WitsockGuest {
    /// Reads and compiles the component at `path`, without a compile
    /// cache.
    pub fn load(path: impl AsRef<Path>) -> Result<WitsockGuest, HostError> {
        WitsockGuest::load_with(path, &LoadOptions::default())
    }

    /// Reads the component at `path` and compiles it, or loads it from the
    /// compile cache `options` names.
    pub fn load_with(
        path: impl AsRef<Path>,
        options: &LoadOptions,
    ) -> Result<WitsockGuest, HostError> {
        let compiled = Compiled::load(path.as_ref(), options)?;
        fn view(state: &mut GuestState) -> WitsockCtxView<'_> {
            WitsockCtxView {
                ctx: &mut state.witsock,
                table: &mut state.table,
            }
        }
        let linker = |wasi_sockets| {
            let mut linker = Linker::<GuestState>::new(&compiled.engine);
            wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
                .and_then(|()| match wasi_sockets {
                    WasiSockets::Witsock => crate::p2::add_to_linker(&mut linker, view),
                    WasiSockets::WasmtimeWasi => wasi_quota::add_to_linker(&mut linker),
                })
                .and_then(|()| add_to_linker(&mut linker, view))
                .map_err(|e| compiled.instantiate_error(e))
                .map(|()| linker)
        };
        Ok(WitsockGuest {
            linker: linker(WasiSockets::Witsock)?,
            wasmtime_linker: linker(WasiSockets::WasmtimeWasi)?,
            compiled,
        })
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

    /// Runs `wasi:cli/run` in a fresh store under `options`.
    pub fn run(&self, options: &WitsockRunOptions) -> Result<RunOutcome, HostError> {
        self.run_observed(options, |_| {})
    }

    /// Runs like [`run`](WitsockGuest::run), calling `observe` once the
    /// guest has finished (exited or trapped) but before its store is
    /// dropped, with the guest's witsock state: what the guest still held
    /// is still open then.
    pub fn run_observed(
        &self,
        options: &WitsockRunOptions,
        observe: impl FnOnce(&WitsockCtx),
    ) -> Result<RunOutcome, HostError> {
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
        options.wasi.apply(&mut builder);
        let mut witsock = WitsockCtx::new(options.witsock.clone());
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
                    options.wasi.max_sockets(),
                    options.wasi.allows_ip_name_lookup(),
                ),
            },
        );
        store.limiter(|state| &mut state.limits);
        self.compiled.set_deadline(&mut store, &options.limits);
        let linker = match options.wasi_sockets {
            WasiSockets::Witsock => &self.linker,
            WasiSockets::WasmtimeWasi => &self.wasmtime_linker,
        };
        self.compiled
            .run(store, linker, captured, |state| observe(&state.witsock))
    }
}
