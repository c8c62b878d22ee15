//! Batched datagrams: sendmmsg(2)/recvmmsg(2) on Linux with the message
//! headers on the stack, a loop of sendto(2)/recvmsg(2) on macOS.
//!
//! On Linux a send coalesces each run of UDP datagrams to one destination
//! with one segment size into one message carrying a `UDP_SEGMENT` control
//! message (the payloads stay where they are: one iovec each), so that the
//! kernel builds the run's datagrams in one pass. Receiving stays one
//! datagram per slot: `UDP_GRO` would change what each receive returns.
//!
//! Both take the slices as the portable layer hands them over (never
//! empty; at most [`MAX_BATCH`] slots to receive into) and return the
//! count done, or an error only when nothing was done.
//!
//! While a connected UDP socket may still hold datagrams from others that
//! were queued before its connect, a batch receives one datagram at a
//! time, dropping those (see `Socket::datagram_connected`).

use std::io::IoSliceMut;

use crate::sys::unix::Socket;
use crate::{IncomingDatagram, Result};

impl Socket {
    /// Receives up to `slots.len()` datagrams: recvmmsg(2) on Linux, a
    /// loop of recvmsg(2) on macOS.
    #[inline]
    pub(crate) fn recv_batch(&self, slots: &mut [IncomingDatagram<'_>]) -> Result<usize> {
        if self.filtering() {
            if let Some(n) = self.recv_batch_from_peer(slots)? {
                return Ok(n);
            }
        }
        self.recv_mmsg(slots)
    }

    /// The datagrams from the peer that are queued, one recvmsg(2) each,
    /// dropping those from others; `Ok(None)` when none was queued (then
    /// the flag is clear and the caller receives the normal way).
    #[cold]
    fn recv_batch_from_peer(&self, slots: &mut [IncomingDatagram<'_>]) -> Result<Option<usize>> {
        let mut received = 0;
        for slot in slots.iter_mut() {
            let mut iov = [IoSliceMut::new(&mut *slot.buf)];
            match self.recv_from_peer(&mut iov, 0) {
                Ok(Some((len, from, msg_flags))) => {
                    slot.len = len;
                    slot.truncated = msg_flags & libc::MSG_TRUNC != 0;
                    slot.addr.raw = from;
                    received += 1;
                }
                // Nothing more from before the connect: what is queued
                // next is for the next call.
                Ok(None) => break,
                Err(e) if received == 0 => return Err(e),
                // As a batch does: the error is for the next receive.
                Err(_) => break,
            }
        }
        Ok((received > 0).then_some(received))
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod mmsg {
    use core::mem::{self, MaybeUninit};
    use core::ptr;
    use core::sync::atomic::{AtomicUsize, Ordering};

    use crate::sys::unix::{cvt_retry, platform, Socket};
    use crate::{Error, ErrorCode, IncomingDatagram, OutgoingDatagram, Result, MAX_BATCH};

    /// An uninitialised array of `MAX_BATCH` items; only the first `n` used
    /// by a call are written and read.
    type Stack<T> = [MaybeUninit<T>; MAX_BATCH];

    /// The most segments the kernel splits one UDP_SEGMENT send into
    /// (UDP_MAX_SEGMENTS in linux/udp.h).
    const MAX_SEGMENTS: usize = 64;

    /// The most payload one UDP_SEGMENT send carries: what fits one IPv4
    /// packet's 16-bit length (65535 - 20 - 8).
    const MAX_SEGMENTED_PAYLOAD: usize = 65_507;

    /// Segments up to this size fit the smallest IPv6 path MTU
    /// (1280 - 40 - 8), so a route's MTU cannot be why the kernel refuses
    /// them: a refusal at this size means no GSO at all.
    const FITS_ANY_PATH: usize = 1232;

    /// The largest segment size `send_batch` still coalesces, process-wide.
    /// A refused GSO send lowers it (see [`Gso::refused`]), to zero when
    /// the kernel or the device cannot segment at all, so that later calls
    /// do not pay for the refusal again.
    static SEGMENT_LIMIT: AtomicUsize = AtomicUsize::new(MAX_SEGMENTED_PAYLOAD);

    /// One control message: a `UDP_SEGMENT` cmsg and its u16 segment size,
    /// laid out as CMSG_SPACE(2) bytes.
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct SegmentCmsg {
        header: libc::cmsghdr,
        segment_size: u16,
        padding: [u8; SEGMENT_CMSG_PADDING],
    }

    // SAFETY: CMSG_SPACE and CMSG_LEN only compute sizes.
    const SEGMENT_CMSG_SPACE: usize = unsafe { libc::CMSG_SPACE(2) } as usize;
    // SAFETY: as above.
    const SEGMENT_CMSG_LEN: usize = unsafe { libc::CMSG_LEN(2) } as usize;
    const SEGMENT_CMSG_PADDING: usize = SEGMENT_CMSG_SPACE - SEGMENT_CMSG_LEN;

    // The segment size sits where CMSG_DATA points, and the buffer is
    // exactly CMSG_SPACE(2) long.
    const _: () = assert!(mem::offset_of!(SegmentCmsg, segment_size) == SEGMENT_CMSG_LEN - 2);
    const _: () = assert!(mem::size_of::<SegmentCmsg>() == SEGMENT_CMSG_SPACE);

    /// Whether this `send_batch` call coalesces, decided when a run of two
    /// first shows up.
    struct Gso {
        /// The largest segment size coalesced; `None` until the socket was
        /// asked.
        limit: Option<usize>,
        /// A GSO send the kernel refused: its segment size and errno, noted
        /// process-wide once a plain resend shows the kernel accepts the
        /// datagrams themselves.
        refusal: Option<(usize, i32)>,
    }

    impl Gso {
        /// The largest segment size to coalesce on `socket`, asking the
        /// socket the first time.
        fn limit(&mut self, socket: &Socket) -> usize {
            *self
                .limit
                .get_or_insert_with(|| socket.segmentation_limit())
        }

        /// The kernel refused a GSO send of `segment_size`-byte segments
        /// with `errno`: stop coalescing for this call.
        fn refused(&mut self, segment_size: usize, errno: i32) {
            self.limit = Some(0);
            self.refusal = Some((segment_size, errno));
        }

        /// Datagrams went out after a refusal, so the refusal was about
        /// GSO, not the datagrams: remember it for every later call.
        fn confirm_refusal(&mut self) {
            if let Some((segment_size, errno)) = self.refusal.take() {
                // EINVAL for a segment too large for the route's MTU says
                // nothing about smaller ones.
                let limit = if errno == libc::EINVAL && segment_size > FITS_ANY_PATH {
                    segment_size - 1
                } else {
                    0
                };
                SEGMENT_LIMIT.fetch_min(limit, Ordering::Relaxed);
            }
        }
    }

    /// Errors with which the kernel refuses a UDP_SEGMENT send it would take
    /// as plain datagrams: no checksum offload or an IPsec route (EIO), a
    /// segment larger than the path MTU or UDP checksums off (EINVAL), a
    /// kernel without UDP_SEGMENT (ENOPROTOOPT).
    fn is_gso_refusal(errno: i32) -> bool {
        matches!(errno, libc::EIO | libc::EINVAL | libc::ENOPROTOOPT)
    }

    /// Same destination: both to the connected peer, or the same address.
    #[inline]
    fn same_destination(a: &OutgoingDatagram<'_>, b: &OutgoingDatagram<'_>) -> bool {
        match (a.addr, b.addr) {
            (None, None) => true,
            (Some(x), Some(y)) => ptr::eq(x, y) || x.raw.as_bytes() == y.raw.as_bytes(),
            _ => false,
        }
    }

    /// How many datagrams from the start of `rest` make one message: a run
    /// to one destination of equal, non-empty lengths (the last may be
    /// shorter), within the kernel's segment count and payload limits and
    /// the segment size limit of `gso`; 1 when none follows.
    #[inline]
    fn run_length(rest: &[OutgoingDatagram<'_>], socket: &Socket, gso: &mut Gso) -> usize {
        let first = &rest[0];
        let segment = first.data.len();
        let Some(second) = rest.get(1) else {
            return 1;
        };
        if segment == 0
            || !(1..=segment).contains(&second.data.len())
            || segment + second.data.len() > MAX_SEGMENTED_PAYLOAD
            || !same_destination(first, second)
            || segment > gso.limit(socket)
        {
            return 1;
        }
        let mut total = segment + second.data.len();
        let mut end = 2;
        if second.data.len() < segment {
            return end;
        }
        while end < rest.len().min(MAX_SEGMENTS) {
            let d = &rest[end];
            let len = d.data.len();
            if !(1..=segment).contains(&len)
                || total + len > MAX_SEGMENTED_PAYLOAD
                || !same_destination(first, d)
            {
                break;
            }
            total += len;
            end += 1;
            if len < segment {
                break;
            }
        }
        end
    }

    /// What one sendmmsg(2) did.
    enum Sent {
        /// This many datagrams went out; `gso_next` says the first message
        /// not sent (if any) was a GSO message, which may have been
        /// refused.
        Some { datagrams: usize, gso_next: bool },
        /// The kernel refused the first message, a GSO send of segments of
        /// this size, with this errno; nothing was sent.
        GsoRefused { segment_size: usize, errno: i32 },
    }

    impl Socket {
        /// sendmmsg(2) of up to [`MAX_BATCH`] datagrams at a time, each run
        /// of datagrams to one destination coalesced into one UDP_SEGMENT
        /// message, until one comes back short or fails.
        pub(crate) fn send_batch(&self, datagrams: &[OutgoingDatagram<'_>]) -> Result<usize> {
            let mut gso = Gso {
                limit: None,
                refusal: None,
            };
            let mut sent = 0;
            while sent < datagrams.len() {
                let chunk = &datagrams[sent..datagrams.len().min(sent + MAX_BATCH)];
                match self.sendmmsg(chunk, &mut gso) {
                    Ok(Sent::Some {
                        datagrams: n,
                        gso_next,
                    }) => {
                        if n > 0 {
                            gso.confirm_refusal();
                        }
                        sent += n;
                        // A short count at a GSO message: send again from
                        // there, to find out whether GSO was refused.
                        if n < chunk.len() && !gso_next {
                            break;
                        }
                    }
                    // Nothing of it went out: send the same datagrams again
                    // without GSO.
                    Ok(Sent::GsoRefused {
                        segment_size,
                        errno,
                    }) => gso.refused(segment_size, errno),
                    Err(e) if sent == 0 => return Err(e),
                    // The datagram at `sent` did not go out: sending again
                    // from there reports this error, so it is not lost.
                    Err(_) => break,
                }
            }
            Ok(sent)
        }

        /// The largest segment size worth coalescing on this socket: zero
        /// unless it is a UDP socket on a kernel that knows UDP_SEGMENT
        /// (other protocols would ignore the control message and send the
        /// whole run as one datagram).
        #[cold]
        fn segmentation_limit(&self) -> usize {
            let limit = SEGMENT_LIMIT.load(Ordering::Relaxed);
            if limit == 0 {
                return 0;
            }
            let mut value: libc::c_int = 0;
            let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: value/len describe a writable c_int.
            let r = cvt_retry(|| unsafe {
                libc::getsockopt(
                    self.raw(),
                    libc::SOL_UDP,
                    libc::UDP_SEGMENT,
                    (&mut value as *mut libc::c_int).cast(),
                    &mut len,
                )
            });
            match r {
                Ok(_) => limit,
                // A UDP socket on a kernel older than UDP_SEGMENT (4.18).
                Err(libc::ENOPROTOOPT) => {
                    SEGMENT_LIMIT.store(0, Ordering::Relaxed);
                    0
                }
                // Not UDP.
                Err(_) => 0,
            }
        }

        /// One sendmmsg(2) for at most [`MAX_BATCH`] datagrams, grouped
        /// into runs.
        fn sendmmsg(&self, chunk: &[OutgoingDatagram<'_>], gso: &mut Gso) -> Result<Sent> {
            debug_assert!(!chunk.is_empty() && chunk.len() <= MAX_BATCH);
            let mut iovs: Stack<libc::iovec> = [const { MaybeUninit::uninit() }; MAX_BATCH];
            for (iov, d) in iovs.iter_mut().zip(chunk) {
                iov.write(libc::iovec {
                    // The kernel only reads the payload.
                    iov_base: d.data.as_ptr().cast_mut().cast(),
                    iov_len: d.data.len(),
                });
            }
            let iov_base = iovs.as_mut_ptr().cast::<libc::iovec>();
            let mut cmsgs: Stack<SegmentCmsg> = [const { MaybeUninit::uninit() }; MAX_BATCH];
            let mut msgs: Stack<libc::mmsghdr> = [const { MaybeUninit::uninit() }; MAX_BATCH];
            let mut count = 0;
            let mut start = 0;
            while start < chunk.len() {
                let d = &chunk[start];
                let run = run_length(&chunk[start..], self, gso);
                // SAFETY: mmsghdr is plain old data; all zeroes is an empty
                // message (and covers the padding fields some libcs have).
                let mut m: libc::mmsghdr = unsafe { mem::zeroed() };
                if let Some(addr) = d.addr {
                    let (name, len) = addr.raw.as_ptr();
                    // The kernel only reads the address.
                    m.msg_hdr.msg_name = name.cast_mut().cast();
                    m.msg_hdr.msg_namelen = len;
                }
                // SAFETY: start < chunk.len() <= MAX_BATCH: within `iovs`.
                m.msg_hdr.msg_iov = unsafe { iov_base.add(start) };
                m.msg_hdr.msg_iovlen = run as _;
                if run > 1 {
                    // SAFETY: cmsghdr is plain old data; zeroes cover the
                    // padding fields some libcs have.
                    let mut header: libc::cmsghdr = unsafe { mem::zeroed() };
                    header.cmsg_len = SEGMENT_CMSG_LEN as _;
                    header.cmsg_level = libc::SOL_UDP;
                    header.cmsg_type = libc::UDP_SEGMENT;
                    let cmsg = cmsgs[count].write(SegmentCmsg {
                        header,
                        // run > 1 only for segments of at most
                        // MAX_SEGMENTED_PAYLOAD / 2 bytes.
                        segment_size: d.data.len() as u16,
                        padding: [0; SEGMENT_CMSG_PADDING],
                    });
                    m.msg_hdr.msg_control = (cmsg as *mut SegmentCmsg).cast();
                    m.msg_hdr.msg_controllen = SEGMENT_CMSG_SPACE as _;
                }
                msgs[count].write(m);
                count += 1;
                start += run;
            }
            // SAFETY: the first `count` headers are written and point at
            // iovecs, control messages, payloads and addresses that outlive
            // the call.
            let r = cvt_retry(|| unsafe {
                libc::sendmmsg(
                    self.raw(),
                    msgs.as_mut_ptr().cast(),
                    count as _,
                    platform::SEND_FLAGS as _,
                )
            });
            // SAFETY: the first `count` headers were written above.
            let segments =
                |i: usize| unsafe { msgs[i].assume_init_ref() }.msg_hdr.msg_iovlen as usize;
            match r {
                Ok(n) => {
                    let n = n as usize;
                    Ok(Sent::Some {
                        datagrams: (0..n).map(segments).sum(),
                        gso_next: n < count && segments(n) > 1,
                    })
                }
                Err(errno) if segments(0) > 1 && is_gso_refusal(errno) => Ok(Sent::GsoRefused {
                    segment_size: chunk[0].data.len(),
                    errno,
                }),
                Err(libc::EAFNOSUPPORT) => Err(Error::with_raw(
                    ErrorCode::InvalidArgument,
                    libc::EAFNOSUPPORT,
                )),
                Err(e) => Err(Error::from_raw_os_error(e)),
            }
        }

        /// One recvmmsg(2) with MSG_WAITFORONE: a blocking socket waits for
        /// the first datagram only.
        pub(super) fn recv_mmsg(&self, slots: &mut [IncomingDatagram<'_>]) -> Result<usize> {
            debug_assert!(!slots.is_empty() && slots.len() <= MAX_BATCH);
            let count = slots.len().min(MAX_BATCH);
            let slots = &mut slots[..count];
            let mut iovs: Stack<libc::iovec> = [const { MaybeUninit::uninit() }; MAX_BATCH];
            for (iov, slot) in iovs.iter_mut().zip(slots.iter_mut()) {
                iov.write(libc::iovec {
                    iov_base: slot.buf.as_mut_ptr().cast(),
                    iov_len: slot.buf.len(),
                });
            }
            let iov_base = iovs.as_mut_ptr().cast::<libc::iovec>();
            let mut msgs: Stack<libc::mmsghdr> = [const { MaybeUninit::uninit() }; MAX_BATCH];
            for (i, (msg, slot)) in msgs.iter_mut().zip(slots.iter_mut()).enumerate() {
                // SAFETY: mmsghdr is plain old data; all zeroes is an empty
                // message.
                let mut m: libc::mmsghdr = unsafe { mem::zeroed() };
                // The sender goes straight into the slot's address.
                let (name, _) = slot.addr.raw.as_mut_ptr();
                m.msg_hdr.msg_name = name.cast();
                m.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as _;
                // SAFETY: i < count <= MAX_BATCH: within `iovs`.
                m.msg_hdr.msg_iov = unsafe { iov_base.add(i) };
                m.msg_hdr.msg_iovlen = 1;
                msg.write(m);
            }
            // SAFETY: the first `count` headers are written and point at
            // buffers and address storage that are live, writable and
            // not otherwise borrowed for the call; no timeout.
            let received = cvt_retry(|| unsafe {
                libc::recvmmsg(
                    self.raw(),
                    msgs.as_mut_ptr().cast(),
                    count as _,
                    libc::MSG_WAITFORONE as _,
                    ptr::null_mut(),
                )
            })
            .map_err(Error::from_raw_os_error)? as usize;
            for (msg, slot) in msgs[..received].iter().zip(slots.iter_mut()) {
                // SAFETY: the first `count` >= `received` headers were
                // written above.
                let m = unsafe { msg.assume_init_ref() };
                slot.len = m.msg_len as usize;
                slot.truncated = m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
                let (name, len) = slot.addr.raw.as_mut_ptr();
                // SAFETY: both point into the slot's live address storage.
                unsafe {
                    *len = m.msg_hdr.msg_namelen;
                    // No sender address (an unnamed Unix socket): leave no
                    // family from an earlier datagram behind.
                    if (*len as usize) < mem::size_of::<libc::sa_family_t>() {
                        (*name).sa_family = libc::AF_UNSPEC as libc::sa_family_t;
                    }
                }
            }
            Ok(received)
        }
    }
}

#[cfg(target_vendor = "apple")]
mod emulated {
    use std::io::IoSliceMut;

    use crate::sys::unix::{RawAddr, Socket};
    use crate::{IncomingDatagram, OutgoingDatagram, Result, SendFlags};

    impl Socket {
        /// One sendto(2) (or send(2) without an address) per datagram,
        /// until one fails.
        pub(crate) fn send_batch(&self, datagrams: &[OutgoingDatagram<'_>]) -> Result<usize> {
            for (sent, d) in datagrams.iter().enumerate() {
                let r = match d.addr {
                    Some(addr) => self.send_to(d.data, &addr.raw, SendFlags::EMPTY),
                    None => self.send(d.data, SendFlags::EMPTY),
                };
                match r {
                    Ok(_) => {}
                    Err(e) if sent == 0 => return Err(e),
                    // This datagram did not go out: sending again from here
                    // reports the error, so it is not lost.
                    Err(_) => return Ok(sent),
                }
            }
            Ok(datagrams.len())
        }

        /// One recvmsg(2) per slot: the first in the socket's mode, the
        /// rest with MSG_DONTWAIT, until the queue is empty.
        pub(super) fn recv_mmsg(&self, slots: &mut [IncomingDatagram<'_>]) -> Result<usize> {
            for (received, slot) in slots.iter_mut().enumerate() {
                let flags = if received == 0 { 0 } else { libc::MSG_DONTWAIT };
                // A slot that receives nothing keeps what it had.
                let mut peer = RawAddr::zeroed();
                let mut iov = [IoSliceMut::new(slot.buf)];
                match self.recvmsg(&mut iov, Some(&mut peer), flags) {
                    Ok((len, msg_flags)) => {
                        slot.len = len;
                        slot.truncated = msg_flags & libc::MSG_TRUNC != 0;
                        slot.addr.raw = peer;
                    }
                    Err(e) if received == 0 => return Err(e),
                    // Whatever comes after a datagram (an empty queue, a
                    // pending ICMP error) ends the batch.
                    Err(_) => return Ok(received),
                }
            }
            Ok(slots.len())
        }
    }
}
