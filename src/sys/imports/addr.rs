//! Socket addresses for the `imports` backend: an IP address, a Unix path,
//! a Linux abstract name or an unnamed Unix address, kept inline and
//! converted to and from the WIT `socket-address` at each call.
//!
//! The guest cannot tell which kernel the host runs, so a Unix path may be
//! as long as Linux allows (107 bytes); a macOS host refuses what does not
//! fit its own `sun_path` with `invalid-argument`.

use std::net::SocketAddr;

use super::bindings::witsock::sockets::types::{SocketAddressParam, SocketAddressResult};
use super::convert::{
    ipv4_socket_address_from_wit, ipv4_socket_address_to_wit, ipv6_socket_address_from_wit,
    ipv6_socket_address_to_wit,
};
use crate::{Domain, Error, ErrorCode, Result};

/// Bytes in Linux's `sun_path`, its NUL terminator included: a path holds
/// at most one byte less, as does an abstract name (after its leading
/// NUL).
const SUN_PATH_LEN: usize = 108;

/// A socket address, stored inline.
#[derive(Clone, Copy)]
pub(crate) enum RawAddr {
    /// No family: a slot not filled in yet.
    Unknown,
    /// An IPv4 or IPv6 address.
    Ip(SocketAddr),
    /// A Unix address.
    Unix(UnixName),
}

/// A Unix address as its comparison bytes: a marker byte (so that an
/// unnamed address differs from an unknown one), then the bytes of
/// `sun_path` in use: the path, or a NUL and the abstract name, or nothing
/// for an unnamed address.
#[derive(Clone, Copy)]
pub(crate) struct UnixName {
    len: u8,
    bytes: [u8; 1 + SUN_PATH_LEN],
}

const UNIX_MARKER: u8 = b'u';

impl UnixName {
    fn new(abstract_: bool, name: &[u8]) -> UnixName {
        let mut bytes = [0u8; 1 + SUN_PATH_LEN];
        bytes[0] = UNIX_MARKER;
        let start = 1 + usize::from(abstract_);
        bytes[start..start + name.len()].copy_from_slice(name);
        UnixName {
            len: (start + name.len()) as u8,
            bytes,
        }
    }

    fn unnamed() -> UnixName {
        UnixName::new(false, &[])
    }

    /// The bytes after the marker.
    fn sun_path(&self) -> &[u8] {
        &self.bytes[1..usize::from(self.len)]
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl RawAddr {
    /// An address of no family, for slots filled in later.
    #[inline]
    pub(crate) fn zeroed() -> RawAddr {
        RawAddr::Unknown
    }

    #[inline]
    pub(crate) fn from_socket(addr: &SocketAddr) -> RawAddr {
        RawAddr::Ip(*addr)
    }

    #[inline]
    pub(crate) fn as_socket(&self) -> Option<SocketAddr> {
        match self {
            RawAddr::Ip(addr) => Some(*addr),
            _ => None,
        }
    }

    /// A Unix path, or an abstract name when `abstract_`. Whether the host
    /// has abstract names is the host's to say (`unsupported` off Linux).
    ///
    /// # Errors
    /// `invalid-argument` for an empty name, a NUL in a path, or a name
    /// longer than Linux's `sun_path` holds.
    pub(crate) fn unix(bytes: &[u8], abstract_: bool) -> Result<RawAddr> {
        if bytes.is_empty() || (!abstract_ && bytes.contains(&0)) || bytes.len() >= SUN_PATH_LEN {
            return Err(Error::new(ErrorCode::InvalidArgument));
        }
        Ok(RawAddr::Unix(UnixName::new(abstract_, bytes)))
    }

    pub(crate) fn as_unix_path(&self) -> Option<&[u8]> {
        match self {
            RawAddr::Unix(name) => {
                Some(name.sun_path()).filter(|p| p.first().is_some_and(|&b| b != 0))
            }
            _ => None,
        }
    }

    pub(crate) fn as_abstract_name(&self) -> Option<&[u8]> {
        match self {
            RawAddr::Unix(name) => name.sun_path().strip_prefix(&[0]),
            _ => None,
        }
    }

    pub(crate) fn is_unnamed(&self) -> bool {
        matches!(self, RawAddr::Unix(name) if name.sun_path().is_empty())
    }

    #[inline]
    pub(crate) fn domain(&self) -> Option<Domain> {
        match self {
            RawAddr::Unknown => None,
            RawAddr::Ip(addr) => Some(Domain::for_address(addr)),
            RawAddr::Unix(_) => Some(Domain::Unix),
        }
    }

    /// The bytes that identify a Unix address, for comparison and hashing
    /// (IP addresses compare as [`SocketAddr`]s; an unknown address is
    /// empty).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            RawAddr::Unix(name) => name.as_bytes(),
            _ => &[],
        }
    }

    /// The WIT address, borrowing a Unix name from `self`.
    ///
    /// # Errors
    /// `invalid-argument` for an address of no family.
    #[inline]
    pub(crate) fn as_wit(&self) -> Result<SocketAddressParam<'_>> {
        Ok(match self {
            RawAddr::Unknown => return Err(Error::new(ErrorCode::InvalidArgument)),
            RawAddr::Ip(SocketAddr::V4(a)) => {
                SocketAddressParam::Ipv4(ipv4_socket_address_to_wit(a))
            }
            RawAddr::Ip(SocketAddr::V6(a)) => {
                SocketAddressParam::Ipv6(ipv6_socket_address_to_wit(a))
            }
            RawAddr::Unix(_) => match (self.as_unix_path(), self.as_abstract_name()) {
                (Some(path), _) => SocketAddressParam::Unix(path),
                (None, Some(name)) => SocketAddressParam::UnixAbstract(name),
                (None, None) => SocketAddressParam::Unnamed,
            },
        })
    }

    /// The address the host returned. A Unix name longer than any kernel
    /// allows (which a host never sends) is kept cut to what fits.
    #[inline]
    pub(crate) fn from_wit(addr: &SocketAddressResult) -> RawAddr {
        match addr {
            SocketAddressResult::Ipv4(a) => {
                RawAddr::Ip(SocketAddr::V4(ipv4_socket_address_from_wit(a)))
            }
            SocketAddressResult::Ipv6(a) => {
                RawAddr::Ip(SocketAddr::V6(ipv6_socket_address_from_wit(a)))
            }
            SocketAddressResult::Unix(path) => {
                let fits = &path[..path.len().min(SUN_PATH_LEN - 1)];
                RawAddr::Unix(UnixName::new(false, fits))
            }
            SocketAddressResult::UnixAbstract(name) => {
                let fits = &name[..name.len().min(SUN_PATH_LEN - 1)];
                RawAddr::Unix(UnixName::new(true, fits))
            }
            SocketAddressResult::Unnamed => RawAddr::Unix(UnixName::unnamed()),
        }
    }
}
