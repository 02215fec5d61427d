//! Failure recompute on virtual time: on rings (which have a loop) and meshes, a link that
//! goes down — by PORT_STATUS, or silently with its LLDP probes lost until it ages out —
//! makes the controller recompute the affected trees and move live subsets, which keep
//! delivering exactly (traced through the pipelines, which really drop what goes out of a
//! down port). When the link returns, the subsets move back.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use common::{boot, check_exact, config, ip_of, names, put_group, subset};
use controller::fabrics::{full_mesh, ring};
use controller::{EventKind, Link, SubsetInfo};
use openflow::oxm::MacAddr;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};

struct Live {
    info: SubsetInfo,
    to: BTreeSet<String>,
}

fn setup(topo: &controller::Topology, subsets: &[Vec<MacAddr>]) -> (common::net::Net, Vec<Live>) {
    let mut net = boot(topo, config());
    let all: Vec<IpAddr> = topo.hosts().map(|h| ip_of(topo, h.mac)).collect();
    put_group(&mut net, "ring", "239.1.2.3".parse().unwrap(), all);
    let mut live = Vec::new();
    for s in subsets {
        let ips = s.iter().map(|m| ip_of(topo, *m)).collect();
        let info = subset(&mut net, "ring", ips, Duration::from_secs(600));
        let to = names(&s.iter().copied().collect());
        check_exact(&net, info.addr, &to, None).unwrap();
        live.push(Live { info, to });
    }
    (net, live)
}

fn uses_link(net: &common::net::Net, addr: IpAddr, l: Link) -> bool {
    net.fabric().hosts().any(|h| {
        let r = net.trace(&h.name, addr);
        r.link_copies.keys().any(|e| {
            let ep = controller::Endpoint::new(controller::Dpid(e.dpid.0), e.port);
            ep == l.a || ep == l.b
        })
    })
}

fn case() -> impl Strategy<Value = (controller::Topology, Vec<Vec<MacAddr>>, Link)> {
    prop_oneof![
        (3..9usize).prop_map(|n| ring(n, 1)),
        (3..6usize).prop_map(|n| full_mesh(n, 1))
    ]
    .prop_flat_map(|topo| {
        let hosts: Vec<MacAddr> = topo.hosts().map(|h| h.mac).collect();
        let links: Vec<Link> = topo.links().collect();
        let n = hosts.len();
        (
            Just(topo),
            prop::collection::vec(subsequence(hosts, 1..=n), 1..4),
            select(links),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn port_down_recomputes_and_delivery_stays_exact((topo, subsets, l) in case()) {
        let (mut net, live) = setup(&topo, &subsets);
        let before: Vec<SubsetInfo> = net.ctl().subsets();
        net.set_link_up(l.a, false);
        prop_assert!(!net.ctl().topology().is_link_live(l));
        for s in &live {
            check_exact(&net, s.info.addr, &s.to, None).map_err(TestCaseError::fail)?;
        }
        // Back up: the same trees and rules as before the failure.
        net.set_link_up(l.a, true);
        prop_assert!(net.ctl().topology().is_link_live(l));
        for s in &live {
            check_exact(&net, s.info.addr, &s.to, None).map_err(TestCaseError::fail)?;
        }
        prop_assert_eq!(net.ctl().subsets(), before);
    }
}

#[test]
fn lost_probes_move_subsets_off_a_link_and_back() {
    let topo = ring(6, 1);
    let hosts: Vec<MacAddr> = topo.hosts().map(|h| h.mac).collect();
    // Two members on opposite sides of the ring.
    let (mut net, live) = setup(&topo, &[vec![hosts[0], hosts[3]], hosts.clone()]);
    // Find a link the first subset uses and lose its probes both ways.
    let l = topo
        .links()
        .find(|l| uses_link(&net, live[0].info.addr, *l))
        .unwrap();
    net.blackhole(l.a, true);
    net.blackhole(l.b, true);
    assert!(net.run_until(Duration::from_secs(12), |n| !n
        .ctl()
        .topology()
        .is_link_live(l)));
    let moved = EventKind::SubsetRerouted {
        addr: live[0].info.addr,
    };
    assert!(net.events().iter().any(|e| e.kind == moved));
    for s in &live {
        check_exact(&net, s.info.addr, &s.to, None).unwrap();
        assert!(!uses_link(&net, s.info.addr, l), "still over {l:?}");
    }
    net.blackhole(l.a, false);
    net.blackhole(l.b, false);
    assert!(net.run_until(Duration::from_secs(5), |n| n
        .ctl()
        .topology()
        .is_link_live(l)));
    for s in &live {
        check_exact(&net, s.info.addr, &s.to, None).unwrap();
    }
    assert!(uses_link(&net, live[0].info.addr, l), "moved back");
}

#[test]
fn a_switch_that_dies_is_routed_around() {
    // Ring of 5: switch 3 dies; subsets of members elsewhere go the other way round.
    let topo = ring(5, 1);
    let hosts: Vec<MacAddr> = topo.hosts().map(|h| h.mac).collect();
    let members = vec![hosts[0], hosts[1], hosts[3], hosts[4]];
    let (mut net, live) = setup(&topo, &[members]);
    net.faults_mut(3).silent = true;
    assert!(net.run_until(Duration::from_secs(4), |n| !n
        .ctl()
        .is_ready(controller::Dpid(3))));
    // The dead switch's pipeline still forwards with its old rules; cut it off the data
    // plane too, as a dead switch would be.
    let ports: Vec<controller::Endpoint> = topo
        .links()
        .flat_map(|l| [l.a, l.b])
        .filter(|e| e.dpid == controller::Dpid(3))
        .collect();
    for e in ports {
        net.set_link_up(e, false);
    }
    // Every host but the one on the dead switch still reaches the other members.
    let senders: Vec<String> = net
        .fabric()
        .hosts()
        .filter(|h| h.at.dpid.0 != 3)
        .map(|h| h.name.clone())
        .collect();
    common::check_exact_from(&net, &senders, live[0].info.addr, &live[0].to, None).unwrap();
}
