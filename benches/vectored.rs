//! Vectored sends over TCP loopback: 8, 64 and 1024 buffers of 64 bytes
//! in one call, witsock `send_vectored` (sendmsg(2)) beside std
//! `write_vectored` (writev(2)). As in `tcp.rs`, one thread sends and then
//! drains the far end with std; the 1 MiB socket buffers take a whole
//! message, so each send is one call that sends everything.

#[cfg(target_os = "linux")]
mod common;

#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOC: common::CountingAlloc = common::CountingAlloc;

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{IoSlice, Write};

    use criterion::{BenchmarkId, Criterion, Throughput};
    use witsock::{SendFlags, Socket};

    use crate::common;

    const BUFFER: usize = 64;
    const COUNTS: [usize; 3] = [8, 64, 1024];

    pub fn vectored_send(c: &mut Criterion) {
        let mut group = c.benchmark_group("vectored_send");
        let most = *COUNTS.iter().max().unwrap();
        let storage = vec![[0x3cu8; BUFFER]; most];
        let mut scratch = vec![0u8; most * BUFFER];
        for count in COUNTS {
            let total = count * BUFFER;
            group.throughput(Throughput::Bytes(total as u64));
            let slices: Vec<IoSlice<'_>> =
                storage[..count].iter().map(|b| IoSlice::new(b)).collect();

            let (client, mut server) = common::tcp_pair();
            let s = Socket::from(client);
            group.bench_with_input(BenchmarkId::new("witsock", count), &slices, |b, slices| {
                b.iter(|| {
                    let n = s.send_vectored(slices, SendFlags::EMPTY).unwrap();
                    assert_eq!(n, total);
                    common::drain(&mut server, &mut scratch, total);
                })
            });

            let (mut client, mut server) = common::tcp_pair();
            group.bench_with_input(BenchmarkId::new("std", count), &slices, |b, slices| {
                b.iter(|| {
                    let n = client.write_vectored(slices).unwrap();
                    assert_eq!(n, total);
                    common::drain(&mut server, &mut scratch, total);
                })
            });
        }
        group.finish();
    }
}

#[cfg(target_os = "linux")]
criterion::criterion_group! {
    name = benches;
    config = common::criterion();
    targets = linux::vectored_send
}

#[cfg(target_os = "linux")]
criterion::criterion_main!(benches);

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the vectored benchmarks run on Linux only");
}
