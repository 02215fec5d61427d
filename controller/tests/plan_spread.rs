//! Group roots spread over the spines of a leaf-spine fabric.

// A panic in a test is a failed assertion.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use controller::fabrics::leaf_spine;
use controller::{Dpid, GroupTree, NegotiatingGroup};

fn roots(spines: usize, addrs: impl Iterator<Item = IpAddr>) -> BTreeMap<Dpid, usize> {
    let topo = leaf_spine(spines, 6, 2);
    let members: Vec<_> = topo.hosts().map(|h| h.mac).collect();
    let mut count = BTreeMap::new();
    for a in addrs {
        let g = NegotiatingGroup::new(a, members.iter().copied());
        let y = GroupTree::compute(&topo, &g).unwrap();
        *count.entry(y.tree().root()).or_insert(0) += 1;
    }
    count
}

#[test]
fn two_spines_share_the_groups() {
    let v4 = (0..400u32).map(|i| IpAddr::V4(Ipv4Addr::from(0xef00_0100 + i)));
    let c = roots(2, v4);
    assert_eq!(
        c.keys().copied().collect::<Vec<_>>(),
        vec![Dpid(1), Dpid(2)]
    );
    for (d, n) in &c {
        assert!((140..=260).contains(n), "spine {d} roots {n} of 400 groups");
    }
}

#[test]
fn four_spines_share_ipv6_groups() {
    let v6 = (0..400u16).map(|i| IpAddr::V6(Ipv6Addr::new(0xff3e, 0, 0, 0, 0, 0, 0x8000, i)));
    let c = roots(4, v6);
    assert_eq!(c.len(), 4);
    for (d, n) in &c {
        assert!((60..=140).contains(n), "spine {d} roots {n} of 400 groups");
    }
}

#[test]
fn consecutive_addresses_do_not_all_land_on_one_spine() {
    // Rendezvous groups use consecutive addresses: the first few must already spread.
    let v4 = (0..8u32).map(|i| IpAddr::V4(Ipv4Addr::from(0xef00_0100 + i)));
    assert_eq!(roots(2, v4).len(), 2);
}
