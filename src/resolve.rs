//! Name resolution: `resolve` in `wit/sockets.wit`.

use core::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::{sys, Error, ErrorCode, Operation, Result, SockAddr};

/// Resolves a host name to the socket addresses of `port`, in the
/// resolver's order of preference.
///
/// The name is checked before any resolver sees it, the same way on every
/// backend: an IP address literal (`127.0.0.1`, `::1`, or bracketed,
/// `[::1]`) resolves to itself with no lookup at all (so it needs no
/// lookup grant from a host); anything else must be a host name (labels of
/// letters, digits, `-` and `_`, 1 to 63 bytes each, 253 in all, an
/// optional final dot), or it is `invalid-argument` and nothing is
/// looked up: `""`, `" "`, `"127.0.0.1:80"` and `"http://example.com/"`
/// never reach a DNS server.
///
/// Natively this is one getaddrinfo(3) for any family (one entry per
/// address: SOCK_STREAM); the list it returns is read in place and freed
/// when the [`Addresses`] are dropped. On wasm32-wasip2 it is wasi:sockets
/// `ip-name-lookup`, read to the end before returning.
///
/// ```
/// # fn main() -> witsock::Result<()> {
/// let mut addrs = witsock::resolve("127.0.0.1", 80)?;
/// assert_eq!(addrs.next().unwrap().to_string(), "127.0.0.1:80");
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// `name-unresolvable` (EAI_NONAME, EAI_NODATA), `temporary-resolver-failure`
/// (EAI_AGAIN), `permanent-resolver-failure` (every other failure),
/// `invalid-argument` (a name with a NUL byte; on wasm32-wasip2, a name
/// that is not a valid host name).
///
/// # References
/// [getaddrinfo(3)](https://man7.org/linux/man-pages/man3/getaddrinfo.3.html)
pub fn resolve(host: &str, port: u16) -> Result<Addresses> {
    let literal = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .map_or_else(
            || host.parse::<IpAddr>(),
            |inner| {
                inner.parse::<IpAddr>().and_then(|ip| {
                    // Brackets hold IPv6 only, as in URLs.
                    if ip.is_ipv6() {
                        Ok(ip)
                    } else {
                        "".parse()
                    }
                })
            },
        );
    if let Ok(ip) = literal {
        return Ok(Addresses {
            inner: Inner::Literal(Some(SocketAddr::new(ip, port))),
        });
    }
    if !is_host_name(host) {
        return Err(Error::new(ErrorCode::InvalidArgument).during(Operation::Resolve));
    }
    sys::resolve(host, port)
        .map(|resolved| Addresses {
            inner: Inner::Resolved(resolved),
        })
        .map_err(|e| e.during(Operation::Resolve))
}

/// Whether `name` is a host name a resolver may be asked about (RFC 1123
/// labels, with `_` as DNS allows in practice).
fn is_host_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The addresses a name resolved to: an iterator of [`SockAddr`], from
/// [`resolve`].
pub struct Addresses {
    inner: Inner,
}

enum Inner {
    /// An IP literal: itself, once.
    Literal(Option<SocketAddr>),
    Resolved(sys::ResolvedAddrs),
}

impl Iterator for Addresses {
    type Item = SockAddr;

    #[inline]
    fn next(&mut self) -> Option<SockAddr> {
        match &mut self.inner {
            Inner::Literal(addr) => addr.take(),
            Inner::Resolved(resolved) => resolved.next(),
        }
        .map(SockAddr::from)
    }
}

impl fmt::Debug for Addresses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Addresses").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::ErrorCode;

    #[test]
    fn an_ip_literal_resolves_to_itself() {
        let v4: Vec<SockAddr> = resolve("127.0.0.1", 80).unwrap().collect();
        assert_eq!(
            v4,
            [SockAddr::from(
                "127.0.0.1:80".parse::<SocketAddr>().unwrap()
            )]
        );
        let v6: Vec<SockAddr> = resolve("::1", 443).unwrap().collect();
        assert_eq!(
            v6,
            [SockAddr::from("[::1]:443".parse::<SocketAddr>().unwrap())]
        );
    }

    #[test]
    fn localhost_resolves_to_loopback_with_the_port() {
        let addrs: Vec<SocketAddr> = resolve("localhost", 8080)
            .unwrap()
            .map(|a| a.as_socket().unwrap())
            .collect();
        assert!(!addrs.is_empty());
        for a in addrs {
            assert!(a.ip().is_loopback(), "{a}");
            assert_eq!(a.port(), 8080, "{a}");
        }
    }

    #[test]
    fn bracketed_ipv6_literals_resolve_to_themselves() {
        let any: Vec<SockAddr> = resolve("[::]", 7).unwrap().collect();
        assert_eq!(
            any,
            [SockAddr::from("[::]:7".parse::<SocketAddr>().unwrap())]
        );
        assert_eq!(
            resolve("[127.0.0.1]", 7).unwrap_err().code(),
            ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn names_that_are_not_host_names_are_invalid_before_any_lookup() {
        for name in [
            "",
            " ",
            "127.0.0.1:80",
            "http://example.com/",
            "a..b",
            "-a.example",
            "a-.example",
            "exa mple.com",
            &"a".repeat(64),
            &["a"; 128].join("."),
        ] {
            let e = resolve(name, 1).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidArgument, "{name:?}");
        }
        for name in [
            "localhost",
            "localhost.",
            "a_b.example",
            "xn--bcher-kva.example",
        ] {
            assert!(is_host_name(name), "{name}");
        }
    }

    #[test]
    fn a_name_with_a_nul_byte_is_invalid() {
        let e = resolve("local\0host", 1).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidArgument);
        assert_eq!(e.operation(), Some(Operation::Resolve));
    }

    #[test]
    fn a_reserved_invalid_name_does_not_resolve() {
        // RFC 6761: `.invalid` never resolves. Without a reachable DNS
        // server the resolver may only say "try again".
        let e = resolve("no-such-host.invalid", 1).unwrap_err();
        assert!(
            matches!(
                e.code(),
                ErrorCode::NameUnresolvable | ErrorCode::TemporaryResolverFailure
            ),
            "{e}"
        );
    }
}
