//! Identifiers: BFR-ids, Set Identifiers, bit positions (RFC 8279 §3) and BIFT-ids (RFC 8296 §2).
//!
//! A BFR-id `n` lives in set `(n - 1) / BSL` at bit position `(n - 1) % BSL + 1`; the mapping
//! is a bijection for every BSL, and the constructors refuse values outside the wire ranges.

use core::fmt;
use core::num::NonZeroU16;

use crate::bitstring::Bsl;

/// A BFR-id, 1..=65535 (RFC 8279 §3: 0 is invalid).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BfrId(NonZeroU16);

impl BfrId {
    /// `None` for 0.
    pub const fn new(v: u16) -> Option<BfrId> {
        match NonZeroU16::new(v) {
            Some(n) => Some(BfrId(n)),
            None => None,
        }
    }

    /// The value.
    pub const fn get(self) -> u16 {
        self.0.get()
    }

    /// The Set Identifier and bit position of this BFR-id for a BSL (RFC 8279 §3).
    pub fn locate(self, bsl: Bsl) -> (SetId, BitPosition) {
        let i = usize::from(self.get() - 1);
        let bits = bsl.bits();
        // i / bits <= 65534 / 64 and i % bits + 1 <= 4096: both fit a u16.
        let si = SetId((i / bits) as u16);
        (si, BitPosition(((i % bits) + 1) as u16))
    }

    /// The BFR-id at a Set Identifier and bit position, if it is in 1..=65535 and `bp` fits `bsl`.
    pub fn from_location(si: SetId, bp: BitPosition, bsl: Bsl) -> Option<BfrId> {
        if usize::from(bp.get()) > bsl.bits() {
            return None;
        }
        let v = usize::from(si.0) * bsl.bits() + usize::from(bp.get());
        BfrId::new(u16::try_from(v).ok()?)
    }
}

impl fmt::Display for BfrId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

/// Set Identifier, SI (RFC 8279 §3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SetId(pub u16);

impl fmt::Display for SetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A bit position in a BitString, 1..=4096; position 1 is the low-order bit (RFC 8279 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BitPosition(u16);

impl BitPosition {
    /// The largest position of the longest BitString.
    pub const MAX: u16 = 4096;

    /// `None` outside 1..=4096.
    pub const fn new(v: u16) -> Option<BitPosition> {
        if v >= 1 && v <= Self::MAX {
            Some(BitPosition(v))
        } else {
            None
        }
    }

    /// From a zero-based index.
    pub(crate) fn from_index(i: usize) -> Option<BitPosition> {
        BitPosition::new(u16::try_from(i + 1).ok()?)
    }

    /// The value, 1..=4096.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// Zero-based index, `get() - 1`.
    pub const fn index(self) -> usize {
        self.0 as usize - 1
    }
}

impl fmt::Display for BitPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The 20-bit BIFT-id that opens a non-MPLS BIER header (RFC 8296 §2.2).
///
/// It names one BIFT, i.e. one (sub-domain, BSL, SI). RFC 8296 leaves the mapping to the
/// domain; [`BiftId::from_bsl_sd_si`] offers the BSL|SD|SI layout of
/// draft-ietf-bier-non-mpls-bift-encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BiftId(u32);

impl BiftId {
    /// The largest 20-bit value.
    pub const MAX: u32 = 0xF_FFFF;

    /// `None` above 20 bits.
    pub const fn new(v: u32) -> Option<BiftId> {
        if v <= Self::MAX {
            Some(BiftId(v))
        } else {
            None
        }
    }

    /// The low 20 bits of `v`.
    pub const fn masked(v: u32) -> BiftId {
        BiftId(v & Self::MAX)
    }

    /// The value.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// BSL code (4 bits) | sub-domain (8) | SI (8); `None` for SI above 255.
    pub fn from_bsl_sd_si(bsl: Bsl, sd: u8, si: SetId) -> Option<BiftId> {
        let si = u8::try_from(si.0).ok()?;
        Some(BiftId(
            u32::from(bsl.code()) << 16 | u32::from(sd) << 8 | u32::from(si),
        ))
    }
}

impl fmt::Display for BiftId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#07x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8279_examples() {
        // RFC 8279 §3: with BSL 256, BFR-id 257 is SI 1, bit 1; BFR-id 256 is SI 0, bit 256.
        let b = BfrId::new(257).unwrap();
        assert_eq!(b.locate(Bsl::B256), (SetId(1), BitPosition(1)));
        let b = BfrId::new(256).unwrap();
        assert_eq!(b.locate(Bsl::B256), (SetId(0), BitPosition(256)));
        assert_eq!(BfrId::new(0), None);
    }

    #[test]
    fn locate_round_trip_all_ids() {
        for bsl in Bsl::ALL {
            for v in (1..=u16::MAX).step_by(97).chain([1, u16::MAX]) {
                let id = BfrId::new(v).unwrap();
                let (si, bp) = id.locate(bsl);
                assert!(usize::from(bp.get()) <= bsl.bits());
                assert_eq!(BfrId::from_location(si, bp, bsl), Some(id));
            }
        }
        assert_eq!(
            BfrId::from_location(SetId(1023), BitPosition(64), Bsl::B64),
            None
        );
        assert_eq!(
            BfrId::from_location(SetId(0), BitPosition(65), Bsl::B64),
            None
        );
    }

    #[test]
    fn bift_id_layout() {
        let id = BiftId::from_bsl_sd_si(Bsl::B256, 0x12, SetId(0x34)).unwrap();
        assert_eq!(id.get(), 0x3_1234);
        assert_eq!(BiftId::from_bsl_sd_si(Bsl::B64, 0, SetId(256)), None);
        assert_eq!(BiftId::new(0x10_0000), None);
    }
}
