//! A fabric of switch-sims in one process: three switches in a line joined by in-memory
//! links, five simulated hosts, and one controller that the switches connect to actively
//! and that tells them apart by datapath id. The controller installs a multicast tree (ALL
//! groups); a datagram from h1 reaches h2, h3 and h4 exactly once and never h5. When the
//! s2–s3 link goes down the controller hears PORT_STATUS from both ends and the datagram
//! reaches only what is still connected; when it comes back, everything again.
//!
//! ```text
//!  h1 ─1┐         ┌3─ h3
//!       s1 3 ── 1 s2 2 ── 1 s3 ─2─ h4
//!  h2 ─2┘                    └3─ h5
//! ```

#![allow(clippy::unwrap_used)] // a panic in a test is a failed assertion

mod switch_common;

use std::collections::BTreeMap;
use std::time::Duration;

use openflow::port::PortState;
use openflow::{Action, Body, Bucket, GroupId, GroupMod, GroupType, PortNo};
use switch_common::*;
use switch_sim::ports::{memory_link, MemoryEnd, PortSpec};
use switch_sim::Switch;
use tokio::net::TcpListener;

const GROUP_ADDR: [u8; 4] = [239, 5, 5, 5];

/// Sends from h1 and checks who got the frame: exactly the `expect`ed hosts, once each.
async fn deliver(
    hosts: &mut BTreeMap<&'static str, MemoryEnd>,
    payload: &[u8],
    expect: &[&'static str],
) {
    let frame = udp(1, GROUP_ADDR, payload);
    assert!(hosts["h1"].send(frame.clone()));
    for h in expect {
        let got = hosts.get_mut(h).unwrap().recv_timeout(WAIT).await;
        assert_eq!(got.as_ref(), Some(&frame), "{h}");
    }
    // Give stray copies time to show up.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (h, end) in hosts.iter_mut() {
        assert!(
            end.try_recv().is_none(),
            "{h} got a frame it should not have"
        );
    }
}

async fn port_status(c: &mut Ctl, port: u32, up: bool) {
    let m = c
        .async_msg(
            WAIT,
            |m| matches!(&m.body, Body::PortStatus(ps) if ps.desc.port_no == PortNo(port)),
        )
        .await
        .unwrap_or_else(|| panic!("no PORT_STATUS for port {port}"));
    match m.body {
        Body::PortStatus(ps) => assert_eq!(ps.desc.state.contains(PortState::LINK_DOWN), !up),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn multicast_tree_across_three_switches() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("tcp:{}", l.local_addr().unwrap());

    let (h1, s1p1) = memory_link();
    let (h2, s1p2) = memory_link();
    let (s1p3, s2p1) = memory_link();
    let (h3, s2p3) = memory_link();
    let (s2p2, s3p1) = memory_link();
    let (h4, s3p2) = memory_link();
    let (h5, s3p3) = memory_link();
    let s2_s3 = s2p2.link_control();
    let start = |dpid: u64, ports: Vec<(u32, MemoryEnd)>| {
        let mut b = Switch::builder().dpid(dpid).controller(target.clone());
        for (n, end) in ports {
            b = b.port(n, PortSpec::memory(end).named(format!("s{dpid}-eth{n}")));
        }
        b.start().unwrap()
    };
    let switches = vec![
        start(1, vec![(1, s1p1), (2, s1p2), (3, s1p3)]),
        start(2, vec![(1, s2p1), (2, s2p2), (3, s2p3)]),
        start(3, vec![(1, s3p1), (2, s3p2), (3, s3p3)]),
    ];
    let mut hosts = BTreeMap::from([("h1", h1), ("h2", h2), ("h3", h3), ("h4", h4), ("h5", h5)]);

    // Accept the three switches and learn who is who from FEATURES_REPLY.
    let mut ctl = BTreeMap::new();
    for _ in 0..3 {
        let mut c = Ctl::accept(&l).await;
        c.request(Body::FeaturesRequest).await;
        let dpid = match c.reply().await.body {
            Body::FeaturesReply(f) => f.datapath_id.0,
            other => panic!("{other:?}"),
        };
        ctl.insert(dpid, c);
    }
    assert_eq!(ctl.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3]);

    // The tree: groups first, barrier, then the flows (never a flow before its group).
    let tree: [(u64, &[u32]); 3] = [(1, &[2, 3]), (2, &[2, 3]), (3, &[2])];
    for (dpid, ports) in tree {
        let c = ctl.get_mut(&dpid).unwrap();
        let buckets = ports.iter().map(|p| Bucket::new(vec![out(*p)])).collect();
        c.request(GroupMod::add(GroupType::All, GroupId(1), buckets))
            .await;
        c.barrier().await;
        c.request(flow(
            100,
            ip_dst(GROUP_ADDR),
            vec![Action::Group(GroupId(1))],
        ))
        .await;
        let replies = c.barrier().await;
        assert_eq!(replies.len(), 1, "s{dpid} refused: {replies:?}");
    }
    deliver(&mut hosts, b"one", &["h2", "h3", "h4"]).await;

    // The s2–s3 link goes down: both ends report it, and only h2 and h3 are reached.
    s2_s3.set_carrier(false);
    port_status(ctl.get_mut(&2).unwrap(), 2, false).await;
    port_status(ctl.get_mut(&3).unwrap(), 1, false).await;
    deliver(&mut hosts, b"two", &["h2", "h3"]).await;

    s2_s3.set_carrier(true);
    port_status(ctl.get_mut(&2).unwrap(), 2, true).await;
    port_status(ctl.get_mut(&3).unwrap(), 1, true).await;
    deliver(&mut hosts, b"three", &["h2", "h3", "h4"]).await;

    // A host that goes away takes its port down.
    drop(hosts.remove("h5"));
    port_status(ctl.get_mut(&3).unwrap(), 3, false).await;

    for sw in switches {
        sw.shutdown().await;
    }
}
