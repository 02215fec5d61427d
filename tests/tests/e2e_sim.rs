//! tsmd end to end on switch-sim: the real daemon in this process, one `switch-sim` process
//! per switch in a private namespace, ports on veth pairs, real UDP between host namespaces.
//! The scenarios are `tsm_tests::scenarios`, the very functions `tests/e2e_ovs.rs` runs on
//! Open vSwitch, with the same seeds and expectations.
//!
//! Random choices come from a seed printed at the start; `TSM_E2E_SEED=N` replays it.
#![allow(clippy::unwrap_used)]

use tsm_tests::{scenarios, SimFabric, TopologySpec};

#[test]
fn e2e_single_switch() {
    scenarios::subsets_expiry_delete::<SimFabric>(TopologySpec::single(6)).unwrap();
}

#[test]
fn e2e_line_of_three() {
    scenarios::subsets_expiry_delete::<SimFabric>(TopologySpec::line(3, 2)).unwrap();
}

#[test]
fn e2e_leaf_spine() {
    scenarios::subsets_expiry_delete::<SimFabric>(TopologySpec::leaf_spine(2, 4, 2)).unwrap();
}

#[test]
fn e2e_ring() {
    scenarios::subsets_expiry_delete::<SimFabric>(TopologySpec::ring(4, 2)).unwrap();
}

#[test]
fn e2e_ring_link_failure_recomputes() {
    scenarios::ring_link_failure::<SimFabric>().unwrap();
}

#[test]
fn e2e_bad_input_is_refused_and_leaves_nothing() {
    scenarios::bad_input::<SimFabric>().unwrap();
}

#[test]
fn e2e_restart_reconciles_without_touching_live_subsets() {
    scenarios::restart_reconciles::<SimFabric>().unwrap();
}

/// The fabric itself, without tsmd: rules installed with `ovs-ofctl` through the switches'
/// listeners forward real UDP exactly; port counters, a restarted switch (empty tables, new
/// pid) and link state are visible; drop leaves no process, namespace or directory.
#[test]
fn sim_fabric_forwards_restarts_and_tears_down() {
    use tsm_tests::{netns, DataPlane};
    SimFabric::check_environment().unwrap();
    // s1: port 1 to s2, h1 on 2, h2 on 3; s2: port 1 to s1, h3 on 2, h4 on 3.
    let f = SimFabric::new(&TopologySpec::line(2, 2)).unwrap();
    let group: std::net::IpAddr = "239.1.1.1".parse().unwrap();
    f.ofctl(
        "add-group",
        "s1",
        &["group_id=1,type=all,bucket=output:1,bucket=output:3"],
    )
    .unwrap();
    f.ofctl(
        "add-flow",
        "s1",
        &["priority=100,udp,nw_dst=239.1.1.1,actions=group:1"],
    )
    .unwrap();
    f.ofctl(
        "add-flow",
        "s2",
        &["priority=100,in_port=1,udp,nw_dst=239.1.1.1,actions=output:3"],
    )
    .unwrap();
    let hosts = f.topology().host_names();
    let wait = std::time::Duration::from_secs(2);
    let d = f
        .send_and_collect("h1", group, 5000, b"sim", &hosts, wait)
        .unwrap();
    assert!(d.is_exactly(&["h2", "h4"]), "{d:?}");
    let tx = |sw: &str, port: u32| {
        f.port_counters(sw)
            .unwrap()
            .into_iter()
            .find(|c| c.port == port)
            .unwrap()
            .tx_packets
    };
    assert!(tx("s1", 1) >= 1 && tx("s2", 3) >= 1, "copies on the tree");
    assert_eq!(tx("s2", 2), 0, "a copy where no rule sends one");

    // A restarted switch comes back empty under a new pid: h4 no longer gets it.
    let before = f.switch("s2").unwrap();
    f.restart_switch("s2").unwrap();
    let after = f.switch("s2").unwrap();
    assert!(after.pid.is_some() && after.pid != before.pid && after.starts == 2);
    assert!(!f.dump_flows("s2").unwrap().contains("239.1.1.1"));
    let d = f
        .send_and_collect("h1", group, 5000, b"sim", &hosts, wait)
        .unwrap();
    assert!(d.is_exactly(&["h2"]), "{d:?}");

    // A link taken down shows in the port description (OFPPS_LINK_DOWN).
    f.set_link_up(0, false).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let desc = f.ofctl("dump-ports-desc", "s1", &[]).unwrap();
        let port1 = desc
            .split(" 1(")
            .nth(1)
            .and_then(|r| r.split(" 2(").next())
            .unwrap_or("")
            .to_owned();
        if port1.contains("LINK_DOWN") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "s1 port 1 not LINK_DOWN:\n{desc}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    let pids = f.pids();
    let names = f.namespace_names();
    let dir = f.dir().to_owned();
    assert_eq!(pids.len(), 2);
    drop(f);
    for pid in pids {
        assert!(!netns::pid_alive(pid), "switch-sim pid {pid} still runs");
    }
    let left = netns::list_names();
    for n in names {
        assert!(!left.contains(&n), "namespace {n} left");
    }
    assert!(!dir.exists(), "{} left", dir.display());
}

/// switch-sim only: a switch in the middle of the line restarts with empty tables while
/// subsets are live. tsmd sees it go and come back, reinstalls what it needs, and every
/// subset delivers exactly again (probed until exact, with a deadline).
#[test]
fn e2e_switch_restart_reinstalls() {
    use std::time::{Duration, Instant};
    use tsm_tests::e2e::{check_cases, wait_exact};
    use tsm_tests::DataPlane;
    let (e, mut rng, seed) =
        scenarios::setup::<SimFabric>(&TopologySpec::line(3, 2), |_| {}).unwrap();
    let members = scenarios::random_group(&e, &mut rng).unwrap();
    let cases = scenarios::subset_cases(&e, &mut rng, &members, 8).unwrap();
    let f = check_cases(&e, &cases).unwrap();
    assert!(f.is_empty(), "seed {seed}: before: {f:?}");
    assert!(e.fabric.dump_groups("s2").unwrap().contains("group_id="));

    let restarted = Instant::now();
    e.fabric.restart_switch("s2").unwrap();
    let took = wait_exact(&e, &cases, Duration::from_secs(15))
        .unwrap_or_else(|err| panic!("seed {seed}: after s2 restarted: {err}"));
    eprintln!(
        "s2 restarted: exact again {:?} after the restart (probing took {took:?})",
        restarted.elapsed()
    );
    assert!(
        e.fabric.dump_groups("s2").unwrap().contains("group_id="),
        "s2 delivers without groups?"
    );
    e.wait_discovered(Duration::from_secs(10)).unwrap();
}
