//! What the host tells when its policy refuses a guest something: one
//! [`Denial`] per refusal, naming the operation, what it was about, the
//! rules consulted and what would allow it.
//!
//! The socket layer reports every refusal, whichever interface the guest
//! used (wasi:sockets or the witsock imports), to the hook of its
//! [`WitsockCtx`](crate::WitsockCtx) ([`on_denial`](crate::WitsockCtx::on_denial)).
//! `witsock-host run` prints one line per distinct denial on stderr:
//!
//! ```text
//! witsock-host: denied connect to 127.0.0.1:5000: no connect rule matches (rules: 127.0.0.1:1000-2000); add --allow-connect 127.0.0.1:5000
//! ```
//!
//! The guest itself gets `access-denied` (or `too-many-sockets` for the
//! socket quota), with no native error code: that is how a guest tells a
//! policy refusal from the kernel's own `access-denied`, which always
//! carries one.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::policy::AddressUse;
use crate::AddressRule;

/// One refusal by the host's policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// What the guest tried.
    pub operation: DeniedOperation,
    /// What it was about: an address, a name, a path, an option (as the
    /// guest gave it; `Display` escapes its control characters).
    pub target: String,
    /// Why it was refused, in words.
    pub reason: String,
    /// What would have allowed it, if the policy can grant it.
    pub grant: Option<Grant>,
}

/// What a refused guest tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeniedOperation {
    /// Creating a socket.
    Create,
    /// Binding one.
    Bind,
    /// Listening.
    Listen,
    /// Connecting.
    Connect,
    /// A connection from a peer, closed unseen.
    Accept,
    /// Sending a datagram.
    Send,
    /// A datagram from a sender, dropped unseen.
    Receive,
    /// Resolving a name.
    Lookup,
    /// Using a Unix socket path or name.
    UnixPath,
    /// Going past a quota.
    Quota,
    /// Setting an option.
    SetOption,
}

impl fmt::Display for DeniedOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeniedOperation::Create => "socket",
            DeniedOperation::Bind => "bind",
            DeniedOperation::Listen => "listen",
            DeniedOperation::Connect => "connect",
            DeniedOperation::Accept => "connection",
            DeniedOperation::Send => "send",
            DeniedOperation::Receive => "datagram",
            DeniedOperation::Lookup => "lookup",
            DeniedOperation::UnixPath => "unix socket",
            DeniedOperation::Quota => "quota",
            DeniedOperation::SetOption => "option",
        })
    }
}

/// What would allow a refused operation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Grant {
    /// A rule for this address in the list for this use.
    Rule(AddressUse, AddressRule),
    /// Any IP rule at all (a policy without one has no TCP or UDP).
    AnyIpRule,
    /// A Unix socket directory, an abstract-name prefix or socket pairs.
    UnixSockets,
    /// This directory, granted for Unix sockets.
    UnixDir(PathBuf),
    /// Socket pairs.
    SocketPairs,
    /// TCP (`true`) or UDP sockets, turned off.
    Protocol(bool),
    /// Name lookup.
    NameLookup,
    /// Joining multicast groups.
    Multicast,
    /// A linger time at least this long.
    Linger(Duration),
    /// A larger socket quota than this.
    MaxSockets(usize),
    /// A larger per-call buffer quota than this.
    MaxBytesPerCall(usize),
}

impl fmt::Display for Denial {
    /// `denied connect to 127.0.0.1:5000: no connect rule matches (rules:
    /// none)`: the CLI adds the flag that would allow it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if matches!(
            self.operation,
            DeniedOperation::Create | DeniedOperation::Quota
        ) {
            // The target says what was refused: "an IPv4 socket", "a new
            // socket".
            return write!(f, "denied {}: {}", self.target.escape_debug(), self.reason);
        }
        write!(f, "denied {}", self.operation)?;
        if !self.target.is_empty() {
            let joiner = match self.operation {
                DeniedOperation::Connect | DeniedOperation::Send => " to",
                DeniedOperation::Accept | DeniedOperation::Receive => " from",
                DeniedOperation::Bind | DeniedOperation::Listen => " on",
                _ => "",
            };
            // Guests choose names and paths: their control characters are
            // escaped, never written to the host's terminal.
            write!(f, "{joiner} {}", self.target.escape_debug())?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// What the socket layer calls with each denial. It runs on the thread of
/// the guest's call and must not block.
#[derive(Clone)]
pub struct DenialHook(Arc<dyn Fn(&Denial) + Send + Sync>);

impl DenialHook {
    /// A hook that calls `f`.
    pub fn new(f: impl Fn(&Denial) + Send + Sync + 'static) -> DenialHook {
        DenialHook(Arc::new(f))
    }

    pub(crate) fn call(&self, denial: &Denial) {
        (self.0)(denial);
    }
}

impl fmt::Debug for DenialHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DenialHook")
    }
}

impl Denial {
    /// A denial of `use_` for `addr` under the rules of that use.
    pub(crate) fn address(
        operation: DeniedOperation,
        use_: AddressUse,
        addr: SocketAddr,
        rules: &[AddressRule],
    ) -> Denial {
        let list = use_.list_name();
        let reason = if rules.is_empty() {
            format!("no {list} rule matches (rules: none)")
        } else {
            let shown: Vec<String> = rules.iter().map(ToString::to_string).collect();
            format!("no {list} rule matches (rules: {})", shown.join(", "))
        };
        let full = if addr.ip().to_canonical().is_ipv4() {
            32
        } else {
            128
        };
        // A listen is refused on a port the system picked: a rule for that
        // one port would not do next time.
        let (first, last) = if operation == DeniedOperation::Listen {
            (0, u16::MAX)
        } else {
            (addr.port(), addr.port())
        };
        Denial {
            operation,
            target: addr.to_string(),
            reason,
            grant: AddressRule::new(addr.ip().to_canonical(), full, first, last)
                .map(|rule| Grant::Rule(use_, rule)),
        }
    }
}
