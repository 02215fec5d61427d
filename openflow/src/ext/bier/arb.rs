//! Proptest strategies for every type of the extension. They generate *valid* values
//! (`validate()` is `Ok`), so a round trip must give back exactly the value; for invalid
//! inputs the tests feed arbitrary bytes instead.

use proptest::collection::{btree_set, vec};
use proptest::prelude::*;

use super::*;
use crate::types::{GroupId, PortNo};

/// Any BSL, the short ones more often (long ones make big messages).
pub fn bsl() -> impl Strategy<Value = Bsl> {
    prop_oneof![
        6 => prop::sample::select(vec![Bsl::B64, Bsl::B128, Bsl::B256]),
        1 => prop::sample::select(Bsl::ALL.to_vec()),
    ]
}

/// A BitString of `bsl`, any bits.
pub fn bitstring(bsl: Bsl) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), bsl.bytes())
}

/// A table key with a 20-bit BIFT-id.
pub fn table_key() -> impl Strategy<Value = TableKey> {
    (0..=0xf_ffffu32, any::<u8>(), bsl(), any::<u16>()).prop_map(
        |(bift_id, sub_domain, bsl, si)| TableKey {
            bift_id,
            sub_domain,
            bsl,
            si,
        },
    )
}

/// A port: a real one or LOCAL / CONTROLLER.
pub fn port() -> impl Strategy<Value = PortNo> {
    prop_oneof![
        8 => (1..=PortNo::MAX.0).prop_map(PortNo),
        1 => Just(PortNo::LOCAL),
        1 => Just(PortNo::CONTROLLER),
    ]
}

/// A valid BIER body: next hops with distinct ids, entries on distinct bits; every F-BM
/// contains the bits of the entries that use it.
pub fn bier_bift() -> impl Strategy<Value = Bift> {
    table_key().prop_flat_map(|key| {
        let bits = key.bsl.bits() as u16;
        (
            Just(key),
            vec((port(), bitstring(key.bsl)), 0..5),
            btree_set(1..=bits, 0..12),
            vec((0u8..3, vec(any::<prop::sample::Index>(), 1..4)), 12),
        )
            .prop_map(|(key, hops, bits, shapes)| {
                let mut next_hops: Vec<NextHop> = hops
                    .into_iter()
                    .enumerate()
                    .map(|(i, (port, fbm))| NextHop {
                        id: (i as u16) * 3 + 1,
                        port,
                        fbm,
                    })
                    .collect();
                let mut entries = Vec::new();
                for (bit, (shape, picks)) in bits.into_iter().zip(shapes) {
                    let (action, ids) = match shape {
                        0 if !next_hops.is_empty() => {
                            let n = next_hops.len();
                            let ids: Vec<u16> = picks
                                .iter()
                                .map(|ix| {
                                    let nh = &mut next_hops[ix.index(n)];
                                    set_bit(&mut nh.fbm, bit);
                                    nh.id
                                })
                                .collect();
                            (EntryAction::Forward, ids)
                        }
                        1 => (EntryAction::Remove, vec![]),
                        _ => (EntryAction::LocalDecap, vec![]),
                    };
                    entries.push(BierEntry {
                        bit,
                        action,
                        next_hops: ids,
                    });
                }
                Bift {
                    key,
                    entries: BiftEntries::Bier { next_hops, entries },
                }
            })
    })
}

fn forward_adjacency() -> impl Strategy<Value = Adjacency> {
    prop_oneof![
        (port(), any::<bool>()).prop_map(|(port, dnc)| Adjacency::ForwardConnected { port, dnc }),
        any::<u32>().prop_map(|to| Adjacency::ForwardRouted { to }),
    ]
}

/// A valid BIER-TE adjacency (ECMP members are forward adjacencies).
pub fn adjacency() -> impl Strategy<Value = Adjacency> {
    prop_oneof![
        4 => forward_adjacency(),
        1 => port().prop_map(|port| Adjacency::LocalDecap { port }),
        1 => vec(forward_adjacency(), 1..4).prop_map(Adjacency::Ecmp),
    ]
}

/// A valid BIER-TE body.
pub fn te_bift() -> impl Strategy<Value = Bift> {
    table_key().prop_flat_map(|key| {
        let bits = key.bsl.bits() as u16;
        (
            Just(key),
            btree_set(1..=bits, 0..10),
            vec(vec(adjacency(), 0..3), 10),
        )
            .prop_map(|(key, bits, adjs)| Bift {
                key,
                entries: BiftEntries::BierTe(
                    bits.into_iter()
                        .zip(adjs)
                        .map(|(bit, adjacencies)| TeEntry { bit, adjacencies })
                        .collect(),
                ),
            })
    })
}

/// A valid body of either kind.
pub fn bift() -> impl Strategy<Value = Bift> {
    prop_oneof![bier_bift(), te_bift()]
}

/// A resolved table of either kind.
pub fn bift_table() -> impl Strategy<Value = BiftTable> {
    bift().prop_filter_map("resolves", |b| b.resolve().ok())
}

/// A valid BIFT_MOD (no REMOVE in a REPLACE).
pub fn bift_mod() -> impl Strategy<Value = BiftMod> {
    (
        any::<u32>(),
        any::<u16>(),
        any::<bool>(),
        any::<bool>(),
        bift(),
    )
        .prop_map(|(txn, seq, more, replace, mut bift)| {
            if replace {
                if let BiftEntries::Bier { entries, .. } = &mut bift.entries {
                    for e in entries
                        .iter_mut()
                        .filter(|e| e.action == EntryAction::Remove)
                    {
                        e.action = EntryAction::LocalDecap;
                    }
                }
            }
            BiftMod {
                txn,
                seq,
                more,
                command: if replace {
                    BiftCommand::Replace
                } else {
                    BiftCommand::Modify
                },
                bift,
            }
        })
}

/// A selector with any wildcards.
pub fn bift_selector() -> impl Strategy<Value = BiftSelector> {
    (
        proptest::option::of(0..=0xf_ffffu32),
        proptest::option::of(any::<u8>()),
        proptest::option::of(prop::sample::select(vec![
            TableKind::Bier,
            TableKind::BierTe,
        ])),
    )
        .prop_map(|(bift_id, sub_domain, kind)| BiftSelector {
            bift_id,
            sub_domain,
            kind,
        })
}

/// A BIFT_REPLY message.
pub fn bift_reply() -> impl Strategy<Value = BiftReply> {
    (any::<u16>(), any::<bool>(), proptest::option::of(bift()))
        .prop_map(|(seq, more, bift)| BiftReply { seq, more, bift })
}

/// A CAPS_REQUEST.
pub fn caps_request() -> impl Strategy<Value = CapsRequest> {
    (1..=u8::MAX).prop_map(|version| CapsRequest { version })
}

/// A CAPS_REPLY (flags and masks with any bits).
pub fn caps_reply() -> impl Strategy<Value = CapsReply> {
    (
        (any::<u8>(), any::<u8>(), any::<u16>(), any::<u16>()),
        (any::<u16>(), any::<u32>(), any::<u16>()),
        vec(any::<u8>(), 0..20),
    )
        .prop_map(
            |((version, max_ecmp, caps, bsls), (max_si, max_bifts, max_local_bfrs), sds)| {
                CapsReply {
                    version,
                    max_ecmp,
                    capabilities: Capabilities::from_bits_retain(caps),
                    bsls: BslSet(bsls),
                    max_si,
                    max_bifts,
                    max_local_bfrs,
                    sub_domains: sds,
                }
            },
        )
}

/// Valid local BFR-id records (distinct, non-zero).
pub fn local_bfrs() -> impl Strategy<Value = Vec<LocalBfr>> {
    btree_set(1..=u16::MAX, 0..10).prop_flat_map(|ids| {
        let n = ids.len();
        (Just(ids), vec((any::<bool>(), port()), n)).prop_map(|(ids, rest)| {
            ids.into_iter()
                .zip(rest)
                .map(|(bfr_id, (decap, port))| LocalBfr {
                    bfr_id,
                    decap,
                    port,
                })
                .collect()
        })
    })
}

/// A BFR_MOD.
pub fn bfr_mod() -> impl Strategy<Value = BfrMod> {
    (1u8..=3, any::<u8>(), local_bfrs()).prop_map(|(c, sub_domain, bfrs)| BfrMod {
        command: BfrCommand::from(c),
        sub_domain,
        bfrs,
    })
}

/// A BFR_QUERY.
pub fn bfr_query() -> impl Strategy<Value = BfrQuery> {
    proptest::option::of(any::<u8>()).prop_map(|sub_domain| BfrQuery { sub_domain })
}

/// A BFR_REPLY.
pub fn bfr_reply() -> impl Strategy<Value = BfrReply> {
    (any::<bool>(), any::<u8>(), local_bfrs()).prop_map(|(more, sub_domain, bfrs)| BfrReply {
        more,
        sub_domain,
        bfrs,
    })
}

/// A valid TSM_CONFIG, enabled or not.
pub fn tsm_config() -> impl Strategy<Value = TsmConfig> {
    (
        0u16..4,
        1..=u32::MAX,
        any::<u32>(),
        1..=u32::MAX,
        any::<u32>(),
        (0..=GroupId::MAX.0, 0..=GroupId::MAX.0),
    )
        .prop_map(
            |(flags, threshold, window_ms, idle, max_groups, (a, b))| TsmConfig {
                flags: TsmFlags::from_bits_retain(flags),
                threshold,
                window_ms,
                idle_timeout_ms: idle,
                max_groups,
                group_id_first: GroupId(a.min(b)),
                group_id_last: GroupId(a.max(b)),
            },
        )
}

/// A TSM_EVENT.
pub fn tsm_event() -> impl Strategy<Value = TsmEvent> {
    bsl().prop_flat_map(|bsl| {
        (
            (
                1u8..=2,
                0u8..=4,
                any::<u32>(),
                0..=0xf_ffffu32,
                any::<u64>(),
            ),
            bitstring(bsl),
            vec(port(), 0..6),
        )
            .prop_map(
                move |((e, r, g, bift_id, packet_count), bitstring, ports)| TsmEvent {
                    event: TsmEventKind::from(e),
                    reason: TsmReason::from(r),
                    bsl,
                    group_id: GroupId(g),
                    bift_id,
                    packet_count,
                    bitstring,
                    ports,
                },
            )
    })
}

/// Any message of the extension.
pub fn bier_message() -> impl Strategy<Value = BierMessage> {
    prop_oneof![
        caps_request().prop_map(BierMessage::CapsRequest),
        caps_reply().prop_map(BierMessage::CapsReply),
        bift_mod().prop_map(BierMessage::BiftMod),
        bift_selector().prop_map(BierMessage::BiftClear),
        bift_selector().prop_map(BierMessage::BiftQuery),
        bift_reply().prop_map(BierMessage::BiftReply),
        bfr_mod().prop_map(BierMessage::BfrMod),
        bfr_query().prop_map(BierMessage::BfrQuery),
        bfr_reply().prop_map(BierMessage::BfrReply),
        tsm_config().prop_map(BierMessage::TsmConfig),
        tsm_event().prop_map(BierMessage::TsmEvent),
    ]
}

/// A valid bier_encap.
pub fn bier_encap() -> impl Strategy<Value = BierEncap> {
    bsl().prop_flat_map(|bsl| {
        (
            (0..=0xf_ffffu32, any::<u8>(), any::<u16>(), any::<u16>()),
            (
                1..=u8::MAX,
                0u8..8,
                any::<bool>(),
                any::<bool>(),
                0..=0xf_ffffu32,
            ),
            bitstring(bsl),
        )
            .prop_map(
                move |((bift_id, sub_domain, si, bfir_id), (ttl, tc, copy_dscp, hash, e), bits)| {
                    BierEncap {
                        bift_id,
                        sub_domain,
                        bsl,
                        si,
                        bfir_id,
                        ttl,
                        tc,
                        copy_dscp,
                        entropy: if hash {
                            Entropy::FlowHash { seed: e }
                        } else {
                            Entropy::Fixed(e)
                        },
                        bitstring: bits,
                    }
                },
            )
    })
}

/// Any of our actions.
pub fn bier_action() -> impl Strategy<Value = BierAction> {
    prop_oneof![
        bier_encap().prop_map(BierAction::Encap),
        Just(BierAction::Decap),
        Just(BierAction::Forward),
    ]
}
