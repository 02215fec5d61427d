//! The design's main check: the OpenFlow messages the rule builder makes, installed into
//! `switch-sim` pipelines joined as the fabric is, deliver real UDP packets from any host to
//! exactly the subset (every member but the sender once, nobody else, no loop, no link
//! carrying two copies), also after a link failure and the rule update it triggers, and
//! stop at the hard timeout.

// A panic in a test is a failed assertion.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use controller::fabrics::arb::{scenario, Scenario};
use controller::recompute::{group_trees, recompute};
use controller::rules::{Batch, GroupIds, Installation, Rule};
use controller::{plan_subset, Link, PortSets, Topology};
use openflow::oxm::MacAddr;
use openflow::{Body, DatapathId, ErrorMsg, Message, Xid};
use proptest::prelude::*;
use proptest::sample::Index;
use switch_sim::packet::build::{udp4, udp6};
use switch_sim::{Edge, Fabric, Host, Time, TraceReport};

fn edge(e: controller::Endpoint) -> Edge {
    Edge::new(e.dpid.0, e.port.0)
}

/// The same fabric as `switch-sim` pipelines, with no rule installed.
fn sim(topo: &Topology) -> Fabric {
    let mut f = Fabric::new();
    for d in topo.switches() {
        let max = topo.ports(d).map(|(p, _)| p.0).max().unwrap_or(0);
        f.add_switch_with_ports(d.0, max).unwrap();
        for (p, up) in topo.ports(d) {
            if !up {
                f.switch_mut(DatapathId(d.0))
                    .unwrap()
                    .set_port_up(p, false)
                    .unwrap();
            }
        }
    }
    for l in topo.links() {
        f.link(edge(l.a), edge(l.b)).unwrap();
    }
    for h in topo.hosts() {
        let ipv4 = h.addrs.iter().find_map(|a| match a {
            IpAddr::V4(v) => Some(*v),
            IpAddr::V6(_) => None,
        });
        f.add_host(Host {
            name: h.mac.to_string(),
            mac: h.mac,
            ipv4,
            ipv6: None,
            at: edge(h.at),
        })
        .unwrap();
    }
    f
}

/// Sends a batch to the fabric's switches (xids from 1) and returns the errors they answered.
fn apply(f: &mut Fabric, now: Time, batch: &Batch) -> Vec<ErrorMsg> {
    let mut errors = Vec::new();
    for (dpid, bodies) in batch.messages() {
        let msgs: Vec<Message> = bodies
            .into_iter()
            .enumerate()
            .map(|(i, b)| Message::new(Xid(i as u32 + 1), b))
            .collect();
        errors.extend(f.apply(now, DatapathId(dpid.0), &msgs).unwrap());
    }
    errors
}

/// A UDP datagram from `from` to `dst`.
fn datagram(topo: &Topology, from: MacAddr, dst: IpAddr) -> Vec<u8> {
    let h = topo.host(from).unwrap();
    match dst {
        IpAddr::V4(d) => {
            let o = d.octets();
            let mac = MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]);
            let src = h
                .addrs
                .iter()
                .find_map(|a| match a {
                    IpAddr::V4(v) => Some(*v),
                    IpAddr::V6(_) => None,
                })
                .unwrap_or(Ipv4Addr::new(10, 9, 9, 9));
            udp4(from, mac, src, d, 40000, 5000, b"tsm")
        }
        IpAddr::V6(d) => {
            let o = d.octets();
            let mac = MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]]);
            let m = from.0;
            let src = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, u16::from(m[4]), 0, u16::from(m[5]));
            udp6(from, mac, src, d, 40000, 5000, b"tsm")
        }
    }
}

/// Exactly one copy to each of `want`, nothing else, no loop, no duplicate on a link, and
/// every link copy out of a port of `allowed`.
fn check(r: &TraceReport, want: &BTreeSet<MacAddr>, allowed: &PortSets) -> Result<(), String> {
    let names: Vec<String> = want.iter().map(|m| m.to_string()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    if !r.delivered_exactly_once_to(&names) {
        return Err(format!(
            "want {names:?}, got {:?} (loops {:?})",
            r.hosts(),
            r.loops
        ));
    }
    if !r.link_duplicates().is_empty() {
        return Err(format!("link duplicates {:?}", r.link_duplicates()));
    }
    for e in r.link_copies.keys() {
        let ep = controller::Endpoint::new(controller::Dpid(e.dpid.0), e.port);
        if !allowed.contains(ep) {
            return Err(format!("copy over {e}, outside P_Y"));
        }
    }
    Ok(())
}

fn subset_addr(group: IpAddr, n: u8) -> IpAddr {
    match group {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(239, 200, 0, n)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::new(0xff3e, 0, 0, 0, 0, 0, 0xffff, u16::from(n))),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn installed_rules_deliver_exactly(
        sc in scenario(),
        pick in any::<Index>(),
    ) {
        let Scenario { mut topo, group, subset, .. } = sc;
        let trees = group_trees(&topo, [&group]);
        let y = &trees[&group.addr];
        let mut f = sim(&topo);
        let mut ids = GroupIds::new();
        let lease = Duration::from_millis(7300);

        // Two subsets on the same switches: S at X1, every member of Y at X2.
        let x1 = subset_addr(group.addr, 1);
        let x2 = subset_addr(group.addr, 2);
        let p1 = plan_subset(&topo, y, &subset).unwrap();
        let p2 = plan_subset(&topo, y, &group.members).unwrap();
        let i1 = Installation::new(&p1, Rule::new(x1, 0x51, lease).unwrap(), &mut ids).unwrap();
        let i2 = Installation::new(&p2, Rule::new(x2, 0x52, lease).unwrap(), &mut ids).unwrap();
        let mut batch = i1.install();
        batch.merge(i2.install());
        let errors = apply(&mut f, Time::ZERO, &batch);
        prop_assert!(errors.is_empty(), "switch errors: {:?}", errors);

        let hosts: Vec<MacAddr> = topo.hosts().map(|h| h.mac).collect();
        let expect = |set: &BTreeSet<MacAddr>, s: MacAddr| -> BTreeSet<MacAddr> {
            set.iter().copied().filter(|m| *m != s).collect()
        };
        for s in &hosts {
            let r = f.trace(s.to_string().as_str(), &datagram(&topo, *s, x1)).unwrap();
            let res = check(&r, &expect(&subset, *s), y.ports());
            prop_assert!(res.is_ok(), "X1 from {}: {:?}", s, res);
            let r = f.trace(s.to_string().as_str(), &datagram(&topo, *s, x2)).unwrap();
            let res = check(&r, &expect(&group.members, *s), y.ports());
            prop_assert!(res.is_ok(), "X2 from {}: {:?}", s, res);
            // Any other destination is not ours: dropped everywhere.
            let other = subset_addr(group.addr, 3);
            let r = f.trace(s.to_string().as_str(), &datagram(&topo, *s, other)).unwrap();
            prop_assert!(r.deliveries.is_empty() && r.link_copies.is_empty());
        }

        // Sending the same install again leaves the tables as they were; the switch only
        // refuses the group adds (OFPGMFC_GROUP_EXISTS): OF1.3 has no add-or-modify.
        let counts = |f: &Fabric| -> Vec<(usize, usize)> {
            f.switches().map(|p| (p.flow_count(openflow::TableId(0)), p.group_count())).collect()
        };
        let before = counts(&f);
        let errors = apply(&mut f, Time::from_millis(10), &batch);
        let group_adds: usize = batch
            .messages()
            .values()
            .flatten()
            .filter(|b| matches!(b, Body::GroupMod(_)))
            .count();
        prop_assert_eq!(errors.len(), group_adds);
        prop_assert_eq!(counts(&f), before);

        // A link of Y's tree fails; the recomputed plan, sent as an update, delivers exactly.
        let tree_links: Vec<Link> = topo
            .links()
            .filter(|l| y.tree().is_tree_port(l.a) && y.tree().is_tree_port(l.b))
            .collect();
        if !tree_links.is_empty() {
            let dead = tree_links[pick.index(tree_links.len())];
            topo.port_status(dead.a, false).unwrap();
            topo.port_status(dead.b, false).unwrap();
            f.set_link_up(edge(dead.a), false).unwrap();
            let r = recompute(&topo, [&group], &trees, [(1, &p1)]);
            if let Ok(re) = &r.subsets[&1] {
                let up = i1.update(&re.diff, Duration::from_millis(5000), &mut ids).unwrap();
                let errors = apply(&mut f, Time::from_millis(20), &up.batch);
                prop_assert!(errors.is_empty(), "update errors: {:?}", errors);
                let y2 = &r.trees[&group.addr];
                for s in &hosts {
                    let at = topo.host(*s).unwrap().at;
                    if !y2.tree().contains(at.dpid) {
                        continue; // cut off by the failure
                    }
                    let r = f.trace(s.to_string().as_str(), &datagram(&topo, *s, x1)).unwrap();
                    let res = check(&r, &expect(&subset, *s), y2.ports());
                    prop_assert!(res.is_ok(), "after failure, X1 from {}: {:?}", s, res);
                }
            }
        }
    }
}

#[test]
fn rules_expire_at_the_hard_timeout_and_say_so() {
    let topo = controller::fabrics::leaf_spine(2, 3, 2);
    let hosts: Vec<MacAddr> = topo.hosts().map(|h| h.mac).collect();
    let g = controller::NegotiatingGroup::new("239.0.0.7".parse().unwrap(), hosts.clone());
    let y = controller::GroupTree::compute(&topo, &g).unwrap();
    let s: BTreeSet<MacAddr> = [hosts[1], hosts[4]].into();
    let plan = plan_subset(&topo, &y, &s).unwrap();
    let x: IpAddr = "239.200.0.9".parse().unwrap();
    let rule = Rule::new(x, 0xfeed, Duration::from_millis(1500)).unwrap();
    let inst = Installation::new(&plan, rule, &mut GroupIds::new()).unwrap();
    let mut f = sim(&topo);
    assert!(apply(&mut f, Time::ZERO, &inst.install()).is_empty());
    let pkt = datagram(&topo, hosts[0], x);
    let want: BTreeSet<MacAddr> = s.clone();
    check(
        &f.trace(hosts[0].to_string().as_str(), &pkt).unwrap(),
        &want,
        y.ports(),
    )
    .unwrap();

    // 1.5 s rounds up to 2 s: still there at 1.9 s, gone at 2 s, with a FLOW_REMOVED carrying
    // the trace id from every switch.
    let mut removed = 0;
    for (t, alive) in [(1900, true), (2000, false)] {
        let now = Time::from_millis(t);
        for d in topo.switches() {
            let sw = f.switch_mut(DatapathId(d.0)).unwrap();
            sw.handle_timeout(now);
            while let Some(m) = sw.poll_output() {
                if let Body::FlowRemoved(fr) = m.body {
                    assert_eq!(fr.cookie, openflow::Cookie(0xfeed));
                    removed += 1;
                }
            }
        }
        let r = f.trace(hosts[0].to_string().as_str(), &pkt).unwrap();
        assert_eq!(
            !r.deliveries.is_empty(),
            alive,
            "at {t} ms: {:?}",
            r.hosts()
        );
    }
    assert_eq!(removed, plan.switches().count());

    // Removal after expiry: the flow deletes find nothing, the group deletes clean up, and
    // the switches report no error.
    let (rm, _) = inst.remove();
    assert!(apply(&mut f, Time::from_millis(2100), &rm).is_empty());
    assert!(f.switches().all(|p| p.group_count() == 0));
}
