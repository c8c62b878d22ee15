//! `wasi:sockets/udp` and `udp-create-socket`: a udp-socket over a socket
//! of the layer, and the datagram streams `stream` hands out.

use std::net::SocketAddr;
use std::sync::Arc;

use wasmtime::component::Resource;
use wasmtime_wasi::async_trait;
use wasmtime_wasi::p2::{DynPollable, Pollable};
use witsock::{Domain, Interest, OptionName, RecvFlags, SendFlags, SocketOption, Type};

use super::bindings::wasi::sockets::network::{ErrorCode, IpAddressFamily, IpSocketAddress};
use super::bindings::wasi::sockets::udp::{self, IncomingDatagram, OutgoingDatagram};
use super::bindings::wasi::sockets::udp_create_socket;
use super::{
    buffer_option, domain, family, hop_limit_option, is_of_family, is_remote, option_number,
    Network, SocketError, SocketResult,
};
use crate::imports::WitsockCtxView;
use crate::policy::AddressUse;
use crate::sockets::resource::{SharedSocket, SocketResource};
use crate::sockets::Target;

/// The most datagrams one `receive` returns and one `check-send` permits.
const MAX_DATAGRAMS: usize = 16;

/// The largest datagram wasi:sockets carries.
const MAX_DATAGRAM: usize = u16::MAX as usize;

/// A guest's udp-socket.
pub struct UdpSocket {
    inner: SocketResource,
    bind_in_progress: bool,
    /// The peer `stream` connected it to.
    remote: Option<SocketAddr>,
}

impl std::fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpSocket")
            .field("socket", &self.inner)
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

/// The datagrams arriving on a udp-socket, from its peer if it has one.
pub struct IncomingDatagramStream {
    shared: Arc<SharedSocket>,
    domain: Domain,
}

/// The datagrams a udp-socket sends.
pub struct OutgoingDatagramStream {
    shared: Arc<SharedSocket>,
    domain: Domain,
    remote: Option<SocketAddr>,
    permit: usize,
}

impl WitsockCtxView<'_> {
    fn udp(&mut self, this: &Resource<UdpSocket>) -> SocketResult<&mut UdpSocket> {
        Ok(self.table.get_mut(this)?)
    }

    fn udp_option(
        &mut self,
        this: &Resource<UdpSocket>,
        name: OptionName,
    ) -> SocketResult<SocketOption> {
        Ok(self.udp(this)?.inner.socket().option(name)?)
    }

    fn set_udp_option(
        &mut self,
        this: &Resource<UdpSocket>,
        option: SocketOption,
    ) -> SocketResult<()> {
        let socket = self.table.get_mut(this)?;
        self.ctx.set_option(&mut socket.inner, option)?;
        Ok(())
    }
}

impl udp_create_socket::Host for WitsockCtxView<'_> {
    fn create_udp_socket(&mut self, family: IpAddressFamily) -> SocketResult<Resource<UdpSocket>> {
        let domain = domain(family);
        let inner = self.ctx.create(domain, Type::Datagram, None, true)?;
        if domain == Domain::Ipv6 {
            if let Err(e) = inner.socket().set_option(SocketOption::Ipv6Only(true)) {
                self.ctx.forget(&inner);
                return Err(e.into());
            }
        }
        let socket = UdpSocket {
            inner,
            bind_in_progress: false,
            remote: None,
        };
        match self.table.push(socket) {
            Ok(handle) => Ok(handle),
            Err(e) => {
                self.ctx.forget_unpushed();
                Err(e.into())
            }
        }
    }
}

impl udp::Host for WitsockCtxView<'_> {}

impl udp::HostUdpSocket for WitsockCtxView<'_> {
    fn start_bind(
        &mut self,
        this: Resource<UdpSocket>,
        network: Resource<Network>,
        local_address: IpSocketAddress,
    ) -> SocketResult<()> {
        self.table.get(&network)?;
        let addr = SocketAddr::from(local_address);
        let socket = self.table.get_mut(&this)?;
        if socket.bind_in_progress {
            return Err(ErrorCode::ConcurrencyConflict.into());
        }
        if socket.inner.bound {
            return Err(ErrorCode::InvalidState.into());
        }
        if !is_of_family(addr.ip(), socket.inner.domain) {
            return Err(ErrorCode::InvalidArgument.into());
        }
        self.ctx.bind(&mut socket.inner, Target::Ip(addr))?;
        socket.bind_in_progress = true;
        Ok(())
    }

    fn finish_bind(&mut self, this: Resource<UdpSocket>) -> SocketResult<()> {
        let socket = self.udp(&this)?;
        if !socket.bind_in_progress {
            return Err(ErrorCode::NotInProgress.into());
        }
        socket.bind_in_progress = false;
        Ok(())
    }

    fn stream(
        &mut self,
        this: Resource<UdpSocket>,
        remote_address: Option<IpSocketAddress>,
    ) -> SocketResult<(
        Resource<IncomingDatagramStream>,
        Resource<OutgoingDatagramStream>,
    )> {
        let has_streams = self.table.iter_children(&this)?.any(|child| {
            child.is::<IncomingDatagramStream>() || child.is::<OutgoingDatagramStream>()
        });
        if has_streams {
            return Err(SocketError::trap(
                "the socket's previous streams are not dropped yet",
            ));
        }
        let socket = self.table.get_mut(&this)?;
        if !socket.inner.bound {
            return Err(ErrorCode::InvalidState.into());
        }
        match remote_address.map(SocketAddr::from) {
            Some(addr) => {
                if !is_of_family(addr.ip(), socket.inner.domain) || !is_remote(addr) {
                    return Err(ErrorCode::InvalidArgument.into());
                }
                // A refused connect leaves the socket as it was.
                self.ctx
                    .start_connect(&mut socket.inner, Target::Ip(addr))?;
                socket.remote = Some(addr);
            }
            None if socket.remote.is_some() => {
                socket.inner.socket().disconnect()?;
                socket.remote = None;
            }
            None => {}
        }
        let incoming = IncomingDatagramStream {
            shared: socket.inner.shared.clone(),
            domain: socket.inner.domain,
        };
        let outgoing = OutgoingDatagramStream {
            shared: socket.inner.shared.clone(),
            domain: socket.inner.domain,
            remote: socket.remote,
            permit: 0,
        };
        let incoming = self.table.push_child(incoming, &this)?;
        let outgoing = self.table.push_child(outgoing, &this)?;
        Ok((incoming, outgoing))
    }

    fn local_address(&mut self, this: Resource<UdpSocket>) -> SocketResult<IpSocketAddress> {
        let socket = self.udp(&this)?;
        if !socket.inner.bound {
            return Err(ErrorCode::InvalidState.into());
        }
        let local = socket.inner.socket().local_addr()?;
        local
            .as_socket()
            .map(IpSocketAddress::from)
            .ok_or_else(|| ErrorCode::InvalidState.into())
    }

    fn remote_address(&mut self, this: Resource<UdpSocket>) -> SocketResult<IpSocketAddress> {
        let socket = self.udp(&this)?;
        socket
            .remote
            .map(IpSocketAddress::from)
            .ok_or_else(|| ErrorCode::InvalidState.into())
    }

    fn address_family(&mut self, this: Resource<UdpSocket>) -> wasmtime::Result<IpAddressFamily> {
        Ok(family(self.table.get(&this)?.inner.domain))
    }

    fn unicast_hop_limit(&mut self, this: Resource<UdpSocket>) -> SocketResult<u8> {
        // A hop limit is a u8 option.
        Ok(option_number(self.udp_option(&this, OptionName::HopLimit)?)? as u8)
    }

    fn set_unicast_hop_limit(&mut self, this: Resource<UdpSocket>, value: u8) -> SocketResult<()> {
        self.set_udp_option(&this, hop_limit_option(value)?)
    }

    fn receive_buffer_size(&mut self, this: Resource<UdpSocket>) -> SocketResult<u64> {
        option_number(self.udp_option(&this, OptionName::ReceiveBufferSize)?)
    }

    fn set_receive_buffer_size(
        &mut self,
        this: Resource<UdpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        self.set_udp_option(&this, buffer_option(value, true)?)
    }

    fn send_buffer_size(&mut self, this: Resource<UdpSocket>) -> SocketResult<u64> {
        option_number(self.udp_option(&this, OptionName::SendBufferSize)?)
    }

    fn set_send_buffer_size(&mut self, this: Resource<UdpSocket>, value: u64) -> SocketResult<()> {
        self.set_udp_option(&this, buffer_option(value, false)?)
    }

    fn subscribe(&mut self, this: Resource<UdpSocket>) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi::p2::subscribe(self.table, this)
    }

    fn drop(&mut self, this: Resource<UdpSocket>) -> wasmtime::Result<()> {
        let socket = self.table.delete(this)?;
        self.ctx.forget(&socket.inner);
        Ok(())
    }
}

#[async_trait]
impl Pollable for UdpSocket {
    /// A udp-socket has nothing to wait for: its streams do.
    async fn ready(&mut self) {}
}

impl udp::HostIncomingDatagramStream for WitsockCtxView<'_> {
    fn receive(
        &mut self,
        this: Resource<IncomingDatagramStream>,
        max_results: u64,
    ) -> SocketResult<Vec<IncomingDatagram>> {
        // As many datagrams as the per-call quota holds at their largest
        // (one at least), up to MAX_DATAGRAMS.
        let quota = self.ctx.policy().limits().max_bytes_per_call / MAX_DATAGRAM;
        let max = usize::try_from(max_results)
            .unwrap_or(usize::MAX)
            .min(MAX_DATAGRAMS)
            .min(quota.max(1));
        let mut datagrams = Vec::new();
        if max == 0 {
            return Ok(datagrams);
        }
        let stream = self.table.get(&this)?;
        let filter = self.ctx.filters_senders_of(stream.domain, Type::Datagram);
        while datagrams.len() < max {
            let received = self.ctx.receive_on(
                &stream.shared.socket,
                filter,
                MAX_DATAGRAM,
                RecvFlags::EMPTY,
            );
            match received {
                Ok((len, sender, _)) => {
                    let Some(remote) = sender.as_socket() else {
                        continue;
                    };
                    datagrams.push(IncomingDatagram {
                        data: self.ctx.spare(len).to_vec(),
                        remote_address: remote.into(),
                    });
                }
                Err(e) if e.is_would_block() => break,
                // What was received is the guest's; the error comes again.
                Err(_) if !datagrams.is_empty() => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(datagrams)
    }

    fn subscribe(
        &mut self,
        this: Resource<IncomingDatagramStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi::p2::subscribe(self.table, this)
    }

    fn drop(&mut self, this: Resource<IncomingDatagramStream>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

#[async_trait]
impl Pollable for IncomingDatagramStream {
    async fn ready(&mut self) {
        self.shared.ready(Interest::READABLE).await;
    }
}

impl udp::HostOutgoingDatagramStream for WitsockCtxView<'_> {
    fn check_send(&mut self, this: Resource<OutgoingDatagramStream>) -> SocketResult<u64> {
        let stream = self.table.get_mut(&this)?;
        // A datagram socket is nearly always writable; a send that would
        // block ends the batch short instead.
        stream.permit = MAX_DATAGRAMS;
        Ok(MAX_DATAGRAMS as u64)
    }

    fn send(
        &mut self,
        this: Resource<OutgoingDatagramStream>,
        datagrams: Vec<OutgoingDatagram>,
    ) -> SocketResult<u64> {
        if datagrams.is_empty() {
            return Ok(0);
        }
        let gate = self.ctx.gate.clone();
        let stream = self.table.get_mut(&this)?;
        if datagrams.len() > stream.permit {
            return Err(SocketError::trap("send exceeds what check-send permitted"));
        }
        stream.permit = 0;
        let mut sent = 0u64;
        for datagram in datagrams {
            let outcome = send_one(&gate, stream, datagram);
            match outcome {
                Ok(()) => sent += 1,
                // What went out counts; the error comes again next time.
                Err(_) if sent > 0 => break,
                Err(e) if e.guest_error() == Some(&ErrorCode::WouldBlock) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }

    fn subscribe(
        &mut self,
        this: Resource<OutgoingDatagramStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi::p2::subscribe(self.table, this)
    }

    fn drop(&mut self, this: Resource<OutgoingDatagramStream>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

/// Sends one datagram: to the socket's peer, or to the address it names
/// once the policy allows it.
fn send_one(
    gate: &crate::sockets::Gate,
    stream: &OutgoingDatagramStream,
    datagram: OutgoingDatagram,
) -> SocketResult<()> {
    if datagram.data.len() > MAX_DATAGRAM {
        return Err(ErrorCode::DatagramTooLarge.into());
    }
    let socket = &stream.shared.socket;
    let sent = match (datagram.remote_address.map(SocketAddr::from), stream.remote) {
        (Some(addr), _) if !is_remote(addr) || !is_of_family(addr.ip(), stream.domain) => {
            return Err(ErrorCode::InvalidArgument.into());
        }
        (Some(addr), Some(remote)) if addr != remote => {
            return Err(ErrorCode::InvalidArgument.into());
        }
        (_, Some(_)) => socket.send(&datagram.data, SendFlags::EMPTY),
        (Some(addr), None) => {
            let checked = gate.checked_address(Target::Ip(addr), AddressUse::Send)?;
            socket.send_to(&datagram.data, &checked.addr, SendFlags::EMPTY)
        }
        (None, None) => return Err(ErrorCode::InvalidArgument.into()),
    };
    match sent {
        Ok(_) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[async_trait]
impl Pollable for OutgoingDatagramStream {
    async fn ready(&mut self) {
        self.shared.ready(Interest::WRITABLE).await;
    }
}
