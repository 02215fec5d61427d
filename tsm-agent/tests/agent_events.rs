//! The agent's event follower against the real `api::router` over a small service whose
//! event log the test writes: it resynchronises when it starts and when sequence numbers
//! are skipped (it then learns a membership change it never got an event for), and reads a
//! group's version when a `group_put` event names it; `tsm-agent follow` prints a line where
//! sequence numbers were skipped.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use api::events::{Event, EventKind};
use api::{Client, Dpid, GroupName, GroupSpec};
use tsm_agent::Agent;

fn event(seq: u64, kind: EventKind) -> Event {
    Event { seq, at: 0, kind }
}

fn switch_up(seq: u64) -> Event {
    event(seq, EventKind::SwitchUp { dpid: Dpid(1) })
}

async fn put_storage(client: &Client, members: &[&str]) -> u64 {
    let spec = GroupSpec {
        address: "239.1.1.1".parse().unwrap(),
        members: members
            .iter()
            .map(|m| m.parse().unwrap())
            .collect::<Vec<std::net::IpAddr>>()
            .into(),
    };
    let name: GroupName = "storage".parse().unwrap();
    client
        .put_group(&name, &spec)
        .await
        .unwrap()
        .into_inner()
        .version
}

async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipped_sequence_numbers_make_the_agent_resynchronise() {
    let server = common::serve().await;
    let client = Client::new(&server.url).unwrap();
    assert_eq!(put_storage(&client, &["10.0.0.1", "10.0.0.2"]).await, 1);

    let agent = Agent::new(&[&server.url], None).unwrap();
    // Starting to follow reads the state once.
    eventually("following, resynchronised once", || {
        let s = agent.sync_status();
        s.connected && s.resyncs == 1
    })
    .await;
    assert_eq!(agent.members_version("storage"), Some(1));

    let log = &server.fabric.events;
    log.push(switch_up(1));
    log.push(switch_up(2));
    eventually("two events in order", || agent.sync_status().events == 2).await;
    assert_eq!(agent.sync_status().gaps, 0);
    assert_eq!(agent.sync_status().resyncs, 1);

    // The membership changes and its event (3, 4) never reaches the agent: 5 follows 2.
    assert_eq!(put_storage(&client, &["10.0.0.1", "10.0.0.3"]).await, 2);
    log.push(switch_up(5));
    eventually("the gap is noticed and the state re-read", || {
        let s = agent.sync_status();
        s.gaps == 1 && s.resyncs == 2
    })
    .await;
    assert_eq!(agent.members_version("storage"), Some(2));
    assert_eq!(agent.sync_status().last_seq, Some(5));

    // A group_put event in order: the agent reads that group, no resynchronisation.
    assert_eq!(put_storage(&client, &["10.0.0.2", "10.0.0.3"]).await, 3);
    log.push(event(
        6,
        EventKind::GroupPut {
            group: "storage".into(),
            address: "239.1.1.1".parse().unwrap(),
            members: vec![],
        },
    ));
    eventually("the new version is read", || {
        agent.members_version("storage") == Some(3)
    })
    .await;
    let s = agent.sync_status();
    assert_eq!((s.gaps, s.resyncs, s.events), (1, 2, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_withheld_from_a_scoped_token_are_not_gaps_but_lost_ones_are() {
    use api::auth::{Authenticator, GroupScope, Right, TokenHash, TokenSpec};
    use std::sync::Arc;

    // The real router with tokens: the agent's token may use only "storage".
    const SECRET: &str = "tsm_agent_scope_0123456789abcdef0123456789";
    let fabric = Arc::new(common::Fabric::new());
    let auth = Authenticator::new([TokenSpec {
        name: "agent".into(),
        hash: TokenHash::of(SECRET),
        groups: GroupScope::from_list(["storage"]).unwrap(),
        rights: [Right::Claims].into(),
    }])
    .unwrap();
    let app = api::router_with(
        Arc::clone(&fabric),
        api::RouterConfig::new().auth(Arc::new(auth)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });

    let agent = Agent::new(&[&url], Some(SECRET)).unwrap();
    eventually("following", || {
        let s = agent.sync_status();
        s.connected && s.resyncs == 1
    })
    .await;
    let other = |seq: u64| {
        event(
            seq,
            EventKind::PlanDeleted {
                group: "other".into(),
            },
        )
    };
    let log = &fabric.events;
    // 2, 3 and 5 concern a group outside the token's scope: the agent never sees them.
    for e in [switch_up(1), other(2), other(3), switch_up(4), other(5)] {
        log.push(e);
    }
    eventually("the two visible events", || agent.sync_status().events == 2).await;
    log.push(switch_up(6));
    eventually("the next visible event", || agent.sync_status().events == 3).await;
    let s = agent.sync_status();
    assert_eq!((s.gaps, s.resyncs, s.last_seq), (0, 1, Some(6)));

    // A real loss (7 and 8 never logged) is still a gap, and the state is re-read.
    log.push(switch_up(9));
    eventually("the gap is noticed", || {
        let s = agent.sync_status();
        s.gaps == 1 && s.resyncs == 2
    })
    .await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tsm_agent_follow_prints_where_sequence_numbers_were_skipped() {
    let server = common::serve().await;
    let log = &server.fabric.events;
    // 3 and 4 never reach the stream: the CLI says so between 2 and 5.
    for e in [switch_up(1), switch_up(2), switch_up(5), switch_up(6)] {
        log.push(e);
    }
    let url = server.url.as_str();
    let follow = |json: bool| async move {
        let mut args = vec!["--url", url];
        if json {
            args.push("--json");
        }
        args.extend(["follow", "--after", "0", "--count", "4"]);
        common::tsm_agent(&args).await.ok()
    };
    let text = follow(false).await;
    let firsts: Vec<&str> = text
        .lines()
        .map(|l| l.split(" {").next().unwrap())
        .collect();
    assert_eq!(
        firsts,
        [
            "1 switch_up",
            "2 switch_up",
            "- skipped: events 3..4 did not arrive",
            "5 switch_up",
            "6 switch_up"
        ],
        "{text}"
    );
    let lines: Vec<serde_json::Value> = follow(true)
        .await
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert_eq!(
        lines[2],
        serde_json::json!({"type": "skipped", "first": 3, "last": 4})
    );
    let seqs: Vec<u64> = [0, 1, 3, 4]
        .iter()
        .map(|i| lines[*i]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 5, 6]);
}
