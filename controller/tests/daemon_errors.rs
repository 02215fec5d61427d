//! Every bad input of issue 4 against the real tsmd, through the real `api::Client`: each is
//! an `application/problem+json` answer whose members name the culprit, and nothing is left
//! half-installed on any switch (read back from the switches over OpenFlow).
#![cfg(feature = "daemon")]
#![allow(clippy::unwrap_used)]

mod daemon_common;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use api::{
    ApiError, CallOptions, Client, ClientError, GroupName, GroupSpec, SubsetRequest, TraceId,
};
use daemon_common::{eventually, installed, settings, Fabric, HoldProxy, Spec, TestDaemon};

/// In the refusal test, leaf 0x103 holds one group at most (then it answers
/// OFPGMFC_OUT_OF_GROUPS); in the other, leaf 0x102 talks to tsmd through a proxy that can
/// hold its answers.
const REFUSER: u64 = 0x103;
const HELD: u64 = 0x102;

fn api_error(e: ClientError) -> (u16, ApiError) {
    let status = e.status().unwrap_or(0);
    match e {
        ClientError::Api { error, .. } => (status, *error),
        other => panic!("not a typed problem: {other}"),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

async fn subset(
    c: &Client,
    g: &GroupName,
    members: Vec<IpAddr>,
    lease_ms: u64,
) -> Result<api::Subset, (u16, ApiError)> {
    c.create_subset(g, &SubsetRequest { members, lease_ms })
        .await
        .map_err(api_error)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_problems_naming_the_culprit_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.pool_v4 = Some(controller::AddrRange::new(ip("239.192.0.0"), ip("239.192.0.1")).unwrap());
    s.max_lease = Duration::from_secs(10);
    s.request_timeout = Duration::from_secs(1);
    let mut d = TestDaemon::start(s).await;
    let of = d.of_addr();
    let proxy = HoldProxy::start(of).await;
    let via = proxy.addr;
    let spec = Spec {
        spines: 1,
        leaves: 3,
        hosts_per_leaf: 2,
    };
    let mut f = Fabric::leaf_spine(
        &spec,
        |dpid| format!("tcp:{}", if dpid == HELD { via } else { of }),
        |_, b| b,
    );
    f.wait_discovered(&d.client).await;
    let c = d.client.clone();
    let g: GroupName = "g".parse().unwrap();
    let (h1, h2, h3) = (f.ip("h1"), f.ip("h2"), f.ip("h3"));
    let nothing = installed(&f).await;
    assert!(nothing
        .values()
        .all(|i| i.flows.is_empty() && i.groups.is_empty()));

    // An unknown group.
    let e = subset(&c, &g, vec![h1], 1000).await.unwrap_err();
    assert_eq!(e, (404, ApiError::UnknownGroup { group: "g".into() }));

    // A unicast address as a group address.
    let e = c
        .put_group(
            &g,
            &GroupSpec {
                address: ip("10.1.2.3"),
                members: vec![h1].into(),
            },
        )
        .await
        .map_err(api_error)
        .unwrap_err();
    assert_eq!(
        e,
        (
            422,
            ApiError::NotMulticast {
                address: ip("10.1.2.3")
            }
        )
    );

    // The group: every host, and one that never showed up.
    let mut members: Vec<IpAddr> = f.hosts.iter().map(|h| IpAddr::V4(h.ip)).collect();
    members.push(ip("10.0.0.99"));
    c.put_group(
        &g,
        &GroupSpec {
            address: ip("239.3.3.3"),
            members: members.into(),
        },
    )
    .await
    .unwrap();

    // Members not in the group: all of them are named, in request order.
    let e = subset(&c, &g, vec![h1, ip("10.0.0.51"), h2, ip("10.0.0.50")], 1000)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        (
            422,
            ApiError::NotGroupMembers {
                group: "g".into(),
                members: vec![ip("10.0.0.51"), ip("10.0.0.50")]
            }
        )
    );

    // A member the fabric has never seen.
    let e = subset(&c, &g, vec![h1, ip("10.0.0.99")], 1000)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        (
            422,
            ApiError::UnknownHosts {
                hosts: vec![ip("10.0.0.99")]
            }
        )
    );

    // Leases of 0 and above the maximum.
    let e = subset(&c, &g, vec![h1], 0).await.unwrap_err();
    assert_eq!(
        e,
        (
            422,
            ApiError::LeaseOutOfRange {
                lease_ms: 0,
                max_lease_ms: 10_000
            }
        )
    );
    let e = subset(&c, &g, vec![h1], 10_001).await.unwrap_err();
    assert_eq!(
        e,
        (
            422,
            ApiError::LeaseOutOfRange {
                lease_ms: 10_001,
                max_lease_ms: 10_000
            }
        )
    );
    assert_eq!(installed(&f).await, nothing);

    // The pool (two addresses) runs out; the problem names it and its size.
    let a = subset(&c, &g, vec![h1], 9000).await.unwrap();
    let b = subset(&c, &g, vec![h2, h3], 9000).await.unwrap();
    let e = subset(&c, &g, vec![h3], 9000).await.unwrap_err();
    assert_eq!(
        e,
        (
            503,
            ApiError::PoolExhausted {
                pool: "239.192.0.0/31".into(),
                size: 2
            }
        )
    );
    // A trace id already in use is a conflict naming it.
    let t = b.trace_id;
    c.delete_subset(a.address).await.unwrap();
    let e = c
        .create_subset_with(
            &g,
            &SubsetRequest {
                members: vec![h1],
                lease_ms: 9000,
            },
            &CallOptions::new().trace_id(t),
        )
        .await
        .map_err(api_error)
        .unwrap_err();
    assert!(
        matches!(&e, (409, ApiError::Conflict { resource, .. }) if resource == &format!("trace id {t}")),
        "{e:?}"
    );
    c.delete_subset(b.address).await.unwrap();
    // Unknown subsets.
    let e = c
        .delete_subset(a.address)
        .await
        .map_err(api_error)
        .unwrap_err();
    assert_eq!(
        e,
        (
            404,
            ApiError::NotFound {
                resource: format!("subset {}", a.address)
            }
        )
    );
    assert_eq!(installed(&f).await, nothing);

    // A switch that takes the rules but never confirms them: after request_timeout the
    // request answers 504 naming the switches, and the subset is rolled back.
    proxy.hold(true);
    let e = subset(&c, &g, vec![h1, h3], 9000).await.unwrap_err();
    match &e {
        (
            504,
            ApiError::Timeout {
                switches, after_ms, ..
            },
        ) => {
            assert_eq!(*after_ms, 1000);
            assert!(switches.iter().any(|d| d.0 == HELD), "{switches:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(c.subsets().await.unwrap().is_empty());
    proxy.hold(false);
    // Once the held switch is back (or reconnected and reconciled), nothing of it is left.
    let clean = eventually(
        "the timed-out subset to leave no rule",
        Duration::from_secs(10),
        || {
            let f = &f;
            let nothing = &nothing;
            async move {
                let now = installed(f).await;
                (now.iter()
                    .all(|(k, v)| nothing.get(k).map(|n| n.rules()) == Some(v.rules())))
                .then_some(now)
            }
        },
    )
    .await;
    assert_eq!(clean.len(), f.switches.len());
    // A client that disconnects while its subset is installing: the install runs to its end
    // in the core, nobody can be told the address, so the subset is removed again.
    proxy.hold(true);
    let (c2, g2) = (c.clone(), g.clone());
    let req = tokio::spawn(async move {
        c2.create_subset(
            &g2,
            &SubsetRequest {
                members: vec![h1, h3],
                lease_ms: 9000,
            },
        )
        .await
    });
    eventually(
        "the install to reach the held switch",
        Duration::from_secs(3),
        || {
            let f = &f;
            async move { (!installed(f).await[&HELD].flows.is_empty()).then_some(()) }
        },
    )
    .await;
    req.abort();
    proxy.hold(false);
    eventually(
        "the abandoned subset to leave no rule",
        Duration::from_secs(10),
        || {
            let f = &f;
            let nothing = &nothing;
            async move {
                let now = installed(f).await;
                now.iter()
                    .all(|(k, v)| nothing.get(k).map(|n| n.rules()) == Some(v.rules()))
                    .then_some(())
            }
        },
    )
    .await;
    assert!(c.subsets().await.unwrap().is_empty());

    // And both pool addresses are free again: the switch works normally.
    f.wait_discovered(&c).await;
    let ok = subset(&c, &g, vec![h3], 9000).await.unwrap();
    f.check_delivery("h1", ok.address, &BTreeSet::from(["h3"]))
        .await
        .unwrap();

    // Malformed bodies are problem+json too, with the position.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/v1/groups/g/subsets", d.handle().base_url()))
        .header("content-type", "application/json")
        .body("{\"members\": [\"10.0.0.1\"], \"lease_ms\": }")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["type"], "https://tsm.invalid/problems/malformed-json");
    assert_eq!(p["line"], 1);

    d.stop().await;
    drop(proxy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_switch_rolls_the_subset_back_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = TestDaemon::start(settings(dir.path())).await;
    let of = d.of_addr();
    let spec = Spec {
        spines: 1,
        leaves: 3,
        hosts_per_leaf: 2,
    };
    // Every leaf carries every subset (any host may send), so the refuser takes the first
    // subset's group and refuses the second's after the other switches installed theirs.
    let mut f = Fabric::leaf_spine(
        &spec,
        |_| format!("tcp:{of}"),
        |dpid, b| {
            if dpid == REFUSER {
                let mut cfg = switch_sim::Config::with_dpid(dpid);
                cfg.max_groups = 1;
                b.pipeline_config(cfg)
            } else {
                b
            }
        },
    );
    f.wait_discovered(&d.client).await;
    let c = d.client.clone();
    let g: GroupName = "g".parse().unwrap();
    let members: Vec<IpAddr> = f.hosts.iter().map(|h| IpAddr::V4(h.ip)).collect();
    c.put_group(
        &g,
        &GroupSpec {
            address: ip("239.3.3.3"),
            members: members.into(),
        },
    )
    .await
    .unwrap();
    let (h1, h5) = (f.ip("h1"), f.ip("h5"));
    let first = subset(&c, &g, vec![f.ip("h2"), f.ip("h6")], 9000)
        .await
        .unwrap();
    let before = installed(&f).await;
    assert_eq!(before[&REFUSER].groups.len(), 1);

    // A switch that refuses with OFPT_ERROR: the problem names it, the error, the trace id;
    // the whole subset is rolled back everywhere.
    let trace = TraceId::new(0xbad0_0001).unwrap();
    let e = c
        .create_subset_with(
            &g,
            &SubsetRequest {
                members: vec![h1, h5],
                lease_ms: 5000,
            },
            &CallOptions::new().trace_id(trace),
        )
        .await
        .map_err(api_error)
        .unwrap_err();
    match &e {
        (
            502,
            ApiError::SwitchRefused {
                dpid,
                error_type,
                error_code,
                error,
                trace_id,
            },
        ) => {
            assert_eq!(dpid.0, REFUSER);
            assert_eq!(
                (*error_type, *error_code),
                (6, 3),
                "OFPET_GROUP_MOD_FAILED / OFPGMFC_OUT_OF_GROUPS"
            );
            assert_eq!(error, "OFPET_GROUP_MOD_FAILED/OFPGMFC_OUT_OF_GROUPS");
            assert_eq!(*trace_id, Some(trace));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.subsets().await.unwrap(), vec![first.clone()]);
    let after = installed(&f).await;
    assert_eq!(
        after.values().map(|i| i.rules()).collect::<Vec<_>>(),
        before.values().map(|i| i.rules()).collect::<Vec<_>>(),
        "nothing of the refused subset stays"
    );
    // The subset that was there still delivers exactly, and its address was not disturbed.
    f.check_delivery("h1", first.address, &BTreeSet::from(["h2", "h6"]))
        .await
        .unwrap();
    // Once the refuser has room again, the same request succeeds.
    c.delete_subset(first.address).await.unwrap();
    let ok = subset(&c, &g, vec![h1, h5], 9000).await.unwrap();
    f.check_delivery("h3", ok.address, &BTreeSet::from(["h1", "h5"]))
        .await
        .unwrap();
    d.stop().await;
}
