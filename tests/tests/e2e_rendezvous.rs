//! Rendezvous groups end to end on real Open vSwitch (issue 5, "Done when" and "Bad input"):
//! the real tsmd in this process controls a leaf-spine of 2 spines and 4 leaves with 8 hosts
//! in network namespaces. A plan with n = 8, k = 3 and copies = 2 installs; every one of the
//! 56 subsets, in both copies, is claimed over HTTP and a real UDP datagram to the claimed
//! address reaches exactly the subset's members (probes sent in batches); the address is the
//! one an agent computes locally (`controller::rank`); concurrent claimers never get the same
//! address; bad input is refused with problem+json and changes nothing; claims survive a
//! restart of tsmd (snapshot plus claim journal).
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::time::{Duration, Instant};

use api::{
    ApiError, BlockRequest, Claim, ClaimRequest, Client, GroupName, GroupSpec, PlanState,
    RendezvousPlan, RendezvousRequest, RenewRequest,
};
use controller::rank;
use tsm_tests::e2e::{check_cases, Case, E2e, Rng};
use tsm_tests::TopologySpec;

const K: usize = 3;
const COPIES: u32 = 2;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn wait_ready(e: &E2e, group: &GroupName) -> RendezvousPlan {
    let start = Instant::now();
    loop {
        let p = e.tsmd.block_on(e.client().rendezvous(group)).unwrap();
        if p.state == PlanState::Ready {
            return p;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "plan not ready: {p:?}"
        );
        assert!(
            matches!(p.state, PlanState::Installing),
            "plan failed: {p:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A raw HTTP/1.1 request (for bodies the typed client cannot send): status and body.
fn raw(client: &Client, method: &str, path: &str, body: &str) -> (u16, String, String) {
    let url = client.base_url();
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let mut s = TcpStream::connect(&host).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let ct = out
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("content-type:"))
        .unwrap_or_default()
        .to_owned();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, ct, body)
}

fn problem(client: &Client, method: &str, path: &str, body: &str, status: u16, slug: &str) {
    let (st, ct, text) = raw(client, method, path, body);
    assert_eq!(st, status, "{method} {path} {body}: {text}");
    assert!(ct.contains("application/problem+json"), "{ct}");
    assert!(
        text.contains(&format!("\"https://tsm.invalid/problems/{slug}\"")),
        "{method} {path}: {text}"
    );
}

#[test]
fn e2e_rendezvous_plan_claims_deliver_exactly_and_bad_input_is_refused() {
    let started = Instant::now();
    let e = E2e::new(&TopologySpec::leaf_spine(2, 4, 2), |_| {}).unwrap();
    let seed = Rng::seed_from_env("TSM_E2E_SEED");
    println!("seed {seed} (TSM_E2E_SEED={seed} replays it)");
    let mut rng = Rng::new(seed);
    let client = e.client().clone();
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
    let member_names: Vec<String> = members.iter().map(|a| e.name_of(*a).unwrap()).collect();
    e.tsmd
        .block_on(client.put_group(
            &y,
            &GroupSpec {
                address: ip("239.1.1.1"),
                members: members.clone().into(),
            },
        ))
        .unwrap();

    // The plan: 202 installing, then ready with every message acknowledged.
    let req = RendezvousRequest {
        k: K as u32,
        copies: COPIES,
        base: ip("239.2.0.0"),
    };
    let t = Instant::now();
    let p = e.tsmd.block_on(client.put_rendezvous(&y, &req)).unwrap();
    assert_eq!((p.subsets, p.addresses, p.version), (56, 112, 1));
    let p = wait_ready(&e, &y);
    println!(
        "plan of 112 addresses ready in {:?}: {} messages on {} switches",
        t.elapsed(),
        p.progress.messages_total,
        p.progress.switches_total
    );
    assert_eq!(p.progress.messages_done, p.progress.messages_total);
    assert_eq!(p.members, members);

    // Every subset claimed in both copies; each address is what an agent computes locally,
    // and a datagram to it reaches exactly the subset's members.
    let mut cases = Vec::new();
    let mut claims: Vec<Claim> = Vec::new();
    for copy in 0..COPIES {
        for r in 0..56 {
            let idx = rank::unrank(8, K, r).unwrap();
            let subset: Vec<IpAddr> = idx.iter().map(|i| members[*i]).collect();
            let c = e
                .tsmd
                .block_on(client.claim(
                    &y,
                    &ClaimRequest {
                        members: subset.clone(),
                        lease_ms: 120_000,
                    },
                ))
                .unwrap();
            assert_eq!(c.copy, copy);
            assert_eq!(
                c.address,
                rank::subset_address(req.base, &p.members, &subset, copy).unwrap()
            );
            let subset_names: Vec<String> = idx.iter().map(|i| member_names[*i].clone()).collect();
            let sender = rng.pick(&names).clone();
            cases.push(Case {
                address: c.address,
                expected: subset_names
                    .iter()
                    .filter(|n| **n != sender)
                    .cloned()
                    .collect(),
                members: subset_names,
                sender,
            });
            claims.push(c);
        }
    }
    let distinct: BTreeSet<IpAddr> = claims.iter().map(|c| c.address).collect();
    assert_eq!(distinct.len(), 112);
    for batch in cases.chunks(56) {
        let failures = check_cases(&e, batch).unwrap();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
    // Both copies taken: the next claim is refused, naming the way out.
    let err = e
        .tsmd
        .block_on(client.claim(
            &y,
            &ClaimRequest {
                members: claims[0].members.clone(),
                lease_ms: 1000,
            },
        ))
        .unwrap_err();
    assert!(
        matches!(
            err.api_error(),
            Some(ApiError::RendezvousExhausted { copies: 2, .. })
        ),
        "{err}"
    );

    // Claims survive a restart of tsmd (the claim journal).
    let mut e = e;
    let before: BTreeMap<String, IpAddr> = e
        .tsmd
        .block_on(client.claims())
        .unwrap()
        .iter()
        .map(|c| (c.id.to_string(), c.address))
        .collect();
    assert_eq!(before.len(), 112);
    e.tsmd.restart(&e.fabric).unwrap();
    let client = e.client().clone();
    let after: BTreeMap<String, IpAddr> = e
        .tsmd
        .block_on(client.claims())
        .unwrap()
        .iter()
        .map(|c| (c.id.to_string(), c.address))
        .collect();
    assert_eq!(after, before, "claims lost across the restart");
    e.wait_discovered(Duration::from_secs(20)).unwrap();
    let failures = check_cases(&e, &cases[..56]).unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Release everything; then concurrent claimers race for every subset: each address goes
    // to exactly one of them, and exactly 2 claims per subset succeed.
    for c in &claims {
        e.tsmd.block_on(client.release_claim(c.id)).unwrap();
    }
    assert!(e.tsmd.block_on(client.claims()).unwrap().is_empty());
    let claimers: u64 = 4;
    let results: Vec<Vec<Result<Claim, api::ClientError>>> = e.tsmd.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..claimers {
            let c = Client::new(client.base_url().as_str()).unwrap();
            let y = y.clone();
            let members = members.clone();
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for i in 0..56u64 {
                    let r = (i * 5 + w * 13) % 56;
                    let subset: Vec<IpAddr> = rank::unrank(8, K, r)
                        .unwrap()
                        .iter()
                        .map(|i| members[*i])
                        .collect();
                    out.push(
                        c.claim(
                            &y,
                            &ClaimRequest {
                                members: subset,
                                lease_ms: 60_000,
                            },
                        )
                        .await,
                    );
                }
                out
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await.unwrap());
        }
        all
    });
    let mut by_addr: BTreeMap<IpAddr, usize> = BTreeMap::new();
    let mut per_subset: BTreeMap<Vec<IpAddr>, usize> = BTreeMap::new();
    for (w, rs) in results.iter().enumerate() {
        for r in rs {
            match r {
                Ok(c) => {
                    *by_addr.entry(c.address).or_insert(0) += 1;
                    *per_subset.entry(c.members.clone()).or_insert(0) += 1;
                }
                Err(err) => assert!(
                    matches!(err.api_error(), Some(ApiError::RendezvousExhausted { .. })),
                    "claimer {w}: {err}"
                ),
            }
        }
    }
    assert!(
        by_addr.values().all(|n| *n == 1),
        "an address went to two claimers"
    );
    assert_eq!(by_addr.len(), 112);
    assert!(per_subset.values().all(|n| *n == 2));

    // Bad input: problem+json naming the problem, no state change.
    let plan_before = e.tsmd.block_on(client.rendezvous(&y)).unwrap();
    let claims_before = e.tsmd.block_on(client.claims()).unwrap();
    problem(
        &client,
        "PUT",
        "/v1/groups/y/rendezvous",
        r#"{"k": 9, "copies": 1, "base": "239.2.0.0"}"#,
        422,
        "k-out-of-range",
    );
    // Over budget: 70,000 addresses need more groups than our id range holds per switch.
    e.tsmd
        .block_on(client.put_group(
            &"z".parse().unwrap(),
            &GroupSpec {
                address: ip("239.1.1.2"),
                members: members.clone().into(),
            },
        ))
        .unwrap();
    let err = e
        .tsmd
        .block_on(client.put_rendezvous(
            &"z".parse().unwrap(),
            &RendezvousRequest {
                k: 4,
                copies: 1000,
                base: ip("239.100.0.0"),
            },
        ))
        .unwrap_err();
    match err.api_error() {
        Some(ApiError::OverBudget { group, switches }) => {
            assert_eq!(group, "z");
            assert!(!switches.is_empty());
            for b in switches {
                assert_eq!(b.groups_needed, 70_000);
                assert!(b.groups_available.unwrap() < 70_000, "{b:?}");
            }
        }
        other => panic!("{other:?}: {err}"),
    }
    assert!(e
        .tsmd
        .block_on(client.rendezvous(&"z".parse().unwrap()))
        .is_err());
    problem(
        &client,
        "POST",
        "/v1/groups/y/claims",
        r#"{"members": ["10.9.9.9", "10.0.0.1", "10.0.0.2"], "lease_ms": 1000}"#,
        422,
        "not-group-members",
    );
    problem(
        &client,
        "POST",
        "/v1/groups/y/claims",
        r#"{"members": [], "lease_ms": 1000, "extra": true}"#,
        400,
        "unknown-field",
    );
    problem(
        &client,
        "POST",
        "/v1/groups/y/claims",
        r#"{"members": ["#,
        400,
        "malformed-json",
    );
    // A claim that expired cannot be renewed.
    let short = e
        .tsmd
        .block_on(client.take_block(
            &y,
            &BlockRequest {
                copies: 1,
                lease_ms: 1,
            },
        ))
        .unwrap_err();
    assert!(short.status() == Some(409), "no copy is free: {short}");
    let c = claims_before[0].clone();
    e.tsmd.block_on(client.release_claim(c.id)).unwrap();
    let fresh = e
        .tsmd
        .block_on(client.claim(
            &y,
            &ClaimRequest {
                members: c.members.clone(),
                lease_ms: 200,
            },
        ))
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let err = e
        .tsmd
        .block_on(client.renew_claim(fresh.id, &RenewRequest { lease_ms: 1000 }))
        .unwrap_err();
    assert_eq!(err.status(), Some(410));
    assert_eq!(
        err.api_error(),
        Some(&ApiError::ClaimExpired {
            id: fresh.id.to_string()
        })
    );
    let plan_after = e.tsmd.block_on(client.rendezvous(&y)).unwrap();
    assert_eq!(plan_after.version, plan_before.version);
    let mut claims_after = e.tsmd.block_on(client.claims()).unwrap();
    claims_after.sort_by_key(|c| c.id);
    let mut expected: Vec<Claim> = claims_before[1..].to_vec();
    expected.sort_by_key(|c| c.id);
    assert_eq!(claims_after, expected, "bad input changed the claims");
    println!("e2e rendezvous took {:?}", started.elapsed());
}
