//! Conversions between [`Socket`] and the descriptor types of std.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use crate::sys;
use crate::Socket;

impl AsFd for Socket {
    #[inline]
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.fd().as_fd()
    }
}

impl AsRawFd for Socket {
    #[inline]
    fn as_raw_fd(&self) -> RawFd {
        self.inner.fd().as_raw_fd()
    }
}

impl From<OwnedFd> for Socket {
    /// Adopts a descriptor. A descriptor that is not a socket is accepted
    /// here; every call on it then fails with `not-a-socket`.
    #[inline]
    fn from(fd: OwnedFd) -> Socket {
        Socket::adopt(sys::Socket::from_fd(fd))
    }
}

impl From<Socket> for OwnedFd {
    #[inline]
    fn from(socket: Socket) -> OwnedFd {
        socket.inner.into_fd()
    }
}

impl FromRawFd for Socket {
    /// # Safety
    /// `fd` must be an open descriptor that nothing else owns.
    #[inline]
    unsafe fn from_raw_fd(fd: RawFd) -> Socket {
        // SAFETY: guaranteed by the caller.
        Socket::from(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

impl IntoRawFd for Socket {
    #[inline]
    fn into_raw_fd(self) -> RawFd {
        OwnedFd::from(self).into_raw_fd()
    }
}

macro_rules! std_conversions {
    ($($std:ty),*) => {$(
        impl From<$std> for Socket {
            /// Takes over std's socket, keeping its mode.
            #[inline]
            fn from(s: $std) -> Socket {
                Socket::from(OwnedFd::from(s))
            }
        }

        impl From<Socket> for $std {
            /// Hands the socket to std, keeping its mode (an accepted
            /// witsock socket is non-blocking).
            #[inline]
            fn from(s: Socket) -> $std {
                <$std>::from(OwnedFd::from(s))
            }
        }
    )*};
}

std_conversions!(
    std::net::TcpStream,
    std::net::TcpListener,
    std::net::UdpSocket
);
#[cfg(unix)]
std_conversions!(
    std::os::unix::net::UnixStream,
    std::os::unix::net::UnixListener,
    std::os::unix::net::UnixDatagram
);
