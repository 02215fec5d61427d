//! Observability of a real tsmd (in-process, 127.0.0.1:0, switch-sim fabric over TCP):
//! - `GET /v1/events`: two SSE clients see identical, strictly increasing sequences of
//!   switch, link, host, group and subset events; a client resumes from `Last-Event-ID`;
//!   a resume point older than the ring is a `gap` (stream) or 410 (`?after=`); after a
//!   restart the numbering continues and `restored` comes first;
//! - `GET /metrics` parses as the Prometheus text format and its counters move with what
//!   tsmd does (installs, OpenFlow messages, HTTP requests, connected switches);
//! - `GET /healthz` is ready while switches can connect.
#![cfg(feature = "daemon")]
#![allow(clippy::unwrap_used)]

mod daemon_common;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use api::events::{Event, EventKind, Gap, Received};
use api::{ApiError, Client, EventStream, GroupName, GroupSpec, SubsetRequest};
use controller::daemon::metrics::{parse_exposition, Sample};
use controller::daemon::{self};
use daemon_common::{settings, sse_text_until, Fabric, Spec, TestDaemon};

fn name(s: &str) -> GroupName {
    s.parse().unwrap()
}

fn spec() -> Spec {
    Spec {
        spines: 1,
        leaves: 2,
        hosts_per_leaf: 2,
    }
}

/// Items until `stop` says so (within 20 s).
async fn read_until(stream: &mut EventStream, stop: impl Fn(&Event) -> bool) -> Vec<Event> {
    let mut out = Vec::new();
    loop {
        let item = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .expect("an event within 20 s")
            .expect("the stream goes on")
            .unwrap();
        match item {
            Received::Event(e) => {
                let done = stop(&e);
                out.push(e);
                if done {
                    return out;
                }
            }
            Received::Gap(g) => panic!("unexpected {g:?}"),
        }
    }
}

async fn put_group(c: &Client, g: &str, addr: &str, members: Vec<IpAddr>) {
    c.put_group(
        &name(g),
        &GroupSpec {
            address: addr.parse().unwrap(),
            members: members.into(),
        },
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_see_identical_sequences_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(settings(dir.path())).await;
    let c = d.client.clone();
    // Both follow from the very first event.
    let mut a = c.events(Some(0)).await.unwrap();
    let mut b = c.events(Some(0)).await.unwrap();
    let of = d.of_addr();
    let f = Fabric::leaf_spine(&spec(), |_| format!("tcp:{of}"), |_, b| b);
    f.wait_discovered(&c).await;
    let all: Vec<IpAddr> = f.hosts.iter().map(|h| IpAddr::V4(h.ip)).collect();
    put_group(&c, "backup", "239.7.7.7", all).await;
    let s = c
        .create_subset(
            &name("backup"),
            &SubsetRequest {
                members: vec![f.ip("h1"), f.ip("h4")],
                lease_ms: 30_000,
            },
        )
        .await
        .unwrap();
    c.delete_subset(s.address).await.unwrap();
    let removed = |e: &Event| matches!(&e.kind, EventKind::SubsetRemoved { address, .. } if *address == s.address);
    let got_a = read_until(&mut a, removed).await;
    let got_b = read_until(&mut b, removed).await;
    assert_eq!(
        got_a, got_b,
        "both clients saw the same events in the same order"
    );
    let seqs: Vec<u64> = got_a.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "1, 2, 3, …"
    );
    // What happened is all there, in causal order.
    let pos = |p: &dyn Fn(&EventKind) -> bool| got_a.iter().position(|e| p(&e.kind));
    let switch_up = pos(&|k| matches!(k, EventKind::SwitchUp { .. })).unwrap();
    let link_up = pos(&|k| matches!(k, EventKind::LinkUp { .. })).unwrap();
    let host = pos(&|k| matches!(k, EventKind::HostAdded { .. })).unwrap();
    let group =
        pos(&|k| matches!(k, EventKind::GroupPut { group, .. } if group == "backup")).unwrap();
    let ready = pos(&|k| {
        matches!(k, EventKind::SubsetReady { address, trace_id, .. }
            if *address == s.address && *trace_id == Some(s.trace_id))
    })
    .unwrap();
    assert!(switch_up < link_up && link_up < group && host < group && group < ready);
    assert_eq!(
        got_a
            .iter()
            .filter(|e| matches!(e.kind, EventKind::SwitchUp { .. }))
            .count(),
        3
    );
    // A late client resumes from an id and sees the same tail.
    let k = seqs[seqs.len() / 2];
    let mut late = c.events(Some(k)).await.unwrap();
    let tail = read_until(&mut late, removed).await;
    assert_eq!(tail, got_a[(k as usize)..].to_vec());
    // The JSON form has the same events.
    assert_eq!(c.events_after(Some(0)).await.unwrap(), got_a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_is_reported_and_the_numbering_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.events_buffer = 8;
    let of = daemon::bind("OpenFlow", "127.0.0.1:0".parse().unwrap()).unwrap();
    let mut d = TestDaemon::start_on(s.clone(), of).await;
    let c = d.client.clone();
    let member: IpAddr = "10.9.0.1".parse().unwrap();
    for i in 0..20 {
        put_group(&c, &format!("g{i}"), &format!("239.8.0.{i}"), vec![member]).await;
    }
    let held = c.events_after(None).await.unwrap();
    assert_eq!(held.len(), 8, "the ring holds the newest 8");
    let (first, last) = (held[0].seq, held[7].seq);
    assert_eq!(last, 20);
    // An explicit resume point that is gone: 410 naming what is available.
    let e = c.events(Some(2)).await.unwrap_err();
    assert_eq!(e.status(), Some(410));
    assert_eq!(
        e.api_error(),
        Some(&ApiError::EventsGone {
            after: 2,
            first_available: first,
            last
        })
    );
    assert_eq!(
        c.events_after(Some(2)).await.unwrap_err().status(),
        Some(410)
    );
    // A reconnect (Last-Event-ID) that is gone: the stream starts with a gap event.
    let mut resp = reqwest::Client::new()
        .get(format!("{}/v1/events", d.handle().base_url()))
        .header("accept", "text/event-stream")
        .header("last-event-id", "2")
        .send()
        .await
        .unwrap();
    let text = sse_text_until(&mut resp, "\n\n").await;
    let head = text.split("\n\n").next().unwrap();
    assert!(head.contains("event: gap"), "{text}");
    assert!(
        head.contains(&format!("\"first_available\":{first}")),
        "{text}"
    );
    drop(resp);

    // Restart: the numbering continues from the snapshot, `restored` first; a client that
    // resumes from before the restart gets a gap and then `restored`.
    let of_addr = d.of_addr();
    d.stop().await;
    let of = daemon::bind("OpenFlow", of_addr).unwrap();
    let d = TestDaemon::start_on(s, of).await;
    let c = d.client.clone();
    let held = c.events_after(None).await.unwrap();
    assert_eq!(held[0].seq, last + 1, "continues after {last}");
    assert_eq!(held[0].kind, EventKind::Restored);
    // From just before the restart: `restored` is next.
    let mut st = c.events(Some(last)).await.unwrap();
    let e = read_until(&mut st, |_| true).await;
    assert_eq!((e[0].seq, &e[0].kind), (last + 1, &EventKind::Restored));
    // From older than that: a gap, then `restored`.
    let mut resp = reqwest::Client::new()
        .get(format!("{}/v1/events", d.handle().base_url()))
        .header("accept", "text/event-stream")
        .header("last-event-id", "5")
        .send()
        .await
        .unwrap();
    let text = sse_text_until(&mut resp, "event: restored").await;
    let gap = text.find("event: gap").unwrap();
    assert!(gap < text.find("event: restored").unwrap(), "{text}");
    let expected = serde_json::to_string(&Gap {
        after: 5,
        first_available: last + 1,
    })
    .unwrap();
    assert!(text.contains(&expected), "{text}");
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

async fn scrape(c: &Client) -> Vec<Sample> {
    let text = c.metrics().await.unwrap();
    parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_their_counters_move() {
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(settings(dir.path())).await;
    let c = d.client.clone();
    assert_eq!(c.healthz().await.unwrap().status, "ok");
    let before = scrape(&c).await;
    assert_eq!(value(&before, "tsmd_switches_connected", &[]), 0.0);
    assert_eq!(
        value(&before, "tsmd_subset_install_seconds_count", &[]),
        0.0
    );
    let of = d.of_addr();
    let f = Fabric::leaf_spine(&spec(), |_| format!("tcp:{of}"), |_, b| b);
    f.wait_discovered(&c).await;
    let all: Vec<IpAddr> = f.hosts.iter().map(|h| IpAddr::V4(h.ip)).collect();
    put_group(&c, "backup", "239.9.9.9", all).await;
    let mid = scrape(&c).await;
    let s = c
        .create_subset(
            &name("backup"),
            &SubsetRequest {
                members: vec![f.ip("h1"), f.ip("h3")],
                lease_ms: 30_000,
            },
        )
        .await
        .unwrap();
    let after = scrape(&c).await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&mid, name, labels)
    };
    assert_eq!(value(&after, "tsmd_switches_connected", &[]), 3.0);
    assert_eq!(value(&after, "tsmd_subsets_live", &[]), 1.0);
    assert_eq!(value(&after, "tsmd_groups", &[]), 1.0);
    assert_eq!(delta("tsmd_subset_install_seconds_count", &[]), 1.0);
    assert!(value(&after, "tsmd_subset_install_seconds_sum", &[]) > 0.0);
    // One group and one flow per switch of the subset's tree, and a barrier each.
    let n = s.switches.len() as f64;
    assert!(
        delta(
            "tsmd_openflow_messages_sent_total",
            &[("type", "OFPT_GROUP_MOD")]
        ) >= n,
        "{n}"
    );
    assert!(
        delta(
            "tsmd_openflow_messages_sent_total",
            &[("type", "OFPT_FLOW_MOD")]
        ) >= n
    );
    assert!(
        delta(
            "tsmd_openflow_messages_received_total",
            &[("type", "OFPT_BARRIER_REPLY")]
        ) >= n
    );
    assert!(
        value(
            &after,
            "tsmd_openflow_messages_received_total",
            &[("type", "OFPT_FEATURES_REPLY")]
        ) >= 3.0
    );
    assert_eq!(
        delta(
            "tsmd_http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/v1/groups/{name}/subsets"),
                ("status", "201")
            ]
        ),
        1.0
    );
    assert_eq!(
        value(&after, "tsmd_events_last_seq", &[]),
        c.events_after(None).await.unwrap().last().unwrap().seq as f64
    );
    // Every series is labelled by route pattern, never by a concrete path.
    let routes: BTreeMap<String, f64> = after
        .iter()
        .filter(|s| s.name == "tsmd_http_requests_total")
        .map(|s| (s.labels["route"].clone(), s.value))
        .collect();
    assert!(routes.keys().all(|r| !r.contains("backup")), "{routes:?}");
}
