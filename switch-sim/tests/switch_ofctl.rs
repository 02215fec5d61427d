//! `ovs-ofctl` drives switch-sim through its passive listener: groups and flows added with
//! `add-group`/`add-flow` come back from `dump-groups`/`dump-flows` as Open vSwitch prints
//! them, `dump-ports-desc` lists the ports, and `del-flows` empties the tables. Open vSwitch's
//! own client is the independent judge of the agent's replies (it refuses a TABLE_FEATURES
//! reply it finds incomplete, multipart replies it cannot reassemble, and so on).
//!
//! The test command installs `openvswitch-switch`; a missing `ovs-ofctl` fails the test.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed assertion

use std::net::SocketAddr;
use std::process::Command;

use switch_sim::ports::{memory_link, MemoryEnd, PortSpec};
use switch_sim::{Switch, SwitchHandle};

fn ofctl(addr: SocketAddr, cmd: &str, args: &[&str]) -> String {
    let out = Command::new("ovs-ofctl")
        .args([
            "-O",
            "OpenFlow13",
            "--timeout=10",
            cmd,
            &format!("tcp:{addr}"),
        ])
        .args(args)
        .output()
        .expect(
            "ovs-ofctl is missing: apt-get install openvswitch-switch (scripts/test does this)",
        );
    assert!(
        out.status.success(),
        "ovs-ofctl {cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The entries of a `dump-flows` listing without the counters that change between dumps.
fn flows(dump: &str) -> Vec<String> {
    dump.lines()
        .filter(|l| l.contains("actions="))
        .map(|l| {
            l.trim()
                .split(", ")
                .filter(|f| {
                    ![
                        "duration=",
                        "n_packets=",
                        "n_bytes=",
                        "idle_age=",
                        "hard_age=",
                    ]
                    .iter()
                    .any(|p| f.trim_start().starts_with(p))
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect()
}

fn switch(n_ports: u32) -> (SwitchHandle, Vec<MemoryEnd>) {
    let mut b = Switch::builder().dpid(0x42).listen("ptcp:0:127.0.0.1");
    let mut hosts = Vec::new();
    for i in 1..=n_ports {
        let (port, host) = memory_link();
        b = b.port(i, PortSpec::memory(port).named(format!("sw-eth{i}")));
        hosts.push(host);
    }
    (b.start().unwrap(), hosts)
}

#[test]
fn add_dump_delete_with_ovs_ofctl() {
    let (sw, _hosts) = switch(3);
    let addr = sw.listen_addrs()[0];

    let ports = ofctl(addr, "dump-ports-desc", &[]);
    for i in 1..=3 {
        assert!(
            ports.contains(&format!(" {i}(sw-eth{i}): addr:")),
            "port {i} missing from:\n{ports}"
        );
    }

    ofctl(
        addr,
        "add-group",
        &["group_id=7,type=all,bucket=output:1,bucket=output:3"],
    );
    ofctl(
        addr,
        "add-group",
        &["group_id=8,type=select,bucket=weight:1,output:2,bucket=weight:3,output:3"],
    );
    ofctl(
        addr,
        "add-flow",
        &["table=0,priority=100,ip,nw_dst=239.1.2.3,actions=group:7"],
    );
    ofctl(
        addr,
        "add-flow",
        &["table=0,priority=50,cookie=0x1234,udp,tp_dst=5000,actions=output:2"],
    );
    ofctl(addr, "add-flow", &["table=1,priority=0,actions=drop"]);

    let groups = ofctl(addr, "dump-groups", &[]);
    let groups: Vec<&str> = groups
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("group_id="))
        .collect();
    assert_eq!(
        groups,
        vec![
            "group_id=7,type=all,bucket=actions=output:1,bucket=actions=output:3",
            // ovs-ofctl leaves out the default weight of 1.
            "group_id=8,type=select,bucket=actions=output:2,bucket=weight:3,actions=output:3",
        ]
    );

    let dumped = flows(&ofctl(addr, "dump-flows", &[]));
    assert_eq!(
        dumped,
        vec![
            "cookie=0x0, table=0, priority=100,ip,nw_dst=239.1.2.3 actions=group:7",
            "cookie=0x1234, table=0, priority=50,udp,tp_dst=5000 actions=output:2",
            "cookie=0x0, table=1, priority=0 actions=drop",
        ]
    );
    // Filtered dumps are answered by the switch, not by ovs-ofctl.
    assert_eq!(
        flows(&ofctl(addr, "dump-flows", &["table=1"])),
        vec!["cookie=0x0, table=1, priority=0 actions=drop"]
    );

    ofctl(addr, "del-flows", &["udp"]);
    assert_eq!(flows(&ofctl(addr, "dump-flows", &[])).len(), 2);
    ofctl(addr, "del-flows", &[]);
    assert!(flows(&ofctl(addr, "dump-flows", &[])).is_empty());
    // Groups outlive flow deletion; del-groups removes them.
    assert_eq!(
        ofctl(addr, "dump-groups", &[])
            .lines()
            .filter(|l| l.contains("group_id="))
            .count(),
        2
    );
    ofctl(addr, "del-groups", &[]);
    assert!(!ofctl(addr, "dump-groups", &[]).contains("group_id="));
    sw.join();
}

#[test]
fn refusals_reach_ovs_ofctl_as_errors() {
    let (sw, _hosts) = switch(1);
    let addr = sw.listen_addrs()[0];
    // A flow that names a group the switch does not have.
    let out = Command::new("ovs-ofctl")
        .args([
            "-O",
            "OpenFlow13",
            "--timeout=10",
            "add-flow",
            &format!("tcp:{addr}"),
        ])
        .arg("priority=1,actions=group:99")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("OFPBAC_BAD_OUT_GROUP"), "{err}");
    // The switch is still there and empty.
    assert!(flows(&ofctl(addr, "dump-flows", &[])).is_empty());
    sw.join();
}
