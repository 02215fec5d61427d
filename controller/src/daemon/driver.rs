//! The one task that owns the [`Controller`]: every connection event, API command and query
//! comes to it over one channel ([`ToCore`]); it feeds them to the core at the clock's time,
//! wakes the core at `poll_timeout` (tokio `sleep_until`), and carries out `poll_output`:
//! messages are encoded into a per-connection buffer and handed to the connection's writer
//! once per turn (one write for everything queued), closes drop the writer, answers complete
//! API requests, events are logged and broadcast, snapshots go to the persister (the newest
//! one, at most every [`PERSIST_EVERY`]).
//! A connection's bytes go straight into its socket when nothing of it is queued (no task
//! wake-up), else to its writer task behind what is queued ([`Outbox`]).
//!
//! Guarantees:
//! - No lock around the core: only this task touches it; queries run inside it.
//! - A command runs to its end in the core whether or not its requester still waits: a
//!   subset install finishes or rolls back. A subset whose requester is gone (timed out or
//!   disconnected) is removed again once it is ready, since nobody knows its address.
//! - The core never waits for a switch: a connection whose write queue is full is closed
//!   (the core sees it as a disconnect).
//! - A change reaches the persister at once after a quiet spell of [`PERSIST_EVERY`], else
//!   at the end of it (so a crash loses at most that much plus one save); snapshots go in the
//!   order they were taken, never an older after a newer one.
//! - On shutdown the last snapshot goes to the persister and every connection is flushed and
//!   closed (switches keep their rules).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use openflow::{Body, FramerError, Message};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::{sleep_until, Duration, Instant};
use tracing::{debug, error, info, warn, Span};

use api::ApiError;

use super::clock::Clock;
use super::errors::api_error;
use super::settings::Settings;
use crate::command::{Command, GroupInfo, Reply, RequestId, SubsetInfo, SubsetState};
use crate::event::{Event, EventKind};
use crate::machine::{ConnId, Controller, Input, Output};
use crate::snapshot::Snapshot;
use crate::topology::Dpid;

/// What a connection's reader hands over: a decoded message or a framing error.
#[derive(Debug)]
pub(crate) enum Inbound {
    Message { version: u8, msg: Message },
    Framing(FramerError),
}

/// A query: runs inside the core task with read access to everything.
pub(crate) type Query = Box<dyn FnOnce(&View<'_>) + Send>;

/// Everything the core task is told.
pub(crate) enum ToCore {
    Connected {
        conn: ConnId,
        peer: SocketAddr,
        outbox: Outbox,
        span: Span,
    },
    Inbound {
        conn: ConnId,
        items: Vec<Inbound>,
    },
    Closed {
        conn: ConnId,
        why: String,
    },
    Command {
        command: Command,
        span: Span,
        reply: oneshot::Sender<Result<Done, ApiError>>,
    },
    Query(Query),
    /// The requester of this trace id's subset gave up: remove it, installing or ready; the
    /// answer lists the switches it was (being) installed on.
    Cancel {
        trace_id: u64,
        span: Span,
        reply: oneshot::Sender<Vec<Dpid>>,
    },
}

/// A command's success, with what the API adds to the core's answer.
#[derive(Debug)]
pub(crate) enum Done {
    Group {
        info: GroupInfo,
        created: bool,
        version: u64,
    },
    GroupDeleted,
    Subset(SubsetInfo),
    SubsetDeleted,
    Bier(crate::machine::bier_state::BierReply),
    Rendezvous(crate::rendezvous::RvReply),
}

/// What a pending request needs to finish its answer.
#[derive(Debug)]
pub(crate) enum PendingKind {
    PutGroup {
        existed: Option<GroupInfo>,
    },
    DeleteGroup,
    CreateSubset {
        members: Vec<IpAddr>,
        lease_ms: u64,
        trace_id: Option<u64>,
    },
    DeleteSubset,
    Bier,
    Rendezvous,
    /// The daemon's own removal of an abandoned subset.
    Abandoned {
        addr: IpAddr,
    },
}

struct Pending {
    reply: Option<oneshot::Sender<Result<Done, ApiError>>>,
    span: Span,
    kind: PendingKind,
}

/// Where a connection's bytes go: straight into the socket when its writer task has nothing
/// queued (no task wake-up on the common path), else behind what is queued, in order.
pub(crate) struct Outbox {
    pub wr: Arc<OwnedWriteHalf>,
    pub tx: mpsc::Sender<Vec<u8>>,
    /// Buffers handed to the writer and not yet written. Only the core task adds to it, so
    /// when it reads 0 nothing of this connection is in flight and a direct write keeps the
    /// order.
    pub queued: Arc<AtomicUsize>,
}

/// Why bytes could not be handed over.
enum Stuck {
    /// The writer's queue is full: the switch is not reading.
    Full,
    /// The socket failed.
    Broken,
}

/// The most capacity a connection's encode buffer keeps between turns (a bulk install's
/// turn is about 1 MiB; regrowing it from nothing every turn copied it about twice).
const KEEP_OUT: usize = 4 << 20;

impl Outbox {
    /// Like [`Outbox::hand_over`], but a buffer the socket takes whole stays with the caller,
    /// emptied with its capacity kept, for the next turn's messages.
    fn hand_over_kept(&self, buf: &mut Vec<u8>) -> Result<(), Stuck> {
        if self.queued.load(Ordering::Acquire) == 0 {
            match self.wr.try_write(buf) {
                Ok(n) if n == buf.len() => {
                    buf.clear();
                    if buf.capacity() > KEEP_OUT {
                        *buf = Vec::new();
                    }
                    return Ok(());
                }
                Ok(n) => {
                    let rest = buf.get(n..).unwrap_or_default().to_vec();
                    buf.clear();
                    return self.queue(rest);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return Err(Stuck::Broken),
            }
        }
        self.queue(std::mem::take(buf))
    }

    fn hand_over(&self, buf: Vec<u8>) -> Result<(), Stuck> {
        let rest = if self.queued.load(Ordering::Acquire) == 0 {
            match self.wr.try_write(&buf) {
                Ok(n) if n == buf.len() => return Ok(()),
                Ok(n) => buf.get(n..).unwrap_or_default().to_vec(),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => buf,
                Err(_) => return Err(Stuck::Broken),
            }
        } else {
            buf
        };
        self.queue(rest)
    }

    /// Behind what is queued, for the writer task.
    fn queue(&self, rest: Vec<u8>) -> Result<(), Stuck> {
        self.queued.fetch_add(1, Ordering::AcqRel);
        match self.tx.try_send(rest) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.queued.fetch_sub(1, Ordering::AcqRel);
                Err(Stuck::Full)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.queued.fetch_sub(1, Ordering::AcqRel);
                Err(Stuck::Broken)
            }
        }
    }
}

struct ConnRec {
    outbox: Outbox,
    peer: SocketAddr,
    span: Span,
    dpid: Option<Dpid>,
    /// Encoded messages not yet handed to the writer.
    out: Vec<u8>,
}

/// Read access for queries.
pub(crate) struct View<'a> {
    pub ctl: &'a Controller,
    conns: &'a BTreeMap<ConnId, ConnRec>,
}

impl View<'_> {
    /// The membership version of a group (1 after its creation, +1 per member change).
    pub fn version(&self, group: &str) -> u64 {
        self.ctl.group(group).map_or(1, |g| g.version)
    }

    /// The address of the switch's newest connection.
    pub fn peer(&self, dpid: Dpid) -> Option<SocketAddr> {
        self.conns
            .values()
            .rev()
            .find(|c| c.dpid == Some(dpid))
            .map(|c| c.peer)
    }
}

/// Inputs handled per turn before outputs are carried out (bounds the latency of a turn).
const TURN_INPUTS: usize = 256;
/// The shortest time between two snapshots handed to the persister. A change after a quiet
/// spell goes at once; the changes of a busy spell are saved as one snapshot at the end of
/// the period. Every save is a write, two fsyncs and a rename: saving each change of a busy
/// controller took a CPU's worth of time from the switches and the API on a 2-core machine
/// (measured: about 40% of the subset install latency under the benchmark's load).
const PERSIST_EVERY: Duration = Duration::from_millis(100);

pub(crate) struct Driver {
    ctl: Controller,
    clock: Clock,
    settings: Arc<Settings>,
    rx: mpsc::Receiver<ToCore>,
    shutdown: watch::Receiver<bool>,
    persist: watch::Sender<Option<Arc<Snapshot>>>,
    /// The newest snapshot not yet handed to the persister (waiting for `save_after`).
    unsaved: Option<Arc<Snapshot>>,
    /// Claims or blocks changed with no journal to take them (the in-memory store): a
    /// snapshot is taken when the next save is due, not one per claim.
    claims_unsaved: bool,
    save_after: Instant,
    events: broadcast::Sender<Event>,
    conns: BTreeMap<ConnId, ConnRec>,
    dirty: Vec<ConnId>,
    pending: BTreeMap<RequestId, Pending>,
    next_req: u64,
    journal: Option<super::service::rendezvous::Journal>,
    /// OpenFlow message counters (`GET /metrics`).
    metrics: Option<Arc<super::metrics::Metrics>>,
    /// `GET /v1/events`' ordered source: every event, in the core's order.
    event_log: Option<Arc<api::events::EventLog>>,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        ctl: Controller,
        clock: Clock,
        settings: Arc<Settings>,
        rx: mpsc::Receiver<ToCore>,
        shutdown: watch::Receiver<bool>,
        persist: watch::Sender<Option<Arc<Snapshot>>>,
        events: broadcast::Sender<Event>,
    ) -> Driver {
        Driver {
            ctl,
            clock,
            settings,
            rx,
            shutdown,
            persist,
            unsaved: None,
            claims_unsaved: false,
            save_after: Instant::now(),
            events,
            conns: BTreeMap::new(),
            dirty: Vec::new(),
            pending: BTreeMap::new(),
            next_req: 1,
            journal: None,
            metrics: None,
            event_log: None,
        }
    }

    /// Counts OpenFlow messages into `metrics`; publishes every event to `log`.
    pub(crate) fn set_observers(
        &mut self,
        metrics: Arc<super::metrics::Metrics>,
        log: Arc<api::events::EventLog>,
    ) {
        self.metrics = Some(metrics);
        self.event_log = Some(log);
    }

    /// Appends claims and blocks to this journal (see `service::rendezvous`).
    pub(crate) fn set_journal(&mut self, journal: super::service::rendezvous::Journal) {
        self.journal = Some(journal);
    }

    /// Runs until shutdown is signalled or every sender is gone.
    pub(crate) async fn run(mut self) {
        enum Turn {
            Stop,
            Input(ToCore),
            Timer,
        }
        let mut shutdown = self.shutdown.clone();
        loop {
            self.carry_out();
            let mut wake = self.ctl.poll_timeout().map(|t| self.clock.instant(t));
            if self.unsaved.is_some() || self.claims_unsaved {
                wake = Some(wake.map_or(self.save_after, |w| w.min(self.save_after)));
            }
            let turn = tokio::select! {
                biased;
                () = async { let _ = shutdown.wait_for(|s| *s).await; } => Turn::Stop,
                m = self.rx.recv() => m.map_or(Turn::Stop, Turn::Input),
                () = async {
                    match wake {
                        Some(w) => sleep_until(w).await,
                        None => std::future::pending().await,
                    }
                } => Turn::Timer,
            };
            match turn {
                Turn::Stop => break,
                Turn::Input(m) => {
                    self.on(m);
                    for _ in 1..TURN_INPUTS {
                        match self.rx.try_recv() {
                            Ok(m) => self.on(m),
                            Err(_) => break,
                        }
                    }
                }
                Turn::Timer => {
                    self.save_if_due();
                    let now = self.clock.now();
                    self.ctl.handle(now, Input::Timer);
                }
            }
        }
        self.finish();
    }

    fn finish(&mut self) {
        self.carry_out();
        // Requests still waiting get an answer rather than a dropped connection.
        for (_, p) in std::mem::take(&mut self.pending) {
            if let Some(tx) = p.reply {
                let _ = tx.send(Err(ApiError::Internal {
                    reason: "tsmd is shutting down; the request did not finish".to_owned(),
                }));
            }
        }
        self.persist
            .send_replace(Some(Arc::new(self.ctl.snapshot())));
        let n = self.conns.len();
        for (_, mut c) in std::mem::take(&mut self.conns) {
            if !c.out.is_empty() {
                let _ = c.outbox.hand_over(std::mem::take(&mut c.out));
            }
        }
        info!(
            connections = n,
            "core stopped; connections closing, switches keep their rules"
        );
    }

    fn on(&mut self, m: ToCore) {
        let now = self.clock.now();
        match m {
            ToCore::Connected {
                conn,
                peer,
                outbox,
                span,
            } => {
                span.in_scope(|| info!("switch connected"));
                self.conns.insert(
                    conn,
                    ConnRec {
                        outbox,
                        peer,
                        span,
                        dpid: None,
                        out: Vec::new(),
                    },
                );
                self.ctl.handle(now, Input::Connected { conn });
            }
            ToCore::Inbound { conn, items } => {
                let Some(rec) = self.conns.get_mut(&conn) else {
                    return;
                };
                let span = rec.span.clone();
                let _g = span.enter();
                for item in items {
                    match item {
                        Inbound::Message { version, msg } => {
                            if let Body::FeaturesReply(f) = &msg.body {
                                let dpid = Dpid(f.datapath_id.0);
                                if rec.dpid.is_none() {
                                    span.record("dpid", tracing::field::display(dpid));
                                }
                                rec.dpid = Some(dpid);
                            }
                            if let Some(m) = &self.metrics {
                                m.received(&msg);
                            }
                            self.ctl.handle(now, Input::Message { conn, version, msg });
                        }
                        Inbound::Framing(error) => {
                            warn!(%error, "unreadable OpenFlow message");
                            self.ctl.handle(now, Input::Framing { conn, error });
                        }
                    }
                }
            }
            ToCore::Closed { conn, why } => {
                if let Some(rec) = self.conns.remove(&conn) {
                    rec.span.in_scope(|| info!(%why, "connection closed"));
                    self.ctl.handle(now, Input::Closed { conn });
                }
            }
            ToCore::Command {
                command,
                span,
                reply,
            } => {
                let kind = match &command {
                    Command::PutGroup { name, .. } | Command::PutSnoopedGroup { name, .. } => {
                        PendingKind::PutGroup {
                            existed: self.ctl.group(name),
                        }
                    }
                    Command::DeleteGroup { .. } => PendingKind::DeleteGroup,
                    Command::CreateSubset {
                        members,
                        lease,
                        trace_id,
                        ..
                    } => PendingKind::CreateSubset {
                        members: members.clone(),
                        lease_ms: u64::try_from(lease.as_millis()).unwrap_or(u64::MAX),
                        trace_id: *trace_id,
                    },
                    Command::DeleteSubset { .. } => PendingKind::DeleteSubset,
                    Command::Bier(_) => PendingKind::Bier,
                    Command::Rendezvous(_) => PendingKind::Rendezvous,
                };
                self.submit(now, command, span, Some(reply), kind);
            }
            ToCore::Query(f) => f(&View {
                ctl: &self.ctl,
                conns: &self.conns,
            }),
            ToCore::Cancel {
                trace_id,
                span,
                reply,
            } => {
                let _g = span.enter();
                let found = self
                    .ctl
                    .subsets()
                    .into_iter()
                    .find(|s| s.trace_id == trace_id);
                let switches = match found {
                    Some(s) => {
                        warn!(trace_id = %format!("{trace_id:016x}"), addr = %s.addr, "requester gave up; removing the subset");
                        self.abandon(now, s.addr);
                        s.switches
                    }
                    None => Vec::new(),
                };
                let _ = reply.send(switches);
            }
        }
    }

    fn submit(
        &mut self,
        now: crate::time::Time,
        command: Command,
        span: Span,
        reply: Option<oneshot::Sender<Result<Done, ApiError>>>,
        kind: PendingKind,
    ) {
        let id = RequestId(self.next_req);
        self.next_req += 1;
        self.pending.insert(id, Pending { reply, span, kind });
        self.ctl.handle(now, Input::Command { id, command });
    }

    fn abandon(&mut self, now: crate::time::Time, addr: IpAddr) {
        self.submit(
            now,
            Command::DeleteSubset { addr },
            Span::current(),
            None,
            PendingKind::Abandoned { addr },
        );
    }

    /// Carries out every output; repeats while closing an overflowing connection makes more.
    fn carry_out(&mut self) {
        loop {
            while let Some(o) = self.ctl.poll_output() {
                self.output(o);
            }
            let overflow = self.flush();
            if overflow.is_empty() {
                break;
            }
            let now = self.clock.now();
            for conn in overflow {
                self.conns.remove(&conn);
                self.ctl.handle(now, Input::Closed { conn });
            }
        }
    }

    fn output(&mut self, o: Output) {
        match o {
            Output::Send { conn, msg } => {
                let Some(rec) = self.conns.get_mut(&conn) else {
                    return;
                };
                if rec.out.is_empty() {
                    self.dirty.push(conn);
                }
                if let Err(e) = msg.encode_into(&mut rec.out) {
                    rec.span.in_scope(
                        || error!(error = %e, xid = msg.xid.0, "cannot encode a message of ours"),
                    );
                } else if let Some(m) = &self.metrics {
                    m.sent(msg.kind());
                }
            }
            Output::Close { conn, reason } => {
                if let Some(mut rec) = self.conns.remove(&conn) {
                    rec.span
                        .in_scope(|| info!(reason, "closing the connection"));
                    if !rec.out.is_empty() {
                        let _ = rec.outbox.hand_over(std::mem::take(&mut rec.out));
                    }
                    // Dropping the sender ends the writer after it wrote what is queued.
                }
            }
            Output::Completed { id, result } => self.complete(id, result),
            Output::Event(e) => {
                self.log_event(&e);
                if let Some(log) = &self.event_log {
                    super::events::publish(log, &e);
                }
                // Nobody subscribed is fine.
                let _ = self.events.send(e);
            }
            Output::Persist(s) => {
                self.unsaved = Some(Arc::from(s));
                self.save_if_due();
            }
            // Written before the outputs after it (the claim's answer) are carried out.
            Output::Journal(_) if self.journal.is_none() => {
                // Without a journal a claim is an ordinary change, saved with the next
                // throttled snapshot: a snapshot per claim cost most of the claim's latency.
                self.claims_unsaved = true;
                self.save_if_due();
            }
            Output::Journal(e) => {
                let before = self.persist.borrow().clone();
                super::service::rendezvous::on_journal(
                    &mut self.journal,
                    &e,
                    || self.ctl.snapshot(),
                    &self.persist,
                );
                // A snapshot saved there is newer than the one waiting here: never save an
                // older one after it.
                let after = self.persist.borrow().clone();
                if !same_snapshot(&before, &after) {
                    self.unsaved = None;
                }
            }
        }
    }

    /// Hands the newest snapshot to the persister when [`PERSIST_EVERY`] has passed since the
    /// last one; otherwise the run loop wakes up for it when it has.
    fn save_if_due(&mut self) {
        let now = Instant::now();
        if self.claims_unsaved && now >= self.save_after {
            self.claims_unsaved = false;
            self.unsaved = Some(Arc::new(self.ctl.snapshot()));
        }
        if self.unsaved.is_some() && now >= self.save_after {
            self.persist.send_replace(self.unsaved.take());
            self.save_after = now + PERSIST_EVERY;
        }
    }

    /// Hands every connection's buffered bytes over (one write per connection and turn);
    /// returns the connections that cannot take them (full queue or failed socket).
    fn flush(&mut self) -> Vec<ConnId> {
        let mut stuck = Vec::new();
        for conn in std::mem::take(&mut self.dirty) {
            let Some(rec) = self.conns.get_mut(&conn) else {
                continue;
            };
            if rec.out.is_empty() {
                continue;
            }
            match rec.outbox.hand_over_kept(&mut rec.out) {
                Ok(()) => {}
                Err(Stuck::Full) => {
                    rec.span
                        .in_scope(|| warn!("the switch is not reading; closing the connection"));
                    stuck.push(conn);
                }
                Err(Stuck::Broken) => {
                    rec.span
                        .in_scope(|| warn!("writing to the switch failed; closing the connection"));
                    stuck.push(conn);
                }
            }
        }
        stuck
    }

    fn complete(&mut self, id: RequestId, result: Result<Reply, crate::command::CommandError>) {
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        let _g = p.span.enter();
        let answer = match result {
            Ok(reply) => Ok(self.done(&p.kind, reply)),
            Err(e) => {
                let a = api_error(e, &p.kind, &self.ctl, &self.settings);
                if a.status().is_server_error() {
                    warn!(error = %a, "request failed");
                } else {
                    info!(error = %a, "request refused");
                }
                Err(a)
            }
        };
        match (&p.kind, &answer) {
            (PendingKind::Abandoned { addr }, r) => {
                debug!(%addr, ok = r.is_ok(), "abandoned subset removed");
            }
            (_, Ok(Done::Subset(s))) => {
                info!(addr = %s.addr, switches = s.switches.len(), "subset ready");
            }
            (k, Ok(_)) => debug!(?k, "request done"),
            _ => {}
        }
        if let Some(tx) = p.reply {
            if let Err(Ok(Done::Subset(s))) = tx.send(answer) {
                warn!(addr = %s.addr, "the requester is gone; removing the subset it cannot use");
                let now = self.clock.now();
                self.abandon(now, s.addr);
            }
        }
    }

    fn done(&mut self, kind: &PendingKind, reply: Reply) -> Done {
        match (kind, reply) {
            // The membership version is the core's (durable, +1 per change of members).
            (PendingKind::PutGroup { existed, .. }, Reply::Group(info)) => Done::Group {
                version: info.version,
                created: existed.is_none(),
                info,
            },
            (_, Reply::Subset(s)) => Done::Subset(s),
            (_, Reply::SubsetDeleted { .. }) => Done::SubsetDeleted,
            (_, Reply::Group(info)) => Done::Group {
                version: info.version,
                info,
                created: false,
            },
            (_, Reply::GroupDeleted { .. }) => Done::GroupDeleted,
            (_, Reply::Bier(r)) => Done::Bier(r),
            (_, Reply::Rendezvous(r)) => Done::Rendezvous(r),
        }
    }

    fn span_of(&self, dpid: Dpid) -> Span {
        self.conns
            .values()
            .rev()
            .find(|c| c.dpid == Some(dpid))
            .map_or_else(Span::current, |c| c.span.clone())
    }

    fn log_event(&self, e: &Event) {
        let seq = e.seq;
        match &e.kind {
            EventKind::Restored => info!(seq, "state restored"),
            EventKind::SwitchUp { dpid, reconciled } => self.span_of(*dpid).in_scope(|| {
                info!(
                    seq,
                    flows_added = reconciled.flows_added,
                    flows_replaced = reconciled.flows_replaced,
                    flows_deleted = reconciled.flows_deleted,
                    flows_kept = reconciled.flows_kept,
                    groups_added = reconciled.groups_added,
                    groups_modified = reconciled.groups_modified,
                    groups_deleted = reconciled.groups_deleted,
                    groups_kept = reconciled.groups_kept,
                    "switch ready (reconciled)"
                )
            }),
            EventKind::SwitchDown { dpid, reason } => self
                .span_of(*dpid)
                .in_scope(|| warn!(seq, %dpid, reason, "switch down")),
            EventKind::PortUp { at } => debug!(seq, %at, "port up"),
            EventKind::PortDown { at } => info!(seq, %at, "port down"),
            EventKind::LinkUp { link } => info!(seq, a = %link.a, b = %link.b, "link up"),
            EventKind::LinkDown { link } => warn!(seq, a = %link.a, b = %link.b, "link down"),
            EventKind::HostAdded { mac, at, ips } => {
                info!(seq, %mac, %at, ips = ?ips, "host learned")
            }
            EventKind::HostMoved { mac, from, to } => info!(seq, %mac, %from, %to, "host moved"),
            EventKind::HostAddrs { mac, ips } => debug!(seq, %mac, ips = ?ips, "host addresses"),
            EventKind::HostRemoved { mac } => info!(seq, %mac, "host removed"),
            EventKind::GroupPut {
                name,
                addr,
                members,
            } => info!(seq, group = %name, %addr, members = members.len(), "group put"),
            EventKind::GroupDeleted { name } => info!(seq, group = %name, "group deleted"),
            EventKind::GroupMembers {
                name,
                joined,
                left,
                members,
                ..
            } => info!(seq, group = %name, joined = ?joined, left = ?left,
                members = members.len(), "snooped members changed"),
            EventKind::PlanChanged { .. }
            | EventKind::PlanDeleted { .. }
            | EventKind::ClaimTaken { .. }
            | EventKind::ClaimRenewed { .. }
            | EventKind::ClaimEnded { .. }
            | EventKind::BlockTaken { .. }
            | EventKind::BlockRenewed { .. }
            | EventKind::BlockEnded { .. } => super::service::rendezvous::log_event(seq, &e.kind),
            EventKind::SubsetReady {
                addr,
                group,
                trace_id,
            } => debug!(seq, %addr, %group, trace_id = %format!("{trace_id:016x}"), "subset ready"),
            EventKind::SubsetRemoved { addr, reason } => {
                info!(seq, %addr, ?reason, "subset removed")
            }
            EventKind::SubsetRerouted { addr } => info!(seq, %addr, "subset rerouted"),
            EventKind::SubsetDegraded { addr, why } => warn!(seq, %addr, %why, "subset degraded"),
            EventKind::SwitchError { dpid, code } => self
                .span_of(*dpid)
                .in_scope(|| warn!(seq, %code, "switch refused a message")),
        }
    }
}

/// How long the daemon's thread lets its tasks finish after shutdown was signalled before it
/// drops them (the connections and the HTTP server drain in less).
const LINGER: Duration = Duration::from_secs(5);

/// The daemon's own thread (`tsmd`): a single-threaded tokio runtime that runs the core task,
/// every switch connection and the HTTP server, whatever runtime started the daemon. A
/// request, the OpenFlow messages it causes and the switches' answers then pass from task to
/// task without waking another thread: on a 2-core machine that shares its CPUs with Open
/// vSwitch, every such wake-up was a chance to wait for a busy CPU (measured with `perf
/// trace`: 20 times fewer futex and eventfd wake-ups per request than on the embedding
/// runtime's worker threads).
///
/// The thread ends when every task spawned through [`DaemonThread::spawn`] has ended (and the
/// `DaemonThread` itself is dropped), or [`LINGER`] after shutdown was signalled, dropping what
/// is left.
pub(crate) struct DaemonThread {
    handle: tokio::runtime::Handle,
    alive: mpsc::Sender<()>,
}

impl DaemonThread {
    pub(crate) fn start(mut shutdown: watch::Receiver<bool>) -> std::io::Result<DaemonThread> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        // Every spawned task holds a sender: `recv` ends when the last one is gone.
        let (alive, mut done) = mpsc::channel::<()>(1);
        std::thread::Builder::new()
            .name("tsmd".to_owned())
            .spawn(move || {
                rt.block_on(async move {
                    tokio::select! {
                        _ = done.recv() => {}
                        () = async {
                            let _ = shutdown.wait_for(|s| *s).await;
                            tokio::time::sleep(LINGER).await;
                        } => {}
                    }
                });
            })?;
        Ok(DaemonThread { handle, alive })
    }

    /// A listener bound on another runtime, moved to this thread's reactor.
    pub(crate) fn adopt(
        &self,
        listener: tokio::net::TcpListener,
    ) -> std::io::Result<tokio::net::TcpListener> {
        let std_listener = listener.into_std()?;
        let _in_runtime = self.handle.enter();
        tokio::net::TcpListener::from_std(std_listener)
    }

    /// Runs `task` on the thread, which lives at least until the task ends.
    pub(crate) fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let alive = self.alive.clone();
        self.handle.spawn(async move {
            let _alive = alive;
            task.await
        })
    }
}

fn same_snapshot(a: &Option<Arc<Snapshot>>, b: &Option<Arc<Snapshot>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// Whether a subset is ready (the API shows only ready ones).
pub(crate) fn is_ready(s: &SubsetInfo) -> bool {
    s.state == SubsetState::Ready
}
