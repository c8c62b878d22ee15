//! The portable error: the errno table with literal numbers per OS, the
//! `Display` format, and the conversions to and from `io::Error`.

use std::io;
use std::net::SocketAddr;

use witsock::errno::{errno_name, error_code};
use witsock::{Domain, Error, ErrorCode, Operation, OptionName, SockAddr, Socket, Type};

use ErrorCode::*;

/// Every errno witsock names, with its number on this OS, its name and the
/// portable code it maps to (numbers from the kernel headers; libc's
/// `unix/linux_like` modules for x86-64 and aarch64).
#[cfg(target_os = "linux")]
const ERRNO_TABLE: &[(i32, &str, ErrorCode)] = &[
    (11, "EAGAIN", WouldBlock),
    (115, "EINPROGRESS", InProgress),
    (114, "EALREADY", AlreadyInProgress),
    (4, "EINTR", Interrupted),
    (98, "EADDRINUSE", AddressInUse),
    (99, "EADDRNOTAVAIL", AddressNotAvailable),
    (111, "ECONNREFUSED", ConnectionRefused),
    (104, "ECONNRESET", ConnectionReset),
    (102, "ENETRESET", ConnectionReset),
    (103, "ECONNABORTED", ConnectionAborted),
    (107, "ENOTCONN", NotConnected),
    (89, "EDESTADDRREQ", NotConnected),
    (106, "EISCONN", AlreadyConnected),
    (110, "ETIMEDOUT", TimedOut),
    (113, "EHOSTUNREACH", HostUnreachable),
    (112, "EHOSTDOWN", HostUnreachable),
    (101, "ENETUNREACH", NetworkUnreachable),
    (100, "ENETDOWN", NetworkDown),
    (13, "EACCES", AccessDenied),
    (1, "EPERM", AccessDenied),
    (22, "EINVAL", InvalidArgument),
    (14, "EFAULT", InvalidArgument),
    (36, "ENAMETOOLONG", InvalidArgument),
    (90, "EMSGSIZE", MessageSize),
    (105, "ENOBUFS", NoBufferSpace),
    (12, "ENOMEM", NoBufferSpace),
    (24, "EMFILE", TooManySockets),
    (23, "ENFILE", TooManySockets),
    (97, "EAFNOSUPPORT", AddressFamilyNotSupported),
    (96, "EPFNOSUPPORT", AddressFamilyNotSupported),
    (93, "EPROTONOSUPPORT", ProtocolNotSupported),
    (91, "EPROTOTYPE", ProtocolNotSupported),
    (94, "ESOCKTNOSUPPORT", ProtocolNotSupported),
    (92, "ENOPROTOOPT", OptionNotSupported),
    // ENOTSUP is EOPNOTSUPP on Linux.
    (95, "EOPNOTSUPP", OperationNotSupported),
    (32, "EPIPE", Shutdown),
    (108, "ESHUTDOWN", Shutdown),
    (88, "ENOTSOCK", NotASocket),
    (9, "EBADF", NotASocket),
    (2, "ENOENT", AddressNotAvailable),
    (20, "ENOTDIR", AddressNotAvailable),
    (30, "EROFS", AccessDenied),
    (40, "ELOOP", InvalidArgument),
    (71, "EPROTO", ConnectionAborted),
    (5, "EIO", Other),
];

/// The same table with macOS numbers (libc's `unix/bsd/apple` module).
#[cfg(target_vendor = "apple")]
const ERRNO_TABLE: &[(i32, &str, ErrorCode)] = &[
    (35, "EAGAIN", WouldBlock),
    (36, "EINPROGRESS", InProgress),
    (37, "EALREADY", AlreadyInProgress),
    (4, "EINTR", Interrupted),
    (48, "EADDRINUSE", AddressInUse),
    (49, "EADDRNOTAVAIL", AddressNotAvailable),
    (61, "ECONNREFUSED", ConnectionRefused),
    (54, "ECONNRESET", ConnectionReset),
    (52, "ENETRESET", ConnectionReset),
    (53, "ECONNABORTED", ConnectionAborted),
    (57, "ENOTCONN", NotConnected),
    (39, "EDESTADDRREQ", NotConnected),
    (56, "EISCONN", AlreadyConnected),
    (60, "ETIMEDOUT", TimedOut),
    (65, "EHOSTUNREACH", HostUnreachable),
    (64, "EHOSTDOWN", HostUnreachable),
    (51, "ENETUNREACH", NetworkUnreachable),
    (50, "ENETDOWN", NetworkDown),
    (13, "EACCES", AccessDenied),
    (1, "EPERM", AccessDenied),
    (22, "EINVAL", InvalidArgument),
    (14, "EFAULT", InvalidArgument),
    (63, "ENAMETOOLONG", InvalidArgument),
    (40, "EMSGSIZE", MessageSize),
    (55, "ENOBUFS", NoBufferSpace),
    (12, "ENOMEM", NoBufferSpace),
    (24, "EMFILE", TooManySockets),
    (23, "ENFILE", TooManySockets),
    (47, "EAFNOSUPPORT", AddressFamilyNotSupported),
    (46, "EPFNOSUPPORT", AddressFamilyNotSupported),
    (43, "EPROTONOSUPPORT", ProtocolNotSupported),
    (41, "EPROTOTYPE", ProtocolNotSupported),
    (44, "ESOCKTNOSUPPORT", ProtocolNotSupported),
    (42, "ENOPROTOOPT", OptionNotSupported),
    (102, "EOPNOTSUPP", OperationNotSupported),
    (45, "ENOTSUP", OperationNotSupported),
    (32, "EPIPE", Shutdown),
    (58, "ESHUTDOWN", Shutdown),
    (38, "ENOTSOCK", NotASocket),
    (9, "EBADF", NotASocket),
    (2, "ENOENT", AddressNotAvailable),
    (20, "ENOTDIR", AddressNotAvailable),
    (30, "EROFS", AccessDenied),
    (62, "ELOOP", InvalidArgument),
    (100, "EPROTO", ConnectionAborted),
    (5, "EIO", Other),
];

/// The errnos the Display tests use.
#[cfg(target_os = "linux")]
mod errno {
    pub const EAGAIN: i32 = 11;
    pub const ECONNREFUSED: i32 = 111;
    pub const EADDRINUSE: i32 = 98;
    pub const ENOENT: i32 = 2;
}

#[cfg(target_vendor = "apple")]
mod errno {
    pub const EAGAIN: i32 = 35;
    pub const ECONNREFUSED: i32 = 61;
    pub const EADDRINUSE: i32 = 48;
    pub const ENOENT: i32 = 2;
}

/// An errno no OS witsock supports uses.
const UNKNOWN_ERRNO: i32 = 4000;

#[test]
fn errno_table_maps_every_row() {
    let mut wrong = Vec::new();
    for &(raw, name, code) in ERRNO_TABLE {
        if error_code(raw) != code {
            wrong.push(format!(
                "{name} ({raw}) maps to {:?}, expected {code:?}",
                error_code(raw)
            ));
        }
        if errno_name(raw) != Some(name) {
            wrong.push(format!(
                "errno {raw} is named {:?}, expected {name}",
                errno_name(raw)
            ));
        }
        let e = Error::from_raw_os_error(raw);
        if e.code() != code || e.raw_os_error() != Some(raw) {
            wrong.push(format!(
                "Error::from_raw_os_error({raw}) is {e:?}, expected {code:?} keeping {raw}"
            ));
        }
    }
    assert!(wrong.is_empty(), "errno table:\n  {}", wrong.join("\n  "));
}

#[test]
fn errno_table_has_a_row_for_every_named_errno() {
    // Every errno the library names must be in the table above, so that a
    // new mapping cannot go untested.
    let missing: Vec<String> = (1..4096)
        .filter_map(|raw| errno_name(raw).map(|name| (raw, name)))
        .filter(|(raw, _)| !ERRNO_TABLE.iter().any(|(r, _, _)| r == raw))
        .map(|(raw, name)| format!("{name} ({raw}) -> {:?}", error_code(raw)))
        .collect();
    assert!(
        missing.is_empty(),
        "errnos the library names that have no row here: {missing:?}"
    );
}

#[test]
fn unknown_errno_is_other_with_the_raw_code_kept() {
    assert_eq!(errno_name(UNKNOWN_ERRNO), None);
    assert_eq!(error_code(UNKNOWN_ERRNO), Other);
    let e = Error::from_raw_os_error(UNKNOWN_ERRNO);
    assert_eq!(e.code(), Other);
    assert_eq!(e.raw_os_error(), Some(UNKNOWN_ERRNO));
    assert_eq!(e.to_string(), "other error (errno 4000)");
    let io = io::Error::from(e);
    assert_eq!(io.kind(), io::ErrorKind::Other);
}

/// A loopback port nobody listens on: bound once, then closed.
fn closed_loopback_port() -> SockAddr {
    let probe = Socket::new(Domain::Ipv4, Type::Stream, None).unwrap();
    probe
        .bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 0))))
        .unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    addr
}

#[test]
fn display_of_a_refused_connect() {
    let addr = closed_loopback_port();
    let client = Socket::new(Domain::Ipv4, Type::Stream, None).unwrap();
    let err = client.connect(&addr).unwrap_err();
    assert_eq!(err.code(), ConnectionRefused);
    assert_eq!(err.operation(), Some(Operation::Connect));
    assert_eq!(err.raw_os_error(), Some(errno::ECONNREFUSED));
    assert_eq!(err.ip_address(), addr.as_socket());
    assert_eq!(
        err.to_string(),
        format!(
            "connect to {}: connection refused (ECONNREFUSED, errno {})",
            addr.as_socket().unwrap(),
            errno::ECONNREFUSED
        )
    );
}

#[cfg(target_os = "linux")]
#[test]
fn display_of_a_refused_connect_reads_exactly() {
    // The format documented on `Error`, byte for byte, with a fixed port.
    let err = Error::from_raw_os_error(111)
        .during(Operation::Connect)
        .at(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 1))));
    assert_eq!(
        err.to_string(),
        "connect to 127.0.0.1:1: connection refused (ECONNREFUSED, errno 111)"
    );
}

#[test]
fn display_of_a_bind_to_an_address_in_use() {
    let first = Socket::new(Domain::Ipv4, Type::Stream, None).unwrap();
    first
        .bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 0))))
        .unwrap();
    first.listen(1).unwrap();
    let addr = first.local_addr().unwrap();
    let second = Socket::new(Domain::Ipv4, Type::Stream, None).unwrap();
    let err = second.bind(&addr).unwrap_err();
    assert_eq!(err.code(), AddressInUse);
    assert_eq!(
        err.to_string(),
        format!(
            "bind {}: address in use (EADDRINUSE, errno {})",
            addr.as_socket().unwrap(),
            errno::EADDRINUSE
        )
    );
}

#[test]
fn display_of_unix_paths() {
    // Up to 26 bytes of the path are kept inline and shown whole.
    let short = Error::from_raw_os_error(errno::EADDRINUSE)
        .during(Operation::Bind)
        .at(&SockAddr::unix("/run/witsock/api.sock").unwrap());
    assert_eq!(
        short.to_string(),
        format!(
            "bind unix:/run/witsock/api.sock: address in use (EADDRINUSE, errno {})",
            errno::EADDRINUSE
        )
    );
    // A longer one is cut after 26 bytes and marked.
    let long = Error::from_raw_os_error(errno::EADDRINUSE)
        .during(Operation::Bind)
        .at(&SockAddr::unix("/run/witsock/a-rather-long-socket-name.sock").unwrap());
    assert_eq!(
        long.to_string(),
        format!(
            "bind unix:/run/witsock/a-rather-long…: address in use (EADDRINUSE, errno {})",
            errno::EADDRINUSE
        )
    );
    // No IP address to report for a Unix one.
    assert_eq!(long.ip_address(), None);
}

#[test]
fn display_of_a_real_unix_connect_to_a_missing_path() {
    let path = "/nonexistent/witsock.sock";
    let client = Socket::new(Domain::Unix, Type::Stream, None).unwrap();
    let err = client.connect(&SockAddr::unix(path).unwrap()).unwrap_err();
    // Nobody listens there: refused, with the kernel's ENOENT kept.
    assert_eq!(err.code(), ConnectionRefused);
    assert_eq!(err.raw_os_error(), Some(errno::ENOENT));
    assert_eq!(
        err.to_string(),
        format!(
            "connect to unix:/nonexistent/witsock.sock: connection refused (ENOENT, errno {})",
            errno::ENOENT
        )
    );
}

#[test]
fn display_of_a_real_unix_bind_in_a_missing_directory() {
    let socket = Socket::new(Domain::Unix, Type::Stream, None).unwrap();
    let err = socket
        .bind(&SockAddr::unix("/nonexistent/witsock.sock").unwrap())
        .unwrap_err();
    assert_eq!(err.code(), AddressNotAvailable);
    assert_eq!(
        err.to_string(),
        format!(
            "bind unix:/nonexistent/witsock.sock: address not available (ENOENT, errno {})",
            errno::ENOENT
        )
    );
}

#[test]
fn display_of_a_real_unix_bind_to_a_path_in_use() {
    let dir = std::env::temp_dir().join(format!("witsock-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bound.sock");
    let _ = std::fs::remove_file(&path);
    let addr = SockAddr::unix(&path).unwrap();
    let first = Socket::new(Domain::Unix, Type::Stream, None).unwrap();
    first.bind(&addr).unwrap();
    let second = Socket::new(Domain::Unix, Type::Stream, None).unwrap();
    let err = second.bind(&addr).unwrap_err();
    drop((first, second));
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_dir(&dir).unwrap();

    assert_eq!(err.code(), AddressInUse);
    // The message keeps the first 26 bytes of the path and marks a cut.
    let path = path.to_str().unwrap();
    let shown = match path.get(..26) {
        Some(prefix) if path.len() > 26 => format!("{prefix}…"),
        _ => path.to_string(),
    };
    assert_eq!(
        err.to_string(),
        format!(
            "bind unix:{shown}: address in use (EADDRINUSE, errno {})",
            errno::EADDRINUSE
        )
    );
}

#[test]
fn display_without_an_operation_or_address() {
    assert_eq!(
        Error::new(Unsupported).to_string(),
        "unsupported on this backend"
    );
    assert_eq!(Error::new(InvalidArgument).to_string(), "invalid argument");
    assert_eq!(
        Error::from_raw_os_error(errno::ECONNREFUSED).to_string(),
        format!(
            "connection refused (ECONNREFUSED, errno {})",
            errno::ECONNREFUSED
        )
    );
    // An operation without an address.
    assert_eq!(
        Error::from_raw_os_error(errno::EAGAIN)
            .during(Operation::Receive)
            .to_string(),
        format!(
            "receive: operation would block (EAGAIN, errno {})",
            errno::EAGAIN
        )
    );
    assert_eq!(
        Error::new(InvalidArgument)
            .during(Operation::SetOption(OptionName::HopLimit))
            .to_string(),
        "set IP_TTL/IPV6_UNICAST_HOPS: invalid argument"
    );
    // Debug names the code and shows the message.
    assert_eq!(
        format!("{:?}", Error::new(TimedOut).during(Operation::Wait)),
        "Error(TimedOut: wait: timed out)"
    );
}

#[test]
fn a_real_would_block_keeps_its_errno() {
    let (a, _b) = Socket::pair(Type::Stream, true).unwrap();
    let mut buf = [0u8; 8];
    let err = a.recv(&mut buf, witsock::RecvFlags::EMPTY).unwrap_err();
    assert!(err.is_would_block());
    assert_eq!(err.operation(), Some(Operation::Receive));
    assert_eq!(err.raw_os_error(), Some(errno::EAGAIN));
    let io = io::Error::from(err);
    assert_eq!(io.kind(), io::ErrorKind::WouldBlock);
    assert_eq!(io.raw_os_error(), Some(errno::EAGAIN));
}

/// The `io::ErrorKind` of every code, as `ErrorCode::io_kind` documents.
const IO_KINDS: &[(ErrorCode, io::ErrorKind)] = {
    use io::ErrorKind as K;
    &[
        (WouldBlock, K::WouldBlock),
        (InProgress, K::WouldBlock),
        (AlreadyInProgress, K::WouldBlock),
        (Interrupted, K::Interrupted),
        (AddressInUse, K::AddrInUse),
        (AddressNotAvailable, K::AddrNotAvailable),
        (ConnectionRefused, K::ConnectionRefused),
        (ConnectionReset, K::ConnectionReset),
        (ConnectionAborted, K::ConnectionAborted),
        (NotConnected, K::NotConnected),
        (AlreadyConnected, K::AlreadyExists),
        (TimedOut, K::TimedOut),
        (HostUnreachable, K::HostUnreachable),
        (NetworkUnreachable, K::NetworkUnreachable),
        (NetworkDown, K::NetworkDown),
        (AccessDenied, K::PermissionDenied),
        (InvalidArgument, K::InvalidInput),
        (InvalidState, K::InvalidInput),
        (MessageSize, K::InvalidInput),
        (NoBufferSpace, K::OutOfMemory),
        (TooManySockets, K::QuotaExceeded),
        (AddressFamilyNotSupported, K::Unsupported),
        (ProtocolNotSupported, K::Unsupported),
        (OptionNotSupported, K::Unsupported),
        (OperationNotSupported, K::Unsupported),
        (Shutdown, K::BrokenPipe),
        (NotASocket, K::InvalidInput),
        (NameUnresolvable, K::NotFound),
        (TemporaryResolverFailure, K::ResourceBusy),
        (PermanentResolverFailure, K::Other),
        (Unsupported, K::Unsupported),
        (Other, K::Other),
    ]
};

#[test]
fn io_error_kind_of_every_code() {
    for code in ErrorCode::ALL {
        let rows = IO_KINDS.iter().filter(|(c, _)| c == code).count();
        assert_eq!(rows, 1, "{code:?} has {rows} rows in IO_KINDS");
    }
    for &(code, kind) in IO_KINDS {
        assert_eq!(code.io_kind(), kind, "{code:?}.io_kind()");
        let io = io::Error::from(Error::new(code));
        assert_eq!(io.kind(), kind, "io::Error::from({code:?}).kind()");
        assert_eq!(io.raw_os_error(), None, "{code:?} has no OS error to keep");
    }
}

#[test]
fn io_error_keeps_the_errno_where_the_kinds_agree() {
    for &(raw, name, code) in ERRNO_TABLE {
        let io = io::Error::from(Error::from_raw_os_error(raw));
        assert_eq!(io.kind(), code.io_kind(), "{name}: kind");
        let std_kind = io::Error::from_raw_os_error(raw).kind();
        let expected_raw = (std_kind == code.io_kind()).then_some(raw);
        assert_eq!(
            io.raw_os_error(),
            expected_raw,
            "{name}: std says {std_kind:?}, witsock says {:?}",
            code.io_kind()
        );
    }
    // The everyday ones keep it.
    for raw in [errno::EAGAIN, errno::ECONNREFUSED, errno::EADDRINUSE] {
        let io = io::Error::from(Error::from_raw_os_error(raw));
        assert_eq!(io.raw_os_error(), Some(raw));
    }
}

#[test]
fn round_trip_from_io_error() {
    for &(raw, name, code) in ERRNO_TABLE {
        let back = Error::from(io::Error::from_raw_os_error(raw));
        assert_eq!(back.code(), code, "{name}");
        assert_eq!(back.raw_os_error(), Some(raw), "{name}");

        // witsock -> io -> witsock keeps the code whenever the errno
        // survived the first step.
        let io = io::Error::from(Error::from_raw_os_error(raw));
        if io.raw_os_error().is_some() {
            assert_eq!(Error::from(io).code(), code, "{name} round trip");
        }
    }
    use io::ErrorKind as K;
    for (kind, code) in [
        (K::WouldBlock, WouldBlock),
        (K::TimedOut, TimedOut),
        (K::InvalidInput, InvalidArgument),
        (K::Unsupported, Unsupported),
        (K::Interrupted, Interrupted),
        (K::NotConnected, NotConnected),
        (K::BrokenPipe, Shutdown),
        (K::Other, Other),
        (K::NotFound, Other),
    ] {
        let back = Error::from(io::Error::from(kind));
        assert_eq!(back.code(), code, "from io::ErrorKind::{kind:?}");
        assert_eq!(back.raw_os_error(), None);
    }
    // A kind-only error converts back to the same kind.
    for code in [WouldBlock, TimedOut, Interrupted, NotConnected, Shutdown] {
        let io = io::Error::from(Error::new(code));
        assert_eq!(Error::from(io).code(), code);
    }
}

#[test]
fn error_is_small_and_copy() {
    fn assert_copy<T: Copy + Send + Sync + 'static>() {}
    assert_copy::<Error>();
    let size = std::mem::size_of::<Error>();
    assert!(size <= 48, "witsock::Error is {size} bytes, more than 48");
}

#[test]
fn error_code_from_into_error() {
    let e: Error = ConnectionReset.into();
    assert_eq!(e.code(), ConnectionReset);
    assert_eq!(e.raw_os_error(), None);
    assert_eq!(e.operation(), None);
    let mapped = Error::with_raw(InvalidState, 22);
    assert_eq!(mapped.code(), InvalidState);
    assert_eq!(mapped.raw_os_error(), Some(22));
}

/// The message of an error: its `Display`, whose hint follows a `; `.
fn hint_of(err: &Error) -> Option<String> {
    let message = err.to_string();
    assert_eq!(
        err.hint().map(|h| format!("; {h}")),
        message.find("; ").map(|i| message[i..].to_string()),
        "{message}"
    );
    err.hint().map(str::to_string)
}

#[test]
fn access_denied_from_the_kernel_says_what_usually_causes_it() {
    let eacces = libc::EACCES;
    let eperm = libc::EPERM;
    let at = |s: &str| SockAddr::from(s.parse::<SocketAddr>().unwrap());

    let low = Error::from_raw_os_error(eacces)
        .during(Operation::Bind)
        .at(&at("127.0.0.1:80"));
    let hint = hint_of(&low).expect("a hint");
    assert!(hint.contains("privileged"), "{hint}");
    #[cfg(target_os = "linux")]
    assert!(hint.contains("CAP_NET_BIND_SERVICE"), "{hint}");
    #[cfg(target_vendor = "apple")]
    assert!(hint.contains("root"), "{hint}");
    // The hint is text only.
    assert_eq!(low.code(), AccessDenied);
    assert_eq!(low.raw_os_error(), Some(eacces));
    assert!(
        low.to_string().starts_with(&format!(
            "bind 127.0.0.1:80: access denied (EACCES, errno {eacces}); "
        )),
        "{low}"
    );

    let broadcast = Error::from_raw_os_error(eacces)
        .during(Operation::Send)
        .at(&at("192.168.1.255:67"));
    assert!(hint_of(&broadcast).unwrap().contains("broadcast option"));

    let dropped = Error::from_raw_os_error(eperm)
        .during(Operation::Connect)
        .at(&at("192.0.2.1:443"));
    let hint = hint_of(&dropped).unwrap();
    assert!(
        hint.contains("firewall") && hint.contains("SELinux"),
        "{hint}"
    );
    let connected_send = Error::from_raw_os_error(eperm).during(Operation::Send);
    assert!(hint_of(&connected_send).unwrap().contains("firewall"));
    let high = Error::from_raw_os_error(eacces)
        .during(Operation::Bind)
        .at(&at("127.0.0.1:65000"));
    assert!(hint_of(&high).unwrap().contains("security module"));

    let unix = Error::from_raw_os_error(eacces)
        .during(Operation::Connect)
        .at(&SockAddr::unix("/run/witsock/api.sock").unwrap());
    assert!(hint_of(&unix)
        .unwrap()
        .contains("permissions of the socket path"));

    // No hint without the kernel's EACCES or EPERM: a host policy's
    // refusal has no errno, EROFS is not a permission, other codes and
    // operations have none.
    let refusal = Error::new(AccessDenied)
        .during(Operation::Connect)
        .at(&at("192.0.2.1:443"));
    assert_eq!(hint_of(&refusal), None);
    assert_eq!(
        refusal.to_string(),
        "connect to 192.0.2.1:443: access denied"
    );
    let read_only = Error::from_raw_os_error(libc::EROFS)
        .during(Operation::Bind)
        .at(&SockAddr::unix("/ro/x.sock").unwrap());
    assert_eq!(hint_of(&read_only), None);
    let refused = Error::from_raw_os_error(errno::ECONNREFUSED)
        .during(Operation::Connect)
        .at(&at("127.0.0.1:80"));
    assert_eq!(hint_of(&refused), None);
    assert_eq!(hint_of(&Error::from_raw_os_error(eacces)), None);
    assert_eq!(
        hint_of(&Error::from_raw_os_error(eacces).during(Operation::Create)),
        None
    );
}

#[test]
fn a_real_send_to_the_limited_broadcast_address_needs_the_option() {
    // witsock refuses 255.255.255.255 without `broadcast` itself, before
    // the kernel would (no errno); its message says why all the same.
    let socket = Socket::new(Domain::Ipv4, Type::Datagram, None).unwrap();
    let to = SockAddr::from(SocketAddr::from(([255, 255, 255, 255], 9)));
    let err = socket
        .send_to(b"x", &to, witsock::SendFlags::EMPTY)
        .unwrap_err();
    assert_eq!(err.code(), AccessDenied);
    assert_eq!(err.raw_os_error(), None);
    assert!(hint_of(&err).unwrap().contains("broadcast option"), "{err}");
}

/// Linux routes 127.255.255.255 as loopback's broadcast address: a send
/// to it, or a connect, without SO_BROADCAST is the kernel's EACCES.
#[cfg(target_os = "linux")]
#[test]
fn a_real_send_to_loopback_s_broadcast_address_is_explained() {
    let to = SockAddr::from(SocketAddr::from(([127, 255, 255, 255], 9)));
    let socket = Socket::new(Domain::Ipv4, Type::Datagram, None).unwrap();
    let Err(err) = socket.send_to(b"x", &to, witsock::SendFlags::EMPTY) else {
        eprintln!("skipped: this kernel has no broadcast route for 127.255.255.255");
        return;
    };
    assert_eq!(err.code(), AccessDenied);
    assert_eq!(err.raw_os_error(), Some(libc::EACCES));
    assert!(
        err.to_string().starts_with(&format!(
            "send to 127.255.255.255:9: access denied (EACCES, errno {}); sending to a broadcast",
            libc::EACCES
        )),
        "{err}"
    );
    let connecting = Socket::new(Domain::Ipv4, Type::Datagram, None).unwrap();
    let err = connecting.connect(&to).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EACCES));
    assert!(hint_of(&err).unwrap().contains("broadcast option"), "{err}");
    // With the option the kernel takes it.
    let allowed = Socket::new(Domain::Ipv4, Type::Datagram, None).unwrap();
    allowed
        .set_option(witsock::SocketOption::Broadcast(true))
        .unwrap();
    allowed
        .send_to(b"x", &to, witsock::SendFlags::EMPTY)
        .unwrap();
}

/// Runs `f` on a thread of its own without the capabilities `caps` in its
/// effective set: Linux keeps capabilities per thread, so the rest of the
/// tests keep theirs. As root, that makes the kernel's permission checks
/// apply as they do to an unprivileged user.
#[cfg(target_os = "linux")]
fn without_capabilities<T: Send + 'static>(
    caps: &'static [u32],
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    std::thread::spawn(move || {
        let mut header = Header {
            version: VERSION_3,
            pid: 0,
        };
        let mut data = [Data::default(); 2];
        // SAFETY: capget(2) and capset(2) on this thread, with a version 3
        // header and the two data words it reads and writes.
        unsafe {
            assert_eq!(
                libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()),
                0,
                "capget"
            );
            for &cap in caps {
                data[(cap / 32) as usize].effective &= !(1 << (cap % 32));
            }
            assert_eq!(
                libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()),
                0,
                "capset"
            );
        }
        f()
    })
    .join()
    .unwrap()
}

#[cfg(target_os = "linux")]
const CAP_DAC_OVERRIDE: u32 = 1;
#[cfg(target_os = "linux")]
const CAP_DAC_READ_SEARCH: u32 = 2;
#[cfg(target_os = "linux")]
const CAP_NET_BIND_SERVICE: u32 = 10;

#[cfg(target_os = "linux")]
#[test]
fn a_real_bind_to_a_privileged_port_is_explained() {
    let start: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024);
    if start < 2 {
        eprintln!("skipped: ip_unprivileged_port_start is {start}, no port is privileged");
        return;
    }
    let result = without_capabilities(&[CAP_NET_BIND_SERVICE], || {
        let socket = Socket::new(Domain::Ipv4, Type::Stream, None).unwrap();
        socket.bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 1))))
    });
    let err = result.expect_err("a bind to port 1 without CAP_NET_BIND_SERVICE");
    assert_eq!(err.code(), AccessDenied);
    assert_eq!(err.raw_os_error(), Some(libc::EACCES));
    assert!(
        err.to_string().starts_with(&format!(
            "bind 127.0.0.1:1: access denied (EACCES, errno {}); ports below",
            libc::EACCES
        )),
        "{err}"
    );
    assert!(hint_of(&err).unwrap().contains("CAP_NET_BIND_SERVICE"));
}

#[cfg(target_os = "linux")]
#[test]
fn a_real_unix_bind_in_a_read_only_directory_is_explained() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("witsock-denied-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).unwrap();
    let path = dir.join("denied.sock");
    let addr = SockAddr::unix(&path).unwrap();
    let result = without_capabilities(&[CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH], move || {
        let socket = Socket::new(Domain::Unix, Type::Stream, None).unwrap();
        socket.bind(&addr)
    });
    std::fs::remove_dir(&dir).unwrap();
    let err = result.expect_err("a bind in a directory without write permission");
    assert_eq!(err.code(), AccessDenied);
    assert_eq!(err.raw_os_error(), Some(libc::EACCES));
    assert!(
        hint_of(&err)
            .unwrap()
            .contains("permissions of the socket path"),
        "{err}"
    );
}
