//! Recomputation after a topology change: which groups' forwarding moved, and for each live
//! subset of those groups the new plan and its difference from the old one. Data only: the
//! state machine that sends the changes and waits for the switches is elsewhere.
//!
//! Guarantees: trees are recomputed from scratch on the new topology (one breadth-first search
//! per distinct root, shared by the groups rooted there), so the result never depends on the
//! history of changes, only on the topology and groups now; a group counts as changed exactly
//! when its [`GroupTree`] differs (tree, P_Y or where its members are), and only subsets of
//! changed groups are re-planned, each through the checking planner. Output maps are ordered.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::plan::{plan_subset, PlanDiff, PlanError, SubsetPlan};
use crate::topology::{Dpid, Topology};
use crate::tree::{choose_root, GroupTree, NegotiatingGroup, Tree};

/// The group trees of every group on `topo`, by group address. Groups get no tree when the
/// fabric has no live switch.
pub fn group_trees<'a>(
    topo: &Topology,
    groups: impl IntoIterator<Item = &'a NegotiatingGroup>,
) -> BTreeMap<IpAddr, GroupTree> {
    let core = topo.core_switches();
    let mut by_root: BTreeMap<Dpid, Tree> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for g in groups {
        let Some(root) = choose_root(g.addr, &core) else {
            continue;
        };
        let tree = by_root
            .entry(root)
            .or_insert_with(|| Tree::bfs(topo, root))
            .clone();
        out.insert(g.addr, GroupTree::on_tree(topo, g, tree));
    }
    out
}

/// Groups whose forwarding differs between `old` and `new` (including groups present in only
/// one of them).
pub fn changed_groups(
    old: &BTreeMap<IpAddr, GroupTree>,
    new: &BTreeMap<IpAddr, GroupTree>,
) -> BTreeSet<IpAddr> {
    let mut changed: BTreeSet<IpAddr> = old
        .iter()
        .filter(|(a, t)| new.get(a) != Some(t))
        .map(|(a, _)| *a)
        .collect();
    changed.extend(new.keys().filter(|a| !old.contains_key(a)));
    changed
}

/// A subset re-planned on the new topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replanned {
    pub plan: SubsetPlan,
    /// From the old plan to `plan` (may be empty: the group moved elsewhere).
    pub diff: PlanDiff,
}

/// Why a live subset has no new plan.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplanError {
    /// The group is gone, or no switch is live.
    #[error("group {group} has no tree on the current fabric")]
    NoTree { group: IpAddr },
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// Everything a topology change does to forwarding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recomputation<K> {
    /// Every group's tree on the new topology (keep it for the next change).
    pub trees: BTreeMap<IpAddr, GroupTree>,
    /// Groups whose forwarding changed.
    pub changed: BTreeSet<IpAddr>,
    /// The live subsets of changed groups, by the caller's key, re-planned.
    pub subsets: BTreeMap<K, Result<Replanned, ReplanError>>,
}

/// Recomputes the trees of `groups` on `topo` (the topology after the change), compares them
/// with `old_trees`, and re-plans every live subset (`subsets`: the caller's key and the plan
/// now installed) whose group changed.
pub fn recompute<'a, K: Ord + Clone>(
    topo: &Topology,
    groups: impl IntoIterator<Item = &'a NegotiatingGroup>,
    old_trees: &BTreeMap<IpAddr, GroupTree>,
    subsets: impl IntoIterator<Item = (K, &'a SubsetPlan)>,
) -> Recomputation<K> {
    let trees = group_trees(topo, groups);
    let changed = changed_groups(old_trees, &trees);
    let mut out = BTreeMap::new();
    for (key, old) in subsets {
        if !changed.contains(&old.group()) {
            continue;
        }
        let result = match trees.get(&old.group()) {
            None => Err(ReplanError::NoTree { group: old.group() }),
            Some(y) => plan_subset(topo, y, old.subset())
                .map(|plan| Replanned {
                    diff: PlanDiff::between(old, &plan),
                    plan,
                })
                .map_err(ReplanError::from),
        };
        out.insert(key, result);
    }
    Recomputation {
        trees,
        changed,
        subsets: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::Endpoint;
    use openflow::oxm::MacAddr;
    use openflow::PortNo;
    use std::net::Ipv4Addr;

    fn ep(d: u64, p: u32) -> Endpoint {
        Endpoint::new(Dpid(d), PortNo(p))
    }

    fn mac(n: u8) -> MacAddr {
        MacAddr([2, 0, 0, 0, 0, n])
    }

    /// Triangle 1-2-3 (1:1-2:2, 2:1-3:2, 3:1-1:2), host n on n:3.
    fn triangle() -> Topology {
        let mut t = Topology::new();
        for d in 1..=3 {
            t.switch_connected(Dpid(d), (1..=3).map(|p| (PortNo(p), true)));
        }
        t.add_link(ep(1, 1), ep(2, 2)).unwrap();
        t.add_link(ep(2, 1), ep(3, 2)).unwrap();
        t.add_link(ep(3, 1), ep(1, 2)).unwrap();
        for d in 1..=3u8 {
            t.host_seen(mac(d), ep(u64::from(d), 3), []).unwrap();
        }
        t
    }

    #[test]
    fn a_dead_tree_link_replans_only_affected_subsets() {
        let mut t = triangle();
        let g = NegotiatingGroup::new(
            IpAddr::V4(Ipv4Addr::new(239, 0, 0, 1)),
            [mac(1), mac(2), mac(3)],
        );
        let trees = group_trees(&t, [&g]);
        let y = &trees[&g.addr];
        let s = plan_subset(&t, y, &[mac(2), mac(3)].into()).unwrap();

        // Nothing changed: nothing to do.
        let same = recompute(&t, [&g], &trees, [(1u32, &s)]);
        assert!(same.changed.is_empty() && same.subsets.is_empty());

        // Kill a link of the tree.
        let root = y.tree().root();
        let child = y.tree().node(root).unwrap().children[0];
        t.port_status(child.peer, false).unwrap();
        let r = recompute(&t, [&g], &trees, [(1u32, &s)]);
        assert_eq!(r.changed, BTreeSet::from([g.addr]));
        let re = r.subsets[&1].as_ref().unwrap();
        assert!(!re.diff.is_empty());
        // The new plan does not use the dead port.
        assert!(!re.plan.ports().contains(Endpoint::new(root, child.port)));
        assert!(!re.plan.ports().contains(child.peer));

        // A group that is gone has no tree.
        let r = recompute(&t, [], &trees, [(1u32, &s)]);
        assert_eq!(r.subsets[&1], Err(ReplanError::NoTree { group: g.addr }));
    }
}
