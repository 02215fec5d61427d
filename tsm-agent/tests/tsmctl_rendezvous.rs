//! `tsmctl` on rendezvous plans, claims, blocks and a switch's rules, against a real tsmd
//! (in-process, switch-sim fabric): `rendezvous put` waits until the plan is ready (no bar
//! when standard error is not a terminal), every listing as a table and as the API's JSON,
//! and `rules DPID` shows the plan's flows pointing at groups the switch has.
#![allow(clippy::unwrap_used)]

mod agent_support;
mod common;

use std::collections::BTreeSet;

use agent_support::{group, ips, Tsmd, GROUP};
use api::{ClaimRequest, PlanState, RendezvousRequest};
use common::{assert_aligned, rows, tsmctl};

/// tsmd with the group but no plan yet.
async fn tsmd_without_plan() -> Tsmd {
    let t = Tsmd::with_plan(3, 1).await;
    t.client.delete_rendezvous(&group()).await.unwrap();
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendezvous_put_waits_for_the_install_and_lists_show_it() {
    let tsmd = tsmd_without_plan().await;
    let url = tsmd.url.as_str();
    let run = tsmctl(&[
        "--url",
        url,
        "rendezvous",
        "put",
        GROUP,
        "--k",
        "3",
        "--copies",
        "2",
        "--base",
        "239.2.0.0",
    ])
    .await;
    let out = run.ok();
    assert_aligned(&out);
    let row = &rows(&out)[0];
    // GROUP VERSION MEMBERS-V N K COPIES BASE SUBSETS ADDRESSES STATE PROGRESS
    assert_eq!(row[0], GROUP);
    assert_eq!(
        row[3..10],
        ["8", "3", "2", "239.2.0.0", "56", "112", "ready"]
    );
    let plan = tsmd.client.rendezvous(&group()).await.unwrap();
    assert_eq!(plan.state, PlanState::Ready);
    let p = &plan.progress;
    assert_eq!(
        row[10],
        format!(
            "{}/{} switches, {}/{} messages",
            p.switches_done, p.switches_total, p.messages_done, p.messages_total
        )
    );
    assert_eq!(p.messages_done, p.messages_total);

    // Listings: JSON is the API's.
    let json = tsmctl(&["--url", url, "--json", "plans"]).await.json();
    let api_json = serde_json::to_value(tsmd.client.rendezvous_plans().await.unwrap()).unwrap();
    assert_eq!(json, api_json);
    let one = tsmctl(&["--url", url, "--json", "rendezvous", "get", GROUP])
        .await
        .json();
    assert_eq!(one, api_json[0]);

    let claim = tsmd
        .client
        .claim(
            &group(),
            &ClaimRequest {
                members: ips(&[1, 4, 7]),
                lease_ms: 60_000,
            },
        )
        .await
        .unwrap();
    let block = tsmd
        .client
        .take_block(
            &group(),
            &api::BlockRequest {
                copies: 1,
                lease_ms: 60_000,
            },
        )
        .await
        .unwrap();
    let claims = tsmctl(&["--url", url, "claims"]).await.ok();
    assert_aligned(&claims);
    let row = &rows(&claims)[0];
    assert_eq!(
        row[..3],
        [
            claim.id.to_string(),
            GROUP.into(),
            claim.address.to_string()
        ]
    );
    // OWNER is "-": this tsmd runs without tokens.
    assert_eq!(row[6..], ["-", "3", "10.0.0.1,10.0.0.4,10.0.0.7"]);
    let blocks = tsmctl(&["--url", url, "blocks"]).await.ok();
    assert_aligned(&blocks);
    let row = &rows(&blocks)[0];
    assert_eq!(
        row[..4],
        [
            block.id.to_string(),
            GROUP.into(),
            "239.2.0.0".into(),
            "3".into()
        ]
    );
    assert_eq!(row[4], block.copies[0].to_string());
    assert_eq!(row[8], "-");
    for (cmd, api_list) in [
        (
            "claims",
            serde_json::to_value(tsmd.client.claims().await.unwrap()).unwrap(),
        ),
        (
            "blocks",
            serde_json::to_value(tsmd.client.blocks().await.unwrap()).unwrap(),
        ),
    ] {
        assert_eq!(
            tsmctl(&["--url", url, "--json", cmd]).await.json(),
            api_list
        );
    }

    let run = tsmctl(&["--url", url, "rendezvous", "delete", GROUP]).await;
    assert_eq!(
        run.ok(),
        format!("deleted the rendezvous plan of {GROUP}\n")
    );
    assert!(tsmd.client.rendezvous_plans().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_plans_fail_with_exit_status_1_naming_the_problem() {
    let tsmd = tsmd_without_plan().await;
    let run = tsmctl(&[
        "--url",
        &tsmd.url,
        "rendezvous",
        "put",
        GROUP,
        "--k",
        "9",
        "--base",
        "239.2.0.0",
    ])
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("k = 9"), "{}", run.stderr);
    assert!(run.stderr.contains("8 members"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_show_the_plan_on_every_switch_that_has_it() {
    let tsmd = Tsmd::with_plan(3, 1).await;
    let req = RendezvousRequest {
        k: 3,
        copies: 1,
        base: "239.2.0.0".parse().unwrap(),
    };
    let plan = tsmd.client.put_rendezvous(&group(), &req).await.unwrap();
    tsmd.wait_ready().await;
    assert_eq!(plan.addresses, 56);
    let switches = tsmd.client.switches().await.unwrap();
    let mut with_plan = 0;
    for s in &switches {
        let dpid = s.dpid.to_string();
        let json = tsmctl(&["--url", &tsmd.url, "--json", "rules", &dpid])
            .await
            .json();
        let api_rules = tsmd.client.switch_rules(s.dpid).await.unwrap();
        assert_eq!(json, serde_json::to_value(&api_rules).unwrap());
        // Every flow that sends to a group names a group the switch has.
        let groups: BTreeSet<u32> = api_rules.groups.iter().map(|g| g.group_id).collect();
        let mut plan_flows = 0;
        for f in &api_rules.flows {
            if let Some(g) = f.actions.strip_prefix("group:") {
                assert!(groups.contains(&g.parse().unwrap()), "{f:?}");
            }
            if f.match_.contains("ipv4_dst=239.2.0.") {
                plan_flows += 1;
            }
        }
        assert!(plan_flows <= 56);
        if plan_flows > 0 {
            with_plan += 1;
        }
        // The table: a header line, then one row per flow, an empty line, the groups.
        let text = tsmctl(&["--url", &tsmd.url, "rules", &dpid]).await.ok();
        assert!(text.starts_with(&format!("switch {dpid} (")), "{text}");
        assert_eq!(
            text.lines()
                .filter(|l| l.contains("ipv4_dst=239.2.0."))
                .count(),
            plan_flows
        );
    }
    assert!(with_plan > 0, "the plan is on some switch");

    let run = tsmctl(&["--url", &tsmd.url, "rules", "00000000000000ff"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("00000000000000ff"), "{}", run.stderr);
}
