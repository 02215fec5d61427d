//! The agent library end to end on real Open vSwitch: tsmd in this process controls a
//! leaf-spine of 2 spines and 4 leaves with 8 hosts in network namespaces; a rendezvous plan
//! with n = 8, k = 3 and copies = 2 installs; an agent holds a block of one copy and claims
//! every one of the 56 subsets *locally* (`tsm_agent::BlockClaimer`, no request per claim);
//! a real UDP datagram to each locally computed address reaches exactly the subset's members.
//! A second agent's block gets the other copy, so the two never share an address; a third
//! finds no copy free. A membership change makes the first block's claims stale.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use api::{GroupName, GroupSpec, PlanState, RendezvousRequest};
use tsm_agent::{Agent, AgentError, LocalClaimError};
use tsm_tests::e2e::{check_cases, Case, E2e, Rng};
use tsm_tests::TopologySpec;

#[test]
fn e2e_agent_local_claims_deliver_exactly_on_ovs() {
    let e = E2e::new(&TopologySpec::leaf_spine(2, 4, 2), |_| {}).unwrap();
    let seed = Rng::seed_from_env("TSM_E2E_SEED");
    println!("seed {seed} (TSM_E2E_SEED={seed} replays it)");
    let mut rng = Rng::new(seed);
    let client = e.client().clone();
    let url = client.base_url().to_string();
    let names: Vec<String> = e
        .fabric
        .topology()
        .host_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names.len(), 8);
    let y: GroupName = "y".parse().unwrap();
    let mut members: Vec<IpAddr> = names.iter().map(|n| e.ip(n).unwrap()).collect();
    members.sort();
    let spec = GroupSpec {
        address: "239.1.1.1".parse().unwrap(),
        members: members.clone().into(),
    };
    e.tsmd.block_on(client.put_group(&y, &spec)).unwrap();
    let req = RendezvousRequest {
        k: 3,
        copies: 2,
        base: "239.2.0.0".parse().unwrap(),
    };
    e.tsmd.block_on(client.put_rendezvous(&y, &req)).unwrap();
    let start = Instant::now();
    loop {
        let p = e.tsmd.block_on(client.rendezvous(&y)).unwrap();
        if p.state == PlanState::Ready {
            break;
        }
        assert_eq!(p.state, PlanState::Installing, "{p:?}");
        assert!(start.elapsed() < Duration::from_secs(20), "{p:?}");
        std::thread::sleep(Duration::from_millis(20));
    }

    let (agent, block) = e.tsmd.block_on(async {
        let agent = Agent::new(&[&url], None).unwrap();
        let block = agent
            .hold_block("y", 1, Duration::from_secs(60))
            .await
            .unwrap();
        (agent, block)
    });
    let claimer = block.claimer();
    let subsets = tsm_agent::bench::all_subsets(&members, 3);
    assert_eq!(subsets.len(), 56);
    let mut cases = Vec::new();
    let mut held = Vec::new();
    for s in &subsets {
        let c = claimer.claim(s).unwrap();
        let subset_names: Vec<String> = s.iter().map(|a| e.name_of(*a).unwrap()).collect();
        let sender = rng.pick(&names).clone();
        cases.push(Case {
            address: c.address(),
            expected: subset_names
                .iter()
                .filter(|n| **n != sender)
                .cloned()
                .collect(),
            members: subset_names,
            sender,
        });
        held.push(c);
    }
    let failures = check_cases(&e, &cases).unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // A second agent gets the other copy: no address in common. A third gets nothing.
    let (other, refused) = e.tsmd.block_on(async {
        let second = Agent::new(&[&url], None).unwrap();
        let other = second
            .hold_block("y", 1, Duration::from_secs(60))
            .await
            .unwrap();
        let third = Agent::new(&[&url], None).unwrap();
        let refused = third.hold_block("y", 1, Duration::from_secs(60)).await;
        (other, refused)
    });
    assert_ne!(other.info().copies, block.info().copies);
    let mine: BTreeSet<IpAddr> = held.iter().map(|c| c.address()).collect();
    for s in &subsets {
        let theirs = other.claim(s).unwrap().address();
        assert!(!mine.contains(&theirs), "{theirs} held by both agents");
    }
    assert!(
        matches!(refused, Err(AgentError::Refused { status: 409, .. })),
        "{refused:?}"
    );

    // A member leaves: the first agent learns it from the events and refuses stale claims.
    let fewer = GroupSpec {
        address: "239.1.1.1".parse().unwrap(),
        members: members[..7].to_vec().into(),
    };
    e.tsmd.block_on(client.put_group(&y, &fewer)).unwrap();
    let start = Instant::now();
    while !claimer.is_stale() {
        assert!(start.elapsed() < Duration::from_secs(5), "never stale");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(matches!(
        claimer.claim(&subsets[0]),
        Err(LocalClaimError::StaleMembers { .. })
    ));
    drop(held);
    e.tsmd.block_on(async move {
        block.release().await.unwrap();
        other.release().await.unwrap();
        drop(agent);
    });
}
