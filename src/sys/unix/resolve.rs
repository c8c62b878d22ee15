//! Name resolution with getaddrinfo(3): one call, then an iterator that
//! walks the returned `addrinfo` list in place and frees it with
//! freeaddrinfo(3) when dropped. Nothing is allocated per address.

use core::{mem, ptr};
use std::ffi::CString;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::{Error, ErrorCode, Result};

/// The `addrinfo` list getaddrinfo(3) returned, and the next entry to read.
#[derive(Debug)]
pub(crate) struct ResolvedAddrs {
    head: *mut libc::addrinfo,
    next: *const libc::addrinfo,
    port: u16,
}

// SAFETY: the list is owned by this value alone, is only read (through
// `&mut self` while iterating), and freeaddrinfo(3) may run on any thread.
unsafe impl Send for ResolvedAddrs {}
// SAFETY: `&ResolvedAddrs` gives no access to the list at all.
unsafe impl Sync for ResolvedAddrs {}

/// getaddrinfo(3) for `host`, any family, one entry per address
/// (SOCK_STREAM, so each address is not repeated per socket type).
pub(crate) fn resolve(host: &str, port: u16) -> Result<ResolvedAddrs> {
    // A name with a NUL byte would be cut short.
    let host = CString::new(host).map_err(|_| Error::new(ErrorCode::InvalidArgument))?;
    // SAFETY: addrinfo is plain old data; all zeroes is "no hints", which
    // the fields set below refine.
    let mut hints: libc::addrinfo = unsafe { mem::zeroed() };
    hints.ai_family = libc::AF_UNSPEC;
    hints.ai_socktype = libc::SOCK_STREAM;
    let mut head = ptr::null_mut();
    // SAFETY: `host` is a NUL-terminated string, `hints` a valid addrinfo,
    // and `head` a place for the result; all live for the call.
    let r = unsafe { libc::getaddrinfo(host.as_ptr(), ptr::null(), &hints, &mut head) };
    if r != 0 {
        return Err(resolver_error(r));
    }
    Ok(ResolvedAddrs {
        head,
        next: head,
        port,
    })
}

/// The portable code of a getaddrinfo(3) failure. The EAI_* value is not
/// an errno, so it is not kept as the raw code; EAI_SYSTEM keeps the errno
/// it stands for.
#[cold]
fn resolver_error(eai: libc::c_int) -> Error {
    match eai {
        libc::EAI_NONAME | libc::EAI_NODATA => Error::new(ErrorCode::NameUnresolvable),
        libc::EAI_AGAIN => Error::new(ErrorCode::TemporaryResolverFailure),
        libc::EAI_SYSTEM => match std::io::Error::last_os_error().raw_os_error() {
            Some(errno) if errno != 0 => {
                Error::with_raw(ErrorCode::PermanentResolverFailure, errno)
            }
            _ => Error::new(ErrorCode::PermanentResolverFailure),
        },
        _ => Error::new(ErrorCode::PermanentResolverFailure),
    }
}

impl Iterator for ResolvedAddrs {
    type Item = SocketAddr;

    fn next(&mut self) -> Option<SocketAddr> {
        // SAFETY: `next` is null or an entry of the list we own, which
        // lives until drop.
        while let Some(ai) = unsafe { self.next.as_ref() } {
            self.next = ai.ai_next;
            // SAFETY: the entry's ai_addr points at ai_addrlen bytes of a
            // sockaddr of family ai_family, per getaddrinfo(3).
            if let Some(addr) = unsafe { socket_addr(ai, self.port) } {
                return Some(addr);
            }
        }
        None
    }
}

/// The IP address of one entry with `port`; None for other families.
///
/// # Safety
/// `ai` must be an entry returned by getaddrinfo(3).
unsafe fn socket_addr(ai: &libc::addrinfo, port: u16) -> Option<SocketAddr> {
    let len = ai.ai_addrlen as usize;
    if ai.ai_addr.is_null() {
        return None;
    }
    match ai.ai_family {
        libc::AF_INET if len >= mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family and length say sockaddr_in (the caller's
            // guarantee); read_unaligned asks for no alignment.
            let sin = unsafe { ptr::read_unaligned(ai.ai_addr.cast::<libc::sockaddr_in>()) };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(ip, port)))
        }
        libc::AF_INET6 if len >= mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { ptr::read_unaligned(ai.ai_addr.cast::<libc::sockaddr_in6>()) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                port,
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

impl Drop for ResolvedAddrs {
    fn drop(&mut self) {
        if !self.head.is_null() {
            // SAFETY: `head` came from a successful getaddrinfo(3) and is
            // freed exactly once, here.
            unsafe { libc::freeaddrinfo(self.head) };
        }
    }
}
