//! Sockets inside a wasm32-wasip2 guest under this host, in one run:
//! witsock's wasi-p2 backend against Rust's `std::net` (wasi-libc), with
//! witsock on the witsock imports, wasi:sockets streams called directly and
//! native witsock for reference.
//!
//! The guest is the probe of `host/tests/guests/witsock-probe`, built
//! twice: without its `imports` feature (witsock is then its wasi-p2
//! backend; the `std` and `wasi` rows come from this build too), and with
//! it (witsock on the imports this host serves). Both run in this process
//! under the same wasmtime engine settings and policies.
//!
//! Workloads, each timed inside the guest (the instantiation is not):
//!
//! - `tcp-64k`: echo throughput with 64 KiB messages, each echoed back in
//!   full by a server thread of this process before the next (MB/s of
//!   payload, 10^6 bytes);
//! - `tcp-rtt-64`: round trips of 64-byte messages to the same server;
//! - `udp-64`: 64-byte datagrams sent on loopback and received back by the
//!   same guest thread, in bursts of 64 (datagrams per second).
//!
//! Every round runs each contestant once per workload, in an order that
//! rotates from round to round, so that drift on a shared machine falls on
//! all of them alike. The table gives the median rate over the rounds and
//! the median of the per-round ratios to `std::net` (above 1: faster than
//! std), with the interquartile range of those ratios.
//!
//! `benches/wasi.sh` builds everything and runs this pinned to one CPU
//! (the guest thread, wasmtime-wasi's threads and the echo server share
//! it); unpinned, the TCP rows mostly measure cross-CPU wake-ups. By hand:
//!
//! ```text
//! P=host/tests/guests/witsock-probe/Cargo.toml
//! cargo build --release --target wasm32-wasip2 --manifest-path $P \
//!     --no-default-features --target-dir "$CARGO_TARGET_DIR/witsock-probe-wasi"
//! cargo build --release --target wasm32-wasip2 --manifest-path $P \
//!     --target-dir "$CARGO_TARGET_DIR/witsock-imports-guests"
//! taskset -c 1 cargo run --release -p witsock-host --example guest_bench -- \
//!     "$CARGO_TARGET_DIR/witsock-probe-wasi/wasm32-wasip2/release/witsock-probe.wasm" \
//!     "$CARGO_TARGET_DIR/witsock-imports-guests/wasm32-wasip2/release/witsock-probe.wasm"
//! ```
//!
//! An optional third argument sets the number of rounds (default 15); a
//! fourth keeps only the rows whose `WORKLOAD CONTESTANT` contains it (for
//! running one contestant under a profiler, e.g. `1 "udp-64 std"`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;
use std::time::Instant;

use witsock::{Domain, RecvFlags, SendFlags, SockAddr, Socket, Type};
use witsock_host::WasiSockets;
use witsock_host::{Guest, Policy, RunOptions, Stdio};

/// The TCP throughput message.
const MESSAGE: usize = 64 * 1024;
/// The TCP round-trip message and the UDP datagram.
const SMALL: usize = 64;
/// MiB echoed per throughput run.
const THROUGHPUT_MIB: usize = 32;
/// Round trips per run.
const ROUND_TRIPS: usize = 2_000;
/// Datagrams per run.
const DATAGRAMS: usize = 64 * 200;
/// Datagrams sent before they are received, as in the guest.
const UDP_BURST: usize = 64;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    TcpThroughput,
    TcpRoundTrip,
    Udp,
}

impl Workload {
    const ALL: [Workload; 3] = [
        Workload::TcpThroughput,
        Workload::TcpRoundTrip,
        Workload::Udp,
    ];

    fn name(self) -> &'static str {
        match self {
            Workload::TcpThroughput => "tcp-64k",
            Workload::TcpRoundTrip => "tcp-rtt-64",
            Workload::Udp => "udp-64",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Workload::TcpThroughput => "MB/s",
            Workload::TcpRoundTrip => "round trips/s",
            Workload::Udp => "datagrams/s",
        }
    }
}

/// Which build of the probe runs a contestant.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Build {
    /// Without the `imports` feature: witsock on wasi:sockets.
    Wasi,
    /// With it: witsock on the witsock imports.
    Imports,
    /// No guest: witsock in this process.
    Native,
}

/// One row: who runs, in which build, with which probe variant.
struct Contestant {
    label: &'static str,
    build: Build,
    /// The probe's variant argument.
    variant: &'static str,
    /// The backend the probe must report for a witsock variant.
    backend: Option<&'static str>,
    /// Which implementation serves the guest's wasi:sockets.
    sockets: WasiSockets,
}

/// The baseline every ratio is taken against.
const BASELINE: &str = "std::net (wasi-libc)";

fn contestants(workload: Workload) -> Vec<Contestant> {
    let row = |label, build, variant, backend| Contestant {
        label,
        build,
        variant,
        backend,
        sockets: WasiSockets::Witsock,
    };
    // The same guests with wasi:sockets from wasmtime-wasi, for comparison.
    let on_wasmtime = |label, variant, backend| Contestant {
        sockets: WasiSockets::WasmtimeWasi,
        ..row(label, Build::Wasi, variant, backend)
    };
    let mut rows = vec![
        row("witsock wasi-p2", Build::Wasi, "witsock", Some("wasi-p2")),
        row(BASELINE, Build::Wasi, "std", None),
        row(
            "witsock imports",
            Build::Imports,
            "witsock",
            Some("witsock-imports"),
        ),
    ];
    match workload {
        Workload::TcpThroughput | Workload::TcpRoundTrip => {
            rows.push(row("wasi:sockets streams", Build::Wasi, "wasi", None));
        }
        Workload::Udp => {
            rows.insert(
                1,
                row(
                    "witsock wasi-p2, batch",
                    Build::Wasi,
                    "witsock-batch",
                    Some("wasi-p2"),
                ),
            );
            rows.push(row(
                "witsock imports, batch",
                Build::Imports,
                "witsock-batch",
                Some("witsock-imports"),
            ));
        }
    }
    rows.push(on_wasmtime(
        "witsock wasi-p2, wasmtime-wasi's sockets",
        "witsock",
        Some("wasi-p2"),
    ));
    rows.push(on_wasmtime(
        "std::net, wasmtime-wasi's sockets",
        "std",
        None,
    ));
    rows.push(row("native witsock (no wasm)", Build::Native, "", None));
    rows
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [wasi_path, imports_path, rest @ ..] = args.as_slice() else {
        eprintln!("usage: guest_bench WASI_PROBE.wasm IMPORTS_PROBE.wasm [ROUNDS [FILTER]]");
        return ExitCode::from(2);
    };
    let rounds: usize = match rest.first().map(|r| r.parse()) {
        None => 15,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("guest_bench: ROUNDS must be a positive number");
            return ExitCode::from(2);
        }
    };
    let filter = rest.get(1).map_or("", String::as_str);
    let load = |path: &String| {
        Guest::load(path).map_err(|e| {
            eprintln!("guest_bench: {e}");
            ExitCode::from(2)
        })
    };
    let wasi = match load(wasi_path) {
        Ok(guest) => guest,
        Err(code) => return code,
    };
    let imports = match load(imports_path) {
        Ok(guest) => guest,
        Err(code) => return code,
    };
    let server = echo_server();
    eprintln!(
        "{rounds} rounds; per run: {THROUGHPUT_MIB} MiB in 64 KiB messages, \
         {ROUND_TRIPS} round trips of {SMALL} B, {DATAGRAMS} datagrams of {SMALL} B"
    );

    let mut results = Vec::new();
    for workload in Workload::ALL {
        let rows: Vec<Contestant> = contestants(workload)
            .into_iter()
            .filter(|row| format!("{} {}", workload.name(), row.label).contains(filter))
            .collect();
        if rows.is_empty() {
            continue;
        }
        // rates[row][round]
        let mut rates = vec![Vec::with_capacity(rounds); rows.len()];
        for round in 0..rounds {
            for k in 0..rows.len() {
                let i = (k + round) % rows.len();
                let row = &rows[i];
                let rate = match row.build {
                    Build::Native => Ok(native(workload, server)),
                    Build::Wasi => guest_rate(&wasi, workload, row, server),
                    Build::Imports => guest_rate(&imports, workload, row, server),
                };
                match rate {
                    Ok(rate) => rates[i].push(rate),
                    Err(e) => {
                        eprintln!("guest_bench: {} {}: {e}", workload.name(), row.label);
                        return ExitCode::FAILURE;
                    }
                }
            }
        }
        eprintln!("{}: {rounds} rounds done", workload.name());
        results.push((workload, rows, rates));
    }

    println!(
        "| workload | contestant | rate (median of {rounds} rounds) | ratio to std::net \
         (median of rounds) | interquartile range |"
    );
    println!("|---|---|---|---|---|");
    for (workload, rows, rates) in &results {
        // Filtered out, the baseline leaves the ratios blank.
        let base = rows.iter().position(|r| r.label == BASELINE);
        for (row, row_rates) in rows.iter().zip(rates) {
            let (_, median_rate, _) = quartiles(row_rates);
            let ratio = match base {
                Some(base) => {
                    let ratios: Vec<f64> = row_rates
                        .iter()
                        .zip(&rates[base])
                        .map(|(rate, std)| rate / std)
                        .collect();
                    let (q1, median, q3) = quartiles(&ratios);
                    format!("{median:.3} | {q1:.3} – {q3:.3}")
                }
                None => "– | –".to_string(),
            };
            println!(
                "| {} | {} | {} {} | {ratio} |",
                workload.name(),
                row.label,
                format_rate(median_rate),
                workload.unit(),
            );
        }
    }
    ExitCode::SUCCESS
}

fn format_rate(rate: f64) -> String {
    if rate >= 100.0 {
        format!("{rate:.0}")
    } else {
        format!("{rate:.1}")
    }
}

/// First quartile, median and third quartile (linear interpolation).
fn quartiles(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let pos = q * (sorted.len() - 1) as f64;
        let low = pos.floor() as usize;
        let high = pos.ceil() as usize;
        sorted[low] + (sorted[high] - sorted[low]) * (pos - low as f64)
    };
    (at(0.25), at(0.5), at(0.75))
}

/// Runs one contestant's workload in `guest`; returns the rate it reports.
fn guest_rate(
    guest: &Guest,
    workload: Workload,
    row: &Contestant,
    server: SocketAddr,
) -> Result<f64, String> {
    let server = server.to_string();
    let args: Vec<String> = match workload {
        Workload::TcpThroughput => vec![
            "bench-throughput".into(),
            row.variant.into(),
            server,
            THROUGHPUT_MIB.to_string(),
        ],
        Workload::TcpRoundTrip => vec![
            "bench-rtt".into(),
            row.variant.into(),
            server,
            ROUND_TRIPS.to_string(),
            SMALL.to_string(),
        ],
        Workload::Udp => vec![
            "bench-udp".into(),
            row.variant.into(),
            DATAGRAMS.to_string(),
            SMALL.to_string(),
        ],
    };
    let outcome = guest
        .run(&RunOptions {
            args: args.clone(),
            policy: Policy::loopback(),
            stdout: Stdio::Capture,
            stderr: Stdio::Capture,
            wasi_sockets: row.sockets,
            ..RunOptions::default()
        })
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&outcome.stdout);
    if !outcome.status.success() {
        return Err(format!(
            "{args:?}: {} {}",
            outcome.status,
            String::from_utf8_lossy(&outcome.stderr).trim()
        ));
    }
    parse_report(stdout.trim(), row)
        .ok_or_else(|| format!("{args:?}: unexpected report {stdout:?}"))
}

/// The rate in a probe report, `MODE VARIANT [BACKEND]: RATE UNIT (…)`,
/// provided it names the expected backend.
fn parse_report(line: &str, row: &Contestant) -> Option<f64> {
    let (who, what) = line.split_once(": ")?;
    if let Some(backend) = row.backend {
        if !who.ends_with(&format!("[{backend}]")) {
            return None;
        }
    }
    what.split_whitespace().next()?.parse().ok()
}

/// An echo server on loopback: one thread per connection.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("echo listener");
    let addr = listener.local_addr().expect("echo address");
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || echo(stream));
        }
    });
    addr
}

fn echo(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; MESSAGE];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// The workload with witsock in this process, as the guest runs it.
fn native(workload: Workload, server: SocketAddr) -> f64 {
    match workload {
        Workload::TcpThroughput => {
            let socket = native_client(server);
            let out = vec![0x5au8; MESSAGE];
            let mut back = vec![0u8; MESSAGE];
            let rounds = THROUGHPUT_MIB * 1024 * 1024 / MESSAGE;
            let secs = timed(1, rounds, || {
                send_all(&socket, &out);
                recv_exact(&socket, &mut back);
            });
            (rounds * MESSAGE) as f64 / secs / 1e6
        }
        Workload::TcpRoundTrip => {
            let socket = native_client(server);
            let out = [0x5au8; SMALL];
            let mut back = [0u8; SMALL];
            let secs = timed(100, ROUND_TRIPS, || {
                send_all(&socket, &out);
                recv_exact(&socket, &mut back);
            });
            ROUND_TRIPS as f64 / secs
        }
        Workload::Udp => {
            let loopback: SockAddr = SocketAddr::from(([127, 0, 0, 1], 0)).into();
            let receiver = Socket::new(Domain::Ipv4, Type::Datagram, None).expect("socket");
            receiver.bind(&loopback).expect("bind");
            let to = receiver.local_addr().expect("local address");
            let sender = Socket::new(Domain::Ipv4, Type::Datagram, None).expect("socket");
            sender.bind(&loopback).expect("bind");
            let payload = [0x5au8; SMALL];
            let mut buf = [0u8; 2048];
            let bursts = DATAGRAMS.div_ceil(UDP_BURST);
            let secs = timed(4, bursts, || {
                for _ in 0..UDP_BURST {
                    sender
                        .send_to(&payload, &to, SendFlags::EMPTY)
                        .expect("send_to");
                }
                for _ in 0..UDP_BURST {
                    receiver
                        .recv_from(&mut buf, RecvFlags::EMPTY)
                        .expect("recv_from");
                }
            });
            (bursts * UDP_BURST) as f64 / secs
        }
    }
}

/// Runs `step` `warm_up` times, then `count` times on the clock; returns
/// the seconds those took.
fn timed(warm_up: usize, count: usize, mut step: impl FnMut()) -> f64 {
    for _ in 0..warm_up {
        step();
    }
    let started = Instant::now();
    for _ in 0..count {
        step();
    }
    started.elapsed().as_secs_f64()
}

fn native_client(server: SocketAddr) -> Socket {
    let socket = Socket::new(Domain::Ipv4, Type::Stream, None).expect("socket");
    socket.connect(&server.into()).expect("connect");
    socket
}

fn send_all(socket: &Socket, mut data: &[u8]) {
    while !data.is_empty() {
        let n = socket.send(data, SendFlags::EMPTY).expect("send");
        data = &data[n..];
    }
}

fn recv_exact(socket: &Socket, mut buf: &mut [u8]) {
    while !buf.is_empty() {
        let n = socket.recv(buf, RecvFlags::EMPTY).expect("recv");
        assert!(n > 0, "the echo server hung up");
        buf = &mut buf[n..];
    }
}
