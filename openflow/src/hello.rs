//! `OFPT_HELLO` — `ofp_hello` with its elements (OF1.3.5 §7.5.1) — and version negotiation
//! (OF1.3.5 §6.3.1).
//!
//! Guarantees: `OFPHET_VERSIONBITMAP` elements are decoded; elements of other types are kept
//! as received (the spec asks receivers to ignore them, we keep them so a round trip is
//! exact). A HELLO of any version can be decoded (`Hello::parse_any_version`), because
//! negotiation must read the peer's HELLO before a common version is known.

use crate::error::DecodeError;
use crate::types::OFP_VERSION;
use crate::wire::{pad8, Reader, Wire, Writer};

/// `OFPHET_VERSIONBITMAP`.
pub const HELLO_ELEM_VERSIONBITMAP: u16 = 1;

/// One element of a HELLO — `ofp_hello_elem_header` and what follows.
///
/// On the wire: `type` (2 bytes), `length` (2 bytes, header included, padding excluded), the
/// payload, then zeros up to a multiple of 8 bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HelloElement {
    /// `OFPHET_VERSIONBITMAP` — `ofp_hello_elem_versionbitmap`: bit `v % 32` of word `v / 32`
    /// is set when version `v` is supported.
    VersionBitmap(Vec<u32>),
    /// An element type this crate does not know, kept as received (payload without padding).
    Unknown { kind: u16, data: Vec<u8> },
}

impl HelloElement {
    /// A bitmap element with the given versions set.
    pub fn version_bitmap(versions: &[u8]) -> HelloElement {
        let words = versions
            .iter()
            .map(|v| usize::from(*v) / 32 + 1)
            .max()
            .unwrap_or(0);
        let mut bitmap = vec![0u32; words];
        for v in versions {
            if let Some(w) = bitmap.get_mut(usize::from(*v) / 32) {
                *w |= 1 << (v % 32);
            }
        }
        HelloElement::VersionBitmap(bitmap)
    }

    /// `length` field: header and payload, without padding.
    fn unpadded_len(&self) -> usize {
        4 + match self {
            HelloElement::VersionBitmap(b) => 4 * b.len(),
            HelloElement::Unknown { data, .. } => data.len(),
        }
    }
}

impl Wire for HelloElement {
    fn wire_len(&self) -> usize {
        let n = self.unpadded_len();
        n + pad8(n)
    }

    fn emit(&self, w: &mut Writer<'_>) {
        let start = w.pos();
        let len = crate::wire::len16(self.unpadded_len());
        match self {
            HelloElement::VersionBitmap(bitmap) => {
                w.u16(HELLO_ELEM_VERSIONBITMAP);
                w.u16(len);
                for word in bitmap {
                    w.u32(*word);
                }
            }
            HelloElement::Unknown { kind, data } => {
                w.u16(*kind);
                w.u16(len);
                w.bytes(data);
            }
        }
        w.pad8_from(start);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.pos();
        let kind = r.u16()?;
        let len = usize::from(r.u16()?);
        let mut body = r.sub_after_header(start, len, 4, "hello element")?;
        let elem = if kind == HELLO_ELEM_VERSIONBITMAP {
            if body.remaining() % 4 != 0 {
                return Err(DecodeError::BadLength {
                    ctx: "hello versionbitmap",
                    len,
                    min: 4,
                });
            }
            let mut bitmap = Vec::with_capacity(body.remaining() / 4);
            while !body.is_empty() {
                bitmap.push(body.u32()?);
            }
            HelloElement::VersionBitmap(bitmap)
        } else {
            HelloElement::Unknown {
                kind,
                data: body.rest().to_vec(),
            }
        };
        // The padding after the last element is sometimes left out by senders; accept that
        // (round trips of what we emit are unaffected: we always pad).
        let pad = pad8(len).min(r.remaining());
        r.skip(pad)?;
        Ok(elem)
    }
}

/// `OFPT_HELLO` body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Hello {
    pub elements: Vec<HelloElement>,
}

impl Hello {
    /// Our HELLO: OpenFlow 1.3 only, announced with a version bitmap (so a peer that speaks
    /// several versions picks 1.3 by the bitmap rule of §6.3.1).
    pub fn ofp13() -> Hello {
        Hello::with_versions(&[OFP_VERSION])
    }

    /// A HELLO announcing `versions` in a bitmap.
    pub fn with_versions(versions: &[u8]) -> Hello {
        Hello {
            elements: vec![HelloElement::version_bitmap(versions)],
        }
    }

    /// The versions of the first bitmap element, if there is one.
    pub fn versions(&self) -> Option<Vec<u8>> {
        self.elements.iter().find_map(|e| match e {
            HelloElement::VersionBitmap(b) => Some(bitmap_versions(b)),
            HelloElement::Unknown { .. } => None,
        })
    }

    /// Reads the body of a HELLO whose header carried `version`. For 0x04 the body must be
    /// well formed. For other versions it is read leniently, because §6.3.1 requires us to
    /// negotiate with peers of any version: before 1.3.1 (versions 1 to 3) a HELLO body had
    /// no defined content and is ignored; for later versions the elements that parse are kept
    /// and anything malformed after them is ignored.
    pub fn parse_any_version(version: u8, r: &mut Reader<'_>) -> Result<Hello, DecodeError> {
        if version == OFP_VERSION {
            return Hello::parse(r);
        }
        let mut elements = Vec::new();
        if version > OFP_VERSION {
            while !r.is_empty() {
                match HelloElement::parse(r) {
                    Ok(e) => elements.push(e),
                    Err(_) => break,
                }
            }
        }
        r.rest();
        Ok(Hello { elements })
    }
}

impl Wire for Hello {
    fn wire_len(&self) -> usize {
        crate::wire::list_len(&self.elements)
    }

    fn emit(&self, w: &mut Writer<'_>) {
        crate::wire::emit_list(&self.elements, w);
    }

    /// Parses the rest of the message as HELLO elements.
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Hello {
            elements: crate::wire::parse_list(r)?,
        })
    }
}

fn bitmap_versions(bitmap: &[u32]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, word) in bitmap.iter().enumerate() {
        for bit in 0..32 {
            if word & (1 << bit) != 0 {
                if let Ok(v) = u8::try_from(i * 32 + bit) {
                    out.push(v);
                }
            }
        }
    }
    out
}

/// Why no version could be agreed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NegotiationError {
    /// Nothing in common: answer `OFPET_HELLO_FAILED`/`OFPHFC_INCOMPATIBLE` and close.
    #[error(
        "no common OpenFlow version: we speak {ours:?}, peer sent header version {their_header:#04x}{}",
        their_bitmap.as_ref().map(|b| format!(" and bitmap {b:?}")).unwrap_or_default()
    )]
    Incompatible {
        ours: Vec<u8>,
        their_header: u8,
        their_bitmap: Option<Vec<u8>>,
    },
}

/// Agrees on a version per OF1.3.5 §6.3.1, given the versions we speak (`ours`, which our
/// HELLO announced in a bitmap with header version `max(ours)`), the version in the peer's
/// HELLO header, and the peer's HELLO.
///
/// - Both HELLOs carry a bitmap: the highest version set in both.
/// - Otherwise: the smaller of the two header versions, if we speak it.
pub fn negotiate(
    ours: &[u8],
    their_header_version: u8,
    theirs: &Hello,
) -> Result<u8, NegotiationError> {
    let incompatible = |their_bitmap| NegotiationError::Incompatible {
        ours: ours.to_vec(),
        their_header: their_header_version,
        their_bitmap,
    };
    let Some(our_header) = ours.iter().copied().max() else {
        return Err(incompatible(theirs.versions()));
    };
    match theirs.versions() {
        Some(their_versions) => their_versions
            .iter()
            .copied()
            .filter(|v| ours.contains(v))
            .max()
            .ok_or_else(|| incompatible(Some(their_versions))),
        None => {
            let v = our_header.min(their_header_version);
            if ours.contains(&v) {
                Ok(v)
            } else {
                Err(incompatible(None))
            }
        }
    }
}

/// Proptest strategies.
#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    use super::*;
    use proptest::prelude::*;

    pub fn hello_element() -> impl Strategy<Value = HelloElement> {
        prop_oneof![
            proptest::collection::vec(any::<u32>(), 0..4).prop_map(HelloElement::VersionBitmap),
            (
                any::<u16>().prop_filter("not a bitmap", |k| *k != HELLO_ELEM_VERSIONBITMAP),
                proptest::collection::vec(any::<u8>(), 0..20)
            )
                .prop_map(|(kind, data)| HelloElement::Unknown { kind, data }),
        ]
    }

    pub fn hello() -> impl Strategy<Value = Hello> {
        proptest::collection::vec(hello_element(), 0..4).prop_map(|elements| Hello { elements })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(bytes: &[u8]) -> Result<Hello, DecodeError> {
        let mut r = Reader::new(bytes, "hello");
        let h = Hello::parse(&mut r)?;
        r.finish()?;
        Ok(h)
    }

    #[test]
    fn ofp13_bitmap() {
        let h = Hello::ofp13();
        assert_eq!(h.elements, vec![HelloElement::VersionBitmap(vec![0x10])]);
        assert_eq!(h.versions(), Some(vec![4]));
        // type 1, length 8, bitmap 0x00000010
        assert_eq!(h.to_vec(), [0, 1, 0, 8, 0, 0, 0, 0x10]);
    }

    #[test]
    fn negotiation_rules() {
        let both = Hello::with_versions(&[1, 4, 5]);
        assert_eq!(negotiate(&[4], 5, &both), Ok(4));
        assert_eq!(negotiate(&[1, 4], 5, &both), Ok(4));
        assert_eq!(negotiate(&[4, 5], 5, &both), Ok(5));
        // Bitmap without 1.3.
        let no13 = Hello::with_versions(&[1, 5]);
        assert!(matches!(
            negotiate(&[4], 5, &no13),
            Err(NegotiationError::Incompatible { .. })
        ));
        // No bitmap: the smaller header version, if we speak it.
        let plain = Hello::default();
        assert_eq!(negotiate(&[4], 6, &plain), Ok(4));
        assert_eq!(negotiate(&[4], 4, &plain), Ok(4));
        assert!(negotiate(&[4], 1, &plain).is_err());
        assert_eq!(negotiate(&[1, 4], 1, &plain), Ok(1));
        // Unknown elements do not count as a bitmap.
        let unknown = Hello {
            elements: vec![HelloElement::Unknown {
                kind: 9,
                data: vec![1],
            }],
        };
        assert_eq!(negotiate(&[4], 5, &unknown), Ok(4));
        assert!(negotiate(&[], 4, &plain).is_err());
    }

    #[test]
    fn bitmap_beyond_32_versions() {
        let e = HelloElement::version_bitmap(&[4, 33]);
        assert_eq!(e, HelloElement::VersionBitmap(vec![0x10, 0x2]));
        let h = Hello { elements: vec![e] };
        assert_eq!(h.versions(), Some(vec![4, 33]));
    }

    #[test]
    fn missing_final_padding_is_accepted() {
        // type 1, length 8 (no padding needed) then unknown type 7 length 5 with 1 byte and
        // no padding.
        let bytes = [0, 1, 0, 8, 0, 0, 0, 0x10, 0, 7, 0, 5, 0xee];
        let h = parse(&bytes).unwrap();
        assert_eq!(h.elements.len(), 2);
    }

    #[test]
    fn bad_lengths() {
        // length 3 < header
        assert!(matches!(
            parse(&[0, 1, 0, 3, 0, 0, 0, 0]),
            Err(DecodeError::BadLength { .. })
        ));
        // bitmap of 6 bytes: not whole words
        assert!(matches!(
            parse(&[0, 1, 0, 6, 0, 0, 0, 0]),
            Err(DecodeError::BadLength { .. })
        ));
        // length past the end
        assert!(matches!(
            parse(&[0, 1, 0, 16, 0, 0, 0, 0]),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn foreign_versions_are_lenient() {
        let junk = [0xde, 0xad];
        let h = Hello::parse_any_version(1, &mut Reader::new(&junk, "hello")).unwrap();
        assert_eq!(h, Hello::default());
        let mut bytes = vec![0, 1, 0, 8, 0, 0, 0, 0x30];
        bytes.extend_from_slice(&junk);
        let h = Hello::parse_any_version(5, &mut Reader::new(&bytes, "hello")).unwrap();
        assert_eq!(h.versions(), Some(vec![4, 5]));
        assert!(Hello::parse_any_version(4, &mut Reader::new(&bytes, "hello")).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(h in arb::hello()) {
            let bytes = h.to_vec();
            prop_assert_eq!(bytes.len() % 8, 0);
            prop_assert_eq!(parse(&bytes).unwrap(), h);
        }
    }
}
