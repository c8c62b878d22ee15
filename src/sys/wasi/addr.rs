//! Socket addresses on wasi:sockets: IPv4 and IPv6 only, kept inline as a
//! std [`SocketAddr`] and converted field by field to and from
//! `ip-socket-address` at each call, without allocating.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use ::wasi::sockets::network::{
    IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
};

use crate::{Domain, Error, ErrorCode, Result};

/// An IP socket address, or none yet (an address slot not filled in).
/// wasi:sockets has no Unix sockets, so there is nothing else to hold.
#[derive(Clone, Copy)]
pub(crate) struct RawAddr {
    ip: Option<SocketAddr>,
}

impl RawAddr {
    /// An address of no family, for slots the backend fills in.
    #[inline]
    pub(crate) fn zeroed() -> RawAddr {
        RawAddr { ip: None }
    }

    #[inline]
    pub(crate) fn from_socket(addr: &SocketAddr) -> RawAddr {
        RawAddr { ip: Some(*addr) }
    }

    #[inline]
    pub(crate) fn as_socket(&self) -> Option<SocketAddr> {
        self.ip
    }

    /// Unix addresses do not exist on wasi:sockets.
    pub(crate) fn unix(_bytes: &[u8], _abstract: bool) -> Result<RawAddr> {
        Err(Error::new(ErrorCode::Unsupported))
    }

    pub(crate) fn as_unix_path(&self) -> Option<&[u8]> {
        None
    }

    pub(crate) fn as_abstract_name(&self) -> Option<&[u8]> {
        None
    }

    pub(crate) fn is_unnamed(&self) -> bool {
        false
    }

    #[inline]
    pub(crate) fn domain(&self) -> Option<Domain> {
        self.ip.as_ref().map(Domain::for_address)
    }

    /// The bytes that identify an address that is not an IP address, for
    /// comparison and hashing: there are none here (every filled-in
    /// address compares as its `SocketAddr`).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &[]
    }

    /// The address for a wasi:sockets call; `invalid-argument` for an
    /// address slot that was never filled in.
    #[inline]
    pub(super) fn to_wasi(self) -> Result<IpSocketAddress> {
        self.ip
            .map(to_wasi)
            .ok_or(Error::new(ErrorCode::InvalidArgument))
    }

    #[inline]
    pub(super) fn from_wasi(addr: IpSocketAddress) -> RawAddr {
        RawAddr {
            ip: Some(from_wasi(addr)),
        }
    }
}

/// The wasi family of a witsock domain; None for Unix.
pub(super) fn wasi_family(domain: Domain) -> Option<IpAddressFamily> {
    match domain {
        Domain::Ipv4 => Some(IpAddressFamily::Ipv4),
        Domain::Ipv6 => Some(IpAddressFamily::Ipv6),
        Domain::Unix => None,
    }
}

/// `0.0.0.0:0` or `[::]:0`: what an implicit bind binds to.
pub(super) fn unspecified(family: IpAddressFamily) -> IpSocketAddress {
    match family {
        IpAddressFamily::Ipv4 => to_wasi(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))),
        IpAddressFamily::Ipv6 => to_wasi(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))),
    }
}

#[inline]
pub(super) fn to_wasi(addr: SocketAddr) -> IpSocketAddress {
    match addr {
        SocketAddr::V4(a) => {
            let [a0, a1, a2, a3] = a.ip().octets();
            IpSocketAddress::Ipv4(Ipv4SocketAddress {
                port: a.port(),
                address: (a0, a1, a2, a3),
            })
        }
        SocketAddr::V6(a) => {
            let [s0, s1, s2, s3, s4, s5, s6, s7] = a.ip().segments();
            IpSocketAddress::Ipv6(Ipv6SocketAddress {
                port: a.port(),
                flow_info: a.flowinfo(),
                address: (s0, s1, s2, s3, s4, s5, s6, s7),
                scope_id: a.scope_id(),
            })
        }
    }
}

#[inline]
pub(super) fn from_wasi(addr: IpSocketAddress) -> SocketAddr {
    match addr {
        IpSocketAddress::Ipv4(a) => {
            let (a0, a1, a2, a3) = a.address;
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(a0, a1, a2, a3), a.port))
        }
        IpSocketAddress::Ipv6(a) => {
            let (s0, s1, s2, s3, s4, s5, s6, s7) = a.address;
            SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::new(s0, s1, s2, s3, s4, s5, s6, s7),
                a.port,
                a.flow_info,
                a.scope_id,
            ))
        }
    }
}

/// An IP address from the resolver, with `port`.
pub(super) fn ip_with_port(ip: IpAddress, port: u16) -> SocketAddr {
    match ip {
        IpAddress::Ipv4((a0, a1, a2, a3)) => {
            SocketAddr::from((Ipv4Addr::new(a0, a1, a2, a3), port))
        }
        IpAddress::Ipv6((s0, s1, s2, s3, s4, s5, s6, s7)) => {
            SocketAddr::from((Ipv6Addr::new(s0, s1, s2, s3, s4, s5, s6, s7), port))
        }
    }
}
