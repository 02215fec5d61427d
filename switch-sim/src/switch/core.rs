//! The switch core: the one task that owns the [`Pipeline`]. Everything else (controller
//! connections, carrier watchers, the handle) talks to it over channels; it reads the ports
//! itself, so a frame goes from the socket through the pipeline to the output sockets
//! without crossing a thread.
//!
//! What it adds to the pipeline (OF1.3.5 §6.3.5–§6.3.6, §7.3.9–§7.3.10):
//! - roles per connection: the master election's generation id (`OFPRRFC_STALE`), at most
//!   one MASTER (a new master turns the old one into a SLAVE), `OFPBRC_IS_SLAVE` for a slave's
//!   state-changing messages;
//! - the asynchronous configuration per connection (SET_ASYNC / GET_ASYNC, the spec's
//!   defaults: a master or equal gets PACKET_IN for no-match and action, every PORT_STATUS and
//!   FLOW_REMOVED; a slave gets PORT_STATUS only); the pipeline itself generates every
//!   asynchronous message and the core filters them per connection and role;
//! - replies go to the connection that asked, in the order of its requests, so a BARRIER_REPLY
//!   follows every reply and error of the messages before it.
//!
//! Guarantees: the core never waits for a connection (replies are always queued; asynchronous
//! messages beyond a connection's limit are dropped and counted); no
//! connection event changes the tables except the messages themselves (a controller that
//! disappears leaves every flow and group in place, and the switch never forwards by itself:
//! fail-secure); frames without a whole Ethernet header never reach the pipeline.

use std::collections::BTreeMap;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use openflow::error_msg::{BadRequestCode, ErrorCode};
use openflow::msg::{FlowRemovedMask, PacketInMask, PortStatusMask};
use openflow::{AsyncConfig, Body, ControllerRole, ErrorMsg, Message, PortNo, Role, Xid};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, Sleep};
use tracing::{debug, info, warn};

use super::roles::{denied_to_slave, Election};
use super::{ConnectionInfo, Counters, PortCounters};
use crate::agent::conn::{ConnEvent, ConnId};
use crate::ports::raw::RawPort;
use crate::ports::{check_frame, FrameDefect, MemoryEnd};
use crate::{Pipeline, Time};

/// Inputs from the connection tasks and watchers.
#[derive(Debug)]
pub(crate) enum CoreInput {
    Conn(ConnEvent),
    Carrier { port: PortNo, up: bool },
}

/// Requests from the switch handle.
pub(crate) enum Command {
    Counters(oneshot::Sender<Counters>),
    Inspect(Box<dyn FnOnce(&Pipeline) + Send>),
    Stop,
}

pub(crate) enum PortIo {
    Raw(RawPort),
    Memory(MemoryEnd),
}

pub(crate) struct PortSlot {
    pub no: PortNo,
    pub io: PortIo,
    pub stats: PortCounters,
    /// The far end of an in-memory link is gone, or the socket failed: not polled any more.
    pub dead: bool,
}

struct Conn {
    tx: mpsc::UnboundedSender<Message>,
    /// Messages queued on `tx` that the connection has not taken yet.
    queued: Arc<AtomicUsize>,
    peer: SocketAddr,
    passive: bool,
    role: ControllerRole,
    async_config: AsyncConfig,
}

/// OF1.3.5 §7.3.10, table 13: what a new connection receives.
pub(crate) fn default_async() -> AsyncConfig {
    AsyncConfig {
        packet_in_mask: [
            PacketInMask::NO_MATCH | PacketInMask::ACTION,
            PacketInMask::empty(),
        ],
        port_status_mask: [PortStatusMask::all(), PortStatusMask::all()],
        flow_removed_mask: [FlowRemovedMask::all(), FlowRemovedMask::empty()],
    }
}

fn bit(v: u8) -> u32 {
    1u32.checked_shl(u32::from(v)).unwrap_or(0)
}

impl Conn {
    /// Whether this connection receives an asynchronous message, by its role and async
    /// configuration.
    fn wants(&self, msg: &Message) -> bool {
        let i = usize::from(self.role == ControllerRole::Slave);
        let a = &self.async_config;
        let (mask, b) = match &msg.body {
            Body::PacketIn(pi) => (a.packet_in_mask[i].bits(), bit(pi.reason.value())),
            Body::FlowRemoved(fr) => (a.flow_removed_mask[i].bits(), bit(fr.reason.value())),
            Body::PortStatus(ps) => (a.port_status_mask[i].bits(), bit(ps.reason.value())),
            _ => return true,
        };
        mask & b != 0
    }
}

enum Wake {
    Command(Command),
    CommandsGone,
    Input(CoreInput),
    Timer,
    Rx(usize),
    PortGone(usize, String),
}

pub(crate) struct Core {
    pipeline: Pipeline,
    epoch: Instant,
    ports: Vec<PortSlot>,
    by_no: BTreeMap<u32, usize>,
    conns: BTreeMap<ConnId, Conn>,
    election: Election,
    inputs: mpsc::Receiver<CoreInput>,
    /// Held so that `inputs` never reports closed (which would make it always ready).
    _inputs_tx: mpsc::Sender<CoreInput>,
    commands: mpsc::UnboundedReceiver<Command>,
    timer: Pin<Box<Sleep>>,
    armed: Option<Time>,
    batch: usize,
    mem_batch: Vec<Vec<u8>>,
    out: Vec<(PortNo, Vec<u8>)>,
    dirty: Vec<usize>,
    turn: u64,
    rr: usize,
    async_dropped: u64,
    async_limit: usize,
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

impl Core {
    pub fn new(
        mut pipeline: Pipeline,
        ports: Vec<PortSlot>,
        inputs: mpsc::Receiver<CoreInput>,
        inputs_tx: mpsc::Sender<CoreInput>,
        commands: mpsc::UnboundedReceiver<Command>,
        batch: usize,
        async_limit: usize,
    ) -> Core {
        // The pipeline generates every asynchronous message; the core filters them per
        // connection.
        let all = AsyncConfig {
            packet_in_mask: [PacketInMask::all(); 2],
            port_status_mask: [PortStatusMask::all(); 2],
            flow_removed_mask: [FlowRemovedMask::all(); 2],
        };
        pipeline.handle_message(Time::ZERO, &Message::new(Xid(0), Body::SetAsync(all)));
        while pipeline.poll_output().is_some() {}
        let by_no = ports.iter().enumerate().map(|(i, p)| (p.no.0, i)).collect();
        Core {
            pipeline,
            epoch: Instant::now(),
            ports,
            by_no,
            conns: BTreeMap::new(),
            election: Election::default(),
            inputs,
            _inputs_tx: inputs_tx,
            commands,
            timer: Box::pin(tokio::time::sleep_until(far_future())),
            armed: None,
            batch: batch.max(1),
            mem_batch: Vec::new(),
            out: Vec::new(),
            dirty: Vec::new(),
            turn: 0,
            rr: 0,
            async_dropped: 0,
            async_limit: async_limit.max(1),
        }
    }

    fn now(&self) -> Time {
        Time::from_duration(self.epoch.elapsed())
    }

    /// Runs until a Stop command (or until the handle is gone).
    pub async fn run(mut self) {
        loop {
            let wake = poll_fn(|cx| self.poll_wake(cx)).await;
            match wake {
                Wake::Command(Command::Stop) | Wake::CommandsGone => break,
                Wake::Command(c) => self.command(c),
                Wake::Input(i) => self.input(i),
                Wake::Timer => {
                    let now = self.now();
                    self.pipeline.handle_timeout(now);
                    self.armed = None;
                    self.flush_pipeline(None);
                }
                Wake::Rx(i) => self.process_rx(i),
                Wake::PortGone(i, why) => self.port_gone(i, &why),
            }
            self.flush_ports();
            self.arm_timer();
        }
        for p in &self.ports {
            let s = &p.stats;
            info!(
                port = s.port_no,
                name = %s.name,
                rx = s.rx_frames,
                tx = s.tx_frames,
                tx_dropped = s.tx_dropped,
                rx_own = s.rx_own,
                rx_runt = s.rx_runt,
                rx_malformed = s.rx_malformed,
                rx_truncated = s.rx_truncated,
                "port counters"
            );
        }
        info!("switch core stopped");
    }

    fn arm_timer(&mut self) {
        let next = self.pipeline.poll_timeout();
        if next != self.armed {
            self.armed = next;
            let when = next.map_or_else(far_future, |t| self.epoch + t.since_epoch());
            self.timer.as_mut().reset(when);
        }
    }

    fn poll_wake(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        match self.commands.poll_recv(cx) {
            Poll::Ready(Some(c)) => return Poll::Ready(Wake::Command(c)),
            Poll::Ready(None) => return Poll::Ready(Wake::CommandsGone),
            Poll::Pending => {}
        }
        // Alternate between controller input and ports so neither starves the other.
        self.turn = self.turn.wrapping_add(1);
        let inputs_first = self.turn & 1 == 0;
        if inputs_first {
            if let Poll::Ready(Some(i)) = self.inputs.poll_recv(cx) {
                return Poll::Ready(Wake::Input(i));
            }
        }
        if let Poll::Ready(w) = self.poll_ports(cx) {
            return Poll::Ready(w);
        }
        if !inputs_first {
            if let Poll::Ready(Some(i)) = self.inputs.poll_recv(cx) {
                return Poll::Ready(Wake::Input(i));
            }
        }
        if self.armed.is_some() && self.timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Wake::Timer);
        }
        Poll::Pending
    }

    fn poll_ports(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        let n = self.ports.len();
        for k in 0..n {
            let i = (self.rr + k) % n;
            let Some(slot) = self.ports.get_mut(i) else {
                continue;
            };
            if slot.dead {
                continue;
            }
            let wake = match &mut slot.io {
                PortIo::Raw(r) => match r.poll_recv(cx) {
                    Poll::Ready(Ok(_)) => Some(Wake::Rx(i)),
                    Poll::Ready(Err(e)) => Some(Wake::PortGone(i, e.to_string())),
                    Poll::Pending => None,
                },
                PortIo::Memory(m) => match m.poll_recv(cx) {
                    Poll::Ready(Some(f)) => {
                        self.mem_batch.push(f);
                        while self.mem_batch.len() < self.batch {
                            match m.try_recv() {
                                Some(f) => self.mem_batch.push(f),
                                None => break,
                            }
                        }
                        Some(Wake::Rx(i))
                    }
                    Poll::Ready(None) => {
                        Some(Wake::PortGone(i, "far end of the link is gone".into()))
                    }
                    Poll::Pending => None,
                },
            };
            if let Some(w) = wake {
                self.rr = (i + 1) % n;
                return Poll::Ready(w);
            }
        }
        Poll::Pending
    }

    fn process_rx(&mut self, i: usize) {
        let now = self.now();
        let Core {
            pipeline,
            ports,
            out,
            mem_batch,
            ..
        } = self;
        let Some(PortSlot { no, io, stats, .. }) = ports.get_mut(i) else {
            return;
        };
        let mut one = |frame: &[u8], stats: &mut PortCounters| {
            if let Err(d) = check_frame(frame) {
                match d {
                    FrameDefect::Runt(_) => stats.rx_runt += 1,
                    _ => stats.rx_malformed += 1,
                }
                return;
            }
            stats.rx_frames += 1;
            stats.rx_bytes += frame.len() as u64;
            out.extend(pipeline.process(now, *no, frame).outputs);
        };
        match io {
            PortIo::Raw(r) => {
                for k in 0..r.batch_len() {
                    let s = r.slot(k);
                    if s.outgoing {
                        stats.rx_own += 1;
                    } else if s.truncated {
                        stats.rx_truncated += 1;
                    } else {
                        one(r.frame(k), stats);
                    }
                }
            }
            PortIo::Memory(_) => {
                for f in mem_batch.drain(..) {
                    one(&f, stats);
                }
            }
        }
        let mut outs = std::mem::take(&mut self.out);
        for (p, f) in outs.drain(..) {
            self.transmit(p, f);
        }
        self.out = outs;
        // PACKET_INs the batch caused.
        self.flush_pipeline(None);
    }

    fn transmit(&mut self, port: PortNo, frame: Vec<u8>) {
        let Some(&i) = self.by_no.get(&port.0) else {
            return;
        };
        let Some(slot) = self.ports.get_mut(i) else {
            return;
        };
        slot.stats.tx_frames += 1;
        slot.stats.tx_bytes += frame.len() as u64;
        match &mut slot.io {
            PortIo::Raw(r) => {
                let failed = r.queue(frame);
                slot.stats.count_tx_failures(failed);
                if !self.dirty.contains(&i) {
                    self.dirty.push(i);
                }
            }
            PortIo::Memory(m) => {
                if !m.send(frame) {
                    slot.stats.count_tx_failures(1);
                }
            }
        }
    }

    fn flush_ports(&mut self) {
        for i in std::mem::take(&mut self.dirty) {
            if let Some(slot) = self.ports.get_mut(i) {
                if let PortIo::Raw(r) = &mut slot.io {
                    let failed = r.flush();
                    slot.stats.count_tx_failures(failed);
                }
            }
        }
    }

    fn port_gone(&mut self, i: usize, why: &str) {
        let Some(slot) = self.ports.get_mut(i) else {
            return;
        };
        match slot.io {
            // The neighbour switch stopped (a fabric shutting down): news, not a fault.
            PortIo::Memory(_) => info!(port = slot.no.0, reason = why, "port stopped receiving"),
            PortIo::Raw(_) => warn!(port = slot.no.0, reason = why, "port stopped receiving"),
        }
        slot.dead = true;
        let no = slot.no;
        self.set_link(no, false);
    }

    fn set_link(&mut self, port: PortNo, up: bool) {
        if let Some(slot) = self.by_no.get(&port.0).and_then(|&i| self.ports.get_mut(i)) {
            if slot.stats.up != up {
                info!(port = port.0, up, "link state changed");
            }
            slot.stats.up = up;
        }
        if self.pipeline.set_port_up(port, up).is_ok() {
            self.flush_pipeline(None);
        }
    }

    fn input(&mut self, input: CoreInput) {
        match input {
            CoreInput::Conn(ConnEvent::Opened {
                id,
                peer,
                passive,
                tx,
                queued,
            }) => {
                self.conns.insert(
                    id,
                    Conn {
                        tx,
                        queued,
                        peer,
                        passive,
                        role: ControllerRole::Equal,
                        async_config: default_async(),
                    },
                );
            }
            CoreInput::Conn(ConnEvent::Message { id, msg }) => self.controller_message(id, msg),
            CoreInput::Conn(ConnEvent::Reply { id, msg }) => self.send_to(id, msg),
            CoreInput::Conn(ConnEvent::Closed { id, reason }) => {
                if let Some(c) = self.conns.remove(&id) {
                    debug!(peer = %c.peer, %reason, "connection removed; tables kept");
                }
                // BIER transactions it staged and never committed are dropped (draft §6.2).
                self.pipeline.close_channel(id.0);
            }
            CoreInput::Carrier { port, up } => {
                let dead = self
                    .by_no
                    .get(&port.0)
                    .and_then(|&i| self.ports.get(i))
                    .is_none_or(|s| s.dead);
                if !dead {
                    self.set_link(port, up);
                }
            }
        }
    }

    fn controller_message(&mut self, id: ConnId, msg: Message) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        match &msg.body {
            Body::RoleRequest(r) => {
                let reply = match self.election.request(r.role, r.generation_id) {
                    Err(code) => error_for(&msg, code.into()),
                    Ok(new) => {
                        if let Some(role) = new {
                            conn.role = role;
                        }
                        let role = conn.role;
                        if new == Some(ControllerRole::Master) {
                            // §6.3.5: at most one master; the others become slaves.
                            for (other, c) in self.conns.iter_mut() {
                                if *other != id && c.role == ControllerRole::Master {
                                    c.role = ControllerRole::Slave;
                                }
                            }
                        }
                        let generation_id = self.election.generation().unwrap_or(0);
                        Message::new(
                            msg.xid,
                            Body::RoleReply(Role {
                                role,
                                generation_id,
                            }),
                        )
                    }
                };
                self.send_to(id, reply);
            }
            Body::SetAsync(a) => conn.async_config = *a,
            Body::GetAsyncRequest => {
                let reply = Message::new(msg.xid, Body::GetAsyncReply(conn.async_config));
                self.send_to(id, reply);
            }
            b if conn.role == ControllerRole::Slave && denied_to_slave(b) => {
                let reply = error_for(&msg, BadRequestCode::IsSlave.into());
                self.send_to(id, reply);
            }
            _ => {
                let now = self.now();
                self.pipeline.handle_message_on(now, id.0, &msg);
                self.flush_pipeline(Some(id));
            }
        }
    }

    /// Sends what the pipeline produced: replies to `requester`, asynchronous messages to
    /// every connection that wants them, PACKET_OUT frames to their ports.
    fn flush_pipeline(&mut self, requester: Option<ConnId>) {
        while let Some(m) = self.pipeline.poll_output() {
            match (&m.body, requester) {
                (Body::PacketIn(_) | Body::FlowRemoved(_) | Body::PortStatus(_), _) => {
                    self.dispatch_async(&m)
                }
                (Body::Experimenter(e), _) if crate::bier::is_tsm_event(e) => {
                    self.dispatch_async(&m)
                }
                (_, Some(id)) => self.send_to(id, m),
                (_, None) => debug!(kind = %m.kind(), "pipeline reply without a request"),
            }
        }
        while let Some((p, f)) = self.pipeline.poll_transmit() {
            self.transmit(p, f);
        }
    }

    fn dispatch_async(&mut self, m: &Message) {
        let mut gone = Vec::new();
        for (id, c) in &self.conns {
            if !c.wants(m) {
                continue;
            }
            // A controller that falls behind loses asynchronous messages, never replies.
            if c.queued.load(Ordering::Relaxed) >= self.async_limit {
                self.async_dropped += 1;
                continue;
            }
            c.queued.fetch_add(1, Ordering::Relaxed);
            if c.tx.send(m.clone()).is_err() {
                gone.push(*id);
            }
        }
        for id in gone {
            self.conns.remove(&id);
        }
    }

    fn send_to(&mut self, id: ConnId, m: Message) {
        let Some(c) = self.conns.get(&id) else {
            return;
        };
        c.queued.fetch_add(1, Ordering::Relaxed);
        if c.tx.send(m).is_err() {
            self.conns.remove(&id);
        }
    }

    fn command(&mut self, c: Command) {
        match c {
            Command::Counters(reply) => {
                let _ = reply.send(self.counters());
            }
            Command::Inspect(f) => f(&self.pipeline),
            Command::Stop => {}
        }
    }

    fn counters(&self) -> Counters {
        let flows = (0..=u8::MAX)
            .map(|t| self.pipeline.flow_count(openflow::TableId(t)))
            .sum();
        Counters {
            ports: self.ports.iter().map(|p| p.stats.clone()).collect(),
            connections: self
                .conns
                .values()
                .map(|c| ConnectionInfo {
                    peer: c.peer,
                    passive: c.passive,
                    role: c.role,
                })
                .collect(),
            pipeline_drops: self.pipeline.drop_counters(),
            flows,
            groups: self.pipeline.group_count(),
            bier: self.pipeline.bier_counters().cloned(),
            async_dropped: self.async_dropped,
            generation_id: self.election.generation(),
        }
    }
}

fn error_for(msg: &Message, code: ErrorCode) -> Message {
    // OF1.3.5 §7.4.4: at least the first 64 bytes of the refused request.
    let bytes = msg.encode().unwrap_or_default();
    Message::new(msg.xid, ErrorMsg::for_request(code, &bytes))
}
