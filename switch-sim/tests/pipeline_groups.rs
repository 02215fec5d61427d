//! Group semantics (OF1.3.5 §5.6): ALL (with the ingress-port drop of §5.6.1), SELECT
//! (weights, determinism, liveness), INDIRECT, FAST_FAILOVER (port down and up), chaining.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed assertion

mod pipeline_common;
use pipeline_common::*;

use openflow::{Action, Bucket, GroupId, GroupType, PortNo};
use std::collections::BTreeMap;
use switch_sim::{DropReason, Time};

fn bucket(ports: &[u32]) -> Bucket {
    Bucket::new(ports.iter().map(|p| out(*p)).collect())
}

fn weighted(w: u16, port: u32) -> Bucket {
    Bucket {
        weight: w,
        ..bucket(&[port])
    }
}

fn watching(port: u32, out_port: u32) -> Bucket {
    Bucket {
        watch_port: PortNo(port),
        ..bucket(&[out_port])
    }
}

#[test]
fn all_group_copies_to_every_bucket_but_the_ingress_port() {
    let mut p = sw(4);
    ok(
        &mut p,
        vec![
            group(
                GroupType::All,
                1,
                vec![bucket(&[1]), bucket(&[2]), bucket(&[3])],
            ),
            flow(100, ip_dst([239, 1, 1, 1]), to_group(1)),
        ],
    );
    let pkt = udp([239, 1, 1, 1], 1);
    // From port 4: all three buckets deliver the same bytes.
    let r = p.trace(PortNo(4), &pkt);
    assert_eq!(r.ports(), ports(&[1, 2, 3]));
    assert!(r.outputs.iter().all(|(_, b)| *b == pkt));
    // From port 2: the copy back out of port 2 is dropped (OF1.3.5 §5.6.1).
    let r = p.trace(PortNo(2), &pkt);
    assert_eq!(r.ports(), ports(&[1, 3]));
    assert!(r.drops.contains(&DropReason::IngressPort(PortNo(2))));
}

#[test]
fn all_group_buckets_rewrite_their_own_copy() {
    let mut p = sw(3);
    let set_dst = |last: u8| {
        Action::SetField(openflow::Oxm::Ipv4Dst {
            value: std::net::Ipv4Addr::new(10, 9, 9, last),
            mask: None,
        })
    };
    ok(
        &mut p,
        vec![
            group(
                GroupType::All,
                1,
                vec![
                    Bucket::new(vec![set_dst(1), out(1)]),
                    Bucket::new(vec![set_dst(2), out(2)]),
                ],
            ),
            flow(100, ip_dst([239, 1, 1, 1]), to_group(1)),
        ],
    );
    let r = p.trace(PortNo(3), &udp([239, 1, 1, 1], 1));
    assert_eq!(r.outputs.len(), 2);
    for (port, bytes) in &r.outputs {
        assert_eq!(bytes[33], port.0 as u8, "each copy has its own destination");
        assert!(switch_sim::packet::build::checksums_ok(bytes));
    }
}

#[test]
fn select_group_is_deterministic_and_follows_weights() {
    let mut p = sw(4);
    ok(
        &mut p,
        vec![
            group(
                GroupType::Select,
                1,
                vec![weighted(1, 1), weighted(3, 2), weighted(0, 3)],
            ),
            flow(100, ip_dst([10, 0, 0, 9]), to_group(1)),
        ],
    );
    let mut per_port: BTreeMap<PortNo, usize> = BTreeMap::new();
    for sport in 0..4000u16 {
        let pkt = udp([10, 0, 0, 9], sport);
        let r = p.trace(PortNo(4), &pkt);
        assert_eq!(r.outputs.len(), 1, "one bucket per packet");
        // Determinism: the same flow always takes the same bucket.
        assert_eq!(p.trace(PortNo(4), &pkt).ports(), r.ports());
        *per_port.entry(r.outputs[0].0).or_default() += 1;
    }
    assert_eq!(per_port.get(&PortNo(3)), None, "weight 0 is never chosen");
    let (a, b) = (per_port[&PortNo(1)] as f64, per_port[&PortNo(2)] as f64);
    assert!(
        (b / (a + b) - 0.75).abs() < 0.05,
        "1:3 weights, got {a}:{b}"
    );
}

#[test]
fn select_group_skips_dead_buckets() {
    let mut p = sw(4);
    let live = |w, port| Bucket {
        watch_port: PortNo(port),
        ..weighted(w, port)
    };
    ok(
        &mut p,
        vec![
            group(GroupType::Select, 1, vec![live(1, 1), live(1, 2)]),
            flow(100, ip_dst([10, 0, 0, 9]), to_group(1)),
        ],
    );
    p.set_port_up(PortNo(1), false).unwrap();
    for sport in 0..200 {
        assert_eq!(
            p.trace(PortNo(4), &udp([10, 0, 0, 9], sport)).ports(),
            ports(&[2])
        );
    }
}

#[test]
fn indirect_group_takes_its_bucket() {
    let mut p = sw(3);
    ok(
        &mut p,
        vec![
            group(GroupType::Indirect, 5, vec![bucket(&[2])]),
            flow(100, ip_dst([10, 0, 0, 9]), to_group(5)),
        ],
    );
    assert_eq!(
        p.trace(PortNo(1), &udp([10, 0, 0, 9], 1)).ports(),
        ports(&[2])
    );
}

#[test]
fn fast_failover_follows_port_liveness() {
    let mut p = sw(4);
    ok(
        &mut p,
        vec![
            group(
                GroupType::FastFailover,
                1,
                vec![watching(1, 1), watching(2, 2)],
            ),
            flow(100, ip_dst([10, 0, 0, 9]), to_group(1)),
        ],
    );
    let pkt = udp([10, 0, 0, 9], 1);
    assert_eq!(p.trace(PortNo(4), &pkt).ports(), ports(&[1]));
    p.set_port_up(PortNo(1), false).unwrap();
    assert_eq!(p.trace(PortNo(4), &pkt).ports(), ports(&[2]));
    p.set_port_up(PortNo(2), false).unwrap();
    let r = p.trace(PortNo(4), &pkt);
    assert!(r.outputs.is_empty());
    assert!(r.drops.contains(&DropReason::NoLiveBucket(GroupId(1))));
    p.set_port_up(PortNo(1), true).unwrap();
    assert_eq!(p.trace(PortNo(4), &pkt).ports(), ports(&[1]));
}

#[test]
fn fast_failover_watching_a_group() {
    let mut p = sw(4);
    ok(
        &mut p,
        vec![
            group(GroupType::FastFailover, 2, vec![watching(1, 1)]),
            group(
                GroupType::FastFailover,
                1,
                vec![
                    Bucket {
                        watch_group: GroupId(2),
                        ..Bucket::new(vec![Action::Group(GroupId(2))])
                    },
                    watching(3, 3),
                ],
            ),
            flow(100, ip_dst([10, 0, 0, 9]), to_group(1)),
        ],
    );
    let pkt = udp([10, 0, 0, 9], 1);
    assert_eq!(p.trace(PortNo(4), &pkt).ports(), ports(&[1]));
    p.set_port_up(PortNo(1), false).unwrap();
    assert_eq!(p.trace(PortNo(4), &pkt).ports(), ports(&[3]));
}

#[test]
fn chained_groups_and_counters() {
    let mut p = sw(5);
    ok(
        &mut p,
        vec![
            group(GroupType::All, 2, vec![bucket(&[3]), bucket(&[4])]),
            group(
                GroupType::All,
                1,
                vec![bucket(&[1]), Bucket::new(vec![Action::Group(GroupId(2))])],
            ),
            flow(100, ip_dst([10, 0, 0, 9]), to_group(1)),
        ],
    );
    let pkt = udp([10, 0, 0, 9], 1);
    let r = p.process(Time::ZERO, PortNo(5), &pkt);
    assert_eq!(r.ports(), ports(&[1, 3, 4]));
    let (rx, _, rx_bytes, _) = p.port_counters(PortNo(5)).unwrap();
    assert_eq!((rx, rx_bytes), (1, pkt.len() as u64));
    for port in [1, 3, 4] {
        assert_eq!(p.port_counters(PortNo(port)).unwrap().1, 1, "tx on {port}");
    }
    // Group stats: each group and each of its buckets counted once.
    let replies = send(
        &mut p,
        Time::from_secs(3),
        vec![msg(openflow::multipart::MultipartRequest::group_stats(
            GroupId::ALL,
        ))],
    );
    let openflow::Body::MultipartReply(r) = &replies[0].body else {
        panic!("{replies:?}")
    };
    let openflow::multipart::MultipartReplyBody::Group(stats) = &r.body else {
        panic!("{r:?}")
    };
    assert_eq!(stats.len(), 2);
    for s in stats {
        assert_eq!(s.packet_count, 1);
        assert_eq!(s.duration_sec, 3);
        assert!(s.bucket_stats.iter().all(|b| b.packet_count == 1));
        assert_eq!(
            s.ref_count, 1,
            "group {:?}: one flow or one group uses it",
            s.group_id
        );
    }
}
