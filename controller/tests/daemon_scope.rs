//! Tokens scoped to some negotiating groups against a real tsmd (in-process, 127.0.0.1:0),
//! over HTTP, with two groups g1 and g2 that both have subsets, rendezvous plans, claims and
//! blocks:
//! - the lists (`/v1/groups`, `/v1/subsets`, `/v1/rendezvous`, `/v1/claims`, `/v1/blocks`)
//!   of a g1 token hold only g1 items; an admin `*` token sees both groups;
//! - a g2 token cannot read or delete a g1 subset, nor renew or release a g1 claim or block:
//!   it gets exactly the answer it would get if the resource did not exist, and nothing
//!   changes; a second g1 token cannot touch the first one's claim or block (403 naming
//!   itself, the group and the holder) unless it has `admin`;
//! - the g1 token's event stream carries every event about g1 and the fabric and none about
//!   g2 (checked against the admin's full stream), and each event's seq is one above the
//!   position the stream had before it (no false gap), while its JSON form matches; a resume
//!   point the server cannot serve is still reported (410, or a `gap` event);
//! - after a restart, events of the g2 subset and claim tsmd restored (named only by address
//!   and id) still reach the g2 token and not the g1 one.
#![cfg(feature = "daemon")]
#![allow(clippy::unwrap_used)]

mod daemon_common;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use api::auth::Right;
use api::events::{Event, EventStream, Received};
use api::{
    ApiError, BlockRequest, ClaimRequest, Client, Dpid, GroupName, GroupSpec, PlanState,
    RendezvousRequest, RenewRequest, SubsetRequest,
};
use controller::daemon;
use daemon_common::{assert_forbidden, eventually, settings, token, Fabric, TestDaemon};

const OPS: &str = "tsm_scope_ops_0123456789abcdef0123456789ab";
const A: &str = "tsm_scope_a_0123456789abcdef0123456789abcd";
const A2: &str = "tsm_scope_a2_0123456789abcdef0123456789abc";
const B: &str = "tsm_scope_b_0123456789abcdef0123456789abcd";

fn name(s: &str) -> GroupName {
    s.parse().unwrap()
}

fn api_error(r: Result<impl std::fmt::Debug, api::ClientError>) -> (u16, ApiError) {
    let e = r.unwrap_err();
    (e.status().unwrap(), e.api_error().cloned().unwrap())
}

/// Events until one with seq ≥ `through` (within 20 s), each with the stream's position
/// before it.
async fn read_through(stream: &mut EventStream, through: u64) -> Vec<(Option<u64>, Event)> {
    let mut out = Vec::new();
    loop {
        let item = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .expect("an event within 20 s")
            .expect("the stream goes on")
            .unwrap();
        match item {
            Received::Event(e) => {
                let seq = e.seq;
                out.push((stream.position_before_last_event(), e));
                if seq >= through {
                    return out;
                }
            }
            Received::Gap(g) => panic!("unexpected {g:?}"),
        }
    }
}

/// What g2 owns, to tell its events apart independently of tsmd's own attribution.
struct Owned {
    group: String,
    addresses: BTreeSet<IpAddr>,
    ids: BTreeSet<String>,
}

impl Owned {
    /// Whether `e` concerns this group: it names it, or one of its subsets, claims, blocks.
    fn concerns(&self, e: &Event) -> bool {
        let v = serde_json::to_value(e).unwrap();
        if let Some(g) = v.get("group").and_then(|g| g.as_str()) {
            return g == self.group;
        }
        let ty = v["type"].as_str().unwrap();
        if ty.starts_with("subset_") {
            let a: IpAddr = v["address"].as_str().unwrap().parse().unwrap();
            return self.addresses.contains(&a);
        }
        if ty == "claim_renewed" || ty == "block_renewed" {
            return self.ids.contains(v["id"].as_str().unwrap());
        }
        false
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_token_sees_and_touches_only_its_groups() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.max_lease = Duration::from_secs(600);
    s.tokens = vec![
        token("ops", OPS, &["*"], &[Right::Admin]),
        token("a", A, &["g1"], &[Right::Subsets, Right::Claims]),
        token("a2", A2, &["g1"], &[Right::Claims]),
        token("b", B, &["g2"], &[Right::Subsets, Right::Claims]),
    ];
    let of = daemon::bind("OpenFlow", "127.0.0.1:0".parse().unwrap()).unwrap();
    let of_addr = of.local_addr().unwrap();
    let mut d = TestDaemon::start_on(s.clone(), of).await;
    let base = d.handle().base_url();
    let c = |secret: &str| Client::new(&base).unwrap().with_bearer(secret);
    let (ops, a, a2, b) = (c(OPS), c(A), c(A2), c(B));
    // Both follow every event from the first.
    let mut ops_events = ops.events(Some(0)).await.unwrap();
    let mut a_events = a.events(Some(0)).await.unwrap();

    let of = of_addr;
    let f = Fabric::small(of);
    f.wait_discovered(&ops).await;
    let all: Vec<IpAddr> = f.hosts.iter().map(|h| IpAddr::V4(h.ip)).collect();
    let (g1, g2) = (name("g1"), name("g2"));
    for (g, addr, rv) in [
        (&g1, "239.5.5.1", "239.2.0.0"),
        (&g2, "239.5.5.2", "239.3.0.0"),
    ] {
        let spec = GroupSpec {
            address: addr.parse().unwrap(),
            members: all.clone().into(),
        };
        ops.put_group(g, &spec).await.unwrap();
        let plan = RendezvousRequest {
            k: 2,
            copies: 3,
            base: rv.parse().unwrap(),
        };
        ops.put_rendezvous(g, &plan).await.unwrap();
    }
    for g in [&g1, &g2] {
        eventually("both plans ready", Duration::from_secs(20), || async {
            let p = ops.rendezvous(g).await.unwrap();
            assert_ne!(p.state, PlanState::Failed, "{:?}", p.error);
            (p.state == PlanState::Ready).then_some(())
        })
        .await;
    }

    // Each token takes a subset, a claim and a block in its group.
    let sub = SubsetRequest {
        members: vec![f.ip("h1"), f.ip("h3")],
        lease_ms: 300_000,
    };
    let claim = ClaimRequest {
        members: vec![f.ip("h2"), f.ip("h4")],
        lease_ms: 300_000,
    };
    let block = BlockRequest {
        copies: 1,
        lease_ms: 300_000,
    };
    let renew = RenewRequest { lease_ms: 200_000 };
    let a_sub = a.create_subset(&g1, &sub).await.unwrap();
    let a_claim = a.claim(&g1, &claim).await.unwrap();
    let a_block = a.take_block(&g1, &block).await.unwrap();
    let b_sub = b.create_subset(&g2, &sub).await.unwrap();
    let b_claim = b.claim(&g2, &claim).await.unwrap();
    let b_block = b.take_block(&g2, &block).await.unwrap();
    b.renew_claim(b_claim.id, &renew).await.unwrap();
    b.renew_block(b_block.id, &renew).await.unwrap();

    // Lists: only the token's group; the admin sees both.
    let names = |v: Vec<String>| v.into_iter().collect::<BTreeSet<String>>();
    let one = |g: &str| names(vec![g.to_owned()]);
    for (cl, want) in [
        (&a, one("g1")),
        (&b, one("g2")),
        (&ops, names(vec!["g1".into(), "g2".into()])),
    ] {
        let groups = cl.groups().await.unwrap();
        assert_eq!(
            names(groups.iter().map(|g| g.name.to_string()).collect()),
            want
        );
        let subsets = cl.subsets().await.unwrap();
        assert_eq!(
            names(subsets.iter().map(|s| s.group.to_string()).collect()),
            want
        );
        let plans = cl.rendezvous_plans().await.unwrap();
        assert_eq!(
            names(plans.iter().map(|p| p.group.to_string()).collect()),
            want
        );
        let claims = cl.claims().await.unwrap();
        assert_eq!(
            names(claims.iter().map(|c| c.group.to_string()).collect()),
            want
        );
        let blocks = cl.blocks().await.unwrap();
        assert_eq!(
            names(blocks.iter().map(|b| b.group.to_string()).collect()),
            want
        );
        assert_eq!(subsets.len() + claims.len() + blocks.len(), 3 * want.len());
    }
    assert_eq!(a.subsets().await.unwrap(), vec![a_sub.clone()]);
    assert_eq!(a.claims().await.unwrap(), vec![a_claim.clone()]);

    // Another group's resources: answered as if they did not exist, and nothing changes.
    let hidden_sub = api_error(b.delete_subset(a_sub.address).await);
    assert_eq!(api_error(b.subset(a_sub.address).await), hidden_sub);
    let hidden_claim = api_error(b.release_claim(a_claim.id).await);
    assert_eq!(
        api_error(b.renew_claim(a_claim.id, &renew).await),
        hidden_claim
    );
    let hidden_block = api_error(b.release_block(a_block.id).await);
    assert_eq!(
        api_error(b.renew_block(a_block.id, &renew).await),
        hidden_block
    );
    assert_eq!(hidden_sub.0, 404);
    assert_eq!(hidden_claim.0, 410);
    assert_eq!(ops.subset(a_sub.address).await.unwrap(), a_sub);
    assert!(ops.claims().await.unwrap().contains(&a_claim));
    assert!(ops.blocks().await.unwrap().contains(&a_block));

    // Same group, another token: 403 naming it, the group and the holder.
    for e in [
        a2.release_claim(a_claim.id).await.unwrap_err(),
        a2.renew_claim(a_claim.id, &renew).await.unwrap_err(),
        a2.release_block(a_block.id).await.unwrap_err(),
    ] {
        assert_forbidden(&e, "a2", "g1", "a", "a2 on a's lease");
    }
    assert!(ops.claims().await.unwrap().contains(&a_claim));
    // The holder renews and releases; an admin may release anyone's.
    a.renew_claim(a_claim.id, &renew).await.unwrap();
    a.release_claim(a_claim.id).await.unwrap();
    ops.release_block(a_block.id).await.unwrap();
    // What the g2 token got is what anyone gets for them now that they are gone.
    assert_eq!(api_error(ops.release_claim(a_claim.id).await), hidden_claim);
    assert_eq!(api_error(ops.release_block(a_block.id).await), hidden_block);
    a.delete_subset(a_sub.address).await.unwrap();
    assert_eq!(
        api_error(ops.delete_subset(a_sub.address).await),
        hidden_sub
    );

    // The rules of a switch hold every group's flows: `*` tokens only.
    let e = a.switch_rules(Dpid(1)).await.unwrap_err();
    assert_eq!(e.status(), Some(403), "{e}");
    ops.switch_rules(Dpid(1)).await.unwrap();

    // A last g1 event marks the end of what both streams must have.
    let spec = GroupSpec {
        address: "239.5.5.1".parse().unwrap(),
        members: all[..3].to_vec().into(),
    };
    ops.put_group(&g1, &spec).await.unwrap();
    let everything = ops.events_after(Some(0)).await.unwrap();
    let marker = everything
        .iter()
        .rev()
        .find(|e| e.kind.type_name() == "group_put")
        .unwrap()
        .seq;

    // The admin's stream: every event, 1, 2, 3, ...
    let full: Vec<Event> = read_through(&mut ops_events, marker)
        .await
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    let seqs: Vec<u64> = full.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=marker).collect::<Vec<_>>());

    // The g1 token's stream: exactly the events that do not concern g2, and no false gap.
    let g2_owns = Owned {
        group: "g2".into(),
        addresses: [b_sub.address].into(),
        ids: [b_claim.id.to_string(), b_block.id.to_string()].into(),
    };
    let want: Vec<Event> = full
        .iter()
        .filter(|e| !g2_owns.concerns(e))
        .cloned()
        .collect();
    let withheld = full.len() - want.len();
    assert!(
        withheld >= 8,
        "g2 had a group, a plan, a subset, a claim, a block: {withheld}"
    );
    let got = read_through(&mut a_events, marker).await;
    for (before, e) in &got {
        assert_eq!(
            *before,
            Some(e.seq - 1),
            "the stream's position before {e:?} is just below it"
        );
    }
    let got: Vec<Event> = got.into_iter().map(|(_, e)| e).collect();
    assert_eq!(got, want);
    for kind in [
        "switch_up",
        "link_up",
        "group_put",
        "plan_changed",
        "subset_ready",
        "subset_removed",
        "claim_taken",
        "claim_renewed",
        "claim_ended",
        "block_taken",
        "block_ended",
    ] {
        assert!(
            got.iter().any(|e| e.kind.type_name() == kind),
            "g1 token saw no {kind}"
        );
    }
    assert!(!got.iter().any(|e| g2_owns.concerns(e)));
    // The JSON form holds the same.
    let json = a.events_after(Some(0)).await.unwrap();
    assert_eq!(&json[..got.len()], &got[..]);

    // Losses are still reported to a scoped token: an `after` the server does not hold...
    let ahead = marker + 1_000;
    let (status, gone) = api_error(a.events(Some(ahead)).await.map(|_| ()));
    assert_eq!(status, 410);
    assert!(matches!(gone, ApiError::EventsGone { .. }), "{gone:?}");
    // ... and a Last-Event-ID it cannot resume from starts the stream with a gap event.
    let mut resp = reqwest::Client::new()
        .get(format!("{base}/v1/events"))
        .bearer_auth(A)
        .header("accept", "text/event-stream")
        .header("last-event-id", ahead.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut parser = api::events::SseParser::new();
    let first = loop {
        let chunk = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Some(m) = parser.feed(&chunk).into_iter().next() {
            break m;
        }
    };
    assert_eq!(first.event, "gap", "{first:?}");
    drop(resp);
    drop((ops_events, a_events));

    // After a restart, the g2 subset and claim tsmd restored still reach the g2 token's
    // stream (tsmd told the event filter their group at start), and still not the g1 one's.
    d.stop().await;
    let of = daemon::bind("OpenFlow", of_addr).unwrap();
    let d = TestDaemon::start_on(s, of).await;
    let base = d.handle().base_url();
    let c = |secret: &str| Client::new(&base).unwrap().with_bearer(secret);
    let (ops, a, b) = (c(OPS), c(A), c(B));
    f.wait_discovered(&ops).await;
    assert_eq!(b.subsets().await.unwrap().len(), 1);
    let mut a_events = a.events(None).await.unwrap();
    let mut b_events = b.events(None).await.unwrap();
    b.renew_claim(b_claim.id, &renew).await.unwrap();
    b.delete_subset(b_sub.address).await.unwrap();
    // A change of each group marks the end of what each stream must have.
    for (g, n) in [(&g1, 2), (&g2, 3)] {
        let addr = if g == &g1 { "239.5.5.1" } else { "239.5.5.2" };
        let spec = GroupSpec {
            address: addr.parse().unwrap(),
            members: all[..n].to_vec().into(),
        };
        ops.put_group(g, &spec).await.unwrap();
    }
    let everything = ops.events_after(None).await.unwrap();
    let marker = |g: &str| {
        everything
            .iter()
            .rev()
            .find(|e| {
                e.kind.type_name() == "group_put" && serde_json::to_value(e).unwrap()["group"] == g
            })
            .unwrap()
            .seq
    };
    let got_b: Vec<Event> = read_through(&mut b_events, marker("g2"))
        .await
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    for ty in ["claim_renewed", "subset_removed"] {
        assert!(
            got_b
                .iter()
                .any(|e| e.kind.type_name() == ty && g2_owns.concerns(e)),
            "the g2 token missed its restored resource's {ty}: {got_b:?}"
        );
    }
    let got_a = read_through(&mut a_events, marker("g1")).await;
    assert!(got_a.iter().all(|(_, e)| !g2_owns.concerns(e)), "{got_a:?}");
    assert!(got_a.iter().all(|(before, e)| *before == Some(e.seq - 1)));
    drop(f);
}
