//! The witsock guest suite: the shared conformance cases on whatever
//! backend witsock was built for. Built for `wasm32-wasip2` it is a
//! component that `witsock-host` runs; natively it runs the native backend.
//!
//! ```text
//! witsock-guest-tests [FILTER]          run the cases whose name contains FILTER (all by default)
//! witsock-guest-tests --open-and-trap N open N loopback listeners, then trap
//! witsock-guest-tests --connect ADDR    connect once to ADDR and print the outcome
//! witsock-guest-tests --resolve NAME    resolve NAME once and print the outcome
//! witsock-guest-tests --differential FIRST COUNT LEN
//!                                       run the differential programs of seeds FIRST.. (LEN operations each)
//! witsock-guest-tests --differential-program PROGRAM
//!                                       run one differential program, written as text
//! ```
//!
//! The suite prints one JSON line per case and one capabilities line on
//! stdout, its summary on stderr, and exits 1 when a case fails. The other
//! two modes exist for the host's tests: `--open-and-trap` checks that a
//! trapped guest's sockets are closed, `--connect` that a policy refuses an
//! address. The differential modes print one line of outcomes per program
//! and the capabilities line, for `witsock-host differential` to compare
//! with the native backend's.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use witsock::{Domain, SockAddr, Socket, Type};
use witsock_conformance::differential::{self, Program};
use witsock_conformance::{Outcome, Report};
use witsock_guest_tests::{summary_line, CapabilityReport};

const USAGE: &str = "usage: witsock-guest-tests [FILTER] | --open-and-trap N | --connect ADDR \
     | --resolve NAME | --differential FIRST COUNT LEN | --differential-program PROGRAM";

/// What the command line asks for.
enum Mode {
    Suite { filter: Option<String> },
    OpenAndTrap { count: usize },
    Connect { addr: SocketAddr },
    Resolve { name: String },
    Differential { first: u64, count: u64, len: usize },
    DifferentialProgram { program: Program },
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = match parse_args(&args) {
        Ok(mode) => mode,
        Err(msg) => {
            eprintln!("witsock-guest-tests: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match mode {
        Mode::Suite { filter } => run_suite(filter.as_deref()),
        Mode::OpenAndTrap { count } => open_and_trap(count),
        Mode::Connect { addr } => connect_once(addr),
        Mode::Resolve { name } => resolve_once(&name),
        Mode::Differential { first, count, len } => differential(
            (first..first.saturating_add(count))
                .map(|seed| (format!("seed {seed}"), Program::generate(seed, len))),
        ),
        Mode::DifferentialProgram { program } => {
            differential(std::iter::once(("program".to_string(), program)))
        }
    }
}

fn parse_args(args: &[String]) -> Result<Mode, String> {
    match args {
        [] => Ok(Mode::Suite { filter: None }),
        [flag, n] if flag == "--open-and-trap" => {
            let count = n
                .parse()
                .map_err(|_| format!("--open-and-trap takes a count, not `{n}`"))?;
            Ok(Mode::OpenAndTrap { count })
        }
        [flag, name] if flag == "--resolve" => Ok(Mode::Resolve { name: name.clone() }),
        [flag, first, count, len] if flag == "--differential" => {
            let number = |text: &str, what: &str| {
                text.parse::<u64>()
                    .map_err(|_| format!("--differential takes numbers: {what} `{text}`"))
            };
            Ok(Mode::Differential {
                first: number(first, "FIRST")?,
                count: number(count, "COUNT")?,
                len: usize::try_from(number(len, "LEN")?).map_err(|e| e.to_string())?,
            })
        }
        [flag, program] if flag == "--differential-program" => Ok(Mode::DifferentialProgram {
            program: Program::parse(program)?,
        }),
        [flag, addr] if flag == "--connect" => {
            let addr = addr
                .parse()
                .map_err(|_| format!("--connect takes IP:PORT, not `{addr}`"))?;
            Ok(Mode::Connect { addr })
        }
        [filter] if !filter.starts_with('-') => Ok(Mode::Suite {
            filter: Some(filter.clone()),
        }),
        _ => Err(format!("unexpected arguments: {}", args.join(" "))),
    }
}

/// Runs the cases, printing one report line each, then the capabilities.
fn run_suite(filter: Option<&str>) -> ExitCode {
    let selected: Vec<_> = witsock_conformance::cases()
        .iter()
        .filter(|case| filter.is_none_or(|f| case.name.contains(f)))
        .collect();
    if selected.is_empty() {
        eprintln!(
            "witsock-guest-tests: no case matches `{}`",
            filter.unwrap_or("")
        );
        return ExitCode::from(2);
    }
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for case in selected {
        let report = Report::run(case);
        match report.outcome {
            Outcome::Pass => passed += 1,
            Outcome::Unsupported(_) => skipped += 1,
            Outcome::Fail(_) => failed += 1,
        }
        // One line at a time, flushed, so a trap later loses nothing before it.
        println_flushed(&report.to_json_line());
    }
    let caps = witsock::capabilities();
    println_flushed(&CapabilityReport::of(caps).to_json_line());
    eprintln!("{}", summary_line(caps.backend, passed, failed, skipped));
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs differential programs, printing one line of outcomes each, then
/// the capabilities (what excuses a difference).
fn differential(programs: impl Iterator<Item = (String, Program)>) -> ExitCode {
    for (label, program) in programs {
        let outcomes = differential::run(&program);
        println_flushed(&differential::outcome_line(&label, &outcomes));
    }
    println_flushed(&CapabilityReport::of(witsock::capabilities()).to_json_line());
    ExitCode::SUCCESS
}

/// Opens `count` listening sockets on 127.0.0.1, reports the first one's
/// address, and traps while they are all open.
fn open_and_trap(count: usize) -> ExitCode {
    let loopback: SockAddr = SocketAddr::from(([127, 0, 0, 1], 0)).into();
    let mut listeners = Vec::with_capacity(count);
    for i in 0..count {
        let opened = Socket::new(Domain::Ipv4, Type::Stream, None).and_then(|socket| {
            socket.bind(&loopback)?;
            socket.listen(16)?;
            Ok(socket)
        });
        match opened {
            Ok(socket) => listeners.push(socket),
            Err(e) => {
                eprintln!("witsock-guest-tests: listener {i} of {count}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    match listeners.first().map(Socket::local_addr) {
        Some(Ok(addr)) => println_flushed(&format!("opened {count} listeners, first at {addr}")),
        Some(Err(e)) => {
            eprintln!("witsock-guest-tests: local address: {e}");
            return ExitCode::FAILURE;
        }
        None => println_flushed("opened 0 listeners"),
    }
    trap()
}

/// Connects once (blocking) and prints `connected` or the error's WIT name.
fn connect_once(addr: SocketAddr) -> ExitCode {
    let domain = if addr.is_ipv4() {
        Domain::Ipv4
    } else {
        Domain::Ipv6
    };
    let result =
        Socket::new(domain, Type::Stream, None).and_then(|socket| socket.connect(&addr.into()));
    match result {
        Ok(()) => {
            println_flushed(&format!("connect {addr}: connected"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            println_flushed(&format!("connect {addr}: {} ({e})", e.code().wit_name()));
            ExitCode::FAILURE
        }
    }
}

/// Resolves `name` once and prints the first address or the error.
fn resolve_once(name: &str) -> ExitCode {
    match witsock::resolve(name, 80).map(|mut addrs| addrs.next()) {
        Ok(first) => {
            let first = first.map_or_else(|| "nothing".to_string(), |a| a.to_string());
            println_flushed(&format!("resolve {name}: {first}"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            println_flushed(&format!("resolve {name}: {} ({e})", e.code().wit_name()));
            ExitCode::FAILURE
        }
    }
}

fn println_flushed(line: &str) {
    let mut stdout = std::io::stdout().lock();
    // A guest whose stdout is gone has no one to report to: ignore errors.
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// Ends the program abnormally without unwinding or closing anything: a
/// wasm `unreachable` trap in a guest, an abort natively.
fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    {
        core::arch::wasm32::unreachable()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::process::abort()
    }
}
