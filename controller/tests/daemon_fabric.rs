//! tsmd end to end on a software fabric: the real daemon in-process, switch-sim switches that
//! connect over TCP with real OpenFlow, hosts that send real frames. Discovery through the
//! API, groups, subsets that deliver exactly from the moment the API answers 201, DELETE and
//! lease expiry that leave the address reaching nobody and no rule behind.
#![cfg(feature = "daemon")]
#![allow(clippy::unwrap_used)]

mod daemon_common;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use api::{CallOptions, GroupName, GroupSpec, LinkState, SubsetRequest, TraceId, Upsert};
use controller::EventKind;
use daemon_common::{eventually, holders, installed, settings, Fabric, Spec, TestDaemon};

fn spec() -> Spec {
    Spec {
        spines: 2,
        leaves: 3,
        hosts_per_leaf: 2,
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

async fn boot() -> (tempfile::TempDir, TestDaemon, Fabric) {
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(settings(dir.path())).await;
    let of = d.of_addr();
    let f = Fabric::leaf_spine(&spec(), |_| format!("tcp:{of}"), |_, b| b);
    f.wait_discovered(&d.client).await;
    (dir, d, f)
}

fn names<'a>(v: &[&'a str]) -> BTreeSet<&'a str> {
    v.iter().copied().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_groups_subsets_and_delete() {
    let (_dir, mut d, mut f) = boot().await;
    let c = d.client.clone();

    // Switches: every one, with its ports and the address it connected from.
    let sw = c.switches().await.unwrap();
    let dpids: BTreeSet<u64> = sw.iter().map(|s| s.dpid.0).collect();
    assert_eq!(dpids, f.switches.keys().copied().collect());
    for s in &sw {
        assert!(
            s.peer
                .as_deref()
                .is_some_and(|p| p.starts_with("127.0.0.1:")),
            "{s:?}"
        );
        assert!(s.connected_since > 0 && s.connected_since <= now_ms());
        let want_ports = if s.dpid.0 < 0x100 { 3 } else { 4 };
        assert_eq!(s.ports.len(), want_ports, "{s:?}");
        assert!(s.ports.iter().all(|p| p.state == LinkState::Up));
    }
    // Links: exactly the fabric's, both ends.
    let links: BTreeSet<((u64, u32), (u64, u32))> = c
        .links()
        .await
        .unwrap()
        .iter()
        .map(|l| ((l.a.dpid.0, l.a.port), (l.b.dpid.0, l.b.port)))
        .collect();
    let want: BTreeSet<((u64, u32), (u64, u32))> = f
        .links
        .iter()
        .map(|(a, pa, b, pb, _)| ((*a, *pa), (*b, *pb)))
        .collect();
    assert_eq!(links, want);
    // Hosts: every one where it is attached.
    let hosts = c.hosts().await.unwrap();
    for h in &f.hosts {
        let seen = hosts.iter().find(|x| x.ip == IpAddr::V4(h.ip)).unwrap();
        assert_eq!(
            (seen.mac.0, seen.dpid.0, seen.port),
            (h.mac.0, h.dpid, h.port),
            "{}",
            h.name
        );
    }

    // A group: created, replaced without change, replaced with a change (version).
    let g: GroupName = "storage".parse().unwrap();
    let all: Vec<IpAddr> = f.hosts.iter().map(|h| IpAddr::V4(h.ip)).collect();
    let addr: IpAddr = "239.1.1.1".parse().unwrap();
    let spec = |members: Vec<IpAddr>| GroupSpec {
        address: addr,
        members: members.into(),
    };
    let r = c.put_group(&g, &spec(all[..5].to_vec())).await.unwrap();
    assert!(
        matches!(&r, Upsert::Created(x) if x.version == 1 && x.members.len() == 5),
        "{r:?}"
    );
    let r = c.put_group(&g, &spec(all[..5].to_vec())).await.unwrap();
    assert!(matches!(&r, Upsert::Replaced(x) if x.version == 1), "{r:?}");
    let r = c.put_group(&g, &spec(all.clone())).await.unwrap();
    assert!(
        matches!(&r, Upsert::Replaced(x) if x.version == 2 && x.members.len() == 6),
        "{r:?}"
    );
    assert_eq!(c.group(&g).await.unwrap().version, 2);
    assert_eq!(c.groups().await.unwrap().len(), 1);

    // A subset: answered only once installed, so a datagram sent right after the answer
    // already reaches exactly the subset, from a member and from a non-member.
    let members = vec![f.ip("h2"), f.ip("h4"), f.ip("h5")];
    let trace = TraceId::new(0x00c0_ffee_0000_0042).unwrap();
    let before = now_ms();
    let s = c
        .create_subset_with(
            &g,
            &SubsetRequest {
                members: members.clone(),
                lease_ms: 30_000,
            },
            &CallOptions::new().trace_id(trace),
        )
        .await
        .unwrap();
    f.check_delivery("h1", s.address, &names(&["h2", "h4", "h5"]))
        .await
        .unwrap();
    f.check_delivery("h4", s.address, &names(&["h2", "h4", "h5"]))
        .await
        .unwrap();
    assert_eq!(s.trace_id, trace);
    assert_eq!(s.lease_ms, 30_000);
    assert!(
        s.expires_at >= before + 30_000 && s.expires_at <= now_ms() + 30_000,
        "{s:?}"
    );
    let in_pool = |a: IpAddr| matches!(a, IpAddr::V4(v) if v.octets()[..2] == [239, 192]);
    assert!(in_pool(s.address), "{s:?}");
    // The rules carry the trace id as cookie, on exactly the switches the API names.
    let inst = installed(&f).await;
    let listed: BTreeSet<u64> = s.switches.iter().map(|d| d.0).collect();
    assert_eq!(holders(&inst, trace.get()), listed);
    assert_eq!(c.subsets().await.unwrap(), vec![s.clone()]);
    assert_eq!(c.subset(s.address).await.unwrap(), s);

    // A second subset without a trace id gets one of ours, and its own address.
    let s2 = c
        .create_subset(
            &g,
            &SubsetRequest {
                members: vec![f.ip("h1"), f.ip("h6")],
                lease_ms: 30_000,
            },
        )
        .await
        .unwrap();
    assert_ne!(s2.address, s.address);
    assert_ne!(s2.trace_id, trace);
    f.check_delivery("h3", s2.address, &names(&["h1", "h6"]))
        .await
        .unwrap();

    // DELETE: the address reaches nobody, no flow or group of it is left.
    let mut events = d.handle().subscribe();
    c.delete_subset(s.address).await.unwrap();
    f.check_delivery("h1", s.address, &BTreeSet::new())
        .await
        .unwrap();
    let e = c.subset(s.address).await.unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
    let inst = installed(&f).await;
    assert!(holders(&inst, trace.get()).is_empty(), "{inst:?}");
    let ev = eventually("the removal event", Duration::from_secs(2), || {
        let r = events.try_recv().ok();
        async move { r.filter(|e| matches!(e.kind, EventKind::SubsetRemoved { .. })) }
    })
    .await;
    assert!(matches!(ev.kind, EventKind::SubsetRemoved { addr, .. } if addr == s.address));
    // The other subset is untouched.
    f.check_delivery("h3", s2.address, &names(&["h1", "h6"]))
        .await
        .unwrap();

    // Deleting the group removes its subsets too (the answer comes when their removal is
    // sent; the switches confirm it a moment later).
    c.delete_group(&g).await.unwrap();
    assert!(c.subsets().await.unwrap().is_empty());
    eventually(
        "the group's subsets to leave no rule",
        Duration::from_secs(3),
        || {
            let f = &f;
            async move {
                installed(f)
                    .await
                    .values()
                    .all(|i| i.flows.is_empty() && i.groups.is_empty())
                    .then_some(())
            }
        },
    )
    .await;
    f.check_delivery("h3", s2.address, &BTreeSet::new())
        .await
        .unwrap();

    assert!(c.healthz().await.unwrap().status == "ok");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_expire_on_time_and_leave_nothing() {
    let (_dir, mut d, mut f) = boot().await;
    let c = d.client.clone();
    let g: GroupName = "video".parse().unwrap();
    let all: Vec<IpAddr> = f.hosts.iter().map(|h| IpAddr::V4(h.ip)).collect();
    c.put_group(
        &g,
        &GroupSpec {
            address: "239.2.2.2".parse().unwrap(),
            members: all.into(),
        },
    )
    .await
    .unwrap();
    let mut events = d.handle().subscribe();
    // A sub-second lease: the controller's own timer ends it (the switch's hard timeout,
    // rounded up to 1 s, is the backstop).
    let t0 = tokio::time::Instant::now();
    let s = c
        .create_subset(
            &g,
            &SubsetRequest {
                members: vec![f.ip("h1"), f.ip("h3"), f.ip("h6")],
                lease_ms: 700,
            },
        )
        .await
        .unwrap();
    f.check_delivery("h2", s.address, &names(&["h1", "h3", "h6"]))
        .await
        .unwrap();
    let addr = s.address;
    eventually("the lease to end", Duration::from_secs(5), || {
        let r = events.try_recv().ok();
        async move {
            r.filter(|e| {
                matches!(e.kind, EventKind::SubsetRemoved { addr: a, reason: controller::RemovalReason::Expired } if a == addr)
            })
        }
    })
    .await;
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(650) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    assert!(c.subsets().await.unwrap().is_empty());
    // The event marks the start of the removal; the switches confirm it a moment later.
    let inst = eventually("the rules to go", Duration::from_secs(3), || {
        let f = &f;
        async move {
            let inst = installed(f).await;
            inst.values()
                .all(|i| i.flows.is_empty() && i.groups.is_empty())
                .then_some(inst)
        }
    })
    .await;
    f.check_delivery("h2", addr, &BTreeSet::new())
        .await
        .unwrap();
    assert_eq!(inst.len(), 5);
    // The address went back to the pool, but a freed address comes back only after the rest
    // of the range (a switch may still cache a datapath flow for it for a few ms).
    let s2 = c
        .create_subset(
            &g,
            &SubsetRequest {
                members: vec![f.ip("h2")],
                lease_ms: 5_000,
            },
        )
        .await
        .unwrap();
    assert_ne!(s2.address, addr);
    f.check_delivery("h5", s2.address, &names(&["h2"]))
        .await
        .unwrap();
    d.stop().await;
}
