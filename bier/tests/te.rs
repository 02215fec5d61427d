//! BIER-TE on random fabrics: the BitString computed for a tree delivers to exactly the chosen
//! BFERs, once each, over exactly the tree's adjacencies, once each.

// Test code: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use bier::sim::Fabric;
use bier::{BitString, Bsl, DropReason, NodeId, Port, TeAssignment, Topology};
use common::{fabric, Spec};
use proptest::prelude::*;

fn smallest_bsl(topo: &Topology, bfers: usize) -> Bsl {
    let need = topo.links().len() + bfers;
    Bsl::ALL
        .into_iter()
        .find(|b| b.bits() >= need)
        .expect("test fabrics fit 4096 bits")
}

#[derive(Clone, Debug)]
struct Case {
    spec: Spec,
    root: NodeId,
    chosen: Vec<NodeId>,
    entropy: u32,
}

fn case() -> impl Strategy<Value = Case> {
    fabric(40).prop_flat_map(|spec| {
        let n = spec.topo.node_count();
        let edge = spec.edge.clone();
        let k = edge.len();
        (
            Just(spec),
            0..n,
            prop::sample::subsequence(edge, 1..=k),
            any::<u32>(),
        )
            .prop_map(|(spec, root, chosen, entropy)| Case {
                spec,
                root: NodeId(root as u32),
                chosen,
                entropy,
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn tree_bitstring_delivers_exactly(c in case()) {
        let topo = &c.spec.topo;
        let bsl = smallest_bsl(topo, c.spec.edge.len());
        let a = TeAssignment::assign(topo, &c.spec.edge, bsl).unwrap();
        let tree = topo.shortest_path_tree(c.root, &c.chosen).unwrap();
        let bits = a.tree_bitstring(&tree, &c.chosen).unwrap();
        let mut f = Fabric::bier_te(topo.clone(), &a).unwrap();
        let w = f.send_te(c.root, bits, 255, c.entropy);

        prop_assert_eq!(w.loops, 0);
        prop_assert!(!w.budget_exhausted);
        let want: BTreeMap<NodeId, usize> = c.chosen.iter().map(|&n| (n, 1)).collect();
        prop_assert_eq!(w.te_decaps(), want);
        let want: BTreeMap<(NodeId, Port), usize> = tree.iter().map(|&e| (e, 1)).collect();
        prop_assert_eq!(w.link_counts(), want);
        prop_assert_eq!(w.counters.total_drops(), 0);
    }

    #[test]
    fn te_ttl_cuts_deep_branches(c in case(), ttl in 1u8..4) {
        let topo = &c.spec.topo;
        let bsl = smallest_bsl(topo, c.spec.edge.len());
        let a = TeAssignment::assign(topo, &c.spec.edge, bsl).unwrap();
        let tree = topo.shortest_path_tree(c.root, &c.chosen).unwrap();
        let bits = a.tree_bitstring(&tree, &c.chosen).unwrap();
        let mut f = Fabric::bier_te(topo.clone(), &a).unwrap();
        let w = f.send_te(c.root, bits, ttl, c.entropy);
        let dist = topo.distances(c.root);
        let near: BTreeMap<NodeId, usize> = c
            .chosen
            .iter()
            .filter(|n| dist[n.0 as usize].unwrap() < u32::from(ttl))
            .map(|&n| (n, 1))
            .collect();
        let cut = near.len() < c.chosen.len();
        prop_assert_eq!(w.te_decaps(), near);
        prop_assert_eq!(w.counters.drops(DropReason::TtlExpired) > 0, cut);
    }
}

#[test]
fn dnc_keeps_a_bit_for_the_next_hop() {
    // Line 0 - 1 - 2. Bit 1 is "forward_connected to the right, DNC" on both 0 and 1, so one
    // bit steers two hops (RFC 9262 §4.3); bit 2 is local_decap on node 2.
    use bier::{Adjacency, BitPosition, Table, TeBift};
    let mut t = Topology::new(3);
    t.add_link(NodeId(0), NodeId(1)).unwrap();
    t.add_link(NodeId(1), NodeId(2)).unwrap();
    let a = TeAssignment::assign(&t, &[], Bsl::B64).unwrap();
    let mut f = Fabric::bier_te(t, &a).unwrap();
    let id = bier::sim::te_bift_id(Bsl::B64);
    let bp = |v| BitPosition::new(v).unwrap();
    let right = |port| Adjacency::ForwardConnected {
        port: Port(port),
        dnc: true,
    };
    for (node, port) in [(0, 1), (1, 2)] {
        let mut tb = TeBift::new(bier::SetId(0), Bsl::B64);
        tb.set(bp(1), vec![right(port)]).unwrap();
        f.bfr_mut(NodeId(node)).unwrap().insert(id, Table::Te(tb));
    }
    let mut last = TeBift::new(bier::SetId(0), Bsl::B64);
    last.set(bp(2), vec![Adjacency::LocalDecap]).unwrap();
    f.bfr_mut(NodeId(2)).unwrap().insert(id, Table::Te(last));
    let w = f.send_te(
        NodeId(0),
        BitString::from_positions(Bsl::B64, [bp(1), bp(2)]),
        9,
        0,
    );
    assert_eq!(w.te_decaps(), BTreeMap::from([(NodeId(2), 1)]));
    assert_eq!(
        w.link_uses,
        vec![(NodeId(0), Port(1)), (NodeId(1), Port(2))]
    );
}

#[test]
fn forward_routed_reaches_a_remote_bfr() {
    use bier::{Adjacency, BitPosition, Table, TeBift};
    let t = Topology::new(3);
    let a = TeAssignment::assign(&t, &[NodeId(2)], Bsl::B64).unwrap();
    let mut f = Fabric::bier_te(t, &a).unwrap();
    let decap = a.decap_bit(NodeId(2)).unwrap();
    let hop = BitPosition::new(10).unwrap();
    let mut tb = TeBift::new(bier::SetId(0), Bsl::B64);
    tb.set(hop, vec![Adjacency::ForwardRouted { to: 2 }])
        .unwrap();
    let id = bier::sim::te_bift_id(Bsl::B64);
    f.bfr_mut(NodeId(0)).unwrap().insert(id, Table::Te(tb));
    let w = f.send_te(
        NodeId(0),
        BitString::from_positions(Bsl::B64, [hop, decap]),
        9,
        0,
    );
    assert_eq!(w.te_decaps(), BTreeMap::from([(NodeId(2), 1)]));
    assert!(w.link_uses.is_empty());
}
