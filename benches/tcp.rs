//! TCP over loopback, witsock and its peers side by side, each on one
//! thread: the near end writes, then the same thread reads the data back
//! at the far end with std. Both ends have 1 MiB socket buffers, so a
//! write never waits for the reader. One thread keeps scheduler wake-ups
//! (which dominate cross-thread loopback numbers on a small machine) out of
//! the comparison; what differs between contestants is the near end only.
//!
//! - `tcp_throughput_64k`: one 64 KiB write, then the far end drains it
//!   (bytes per second). Peers: std `write_all`, mio (non-blocking, waiting
//!   on its `Poll` if the write would block).
//! - `tcp_round_trip_64b`: 64 bytes out, echoed back by the far end, read
//!   by the near end (time per round trip). Peers: std, mio.

#[cfg(target_os = "linux")]
mod common;

#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOC: common::CountingAlloc = common::CountingAlloc;

#[cfg(target_os = "linux")]
mod linux {
    use std::hint::black_box;
    use std::io::{self, Read, Write};
    use std::net::TcpStream;

    use criterion::{Criterion, Throughput};
    use mio::{Events, Interest, Poll, Token};
    use witsock::{RecvFlags, SendFlags, Socket};

    use crate::common;

    const CHUNK: usize = 64 * 1024;
    const PING: usize = 64;

    /// A mio stream with its own poll.
    struct MioConn {
        stream: mio::net::TcpStream,
        poll: Poll,
        events: Events,
    }

    impl MioConn {
        fn new(std: TcpStream) -> MioConn {
            std.set_nonblocking(true).unwrap();
            let mut stream = mio::net::TcpStream::from_std(std);
            let poll = Poll::new().unwrap();
            poll.registry()
                .register(
                    &mut stream,
                    Token(0),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .unwrap();
            MioConn {
                stream,
                poll,
                events: Events::with_capacity(4),
            }
        }

        fn wait(&mut self) {
            self.poll.poll(&mut self.events, None).unwrap();
        }

        fn write_all(&mut self, mut buf: &[u8]) {
            while !buf.is_empty() {
                match self.stream.write(buf) {
                    Ok(n) => buf = &buf[n..],
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(),
                    Err(e) => panic!("mio write: {e}"),
                }
            }
        }

        fn read_exact(&mut self, mut buf: &mut [u8]) {
            while !buf.is_empty() {
                match self.stream.read(buf) {
                    Ok(0) => panic!("mio read: end of stream"),
                    Ok(n) => buf = &mut buf[n..],
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(),
                    Err(e) => panic!("mio read: {e}"),
                }
            }
        }
    }

    fn witsock_send_all(s: &Socket, mut buf: &[u8]) {
        while !buf.is_empty() {
            let n = s.send(buf, SendFlags::EMPTY).unwrap();
            buf = &buf[n..];
        }
    }

    fn witsock_recv_exact(s: &Socket, mut buf: &mut [u8]) {
        while !buf.is_empty() {
            let n = s.recv(buf, RecvFlags::EMPTY).unwrap();
            assert!(n > 0, "end of stream");
            buf = &mut buf[n..];
        }
    }

    pub fn throughput(c: &mut Criterion) {
        let mut group = c.benchmark_group("tcp_throughput_64k");
        group.throughput(Throughput::Bytes(CHUNK as u64));
        let data = vec![0x5au8; CHUNK];
        let mut scratch = vec![0u8; CHUNK];

        let (client, mut server) = common::tcp_pair();
        let s = Socket::from(client);
        group.bench_function("witsock", |b| {
            b.iter(|| {
                witsock_send_all(&s, &data);
                common::drain(&mut server, &mut scratch, CHUNK);
            })
        });

        let (mut client, mut server) = common::tcp_pair();
        group.bench_function("std", |b| {
            b.iter(|| {
                client.write_all(&data).unwrap();
                common::drain(&mut server, &mut scratch, CHUNK);
            })
        });

        let (client, mut server) = common::tcp_pair();
        let mut conn = MioConn::new(client);
        group.bench_function("mio", |b| {
            b.iter(|| {
                conn.write_all(&data);
                common::drain(&mut server, &mut scratch, CHUNK);
            })
        });

        group.finish();
    }

    /// The far end of a round trip: reads the ping and sends it back.
    fn echo(server: &mut TcpStream, buf: &mut [u8; PING]) {
        server.read_exact(buf).unwrap();
        server.write_all(buf).unwrap();
    }

    pub fn round_trip(c: &mut Criterion) {
        let mut group = c.benchmark_group("tcp_round_trip_64b");
        let ping = [0xa5u8; PING];
        let mut pong = [0u8; PING];
        let mut relay = [0u8; PING];

        let (client, mut server) = common::tcp_pair();
        let s = Socket::from(client);
        group.bench_function("witsock", |b| {
            b.iter(|| {
                witsock_send_all(&s, &ping);
                echo(&mut server, &mut relay);
                witsock_recv_exact(&s, &mut pong);
                black_box(&pong);
            })
        });

        let (mut client, mut server) = common::tcp_pair();
        group.bench_function("std", |b| {
            b.iter(|| {
                client.write_all(&ping).unwrap();
                echo(&mut server, &mut relay);
                client.read_exact(&mut pong).unwrap();
                black_box(&pong);
            })
        });

        let (client, mut server) = common::tcp_pair();
        let mut conn = MioConn::new(client);
        group.bench_function("mio", |b| {
            b.iter(|| {
                conn.write_all(&ping);
                echo(&mut server, &mut relay);
                conn.read_exact(&mut pong);
                black_box(&pong);
            })
        });

        group.finish();
    }
}

#[cfg(target_os = "linux")]
criterion::criterion_group! {
    name = benches;
    config = common::criterion();
    targets = linux::throughput, linux::round_trip
}

#[cfg(target_os = "linux")]
criterion::criterion_main!(benches);

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the TCP benchmarks run on Linux only");
}
