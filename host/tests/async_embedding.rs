//! Guests run with `Guest::run_async` on a tokio runtime: a guest blocked
//! in a socket call, however long, holds no worker thread, and a guest
//! that computes yields, so a two-thread runtime keeps serving every other
//! guest.

mod imports_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use imports_support::{probe, stdout};
use witsock_host::{GuestLimits, GuestStatus, Policy, RunOptions, RunOutcome, Stdio, WasiSockets};

/// Guests that wait for their echo all at once.
const CLIENTS: usize = 96;

/// How long the test waits for anything before it fails (never reached
/// when it passes).
const PATIENCE: Duration = Duration::from_secs(120);

/// Ends the whole test process, naming `what`, unless dropped within
/// [`PATIENCE`]: a regression that blocks every runtime thread would
/// otherwise hang the test rather than fail it (the runtime's own
/// timeouts cannot fire then).
struct Watchdog(Option<mpsc::Sender<()>>);

impl Watchdog {
    fn new(what: &'static str) -> Watchdog {
        let (done, wait) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(PATIENCE) {
                eprintln!("{what}: still blocked after {PATIENCE:?}, a runtime thread is held");
                std::process::exit(101);
            }
        });
        Watchdog(Some(done))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(done) = self.0.take() {
            // The watchdog thread may be gone already: nothing to tell.
            let _ = done.send(());
        }
    }
}

fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn options(args: &[&str]) -> RunOptions {
    RunOptions {
        args: args.iter().map(|a| a.to_string()).collect(),
        policy: Policy::loopback(),
        stdout: Stdio::Capture,
        stderr: Stdio::Capture,
        ..RunOptions::default()
    }
}

/// A server on loopback that accepts `clients` connections, and only once
/// it holds all of them echoes `len` bytes on each: every client must be
/// waiting for its echo at the same time. Returns its address and the
/// thread (which panics if the clients do not all come within
/// [`PATIENCE`]).
fn echo_all_at_once(clients: usize, len: usize) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
    let addr = listener.local_addr().expect("its address");
    listener.set_nonblocking(true).expect("non-blocking");
    let thread = std::thread::spawn(move || {
        let deadline = Instant::now() + PATIENCE;
        let mut connections: Vec<TcpStream> = Vec::new();
        while connections.len() < clients {
            match listener.accept() {
                Ok((stream, _)) => connections.push(stream),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(
                        Instant::now() < deadline,
                        "only {} of {clients} guests connected",
                        connections.len()
                    );
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
        for mut stream in connections {
            stream.set_nonblocking(false).expect("blocking");
            stream.set_read_timeout(Some(PATIENCE)).expect("a timeout");
            let mut buf = vec![0u8; len];
            stream.read_exact(&mut buf).expect("the guest's message");
            stream.write_all(&buf).expect("the echo");
        }
    });
    (addr, thread)
}

fn message(i: usize) -> String {
    format!("guest-{i:03}")
}

#[test]
fn a_hundred_guests_on_two_threads_with_four_blocked_forever() {
    let _watchdog = Watchdog::new("a hundred guests on two threads");
    let runtime = runtime(2);
    let (addr, server) = echo_all_at_once(CLIENTS, message(0).len());
    let guest = probe();
    runtime.block_on(async move {
        // Blocked for good, each in another call, before the others start.
        let blocked: Vec<_> = ["accept", "receive", "wait", "poll"]
            .into_iter()
            .map(|call| {
                let options = options(&["block", call]);
                tokio::spawn(async move { guest.run_async(&options).await })
            })
            .collect();
        let addr = addr.to_string();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let options = options(&["echo-client", &addr, &message(i)]);
                tokio::spawn(async move { guest.run_async(&options).await })
            })
            .collect();
        for (i, client) in clients.into_iter().enumerate() {
            let outcome = tokio::time::timeout(PATIENCE, client)
                .await
                .expect("every client got its echo")
                .expect("the task ran")
                .expect("the guest ran");
            assert_eq!(outcome.status, GuestStatus::Exited(0), "{outcome:?}");
            assert_eq!(
                stdout(&outcome).trim_end(),
                format!("echo-client: ok sent 9 received {}", message(i)),
                "{outcome:?}"
            );
        }
        for task in &blocked {
            assert!(!task.is_finished(), "a blocked guest returned");
        }
        // Dropping a run stops the guest and closes what it held.
        for task in blocked {
            task.abort();
            assert!(task.await.expect_err("aborted").is_cancelled());
        }
    });
    server.join().expect("the server saw every guest");
}

#[test]
fn a_computing_guest_yields_to_the_others_on_one_thread() {
    let _watchdog = Watchdog::new("a computing guest beside a client");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (addr, server) = echo_all_at_once(1, message(0).len());
    let guest = probe();
    runtime.block_on(async move {
        let spinner = tokio::spawn(async move { guest.run_async(&options(&["spin"])).await });
        let client = options(&["echo-client", &addr.to_string(), &message(0)]);
        let outcome = tokio::time::timeout(PATIENCE, guest.run_async(&client))
            .await
            .expect("the client ran beside the spinning guest")
            .expect("the guest ran");
        assert_eq!(
            stdout(&outcome).trim_end(),
            "echo-client: ok sent 9 received guest-000"
        );
        assert!(!spinner.is_finished(), "the spinning guest stopped");
        spinner.abort();
    });
    server.join().expect("the server saw the guest");
}

/// A close that lingers (its peer takes nothing until the guest's run has
/// returned) is left to a blocking thread: the guest's run, on a
/// one-thread runtime, returns while the close still waits, and the peer
/// then gets every byte and the end of the stream.
#[test]
fn a_lingering_close_holds_no_runtime_thread() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
    let addr = listener.local_addr().expect("its address");
    let (returned, wait_for_return) = mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("the guest connects");
        // Reads nothing until the guest's run returned (or, if it does not,
        // until PATIENCE, which unblocks a close that holds the thread).
        let returned_first = wait_for_return.recv_timeout(PATIENCE).is_ok();
        stream.set_read_timeout(Some(PATIENCE)).expect("a timeout");
        let mut received = Vec::new();
        stream
            .read_to_end(&mut received)
            .expect("the stream to its end");
        (returned_first, received.len())
    });
    let options = RunOptions {
        policy: Policy::loopback().allow_linger(Duration::from_secs(3600)),
        ..options(&["linger-close", &addr.to_string(), "3600"])
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let outcome = runtime
        .block_on(probe().run_async(&options))
        .expect("the guest ran");
    // The peer stops waiting at PATIENCE either way.
    let _ = returned.send(());
    let (returned_first, received) = peer.join().expect("the peer ran");
    assert!(
        returned_first,
        "the guest's run waited for its lingering close"
    );
    let text = stdout(&outcome);
    let queued: usize = text
        .trim_end()
        .strip_prefix("linger-close: ok queued ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(queued > 0, "{text}");
    assert_eq!(received, queued, "the peer got all the guest queued");
}

/// The probe's `sleep`: a blocking receive with a one-second
/// `receive-timeout`, on both drivers.
fn sleep_outcomes() -> [RunOutcome; 2] {
    let options = options(&["sleep", "1"]);
    let sync = probe().run(&options).expect("the guest ran");
    let asynchronous = runtime(1)
        .block_on(probe().run_async(&options))
        .expect("the guest ran");
    [sync, asynchronous]
}

#[test]
fn a_blocking_receive_returns_would_block_at_its_timeout_on_both_drivers() {
    for outcome in sleep_outcomes() {
        let text = stdout(&outcome);
        assert!(text.starts_with("sleep: woke up: Err("), "{text}");
        assert!(text.contains("WouldBlock"), "{text}");
        // The timeout is a lower bound the host must not cut short.
        assert!(
            outcome.run_time >= Duration::from_millis(900),
            "{outcome:?}"
        );
    }
}

#[test]
fn a_time_limit_stops_a_computing_guest_in_an_async_run() {
    let options = RunOptions {
        limits: GuestLimits {
            max_wall_time: Some(Duration::from_millis(300)),
            ..GuestLimits::default()
        },
        ..options(&["spin"])
    };
    let outcome = runtime(1)
        .block_on(probe().run_async(&options))
        .expect("the guest ran");
    match &outcome.status {
        GuestStatus::Trapped(why) => assert!(why.contains("interrupt"), "{why}"),
        status => panic!("the spinning guest {status}"),
    }
}

#[test]
fn wasmtime_wasis_sockets_are_for_synchronous_runs() {
    let options = RunOptions {
        wasi_sockets: WasiSockets::WasmtimeWasi,
        ..options(&["pair"])
    };
    let refused = runtime(1)
        .block_on(probe().run_async(&options))
        .expect_err("refused");
    assert!(
        refused.to_string().contains("synchronous runs only"),
        "{refused}"
    );
}
