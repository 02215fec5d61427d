//! On-demand subsets and BIER leases belong to the token that created them
//! (`daemon/scope.rs`, "Owners"), against a real tsmd (in-process, 127.0.0.1:0) over HTTP
//! with tokens `a` and `a2` of group g (right `subsets`) and an admin `ops`: `a` creates two
//! subsets and two BIER leases; before a restart and after a restart from the snapshot on the
//! same state directory, `a2` (same group, no admin) gets 403 naming itself, g and the owner
//! `a` for every `DELETE` and removes nothing (it may still read the subsets); the snapshot
//! names the owner, and so do the API's answers (`owner`); then `a` deletes one of each and
//! `ops` the others.
#![cfg(feature = "daemon")]
#![allow(clippy::unwrap_used)]

mod daemon_common;

use std::net::IpAddr;
use std::time::Duration;

use api::auth::Right;
use api::{BierRequest, Client, Dpid, GroupName, GroupSpec, SubsetRequest};
use controller::daemon;
use daemon_common::{
    assert_forbidden, eventually, owner_clients, owner_tokens, settings, Fabric, TestDaemon,
};

/// a2 may delete none of a's subsets and BIER leases; the subsets stay, readable by a2 too.
async fn a2_is_refused(ops: &Client, a2: &Client, subsets: &[IpAddr], leases: &[IpAddr]) {
    for s in subsets {
        let e = a2.delete_subset(*s).await.unwrap_err();
        assert_forbidden(&e, "a2", "g", "a", &format!("deletion of subset {s}"));
        assert_eq!(ops.subset(*s).await.unwrap().address, *s);
        let seen = a2.subset(*s).await.unwrap();
        assert_eq!((seen.address, seen.owner.as_deref()), (*s, Some("a")));
    }
    for l in leases {
        let e = a2.release_bier(*l).await.unwrap_err();
        assert_forbidden(&e, "a2", "g", "a", &format!("release of BIER lease {l}"));
    }
    let listed = ops.subsets().await.unwrap();
    assert!(
        listed.iter().all(|s| s.owner.as_deref() == Some("a")),
        "{listed:?}"
    );
    let mut live: Vec<IpAddr> = listed.iter().map(|s| s.address).collect();
    live.sort();
    let mut want = subsets.to_vec();
    want.sort();
    assert_eq!(live, want);
}

/// The owners the snapshot in `dir` names for its subsets and BIER leases.
fn snapshot_owners(dir: &std::path::Path) -> (Vec<Option<String>>, Vec<Option<String>>) {
    let text = std::fs::read_to_string(dir.join("state.json")).unwrap();
    let snap: controller::Snapshot = serde_json::from_str(&text).unwrap();
    (
        snap.subsets.iter().map(|s| s.owner.clone()).collect(),
        snap.bier.leases.iter().map(|l| l.owner.clone()).collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_of_subsets_and_bier_leases_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.max_lease = Duration::from_secs(600);
    s.tokens = owner_tokens(Right::Subsets);
    let of = daemon::bind("OpenFlow", "127.0.0.1:0".parse().unwrap()).unwrap();
    let of_addr = of.local_addr().unwrap();
    let mut d = TestDaemon::start_on(s.clone(), of).await;
    let (ops, a, a2) = owner_clients(&d);
    let f = Fabric::small(of_addr);
    f.wait_discovered(&ops).await;
    let n = f.hosts.len();
    eventually(
        "BIER capability and BFR-ids",
        Duration::from_secs(10),
        || async {
            let sw = ops.switches().await.ok()?;
            let ids = ops.bfr_ids().await.ok()?;
            (sw.iter().all(|s| s.capabilities.bier)
                && ids.len() == n
                && ids.iter().all(|i| i.at.is_some()))
            .then_some(())
        },
    )
    .await;
    let g: GroupName = "g".parse().unwrap();
    let all: Vec<IpAddr> = f.hosts.iter().map(|h| IpAddr::V4(h.ip)).collect();
    ops.put_group(
        &g,
        &GroupSpec {
            address: "239.6.6.1".parse().unwrap(),
            members: all.into(),
        },
    )
    .await
    .unwrap();

    let mut subsets = Vec::new();
    for members in [["h1", "h3"], ["h2", "h4"]] {
        let req = SubsetRequest {
            members: members.iter().map(|m| f.ip(m)).collect(),
            lease_ms: 300_000,
        };
        let created = a.create_subset(&g, &req).await.unwrap();
        assert_eq!(created.owner.as_deref(), Some("a"));
        subsets.push(created.address);
    }
    let mut leases = Vec::new();
    for members in [["h2", "h4"], ["h1", "h3"]] {
        let req = BierRequest {
            lease_ms: Some(300_000),
            ..BierRequest::new(members.iter().map(|m| f.ip(m)).collect())
        };
        let taken = a.assign_bier(&g, &req).await.unwrap();
        assert_eq!(taken.owner.as_deref(), Some("a"));
        leases.push(taken.address.unwrap());
    }
    a2_is_refused(&ops, &a2, &subsets, &leases).await;
    // The leases are still encapsulated at the leaf of h1 and h2.
    let bfirs: Vec<IpAddr> = ops
        .switch_bift(Dpid(0x101))
        .await
        .unwrap()
        .bfirs
        .iter()
        .map(|b| b.address)
        .collect();
    for l in &leases {
        assert!(bfirs.contains(l), "{l} not in {bfirs:?}");
    }

    // The snapshot names the owner.
    d.stop().await;
    let a_owns = |k: usize| vec![Some("a".to_owned()); k];
    assert_eq!(snapshot_owners(dir.path()), (a_owns(2), a_owns(2)));

    // Restored from the snapshot: still a's; a deletes one of each, the admin the others.
    let of = daemon::bind("OpenFlow", of_addr).unwrap();
    let mut d = TestDaemon::start_on(s, of).await;
    let (ops, a, a2) = owner_clients(&d);
    a2_is_refused(&ops, &a2, &subsets, &leases).await;
    a.delete_subset(subsets[0]).await.unwrap();
    a.release_bier(leases[0]).await.unwrap();
    ops.delete_subset(subsets[1]).await.unwrap();
    ops.release_bier(leases[1]).await.unwrap();
    assert!(ops.subsets().await.unwrap().is_empty());
    // Gone now: a2 gets what anyone gets for what does not exist.
    let e = a2.delete_subset(subsets[0]).await.unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
    let e = a2.release_bier(leases[1]).await.unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
    d.stop().await;
    assert_eq!(snapshot_owners(dir.path()), (vec![], vec![]));
    drop(f);
}
