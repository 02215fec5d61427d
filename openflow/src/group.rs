//! Group buckets — `ofp_bucket` (OF1.3.5 §7.3.4.2).
//!
//! A bucket is a 16-byte header (`len`, `weight`, `watch_port`, `watch_group`, 4 bytes of
//! padding) followed by its actions; `len` counts the header and the actions.
//!
//! Guarantees: decoding never panics; a `len` below 16 or past the enclosing message is
//! `BadLength`/`Truncated`, a `len` not a multiple of 8 is `Unaligned` (actions are multiples
//! of 8, so no valid bucket is), and errors inside the action list come from `Action::parse`.
//! Encoding allocates nothing.

use crate::action::{parse_actions, Action};
use crate::error::DecodeError;
use crate::types::{GroupId, PortNo};
use crate::wire::{count_tlv16, emit_list, len16, list_len, Reader, Wire, Writer};

/// One bucket of a group — `ofp_bucket`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bucket {
    /// Relative weight (SELECT groups only; 0 otherwise).
    pub weight: u16,
    /// Port whose liveness decides (FAST_FAILOVER), or `PortNo::ANY`.
    pub watch_port: PortNo,
    /// Group whose liveness decides (FAST_FAILOVER), or `GroupId::ANY`.
    pub watch_group: GroupId,
    pub actions: Vec<Action>,
}

/// Bytes of `ofp_bucket` before the actions.
const BUCKET_HEADER: usize = 16;

impl Bucket {
    /// A bucket for ALL and INDIRECT groups: weight 0, nothing watched (OF1.3.5 §7.3.4.2).
    pub fn new(actions: Vec<Action>) -> Self {
        Bucket {
            weight: 0,
            watch_port: PortNo::ANY,
            watch_group: GroupId::ANY,
            actions,
        }
    }
}

impl Wire for Bucket {
    fn wire_len(&self) -> usize {
        BUCKET_HEADER + list_len(&self.actions)
    }

    fn emit(&self, w: &mut Writer<'_>) {
        let start = w.pos();
        let h = w.take_array::<BUCKET_HEADER>();
        // h[0..2]: len, patched in below once the actions are written.
        h[2..4].copy_from_slice(&self.weight.to_be_bytes());
        h[4..8].copy_from_slice(&self.watch_port.0.to_be_bytes());
        h[8..12].copy_from_slice(&self.watch_group.0.to_be_bytes());
        // h[12..16]: pad[4], zero.
        h[12..16].fill(0);
        emit_list(&self.actions, w);
        w.patch_u16(start, len16(w.pos() - start));
    }

    #[inline]
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        parse_bucket(r)
    }
}

const CTX: &str = "bucket";

/// The buckets filling the rest of `r` (a group mod's, a group description's), the vector
/// reserved exactly.
#[inline]
pub(crate) fn parse_buckets(r: &mut Reader<'_>) -> Result<Vec<Bucket>, DecodeError> {
    let mut out = Vec::with_capacity(count_tlv16(r.unread(), 0, BUCKET_HEADER));
    while !r.is_empty() {
        out.push(parse_bucket(r)?);
    }
    Ok(out)
}

/// One bucket, inlined into `parse_buckets` with its action list.
#[inline(always)]
fn parse_bucket(r: &mut Reader<'_>) -> Result<Bucket, DecodeError> {
    let len = usize::from(r.u16()?);
    if len < BUCKET_HEADER || len % 8 != 0 {
        return Err(bad_len(len));
    }
    let Some(body) = r.try_bytes(len - 2) else {
        return Err(r.truncated_as(CTX, len - 2));
    };
    let Some((h, rest)) = body.split_first_chunk::<{ BUCKET_HEADER - 2 }>() else {
        return Err(bad_len(len));
    };
    let [w0, w1, p0, p1, p2, p3, g0, g1, g2, g3, ..] = *h;
    Ok(Bucket {
        weight: u16::from_be_bytes([w0, w1]),
        watch_port: PortNo(u32::from_be_bytes([p0, p1, p2, p3])),
        watch_group: GroupId(u32::from_be_bytes([g0, g1, g2, g3])),
        actions: parse_actions(rest, CTX)?,
    })
}

/// A `len` below the 16-byte header or not a multiple of 8.
#[cold]
#[inline(never)]
fn bad_len(len: usize) -> DecodeError {
    if len < BUCKET_HEADER {
        DecodeError::BadLength {
            ctx: CTX,
            len,
            min: BUCKET_HEADER,
        }
    } else {
        DecodeError::Unaligned { ctx: CTX, len }
    }
}

/// Proptest strategies for buckets that round-trip exactly.
#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    use super::*;
    use crate::action::arb::actions;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Any bucket.
    pub fn bucket() -> impl Strategy<Value = Bucket> {
        (any::<u16>(), any::<u32>(), any::<u32>(), actions()).prop_map(|(weight, p, g, actions)| {
            Bucket {
                weight,
                watch_port: PortNo(p),
                watch_group: GroupId(g),
                actions,
            }
        })
    }

    /// Up to 5 buckets.
    pub fn buckets() -> impl Strategy<Value = Vec<Bucket>> {
        vec(bucket(), 0..5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DecodeError;
    use crate::oxm::test_util::{golden, parse_err, round_trip};
    use crate::types::QueueId;
    use proptest::prelude::*;

    // Golden buckets assembled by hand from OF1.3.5 §7.3.4.2 (ofp_bucket), checked with
    // `ovs-ofctl ofp-print` in a GROUP_MOD.

    const BUCKET_FF: &str = concat!(
        "0020",                                 // len 32: 16 + one OUTPUT action
        "0000",                                 // weight 0
        "00000001",                             // watch_port 1
        "ffffffff",                             // watch_group OFPG_ANY
        "00000000",                             // pad[4]
        "0000 0010 00000001 0000 000000000000", // OUTPUT port 1
    );
    const BUCKET_SELECT: &str = concat!(
        "0028",                                 // len 40: 16 + SET_QUEUE + OUTPUT
        "0032",                                 // weight 50
        "ffffffff",                             // watch_port OFPP_ANY
        "ffffffff",                             // watch_group OFPG_ANY
        "00000000",                             // pad[4]
        "0015 0008 00000002",                   // SET_QUEUE 2
        "0000 0010 00000003 0000 000000000000", // OUTPUT port 3
    );
    const BUCKET_EMPTY: &str = concat!(
        "0010",     // len 16: no action (drop)
        "0000",     // weight
        "ffffffff", // watch_port
        "ffffffff", // watch_group
        "00000000", // pad[4]
    );

    #[test]
    fn golden_buckets() {
        golden(
            &Bucket {
                weight: 0,
                watch_port: PortNo(1),
                watch_group: GroupId::ANY,
                actions: vec![Action::output(PortNo(1))],
            },
            BUCKET_FF,
        );
        golden(
            &Bucket {
                weight: 50,
                watch_port: PortNo::ANY,
                watch_group: GroupId::ANY,
                actions: vec![Action::SetQueue(QueueId(2)), Action::output(PortNo(3))],
            },
            BUCKET_SELECT,
        );
        golden(&Bucket::new(vec![]), BUCKET_EMPTY);
    }

    #[test]
    fn bad_buckets() {
        assert_eq!(
            parse_err::<Bucket>("0008 0000 ffffffff ffffffff 00000000"),
            DecodeError::BadLength {
                ctx: "bucket",
                len: 8,
                min: 16
            }
        );
        assert_eq!(
            parse_err::<Bucket>("0014 0000 ffffffff ffffffff 00000000 00000000"),
            DecodeError::Unaligned {
                ctx: "bucket",
                len: 20
            }
        );
        assert!(matches!(
            parse_err::<Bucket>("0020 0000 ffffffff ffffffff 00000000"),
            DecodeError::Truncated { ctx: "bucket", .. }
        ));
        // An action overrunning the bucket.
        assert!(matches!(
            parse_err::<Bucket>("0018 0000 ffffffff ffffffff 00000000 0000 0010 00000001"),
            DecodeError::Truncated {
                ctx: "action OUTPUT",
                ..
            }
        ));
        assert!(matches!(
            parse_err::<Bucket>("00"),
            DecodeError::Truncated { .. }
        ));
    }

    proptest! {
        #[test]
        fn bucket_round_trip(b in arb::bucket()) {
            round_trip(&b);
        }

        #[test]
        fn buckets_round_trip(bs in arb::buckets()) {
            let mut v = vec![0u8; crate::wire::list_len(&bs)];
            emit_list(&bs, &mut Writer::new(&mut v));
            let back: Vec<Bucket> = crate::wire::parse_list(&mut Reader::new(&v, "t")).unwrap();
            prop_assert_eq!(back, bs);
        }

        #[test]
        fn bucket_decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Bucket::parse(&mut Reader::new(&b, "fuzz"));
        }
    }
}
