//! TCP on wasi:sockets: a `tcp-socket` and, once connected, its input and
//! output streams.
//!
//! wasi:sockets differs from POSIX here in ways this module evens out:
//! - bind and listen are two-phase (`start-*`/`finish-*`); both finish
//!   before the call returns, as bind(2) and listen(2) do.
//! - listen needs an explicit bind: an unbound socket is bound to the
//!   unspecified address first, as listen(2) does implicitly.
//! - listening again only updates the backlog, as listen(2) does.
//! - data goes through streams that `finish-connect` and `accept` hand
//!   out once; they are kept here, and `send`/`recv` use them.
//! - a host may start the connect only when it is first polled
//!   (wasmtime does), so `start_connect` polls it once at once.
//! - a socket whose connect failed is closed for good: connecting it again
//!   is `invalid-state` (POSIX allows another connect).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use ::wasi::io::poll::Pollable;
use ::wasi::io::streams::{InputStream, OutputStream, StreamError};
use ::wasi::sockets::network::{ErrorCode as WasiErrorCode, IpAddressFamily};
use ::wasi::sockets::tcp::{ShutdownType, TcpSocket};

use super::addr::{unspecified, RawAddr};
use super::poll::{Signal, Watches};
use super::{network, wasi_error, wasi_error_unless_connected};
use crate::{
    Error, ErrorCode, Interest, OptionName, Readiness, RecvFlags, Result, SendFlags, Shutdown,
    SocketOption, Type,
};

/// Where the socket is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Created or bound.
    Idle,
    Listening,
    Connecting,
    Connected,
    /// The connect failed: wasi:sockets closed the socket. `pending` until
    /// the error was reported (by `finish_connect`, a send or receive, or
    /// the `error` option), like SO_ERROR.
    Failed {
        code: WasiErrorCode,
        pending: bool,
    },
}

/// The streams of a connected socket.
#[derive(Debug)]
pub(super) struct Streams {
    pub(super) input: InputStream,
    pub(super) output: OutputStream,
}

/// A TCP socket.
#[derive(Debug)]
pub(super) struct Tcp {
    // Field order is drop order, and wasi:sockets requires children to go
    // before their parents (a host traps otherwise): the pollables are
    // children of the streams and of the socket, the streams children of
    // the socket.
    input_ready: OnceLock<Pollable>,
    output_ready: OnceLock<Pollable>,
    socket_ready: OnceLock<Pollable>,
    streams: OnceLock<Streams>,
    pub(super) socket: TcpSocket,
    family: IpAddressFamily,
    phase: Mutex<Phase>,
    early: Mutex<EarlyInput>,
    /// The output stream reported its failure (a reset) once: wasmtime
    /// repeats it on every later write, where a kernel, as natively, says
    /// the connection is gone (`shutdown`).
    write_failed: AtomicBool,
}

/// What a readiness check read from the input stream before `recv` asked.
///
/// A wasi pollable may fire with nothing to read (wasmtime's does once on a
/// fresh connection), and poll(2) never reports readable falsely; so when
/// the input stream's pollable fires, `poll` reads to find out, and keeps
/// what it read here for `recv` to hand out first.
#[derive(Debug, Default)]
struct EarlyInput {
    data: Vec<u8>,
    /// How much of `data` was handed out already.
    taken: usize,
    /// The read failed; the stream is closed now, and the first `recv`
    /// reports the failure rather than end-of-stream.
    failed: bool,
}

impl EarlyInput {
    fn is_empty(&self) -> bool {
        self.taken == self.data.len() && !self.failed
    }
}

/// The most a readiness check reads ahead: what wasmtime reads at most.
const READ_AHEAD: u64 = 64 * 1024;

impl Tcp {
    pub(super) fn new(family: IpAddressFamily) -> Result<Tcp> {
        let socket =
            ::wasi::sockets::tcp_create_socket::create_tcp_socket(family).map_err(wasi_error)?;
        Ok(Tcp::with_phase(socket, family, Phase::Idle))
    }

    fn with_phase(socket: TcpSocket, family: IpAddressFamily, phase: Phase) -> Tcp {
        Tcp {
            input_ready: OnceLock::new(),
            output_ready: OnceLock::new(),
            socket_ready: OnceLock::new(),
            streams: OnceLock::new(),
            socket,
            family,
            phase: Mutex::new(phase),
            early: Mutex::new(EarlyInput::default()),
            write_failed: AtomicBool::new(false),
        }
    }

    pub(super) fn streams(&self) -> Option<&Streams> {
        self.streams.get()
    }

    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_phase(&self, phase: Phase) {
        *self.phase.lock().unwrap_or_else(PoisonError::into_inner) = phase;
    }

    /// Ready when a bind, listen or connect can be finished, or a
    /// connection accepted. One per socket, reused.
    fn socket_ready(&self) -> &Pollable {
        self.socket_ready.get_or_init(|| self.socket.subscribe())
    }

    fn input_ready(&self, streams: &Streams) -> &Pollable {
        self.input_ready.get_or_init(|| streams.input.subscribe())
    }

    fn output_ready(&self, streams: &Streams) -> &Pollable {
        self.output_ready.get_or_init(|| streams.output.subscribe())
    }

    /// Runs a `finish-*` call until it stops saying would-block, blocking
    /// on the socket's pollable in between.
    fn finish<T>(&self, mut call: impl FnMut() -> Result<T, WasiErrorCode>) -> Result<T> {
        loop {
            match call() {
                Err(WasiErrorCode::WouldBlock) => self.socket_ready().block(),
                r => return r.map_err(wasi_error),
            }
        }
    }

    pub(super) fn bind(&self, addr: &RawAddr) -> Result<()> {
        let addr = addr.to_wasi()?;
        self.socket
            .start_bind(network(), addr)
            .map_err(wasi_error)?;
        self.finish(|| self.socket.finish_bind())
    }

    pub(super) fn listen(&self, backlog: i32) -> Result<()> {
        let backlog = backlog as u64;
        match self.phase() {
            Phase::Idle => {}
            // listen(2) again only changes the backlog.
            Phase::Listening => {
                return self
                    .socket
                    .set_listen_backlog_size(backlog)
                    .map_err(wasi_error)
            }
            _ => return Err(Error::new(ErrorCode::InvalidState)),
        }
        if let Err(WasiErrorCode::InvalidState) = self.socket.local_address() {
            // wasi:sockets 0.2 listens on bound sockets only; listen(2)
            // binds an unbound one to an ephemeral port.
            self.socket
                .start_bind(network(), unspecified(self.family))
                .map_err(wasi_error)?;
            self.finish(|| self.socket.finish_bind())?;
        }
        self.socket
            .set_listen_backlog_size(backlog)
            .map_err(wasi_error)?;
        self.socket.start_listen().map_err(wasi_error)?;
        self.finish(|| self.socket.finish_listen())?;
        self.set_phase(Phase::Listening);
        Ok(())
    }

    pub(super) fn try_accept(&self, nonblocking: bool) -> Result<Option<(Tcp, RawAddr)>> {
        loop {
            match self.socket.accept() {
                Ok((socket, input, output)) => {
                    let Ok(peer) = socket.remote_address() else {
                        // Reset before it could be accepted: as
                        // ECONNABORTED, wait for the next one. Streams go
                        // before their socket.
                        drop((input, output));
                        continue;
                    };
                    let accepted = Tcp::with_phase(socket, self.family, Phase::Connected);
                    let _ = accepted.streams.set(Streams { input, output });
                    return Ok(Some((accepted, RawAddr::from_wasi(peer))));
                }
                Err(WasiErrorCode::WouldBlock) if nonblocking => return Ok(None),
                Err(WasiErrorCode::WouldBlock) => self.socket_ready().block(),
                // The connection died in the queue; another may be waiting.
                Err(WasiErrorCode::ConnectionAborted) => continue,
                Err(e) => return Err(wasi_error(e)),
            }
        }
    }

    pub(super) fn start_connect(&self, addr: &RawAddr, nonblocking: bool) -> Result<bool> {
        match self.phase() {
            Phase::Idle => {}
            Phase::Connecting => return Err(Error::new(ErrorCode::AlreadyInProgress)),
            // connect(2) says EISCONN on a connected or listening socket.
            Phase::Connected | Phase::Listening => {
                return Err(Error::new(ErrorCode::AlreadyConnected))
            }
            Phase::Failed { .. } => return Err(Error::new(ErrorCode::InvalidState)),
        }
        let addr = addr.to_wasi()?;
        self.socket
            .start_connect(network(), addr)
            .map_err(wasi_error)?;
        self.set_phase(Phase::Connecting);
        if nonblocking {
            // Polling once makes the host send the SYN now; an error is
            // kept for finish_connect, as a non-blocking connect(2) does.
            return Ok(self.poll_connect(false).unwrap_or(false));
        }
        loop {
            if self.poll_connect(true)? {
                return Ok(true);
            }
            self.socket_ready().block();
        }
    }

    /// One `finish-connect`: true once connected, false while in progress.
    /// A failure is returned and, unless `report`, also kept pending.
    fn poll_connect(&self, report: bool) -> Result<bool> {
        match self.socket.finish_connect() {
            Ok((input, output)) => {
                let _ = self.streams.set(Streams { input, output });
                self.set_phase(Phase::Connected);
                Ok(true)
            }
            Err(WasiErrorCode::WouldBlock) => Ok(false),
            Err(code) => {
                self.set_phase(Phase::Failed {
                    code,
                    pending: !report,
                });
                Err(wasi_error(code))
            }
        }
    }

    /// Takes a reset the connection has and has not reported yet, as
    /// SO_ERROR does: one a read-ahead saw, or one the input stream shows
    /// now (reading ahead to see it).
    fn take_reset(&self) -> Option<Error> {
        let _ = self.input_readiness();
        let mut early = self.early.lock().unwrap_or_else(PoisonError::into_inner);
        if early.failed && early.taken == early.data.len() {
            early.failed = false;
            Some(Error::new(ErrorCode::ConnectionReset))
        } else {
            None
        }
    }

    /// Takes the error of a failed connect if it was not reported yet.
    fn take_pending_error(&self) -> Option<Error> {
        let mut phase = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        match *phase {
            Phase::Failed {
                code,
                pending: true,
            } => {
                *phase = Phase::Failed {
                    code,
                    pending: false,
                };
                Some(wasi_error(code))
            }
            _ => None,
        }
    }

    pub(super) fn finish_connect(&self) -> Result<bool> {
        match self.phase() {
            Phase::Connected => Ok(true),
            Phase::Connecting => self.poll_connect(true),
            _ => Err(self
                .take_pending_error()
                .unwrap_or(Error::new(ErrorCode::InvalidState))),
        }
    }

    /// The streams, once connected. A connect in progress is finished if
    /// it can be; until then a non-blocking call would block and a
    /// blocking one waits.
    fn connected(&self, nonblocking: bool) -> Result<&Streams> {
        loop {
            if let Some(streams) = self.streams.get() {
                return Ok(streams);
            }
            match self.phase() {
                Phase::Connecting => {
                    if !self.poll_connect(true)? {
                        if nonblocking {
                            return Err(Error::new(ErrorCode::WouldBlock));
                        }
                        self.socket_ready().block();
                    }
                }
                _ => {
                    return Err(self
                        .take_pending_error()
                        .unwrap_or(Error::new(ErrorCode::NotConnected)))
                }
            }
        }
    }

    pub(super) fn send(&self, buf: &[u8], flags: SendFlags, nonblocking: bool) -> Result<usize> {
        check_send_flags(flags)?;
        let streams = self.connected(nonblocking)?;
        // A reset a read-ahead saw is the connection's pending error: the
        // next send or receive reports it, once, as a kernel does.
        {
            let mut early = self.early.lock().unwrap_or_else(PoisonError::into_inner);
            if early.failed && early.taken == early.data.len() {
                early.failed = false;
                return Err(Error::new(ErrorCode::ConnectionReset));
            }
        }
        loop {
            match streams.output.check_write() {
                Ok(0) if !buf.is_empty() => {
                    if nonblocking {
                        return Err(Error::new(ErrorCode::WouldBlock));
                    }
                    self.output_ready(streams).block();
                }
                Ok(permitted) => {
                    let len = buf
                        .len()
                        .min(usize::try_from(permitted).unwrap_or(usize::MAX));
                    if len > 0 {
                        streams
                            .output
                            .write(&buf[..len])
                            .map_err(|e| self.write_error(e))?;
                    }
                    return Ok(len);
                }
                Err(e) => return Err(self.write_error(e)),
            }
        }
    }

    pub(super) fn recv(
        &self,
        buf: &mut [u8],
        flags: RecvFlags,
        nonblocking: bool,
    ) -> Result<usize> {
        check_recv_flags(flags)?;
        if buf.is_empty() {
            return Ok(0);
        }
        let streams = self.connected(nonblocking)?;
        // MSG_WAITALL: a blocking socket fills the whole buffer, or stops
        // at end-of-stream.
        let wait_all = flags.is_wait_all() && !nonblocking;
        let mut filled = self.take_early_input(buf)?;
        if filled > 0 && !wait_all {
            return Ok(filled);
        }
        while filled < buf.len() {
            let want = (buf.len() - filled) as u64;
            match streams.input.read(want) {
                Ok(data) if data.is_empty() => {
                    if filled > 0 && !wait_all {
                        break;
                    }
                    if nonblocking {
                        return Err(Error::new(ErrorCode::WouldBlock));
                    }
                    self.input_ready(streams).block();
                }
                Ok(data) => {
                    // The host never returns more than asked for; a longer
                    // answer is cut rather than trusted.
                    let n = data.len().min(buf.len() - filled);
                    buf[filled..filled + n].copy_from_slice(&data[..n]);
                    filled += n;
                    if !wait_all {
                        break;
                    }
                }
                // End-of-stream: the peer shut down its write half, or this
                // side shut down reading.
                Err(StreamError::Closed) => break,
                Err(e) if filled == 0 => return Err(stream_error(e, ErrorCode::Other)),
                Err(_) => break,
            }
        }
        Ok(filled)
    }

    /// send_to(2) on a stream socket: the address is not used.
    pub(super) fn send_to(&self) -> Result<usize> {
        Err(Error::new(if self.streams.get().is_some() {
            ErrorCode::AlreadyConnected
        } else {
            ErrorCode::NotConnected
        }))
    }

    pub(super) fn recv_from(
        &self,
        buf: &mut [u8],
        flags: RecvFlags,
        nonblocking: bool,
    ) -> Result<(usize, RawAddr, bool)> {
        let n = self.recv(buf, flags, nonblocking)?;
        let peer = self
            .socket
            .remote_address()
            .map_or(RawAddr::zeroed(), RawAddr::from_wasi);
        Ok((n, peer, false))
    }

    pub(super) fn shutdown(&self, how: Shutdown) -> Result<()> {
        let how = match how {
            Shutdown::Read => ShutdownType::Receive,
            Shutdown::Write => ShutdownType::Send,
            Shutdown::Both => ShutdownType::Both,
        };
        self.socket
            .shutdown(how)
            .map_err(wasi_error_unless_connected)
    }

    pub(super) fn local_addr(&self) -> Result<RawAddr> {
        self.socket
            .local_address()
            .map(RawAddr::from_wasi)
            .map_err(wasi_error)
    }

    pub(super) fn peer_addr(&self) -> Result<RawAddr> {
        self.socket
            .remote_address()
            .map(RawAddr::from_wasi)
            .map_err(wasi_error_unless_connected)
    }

    pub(super) fn set_option(&self, option: &SocketOption) -> Result<()> {
        // After a failed connect (wasmtime closes the socket) the portable
        // layer answers `invalid-state` before asking.
        let s = &self.socket;
        match *option {
            SocketOption::KeepAlive(on) => s.set_keep_alive_enabled(on),
            SocketOption::KeepAliveIdle(d) => s.set_keep_alive_idle_time(nanos(d)),
            SocketOption::KeepAliveInterval(d) => s.set_keep_alive_interval(nanos(d)),
            SocketOption::KeepAliveCount(n) => s.set_keep_alive_count(n),
            SocketOption::HopLimit(n) => s.set_hop_limit(n),
            SocketOption::ReceiveBufferSize(n) => s.set_receive_buffer_size(n as u64),
            SocketOption::SendBufferSize(n) => s.set_send_buffer_size(n as u64),
            _ => return super::set_common_option(option, self.family),
        }
        .map_err(wasi_error)
    }

    pub(super) fn option(&self, name: OptionName) -> Result<SocketOption> {
        let s = &self.socket;
        Ok(match name {
            OptionName::KeepAlive => {
                SocketOption::KeepAlive(s.keep_alive_enabled().map_err(wasi_error)?)
            }
            OptionName::KeepAliveIdle => SocketOption::KeepAliveIdle(Duration::from_nanos(
                s.keep_alive_idle_time().map_err(wasi_error)?,
            )),
            OptionName::KeepAliveInterval => SocketOption::KeepAliveInterval(Duration::from_nanos(
                s.keep_alive_interval().map_err(wasi_error)?,
            )),
            OptionName::KeepAliveCount => {
                SocketOption::KeepAliveCount(s.keep_alive_count().map_err(wasi_error)?)
            }
            OptionName::HopLimit => SocketOption::HopLimit(s.hop_limit().map_err(wasi_error)?),
            OptionName::ReceiveBufferSize => SocketOption::ReceiveBufferSize(buffer_size(
                s.receive_buffer_size().map_err(wasi_error)?,
            )),
            OptionName::SendBufferSize => {
                SocketOption::SendBufferSize(buffer_size(s.send_buffer_size().map_err(wasi_error)?))
            }
            OptionName::Error => {
                if self.phase() == Phase::Connecting {
                    // Settle a connect that has failed already, so that its
                    // error is pending as SO_ERROR would have it.
                    let _ = self.poll_connect(false);
                }
                SocketOption::Error(self.take_pending_error().or_else(|| self.take_reset()))
            }
            OptionName::SocketType => SocketOption::SocketType(Type::Stream),
            _ => return super::common_option(name, self.family),
        })
    }

    /// What to wait on for `interest`, or what is ready at once.
    pub(super) fn watch<'a>(&'a self, interest: Interest, watches: &mut Watches<'a>) {
        match self.phase() {
            Phase::Connected => {
                let Some(streams) = self.streams.get() else {
                    return;
                };
                if interest.is_readable() {
                    if self.early_input_waiting() {
                        watches.ready(Readiness::READABLE);
                    } else {
                        watches.borrowed(self.input_ready(streams), Signal::Input);
                    }
                }
                if interest.is_writable() {
                    watches.borrowed(self.output_ready(streams), Signal::Writable);
                }
            }
            // A listener is readable when a connection is pending, and
            // never writable.
            Phase::Listening => {
                if interest.is_readable() {
                    watches.borrowed(self.socket_ready(), Signal::Readable);
                }
            }
            Phase::Connecting => {
                if !interest.is_empty() {
                    watches.borrowed(self.socket_ready(), Signal::Connect);
                }
            }
            // poll(2) on a TCP socket that is neither connected nor
            // listening reports POLLHUP (and POLLOUT) at once.
            Phase::Idle => watches.ready(Readiness::HANG_UP | writable_if(interest)),
            Phase::Failed { pending, .. } => {
                let mut r = Readiness::HANG_UP | readable_if(interest) | writable_if(interest);
                if pending {
                    r |= Readiness::ERROR;
                }
                watches.ready(r);
            }
        }
    }

    /// The readiness a connect in progress turned into once its pollable
    /// fired: connected (writable, and readable if data came already), or
    /// failed (error and hang-up, as poll(2) reports a refused connect).
    pub(super) fn connect_readiness(&self, interest: Interest) -> Readiness {
        // Settled already if the socket was in the poll twice.
        if self.phase() == Phase::Connecting {
            let _ = self.poll_connect(false);
        }
        match self.phase() {
            Phase::Connected => {
                let mut r = writable_if(interest);
                if interest.is_readable() {
                    r |= self.input_readiness();
                }
                r
            }
            Phase::Failed { .. } => {
                Readiness::ERROR
                    | Readiness::HANG_UP
                    | readable_if(interest)
                    | writable_if(interest)
            }
            _ => Readiness::EMPTY,
        }
    }

    /// Hands out what a readiness check read ahead, or its failure.
    fn take_early_input(&self, buf: &mut [u8]) -> Result<usize> {
        let mut early = self.early.lock().unwrap_or_else(PoisonError::into_inner);
        let left = &early.data[early.taken..];
        let n = left.len().min(buf.len());
        buf[..n].copy_from_slice(&left[..n]);
        early.taken += n;
        if early.taken == early.data.len() {
            early.data = Vec::new();
            early.taken = 0;
        }
        if early.failed && n == 0 {
            early.failed = false;
            return Err(Error::new(ErrorCode::ConnectionReset));
        }
        Ok(n)
    }

    fn early_input_waiting(&self) -> bool {
        !self
            .early
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    /// Whether a receive would find something (data, end-of-stream or an
    /// error) now: reads ahead into the early input to know.
    pub(super) fn input_readiness(&self) -> Readiness {
        let Some(streams) = self.streams.get() else {
            return Readiness::EMPTY;
        };
        let mut early = self.early.lock().unwrap_or_else(PoisonError::into_inner);
        if !early.is_empty() {
            return Readiness::READABLE;
        }
        match streams.input.read(READ_AHEAD) {
            Ok(data) if data.is_empty() => Readiness::EMPTY,
            Ok(data) => {
                early.data = data;
                early.taken = 0;
                Readiness::READABLE
            }
            // End-of-stream stays: the next receive reads it again.
            Err(StreamError::Closed) => Readiness::READABLE,
            Err(StreamError::LastOperationFailed(_)) => {
                early.failed = true;
                Readiness::READABLE | Readiness::ERROR
            }
        }
    }
}

fn readable_if(interest: Interest) -> Readiness {
    if interest.is_readable() {
        Readiness::READABLE
    } else {
        Readiness::EMPTY
    }
}

fn writable_if(interest: Interest) -> Readiness {
    if interest.is_writable() {
        Readiness::WRITABLE
    } else {
        Readiness::EMPTY
    }
}

/// No out-of-band data and no routing control on wasi:sockets.
pub(super) fn check_send_flags(flags: SendFlags) -> Result<()> {
    if flags.is_empty() {
        Ok(())
    } else {
        Err(Error::new(ErrorCode::Unsupported))
    }
}

/// No peek and no out-of-band data on wasi:sockets; wait-all is emulated.
pub(super) fn check_recv_flags(flags: RecvFlags) -> Result<()> {
    if flags.is_peek() || flags.is_out_of_band() {
        Err(Error::new(ErrorCode::Unsupported))
    } else {
        Ok(())
    }
}

/// A stream error: `closed` stands for `closed` (end of the stream, or
/// this side shut down); a failed operation is a reset connection, since
/// wasi:sockets 0.2 does not say more (its `network-error-code` is an
/// unstable feature hosts need not provide).
impl Tcp {
    /// A write's error: the reset once, then `shutdown` (see
    /// `write_failed`).
    fn write_error(&self, e: StreamError) -> Error {
        match e {
            StreamError::LastOperationFailed(_)
                if self.write_failed.swap(true, Ordering::Relaxed) =>
            {
                Error::new(ErrorCode::Shutdown)
            }
            e => stream_error(e, ErrorCode::Shutdown),
        }
    }
}

fn stream_error(e: StreamError, closed: ErrorCode) -> Error {
    match e {
        StreamError::Closed => Error::new(closed),
        StreamError::LastOperationFailed(_) => Error::new(ErrorCode::ConnectionReset),
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

pub(super) fn buffer_size(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
