//! The `tsm-agent` binary against a real tsmd (in-process, switch-sim fabric): `claim`
//! prints the address the controller holds for the subset, `--json` the whole claim,
//! `renew` and `release` act on it by id, `follow` prints events; refusals exit 1 naming the
//! culprit, an unreachable controller exits 2; `bench` runs end to end (small counts).
#![allow(clippy::unwrap_used)]

mod agent_support;
mod common;

use std::net::IpAddr;

use agent_support::{Tsmd, GROUP};
use common::tsm_agent as agent;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_renew_release_by_id() {
    let tsmd = Tsmd::with_plan(3, 2).await;
    let url = tsmd.url.as_str();
    let members = "10.0.0.3,10.0.0.1,10.0.0.2";
    let run = agent(&[
        "--url",
        url,
        "claim",
        "--group",
        GROUP,
        "--members",
        members,
        "--lease-ms",
        "60000",
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let address: IpAddr = run.stdout.trim().parse().unwrap();
    // The claim outlives the process (it is not released on exit).
    let claims = tsmd.client.claims().await.unwrap();
    let claim = claims.iter().find(|c| c.address == address).unwrap();
    assert_eq!(claim.members.len(), 3);

    let run = agent(&[
        "--url",
        url,
        "--json",
        "claim",
        "--group",
        GROUP,
        "--members",
        members,
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let second: api::Claim = serde_json::from_str(&run.stdout).unwrap();
    assert_ne!(second.address, address, "the other copy");
    assert_eq!(second.copy, 1 - claim.copy);

    // Both copies are taken: the controller refuses, naming the subset.
    let run = agent(&[
        "--url",
        url,
        "claim",
        "--group",
        GROUP,
        "--members",
        members,
    ])
    .await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("copies"), "{}", run.stderr);
    assert!(
        run.stderr.contains("10.0.0.1, 10.0.0.2, 10.0.0.3"),
        "{}",
        run.stderr
    );

    let id = claim.id.to_string();
    let run = agent(&["--url", url, "renew", &id, "--lease-ms", "90000"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with(&format!("{id} until ")),
        "{}",
        run.stdout
    );
    let renewed = tsmd.client.claims().await.unwrap();
    let renewed = renewed.iter().find(|c| c.id == claim.id).unwrap();
    assert!(renewed.expires_at > claim.expires_at);

    let run = agent(&["--url", url, "release", &id]).await;
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, format!("released {id}\n").as_str())
    );
    assert!(!tsmd
        .client
        .claims()
        .await
        .unwrap()
        .iter()
        .any(|c| c.id == claim.id));
    // Released: renewing it is refused (exit 1) and names it.
    let run = agent(&["--url", url, "renew", &id]).await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains(&id), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_prints_events_in_order() {
    let tsmd = Tsmd::with_plan(3, 2).await;
    let url = tsmd.url.clone();
    // From the start of the log: the fabric's discovery and the group are in it.
    let run = agent(&["--url", &url, "follow", "--after", "0", "--count", "5"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let seqs: Vec<u64> = run
        .stdout
        .lines()
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs.len(), 5);
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    let run = agent(&[
        "--url", &url, "--json", "follow", "--after", "0", "--count", "2",
    ])
    .await;
    for line in run.stdout.lines() {
        let e: api::events::Event = serde_json::from_str(line).unwrap();
        assert!(e.seq >= 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_controller_is_exit_status_2() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let run = agent(&[
        "--url",
        &dead,
        "claim",
        "--group",
        GROUP,
        "--members",
        "10.0.0.1",
    ])
    .await;
    assert_eq!(run.code, 2);
    assert!(run
        .stderr
        .starts_with(&format!("error: cannot reach the controller at {dead}/")));
    let run = agent(&["--url", &dead, "follow"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = agent(&["release", "nope"]).await;
    assert_eq!(run.code, 2, "clap refuses a bad id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_end_to_end_on_an_embedded_tsmd() {
    let run = agent(&["--json", "bench", "--local", "20000", "--http", "20"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let f: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(f["http"]["n"], 20);
    assert_eq!(f["local"]["per_claim"]["n"], 20_000);
    assert!(f["local"]["claims_per_s"].as_f64().unwrap() > 0.0);
    let p50 = f["local"]["per_claim"]["p50_ns"].as_u64().unwrap();
    let p99 = f["local"]["per_claim"]["p99_ns"].as_u64().unwrap();
    assert!(0 < p50 && p50 <= p99);
}
