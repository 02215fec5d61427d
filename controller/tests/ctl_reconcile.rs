//! Reconciliation on virtual time. After a switch reconnects, or the controller restarts from
//! its snapshot while the switches keep their tables, the controller reads the flows and
//! groups and sends only the difference: rules that are still right get no message at all,
//! wrong ones are fixed, stale ones of ours removed, and rules that are not ours are left
//! alone. Delivery is exact afterwards.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use common::net::{count_rule_messages, Net};
use common::{boot, check_exact, config, ip_of, names, put_group, reaches_nobody, subset};
use controller::fabrics::leaf_spine;
use controller::rules::{dst_match, group_add, group_modify, Rule, SUBSET_PRIORITY, SUBSET_TABLE};
use controller::{Dpid, EventKind, SubsetInfo, Topology};
use openflow::msg::{FlowMod, FlowModCommand, GroupModCommand};
use openflow::oxm::MacAddr;
use openflow::{Body, GroupId, PortNo};

struct Live {
    info: SubsetInfo,
    to: BTreeSet<String>,
}

/// Leaf-spine 2 x 3 with 2 hosts per leaf (hosts 1, 2 on leaf 3; 3, 4 on leaf 4; 5, 6 on
/// leaf 5), one group of all hosts, and subsets {1,3}, {2,5,6}, {1,2,4}.
fn fabric() -> (Topology, Net, Vec<Live>) {
    let topo = leaf_spine(2, 3, 2);
    let mut net = boot(&topo, config());
    let hosts: Vec<MacAddr> = topo.hosts().map(|h| h.mac).collect();
    let ips: Vec<IpAddr> = hosts.iter().map(|m| ip_of(&topo, *m)).collect();
    put_group(&mut net, "all", "239.1.0.9".parse().unwrap(), ips);
    let mut live = Vec::new();
    for s in [vec![0, 2], vec![1, 4, 5], vec![0, 1, 3]] {
        let macs: Vec<MacAddr> = s.iter().map(|i| hosts[*i]).collect();
        let info = subset(
            &mut net,
            "all",
            macs.iter().map(|m| ip_of(&topo, *m)).collect(),
            Duration::from_secs(300),
        );
        let to = names(&macs.iter().copied().collect());
        check_exact(&net, info.addr, &to, None).unwrap();
        live.push(Live { info, to });
    }
    (topo, net, live)
}

fn flow_of(m: &Body) -> Option<&FlowMod> {
    match m {
        Body::FlowMod(f) => Some(f),
        _ => None,
    }
}

/// The destination a flow mod is about.
fn flow_dst(f: &FlowMod) -> Option<IpAddr> {
    f.match_.fields.iter().find_map(|o| match o {
        openflow::Oxm::Ipv4Dst { value, .. } => Some(IpAddr::V4(*value)),
        openflow::Oxm::Ipv6Dst { value, .. } => Some(IpAddr::V6(*value)),
        _ => None,
    })
}

#[test]
fn a_switch_that_lost_its_tables_gets_everything_back() {
    let (_, mut net, live) = fabric();
    net.clear_sent();
    net.restart_switch(3);
    assert!(net.run_until(Duration::from_secs(5), |n| n.ctl().is_ready(Dpid(3))));
    net.run_for(Duration::from_secs(1));
    for s in &live {
        check_exact(&net, s.info.addr, &s.to, None).unwrap();
    }
    // Leaf 3 (hosts 1 and 2) carries all three subsets: three groups, three flows, and the
    // two infrastructure flows, and the IGMP / MLD punt flows, and the BIER forward flow.
    let punt = controller::snoop::punt_flows().len();
    let bier_forward = 1;
    let (adds, dels, groups) = count_rule_messages(net.sent(3));
    assert_eq!((adds, dels, groups), (5 + punt + bier_forward, 0, 3));
}

#[test]
fn reconnect_keeps_right_rules_fixes_wrong_ones_and_leaves_foreign_ones() {
    let (_, mut net, live) = fabric();
    // Every switch of the tree carries every subset (a switch without members still sends
    // its hosts' datagrams up the tree): leaf 4 holds all three.
    let on3: Vec<&Live> = live
        .iter()
        .filter(|l| l.info.switches.contains(&Dpid(4)))
        .collect();
    assert_eq!(on3.len(), 3);
    let (flows, groups) = net.tables(4);
    let group_of = |addr: IpAddr| -> GroupId {
        let f = flows
            .iter()
            .find(|f| f.priority == SUBSET_PRIORITY && f.match_ == dst_match(addr))
            .unwrap();
        match &f.instructions[..] {
            [openflow::Instruction::ApplyActions(a)] => match a[..] {
                [openflow::Action::Group(g)] => g,
                _ => panic!(),
            },
            _ => panic!(),
        }
    };
    let (a, b) = (on3[0].info.addr, on3[1].info.addr);
    let (ga, gb) = (group_of(a), group_of(b));
    assert_eq!(groups.len(), 3);

    net.disconnect(4);
    // While away: subset a's flow vanishes, subset b's group gets a wrong bucket, a stale
    // subset of ours (pool address, our group range) appears, and so do a foreign flow and a
    // foreign group.
    let stale_addr: IpAddr = "239.192.200.1".parse().unwrap();
    let stale_rule = Rule::new(stale_addr, 77, Duration::from_secs(100)).unwrap();
    let stale_group = GroupId(0x5453_ff00);
    let foreign = FlowMod::add(
        SUBSET_TABLE,
        SUBSET_PRIORITY,
        dst_match("239.1.77.1".parse().unwrap()),
        vec![],
    );
    let errors = net.tamper(
        4,
        vec![
            Body::FlowMod(FlowMod {
                cookie_mask: 0,
                ..FlowMod::delete_strict(SUBSET_TABLE, SUBSET_PRIORITY, dst_match(a))
            }),
            Body::GroupMod(group_modify(gb, &[PortNo(4)])),
            Body::GroupMod(group_add(stale_group, &[PortNo(3)])),
            Body::FlowMod(stale_rule.flow_add(stale_group)),
            Body::FlowMod(foreign.clone()),
            Body::GroupMod(group_add(GroupId(7), &[PortNo(1)])),
        ],
    );
    assert!(errors.is_empty(), "{errors:?}");
    net.clear_sent();
    net.connect(4);
    assert!(net.run_until(Duration::from_secs(5), |n| n.ctl().is_ready(Dpid(4))));
    net.run_for(Duration::from_secs(1));

    let sent: Vec<Body> = net.sent(4).iter().map(|m| m.body.clone()).collect();
    let flow_mods: Vec<&FlowMod> = sent.iter().filter_map(flow_of).collect();
    // Subset a: its flow re-added (nothing else about it); subset b: its group modified,
    // its flow untouched.
    let about = |addr: IpAddr| -> Vec<&&FlowMod> {
        flow_mods
            .iter()
            .filter(|f| flow_dst(f) == Some(addr))
            .collect()
    };
    let fa = about(a);
    assert_eq!(fa.len(), 1);
    assert_eq!(fa[0].command, FlowModCommand::Add);
    assert!(
        about(b).is_empty(),
        "subset b's flow was right: {:?}",
        about(b)
    );
    // The stale flow deleted, the foreign one not touched.
    let fs = about(stale_addr);
    assert_eq!(fs.len(), 1);
    assert_eq!(fs[0].command, FlowModCommand::DeleteStrict);
    assert!(about("239.1.77.1".parse().unwrap()).is_empty());
    let group_mods: Vec<(GroupModCommand, GroupId)> = sent
        .iter()
        .filter_map(|b| match b {
            Body::GroupMod(g) => Some((g.command, g.group_id)),
            _ => None,
        })
        .collect();
    assert_eq!(
        group_mods,
        vec![
            (GroupModCommand::Delete, stale_group),
            (GroupModCommand::Modify, gb)
        ]
    );
    // Subset a's group was right: kept. The infrastructure flows were right: kept.
    assert!(!group_mods.iter().any(|(_, g)| *g == ga));
    assert_eq!(flow_mods.len(), 2);
    let up = net
        .events()
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::SwitchUp { dpid, reconciled } if *dpid == Dpid(4) => Some(*reconciled),
            _ => None,
        })
        .unwrap();
    // Kept: the two infrastructure flows and the flows of b and c; the groups of a and c.
    // (And the IGMP / MLD punt flows.)
    let punt = controller::snoop::punt_flows().len();
    assert_eq!(
        (up.flows_kept, up.flows_added, up.flows_deleted),
        (4 + punt, 1, 1)
    );
    assert_eq!(
        (up.groups_kept, up.groups_modified, up.groups_deleted),
        (2, 1, 1)
    );
    assert_eq!(up.foreign, 2);

    // The foreign flow and group are still there; delivery is exact again.
    let (flows, groups) = net.tables(4);
    assert!(flows.iter().any(|f| f.match_ == foreign.match_));
    assert!(groups.iter().any(|g| g.group_id == GroupId(7)));
    for s in &live {
        check_exact(&net, s.info.addr, &s.to, None).unwrap();
    }
}

#[test]
fn controller_restart_from_snapshot_touches_nothing_that_is_right() {
    let (topo, mut net, live) = fabric();
    let before = net.ctl().subsets();
    // The store round trip: JSON, as a shell might write it.
    let snap = net.persisted().unwrap().clone();
    let json = serde_json::to_string(&snap).unwrap();
    let snap: controller::Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(snap.subsets.len(), 3);

    // While the controller is down, one flow of subset 1 disappears from leaf 5.
    let victim = live[1].info.addr;
    net.tamper(
        5,
        vec![Body::FlowMod(FlowMod {
            cookie_mask: 0,
            ..FlowMod::delete_strict(SUBSET_TABLE, SUBSET_PRIORITY, dst_match(victim))
        })],
    );
    net.run_for(Duration::from_secs(2));
    net.clear_sent();
    net.restart_controller(&snap);
    net.announce_all();
    // Through the settling time and a little more.
    net.run_for(Duration::from_secs(15));
    assert!(net.events().iter().any(|e| e.kind == EventKind::Restored));
    for d in topo.switches() {
        assert!(net.ctl().is_ready(d));
        let (adds, dels, groups) = count_rule_messages(net.sent(d.0));
        if d == Dpid(5) {
            // Only the missing flow comes back.
            assert_eq!((adds, dels, groups), (1, 0, 0), "switch {d}");
            let f = net.sent(5).iter().find_map(|m| flow_of(&m.body)).unwrap();
            assert_eq!(flow_dst(f), Some(victim));
        } else {
            assert_eq!((adds, dels, groups), (0, 0, 0), "switch {d}");
        }
    }
    // The same subsets, addresses, switches and group ids; delivery exact.
    let after = net.ctl().subsets();
    assert_eq!(after.len(), before.len());
    for (x, y) in before.iter().zip(&after) {
        assert_eq!(
            (x.addr, &x.switches, x.trace_id),
            (y.addr, &y.switches, y.trace_id)
        );
        assert!(!y.degraded);
    }
    assert_eq!(net.ctl().snapshot().subsets, snap.subsets);
    for s in &live {
        check_exact(&net, s.info.addr, &s.to, None).unwrap();
    }
    // Leases still end on time after the restart.
    net.run_for(Duration::from_secs(300));
    for s in &live {
        reaches_nobody(&net, s.info.addr).unwrap();
    }
    assert!(net.ctl().subsets().is_empty());
}

#[test]
fn a_snapshot_that_does_not_fit_is_refused() {
    let (_, net, _) = fabric();
    let mut snap = net.persisted().unwrap().clone();
    snap.version = 99;
    assert!(matches!(
        controller::Controller::restore(config(), &snap, net.now()),
        Err(controller::RestoreError::Version(99))
    ));
    let mut snap = net.persisted().unwrap().clone();
    snap.subsets[1].switches[0].group_id = snap.subsets[0].switches[0].group_id;
    snap.subsets[1].switches[0].dpid = snap.subsets[0].switches[0].dpid;
    assert!(matches!(
        controller::Controller::restore(config(), &snap, net.now()),
        Err(controller::RestoreError::Subset { .. })
    ));
    let mut snap = net.persisted().unwrap().clone();
    snap.subsets[0].group = "nope".into();
    assert!(controller::Controller::restore(config(), &snap, net.now()).is_err());
}

#[test]
fn a_new_connection_of_the_same_switch_replaces_the_old_one() {
    let (_, mut net, live) = fabric();
    net.clear_sent();
    net.reconnect_behind_the_controllers_back(4);
    assert!(net.run_until(Duration::from_secs(2), |n| n.ctl().is_ready(Dpid(4))));
    assert!(net.events().iter().any(|e| matches!(
        &e.kind,
        EventKind::SwitchDown { dpid, reason } if *dpid == Dpid(4) && reason.contains("replaced")
    )));
    // Its tables were right: nothing to send.
    assert_eq!(count_rule_messages(net.sent(4)), (0, 0, 0));
    for s in &live {
        check_exact(&net, s.info.addr, &s.to, None).unwrap();
    }
}
