//! The agent against a real tsmd (in-process, switch-sim fabric, plan n = 8, k = 3):
//! local claims give the server's addresses, background renewal keeps leases alive past
//! their first end, dropping releases, a refused renewal is reported, and a membership
//! change makes an old block's claims stale until a new block is taken.
#![allow(clippy::unwrap_used)]

mod agent_support;

use std::collections::BTreeMap;
use std::time::Duration;

use agent_support::{eventually, ips, members, now_ms, Tsmd, GROUP};
use tsm_agent::{Agent, AgentOptions, LeaseStatus, LocalClaimError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_claims_are_the_addresses_the_server_hands_out() {
    let tsmd = Tsmd::with_plan(3, 2).await;
    let agent = Agent::new(&[&tsmd.url], None).unwrap();
    let block = agent
        .hold_block(GROUP, 1, Duration::from_secs(30))
        .await
        .unwrap();
    let held = block.info().copies;
    assert_eq!(held.len(), 1);
    let all = tsm_agent::bench::all_subsets(&members(8), 3);
    assert_eq!(all.len(), 56);
    let mut local = BTreeMap::new();
    for s in &all {
        let c = block.claim(s).unwrap();
        assert_eq!(c.copy(), held[0]);
        local.insert(s.clone(), c.address());
    }
    let distinct: std::collections::BTreeSet<_> = local.values().collect();
    assert_eq!(distinct.len(), 56, "56 subsets, 56 addresses");
    block.release().await.unwrap();

    // Over HTTP, the same copy of each subset must be the same address: claim until the
    // server hands out that copy (there are two), holding the others meanwhile.
    for s in &all {
        let mut taken = Vec::new();
        loop {
            let c = agent
                .claim_for(GROUP, s, Duration::from_secs(30))
                .await
                .unwrap();
            let info = c.info();
            taken.push(c);
            if info.copy == held[0] {
                assert_eq!(info.address, local[s], "subset {s:?}");
                break;
            }
            assert!(taken.len() < 2, "the block's copy was never handed out");
        }
        for c in taken {
            c.release().await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_keeps_leases_past_their_first_end_and_drop_releases_them() {
    let tsmd = Tsmd::with_plan(3, 2).await;
    let agent = Agent::new(&[&tsmd.url], None).unwrap();
    let lease = Duration::from_millis(400);
    let claim = agent
        .claim_for(GROUP, &ips(&[1, 2, 3]), lease)
        .await
        .unwrap();
    let block = agent.hold_block(GROUP, 1, lease).await.unwrap();
    let first_end = claim.info().expires_at;
    let id = claim.id();
    let block_id = block.id();

    eventually(
        "three renewals of each",
        Duration::from_secs(10),
        || async {
            let renewed =
                |s: LeaseStatus| matches!(s, LeaseStatus::Held { renewals, .. } if renewals >= 3);
            renewed(claim.status()) && renewed(block.status())
        },
    )
    .await;
    // Well past the first end, the server still has both, ending in the future.
    assert!(
        now_ms() > first_end + 200,
        "the first lease has ended by now"
    );
    let claims = tsmd.client.claims().await.unwrap();
    let on_server = claims.iter().find(|c| c.id == id).unwrap();
    assert!(on_server.expires_at > now_ms());
    let blocks = tsmd.client.blocks().await.unwrap();
    assert!(blocks
        .iter()
        .any(|b| b.id == block_id && b.expires_at > now_ms()));
    // A local claim still works while the block is renewed.
    assert!(block.claim(&ips(&[4, 5, 6])).is_ok());

    drop(claim);
    drop(block);
    eventually(
        "both released after the drop",
        Duration::from_secs(3),
        || async {
            let claims = tsmd.client.claims().await.unwrap();
            let blocks = tsmd.client.blocks().await.unwrap();
            !claims.iter().any(|c| c.id == id) && !blocks.iter().any(|b| b.id == block_id)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_renewal_ends_the_lease_and_its_local_claims() {
    let tsmd = Tsmd::with_plan(3, 2).await;
    let agent = Agent::new(&[&tsmd.url], None).unwrap();
    let lease = Duration::from_millis(600);
    let mut claim = agent
        .claim_for(GROUP, &ips(&[1, 2, 3]), lease)
        .await
        .unwrap();
    let mut block = agent.hold_block(GROUP, 1, lease).await.unwrap();
    let claimer = block.claimer();
    // Someone else (an operator) releases both behind the agent's back.
    tsmd.client.release_claim(claim.id()).await.unwrap();
    tsmd.client.release_block(block.id()).await.unwrap();
    let why = tokio::time::timeout(Duration::from_secs(5), claim.lost())
        .await
        .unwrap();
    assert!(why.contains("renewal refused"), "{why}");
    tokio::time::timeout(Duration::from_secs(5), block.lost())
        .await
        .unwrap();
    let e = claimer.claim(&ips(&[1, 2, 3])).unwrap_err();
    assert!(matches!(e, LocalClaimError::BlockEnded { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_membership_change_makes_old_block_claims_stale() {
    let tsmd = Tsmd::with_plan(3, 1).await;
    let agent = Agent::with_options(AgentOptions::new(&[&tsmd.url])).unwrap();
    let block = agent
        .hold_block(GROUP, 1, Duration::from_secs(30))
        .await
        .unwrap();
    let old_version = block.info().members_version;
    let claimer = block.claimer();
    assert!(claimer.claim(&ips(&[1, 2, 3])).is_ok());
    eventually(
        "the agent follows events",
        Duration::from_secs(5),
        || async { agent.sync_status().connected },
    )
    .await;

    // h9 joins: the group's membership version grows and the plan is re-planned.
    tsmd.put_group(9).await;
    eventually(
        "the agent sees the new version",
        Duration::from_secs(5),
        || async { claimer.is_stale() },
    )
    .await;
    let e = claimer.claim(&ips(&[1, 2, 9])).unwrap_err();
    match e {
        LocalClaimError::StaleMembers { block, latest, .. } => {
            assert_eq!(block, old_version);
            assert!(latest > old_version);
        }
        other => panic!("expected StaleMembers, got {other}"),
    }
    assert!(agent.members_version(GROUP).unwrap() > old_version);

    // A new block covers the new member list.
    tsmd.wait_ready().await;
    let fresh = agent.refresh_block(block).await.unwrap();
    assert!(fresh.info().members_version > old_version);
    assert_eq!(fresh.info().members.len(), 9);
    let c = fresh.claim(&ips(&[1, 2, 9])).unwrap();
    assert!(c.is_valid());
}
