//! The options of a run with the witsock imports (and wasi:sockets) under
//! a [`WitsockPolicy`]; the runner is [`Guest`](crate::Guest).

use std::path::PathBuf;

use super::WitsockPolicy;
use crate::{DenialHook, GuestLimits, Policy, Stdio, WasiSockets};

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
