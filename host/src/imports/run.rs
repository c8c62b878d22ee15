//! Running a `wasi:cli/command` component with the witsock imports next to
//! wasmtime-wasi, and the conformance column of a guest suite built with
//! `--features witsock/imports`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime::Store;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use witsock_conformance::Backend;

use super::{add_to_linker, Limits, WitsockCtx, WitsockCtxView, WitsockPolicy};
use crate::conformance::Column;
use crate::wasi_quota::{self, QuotaView, SocketQuota};
use crate::{
    store_limits, AddressRule, CacheOutcome, Compiled, GuestLimits, HostError, LoadOptions, Policy,
    RunOutcome, Stdio, StoreLimits,
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
}

/// A compiled component that imports witsock, ready to run any number of
/// times, each run in a fresh store.
pub struct WitsockGuest {
    compiled: Compiled,
    linker: Linker<GuestState>,
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
        let mut linker = Linker::<GuestState>::new(&compiled.engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .and_then(|()| wasi_quota::add_to_linker(&mut linker))
            .and_then(|()| {
                add_to_linker(&mut linker, |state| WitsockCtxView {
                    ctx: &mut state.witsock,
                    table: &mut state.table,
                })
            })
            .map_err(|e| compiled.instantiate_error(e))?;
        Ok(WitsockGuest { compiled, linker })
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.compiled.path
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
        let mut store = Store::new(
            &self.compiled.engine,
            GuestState {
                wasi: builder.build(),
                witsock: WitsockCtx::new(options.witsock.clone()),
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
        self.compiled.run(store, &self.linker, captured, |state| {
            observe(&state.witsock)
        })
    }
}

/// The policy the conformance suite runs under through the imports: what a
/// native process on loopback may do (every loopback address, binding the
/// unspecified addresses for its dual-stack listener and the few addresses
/// off loopback the address matrix binds, Unix sockets in `unix_dir` and
/// under the suite's abstract names, multicast, lingering, name lookup),
/// with quotas large enough for its burst of connections.
pub fn conformance_policy(unix_dir: &Path) -> std::io::Result<WitsockPolicy> {
    let mut policy = WitsockPolicy::loopback();
    let bound = witsock_conformance::addresses::BOUND_OFF_LOOPBACK;
    for ip in [
        IpAddr::from(Ipv4Addr::UNSPECIFIED),
        Ipv6Addr::UNSPECIFIED.into(),
    ]
    .into_iter()
    .chain(bound.iter().copied())
    {
        let full = if ip.is_ipv4() { 32 } else { 128 };
        if let Some(rule) = AddressRule::new(ip, full, 0, u16::MAX) {
            policy = policy.allow_bind(rule);
        }
    }
    Ok(policy
        .allow_unix_dir(unix_dir)?
        .allow_abstract_prefix("witsock-conformance-")
        .allow_socket_pairs(true)
        .allow_multicast(true)
        .allow_linger(Duration::from_secs(3600))
        .allow_name_lookup(true)
        .with_limits(Limits {
            max_sockets: 8192,
            max_backlog: 4096,
            ..Limits::default()
        }))
}

/// Runs the guest suite `guest` (built with `--features witsock/imports`)
/// under [`conformance_policy`], passing `filter` on, and reads its reports
/// as the `witsock-imports` column. Unix socket files go to `unix_dir`,
/// which the guest gets preopened at the same path.
pub fn conformance_column(
    guest: &WitsockGuest,
    filter: Option<&str>,
    unix_dir: &Path,
) -> Result<Column, HostError> {
    let policy = conformance_policy(unix_dir).map_err(|e| HostError::Instantiate {
        path: unix_dir.to_path_buf(),
        reason: format!("cannot grant the Unix socket directory: {e}"),
    })?;
    let outcome = guest.run(&WitsockRunOptions {
        args: filter.map(str::to_string).into_iter().collect(),
        env: vec![(
            UNIX_SOCKET_DIR_VAR.to_string(),
            unix_dir.to_string_lossy().into_owned(),
        )],
        preopens: vec![unix_dir.to_path_buf()],
        witsock: policy,
        stdout: Stdio::Capture,
        stderr: Stdio::Capture,
        ..WitsockRunOptions::default()
    })?;
    Ok(Column::from_guest_run(&outcome, Backend::WitsockImports))
}
