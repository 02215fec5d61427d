//! A fabric of pipelines: switches keyed by datapath id, links between switch ports, hosts
//! attached to ports; and the checker that follows a packet through all of it.
//!
//! `Fabric::trace` sends a packet in from a host (or a switch port) and follows every copy
//! across links until it leaves the fabric at a port without a link (a delivery, to the host
//! there if any), goes to a controller, or is dropped. It reports:
//! - loops: a copy that reaches a (switch, in port, bytes) state already on its own path (a
//!   deterministic pipeline would repeat it forever), or a path longer than the hop budget;
//! - duplicates: the same bytes delivered more than once to one port, or carried more than
//!   once over the same link direction.
//!
//! Guarantees: `trace` changes nothing (it uses `Pipeline::trace`); the walk is bounded by the
//! hop budget and the number of switch visits, so it ends on any rules; results are ordered
//! deterministically (breadth first, ports in the order the actions sent them).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr};

use openflow::oxm::MacAddr;
use openflow::{DatapathId, ErrorMsg, Message, PacketIn, PortNo};

use crate::pipeline::{Config, DropReason, Pipeline, Time};

/// A port of a switch: an attachment point, a link end, or where a copy left the fabric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Edge {
    pub dpid: DatapathId,
    pub port: PortNo,
}

impl Edge {
    pub fn new(dpid: u64, port: u32) -> Edge {
        Edge {
            dpid: DatapathId(dpid),
            port: PortNo(port),
        }
    }
}

impl core::fmt::Display for Edge {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:x}:{}", self.dpid.0, self.port.0)
    }
}

/// A host attached to a switch port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub mac: MacAddr,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub at: Edge,
}

/// Where a traced packet enters the fabric.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ingress {
    /// From a host, at its attachment point.
    Host(String),
    /// Into a switch port.
    Port(Edge),
}

impl From<&str> for Ingress {
    fn from(h: &str) -> Ingress {
        Ingress::Host(h.to_owned())
    }
}

impl From<Edge> for Ingress {
    fn from(e: Edge) -> Ingress {
        Ingress::Port(e)
    }
}

/// Why a fabric change or trace was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FabricError {
    #[error("switch {0} already exists")]
    DuplicateSwitch(DatapathId),
    #[error("no switch {0}")]
    UnknownSwitch(DatapathId),
    #[error("switch {} has no port {}", .0.dpid, .0.port.0)]
    UnknownPort(Edge),
    #[error("port {0} is already linked or has a host")]
    PortInUse(Edge),
    #[error("host {0:?} already exists")]
    DuplicateHost(String),
    #[error("no host {0:?}")]
    UnknownHost(String),
}

/// A copy that left the fabric.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The port it left by.
    pub at: Edge,
    /// The host on that port, if any.
    pub host: Option<String>,
    pub packet: Vec<u8>,
    /// Switches the copy went through.
    pub hops: usize,
}

/// A loop the trace found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loop {
    /// A copy came back to a (switch, in port) with the same bytes it had there before on
    /// its own path.
    Repeated { at: Edge, path: Vec<Edge> },
    /// A path longer than the hop budget, or more switch visits than the visit budget.
    Budget { at: Edge, hops: usize },
}

/// Everything a traced packet did in the fabric.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceReport {
    pub deliveries: Vec<Delivery>,
    pub packet_ins: Vec<(DatapathId, PacketIn)>,
    pub drops: Vec<(Edge, DropReason)>,
    pub loops: Vec<Loop>,
    /// Copies sent over each link, by the sending port.
    pub link_copies: BTreeMap<Edge, usize>,
    /// Switch visits.
    pub visits: usize,
}

impl TraceReport {
    /// Copies delivered per port.
    pub fn ports(&self) -> BTreeMap<Edge, usize> {
        let mut m = BTreeMap::new();
        for d in &self.deliveries {
            *m.entry(d.at).or_insert(0) += 1;
        }
        m
    }

    /// Copies delivered per host (ports without a host are left out).
    pub fn hosts(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for d in &self.deliveries {
            if let Some(h) = &d.host {
                *m.entry(h.clone()).or_insert(0) += 1;
            }
        }
        m
    }

    /// Ports that got the same bytes more than once, with how many copies.
    pub fn duplicates(&self) -> Vec<(Edge, usize)> {
        let mut m: BTreeMap<(Edge, &[u8]), usize> = BTreeMap::new();
        for d in &self.deliveries {
            *m.entry((d.at, d.packet.as_slice())).or_insert(0) += 1;
        }
        m.into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|((e, _), n)| (e, n))
            .collect()
    }

    /// Link directions that carried more than one copy.
    pub fn link_duplicates(&self) -> Vec<(Edge, usize)> {
        self.link_copies
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(e, n)| (*e, *n))
            .collect()
    }

    /// Whether the packet looped.
    pub fn has_loop(&self) -> bool {
        !self.loops.is_empty()
    }

    /// Whether exactly the named hosts got exactly one copy each, no other port got anything,
    /// and nothing looped: the fabric checker's main assertion.
    pub fn delivered_exactly_once_to(&self, hosts: &[&str]) -> bool {
        let want: BTreeMap<String, usize> = hosts.iter().map(|h| ((*h).to_owned(), 1)).collect();
        !self.has_loop() && self.hosts() == want && self.deliveries.iter().all(|d| d.host.is_some())
    }
}

/// Switches, links and hosts.
#[derive(Debug)]
pub struct Fabric {
    switches: BTreeMap<DatapathId, Pipeline>,
    links: BTreeMap<Edge, Edge>,
    hosts: BTreeMap<String, Host>,
    host_at: BTreeMap<Edge, String>,
    /// Longest path (switch visits) a copy may take before it counts as a loop.
    pub hop_budget: usize,
    /// Most switch visits one trace makes in all.
    pub visit_budget: usize,
}

impl Default for Fabric {
    fn default() -> Self {
        Fabric::new()
    }
}

/// What a walk does at a switch: forward a copy that entered by a port.
type Step<'a> = dyn FnMut(DatapathId, PortNo, &[u8]) -> Option<crate::Processed> + 'a;

/// One copy waiting to enter a switch; `parent` indexes the arena of visited states.
struct Item {
    at: Edge,
    packet: Vec<u8>,
    parent: Option<usize>,
    hops: usize,
}

impl Fabric {
    pub fn new() -> Fabric {
        Fabric {
            switches: BTreeMap::new(),
            links: BTreeMap::new(),
            hosts: BTreeMap::new(),
            host_at: BTreeMap::new(),
            hop_budget: 64,
            visit_budget: 100_000,
        }
    }

    /// Adds a switch.
    pub fn add_switch(&mut self, p: Pipeline) -> Result<(), FabricError> {
        let dpid = p.dpid();
        if self.switches.contains_key(&dpid) {
            return Err(FabricError::DuplicateSwitch(dpid));
        }
        self.switches.insert(dpid, p);
        Ok(())
    }

    /// Adds a switch with the default configuration and ports `1..=n_ports`.
    pub fn add_switch_with_ports(&mut self, dpid: u64, n_ports: u32) -> Result<(), FabricError> {
        self.add_switch(Pipeline::with_ports(Config::with_dpid(dpid), n_ports))
    }

    pub fn switch(&self, dpid: DatapathId) -> Option<&Pipeline> {
        self.switches.get(&dpid)
    }

    pub fn switch_mut(&mut self, dpid: DatapathId) -> Option<&mut Pipeline> {
        self.switches.get_mut(&dpid)
    }

    pub fn switches(&self) -> impl Iterator<Item = &Pipeline> {
        self.switches.values()
    }

    fn check_free(&self, e: Edge) -> Result<(), FabricError> {
        let sw = self
            .switches
            .get(&e.dpid)
            .ok_or(FabricError::UnknownSwitch(e.dpid))?;
        if sw.port(e.port).is_none() {
            return Err(FabricError::UnknownPort(e));
        }
        if self.links.contains_key(&e) || self.host_at.contains_key(&e) {
            return Err(FabricError::PortInUse(e));
        }
        Ok(())
    }

    /// Links two switch ports (both directions).
    pub fn link(&mut self, a: Edge, b: Edge) -> Result<(), FabricError> {
        self.check_free(a)?;
        self.check_free(b)?;
        if a == b {
            return Err(FabricError::PortInUse(a));
        }
        self.links.insert(a, b);
        self.links.insert(b, a);
        Ok(())
    }

    /// The other end of a link.
    pub fn peer(&self, e: Edge) -> Option<Edge> {
        self.links.get(&e).copied()
    }

    /// Every link once, lower end first.
    pub fn links(&self) -> impl Iterator<Item = (Edge, Edge)> + '_ {
        self.links
            .iter()
            .filter(|(a, b)| a < b)
            .map(|(a, b)| (*a, *b))
    }

    /// Brings both ends of a link up or down (the ports' link state, so fast-failover groups
    /// react).
    pub fn set_link_up(&mut self, e: Edge, up: bool) -> Result<(), FabricError> {
        let peer = self.peer(e).ok_or(FabricError::UnknownPort(e))?;
        for end in [e, peer] {
            let sw = self
                .switches
                .get_mut(&end.dpid)
                .ok_or(FabricError::UnknownSwitch(end.dpid))?;
            sw.set_port_up(end.port, up)
                .map_err(|_| FabricError::UnknownPort(end))?;
        }
        Ok(())
    }

    /// Attaches a host.
    pub fn add_host(&mut self, host: Host) -> Result<(), FabricError> {
        if self.hosts.contains_key(&host.name) {
            return Err(FabricError::DuplicateHost(host.name));
        }
        self.check_free(host.at)?;
        self.host_at.insert(host.at, host.name.clone());
        self.hosts.insert(host.name.clone(), host);
        Ok(())
    }

    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.get(name)
    }

    pub fn hosts(&self) -> impl Iterator<Item = &Host> {
        self.hosts.values()
    }

    /// Ports without a link (host ports included): where copies leave the fabric.
    pub fn edge_ports(&self) -> Vec<Edge> {
        self.switches
            .values()
            .flat_map(|s| {
                s.ports().map(move |p| Edge {
                    dpid: s.dpid(),
                    port: p.port_no,
                })
            })
            .filter(|e| !self.links.contains_key(e))
            .collect()
    }

    /// Feeds controller messages to one switch and returns the errors it answered.
    pub fn apply(
        &mut self,
        now: Time,
        dpid: DatapathId,
        msgs: &[Message],
    ) -> Result<Vec<ErrorMsg>, FabricError> {
        let sw = self
            .switches
            .get_mut(&dpid)
            .ok_or(FabricError::UnknownSwitch(dpid))?;
        for m in msgs {
            sw.handle_message(now, m);
        }
        let mut errors = Vec::new();
        while let Some(m) = sw.poll_output() {
            if let openflow::Body::Error(e) = m.body {
                errors.push(e);
            }
        }
        Ok(errors)
    }

    fn ingress(&self, from: &Ingress) -> Result<Edge, FabricError> {
        match from {
            Ingress::Host(h) => self
                .hosts
                .get(h)
                .map(|h| h.at)
                .ok_or_else(|| FabricError::UnknownHost(h.clone())),
            Ingress::Port(e) => {
                if !self.switches.contains_key(&e.dpid) {
                    return Err(FabricError::UnknownSwitch(e.dpid));
                }
                Ok(*e)
            }
        }
    }

    /// Follows `packet` from `from` through the fabric without changing anything.
    pub fn trace(
        &self,
        from: impl Into<Ingress>,
        packet: &[u8],
    ) -> Result<TraceReport, FabricError> {
        let start = self.ingress(&from.into())?;
        Ok(self.walk(start, packet, |sw, port, bytes| sw.trace(port, bytes)))
    }

    /// `trace`, giving just the copies delivered per port.
    pub fn deliveries(
        &self,
        from: impl Into<Ingress>,
        packet: &[u8],
    ) -> Result<BTreeMap<Edge, Vec<Vec<u8>>>, FabricError> {
        let r = self.trace(from, packet)?;
        let mut m: BTreeMap<Edge, Vec<Vec<u8>>> = BTreeMap::new();
        for d in r.deliveries {
            m.entry(d.at).or_default().push(d.packet);
        }
        Ok(m)
    }

    /// Like `trace`, but every switch processes the copies for real (counters, idle times,
    /// PACKET_INs queued).
    pub fn process(
        &mut self,
        now: Time,
        from: impl Into<Ingress>,
        packet: &[u8],
    ) -> Result<TraceReport, FabricError> {
        let start = self.ingress(&from.into())?;
        let mut switches = std::mem::take(&mut self.switches);
        let report = self.walk_mut(&mut switches, start, packet, now);
        self.switches = switches;
        Ok(report)
    }

    fn walk_mut(
        &self,
        switches: &mut BTreeMap<DatapathId, Pipeline>,
        start: Edge,
        packet: &[u8],
        now: Time,
    ) -> TraceReport {
        let mut step = |dpid: DatapathId, port: PortNo, bytes: &[u8]| {
            switches
                .get_mut(&dpid)
                .map(|sw| sw.process(now, port, bytes))
        };
        self.walk_with(start, packet, &mut step)
    }

    fn walk(
        &self,
        start: Edge,
        packet: &[u8],
        f: impl Fn(&Pipeline, PortNo, &[u8]) -> crate::Processed,
    ) -> TraceReport {
        let mut step = |dpid: DatapathId, port: PortNo, bytes: &[u8]| {
            self.switches.get(&dpid).map(|sw| f(sw, port, bytes))
        };
        self.walk_with(start, packet, &mut step)
    }

    fn walk_with(&self, start: Edge, packet: &[u8], step: &mut Step<'_>) -> TraceReport {
        let mut report = TraceReport::default();
        // Visited states: (where, bytes, parent), for the path of each copy.
        let mut arena: Vec<(Edge, Vec<u8>, Option<usize>)> = Vec::new();
        let mut queue = VecDeque::new();
        queue.push_back(Item {
            at: start,
            packet: packet.to_vec(),
            parent: None,
            hops: 0,
        });
        while let Some(item) = queue.pop_front() {
            if item.hops >= self.hop_budget || report.visits >= self.visit_budget {
                report.loops.push(Loop::Budget {
                    at: item.at,
                    hops: item.hops,
                });
                if report.visits >= self.visit_budget {
                    break;
                }
                continue;
            }
            // A state already on this copy's own path: the same thing would happen again.
            let mut path = Vec::new();
            let mut cur = item.parent;
            let mut repeated = false;
            while let Some(i) = cur {
                let Some((at, bytes, parent)) = arena.get(i) else {
                    break;
                };
                path.push(*at);
                if *at == item.at && *bytes == item.packet {
                    repeated = true;
                }
                cur = *parent;
            }
            if repeated {
                path.reverse();
                report.loops.push(Loop::Repeated { at: item.at, path });
                continue;
            }
            report.visits += 1;
            let Some(out) = step(item.at.dpid, item.at.port, &item.packet) else {
                report
                    .drops
                    .push((item.at, DropReason::NoSuchPort(item.at.port)));
                continue;
            };
            arena.push((item.at, item.packet, item.parent));
            let me = arena.len() - 1;
            for d in out.drops {
                report.drops.push((item.at, d));
            }
            for pi in out.packet_ins {
                report.packet_ins.push((item.at.dpid, pi));
            }
            for (port, bytes) in out.outputs {
                let here = Edge {
                    dpid: item.at.dpid,
                    port,
                };
                match self.links.get(&here) {
                    Some(peer) => {
                        *report.link_copies.entry(here).or_insert(0) += 1;
                        queue.push_back(Item {
                            at: *peer,
                            packet: bytes,
                            parent: Some(me),
                            hops: item.hops + 1,
                        });
                    }
                    None => report.deliveries.push(Delivery {
                        at: here,
                        host: self.host_at.get(&here).cloned(),
                        packet: bytes,
                        hops: item.hops + 1,
                    }),
                }
            }
        }
        report
    }

    /// The set of switches (dpids).
    pub fn dpids(&self) -> BTreeSet<DatapathId> {
        self.switches.keys().copied().collect()
    }
}
