//! Encode and decode throughput of the two messages the controller sends most: the subset
//! FLOW_MOD (3 OXM fields, apply-actions group) and a 3-bucket GROUP_MOD.
//! Run: `cargo bench -p openflow --bench codec`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use openflow::msg::{FlowMod, FlowModFlags, GroupMod};
use openflow::{
    Action, Bucket, Cookie, GroupId, GroupType, Instruction, Match, Message, Oxm, PortNo, TableId,
    Xid,
};
use std::net::Ipv4Addr;

fn flow_mod() -> Message {
    let fm = FlowMod::add(
        TableId(0),
        1000,
        Match::new()
            .with(Oxm::InPort(PortNo(1)))
            .with(Oxm::EthType(0x0800))
            .with(Oxm::Ipv4Dst {
                value: Ipv4Addr::new(239, 1, 2, 3),
                mask: None,
            }),
        vec![Instruction::ApplyActions(vec![Action::Group(GroupId(7))])],
    )
    .with_cookie(Cookie(0x1234_5678_9abc_def0))
    .with_hard_timeout(5)
    .with_flags(FlowModFlags::SEND_FLOW_REM);
    Message::new(Xid(1), fm)
}

fn group_mod() -> Message {
    let buckets = (1..=3)
        .map(|p| Bucket::new(vec![Action::output(PortNo(p))]))
        .collect();
    Message::new(Xid(2), GroupMod::add(GroupType::All, GroupId(7), buckets))
}

fn bench(c: &mut Criterion) {
    for (name, msg) in [("flow_mod", flow_mod()), ("group_mod", group_mod())] {
        let bytes = match msg.encode() {
            Ok(b) => b,
            Err(e) => panic!("{name}: {e}"),
        };
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(1));
        // Encoding into a reused buffer, as a session batching writes does.
        let mut out = Vec::with_capacity(4096);
        g.bench_function("encode", |b| {
            b.iter(|| {
                out.clear();
                black_box(&msg).encode_into(&mut out).ok();
                black_box(out.len())
            })
        });
        g.bench_function("decode", |b| {
            b.iter(|| black_box(Message::decode(black_box(&bytes)).ok()))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
