//! Name resolution: `resolve` in `wit/sockets.wit`.

use core::fmt;

use crate::{sys, Operation, Result, SockAddr};

/// Resolves a host name to the socket addresses of `port`, in the
/// resolver's order of preference. An IP address literal resolves to
/// itself.
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
    sys::resolve(host, port)
        .map(|inner| Addresses { inner })
        .map_err(|e| e.during(Operation::Resolve))
}

/// The addresses a name resolved to: an iterator of [`SockAddr`], from
/// [`resolve`].
pub struct Addresses {
    inner: sys::ResolvedAddrs,
}

impl Iterator for Addresses {
    type Item = SockAddr;

    #[inline]
    fn next(&mut self) -> Option<SockAddr> {
        self.inner.next().map(SockAddr::from)
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
