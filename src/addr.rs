//! [`SockAddr`]: the `socket-address` variant of `wit/types.wit`.

use core::fmt;
use core::hash::{Hash, Hasher};
use std::net::SocketAddr;

use crate::sys::RawAddr;
use crate::{Domain, Error, Operation, Result};

/// A socket address of any family: IPv4, IPv6 (with flow info and scope
/// id), a Unix path, a Linux abstract name, or an unnamed Unix socket.
///
/// Natively it is a `sockaddr_storage` and its length, stored inline:
/// converting from and to [`SocketAddr`] and handing it to the kernel never
/// allocates.
#[derive(Clone, Copy)]
pub struct SockAddr {
    pub(crate) raw: RawAddr,
}

impl SockAddr {
    /// A Unix socket path (`sockaddr_un`).
    ///
    /// # Errors
    /// `invalid-argument` if the path is empty, holds a NUL byte, or does not
    /// fit `sun_path` (107 bytes on Linux, 103 on macOS); `unsupported`
    /// where the backend has no Unix sockets.
    pub fn unix(path: impl AsRef<std::path::Path>) -> Result<SockAddr> {
        let bytes = path_bytes(path.as_ref());
        RawAddr::unix(bytes, false)
            .map(|raw| SockAddr { raw })
            .map_err(|e| e.during(Operation::Address))
    }

    /// A Linux abstract Unix name (no file; the name lives in the network
    /// namespace), given without its leading NUL.
    ///
    /// # Errors
    /// `invalid-argument` if it is empty or does not fit, `unsupported` off
    /// Linux.
    pub fn unix_abstract(name: &[u8]) -> Result<SockAddr> {
        RawAddr::unix(name, true)
            .map(|raw| SockAddr { raw })
            .map_err(|e| e.during(Operation::Address))
    }

    /// The family, or None for a family witsock does not know.
    #[inline]
    pub fn domain(&self) -> Option<Domain> {
        self.raw.domain()
    }

    /// The IP address, for IPv4 and IPv6.
    #[inline]
    pub fn as_socket(&self) -> Option<SocketAddr> {
        self.raw.as_socket()
    }

    /// The Unix path, for a Unix address bound to a path.
    pub fn as_unix_path(&self) -> Option<&std::path::Path> {
        self.raw.as_unix_path().map(bytes_path)
    }

    /// The Unix path as bytes.
    pub fn as_unix_bytes(&self) -> Option<&[u8]> {
        self.raw.as_unix_path()
    }

    /// The Linux abstract name, without its leading NUL.
    pub fn as_abstract_name(&self) -> Option<&[u8]> {
        self.raw.as_abstract_name()
    }

    /// True for an unnamed Unix address (a socketpair end, an unbound
    /// socket).
    pub fn is_unnamed(&self) -> bool {
        self.raw.is_unnamed()
    }

    /// The address as the kernel sees it: a pointer to the `sockaddr` and
    /// its length, for calls witsock does not wrap.
    #[cfg(unix)]
    #[inline]
    pub fn as_raw(&self) -> (*const libc::sockaddr, libc::socklen_t) {
        self.raw.as_ptr()
    }
}

#[cfg(unix)]
fn path_bytes(p: &std::path::Path) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes()
}

#[cfg(unix)]
fn bytes_path(b: &[u8]) -> &std::path::Path {
    use std::os::unix::ffi::OsStrExt;
    std::path::Path::new(std::ffi::OsStr::from_bytes(b))
}

#[cfg(not(unix))]
fn path_bytes(p: &std::path::Path) -> &[u8] {
    p.to_str().map(str::as_bytes).unwrap_or(&[0])
}

#[cfg(not(unix))]
fn bytes_path(b: &[u8]) -> &std::path::Path {
    std::path::Path::new(core::str::from_utf8(b).unwrap_or(""))
}

impl From<SocketAddr> for SockAddr {
    #[inline]
    fn from(addr: SocketAddr) -> SockAddr {
        SockAddr {
            raw: RawAddr::from_socket(&addr),
        }
    }
}

impl From<std::net::SocketAddrV4> for SockAddr {
    #[inline]
    fn from(addr: std::net::SocketAddrV4) -> SockAddr {
        SocketAddr::V4(addr).into()
    }
}

impl From<std::net::SocketAddrV6> for SockAddr {
    #[inline]
    fn from(addr: std::net::SocketAddrV6) -> SockAddr {
        SocketAddr::V6(addr).into()
    }
}

impl TryFrom<SockAddr> for SocketAddr {
    type Error = Error;

    /// `address-family-not-supported` for a Unix address.
    fn try_from(addr: SockAddr) -> Result<SocketAddr> {
        addr.as_socket()
            .ok_or_else(|| Error::new(crate::ErrorCode::AddressFamilyNotSupported))
    }
}

impl PartialEq for SockAddr {
    fn eq(&self, other: &SockAddr) -> bool {
        match (self.as_socket(), other.as_socket()) {
            (Some(a), Some(b)) => a == b,
            (None, None) => self.raw.as_bytes() == other.raw.as_bytes(),
            _ => false,
        }
    }
}

impl Eq for SockAddr {}

impl Hash for SockAddr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self.as_socket() {
            Some(a) => a.hash(state),
            None => self.raw.as_bytes().hash(state),
        }
    }
}

impl fmt::Display for SockAddr {
    /// `127.0.0.1:80`, `[::1]:80`, `unix:/run/x.sock`, `unix:@name`,
    /// `unix:(unnamed)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(a) = self.as_socket() {
            return write!(f, "{a}");
        }
        if let Some(p) = self.as_unix_bytes() {
            return write!(f, "unix:{}", String::from_utf8_lossy(p));
        }
        if let Some(n) = self.as_abstract_name() {
            return write!(f, "unix:@{}", String::from_utf8_lossy(n));
        }
        if self.is_unnamed() {
            return f.write_str("unix:(unnamed)");
        }
        f.write_str("(unknown address family)")
    }
}

impl fmt::Debug for SockAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SockAddr({self})")
    }
}
