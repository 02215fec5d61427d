//! Properties of the pipeline as a whole: the indexed lookup agrees with a linear scan, and no
//! input (controller message or packet) makes it panic.

use super::flow_match::compile;
use super::*;
use crate::packet::build::{tcp4, udp4};
use crate::FlowKey;
use openflow::oxm::{MacAddr, Oxm};
use openflow::{Action, FlowMod, Instruction, Match};
use proptest::collection::vec;
use proptest::prelude::*;
use std::net::Ipv4Addr;

fn small_match() -> impl Strategy<Value = Match> {
    (
        proptest::option::of(1u32..=4),
        proptest::option::of((0u8..4, prop_oneof![Just(8u8), Just(16), Just(24), Just(32)])),
        proptest::option::of((
            prop_oneof![Just(6u8), Just(17)],
            proptest::option::of(0u16..3),
        )),
    )
        .prop_map(|(in_port, dst, l4)| {
            let mut m = Match::new();
            if let Some(p) = in_port {
                m = m.with(Oxm::InPort(PortNo(p)));
            }
            if dst.is_none() && l4.is_none() {
                return m;
            }
            m = m.with(Oxm::EthType(0x0800));
            if let Some((x, len)) = dst {
                let mask = u32::MAX << (32 - u32::from(len));
                let value = u32::from(Ipv4Addr::new(10, x, x, 1)) & mask;
                m = m.with(Oxm::Ipv4Dst {
                    value: value.into(),
                    mask: (len < 32).then_some(mask.into()),
                });
            }
            if let Some((proto, port)) = l4 {
                m = m.with(Oxm::IpProto(proto));
                if let Some(p) = port {
                    m = m.with(if proto == 6 {
                        Oxm::TcpDst(p)
                    } else {
                        Oxm::UdpDst(p)
                    });
                }
            }
            m
        })
}

fn packet() -> impl Strategy<Value = (u32, Vec<u8>)> {
    (1u32..=4, 0u8..4, any::<bool>(), 0u16..3).prop_map(|(in_port, x, tcp, port)| {
        let (a, b) = (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
        let src = Ipv4Addr::new(192, 168, 0, 1);
        let dst = Ipv4Addr::new(10, x, x, 1);
        let p = if tcp {
            tcp4(a, b, src, dst, 9, port, b"t")
        } else {
            udp4(a, b, src, dst, 9, port, b"u")
        };
        (in_port, p)
    })
}

#[derive(Clone, Debug)]
enum Op {
    Add(u16, Match),
    Delete(Match),
    DeleteStrict(u16, Match),
}

fn op() -> impl Strategy<Value = Op> {
    let prio = prop_oneof![Just(0u16), Just(1), Just(5), Just(10)];
    prop_oneof![
        6 => (prio.clone(), small_match()).prop_map(|(p, m)| Op::Add(p, m)),
        1 => small_match().prop_map(Op::Delete),
        1 => (prio, small_match()).prop_map(|(p, m)| Op::DeleteStrict(p, m)),
    ]
}

fn apply_op(p: &mut Pipeline, op: &Op) {
    let fm = match op {
        Op::Add(prio, m) => FlowMod::add(
            TableId(0),
            *prio,
            m.clone(),
            vec![Instruction::ApplyActions(vec![Action::output(PortNo(1))])],
        ),
        Op::Delete(m) => FlowMod::delete(TableId(0), m.clone()),
        Op::DeleteStrict(prio, m) => FlowMod::delete_strict(TableId(0), *prio, m.clone()),
    };
    p.handle_message(Time::ZERO, &Message::new(Xid(1), fm));
    while let Some(m) = p.poll_output() {
        assert!(!matches!(m.body, Body::Error(_)), "refused {op:?}: {m:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The classifier finds an entry of the highest priority among the matching ones (and
    /// nothing when none matches), whatever adds and deletes came before.
    #[test]
    fn indexed_lookup_agrees_with_linear_scan(
        ops in vec(op(), 1..40),
        pkts in vec(packet(), 1..20),
    ) {
        let mut p = Pipeline::with_ports(Config::default(), 4);
        for o in &ops {
            apply_op(&mut p, o);
        }
        let entries: Vec<(u16, super::flow_match::Compiled)> = p
            .flows
            .iter()
            .flatten()
            .map(|e| (e.priority, e.m))
            .collect();
        prop_assert_eq!(entries.len(), p.flow_count(TableId(0)));
        for (in_port, bytes) in &pkts {
            let key = FlowKey::from_packet(PortNo(*in_port), bytes);
            let best = entries.iter().filter(|(_, m)| m.matches(&key)).map(|(pr, _)| *pr).max();
            let got = p.lookup(TableId(0), &key);
            prop_assert_eq!(got.map(|f| f.priority), best);
            if let Some(f) = got {
                // The entry found does match.
                let hit = p.flows.iter().flatten().any(|e| e.priority == f.priority && e.m.matches(&key));
                prop_assert!(hit);
            }
        }
    }

    /// Arbitrary controller messages and arbitrary bytes never make the pipeline panic, and
    /// `trace` agrees with `process` on where a packet goes.
    #[test]
    fn no_input_panics(
        msgs in vec(openflow::message::arb::message(), 0..12),
        pkts in vec((0u32..6, vec(any::<u8>(), 0..120)), 0..8),
    ) {
        let mut p = Pipeline::with_ports(Config { n_tables: 4, ..Config::default() }, 4);
        for m in &msgs {
            p.handle_message(Time::from_secs(1), m);
        }
        while p.poll_output().is_some() {}
        for (port, bytes) in &pkts {
            let t = p.trace(PortNo(*port), bytes);
            let r = p.process(Time::from_secs(2), PortNo(*port), bytes);
            prop_assert_eq!(t.outputs, r.outputs);
        }
        p.handle_timeout(Time::from_secs(100_000));
    }

    /// Compiling a match never panics on any OXM list.
    #[test]
    fn compile_never_panics(m in openflow::oxm::arb::match_()) {
        let _ = compile(&m);
    }
}
