//! A tsmd restart with the same state directory: graceful shutdown returns promptly and
//! persists; the switches keep their rules while no controller runs (subsets keep
//! delivering, leases end by the switches' hard timeouts); the new tsmd restores the subsets
//! (same address, trace id, lease end) and reconciles without touching the rules that are
//! still right (their packet counters keep counting: they were never deleted and re-added).
#![cfg(feature = "daemon")]
#![allow(clippy::unwrap_used)]

mod daemon_common;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use api::{GroupName, GroupSpec, SubsetRequest};
use controller::daemon;
use controller::EventKind;
use daemon_common::{eventually, holders, installed, settings, Fabric, Spec, TestDaemon};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_restores_subsets_and_keeps_right_rules() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let of = daemon::bind("OpenFlow", "127.0.0.1:0".parse().unwrap()).unwrap();
    let of_addr = of.local_addr().unwrap();
    let mut a = TestDaemon::start_on(s.clone(), of).await;
    let spec = Spec {
        spines: 2,
        leaves: 3,
        hosts_per_leaf: 2,
    };
    let mut f = Fabric::leaf_spine(&spec, |_| format!("tcp:{of_addr}"), |_, b| b);
    f.wait_discovered(&a.client).await;
    let c = a.client.clone();
    let g: GroupName = "backup".parse().unwrap();
    let all: Vec<IpAddr> = f.hosts.iter().map(|h| IpAddr::V4(h.ip)).collect();
    c.put_group(
        &g,
        &GroupSpec {
            address: "239.4.4.4".parse().unwrap(),
            members: all.into(),
        },
    )
    .await
    .unwrap();
    let members = BTreeSet::from(["h2", "h4", "h5"]);
    let long = c
        .create_subset(
            &g,
            &SubsetRequest {
                members: vec![f.ip("h2"), f.ip("h4"), f.ip("h5")],
                lease_ms: 60_000,
            },
        )
        .await
        .unwrap();
    let short = c
        .create_subset(
            &g,
            &SubsetRequest {
                members: vec![f.ip("h1"), f.ip("h6")],
                lease_ms: 1_500,
            },
        )
        .await
        .unwrap();
    f.check_delivery("h1", long.address, &members)
        .await
        .unwrap();

    // Graceful shutdown: prompt, and the state is on disk.
    let took = a.stop().await;
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    let saved = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
    assert!(saved.contains(&long.address.to_string()), "{saved}");

    // No controller: the switches keep forwarding the subset (fail-secure), and the short
    // lease ends on the switches by its hard timeout.
    f.check_delivery("h3", long.address, &members)
        .await
        .unwrap();
    let trace_long = long.trace_id.get();
    let trace_short = short.trace_id.get();
    let down = eventually(
        "the short lease to end on the switches",
        Duration::from_secs(5),
        || {
            let f = &f;
            async move {
                let i = installed(f).await;
                holders(&i, trace_short).is_empty().then_some(i)
            }
        },
    )
    .await;
    let long_holders = holders(&down, trace_long);
    assert_eq!(
        long_holders,
        long.switches.iter().map(|d| d.0).collect::<BTreeSet<u64>>()
    );

    // The new tsmd on the same port and state directory.
    let of = daemon::bind("OpenFlow", of_addr).unwrap();
    let started = tokio::time::Instant::now();
    let mut b = TestDaemon::start_on(s.clone(), of).await;
    // From the start: the switches were queued on the listener and may be up before any
    // later subscription.
    let mut events = b.handle_mut().events_from_start().unwrap();
    let c = b.client.clone();
    // Restored at once: the ended lease is gone, the other is as it was.
    assert_eq!(c.subsets().await.unwrap(), vec![long.clone()]);
    assert_eq!(c.group(&g).await.unwrap().members.len(), 6);
    // The switches come back, are reconciled, the fabric is rediscovered; then the settle
    // time ends and the restored subset is re-planned on the whole fabric.
    f.wait_discovered(&c).await;
    let settled = s.restore_settle + Duration::from_millis(500);
    eventually(
        "the end of the settle time",
        settled + Duration::from_secs(5),
        || {
            let done = started.elapsed() > settled;
            async move { done.then_some(()) }
        },
    )
    .await;
    // Reconciliation sent nothing for the rules that are right; it only deleted the groups
    // the ended lease left behind (a group has no timeout; its flow ended on the switch).
    let after = installed(&f).await;
    let mut ups = 0;
    while let Ok(e) = events.try_recv() {
        match e.kind {
            EventKind::SwitchUp { dpid, reconciled } => {
                ups += 1;
                let d = dpid.0;
                assert_eq!(
                    (
                        reconciled.flows_added,
                        reconciled.flows_replaced,
                        reconciled.flows_deleted,
                        reconciled.groups_added,
                        reconciled.groups_modified,
                    ),
                    (0, 0, 0, 0, 0),
                    "switch {dpid}: {reconciled:?}"
                );
                assert_eq!(
                    reconciled.groups_deleted,
                    down[&d].groups.len() - after[&d].groups.len(),
                    "switch {dpid}: {reconciled:?}"
                );
            }
            EventKind::SubsetRerouted { addr } | EventKind::SubsetRemoved { addr, .. } => {
                panic!("subset {addr} touched after the restart: {:?}", e.kind)
            }
            _ => {}
        }
    }
    assert_eq!(ups, f.switches.len());
    // Same flows, never re-added: every packet counter kept counting.
    assert_eq!(holders(&after, trace_long), long_holders);
    for (dpid, i) in &after {
        let d = &down[dpid];
        assert_eq!(i.rules().0, d.rules().0, "switch {dpid:x}");
        assert!(i.groups.is_subset(&d.groups), "switch {dpid:x}");
        let want = usize::from(long_holders.contains(dpid));
        assert_eq!(i.groups.len(), want, "switch {dpid:x}: {i:?}");
        for (cookie, n) in &i.flows {
            assert!(
                *n >= d.flows[cookie],
                "switch {dpid:x}: the flow's counter went back: it was replaced"
            );
        }
    }
    let counted: u64 = after
        .values()
        .filter_map(|i| i.flows.get(&trace_long))
        .sum();
    assert!(counted >= 4, "{after:?}");
    f.check_delivery("h6", long.address, &members)
        .await
        .unwrap();

    // And the restarted tsmd works: a new subset, a delete.
    let n = c
        .create_subset(
            &g,
            &SubsetRequest {
                members: vec![f.ip("h1"), f.ip("h3")],
                lease_ms: 10_000,
            },
        )
        .await
        .unwrap();
    f.check_delivery("h5", n.address, &BTreeSet::from(["h1", "h3"]))
        .await
        .unwrap();
    c.delete_subset(long.address).await.unwrap();
    f.check_delivery("h1", long.address, &BTreeSet::new())
        .await
        .unwrap();
    let took = b.stop().await;
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
}
