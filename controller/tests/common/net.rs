//! A test network on virtual time: switch-sim [`Pipeline`]s wired to one
//! [`Controller`] by in-memory message queues, after quinn-proto's `Pair`.
//!
//! - Every message crosses the queues as bytes (encoded and decoded again), so the controller
//!   and the pipelines only ever see what the wire would carry.
//! - Pipelines are joined by links (a `switch_sim::Fabric`): a PACKET_OUT's packet leaves a
//!   port, enters the linked pipeline's `process` and, say, its LLDP flow or table-miss sends
//!   it to the controller as a PACKET_IN. Hosts sit on edge ports and send real frames.
//! - Controls: per switch, a delay on both directions, dropping the next n messages either
//!   way, silence (the switch neither answers nor sends), and disconnect / reconnect / restart
//!   (state lost); links up and down (PORT_STATUS) or black-holed (LLDP lost, no PORT_STATUS);
//!   cross-connection reordering with a seed.
//! - Time only moves by jumping to the next wake-up (the controller's `poll_timeout`, the
//!   pipelines' flow expiries, a delayed message), so hours of leases take no wall time.
//!   A pump that keeps moving messages without time passing, or time that stops moving, is a
//!   livelock and panics.
//!
//! This is test support: on misuse (an unknown switch, a livelock) it panics with a message.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use openflow::oxm::MacAddr;
use openflow::{Body, DatapathId, ErrorMsg, Message, Xid};
use switch_sim::packet::build;
use switch_sim::{Edge, Fabric, Host, Ingress, Pipeline, TraceReport};

use controller::{
    Command, CommandError, Config, ConnId, Controller, Endpoint, Event, Input, Output, Reply,
    RequestId, Snapshot, Time, Topology,
};

/// Rounds of message passing at one instant before the pump calls it a livelock.
const LIVELOCK_ROUNDS: usize = 10_000;
/// Wake-ups without time advancing before the driver calls it a livelock.
const STUCK_STEPS: usize = 1_000;

fn sim_time(t: Time) -> switch_sim::Time {
    switch_sim::Time::from_duration(t.since_epoch())
}

fn edge(e: Endpoint) -> Edge {
    Edge::new(e.dpid.0, e.port.0)
}

/// Faults of one switch's connection.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Added to every message, both ways.
    pub delay: Duration,
    /// Drop this many of the next messages to the switch.
    pub drop_to_switch: usize,
    /// Drop this many of the next messages to the controller.
    pub drop_to_controller: usize,
    /// The switch neither receives nor sends anything (a hung switch).
    pub silent: bool,
}

#[derive(Debug)]
struct Wire {
    at: Time,
    conn: ConnId,
    msg: Message,
}

/// The network. See the module header.
pub struct Net {
    now: Time,
    config: Config,
    ctl: Controller,
    fabric: Fabric,
    ports: BTreeMap<u64, (switch_sim::Config, u32)>,
    conn_of: BTreeMap<u64, ConnId>,
    dpid_of: BTreeMap<ConnId, u64>,
    to_switch: BTreeMap<u64, VecDeque<Wire>>,
    to_ctl: BTreeMap<u64, VecDeque<Wire>>,
    faults: BTreeMap<u64, Faults>,
    blackholes: BTreeSet<Edge>,
    reorder: Option<u64>,
    sent: BTreeMap<u64, Vec<Message>>,
    events: Vec<Event>,
    done: BTreeMap<RequestId, Result<Reply, CommandError>>,
    snapshot: Option<Snapshot>,
    closed: Vec<(u64, &'static str)>,
    next_conn: u64,
    next_req: u64,
    /// Frames delivered to hosts by PACKET_OUTs and traffic processed for real.
    pub host_frames: BTreeMap<String, usize>,
}

impl Net {
    /// An empty network with a controller of this configuration.
    pub fn new(config: Config) -> Net {
        let ctl = match Controller::new(config.clone()) {
            Ok(c) => c,
            Err(e) => panic!("bad test configuration: {e}"),
        };
        Net {
            now: Time::ZERO,
            config,
            ctl,
            fabric: Fabric::new(),
            ports: BTreeMap::new(),
            conn_of: BTreeMap::new(),
            dpid_of: BTreeMap::new(),
            to_switch: BTreeMap::new(),
            to_ctl: BTreeMap::new(),
            faults: BTreeMap::new(),
            blackholes: BTreeSet::new(),
            reorder: None,
            sent: BTreeMap::new(),
            events: Vec::new(),
            done: BTreeMap::new(),
            snapshot: None,
            closed: Vec::new(),
            next_conn: 1,
            next_req: 1,
            host_frames: BTreeMap::new(),
        }
    }

    /// The switches, links and hosts of `topo` as pipelines (not yet connected). Hosts are
    /// named by their MAC (`02:00:...`), keep their IPv4 address and get IPv6 `fd00::<mac>`.
    pub fn from_topology(topo: &Topology, config: Config) -> Net {
        let mut net = Net::new(config);
        for d in topo.switches() {
            let max = topo.ports(d).map(|(p, _)| p.0).max().unwrap_or(0);
            net.add_switch(switch_sim::Config::with_dpid(d.0), max);
            for (p, up) in topo.ports(d) {
                if !up {
                    if let Some(sw) = net.fabric.switch_mut(DatapathId(d.0)) {
                        let _ = sw.set_port_up(p, false);
                        while sw.poll_output().is_some() {}
                    }
                }
            }
        }
        for l in topo.links() {
            net.link(l.a, l.b);
        }
        for h in topo.hosts() {
            let ipv4 = h.addrs.iter().find_map(|a| match a {
                IpAddr::V4(v) => Some(*v),
                IpAddr::V6(_) => None,
            });
            net.add_host(&h.mac.to_string(), h.mac, ipv4, h.at);
        }
        net
    }

    /// Adds a switch with ports `1..=ports`.
    pub fn add_switch(&mut self, config: switch_sim::Config, ports: u32) {
        let dpid = config.datapath_id.0;
        let p = Pipeline::with_ports(config.clone(), ports);
        if let Err(e) = self.fabric.add_switch(p) {
            panic!("add_switch: {e}");
        }
        self.ports.insert(dpid, (config, ports));
    }

    /// Rebuilds a (not yet connected) switch with another configuration, same ports.
    pub fn set_switch_config(&mut self, config: switch_sim::Config) {
        let dpid = config.datapath_id.0;
        let Some((_, n)) = self.ports.get(&dpid).cloned() else {
            panic!("no switch {dpid:#x}");
        };
        if let Some(p) = self.fabric.switch_mut(DatapathId(dpid)) {
            *p = Pipeline::with_ports(config.clone(), n);
        }
        self.ports.insert(dpid, (config, n));
    }

    /// Cables two switch ports.
    pub fn link(&mut self, a: Endpoint, b: Endpoint) {
        if let Err(e) = self.fabric.link(edge(a), edge(b)) {
            panic!("link {a} - {b}: {e}");
        }
    }

    /// Attaches a host (IPv6 `fd00::` + the MAC's last four bytes).
    pub fn add_host(&mut self, name: &str, mac: MacAddr, ipv4: Option<Ipv4Addr>, at: Endpoint) {
        let m = mac.0;
        let ipv6 = Ipv6Addr::new(
            0xfd00,
            0,
            0,
            0,
            0,
            0,
            u16::from_be_bytes([m[2], m[3]]),
            u16::from_be_bytes([m[4], m[5]]),
        );
        let host = Host {
            name: name.to_owned(),
            mac,
            ipv4,
            ipv6: Some(ipv6),
            at: edge(at),
        };
        if let Err(e) = self.fabric.add_host(host) {
            panic!("add_host {name}: {e}");
        }
    }

    // ---------------------------------------------------------------------------------------
    // Accessors.

    pub fn now(&self) -> Time {
        self.now
    }

    pub fn ctl(&self) -> &Controller {
        &self.ctl
    }

    pub fn fabric(&self) -> &Fabric {
        &self.fabric
    }

    pub fn pipeline(&self, dpid: u64) -> &Pipeline {
        match self.fabric.switch(DatapathId(dpid)) {
            Some(p) => p,
            None => panic!("no switch {dpid:#x}"),
        }
    }

    /// Every event so far.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The last snapshot the controller asked to persist.
    pub fn persisted(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    /// Messages the controller sent to the switch since the last `clear_sent`.
    pub fn sent(&self, dpid: u64) -> &[Message] {
        self.sent.get(&dpid).map_or(&[], Vec::as_slice)
    }

    pub fn clear_sent(&mut self) {
        self.sent.clear();
    }

    /// Connections the controller closed: (dpid, reason).
    pub fn closed_by_controller(&self) -> &[(u64, &'static str)] {
        &self.closed
    }

    pub fn is_connected(&self, dpid: u64) -> bool {
        self.conn_of.contains_key(&dpid)
    }

    pub fn faults_mut(&mut self, dpid: u64) -> &mut Faults {
        self.faults.entry(dpid).or_default()
    }

    /// Serve switches in a shuffled order (per connection order is kept, as TCP keeps it).
    pub fn reorder(&mut self, seed: Option<u64>) {
        self.reorder = seed;
    }

    /// Packets a PACKET_OUT sends out of this port are lost (LLDP loss without PORT_STATUS).
    pub fn blackhole(&mut self, e: Endpoint, on: bool) {
        if on {
            self.blackholes.insert(edge(e));
        } else {
            self.blackholes.remove(&edge(e));
        }
    }

    // ---------------------------------------------------------------------------------------
    // Connections.

    /// Connects the switch to the controller (the switch sends HELLO, as switches do).
    pub fn connect(&mut self, dpid: u64) {
        if self.conn_of.contains_key(&dpid) {
            return;
        }
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.conn_of.insert(dpid, conn);
        self.dpid_of.insert(conn, dpid);
        // Whatever the pipeline said while disconnected is lost.
        if let Some(p) = self.fabric.switch_mut(DatapathId(dpid)) {
            while p.poll_output().is_some() {}
        }
        self.ctl.handle(self.now, Input::Connected { conn });
        let at = self.now + self.delay(dpid);
        self.to_ctl.entry(dpid).or_default().push_back(Wire {
            at,
            conn,
            msg: Message::hello(Xid(1)),
        });
        self.pump();
    }

    /// Connects every switch.
    pub fn connect_all(&mut self) {
        let dpids: Vec<u64> = self.ports.keys().copied().collect();
        for d in dpids {
            self.connect(d);
        }
    }

    /// Drops the switch's connection (the switch keeps its tables, like OVS on a TCP reset).
    pub fn disconnect(&mut self, dpid: u64) {
        let Some(conn) = self.forget_conn(dpid) else {
            return;
        };
        self.ctl.handle(self.now, Input::Closed { conn });
        self.pump();
    }

    /// The switch opens a new connection while the controller still holds the old one (as
    /// after a switch-side timeout the controller did not notice).
    pub fn reconnect_behind_the_controllers_back(&mut self, dpid: u64) {
        self.forget_conn(dpid);
        self.connect(dpid);
    }

    fn forget_conn(&mut self, dpid: u64) -> Option<ConnId> {
        let conn = self.conn_of.remove(&dpid)?;
        self.dpid_of.remove(&conn);
        self.to_switch.remove(&dpid);
        self.to_ctl.remove(&dpid);
        Some(conn)
    }

    /// The switch restarts: connection lost, tables empty, ports as configured, reconnects.
    pub fn restart_switch(&mut self, dpid: u64) {
        self.disconnect(dpid);
        if let Some((cfg, n)) = self.ports.get(&dpid).cloned() {
            if let Some(p) = self.fabric.switch_mut(DatapathId(dpid)) {
                *p = Pipeline::with_ports(cfg, n);
            }
        }
        self.connect(dpid);
    }

    /// The controller restarts from `snapshot` (the switches keep their tables and
    /// reconnect).
    pub fn restart_controller(&mut self, snapshot: &Snapshot) {
        let connected: Vec<u64> = self.conn_of.keys().copied().collect();
        for d in &connected {
            self.forget_conn(*d);
        }
        self.ctl = match Controller::restore(self.config.clone(), snapshot, self.now) {
            Ok(c) => c,
            Err(e) => panic!("restore: {e}"),
        };
        self.pump();
        for d in connected {
            self.connect(d);
        }
    }

    /// Applies messages straight to a pipeline (a foreign controller or an operator changing
    /// it behind our back); returns the errors it answered. Its other outputs are dropped.
    pub fn tamper(&mut self, dpid: u64, bodies: Vec<Body>) -> Vec<ErrorMsg> {
        let msgs: Vec<Message> = bodies
            .into_iter()
            .enumerate()
            .map(|(i, b)| Message::new(Xid(0x7000_0000 + i as u32), b))
            .collect();
        match self
            .fabric
            .apply(sim_time(self.now), DatapathId(dpid), &msgs)
        {
            Ok(e) => e,
            Err(e) => panic!("tamper: {e}"),
        }
    }

    /// Asks a pipeline directly (behind the controller's back) and returns everything it
    /// answered; its flow and group tables are unchanged by reads.
    pub fn query(&mut self, dpid: u64, body: Body) -> Vec<Message> {
        let now = sim_time(self.now);
        let Some(p) = self.fabric.switch_mut(DatapathId(dpid)) else {
            panic!("no switch {dpid:#x}");
        };
        let mut held = Vec::new();
        while let Some(m) = p.poll_output() {
            held.push(m);
        }
        p.handle_message(now, &Message::new(Xid(0x7fff_0000), body));
        let mut out = Vec::new();
        while let Some(m) = p.poll_output() {
            out.push(m);
        }
        // What the switch had queued for the controller still goes there.
        for m in held {
            self.queue_to_controller(dpid, m);
        }
        out
    }

    /// The switch's table-0 flows and its groups (read with multipart requests).
    pub fn tables(
        &mut self,
        dpid: u64,
    ) -> (
        Vec<openflow::multipart::FlowStats>,
        Vec<openflow::multipart::GroupDesc>,
    ) {
        use openflow::{MultipartReplyBody as R, MultipartRequest, MultipartRequestBody as Q};
        let req = openflow::multipart::FlowStatsRequest::new(
            openflow::TableId(0),
            openflow::Match::new(),
            openflow::Cookie(0),
            0,
        );
        let mut flows = Vec::new();
        for m in self.query(
            dpid,
            Body::MultipartRequest(MultipartRequest::new(Q::Flow(req))),
        ) {
            if let Body::MultipartReply(r) = m.body {
                if let R::Flow(f) = r.body {
                    flows.extend(f);
                }
            }
        }
        let mut groups = Vec::new();
        for m in self.query(
            dpid,
            Body::MultipartRequest(MultipartRequest::new(Q::GroupDesc)),
        ) {
            if let Body::MultipartReply(r) = m.body {
                if let R::GroupDesc(g) = r.body {
                    groups.extend(g);
                }
            }
        }
        (flows, groups)
    }

    /// Delivers a message to the controller as if the switch had sent it.
    pub fn inject_to_controller(&mut self, dpid: u64, msg: Message) {
        self.queue_to_controller(dpid, msg);
        self.pump();
    }

    /// A link's ports go down or up (both ends send PORT_STATUS).
    pub fn set_link_up(&mut self, e: Endpoint, up: bool) {
        if let Err(err) = self.fabric.set_link_up(edge(e), up) {
            panic!("set_link_up {e}: {err}");
        }
        self.drain_all_switches();
        self.pump();
    }

    // ---------------------------------------------------------------------------------------
    // Hosts and packets.

    /// The host sends an ARP request and, with an IPv6 address, a neighbour solicitation:
    /// what makes the controller learn it.
    pub fn announce(&mut self, name: &str) {
        let Some(h) = self.fabric.host(name).cloned() else {
            panic!("no host {name}");
        };
        if let Some(v4) = h.ipv4 {
            let f = build::arp_request(h.mac, v4, Ipv4Addr::new(10, 255, 255, 254));
            self.send_from_host(name, &f);
        }
        if let Some(v6) = h.ipv6 {
            let f = build::ndp_solicit(h.mac, v6, "fd00::ffff".parse().unwrap_or(v6));
            self.send_from_host(name, &f);
        }
    }

    /// Every host announces itself.
    pub fn announce_all(&mut self) {
        let names: Vec<String> = self.fabric.hosts().map(|h| h.name.clone()).collect();
        for n in names {
            self.announce(&n);
        }
    }

    /// The host sends a frame; the switches process it for real (PACKET_INs reach the
    /// controller).
    pub fn send_from_host(&mut self, name: &str, frame: &[u8]) -> TraceReport {
        let r = match self
            .fabric
            .process(sim_time(self.now), Ingress::Host(name.to_owned()), frame)
        {
            Ok(r) => r,
            Err(e) => panic!("send_from_host {name}: {e}"),
        };
        self.note_deliveries(&r);
        self.drain_all_switches();
        self.pump();
        r
    }

    /// A UDP datagram from the host to `dst` (IPv4 or IPv6 by `dst`'s family).
    pub fn datagram(&self, name: &str, dst: IpAddr) -> Vec<u8> {
        let Some(h) = self.fabric.host(name) else {
            panic!("no host {name}");
        };
        match dst {
            IpAddr::V4(d) => {
                let o = d.octets();
                let mac = MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]);
                let src = h.ipv4.unwrap_or(Ipv4Addr::new(10, 254, 0, 1));
                build::udp4(h.mac, mac, src, d, 40000, 5000, b"tsm")
            }
            IpAddr::V6(d) => {
                let o = d.octets();
                let mac = MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]]);
                let src = h.ipv6.unwrap_or(Ipv6Addr::LOCALHOST);
                build::udp6(h.mac, mac, src, d, 40000, 5000, b"tsm")
            }
        }
    }

    /// Where a datagram from the host to `dst` would go now (nothing changes).
    pub fn trace(&self, name: &str, dst: IpAddr) -> TraceReport {
        let frame = self.datagram(name, dst);
        match self.fabric.trace(Ingress::Host(name.to_owned()), &frame) {
            Ok(r) => r,
            Err(e) => panic!("trace from {name}: {e}"),
        }
    }

    fn note_deliveries(&mut self, r: &TraceReport) {
        for d in &r.deliveries {
            if let Some(h) = &d.host {
                *self.host_frames.entry(h.clone()).or_default() += 1;
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Commands.

    /// Gives the controller a command; the answer comes later (`wait`).
    pub fn command(&mut self, command: Command) -> RequestId {
        let id = RequestId(self.next_req);
        self.next_req += 1;
        self.ctl.handle(self.now, Input::Command { id, command });
        self.pump();
        id
    }

    /// The command's answer, if it came.
    pub fn answer(&self, id: RequestId) -> Option<&Result<Reply, CommandError>> {
        self.done.get(&id)
    }

    /// Runs until the command is answered (panics if not within `limit`).
    pub fn wait(&mut self, id: RequestId, limit: Duration) -> Result<Reply, CommandError> {
        if !self.run_until(limit, |n| n.done.contains_key(&id)) {
            panic!("command {id:?} not answered within {limit:?}");
        }
        match self.done.get(&id) {
            Some(r) => r.clone(),
            None => panic!("command {id:?} lost"),
        }
    }

    /// `command` then `wait` (10 s).
    pub fn exec(&mut self, command: Command) -> Result<Reply, CommandError> {
        let id = self.command(command);
        self.wait(id, Duration::from_secs(10))
    }

    // ---------------------------------------------------------------------------------------
    // Driving.

    /// The next time anything wants to happen.
    pub fn next_wakeup(&self) -> Option<Time> {
        let mut t = self.ctl.poll_timeout();
        let mut at = |x: Time| t = Some(t.map_or(x, |y| y.min(x)));
        for p in self.fabric.switches() {
            if let Some(x) = p.poll_timeout() {
                at(Time::from_duration(x.since_epoch()));
            }
        }
        for q in self.to_switch.values().chain(self.to_ctl.values()) {
            if let Some(w) = q.front() {
                at(w.at);
            }
        }
        t
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(d, |n| n.now >= end);
    }

    /// Runs until `cond` holds (checked after every step) or `limit` of virtual time has
    /// passed; whether `cond` held.
    pub fn run_until(&mut self, limit: Duration, mut cond: impl FnMut(&Net) -> bool) -> bool {
        let end = self.now + limit;
        self.pump();
        let mut stuck = 0;
        loop {
            if cond(self) {
                return true;
            }
            if self.now >= end {
                return false;
            }
            let t = self.next_wakeup().map_or(end, |t| t.min(end));
            if t <= self.now {
                stuck += 1;
                if stuck > STUCK_STEPS {
                    panic!("livelock: time stuck at {} (next wake-up {t})", self.now);
                }
            } else {
                stuck = 0;
            }
            self.step_to(t.max(self.now));
        }
    }

    fn step_to(&mut self, t: Time) {
        self.now = t;
        self.ctl.handle(t, Input::Timer);
        let st = sim_time(t);
        let dpids: Vec<u64> = self.ports.keys().copied().collect();
        for d in dpids {
            if let Some(p) = self.fabric.switch_mut(DatapathId(d)) {
                if p.poll_timeout().is_some_and(|x| x <= st) {
                    p.handle_timeout(st);
                }
            }
        }
        self.drain_all_switches();
        self.pump();
    }

    /// Moves messages until nothing moves at this instant.
    pub fn pump(&mut self) {
        for _ in 0..LIVELOCK_ROUNDS {
            let mut moved = self.drain_controller();
            moved |= self.deliver_to_switches();
            moved |= self.deliver_to_controller();
            if !moved {
                return;
            }
        }
        panic!(
            "livelock: messages still moving after {LIVELOCK_ROUNDS} rounds at {}",
            self.now
        );
    }

    fn delay(&self, dpid: u64) -> Duration {
        self.faults.get(&dpid).map_or(Duration::ZERO, |f| f.delay)
    }

    fn drain_controller(&mut self) -> bool {
        let mut moved = false;
        while let Some(o) = self.ctl.poll_output() {
            moved = true;
            match o {
                Output::Send { conn, msg } => {
                    let Some(dpid) = self.dpid_of.get(&conn).copied() else {
                        continue;
                    };
                    self.sent.entry(dpid).or_default().push(msg.clone());
                    let f = self.faults.entry(dpid).or_default();
                    if f.silent {
                        continue;
                    }
                    if f.drop_to_switch > 0 {
                        f.drop_to_switch -= 1;
                        continue;
                    }
                    let at = self.now + f.delay;
                    self.to_switch
                        .entry(dpid)
                        .or_default()
                        .push_back(Wire { at, conn, msg });
                }
                Output::Close { conn, reason } => {
                    if let Some(dpid) = self.dpid_of.get(&conn).copied() {
                        self.forget_conn(dpid);
                        self.closed.push((dpid, reason));
                    }
                }
                Output::Completed { id, result } => {
                    self.done.insert(id, result);
                }
                Output::Event(e) => self.events.push(e),
                Output::Persist(s) => self.snapshot = Some(*s),
                _ => {}
            }
        }
        moved
    }

    /// The order switches are served in this round.
    fn order(&mut self) -> Vec<u64> {
        let mut d: Vec<u64> = self.ports.keys().copied().collect();
        if let Some(seed) = self.reorder.as_mut() {
            for i in (1..d.len()).rev() {
                *seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let j = ((*seed >> 33) % (i as u64 + 1)) as usize;
                d.swap(i, j);
            }
        }
        d
    }

    /// The message as the other end would decode it from the wire.
    fn over_the_wire(msg: &Message) -> Message {
        match msg.encode().map(|b| Message::decode(&b)) {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => panic!("{:?} does not decode: {e}", msg.kind()),
            Err(e) => panic!("{:?} does not encode: {e}", msg.kind()),
        }
    }

    fn deliver_to_switches(&mut self) -> bool {
        let mut moved = false;
        for dpid in self.order() {
            loop {
                let now = self.now;
                let Some(q) = self.to_switch.get_mut(&dpid) else {
                    break;
                };
                if q.front().is_none_or(|w| w.at > now) {
                    break;
                }
                let Some(w) = q.pop_front() else { break };
                moved = true;
                if self.conn_of.get(&dpid) != Some(&w.conn) {
                    continue;
                }
                let msg = Self::over_the_wire(&w.msg);
                if let Some(p) = self.fabric.switch_mut(DatapathId(dpid)) {
                    p.handle_message(sim_time(now), &msg);
                }
                self.drain_switch(dpid);
            }
        }
        moved
    }

    fn deliver_to_controller(&mut self) -> bool {
        let mut moved = false;
        for dpid in self.order() {
            loop {
                let now = self.now;
                let Some(q) = self.to_ctl.get_mut(&dpid) else {
                    break;
                };
                if q.front().is_none_or(|w| w.at > now) {
                    break;
                }
                let Some(w) = q.pop_front() else { break };
                moved = true;
                if self.conn_of.get(&dpid) != Some(&w.conn) {
                    continue;
                }
                let msg = Self::over_the_wire(&w.msg);
                self.ctl.handle(now, Input::message(w.conn, msg));
                // Answers go out before the next message comes in.
                self.drain_controller();
            }
        }
        moved
    }

    fn drain_all_switches(&mut self) {
        let dpids: Vec<u64> = self.ports.keys().copied().collect();
        for d in dpids {
            self.drain_switch(d);
        }
    }

    /// Takes a pipeline's messages (to the controller) and packets (onto its links).
    fn drain_switch(&mut self, dpid: u64) {
        loop {
            let (msg, pkt) = match self.fabric.switch_mut(DatapathId(dpid)) {
                Some(p) => (p.poll_output(), p.poll_transmit()),
                None => return,
            };
            if msg.is_none() && pkt.is_none() {
                return;
            }
            if let Some(m) = msg {
                self.queue_to_controller(dpid, m);
            }
            if let Some((port, bytes)) = pkt {
                self.carry(Edge::new(dpid, port.0), &bytes);
            }
        }
    }

    fn queue_to_controller(&mut self, dpid: u64, msg: Message) {
        let Some(conn) = self.conn_of.get(&dpid).copied() else {
            return;
        };
        let f = self.faults.entry(dpid).or_default();
        if f.silent {
            return;
        }
        if f.drop_to_controller > 0 {
            f.drop_to_controller -= 1;
            return;
        }
        let at = self.now + f.delay;
        self.to_ctl
            .entry(dpid)
            .or_default()
            .push_back(Wire { at, conn, msg });
    }

    /// A packet leaves a port: over the link into the next pipeline, or to a host.
    fn carry(&mut self, from: Edge, bytes: &[u8]) {
        if self.blackholes.contains(&from) {
            return;
        }
        match self.fabric.peer(from) {
            Some(peer) => {
                let r = self
                    .fabric
                    .process(sim_time(self.now), Ingress::Port(peer), bytes);
                if let Ok(r) = r {
                    self.note_deliveries(&r);
                }
                self.drain_all_switches();
            }
            None => {
                let host = self
                    .fabric
                    .hosts()
                    .find(|h| h.at == from)
                    .map(|h| h.name.clone());
                if let Some(h) = host {
                    *self.host_frames.entry(h).or_default() += 1;
                }
            }
        }
    }
}

/// The subset flows and groups of ours a pipeline holds: (flow-adds, flow-deletes,
/// group-mods) the controller sent in `msgs`.
pub fn count_rule_messages(msgs: &[Message]) -> (usize, usize, usize) {
    let mut adds = 0;
    let mut dels = 0;
    let mut groups = 0;
    for m in msgs {
        match &m.body {
            Body::FlowMod(f) if f.command == openflow::FlowModCommand::Add => adds += 1,
            Body::FlowMod(_) => dels += 1,
            Body::GroupMod(_) => groups += 1,
            _ => {}
        }
    }
    (adds, dels, groups)
}
