//! # witsock-host
//!
//! Runs `wasm32-wasip2` components (witsock guests among them) under
//! wasmtime with a network [`Policy`], and builds the conformance matrix
//! that compares witsock's backends.
//!
//! ```no_run
//! use witsock_host::{Guest, Policy, RunOptions, Stdio};
//!
//! # fn main() -> Result<(), witsock_host::HostError> {
//! let guest = Guest::load("witsock-guest-tests.wasm")?;
//! let outcome = guest.run(&RunOptions {
//!     policy: Policy::loopback(),
//!     stdout: Stdio::Capture,
//!     ..RunOptions::default()
//! })?;
//! println!("{:?}: {}", outcome.status, String::from_utf8_lossy(&outcome.stdout));
//! # Ok(())
//! # }
//! ```
//!
//! Every guest run gets its own store: when the run ends, however it ends
//! (an exit, a trap), the store is dropped and every socket, stream and
//! descriptor the guest held on the host is closed.
//!
//! [`Guest::load`] compiles the component every time and writes nothing.
//! [`Guest::load_with`] can keep the compiled component in a compile
//! cache ([`CompileCache`]), as `witsock-host run` does, so that the next
//! load of the same component by the same engine configuration skips
//! compiling it: the artifact is loaded only from a directory, and a
//! file, that the host's user owns and no one else may write to, and an
//! artifact that does not load is compiled again and replaced. Problems
//! with the cache never fail a load; [`Guest::cache_outcome`] reports
//! them.

#![deny(missing_docs)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use std::sync::OnceLock;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store, UpdateDeadline};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::p2::pipe::{MemoryOutputPipe, SinkOutputStream};
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

mod compile_cache;
#[cfg(feature = "tools")]
pub mod conformance;
pub mod denial;
#[cfg(feature = "tools")]
pub mod differential;
mod guest;
pub mod imports;
#[cfg(feature = "tools")]
pub mod layout;
pub mod p2;
pub mod policy;
pub mod sockets;
pub mod trappable;
mod wasi_quota;

pub use compile_cache::{CacheOutcome, CompileCache, LoadOptions, CACHE_DIR_VAR};
pub use denial::{Denial, DenialHook};
pub use guest::Guest;
pub use imports::{WitsockCtx, WitsockCtxView};
pub use policy::{AddressRule, AddressUse, Limits, Policy, RuleError};

/// The most a captured stdout or stderr keeps; a guest writing more gets a
/// write error.
pub const CAPTURE_LIMIT: usize = 16 << 20;

/// Where a guest's stdout or stderr goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stdio {
    /// The host's own stream.
    #[default]
    Inherit,
    /// A buffer, returned in [`RunOutcome`].
    Capture,
    /// Nowhere.
    Discard,
}

/// How to run a guest.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The guest's arguments, after its program name.
    pub args: Vec<String>,
    /// Environment variables.
    pub env: Vec<(String, String)>,
    /// Host directories the guest may open, each at its own path.
    pub preopens: Vec<PathBuf>,
    /// What it may do on the network, through every interface it imports.
    pub policy: Policy,
    /// Where its stdout goes.
    pub stdout: Stdio,
    /// Where its stderr goes.
    pub stderr: Stdio,
    /// How much memory and time it may take.
    pub limits: GuestLimits,
    /// Which implementation serves wasi:sockets.
    pub wasi_sockets: WasiSockets,
    /// Called with every refusal of the policy (by witsock's socket layer:
    /// wasmtime-wasi's refusals are not reported).
    pub on_denial: Option<DenialHook>,
}

/// Which implementation serves a guest's wasi:sockets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WasiSockets {
    /// witsock's socket layer ([`p2`]): the policy's full vocabulary,
    /// denial reports, one quota for every socket.
    #[default]
    Witsock,
    /// wasmtime-wasi's own, under the same address rules (for comparison).
    WasmtimeWasi,
}

/// What one guest run may take from the host beyond its sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestLimits {
    /// The most bytes all of the guest's linear memories together may
    /// grow to; a growth past it traps the guest, saying so.
    pub max_memory: usize,
    /// The most elements all of the guest's tables together may hold.
    pub max_table_elements: usize,
    /// The longest the run may last (wall time, `None` for no limit). The
    /// deadline is checked while guest code runs: a guest blocked in a
    /// host call (a blocking accept or receive) is stopped when that call
    /// returns. (`witsock-host run --max-wall-time` also ends the process
    /// shortly after the deadline; an async embedder that wants the same
    /// drops the [`Guest::run_async`] future, which closes everything the
    /// guest held.)
    pub max_wall_time: Option<Duration>,
}

impl GuestLimits {
    /// The default memory limit: 1 GiB.
    pub const DEFAULT_MAX_MEMORY: usize = 1 << 30;
    /// The default table limit: a million elements (8 to 16 MiB of host
    /// memory).
    pub const DEFAULT_MAX_TABLE_ELEMENTS: usize = 1 << 20;
}

impl Default for GuestLimits {
    /// [`DEFAULT_MAX_MEMORY`](GuestLimits::DEFAULT_MAX_MEMORY), no time
    /// limit (a server runs until stopped).
    fn default() -> GuestLimits {
        GuestLimits {
            max_memory: GuestLimits::DEFAULT_MAX_MEMORY,
            max_table_elements: GuestLimits::DEFAULT_MAX_TABLE_ELEMENTS,
            max_wall_time: None,
        }
    }
}

/// How often the epoch of an engine whose guests have a time limit
/// advances: the resolution of [`GuestLimits::max_wall_time`].
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How a guest run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuestStatus {
    /// The guest returned or exited with this code (`wasi:cli/run`
    /// returning `err` is 1).
    Exited(i32),
    /// The guest trapped (or a host call failed fatally); the message says
    /// why.
    Trapped(String),
}

impl GuestStatus {
    /// Exited with code 0.
    pub fn success(&self) -> bool {
        *self == GuestStatus::Exited(0)
    }
}

impl fmt::Display for GuestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuestStatus::Exited(code) => write!(f, "exited with code {code}"),
            GuestStatus::Trapped(why) => write!(f, "trapped: {why}"),
        }
    }
}

/// What a guest run produced.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// How it ended.
    pub status: GuestStatus,
    /// Its stdout, when captured (empty otherwise).
    pub stdout: Vec<u8>,
    /// Its stderr, when captured (empty otherwise).
    pub stderr: Vec<u8>,
    /// Wall time from instantiation to the end of `wasi:cli/run`.
    pub run_time: Duration,
}

/// Why the host could not run a guest. A guest that runs and traps is not
/// an error: see [`GuestStatus::Trapped`].
#[derive(Debug)]
pub enum HostError {
    /// The file cannot be read or is not a valid component.
    Load {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The component cannot be instantiated here: it imports something the
    /// host does not provide, or is not a `wasi:cli/command`.
    Instantiate {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Load { path, reason } => {
                write!(f, "cannot load {}: {reason}", path.display())
            }
            HostError::Instantiate { path, reason } => {
                write!(f, "cannot instantiate {}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for HostError {}

/// A component compiled from a file, and how to run it as a
/// `wasi:cli/command`.
pub(crate) struct Compiled {
    pub(crate) path: PathBuf,
    pub(crate) engine: Engine,
    component: Component,
    pub(crate) compile_time: Duration,
    pub(crate) cache: CacheOutcome,
    /// Started with the first run that has a time limit.
    epoch_ticker: OnceLock<()>,
}

/// Keeps a guest within its [`GuestLimits`]: the sizes of all its
/// memories and of all its tables are added up (a component may have
/// several of each), and a growth past a limit traps the guest with the
/// reason.
pub(crate) struct StoreLimits {
    max_memory: usize,
    memory: usize,
    max_table_elements: usize,
    table_elements: usize,
}

/// The store limits for `limits`.
pub(crate) fn store_limits(limits: &GuestLimits) -> StoreLimits {
    StoreLimits {
        max_memory: limits.max_memory,
        memory: 0,
        max_table_elements: limits.max_table_elements,
        table_elements: 0,
    }
}

/// Grows a running total from `current` to `desired` (one memory's or
/// table's share of it), or fails with the reason once past `max`.
/// `what` names the limit and `units` what it counts.
fn grow_total(
    used: &mut usize,
    current: usize,
    desired: usize,
    max: usize,
    (what, units): (&str, &str),
) -> wasmtime::Result<bool> {
    let total = (*used - current.min(*used)).saturating_add(desired);
    if total > max {
        wasmtime::bail!(
            "{what} limit reached: the guest asked for {total} {units} in all, more than the {max} allowed"
        );
    }
    *used = total;
    Ok(true)
}

impl wasmtime::ResourceLimiter for StoreLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        grow_total(
            &mut self.memory,
            current,
            desired,
            self.max_memory,
            ("memory", "bytes of memory"),
        )
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        grow_total(
            &mut self.table_elements,
            current,
            desired,
            self.max_table_elements,
            ("table", "table elements"),
        )
    }
}

/// The buffers of the streams a run captures.
pub(crate) struct Captured {
    stdout: Option<MemoryOutputPipe>,
    stderr: Option<MemoryOutputPipe>,
}

impl Compiled {
    /// Reads and compiles the component at `path` (or loads it from the
    /// compile cache of `options`), telling a missing file, a file that is
    /// not WebAssembly and a core module apart.
    pub(crate) fn load(path: &Path, options: &LoadOptions) -> Result<Compiled, HostError> {
        let load_error = |reason: String| HostError::Load {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| load_error(e.to_string()))?;
        if !bytes.starts_with(b"\0asm") {
            return Err(load_error("not a WebAssembly file".to_string()));
        }
        // Epoch checks let a run's time limit stop it (they cost a load
        // and a compare per function entry and loop).
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| load_error(format!("{e:#}")))?;
        let started = Instant::now();
        let (component, cache) = compile_cache::load(&engine, &bytes, &options.compile_cache)
            .map_err(|e| {
                if is_core_module(&bytes) {
                    load_error(
                        "a core module, not a component (build for wasm32-wasip2)".to_string(),
                    )
                } else {
                    load_error(format!("not a valid component: {e:#}"))
                }
            })?;
        Ok(Compiled {
            path: path.to_path_buf(),
            engine,
            component,
            compile_time: started.elapsed(),
            cache,
            epoch_ticker: OnceLock::new(),
        })
    }

    /// The names of the interfaces the component imports.
    pub(crate) fn imports(&self) -> Vec<String> {
        self.component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect()
    }

    /// Sets the store's deadline from `limits` (none: as good as never),
    /// starting the engine's epoch ticker if it is needed and not yet
    /// running. It stops once the engine is gone.
    pub(crate) fn set_deadline<T>(&self, store: &mut Store<T>, limits: &GuestLimits) {
        let Some(time) = limits.max_wall_time else {
            store.set_epoch_deadline(u64::MAX / 2);
            return;
        };
        self.start_epoch_ticker();
        let ticks = time.as_nanos().div_ceil(EPOCH_TICK.as_nanos()).max(1);
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX / 2));
        store.epoch_deadline_trap();
    }

    /// Sets the deadline of a store run with `_async` calls: the guest
    /// yields to the runtime at every epoch tick (so that a guest that
    /// computes for long shares its thread), and traps as a synchronous
    /// run does once `limits` has no time left.
    pub(crate) fn set_async_deadline<T: Send>(&self, store: &mut Store<T>, limits: &GuestLimits) {
        self.start_epoch_ticker();
        let end = limits
            .max_wall_time
            .and_then(|time| Instant::now().checked_add(time));
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| match end {
            Some(end) if Instant::now() >= end => Err(wasmtime::Trap::Interrupt.into()),
            _ => Ok(UpdateDeadline::Yield(1)),
        });
    }

    /// Starts the engine's epoch ticker if it is not running yet. It stops
    /// once the engine is gone.
    fn start_epoch_ticker(&self) {
        self.epoch_ticker.get_or_init(|| {
            let engine = self.engine.weak();
            std::thread::spawn(move || loop {
                std::thread::sleep(EPOCH_TICK);
                match engine.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            });
        });
    }

    /// `e`, which kept the component from being linked or instantiated.
    pub(crate) fn instantiate_error(&self, e: wasmtime::Error) -> HostError {
        HostError::Instantiate {
            path: self.path.clone(),
            reason: format!("{e:#}"),
        }
    }

    /// The WASI context of one run: the program name (the file's name) and
    /// `args`, stdout and stderr pointed where asked.
    pub(crate) fn wasi_builder(
        &self,
        args: &[String],
        stdout: Stdio,
        stderr: Stdio,
    ) -> (WasiCtxBuilder, Captured) {
        let mut builder = WasiCtxBuilder::new();
        let program = self
            .path
            .file_name()
            .map_or_else(|| "guest".into(), |name| name.to_string_lossy());
        builder.arg(program).args(args);
        let captured = Captured {
            stdout: capture(&mut builder, stdout, Stream::Stdout),
            stderr: capture(&mut builder, stderr, Stream::Stderr),
        };
        (builder, captured)
    }

    /// Instantiates the component in `store` and calls `wasi:cli/run`.
    /// `observe` sees the store's data once the guest has finished (exited
    /// or trapped), before the store is dropped, which closes whatever the
    /// guest still held.
    pub(crate) fn run<T: 'static>(
        &self,
        mut store: Store<T>,
        linker: &Linker<T>,
        captured: Captured,
        observe: impl FnOnce(&T),
    ) -> Result<RunOutcome, HostError> {
        let started = Instant::now();
        let command = Command::instantiate(&mut store, &self.component, linker)
            .map_err(|e| self.instantiate_error(e))?;
        let result = command.wasi_cli_run().call_run(&mut store);
        observe(store.data());
        drop(store);
        Ok(outcome(result, captured, started.elapsed()))
    }

    /// [`run`](Compiled::run) with `_async` calls, for a linker of async
    /// definitions.
    pub(crate) async fn run_async<T: Send + 'static>(
        &self,
        mut store: Store<T>,
        linker: &Linker<T>,
        captured: Captured,
    ) -> Result<RunOutcome, HostError> {
        let started = Instant::now();
        let command = wasmtime_wasi::p2::bindings::Command::instantiate_async(
            &mut store,
            &self.component,
            linker,
        )
        .await
        .map_err(|e| self.instantiate_error(e))?;
        let result = command.wasi_cli_run().call_run(&mut store).await;
        drop(store);
        Ok(outcome(result, captured, started.elapsed()))
    }
}

/// What a run that returned `result` after `run_time` produced.
fn outcome(
    result: wasmtime::Result<Result<(), ()>>,
    captured: Captured,
    run_time: Duration,
) -> RunOutcome {
    {
        let status = match result {
            Ok(Ok(())) => GuestStatus::Exited(0),
            Ok(Err(())) => GuestStatus::Exited(1),
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(exit) => GuestStatus::Exited(exit.0),
                None => GuestStatus::Trapped(trap_message(&e)),
            },
        };
        let contents = |pipe: Option<MemoryOutputPipe>| {
            pipe.map_or_else(Vec::new, |pipe| pipe.contents().to_vec())
        };
        RunOutcome {
            status,
            stdout: contents(captured.stdout),
            stderr: contents(captured.stderr),
            run_time,
        }
    }
}

enum Stream {
    Stdout,
    Stderr,
}

/// Points one output stream where `how` says; returns the buffer when it
/// captures.
fn capture(builder: &mut WasiCtxBuilder, how: Stdio, stream: Stream) -> Option<MemoryOutputPipe> {
    let pipe = match how {
        Stdio::Inherit => {
            match stream {
                Stream::Stdout => builder.inherit_stdout(),
                Stream::Stderr => builder.inherit_stderr(),
            };
            return None;
        }
        Stdio::Discard => {
            match stream {
                Stream::Stdout => builder.stdout(SinkOutputStream),
                Stream::Stderr => builder.stderr(SinkOutputStream),
            };
            return None;
        }
        Stdio::Capture => MemoryOutputPipe::new(CAPTURE_LIMIT),
    };
    match stream {
        Stream::Stdout => builder.stdout(pipe.clone()),
        Stream::Stderr => builder.stderr(pipe.clone()),
    };
    Some(pipe)
}

/// Why a guest stopped, on one line, without the wasm backtrace: the
/// trap's own message (`wasm trap: wasm `unreachable` instruction
/// executed`), or, for an error the host raised (a forged or stale handle,
/// a full resource table), each message of the error's chain.
fn trap_message(e: &wasmtime::Error) -> String {
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        return trap.to_string();
    }
    let reasons: Vec<String> = e
        .chain()
        .filter_map(|cause| {
            let text = cause.to_string();
            let line = text.lines().next()?.trim().to_string();
            // The backtrace's context reads "error while executing at wasm
            // backtrace:" with the frames below it.
            (!line.is_empty() && !line.ends_with("wasm backtrace:")).then_some(line)
        })
        .collect();
    if reasons.is_empty() {
        "the guest stopped with an error that gives no reason".to_string()
    } else {
        reasons.join(": ")
    }
}

/// A core module has version 1 in its header; a component has a different
/// version and layer.
fn is_core_module(bytes: &[u8]) -> bool {
    bytes.get(4..8) == Some(&[1, 0, 0, 0])
}
