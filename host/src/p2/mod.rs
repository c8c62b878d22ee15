//! wasi:sockets 0.2 (`tcp`, `udp`, their `create-socket`s, `network`,
//! `instance-network`, `ip-name-lookup`) served from the host's socket
//! layer ([`crate::sockets`]), under the same policy, quotas and denial
//! reports as the witsock imports.
//!
//! This module holds what wasi:sockets adds on top of the socket layer:
//! its state machine (`start-*`/`finish-*`, streams taken once), its
//! address checks and its error codes. wasmtime-wasi still serves every
//! other WASI interface, and its `wasi:io` types: the TCP streams are
//! wasmtime-wasi input and output streams, and every pollable mixes with
//! the others in one `poll`.
//!
//! ```ignore
//! wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
//! witsock_host::p2::add_to_linker(&mut linker, |state| WitsockCtxView {
//!     ctx: &mut state.witsock,
//!     table: &mut state.table,
//! })?;
//! ```
//!
//! # Differences from wasmtime-wasi
//!
//! - Receives land in a buffer the guest's context reuses, so a stream
//!   read or a datagram costs a copy of what arrived, not a zeroed 64 KiB
//!   buffer.
//! - A name lookup refused by the policy is `access-denied` (wasmtime-wasi
//!   answers `permanent-resolver-failure`); a name that is an IP address
//!   needs no grant, as it needs no lookup.
//! - Every socket counts against the guest's socket quota, created or
//!   accepted (`new-socket-limit` past it).

mod lookup;
mod tcp;
mod udp;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use wasmtime::component::{HasData, Linker, Resource};
use witsock::{Domain, ErrorCode as Code};

use self::bindings::wasi::sockets::network::{
    self, ErrorCode, IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress,
    Ipv6SocketAddress,
};
use crate::imports::WitsockCtxView;
use crate::trappable::TrappableError;

pub use self::lookup::ResolveAddressStream;
pub use self::tcp::TcpSocket;
pub use self::udp::{IncomingDatagramStream, OutgoingDatagramStream, UdpSocket};

/// The bindings `bindgen!` generates for wasi:sockets 0.2.12, with
/// wasmtime-wasi's `wasi:io` types and this module's resources.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "witsock:host/wasi-sockets",
        imports: { default: trappable },
        trappable_error_type: {
            "wasi:sockets/network.error-code" => super::SocketError,
        },
        with: {
            "wasi:io": wasmtime_wasi::p2::bindings::sync::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
            "wasi:sockets/network.network": super::Network,
            "wasi:sockets/tcp.tcp-socket": super::TcpSocket,
            "wasi:sockets/udp.udp-socket": super::UdpSocket,
            "wasi:sockets/udp.incoming-datagram-stream": super::IncomingDatagramStream,
            "wasi:sockets/udp.outgoing-datagram-stream": super::OutgoingDatagramStream,
            "wasi:sockets/ip-name-lookup.resolve-address-stream": super::ResolveAddressStream,
        },
        require_store_data_send: true,
    });
}

/// The `network` resource: the guest's access to the network, which the
/// policy describes; it carries nothing itself.
#[derive(Debug)]
pub struct Network;

/// What a wasi:sockets call fails with: an `error-code` for the guest, or
/// a trap.
pub type SocketError = TrappableError<ErrorCode>;

/// What a wasi:sockets call returns.
pub type SocketResult<T> = Result<T, SocketError>;

impl From<ErrorCode> for SocketError {
    #[inline]
    fn from(code: ErrorCode) -> SocketError {
        TrappableError::guest(code)
    }
}

impl From<witsock::Error> for SocketError {
    #[inline]
    fn from(e: witsock::Error) -> SocketError {
        TrappableError::guest(error_code(&e))
    }
}

/// The wasi:sockets code for a witsock error.
pub(crate) fn error_code(e: &witsock::Error) -> ErrorCode {
    match e.code() {
        Code::WouldBlock | Code::InProgress | Code::Interrupted => ErrorCode::WouldBlock,
        Code::AlreadyInProgress => ErrorCode::ConcurrencyConflict,
        Code::AddressInUse => ErrorCode::AddressInUse,
        Code::AddressNotAvailable => ErrorCode::AddressNotBindable,
        Code::ConnectionRefused => ErrorCode::ConnectionRefused,
        Code::ConnectionReset => ErrorCode::ConnectionReset,
        Code::ConnectionAborted => ErrorCode::ConnectionAborted,
        Code::NotConnected | Code::AlreadyConnected | Code::InvalidState | Code::Shutdown => {
            ErrorCode::InvalidState
        }
        Code::TimedOut => ErrorCode::Timeout,
        Code::HostUnreachable | Code::NetworkUnreachable | Code::NetworkDown => {
            ErrorCode::RemoteUnreachable
        }
        Code::AccessDenied => ErrorCode::AccessDenied,
        Code::InvalidArgument | Code::AddressFamilyNotSupported => ErrorCode::InvalidArgument,
        Code::MessageSize => ErrorCode::DatagramTooLarge,
        Code::NoBufferSpace => ErrorCode::OutOfMemory,
        Code::TooManySockets => ErrorCode::NewSocketLimit,
        Code::ProtocolNotSupported
        | Code::OptionNotSupported
        | Code::OperationNotSupported
        | Code::Unsupported => ErrorCode::NotSupported,
        Code::NameUnresolvable => ErrorCode::NameUnresolvable,
        Code::TemporaryResolverFailure => ErrorCode::TemporaryResolverFailure,
        Code::PermanentResolverFailure => ErrorCode::PermanentResolverFailure,
        _ => ErrorCode::Unknown,
    }
}

/// Why a stream failed, kept in the `wasi:io/error` it hands the guest so
/// that `network-error-code` can read it back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamFailure(pub(crate) ErrorCode);

impl std::fmt::Display for StreamFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for StreamFailure {}

/// The stream error for a failed socket call.
pub(crate) fn stream_failure(e: &witsock::Error) -> wasmtime_wasi::p2::StreamError {
    wasmtime_wasi::p2::StreamError::LastOperationFailed(wasmtime::Error::new(StreamFailure(
        error_code(e),
    )))
}

/// The domain of a wasi:sockets address family.
pub(crate) fn domain(family: IpAddressFamily) -> Domain {
    match family {
        IpAddressFamily::Ipv4 => Domain::Ipv4,
        IpAddressFamily::Ipv6 => Domain::Ipv6,
    }
}

/// The wasi:sockets address family of an IP domain.
pub(crate) fn family(domain: Domain) -> IpAddressFamily {
    match domain {
        Domain::Ipv6 => IpAddressFamily::Ipv6,
        _ => IpAddressFamily::Ipv4,
    }
}

impl From<IpSocketAddress> for SocketAddr {
    fn from(addr: IpSocketAddress) -> SocketAddr {
        match addr {
            IpSocketAddress::Ipv4(a) => {
                let (b0, b1, b2, b3) = a.address;
                SocketAddrV4::new(Ipv4Addr::new(b0, b1, b2, b3), a.port).into()
            }
            IpSocketAddress::Ipv6(a) => {
                let (s0, s1, s2, s3, s4, s5, s6, s7) = a.address;
                SocketAddrV6::new(
                    Ipv6Addr::new(s0, s1, s2, s3, s4, s5, s6, s7),
                    a.port,
                    a.flow_info,
                    a.scope_id,
                )
                .into()
            }
        }
    }
}

impl From<SocketAddr> for IpSocketAddress {
    fn from(addr: SocketAddr) -> IpSocketAddress {
        match addr {
            SocketAddr::V4(a) => {
                let [b0, b1, b2, b3] = a.ip().octets();
                IpSocketAddress::Ipv4(Ipv4SocketAddress {
                    port: a.port(),
                    address: (b0, b1, b2, b3),
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
}

impl From<IpAddr> for IpAddress {
    fn from(ip: IpAddr) -> IpAddress {
        match ip {
            IpAddr::V4(v4) => {
                let [b0, b1, b2, b3] = v4.octets();
                IpAddress::Ipv4((b0, b1, b2, b3))
            }
            IpAddr::V6(v6) => {
                let [s0, s1, s2, s3, s4, s5, s6, s7] = v6.segments();
                IpAddress::Ipv6((s0, s1, s2, s3, s4, s5, s6, s7))
            }
        }
    }
}

/// Whether `addr` belongs to `domain` as wasi:sockets sees it: an IPv6
/// socket takes no IPv4-mapped (or IPv4-compatible) address.
pub(crate) fn is_of_family(addr: IpAddr, domain: Domain) -> bool {
    match (domain, addr) {
        (Domain::Ipv4, IpAddr::V4(_)) => true,
        (Domain::Ipv6, IpAddr::V6(v6)) => {
            let [a, b, c, d, e, f, _, _] = v6.segments();
            let compatible =
                [a, b, c, d, e, f] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified();
            v6.to_ipv4_mapped().is_none() && !compatible
        }
        _ => false,
    }
}

/// Whether `addr` names a peer: not the unspecified address, not port 0.
pub(crate) fn is_remote(addr: SocketAddr) -> bool {
    !addr.ip().to_canonical().is_unspecified() && addr.port() != 0
}

/// Whether `addr` is unicast (not multicast, not IPv4 broadcast).
pub(crate) fn is_unicast(addr: IpAddr) -> bool {
    match addr.to_canonical() {
        IpAddr::V4(v4) => !v4.is_multicast() && !v4.is_broadcast(),
        IpAddr::V6(v6) => !v6.is_multicast(),
    }
}

/// The number an option read holds, as wasi:sockets returns it
/// (durations in nanoseconds).
pub(crate) fn option_number(option: witsock::SocketOption) -> SocketResult<u64> {
    use witsock::SocketOption as O;
    match option {
        O::ReceiveBufferSize(size) | O::SendBufferSize(size) => Ok(size as u64),
        O::HopLimit(hops) => Ok(hops.into()),
        O::KeepAliveCount(count) => Ok(count.into()),
        O::KeepAliveIdle(time) | O::KeepAliveInterval(time) => {
            Ok(u64::try_from(time.as_nanos()).unwrap_or(u64::MAX))
        }
        _ => Err(ErrorCode::Unknown.into()),
    }
}

/// A buffer size set through wasi:sockets: 0 is `invalid-argument`, a
/// larger size than kernels take is clamped (they clamp further).
pub(crate) fn buffer_option(value: u64, receive: bool) -> SocketResult<witsock::SocketOption> {
    if value == 0 {
        return Err(ErrorCode::InvalidArgument.into());
    }
    let size = usize::try_from(value)
        .unwrap_or(usize::MAX)
        .min(i32::MAX as usize / 2);
    Ok(if receive {
        witsock::SocketOption::ReceiveBufferSize(size)
    } else {
        witsock::SocketOption::SendBufferSize(size)
    })
}

/// A hop limit set through wasi:sockets: 0 is `invalid-argument`.
pub(crate) fn hop_limit_option(value: u8) -> SocketResult<witsock::SocketOption> {
    if value == 0 {
        return Err(ErrorCode::InvalidArgument.into());
    }
    Ok(witsock::SocketOption::HopLimit(value))
}

/// The view is the data the bindings work on.
struct HasWitsock;

impl HasData for HasWitsock {
    type Data<'a> = WitsockCtxView<'a>;
}

/// Defines wasi:sockets 0.2 in `linker`, served from the socket layer
/// through the view `get` returns (the same one the witsock imports use).
/// It replaces wasmtime-wasi's definitions if the linker already has them
/// (shadowing is turned on for that).
///
/// # Errors
/// When the linker refuses a definition.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> WitsockCtxView<'_>,
) -> wasmtime::Result<()> {
    use bindings::wasi::sockets as s;
    // Replaces wasmtime-wasi's definitions (shadowing is put back off
    // after: wasmtime's linker cannot say whether it was on).
    linker.allow_shadowing(true);
    let added = (|| {
        // `network-error-code` is unstable in the WIT; it is always served
        // (wasmtime's `-S network-error-code`).
        let mut options = s::network::LinkOptions::default();
        options.network_error_code(true);
        s::network::add_to_linker::<T, HasWitsock>(linker, &options, get)?;
        s::instance_network::add_to_linker::<T, HasWitsock>(linker, get)?;
        s::tcp::add_to_linker::<T, HasWitsock>(linker, get)?;
        s::tcp_create_socket::add_to_linker::<T, HasWitsock>(linker, get)?;
        s::udp::add_to_linker::<T, HasWitsock>(linker, get)?;
        s::udp_create_socket::add_to_linker::<T, HasWitsock>(linker, get)?;
        s::ip_name_lookup::add_to_linker::<T, HasWitsock>(linker, get)
    })();
    linker.allow_shadowing(false);
    added
}

impl network::Host for WitsockCtxView<'_> {
    fn convert_error_code(&mut self, e: SocketError) -> wasmtime::Result<ErrorCode> {
        e.into_guest()
    }

    fn network_error_code(
        &mut self,
        err: Resource<wasmtime_wasi::p2::bindings::sync::io::error::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        let err = self.table.get(&err)?;
        Ok(err.downcast_ref::<StreamFailure>().map(|failure| failure.0))
    }
}

impl network::HostNetwork for WitsockCtxView<'_> {
    fn drop(&mut self, this: Resource<Network>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl bindings::wasi::sockets::instance_network::Host for WitsockCtxView<'_> {
    fn instance_network(&mut self) -> wasmtime::Result<Resource<Network>> {
        Ok(self.table.push(Network)?)
    }
}
