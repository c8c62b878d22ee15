//! `wasi:sockets/ip-name-lookup`: names resolved on a blocking thread of
//! the reactor, under the policy.

use std::collections::VecDeque;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use wasmtime::component::Resource;
use wasmtime_wasi::async_trait;
use wasmtime_wasi::p2::{DynPollable, Pollable};
use wasmtime_wasi::runtime::AbortOnDropJoinHandle;

use super::bindings::wasi::sockets::ip_name_lookup;
use super::bindings::wasi::sockets::network::{ErrorCode, IpAddress};
use super::{Network, SocketResult};
use crate::imports::WitsockCtxView;

/// The longest name looked up (DNS allows 253 bytes).
const MAX_NAME: usize = 253;

/// A lookup in progress, or its addresses.
pub struct ResolveAddressStream(Lookup);

enum Lookup {
    Running(AbortOnDropJoinHandle<Result<Vec<IpAddr>, ErrorCode>>),
    Done(Result<VecDeque<IpAddr>, ErrorCode>),
}

impl ResolveAddressStream {
    /// Moves a finished lookup on to its addresses; false while it runs.
    fn settle(&mut self, cx: &mut Context<'_>) -> bool {
        if let Lookup::Running(handle) = &mut self.0 {
            match Pin::new(handle).poll(cx) {
                Poll::Ready(result) => self.0 = Lookup::Done(result.map(VecDeque::from)),
                Poll::Pending => return false,
            }
        }
        true
    }
}

/// What `name` stands for without a lookup: an IP address, IPv6 in
/// brackets or not. `None` for a name to look up; `invalid-argument` for
/// something that is no name at all (a port, a URL, spaces).
fn literal(name: &str) -> Result<Option<IpAddr>, ErrorCode> {
    let bare = name
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'));
    if let Some(v6) = bare {
        return v6
            .parse::<Ipv6Addr>()
            .map(|ip| Some(IpAddr::V6(ip)))
            .map_err(|_| ErrorCode::InvalidArgument);
    }
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(Some(ip));
    }
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > MAX_NAME || !name.split('.').all(valid_label) {
        return Err(ErrorCode::InvalidArgument);
    }
    Ok(None)
}

/// The distinct IP addresses `name` resolves to (getaddrinfo(3)).
fn resolve(name: &str) -> Result<Vec<IpAddr>, ErrorCode> {
    let mut ips: Vec<IpAddr> = Vec::new();
    let addrs = witsock::resolve(name, 0).map_err(|e| super::error_code(&e))?;
    for ip in addrs.filter_map(|addr| Some(addr.as_socket()?.ip())) {
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    Ok(ips)
}

impl ip_name_lookup::Host for WitsockCtxView<'_> {
    fn resolve_addresses(
        &mut self,
        network: Resource<Network>,
        name: String,
    ) -> SocketResult<Resource<ResolveAddressStream>> {
        self.table.get(&network)?;
        let lookup = match literal(&name)? {
            Some(ip) => Lookup::Done(Ok(VecDeque::from([ip]))),
            None => {
                self.ctx.check_lookup(&name)?;
                let turns = self.ctx.lookups.clone();
                // A few at a time per guest: the others wait here, holding
                // no thread (dropping the stream drops its place).
                Lookup::Running(wasmtime_wasi::runtime::spawn(async move {
                    let Ok(_turn) = turns.acquire_owned().await else {
                        return Err(ErrorCode::TemporaryResolverFailure);
                    };
                    wasmtime_wasi::runtime::spawn_blocking(move || resolve(&name)).await
                }))
            }
        };
        Ok(self.table.push(ResolveAddressStream(lookup))?)
    }
}

impl ip_name_lookup::HostResolveAddressStream for WitsockCtxView<'_> {
    fn resolve_next_address(
        &mut self,
        this: Resource<ResolveAddressStream>,
    ) -> SocketResult<Option<IpAddress>> {
        let stream = self.table.get_mut(&this)?;
        if !stream.settle(&mut Context::from_waker(Waker::noop())) {
            return Err(ErrorCode::WouldBlock.into());
        }
        match &mut stream.0 {
            Lookup::Done(Ok(ips)) => Ok(ips.pop_front().map(IpAddress::from)),
            Lookup::Done(Err(code)) => Err((*code).into()),
            Lookup::Running(_) => Err(ErrorCode::WouldBlock.into()),
        }
    }

    fn subscribe(
        &mut self,
        this: Resource<ResolveAddressStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi::p2::subscribe(self.table, this)
    }

    fn drop(&mut self, this: Resource<ResolveAddressStream>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

#[async_trait]
impl Pollable for ResolveAddressStream {
    async fn ready(&mut self) {
        std::future::poll_fn(|cx| {
            if self.settle(cx) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_need_no_lookup_and_non_names_are_invalid() {
        assert_eq!(literal("127.0.0.1"), Ok(Some("127.0.0.1".parse().unwrap())));
        assert_eq!(literal("[::]"), Ok(Some("::".parse().unwrap())));
        assert_eq!(
            literal("DEAD:BEEF::0"),
            Ok(Some("dead:beef::".parse().unwrap()))
        );
        assert_eq!(literal("localhost"), Ok(None));
        assert_eq!(literal("example.com."), Ok(None));
        assert_eq!(literal("münchen.de"), Ok(None));
        for bad in [
            "",
            " ",
            "a.b<&>",
            "127.0.0.1:80",
            "[::]:80",
            "http://example.com/",
            "a..b",
        ] {
            assert_eq!(literal(bad), Err(ErrorCode::InvalidArgument), "{bad:?}");
        }
    }
}
