//! What usually causes an `access-denied` the kernel returned (EACCES,
//! EPERM) on a bind, connect or send: the error people lose days on, so
//! its message says where to look. Only this backend gives hints: they are
//! about the host's kernel, firewall and permissions.

use std::net::{IpAddr, SocketAddr};

use crate::error::HintTarget;
use crate::{ErrorCode, Operation};

/// A bind to a privileged port.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) const PRIVILEGED_PORT: &str = "ports below net.ipv4.ip_unprivileged_port_start \
     (1024 by default) are privileged: binding one needs root or CAP_NET_BIND_SERVICE";
/// A bind to a privileged port.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) const PRIVILEGED_PORT: &str = "ports below 1024 are privileged: binding one needs root";

/// A send to (or connect of a datagram socket to) a broadcast address.
pub(crate) const BROADCAST: &str =
    "sending to a broadcast address needs the broadcast option (SO_BROADCAST)";

/// A Unix socket path the caller may not use.
pub(crate) const UNIX_PATH: &str = "the permissions of the socket path or its directory \
     refuse it: bind needs write and search permission on the directory, connect and send \
     need write permission on the socket";

/// Anything else: the kernel's own checks passed, something else refused.
pub(crate) const REFUSED: &str = "a firewall (iptables/nftables, pf) or a security module \
     (SELinux, AppArmor) refused the socket";

/// The hint for an error of `code` with native code `raw` (0 for none)
/// from `op` on `target`, if there is one: only for `access-denied` from
/// the kernel (EACCES, EPERM) on a bind, connect or send, and for
/// witsock's own refusal of a send to 255.255.255.255 without the
/// broadcast option (the check that stands in for the kernel's EACCES, on
/// every backend). Other errors with no native code (a host's policy
/// refusals) get none.
pub(crate) fn hint(
    code: ErrorCode,
    raw: i32,
    op: Option<Operation>,
    target: HintTarget,
) -> Option<&'static str> {
    if code != ErrorCode::AccessDenied {
        return None;
    }
    let op = op?;
    if !matches!(op, Operation::Bind | Operation::Connect | Operation::Send) {
        return None;
    }
    if raw == 0 {
        return match target {
            HintTarget::Ip(addr) if op != Operation::Bind && is_limited_broadcast(addr.ip()) => {
                Some(BROADCAST)
            }
            _ => None,
        };
    }
    if raw != libc::EACCES && raw != libc::EPERM {
        return None;
    }
    Some(match target {
        HintTarget::UnixPath => UNIX_PATH,
        HintTarget::Ip(addr) if op == Operation::Bind => {
            if addr.port() != 0 && addr.port() < privileged_below() {
                PRIVILEGED_PORT
            } else {
                REFUSED
            }
        }
        HintTarget::Ip(addr) if raw == libc::EACCES && looks_broadcast(addr) => BROADCAST,
        HintTarget::Ip(_) | HintTarget::None => REFUSED,
    })
}

/// 255.255.255.255, also written IPv4-mapped.
fn is_limited_broadcast(ip: IpAddr) -> bool {
    matches!(ip.to_canonical(), IpAddr::V4(v4) if v4.is_broadcast())
}

/// Whether `addr` may be a broadcast address: the limited broadcast, or an
/// IPv4 address ending in 255 (the broadcast address of a /24 or wider
/// subnet, 127.255.255.255 on Linux's loopback). The kernel's EACCES for a
/// send says the route is a broadcast one; telling a subnet's broadcast
/// address from a host's would need the interfaces' netmasks.
fn looks_broadcast(addr: SocketAddr) -> bool {
    match addr.ip().to_canonical() {
        IpAddr::V4(v4) => v4.octets()[3] == 255,
        IpAddr::V6(_) => false,
    }
}

/// The first unprivileged port: Linux's `ip_unprivileged_port_start` of
/// the caller's network namespace (read when asked: only for the message
/// of a refused bind), 1024 where it cannot be read and on other systems.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn privileged_below() -> u16 {
    read_port_start().unwrap_or(1024)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn privileged_below() -> u16 {
    1024
}

/// `ip_unprivileged_port_start`, read into a stack buffer (the error path
/// does not allocate).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn read_port_start() -> Option<u16> {
    use std::io::Read;
    let mut file = std::fs::File::open("/proc/sys/net/ipv4/ip_unprivileged_port_start").ok()?;
    let mut buf = [0u8; 8];
    let n = file.read(&mut buf).ok()?;
    parse_port_start(&buf[..n])
}

/// The sysctl's text (`1024\n`); one past the last port (65536) is kept
/// as 65535, below which every port is privileged.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn parse_port_start(text: &[u8]) -> Option<u16> {
    let value: u32 = core::str::from_utf8(text).ok()?.trim().parse().ok()?;
    Some(value.min(u32::from(u16::MAX)) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> HintTarget {
        HintTarget::Ip(s.parse().unwrap())
    }

    const ACCES: i32 = libc::EACCES;
    const PERM: i32 = libc::EPERM;
    const DENIED: ErrorCode = ErrorCode::AccessDenied;

    #[test]
    fn a_refused_bind_to_a_low_port_is_a_privileged_port() {
        let bind = Some(Operation::Bind);
        assert_eq!(
            hint(DENIED, ACCES, bind, ip("127.0.0.1:80")),
            Some(PRIVILEGED_PORT)
        );
        assert_eq!(
            hint(DENIED, ACCES, bind, ip("[::1]:1")),
            Some(PRIVILEGED_PORT)
        );
        assert_eq!(
            hint(DENIED, PERM, bind, ip("0.0.0.0:1023")),
            Some(PRIVILEGED_PORT)
        );
        // Port 0 is the kernel's pick: not a privileged port.
        assert_eq!(hint(DENIED, ACCES, bind, ip("0.0.0.0:0")), Some(REFUSED));
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn the_privileged_range_is_the_namespace_s() {
        assert_eq!(parse_port_start(b"1024\n"), Some(1024));
        assert_eq!(parse_port_start(b"0\n"), Some(0));
        assert_eq!(parse_port_start(b"65536\n"), Some(65535));
        assert_eq!(parse_port_start(b"x"), None);
        let start = privileged_below();
        let above = format!("127.0.0.1:{}", start.max(1024));
        assert_eq!(
            hint(DENIED, ACCES, Some(Operation::Bind), ip(&above)),
            Some(REFUSED),
            "{above} is not privileged"
        );
    }

    #[test]
    fn a_refused_send_or_connect_to_a_broadcast_address_needs_the_option() {
        for op in [Operation::Send, Operation::Connect] {
            for to in ["255.255.255.255:9", "127.255.255.255:9", "192.168.1.255:67"] {
                assert_eq!(
                    hint(DENIED, ACCES, Some(op), ip(to)),
                    Some(BROADCAST),
                    "{to}"
                );
            }
            assert_eq!(
                hint(DENIED, ACCES, Some(op), ip("[::ffff:255.255.255.255]:9")),
                Some(BROADCAST)
            );
            // witsock's own check of 255.255.255.255 has no errno.
            assert_eq!(
                hint(DENIED, 0, Some(op), ip("255.255.255.255:9")),
                Some(BROADCAST)
            );
            // EPERM is a netfilter drop, not a broadcast route.
            assert_eq!(
                hint(DENIED, PERM, Some(op), ip("192.168.1.255:9")),
                Some(REFUSED)
            );
        }
    }

    #[test]
    fn other_refusals_are_a_firewall_or_security_module() {
        for op in [Operation::Send, Operation::Connect] {
            assert_eq!(
                hint(DENIED, PERM, Some(op), ip("192.0.2.1:443")),
                Some(REFUSED)
            );
            assert_eq!(
                hint(DENIED, ACCES, Some(op), ip("[2001:db8::ff]:443")),
                Some(REFUSED)
            );
            // A connected socket's send names no address.
            assert_eq!(
                hint(DENIED, PERM, Some(op), HintTarget::None),
                Some(REFUSED)
            );
        }
        let bind = Some(Operation::Bind);
        assert_eq!(
            hint(DENIED, ACCES, bind, ip("127.0.0.1:8080")),
            Some(REFUSED)
        );
    }

    #[test]
    fn a_refused_unix_path_is_its_permissions() {
        for op in [Operation::Bind, Operation::Connect, Operation::Send] {
            assert_eq!(
                hint(DENIED, ACCES, Some(op), HintTarget::UnixPath),
                Some(UNIX_PATH)
            );
        }
    }

    #[test]
    fn no_hint_without_the_kernel_s_refusal() {
        let send = Some(Operation::Send);
        let to = ip("192.0.2.1:443");
        // A host policy's refusal has no native code.
        assert_eq!(hint(DENIED, 0, send, to), None);
        assert_eq!(
            hint(DENIED, 0, Some(Operation::Bind), ip("127.0.0.1:80")),
            None
        );
        assert_eq!(hint(DENIED, 0, send, HintTarget::UnixPath), None);
        // EROFS is access-denied too, but not a permission.
        assert_eq!(hint(DENIED, libc::EROFS, send, to), None);
        // Other codes, other operations, no operation.
        assert_eq!(hint(ErrorCode::ConnectionRefused, ACCES, send, to), None);
        assert_eq!(hint(DENIED, ACCES, Some(Operation::Create), to), None);
        assert_eq!(hint(DENIED, ACCES, Some(Operation::Listen), to), None);
        assert_eq!(hint(DENIED, ACCES, None, to), None);
    }
}
