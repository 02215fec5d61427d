//! BIER through tsmd end to end on a software fabric: the real daemon in-process, switch-sim
//! switches (BIER data plane on) connected over TCP with real OpenFlow, hosts on in-memory
//! ports sending plain UDP. The API marks every switch BIER-capable and lists a BFR-id per
//! host; a BIER lease's address reaches exactly its members from any member of the group, by
//! BIER (the switches' BIFTs read back over the API), also after an inter-switch link fails;
//! BIER-TE from one sender; release leaves the address reaching nobody; bad input refused
//! over HTTP naming the culprit.
#![cfg(feature = "daemon")]
#![allow(clippy::unwrap_used)]

mod daemon_common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use api::{
    ApiError, BierRequest, BiftAction, BiftKind, ClientError, Dpid, GroupName, GroupSpec, LinkState,
};
use daemon_common::{eventually, settings, Fabric, Spec, TestDaemon};

fn spec() -> Spec {
    Spec {
        spines: 2,
        leaves: 3,
        hosts_per_leaf: 2,
    }
}

/// tsmd and the fabric, discovered, every switch BIER-capable, every host with a BFR-id.
async fn boot() -> (tempfile::TempDir, TestDaemon, Fabric) {
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(settings(dir.path())).await;
    let of = d.of_addr();
    let f = Fabric::leaf_spine(&spec(), |_| format!("tcp:{of}"), |_, b| b);
    f.wait_discovered(&d.client).await;
    let c = d.client.clone();
    let n = f.hosts.len();
    eventually(
        "BIER capability and BFR-ids",
        Duration::from_secs(10),
        || {
            let c = c.clone();
            async move {
                let sw = c.switches().await.ok()?;
                let ids = c.bfr_ids().await.ok()?;
                (sw.iter().all(|s| s.capabilities.bier)
                    && ids.len() == n
                    && ids.iter().all(|i| i.at.is_some()))
                .then_some(())
            }
        },
    )
    .await;
    (dir, d, f)
}

fn api_err(e: ClientError) -> ApiError {
    match e {
        ClientError::Api { error, .. } => *error,
        other => panic!("not a typed problem: {other:?}"),
    }
}

/// Checks delivery, retrying a few times while the fabric settles after a change.
async fn exact_soon(f: &mut Fabric, from: &str, addr: IpAddr, to: &BTreeSet<&str>) {
    let mut last = String::new();
    for _ in 0..10 {
        match f.check_delivery(from, addr, to).await {
            Ok(()) => return,
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bier_leases_deliver_exactly_through_tsmd() {
    let (_dir, _d, mut f) = boot().await;
    let c = _d.client.clone();
    let g: GroupName = "storage".parse().unwrap();
    let all: Vec<IpAddr> = f.hosts.iter().map(|h| IpAddr::V4(h.ip)).collect();
    c.put_group(
        &g,
        &GroupSpec {
            address: "239.1.1.1".parse().unwrap(),
            members: all.clone().into(),
        },
    )
    .await
    .unwrap();
    let ids: BTreeMap<IpAddr, u16> = c
        .bfr_ids()
        .await
        .unwrap()
        .iter()
        .flat_map(|e| e.ips.iter().map(move |ip| (*ip, e.bfr_id)))
        .collect();

    // Header fields only: the members' bits, nothing installed.
    let members = vec![f.ip("h2"), f.ip("h4"), f.ip("h5")];
    let h = c
        .assign_bier(&g, &BierRequest::new(members.clone()))
        .await
        .unwrap();
    assert_eq!((h.sub_domain, h.bsl, h.si), (0, 256, 0));
    assert!(h.address.is_none());
    let mut bits = [0u8; 32];
    for m in &members {
        let i = usize::from(ids[m] - 1);
        bits[31 - i / 8] |= 1 << (i % 8);
    }
    assert_eq!(h.bitstring, api::bier::hex(&bits));
    for m in &h.members {
        assert_eq!(m.bfr_id, ids[&m.ip]);
    }

    // A lease: every member of the group encapsulates at its edge port.
    let req = BierRequest {
        lease_ms: Some(30_000),
        ..BierRequest::new(members.clone())
    };
    let lease = c.assign_bier(&g, &req).await.unwrap();
    let addr = lease.address.unwrap();
    assert_eq!(lease.bfirs.len(), f.hosts.len());
    let to: BTreeSet<&str> = ["h2", "h4", "h5"].into();
    for from in ["h1", "h4", "h6"] {
        f.check_delivery(from, addr, &to).await.unwrap();
    }

    // The tables the leaf of h1, h2 holds, as installed.
    let leaf = Dpid(0x101);
    let t = c.switch_bift(leaf).await.unwrap();
    assert!(t.bier && t.te, "{t:?}");
    let kinds: BTreeSet<&str> = t
        .tables
        .iter()
        .map(|b| match b.kind {
            BiftKind::Bier => "bier",
            BiftKind::BierTe => "bier-te",
        })
        .collect();
    assert_eq!(kinds, BTreeSet::from(["bier", "bier-te"]));
    let here: BTreeSet<u16> = ["h1", "h2"].iter().map(|n| ids[&f.ip(n)]).collect();
    let bier = t.tables.iter().find(|b| b.kind == BiftKind::Bier).unwrap();
    for e in &bier.entries {
        let local = e.action == BiftAction::LocalDecap;
        assert_eq!(local, here.contains(&e.bfr_id.unwrap()), "{e:?}");
        if !local {
            assert_eq!(e.next_hops.len(), 2, "ECMP over both spines: {e:?}");
        }
    }
    assert_eq!(
        t.bfers.iter().map(|b| b.bfr_id).collect::<BTreeSet<_>>(),
        here
    );
    assert!(t.bfirs.iter().any(|b| b.address == addr));

    // BIER-TE from one sender along the controller's tree.
    let te = BierRequest {
        lease_ms: Some(30_000),
        te: true,
        sender: Some(f.ip("h1")),
        ..BierRequest::new(vec![f.ip("h3"), f.ip("h6")])
    };
    let te = c.assign_bier(&g, &te).await.unwrap();
    assert_eq!(te.sub_domain, 1);
    assert!(!te.tree.is_empty());
    let te_addr = te.address.unwrap();
    f.check_delivery("h1", te_addr, &["h3", "h6"].into())
        .await
        .unwrap();

    // An inter-switch link fails: the tables are re-pushed, delivery stays exact.
    let (a, pa, _, _, ctl) = &f.links[0];
    let (a, pa) = (*a, *pa);
    ctl.set_carrier(false);
    eventually("the link seen down", Duration::from_secs(5), || {
        let c = c.clone();
        async move {
            let links = c.links().await.ok()?;
            links
                .iter()
                .any(|l| {
                    let ends = [(l.a.dpid.0, l.a.port), (l.b.dpid.0, l.b.port)];
                    ends.contains(&(a, pa)) && l.state == LinkState::Down
                })
                .then_some(())
        }
    })
    .await;
    for from in ["h1", "h3", "h6"] {
        exact_soon(&mut f, from, addr, &to).await;
    }
    exact_soon(&mut f, "h1", te_addr, &["h3", "h6"].into()).await;

    // Released: the address reaches nobody; a second release is 404.
    c.release_bier(addr).await.unwrap();
    f.check_delivery("h1", addr, &BTreeSet::new())
        .await
        .unwrap();
    let e = c.release_bier(addr).await.unwrap_err();
    assert_eq!(e.status(), Some(404));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bier_bad_input_is_refused_over_http() {
    let (_dir, d, f) = boot().await;
    let c = d.client.clone();
    let g: GroupName = "g".parse().unwrap();
    let ghost: IpAddr = "10.0.0.99".parse().unwrap();
    let mut members: Vec<IpAddr> = f.hosts.iter().map(|h| IpAddr::V4(h.ip)).collect();
    members.push(ghost);
    c.put_group(
        &g,
        &GroupSpec {
            address: "239.1.1.2".parse().unwrap(),
            members: members.into(),
        },
    )
    .await
    .unwrap();
    // A member the controller never learned has no BFR-id: named.
    let e = c
        .assign_bier(&g, &BierRequest::new(vec![f.ip("h1"), ghost]))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(422));
    assert_eq!(api_err(e), ApiError::UnknownHosts { hosts: vec![ghost] });
    // Not a member of the group.
    let other: GroupName = "small".parse().unwrap();
    c.put_group(
        &other,
        &GroupSpec {
            address: "239.1.1.3".parse().unwrap(),
            members: vec![f.ip("h1")].into(),
        },
    )
    .await
    .unwrap();
    let e = c
        .assign_bier(&other, &BierRequest::new(vec![f.ip("h2"), f.ip("h3")]))
        .await
        .unwrap_err();
    assert_eq!(
        api_err(e),
        ApiError::NotGroupMembers {
            group: "small".into(),
            members: vec![f.ip("h2"), f.ip("h3")]
        }
    );
    // Unknown group, unknown switch.
    let e = c
        .assign_bier(
            &"nope".parse().unwrap(),
            &BierRequest::new(vec![f.ip("h1")]),
        )
        .await
        .unwrap_err();
    assert!(matches!(api_err(e), ApiError::UnknownGroup { group } if group == "nope"));
    let e = c.switch_bift(Dpid(0x999)).await.unwrap_err();
    assert_eq!(e.status(), Some(404));
    assert!(
        matches!(api_err(e), ApiError::NotFound { resource } if resource.contains("0000000000000999"))
    );
    // An unknown sender; a lease longer than the maximum.
    let req = BierRequest {
        sender: Some(ghost),
        ..BierRequest::new(vec![f.ip("h1")])
    };
    let e = c.assign_bier(&g, &req).await.unwrap_err();
    assert_eq!(api_err(e), ApiError::UnknownHosts { hosts: vec![ghost] });
    let req = BierRequest {
        lease_ms: Some(u64::MAX),
        ..BierRequest::new(vec![f.ip("h1")])
    };
    let e = c.assign_bier(&g, &req).await.unwrap_err();
    assert!(matches!(api_err(e), ApiError::LeaseOutOfRange { .. }));
}
