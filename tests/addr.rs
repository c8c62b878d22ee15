//! `SockAddr`: conversions with `std::net`, equality and hashing, Display
//! for every kind, Unix path limits, abstract and unnamed addresses, and
//! the addresses the kernel reports for real Unix sockets.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::path::{Path, PathBuf};

use witsock::{Domain, ErrorCode, Operation, SockAddr, Socket, Type};

/// The longest Unix path that fits `sun_path` with its NUL.
#[cfg(target_os = "linux")]
const MAX_UNIX_PATH: usize = 107;
#[cfg(target_vendor = "apple")]
const MAX_UNIX_PATH: usize = 103;

fn v4(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port))
}

fn v6(ip: Ipv6Addr, port: u16, flow_info: u32, scope_id: u32) -> SocketAddr {
    SocketAddr::V6(SocketAddrV6::new(ip, port, flow_info, scope_id))
}

/// A directory of its own under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("witsock-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn ipv4_round_trip() {
    let std_addr = v4([192, 0, 2, 7], 8080);
    let addr = SockAddr::from(std_addr);
    assert_eq!(addr.domain(), Some(Domain::Ipv4));
    assert_eq!(addr.as_socket(), Some(std_addr));
    assert_eq!(SocketAddr::try_from(addr).unwrap(), std_addr);
    assert_eq!(addr.as_unix_path(), None);
    assert!(!addr.is_unnamed());
    // From the V4 type directly, too.
    let SocketAddr::V4(inner) = std_addr else {
        unreachable!()
    };
    assert_eq!(SockAddr::from(inner), addr);
}

#[test]
fn ipv6_round_trip_keeps_flow_info_and_scope_id() {
    let ip: Ipv6Addr = "fe80::1:2:3:4".parse().unwrap();
    let std_addr = v6(ip, 443, 0x000a_bcde, 7);
    let addr = SockAddr::from(std_addr);
    assert_eq!(addr.domain(), Some(Domain::Ipv6));
    let back = SocketAddr::try_from(addr).unwrap();
    assert_eq!(back, std_addr);
    let SocketAddr::V6(back) = back else {
        panic!("{back} is not IPv6")
    };
    assert_eq!(back.flowinfo(), 0x000a_bcde);
    assert_eq!(back.scope_id(), 7);
    assert_eq!(back.port(), 443);
    assert_eq!(*back.ip(), ip);
    let SocketAddr::V6(inner) = std_addr else {
        unreachable!()
    };
    assert_eq!(SockAddr::from(inner), addr);
}

#[test]
fn equality_and_hash() {
    let state = RandomState::new();
    let base = v6("2001:db8::1".parse().unwrap(), 80, 0, 0);
    let same = SockAddr::from(base);
    assert_eq!(SockAddr::from(base), same);
    assert_eq!(
        state.hash_one(SockAddr::from(base)),
        state.hash_one(same),
        "equal addresses hash alike"
    );

    let different = [
        SockAddr::from(v6("2001:db8::1".parse().unwrap(), 81, 0, 0)),
        SockAddr::from(v6("2001:db8::2".parse().unwrap(), 80, 0, 0)),
        SockAddr::from(v6("2001:db8::1".parse().unwrap(), 80, 1, 0)),
        SockAddr::from(v6("2001:db8::1".parse().unwrap(), 80, 0, 1)),
        SockAddr::from(v4([127, 0, 0, 1], 80)),
        SockAddr::from(v6(Ipv4Addr::LOCALHOST.to_ipv6_mapped(), 80, 0, 0)),
        SockAddr::unix("/run/a.sock").unwrap(),
        SockAddr::unix("/run/b.sock").unwrap(),
    ];
    let mut set = HashSet::new();
    assert!(set.insert(same));
    for (i, a) in different.iter().enumerate() {
        assert_ne!(*a, same, "{a} must differ from {same}");
        for b in &different[i + 1..] {
            assert_ne!(a, b, "{a} must differ from {b}");
        }
        assert!(set.insert(*a), "{a} collided in a HashSet");
    }
    assert_eq!(set.len(), different.len() + 1);
    assert!(!set.insert(SockAddr::from(base)));
    // IPv4 and IPv4-mapped IPv6 are different families.
    assert_ne!(
        SockAddr::from(v4([127, 0, 0, 1], 80)),
        SockAddr::from(v6(Ipv4Addr::LOCALHOST.to_ipv6_mapped(), 80, 0, 0))
    );
    // Unix addresses compare by path.
    assert_eq!(
        SockAddr::unix("/run/a.sock").unwrap(),
        SockAddr::unix("/run/a.sock").unwrap()
    );
    assert_eq!(
        state.hash_one(SockAddr::unix("/run/a.sock").unwrap()),
        state.hash_one(SockAddr::unix("/run/a.sock").unwrap())
    );
}

#[test]
fn display_of_every_kind() {
    assert_eq!(
        SockAddr::from(v4([127, 0, 0, 1], 80)).to_string(),
        "127.0.0.1:80"
    );
    assert_eq!(
        SockAddr::from(v6(Ipv6Addr::LOCALHOST, 80, 0, 0)).to_string(),
        "[::1]:80"
    );
    assert_eq!(
        SockAddr::from(v6("fe80::1".parse().unwrap(), 80, 0, 3)).to_string(),
        "[fe80::1%3]:80"
    );
    assert_eq!(
        SockAddr::unix("/run/x.sock").unwrap().to_string(),
        "unix:/run/x.sock"
    );
    let (a, _b) = Socket::pair(Type::Stream, false).unwrap();
    assert_eq!(a.local_addr().unwrap().to_string(), "unix:(unnamed)");
    #[cfg(target_os = "linux")]
    assert_eq!(
        SockAddr::unix_abstract(b"witsock-name")
            .unwrap()
            .to_string(),
        "unix:@witsock-name"
    );
    // Debug wraps Display.
    assert_eq!(
        format!("{:?}", SockAddr::from(v4([10, 0, 0, 1], 1))),
        "SockAddr(10.0.0.1:1)"
    );
}

#[test]
fn unix_path_length_limit() {
    let longest = "p".repeat(MAX_UNIX_PATH);
    let addr = SockAddr::unix(&longest).unwrap();
    assert_eq!(addr.as_unix_bytes(), Some(longest.as_bytes()));
    assert_eq!(addr.as_unix_path(), Some(Path::new(&longest)));
    assert_eq!(addr.domain(), Some(Domain::Unix));

    let too_long = "p".repeat(MAX_UNIX_PATH + 1);
    let err = SockAddr::unix(&too_long).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert_eq!(err.operation(), Some(Operation::Address));
}

#[test]
fn empty_unix_path_or_nul_is_invalid() {
    for bad in ["", "/run/a\0b.sock", "\0"] {
        let err = SockAddr::unix(bad).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "path {bad:?}");
        assert_eq!(err.operation(), Some(Operation::Address), "path {bad:?}");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn abstract_names_on_linux() {
    let addr = SockAddr::unix_abstract(b"witsock\0inner").unwrap();
    assert_eq!(addr.as_abstract_name(), Some(&b"witsock\0inner"[..]));
    assert_eq!(addr.as_unix_path(), None);
    assert!(!addr.is_unnamed());
    assert_eq!(addr.domain(), Some(Domain::Unix));
    assert_ne!(addr, SockAddr::unix("witsock").unwrap());
    assert_ne!(addr, SockAddr::unix_abstract(b"witsock").unwrap());

    // The name plus its leading NUL must fit sun_path.
    let longest = vec![b'n'; 107];
    assert_eq!(
        SockAddr::unix_abstract(&longest)
            .unwrap()
            .as_abstract_name(),
        Some(&longest[..])
    );
    let err = SockAddr::unix_abstract(&[b'n'; 108]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    // An empty name would read back as an unnamed address.
    let err = SockAddr::unix_abstract(b"").unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);

    // A real socket bound to one reports it back.
    let name = format!("witsock-addr-test-{}", std::process::id());
    let addr = SockAddr::unix_abstract(name.as_bytes()).unwrap();
    let server = Socket::new(Domain::Unix, Type::Stream, None).unwrap();
    server.bind(&addr).unwrap();
    server.listen(1).unwrap();
    let local = server.local_addr().unwrap();
    assert_eq!(local, addr);
    assert_eq!(local.as_abstract_name(), Some(name.as_bytes()));
    assert_eq!(local.to_string(), format!("unix:@{name}"));
    let client = Socket::new(Domain::Unix, Type::Stream, None).unwrap();
    client.connect(&addr).unwrap();
    assert_eq!(client.peer_addr().unwrap(), addr);
}

#[cfg(not(target_os = "linux"))]
#[test]
fn abstract_names_are_unsupported_elsewhere() {
    let err = SockAddr::unix_abstract(b"witsock").unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unsupported);
}

#[test]
fn unnamed_address_of_a_socket_pair() {
    let (a, b) = Socket::pair(Type::Stream, false).unwrap();
    for addr in [a.local_addr().unwrap(), b.peer_addr().unwrap()] {
        assert!(addr.is_unnamed(), "{addr:?}");
        assert_eq!(addr.domain(), Some(Domain::Unix));
        assert_eq!(addr.as_socket(), None);
        assert_eq!(addr.as_unix_path(), None);
        assert_eq!(addr.as_abstract_name(), None);
        assert_eq!(addr.to_string(), "unix:(unnamed)");
    }
    assert_eq!(a.local_addr().unwrap(), b.local_addr().unwrap());
}

#[test]
fn unix_address_is_not_a_socket_addr() {
    let (a, _b) = Socket::pair(Type::Datagram, false).unwrap();
    for addr in [
        SockAddr::unix("/run/x.sock").unwrap(),
        a.local_addr().unwrap(),
    ] {
        assert_eq!(addr.as_socket(), None);
        let err = SocketAddr::try_from(addr).unwrap_err();
        assert_eq!(err.code(), ErrorCode::AddressFamilyNotSupported, "{addr}");
    }
}

#[test]
fn real_unix_socket_addresses_match() {
    let dir = TempDir::new("addr");
    let path = dir.path().join("server.sock");
    // The temp dir may be too deep for sun_path (macOS); skip nothing
    // silently: fail with the reason.
    let addr = SockAddr::unix(&path)
        .unwrap_or_else(|e| panic!("{} does not fit a Unix address: {e}", path.display()));
    assert_eq!(addr.as_unix_path(), Some(path.as_path()));

    let server = Socket::new(Domain::Unix, Type::Stream, None).unwrap();
    server.bind(&addr).unwrap();
    server.listen(4).unwrap();
    let local = server.local_addr().unwrap();
    assert_eq!(local, addr);
    assert_eq!(local.as_unix_path(), Some(path.as_path()));
    assert_eq!(local.to_string(), format!("unix:{}", path.display()));

    let client = Socket::new(Domain::Unix, Type::Stream, None).unwrap();
    client.connect(&addr).unwrap();
    assert_eq!(client.peer_addr().unwrap(), addr);
    // The client never bound: its own address is unnamed, and so is the
    // peer address the server sees.
    assert!(client.local_addr().unwrap().is_unnamed());
    let (accepted, peer) = server.accept().unwrap();
    assert!(peer.is_unnamed(), "{peer:?}");
    assert!(accepted.peer_addr().unwrap().is_unnamed());
    assert_eq!(accepted.local_addr().unwrap(), addr);

    // A client bound to a path of its own shows it on both sides.
    let client_path = dir.path().join("client.sock");
    let client_addr = SockAddr::unix(&client_path).unwrap();
    let named = Socket::new(Domain::Unix, Type::Stream, None).unwrap();
    named.bind(&client_addr).unwrap();
    named.connect(&addr).unwrap();
    let (accepted, peer) = server.accept().unwrap();
    assert_eq!(peer, client_addr);
    assert_eq!(accepted.peer_addr().unwrap(), client_addr);
    assert_eq!(named.local_addr().unwrap(), client_addr);
}
