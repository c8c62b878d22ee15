//! The errno table: portable code and symbolic name of each errno that
//! socket(7) and the calls witsock makes can return. The numbers come
//! from `libc` for the target, so the one table serves Linux and macOS
//! (where, say, EAGAIN is 11 and 35).

use crate::ErrorCode;

macro_rules! errno_table {
    ($($errno:ident => $code:ident,)*) => {
        /// The portable code for a raw errno; unknown values are
        /// [`ErrorCode::Other`].
        #[inline]
        pub fn error_code(errno: i32) -> ErrorCode {
            // EAGAIN first: it is the one hot-path error.
            if errno == libc::EAGAIN {
                return ErrorCode::WouldBlock;
            }
            $(if errno == libc::$errno { return ErrorCode::$code; })*
            ErrorCode::Other
        }

        /// The symbolic name of a raw errno (`ECONNREFUSED`), if it is one
        /// a socket call can return.
        pub fn errno_name(errno: i32) -> Option<&'static str> {
            if errno == libc::EAGAIN {
                return Some("EAGAIN");
            }
            $(if errno == libc::$errno { return Some(stringify!($errno)); })*
            None
        }

        /// Every errno of the table with its name, EAGAIN first (values
        /// that alias, such as ENOTSUP and EOPNOTSUPP on Linux, appear
        /// once per name).
        pub const ERRNO_NAMES: &[(i32, &str)] = &[
            (libc::EAGAIN, "EAGAIN"),
            $((libc::$errno, stringify!($errno)),)*
        ];
    };
}

errno_table! {
    EINPROGRESS => InProgress,
    EALREADY => AlreadyInProgress,
    EINTR => Interrupted,
    EADDRINUSE => AddressInUse,
    EADDRNOTAVAIL => AddressNotAvailable,
    ECONNREFUSED => ConnectionRefused,
    ECONNRESET => ConnectionReset,
    ENETRESET => ConnectionReset,
    ECONNABORTED => ConnectionAborted,
    ENOTCONN => NotConnected,
    EDESTADDRREQ => NotConnected,
    EISCONN => AlreadyConnected,
    ETIMEDOUT => TimedOut,
    EHOSTUNREACH => HostUnreachable,
    EHOSTDOWN => HostUnreachable,
    ENETUNREACH => NetworkUnreachable,
    ENETDOWN => NetworkDown,
    EACCES => AccessDenied,
    EPERM => AccessDenied,
    EINVAL => InvalidArgument,
    EFAULT => InvalidArgument,
    ENAMETOOLONG => InvalidArgument,
    EMSGSIZE => MessageSize,
    ENOBUFS => NoBufferSpace,
    ENOMEM => NoBufferSpace,
    EMFILE => TooManySockets,
    ENFILE => TooManySockets,
    EAFNOSUPPORT => AddressFamilyNotSupported,
    EPFNOSUPPORT => AddressFamilyNotSupported,
    EPROTONOSUPPORT => ProtocolNotSupported,
    EPROTOTYPE => ProtocolNotSupported,
    ESOCKTNOSUPPORT => ProtocolNotSupported,
    ENOPROTOOPT => OptionNotSupported,
    EOPNOTSUPP => OperationNotSupported,
    ENOTSUP => OperationNotSupported,
    EPIPE => Shutdown,
    ESHUTDOWN => Shutdown,
    ENOTSOCK => NotASocket,
    EBADF => NotASocket,
    ENOENT => AddressNotAvailable,
    ENOTDIR => AddressNotAvailable,
    EROFS => AccessDenied,
    ELOOP => InvalidArgument,
    EPROTO => ConnectionAborted,
    EIO => Other,
}
