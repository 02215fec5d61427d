//! The examples of `drafts/bier-openflow.md` Appendix A, hand-assembled field by field from
//! the draft's layouts (one annotated line per field), with the typed values they encode.
//! Shared by `ext_bier.rs` (codec) and `ext_wireshark.rs` (tshark); no tests of its own.

#![allow(dead_code, clippy::unwrap_used)]

use openflow::ext::bier::*;
use openflow::types::{GroupId, PortNo};

/// One message: its name, xid, typed value and exact bytes.
pub struct Golden {
    pub name: &'static str,
    pub xid: u32,
    pub msg: BierMessage,
    pub bytes: Vec<u8>,
}

/// Concatenates annotated byte groups.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn bits(positions: &[u16]) -> Vec<u8> {
    bits_from_positions(Bsl::B64, positions.iter().copied())
}

fn entry(bit: u16, action: EntryAction, next_hops: &[u16]) -> BierEntry {
    BierEntry {
        bit,
        action,
        next_hops: next_hops.to_vec(),
    }
}

fn fc(port: u32, dnc: bool) -> Adjacency {
    Adjacency::ForwardConnected {
        port: PortNo(port),
        dnc,
    }
}

/// A.3's table: BIFT-id 0x10000, BSL 64, SI 0, sub-domain 0.
pub fn a3_bift() -> Bift {
    Bift {
        key: TableKey {
            bift_id: 0x10000,
            sub_domain: 0,
            bsl: Bsl::B64,
            si: 0,
        },
        entries: BiftEntries::Bier {
            next_hops: vec![
                NextHop {
                    id: 1,
                    port: PortNo(2),
                    fbm: bits(&[1, 2, 5]),
                },
                NextHop {
                    id: 2,
                    port: PortNo(3),
                    fbm: bits(&[3, 5]),
                },
            ],
            entries: vec![
                entry(1, EntryAction::Forward, &[1]),
                entry(2, EntryAction::Forward, &[1]),
                entry(3, EntryAction::Forward, &[2]),
                entry(4, EntryAction::LocalDecap, &[]),
                entry(5, EntryAction::Forward, &[1, 2]),
            ],
        },
    }
}

/// A.4's table: BIER-TE, BIFT-id 0x10100, BSL 64, SI 0, sub-domain 1.
pub fn a4_bift() -> Bift {
    let te = |bit, adjacencies| TeEntry { bit, adjacencies };
    Bift {
        key: TableKey {
            bift_id: 0x10100,
            sub_domain: 1,
            bsl: Bsl::B64,
            si: 0,
        },
        entries: BiftEntries::BierTe(vec![
            te(1, vec![fc(1, false)]),
            te(2, vec![fc(2, true)]),
            te(3, vec![Adjacency::LocalDecap { port: PortNo(5) }]),
            te(4, vec![Adjacency::Ecmp(vec![fc(3, false), fc(4, false)])]),
            te(6, vec![Adjacency::ForwardRouted { to: 9 }]),
        ]),
    }
}

fn bfrs() -> Vec<LocalBfr> {
    vec![
        LocalBfr {
            bfr_id: 4,
            decap: true,
            port: PortNo(5),
        },
        LocalBfr {
            bfr_id: 6,
            decap: true,
            port: PortNo(6),
        },
    ]
}

/// Every message example of Appendix A.
#[rustfmt::skip]
pub fn goldens() -> Vec<Golden> {
    let hdr = |len: u16, xid: u32, exp_type: u32| -> Vec<u8> {
        cat(&[
            &[0x04, 0x04],                // version 1.3, OFPT_EXPERIMENTER
            &len.to_be_bytes(),           // length
            &xid.to_be_bytes(),           // xid
            &[0x00, 0x42, 0x49, 0x45],    // experimenter 0x00424945
            &exp_type.to_be_bytes(),      // exp_type
        ])
    };
    let bfr_records: &[u8] = &[
        0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, // bfr_id 4, flags DECAP, port 5
        0x00, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x06, // bfr_id 6, flags DECAP, port 6
    ];
    vec![
        Golden {
            name: "A.1 CAPS_REQUEST",
            xid: 1,
            msg: BierMessage::CapsRequest(CapsRequest { version: 1 }),
            bytes: cat(&[
                &hdr(24, 1, 1),
                &[0x01],                                     // ext_version 1
                &[0, 0, 0, 0, 0, 0, 0],                      // pad[7]
            ]),
        },
        Golden {
            name: "A.2 CAPS_REPLY",
            xid: 1,
            msg: BierMessage::CapsReply(CapsReply {
                version: 1,
                max_ecmp: 4,
                capabilities: Capabilities::BIER
                    | Capabilities::BIER_TE
                    | Capabilities::ECMP
                    | Capabilities::ENCAP
                    | Capabilities::DECAP
                    | Capabilities::TSM,
                bsls: BslSet::of([Bsl::B64, Bsl::B128, Bsl::B256]),
                max_si: 15,
                max_bifts: 64,
                max_local_bfrs: 256,
                sub_domains: vec![0, 1],
            }),
            bytes: cat(&[
                &hdr(40, 1, 2),
                &[0x01],                   // ext_version 1
                &[0x04],                   // max_ecmp 4
                &[0x00, 0x3f],             // capabilities BIER|BIER_TE|ECMP|ENCAP|DECAP|TSM
                &[0x00, 0x0e],             // bsls: codes 1, 2, 3
                &[0x00, 0x0f],             // max_si 15
                &[0x00, 0x00, 0x00, 0x40], // max_bifts 64
                &[0x01, 0x00],             // max_local_bfrs 256
                &[0x00, 0x02],             // n_sub_domains 2
                &[0x00, 0x01],             // sub_domains 0, 1
                &[0, 0, 0, 0, 0, 0],       // pad to 8
            ]),
        },
        Golden {
            name: "A.3 BIFT_MOD BIER",
            xid: 2,
            msg: BierMessage::BiftMod(BiftMod {
                txn: 7,
                seq: 0,
                more: false,
                command: BiftCommand::Replace,
                bift: a3_bift(),
            }),
            bytes: cat(&[
                &hdr(120, 2, 3),
                &[0x00, 0x00, 0x00, 0x07],             // txn 7
                &[0x00, 0x00],                         // seq 0
                &[0x00, 0x00],                         // flags: no MORE (commit)
                &[0x01],                               // command REPLACE
                &[0, 0, 0, 0, 0, 0, 0],                // pad[7]
                &[0x00],                               // kind BIER
                &[0x01],                               // bsl 64
                &[0x00, 0x00],                         // si 0
                &[0x00, 0x01, 0x00, 0x00],             // bift_id 0x10000
                &[0x00],                               // sub_domain 0
                &[0x00],                               // pad
                &[0x00, 0x02],                         // n_next_hops 2
                &[0x00, 0x05],                         // n_entries 5
                &[0x00, 0x00],                         // pad
                &[0x00, 0x01, 0x00, 0x00],             // nh_id 1, pad
                &[0x00, 0x00, 0x00, 0x02],             // port 2
                &[0, 0, 0, 0, 0, 0, 0, 0x13],          // F-BM {1, 2, 5}
                &[0x00, 0x02, 0x00, 0x00],             // nh_id 2, pad
                &[0x00, 0x00, 0x00, 0x03],             // port 3
                &[0, 0, 0, 0, 0, 0, 0, 0x14],          // F-BM {3, 5}
                &[0x00, 0x01, 0x01, 0x01, 0x00, 0x01, 0x00, 0x00], // bit 1 FORWARD [1], pad
                &[0x00, 0x02, 0x01, 0x01, 0x00, 0x01, 0x00, 0x00], // bit 2 FORWARD [1], pad
                &[0x00, 0x03, 0x01, 0x01, 0x00, 0x02, 0x00, 0x00], // bit 3 FORWARD [2], pad
                &[0x00, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00], // bit 4 LOCAL_DECAP, pad
                &[0x00, 0x05, 0x01, 0x02, 0x00, 0x01, 0x00, 0x02], // bit 5 FORWARD [1, 2]
            ]),
        },
        Golden {
            name: "A.4 BIFT_MOD BIER-TE",
            xid: 3,
            msg: BierMessage::BiftMod(BiftMod {
                txn: 8,
                seq: 0,
                more: true,
                command: BiftCommand::Replace,
                bift: a4_bift(),
            }),
            bytes: cat(&[
                &hdr(144, 3, 3),
                &[0x00, 0x00, 0x00, 0x08],             // txn 8
                &[0x00, 0x00],                         // seq 0
                &[0x00, 0x01],                         // flags MORE
                &[0x01],                               // command REPLACE
                &[0, 0, 0, 0, 0, 0, 0],                // pad[7]
                &[0x01],                               // kind BIER-TE
                &[0x01],                               // bsl 64
                &[0x00, 0x00],                         // si 0
                &[0x00, 0x01, 0x01, 0x00],             // bift_id 0x10100
                &[0x01],                               // sub_domain 1
                &[0x00],                               // pad
                &[0x00, 0x00],                         // n_next_hops 0
                &[0x00, 0x05],                         // n_entries 5
                &[0x00, 0x00],                         // pad
                &[0x00, 0x01, 0x00, 0x01, 0, 0, 0, 0], // bit 1, 1 adjacency, pad
                &[0x01, 0x00, 0x00, 0x00, 0, 0, 0, 1], //   forward_connected, port 1
                &[0x00, 0x02, 0x00, 0x01, 0, 0, 0, 0], // bit 2, 1 adjacency, pad
                &[0x01, 0x01, 0x00, 0x00, 0, 0, 0, 2], //   forward_connected DNC, port 2
                &[0x00, 0x03, 0x00, 0x01, 0, 0, 0, 0], // bit 3, 1 adjacency, pad
                &[0x03, 0x00, 0x00, 0x00, 0, 0, 0, 5], //   local_decap, port 5
                &[0x00, 0x04, 0x00, 0x01, 0, 0, 0, 0], // bit 4, 1 adjacency, pad
                &[0x04, 0x00, 0x00, 0x02, 0, 0, 0, 0], //   ECMP of 2 members
                &[0x01, 0x00, 0x00, 0x00, 0, 0, 0, 3], //     forward_connected, port 3
                &[0x01, 0x00, 0x00, 0x00, 0, 0, 0, 4], //     forward_connected, port 4
                &[0x00, 0x06, 0x00, 0x01, 0, 0, 0, 0], // bit 6, 1 adjacency, pad
                &[0x02, 0x00, 0x00, 0x00, 0, 0, 0, 9], //   forward_routed to BFR 9
            ]),
        },
        Golden {
            name: "A.5 BIFT_CLEAR all",
            xid: 4,
            msg: BierMessage::BiftClear(BiftSelector::ALL),
            bytes: cat(&[
                &hdr(24, 4, 4),
                &[0x00, 0x00, 0x00, 0x00], // bift_id (wildcarded)
                &[0x00],                   // sub_domain (wildcarded)
                &[0x00],                   // kind (wildcarded)
                &[0x00, 0x07],             // flags ALL_BIFT_IDS|ANY_SUB_DOMAIN|ANY_KIND
            ]),
        },
        Golden {
            name: "A.6 BIFT_QUERY",
            xid: 5,
            msg: BierMessage::BiftQuery(BiftSelector {
                bift_id: Some(0x10000),
                sub_domain: Some(0),
                kind: Some(TableKind::Bier),
            }),
            bytes: cat(&[
                &hdr(24, 5, 5),
                &[0x00, 0x01, 0x00, 0x00], // bift_id 0x10000
                &[0x00],                   // sub_domain 0
                &[0x00],                   // kind BIER
                &[0x00, 0x00],             // flags: no wildcard
            ]),
        },
        Golden {
            name: "A.6 BIFT_REPLY empty",
            xid: 5,
            msg: BierMessage::BiftReply(BiftReply {
                seq: 0,
                more: false,
                bift: None,
            }),
            bytes: cat(&[
                &hdr(24, 5, 6),
                &[0x00, 0x00],             // seq 0
                &[0x00, 0x00],             // flags: no MORE
                &[0x00, 0x00, 0x00, 0x00], // pad; no table follows
            ]),
        },
        Golden {
            name: "A.7 BFR_MOD",
            xid: 6,
            msg: BierMessage::BfrMod(BfrMod {
                command: BfrCommand::Replace,
                sub_domain: 0,
                bfrs: bfrs(),
            }),
            bytes: cat(&[
                &hdr(40, 6, 7),
                &[0x01],                   // command REPLACE
                &[0x00],                   // sub_domain 0
                &[0x00, 0x02],             // n 2
                &[0x00, 0x00, 0x00, 0x00], // pad
                bfr_records,
            ]),
        },
        Golden {
            name: "A.8 BFR_QUERY any",
            xid: 7,
            msg: BierMessage::BfrQuery(BfrQuery { sub_domain: None }),
            bytes: cat(&[
                &hdr(24, 7, 8),
                &[0x00],                   // sub_domain (wildcarded)
                &[0x00],                   // pad
                &[0x00, 0x01],             // flags ANY_SUB_DOMAIN
                &[0x00, 0x00, 0x00, 0x00], // pad
            ]),
        },
        Golden {
            name: "A.8 BFR_REPLY",
            xid: 7,
            msg: BierMessage::BfrReply(BfrReply {
                more: false,
                sub_domain: 0,
                bfrs: bfrs(),
            }),
            bytes: cat(&[
                &hdr(40, 7, 9),
                &[0x00, 0x00], // flags: no MORE
                &[0x00],       // sub_domain 0
                &[0x00],       // pad
                &[0x00, 0x02], // n 2
                &[0x00, 0x00], // pad
                bfr_records,
            ]),
        },
        Golden {
            name: "A.9 TSM_CONFIG",
            xid: 8,
            msg: BierMessage::TsmConfig(TsmConfig {
                flags: TsmFlags::ENABLE | TsmFlags::NOTIFY,
                threshold: 3,
                window_ms: 1000,
                idle_timeout_ms: 5000,
                max_groups: 64,
                group_id_first: GroupId(0xf000_0000),
                group_id_last: GroupId(0xf000_0fff),
            }),
            bytes: cat(&[
                &hdr(48, 8, 10),
                &[0x00, 0x03],             // flags ENABLE|NOTIFY
                &[0x00, 0x00],             // pad
                &[0x00, 0x00, 0x00, 0x03], // threshold 3
                &[0x00, 0x00, 0x03, 0xe8], // window_ms 1000
                &[0x00, 0x00, 0x13, 0x88], // idle_timeout_ms 5000
                &[0x00, 0x00, 0x00, 0x40], // max_groups 64
                &[0xf0, 0x00, 0x00, 0x00], // group_id_first
                &[0xf0, 0x00, 0x0f, 0xff], // group_id_last
                &[0x00, 0x00, 0x00, 0x00], // pad
            ]),
        },
        Golden {
            name: "A.10 TSM_EVENT",
            xid: 0,
            msg: BierMessage::TsmEvent(TsmEvent {
                event: TsmEventKind::Installed,
                reason: TsmReason::None,
                bsl: Bsl::B64,
                group_id: GroupId(0xf000_0001),
                bift_id: 0x10000,
                packet_count: 3,
                bitstring: bits(&[4, 6]),
                ports: vec![PortNo(5), PortNo(6)],
            }),
            bytes: cat(&[
                &hdr(56, 0, 11),
                &[0x01],                      // event INSTALLED
                &[0x00],                      // reason (none)
                &[0x01],                      // bsl 64
                &[0x00],                      // pad
                &[0xf0, 0x00, 0x00, 0x01],    // group_id
                &[0x00, 0x01, 0x00, 0x00],    // bift_id 0x10000
                &[0x00, 0x02],                // n_ports 2
                &[0x00, 0x00],                // pad
                &[0, 0, 0, 0, 0, 0, 0, 3],    // packet_count 3
                &[0, 0, 0, 0, 0, 0, 0, 0x28], // BitString {4, 6}
                &[0x00, 0x00, 0x00, 0x05],    // port 5
                &[0x00, 0x00, 0x00, 0x06],    // port 6
            ]),
        },
    ]
}

/// A.11's bier_encap.
pub fn a11_encap() -> BierAction {
    BierAction::Encap(BierEncap {
        bift_id: 0x10000,
        sub_domain: 0,
        bsl: Bsl::B64,
        si: 0,
        bfir_id: 1,
        ttl: 64,
        tc: 0,
        copy_dscp: true,
        entropy: Entropy::FlowHash { seed: 0 },
        bitstring: bits(&[4, 6]),
    })
}

/// The action examples of A.11: name, typed value, the whole `ofp_action` bytes.
#[rustfmt::skip]
pub fn action_goldens() -> Vec<(&'static str, BierAction, Vec<u8>)> {
    let head = |len: u16| -> Vec<u8> {
        cat(&[
            &[0xff, 0xff],             // OFPAT_EXPERIMENTER
            &len.to_be_bytes(),        // len
            &[0x00, 0x42, 0x49, 0x45], // experimenter
        ])
    };
    vec![
        (
            "bier_encap",
            a11_encap(),
            cat(&[
                &head(40),
                &[0x00, 0x01],                // subtype bier_encap
                &[0x01],                      // flags COPY_DSCP
                &[0x01],                      // entropy_source FLOW_HASH
                &[0x00, 0x01, 0x00, 0x00],    // bift_id 0x10000
                &[0x00],                      // sub_domain 0
                &[0x01],                      // bsl 64
                &[0x00, 0x00],                // si 0
                &[0x00, 0x01],                // bfir_id 1
                &[0x40],                      // ttl 64
                &[0x00],                      // tc 0
                &[0x00, 0x00, 0x00, 0x00],    // entropy (seed) 0
                &[0x00, 0x00, 0x00, 0x00],    // pad
                &[0, 0, 0, 0, 0, 0, 0, 0x28], // BitString {4, 6}
            ]),
        ),
        (
            "bier_decap",
            BierAction::Decap,
            cat(&[
                &head(16),
                &[0x00, 0x02],                   // subtype bier_decap
                &[0, 0, 0, 0, 0, 0],             // pad
            ]),
        ),
        (
            "bier_forward",
            BierAction::Forward,
            cat(&[
                &head(16),
                &[0x00, 0x03],                   // subtype bier_forward
                &[0, 0, 0, 0, 0, 0],             // pad
            ]),
        ),
    ]
}
