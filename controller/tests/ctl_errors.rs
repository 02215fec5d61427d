//! Refusals and failures: every bad input of issue 4 gets its typed error and changes
//! nothing (no message to any switch, no address, no group id); a switch that refuses a
//! message with OFPT_ERROR fails the install naming the switch and the error, and nothing is
//! left installed anywhere; a switch that disconnects mid-install fails it too; a silent
//! switch is declared dead within the configured time; framing errors are answered and
//! counted.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::net::{count_rule_messages, Net};
use common::{all_subset_rules, boot, config, discovered, ip_of, put_group};
use controller::fabrics::{leaf_spine, ring};
use controller::{
    AddrRange, Command, CommandError, Config, ConnId, Controller, Dpid, Input, Output, PlanError,
    Topology,
};
use openflow::error_msg::{ErrorCode, GroupModFailedCode};
use openflow::{Body, Framer};

fn ips(topo: &Topology) -> Vec<IpAddr> {
    topo.hosts().map(|h| ip_of(topo, h.mac)).collect()
}

/// Runs `cmd` and checks it fails with `want` and that nothing changed anywhere.
fn refused(net: &mut Net, cmd: Command, want: &CommandError) {
    let subsets = net.ctl().subsets();
    let groups = net.ctl().groups();
    let used: Vec<IpAddr> = net.ctl().pool().used().collect();
    let dpids: Vec<u64> = net.fabric().dpids().iter().map(|d| d.0).collect();
    let ids: Vec<usize> = dpids
        .iter()
        .map(|d| net.ctl().group_ids_in_use(Dpid(*d)))
        .collect();
    net.clear_sent();
    let r = net.exec(cmd);
    assert_eq!(r.as_ref().err(), Some(want), "{r:?}");
    assert_eq!(net.ctl().subsets(), subsets);
    assert_eq!(net.ctl().groups(), groups);
    assert_eq!(net.ctl().pool().used().collect::<Vec<_>>(), used);
    for (d, n) in dpids.into_iter().zip(ids) {
        assert_eq!(count_rule_messages(net.sent(d)), (0, 0, 0), "switch {d}");
        assert_eq!(net.ctl().group_ids_in_use(Dpid(d)), n);
    }
}

#[test]
fn every_bad_input_has_its_typed_error_and_changes_nothing() {
    let topo = leaf_spine(2, 2, 3);
    let cfg = Config {
        // A pool of two IPv4 addresses.
        pool_v4: Some(
            AddrRange::new(
                "239.192.0.1".parse().unwrap(),
                "239.192.0.2".parse().unwrap(),
            )
            .unwrap(),
        ),
        ..config()
    };
    let mut net = boot(&topo, cfg);
    let all = ips(&topo);
    let stranger: IpAddr = "10.9.9.9".parse().unwrap();
    // The group has members 1-4 and an IP no host has.
    let mut members = all[..4].to_vec();
    members.push(stranger);
    put_group(&mut net, "g", "239.1.1.1".parse().unwrap(), members);
    let lease = Duration::from_secs(10);
    let create = |members: Vec<IpAddr>, lease: Duration| Command::CreateSubset {
        group: "g".into(),
        members,
        lease,
        trace_id: None,
        owner: None,
    };

    refused(
        &mut net,
        create(vec![all[0], all[5]], lease),
        &CommandError::NotAMember {
            group: "g".into(),
            ip: all[5],
        },
    );
    refused(
        &mut net,
        create(vec![all[0], stranger], lease),
        &CommandError::UnknownHost { ip: stranger },
    );
    refused(
        &mut net,
        Command::CreateSubset {
            group: "nope".into(),
            members: vec![all[0]],
            lease,
            trace_id: None,
            owner: None,
        },
        &CommandError::UnknownGroup {
            name: "nope".into(),
        },
    );
    refused(
        &mut net,
        Command::PutGroup {
            name: "u".into(),
            addr: "10.1.1.1".parse().unwrap(),
            members: vec![all[0]],
        },
        &CommandError::NotMulticast {
            addr: "10.1.1.1".parse().unwrap(),
        },
    );
    refused(
        &mut net,
        Command::PutGroup {
            name: "p".into(),
            addr: "239.192.0.2".parse().unwrap(),
            members: vec![all[0]],
        },
        &CommandError::AddrInPool {
            addr: "239.192.0.2".parse().unwrap(),
        },
    );
    refused(
        &mut net,
        create(vec![all[0]], Duration::ZERO),
        &CommandError::ZeroLease,
    );
    let max = net.ctl().config().max_lease;
    refused(
        &mut net,
        create(vec![all[0]], max + Duration::from_millis(1)),
        &CommandError::LeaseTooLong {
            lease: max + Duration::from_millis(1),
            max,
        },
    );
    refused(&mut net, create(vec![], lease), &CommandError::EmptySubset);
    refused(
        &mut net,
        Command::CreateSubset {
            group: "g".into(),
            members: vec![all[0]],
            lease,
            trace_id: Some(0),
            owner: None,
        },
        &CommandError::BadTraceId { trace_id: 0 },
    );
    refused(
        &mut net,
        Command::DeleteSubset {
            addr: "239.192.0.1".parse().unwrap(),
        },
        &CommandError::UnknownSubset {
            addr: "239.192.0.1".parse().unwrap(),
        },
    );
    // The pool: two subsets take both addresses, the third finds none.
    assert!(net.exec(create(vec![all[0]], lease)).is_ok());
    assert!(net.exec(create(vec![all[1]], lease)).is_ok());
    refused(
        &mut net,
        create(vec![all[2]], lease),
        &CommandError::PoolExhausted { family: "IPv4" },
    );
    // A trace id in use.
    let used = net.ctl().subsets()[0].trace_id;
    let r = net.exec(Command::CreateSubset {
        group: "g".into(),
        members: vec![all[2]],
        lease,
        trace_id: Some(used),
        owner: None,
    });
    assert!(matches!(r, Err(CommandError::TraceIdInUse { .. })), "{r:?}");
    // A group whose subset would lose a member.
    let r = net.exec(Command::PutGroup {
        name: "g".into(),
        addr: "239.1.1.1".parse().unwrap(),
        members: all[1..4].to_vec(),
    });
    assert!(matches!(r, Err(CommandError::GroupInUse { .. })), "{r:?}");
}

#[test]
fn a_host_port_shared_with_a_non_member_is_refused() {
    // Host 1's port also holds a second host (a hub): a subset of host 1 alone would copy to
    // the stranger too.
    let topo = ring(3, 1);
    let mut net = boot(&topo, config());
    let all = ips(&topo);
    let h1 = topo.hosts().next().unwrap().at;
    // The fabric cannot put two hosts on one port, so the stranger is told to the controller
    // through a packet-in on host 1's port instead.
    let arp = switch_sim::packet::build::arp_request(
        openflow::oxm::MacAddr([2, 0, 0, 0, 9, 9]),
        "10.9.0.9".parse().unwrap(),
        "10.0.0.1".parse().unwrap(),
    );
    net.inject_to_controller(
        h1.dpid.0,
        openflow::Message::new(
            openflow::Xid(0),
            Body::PacketIn(openflow::PacketIn {
                buffer_id: openflow::BufferId::NO_BUFFER,
                total_len: arp.len() as u16,
                reason: openflow::PacketInReason::NoMatch,
                table_id: openflow::TableId(0),
                cookie: openflow::Cookie(0),
                match_: openflow::Match::new().with(openflow::Oxm::InPort(h1.port)),
                data: arp,
            }),
        ),
    );
    let mut members = all.clone();
    members.push("10.9.0.9".parse().unwrap());
    put_group(&mut net, "g", "239.1.1.2".parse().unwrap(), members);
    let macs = net.ctl().topology().hosts_at(h1).count();
    assert_eq!(macs, 2);
    refused(
        &mut net,
        Command::CreateSubset {
            group: "g".into(),
            members: vec![all[0]],
            lease: Duration::from_secs(5),
            trace_id: None,
            owner: None,
        },
        &CommandError::Plan(PlanError::SharedPort {
            group: "239.1.1.2".parse().unwrap(),
            at: h1,
            host: openflow::oxm::MacAddr([2, 0, 0, 0, 9, 9]),
        }),
    );
}

#[test]
fn a_switch_refusing_with_ofpt_error_rolls_everything_back() {
    let topo = leaf_spine(2, 3, 2);
    let mut net = Net::from_topology(&topo, config());
    // Leaf 4 has no room for groups: it answers OFPGMFC_OUT_OF_GROUPS.
    net.set_switch_config(switch_sim::Config {
        max_groups: 0,
        ..switch_sim::Config::with_dpid(4)
    });
    net.connect_all();
    net.announce_all();
    assert!(net.run_until(Duration::from_secs(30), |n| discovered(n, &topo)));
    assert_eq!(
        net.ctl()
            .switches()
            .iter()
            .find(|s| s.dpid == Dpid(4))
            .unwrap()
            .max_groups,
        Some(0)
    );
    let all = ips(&topo);
    put_group(&mut net, "g", "239.1.1.3".parse().unwrap(), all.clone());
    let r = net.exec(Command::CreateSubset {
        group: "g".into(),
        members: vec![all[0], all[2], all[4]],
        lease: Duration::from_secs(30),
        trace_id: Some(0xfeed),
        owner: None,
    });
    let want = CommandError::SwitchRefused {
        dpid: Dpid(4),
        code: ErrorCode::GroupModFailed(GroupModFailedCode::OutOfGroups),
    };
    assert_eq!(r, Err(want.clone()));
    let text = want.to_string();
    assert!(
        text.contains("0000000000000004") && text.contains("OFPGMFC_OUT_OF_GROUPS"),
        "{text}"
    );
    // Nothing left anywhere: no subset flow, no group, no address, no group id.
    assert_eq!(all_subset_rules(&mut net), (0, 0));
    assert!(net.ctl().subsets().is_empty());
    assert_eq!(net.ctl().pool().used().count(), 0);
    for d in 1..=5 {
        assert_eq!(net.ctl().group_ids_in_use(Dpid(d)), 0);
    }
    assert_eq!(net.ctl().pending_operations(), 0);
}

#[test]
fn a_switch_disconnecting_mid_install_fails_it_and_nothing_stays() {
    let topo = leaf_spine(2, 3, 2);
    let mut net = boot(&topo, config());
    let all = ips(&topo);
    put_group(&mut net, "g", "239.1.1.4".parse().unwrap(), all.clone());
    // Leaf 5's connection is slow: its barrier replies come 100 ms after the install.
    net.faults_mut(5).delay = Duration::from_millis(50);
    let id = net.command(Command::CreateSubset {
        group: "g".into(),
        members: vec![all[0], all[4]],
        lease: Duration::from_secs(30),
        trace_id: None,
        owner: None,
    });
    // Leaf 5 has applied the install (at 50 ms) but its barrier replies are not back.
    net.run_for(Duration::from_millis(60));
    assert!(net.answer(id).is_none());
    assert_eq!(common::subset_rules(&mut net, 5), (1, 1));
    net.disconnect(5);
    let r = net.wait(id, Duration::from_secs(1));
    assert_eq!(r, Err(CommandError::SwitchDisconnected { dpid: Dpid(5) }));
    // Rolled back on the others at once; leaf 5 is cleaned when it comes back.
    for d in 1..=4 {
        assert_eq!(common::subset_rules(&mut net, d), (0, 0), "switch {d}");
    }
    net.faults_mut(5).delay = Duration::ZERO;
    net.connect(5);
    assert!(net.run_until(Duration::from_secs(2), |n| n.ctl().is_ready(Dpid(5))));
    net.run_for(Duration::from_millis(10));
    assert_eq!(all_subset_rules(&mut net), (0, 0));
    assert_eq!(net.ctl().pool().used().count(), 0);
}

#[test]
fn a_silent_switch_is_declared_dead_within_the_configured_time() {
    for (cfg, limit) in [
        (config(), Duration::from_secs(3)),
        (
            Config {
                echo_interval: Duration::from_millis(300),
                dead_after: Duration::from_millis(900),
                ..config()
            },
            Duration::from_millis(900),
        ),
    ] {
        let topo = ring(3, 1);
        let mut net = boot(&topo, cfg);
        net.run_for(Duration::from_millis(1234));
        let start = net.now();
        net.faults_mut(2).silent = true;
        assert!(net.run_until(Duration::from_secs(10), |n| !n.ctl().is_ready(Dpid(2))));
        let took = net.now().saturating_since(start);
        assert!(
            took <= limit,
            "declared dead after {took:?}, limit {limit:?}"
        );
        assert_eq!(net.ctl().counters().echo_timeouts, 1);
        assert!(net
            .closed_by_controller()
            .iter()
            .any(|(d, why)| *d == 2 && why.contains("echo")));
        // The others answer their echoes and stay.
        net.run_for(Duration::from_secs(10));
        assert!(net.ctl().is_ready(Dpid(1)) && net.ctl().is_ready(Dpid(3)));
    }
}

#[test]
fn framing_errors_are_answered_and_counted() {
    let mut c = Controller::new(Config::default()).unwrap();
    let conn = ConnId(1);
    c.handle(controller::Time::ZERO, Input::Connected { conn });
    while c.poll_output().is_some() {}
    // A FEATURES_REQUEST of version 1.0 (not a HELLO): skipped, answered OFPBRC_BAD_VERSION.
    let mut f = Framer::new();
    f.extend(&[0x01, 5, 0, 8, 0, 0, 0, 42]);
    let err = match f.next_frame() {
        Some(Err(e)) => e,
        x => panic!("{x:?}"),
    };
    c.handle(controller::Time::ZERO, Input::Framing { conn, error: err });
    match c.poll_output() {
        Some(Output::Send { msg, .. }) => match msg.body {
            Body::Error(e) => {
                assert_eq!(e.to_string(), "OFPET_BAD_REQUEST/OFPBRC_BAD_VERSION");
                assert_eq!(msg.xid, openflow::Xid(42));
            }
            b => panic!("{b:?}"),
        },
        o => panic!("{o:?}"),
    }
    assert_eq!(c.counters().framing_errors, 1);
    // A length below 8 cannot be framed: answered OFPBRC_BAD_LEN, and the connection closed.
    let mut f = Framer::new();
    f.extend(&[0x04, 2, 0, 4, 0, 0, 0, 1]);
    let err = match f.next_frame() {
        Some(Err(e)) => e,
        x => panic!("{x:?}"),
    };
    c.handle(controller::Time::ZERO, Input::Framing { conn, error: err });
    assert!(matches!(c.poll_output(), Some(Output::Send { .. })));
    assert!(matches!(c.poll_output(), Some(Output::Close { .. })));
    assert_eq!(c.counters().framing_errors, 2);
}
