//! The fabric checker: exact delivery on a tree, loops on a ring with flood rules, duplicates,
//! link failure with fast failover.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed assertion

mod pipeline_common;
use pipeline_common::*;

use openflow::{Action, Bucket, DatapathId, GroupType, Match, PortNo};
use std::net::Ipv4Addr;
use switch_sim::{Edge, Fabric, Host, Loop, Time};

fn host(name: &str, n: u8, at: Edge) -> Host {
    Host {
        name: name.into(),
        mac: mac(n),
        ipv4: Some(Ipv4Addr::new(10, 0, 0, n)),
        ipv6: None,
        at,
    }
}

fn from(f: &Fabric, h: &str, dst: [u8; 4]) -> Vec<u8> {
    let s = f.host(h).unwrap();
    switch_sim::packet::build::udp4(
        s.mac,
        openflow::oxm::MacAddr([0x01, 0, 0x5e, 1, 1, 1]),
        s.ipv4.unwrap(),
        Ipv4Addr::from(dst),
        4000,
        5000,
        b"chunk",
    )
}

/// s1 (core) joins s2 (h1 on 1, h2 on 2) and s3 (h3 on 1, h4 on 2); uplinks are port 3.
fn tree() -> Fabric {
    let mut f = Fabric::new();
    f.add_switch_with_ports(1, 2).unwrap();
    f.add_switch_with_ports(2, 3).unwrap();
    f.add_switch_with_ports(3, 3).unwrap();
    f.link(Edge::new(1, 1), Edge::new(2, 3)).unwrap();
    f.link(Edge::new(1, 2), Edge::new(3, 3)).unwrap();
    f.add_host(host("h1", 1, Edge::new(2, 1))).unwrap();
    f.add_host(host("h2", 2, Edge::new(2, 2))).unwrap();
    f.add_host(host("h3", 3, Edge::new(3, 1))).unwrap();
    f.add_host(host("h4", 4, Edge::new(3, 2))).unwrap();
    f
}

/// Installs group 1 (ALL, one bucket per port) and a flow for 239.1.1.1 on a switch.
fn install(f: &mut Fabric, dpid: u64, ports: &[u32]) {
    let buckets = ports.iter().map(|p| Bucket::new(vec![out(*p)])).collect();
    let errs = f
        .apply(
            Time::ZERO,
            DatapathId(dpid),
            &[
                group(GroupType::All, 1, buckets),
                flow(100, ip_dst([239, 1, 1, 1]), to_group(1)),
            ],
        )
        .unwrap();
    assert!(errs.is_empty(), "{errs:?}");
}

#[test]
fn tree_delivers_exactly_once_to_members() {
    let mut f = tree();
    // Members h1, h3, h4: the ports of each switch that lead toward a member.
    install(&mut f, 1, &[1, 2]);
    install(&mut f, 2, &[1, 3]);
    install(&mut f, 3, &[1, 2, 3]);
    let r = f.trace("h2", &from(&f, "h2", [239, 1, 1, 1])).unwrap();
    assert!(r.delivered_exactly_once_to(&["h1", "h3", "h4"]), "{r:#?}");
    assert!(r.duplicates().is_empty() && r.link_duplicates().is_empty());
    // A member sender reaches the others, not itself (no copy back out of its port).
    let r = f.trace("h3", &from(&f, "h3", [239, 1, 1, 1])).unwrap();
    assert!(r.delivered_exactly_once_to(&["h1", "h4"]), "{r:#?}");
    // Other destinations are dropped (no table-miss entry).
    let r = f.trace("h3", &from(&f, "h3", [239, 9, 9, 9])).unwrap();
    assert!(r.deliveries.is_empty() && !r.has_loop());
    // The byte-level view.
    let d = f.deliveries("h2", &from(&f, "h2", [239, 1, 1, 1])).unwrap();
    assert_eq!(
        d.keys().copied().collect::<Vec<_>>(),
        vec![Edge::new(2, 1), Edge::new(3, 1), Edge::new(3, 2)]
    );
    assert!(d.values().all(|copies| copies.len() == 1));
}

#[test]
fn ring_with_flood_rules_loops() {
    let mut f = Fabric::new();
    for s in 1..=3 {
        f.add_switch_with_ports(s, 3).unwrap();
        let errs = f
            .apply(
                Time::ZERO,
                DatapathId(s),
                &[flow(
                    0,
                    Match::new(),
                    apply(vec![Action::output(PortNo::FLOOD)]),
                )],
            )
            .unwrap();
        assert!(errs.is_empty());
    }
    // Port 2 of each switch goes to port 3 of the next.
    for s in 1..=3u64 {
        f.link(Edge::new(s, 2), Edge::new(s % 3 + 1, 3)).unwrap();
    }
    f.add_host(host("h1", 1, Edge::new(1, 1))).unwrap();
    let r = f.trace("h1", &from(&f, "h1", [10, 0, 0, 99])).unwrap();
    assert!(r.has_loop());
    assert!(r
        .loops
        .iter()
        .any(|l| matches!(l, Loop::Repeated { path, .. } if !path.is_empty())));
    // The same fabric as a line (one link less) does not loop.
    let mut line = Fabric::new();
    for s in 1..=3 {
        line.add_switch_with_ports(s, 3).unwrap();
        line.apply(
            Time::ZERO,
            DatapathId(s),
            &[flow(
                0,
                Match::new(),
                apply(vec![Action::output(PortNo::FLOOD)]),
            )],
        )
        .unwrap();
    }
    line.link(Edge::new(1, 2), Edge::new(2, 3)).unwrap();
    line.link(Edge::new(2, 2), Edge::new(3, 3)).unwrap();
    line.add_host(host("h1", 1, Edge::new(1, 1))).unwrap();
    let r = line
        .trace("h1", &from(&line, "h1", [10, 0, 0, 99]))
        .unwrap();
    assert!(!r.has_loop());
    // Flooding reaches every edge port but the sender's, once.
    assert_eq!(r.deliveries.len(), 4);
    assert!(r.duplicates().is_empty());
}

#[test]
fn duplicates_are_reported() {
    let mut f = tree();
    install(&mut f, 1, &[1, 2]);
    install(&mut f, 2, &[1, 3]);
    // s3 sends h3 two copies.
    let buckets = vec![
        Bucket::new(vec![out(1)]),
        Bucket::new(vec![out(1)]),
        Bucket::new(vec![out(2)]),
    ];
    f.apply(
        Time::ZERO,
        DatapathId(3),
        &[
            group(GroupType::All, 1, buckets),
            flow(100, ip_dst([239, 1, 1, 1]), to_group(1)),
        ],
    )
    .unwrap();
    let r = f.trace("h2", &from(&f, "h2", [239, 1, 1, 1])).unwrap();
    assert_eq!(r.duplicates(), vec![(Edge::new(3, 1), 2)]);
    assert!(!r.delivered_exactly_once_to(&["h1", "h3", "h4"]));
}

#[test]
fn link_failure_with_fast_failover() {
    // Two paths from s1 to s2: ports 1 and 2 of s1 go to ports 1 and 2 of s2; h1 on s1:3,
    // h2 on s2:3.
    let mut f = Fabric::new();
    f.add_switch_with_ports(1, 3).unwrap();
    f.add_switch_with_ports(2, 3).unwrap();
    f.link(Edge::new(1, 1), Edge::new(2, 1)).unwrap();
    f.link(Edge::new(1, 2), Edge::new(2, 2)).unwrap();
    f.add_host(host("h1", 1, Edge::new(1, 3))).unwrap();
    f.add_host(host("h2", 2, Edge::new(2, 3))).unwrap();
    let ff = |p: u32| Bucket {
        watch_port: PortNo(p),
        ..Bucket::new(vec![out(p)])
    };
    f.apply(
        Time::ZERO,
        DatapathId(1),
        &[
            group(GroupType::FastFailover, 1, vec![ff(1), ff(2)]),
            flow(100, ip_dst([10, 0, 0, 2]), to_group(1)),
        ],
    )
    .unwrap();
    f.apply(
        Time::ZERO,
        DatapathId(2),
        &[flow(100, ip_dst([10, 0, 0, 2]), apply(vec![out(3)]))],
    )
    .unwrap();
    let pkt = from(&f, "h1", [10, 0, 0, 2]);
    let r = f.trace("h1", &pkt).unwrap();
    assert!(r.delivered_exactly_once_to(&["h2"]));
    assert_eq!(
        r.link_copies.keys().copied().collect::<Vec<_>>(),
        vec![Edge::new(1, 1)]
    );
    f.set_link_up(Edge::new(1, 1), false).unwrap();
    let r = f.trace("h1", &pkt).unwrap();
    assert!(r.delivered_exactly_once_to(&["h2"]));
    assert_eq!(
        r.link_copies.keys().copied().collect::<Vec<_>>(),
        vec![Edge::new(1, 2)]
    );
    // Processing for real counts on the switches.
    f.process(Time::ZERO, "h1", &pkt).unwrap();
    let s2 = f.switch(DatapathId(2)).unwrap();
    assert_eq!(s2.port_counters(PortNo(2)).unwrap().0, 1);
    assert_eq!(s2.port_counters(PortNo(3)).unwrap().1, 1);
}
