//! The `socket` resource as the host keeps it in the store's
//! [`ResourceTable`](wasmtime::component::ResourceTable), and the pollable
//! `subscribe` hands out.

use std::mem::ManuallyDrop;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use wasmtime_wasi::async_trait;
use wasmtime_wasi::p2::Pollable;
use witsock::{Domain, Interest, Type};

use super::unix_path::UnixBinding;

/// A guest's socket: the host socket and what the policy needs to know
/// about it.
pub struct SocketResource {
    pub(crate) shared: Arc<SharedSocket>,
    pub(crate) domain: Domain,
    pub(crate) ty: Type,
    /// The port this socket holds in the guest's port table, released when
    /// it is dropped.
    pub(crate) claimed_port: Option<PortKey>,
    /// A sharing option (`reuse-port`, or `reuse-address` on a datagram
    /// socket) was turned on: binds go through the port check.
    pub(crate) shares_ports: bool,
    /// The socket is known to have a local address.
    pub(crate) bound: bool,
    /// The Unix name the host bound it to through a pinned directory (for
    /// an accepted socket, its listener's).
    pub(crate) unix_binding: Option<Arc<UnixBinding>>,
    /// The guest's blocking mode. The host socket itself is always
    /// non-blocking, so that no guest call holds a host thread in the
    /// kernel: a blocking call waits for readiness in the host instead
    /// (`crate::imports::blocking`), on poll(2) or on the async reactor.
    pub(crate) blocking: bool,
}

/// An address and port in the guest's port table: TCP and UDP apart, each
/// local address (the unspecified one included) apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PortKey {
    stream: bool,
    ip: IpAddr,
    port: u16,
    scope_id: u32,
}

impl PortKey {
    /// The key of `addr` (its IPv6 flow label left out: it names no
    /// address).
    pub(crate) fn new(stream: bool, addr: SocketAddr) -> PortKey {
        PortKey {
            stream,
            ip: addr.ip(),
            port: addr.port(),
            scope_id: match addr {
                SocketAddr::V6(v6) => v6.scope_id(),
                SocketAddr::V4(_) => 0,
            },
        }
    }
}

impl SocketResource {
    /// `socket` (non-blocking) as the guest sees it: blocking or not.
    pub(crate) fn new(
        socket: witsock::Socket,
        domain: Domain,
        ty: Type,
        bound: bool,
        blocking: bool,
    ) -> Self {
        SocketResource {
            shared: Arc::new(SharedSocket {
                registration: OnceLock::new(),
                socket: ManuallyDrop::new(socket),
                lingering: Mutex::new(None),
            }),
            domain,
            ty,
            claimed_port: None,
            shares_ports: false,
            bound,
            unix_binding: None,
            blocking,
        }
    }

    /// The host socket.
    #[inline]
    pub fn socket(&self) -> &witsock::Socket {
        &self.shared.socket
    }
}

impl std::fmt::Debug for SocketResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketResource")
            .field("socket", &self.shared.socket)
            .field("domain", &self.domain)
            .field("type", &self.ty)
            .field("blocking", &self.blocking)
            .finish_non_exhaustive()
    }
}

/// The host socket, shared by the table entry and its pollables.
///
/// When the last holder lets go, the reactor registration is dropped (and
/// the descriptor deregistered) before the socket closes the descriptor,
/// whatever order a store drops its entries in.
pub(crate) struct SharedSocket {
    registration: OnceLock<Option<AsyncFd<Descriptor>>>,
    /// Closed in [`Drop`], after the registration.
    pub(crate) socket: ManuallyDrop<witsock::Socket>,
    /// A linger time is set (close(2) then waits for the peer, even on a
    /// non-blocking socket, on Linux): the guest's count of sockets still
    /// closing, which its close joins while it waits.
    lingering: Mutex<Option<Arc<AtomicUsize>>>,
}

impl SharedSocket {
    /// Records whether the socket has a linger time now (`linger` set to
    /// more than zero), which makes its close wait: the count of its
    /// guest's lingering closes, or none.
    pub(crate) fn set_lingers(&self, lingering: Option<Arc<AtomicUsize>>) {
        *self.lingering.lock().unwrap_or_else(|e| e.into_inner()) = lingering;
    }

    /// Whether the socket has a linger time.
    pub(crate) fn lingers(&self) -> bool {
        self.lingering
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }
}

impl Drop for SharedSocket {
    /// Closes the socket. One with a linger time, dropped on a tokio
    /// runtime (an async run, or its store dropped there), is closed on a
    /// blocking thread: its close waits up to the linger time for the
    /// peer, which must not hold a worker that serves other guests. Until
    /// that close returns it still counts in its guest's socket quota.
    /// Elsewhere it closes here, as a blocking close does natively.
    fn drop(&mut self) {
        drop(self.registration.take());
        // SAFETY: `drop` runs once and nothing uses `self.socket` after
        // this: it is taken out exactly once, here.
        let socket = unsafe { ManuallyDrop::take(&mut self.socket) };
        let lingering = self
            .lingering
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let (Some(lingering), Ok(runtime)) = (lingering, tokio::runtime::Handle::try_current()) {
            let closing = Closing::new(lingering);
            // Run or dropped unrun (the runtime shutting down), the close
            // happens and the count comes down.
            drop(runtime.spawn_blocking(move || {
                drop(socket);
                drop(closing);
            }));
            return;
        }
        drop(socket);
    }
}

/// One lingering close in its guest's count, until it is dropped.
struct Closing(Arc<AtomicUsize>);

impl Closing {
    fn new(lingering: Arc<AtomicUsize>) -> Closing {
        lingering.fetch_add(1, Ordering::Relaxed);
        Closing(lingering)
    }
}

impl Drop for Closing {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The socket's descriptor, lent to the reactor. It does not own the
/// descriptor: [`SharedSocket`] keeps the socket alive longer than the
/// registration.
struct Descriptor(RawFd);

impl AsRawFd for Descriptor {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

impl SharedSocket {
    /// The socket's registration with the tokio reactor, made on first
    /// use; `None` if the reactor refused it.
    fn registration(&self) -> Option<&AsyncFd<Descriptor>> {
        self.registration
            .get_or_init(|| {
                let fd = Descriptor(self.socket.as_raw_fd());
                let interest = tokio::io::Interest::READABLE | tokio::io::Interest::WRITABLE;
                wasmtime_wasi::runtime::with_ambient_tokio_runtime(|| {
                    // SAFETY: the descriptor belongs to `self.socket`, which
                    // is dropped after `self.registration` (field order) and
                    // never replaced, so it stays open and the same for the
                    // registration's whole life.
                    unsafe { AsyncFd::register_with_interest(fd, interest) }.ok()
                })
            })
            .as_ref()
    }

    /// Whether the socket is ready for `interest` now (poll(2) with no
    /// timeout); errors count as ready, so that the guest's next call
    /// reports them.
    fn ready_now(&self, interest: Interest) -> bool {
        match self.socket.wait(interest, Some(Duration::ZERO)) {
            Ok(readiness) => !readiness.is_empty(),
            Err(_) => true,
        }
    }
}

/// The resource behind a `subscribe` pollable: the socket and the interest
/// it waits for. A child of the socket's table entry, so the socket cannot
/// be dropped while one is alive.
pub(crate) struct SocketReadiness {
    pub(crate) shared: Arc<SharedSocket>,
    pub(crate) interest: Interest,
}

#[async_trait]
impl Pollable for SocketReadiness {
    async fn ready(&mut self) {
        self.shared.ready(self.interest).await;
    }
}

impl SharedSocket {
    /// Waits until the socket is ready for `interest` (level-triggered):
    /// the reactor's edge-triggered readiness only wakes this up, and is
    /// cleared when the kernel says the socket is not ready after all.
    pub(crate) async fn ready(&self, interest: Interest) {
        let Some(registration) = self.registration() else {
            // No reactor: report ready and let the guest's call tell.
            return;
        };
        let wanted = match (interest.is_readable(), interest.is_writable()) {
            (true, false) => tokio::io::Interest::READABLE,
            (false, true) => tokio::io::Interest::WRITABLE,
            // Both, or neither (errors and hang-ups only).
            _ => tokio::io::Interest::READABLE | tokio::io::Interest::WRITABLE,
        };
        loop {
            if self.ready_now(interest) {
                return;
            }
            match registration.ready(wanted).await {
                Ok(mut guard) => {
                    if self.ready_now(interest) {
                        return;
                    }
                    // Only clears what this guard saw: an event since then
                    // wakes the next round at once.
                    guard.clear_ready();
                }
                Err(_) => return,
            }
        }
    }
}
