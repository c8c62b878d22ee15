//! macOS: socket(2) then fcntl(2) for close-on-exec and non-blocking,
//! accept(2) then the same, SO_NOSIGPIPE instead of MSG_NOSIGNAL,
//! TCP_KEEPALIVE for the idle time, SO_LINGER_SEC, no TCP_DEFER_ACCEPT.

use core::time::Duration;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::options::getsockopt_prefix;
use super::{cvt_retry, owned, RawAddr};
use crate::{Capabilities, Error, OptionName, PeerCredentials, Result, Support, TcpInfo, TcpState};

/// Sends need no flag: every socket has SO_NOSIGPIPE.
pub(super) const SEND_FLAGS: libc::c_int = 0;

/// macOS names the keep-alive idle time TCP_KEEPALIVE.
pub(super) const TCP_KEEPIDLE: libc::c_int = libc::TCP_KEEPALIVE;
/// SO_LINGER counts clock ticks on macOS; SO_LINGER_SEC counts seconds.
pub(super) const SO_LINGER: libc::c_int = libc::SO_LINGER_SEC;
pub(super) const IPV6_JOIN_GROUP: libc::c_int = libc::IPV6_JOIN_GROUP;
pub(super) const IPV6_LEAVE_GROUP: libc::c_int = libc::IPV6_LEAVE_GROUP;
/// macOS reports SO_RCVBUF/SO_SNDBUF as set.
pub(super) const BUFFER_SIZE_FACTOR: usize = 1;
/// IP_MULTICAST_TTL and IP_MULTICAST_LOOP take a u_char.
pub(super) type MulticastV4Byte = u8;
/// macOS holds back partial segments with TCP_NOPUSH.
pub(super) const TCP_CORK: libc::c_int = libc::TCP_NOPUSH;
/// No TCP_USER_TIMEOUT on macOS (TCP_RXT_CONNDROPTIME counts seconds of
/// retransmission, not unacknowledged time).
pub(super) const TCP_USER_TIMEOUT: Option<libc::c_int> = None;
/// TCP_NOTSENT_LOWAT, from <netinet/tcp.h> (the libc crate lacks it here).
pub(super) const TCP_NOTSENT_LOWAT: libc::c_int = 0x201;

/// What every new descriptor needs: close-on-exec, SO_NOSIGPIPE, and
/// O_NONBLOCK when asked. A fresh socket has no other status flags, so
/// F_SETFL needs no F_GETFL first.
fn prepare(fd: &OwnedFd, nonblocking: bool) -> Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own.
    cvt_retry(|| unsafe { libc::fcntl(raw, libc::F_SETFD, libc::FD_CLOEXEC) })
        .map_err(Error::from_raw_os_error)?;
    if nonblocking {
        // SAFETY: fcntl on a descriptor we own.
        cvt_retry(|| unsafe { libc::fcntl(raw, libc::F_SETFL, libc::O_NONBLOCK) })
            .map_err(Error::from_raw_os_error)?;
    }
    let one: libc::c_int = 1;
    // SAFETY: the option value is a live c_int of the size given.
    cvt_retry(|| unsafe {
        libc::setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_NOSIGPIPE,
            (&one as *const libc::c_int).cast(),
            core::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map_err(Error::from_raw_os_error)?;
    Ok(())
}

pub(super) fn socket(
    domain: libc::c_int,
    ty: libc::c_int,
    protocol: libc::c_int,
    nonblocking: bool,
) -> Result<OwnedFd> {
    // SAFETY: plain syscall.
    let fd = cvt_retry(|| unsafe { libc::socket(domain, ty, protocol) })
        .map(|fd| {
            // SAFETY: socket succeeded: `fd` is a new descriptor we own.
            unsafe { owned(fd) }
        })
        .map_err(Error::from_raw_os_error)?;
    // On error `fd` drops here and is closed: nothing leaks.
    prepare(&fd, nonblocking)?;
    Ok(fd)
}

pub(super) fn socketpair(ty: libc::c_int, nonblocking: bool) -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors socketpair writes.
    cvt_retry(|| unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()) })
        .map_err(Error::from_raw_os_error)?;
    // SAFETY: socketpair succeeded: both are new descriptors we own.
    let (a, b) = unsafe { (owned(fds[0]), owned(fds[1])) };
    prepare(&a, nonblocking)?;
    prepare(&b, nonblocking)?;
    Ok((a, b))
}

/// accept(2), then close-on-exec, non-blocking and SO_NOSIGPIPE on the new
/// socket (macOS has no accept4). Returns the errno on failure.
#[inline]
pub(super) fn accept(
    listener: libc::c_int,
    peer: &mut RawAddr,
) -> core::result::Result<OwnedFd, i32> {
    let (ptr, len) = peer.as_mut_ptr();
    // SAFETY: ptr/len point into `peer`, sized sockaddr_storage.
    let fd = cvt_retry(|| unsafe { libc::accept(listener, ptr, len) }).map(|fd| {
        // SAFETY: accept succeeded: `fd` is a new descriptor we own.
        unsafe { owned(fd) }
    })?;
    prepare(&fd, true).map_err(|e| e.raw_os_error().unwrap_or(libc::EINVAL))?;
    Ok(fd)
}

/// Native, but for TCP_DEFER_ACCEPT, TCP_USER_TIMEOUT and batched datagrams (a loop of
/// sendto/recvmsg: no sendmmsg/recvmmsg here).
pub(super) static CAPABILITIES: Capabilities = Capabilities {
    batched_datagrams: Support::Emulated,
    ..Capabilities::uniform("native-macos", Support::Native)
        .with_option(OptionName::DeferAccept, Support::Unsupported)
        .with_option(OptionName::UserTimeout, Support::Unsupported)
};

/// No TCP_DEFER_ACCEPT on macOS.
pub(super) const DEFER_ACCEPT: Option<libc::c_int> = None;

/// The TCP states of `<netinet/tcp_fsm.h>` (TCPS_CLOSED = 0 …).
fn tcp_state(state: u8) -> TcpState {
    match state {
        1 => TcpState::Listen,
        2 => TcpState::SynSent,
        3 => TcpState::SynReceived,
        4 => TcpState::Established,
        5 => TcpState::CloseWait,
        6 => TcpState::FinWait1,
        7 => TcpState::Closing,
        8 => TcpState::LastAck,
        9 => TcpState::FinWait2,
        10 => TcpState::TimeWait,
        _ => TcpState::Closed,
    }
}

/// getsockopt(TCP_CONNECTION_INFO), onto the same record as Linux's
/// TCP_INFO: no unacknowledged count, bytes acknowledged or delivery
/// rate here.
pub(super) fn tcp_info(fd: RawFd) -> Result<TcpInfo> {
    let (info, _) = getsockopt_prefix::<libc::tcp_connection_info>(
        fd,
        libc::IPPROTO_TCP,
        libc::TCP_CONNECTION_INFO,
    )?;
    Ok(TcpInfo {
        state: tcp_state(info.tcpi_state),
        rtt: Duration::from_millis(info.tcpi_srtt.into()),
        rtt_variance: Duration::from_millis(info.tcpi_rttvar.into()),
        mss: info.tcpi_maxseg,
        congestion_window: info.tcpi_snd_cwnd.into(),
        retransmits: None,
        unacked: None,
        bytes_acked: None,
        bytes_received: Some(info.tcpi_rxbytes),
        delivery_rate: None,
    })
}

/// getpeereid(3) for the ids, getsockopt(LOCAL_PEERPID) for the process.
pub(super) fn peer_credentials(fd: RawFd) -> Result<PeerCredentials> {
    let (mut uid, mut gid) = (0, 0);
    // SAFETY: both pointers are to live locals of the types asked for.
    cvt_retry(|| unsafe { libc::getpeereid(fd, &mut uid, &mut gid) })
        .map_err(Error::from_raw_os_error)?;
    let pid = getsockopt_prefix::<libc::pid_t>(fd, libc::SOL_LOCAL, libc::LOCAL_PEERPID)
        .ok()
        .and_then(|(pid, _)| u32::try_from(pid).ok());
    Ok(PeerCredentials { pid, uid, gid })
}

/// Bytes received and not yet read (FIONREAD).
pub(super) fn receive_queue(fd: RawFd) -> Result<usize> {
    let mut count: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int into `count`, which lives for the
    // call.
    cvt_retry(|| unsafe { libc::ioctl(fd, libc::FIONREAD, &mut count) })
        .map_err(Error::from_raw_os_error)?;
    Ok(usize::try_from(count).unwrap_or(0))
}

/// Bytes written and not yet acknowledged (SO_NWRITE: what the send buffer
/// holds).
pub(super) fn send_queue(fd: RawFd) -> Result<usize> {
    let (count, _) = getsockopt_prefix::<libc::c_int>(fd, libc::SOL_SOCKET, libc::SO_NWRITE)?;
    Ok(usize::try_from(count).unwrap_or(0))
}
