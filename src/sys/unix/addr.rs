//! `sockaddr_storage` kept inline, with its length: what bind(2),
//! connect(2), accept(2) and friends take and fill in.

use core::mem::{self, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::{Domain, Error, ErrorCode, Result};

/// A native socket address: `sockaddr_storage` plus the length the kernel
/// uses. 132 bytes on the stack, never on the heap.
#[derive(Clone, Copy)]
pub(crate) struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

/// Bytes in `sun_path`.
const SUN_PATH_LEN: usize = mem::size_of::<libc::sockaddr_un>() - SUN_PATH_OFFSET;
const SUN_PATH_OFFSET: usize = mem::offset_of!(libc::sockaddr_un, sun_path);

impl RawAddr {
    /// An all-zero address of length `sizeof(sockaddr_storage)`, ready for
    /// the kernel to fill in.
    #[inline]
    pub(crate) fn zeroed() -> RawAddr {
        // SAFETY: sockaddr_storage is plain old data; all zeroes is valid
        // (family AF_UNSPEC).
        let storage = unsafe { MaybeUninit::<libc::sockaddr_storage>::zeroed().assume_init() };
        RawAddr {
            storage,
            len: mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    /// Pointer and length for calls that read an address.
    #[inline]
    pub(crate) fn as_ptr(&self) -> (*const libc::sockaddr, libc::socklen_t) {
        (
            (&self.storage as *const libc::sockaddr_storage).cast(),
            self.len,
        )
    }

    /// Pointers for calls that write an address and its length.
    #[inline]
    pub(crate) fn as_mut_ptr(&mut self) -> (*mut libc::sockaddr, *mut libc::socklen_t) {
        (
            (&mut self.storage as *mut libc::sockaddr_storage).cast(),
            &mut self.len,
        )
    }

    #[inline]
    pub(crate) fn raw_family(&self) -> libc::sa_family_t {
        self.storage.ss_family
    }

    /// The family, if it is one witsock knows.
    #[inline]
    pub(crate) fn domain(&self) -> Option<Domain> {
        match self.storage.ss_family as libc::c_int {
            libc::AF_INET => Some(Domain::Ipv4),
            libc::AF_INET6 => Some(Domain::Ipv6),
            libc::AF_UNIX => Some(Domain::Unix),
            _ => None,
        }
    }

    /// Builds from a std address without allocating.
    #[inline]
    pub(crate) fn from_socket(addr: &SocketAddr) -> RawAddr {
        let mut raw = RawAddr::zeroed();
        match addr {
            SocketAddr::V4(a) => {
                // SAFETY: sockaddr_storage is larger than and aligned for
                // sockaddr_in.
                let sin = unsafe { &mut *(&mut raw.storage as *mut _ as *mut libc::sockaddr_in) };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr = libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                };
                #[cfg(target_vendor = "apple")]
                {
                    sin.sin_len = mem::size_of::<libc::sockaddr_in>() as u8;
                }
                raw.len = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            }
            SocketAddr::V6(a) => {
                // SAFETY: sockaddr_storage is larger than and aligned for
                // sockaddr_in6.
                let sin6 = unsafe { &mut *(&mut raw.storage as *mut _ as *mut libc::sockaddr_in6) };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_flowinfo = a.flowinfo();
                sin6.sin6_addr = libc::in6_addr {
                    s6_addr: a.ip().octets(),
                };
                sin6.sin6_scope_id = a.scope_id();
                #[cfg(target_vendor = "apple")]
                {
                    sin6.sin6_len = mem::size_of::<libc::sockaddr_in6>() as u8;
                }
                raw.len = mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            }
        }
        raw
    }

    /// The IP address, for AF_INET and AF_INET6.
    #[inline]
    pub(crate) fn as_socket(&self) -> Option<SocketAddr> {
        match self.storage.ss_family as libc::c_int {
            libc::AF_INET if self.len as usize >= mem::size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says sockaddr_in and the length covers it.
                let sin = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in) };
                Some(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 if self.len as usize >= mem::size_of::<libc::sockaddr_in6>() => {
                // SAFETY: the family says sockaddr_in6 and the length covers it.
                let sin6 = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in6) };
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    /// A Unix address: a path, or (Linux) an abstract name when `abstract_`.
    pub(crate) fn unix(bytes: &[u8], abstract_: bool) -> Result<RawAddr> {
        if bytes.is_empty() || (!abstract_ && bytes.contains(&0)) {
            // An empty path or abstract name would read back as an unnamed
            // address, and an inner NUL would silently cut a path.
            return Err(Error::new(ErrorCode::InvalidArgument));
        }
        if abstract_ && !cfg!(any(target_os = "linux", target_os = "android")) {
            return Err(Error::new(ErrorCode::Unsupported));
        }
        // A path needs its NUL terminator to fit; an abstract name needs the
        // leading NUL.
        if bytes.len() + 1 > SUN_PATH_LEN {
            return Err(Error::new(ErrorCode::InvalidArgument));
        }
        let mut raw = RawAddr::zeroed();
        // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_un.
        let sun = unsafe { &mut *(&mut raw.storage as *mut _ as *mut libc::sockaddr_un) };
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let start = usize::from(abstract_);
        for (dst, &src) in sun.sun_path[start..].iter_mut().zip(bytes) {
            *dst = src as libc::c_char;
        }
        // Paths count their NUL (as the kernel reports them back); abstract
        // names are exactly the leading NUL plus the name.
        let len = SUN_PATH_OFFSET + start + bytes.len() + usize::from(!abstract_);
        #[cfg(target_vendor = "apple")]
        {
            sun.sun_len = len as u8;
        }
        raw.len = len as libc::socklen_t;
        Ok(raw)
    }

    /// The bytes of `sun_path` in use, including a leading NUL for abstract
    /// names and excluding the trailing NUL of paths.
    fn unix_bytes(&self) -> Option<&[u8]> {
        if self.storage.ss_family as libc::c_int != libc::AF_UNIX {
            return None;
        }
        let used = (self.len as usize)
            .saturating_sub(SUN_PATH_OFFSET)
            .min(SUN_PATH_LEN);
        // SAFETY: the family says sockaddr_un, which sockaddr_storage holds.
        let sun = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_un) };
        // SAFETY: c_char and u8 have one layout; `used` is within sun_path.
        let path = unsafe { core::slice::from_raw_parts(sun.sun_path.as_ptr().cast::<u8>(), used) };
        // Only Linux has abstract names. macOS reports an unnamed socket as
        // a zero-filled 16-byte `sockaddr`, which is not one.
        let abstract_names = cfg!(any(target_os = "linux", target_os = "android"));
        if abstract_names && path.first() == Some(&0) && path.len() > 1 {
            return Some(path);
        }
        // A path: stop at the first NUL (the kernel may or may not count it).
        let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
        Some(&path[..end])
    }

    /// A Unix path, or None (not Unix, abstract, or unnamed).
    pub(crate) fn as_unix_path(&self) -> Option<&[u8]> {
        self.unix_bytes().filter(|p| !p.is_empty() && p[0] != 0)
    }

    /// A Linux abstract name, without its leading NUL.
    pub(crate) fn as_abstract_name(&self) -> Option<&[u8]> {
        self.unix_bytes()
            .filter(|p| p.first() == Some(&0))
            .map(|p| &p[1..])
    }

    /// An unnamed Unix address (socketpair, unbound).
    pub(crate) fn is_unnamed(&self) -> bool {
        self.unix_bytes().is_some_and(|p| p.is_empty())
    }

    /// The address bytes that matter, for comparison and hashing.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        // SAFETY: `len` bytes of the storage were written by a constructor
        // or the kernel (the rest is zero); the slice is within the storage.
        unsafe {
            core::slice::from_raw_parts(
                (&self.storage as *const libc::sockaddr_storage).cast::<u8>(),
                (self.len as usize).min(mem::size_of::<libc::sockaddr_storage>()),
            )
        }
    }
}
