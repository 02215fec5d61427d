//! Instructions and actions (OF1.3.5 §5.9-5.12): apply vs write, the action-set order,
//! header rewriting with correct checksums, TTL handling, table-miss and PACKET_IN, PACKET_OUT.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed assertion

mod pipeline_common;
use pipeline_common::*;

use openflow::msg::{AsyncConfig, PacketInMask};
use openflow::oxm::MacAddr;
use openflow::{
    Action, Body, FlowMod, GroupId, GroupType, Instruction, Match, Oxm, PacketInReason, PacketOut,
    PortNo, TableId,
};
use std::net::{Ipv4Addr, Ipv6Addr};
use switch_sim::packet::build::{self, checksums_ok};
use switch_sim::{DropReason, FlowKey, Time};

fn write(actions: Vec<Action>) -> Vec<Instruction> {
    vec![Instruction::WriteActions(actions)]
}

fn key_of(bytes: &[u8]) -> FlowKey {
    FlowKey::from_packet(PortNo(1), bytes)
}

#[test]
fn no_flow_means_drop_and_table_miss_entry_sends_to_controller() {
    let mut p = sw(2);
    let pkt = udp([10, 0, 0, 2], 1);
    let r = p.trace(PortNo(1), &pkt);
    assert!(r.is_dropped());
    assert_eq!(r.drops, vec![DropReason::NoMatch { table: TableId(0) }]);
    ok(
        &mut p,
        vec![flow(
            0,
            Match::new(),
            apply(vec![Action::Output {
                port: PortNo::CONTROLLER,
                max_len: 20,
            }]),
        )],
    );
    let r = p.process(Time::ZERO, PortNo(1), &pkt);
    let [pi] = r.packet_ins.as_slice() else {
        panic!("{r:?}")
    };
    assert_eq!(pi.reason, PacketInReason::NoMatch);
    assert_eq!(pi.in_port(), Some(PortNo(1)));
    assert_eq!(pi.data, pkt[..20]);
    assert_eq!(usize::from(pi.total_len), pkt.len());
    // The same PACKET_IN is queued for the controller.
    let queued = drain(&mut p);
    assert!(matches!(&queued[..], [m] if m.body == Body::PacketIn(pi.clone())));
}

#[test]
fn apply_actions_output_the_packet_as_it_is_then() {
    let mut p = sw(3);
    let new_dst = Ipv4Addr::new(192, 168, 0, 1);
    ok(
        &mut p,
        vec![flow(
            10,
            ip_dst([10, 0, 0, 2]),
            apply(vec![
                out(2),
                Action::SetField(Oxm::Ipv4Dst {
                    value: new_dst,
                    mask: None,
                }),
                out(3),
            ]),
        )],
    );
    let pkt = udp([10, 0, 0, 2], 1);
    let r = p.trace(PortNo(1), &pkt);
    assert_eq!(r.outputs[0], (PortNo(2), pkt.clone()));
    let (port, rewritten) = &r.outputs[1];
    assert_eq!(*port, PortNo(3));
    assert_eq!(key_of(rewritten).ipv4_dst(), new_dst);
    assert!(checksums_ok(rewritten));
}

#[test]
fn action_set_runs_in_spec_order_not_write_order() {
    let mut p = sw(3);
    // Written in an order opposite to OF1.3.5 §5.10: output, set TTL, decrement TTL, push
    // VLAN, pop VLAN. The set executes pop, push, decrement, set, output.
    ok(
        &mut p,
        vec![flow(
            10,
            Match::new()
                .with(Oxm::VlanVid {
                    value: 0x1000,
                    mask: Some(0x1000),
                })
                .with(Oxm::EthType(0x0800)),
            write(vec![
                out(2),
                Action::SetNwTtl(10),
                Action::DecNwTtl,
                Action::PushVlan(0x8100),
                Action::PopVlan,
            ]),
        )],
    );
    let tagged = build::with_vlan(&udp([10, 0, 0, 2], 1), 5, 3);
    let r = p.trace(PortNo(1), &tagged);
    let [(port, bytes)] = r.outputs.as_slice() else {
        panic!("{r:?}")
    };
    assert_eq!(*port, PortNo(2));
    let k = key_of(bytes);
    // Pop then push: a fresh tag (VID 0, PCP 0), not the old one back.
    assert_eq!(k.vlan_vid(), 0x1000);
    assert_eq!(bytes.len(), tagged.len());
    // Decrement then set: the TTL is the set value.
    assert_eq!(bytes[18 + 8], 10);
    assert!(checksums_ok(bytes));
}

#[test]
fn group_in_action_set_wins_over_output() {
    let mut p = sw(3);
    ok(
        &mut p,
        vec![
            group(
                GroupType::Indirect,
                1,
                vec![openflow::Bucket::new(vec![out(3)])],
            ),
            flow(
                10,
                Match::new(),
                write(vec![out(2), Action::Group(GroupId(1))]),
            ),
        ],
    );
    assert_eq!(
        p.trace(PortNo(1), &udp([1, 2, 3, 4], 1)).ports(),
        ports(&[3])
    );
}

#[test]
fn goto_clear_write_and_metadata_across_tables() {
    let mut p = sw(3);
    let t1 = |prio, m: Match, ins| {
        msg(FlowMod {
            table_id: TableId(1),
            ..FlowMod::add(TableId(1), prio, m, ins)
        })
    };
    ok(
        &mut p,
        vec![
            flow(
                10,
                Match::new(),
                vec![
                    Instruction::WriteActions(vec![out(2)]),
                    Instruction::WriteMetadata {
                        metadata: 0xab,
                        mask: 0xff,
                    },
                    Instruction::GotoTable(TableId(1)),
                ],
            ),
            // Table 1 clears the set for metadata 0xab and writes port 3 instead.
            t1(
                10,
                Match::new().with(Oxm::Metadata {
                    value: 0xab,
                    mask: None,
                }),
                vec![
                    Instruction::ClearActions,
                    Instruction::WriteActions(vec![out(3)]),
                ],
            ),
            t1(5, Match::new(), vec![]),
        ],
    );
    let r = p.trace(PortNo(1), &udp([1, 2, 3, 4], 1));
    assert_eq!(r.ports(), ports(&[3]));
    assert_eq!(r.matched.len(), 2);
}

#[test]
fn ttl_reaching_zero_stops_the_packet() {
    let mut p = sw(3);
    ok(
        &mut p,
        vec![flow(
            10,
            ip_dst([10, 0, 0, 2]),
            apply(vec![Action::DecNwTtl, out(2)]),
        )],
    );
    let mut pkt = udp([10, 0, 0, 2], 1);
    pkt[14 + 8] = 1; // TTL (the header checksum does not matter here)
    let r = p.trace(PortNo(1), &pkt);
    assert!(r.outputs.is_empty());
    // The default async configuration sends no PACKET_IN for invalid TTL.
    assert!(r.packet_ins.is_empty());
    assert!(r.drops.contains(&DropReason::InvalidTtl));
    let mut cfg = AsyncConfig::default();
    cfg.packet_in_mask[0] = PacketInMask::all();
    ok(&mut p, vec![msg(Body::SetAsync(cfg))]);
    let r = p.trace(PortNo(1), &pkt);
    assert_eq!(r.packet_ins.len(), 1);
    assert_eq!(r.packet_ins[0].reason, PacketInReason::InvalidTtl);
    // A TTL of 64 goes through as 63, with a correct header checksum.
    let r = p.trace(PortNo(1), &udp([10, 0, 0, 2], 1));
    assert_eq!(r.outputs[0].1[14 + 8], 63);
    assert!(checksums_ok(&r.outputs[0].1));
}

#[test]
fn set_field_rewrites_headers_with_correct_checksums() {
    let m = |n| mac(n);
    let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let (a6, b6): (Ipv6Addr, Ipv6Addr) = (
        "2001:db8::1".parse().unwrap(),
        "2001:db8::2".parse().unwrap(),
    );
    let cases: Vec<(Vec<u8>, Match, Oxm)> = vec![
        (
            build::tcp4(m(1), m(2), a, b, 1234, 80, b"hello"),
            Match::new().with(Oxm::EthType(0x0800)),
            Oxm::Ipv4Src {
                value: Ipv4Addr::new(172, 16, 5, 4),
                mask: None,
            },
        ),
        (
            build::tcp4(m(1), m(2), a, b, 1234, 80, b"hello"),
            Match::new()
                .with(Oxm::EthType(0x0800))
                .with(Oxm::IpProto(6)),
            Oxm::TcpDst(8080),
        ),
        (
            build::udp4(m(1), m(2), a, b, 1, 2, b"odd"),
            Match::new()
                .with(Oxm::EthType(0x0800))
                .with(Oxm::IpProto(17)),
            Oxm::UdpSrc(53),
        ),
        (
            build::udp6(m(1), m(2), a6, b6, 1, 2, b"six"),
            Match::new().with(Oxm::EthType(0x86dd)),
            Oxm::Ipv6Dst {
                value: "ff0e::1:2".parse().unwrap(),
                mask: None,
            },
        ),
        (
            build::sctp4(m(1), m(2), a, b, 7, 9),
            Match::new()
                .with(Oxm::EthType(0x0800))
                .with(Oxm::IpProto(132)),
            Oxm::SctpDst(99),
        ),
        (
            build::icmp4_echo(m(1), m(2), a, b),
            Match::new()
                .with(Oxm::EthType(0x0800))
                .with(Oxm::IpProto(1)),
            Oxm::Icmpv4Type(0),
        ),
        (
            build::udp4(m(1), m(2), a, b, 1, 2, b"dscp"),
            Match::new().with(Oxm::EthType(0x0800)),
            Oxm::IpDscp(46),
        ),
        (
            build::udp4(m(1), m(2), a, b, 1, 2, b"mac"),
            Match::new(),
            Oxm::EthDst {
                value: MacAddr([0x02, 9, 9, 9, 9, 9]),
                mask: None,
            },
        ),
    ];
    for (pkt, m, set) in cases {
        assert!(checksums_ok(&pkt), "builder: {set:?}");
        let mut p = sw(2);
        ok(
            &mut p,
            vec![flow(
                10,
                m,
                apply(vec![Action::SetField(set.clone()), out(2)]),
            )],
        );
        let r = p.trace(PortNo(1), &pkt);
        let [(_, bytes)] = r.outputs.as_slice() else {
            panic!("{set:?}: {r:?}")
        };
        assert_ne!(*bytes, pkt, "{set:?} changed nothing");
        assert!(checksums_ok(bytes), "{set:?}: bad checksum after rewrite");
        let field = set.basic_field().unwrap();
        assert_ne!(
            key_of(bytes).field(field),
            key_of(&pkt).field(field),
            "{set:?}"
        );
    }
}

#[test]
fn push_and_pop_vlan_and_mpls() {
    let mut p = sw(3);
    ok(
        &mut p,
        vec![flow(
            10,
            ip_dst([10, 0, 0, 2]),
            apply(vec![
                Action::PushVlan(0x8100),
                Action::SetField(Oxm::VlanVid {
                    value: 0x1000 | 42,
                    mask: None,
                }),
                out(2),
                Action::PopVlan,
                Action::PushMpls(0x8847),
                Action::SetField(Oxm::MplsLabel(1000)),
                out(3),
            ]),
        )],
    );
    let pkt = udp([10, 0, 0, 2], 1);
    let r = p.trace(PortNo(1), &pkt);
    let k2 = key_of(&r.outputs[0].1);
    assert_eq!(k2.vlan_vid(), 0x1000 | 42);
    assert_eq!(k2.eth_type(), 0x0800);
    assert_eq!(r.outputs[0].1.len(), pkt.len() + 4);
    let k3 = key_of(&r.outputs[1].1);
    assert_eq!(k3.vlan_vid(), 0);
    assert_eq!(k3.eth_type(), 0x8847);
    assert_eq!(k3.field(openflow::oxm::OxmField::MplsLabel), Some(1000));
    // The MPLS TTL was copied from the IP TTL (64).
    assert_eq!(r.outputs[1].1[17], 64);
}

#[test]
fn output_reserved_ports() {
    let mut p = sw(4);
    ok(
        &mut p,
        vec![flow(
            10,
            Match::new(),
            apply(vec![
                Action::output(PortNo::ALL),
                Action::output(PortNo::IN_PORT),
                Action::output(PortNo::NORMAL),
                Action::output(PortNo::LOCAL),
            ]),
        )],
    );
    p.set_port_up(PortNo(4), false).unwrap();
    let r = p.process(Time::ZERO, PortNo(1), &udp([1, 1, 1, 1], 1));
    // ALL: every live port but the ingress one; IN_PORT: back to the ingress port.
    assert_eq!(r.ports(), ports(&[1, 2, 3]));
    assert!(r.drops.contains(&DropReason::NormalOrLocal(PortNo::NORMAL)));
    assert!(r.drops.contains(&DropReason::NormalOrLocal(PortNo::LOCAL)));
    assert_eq!(p.drop_counters().normal_or_local, 2);
}

#[test]
fn packet_out_to_a_port_and_through_the_tables() {
    let mut p = sw(3);
    ok(
        &mut p,
        vec![flow(10, ip_dst([10, 0, 0, 2]), apply(vec![out(3)]))],
    );
    let pkt = udp([10, 0, 0, 2], 1);
    p.handle_message(
        Time::ZERO,
        &msg(PacketOut::new(
            vec![out(2), Action::output(PortNo::TABLE)],
            pkt.clone(),
        )),
    );
    assert!(drain(&mut p).is_empty());
    let sent: Vec<_> = std::iter::from_fn(|| p.poll_transmit()).collect();
    assert_eq!(sent, vec![(PortNo(2), pkt.clone()), (PortNo(3), pkt)]);
}

#[test]
fn trace_changes_nothing_process_counts() {
    let mut p = sw(2);
    ok(
        &mut p,
        vec![msg(FlowMod::add(
            TableId(0),
            10,
            Match::new(),
            apply(vec![out(2)]),
        )
        .with_idle_timeout(5))],
    );
    let pkt = udp([1, 1, 1, 1], 1);
    let deadline = p.poll_timeout();
    for _ in 0..3 {
        p.trace(PortNo(1), &pkt);
    }
    assert_eq!(p.port_counters(PortNo(1)), Some((0, 0, 0, 0)));
    p.process(Time::from_secs(1), PortNo(1), &pkt);
    assert_eq!(p.port_counters(PortNo(1)).unwrap().0, 1);
    assert_eq!(p.port_counters(PortNo(2)).unwrap().1, 1);
    assert_eq!(p.poll_timeout(), deadline, "idle deadlines move lazily");
}
