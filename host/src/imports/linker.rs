//! The witsock imports defined in a [`Linker`], one host function per WIT
//! function.
//!
//! They are written out here rather than generated, for one reason: a
//! payload the guest sends (`send`, `send-to`, each buffer of
//! `send-vectored`, each datagram of `send-batch`) is read in place from
//! the guest's memory ([`WasmList`]) and handed to the kernel from there,
//! where generated bindings would copy it into a `Vec` first. Types come
//! from `bindgen!`, and instantiation checks every signature against the
//! WIT.
//!
//! A call that may block is defined once, as an attempt, and wrapped by
//! [`define_blocking!`] for the store's [`Mode`]: waiting in poll(2) for a
//! synchronous store, awaiting the reactor for an async one.

use std::io::IoSlice;

use wasmtime::component::{ComponentType, Lift, Linker, Resource, ResourceType, WasmList, WasmStr};
use wasmtime::{AsContext, StoreContextMut};
use witsock::{Interest, OutgoingDatagram, Type, MAX_BATCH};

use super::bindings::witsock::sockets::types as wt;
use super::blocking::{self, Timeout};
use super::convert::{self, refusal};
use super::host::{
    resolved, target, CallError, HostResult, WitsockCtxView, INLINE_BUFFERS, IOV_MAX,
};
use crate::policy::AddressUse;
use crate::sockets::resource::SocketResource;
use crate::sockets::CheckedAddress;

/// The guest's `outgoing-datagram`, with its payload left in guest memory.
#[derive(ComponentType, Lift)]
#[component(record)]
struct OutgoingDatagramRef {
    #[component(name = "data")]
    data: WasmList<u8>,
    #[component(name = "remote-address")]
    remote_address: Option<AddressRef>,
}

/// The guest's `socket-address`, with a Unix name left in guest memory
/// until its length is checked: the host copies no more than a name can
/// hold.
#[derive(ComponentType, Lift)]
#[component(variant)]
enum AddressRef {
    #[component(name = "ipv4")]
    Ipv4(wt::Ipv4SocketAddress),
    #[component(name = "ipv6")]
    Ipv6(wt::Ipv6SocketAddress),
    #[component(name = "unix")]
    Unix(WasmList<u8>),
    #[component(name = "unix-abstract")]
    UnixAbstract(WasmList<u8>),
    #[component(name = "unnamed")]
    Unnamed,
}

/// Bytes in the longest Unix name any kernel takes (Linux's `sun_path`).
const MAX_UNIX_NAME: usize = 108;

/// The longest host name `resolve` reads (DNS allows 253 bytes).
const MAX_HOST_NAME: usize = 1024;

impl AddressRef {
    /// The address, or `invalid-argument` for a Unix name too long for
    /// any kernel.
    fn read(&self, store: impl AsContext) -> Result<wt::SocketAddress, wt::Error> {
        let name = |list: &WasmList<u8>| {
            if list.len() > MAX_UNIX_NAME {
                return Err(refusal(wt::ErrorCode::InvalidArgument));
            }
            Ok(list.as_le_slice(store.as_context()).to_vec())
        };
        Ok(match self {
            AddressRef::Ipv4(a) => wt::SocketAddress::Ipv4(*a),
            AddressRef::Ipv6(a) => wt::SocketAddress::Ipv6(*a),
            AddressRef::Unix(path) => wt::SocketAddress::Unix(name(path)?),
            AddressRef::UnixAbstract(n) => wt::SocketAddress::UnixAbstract(name(n)?),
            AddressRef::Unnamed => wt::SocketAddress::Unnamed,
        })
    }
}

type Socket = Resource<SocketResource>;

/// How the calls that may block wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// In the calling thread (poll(2)), for stores run synchronously.
    Sync,
    /// On the tokio reactor, for stores run with wasmtime's `_async`
    /// calls: a waiting guest holds no thread.
    Async,
}

/// A call's result as wasmtime takes it: the guest's result (its error
/// included) in the call's one result, or a trap.
#[inline]
fn lower<R>(result: HostResult<R>) -> wasmtime::Result<(Result<R, wt::Error>,)> {
    CallError::split(result).map(|result| (result,))
}

/// Defines a call that may block. `setup` runs once per call (reading the
/// guest's arguments, the state kept between attempts); `attempt` is one
/// attempt ([`Step`]), given the [`Attempt`](blocking::Attempt) as `$a`,
/// and the driver of `$mode` repeats it until it is done. Both return
/// [`CallError`]s with `?`.
macro_rules! define_blocking {
    ($inst:ident, $mode:expr, $name:literal,
     |$store:ident, $params:tt : $types:ty| { $($setup:tt)* } |$a:ident| $attempt:expr) => {
        match $mode {
            Mode::Sync => $inst.func_wrap(
                $name,
                move |mut $store: StoreContextMut<'_, T>, $params: $types| {
                    let mut call = || -> HostResult<_> {
                        $($setup)*
                        blocking::block(|$a| $attempt)
                    };
                    lower(call())
                },
            )?,
            Mode::Async => $inst.func_wrap_async(
                $name,
                move |mut $store: StoreContextMut<'_, T>, $params: $types| {
                    Box::new(async move {
                        let call = async {
                            $($setup)*
                            blocking::wait(|$a| $attempt).await
                        };
                        lower(call.await)
                    })
                },
            )?,
        }
    };
}

const TYPES: &str = "witsock:sockets/types@0.1.0";
const SOCKETS: &str = "witsock:sockets/sockets@0.1.0";

/// Defines `witsock:sockets/types` and `witsock:sockets/sockets` in
/// `linker`, serving them from the view `get` returns. See
/// [`add_to_linker`](super::add_to_linker).
pub(crate) fn add<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> WitsockCtxView<'_>,
    mode: Mode,
) -> wasmtime::Result<()> {
    // An interface of types only: an instance with nothing in it.
    linker.instance(TYPES)?;
    let mut inst = linker.instance(SOCKETS)?;

    inst.resource(
        "socket",
        ResourceType::host::<SocketResource>(),
        move |mut store, rep| get(store.data_mut()).drop_socket(Resource::new_own(rep)),
    )?;

    inst.func_wrap(
        "[static]socket.create",
        move |mut store: StoreContextMut<'_, T>,
              (family, ty, protocol, nonblocking): (
            wt::AddressFamily,
            wt::SocketType,
            Option<wt::Protocol>,
            bool,
        )| { lower(get(store.data_mut()).create(family, ty, protocol, nonblocking)) },
    )?;
    inst.func_wrap(
        "[method]socket.set-nonblocking",
        move |mut store: StoreContextMut<'_, T>, (this, nonblocking): (Socket, bool)| {
            lower(get(store.data_mut()).set_nonblocking(this, nonblocking))
        },
    )?;
    inst.func_wrap(
        "[method]socket.bind",
        move |mut store: StoreContextMut<'_, T>, (this, addr): (Socket, AddressRef)| {
            let bound = addr
                .read(&store)
                .map_err(CallError::from)
                .and_then(|addr| get(store.data_mut()).bind(this, addr));
            lower(bound)
        },
    )?;
    inst.func_wrap(
        "[method]socket.listen",
        move |mut store: StoreContextMut<'_, T>, (this, backlog): (Socket, u32)| {
            lower(get(store.data_mut()).listen(this, backlog))
        },
    )?;
    define_blocking!(inst, mode, "[method]socket.try-accept", |store,
                                                               (this,): (
        Socket,
    )| {}
        | a
        | get(store.data_mut()).try_accept(&this, a));
    define_blocking!(inst, mode, "[method]socket.start-connect", |store,
                                                                  (
        this,
        addr,
    ): (
        Socket,
        AddressRef
    )| {
        let addr = addr.read(&store)?;
        let mut started = false;
    } | a
        | get(store.data_mut()).start_connect(&this, &addr, &mut started, a));
    inst.func_wrap(
        "[method]socket.finish-connect",
        move |mut store: StoreContextMut<'_, T>, (this,): (Socket,)| {
            lower(get(store.data_mut()).finish_connect(this))
        },
    )?;
    inst.func_wrap(
        "[method]socket.disconnect",
        move |mut store: StoreContextMut<'_, T>, (this,): (Socket,)| {
            lower(get(store.data_mut()).disconnect(this))
        },
    )?;

    define_blocking!(
        inst,
        mode,
        "[method]socket.send",
        |store, (this, data, flags): (Socket, WasmList<u8>, wt::SendFlags)| {
            let flags = convert::send_flags(flags);
            let mut sent = 0usize;
        } | a
            | {
                let target = get(store.data_mut()).send_target(&this)?;
                let payload = data.as_le_slice(&store);
                let rest = payload.get(sent..).unwrap_or_default();
                let result = target.shared.socket.send(rest, flags);
                target.progress(&mut sent, payload.len(), result, a)
            }
    );
    define_blocking!(inst, mode, "[method]socket.send-to", |store,
                                                            (
        this,
        data,
        addr,
        flags,
    ): (
        Socket,
        WasmList<u8>,
        AddressRef,
        wt::SendFlags
    )| {
        let addr = addr.read(&store)?;
        let flags = convert::send_flags(flags);
        let mut sent = 0usize;
    } | a
        | {
            let (target, addr) = get(store.data_mut()).send_to_target(&this, &addr)?;
            let payload = data.as_le_slice(&store);
            let rest = payload.get(sent..).unwrap_or_default();
            let result = target.shared.socket.send_to(rest, &addr.addr, flags);
            target.progress(&mut sent, payload.len(), result, a)
        });
    define_blocking!(inst, mode, "[method]socket.send-vectored", |store,
                                                                  (
        this,
        bufs,
        flags,
    ): (
        Socket,
        WasmList<WasmList<u8>>,
        wt::SendFlags
    )| {
        if bufs.len() > IOV_MAX {
            return Err(refusal(wt::ErrorCode::InvalidArgument).into());
        }
        // The outer list is read once (pointer and length per buffer);
        // the buffers themselves stay where they are.
        let lists = bufs
            .iter(&mut store)?
            .collect::<wasmtime::Result<Vec<_>>>()?;
        let flags = convert::send_flags(flags);
        let mut sent = 0usize;
    } | a
        | {
            let target = get(store.data_mut()).send_target(&this)?;
            let mut slices: Vec<IoSlice<'_>> = lists
                .iter()
                .map(|list| IoSlice::new(list.as_le_slice(&store)))
                .collect();
            let total: usize = slices.iter().map(|slice| slice.len()).sum();
            let mut rest = &mut slices[..];
            // What the kernel took so far never exceeds the total.
            IoSlice::advance_slices(&mut rest, sent.min(total));
            let result = target.shared.socket.send_vectored(rest, flags);
            target.progress(&mut sent, total, result, a)
        });
    define_blocking!(inst, mode, "[method]socket.send-batch", |store,
                                                               (
        this,
        datagrams,
    ): (
        Socket,
        WasmList<OutgoingDatagramRef>
    )| {
        // Datagrams sent by earlier attempts.
        let mut done = 0usize;
    } | a
        | {
            let target = get(store.data_mut()).batch_target(&this)?;
            let use_ = if target.ty == Type::Datagram {
                AddressUse::Send
            } else {
                AddressUse::Connect
            };
            // Read and sent MAX_BATCH at a time, so that the host holds
            // only one chunk's addresses whatever the batch's length.
            let mut sent = 0usize;
            let mut items = Vec::with_capacity(MAX_BATCH.min(datagrams.len()));
            let mut addrs: Vec<Option<CheckedAddress>> = Vec::with_capacity(items.capacity());
            let mut first_error = None;
            // The kernel's queue was full: a blocking socket waits for room.
            let mut full = false;
            let mut index = done;
            'chunks: while index < datagrams.len() {
                items.clear();
                addrs.clear();
                let end = (index + MAX_BATCH).min(datagrams.len());
                for i in index..end {
                    match datagrams.get(&mut store, i) {
                        Some(item) => items.push(item?),
                        None => break,
                    }
                }
                // Destinations are checked in order; the batch stops
                // before the first one refused.
                let mut refused = None;
                for item in &items {
                    let checked = match &item.remote_address {
                        None => Ok(None),
                        Some(addr) => addr
                            .read(&store)
                            .and_then(|addr| {
                                let checked =
                                    target.gate.checked_address(self::target(&addr)?, use_);
                                checked.map_err(convert::error)
                            })
                            .map(Some),
                    };
                    match checked {
                        Ok(addr) => addrs.push(addr),
                        Err(e) => {
                            refused = Some(e);
                            break;
                        }
                    }
                }
                let chunk: Vec<OutgoingDatagram<'_>> = items
                    .iter()
                    .zip(&addrs)
                    .map(|(item, addr)| {
                        let data = item.data.as_le_slice(&store);
                        match addr {
                            Some(checked) => OutgoingDatagram::new(data, &checked.addr),
                            None => OutgoingDatagram::connected(data),
                        }
                    })
                    .collect();
                if !chunk.is_empty() {
                    match target.shared.socket.send_batch(&chunk) {
                        Ok(n) => {
                            sent += n;
                            if n < chunk.len() {
                                full = true;
                                break 'chunks;
                            }
                        }
                        Err(e) => {
                            full = e.is_would_block();
                            first_error = Some(convert::error(e));
                            break 'chunks;
                        }
                    }
                }
                if let Some(e) = refused {
                    first_error = Some(e);
                    break;
                }
                index = end;
            }
            done += sent;
            // An error only when nothing was sent, as natively.
            let result = match (done, first_error) {
                (0, Some(e)) => Err(CallError::from(e)),
                (sent, _) => Ok(u32::try_from(sent).unwrap_or(u32::MAX)),
            };
            let blocks = target.blocking && full && done < datagrams.len();
            a.wait_for(
                blocks,
                &target.shared,
                Interest::WRITABLE,
                Timeout::Send,
                result,
            )
        });

    define_blocking!(inst, mode, "[method]socket.receive", |store,
                                                            (
        this,
        max_len,
        flags,
    ): (
        Socket,
        u64,
        wt::ReceiveFlags
    )| {
        let mut filled = 0usize;
    } | a
        | get(store.data_mut()).receive(&this, max_len, flags, &mut filled, a));
    define_blocking!(inst, mode, "[method]socket.receive-from", |store,
                                                                 (
        this,
        max_len,
        flags,
    ): (
        Socket,
        u64,
        wt::ReceiveFlags
    )| {}
        | a
        | get(store.data_mut()).receive_from(&this, max_len, flags, a));
    define_blocking!(inst, mode, "[method]socket.receive-vectored", |store,
                                                                     (
        this,
        lengths,
        flags,
    ): (
        Socket,
        WasmList<u64>,
        wt::ReceiveFlags
    )| {
        if lengths.len() > IOV_MAX {
            return Err(refusal(wt::ErrorCode::InvalidArgument).into());
        }
        // Copied out of guest memory (the table is borrowed next): on
        // the stack for a few buffers, so that a receive that would
        // block allocates nothing.
        let mut inline = [0u64; INLINE_BUFFERS];
        let spilled;
        let guest_lengths = lengths.as_le_slice(&store);
        let lengths: &[u64] = match inline.get_mut(..guest_lengths.len()) {
            Some(inline) => {
                inline.copy_from_slice(guest_lengths);
                inline
            }
            None => {
                spilled = guest_lengths.to_vec();
                &spilled
            }
        };
        let mut filled = 0usize;
    } | a
        | get(store.data_mut()).receive_vectored(
            &this,
            lengths,
            flags,
            &mut filled,
            a
        ));
    define_blocking!(inst, mode, "[method]socket.receive-batch", |store,
                                                                  (
        this,
        max_datagrams,
        max_len,
    ): (
        Socket,
        u32,
        u64
    )| {}
        | a
        | get(store.data_mut()).receive_batch(&this, max_datagrams, max_len, a));
    inst.func_wrap(
        "[method]socket.shutdown",
        move |mut store: StoreContextMut<'_, T>, (this, how): (Socket, wt::ShutdownHow)| {
            lower(get(store.data_mut()).shutdown(this, how))
        },
    )?;
    inst.func_wrap(
        "[method]socket.local-address",
        move |mut store: StoreContextMut<'_, T>, (this,): (Socket,)| {
            lower(get(store.data_mut()).local_address(this))
        },
    )?;
    inst.func_wrap(
        "[method]socket.remote-address",
        move |mut store: StoreContextMut<'_, T>, (this,): (Socket,)| {
            lower(get(store.data_mut()).remote_address(this))
        },
    )?;
    inst.func_wrap(
        "[method]socket.set-option",
        move |mut store: StoreContextMut<'_, T>, (this, value): (Socket, wt::OptionValue)| {
            lower(get(store.data_mut()).set_option(this, value))
        },
    )?;
    inst.func_wrap(
        "[method]socket.get-option",
        move |mut store: StoreContextMut<'_, T>, (this, name): (Socket, wt::OptionName)| {
            lower(get(store.data_mut()).get_option(this, name))
        },
    )?;
    define_blocking!(inst, mode, "[method]socket.wait", |store,
                                                         (
        this,
        interest,
        timeout,
    ): (
        Socket,
        wt::Interest,
        Option<u64>
    )| {}
        | a
        | get(store.data_mut()).wait(&this, interest, timeout, a));
    inst.func_wrap(
        "[method]socket.subscribe",
        move |mut store: StoreContextMut<'_, T>, (this, interest): (Socket, wt::Interest)| {
            Ok((get(store.data_mut()).subscribe(this, interest)?,))
        },
    )?;
    define_blocking!(inst, mode, "poll", |store,
                                          (entries, timeout): (
        WasmList<(Socket, wt::Interest)>,
        Option<u64>
    )| {
        // More entries than the guest may hold sockets is refused before
        // the list is read, as poll(2) refuses more than RLIMIT_NOFILE.
        let max = get(store.data_mut()).ctx.policy().limits().max_sockets;
        if entries.len() > max {
            return Err(refusal(wt::ErrorCode::InvalidArgument).into());
        }
        let entries = entries
            .iter(&mut store)?
            .collect::<wasmtime::Result<Vec<_>>>()?;
    } | a
        | get(store.data_mut()).poll(&entries, timeout, a));
    inst.func_wrap(
        "socket-pair",
        move |mut store: StoreContextMut<'_, T>, (ty, nonblocking): (wt::SocketType, bool)| {
            lower(get(store.data_mut()).socket_pair(ty, nonblocking))
        },
    )?;
    inst.func_wrap(
        "get-capabilities",
        move |mut store: StoreContextMut<'_, T>, (): ()| {
            Ok((get(store.data_mut()).capabilities(),))
        },
    )?;
    inst.func_wrap(
        "error-names",
        move |_store: StoreContextMut<'_, T>, (): ()| {
            let names: Vec<(i32, String)> = witsock::errno::ERRNO_NAMES
                .iter()
                .map(|&(raw, name)| (raw, name.to_owned()))
                .collect();
            Ok((names,))
        },
    )?;
    // A lookup blocks in getaddrinfo(3): an async store runs it on a
    // blocking thread, a few at a time per guest.
    let read_name = |store: &StoreContextMut<'_, T>, name: WasmStr| -> HostResult<String> {
        let name = name.to_str(store)?;
        if name.len() > MAX_HOST_NAME {
            return Err(refusal(wt::ErrorCode::InvalidArgument).into());
        }
        Ok(name.into_owned())
    };
    match mode {
        Mode::Sync => inst.func_wrap(
            "resolve",
            move |mut store: StoreContextMut<'_, T>, (name, port): (WasmStr, u16)| {
                let resolved = read_name(&store, name)
                    .and_then(|name| get(store.data_mut()).resolve(name, port));
                lower(resolved)
            },
        )?,
        Mode::Async => inst.func_wrap_async(
            "resolve",
            move |mut store: StoreContextMut<'_, T>, (name, port): (WasmStr, u16)| {
                Box::new(async move {
                    let lookup = async {
                        let name = read_name(&store, name)?;
                        let view = get(store.data_mut());
                        view.ctx.check_lookup(&name)?;
                        let turns = view.ctx.lookups.clone();
                        let _turn = turns.acquire_owned().await;
                        let lookup = tokio::task::spawn_blocking(move || {
                            witsock::resolve(&name, port).map(Iterator::collect)
                        });
                        let addrs = lookup.await.map_err(|e| {
                            CallError::trap(format_args!("witsock host: a name lookup failed: {e}"))
                        })?;
                        resolved(addrs)
                    };
                    lower(lookup.await)
                })
            },
        )?,
    }
    Ok(())
}
