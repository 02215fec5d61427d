//! OpenFlow connections: the listener's accept loop and one task per switch connection.
//!
//! A connection task reads bytes, cuts them into messages with `openflow::Framer`, decodes
//! them (off the core task) and hands each read's messages to the core task in one batch. The
//! core task writes into an idle socket itself; what it cannot write at once goes to the
//! connection's writer, which coalesces every buffer waiting in its queue into one write. Reading and writing run concurrently, so a switch that is slow to read never stops
//! us from reading it.
//!
//! Guarantees: messages reach the core in the order they arrived; bytes leave in the order the
//! core produced them; when the core drops a connection's queue, what was queued is written
//! and the socket closed; when the peer closes (or a read or write fails), the core is told
//! once. Every connection runs in a `switch` span (`conn`, `peer`, and `dpid` once known).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openflow::error_msg::MAX_OFFENDING_LEN;
use openflow::{Framer, FramerError};
use tokio::io::AsyncReadExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{info_span, warn, Instrument, Span};

use super::driver::{Inbound, Outbox, ToCore};
use crate::machine::ConnId;

/// Buffers the core may queue for one connection before it counts as not reading.
const WRITE_QUEUE: usize = 1024;
/// The most bytes one write gathers.
const MAX_WRITE: usize = 1 << 20;
/// How long connections get to flush at shutdown.
const DRAIN: Duration = Duration::from_secs(2);

/// Accepts switches until shutdown, then waits (briefly) for their tasks to finish.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    core: mpsc::Sender<ToCore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tasks = JoinSet::new();
    let mut next = 1u64;
    loop {
        tokio::select! {
            biased;
            () = async { let _ = shutdown.wait_for(|s| *s).await; } => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    let conn = ConnId(next);
                    next += 1;
                    let span = info_span!("switch", conn = conn.0, %peer, dpid = tracing::field::Empty);
                    tasks.spawn(connection(stream, peer, conn, core.clone()).instrument(span));
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    warn!(error = %e, "accepting an OpenFlow connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    // The core task drops every connection's queue on shutdown; writers flush and close.
    let drained =
        tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        warn!(
            left = tasks.len(),
            "connections did not close in time; cutting them"
        );
        tasks.abort_all();
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, conn: ConnId, core: mpsc::Sender<ToCore>) {
    // Every message is a small write that the switch waits for (barriers).
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let wr = Arc::new(wr);
    let queued = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel(WRITE_QUEUE);
    let hello = ToCore::Connected {
        conn,
        peer,
        outbox: Outbox {
            wr: wr.clone(),
            tx,
            queued: queued.clone(),
        },
        span: Span::current(),
    };
    if core.send(hello).await.is_err() {
        return;
    }
    let why = tokio::select! {
        why = read_loop(rd, conn, &core) => why,
        r = write_loop(wr, rx, queued) => match r {
            // The core closed the connection and forgot it.
            Ok(()) => return,
            Err(e) => format!("writing to the switch failed: {e}"),
        },
    };
    let _ = core.send(ToCore::Closed { conn, why }).await;
}

/// Reads until the peer closes or fails; returns why it ended.
async fn read_loop(mut rd: OwnedReadHalf, conn: ConnId, core: &mpsc::Sender<ToCore>) -> String {
    let mut framer = Framer::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut fatal = false;
    loop {
        let n = match rd.read(&mut buf).await {
            Ok(0) => return "the switch closed the connection".to_owned(),
            Ok(n) => n,
            Err(e) => return format!("reading from the switch failed: {e}"),
        };
        if fatal {
            // The stream cannot be framed any more; the core is closing it.
            continue;
        }
        framer.extend(buf.get(..n).unwrap_or_default());
        let mut items = Vec::new();
        while let Some(r) = framer.next_frame() {
            match r {
                Ok(frame) => {
                    let header = frame.header();
                    items.push(match frame.message() {
                        Ok(msg) => Inbound::Message {
                            version: header.version,
                            msg,
                        },
                        Err(error) => {
                            let bytes = frame.bytes();
                            let head = bytes
                                .get(..bytes.len().min(MAX_OFFENDING_LEN))
                                .unwrap_or_default()
                                .to_vec();
                            Inbound::Framing(FramerError::Decode {
                                header,
                                error,
                                head,
                            })
                        }
                    });
                }
                Err(e) => {
                    fatal = e.is_fatal();
                    items.push(Inbound::Framing(e));
                    if fatal {
                        break;
                    }
                }
            }
        }
        if !items.is_empty() && core.send(ToCore::Inbound { conn, items }).await.is_err() {
            return "the controller is stopping".to_owned();
        }
    }
}

/// Writes what the core queues until it drops the queue or a write fails. The write half is
/// shared with the core task (which writes directly when nothing is queued); when both let go
/// of it, dropping it shuts the sending side down after everything was written.
async fn write_loop(
    wr: Arc<OwnedWriteHalf>,
    mut rx: mpsc::Receiver<Vec<u8>>,
    queued: Arc<AtomicUsize>,
) -> std::io::Result<()> {
    while let Some(mut buf) = rx.recv().await {
        let mut n = 1;
        while buf.len() < MAX_WRITE {
            match rx.try_recv() {
                Ok(more) => {
                    buf.extend_from_slice(&more);
                    n += 1;
                }
                Err(_) => break,
            }
        }
        let mut done = 0;
        while done < buf.len() {
            wr.writable().await?;
            match wr.try_write(buf.get(done..).unwrap_or_default()) {
                Ok(k) => done += k,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        queued.fetch_sub(n, Ordering::AcqRel);
    }
    Ok(())
}
