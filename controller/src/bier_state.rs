//! The controller as BIER control plane, wired into the [`Controller`] state machine (RFC 8279,
//! RFC 8296, RFC 9262; the OpenFlow messages of `drafts/bier-openflow.md`). The pure
//! computations are [`crate::bier_plane`]'s; this module decides when to run them, which
//! switches get what, and keeps what each switch holds.
//!
//! What it does:
//! - **Capability** (draft §5): every switch that becomes ready is sent CAPS_REQUEST. A
//!   CAPS_REPLY with BIER forwarding and decapsulation, our BSL and sub-domain 0 makes it
//!   BIER-capable on that connection (BIER-TE as well if it announces BIER_TE, sub-domain 1
//!   and the TE BSL); `OFPBRC_BAD_EXPERIMENTER` (Open vSwitch) or anything else makes it not.
//!   A capable switch's tables are read back (BIFT_QUERY, BFR_QUERY) before anything is
//!   pushed, so a reconnect sends only what differs (draft §7).
//! - **BFR-ids**: every host gets one when it is learned ([`BfrIds`]: lowest free, never
//!   shared); it keeps it while it exists (released only when the topology removes the host),
//!   across restarts (in the snapshot, [`BierSnapshot`]).
//! - **BIFTs**: after every input that changed the fabric, the hosts, the capabilities or the
//!   groups, the BIFTs of every BIER-capable switch are computed ([`bier_plane::compute`] on
//!   the fabric restricted to BIER-capable switches; BIER-TE tables from [`TePlan`] on the
//!   BIER-TE-capable ones) and each switch gets exactly the difference to what it holds:
//!   the `bier_forward` flow if missing, BFR_MOD REPLACE if its BFERs changed, one BIFT_MOD
//!   REPLACE transaction per changed table, BIFT_CLEAR per vanished table, then a barrier.
//! - **BFIR** (draft §10.1): `POST /v1/groups/{name}/bier` ([`BierCommand::Assign`]) answers
//!   the RFC 8296 header fields of a member set; with a lease it also takes an address from the
//!   subset pool and installs, on the edge switch of every sender (the group's members, or the
//!   one `sender`), a flow `in_port=<host port>, ip_dst=<address> → bier_encap, bier_forward`
//!   ([`bier_plane::ingress`]; an ALL group with one bucket per SI when the members span
//!   several SIs). A plain UDP datagram to that address then travels as BIER. The answer comes
//!   when every switch acknowledged (barrier). The lease ends on its timer or by
//!   [`BierCommand::Release`]; its flows, groups and address are removed and freed.
//!
//! Guarantees:
//! - Deterministic (ordered maps only); nothing is sent to a switch that is not connected,
//!   ready and BIER-capable, and nothing BIER-related is sent while the controller settles
//!   after a restore, except the flows of a lease created or removed meanwhile.
//! - What is ours on a switch: flows with cookie [`BIER_COOKIE`], groups in
//!   [`BierConfig::group_ids`], BIFTs of sub-domains [`BIER_SUB_DOMAIN`] and [`TE_SUB_DOMAIN`],
//!   BFR records of sub-domain 0. Such state found on a switch and not wanted is removed;
//!   nothing else is touched (TSM reconciliation sees our flows and groups as foreign).
//! - A command that fails validation changes nothing; refusals name every culprit (all the
//!   members without a BFR-id, all those outside the group, ...).
//! - Group flows are replaced before the groups they used are deleted (deleting a group
//!   removes the flows that use it, OF1.3.5 §6.5).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use bier::{BfrId, BitString, Bsl, SetId};
use openflow::ext::bier::{
    BfrCommand, BfrMod, BfrQuery, BierMessage, BiftCommand, BiftReply, BiftSelector, BiftTable,
    Capabilities as BierCaps, CapsReply, CapsRequest, Hop, LocalBfr, TableEntries,
};
use openflow::msg::{FlowMod, GroupMod};
use openflow::multipart::{FlowStats, GroupDesc};
use openflow::oxm::MacAddr;
use openflow::{
    Action, Body, Bucket, Cookie, ErrorMsg, Experimenter, GroupId, GroupType, Instruction, Match,
    Oxm, PortNo, Xid,
};
use serde::{Deserialize, Serialize};

use super::{ConnId, Controller, OpId, OpKind};
use crate::bier_plane::{
    self, BfrIds, BierPlaneError, TePlan, BFIR_PRIORITY, BIER_FORWARD_PRIORITY, BIER_SUB_DOMAIN,
    TE_SUB_DOMAIN,
};
use crate::command::{CommandError, Reply, RequestId};
use crate::rules::{GroupIds, SUBSET_TABLE};
use crate::snapshot::RestoreError;
use crate::time::Time;
use crate::topology::{Change, Dpid, Endpoint, Topology};

/// Cookie of every flow of ours that serves BIER ("tsm" and 2).
pub const BIER_COOKIE: Cookie = Cookie(0x0074_736d_0000_0002);

/// How the controller runs BIER.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BierConfig {
    /// Send CAPS_REQUEST and drive BIER-capable switches at all.
    pub enabled: bool,
    /// BSL of the BIER BIFTs and headers (sub-domain 0); more BFR-ids than this take more SIs.
    pub bsl: Bsl,
    /// BSL of BIER-TE (sub-domain 1): one bit per live inter-switch link plus one per BFER.
    pub te_bsl: Bsl,
    /// Group ids for BFIR groups (multi-SI ingress), disjoint from the subset groups'.
    pub group_ids: (GroupId, GroupId),
}

impl Default for BierConfig {
    fn default() -> Self {
        BierConfig {
            enabled: true,
            bsl: Bsl::B256,
            te_bsl: Bsl::B256,
            group_ids: (GroupId(0x4249_0000), GroupId(0x4249_ffff)),
        }
    }
}

impl BierConfig {
    /// Checks the group-id range against the subset groups' range.
    pub fn validate(&self, subset_ids: (GroupId, GroupId)) -> Result<(), String> {
        let (a, b) = self.group_ids;
        if a.0 == 0 || a.0 > b.0 || b.0 > GroupId::MAX.0 {
            return Err(format!(
                "BIER group id range {:#x}-{:#x} must lie within 1..=0xffffff00 and not be empty",
                a.0, b.0
            ));
        }
        let (c, d) = subset_ids;
        if a.0 <= d.0 && c.0 <= b.0 {
            return Err(format!(
                "BIER group id range {:#x}-{:#x} overlaps the subset group ids {:#x}-{:#x}",
                a.0, b.0, c.0, d.0
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Commands, answers, refusals.

/// A BIER command (inside [`crate::Command::Bier`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BierCommand {
    /// The header fields for members of a group; with a lease, also an address that the
    /// senders' edge switches encapsulate (answered when every switch acknowledged).
    Assign(BierRequest),
    /// Ends a lease early (answered when its flows are gone).
    Release { addr: IpAddr },
}

/// What [`BierCommand::Assign`] asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BierRequest {
    /// The group the members belong to.
    pub group: String,
    /// The receivers (BFERs), by host IP.
    pub members: Vec<IpAddr>,
    /// Without: only the header fields. With: a BFIR address for this long.
    pub lease: Option<Duration>,
    /// BIER-TE (sub-domain 1, a tree rooted at `sender`'s switch) instead of BIER.
    pub te: bool,
    /// The one sender (required for BIER-TE); without, every member of the group may send.
    pub sender: Option<IpAddr>,
    /// Who takes the lease (a bearer token's name); kept with it.
    pub owner: Option<String>,
}

/// A successful BIER command's answer (inside [`crate::Reply::Bier`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BierReply {
    Assigned(Box<BierAssignment>),
    Released { addr: IpAddr },
}

/// One RFC 8296 header's fields: one per SI that has members (RFC 8279 §6.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BierHeaderFields {
    pub si: SetId,
    /// The 20-bit BIFT-id (BSL << 16 | sub-domain << 8 | SI).
    pub bift_id: u32,
    pub bitstring: BitString,
}

/// A member with its BFR-id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BierMember {
    pub ip: IpAddr,
    pub mac: MacAddr,
    pub bfr_id: BfrId,
}

/// The answer to [`BierCommand::Assign`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BierAssignment {
    pub group: String,
    pub te: bool,
    pub sub_domain: u8,
    pub bsl: Bsl,
    /// In SI order; never empty.
    pub headers: Vec<BierHeaderFields>,
    /// In the request's order.
    pub members: Vec<BierMember>,
    /// The sender's BFR-id (the header's BFIR-id), when a sender was given.
    pub bfir_id: Option<BfrId>,
    /// BIER-TE: the tree's edges as (switch, out port), in order.
    pub tree: Vec<Endpoint>,
    /// With a lease: the address and where it is encapsulated.
    pub lease: Option<BierLeaseInfo>,
}

/// A BIER lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BierLeaseInfo {
    /// Datagrams to this address from a sender's host port become BIER at its edge switch.
    pub addr: IpAddr,
    pub group: String,
    pub members: Vec<IpAddr>,
    pub te: bool,
    pub sender: Option<IpAddr>,
    pub lease: Duration,
    pub expires_at: Time,
    /// The host ports with an encapsulation flow for `addr`, in order.
    pub bfirs: Vec<Endpoint>,
    /// Every switch acknowledged the install.
    pub ready: bool,
    /// The last recomputation left out a member or sender (unreachable by BIER now).
    pub degraded: bool,
    /// Who took it ([`BierRequest::owner`]).
    pub owner: Option<String>,
}

/// Why a BIER command was refused (inside [`CommandError::Bier`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BierCommandError {
    #[error("BIER is disabled in this controller's configuration")]
    Disabled,
    #[error("{} not member(s) of group {group:?}", list(ips))]
    NotMembers { group: String, ips: Vec<IpAddr> },
    #[error(
        "members without a BFR-id (hosts the controller has not learned): {}",
        list(ips)
    )]
    NoBfrId { ips: Vec<IpAddr> },
    #[error("members not behind a connected BIER-capable switch: {}", list(ips))]
    NotBierReachable { ips: Vec<IpAddr> },
    #[error("BIER-TE needs a sender: its tree is rooted at the sender's switch")]
    TeNeedsSender,
    #[error("sender {ip} is not a known host")]
    UnknownSender { ip: IpAddr },
    #[error("sender {ip} is not behind a connected BIER-capable switch that can encapsulate")]
    SenderNotBier { ip: IpAddr },
    #[error("BIER-TE is not available: {why}")]
    TeUnavailable { why: String },
    #[error("no BIER lease has address {addr}")]
    UnknownLease { addr: IpAddr },
    #[error("BIER computation failed: {0}")]
    Plane(#[from] BierPlaneError),
}

fn list<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------------------
// Snapshot.

/// The durable BIER state (the snapshot's `bier` member).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BierSnapshot {
    /// Every host's BFR-id.
    #[serde(default)]
    pub bfr_ids: BfrIds,
    /// The addresses of those hosts (MAC order).
    #[serde(default)]
    pub host_ips: Vec<([u8; 6], Vec<IpAddr>)>,
    /// Ready leases.
    #[serde(default)]
    pub leases: Vec<BierLeaseRecord>,
}

/// A ready BIER lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BierLeaseRecord {
    pub addr: IpAddr,
    pub group: String,
    pub members: Vec<IpAddr>,
    #[serde(default)]
    pub te: bool,
    #[serde(default)]
    pub sender: Option<IpAddr>,
    pub lease: Duration,
    /// When it ends, on the controller's clock.
    pub lease_end: Duration,
    /// The BFIR groups it uses (multi-SI ingress).
    #[serde(default)]
    pub groups: Vec<BfirGroupRecord>,
    /// Who took it (absent in older snapshots and without tokens: nobody).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// A sender's BFIR group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BfirGroupRecord {
    pub sender: [u8; 6],
    pub dpid: u64,
    pub group_id: u32,
}

// ---------------------------------------------------------------------------------------------
// Views.

/// A host's BFR-id and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BfrIdInfo {
    pub bfr_id: BfrId,
    /// Its SI and bit position at the configured BSL (RFC 8279 §3).
    pub si: SetId,
    pub bit: u16,
    pub mac: MacAddr,
    pub ips: Vec<IpAddr>,
    /// Its edge port, if the host is known now.
    pub at: Option<Endpoint>,
}

/// One switch's BIER state as the controller installed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BierSwitchView {
    pub dpid: Dpid,
    /// BIER-capable on its current connection.
    pub capable: bool,
    /// BIER-TE tables are pushed to it.
    pub te: bool,
    /// Why it is not capable (no answer yet, refused, lacks a feature).
    pub why_not: Option<String>,
    /// Its BIFTs (both sub-domains), by BIFT-id.
    pub tables: Vec<BiftTable>,
    /// Its local BFERs (sub-domain 0).
    pub bfrs: Vec<LocalBfr>,
    /// Its BFIR flows: (host port, address).
    pub bfirs: Vec<(PortNo, IpAddr)>,
}

// ---------------------------------------------------------------------------------------------
// Internal state.

/// An operation of ours (inside the machine's `OpKind::Bier`).
#[derive(Clone, Debug)]
pub(crate) enum BierOp {
    /// Tables and flows after a change; answers nothing.
    Sync,
    /// A lease's flows: answered when done.
    Install { addr: IpAddr },
    /// A lease's removal: the address is freed and `then` answered when done.
    Remove {
        addr: IpAddr,
        then: Vec<(RequestId, Result<Reply, CommandError>)>,
    },
}

/// A BFIR flow and the group it uses.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Ingress {
    flow: FlowMod,
    group: Option<(GroupId, Vec<Bucket>)>,
}

/// What a BIER-capable switch holds of ours, as far as we know.
#[derive(Clone, Debug, Default)]
struct Held {
    bifts: BTreeMap<u32, BiftTable>,
    /// `None`: unknown (BFR_MOD is sent).
    bfrs: Option<Vec<LocalBfr>>,
    forward: bool,
    ingress: BTreeMap<(PortNo, IpAddr), Ingress>,
    /// Our flows of no known kind: deleted at the next sync.
    stray_flows: Vec<(u16, Match)>,
    /// Groups in our range that no flow of ours uses: deleted at the next sync.
    stray_groups: BTreeSet<GroupId>,
}

/// What a switch should hold.
#[derive(Clone, Debug, Default)]
struct Want {
    bifts: BTreeMap<u32, BiftTable>,
    /// `None`: leave the switch's records as they are.
    bfrs: Option<Vec<LocalBfr>>,
    ingress: BTreeMap<(PortNo, IpAddr), Ingress>,
}

#[derive(Clone, Debug)]
enum Standing {
    Capable { caps: CapsReply, te: bool },
    NotCapable(String),
}

#[derive(Clone, Debug)]
struct BierSwitch {
    conn: ConnId,
    standing: Standing,
    held: Held,
}

/// A connection's BIER handshake: CAPS_REQUEST, then the read-back.
#[derive(Clone, Debug)]
struct Probe {
    dpid: Dpid,
    caps_xid: Xid,
    caps: Option<CapsReply>,
    bift_xid: Option<Xid>,
    bfr_xid: Option<Xid>,
    bift_parts: Vec<BiftReply>,
    bifts: Option<Vec<BiftTable>>,
    bfr_parts: Vec<LocalBfr>,
    bfrs: Option<Option<Vec<LocalBfr>>>,
    flows: Vec<FlowStats>,
    groups: Vec<GroupDesc>,
}

#[derive(Clone, Debug)]
enum LeaseState {
    Installing {
        op: OpId,
        req: RequestId,
        reply: Box<BierAssignment>,
    },
    Live,
}

#[derive(Clone, Debug)]
struct Lease {
    group: String,
    members: Vec<IpAddr>,
    te: bool,
    sender: Option<IpAddr>,
    lease: Duration,
    lease_end: Time,
    /// Multi-SI BFIR groups by sender.
    groups: BTreeMap<MacAddr, (Dpid, GroupId)>,
    state: LeaseState,
    degraded: bool,
    owner: Option<String>,
}

/// Which leases a sync recomputes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    All,
    /// Only this lease's flows (while settling after a restore).
    Lease(IpAddr),
}

/// Things counted rather than answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BierCounters {
    /// Table computations or encodings that failed (the previous tables were kept).
    pub compute_errors: u64,
    /// OFPT_ERRORs about our BIER messages.
    pub switch_errors: u64,
    /// BIER messages we did not ask for (TSM_EVENTs included).
    pub unexpected: u64,
    /// Hosts that could get no BFR-id (all 65535 taken).
    pub ids_exhausted: u64,
    /// Syncs that sent something.
    pub pushes: u64,
}

/// The BIER part of the controller's state.
#[derive(Debug)]
pub(crate) struct BierState {
    cfg: BierConfig,
    ids: BfrIds,
    /// The addresses of every host with a BFR-id, kept (and persisted) so that hosts not yet
    /// heard from after a restart still resolve (see `bier_view`).
    host_ips: BTreeMap<MacAddr, BTreeSet<IpAddr>>,
    probes: BTreeMap<ConnId, Probe>,
    switches: BTreeMap<Dpid, BierSwitch>,
    leases: BTreeMap<IpAddr, Lease>,
    group_ids: GroupIds,
    txn: u32,
    dirty: bool,
    /// BFIR group ids to free once the sync that deletes them has been sent.
    release_later: Vec<(Dpid, GroupId)>,
    counters: BierCounters,
}

impl BierState {
    pub(crate) fn new(cfg: BierConfig) -> BierState {
        BierState {
            cfg,
            ids: BfrIds::new(),
            host_ips: BTreeMap::new(),
            probes: BTreeMap::new(),
            switches: BTreeMap::new(),
            leases: BTreeMap::new(),
            group_ids: GroupIds::with_range(cfg.group_ids.0, cfg.group_ids.1),
            txn: 0,
            dirty: false,
            release_later: Vec::new(),
            counters: BierCounters::default(),
        }
    }

    /// Something that BIER depends on changed: sync after this input.
    pub(crate) fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// The earliest lease end.
    pub(crate) fn next_timeout(&self) -> Option<Time> {
        self.leases.values().map(|l| l.lease_end).min()
    }

    pub(crate) fn snapshot(&self) -> BierSnapshot {
        BierSnapshot {
            bfr_ids: self.ids.clone(),
            host_ips: self
                .host_ips
                .iter()
                .map(|(m, ips)| (m.0, ips.iter().copied().collect()))
                .collect(),
            leases: self
                .leases
                .iter()
                .filter(|(_, l)| matches!(l.state, LeaseState::Live))
                .map(|(addr, l)| BierLeaseRecord {
                    addr: *addr,
                    group: l.group.clone(),
                    members: l.members.clone(),
                    te: l.te,
                    sender: l.sender,
                    lease: l.lease,
                    lease_end: l.lease_end.since_epoch(),
                    groups: l
                        .groups
                        .iter()
                        .map(|(m, (d, g))| BfirGroupRecord {
                            sender: m.0,
                            dpid: d.0,
                            group_id: g.0,
                        })
                        .collect(),
                    owner: l.owner.clone(),
                })
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pure helpers.

fn bier_body(m: BierMessage) -> Body {
    Body::Experimenter(m.to_experimenter())
}

/// A match with its fields in a canonical order, for comparisons with what a switch reports.
fn canon(m: &Match) -> Match {
    let mut fields = m.fields.clone();
    fields.sort_by_key(Oxm::header);
    Match { fields }
}

fn forward_flow() -> FlowMod {
    match bier_plane::forward_flow() {
        Body::FlowMod(f) => FlowMod {
            match_: canon(&f.match_),
            ..f
        }
        .with_cookie(BIER_COOKIE),
        // `forward_flow` always builds a flow mod; an empty add is harmless if it did not.
        _ => FlowMod::add(
            SUBSET_TABLE,
            BIER_FORWARD_PRIORITY,
            Match::new(),
            Vec::new(),
        ),
    }
}

/// (in_port, destination) of a BFIR flow's match.
fn ingress_key(m: &Match) -> Option<(PortNo, IpAddr)> {
    let mut port = None;
    let mut dst = None;
    for f in &m.fields {
        match f {
            Oxm::InPort(p) => port = Some(*p),
            Oxm::Ipv4Dst { value, mask: None } => dst = Some(IpAddr::V4(*value)),
            Oxm::Ipv6Dst { value, mask: None } => dst = Some(IpAddr::V6(*value)),
            _ => {}
        }
    }
    Some((port?, dst?))
}

/// The group a flow's apply-actions output to.
fn flow_group(f: &FlowMod) -> Option<GroupId> {
    f.instructions.iter().find_map(|i| match i {
        Instruction::ApplyActions(a) => a.iter().find_map(|x| match x {
            Action::Group(g) => Some(*g),
            _ => None,
        }),
        _ => None,
    })
}

/// The ECMP width a switch takes: longer next-hop lists are cut (any subset of the
/// equal-cost neighbours delivers, RFC 8279 §6.7).
fn fit_ecmp(mut t: BiftTable, max: u8) -> BiftTable {
    let max = usize::from(max.max(1));
    if let TableEntries::Bier(m) = &mut t.entries {
        for hop in m.values_mut() {
            if let Hop::Forward(v) = hop {
                v.truncate(max);
            }
        }
    }
    t
}

impl Held {
    /// What a switch reported: its tables of our sub-domains, its BFR records, and our flows
    /// and groups among those it holds.
    fn read_back(p: &Probe, range: &GroupIds) -> Held {
        let bifts = p
            .bifts
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|t| t.key.sub_domain == BIER_SUB_DOMAIN || t.key.sub_domain == TE_SUB_DOMAIN)
            .map(|t| (t.key.bift_id, t))
            .collect();
        let mut held = Held {
            bifts,
            bfrs: p.bfrs.clone().flatten(),
            ..Held::default()
        };
        let fwd = forward_flow();
        for f in p
            .flows
            .iter()
            .filter(|f| f.cookie == BIER_COOKIE && f.table_id == SUBSET_TABLE)
        {
            let m = canon(&f.match_);
            if f.priority == BIER_FORWARD_PRIORITY && m == fwd.match_ {
                held.forward = f.instructions == fwd.instructions;
                continue;
            }
            if f.priority == BFIR_PRIORITY {
                if let Some(k) = ingress_key(&m) {
                    let flow = FlowMod::add(SUBSET_TABLE, BFIR_PRIORITY, m, f.instructions.clone())
                        .with_cookie(BIER_COOKIE);
                    held.ingress.insert(k, Ingress { flow, group: None });
                    continue;
                }
            }
            held.stray_flows.push((f.priority, f.match_.clone()));
        }
        let groups: BTreeMap<GroupId, &GroupDesc> = p
            .groups
            .iter()
            .filter(|g| range.in_range(g.group_id))
            .map(|g| (g.group_id, g))
            .collect();
        let mut used = BTreeSet::new();
        for ing in held.ingress.values_mut() {
            if let Some(g) = flow_group(&ing.flow) {
                if let Some(d) = groups.get(&g) {
                    used.insert(g);
                    // A group of another type is "different": it gets modified.
                    let buckets = if d.group_type == GroupType::All {
                        d.buckets.clone()
                    } else {
                        Vec::new()
                    };
                    ing.group = Some((g, buckets));
                }
            }
        }
        held.stray_groups = groups
            .keys()
            .filter(|g| !used.contains(g))
            .copied()
            .collect();
        held
    }

    /// The messages that turn what is held into what is wanted (without the final barrier),
    /// and what is held afterwards.
    fn diff(&self, want: &Want, txn: &mut u32, errors: &mut u64) -> (Vec<Body>, Held) {
        let mut v = Vec::new();
        let mut after = Held {
            bfrs: want.bfrs.clone().or_else(|| self.bfrs.clone()),
            forward: true,
            ingress: want.ingress.clone(),
            ..Held::default()
        };
        if !self.forward {
            v.push(Body::FlowMod(forward_flow()));
        }
        for (prio, m) in &self.stray_flows {
            v.push(Body::FlowMod(
                FlowMod::delete_strict(SUBSET_TABLE, *prio, m.clone()).with_cookie(BIER_COOKIE),
            ));
        }
        // BFR records before the tables whose LOCAL_DECAP bits use them (draft §8).
        if let Some(bfrs) = want
            .bfrs
            .as_ref()
            .filter(|b| self.bfrs.as_ref() != Some(*b))
        {
            v.push(bier_body(BierMessage::BfrMod(BfrMod {
                command: BfrCommand::Replace,
                sub_domain: BIER_SUB_DOMAIN,
                bfrs: bfrs.clone(),
            })));
        }
        for (id, t) in &want.bifts {
            if self.bifts.get(id) == Some(t) {
                after.bifts.insert(*id, t.clone());
                continue;
            }
            *txn = txn.wrapping_add(1);
            match t.bift_mods(*txn, BiftCommand::Replace) {
                Ok(parts) => {
                    v.extend(
                        parts
                            .into_iter()
                            .map(|m| bier_body(BierMessage::BiftMod(m))),
                    );
                    after.bifts.insert(*id, t.clone());
                }
                Err(_) => {
                    // Keep what the switch has; the next change retries.
                    *errors += 1;
                    if let Some(old) = self.bifts.get(id) {
                        after.bifts.insert(*id, old.clone());
                    }
                }
            }
        }
        for id in self.bifts.keys() {
            if !want.bifts.contains_key(id) {
                v.push(bier_body(BierMessage::BiftClear(BiftSelector::table(*id))));
            }
        }
        // BFIR groups first, then the flows that use them, then the groups no flow uses.
        let mut have_groups: BTreeMap<GroupId, Option<&Vec<Bucket>>> =
            self.stray_groups.iter().map(|g| (*g, None)).collect();
        for ing in self.ingress.values() {
            if let Some((g, b)) = &ing.group {
                have_groups.insert(*g, Some(b));
            }
        }
        let want_groups: BTreeMap<GroupId, &Vec<Bucket>> = want
            .ingress
            .values()
            .filter_map(|i| i.group.as_ref().map(|(g, b)| (*g, b)))
            .collect();
        let mut group_mods = Vec::new();
        for (g, b) in &want_groups {
            match have_groups.get(g) {
                Some(Some(h)) if h == b => {}
                Some(_) => group_mods.push(GroupMod::modify(GroupType::All, *g, (*b).clone())),
                None => group_mods.push(GroupMod::add(GroupType::All, *g, (*b).clone())),
            }
        }
        if !group_mods.is_empty() {
            v.extend(group_mods.into_iter().map(Body::GroupMod));
            v.push(Body::BarrierRequest);
        }
        for (k, ing) in &want.ingress {
            if self.ingress.get(k).map(|h| &h.flow) != Some(&ing.flow) {
                v.push(Body::FlowMod(ing.flow.clone()));
            }
        }
        for (k, ing) in &self.ingress {
            if !want.ingress.contains_key(k) {
                v.push(Body::FlowMod(
                    FlowMod::delete_strict(SUBSET_TABLE, BFIR_PRIORITY, ing.flow.match_.clone())
                        .with_cookie(BIER_COOKIE),
                ));
            }
        }
        let gone: Vec<GroupId> = have_groups
            .keys()
            .filter(|g| !want_groups.contains_key(g))
            .copied()
            .collect();
        if !gone.is_empty() {
            v.push(Body::BarrierRequest);
            v.extend(
                gone.into_iter()
                    .map(|g| Body::GroupMod(GroupMod::delete(g))),
            );
        }
        (v, after)
    }
}

/// The flow (and group) of a BFIR, from `bier_plane::ingress`'s bodies, with our cookie and a
/// canonical match.
fn parse_ingress(bodies: Vec<Body>) -> Option<Ingress> {
    let mut flow = None;
    let mut group = None;
    for b in bodies {
        match b {
            Body::FlowMod(f) => {
                flow = Some(
                    FlowMod {
                        match_: canon(&f.match_),
                        ..f
                    }
                    .with_cookie(BIER_COOKIE),
                );
            }
            Body::GroupMod(g) => group = Some((g.group_id, g.buckets)),
            _ => {}
        }
    }
    Some(Ingress { flow: flow?, group })
}

// ---------------------------------------------------------------------------------------------
// The controller's BIER side.

impl Controller {
    // ---- queries ----

    /// The BIER configuration.
    pub fn bier_config(&self) -> &BierConfig {
        &self.bier.cfg
    }

    /// Whether the switch is connected, ready and BIER-capable on its current connection.
    pub fn bier_capable(&self, dpid: Dpid) -> bool {
        self.bier_switch_caps(dpid).is_some()
    }

    fn bier_switch_caps(&self, dpid: Dpid) -> Option<(&CapsReply, bool)> {
        let sw = self.bier.switches.get(&dpid)?;
        if self.ready_conn(dpid) != Some(sw.conn) {
            return None;
        }
        match &sw.standing {
            Standing::Capable { caps, te } => Some((caps, *te)),
            Standing::NotCapable(_) => None,
        }
    }

    /// The BFR-id of a host.
    pub fn bfr_id(&self, mac: MacAddr) -> Option<BfrId> {
        self.bier.ids.get(mac)
    }

    /// Every BFR-id, in id order.
    pub fn bfr_ids(&self) -> Vec<BfrIdInfo> {
        let bsl = self.bier.cfg.bsl;
        self.bier
            .ids
            .iter()
            .map(|(mac, id)| {
                let (si, bit) = id.locate(bsl);
                let host = self.topo.host(mac);
                BfrIdInfo {
                    bfr_id: id,
                    si,
                    bit: bit.get(),
                    mac,
                    ips: host
                        .map(|h| &h.addrs)
                        .or_else(|| self.bier.host_ips.get(&mac))
                        .map(|a| a.iter().copied().collect())
                        .unwrap_or_default(),
                    at: host.map(|h| h.at),
                }
            })
            .collect()
    }

    /// A switch's BIER state as installed (`None` for a switch never seen).
    pub fn bier_switch(&self, dpid: Dpid) -> Option<BierSwitchView> {
        if !self.switches.contains_key(&dpid) {
            return None;
        }
        let sw = self.bier.switches.get(&dpid);
        let current = sw.is_some_and(|s| self.ready_conn(dpid) == Some(s.conn));
        let (capable, te, why_not) = match sw.map(|s| &s.standing) {
            _ if !current && self.ready_conn(dpid).is_none() => {
                (false, false, Some("not connected".to_owned()))
            }
            Some(Standing::Capable { te, .. }) if current => (true, *te, None),
            Some(Standing::NotCapable(why)) if current => (false, false, Some(why.clone())),
            _ if !self.bier.cfg.enabled => (false, false, Some("BIER is disabled".to_owned())),
            _ => (
                false,
                false,
                Some("capability exchange in progress".to_owned()),
            ),
        };
        let held = sw.filter(|_| capable).map(|s| &s.held);
        Some(BierSwitchView {
            dpid,
            capable,
            te,
            why_not,
            tables: held
                .map(|h| h.bifts.values().cloned().collect())
                .unwrap_or_default(),
            bfrs: held.and_then(|h| h.bfrs.clone()).unwrap_or_default(),
            bfirs: held
                .map(|h| h.ingress.keys().copied().collect())
                .unwrap_or_default(),
        })
    }

    /// Every BIER lease (installing or ready), in address order.
    pub fn bier_leases(&self) -> Vec<BierLeaseInfo> {
        self.bier
            .leases
            .keys()
            .filter_map(|a| self.bier_lease(*a))
            .collect()
    }

    /// One BIER lease.
    pub fn bier_lease(&self, addr: IpAddr) -> Option<BierLeaseInfo> {
        let l = self.bier.leases.get(&addr)?;
        let mut bfirs = Vec::new();
        for (d, sw) in &self.bier.switches {
            for (port, a) in sw.held.ingress.keys() {
                if *a == addr {
                    bfirs.push(Endpoint::new(*d, *port));
                }
            }
        }
        Some(BierLeaseInfo {
            addr,
            group: l.group.clone(),
            members: l.members.clone(),
            te: l.te,
            sender: l.sender,
            lease: l.lease,
            expires_at: l.lease_end,
            bfirs,
            ready: matches!(l.state, LeaseState::Live),
            degraded: l.degraded,
            owner: l.owner.clone(),
        })
    }

    pub fn bier_counters(&self) -> &BierCounters {
        &self.bier.counters
    }

    // ---- hooks called by the machine ----

    /// A switch joined: ask what it can do (draft §5), keeping the BIER flows and groups it
    /// reported for the read-back.
    pub(super) fn bier_joined(
        &mut self,
        conn: ConnId,
        dpid: Dpid,
        flows: &[FlowStats],
        groups: &[GroupDesc],
    ) {
        if !self.bier.cfg.enabled {
            return;
        }
        // Capability is learned anew on every connection.
        if self.bier.switches.remove(&dpid).is_some() {
            self.bier.dirty = true;
        }
        let req = bier_body(BierMessage::CapsRequest(CapsRequest::default()));
        let Some(caps_xid) = self.send(conn, req) else {
            return;
        };
        let range = &self.bier.group_ids;
        self.bier.probes.insert(
            conn,
            Probe {
                dpid,
                caps_xid,
                caps: None,
                bift_xid: None,
                bfr_xid: None,
                bift_parts: Vec::new(),
                bifts: None,
                bfr_parts: Vec::new(),
                bfrs: None,
                flows: flows
                    .iter()
                    .filter(|f| f.cookie == BIER_COOKIE)
                    .cloned()
                    .collect(),
                groups: groups
                    .iter()
                    .filter(|g| range.in_range(g.group_id))
                    .cloned()
                    .collect(),
            },
        );
    }

    /// The flows and groups a switch reported, without those of BIER (our cookie, our BFIR
    /// group range): what subset reconciliation looks at.
    pub(super) fn bier_not_ours(
        &self,
        flows: &[FlowStats],
        groups: &[GroupDesc],
    ) -> (Vec<FlowStats>, Vec<GroupDesc>) {
        (
            flows
                .iter()
                .filter(|f| f.cookie != BIER_COOKIE)
                .cloned()
                .collect(),
            groups
                .iter()
                .filter(|g| !self.bier.group_ids.in_range(g.group_id))
                .cloned()
                .collect(),
        )
    }

    /// An experimenter message from a ready switch.
    pub(super) fn bier_experimenter(&mut self, conn: ConnId, xid: Xid, e: &Experimenter) {
        let msg = match BierMessage::from_experimenter(e) {
            Some(Ok(m)) => m,
            _ => {
                self.counters.unexpected_messages += 1;
                return;
            }
        };
        let Some(p) = self.bier.probes.get_mut(&conn) else {
            self.bier.counters.unexpected += 1;
            return;
        };
        match msg {
            BierMessage::CapsReply(c) if xid == p.caps_xid && p.caps.is_none() => {
                self.bier_caps(conn, c);
            }
            BierMessage::BiftReply(r) if Some(xid) == p.bift_xid && p.bifts.is_none() => {
                let more = r.more;
                p.bift_parts.push(r);
                if !more {
                    // A reply that does not merge counts as empty: everything is re-sent.
                    let parts = std::mem::take(&mut p.bift_parts);
                    p.bifts =
                        Some(openflow::ext::bier::collect_replies(&parts).unwrap_or_default());
                    self.bier_probe_progress(conn);
                }
            }
            BierMessage::BfrReply(r) if Some(xid) == p.bfr_xid && p.bfrs.is_none() => {
                if r.sub_domain == BIER_SUB_DOMAIN {
                    p.bfr_parts.extend(r.bfrs);
                }
                if !r.more {
                    let mut v = std::mem::take(&mut p.bfr_parts);
                    v.sort_by_key(|b| b.bfr_id);
                    p.bfrs = Some(Some(v));
                    self.bier_probe_progress(conn);
                }
            }
            _ => self.bier.counters.unexpected += 1,
        }
    }

    /// The CAPS_REPLY: capable or not; if capable, read back its tables.
    fn bier_caps(&mut self, conn: ConnId, c: CapsReply) {
        let cfg = self.bier.cfg;
        let wire = |b: Bsl| bier_plane::wire_bsl(b);
        let mut missing = Vec::new();
        let need = BierCaps::BIER | BierCaps::DECAP;
        if !c.capabilities.contains(need) {
            missing.push("BIER forwarding and decapsulation".to_owned());
        }
        if !c.bsls.contains(wire(cfg.bsl)) {
            missing.push(format!("BSL {}", cfg.bsl));
        }
        if !c.sub_domains.contains(&BIER_SUB_DOMAIN) {
            missing.push(format!("sub-domain {BIER_SUB_DOMAIN}"));
        }
        let Some(p) = self.bier.probes.get_mut(&conn) else {
            return;
        };
        let dpid = p.dpid;
        if !missing.is_empty() {
            self.bier.probes.remove(&conn);
            self.bier.switches.insert(
                dpid,
                BierSwitch {
                    conn,
                    standing: Standing::NotCapable(format!("lacks {}", missing.join(", "))),
                    held: Held::default(),
                },
            );
            return;
        }
        p.caps = Some(c);
        let q = bier_body(BierMessage::BiftQuery(BiftSelector::ALL));
        let bift_xid = self.send(conn, q);
        let q = bier_body(BierMessage::BfrQuery(BfrQuery {
            sub_domain: Some(BIER_SUB_DOMAIN),
        }));
        let bfr_xid = self.send(conn, q);
        if let Some(p) = self.bier.probes.get_mut(&conn) {
            p.bift_xid = bift_xid;
            p.bfr_xid = bfr_xid;
        }
    }

    /// Finishes the handshake once both reads are answered.
    fn bier_probe_progress(&mut self, conn: ConnId) {
        let done = self
            .bier
            .probes
            .get(&conn)
            .is_some_and(|p| p.bifts.is_some() && p.bfrs.is_some());
        if !done {
            return;
        }
        let Some(p) = self.bier.probes.remove(&conn) else {
            return;
        };
        let Some(caps) = p.caps.clone() else {
            return;
        };
        let cfg = self.bier.cfg;
        let te = caps.capabilities.contains(BierCaps::BIER_TE)
            && caps.sub_domains.contains(&TE_SUB_DOMAIN)
            && caps.bsls.contains(bier_plane::wire_bsl(cfg.te_bsl));
        let held = Held::read_back(&p, &self.bier.group_ids);
        self.bier.switches.insert(
            p.dpid,
            BierSwitch {
                conn,
                standing: Standing::Capable { caps, te },
                held,
            },
        );
        self.bier.dirty = true;
    }

    /// An OFPT_ERROR from a ready switch: ours if it answers a BIER handshake message or a
    /// lease install (rolled back). Returns whether it was handled here.
    pub(super) fn bier_switch_error(
        &mut self,
        conn: ConnId,
        dpid: Dpid,
        xid: Xid,
        e: &ErrorMsg,
    ) -> bool {
        if let Some(p) = self.bier.probes.get_mut(&conn) {
            if xid == p.caps_xid {
                // OFPBRC_BAD_EXPERIMENTER (Open vSwitch), or anything else: not a BFR.
                let why = format!("refused CAPS_REQUEST: {}", e.typed());
                self.bier.probes.remove(&conn);
                self.bier.switches.insert(
                    dpid,
                    BierSwitch {
                        conn,
                        standing: Standing::NotCapable(why),
                        held: Held::default(),
                    },
                );
                return true;
            }
            if Some(xid) == p.bift_xid && p.bifts.is_none() {
                p.bifts = Some(Vec::new());
                self.bier_probe_progress(conn);
                return true;
            }
            if Some(xid) == p.bfr_xid && p.bfrs.is_none() {
                p.bfrs = Some(None);
                self.bier_probe_progress(conn);
                return true;
            }
        }
        let op = self
            .sessions
            .get(&conn)
            .and_then(|s| s.inflight.get(&xid).copied());
        let Some(op) = op else {
            return false;
        };
        let install = match self.ops.get(&op).map(|o| &o.kind) {
            Some(OpKind::Bier(BierOp::Install { addr })) => Some(*addr),
            Some(OpKind::Bier(_)) => None,
            _ => return false,
        };
        self.bier.counters.switch_errors += 1;
        match install {
            Some(addr) => {
                let code = e.typed();
                self.bier_abort(addr, CommandError::SwitchRefused { dpid, code });
                true
            }
            None => false,
        }
    }

    /// Host changes: BFR-ids for new hosts, released for removed ones.
    pub(super) fn bier_hosts(&mut self, changes: &[Change]) {
        if !self.bier.cfg.enabled {
            return;
        }
        for c in changes {
            match c {
                Change::HostAdded(mac) if self.bier.ids.get(*mac).is_none() => {
                    match self.bier.ids.assign(*mac) {
                        Ok(_) => self.dirty = true,
                        Err(_) => self.bier.counters.ids_exhausted += 1,
                    }
                }
                Change::HostRemoved(mac) => {
                    self.bier.host_ips.remove(mac);
                    if self.bier.ids.release(*mac).is_some() {
                        self.dirty = true;
                    }
                }
                _ => {}
            }
            let mac = match c {
                Change::HostAdded(m) | Change::HostAddrs(m) => *m,
                Change::HostMoved { mac, .. } => *mac,
                _ => continue,
            };
            let ips: BTreeSet<IpAddr> = self
                .topo
                .host(mac)
                .map(|h| h.addrs.clone())
                .unwrap_or_default();
            if self.bier.ids.get(mac).is_some() && self.bier.host_ips.get(&mac) != Some(&ips) {
                self.bier.host_ips.insert(mac, ips);
                self.dirty = true;
            }
        }
        self.bier.dirty = true;
    }

    /// After each input: leases of deleted groups end; what changed is pushed.
    pub(super) fn bier_after_input(&mut self) {
        if !self.bier.cfg.enabled || !self.bier.dirty || self.settle_until.is_some() {
            return;
        }
        self.bier.dirty = false;
        // Handshakes of connections that are gone.
        let sessions = &self.sessions;
        self.bier.probes.retain(|c, _| sessions.contains_key(c));
        let orphans: Vec<IpAddr> = self
            .bier
            .leases
            .iter()
            .filter(|(_, l)| !self.groups.contains_key(&l.group))
            .map(|(a, _)| *a)
            .collect();
        for addr in orphans {
            self.bier_remove(addr, Vec::new(), CommandError::Cancelled);
        }
        self.bier_sync(None, Scope::All);
    }

    /// Leases whose time is up.
    pub(super) fn bier_timers(&mut self) {
        let now = self.now;
        let ended: Vec<IpAddr> = self
            .bier
            .leases
            .iter()
            .filter(|(_, l)| l.lease_end <= now)
            .map(|(a, _)| *a)
            .collect();
        for addr in ended {
            self.bier_remove(addr, Vec::new(), CommandError::LeaseEnded);
        }
    }

    /// An operation of ours finished (every switch answered or is gone).
    pub(super) fn bier_op_done(&mut self, op: OpId, kind: BierOp) {
        match kind {
            BierOp::Sync => {}
            BierOp::Install { addr } => {
                let Some(l) = self.bier.leases.get_mut(&addr) else {
                    return;
                };
                let LeaseState::Installing { op: mine, req, .. } = &l.state else {
                    return;
                };
                if *mine != op {
                    return;
                }
                let req = *req;
                let LeaseState::Installing { mut reply, .. } =
                    std::mem::replace(&mut l.state, LeaseState::Live)
                else {
                    return;
                };
                reply.lease = self.bier_lease(addr);
                self.dirty = true;
                self.complete(req, Ok(Reply::Bier(BierReply::Assigned(reply))));
            }
            BierOp::Remove { addr, then } => {
                self.pool.release(addr);
                for (id, r) in then {
                    self.complete(id, r);
                }
            }
        }
    }

    /// Restores ids and leases from a snapshot (addresses and group ids reserved again).
    pub(super) fn bier_restore(&mut self, s: &BierSnapshot, now: Time) -> Result<(), RestoreError> {
        self.bier.ids = s.bfr_ids.clone();
        self.bier.host_ips = s
            .host_ips
            .iter()
            .filter(|(m, _)| self.bier.ids.get(MacAddr(*m)).is_some())
            .map(|(m, ips)| (MacAddr(*m), ips.iter().copied().collect()))
            .collect();
        for r in &s.leases {
            let why = |w: String| RestoreError::Subset {
                addr: r.addr,
                why: w,
            };
            let lease_end = Time::from_duration(r.lease_end);
            if lease_end <= now {
                continue;
            }
            if !self.groups.contains_key(&r.group) {
                return Err(why(format!("BIER lease of unknown group {:?}", r.group)));
            }
            if !self.pool.reserve(r.addr) {
                return Err(why(
                    "BIER lease address outside the pool or used twice".into()
                ));
            }
            let mut groups = BTreeMap::new();
            for g in &r.groups {
                let (d, gid) = (Dpid(g.dpid), GroupId(g.group_id));
                if !self.bier.group_ids.reserve(d, gid) {
                    return Err(why(format!("BFIR group {:#x} on {d} used twice", gid.0)));
                }
                groups.insert(MacAddr(g.sender), (d, gid));
            }
            self.bier.leases.insert(
                r.addr,
                Lease {
                    group: r.group.clone(),
                    members: r.members.clone(),
                    te: r.te,
                    sender: r.sender,
                    lease: r.lease,
                    lease_end,
                    groups,
                    state: LeaseState::Live,
                    degraded: false,
                    owner: r.owner.clone(),
                },
            );
        }
        Ok(())
    }

    /// A BIER command.
    pub(super) fn bier_command(&mut self, id: RequestId, c: BierCommand) {
        match c {
            BierCommand::Assign(req) => {
                if let Err(e) = self.bier_assign(id, req) {
                    self.complete(id, Err(e));
                }
            }
            BierCommand::Release { addr } => {
                if !self.bier.leases.contains_key(&addr) {
                    let e = BierCommandError::UnknownLease { addr };
                    self.complete(id, Err(CommandError::Bier(e)));
                    return;
                }
                let then = vec![(id, Ok(Reply::Bier(BierReply::Released { addr })))];
                self.bier_remove(addr, then, CommandError::Cancelled);
            }
        }
    }

    // ---- internals ----

    /// The fabric as BIER sees it: switches that are not BIER-capable (BIER-TE-capable with
    /// `te`) count as down. A host with a BFR-id that the controller has not heard from since
    /// a restart, but whose BFR record a switch still holds on a live host port, counts as
    /// there (with its remembered addresses): a restart does not take its bits away before
    /// the host speaks again.
    fn bier_view(&self, te: bool) -> Topology {
        let mut t = self.topo.clone();
        let off: Vec<Dpid> = t
            .live_switches()
            .filter(|d| !self.bier_switch_caps(*d).is_some_and(|(_, x)| x || !te))
            .collect();
        for d in off {
            t.switch_disconnected(d);
        }
        for (d, sw) in &self.bier.switches {
            if !t.is_switch_live(*d) {
                continue;
            }
            for r in sw.held.bfrs.iter().flatten() {
                let Some(mac) = BfrId::new(r.bfr_id).and_then(|id| self.bier.ids.host(id)) else {
                    continue;
                };
                let at = Endpoint::new(*d, r.port);
                if t.host(mac).is_none() && t.is_port_live(at) && t.link_at(at).is_none() {
                    let ips = self.bier.host_ips.get(&mac).cloned().unwrap_or_default();
                    let _ = t.host_seen(mac, at, ips);
                }
            }
        }
        t
    }

    /// Whether a host is a BFER now: a live port of a BIER-capable switch.
    fn bier_bfer(&self, view: &Topology, mac: MacAddr) -> bool {
        view.host(mac)
            .is_some_and(|h| view.is_switch_live(h.at.dpid) && view.is_port_live(h.at))
    }

    fn bier_assign(&mut self, id: RequestId, req: BierRequest) -> Result<(), CommandError> {
        let a = self.bier_check(&req)?;
        let Some(lease) = req.lease else {
            self.complete(id, Ok(Reply::Bier(BierReply::Assigned(Box::new(a)))));
            return Ok(());
        };
        let gaddr = self.groups.get(&req.group).map(|g| g.addr).ok_or_else(|| {
            CommandError::UnknownGroup {
                name: req.group.clone(),
            }
        })?;
        let family = if gaddr.is_ipv4() { "IPv4" } else { "IPv6" };
        let addr = self
            .pool
            .alloc(gaddr)
            .ok_or(CommandError::PoolExhausted { family })?;
        let op = self.new_op(OpKind::Bier(BierOp::Install { addr }));
        self.bier.leases.insert(
            addr,
            Lease {
                group: req.group.clone(),
                members: req.members.clone(),
                te: req.te,
                sender: req.sender,
                lease,
                lease_end: self.now + lease,
                groups: BTreeMap::new(),
                state: LeaseState::Installing {
                    op,
                    req: id,
                    reply: Box::new(a),
                },
                degraded: false,
                owner: req.owner.clone(),
            },
        );
        let scope = self.bier_scope(addr);
        self.bier_sync(Some(op), scope);
        self.settle_op(op);
        Ok(())
    }

    /// Validates an assignment and computes its header fields.
    fn bier_check(&self, req: &BierRequest) -> Result<BierAssignment, CommandError> {
        let bier = |e: BierCommandError| CommandError::Bier(e);
        if !self.bier.cfg.enabled {
            return Err(bier(BierCommandError::Disabled));
        }
        let g = self
            .groups
            .get(&req.group)
            .ok_or_else(|| CommandError::UnknownGroup {
                name: req.group.clone(),
            })?;
        if req.members.is_empty() {
            return Err(CommandError::EmptySubset);
        }
        if let Some(lease) = req.lease {
            if lease.is_zero() {
                return Err(CommandError::ZeroLease);
            }
            if lease > self.config.max_lease {
                return Err(CommandError::LeaseTooLong {
                    lease,
                    max: self.config.max_lease,
                });
            }
        }
        let outside: Vec<IpAddr> = req
            .members
            .iter()
            .filter(|m| !g.members.contains(m))
            .copied()
            .collect();
        if !outside.is_empty() {
            return Err(bier(BierCommandError::NotMembers {
                group: req.group.clone(),
                ips: outside,
            }));
        }
        if req.te && req.sender.is_none() {
            return Err(bier(BierCommandError::TeNeedsSender));
        }
        let view = self.bier_view(req.te);
        let sender = match req.sender {
            None => None,
            Some(ip) => {
                let h = view
                    .host_by_ip(ip)
                    .ok_or(bier(BierCommandError::UnknownSender { ip }))?;
                let encap = self
                    .bier_switch_caps(h.at.dpid)
                    .is_some_and(|(c, _)| c.capabilities.contains(BierCaps::ENCAP));
                if !encap || !self.bier_bfer(&view, h.mac) {
                    return Err(bier(BierCommandError::SenderNotBier { ip }));
                }
                Some(h.mac)
            }
        };
        let mut members = Vec::with_capacity(req.members.len());
        let (mut no_id, mut unreachable) = (Vec::new(), Vec::new());
        for ip in &req.members {
            let host = view.host_by_ip(*ip);
            match host.and_then(|h| self.bier.ids.get(h.mac).map(|id| (h.mac, id))) {
                None => no_id.push(*ip),
                Some((mac, bfr_id)) => {
                    if !self.bier_bfer(&view, mac) {
                        unreachable.push(*ip);
                    }
                    members.push(BierMember {
                        ip: *ip,
                        mac,
                        bfr_id,
                    });
                }
            }
        }
        if !no_id.is_empty() {
            return Err(bier(BierCommandError::NoBfrId { ips: no_id }));
        }
        if !unreachable.is_empty() {
            return Err(bier(BierCommandError::NotBierReachable {
                ips: unreachable,
            }));
        }
        let macs: Vec<MacAddr> = members.iter().map(|m| m.mac).collect();
        let bfir_id = sender.and_then(|s| self.bier.ids.get(s));
        let plane = |e: BierPlaneError| bier(BierCommandError::Plane(e));
        if req.te {
            let bsl = self.bier.cfg.te_bsl;
            let plan = TePlan::assign(&view, &self.bier.ids, bsl)
                .map_err(|e| bier(BierCommandError::TeUnavailable { why: e.to_string() }))?;
            let s = sender.ok_or(bier(BierCommandError::TeNeedsSender))?;
            let to: Vec<MacAddr> = macs.iter().copied().filter(|m| *m != s).collect();
            if to.is_empty() {
                return Err(CommandError::EmptySubset);
            }
            let (tree, bits) = plan.tree(s, &to).map_err(plane)?;
            let key = bier_plane::table_key(bsl, TE_SUB_DOMAIN, SetId(0)).map_err(plane)?;
            return Ok(BierAssignment {
                group: req.group.clone(),
                te: true,
                sub_domain: TE_SUB_DOMAIN,
                bsl,
                headers: vec![BierHeaderFields {
                    si: SetId(0),
                    bift_id: key.bift_id,
                    bitstring: bits,
                }],
                members,
                bfir_id,
                tree,
                lease: None,
            });
        }
        let bsl = self.bier.cfg.bsl;
        let by_si = self.bier.ids.bitstring_for(&macs, bsl).map_err(plane)?;
        let mut headers = Vec::with_capacity(by_si.len());
        for (si, bits) in by_si {
            let key = bier_plane::table_key(bsl, BIER_SUB_DOMAIN, si).map_err(plane)?;
            headers.push(BierHeaderFields {
                si,
                bift_id: key.bift_id,
                bitstring: bits,
            });
        }
        Ok(BierAssignment {
            group: req.group.clone(),
            te: false,
            sub_domain: BIER_SUB_DOMAIN,
            bsl,
            headers,
            members,
            bfir_id,
            tree: Vec::new(),
            lease: None,
        })
    }

    /// What a lease's install or removal recomputes: only its own flows while settling or
    /// when nothing else changed since the last sync (the tables are current), else all.
    fn bier_scope(&self, addr: IpAddr) -> Scope {
        if self.settle_until.is_some() || !self.bier.dirty {
            Scope::Lease(addr)
        } else {
            Scope::All
        }
    }

    /// An install refused by a switch: the lease goes, its flows are removed, and the command
    /// is answered with the refusal once the removal is acknowledged.
    fn bier_abort(&mut self, addr: IpAddr, err: CommandError) {
        self.bier_remove(addr, Vec::new(), err);
    }

    /// Ends a lease: its flows and groups are removed; the address is freed and `then`
    /// answered when every switch acknowledged. An installing lease's request is answered
    /// with `err`.
    fn bier_remove(
        &mut self,
        addr: IpAddr,
        mut then: Vec<(RequestId, Result<Reply, CommandError>)>,
        err: CommandError,
    ) {
        let Some(l) = self.bier.leases.remove(&addr) else {
            return;
        };
        if let LeaseState::Installing { op, req, .. } = l.state {
            self.ops.remove(&op);
            then.insert(0, (req, Err(err)));
        } else {
            self.dirty = true;
        }
        let op = self.new_op(OpKind::Bier(BierOp::Remove { addr, then }));
        let scope = self.bier_scope(addr);
        self.bier_sync(Some(op), scope);
        // In-order processing per switch: ids freed now are reused only after the deletes.
        for (_, (d, g)) in l.groups {
            self.bier.group_ids.release(d, g);
        }
        self.settle_op(op);
    }

    /// Computes what every BIER-capable switch should hold and sends each the difference,
    /// under `op` (a new sync operation when `None`).
    fn bier_sync(&mut self, op: Option<OpId>, scope: Scope) {
        let ready: Vec<(Dpid, ConnId, u8, bool)> = self
            .bier
            .switches
            .iter()
            .filter_map(|(d, s)| match &s.standing {
                Standing::Capable { caps, .. } if self.ready_conn(*d) == Some(s.conn) => Some((
                    *d,
                    s.conn,
                    caps.max_ecmp,
                    caps.capabilities.contains(BierCaps::ENCAP),
                )),
                _ => None,
            })
            .collect();
        if ready.is_empty() {
            return;
        }
        let mut wants: BTreeMap<Dpid, Want> = BTreeMap::new();
        let held = |c: &Controller, d: Dpid| c.bier.switches.get(&d).map(|s| s.held.clone());
        let view = self.bier_view(false);
        let te_view = self.bier_view(true);
        let te_plan = TePlan::assign(&te_view, &self.bier.ids, self.bier.cfg.te_bsl).ok();
        if scope == Scope::All {
            let tables = bier_plane::compute(&view, &self.bier.ids, self.bier.cfg.bsl);
            let te_tables = te_plan.as_ref().map(TePlan::tables);
            if tables.is_err() {
                self.bier.counters.compute_errors += 1;
            }
            for (d, _, ecmp, _) in &ready {
                let mut w = Want::default();
                match &tables {
                    Ok(t) => {
                        if let Some(sw) = t.switches.get(d) {
                            for (id, b) in &sw.bifts {
                                w.bifts.insert(*id, fit_ecmp(b.clone(), *ecmp));
                            }
                            w.bfrs = Some(sw.bfrs.clone());
                        }
                    }
                    Err(_) => {
                        // Keep what it has.
                        if let Some(h) = held(self, *d) {
                            w.bifts = h
                                .bifts
                                .into_iter()
                                .filter(|(_, t)| t.key.sub_domain == BIER_SUB_DOMAIN)
                                .collect();
                            w.bfrs = h.bfrs;
                        }
                    }
                }
                if let Some(Ok(te)) = &te_tables {
                    if let Some(t) = te.get(d) {
                        w.bifts.insert(t.key.bift_id, t.clone());
                    }
                }
                wants.insert(*d, w);
            }
        } else {
            // One lease: tables and other leases' flows stay as the switches have them.
            for (d, ..) in &ready {
                let h = held(self, *d).unwrap_or_default();
                let mut w = Want {
                    bifts: h.bifts,
                    bfrs: h.bfrs,
                    ingress: h.ingress,
                };
                if let Scope::Lease(a) = scope {
                    w.ingress.retain(|(_, x), _| *x != a);
                }
                wants.insert(*d, w);
            }
        }
        // BFIR flows of the leases in scope.
        let encap: BTreeSet<Dpid> = ready
            .iter()
            .filter(|(.., e)| *e)
            .map(|(d, ..)| *d)
            .collect();
        let addrs: Vec<IpAddr> = self
            .bier
            .leases
            .keys()
            .copied()
            .filter(|a| scope == Scope::All || scope == Scope::Lease(*a))
            .collect();
        for addr in addrs {
            self.bier_lease_flows(addr, &view, te_plan.as_ref(), &encap, &mut wants);
        }
        // Send the differences.
        let mut mine = None;
        let mut txn = self.bier.txn;
        let mut errors = 0;
        let mut sent = false;
        for (d, conn, ..) in ready {
            let Some(want) = wants.remove(&d) else {
                continue;
            };
            let Some(sw) = self.bier.switches.get_mut(&d) else {
                continue;
            };
            let (mut bodies, after) = sw.held.diff(&want, &mut txn, &mut errors);
            sw.held = after;
            if bodies.is_empty() {
                continue;
            }
            bodies.push(Body::BarrierRequest);
            let op = match (op, mine) {
                (Some(o), _) | (None, Some(o)) => o,
                (None, None) => {
                    let o = self.new_op(OpKind::Bier(BierOp::Sync));
                    mine = Some(o);
                    o
                }
            };
            self.bier_send(op, d, conn, bodies);
            sent = true;
        }
        self.bier.txn = txn;
        // Processed in order per switch: ids freed now are reused only after the deletes.
        for (d, g) in std::mem::take(&mut self.bier.release_later) {
            self.bier.group_ids.release(d, g);
        }
        self.bier.counters.compute_errors += errors;
        if sent {
            self.bier.counters.pushes += 1;
        }
        if let Some(o) = mine {
            self.settle_op(o);
        }
    }

    /// Adds a lease's BFIR flows to the switches' wants: one per sender on a BIER-capable
    /// edge switch that can encapsulate. A sender whose flow cannot be computed now keeps the
    /// flow it has (the lease is marked degraded).
    fn bier_lease_flows(
        &mut self,
        addr: IpAddr,
        view: &Topology,
        te_plan: Option<&TePlan>,
        encap: &BTreeSet<Dpid>,
        wants: &mut BTreeMap<Dpid, Want>,
    ) {
        let Some(l) = self.bier.leases.get(&addr) else {
            return;
        };
        let senders: Vec<MacAddr> = match l.sender {
            Some(ip) => view.host_by_ip(ip).map(|h| h.mac).into_iter().collect(),
            None => {
                let members = self
                    .groups
                    .get(&l.group)
                    .map(|g| g.members.clone())
                    .unwrap_or_default();
                let macs: BTreeSet<MacAddr> = members
                    .iter()
                    .filter_map(|ip| view.host_by_ip(*ip).map(|h| h.mac))
                    .collect();
                macs.into_iter().collect()
            }
        };
        let member_macs: Vec<MacAddr> = l
            .members
            .iter()
            .filter_map(|ip| view.host_by_ip(*ip).map(|h| h.mac))
            .collect();
        let mut degraded = member_macs.len() < l.members.len();
        let te = l.te;
        let mut used: BTreeSet<MacAddr> = BTreeSet::new();
        for s in senders {
            let Some(at) = view.host(s).map(|h| h.at) else {
                degraded = true;
                continue;
            };
            if !encap.contains(&at.dpid) || !self.bier_bfer(view, s) {
                degraded = true;
                continue;
            }
            let key = (at.port, addr);
            let reachable: Vec<MacAddr> = member_macs
                .iter()
                .copied()
                .filter(|m| self.bier_bfer(view, *m) && self.bier.ids.get(*m).is_some())
                .filter(|m| !te || (*m != s && te_plan.is_some_and(|p| p.bfer_bit(*m).is_some())))
                .collect();
            if reachable.len() + usize::from(te && member_macs.contains(&s)) < member_macs.len() {
                degraded = true;
            }
            let headers = if reachable.is_empty() {
                None
            } else if te {
                te_plan
                    .and_then(|p| p.tree(s, &reachable).ok())
                    .map(|(_, bits)| BTreeMap::from([(SetId(0), bits)]))
            } else {
                self.bier
                    .ids
                    .bitstring_for(&reachable, self.bier.cfg.bsl)
                    .ok()
            };
            let Some(headers) = headers else {
                // Nothing to send to, or no tree now: keep what the switch has.
                degraded |= !reachable.is_empty();
                if let Some(h) = self
                    .bier
                    .switches
                    .get(&at.dpid)
                    .and_then(|sw| sw.held.ingress.get(&key))
                {
                    if let Some(w) = wants.get_mut(&at.dpid) {
                        w.ingress.insert(key, h.clone());
                        used.insert(s);
                    }
                }
                continue;
            };
            let gid = if headers.len() > 1 {
                match self.bier_group_for(addr, s, at.dpid) {
                    Some(g) => g,
                    None => {
                        degraded = true;
                        continue;
                    }
                }
            } else {
                GroupId(0)
            };
            let sd = if te { TE_SUB_DOMAIN } else { BIER_SUB_DOMAIN };
            let built = bier_plane::ingress(view, &self.bier.ids, s, addr, sd, &headers, gid);
            match built
                .ok()
                .and_then(|(d, b)| parse_ingress(b).map(|i| (d, i)))
            {
                Some((d, ing)) => {
                    if ing.group.is_some() {
                        used.insert(s);
                    }
                    if let Some(w) = wants.get_mut(&d) {
                        w.ingress.insert(key, ing);
                    }
                }
                None => {
                    self.bier.counters.compute_errors += 1;
                    degraded = true;
                }
            }
        }
        if let Some(l) = self.bier.leases.get_mut(&addr) {
            l.degraded = degraded;
            // Groups of senders that no longer need one: freed after this sync's deletes.
            let unused: Vec<MacAddr> = l
                .groups
                .keys()
                .filter(|m| !used.contains(m))
                .copied()
                .collect();
            for m in unused {
                if let Some(dg) = l.groups.remove(&m) {
                    self.bier.release_later.push(dg);
                }
            }
        }
    }

    /// The BFIR group of a lease's sender on a switch (allocated on first use; a sender that
    /// moved gets a new one).
    fn bier_group_for(&mut self, addr: IpAddr, sender: MacAddr, dpid: Dpid) -> Option<GroupId> {
        let l = self.bier.leases.get_mut(&addr)?;
        match l.groups.get(&sender) {
            Some((d, g)) if *d == dpid => return Some(*g),
            Some(dg) => {
                self.bier.release_later.push(*dg);
                l.groups.remove(&sender);
            }
            None => {}
        }
        let g = self.bier.group_ids.alloc(dpid).ok()?;
        l.groups.insert(sender, (dpid, g));
        Some(g)
    }

    /// Sends one switch's part of an operation, recording every xid (an OFPT_ERROR names its
    /// request) and the last barrier.
    fn bier_send(&mut self, op: OpId, dpid: Dpid, conn: ConnId, bodies: Vec<Body>) {
        let mut last = None;
        for body in bodies {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_ranges_are_checked() {
        let c = BierConfig::default();
        assert_eq!(
            c.validate((GroupId(0x5453_0000), GroupId(0x5453_ffff))),
            Ok(())
        );
        assert!(c
            .validate((GroupId(0x4249_8000), GroupId(0x4249_9000)))
            .is_err());
        let bad = BierConfig {
            group_ids: (GroupId(5), GroupId(4)),
            ..c
        };
        assert!(bad.validate((GroupId(1), GroupId(2))).is_err());
    }

    #[test]
    fn forward_flow_carries_our_cookie_and_reads_back_as_held() {
        let f = forward_flow();
        assert_eq!(f.cookie, BIER_COOKIE);
        assert_eq!(f.priority, BIER_FORWARD_PRIORITY);
        let mut held = Held::default();
        let want = Want {
            bfrs: Some(Vec::new()),
            ..Want::default()
        };
        let (bodies, after) = held.diff(&want, &mut 0, &mut 0);
        // Missing forward flow and unknown BFR records: both sent.
        assert_eq!(bodies.len(), 2);
        assert!(after.forward);
        held = after;
        let (bodies, _) = held.diff(&want, &mut 0, &mut 0);
        assert!(bodies.is_empty(), "nothing changes: nothing is sent");
    }

    #[test]
    fn ingress_keys_come_from_in_port_and_destination() {
        let m = Match::new()
            .with(Oxm::EthType(0x0800))
            .with(Oxm::Ipv4Dst {
                value: "239.192.0.1".parse().unwrap(),
                mask: None,
            })
            .with(Oxm::InPort(PortNo(3)));
        assert_eq!(
            ingress_key(&m),
            Some((PortNo(3), "239.192.0.1".parse().unwrap()))
        );
        assert_eq!(ingress_key(&Match::new()), None);
    }
}
