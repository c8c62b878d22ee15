//! Batched datagrams: `send-batch` and `receive-batch` of
//! `wit/sockets.wit`, with their `outgoing-datagram` and
//! `incoming-datagram` records.
//!
//! Both calls work on slices the caller owns and may keep from one call to
//! the next: neither allocates. Natively, Linux sends and receives
//! [`MAX_BATCH`] datagrams per sendmmsg(2)/recvmmsg(2), with the message
//! headers on the stack, and hands runs of equal-sized UDP datagrams to
//! one destination to the kernel as one segmentation-offload message (see
//! [`Socket::send_batch`]); macOS loops over sendto(2)/recvmsg(2)
//! ([`Capabilities::batched_datagrams`](crate::Capabilities::batched_datagrams)
//! says `Emulated` there).
//!
//! ```
//! use witsock::{Domain, IncomingDatagram, OutgoingDatagram, SockAddr, Socket, Type};
//!
//! # fn main() -> witsock::Result<()> {
//! let any: SockAddr = "127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into();
//! let receiver = Socket::new_nonblocking(Domain::Ipv4, Type::Datagram, None)?;
//! receiver.bind(&any)?;
//! let to = receiver.local_addr()?;
//! let sender = Socket::new(Domain::Ipv4, Type::Datagram, None)?;
//! sender.bind(&any)?;
//!
//! let payloads = [&b"one"[..], b"two", b"three"];
//! let out = payloads.map(|p| OutgoingDatagram::new(p, &to));
//! assert_eq!(sender.send_batch(&out)?, 3);
//!
//! // Buffers and slots are set up once and reused by every call.
//! let mut storage = [[0u8; 1500]; 8];
//! let mut slots = storage.each_mut().map(|b| IncomingDatagram::new(b));
//! receiver.set_nonblocking(false)?;
//! let n = receiver.recv_batch(&mut slots)?;
//! assert!(n >= 1);
//! assert_eq!(slots[0].data(), b"one");
//! assert_eq!(slots[0].addr(), &sender.local_addr()?);
//! # Ok(())
//! # }
//! ```

use core::fmt;
use std::time::Instant;

use crate::sys::RawAddr;
use crate::{Error, ErrorCode, Interest, Operation, RecvMeta, Result, SockAddr, Socket};

/// The most datagrams one [`Socket::recv_batch`] call receives, and the
/// most one sendmmsg(2) carries ([`Socket::send_batch`] sends longer
/// batches in several calls).
///
/// The message headers of one such call live on the stack (about 13 KiB
/// natively), so a batch never allocates.
pub const MAX_BATCH: usize = 64;

/// One datagram for [`Socket::send_batch`]: `outgoing-datagram` in the WIT.
///
/// It borrows the payload and the destination, so building a batch copies
/// neither.
#[derive(Clone, Copy, Debug)]
pub struct OutgoingDatagram<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) addr: Option<&'a SockAddr>,
}

impl<'a> OutgoingDatagram<'a> {
    /// `data` for `addr`.
    #[inline]
    pub const fn new(data: &'a [u8], addr: &'a SockAddr) -> OutgoingDatagram<'a> {
        OutgoingDatagram {
            data,
            addr: Some(addr),
        }
    }

    /// `data` for the peer of a connected socket.
    #[inline]
    pub const fn connected(data: &'a [u8]) -> OutgoingDatagram<'a> {
        OutgoingDatagram { data, addr: None }
    }

    /// The payload.
    #[inline]
    pub const fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The destination; `None` on a connected socket.
    #[inline]
    pub const fn addr(&self) -> Option<&'a SockAddr> {
        self.addr
    }
}

/// A slot for one datagram of [`Socket::recv_batch`]: a buffer the caller
/// provides, and once filled the datagram's length, sender and truncation
/// (`incoming-datagram` in the WIT).
///
/// Keep the slots from one call to the next: each call overwrites the
/// slots it fills and leaves the others as they were.
pub struct IncomingDatagram<'a> {
    pub(crate) buf: &'a mut [u8],
    pub(crate) len: usize,
    pub(crate) addr: SockAddr,
    pub(crate) truncated: bool,
}

impl<'a> IncomingDatagram<'a> {
    /// An empty slot receiving into `buf`; a datagram longer than `buf` is
    /// cut and marked [truncated](IncomingDatagram::is_truncated).
    #[inline]
    pub fn new(buf: &'a mut [u8]) -> IncomingDatagram<'a> {
        IncomingDatagram {
            buf,
            len: 0,
            addr: SockAddr {
                raw: RawAddr::zeroed(),
            },
            truncated: false,
        }
    }

    /// The payload received: the start of the buffer.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The bytes received.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the datagram received was empty (or none was received).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The sender. Before a datagram is received, an address of no known
    /// family.
    #[inline]
    pub fn addr(&self) -> &SockAddr {
        &self.addr
    }

    /// The datagram was longer than the buffer and was cut (MSG_TRUNC).
    #[inline]
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// Length, sender and truncation together, as
    /// [`Socket::recv_from`] reports them.
    #[inline]
    pub fn meta(&self) -> RecvMeta {
        RecvMeta {
            len: self.len,
            addr: self.addr,
            truncated: self.truncated,
        }
    }

    /// The whole buffer, to fill it with something else between calls.
    #[inline]
    pub fn buffer_mut(&mut self) -> &mut [u8] {
        self.buf
    }

    /// Gives the buffer back.
    #[inline]
    pub fn into_buffer(self) -> &'a mut [u8] {
        self.buf
    }
}

impl fmt::Debug for IncomingDatagram<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncomingDatagram")
            .field("capacity", &self.buf.len())
            .field("len", &self.len)
            .field("addr", &self.addr)
            .field("truncated", &self.truncated)
            .finish()
    }
}

impl Socket {
    /// Sends several datagrams (sendmmsg(2) on Linux, [`MAX_BATCH`] per
    /// call; one sendto(2) each on macOS) and returns how many were sent:
    /// the first that many, in order.
    ///
    /// An error is returned only when none was sent. When fewer than all
    /// were sent, the next datagram was not: sending again from there
    /// either sends it or reports its error. An empty batch returns
    /// `Ok(0)` without a syscall. Like [`send_to`](Socket::send_to), a
    /// non-blocking socket with a write deadline waits for room until the
    /// deadline.
    ///
    /// On Linux, each run of consecutive UDP datagrams to the same
    /// destination (the same address, or all to the connected peer) with
    /// the same length (the last of a run may be shorter) goes to the
    /// kernel as one message with a `UDP_SEGMENT` control message: the
    /// kernel builds the run's datagrams in one pass through the stack
    /// (generic segmentation offload) and the receiver still gets them one
    /// by one, with the same contents and boundaries. A run holds at most
    /// 64 datagrams and 65 507 bytes; empty datagrams and runs of one go
    /// out as plain datagrams. When the kernel, the device or the route
    /// refuses segmentation (EIO, EINVAL or ENOPROTOOPT), the datagrams are
    /// sent again without it, and the refusal is remembered for the whole
    /// process: segments of that size and larger (any size, unless only a
    /// segment too large for the route's MTU was refused) are no longer
    /// coalesced. Deciding costs one getsockopt(2) per call that has a run
    /// (only UDP segments; other protocols would take a run for one
    /// datagram).
    ///
    /// # Errors
    /// As [`send_to`](Socket::send_to): `would-block`, `message-size`,
    /// `access-denied`, `invalid-argument` (address family),
    /// `not-connected` (no address on an unconnected socket); `timed-out`
    /// past the write deadline. The error names the first datagram's
    /// address.
    ///
    /// # References
    /// [sendmmsg(2)](https://man7.org/linux/man-pages/man2/sendmmsg.2.html)
    pub fn send_batch(&self, datagrams: &[OutgoingDatagram<'_>]) -> Result<usize> {
        let Some(first) = datagrams.first() else {
            return Ok(0);
        };
        // Batches are for datagram sockets. Destinations are checked as
        // `send_to` checks them; the batch stops before the first one
        // refused.
        let kind = self.kind();
        if matches!(kind, Some((_, crate::Type::Stream))) {
            return Err(Error::new(ErrorCode::OperationNotSupported).during(Operation::Send));
        }
        let refused = datagrams.iter().enumerate().find_map(|(i, d)| {
            let addr = d.addr?;
            let refusal =
                crate::state::check_remote(addr, kind, |name| self.option_on(name)).err()?;
            Some((i, refusal))
        });
        let datagrams = match refused {
            Some((0, e)) => return Err(batch_send_error(e, first)),
            Some((n, _)) => &datagrams[..n],
            None => datagrams,
        };
        loop {
            match self.inner.send_batch(datagrams) {
                Err(e) if e.is_would_block() => {
                    self.wait_for_batch(e, Interest::WRITABLE, self.write_deadline())
                        .map_err(|e| batch_send_error(e, first))?;
                }
                r => return r.map_err(|e| batch_send_error(e, first)),
            }
        }
    }

    /// Receives up to `slots.len()` datagrams, at most [`MAX_BATCH`], into
    /// the slots' buffers (recvmmsg(2) on Linux, one call; a loop of
    /// recvmsg(2) on macOS) and returns how many: the first that many
    /// slots are filled.
    ///
    /// It returns at least one datagram, or `would-block` on a non-blocking
    /// socket with nothing queued. A blocking socket waits for the first
    /// datagram only, then takes what else is queued (MSG_WAITFORONE). A
    /// non-blocking socket with a read deadline waits for the first
    /// datagram until the deadline, like [`recv_from`](Socket::recv_from).
    /// No slots returns `Ok(0)` without a syscall. A connected socket
    /// receives only from its peer: natively, while what others queued
    /// before the connect is being dropped, this takes one recvmsg(2) per
    /// datagram (see [`start_connect`](Socket::start_connect)).
    ///
    /// # Errors
    /// As [`recv_from`](Socket::recv_from): `would-block`,
    /// `not-connected`, `connection-refused`; `timed-out` past the read
    /// deadline.
    ///
    /// # References
    /// [recvmmsg(2)](https://man7.org/linux/man-pages/man2/recvmmsg.2.html)
    pub fn recv_batch(&self, slots: &mut [IncomingDatagram<'_>]) -> Result<usize> {
        if slots.is_empty() {
            return Ok(0);
        }
        // Batches are for datagram sockets.
        if self.is_stream() {
            return Err(Error::new(ErrorCode::OperationNotSupported).during(Operation::Receive));
        }
        let len = slots.len().min(MAX_BATCH);
        let slots = &mut slots[..len];
        loop {
            match self.inner.recv_batch(slots) {
                Err(e) if e.is_would_block() => {
                    self.wait_for_batch(e, Interest::READABLE, self.read_deadline())
                        .map_err(|e| e.during(Operation::Receive))?;
                }
                r => return r.map_err(|e| e.during(Operation::Receive)),
            }
        }
    }

    /// After a would-block: without a deadline, hands `would_block` back;
    /// with one, waits until ready, or fails with `timed-out` once the
    /// deadline has passed.
    #[cold]
    fn wait_for_batch(
        &self,
        would_block: Error,
        interest: Interest,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let Some(deadline) = deadline else {
            return Err(would_block);
        };
        loop {
            let left = match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => left,
                _ => return Err(Error::new(crate::ErrorCode::TimedOut)),
            };
            if !self.wait(interest, Some(left))?.is_empty() {
                return Ok(());
            }
        }
    }
}

/// A send error, with the operation and the first datagram's address (the
/// one that failed: nothing was sent).
#[inline]
fn batch_send_error(e: Error, first: &OutgoingDatagram<'_>) -> Error {
    let e = e.during(Operation::Send);
    match first.addr {
        Some(addr) => e.at(addr),
        None => e,
    }
}
