//! Whatever the bytes, parsing, forwarding and (de)encapsulation return; nothing panics. And
//! whatever parses re-emits to the same bytes.

// Test code: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

use bier::{
    Adjacency, Bfr, BfrId, BierHeader, BierRepr, Bift, BiftId, BitPosition, BitString, Bsl, NodeId,
    Port, Proto, SetId, Table, TeBift, Topology,
};
use proptest::prelude::*;

fn bsl() -> impl Strategy<Value = Bsl> {
    prop::sample::select(Bsl::ALL.to_vec())
}

fn bitstring() -> impl Strategy<Value = BitString> {
    bsl().prop_flat_map(|b| {
        prop::collection::vec(any::<u64>(), b.words())
            .prop_map(move |w| BitString::from_words(b, &w).unwrap())
    })
}

fn repr() -> impl Strategy<Value = BierRepr> {
    (
        (
            0u32..=0xF_FFFF,
            0u8..8,
            any::<bool>(),
            any::<u8>(),
            0u32..=0xF_FFFF,
        ),
        (0u8..4, 0u8..4, 0u8..64, 0u8..64, any::<u16>()),
        bitstring(),
    )
        .prop_map(
            |((bift, tc, s, ttl, entropy), (oam, rsv, dscp, proto, bfir_id), bitstring)| BierRepr {
                bift_id: BiftId::new(bift).unwrap(),
                tc,
                s,
                ttl,
                entropy,
                oam,
                rsv,
                dscp,
                proto: Proto::from(proto),
                bfir_id,
                bitstring,
            },
        )
}

/// Bytes that often get past the nibble and version checks.
fn bierish() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(any::<u8>(), 0..700),
        0u8..16,
        any::<bool>(),
    )
        .prop_map(|(mut v, bsl, fix)| {
            if fix && v.len() > 5 {
                v[4] = 0x50;
                v[5] = (bsl << 4) | (v[5] & 0x0f);
            }
            v
        })
}

fn bfr() -> Bfr {
    let mut b = Bfr::new();
    let bp = |v| BitPosition::new(v).unwrap();
    for bsl in Bsl::ALL {
        let n = bsl.bits() as u16;
        let t = Bift::from_next_hops(
            SetId(0),
            bsl,
            [bp(1)],
            [(bp(2), vec![Port(1), Port(2)]), (bp(n), vec![Port(3)])],
        );
        b.insert(BiftId::new(u32::from(bsl.code())).unwrap(), Table::Bier(t));
        let mut te = TeBift::new(SetId(0), bsl);
        te.set(bp(1), vec![Adjacency::LocalDecap]).unwrap();
        te.set(
            bp(2),
            vec![Adjacency::ForwardConnected {
                port: Port(1),
                dnc: true,
            }],
        )
        .unwrap();
        te.set(bp(n), vec![Adjacency::ForwardRouted { to: 3 }])
            .unwrap();
        b.insert(
            BiftId::new(0x100 | u32::from(bsl.code())).unwrap(),
            Table::Te(te),
        );
    }
    b
}

fn touch_all<T: AsRef<[u8]>>(h: &BierHeader<T>) {
    let _ = (
        h.bift_id(),
        h.tc(),
        h.s(),
        h.ttl(),
        h.nibble(),
        h.version(),
        h.bsl_code(),
        h.bsl(),
        h.entropy(),
        h.oam(),
        h.rsv(),
        h.dscp(),
        h.proto(),
        h.bfir_id(),
        h.header_len(),
        h.bitstring_bytes(),
        h.bitstring(),
        h.payload(),
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn header_never_panics_and_reemits(bytes in bierish()) {
        touch_all(&BierHeader::new_unchecked(&bytes[..]));
        if let Ok(h) = BierHeader::new_checked(&bytes[..]) {
            touch_all(&h);
        }
        if let Ok(r) = BierRepr::parse_bytes(&bytes) {
            let n = r.buffer_len();
            prop_assert_eq!(r.to_packet(&bytes[n..]), bytes);
        }
    }

    #[test]
    fn setters_never_panic(mut bytes in bierish(), r in repr()) {
        let mut h = BierHeader::new_unchecked(&mut bytes[..]);
        r.emit(&mut h);
        h.set_bitstring(&r.bitstring);
        let _ = h.payload_mut();
        let _ = r.emit_into(&mut bytes);
    }

    #[test]
    fn forwarding_never_panics(bytes in bierish()) {
        let mut b = bfr();
        let _ = b.handle_packet(&bytes);
        let _ = b.handle_frame(&bytes);
        let mut frame = vec![0u8; 12];
        frame.extend([0xab, 0x37]);
        frame.extend(&bytes);
        let _ = b.handle_frame(&frame);
        let _ = bier::decapsulate(&frame);
        let _ = bier::encapsulate(&bytes, &BierRepr::new(BiftId::new(1).unwrap(), BitString::zero(Bsl::B64)));
        let c = b.counters();
        prop_assert_eq!(c.received, 3);
    }

    #[test]
    fn forwarding_valid_headers_never_panics(r in repr(), payload in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut b = bfr();
        let r = BierRepr { bift_id: BiftId::new(u32::from(r.bsl().code()) | (r.bift_id.get() & 0x100)).unwrap(), ..r };
        let out = b.handle_packet(&r.to_packet(&payload));
        let c = b.counters();
        prop_assert!(c.forwarded + c.delivered + c.total_drops() >= 1 || out.is_empty());
    }

    #[test]
    fn repr_round_trip(r in repr(), payload in prop::collection::vec(any::<u8>(), 0..32)) {
        let p = r.to_packet(&payload);
        prop_assert_eq!(BierRepr::parse_bytes(&p), Ok(r.clone()));
        let h = BierHeader::new_checked(&p[..]).unwrap();
        prop_assert_eq!(h.payload(), &payload[..]);
    }

    #[test]
    fn bift_forward_arbitrary(a in bitstring(), b in bitstring(), e in any::<u32>()) {
        let bp = |v| BitPosition::new(v).unwrap();
        let t = Bift::from_next_hops(SetId(0), a.bsl(), [bp(1)], (2..=a.bsl().bits() as u16).step_by(3).map(|v| (bp(v), vec![Port(u32::from(v) % 5), Port(u32::from(v) % 7)])));
        if let Ok(d) = t.forward(&a, e) {
            // The copies, local and unknown bits partition the packet's bits.
            let mut union = d.local().or(d.unknown());
            for (_, c) in d.copies() {
                prop_assert!(!union.intersects(c));
                union.or_assign(c);
            }
            prop_assert_eq!(union, a.clone());
        }
        let _ = t.forward(&b, e);
    }

    #[test]
    fn bitstring_ops_match_a_set_model(a in bitstring(), bits in prop::collection::vec(1u16..=4096, 0..40)) {
        let bsl = a.bsl();
        let model: std::collections::BTreeSet<u16> = a.ones().map(|p| p.get()).collect();
        prop_assert_eq!(model.len() as u32, a.count_ones());
        let mut s = a.clone();
        for v in &bits {
            let p = BitPosition::new(*v).unwrap();
            prop_assert_eq!(s.set(p), usize::from(*v) <= bsl.bits());
            prop_assert!(s.test(p) == (usize::from(*v) <= bsl.bits()));
        }
        let other = BitString::from_positions(bsl, bits.iter().map(|&v| BitPosition::new(v).unwrap()));
        prop_assert_eq!(a.or(&other), s.clone());
        prop_assert_eq!(s.and_not(&other).and(&other).count_ones(), 0);
        prop_assert_eq!(BitString::from_wire(&s.to_bytes()), Some(s));
    }

    #[test]
    fn bfr_id_location_round_trip(v in 1u16.., b in bsl()) {
        let id = BfrId::new(v).unwrap();
        let (si, bp) = id.locate(b);
        prop_assert_eq!(BfrId::from_location(si, bp, b), Some(id));
    }

    #[test]
    fn topology_calls_never_panic(n in 0usize..10, links in prop::collection::vec((0u32..12, 0u32..12, 0u32..4, 0u32..4), 0..20)) {
        let mut t = Topology::new(n);
        for (a, b, pa, pb) in links {
            let _ = t.add_link_ports(NodeId(a), Port(pa), NodeId(b), Port(pb));
            let _ = t.add_link(NodeId(a), NodeId(b));
        }
        let _ = t.shortest_path_tree(NodeId(0), &[NodeId(3), NodeId(11)]);
        let ids = [(1, 0), (70, 3), (9, 11)].map(|(i, n)| (BfrId::new(i).unwrap(), NodeId(n))).into();
        let _ = bier::compute_bifts(&t, &ids, Bsl::B64);
        let _ = TeAssignment::assign(&t, &[NodeId(1), NodeId(20)], Bsl::B64);
    }
}

use bier::TeAssignment;
