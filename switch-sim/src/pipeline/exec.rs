//! Forwarding a packet through the tables, instructions, action set and groups
//! (OF1.3.5 §5.1, §5.9, §5.10, §5.12), without changing the pipeline: the counters a packet
//! touches are recorded as `Hit`s that `process` applies afterwards and `trace` drops.
//!
//! Choices where the spec leaves room follow Open vSwitch:
//! - output to the port a packet came in on (by number, not `OFPP_IN_PORT`) drops that copy,
//!   everywhere; OF1.3.5 §5.6.1 requires it for ALL groups;
//! - output to `OFPP_NORMAL` or `OFPP_LOCAL` drops the copy (this switch has neither) and
//!   counts it;
//! - a TTL that would reach zero stops the packet's processing (the actions after it are not
//!   applied) with a PACKET_IN of reason `OFPR_INVALID_TTL` if the async configuration asks for
//!   it (OF1.3.5 §5.12);
//! - group bucket actions are applied in order, each bucket to its own copy;
//! - within the action set, pops run VLAN then MPLS, decrements MPLS then IP, and set-field
//!   actions in field-number order (§5.10 leaves the order within a kind open).

use std::borrow::Cow;
use std::collections::BTreeMap;

use openflow::oxm::Oxm;
use openflow::port::{PortConfig, PortState};
use openflow::{
    Action, BufferId, Cookie, GroupId, GroupType, Match, PacketIn, PacketInReason, PacketOut,
    PortNo, QueueId, TableId, CONTROLLER_MAX_LEN_NO_BUFFER,
};

use super::groups::MAX_CHAIN;
use super::{FlowSummary, Pipeline, Time};
use crate::packet::edit::{self, Ttl};
use crate::packet::parse::{parse, Layout};
use crate::packet::FlowKey;

/// Why one copy of a packet went nowhere.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// A table miss and no table-miss entry (OF1.3.5 §5.4).
    NoMatch { table: TableId },
    /// The pipeline ended with no output or group action.
    NoOutput,
    /// Output to the port the packet came in on (use `OFPP_IN_PORT` to send it back).
    IngressPort(PortNo),
    /// Output to a port the switch does not have.
    NoSuchPort(PortNo),
    /// Output to a port whose link or administrative state is down.
    PortDown(PortNo),
    /// Output to a port configured `OFPPC_NO_FWD`.
    NoForward(PortNo),
    /// Received on a port configured `OFPPC_NO_RECV`.
    NoReceive(PortNo),
    /// Output to `OFPP_NORMAL` or `OFPP_LOCAL`.
    NormalOrLocal(PortNo),
    /// A TTL that would reach zero.
    InvalidTtl,
    /// A group action naming a group that does not exist.
    NoGroup(GroupId),
    /// A SELECT or FAST_FAILOVER group with no live bucket.
    NoLiveBucket(GroupId),
    /// Groups chained deeper than the switch follows.
    ChainTooDeep,
    /// A PACKET_IN the async configuration or the port's `OFPPC_NO_PACKET_IN` turned off.
    PacketInSuppressed,
    /// A BIER action dropped the packet, or part of it (`crate::bier`).
    Bier(crate::bier::BierDrop),
}

/// Where a packet went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Processed {
    /// Copies sent out of ports, in the order the actions sent them.
    pub outputs: Vec<(PortNo, Vec<u8>)>,
    /// Copies sent to the controller.
    pub packet_ins: Vec<PacketIn>,
    /// Copies that went nowhere, and why.
    pub drops: Vec<DropReason>,
    /// The flow entries the packet matched, table by table.
    pub matched: Vec<FlowSummary>,
}

impl Processed {
    /// The ports copies went out of, sorted (a port appears once per copy).
    pub fn ports(&self) -> Vec<PortNo> {
        let mut p: Vec<PortNo> = self.outputs.iter().map(|(p, _)| *p).collect();
        p.sort_unstable();
        p
    }

    /// Whether no copy went anywhere (no port, no controller).
    pub fn is_dropped(&self) -> bool {
        self.outputs.is_empty() && self.packet_ins.is_empty()
    }
}

/// A counter a packet touched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Hit {
    Rx(PortNo, u64),
    RxDrop(PortNo),
    Tx(PortNo, u64),
    TxDrop(PortNo),
    Lookup(u8),
    Match(u8, u32, u64),
    Group(u32, u64),
    Bucket(u32, usize, u64),
    NormalOrLocal,
    TableMiss,
    InvalidTtl,
    /// BIER counters and the BIER→TSM cache.
    Bier(crate::bier::dataplane::BierHit),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Go,
    Stop,
}

/// The flow entry (or PACKET_OUT) whose actions are running, for PACKET_IN fields.
#[derive(Clone, Copy, Debug)]
struct Origin {
    table: u8,
    cookie: Cookie,
    table_miss: bool,
    packet_out: bool,
}

/// A packet in flight: bytes (borrowed until an action rewrites them), key and layout.
#[derive(Clone, Debug)]
struct Pkt<'a> {
    data: Cow<'a, [u8]>,
    key: FlowKey,
    lay: Layout,
    /// The bytes changed since `key` and `lay` were computed.
    dirty: bool,
}

impl<'a> Pkt<'a> {
    fn new(in_port: PortNo, data: &'a [u8]) -> Pkt<'a> {
        let mut key = FlowKey::default();
        key.set_in_port(in_port);
        let lay = parse(data, &mut key);
        Pkt {
            data: Cow::Borrowed(data),
            key,
            lay,
            dirty: false,
        }
    }

    /// Re-parses after a rewrite, keeping the pipeline fields.
    fn refresh(&mut self) {
        if !self.dirty {
            return;
        }
        let mut key = FlowKey::default();
        key.set_in_port(self.key.in_port());
        key.set_metadata(self.key.metadata());
        key.set_tunnel_id(self.key.tunnel_id());
        self.lay = parse(&self.data, &mut key);
        self.key = key;
        self.dirty = false;
    }

    fn len(&self) -> u64 {
        self.data.len() as u64
    }
}

/// The action set (OF1.3.5 §5.10): at most one action of each kind (one set-field per field).
#[derive(Clone, Debug, Default)]
struct ActionSet {
    copy_ttl_in: bool,
    pop_vlan: bool,
    pop_mpls: Option<u16>,
    push_mpls: Option<u16>,
    push_vlan: Option<u16>,
    copy_ttl_out: bool,
    dec_mpls_ttl: bool,
    dec_nw_ttl: bool,
    set_mpls_ttl: Option<u8>,
    set_nw_ttl: Option<u8>,
    set_fields: BTreeMap<u8, Oxm>,
    queue: Option<QueueId>,
    group: Option<GroupId>,
    output: Option<(PortNo, u16)>,
}

impl ActionSet {
    /// Write-actions: an action replaces the one of its kind already in the set.
    fn write(&mut self, a: &Action) {
        match a {
            Action::CopyTtlIn => self.copy_ttl_in = true,
            Action::PopVlan => self.pop_vlan = true,
            Action::PopMpls(t) => self.pop_mpls = Some(*t),
            Action::PushMpls(t) => self.push_mpls = Some(*t),
            Action::PushVlan(t) => self.push_vlan = Some(*t),
            Action::CopyTtlOut => self.copy_ttl_out = true,
            Action::DecMplsTtl => self.dec_mpls_ttl = true,
            Action::DecNwTtl => self.dec_nw_ttl = true,
            Action::SetMplsTtl(t) => self.set_mpls_ttl = Some(*t),
            Action::SetNwTtl(t) => self.set_nw_ttl = Some(*t),
            Action::SetField(o) => {
                let code = o.basic_field().map_or(0xff, |f| f.value());
                self.set_fields.insert(code, o.clone());
            }
            Action::SetQueue(q) => self.queue = Some(*q),
            Action::Group(g) => self.group = Some(*g),
            Action::Output { port, max_len } => self.output = Some((*port, *max_len)),
            _ => {}
        }
    }

    /// The set as an action list in the order of OF1.3.5 §5.10; output is left out when a
    /// group action is present.
    fn into_actions(self) -> Vec<Action> {
        let mut v = Vec::new();
        if self.copy_ttl_in {
            v.push(Action::CopyTtlIn);
        }
        if self.pop_vlan {
            v.push(Action::PopVlan);
        }
        if let Some(t) = self.pop_mpls {
            v.push(Action::PopMpls(t));
        }
        if let Some(t) = self.push_mpls {
            v.push(Action::PushMpls(t));
        }
        if let Some(t) = self.push_vlan {
            v.push(Action::PushVlan(t));
        }
        if self.copy_ttl_out {
            v.push(Action::CopyTtlOut);
        }
        if self.dec_mpls_ttl {
            v.push(Action::DecMplsTtl);
        }
        if self.dec_nw_ttl {
            v.push(Action::DecNwTtl);
        }
        if let Some(t) = self.set_mpls_ttl {
            v.push(Action::SetMplsTtl(t));
        }
        if let Some(t) = self.set_nw_ttl {
            v.push(Action::SetNwTtl(t));
        }
        v.extend(self.set_fields.into_values().map(Action::SetField));
        if let Some(q) = self.queue {
            v.push(Action::SetQueue(q));
        }
        match (self.group, self.output) {
            (Some(g), _) => v.push(Action::Group(g)),
            (None, Some((port, max_len))) => v.push(Action::Output { port, max_len }),
            (None, None) => {}
        }
        v
    }
}

/// One packet's run through the pipeline.
struct Run<'p> {
    p: &'p Pipeline,
    out: Processed,
    hits: Vec<Hit>,
}

impl<'p> Run<'p> {
    fn drop(&mut self, why: DropReason) {
        self.out.drops.push(why);
    }

    fn tables(&mut self, pkt: &mut Pkt<'_>, start: u8) {
        let p = self.p;
        let mut set = ActionSet::default();
        let mut t = start;
        loop {
            pkt.refresh();
            let Some(table) = p.tables.get(usize::from(t)) else {
                return;
            };
            self.hits.push(Hit::Lookup(t));
            let Some(e) = table.lookup(&pkt.key, &p.flows).and_then(|id| {
                self.hits.push(Hit::Match(t, id, pkt.len()));
                p.flow(id)
            }) else {
                self.hits.push(Hit::TableMiss);
                self.drop(DropReason::NoMatch { table: TableId(t) });
                return;
            };
            self.out.matched.push(FlowSummary {
                table_id: TableId(t),
                priority: e.priority,
                cookie: e.cookie,
            });
            let origin = Origin {
                table: t,
                cookie: e.cookie,
                table_miss: e.is_table_miss(),
                packet_out: false,
            };
            let prog = &e.prog;
            if !prog.apply.is_empty() && self.apply_list(pkt, &prog.apply, &origin, 0) == Flow::Stop
            {
                return;
            }
            if prog.clear {
                set = ActionSet::default();
            }
            for a in &prog.write {
                set.write(a);
            }
            if let Some((value, mask)) = prog.metadata {
                let md = pkt.key.metadata();
                pkt.key.set_metadata((md & !mask) | (value & mask));
            }
            match prog.goto {
                Some(next) => t = next,
                None => {
                    let has_out = set.group.is_some() || set.output.is_some();
                    let actions = set.into_actions();
                    if self.apply_list(pkt, &actions, &origin, 0) == Flow::Go && !has_out {
                        // Only a drop if nothing else (apply-actions) sent a copy anywhere.
                        if self.out.outputs.is_empty() && self.out.packet_ins.is_empty() {
                            self.drop(DropReason::NoOutput);
                        }
                    }
                    return;
                }
            }
        }
    }

    fn apply_list(
        &mut self,
        pkt: &mut Pkt<'_>,
        actions: &[Action],
        origin: &Origin,
        depth: u8,
    ) -> Flow {
        for a in actions {
            if self.action(pkt, a, origin, depth) == Flow::Stop {
                return Flow::Stop;
            }
        }
        Flow::Go
    }

    fn edit(pkt: &mut Pkt<'_>, f: impl FnOnce(&mut Vec<u8>, &Layout)) {
        pkt.refresh();
        let lay = pkt.lay;
        f(pkt.data.to_mut(), &lay);
        pkt.dirty = true;
    }

    fn ttl(
        &mut self,
        pkt: &mut Pkt<'_>,
        origin: &Origin,
        f: fn(&mut [u8], &Layout) -> Ttl,
    ) -> Flow {
        pkt.refresh();
        let lay = pkt.lay;
        match f(pkt.data.to_mut(), &lay) {
            Ttl::Ok => {
                pkt.dirty = true;
                Flow::Go
            }
            Ttl::Invalid => {
                self.hits.push(Hit::InvalidTtl);
                self.drop(DropReason::InvalidTtl);
                self.packet_in(
                    pkt,
                    PacketInReason::InvalidTtl,
                    CONTROLLER_MAX_LEN_NO_BUFFER,
                    origin,
                );
                Flow::Stop
            }
        }
    }

    fn action(&mut self, pkt: &mut Pkt<'_>, a: &Action, origin: &Origin, depth: u8) -> Flow {
        match a {
            Action::Output { port, max_len } => self.output(pkt, *port, *max_len, origin, depth),
            Action::Group(g) => self.group(pkt, g.0, origin, depth),
            Action::SetField(Oxm::Metadata { value, .. }) => pkt.key.set_metadata(*value),
            Action::SetField(Oxm::TunnelId { value, .. }) => pkt.key.set_tunnel_id(*value),
            Action::SetField(o) => Self::edit(pkt, |d, l| edit::set_field(d, l, o)),
            Action::PushVlan(t) => Self::edit(pkt, |d, l| edit::push_vlan(d, l, *t)),
            Action::PopVlan => Self::edit(pkt, edit::pop_vlan),
            Action::PushMpls(t) => Self::edit(pkt, |d, l| edit::push_mpls(d, l, *t)),
            Action::PopMpls(t) => Self::edit(pkt, |d, l| edit::pop_mpls(d, l, *t)),
            Action::SetNwTtl(t) => Self::edit(pkt, |d, l| edit::set_nw_ttl(d, l, *t)),
            Action::SetMplsTtl(t) => Self::edit(pkt, |d, l| edit::set_mpls_ttl(d, l, *t)),
            Action::CopyTtlIn => Self::edit(pkt, |d, l| edit::copy_ttl_in(d, l)),
            Action::CopyTtlOut => Self::edit(pkt, |d, l| edit::copy_ttl_out(d, l)),
            Action::DecNwTtl => return self.ttl(pkt, origin, edit::dec_nw_ttl),
            Action::DecMplsTtl => return self.ttl(pkt, origin, edit::dec_mpls_ttl),
            // Queues are not modelled; the packet goes out as if on the default queue.
            Action::SetQueue(_) => {}
            Action::Experimenter { experimenter, data }
                if *experimenter == openflow::ext::bier::EXPERIMENTER_ID =>
            {
                return self.bier(pkt, data, origin, depth)
            }
            _ => {}
        }
        Flow::Go
    }

    fn output(&mut self, pkt: &mut Pkt<'_>, port: PortNo, max_len: u16, o: &Origin, depth: u8) {
        let in_port = pkt.key.in_port();
        match port {
            PortNo::IN_PORT => self.emit(pkt, in_port),
            PortNo::ALL | PortNo::FLOOD => {
                let p = self.p;
                for (n, e) in &p.ports {
                    let blocked = e.desc.state.contains(PortState::BLOCKED);
                    if *n == in_port.0 || !e.is_live() || (port == PortNo::FLOOD && blocked) {
                        continue;
                    }
                    self.emit(pkt, PortNo(*n));
                }
            }
            PortNo::CONTROLLER => {
                let reason = if o.table_miss {
                    PacketInReason::NoMatch
                } else {
                    PacketInReason::Action
                };
                self.packet_in(pkt, reason, max_len, o);
            }
            PortNo::NORMAL | PortNo::LOCAL => {
                self.hits.push(Hit::NormalOrLocal);
                self.drop(DropReason::NormalOrLocal(port));
            }
            PortNo::TABLE if o.packet_out && depth == 0 => {
                // OF1.3.5 §4.5: a PACKET_OUT's output to TABLE runs the packet through the
                // tables from the first one.
                let mut copy = pkt.clone();
                self.tables(&mut copy, 0);
            }
            p if p == in_port => self.drop(DropReason::IngressPort(p)),
            p => self.emit(pkt, p),
        }
    }

    /// Runs one of our BIER actions (`crate::bier::dataplane`).
    fn bier(&mut self, pkt: &mut Pkt<'_>, data: &[u8], o: &Origin, depth: u8) -> Flow {
        use crate::bier::dataplane::{run_action, Outcome, Send};
        use crate::bier::BierDrop;
        let p = self.p;
        let Some(state) = p.bier.as_deref() else {
            self.drop(DropReason::Bier(BierDrop::Disabled));
            return Flow::Stop;
        };
        pkt.refresh();
        let exists = |g: u32| p.groups.contains_key(&g);
        match run_action(state, data, &pkt.data, &pkt.key, &exists) {
            Outcome::Rewritten(frame, hit) => {
                pkt.data = Cow::Owned(frame);
                pkt.dirty = true;
                self.hits.push(Hit::Bier(hit));
                Flow::Go
            }
            Outcome::Dropped(d) => {
                self.hits
                    .push(Hit::Bier(crate::bier::dataplane::BierHit::Drop(d, 1)));
                self.drop(DropReason::Bier(d));
                Flow::Stop
            }
            Outcome::Forwarded(v) => {
                self.hits.extend(v.hits.into_iter().map(Hit::Bier));
                self.out
                    .drops
                    .extend(v.drops.into_iter().map(DropReason::Bier));
                if let Some(g) = v.group {
                    self.group(pkt, g, o, depth);
                }
                for s in v.sends {
                    match s {
                        Send::Copy(port, f) | Send::Deliver(port, f) => {
                            self.emit_bytes(port, f);
                        }
                        Send::Controller(f) => {
                            let copy = Pkt {
                                data: Cow::Owned(f),
                                key: pkt.key,
                                lay: pkt.lay,
                                dirty: true,
                            };
                            self.packet_in(
                                &copy,
                                PacketInReason::Action,
                                CONTROLLER_MAX_LEN_NO_BUFFER,
                                o,
                            );
                        }
                    }
                }
                // The packet is consumed: copies leave directly by their ports (draft §10.3).
                Flow::Stop
            }
        }
    }

    fn emit(&mut self, pkt: &Pkt<'_>, port: PortNo) {
        self.emit_bytes(port, pkt.data.to_vec());
    }

    fn emit_bytes(&mut self, port: PortNo, data: Vec<u8>) {
        let len = data.len() as u64;
        let Some(e) = self.p.ports.get(&port.0) else {
            self.drop(DropReason::NoSuchPort(port));
            return;
        };
        if !e.is_live() {
            self.hits.push(Hit::TxDrop(port));
            self.drop(DropReason::PortDown(port));
            return;
        }
        if e.desc.config.contains(PortConfig::NO_FWD) {
            self.hits.push(Hit::TxDrop(port));
            self.drop(DropReason::NoForward(port));
            return;
        }
        self.hits.push(Hit::Tx(port, len));
        self.out.outputs.push((port, data));
    }

    fn packet_in(&mut self, pkt: &Pkt<'_>, reason: PacketInReason, max_len: u16, o: &Origin) {
        let data: &[u8] = &pkt.data;
        let keep = if max_len == CONTROLLER_MAX_LEN_NO_BUFFER {
            data.len()
        } else {
            data.len().min(usize::from(max_len))
        };
        // OF1.3.5 §7.4.1: the match carries the pipeline fields.
        let mut m = Match::new().with(Oxm::InPort(pkt.key.in_port()));
        if pkt.key.metadata() != 0 {
            m = m.with(Oxm::Metadata {
                value: pkt.key.metadata(),
                mask: None,
            });
        }
        if pkt.key.tunnel_id() != 0 {
            m = m.with(Oxm::TunnelId {
                value: pkt.key.tunnel_id(),
                mask: None,
            });
        }
        let pi = PacketIn {
            buffer_id: BufferId::NO_BUFFER,
            total_len: u16::try_from(data.len()).unwrap_or(u16::MAX),
            reason,
            table_id: TableId(o.table),
            cookie: o.cookie,
            match_: m,
            data: data.get(..keep).unwrap_or_default().to_vec(),
        };
        if self.p.packet_in_allowed(&pi) {
            self.out.packet_ins.push(pi);
        } else {
            self.drop(DropReason::PacketInSuppressed);
        }
    }

    fn group(&mut self, pkt: &mut Pkt<'_>, gid: u32, o: &Origin, depth: u8) {
        if depth >= MAX_CHAIN {
            self.drop(DropReason::ChainTooDeep);
            return;
        }
        let p = self.p;
        let Some(g) = p.groups.get(&gid) else {
            self.drop(DropReason::NoGroup(GroupId(gid)));
            return;
        };
        self.hits.push(Hit::Group(gid, pkt.len()));
        if g.kind == GroupType::All {
            for (i, b) in g.buckets.iter().enumerate() {
                self.hits.push(Hit::Bucket(gid, i, pkt.len()));
                let mut copy = pkt.clone();
                self.apply_list(&mut copy, &b.actions, o, depth + 1);
            }
            return;
        }
        pkt.refresh();
        match p.pick_bucket(g, &pkt.key, depth) {
            Some(i) => {
                self.hits.push(Hit::Bucket(gid, i, pkt.len()));
                if let Some(b) = g.buckets.get(i) {
                    let mut copy = pkt.clone();
                    self.apply_list(&mut copy, &b.actions, o, depth + 1);
                }
            }
            None => self.drop(DropReason::NoLiveBucket(GroupId(gid))),
        }
    }
}

impl Pipeline {
    /// Runs a packet that arrived on `in_port` through the tables.
    pub(crate) fn run(&self, in_port: PortNo, packet: &[u8]) -> (Processed, Vec<Hit>) {
        let mut r = Run {
            p: self,
            out: Processed::default(),
            hits: Vec::with_capacity(8),
        };
        r.hits.push(Hit::Rx(in_port, packet.len() as u64));
        let no_recv = self
            .ports
            .get(&in_port.0)
            .is_some_and(|e| e.desc.config.contains(PortConfig::NO_RECV));
        if no_recv {
            r.hits.push(Hit::RxDrop(in_port));
            r.drop(DropReason::NoReceive(in_port));
        } else {
            let mut pkt = Pkt::new(in_port, packet);
            r.tables(&mut pkt, 0);
        }
        (r.out, r.hits)
    }

    /// Runs a PACKET_OUT's actions on its packet (already checked).
    pub(crate) fn run_packet_out(&self, po: &PacketOut) -> (Processed, Vec<Hit>) {
        let mut r = Run {
            p: self,
            out: Processed::default(),
            hits: Vec::new(),
        };
        let mut pkt = Pkt::new(po.in_port, &po.data);
        // Open vSwitch reports PACKET_OUT copies to the controller with table 0xff and an
        // all-ones cookie.
        let origin = Origin {
            table: TableId::ALL.0,
            cookie: Cookie(u64::MAX),
            table_miss: false,
            packet_out: true,
        };
        r.apply_list(&mut pkt, &po.actions, &origin, 0);
        (r.out, r.hits)
    }

    /// Applies the counters a run touched.
    pub(crate) fn apply_hits(&mut self, now: Time, hits: &[Hit]) {
        for h in hits {
            match *h {
                Hit::Rx(p, len) => {
                    if let Some(e) = self.ports.get_mut(&p.0) {
                        e.counters.rx_packets += 1;
                        e.counters.rx_bytes += len;
                    }
                }
                Hit::RxDrop(p) => {
                    if let Some(e) = self.ports.get_mut(&p.0) {
                        e.counters.rx_dropped += 1;
                    }
                }
                Hit::Tx(p, len) => {
                    if let Some(e) = self.ports.get_mut(&p.0) {
                        e.counters.tx_packets += 1;
                        e.counters.tx_bytes += len;
                    }
                }
                Hit::TxDrop(p) => {
                    if let Some(e) = self.ports.get_mut(&p.0) {
                        e.counters.tx_dropped += 1;
                    }
                }
                Hit::Lookup(t) => {
                    if let Some(t) = self.tables.get_mut(usize::from(t)) {
                        t.lookups += 1;
                    }
                }
                Hit::Match(t, id, len) => {
                    if let Some(t) = self.tables.get_mut(usize::from(t)) {
                        t.matched += 1;
                    }
                    if let Some(e) = self.flows.get_mut(id as usize).and_then(Option::as_mut) {
                        e.packets += 1;
                        e.bytes += len;
                        e.used = now;
                    }
                }
                Hit::Group(g, len) => {
                    if let Some(g) = self.groups.get_mut(&g) {
                        g.packets += 1;
                        g.bytes += len;
                    }
                }
                Hit::Bucket(g, i, len) => {
                    if let Some(c) = self
                        .groups
                        .get_mut(&g)
                        .and_then(|g| g.bucket_counts.get_mut(i))
                    {
                        c.0 += 1;
                        c.1 += len;
                    }
                }
                Hit::NormalOrLocal => self.drops.normal_or_local += 1,
                Hit::TableMiss => self.drops.table_miss += 1,
                Hit::InvalidTtl => self.drops.invalid_ttl += 1,
                Hit::Bier(ref b) => self.bier_hit(now, b),
            }
        }
    }
}
