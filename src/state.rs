//! What the portable layer knows of a socket beyond its descriptor, in one
//! atomic word (so that `Socket` stays `Sync` and reading it costs a load):
//! its family and type, known from its creation (read from the kernel
//! once for a descriptor adopted natively), whether its read half was
//! shut down, and how far it got (an address, a connection, a failed
//! connect).
//!
//! With these the portable layer applies, on every backend alike, the
//! parts of the contract that kernels disagree on: which destinations and
//! local addresses are valid (the rules wasi:sockets uses, and the few
//! cases where kernels answer differently or only after a route lookup:
//! IPv4-mapped addresses on `ipv6-only` sockets, IPv6 addresses that need
//! a scope id, broadcast; the WIT's "Destinations" and "Local addresses"),
//! and that a stream receives nothing after `shutdown(read)`.

use core::sync::atomic::{AtomicU16, Ordering};
use std::net::{IpAddr, SocketAddr};

use crate::{Domain, Error, ErrorCode, OptionName, Result, SockAddr, Type};

const DOMAIN_MASK: u16 = 0b0011;
const TYPE_MASK: u16 = 0b1100;
const READ_SHUT: u16 = 0b1_0000;
const CONNECT_FAILED: u16 = 0b10_0000;
const WAS_CONNECTED: u16 = 0b100_0000;
const HAS_ADDRESS: u16 = 0b1000_0000;
const WRITE_SHUT: u16 = 0b1_0000_0000;
const REUSE_ADDRESS_SET: u16 = 0b10_0000_0000;

/// The socket's family, type and read-shut flag; zero bits mean "not known
/// yet".
#[derive(Debug, Default)]
pub(crate) struct SocketState(AtomicU16);

fn domain_bits(domain: Domain) -> u16 {
    match domain {
        Domain::Ipv4 => 1,
        Domain::Ipv6 => 2,
        Domain::Unix => 3,
    }
}

fn type_bits(ty: Type) -> u16 {
    match ty {
        Type::Stream => 1 << 2,
        Type::Datagram => 2 << 2,
        Type::SeqPacket => 3 << 2,
    }
}

impl SocketState {
    /// A socket whose family and type are not known yet.
    pub(crate) const fn unknown() -> SocketState {
        SocketState(AtomicU16::new(0))
    }

    /// A socket of `domain` and `ty`.
    pub(crate) fn new(domain: Domain, ty: Type) -> SocketState {
        SocketState(AtomicU16::new(domain_bits(domain) | type_bits(ty)))
    }

    /// The family and type, if known; `learn` asks the backend otherwise
    /// (once: the answer is kept).
    #[inline]
    pub(crate) fn kind(
        &self,
        learn: impl FnOnce() -> Option<(Domain, Type)>,
    ) -> Option<(Domain, Type)> {
        let bits = self.0.load(Ordering::Relaxed);
        let domain = match bits & DOMAIN_MASK {
            1 => Domain::Ipv4,
            2 => Domain::Ipv6,
            3 => Domain::Unix,
            _ => return self.learn(learn),
        };
        let ty = match (bits & TYPE_MASK) >> 2 {
            1 => Type::Stream,
            2 => Type::Datagram,
            3 => Type::SeqPacket,
            _ => return self.learn(learn),
        };
        Some((domain, ty))
    }

    #[cold]
    fn learn(&self, learn: impl FnOnce() -> Option<(Domain, Type)>) -> Option<(Domain, Type)> {
        let (domain, ty) = learn()?;
        self.0
            .fetch_or(domain_bits(domain) | type_bits(ty), Ordering::Relaxed);
        Some((domain, ty))
    }

    pub(crate) fn shut_read(&self) {
        self.0.fetch_or(READ_SHUT, Ordering::Relaxed);
    }

    pub(crate) fn shut_write(&self) {
        self.0.fetch_or(WRITE_SHUT, Ordering::Relaxed);
    }

    /// What stops a send before the kernel, from one load: a failed
    /// connect or a datagram socket with no peer (`not-connected`), this
    /// end's shutdown(write) (`shutdown`).
    #[inline]
    pub(crate) fn send_refusal(&self) -> Option<ErrorCode> {
        let bits = self.0.load(Ordering::Relaxed);
        if bits & CONNECT_FAILED != 0 {
            Some(ErrorCode::NotConnected)
        } else if bits & WRITE_SHUT != 0 {
            Some(ErrorCode::Shutdown)
        } else if bits & WAS_CONNECTED == 0 && bits & TYPE_MASK == type_bits(Type::Datagram) {
            Some(ErrorCode::NotConnected)
        } else {
            None
        }
    }

    /// Records that the caller set `reuse-address` itself: a TCP bind
    /// then leaves it as set.
    pub(crate) fn note_reuse_address_set(&self) {
        self.0.fetch_or(REUSE_ADDRESS_SET, Ordering::Relaxed);
    }

    /// Whether the caller set `reuse-address` itself.
    #[inline]
    pub(crate) fn reuse_address_set(&self) -> bool {
        self.0.load(Ordering::Relaxed) & REUSE_ADDRESS_SET != 0
    }

    /// Records that the socket has (had) a connection: it is bound for
    /// good, even once a reset has made the kernel forget its port.
    pub(crate) fn note_connected(&self) {
        self.0.fetch_or(WAS_CONNECTED, Ordering::Relaxed);
    }

    /// Records that a datagram socket forgot its peer (a disconnect): every
    /// later check sees it as it was before its first connect, with the
    /// local address it has (had) kept.
    pub(crate) fn note_disconnected(&self) {
        self.0.fetch_and(!WAS_CONNECTED, Ordering::Relaxed);
    }

    /// Records that the socket was given a local address: bound, listening,
    /// or connecting.
    pub(crate) fn note_address(&self) {
        self.0.fetch_or(HAS_ADDRESS, Ordering::Relaxed);
    }

    /// Whether the socket has (had) a local address, as far as witsock saw:
    /// bound, listening, connecting, connected, or after a failed connect.
    #[inline]
    pub(crate) fn had_address(&self) -> bool {
        self.0.load(Ordering::Relaxed) & (HAS_ADDRESS | WAS_CONNECTED | CONNECT_FAILED) != 0
    }

    /// Whether the socket ever had a connection: a stream socket once
    /// connected or accepted, for good; a datagram socket from a connect
    /// until a disconnect.
    #[inline]
    pub(crate) fn was_connected(&self) -> bool {
        self.0.load(Ordering::Relaxed) & WAS_CONNECTED != 0
    }

    /// Whether a connect on this stream socket failed: it can only be
    /// closed (and its options read or set) now.
    #[inline]
    pub(crate) fn connect_failed(&self) -> bool {
        self.0.load(Ordering::Relaxed) & CONNECT_FAILED != 0
    }

    /// Whether receives are over: the read half is shut, or a connect
    /// failed (one load for both, on the receive path).
    #[inline]
    pub(crate) fn receives_over(&self) -> bool {
        self.0.load(Ordering::Relaxed) & (READ_SHUT | CONNECT_FAILED) != 0
    }

    /// Records the outcome of a connect on a stream socket: an error that
    /// ends the attempt (the peer refused, reset, could not be reached, the
    /// time ran out, or the kernel had no address for it: wasi:sockets
    /// hosts close the socket then) leaves the socket usable for nothing
    /// else.
    pub(crate) fn note_connect_error(&self, e: &Error) {
        let ended = matches!(
            e.code(),
            ErrorCode::ConnectionRefused
                | ErrorCode::ConnectionReset
                | ErrorCode::ConnectionAborted
                | ErrorCode::TimedOut
                | ErrorCode::HostUnreachable
                | ErrorCode::NetworkUnreachable
                | ErrorCode::AddressNotAvailable
                | ErrorCode::AddressInUse
        );
        if ended && self.0.load(Ordering::Relaxed) & TYPE_MASK == type_bits(Type::Stream) {
            self.0.fetch_or(CONNECT_FAILED, Ordering::Relaxed);
        }
    }
}

/// The error for a call that needs a state the socket is not in.
pub(crate) fn state_error(code: ErrorCode) -> Error {
    Error::new(code)
}

/// Whether `ip` may be a local address or peer of a stream socket: not
/// multicast, not the IPv4 broadcast address.
fn is_unicast(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => !v4.is_multicast() && !v4.is_broadcast(),
        IpAddr::V6(v6) => !v6.is_multicast(),
    }
}

/// Whether `ip` is the IPv4 broadcast address (255.255.255.255), also
/// written IPv4-mapped.
fn is_broadcast(ip: IpAddr) -> bool {
    matches!(ip.to_canonical(), IpAddr::V4(v4) if v4.is_broadcast())
}

/// Whether `addr` is an IPv6 address that names no interface without a
/// scope id and has none: link-local unicast (`fe80::/10`), or multicast
/// of interface-local or link-local scope (`ff01::/16`, `ff02::/16`, any
/// flags). Kernels refuse these (Linux with EINVAL) or pick an interface
/// of their own.
fn lacks_interface(addr: SocketAddr) -> bool {
    let SocketAddr::V6(v6) = addr else {
        return false;
    };
    let ip = v6.ip();
    let scoped = ip.is_unicast_link_local()
        || (ip.is_multicast() && matches!(ip.segments()[0] & 0x000f, 1 | 2));
    scoped && v6.scope_id() == 0
}

fn invalid() -> Error {
    Error::new(ErrorCode::InvalidArgument)
}

/// The IP address of `addr`, checked to be of the socket's family.
fn same_family(addr: &SockAddr, kind: Option<(Domain, Type)>) -> Result<Option<SocketAddr>> {
    let Some(ip) = addr.as_socket() else {
        // A Unix name: the kernel says whether it fits the socket.
        return Ok(None);
    };
    match kind {
        Some((Domain::Ipv4, _)) if ip.is_ipv6() => Err(invalid()),
        Some((Domain::Ipv6, _)) if ip.is_ipv4() => Err(invalid()),
        Some((Domain::Unix, _)) => Err(invalid()),
        _ => Ok(Some(ip)),
    }
}

/// Whether `ip` is an IPv4-mapped address on an IPv6 socket with
/// `ipv6-only` on, where it stands for another family. `on` reads the
/// option, and is asked only for a mapped address.
fn mapped_on_v6_only(
    ip: SocketAddr,
    kind: Option<(Domain, Type)>,
    on: &impl Fn(OptionName) -> bool,
) -> bool {
    let mapped = matches!(ip, SocketAddr::V6(v6) if v6.ip().to_ipv4_mapped().is_some());
    mapped && matches!(kind, Some((Domain::Ipv6, _))) && on(OptionName::Ipv6Only)
}

/// Checks a local address for bind: of the socket's family (an
/// IPv4-mapped address only on a dual-stack IPv6 socket), never the
/// broadcast address, unicast for a stream socket (a datagram socket may
/// bind a multicast group), and with a scope id where the address needs
/// one.
///
/// `on` says whether a boolean option is on; it is asked only about an
/// IPv4-mapped address (`ipv6-only`).
pub(crate) fn check_local(
    addr: &SockAddr,
    kind: Option<(Domain, Type)>,
    on: impl Fn(OptionName) -> bool,
) -> Result<()> {
    let Some(ip) = same_family(addr, kind)? else {
        return Ok(());
    };
    let stream = matches!(kind, Some((_, Type::Stream)));
    if is_broadcast(ip.ip())
        || (stream && !is_unicast(ip.ip()))
        || lacks_interface(ip)
        || mapped_on_v6_only(ip, kind, &on)
    {
        return Err(invalid());
    }
    Ok(())
}

/// Checks a destination for connect and send-to: of the socket's family
/// (an IPv4-mapped address only on a dual-stack IPv6 socket), a real peer
/// (not the unspecified address, not port 0), unicast for a stream
/// socket, and with a scope id where the address needs one: otherwise
/// `invalid-argument`. A datagram socket sends to the broadcast address
/// only with `broadcast` on, `access-denied` otherwise.
///
/// `on` says whether a boolean option is on; it is asked only about an
/// IPv4-mapped address (`ipv6-only`) and the broadcast address
/// (`broadcast`), so the common destinations cost no syscall.
pub(crate) fn check_remote(
    addr: &SockAddr,
    kind: Option<(Domain, Type)>,
    on: impl Fn(OptionName) -> bool,
) -> Result<()> {
    let Some(ip) = same_family(addr, kind)? else {
        return Ok(());
    };
    if ip.port() == 0 || ip.ip().to_canonical().is_unspecified() {
        return Err(invalid());
    }
    let stream = matches!(kind, Some((_, Type::Stream)));
    if (stream && !is_unicast(ip.ip())) || lacks_interface(ip) || mapped_on_v6_only(ip, kind, &on) {
        return Err(invalid());
    }
    if matches!(kind, Some((_, Type::Datagram)))
        && is_broadcast(ip.ip())
        && !on(OptionName::Broadcast)
    {
        return Err(Error::new(ErrorCode::AccessDenied));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SockAddr {
        s.parse::<SocketAddr>().expect("address").into()
    }

    #[test]
    fn kinds_are_kept_and_learned_once() {
        let known = SocketState::new(Domain::Ipv6, Type::Datagram);
        assert_eq!(
            known.kind(|| unreachable!("known already")),
            Some((Domain::Ipv6, Type::Datagram))
        );
        let adopted = SocketState::unknown();
        assert_eq!(adopted.kind(|| None), None);
        assert_eq!(
            adopted.kind(|| Some((Domain::Unix, Type::SeqPacket))),
            Some((Domain::Unix, Type::SeqPacket))
        );
        assert_eq!(
            adopted.kind(|| unreachable!("learned already")),
            Some((Domain::Unix, Type::SeqPacket))
        );
        assert!(!adopted.receives_over());
        adopted.shut_read();
        assert!(adopted.receives_over());
        assert!(!adopted.connect_failed());
        assert!(!adopted.had_address());
        adopted.note_address();
        assert!(adopted.had_address());
        let failed = SocketState::new(Domain::Ipv6, Type::Stream);
        failed.note_connect_error(&Error::new(ErrorCode::ConnectionRefused));
        assert!(failed.had_address());
        assert_eq!(
            adopted.kind(|| unreachable!("learned already")),
            Some((Domain::Unix, Type::SeqPacket))
        );
    }

    #[test]
    fn a_disconnected_datagram_socket_is_as_before_its_connect() {
        let udp = SocketState::new(Domain::Ipv4, Type::Datagram);
        udp.note_address();
        assert_eq!(udp.send_refusal(), Some(ErrorCode::NotConnected));
        udp.note_connected();
        assert_eq!(udp.send_refusal(), None);
        assert!(udp.was_connected());
        udp.note_disconnected();
        assert_eq!(udp.send_refusal(), Some(ErrorCode::NotConnected));
        assert!(!udp.was_connected());
        // Still bound, and what else it knew stays.
        assert!(udp.had_address());
        assert_eq!(
            udp.kind(|| unreachable!("known already")),
            Some((Domain::Ipv4, Type::Datagram))
        );
        // Connected again.
        udp.note_connected();
        assert_eq!(udp.send_refusal(), None);
    }

    /// No option is on, or every one is.
    fn off(_: OptionName) -> bool {
        false
    }
    fn on(_: OptionName) -> bool {
        true
    }

    #[test]
    fn destinations_follow_the_wasi_sockets_rules() {
        let tcp4 = Some((Domain::Ipv4, Type::Stream));
        let tcp6 = Some((Domain::Ipv6, Type::Stream));
        let udp4 = Some((Domain::Ipv4, Type::Datagram));
        let udp6 = Some((Domain::Ipv6, Type::Datagram));
        for (dest, kind, ok) in [
            ("127.0.0.1:80", tcp4, true),
            ("0.0.0.0:80", tcp4, false),
            ("127.0.0.1:0", tcp4, false),
            ("224.0.0.1:80", tcp4, false),
            ("255.255.255.255:80", tcp4, false),
            ("224.0.0.1:80", udp4, true),
            ("0.0.0.0:80", udp4, false),
            ("[::1]:80", udp4, false),
            ("127.0.0.1:80", udp6, false),
            ("[::ffff:127.0.0.1]:80", udp6, true),
            ("[::ffff:0.0.0.0]:80", udp6, false),
            ("[::]:80", udp6, false),
            ("[ff02::1]:80", udp6, false),
            ("[ff02::1%1]:80", udp6, true),
            ("[ff01::1]:80", udp6, false),
            ("[ff05::1]:80", udp6, true),
            ("[ff12::1]:80", udp6, false),
            ("[fe80::1]:80", tcp6, false),
            ("[fe80::1%1]:80", tcp6, true),
            ("[ff02::1%1]:80", tcp6, false),
            ("127.0.0.1:80", None, true),
        ] {
            assert_eq!(
                check_remote(&addr(dest), kind, off).is_ok(),
                ok,
                "{dest} {kind:?}"
            );
        }
        // Broadcast needs `broadcast` on; only a datagram socket asks.
        let code = |dest: &str, kind, flags: fn(OptionName) -> bool| {
            check_remote(&addr(dest), kind, flags)
                .err()
                .map(|e| e.code())
        };
        assert_eq!(
            code("255.255.255.255:80", udp4, off),
            Some(ErrorCode::AccessDenied)
        );
        assert_eq!(code("255.255.255.255:80", udp4, on), None);
        assert_eq!(
            code("255.255.255.255:80", tcp4, on),
            Some(ErrorCode::InvalidArgument)
        );
        // A mapped address needs `ipv6-only` off.
        assert_eq!(
            code("[::ffff:127.0.0.1]:80", tcp6, on),
            Some(ErrorCode::InvalidArgument)
        );
        assert_eq!(code("[::ffff:127.0.0.1]:80", tcp6, off), None);
        // Nothing is asked of an ordinary destination.
        let never = |name: OptionName| unreachable!("asked about {name:?}");
        assert!(check_remote(&addr("127.0.0.1:80"), udp4, never).is_ok());
        assert!(check_remote(&addr("[::1]:80"), udp6, never).is_ok());
    }

    #[test]
    fn local_addresses_follow_the_socket() {
        let tcp4 = Some((Domain::Ipv4, Type::Stream));
        let tcp6 = Some((Domain::Ipv6, Type::Stream));
        let udp4 = Some((Domain::Ipv4, Type::Datagram));
        let udp6 = Some((Domain::Ipv6, Type::Datagram));
        for (local, kind, ok) in [
            ("0.0.0.0:0", tcp4, true),
            ("127.0.0.1:80", tcp4, true),
            ("224.0.0.1:0", tcp4, false),
            ("255.255.255.255:0", tcp4, false),
            ("224.0.0.1:0", udp4, true),
            ("255.255.255.255:0", udp4, false),
            ("[::1]:0", udp4, false),
            ("127.0.0.1:0", tcp6, false),
            ("[ff02::1]:0", udp6, false),
            ("[ff02::1%1]:0", udp6, true),
            ("[ff01::1]:0", udp6, false),
            ("[ff05::1]:0", udp6, true),
            ("[ff05::1]:0", tcp6, false),
            ("[fe80::1]:0", tcp6, false),
            ("[::ffff:127.0.0.1]:0", tcp6, true),
            ("[::ffff:255.255.255.255]:0", udp6, false),
        ] {
            assert_eq!(
                check_local(&addr(local), kind, off).is_ok(),
                ok,
                "{local} {kind:?}"
            );
        }
        assert!(check_local(&addr("[::ffff:127.0.0.1]:0"), tcp6, on).is_err());
        let never = |name: OptionName| unreachable!("asked about {name:?}");
        assert!(check_local(&addr("[::1]:0"), udp6, never).is_ok());
    }
}
