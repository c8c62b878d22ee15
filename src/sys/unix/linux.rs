//! Linux: SOCK_NONBLOCK | SOCK_CLOEXEC at creation, accept4(2),
//! MSG_NOSIGNAL, TCP_KEEPIDLE, TCP_DEFER_ACCEPT.

use std::os::fd::OwnedFd;

use super::{cvt_retry, owned, RawAddr};
use crate::{Capabilities, Error, Result, Support};

/// Added to every send: no SIGPIPE, EPIPE instead.
pub(super) const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;

/// The keep-alive idle time option.
pub(super) const TCP_KEEPIDLE: libc::c_int = libc::TCP_KEEPIDLE;
/// SO_LINGER takes seconds on Linux.
pub(super) const SO_LINGER: libc::c_int = libc::SO_LINGER;
pub(super) const IPV6_JOIN_GROUP: libc::c_int = libc::IPV6_ADD_MEMBERSHIP;
pub(super) const IPV6_LEAVE_GROUP: libc::c_int = libc::IPV6_DROP_MEMBERSHIP;
/// Linux stores twice the SO_RCVBUF/SO_SNDBUF value set.
pub(super) const BUFFER_SIZE_FACTOR: usize = 2;
/// IP_MULTICAST_TTL and IP_MULTICAST_LOOP take an int.
pub(super) type MulticastV4Byte = libc::c_int;
/// The option that holds back partial segments.
pub(super) const TCP_CORK: libc::c_int = libc::TCP_CORK;
/// TCP_USER_TIMEOUT exists here.
pub(super) const TCP_USER_TIMEOUT: Option<libc::c_int> = Some(libc::TCP_USER_TIMEOUT);
pub(super) const TCP_NOTSENT_LOWAT: libc::c_int = libc::TCP_NOTSENT_LOWAT;

fn flags(nonblocking: bool) -> libc::c_int {
    libc::SOCK_CLOEXEC | if nonblocking { libc::SOCK_NONBLOCK } else { 0 }
}

/// One socket(2), close-on-exec (and non-blocking) atomically.
pub(super) fn socket(
    domain: libc::c_int,
    ty: libc::c_int,
    protocol: libc::c_int,
    nonblocking: bool,
) -> Result<OwnedFd> {
    // SAFETY: plain syscall.
    cvt_retry(|| unsafe { libc::socket(domain, ty | flags(nonblocking), protocol) })
        .map(|fd| {
            // SAFETY: socket succeeded: `fd` is a new descriptor we own.
            unsafe { owned(fd) }
        })
        .map_err(Error::from_raw_os_error)
}

pub(super) fn socketpair(ty: libc::c_int, nonblocking: bool) -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors socketpair writes.
    cvt_retry(|| unsafe {
        libc::socketpair(libc::AF_UNIX, ty | flags(nonblocking), 0, fds.as_mut_ptr())
    })
    .map_err(Error::from_raw_os_error)?;
    // SAFETY: socketpair succeeded: both are new descriptors we own.
    Ok(unsafe { (owned(fds[0]), owned(fds[1])) })
}

/// Exactly one accept4(2): the new socket is non-blocking and close-on-exec
/// and `peer` is filled in by the same call. Returns the errno on failure.
#[inline]
pub(super) fn accept(
    listener: libc::c_int,
    peer: &mut RawAddr,
) -> core::result::Result<OwnedFd, i32> {
    let (ptr, len) = peer.as_mut_ptr();
    // SAFETY: ptr/len point into `peer`, sized sockaddr_storage.
    cvt_retry(|| unsafe {
        libc::accept4(listener, ptr, len, libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
    })
    .map(|fd| {
        // SAFETY: accept4 succeeded: `fd` is a new descriptor we own.
        unsafe { owned(fd) }
    })
}

/// Everything is native on Linux.
pub(super) static CAPABILITIES: Capabilities =
    Capabilities::uniform("native-linux", Support::Native);

/// TCP_DEFER_ACCEPT exists here.
pub(super) const DEFER_ACCEPT: Option<libc::c_int> = Some(libc::TCP_DEFER_ACCEPT);
