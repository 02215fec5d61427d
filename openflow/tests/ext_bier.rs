//! The BIER experimenter extension (`openflow::ext::bier`, `drafts/bier-openflow.md`): the
//! draft's examples byte for byte, emit into 0xa5-filled buffers, round trips of generated
//! messages and actions through whole OpenFlow messages and the experimenter registry,
//! arbitrary bytes that must never panic, and the table machinery (splitting a 4096-bit BIFT
//! under 64 KiB, transactions that commit whole or not at all, replies, reconciliation).

// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

#[path = "ext_golden.rs"]
mod golden;

use std::collections::BTreeMap;

use openflow::experimenter::{ExperimenterRegistry, RegistryError};
use openflow::ext::bier::*;
use openflow::instruction::Instruction;
use openflow::*;
use proptest::prelude::*;

/// A program's enum of the extensions it knows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ext {
    Bier(BierMessage),
}

impl From<BierMessage> for Ext {
    fn from(m: BierMessage) -> Ext {
        Ext::Bier(m)
    }
}

fn registry() -> ExperimenterRegistry<Ext> {
    let mut reg = ExperimenterRegistry::new();
    reg.register::<BierMessage>().unwrap();
    reg
}

/// Decodes whole OpenFlow bytes down to our typed message through the registry.
fn decode_via_registry(bytes: &[u8]) -> Result<BierMessage, DecodeError> {
    let Body::Experimenter(e) = Message::decode(bytes)?.body else {
        panic!("not an experimenter message")
    };
    let Some(Ext::Bier(m)) = registry().decode(&e).transpose()? else {
        panic!("registry does not know experimenter {:#x}", e.experimenter)
    };
    Ok(m)
}

fn emit_into_a5(m: &BierMessage) -> Vec<u8> {
    let mut buf = vec![0xa5; m.data_len()];
    let mut w = Writer::new(&mut buf);
    m.emit_data(&mut w);
    assert_eq!(w.pos(), buf.len(), "emit_data wrote data_len bytes");
    buf
}

#[test]
fn draft_examples_byte_for_byte() {
    for g in golden::goldens() {
        assert_eq!(g.msg.validate(), Ok(()), "{}: example is valid", g.name);
        // Encoder: the whole message.
        let bytes = g.msg.to_message(Xid(g.xid)).encode().unwrap();
        assert_eq!(bytes, g.bytes, "{}: encoding", g.name);
        // Every byte written, padding included.
        assert_eq!(emit_into_a5(&g.msg), g.bytes[16..], "{}: 0xa5 emit", g.name);
        // Decoder: from the hand-assembled bytes.
        assert_eq!(
            decode_via_registry(&g.bytes),
            Ok(g.msg.clone()),
            "{}: decode",
            g.name
        );
        let Body::Experimenter(e) = Message::decode(&g.bytes).unwrap().body else {
            panic!()
        };
        assert_eq!(e.experimenter, 0x0042_4945);
        assert_eq!(BierMessage::from_experimenter(&e), Some(Ok(g.msg.clone())));
    }
}

#[test]
fn draft_action_examples_byte_for_byte() {
    for (name, a, bytes) in golden::action_goldens() {
        assert_eq!(a.validate(), Ok(()), "{name}");
        let action = a.to_action();
        assert_eq!(action.to_vec(), bytes, "{name}: encoding");
        let mut data = vec![0xa5; a.data_len()];
        a.emit_data(&mut Writer::new(&mut data));
        assert_eq!(data, bytes[8..], "{name}: 0xa5 emit");
        let mut r = Reader::new(&bytes, "test");
        let parsed = Action::parse(&mut r).unwrap();
        assert!(r.is_empty());
        assert_eq!(
            BierAction::from_action(&parsed),
            Some(Ok(a.clone())),
            "{name}"
        );
    }
    // Not ours: another experimenter, or not an experimenter action.
    let nx = Action::Experimenter {
        experimenter: 0x2320,
        data: vec![0; 8],
    };
    assert_eq!(BierAction::from_action(&nx), None);
    assert_eq!(BierAction::from_action(&Action::Group(GroupId(1))), None);
}

/// A BFIR's flow (draft §10.3): eth_type 0x0800 → bier_encap, bier_forward; and a transit
/// switch's: eth_type 0xAB37 → bier_forward. Through whole FLOW_MODs and back.
#[test]
fn actions_inside_flow_mods() {
    let bfir = FlowMod::add(
        TableId(0),
        100,
        Match::new().with(Oxm::EthType(0x0800)),
        vec![Instruction::ApplyActions(vec![
            golden::a11_encap().into(),
            BierAction::Forward.into(),
        ])],
    );
    let transit = FlowMod::add(
        TableId(0),
        100,
        Match::new().with(Oxm::EthType(0xab37)),
        vec![Instruction::ApplyActions(vec![BierAction::Forward.into()])],
    );
    for (fm, want) in [
        (bfir, vec![golden::a11_encap(), BierAction::Forward]),
        (transit, vec![BierAction::Forward]),
    ] {
        let bytes = Message::new(Xid(9), fm).encode().unwrap();
        let Body::FlowMod(back) = Message::decode(&bytes).unwrap().body else {
            panic!()
        };
        let [Instruction::ApplyActions(actions)] = &back.instructions[..] else {
            panic!("{:?}", back.instructions)
        };
        let got: Vec<BierAction> = actions
            .iter()
            .map(|a| BierAction::from_action(a).unwrap().unwrap())
            .collect();
        assert_eq!(got, want);
    }
}

/// Draft A.12: the error for a bad bit position quotes the first 64 bytes of the request, and
/// the controller reads our code back from it.
#[test]
fn error_reply_carries_our_code() {
    let request = &golden::goldens()[2].bytes;
    let err = Message::error_for(request, BierErrorCode::BadBitPosition);
    let bytes = err.encode().unwrap();
    assert_eq!(
        bytes[..16],
        [
            0x04, 0x01, 0x00, 0x50, // OFPT_ERROR, length 80
            0x00, 0x00, 0x00, 0x02, // the request's xid
            0xff, 0xff, // OFPET_EXPERIMENTER
            0x00, 0x06, // exp_code BAD_BIT_POSITION
            0x00, 0x42, 0x49, 0x45, // experimenter
        ]
    );
    assert_eq!(bytes[16..], request[..64]);
    let Body::Error(e) = Message::decode(&bytes).unwrap().body else {
        panic!()
    };
    assert_eq!(
        BierErrorCode::from_error_code(e.typed()),
        Some(BierErrorCode::BadBitPosition)
    );
    assert_eq!(
        BierErrorCode::BadBitPosition.name(),
        Some("BAD_BIT_POSITION")
    );
}

#[test]
fn registry_dispatch() {
    let mut reg = registry();
    assert!(reg.knows(EXPERIMENTER_ID));
    assert_eq!(
        reg.register::<BierMessage>().err(),
        Some(RegistryError::Duplicate {
            experimenter: EXPERIMENTER_ID
        })
    );
    let nicira = Experimenter {
        experimenter: 0x0000_2320,
        exp_type: 3,
        data: vec![],
    };
    assert_eq!(reg.decode(&nicira), None);
    // An exp_type we do not define: a typed error, which the switch answers with
    // OFPBRC_BAD_EXP_TYPE.
    let unknown = Experimenter {
        experimenter: EXPERIMENTER_ID,
        exp_type: 12,
        data: vec![],
    };
    assert!(matches!(
        reg.decode(&unknown),
        Some(Err(DecodeError::BadValue {
            field: "exp_type",
            value: 12,
            ..
        }))
    ));
}

#[test]
fn malformed_bodies_are_typed_errors() {
    let a3 = golden::goldens()[2].bytes.clone();
    let decode = |b: &[u8]| {
        let mut b = b.to_vec();
        let len = b.len() as u16;
        b[2..4].copy_from_slice(&len.to_be_bytes());
        decode_via_registry(&b)
    };
    // Truncated inside the last entry.
    assert!(matches!(
        decode(&a3[..a3.len() - 2]),
        Err(DecodeError::Truncated { .. })
    ));
    // A byte more than the counts account for.
    let mut longer = a3.clone();
    longer.push(0);
    assert!(matches!(
        decode(&longer),
        Err(DecodeError::TrailingBytes {
            ctx: "BIER BIFT_MOD",
            extra: 1,
            ..
        })
    ));
    // BSL code 8 and kind 2: the layout is unknown, so refused.
    let mut bad_bsl = a3.clone();
    bad_bsl[33] = 8;
    assert!(matches!(
        decode(&bad_bsl),
        Err(DecodeError::BadValue {
            field: "bsl",
            value: 8,
            ..
        })
    ));
    let mut bad_kind = a3.clone();
    bad_kind[32] = 2;
    assert!(matches!(
        decode(&bad_kind),
        Err(DecodeError::BadValue {
            field: "kind",
            value: 2,
            ..
        })
    ));
    // n_entries one more than present.
    let mut more_entries = a3.clone();
    more_entries[45] = 6;
    assert!(matches!(
        decode(&more_entries),
        Err(DecodeError::Truncated { .. })
    ));
}

fn bier_table(bsl: Bsl, entries: Vec<(u16, Hop)>) -> BiftTable {
    BiftTable {
        key: TableKey {
            bift_id: 0x7_0000,
            sub_domain: 0,
            bsl,
            si: 0,
        },
        entries: TableEntries::Bier(entries.into_iter().collect()),
    }
}

/// A full BSL-4096 table: bit b goes to port (b mod n) + 1, whose F-BM is every bit going
/// there (RFC 8279 §6.5).
fn full_4096(neighbours: u16) -> BiftTable {
    let mut fbm: BTreeMap<u16, Vec<u16>> = BTreeMap::new();
    for b in 1..=4096u16 {
        fbm.entry(b % neighbours + 1).or_default().push(b);
    }
    let entries = (1..=4096u16)
        .map(|b| {
            let p = b % neighbours + 1;
            let f = bits_from_positions(Bsl::B4096, fbm[&p].iter().copied());
            (b, Hop::Forward(vec![(PortNo(u32::from(p)), f)]))
        })
        .collect();
    bier_table(Bsl::B4096, entries)
}

fn commit_all(mods: &[BiftMod]) -> Commit {
    let mut txn = BiftTxn::new();
    let mut commit = None;
    for (i, m) in mods.iter().enumerate() {
        // Each part crosses the wire as its own message.
        let bytes = BierMessage::BiftMod(m.clone())
            .to_message(Xid(i as u32))
            .encode()
            .unwrap();
        assert!(bytes.len() <= 65535);
        let BierMessage::BiftMod(back) = decode_via_registry(&bytes).unwrap() else {
            panic!()
        };
        let r = txn.handle(&back).unwrap();
        assert_eq!(
            r.is_some(),
            i + 1 == mods.len(),
            "commits on the last part only"
        );
        commit = commit.or(r);
    }
    assert_eq!(txn.open(), 0);
    commit.unwrap()
}

/// Draft §12's figures: a BSL-4096 table with 16 neighbours is one message of 41 136 bytes;
/// with 64 neighbours two parts; BIER-TE with one adjacency per bit two parts. Each part fits
/// 64 KiB and the switch commits exactly the table.
#[test]
fn bsl_4096_tables_fit_64k() {
    let t16 = full_4096(16);
    let mods = t16.bift_mods(1, BiftCommand::Replace).unwrap();
    assert_eq!(mods.len(), 1);
    let len = BierMessage::BiftMod(mods[0].clone())
        .to_message(Xid(1))
        .encode()
        .unwrap()
        .len();
    assert_eq!(len, 48 + 16 * 520 + 4096 * 8);
    assert_eq!(len, 41_136);
    assert_eq!(commit_all(&mods).table, t16);

    let t64 = full_4096(64);
    let mods = t64.bift_mods(2, BiftCommand::Replace).unwrap();
    assert_eq!(mods.len(), 2);
    assert!(mods[0].more && !mods[1].more);
    assert_eq!((mods[0].seq, mods[1].seq), (0, 1));
    let c = commit_all(&mods);
    assert_eq!((c.txn, c.command, c.table), (2, BiftCommand::Replace, t64));

    let te = BiftTable {
        key: TableKey {
            bift_id: 0x7_0001,
            sub_domain: 1,
            bsl: Bsl::B4096,
            si: 0,
        },
        entries: TableEntries::BierTe(
            (1..=4096u16)
                .map(|b| {
                    let a = Adjacency::ForwardConnected {
                        port: PortNo(u32::from(b)),
                        dnc: b % 2 == 0,
                    };
                    (b, vec![a])
                })
                .collect(),
        ),
    };
    let one = te.fragments(usize::MAX).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].wire_len() + 32, 65_584, "too big for one message");
    let mods = te.bift_mods(3, BiftCommand::Replace).unwrap();
    assert_eq!(mods.len(), 2);
    assert_eq!(commit_all(&mods).table, te);
}

#[test]
fn transactions_commit_whole_or_not_at_all() {
    let t = full_4096(64);
    let mods = t.bift_mods(5, BiftCommand::Replace).unwrap();
    let code = |r: Result<Option<Commit>, BierError>| r.unwrap_err().code();

    // A part out of order discards the transaction; its later parts are BAD_SEQUENCE.
    let mut txn = BiftTxn::new();
    assert_eq!(txn.handle(&mods[0]).unwrap(), None);
    let mut skipped = mods[1].clone();
    skipped.seq = 2;
    assert_eq!(code(txn.handle(&skipped)), BierErrorCode::BadSequence);
    assert_eq!(txn.open(), 0);
    assert_eq!(code(txn.handle(&mods[1])), BierErrorCode::BadSequence);

    // Another txn id, command, or table key in a later part.
    let changes: [fn(&mut BiftMod); 3] = [
        |m| m.txn = 6,
        |m| m.command = BiftCommand::Modify,
        |m| m.bift.key.si = 1,
    ];
    for change in changes {
        let mut txn = BiftTxn::new();
        txn.handle(&mods[0]).unwrap();
        let mut m = mods[1].clone();
        change(&mut m);
        assert_eq!(code(txn.handle(&m)), BierErrorCode::BadSequence);
        assert_eq!(txn.open(), 0);
    }

    // A new seq 0 on the same table replaces the open transaction.
    let mut txn = BiftTxn::new();
    txn.handle(&mods[0]).unwrap();
    let small = bier_table(Bsl::B4096, vec![(1, Hop::LocalDecap)]);
    let mut restart = small.bift_mods(9, BiftCommand::Replace).unwrap();
    restart[0].bift.key = mods[0].bift.key;
    let c = txn.handle(&restart[0]).unwrap().unwrap();
    assert_eq!(c.txn, 9);
    assert_eq!(c.table.len(), 1);

    // The same bit in two parts.
    let mut txn = BiftTxn::new();
    txn.handle(&mods[0]).unwrap();
    let mut dup = mods[1].clone();
    if let BiftEntries::Bier { entries, .. } = &mut dup.bift.entries {
        // Valid on its own (a local bit), but part 0 already has bit 1.
        entries[0] = BierEntry {
            bit: 1,
            action: EntryAction::LocalDecap,
            next_hops: vec![],
        };
    }
    assert_eq!(code(txn.handle(&dup)), BierErrorCode::BadBitPosition);

    // REMOVE belongs in a MODIFY.
    let rm = bier_table(Bsl::B64, vec![(3, Hop::Remove)]);
    let m = &rm.bift_mods(1, BiftCommand::Modify).unwrap()[0];
    assert!(BiftTxn::new().handle(m).unwrap().is_some());
    let mut replace = m.clone();
    replace.command = BiftCommand::Replace;
    assert_eq!(
        code(BiftTxn::new().handle(&replace)),
        BierErrorCode::BadEntry
    );
    assert!(rm.bift_mods(1, BiftCommand::Replace).is_err());
}

#[test]
fn validation_names_the_problem_and_its_code() {
    let key = golden::a3_bift().key;
    let with = |next_hops: Vec<NextHop>, entries: Vec<BierEntry>| Bift {
        key,
        entries: BiftEntries::Bier { next_hops, entries },
    };
    let nh = |id, fbm: &[u16]| NextHop {
        id,
        port: PortNo(7),
        fbm: bits_from_positions(Bsl::B64, fbm.iter().copied()),
    };
    let fwd = |bit, ids: &[u16]| BierEntry {
        bit,
        action: EntryAction::Forward,
        next_hops: ids.to_vec(),
    };
    let cases: Vec<(Bift, BierErrorCode)> = vec![
        // F-BM without the entry's own bit: it would never leave (RFC 8279 §6.5).
        (
            with(vec![nh(1, &[2])], vec![fwd(1, &[1])]),
            BierErrorCode::BadNextHop,
        ),
        (
            with(vec![nh(1, &[1])], vec![fwd(1, &[2])]),
            BierErrorCode::BadNextHop,
        ),
        (
            with(vec![nh(1, &[1]), nh(1, &[1])], vec![]),
            BierErrorCode::BadNextHop,
        ),
        (
            with(vec![nh(1, &[65])], vec![fwd(65, &[1])]),
            BierErrorCode::BadBitPosition,
        ),
        (
            with(vec![], vec![fwd(0, &[])]),
            BierErrorCode::BadBitPosition,
        ),
        (
            with(vec![nh(1, &[1])], vec![fwd(1, &[1]), fwd(1, &[1])]),
            BierErrorCode::BadBitPosition,
        ),
        (with(vec![], vec![fwd(1, &[])]), BierErrorCode::BadEntry),
        (
            with(vec![nh(1, &[1])], vec![fwd(1, &[1; 256])]),
            BierErrorCode::BadEntry,
        ),
        (
            with(
                vec![nh(1, &[1])],
                vec![BierEntry {
                    bit: 1,
                    action: EntryAction::LocalDecap,
                    next_hops: vec![1],
                }],
            ),
            BierErrorCode::BadEntry,
        ),
        (
            with(
                vec![NextHop {
                    id: 1,
                    port: PortNo(1),
                    fbm: vec![1],
                }],
                vec![],
            ),
            BierErrorCode::BadNextHop,
        ),
    ];
    for (b, code) in cases {
        let e = b.validate().unwrap_err();
        assert_eq!(e.code(), code, "{e}");
        assert!(!e.to_string().is_empty());
    }
    let mut wide = golden::a3_bift();
    wide.key.bift_id = 0x10_0000;
    assert_eq!(
        wide.validate().unwrap_err().code(),
        BierErrorCode::BadBiftId
    );

    let te = |a: Adjacency| Bift {
        key,
        entries: BiftEntries::BierTe(vec![TeEntry {
            bit: 1,
            adjacencies: vec![a],
        }]),
    };
    let fc = Adjacency::ForwardConnected {
        port: PortNo(1),
        dnc: false,
    };
    for bad in [
        Adjacency::Ecmp(vec![]),
        Adjacency::Ecmp(vec![Adjacency::Ecmp(vec![fc.clone()])]),
        Adjacency::Ecmp(vec![Adjacency::LocalDecap { port: PortNo(1) }]),
        Adjacency::Other {
            kind: 9,
            flags: 0,
            value: 0,
        },
    ] {
        assert_eq!(
            te(bad).validate().unwrap_err().code(),
            BierErrorCode::BadAdjacency
        );
    }
    assert_eq!(te(Adjacency::Ecmp(vec![fc])).validate(), Ok(()));

    let bfr = |bfr_id, port| LocalBfr {
        bfr_id,
        decap: true,
        port: PortNo(port),
    };
    for bfrs in [
        vec![bfr(0, 1)],
        vec![bfr(1, 1), bfr(1, 2)],
        vec![bfr(1, 0)],
        vec![bfr(1, PortNo::ALL.0)],
    ] {
        let m = BfrMod {
            command: BfrCommand::Add,
            sub_domain: 0,
            bfrs,
        };
        assert_eq!(m.validate().unwrap_err().code(), BierErrorCode::BadBfrId);
    }
    let local = BfrMod {
        command: BfrCommand::Replace,
        sub_domain: 0,
        bfrs: vec![bfr(1, PortNo::LOCAL.0), bfr(2, PortNo::CONTROLLER.0)],
    };
    assert_eq!(local.validate(), Ok(()));

    let BierMessage::TsmConfig(good) = golden::goldens()[10].msg.clone() else {
        panic!()
    };
    for bad in [
        TsmConfig {
            threshold: 0,
            ..good
        },
        TsmConfig {
            idle_timeout_ms: 0,
            ..good
        },
        TsmConfig {
            group_id_first: GroupId(5),
            group_id_last: GroupId(4),
            ..good
        },
        TsmConfig {
            group_id_last: GroupId::ALL,
            ..good
        },
    ] {
        assert_eq!(
            bad.validate().unwrap_err().code(),
            BierErrorCode::BadTsmConfig
        );
    }
    assert_eq!(TsmConfig::DISABLED.validate(), Ok(()));

    let BierAction::Encap(e) = golden::a11_encap() else {
        panic!()
    };
    for bad in [
        BierEncap {
            ttl: 0,
            ..e.clone()
        },
        BierEncap { tc: 8, ..e.clone() },
        BierEncap {
            bitstring: vec![0; 9],
            ..e.clone()
        },
        BierEncap {
            entropy: Entropy::Fixed(0x10_0000),
            ..e.clone()
        },
    ] {
        assert_eq!(bad.validate().unwrap_err().code(), BierErrorCode::BadEncap);
    }
    assert_eq!(
        CapsRequest { version: 0 }.validate().unwrap_err().code(),
        BierErrorCode::BadExtVersion
    );
}

/// Values that break the rules still encode consistently (no panic, data_len bytes), so a
/// switch can receive and refuse them.
#[test]
fn invalid_values_still_emit_consistently() {
    let mut b = golden::a3_bift();
    if let BiftEntries::Bier { next_hops, .. } = &mut b.entries {
        next_hops[0].fbm = vec![0x13]; // short: right-aligned
        next_hops[1].fbm = vec![0xff; 9]; // long: high byte dropped
    }
    let m = BierMessage::BiftMod(BiftMod {
        txn: 1,
        seq: 0,
        more: false,
        command: BiftCommand::Replace,
        bift: b,
    });
    assert!(m.validate().is_err());
    let back = decode_via_registry(&m.to_message(Xid(1)).encode().unwrap()).unwrap();
    let BierMessage::BiftMod(back) = back else {
        panic!()
    };
    let BiftEntries::Bier { next_hops, .. } = back.bift.entries else {
        panic!()
    };
    assert_eq!(next_hops[0].fbm, [0, 0, 0, 0, 0, 0, 0, 0x13]);
    assert_eq!(next_hops[1].fbm, [0xff; 8]);
    // A nested ECMP member is written as a single record, so it reads back empty.
    let nested = BierMessage::BiftMod(BiftMod {
        txn: 1,
        seq: 0,
        more: false,
        command: BiftCommand::Modify,
        bift: Bift {
            key: golden::a4_bift().key,
            entries: BiftEntries::BierTe(vec![TeEntry {
                bit: 1,
                adjacencies: vec![Adjacency::Ecmp(vec![Adjacency::Ecmp(vec![
                    Adjacency::ForwardRouted { to: 1 },
                ])])],
            }]),
        },
    });
    let back = decode_via_registry(&nested.to_message(Xid(1)).encode().unwrap()).unwrap();
    let BierMessage::BiftMod(back) = back else {
        panic!()
    };
    assert_eq!(
        back.bift.entries,
        BiftEntries::BierTe(vec![TeEntry {
            bit: 1,
            adjacencies: vec![Adjacency::Ecmp(vec![Adjacency::Ecmp(vec![])])],
        }])
    );
}

#[test]
fn reconciliation_by_query_and_modify() {
    let t = full_4096(64);
    // The switch answers a query with two fragments; the controller merges them.
    let replies = t.bift_replies().unwrap();
    assert_eq!(replies.len(), 2);
    let wire: Vec<BiftReply> = replies
        .iter()
        .map(|r| {
            let b = BierMessage::BiftReply(r.clone())
                .to_message(Xid(3))
                .encode()
                .unwrap();
            match decode_via_registry(&b).unwrap() {
                BierMessage::BiftReply(r) => r,
                other => panic!("{other:?}"),
            }
        })
        .collect();
    assert_eq!(collect_replies(&wire).unwrap(), vec![t.clone()]);
    // Out of order or a lost last message is refused.
    assert!(collect_replies(&wire[1..]).is_err());
    assert!(collect_replies(&wire[..1]).is_err());
    assert_eq!(
        collect_replies(&bift_replies(&[]).unwrap()).unwrap(),
        vec![]
    );

    // The controller wants bit 5 elsewhere and bit 6 gone: one small MODIFY does it.
    let mut want = t.clone();
    let TableEntries::Bier(m) = &mut want.entries else {
        panic!()
    };
    m.insert(5, Hop::LocalDecap);
    m.remove(&6);
    let update = t.modify_to(&want).unwrap().unwrap();
    assert_eq!(update.len(), 2);
    let mods = update.bift_mods(11, BiftCommand::Modify).unwrap();
    assert_eq!(mods.len(), 1);
    let mut have = t.clone();
    have.apply(BiftCommand::Modify, commit_all(&mods).table)
        .unwrap();
    assert_eq!(have, want);
    assert_eq!(have.modify_to(&want).unwrap(), None);
}

fn without_removals(mut t: BiftTable) -> BiftTable {
    match &mut t.entries {
        TableEntries::Bier(m) => m.retain(|_, h| *h != Hop::Remove),
        TableEntries::BierTe(m) => m.retain(|_, a| !a.is_empty()),
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn messages_round_trip(m in arb::bier_message(), xid in any::<u32>()) {
        prop_assert_eq!(m.validate(), Ok(()));
        let bytes = m.to_message(Xid(xid)).encode().unwrap();
        prop_assert_eq!(bytes.len(), 16 + m.data_len());
        prop_assert_eq!(decode_via_registry(&bytes), Ok(m.clone()));
        // No byte is left to the buffer's old contents.
        prop_assert_eq!(&emit_into_a5(&m)[..], &bytes[16..]);
    }

    #[test]
    fn actions_round_trip(a in arb::bier_action()) {
        prop_assert_eq!(a.validate(), Ok(()));
        prop_assert_eq!(a.data_len() % 8, 0);
        let bytes = a.to_action().to_vec();
        let mut data = vec![0xa5; a.data_len()];
        a.emit_data(&mut Writer::new(&mut data));
        prop_assert_eq!(&data[..], &bytes[8..]);
        let parsed = Action::parse(&mut Reader::new(&bytes, "test")).unwrap();
        prop_assert_eq!(BierAction::from_action(&parsed), Some(Ok(a)));
    }

    #[test]
    fn arbitrary_bodies_never_panic(exp_type in 0u32..14, data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let e = Experimenter { experimenter: EXPERIMENTER_ID, exp_type, data };
        if let Some(Ok(m)) = BierMessage::from_experimenter(&e) {
            // Whatever parses re-encodes to a message that parses to the same value.
            let again = BierMessage::from_experimenter(&m.to_experimenter());
            prop_assert_eq!(again, Some(Ok(m.clone())));
            let _ = m.validate();
        }
        let _ = BierAction::parse_data(&e.data);
    }

    #[test]
    fn corrupted_messages_never_panic(
        m in arb::bier_message(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut e = m.to_experimenter();
        for (i, v) in &flips {
            if !e.data.is_empty() {
                let i = i.index(e.data.len());
                e.data[i] = *v;
            }
        }
        let _ = BierMessage::from_experimenter(&e).map(|r| r.map(|m| m.validate()));
        e.data.truncate(cut.index(e.data.len() + 1));
        let _ = BierMessage::from_experimenter(&e);
        let _ = BierAction::parse_data(&e.data);
    }

    #[test]
    fn tables_split_and_reassemble(t in arb::bift_table(), budget in 48usize..1500) {
        let Ok(frags) = t.fragments(budget) else {
            // Only when one entry alone does not fit the budget.
            return Ok(());
        };
        let mut back: Option<BiftTable> = None;
        for f in &frags {
            prop_assert!(f.wire_len() <= budget);
            let part = f.resolve().unwrap();
            match &mut back {
                Some(b) => b.merge(part).unwrap(),
                None => back = Some(part),
            }
        }
        prop_assert_eq!(back.as_ref(), Some(&t));
        // The same through a transaction, and through a query's reply.
        let mods = t.bift_mods(1, BiftCommand::Modify).unwrap();
        prop_assert_eq!(commit_all(&mods).table, t.clone());
        let replies = t.bift_replies().unwrap();
        prop_assert_eq!(collect_replies(&replies).unwrap(), vec![t]);
    }

    #[test]
    fn modify_to_then_apply_reaches_the_target(a in arb::bift_table(), b in arb::bift_table()) {
        let a = without_removals(a);
        let mut b = without_removals(b);
        b.key = a.key;
        prop_assume!(a.kind() == b.kind());
        let mut have = a.clone();
        if let Some(u) = a.modify_to(&b).unwrap() {
            have.apply(BiftCommand::Modify, u).unwrap();
        }
        prop_assert_eq!(&have, &b);
        let mut replaced = a.clone();
        replaced.apply(BiftCommand::Replace, b.clone()).unwrap();
        prop_assert_eq!(replaced, b);
    }
}
