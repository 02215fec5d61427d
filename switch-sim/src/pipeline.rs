//! The OpenFlow 1.3 switch model (OF1.3.5 §5): flow tables, group table, ports and counters,
//! pure and deterministic.
//!
//! Shape (after quinn-proto): `handle_message(now, &Message)` feeds controller messages in;
//! `poll_output()` takes the messages the switch sends back (replies, errors, FLOW_REMOVED,
//! PACKET_IN, PORT_STATUS); `poll_transmit()` takes the packets a PACKET_OUT sent out of ports;
//! `process(now, in_port, bytes)` forwards a packet that arrived on a port; `poll_timeout()`
//! is the next flow-expiry deadline and `handle_timeout(now)` expires flows. Nothing reads a
//! clock: `Time` is whatever the caller says, so tests run on virtual time.
//!
//! Guarantees:
//! - A message the switch refuses is answered with `OFPT_ERROR` (the type and code Open vSwitch
//!   answers, the first 64 bytes of the message as data) and changes nothing.
//! - `trace` forwards a packet exactly as `process` would and changes no state at all.
//! - Flow lookup is exact to the spec's semantics (highest priority wins; among equal
//!   priorities the entry found first, deterministically) and indexed: one hash probe per
//!   distinct mask in a table, not a scan (Open vSwitch's classifier idea).
//! - Iteration order never depends on a hash: replies list flows by table, priority
//!   (highest first) and age; groups and ports by number.

mod classifier;
mod exec;
mod flow_match;
mod flows;
mod groups;
mod hash;
mod stats;
mod validate;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use openflow::error_msg::{BadRequestCode, ErrorCode, PortModFailedCode, TableModFailedCode};
use openflow::msg::{AsyncConfig, PortReason, PortStatus, SwitchConfig, SwitchFeatures};
use openflow::msg::{Capabilities, FlowRemovedMask, PacketInMask, PortStatusMask};
use openflow::port::{Port, PortConfig, PortState};
use openflow::{
    Body, BufferId, Cookie, DatapathId, ErrorMsg, Message, PacketIn, PacketOut, PortNo, TableId,
    Xid,
};

pub use exec::{DropReason, Processed};

use classifier::Table;
use flows::FlowEntry;
use groups::Group;

/// A point in time on the caller's clock (real or virtual): the time since an epoch the caller
/// chose (a `Pipeline` never looks at a clock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(Duration);

impl Time {
    /// The epoch.
    pub const ZERO: Time = Time(Duration::ZERO);

    /// `d` after the epoch.
    pub const fn from_duration(d: Duration) -> Time {
        Time(d)
    }

    /// `s` seconds after the epoch.
    pub const fn from_secs(s: u64) -> Time {
        Time(Duration::from_secs(s))
    }

    /// `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Time {
        Time(Duration::from_millis(ms))
    }

    /// The time since the epoch.
    pub const fn since_epoch(self) -> Duration {
        self.0
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Time) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl core::ops::Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time(self.0.saturating_add(d))
    }
}

/// What the switch is and how big its tables are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `datapath_id`.
    pub datapath_id: DatapathId,
    /// Number of flow tables, 1..=254. The default, 254, is Open vSwitch's.
    pub n_tables: u8,
    /// Most flow entries per table (`OFPFMFC_TABLE_FULL` past it); `max_entries` in
    /// TABLE_FEATURES.
    pub table_capacity: u32,
    /// Most groups of each type (`OFPGMFC_OUT_OF_GROUPS` past it); `max_groups` in
    /// GROUP_FEATURES.
    pub max_groups: u32,
    /// Refuse output actions to ports the switch does not have (`OFPBAC_BAD_OUT_PORT`).
    /// Open vSwitch accepts them (and drops at forwarding time), so the default is `false`;
    /// a checker that wants to catch a controller naming a wrong port sets it.
    pub strict_ports: bool,
    /// `OFPMP_DESC` strings.
    pub mfr_desc: String,
    pub hw_desc: String,
    pub sw_desc: String,
    pub serial_num: String,
    pub dp_desc: String,
    /// BIER (our experimenter extension, `drafts/bier-openflow.md`): `Some` makes the switch
    /// a BFR that answers the capability request with these limits; `None` answers our
    /// messages and actions `OFPBRC_BAD_EXPERIMENTER` / `OFPBAC_BAD_EXPERIMENTER`, as Open
    /// vSwitch does.
    pub bier: Option<crate::bier::BierConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            datapath_id: DatapathId(1),
            n_tables: 254,
            table_capacity: 1_000_000,
            max_groups: 1 << 20,
            strict_ports: false,
            mfr_desc: "tsm".into(),
            hw_desc: "switch-sim".into(),
            sw_desc: env!("CARGO_PKG_VERSION").into(),
            serial_num: "0".into(),
            dp_desc: "switch-sim pipeline".into(),
            bier: Some(crate::bier::BierConfig::default()),
        }
    }
}

impl Config {
    /// The default configuration with another datapath id.
    pub fn with_dpid(dpid: u64) -> Config {
        Config {
            datapath_id: DatapathId(dpid),
            ..Config::default()
        }
    }
}

/// A flow entry as a lookup found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowSummary {
    pub table_id: TableId,
    pub priority: u16,
    pub cookie: Cookie,
}

/// Counters of a port (`ofp_port_stats` without the error fields).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PortCounters {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct PortEntry {
    pub desc: Port,
    pub counters: PortCounters,
    pub added: Time,
}

impl PortEntry {
    /// Live for fast failover and usable for output: link up, not administratively down.
    pub fn is_live(&self) -> bool {
        self.desc.is_up()
    }
}

/// Why a `Pipeline` operation on a port failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PortError {
    #[error("port {0:?} is not a physical port number")]
    NotPhysical(PortNo),
    #[error("port {0:?} already exists")]
    Exists(PortNo),
    #[error("no port {0:?}")]
    Unknown(PortNo),
}

/// Counters of packets the pipeline dropped on purpose, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropCounters {
    /// Output to `OFPP_NORMAL` or `OFPP_LOCAL` (this switch has neither).
    pub normal_or_local: u64,
    /// A table miss without a table-miss entry.
    pub table_miss: u64,
    /// A TTL that would have reached zero.
    pub invalid_ttl: u64,
}

/// One OpenFlow 1.3 switch: flow tables, groups, ports, counters.
#[derive(Debug)]
pub struct Pipeline {
    config: Config,
    tables: Vec<Table>,
    flows: Vec<Option<FlowEntry>>,
    free_ids: Vec<u32>,
    next_seq: u64,
    /// (deadline, flow id) of flows with a timeout; a deadline may be early (idle timeouts are
    /// pushed back lazily), never late.
    deadlines: BTreeSet<(Time, u32)>,
    /// (group, flow id) for every flow whose instructions name the group.
    group_refs: BTreeSet<(u32, u32)>,
    groups: BTreeMap<u32, Group>,
    ports: BTreeMap<u32, PortEntry>,
    switch_config: SwitchConfig,
    async_config: AsyncConfig,
    drops: DropCounters,
    out: VecDeque<Message>,
    transmit: VecDeque<(PortNo, Vec<u8>)>,
    /// BIER tables, BFR-ids, staged transactions, TSM cache and counters (`crate::bier`).
    pub(crate) bier: Option<Box<crate::bier::BierState>>,
}

/// The async configuration a master controller starts with (OF1.3.5 §7.3.10, table 13: no
/// packet-in for invalid TTL, everything else on).
fn default_async() -> AsyncConfig {
    let pi = PacketInMask::NO_MATCH | PacketInMask::ACTION;
    AsyncConfig {
        packet_in_mask: [pi, PacketInMask::empty()],
        port_status_mask: [PortStatusMask::all(), PortStatusMask::all()],
        flow_removed_mask: [FlowRemovedMask::all(), FlowRemovedMask::empty()],
    }
}

impl Pipeline {
    /// A switch with no ports, no flows and no groups (so every packet is dropped: there is no
    /// table-miss entry yet).
    pub fn new(config: Config) -> Pipeline {
        let n = usize::from(config.n_tables.clamp(1, 254));
        let bier = config
            .bier
            .clone()
            .map(|c| Box::new(crate::bier::BierState::new(c)));
        Pipeline {
            config,
            tables: (0..n).map(|_| Table::default()).collect(),
            flows: Vec::new(),
            free_ids: Vec::new(),
            next_seq: 0,
            deadlines: BTreeSet::new(),
            group_refs: BTreeSet::new(),
            groups: BTreeMap::new(),
            ports: BTreeMap::new(),
            switch_config: SwitchConfig::default(),
            async_config: default_async(),
            drops: DropCounters::default(),
            out: VecDeque::new(),
            transmit: VecDeque::new(),
            bier,
        }
    }

    /// A switch with physical ports `1..=n_ports`, all up, named `p1`, `p2`, ...
    pub fn with_ports(config: Config, n_ports: u32) -> Pipeline {
        let mut p = Pipeline::new(config);
        for i in 1..=n_ports {
            // Ports 1..=n are physical and new, so this cannot fail.
            let _ = p.add_port(Pipeline::default_port(p.config.datapath_id, PortNo(i)));
        }
        p
    }

    /// A port description with a hardware address derived from the datapath id and number.
    pub fn default_port(dpid: DatapathId, port_no: PortNo) -> Port {
        let d = dpid.0.to_be_bytes();
        let n = port_no.0.to_be_bytes();
        let hw = [0x02, d[6] ^ n[0], d[7] ^ n[1], d[5], n[2], n[3]];
        let mut port = Port::new(port_no, hw, format!("p{}", port_no.0));
        port.state = PortState::LIVE;
        port.curr =
            openflow::port::PortFeatures::RATE_10GB_FD | openflow::port::PortFeatures::FIBER;
        port.curr_speed = 10_000_000;
        port.max_speed = 10_000_000;
        port
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The datapath id.
    pub fn dpid(&self) -> DatapathId {
        self.config.datapath_id
    }

    // -----------------------------------------------------------------------------------------
    // Ports.

    /// Adds a port (no PORT_STATUS: ports present at start are announced by PORT_DESC).
    pub fn add_port(&mut self, desc: Port) -> Result<(), PortError> {
        let no = desc.port_no;
        if !no.is_physical() {
            return Err(PortError::NotPhysical(no));
        }
        if self.ports.contains_key(&no.0) {
            return Err(PortError::Exists(no));
        }
        self.ports.insert(
            no.0,
            PortEntry {
                desc,
                counters: PortCounters::default(),
                added: Time::ZERO,
            },
        );
        Ok(())
    }

    /// Adds a port while running: queues PORT_STATUS (ADD).
    pub fn hot_add_port(&mut self, now: Time, desc: Port) -> Result<(), PortError> {
        let no = desc.port_no;
        self.add_port(desc)?;
        if let Some(p) = self.ports.get_mut(&no.0) {
            p.added = now;
            let desc = p.desc.clone();
            self.port_status(PortReason::Add, desc);
        }
        Ok(())
    }

    /// Removes a port: queues PORT_STATUS (DELETE).
    pub fn remove_port(&mut self, port_no: PortNo) -> Result<(), PortError> {
        let p = self
            .ports
            .remove(&port_no.0)
            .ok_or(PortError::Unknown(port_no))?;
        self.port_status(PortReason::Delete, p.desc);
        Ok(())
    }

    /// Sets a port's link up or down (`OFPPS_LINK_DOWN`, and `OFPPS_LIVE` for fast failover);
    /// queues PORT_STATUS (MODIFY) when that changes something.
    pub fn set_port_up(&mut self, port_no: PortNo, up: bool) -> Result<(), PortError> {
        let p = self
            .ports
            .get_mut(&port_no.0)
            .ok_or(PortError::Unknown(port_no))?;
        let before = p.desc.state;
        p.desc.state.set(PortState::LINK_DOWN, !up);
        p.desc.state.set(PortState::LIVE, up);
        if p.desc.state != before {
            let desc = p.desc.clone();
            self.port_status(PortReason::Modify, desc);
        }
        Ok(())
    }

    /// A port's description.
    pub fn port(&self, port_no: PortNo) -> Option<&Port> {
        self.ports.get(&port_no.0).map(|p| &p.desc)
    }

    /// Every port, by number.
    pub fn ports(&self) -> impl Iterator<Item = &Port> {
        self.ports.values().map(|p| &p.desc)
    }

    /// Whether a port exists and is live (link up, not administratively down).
    pub fn port_is_live(&self, port_no: PortNo) -> bool {
        self.ports.get(&port_no.0).is_some_and(PortEntry::is_live)
    }

    /// (rx packets, tx packets, rx bytes, tx bytes) of a port.
    pub fn port_counters(&self, port_no: PortNo) -> Option<(u64, u64, u64, u64)> {
        self.ports.get(&port_no.0).map(|p| {
            let c = p.counters;
            (c.rx_packets, c.tx_packets, c.rx_bytes, c.tx_bytes)
        })
    }

    /// Packets dropped on purpose, by kind.
    pub fn drop_counters(&self) -> DropCounters {
        self.drops
    }

    fn port_status(&mut self, reason: PortReason, desc: Port) {
        let bit = match reason {
            PortReason::Add => PortStatusMask::ADD,
            PortReason::Delete => PortStatusMask::DELETE,
            _ => PortStatusMask::MODIFY,
        };
        if self.async_config.port_status_mask[0].contains(bit) {
            self.out
                .push_back(Message::new(Xid(0), PortStatus { reason, desc }));
        }
    }

    // -----------------------------------------------------------------------------------------
    // Inputs and outputs.

    /// Handles one message from the controller. Replies, errors and asynchronous messages are
    /// queued for `poll_output`; packets a PACKET_OUT sends are queued for `poll_transmit`.
    pub fn handle_message(&mut self, now: Time, msg: &Message) {
        self.handle_message_on(now, 0, msg);
    }

    /// `handle_message` for a message that came on OpenFlow channel `channel` (any number the
    /// caller keeps unique per connection): BIER BIFT_MOD transactions are staged per channel
    /// (draft §6.2); see [`close_channel`](Self::close_channel).
    pub fn handle_message_on(&mut self, now: Time, channel: u64, msg: &Message) {
        let xid = msg.xid;
        let result: Result<(), ErrorCode> = match &msg.body {
            Body::FlowMod(fm) => self.flow_mod(now, fm),
            Body::GroupMod(gm) => self.group_mod(now, gm),
            Body::MultipartRequest(req) => self.multipart(now, xid, req),
            Body::PacketOut(po) => self.packet_out(now, po).map(|p| {
                self.transmit.extend(p.outputs);
            }),
            Body::BarrierRequest => {
                // Messages are applied in order as they arrive, so everything before the
                // barrier is done.
                self.reply(xid, Body::BarrierReply);
                Ok(())
            }
            Body::EchoRequest(d) => {
                self.reply(xid, Body::EchoReply(d.clone()));
                Ok(())
            }
            Body::FeaturesRequest => {
                let f = self.features();
                self.reply(xid, Body::FeaturesReply(f));
                Ok(())
            }
            Body::GetConfigRequest => {
                self.reply(xid, Body::GetConfigReply(self.switch_config));
                Ok(())
            }
            Body::SetConfig(c) => {
                self.switch_config = *c;
                Ok(())
            }
            Body::GetAsyncRequest => {
                self.reply(xid, Body::GetAsyncReply(self.async_config));
                Ok(())
            }
            Body::SetAsync(a) => {
                self.async_config = *a;
                Ok(())
            }
            Body::RoleRequest(r) => {
                // Roles are the session's business (the agent around the pipeline); the
                // pipeline itself always acts as for a master.
                self.reply(xid, Body::RoleReply(*r));
                Ok(())
            }
            Body::PortMod(pm) => self.port_mod(pm),
            Body::TableMod(tm) => {
                if tm.table_id != TableId::ALL && usize::from(tm.table_id.0) >= self.tables.len() {
                    Err(TableModFailedCode::BadTable.into())
                } else {
                    // OF1.3.5 §7.3.3: the table config bits are deprecated; nothing to apply.
                    Ok(())
                }
            }
            // Meters are accepted and not enforced (no rate limiting).
            Body::MeterMod(_) => Ok(()),
            Body::QueueGetConfigRequest(q) => self.queue_config(xid, q),
            Body::Hello(_) | Body::EchoReply(_) | Body::Error(_) => Ok(()),
            Body::Experimenter(e)
                if e.experimenter == openflow::ext::bier::EXPERIMENTER_ID
                    && self.bier.is_some() =>
            {
                self.bier_message(now, channel, msg, e)
            }
            Body::Experimenter(_) => Err(BadRequestCode::BadExperimenter.into()),
            _ => Err(BadRequestCode::BadType.into()),
        };
        if let Err(code) = result {
            self.error(msg, code);
        }
    }

    fn reply(&mut self, xid: Xid, body: Body) {
        self.out.push_back(Message { xid, body });
    }

    /// Queues a message for `poll_output` (BIER replies and TSM_EVENTs).
    pub(crate) fn queue_output(&mut self, m: Message) {
        self.out.push_back(m);
    }

    /// An OpenFlow channel closed: drops the BIER transactions it staged (draft §6.2).
    pub fn close_channel(&mut self, channel: u64) {
        if let Some(b) = self.bier.as_deref_mut() {
            b.txns.remove(&channel);
        }
    }

    /// The BIER state (`None` when `Config::bier` is `None`).
    pub fn bier(&self) -> Option<&crate::bier::BierState> {
        self.bier.as_deref()
    }

    /// The BIER counters (`None` when `Config::bier` is `None`).
    pub fn bier_counters(&self) -> Option<&crate::bier::BierCounters> {
        self.bier.as_deref().map(|b| b.counters())
    }

    fn error(&mut self, msg: &Message, code: ErrorCode) {
        // OF1.3.5 §7.4.4: the data holds at least the first 64 bytes of the failed request.
        let bytes = msg.encode().unwrap_or_default();
        self.out
            .push_back(Message::new(msg.xid, ErrorMsg::for_request(code, &bytes)));
    }

    /// The next message for the controller.
    pub fn poll_output(&mut self) -> Option<Message> {
        self.out.pop_front()
    }

    /// The next packet a PACKET_OUT sent out of a port.
    pub fn poll_transmit(&mut self) -> Option<(PortNo, Vec<u8>)> {
        self.transmit.pop_front()
    }

    /// The earliest time at which a flow (or a BIER→TSM local group) may expire (call
    /// `handle_timeout` then).
    pub fn poll_timeout(&self) -> Option<Time> {
        let flows = self.deadlines.first().map(|(t, _)| *t);
        match (flows, self.bier_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Expires the flows whose idle or hard timeout has passed at `now`, queuing FLOW_REMOVED
    /// for those with `OFPFF_SEND_FLOW_REM`, and the BIER→TSM local groups idle since
    /// `idle_timeout_ms` (TSM_EVENT REMOVED).
    pub fn handle_timeout(&mut self, now: Time) {
        self.expire(now);
        self.bier_expire(now);
    }

    fn features(&self) -> SwitchFeatures {
        SwitchFeatures {
            datapath_id: self.config.datapath_id,
            n_buffers: 0,
            n_tables: u8::try_from(self.tables.len()).unwrap_or(u8::MAX),
            auxiliary_id: 0,
            capabilities: Capabilities::FLOW_STATS
                | Capabilities::TABLE_STATS
                | Capabilities::PORT_STATS
                | Capabilities::GROUP_STATS,
            reserved: 0,
        }
    }

    fn port_mod(&mut self, pm: &openflow::PortMod) -> Result<(), ErrorCode> {
        let p = self
            .ports
            .get_mut(&pm.port_no.0)
            .ok_or(ErrorCode::from(PortModFailedCode::BadPort))?;
        if p.desc.hw_addr != pm.hw_addr {
            return Err(PortModFailedCode::BadHwAddr.into());
        }
        let settable = PortConfig::PORT_DOWN
            | PortConfig::NO_RECV
            | PortConfig::NO_FWD
            | PortConfig::NO_PACKET_IN;
        if !settable.contains(pm.mask) {
            return Err(PortModFailedCode::BadConfig.into());
        }
        let before = p.desc.config;
        p.desc.config = (before & !pm.mask) | (pm.config & pm.mask);
        if p.desc.config != before {
            let desc = p.desc.clone();
            self.port_status(PortReason::Modify, desc);
        }
        Ok(())
    }

    fn queue_config(
        &mut self,
        xid: Xid,
        q: &openflow::msg::QueueGetConfigRequest,
    ) -> Result<(), ErrorCode> {
        if q.port != PortNo::ANY && !self.ports.contains_key(&q.port.0) {
            return Err(openflow::error_msg::QueueOpFailedCode::BadPort.into());
        }
        // No queues are configured on any port.
        let reply = openflow::msg::QueueGetConfigReply {
            port: q.port,
            queues: Vec::new(),
        };
        self.reply(xid, Body::QueueGetConfigReply(reply));
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Packets.

    /// Forwards a packet that arrived on `in_port`: updates counters and idle times, queues the
    /// PACKET_INs it causes for `poll_output` (as the async configuration allows), and returns
    /// where it went.
    pub fn process(&mut self, now: Time, in_port: PortNo, packet: &[u8]) -> Processed {
        let (processed, hits) = self.run(in_port, packet);
        self.apply_hits(now, &hits);
        for pi in &processed.packet_ins {
            self.out.push_back(Message::new(Xid(0), pi.clone()));
        }
        processed
    }

    /// Forwards a packet without changing anything (no counters, no idle-time refresh, no
    /// PACKET_IN queued): where would it go?
    pub fn trace(&self, in_port: PortNo, packet: &[u8]) -> Processed {
        self.run(in_port, packet).0
    }

    /// The flow entry a packet matches in one table, if any (a pure classifier lookup).
    pub fn lookup(&self, table: TableId, key: &crate::FlowKey) -> Option<FlowSummary> {
        let t = self.tables.get(usize::from(table.0))?;
        let id = t.lookup(key, &self.flows)?;
        let e = self.flow(id)?;
        Some(FlowSummary {
            table_id: table,
            priority: e.priority,
            cookie: e.cookie,
        })
    }

    /// Executes a PACKET_OUT (OF1.3.5 §7.3.7) and returns where the packet went, without
    /// queueing the packets for `poll_transmit` (`handle_message` does that).
    pub fn packet_out(&mut self, now: Time, po: &PacketOut) -> Result<Processed, ErrorCode> {
        if po.buffer_id != BufferId::NO_BUFFER {
            // This switch buffers nothing (n_buffers = 0 in FEATURES_REPLY).
            return Err(BadRequestCode::BufferUnknown.into());
        }
        let in_port = po.in_port;
        let ok_port = in_port == PortNo::CONTROLLER
            || in_port == PortNo::LOCAL
            || (in_port.is_physical() && in_port.0 < PortNo::MAX.0);
        if !ok_port {
            return Err(BadRequestCode::BadPort.into());
        }
        self.check_packet_out_actions(&po.actions)?;
        let (processed, hits) = self.run_packet_out(po);
        self.apply_hits(now, &hits);
        for pi in &processed.packet_ins {
            self.out.push_back(Message::new(Xid(0), pi.clone()));
        }
        Ok(processed)
    }

    /// Number of flow entries in a table.
    pub fn flow_count(&self, table: TableId) -> usize {
        self.tables.get(usize::from(table.0)).map_or(0, |t| t.count)
    }

    /// Number of groups.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// Whether group `id` exists.
    pub fn has_group(&self, id: u32) -> bool {
        self.groups.contains_key(&id)
    }

    pub(crate) fn flow(&self, id: u32) -> Option<&FlowEntry> {
        self.flows.get(id as usize).and_then(Option::as_ref)
    }

    pub(crate) fn packet_in_allowed(&self, pi: &PacketIn) -> bool {
        let bit = match pi.reason {
            openflow::PacketInReason::NoMatch => PacketInMask::NO_MATCH,
            openflow::PacketInReason::Action => PacketInMask::ACTION,
            openflow::PacketInReason::InvalidTtl => PacketInMask::INVALID_TTL,
            _ => PacketInMask::empty(),
        };
        let port_ok = pi.in_port().is_none_or(|p| {
            self.ports
                .get(&p.0)
                .is_none_or(|e| !e.desc.config.contains(PortConfig::NO_PACKET_IN))
        });
        port_ok && self.async_config.packet_in_mask[0].contains(bit)
    }
}

#[cfg(test)]
mod tests;
