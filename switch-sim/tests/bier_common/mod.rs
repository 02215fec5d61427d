//! Helpers for the BIER tests: fabrics of pipelines mirrored as `bier::Topology`s, BIFTs
//! computed by `bier::topo::compute_bifts` and pushed as real (encoded and decoded)
//! `openflow::ext::bier` messages, BFIR flows per subset, and a seeded random generator.
#![allow(dead_code, clippy::unwrap_used)] // each test file uses a different part

pub mod ofclient;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use bier::{BfrId, BitString, NodeId, SetId, Topology};
use openflow::ext::bier::{
    BfrCommand, BfrMod, BierAction, BierEncap, BierMessage, BiftCommand, Entropy, LocalBfr,
    TableKey,
};
use openflow::oxm::MacAddr;
use openflow::{
    Action, Body, Bucket, ErrorMsg, FlowMod, GroupId, GroupMod, GroupType, Instruction, Match,
    Message, Oxm, PortNo, TableId, Xid,
};
use switch_sim::bier::convert::{bier_table, table_key};
use switch_sim::{Config, Edge, Fabric, Host, Pipeline, Time, TraceReport};

/// A small deterministic generator (xorshift64*), so failures reproduce.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// A random non-empty subset of `from` (each element with probability about 1/2).
    pub fn subset(&mut self, from: &[usize]) -> Vec<usize> {
        loop {
            let s: Vec<usize> = from
                .iter()
                .copied()
                .filter(|_| self.next() & 1 == 1)
                .collect();
            if !s.is_empty() {
                return s;
            }
        }
    }
}

/// Encodes and decodes a message, as it would cross an OpenFlow channel.
pub fn wire(m: Message) -> Message {
    Message::decode(&m.encode().unwrap()).unwrap()
}

/// One of our messages, over the wire.
pub fn bier(xid: u32, m: impl Into<BierMessage>) -> Message {
    wire(m.into().to_message(Xid(xid)))
}

/// A host of a test fabric.
#[derive(Clone, Debug)]
pub struct H {
    pub name: String,
    pub node: NodeId,
    pub port: u32,
    pub bfr: BfrId,
    pub ip: Ipv4Addr,
    pub mac: MacAddr,
}

/// A fabric of pipelines, its mirror as a `bier::Topology` (node n is datapath n + 1, ports
/// the same), and hosts that are BFERs.
pub struct Net {
    pub fabric: Fabric,
    pub nodes: usize,
    /// Inter-switch links: (node a, port a, node b, port b).
    pub links: Vec<(NodeId, u32, NodeId, u32)>,
    pub down: BTreeSet<usize>,
    pub hosts: Vec<H>,
    pub bsl: bier::Bsl,
    pub now: Time,
    xid: u32,
    txn: u32,
}

pub fn dpid(n: NodeId) -> openflow::DatapathId {
    openflow::DatapathId(u64::from(n.0) + 1)
}

/// A BSL-64 F-BM with one bit, in wire bytes.
pub fn wire_bsl_bits(bit: u16) -> Vec<u8> {
    openflow::ext::bier::bits_from_positions(openflow::ext::bier::Bsl::B64, [bit])
}

pub fn wire_bsl(b: bier::Bsl) -> openflow::ext::bier::Bsl {
    openflow::ext::bier::Bsl::from_code(b.code()).unwrap()
}

impl Net {
    fn new(bsl: bier::Bsl) -> Net {
        Net {
            fabric: Fabric::new(),
            nodes: 0,
            links: Vec::new(),
            down: BTreeSet::new(),
            hosts: Vec::new(),
            bsl,
            now: Time::ZERO,
            xid: 1000,
            txn: 1,
        }
    }

    fn switch(&mut self, ports: u32) -> NodeId {
        let n = NodeId(self.nodes as u32);
        self.nodes += 1;
        let p = Pipeline::with_ports(Config::with_dpid(dpid(n).0), ports);
        self.fabric.add_switch(p).unwrap();
        n
    }

    fn link(&mut self, a: NodeId, pa: u32, b: NodeId, pb: u32) {
        self.fabric
            .link(Edge::new(dpid(a).0, pa), Edge::new(dpid(b).0, pb))
            .unwrap();
        self.links.push((a, pa, b, pb));
    }

    fn host(&mut self, node: NodeId, port: u32) {
        let i = self.hosts.len();
        let name = format!("h{i}");
        let ip = Ipv4Addr::new(10, 0, (i >> 8) as u8, (i & 0xff) as u8 + 1);
        let mac = MacAddr([0x02, 0, 0, 0, (i >> 8) as u8, i as u8]);
        self.fabric
            .add_host(Host {
                name: name.clone(),
                mac,
                ipv4: Some(ip),
                ipv6: None,
                at: Edge::new(dpid(node).0, port),
            })
            .unwrap();
        self.hosts.push(H {
            name,
            node,
            port,
            bfr: BfrId::new(i as u16 + 1).unwrap(),
            ip,
            mac,
        });
    }

    /// `spines` spines (nodes 0..spines, ports 1..=leaves), `leaves` leaves (uplink port s+1
    /// to spine s, hosts on the ports after), `per_leaf` hosts on each leaf.
    pub fn leaf_spine(spines: u32, leaves: u32, per_leaf: u32, bsl: bier::Bsl) -> Net {
        let mut n = Net::new(bsl);
        let s: Vec<NodeId> = (0..spines).map(|_| n.switch(leaves)).collect();
        let l: Vec<NodeId> = (0..leaves).map(|_| n.switch(spines + per_leaf)).collect();
        for (j, leaf) in l.iter().enumerate() {
            for (i, spine) in s.iter().enumerate() {
                n.link(*leaf, i as u32 + 1, *spine, j as u32 + 1);
            }
        }
        for leaf in &l {
            for k in 0..per_leaf {
                n.host(*leaf, spines + 1 + k);
            }
        }
        n
    }

    /// A ring of `switches` (port 1 to the previous one, port 2 to the next), `per_switch`
    /// hosts on ports 3, 4, ...
    pub fn ring(switches: u32, per_switch: u32, bsl: bier::Bsl) -> Net {
        let mut n = Net::new(bsl);
        let s: Vec<NodeId> = (0..switches).map(|_| n.switch(2 + per_switch)).collect();
        for i in 0..switches as usize {
            let j = (i + 1) % switches as usize;
            n.link(s[i], 2, s[j], 1);
        }
        for sw in &s {
            for k in 0..per_switch {
                n.host(*sw, 3 + k);
            }
        }
        n
    }

    pub fn xid(&mut self) -> u32 {
        self.xid += 1;
        self.xid
    }

    /// The topology of the links that are up.
    pub fn topology(&self) -> Topology {
        let mut t = Topology::new(self.nodes);
        for (i, (a, pa, b, pb)) in self.links.iter().enumerate() {
            if !self.down.contains(&i) {
                t.add_link_ports(*a, bier::Port(*pa), *b, bier::Port(*pb))
                    .unwrap();
            }
        }
        t
    }

    pub fn bfr_map(&self) -> BTreeMap<BfrId, NodeId> {
        self.hosts.iter().map(|h| (h.bfr, h.node)).collect()
    }

    /// Feeds messages to one switch and returns the errors it answered.
    pub fn apply(&mut self, node: NodeId, msgs: &[Message]) -> Vec<ErrorMsg> {
        self.fabric.apply(self.now, dpid(node), msgs).unwrap()
    }

    pub fn apply_ok(&mut self, node: NodeId, msgs: &[Message]) {
        let e = self.apply(node, msgs);
        assert!(e.is_empty(), "switch {node:?} refused: {e:?}");
    }

    pub fn pipeline(&self, node: NodeId) -> &Pipeline {
        self.fabric.switch(dpid(node)).unwrap()
    }

    pub fn pipeline_mut(&mut self, node: NodeId) -> &mut Pipeline {
        self.fabric.switch_mut(dpid(node)).unwrap()
    }

    /// Computes every switch's BIFTs (sub-domain 0) from the links that are up and pushes
    /// them as REPLACE transactions.
    pub fn push_bifts(&mut self) {
        let bifts = bier::compute_bifts(&self.topology(), &self.bfr_map(), self.bsl).unwrap();
        for (n, tables) in bifts.iter().enumerate() {
            let mut msgs = Vec::new();
            for (si, t) in tables {
                let key = table_key(self.bsl, 0, *si).unwrap();
                self.txn += 1;
                for m in bier_table(key, t)
                    .bift_mods(self.txn, BiftCommand::Replace)
                    .unwrap()
                {
                    let x = self.xid();
                    msgs.push(bier(x, m));
                }
            }
            self.apply_ok(NodeId(n as u32), &msgs);
        }
    }

    /// Tells every switch its hosts' BFR-ids (decapsulated delivery to the host port).
    pub fn push_bfrs(&mut self) {
        for n in 0..self.nodes {
            let node = NodeId(n as u32);
            let bfrs: Vec<LocalBfr> = self
                .hosts
                .iter()
                .filter(|h| h.node == node)
                .map(|h| LocalBfr {
                    bfr_id: h.bfr.get(),
                    decap: true,
                    port: PortNo(h.port),
                })
                .collect();
            let x = self.xid();
            let m = bier(
                x,
                BfrMod {
                    command: BfrCommand::Replace,
                    sub_domain: 0,
                    bfrs,
                },
            );
            self.apply_ok(node, &[m]);
        }
    }

    /// `eth_type=0xAB37 → bier_forward` on every switch.
    pub fn forward_flows(&mut self) {
        for n in 0..self.nodes {
            let fm = FlowMod::add(
                TableId(0),
                10,
                Match::new().with(Oxm::EthType(0xab37)),
                vec![Instruction::ApplyActions(vec![
                    BierAction::Forward.to_action()
                ])],
            );
            let x = self.xid();
            self.apply_ok(NodeId(n as u32), &[wire(Message::new(Xid(x), fm))]);
        }
    }

    /// BIFTs, BFR-ids and forwarding flows.
    pub fn setup(&mut self) {
        self.push_bifts();
        self.push_bfrs();
        self.forward_flows();
    }

    /// The BitStrings of a member set, per SI.
    pub fn bitstrings(&self, members: &[usize]) -> BTreeMap<SetId, BitString> {
        let mut m: BTreeMap<SetId, BitString> = BTreeMap::new();
        for &i in members {
            let (si, bp) = self.hosts[i].bfr.locate(self.bsl);
            m.entry(si)
                .or_insert_with(|| BitString::zero(self.bsl))
                .set(bp);
        }
        m
    }

    /// The group address of subset `idx`.
    pub fn group_addr(idx: usize) -> Ipv4Addr {
        Ipv4Addr::new(239, 1, (idx >> 8) as u8, (idx & 0xff) as u8)
    }

    /// Makes the sender's switch a BFIR for subset `idx`: UDP from the sender's port to the
    /// subset's group address is encapsulated, one copy per SI (RFC 8279 §6.1), and
    /// forwarded. One SI: a flow `ip_dst → bier_encap, bier_forward`; several: the flow sends
    /// to an ALL group with one bucket `bier_encap(SI), bier_forward` per SI.
    pub fn bfir(
        &mut self,
        idx: usize,
        sender: usize,
        members: &[usize],
        entropy: Entropy,
    ) -> Ipv4Addr {
        let addr = Net::group_addr(idx);
        let h = self.hosts[sender].clone();
        let buckets: Vec<Vec<Action>> = self
            .bitstrings(members)
            .into_iter()
            .map(|(si, bits)| {
                let key = table_key(self.bsl, 0, si).unwrap();
                vec![
                    BierAction::Encap(BierEncap {
                        bift_id: key.bift_id,
                        sub_domain: 0,
                        bsl: wire_bsl(self.bsl),
                        si: si.0,
                        bfir_id: h.bfr.get(),
                        ttl: 64,
                        tc: 0,
                        copy_dscp: false,
                        entropy,
                        bitstring: bits.to_bytes(),
                    })
                    .to_action(),
                    BierAction::Forward.to_action(),
                ]
            })
            .collect();
        let m = Match::new()
            .with(Oxm::InPort(PortNo(h.port)))
            .with(Oxm::EthType(0x0800))
            .with(Oxm::Ipv4Dst {
                value: addr,
                mask: None,
            });
        let mut msgs = Vec::new();
        let actions = if buckets.len() == 1 {
            buckets.into_iter().next().unwrap()
        } else {
            let gid = GroupId(10_000 + idx as u32);
            let gm = GroupMod::add(
                GroupType::All,
                gid,
                buckets.into_iter().map(Bucket::new).collect(),
            );
            msgs.push(wire(Message::new(Xid(self.xid()), gm)));
            vec![Action::Group(gid)]
        };
        let fm = FlowMod::add(TableId(0), 100, m, vec![Instruction::ApplyActions(actions)]);
        msgs.push(wire(Message::new(Xid(self.xid()), fm)));
        self.apply_ok(h.node, &msgs);
        addr
    }

    /// A UDP datagram from host `sender` to `addr`.
    pub fn datagram(&self, sender: usize, addr: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
        let h = &self.hosts[sender];
        let o = addr.octets();
        switch_sim::packet::build::udp4(
            h.mac,
            MacAddr([0x01, 0, 0x5e, o[1] & 0x7f, o[2], o[3]]),
            h.ip,
            addr,
            4000,
            5000,
            payload,
        )
    }

    /// Traces a datagram from `sender` to `addr` (no state changes).
    pub fn trace(&self, sender: usize, addr: Ipv4Addr) -> (Vec<u8>, TraceReport) {
        let f = self.datagram(sender, addr, b"bier test payload");
        let r = self
            .fabric
            .trace(self.hosts[sender].name.as_str(), &f)
            .unwrap();
        (f, r)
    }

    /// Processes a datagram from `sender` to `addr` for real (counters, TSM cache).
    pub fn send(&mut self, sender: usize, addr: Ipv4Addr) -> (Vec<u8>, TraceReport) {
        let f = self.datagram(sender, addr, b"bier test payload");
        let name = self.hosts[sender].name.clone();
        let r = self.fabric.process(self.now, name.as_str(), &f).unwrap();
        (f, r)
    }

    pub fn names(&self, members: &[usize]) -> Vec<String> {
        members
            .iter()
            .map(|&i| self.hosts[i].name.clone())
            .collect()
    }

    /// Asserts that exactly the members got exactly one copy each, the very datagram that was
    /// sent (decapsulated), that nothing looped, and that no link carried more packets than
    /// the subset has SIs (one BIER packet per SI, RFC 8279 §6.1).
    pub fn assert_exact(&self, sent: &[u8], r: &TraceReport, members: &[usize], what: &str) {
        let names = self.names(members);
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        assert!(
            r.delivered_exactly_once_to(&refs),
            "{what}: wanted {refs:?}, got {:?} (drops {:?}, loops {:?})",
            r.hosts(),
            r.drops,
            r.loops
        );
        for d in &r.deliveries {
            assert_eq!(d.packet, sent, "{what}: {} got other bytes", d.at);
        }
        let sis = self.bitstrings(members).len();
        let over: Vec<_> = r.link_copies.iter().filter(|(_, n)| **n > sis).collect();
        assert!(
            over.is_empty(),
            "{what}: links carried too many copies: {over:?}"
        );
    }

    /// Takes a link down in the fabric (both port states) and in the topology.
    pub fn link_down(&mut self, i: usize) {
        let (a, pa, _, _) = self.links[i];
        self.fabric
            .set_link_up(Edge::new(dpid(a).0, pa), false)
            .unwrap();
        self.down.insert(i);
    }

    pub fn key(&self, si: u16) -> TableKey {
        table_key(self.bsl, 0, SetId(si)).unwrap()
    }
}

/// The messages a pipeline queued (replies, errors, TSM events), drained.
pub fn drain(p: &mut Pipeline) -> Vec<Message> {
    std::iter::from_fn(|| p.poll_output()).collect()
}

/// Our message in an experimenter body, if it is one.
pub fn ours(m: &Message) -> Option<BierMessage> {
    match &m.body {
        Body::Experimenter(e) => BierMessage::from_experimenter(e)?.ok(),
        _ => None,
    }
}
