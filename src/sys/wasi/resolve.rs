//! Name resolution on wasi:sockets: `ip-name-lookup.resolve-addresses`,
//! read to the end (waiting on its pollable) before returning, so that
//! every error is reported by [`resolve`] itself, as getaddrinfo(3) does.

use std::net::SocketAddr;

use ::wasi::sockets::ip_name_lookup;
use ::wasi::sockets::network::ErrorCode as WasiErrorCode;

use super::addr::ip_with_port;
use super::{network, wasi_error};
use crate::{Error, ErrorCode, Result};

/// The addresses a name resolved to, in the resolver's order.
pub(crate) type ResolvedAddrs = std::vec::IntoIter<SocketAddr>;

pub(crate) fn resolve(host: &str, port: u16) -> Result<ResolvedAddrs> {
    let stream = ip_name_lookup::resolve_addresses(network(), host).map_err(wasi_error)?;
    // Declared after the stream, so dropped before it: it is its child.
    let ready = stream.subscribe();
    let mut addrs = Vec::new();
    loop {
        match stream.resolve_next_address() {
            Ok(Some(ip)) => addrs.push(ip_with_port(ip, port)),
            Ok(None) => break,
            Err(WasiErrorCode::WouldBlock) => ready.block(),
            Err(e) if addrs.is_empty() => return Err(wasi_error(e)),
            // Keep what came before a late failure.
            Err(_) => break,
        }
    }
    if addrs.is_empty() {
        // getaddrinfo(3) never succeeds with no address.
        return Err(Error::new(ErrorCode::NameUnresolvable));
    }
    Ok(addrs.into_iter())
}
