//! Link failure: the recomputed trees avoid the dead link and still deliver exactly; the
//! rule update moves the installation to the new plan.

// A panic in a test is a failed assertion.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use controller::fabrics::arb::{fabric, scenario_on, Scenario};
use controller::recompute::{group_trees, recompute, ReplanError};
use controller::rules::{GroupIds, Installation, Rule};
use controller::walk::walk;
use controller::{plan_subset, Link, PlanError, Topology};
use openflow::oxm::MacAddr;
use proptest::prelude::*;
use proptest::sample::Index;

/// Whether every live switch is reachable from every other over live links.
fn connected(topo: &Topology) -> bool {
    let live: Vec<_> = topo.live_switches().collect();
    let Some(first) = live.first() else {
        return true;
    };
    controller::Tree::bfs(topo, *first).switches().len() == live.len()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn a_link_failure_is_routed_around(
        sc in fabric().prop_flat_map(scenario_on),
        pick in any::<Index>(),
        by_side in any::<bool>(),
    ) {
        let Scenario { mut topo, group, subset, sender } = sc;
        let trees = group_trees(&topo, [&group]);
        let y = &trees[&group.addr];
        let plan = plan_subset(&topo, y, &subset).unwrap();
        let mut ids = GroupIds::new();
        let rule = Rule::new("239.9.9.9".parse().unwrap(), 0x5eed, Duration::from_secs(10))
            .unwrap();
        let inst = Installation::new(&plan, rule, &mut ids).unwrap();

        // Fail a link of Y's tree (if the tree has one).
        let tree_links: Vec<Link> = topo
            .links()
            .filter(|l| y.tree().is_tree_port(l.a) && y.tree().is_tree_port(l.b))
            .collect();
        prop_assume!(!tree_links.is_empty());
        let dead = tree_links[pick.index(tree_links.len())];
        if by_side {
            topo.link_side(dead.b, false).unwrap();
        } else {
            topo.port_status(dead.a, false).unwrap();
        }
        prop_assert!(!topo.is_link_live(dead));

        let r = recompute(&topo, [&group], &trees, [("s", &plan)]);
        prop_assert!(r.changed.contains(&group.addr));
        let y2 = &r.trees[&group.addr];
        prop_assert!(!y2.tree().is_tree_port(dead.a) && !y2.tree().is_tree_port(dead.b));

        match &r.subsets["s"] {
            Ok(re) => {
                prop_assert!(!re.plan.ports().contains(dead.a) && !re.plan.ports().contains(dead.b));
                let want: BTreeSet<MacAddr> =
                    subset.iter().copied().filter(|m| *m != sender).collect();
                let w = walk(&topo, re.plan.ports(), sender);
                if topo.host(sender).is_some_and(|h| y2.tree().contains(h.at.dpid)) {
                    prop_assert!(w.is_exact(&want), "{:?}", w);
                }
                // The rule update reaches exactly the new plan.
                let up = inst.update(&re.diff, Duration::from_millis(4200), &mut ids).unwrap();
                let now: Vec<_> = up
                    .installation
                    .switches()
                    .iter()
                    .map(|(d, s)| (*d, s.buckets.clone()))
                    .collect();
                let want_sw: Vec<_> = re.plan.switches().map(|s| (s.dpid, s.buckets)).collect();
                prop_assert_eq!(now, want_sw);
                for (d, g) in &up.released {
                    prop_assert!(re.diff.remove.contains(d));
                    ids.release(*d, *g);
                }
            }
            Err(ReplanError::Plan(PlanError::Unreachable { .. })) => {
                // Only when the failure cut the fabric in two.
                prop_assert!(!connected(&topo));
            }
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }
}
