//! Discovery on virtual time: switch-sim pipelines connect to the controller, which finds
//! every link by its own LLDP probes (sent as PACKET_OUT, carried over the simulated cables,
//! back as PACKET_IN) and every host from its ARP / NDP packet-ins, on random fabrics (trees,
//! leaf-spines, meshes, rings, random graphs). Foreign LLDP and malformed packet-ins are
//! counted and change nothing; links age out when probes stop.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::net::Net;
use common::{boot, config, discovered, hosts_of, links_of};
use controller::fabrics::{arb, leaf_spine, ring};
use controller::{Dpid, Endpoint, EventKind};
use openflow::oxm::MacAddr;
use openflow::{Body, Match, Message, Oxm, PacketIn, PacketInReason, PortNo, TableId, Xid};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn discovery_finds_every_link_and_host(topo in arb::fabric()) {
        let net = boot(&topo, config());
        // Everything the controller knows is right, hosts with their addresses.
        let t = net.ctl().topology();
        prop_assert_eq!(links_of(t), links_of(&topo));
        let mut want = hosts_of(&topo);
        for (mac, (_, addrs)) in want.iter_mut() {
            // Hosts announce an IPv6 address too (fd00:: + their MAC).
            let m = mac.0;
            addrs.insert(std::net::IpAddr::V6(std::net::Ipv6Addr::new(
                0xfd00, 0, 0, 0, 0, 0,
                u16::from_be_bytes([m[2], m[3]]),
                u16::from_be_bytes([m[4], m[5]]),
            )));
        }
        prop_assert_eq!(hosts_of(t), want);
        prop_assert_eq!(net.ctl().counters().malformed_packet_ins, 0);
        // Every switch is ready and was reconciled from empty tables.
        for s in net.ctl().switches() {
            prop_assert!(s.connected);
        }
    }
}

#[test]
fn discovery_survives_delays_and_reordering() {
    let topo = leaf_spine(2, 4, 2);
    let mut net = Net::from_topology(&topo, config());
    net.reorder(Some(7));
    for d in 1..=6 {
        net.faults_mut(d).delay = Duration::from_millis(3 * d);
    }
    net.connect_all();
    // Hosts speak once their switches have the table-miss flow (which, with the delays,
    // lands a little after the controller sent it).
    assert!(net.run_until(Duration::from_secs(10), |n| {
        (1..=6).all(|d| n.ctl().is_ready(Dpid(d)))
    }));
    net.run_for(Duration::from_millis(100));
    net.announce_all();
    assert!(net.run_until(Duration::from_secs(30), |n| discovered(n, &topo)));
}

fn lldp_packet_in(frame: Vec<u8>, port: u32) -> Message {
    Message::new(
        Xid(0),
        Body::PacketIn(PacketIn {
            buffer_id: openflow::BufferId::NO_BUFFER,
            total_len: frame.len() as u16,
            reason: PacketInReason::Action,
            table_id: TableId(0),
            cookie: openflow::Cookie(0),
            match_: Match::new().with(Oxm::InPort(PortNo(port))),
            data: frame,
        }),
    )
}

#[test]
fn foreign_lldp_and_malformed_packet_ins_are_counted_and_ignored() {
    let topo = ring(3, 1);
    let mut net = boot(&topo, config());
    let before = net.ctl().topology().clone();
    // A probe that claims to come from switch 2 port 1 but carries another controller's id.
    let foreign = controller::frames::lldp_probe(
        Dpid(2),
        PortNo(1),
        MacAddr([2, 0, 0, 0, 9, 9]),
        10,
        0xdead_beef,
    );
    net.inject_to_controller(1, lldp_packet_in(foreign, 3));
    // A truncated ARP, a packet-in without IN_PORT, garbage LLDP.
    let mut arp = switch_sim::packet::build::arp_request(
        MacAddr([2, 0, 0, 0, 7, 7]),
        "10.7.7.7".parse().unwrap(),
        "10.0.0.1".parse().unwrap(),
    );
    arp.truncate(20);
    net.inject_to_controller(1, lldp_packet_in(arp, 3));
    let mut no_port = lldp_packet_in(vec![0; 60], 3);
    if let Body::PacketIn(pi) = &mut no_port.body {
        pi.match_ = Match::new();
    }
    net.inject_to_controller(1, no_port);
    let mut bad_lldp = controller::frames::lldp_probe(Dpid(2), PortNo(1), MacAddr([2; 6]), 10, 1);
    bad_lldp.truncate(30);
    net.inject_to_controller(1, lldp_packet_in(bad_lldp, 3));
    net.run_for(Duration::from_millis(1));
    let c = net.ctl().counters();
    assert_eq!(c.foreign_lldp, 1);
    assert_eq!(c.malformed_packet_ins, 3);
    assert_eq!(
        net.ctl().topology(),
        &before,
        "nothing learned from any of them"
    );
}

#[test]
fn a_link_whose_probes_are_lost_ages_out_and_returns() {
    let topo = ring(4, 1);
    let mut net = boot(&topo, config());
    let l = topo.links().next().unwrap();
    net.blackhole(l.a, true);
    // link_timeout is 7 s: within 7 s + one probe interval the direction is down.
    let went = net.run_until(Duration::from_secs(10), |n| {
        !n.ctl().topology().is_link_live(l)
    });
    assert!(went, "link {l:?} should age out");
    assert!(net
        .events()
        .iter()
        .any(|e| e.kind == EventKind::LinkDown { link: l }));
    net.blackhole(l.a, false);
    assert!(net.run_until(Duration::from_secs(3), |n| n
        .ctl()
        .topology()
        .is_link_live(l)));
}

#[test]
fn a_port_going_down_takes_its_link_down_at_once() {
    let topo = ring(3, 1);
    let mut net = boot(&topo, config());
    let l = topo.links().next().unwrap();
    net.set_link_up(l.a, false);
    assert!(!net.ctl().topology().is_link_live(l));
    assert!(net
        .events()
        .iter()
        .any(|e| e.kind == EventKind::PortDown { at: l.a }));
    net.set_link_up(l.a, true);
    assert!(net.ctl().topology().is_link_live(l));
    let _ = Endpoint::new(Dpid(1), PortNo(1));
}
