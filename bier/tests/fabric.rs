//! BIER on random fabrics: every BFER in the BitString gets exactly one copy, at its own node;
//! no other BFER gets any; no copy loops; a TTL too small for a path drops, and is counted.

// Test code: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use bier::sim::Fabric;
use bier::{BfrId, BitPosition, Bsl, DropReason, NodeId, Port, Table, Topology};
use common::{fabric, leaf_spine, Spec};
use proptest::prelude::*;
use proptest::sample::Index;

#[derive(Clone, Debug)]
struct Send {
    ingress: NodeId,
    dests: Vec<BfrId>,
    unknown: Vec<BfrId>,
    entropy: u32,
    ttl: u8,
}

#[derive(Clone, Debug)]
struct Case {
    spec: Spec,
    bsl: Bsl,
    ids: BTreeMap<BfrId, NodeId>,
    sends: Vec<Send>,
}

/// BFR-ids up to 400 on random edge nodes (several per node possible), so BSL 64 needs up
/// to 7 SIs.
fn case(spec: impl Strategy<Value = Spec>) -> impl Strategy<Value = Case> {
    (
        spec,
        prop::sample::select(vec![Bsl::B64, Bsl::B64, Bsl::B128, Bsl::B256]),
    )
        .prop_flat_map(|(spec, bsl)| {
            let edge = spec.edge.clone();
            let ids =
                prop::collection::vec((any::<Index>(), 1u16..=400), 1..=150).prop_map(move |v| {
                    v.into_iter()
                        .map(|(i, id)| (BfrId::new(id).unwrap(), *i.get(&edge)))
                        .collect::<BTreeMap<_, _>>()
                });
            (Just(spec), Just(bsl), ids)
        })
        .prop_flat_map(|(spec, bsl, ids)| {
            let n = spec.topo.node_count();
            let known: Vec<BfrId> = ids.keys().copied().collect();
            let known_set: BTreeSet<BfrId> = known.iter().copied().collect();
            let send = (
                0..n,
                prop::sample::subsequence(known.clone(), 0..=known.len()),
                prop::collection::vec(1u16..=500, 0..3),
                any::<u32>(),
                prop_oneof![Just(255u8), 1u8..=6],
            )
                .prop_map(move |(i, dests, unknown, entropy, ttl)| Send {
                    ingress: NodeId(i as u32),
                    dests,
                    unknown: unknown
                        .into_iter()
                        .filter_map(BfrId::new)
                        .filter(|id| !known_set.contains(id))
                        .collect(),
                    entropy: entropy & 0xf_ffff,
                    ttl,
                });
            (
                Just(spec),
                Just(bsl),
                Just(ids),
                prop::collection::vec(send, 1..=4),
            )
        })
        .prop_map(|(spec, bsl, ids, sends)| Case {
            spec,
            bsl,
            ids,
            sends,
        })
}

fn check(c: &Case) -> Result<(), TestCaseError> {
    let mut f = Fabric::bier(c.spec.topo.clone(), &c.ids, c.bsl).unwrap();
    for s in &c.sends {
        let dist = c.spec.topo.distances(s.ingress);
        let mut all = s.dests.clone();
        all.extend(&s.unknown);
        let w = f.send(s.ingress, &all, s.ttl, s.entropy).unwrap();
        prop_assert_eq!(w.loops, 0);
        prop_assert_eq!(w.dangling, 0);
        prop_assert!(!w.budget_exhausted);

        // Copies follow shortest paths from the ingress, and none leaves with TTL 0.
        for &(node, port) in &w.link_uses {
            let (peer, _) = c.spec.topo.peer(node, port).unwrap();
            let d = dist[peer.0 as usize].unwrap();
            prop_assert_eq!(d, dist[node.0 as usize].unwrap() + 1);
            prop_assert!(d < u32::from(s.ttl));
        }

        let mut expect: BTreeMap<BfrId, Vec<NodeId>> = BTreeMap::new();
        let mut too_far = false;
        for id in &s.dests {
            let node = c.ids[id];
            let d = dist[node.0 as usize].expect("fabrics are connected");
            if d < u32::from(s.ttl) {
                expect.insert(*id, vec![node]);
            } else {
                too_far = true;
            }
        }
        prop_assert_eq!(w.bfer_copies(), expect, "{} {:?}", c.spec.kind, s);

        let k = &w.counters;
        prop_assert_eq!(k.drops(DropReason::TtlExpired) > 0, too_far);
        let unknown = k.drops(DropReason::UnknownBfrId) + k.drops(DropReason::UnknownBift);
        prop_assert_eq!(unknown > 0, !s.unknown.is_empty());
        prop_assert_eq!(
            k.total_drops(),
            k.drops(DropReason::TtlExpired) + unknown,
            "{:?}",
            k.nonzero_drops().collect::<Vec<_>>()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn exactly_once_on_random_fabrics(c in case(fabric(120))) {
        check(&c)?;
    }

    #[test]
    fn exactly_once_leaf_spine_ecmp(c in case(leaf_spine(6, 10, 12))) {
        check(&c)?;
    }
}

fn ids(pairs: impl IntoIterator<Item = (u16, u32)>) -> BTreeMap<BfrId, NodeId> {
    pairs
        .into_iter()
        .map(|(i, n)| (BfrId::new(i).unwrap(), NodeId(n)))
        .collect()
}

#[test]
fn many_sets_with_bsl_64() {
    // A line of 200 nodes, BFR-id i on node i - 1: four SIs at BSL 64.
    let mut t = Topology::new(200);
    for i in 1..200 {
        t.add_link(NodeId(i - 1), NodeId(i)).unwrap();
    }
    let m = ids((1..=200).map(|i| (i, u32::from(i) - 1)));
    let mut f = Fabric::bier(t, &m, Bsl::B64).unwrap();
    assert_eq!(f.bfr(NodeId(0)).unwrap().tables().count(), 4);
    let all: Vec<BfrId> = m.keys().copied().collect();
    let w = f.send(NodeId(100), &all, 255, 0).unwrap();
    let copies = w.bfer_copies();
    assert_eq!(copies.len(), 200);
    assert!(copies.iter().all(|(id, at)| at == &[m[id]]));
    assert_eq!(w.loops, 0);
    assert_eq!(w.counters.total_drops(), 0);
}

#[test]
fn ecmp_spreads_over_spines() {
    // 4 spines (0..4), 2 leaves (4, 5), one host on each leaf (6, 7).
    let mut t = Topology::new(6);
    for l in 4..6 {
        for s in 0..4 {
            t.add_link(NodeId(l), NodeId(s)).unwrap();
        }
    }
    let h0 = t.add_node();
    let h1 = t.add_node();
    t.add_link(NodeId(4), h0).unwrap();
    t.add_link(NodeId(5), h1).unwrap();
    let m = ids([(1, h0.0), (2, h1.0)]);
    let mut f = Fabric::bier(t, &m, Bsl::B256).unwrap();
    let mut spines = BTreeSet::new();
    for e in 0..16 {
        let w = f.send(h0, &[BfrId::new(2).unwrap()], 64, e << 16).unwrap();
        assert_eq!(w.bfer_copies().len(), 1);
        let (leaf, port) = w.link_uses[1];
        assert_eq!(leaf, NodeId(4));
        spines.insert(port);
    }
    assert_eq!(spines.len(), 4);
}

#[test]
fn ttl_boundary_on_a_line() {
    let mut t = Topology::new(4);
    for i in 1..4 {
        t.add_link(NodeId(i - 1), NodeId(i)).unwrap();
    }
    let m = ids([(1, 0), (2, 1), (3, 2), (4, 3)]);
    let mut f = Fabric::bier(t, &m, Bsl::B64).unwrap();
    let all: Vec<BfrId> = m.keys().copied().collect();
    // TTL 3 reaches distance 2, not 3.
    let w = f.send(NodeId(0), &all, 3, 0).unwrap();
    let got: Vec<u16> = w.bfer_copies().keys().map(|b| b.get()).collect();
    assert_eq!(got, vec![1, 2, 3]);
    assert_eq!(w.counters.drops(DropReason::TtlExpired), 1);
    // TTL 0 drops at the ingress, nothing delivered.
    let w = f.send(NodeId(0), &all, 0, 0).unwrap();
    assert!(w.deliveries.is_empty());
    assert_eq!(w.counters.drops(DropReason::TtlExpired), 1);
}

#[test]
fn the_walk_catches_a_loop() {
    // Two nodes whose tables send bit 2 to each other: a broken BIFT the simulator must expose.
    let mut t = Topology::new(2);
    t.add_link(NodeId(0), NodeId(1)).unwrap();
    let m = ids([(1, 0)]);
    let mut f = Fabric::bier(t, &m, Bsl::B64).unwrap();
    let bp2 = BitPosition::new(2).unwrap();
    let id = bier::sim::bier_bift_id(Bsl::B64, bier::SetId(0)).unwrap();
    for n in 0..2 {
        let bad = bier::Bift::from_next_hops(bier::SetId(0), Bsl::B64, [], [(bp2, vec![Port(1)])]);
        f.bfr_mut(NodeId(n)).unwrap().insert(id, Table::Bier(bad));
    }
    let w = f
        .send(NodeId(0), &[BfrId::new(2).unwrap()], 255, 0)
        .unwrap();
    assert_eq!(w.loops, 1);
    assert!(w.deliveries.is_empty());
}
