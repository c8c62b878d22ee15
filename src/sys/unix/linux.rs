//! Linux: SOCK_NONBLOCK | SOCK_CLOEXEC at creation, accept4(2),
//! MSG_NOSIGNAL, TCP_KEEPIDLE, TCP_DEFER_ACCEPT.

use core::mem::offset_of;
use core::time::Duration;
use std::os::fd::{OwnedFd, RawFd};

use super::options::getsockopt_prefix;
use super::{cvt_retry, owned, RawAddr};
use crate::{Capabilities, Error, ErrorCode, PeerCredentials, Result, Support, TcpInfo, TcpState};

/// Added to every send: no SIGPIPE, EPIPE instead.
pub(super) const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;

/// The keep-alive idle time option.
pub(super) const TCP_KEEPIDLE: libc::c_int = libc::TCP_KEEPIDLE;
/// SO_LINGER takes seconds on Linux.
pub(super) const SO_LINGER: libc::c_int = libc::SO_LINGER;
pub(super) const IPV6_JOIN_GROUP: libc::c_int = libc::IPV6_ADD_MEMBERSHIP;
pub(super) const IPV6_LEAVE_GROUP: libc::c_int = libc::IPV6_DROP_MEMBERSHIP;
/// Linux stores twice the SO_RCVBUF/SO_SNDBUF value set.
pub(super) const BUFFER_SIZE_FACTOR: usize = 2;
/// IP_MULTICAST_TTL and IP_MULTICAST_LOOP take an int.
pub(super) type MulticastV4Byte = libc::c_int;
/// The option that holds back partial segments.
pub(super) const TCP_CORK: libc::c_int = libc::TCP_CORK;
/// TCP_USER_TIMEOUT exists here.
pub(super) const TCP_USER_TIMEOUT: Option<libc::c_int> = Some(libc::TCP_USER_TIMEOUT);
pub(super) const TCP_NOTSENT_LOWAT: libc::c_int = libc::TCP_NOTSENT_LOWAT;

fn flags(nonblocking: bool) -> libc::c_int {
    libc::SOCK_CLOEXEC | if nonblocking { libc::SOCK_NONBLOCK } else { 0 }
}

/// One socket(2), close-on-exec (and non-blocking) atomically.
pub(super) fn socket(
    domain: libc::c_int,
    ty: libc::c_int,
    protocol: libc::c_int,
    nonblocking: bool,
) -> Result<OwnedFd> {
    // SAFETY: plain syscall.
    cvt_retry(|| unsafe { libc::socket(domain, ty | flags(nonblocking), protocol) })
        .map(|fd| {
            // SAFETY: socket succeeded: `fd` is a new descriptor we own.
            unsafe { owned(fd) }
        })
        .map_err(Error::from_raw_os_error)
}

pub(super) fn socketpair(ty: libc::c_int, nonblocking: bool) -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors socketpair writes.
    cvt_retry(|| unsafe {
        libc::socketpair(libc::AF_UNIX, ty | flags(nonblocking), 0, fds.as_mut_ptr())
    })
    .map_err(Error::from_raw_os_error)?;
    // SAFETY: socketpair succeeded: both are new descriptors we own.
    Ok(unsafe { (owned(fds[0]), owned(fds[1])) })
}

/// Exactly one accept4(2): the new socket is non-blocking and close-on-exec
/// and `peer` is filled in by the same call. Returns the errno on failure.
#[inline]
pub(super) fn accept(
    listener: libc::c_int,
    peer: &mut RawAddr,
) -> core::result::Result<OwnedFd, i32> {
    let (ptr, len) = peer.as_mut_ptr();
    // SAFETY: ptr/len point into `peer`, sized sockaddr_storage.
    cvt_retry(|| unsafe {
        libc::accept4(listener, ptr, len, libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
    })
    .map(|fd| {
        // SAFETY: accept4 succeeded: `fd` is a new descriptor we own.
        unsafe { owned(fd) }
    })
}

/// Everything is native on Linux.
pub(super) static CAPABILITIES: Capabilities =
    Capabilities::uniform("native-linux", Support::Native);

/// TCP_DEFER_ACCEPT exists here.
pub(super) const DEFER_ACCEPT: Option<libc::c_int> = Some(libc::TCP_DEFER_ACCEPT);

/// `struct tcp_info` of `<linux/tcp.h>` up to `tcpi_delivery_rate` (Linux
/// 4.9). Older kernels fill less of it: the fields past what they wrote
/// read as absent.
#[repr(C)]
#[derive(Clone, Copy)]
struct KernelTcpInfo {
    state: u8,
    ca_state: u8,
    retransmits: u8,
    probes: u8,
    backoff: u8,
    options: u8,
    wscale: u8,
    flags: u8,
    rto: u32,
    ato: u32,
    snd_mss: u32,
    rcv_mss: u32,
    unacked: u32,
    sacked: u32,
    lost: u32,
    retrans: u32,
    fackets: u32,
    last_data_sent: u32,
    last_ack_sent: u32,
    last_data_recv: u32,
    last_ack_recv: u32,
    pmtu: u32,
    rcv_ssthresh: u32,
    rtt: u32,
    rttvar: u32,
    snd_ssthresh: u32,
    snd_cwnd: u32,
    advmss: u32,
    reordering: u32,
    rcv_rtt: u32,
    rcv_space: u32,
    total_retrans: u32,
    pacing_rate: u64,
    max_pacing_rate: u64,
    bytes_acked: u64,
    bytes_received: u64,
    segs_out: u32,
    segs_in: u32,
    notsent_bytes: u32,
    min_rtt: u32,
    data_segs_in: u32,
    data_segs_out: u32,
    delivery_rate: u64,
}

/// The kernel's TCP states (`TCP_ESTABLISHED` = 1 … in `<net/tcp_states.h>`).
fn tcp_state(state: u8) -> TcpState {
    match state {
        1 => TcpState::Established,
        2 => TcpState::SynSent,
        3 => TcpState::SynReceived,
        4 => TcpState::FinWait1,
        5 => TcpState::FinWait2,
        6 => TcpState::TimeWait,
        8 => TcpState::CloseWait,
        9 => TcpState::LastAck,
        10 => TcpState::Listen,
        11 => TcpState::Closing,
        // 7 is TCP_CLOSE; 12 (TCP_NEW_SYN_RECV) is never a socket's own.
        _ => TcpState::Closed,
    }
}

/// getsockopt(TCP_INFO).
pub(super) fn tcp_info(fd: RawFd) -> Result<TcpInfo> {
    let (info, len) = getsockopt_prefix::<KernelTcpInfo>(fd, libc::IPPROTO_TCP, libc::TCP_INFO)?;
    // Whether the kernel wrote the field that ends at `end`.
    let has = |end: usize| len >= end;
    let u64_field = |offset: usize, value: u64| has(offset + 8).then_some(value);
    Ok(TcpInfo {
        state: tcp_state(info.state),
        rtt: Duration::from_micros(info.rtt.into()),
        rtt_variance: Duration::from_micros(info.rttvar.into()),
        mss: info.snd_mss,
        congestion_window: u64::from(info.snd_cwnd) * u64::from(info.snd_mss),
        retransmits: Some(info.total_retrans.into()),
        unacked: Some(info.unacked),
        bytes_acked: u64_field(offset_of!(KernelTcpInfo, bytes_acked), info.bytes_acked),
        bytes_received: u64_field(
            offset_of!(KernelTcpInfo, bytes_received),
            info.bytes_received,
        ),
        delivery_rate: u64_field(offset_of!(KernelTcpInfo, delivery_rate), info.delivery_rate),
    })
}

/// getsockopt(SO_PEERCRED). A socket without a peer reads pid 0.
pub(super) fn peer_credentials(fd: RawFd) -> Result<PeerCredentials> {
    let (cred, _) = getsockopt_prefix::<libc::ucred>(fd, libc::SOL_SOCKET, libc::SO_PEERCRED)?;
    if cred.pid == 0 {
        return Err(Error::new(ErrorCode::NotConnected));
    }
    Ok(PeerCredentials {
        pid: u32::try_from(cred.pid).ok(),
        uid: cred.uid,
        gid: cred.gid,
    })
}

/// ioctl(2) that reads a count of bytes (FIONREAD, TIOCOUTQ).
fn ioctl_count(fd: RawFd, request: libc::Ioctl) -> Result<usize> {
    let mut count: libc::c_int = 0;
    // SAFETY: the request writes one int into `count`, which lives for the
    // call.
    match cvt_retry(|| unsafe { libc::ioctl(fd, request, &mut count) }) {
        Ok(_) => Ok(usize::try_from(count).unwrap_or(0)),
        // A listener holds no bytes; Linux refuses the question there.
        Err(libc::EINVAL) if is_listener(fd) => Ok(0),
        Err(e) => Err(Error::from_raw_os_error(e)),
    }
}

/// Whether the socket listens (SO_ACCEPTCONN).
fn is_listener(fd: RawFd) -> bool {
    getsockopt_prefix::<libc::c_int>(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN)
        .is_ok_and(|(listening, _)| listening != 0)
}

/// Bytes received and not yet read (FIONREAD).
pub(super) fn receive_queue(fd: RawFd) -> Result<usize> {
    ioctl_count(fd, libc::FIONREAD)
}

/// Bytes written and not yet acknowledged (SIOCOUTQ, alias TIOCOUTQ).
pub(super) fn send_queue(fd: RawFd) -> Result<usize> {
    ioctl_count(fd, libc::TIOCOUTQ)
}
