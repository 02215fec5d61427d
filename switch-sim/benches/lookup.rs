//! Flow lookup throughput with 10,000 flows installed: exact IPv4 destinations at one
//! priority, some prefixes at lower priorities, a table-miss entry.
//!
//! `cargo bench -p switch-sim --bench lookup` prints lookups per second for the classifier
//! alone (packet keys parsed beforehand), for `trace` (parse, lookup, actions, one output copy)
//! and for `process` (the same plus counters).

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Instant;

use openflow::oxm::MacAddr;
use openflow::{Action, FlowMod, Instruction, Match, Message, Oxm, PortNo, TableId, Xid};
use switch_sim::packet::build::udp4;
use switch_sim::{Config, FlowKey, Pipeline, Time};

const FLOWS: u32 = 10_000;

fn dst(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 | (i * 7919 % 0x00ff_ffff))
}

fn add(p: &mut Pipeline, prio: u16, m: Match, port: u32) {
    let fm = FlowMod::add(
        TableId(0),
        prio,
        m,
        vec![Instruction::ApplyActions(vec![Action::output(PortNo(
            port,
        ))])],
    );
    p.handle_message(Time::ZERO, &Message::new(Xid(0), fm));
}

fn setup() -> Pipeline {
    let mut p = Pipeline::with_ports(Config::default(), 8);
    for i in 0..FLOWS {
        let m = Match::new().with(Oxm::EthType(0x0800)).with(Oxm::Ipv4Dst {
            value: dst(i),
            mask: None,
        });
        add(&mut p, 100, m, 1 + i % 7);
    }
    // Wildcard entries: /16 and /8 prefixes and a UDP port rule.
    for i in 0..40u32 {
        let m = Match::new().with(Oxm::EthType(0x0800)).with(Oxm::Ipv4Dst {
            value: Ipv4Addr::from(0x0b00_0000 | (i << 16)),
            mask: Some(Ipv4Addr::new(255, 255, 0, 0)),
        });
        add(&mut p, 50, m, 2);
    }
    for i in 0..10u32 {
        let m = Match::new().with(Oxm::EthType(0x0800)).with(Oxm::Ipv4Dst {
            value: Ipv4Addr::from((20 + i) << 24),
            mask: Some(Ipv4Addr::new(255, 0, 0, 0)),
        });
        add(&mut p, 10, m, 3);
    }
    let m = Match::new()
        .with(Oxm::EthType(0x0800))
        .with(Oxm::IpProto(17))
        .with(Oxm::UdpDst(9999));
    add(&mut p, 5, m, 4);
    add(&mut p, 0, Match::new(), 5);
    while p.poll_output().is_some() {}
    assert_eq!(p.flow_count(TableId(0)), FLOWS as usize + 52);
    p
}

fn packets() -> Vec<Vec<u8>> {
    let a = MacAddr([2, 0, 0, 0, 0, 1]);
    let b = MacAddr([2, 0, 0, 0, 0, 2]);
    (0..FLOWS)
        .map(|i| {
            // Nine in ten hit an exact entry; the rest a prefix or the table-miss entry.
            let d = match i % 10 {
                0 => Ipv4Addr::from(0x0b00_0000 | ((i % 40) << 16) | i),
                _ => dst(i),
            };
            udp4(
                a,
                b,
                Ipv4Addr::new(192, 168, 0, 1),
                d,
                1000 + (i % 100) as u16,
                5000,
                b"x",
            )
        })
        .collect()
}

fn rate(name: &str, n: u64, f: impl FnMut()) -> f64 {
    let mut f = f;
    let start = Instant::now();
    f();
    let secs = start.elapsed().as_secs_f64();
    let r = n as f64 / secs;
    println!("{name:<40} {:>12.0} lookups/s ({:.0} ns each)", r, 1e9 / r);
    r
}

fn main() {
    let mut p = setup();
    let pkts = packets();
    let keys: Vec<FlowKey> = pkts
        .iter()
        .map(|b| FlowKey::from_packet(PortNo(8), b))
        .collect();
    // Sanity: every packet matches something, most an exact entry.
    let exact = keys
        .iter()
        .filter(|k| p.lookup(TableId(0), k).map(|f| f.priority) == Some(100))
        .count();
    assert!(exact >= 8_900, "{exact}");
    let rounds = 100u64;
    let n = rounds * keys.len() as u64;
    println!(
        "{} flows in table 0, {} distinct packets, {rounds} rounds",
        p.flow_count(TableId(0)),
        keys.len()
    );
    rate("classifier lookup (key parsed)", n, || {
        for _ in 0..rounds {
            for k in &keys {
                black_box(p.lookup(TableId(0), black_box(k)));
            }
        }
    });
    rate("parse + lookup", n, || {
        for _ in 0..rounds {
            for b in &pkts {
                let k = FlowKey::from_packet(PortNo(8), black_box(b));
                black_box(p.lookup(TableId(0), &k));
            }
        }
    });
    rate("trace (parse, lookup, actions, copy out)", n, || {
        for _ in 0..rounds {
            for b in &pkts {
                black_box(p.trace(PortNo(8), black_box(b)));
            }
        }
    });
    rate("process (trace + counters)", n, || {
        for r in 0..rounds {
            for b in &pkts {
                black_box(p.process(Time::from_millis(r), PortNo(8), black_box(b)));
            }
        }
    });
}
