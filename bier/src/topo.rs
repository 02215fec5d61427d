//! Fabric topologies and the tables computed from them: BIER BIFTs from shortest paths
//! (RFC 8279 §6.5, ECMP per §6.7) and BIER-TE bit assignments and tree BitStrings (RFC 9262).
//!
//! Pure functions the controller reuses. Links are point-to-point and cost one hop. A BIER
//! copy only ever moves to a neighbour strictly closer to every BFER in its BitString, so
//! the computed tables cannot loop, whatever ECMP choices the BFRs make.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::bift::{Bift, BiftError, Port};
use crate::bitstring::{BitString, Bsl};
use crate::id::{BfrId, BitPosition, SetId};
use crate::te::{Adjacency, TeBift};

/// A node of the fabric (a switch, or a host acting as BFER), numbered from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    fn ix(self) -> usize {
        self.0 as usize
    }
}

/// One end of a link as seen from a node: our port, the peer and the peer's port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Attachment {
    /// Our port.
    pub port: Port,
    /// The node at the other end.
    pub peer: NodeId,
    /// Its port.
    pub peer_port: Port,
}

/// What was wrong with a topology or a computation on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopoError {
    /// A node id beyond the topology.
    #[error("unknown node {0:?}")]
    UnknownNode(NodeId),
    /// A port already in use on that node.
    #[error("port {port:?} already used on node {node:?}")]
    PortInUse {
        /// The node.
        node: NodeId,
        /// The port.
        port: Port,
    },
    /// A link from a node to itself.
    #[error("self-loop on node {0:?}")]
    SelfLoop(NodeId),
    /// More bits needed than the BSL holds (BIER-TE uses one SI).
    #[error("{need} bits needed, BSL {bsl} holds fewer")]
    TooManyBits {
        /// Bits needed.
        need: usize,
        /// The BSL.
        bsl: Bsl,
    },
    /// A tree edge that is not a link of the topology.
    #[error("no link on node {node:?} port {port:?}")]
    NoSuchLink {
        /// The node.
        node: NodeId,
        /// The port.
        port: Port,
    },
    /// A node that has no local_decap bit.
    #[error("node {0:?} has no local_decap bit")]
    NotBfer(NodeId),
    /// A target the root cannot reach.
    #[error("node {0:?} unreachable")]
    Unreachable(NodeId),
    /// An SI that the BSL|SD|SI BIFT-id layout cannot carry (above 255).
    #[error("SI {0} does not fit an 8-bit BIFT-id field")]
    SetIdTooLarge(SetId),
    /// A table could not be built.
    #[error(transparent)]
    Bift(#[from] BiftError),
}

/// Nodes and point-to-point links.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Topology {
    nodes: Vec<Vec<Attachment>>,
}

impl Topology {
    /// `n` nodes, no links.
    pub fn new(n: usize) -> Topology {
        Topology {
            nodes: vec![Vec::new(); n],
        }
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Every node.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> {
        (0..self.nodes.len() as u32).map(NodeId)
    }

    /// Adds a node, returning its id.
    pub fn add_node(&mut self) -> NodeId {
        self.nodes.push(Vec::new());
        NodeId(self.nodes.len() as u32 - 1)
    }

    fn check(&self, n: NodeId) -> Result<(), TopoError> {
        if n.ix() < self.nodes.len() {
            Ok(())
        } else {
            Err(TopoError::UnknownNode(n))
        }
    }

    /// Links `a` and `b` on the next free port of each (ports count from 1).
    pub fn add_link(&mut self, a: NodeId, b: NodeId) -> Result<(Port, Port), TopoError> {
        self.check(a)?;
        self.check(b)?;
        let next = |t: &Topology, n: NodeId| {
            Port(t.attachments(n).iter().map(|x| x.port.0).max().unwrap_or(0) + 1)
        };
        let (pa, pb) = (next(self, a), next(self, b));
        self.add_link_ports(a, pa, b, pb)?;
        Ok((pa, pb))
    }

    /// Links port `pa` of `a` to port `pb` of `b`.
    pub fn add_link_ports(
        &mut self,
        a: NodeId,
        pa: Port,
        b: NodeId,
        pb: Port,
    ) -> Result<(), TopoError> {
        self.check(a)?;
        self.check(b)?;
        if a == b {
            return Err(TopoError::SelfLoop(a));
        }
        for (n, p) in [(a, pa), (b, pb)] {
            if self.peer(n, p).is_some() {
                return Err(TopoError::PortInUse { node: n, port: p });
            }
        }
        let push = |t: &mut Topology, n: NodeId, att: Attachment| {
            if let Some(v) = t.nodes.get_mut(n.ix()) {
                v.push(att);
            }
        };
        push(
            self,
            a,
            Attachment {
                port: pa,
                peer: b,
                peer_port: pb,
            },
        );
        push(
            self,
            b,
            Attachment {
                port: pb,
                peer: a,
                peer_port: pa,
            },
        );
        Ok(())
    }

    /// The links of a node (empty for an unknown node).
    pub fn attachments(&self, n: NodeId) -> &[Attachment] {
        self.nodes.get(n.ix()).map_or(&[], Vec::as_slice)
    }

    /// The node and port at the other end of a node's port.
    pub fn peer(&self, n: NodeId, p: Port) -> Option<(NodeId, Port)> {
        self.attachments(n)
            .iter()
            .find(|a| a.port == p)
            .map(|a| (a.peer, a.peer_port))
    }

    /// Every link once, as (a, port of a, b, port of b) with `a < b`, in node then port order.
    pub fn links(&self) -> Vec<(NodeId, Port, NodeId, Port)> {
        let mut v = Vec::new();
        for a in self.nodes() {
            for att in self.attachments(a) {
                if (a, att.port) < (att.peer, att.peer_port) {
                    v.push((a, att.port, att.peer, att.peer_port));
                }
            }
        }
        v
    }

    /// Hop counts from `from` (`None`: unreachable).
    pub fn distances(&self, from: NodeId) -> Vec<Option<u32>> {
        let mut d = vec![None; self.nodes.len()];
        let mut q = VecDeque::new();
        if let Some(x) = d.get_mut(from.ix()) {
            *x = Some(0);
            q.push_back(from);
        }
        while let Some(n) = q.pop_front() {
            let dn = d.get(n.ix()).copied().flatten().unwrap_or(0);
            for att in self.attachments(n) {
                if let Some(x @ None) = d.get_mut(att.peer.ix()) {
                    *x = Some(dn + 1);
                    q.push_back(att.peer);
                }
            }
        }
        d
    }

    /// A shortest-path tree from `root` to `targets`, as the (node, out port) edges it uses,
    /// each once. Deterministic: the first parent found breadth-first, lowest port first.
    pub fn shortest_path_tree(
        &self,
        root: NodeId,
        targets: &[NodeId],
    ) -> Result<Vec<(NodeId, Port)>, TopoError> {
        self.check(root)?;
        let mut parent: Vec<Option<(NodeId, Port)>> = vec![None; self.nodes.len()];
        let mut seen = vec![false; self.nodes.len()];
        let mut q = VecDeque::from([root]);
        if let Some(s) = seen.get_mut(root.ix()) {
            *s = true;
        }
        while let Some(n) = q.pop_front() {
            let mut atts = self.attachments(n).to_vec();
            atts.sort_by_key(|a| a.port);
            for att in atts {
                if let Some(s @ false) = seen.get_mut(att.peer.ix()) {
                    *s = true;
                    if let Some(p) = parent.get_mut(att.peer.ix()) {
                        *p = Some((n, att.port));
                    }
                    q.push_back(att.peer);
                }
            }
        }
        let mut edges = BTreeSet::new();
        for &t in targets {
            self.check(t)?;
            let mut cur = t;
            while cur != root {
                let Some((p, port)) = parent.get(cur.ix()).copied().flatten() else {
                    return Err(TopoError::Unreachable(t));
                };
                if !edges.insert((p, port)) {
                    break;
                }
                cur = p;
            }
        }
        Ok(edges.into_iter().collect())
    }
}

/// The BIER tables of one node: one BIFT per SI in use.
pub type NodeBifts = BTreeMap<SetId, Bift>;

/// Computes every node's BIFTs (RFC 8279 §6.5) from shortest paths: for a BFER `t`, a node's
/// next hops are all neighbours one hop closer to `t` (ECMP, RFC 8279 §6.7); `t`'s own node
/// delivers locally. Several BFR-ids may sit on one node (hosts behind one switch). Every node
/// gets a table for every SI that has a BFR-id; unreachable BFERs get no entry.
pub fn compute_bifts(
    topo: &Topology,
    bfr_ids: &BTreeMap<BfrId, NodeId>,
    bsl: Bsl,
) -> Result<Vec<NodeBifts>, TopoError> {
    let n = topo.node_count();
    // BFER node -> its BFR-ids, so each BFS runs once per node.
    let mut by_node: BTreeMap<NodeId, Vec<BfrId>> = BTreeMap::new();
    for (&id, &node) in bfr_ids {
        topo.check(node)?;
        by_node.entry(node).or_default().push(id);
    }
    let sis: BTreeSet<SetId> = bfr_ids.keys().map(|id| id.locate(bsl).0).collect();
    // Per node, per SI: local positions and next hops per position.
    type Work = BTreeMap<SetId, (Vec<BitPosition>, Vec<(BitPosition, Vec<Port>)>)>;
    let mut work: Vec<Work> = (0..n)
        .map(|_| sis.iter().map(|&si| (si, Default::default())).collect())
        .collect();
    for (&target, ids) in &by_node {
        let dist = topo.distances(target);
        for node in topo.nodes() {
            let Some(dn) = dist.get(node.ix()).copied().flatten() else {
                continue;
            };
            let hops: Vec<Port> = if node == target {
                Vec::new()
            } else {
                let mut h: Vec<Port> = topo
                    .attachments(node)
                    .iter()
                    .filter(|a| dist.get(a.peer.ix()).copied().flatten() == Some(dn - 1))
                    .map(|a| a.port)
                    .collect();
                h.sort();
                h
            };
            let Some(w) = work.get_mut(node.ix()) else {
                continue;
            };
            for id in ids {
                let (si, bp) = id.locate(bsl);
                let Some((local, next)) = w.get_mut(&si) else {
                    continue;
                };
                if node == target {
                    local.push(bp);
                } else {
                    next.push((bp, hops.clone()));
                }
            }
        }
    }
    Ok(work
        .into_iter()
        .map(|w| {
            w.into_iter()
                .map(|(si, (local, next))| (si, Bift::from_next_hops(si, bsl, local, next)))
                .collect()
        })
        .collect())
}

/// A BIER-TE bit assignment (RFC 9262 §5): one bit per link, shared by both directions
/// (forward_connected at each end, so the sender clears it and the copy cannot come back),
/// and one local_decap bit per BFER node. One SI, so everything must fit the BSL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeAssignment {
    bsl: Bsl,
    link_bits: BTreeMap<(NodeId, Port), BitPosition>,
    decap_bits: BTreeMap<NodeId, BitPosition>,
}

impl TeAssignment {
    /// Assigns bits: links first (in [`Topology::links`] order), then the BFER nodes.
    pub fn assign(topo: &Topology, bfers: &[NodeId], bsl: Bsl) -> Result<TeAssignment, TopoError> {
        let links = topo.links();
        let bfers: BTreeSet<NodeId> = bfers.iter().copied().collect();
        let need = links.len() + bfers.len();
        if need > bsl.bits() {
            return Err(TopoError::TooManyBits { need, bsl });
        }
        let mut next = (1..=bsl.bits() as u16).filter_map(BitPosition::new);
        let mut a = TeAssignment {
            bsl,
            link_bits: BTreeMap::new(),
            decap_bits: BTreeMap::new(),
        };
        for (x, px, y, py) in links {
            let bp = next.next().ok_or(TopoError::TooManyBits { need, bsl })?;
            a.link_bits.insert((x, px), bp);
            a.link_bits.insert((y, py), bp);
        }
        for n in bfers {
            topo.check(n)?;
            let bp = next.next().ok_or(TopoError::TooManyBits { need, bsl })?;
            a.decap_bits.insert(n, bp);
        }
        Ok(a)
    }

    /// The BSL.
    pub fn bsl(&self) -> Bsl {
        self.bsl
    }

    /// The bit of the link on a node's port.
    pub fn link_bit(&self, node: NodeId, port: Port) -> Option<BitPosition> {
        self.link_bits.get(&(node, port)).copied()
    }

    /// The local_decap bit of a node.
    pub fn decap_bit(&self, node: NodeId) -> Option<BitPosition> {
        self.decap_bits.get(&node).copied()
    }

    /// Every node's BIER-TE table (SI 0).
    pub fn bifts(&self, topo: &Topology) -> Result<Vec<TeBift>, TopoError> {
        let mut v: Vec<TeBift> = topo
            .nodes()
            .map(|_| TeBift::new(SetId(0), self.bsl))
            .collect();
        for (&(node, port), &bp) in &self.link_bits {
            if let Some(t) = v.get_mut(node.ix()) {
                t.set(bp, vec![Adjacency::ForwardConnected { port, dnc: false }])?;
            }
        }
        for (&node, &bp) in &self.decap_bits {
            if let Some(t) = v.get_mut(node.ix()) {
                t.set(bp, vec![Adjacency::LocalDecap])?;
            }
        }
        Ok(v)
    }

    /// The BitString of a tree: its edges' link bits and its BFERs' local_decap bits.
    pub fn tree_bitstring(
        &self,
        edges: &[(NodeId, Port)],
        bfers: &[NodeId],
    ) -> Result<BitString, TopoError> {
        let mut s = BitString::zero(self.bsl);
        for &(node, port) in edges {
            let bp = self
                .link_bit(node, port)
                .ok_or(TopoError::NoSuchLink { node, port })?;
            s.set(bp);
        }
        for &n in bfers {
            s.set(self.decap_bit(n).ok_or(TopoError::NotBfer(n))?);
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: u32) -> Topology {
        let mut t = Topology::new(n as usize);
        for i in 1..n {
            t.add_link(NodeId(i - 1), NodeId(i)).unwrap();
        }
        t
    }

    #[test]
    fn ports_and_links() {
        let mut t = line(3);
        assert_eq!(t.peer(NodeId(1), Port(1)), Some((NodeId(0), Port(1))));
        assert_eq!(t.peer(NodeId(1), Port(2)), Some((NodeId(2), Port(1))));
        assert_eq!(t.links().len(), 2);
        assert_eq!(
            t.add_link_ports(NodeId(0), Port(1), NodeId(2), Port(9)),
            Err(TopoError::PortInUse {
                node: NodeId(0),
                port: Port(1)
            })
        );
        assert_eq!(
            t.add_link(NodeId(0), NodeId(0)),
            Err(TopoError::SelfLoop(NodeId(0)))
        );
        assert!(t.add_link(NodeId(0), NodeId(5)).is_err());
        assert_eq!(t.distances(NodeId(0)), vec![Some(0), Some(1), Some(2)]);
    }

    #[test]
    fn bifts_on_a_line() {
        let t = line(3);
        let ids: BTreeMap<_, _> = [(1, 0), (2, 2), (65, 2)]
            .map(|(i, n)| (BfrId::new(i).unwrap(), NodeId(n)))
            .into();
        let b = compute_bifts(&t, &ids, Bsl::B64).unwrap();
        assert_eq!(b.len(), 3);
        let mid = &b[1][&SetId(0)];
        let bp = |v| BitPosition::new(v).unwrap();
        assert_eq!(mid.entry(bp(1)).map(|e| e.0).collect::<Vec<_>>(), [Port(1)]);
        assert_eq!(mid.entry(bp(2)).map(|e| e.0).collect::<Vec<_>>(), [Port(2)]);
        assert!(b[2][&SetId(1)].local().test(bp(1)));
        assert!(b[0][&SetId(0)].local().test(bp(1)));
    }

    #[test]
    fn tree_and_te_bits() {
        let mut t = line(3);
        t.add_link(NodeId(0), NodeId(2)).unwrap();
        let tree = t.shortest_path_tree(NodeId(0), &[NodeId(2)]).unwrap();
        assert_eq!(tree, vec![(NodeId(0), Port(2))]);
        let a = TeAssignment::assign(&t, &[NodeId(2)], Bsl::B64).unwrap();
        let s = a.tree_bitstring(&tree, &[NodeId(2)]).unwrap();
        assert_eq!(s.count_ones(), 2);
        assert_eq!(
            a.tree_bitstring(&[(NodeId(1), Port(7))], &[]),
            Err(TopoError::NoSuchLink {
                node: NodeId(1),
                port: Port(7)
            })
        );
        assert!(TeAssignment::assign(&line(70), &[], Bsl::B64).is_err());
        let mut two = Topology::new(2);
        two.add_node();
        assert_eq!(
            two.shortest_path_tree(NodeId(0), &[NodeId(2)]),
            Err(TopoError::Unreachable(NodeId(2)))
        );
    }
}
