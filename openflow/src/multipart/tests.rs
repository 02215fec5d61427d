//! Unit tests of the multipart codec: round trips, padding, robustness on arbitrary bytes,
//! element length checks, splitting and reassembly. Golden bytes checked against Open vSwitch
//! live in `tests/multipart_golden.rs`.

use super::*;
use crate::types::Xid;
use proptest::prelude::*;

fn parse_req(bytes: &[u8]) -> Result<MultipartRequest, DecodeError> {
    let mut r = Reader::new(bytes, "multipart_request");
    let m = MultipartRequest::parse(&mut r)?;
    assert!(r.is_empty(), "parse must consume the whole body");
    Ok(m)
}

fn parse_rep(bytes: &[u8]) -> Result<MultipartReply, DecodeError> {
    let mut r = Reader::new(bytes, "multipart_reply");
    let m = MultipartReply::parse(&mut r)?;
    assert!(r.is_empty(), "parse must consume the whole body");
    Ok(m)
}

/// Emits into a buffer pre-filled with `fill`.
fn emit_filled<T: Wire>(v: &T, fill: u8) -> Vec<u8> {
    let mut buf = vec![fill; v.wire_len()];
    let mut w = Writer::new(&mut buf);
    v.emit(&mut w);
    assert_eq!(w.pos(), buf.len(), "emit must write exactly wire_len bytes");
    buf
}

/// A reply header (type, flags, pad) followed by `body`.
fn reply_bytes(t: u16, body: &[u8]) -> Vec<u8> {
    let mut v = t.to_be_bytes().to_vec();
    v.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    v.extend_from_slice(body);
    v
}

fn flow_stats(cookie: u64) -> FlowStats {
    FlowStats {
        table_id: TableId(0),
        duration_sec: 1,
        duration_nsec: 2,
        priority: 3,
        idle_timeout: 0,
        hard_timeout: 0,
        flags: crate::msg::FlowModFlags::empty(),
        cookie: Cookie(cookie),
        packet_count: 0,
        byte_count: 0,
        match_: Match::default(),
        instructions: vec![],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn request_round_trip(m in arb::request()) {
        let bytes = m.to_vec();
        prop_assert_eq!(emit_filled(&m, 0xa5), bytes.clone());
        prop_assert_eq!(parse_req(&bytes).unwrap(), m);
    }

    #[test]
    fn reply_round_trip(m in arb::reply()) {
        let bytes = m.to_vec();
        prop_assert_eq!(emit_filled(&m, 0xa5), bytes.clone());
        prop_assert_eq!(parse_rep(&bytes).unwrap(), m);
    }

    /// Arbitrary bytes never panic the decoder.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_req(&bytes);
        let _ = parse_rep(&bytes);
    }

    /// Arbitrary bodies behind every known type reach the element decoders without panicking.
    #[test]
    fn arbitrary_bodies_never_panic(
        t in prop_oneof![0u16..=13, Just(0xffff)],
        flags in any::<u16>(),
        body in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut bytes = t.to_be_bytes().to_vec();
        bytes.extend_from_slice(&flags.to_be_bytes());
        bytes.extend_from_slice(&[0; 4]);
        bytes.extend_from_slice(&body);
        let _ = parse_req(&bytes);
        let _ = parse_rep(&bytes);
    }

    /// Valid encodings with one byte changed, or cut short, decode or fail with an error.
    #[test]
    fn mutated_replies_never_panic(m in arb::reply(), at in any::<usize>(), x in any::<u8>()) {
        let mut bytes = m.to_vec();
        let i = at % bytes.len();
        bytes[i] ^= x | 1;
        let _ = parse_rep(&bytes);
        let cut = m.to_vec();
        let _ = parse_rep(&cut[..i]);
    }

    #[test]
    fn mutated_requests_never_panic(m in arb::request(), at in any::<usize>(), x in any::<u8>()) {
        let mut bytes = m.to_vec();
        let i = at % bytes.len();
        bytes[i] ^= x | 1;
        let _ = parse_req(&bytes);
        let cut = m.to_vec();
        let _ = parse_req(&cut[..i]);
    }

    /// Split parts fit the budget, flag all but the last, and reassemble to the original.
    #[test]
    fn split_then_assemble(m in arb::reply(), max in 8usize..1200) {
        match m.clone().split(max) {
            Ok(parts) => {
                prop_assert!(!parts.is_empty());
                for (i, p) in parts.iter().enumerate() {
                    prop_assert!(p.wire_len() <= max);
                    let last = i + 1 == parts.len();
                    prop_assert_eq!(p.more(), !last || m.more());
                    prop_assert_eq!(p.mp_type(), m.mp_type());
                    // Every part is a valid message on its own.
                    prop_assert_eq!(&parse_rep(&p.to_vec()).unwrap(), p);
                }
                // A reply that is itself a final one reassembles to what was split.
                if !m.more() {
                    let mut asm = Assembler::new(1 << 20);
                    let mut whole = None;
                    for p in parts {
                        if let Some(w) = asm.push(Xid(7), p).unwrap() {
                            prop_assert!(whole.is_none());
                            whole = Some(w);
                        }
                    }
                    prop_assert_eq!(whole, Some(m));
                    prop_assert_eq!(asm.held(), 0);
                }
            }
            Err(EncodeError::TooLong { len, .. }) => prop_assert!(len > max),
            Err(e) => prop_assert!(false, "unexpected {e:?}"),
        }
    }
}

#[test]
fn empty_bodies_reject_trailing_bytes() {
    // OFPMP_DESC request with 4 stray bytes.
    let bytes = [0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
    assert!(matches!(
        parse_req(&bytes),
        Err(DecodeError::TrailingBytes { extra: 4, .. })
    ));
}

#[test]
fn header_truncated() {
    assert!(matches!(
        parse_req(&[0, 1, 0]),
        Err(DecodeError::Truncated {
            ctx: "multipart_request",
            need: 8,
            ..
        })
    ));
    assert!(matches!(
        parse_rep(&[]),
        Err(DecodeError::Truncated {
            ctx: "multipart_reply",
            ..
        })
    ));
}

#[test]
fn fixed_request_bodies_are_checked() {
    // OFPMP_PORT_STATS with 4 of its 8 bytes.
    let bytes = [0, 4, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
    assert!(matches!(
        parse_req(&bytes),
        Err(DecodeError::Truncated {
            ctx: "port_stats_request",
            need: 8,
            have: 4,
            ..
        })
    ));
    // OFPMP_FLOW shorter than its 32-byte fixed part.
    let mut bytes = vec![0, 1, 0, 0, 0, 0, 0, 0];
    bytes.extend_from_slice(&[0; 20]);
    assert!(matches!(
        parse_req(&bytes),
        Err(DecodeError::Truncated {
            ctx: "flow_stats_request",
            need: 32,
            ..
        })
    ));
}

#[test]
fn flow_stats_length_checks() {
    let good = flow_stats(1).to_vec();
    assert_eq!(good.len(), 56);
    // Below the fixed part plus an empty match.
    let mut b = good.clone();
    b[..2].copy_from_slice(&48u16.to_be_bytes());
    assert_eq!(
        parse_rep(&reply_bytes(1, &b)),
        Err(DecodeError::BadLength {
            ctx: "flow_stats",
            len: 48,
            min: 56
        })
    );
    // Not a multiple of 8.
    b[..2].copy_from_slice(&60u16.to_be_bytes());
    assert_eq!(
        parse_rep(&reply_bytes(1, &b)),
        Err(DecodeError::Unaligned {
            ctx: "flow_stats",
            len: 60
        })
    );
    // Past the end of the body.
    b[..2].copy_from_slice(&64u16.to_be_bytes());
    assert_eq!(
        parse_rep(&reply_bytes(1, &b)),
        Err(DecodeError::Truncated {
            ctx: "flow_stats",
            offset: 8,
            need: 64,
            have: 56
        })
    );
    // A partial element after a good one.
    let mut two = good.clone();
    two.extend_from_slice(&good[..20]);
    assert!(matches!(
        parse_rep(&reply_bytes(1, &two)),
        Err(DecodeError::Truncated {
            ctx: "flow_stats",
            offset: 64,
            need: 56,
            have: 20
        })
    ));
}

#[test]
fn element_length_checks_name_the_element() {
    let cases: [(u16, &str, usize, usize); 5] = [
        (6, "group_stats", 0, 40),
        (7, "group_desc", 0, 8),
        (9, "meter_stats", 4, 40),
        (10, "meter_config", 0, 8),
        (12, "table_features", 0, 64),
    ];
    for (t, ctx, len_at, min) in cases {
        // Length below the fixed part.
        let mut e = vec![0u8; min];
        e[len_at..len_at + 2].copy_from_slice(&((min - 8) as u16).to_be_bytes());
        assert_eq!(
            parse_rep(&reply_bytes(t, &e)),
            Err(DecodeError::BadLength {
                ctx,
                len: min - 8,
                min
            }),
            "{ctx}"
        );
        // Unaligned.
        e[len_at..len_at + 2].copy_from_slice(&((min + 4) as u16).to_be_bytes());
        assert_eq!(
            parse_rep(&reply_bytes(t, &e)),
            Err(DecodeError::Unaligned { ctx, len: min + 4 }),
            "{ctx}"
        );
        // Past the end.
        e[len_at..len_at + 2].copy_from_slice(&((min + 8) as u16).to_be_bytes());
        assert!(
            matches!(parse_rep(&reply_bytes(t, &e)), Err(DecodeError::Truncated { ctx: c, .. }) if c == ctx),
            "{ctx}"
        );
        // Fewer bytes than the fixed part.
        assert!(
            matches!(parse_rep(&reply_bytes(t, &e[..min - 1])), Err(DecodeError::Truncated { ctx: c, .. }) if c == ctx),
            "{ctx}"
        );
    }
}

#[test]
fn fixed_elements_are_checked() {
    let cases: [(u16, &str, usize); 5] = [
        (3, "table_stats", 24),
        (4, "port_stats", 112),
        (5, "queue_stats", 40),
        (13, "port", 64),
        (0, "desc", 1056),
    ];
    for (t, ctx, size) in cases {
        let body = vec![0u8; size + size / 2];
        let want_have = if t == 0 { size + size / 2 } else { size / 2 };
        if t == 0 {
            // One desc with trailing bytes.
            assert!(matches!(
                parse_rep(&reply_bytes(t, &body)),
                Err(DecodeError::TrailingBytes { .. })
            ));
            assert!(
                matches!(parse_rep(&reply_bytes(t, &body[..size - 1])), Err(DecodeError::Truncated { ctx: c, .. }) if c == ctx)
            );
        } else {
            assert!(
                matches!(parse_rep(&reply_bytes(t, &body)), Err(DecodeError::Truncated { ctx: c, need, have, .. }) if c == ctx && need == size && have == want_have),
                "{ctx}"
            );
        }
    }
    // Group stats with a partial bucket counter (48 = 40 + 8).
    let mut g = vec![0u8; 48];
    g[..2].copy_from_slice(&48u16.to_be_bytes());
    assert!(matches!(
        parse_rep(&reply_bytes(6, &g)),
        Err(DecodeError::Truncated {
            ctx: "bucket_counter",
            need: 16,
            have: 8,
            ..
        })
    ));
}

#[test]
fn table_feature_prop_checks() {
    let table = |props: &[u8]| {
        let mut t = vec![0u8; 64];
        let len = (64 + props.len()) as u16;
        t[..2].copy_from_slice(&len.to_be_bytes());
        t.extend_from_slice(props);
        reply_bytes(12, &t)
    };
    // Property length below its header.
    assert_eq!(
        parse_rep(&table(&[0, 2, 0, 3, 0, 0, 0, 0])),
        Err(DecodeError::BadLength {
            ctx: "table_feature_prop",
            len: 3,
            min: 4
        })
    );
    // Property running past the table.
    assert!(matches!(
        parse_rep(&table(&[0, 2, 0, 12, 1, 2, 3, 4])),
        Err(DecodeError::Truncated {
            ctx: "table_feature_prop",
            ..
        })
    ));
    // Instruction id with len 2.
    assert_eq!(
        parse_rep(&table(&[0, 0, 0, 8, 0, 1, 0, 2])),
        Err(DecodeError::BadLength {
            ctx: "instruction_id",
            len: 2,
            min: 4
        })
    );
    // Action id longer than the property.
    assert!(matches!(
        parse_rep(&table(&[0, 4, 0, 8, 0xff, 0xff, 0, 8])),
        Err(DecodeError::Truncated {
            ctx: "action_id",
            ..
        })
    ));
    // Experimenter OXM id without its experimenter id.
    assert!(matches!(
        parse_rep(&table(&[0, 8, 0, 8, 0xff, 0xff, 0, 4])),
        Err(DecodeError::Truncated { ctx: "oxm_id", .. })
    ));
    // Experimenter property shorter than experimenter + exp_type.
    assert!(matches!(
        parse_rep(&table(&[0xff, 0xfe, 0, 8, 0, 0, 0, 1])),
        Err(DecodeError::Truncated {
            ctx: "table_feature_prop",
            ..
        })
    ));
    // Unknown property 9 is kept with its bytes.
    let m = parse_rep(&table(&[0, 9, 0, 6, 0xab, 0xcd, 0, 0])).unwrap();
    let MultipartReplyBody::TableFeatures(t) = &m.body else {
        panic!("{m:?}")
    };
    assert_eq!(
        t[0].properties,
        vec![TableFeatureProp::Unknown {
            ty: TableFeaturePropType::Other(9),
            data: vec![0xab, 0xcd]
        }]
    );
    assert_eq!(m.to_vec(), table(&[0, 9, 0, 6, 0xab, 0xcd, 0, 0]));
    assert_eq!(t[0].missing_required(), TableFeatures::REQUIRED.to_vec());
}

#[test]
fn split_cuts_between_elements() {
    let flows: Vec<FlowStats> = (0..10).map(flow_stats).collect();
    let m = MultipartReply::new(MultipartReplyBody::Flow(flows.clone()));
    // 8-byte header + 3 flows of 56 bytes fit 176.
    let parts = m.clone().split(8 + 3 * 56).unwrap();
    assert_eq!(parts.len(), 4);
    let sizes: Vec<usize> = parts
        .iter()
        .map(|p| match &p.body {
            MultipartReplyBody::Flow(v) => v.len(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(sizes, [3, 3, 3, 1]);
    assert!(parts[..3].iter().all(MultipartReply::more));
    assert!(!parts[3].more());
    // Everything fits: one part, unchanged.
    assert_eq!(
        m.clone().split(MultipartReply::MAX_LEN).unwrap(),
        vec![m.clone()]
    );
    // An element larger than the budget.
    assert_eq!(
        m.split(60),
        Err(EncodeError::TooLong {
            ctx: "flow_stats",
            len: 64
        })
    );
    // An empty list still gives one reply.
    let empty = MultipartReply::new(MultipartReplyBody::PortDesc(vec![]));
    assert_eq!(empty.clone().split(8).unwrap(), vec![empty]);
    // A single structure must fit whole.
    let d = MultipartReply::new(MultipartReplyBody::Desc(Box::default()));
    assert!(matches!(
        d.split(100),
        Err(EncodeError::TooLong { len: 1064, .. })
    ));
}

#[test]
fn assembler_joins_by_xid() {
    let part = |cookies: std::ops::Range<u64>, more: bool| MultipartReply {
        flags: if more {
            MultipartReplyFlags::REPLY_MORE
        } else {
            MultipartReplyFlags::empty()
        },
        body: MultipartReplyBody::Flow(cookies.map(flow_stats).collect()),
    };
    let mut a = Assembler::new(10_000);
    assert_eq!(a.push(Xid(1), part(0..2, true)), Ok(None));
    assert_eq!(a.push(Xid(2), part(10..11, true)), Ok(None));
    assert_eq!(a.push(Xid(1), part(2..3, true)), Ok(None));
    assert_eq!(a.held(), (8 + 112) + (8 + 56) + (8 + 56));
    assert_eq!(
        a.push(Xid(1), part(3..4, false)),
        Ok(Some(part(0..4, false)))
    );
    assert_eq!(a.pending().collect::<Vec<_>>(), vec![Xid(2)]);
    assert!(a.abandon(Xid(2)));
    assert!(!a.abandon(Xid(2)));
    assert_eq!(a.held(), 0);
    // A reply in one message passes straight through.
    assert_eq!(
        a.push(Xid(3), part(0..1, false)),
        Ok(Some(part(0..1, false)))
    );
}

#[test]
fn assembler_is_bounded() {
    let big = MultipartReply {
        flags: MultipartReplyFlags::REPLY_MORE,
        body: MultipartReplyBody::Flow((0..10).map(flow_stats).collect()),
    };
    let len = big.wire_len(); // 568
    let mut a = Assembler::new(2 * len);
    assert_eq!(a.push(Xid(1), big.clone()), Ok(None));
    assert_eq!(a.push(Xid(1), big.clone()), Ok(None));
    assert_eq!(
        a.push(Xid(1), big.clone()),
        Err(AssembleError::TooLarge {
            xid: Xid(1),
            held: 3 * len,
            max: 2 * len
        })
    );
    // The partial reply was dropped, freeing its bytes.
    assert_eq!(a.held(), 0);
    assert_eq!(a.pending().count(), 0);
    // The bound covers all xids together.
    assert_eq!(a.push(Xid(1), big.clone()), Ok(None));
    assert_eq!(a.push(Xid(2), big.clone()), Ok(None));
    assert!(matches!(
        a.push(Xid(3), big.clone()),
        Err(AssembleError::TooLarge { xid: Xid(3), .. })
    ));
    assert_eq!(a.held(), 2 * len);
}

#[test]
fn assembler_rejects_mixed_and_single_structures() {
    let mut a = Assembler::new(1 << 16);
    let more = MultipartReplyFlags::REPLY_MORE;
    let flows = MultipartReply {
        flags: more,
        body: MultipartReplyBody::Flow(vec![flow_stats(1)]),
    };
    let ports = MultipartReply::new(MultipartReplyBody::PortDesc(vec![]));
    assert_eq!(a.push(Xid(1), flows), Ok(None));
    assert_eq!(
        a.push(Xid(1), ports),
        Err(AssembleError::Mismatch {
            xid: Xid(1),
            first: MultipartType::Flow,
            got: MultipartType::PortDesc
        })
    );
    assert_eq!(a.held(), 0);
    let desc = MultipartReply {
        flags: more,
        body: MultipartReplyBody::Desc(Box::default()),
    };
    assert_eq!(
        a.push(Xid(2), desc),
        Err(AssembleError::NotContinuable {
            xid: Xid(2),
            mp_type: MultipartType::Desc
        })
    );
    // Experimenter bodies continue by concatenation, if the experimenter agrees.
    let exp = |data: &[u8], more_flag: bool| MultipartReply {
        flags: if more_flag {
            more
        } else {
            MultipartReplyFlags::empty()
        },
        body: MultipartReplyBody::Experimenter(ExperimenterBody {
            experimenter: 0x2320,
            exp_type: 1,
            data: data.to_vec(),
        }),
    };
    assert_eq!(a.push(Xid(3), exp(&[1, 2], true)), Ok(None));
    assert_eq!(
        a.push(Xid(3), exp(&[3], false)),
        Ok(Some(exp(&[1, 2, 3], false)))
    );
}

#[test]
fn constructors() {
    assert_eq!(
        MultipartRequest::port_desc().mp_type(),
        MultipartType::PortDesc
    );
    assert_eq!(
        MultipartRequest::groups_desc().mp_type(),
        MultipartType::GroupDesc
    );
    assert_eq!(
        MultipartRequest::group_features().mp_type(),
        MultipartType::GroupFeatures
    );
    assert_eq!(MultipartRequest::desc().to_vec(), [0, 0, 0, 0, 0, 0, 0, 0]);
    let f = MultipartRequest::flows(TableId::ALL, Match::default(), Cookie(5), u64::MAX);
    let MultipartRequestBody::Flow(b) = &f.body else {
        panic!()
    };
    assert_eq!(b.out_port, PortNo::ANY);
    assert_eq!(b.out_group, GroupId::ANY);
    assert_eq!(b.cookie, Cookie(5));
    assert_eq!(MultipartType::from(0xffff), MultipartType::Experimenter);
    assert_eq!(MultipartType::KNOWN.len(), 15);
}
