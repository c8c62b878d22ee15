//! `witsock-host`: run a wasm32-wasip2 component under a socket policy, or
//! the conformance matrix across witsock's backends.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use witsock_conformance::differential::Program;
use witsock_conformance::Backend;
use witsock_host::conformance::{Column, Driver, Matrix};
use witsock_host::denial::{DeniedOperation, Grant};
use witsock_host::differential;
use witsock_host::{imports, layout};
use witsock_host::{
    AddressRule, AddressUse, CompileCache, DenialHook, Guest, GuestLimits, GuestStatus, Limits,
    LoadOptions, Policy, RunOptions, Stdio, WasiSockets,
};

const USAGE: &str = "\
usage: witsock-host run GUEST.wasm [--allow-bind RULE]... [--allow-connect RULE]...
                            [--allow-inbound RULE]... [--allow-lookup]
                            [--allow-unix DIR]... [--allow-unix-shared DIR]...
                            [--allow-socket-pairs] [--allow-multicast] [--allow-linger SECONDS]
                            [--max-sockets N] [--max-backlog N] [--max-bytes-per-call SIZE]
                            [--max-memory SIZE] [--max-wall-time SECONDS]
                            [-S KEY[=y|n]]... [--wasi-sockets witsock|wasmtime-wasi]
                            [--quiet | --verbose] [--denial-log FILE] [--no-compile-cache]
                            [-- ARGS...]
       witsock-host conformance [--guest GUEST.wasm] [--imports-guest GUEST.wasm] [--filter NAME]
                                [--matrix-file FILE.md]
       witsock-host differential [--guest GUEST.wasm] [--imports-guest GUEST.wasm]
                                 [--programs N] [--seed FIRST] [--length OPS] [--program TEXT]

A RULE is ADDRESS[/PREFIX]:PORTS, e.g. 127.0.0.1:8080, 127.0.0.0/8:*, [::1]:1024-65535.
Without rules the guest has no network. `run` serves both wasi:sockets
and the witsock interface (`witsock:sockets/sockets`, imported by guests
built with `--features witsock/imports`) from one socket layer, under
one policy:
--allow-bind RULE     bind (and listen) on the addresses of RULE
--allow-connect RULE  connect, send datagrams to and receive them from
                      the addresses of RULE (and bind the unspecified
                      address, port 0, of its family: a client's bind)
--allow-inbound RULE  receive datagrams from the addresses of RULE,
                      without sending to them, and accept connections only
                      from the addresses of --allow-inbound rules (without
                      any, or with udp:// ones only, from any peer); a
                      rule's ports are the peer's own
    --allow-connect and --allow-inbound take tcp://RULE or udp://RULE for
    one protocol, and NAME:PORTS for the addresses the host resolves NAME
    to when it starts (the guest may then look NAME up)
--allow-lookup        name lookup
--allow-unix DIR      Unix sockets inside the existing private directory
                      DIR (witsock interface only), preopened for the
                      guest at its absolute path; a world-writable
                      directory such as /tmp is refused
--allow-unix-shared DIR
                      the same for a world-writable DIR: the guest reaches
                      every socket any user puts there
--allow-socket-pairs  connected Unix socket pairs (witsock interface)
--allow-multicast     joining multicast groups
--allow-linger SECONDS
                      linger times up to SECONDS (an abortive close,
                      linger 0, is always allowed)
--max-sockets N       the most sockets the guest may hold at once, on
                      both interfaces together (default 1024)
--max-backlog N       listen backlogs past N are clamped to it (default 1024)
--max-bytes-per-call SIZE
                      the most bytes one receive call may ask the host to
                      buffer (default 4M)
--max-memory SIZE     the most all linear memories of the guest may grow
                      to together, in bytes or with a K, M or G suffix
                      (default 1G)
--max-wall-time SECONDS
                      stop the guest after this long (default: no limit);
                      one blocked in a host call is stopped half a second
                      later, with exit code 134
--no-compile-cache    compile the guest even if it was compiled before
                      (by default compiled guests are kept, and loaded
                      next time, in $WITSOCK_HOST_CACHE_DIR, else
                      $XDG_CACHE_HOME/witsock-host, else
                      ~/.cache/witsock-host; a cache that is not private
                      to this user is not used)
-S KEY[=y|n]          wasmtime's network options, with its meaning:
                      inherit-network (every address), allow-ip-name-lookup,
                      tcp, udp, network-error-code
--wasi-sockets IMPL   serve wasi:sockets from witsock's socket layer
                      (witsock, the default) or from wasmtime-wasi's, for
                      comparison (the address rules, -S tcp/udp, name
                      lookup and --max-sockets apply to it; the other
                      quotas and NAME:PORTS rules are witsock's alone)
--quiet               print nothing when the policy refuses something
--denial-log FILE     write the denial lines to FILE (appended) instead
                      of stderr, where the guest's own output cannot pass
                      for them
--verbose             also print the effective policy and the interfaces
                      the guest imports
Every refusal of the policy prints one line on stderr (once per
operation and address), with the flag that would allow it; the guest
gets access-denied without a native error code (too-many-sockets for
the socket quota).
With any RULE, a listener accepts connections from any peer. `run` exits
with the guest's code (134 when it traps). Arguments for the guest must
be UTF-8: WASI passes them as strings.

`conformance` runs the shared cases (those whose name contains NAME) on
three backends: natively in this process; in the guest suite on
wasi:sockets (--guest); and in the guest suite built with
`--features witsock/imports`, its sockets served by this host
(--imports-guest; its Unix sockets go to a fresh temporary directory,
removed afterwards). The guests are by default the ones `cargo xtask
conformance` builds next to this binary (<target>/release/witsock-host):
  <target>/wasm32-wasip2/release/witsock-guest-tests.wasm
  <target>/witsock-imports-guests/wasm32-wasip2/release/witsock-guest-tests.wasm
It prints a summary per area and backend, the cases that do not pass
everywhere (failures, and unsupported cells with their reasons), the
capability matrix and the run times, writes the whole matrix as
Markdown to FILE.md when asked, and exits 1 if any cell fails.

`differential` runs seeded random programs of socket operations (N of
them, default 1000, from seed FIRST, default 1, OPS operations each,
default 40), or the one program TEXT, natively in this process and in
both guest suites, and compares every outcome with the native one. A
difference the guest's capabilities do not declare is a disagreement:
its program is shrunk to the shortest that still disagrees and printed
with both sides' outcomes. Exits 1 if there is one.";

/// Exit code for a trapped guest, as for a process killed by SIGABRT.
const TRAP_EXIT: u8 = 134;
/// How long past `--max-wall-time` a guest blocked in a host call is given
/// before the process ends (a guest running its own code traps at the
/// deadline itself).
const WALL_TIME_GRACE: Duration = Duration::from_millis(500);

/// Exit code for bad usage or a guest that cannot be loaded.
const USAGE_EXIT: u8 = 2;

fn main() -> ExitCode {
    // Arguments as the OS gives them: a path need not be UTF-8, and an
    // argument that must be is refused with a message, not a panic.
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let result = match args.first().map(|a| a.to_str()) {
        Some(Some("run")) => parse_run(&args[1..]).and_then(run),
        Some(Some("conformance")) => parse_conformance(&args[1..]).and_then(conformance),
        Some(Some("differential")) => parse_differential(&args[1..]).and_then(differential),
        Some(Some("help" | "-h" | "--help")) => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some(_) => Err(Failure::usage(format!(
            "unknown command `{}`",
            args[0].to_string_lossy()
        ))),
        None => Err(Failure::usage("no command given".to_string())),
    };
    match result {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("witsock-host: {}", failure.message);
            if failure.show_usage {
                eprintln!("{USAGE}");
            }
            ExitCode::from(failure.exit)
        }
    }
}

/// `value` as text, or a usage error naming `what` it is.
fn utf8<'a>(value: &'a OsStr, what: &str) -> Result<&'a str, Failure> {
    value.to_str().ok_or_else(|| {
        Failure::error(format!(
            "{what} `{}` is not valid UTF-8",
            value.to_string_lossy()
        ))
    })
}

/// A reason to stop, with the exit code.
struct Failure {
    message: String,
    exit: u8,
    show_usage: bool,
}

impl Failure {
    fn usage(message: String) -> Failure {
        Failure {
            message,
            exit: USAGE_EXIT,
            show_usage: true,
        }
    }

    fn error(message: impl ToString) -> Failure {
        Failure {
            message: message.to_string(),
            exit: USAGE_EXIT,
            show_usage: false,
        }
    }
}

struct RunArgs {
    guest: PathBuf,
    /// The policy the flags give, but for the Unix directories (opened
    /// when the run starts).
    policy: Policy,
    /// Which implementation serves wasi:sockets.
    wasi_sockets: WasiSockets,
    /// How much the host says about denials and the policy.
    verbosity: Verbosity,
    /// Where denial lines go instead of stderr.
    denial_log: Option<PathBuf>,
    /// The `--allow-unix` and `--allow-unix-shared` directories, as given,
    /// each with whether it may be world-writable.
    unix_dirs: Vec<(PathBuf, bool)>,
    limits: GuestLimits,
    /// Where compiled guests are cached.
    compile_cache: CompileCache,
    guest_args: Vec<String>,
}

/// How much `run` prints of its own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verbosity {
    /// Nothing but errors.
    Quiet,
    /// One line per distinct denial.
    Denials,
    /// Also the effective policy and the guest's imports.
    Verbose,
}

/// A count from `text`, or an error naming `flag`.
fn count<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, Failure> {
    text.parse()
        .map_err(|_| Failure::error(format!("{flag} `{text}` is not a count")))
}

/// A `-S KEY[=VALUE]` of wasmtime's CLI: its value as a boolean (a bare
/// key is `y`).
fn wasmtime_bool(key: &str, value: Option<&str>) -> Result<bool, Failure> {
    match value {
        None | Some("y" | "yes" | "true") => Ok(true),
        Some("n" | "no" | "false") => Ok(false),
        Some(other) => Err(Failure::error(format!(
            "-S {key}={other}: the value is y or n"
        ))),
    }
}

/// The protocol a peer rule is for: `tcp://RULE`, `udp://RULE` or both.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Any,
    Tcp,
    Udp,
}

/// The rules a `--allow-connect` or `--allow-inbound` value stands for:
/// `[tcp://|udp://]RULE`, or `[tcp://|udp://]NAME:PORTS` for the addresses
/// the host resolves NAME to now (and the name itself, which the guest may
/// then look up).
fn peer_rules(
    flag: &str,
    text: &str,
) -> Result<(Protocol, Vec<AddressRule>, Option<String>), Failure> {
    let (protocol, rest) = if let Some(rest) = text.strip_prefix("tcp://") {
        (Protocol::Tcp, rest)
    } else if let Some(rest) = text.strip_prefix("udp://") {
        (Protocol::Udp, rest)
    } else {
        (Protocol::Any, text)
    };
    let parsed = rest.parse::<AddressRule>();
    if let Ok(rule) = parsed {
        return Ok((protocol, vec![rule], None));
    }
    // NAME:PORTS, the name not an address.
    let is_host_name = |name: &str| {
        name.chars().any(|c| c.is_ascii_alphabetic())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    };
    let name_and_ports = rest.rsplit_once(':').filter(|(name, _)| is_host_name(name));
    let Some((name, ports)) = name_and_ports else {
        return Err(Failure::error(parsed.expect_err("not a rule")));
    };
    let ports: AddressRule = format!("0.0.0.0:{ports}").parse().map_err(|_| {
        Failure::error(format!(
            "{flag} {text}: `{ports}` is not a port, a range or *"
        ))
    })?;
    let addrs = witsock::resolve(name, 0)
        .map_err(|e| Failure::error(format!("{flag} {text}: cannot resolve {name}: {e}")))?;
    let mut rules = Vec::new();
    for ip in addrs.filter_map(|addr| Some(addr.as_socket()?.ip())) {
        let full = if ip.is_ipv4() { 32 } else { 128 };
        if let Some(rule) = AddressRule::new(ip, full, 0, 0) {
            let rule = rule.with_ports(ports.first_port(), ports.last_port());
            if !rules.contains(&rule) {
                rules.push(rule);
            }
        }
    }
    if rules.is_empty() {
        return Err(Failure::error(format!(
            "{flag} {text}: {name} resolves to no IP address"
        )));
    }
    Ok((protocol, rules, Some(name.to_string())))
}

/// `policy` with a `--allow-connect` (outbound) or `--allow-inbound` rule
/// for `protocol`. Outbound rules grant the bind a client of the rule's
/// family makes first; `--allow-inbound tcp://` narrows the peers a
/// listener accepts (any, until the first), `--allow-inbound udp://`
/// names who may send to the guest's UDP sockets.
fn peer_rule(policy: Policy, inbound: bool, protocol: Protocol, rule: AddressRule) -> Policy {
    let (tcp, udp) = (protocol != Protocol::Udp, protocol != Protocol::Tcp);
    match (inbound, tcp, udp) {
        (false, true, true) => policy.allow_connect(rule),
        (false, true, false) => policy
            .allow_tcp_connect(rule)
            .allow_client_bind(rule.is_ipv4()),
        (false, false, _) => policy
            .allow_udp_peer(rule)
            .allow_client_bind(rule.is_ipv4()),
        (true, tcp, udp) => {
            let policy = if tcp {
                policy.allow_accept(rule)
            } else {
                policy
            };
            if udp {
                policy.allow_udp_receive(rule)
            } else {
                policy
            }
        }
    }
}

fn parse_run(args: &[OsString]) -> Result<RunArgs, Failure> {
    let mut guest = None;
    let mut policy = Policy::deny_all();
    let mut quotas = Limits::default();
    // The flags wasmtime-wasi's wasi:sockets could not enforce.
    let mut layer_only: Vec<&str> = Vec::new();
    let mut wasi_sockets = WasiSockets::default();
    let mut verbosity = Verbosity::Denials;
    let mut denial_log = None;
    let mut unix_dirs = Vec::new();
    let mut limits = GuestLimits::default();
    let mut compile_cache = CompileCache::User;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = |what: &str| {
            iter.next()
                .ok_or_else(|| Failure::usage(format!("{} needs {what}", arg.to_string_lossy())))
        };
        match arg.to_str() {
            Some("--allow-bind") => {
                let rule: AddressRule = utf8(value("a RULE")?, "the rule")?
                    .parse()
                    .map_err(Failure::error)?;
                policy = policy.allow_bind(rule);
            }
            Some(flag @ ("--allow-connect" | "--allow-inbound")) => {
                let text = utf8(value("a RULE")?, "the rule")?;
                let (protocol, rules, name) = peer_rules(flag, text)?;
                if let Some(name) = name {
                    layer_only.push("NAME:PORTS rules");
                    policy = policy.allow_lookup_of(&name);
                }
                for rule in rules {
                    policy = peer_rule(policy, flag == "--allow-inbound", protocol, rule);
                }
            }
            Some("--allow-lookup") => policy = policy.allow_name_lookup(true),
            Some("--allow-multicast") => policy = policy.allow_multicast(true),
            Some("--allow-socket-pairs") => policy = policy.allow_socket_pairs(true),
            Some("--allow-linger") => {
                let text = utf8(value("SECONDS")?, "the time")?;
                let secs: u64 = count("--allow-linger", text)?;
                policy = policy.allow_linger(Duration::from_secs(secs));
            }
            Some("--max-backlog") => {
                let text = utf8(value("N")?, "the count")?;
                quotas.max_backlog = count("--max-backlog", text)?;
                layer_only.push("--max-backlog");
            }
            Some("--max-bytes-per-call") => {
                let text = utf8(value("a SIZE")?, "the size")?;
                quotas.max_bytes_per_call = parse_size("--max-bytes-per-call", text)?;
                layer_only.push("--max-bytes-per-call");
            }
            Some("--wasi-sockets") => {
                wasi_sockets = match utf8(value("witsock or wasmtime-wasi")?, "the implementation")?
                {
                    "witsock" => WasiSockets::Witsock,
                    "wasmtime-wasi" => WasiSockets::WasmtimeWasi,
                    other => {
                        return Err(Failure::error(format!(
                            "--wasi-sockets `{other}`: witsock or wasmtime-wasi"
                        )))
                    }
                };
            }
            Some("--quiet" | "-q") => verbosity = Verbosity::Quiet,
            Some("--denial-log") => denial_log = Some(PathBuf::from(value("a FILE")?)),
            Some("--verbose" | "-v") => verbosity = Verbosity::Verbose,
            Some(flag) if flag == "-S" || (flag.starts_with("-S") && flag.len() > 2) => {
                let option = if flag == "-S" {
                    utf8(value("KEY[=VALUE]")?, "the option")?
                } else {
                    &flag[2..]
                };
                // Several may come in one, comma-separated, as wasmtime takes them.
                for item in option.split(',') {
                    let (key, val) = match item.split_once('=') {
                        Some((key, val)) => (key, Some(val)),
                        None => (item, None),
                    };
                    let on = wasmtime_bool(key, val)?;
                    match key {
                        "inherit-network" if on => {
                            for rule in [AddressRule::ANY_IPV4, AddressRule::ANY_IPV6] {
                                policy = policy.allow_bind(rule).allow_connect(rule);
                            }
                        }
                        "inherit-network" => {}
                        "allow-ip-name-lookup" => policy = policy.allow_name_lookup(on),
                        "tcp" => policy = policy.allow_protocol(true, on),
                        "udp" => policy = policy.allow_protocol(false, on),
                        // Streams always say which socket error ended them.
                        "network-error-code" => {}
                        other => {
                            return Err(Failure::error(format!(
                                "-S {other}: witsock-host takes wasmtime's network options (inherit-network, allow-ip-name-lookup, tcp, udp, network-error-code)"
                            )))
                        }
                    }
                }
            }
            Some(flag @ ("--allow-unix" | "--allow-unix-shared")) => {
                let dir = value("a DIR")?;
                // The guest is given the directory at the same path, as a
                // string.
                utf8(dir, "the directory")?;
                unix_dirs.push((PathBuf::from(dir), flag == "--allow-unix-shared"));
            }
            Some("--max-sockets") => {
                let text = utf8(value("N")?, "the count")?;
                quotas.max_sockets = count("--max-sockets", text)?;
            }
            Some("--max-memory") => {
                limits.max_memory =
                    parse_size("--max-memory", utf8(value("a SIZE")?, "the size")?)?;
            }
            Some("--max-wall-time") => {
                let text = utf8(value("SECONDS")?, "the time")?;
                let seconds: f64 = text
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| {
                        Failure::error(format!(
                            "--max-wall-time `{text}` is not a positive number of seconds"
                        ))
                    })?;
                limits.max_wall_time = Some(
                    Duration::try_from_secs_f64(seconds)
                        .map_err(|e| Failure::error(format!("--max-wall-time `{text}`: {e}")))?,
                );
            }
            Some("--no-compile-cache") => compile_cache = CompileCache::Disabled,
            Some("--") => break,
            _ if arg.as_encoded_bytes().starts_with(b"-") => {
                return Err(Failure::usage(format!(
                    "unknown option `{}`",
                    arg.to_string_lossy()
                )))
            }
            _ if guest.is_none() => guest = Some(PathBuf::from(arg)),
            _ => {
                return Err(Failure::usage(format!(
                    "unexpected argument `{}` (guest arguments go after `--`)",
                    arg.to_string_lossy()
                )))
            }
        }
    }
    if wasi_sockets == WasiSockets::WasmtimeWasi {
        if let Some(what) = layer_only.first() {
            return Err(Failure::error(format!(
                "{what} apply to witsock's socket layer only: wasmtime-wasi's wasi:sockets (--wasi-sockets wasmtime-wasi) would not enforce them"
            )));
        }
    }
    let policy = policy.with_limits(quotas);
    let guest_args = iter
        .enumerate()
        .map(|(i, arg)| utf8(arg, &format!("guest argument {}", i + 1)).map(str::to_string))
        .collect::<Result<_, _>>()?;
    Ok(RunArgs {
        guest: guest.ok_or_else(|| Failure::usage("no GUEST.wasm given".to_string()))?,
        policy,
        wasi_sockets,
        verbosity,
        denial_log,
        unix_dirs,
        limits,
        compile_cache,
        guest_args,
    })
}

/// A size in bytes: a number with an optional K, M or G (binary) suffix.
fn parse_size(flag: &str, text: &str) -> Result<usize, Failure> {
    let (digits, shift) = match text.char_indices().last() {
        Some((i, 'K' | 'k')) => (&text[..i], 10),
        Some((i, 'M' | 'm')) => (&text[..i], 20),
        Some((i, 'G' | 'g')) => (&text[..i], 30),
        _ => (text, 0),
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(1usize << shift))
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            Failure::error(format!(
                "{flag} `{text}` is not a size (bytes, or a number with K, M or G)"
            ))
        })
}

/// The flag of `run` that grants what `grant` names.
fn remedy(grant: &Grant) -> Option<String> {
    let all_ports = |rule: &AddressRule| rule.with_ports(0, u16::MAX);
    Some(match grant {
        Grant::Rule(AddressUse::Bind, rule) => format!("--allow-bind {rule}"),
        Grant::Rule(AddressUse::Receive, rule) => {
            format!("--allow-inbound udp://{}", all_ports(rule))
        }
        Grant::Rule(AddressUse::Accept, rule) => {
            format!("--allow-inbound tcp://{}", all_ports(rule))
        }
        Grant::Rule(AddressUse::Send, rule) => format!("--allow-connect udp://{rule}"),
        Grant::Rule(_, rule) => format!("--allow-connect {rule}"),
        Grant::AnyIpRule => "--allow-bind RULE or --allow-connect RULE".to_string(),
        Grant::UnixSockets => "--allow-unix DIR".to_string(),
        Grant::UnixDir(dir) => format!("--allow-unix {}", dir.display().to_string().escape_debug()),
        Grant::SocketPairs => "--allow-socket-pairs".to_string(),
        Grant::Protocol(stream) => format!("-S {}=y", if *stream { "tcp" } else { "udp" }),
        Grant::NameLookup => "--allow-lookup".to_string(),
        Grant::Multicast => "--allow-multicast".to_string(),
        Grant::Linger(time) => format!("--allow-linger {}", time.as_secs_f64().ceil()),
        Grant::MaxSockets(max) => format!("--max-sockets N, above {max}"),
        Grant::MaxBytesPerCall(max) => format!("--max-bytes-per-call SIZE, above {max}"),
        _ => return None,
    })
}

/// The most distinct denials `run` prints for one kind of operation;
/// past it, one line says more were left out. Per kind, so that a flood of
/// one (refused senders, say) cannot hide the others.
const MAX_DENIAL_LINES: usize = 20;

/// Prints one line per distinct denial (operation and target) to `out`
/// (stderr, or the `--denial-log` file). A line that cannot be written is
/// lost, never the guest's run.
fn denial_printer(out: Box<dyn Write + Send>) -> DenialHook {
    type Seen = HashMap<DeniedOperation, HashSet<String>>;
    let state: Mutex<(Seen, Box<dyn Write + Send>)> = Mutex::new((HashMap::new(), out));
    DenialHook::new(move |denial| {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        let (seen, out) = &mut *state;
        let shown = seen.entry(denial.operation).or_default();
        if shown.len() > MAX_DENIAL_LINES || !shown.insert(denial.target.clone()) {
            return;
        }
        let written = if shown.len() > MAX_DENIAL_LINES {
            writeln!(
                out,
                "witsock-host: more denials of {}, not shown",
                denial.operation
            )
        } else {
            match denial.grant.as_ref().and_then(remedy) {
                Some(flag) => writeln!(out, "witsock-host: {denial}; add {flag}"),
                None => writeln!(out, "witsock-host: {denial}"),
            }
        };
        // Best effort: the run goes on without the line.
        let _ = written.and_then(|()| out.flush());
    })
}

fn run(args: RunArgs) -> Result<ExitCode, Failure> {
    let denial_out: Box<dyn Write + Send> = match &args.denial_log {
        None => Box::new(std::io::stderr()),
        Some(path) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| Failure::error(format!("--denial-log {}: {e}", path.display())))?,
        ),
    };
    // The directories are checked before the guest loads, as the rules are.
    let mut policy = args.policy;
    let mut preopens = Vec::with_capacity(args.unix_dirs.len());
    for (dir, shared) in &args.unix_dirs {
        let flag = if *shared {
            "--allow-unix-shared"
        } else {
            "--allow-unix"
        };
        let granted = std::fs::canonicalize(dir)
            .and_then(|canonical| {
                let granting = std::mem::take(&mut policy);
                policy = if *shared {
                    granting.allow_shared_unix_dir(&canonical)?
                } else {
                    granting.allow_unix_dir(&canonical)?
                };
                Ok(canonical)
            })
            .map_err(|e| Failure::error(format!("{flag} {}: {e}", dir.display())))?;
        preopens.push(granted);
    }
    // The witsock imports are linked next to wasmtime-wasi: a guest that
    // imports only wasi:sockets runs as it would without them.
    let load = LoadOptions {
        compile_cache: args.compile_cache,
    };
    let guest = Guest::load_with(&args.guest, &load).map_err(Failure::error)?;
    if args.verbosity == Verbosity::Verbose {
        let sockets = match args.wasi_sockets {
            WasiSockets::Witsock => "witsock's socket layer",
            WasiSockets::WasmtimeWasi => {
                "wasmtime-wasi (the address rules, protocols, name lookup and socket quota apply)"
            }
        };
        eprintln!("witsock-host: wasi:sockets served by {sockets}");
        for line in policy.summary() {
            eprintln!("witsock-host: policy: {line}");
        }
        eprintln!(
            "witsock-host: {} imports: {}",
            args.guest.display(),
            guest.imports().join(", ")
        );
    }
    let limit = args.limits.max_wall_time;
    let guest_path = args.guest.display().to_string();
    let stopped = move || {
        let limit = limit.map_or(0.0, |limit| limit.as_secs_f64());
        format!(
            "{guest_path} stopped: --max-wall-time of {limit} s passed while it waited in a host call"
        )
    };
    let options = RunOptions {
        args: args.guest_args,
        preopens,
        policy,
        stdout: Stdio::Inherit,
        stderr: Stdio::Inherit,
        limits: args.limits,
        wasi_sockets: args.wasi_sockets,
        on_denial: (args.verbosity != Verbosity::Quiet).then(|| denial_printer(denial_out)),
        ..RunOptions::default()
    };
    let outcome = if args.wasi_sockets == WasiSockets::WasmtimeWasi {
        // wasmtime-wasi's sockets run synchronously: a guest blocked in a
        // host call past its deadline is stopped with the whole process.
        if let Some(limit) = limit {
            std::thread::spawn(move || {
                std::thread::sleep(limit + WALL_TIME_GRACE);
                eprintln!("witsock-host: {}", stopped());
                std::process::exit(i32::from(TRAP_EXIT));
            });
        }
        guest.run(&options)
    } else {
        // On a runtime of its own: a blocking call of the guest awaits the
        // reactor, so a deadline stops the guest wherever it waits (the
        // run is dropped, closing everything it held).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::error(format!("cannot start the async runtime: {e}")))?;
        let run = guest.run_async(&options);
        match runtime.block_on(async {
            match limit {
                Some(limit) => tokio::time::timeout(limit + WALL_TIME_GRACE, run).await,
                None => Ok(run.await),
            }
        }) {
            Ok(outcome) => outcome,
            Err(_) => {
                return Err(Failure {
                    message: stopped(),
                    exit: TRAP_EXIT,
                    show_usage: false,
                })
            }
        }
    }
    .map_err(Failure::error)?;
    match outcome.status {
        GuestStatus::Exited(code) => Ok(ExitCode::from(u8::try_from(code).unwrap_or(1))),
        GuestStatus::Trapped(why) => Err(Failure {
            message: format!("{} trapped: {why}", args.guest.display()),
            exit: TRAP_EXIT,
            show_usage: false,
        }),
    }
}

struct ConformanceArgs {
    guest: PathBuf,
    imports_guest: PathBuf,
    filter: Option<String>,
    /// Where to write the whole matrix as Markdown.
    matrix_file: Option<PathBuf>,
}

/// Reads `--flag VALUE` pairs: each flag of `flags` at most once, in any
/// order; anything else is a usage error.
fn flag_values<const N: usize>(
    args: &[OsString],
    flags: [&str; N],
) -> Result<[Option<OsString>; N], Failure> {
    let mut values: [Option<OsString>; N] = std::array::from_fn(|_| None);
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let Some(index) = arg
            .to_str()
            .and_then(|a| flags.iter().position(|f| *f == a))
        else {
            return Err(Failure::usage(format!(
                "unexpected argument `{}`",
                arg.to_string_lossy()
            )));
        };
        let value = iter
            .next()
            .ok_or_else(|| Failure::usage(format!("{} needs a value", arg.to_string_lossy())))?;
        if let Some(slot) = values.get_mut(index) {
            *slot = Some(value.clone());
        }
    }
    Ok(values)
}

/// The two guest suites: as given, or where `cargo xtask` builds them.
fn guest_paths(
    guest: Option<OsString>,
    imports_guest: Option<OsString>,
) -> Result<(PathBuf, PathBuf), Failure> {
    let guest = match guest {
        Some(path) => PathBuf::from(path),
        None => layout::wasi_guest_suite(&host_target_dir("--guest")?),
    };
    let imports_guest = match imports_guest {
        Some(path) => PathBuf::from(path),
        None => layout::imports_guest_suite(&host_target_dir("--imports-guest")?),
    };
    Ok((guest, imports_guest))
}

fn parse_conformance(args: &[OsString]) -> Result<ConformanceArgs, Failure> {
    let [guest, imports_guest, filter, matrix_file] = flag_values(
        args,
        ["--guest", "--imports-guest", "--filter", "--matrix-file"],
    )?;
    let filter = filter
        .map(|f| utf8(&f, "the filter").map(str::to_string))
        .transpose()?;
    let (guest, imports_guest) = guest_paths(guest, imports_guest)?;
    Ok(ConformanceArgs {
        guest,
        imports_guest,
        filter,
        matrix_file: matrix_file.map(PathBuf::from),
    })
}

struct DifferentialArgs {
    guest: PathBuf,
    imports_guest: PathBuf,
    settings: differential::Settings,
    program: Option<Program>,
}

fn parse_differential(args: &[OsString]) -> Result<DifferentialArgs, Failure> {
    let [guest, imports_guest, programs, seed, length, program] = flag_values(
        args,
        [
            "--guest",
            "--imports-guest",
            "--programs",
            "--seed",
            "--length",
            "--program",
        ],
    )?;
    let number = |value: Option<OsString>, flag: &str, default: u64| -> Result<u64, Failure> {
        match value {
            None => Ok(default),
            Some(v) => utf8(&v, flag)?
                .parse()
                .map_err(|_| Failure::usage(format!("{flag} takes a number"))),
        }
    };
    let program = program
        .map(|p| Program::parse(utf8(&p, "--program")?).map_err(Failure::usage))
        .transpose()?;
    let (guest, imports_guest) = guest_paths(guest, imports_guest)?;
    let len = number(length, "--length", 40)?;
    Ok(DifferentialArgs {
        guest,
        imports_guest,
        settings: differential::Settings {
            first_seed: number(seed, "--seed", 1)?,
            programs: number(programs, "--programs", 1000)?,
            len: usize::try_from(len).map_err(|e| Failure::usage(format!("--length: {e}")))?,
            max_reported: 3,
        },
        program,
    })
}

/// Both guest suites, loaded before anything runs so that a missing or
/// broken one stops the command at once, and a directory for the imports
/// guest's Unix sockets.
fn load_guests(guest: &Path, imports_guest: &Path) -> Result<(Guest, Guest, ScratchDir), Failure> {
    let guest = Guest::load(guest).map_err(Failure::error)?;
    let imports_guest = Guest::load(imports_guest).map_err(Failure::error)?;
    let unix_dir = ScratchDir::new().map_err(|e| {
        Failure::error(format!(
            "cannot create a directory for the guest's Unix sockets: {e}"
        ))
    })?;
    Ok((guest, imports_guest, unix_dir))
}

fn differential(args: DifferentialArgs) -> Result<ExitCode, Failure> {
    let (guest, imports_guest, unix_dir) = load_guests(&args.guest, &args.imports_guest)?;
    let subjects = [
        differential::Subject::Wasi(&guest),
        differential::Subject::Imports(&imports_guest, unix_dir.path()),
    ];
    let mut failed = false;
    match &args.program {
        Some(program) => {
            for subject in &subjects {
                match differential::compare_program(subject, program).map_err(Failure::error)? {
                    Some(d) => {
                        failed = true;
                        print!("{}", d.render());
                    }
                    None => println!("agrees: {program}"),
                }
            }
        }
        None => {
            let s = args.settings;
            println!(
                "differential: {} programs of {} operations from seed {}, against native-linux",
                s.programs, s.len, s.first_seed
            );
            for subject in &subjects {
                let summary = differential::compare(subject, s).map_err(Failure::error)?;
                failed |= !summary.disagreements.is_empty();
                print!("{}", summary.render());
            }
        }
    }
    unix_dir.remove().map_err(|e| {
        Failure::error(format!(
            "cannot remove the Unix socket directory {}: {e}",
            unix_dir.path().display()
        ))
    })?;
    if failed {
        Err(Failure {
            message: "differential: undeclared disagreements".into(),
            exit: 1,
            show_usage: false,
        })
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

/// The target directory this program was built in: `<target>` of the
/// `<target>/<profile>/witsock-host` that is running. `flag` is the option
/// that names a guest instead.
fn host_target_dir(flag: &str) -> Result<PathBuf, Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::error(format!("cannot find this program's path: {e}")))?;
    exe.parent()
        .and_then(|profile_dir| profile_dir.parent())
        .map(Path::to_path_buf)
        .ok_or_else(|| Failure::usage(format!("cannot find the guest suite: pass {flag}")))
}

fn conformance(args: ConformanceArgs) -> Result<ExitCode, Failure> {
    let filter = args.filter.as_deref();
    let (guest, imports_guest, unix_dir) = load_guests(&args.guest, &args.imports_guest)?;

    let native = Column::native(filter);
    // As `run` serves guests: on an async runtime.
    let wasi = Column::guest(&guest, filter, Driver::Async).map_err(Failure::error)?;
    let mut imports =
        imports::conformance_column(&imports_guest, filter, unix_dir.path(), Driver::Async)
            .map_err(Failure::error)?;
    let expected = Backend::WitsockImports.name();
    if imports.backend != expected && imports.problem.is_none() {
        imports.problem = Some(format!(
            "{} reports the {} backend, not {expected}: build it with `--features {}`",
            imports_guest.path().display(),
            imports.backend,
            layout::IMPORTS_FEATURE,
        ));
    }
    let cleanup = unix_dir.remove();

    let compiled = [
        (&wasi.backend, guest.path(), guest.compile_time()),
        (
            &imports.backend,
            imports_guest.path(),
            imports_guest.compile_time(),
        ),
    ]
    .map(|(backend, path, time)| {
        format!(
            "{backend} guest suite {}: compiled in {} ms",
            path.display(),
            time.as_millis()
        )
    });
    let matrix = Matrix::new(vec![native, wasi, imports]);
    print!("{}", matrix.render());
    if let Some(path) = &args.matrix_file {
        std::fs::write(path, matrix.render_markdown()).map_err(|e| {
            Failure::error(format!(
                "cannot write the matrix to {}: {e}",
                path.display()
            ))
        })?;
        println!("the whole matrix: {}", path.display());
    }
    for line in compiled {
        println!("{line}");
    }
    cleanup.map_err(|e| {
        Failure::error(format!(
            "cannot remove the Unix socket directory {}: {e}",
            unix_dir.path().display()
        ))
    })?;
    let failures = matrix.failures();
    if failures == 0 {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(Failure {
            message: format!("conformance: {failures} failure(s)"),
            exit: 1,
            show_usage: false,
        })
    }
}

/// A fresh, private directory under the system's temporary directory,
/// removed with everything in it by [`remove`](ScratchDir::remove) or, on
/// any early return, on drop.
struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    fn new() -> std::io::Result<ScratchDir> {
        let base = std::env::temp_dir();
        let mut attempt = 0u32;
        loop {
            // Short: a Unix socket path inside it must fit in `sun_path`.
            let path = base.join(format!("witsock-{}-{attempt}", std::process::id()));
            let mut builder = std::fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            match builder.create(&path) {
                Ok(()) => {
                    // Created first, so that a failure below still removes it.
                    let mut dir = ScratchDir { path };
                    // The guest is granted the directory by this path and
                    // opens it by the same path: no symbolic link in it.
                    dir.path = std::fs::canonicalize(&dir.path)?;
                    return Ok(dir);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 1000 => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the directory now, reporting what went wrong (dropping it
    /// afterwards does nothing more).
    fn remove(&self) -> std::io::Result<()> {
        std::fs::remove_dir_all(&self.path)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usage_names_the_default_guests() {
        let target = Path::new("<target>");
        for guest in [
            layout::wasi_guest_suite(target),
            layout::imports_guest_suite(target),
        ] {
            let guest = guest.display().to_string();
            assert!(USAGE.contains(&format!("  {guest}\n")), "{guest}");
        }
    }

    #[test]
    fn the_default_guests_are_next_to_the_host() {
        let args = parse_conformance(&[]).unwrap_or_else(|f| panic!("{}", f.message));
        let exe = std::env::current_exe().expect("this test's path");
        let target = exe.parent().and_then(Path::parent).expect("a target dir");
        assert_eq!(args.guest, layout::wasi_guest_suite(target));
        assert_eq!(args.imports_guest, layout::imports_guest_suite(target));
        assert_ne!(args.guest, args.imports_guest);
    }

    #[test]
    fn guests_and_filter_can_be_named() {
        let args: Vec<OsString> = [
            "--imports-guest",
            "b.wasm",
            "--filter",
            "tcp",
            "--guest",
            "a.wasm",
        ]
        .map(OsString::from)
        .to_vec();
        let args = parse_conformance(&args).unwrap_or_else(|f| panic!("{}", f.message));
        assert_eq!(args.guest, Path::new("a.wasm"));
        assert_eq!(args.imports_guest, Path::new("b.wasm"));
        assert_eq!(args.filter.as_deref(), Some("tcp"));
        let missing = parse_conformance(&["--imports-guest".into()]);
        assert!(missing.is_err_and(|f| f.exit == USAGE_EXIT && f.show_usage));
    }

    #[test]
    fn run_collects_unix_directories_and_leaves_guest_arguments_alone() {
        let args: Vec<OsString> = [
            "g.wasm",
            "--allow-unix",
            "a",
            "--allow-lookup",
            "--allow-unix",
            "b",
            "--",
            "--allow-unix",
            "c",
        ]
        .map(OsString::from)
        .to_vec();
        let args = parse_run(&args).unwrap_or_else(|f| panic!("{}", f.message));
        assert_eq!(args.guest, Path::new("g.wasm"));
        assert_eq!(
            args.unix_dirs,
            [(PathBuf::from("a"), false), (PathBuf::from("b"), false)]
        );
        assert!(args.policy.allows_name_lookup());
        assert!(!args.policy.allows_ip_sockets());
        assert_eq!(args.guest_args, ["--allow-unix", "c"]);
        assert_eq!(args.compile_cache, CompileCache::User);
    }

    #[test]
    fn run_caches_compiled_guests_unless_told_not_to() {
        let parse = |args: &[&str]| {
            let args: Vec<OsString> = args.iter().map(OsString::from).collect();
            parse_run(&args).unwrap_or_else(|f| panic!("{}", f.message))
        };
        assert_eq!(parse(&["g.wasm"]).compile_cache, CompileCache::User);
        let off = parse(&["--no-compile-cache", "g.wasm"]);
        assert_eq!(off.compile_cache, CompileCache::Disabled);
        assert_eq!(off.guest, Path::new("g.wasm"));
        // After `--` it is the guest's.
        let guests = parse(&["g.wasm", "--", "--no-compile-cache"]);
        assert_eq!(guests.compile_cache, CompileCache::User);
        assert_eq!(guests.guest_args, ["--no-compile-cache"]);
    }

    #[test]
    fn a_scratch_dir_is_fresh_private_and_removed_with_its_contents() {
        let first = ScratchDir::new().expect("a scratch dir");
        let second = ScratchDir::new().expect("another scratch dir");
        assert_ne!(first.path(), second.path());
        assert!(first.path().is_absolute());
        assert_eq!(std::fs::read_dir(first.path()).expect("listed").count(), 0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(first.path())
                .expect("metadata")
                .permissions();
            assert_eq!(mode.mode() & 0o777, 0o700);
        }
        let inner = first.path().join("sub");
        std::fs::create_dir(&inner).expect("a subdirectory");
        std::fs::write(inner.join("file"), b"x").expect("a file");
        let (first_path, second_path) = (first.path().to_path_buf(), second.path().to_path_buf());
        first.remove().expect("removed");
        assert!(!first_path.exists());
        drop(first);
        drop(second);
        assert!(!second_path.exists());
    }
}
