//! The `imports` backend (wasm32-wasip2 with the `imports` feature): every
//! call goes to the host through the witsock WIT in `wit/` (world
//! `witsock:sockets/imports`), which a witsock host serves from its own
//! native backend.
//!
//! The host decides what the guest may do: [`capabilities`] reports what
//! it granted (fetched once), and a refused address or option comes back
//! as `access-denied`. Errors keep the host's native error code as their
//! raw code; [`errno_name`] reads its name from the host's table, fetched
//! once (`error-names`).
//!
//! Copies: what the guest sends (`send`, `send-to`, each buffer of
//! `send-vectored`, each payload of `send-batch`) goes to the host as a
//! borrowed slice of the guest's memory; received data arrives in a list
//! the host writes into guest memory and is copied from there into the
//! caller's buffer, since the WIT returns lists rather than filling
//! buffers.

use core::ptr::NonNull;
use core::time::Duration;
use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::sync::OnceLock;

use crate::{
    Capabilities, Domain, Error, ErrorCode, IncomingDatagram, Interest, OptionName,
    OutgoingDatagram, Protocol, Readiness, RecvFlags, Result, SendFlags, Shutdown, SocketOption,
    Support, Type,
};

mod addr;
mod convert;

pub(crate) use self::addr::RawAddr;

use self::bindings::witsock::sockets::sockets as wit;
use self::convert::{
    error_from_wit, family_to_wit, interest_to_wit, option_from_wit, option_name_to_wit,
    option_to_wit, protocol_to_wit, readiness_from_wit, recv_flags_to_wit, send_flags_to_wit,
    shutdown_to_wit, support_from_wit, type_to_wit,
};
use crate::mirror::nanos_to_wit as nanos;

#[allow(missing_docs, dead_code, unsafe_op_in_unsafe_fn, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "witsock:sockets/imports",
        // Parameters borrow: a payload, a Unix path or a list of buffers
        // goes to the host straight from the caller's memory.
        ownership: Borrowing { duplicate_if_necessary: true },
        // The pollables `subscribe` returns are the `wasi` crate's, so that
        // they mix with those of wasi:io and wasi:sockets.
        with: { "wasi:io/poll@0.2.4": wasi::io::poll },
        // Its own name for the type section, so that a guest that also
        // generates bindings to this world links.
        type_section_suffix: "witsock",
    });
}

/// A socket owned by the host; dropping it closes the host's socket.
#[derive(Debug)]
pub(crate) struct Socket {
    inner: wit::Socket,
}

/// A length for the host: what the caller's buffer holds.
#[inline]
fn wit_len(len: usize) -> u64 {
    len as u64
}

/// A count the host returned, which never exceeds what was asked.
#[inline]
fn count(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Copies `data` into the start of `buf`; returns the bytes copied.
#[inline]
fn copy_into(buf: &mut [u8], data: &[u8]) -> usize {
    let n = data.len().min(buf.len());
    buf[..n].copy_from_slice(&data[..n]);
    n
}

impl Socket {
    fn from_wit(inner: wit::Socket) -> Socket {
        Socket { inner }
    }

    pub(crate) fn new(
        domain: Domain,
        ty: Type,
        protocol: Option<Protocol>,
        nonblocking: bool,
    ) -> Result<Socket> {
        wit::Socket::create(
            family_to_wit(domain),
            type_to_wit(ty),
            protocol.map(protocol_to_wit),
            nonblocking,
        )
        .map(Socket::from_wit)
        .map_err(error_from_wit)
    }

    pub(crate) fn pair(ty: Type, nonblocking: bool) -> Result<(Socket, Socket)> {
        wit::socket_pair(type_to_wit(ty), nonblocking)
            .map(|(a, b)| (Socket::from_wit(a), Socket::from_wit(b)))
            .map_err(error_from_wit)
    }

    pub(crate) fn set_nonblocking(&self, nonblocking: bool) -> Result<()> {
        self.inner
            .set_nonblocking(nonblocking)
            .map_err(error_from_wit)
    }

    /// `reuse_address` is the host's to apply: its own portable layer
    /// binds with the same rule.
    pub(crate) fn bind(&self, addr: &RawAddr, _reuse_address: bool) -> Result<()> {
        self.inner.bind(addr.as_wit()?).map_err(error_from_wit)
    }

    /// `reuse_address`: as for `bind`, the host's.
    pub(crate) fn listen(&self, backlog: i32, _reuse_address: bool) -> Result<()> {
        // The portable layer passes 1..=i32::MAX.
        let backlog = u32::try_from(backlog).map_err(|_| Error::new(ErrorCode::InvalidArgument))?;
        self.inner.listen(backlog).map_err(error_from_wit)
    }

    #[inline]
    pub(crate) fn try_accept(&self) -> Result<Option<(Socket, RawAddr)>> {
        match self.inner.try_accept() {
            Ok(Some((socket, peer))) => {
                Ok(Some((Socket::from_wit(socket), RawAddr::from_wit(&peer))))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(error_from_wit(e)),
        }
    }

    pub(crate) fn start_connect(&self, addr: &RawAddr) -> Result<bool> {
        self.inner
            .start_connect(addr.as_wit()?)
            .map_err(error_from_wit)
    }

    pub(crate) fn finish_connect(&self) -> Result<bool> {
        self.inner.finish_connect().map_err(error_from_wit)
    }

    /// The host's witsock dissolves the association (connect(2) with
    /// AF_UNSPEC there, and its bind again of a released port).
    pub(crate) fn disconnect(&self) -> Result<()> {
        self.inner.disconnect().map_err(error_from_wit)
    }

    /// A UDP socket connected: nothing to do, the host drops what others
    /// sent before the connect (its own witsock does).
    #[inline]
    pub(crate) fn datagram_connected(&self) {}

    #[inline]
    pub(crate) fn send(&self, buf: &[u8], flags: SendFlags) -> Result<usize> {
        self.inner
            .send(buf, send_flags_to_wit(flags))
            .map(count)
            .map_err(error_from_wit)
    }

    #[inline]
    pub(crate) fn recv(&self, buf: &mut [u8], flags: RecvFlags) -> Result<usize> {
        let data = self
            .inner
            .receive(wit_len(buf.len()), recv_flags_to_wit(flags))
            .map_err(error_from_wit)?;
        Ok(copy_into(buf, &data))
    }

    #[inline]
    pub(crate) fn send_to(&self, buf: &[u8], addr: &RawAddr, flags: SendFlags) -> Result<usize> {
        self.inner
            .send_to(buf, addr.as_wit()?, send_flags_to_wit(flags))
            .map(count)
            .map_err(error_from_wit)
    }

    #[inline]
    pub(crate) fn recv_from(
        &self,
        buf: &mut [u8],
        flags: RecvFlags,
    ) -> Result<(usize, RawAddr, bool)> {
        let datagram = self
            .inner
            .receive_from(wit_len(buf.len()), recv_flags_to_wit(flags))
            .map_err(error_from_wit)?;
        let n = copy_into(buf, &datagram.data);
        let truncated = datagram.truncated || datagram.data.len() > n;
        Ok((n, RawAddr::from_wit(&datagram.remote_address), truncated))
    }

    /// One host call, one sendmsg(2) there: the buffers are passed as
    /// slices of the caller's memory.
    #[inline]
    pub(crate) fn send_vectored(&self, bufs: &[IoSlice<'_>], flags: SendFlags) -> Result<usize> {
        let slices: Vec<&[u8]> = bufs.iter().map(|b| &**b).collect();
        self.inner
            .send_vectored(&slices, send_flags_to_wit(flags))
            .map(count)
            .map_err(error_from_wit)
    }

    /// One host call, one recvmsg(2) there; the filled buffers are copied
    /// into the caller's in order.
    #[inline]
    pub(crate) fn recv_vectored(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        flags: RecvFlags,
    ) -> Result<usize> {
        let lengths: Vec<u64> = bufs.iter().map(|b| wit_len(b.len())).collect();
        let filled = self
            .inner
            .receive_vectored(&lengths, recv_flags_to_wit(flags))
            .map_err(error_from_wit)?;
        let mut total = 0;
        for (buf, data) in bufs.iter_mut().zip(&filled) {
            total += copy_into(buf, data);
        }
        Ok(total)
    }

    /// One host call for the whole batch (sendmmsg(2) there, in chunks).
    pub(crate) fn send_batch(&self, datagrams: &[OutgoingDatagram<'_>]) -> Result<usize> {
        let mut batch = Vec::with_capacity(datagrams.len());
        for d in datagrams {
            batch.push(wit::OutgoingDatagram {
                data: d.data,
                remote_address: match d.addr {
                    Some(addr) => Some(addr.raw.as_wit()?),
                    None => None,
                },
            });
        }
        self.inner
            .send_batch(&batch)
            .map(|n| n as usize)
            .map_err(error_from_wit)
    }

    /// One host call (one recvmmsg(2) there) for up to `slots.len()`
    /// datagrams, each cut to the largest slot; a datagram longer than its
    /// own slot is cut there and marked truncated.
    pub(crate) fn recv_batch(&self, slots: &mut [IncomingDatagram<'_>]) -> Result<usize> {
        let max_len = slots.iter().map(|s| s.buf.len()).max().unwrap_or(0);
        let datagrams = self
            .inner
            .receive_batch(slots.len() as u32, wit_len(max_len))
            .map_err(error_from_wit)?;
        let mut filled = 0;
        for (slot, datagram) in slots.iter_mut().zip(&datagrams) {
            let n = copy_into(slot.buf, &datagram.data);
            slot.len = n;
            slot.addr = crate::SockAddr {
                raw: RawAddr::from_wit(&datagram.remote_address),
            };
            slot.truncated = datagram.truncated || datagram.data.len() > n;
            filled += 1;
        }
        Ok(filled)
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> Result<()> {
        self.inner
            .shutdown(shutdown_to_wit(how))
            .map_err(error_from_wit)
    }

    /// Unknown here: every socket of this backend is created by witsock,
    /// which records its family and type.
    pub(crate) fn kind(&self) -> Option<(Domain, Type)> {
        None
    }

    pub(crate) fn local_addr(&self) -> Result<RawAddr> {
        self.inner
            .local_address()
            .map(|a| RawAddr::from_wit(&a))
            .map_err(error_from_wit)
    }

    pub(crate) fn peer_addr(&self) -> Result<RawAddr> {
        self.inner
            .remote_address()
            .map(|a| RawAddr::from_wit(&a))
            .map_err(error_from_wit)
    }

    pub(crate) fn set_option(&self, option: &SocketOption) -> Result<()> {
        self.inner
            .set_option(option_to_wit(option))
            .map_err(error_from_wit)
    }

    pub(crate) fn option(&self, name: OptionName) -> Result<SocketOption> {
        let value = self
            .inner
            .get_option(option_name_to_wit(name))
            .map_err(error_from_wit)?;
        Ok(option_from_wit(value))
    }

    pub(crate) fn wait(&self, interest: Interest, timeout: Option<Duration>) -> Result<Readiness> {
        self.inner
            .wait(interest_to_wit(interest), timeout.map(nanos))
            .map(readiness_from_wit)
            .map_err(error_from_wit)
    }
}

/// A socket and what to wait for, filled in with what was found.
pub(crate) struct PollEntry {
    /// Borrowed for as long as the portable `PollEntry<'a>` holding this
    /// one lives.
    socket: NonNull<wit::Socket>,
    interest: Interest,
    readiness: Readiness,
}

// SAFETY: the pointer stands for the `&'a wit::Socket` the portable
// `PollEntry<'a>` borrows (see `new`), and is only read through as such;
// `wit::Socket` is `Sync` (the portable `Socket` holding it is, checked in
// `sys/mod.rs`), so sending or sharing that borrow is sound, as it is for
// the native `pollfd` and the wasi entries.
unsafe impl Send for PollEntry {}
// SAFETY: as for `Send`: shared access only reads the borrowed socket.
unsafe impl Sync for PollEntry {}

impl PollEntry {
    #[inline]
    pub(crate) fn new(socket: &Socket, interest: Interest) -> PollEntry {
        PollEntry {
            socket: NonNull::from(&socket.inner),
            interest,
            readiness: Readiness::EMPTY,
        }
    }

    #[inline]
    pub(crate) fn readiness(&self) -> Readiness {
        self.readiness
    }
}

/// One host `poll` for all entries.
pub(crate) fn poll(entries: &mut [PollEntry], timeout: Option<Duration>) -> Result<usize> {
    let list: Vec<(&wit::Socket, wit::Interest)> = entries
        .iter()
        .map(|e| {
            // SAFETY: the portable PollEntry<'a> that holds `e` borrows the
            // socket for 'a, which covers this call.
            let socket = unsafe { e.socket.as_ref() };
            (socket, interest_to_wit(e.interest))
        })
        .collect();
    let found = wit::poll(&list, timeout.map(nanos)).map_err(error_from_wit)?;
    let mut ready = 0;
    for (entry, readiness) in entries.iter_mut().zip(found) {
        entry.readiness = readiness_from_wit(readiness);
        ready += usize::from(!entry.readiness.is_empty());
    }
    Ok(ready)
}

/// The host's capabilities, fetched on first use.
pub(crate) fn capabilities() -> &'static Capabilities {
    static CAPABILITIES: OnceLock<Capabilities> = OnceLock::new();
    CAPABILITIES.get_or_init(|| {
        let host = wit::get_capabilities();
        let mut caps = Capabilities::uniform("witsock-imports", Support::Unsupported);
        caps.dual_stack = support_from_wit(host.dual_stack);
        caps.vectored_io = support_from_wit(host.vectored_io);
        caps.batched_datagrams = support_from_wit(host.batched_datagrams);
        caps.unix_sockets = support_from_wit(host.unix_sockets);
        caps.peek = support_from_wit(host.peek);
        caps.out_of_band = support_from_wit(host.out_of_band);
        caps.blocking_mode = support_from_wit(host.blocking_mode);
        for (name, support) in host.options {
            caps = caps.with_option(
                convert::option_name_from_wit(name),
                support_from_wit(support),
            );
        }
        caps
    })
}

/// Raw codes here are the host's errnos.
pub(crate) const RAW_CODE_KIND: &str = "host errno";

/// No hints here: a host's errno is about the host's system, which the
/// guest does not see, and a host's policy refusal has no errno.
#[inline]
pub(crate) fn hint(
    _code: ErrorCode,
    _raw: i32,
    _op: Option<crate::Operation>,
    _target: crate::error::HintTarget,
) -> Option<&'static str> {
    None
}

/// The name of one of the host's errnos (`EADDRINUSE`), from the host's
/// table, fetched on first use.
pub fn errno_name(raw: i32) -> Option<&'static str> {
    static NAMES: OnceLock<Vec<(i32, String)>> = OnceLock::new();
    NAMES
        .get_or_init(wit::error_names)
        .iter()
        .find(|(code, _)| *code == raw)
        .map(|(_, name)| name.as_str())
}

/// The portable code of a raw code: raw codes here are the host's errno
/// values, whose meaning depends on the host's kernel, so only the host
/// maps them (each error arrives with its portable code already).
pub fn error_code(_raw: i32) -> ErrorCode {
    ErrorCode::Other
}

/// The addresses a name resolved to on the host, in the resolver's order.
pub(crate) type ResolvedAddrs = std::vec::IntoIter<SocketAddr>;

/// The host's resolver (getaddrinfo(3) there), under the host's policy.
pub(crate) fn resolve(host: &str, port: u16) -> Result<ResolvedAddrs> {
    let found = wit::resolve(host, port).map_err(error_from_wit)?;
    let addrs: Vec<SocketAddr> = found
        .iter()
        .filter_map(|a| RawAddr::from_wit(a).as_socket())
        .collect();
    if addrs.is_empty() {
        // The host never answers with no address; a host that does found
        // nothing usable.
        return Err(Error::new(ErrorCode::NameUnresolvable));
    }
    Ok(addrs.into_iter())
}
