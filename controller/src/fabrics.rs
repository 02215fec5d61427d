//! Builders of standard fabrics (leaf-spine, ring, full mesh, tree, any graph) for tests,
//! benchmarks and demos, and (with the `proptest` feature) strategies that generate random
//! fabrics, groups and subsets.
//!
//! Guarantees: builders are deterministic. Switch i (from 0) has dpid i + 1; each switch
//! numbers its ports from 1 in the order links and hosts are added to it; every port is up;
//! host k (from 1) has MAC 02:00:00:00:hi(k):lo(k) and IPv4 address 10.0.hi(k).lo(k), one host
//! per edge port.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use openflow::oxm::MacAddr;
use openflow::PortNo;

use crate::topology::{Dpid, Endpoint, Link, Topology};

/// Builds a fabric one switch, link and host at a time.
#[derive(Clone, Debug, Default)]
pub struct FabricBuilder {
    topo: Topology,
    next_port: BTreeMap<Dpid, u32>,
    hosts: u32,
}

impl FabricBuilder {
    pub fn new() -> Self {
        FabricBuilder::default()
    }

    /// The dpid of switch `i`.
    pub fn dpid(i: usize) -> Dpid {
        Dpid(i as u64 + 1)
    }

    /// Adds switches 0..n.
    pub fn switches(&mut self, n: usize) -> &mut Self {
        for i in 0..n {
            self.topo.switch_connected(Self::dpid(i), []);
        }
        self
    }

    fn port(&mut self, dpid: Dpid) -> Endpoint {
        if !self.topo.has_switch(dpid) {
            self.topo.switch_connected(dpid, []);
        }
        let n = self.next_port.entry(dpid).or_insert(1);
        let e = Endpoint::new(dpid, PortNo(*n));
        *n += 1;
        // The switch exists and the port is physical: this cannot fail.
        let _ = self.topo.port_status(e, true);
        e
    }

    /// Links switches `a` and `b` on a new port of each (`a == b` is ignored).
    pub fn link(&mut self, a: usize, b: usize) -> Option<Link> {
        if a == b {
            return None;
        }
        let x = self.port(Self::dpid(a));
        let y = self.port(Self::dpid(b));
        self.topo.add_link(x, y).ok().map(|_| Link::new(x, y))
    }

    /// Attaches a new host to a new port of switch `i`.
    pub fn host(&mut self, i: usize) -> MacAddr {
        self.hosts += 1;
        let k = self.hosts;
        let (hi, lo) = ((k >> 8) as u8, k as u8);
        let mac = MacAddr([2, 0, 0, 0, hi, lo]);
        let at = self.port(Self::dpid(i));
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, hi, lo));
        let _ = self.topo.host_seen(mac, at, [ip]);
        mac
    }

    pub fn build(&self) -> Topology {
        self.topo.clone()
    }
}

/// `spines` spine switches (0..spines) each linked to every leaf (the next `leaves`
/// switches), `hosts_per_leaf` hosts on each leaf.
pub fn leaf_spine(spines: usize, leaves: usize, hosts_per_leaf: usize) -> Topology {
    let mut b = FabricBuilder::new();
    b.switches(spines + leaves);
    for l in 0..leaves {
        for s in 0..spines {
            b.link(spines + l, s);
        }
        for _ in 0..hosts_per_leaf {
            b.host(spines + l);
        }
    }
    b.build()
}

/// A ring of `n` switches, `hosts` hosts each.
pub fn ring(n: usize, hosts: usize) -> Topology {
    let edges: Vec<(usize, usize)> = if n < 2 {
        Vec::new()
    } else if n == 2 {
        vec![(0, 1)]
    } else {
        (0..n).map(|i| (i, (i + 1) % n)).collect()
    };
    graph(n, &edges, &vec![hosts; n])
}

/// Every pair of `n` switches linked, `hosts` hosts each.
pub fn full_mesh(n: usize, hosts: usize) -> Topology {
    let edges: Vec<(usize, usize)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .collect();
    graph(n, &edges, &vec![hosts; n])
}

/// A tree: switch i + 1 hangs below `parents[i]` (which must be ≤ i), `hosts` hosts each.
pub fn tree(parents: &[usize], hosts: usize) -> Topology {
    let n = parents.len() + 1;
    let edges: Vec<(usize, usize)> = parents
        .iter()
        .enumerate()
        .map(|(i, p)| (i + 1, (*p).min(i)))
        .collect();
    graph(n, &edges, &vec![hosts; n])
}

/// `n` switches, the given links (in order; parallel links allowed, self-links ignored), then
/// `hosts[i]` hosts on switch i.
pub fn graph(n: usize, edges: &[(usize, usize)], hosts: &[usize]) -> Topology {
    let mut b = FabricBuilder::new();
    b.switches(n);
    for (a, c) in edges {
        if *a < n && *c < n {
            b.link(*a, *c);
        }
    }
    for (i, k) in hosts.iter().enumerate().take(n) {
        for _ in 0..*k {
            b.host(i);
        }
    }
    b.build()
}

/// Proptest strategies: random fabrics, groups, subsets and senders.
#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    use std::collections::BTreeSet;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use openflow::oxm::MacAddr;
    use proptest::prelude::*;
    use proptest::sample::{select, subsequence};

    use crate::topology::Topology;
    use crate::tree::NegotiatingGroup;

    /// A random connected fabric with at least one host: a tree, a leaf-spine, a full mesh,
    /// a ring, or a random connected graph (spanning tree plus extra, maybe parallel, links).
    pub fn fabric() -> impl Strategy<Value = Topology> {
        prop_oneof![
            (
                prop::collection::vec(any::<prop::sample::Index>(), 0..10),
                1..3usize
            )
                .prop_map(|(ix, h)| {
                    let parents: Vec<usize> =
                        ix.iter().enumerate().map(|(i, x)| x.index(i + 1)).collect();
                    super::tree(&parents, h)
                }),
            (1..4usize, 1..6usize, 1..4usize).prop_map(|(s, l, h)| super::leaf_spine(s, l, h)),
            (1..7usize, 1..3usize).prop_map(|(n, h)| super::full_mesh(n, h)),
            (1..10usize, 1..3usize).prop_map(|(n, h)| super::ring(n, h)),
            random_graph(),
        ]
    }

    /// A random connected graph of 1..12 switches, 0..3 hosts each (at least one in all).
    pub fn random_graph() -> impl Strategy<Value = Topology> {
        (1..12usize).prop_flat_map(|n| {
            (
                prop::collection::vec(any::<prop::sample::Index>(), n - 1),
                prop::collection::vec((0..n, 0..n), 0..2 * n),
                prop::collection::vec(0..3usize, n),
                any::<bool>(),
            )
                .prop_map(move |(ix, extra, mut hosts, shuffle)| {
                    let mut edges: Vec<(usize, usize)> = ix
                        .iter()
                        .enumerate()
                        .map(|(i, x)| (i + 1, x.index(i + 1)))
                        .collect();
                    edges.extend(extra);
                    if shuffle {
                        // Vary the port numbering: extra links before the spanning ones.
                        edges.reverse();
                    }
                    if hosts.iter().all(|h| *h == 0) {
                        hosts[0] = 1;
                    }
                    super::graph(n, &edges, &hosts)
                })
        })
    }

    /// A multicast group address, IPv4 (239/8) or IPv6 (ff3e::/16).
    pub fn group_addr() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 3]>().prop_map(|b| IpAddr::V4(Ipv4Addr::new(239, b[0], b[1], b[2]))),
            any::<u64>().prop_map(|x| IpAddr::V6(Ipv6Addr::new(
                0xff3e,
                0,
                0,
                0,
                (x >> 48) as u16,
                (x >> 32) as u16,
                (x >> 16) as u16,
                x as u16
            ))),
        ]
    }

    /// A fabric with a group Y (some of its hosts), a subset S of Y, and a sender (any host,
    /// member or not).
    #[derive(Clone, Debug)]
    pub struct Scenario {
        pub topo: Topology,
        pub group: NegotiatingGroup,
        pub subset: BTreeSet<MacAddr>,
        pub sender: MacAddr,
    }

    pub fn scenario_on(topo: Topology) -> impl Strategy<Value = Scenario> {
        let hosts: Vec<MacAddr> = topo.hosts().map(|h| h.mac).collect();
        let n = hosts.len().max(1);
        (
            subsequence(hosts.clone(), 1..=n),
            select(hosts),
            group_addr(),
        )
            .prop_flat_map(move |(members, sender, addr)| {
                let topo = topo.clone();
                let m = members.len();
                subsequence(members.clone(), 1..=m).prop_map(move |subset| Scenario {
                    topo: topo.clone(),
                    group: NegotiatingGroup::new(addr, members.iter().copied()),
                    subset: subset.into_iter().collect(),
                    sender,
                })
            })
    }

    pub fn scenario() -> impl Strategy<Value = Scenario> {
        fabric().prop_flat_map(scenario_on)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_spine_shape() {
        let t = leaf_spine(2, 3, 2);
        assert_eq!(t.switches().count(), 5);
        assert_eq!(t.links().count(), 6);
        assert_eq!(t.hosts().count(), 6);
        assert_eq!(t.core_switches(), vec![Dpid(1), Dpid(2)]);
        // Leaf 3: ports 1, 2 to the spines, 3 and 4 to hosts.
        assert_eq!(t.edge_ports(Dpid(3)), vec![PortNo(3), PortNo(4)]);
        let h = t.hosts().next().unwrap();
        assert_eq!(h.mac, MacAddr([2, 0, 0, 0, 0, 1]));
        assert_eq!(h.at, Endpoint::new(Dpid(3), PortNo(3)));
    }

    #[test]
    fn small_shapes() {
        assert_eq!(ring(1, 1).links().count(), 0);
        assert_eq!(ring(2, 1).links().count(), 1);
        assert_eq!(ring(5, 1).links().count(), 5);
        assert_eq!(full_mesh(4, 0).links().count(), 6);
        assert_eq!(tree(&[0, 0, 1], 1).links().count(), 3);
        // Parallel links are kept, self-links dropped.
        assert_eq!(
            graph(2, &[(0, 1), (0, 1), (1, 1)], &[1, 1]).links().count(),
            2
        );
    }
}
