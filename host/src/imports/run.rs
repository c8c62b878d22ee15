//! Running a `wasi:cli/command` component with the witsock imports next to
//! wasmtime-wasi, and the conformance column of a guest suite built with
//! `--features witsock/imports`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::p2::pipe::{MemoryOutputPipe, SinkOutputStream};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use witsock_conformance::{Backend, Outcome};
use witsock_guest_tests::parse_guest_output;

use super::{add_to_linker, Limits, WitsockCtx, WitsockCtxView, WitsockPolicy};
use crate::conformance::Column;
use crate::{AddressRule, GuestStatus, HostError, Policy, RunOutcome, Stdio, CAPTURE_LIMIT};

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
}

/// A compiled component that imports witsock, ready to run any number of
/// times, each run in a fresh store.
pub struct WitsockGuest {
    path: PathBuf,
    engine: Engine,
    component: Component,
    linker: Linker<GuestState>,
}

/// The store's data: WASI, witsock, and the table both use.
struct GuestState {
    wasi: WasiCtx,
    witsock: WitsockCtx,
    table: ResourceTable,
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
    /// Reads and compiles the component at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<WitsockGuest, HostError> {
        let path = path.as_ref().to_path_buf();
        let load_error = |reason: String| HostError::Load {
            path: path.clone(),
            reason,
        };
        let engine = Engine::default();
        let component =
            Component::from_file(&engine, &path).map_err(|e| load_error(format!("{e:#}")))?;
        let mut linker = Linker::<GuestState>::new(&engine);
        let link = wasmtime_wasi::p2::add_to_linker_sync(&mut linker).and_then(|()| {
            add_to_linker(&mut linker, |state| WitsockCtxView {
                ctx: &mut state.witsock,
                table: &mut state.table,
            })
        });
        link.map_err(|e| HostError::Instantiate {
            path: path.clone(),
            reason: format!("{e:#}"),
        })?;
        Ok(WitsockGuest {
            path,
            engine,
            component,
            linker,
        })
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
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
        let instantiate_error = |e: wasmtime::Error| HostError::Instantiate {
            path: self.path.clone(),
            reason: format!("{e:#}"),
        };
        let mut builder = WasiCtxBuilder::new();
        let program = self
            .path
            .file_name()
            .map_or_else(|| "guest".into(), |name| name.to_string_lossy());
        builder.arg(program).args(&options.args);
        for (key, value) in &options.env {
            builder.env(key, value);
        }
        for dir in &options.preopens {
            let guest_path = dir.to_string_lossy();
            builder
                .preopened_dir(dir, guest_path, FsPerms::ReadWrite)
                .map_err(instantiate_error)?;
        }
        options.wasi.apply(&mut builder);
        let stdout = capture(&mut builder, options.stdout, true);
        let stderr = capture(&mut builder, options.stderr, false);
        let mut store = Store::new(
            &self.engine,
            GuestState {
                wasi: builder.build(),
                witsock: WitsockCtx::new(options.witsock.clone()),
                table: ResourceTable::new(),
            },
        );

        let started = Instant::now();
        let command = Command::instantiate(&mut store, &self.component, &self.linker)
            .map_err(instantiate_error)?;
        let result = command.wasi_cli_run().call_run(&mut store);
        observe(&store.data().witsock);
        // Dropping the store closes whatever the guest still held.
        drop(store);
        let run_time = started.elapsed();

        let status = match result {
            Ok(Ok(())) => GuestStatus::Exited(0),
            Ok(Err(())) => GuestStatus::Exited(1),
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(exit) => GuestStatus::Exited(exit.0),
                None => GuestStatus::Trapped(trap_message(&e)),
            },
        };
        Ok(RunOutcome {
            status,
            stdout: stdout.map_or_else(Vec::new, |pipe| pipe.contents().to_vec()),
            stderr: stderr.map_or_else(Vec::new, |pipe| pipe.contents().to_vec()),
            run_time,
        })
    }
}

/// Points stdout (or stderr) where `how` says; returns the buffer when it
/// captures.
fn capture(builder: &mut WasiCtxBuilder, how: Stdio, stdout: bool) -> Option<MemoryOutputPipe> {
    match (how, stdout) {
        (Stdio::Inherit, true) => {
            builder.inherit_stdout();
            None
        }
        (Stdio::Inherit, false) => {
            builder.inherit_stderr();
            None
        }
        (Stdio::Discard, true) => {
            builder.stdout(SinkOutputStream);
            None
        }
        (Stdio::Discard, false) => {
            builder.stderr(SinkOutputStream);
            None
        }
        (Stdio::Capture, _) => {
            let pipe = MemoryOutputPipe::new(CAPTURE_LIMIT);
            if stdout {
                builder.stdout(pipe.clone());
            } else {
                builder.stderr(pipe.clone());
            }
            Some(pipe)
        }
    }
}

/// The trap's own message, without the wasm backtrace.
fn trap_message(e: &wasmtime::Error) -> String {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{e:#}")
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

/// The policy the conformance suite runs under through the imports: what a
/// native process on loopback may do (every loopback address, binding the
/// unspecified addresses for its dual-stack listener, Unix sockets in
/// `unix_dir` and under the suite's abstract names, multicast, lingering,
/// name lookup), with quotas large enough for its burst of connections.
pub fn conformance_policy(unix_dir: &Path) -> std::io::Result<WitsockPolicy> {
    let mut policy = WitsockPolicy::loopback();
    for any in [
        IpAddr::from(Ipv4Addr::UNSPECIFIED),
        Ipv6Addr::UNSPECIFIED.into(),
    ] {
        let full = if any.is_ipv4() { 32 } else { 128 };
        if let Some(rule) = AddressRule::new(any, full, 0, u16::MAX) {
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
    let output = parse_guest_output(&String::from_utf8_lossy(&outcome.stdout));
    let backend = output
        .capabilities
        .as_ref()
        .map(|caps| caps.backend.clone())
        .unwrap_or_else(|| Backend::WitsockImports.name().to_string());
    let any_failed = output
        .reports
        .iter()
        .any(|r| matches!(r.outcome, Outcome::Fail(_)));
    let stderr = String::from_utf8_lossy(&outcome.stderr);
    let stderr = stderr.trim();
    let problem = match (&outcome.status, any_failed) {
        (GuestStatus::Exited(0), _) | (GuestStatus::Exited(1), true) => output
            .capabilities
            .is_none()
            .then(|| "the guest reported no capabilities".to_string()),
        (status, _) if stderr.is_empty() => Some(format!("the guest {status}")),
        (status, _) => Some(format!("the guest {status}; its stderr:\n{stderr}")),
    };
    Ok(Column {
        backend,
        reports: output.reports,
        capabilities: output.capabilities,
        problem,
        run_time: outcome.run_time,
    })
}
