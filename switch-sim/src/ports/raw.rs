//! A port on a real network interface: an `AF_PACKET` socket that pnet binds to the interface,
//! read in batches (`recvmmsg`) and written frame by frame from the switch core's task when tokio
//! reports it readable.
//!
//! Guarantees: no call blocks (the socket is non-blocking and only read when ready); frames
//! the host itself sent on the interface (`PACKET_OUTGOING`, which includes this switch's own
//! output) are marked so the caller skips them; a frame longer than a receive slot is marked
//! truncated instead of being passed on cut; a frame that cannot be written (queue full, link
//! gone, longer than the MTU) is counted as dropped, never retried.

use std::io;
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::task::{Context, Poll};

use nix::errno::Errno;
use nix::sys::socket::{
    recvmmsg, send, setsockopt, socket, sockopt, AddressFamily, LinkAddr, MsgFlags, MultiHeaders,
    SockFlag, SockProtocol, SockType,
};
use tokio::io::unix::AsyncFd;

/// `PACKET_OUTGOING` (linux/if_packet.h): a frame this host sent.
const PACKET_OUTGOING: u8 = 4;

/// Sizes of a raw port's batches and buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawConfig {
    /// Frames read (and written) per system call.
    pub batch: usize,
    /// Bytes per receive slot.
    pub slot: usize,
    /// Kernel socket buffer, each direction.
    pub socket_buffer: usize,
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            batch: 32,
            // The largest frame an interface can pass up (64 KiB segments on veth with
            // offloads, jumbo frames), plus room for tags.
            slot: 65536 + 64,
            socket_buffer: 4 << 20,
        }
    }
}

/// Why a port could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PortOpenError {
    #[error("no network interface named {0:?} (in this network namespace)")]
    NoSuchInterface(String),
    #[error("interface {0:?} has no Ethernet address")]
    NoHardwareAddress(String),
    #[error("opening a packet socket on {name:?} (needs CAP_NET_RAW): {source}")]
    Socket { name: String, source: io::Error },
}

/// What the interface looks like now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InterfaceInfo {
    pub hw_addr: [u8; 6],
    /// Administratively up and operationally running (carrier).
    pub up: bool,
}

/// The carrier of every named interface (missing ones are down).
pub(crate) fn carriers(names: &[String]) -> Vec<bool> {
    let all = pnet::datalink::interfaces();
    names
        .iter()
        .map(|n| {
            all.iter()
                .find(|i| &i.name == n)
                .is_some_and(|i| i.is_up() && i.is_running())
        })
        .collect()
}

/// One received frame's slot.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RxSlot {
    /// The frame's real length (may exceed the slot when `truncated`).
    pub len: usize,
    pub outgoing: bool,
    pub truncated: bool,
}

/// A port on a real interface.
pub(crate) struct RawPort {
    fd: AsyncFd<OwnedFd>,
    rx_headers: MultiHeaders<LinkAddr>,
    bufs: Vec<Vec<u8>>,
    got: Vec<RxSlot>,
    txq: Vec<Vec<u8>>,
    batch: usize,
}

impl std::fmt::Debug for RawPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawPort")
            .field("fd", &self.fd.get_ref().as_raw_fd())
            .finish_non_exhaustive()
    }
}

fn sock_err(name: &str) -> impl Fn(io::Error) -> PortOpenError + '_ {
    move |source| PortOpenError::Socket {
        name: name.to_owned(),
        source,
    }
}

impl RawPort {
    /// Opens the interface `name`. Must run inside a tokio runtime (the socket is registered
    /// with its reactor).
    pub fn open(name: &str, cfg: RawConfig) -> Result<(RawPort, InterfaceInfo), PortOpenError> {
        let iface = pnet::datalink::interfaces()
            .into_iter()
            .find(|i| i.name == name)
            .ok_or_else(|| PortOpenError::NoSuchInterface(name.to_owned()))?;
        let info = InterfaceInfo {
            hw_addr: iface
                .mac
                .map(|m| m.octets())
                .ok_or_else(|| PortOpenError::NoHardwareAddress(name.to_owned()))?,
            up: iface.is_up() && iface.is_running(),
        };
        let err = sock_err(name);
        let sock = socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            SockProtocol::EthAll,
        )
        .map_err(|e| err(e.into()))?;
        // Bursts of small frames overflow the default buffers long before the CPU is busy.
        // The forcing variants need CAP_NET_ADMIN; fall back to the capped ones.
        let n = cfg.socket_buffer;
        if setsockopt(&sock, sockopt::RcvBufForce, &n).is_err() {
            let _ = setsockopt(&sock, sockopt::RcvBuf, &n);
        }
        if setsockopt(&sock, sockopt::SndBufForce, &n).is_err() {
            let _ = setsockopt(&sock, sockopt::SndBuf, &n);
        }
        // pnet binds the socket to the interface and makes it promiscuous; it gets a
        // duplicate descriptor of the same socket, which closes with its channel while ours
        // keeps the socket.
        let dup = nix::unistd::dup(&sock).map_err(|e| err(e.into()))?;
        let pcfg = pnet::datalink::Config {
            read_buffer_size: 64,
            write_buffer_size: 64,
            socket_fd: Some(dup.into_raw_fd()),
            promiscuous: true,
            ..Default::default()
        };
        match pnet::datalink::channel(&iface, pcfg) {
            Ok(pnet::datalink::Channel::Ethernet(_, _)) => {}
            Ok(_) => {
                return Err(err(io::Error::other(
                    "pnet returned a non-Ethernet channel",
                )))
            }
            Err(e) => return Err(err(e)),
        }
        // `AsyncFd::new` is deprecated because a value's `AsRawFd` need not own the
        // descriptor; an `OwnedFd` does, and it stays inside the `AsyncFd` until both are
        // dropped together, which is exactly the condition `register` asks for.
        #[allow(deprecated)]
        let fd = AsyncFd::new(sock).map_err(&err)?;
        let batch = cfg.batch.max(1);
        Ok((
            RawPort {
                fd,
                rx_headers: MultiHeaders::preallocate(batch, None),
                bufs: (0..batch).map(|_| vec![0u8; cfg.slot.max(64)]).collect(),
                got: Vec::with_capacity(batch),
                txq: Vec::with_capacity(batch),
                batch,
            },
            info,
        ))
    }

    /// Reads the next batch when the socket is readable: `Ready(Ok(n))` with `n >= 1` frames
    /// described by `slot(i)` and `frame(i)`.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = match self.fd.poll_read_ready(cx) {
                Poll::Ready(Ok(g)) => g,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            let raw = guard.get_inner().as_raw_fd();
            match recv_batch(raw, &mut self.rx_headers, &mut self.bufs, &mut self.got) {
                Ok(0) | Err(Errno::EAGAIN) => guard.clear_ready(),
                Ok(n) => return Poll::Ready(Ok(n)),
                // The interface went away or down: report nothing more until it is readable.
                Err(Errno::ENETDOWN) | Err(Errno::ENXIO) => guard.clear_ready(),
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
    }

    /// What the `i`th frame of the last batch was.
    pub fn slot(&self, i: usize) -> RxSlot {
        self.got.get(i).copied().unwrap_or_default()
    }

    /// The `i`th frame of the last batch (cut at the slot size), with a partial TCP/UDP
    /// checksum completed.
    pub fn frame(&mut self, i: usize) -> &[u8] {
        let len = self.slot(i).len;
        match self.bufs.get_mut(i) {
            Some(b) => {
                let n = len.min(b.len());
                let f = b.get_mut(..n).unwrap_or_default();
                super::checksum::complete_partial_checksum(f);
                f
            }
            None => &[],
        }
    }

    /// Frames in the last batch.
    pub fn batch_len(&self) -> usize {
        self.got.len()
    }

    /// Queues a frame; `flush` writes the queue (a full queue is flushed at once).
    /// Returns the frames that could not be written.
    pub fn queue(&mut self, frame: Vec<u8>) -> u64 {
        self.txq.push(frame);
        if self.txq.len() >= self.batch {
            self.flush()
        } else {
            0
        }
    }

    /// Writes the queued frames. Returns the number that could not be written.
    pub fn flush(&mut self) -> u64 {
        let fd = self.fd.get_ref().as_raw_fd();
        let mut failed = 0;
        for (i, frame) in self.txq.iter().enumerate() {
            match send(fd, frame, MsgFlags::MSG_DONTWAIT) {
                Ok(_) => {}
                // The socket buffer is full: the rest of the queue would fail the same way.
                Err(Errno::EAGAIN) | Err(Errno::ENOBUFS) => {
                    failed += (self.txq.len() - i) as u64;
                    break;
                }
                // Too long for the MTU, interface down or gone: this frame only.
                Err(_) => failed += 1,
            }
        }
        self.txq.clear();
        failed
    }
}

fn recv_batch(
    fd: i32,
    headers: &mut MultiHeaders<LinkAddr>,
    bufs: &mut [Vec<u8>],
    got: &mut Vec<RxSlot>,
) -> nix::Result<usize> {
    got.clear();
    let mut iovs: Vec<[IoSliceMut<'_>; 1]> = bufs
        .iter_mut()
        .map(|b| [IoSliceMut::new(b.as_mut_slice())])
        .collect();
    let results = recvmmsg(
        fd,
        headers,
        iovs.iter_mut(),
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_TRUNC,
        None,
    )?;
    for r in results {
        got.push(RxSlot {
            len: r.bytes,
            outgoing: r.address.is_some_and(|a| a.pkttype() == PACKET_OUTGOING),
            truncated: r.flags.contains(MsgFlags::MSG_TRUNC),
        });
    }
    Ok(got.len())
}
