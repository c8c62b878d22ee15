//! A socket quota for guests on wasi:sockets.
//!
//! wasmtime-wasi 48 creates sockets without asking the embedder, so
//! nothing it offers can cap how many a guest holds (its resource table's
//! capacity counts streams and pollables too, and traps when full). The
//! host therefore wraps the three wasi:sockets functions that make a
//! socket, `create-tcp-socket`, `create-udp-socket` and
//! `tcp-socket.accept`: each checks the guest's count first and answers
//! `new-socket-limit` (as wasi:sockets documents for this case) when it is
//! full, and otherwise calls wasmtime-wasi's own implementation.
//!
//! A name lookup the policy refuses is `access-denied` at once, from
//! `resolve-addresses` (wasmtime-wasi answers `permanent-resolver-failure`
//! later, which a guest cannot tell from a broken resolver), as the witsock
//! imports answer it.
//!
//! A socket the guest drops is not reported to the host either: the count
//! is of the sockets created through these functions that are still in the
//! store's table, found again (a lookup per socket) only when the count
//! reaches the limit.

use std::collections::HashSet;

use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime::StoreContextMut;
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{
    Host as _, Network, ResolveAddressStream,
};
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddressFamily};
use wasmtime_wasi::p2::bindings::sockets::tcp_create_socket::Host as _;
use wasmtime_wasi::p2::bindings::sync::sockets::tcp::HostTcpSocket as _;
use wasmtime_wasi::p2::bindings::sync::sockets::udp_create_socket::Host as _;
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, SocketError, TcpSocket, UdpSocket};
use wasmtime_wasi::sockets::WasiSocketsView;
use wasmtime_wasi::WasiView;

/// The wasi:sockets version wasmtime-wasi 48 serves (guests importing an
/// older 0.2 version are matched to it).
const VERSION: &str = "0.2.12";

/// How many wasi:sockets sockets one guest may hold, and which it holds.
#[derive(Debug)]
pub(crate) struct SocketQuota {
    max: usize,
    /// Whether the policy allows name lookup.
    name_lookup: bool,
    /// Table entries of the sockets made, by representation and kind.
    live: HashSet<(u32, bool)>,
}

impl SocketQuota {
    pub(crate) fn new(max: usize, name_lookup: bool) -> SocketQuota {
        SocketQuota {
            max,
            name_lookup,
            live: HashSet::new(),
        }
    }

    /// Whether one more socket fits, forgetting the ones the guest has
    /// dropped when the count says it is full.
    fn has_room(&mut self, table: &ResourceTable) -> bool {
        if self.live.len() >= self.max {
            self.forget_dropped(table);
        }
        self.live.len() < self.max
    }

    fn forget_dropped(&mut self, table: &ResourceTable) {
        self.live.retain(|&(rep, tcp)| {
            if tcp {
                table.get(&Resource::<TcpSocket>::new_borrow(rep)).is_ok()
            } else {
                table.get(&Resource::<UdpSocket>::new_borrow(rep)).is_ok()
            }
        });
    }
}

/// What the wrappers need from the store's data: wasmtime-wasi's view, and
/// the guest's quota with the table it counts in.
pub(crate) trait QuotaView: WasiView {
    fn quota(&mut self) -> (&mut SocketQuota, &ResourceTable);
}

/// The error a wasmtime-wasi call returned, for the guest, or the trap it
/// stands for.
fn guest_error(e: SocketError) -> wasmtime::Result<ErrorCode> {
    e.downcast()
}

/// Wraps wasmtime-wasi's socket-making functions in `linker` (which must
/// already hold wasmtime-wasi's p2 bindings) with the quota check.
pub(crate) fn add_to_linker<T: QuotaView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let result = define(linker);
    linker.allow_shadowing(false);
    result
}

fn define<T: QuotaView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    fn room<T: QuotaView>(state: &mut T) -> bool {
        let (quota, table) = state.quota();
        quota.has_room(table)
    }

    linker
        .instance(&format!("wasi:sockets/tcp-create-socket@{VERSION}"))?
        .func_wrap(
            "create-tcp-socket",
            |mut store: StoreContextMut<'_, T>, (family,): (IpAddressFamily,)| {
                let state = store.data_mut();
                if !room(state) {
                    return Ok((Err(ErrorCode::NewSocketLimit),));
                }
                match state.sockets().create_tcp_socket(family) {
                    Ok(socket) => {
                        state.quota().0.live.insert((socket.rep(), true));
                        Ok((Ok(socket),))
                    }
                    Err(e) => Ok((Err(guest_error(e)?),)),
                }
            },
        )?;
    linker
        .instance(&format!("wasi:sockets/udp-create-socket@{VERSION}"))?
        .func_wrap(
            "create-udp-socket",
            |mut store: StoreContextMut<'_, T>, (family,): (IpAddressFamily,)| {
                let state = store.data_mut();
                if !room(state) {
                    return Ok((Err(ErrorCode::NewSocketLimit),));
                }
                match state.sockets().create_udp_socket(family) {
                    Ok(socket) => {
                        state.quota().0.live.insert((socket.rep(), false));
                        Ok((Ok(socket),))
                    }
                    Err(e) => Ok((Err(guest_error(e)?),)),
                }
            },
        )?;
    linker
        .instance(&format!("wasi:sockets/tcp@{VERSION}"))?
        .func_wrap(
            "[method]tcp-socket.accept",
            |mut store: StoreContextMut<'_, T>, (this,): (Resource<TcpSocket>,)| {
                type Accepted = (
                    Resource<TcpSocket>,
                    Resource<DynInputStream>,
                    Resource<DynOutputStream>,
                );
                let state = store.data_mut();
                if !room(state) {
                    return Ok((Err::<Accepted, _>(ErrorCode::NewSocketLimit),));
                }
                match state.sockets().accept(this) {
                    Ok(accepted) => {
                        state.quota().0.live.insert((accepted.0.rep(), true));
                        Ok((Ok(accepted),))
                    }
                    Err(e) => Ok((Err(guest_error(e)?),)),
                }
            },
        )?;
    linker
        .instance(&format!("wasi:sockets/ip-name-lookup@{VERSION}"))?
        .func_wrap(
            "resolve-addresses",
            |mut store: StoreContextMut<'_, T>, (network, name): (Resource<Network>, String)| {
                let state = store.data_mut();
                if !state.quota().0.name_lookup {
                    return Ok((Err::<Resource<ResolveAddressStream>, _>(
                        ErrorCode::AccessDenied,
                    ),));
                }
                match state.sockets().resolve_addresses(network, name) {
                    Ok(stream) => Ok((Ok(stream),)),
                    Err(e) => Ok((Err(guest_error(e)?),)),
                }
            },
        )?;
    Ok(())
}
