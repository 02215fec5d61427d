//! IGMP / MLD snooping through the whole core on virtual time: hosts send real report and
//! leave frames into switch-sim pipelines, the punt flows bring them to the controller as
//! PACKET_INs, and a group declared snooped follows them — its members, its tree, its
//! subsets' delivery (traced through the pipelines), its events, its timers and the
//! querier's frames.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use common::net::Net;
use common::{boot, check_exact, config, reaches_nobody, subset};
use controller::snoop::parse::{self, GroupRecord, Message, Packet, RecordType, Version};
use controller::snoop::SNOOP_PRIORITY;
use controller::{
    fabrics, Command, Config, Dpid, Endpoint, EventKind, RemovalReason, Reply, Time, Topology,
};
use openflow::oxm::MacAddr;
use openflow::{Action, Body, PortNo};

const Y4: &str = "239.1.1.1";
const Y6: &str = "ff1e::1:1";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A host of the booted fabric: its name in the net, MAC, IPv4, link-local IPv6 (what its MLD
/// reports come from), and where it is.
#[derive(Clone, Debug)]
struct H {
    name: String,
    mac: MacAddr,
    v4: IpAddr,
    ll: IpAddr,
    at: Endpoint,
}

fn hosts(topo: &Topology) -> Vec<H> {
    topo.hosts()
        .map(|h| {
            let m = h.mac.0;
            let ll = Ipv6Addr::new(
                0xfe80,
                0,
                0,
                0,
                0,
                0,
                u16::from_be_bytes([m[2], m[3]]),
                u16::from_be_bytes([m[4], m[5]]),
            );
            H {
                name: h.mac.to_string(),
                mac: h.mac,
                v4: *h.addrs.iter().find(|a| a.is_ipv4()).unwrap(),
                ll: IpAddr::V6(ll),
                at: h.at,
            }
        })
        .collect()
}

fn igmp2(h: &H, g: &str, leave: bool) -> Packet {
    let group = ip(g);
    let (dst, msg) = if leave {
        (
            IpAddr::V4(parse::ALL_ROUTERS),
            Message::Leave {
                version: Version::Igmp2,
                group,
            },
        )
    } else {
        (
            group,
            Message::Report {
                version: Version::Igmp2,
                group,
            },
        )
    };
    parse::host_packet(h.mac, h.v4, dst, msg)
}

fn v3(h: &H, g: &str, kind: RecordType, sources: &[&str]) -> Packet {
    let group = ip(g);
    let (src, dst, version) = if group.is_ipv4() {
        (h.v4, IpAddr::V4(parse::IGMPV3_ROUTERS), Version::Igmp3)
    } else {
        (h.ll, IpAddr::V6(parse::MLDV2_ROUTERS), Version::Mld2)
    };
    parse::host_packet(
        h.mac,
        src,
        dst,
        Message::ReportV3 {
            version,
            records: vec![GroupRecord {
                kind,
                group,
                sources: sources.iter().map(|s| ip(s)).collect(),
                aux: vec![],
            }],
        },
    )
}

fn mld1(h: &H, g: &str, done: bool) -> Packet {
    let group = ip(g);
    let (dst, msg) = if done {
        (
            IpAddr::V6(parse::ALL_ROUTERS_V6),
            Message::Leave {
                version: Version::Mld1,
                group,
            },
        )
    } else {
        (
            group,
            Message::Report {
                version: Version::Mld1,
                group,
            },
        )
    };
    parse::host_packet(h.mac, h.ll, dst, msg)
}

/// The host sends the packet; it must reach no other host (punted, not forwarded).
fn send(net: &mut Net, h: &H, p: &Packet) {
    let r = net.send_from_host(&h.name, &p.emit().unwrap());
    assert!(
        r.deliveries.is_empty(),
        "an IGMP/MLD frame was forwarded: {:?}",
        r.hosts()
    );
    assert_eq!(r.packet_ins.len(), 1, "punted once, at the first switch");
}

fn members(net: &Net, name: &str) -> BTreeSet<IpAddr> {
    net.ctl().group(name).unwrap().members.into_iter().collect()
}

fn set(ips: &[IpAddr]) -> BTreeSet<IpAddr> {
    ips.iter().copied().collect()
}

fn put_snooped(net: &mut Net, name: &str, addr: &str) {
    match net.exec(Command::PutSnoopedGroup {
        name: name.into(),
        addr: ip(addr),
    }) {
        Ok(Reply::Group(g)) => assert!(g.snooped),
        r => panic!("{r:?}"),
    }
}

/// The `GroupMembers` events since event index `from`: (joined, left).
fn member_events(net: &Net, from: usize) -> Vec<(Vec<IpAddr>, Vec<IpAddr>)> {
    net.events()[from..]
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::GroupMembers { joined, left, .. } => Some((joined.clone(), left.clone())),
            _ => None,
        })
        .collect()
}

fn names_of(hs: &[&H]) -> BTreeSet<String> {
    hs.iter().map(|h| h.name.clone()).collect()
}

/// Query frames the controller sent to `dpid` since message index `from`: each parsed, with
/// its output ports.
fn queries(net: &Net, dpid: Dpid, from: usize) -> Vec<(Packet, BTreeSet<PortNo>)> {
    net.sent(dpid.0)[from..]
        .iter()
        .filter_map(|m| match &m.body {
            Body::PacketOut(po) => {
                let p = Packet::parse(&po.data).ok()?;
                let ports = po
                    .actions
                    .iter()
                    .filter_map(|a| match a {
                        Action::Output { port, .. } => Some(*port),
                        _ => None,
                    })
                    .collect();
                Some((p, ports))
            }
            _ => None,
        })
        .collect()
}

fn boot_leaf_spine() -> (Net, Topology, Vec<H>) {
    let topo = fabrics::leaf_spine(2, 3, 2);
    let net = boot(&topo, config());
    let hs = hosts(&topo);
    (net, topo, hs)
}

#[test]
fn joins_and_leaves_make_the_membership_and_subsets_follow() {
    let (mut net, _topo, hs) = boot_leaf_spine();
    put_snooped(&mut net, "y", Y4);
    assert!(members(&net, "y").is_empty());
    let ev0 = net.events().len();
    let (a, b, c) = (&hs[0], &hs[2], &hs[4]);
    send(&mut net, a, &igmp2(a, Y4, false));
    send(&mut net, b, &v3(b, Y4, RecordType::ChangeToExclude, &[]));
    send(&mut net, c, &v3(c, Y4, RecordType::ModeIsExclude, &[]));
    assert_eq!(members(&net, "y"), set(&[a.v4, b.v4, c.v4]));
    // Every change is a new membership version, as a PUT with new members would be.
    assert_eq!(net.ctl().group("y").unwrap().version, 4);
    assert_eq!(
        member_events(&net, ev0),
        vec![
            (vec![a.v4], vec![]),
            (vec![b.v4], vec![]),
            (vec![c.v4], vec![])
        ]
    );
    // The events carry increasing sequence numbers, in the core's one order.
    let seqs: Vec<u64> = net.events().iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
    // The tree reaches exactly the members' ports.
    let ports = net.ctl().group_tree("y").unwrap().ports().clone();
    for h in &hs {
        let member = [a, b, c].iter().any(|m| m.mac == h.mac);
        assert_eq!(ports.contains(h.at), member, "{h:?}");
    }
    // A subset of the snooped group delivers exactly.
    let s = subset(&mut net, "y", vec![a.v4, b.v4], Duration::from_secs(60));
    check_exact(&net, s.addr, &names_of(&[a, b]), Some(&ports)).unwrap();
    // b leaves (IGMPv3 TO_IN{}): the subset loses it and still delivers exactly.
    let ev1 = net.events().len();
    send(&mut net, b, &v3(b, Y4, RecordType::ChangeToInclude, &[]));
    assert_eq!(members(&net, "y"), set(&[a.v4, c.v4]));
    assert_eq!(member_events(&net, ev1), vec![(vec![], vec![b.v4])]);
    assert_eq!(net.ctl().subset(s.addr).unwrap().members, vec![a.v4]);
    net.run_for(Duration::from_millis(10));
    check_exact(&net, s.addr, &names_of(&[a]), None).unwrap();
    assert!(!net.ctl().group_tree("y").unwrap().ports().contains(b.at));
    // a leaves (IGMPv2): the subset has nobody left and is removed.
    send(&mut net, a, &igmp2(a, Y4, true));
    assert_eq!(members(&net, "y"), set(&[c.v4]));
    net.run_for(Duration::from_millis(10));
    assert!(net.ctl().subset(s.addr).is_none());
    assert!(net.events().iter().any(|e| matches!(
        e.kind,
        EventKind::SubsetRemoved { addr, reason: RemovalReason::MembersLeft } if addr == s.addr
    )));
    reaches_nobody(&net, s.addr).unwrap();
    // The snapshot says the group is snooped.
    let snap = net.persisted().unwrap();
    assert!(snap.groups.iter().any(|g| g.name == "y" && g.snooped));
    // A plain PUT makes it a configured group again: reports no longer change it.
    net.exec(Command::PutGroup {
        name: "y".into(),
        addr: ip(Y4),
        members: vec![a.v4],
    })
    .unwrap();
    send(&mut net, b, &igmp2(b, Y4, false));
    assert_eq!(members(&net, "y"), set(&[a.v4]));
    assert!(!net.ctl().group("y").unwrap().snooped);
}

#[test]
fn mld_v1_and_v2_drive_an_ipv6_group() {
    let (mut net, _topo, hs) = boot_leaf_spine();
    put_snooped(&mut net, "y6", Y6);
    let (a, b) = (&hs[1], &hs[3]);
    send(&mut net, a, &mld1(a, Y6, false));
    send(&mut net, b, &v3(b, Y6, RecordType::ChangeToExclude, &[]));
    // IPv6 members are named by the (link-local) source of their reports.
    assert_eq!(members(&net, "y6"), set(&[a.ll, b.ll]));
    let s = subset(&mut net, "y6", vec![a.ll, b.ll], Duration::from_secs(60));
    check_exact(&net, s.addr, &names_of(&[a, b]), None).unwrap();
    send(&mut net, a, &mld1(a, Y6, true));
    assert_eq!(members(&net, "y6"), set(&[b.ll]));
    // A source-specific join (ALLOW {S}) then blocking that source is a join then a leave.
    send(
        &mut net,
        a,
        &v3(a, Y6, RecordType::AllowNewSources, &["fd00::99"]),
    );
    assert_eq!(members(&net, "y6"), set(&[a.ll, b.ll]));
    send(
        &mut net,
        a,
        &v3(a, Y6, RecordType::BlockOldSources, &["fd00::99"]),
    );
    assert_eq!(members(&net, "y6"), set(&[b.ll]));
    // Solicited-node reports (every IPv6 host sends them) are not snooped.
    let sn = v3(a, "ff02::1:ff00:1", RecordType::ChangeToExclude, &[]);
    send(&mut net, a, &sn);
    assert!(net.ctl().snooper().counters().ignored >= 1);
}

#[test]
fn several_receivers_behind_one_port_are_tracked_apart() {
    let (mut net, _topo, hs) = boot_leaf_spine();
    put_snooped(&mut net, "y", Y4);
    let a = &hs[0];
    // Two more receivers behind a's port (a hub there): frames enter the same switch port.
    let behind = |n: u8| H {
        name: a.name.clone(),
        mac: MacAddr([2, 0xaa, 0, 0, 0, n]),
        v4: IpAddr::V4(Ipv4Addr::new(10, 9, 0, n)),
        ll: ip("fe80::aa"),
        at: a.at,
    };
    let (x, y) = (behind(1), behind(2));
    for h in [a, &x, &y] {
        send(&mut net, h, &igmp2(h, Y4, false));
    }
    assert_eq!(members(&net, "y"), set(&[a.v4, x.v4, y.v4]));
    let receivers = net.ctl().snooper().receivers(ip(Y4));
    assert_eq!(receivers.len(), 3);
    assert!(receivers.iter().all(|r| r.at == a.at));
    // x leaves: a and y stay; the port (only that port) is asked twice, a second apart.
    let dpid = a.at.dpid;
    let sent0 = net.sent(dpid.0).len();
    send(&mut net, &x, &igmp2(&x, Y4, true));
    assert_eq!(members(&net, "y"), set(&[a.v4, y.v4]));
    assert!(net.ctl().group_tree("y").unwrap().ports().contains(a.at));
    net.run_for(Duration::from_millis(1500));
    let q = queries(&net, dpid, sent0);
    let specific: Vec<_> = q
        .iter()
        .filter(|(p, _)| matches!(&p.msg, Message::Query(q) if q.group == Some(ip(Y4))))
        .collect();
    assert_eq!(specific.len(), 2, "{q:?}");
    for (p, ports) in &specific {
        assert_eq!(ports, &BTreeSet::from([a.at.port]));
        assert_eq!((p.dst, p.ttl, p.router_alert), (ip(Y4), 1, true));
        let Message::Query(q) = &p.msg else { panic!() };
        assert_eq!(q.max_resp(), Duration::from_secs(1));
    }
    assert_eq!(net.ctl().snooper().counters().fast_leaves, 0);
    // y leaves, then a: a is the last one on the port, a fast leave (no query, at once).
    send(&mut net, &y, &igmp2(&y, Y4, true));
    let sent1 = net.sent(dpid.0).len();
    send(&mut net, a, &v3(a, Y4, RecordType::ChangeToInclude, &[]));
    assert!(members(&net, "y").is_empty());
    assert_eq!(net.ctl().snooper().counters().fast_leaves, 1);
    let after: Vec<_> = queries(&net, dpid, sent1)
        .into_iter()
        .filter(|(p, _)| matches!(&p.msg, Message::Query(q) if q.group.is_some()))
        .collect();
    assert!(after.is_empty(), "{after:?}");
    assert!(!net.ctl().group_tree("y").unwrap().ports().contains(a.at));
}

#[test]
fn membership_ends_when_reports_stop() {
    let (mut net, _topo, hs) = boot_leaf_spine();
    put_snooped(&mut net, "y", Y4);
    let (a, b) = (&hs[0], &hs[5]);
    send(&mut net, a, &igmp2(a, Y4, false));
    let t0 = net.now();
    net.run_for(Duration::from_secs(100));
    send(&mut net, b, &igmp2(b, Y4, false));
    let s = subset(&mut net, "y", vec![a.v4, b.v4], Duration::from_secs(1000));
    // The group membership interval (2 × 125 s + 10 s) after a's only report, a is gone.
    let gmi = Duration::from_secs(260);
    let until = |net: &Net, t: Time| t.saturating_since(net.now());
    net.run_for(until(&net, t0 + (gmi - Duration::from_millis(1))));
    assert_eq!(members(&net, "y"), set(&[a.v4, b.v4]));
    net.run_for(until(&net, t0 + gmi));
    assert_eq!(members(&net, "y"), set(&[b.v4]));
    assert_eq!(net.ctl().subset(s.addr).unwrap().members, vec![b.v4]);
    check_exact(&net, s.addr, &names_of(&[b]), None).unwrap();
    // b reports again before its end (t0 + 360 s); it stays past that deadline.
    net.run_for(Duration::from_secs(50));
    send(&mut net, b, &v3(b, Y4, RecordType::ModeIsExclude, &[]));
    let refreshed = net.now();
    net.run_for(Duration::from_secs(200));
    assert_eq!(members(&net, "y"), set(&[b.v4]));
    net.run_for(until(&net, refreshed + gmi));
    assert!(members(&net, "y").is_empty());
    assert_eq!(net.ctl().snooper().counters().expired, 2);
    assert!(net.ctl().subset(s.addr).is_none());
}

#[test]
fn the_querier_asks_every_edge_port() {
    let topo = fabrics::leaf_spine(2, 3, 2);
    let mut net = Net::from_topology(&topo, config());
    net.connect_all();
    net.announce_all();
    assert!(net.run_until(Duration::from_secs(30), |n| common::discovered(n, &topo)));
    let start = net.now();
    let from: Vec<(Dpid, usize)> = topo.switches().map(|d| (d, net.sent(d.0).len())).collect();
    // The startup queries come a quarter interval apart, then one every 125 s.
    net.run_for(Duration::from_secs(200));
    for (d, i) in from {
        let edge: BTreeSet<PortNo> = topo.edge_ports(d).into_iter().collect();
        let q = queries(&net, d, i);
        if edge.is_empty() {
            assert!(q.is_empty(), "spine {d} has no edge port: {q:?}");
            continue;
        }
        // Two startup queries (the first went out at connect) plus one periodic: in 200 s the
        // second startup one and the first periodic one, each IGMPv3 and MLDv2.
        assert_eq!(q.len(), 4, "{d}: {q:?}");
        for (p, ports) in &q {
            assert_eq!(ports, &edge, "{d}");
            assert_eq!((p.ttl, p.router_alert), (1, true));
            let Message::Query(qq) = &p.msg else { panic!() };
            assert_eq!(qq.group, None);
            assert_eq!(qq.max_resp(), Duration::from_secs(10));
            assert_eq!((qq.qrv, qq.query_interval()), (2, Duration::from_secs(125)));
            match qq.version {
                Version::Igmp3 => assert_eq!(p.dst, IpAddr::V4(parse::ALL_SYSTEMS)),
                Version::Mld2 => {
                    assert_eq!(p.dst, IpAddr::V6(parse::ALL_NODES));
                    assert!(matches!(p.src, IpAddr::V6(s) if s.segments()[0] == 0xfe80));
                }
                v => panic!("{v:?}"),
            }
        }
    }
    assert!(net.now() >= start);
    // The queries reached the hosts, and no copy of ours became a host or a packet-in to learn.
    assert!(hosts(&topo)
        .iter()
        .all(|h| net.host_frames.get(&h.name).copied().unwrap_or(0) >= 4));
    assert_eq!(net.ctl().hosts().len(), topo.hosts().count());
    // Another querier on an edge port is noticed (and does not silence ours).
    let h = &hosts(&topo)[0];
    let mut foreign = parse::query(
        h.mac,
        h.v4,
        None,
        Duration::from_secs(10),
        2,
        Duration::from_secs(125),
    );
    foreign.src = h.v4;
    send(&mut net, h, &foreign);
    let others = net.ctl().snooper().other_queriers();
    assert_eq!(others.len(), 1);
    assert_eq!((others[0].addr, others[0].at), (h.v4, h.at));
}

#[test]
fn punt_flows_beat_subset_flows_and_survive_reconnects() {
    let (mut net, topo, hs) = boot_leaf_spine();
    for d in topo.switches() {
        let (flows, _) = net.tables(d.0);
        let punt = flows
            .iter()
            .filter(|f| f.priority == SNOOP_PRIORITY)
            .count();
        assert_eq!(punt, 5, "switch {d}: one IGMP and four MLD punt flows");
    }
    // A report sent to a subset's own address reaches the controller, not the subset.
    common::put_group(
        &mut net,
        "g",
        ip("239.5.5.5"),
        hs.iter().map(|h| h.v4).collect(),
    );
    let s = subset(
        &mut net,
        "g",
        vec![hs[1].v4, hs[3].v4],
        Duration::from_secs(60),
    );
    let a = &hs[0];
    let sub = s.addr.to_string();
    send(&mut net, a, &igmp2(a, &sub, false));
    assert_eq!(net.ctl().snooper().members(s.addr), set(&[a.v4]));
    // A reconnect with the tables intact changes nothing of ours.
    let d = hs[0].at.dpid.0;
    let ev = net.events().len();
    net.disconnect(d);
    net.run_for(Duration::from_secs(1));
    net.connect(d);
    net.run_for(Duration::from_secs(3));
    let clean = net.events()[ev..].iter().any(|e| {
        matches!(&e.kind, EventKind::SwitchUp { dpid, reconciled } if dpid.0 == d && reconciled.is_clean())
    });
    assert!(clean, "{:?}", &net.events()[ev..]);
}

#[test]
fn malformed_frames_are_counted_and_change_nothing() {
    let (mut net, _topo, hs) = boot_leaf_spine();
    put_snooped(&mut net, "y", Y4);
    let a = &hs[0];
    let mut f = igmp2(a, Y4, false).emit().unwrap();
    let last = f.len() - 1;
    f[last] ^= 0x01; // the group address: the IGMP checksum no longer holds
    net.send_from_host(&a.name, &f);
    let mut g = v3(a, Y6, RecordType::ChangeToExclude, &[]).emit().unwrap();
    g.truncate(g.len() - 3);
    net.send_from_host(&a.name, &g);
    assert_eq!(net.ctl().snooper().counters().malformed, 2);
    assert!(members(&net, "y").is_empty());
    // A good one still works.
    send(&mut net, a, &igmp2(a, Y4, false));
    assert_eq!(members(&net, "y"), set(&[a.v4]));
}

#[test]
fn a_restart_keeps_snooped_groups_and_their_members_until_they_go_quiet() {
    let (mut net, _topo, hs) = boot_leaf_spine();
    put_snooped(&mut net, "y", Y4);
    let (a, b) = (&hs[0], &hs[2]);
    send(&mut net, a, &igmp2(a, Y4, false));
    send(&mut net, b, &igmp2(b, Y4, false));
    let json = serde_json::to_string(net.persisted().unwrap()).unwrap();
    let snap: controller::Snapshot = serde_json::from_str(&json).unwrap();
    net.restart_controller(&snap);
    net.run_for(Duration::from_secs(15));
    let g = net.ctl().group("y").unwrap();
    assert!(g.snooped);
    assert_eq!(members(&net, "y"), set(&[a.v4, b.v4]));
    // a answers (as a host would answer the startup query); b stays silent; b leaves later.
    send(&mut net, a, &igmp2(a, Y4, false));
    let t = net.now();
    net.run_until(Duration::from_secs(300), |n| {
        n.ctl().group("y").unwrap().members.len() == 1
    });
    assert_eq!(members(&net, "y"), set(&[a.v4]));
    assert!(
        net.now() >= t + Duration::from_secs(200),
        "b lasted its membership interval"
    );
    // A snapshot from before snooping (no "snooped" field) still loads.
    let old = json.replace(",\"snooped\":true", "");
    assert!(!old.contains("snooped"));
    let snap: controller::Snapshot = serde_json::from_str(&old).unwrap();
    assert!(snap.groups.iter().all(|g| !g.snooped));
}

#[test]
fn snooping_can_be_turned_off() {
    let topo = fabrics::leaf_spine(1, 2, 1);
    let cfg = Config {
        snoop: controller::snoop::SnoopConfig {
            enabled: false,
            ..Default::default()
        },
        ..config()
    };
    let mut net = boot(&topo, cfg);
    for d in topo.switches() {
        let (flows, _) = net.tables(d.0);
        assert!(flows.iter().all(|f| f.priority != SNOOP_PRIORITY));
    }
    let r = net.exec(Command::PutSnoopedGroup {
        name: "y".into(),
        addr: ip(Y4),
    });
    assert!(
        matches!(r, Err(controller::CommandError::SnoopingDisabled { .. })),
        "{r:?}"
    );
    assert!(net.ctl().group("y").is_none());
}
