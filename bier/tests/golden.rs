//! Golden bytes: RFC 8296 §2.1.2 headers built by hand, bit field by bit field, then parsed,
//! and emitted into a buffer pre-filled with 0xa5 (so an unwritten field shows).

// Test code: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

use bier::{
    BfrId, BierHeader, BierRepr, BiftId, BitPosition, BitString, Bsl, HeaderError, Proto, SetId,
};

fn bp(v: u16) -> BitPosition {
    BitPosition::new(v).unwrap()
}

struct Golden {
    bytes: Vec<u8>,
    repr: BierRepr,
}

/// BSL 64, SI 3 of sub-domain 2 in the BSL|SD|SI BIFT-id layout, IPv4, DSCP EF.
#[rustfmt::skip]
fn golden_a() -> Golden {
    let mut bytes = vec![
        // BIFT-id 0x10203 (20) = 0001 0000 0010 0000 0011 | TC 101 | S 1 | TTL 0100 0000
        0x10, 0x20, 0x3B, 0x40,
        // Nibble 0101 | Ver 0000 | BSL 0001 (64) | Entropy 0xABCDE
        0x50, 0x1A, 0xBC, 0xDE,
        // OAM 00 | Rsv 00 | DSCP 101110 (46) | Proto 000100 (IPv4)
        0x0B, 0x84,
        // BFIR-id 7
        0x00, 0x07,
    ];
    // BitString, 8 bytes: bit 64 is the top bit of the first byte, bits 1 and 2 the bottom two
    // of the last (RFC 8279 §3).
    bytes.extend([0x80, 0, 0, 0, 0, 0, 0, 0x03]);
    let repr = BierRepr {
        bift_id: BiftId::new(0x10203).unwrap(),
        tc: 5,
        s: true,
        ttl: 64,
        entropy: 0xABCDE,
        oam: 0,
        rsv: 0,
        dscp: 46,
        proto: Proto::Ipv4,
        bfir_id: 7,
        bitstring: BitString::from_positions(Bsl::B64, [bp(1), bp(2), bp(64)]),
    };
    Golden { bytes, repr }
}

/// BSL 256, SI 1, IPv6, OAM and Rsv set, S clear, TTL 255.
#[rustfmt::skip]
fn golden_b() -> Golden {
    let mut bytes = vec![
        // BIFT-id 0x30001 = 0011 0000 0000 0000 0001 | TC 000 | S 0 | TTL 1111 1111
        0x30, 0x00, 0x10, 0xFF,
        // Nibble 0101 | Ver 0000 | BSL 0011 (256) | Entropy 0x00001
        0x50, 0x30, 0x00, 0x01,
        // OAM 10 | Rsv 01 | DSCP 000000 | Proto 000110 (IPv6)
        0x90, 0x06,
        // BFIR-id 0xFFFF
        0xFF, 0xFF,
    ];
    // BitString, 32 bytes. Bit 256: top bit of byte 0. Bit 129: word 2 (bits 129..=192) ends
    // at byte 15, bottom bit. Bit 9: second-to-last byte, bottom bit.
    let mut bs = [0u8; 32];
    bs[0] = 0x80;
    bs[15] = 0x01;
    bs[30] = 0x01;
    bytes.extend(bs);
    let repr = BierRepr {
        bift_id: BiftId::new(0x30001).unwrap(),
        tc: 0,
        s: false,
        ttl: 255,
        entropy: 1,
        oam: 2,
        rsv: 1,
        dscp: 0,
        proto: Proto::Ipv6,
        bfir_id: 0xFFFF,
        bitstring: BitString::from_positions(Bsl::B256, [bp(9), bp(129), bp(256)]),
    };
    Golden { bytes, repr }
}

/// BSL 4096, every other field at its maximum, Proto 63 (reserved, kept as is).
#[rustfmt::skip]
fn golden_c() -> Golden {
    let mut bytes = vec![
        // BIFT-id 0xFFFFF | TC 111 | S 1 | TTL 0000 0001
        0xFF, 0xFF, 0xFF, 0x01,
        // Nibble 0101 | Ver 0000 | BSL 0111 (4096) | Entropy 0xFFFFF
        0x50, 0x7F, 0xFF, 0xFF,
        // OAM 11 | Rsv 00 | DSCP 111111 | Proto 111111
        0xCF, 0xFF,
        // BFIR-id 0x1234
        0x12, 0x34,
    ];
    let mut bs = vec![0u8; 512];
    bs[0] = 0x80; // bit 4096
    bs[511] = 0x01; // bit 1
    bytes.extend(bs);
    let repr = BierRepr {
        bift_id: BiftId::new(0xFFFFF).unwrap(),
        tc: 7,
        s: true,
        ttl: 1,
        entropy: 0xFFFFF,
        oam: 3,
        rsv: 0,
        dscp: 63,
        proto: Proto::Other(63),
        bfir_id: 0x1234,
        bitstring: BitString::from_positions(Bsl::B4096, [bp(1), bp(4096)]),
    };
    Golden { bytes, repr }
}

/// BSL 128, Proto Ethernet (3), entropy 0.
#[rustfmt::skip]
fn golden_d() -> Golden {
    let mut bytes = vec![
        // BIFT-id 0x00002 | TC 011 | S 1 | TTL 0000 1010
        0x00, 0x00, 0x27, 0x0A,
        // Nibble 0101 | Ver 0000 | BSL 0010 (128) | Entropy 0
        0x50, 0x20, 0x00, 0x00,
        // OAM 01 | Rsv 00 | DSCP 001010 (AF11) | Proto 000011 (Ethernet)
        0x42, 0x83,
        // BFIR-id 0x0100
        0x01, 0x00,
    ];
    let mut bs = [0u8; 16];
    bs[7] = 0x01; // bit 65: bottom bit of word 1, which ends at byte 7
    bytes.extend(bs);
    let repr = BierRepr {
        bift_id: BiftId::new(2).unwrap(),
        tc: 3,
        s: true,
        ttl: 10,
        entropy: 0,
        oam: 1,
        rsv: 0,
        dscp: 10,
        proto: Proto::Ethernet,
        bfir_id: 0x100,
        bitstring: BitString::from_positions(Bsl::B128, [bp(65)]),
    };
    Golden { bytes, repr }
}

fn all() -> [Golden; 4] {
    [golden_a(), golden_b(), golden_c(), golden_d()]
}

#[test]
fn parse_golden() {
    for g in all() {
        let h = BierHeader::new_checked(&g.bytes[..]).unwrap();
        assert_eq!(h.header_len(), g.bytes.len());
        assert_eq!(h.nibble(), 0b0101);
        assert_eq!(h.version(), 0);
        assert_eq!(BierRepr::parse(&h).unwrap(), g.repr);
        assert!(h.payload().is_empty());
    }
}

#[test]
fn emit_golden_into_a5() {
    for g in all() {
        let mut buf = vec![0xa5; g.bytes.len() + 3];
        assert_eq!(g.repr.emit_into(&mut buf), Ok(g.bytes.len()));
        assert_eq!(&buf[..g.bytes.len()], &g.bytes[..]);
        assert_eq!(&buf[g.bytes.len()..], &[0xa5; 3]);
        let mut short = vec![0xa5; g.bytes.len() - 1];
        assert_eq!(
            g.repr.emit_into(&mut short),
            Err(HeaderError::BufferTooShort {
                need: g.bytes.len(),
                have: g.bytes.len() - 1
            })
        );
    }
}

#[test]
#[rustfmt::skip]
fn golden_accessors() {
    let g = golden_a();
    let h = BierHeader::new_checked(&g.bytes[..]).unwrap();
    assert_eq!(h.bift_id().get(), 0x10203);
    assert_eq!(
        BiftId::from_bsl_sd_si(Bsl::B64, 2, SetId(3)),
        Some(h.bift_id())
    );
    assert_eq!((h.tc(), h.s(), h.ttl()), (5, true, 64));
    assert_eq!((h.bsl(), h.entropy()), (Some(Bsl::B64), 0xABCDE));
    assert_eq!((h.oam(), h.rsv(), h.dscp()), (0, 0, 46));
    assert_eq!((h.proto(), h.bfir_id()), (Proto::Ipv4, 7));
}

#[test]
#[rustfmt::skip]
fn golden_bfr_ids() {
    // Header B is SI 1 at BSL 256: bits 9, 129, 256 are BFR-ids 265, 385, 512 (RFC 8279 §3).
    let g = golden_b();
    let ids: Vec<u16> = g
        .repr
        .bitstring
        .ones()
        .filter_map(|p| BfrId::from_location(SetId(1), p, Bsl::B256))
        .map(BfrId::get)
        .collect();
    assert_eq!(ids, vec![265, 385, 512]);
}

#[test]
fn golden_with_payload_and_ethernet() {
    let g = golden_a();
    let ip = [0x45, 0x00, 0x00, 0x14];
    let mut frame = vec![0x01, 0x00, 0x5e, 0, 0, 1, 0x02, 0, 0, 0, 0, 9, 0x08, 0x00];
    frame.extend(ip);
    let e = bier::encapsulate(&frame, &g.repr).unwrap();
    let mut want = frame[..12].to_vec();
    want.extend([0xAB, 0x37]);
    want.extend(&g.bytes);
    want.extend(ip);
    assert_eq!(e, want);
    let (r, d) = bier::decapsulate(&e).unwrap();
    assert_eq!((r, d), (g.repr, frame));
}

#[test]
fn every_bsl_round_trips_into_a5() {
    for bsl in Bsl::ALL {
        let n = bsl.bits() as u16;
        let bits = BitString::from_positions(bsl, [bp(1), bp(n / 3), bp(n)]);
        let r = BierRepr::new(BiftId::new(0x12345).unwrap(), bits);
        let mut buf = vec![0xa5; r.buffer_len()];
        r.emit_into(&mut buf).unwrap();
        assert_eq!(buf[5] >> 4, bsl.code());
        assert_eq!(BierRepr::parse_bytes(&buf).unwrap(), r);
    }
}
