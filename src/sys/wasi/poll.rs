//! Readiness on wasi:sockets: `wasi:io/poll` over the sockets' pollables
//! (the TCP socket's for connect and accept, the streams' for data), with
//! a `wasi:clocks` timer for the timeout.
//!
//! Each socket says, for the interest asked, which pollables to wait on
//! and what each one means once it fires, or what is ready at once (an
//! unbound UDP socket is always writable). The pollables are the sockets'
//! own, created once and reused; a call allocates only the list it hands
//! to `poll` (the bindings take and return lists).

use core::ptr::NonNull;
use core::time::Duration;
use std::sync::Arc;

use ::wasi::clocks::monotonic_clock;
use ::wasi::io::poll::Pollable;

use super::Socket;
use crate::{Interest, Readiness, Result};

/// What a fired pollable means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Signal {
    /// A connection can be accepted.
    Readable,
    /// A datagram may be there for the socket: a receive tells.
    Datagram,
    /// The TCP input stream may have data or end-of-stream: a receive
    /// tells.
    Input,
    /// Data can be sent.
    Writable,
    /// A connect in progress finished, one way or the other.
    Connect,
}

/// A pollable a socket lends for one poll: its own (TCP), or a shared
/// handle to one kept under the socket's lock (UDP).
enum Waitable<'a> {
    Borrowed(&'a Pollable),
    Shared(Arc<Pollable>),
}

impl Waitable<'_> {
    fn pollable(&self) -> &Pollable {
        match self {
            Waitable::Borrowed(p) => p,
            Waitable::Shared(p) => p,
        }
    }
}

struct Wait<'a> {
    entry: usize,
    signal: Signal,
    waitable: Waitable<'a>,
}

/// What the sockets of one poll wait on, filled in entry by entry.
pub(super) struct Watches<'a> {
    entry: usize,
    ready_now: Readiness,
    waits: Vec<Wait<'a>>,
}

impl<'a> Watches<'a> {
    /// Wait on one of the socket's own pollables.
    pub(super) fn borrowed(&mut self, pollable: &'a Pollable, signal: Signal) {
        self.push(Waitable::Borrowed(pollable), signal);
    }

    /// Wait on a pollable shared with the socket.
    pub(super) fn shared(&mut self, pollable: Arc<Pollable>, signal: Signal) {
        self.push(Waitable::Shared(pollable), signal);
    }

    /// Ready at once, without waiting.
    pub(super) fn ready(&mut self, readiness: Readiness) {
        self.ready_now |= readiness;
    }

    fn push(&mut self, waitable: Waitable<'a>, signal: Signal) {
        self.waits.push(Wait {
            entry: self.entry,
            signal,
            waitable,
        });
    }
}

/// One socket, what to wait for, and what the last poll found.
///
/// It points at the socket: the portable `PollEntry<'a>` that wraps it
/// borrows the socket for as long as the entry lives.
pub(crate) struct PollEntry {
    socket: NonNull<Socket>,
    interest: Interest,
    readiness: Readiness,
}

// SAFETY: the pointer stands for a shared borrow of the socket (see above),
// and `Socket` is Sync; an entry is as sendable as `&Socket`.
unsafe impl Send for PollEntry {}
// SAFETY: as for Send: `&PollEntry` gives no more than `&Socket` does.
unsafe impl Sync for PollEntry {}

impl PollEntry {
    #[inline]
    pub(crate) fn new(socket: &Socket, interest: Interest) -> PollEntry {
        PollEntry {
            socket: NonNull::from(socket),
            interest,
            readiness: Readiness::EMPTY,
        }
    }

    #[inline]
    pub(crate) fn readiness(&self) -> Readiness {
        self.readiness
    }

    fn socket<'s>(&self) -> &'s Socket {
        // SAFETY: the socket outlives the entry (see the type's docs), and
        // every entry of a poll lives until the poll returns.
        unsafe { self.socket.as_ref() }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Waits until an entry is ready or `timeout` passes; returns how many are
/// ready (0 on timeout).
pub(crate) fn poll(entries: &mut [PollEntry], timeout: Option<Duration>) -> Result<usize> {
    let deadline = timeout.map(|t| monotonic_clock::now().saturating_add(nanos(t)));
    loop {
        let mut watches = Watches {
            entry: 0,
            ready_now: Readiness::EMPTY,
            waits: Vec::new(),
        };
        for (i, entry) in entries.iter_mut().enumerate() {
            watches.entry = i;
            watches.ready_now = Readiness::EMPTY;
            entry.socket().watch(entry.interest, &mut watches);
            entry.readiness = watches.ready_now;
        }
        let ready_now = entries.iter().any(|e| !e.readiness.is_empty());
        // Something is ready already: look at the rest without waiting.
        // Nothing to wait on and no timeout: wait forever, as poll(2) does
        // (wasi:io/poll traps on an empty list).
        let timer_ns = match deadline {
            _ if ready_now => Some(0),
            Some(d) => Some(d.saturating_sub(monotonic_clock::now())),
            None if watches.waits.is_empty() => Some(u64::MAX),
            None => None,
        };
        let timer = timer_ns.map(monotonic_clock::subscribe_duration);
        let mut list: Vec<&Pollable> = watches
            .waits
            .iter()
            .map(|w| w.waitable.pollable())
            .collect();
        list.extend(timer.as_ref());
        let fired = ::wasi::io::poll::poll(&list);
        drop(list);

        let mut timer_fired = false;
        for index in fired {
            match watches.waits.get(index as usize) {
                Some(wait) => {
                    let entry = &mut entries[wait.entry];
                    entry.readiness |= entry.socket().signal_readiness(entry.interest, wait.signal);
                }
                None => timer_fired = true,
            }
        }
        let count = entries.iter().filter(|e| !e.readiness.is_empty()).count();
        // A pollable can fire with nothing to report (a connect that is
        // still in progress after all): wait again for the time left.
        if count > 0 || timer_fired {
            return Ok(count);
        }
    }
}
