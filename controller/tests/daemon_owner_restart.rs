//! The owner of a claim or block outlives tsmd (`daemon/scope.rs`, "Owners"), against a real
//! tsmd (in-process, 127.0.0.1:0) over HTTP with tokens `a` and `a2` of group g and an admin
//! `ops`: `a` takes a claim and a block; then, before any restart, after a restart that
//! restores them from the claim journal alone (the snapshot is cut back to one without them,
//! as after a crash before the next snapshot), and after a restart from the snapshot alone,
//! `a2` (same group, no admin) gets 403 naming itself, g and the owner `a` for every renewal
//! or release and changes nothing, while `a` may renew and release and `ops` may release.
//! Every answer about them (claim, block, renewal, listing) names the owner `a`.
#![cfg(feature = "daemon")]
#![allow(clippy::unwrap_used)]

mod daemon_common;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use api::auth::Right;
use api::{
    Block, BlockRequest, Claim, ClaimRequest, Client, GroupName, GroupSpec, PlanState,
    RendezvousRequest, RenewRequest,
};
use controller::daemon;
use daemon_common::{
    assert_forbidden, eventually, owner_clients, owner_tokens, settings, Fabric, TestDaemon,
};

/// `e` is the 403 a2 gets for a's lease: it names a2, g and the owner a.
fn refused_for_a2(e: api::ClientError, what: &str) {
    assert_forbidden(&e, "a2", "g", "a", what);
}

/// a2 may neither renew nor release a's claim and block, and they stay as they were.
async fn a2_is_refused(ops: &Client, a2: &Client, claim: &Claim, block: &Block) {
    let renew = RenewRequest { lease_ms: 200_000 };
    refused_for_a2(
        a2.renew_claim(claim.id, &renew).await.unwrap_err(),
        "claim renewal",
    );
    refused_for_a2(
        a2.release_claim(claim.id).await.unwrap_err(),
        "claim release",
    );
    refused_for_a2(
        a2.renew_block(block.id, &renew).await.unwrap_err(),
        "block renewal",
    );
    refused_for_a2(
        a2.release_block(block.id).await.unwrap_err(),
        "block release",
    );
    // Unchanged, and the answers name the owner.
    let a_owns = Some("a".to_owned());
    let claims: Vec<(String, u64, Option<String>)> = ops
        .claims()
        .await
        .unwrap()
        .iter()
        .map(|c| (c.id.to_string(), c.expires_at, c.owner.clone()))
        .collect();
    assert_eq!(
        claims,
        [(claim.id.to_string(), claim.expires_at, a_owns.clone())]
    );
    let blocks: Vec<(String, u64, Option<String>)> = ops
        .blocks()
        .await
        .unwrap()
        .iter()
        .map(|b| (b.id.to_string(), b.expires_at, b.owner.clone()))
        .collect();
    assert_eq!(blocks, [(block.id.to_string(), block.expires_at, a_owns)]);
}

/// The text of the claim journal's segments in the state directory.
fn journal_text(dir: &Path) -> String {
    let mut text = String::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("claims-") && name.ends_with(".log") {
            text.push_str(&std::fs::read_to_string(&p).unwrap());
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_of_claims_and_blocks_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.max_lease = Duration::from_secs(600);
    // The journal straight in the state directory, so the test can read it there.
    s.journal_stage_dir = None;
    s.tokens = owner_tokens(Right::Claims);
    let of = daemon::bind("OpenFlow", "127.0.0.1:0".parse().unwrap()).unwrap();
    let of_addr = of.local_addr().unwrap();
    let mut d = TestDaemon::start_on(s.clone(), of).await;
    let (ops, a, a2) = owner_clients(&d);
    let f = Fabric::small(of_addr);
    f.wait_discovered(&ops).await;
    let g: GroupName = "g".parse().unwrap();
    let all: Vec<IpAddr> = f.hosts.iter().map(|h| IpAddr::V4(h.ip)).collect();
    ops.put_group(
        &g,
        &GroupSpec {
            address: "239.5.5.1".parse().unwrap(),
            members: all.into(),
        },
    )
    .await
    .unwrap();
    let plan = RendezvousRequest {
        k: 2,
        copies: 2,
        base: "239.2.0.0".parse().unwrap(),
    };
    ops.put_rendezvous(&g, &plan).await.unwrap();
    eventually("the plan ready", Duration::from_secs(20), || async {
        let p = ops.rendezvous(&g).await.unwrap();
        assert_ne!(p.state, PlanState::Failed, "{:?}", p.error);
        (p.state == PlanState::Ready).then_some(())
    })
    .await;

    let claim_req = ClaimRequest {
        members: vec![f.ip("h1"), f.ip("h3")],
        lease_ms: 300_000,
    };
    let mut claim = a.claim(&g, &claim_req).await.unwrap();
    let block_req = BlockRequest {
        copies: 1,
        lease_ms: 300_000,
    };
    let mut block = a.take_block(&g, &block_req).await.unwrap();
    assert_eq!(
        (claim.owner.as_deref(), block.owner.as_deref()),
        (Some("a"), Some("a"))
    );
    a2_is_refused(&ops, &a2, &claim, &block).await;

    // Both the snapshot and the journal name the owner.
    d.stop().await;
    let state = dir.path().join("state.json");
    let mut snap: controller::Snapshot =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let owners = |snap: &controller::Snapshot| {
        let rv = &snap.rendezvous;
        let c: Vec<Option<String>> = rv.claims.iter().map(|c| c.owner.clone()).collect();
        let b: Vec<Option<String>> = rv.blocks.iter().map(|b| b.owner.clone()).collect();
        (c, b)
    };
    let a_owns = (vec![Some("a".to_owned())], vec![Some("a".to_owned())]);
    assert_eq!(owners(&snap), a_owns);
    let journal = journal_text(dir.path());
    assert_eq!(
        journal.matches("\"owner\":\"a\"").count(),
        2,
        "a claim line and a block line: {journal}"
    );
    // Cut the snapshot back to one from before the claim and the block: only the journal
    // has them (as after a crash before the next snapshot).
    snap.rendezvous.claims.clear();
    snap.rendezvous.blocks.clear();
    snap.rendezvous.journal_seq = 0;
    std::fs::write(&state, serde_json::to_vec(&snap).unwrap()).unwrap();

    // Restored from the journal: still a's.
    let of = daemon::bind("OpenFlow", of_addr).unwrap();
    let mut d = TestDaemon::start_on(s.clone(), of).await;
    let (ops, a, a2) = owner_clients(&d);
    a2_is_refused(&ops, &a2, &claim, &block).await;
    let renew = RenewRequest { lease_ms: 250_000 };
    claim = a.renew_claim(claim.id, &renew).await.unwrap();
    block = a.renew_block(block.id, &renew).await.unwrap();
    assert_eq!(
        (claim.owner.as_deref(), block.owner.as_deref()),
        (Some("a"), Some("a"))
    );
    d.stop().await;
    // The snapshot saved since holds them with their owner (the journal was replayed into it).
    let snap: controller::Snapshot =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(owners(&snap), a_owns);

    // Restored from the snapshot: still a's; a releases its claim, the admin the block.
    let of = daemon::bind("OpenFlow", of_addr).unwrap();
    let mut d = TestDaemon::start_on(s, of).await;
    let (ops, a, a2) = owner_clients(&d);
    a2_is_refused(&ops, &a2, &claim, &block).await;
    a.release_claim(claim.id).await.unwrap();
    ops.release_block(block.id).await.unwrap();
    assert!(ops.claims().await.unwrap().is_empty());
    assert!(ops.blocks().await.unwrap().is_empty());
    // Gone now: a2 gets what anyone gets for a lease that is not live.
    let e = a2.release_claim(claim.id).await.unwrap_err();
    assert_eq!(e.status(), Some(410), "{e}");
    d.stop().await;
    drop(f);
}
