//! Batched datagrams: sendmmsg(2)/recvmmsg(2) on Linux with the message
//! headers on the stack, a loop of sendto(2)/recvmsg(2) on macOS.
//!
//! Both take the slices as the portable layer hands them over (never
//! empty; at most [`MAX_BATCH`] slots to receive into) and return the
//! count done, or an error only when nothing was done.

#[cfg(any(target_os = "linux", target_os = "android"))]
mod mmsg {
    use core::mem::{self, MaybeUninit};
    use core::ptr;

    use crate::sys::unix::{cvt_retry, platform, Socket};
    use crate::{Error, ErrorCode, IncomingDatagram, OutgoingDatagram, Result, MAX_BATCH};

    /// An uninitialised array of `MAX_BATCH` items; only the first `n` used
    /// by a call are written and read.
    type Stack<T> = [MaybeUninit<T>; MAX_BATCH];

    impl Socket {
        /// sendmmsg(2) in chunks of [`MAX_BATCH`] until one comes back
        /// short or fails.
        pub(crate) fn send_batch(&self, datagrams: &[OutgoingDatagram<'_>]) -> Result<usize> {
            let mut sent = 0;
            for chunk in datagrams.chunks(MAX_BATCH) {
                match self.sendmmsg(chunk) {
                    Ok(n) => {
                        sent += n;
                        if n < chunk.len() {
                            break;
                        }
                    }
                    Err(e) if sent == 0 => return Err(e),
                    // The datagram at `sent` did not go out: sending again
                    // from there reports this error, so it is not lost.
                    Err(_) => break,
                }
            }
            Ok(sent)
        }

        /// One sendmmsg(2) for at most [`MAX_BATCH`] datagrams.
        fn sendmmsg(&self, chunk: &[OutgoingDatagram<'_>]) -> Result<usize> {
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
            let mut msgs: Stack<libc::mmsghdr> = [const { MaybeUninit::uninit() }; MAX_BATCH];
            for (i, (msg, d)) in msgs.iter_mut().zip(chunk).enumerate() {
                // SAFETY: mmsghdr is plain old data; all zeroes is an empty
                // message (and covers the padding fields some libcs have).
                let mut m: libc::mmsghdr = unsafe { mem::zeroed() };
                if let Some(addr) = d.addr {
                    let (name, len) = addr.raw.as_ptr();
                    // The kernel only reads the address.
                    m.msg_hdr.msg_name = name.cast_mut().cast();
                    m.msg_hdr.msg_namelen = len;
                }
                // SAFETY: i < chunk.len() <= MAX_BATCH: within `iovs`.
                m.msg_hdr.msg_iov = unsafe { iov_base.add(i) };
                m.msg_hdr.msg_iovlen = 1;
                msg.write(m);
            }
            // SAFETY: the first chunk.len() headers are written and point at
            // iovecs, payloads and addresses that outlive the call.
            cvt_retry(|| unsafe {
                libc::sendmmsg(
                    self.raw(),
                    msgs.as_mut_ptr().cast(),
                    chunk.len() as _,
                    platform::SEND_FLAGS as _,
                )
            })
            .map(|n| n as usize)
            .map_err(|e| match e {
                libc::EAFNOSUPPORT => Error::with_raw(ErrorCode::InvalidArgument, e),
                e => Error::from_raw_os_error(e),
            })
        }

        /// One recvmmsg(2) with MSG_WAITFORONE: a blocking socket waits for
        /// the first datagram only.
        pub(crate) fn recv_batch(&self, slots: &mut [IncomingDatagram<'_>]) -> Result<usize> {
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
        pub(crate) fn recv_batch(&self, slots: &mut [IncomingDatagram<'_>]) -> Result<usize> {
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
