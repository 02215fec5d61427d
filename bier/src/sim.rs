//! A fabric simulator: one [`Bfr`] per node, packets walked hop by hop over a [`Topology`].
//!
//! A [`Walk`] records every delivery, every link a copy crossed, and every copy that came back
//! to a node already on its own path (a loop, which is dropped, so a walk always ends); a hop
//! budget stops runaway walks too. Tests here and in other crates state intent with it:
//! "each BFER in the BitString gets one copy, nothing else does, no loop".

use std::collections::{BTreeMap, VecDeque};

use crate::bfr::{Bfr, Counters, Delivery, Output, Table};
use crate::bift::Port;
use crate::bitstring::{BitString, Bsl};
use crate::header::{BierRepr, Proto};
use crate::id::{BfrId, BiftId, SetId};
use crate::topo::{compute_bifts, NodeId, TeAssignment, TopoError, Topology};

/// Sub-domain the simulator uses for BIER tables.
pub const SD_BIER: u8 = 0;
/// Sub-domain the simulator uses for BIER-TE tables (RFC 9262 §1: TE in its own SD).
pub const SD_TE: u8 = 1;

/// The payload the simulator sends: the start of an IPv4 header.
pub const PAYLOAD: [u8; 8] = [0x45, 0x00, 0x00, 0x14, 0x12, 0x34, 0x40, 0x00];

/// What happened to the packets of one send.
#[derive(Clone, Debug, Default)]
pub struct Walk {
    /// Every local delivery, with the node it happened at.
    pub deliveries: Vec<(NodeId, Delivery)>,
    /// Every link crossing, as (sending node, its port).
    pub link_uses: Vec<(NodeId, Port)>,
    /// Copies that reached a node already on their path.
    pub loops: usize,
    /// Copies sent out of a port with no link.
    pub dangling: usize,
    /// The hop budget ran out before the walk ended.
    pub budget_exhausted: bool,
    /// What the BFRs counted during the walk.
    pub counters: Counters,
}

impl Walk {
    /// Per BFR-id, the nodes it was delivered at (one entry per copy).
    pub fn bfer_copies(&self) -> BTreeMap<BfrId, Vec<NodeId>> {
        let mut m: BTreeMap<BfrId, Vec<NodeId>> = BTreeMap::new();
        for (n, d) in &self.deliveries {
            for id in d.bfr_ids() {
                m.entry(id).or_default().push(*n);
            }
        }
        m
    }

    /// Per node, BIER-TE local_decap deliveries.
    pub fn te_decaps(&self) -> BTreeMap<NodeId, usize> {
        let mut m = BTreeMap::new();
        for (n, d) in &self.deliveries {
            if d.te {
                *m.entry(*n).or_default() += 1;
            }
        }
        m
    }

    /// Per (node, port), how many copies crossed.
    pub fn link_counts(&self) -> BTreeMap<(NodeId, Port), usize> {
        let mut m = BTreeMap::new();
        for &l in &self.link_uses {
            *m.entry(l).or_default() += 1;
        }
        m
    }
}

/// A fabric of BFRs.
#[derive(Clone, Debug)]
pub struct Fabric {
    topo: Topology,
    bfrs: Vec<Bfr>,
    bsl: Bsl,
    hop_budget: usize,
}

impl Fabric {
    /// Copies processed per walk before it is cut short.
    pub const DEFAULT_HOP_BUDGET: usize = 1 << 20;

    /// A BIER fabric: tables from [`compute_bifts`], BIFT-ids in the BSL|SD|SI layout with
    /// sub-domain [`SD_BIER`].
    pub fn bier(
        topo: Topology,
        bfr_ids: &BTreeMap<BfrId, NodeId>,
        bsl: Bsl,
    ) -> Result<Fabric, TopoError> {
        let bifts = compute_bifts(&topo, bfr_ids, bsl)?;
        let mut bfrs = Vec::with_capacity(bifts.len());
        for node in bifts {
            let mut b = Bfr::new();
            for (si, t) in node {
                b.insert(bier_bift_id(bsl, si)?, Table::Bier(t));
            }
            bfrs.push(b);
        }
        Ok(Fabric {
            topo,
            bfrs,
            bsl,
            hop_budget: Self::DEFAULT_HOP_BUDGET,
        })
    }

    /// A BIER-TE fabric from a bit assignment, sub-domain [`SD_TE`], SI 0.
    pub fn bier_te(topo: Topology, a: &TeAssignment) -> Result<Fabric, TopoError> {
        let id = te_bift_id(a.bsl());
        let bfrs = a
            .bifts(&topo)?
            .into_iter()
            .map(|t| {
                let mut b = Bfr::new();
                b.insert(id, Table::Te(t));
                b
            })
            .collect();
        Ok(Fabric {
            topo,
            bfrs,
            bsl: a.bsl(),
            hop_budget: Self::DEFAULT_HOP_BUDGET,
        })
    }

    /// Sets the hop budget.
    pub fn set_hop_budget(&mut self, n: usize) {
        self.hop_budget = n;
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topo
    }

    /// A node's BFR.
    pub fn bfr(&self, n: NodeId) -> Option<&Bfr> {
        self.bfrs.get(n.0 as usize)
    }

    /// A node's BFR, mutable (to install other tables).
    pub fn bfr_mut(&mut self, n: NodeId) -> Option<&mut Bfr> {
        self.bfrs.get_mut(n.0 as usize)
    }

    /// The sum of every BFR's counters.
    pub fn counters(&self) -> Counters {
        let mut c = Counters::default();
        for b in &self.bfrs {
            c.add(b.counters());
        }
        c
    }

    /// BIER packets for a set of BFR-ids: one per SI (RFC 8279 §6.1), with [`PAYLOAD`].
    pub fn bier_packets(
        &self,
        dests: &[BfrId],
        ttl: u8,
        entropy: u32,
    ) -> Result<Vec<Vec<u8>>, TopoError> {
        let mut per_si: BTreeMap<SetId, BitString> = BTreeMap::new();
        for id in dests {
            let (si, bp) = id.locate(self.bsl);
            per_si
                .entry(si)
                .or_insert_with(|| BitString::zero(self.bsl))
                .set(bp);
        }
        per_si
            .into_iter()
            .map(|(si, bits)| {
                let r = BierRepr {
                    ttl,
                    entropy: entropy & 0xf_ffff,
                    proto: Proto::Ipv4,
                    ..BierRepr::new(bier_bift_id(self.bsl, si)?, bits)
                };
                Ok(r.to_packet(&PAYLOAD))
            })
            .collect()
    }

    /// Sends from `from` to `dests` (BIER) and walks every copy.
    pub fn send(
        &mut self,
        from: NodeId,
        dests: &[BfrId],
        ttl: u8,
        entropy: u32,
    ) -> Result<Walk, TopoError> {
        let packets = self.bier_packets(dests, ttl, entropy)?;
        Ok(self.walk(packets.into_iter().map(|p| (from, p))))
    }

    /// Sends a BIER-TE BitString from `from` and walks every copy.
    pub fn send_te(&mut self, from: NodeId, bits: BitString, ttl: u8, entropy: u32) -> Walk {
        let r = BierRepr {
            ttl,
            entropy: entropy & 0xf_ffff,
            ..BierRepr::new(te_bift_id(bits.bsl()), bits)
        };
        self.walk([(from, r.to_packet(&PAYLOAD))])
    }

    /// Injects raw packets at nodes and walks every copy.
    pub fn walk(&mut self, start: impl IntoIterator<Item = (NodeId, Vec<u8>)>) -> Walk {
        let before = self.counters();
        let mut w = Walk::default();
        let mut q: VecDeque<(NodeId, Vec<u8>, Vec<NodeId>)> =
            start.into_iter().map(|(n, p)| (n, p, vec![n])).collect();
        let mut budget = self.hop_budget;
        while let Some((node, packet, path)) = q.pop_front() {
            if budget == 0 {
                w.budget_exhausted = true;
                break;
            }
            budget -= 1;
            let Some(bfr) = self.bfrs.get_mut(node.0 as usize) else {
                continue;
            };
            for o in bfr.handle_packet(&packet) {
                let (next, packet) = match o {
                    Output::Deliver(d) => {
                        w.deliveries.push((node, d));
                        continue;
                    }
                    Output::Forward { port, packet } => match self.topo.peer(node, port) {
                        Some((m, _)) => {
                            w.link_uses.push((node, port));
                            (m, packet)
                        }
                        None => {
                            w.dangling += 1;
                            continue;
                        }
                    },
                    Output::Routed { to, packet } => (NodeId(to), packet),
                };
                if path.contains(&next) {
                    w.loops += 1;
                    continue;
                }
                let mut p = path.clone();
                p.push(next);
                q.push_back((next, packet, p));
            }
        }
        w.counters = self.counters().since(&before);
        w
    }
}

/// The BIFT-id the simulator gives a BIER table.
pub fn bier_bift_id(bsl: Bsl, si: SetId) -> Result<BiftId, TopoError> {
    BiftId::from_bsl_sd_si(bsl, SD_BIER, si).ok_or(TopoError::SetIdTooLarge(si))
}

/// The BIFT-id the simulator gives a BIER-TE table.
pub fn te_bift_id(bsl: Bsl) -> BiftId {
    BiftId::masked(u32::from(bsl.code()) << 16 | u32::from(SD_TE) << 8)
}
