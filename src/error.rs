//! The portable error: a code from `wit/types.wit`'s `error-code`, the native
//! code it came from, the operation and the address involved.
//!
//! [`Error`] is `Copy`, 48 bytes, and never allocates: a would-block on a
//! hot path costs a register write, not a heap allocation.

use core::fmt;
use std::io;
use std::net::SocketAddr;

use crate::sys;

/// Declares [`ErrorCode`] and its mirror table (`mirror_table!` in
/// `types.rs`), after a `$` token.
macro_rules! error_codes {
    ($d:tt $($(#[$doc:meta])* $name:ident = $wit:literal,)*) => {
        mirror_table!($d __for_each_error_code, "error-code", ErrorCode [$($name),*]);

        /// The portable socket error, the `error-code` enum of
        /// `wit/types.wit`, case for case and in the same order.
        ///
        /// Each case's documentation names the errno values it stands for.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        #[repr(u8)]
        pub enum ErrorCode {
            $($(#[$doc])* $name,)*
        }

        impl ErrorCode {
            /// Every code, in WIT order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The case's name in the WIT (`would-block`).
            pub const fn wit_name(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => $wit,)*
                }
            }
        }
    };
}

error_codes! {
    $
    /// The operation would block (EAGAIN, EWOULDBLOCK).
    WouldBlock = "would-block",
    /// A non-blocking connect has started (EINPROGRESS).
    InProgress = "in-progress",
    /// A connect is already in progress (EALREADY).
    AlreadyInProgress = "already-in-progress",
    /// A signal interrupted the call (EINTR).
    Interrupted = "interrupted",
    /// The local address is in use (EADDRINUSE).
    AddressInUse = "address-in-use",
    /// The address is not local or not bindable (EADDRNOTAVAIL; ENOENT,
    /// ENOTDIR for a Unix path whose directory does not exist).
    AddressNotAvailable = "address-not-available",
    /// Nobody listens at the remote address (ECONNREFUSED; ENOENT for a
    /// Unix path with no socket behind it).
    ConnectionRefused = "connection-refused",
    /// The peer reset the connection (ECONNRESET, ENETRESET).
    ConnectionReset = "connection-reset",
    /// The connection was aborted on this host (ECONNABORTED, EPROTO).
    ConnectionAborted = "connection-aborted",
    /// The socket is not connected (ENOTCONN, EDESTADDRREQ).
    NotConnected = "not-connected",
    /// The socket is already connected (EISCONN).
    AlreadyConnected = "already-connected",
    /// The operation timed out or a deadline passed (ETIMEDOUT).
    TimedOut = "timed-out",
    /// No route to the host (EHOSTUNREACH, EHOSTDOWN).
    HostUnreachable = "host-unreachable",
    /// The network is unreachable (ENETUNREACH).
    NetworkUnreachable = "network-unreachable",
    /// The local network is down (ENETDOWN).
    NetworkDown = "network-down",
    /// Not permitted (EACCES, EPERM; EROFS for a Unix path), or refused by
    /// a host policy.
    AccessDenied = "access-denied",
    /// An argument is invalid (EINVAL, EFAULT; ENAMETOOLONG, ELOOP for a
    /// Unix path), or rejected before the syscall by witsock's validation.
    InvalidArgument = "invalid-argument",
    /// The socket is in the wrong state for the operation.
    InvalidState = "invalid-state",
    /// The datagram is too large (EMSGSIZE).
    MessageSize = "message-size",
    /// Out of buffer space or memory (ENOBUFS, ENOMEM).
    NoBufferSpace = "no-buffer-space",
    /// Descriptor limit reached (EMFILE, ENFILE).
    TooManySockets = "too-many-sockets",
    /// Address family not supported (EAFNOSUPPORT, EPFNOSUPPORT).
    AddressFamilyNotSupported = "address-family-not-supported",
    /// Protocol or socket type not supported (EPROTONOSUPPORT, EPROTOTYPE,
    /// ESOCKTNOSUPPORT).
    ProtocolNotSupported = "protocol-not-supported",
    /// Unknown option for this socket (ENOPROTOOPT).
    OptionNotSupported = "option-not-supported",
    /// The operation does not apply to this kind of socket (EOPNOTSUPP,
    /// ENOTSUP).
    OperationNotSupported = "operation-not-supported",
    /// Shut down for writing or peer gone (EPIPE, ESHUTDOWN). No SIGPIPE.
    Shutdown = "shutdown",
    /// The handle is not a socket (ENOTSOCK, EBADF).
    NotASocket = "not-a-socket",
    /// The name resolves to no address (EAI_NONAME).
    NameUnresolvable = "name-unresolvable",
    /// Temporary resolver failure (EAI_AGAIN).
    TemporaryResolverFailure = "temporary-resolver-failure",
    /// Permanent resolver failure (EAI_FAIL and the rest).
    PermanentResolverFailure = "permanent-resolver-failure",
    /// The backend cannot do this at all; nothing was attempted.
    Unsupported = "unsupported",
    /// Any other native error; [`Error::raw_os_error`] keeps it.
    Other = "other",
}

impl ErrorCode {
    /// A short English description, as used by `Display`.
    pub const fn description(self) -> &'static str {
        match self {
            ErrorCode::WouldBlock => "operation would block",
            ErrorCode::InProgress => "connect in progress",
            ErrorCode::AlreadyInProgress => "connect already in progress",
            ErrorCode::Interrupted => "interrupted",
            ErrorCode::AddressInUse => "address in use",
            ErrorCode::AddressNotAvailable => "address not available",
            ErrorCode::ConnectionRefused => "connection refused",
            ErrorCode::ConnectionReset => "connection reset",
            ErrorCode::ConnectionAborted => "connection aborted",
            ErrorCode::NotConnected => "not connected",
            ErrorCode::AlreadyConnected => "already connected",
            ErrorCode::TimedOut => "timed out",
            ErrorCode::HostUnreachable => "host unreachable",
            ErrorCode::NetworkUnreachable => "network unreachable",
            ErrorCode::NetworkDown => "network down",
            ErrorCode::AccessDenied => "access denied",
            ErrorCode::InvalidArgument => "invalid argument",
            ErrorCode::InvalidState => "invalid state",
            ErrorCode::MessageSize => "message too large",
            ErrorCode::NoBufferSpace => "no buffer space",
            ErrorCode::TooManySockets => "too many sockets",
            ErrorCode::AddressFamilyNotSupported => "address family not supported",
            ErrorCode::ProtocolNotSupported => "protocol not supported",
            ErrorCode::OptionNotSupported => "option not supported",
            ErrorCode::OperationNotSupported => "operation not supported",
            ErrorCode::Shutdown => "socket shut down",
            ErrorCode::NotASocket => "not a socket",
            ErrorCode::NameUnresolvable => "name does not resolve",
            ErrorCode::TemporaryResolverFailure => "temporary resolver failure",
            ErrorCode::PermanentResolverFailure => "permanent resolver failure",
            ErrorCode::Unsupported => "unsupported on this backend",
            ErrorCode::Other => "other error",
        }
    }

    /// The `io::ErrorKind` this code converts to.
    pub const fn io_kind(self) -> io::ErrorKind {
        use io::ErrorKind as K;
        match self {
            ErrorCode::WouldBlock | ErrorCode::InProgress => K::WouldBlock,
            ErrorCode::AlreadyInProgress => K::WouldBlock,
            ErrorCode::Interrupted => K::Interrupted,
            ErrorCode::AddressInUse => K::AddrInUse,
            ErrorCode::AddressNotAvailable => K::AddrNotAvailable,
            ErrorCode::ConnectionRefused => K::ConnectionRefused,
            ErrorCode::ConnectionReset => K::ConnectionReset,
            ErrorCode::ConnectionAborted => K::ConnectionAborted,
            ErrorCode::NotConnected => K::NotConnected,
            ErrorCode::AlreadyConnected => K::AlreadyExists,
            ErrorCode::TimedOut => K::TimedOut,
            ErrorCode::HostUnreachable => K::HostUnreachable,
            ErrorCode::NetworkUnreachable => K::NetworkUnreachable,
            ErrorCode::NetworkDown => K::NetworkDown,
            ErrorCode::AccessDenied => K::PermissionDenied,
            ErrorCode::InvalidArgument => K::InvalidInput,
            ErrorCode::InvalidState => K::InvalidInput,
            ErrorCode::MessageSize => K::InvalidInput,
            ErrorCode::NoBufferSpace => K::OutOfMemory,
            ErrorCode::TooManySockets => K::QuotaExceeded,
            ErrorCode::AddressFamilyNotSupported => K::Unsupported,
            ErrorCode::ProtocolNotSupported => K::Unsupported,
            ErrorCode::OptionNotSupported => K::Unsupported,
            ErrorCode::OperationNotSupported => K::Unsupported,
            ErrorCode::Shutdown => K::BrokenPipe,
            ErrorCode::NotASocket => K::InvalidInput,
            ErrorCode::NameUnresolvable => K::NotFound,
            ErrorCode::TemporaryResolverFailure => K::ResourceBusy,
            ErrorCode::PermanentResolverFailure => K::Other,
            ErrorCode::Unsupported => K::Unsupported,
            ErrorCode::Other => K::Other,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// The call an [`Error`] came from, for its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// socket(2) / socketpair(2).
    Create,
    /// bind(2).
    Bind,
    /// listen(2).
    Listen,
    /// accept(2).
    Accept,
    /// connect(2) and finishing it.
    Connect,
    /// connect(2) with an AF_UNSPEC address: dissolving a datagram
    /// socket's association ([`Socket::disconnect`](crate::Socket::disconnect)).
    Disconnect,
    /// send(2), sendto(2), sendmsg(2), sendmmsg(2).
    Send,
    /// recv(2), recvfrom(2), recvmsg(2), recvmmsg(2).
    Receive,
    /// shutdown(2).
    Shutdown,
    /// getsockname(2).
    LocalAddress,
    /// getpeername(2).
    RemoteAddress,
    /// setsockopt(2) of the named option.
    SetOption(crate::OptionName),
    /// getsockopt(2) of the named option.
    GetOption(crate::OptionName),
    /// fcntl(2) O_NONBLOCK.
    SetNonblocking,
    /// poll(2) and deadline waits.
    Wait,
    /// getaddrinfo(3).
    Resolve,
    /// Building an address (a Unix path that does not fit).
    Address,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::Create => f.write_str("socket"),
            Operation::Bind => f.write_str("bind"),
            Operation::Listen => f.write_str("listen"),
            Operation::Accept => f.write_str("accept"),
            Operation::Connect => f.write_str("connect"),
            Operation::Disconnect => f.write_str("disconnect"),
            Operation::Send => f.write_str("send"),
            Operation::Receive => f.write_str("receive"),
            Operation::Shutdown => f.write_str("shutdown"),
            Operation::LocalAddress => f.write_str("local address"),
            Operation::RemoteAddress => f.write_str("remote address"),
            Operation::SetOption(name) => write!(f, "set {}", name.native_name()),
            Operation::GetOption(name) => write!(f, "get {}", name.native_name()),
            Operation::SetNonblocking => f.write_str("set non-blocking"),
            Operation::Wait => f.write_str("wait"),
            Operation::Resolve => f.write_str("resolve"),
            Operation::Address => f.write_str("address"),
        }
    }
}

/// The address an [`Error`] is about, kept inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum ErrorAddr {
    None,
    Ip(SocketAddr),
    /// A Unix path, cut to the first bytes that fit.
    Unix {
        len: u8,
        bytes: [u8; UNIX_PREFIX],
        cut: bool,
    },
}

const UNIX_PREFIX: usize = 26;

/// What an error is about, for the backend's [`Error::hint`] (only the
/// native backend reads it).
#[derive(Clone, Copy, Debug)]
#[cfg_attr(
    not(any(target_os = "linux", target_os = "android", target_vendor = "apple")),
    allow(dead_code)
)]
pub(crate) enum HintTarget {
    /// No address was recorded (or an abstract Unix name).
    None,
    /// An IP address.
    Ip(SocketAddr),
    /// A Unix socket path.
    UnixPath,
}

/// A socket error: the portable [`ErrorCode`], the native code, the
/// operation and the address involved.
///
/// ```text
/// connect to 127.0.0.1:1: connection refused (ECONNREFUSED, errno 111)
/// ```
///
/// An error whose usual cause witsock can tell ends with it, after a
/// semicolon (see [`Error::hint`]):
///
/// ```text
/// bind 127.0.0.1:80: access denied (EACCES, errno 13); ports below …
/// ```
///
/// It is `Copy` and never allocates. It converts to [`io::Error`] with the
/// matching [`io::ErrorKind`] (and the raw OS error, where there is one).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Error {
    code: ErrorCode,
    op: Option<Operation>,
    raw: i32,
    addr: ErrorAddr,
}

/// The result of a witsock call.
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl Error {
    /// An error with a portable code and no native code.
    #[inline]
    pub const fn new(code: ErrorCode) -> Error {
        Error {
            code,
            op: None,
            raw: 0,
            addr: ErrorAddr::None,
        }
    }

    /// An error from a native error code (an errno natively), mapped with
    /// this platform's table.
    #[inline]
    pub fn from_raw_os_error(raw: i32) -> Error {
        Error {
            code: sys::error_code(raw),
            op: None,
            raw,
            addr: ErrorAddr::None,
        }
    }

    /// An error with both a portable code and a native one, for backends
    /// and hosts that already mapped it.
    #[inline]
    pub const fn with_raw(code: ErrorCode, raw: i32) -> Error {
        Error {
            code,
            op: None,
            raw,
            addr: ErrorAddr::None,
        }
    }

    /// Records the operation.
    #[inline]
    #[must_use]
    pub const fn during(mut self, op: Operation) -> Error {
        self.op = Some(op);
        self
    }

    /// Records the address involved.
    #[must_use]
    pub fn at(mut self, addr: &crate::SockAddr) -> Error {
        self.addr = if let Some(ip) = addr.as_socket() {
            ErrorAddr::Ip(ip)
        } else if let Some(path) = addr.as_unix_bytes() {
            let mut bytes = [0u8; UNIX_PREFIX];
            let len = path.len().min(UNIX_PREFIX);
            bytes[..len].copy_from_slice(&path[..len]);
            ErrorAddr::Unix {
                len: len as u8,
                bytes,
                cut: path.len() > UNIX_PREFIX,
            }
        } else {
            ErrorAddr::None
        };
        self
    }

    /// The portable code.
    #[inline]
    pub const fn code(&self) -> ErrorCode {
        self.code
    }

    /// The native error code, if the error came from the platform.
    #[inline]
    pub const fn raw_os_error(&self) -> Option<i32> {
        if self.raw == 0 {
            None
        } else {
            Some(self.raw)
        }
    }

    /// The operation, if recorded.
    #[inline]
    pub const fn operation(&self) -> Option<Operation> {
        self.op
    }

    /// The IP address involved, if any.
    pub fn ip_address(&self) -> Option<SocketAddr> {
        match self.addr {
            ErrorAddr::Ip(a) => Some(a),
            _ => None,
        }
    }

    /// What usually causes this error, when witsock can tell, for people
    /// to look at first; `Display` appends it. Natively, an
    /// `access-denied` the kernel returned (EACCES, EPERM) has one:
    ///
    /// - a bind to a privileged port (below 1024, or Linux's
    ///   `net.ipv4.ip_unprivileged_port_start`): it needs root, or
    ///   CAP_NET_BIND_SERVICE on Linux;
    /// - a send to, or datagram connect to, a broadcast address without
    ///   the `broadcast` option (also witsock's own refusal of
    ///   255.255.255.255, which has no errno);
    /// - a bind, connect or send on a Unix path: the path's or its
    ///   directory's permissions;
    /// - any other bind, connect or send: a firewall or a security module.
    ///
    /// Other errors, errors without a native code (a host's policy
    /// refusals) and the other backends' errors (what causes them is the
    /// host's to say) have none. The hint is text only: [`code`](Error::code)
    /// and the rest are the same with or without it.
    pub fn hint(&self) -> Option<&'static str> {
        let target = match self.addr {
            ErrorAddr::None => HintTarget::None,
            ErrorAddr::Ip(a) => HintTarget::Ip(a),
            ErrorAddr::Unix { .. } => HintTarget::UnixPath,
        };
        sys::hint(self.code, self.raw, self.op, target)
    }

    /// True for [`ErrorCode::WouldBlock`].
    #[inline]
    pub const fn is_would_block(&self) -> bool {
        matches!(self.code, ErrorCode::WouldBlock)
    }
}

impl From<ErrorCode> for Error {
    #[inline]
    fn from(code: ErrorCode) -> Error {
        Error::new(code)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(op) = self.op {
            write!(f, "{op}")?;
            let prep = match op {
                Operation::Connect | Operation::Send => " to ",
                Operation::Receive => " from ",
                _ => " ",
            };
            match self.addr {
                ErrorAddr::None => {}
                ErrorAddr::Ip(a) => write!(f, "{prep}{a}")?,
                ErrorAddr::Unix { len, bytes, cut } => {
                    let shown = String::from_utf8_lossy(&bytes[..len as usize]);
                    write!(f, "{prep}unix:{shown}{}", if cut { "…" } else { "" })?;
                }
            }
            f.write_str(": ")?;
        }
        f.write_str(self.code.description())?;
        if self.raw != 0 {
            match sys::errno_name(self.raw) {
                Some(name) => write!(f, " ({name}, {RAW_CODE} {})", self.raw)?,
                None => write!(f, " ({RAW_CODE} {})", self.raw)?,
            }
        }
        if let Some(hint) = self.hint() {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

/// What the raw code of an error is, for messages: the backend's, not the
/// target's (an imports guest's raw codes are the host's errnos).
const RAW_CODE: &str = sys::RAW_CODE_KIND;

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({:?}: {self})", self.code)
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    /// Keeps the OS error where there is one (so `raw_os_error` still
    /// works); otherwise builds a simple error of the matching kind. Neither
    /// allocates.
    fn from(e: Error) -> io::Error {
        #[cfg(unix)]
        if e.raw != 0 && e.code.io_kind() == io::Error::from_raw_os_error(e.raw).kind() {
            return io::Error::from_raw_os_error(e.raw);
        }
        io::Error::from(e.code.io_kind())
    }
}

impl From<io::Error> for Error {
    /// Maps an `io::Error` from std back to a portable code.
    fn from(e: io::Error) -> Error {
        // std's raw code is an errno: natively this backend's table reads
        // it; on wasm32-wasip2 it is a wasi-libc errno, not a wasi:sockets
        // code, so only its kind is used.
        #[cfg(unix)]
        let raw = e.raw_os_error();
        #[cfg(not(unix))]
        let raw: Option<i32> = None;
        match raw {
            Some(raw) => Error::from_raw_os_error(raw),
            None => Error::new(match e.kind() {
                io::ErrorKind::WouldBlock => ErrorCode::WouldBlock,
                io::ErrorKind::TimedOut => ErrorCode::TimedOut,
                io::ErrorKind::InvalidInput => ErrorCode::InvalidArgument,
                io::ErrorKind::Unsupported => ErrorCode::Unsupported,
                io::ErrorKind::Interrupted => ErrorCode::Interrupted,
                io::ErrorKind::NotConnected => ErrorCode::NotConnected,
                io::ErrorKind::BrokenPipe => ErrorCode::Shutdown,
                _ => ErrorCode::Other,
            }),
        }
    }
}
