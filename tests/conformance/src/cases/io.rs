//! Sending and receiving beyond the basics: vectored I/O, peek,
//! out-of-band data, deadlines, blocking mode, and polling several
//! sockets.

use std::io::{IoSlice, IoSliceMut};
use std::time::Instant;

use witsock::{poll, Domain, ErrorCode, Interest, PollEntry, RecvFlags, SendFlags, Socket, Type};

use crate::support::{
    accept, expect_error, prefix, recv_datagram, recv_exact, send_all, tcp_listener, tcp_pair,
    udp_socket, wait_for, WAIT,
};
use crate::{ensure, CaseError, CaseResult};

/// Buffers of varied sizes (1 to 21 bytes) and contents.
fn varied_buffers(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| (0..(i % 7 + 1) * 3).map(|j| (i * 31 + j) as u8).collect())
        .collect()
}

/// Sends `count` buffers in one vectored send and receives them with
/// vectored receives of `count` buffers each.
fn vectored_round_trip(count: usize) -> CaseResult {
    let (client, server) = tcp_pair(Domain::Ipv4)?;
    let parts = varied_buffers(count);
    let expected: Vec<u8> = parts.concat();
    let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
    let sent = client.send_vectored(&slices, SendFlags::EMPTY)?;
    ensure!(
        sent == expected.len(),
        "a vectored send of {count} buffers sent {sent} of {} bytes",
        expected.len()
    );

    let mut received = Vec::with_capacity(expected.len());
    let mut rounds = 0usize;
    while received.len() < expected.len() {
        rounds += 1;
        ensure!(rounds <= 10_000, "vectored receive made no progress");
        let mut bufs: Vec<Vec<u8>> = (0..count).map(|i| vec![0u8; i % 5 + 1]).collect();
        let capacity: usize = bufs.iter().map(Vec::len).sum();
        let result = {
            let mut slices: Vec<IoSliceMut<'_>> =
                bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
            server.recv_vectored(&mut slices, RecvFlags::EMPTY)
        };
        match result {
            Ok(0) => return Err(CaseError::Fail("unexpected end-of-stream".into())),
            Ok(n) => {
                ensure!(n <= capacity, "received {n} bytes into {capacity}");
                // The buffers fill in order: the first n bytes of their
                // concatenation are the data.
                let flat = bufs.concat();
                received.extend_from_slice(prefix(&flat, n)?);
            }
            Err(e) if e.is_would_block() => wait_for(&server, Interest::READABLE, "data")?,
            Err(e) => return Err(e.into()),
        }
    }
    ensure!(
        received == expected,
        "vectored bytes differ: sent {expected:?}, received {received:?}"
    );
    Ok(())
}

pub(crate) fn tcp_vectored_8_buffers() -> CaseResult {
    vectored_round_trip(8)
}

pub(crate) fn tcp_vectored_64_buffers() -> CaseResult {
    vectored_round_trip(64)
}

pub(crate) fn tcp_vectored_1024_buffers() -> CaseResult {
    vectored_round_trip(1024)
}

pub(crate) fn vectored_more_than_1024_buffers_is_invalid_argument() -> CaseResult {
    let (client, server) = tcp_pair(Domain::Ipv4)?;
    let byte = [7u8];
    let slices = vec![IoSlice::new(&byte); 1025];
    expect_error(
        client.send_vectored(&slices, SendFlags::EMPTY),
        ErrorCode::InvalidArgument,
        "a vectored send of 1025 buffers",
    )?;
    let mut storage = vec![[0u8; 1]; 1025];
    let mut slices: Vec<IoSliceMut<'_>> = storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
    expect_error(
        server.recv_vectored(&mut slices, RecvFlags::EMPTY),
        ErrorCode::InvalidArgument,
        "a vectored receive into 1025 buffers",
    )?;
    // The rejected send sent nothing.
    let mut buf = [0u8; 8];
    expect_error(
        server.recv(&mut buf, RecvFlags::EMPTY),
        ErrorCode::WouldBlock,
        "receive after the rejected vectored send",
    )
}

pub(crate) fn peek_leaves_data_for_the_next_receive() -> CaseResult {
    // TCP: a peek, then the same bytes again.
    let (client, server) = tcp_pair(Domain::Ipv4)?;
    send_all(&client, b"peekaboo")?;
    wait_for(&server, Interest::READABLE, "data")?;
    let mut peeked = [0u8; 16];
    let n = server.recv(&mut peeked, RecvFlags::PEEK)?;
    ensure!(n > 0, "peek returned end-of-stream");
    let peeked = prefix(&peeked, n)?;
    let mut again = [0u8; 16];
    let m = server.recv(&mut again, RecvFlags::PEEK)?;
    ensure!(
        prefix(&again, m)?.starts_with(peeked),
        "a second peek saw {:?} after {peeked:?}",
        prefix(&again, m)?
    );
    let got = recv_exact(&server, 8)?;
    ensure!(
        got.starts_with(peeked) && got == b"peekaboo",
        "peeked {peeked:?}, then received {got:?}"
    );

    // UDP: a peeked datagram stays queued, sender and all.
    let (a, a_addr) = udp_socket(Domain::Ipv4)?;
    let (b, b_addr) = udp_socket(Domain::Ipv4)?;
    a.send_to(b"datagram", &b_addr, SendFlags::EMPTY)?;
    wait_for(&b, Interest::READABLE, "a datagram")?;
    let mut buf = [0u8; 16];
    let meta = b.recv_from(&mut buf, RecvFlags::PEEK)?;
    ensure!(
        prefix(&buf, meta.len)? == b"datagram" && meta.addr == a_addr,
        "peeked {:?} from {}",
        prefix(&buf, meta.len)?,
        meta.addr
    );
    let (data, meta) = recv_datagram(&b, 16)?;
    ensure!(
        data == b"datagram" && meta.addr == a_addr,
        "after the peek received {data:?} from {}",
        meta.addr
    );
    expect_error(
        b.recv(&mut buf, RecvFlags::EMPTY),
        ErrorCode::WouldBlock,
        "receive after the peeked datagram was taken",
    )
}

pub(crate) fn out_of_band_byte_arrives_apart_from_the_stream() -> CaseResult {
    let (client, server) = tcp_pair(Domain::Ipv4)?;
    send_all(&client, b"ab")?;
    let n = client.send(b"!", SendFlags::OUT_OF_BAND)?;
    ensure!(n == 1, "out-of-band send sent {n} bytes");
    send_all(&client, b"cd")?;

    // A receive stops at the urgent mark: the normal bytes before it.
    let before = recv_exact(&server, 2)?;
    ensure!(before == b"ab", "bytes before the mark: {before:?}");
    // "cd" was sent after the urgent byte, so once it is readable the
    // urgent byte has arrived too.
    wait_for(&server, Interest::READABLE, "the data after the mark")?;
    let mut urgent = [0u8; 4];
    let n = server.recv(&mut urgent, RecvFlags::OUT_OF_BAND)?;
    ensure!(
        prefix(&urgent, n)? == b"!",
        "out-of-band receive gave {:?}",
        prefix(&urgent, n)?
    );
    // The urgent byte is not in the stream.
    let after = recv_exact(&server, 2)?;
    ensure!(after == b"cd", "bytes after the mark: {after:?}");

    // UDP has no out-of-band data.
    let (udp, _) = udp_socket(Domain::Ipv4)?;
    let (_, target) = udp_socket(Domain::Ipv4)?;
    expect_error(
        udp.send_to(b"!", &target, SendFlags::OUT_OF_BAND),
        ErrorCode::OperationNotSupported,
        "an out-of-band send on UDP",
    )
}

pub(crate) fn read_deadline_turns_would_block_into_timed_out() -> CaseResult {
    let (client, server) = tcp_pair(Domain::Ipv4)?;
    let mut buf = [0u8; 8];
    expect_error(
        server.recv(&mut buf, RecvFlags::EMPTY),
        ErrorCode::WouldBlock,
        "receive without a deadline",
    )?;

    server.set_read_deadline(Some(Instant::now()));
    expect_error(
        server.recv(&mut buf, RecvFlags::EMPTY),
        ErrorCode::TimedOut,
        "receive past the read deadline",
    )?;
    let soon = Instant::now().checked_add(core::time::Duration::from_millis(50));
    server.set_read_deadline(soon);
    expect_error(
        server.recv(&mut buf, RecvFlags::EMPTY),
        ErrorCode::TimedOut,
        "receive with a read deadline 50 ms ahead and no data",
    )?;

    // Data that arrives in time is returned, not a timeout.
    server.set_read_deadline(Instant::now().checked_add(WAIT));
    send_all(&client, b"x")?;
    let n = server.recv(&mut buf, RecvFlags::EMPTY)?;
    ensure!(prefix(&buf, n)? == b"x", "received {:?}", prefix(&buf, n)?);

    // Cleared, the deadline no longer applies.
    server.set_read_deadline(None);
    ensure!(
        server.read_deadline().is_none(),
        "the deadline was not cleared"
    );
    expect_error(
        server.recv(&mut buf, RecvFlags::EMPTY),
        ErrorCode::WouldBlock,
        "receive after clearing the deadline",
    )?;

    // The read deadline bounds accept too.
    let (listener, _) = tcp_listener(Domain::Ipv4)?;
    listener.set_read_deadline(Some(Instant::now()));
    expect_error(
        listener.accept(),
        ErrorCode::TimedOut,
        "accept past the read deadline",
    )
}

pub(crate) fn write_deadline_turns_would_block_into_timed_out() -> CaseResult {
    let (client, _server) = tcp_pair(Domain::Ipv4)?;
    let chunk = vec![0x5au8; 64 * 1024];
    for _ in 0..8 {
        // Fill the connection until a send would block.
        let mut sends = 0usize;
        loop {
            sends += 1;
            ensure!(sends <= 100_000, "the connection never filled");
            match client.send(&chunk, SendFlags::EMPTY) {
                Ok(_) => {}
                Err(e) if e.is_would_block() => break,
                Err(e) => return Err(e.into()),
            }
        }
        client.set_write_deadline(Some(Instant::now()));
        let result = client.send(&chunk, SendFlags::EMPTY);
        client.set_write_deadline(None);
        match result {
            Err(e) if e.code() == ErrorCode::TimedOut => {
                return expect_error(
                    client.send(&chunk, SendFlags::EMPTY),
                    ErrorCode::WouldBlock,
                    "send after clearing the write deadline",
                );
            }
            // Room appeared between the two sends: fill again.
            Ok(_) => continue,
            other => {
                return expect_error(other, ErrorCode::TimedOut, "send past the write deadline")
            }
        }
    }
    Err(CaseError::Fail(
        "the connection kept finding room: no full buffer to test".into(),
    ))
}

pub(crate) fn blocking_mode_waits_and_switches_back() -> CaseResult {
    // A blocking socket connects at once.
    let (listener, addr) = tcp_listener(Domain::Ipv4)?;
    let client = Socket::new(Domain::Ipv4, Type::Stream, None)?;
    ensure!(
        client.start_connect(&addr)?,
        "start-connect on a blocking socket did not complete at once"
    );
    let (server, _) = accept(&listener)?;

    // A blocking receive waits for the data instead of would-block.
    server.set_nonblocking(false)?;
    client.send(b"blocking", SendFlags::EMPTY)?;
    let mut buf = [0u8; 8];
    let mut got = Vec::new();
    while got.len() < 8 {
        let n = server.recv(&mut buf, RecvFlags::EMPTY)?;
        ensure!(n > 0, "end-of-stream from a blocking receive");
        got.extend_from_slice(prefix(&buf, n)?);
    }
    ensure!(got == b"blocking", "received {got:?}");

    // And back: non-blocking again.
    server.set_nonblocking(true)?;
    expect_error(
        server.recv(&mut buf, RecvFlags::EMPTY),
        ErrorCode::WouldBlock,
        "receive after switching back to non-blocking",
    )?;
    client.set_nonblocking(true)?;
    expect_error(
        client.recv(&mut buf, RecvFlags::EMPTY),
        ErrorCode::WouldBlock,
        "receive on a client switched to non-blocking",
    )
}

pub(crate) fn poll_reports_only_the_ready_socket() -> CaseResult {
    let pairs = [
        tcp_pair(Domain::Ipv4)?,
        tcp_pair(Domain::Ipv4)?,
        tcp_pair(Domain::Ipv6)?,
    ];
    let (quiet, _) = udp_socket(Domain::Ipv4)?;

    // Nothing ready: a short poll times out with every entry empty.
    let mut entries: Vec<PollEntry<'_>> = pairs
        .iter()
        .map(|(_, server)| PollEntry::new(server, Interest::READABLE))
        .chain(core::iter::once(PollEntry::new(&quiet, Interest::READABLE)))
        .collect();
    let n = poll(&mut entries, Some(core::time::Duration::from_millis(10)))?;
    ensure!(n == 0, "{n} entries ready before any data was sent");
    ensure!(
        entries.iter().all(|e| e.readiness().is_empty()),
        "readiness reported on a timeout: {entries:?}"
    );

    let (middle_client, _) = pairs
        .get(1)
        .ok_or_else(|| CaseError::Fail("three pairs expected".into()))?;
    send_all(middle_client, b"x")?;
    let n = poll(&mut entries, Some(WAIT))?;
    ensure!(n == 1, "{n} entries ready, expected 1");
    for (i, entry) in entries.iter().enumerate() {
        let readable = entry.readiness().is_readable();
        ensure!(
            readable == (i == 1),
            "entry {i} readable: {readable} ({:?})",
            entry.readiness()
        );
    }

    // An empty list is an error, not a wait.
    expect_error(
        poll(&mut [], Some(WAIT)),
        ErrorCode::InvalidArgument,
        "poll with no entries",
    )
}
