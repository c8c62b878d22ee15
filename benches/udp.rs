//! 64-byte UDP datagrams over loopback, per second: each iteration sends a
//! burst of 64 datagrams to a bound socket and receives them back, on one
//! thread (a burst fits the default receive buffer, so nothing is
//! dropped).
//!
//! - `witsock`: `send_to` / `recv_from`, one syscall per datagram.
//! - `witsock-batch`: `send_batch` / `recv_batch`, sendmmsg(2) and
//!   recvmmsg(2) for the whole burst; on send, the 64 equal datagrams go
//!   as one UDP_SEGMENT message (generic segmentation offload).
//! - `std`: `UdpSocket::send_to` / `recv_from`.
//! - `raw-gso-gro`: not a peer but what the kernel can do beyond batching:
//!   raw libc with UDP generic segmentation offload, one 4 KiB send(2)
//!   that the kernel cuts into the 64 datagrams (UDP_SEGMENT), received
//!   coalesced by one recvmsg(2) with the segment size in a control
//!   message (UDP_GRO). witsock segments on send but receives one datagram
//!   per slot (no GRO); this row measures what GRO would add.

#[cfg(target_os = "linux")]
mod common;

#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOC: common::CountingAlloc = common::CountingAlloc;

#[cfg(target_os = "linux")]
mod linux {
    use std::hint::black_box;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    use criterion::{Criterion, Throughput};
    use witsock::{
        Domain, IncomingDatagram, OutgoingDatagram, RecvFlags, SendFlags, SockAddr, Socket, Type,
    };

    use crate::common;

    const BURST: usize = 64;
    const SIZE: usize = 64;

    /// A blocking witsock UDP socket on loopback and its address.
    fn witsock_udp() -> (Socket, SockAddr) {
        let s = Socket::new(Domain::Ipv4, Type::Datagram, None).unwrap();
        s.bind(&common::loopback().into()).unwrap();
        let addr = s.local_addr().unwrap();
        (s, addr)
    }

    pub fn datagrams(c: &mut Criterion) {
        let mut group = c.benchmark_group("udp_64b");
        group.throughput(Throughput::Elements(BURST as u64));
        let payload = [0x42u8; SIZE];

        let (tx, _) = witsock_udp();
        let (rx, to) = witsock_udp();
        let mut buf = [0u8; 2048];
        group.bench_function("witsock", |b| {
            b.iter(|| {
                for _ in 0..BURST {
                    tx.send_to(&payload, &to, SendFlags::EMPTY).unwrap();
                }
                for _ in 0..BURST {
                    let meta = rx.recv_from(&mut buf, RecvFlags::EMPTY).unwrap();
                    black_box(meta);
                }
            })
        });

        let (tx, _) = witsock_udp();
        let (rx, to) = witsock_udp();
        let out = [OutgoingDatagram::new(&payload, &to); BURST];
        let mut storage = vec![[0u8; 2048]; BURST];
        let mut slots: Vec<IncomingDatagram<'_>> = storage
            .iter_mut()
            .map(|b| IncomingDatagram::new(b))
            .collect();
        group.bench_function("witsock-batch", |b| {
            b.iter(|| {
                let mut sent = 0;
                while sent < BURST {
                    sent += tx.send_batch(&out[sent..]).unwrap();
                }
                let mut received = 0;
                while received < BURST {
                    received += rx.recv_batch(&mut slots[received..]).unwrap();
                }
                black_box(&slots);
            })
        });

        let tx = UdpSocket::bind(common::loopback()).unwrap();
        let rx = UdpSocket::bind(common::loopback()).unwrap();
        let to = rx.local_addr().unwrap();
        group.bench_function("std", |b| {
            b.iter(|| {
                for _ in 0..BURST {
                    tx.send_to(&payload, to).unwrap();
                }
                for _ in 0..BURST {
                    black_box(rx.recv_from(&mut buf).unwrap());
                }
            })
        });

        let tx = UdpSocket::bind(common::loopback()).unwrap();
        let rx = UdpSocket::bind(common::loopback()).unwrap();
        tx.connect(rx.local_addr().unwrap()).unwrap();
        common::set_int_option(
            tx.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_SEGMENT,
            SIZE as libc::c_int,
        );
        common::set_int_option(rx.as_raw_fd(), libc::SOL_UDP, libc::UDP_GRO, 1);
        let superpacket = [0x42u8; SIZE * BURST];
        let mut big = vec![0u8; 64 * 1024];
        let mut control = [0u64; 8];
        group.bench_function("raw-gso-gro", |b| {
            b.iter(|| {
                assert_eq!(tx.send(&superpacket).unwrap(), superpacket.len());
                let mut datagrams = 0;
                while datagrams < BURST {
                    let (len, segment) = common::recv_gro(rx.as_raw_fd(), &mut big, &mut control);
                    datagrams += len.div_ceil(segment.max(1));
                }
                black_box(&big);
            })
        });

        group.finish();
    }
}

#[cfg(target_os = "linux")]
criterion::criterion_group! {
    name = benches;
    config = common::criterion();
    targets = linux::datagrams
}

#[cfg(target_os = "linux")]
criterion::criterion_main!(benches);

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the UDP benchmarks run on Linux only");
}
