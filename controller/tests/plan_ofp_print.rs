//! The rule builder's messages as Open vSwitch reads them (`ovs-ofctl ofp-print`, an
//! independent decoder). Skipped when `ovs-ofctl` is not installed.

// A panic in a test is a failed assertion.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use controller::fabrics::leaf_spine;
use controller::rules::{GroupIds, Installation, Rule};
use controller::{plan_subset, Dpid, GroupTree, NegotiatingGroup};
use openflow::{Message, Xid};

fn ofp_print(msg: &Message) -> Option<String> {
    let hex: String = msg
        .encode()
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let out = Command::new("ovs-ofctl")
        .arg("ofp-print")
        .arg(&hex)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "ovs-ofctl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn printed(dst: &str) -> Option<Vec<String>> {
    let topo = leaf_spine(2, 3, 2);
    let hosts: Vec<_> = topo.hosts().map(|h| h.mac).collect();
    let g = NegotiatingGroup::new("239.0.0.1".parse().unwrap(), hosts.iter().copied());
    let y = GroupTree::compute(&topo, &g).unwrap();
    let s = [hosts[0], hosts[2], hosts[5]].into();
    let plan = plan_subset(&topo, &y, &s).unwrap();
    let dst: IpAddr = dst.parse().unwrap();
    let rule = Rule::new(dst, 0x1234_5678_9abc_def0, Duration::from_millis(2500)).unwrap();
    let inst = Installation::new(&plan, rule, &mut GroupIds::new()).unwrap();
    let leaf = Dpid(3);
    let msgs = inst.install().messages();
    let mut out = Vec::new();
    for (i, body) in msgs[&leaf].iter().enumerate() {
        out.push(ofp_print(&Message::new(Xid(i as u32 + 1), body.clone()))?);
    }
    let (removal, _) = inst.remove();
    for (i, body) in removal.messages()[&leaf].iter().enumerate() {
        out.push(ofp_print(&Message::new(Xid(i as u32 + 10), body.clone()))?);
    }
    Some(out)
}

#[test]
fn ovs_reads_the_ipv4_rules_as_meant() {
    let Some(p) = printed("239.1.2.3") else {
        eprintln!("ovs-ofctl not installed: skipped");
        return;
    };
    for (i, text) in p.iter().enumerate() {
        eprintln!("--- {i}\n{text}");
    }
    assert_eq!(p.len(), 8);
    // Leaf 3: ports 1, 2 to the spines, 3 and 4 to hosts 1 and 2; host 1 is in S, host 2 is
    // not; the tree reaches the other leaves through one spine.
    assert!(p[0].contains("OFPT_GROUP_MOD (OF1.3)"), "{}", p[0]);
    assert!(p[0].contains("ADD group_id=1,type=all,bucket="), "{}", p[0]);
    assert!(p[0].contains("actions=output:3"), "{}", p[0]);
    assert!(!p[0].contains("output:4"), "{}", p[0]);
    assert!(p[1].contains("OFPT_BARRIER_REQUEST (OF1.3)"), "{}", p[1]);
    assert!(p[2].contains("OFPT_FLOW_MOD (OF1.3)"), "{}", p[2]);
    for want in [
        "ADD",
        "priority=36864",
        "ip,nw_dst=239.1.2.3",
        "cookie:0x123456789abcdef0",
        "hard:3",
        "send_flow_rem",
        "actions=group:1",
    ] {
        assert!(p[2].contains(want), "{want} missing: {}", p[2]);
    }
    assert!(p[3].contains("OFPT_BARRIER_REQUEST"), "{}", p[3]);
    // Removal: strict delete with the cookie under a full mask, then the group.
    assert!(p[4].contains("DEL_STRICT"), "{}", p[4]);
    assert!(
        p[4].contains("cookie:0x123456789abcdef0/0xffffffffffffffff"),
        "{}",
        p[4]
    );
    assert!(
        p[4].contains("priority=36864,ip,nw_dst=239.1.2.3"),
        "{}",
        p[4]
    );
    assert!(p[5].contains("OFPT_BARRIER_REQUEST"), "{}", p[5]);
    assert!(p[6].contains("DEL group_id=1"), "{}", p[6]);
    assert!(p[7].contains("OFPT_BARRIER_REQUEST"), "{}", p[7]);
}

#[test]
fn ovs_reads_the_ipv6_rules_as_meant() {
    let Some(p) = printed("ff3e::8000:7") else {
        return;
    };
    assert!(p[2].contains("ipv6,ipv6_dst=ff3e::8000:7"), "{}", p[2]);
    assert!(p[4].contains("ipv6,ipv6_dst=ff3e::8000:7"), "{}", p[4]);
}
