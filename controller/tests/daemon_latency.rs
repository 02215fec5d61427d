//! A measurement, not run by default: the latency of `POST /v1/groups/{name}/subsets` until
//! ready through the whole daemon (HTTP, the core task, OpenFlow to every switch of the plan,
//! every barrier reply back), against the raw floor: per switch the same group add, barrier,
//! flow add, barrier, sent by a minimal client over persistent connections to the same
//! switch-sim switches (for each request, the switches tsmd wrote to, with the same bucket
//! counts). 3-member subsets, members on 3 different leaves of a leaf-spine. For reference,
//! `GET /healthz` (HTTP plus one query through the core task) is timed too.
//!
//! ```sh
//! cargo test --release -p controller --test daemon_latency -- --ignored --nocapture
//! TSMD_LATENCY_N=5000 cargo test --release ...    # more requests
//! ```
#![cfg(feature = "daemon")]
#![allow(clippy::unwrap_used)]

mod daemon_common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use api::{GroupName, GroupSpec, SubsetRequest};
use controller::rules::{group_add, group_delete, Rule};
use daemon_common::{settings, Fabric, Spec, TestDaemon};
use openflow::{Body, Framer, GroupId, Hello, Message, PortNo, Xid};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The buckets tsmd gives the subset of `members` (host indices) on `switches`: the one
/// spine among them is the root; a member leaf sends to its member and up, the root down to
/// each member leaf, any other leaf (senders only) up.
fn floor_ports(f: &Fabric, members: &[usize], switches: &[u64]) -> BTreeMap<u64, Vec<PortNo>> {
    let is_leaf = |d: u64| f.hosts.iter().any(|h| h.dpid == d);
    let root = *switches.iter().find(|d| !is_leaf(**d)).unwrap();
    let toward = |from: u64, to: u64| {
        f.links
            .iter()
            .find_map(
                |(a, pa, b, pb, _)| match (*a == from && *b == to, *b == from && *a == to) {
                    (true, _) => Some(PortNo(*pa)),
                    (_, true) => Some(PortNo(*pb)),
                    _ => None,
                },
            )
            .unwrap()
    };
    let mut out: BTreeMap<u64, Vec<PortNo>> = BTreeMap::new();
    for m in members {
        let h = &f.hosts[*m];
        out.entry(h.dpid)
            .or_default()
            .extend([PortNo(h.port), toward(h.dpid, root)]);
        out.entry(root).or_default().push(toward(root, h.dpid));
    }
    for d in switches {
        out.entry(*d).or_insert_with(|| vec![toward(*d, root)]);
    }
    for p in out.values_mut() {
        p.sort_unstable();
        p.dedup();
    }
    assert!(out.keys().eq(switches.iter()), "{out:?} vs {switches:?}");
    out
}

/// One persistent raw OpenFlow connection to a switch's passive listener.
struct Raw {
    stream: TcpStream,
    framer: Framer,
    xid: u32,
    buf: Vec<u8>,
}

impl Raw {
    async fn connect(addr: SocketAddr) -> Raw {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let hello = Message::new(Xid(1), Body::Hello(Hello::ofp13()));
        stream.write_all(&hello.encode().unwrap()).await.unwrap();
        Raw {
            stream,
            framer: Framer::new(),
            xid: 10,
            buf: vec![0; 65536],
        }
    }

    /// Sends `bodies` in one write; returns the xid of the last.
    async fn send(&mut self, bodies: Vec<Body>) -> Xid {
        let mut out = Vec::new();
        for b in bodies {
            self.xid += 1;
            Message::new(Xid(self.xid), b)
                .encode_into(&mut out)
                .unwrap();
        }
        self.stream.write_all(&out).await.unwrap();
        Xid(self.xid)
    }

    /// Waits for the barrier reply with `xid`; an error before it is a failure.
    async fn barrier(&mut self, xid: Xid) {
        loop {
            while let Some(m) = self.framer.next_message() {
                let m = m.unwrap();
                match m.body {
                    Body::BarrierReply if m.xid == xid => return,
                    Body::Error(e) => panic!("switch refused: {e:?}"),
                    _ => {}
                }
            }
            let n = self.stream.read(&mut self.buf).await.unwrap();
            assert!(n > 0);
            self.framer.extend(&self.buf[..n]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture (in release)"]
async fn subset_latency_against_the_raw_floor() {
    let n: usize = std::env::var("TSMD_LATENCY_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let mut d = TestDaemon::start(settings(dir.path())).await;
    let of = d.of_addr();
    let spec = Spec {
        spines: 2,
        leaves: 4,
        hosts_per_leaf: 2,
    };
    let f = Fabric::leaf_spine(&spec, |_| format!("tcp:{of}"), |_, b| b);
    f.wait_discovered(&d.client).await;
    let c = d.client.clone();
    let g: GroupName = "bench".parse().unwrap();
    let all: Vec<IpAddr> = f.hosts.iter().map(|h| IpAddr::V4(h.ip)).collect();
    c.put_group(
        &g,
        &GroupSpec {
            address: "239.5.5.5".parse().unwrap(),
            members: all.clone().into(),
        },
    )
    .await
    .unwrap();

    // 3 members on 3 different leaves (hosts 2k, 2k+1 sit on leaf k), as host indices.
    let members_of = |i: usize| -> Vec<usize> {
        let leaves = [i % 4, (i + 1) % 4, (i + 2) % 4];
        leaves.iter().map(|l| 2 * l + (i / 4) % 2).collect()
    };
    let mut raws: BTreeMap<u64, Raw> = BTreeMap::new();
    for dpid in f.switches.keys() {
        raws.insert(*dpid, Raw::connect(f.listen_addr(*dpid)).await);
    }

    // Interleaved, so both see the same machine load: one request through tsmd, then the
    // same messages sent raw (persistent connections, no HTTP, no controller).
    let mut daemon = Vec::with_capacity(n);
    let mut floor = Vec::with_capacity(n);
    let mut health = Vec::with_capacity(n);
    let mut switches = 0usize;
    for i in 0..n {
        let t = Instant::now();
        c.healthz().await.unwrap();
        health.push(t.elapsed());
        let t = Instant::now();
        let members = members_of(i);
        let s = c
            .create_subset(
                &g,
                &SubsetRequest {
                    members: members.iter().map(|h| all[*h]).collect(),
                    lease_ms: 60_000,
                },
            )
            .await
            .unwrap();
        daemon.push(t.elapsed());
        c.delete_subset(s.address).await.unwrap();
        switches += s.switches.len();
        // The floor writes to the switches tsmd wrote to, with the same buckets.
        let ports = floor_ports(
            &f,
            &members,
            &s.switches.iter().map(|d| d.0).collect::<Vec<_>>(),
        );

        let dst = IpAddr::V4(Ipv4Addr::new(239, 200, (i >> 8) as u8, i as u8));
        let rule = Rule::new(
            dst,
            0x7473_6d00_0000_1000 + i as u64,
            Duration::from_secs(60),
        )
        .unwrap();
        let gid = GroupId(0x5454_0000);
        let t = Instant::now();
        let mut xids = Vec::new();
        for (dpid, buckets) in &ports {
            let r = raws.get_mut(dpid).unwrap();
            let bodies = vec![
                Body::GroupMod(group_add(gid, buckets)),
                Body::BarrierRequest,
                Body::FlowMod(rule.flow_add(gid)),
                Body::BarrierRequest,
            ];
            xids.push((*dpid, r.send(bodies).await));
        }
        for (dpid, x) in xids {
            raws.get_mut(&dpid).unwrap().barrier(x).await;
        }
        floor.push(t.elapsed());
        for dpid in ports.keys() {
            let r = raws.get_mut(dpid).unwrap();
            let x = r
                .send(vec![
                    Body::FlowMod(rule.flow_delete()),
                    Body::BarrierRequest,
                    Body::GroupMod(group_delete(gid)),
                    Body::BarrierRequest,
                ])
                .await;
            r.barrier(x).await;
        }
    }
    daemon.sort();
    floor.sort();
    health.sort();
    let (d50, d99) = (percentile(&daemon, 0.5), percentile(&daemon, 0.99));
    let (f50, f99) = (percentile(&floor, 0.5), percentile(&floor, 0.99));
    println!(
        "{n} subsets of 3 members on 3 leaves, {:.2} switches per install (switch-sim, loopback TCP)",
        switches as f64 / n as f64
    );
    println!(
        "  tsmd POST until ready: p50 {:.0} µs  p99 {:.0} µs",
        us(d50),
        us(d99)
    );
    println!(
        "  raw floor (group+barrier+flow+barrier): p50 {:.0} µs  p99 {:.0} µs",
        us(f50),
        us(f99)
    );
    println!(
        "  GET /healthz (HTTP + core task round trip): p50 {:.0} µs  p99 {:.0} µs",
        us(percentile(&health, 0.5)),
        us(percentile(&health, 0.99))
    );
    println!(
        "  ratio: p50 {:.2}x  p99 {:.2}x",
        us(d50) / us(f50),
        us(d99) / us(f99)
    );
    d.stop().await;
}
