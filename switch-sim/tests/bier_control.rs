//! The switch side of our experimenter messages (drafts/bier-openflow.md): capability reply,
//! BIFT_MOD transactions (multi-part, committed in one step, discarded whole on any error,
//! staged per channel), BIFT_CLEAR, BIFT_QUERY with replies split under 64 KiB, BFR_MOD and
//! BFR_QUERY, TSM_CONFIG, the refusals with the draft's error codes (state unchanged), and
//! the checks of our actions in flows.
#![allow(clippy::unwrap_used)]

mod bier_common;

use std::collections::BTreeMap;

use bier_common::{bier, drain, ours, wire};
use openflow::error_msg::{BadActionCode, BadRequestCode, ErrorCode};
use openflow::ext::bier::{
    collect_replies, Adjacency, BfrCommand, BfrMod, BfrQuery, BierAction, BierEncap, BierErrorCode,
    BierMessage, BiftCommand, BiftReply, BiftSelector, BiftTable, Bsl, Capabilities, CapsRequest,
    Entropy, Hop, LocalBfr, TableEntries, TableKey, TableKind, TsmConfig, TsmFlags,
    EXPERIMENTER_ID,
};
use openflow::{
    Body, ErrorMsg, FlowMod, GroupId, Instruction, Match, Message, Oxm, PortNo, TableId, Xid,
};
use switch_sim::bier::BierConfig;
use switch_sim::{Config, Pipeline, Time};

fn key(bsl: Bsl, si: u16) -> TableKey {
    TableKey {
        bift_id: u32::from(bsl.code()) << 16 | u32::from(si),
        sub_domain: 0,
        bsl,
        si,
    }
}

fn fbm(bsl: Bsl, bits: &[u16]) -> Vec<u8> {
    openflow::ext::bier::bits_from_positions(bsl, bits.iter().copied())
}

/// A BIER table: bit b goes to port 1 + b % `ports`, each port's F-BM all of its bits; the
/// first `local` bits are local.
fn table(k: TableKey, bits: u16, ports: u32, local: u16) -> BiftTable {
    let mut by_port: BTreeMap<u32, Vec<u16>> = BTreeMap::new();
    for b in local + 1..=bits {
        by_port.entry(1 + u32::from(b) % ports).or_default().push(b);
    }
    let mut m = BTreeMap::new();
    for b in 1..=local {
        m.insert(b, Hop::LocalDecap);
    }
    for (p, bs) in &by_port {
        let f = fbm(k.bsl, bs);
        for b in bs {
            m.insert(*b, Hop::Forward(vec![(PortNo(*p), f.clone())]));
        }
    }
    BiftTable {
        key: k,
        entries: TableEntries::Bier(m),
    }
}

fn pipeline() -> Pipeline {
    Pipeline::with_ports(Config::with_dpid(1), 70)
}

/// Sends messages and returns what the switch answered.
fn send(p: &mut Pipeline, msgs: &[Message]) -> Vec<Message> {
    for m in msgs {
        p.handle_message(Time::ZERO, m);
    }
    drain(p)
}

fn error(m: &Message) -> &ErrorMsg {
    match &m.body {
        Body::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn bier_code(c: BierErrorCode) -> ErrorCode {
    ErrorCode::Experimenter {
        exp_type: c.value(),
        experimenter: EXPERIMENTER_ID,
    }
}

/// Sends one message that must be refused with `code`: one error, of its xid, quoting its
/// first 64 bytes, and no change to the installed tables.
fn refused(p: &mut Pipeline, m: Message, code: ErrorCode, what: &str) {
    let before = tables(p);
    let out = send(p, std::slice::from_ref(&m));
    assert_eq!(out.len(), 1, "{what}: {out:?}");
    let e = error(&out[0]);
    assert_eq!(
        e.typed(),
        code,
        "{what}: {:?}",
        p.bier().unwrap().last_refusal()
    );
    assert_eq!(out[0].xid, m.xid, "{what}");
    let bytes = m.encode().unwrap();
    assert_eq!(e.data, bytes[..bytes.len().min(64)], "{what}: error data");
    assert_eq!(tables(p), before, "{what}: tables changed");
}

fn tables(p: &Pipeline) -> Vec<BiftTable> {
    p.bier()
        .unwrap()
        .tables()
        .map(|t| t.wire().clone())
        .collect()
}

/// The tables as BIFT_QUERY reads them back.
fn query(p: &mut Pipeline, s: BiftSelector) -> Vec<BiftTable> {
    let out = send(p, &[bier(9, BierMessage::BiftQuery(s))]);
    let replies: Vec<BiftReply> = out
        .iter()
        .map(|m| {
            assert_eq!(m.xid, Xid(9));
            assert!(m.encode().unwrap().len() <= 65535);
            match ours(m) {
                Some(BierMessage::BiftReply(r)) => r,
                other => panic!("expected BIFT_REPLY, got {other:?}"),
            }
        })
        .collect();
    collect_replies(&replies).unwrap()
}

#[test]
fn capability_reply() {
    let mut p = pipeline();
    let out = send(&mut p, &[bier(3, CapsRequest { version: 7 })]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].xid, Xid(3));
    let Some(BierMessage::CapsReply(c)) = ours(&out[0]) else {
        panic!("{out:?}")
    };
    assert_eq!(c.version, 1, "min(request, ours)");
    assert!(c.capabilities.contains(
        Capabilities::BIER
            | Capabilities::BIER_TE
            | Capabilities::ECMP
            | Capabilities::ENCAP
            | Capabilities::DECAP
            | Capabilities::TSM
    ));
    assert!(!c.capabilities.contains(Capabilities::TE_ROUTED));
    assert_eq!(c.bsls.iter().collect::<Vec<_>>(), Bsl::ALL.to_vec());
    assert_eq!((c.max_si, c.max_bifts, c.max_ecmp), (1023, 1024, 16));
    assert_eq!(c.sub_domains, (0..16).collect::<Vec<u8>>());
    refused(
        &mut p,
        bier(4, CapsRequest { version: 0 }),
        bier_code(BierErrorCode::BadExtVersion),
        "version 0",
    );

    // A pipeline without BIER answers as Open vSwitch does.
    let mut plain = Pipeline::with_ports(
        Config {
            bier: None,
            ..Config::default()
        },
        2,
    );
    let out = send(&mut plain, &[bier(5, CapsRequest::default())]);
    assert_eq!(
        error(&out[0]).typed(),
        BadRequestCode::BadExperimenter.into()
    );
    let fm = FlowMod::add(
        TableId(0),
        1,
        Match::new(),
        vec![Instruction::ApplyActions(vec![
            BierAction::Forward.to_action()
        ])],
    );
    let out = send(&mut plain, &[Message::new(Xid(6), fm)]);
    assert_eq!(
        error(&out[0]).typed(),
        BadActionCode::BadExperimenter.into()
    );
}

#[test]
fn a_multi_part_transaction_applies_at_its_commit_only() {
    let mut p = pipeline();
    let k = key(Bsl::B4096, 0);
    // 4096 entries over 64 neighbours: 66 KB, more than one message (draft §12).
    let old = table(k, 4096, 64, 0);
    let parts = old.bift_mods(1, BiftCommand::Replace).unwrap();
    assert!(parts.len() >= 2, "{} parts", parts.len());
    let msgs: Vec<Message> = parts.iter().map(|m| bier(10, m.clone())).collect();
    assert!(send(&mut p, &msgs).is_empty());
    assert_eq!(query(&mut p, BiftSelector::ALL), vec![old.clone()]);

    // A replacement: nothing changes until the last part.
    let new = table(k, 4000, 63, 10);
    let parts = new.bift_mods(2, BiftCommand::Replace).unwrap();
    let n = parts.len();
    for (i, m) in parts.iter().enumerate() {
        assert!(send(&mut p, &[bier(11, m.clone())]).is_empty());
        let want = if i + 1 < n { &old } else { &new };
        assert_eq!(&tables(&p)[0], want, "after part {i} of {n}");
    }
    assert_eq!(
        query(&mut p, BiftSelector::table(k.bift_id)),
        vec![new.clone()]
    );
    assert_eq!(p.bier().unwrap().open_transactions(), 0);

    // A transaction with a part out of order is discarded whole; its later parts are
    // BAD_SEQUENCE, and the table stays as it was.
    let parts = old.bift_mods(3, BiftCommand::Replace).unwrap();
    assert!(send(&mut p, &[bier(12, parts[0].clone())]).is_empty());
    let mut skip = parts[1].clone();
    skip.seq = 5;
    refused(
        &mut p,
        bier(13, skip),
        bier_code(BierErrorCode::BadSequence),
        "seq skipped",
    );
    refused(
        &mut p,
        bier(14, parts[1].clone()),
        bier_code(BierErrorCode::BadSequence),
        "part of a discarded transaction",
    );
    assert_eq!(tables(&p), vec![new.clone()]);

    // Staging is per channel: what channel 1 staged goes when it closes.
    p.handle_message_on(Time::ZERO, 1, &bier(15, parts[0].clone()));
    p.handle_message_on(Time::ZERO, 2, &bier(16, parts[0].clone()));
    assert_eq!(p.bier().unwrap().open_transactions(), 2);
    p.close_channel(1);
    assert_eq!(p.bier().unwrap().open_transactions(), 1);
    for (i, m) in parts.iter().enumerate().skip(1) {
        p.handle_message_on(Time::ZERO, 2, &bier(17 + i as u32, m.clone()));
    }
    assert!(drain(&mut p).is_empty());
    assert_eq!(tables(&p), vec![old]);
}

#[test]
fn modify_clear_and_query() {
    let mut p = pipeline();
    let k0 = key(Bsl::B64, 0);
    let k1 = key(Bsl::B64, 1);
    let t0 = table(k0, 64, 4, 2);
    let t1 = table(k1, 30, 2, 0);
    let mut msgs = Vec::new();
    for (i, t) in [&t0, &t1].into_iter().enumerate() {
        for m in t.bift_mods(i as u32, BiftCommand::Replace).unwrap() {
            msgs.push(bier(20, m));
        }
    }
    assert!(send(&mut p, &msgs).is_empty());

    // MODIFY: bit 3 removed, bit 4 local, bit 5 to port 9; the rest as it was.
    let mut m = BTreeMap::new();
    m.insert(3, Hop::Remove);
    m.insert(4, Hop::LocalDecap);
    m.insert(5, Hop::Forward(vec![(PortNo(9), fbm(Bsl::B64, &[5]))]));
    let update = BiftTable {
        key: k0,
        entries: TableEntries::Bier(m),
    };
    let mods = update.bift_mods(5, BiftCommand::Modify).unwrap();
    assert!(send(&mut p, &[bier(21, mods[0].clone())]).is_empty());
    let mut want = t0.clone();
    want.apply(BiftCommand::Modify, update).unwrap();
    assert_eq!(
        query(&mut p, BiftSelector::table(k0.bift_id)),
        vec![want.clone()]
    );
    // Forwarding follows the modified table: bit 5 now leaves by port 9.
    let compiled = p.bier().unwrap().table(k0.bift_id).unwrap().bift().unwrap();
    let b5 = bier::BitPosition::new(5).unwrap();
    assert_eq!(
        compiled.entry(b5).map(|e| e.0).collect::<Vec<_>>(),
        vec![bier::Port(9)]
    );

    // Selectors: by kind, by sub-domain, by id; clearing one table leaves the other.
    let te = BiftSelector {
        kind: Some(TableKind::BierTe),
        ..BiftSelector::ALL
    };
    assert!(query(&mut p, te).is_empty());
    assert_eq!(query(&mut p, BiftSelector::ALL).len(), 2);
    assert!(send(
        &mut p,
        &[bier(
            22,
            BierMessage::BiftClear(BiftSelector::table(k1.bift_id))
        )]
    )
    .is_empty());
    assert_eq!(query(&mut p, BiftSelector::ALL), vec![want]);
    // A query that selects nothing: one empty reply.
    let out = send(
        &mut p,
        &[bier(
            23,
            BierMessage::BiftQuery(BiftSelector::table(k1.bift_id)),
        )],
    );
    assert_eq!(out.len(), 1);
    assert!(matches!(
        ours(&out[0]),
        Some(BierMessage::BiftReply(BiftReply { bift: None, .. }))
    ));
    assert!(send(
        &mut p,
        &[bier(24, BierMessage::BiftClear(BiftSelector::ALL))]
    )
    .is_empty());
    assert!(query(&mut p, BiftSelector::ALL).is_empty());
}

#[test]
fn refusals_name_the_draft_codes_and_change_nothing() {
    let mut cfg = BierConfig::default();
    cfg.bsls = [Bsl::B64, Bsl::B256].into_iter().collect();
    cfg.max_bifts = 2;
    cfg.max_ecmp = 2;
    cfg.max_local_bfrs = 3;
    let mut p = Pipeline::with_ports(
        Config {
            bier: Some(cfg),
            strict_ports: true,
            ..Config::with_dpid(1)
        },
        8,
    );
    let k = key(Bsl::B64, 0);
    let good = table(k, 16, 4, 1);
    let ok = |t: &BiftTable| bier(30, t.bift_mods(1, BiftCommand::Replace).unwrap()[0].clone());
    assert!(send(&mut p, &[ok(&good)]).is_empty());
    let code = bier_code;

    let t = table(key(Bsl::B128, 0), 8, 2, 0);
    refused(
        &mut p,
        ok(&t),
        code(BierErrorCode::UnsupportedBsl),
        "BSL 128",
    );
    let mut t = table(k, 8, 2, 0);
    t.key.sub_domain = 200;
    t.key.bift_id = 0x1_c800;
    refused(
        &mut p,
        ok(&t),
        code(BierErrorCode::UnsupportedSubDomain),
        "sub-domain 200",
    );
    let t = table(key(Bsl::B64, 1024), 8, 2, 0);
    refused(&mut p, ok(&t), code(BierErrorCode::BadSi), "SI 1024");
    let mut t = table(k, 8, 2, 0);
    t.key.si = 3;
    refused(
        &mut p,
        ok(&t),
        code(BierErrorCode::BadBiftId),
        "a BIFT-id held by another key",
    );
    let mut t = table(k, 8, 2, 0);
    if let TableEntries::Bier(m) = &mut t.entries {
        m.insert(7, Hop::Forward(vec![(PortNo(0), fbm(Bsl::B64, &[7]))]));
    }
    refused(&mut p, ok(&t), code(BierErrorCode::BadNextHop), "port 0");
    if let TableEntries::Bier(m) = &mut t.entries {
        m.insert(7, Hop::Forward(vec![(PortNo(9), fbm(Bsl::B64, &[7]))]));
    }
    refused(
        &mut p,
        ok(&t),
        code(BierErrorCode::BadNextHop),
        "a port the switch lacks (strict)",
    );
    if let TableEntries::Bier(m) = &mut t.entries {
        m.insert(
            7,
            Hop::Forward((1..=3).map(|q| (PortNo(q), fbm(Bsl::B64, &[7]))).collect()),
        );
    }
    refused(
        &mut p,
        ok(&t),
        code(BierErrorCode::BadEntry),
        "ECMP wider than max_ecmp",
    );
    let mut part = good.bift_mods(1, BiftCommand::Replace).unwrap()[0].clone();
    if let openflow::ext::bier::BiftEntries::Bier { next_hops, .. } = &mut part.bift.entries {
        next_hops[0].fbm = vec![0; 8];
    }
    refused(
        &mut p,
        bier(31, part),
        code(BierErrorCode::BadNextHop),
        "an F-BM without its bit",
    );
    let mut part = t.bift_mods(1, BiftCommand::Replace).unwrap()[0].clone();
    if let openflow::ext::bier::BiftEntries::Bier { entries, .. } = &mut part.bift.entries {
        entries[0].bit = 65;
    }
    refused(
        &mut p,
        bier(31, part),
        code(BierErrorCode::BadBitPosition),
        "bit 65 at BSL 64",
    );
    let m = table(key(Bsl::B256, 0), 8, 2, 0)
        .bift_mods(1, BiftCommand::Modify)
        .unwrap();
    refused(
        &mut p,
        bier(32, m[0].clone()),
        code(BierErrorCode::NoSuchBift),
        "MODIFY of an absent table",
    );
    let mut part = good.bift_mods(1, BiftCommand::Replace).unwrap()[0].clone();
    part.command = BiftCommand::Other(9);
    refused(
        &mut p,
        bier(33, part),
        code(BierErrorCode::BadEntry),
        "unknown command",
    );
    let mut rm = BTreeMap::new();
    rm.insert(3u16, Hop::Remove);
    let rm = BiftTable {
        key: k,
        entries: TableEntries::Bier(rm),
    };
    let mut part = rm.bift_mods(1, BiftCommand::Modify).unwrap()[0].clone();
    part.command = BiftCommand::Replace;
    refused(
        &mut p,
        bier(34, part),
        code(BierErrorCode::BadEntry),
        "REMOVE in a REPLACE",
    );

    // BIER-TE: forward_routed (no TE_ROUTED), nested ECMP; TE off.
    let tk = TableKey {
        bift_id: 0x1_0100,
        sub_domain: 1,
        bsl: Bsl::B64,
        si: 0,
    };
    // Built by hand: the codec's own splitting refuses what the switch must refuse.
    let te = |adjs: Vec<Adjacency>| {
        bier(
            35,
            openflow::ext::bier::BiftMod {
                txn: 1,
                seq: 0,
                more: false,
                command: BiftCommand::Replace,
                bift: openflow::ext::bier::Bift {
                    key: tk,
                    entries: openflow::ext::bier::BiftEntries::BierTe(vec![
                        openflow::ext::bier::TeEntry {
                            bit: 1,
                            adjacencies: adjs,
                        },
                    ]),
                },
            },
        )
    };
    refused(
        &mut p,
        te(vec![Adjacency::ForwardRouted { to: 3 }]),
        code(BierErrorCode::BadAdjacency),
        "forward_routed",
    );
    refused(
        &mut p,
        te(vec![Adjacency::Ecmp(vec![])]),
        code(BierErrorCode::BadAdjacency),
        "empty ECMP",
    );
    // Two tables are the most; a third is TABLE_FULL at its commit.
    assert!(send(
        &mut p,
        &[te(vec![Adjacency::LocalDecap { port: PortNo(2) }])]
    )
    .is_empty());
    let t = table(key(Bsl::B256, 0), 8, 2, 0);
    refused(
        &mut p,
        ok(&t),
        code(BierErrorCode::TableFull),
        "a third BIFT",
    );
    let mut no_te = BierConfig::default();
    no_te.te = false;
    let mut p2 = Pipeline::with_ports(
        Config {
            bier: Some(no_te),
            ..Config::default()
        },
        4,
    );
    refused(
        &mut p2,
        te(vec![Adjacency::LocalDecap { port: PortNo(2) }]),
        code(BierErrorCode::TeUnsupported),
        "TE off",
    );

    // Messages a switch does not take, and bodies that do not decode.
    refused(
        &mut p,
        bier(40, BierMessage::CapsReply(Default::default())),
        BadRequestCode::BadExpType.into(),
        "CAPS_REPLY",
    );
    let raw = |exp_type: u32, data: Vec<u8>| {
        Message::new(
            Xid(41),
            Body::Experimenter(openflow::Experimenter {
                experimenter: EXPERIMENTER_ID,
                exp_type,
                data,
            }),
        )
    };
    refused(
        &mut p,
        raw(99, vec![0; 8]),
        BadRequestCode::BadExpType.into(),
        "exp_type 99",
    );
    refused(
        &mut p,
        raw(1, vec![1, 0, 0]),
        BadRequestCode::BadLen.into(),
        "short CAPS_REQUEST",
    );
    let mut body = ok(&good);
    if let Body::Experimenter(e) = &mut body.body {
        e.data[17] = 9; // the BIFT's BSL code
    }
    refused(
        &mut p,
        body,
        code(BierErrorCode::UnsupportedBsl),
        "BSL code 9",
    );

    // BFR_MOD: BFR-id 0, a port the switch lacks, more than max_local_bfrs; TSM_CONFIG.
    let bfr = |bfrs: Vec<(u16, u32)>, command| {
        bier(
            42,
            BfrMod {
                command,
                sub_domain: 0,
                bfrs: bfrs
                    .into_iter()
                    .map(|(b, q)| LocalBfr {
                        bfr_id: b,
                        decap: true,
                        port: PortNo(q),
                    })
                    .collect(),
            },
        )
    };
    refused(
        &mut p,
        bfr(vec![(0, 2)], BfrCommand::Replace),
        code(BierErrorCode::BadBfrId),
        "BFR-id 0",
    );
    refused(
        &mut p,
        bfr(vec![(1, 2), (1, 3)], BfrCommand::Replace),
        code(BierErrorCode::BadBfrId),
        "BFR-id twice",
    );
    refused(
        &mut p,
        bfr(vec![(1, 99)], BfrCommand::Replace),
        code(BierErrorCode::BadBfrId),
        "port 99 (strict)",
    );
    refused(
        &mut p,
        bfr(vec![(1, 2), (2, 3), (3, 4), (4, 5)], BfrCommand::Replace),
        code(BierErrorCode::TableFull),
        "four BFR-ids",
    );
    let mut sd = BfrMod {
        command: BfrCommand::Add,
        sub_domain: 99,
        bfrs: vec![],
    };
    sd.bfrs.push(LocalBfr {
        bfr_id: 1,
        decap: true,
        port: PortNo(2),
    });
    refused(
        &mut p,
        bier(43, sd),
        code(BierErrorCode::UnsupportedSubDomain),
        "BFR_MOD sub-domain 99",
    );
    let tsm = TsmConfig {
        flags: TsmFlags::ENABLE,
        threshold: 0,
        window_ms: 10,
        idle_timeout_ms: 10,
        max_groups: 1,
        group_id_first: GroupId(1),
        group_id_last: GroupId(2),
    };
    refused(
        &mut p,
        bier(44, tsm),
        code(BierErrorCode::BadTsmConfig),
        "threshold 0",
    );
    assert!(p.bier().unwrap().tsm_config().flags.is_empty());
}

#[test]
fn bfr_mod_and_query() {
    let mut p = pipeline();
    let rec = |b: u16, q: u32| LocalBfr {
        bfr_id: b,
        decap: true,
        port: PortNo(q),
    };
    let m = |command, sub_domain, bfrs| {
        bier(
            50,
            BfrMod {
                command,
                sub_domain,
                bfrs,
            },
        )
    };
    assert!(send(
        &mut p,
        &[
            m(BfrCommand::Replace, 0, vec![rec(4, 5), rec(6, 6)]),
            m(BfrCommand::Add, 0, vec![rec(7, 7), rec(4, 8)]),
            m(BfrCommand::Delete, 0, vec![rec(6, 0)]),
            m(BfrCommand::Replace, 1, vec![rec(1, 2)]),
        ]
    )
    .is_empty());
    let read = |p: &mut Pipeline, q: BfrQuery| -> Vec<(u8, bool, Vec<LocalBfr>)> {
        send(p, &[bier(51, q)])
            .iter()
            .map(|m| match ours(m) {
                Some(BierMessage::BfrReply(r)) => (r.sub_domain, r.more, r.bfrs),
                other => panic!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(
        read(&mut p, BfrQuery { sub_domain: None }),
        vec![
            (0, true, vec![rec(4, 8), rec(7, 7)]),
            (1, false, vec![rec(1, 2)])
        ]
    );
    assert_eq!(
        read(
            &mut p,
            BfrQuery {
                sub_domain: Some(1)
            }
        ),
        vec![(1, false, vec![rec(1, 2)])]
    );
    // Nothing recorded for the sub-domain: one empty reply for it.
    assert_eq!(
        read(
            &mut p,
            BfrQuery {
                sub_domain: Some(5)
            }
        ),
        vec![(5, false, vec![])]
    );
}

#[test]
fn our_actions_are_checked_when_installed() {
    let mut p = pipeline();
    let fwd = BierAction::Forward.to_action();
    let encap = |f: &dyn Fn(&mut BierEncap)| {
        let mut e = BierEncap {
            bift_id: 0x1_0000,
            sub_domain: 0,
            bsl: Bsl::B64,
            si: 0,
            bfir_id: 1,
            ttl: 64,
            tc: 0,
            copy_dscp: false,
            entropy: Entropy::Fixed(0),
            bitstring: vec![0; 8],
        };
        f(&mut e);
        BierAction::Encap(e).to_action()
    };
    let flow = |ins: Vec<Instruction>| {
        wire(Message::new(
            Xid(60),
            FlowMod::add(TableId(0), 1, Match::new().with(Oxm::EthType(0x0800)), ins),
        ))
    };
    let apply = |a: Vec<openflow::Action>| flow(vec![Instruction::ApplyActions(a)]);
    assert!(send(&mut p, &[apply(vec![encap(&|_| {}), fwd.clone()])]).is_empty());
    refused(
        &mut p,
        apply(vec![fwd.clone(), encap(&|_| {})]),
        BadActionCode::UnsupportedOrder.into(),
        "bier_forward not last",
    );
    refused(
        &mut p,
        flow(vec![Instruction::WriteActions(vec![fwd.clone()])]),
        BadActionCode::UnsupportedOrder.into(),
        "bier_forward in write-actions",
    );
    refused(
        &mut p,
        apply(vec![encap(&|e| e.ttl = 0)]),
        bier_code(BierErrorCode::BadEncap),
        "TTL 0",
    );
    refused(
        &mut p,
        apply(vec![encap(&|e| e.sub_domain = 77)]),
        bier_code(BierErrorCode::BadEncap),
        "sub-domain 77",
    );
    refused(
        &mut p,
        apply(vec![encap(&|e| e.si = 2000)]),
        bier_code(BierErrorCode::BadEncap),
        "SI 2000",
    );
    let raw = |data: Vec<u8>| openflow::Action::Experimenter {
        experimenter: EXPERIMENTER_ID,
        data,
    };
    refused(
        &mut p,
        apply(vec![raw(vec![0, 9, 0, 0, 0, 0, 0, 0])]),
        BadActionCode::BadExpType.into(),
        "subtype 9",
    );
    refused(
        &mut p,
        apply(vec![raw(vec![
            0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ])]),
        BadActionCode::BadLen.into(),
        "bier_forward too long",
    );
    // In a group bucket and a PACKET_OUT they are fine.
    let gm = openflow::GroupMod::add(
        openflow::GroupType::All,
        GroupId(1),
        vec![openflow::Bucket::new(vec![
            BierAction::Decap.to_action(),
            openflow::Action::output(PortNo(2)),
        ])],
    );
    assert!(send(&mut p, &[wire(Message::new(Xid(61), gm))]).is_empty());
}
