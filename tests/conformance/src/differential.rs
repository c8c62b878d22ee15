//! Differential testing: seeded random sequences of socket operations,
//! run the same way on every backend, every outcome written down so that
//! a runner can compare them (`witsock-host differential`).
//!
//! A [`Program`] is a list of [`Op`]s on a handful of socket slots, made
//! from a seed by [`Program::generate`] (the same seed gives the same
//! program on every target) and written as text by its `Display`, which
//! [`Program::parse`] reads back, so a failing sequence can be printed,
//! shrunk and run again anywhere. [`run`] executes a program on the
//! current backend and returns one [`outcome`](Outcomes) string per
//! operation: error codes by their WIT names, byte counts with a hash of
//! the bytes, and addresses with each port replaced by the order in which
//! the program first saw it (`127.0.0.1:#2`), since ephemeral ports differ
//! from run to run.
//!
//! Only loopback is ever a destination: the targets are the slots' own
//! addresses (of whatever family and state) or the unspecified address,
//! which every backend refuses as a destination.
//!
//! Waiting: backends differ in *when* data, connections and end-of-stream
//! arrive (a wasi:sockets write may complete in the runtime after `send`
//! returns), not in *what* arrives. So the runner keeps a small model of
//! what is on its way to each socket (bytes, datagrams, connections,
//! end-of-stream), built from the outcomes it saw, and waits, bounded,
//! before a receive or an accept that should find something; a receive
//! with nothing on its way is tried once. A stream receive collects what
//! is on its way up to the requested length, so that how a backend
//! splits a stream does not show. The model decides only how long to
//! wait, never what an outcome is.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use witsock::{
    Domain, ErrorCode, Interest, OptionName, RecvFlags, SendFlags, Shutdown, SockAddr, Socket,
    SocketOption, Type,
};

/// Socket slots a program uses.
pub const SLOTS: u8 = 6;

/// The longest a runner waits for something its model says is coming.
const ARRIVAL: Duration = Duration::from_secs(2);

/// TCP or UDP, v4 or v6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A TCP socket on IPv4.
    TcpV4,
    /// A TCP socket on IPv6.
    TcpV6,
    /// A UDP socket on IPv4.
    UdpV4,
    /// A UDP socket on IPv6.
    UdpV6,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::TcpV4, Kind::TcpV6, Kind::UdpV4, Kind::UdpV6];

    fn name(self) -> &'static str {
        match self {
            Kind::TcpV4 => "tcp4",
            Kind::TcpV6 => "tcp6",
            Kind::UdpV4 => "udp4",
            Kind::UdpV6 => "udp6",
        }
    }

    fn domain(self) -> Domain {
        match self {
            Kind::TcpV4 | Kind::UdpV4 => Domain::Ipv4,
            Kind::TcpV6 | Kind::UdpV6 => Domain::Ipv6,
        }
    }

    fn ty(self) -> Type {
        match self {
            Kind::TcpV4 | Kind::TcpV6 => Type::Stream,
            Kind::UdpV4 | Kind::UdpV6 => Type::Datagram,
        }
    }
}

/// An address an operation binds, connects or sends to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The loopback address of a family, port 0.
    Loopback(Domain),
    /// The unspecified address of a family, port 0.
    Unspecified(Domain),
    /// The address a slot's socket was last seen bound to (it may since
    /// have closed); the operation is skipped if there is none.
    Of(u8),
}

/// An option an operation sets or reads: only options whose outcome the
/// contract defines on every backend, or whose absence a backend
/// declares in its capabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opt {
    /// `keep-alive`.
    KeepAlive,
    /// `no-delay`.
    NoDelay,
    /// `receive-buffer-size`.
    ReceiveBuffer,
    /// `hop-limit`.
    HopLimit,
    /// `reuse-address`.
    ReuseAddress,
    /// `ipv6-only`.
    Ipv6Only,
    /// `error` (read only).
    Error,
    /// `socket-type` (read only).
    SocketType,
}

impl Opt {
    const ALL: [Opt; 8] = [
        Opt::KeepAlive,
        Opt::NoDelay,
        Opt::ReceiveBuffer,
        Opt::HopLimit,
        Opt::ReuseAddress,
        Opt::Ipv6Only,
        Opt::Error,
        Opt::SocketType,
    ];

    /// The option's name in the witsock API.
    pub fn name(self) -> OptionName {
        match self {
            Opt::KeepAlive => OptionName::KeepAlive,
            Opt::NoDelay => OptionName::NoDelay,
            Opt::ReceiveBuffer => OptionName::ReceiveBufferSize,
            Opt::HopLimit => OptionName::HopLimit,
            Opt::ReuseAddress => OptionName::ReuseAddress,
            Opt::Ipv6Only => OptionName::Ipv6Only,
            Opt::Error => OptionName::Error,
            Opt::SocketType => OptionName::SocketType,
        }
    }

    /// The value a `set` gives it; `on` picks between two legal values.
    fn value(self, on: bool) -> SocketOption {
        match self {
            Opt::KeepAlive => SocketOption::KeepAlive(on),
            Opt::NoDelay => SocketOption::NoDelay(on),
            Opt::ReceiveBuffer => SocketOption::ReceiveBufferSize(if on { 65536 } else { 8192 }),
            Opt::HopLimit => SocketOption::HopLimit(if on { 64 } else { 7 }),
            Opt::ReuseAddress => SocketOption::ReuseAddress(on),
            Opt::Ipv6Only => SocketOption::Ipv6Only(on),
            Opt::Error => SocketOption::Error(None),
            Opt::SocketType => {
                SocketOption::SocketType(if on { Type::Stream } else { Type::Datagram })
            }
        }
    }
}

/// One operation of a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Create a non-blocking socket in a slot (closing what was there).
    New(u8, Kind),
    /// `bind`.
    Bind(u8, Target),
    /// `listen` with a backlog.
    Listen(u8, u32),
    /// `start-connect`; for TCP, then wait (bounded) for writable and
    /// `finish-connect`.
    Connect(u8, Target),
    /// `disconnect`.
    Disconnect(u8),
    /// `try-accept` (after a bounded wait if a connection is on its way);
    /// the accepted socket goes into the second slot.
    Accept(u8, u8),
    /// `send` of this many bytes.
    Send(u8, u16),
    /// `send-to` of this many bytes.
    SendTo(u8, Target, u16),
    /// `receive` of up to this many bytes.
    Receive(u8, u16),
    /// `receive` with `peek`.
    Peek(u8, u16),
    /// `receive-from` of up to this many bytes.
    ReceiveFrom(u8, u16),
    /// `shutdown`.
    Shutdown(u8, Shutdown),
    /// `set-option`.
    Set(u8, Opt, bool),
    /// `get-option`.
    Get(u8, Opt),
    /// `local-address`.
    Local(u8),
    /// `remote-address`.
    Remote(u8),
    /// Drop the socket.
    Close(u8),
}

impl Op {
    /// The slot the operation acts on.
    pub fn slot(&self) -> u8 {
        match *self {
            Op::New(s, _)
            | Op::Bind(s, _)
            | Op::Listen(s, _)
            | Op::Connect(s, _)
            | Op::Disconnect(s)
            | Op::Accept(s, _)
            | Op::Send(s, _)
            | Op::SendTo(s, _, _)
            | Op::Receive(s, _)
            | Op::Peek(s, _)
            | Op::ReceiveFrom(s, _)
            | Op::Shutdown(s, _)
            | Op::Set(s, _, _)
            | Op::Get(s, _)
            | Op::Local(s)
            | Op::Remote(s)
            | Op::Close(s) => s,
        }
    }
}

fn family_name(domain: Domain) -> &'static str {
    match domain {
        Domain::Ipv4 => "v4",
        Domain::Ipv6 => "v6",
        _ => "unix",
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Loopback(d) => write!(f, "loopback-{}", family_name(*d)),
            Target::Unspecified(d) => write!(f, "unspecified-{}", family_name(*d)),
            Target::Of(s) => write!(f, "@{s}"),
        }
    }
}

fn shutdown_name(how: Shutdown) -> &'static str {
    match how {
        Shutdown::Read => "read",
        Shutdown::Write => "write",
        Shutdown::Both => "both",
    }
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::New(s, k) => write!(f, "new {s} {}", k.name()),
            Op::Bind(s, t) => write!(f, "bind {s} {t}"),
            Op::Listen(s, n) => write!(f, "listen {s} {n}"),
            Op::Connect(s, t) => write!(f, "connect {s} {t}"),
            Op::Disconnect(s) => write!(f, "disconnect {s}"),
            Op::Accept(s, into) => write!(f, "accept {s} {into}"),
            Op::Send(s, n) => write!(f, "send {s} {n}"),
            Op::SendTo(s, t, n) => write!(f, "send-to {s} {t} {n}"),
            Op::Receive(s, n) => write!(f, "receive {s} {n}"),
            Op::Peek(s, n) => write!(f, "peek {s} {n}"),
            Op::ReceiveFrom(s, n) => write!(f, "receive-from {s} {n}"),
            Op::Shutdown(s, how) => write!(f, "shutdown {s} {}", shutdown_name(how)),
            Op::Set(s, o, on) => write!(f, "set {s} {} {}", o.name().wit_name(), on_off(on)),
            Op::Get(s, o) => write!(f, "get {s} {}", o.name().wit_name()),
            Op::Local(s) => write!(f, "local {s}"),
            Op::Remote(s) => write!(f, "remote {s}"),
            Op::Close(s) => write!(f, "close {s}"),
        }
    }
}

/// A sequence of operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// The operations, in order.
    pub ops: Vec<Op>,
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, op) in self.ops.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{op}")?;
        }
        Ok(())
    }
}

/// SplitMix64: small, fast, and the same on every target.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T], fallback: T) -> T {
        items
            .get(self.below(items.len() as u64) as usize)
            .copied()
            .unwrap_or(fallback)
    }
}

impl Program {
    /// The program of `seed`: `len` operations, mostly on slots already
    /// in use, starting from a few sockets set up the usual way (a bound
    /// listener, a connected client, a bound datagram socket) so that
    /// most operations meet a socket in an interesting state.
    pub fn generate(seed: u64, len: usize) -> Program {
        let mut rng = Rng(seed);
        let mut ops = Vec::with_capacity(len + 8);
        let kinds = Kind::ALL;
        // A usual start, so most programs get past creation and bind.
        let mut used: Vec<u8> = Vec::new();
        let starts = 1 + rng.below(3);
        for _ in 0..starts {
            let slot = rng.below(u64::from(SLOTS)) as u8;
            let kind = rng.pick(&kinds, Kind::TcpV4);
            ops.push(Op::New(slot, kind));
            ops.push(Op::Bind(slot, Target::Loopback(kind.domain())));
            if matches!(kind, Kind::TcpV4 | Kind::TcpV6) && rng.chance(70) {
                ops.push(Op::Listen(slot, 1 + rng.below(8) as u32));
                let client = rng.below(u64::from(SLOTS)) as u8;
                if client != slot {
                    ops.push(Op::New(client, kind));
                    ops.push(Op::Connect(client, Target::Of(slot)));
                    used.push(client);
                }
            }
            used.push(slot);
        }
        while ops.len() < len {
            let slot = if rng.chance(80) {
                rng.pick(&used, 0)
            } else {
                rng.below(u64::from(SLOTS)) as u8
            };
            let other = if rng.chance(85) {
                rng.pick(&used, 0)
            } else {
                rng.below(u64::from(SLOTS)) as u8
            };
            let target = match rng.below(10) {
                0 => Target::Loopback(rng.pick(&[Domain::Ipv4, Domain::Ipv6], Domain::Ipv4)),
                1 => Target::Unspecified(rng.pick(&[Domain::Ipv4, Domain::Ipv6], Domain::Ipv4)),
                _ => Target::Of(other),
            };
            let size = match rng.below(4) {
                0 => 0,
                1 => 1 + rng.below(16) as u16,
                2 => 1 + rng.below(1400) as u16,
                _ => 1 + rng.below(8000) as u16,
            };
            let op = match rng.below(100) {
                0..=5 => Op::New(slot, rng.pick(&kinds, Kind::TcpV4)),
                6..=11 => Op::Bind(slot, target),
                12..=16 => Op::Listen(slot, rng.below(9) as u32),
                17..=24 => Op::Connect(slot, target),
                25..=31 => Op::Accept(slot, other),
                32..=41 => Op::Send(slot, size),
                42..=49 => Op::SendTo(slot, target, size),
                50..=59 => Op::Receive(slot, size.max(1)),
                60..=63 => Op::Peek(slot, size.max(1)),
                64..=69 => Op::ReceiveFrom(slot, size.max(1)),
                70..=74 => Op::Shutdown(
                    slot,
                    rng.pick(
                        &[Shutdown::Read, Shutdown::Write, Shutdown::Both],
                        Shutdown::Both,
                    ),
                ),
                75..=80 => Op::Set(slot, rng.pick(&Opt::ALL, Opt::KeepAlive), rng.chance(50)),
                81..=86 => Op::Get(slot, rng.pick(&Opt::ALL, Opt::KeepAlive)),
                87..=89 => Op::Local(slot),
                90..=92 => Op::Remote(slot),
                93..=95 => Op::Disconnect(slot),
                _ => Op::Close(slot),
            };
            if let Op::New(s, _) | Op::Accept(_, s) = op {
                if !used.contains(&s) {
                    used.push(s);
                }
            }
            ops.push(op);
        }
        Program { ops }
    }

    /// Reads a program written by its `Display` (`new 0 tcp4; bind 0
    /// loopback-v4; …`).
    pub fn parse(text: &str) -> Result<Program, String> {
        let ops = text
            .split(';')
            .map(str::trim)
            .filter(|op| !op.is_empty())
            .map(parse_op)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Program { ops })
    }
}

fn parse_op(text: &str) -> Result<Op, String> {
    let bad = || format!("cannot read the operation `{text}`");
    let words: Vec<&str> = text.split_whitespace().collect();
    let slot = |i: usize| -> Result<u8, String> {
        let s: u8 = words.get(i).and_then(|w| w.parse().ok()).ok_or_else(bad)?;
        if s < SLOTS {
            Ok(s)
        } else {
            Err(format!("slot {s} in `{text}`: there are {SLOTS}"))
        }
    };
    let number = |i: usize| -> Result<u16, String> {
        words.get(i).and_then(|w| w.parse().ok()).ok_or_else(bad)
    };
    let target = |i: usize| -> Result<Target, String> {
        let word = words.get(i).copied().ok_or_else(bad)?;
        let family = |w: &str| match w {
            "v4" => Ok(Domain::Ipv4),
            "v6" => Ok(Domain::Ipv6),
            _ => Err(bad()),
        };
        if let Some(s) = word.strip_prefix('@') {
            let s: u8 = s.parse().map_err(|_| bad())?;
            return if s < SLOTS {
                Ok(Target::Of(s))
            } else {
                Err(bad())
            };
        }
        if let Some(f) = word.strip_prefix("loopback-") {
            return Ok(Target::Loopback(family(f)?));
        }
        if let Some(f) = word.strip_prefix("unspecified-") {
            return Ok(Target::Unspecified(family(f)?));
        }
        Err(bad())
    };
    let switch = |i: usize| match words.get(i).copied() {
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        _ => Err(bad()),
    };
    let opt = |i: usize| -> Result<Opt, String> {
        let word = words.get(i).copied().ok_or_else(bad)?;
        Opt::ALL
            .into_iter()
            .find(|o| o.name().wit_name() == word)
            .ok_or_else(bad)
    };
    let op = match words.first().copied() {
        Some("new") => {
            let word = words.get(2).copied().ok_or_else(bad)?;
            let kind = Kind::ALL
                .into_iter()
                .find(|k| k.name() == word)
                .ok_or_else(bad)?;
            Op::New(slot(1)?, kind)
        }
        Some("bind") => Op::Bind(slot(1)?, target(2)?),
        Some("listen") => Op::Listen(slot(1)?, u32::from(number(2)?)),
        Some("connect") => Op::Connect(slot(1)?, target(2)?),
        Some("disconnect") => Op::Disconnect(slot(1)?),
        Some("accept") => Op::Accept(slot(1)?, slot(2)?),
        Some("send") => Op::Send(slot(1)?, number(2)?),
        Some("send-to") => Op::SendTo(slot(1)?, target(2)?, number(3)?),
        Some("receive") => Op::Receive(slot(1)?, number(2)?),
        Some("peek") => Op::Peek(slot(1)?, number(2)?),
        Some("receive-from") => Op::ReceiveFrom(slot(1)?, number(2)?),
        Some("shutdown") => Op::Shutdown(
            slot(1)?,
            match words.get(2).copied() {
                Some("read") => Shutdown::Read,
                Some("write") => Shutdown::Write,
                Some("both") => Shutdown::Both,
                _ => return Err(bad()),
            },
        ),
        Some("set") => Op::Set(slot(1)?, opt(2)?, switch(3)?),
        Some("get") => Op::Get(slot(1)?, opt(2)?),
        Some("local") => Op::Local(slot(1)?),
        Some("remote") => Op::Remote(slot(1)?),
        Some("close") => Op::Close(slot(1)?),
        _ => return Err(bad()),
    };
    Ok(op)
}

/// What each operation of a program did, in order.
pub type Outcomes = Vec<String>;

/// The line a runner prints for one program: its label (`seed 17`,
/// `program`) and its outcomes, tab-separated (no outcome holds a tab).
pub fn outcome_line(label: &str, outcomes: &[String]) -> String {
    let mut line = String::from(label);
    for outcome in outcomes {
        line.push('\t');
        line.push_str(outcome);
    }
    line
}

/// Reads a line written by [`outcome_line`]: the label and the outcomes.
pub fn parse_outcome_line(line: &str) -> Option<(&str, Outcomes)> {
    let mut fields = line.trim_end_matches(['\r', '\n']).split('\t');
    let label = fields.next()?;
    if !(label.starts_with("seed ") || label == "program") {
        return None;
    }
    Some((label, fields.map(str::to_string).collect()))
}

/// FNV-1a, to name received bytes compactly.
fn fnv(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The bytes operation `index` sends: different per operation, so a
/// receive shows which send its bytes came from.
fn payload(index: usize, len: u16, buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend((0..usize::from(len)).map(|i| (index.wrapping_mul(31).wrapping_add(i) % 251) as u8));
}

/// A socket in a slot and what the runner knows of it.
struct Slot {
    socket: Socket,
    kind: Kind,
    /// The local address, as last read.
    local: Option<SockAddr>,
    /// The peer, as last read.
    remote: Option<SockAddr>,
    /// A `listen` on it succeeded.
    listening: bool,
    /// A `shutdown` of its read half succeeded: receives are answered
    /// before their flags are looked at.
    read_shut: bool,
}

/// The runner's model of what is on its way, keyed by addresses as text.
#[derive(Default)]
struct InFlight {
    /// Stream bytes not yet received, by (receiver's local, receiver's
    /// remote).
    bytes: HashMap<(String, String), usize>,
    /// Streams whose sender has shut its write half or closed.
    ended: HashMap<(String, String), bool>,
    /// Connections not yet accepted, by listener address.
    connections: HashMap<String, usize>,
    /// Datagrams not yet received, by receiver address: their senders.
    datagrams: HashMap<String, VecDeque<String>>,
    /// Clients whose connection a listener accepted, by local address.
    accepted: HashSet<String>,
}

/// Runs programs on the current backend.
pub struct Runner {
    slots: Vec<Option<Slot>>,
    /// The last address each slot was bound to, kept after it closes.
    last_local: Vec<Option<SockAddr>>,
    /// Ports in the order the program first saw them.
    ports: Vec<u16>,
    flight: InFlight,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl Default for Runner {
    fn default() -> Runner {
        Runner::new()
    }
}

/// Runs `program` on the current backend: one outcome per operation.
pub fn run(program: &Program) -> Outcomes {
    run_skipping(program, |_| None)
}

/// Runs `program`, skipping the operations `skip` gives a reason for (as
/// [`Missing::skips`] does for another backend's capabilities): their
/// outcome is `skipped: REASON`.
pub fn run_skipping(program: &Program, skip: impl Fn(&Op) -> Option<String>) -> Outcomes {
    let mut runner = Runner::new();
    program
        .ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            // Only an operation that would reach a socket's backend is
            // skipped: not one on no socket, nor a receive after
            // shutdown(read), answered before its flags are looked at.
            let reaches = !matches!(op, Op::New(..) | Op::Close(_))
                && runner
                    .slot(op.slot())
                    .is_some_and(|slot| !(slot.read_shut && matches!(op, Op::Peek(..))));
            match skip(op).filter(|_| reaches) {
                Some(reason) => skipped(&reason),
                None => runner.step(i, op),
            }
        })
        .collect()
}

/// The `key` of a stream, seen from its receiver.
fn stream_key(local: &Option<SockAddr>, remote: &Option<SockAddr>) -> Option<(String, String)> {
    Some((local.as_ref()?.to_string(), remote.as_ref()?.to_string()))
}

impl Runner {
    fn new() -> Runner {
        Runner {
            slots: (0..SLOTS).map(|_| None).collect(),
            last_local: vec![None; usize::from(SLOTS)],
            ports: Vec::new(),
            flight: InFlight::default(),
            buf: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Puts a new socket into slot `s` (whose old one is closed already).
    fn put(&mut self, s: u8, socket: Socket, kind: Kind) {
        if let Some(place) = self.slots.get_mut(usize::from(s)) {
            *place = Some(Slot {
                socket,
                kind,
                local: None,
                remote: None,
                listening: false,
                read_shut: false,
            });
        }
    }

    fn slot(&self, s: u8) -> Option<&Slot> {
        self.slots.get(usize::from(s))?.as_ref()
    }

    /// An address with its port replaced by its order of first sight.
    fn show_addr(&mut self, addr: &SockAddr) -> String {
        let Some(sa) = addr.as_socket() else {
            return addr.to_string();
        };
        let port = sa.port();
        let name = if port == 0 {
            "0".to_string()
        } else {
            let n = match self.ports.iter().position(|&p| p == port) {
                Some(n) => n,
                None => {
                    self.ports.push(port);
                    self.ports.len() - 1
                }
            };
            format!("#{n}")
        };
        match sa {
            std::net::SocketAddr::V4(v4) => format!("{}:{name}", v4.ip()),
            std::net::SocketAddr::V6(v6) => format!("[{}]:{name}", v6.ip()),
        }
    }

    /// Re-reads a slot's addresses after a call that may change them.
    fn refresh(&mut self, s: u8) {
        let Some(Some(slot)) = self.slots.get_mut(usize::from(s)) else {
            return;
        };
        slot.local = slot.socket.local_addr().ok();
        slot.remote = slot.socket.peer_addr().ok();
        let (local, remote) = (slot.local, slot.remote);
        if let Some(local) = &local {
            if let Some(last) = self.last_local.get_mut(usize::from(s)) {
                *last = Some(*local);
            }
            // Name ports as soon as they exist, so names follow the
            // program, not which outcome happened to show them first.
            self.show_addr(local);
        }
        if let Some(remote) = &remote {
            self.show_addr(remote);
        }
    }

    fn resolve(&self, target: Target) -> Option<SockAddr> {
        match target {
            Target::Loopback(d) => Some(crate::support::loopback(d)),
            Target::Unspecified(Domain::Ipv6) => {
                Some(std::net::SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0)).into())
            }
            Target::Unspecified(_) => {
                Some(std::net::SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0)).into())
            }
            Target::Of(s) => *self.last_local.get(usize::from(s))?,
        }
    }

    fn err(e: &witsock::Error) -> String {
        e.code().wit_name().to_string()
    }

    /// Runs one operation; `index` is its place in the program.
    fn step(&mut self, index: usize, op: &Op) -> String {
        let s = op.slot();
        if let Op::New(_, kind) = *op {
            self.close(s);
            return match Socket::new_nonblocking(kind.domain(), kind.ty(), None) {
                Ok(socket) => {
                    self.put(s, socket, kind);
                    "ok".into()
                }
                Err(e) => Runner::err(&e),
            };
        }
        if let Op::Close(_) = op {
            return if self.close(s) { "ok" } else { "no-socket" }.into();
        }
        if self.slot(s).is_none() {
            return "no-socket".into();
        }
        match *op {
            Op::Bind(_, t) => self.with_target(t, |r, addr| {
                let result = r.sock(s).map(|sock| sock.bind(addr));
                r.refresh(s);
                r.unit(result)
            }),
            Op::Listen(_, backlog) => {
                let result = self.sock(s).map(|sock| sock.listen(backlog));
                if let (Some(Ok(())), Some(Some(slot))) =
                    (&result, self.slots.get_mut(usize::from(s)))
                {
                    slot.listening = true;
                }
                self.refresh(s);
                self.unit(result)
            }
            Op::Connect(_, t) => self.with_target(t, |r, addr| r.connect(s, addr)),
            Op::Disconnect(_) => {
                let result = self.sock(s).map(Socket::disconnect);
                self.refresh(s);
                self.unit(result)
            }
            Op::Accept(_, into) => self.accept(s, into),
            Op::Send(_, len) => self.send(index, s, None, len),
            Op::SendTo(_, t, len) => self.with_target(t, |r, addr| {
                let addr = *addr;
                r.send(index, s, Some(&addr), len)
            }),
            Op::Receive(_, len) => self.receive(s, len, false, false),
            Op::Peek(_, len) => self.receive(s, len, true, false),
            Op::ReceiveFrom(_, len) => self.receive(s, len, false, true),
            Op::Shutdown(_, how) => self.shutdown(s, how),
            Op::Set(_, opt, on) => {
                let result = self.sock(s).map(|sock| sock.set_option(opt.value(on)));
                self.unit(result)
            }
            Op::Get(_, opt) => match self.sock(s).map(|sock| sock.option(opt.name())) {
                Some(Ok(value)) => show_option(&value),
                Some(Err(e)) => Runner::err(&e),
                None => "no-socket".into(),
            },
            Op::Local(_) => match self.sock(s).map(Socket::local_addr) {
                Some(Ok(addr)) => format!("ok {}", self.show_addr(&addr)),
                Some(Err(e)) => Runner::err(&e),
                None => "no-socket".into(),
            },
            Op::Remote(_) => match self.sock(s).map(Socket::peer_addr) {
                Some(Ok(addr)) => format!("ok {}", self.show_addr(&addr)),
                Some(Err(e)) => Runner::err(&e),
                None => "no-socket".into(),
            },
            Op::New(..) | Op::Close(_) => "no-socket".into(),
        }
    }

    fn sock(&self, s: u8) -> Option<&Socket> {
        self.slot(s).map(|slot| &slot.socket)
    }

    fn unit(&self, result: Option<witsock::Result<()>>) -> String {
        match result {
            Some(Ok(())) => "ok".into(),
            Some(Err(e)) => Runner::err(&e),
            None => "no-socket".into(),
        }
    }

    fn with_target(
        &mut self,
        target: Target,
        f: impl FnOnce(&mut Runner, &SockAddr) -> String,
    ) -> String {
        match self.resolve(target) {
            Some(addr) => f(self, &addr),
            None => "no-target".into(),
        }
    }

    /// Drops a slot's socket; says whether there was one. What it had on
    /// its way to its peer is then followed by end-of-stream.
    fn close(&mut self, s: u8) -> bool {
        let Some(slot) = self.slots.get_mut(usize::from(s)).and_then(Option::take) else {
            return false;
        };
        if let Some(local) = &slot.local {
            self.flight.datagrams.remove(&local.to_string());
            self.flight.connections.remove(&local.to_string());
        }
        if let Some(key) = stream_key(&slot.remote, &slot.local) {
            self.flight.ended.insert(key, true);
        }
        if let (true, Some(listener)) = (slot.listening, &slot.local) {
            // Connections still in its queue are reset.
            for client in self.slots.iter().flatten() {
                let (Some(local), Some(remote)) = (&client.local, &client.remote) else {
                    continue;
                };
                if remote == listener && !self.flight.accepted.contains(&local.to_string()) {
                    self.flight
                        .ended
                        .insert((local.to_string(), remote.to_string()), true);
                }
            }
        }
        true
    }

    fn connect(&mut self, s: u8, addr: &SockAddr) -> String {
        let Some(slot) = self.slot(s) else {
            return "no-socket".into();
        };
        let stream = slot.kind.ty() == Type::Stream;
        let result = slot.socket.start_connect(addr);
        let outcome = match result {
            Ok(true) => Ok(()),
            Ok(false) if stream => self.finish_connect(s),
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        };
        self.refresh(s);
        match outcome {
            Ok(()) => {
                let remote = self.slot(s).and_then(|slot| slot.remote);
                if let Some(remote) = remote {
                    if stream {
                        *self
                            .flight
                            .connections
                            .entry(remote.to_string())
                            .or_default() += 1;
                    } else if let Some(local) = self.slot(s).and_then(|slot| slot.local) {
                        // A connected datagram socket receives only from its
                        // peer, including what was queued before.
                        let peer = remote.to_string();
                        if let Some(queue) = self.flight.datagrams.get_mut(&local.to_string()) {
                            queue.retain(|from| *from == peer);
                        }
                    }
                }
                "ok".into()
            }
            Err(e) => Runner::err(&e),
        }
    }

    fn finish_connect(&self, s: u8) -> witsock::Result<()> {
        let Some(sock) = self.sock(s) else {
            return Ok(());
        };
        let deadline = Instant::now() + ARRIVAL;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            sock.wait(Interest::WRITABLE, Some(left))?;
            if sock.finish_connect()? {
                return Ok(());
            }
            if left.is_zero() {
                return Err(witsock::Error::new(ErrorCode::TimedOut));
            }
        }
    }

    fn accept(&mut self, s: u8, into: u8) -> String {
        let local = self
            .slot(s)
            .filter(|slot| slot.listening)
            .and_then(|slot| slot.local);
        let key = local.map(|a| a.to_string());
        let expected = key
            .as_ref()
            .and_then(|k| self.flight.connections.get(k))
            .copied()
            .unwrap_or(0);
        let Some(sock) = self.sock(s) else {
            return "no-socket".into();
        };
        if expected > 0 {
            let _ = sock.wait(Interest::READABLE, Some(ARRIVAL));
        }
        match sock.try_accept() {
            Ok(Some((socket, peer))) => {
                self.flight.accepted.insert(peer.to_string());
                if let Some(k) = &key {
                    if let Some(n) = self.flight.connections.get_mut(k) {
                        *n = n.saturating_sub(1);
                    }
                }
                let kind = self.slot(s).map_or(Kind::TcpV4, |slot| slot.kind);
                if into != s {
                    self.close(into);
                } else {
                    // Accepting into the listener's own slot replaces it.
                    self.close(s);
                }
                self.put(into, socket, kind);
                self.refresh(into);
                let remote = self.slot(into).and_then(|slot| slot.remote);
                match remote {
                    Some(remote) => format!("ok {}", self.show_addr(&remote)),
                    None => "ok no-remote".into(),
                }
            }
            Ok(None) => "none".into(),
            Err(e) => Runner::err(&e),
        }
    }

    fn send(&mut self, index: usize, s: u8, to: Option<&SockAddr>, len: u16) -> String {
        payload(index, len, &mut self.buf);
        let Some(slot) = self.slot(s) else {
            return "no-socket".into();
        };
        let result = match to {
            Some(addr) => slot.socket.send_to(&self.buf, addr, SendFlags::EMPTY),
            None => slot.socket.send(&self.buf, SendFlags::EMPTY),
        };
        let stream = slot.kind.ty() == Type::Stream;
        // A send-to on an unbound datagram socket binds it.
        self.refresh(s);
        match result {
            Ok(n) => {
                let Some(slot) = self.slot(s) else {
                    return format!("ok {n}");
                };
                if stream {
                    if let Some(key) = stream_key(&slot.remote, &slot.local) {
                        *self.flight.bytes.entry(key).or_default() += n;
                    }
                } else if let (Some(dest), Some(from)) = (to.cloned().or(slot.remote), slot.local) {
                    let dest = dest.to_string();
                    let from = from.to_string();
                    // The receiver, if it is connected elsewhere, never sees it.
                    let receiver_peer = self
                        .slots
                        .iter()
                        .flatten()
                        .find(|r| r.local.as_ref().map(|a| a.to_string()) == Some(dest.clone()))
                        .and_then(|r| r.remote.as_ref().map(|a| a.to_string()));
                    if receiver_peer.is_none_or(|peer| peer == from) {
                        self.flight
                            .datagrams
                            .entry(dest)
                            .or_default()
                            .push_back(from);
                    }
                }
                format!("ok {n}")
            }
            Err(e) => Runner::err(&e),
        }
    }

    fn shutdown(&mut self, s: u8, how: Shutdown) -> String {
        let Some(slot) = self.slot(s) else {
            return "no-socket".into();
        };
        let result = slot.socket.shutdown(how);
        if result.is_ok() && how != Shutdown::Read {
            if let Some(key) = stream_key(&slot.remote, &slot.local) {
                self.flight.ended.insert(key, true);
            }
        }
        if result.is_ok() && how != Shutdown::Write {
            if let Some(Some(slot)) = self.slots.get_mut(usize::from(s)) {
                slot.read_shut = true;
            }
        }
        self.unit(Some(result))
    }

    fn receive(&mut self, s: u8, len: u16, peek: bool, from: bool) -> String {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        out.resize(usize::from(len), 0);
        let outcome = self.receive_into(s, &mut out, peek, from);
        self.out = out;
        outcome
    }

    fn receive_into(&mut self, s: u8, out: &mut [u8], peek: bool, from: bool) -> String {
        let Some(slot) = self.slot(s) else {
            return "no-socket".into();
        };
        let stream = slot.kind.ty() == Type::Stream;
        let len = out.len();
        let flags = if peek {
            RecvFlags::PEEK
        } else {
            RecvFlags::EMPTY
        };
        if stream {
            let key = stream_key(&slot.local, &slot.remote);
            let pending = key
                .as_ref()
                .and_then(|k| self.flight.bytes.get(k))
                .copied()
                .unwrap_or(0);
            let ended = key
                .as_ref()
                .is_some_and(|k| self.flight.ended.get(k).copied().unwrap_or(false));
            let want = pending.min(len);
            let socket = &slot.socket;
            let deadline = Instant::now() + ARRIVAL;
            let mut got = 0;
            let mut sender = None;
            let result = loop {
                if want == 0 && ended {
                    let _ = socket.wait(Interest::READABLE, Some(ARRIVAL));
                }
                let Some(rest) = out.get_mut(if peek { 0 } else { got }..) else {
                    break Ok(());
                };
                let step = if from {
                    socket.recv_from(rest, flags).map(|meta| {
                        sender = Some(meta.addr);
                        meta.len
                    })
                } else {
                    socket.recv(rest, flags)
                };
                match step {
                    Ok(0) if len > 0 => break Ok(()),
                    Ok(n) => {
                        got = if peek { n } else { got + n };
                        if got >= want || want == 0 {
                            break Ok(());
                        }
                    }
                    Err(e) if e.code() == ErrorCode::WouldBlock && got > 0 => {
                        if Instant::now() >= deadline {
                            break Ok(());
                        }
                    }
                    Err(e) if e.code() == ErrorCode::WouldBlock && want > 0 => {
                        if Instant::now() >= deadline {
                            break Err(e);
                        }
                    }
                    Err(e) => break Err(e),
                }
                if peek {
                    std::thread::sleep(Duration::from_millis(1));
                } else {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let _ = socket.wait(Interest::READABLE, Some(left));
                }
            };
            if !peek {
                if let Some(n) = key.as_ref().and_then(|k| self.flight.bytes.get_mut(k)) {
                    *n = n.saturating_sub(got);
                }
            }
            let bytes = out.get(..got).unwrap_or(&[]);
            let hash = fnv(bytes);
            let sender = sender.map(|a| self.show_addr(&a));
            match result {
                Ok(()) if got == 0 && len > 0 => "end-of-stream".into(),
                Ok(()) => match sender {
                    Some(sender) => format!("ok {got} {hash:08x} from {sender}"),
                    None => format!("ok {got} {hash:08x}"),
                },
                Err(e) => Runner::err(&e),
            }
        } else {
            let key = slot.local.as_ref().map(|a| a.to_string());
            let pending = key
                .as_ref()
                .and_then(|k| self.flight.datagrams.get(k))
                .map_or(0, VecDeque::len);
            if pending > 0 {
                let _ = slot.socket.wait(Interest::READABLE, Some(ARRIVAL));
            }
            let result = if from {
                slot.socket
                    .recv_from(out, flags)
                    .map(|meta| (meta.len, Some(meta.addr), meta.truncated))
            } else {
                slot.socket.recv(out, flags).map(|n| (n, None, false))
            };
            match result {
                Ok((n, sender, truncated)) => {
                    if !peek {
                        if let Some(queue) =
                            key.as_ref().and_then(|k| self.flight.datagrams.get_mut(k))
                        {
                            queue.pop_front();
                        }
                    }
                    let hash = fnv(out.get(..n).unwrap_or(&[]));
                    let cut = if truncated { " truncated" } else { "" };
                    match sender {
                        Some(sender) => {
                            format!("ok {n} {hash:08x}{cut} from {}", self.show_addr(&sender))
                        }
                        None => format!("ok {n} {hash:08x}{cut}"),
                    }
                }
                Err(e) => Runner::err(&e),
            }
        }
    }
}

/// An option's value as an outcome: values the contract defines, with
/// error values by their code only (raw codes are the backend's).
fn show_option(value: &SocketOption) -> String {
    match value {
        SocketOption::Error(None) => "ok none".into(),
        SocketOption::Error(Some(e)) => format!("ok {}", e.code().wit_name()),
        SocketOption::SocketType(t) => format!("ok {t:?}"),
        other => format!("ok {other:?}"),
    }
}

/// What a backend's capabilities say it lacks, by WIT name: its
/// features (`peek`, `dual-stack`, …) and its options, as the guest suite
/// reports them (`CapabilityReport`).
#[derive(Clone, Copy, Debug)]
pub struct Missing<'a> {
    /// Each feature and its support (`native`, `emulated`,
    /// `unsupported`).
    pub features: &'a [(String, String)],
    /// Each option and its support.
    pub options: &'a [(String, String)],
}

impl Missing<'_> {
    fn lacks(table: &[(String, String)], name: &str) -> bool {
        table
            .iter()
            .any(|(n, support)| n == name && support == "unsupported")
    }

    /// Why `op` cannot do on that backend what it does here, if it changes
    /// what follows: a peek (it can consume a pending error), a set of an
    /// option the backend lacks, turning `ipv6-only` off without
    /// dual-stack. A runner comparing with that backend skips such an
    /// operation natively, so that both go on from the same state, and
    /// expects the backend to refuse it.
    pub fn skips(&self, op: &Op) -> Option<String> {
        match *op {
            Op::Peek(..) if Missing::lacks(self.features, "peek") => {
                Some("capabilities: peek unsupported".into())
            }
            Op::Set(_, Opt::Ipv6Only, false) if Missing::lacks(self.features, "dual-stack") => {
                Some(DUAL_STACK.into())
            }
            Op::Set(_, opt, _) if Missing::lacks(self.options, opt.name().wit_name()) => {
                Some(option_missing(opt))
            }
            _ => None,
        }
    }

    /// Why `theirs` may differ from the native outcome of `op`, which
    /// changes nothing: a read of an option the backend lacks (a
    /// refusal), or of `ipv6-only` without dual-stack (always `true`).
    pub fn excuses(&self, op: &Op, theirs: &str) -> Option<String> {
        match *op {
            Op::Get(_, Opt::Ipv6Only)
                if Missing::lacks(self.features, "dual-stack") && theirs == "ok Ipv6Only(true)" =>
            {
                Some(DUAL_STACK.into())
            }
            Op::Get(_, opt)
                if Missing::lacks(self.options, opt.name().wit_name()) && is_refusal(theirs) =>
            {
                Some(option_missing(opt))
            }
            _ => None,
        }
    }
}

const DUAL_STACK: &str = "capabilities: dual-stack unsupported (ipv6-only is always on)";

fn option_missing(opt: Opt) -> String {
    format!("capabilities: option {} unsupported", opt.name().wit_name())
}

/// A difference between backends that the WIT documents (not a missing
/// feature that capabilities could declare): the reason, when operation
/// `index` of `program` did `theirs` on `backend` and `native` natively.
/// Each is in `wit/sockets.wit` under "States":
/// - any backend: a port a closed or reset socket held is released a
///   moment later, so a bind to it right away may or may not be
///   `address-in-use`;
/// - wasi-p2: a connected UDP socket never reports ICMP errors
///   (`connection-refused`);
/// - wasi-p2: a socket closed with unread data shuts its write half first
///   (the host does, as the guest drops its output stream), so the peer
///   reads end-of-stream (or its send says `shutdown`) where natively it
///   sees the reset;
/// - wasi-p2: `error` is emulated and knows no error the kernel keeps
///   pending;
/// - wasi-p2: a closed socket is released late (wasmtime cancels what it
///   was waiting for first), and with it what its close sends a peer (a
///   reset, end-of-stream), which may come after the peer's receive;
/// - wasi-p2: after a UDP socket connects to another peer, or
///   disconnects, a datagram sent before is delivered, or one dropped, by
///   what the peer was when the backend received it (or a wait read it
///   ahead), not when it arrived.
pub fn documented(
    backend: &str,
    program: &Program,
    index: usize,
    natives: &[String],
    theirs: &str,
) -> Option<&'static str> {
    let op = program.ops.get(index)?;
    let native = natives.get(index)?.as_str();
    let port_race = (native == "ok" && theirs == "address-in-use")
        || (native == "address-in-use" && theirs == "ok");
    if matches!(op, Op::Bind(_, Target::Of(_))) && port_race {
        return Some("documented: a closed socket's port is released a moment later");
    }
    if backend != "wasi-p2" {
        return None;
    }
    let io = matches!(
        op,
        Op::Send(..) | Op::SendTo(..) | Op::Receive(..) | Op::ReceiveFrom(..)
    );
    if (io || matches!(op, Op::Get(_, Opt::Error)))
        && (native == "connection-refused" || native == "ok connection-refused")
        && !theirs.contains("connection-refused")
    {
        return Some("documented: wasi-p2 never reports ICMP errors on a connected UDP socket");
    }
    let reset_seen_as_close = match op {
        Op::Receive(..) | Op::ReceiveFrom(..) => theirs == "end-of-stream",
        Op::Send(..) => theirs == "shutdown",
        _ => false,
    };
    if native == "connection-reset" && reset_seen_as_close {
        return Some(
            "documented: on wasi-p2 a peer closing with unread data shuts its write half first",
        );
    }
    let late_close = match op {
        Op::Receive(..) | Op::ReceiveFrom(..) => {
            (native == "connection-reset" || native == "end-of-stream") && theirs == "would-block"
        }
        // The reset comes later: the send still goes out there.
        Op::Send(..) => native == "connection-reset" && theirs.starts_with("ok"),
        _ => false,
    };
    if late_close && closed_before(program, natives, index) {
        return Some("documented: wasi-p2 releases a closed socket late, and what its close sends");
    }
    if matches!(op, Op::Get(_, Opt::Error)) && native.starts_with("ok ") && theirs == "ok none" {
        return Some("documented: wasi-p2 emulates error and knows no pending kernel error");
    }
    // Either way: the backend filters when it receives, or when a wait
    // reads ahead, by the peer of that moment.
    let received = matches!(op, Op::Receive(..) | Op::ReceiveFrom(..) | Op::Peek(..))
        && ((native == "would-block" && theirs.starts_with("ok"))
            || (native.starts_with("ok") && theirs == "would-block"));
    if received && reconnected(program, natives, index) {
        return Some(
            "documented: wasi-p2 filters a reconnected or disconnected UDP socket's queue as it \
             receives",
        );
    }
    None
}

/// Whether a socket was closed before operation `index`: by `close`, or
/// replaced by a `new` or an `accept` into its slot (by the native
/// outcomes, which say what was created).
fn closed_before(program: &Program, natives: &[String], index: usize) -> bool {
    let mut occupied = [false; SLOTS as usize];
    for (op, outcome) in program.ops.iter().zip(natives).take(index) {
        let made = outcome.starts_with("ok");
        let slot = match *op {
            Op::Close(_) if made => return true,
            Op::New(s, _) | Op::Accept(_, s) if made => s,
            _ => continue,
        };
        match occupied.get_mut(usize::from(slot)) {
            Some(true) => return true,
            Some(place) => *place = true,
            None => {}
        }
    }
    false
}

/// Whether the peer of the socket operation `index` acts on changed since
/// it was created: it connected to two different targets, or connected
/// and then disconnected (by the native outcomes, which say what was
/// created).
fn reconnected(program: &Program, natives: &[String], index: usize) -> bool {
    let Some(slot) = program.ops.get(index).map(Op::slot) else {
        return false;
    };
    let mut targets = Vec::new();
    let mut dissolved = false;
    for (op, outcome) in program.ops.iter().zip(natives).take(index) {
        let made = outcome.starts_with("ok");
        match *op {
            Op::New(s, _) | Op::Accept(_, s) if s == slot && made => {
                targets.clear();
                dissolved = false;
            }
            Op::Connect(s, target) if s == slot && !targets.contains(&target) => {
                targets.push(target)
            }
            Op::Disconnect(s) if s == slot && made && !targets.is_empty() => dissolved = true,
            _ => {}
        }
    }
    targets.len() > 1 || dissolved
}

/// The outcome of an operation a runner skipped, for `reason`.
fn skipped(reason: &str) -> String {
    format!("skipped: {reason}")
}

/// Whether an outcome is an error: what a backend must answer to an
/// operation it declares it cannot do (whichever check comes first:
/// `unsupported`, or a state error the contract checks before it). A
/// backend that declares a feature missing and then does it disagrees: a
/// feature faked, or a capability table that is wrong.
pub fn is_refusal(outcome: &str) -> bool {
    !(outcome.starts_with("ok")
        || outcome == "none"
        || outcome == "end-of-stream"
        || outcome == "no-socket"
        || outcome == "no-target")
}

/// The reason a native outcome was skipped ([`run_skipping`]), if it was.
pub fn skipped_reason(outcome: &str) -> Option<&str> {
    outcome.strip_prefix("skipped: ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_read_back_as_written() {
        for seed in 0..500 {
            let program = Program::generate(seed, 30);
            assert!(program.ops.len() >= 30, "seed {seed}");
            let text = program.to_string();
            assert_eq!(Program::parse(&text), Ok(program), "seed {seed}: {text}");
        }
    }

    #[test]
    fn outcome_lines_read_back() {
        let outcomes = vec![
            "ok".to_string(),
            "ok 3 0000abcd from 127.0.0.1:#0".into(),
            String::new(),
        ];
        let line = outcome_line("seed 9", &outcomes);
        assert_eq!(parse_outcome_line(&line), Some(("seed 9", outcomes)));
        assert_eq!(parse_outcome_line("{\"case\":1}"), None);
    }

    #[test]
    fn documented_differences_apply_only_where_documented() {
        let program = Program::parse(
            "new 0 udp4; bind 0 @1; connect 0 @1; connect 0 @2; accept 0 0; receive 0 9; \
             new 0 udp4; receive 0 9",
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let natives = |at: usize, outcome: &str| -> Vec<String> {
            let mut all = vec!["ok".to_string(); 8];
            if let Some(slot) = all.get_mut(4) {
                *slot = "operation-not-supported".into();
            }
            if let Some(slot) = all.get_mut(at) {
                *slot = outcome.into();
            }
            all
        };
        // A bind racing a port's release, on any backend, either way.
        let ok = natives(1, "ok");
        let in_use = natives(1, "address-in-use");
        assert!(documented("witsock-imports", &program, 1, &ok, "address-in-use").is_some());
        assert!(documented("wasi-p2", &program, 1, &in_use, "ok").is_some());
        assert!(documented("wasi-p2", &program, 1, &ok, "invalid-argument").is_none());
        // A receive after connecting to a second peer, on wasi-p2 only; a
        // refused accept replaces nothing.
        let blocked = natives(5, "would-block");
        assert!(documented("wasi-p2", &program, 5, &blocked, "ok 3 00000000").is_some());
        assert!(documented("witsock-imports", &program, 5, &blocked, "ok 3 0").is_none());
        // Not once the slot holds a new socket.
        let blocked = natives(7, "would-block");
        assert!(documented("wasi-p2", &program, 7, &blocked, "ok 3 0").is_none());
        // A receive after a disconnect, on wasi-p2 only, and only once the
        // socket had a peer to forget.
        let dissolved = Program::parse(
            "new 0 udp4; bind 0 loopback-v4; connect 0 @1; disconnect 0; receive 0 9; \
             new 0 udp4; disconnect 0; receive 0 9",
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let mut dissolved_natives = vec!["ok".to_string(); 8];
        for at in [4, 7] {
            if let Some(slot) = dissolved_natives.get_mut(at) {
                *slot = "would-block".into();
            }
        }
        let d = &dissolved_natives;
        assert!(documented("wasi-p2", &dissolved, 4, d, "ok 3 00000000").is_some());
        assert!(documented("witsock-imports", &dissolved, 4, d, "ok 3 0").is_none());
        assert!(documented("wasi-p2", &dissolved, 7, d, "ok 3 0").is_none());
        // ICMP errors only as a refusal natively.
        let refused = natives(5, "connection-refused");
        let reset = natives(5, "connection-reset");
        assert!(documented("wasi-p2", &program, 5, &refused, "would-block").is_some());
        assert!(documented("wasi-p2", &program, 5, &reset, "would-block").is_none());
        // A reset arriving late on wasi-p2, once a socket was closed.
        let closing = Program::parse("new 0 tcp4; new 1 tcp4; close 0; receive 1 4")
            .unwrap_or_else(|e| unreachable!("{e}"));
        let natives = ["ok", "ok", "ok", "connection-reset"].map(String::from);
        assert!(documented("wasi-p2", &closing, 3, &natives, "would-block").is_some());
        assert!(documented("witsock-imports", &closing, 3, &natives, "would-block").is_none());
        let open = Program::parse("new 0 tcp4; new 1 tcp4; local 0; receive 1 4")
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(documented("wasi-p2", &open, 3, &natives, "would-block").is_none());
    }

    #[test]
    fn a_seed_gives_one_program() {
        assert_eq!(Program::generate(7, 20), Program::generate(7, 20));
        assert_ne!(Program::generate(7, 20), Program::generate(8, 20));
    }

    #[test]
    fn bad_programs_are_errors() {
        for text in [
            "new 9 tcp4",
            "bind 0 nowhere",
            "fly 0",
            "send 0 x",
            "send-to 0 @7 3",
        ] {
            assert!(Program::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn a_connected_pair_exchanges_bytes() {
        let program = Program::parse(
            "new 0 tcp4; bind 0 loopback-v4; listen 0 4; new 1 tcp4; connect 1 @0; \
             accept 0 2; send 1 100; receive 2 1000; shutdown 1 write; receive 2 10; \
             local 1; remote 2",
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let out = run(&program);
        let hash = {
            let mut buf = Vec::new();
            payload(6, 100, &mut buf);
            fnv(&buf)
        };
        assert_eq!(
            out,
            [
                "ok".to_string(),
                "ok".into(),
                "ok".into(),
                "ok".into(),
                "ok".into(),
                "ok 127.0.0.1:#1".into(),
                "ok 100".into(),
                format!("ok 100 {hash:08x}"),
                "ok".into(),
                "end-of-stream".into(),
                "ok 127.0.0.1:#1".into(),
                "ok 127.0.0.1:#1".into(),
            ]
        );
    }

    #[test]
    fn a_disconnected_datagram_socket_sends_only_with_a_destination() {
        let program = Program::parse(
            "new 0 udp4; bind 0 loopback-v4; new 1 udp4; bind 1 loopback-v4; connect 0 @1; \
             disconnect 0; send 0 3; remote 0; send-to 0 @1 3; receive-from 1 16; \
             disconnect 0; new 2 tcp4; disconnect 2",
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(Program::parse(&program.to_string()).as_ref(), Ok(&program));
        let out = run(&program);
        let hash = {
            let mut buf = Vec::new();
            payload(8, 3, &mut buf);
            fnv(&buf)
        };
        assert_eq!(
            out,
            [
                "ok".to_string(),
                "ok".into(),
                "ok".into(),
                "ok".into(),
                "ok".into(),
                "ok".into(),
                "not-connected".into(),
                "not-connected".into(),
                "ok 3".into(),
                format!("ok 3 {hash:08x} from 127.0.0.1:#0"),
                "ok".into(),
                "ok".into(),
                "operation-not-supported".into(),
            ]
        );
    }

    #[test]
    fn only_what_capabilities_declare_missing_is_skipped_or_excused() {
        let options = vec![("no-delay".to_string(), "unsupported".to_string())];
        let features = vec![
            ("peek".to_string(), "native".to_string()),
            ("dual-stack".to_string(), "unsupported".to_string()),
        ];
        let missing = Missing {
            features: &features,
            options: &options,
        };
        assert!(missing.skips(&Op::Set(0, Opt::NoDelay, true)).is_some());
        assert!(missing.skips(&Op::Set(0, Opt::Ipv6Only, false)).is_some());
        assert!(missing.skips(&Op::Set(0, Opt::Ipv6Only, true)).is_none());
        assert!(missing.skips(&Op::Set(0, Opt::KeepAlive, true)).is_none());
        assert!(missing.skips(&Op::Peek(0, 4)).is_none());
        assert!(missing.skips(&Op::Get(0, Opt::NoDelay)).is_none());
        let program = Program::parse("new 0 tcp4; set 0 no-delay on; get 0 no-delay")
            .unwrap_or_else(|e| unreachable!("{e}"));
        let out = run_skipping(&program, |op| missing.skips(op));
        assert_eq!(out.first().map(String::as_str), Some("ok"));
        assert!(
            out.get(1).and_then(|o| skipped_reason(o)).is_some(),
            "{out:?}"
        );
        // Skipped natively, so the read sees the default.
        assert_eq!(out.get(2).map(String::as_str), Some("ok NoDelay(false)"));
        // Reads of what is missing are excused only as refusals (or, for
        // ipv6-only, as always on).
        let get = Op::Get(0, Opt::NoDelay);
        assert!(missing.excuses(&get, "option-not-supported").is_some());
        assert!(missing.excuses(&get, "ok NoDelay(false)").is_none());
        assert!(missing
            .excuses(&Op::Get(0, Opt::KeepAlive), "option-not-supported")
            .is_none());
        let v6only = Op::Get(0, Opt::Ipv6Only);
        assert!(missing.excuses(&v6only, "ok Ipv6Only(true)").is_some());
        assert!(missing.excuses(&v6only, "ok Ipv6Only(false)").is_none());
        assert!(is_refusal("option-not-supported") && is_refusal("invalid-state"));
        assert!(!is_refusal("ok") && !is_refusal("ok 3") && !is_refusal("end-of-stream"));
    }
}
