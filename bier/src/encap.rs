//! BIER over Ethernet (RFC 8296 §2.2): an Ethernet frame carrying IPv4 or IPv6 becomes the
//! same MAC addresses and VLAN tags, EtherType 0xAB37, a BIER header, then the IP packet.
//!
//! Pure functions on byte slices; [`decapsulate`] undoes [`encapsulate`] exactly. Up to two
//! VLAN tags (802.1Q 0x8100, 802.1ad 0x88A8) are kept in place.

use crate::header::{BierRepr, HeaderError, Proto};

/// EtherType of a non-MPLS BIER packet (RFC 8296 §2.2).
pub const ETHERTYPE_BIER: u16 = 0xAB37;
/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88A8;
const MACS_LEN: usize = 12;
const MAX_TAGS: usize = 2;

/// What was wrong with a frame to encapsulate or decapsulate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncapError {
    /// The frame ends inside its Ethernet header.
    #[error("truncated Ethernet frame: {len} bytes")]
    TruncatedFrame {
        /// Frame length.
        len: usize,
    },
    /// Only IPv4 and IPv6 frames are encapsulated.
    #[error("EtherType {0:#06x} is neither IPv4 nor IPv6")]
    UnsupportedEtherType(u16),
    /// The frame is not a BIER frame.
    #[error("EtherType {0:#06x} is not BIER (0xab37)")]
    NotBier(u16),
    /// The BIER payload has no EtherType to go back to.
    #[error("BIER payload {0} has no EtherType to decapsulate to")]
    UnsupportedProto(Proto),
    /// The BIER header is bad.
    #[error(transparent)]
    Header(#[from] HeaderError),
}

/// Offset of the EtherType after the MAC addresses and any VLAN tags, and its value.
pub fn ethertype(frame: &[u8]) -> Result<(usize, u16), EncapError> {
    let mut off = MACS_LEN;
    for tags in 0..=MAX_TAGS {
        let et = match frame.get(off..off + 2) {
            Some(&[a, b]) => u16::from_be_bytes([a, b]),
            _ => return Err(EncapError::TruncatedFrame { len: frame.len() }),
        };
        if (et == ETHERTYPE_VLAN || et == ETHERTYPE_QINQ) && tags < MAX_TAGS {
            off += 4;
        } else {
            return Ok((off, et));
        }
    }
    Err(EncapError::TruncatedFrame { len: frame.len() })
}

/// Offset of the BIER header in a BIER frame.
pub fn bier_offset(frame: &[u8]) -> Result<usize, EncapError> {
    match ethertype(frame)? {
        (off, ETHERTYPE_BIER) => Ok(off + 2),
        (_, et) => Err(EncapError::NotBier(et)),
    }
}

/// The BIER Proto for an EtherType this module encapsulates.
pub fn proto_for_ethertype(et: u16) -> Option<Proto> {
    match et {
        ETHERTYPE_IPV4 => Some(Proto::Ipv4),
        ETHERTYPE_IPV6 => Some(Proto::Ipv6),
        _ => None,
    }
}

/// The EtherType for a BIER Proto this module decapsulates.
pub fn ethertype_for_proto(p: Proto) -> Option<u16> {
    match p {
        Proto::Ipv4 => Some(ETHERTYPE_IPV4),
        Proto::Ipv6 => Some(ETHERTYPE_IPV6),
        _ => None,
    }
}

/// Puts a BIER header between the Ethernet header and the IP packet of `frame`. The Proto
/// field is taken from the frame's EtherType; the other fields from `repr`.
pub fn encapsulate(frame: &[u8], repr: &BierRepr) -> Result<Vec<u8>, EncapError> {
    let (off, et) = ethertype(frame)?;
    let proto = proto_for_ethertype(et).ok_or(EncapError::UnsupportedEtherType(et))?;
    let payload = frame.get(off + 2..).unwrap_or(&[]);
    let head = frame.get(..off).unwrap_or(&[]);
    let repr = BierRepr {
        proto,
        ..repr.clone()
    };
    let mut out = Vec::with_capacity(frame.len() + repr.buffer_len());
    out.extend_from_slice(head);
    out.extend_from_slice(&ETHERTYPE_BIER.to_be_bytes());
    out.extend_from_slice(&repr.to_packet(payload));
    Ok(out)
}

/// Removes the BIER header of a BIER frame, restoring the IPv4/IPv6 EtherType; returns the
/// header and the plain frame.
pub fn decapsulate(frame: &[u8]) -> Result<(BierRepr, Vec<u8>), EncapError> {
    let start = bier_offset(frame)?;
    let rest = frame.get(start..).unwrap_or(&[]);
    let repr = BierRepr::parse_bytes(rest)?;
    let et = ethertype_for_proto(repr.proto).ok_or(EncapError::UnsupportedProto(repr.proto))?;
    let head = frame.get(..start - 2).unwrap_or(&[]);
    let payload = rest.get(repr.buffer_len()..).unwrap_or(&[]);
    let mut out = Vec::with_capacity(head.len() + 2 + payload.len());
    out.extend_from_slice(head);
    out.extend_from_slice(&et.to_be_bytes());
    out.extend_from_slice(payload);
    Ok((repr, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitstring::{BitString, Bsl};
    use crate::id::{BiftId, BitPosition};

    fn frame(tags: &[u16], et: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
        for t in tags {
            f.extend_from_slice(&t.to_be_bytes());
            f.extend_from_slice(&[0x00, 0x64]);
        }
        f.extend_from_slice(&et.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn repr() -> BierRepr {
        let bits = BitString::from_positions(Bsl::B128, [BitPosition::new(7).unwrap()]);
        BierRepr::new(BiftId::new(42).unwrap(), bits)
    }

    #[test]
    fn round_trip_ipv4_ipv6_tagged() {
        let ip4 = [0x45, 0, 0, 20, 1, 2, 3, 4];
        let ip6 = [0x60, 0, 0, 0, 9, 9];
        for (tags, et, p, proto) in [
            (&[][..], ETHERTYPE_IPV4, &ip4[..], Proto::Ipv4),
            (&[ETHERTYPE_VLAN][..], ETHERTYPE_IPV6, &ip6[..], Proto::Ipv6),
            (
                &[ETHERTYPE_QINQ, ETHERTYPE_VLAN][..],
                ETHERTYPE_IPV4,
                &ip4[..],
                Proto::Ipv4,
            ),
        ] {
            let f = frame(tags, et, p);
            let e = encapsulate(&f, &repr()).unwrap();
            assert_eq!(e, frame(tags, ETHERTYPE_BIER, &repr_with(proto, p)));
            let (r, d) = decapsulate(&e).unwrap();
            assert_eq!(r.proto, proto);
            assert_eq!(d, f);
        }
    }

    fn repr_with(proto: Proto, payload: &[u8]) -> Vec<u8> {
        BierRepr { proto, ..repr() }.to_packet(payload)
    }

    #[test]
    fn refusals() {
        assert_eq!(
            encapsulate(&frame(&[], 0x0806, &[]), &repr()),
            Err(EncapError::UnsupportedEtherType(0x0806))
        );
        assert_eq!(
            encapsulate(&[0; 13], &repr()),
            Err(EncapError::TruncatedFrame { len: 13 })
        );
        assert_eq!(
            decapsulate(&frame(&[], ETHERTYPE_IPV4, &[])),
            Err(EncapError::NotBier(ETHERTYPE_IPV4))
        );
        let oam = BierRepr {
            proto: Proto::Oam,
            ..repr()
        };
        let f = frame(&[], ETHERTYPE_BIER, &oam.to_packet(&[1]));
        assert_eq!(
            decapsulate(&f),
            Err(EncapError::UnsupportedProto(Proto::Oam))
        );
        let f = frame(&[], ETHERTYPE_BIER, &[0x50; 5]);
        assert!(matches!(
            decapsulate(&f),
            Err(EncapError::Header(HeaderError::Truncated { .. }))
        ));
    }
}
