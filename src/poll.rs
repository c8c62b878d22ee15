//! Waiting on many sockets at once: `poll` in `wit/sockets.wit`.

use core::marker::PhantomData;
use core::time::Duration;

use crate::{sys, Interest, Operation, Readiness, Result, Socket};

/// One socket and what to wait for, filled in with what was found.
///
/// Natively this is a `struct pollfd` and a slice of them goes to poll(2)
/// as it is: waiting on many sockets allocates nothing.
#[repr(transparent)]
pub struct PollEntry<'a> {
    inner: sys::PollEntry,
    _socket: PhantomData<&'a Socket>,
}

impl<'a> PollEntry<'a> {
    /// Waits for `interest` on `socket`.
    #[inline]
    pub fn new(socket: &'a Socket, interest: Interest) -> PollEntry<'a> {
        PollEntry {
            inner: sys::PollEntry::new(&socket.inner, interest),
            _socket: PhantomData,
        }
    }

    /// What the last [`poll`] found for this socket; empty if not ready.
    #[inline]
    pub fn readiness(&self) -> Readiness {
        self.inner.readiness()
    }
}

impl core::fmt::Debug for PollEntry<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PollEntry")
            .field("readiness", &self.readiness())
            .finish()
    }
}

/// Waits until at least one entry is ready or `timeout` passes (None:
/// forever), and returns how many are ready (0 on timeout). EINTR is
/// retried with the time left.
///
/// # Errors
/// `invalid-argument` for an empty list or one too long for the platform.
///
/// # References
/// [poll(2)](https://man7.org/linux/man-pages/man2/poll.2.html)
pub fn poll(entries: &mut [PollEntry<'_>], timeout: Option<Duration>) -> Result<usize> {
    if entries.is_empty() {
        return Err(crate::Error::new(crate::ErrorCode::InvalidArgument).during(Operation::Wait));
    }
    // SAFETY: PollEntry is repr(transparent) over sys::PollEntry, so the
    // slices have one layout; the borrow of `entries` covers the new slice.
    let raw = unsafe {
        core::slice::from_raw_parts_mut(
            entries.as_mut_ptr().cast::<sys::PollEntry>(),
            entries.len(),
        )
    };
    sys::poll(raw, timeout).map_err(|e| e.during(Operation::Wait))
}
