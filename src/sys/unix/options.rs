//! setsockopt(2) / getsockopt(2) for each [`SocketOption`].
//!
//! Values arrive validated (`SocketOption::validate`); this module only
//! translates them to the kernel's types and back.

use core::mem::{self, MaybeUninit};
use core::time::Duration;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::RawFd;

use super::platform::{self, MulticastV4Byte};
use super::{cvt_retry, Socket};
use crate::{Error, ErrorCode, OptionName, Result, SocketOption, Type};

/// setsockopt(2) with a value of type `T`.
pub(super) fn setsockopt<T>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: T,
) -> Result<()> {
    // SAFETY: `value` is live for the call and its size is passed.
    cvt_retry(|| unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
    .map_err(option_error)
}

/// getsockopt(2) into a value of type `T`.
pub(super) fn getsockopt<T: Copy>(fd: RawFd, level: libc::c_int, name: libc::c_int) -> Result<T> {
    let mut value = MaybeUninit::<T>::zeroed();
    let mut len = mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: value/len describe writable storage of size_of::<T>() bytes.
    cvt_retry(|| unsafe { libc::getsockopt(fd, level, name, value.as_mut_ptr().cast(), &mut len) })
        .map_err(option_error)?;
    // SAFETY: zero-initialised, then written by the kernel; every T used
    // here (integers, linger, timeval) is valid for any bytes.
    Ok(unsafe { value.assume_init() })
}

/// getsockopt(2) into a value of type `T` the kernel may fill only in
/// part (a structure it has grown over releases): the value, zero past
/// what it wrote, and how many bytes it wrote.
pub(super) fn getsockopt_prefix<T: Copy>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
) -> Result<(T, usize)> {
    let mut value = MaybeUninit::<T>::zeroed();
    let mut len = mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: value/len describe writable storage of size_of::<T>() bytes.
    cvt_retry(|| unsafe { libc::getsockopt(fd, level, name, value.as_mut_ptr().cast(), &mut len) })
        .map_err(option_error)?;
    // SAFETY: zero-initialised, then written in part by the kernel; every
    // T used here (plain C structures of integers) is valid for any bytes.
    Ok((unsafe { value.assume_init() }, len as usize))
}

/// EOPNOTSUPP from setsockopt means the option does not apply to this
/// socket: the WIT calls that `option-not-supported`.
fn option_error(errno: i32) -> Error {
    match errno {
        libc::EOPNOTSUPP => Error::with_raw(ErrorCode::OptionNotSupported, errno),
        e => Error::from_raw_os_error(e),
    }
}

fn int(b: bool) -> libc::c_int {
    libc::c_int::from(b)
}

fn timeval(d: Option<Duration>) -> libc::timeval {
    match d {
        None => libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        Some(d) => {
            // Round up so that a tiny timeout does not become "none".
            let micros = d.subsec_nanos().div_ceil(1000);
            let (secs, micros) = if micros == 1_000_000 {
                (d.as_secs() + 1, 0)
            } else {
                (d.as_secs(), micros)
            };
            libc::timeval {
                tv_sec: secs as libc::time_t,
                tv_usec: micros as libc::suseconds_t,
            }
        }
    }
}

fn from_timeval(tv: libc::timeval) -> Option<Duration> {
    if tv.tv_sec == 0 && tv.tv_usec == 0 {
        None
    } else {
        Some(Duration::new(tv.tv_sec as u64, (tv.tv_usec as u32) * 1000))
    }
}

fn ip_mreq(group: Ipv4Addr, interface: Ipv4Addr) -> libc::ip_mreq {
    libc::ip_mreq {
        imr_multiaddr: libc::in_addr {
            s_addr: u32::from_ne_bytes(group.octets()),
        },
        imr_interface: libc::in_addr {
            s_addr: u32::from_ne_bytes(interface.octets()),
        },
    }
}

fn ipv6_mreq(group: Ipv6Addr, interface: u32) -> libc::ipv6_mreq {
    libc::ipv6_mreq {
        ipv6mr_multiaddr: libc::in6_addr {
            s6_addr: group.octets(),
        },
        ipv6mr_interface: interface as _,
    }
}

/// IP_TTL for IPv4 sockets, IPV6_UNICAST_HOPS for IPv6 ones.
fn hop_limit_option(socket: &Socket) -> Result<(libc::c_int, libc::c_int)> {
    match socket.family()? {
        libc::AF_INET => Ok((libc::IPPROTO_IP, libc::IP_TTL)),
        libc::AF_INET6 => Ok((libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS)),
        _ => Err(Error::new(ErrorCode::OptionNotSupported)),
    }
}

fn defer_accept() -> Result<libc::c_int> {
    platform::DEFER_ACCEPT.ok_or(Error::new(ErrorCode::OptionNotSupported))
}

fn user_timeout() -> Result<libc::c_int> {
    platform::TCP_USER_TIMEOUT.ok_or(Error::new(ErrorCode::OptionNotSupported))
}

/// IP_TOS for IPv4 sockets, IPV6_TCLASS for IPv6 ones.
fn traffic_class_option(socket: &Socket) -> Result<(libc::c_int, libc::c_int)> {
    match socket.family()? {
        libc::AF_INET => Ok((libc::IPPROTO_IP, libc::IP_TOS)),
        libc::AF_INET6 => Ok((libc::IPPROTO_IPV6, libc::IPV6_TCLASS)),
        _ => Err(Error::new(ErrorCode::OptionNotSupported)),
    }
}

pub(super) fn set_option(socket: &Socket, option: &SocketOption) -> Result<()> {
    use libc::{IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, SOL_SOCKET};
    let fd = socket.raw();
    match *option {
        SocketOption::ReuseAddress(b) => setsockopt(fd, SOL_SOCKET, libc::SO_REUSEADDR, int(b)),
        SocketOption::ReusePort(b) => setsockopt(fd, SOL_SOCKET, libc::SO_REUSEPORT, int(b)),
        SocketOption::KeepAlive(b) => setsockopt(fd, SOL_SOCKET, libc::SO_KEEPALIVE, int(b)),
        SocketOption::Linger(d) => setsockopt(
            fd,
            SOL_SOCKET,
            platform::SO_LINGER,
            libc::linger {
                l_onoff: int(d.is_some()),
                l_linger: d.map_or(0, |d| d.as_secs() as libc::c_int),
            },
        ),
        SocketOption::ReceiveBufferSize(n) => {
            setsockopt(fd, SOL_SOCKET, libc::SO_RCVBUF, n as libc::c_int)
        }
        SocketOption::SendBufferSize(n) => {
            setsockopt(fd, SOL_SOCKET, libc::SO_SNDBUF, n as libc::c_int)
        }
        SocketOption::ReceiveTimeout(d) => {
            setsockopt(fd, SOL_SOCKET, libc::SO_RCVTIMEO, timeval(d))
        }
        SocketOption::SendTimeout(d) => setsockopt(fd, SOL_SOCKET, libc::SO_SNDTIMEO, timeval(d)),
        SocketOption::Broadcast(b) => setsockopt(fd, SOL_SOCKET, libc::SO_BROADCAST, int(b)),
        SocketOption::NoDelay(b) => setsockopt(fd, IPPROTO_TCP, libc::TCP_NODELAY, int(b)),
        SocketOption::KeepAliveIdle(d) => setsockopt(
            fd,
            IPPROTO_TCP,
            platform::TCP_KEEPIDLE,
            d.as_secs() as libc::c_int,
        ),
        SocketOption::KeepAliveInterval(d) => setsockopt(
            fd,
            IPPROTO_TCP,
            libc::TCP_KEEPINTVL,
            d.as_secs() as libc::c_int,
        ),
        SocketOption::KeepAliveCount(n) => {
            setsockopt(fd, IPPROTO_TCP, libc::TCP_KEEPCNT, n as libc::c_int)
        }
        SocketOption::DeferAccept(d) => {
            setsockopt(fd, IPPROTO_TCP, defer_accept()?, d.as_secs() as libc::c_int)
        }
        SocketOption::Ipv6Only(b) => setsockopt(fd, IPPROTO_IPV6, libc::IPV6_V6ONLY, int(b)),
        SocketOption::HopLimit(n) => {
            let (level, name) = hop_limit_option(socket)?;
            setsockopt(fd, level, name, libc::c_int::from(n))
        }
        SocketOption::MulticastTtlV4(n) => {
            setsockopt(fd, IPPROTO_IP, libc::IP_MULTICAST_TTL, n as MulticastV4Byte)
        }
        SocketOption::MulticastLoopV4(b) => setsockopt(
            fd,
            IPPROTO_IP,
            libc::IP_MULTICAST_LOOP,
            b as MulticastV4Byte,
        ),
        SocketOption::MulticastHopsV6(n) => setsockopt(
            fd,
            IPPROTO_IPV6,
            libc::IPV6_MULTICAST_HOPS,
            libc::c_int::from(n),
        ),
        SocketOption::MulticastLoopV6(b) => setsockopt(
            fd,
            IPPROTO_IPV6,
            libc::IPV6_MULTICAST_LOOP,
            b as libc::c_uint,
        ),
        SocketOption::JoinMulticastV4 { group, interface } => setsockopt(
            fd,
            IPPROTO_IP,
            libc::IP_ADD_MEMBERSHIP,
            ip_mreq(group, interface),
        ),
        SocketOption::LeaveMulticastV4 { group, interface } => setsockopt(
            fd,
            IPPROTO_IP,
            libc::IP_DROP_MEMBERSHIP,
            ip_mreq(group, interface),
        ),
        SocketOption::JoinMulticastV6 { group, interface } => setsockopt(
            fd,
            IPPROTO_IPV6,
            platform::IPV6_JOIN_GROUP,
            ipv6_mreq(group, interface),
        ),
        SocketOption::LeaveMulticastV6 { group, interface } => setsockopt(
            fd,
            IPPROTO_IPV6,
            platform::IPV6_LEAVE_GROUP,
            ipv6_mreq(group, interface),
        ),
        SocketOption::Cork(b) => setsockopt(fd, IPPROTO_TCP, platform::TCP_CORK, int(b)),
        SocketOption::UserTimeout(d) => setsockopt(
            fd,
            IPPROTO_TCP,
            user_timeout()?,
            // Validated: whole milliseconds within an int.
            d.as_millis() as libc::c_uint,
        ),
        SocketOption::NotSentLowWater(n) => setsockopt(
            fd,
            IPPROTO_TCP,
            platform::TCP_NOTSENT_LOWAT,
            n as libc::c_int,
        ),
        SocketOption::TrafficClass(class) => {
            let (level, name) = traffic_class_option(socket)?;
            setsockopt(fd, level, name, libc::c_int::from(class))
        }
        // Read-only: rejected by validate() already; kept total.
        SocketOption::Error(_)
        | SocketOption::SocketType(_)
        | SocketOption::TcpInfo(_)
        | SocketOption::PeerCredentials(_)
        | SocketOption::ReceiveQueue(_)
        | SocketOption::SendQueue(_) => Err(Error::new(ErrorCode::InvalidArgument)),
    }
}

fn get_bool(fd: RawFd, level: libc::c_int, name: libc::c_int) -> Result<bool> {
    getsockopt::<libc::c_int>(fd, level, name).map(|v| v != 0)
}

fn get_secs(fd: RawFd, level: libc::c_int, name: libc::c_int) -> Result<Duration> {
    getsockopt::<libc::c_int>(fd, level, name).map(|v| Duration::from_secs(v.max(0) as u64))
}

fn get_buffer_size(fd: RawFd, name: libc::c_int) -> Result<usize> {
    getsockopt::<libc::c_int>(fd, libc::SOL_SOCKET, name)
        .map(|v| v.max(0) as usize / platform::BUFFER_SIZE_FACTOR)
}

pub(super) fn get_option(socket: &Socket, name: OptionName) -> Result<SocketOption> {
    use libc::{IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, SOL_SOCKET};
    let fd = socket.raw();
    Ok(match name {
        OptionName::ReuseAddress => {
            SocketOption::ReuseAddress(get_bool(fd, SOL_SOCKET, libc::SO_REUSEADDR)?)
        }
        OptionName::ReusePort => {
            SocketOption::ReusePort(get_bool(fd, SOL_SOCKET, libc::SO_REUSEPORT)?)
        }
        OptionName::KeepAlive => {
            SocketOption::KeepAlive(get_bool(fd, SOL_SOCKET, libc::SO_KEEPALIVE)?)
        }
        OptionName::Linger => {
            let l: libc::linger = getsockopt(fd, SOL_SOCKET, platform::SO_LINGER)?;
            SocketOption::Linger(
                (l.l_onoff != 0).then(|| Duration::from_secs(l.l_linger.max(0) as u64)),
            )
        }
        OptionName::ReceiveBufferSize => {
            SocketOption::ReceiveBufferSize(get_buffer_size(fd, libc::SO_RCVBUF)?)
        }
        OptionName::SendBufferSize => {
            SocketOption::SendBufferSize(get_buffer_size(fd, libc::SO_SNDBUF)?)
        }
        OptionName::ReceiveTimeout => SocketOption::ReceiveTimeout(from_timeval(getsockopt(
            fd,
            SOL_SOCKET,
            libc::SO_RCVTIMEO,
        )?)),
        OptionName::SendTimeout => {
            SocketOption::SendTimeout(from_timeval(getsockopt(fd, SOL_SOCKET, libc::SO_SNDTIMEO)?))
        }
        OptionName::Broadcast => {
            SocketOption::Broadcast(get_bool(fd, SOL_SOCKET, libc::SO_BROADCAST)?)
        }
        OptionName::Error => SocketOption::Error(socket.so_error()?),
        OptionName::SocketType => {
            let ty: libc::c_int = getsockopt(fd, SOL_SOCKET, libc::SO_TYPE)?;
            SocketOption::SocketType(match ty {
                libc::SOCK_STREAM => Type::Stream,
                libc::SOCK_DGRAM => Type::Datagram,
                libc::SOCK_SEQPACKET => Type::SeqPacket,
                _ => return Err(Error::new(ErrorCode::Unsupported)),
            })
        }
        OptionName::NoDelay => SocketOption::NoDelay(get_bool(fd, IPPROTO_TCP, libc::TCP_NODELAY)?),
        OptionName::KeepAliveIdle => {
            SocketOption::KeepAliveIdle(get_secs(fd, IPPROTO_TCP, platform::TCP_KEEPIDLE)?)
        }
        OptionName::KeepAliveInterval => {
            SocketOption::KeepAliveInterval(get_secs(fd, IPPROTO_TCP, libc::TCP_KEEPINTVL)?)
        }
        OptionName::KeepAliveCount => SocketOption::KeepAliveCount(
            getsockopt::<libc::c_int>(fd, IPPROTO_TCP, libc::TCP_KEEPCNT)?.max(0) as u32,
        ),
        OptionName::DeferAccept => {
            SocketOption::DeferAccept(get_secs(fd, IPPROTO_TCP, defer_accept()?)?)
        }
        OptionName::Ipv6Only => {
            SocketOption::Ipv6Only(get_bool(fd, IPPROTO_IPV6, libc::IPV6_V6ONLY)?)
        }
        OptionName::HopLimit => {
            let (level, name) = hop_limit_option(socket)?;
            SocketOption::HopLimit(getsockopt::<libc::c_int>(fd, level, name)?.clamp(0, 255) as u8)
        }
        OptionName::MulticastTtlV4 => SocketOption::MulticastTtlV4(getsockopt::<MulticastV4Byte>(
            fd,
            IPPROTO_IP,
            libc::IP_MULTICAST_TTL,
        )? as u8),
        OptionName::MulticastLoopV4 => SocketOption::MulticastLoopV4(
            getsockopt::<MulticastV4Byte>(fd, IPPROTO_IP, libc::IP_MULTICAST_LOOP)? != 0,
        ),
        OptionName::MulticastHopsV6 => SocketOption::MulticastHopsV6(
            getsockopt::<libc::c_int>(fd, IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS)?.clamp(0, 255)
                as u8,
        ),
        OptionName::MulticastLoopV6 => SocketOption::MulticastLoopV6(
            getsockopt::<libc::c_uint>(fd, IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP)? != 0,
        ),
        OptionName::Cork => SocketOption::Cork(get_bool(fd, IPPROTO_TCP, platform::TCP_CORK)?),
        OptionName::UserTimeout => SocketOption::UserTimeout(Duration::from_millis(u64::from(
            getsockopt::<libc::c_uint>(fd, IPPROTO_TCP, user_timeout()?)?,
        ))),
        OptionName::NotSentLowWater => SocketOption::NotSentLowWater(
            getsockopt::<libc::c_int>(fd, IPPROTO_TCP, platform::TCP_NOTSENT_LOWAT)?.max(0) as u32,
        ),
        OptionName::TrafficClass => {
            let (level, name) = traffic_class_option(socket)?;
            // The kernel's ECN bits (set on a connected stream socket) are
            // not the guest's class.
            let class = getsockopt::<libc::c_int>(fd, level, name)?.clamp(0, 255) as u8;
            SocketOption::TrafficClass(class & !crate::options::ECN_MASK)
        }
        OptionName::TcpInfo => SocketOption::TcpInfo(platform::tcp_info(fd)?),
        OptionName::PeerCredentials => {
            SocketOption::PeerCredentials(platform::peer_credentials(fd)?)
        }
        OptionName::ReceiveQueue => SocketOption::ReceiveQueue(platform::receive_queue(fd)?),
        OptionName::SendQueue => SocketOption::SendQueue(platform::send_queue(fd)?),
        OptionName::JoinMulticastV4
        | OptionName::LeaveMulticastV4
        | OptionName::JoinMulticastV6
        | OptionName::LeaveMulticastV6 => return Err(Error::new(ErrorCode::InvalidArgument)),
    })
}
