//! Exact delivery of subset plans on random fabrics: a packet from any host reaches every
//! subset member but the sender exactly once, nobody else, without a loop, and never through
//! a port outside the group's own port sets.

// A panic in a test is a failed assertion.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use controller::fabrics::arb::{scenario, Scenario};
use controller::tree::port_sets;
use controller::walk::walk;
use controller::{plan_subset, Dpid, GroupTree, Tree};
use openflow::oxm::MacAddr;
use proptest::prelude::*;

/// Tree edges (named by their lower switch) on the paths from `from` to each of `to`: the
/// least set of links a copy must cross.
fn steiner_edges(tree: &Tree, from: Dpid, to: impl IntoIterator<Item = Dpid>) -> BTreeSet<Dpid> {
    let up = |d: Dpid| tree.node(d).and_then(|n| n.parent).map(|e| e.peer.dpid);
    let depth = |d: Dpid| tree.node(d).map_or(0, |n| n.depth);
    let mut edges = BTreeSet::new();
    for t in to {
        let (mut a, mut b) = (from, t);
        while a != b {
            if depth(a) >= depth(b) {
                edges.insert(a);
                a = up(a).unwrap();
            } else {
                edges.insert(b);
                b = up(b).unwrap();
            }
        }
    }
    edges
}

fn expected(subset: &BTreeSet<MacAddr>, sender: MacAddr) -> BTreeSet<MacAddr> {
    subset.iter().copied().filter(|m| *m != sender).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_sender_reaches_exactly_the_subset(sc in scenario()) {
        let Scenario { topo, group, subset, sender } = sc;
        let y = GroupTree::compute(&topo, &group).unwrap();
        let plan = plan_subset(&topo, &y, &subset).unwrap();

        // The security property, checked here independently of the planner.
        prop_assert!(plan.ports().first_outside(y.ports()).is_none());

        // The drawn sender, then every host of the fabric.
        let senders = std::iter::once(sender).chain(topo.hosts().map(|h| h.mac));
        for s in senders {
            let w = walk(&topo, plan.ports(), s);
            let want = expected(&subset, s);
            prop_assert!(w.is_exact(&want), "sender {s}: {w:?}, want {want:?}");
            // No wasted copy: links crossed = the least tree that joins sender and receivers.
            let at = |m: &MacAddr| topo.host(*m).unwrap().at.dpid;
            let least = steiner_edges(y.tree(), at(&s), want.iter().map(at));
            let crossed = w.sent.iter().filter(|e| topo.link_at(**e).is_some()).count();
            prop_assert_eq!(crossed, least.len(), "sender {}: {:?}", s, w);
            for e in &w.sent {
                prop_assert!(y.ports().contains(*e), "copy out of {e}, outside P_Y");
            }
            // The group's own plan (S = every member) delivers exactly too.
            let wy = walk(&topo, y.ports(), s);
            prop_assert!(wy.is_exact(&expected(&group.members, s)));
        }
    }

    #[test]
    fn trees_span_the_fabric_and_are_deterministic(sc in scenario()) {
        let Scenario { topo, group, .. } = sc;
        let y = GroupTree::compute(&topo, &group).unwrap();
        let tree = y.tree();
        let live: Vec<_> = topo.live_switches().collect();
        prop_assert_eq!(tree.switches().len(), live.len());
        prop_assert_eq!(tree.edge_count(), live.len() - 1);
        prop_assert!(topo.core_switches().contains(&tree.root()));
        // Children are one hop deeper than their parent: shortest paths.
        for d in tree.switches() {
            let n = tree.node(*d).unwrap();
            for c in &n.children {
                prop_assert_eq!(tree.node(c.peer.dpid).unwrap().depth, n.depth + 1);
            }
        }
        // Same input, same output.
        prop_assert_eq!(&Tree::bfs(&topo, tree.root()), tree);
        let again = GroupTree::compute(&topo.clone(), &group.clone());
        prop_assert_eq!(again.as_ref(), Some(&y));
    }

    #[test]
    fn subset_ports_grow_with_the_subset(sc in scenario()) {
        // S ⊆ S' ⇒ P_S ⊆ P_S' (the inclusion the planner checks, for any pair of sets).
        let Scenario { topo, group, subset, .. } = sc;
        let y = GroupTree::compute(&topo, &group).unwrap();
        let (small, _) = port_sets(&topo, y.tree(), &subset);
        let (big, _) = port_sets(&topo, y.tree(), &group.members);
        prop_assert!(small.first_outside(&big).is_none());
        prop_assert_eq!(&big, y.ports());
    }
}
