//! The subset planner: for a subset S of Y's members, P_S(s) on Y's tree, checked against
//! P_Y(s) (DESIGN "Forwarding"), and the difference between two plans of the same subset.
//!
//! Guarantees: a [`SubsetPlan`] can only be made by [`plan_subset`], which refuses (with a
//! typed error) any subset whose ports are not, on every switch, within Y's ports: that
//! inclusion is the security property of the design (no datagram reaches a port it could not
//! reach through Y), so there is no way to build rules from an unchecked plan. It also refuses
//! subsets it cannot deliver exactly: a member it cannot reach, a host of the subset that is
//! not a member of Y, or a delivery port shared with a host outside the subset (which would
//! receive copies meant for others). Plans are plain ordered data: equal inputs give equal
//! plans.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use openflow::oxm::MacAddr;
use openflow::PortNo;

use crate::topology::{Dpid, Endpoint, Topology};
use crate::tree::{port_sets, GroupTree, PortSets};

/// Why a subset cannot be planned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    #[error("subset of group {group} is empty")]
    EmptySubset { group: IpAddr },
    #[error("host {host} is not a member of group {group}")]
    NotAMember { group: IpAddr, host: MacAddr },
    #[error(
        "member {host} of group {group} cannot be reached (unknown, port down or off the tree)"
    )]
    Unreachable { group: IpAddr, host: MacAddr },
    #[error(
        "port {at} would deliver the subset of group {group} to host {host}, which is not in the subset"
    )]
    SharedPort {
        group: IpAddr,
        at: Endpoint,
        host: MacAddr,
    },
    /// P_S(s) ⊄ P_Y(s): never expected, refused whatever the cause.
    #[error("subset of group {group} would use port {at}, which is outside the group's tree")]
    OutsideGroup { group: IpAddr, at: Endpoint },
}

/// A checked subset plan: P_S(s) for every switch that gets rules. See the module header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubsetPlan {
    group: IpAddr,
    subset: BTreeSet<MacAddr>,
    ports: PortSets,
}

impl SubsetPlan {
    /// Y's address.
    pub fn group(&self) -> IpAddr {
        self.group
    }

    /// The subset S.
    pub fn subset(&self) -> &BTreeSet<MacAddr> {
        &self.subset
    }

    /// P_S(s) for every switch.
    pub fn ports(&self) -> &PortSets {
        &self.ports
    }

    /// The buckets of a switch, in port order (empty: the switch gets no rule).
    pub fn buckets(&self, dpid: Dpid) -> Vec<PortNo> {
        self.ports.get(dpid).collect()
    }

    /// The switches that get rules, in dpid order, with their buckets.
    pub fn switches(&self) -> impl Iterator<Item = SwitchPlan> + '_ {
        self.ports.iter().map(|(dpid, ports)| SwitchPlan {
            dpid,
            buckets: ports.iter().copied().collect(),
        })
    }
}

/// What one switch installs for a subset: one ALL group with a bucket per port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwitchPlan {
    pub dpid: Dpid,
    /// In port order, never empty.
    pub buckets: Vec<PortNo>,
}

/// Plans subset S of group Y (given as its current [`GroupTree`]) on `topo`.
///
/// P_S is computed on Y's own tree, then checked: P_S(s) ⊆ P_Y(s) for every s (this check is
/// not optional), every member of S reached, no delivery port shared with a host outside S.
pub fn plan_subset(
    topo: &Topology,
    y: &GroupTree,
    subset: &BTreeSet<MacAddr>,
) -> Result<SubsetPlan, PlanError> {
    let group = y.addr();
    if subset.is_empty() {
        return Err(PlanError::EmptySubset { group });
    }
    if let Some(host) = subset.iter().find(|m| !y.group().members.contains(m)) {
        return Err(PlanError::NotAMember { group, host: *host });
    }
    let (ports, reach) = port_sets(topo, y.tree(), subset);
    if let Some(host) = reach.unreachable.iter().next() {
        return Err(PlanError::Unreachable { group, host: *host });
    }
    // The security property (DESIGN "Forwarding"): P_S(s) ⊆ P_Y(s) on every switch.
    if let Some(at) = ports.first_outside(y.ports()) {
        return Err(PlanError::OutsideGroup { group, at });
    }
    // Host ports of the plan carry copies to every host on them: all must be in S.
    for (dpid, set) in ports.iter() {
        for port in set {
            let at = Endpoint::new(dpid, *port);
            if let Some(host) = topo.hosts_at(at).find(|h| !subset.contains(h)) {
                return Err(PlanError::SharedPort { group, at, host });
            }
        }
    }
    Ok(SubsetPlan {
        group,
        subset: subset.clone(),
        ports,
    })
}

/// How a subset's rules must change from one plan to another, per switch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanDiff {
    /// Switches that get the subset's rules for the first time (group and flow add).
    pub add: BTreeMap<Dpid, Vec<PortNo>>,
    /// Switches whose group keeps its id and flow but gets new buckets (group modify).
    pub modify: BTreeMap<Dpid, Vec<PortNo>>,
    /// Switches that lose the subset's rules (flow delete, group delete).
    pub remove: BTreeSet<Dpid>,
}

impl PlanDiff {
    /// The per-switch changes that turn `old` into `new` (switches with equal buckets are
    /// left alone).
    pub fn between(old: &SubsetPlan, new: &SubsetPlan) -> PlanDiff {
        let mut diff = PlanDiff::default();
        for (dpid, ports) in new.ports.iter() {
            let buckets: Vec<PortNo> = ports.iter().copied().collect();
            match old.ports.iter().find(|(d, _)| *d == dpid) {
                None => {
                    diff.add.insert(dpid, buckets);
                }
                Some((_, before)) if before != ports => {
                    diff.modify.insert(dpid, buckets);
                }
                Some(_) => {}
            }
        }
        for (dpid, _) in old.ports.iter() {
            if new.ports.get(dpid).next().is_none() {
                diff.remove.insert(dpid);
            }
        }
        diff
    }

    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.modify.is_empty() && self.remove.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::NegotiatingGroup;
    use std::net::Ipv4Addr;

    fn ep(d: u64, p: u32) -> Endpoint {
        Endpoint::new(Dpid(d), PortNo(p))
    }

    fn mac(n: u8) -> MacAddr {
        MacAddr([2, 0, 0, 0, 0, n])
    }

    const Y: IpAddr = IpAddr::V4(Ipv4Addr::new(239, 0, 0, 1));

    /// A line 1 - 2 - 3 (port 1 right, port 2 left); hosts n on switch n port 3, and host
    /// 10+n on switch n port 4.
    fn line3() -> Topology {
        let mut t = Topology::new();
        for d in 1..=3 {
            t.switch_connected(Dpid(d), (1..=4).map(|p| (PortNo(p), true)));
        }
        t.add_link(ep(1, 1), ep(2, 2)).unwrap();
        t.add_link(ep(2, 1), ep(3, 2)).unwrap();
        for d in 1..=3u8 {
            t.host_seen(mac(d), ep(u64::from(d), 3), []).unwrap();
            t.host_seen(mac(10 + d), ep(u64::from(d), 4), []).unwrap();
        }
        t
    }

    fn y(t: &Topology) -> GroupTree {
        let g = NegotiatingGroup::new(Y, [mac(1), mac(2), mac(3), mac(13)]);
        GroupTree::compute(t, &g).unwrap()
    }

    fn set(m: &[u8]) -> BTreeSet<MacAddr> {
        m.iter().map(|n| mac(*n)).collect()
    }

    #[test]
    fn subset_ports_are_pruned_and_within_the_group() {
        let t = line3();
        let y = y(&t);
        let p = plan_subset(&t, &y, &set(&[1, 3])).unwrap();
        let b = |d| p.buckets(Dpid(d)).iter().map(|x| x.0).collect::<Vec<_>>();
        assert_eq!(b(1), vec![1, 3]);
        assert_eq!(b(2), vec![1, 2]); // transit: no local member of S
        assert_eq!(b(3), vec![2, 3]); // not port 4: mac(13) is in Y, not in S
        assert!(p.ports().first_outside(y.ports()).is_none());
        assert_eq!(p.switches().count(), 3);
    }

    #[test]
    fn refusals() {
        let mut t = line3();
        let y0 = y(&t);
        assert_eq!(
            plan_subset(&t, &y0, &set(&[])),
            Err(PlanError::EmptySubset { group: Y })
        );
        assert_eq!(
            plan_subset(&t, &y0, &set(&[1, 12])),
            Err(PlanError::NotAMember {
                group: Y,
                host: mac(12)
            })
        );
        // A stranger joins member 3's port.
        t.host_seen(mac(99), ep(3, 3), []).unwrap();
        let y1 = y(&t);
        assert_eq!(
            plan_subset(&t, &y1, &set(&[1, 3])),
            Err(PlanError::SharedPort {
                group: Y,
                at: ep(3, 3),
                host: mac(99)
            })
        );
        // Member 3's port goes down.
        t.remove_host(mac(99));
        t.port_status(ep(3, 3), false).unwrap();
        let y2 = y(&t);
        assert_eq!(
            plan_subset(&t, &y2, &set(&[1, 3])),
            Err(PlanError::Unreachable {
                group: Y,
                host: mac(3)
            })
        );
    }

    #[test]
    fn outside_group_is_refused() {
        // A GroupTree computed before member 2 moved to port 4 of switch 1: P_S on the new
        // topology uses 1:4, which P_Y (stale) does not hold. The planner refuses.
        let mut t = line3();
        let y_old = y(&t);
        t.remove_host(mac(11));
        t.host_seen(mac(2), ep(1, 4), []).unwrap();
        assert_eq!(
            plan_subset(&t, &y_old, &set(&[2])),
            Err(PlanError::OutsideGroup {
                group: Y,
                at: ep(1, 4)
            })
        );
    }

    #[test]
    fn diff_between_plans() {
        let t = line3();
        let y = y(&t);
        let a = plan_subset(&t, &y, &set(&[1, 2])).unwrap();
        let b = plan_subset(&t, &y, &set(&[1, 2])).unwrap();
        assert!(PlanDiff::between(&a, &b).is_empty());
        let c = plan_subset(&t, &y, &set(&[1, 3])).unwrap();
        let d = PlanDiff::between(&a, &c);
        assert!(d.add.is_empty() && d.remove.is_empty());
        assert_eq!(
            d.modify.keys().copied().collect::<Vec<_>>(),
            vec![Dpid(2), Dpid(3)]
        );
    }
}
