//! Blocking calls of guests whose sockets are in blocking mode.
//!
//! The host socket behind every guest socket is non-blocking. A call that
//! may block is written once, as an *attempt* ([`Step`]): it either
//! finishes, or says what it waits for (readiness of one socket, of any of
//! several, or a pause), and a driver waits and attempts again:
//!
//! - [`block`] waits in poll(2), for synchronous stores;
//! - [`wait`] awaits the socket's readiness on the tokio reactor, for
//!   async stores, so that a guest blocked in `try-accept` or `receive`
//!   holds no host thread: the embedder's workers go on with other guests.
//!
//! The timeouts of a blocking socket (`receive-timeout`, SO_RCVTIMEO, for
//! receives and accepts; `send-timeout`, SO_SNDTIMEO, for sends and
//! connects) bound the wait as the kernel bounds it. Once the wait is over
//! (the timeout passed), the driver makes one last attempt that may not
//! wait: it returns what the call returns on a non-blocking socket, with
//! whatever progress was made (bytes sent or received so far).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use witsock::{Interest, OptionName, SocketOption};

use crate::sockets::resource::SharedSocket;

/// How long a wait with nothing to watch (a Unix connect to a listener
/// whose backlog is full) pauses before the next attempt.
const PAUSE: Duration = Duration::from_millis(1);

/// What one attempt of a call came to (its errors, for the guest or
/// traps, go beside it: `Result<Step<R>, E>`).
pub(crate) enum Step<R> {
    /// The call is over: its value.
    Done(R),
    /// It would block: attempt again after this wait.
    Wait(Wait),
}

/// What a blocking call waits for before its next attempt.
pub(crate) struct Wait {
    on: Waiting,
    timeout: Timeout,
}

/// The readiness a [`Wait`] waits for.
enum Waiting {
    /// One socket's.
    Socket(Arc<SharedSocket>, Interest),
    /// Any of these sockets' (`poll`).
    Any(Vec<(Arc<SharedSocket>, Interest)>),
    /// Nothing the reactor can watch: a short pause.
    Pause,
}

/// How long a blocking call may wait in all.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Timeout {
    /// The socket's `receive-timeout` (SO_RCVTIMEO).
    Receive,
    /// The socket's `send-timeout` (SO_SNDTIMEO).
    Send,
    /// One the call names (`wait`, `poll`): none is forever.
    Given(Option<Duration>),
}

/// Whether an attempt may still wait: false for the last one, once the
/// timeout has passed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Attempt {
    may_wait: bool,
}

impl Attempt {
    /// Whether this attempt may still wait.
    #[inline]
    pub(crate) fn may_wait(self) -> bool {
        self.may_wait
    }

    /// A wait for `shared`'s readiness when this attempt may wait and
    /// `blocks`; the call's result `done` otherwise.
    #[inline]
    pub(crate) fn wait_for<R, E>(
        self,
        blocks: bool,
        shared: &Arc<SharedSocket>,
        interest: Interest,
        timeout: Timeout,
        done: Result<R, E>,
    ) -> Result<Step<R>, E> {
        if blocks && self.may_wait {
            Ok(Step::Wait(Wait::on(shared, interest, timeout)))
        } else {
            done.map(Step::Done)
        }
    }
}

impl Wait {
    /// Wait for one socket's readiness.
    #[inline]
    pub(crate) fn on(shared: &Arc<SharedSocket>, interest: Interest, timeout: Timeout) -> Wait {
        Wait {
            on: Waiting::Socket(shared.clone(), interest),
            timeout,
        }
    }

    /// Wait for the readiness of any of `entries`.
    pub(crate) fn any(entries: Vec<(Arc<SharedSocket>, Interest)>, timeout: Timeout) -> Wait {
        Wait {
            on: Waiting::Any(entries),
            timeout,
        }
    }

    /// Pause, then attempt again.
    pub(crate) fn pause(timeout: Timeout) -> Wait {
        Wait {
            on: Waiting::Pause,
            timeout,
        }
    }
}

/// When a blocking call's wait ends.
#[derive(Clone, Copy, Debug)]
enum Deadline {
    Never,
    At(Instant),
}

impl Deadline {
    /// The deadline of a wait that starts now.
    fn of(wait: &Wait) -> Deadline {
        let timeout = match wait.timeout {
            Timeout::Given(timeout) => timeout,
            Timeout::Receive | Timeout::Send => socket_timeout(wait),
        };
        match timeout.and_then(|t| Instant::now().checked_add(t)) {
            Some(at) => Deadline::At(at),
            None => Deadline::Never,
        }
    }

    /// The time left: `None` once it has passed, `Some(None)` for no
    /// deadline.
    fn left(self) -> Option<Option<Duration>> {
        match self {
            Deadline::Never => Some(None),
            Deadline::At(at) => match at.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(Some(left)),
                _ => None,
            },
        }
    }
}

/// The socket's own timeout for the wait (the host socket keeps the
/// option the guest set, which the kernel ignores on a non-blocking
/// socket); none when it cannot be read.
fn socket_timeout(wait: &Wait) -> Option<Duration> {
    let Waiting::Socket(shared, _) = &wait.on else {
        return None;
    };
    let name = match wait.timeout {
        Timeout::Send => OptionName::SendTimeout,
        _ => OptionName::ReceiveTimeout,
    };
    match shared.socket.option(name) {
        Ok(SocketOption::ReceiveTimeout(t) | SocketOption::SendTimeout(t)) => t,
        _ => None,
    }
}

/// An attempt that asks to wait when it may not: a host bug, reported as
/// one rather than a guest spinning.
fn waited_on_last_attempt() -> wasmtime::Error {
    wasmtime::format_err!("witsock host: a blocking call asked to wait after its timeout")
}

/// One blocking call between its attempts: the deadline, set at its
/// first wait, and whether the next attempt may still wait.
struct Call {
    deadline: Option<Deadline>,
    may_wait: bool,
}

/// What a driver does after an attempt.
enum Next<R> {
    /// Return this.
    Done(R),
    /// Wait, at most the time left (`None`: no limit), then attempt again.
    Wait(Wait, Option<Duration>),
    /// Make the last attempt now: the time is up.
    Again,
}

impl Call {
    fn new() -> Call {
        Call {
            deadline: None,
            may_wait: true,
        }
    }

    /// Makes one attempt and says what comes next.
    fn attempt<R, E: From<wasmtime::Error>>(
        &mut self,
        attempt: &mut impl FnMut(Attempt) -> Result<Step<R>, E>,
    ) -> Result<Next<R>, E> {
        let may_wait = self.may_wait;
        let wait = match attempt(Attempt { may_wait })? {
            Step::Done(result) => return Ok(Next::Done(result)),
            Step::Wait(_) if !may_wait => return Err(waited_on_last_attempt().into()),
            Step::Wait(wait) => wait,
        };
        let deadline = *self.deadline.get_or_insert_with(|| Deadline::of(&wait));
        Ok(match deadline.left() {
            Some(left) => Next::Wait(wait, left),
            None => {
                self.may_wait = false;
                Next::Again
            }
        })
    }
}

/// Runs a blocking call to its end in the calling thread, waiting in
/// poll(2) between attempts.
pub(crate) fn block<R, E: From<wasmtime::Error>>(
    mut attempt: impl FnMut(Attempt) -> Result<Step<R>, E>,
) -> Result<R, E> {
    let mut call = Call::new();
    loop {
        let (wait, left) = match call.attempt(&mut attempt)? {
            Next::Done(result) => return Ok(result),
            Next::Again => continue,
            Next::Wait(wait, left) => (wait, left),
        };
        // Errors count as ready: the next attempt reports them.
        match &wait.on {
            Waiting::Socket(shared, interest) => {
                let _ = shared.socket.wait(*interest, left);
            }
            Waiting::Any(entries) => {
                let mut polled: Vec<witsock::PollEntry<'_>> = entries
                    .iter()
                    .map(|(shared, interest)| witsock::PollEntry::new(&shared.socket, *interest))
                    .collect();
                let _ = witsock::poll(&mut polled, left);
            }
            Waiting::Pause => std::thread::sleep(left.map_or(PAUSE, |left| left.min(PAUSE))),
        }
    }
}

/// Runs a blocking call to its end, awaiting readiness on the tokio
/// reactor between attempts (the runtime needs its time driver for
/// timeouts, as wasmtime-wasi's clocks do).
pub(crate) async fn wait<R, E: From<wasmtime::Error>>(
    mut attempt: impl FnMut(Attempt) -> Result<Step<R>, E> + Send,
) -> Result<R, E> {
    let mut call = Call::new();
    loop {
        let (wait, left) = match call.attempt(&mut attempt)? {
            Next::Done(result) => return Ok(result),
            Next::Again => continue,
            Next::Wait(wait, left) => (wait, left),
        };
        let ready = ready(&wait.on);
        match left {
            None => ready.await,
            // Timing out is the end of the wait, not an error.
            Some(left) => drop(tokio::time::timeout(left, ready).await),
        }
    }
}

/// Waits until `on` is ready.
async fn ready(on: &Waiting) {
    match on {
        Waiting::Socket(shared, interest) => shared.ready(*interest).await,
        Waiting::Any(entries) => {
            let mut waits: Vec<Pin<Box<dyn Future<Output = ()> + Send + '_>>> = entries
                .iter()
                .map(|(shared, interest)| {
                    Box::pin(shared.ready(*interest)) as Pin<Box<dyn Future<Output = ()> + Send>>
                })
                .collect();
            std::future::poll_fn(|cx| {
                for wait in &mut waits {
                    if wait.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(());
                    }
                }
                Poll::Pending
            })
            .await;
        }
        Waiting::Pause => tokio::time::sleep(PAUSE).await,
    }
}
