//! Bad BIER packets are counted and dropped, with no copy leaving the switch and no panic:
//! truncated header, wrong nibble or version, a BSL the BIFT does not have (or none at all),
//! TTL 0, bits for unknown BFR-ids (the known ones still go, RFC 8279 §6.5), an unknown
//! BIFT-id, an empty BitString, a LOCAL_DECAP bit without BFR record, non-BIER frames given
//! to bier_forward, non-IP frames given to bier_encap. Random bytes never make a copy unless
//! they form a valid header for an installed table.
#![allow(clippy::unwrap_used)]

mod bier_common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use bier::{BierHeader, BierRepr, BiftId, BitPosition, BitString, SetId};
use bier_common::{bier, drain, wire};
use openflow::ext::bier::{
    BfrCommand, BfrMod, BierAction, BiftCommand, BiftTable, Hop, LocalBfr, TableEntries,
};
use openflow::oxm::MacAddr;
use openflow::{FlowMod, Instruction, Match, Message, Oxm, PortNo, TableId, Xid};
use proptest::prelude::*;
use switch_sim::bier::convert::table_key;
use switch_sim::bier::BierDrop;
use switch_sim::{Config, DropReason, Pipeline, Time};

const BSL: bier::Bsl = bier::Bsl::B64;

fn bp(v: u16) -> BitPosition {
    BitPosition::new(v).unwrap()
}

fn bits(v: &[u16]) -> BitString {
    BitString::from_positions(BSL, v.iter().map(|&x| bp(x)))
}

/// One switch, ports 1–6: bits 1, 2, 3 are local (BFR-ids 1–3 on ports 2–4, decapsulated),
/// bit 4 is local without a BFR record, bit 10 goes to port 5; `eth_type=0xAB37 →
/// bier_forward`; from port 6 (a sender) `→ bier_encap{1,2}, bier_forward`.
fn switch() -> (Pipeline, u32) {
    let mut p = Pipeline::with_ports(Config::with_dpid(1), 6);
    let key = table_key(BSL, 0, SetId(0)).unwrap();
    let mut m = BTreeMap::new();
    for b in [1, 2, 3, 4] {
        m.insert(b, Hop::LocalDecap);
    }
    m.insert(10, Hop::Forward(vec![(PortNo(5), bits(&[10]).to_bytes())]));
    let table = BiftTable {
        key,
        entries: TableEntries::Bier(m),
    };
    let mut msgs: Vec<Message> = table
        .bift_mods(1, BiftCommand::Replace)
        .unwrap()
        .into_iter()
        .map(|m| bier(1, m))
        .collect();
    msgs.push(bier(
        2,
        BfrMod {
            command: BfrCommand::Replace,
            sub_domain: 0,
            bfrs: (1..=3)
                .map(|i| LocalBfr {
                    bfr_id: i,
                    decap: true,
                    port: PortNo(u32::from(i) + 1),
                })
                .collect(),
        },
    ));
    msgs.push(wire(Message::new(
        Xid(3),
        FlowMod::add(
            TableId(0),
            10,
            Match::new().with(Oxm::EthType(0xab37)),
            vec![Instruction::ApplyActions(vec![
                BierAction::Forward.to_action()
            ])],
        ),
    )));
    let encap = openflow::ext::bier::BierEncap {
        bift_id: key.bift_id,
        sub_domain: 0,
        bsl: openflow::ext::bier::Bsl::B64,
        si: 0,
        bfir_id: 9,
        ttl: 64,
        tc: 0,
        copy_dscp: true,
        entropy: openflow::ext::bier::Entropy::FlowHash { seed: 0 },
        bitstring: bits(&[1, 2]).to_bytes(),
    };
    msgs.push(wire(Message::new(
        Xid(4),
        FlowMod::add(
            TableId(0),
            20,
            Match::new().with(Oxm::InPort(PortNo(6))),
            vec![Instruction::ApplyActions(vec![
                BierAction::Encap(encap).to_action(),
                BierAction::Forward.to_action(),
            ])],
        ),
    )));
    for m in &msgs {
        p.handle_message(Time::ZERO, m);
    }
    let errors: Vec<Message> = drain(&mut p);
    assert!(errors.is_empty(), "{errors:?}");
    (p, key.bift_id)
}

fn udp() -> Vec<u8> {
    switch_sim::packet::build::udp4(
        MacAddr([2, 0, 0, 0, 0, 1]),
        MacAddr([1, 0, 0x5e, 1, 2, 3]),
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(239, 1, 2, 3),
        1000,
        2000,
        b"payload",
    )
}

fn frame(bift_id: u32, ttl: u8, b: &BitString) -> Vec<u8> {
    let repr = BierRepr {
        ttl,
        ..BierRepr::new(BiftId::new(bift_id).unwrap(), b.clone())
    };
    bier::encapsulate(&udp(), &repr).unwrap()
}

/// Processes a frame arriving on port 1; returns the ports copies left by and the change of
/// every drop counter.
fn run(p: &mut Pipeline, f: &[u8]) -> (Vec<u32>, BTreeMap<BierDrop, u64>, Vec<DropReason>) {
    let before = p.bier_counters().unwrap().clone();
    let out = p.process(Time::ZERO, PortNo(1), f);
    let after = p.bier_counters().unwrap().clone();
    let mut d = BTreeMap::new();
    for r in BierDrop::ALL {
        let n = after.dropped(r) - before.dropped(r);
        if n > 0 {
            d.insert(r, n);
        }
    }
    (out.ports().iter().map(|p| p.0).collect(), d, out.drops)
}

fn only(r: BierDrop, n: u64) -> BTreeMap<BierDrop, u64> {
    BTreeMap::from([(r, n)])
}

#[test]
fn a_valid_packet_is_delivered_and_forwarded() {
    let (mut p, id) = switch();
    let f = frame(id, 9, &bits(&[1, 2, 3, 10]));
    let out = p.process(Time::ZERO, PortNo(1), &f);
    let by_port: BTreeMap<u32, Vec<u8>> =
        out.outputs.iter().map(|(p, b)| (p.0, b.clone())).collect();
    assert_eq!(
        by_port.keys().copied().collect::<Vec<_>>(),
        vec![2, 3, 4, 5]
    );
    for port in [2, 3, 4] {
        assert_eq!(
            by_port[&port],
            udp(),
            "port {port}: the decapsulated datagram"
        );
    }
    let (repr, plain) = bier::decapsulate(&by_port[&5]).unwrap();
    assert_eq!((repr.ttl, repr.bitstring), (8, bits(&[10])));
    assert_eq!(plain, udp());
    assert_eq!(p.bier_counters().unwrap().total_drops(), 0);
}

#[test]
fn bad_headers_are_counted_and_dropped() {
    let (mut p, id) = switch();
    let good = frame(id, 9, &bits(&[1, 2, 10]));
    let bier_at = 14;
    let mut cases: Vec<(&str, Vec<u8>, BierDrop)> = Vec::new();
    cases.push((
        "truncated in the fixed part",
        good[..bier_at + 7].to_vec(),
        BierDrop::Truncated,
    ));
    cases.push((
        "truncated in the BitString",
        good[..bier_at + 12 + 4].to_vec(),
        BierDrop::Truncated,
    ));
    let mut f = good.clone();
    BierHeader::new_unchecked(&mut f[bier_at..]).set_nibble(0b0100);
    cases.push(("wrong nibble", f, BierDrop::WrongNibble));
    let mut f = good.clone();
    BierHeader::new_unchecked(&mut f[bier_at..]).set_version(1);
    cases.push(("version 1", f, BierDrop::UnsupportedVersion));
    let mut f = good.clone();
    f[bier_at + 5] = 0x90 | (f[bier_at + 5] & 0x0f); // BSL code 9
    cases.push(("undefined BSL code", f, BierDrop::BadBsl));
    let b128 = BitString::from_positions(bier::Bsl::B128, [bp(1), bp(2)]);
    cases.push((
        "a BSL the BIFT does not have",
        frame(id, 9, &b128),
        BierDrop::BslMismatch,
    ));
    cases.push(("TTL 0", frame(id, 0, &bits(&[1, 2, 10])), BierDrop::TtlZero));
    cases.push((
        "unknown BIFT-id",
        frame(id + 1, 9, &bits(&[1])),
        BierDrop::UnknownBift,
    ));
    cases.push((
        "empty BitString",
        frame(id, 9, &bits(&[])),
        BierDrop::EmptyBitString,
    ));
    cases.push((
        "not BIER at all",
        {
            let mut f = udp();
            f[12..14].copy_from_slice(&0xab37u16.to_be_bytes());
            f.truncate(20);
            f
        },
        BierDrop::Truncated,
    ));
    for (what, f, reason) in cases {
        let (ports, drops, reasons) = run(&mut p, &f);
        assert!(ports.is_empty(), "{what}: copies left by {ports:?}");
        assert_eq!(drops, only(reason, 1), "{what}");
        assert!(
            reasons.contains(&DropReason::Bier(reason)),
            "{what}: {reasons:?}"
        );
    }
}

#[test]
fn unknown_bits_are_dropped_and_the_known_ones_forwarded() {
    let (mut p, id) = switch();
    let (ports, drops, _) = run(&mut p, &frame(id, 9, &bits(&[1, 40, 41])));
    assert_eq!(ports, vec![2]);
    assert_eq!(drops, only(BierDrop::UnknownBfrId, 2));
    let (ports, drops, _) = run(&mut p, &frame(id, 9, &bits(&[40, 64])));
    assert!(ports.is_empty());
    assert_eq!(drops, only(BierDrop::UnknownBfrId, 2));
    // A LOCAL_DECAP bit whose BFR-id has no record (draft §8).
    let (ports, drops, _) = run(&mut p, &frame(id, 9, &bits(&[3, 4])));
    assert_eq!(ports, vec![4]);
    assert_eq!(drops, only(BierDrop::NoBfrRecord, 1));
}

#[test]
fn ttl_one_delivers_locally_and_sends_no_copy() {
    let (mut p, id) = switch();
    let (ports, drops, _) = run(&mut p, &frame(id, 1, &bits(&[2, 10])));
    assert_eq!(
        ports,
        vec![3],
        "local delivery needs no decrement; the copy would leave with 0"
    );
    assert_eq!(drops, only(BierDrop::TtlExpired, 1));
}

#[test]
fn bier_actions_on_the_wrong_frames() {
    let (mut p, _) = switch();
    // bier_encap on ARP: dropped, nothing forwarded.
    let arp = switch_sim::packet::build::arp_request(
        MacAddr([2, 0, 0, 0, 0, 1]),
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 2),
    );
    let out = p.process(Time::ZERO, PortNo(6), &arp);
    assert!(out.outputs.is_empty());
    assert_eq!(p.bier_counters().unwrap().dropped(BierDrop::EncapNotIp), 1);
    // bier_encap on UDP works: bits 1 and 2 come back out decapsulated on ports 2 and 3.
    let out = p.process(Time::ZERO, PortNo(6), &udp());
    assert_eq!(out.ports(), vec![PortNo(2), PortNo(3)]);
    assert!(out.outputs.iter().all(|(_, f)| *f == udp()));
    assert_eq!(p.bier_counters().unwrap().encapsulated, 1);
    // A delivery never goes back out of the port the packet came in by.
    let id = table_key(BSL, 0, SetId(0)).unwrap().bift_id;
    let out = p.process(Time::ZERO, PortNo(2), &frame(id, 9, &bits(&[1, 2])));
    assert_eq!(out.ports(), vec![PortNo(3)]);
    assert_eq!(p.bier_counters().unwrap().dropped(BierDrop::IngressPort), 1);
}

#[test]
fn trace_changes_no_bier_counter() {
    let (p, id) = switch();
    let before = p.bier_counters().unwrap().clone();
    let out = p.trace(PortNo(1), &frame(id, 0, &bits(&[1])));
    assert!(out.outputs.is_empty());
    let out = p.trace(PortNo(1), &frame(id, 9, &bits(&[1, 10])));
    assert_eq!(out.ports(), vec![PortNo(2), PortNo(5)]);
    assert_eq!(p.bier_counters().unwrap(), &before);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Random bytes after a 0xAB37 EtherType: no panic, and a copy leaves only if the bytes
    /// are a valid header (nibble, version, BSL 64, TTL ≥ 1) for the installed BIFT-id.
    #[test]
    fn random_bier_bytes_never_escape(body in proptest::collection::vec(any::<u8>(), 0..48),
                                      keep_head in any::<bool>(), ttl in any::<u8>()) {
        let (mut p, id) = switch();
        let mut f = udp();
        f.truncate(12);
        f.extend_from_slice(&0xab37u16.to_be_bytes());
        let mut body = body;
        if keep_head && body.len() >= 12 {
            // A valid fixed part with random BitString bytes, so some packets get through.
            let h = frame(id, ttl, &bits(&[1]));
            body[..12].copy_from_slice(&h[14..26]);
        }
        f.extend_from_slice(&body);
        let out = p.process(Time::ZERO, PortNo(1), &f);
        if !out.outputs.is_empty() {
            let r = BierRepr::parse_bytes(&body).unwrap();
            prop_assert!(r.ttl >= 1);
            prop_assert_eq!(r.bift_id.get(), id);
            prop_assert_eq!(r.bsl(), BSL);
        }
    }

    /// Any of our messages, valid or not, never panics the switch; each refusal is an error
    /// of the request's xid.
    #[test]
    fn random_messages_never_panic(m in openflow::ext::bier::arb::bier_message()) {
        let (mut p, _) = switch();
        let msg = m.to_message(Xid(77));
        p.handle_message(Time::ZERO, &msg);
        if let Ok(bytes) = msg.encode() {
            if let Ok(back) = Message::decode(&bytes) {
                p.handle_message(Time::ZERO, &back);
            }
        }
        for out in drain(&mut p) {
            prop_assert_eq!(out.xid, Xid(77));
        }
    }

    /// Random experimenter bodies with our id: no panic.
    #[test]
    fn random_bodies_never_panic(exp_type in 0u32..14, data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let (mut p, _) = switch();
        let e = openflow::Experimenter { experimenter: openflow::ext::bier::EXPERIMENTER_ID, exp_type, data };
        p.handle_message(Time::ZERO, &Message::new(Xid(5), openflow::Body::Experimenter(e)));
        let _ = drain(&mut p);
    }

    /// Any of our actions in a flow, then packets through it: no panic.
    #[test]
    fn random_actions_never_panic(a in openflow::ext::bier::arb::bier_action(),
                                  data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let (mut p, id) = switch();
        let fm = FlowMod::add(TableId(0), 30, Match::new().with(Oxm::InPort(PortNo(3))),
            vec![Instruction::ApplyActions(vec![a.to_action(), BierAction::Forward.to_action()])]);
        p.handle_message(Time::ZERO, &Message::new(Xid(6), fm));
        let _ = drain(&mut p);
        let mut f = frame(id, 3, &bits(&[1, 10]));
        f.extend_from_slice(&data);
        let _ = p.process(Time::ZERO, PortNo(3), &f);
        let _ = p.process(Time::ZERO, PortNo(3), &udp());
        let _ = p.process(Time::ZERO, PortNo(3), &data);
    }
}
