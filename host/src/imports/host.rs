//! The witsock calls: each looks up its socket in the table, converts the
//! WIT types and hands the call to the socket layer
//! ([`crate::sockets`]), which enforces the guest's policy.
//!
//! Each call returns `Result<T, CallError>`: the guest's `error`, or a
//! trap, kept for a handle the table does not hold (wasmtime already traps
//! on a forged or stale handle before the host sees it, so this is a
//! second line); the linker splits the two where the call returns. A call
//! that may block is one attempt ([`Step`]), which a driver of
//! [`blocking`](super::blocking) repeats until it is done.

use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Resource, ResourceTable, ResourceTableError};
use wasmtime_wasi::p2::DynPollable;
use witsock::{IncomingDatagram, Interest, OptionName, Type};

use super::bindings::witsock::sockets::sockets as ws;
use super::bindings::witsock::sockets::types as wt;
use super::blocking::{Attempt, Step, Timeout, Wait};
use super::convert::{self, refusal};
use crate::sockets::resource::{SharedSocket, SocketReadiness, SocketResource};
use crate::sockets::{CheckedAddress, Gate, Target, WitsockCtx};
use crate::trappable::TrappableError;

/// What a witsock call fails with: the guest's `error`, or a trap.
pub(crate) type CallError = TrappableError<wt::Error>;

/// What a witsock call returns.
pub(crate) type HostResult<T> = Result<T, CallError>;

/// What one attempt of a call that may block returns: its value, a wait,
/// or its error.
pub(crate) type Attempted<T> = Result<Step<T>, CallError>;

impl From<wt::Error> for CallError {
    #[inline]
    fn from(e: wt::Error) -> CallError {
        TrappableError::guest(e)
    }
}

impl From<witsock::Error> for CallError {
    #[inline]
    fn from(e: witsock::Error) -> CallError {
        TrappableError::guest(convert::error(e))
    }
}

/// Buffers in one vectored call (Linux's UIO_MAXIOV).
pub(crate) const IOV_MAX: usize = 1024;

/// Vectored receives of up to this many buffers keep their bookkeeping on
/// the stack.
pub(crate) const INLINE_BUFFERS: usize = 64;

/// What the witsock imports work on: the guest's [`WitsockCtx`] and the
/// store's [`ResourceTable`] (the one wasmtime-wasi uses, so that the
/// pollables of both mix).
pub struct WitsockCtxView<'a> {
    /// The guest's socket state.
    pub ctx: &'a mut WitsockCtx,
    /// The store's resource table.
    pub table: &'a mut ResourceTable,
}

/// What a send needs from the table, taken before the guest's memory is
/// borrowed for the payload.
pub(crate) struct SendTarget {
    pub(crate) shared: Arc<SharedSocket>,
    pub(crate) gate: Arc<Gate>,
    pub(crate) ty: Type,
    /// The guest's socket is in blocking mode.
    pub(crate) blocking: bool,
}

impl SendTarget {
    /// The guest's result after one more send of a call that sends `total`
    /// bytes, `sent` of them before it. In blocking mode a stream socket
    /// waits until it has queued them all, as the kernel's send does (a
    /// timeout or an error after some went returns how many went); a
    /// datagram goes whole or waits.
    pub(crate) fn progress(
        &self,
        sent: &mut usize,
        total: usize,
        result: witsock::Result<usize>,
        attempt: Attempt,
    ) -> Attempted<u64> {
        let (blocks, done) = match result {
            Ok(n) => {
                *sent += n;
                let more = self.ty == Type::Stream && n > 0 && *sent < total;
                (more, Ok(*sent as u64))
            }
            Err(e) if *sent > 0 => (e.is_would_block(), Ok(*sent as u64)),
            Err(e) => (e.is_would_block(), Err(e.into())),
        };
        attempt.wait_for(
            self.blocking && blocks,
            &self.shared,
            Interest::WRITABLE,
            Timeout::Send,
            done,
        )
    }
}

/// The address a WIT address names, for the policy.
pub(crate) fn target(addr: &wt::SocketAddress) -> Result<Target<'_>, wt::Error> {
    match addr {
        wt::SocketAddress::Ipv4(a) => Ok(Target::Ip(SocketAddr::V4(
            convert::ipv4_socket_address_from_wit(a),
        ))),
        wt::SocketAddress::Ipv6(a) => Ok(Target::Ip(SocketAddr::V6(
            convert::ipv6_socket_address_from_wit(a),
        ))),
        wt::SocketAddress::Unix(bytes) => Ok(Target::Path(
            convert::unix_path(bytes).map_err(convert::error)?,
        )),
        wt::SocketAddress::UnixAbstract(name) => Ok(Target::Abstract(name)),
        // Nothing to bind or connect to: an unnamed address only describes
        // a socket.
        wt::SocketAddress::Unnamed => Err(refusal(wt::ErrorCode::InvalidArgument)),
    }
}

impl WitsockCtxView<'_> {
    fn socket(&self, this: &Resource<SocketResource>) -> HostResult<&SocketResource> {
        Ok(self.table.get(this)?)
    }

    /// The socket and the context, apart, for a call that changes both.
    fn socket_mut(
        &mut self,
        this: &Resource<SocketResource>,
    ) -> HostResult<(&mut WitsockCtx, &mut SocketResource)> {
        Ok((self.ctx, self.table.get_mut(this)?))
    }

    /// Hands a counted socket to the guest; `too-many-sockets` if the
    /// table is full.
    fn push(&mut self, resource: SocketResource) -> HostResult<Resource<SocketResource>> {
        match self.table.push(resource) {
            Ok(handle) => Ok(handle),
            Err(ResourceTableError::Full) => {
                // Never handed out: no longer counted. (The table gives the
                // resource back only through its error; it is dropped here.)
                self.ctx.forget_unpushed();
                Err(refusal(wt::ErrorCode::TooManySockets).into())
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn create(
        &mut self,
        family: wt::AddressFamily,
        ty: wt::SocketType,
        protocol: Option<wt::Protocol>,
        nonblocking: bool,
    ) -> HostResult<Resource<SocketResource>> {
        let resource = self.ctx.create(
            convert::domain(family),
            convert::socket_type(ty),
            protocol.map(convert::protocol),
            nonblocking,
        )?;
        self.push(resource)
    }

    pub(crate) fn socket_pair(
        &mut self,
        ty: wt::SocketType,
        nonblocking: bool,
    ) -> HostResult<(Resource<SocketResource>, Resource<SocketResource>)> {
        let (a, b) = self
            .ctx
            .socket_pair(convert::socket_type(ty), nonblocking)?;
        let a = match self.push(a) {
            Ok(a) => a,
            Err(e) => {
                self.ctx.forget(&b);
                return Err(e);
            }
        };
        match self.push(b) {
            Ok(b) => Ok((a, b)),
            Err(e) => {
                self.drop_socket(a)?;
                Err(e)
            }
        }
    }

    /// Closes a socket the guest dropped.
    pub(crate) fn drop_socket(&mut self, this: Resource<SocketResource>) -> wasmtime::Result<()> {
        let resource = self.table.delete(this)?;
        self.ctx.forget(&resource);
        Ok(())
    }

    /// The guest's mode only: the host socket stays non-blocking, and a
    /// blocking call waits in the host ([`blocking`](super::blocking)).
    pub(crate) fn set_nonblocking(
        &mut self,
        this: Resource<SocketResource>,
        nonblocking: bool,
    ) -> HostResult<()> {
        self.table.get_mut(&this)?.blocking = !nonblocking;
        Ok(())
    }

    pub(crate) fn bind(
        &mut self,
        this: Resource<SocketResource>,
        addr: wt::SocketAddress,
    ) -> HostResult<()> {
        let target = target(&addr)?;
        let (ctx, resource) = self.socket_mut(&this)?;
        Ok(ctx.bind(resource, target)?)
    }

    pub(crate) fn listen(
        &mut self,
        this: Resource<SocketResource>,
        backlog: u32,
    ) -> HostResult<()> {
        let (ctx, resource) = self.socket_mut(&this)?;
        Ok(ctx.listen(resource, backlog)?)
    }

    /// A blocking listener waits for a connection (until its
    /// `receive-timeout`, then none).
    pub(crate) fn try_accept(
        &mut self,
        this: &Resource<SocketResource>,
        attempt: Attempt,
    ) -> Attempted<Option<(Resource<SocketResource>, wt::SocketAddress)>> {
        let listener = self.table.get(this)?;
        let (accepted, peer) = match self.ctx.try_accept(listener) {
            Ok(Some(pair)) => pair,
            Ok(None) => {
                return attempt.wait_for(
                    listener.blocking,
                    &listener.shared,
                    Interest::READABLE,
                    Timeout::Receive,
                    Ok(None),
                )
            }
            // Would-block after a flood of refused peers: a blocking
            // listener goes on waiting.
            Err(e) => {
                return attempt.wait_for(
                    listener.blocking && e.is_would_block(),
                    &listener.shared,
                    Interest::READABLE,
                    Timeout::Receive,
                    Err(e.into()),
                )
            }
        };
        let peer = convert::address_to_wit(&peer);
        let handle = self.push(accepted)?;
        Ok(Step::Done(Some((handle, peer))))
    }

    /// A blocking socket's connect waits until it is connected or failed
    /// (until its `send-timeout`, then it is in progress, as the kernel's
    /// is): `started` once the connect is under way, after which each
    /// attempt finishes it.
    pub(crate) fn start_connect(
        &mut self,
        this: &Resource<SocketResource>,
        addr: &wt::SocketAddress,
        started: &mut bool,
        attempt: Attempt,
    ) -> Attempted<bool> {
        let (ctx, resource) = self.socket_mut(this)?;
        let connected = if *started {
            resource.socket().finish_connect()
        } else {
            match ctx.start_connect(resource, target(addr)?) {
                // A Unix listener's backlog is full: the kernel's blocking
                // connect waits for room, which no readiness tells.
                Err(e) if e.is_would_block() && resource.blocking && attempt.may_wait() => {
                    return Ok(Step::Wait(Wait::pause(Timeout::Send)));
                }
                connected => {
                    *started = connected.is_ok();
                    connected
                }
            }
        };
        match connected {
            Ok(false) => attempt.wait_for(
                resource.blocking,
                &resource.shared,
                Interest::WRITABLE,
                Timeout::Send,
                Ok(false),
            ),
            done => Ok(Step::Done(done?)),
        }
    }

    pub(crate) fn finish_connect(&mut self, this: Resource<SocketResource>) -> HostResult<bool> {
        Ok(self.socket(&this)?.socket().finish_connect()?)
    }

    /// `disconnect`: the host's witsock dissolves the association itself
    /// (no policy check: it grants no new peer; each later `send-to` is
    /// checked as usual).
    pub(crate) fn disconnect(&mut self, this: Resource<SocketResource>) -> HostResult<()> {
        Ok(self.socket(&this)?.socket().disconnect()?)
    }

    /// The socket to send on, taken before the guest's memory is borrowed
    /// for the payload.
    pub(crate) fn send_target(&self, this: &Resource<SocketResource>) -> HostResult<SendTarget> {
        let resource = self.socket(this)?;
        Ok(SendTarget {
            shared: resource.shared.clone(),
            gate: self.ctx.gate.clone(),
            ty: resource.ty,
            blocking: resource.blocking,
        })
    }

    /// Checks a destination and settles the socket's implicit bind, for
    /// `send-to`.
    pub(crate) fn send_to_target(
        &mut self,
        this: &Resource<SocketResource>,
        addr: &wt::SocketAddress,
    ) -> HostResult<(SendTarget, CheckedAddress)> {
        let target = target(addr)?;
        let (ctx, resource) = self.socket_mut(this)?;
        let checked = ctx.check_destination(resource, target)?;
        Ok((self.send_target(this)?, checked))
    }

    /// Settles the socket's implicit bind before a batch.
    pub(crate) fn batch_target(
        &mut self,
        this: &Resource<SocketResource>,
    ) -> HostResult<SendTarget> {
        let (ctx, resource) = self.socket_mut(this)?;
        ctx.settle_implicit_bind(resource, false)?;
        self.send_target(this)
    }

    /// A blocking socket waits for data (until its `receive-timeout`,
    /// then would-block); with `wait-all`, a blocking stream socket waits
    /// until the buffer is full, end-of-stream or an error, as the
    /// kernel's does (the bytes so far, `filled`, wait in the spare
    /// buffer).
    pub(crate) fn receive(
        &mut self,
        this: &Resource<SocketResource>,
        max_len: u64,
        flags: wt::ReceiveFlags,
        filled: &mut usize,
        attempt: Attempt,
    ) -> Attempted<Vec<u8>> {
        let len = self.ctx.check_buffered(usize::try_from(max_len).ok())?;
        let recv_flags = convert::recv_flags(flags);
        let resource = self.table.get(this)?;
        if self.ctx.filters_senders(resource) {
            return match self.ctx.receive_from(resource, len, recv_flags) {
                Ok((n, _, _)) => Ok(Step::Done(self.ctx.spare(n).to_vec())),
                Err(e) => would_block(resource, e, attempt),
            };
        }
        let fill = gathers(resource, flags);
        let buf = self.ctx.spare(len);
        let before = (*filled).min(len);
        let received = resource.socket().recv(&mut buf[before..], recv_flags);
        let blocks = match &received {
            Ok(n) => fill && *n > 0 && before + n < len,
            Err(e) => before > 0 && e.is_would_block(),
        };
        if blocks && attempt.may_wait() {
            *filled = before + received.map_or(0, |n| n);
            return Ok(Step::Wait(Wait::on(
                &resource.shared,
                Interest::READABLE,
                Timeout::Receive,
            )));
        }
        match received {
            Ok(n) => Ok(Step::Done(buf[..before + n].to_vec())),
            // An error after some bytes came: the bytes now, the error on
            // the next receive.
            Err(_) if before > 0 => Ok(Step::Done(buf[..before].to_vec())),
            Err(e) => would_block(resource, e, attempt),
        }
    }

    pub(crate) fn receive_from(
        &mut self,
        this: &Resource<SocketResource>,
        max_len: u64,
        flags: wt::ReceiveFlags,
        attempt: Attempt,
    ) -> Attempted<ws::IncomingDatagram> {
        let len = self.ctx.check_buffered(usize::try_from(max_len).ok())?;
        let resource = self.table.get(this)?;
        let (n, sender, truncated) =
            match self
                .ctx
                .receive_from(resource, len, convert::recv_flags(flags))
            {
                Ok(received) => received,
                Err(e) => return would_block(resource, e, attempt),
            };
        Ok(Step::Done(ws::IncomingDatagram {
            data: self.ctx.spare(n).to_vec(),
            remote_address: convert::address_to_wit(&sender),
            truncated,
        }))
    }

    /// As [`receive`](WitsockCtxView::receive), into consecutive buffers.
    pub(crate) fn receive_vectored(
        &mut self,
        this: &Resource<SocketResource>,
        lengths: &[u64],
        flags: wt::ReceiveFlags,
        filled: &mut usize,
        attempt: Attempt,
    ) -> Attempted<Vec<Vec<u8>>> {
        if lengths.len() > IOV_MAX {
            return Err(refusal(wt::ErrorCode::InvalidArgument).into());
        }
        let total = lengths.iter().try_fold(0usize, |sum, &len| {
            sum.checked_add(usize::try_from(len).ok()?)
        });
        let total = self.ctx.check_buffered(total)?;
        let resource = self.table.get(this)?;
        if let Err(e) = self.ctx.skip_refused_senders(resource) {
            return would_block(resource, e, attempt);
        }
        let fill = gathers(resource, flags);
        let recv_flags = convert::recv_flags(flags);
        let before = (*filled).min(total);
        let spare = self.ctx.spare(total);
        let received = {
            // Each length fits `usize`: their sum does.
            let mut rest = &mut spare[..];
            let mut next = |len: u64| {
                let (head, tail) = std::mem::take(&mut rest).split_at_mut(len as usize);
                rest = tail;
                IoSliceMut::new(head)
            };
            if lengths.len() <= INLINE_BUFFERS {
                let mut inline: [IoSliceMut<'_>; INLINE_BUFFERS] =
                    std::array::from_fn(|_| IoSliceMut::new(&mut []));
                for (slot, &len) in inline.iter_mut().zip(lengths) {
                    *slot = next(len);
                }
                let mut slices = &mut inline[..lengths.len()];
                IoSliceMut::advance_slices(&mut slices, before);
                resource.socket().recv_vectored(slices, recv_flags)
            } else {
                let mut all: Vec<IoSliceMut<'_>> = lengths.iter().map(|&len| next(len)).collect();
                let mut slices = &mut all[..];
                IoSliceMut::advance_slices(&mut slices, before);
                resource.socket().recv_vectored(slices, recv_flags)
            }
        };
        let blocks = match &received {
            Ok(n) => fill && *n > 0 && before + n < total,
            Err(e) => before > 0 && e.is_would_block(),
        };
        if blocks && attempt.may_wait() {
            *filled = before + received.map_or(0, |n| n);
            return Ok(Step::Wait(Wait::on(
                &resource.shared,
                Interest::READABLE,
                Timeout::Receive,
            )));
        }
        let n = match received {
            Ok(n) => before + n,
            Err(_) if before > 0 => before,
            Err(e) => return would_block(resource, e, attempt),
        };
        // The filled buffers, in order; the last may be short.
        let mut buffers = Vec::new();
        let (mut offset, mut left) = (0usize, n);
        for &len in lengths {
            if left == 0 {
                break;
            }
            let take = (len as usize).min(left);
            buffers.push(spare[offset..offset + take].to_vec());
            offset += len as usize;
            left -= take;
        }
        Ok(Step::Done(buffers))
    }

    /// A blocking socket waits for the first datagram, then takes what
    /// else is queued (MSG_WAITFORONE).
    pub(crate) fn receive_batch(
        &mut self,
        this: &Resource<SocketResource>,
        max_datagrams: u32,
        max_len: u64,
        attempt: Attempt,
    ) -> Attempted<Vec<ws::IncomingDatagram>> {
        let count = (max_datagrams as usize).min(witsock::MAX_BATCH);
        let total = usize::try_from(max_len)
            .ok()
            .and_then(|len| len.checked_mul(count));
        self.ctx.check_buffered(total)?;
        if count == 0 {
            return Ok(Step::Done(Vec::new()));
        }
        // Fits usize: checked above.
        let len = max_len as usize;
        let resource = self.table.get(this)?;
        let filter = self.ctx.filters_senders(resource);
        let gate = self.ctx.gate.clone();
        let spare = self.ctx.spare(len * count);
        for _ in 0..crate::sockets::MAX_REFUSED_PER_CALL {
            let mut slots: Vec<IncomingDatagram<'_>> = if len == 0 {
                (0..count).map(|_| IncomingDatagram::new(&mut [])).collect()
            } else {
                spare.chunks_mut(len).map(IncomingDatagram::new).collect()
            };
            let n = match resource.socket().recv_batch(&mut slots) {
                Ok(n) => n,
                Err(e) => return would_block(resource, e, attempt),
            };
            let received: Vec<ws::IncomingDatagram> = slots
                .iter()
                .take(n)
                .filter(|slot| !filter || gate.admits_sender(slot.addr()))
                .map(|slot| ws::IncomingDatagram {
                    data: slot.data().to_vec(),
                    remote_address: convert::address_to_wit(slot.addr()),
                    truncated: slot.is_truncated(),
                })
                .collect();
            // All were refused: look for more (or report would-block).
            if !received.is_empty() {
                return Ok(Step::Done(received));
            }
        }
        let flood = crate::sockets::refused_flood(witsock::Operation::Receive);
        would_block(resource, flood, attempt)
    }

    pub(crate) fn shutdown(
        &mut self,
        this: Resource<SocketResource>,
        how: wt::ShutdownHow,
    ) -> HostResult<()> {
        let socket = self.socket(&this)?.socket();
        Ok(socket.shutdown(convert::shutdown(how))?)
    }

    pub(crate) fn local_address(
        &mut self,
        this: Resource<SocketResource>,
    ) -> HostResult<wt::SocketAddress> {
        let local = self.socket(&this)?.socket().local_addr()?;
        Ok(convert::address_to_wit(&local))
    }

    pub(crate) fn remote_address(
        &mut self,
        this: Resource<SocketResource>,
    ) -> HostResult<wt::SocketAddress> {
        let peer = self.socket(&this)?.socket().peer_addr()?;
        Ok(convert::address_to_wit(&peer))
    }

    pub(crate) fn set_option(
        &mut self,
        this: Resource<SocketResource>,
        value: wt::OptionValue,
    ) -> HostResult<()> {
        let option = convert::option(&value);
        let (ctx, resource) = self.socket_mut(&this)?;
        Ok(ctx.set_option(resource, option)?)
    }

    pub(crate) fn get_option(
        &mut self,
        this: Resource<SocketResource>,
        name: wt::OptionName,
    ) -> HostResult<wt::OptionValue> {
        let value = self
            .socket(&this)?
            .socket()
            .option(convert::option_name(name))?;
        convert::option_to_wit(value)
            .ok_or_else(|| refusal(wt::ErrorCode::OptionNotSupported).into())
    }

    /// Readiness now, or a wait of at most the timeout, whatever the
    /// socket's mode.
    pub(crate) fn wait(
        &mut self,
        this: &Resource<SocketResource>,
        interest: wt::Interest,
        timeout_ns: Option<u64>,
        attempt: Attempt,
    ) -> Attempted<wt::Readiness> {
        let resource = self.socket(this)?;
        let interest = convert::interest(interest);
        let readiness = resource.socket().wait(interest, Some(Duration::ZERO))?;
        attempt.wait_for(
            readiness.is_empty(),
            &resource.shared,
            interest,
            Timeout::Given(timeout_ns.map(Duration::from_nanos)),
            Ok(convert::readiness(readiness)),
        )
    }

    pub(crate) fn subscribe(
        &mut self,
        this: Resource<SocketResource>,
        interest: wt::Interest,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let shared = self.table.get(&this)?.shared.clone();
        let readiness = SocketReadiness {
            shared,
            interest: convert::interest(interest),
        };
        let child = self.table.push_child(readiness, &this)?;
        wasmtime_wasi::p2::subscribe(self.table, child)
    }

    /// Readiness of every entry now, or a wait of at most the timeout for
    /// any of them.
    pub(crate) fn poll(
        &mut self,
        entries: &[(Resource<SocketResource>, wt::Interest)],
        timeout_ns: Option<u64>,
        attempt: Attempt,
    ) -> Attempted<Vec<wt::Readiness>> {
        let mut polled = Vec::with_capacity(entries.len());
        for (handle, interest) in entries {
            let socket = self.table.get(handle)?.socket();
            polled.push(witsock::PollEntry::new(
                socket,
                convert::interest(*interest),
            ));
        }
        witsock::poll(&mut polled, Some(Duration::ZERO))?;
        if attempt.may_wait() && polled.iter().all(|e| e.readiness().is_empty()) {
            let mut watched = Vec::with_capacity(entries.len());
            for (handle, interest) in entries {
                let shared = self.table.get(handle)?.shared.clone();
                watched.push((shared, convert::interest(*interest)));
            }
            let timeout = Timeout::Given(timeout_ns.map(Duration::from_nanos));
            return Ok(Step::Wait(Wait::any(watched, timeout)));
        }
        Ok(Step::Done(
            polled
                .iter()
                .map(|e| convert::readiness(e.readiness()))
                .collect(),
        ))
    }

    pub(crate) fn capabilities(&mut self) -> ws::Capabilities {
        let native = witsock::capabilities();
        let unix = if self.ctx.policy().allows_unix_sockets() {
            native.unix_sockets
        } else {
            witsock::Support::Unsupported
        };
        ws::Capabilities {
            dual_stack: convert::support(native.dual_stack),
            vectored_io: convert::support(native.vectored_io),
            batched_datagrams: convert::support(native.batched_datagrams),
            unix_sockets: convert::support(unix),
            peek: convert::support(native.peek),
            out_of_band: convert::support(native.out_of_band),
            blocking_mode: convert::support(native.blocking_mode),
            options: OptionName::ALL
                .iter()
                .filter_map(|&name| {
                    Some((
                        convert::option_name_to_wit(name)?,
                        convert::support(native.option(name)),
                    ))
                })
                .collect(),
        }
    }

    pub(crate) fn resolve(
        &mut self,
        name: String,
        port: u16,
    ) -> HostResult<Vec<wt::SocketAddress>> {
        self.ctx.check_lookup(&name)?;
        resolved(witsock::resolve(&name, port).map(Iterator::collect))
    }
}

/// The guest's result of a lookup.
pub(crate) fn resolved(
    addrs: witsock::Result<Vec<witsock::SockAddr>>,
) -> HostResult<Vec<wt::SocketAddress>> {
    Ok(addrs?.iter().map(convert::address_to_wit).collect())
}

/// Whether a receive gathers until its buffer is full: `wait-all` on a
/// blocking stream socket (with `peek`, the kernel's answer as it is).
fn gathers(resource: &SocketResource, flags: wt::ReceiveFlags) -> bool {
    resource.blocking
        && resource.ty == Type::Stream
        && flags.contains(wt::ReceiveFlags::WAIT_ALL)
        && !flags.contains(wt::ReceiveFlags::PEEK)
}

/// The guest's error `e`, or a wait for data when it is would-block on a
/// blocking socket.
fn would_block<T>(resource: &SocketResource, e: witsock::Error, attempt: Attempt) -> Attempted<T> {
    attempt.wait_for(
        resource.blocking && e.is_would_block(),
        &resource.shared,
        Interest::READABLE,
        Timeout::Receive,
        Err(e.into()),
    )
}
