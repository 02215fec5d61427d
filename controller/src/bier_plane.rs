//! The controller as BIER control plane (RFC 8279, RFC 9262), as pure functions over the
//! fabric model: BFR-ids for receiving hosts ([`BfrIds`]), the BIFTs of every switch computed
//! from the live topology ([`compute`], [`BierTables`]), the OpenFlow messages that install
//! them (`drafts/bier-openflow.md`: BIFT_MOD transactions, BFR_MOD, the `bier_forward` flow),
//! the diff after a topology change ([`BierTables::diff`]), the BFIR flow of a sender
//! ([`ingress`]) and BIER-TE ([`TePlan`]).
//!
//! Model: every BFER is a host (by MAC) with a BFR-id; its local delivery is at its switch's
//! host port with decapsulation (BFR_MOD, draft §8). Switches are the BFRs; links are the live
//! inter-switch links, each one hop. BIER uses sub-domain [`BIER_SUB_DOMAIN`], BIER-TE
//! [`TE_SUB_DOMAIN`]; the BIFT-id is BSL << 16 | sub-domain << 8 | SI
//! (draft-ietf-bier-non-mpls-bift-encoding), the layout switch-sim also uses.
//!
//! Guarantees: deterministic (no hash-map order reaches an output, the same inputs give the
//! same messages, transaction ids come from the caller's counter); every BIFT_MOD part fits
//! one OpenFlow message (`BiftTable::bift_mods`); [`BierTables::diff`] names exactly the
//! switches whose tables changed. Bodies are returned without xids.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use bier::{BfrId, BitPosition, BitString, Bsl, SetId};
use openflow::ext::bier::{
    Adjacency, BfrCommand, BfrMod, BierAction, BierEncap, BierError, BierMessage, BiftCommand,
    BiftSelector, BiftTable, Entropy, Hop, LocalBfr, TableEntries, TableKey,
};
use openflow::msg::{FlowMod, GroupMod};
use openflow::oxm::MacAddr;
use openflow::{Action, Body, Bucket, GroupId, GroupType, Instruction, Match, Oxm, PortNo};
use serde::{Deserialize, Serialize};

use crate::rules::{ETH_TYPE_IPV4, ETH_TYPE_IPV6, SUBSET_TABLE};
use crate::topology::{Dpid, Endpoint, Topology};

/// The sub-domain of shortest-path BIER.
pub const BIER_SUB_DOMAIN: u8 = 0;
/// The sub-domain of BIER-TE.
pub const TE_SUB_DOMAIN: u8 = 1;
/// RFC 8296 non-MPLS BIER EtherType.
pub const ETH_TYPE_BIER: u16 = 0xab37;
/// Priority of `eth_type=0xAB37 → bier_forward` (below the subset flows, which match IP).
pub const BIER_FORWARD_PRIORITY: u16 = 0x8800;
/// Priority of a BFIR flow (above the subset flows: a BIER-marked group is BIER's).
pub const BFIR_PRIORITY: u16 = 0x9100;
/// TTL written by `bier_encap`: more hops than any fabric here has.
pub const BIER_TTL: u8 = 64;

/// What was wrong with a BIER control-plane request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BierPlaneError {
    /// Every BFR-id 1..=65535 is assigned.
    #[error("no free BFR-id (all 65535 assigned)")]
    Exhausted,
    /// Members without a BFR-id (named).
    #[error("members without a BFR-id: {}", names(.0))]
    NoBfrId(Vec<MacAddr>),
    /// An empty member set.
    #[error("empty member set")]
    NoMembers,
    /// A host the topology does not know (or whose switch is down).
    #[error("host {0} is not attached to a live switch")]
    UnknownHost(MacAddr),
    /// A member that the sender's switch cannot reach.
    #[error("member {0} is unreachable from the sender")]
    Unreachable(MacAddr),
    /// More BIER-TE bits needed than the BSL holds.
    #[error("BIER-TE needs {need} bits, BSL {bsl} holds fewer")]
    TooManyBits {
        /// Bits needed.
        need: usize,
        /// The BSL.
        bsl: Bsl,
    },
    /// An SI above 255 (does not fit the BIFT-id layout).
    #[error("SI {0} does not fit the BIFT-id layout")]
    SetIdTooLarge(u16),
    /// A snapshot with a duplicate or zero BFR-id.
    #[error("bad BFR-id snapshot: {0}")]
    BadSnapshot(String),
    /// The `bier` crate refused a computation.
    #[error("BIER computation: {0}")]
    Topo(#[from] bier::TopoError),
    /// The message codec refused a table.
    #[error("BIFT encoding: {0}")]
    Encode(#[from] BierError),
}

fn names(v: &[MacAddr]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Stable BFR-ids of BFER hosts: an id stays with its host until released and is never given
/// to another host while assigned; a new host gets the lowest free id. Serialised (for the
/// snapshot) as a list of (MAC, id) in MAC order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<([u8; 6], u16)>", into = "Vec<([u8; 6], u16)>")]
pub struct BfrIds {
    by_mac: BTreeMap<MacAddr, BfrId>,
    by_id: BTreeMap<BfrId, MacAddr>,
}

impl BfrIds {
    /// No ids.
    pub fn new() -> Self {
        Self::default()
    }

    /// The host's id, assigning the lowest free one if it has none.
    pub fn assign(&mut self, mac: MacAddr) -> Result<BfrId, BierPlaneError> {
        if let Some(id) = self.by_mac.get(&mac) {
            return Ok(*id);
        }
        // Lowest free: walk the assigned ids in order until a gap.
        let mut want: u16 = 1;
        for id in self.by_id.keys() {
            if id.get() != want {
                break;
            }
            want = want.checked_add(1).ok_or(BierPlaneError::Exhausted)?;
        }
        let id = BfrId::new(want).ok_or(BierPlaneError::Exhausted)?;
        self.by_mac.insert(mac, id);
        self.by_id.insert(id, mac);
        Ok(id)
    }

    /// Releases the host's id (free for reuse afterwards); returns it.
    pub fn release(&mut self, mac: MacAddr) -> Option<BfrId> {
        let id = self.by_mac.remove(&mac)?;
        self.by_id.remove(&id);
        Some(id)
    }

    /// The host's id.
    pub fn get(&self, mac: MacAddr) -> Option<BfrId> {
        self.by_mac.get(&mac).copied()
    }

    /// The host of an id.
    pub fn host(&self, id: BfrId) -> Option<MacAddr> {
        self.by_id.get(&id).copied()
    }

    /// Every (host, id), in id order.
    pub fn iter(&self) -> impl Iterator<Item = (MacAddr, BfrId)> + '_ {
        self.by_id.iter().map(|(i, m)| (*m, *i))
    }

    /// Number of assigned ids.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether none is assigned.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The (SI, BitString) of a member set at a BSL: one BitString per SI that has members
    /// (RFC 8279 §3). Members without an id are refused, all of them named.
    pub fn bitstring_for(
        &self,
        members: &[MacAddr],
        bsl: Bsl,
    ) -> Result<BTreeMap<SetId, BitString>, BierPlaneError> {
        if members.is_empty() {
            return Err(BierPlaneError::NoMembers);
        }
        let missing: BTreeSet<MacAddr> = members
            .iter()
            .filter(|m| self.get(**m).is_none())
            .copied()
            .collect();
        if !missing.is_empty() {
            return Err(BierPlaneError::NoBfrId(missing.into_iter().collect()));
        }
        let mut out: BTreeMap<SetId, BitString> = BTreeMap::new();
        for id in members.iter().filter_map(|m| self.get(*m)) {
            let (si, bp) = id.locate(bsl);
            out.entry(si)
                .or_insert_with(|| BitString::zero(bsl))
                .set(bp);
        }
        Ok(out)
    }
}

impl From<BfrIds> for Vec<([u8; 6], u16)> {
    fn from(b: BfrIds) -> Self {
        b.by_mac.iter().map(|(m, i)| (m.0, i.get())).collect()
    }
}

impl TryFrom<Vec<([u8; 6], u16)>> for BfrIds {
    type Error = BierPlaneError;
    fn try_from(v: Vec<([u8; 6], u16)>) -> Result<Self, Self::Error> {
        let mut b = BfrIds::new();
        for (mac, id) in v {
            let mac = MacAddr(mac);
            let id = BfrId::new(id)
                .ok_or_else(|| BierPlaneError::BadSnapshot(format!("BFR-id 0 for {mac}")))?;
            if b.by_id.contains_key(&id) || b.by_mac.contains_key(&mac) {
                return Err(BierPlaneError::BadSnapshot(format!(
                    "{mac} / BFR-id {id} listed twice"
                )));
            }
            b.by_mac.insert(mac, id);
            b.by_id.insert(id, mac);
        }
        Ok(b)
    }
}

/// The wire BSL of a `bier` BSL (same codes, RFC 8296 §2.1.2).
pub fn wire_bsl(b: Bsl) -> openflow::ext::bier::Bsl {
    openflow::ext::bier::Bsl::from_code(b.code()).unwrap_or(openflow::ext::bier::Bsl::B64)
}

/// The key of the table for (BSL, sub-domain, SI).
pub fn table_key(bsl: Bsl, sub_domain: u8, si: SetId) -> Result<TableKey, BierPlaneError> {
    let id = bier::BiftId::from_bsl_sd_si(bsl, sub_domain, si)
        .ok_or(BierPlaneError::SetIdTooLarge(si.0))?;
    Ok(TableKey {
        bift_id: id.get(),
        sub_domain,
        bsl: wire_bsl(bsl),
        si: si.0,
    })
}

/// The wire form of a computed BIER table: local bits LOCAL_DECAP, the others FORWARD with
/// their ECMP list of (port, F-BM).
pub fn bier_wire_table(key: TableKey, t: &bier::Bift) -> BiftTable {
    let mut m = BTreeMap::new();
    for bp in t.local().ones() {
        m.insert(bp.get(), Hop::LocalDecap);
    }
    for bp in t.positions() {
        let hops = t
            .entry(bp)
            .map(|(port, fbm)| (PortNo(port.0), fbm.to_bytes()))
            .collect();
        m.insert(bp.get(), Hop::Forward(hops));
    }
    BiftTable {
        key,
        entries: TableEntries::Bier(m),
    }
}

/// The live switch graph as a `bier` topology: node i is the i-th live switch in dpid order.
#[derive(Clone, Debug)]
struct Graph {
    topo: bier::Topology,
    dpids: Vec<Dpid>,
    index: BTreeMap<Dpid, bier::NodeId>,
}

impl Graph {
    fn of(t: &Topology) -> Result<Graph, BierPlaneError> {
        let dpids: Vec<Dpid> = t
            .live_switches()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let index: BTreeMap<Dpid, bier::NodeId> = dpids
            .iter()
            .enumerate()
            .map(|(i, d)| (*d, bier::NodeId(i as u32)))
            .collect();
        let mut topo = bier::Topology::new(dpids.len());
        for l in t.links() {
            if !t.is_link_live(l) {
                continue;
            }
            let (Some(a), Some(b)) = (index.get(&l.a.dpid), index.get(&l.b.dpid)) else {
                continue;
            };
            topo.add_link_ports(*a, bier::Port(l.a.port.0), *b, bier::Port(l.b.port.0))?;
        }
        Ok(Graph { topo, dpids, index })
    }

    fn dpid(&self, n: bier::NodeId) -> Option<Dpid> {
        self.dpids.get(n.0 as usize).copied()
    }
}

/// Where a host with a BFR-id delivers: its live edge port on a live switch.
fn bfer_at(t: &Topology, mac: MacAddr) -> Option<Endpoint> {
    let h = t.host(mac)?;
    (t.is_switch_live(h.at.dpid) && t.is_port_live(h.at)).then_some(h.at)
}

/// The BIER state of one switch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SwitchBier {
    /// Its BIFTs (sub-domain [`BIER_SUB_DOMAIN`]), by BIFT-id.
    pub bifts: BTreeMap<u32, BiftTable>,
    /// Its local BFERs (BFR-id → host port, decapsulated), in BFR-id order.
    pub bfrs: Vec<LocalBfr>,
}

/// The BIER tables of every live switch, computed by [`compute`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BierTables {
    /// The BSL of every table.
    pub bsl: Option<Bsl>,
    /// Per live switch.
    pub switches: BTreeMap<Dpid, SwitchBier>,
}

/// Computes every live switch's BIFTs (one per SI that has a BFR-id) and local BFERs from the
/// topology: shortest paths over live links, every equal-cost next hop listed (ECMP, RFC 8279
/// §6.7), hosts with a BFR-id delivered locally at their switch. Hosts absent from the
/// topology keep their id but get no entry.
pub fn compute(t: &Topology, ids: &BfrIds, bsl: Bsl) -> Result<BierTables, BierPlaneError> {
    let g = Graph::of(t)?;
    let mut at: BTreeMap<BfrId, bier::NodeId> = BTreeMap::new();
    let mut bfrs: BTreeMap<Dpid, Vec<LocalBfr>> = BTreeMap::new();
    for (mac, id) in ids.iter() {
        let Some(e) = bfer_at(t, mac) else { continue };
        let Some(n) = g.index.get(&e.dpid) else {
            continue;
        };
        at.insert(id, *n);
        bfrs.entry(e.dpid).or_default().push(LocalBfr {
            bfr_id: id.get(),
            decap: true,
            port: e.port,
        });
    }
    let bifts = bier::compute_bifts(&g.topo, &at, bsl)?;
    let mut out = BierTables {
        bsl: Some(bsl),
        switches: BTreeMap::new(),
    };
    for (i, tables) in bifts.iter().enumerate() {
        let Some(d) = g.dpid(bier::NodeId(i as u32)) else {
            continue;
        };
        let mut sw = SwitchBier {
            bfrs: bfrs.remove(&d).unwrap_or_default(),
            ..SwitchBier::default()
        };
        for (si, b) in tables {
            let key = table_key(bsl, BIER_SUB_DOMAIN, *si)?;
            sw.bifts.insert(key.bift_id, bier_wire_table(key, b));
        }
        out.switches.insert(d, sw);
    }
    Ok(out)
}

/// `eth_type=0xAB37 → apply(bier_forward)` (draft §10.3): every BIER switch forwards BIER
/// packets by its BIFT.
pub fn forward_flow() -> Body {
    Body::FlowMod(FlowMod::add(
        SUBSET_TABLE,
        BIER_FORWARD_PRIORITY,
        Match::new().with(Oxm::EthType(ETH_TYPE_BIER)),
        vec![Instruction::ApplyActions(vec![
            BierAction::Forward.to_action()
        ])],
    ))
}

fn bier_body(m: impl Into<BierMessage>) -> Body {
    Body::Experimenter(m.into().to_experimenter())
}

fn bift_bodies(t: &BiftTable, txn: &mut u32) -> Result<Vec<Body>, BierPlaneError> {
    *txn = txn.wrapping_add(1);
    Ok(t.bift_mods(*txn, BiftCommand::Replace)?
        .into_iter()
        .map(bier_body)
        .collect())
}

fn bfr_body(bfrs: &[LocalBfr]) -> Body {
    bier_body(BfrMod {
        command: BfrCommand::Replace,
        sub_domain: BIER_SUB_DOMAIN,
        bfrs: bfrs.to_vec(),
    })
}

impl BierTables {
    /// Everything one switch needs from scratch: the forward flow, BFR_MOD REPLACE, one
    /// BIFT_MOD REPLACE transaction per table (transaction ids from `txn`), then a barrier.
    /// Empty for a switch without tables.
    pub fn install(&self, dpid: Dpid, txn: &mut u32) -> Result<Vec<Body>, BierPlaneError> {
        let Some(sw) = self.switches.get(&dpid) else {
            return Ok(Vec::new());
        };
        let mut v = vec![forward_flow(), bfr_body(&sw.bfrs)];
        for t in sw.bifts.values() {
            v.extend(bift_bodies(t, txn)?);
        }
        v.push(Body::BarrierRequest);
        Ok(v)
    }

    /// Messages for every switch, in dpid order.
    pub fn install_all(&self, txn: &mut u32) -> Result<BTreeMap<Dpid, Vec<Body>>, BierPlaneError> {
        let mut m = BTreeMap::new();
        for d in self.switches.keys() {
            m.insert(*d, self.install(*d, txn)?);
        }
        Ok(m)
    }

    /// What turns the switches from `old` into `self`: for exactly the switches whose tables
    /// or BFERs changed, BIFT_MOD REPLACE per changed table, BIFT_CLEAR per vanished one,
    /// BFR_MOD REPLACE if its BFERs changed, then a barrier. A switch new in `self` gets
    /// [`install`](Self::install); a switch gone from `self` gets nothing (it is down).
    pub fn diff(
        &self,
        old: &BierTables,
        txn: &mut u32,
    ) -> Result<BTreeMap<Dpid, Vec<Body>>, BierPlaneError> {
        let mut out = BTreeMap::new();
        for (d, new) in &self.switches {
            let Some(was) = old.switches.get(d) else {
                out.insert(*d, self.install(*d, txn)?);
                continue;
            };
            let mut v = Vec::new();
            if new.bfrs != was.bfrs {
                v.push(bfr_body(&new.bfrs));
            }
            for (id, t) in &new.bifts {
                if was.bifts.get(id) != Some(t) {
                    v.extend(bift_bodies(t, txn)?);
                }
            }
            for id in was.bifts.keys() {
                if !new.bifts.contains_key(id) {
                    v.push(bier_body(BierMessage::BiftClear(BiftSelector::table(*id))));
                }
            }
            if !v.is_empty() {
                v.push(Body::BarrierRequest);
                out.insert(*d, v);
            }
        }
        Ok(out)
    }
}

/// A BFIR's flow (draft §10.1): packets from the sender's host port to `group` are
/// encapsulated, one BIER packet per (SI, BitString) in `headers` (RFC 8279 §6.1), and
/// forwarded. One header: a flow `bier_encap, bier_forward`; several: the flow points to ALL
/// group `group_id` with one bucket `bier_encap(SI), bier_forward` per SI (bier_forward must
/// end its action list, draft §10.3). Returns (switch, bodies: group add first, then the flow,
/// then a barrier).
#[allow(clippy::too_many_arguments)]
pub fn ingress(
    t: &Topology,
    ids: &BfrIds,
    sender: MacAddr,
    group: IpAddr,
    sub_domain: u8,
    headers: &BTreeMap<SetId, BitString>,
    group_id: GroupId,
) -> Result<(Dpid, Vec<Body>), BierPlaneError> {
    let at = bfer_at(t, sender).ok_or(BierPlaneError::UnknownHost(sender))?;
    let bfir_id = ids.get(sender).map_or(0, BfrId::get);
    let mut buckets = Vec::with_capacity(headers.len());
    for (si, bits) in headers {
        let key = table_key(bits.bsl(), sub_domain, *si)?;
        buckets.push(vec![
            BierAction::Encap(BierEncap {
                bift_id: key.bift_id,
                sub_domain,
                bsl: key.bsl,
                si: si.0,
                bfir_id,
                ttl: BIER_TTL,
                tc: 0,
                copy_dscp: false,
                // Flows spread over the ECMP choices by their 5-tuple (RFC 8279 §6.7).
                entropy: Entropy::FlowHash { seed: 0 },
                bitstring: bits.to_bytes(),
            })
            .to_action(),
            BierAction::Forward.to_action(),
        ]);
    }
    if buckets.is_empty() {
        return Err(BierPlaneError::NoMembers);
    }
    let m = Match::new().with(Oxm::InPort(at.port));
    let m = match group {
        IpAddr::V4(a) => m.with(Oxm::EthType(ETH_TYPE_IPV4)).with(Oxm::Ipv4Dst {
            value: a,
            mask: None,
        }),
        IpAddr::V6(a) => m.with(Oxm::EthType(ETH_TYPE_IPV6)).with(Oxm::Ipv6Dst {
            value: a,
            mask: None,
        }),
    };
    let mut v = Vec::new();
    let actions: Vec<Action> = if buckets.len() == 1 {
        buckets.into_iter().next().unwrap_or_default()
    } else {
        v.push(Body::GroupMod(GroupMod::add(
            GroupType::All,
            group_id,
            buckets.into_iter().map(Bucket::new).collect(),
        )));
        v.push(Body::BarrierRequest);
        vec![Action::Group(group_id)]
    };
    v.push(Body::FlowMod(FlowMod::add(
        SUBSET_TABLE,
        BFIR_PRIORITY,
        m,
        vec![Instruction::ApplyActions(actions)],
    )));
    v.push(Body::BarrierRequest);
    Ok((at.dpid, v))
}

/// A BIER-TE bit assignment over the live fabric (RFC 9262 §5): one bit per live
/// inter-switch link (both ends forward_connected, from the `bier` crate's [`bier::TeAssignment`]),
/// then one local_decap bit per BFER host with a BFR-id, in BFR-id order, delivering to its host
/// port. One SI (0) in sub-domain [`TE_SUB_DOMAIN`].
#[derive(Clone, Debug)]
pub struct TePlan {
    graph: Graph,
    links: bier::TeAssignment,
    bfers: BTreeMap<MacAddr, (Endpoint, BitPosition)>,
    bsl: Bsl,
}

impl TePlan {
    /// Assigns the bits; fails if links plus BFERs exceed the BSL.
    pub fn assign(t: &Topology, ids: &BfrIds, bsl: Bsl) -> Result<TePlan, BierPlaneError> {
        let graph = Graph::of(t)?;
        let n_links = graph.topo.links().len();
        let hosts: Vec<(MacAddr, Endpoint)> = ids
            .iter()
            .filter_map(|(m, _)| bfer_at(t, m).map(|e| (m, e)))
            .filter(|(_, e)| graph.index.contains_key(&e.dpid))
            .collect();
        let need = n_links + hosts.len();
        if need > bsl.bits() {
            return Err(BierPlaneError::TooManyBits { need, bsl });
        }
        let links = bier::TeAssignment::assign(&graph.topo, &[], bsl)?;
        let mut bfers = BTreeMap::new();
        for (i, (m, e)) in hosts.into_iter().enumerate() {
            let bp = u16::try_from(n_links + i + 1)
                .ok()
                .and_then(BitPosition::new)
                .ok_or(BierPlaneError::TooManyBits { need, bsl })?;
            bfers.insert(m, (e, bp));
        }
        Ok(TePlan {
            graph,
            links,
            bfers,
            bsl,
        })
    }

    /// The BSL.
    pub fn bsl(&self) -> Bsl {
        self.bsl
    }

    /// The bit of the link on a switch port.
    pub fn link_bit(&self, e: Endpoint) -> Option<BitPosition> {
        let n = self.graph.index.get(&e.dpid)?;
        self.links.link_bit(*n, bier::Port(e.port.0))
    }

    /// The local_decap bit of a BFER host.
    pub fn bfer_bit(&self, mac: MacAddr) -> Option<BitPosition> {
        self.bfers.get(&mac).map(|(_, b)| *b)
    }

    /// Every live switch's BIER-TE table (SI 0).
    pub fn tables(&self) -> Result<BTreeMap<Dpid, BiftTable>, BierPlaneError> {
        let key = table_key(self.bsl, TE_SUB_DOMAIN, SetId(0))?;
        let mut out: BTreeMap<Dpid, BTreeMap<u16, Vec<Adjacency>>> = self
            .graph
            .dpids
            .iter()
            .map(|d| (*d, BTreeMap::new()))
            .collect();
        for (x, px, y, py) in self.graph.topo.links() {
            for (n, p) in [(x, px), (y, py)] {
                let (Some(d), Some(bp)) = (self.graph.dpid(n), self.links.link_bit(n, p)) else {
                    continue;
                };
                if let Some(m) = out.get_mut(&d) {
                    m.insert(
                        bp.get(),
                        vec![Adjacency::ForwardConnected {
                            port: PortNo(p.0),
                            dnc: false,
                        }],
                    );
                }
            }
        }
        for (e, bp) in self.bfers.values() {
            if let Some(m) = out.get_mut(&e.dpid) {
                m.insert(bp.get(), vec![Adjacency::LocalDecap { port: e.port }]);
            }
        }
        Ok(out
            .into_iter()
            .map(|(d, m)| {
                (
                    d,
                    BiftTable {
                        key,
                        entries: TableEntries::BierTe(m),
                    },
                )
            })
            .collect())
    }

    /// Messages installing every switch's TE table (forward flow, BIFT_MOD REPLACE, barrier).
    pub fn install_all(&self, txn: &mut u32) -> Result<BTreeMap<Dpid, Vec<Body>>, BierPlaneError> {
        let mut out = BTreeMap::new();
        for (d, t) in self.tables()? {
            let mut v = vec![forward_flow()];
            v.extend(bift_bodies(&t, txn)?);
            v.push(Body::BarrierRequest);
            out.insert(d, v);
        }
        Ok(out)
    }

    /// The tree from the sender's switch to the members' switches (shortest paths, lowest port
    /// first) as (switch, out port) edges, and its BIER-TE BitString: the tree's link bits
    /// and the members' local_decap bits.
    pub fn tree(
        &self,
        sender: MacAddr,
        members: &[MacAddr],
    ) -> Result<(Vec<Endpoint>, BitString), BierPlaneError> {
        if members.is_empty() {
            return Err(BierPlaneError::NoMembers);
        }
        let missing: BTreeSet<MacAddr> = members
            .iter()
            .filter(|m| !self.bfers.contains_key(m))
            .copied()
            .collect();
        if !missing.is_empty() {
            return Err(BierPlaneError::NoBfrId(missing.into_iter().collect()));
        }
        let root_at = self
            .bfers
            .get(&sender)
            .map(|(e, _)| e.dpid)
            .ok_or(BierPlaneError::UnknownHost(sender))?;
        let root = *self
            .graph
            .index
            .get(&root_at)
            .ok_or(BierPlaneError::UnknownHost(sender))?;
        let mut targets = Vec::new();
        let dist = self.graph.topo.distances(root);
        for m in members {
            let Some((e, _)) = self.bfers.get(m) else {
                continue;
            };
            let Some(n) = self.graph.index.get(&e.dpid) else {
                continue;
            };
            if dist.get(n.0 as usize).copied().flatten().is_none() {
                return Err(BierPlaneError::Unreachable(*m));
            }
            targets.push(*n);
        }
        let edges = self.graph.topo.shortest_path_tree(root, &targets)?;
        let mut bits = self.links.tree_bitstring(&edges, &[])?;
        for m in members {
            if let Some((_, bp)) = self.bfers.get(m) {
                bits.set(*bp);
            }
        }
        let edges = edges
            .into_iter()
            .filter_map(|(n, p)| self.graph.dpid(n).map(|d| Endpoint::new(d, PortNo(p.0))))
            .collect();
        Ok((edges, bits))
    }
}
