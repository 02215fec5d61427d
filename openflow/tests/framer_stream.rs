//! The framer on a byte stream: partial reads at every split point, many messages per read,
//! a bad length (fatal), a bad version (skipped exactly), the size guard, and no panics on
//! arbitrary or damaged input.

// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

use openflow::msg::{SwitchConfig, SwitchFeatures};
use openflow::*;
use proptest::prelude::*;

/// A few messages of different shapes and sizes.
fn messages() -> Vec<Message> {
    vec![
        Message::hello(Xid(1)),
        Message::features_request(Xid(2)),
        Message::new(
            Xid(3),
            SwitchFeatures {
                datapath_id: DatapathId(0x2a),
                n_buffers: 0,
                n_tables: 254,
                auxiliary_id: 0,
                capabilities: msg::Capabilities::FLOW_STATS,
                reserved: 0,
            },
        ),
        Message::echo_request(Xid(4), vec![7; 300]),
        Message::set_config(Xid(5), SwitchConfig::default()),
        Message::new(
            Xid(6),
            FlowMod::add(
                TableId(0),
                10,
                Match::new().with(Oxm::EthType(0x0800)),
                vec![Instruction::ApplyActions(vec![Action::Group(GroupId(1))])],
            ),
        ),
        Message::barrier_request(Xid(7)),
    ]
}

fn stream(msgs: &[Message]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        m.encode_into(&mut out).unwrap();
    }
    out
}

/// Everything the framer gives until it has nothing (or a fatal error).
fn drain(f: &mut Framer) -> Vec<Result<Message, FramerError>> {
    let mut out = Vec::new();
    while let Some(r) = f.next_message() {
        let fatal = matches!(&r, Err(e) if e.is_fatal());
        out.push(r);
        if fatal {
            break;
        }
    }
    out
}

fn ok(msgs: &[Message]) -> Vec<Result<Message, FramerError>> {
    msgs.iter().cloned().map(Ok).collect()
}

#[test]
fn all_in_one_read() {
    let msgs = messages();
    let mut f = Framer::new();
    f.extend(&stream(&msgs));
    assert_eq!(drain(&mut f), ok(&msgs));
    assert_eq!(f.buffered(), 0);
    assert!(f.next_frame().is_none());
}

#[test]
fn every_split_point() {
    let msgs = messages();
    let bytes = stream(&msgs);
    for split in 0..=bytes.len() {
        let mut f = Framer::new();
        f.extend(&bytes[..split]);
        let mut got = drain(&mut f);
        f.extend(&bytes[split..]);
        got.extend(drain(&mut f));
        assert_eq!(got, ok(&msgs), "split at {split}");
    }
}

#[test]
fn every_pair_of_split_points_in_a_small_stream() {
    let msgs = [
        Message::barrier_request(Xid(1)),
        Message::echo_request(Xid(2), vec![1, 2, 3]),
        Message::hello(Xid(3)),
    ];
    let bytes = stream(&msgs);
    for a in 0..=bytes.len() {
        for b in a..=bytes.len() {
            let mut f = Framer::new();
            let mut got = Vec::new();
            for part in [&bytes[..a], &bytes[a..b], &bytes[b..]] {
                f.extend(part);
                got.extend(drain(&mut f));
            }
            assert_eq!(got, ok(&msgs), "splits at {a}, {b}");
        }
    }
}

#[test]
fn byte_by_byte() {
    let msgs = messages();
    let mut f = Framer::new();
    let mut got = Vec::new();
    for b in stream(&msgs) {
        f.extend(&[b]);
        got.extend(drain(&mut f));
    }
    assert_eq!(got, ok(&msgs));
}

#[test]
fn frames_borrow_the_bytes() {
    let msgs = messages();
    let bytes = stream(&msgs);
    let mut f = Framer::new();
    f.extend(&bytes);
    let mut at = 0;
    while let Some(frame) = f.next_frame() {
        let frame = frame.unwrap();
        let len = usize::from(frame.header().length);
        assert_eq!(frame.bytes(), &bytes[at..at + len]);
        at += len;
    }
    assert_eq!(at, bytes.len());
}

#[test]
fn bad_length_is_fatal() {
    let good = Message::barrier_request(Xid(1)).encode().unwrap();
    let bad = [4, 20, 0, 7, 0, 0, 0, 2]; // length 7 < 8
    let mut f = Framer::new();
    f.extend(&good);
    f.extend(&bad);
    f.extend(&good);
    assert_eq!(f.next_message(), Some(Ok(Message::barrier_request(Xid(1)))));
    let e = f.next_message().unwrap().unwrap_err();
    assert!(e.is_fatal());
    assert!(matches!(e, FramerError::BadLength { length: 7, .. }));
    // The stream is lost: every later call says so, new bytes are ignored.
    f.extend(&good);
    for _ in 0..3 {
        assert_eq!(f.next_message(), Some(Err(e.clone())));
    }
    assert_eq!(f.fatal_error(), Some(&e));
    assert_eq!(f.buffered(), 0);
    // A switch answers OFPBRC_BAD_LEN before closing.
    let reply = e.error_reply().unwrap();
    assert_eq!(reply.xid, Xid(2));
}

#[test]
fn length_zero_is_fatal_too() {
    let mut f = Framer::new();
    f.extend(&[4, 0, 0, 0, 0, 0, 0, 0]);
    assert!(matches!(
        f.next_frame(),
        Some(Err(FramerError::BadLength { length: 0, .. }))
    ));
}

#[test]
fn bad_version_skips_exactly_that_message() {
    // An OpenFlow 1.0 FEATURES_REQUEST with a 12-byte body between two good messages.
    let mut bad = vec![0x01, 5, 0, 20, 0, 0, 0, 9];
    bad.extend_from_slice(&[0xee; 12]);
    let before = Message::barrier_request(Xid(1));
    let after = Message::echo_request(Xid(2), vec![5; 10]);
    let mut bytes = before.encode().unwrap();
    bytes.extend_from_slice(&bad);
    after.encode_into(&mut bytes).unwrap();

    for split in 0..=bytes.len() {
        let mut f = Framer::new();
        f.extend(&bytes[..split]);
        let mut got = drain(&mut f);
        f.extend(&bytes[split..]);
        got.extend(drain(&mut f));
        assert_eq!(got.len(), 3, "split at {split}: {got:?}");
        assert_eq!(got[0], Ok(before.clone()));
        match &got[1] {
            Err(FramerError::BadVersion { header, head }) => {
                assert_eq!(header.version, 1);
                assert_eq!(header.length, 20);
                assert_eq!(head, &bad);
            }
            other => panic!("split at {split}: {other:?}"),
        }
        assert_eq!(got[2], Ok(after.clone()));
    }
}

#[test]
fn long_bad_version_is_reported_after_64_bytes_and_skipped_as_it_arrives() {
    let mut bad = vec![0x05, 14, 0x01, 0x00, 0, 0, 0, 9]; // 256 bytes, version 0x05
    bad.resize(256, 0xee);
    let after = Message::barrier_reply(Xid(3));
    let mut f = Framer::new();
    f.extend(&bad[..63]);
    assert!(f.next_frame().is_none());
    f.extend(&bad[63..100]);
    match f.next_frame() {
        Some(Err(FramerError::BadVersion { head, .. })) => assert_eq!(head, &bad[..64]),
        other => panic!("{other:?}"),
    }
    assert_eq!(f.buffered(), 0);
    f.extend(&bad[100..]);
    assert_eq!(f.buffered(), 0);
    f.extend(&after.encode().unwrap());
    assert_eq!(drain(&mut f), vec![Ok(after)]);
}

#[test]
fn hello_of_any_version_passes() {
    // OpenFlow 1.0 HELLO, then OpenFlow 1.5 HELLO with a bitmap of 1.3 and 1.4.
    let v1 = [0x01, 0, 0, 8, 0, 0, 0, 1];
    let v6 = [0x06, 0, 0, 16, 0, 0, 0, 2, 0, 1, 0, 8, 0, 0, 0, 0x30];
    let mut f = Framer::new();
    f.extend(&v1);
    f.extend(&v6);
    let frame = f.next_frame().unwrap().unwrap();
    assert_eq!(frame.header().version, 1);
    let Body::Hello(h) = frame.message().unwrap().body else {
        panic!()
    };
    assert_eq!(negotiate(&[4], frame.header().version, &h).ok(), None);
    let frame = f.next_frame().unwrap().unwrap();
    assert_eq!(frame.header().version, 6);
    let Body::Hello(h) = frame.message().unwrap().body else {
        panic!()
    };
    assert_eq!(negotiate(&[4], frame.header().version, &h), Ok(4));
}

#[test]
fn decode_errors_skip_the_message() {
    // A PORT_MOD that is 4 bytes short, framed correctly.
    let mut bad = vec![4, 16, 0, 36, 0, 0, 0, 5];
    bad.resize(36, 0);
    let after = Message::barrier_request(Xid(6));
    let mut f = Framer::new();
    f.extend(&bad);
    f.extend(&after.encode().unwrap());
    match f.next_message() {
        Some(Err(FramerError::Decode {
            header,
            error,
            head,
        })) => {
            assert_eq!(header.kind, MsgType::PortMod);
            assert!(matches!(error, DecodeError::Truncated { .. }));
            assert_eq!(head, bad);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(f.next_message(), Some(Ok(after)));
}

#[test]
fn size_guard() {
    let big = Message::echo_request(Xid(1), vec![0; 2000]);
    let small = Message::barrier_request(Xid(2));
    let mut bytes = big.encode().unwrap();
    small.encode_into(&mut bytes).unwrap();
    let mut f = Framer::with_max_message_len(1024);
    f.extend(&bytes);
    match f.next_message() {
        Some(Err(e @ FramerError::TooLong { max: 1024, .. })) => {
            assert!(!e.is_fatal());
            assert!(e.error_reply().is_some());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(drain(&mut f), vec![Ok(small.clone())]);
    // Without a guard the big one passes.
    let mut f = Framer::new();
    f.extend(&bytes);
    assert_eq!(drain(&mut f), vec![Ok(big), Ok(small)]);
}

proptest! {
    #[test]
    fn random_chunking_gives_the_same_messages(
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12)
    ) {
        let msgs = messages();
        let bytes = stream(&msgs);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        points.push(0);
        points.push(bytes.len());
        points.sort_unstable();
        let mut f = Framer::new();
        let mut got = Vec::new();
        for w in points.windows(2) {
            f.extend(&bytes[w[0]..w[1]]);
            got.extend(drain(&mut f));
        }
        prop_assert_eq!(got, ok(&msgs));
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..12)
    ) {
        let mut f = Framer::new();
        for c in &chunks {
            f.extend(c);
            let _ = drain(&mut f);
        }
    }

    #[test]
    fn never_panics_on_damaged_streams(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut bytes = stream(&messages());
        for (i, v) in flips {
            let i = i.index(bytes.len());
            bytes[i] = v;
        }
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        points.push(0);
        points.push(bytes.len());
        points.sort_unstable();
        let mut f = Framer::new();
        let mut consumed_ok = 0usize;
        for w in points.windows(2) {
            f.extend(&bytes[w[0]..w[1]]);
            for m in drain(&mut f).into_iter().flatten() {
                consumed_ok += m.wire_len();
            }
        }
        prop_assert!(consumed_ok <= bytes.len());
    }
}
