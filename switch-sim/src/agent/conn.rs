//! The tokio shell around a [`Session`]: one task per TCP connection carries bytes between the
//! socket and the session, messages between the session and the switch core, and sleeps until
//! the session's next deadline. Also the two ways connections start: an active controller
//! target (connect, and reconnect with [`Backoff`] whenever the connection ends) and a passive
//! listener (accept any number of connections).
//!
//! Guarantees: messages of one connection reach the core in the order they arrived, and the
//! core's messages leave in the order it sent them; the core never waits for a connection
//! (replies are queued without limit, which stays bounded because a connection only reads
//! more requests while its replies get written; asynchronous messages stop being queued at
//! `async_limit`); a write that stalls for two probe intervals closes the connection; every
//! task ends when the switch stops.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openflow::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn, Instrument};

use super::{Backoff, CloseReason, Inbound, Session, SessionConfig};
use crate::switch::core::CoreInput;

/// A connection's identity inside one switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ConnId(pub u64);

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

impl ConnId {
    fn next() -> ConnId {
        ConnId(NEXT_CONN.fetch_add(1, Ordering::Relaxed))
    }
}

/// What a connection tells the core.
#[derive(Debug)]
pub(crate) enum ConnEvent {
    /// Negotiation done: the core may send on `tx` from now on.
    Opened {
        id: ConnId,
        peer: SocketAddr,
        passive: bool,
        tx: mpsc::UnboundedSender<Message>,
        /// Messages queued on `tx` and not yet taken by the connection.
        queued: Arc<AtomicUsize>,
    },
    /// A message from the controller.
    Message { id: ConnId, msg: Message },
    /// An error the session made for an unreadable message, to send back in order.
    Reply { id: ConnId, msg: Message },
    /// The connection ended (only after `Opened`).
    Closed { id: ConnId, reason: CloseReason },
}

/// What every connection task needs.
#[derive(Clone, Debug)]
pub(crate) struct AgentCtx {
    pub core: mpsc::Sender<CoreInput>,
    pub session: SessionConfig,
    pub stop: watch::Receiver<bool>,
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the switch is gone: stop as well.
    let _ = stop.wait_for(|s| *s).await;
}

/// Serves one connection until it closes. Returns whether negotiation succeeded, and why the
/// connection ended.
pub(crate) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    passive: bool,
    ctx: &AgentCtx,
) -> (bool, CloseReason) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let id = ConnId::next();
    let mut stop = ctx.stop.clone();
    let mut session = Session::new(std::time::Instant::now(), ctx.session);
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let queued = Arc::new(AtomicUsize::new(0));
    // Handed to the core when the channel opens; until then nothing can arrive on `rx`.
    let mut tx = Some(tx);
    let mut opened = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Hand what arrived to the core, in order (waiting if the core is busy: TCP then
        // pushes back on the controller).
        while let Some(item) = session.poll_inbound() {
            let ev = match item {
                Inbound::Open => {
                    opened = true;
                    info!(%peer, passive, "OpenFlow channel open");
                    let Some(tx) = tx.take() else { continue };
                    ConnEvent::Opened {
                        id,
                        peer,
                        passive,
                        tx,
                        queued: queued.clone(),
                    }
                }
                Inbound::Message(msg) => ConnEvent::Message { id, msg },
                Inbound::Reply(msg) => ConnEvent::Reply { id, msg },
            };
            // While the core is busy, keep taking its messages for us: it never waits for a
            // connection, and would drop one whose queue fills up.
            let send = ctx.core.send(CoreInput::Conn(ev));
            tokio::pin!(send);
            let sent = loop {
                tokio::select! {
                    biased;
                    r = &mut send => break r.is_ok(),
                    Some(m) = rx.recv(), if opened => {
                        queued.fetch_sub(1, Ordering::Relaxed);
                        session.send(&m);
                    }
                }
            };
            if !sent {
                session.close(CloseReason::Shutdown);
            }
        }
        if session.has_output() {
            let out = session.take_outbox();
            let stall = ctx.session.probe_interval * 2;
            match tokio::time::timeout(stall, wr.write_all(&out)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => session.close(CloseReason::Io(e.to_string())),
                Err(_) => {
                    session.close(CloseReason::Io(format!("peer read nothing for {stall:?}")))
                }
            }
        }
        if session.close_reason().is_some() {
            break;
        }
        let deadline = session
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            biased;
            _ = stopped(&mut stop) => session.close(CloseReason::Shutdown),
            r = rd.read(&mut buf) => match r {
                Ok(0) => session.close(CloseReason::PeerClosed),
                Ok(n) => session.handle_bytes(std::time::Instant::now(), buf.get(..n).unwrap_or_default()),
                Err(e) => session.close(CloseReason::Io(e.to_string())),
            },
            m = rx.recv(), if opened => match m {
                Some(m) => {
                    session.send(&m);
                    // Batch whatever else is queued into the same write.
                    let mut n = 1;
                    while let Ok(m) = rx.try_recv() {
                        session.send(&m);
                        n += 1;
                    }
                    queued.fetch_sub(n, Ordering::Relaxed);
                }
                None => session.close(CloseReason::Dropped("switch closed the channel".into())),
            },
            _ = tokio::time::sleep_until(deadline) => session.handle_timeout(std::time::Instant::now()),
        }
    }
    // Bytes queued before closing (an error reply, a HELLO_FAILED) still go out.
    if session.has_output() {
        let out = session.take_outbox();
        let _ = tokio::time::timeout(Duration::from_secs(1), wr.write_all(&out)).await;
    }
    let _ = wr.shutdown().await;
    let reason = session
        .close_reason()
        .cloned()
        .unwrap_or(CloseReason::Shutdown);
    if opened {
        let _ = ctx
            .core
            .send(CoreInput::Conn(ConnEvent::Closed {
                id,
                reason: reason.clone(),
            }))
            .await;
    }
    info!(%peer, %reason, "OpenFlow channel closed");
    (opened, reason)
}

/// Connects to a controller and keeps reconnecting, with backoff, until the switch stops. The
/// backoff returns to its minimum after a connection that negotiated successfully.
pub(crate) async fn run_active(host: String, port: u16, ctx: AgentCtx, mut backoff: Backoff) {
    let mut stop = ctx.stop.clone();
    loop {
        if *stop.borrow() {
            return;
        }
        let attempt = async {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| format!("resolving {host}: {e}"))?
                .collect();
            let mut last = format!("{host}:{port} has no address");
            for a in addrs {
                match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(a)).await {
                    Ok(Ok(s)) => return Ok((s, a)),
                    Ok(Err(e)) => last = format!("{a}: {e}"),
                    Err(_) => last = format!("{a}: connect timed out"),
                }
            }
            Err(last)
        };
        let result = tokio::select! {
            biased;
            _ = stopped(&mut stop) => return,
            r = attempt => r,
        };
        match result {
            Ok((stream, peer)) => {
                debug!(%peer, "connected to controller");
                let (opened, _) = serve(stream, peer, false, &ctx).await;
                if opened {
                    backoff.reset();
                }
            }
            Err(e) => {
                debug!(controller = %format!("{host}:{port}"), error = %e, "controller unreachable")
            }
        }
        let delay = backoff.next_delay();
        debug!(?delay, "next controller connection attempt");
        tokio::select! {
            biased;
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Accepts connections until the switch stops; each is served by its own task.
pub(crate) async fn run_listener(listener: TcpListener, ctx: AgentCtx) {
    let mut stop = ctx.stop.clone();
    loop {
        tokio::select! {
            biased;
            _ = stopped(&mut stop) => return,
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    let ctx = ctx.clone();
                    tokio::spawn(
                        async move {
                            serve(stream, peer, true, &ctx).await;
                        }
                        .in_current_span(),
                    );
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}
