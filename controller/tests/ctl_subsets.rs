//! The main property, end to end on virtual time: random fabrics (trees, leaf-spines, meshes,
//! rings, random graphs) discovered by the controller, a random negotiating group, random
//! subsets created through commands. Once a command is answered, real UDP datagrams traced
//! through the switch-sim pipelines from every host (member or not, on any switch) reach each
//! subset member other than the sender exactly once, nobody else, with no loop, no link
//! carrying two copies, and no copy leaving by a port outside the group's P_Y. A deleted
//! subset and an expired one reach nobody, and leave no rule, no group id and no address
//! behind.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use common::{
    all_subset_rules, boot, check_exact, config, ip_of, names, put_group, reaches_nobody, subset,
};
use controller::fabrics::arb;
use controller::{Command, Dpid, EventKind, RemovalReason, Reply, SubsetState, Topology};
use openflow::oxm::MacAddr;
use proptest::prelude::*;
use proptest::sample::subsequence;

#[derive(Clone, Debug)]
struct Case {
    topo: Topology,
    addr: IpAddr,
    members: Vec<MacAddr>,
    subsets: Vec<Vec<MacAddr>>,
}

/// A group address outside the subset pools: 239.1/16 or ff3e::/16.
fn group_addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 2]>().prop_map(|b| IpAddr::V4(Ipv4Addr::new(239, 1, b[0], b[1]))),
        any::<u32>().prop_map(|x| IpAddr::V6(Ipv6Addr::new(
            0xff3e,
            0,
            0,
            0,
            0,
            0,
            (x >> 16) as u16,
            x as u16
        ))),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    arb::fabric().prop_flat_map(|topo| {
        let hosts: Vec<MacAddr> = topo.hosts().map(|h| h.mac).collect();
        let n = hosts.len();
        (subsequence(hosts, 1..=n), group_addr()).prop_flat_map(move |(members, addr)| {
            let topo = topo.clone();
            let m = members.len();
            prop::collection::vec(subsequence(members.clone(), 1..=m), 1..4).prop_map(
                move |subsets| Case {
                    topo: topo.clone(),
                    addr,
                    members: members.clone(),
                    subsets,
                },
            )
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn subsets_deliver_exactly_and_leave_nothing_behind(c in case()) {
        let mut net = boot(&c.topo, config());
        let ips = |macs: &[MacAddr]| macs.iter().map(|m| ip_of(&c.topo, *m)).collect::<Vec<_>>();
        put_group(&mut net, "y", c.addr, ips(&c.members));
        let p_y = net.ctl().group_tree("y").unwrap().ports().clone();

        let mut live = Vec::new();
        for (i, s) in c.subsets.iter().enumerate() {
            // Leases of 20 s, 40 s, ...; the last one sub-second.
            let lease = if i + 1 == c.subsets.len() && i > 0 {
                Duration::from_millis(700)
            } else {
                Duration::from_secs(20 * (i as u64 + 1))
            };
            let info = subset(&mut net, "y", ips(s), lease);
            prop_assert_eq!(info.state, SubsetState::Ready);
            prop_assert_eq!(info.addr.is_ipv4(), c.addr.is_ipv4());
            let to = names(&s.iter().copied().collect());
            check_exact(&net, info.addr, &to, Some(&p_y)).map_err(TestCaseError::fail)?;
            live.push((info, to));
        }
        // Every subset still delivers exactly with the others installed.
        for (info, to) in &live {
            check_exact(&net, info.addr, to, Some(&p_y)).map_err(TestCaseError::fail)?;
        }

        // DELETE: the address reaches nobody; the others are untouched.
        let (first, _) = live.remove(0);
        let r = net.exec(Command::DeleteSubset { addr: first.addr });
        prop_assert_eq!(r, Ok(Reply::SubsetDeleted { addr: first.addr }));
        reaches_nobody(&net, first.addr).map_err(TestCaseError::fail)?;
        for (info, to) in &live {
            if info.expires_at > net.now() {
                check_exact(&net, info.addr, to, Some(&p_y)).map_err(TestCaseError::fail)?;
            }
        }

        // Leases: after the longest one, nothing is left anywhere.
        net.run_for(Duration::from_secs(20 * c.subsets.len() as u64 + 1));
        for (info, _) in &live {
            reaches_nobody(&net, info.addr).map_err(TestCaseError::fail)?;
            let expired = EventKind::SubsetRemoved {
                addr: info.addr,
                reason: RemovalReason::Expired,
            };
            prop_assert!(net.events().iter().any(|e| e.kind == expired), "no expiry event");
        }
        prop_assert!(net.ctl().subsets().is_empty());
        prop_assert_eq!(net.ctl().pool().used().count(), 0);
        for d in c.topo.switches() {
            prop_assert_eq!(net.ctl().group_ids_in_use(Dpid(d.0)), 0);
        }
        prop_assert_eq!(all_subset_rules(&mut net), (0, 0));
        prop_assert_eq!(net.ctl().pending_operations(), 0);
    }
}

/// A lease shorter than a second ends on the controller's own timer, long before the
/// switch's hard timeout (rounded up to 1 s) would.
#[test]
fn sub_second_leases_end_on_time() {
    let topo = controller::fabrics::leaf_spine(2, 3, 2);
    let mut net = boot(&topo, config());
    let hosts: Vec<MacAddr> = topo.hosts().map(|h| h.mac).collect();
    let ips: Vec<IpAddr> = hosts.iter().map(|m| ip_of(&topo, *m)).collect();
    put_group(&mut net, "g", "239.1.0.1".parse().unwrap(), ips.clone());
    let start = net.now();
    let s = subset(&mut net, "g", ips[..3].to_vec(), Duration::from_millis(250));
    let to: BTreeSet<String> = names(&hosts[..3].iter().copied().collect());
    check_exact(&net, s.addr, &to, None).unwrap();
    net.run_until(Duration::from_secs(1), |n| n.ctl().subsets().is_empty());
    let gone = net.now().saturating_since(start);
    assert!(gone <= Duration::from_millis(260), "removed after {gone:?}");
    reaches_nobody(&net, s.addr).unwrap();
}

/// The same inputs at the same times give the same outputs, message for message.
#[test]
fn the_controller_is_deterministic() {
    let run = || {
        let topo = controller::fabrics::full_mesh(4, 2);
        let mut net = boot(&topo, config());
        let hosts: Vec<MacAddr> = topo.hosts().map(|h| h.mac).collect();
        let ips: Vec<IpAddr> = hosts.iter().map(|m| ip_of(&topo, *m)).collect();
        put_group(&mut net, "g", "239.1.0.2".parse().unwrap(), ips.clone());
        for k in 1..4 {
            subset(
                &mut net,
                "g",
                ips[..=k].to_vec(),
                Duration::from_secs(5 * k as u64),
            );
        }
        net.run_for(Duration::from_secs(30));
        let sent: Vec<String> = (1..=4)
            .flat_map(|d| {
                net.sent(d)
                    .iter()
                    .map(|m| format!("{m:?}"))
                    .collect::<Vec<_>>()
            })
            .collect();
        let events: Vec<String> = net.events().iter().map(|e| format!("{e:?}")).collect();
        (sent, events)
    };
    let (a, b) = (run(), run());
    assert!(!a.0.is_empty() && !a.1.is_empty());
    assert_eq!(a, b);
}
