//! A guest that imports witsock, for witsock-host's tests and benchmark:
//! one mode per scenario, each printing one line `MODE: RESULT` (RESULT is
//! `ok …` or the WIT name of the error) and exiting 0, unless the mode is
//! meant to trap.
//!
//! ```text
//! witsock-probe bind ADDR | udp-bind ADDR | connect ADDR
//! witsock-probe accept-one ADDR          listen on ADDR, print the first peer accepted
//! witsock-probe udp-send ADDR | udp-receive ADDR
//! witsock-probe unix-bind PATH | unix-connect PATH | abstract-bind NAME | pair
//! witsock-probe open N | listen-backlog N | receive-len N
//! witsock-probe linger SECS | join-multicast | reuse-port PORT | reuse-port-own | resolve NAME
//! witsock-probe forged-handle | use-after-drop | wrong-handle-type | drop-socket-before-pollable
//! witsock-probe pollable-mix | batch N | batch-refused
//! witsock-probe long-unix-name LEN | poll-entries N
//! witsock-probe unix-connect-loop PATH MILLIS | unix-bind-loop PATH MILLIS
//!                                        connect to (bind) PATH again and again; count the outcomes
//! witsock-probe reuse-port-after tcp|udp FIRST SECOND MILLIS
//!                                        bind FIRST, then SECOND, both with reuse-port; count what SECOND gets
//! witsock-probe udp-receive-count ADDR MILLIS [v6only]
//!                                        bind ADDR, count datagrams and their senders
//! witsock-probe listen ADDR [v6only]     bind and listen on ADDR
//! witsock-probe grow-memory MIB | spin   take memory, or time, until stopped
//! witsock-probe sleep SECS               block in one host call (a receive with a timeout)
//! witsock-probe block accept|receive|wait|poll
//!                                        block forever in one call on a blocking socket
//! witsock-probe echo-client ADDR MESSAGE connect (blocking), send MESSAGE, receive it back whole (wait-all)
//! witsock-probe unix-dgram-spray PREFIX NAME SERVER K
//!                                        bind PREFIX0/NAME … PREFIX(K-1)/NAME, each pings SERVER; count replies
//! witsock-probe unix-names PATH          the names both ends of a Unix connection see, before and after the listener goes
//! witsock-probe bench-throughput witsock|std|wasi ADDR MEBIBYTES
//! witsock-probe bench-rtt witsock|std|wasi ADDR COUNT SIZE
//! witsock-probe bench-udp witsock|witsock-batch|std COUNT SIZE
//! ```
//!
//! Witsock calls go through witsock's public API: on the witsock imports
//! with the default `imports` feature, on its wasi-p2 backend (wasi:sockets)
//! without it. The benchmark modes name the backend in their report. The
//! bad-handle and pollable modes use bindings of their own to reach handles
//! directly.

use std::io::{Read, Write};
use std::mem::ManuallyDrop;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use witsock::{Domain, RecvFlags, SendFlags, SockAddr, Socket, SocketOption, Type};

#[allow(dead_code, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../../wit",
        world: "witsock:sockets/imports",
        with: { "wasi:io/poll@0.2.4": wasi::io::poll },
        type_section_suffix: "witsock-probe",
    });
}

use bindings::witsock::sockets::sockets as raw;

const USAGE: &str = "usage: witsock-probe MODE [ARGS...] (see the source)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let line = match args.as_slice() {
        ["bind", addr] => report("bind", bind(ip(addr), Type::Stream)),
        ["udp-bind", addr] => report("udp-bind", bind(ip(addr), Type::Datagram)),
        ["connect", addr] => report("connect", connect(ip(addr))),
        ["accept-one", addr] => report("accept-one", accept_one(ip(addr))),
        ["udp-send", addr] => report("udp-send", udp_send(ip(addr))),
        ["udp-receive", addr] => report("udp-receive", udp_receive(ip(addr))),
        ["unix-bind", path] => report("unix-bind", unix_bind(path)),
        ["unix-connect", path] => report("unix-connect", unix_connect(path)),
        ["abstract-bind", name] => report("abstract-bind", abstract_bind(name)),
        ["pair"] => report(
            "pair",
            Socket::pair(Type::Stream, true).map(|_| "ok".into()),
        ),
        ["open", n] => report("open", open(count(n))),
        ["listen-backlog", n] => report("listen-backlog", listen_backlog(count(n) as u32)),
        ["receive-len", n] => report("receive-len", receive_len(count(n))),
        ["linger", secs] => report("linger", linger(count(secs) as u64)),
        ["join-multicast"] => report("join-multicast", join_multicast()),
        ["reuse-port", port] => report("reuse-port", reuse_port(count(port) as u16)),
        ["reuse-port-own"] => report("reuse-port-own", reuse_port_own()),
        ["resolve", name] => report("resolve", resolve(name)),
        ["forged-handle"] => forged_handle(),
        ["use-after-drop"] => use_after_drop(),
        ["wrong-handle-type"] => wrong_handle_type(),
        ["drop-socket-before-pollable"] => drop_socket_before_pollable(),
        ["pollable-mix"] => report("pollable-mix", pollable_mix()),
        ["long-unix-name", n] => long_unix_name(count(n)),
        ["batch", n] => report("batch", batch(count(n))),
        ["batch-refused"] => report("batch-refused", batch_refused()),
        ["poll-entries", n] => poll_entries(count(n)),
        ["unix-connect-loop", path, ms] => unix_loop(path, millis(ms), false),
        ["unix-bind-loop", path, ms] => unix_loop(path, millis(ms), true),
        ["reuse-port-after", ty, first, second, ms] => report(
            "reuse-port-after",
            reuse_port_after(ty, ip(first), ip(second), millis(ms)),
        ),
        ["udp-receive-count", addr, ms, rest @ ..] => report(
            "udp-receive-count",
            udp_receive_count(ip(addr), millis(ms), rest == ["v6only"]),
        ),
        ["listen", addr, rest @ ..] => report("listen", listen(ip(addr), rest == ["v6only"])),
        ["grow-memory", mib] => grow_memory(count(mib)),
        ["spin"] => spin(),
        ["sleep", secs] => report("sleep", sleep(count(secs) as u64)),
        ["block", call] => report("block", block(call)),
        ["echo-client", addr, message] => report("echo-client", echo_once(ip(addr), message)),
        ["linger-close", addr, secs] => {
            report("linger-close", linger_close(ip(addr), count(secs) as u64))
        }
        ["unix-dgram-spray", prefix, name, server, k] => report(
            "unix-dgram-spray",
            unix_dgram_spray(prefix, name, server, count(k)),
        ),
        ["unix-names", path] => report("unix-names", unix_names(path)),
        ["bench-throughput", variant, addr, mib] => bench_throughput(variant, ip(addr), count(mib)),
        ["bench-rtt", variant, addr, n, size] => {
            bench_rtt(variant, ip(addr), count(n), count(size))
        }
        ["bench-udp", variant, n, size] => bench_udp(variant, count(n), count(size)),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    println!("{line}");
}

fn ip(text: &str) -> SocketAddr {
    text.parse().unwrap_or_else(|_| {
        eprintln!("witsock-probe: `{text}` is not IP:PORT");
        std::process::exit(2)
    })
}

fn millis(text: &str) -> Duration {
    Duration::from_millis(count(text) as u64)
}

fn count(text: &str) -> usize {
    text.parse().unwrap_or_else(|_| {
        eprintln!("witsock-probe: `{text}` is not a number");
        std::process::exit(2)
    })
}

/// `MODE: ok …` or `MODE: WIT-ERROR-NAME (message)`.
fn report(mode: &str, result: witsock::Result<String>) -> String {
    match result {
        Ok(what) => format!("{mode}: {what}"),
        Err(e) => format!("{mode}: {} ({e})", e.code().wit_name()),
    }
}

fn domain(addr: &SocketAddr) -> Domain {
    Domain::for_address(addr)
}

fn bind(addr: SocketAddr, ty: Type) -> witsock::Result<String> {
    let socket = Socket::new(domain(&addr), ty, None)?;
    socket.bind(&addr.into())?;
    Ok(format!("ok {}", socket.local_addr()?))
}

fn connect(addr: SocketAddr) -> witsock::Result<String> {
    let socket = Socket::new(domain(&addr), Type::Stream, None)?;
    socket.connect_timeout(&addr.into(), Duration::from_secs(5))?;
    Ok("ok".into())
}

/// Listens on `addr` and accepts one connection, waiting up to 10 s.
fn accept_one(addr: SocketAddr) -> witsock::Result<String> {
    let listener = Socket::new_nonblocking(domain(&addr), Type::Stream, None)?;
    listener.set_option(SocketOption::ReuseAddress(true))?;
    listener.bind(&addr.into())?;
    listener.listen(16)?;
    listener.set_read_deadline(Some(Instant::now() + Duration::from_secs(10)));
    let (_, peer) = listener.accept()?;
    Ok(format!("ok {peer}"))
}

fn udp_send(addr: SocketAddr) -> witsock::Result<String> {
    let socket = Socket::new(domain(&addr), Type::Datagram, None)?;
    let n = socket.send_to(b"probe", &addr.into(), SendFlags::EMPTY)?;
    Ok(format!("ok {n}"))
}

/// Binds `addr` and receives one datagram, waiting up to 10 s.
fn udp_receive(addr: SocketAddr) -> witsock::Result<String> {
    let socket = Socket::new_nonblocking(domain(&addr), Type::Datagram, None)?;
    socket.bind(&addr.into())?;
    socket.set_read_deadline(Some(Instant::now() + Duration::from_secs(10)));
    let mut buf = [0u8; 64];
    let meta = socket.recv_from(&mut buf, RecvFlags::EMPTY)?;
    let payload = String::from_utf8_lossy(&buf[..meta.len]);
    Ok(format!("ok {payload} from {}", meta.addr))
}

fn unix_bind(path: &str) -> witsock::Result<String> {
    let socket = Socket::new(Domain::Unix, Type::Stream, None)?;
    socket.bind(&SockAddr::unix(path)?)?;
    Ok(format!("ok {}", socket.local_addr()?))
}

fn unix_connect(path: &str) -> witsock::Result<String> {
    let socket = Socket::new(Domain::Unix, Type::Stream, None)?;
    socket.connect(&SockAddr::unix(path)?)?;
    Ok("ok".into())
}

fn abstract_bind(name: &str) -> witsock::Result<String> {
    let socket = Socket::new(Domain::Unix, Type::Stream, None)?;
    socket.bind(&SockAddr::unix_abstract(name.as_bytes())?)?;
    Ok("ok".into())
}

/// Opens up to `n` sockets and keeps them until the end.
fn open(n: usize) -> witsock::Result<String> {
    let mut sockets = Vec::new();
    for _ in 0..n {
        match Socket::new(Domain::Ipv4, Type::Stream, None) {
            Ok(socket) => sockets.push(socket),
            Err(e) => {
                return Ok(format!(
                    "opened {} of {n}, then {}",
                    sockets.len(),
                    e.code().wit_name()
                ))
            }
        }
    }
    Ok(format!("opened {n} of {n}"))
}

fn loopback_v4() -> SockAddr {
    SocketAddr::from(([127, 0, 0, 1], 0)).into()
}

fn listen_backlog(backlog: u32) -> witsock::Result<String> {
    let socket = Socket::new(Domain::Ipv4, Type::Stream, None)?;
    socket.bind(&loopback_v4())?;
    socket.listen(backlog)?;
    Ok("ok".into())
}

fn receive_len(len: usize) -> witsock::Result<String> {
    let socket = Socket::new_nonblocking(Domain::Ipv4, Type::Datagram, None)?;
    socket.bind(&loopback_v4())?;
    let mut buf = vec![0u8; len];
    let n = socket.recv(&mut buf, RecvFlags::EMPTY)?;
    Ok(format!("ok {n}"))
}

fn linger(secs: u64) -> witsock::Result<String> {
    let socket = Socket::new(Domain::Ipv4, Type::Stream, None)?;
    socket.set_option(SocketOption::Linger(Some(Duration::from_secs(secs))))?;
    Ok(format!(
        "ok {:?}",
        socket.option(witsock::OptionName::Linger)?
    ))
}

fn join_multicast() -> witsock::Result<String> {
    let socket = Socket::new(Domain::Ipv4, Type::Datagram, None)?;
    socket.bind(&SocketAddr::from(([0, 0, 0, 0], 0)).into())?;
    socket.set_option(SocketOption::JoinMulticastV4 {
        group: [239, 255, 0, 1].into(),
        interface: [127, 0, 0, 1].into(),
    })?;
    Ok("ok".into())
}

/// Binds 127.0.0.1:`port` (TCP) with `reuse-port` on.
fn reuse_port(port: u16) -> witsock::Result<String> {
    let socket = Socket::new(Domain::Ipv4, Type::Stream, None)?;
    socket.set_option(SocketOption::ReusePort(true))?;
    socket.bind(&SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    socket.listen(4)?;
    Ok("ok".into())
}

/// Two of the guest's own listeners share a port with `reuse-port`.
fn reuse_port_own() -> witsock::Result<String> {
    let first = Socket::new(Domain::Ipv4, Type::Stream, None)?;
    first.set_option(SocketOption::ReusePort(true))?;
    first.bind(&loopback_v4())?;
    first.listen(4)?;
    let addr = first.local_addr()?;
    let second = Socket::new(Domain::Ipv4, Type::Stream, None)?;
    second.set_option(SocketOption::ReusePort(true))?;
    second.bind(&addr)?;
    second.listen(4)?;
    Ok(format!("ok both on {addr}"))
}

fn resolve(name: &str) -> witsock::Result<String> {
    let first = witsock::resolve(name, 80)?.next();
    Ok(format!(
        "ok {}",
        first.map_or_else(|| "none".into(), |a| a.to_string())
    ))
}

fn raw_tcp_socket() -> raw::Socket {
    raw::Socket::create(
        raw::AddressFamily::Ipv4,
        raw::SocketType::Stream,
        None,
        true,
    )
    .unwrap_or_else(|e| {
        eprintln!("witsock-probe: create: {e:?}");
        std::process::exit(1)
    })
}

/// Calls a method with a handle the guest never received.
fn forged_handle() -> String {
    println!("forged-handle: calling");
    // SAFETY: deliberately wrong: 0x7fff_0000 names no handle; the host
    // must trap the guest. ManuallyDrop keeps the guest from dropping it.
    let forged = ManuallyDrop::new(unsafe { raw::Socket::from_handle(0x7fff_0000) });
    let result = forged.listen(1);
    format!("forged-handle: returned {result:?}")
}

/// Calls a method on a socket after dropping it.
fn use_after_drop() -> String {
    let socket = raw_tcp_socket();
    let handle = socket.handle();
    drop(socket);
    println!("use-after-drop: calling");
    // SAFETY: deliberately stale: the handle was dropped just above.
    let stale = ManuallyDrop::new(unsafe { raw::Socket::from_handle(handle) });
    let result = stale.listen(1);
    format!("use-after-drop: returned {result:?}")
}

/// Passes a pollable's handle where a socket's is expected.
fn wrong_handle_type() -> String {
    let socket = raw_tcp_socket();
    let pollable = socket.subscribe(raw::Interest::READABLE);
    println!("wrong-handle-type: calling");
    // SAFETY: deliberately the handle of a pollable, not a socket.
    let wrong = ManuallyDrop::new(unsafe { raw::Socket::from_handle(pollable.handle()) });
    let result = wrong.listen(1);
    format!("wrong-handle-type: returned {result:?} {}", socket.handle())
}

/// Drops a socket while a pollable made from it is alive, which the
/// component model forbids (a child outliving its parent).
fn drop_socket_before_pollable() -> String {
    let socket = raw_tcp_socket();
    let pollable = socket.subscribe(raw::Interest::READABLE);
    println!("drop-socket-before-pollable: dropping");
    drop(socket);
    format!("drop-socket-before-pollable: survived {}", pollable.ready())
}

/// A socket pollable and a wasi:clocks timer in one wasi:io `poll`: first
/// only the timer fires (nothing to read), then the socket does (data
/// sent), before a long timer.
fn pollable_mix() -> witsock::Result<String> {
    use bindings::witsock::sockets::types::Ipv4SocketAddress;
    use wasi::clocks::monotonic_clock::subscribe_duration;
    use wasi::io::poll::poll;

    let listener = raw_tcp_socket();
    let loopback = raw::SocketAddress::Ipv4(Ipv4SocketAddress {
        port: 0,
        address: (127, 0, 0, 1),
    });
    listener.bind(&loopback).unwrap_or_else(|e| die("bind", e));
    listener.listen(4).unwrap_or_else(|e| die("listen", e));
    let addr = listener
        .local_address()
        .unwrap_or_else(|e| die("local address", e));
    let client = raw_tcp_socket();
    let _ = client.start_connect(&addr);
    let acceptable = listener.subscribe(raw::Interest::READABLE);
    poll(&[&acceptable]);
    let (server, _) = match listener.try_accept() {
        Ok(Some(pair)) => pair,
        other => die("accept", other),
    };
    let readable = server.subscribe(raw::Interest::READABLE);

    let short = subscribe_duration(50_000_000);
    let first = poll(&[&readable, &short]);
    let connected = client.subscribe(raw::Interest::WRITABLE);
    poll(&[&connected]);
    client
        .finish_connect()
        .unwrap_or_else(|e| die("finish-connect", e));
    client
        .send(b"x", raw::SendFlags::empty())
        .unwrap_or_else(|e| die("send", e));
    let long = subscribe_duration(30_000_000_000);
    let second = poll(&[&readable, &long]);
    Ok(format!(
        "ok first {first:?} second {second:?} ready {}",
        readable.ready()
    ))
}

/// A UDP receiver on loopback and a sender.
fn udp_pair() -> witsock::Result<(Socket, SockAddr, Socket)> {
    let receiver = Socket::new_nonblocking(Domain::Ipv4, Type::Datagram, None)?;
    receiver.bind(&loopback_v4())?;
    let to = receiver.local_addr()?;
    let sender = Socket::new(Domain::Ipv4, Type::Datagram, None)?;
    Ok((receiver, to, sender))
}

/// Receives `n` datagrams in batches (10 s at most) and checks they are
/// `0`, `1`, … in order, from `from`.
fn receive_numbered(receiver: &Socket, n: usize, from: &SockAddr) -> witsock::Result<usize> {
    receiver.set_read_deadline(Some(Instant::now() + Duration::from_secs(10)));
    let mut storage = vec![[0u8; 16]; witsock::MAX_BATCH];
    let mut got = 0;
    while got < n {
        let mut slots: Vec<witsock::IncomingDatagram<'_>> = storage
            .iter_mut()
            .map(|b| witsock::IncomingDatagram::new(b))
            .collect();
        let k = receiver.recv_batch(&mut slots)?;
        for slot in &slots[..k] {
            let expected = got.to_string();
            if slot.data() != expected.as_bytes() || slot.addr() != from {
                let data = String::from_utf8_lossy(slot.data());
                eprintln!("datagram {got}: {data:?} from {}", slot.addr());
                return Err(witsock::Error::new(witsock::ErrorCode::Other));
            }
            got += 1;
        }
    }
    Ok(got)
}

/// `n` numbered datagrams in one `send_batch`, received in batches.
fn batch(n: usize) -> witsock::Result<String> {
    let (receiver, to, sender) = udp_pair()?;
    let payloads: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let out: Vec<witsock::OutgoingDatagram<'_>> = payloads
        .iter()
        .map(|p| witsock::OutgoingDatagram::new(p.as_bytes(), &to))
        .collect();
    let sent = sender.send_batch(&out)?;
    let from = SockAddr::from(SocketAddr::new(
        [127, 0, 0, 1].into(),
        sender.local_addr()?.as_socket().map_or(0, |a| a.port()),
    ));
    let received = receive_numbered(&receiver, sent, &from)?;
    Ok(format!("ok sent {sent} received {received}"))
}

/// A batch whose sixth destination the policy refuses: the five before it
/// go out, then sending from the sixth fails.
fn batch_refused() -> witsock::Result<String> {
    let (receiver, to, sender) = udp_pair()?;
    let refused: SockAddr = SocketAddr::from(([127, 0, 0, 2], 9)).into();
    let payloads: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    let out: Vec<witsock::OutgoingDatagram<'_>> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| {
            witsock::OutgoingDatagram::new(p.as_bytes(), if i == 5 { &refused } else { &to })
        })
        .collect();
    let sent = sender.send_batch(&out)?;
    let rest = match sender.send_batch(&out[sent..]) {
        Ok(n) => format!("then {n}"),
        Err(e) => format!("then {}", e.code().wit_name()),
    };
    let from = SockAddr::from(SocketAddr::new(
        [127, 0, 0, 1].into(),
        sender.local_addr()?.as_socket().map_or(0, |a| a.port()),
    ));
    let received = receive_numbered(&receiver, sent, &from)?;
    // Nothing else arrived.
    receiver.set_read_deadline(None);
    let mut buf = [0u8; 16];
    let extra = match receiver.recv(&mut buf, RecvFlags::EMPTY) {
        Err(e) if e.code() == witsock::ErrorCode::WouldBlock => "nothing more".to_string(),
        Err(e) => e.code().wit_name().to_string(),
        Ok(n) => format!("{n} more bytes"),
    };
    Ok(format!(
        "ok sent {sent} received {received} {rest}, {extra}"
    ))
}

/// Binds a Unix socket to a name of `len` bytes, through the raw bindings
/// (witsock's own API refuses such a name before calling the host).
fn long_unix_name(len: usize) -> String {
    let socket = raw::Socket::create(
        raw::AddressFamily::Unix,
        raw::SocketType::Stream,
        None,
        true,
    );
    let result = socket.and_then(|s| s.bind(&raw::SocketAddress::Unix(vec![b'x'; len])));
    raw_report("long-unix-name", result)
}

/// Polls one socket listed `n` times.
fn poll_entries(n: usize) -> String {
    let socket = raw_tcp_socket();
    let entries: Vec<(&raw::Socket, raw::Interest)> =
        (0..n).map(|_| (&socket, raw::Interest::WRITABLE)).collect();
    let result = raw::poll(&entries, Some(0)).map(|ready| ready.len());
    raw_report("poll-entries", result)
}

/// `MODE: ok …` or `MODE: WIT-ERROR-NAME`, for raw calls.
fn raw_report<T: std::fmt::Debug>(mode: &str, result: Result<T, raw::Error>) -> String {
    match result {
        Ok(value) => format!("{mode}: ok {value:?}"),
        Err(e) => {
            let name = witsock_name(e.code);
            format!("{mode}: {name}")
        }
    }
}

/// The WIT name of a raw error code, for the few the probe expects.
fn witsock_name(code: raw::ErrorCode) -> &'static str {
    match code {
        raw::ErrorCode::InvalidArgument => "invalid-argument",
        raw::ErrorCode::AccessDenied => "access-denied",
        raw::ErrorCode::Unsupported => "unsupported",
        _ => "other",
    }
}

/// Where the benchmark's bytes go: witsock (through the imports), std::net
/// (wasi-libc over wasi:sockets), or wasi:sockets streams directly.
trait Echo {
    fn send_all(&mut self, data: &[u8]);
    fn recv_exact(&mut self, buf: &mut [u8]);
}

struct WitsockEcho(Socket);

impl Echo for WitsockEcho {
    fn send_all(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let n = self
                .0
                .send(data, SendFlags::EMPTY)
                .unwrap_or_else(|e| die("send", e));
            data = &data[n..];
        }
    }

    fn recv_exact(&mut self, mut buf: &mut [u8]) {
        while !buf.is_empty() {
            let n = self
                .0
                .recv(buf, RecvFlags::EMPTY)
                .unwrap_or_else(|e| die("recv", e));
            if n == 0 {
                die("recv", "end of stream");
            }
            buf = &mut buf[n..];
        }
    }
}

struct StdEcho(std::net::TcpStream);

impl Echo for StdEcho {
    fn send_all(&mut self, data: &[u8]) {
        self.0.write_all(data).unwrap_or_else(|e| die("write", e));
    }

    fn recv_exact(&mut self, buf: &mut [u8]) {
        self.0.read_exact(buf).unwrap_or_else(|e| die("read", e));
    }
}

/// wasi:sockets streams through the `wasi` crate. The streams are dropped
/// before the socket (they are its children).
struct WasiEcho {
    input: wasi::io::streams::InputStream,
    output: wasi::io::streams::OutputStream,
    _socket: wasi::sockets::tcp::TcpSocket,
}

impl Echo for WasiEcho {
    fn send_all(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let permit = self
                .output
                .check_write()
                .unwrap_or_else(|e| die("check-write", e));
            if permit == 0 {
                self.output.subscribe().block();
                continue;
            }
            let n = (permit as usize).min(data.len());
            self.output
                .write(&data[..n])
                .unwrap_or_else(|e| die("write", e));
            data = &data[n..];
        }
    }

    fn recv_exact(&mut self, mut buf: &mut [u8]) {
        while !buf.is_empty() {
            let chunk = self
                .input
                .blocking_read(buf.len() as u64)
                .unwrap_or_else(|e| die("read", e));
            buf[..chunk.len()].copy_from_slice(&chunk);
            buf = &mut buf[chunk.len()..];
        }
    }
}

fn die(what: &str, e: impl std::fmt::Debug) -> ! {
    eprintln!("witsock-probe: {what}: {e:?}");
    std::process::exit(1)
}

fn echo_client(variant: &str, addr: SocketAddr) -> Box<dyn Echo> {
    match variant {
        "witsock" => {
            let socket =
                Socket::new(domain(&addr), Type::Stream, None).unwrap_or_else(|e| die("socket", e));
            socket
                .connect(&addr.into())
                .unwrap_or_else(|e| die("connect", e));
            Box::new(WitsockEcho(socket))
        }
        "std" => Box::new(StdEcho(
            std::net::TcpStream::connect(addr).unwrap_or_else(|e| die("connect", e)),
        )),
        "wasi" => Box::new(wasi_connect(addr)),
        other => die("variant", other),
    }
}

fn wasi_connect(addr: SocketAddr) -> WasiEcho {
    use wasi::sockets::network::{ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
    let SocketAddr::V4(v4) = addr else {
        die("wasi variant", "IPv4 only")
    };
    let network = wasi::sockets::instance_network::instance_network();
    let socket = wasi::sockets::tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4)
        .unwrap_or_else(|e| die("create", e));
    let [a, b, c, d] = v4.ip().octets();
    let remote = IpSocketAddress::Ipv4(Ipv4SocketAddress {
        port: v4.port(),
        address: (a, b, c, d),
    });
    socket
        .start_connect(&network, remote)
        .unwrap_or_else(|e| die("start-connect", e));
    let (input, output) = {
        let ready = socket.subscribe();
        loop {
            match socket.finish_connect() {
                Ok(streams) => break streams,
                Err(ErrorCode::WouldBlock) => ready.block(),
                Err(e) => die("finish-connect", e),
            }
        }
    };
    WasiEcho {
        input,
        output,
        _socket: socket,
    }
}

/// Sends `mib` MiB in 64 KiB messages, each echoed back in full before
/// the next; prints MB/s (10^6 bytes per second, both directions' payload
/// counted once).
fn bench_throughput(variant: &str, addr: SocketAddr, mib: usize) -> String {
    const MESSAGE: usize = 64 * 1024;
    let mut echo = echo_client(variant, addr);
    let out = vec![0x5au8; MESSAGE];
    let mut back = vec![0u8; MESSAGE];
    // One round first, outside the clock: connection warm-up.
    echo.send_all(&out);
    echo.recv_exact(&mut back);
    let rounds = mib * 1024 * 1024 / MESSAGE;
    let started = Instant::now();
    for _ in 0..rounds {
        echo.send_all(&out);
        echo.recv_exact(&mut back);
    }
    let secs = started.elapsed().as_secs_f64();
    let bytes = (rounds * MESSAGE) as f64;
    format!(
        "bench-throughput {}: {:.1} MB/s ({rounds} x 64 KiB in {secs:.3} s)",
        contestant(variant),
        bytes / secs / 1e6
    )
}

/// `count` round trips of `size`-byte messages; prints round trips per
/// second.
fn bench_rtt(variant: &str, addr: SocketAddr, count: usize, size: usize) -> String {
    let mut echo = echo_client(variant, addr);
    let out = vec![0x5au8; size];
    let mut back = vec![0u8; size];
    for _ in 0..100 {
        echo.send_all(&out);
        echo.recv_exact(&mut back);
    }
    let started = Instant::now();
    for _ in 0..count {
        echo.send_all(&out);
        echo.recv_exact(&mut back);
    }
    let secs = started.elapsed().as_secs_f64();
    format!(
        "bench-rtt {}: {:.0} round trips/s ({count} x {size} B in {secs:.3} s)",
        contestant(variant),
        count as f64 / secs
    )
}

/// The variant as reported: witsock's with the backend it was built on
/// (`witsock [wasi-p2]`), so that a report cannot be credited to the wrong
/// build.
fn contestant(variant: &str) -> String {
    if variant.starts_with("witsock") {
        format!("{variant} [{}]", witsock::capabilities().backend)
    } else {
        variant.to_string()
    }
}

/// Datagrams sent back to back before they are received: well below
/// loopback's default receive buffer, so none is dropped.
const UDP_BURST: usize = witsock::MAX_BATCH;

/// One thread's UDP loopback: a burst of datagrams sent to a bound socket,
/// then received back, burst after burst.
trait DatagramLoop {
    /// Sends `burst` datagrams of `payload` to the receiver.
    fn send_burst(&mut self, payload: &[u8], burst: usize);
    /// Receives `burst` datagrams, waiting for them.
    fn receive_burst(&mut self, burst: usize);
}

/// witsock `send_to`/`recv_from`, or with `batch` `send_batch`/`recv_batch`.
struct WitsockDatagrams {
    sender: Socket,
    receiver: Socket,
    to: SockAddr,
    batch: bool,
    buffers: Vec<[u8; 2048]>,
}

impl WitsockDatagrams {
    fn new(batch: bool) -> witsock::Result<WitsockDatagrams> {
        let receiver = Socket::new(Domain::Ipv4, Type::Datagram, None)?;
        receiver.bind(&loopback_v4())?;
        let to = receiver.local_addr()?;
        let sender = Socket::new(Domain::Ipv4, Type::Datagram, None)?;
        sender.bind(&loopback_v4())?;
        Ok(WitsockDatagrams {
            sender,
            receiver,
            to,
            batch,
            buffers: vec![[0u8; 2048]; UDP_BURST],
        })
    }
}

impl DatagramLoop for WitsockDatagrams {
    fn send_burst(&mut self, payload: &[u8], burst: usize) {
        if self.batch {
            let out = [witsock::OutgoingDatagram::new(payload, &self.to); UDP_BURST];
            let mut sent = 0;
            while sent < burst {
                sent += self
                    .sender
                    .send_batch(&out[..burst - sent])
                    .unwrap_or_else(|e| die("send_batch", e));
            }
        } else {
            for _ in 0..burst {
                self.sender
                    .send_to(payload, &self.to, SendFlags::EMPTY)
                    .unwrap_or_else(|e| die("send_to", e));
            }
        }
    }

    fn receive_burst(&mut self, burst: usize) {
        if self.batch {
            let mut got = 0;
            while got < burst {
                let mut slots: [witsock::IncomingDatagram<'_>; UDP_BURST] = {
                    let mut buffers = self.buffers.iter_mut();
                    std::array::from_fn(|_| {
                        witsock::IncomingDatagram::new(buffers.next().expect("one per slot"))
                    })
                };
                got += self
                    .receiver
                    .recv_batch(&mut slots[..burst - got])
                    .unwrap_or_else(|e| die("recv_batch", e));
            }
        } else {
            for _ in 0..burst {
                self.receiver
                    .recv_from(&mut self.buffers[0], RecvFlags::EMPTY)
                    .unwrap_or_else(|e| die("recv_from", e));
            }
        }
    }
}

/// `std::net::UdpSocket` (wasi-libc over wasi:sockets).
struct StdDatagrams {
    sender: std::net::UdpSocket,
    receiver: std::net::UdpSocket,
    to: SocketAddr,
    buffer: [u8; 2048],
}

impl StdDatagrams {
    fn new() -> std::io::Result<StdDatagrams> {
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let to = receiver.local_addr()?;
        let sender = std::net::UdpSocket::bind("127.0.0.1:0")?;
        Ok(StdDatagrams {
            sender,
            receiver,
            to,
            buffer: [0u8; 2048],
        })
    }
}

impl DatagramLoop for StdDatagrams {
    fn send_burst(&mut self, payload: &[u8], burst: usize) {
        for _ in 0..burst {
            self.sender
                .send_to(payload, self.to)
                .unwrap_or_else(|e| die("send_to", e));
        }
    }

    fn receive_burst(&mut self, burst: usize) {
        for _ in 0..burst {
            self.receiver
                .recv_from(&mut self.buffer)
                .unwrap_or_else(|e| die("recv_from", e));
        }
    }
}

/// `count` datagrams of `size` bytes (at most 2048), sent on loopback and
/// received back by the same thread in bursts of [`UDP_BURST`]; prints
/// datagrams per second (each sent and received once).
fn bench_udp(variant: &str, count: usize, size: usize) -> String {
    if size > 2048 {
        die("bench-udp", "SIZE is at most 2048");
    }
    let mut datagrams: Box<dyn DatagramLoop> = match variant {
        "witsock" | "witsock-batch" => Box::new(
            WitsockDatagrams::new(variant == "witsock-batch")
                .unwrap_or_else(|e| die("udp sockets", e)),
        ),
        "std" => Box::new(StdDatagrams::new().unwrap_or_else(|e| die("udp sockets", e))),
        other => die("variant", other),
    };
    let payload = vec![0x5au8; size];
    let bursts = count.div_ceil(UDP_BURST);
    // A few bursts first, outside the clock.
    for _ in 0..4 {
        datagrams.send_burst(&payload, UDP_BURST);
        datagrams.receive_burst(UDP_BURST);
    }
    let started = Instant::now();
    for _ in 0..bursts {
        datagrams.send_burst(&payload, UDP_BURST);
        datagrams.receive_burst(UDP_BURST);
    }
    let secs = started.elapsed().as_secs_f64();
    let total = bursts * UDP_BURST;
    format!(
        "bench-udp {}: {:.0} datagrams/s ({total} x {size} B in {secs:.3} s)",
        contestant(variant),
        total as f64 / secs
    )
}

/// Connects to `path` (or binds `path.N`, N counting up) until `time` has
/// passed, counting each outcome by its WIT name; a bound file is removed
/// again at once.
fn unix_loop(path: &str, time: Duration, bind: bool) -> String {
    let mode = if bind {
        "unix-bind-loop"
    } else {
        "unix-connect-loop"
    };
    let mut outcomes = std::collections::BTreeMap::<&str, usize>::new();
    let end = Instant::now() + time;
    let mut attempt = 0usize;
    while Instant::now() < end {
        attempt += 1;
        // Each bind a name of its own: one left behind cannot make the
        // next one `address-in-use`.
        let path = if bind {
            format!("{path}.{attempt}")
        } else {
            path.to_string()
        };
        let addr = match SockAddr::unix(&path) {
            Ok(addr) => addr,
            Err(e) => return report(mode, Err(e)),
        };
        let result = Socket::new(Domain::Unix, Type::Stream, None).and_then(|socket| {
            if bind {
                socket.bind(&addr)?;
                let _ = std::fs::remove_file(&path);
            } else {
                socket.connect(&addr)?;
            }
            Ok(())
        });
        let name = match result {
            Ok(()) => "ok",
            Err(e) => e.code().wit_name(),
        };
        *outcomes.entry(name).or_default() += 1;
    }
    let counts: Vec<String> = outcomes.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{mode}: {}", counts.join(" "))
}

/// Binds `first` with reuse-port, then `second` with reuse-port; if the
/// second bind succeeds, receives datagrams (udp) or accepts connections
/// (tcp) on it for `time` and reports how many.
fn reuse_port_after(
    ty: &str,
    first: SocketAddr,
    second: SocketAddr,
    time: Duration,
) -> witsock::Result<String> {
    let ty = if ty == "udp" {
        Type::Datagram
    } else {
        Type::Stream
    };
    let bind = |addr: SocketAddr| -> witsock::Result<Socket> {
        let socket = Socket::new_nonblocking(domain(&addr), ty, None)?;
        socket.set_option(SocketOption::ReusePort(true))?;
        if addr.is_ipv6() {
            socket.set_option(SocketOption::Ipv6Only(true))?;
        }
        socket.bind(&addr.into())?;
        if ty == Type::Stream {
            socket.listen(16)?;
        }
        Ok(socket)
    };
    let _first = bind(first)?;
    let second = bind(second)?;
    let port = second.local_addr()?;
    let mut got = 0usize;
    let end = Instant::now() + time;
    let mut buf = [0u8; 64];
    while Instant::now() < end {
        let more = if ty == Type::Datagram {
            match second.recv_from(&mut buf, RecvFlags::EMPTY) {
                Ok(_) => true,
                Err(e) if e.code() == witsock::ErrorCode::WouldBlock => false,
                Err(e) => return Err(e),
            }
        } else {
            second.try_accept()?.is_some()
        };
        if more {
            got += 1;
        } else {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    Ok(format!("ok bound {port}, got {got}"))
}

/// Binds `addr` (IPv6 only if asked) and counts the datagrams that arrive
/// in `time`, with their senders.
fn udp_receive_count(addr: SocketAddr, time: Duration, v6only: bool) -> witsock::Result<String> {
    let socket = Socket::new_nonblocking(domain(&addr), Type::Datagram, None)?;
    if addr.is_ipv6() {
        socket.set_option(SocketOption::Ipv6Only(v6only))?;
    }
    socket.bind(&addr.into())?;
    // Tell the test the socket is ready.
    println!("ready {}", socket.local_addr()?);
    let mut senders = std::collections::BTreeSet::new();
    let mut got = 0usize;
    let end = Instant::now() + time;
    let mut buf = [0u8; 64];
    while Instant::now() < end {
        match socket.recv_from(&mut buf, RecvFlags::EMPTY) {
            Ok(meta) => {
                got += 1;
                senders.insert(meta.addr.to_string());
            }
            Err(e) if e.code() == witsock::ErrorCode::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(e),
        }
    }
    let senders: Vec<String> = senders.into_iter().collect();
    Ok(format!("ok received {got} from [{}]", senders.join(" ")))
}

fn listen(addr: SocketAddr, v6only: bool) -> witsock::Result<String> {
    let socket = Socket::new(domain(&addr), Type::Stream, None)?;
    if addr.is_ipv6() {
        socket.set_option(SocketOption::Ipv6Only(v6only))?;
    }
    socket.bind(&addr.into())?;
    socket.listen(16)?;
    Ok(format!("ok {}", socket.local_addr()?))
}

/// Takes `mib` MiB of memory, touching every page; prints what it got.
fn grow_memory(mib: usize) -> String {
    let mut blocks = Vec::new();
    for _ in 0..mib {
        blocks.push(vec![1u8; 1 << 20]);
    }
    format!("grow-memory: ok {} MiB", blocks.len())
}

/// Runs until stopped.
fn spin() -> String {
    let mut n = 0u64;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Blocks in one receive for `secs` seconds (a blocking socket with a
/// receive timeout and nothing to receive).
fn sleep(secs: u64) -> witsock::Result<String> {
    let socket = Socket::new(Domain::Ipv4, Type::Datagram, None)?;
    socket.bind(&loopback_v4())?;
    socket.set_option(SocketOption::ReceiveTimeout(Some(Duration::from_secs(
        secs,
    ))))?;
    let mut buf = [0u8; 4];
    let outcome = socket.recv(&mut buf, RecvFlags::EMPTY);
    Ok(format!("woke up: {outcome:?}"))
}

/// Blocks in `call` on a blocking socket for which nothing ever comes.
fn block(call: &str) -> witsock::Result<String> {
    let udp = || -> witsock::Result<Socket> {
        let socket = Socket::new(Domain::Ipv4, Type::Datagram, None)?;
        socket.bind(&loopback_v4())?;
        Ok(socket)
    };
    match call {
        "accept" => {
            let listener = Socket::new(Domain::Ipv4, Type::Stream, None)?;
            listener.bind(&loopback_v4())?;
            listener.listen(1)?;
            let accepted = listener.try_accept()?;
            Ok(format!("accepted {:?}", accepted.map(|(_, peer)| peer)))
        }
        "receive" => {
            let mut buf = [0u8; 4];
            let n = udp()?.recv(&mut buf, RecvFlags::EMPTY)?;
            Ok(format!("received {n}"))
        }
        "wait" => {
            let readiness = udp()?.wait(witsock::Interest::READABLE, None)?;
            Ok(format!("ready {readiness:?}"))
        }
        "poll" => {
            let (a, b) = (udp()?, udp()?);
            let mut entries = [
                witsock::PollEntry::new(&a, witsock::Interest::READABLE),
                witsock::PollEntry::new(&b, witsock::Interest::READABLE),
            ];
            witsock::poll(&mut entries, None)?;
            Ok("polled".into())
        }
        _ => die("block", USAGE),
    }
}

/// Connects to `addr` on a blocking socket, sends `message` and receives
/// it back whole.
fn echo_once(addr: SocketAddr, message: &str) -> witsock::Result<String> {
    let socket = Socket::new(domain(&addr), Type::Stream, None)?;
    socket.connect(&addr.into())?;
    let sent = socket.send(message.as_bytes(), SendFlags::EMPTY)?;
    let mut buf = vec![0u8; message.len()];
    let received = socket.recv(&mut buf, RecvFlags::WAIT_ALL)?;
    Ok(format!(
        "ok sent {sent} received {}",
        String::from_utf8_lossy(&buf[..received])
    ))
}

/// Connects to `addr`, sets a linger time of `secs`, queues data until
/// the peer's window and the send buffer are full, and closes: a close
/// that waits for the peer to take it all.
fn linger_close(addr: SocketAddr, secs: u64) -> witsock::Result<String> {
    let socket = Socket::new(domain(&addr), Type::Stream, None)?;
    socket.connect(&addr.into())?;
    socket.set_option(SocketOption::Linger(Some(Duration::from_secs(secs))))?;
    socket.set_nonblocking(true)?;
    let chunk = [7u8; 65536];
    let mut queued = 0usize;
    loop {
        match socket.send(&chunk, SendFlags::EMPTY) {
            Ok(n) => queued += n,
            Err(e) if e.is_would_block() => break,
            Err(e) => return Err(e),
        }
    }
    drop(socket);
    Ok(format!("ok queued {queued}"))
}

/// Binds `k` datagram sockets `{prefix}{i}/{name}`, sends a ping from each
/// to `server`, and counts the replies that come back within five seconds.
fn unix_dgram_spray(prefix: &str, name: &str, server: &str, k: usize) -> witsock::Result<String> {
    let server = SockAddr::unix(server)?;
    let mut sockets = Vec::new();
    for i in 0..k {
        let socket = Socket::new_nonblocking(Domain::Unix, Type::Datagram, None)?;
        socket.bind(&SockAddr::unix(format!("{prefix}{i}/{name}"))?)?;
        // The server's queue is short (ten datagrams on Linux): wait for
        // room rather than give up.
        socket.set_write_deadline(Some(Instant::now() + Duration::from_secs(5)));
        socket.send_to(b"ping", &server, SendFlags::EMPTY)?;
        sockets.push(socket);
    }
    let mut replies = 0;
    let end = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 16];
    while replies < k && Instant::now() < end {
        let mut got = false;
        for socket in &sockets {
            if socket.recv(&mut buf, RecvFlags::EMPTY).is_ok() {
                replies += 1;
                got = true;
            }
        }
        if !got {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    Ok(format!("ok sent {k} replies {replies}"))
}

/// The client's view of its peer while the listener lives and after it and
/// its accepted socket are gone.
fn unix_names(path: &str) -> witsock::Result<String> {
    let addr = SockAddr::unix(path)?;
    let listener = Socket::new(Domain::Unix, Type::Stream, None)?;
    listener.bind(&addr)?;
    listener.listen(4)?;
    let client = Socket::new(Domain::Unix, Type::Stream, None)?;
    client.connect(&addr)?;
    let (accepted, _) = listener.accept()?;
    let before = client.peer_addr()?;
    let local = accepted.local_addr()?;
    drop(accepted);
    drop(listener);
    let _ = std::fs::remove_file(path);
    let after = client.peer_addr()?;
    Ok(format!("ok peer {before} local {local} after {after}"))
}
