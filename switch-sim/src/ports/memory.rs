//! In-memory Ethernet links: two ends joined by a bounded queue in each direction, with a
//! carrier both ends share.
//!
//! Guarantees: frames arrive in the order they were sent, each once; a frame sent while the
//! carrier is down or the far queue is full is dropped and counted (like a wire, a link never
//! makes its sender wait); `set_carrier` on either end is seen by both.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

#[derive(Debug)]
struct LinkState {
    up: AtomicBool,
    carrier: watch::Sender<bool>,
    /// Frames each side's sends lost (carrier down or queue full).
    dropped: [AtomicU64; 2],
}

/// One end of an in-memory link: a switch port, or a simulated host's interface.
#[derive(Debug)]
pub struct MemoryEnd {
    tx: mpsc::Sender<Vec<u8>>,
    rx: mpsc::Receiver<Vec<u8>>,
    link: Arc<LinkState>,
    side: usize,
}

/// A link whose queues hold 4096 frames in each direction.
pub fn memory_link() -> (MemoryEnd, MemoryEnd) {
    memory_link_with_capacity(4096)
}

/// A link whose queues hold `capacity` frames (at least 1) in each direction.
pub fn memory_link_with_capacity(capacity: usize) -> (MemoryEnd, MemoryEnd) {
    let (a_tx, b_rx) = mpsc::channel(capacity.max(1));
    let (b_tx, a_rx) = mpsc::channel(capacity.max(1));
    let (carrier, _) = watch::channel(true);
    let link = Arc::new(LinkState {
        up: AtomicBool::new(true),
        carrier,
        dropped: [AtomicU64::new(0), AtomicU64::new(0)],
    });
    (
        MemoryEnd {
            tx: a_tx,
            rx: a_rx,
            link: link.clone(),
            side: 0,
        },
        MemoryEnd {
            tx: b_tx,
            rx: b_rx,
            link,
            side: 1,
        },
    )
}

impl MemoryEnd {
    /// Sends a frame to the other end. Returns `false` if it was dropped (carrier down, the
    /// other end's queue full, or the other end gone).
    pub fn send(&self, frame: Vec<u8>) -> bool {
        let ok = self.link.up.load(Ordering::Acquire) && self.tx.try_send(frame).is_ok();
        if !ok {
            if let Some(d) = self.link.dropped.get(self.side) {
                d.fetch_add(1, Ordering::Relaxed);
            }
        }
        ok
    }

    /// The next frame from the other end; `None` once the other end is gone and the queue is
    /// empty.
    pub async fn recv(&mut self) -> Option<Vec<u8>> {
        self.rx.recv().await
    }

    /// The next frame if one is queued.
    pub fn try_recv(&mut self) -> Option<Vec<u8>> {
        self.rx.try_recv().ok()
    }

    /// The next frame, waiting at most `timeout`.
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Vec<u8>>> {
        self.rx.poll_recv(cx)
    }

    /// Takes the link up or down; both ends see the change. Frames already queued are still
    /// delivered.
    pub fn set_carrier(&self, up: bool) {
        self.link_control().set_carrier(up);
    }

    /// Whether the link is up.
    pub fn carrier(&self) -> bool {
        self.link.up.load(Ordering::Acquire)
    }

    /// A receiver that sees every carrier change.
    pub fn carrier_watch(&self) -> watch::Receiver<bool> {
        self.link.carrier.subscribe()
    }

    /// A handle on the link's carrier that outlives this end being handed to a switch (to
    /// cut a link between two switches, say).
    pub fn link_control(&self) -> LinkControl {
        LinkControl(self.link.clone())
    }

    /// Frames this end's sends lost.
    pub fn dropped(&self) -> u64 {
        self.link
            .dropped
            .get(self.side)
            .map_or(0, |d| d.load(Ordering::Relaxed))
    }
}

/// The carrier of an in-memory link, shared by both ends and every handle.
#[derive(Clone, Debug)]
pub struct LinkControl(Arc<LinkState>);

impl LinkControl {
    /// Takes the link up or down; both ends see the change.
    pub fn set_carrier(&self, up: bool) {
        self.0.up.store(up, Ordering::Release);
        self.0.carrier.send_replace(up);
    }

    /// Whether the link is up.
    pub fn carrier(&self) -> bool {
        self.0.up.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_cross_in_order_and_carrier_is_shared() {
        let (a, mut b) = memory_link_with_capacity(2);
        assert!(a.send(vec![1]));
        assert!(a.send(vec![2]));
        assert!(!a.send(vec![3]), "queue full");
        assert_eq!(b.recv().await, Some(vec![1]));
        assert_eq!(b.try_recv(), Some(vec![2]));
        assert_eq!(b.try_recv(), None);
        let mut w = a.carrier_watch();
        b.set_carrier(false);
        assert!(!a.carrier());
        w.changed().await.unwrap();
        assert!(!*w.borrow());
        assert!(!a.send(vec![4]));
        assert_eq!(a.dropped(), 2);
        assert_eq!(b.dropped(), 0);
        assert_eq!(b.recv_timeout(Duration::from_millis(10)).await, None);
    }
}
