//! Helpers shared by the cases: loopback listeners, connected pairs,
//! bounded waits and error checks. All single-threaded and non-panicking.

use std::net::SocketAddr;
use std::time::Duration;

use witsock::{Domain, ErrorCode, Interest, SockAddr, Socket, Type};

use crate::{CaseError, CaseResult};

/// The longest any single wait in a case may take.
pub const WAIT: Duration = Duration::from_secs(5);

/// The loopback address of `domain` with port 0.
pub fn loopback(domain: Domain) -> SockAddr {
    let addr: SocketAddr = match domain {
        Domain::Ipv6 => "[::1]:0".parse().expect("literal"),
        _ => "127.0.0.1:0".parse().expect("literal"),
    };
    addr.into()
}

/// A non-blocking TCP listener on loopback and its address.
pub fn tcp_listener(domain: Domain) -> Result<(Socket, SockAddr), CaseError> {
    let listener = Socket::new_nonblocking(domain, Type::Stream, None)?;
    listener.bind(&loopback(domain))?;
    listener.listen(128)?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Waits up to [`WAIT`] for `interest`, failing the case on timeout.
pub fn wait_for(socket: &Socket, interest: Interest, what: &str) -> CaseResult {
    let ready = socket.wait(interest, Some(WAIT))?;
    crate::ensure!(!ready.is_empty(), "timed out waiting for {what}");
    Ok(())
}

/// Accepts one connection, waiting up to [`WAIT`].
pub fn accept(listener: &Socket) -> Result<(Socket, SockAddr), CaseError> {
    loop {
        if let Some(pair) = listener.try_accept()? {
            return Ok(pair);
        }
        wait_for(listener, Interest::READABLE, "a connection")?;
    }
}

/// A connected TCP pair over loopback: (client, server side), both
/// non-blocking.
pub fn tcp_pair(domain: Domain) -> Result<(Socket, Socket), CaseError> {
    let (listener, addr) = tcp_listener(domain)?;
    let client = Socket::new_nonblocking(domain, Type::Stream, None)?;
    let connected = client.start_connect(&addr)?;
    let (server, _) = accept(&listener)?;
    if !connected {
        loop {
            wait_for(&client, Interest::WRITABLE, "connect")?;
            if client.finish_connect()? {
                break;
            }
        }
    }
    Ok((client, server))
}

/// Checks that `result` failed with `code`.
pub fn expect_error<T>(result: witsock::Result<T>, code: ErrorCode, what: &str) -> CaseResult {
    match result {
        Ok(_) => Err(CaseError::Fail(format!(
            "{what}: succeeded, expected {}",
            code.wit_name()
        ))),
        Err(e) if e.code() == code => Ok(()),
        Err(e) => Err(CaseError::Fail(format!(
            "{what}: got {} ({e}), expected {}",
            e.code().wit_name(),
            code.wit_name()
        ))),
    }
}
