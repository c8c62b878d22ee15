//! `wasi:sockets/tcp` and `tcp-create-socket`: the tcp-socket state
//! machine over a socket of the layer, and its input and output streams.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use wasmtime::component::Resource;
use wasmtime_wasi::async_trait;
use wasmtime_wasi::p2::{
    DynInputStream, DynOutputStream, DynPollable, InputStream, OutputStream, Pollable, StreamError,
    StreamResult,
};
use witsock::{Domain, Interest, OptionName, RecvFlags, SendFlags, Shutdown, SocketOption, Type};

use super::bindings::wasi::sockets::network::{ErrorCode, IpAddressFamily, IpSocketAddress};
use super::bindings::wasi::sockets::tcp::{self, ShutdownType};
use super::bindings::wasi::sockets::tcp_create_socket;
use super::{
    buffer_option, domain, family, hop_limit_option, is_of_family, is_remote, is_unicast,
    option_number, stream_failure, Network, SocketResult,
};
use crate::imports::WitsockCtxView;
use crate::sockets::resource::{SharedSocket, SocketResource};
use crate::sockets::Target;

/// The backlog a listen gets unless the guest sets one (Rust's std).
const DEFAULT_BACKLOG: u32 = 128;

/// The most bytes one stream read returns, and one write may take.
const STREAM_CHUNK: usize = 64 * 1024;

/// Where a tcp-socket is in wasi:sockets' life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Created, perhaps bound.
    Default,
    /// `start-connect` was called; `finish-connect` tells how it went.
    Connecting,
    /// Connected (or accepted); its streams are out.
    Connected,
    /// Listening.
    Listening,
    /// The connect failed: every call but a few reports this.
    Closed(ErrorCode),
}

/// The `start-*` call whose `finish-*` is still to come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InProgress {
    Bind,
    Connect,
    Listen,
}

/// A guest's tcp-socket.
pub struct TcpSocket {
    inner: SocketResource,
    state: State,
    in_progress: Option<InProgress>,
    /// A refusal or failure of the connect, reported by `finish-connect`
    /// as wasi:sockets does.
    connect_error: Option<ErrorCode>,
    backlog: u32,
}

impl std::fmt::Debug for TcpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpSocket")
            .field("socket", &self.inner)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl TcpSocket {
    fn new(inner: SocketResource, state: State) -> TcpSocket {
        TcpSocket {
            inner,
            state,
            in_progress: None,
            connect_error: None,
            backlog: DEFAULT_BACKLOG,
        }
    }

    /// The socket's options are there to read and set: not while
    /// connecting, not once the connect failed.
    fn usable(&self) -> SocketResult<&witsock::Socket> {
        match self.state {
            State::Connecting => Err(ErrorCode::InvalidState.into()),
            State::Closed(code) => Err(code.into()),
            _ => Ok(self.inner.socket()),
        }
    }

    /// The streams of a connected socket.
    /// The streams of a connected socket; a read returns at most
    /// `max_read` bytes (the per-call quota, up to [`STREAM_CHUNK`]).
    fn streams(&self, max_read: usize) -> (DynInputStream, DynOutputStream) {
        let shared = self.inner.shared.clone();
        (
            Box::new(TcpInput::new(shared.clone(), max_read)),
            Box::new(TcpOutput::new(shared)),
        )
    }

    fn is_bound(&self) -> bool {
        self.inner.bound
    }
}

impl WitsockCtxView<'_> {
    fn tcp(&mut self, this: &Resource<TcpSocket>) -> SocketResult<&mut TcpSocket> {
        Ok(self.table.get_mut(this)?)
    }

    /// Sets an option on a socket that may have one now, through the
    /// policy.
    fn set_tcp_option(
        &mut self,
        this: &Resource<TcpSocket>,
        option: SocketOption,
    ) -> SocketResult<()> {
        let socket = self.table.get_mut(this)?;
        socket.usable()?;
        self.ctx.set_option(&mut socket.inner, option)?;
        Ok(())
    }

    fn tcp_option(
        &mut self,
        this: &Resource<TcpSocket>,
        name: OptionName,
    ) -> SocketResult<SocketOption> {
        Ok(self.tcp(this)?.usable()?.option(name)?)
    }
}

impl tcp_create_socket::Host for WitsockCtxView<'_> {
    fn create_tcp_socket(&mut self, family: IpAddressFamily) -> SocketResult<Resource<TcpSocket>> {
        let domain = domain(family);
        let inner = self.ctx.create(domain, Type::Stream, None, true)?;
        // wasi:sockets IPv6 sockets are IPv6 only.
        if domain == Domain::Ipv6 {
            if let Err(e) = inner.socket().set_option(SocketOption::Ipv6Only(true)) {
                self.ctx.forget(&inner);
                return Err(e.into());
            }
        }
        match self.table.push(TcpSocket::new(inner, State::Default)) {
            Ok(handle) => Ok(handle),
            Err(e) => {
                self.ctx.forget_unpushed();
                Err(e.into())
            }
        }
    }
}

impl tcp::Host for WitsockCtxView<'_> {}

impl tcp::HostTcpSocket for WitsockCtxView<'_> {
    fn start_bind(
        &mut self,
        this: Resource<TcpSocket>,
        network: Resource<Network>,
        local_address: IpSocketAddress,
    ) -> SocketResult<()> {
        self.table.get(&network)?;
        let addr = SocketAddr::from(local_address);
        let socket = self.table.get_mut(&this)?;
        if socket.in_progress.is_some() {
            return Err(ErrorCode::ConcurrencyConflict.into());
        }
        if socket.state != State::Default || socket.is_bound() {
            return Err(ErrorCode::InvalidState.into());
        }
        if !is_unicast(addr.ip()) || !is_of_family(addr.ip(), socket.inner.domain) {
            return Err(ErrorCode::InvalidArgument.into());
        }
        self.ctx.bind(&mut socket.inner, Target::Ip(addr))?;
        socket.in_progress = Some(InProgress::Bind);
        Ok(())
    }

    fn finish_bind(&mut self, this: Resource<TcpSocket>) -> SocketResult<()> {
        let socket = self.tcp(&this)?;
        if socket.in_progress != Some(InProgress::Bind) {
            return Err(ErrorCode::NotInProgress.into());
        }
        socket.in_progress = None;
        Ok(())
    }

    fn start_connect(
        &mut self,
        this: Resource<TcpSocket>,
        network: Resource<Network>,
        remote_address: IpSocketAddress,
    ) -> SocketResult<()> {
        self.table.get(&network)?;
        let addr = SocketAddr::from(remote_address);
        let socket = self.table.get_mut(&this)?;
        if socket.in_progress.is_some() {
            return Err(ErrorCode::ConcurrencyConflict.into());
        }
        if socket.state != State::Default {
            return Err(ErrorCode::InvalidState.into());
        }
        if !is_unicast(addr.ip())
            || !is_remote(addr)
            || !is_of_family(addr.ip(), socket.inner.domain)
        {
            return Err(ErrorCode::InvalidArgument.into());
        }
        // The outcome, refusals included, is `finish-connect`'s to tell.
        socket.connect_error = self
            .ctx
            .start_connect(&mut socket.inner, Target::Ip(addr))
            .err()
            .map(|e| super::error_code(&e));
        socket.state = State::Connecting;
        socket.in_progress = Some(InProgress::Connect);
        Ok(())
    }

    fn finish_connect(
        &mut self,
        this: Resource<TcpSocket>,
    ) -> SocketResult<(Resource<DynInputStream>, Resource<DynOutputStream>)> {
        let max_read = self.ctx.policy().limits().max_bytes_per_call;
        let socket = self.tcp(&this)?;
        if socket.in_progress != Some(InProgress::Connect) {
            return Err(ErrorCode::NotInProgress.into());
        }
        let outcome = match socket.connect_error.take() {
            Some(code) => Err(code),
            None => match socket.inner.socket().finish_connect() {
                Ok(true) => Ok(()),
                Ok(false) => return Err(ErrorCode::WouldBlock.into()),
                Err(e) => Err(super::error_code(&e)),
            },
        };
        socket.in_progress = None;
        if let Err(code) = outcome {
            socket.state = State::Closed(code);
            return Err(code.into());
        }
        socket.state = State::Connected;
        let (input, output) = socket.streams(max_read);
        let input = self.table.push_child(input, &this)?;
        let output = self.table.push_child(output, &this)?;
        Ok((input, output))
    }

    fn start_listen(&mut self, this: Resource<TcpSocket>) -> SocketResult<()> {
        let socket = self.table.get_mut(&this)?;
        if socket.in_progress.is_some() {
            return Err(ErrorCode::ConcurrencyConflict.into());
        }
        // wasi:sockets 0.2 listens only on a bound socket.
        if socket.state != State::Default || !socket.is_bound() {
            return Err(ErrorCode::InvalidState.into());
        }
        self.ctx.listen(&mut socket.inner, socket.backlog)?;
        socket.state = State::Listening;
        socket.in_progress = Some(InProgress::Listen);
        Ok(())
    }

    fn finish_listen(&mut self, this: Resource<TcpSocket>) -> SocketResult<()> {
        let socket = self.tcp(&this)?;
        if socket.in_progress != Some(InProgress::Listen) {
            return Err(ErrorCode::NotInProgress.into());
        }
        socket.in_progress = None;
        Ok(())
    }

    fn accept(
        &mut self,
        this: Resource<TcpSocket>,
    ) -> SocketResult<(
        Resource<TcpSocket>,
        Resource<DynInputStream>,
        Resource<DynOutputStream>,
    )> {
        let listener = self.table.get(&this)?;
        if listener.state != State::Listening {
            return Err(ErrorCode::InvalidState.into());
        }
        let Some((accepted, _peer)) = self.ctx.try_accept(&listener.inner)? else {
            return Err(ErrorCode::WouldBlock.into());
        };
        let accepted = TcpSocket::new(accepted, State::Connected);
        let (input, output) = accepted.streams(self.ctx.policy().limits().max_bytes_per_call);
        let accepted = match self.table.push(accepted) {
            Ok(handle) => handle,
            Err(e) => {
                self.ctx.forget_unpushed();
                return Err(e.into());
            }
        };
        let input = self.table.push_child(input, &accepted)?;
        let output = self.table.push_child(output, &accepted)?;
        Ok((accepted, input, output))
    }

    fn local_address(&mut self, this: Resource<TcpSocket>) -> SocketResult<IpSocketAddress> {
        let socket = self.tcp(&this)?;
        if !socket.is_bound() {
            return Err(ErrorCode::InvalidState.into());
        }
        let local = socket.usable()?.local_addr()?;
        local
            .as_socket()
            .map(IpSocketAddress::from)
            .ok_or_else(|| ErrorCode::InvalidState.into())
    }

    fn remote_address(&mut self, this: Resource<TcpSocket>) -> SocketResult<IpSocketAddress> {
        let socket = self.tcp(&this)?;
        match socket.state {
            State::Connected => {}
            State::Closed(code) => return Err(code.into()),
            _ => return Err(ErrorCode::InvalidState.into()),
        }
        let peer = socket.inner.socket().peer_addr()?;
        peer.as_socket()
            .map(IpSocketAddress::from)
            .ok_or_else(|| ErrorCode::InvalidState.into())
    }

    fn is_listening(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<bool> {
        Ok(self.table.get(&this)?.state == State::Listening)
    }

    fn address_family(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<IpAddressFamily> {
        Ok(family(self.table.get(&this)?.inner.domain))
    }

    fn set_listen_backlog_size(
        &mut self,
        this: Resource<TcpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        if value == 0 {
            return Err(ErrorCode::InvalidArgument.into());
        }
        // Clamped, as the kernel clamps it.
        let value = self.ctx.backlog(
            u32::try_from(value)
                .unwrap_or(u32::MAX)
                .min(i32::MAX as u32),
        );
        let socket = self.tcp(&this)?;
        match socket.state {
            State::Default => {}
            State::Listening => {
                // Listening again changes the backlog where the kernel
                // allows it.
                if socket.inner.socket().listen(value).is_err() {
                    return Err(ErrorCode::NotSupported.into());
                }
            }
            State::Closed(code) => return Err(code.into()),
            _ => return Err(ErrorCode::InvalidState.into()),
        }
        socket.backlog = value;
        Ok(())
    }

    fn keep_alive_enabled(&mut self, this: Resource<TcpSocket>) -> SocketResult<bool> {
        match self.tcp_option(&this, OptionName::KeepAlive)? {
            SocketOption::KeepAlive(on) => Ok(on),
            _ => Err(ErrorCode::Unknown.into()),
        }
    }

    fn set_keep_alive_enabled(
        &mut self,
        this: Resource<TcpSocket>,
        value: bool,
    ) -> SocketResult<()> {
        self.set_tcp_option(&this, SocketOption::KeepAlive(value))
    }

    fn keep_alive_idle_time(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        match self.tcp_option(&this, OptionName::KeepAliveIdle)? {
            SocketOption::KeepAliveIdle(time) => Ok(nanos(time)),
            _ => Err(ErrorCode::Unknown.into()),
        }
    }

    fn set_keep_alive_idle_time(
        &mut self,
        this: Resource<TcpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        if value == 0 {
            return Err(ErrorCode::InvalidArgument.into());
        }
        self.set_tcp_option(&this, SocketOption::KeepAliveIdle(keep_alive_time(value)))
    }

    fn keep_alive_interval(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        match self.tcp_option(&this, OptionName::KeepAliveInterval)? {
            SocketOption::KeepAliveInterval(time) => Ok(nanos(time)),
            _ => Err(ErrorCode::Unknown.into()),
        }
    }

    fn set_keep_alive_interval(
        &mut self,
        this: Resource<TcpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        if value == 0 {
            return Err(ErrorCode::InvalidArgument.into());
        }
        self.set_tcp_option(
            &this,
            SocketOption::KeepAliveInterval(keep_alive_time(value)),
        )
    }

    fn keep_alive_count(&mut self, this: Resource<TcpSocket>) -> SocketResult<u32> {
        match self.tcp_option(&this, OptionName::KeepAliveCount)? {
            SocketOption::KeepAliveCount(count) => Ok(count),
            _ => Err(ErrorCode::Unknown.into()),
        }
    }

    fn set_keep_alive_count(&mut self, this: Resource<TcpSocket>, value: u32) -> SocketResult<()> {
        if value == 0 {
            return Err(ErrorCode::InvalidArgument.into());
        }
        // What Linux takes (1 to 127).
        self.set_tcp_option(&this, SocketOption::KeepAliveCount(value.clamp(1, 127)))
    }

    fn hop_limit(&mut self, this: Resource<TcpSocket>) -> SocketResult<u8> {
        // A hop limit is a u8 option.
        Ok(option_number(self.tcp_option(&this, OptionName::HopLimit)?)? as u8)
    }

    fn set_hop_limit(&mut self, this: Resource<TcpSocket>, value: u8) -> SocketResult<()> {
        self.set_tcp_option(&this, hop_limit_option(value)?)
    }

    fn receive_buffer_size(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        option_number(self.tcp_option(&this, OptionName::ReceiveBufferSize)?)
    }

    fn set_receive_buffer_size(
        &mut self,
        this: Resource<TcpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        self.set_tcp_option(&this, buffer_option(value, true)?)
    }

    fn send_buffer_size(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        option_number(self.tcp_option(&this, OptionName::SendBufferSize)?)
    }

    fn set_send_buffer_size(&mut self, this: Resource<TcpSocket>, value: u64) -> SocketResult<()> {
        self.set_tcp_option(&this, buffer_option(value, false)?)
    }

    fn subscribe(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi::p2::subscribe(self.table, this)
    }

    fn shutdown(&mut self, this: Resource<TcpSocket>, how: ShutdownType) -> SocketResult<()> {
        let socket = self.tcp(&this)?;
        if socket.state != State::Connected {
            return Err(ErrorCode::InvalidState.into());
        }
        let how = match how {
            ShutdownType::Receive => Shutdown::Read,
            ShutdownType::Send => Shutdown::Write,
            ShutdownType::Both => Shutdown::Both,
        };
        socket.inner.socket().shutdown(how)?;
        Ok(())
    }

    fn drop(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<()> {
        let socket = self.table.delete(this)?;
        self.ctx.forget(&socket.inner);
        Ok(())
    }
}

#[async_trait]
impl Pollable for TcpSocket {
    /// Ready when a connect has an outcome or a connection waits to be
    /// accepted; at once otherwise.
    async fn ready(&mut self) {
        let interest = match self.state {
            State::Connecting if self.connect_error.is_none() => Interest::WRITABLE,
            State::Listening => Interest::READABLE,
            _ => return,
        };
        self.inner.shared.ready(interest).await;
    }
}

/// A nanosecond count of `time`, saturating.
fn nanos(time: Duration) -> u64 {
    u64::try_from(time.as_nanos()).unwrap_or(u64::MAX)
}

/// A keep-alive time in what the kernel takes: whole seconds from 1 to
/// `i16::MAX`.
fn keep_alive_time(nanos: u64) -> Duration {
    let secs = nanos.div_ceil(1_000_000_000).clamp(1, i16::MAX as u64);
    Duration::from_secs(secs)
}

/// A connected socket's input stream. Reads land in a buffer the stream
/// keeps, so that a read costs a copy of what arrived.
struct TcpInput {
    shared: Arc<SharedSocket>,
    buffer: Vec<u8>,
    /// The most one read returns.
    max_read: usize,
    closed: bool,
}

impl TcpInput {
    fn new(shared: Arc<SharedSocket>, max_read: usize) -> TcpInput {
        TcpInput {
            shared,
            buffer: Vec::new(),
            max_read: max_read.clamp(1, STREAM_CHUNK),
            closed: false,
        }
    }
}

impl InputStream for TcpInput {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        if self.closed {
            return Err(StreamError::Closed);
        }
        if size == 0 {
            return Ok(Bytes::new());
        }
        let len = size.min(self.max_read);
        if self.buffer.len() < len {
            self.buffer.resize(len, 0);
        }
        match self
            .shared
            .socket
            .recv(&mut self.buffer[..len], RecvFlags::EMPTY)
        {
            Ok(0) => {
                self.closed = true;
                Err(StreamError::Closed)
            }
            Ok(n) => Ok(Bytes::copy_from_slice(&self.buffer[..n])),
            Err(e) if e.is_would_block() => Ok(Bytes::new()),
            Err(e) => {
                self.closed = true;
                Err(stream_failure(&e))
            }
        }
    }
}

#[async_trait]
impl Pollable for TcpInput {
    async fn ready(&mut self) {
        if !self.closed {
            self.shared.ready(Interest::READABLE).await;
        }
    }
}

impl Drop for TcpInput {
    /// Dropping the input stream shuts down the receiving half, as on
    /// wasmtime-wasi.
    fn drop(&mut self) {
        let _ = self.shared.socket.shutdown(Shutdown::Read);
    }
}

/// What a connected socket's output stream has to do.
enum Output {
    /// Open, with what the kernel has not taken yet.
    Open { pending: BytesMut, permit: usize },
    /// A send failed: the error, for the next call.
    Failed(witsock::Error),
    /// Closed: the failure was reported, or the write half is shut.
    Closed,
}

/// A connected socket's output stream. A write hands the kernel what it
/// takes at once and keeps the rest, which later calls (and waiting for
/// the stream) push on; `check-write` allows nothing more until it is
/// gone.
struct TcpOutput {
    shared: Arc<SharedSocket>,
    state: Output,
}

impl TcpOutput {
    fn new(shared: Arc<SharedSocket>) -> TcpOutput {
        TcpOutput {
            shared,
            state: Output::Open {
                pending: BytesMut::new(),
                permit: 0,
            },
        }
    }

    /// Sends what is pending, as far as the kernel takes it now.
    fn push_pending(&mut self) {
        let Output::Open { pending, .. } = &mut self.state else {
            return;
        };
        while !pending.is_empty() {
            match self.shared.socket.send(pending, SendFlags::EMPTY) {
                Ok(n) => pending.advance(n),
                Err(e) if e.is_would_block() => return,
                Err(e) => {
                    self.state = Output::Failed(e);
                    return;
                }
            }
        }
    }

    /// The state's error, reported once; then the stream is closed.
    fn failure(&mut self) -> Option<StreamError> {
        match std::mem::replace(&mut self.state, Output::Closed) {
            Output::Failed(e) if e.code() == witsock::ErrorCode::Shutdown => {
                Some(StreamError::Closed)
            }
            Output::Failed(e) => Some(stream_failure(&e)),
            Output::Closed => Some(StreamError::Closed),
            open => {
                self.state = open;
                None
            }
        }
    }
}

impl OutputStream for TcpOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        if let Some(e) = self.failure() {
            return Err(e);
        }
        let Output::Open { pending, permit } = &mut self.state else {
            return Err(StreamError::Closed);
        };
        if bytes.len() > *permit {
            return Err(StreamError::trap(
                "write exceeds what check-write permitted",
            ));
        }
        *permit -= bytes.len();
        let mut rest = &bytes[..];
        if pending.is_empty() {
            // Straight to the kernel; only what it leaves is copied.
            match self.shared.socket.send(rest, SendFlags::EMPTY) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.is_would_block() => {}
                Err(e) => {
                    self.state = Output::Failed(e);
                    rest = &[];
                }
            }
        }
        if let Output::Open { pending, .. } = &mut self.state {
            // Appended, never re-copied: the buffer only grows to the
            // permit (STREAM_CHUNK).
            pending.extend_from_slice(rest);
        }
        self.push_pending();
        // A send the kernel refused at once (the write half shut, the
        // connection reset) fails this write.
        match self.failure() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.push_pending();
        match self.failure() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.push_pending();
        if let Some(e) = self.failure() {
            return Err(e);
        }
        let Output::Open { pending, permit } = &mut self.state else {
            return Err(StreamError::Closed);
        };
        *permit = if pending.is_empty() { STREAM_CHUNK } else { 0 };
        Ok(*permit)
    }
}

#[async_trait]
impl Pollable for TcpOutput {
    /// Ready once what was written is with the kernel (or failed).
    async fn ready(&mut self) {
        loop {
            self.push_pending();
            match &self.state {
                Output::Open { pending, .. } if !pending.is_empty() => {
                    self.shared.ready(Interest::WRITABLE).await;
                }
                _ => return,
            }
        }
    }
}

impl Drop for TcpOutput {
    /// Dropping the output stream shuts down the sending half once what is
    /// pending went out as far as the kernel takes it now, as on
    /// wasmtime-wasi.
    fn drop(&mut self) {
        self.push_pending();
        let _ = self.shared.socket.shutdown(Shutdown::Write);
    }
}
