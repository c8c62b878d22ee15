//! Loopback TCP echo through the witsock imports versus through
//! wasi:sockets, in one run: a guest (`host/tests/guests/witsock-probe`)
//! talks to an echo server in this process, once per path:
//!
//! - `witsock`: witsock's API, built with its `imports` feature, served by
//!   this host's witsock imports;
//! - `std`: `std::net::TcpStream`, which wasi-libc maps onto wasi:sockets
//!   (wasmtime-wasi);
//! - `wasi`: wasi:sockets streams called directly through the `wasi`
//!   crate;
//!
//! and, for reference, `native`: witsock in this process, no wasm.
//!
//! It reports throughput with 64 KiB messages (each echoed back in full
//! before the next; MB/s of payload, 10^6 bytes) and round trips per
//! second with 32-byte messages.
//!
//! ```text
//! cargo build --release --target wasm32-wasip2 \
//!     --manifest-path host/tests/guests/witsock-probe/Cargo.toml \
//!     --target-dir "$CARGO_TARGET_DIR/witsock-imports-guests"
//! cargo run --release -p witsock-host --example imports_bench -- \
//!     "$CARGO_TARGET_DIR/witsock-imports-guests/wasm32-wasip2/release/witsock-probe.wasm"
//! ```
//!
//! (The host's tests build the probe into that directory too.) Optional
//! second and third arguments: MiB per throughput run (default 512) and
//! round trips per latency run (default 50000).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;
use std::time::Instant;

use witsock::{Domain, RecvFlags, SendFlags, Socket, Type};
use witsock_host::imports::{WitsockGuest, WitsockPolicy, WitsockRunOptions};
use witsock_host::{Policy, Stdio};

const MESSAGE: usize = 64 * 1024;
const SMALL: usize = 32;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: imports_bench PROBE.wasm [MIB] [ROUND_TRIPS]");
        return ExitCode::from(2);
    };
    let mib: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(512);
    let trips: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let guest = match WitsockGuest::load(path) {
        Ok(guest) => guest,
        Err(e) => {
            eprintln!("imports_bench: {e}");
            return ExitCode::from(2);
        }
    };
    let server = echo_server();
    println!(
        "echo server on {server}; {mib} MiB per throughput run, {trips} round trips of {SMALL} B"
    );

    for variant in ["witsock", "std", "wasi"] {
        let line = run(
            &guest,
            &[
                "bench-throughput",
                variant,
                &server.to_string(),
                &mib.to_string(),
            ],
        );
        println!("{line}");
    }
    println!("{}", native_throughput(server, mib));
    for variant in ["witsock", "std", "wasi"] {
        let line = run(
            &guest,
            &[
                "bench-rtt",
                variant,
                &server.to_string(),
                &trips.to_string(),
                &SMALL.to_string(),
            ],
        );
        println!("{line}");
    }
    println!("{}", native_rtt(server, trips));
    ExitCode::SUCCESS
}

/// Runs the probe with loopback rights both through witsock and through
/// wasi:sockets, and returns its report (or why it failed).
fn run(guest: &WitsockGuest, args: &[&str]) -> String {
    let outcome = guest.run(&WitsockRunOptions {
        args: args.iter().map(|a| a.to_string()).collect(),
        witsock: WitsockPolicy::loopback(),
        wasi: Policy::loopback(),
        stdout: Stdio::Capture,
        stderr: Stdio::Capture,
        ..WitsockRunOptions::default()
    });
    match outcome {
        Ok(outcome) if outcome.status.success() => {
            String::from_utf8_lossy(&outcome.stdout).trim().to_string()
        }
        Ok(outcome) => format!(
            "{args:?}: {} {}",
            outcome.status,
            String::from_utf8_lossy(&outcome.stderr).trim()
        ),
        Err(e) => format!("{args:?}: {e}"),
    }
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

fn native_throughput(server: SocketAddr, mib: usize) -> String {
    let socket = native_client(server);
    let out = vec![0x5au8; MESSAGE];
    let mut back = vec![0u8; MESSAGE];
    send_all(&socket, &out);
    recv_exact(&socket, &mut back);
    let rounds = mib * 1024 * 1024 / MESSAGE;
    let started = Instant::now();
    for _ in 0..rounds {
        send_all(&socket, &out);
        recv_exact(&socket, &mut back);
    }
    let secs = started.elapsed().as_secs_f64();
    format!(
        "bench-throughput native: {:.1} MB/s ({rounds} x 64 KiB in {secs:.3} s)",
        (rounds * MESSAGE) as f64 / secs / 1e6
    )
}

fn native_rtt(server: SocketAddr, trips: usize) -> String {
    let socket = native_client(server);
    let out = [0x5au8; SMALL];
    let mut back = [0u8; SMALL];
    for _ in 0..100 {
        send_all(&socket, &out);
        recv_exact(&socket, &mut back);
    }
    let started = Instant::now();
    for _ in 0..trips {
        send_all(&socket, &out);
        recv_exact(&socket, &mut back);
    }
    let secs = started.elapsed().as_secs_f64();
    format!(
        "bench-rtt native: {:.0} round trips/s ({trips} x {SMALL} B in {secs:.3} s)",
        trips as f64 / secs
    )
}
