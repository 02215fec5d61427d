//! The controller state machine (quinn-proto style): [`Controller::handle`] takes one input
//! (a connection opened or closed, a decoded OpenFlow message or a framing error, the timer, a
//! command) at a time the caller gives; [`Controller::poll_output`] yields what to do (send a
//! message, close a connection, answer a command, publish an event, persist the durable
//! state); [`Controller::poll_timeout`] says when to call again if nothing else happens. It
//! never reads a clock and never does I/O.
//!
//! What it runs: switch sessions (HELLO at once, version negotiation, FEATURES, SET_CONFIG,
//! the reads, reconciliation, echo both ways, dead after `dead_after` of silence); LLDP
//! discovery and link ageing; host learning on edge ports; negotiating groups; on-demand
//! subsets (validate, plan with P_S ⊆ P_Y checked, groups/barrier/flows/barrier to every
//! switch of the plan, ready when every barrier reply is back, rolled back whole on an
//! `OFPT_ERROR` or a disconnect); leases (own timer and FLOW_REMOVED); recompute on fabric
//! changes; reconciliation on every (re)connect; snapshots; IGMP / MLD snooping and the
//! querier (`snoop_glue`).
//!
//! Guarantees:
//! - Deterministic: the same inputs at the same times give the same outputs (ordered maps
//!   everywhere an order reaches an output).
//! - A command that fails validation changes nothing; a subset install that fails leaves
//!   nothing installed (the rollback is sent before the failure is answered, and the answer
//!   waits for the rollback's barriers).
//! - Group ids of removed rules are reused only after the switch confirmed the delete
//!   (barrier reply) or the switch is gone (it is reconciled when it comes back).
//! - Peer input never panics the core: malformed packet-ins and unexpected messages are
//!   counted and dropped.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use openflow::error_msg::HelloFailedCode;
use openflow::msg::{
    ConfigFlags, FlowRemoved, FlowRemovedReason, PacketIn, PortReason, PortStatus, SwitchConfig,
};
use openflow::multipart::FlowStatsRequest;
use openflow::oxm::MacAddr;
use openflow::{
    Action, Body, Cookie, ErrorMsg, FramerError, GroupId, GroupType, Match, Message,
    MultipartReply, MultipartRequest, MultipartRequestBody, PacketOut, PortNo, Xid,
};

use crate::command::{
    Command, CommandError, GroupInfo, HostInfo, LinkInfo, PortInfo, Reply, RequestId, SubsetInfo,
    SubsetState, SwitchInfo,
};
use crate::event::{Event, EventKind, RemovalReason};
use crate::frames::{self, FrameError, Probe};
use crate::plan::plan_subset;
use crate::pool::{AddrPool, AddrRange};
use crate::recompute::{changed_groups, group_trees};
use crate::reconcile::{self, Desired, Ownership};
use crate::rules::{Batch, GroupIds, Installation, InstalledSwitch, Rule, RuleError, SwitchBatch};
use crate::session::{Phase, Read, Session};
use crate::snapshot::{
    GroupRecord, InstalledRecord, RestoreError, Snapshot, SubsetRecord, SNAPSHOT_VERSION,
};
use crate::time::Time;
use crate::topology::{Change, Dpid, Endpoint, Topology};
use crate::tree::{GroupTree, NegotiatingGroup};

/// The BIER control plane's side of the machine (a child module: it drives the sessions).
#[path = "bier_state.rs"]
pub mod bier_state;

/// IGMP / MLD snooping's side of the machine (a child module: it reaches the groups).
#[path = "snoop/glue.rs"]
mod snoop_glue;

/// Rendezvous plans, claims and blocks: the machine's side (a child module).
mod rendezvous_hooks;

/// A connection, named by the shell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// An operation: a batch of messages to one or more switches that completes when their last
/// barriers are answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(u64);

/// Tunables. [`Config::default`] is what `tsmd` runs with unless told otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Send an echo request after this much silence from a switch.
    pub echo_interval: Duration,
    /// Declare a switch dead after this much silence (an unanswered echo): ≤ 3 s by default.
    pub dead_after: Duration,
    /// Close a connection that has not finished its handshake by then.
    pub handshake_timeout: Duration,
    /// LLDP probes go out of every port this often (and on connect, and on port up).
    pub lldp_interval: Duration,
    /// A link direction not confirmed by a probe for this long goes down.
    pub link_timeout: Duration,
    /// The longest lease a subset may ask for (at most 65535 s, the longest hard_timeout).
    pub max_lease: Duration,
    /// Subset addresses for IPv4 groups.
    pub pool_v4: Option<AddrRange>,
    /// Subset addresses for IPv6 groups.
    pub pool_v6: Option<AddrRange>,
    /// The group ids the controller uses on every switch (ours: see `reconcile`).
    pub group_ids: (GroupId, GroupId),
    /// Bytes of a table-miss packet sent to the controller (headers for host learning).
    pub miss_send_len: u16,
    /// Tags our LLDP probes: probes with another id are foreign.
    pub lldp_id: u64,
    /// After a restore, restored subsets keep their rules while the fabric is rediscovered for
    /// this long; then they are re-planned on the whole fabric.
    pub restore_settle: Duration,
    /// BIER: BSLs, BFIR group ids, on or off (`bier_state`).
    pub bier: bier_state::BierConfig,
    /// IGMP / MLD snooping and the querier (`snoop`).
    pub snoop: crate::snoop::SnoopConfig,
    /// Per-switch limits for rendezvous plans, on top of GROUP_FEATURES and the id range.
    pub rendezvous_budget: crate::rendezvous::Budget,
}

impl Default for Config {
    fn default() -> Self {
        let v4 = AddrRange::new(
            IpAddr::V4(Ipv4Addr::new(239, 192, 0, 0)),
            IpAddr::V4(Ipv4Addr::new(239, 192, 255, 255)),
        )
        .ok();
        let v6 = AddrRange::new(
            IpAddr::V6(Ipv6Addr::new(0xff18, 0, 0, 0, 0, 0, 0x8000, 0)),
            IpAddr::V6(Ipv6Addr::new(0xff18, 0, 0, 0, 0, 0, 0x8000, 0xffff)),
        )
        .ok();
        Config {
            echo_interval: Duration::from_secs(1),
            dead_after: Duration::from_secs(3),
            handshake_timeout: Duration::from_secs(10),
            lldp_interval: Duration::from_secs(5),
            link_timeout: Duration::from_secs(16),
            max_lease: Duration::from_secs(3600),
            pool_v4: v4,
            pool_v6: v6,
            group_ids: (GroupId(0x5453_0000), GroupId(0x5453_ffff)),
            miss_send_len: 128,
            lldp_id: 0x7473_6d2d_6c6c_6470,
            restore_settle: Duration::from_secs(11),
            rendezvous_budget: crate::rendezvous::Budget::default(),
            bier: bier_state::BierConfig::default(),
            snoop: crate::snoop::SnoopConfig::default(),
        }
    }
}

/// A configuration that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("echo_interval ({echo:?}) must be above zero and below dead_after ({dead:?})")]
    Echo { echo: Duration, dead: Duration },
    #[error("lldp_interval ({lldp:?}) must be above zero and below link_timeout ({link:?})")]
    Lldp { lldp: Duration, link: Duration },
    #[error("max_lease {0:?} must be between 1 ms and 65535 s")]
    MaxLease(Duration),
    #[error("pool_{family} holds {what} addresses")]
    PoolFamily {
        family: &'static str,
        what: &'static str,
    },
    #[error("group id range {first:#x}-{last:#x} must lie within 1..=0xffffff00 and not be empty")]
    GroupIds { first: u32, last: u32 },
    #[error("{0}")]
    Bier(String),
    #[error(transparent)]
    Snoop(#[from] crate::snoop::SnoopConfigError),
}

impl Config {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.echo_interval.is_zero() || self.echo_interval >= self.dead_after {
            return Err(ConfigError::Echo {
                echo: self.echo_interval,
                dead: self.dead_after,
            });
        }
        if self.lldp_interval.is_zero() || self.lldp_interval >= self.link_timeout {
            return Err(ConfigError::Lldp {
                lldp: self.lldp_interval,
                link: self.link_timeout,
            });
        }
        if self.max_lease < Duration::from_millis(1) || self.max_lease > Duration::from_secs(65535)
        {
            return Err(ConfigError::MaxLease(self.max_lease));
        }
        if self.pool_v4.is_some_and(|r| !r.first().is_ipv4()) {
            return Err(ConfigError::PoolFamily {
                family: "v4",
                what: "IPv6",
            });
        }
        if self.pool_v6.is_some_and(|r| !r.first().is_ipv6()) {
            return Err(ConfigError::PoolFamily {
                family: "v6",
                what: "IPv4",
            });
        }
        let (a, b) = self.group_ids;
        if a.0 == 0 || a.0 > b.0 || b.0 > GroupId::MAX.0 {
            return Err(ConfigError::GroupIds {
                first: a.0,
                last: b.0,
            });
        }
        self.bier
            .validate(self.group_ids)
            .map_err(ConfigError::Bier)?;
        self.snoop.validate()?;
        Ok(())
    }
}

/// Something that happened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Input {
    /// A switch connected; the shell names the connection.
    Connected {
        conn: ConnId,
    },
    /// A message from a connection, decoded by `openflow::Framer`. `version` is the header's
    /// version (`Frame::header().version`): only a HELLO may carry another than 0x04.
    Message {
        conn: ConnId,
        version: u8,
        msg: Message,
    },
    /// The framer could not give a message.
    Framing {
        conn: ConnId,
        error: FramerError,
    },
    /// The connection is gone.
    Closed {
        conn: ConnId,
    },
    /// `poll_timeout`'s time has come (any input also runs due timers).
    Timer,
    Command {
        id: RequestId,
        command: Command,
    },
}

impl Input {
    /// A message of version 0x04.
    pub fn message(conn: ConnId, msg: Message) -> Input {
        Input::Message {
            conn,
            version: openflow::OFP_VERSION,
            msg,
        }
    }
}

/// Something for the shell to do.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    Send {
        conn: ConnId,
        msg: Message,
    },
    /// Close the connection. The core has already forgotten it (a later `Closed` for it is
    /// ignored).
    Close {
        conn: ConnId,
        reason: &'static str,
    },
    /// A command's answer.
    Completed {
        id: RequestId,
        result: Result<Reply, CommandError>,
    },
    Event(Event),
    /// The durable state changed: write this to the store.
    Persist(Box<Snapshot>),
    /// A claim or block changed: append this to the journal before carrying out the outputs
    /// that follow it (the command's answer comes after it).
    Journal(crate::rendezvous::JournalEntry),
}

/// Things counted rather than answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub packet_ins: u64,
    /// Packet-ins whose frame (or match) could not be read: dropped.
    pub malformed_packet_ins: u64,
    /// LLDP from someone else: ignored.
    pub foreign_lldp: u64,
    /// Our probes from a switch or port that is not (or no longer) in the fabric.
    pub stale_lldp: u64,
    /// Host traffic seen on an inter-switch port: not learned from.
    pub non_edge_packet_ins: u64,
    pub framing_errors: u64,
    /// OFPT_ERRORs received.
    pub switch_errors: u64,
    pub unexpected_messages: u64,
    pub echo_timeouts: u64,
    pub lldp_sent: u64,
}

#[derive(Clone, Debug)]
struct SwitchRecord {
    features: openflow::SwitchFeatures,
    ports: BTreeMap<PortNo, openflow::Port>,
    connected_since: Option<Time>,
    connected: bool,
    max_groups: Option<u32>,
}

#[derive(Clone, Debug)]
struct Group {
    addr: IpAddr,
    members: BTreeSet<IpAddr>,
    /// Membership version: 1 at creation, +1 per change of `members`.
    version: u64,
    /// Members follow IGMP / MLD snooping (`snoop_glue`).
    snooped: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Installing { op: OpId, req: RequestId },
    Live,
}

#[derive(Clone, Debug)]
struct Subset {
    group: String,
    members: BTreeSet<IpAddr>,
    lease: Duration,
    lease_end: Time,
    trace_id: u64,
    inst: Installation,
    state: State,
    degraded: bool,
    /// Who created it (a token's name), kept in the snapshot.
    owner: Option<String>,
}

type Answer = (RequestId, Result<Reply, CommandError>);

#[derive(Clone, Debug)]
enum OpKind {
    Install { addr: IpAddr },
    Update,
    Remove { addr: IpAddr, then: Vec<Answer> },
    Reconcile,
    Bier(bier_state::BierOp),
}

#[derive(Clone, Debug)]
struct Op {
    kind: OpKind,
    /// Per switch: the connection and the xid of the batch's last barrier.
    pending: BTreeMap<Dpid, (ConnId, Xid)>,
    /// Group ids to release when their switch's barrier is back.
    release: Vec<(Dpid, GroupId)>,
}

#[derive(Clone, Copy, Debug)]
struct Side {
    last_seen: Time,
    up: bool,
}

struct Own<'a> {
    pool: &'a AddrPool,
    ids: &'a GroupIds,
}

impl Ownership for Own<'_> {
    fn is_pool_addr(&self, a: IpAddr) -> bool {
        self.pool.contains(a)
    }
    fn is_our_group(&self, g: GroupId) -> bool {
        self.ids.in_range(g)
    }
}

/// The controller. See the module header.
pub struct Controller {
    config: Config,
    now: Time,
    sessions: BTreeMap<ConnId, Session>,
    by_dpid: BTreeMap<Dpid, ConnId>,
    switches: BTreeMap<Dpid, SwitchRecord>,
    topo: Topology,
    sides: BTreeMap<Endpoint, Side>,
    next_lldp: Time,
    groups: BTreeMap<String, Group>,
    trees: BTreeMap<IpAddr, GroupTree>,
    subsets: BTreeMap<IpAddr, Subset>,
    pool: AddrPool,
    ids: GroupIds,
    ops: BTreeMap<OpId, Op>,
    next_op: u64,
    out: VecDeque<Output>,
    next_seq: u64,
    trace_counter: u64,
    settle_until: Option<Time>,
    dirty: bool,
    counters: Counters,
    bier: bier_state::BierState,
    snooper: crate::snoop::Snooper,
    rv: crate::rendezvous::Rendezvous,
}

/// splitmix64's finalizer: a bijection, so distinct counters give distinct trace ids.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn unicast_host(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => !(a.is_unspecified() || a.is_broadcast() || a.is_multicast()),
        IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast()),
    }
}

impl Controller {
    /// A controller with no switch, group or subset.
    pub fn new(config: Config) -> Result<Controller, ConfigError> {
        config.validate()?;
        let pool = AddrPool::new(config.pool_v4, config.pool_v6);
        let ids = GroupIds::with_range(config.group_ids.0, config.group_ids.1);
        let bier = bier_state::BierState::new(config.bier);
        let snooper = crate::snoop::Snooper::new(config.snoop.clone());
        Ok(Controller {
            config,
            now: Time::ZERO,
            sessions: BTreeMap::new(),
            by_dpid: BTreeMap::new(),
            switches: BTreeMap::new(),
            topo: Topology::new(),
            sides: BTreeMap::new(),
            next_lldp: Time::ZERO,
            groups: BTreeMap::new(),
            trees: BTreeMap::new(),
            subsets: BTreeMap::new(),
            pool,
            ids,
            ops: BTreeMap::new(),
            next_op: 1,
            out: VecDeque::new(),
            next_seq: 1,
            trace_counter: 0,
            settle_until: None,
            dirty: false,
            counters: Counters::default(),
            rv: crate::rendezvous::Rendezvous::default(),
            bier,
            snooper,
        })
    }

    /// A controller that starts from a snapshot at `now` (on the same clock epoch the
    /// snapshot was taken on). Subsets whose lease has ended are dropped; the others keep
    /// their addresses and group ids, and their rules are left as the switches have them
    /// while the fabric is rediscovered (`restore_settle`), then re-planned.
    pub fn restore(config: Config, snap: &Snapshot, now: Time) -> Result<Controller, RestoreError> {
        if snap.version != SNAPSHOT_VERSION {
            return Err(RestoreError::Version(snap.version));
        }
        let mut c = Controller::new(config)?;
        c.now = now;
        for g in &snap.groups {
            let why = |w: &str| RestoreError::Group {
                name: g.name.clone(),
                why: w.to_owned(),
            };
            if c.groups.contains_key(&g.name) {
                return Err(why("appears twice"));
            }
            c.check_group(&g.name, g.addr, &g.members)
                .map_err(|e| why(&e.to_string()))?;
            c.groups.insert(
                g.name.clone(),
                Group {
                    addr: g.addr,
                    members: g.members.iter().copied().collect(),
                    version: g.version.max(1),
                    snooped: false,
                },
            );
        }
        for s in &snap.subsets {
            let why = |w: String| RestoreError::Subset {
                addr: s.addr,
                why: w,
            };
            let lease_end = Time::from_duration(s.lease_end);
            if lease_end <= now {
                continue;
            }
            let g = c
                .groups
                .get(&s.group)
                .ok_or_else(|| why(format!("unknown group {:?}", s.group)))?;
            if let Some(ip) = s.members.iter().find(|m| !g.members.contains(m)) {
                return Err(why(format!("{ip} is not a member of {:?}", s.group)));
            }
            if s.addr.is_ipv4() != g.addr.is_ipv4() {
                return Err(why("address family differs from the group's".into()));
            }
            if c.subsets.values().any(|o| o.trace_id == s.trace_id) {
                return Err(why(format!("trace id {:#x} used twice", s.trace_id)));
            }
            let rule = Rule::new(s.addr, s.trace_id, s.lease).map_err(|e| why(e.to_string()))?;
            let switches: BTreeMap<Dpid, InstalledSwitch> = s
                .switches
                .iter()
                .map(|r| {
                    (
                        Dpid(r.dpid),
                        InstalledSwitch {
                            group: GroupId(r.group_id),
                            buckets: r.ports.iter().map(|p| PortNo(*p)).collect(),
                        },
                    )
                })
                .collect();
            if !c.pool.reserve(s.addr) {
                return Err(why("address outside the pool or used twice".into()));
            }
            let inst = match Installation::restore(rule, switches, &mut c.ids) {
                Ok(i) => i,
                Err(e) => {
                    c.pool.release(s.addr);
                    return Err(why(e.to_string()));
                }
            };
            c.subsets.insert(
                s.addr,
                Subset {
                    group: s.group.clone(),
                    members: s.members.iter().copied().collect(),
                    lease: s.lease,
                    lease_end,
                    trace_id: s.trace_id,
                    inst,
                    state: State::Live,
                    degraded: false,
                    owner: s.owner.clone(),
                },
            );
        }
        c.bier_restore(&snap.bier, now)?;
        c.snoop_restore(snap, now);
        c.rv_restore(&snap.rendezvous)?;
        c.next_seq = snap.next_seq.max(1);
        c.trace_counter = snap.trace_counter;
        c.settle_until = Some(now + c.config.restore_settle);
        c.next_lldp = now;
        c.event(EventKind::Restored);
        Ok(c)
    }

    // ---------------------------------------------------------------------------------------
    // The state machine's interface.

    /// Feeds one input at `now` (a time before an earlier one counts as the earlier one).
    pub fn handle(&mut self, now: Time, input: Input) {
        self.now = self.now.max(now);
        self.run_timers();
        match input {
            Input::Connected { conn } => self.on_connected(conn),
            Input::Message { conn, version, msg } => self.on_message(conn, version, msg),
            Input::Framing { conn, error } => self.on_framing(conn, error),
            Input::Closed { conn } => self.drop_session(conn, "connection closed"),
            Input::Timer => {}
            Input::Command { id, command } => self.on_command(id, command),
        }
        self.bier_after_input();
        if self.dirty {
            self.dirty = false;
            let snap = self.snapshot();
            self.out.push_back(Output::Persist(Box::new(snap)));
        }
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When to call `handle` (with `Input::Timer`) if no other input comes first.
    pub fn poll_timeout(&self) -> Option<Time> {
        let mut t: Option<Time> = None;
        let mut at = |x: Time| t = Some(t.map_or(x, |y| y.min(x)));
        let mut any_ready = false;
        for s in self.sessions.values() {
            if s.phase == Phase::Ready {
                any_ready = true;
            } else {
                at(s.opened + self.config.handshake_timeout);
            }
            at(s.last_rx + self.config.dead_after);
            if s.echo_sent.is_none() {
                at(s.last_rx + self.config.echo_interval);
            }
        }
        if any_ready {
            at(self.next_lldp);
        }
        for (e, side) in &self.sides {
            if side.up && self.side_ages(*e) {
                at(side.last_seen + self.config.link_timeout);
            }
        }
        for s in self.subsets.values() {
            at(s.lease_end);
        }
        if let Some(s) = self.settle_until {
            at(s);
        }
        if let Some(r) = self.rv_next_timeout() {
            at(r);
        }
        if let Some(b) = self.bier.next_timeout() {
            at(b);
        }
        if let Some(s) = self.snoop_timeout() {
            at(s);
        }
        t
    }

    /// The durable state now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            version: SNAPSHOT_VERSION,
            next_seq: self.next_seq,
            trace_counter: self.trace_counter,
            groups: self
                .groups
                .iter()
                .map(|(name, g)| GroupRecord {
                    name: name.clone(),
                    addr: g.addr,
                    members: g.members.iter().copied().collect(),
                    version: g.version,
                    snooped: g.snooped,
                })
                .collect(),
            subsets: self
                .subsets
                .iter()
                .filter(|(_, s)| s.state == State::Live)
                .map(|(addr, s)| SubsetRecord {
                    addr: *addr,
                    group: s.group.clone(),
                    members: s.members.iter().copied().collect(),
                    lease: s.lease,
                    lease_end: s.lease_end.since_epoch(),
                    trace_id: s.trace_id,
                    switches: s
                        .inst
                        .switches()
                        .iter()
                        .map(|(d, i)| InstalledRecord {
                            dpid: d.0,
                            group_id: i.group.0,
                            ports: i.buckets.iter().map(|p| p.0).collect(),
                        })
                        .collect(),
                    owner: s.owner.clone(),
                })
                .collect(),
            bier: self.bier.snapshot(),
            rendezvous: self.rv_record(),
        }
    }

    // ---------------------------------------------------------------------------------------
    // Queries.

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The latest time the controller was given.
    pub fn now(&self) -> Time {
        self.now
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The fabric as discovered.
    pub fn topology(&self) -> &Topology {
        &self.topo
    }

    /// Whether the switch is connected and reconciled.
    pub fn is_ready(&self, dpid: Dpid) -> bool {
        self.ready_conn(dpid).is_some()
    }

    /// Every switch ever seen, in dpid order.
    pub fn switches(&self) -> Vec<SwitchInfo> {
        self.switches
            .iter()
            .map(|(dpid, r)| SwitchInfo {
                dpid: *dpid,
                connected: r.connected,
                connected_since: r.connected_since,
                ports: r
                    .ports
                    .values()
                    .map(|p| PortInfo {
                        port: p.port_no,
                        name: p.name.to_str_lossy().into_owned(),
                        hw_addr: MacAddr(p.hw_addr),
                        up: p.is_up(),
                    })
                    .collect(),
                capabilities: r.features.capabilities,
                n_tables: r.features.n_tables,
                max_groups: r.max_groups,
                bier: self.bier_capable(*dpid),
            })
            .collect()
    }

    /// Every link, in order.
    pub fn links(&self) -> Vec<LinkInfo> {
        self.topo
            .links()
            .map(|l| LinkInfo {
                a: l.a,
                b: l.b,
                live: self.topo.is_link_live(l),
            })
            .collect()
    }

    /// Every host, in MAC order.
    pub fn hosts(&self) -> Vec<HostInfo> {
        self.topo
            .hosts()
            .map(|h| HostInfo {
                mac: h.mac,
                ips: h.addrs.iter().copied().collect(),
                dpid: h.at.dpid,
                port: h.at.port,
            })
            .collect()
    }

    /// Every group, in name order.
    pub fn groups(&self) -> Vec<GroupInfo> {
        self.groups
            .iter()
            .map(|(n, g)| Self::group_info(n, g))
            .collect()
    }

    pub fn group(&self, name: &str) -> Option<GroupInfo> {
        self.groups.get(name).map(|g| Self::group_info(name, g))
    }

    /// The group's tree and P_Y on the current fabric.
    pub fn group_tree(&self, name: &str) -> Option<&GroupTree> {
        self.groups.get(name).and_then(|g| self.trees.get(&g.addr))
    }

    /// Every subset (installing or ready), in address order.
    pub fn subsets(&self) -> Vec<SubsetInfo> {
        self.subsets
            .iter()
            .map(|(a, s)| Self::subset_info(*a, s))
            .collect()
    }

    pub fn subset(&self, addr: IpAddr) -> Option<SubsetInfo> {
        self.subsets.get(&addr).map(|s| Self::subset_info(addr, s))
    }

    /// Addresses taken from the pool (live subsets and those still being removed).
    pub fn pool(&self) -> &AddrPool {
        &self.pool
    }

    /// The flows and groups the controller keeps on `dpid` (what reconciliation enforces;
    /// flows with what is left of their lease as hard timeout), `None` for an unknown switch.
    pub fn rules_of(&self, dpid: Dpid) -> Option<Desired> {
        self.switches
            .contains_key(&dpid)
            .then(|| self.desired(dpid))
    }

    /// Group ids of ours in use on a switch.
    pub fn group_ids_in_use(&self, dpid: Dpid) -> usize {
        self.ids.in_use(dpid)
    }

    /// Operations waiting for barrier replies.
    pub fn pending_operations(&self) -> usize {
        self.ops.len()
    }

    fn group_info(name: &str, g: &Group) -> GroupInfo {
        GroupInfo {
            version: g.version,
            name: name.to_owned(),
            addr: g.addr,
            members: g.members.iter().copied().collect(),
            snooped: g.snooped,
        }
    }

    fn subset_info(addr: IpAddr, s: &Subset) -> SubsetInfo {
        SubsetInfo {
            addr,
            group: s.group.clone(),
            members: s.members.iter().copied().collect(),
            lease: s.lease,
            expires_at: s.lease_end,
            switches: s.inst.switches().keys().copied().collect(),
            trace_id: s.trace_id,
            state: match s.state {
                State::Installing { .. } => SubsetState::Installing,
                State::Live => SubsetState::Ready,
            },
            degraded: s.degraded,
            owner: s.owner.clone(),
        }
    }

    // ---------------------------------------------------------------------------------------
    // Outputs.

    fn event(&mut self, kind: EventKind) {
        let e = Event {
            seq: self.next_seq,
            at: self.now,
            kind,
        };
        self.next_seq += 1;
        self.out.push_back(Output::Event(e));
    }

    fn complete(&mut self, id: RequestId, result: Result<Reply, CommandError>) {
        self.out.push_back(Output::Completed { id, result });
    }

    /// Sends `body` on `conn` with the next xid.
    fn send(&mut self, conn: ConnId, body: Body) -> Option<Xid> {
        let s = self.sessions.get_mut(&conn)?;
        let xid = s.xid();
        self.out.push_back(Output::Send {
            conn,
            msg: Message { xid, body },
        });
        Some(xid)
    }

    fn close(&mut self, conn: ConnId, reason: &'static str) {
        if self.sessions.contains_key(&conn) {
            self.out.push_back(Output::Close { conn, reason });
            self.drop_session(conn, reason);
        }
    }

    fn ready_conn(&self, dpid: Dpid) -> Option<ConnId> {
        let conn = *self.by_dpid.get(&dpid)?;
        (self.sessions.get(&conn)?.phase == Phase::Ready).then_some(conn)
    }

    // ---------------------------------------------------------------------------------------
    // Sessions.

    fn on_connected(&mut self, conn: ConnId) {
        if self.sessions.contains_key(&conn) {
            self.counters.unexpected_messages += 1;
            return;
        }
        self.sessions.insert(conn, Session::new(self.now));
        // OVS drops a controller that stays silent for about a second (NOTES): HELLO at once.
        self.send(conn, Body::Hello(openflow::Hello::ofp13()));
    }

    fn on_framing(&mut self, conn: ConnId, error: FramerError) {
        if !self.sessions.contains_key(&conn) {
            return;
        }
        self.counters.framing_errors += 1;
        if let Some(reply) = error.error_reply() {
            self.out.push_back(Output::Send { conn, msg: reply });
        }
        // A read whose reply cannot be decoded counts as unanswered, so the handshake ends.
        if let FramerError::Decode { header, .. } = &error {
            let xid = header.xid;
            let read = self.sessions.get_mut(&conn).and_then(|s| {
                s.assembler.abandon(xid);
                s.reads.remove(&xid)
            });
            if let Some(read) = read {
                self.read_answered(conn, read, None);
            }
        }
        if error.is_fatal() {
            self.close(conn, "OpenFlow stream cannot be framed");
        }
    }

    fn on_message(&mut self, conn: ConnId, version: u8, msg: Message) {
        let now = self.now;
        let Some(s) = self.sessions.get_mut(&conn) else {
            return;
        };
        // Any message proves the switch alive and answers an outstanding echo.
        s.last_rx = now;
        s.echo_sent = None;
        let phase = s.phase;
        let Message { xid, body } = msg;
        match body {
            Body::EchoRequest(d) => {
                self.out.push_back(Output::Send {
                    conn,
                    msg: Message::new(xid, Body::EchoReply(d)),
                });
                return;
            }
            Body::EchoReply(_) => return,
            _ => {}
        }
        match (phase, body) {
            (Phase::Hello, Body::Hello(h)) => {
                match openflow::negotiate(&[openflow::OFP_VERSION], version, &h) {
                    Ok(_) => {
                        if let Some(s) = self.sessions.get_mut(&conn) {
                            s.phase = Phase::Features;
                        }
                        self.send(conn, Body::FeaturesRequest);
                    }
                    Err(e) => {
                        let err =
                            ErrorMsg::hello_failed(HelloFailedCode::Incompatible, &e.to_string());
                        self.out.push_back(Output::Send {
                            conn,
                            msg: Message::new(xid, err),
                        });
                        self.close(conn, "no common OpenFlow version");
                    }
                }
            }
            (_, Body::Hello(_)) => self.counters.unexpected_messages += 1,
            (Phase::Features, Body::FeaturesReply(f)) => self.on_features(conn, f),
            (Phase::Sync, Body::MultipartReply(r)) => self.on_multipart(conn, xid, r),
            (Phase::Sync, Body::Error(e)) => {
                self.counters.switch_errors += 1;
                let read = self.sessions.get_mut(&conn).and_then(|s| {
                    s.assembler.abandon(xid);
                    s.reads.remove(&xid)
                });
                match read {
                    Some(read) => self.read_answered(conn, read, None),
                    None => {
                        let dpid = self.sessions.get(&conn).and_then(|s| s.dpid);
                        if let Some(dpid) = dpid {
                            let code = e.typed();
                            self.event(EventKind::SwitchError { dpid, code });
                        }
                    }
                }
            }
            (Phase::Sync, Body::PortStatus(ps)) => {
                // After PORT_DESC was answered the reply's ports are updated; before, the
                // reply (which comes later) supersedes it.
                if let Some(ports) = self.sessions.get_mut(&conn).and_then(|s| s.ports.as_mut()) {
                    if ps.reason == PortReason::Delete {
                        ports.remove(&ps.desc.port_no);
                    } else {
                        ports.insert(ps.desc.port_no, ps.desc);
                    }
                }
            }
            (Phase::Ready, body) => self.on_ready_message(conn, xid, body),
            // PORT_STATUS may come before FEATURES_REPLY (NOTES): PORT_DESC will tell.
            (_, Body::PortStatus(_)) => {}
            (_, Body::Error(_)) => self.counters.switch_errors += 1,
            _ => self.counters.unexpected_messages += 1,
        }
    }

    fn on_features(&mut self, conn: ConnId, f: openflow::SwitchFeatures) {
        if f.auxiliary_id != 0 {
            self.close(conn, "auxiliary connections are not used");
            return;
        }
        let dpid = Dpid::from(f.datapath_id);
        if let Some(old) = self.by_dpid.get(&dpid).copied() {
            if old != conn {
                // The same switch on a new connection: the old one is dead (OF1.3.5 §6.3.6).
                self.close(old, "replaced by a new connection of the same switch");
            }
        }
        self.by_dpid.insert(dpid, conn);
        if let Some(s) = self.sessions.get_mut(&conn) {
            s.dpid = Some(dpid);
            s.features = Some(f);
            s.phase = Phase::Sync;
        }
        let config = SwitchConfig {
            flags: ConfigFlags::empty(),
            miss_send_len: self.config.miss_send_len,
        };
        self.send(conn, Body::SetConfig(config));
        let reads = [
            (Read::PortDesc, MultipartRequestBody::PortDesc),
            (Read::GroupFeatures, MultipartRequestBody::GroupFeatures),
            (
                Read::Flows,
                MultipartRequestBody::Flow(FlowStatsRequest::new(
                    crate::rules::SUBSET_TABLE,
                    Match::new(),
                    Cookie(0),
                    0,
                )),
            ),
            (Read::Groups, MultipartRequestBody::GroupDesc),
        ];
        for (read, body) in reads {
            if let Some(xid) = self.send(conn, Body::MultipartRequest(MultipartRequest::new(body)))
            {
                if let Some(s) = self.sessions.get_mut(&conn) {
                    s.reads.insert(xid, read);
                }
            }
        }
    }

    fn on_multipart(&mut self, conn: ConnId, xid: Xid, r: MultipartReply) {
        let Some(s) = self.sessions.get_mut(&conn) else {
            return;
        };
        if !s.reads.contains_key(&xid) {
            self.counters.unexpected_messages += 1;
            return;
        }
        let whole = match s.assembler.push(xid, r) {
            Ok(None) => return,
            Ok(Some(w)) => Some(w.body),
            Err(_) => {
                self.counters.unexpected_messages += 1;
                None
            }
        };
        let read = s.reads.remove(&xid);
        if let Some(read) = read {
            self.read_answered(conn, read, whole);
        }
    }

    fn read_answered(
        &mut self,
        conn: ConnId,
        read: Read,
        body: Option<openflow::MultipartReplyBody>,
    ) {
        let Some(s) = self.sessions.get_mut(&conn) else {
            return;
        };
        s.answer(read, body);
        if s.phase == Phase::Sync && s.synced() {
            self.join(conn);
        }
    }

    /// The handshake is done: the switch joins the fabric, is reconciled, and is probed.
    fn join(&mut self, conn: ConnId) {
        let now = self.now;
        let Some(s) = self.sessions.get_mut(&conn) else {
            return;
        };
        let (Some(dpid), Some(features)) = (s.dpid, s.features.clone()) else {
            return;
        };
        let ports = s.ports.clone().unwrap_or_default();
        let max_groups = s
            .group_features
            .flatten()
            .and_then(|g| g.max_groups_of(GroupType::All));
        let flows = s.flows.take().unwrap_or_default();
        let groups = s.groups.take().unwrap_or_default();
        self.switches.insert(
            dpid,
            SwitchRecord {
                features,
                ports: ports.clone(),
                connected_since: Some(now),
                connected: true,
                max_groups,
            },
        );
        let changes = self
            .topo
            .switch_connected(dpid, ports.values().map(|p| (p.port_no, p.is_up())));
        // Links known from before get a fresh chance to be confirmed by probes.
        for p in ports.keys() {
            if let Some(l) = self.topo.link_at(Endpoint::new(dpid, *p)) {
                for e in [l.a, l.b] {
                    if let Some(side) = self.sides.get_mut(&e) {
                        side.last_seen = now;
                    }
                }
            }
        }
        // Recompute first (the switch is not Ready yet, so nothing goes to it): the desired
        // state below then includes what the new trees put on it.
        self.topology_changed(changes);
        let desired = self.desired(dpid);
        let own = Own {
            pool: &self.pool,
            ids: &self.ids,
        };
        // BIER's flows and groups are ours, reconciled by `bier_state`: not foreign here.
        let (tsm_flows, tsm_groups) = self.bier_not_ours(&flows, &groups);
        let (batch, summary) = reconcile::reconcile(&desired, &tsm_flows, &tsm_groups, &own);
        if let Some(s) = self.sessions.get_mut(&conn) {
            s.phase = Phase::Ready;
        }
        if !batch.is_empty() {
            let op = self.new_op(OpKind::Reconcile);
            self.send_switch_batch(op, dpid, conn, &batch);
            self.settle_op(op);
        }
        self.rv_switch_ready(dpid);
        self.event(EventKind::SwitchUp {
            dpid,
            reconciled: summary,
        });
        self.probe_switch(dpid);
        let neighbours: Vec<Endpoint> = ports
            .keys()
            .filter_map(|p| self.topo.peer(Endpoint::new(dpid, *p)))
            .collect();
        for e in neighbours {
            self.probe_port(e);
        }
        self.bier_joined(conn, dpid, &flows, &groups);
    }

    /// What a switch should have: the infrastructure flows and every subset's group and flow
    /// on it (flows to be re-added get what is left of the lease as hard timeout).
    fn desired(&self, dpid: Dpid) -> Desired {
        let mut d = Desired {
            flows: reconcile::infra_flows(self.config.miss_send_len),
            groups: BTreeMap::new(),
        };
        d.flows.extend(self.snoop_flows());
        for s in self.subsets.values() {
            let Some(i) = s.inst.switches().get(&dpid) else {
                continue;
            };
            let left = s.lease_end.saturating_since(self.now);
            let Ok(rule) = s.inst.rule().with_remaining(left) else {
                continue; // ended: the timer removes it
            };
            d.groups.insert(i.group, i.buckets.clone());
            d.flows.push(rule.flow_add(i.group));
        }
        self.rv_desired(dpid, &mut d);
        d
    }

    fn drop_session(&mut self, conn: ConnId, reason: &'static str) {
        let Some(s) = self.sessions.remove(&conn) else {
            return;
        };
        let Some(dpid) = s.dpid else {
            return;
        };
        if self.by_dpid.get(&dpid) != Some(&conn) {
            return;
        }
        self.by_dpid.remove(&dpid);
        if s.phase != Phase::Ready {
            return;
        }
        if let Some(r) = self.switches.get_mut(&dpid) {
            r.connected = false;
        }
        // Operations waiting on this switch: an install fails (rolled back on the others);
        // anything else stops waiting for it (the switch is reconciled when it comes back).
        let waiting: Vec<OpId> = self
            .ops
            .iter()
            .filter(|(_, o)| o.pending.get(&dpid).is_some_and(|(c, _)| *c == conn))
            .map(|(id, _)| *id)
            .collect();
        for op in waiting {
            let install = match self.ops.get(&op).map(|o| &o.kind) {
                Some(OpKind::Install { addr }) => Some(*addr),
                _ => None,
            };
            match install {
                Some(addr) => {
                    self.abort_install(addr, CommandError::SwitchDisconnected { dpid }, None)
                }
                None => self.switch_done(op, dpid),
            }
        }
        self.rv_switch_gone(dpid);
        let changes = self.topo.switch_disconnected(dpid);
        self.event(EventKind::SwitchDown { dpid, reason });
        self.topology_changed(changes);
    }

    fn on_ready_message(&mut self, conn: ConnId, xid: Xid, body: Body) {
        let Some(dpid) = self.sessions.get(&conn).and_then(|s| s.dpid) else {
            return;
        };
        match body {
            Body::PacketIn(pi) => self.on_packet_in(dpid, pi),
            Body::PortStatus(ps) => self.on_port_status(dpid, ps),
            Body::FlowRemoved(fr) => self.on_flow_removed(fr),
            Body::BarrierReply => self.on_barrier(conn, dpid, xid),
            Body::Error(e) => self.on_switch_error(conn, dpid, xid, &e),
            Body::Experimenter(x) => self.bier_experimenter(conn, xid, &x),
            _ => self.counters.unexpected_messages += 1,
        }
    }

    // ---------------------------------------------------------------------------------------
    // Operations and their barriers.

    fn new_op(&mut self, kind: OpKind) -> OpId {
        let id = OpId(self.next_op);
        self.next_op += 1;
        self.ops.insert(
            id,
            Op {
                kind,
                pending: BTreeMap::new(),
                release: Vec::new(),
            },
        );
        id
    }

    /// Sends one switch's part of an operation, recording every xid.
    fn send_switch_batch(&mut self, op: OpId, dpid: Dpid, conn: ConnId, batch: &SwitchBatch) {
        let mut last = None;
        for body in batch.messages() {
            let barrier = matches!(body, Body::BarrierRequest);
            let Some(xid) = self.send(conn, body) else {
                return;
            };
            if let Some(s) = self.sessions.get_mut(&conn) {
                s.inflight.insert(xid, op);
            }
            if barrier {
                last = Some(xid);
            }
        }
        if let Some(x) = last {
            if let Some(s) = self.sessions.get_mut(&conn) {
                s.barriers.insert(x, op);
            }
            if let Some(o) = self.ops.get_mut(&op) {
                o.pending.insert(dpid, (conn, x));
            }
        }
    }

    /// Sends an operation's batch to the switches that are ready (the others are reconciled
    /// when they come back), and files the group ids to release when each switch answered.
    fn send_batch(&mut self, op: OpId, batch: &Batch, release: Vec<(Dpid, GroupId)>) {
        for (dpid, sb) in &batch.switches {
            if sb.is_empty() {
                continue;
            }
            if let Some(conn) = self.ready_conn(*dpid) {
                self.send_switch_batch(op, *dpid, conn, sb);
            }
        }
        for (d, g) in release {
            match self.ops.get_mut(&op) {
                Some(o) if o.pending.contains_key(&d) => o.release.push((d, g)),
                _ => self.ids.release(d, g),
            }
        }
        self.settle_op(op);
    }

    /// Finishes the operation if it waits for nothing.
    fn settle_op(&mut self, op: OpId) {
        if self.ops.get(&op).is_some_and(|o| o.pending.is_empty()) {
            self.finish_op(op);
        }
    }

    fn on_barrier(&mut self, conn: ConnId, dpid: Dpid, xid: Xid) {
        if self.rv_on_barrier(dpid, xid) {
            return;
        }
        let Some(s) = self.sessions.get_mut(&conn) else {
            return;
        };
        // Everything sent before the barrier is done (OF1.3.5 §6.2).
        s.inflight = s.inflight.split_off(&Xid(xid.0.saturating_add(1)));
        let Some(op) = s.barriers.remove(&xid) else {
            return;
        };
        if self
            .ops
            .get(&op)
            .is_some_and(|o| o.pending.get(&dpid) == Some(&(conn, xid)))
        {
            self.switch_done(op, dpid);
        }
    }

    /// One switch of an operation is done (answered, or gone).
    fn switch_done(&mut self, op: OpId, dpid: Dpid) {
        let Some(o) = self.ops.get_mut(&op) else {
            return;
        };
        o.pending.remove(&dpid);
        let (now, later): (Vec<_>, Vec<_>) = o.release.drain(..).partition(|(d, _)| *d == dpid);
        o.release = later;
        for (d, g) in now {
            self.ids.release(d, g);
        }
        self.settle_op(op);
    }

    fn finish_op(&mut self, op: OpId) {
        let Some(o) = self.ops.remove(&op) else {
            return;
        };
        for (d, g) in o.release {
            self.ids.release(d, g);
        }
        match o.kind {
            OpKind::Install { addr } => {
                let Some(s) = self.subsets.get_mut(&addr) else {
                    return;
                };
                let State::Installing { op: mine, req } = s.state else {
                    return;
                };
                if mine != op {
                    return;
                }
                s.state = State::Live;
                let info = Self::subset_info(addr, s);
                let (group, trace_id) = (s.group.clone(), s.trace_id);
                self.complete(req, Ok(Reply::Subset(info)));
                self.event(EventKind::SubsetReady {
                    addr,
                    group,
                    trace_id,
                });
                self.dirty = true;
            }
            OpKind::Update => {}
            OpKind::Remove { addr, then } => {
                self.pool.release(addr);
                for (id, r) in then {
                    self.complete(id, r);
                }
            }
            OpKind::Reconcile => {}
            OpKind::Bier(b) => self.bier_op_done(op, b),
        }
    }

    fn on_switch_error(&mut self, conn: ConnId, dpid: Dpid, xid: Xid, e: &ErrorMsg) {
        self.counters.switch_errors += 1;
        if self.bier_switch_error(conn, dpid, xid, e) {
            return;
        }
        if self.rv_on_error(dpid, xid, e) {
            return;
        }
        let code = e.typed();
        let op = self
            .sessions
            .get(&conn)
            .and_then(|s| s.inflight.get(&xid).copied());
        let install = op.and_then(|op| match self.ops.get(&op).map(|o| &o.kind) {
            Some(OpKind::Install { addr }) => Some(*addr),
            _ => None,
        });
        match (op, install) {
            (Some(_), Some(addr)) => {
                self.abort_install(addr, CommandError::SwitchRefused { dpid, code }, None)
            }
            // About a message of an install already failed and rolled back: counted only.
            (Some(op), None) if !self.ops.contains_key(&op) => {}
            _ => self.event(EventKind::SwitchError { dpid, code }),
        }
    }

    /// Fails an install: everything sent for it is removed again, and the command is answered
    /// (with `err`, and `extra` as well) once the removal's barriers are back.
    fn abort_install(&mut self, addr: IpAddr, err: CommandError, extra: Option<Answer>) {
        let Some(s) = self.subsets.get(&addr) else {
            return;
        };
        let State::Installing { op, req } = s.state else {
            return;
        };
        let Some(s) = self.subsets.remove(&addr) else {
            return;
        };
        if let Some(o) = self.ops.remove(&op) {
            for (d, g) in o.release {
                self.ids.release(d, g);
            }
        }
        let (batch, released) = s.inst.remove();
        let mut then = vec![(req, Err(err))];
        then.extend(extra);
        let rop = self.new_op(OpKind::Remove { addr, then });
        self.send_batch(rop, &batch, released);
    }

    /// Removes a ready subset (or aborts an installing one).
    fn remove_subset(&mut self, addr: IpAddr, reason: RemovalReason, then: Vec<Answer>) {
        let Some(s) = self.subsets.get(&addr) else {
            return;
        };
        if let State::Installing { .. } = s.state {
            let err = match reason {
                RemovalReason::Expired => CommandError::LeaseEnded,
                _ => CommandError::Cancelled,
            };
            let mut then = then.into_iter();
            let extra = then.next();
            self.abort_install(addr, err, extra);
            return;
        }
        let Some(s) = self.subsets.remove(&addr) else {
            return;
        };
        let (batch, released) = s.inst.remove();
        let op = self.new_op(OpKind::Remove { addr, then });
        self.event(EventKind::SubsetRemoved { addr, reason });
        self.dirty = true;
        self.send_batch(op, &batch, released);
    }

    // ---------------------------------------------------------------------------------------
    // Fabric: ports, discovery, hosts.

    fn on_port_status(&mut self, dpid: Dpid, ps: PortStatus) {
        let port = ps.desc.port_no;
        let up = ps.desc.is_up();
        let delete = ps.reason == PortReason::Delete;
        if let Some(r) = self.switches.get_mut(&dpid) {
            if delete {
                r.ports.remove(&port);
            } else {
                r.ports.insert(port, ps.desc);
            }
        }
        if !port.is_physical() {
            return;
        }
        let e = Endpoint::new(dpid, port);
        let changes = if delete {
            self.topo.remove_port(e)
        } else {
            self.topo.port_status(e, up).unwrap_or_default()
        };
        self.topology_changed(changes);
        if up && !delete {
            // A port that comes up is probed at once, so its link returns quickly.
            self.probe_port(e);
        }
    }

    fn on_packet_in(&mut self, dpid: Dpid, pi: PacketIn) {
        self.counters.packet_ins += 1;
        let Some(in_port) = pi.in_port().filter(|p| p.is_physical()) else {
            self.counters.malformed_packet_ins += 1;
            return;
        };
        let at = Endpoint::new(dpid, in_port);
        if frames::is_lldp(&pi.data) {
            match frames::parse_probe(&pi.data, self.config.lldp_id) {
                Ok(p) => self.on_probe(p, at),
                Err(FrameError::Foreign) => self.counters.foreign_lldp += 1,
                Err(_) => self.counters.malformed_packet_ins += 1,
            }
            return;
        }
        let snooped = match self.snoop_classify(&pi.data) {
            snoop_glue::Snooped::Drop => return,
            snoop_glue::Snooped::Not => None,
            snoop_glue::Snooped::Packet(p) => Some(p),
        };
        match frames::source(&pi.data) {
            Err(_) => self.counters.malformed_packet_ins += 1,
            Ok(None) => {}
            Ok(Some((mac, ip))) => {
                if !self.topo.is_edge_port(at) {
                    self.counters.non_edge_packet_ins += 1;
                    return;
                }
                match self.topo.host_seen(mac, at, ip) {
                    Ok(changes) => self.topology_changed(changes),
                    Err(_) => self.counters.non_edge_packet_ins += 1,
                }
            }
        }
        // IGMP / MLD once its sender is known.
        if let Some(p) = snooped {
            self.snoop_packet(at, &p);
        }
    }

    /// Our probe from `p` arrived at `to`: the direction from `p` to `to` works.
    fn on_probe(&mut self, p: Probe, to: Endpoint) {
        let from = Endpoint::new(p.dpid, p.port);
        if !self.topo.is_switch_live(from.dpid) || !self.topo.has_port(from) || from.dpid == to.dpid
        {
            self.counters.stale_lldp += 1;
            return;
        }
        let now = self.now;
        let known = self
            .topo
            .link_at(from)
            .is_some_and(|l| l.peer(from) == Some(to));
        let changes = if known {
            let side = self.sides.entry(from).or_insert(Side {
                last_seen: now,
                up: false,
            });
            side.last_seen = now;
            if side.up {
                Vec::new()
            } else {
                side.up = true;
                self.topo.link_side(from, true).unwrap_or_default()
            }
        } else {
            match self.topo.add_link(from, to) {
                Ok(c) => {
                    for e in [from, to] {
                        self.sides.insert(
                            e,
                            Side {
                                last_seen: now,
                                up: true,
                            },
                        );
                    }
                    c
                }
                Err(_) => {
                    self.counters.stale_lldp += 1;
                    Vec::new()
                }
            }
        };
        self.topology_changed(changes);
    }

    /// Whether a link side can be confirmed by probes now (both switches connected).
    fn side_ages(&self, e: Endpoint) -> bool {
        self.topo.is_switch_live(e.dpid)
            && self
                .topo
                .peer(e)
                .is_some_and(|p| self.topo.is_switch_live(p.dpid))
    }

    fn probe_switch(&mut self, dpid: Dpid) {
        let ports: Vec<PortNo> = self
            .switches
            .get(&dpid)
            .map(|r| {
                r.ports
                    .values()
                    .filter(|p| p.port_no.is_physical() && p.is_up())
                    .map(|p| p.port_no)
                    .collect()
            })
            .unwrap_or_default();
        for p in ports {
            self.probe_port(Endpoint::new(dpid, p));
        }
    }

    fn probe_port(&mut self, e: Endpoint) {
        let Some(conn) = self.ready_conn(e.dpid) else {
            return;
        };
        let Some(src) = self
            .switches
            .get(&e.dpid)
            .and_then(|r| r.ports.get(&e.port))
            .map(|p| MacAddr(p.hw_addr))
        else {
            return;
        };
        let ttl = self
            .config
            .link_timeout
            .as_secs()
            .clamp(1, u64::from(u16::MAX)) as u16;
        let frame = frames::lldp_probe(e.dpid, e.port, src, ttl, self.config.lldp_id);
        self.counters.lldp_sent += 1;
        self.send(
            conn,
            Body::PacketOut(PacketOut::new(vec![Action::output(e.port)], frame)),
        );
    }

    /// Publishes what changed and, if forwarding may have moved, recomputes.
    fn topology_changed(&mut self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        self.bier_hosts(&changes);
        for c in &changes {
            let kind = match c {
                Change::PortUp(at) => EventKind::PortUp { at: *at },
                Change::PortDown(at) => EventKind::PortDown { at: *at },
                Change::LinkUp(link) => EventKind::LinkUp { link: *link },
                Change::LinkDown(link) => EventKind::LinkDown { link: *link },
                Change::HostAdded(mac) => match self.topo.host(*mac) {
                    Some(h) => EventKind::HostAdded {
                        mac: *mac,
                        at: h.at,
                        ips: h.addrs.iter().copied().collect(),
                    },
                    None => continue,
                },
                Change::HostMoved { mac, from, to } => EventKind::HostMoved {
                    mac: *mac,
                    from: *from,
                    to: *to,
                },
                Change::HostAddrs(mac) => EventKind::HostAddrs {
                    mac: *mac,
                    ips: self
                        .topo
                        .host(*mac)
                        .map(|h| h.addrs.iter().copied().collect())
                        .unwrap_or_default(),
                },
                Change::HostRemoved(mac) => EventKind::HostRemoved { mac: *mac },
                _ => continue,
            };
            self.event(kind);
        }
        self.refresh_forwarding(false);
    }

    // ---------------------------------------------------------------------------------------
    // Forwarding: trees, plans, recompute.

    /// Every group with its members resolved to the hosts known now.
    fn resolved_groups(&self) -> Vec<NegotiatingGroup> {
        // The first host in MAC order owns an address two hosts claim (as `host_by_ip`).
        let mut by_ip: BTreeMap<IpAddr, MacAddr> = BTreeMap::new();
        for h in self.topo.hosts() {
            for a in &h.addrs {
                by_ip.entry(*a).or_insert(h.mac);
            }
        }
        self.groups
            .values()
            .map(|g| {
                NegotiatingGroup::new(
                    g.addr,
                    g.members.iter().filter_map(|ip| by_ip.get(ip).copied()),
                )
            })
            .collect()
    }

    /// Recomputes the group trees; re-plans the subsets of groups whose forwarding changed
    /// (all of them with `force`) and sends the differences.
    fn refresh_forwarding(&mut self, force: bool) {
        self.bier.mark_dirty();
        let groups = self.resolved_groups();
        let trees = group_trees(&self.topo, &groups);
        let changed = changed_groups(&self.trees, &trees);
        self.trees = trees;
        if self.settle_until.is_some() {
            return;
        }
        let addrs: Vec<IpAddr> = self
            .subsets
            .iter()
            .filter(|(_, s)| {
                force
                    || self
                        .groups
                        .get(&s.group)
                        .is_some_and(|g| changed.contains(&g.addr))
            })
            .map(|(a, _)| *a)
            .collect();
        for addr in addrs {
            self.replan(addr);
        }
        self.rv_refresh(force, &changed);
    }

    fn replan(&mut self, addr: IpAddr) {
        let Some(s) = self.subsets.get(&addr) else {
            return;
        };
        let left = s.lease_end.saturating_since(self.now);
        if left.is_zero() {
            return; // the lease timer removes it
        }
        let planned = self.plan_for(&s.group, &s.members);
        let plan = match planned {
            Ok(p) => p,
            Err(e) => {
                let why = e.to_string();
                if let Some(s) = self.subsets.get_mut(&addr) {
                    if !s.degraded {
                        s.degraded = true;
                        self.event(EventKind::SubsetDegraded { addr, why });
                    }
                }
                return;
            }
        };
        let Some(s) = self.subsets.get_mut(&addr) else {
            return;
        };
        s.degraded = false;
        let diff = s.inst.diff_to(&plan);
        if diff.is_empty() {
            return;
        }
        let up = match s.inst.update(&diff, left, &mut self.ids) {
            Ok(u) => u,
            Err(e) => {
                s.degraded = true;
                let why = e.to_string();
                self.event(EventKind::SubsetDegraded { addr, why });
                return;
            }
        };
        s.inst = up.installation;
        let op = match s.state {
            // An install in progress waits for these barriers too.
            State::Installing { op, .. } => op,
            State::Live => self.new_op(OpKind::Update),
        };
        self.dirty = true;
        self.event(EventKind::SubsetRerouted { addr });
        self.send_batch(op, &up.batch, up.released);
    }

    /// Plans `members` of group `name` on the current fabric.
    fn plan_for(
        &self,
        name: &str,
        members: &BTreeSet<IpAddr>,
    ) -> Result<crate::plan::SubsetPlan, CommandError> {
        let g = self
            .groups
            .get(name)
            .ok_or_else(|| CommandError::UnknownGroup {
                name: name.to_owned(),
            })?;
        let mut macs = BTreeSet::new();
        for ip in members {
            let h = self
                .topo
                .host_by_ip(*ip)
                .ok_or(CommandError::UnknownHost { ip: *ip })?;
            macs.insert(h.mac);
        }
        let tree = self
            .trees
            .get(&g.addr)
            .ok_or_else(|| CommandError::NoFabric {
                group: name.to_owned(),
            })?;
        Ok(plan_subset(&self.topo, tree, &macs)?)
    }

    fn on_flow_removed(&mut self, fr: FlowRemoved) {
        // Only expiry on the switch ends a lease; our own deletes (and group deletes) also
        // cause FLOW_REMOVED and mean nothing here.
        if !matches!(
            fr.reason,
            FlowRemovedReason::HardTimeout | FlowRemovedReason::IdleTimeout
        ) {
            return;
        }
        let dst = fr.match_.fields.iter().find_map(|f| match f {
            openflow::Oxm::Ipv4Dst { value, .. } => Some(IpAddr::V4(*value)),
            openflow::Oxm::Ipv6Dst { value, .. } => Some(IpAddr::V6(*value)),
            _ => None,
        });
        let Some(addr) = dst else {
            return;
        };
        let ours = self
            .subsets
            .get(&addr)
            .is_some_and(|s| s.trace_id == fr.cookie.0 && s.state == State::Live);
        if ours {
            self.remove_subset(addr, RemovalReason::Expired, Vec::new());
        }
    }

    // ---------------------------------------------------------------------------------------
    // Timers.

    fn run_timers(&mut self) {
        let now = self.now;
        let c = self.config.clone();
        // Sessions: handshake deadline, silence, echo.
        let conns: Vec<ConnId> = self.sessions.keys().copied().collect();
        for conn in conns {
            let Some(s) = self.sessions.get(&conn) else {
                continue;
            };
            if s.phase != Phase::Ready && now >= s.opened + c.handshake_timeout {
                self.close(conn, "handshake timed out");
            } else if now >= s.last_rx + c.dead_after {
                self.counters.echo_timeouts += 1;
                self.close(conn, "echo timed out: the switch is silent");
            } else if now >= s.last_rx + c.echo_interval && s.echo_sent.is_none() {
                if let Some(s) = self.sessions.get_mut(&conn) {
                    s.echo_sent = Some(now);
                }
                self.send(conn, Body::EchoRequest(Vec::new()));
            }
        }
        // Periodic probes.
        if now >= self.next_lldp {
            self.next_lldp = now + c.lldp_interval;
            let ready: Vec<Dpid> = self
                .by_dpid
                .keys()
                .copied()
                .filter(|d| self.is_ready(*d))
                .collect();
            for d in ready {
                self.probe_switch(d);
            }
        }
        // Link sides not confirmed in time.
        let mut changes = Vec::new();
        let sides: Vec<Endpoint> = self.sides.keys().copied().collect();
        for e in sides {
            if self.topo.link_at(e).is_none() {
                self.sides.remove(&e);
                continue;
            }
            if !self.side_ages(e) {
                continue;
            }
            if let Some(side) = self.sides.get_mut(&e) {
                if side.up && now >= side.last_seen + c.link_timeout {
                    side.up = false;
                    changes.extend(self.topo.link_side(e, false).unwrap_or_default());
                }
            }
        }
        self.topology_changed(changes);
        self.bier_timers();
        // Leases.
        let ended: Vec<IpAddr> = self
            .subsets
            .iter()
            .filter(|(_, s)| s.lease_end <= now)
            .map(|(a, _)| *a)
            .collect();
        for addr in ended {
            self.remove_subset(addr, RemovalReason::Expired, Vec::new());
        }
        self.rv_timers();
        // End of the settling time after a restore.
        if self.settle_until.is_some_and(|t| now >= t) {
            self.settle_until = None;
            self.refresh_forwarding(true);
        }
        self.snoop_timers();
    }

    // ---------------------------------------------------------------------------------------
    // Commands.

    fn on_command(&mut self, id: RequestId, command: Command) {
        match command {
            Command::PutGroup {
                name,
                addr,
                members,
            } => {
                let r = self.put_group(name, addr, members);
                self.complete(id, r);
            }
            Command::DeleteGroup { name } => {
                let r = self.delete_group(name);
                self.complete(id, r);
            }
            Command::PutSnoopedGroup { name, addr } => {
                let r = self.put_snooped_group(name, addr);
                self.complete(id, r);
            }
            Command::CreateSubset {
                group,
                members,
                lease,
                trace_id,
                owner,
            } => {
                if let Err(e) = self.create_subset(id, &group, members, lease, trace_id, owner) {
                    self.complete(id, Err(e));
                }
            }
            Command::Bier(c) => self.bier_command(id, c),
            Command::Rendezvous(c) => self.rv_command(id, c),
            Command::DeleteSubset { addr } => match self.subsets.get(&addr).map(|s| s.state) {
                None => self.complete(id, Err(CommandError::UnknownSubset { addr })),
                Some(_) => self.remove_subset(
                    addr,
                    RemovalReason::Deleted,
                    vec![(id, Ok(Reply::SubsetDeleted { addr }))],
                ),
            },
        }
    }

    /// Checks a group definition against the configuration and the other groups.
    fn check_group(
        &self,
        name: &str,
        addr: IpAddr,
        members: &[IpAddr],
    ) -> Result<(), CommandError> {
        if !valid_name(name) {
            return Err(CommandError::BadGroupName {
                name: name.to_owned(),
            });
        }
        if !addr.is_multicast() {
            return Err(CommandError::NotMulticast { addr });
        }
        if self.pool.contains(addr) {
            return Err(CommandError::AddrInPool { addr });
        }
        if let Some((other, _)) = self
            .groups
            .iter()
            .find(|(n, g)| g.addr == addr && n.as_str() != name)
        {
            return Err(CommandError::AddrInUse {
                addr,
                by: other.clone(),
            });
        }
        if let Some(ip) = members.iter().find(|ip| !unicast_host(**ip)) {
            return Err(CommandError::BadMember { ip: *ip });
        }
        Ok(())
    }

    fn put_group(
        &mut self,
        name: String,
        addr: IpAddr,
        members: Vec<IpAddr>,
    ) -> Result<Reply, CommandError> {
        self.check_group(&name, addr, &members)?;
        let members: BTreeSet<IpAddr> = members.into_iter().collect();
        if let Some(old) = self.groups.get(&name) {
            for (sa, s) in self.subsets.iter().filter(|(_, s)| s.group == name) {
                if old.addr != addr {
                    return Err(CommandError::GroupInUse {
                        name,
                        subset: *sa,
                        what: "its address cannot change",
                    });
                }
                if !s.members.is_subset(&members) {
                    return Err(CommandError::GroupInUse {
                        name,
                        subset: *sa,
                        what: "a member it uses would leave",
                    });
                }
            }
        }
        let version = match self.groups.get(&name) {
            Some(old) if old.members == members => old.version,
            Some(old) => old.version + 1,
            None => 1,
        };
        let g = Group {
            addr,
            members,
            version,
            snooped: false,
        };
        let info = Self::group_info(&name, &g);
        self.groups.insert(name.clone(), g);
        self.event(EventKind::GroupPut {
            name,
            addr,
            members: info.members.clone(),
        });
        self.dirty = true;
        self.refresh_forwarding(false);
        Ok(Reply::Group(info))
    }

    fn delete_group(&mut self, name: String) -> Result<Reply, CommandError> {
        if !self.groups.contains_key(&name) {
            return Err(CommandError::UnknownGroup { name });
        }
        let subsets: Vec<IpAddr> = self
            .subsets
            .iter()
            .filter(|(_, s)| s.group == name)
            .map(|(a, _)| *a)
            .collect();
        for a in subsets {
            self.remove_subset(a, RemovalReason::GroupDeleted, Vec::new());
        }
        self.groups.remove(&name);
        self.event(EventKind::GroupDeleted { name: name.clone() });
        self.dirty = true;
        self.refresh_forwarding(false);
        Ok(Reply::GroupDeleted { name })
    }

    fn make_trace_id(&mut self) -> u64 {
        loop {
            self.trace_counter = self.trace_counter.wrapping_add(1);
            let t = mix(self.trace_counter ^ 0x7473_6d00_7472_6163);
            if t != 0 && t != u64::MAX && !self.subsets.values().any(|s| s.trace_id == t) {
                return t;
            }
        }
    }

    fn create_subset(
        &mut self,
        id: RequestId,
        group: &str,
        members: Vec<IpAddr>,
        lease: Duration,
        trace_id: Option<u64>,
        owner: Option<String>,
    ) -> Result<(), CommandError> {
        let g = self
            .groups
            .get(group)
            .ok_or_else(|| CommandError::UnknownGroup {
                name: group.to_owned(),
            })?;
        let gaddr = g.addr;
        if members.is_empty() {
            return Err(CommandError::EmptySubset);
        }
        if lease.is_zero() {
            return Err(CommandError::ZeroLease);
        }
        if lease > self.config.max_lease {
            return Err(CommandError::LeaseTooLong {
                lease,
                max: self.config.max_lease,
            });
        }
        if let Some(t) = trace_id {
            if t == 0 || t == u64::MAX {
                return Err(CommandError::BadTraceId { trace_id: t });
            }
            if let Some((a, _)) = self.subsets.iter().find(|(_, s)| s.trace_id == t) {
                return Err(CommandError::TraceIdInUse {
                    trace_id: t,
                    by: *a,
                });
            }
        }
        let members: BTreeSet<IpAddr> = members.into_iter().collect();
        if let Some(ip) = members.iter().find(|m| !g.members.contains(m)) {
            return Err(CommandError::NotAMember {
                group: group.to_owned(),
                ip: *ip,
            });
        }
        let plan = self.plan_for(group, &members)?;
        let family = if gaddr.is_ipv4() { "IPv4" } else { "IPv6" };
        let addr = self
            .pool
            .alloc(gaddr)
            .ok_or(CommandError::PoolExhausted { family })?;
        let trace = match trace_id {
            Some(t) => t,
            None => self.make_trace_id(),
        };
        let built = Rule::new(addr, trace, lease)
            .and_then(|rule| Installation::new(&plan, rule, &mut self.ids));
        let inst = match built {
            Ok(i) => i,
            Err(e) => {
                self.pool.release(addr);
                return Err(match e {
                    RuleError::GroupIdsExhausted { dpid } => {
                        CommandError::GroupIdsExhausted { dpid }
                    }
                    RuleError::ReservedTraceId(t) => CommandError::BadTraceId { trace_id: t },
                    _ => CommandError::LeaseTooLong {
                        lease,
                        max: self.config.max_lease,
                    },
                });
            }
        };
        let op = self.new_op(OpKind::Install { addr });
        let batch = inst.install();
        self.subsets.insert(
            addr,
            Subset {
                group: group.to_owned(),
                members,
                lease,
                lease_end: self.now + lease,
                trace_id: trace,
                inst,
                state: State::Installing { op, req: id },
                degraded: false,
                owner,
            },
        );
        self.send_batch(op, &batch, Vec::new());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openflow::error_msg::ErrorCode;

    #[test]
    fn default_config_is_valid_and_bad_ones_are_named() {
        assert_eq!(Config::default().validate(), Ok(()));
        let c = Config {
            echo_interval: Duration::from_secs(3),
            ..Config::default()
        };
        assert!(matches!(c.validate(), Err(ConfigError::Echo { .. })));
        let c = Config {
            max_lease: Duration::from_secs(70_000),
            ..Config::default()
        };
        assert!(matches!(c.validate(), Err(ConfigError::MaxLease(_))));
        let c = Config {
            group_ids: (GroupId(0), GroupId(5)),
            ..Config::default()
        };
        assert!(matches!(c.validate(), Err(ConfigError::GroupIds { .. })));
    }

    #[test]
    fn hello_is_sent_at_once_and_a_version_mismatch_closes() {
        let mut c = Controller::new(Config::default()).unwrap();
        c.handle(Time::ZERO, Input::Connected { conn: ConnId(1) });
        match c.poll_output() {
            Some(Output::Send { msg, .. }) => assert!(matches!(msg.body, Body::Hello(_))),
            o => panic!("{o:?}"),
        }
        // A peer that only speaks 1.0 (header version 1, no bitmap).
        c.handle(
            Time::ZERO,
            Input::Message {
                conn: ConnId(1),
                version: 1,
                msg: Message::new(Xid(9), Body::Hello(openflow::Hello::default())),
            },
        );
        match c.poll_output() {
            Some(Output::Send { msg, .. }) => match msg.body {
                Body::Error(e) => assert_eq!(
                    e.typed(),
                    ErrorCode::HelloFailed(HelloFailedCode::Incompatible)
                ),
                b => panic!("{b:?}"),
            },
            o => panic!("{o:?}"),
        }
        assert!(matches!(c.poll_output(), Some(Output::Close { .. })));
    }

    #[test]
    fn trace_ids_are_never_reserved_values() {
        let mut c = Controller::new(Config::default()).unwrap();
        for _ in 0..1000 {
            let t = c.make_trace_id();
            assert!(t != 0 && t != u64::MAX);
        }
    }
}
