//! Issue 5's "Bad input" list against the real tsmd (in-process, 127.0.0.1:0, switch-sim
//! fabric over TCP), over plain HTTP so the raw answer is what is checked: every case is an
//! `application/problem+json` answer whose `type`, `title`, `detail` and members name the
//! culprit (the field, the member, the numbers of the budget, the claim id), and no case
//! changes any state: groups, plans, claims, blocks, subsets, tsmd's record of every switch's
//! rules, the rules read back from every switch over OpenFlow, and the event sequence are
//! compared before and after each case.
//!
//! Cases: k larger than the group; a plan over a switch's group budget (then on-demand
//! subsets, claims and a plan that fits still work, and the numbers are re-derived from it);
//! claims for members outside the group; expired and released claims and an expired block
//! renewed; a resume point older than the event ring; and a malformed body and an unknown
//! field on every body route of the sender side (group PUT, subsets, rendezvous PUT, claims,
//! claim renew, blocks, block renew, BIER POST), where the unknown field rides on an otherwise
//! valid body that would change state if the field were ignored.
#![cfg(feature = "daemon")]
#![allow(clippy::unwrap_used)]

mod daemon_common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use api::{
    ApiError, Block, BlockRequest, Claim, ClaimRequest, Client, Dpid, Group, GroupName, GroupSpec,
    PlanState, Problem, RendezvousPlan, RendezvousRequest, Subset, SubsetRequest, SwitchBudget,
    SwitchRules,
};
use daemon_common::{
    eventually, settings, sse_text_until, Fabric, OfProbe, Spec, TestDaemon, OUR_GROUPS,
};
use reqwest::Method;
use serde_json::Value;

/// The leaf whose group table is small (GROUP_FEATURES `max_groups`).
const SMALL: u64 = 0x103;
const SMALL_MAX_GROUPS: u32 = 60;
/// Priorities of our flows: on-demand subsets and rendezvous plans.
const OUR_PRIORITIES: [u16; 2] = [0x9000, 0x8f00];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn name(s: &str) -> GroupName {
    s.parse().unwrap()
}

/// Everything a bad request must leave alone.
#[derive(Debug, PartialEq)]
struct State {
    groups: Vec<Group>,
    plans: Vec<RendezvousPlan>,
    claims: Vec<Claim>,
    blocks: Vec<Block>,
    subsets: Vec<Subset>,
    /// tsmd's record of each switch's rules (the lease countdown in `hard_timeout` cleared).
    rules: BTreeMap<u64, SwitchRules>,
    /// What each switch holds of ours, read over OpenFlow: flows, then groups.
    tables: BTreeMap<u64, (BTreeSet<String>, BTreeSet<String>)>,
    last_event: u64,
}

async fn tables(f: &Fabric) -> BTreeMap<u64, (BTreeSet<String>, BTreeSet<String>)> {
    let mut out = BTreeMap::new();
    for &dpid in f.switches.keys() {
        let mut p = OfProbe::connect(f.listen_addr(dpid)).await;
        let flows = p
            .flows()
            .await
            .into_iter()
            .filter(|fl| OUR_PRIORITIES.contains(&fl.priority))
            .map(|fl| {
                format!(
                    "prio {} cookie {:#x} hard {} idle {} {:?} {:?}",
                    fl.priority,
                    fl.cookie.0,
                    fl.hard_timeout,
                    fl.idle_timeout,
                    fl.match_,
                    fl.instructions
                )
            })
            .collect();
        let groups = p
            .groups()
            .await
            .into_iter()
            .filter(|g| OUR_GROUPS.contains(&g.group_id.0))
            .map(|g| format!("{:?}", g))
            .collect();
        out.insert(dpid, (flows, groups));
    }
    out
}

async fn state(c: &Client, f: &Fabric) -> State {
    let mut groups = c.groups().await.unwrap();
    groups.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
    let mut claims = c.claims().await.unwrap();
    claims.sort_by_key(|x| x.id);
    let mut blocks = c.blocks().await.unwrap();
    blocks.sort_by_key(|x| x.id);
    let mut subsets = c.subsets().await.unwrap();
    subsets.sort_by_key(|x| x.address);
    let mut rules = BTreeMap::new();
    for &dpid in f.switches.keys() {
        let mut r = c.switch_rules(Dpid(dpid)).await.unwrap();
        for fl in &mut r.flows {
            fl.hard_timeout = 0;
        }
        rules.insert(dpid, r);
    }
    let last_event = c.events_after(None).await.unwrap().last().unwrap().seq;
    State {
        groups,
        plans: c.rendezvous_plans().await.unwrap(),
        claims,
        blocks,
        subsets,
        rules,
        tables: tables(f).await,
        last_event,
    }
}

/// The raw answer of one request: status, Content-Type, body.
async fn send(
    http: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, String, Vec<u8>) {
    let mut rq = http.request(method, format!("{base}{path}"));
    if let Some(b) = body {
        rq = rq
            .header("content-type", "application/json")
            .body(b.to_owned());
    }
    for (k, v) in headers {
        rq = rq.header(*k, *v);
    }
    let r = rq.send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, r.bytes().await.unwrap().to_vec())
}

/// Checks that an answer is a problem+json with this status whose `type`, `title`, `status`
/// and `detail` are those of one `ApiError`, and returns it (with the raw members).
fn problem(what: &str, answer: (u16, String, Vec<u8>), status: u16) -> (ApiError, Value) {
    let (st, ct, body) = answer;
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(st, status, "{what}: {text}");
    assert_eq!(ct, "application/problem+json", "{what}: {text}");
    let p: Problem = serde_json::from_slice(&body).unwrap();
    let e = ApiError::from_problem(&p).unwrap_or_else(|| panic!("{what}: not ours: {text}"));
    assert_eq!(p.type_uri, e.type_uri(), "{what}");
    assert_eq!(p.title, e.title(), "{what}");
    assert_eq!(p.status, status, "{what}");
    assert_eq!(p.detail, e.to_string(), "{what}");
    (e, serde_json::from_slice(&body).unwrap())
}

/// Waits until the group's plan is ready.
async fn wait_ready(c: &Client, g: &GroupName) -> RendezvousPlan {
    eventually("the plan to be ready", Duration::from_secs(20), || async {
        let p = c.rendezvous(g).await.unwrap();
        assert_ne!(p.state, PlanState::Failed, "{:?}", p.error);
        (p.state == PlanState::Ready).then_some(p)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_is_a_problem_naming_the_culprit_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.max_lease = Duration::from_secs(600);
    // A small ring, so that old resume points are gone.
    s.events_buffer = 16;
    let mut d = TestDaemon::start(s).await;
    let of = d.of_addr();
    let spec = Spec {
        spines: 1,
        leaves: 3,
        hosts_per_leaf: 2,
    };
    let mut f = Fabric::leaf_spine(
        &spec,
        |_| format!("tcp:{of}"),
        |dpid, b| {
            if dpid == SMALL {
                let mut cfg = switch_sim::Config::with_dpid(dpid);
                cfg.max_groups = SMALL_MAX_GROUPS;
                b.pipeline_config(cfg)
            } else {
                b
            }
        },
    );
    f.wait_discovered(&d.client).await;
    let c = d.client.clone();
    let base = d.handle().base_url();
    let http = reqwest::Client::new();
    let (y, z) = (name("y"), name("z"));
    let hosts: BTreeMap<String, IpAddr> = f
        .hosts
        .iter()
        .map(|x| (x.name.clone(), IpAddr::V4(x.ip)))
        .collect();
    let h = |n: &str| hosts[n];

    // y: h1..h5 (h6 is a host of the fabric outside it), with a ready plan of C(5,2) = 10
    // subsets in 3 copies; z: h1..h6 without a plan.
    let y_members: Vec<IpAddr> = ["h1", "h2", "h3", "h4", "h5"].map(h).to_vec();
    let z_members: Vec<IpAddr> = ["h1", "h2", "h3", "h4", "h5", "h6"].map(h).to_vec();
    for (g, addr, m) in [(&y, "239.1.1.1", &y_members), (&z, "239.1.1.2", &z_members)] {
        c.put_group(
            g,
            &GroupSpec {
                address: ip(addr),
                members: m.clone().into(),
            },
        )
        .await
        .unwrap();
    }
    let plan_req = RendezvousRequest {
        k: 2,
        copies: 3,
        base: ip("239.2.0.0"),
    };
    c.put_rendezvous(&y, &plan_req).await.unwrap();
    let plan_y = wait_ready(&c, &y).await;
    assert_eq!(plan_y.addresses, 30);

    // Live state that bad requests must not touch: a claim, a block, an on-demand subset.
    let claim = c
        .claim(
            &y,
            &ClaimRequest {
                members: vec![h("h1"), h("h3")],
                lease_ms: 300_000,
            },
        )
        .await
        .unwrap();
    let block = c
        .take_block(
            &y,
            &BlockRequest {
                copies: 1,
                lease_ms: 300_000,
            },
        )
        .await
        .unwrap();
    let subset = c
        .create_subset(
            &y,
            &SubsetRequest {
                members: vec![h("h2"), h("h5")],
                lease_ms: 300_000,
            },
        )
        .await
        .unwrap();
    // A claim and a block that expire, and a claim that is released.
    let short = c
        .claim(
            &y,
            &ClaimRequest {
                members: vec![h("h2"), h("h4")],
                lease_ms: 200,
            },
        )
        .await
        .unwrap();
    let short_block = c
        .take_block(
            &y,
            &BlockRequest {
                copies: 1,
                lease_ms: 200,
            },
        )
        .await
        .unwrap();
    let released = c
        .claim(
            &y,
            &ClaimRequest {
                members: vec![h("h4"), h("h5")],
                lease_ms: 300_000,
            },
        )
        .await
        .unwrap();
    c.release_claim(released.id).await.unwrap();
    eventually(
        "the short claim and block to expire",
        Duration::from_secs(10),
        || async {
            let claims = c.claims().await.unwrap();
            let blocks = c.blocks().await.unwrap();
            (claims.iter().all(|x| x.id != short.id)
                && blocks.iter().all(|b| b.id != short_block.id))
            .then_some(())
        },
    )
    .await;

    let before = state(&c, &f).await;
    assert_eq!(before.claims, vec![claim.clone()]);
    assert_eq!(before.blocks.len(), 1);
    assert_eq!(before.subsets, vec![subset]);
    let mut observed: Vec<String> = Vec::new();
    // Runs one case: the answer must be `status`; nothing may change.
    macro_rules! case {
        ($what:expr, $answer:expr, $status:expr) => {{
            let what: String = $what.to_string();
            let (e, raw) = problem(&what, $answer, $status);
            let after = state(&c, &f).await;
            assert!(
                after == before,
                "{what} changed the state:\n{before:#?}\n{after:#?}"
            );
            observed.push(format!("{what}: {} {}: {}", $status, e.slug(), e));
            (e, raw)
        }};
    }
    macro_rules! req {
        ($m:expr, $path:expr, $body:expr) => {
            send(&http, &base, $m, $path, $body, &[])
        };
    }

    // 1. k larger than the group: on a group without a plan and on one whose plan has holders.
    for (g, n) in [("z", 6u64), ("y", 5)] {
        let body = r#"{"k": 7, "copies": 1, "base": "239.3.0.0"}"#;
        let (e, _) = case!(
            format!("PUT /v1/groups/{g}/rendezvous k=7"),
            req!(
                Method::PUT,
                &format!("/v1/groups/{g}/rendezvous"),
                Some(body)
            )
            .await,
            422
        );
        assert_eq!(
            e,
            ApiError::KOutOfRange {
                group: g.into(),
                k: 7,
                n
            }
        );
        assert!(e.to_string().contains("k = 7"), "{e}");
        assert!(e.to_string().contains(&format!("has {n} members")), "{e}");
    }

    // 2. Claims for members outside the group: a host of the fabric that is not in y, and an
    // address nobody has; both are named, and only they.
    let outsider = h("h6");
    for members in [vec![h("h1"), outsider], vec![ip("10.0.0.77"), h("h2")]] {
        let body = serde_json::json!({"members": members, "lease_ms": 1000}).to_string();
        let (e, raw) = case!(
            format!("POST /v1/groups/y/claims {members:?}"),
            req!(Method::POST, "/v1/groups/y/claims", Some(&body)).await,
            422
        );
        let strangers: Vec<IpAddr> = members
            .iter()
            .copied()
            .filter(|m| !y_members.contains(m))
            .collect();
        assert_eq!(
            e,
            ApiError::NotGroupMembers {
                group: "y".into(),
                members: strangers.clone()
            }
        );
        assert_eq!(raw["members"], serde_json::json!(strangers));
        assert!(e.to_string().contains(&strangers[0].to_string()), "{e}");
    }

    // 3. Renewing what has ended: an expired claim, a released claim, an expired block.
    for (what, path, id) in [
        (
            "expired claim",
            format!("/v1/claims/{}/renew", short.id),
            short.id.to_string(),
        ),
        (
            "released claim",
            format!("/v1/claims/{}/renew", released.id),
            released.id.to_string(),
        ),
        (
            "expired block",
            format!("/v1/blocks/{}/renew", short_block.id),
            short_block.id.to_string(),
        ),
    ] {
        let (e, raw) = case!(
            format!("renew the {what}"),
            req!(Method::POST, &path, Some(r#"{"lease_ms": 5000}"#)).await,
            410
        );
        assert_eq!(e, ApiError::ClaimExpired { id: id.clone() });
        assert_eq!(raw["id"], id.as_str());
        assert!(e.to_string().starts_with(&id), "{e}");
    }

    // 4. A resume point older than the event ring: 410 events-gone with the range held, for
    // `?after=` (stream or JSON) and for a JSON Last-Event-ID; a stream resumed by
    // Last-Event-ID starts with a `gap` event instead (the EventSource reconnect contract).
    let held = c.events_after(None).await.unwrap();
    let (first, last) = (held[0].seq, held.last().unwrap().seq);
    assert!(first > 2, "the ring dropped the first events: {first}");
    let gone = ApiError::EventsGone {
        after: 1,
        first_available: first,
        last,
    };
    let sse = ("accept", "text/event-stream");
    let resume = ("last-event-id", "1");
    for (what, path, hdrs) in [
        ("stream ?after=1", "/v1/events?after=1", vec![sse]),
        ("JSON ?after=1", "/v1/events?after=1", vec![]),
        ("JSON Last-Event-ID: 1", "/v1/events", vec![resume]),
    ] {
        let (e, _) = case!(
            format!("GET {what}"),
            send(&http, &base, Method::GET, path, None, &hdrs).await,
            410
        );
        assert_eq!(e, gone, "{what}");
        assert!(
            e.to_string().contains(&format!("holds {first} to {last}")),
            "{e}"
        );
    }
    let mut resp = http
        .get(format!("{base}/v1/events"))
        .header(sse.0, sse.1)
        .header(resume.0, resume.1)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = sse_text_until(&mut resp, "\n\n").await;
    drop(resp);
    let head = text.split("\n\n").next().unwrap();
    assert!(head.contains("event: gap"), "{text}");
    let data = head
        .lines()
        .find_map(|l| l.strip_prefix("data:"))
        .unwrap()
        .trim();
    assert_eq!(
        serde_json::from_str::<api::events::Gap>(data).unwrap(),
        api::events::Gap {
            after: 1,
            first_available: first
        }
    );
    assert!(
        state(&c, &f).await == before,
        "the gap stream changed state"
    );
    observed.push("GET stream Last-Event-ID: 1: 200 text/event-stream, first event gap".into());
    let (e, _) = case!(
        "GET Last-Event-ID: abc",
        send(
            &http,
            &base,
            Method::GET,
            "/v1/events",
            None,
            &[sse, ("last-event-id", "abc")]
        )
        .await,
        400
    );
    assert!(
        matches!(&e, ApiError::BadHeader { header, .. } if header.eq_ignore_ascii_case("last-event-id")),
        "{e:?}"
    );

    // 5. Malformed JSON and unknown fields on every body route of the sender side. Each
    // unknown field rides on a body that is otherwise valid and would change state.
    let routes: Vec<(Method, String, Value, Vec<&str>)> = vec![
        (
            Method::PUT,
            "/v1/groups/y".into(),
            serde_json::json!({"address": "239.1.1.9", "members": [h("h1"), h("h2")]}),
            vec!["address", "members"],
        ),
        (
            Method::POST,
            "/v1/groups/y/subsets".into(),
            serde_json::json!({"members": [h("h1"), h("h4")], "lease_ms": 5000}),
            vec!["members", "lease_ms"],
        ),
        (
            Method::PUT,
            "/v1/groups/z/rendezvous".into(),
            serde_json::json!({"k": 1, "copies": 1, "base": "239.4.0.0"}),
            vec!["k", "copies", "base"],
        ),
        (
            Method::POST,
            "/v1/groups/y/claims".into(),
            serde_json::json!({"members": [h("h1"), h("h4")], "lease_ms": 5000}),
            vec!["members", "lease_ms"],
        ),
        (
            Method::POST,
            format!("/v1/claims/{}/renew", claim.id),
            serde_json::json!({"lease_ms": 5000}),
            vec!["lease_ms"],
        ),
        (
            Method::POST,
            "/v1/groups/y/blocks".into(),
            serde_json::json!({"copies": 1, "lease_ms": 5000}),
            vec!["copies", "lease_ms"],
        ),
        (
            Method::POST,
            format!("/v1/blocks/{}/renew", block.id),
            serde_json::json!({"lease_ms": 5000}),
            vec!["lease_ms"],
        ),
        (
            Method::POST,
            "/v1/groups/y/bier".into(),
            serde_json::json!({"members": [h("h1"), h("h4")], "lease_ms": 5000}),
            vec!["members", "lease_ms", "te", "sender"],
        ),
    ];
    for (method, path, valid, fields) in &routes {
        let valid_text = valid.to_string();
        // Cut inside the last value; a second value after the first; nothing at all.
        let cut = &valid_text[..valid_text.len() - 2];
        let trailing = format!("{valid_text} {{}}");
        let multi_line = format!("{{\n{},}}", &valid_text[1..valid_text.len() - 1]);
        for (kind, body) in [
            ("cut short", cut.to_owned()),
            ("trailing value", trailing),
            ("trailing comma on line 2", multi_line),
            ("empty", String::new()),
        ] {
            let (e, raw) = case!(
                format!("{method} {path} malformed ({kind})"),
                req!(method.clone(), path, Some(&body)).await,
                400
            );
            let ApiError::MalformedJson { line, column, .. } = e else {
                panic!("{method} {path} {kind}: {e:?}")
            };
            let want_line = if kind.contains("line 2") { 2 } else { 1 };
            assert_eq!(line, want_line, "{method} {path} {kind}: {raw}");
            // Columns are 1-based; 0 only before the first character (the empty body).
            assert_eq!(
                column == 0,
                body.is_empty(),
                "{method} {path} {kind}: {raw}"
            );
            assert!(
                raw["detail"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("line {line} column {column}")),
                "{raw}"
            );
        }
        let mut with_extra = valid.clone();
        with_extra["lease_msec"] = Value::from(1);
        let (e, raw) = case!(
            format!("{method} {path} unknown field"),
            req!(method.clone(), path, Some(&with_extra.to_string())).await,
            400
        );
        assert_eq!(
            e,
            ApiError::UnknownField {
                field: "lease_msec".into(),
                path: "body".into(),
                expected: fields.iter().map(|f| f.to_string()).collect(),
            },
            "{method} {path}"
        );
        assert_eq!(raw["field"], "lease_msec");
        assert!(raw["detail"].as_str().unwrap().contains("\"lease_msec\""));
    }

    // 6. A plan over a switch's group budget: refused with the numbers, nothing installed.
    let used = before.rules[&SMALL].groups.len() as u64;
    let available = u64::from(SMALL_MAX_GROUPS) - used;
    let big = r#"{"k": 2, "copies": 10, "base": "239.3.0.0"}"#;
    let (e, raw) = case!(
        "PUT /v1/groups/z/rendezvous over budget",
        req!(Method::PUT, "/v1/groups/z/rendezvous", Some(big)).await,
        409
    );
    let ApiError::OverBudget { group, switches } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(group, "z");
    assert_eq!(
        switches.len(),
        1,
        "only the small switch is over: {switches:?}"
    );
    let line: SwitchBudget = switches[0].clone();
    assert_eq!(line.dpid, Dpid(SMALL));
    assert_eq!(line.groups_available, Some(available));
    assert_eq!(line.flows_available, None);
    assert_eq!(line.flows_needed, line.groups_needed);
    assert!(line.groups_needed > available, "{line:?}");
    assert_eq!(
        line.groups_needed % 10,
        0,
        "10 copies of the same subsets: {line:?}"
    );
    let numbers = format!(
        "switch {} needs {} groups ({available} available)",
        Dpid(SMALL),
        line.groups_needed
    );
    assert!(e.to_string().contains(&numbers), "{e}");
    assert_eq!(raw["switches"][0]["groups_needed"], line.groups_needed);
    let e = c.rendezvous(&z).await.unwrap_err();
    assert_eq!(e.status(), Some(404), "no plan of z was recorded: {e}");

    // On-demand subsets stay available, on both groups and through the small switch; so do
    // claims on the plan that fits.
    for (g, m) in [(&z, ["h1", "h6"]), (&y, ["h3", "h5"])] {
        let sub = c
            .create_subset(
                g,
                &SubsetRequest {
                    members: m.map(h).to_vec(),
                    lease_ms: 30_000,
                },
            )
            .await
            .unwrap();
        f.check_delivery("h2", sub.address, &BTreeSet::from(m))
            .await
            .unwrap();
        c.delete_subset(sub.address).await.unwrap();
    }
    f.check_delivery("h5", claim.address, &BTreeSet::from(["h1", "h3"]))
        .await
        .unwrap();
    let mut now = state(&c, &f).await;
    now.last_event = before.last_event;
    assert!(now == before, "the subsets left something behind");
    // The numbers hold: one copy of z fits, and needs a tenth of what ten did, out of the
    // same room.
    c.put_rendezvous(
        &z,
        &RendezvousRequest {
            k: 2,
            copies: 1,
            base: ip("239.3.0.0"),
        },
    )
    .await
    .unwrap();
    let plan_z = wait_ready(&c, &z).await;
    let small = plan_z
        .budget
        .iter()
        .find(|b| b.dpid == Dpid(SMALL))
        .unwrap();
    assert_eq!(small.groups_needed * 10, line.groups_needed, "{small:?}");
    assert_eq!(small.groups_available, Some(available), "{small:?}");
    assert!(plan_z.budget.iter().all(SwitchBudget::fits));

    // Controls: without the unknown field, the renew and subset bodies of the table are
    // accepted and do change the state the cases compared.
    let control = state(&c, &f).await;
    for (method, path, valid, _) in [&routes[4], &routes[1]] {
        let (st, _, body) = req!(method.clone(), path, Some(&valid.to_string())).await;
        assert!(
            st == 200 || st == 201,
            "{method} {path}: {st} {}",
            String::from_utf8_lossy(&body)
        );
    }
    let changed = state(&c, &f).await;
    assert_ne!(changed.claims, control.claims);
    assert_ne!(changed.subsets, control.subsets);
    assert_ne!(changed.tables, control.tables);

    for o in &observed {
        println!("{o}");
    }
    println!("{} bad requests, none changed anything", observed.len());
    d.stop().await;
}
