//! The BIER header of RFC 8296 §2.1.2, non-MPLS form (RFC 8296 §2.2: the first 20 bits are a
//! BIFT-id instead of an MPLS label).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |              BIFT-id                  | TC  |S|     TTL       |
//! |Nibble |  Ver  |  BSL  |              Entropy                  |
//! |OAM|Rsv|    DSCP   |   Proto   |            BFIR-id            |
//! |                BitString (BSL bits)                        ...
//! ```
//!
//! [`BierHeader`] is a view over a buffer: once [`BierHeader::check_len`] passed, every
//! accessor reads inside it; even without that check no accessor or setter panics (they read
//! zero or write nothing out of range). [`BierRepr`] is the parsed, validated form.

use core::fmt;

use crate::bitstring::{BitString, Bsl};
use crate::id::BiftId;

/// Length of the fixed part before the BitString.
pub const FIXED_LEN: usize = 12;

/// The value the Nibble field must carry (RFC 8296 §2.1.2).
pub const NIBBLE: u8 = 0b0101;

/// The only version RFC 8296 defines.
pub const VERSION: u8 = 0;

/// Byte ranges of the header fields.
pub mod field {
    use core::ops::Range;

    /// BIFT-id (20 bits) | TC (3) | S (1) | TTL (8).
    pub const BIFT_TC_S_TTL: Range<usize> = 0..4;
    /// Nibble (4) | Ver (4) | BSL (4) | Entropy (20).
    pub const NIBBLE_VER_BSL_ENTROPY: Range<usize> = 4..8;
    /// OAM (2) | Rsv (2) | DSCP (6) | Proto (6).
    pub const OAM_RSV_DSCP_PROTO: Range<usize> = 8..10;
    /// BFIR-id (16).
    pub const BFIR_ID: Range<usize> = 10..12;
    /// The BitString, `bytes` long.
    pub const fn bitstring(bytes: usize) -> Range<usize> {
        12..12 + bytes
    }
}

/// What was wrong with a BIER header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The buffer ends before the header does.
    #[error("truncated BIER header: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes the header needs.
        need: usize,
        /// Bytes there were.
        have: usize,
    },
    /// The Nibble field is not 0101 (RFC 8296 §2.1.2).
    #[error("wrong BIER nibble {0:#06b}, expected 0b0101")]
    WrongNibble(u8),
    /// A version other than 0.
    #[error("unsupported BIER version {0}")]
    UnsupportedVersion(u8),
    /// A BSL code RFC 8296 does not define.
    #[error("bad BSL code {0}")]
    BadBsl(u8),
    /// The output buffer is too short for `emit`.
    #[error("buffer of {have} bytes too short for a {need}-byte BIER header")]
    BufferTooShort {
        /// Bytes the header needs.
        need: usize,
        /// Bytes there were.
        have: usize,
    },
}

/// The Proto field: the type of the payload after the header (RFC 8296 §2.1.2, IANA "BIER
/// Next Protocol Identifiers"). Open: values this crate does not name survive a round trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    /// 1: MPLS packet with a downstream-assigned label at the top of the stack.
    MplsDownstream,
    /// 2: MPLS packet with an upstream-assigned label at the top of the stack.
    MplsUpstream,
    /// 3: Ethernet frame.
    Ethernet,
    /// 4: IPv4 packet.
    Ipv4,
    /// 5: IPv6 packet.
    Ipv6,
    /// 6: OAM packet.
    Oam,
    /// Any other 6-bit value (0 and 63 are reserved).
    Other(u8),
}

impl From<u8> for Proto {
    /// Takes the low 6 bits, the width of the field.
    fn from(v: u8) -> Proto {
        match v & 0x3f {
            1 => Proto::MplsDownstream,
            2 => Proto::MplsUpstream,
            3 => Proto::Ethernet,
            4 => Proto::Ipv4,
            // RFC 8296 §3 (IANA "BIER Next Protocol Identifiers"): 5 is OAM, 6 is IPv6.
            5 => Proto::Oam,
            6 => Proto::Ipv6,
            v => Proto::Other(v),
        }
    }
}

impl From<Proto> for u8 {
    fn from(p: Proto) -> u8 {
        match p {
            Proto::MplsDownstream => 1,
            Proto::MplsUpstream => 2,
            Proto::Ethernet => 3,
            Proto::Ipv4 => 4,
            Proto::Oam => 5,
            Proto::Ipv6 => 6,
            Proto::Other(v) => v & 0x3f,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Proto::MplsDownstream => f.write_str("mpls-downstream"),
            Proto::MplsUpstream => f.write_str("mpls-upstream"),
            Proto::Ethernet => f.write_str("ethernet"),
            Proto::Ipv4 => f.write_str("ipv4"),
            Proto::Ipv6 => f.write_str("ipv6"),
            Proto::Oam => f.write_str("oam"),
            Proto::Other(v) => write!(f, "{v:#04x}"),
        }
    }
}

fn read_u32(b: &[u8], r: core::ops::Range<usize>) -> u32 {
    match b.get(r) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

fn read_u16(b: &[u8], r: core::ops::Range<usize>) -> u16 {
    match b.get(r) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]),
        _ => 0,
    }
}

fn write_u32(b: &mut [u8], r: core::ops::Range<usize>, v: u32) {
    if let Some(s) = b.get_mut(r) {
        if s.len() == 4 {
            s.copy_from_slice(&v.to_be_bytes());
        }
    }
}

fn write_u16(b: &mut [u8], r: core::ops::Range<usize>, v: u16) {
    if let Some(s) = b.get_mut(r) {
        if s.len() == 2 {
            s.copy_from_slice(&v.to_be_bytes());
        }
    }
}

/// A view of a BIER header at the start of a buffer (smoltcp style).
#[derive(Debug, Clone)]
pub struct BierHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> BierHeader<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> BierHeader<T> {
        BierHeader { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<BierHeader<T>, HeaderError> {
        let h = BierHeader::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    /// Checks that the buffer holds the fixed part, a defined BSL and the whole BitString.
    pub fn check_len(&self) -> Result<(), HeaderError> {
        let have = self.buffer.as_ref().len();
        if have < FIXED_LEN {
            return Err(HeaderError::Truncated {
                need: FIXED_LEN,
                have,
            });
        }
        let code = self.bsl_code();
        let bsl = Bsl::from_code(code).ok_or(HeaderError::BadBsl(code))?;
        let need = FIXED_LEN + bsl.bytes();
        if have < need {
            return Err(HeaderError::Truncated { need, have });
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn word0(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::BIFT_TC_S_TTL)
    }

    fn word1(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::NIBBLE_VER_BSL_ENTROPY)
    }

    fn half2(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::OAM_RSV_DSCP_PROTO)
    }

    /// BIFT-id, the first 20 bits.
    pub fn bift_id(&self) -> BiftId {
        BiftId::masked(self.word0() >> 12)
    }

    /// Traffic Class, 3 bits.
    pub fn tc(&self) -> u8 {
        ((self.word0() >> 9) & 0x7) as u8
    }

    /// The S bit.
    pub fn s(&self) -> bool {
        (self.word0() >> 8) & 1 == 1
    }

    /// TTL.
    pub fn ttl(&self) -> u8 {
        (self.word0() & 0xff) as u8
    }

    /// The first nibble of the second word (0101 in a valid header).
    pub fn nibble(&self) -> u8 {
        (self.word1() >> 28) as u8
    }

    /// Version.
    pub fn version(&self) -> u8 {
        ((self.word1() >> 24) & 0xf) as u8
    }

    /// The raw 4-bit BSL code.
    pub fn bsl_code(&self) -> u8 {
        ((self.word1() >> 20) & 0xf) as u8
    }

    /// The BSL, if the code is defined.
    pub fn bsl(&self) -> Option<Bsl> {
        Bsl::from_code(self.bsl_code())
    }

    /// Entropy, 20 bits.
    pub fn entropy(&self) -> u32 {
        self.word1() & 0xf_ffff
    }

    /// OAM, 2 bits.
    pub fn oam(&self) -> u8 {
        (self.half2() >> 14) as u8
    }

    /// Rsv, 2 bits.
    pub fn rsv(&self) -> u8 {
        ((self.half2() >> 12) & 0x3) as u8
    }

    /// DSCP, 6 bits.
    pub fn dscp(&self) -> u8 {
        ((self.half2() >> 6) & 0x3f) as u8
    }

    /// Proto, 6 bits.
    pub fn proto(&self) -> Proto {
        Proto::from((self.half2() & 0x3f) as u8)
    }

    /// BFIR-id, 16 bits.
    pub fn bfir_id(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::BFIR_ID)
    }

    /// Header length the BSL field implies (the fixed part alone if the code is undefined).
    pub fn header_len(&self) -> usize {
        FIXED_LEN + self.bsl().map_or(0, Bsl::bytes)
    }

    /// The BitString bytes (empty if the BSL is undefined or the buffer is short).
    pub fn bitstring_bytes(&self) -> &[u8] {
        let n = self.bsl().map_or(0, Bsl::bytes);
        self.buffer.as_ref().get(field::bitstring(n)).unwrap_or(&[])
    }

    /// The BitString; `None` if the BSL is undefined or the buffer is short.
    pub fn bitstring(&self) -> Option<BitString> {
        BitString::from_bytes(self.bsl()?, self.bitstring_bytes())
    }

    /// The bytes after the header.
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(self.header_len()..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> BierHeader<T> {
    fn set_word0(&mut self, mask: u32, v: u32) {
        let w = (self.word0() & !mask) | (v & mask);
        write_u32(self.buffer.as_mut(), field::BIFT_TC_S_TTL, w);
    }

    fn set_word1(&mut self, mask: u32, v: u32) {
        let w = (self.word1() & !mask) | (v & mask);
        write_u32(self.buffer.as_mut(), field::NIBBLE_VER_BSL_ENTROPY, w);
    }

    fn set_half2(&mut self, mask: u16, v: u16) {
        let w = (self.half2() & !mask) | (v & mask);
        write_u16(self.buffer.as_mut(), field::OAM_RSV_DSCP_PROTO, w);
    }

    /// Sets the BIFT-id.
    pub fn set_bift_id(&mut self, v: BiftId) {
        self.set_word0(0xffff_f000, v.get() << 12);
    }

    /// Sets TC (low 3 bits of `v`).
    pub fn set_tc(&mut self, v: u8) {
        self.set_word0(0xe00, u32::from(v) << 9);
    }

    /// Sets the S bit.
    pub fn set_s(&mut self, v: bool) {
        self.set_word0(0x100, u32::from(v) << 8);
    }

    /// Sets TTL.
    pub fn set_ttl(&mut self, v: u8) {
        self.set_word0(0xff, u32::from(v));
    }

    /// Sets the Nibble (low 4 bits of `v`).
    pub fn set_nibble(&mut self, v: u8) {
        self.set_word1(0xf000_0000, u32::from(v) << 28);
    }

    /// Sets the version (low 4 bits of `v`).
    pub fn set_version(&mut self, v: u8) {
        self.set_word1(0x0f00_0000, u32::from(v) << 24);
    }

    /// Sets the BSL code.
    pub fn set_bsl(&mut self, v: Bsl) {
        self.set_word1(0x00f0_0000, u32::from(v.code()) << 20);
    }

    /// Sets the entropy (low 20 bits of `v`).
    pub fn set_entropy(&mut self, v: u32) {
        self.set_word1(0xf_ffff, v);
    }

    /// Sets OAM (low 2 bits of `v`).
    pub fn set_oam(&mut self, v: u8) {
        self.set_half2(0xc000, u16::from(v) << 14);
    }

    /// Sets Rsv (low 2 bits of `v`).
    pub fn set_rsv(&mut self, v: u8) {
        self.set_half2(0x3000, u16::from(v) << 12);
    }

    /// Sets DSCP (low 6 bits of `v`).
    pub fn set_dscp(&mut self, v: u8) {
        self.set_half2(0x0fc0, u16::from(v) << 6);
    }

    /// Sets Proto.
    pub fn set_proto(&mut self, v: Proto) {
        self.set_half2(0x003f, u16::from(u8::from(v)));
    }

    /// Sets the BFIR-id.
    pub fn set_bfir_id(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::BFIR_ID, v);
    }

    /// Writes the BitString after the fixed part; the BSL field must already match `bits`.
    /// Returns `false` (nothing written) if it does not or the buffer is short.
    pub fn set_bitstring(&mut self, bits: &BitString) -> bool {
        if self.bsl() != Some(bits.bsl()) {
            return false;
        }
        match self
            .buffer
            .as_mut()
            .get_mut(field::bitstring(bits.bsl().bytes()))
        {
            Some(out) => bits.write_bytes(out),
            None => false,
        }
    }

    /// The bytes after the header, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        self.buffer.as_mut().get_mut(start..).unwrap_or(&mut [])
    }
}

/// A parsed, valid BIER header (nibble 0101, version 0, defined BSL).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BierRepr {
    /// BIFT-id (20 bits).
    pub bift_id: BiftId,
    /// Traffic Class (3 bits).
    pub tc: u8,
    /// S bit.
    pub s: bool,
    /// TTL.
    pub ttl: u8,
    /// Entropy (20 bits), the ECMP selector (RFC 8279 §6.7).
    pub entropy: u32,
    /// OAM (2 bits).
    pub oam: u8,
    /// Rsv (2 bits); kept so that a header survives a round trip.
    pub rsv: u8,
    /// DSCP (6 bits).
    pub dscp: u8,
    /// Payload type.
    pub proto: Proto,
    /// BFR-id of the BFIR (0 if the BFIR has none).
    pub bfir_id: u16,
    /// The BitString; its length gives the BSL field.
    pub bitstring: BitString,
}

impl BierRepr {
    /// TTL that [`BierRepr::new`] uses.
    pub const DEFAULT_TTL: u8 = 64;

    /// A header with zero TC/entropy/OAM/DSCP, S set (it stands where an MPLS bottom-of-stack
    /// label would, RFC 8296 §2.2), TTL 64, Proto IPv4 and BFIR-id 0.
    pub fn new(bift_id: BiftId, bitstring: BitString) -> BierRepr {
        BierRepr {
            bift_id,
            tc: 0,
            s: true,
            ttl: Self::DEFAULT_TTL,
            entropy: 0,
            oam: 0,
            rsv: 0,
            dscp: 0,
            proto: Proto::Ipv4,
            bfir_id: 0,
            bitstring,
        }
    }

    /// Parses and validates a header. Checks, in order: fixed part present, nibble, version,
    /// BSL, whole BitString present.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(h: &BierHeader<&T>) -> Result<BierRepr, HeaderError> {
        let have = h.buffer.as_ref().len();
        if have < FIXED_LEN {
            return Err(HeaderError::Truncated {
                need: FIXED_LEN,
                have,
            });
        }
        if h.nibble() != NIBBLE {
            return Err(HeaderError::WrongNibble(h.nibble()));
        }
        if h.version() != VERSION {
            return Err(HeaderError::UnsupportedVersion(h.version()));
        }
        h.check_len()?;
        let bitstring = h.bitstring().ok_or(HeaderError::BadBsl(h.bsl_code()))?;
        Ok(BierRepr {
            bift_id: h.bift_id(),
            tc: h.tc(),
            s: h.s(),
            ttl: h.ttl(),
            entropy: h.entropy(),
            oam: h.oam(),
            rsv: h.rsv(),
            dscp: h.dscp(),
            proto: h.proto(),
            bfir_id: h.bfir_id(),
            bitstring,
        })
    }

    /// Parses the header at the start of `bytes`.
    pub fn parse_bytes(bytes: &[u8]) -> Result<BierRepr, HeaderError> {
        BierRepr::parse(&BierHeader::new_unchecked(bytes))
    }

    /// The BSL.
    pub fn bsl(&self) -> Bsl {
        self.bitstring.bsl()
    }

    /// Length of the emitted header.
    pub fn buffer_len(&self) -> usize {
        FIXED_LEN + self.bsl().bytes()
    }

    /// Writes every field and the BitString (fields are masked to their width). A buffer
    /// shorter than [`buffer_len`](Self::buffer_len) is left partly written; use
    /// [`emit_into`](Self::emit_into) to have that checked.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, h: &mut BierHeader<T>) {
        h.set_bift_id(self.bift_id);
        h.set_tc(self.tc);
        h.set_s(self.s);
        h.set_ttl(self.ttl);
        h.set_nibble(NIBBLE);
        h.set_version(VERSION);
        h.set_bsl(self.bsl());
        h.set_entropy(self.entropy);
        h.set_oam(self.oam);
        h.set_rsv(self.rsv);
        h.set_dscp(self.dscp);
        h.set_proto(self.proto);
        h.set_bfir_id(self.bfir_id);
        h.set_bitstring(&self.bitstring);
    }

    /// Writes the header at the start of `buf`; returns its length.
    pub fn emit_into(&self, buf: &mut [u8]) -> Result<usize, HeaderError> {
        let need = self.buffer_len();
        if buf.len() < need {
            return Err(HeaderError::BufferTooShort {
                need,
                have: buf.len(),
            });
        }
        self.emit(&mut BierHeader::new_unchecked(&mut *buf));
        Ok(need)
    }

    /// The header followed by `payload`, as a new buffer.
    pub fn to_packet(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0; self.buffer_len() + payload.len()];
        let mut h = BierHeader::new_unchecked(&mut out[..]);
        self.emit(&mut h);
        h.payload_mut().copy_from_slice(payload);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::BitPosition;

    fn repr() -> BierRepr {
        let mut bits = BitString::zero(Bsl::B64);
        bits.set(BitPosition::new(3).unwrap());
        BierRepr {
            bift_id: BiftId::new(0xabcde).unwrap(),
            tc: 5,
            s: true,
            ttl: 17,
            entropy: 0x12345,
            oam: 2,
            rsv: 1,
            dscp: 46,
            proto: Proto::Ipv6,
            bfir_id: 0xbeef,
            bitstring: bits,
        }
    }

    #[test]
    fn setters_touch_only_their_field() {
        let r = repr();
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit_into(&mut buf).unwrap();
        let mut h = BierHeader::new_checked(&mut buf[..]).unwrap();
        h.set_ttl(1);
        h.set_entropy(0xfffff);
        h.set_dscp(0);
        let back = BierRepr::parse(&BierHeader::new_unchecked(&buf[..])).unwrap();
        assert_eq!(
            back,
            BierRepr {
                ttl: 1,
                entropy: 0xfffff,
                dscp: 0,
                ..r
            }
        );
    }

    #[test]
    fn errors_in_order() {
        let r = repr();
        let mut buf = r.to_packet(&[]);
        assert_eq!(
            BierRepr::parse_bytes(&buf[..11]),
            Err(HeaderError::Truncated { need: 12, have: 11 })
        );
        assert_eq!(
            BierRepr::parse_bytes(&buf[..19]),
            Err(HeaderError::Truncated { need: 20, have: 19 })
        );
        BierHeader::new_unchecked(&mut buf[..]).set_version(1);
        assert_eq!(
            BierRepr::parse_bytes(&buf),
            Err(HeaderError::UnsupportedVersion(1))
        );
        BierHeader::new_unchecked(&mut buf[..]).set_nibble(4);
        assert_eq!(
            BierRepr::parse_bytes(&buf),
            Err(HeaderError::WrongNibble(4))
        );
        let mut buf = r.to_packet(&[]);
        buf[5] = 0x80 | (buf[5] & 0x0f);
        assert_eq!(BierRepr::parse_bytes(&buf), Err(HeaderError::BadBsl(8)));
    }

    #[test]
    fn proto_open() {
        for v in 0..64u8 {
            assert_eq!(u8::from(Proto::from(v)), v);
        }
        assert_eq!(Proto::from(4), Proto::Ipv4);
        assert_eq!(Proto::Other(0x2a).to_string(), "0x2a");
    }

    #[test]
    fn short_buffers_never_panic() {
        let mut tiny = [0u8; 3];
        let mut h = BierHeader::new_unchecked(&mut tiny[..]);
        h.set_ttl(9);
        h.set_bfir_id(7);
        assert_eq!(h.ttl(), 0);
        assert!(h.bitstring().is_none());
        assert!(h.payload().is_empty());
        assert!(repr().emit_into(&mut tiny).is_err());
    }
}
