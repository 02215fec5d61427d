//! BIER-TE (RFC 9262): bit positions name adjacencies of the topology, and a packet's BitString
//! names the edges of its tree.
//!
//! Forwarding (RFC 9262 §4.4): the bits of interest are the packet bits that have adjacencies
//! here; every such bit, and every other bit of this BFR's adjacencies, is cleared from the
//! copies, so a copy can never come back through this BFR on those bits. The DNC flag of a
//! forward_connected adjacency (RFC 9262 §4.3) keeps its own bit in the copy it sends.

use crate::bift::{ecmp_choice, BiftError, Port};
use crate::bitstring::{BitString, Bsl};
use crate::id::{BitPosition, SetId};

/// An adjacency a BIER-TE bit stands for (RFC 9262 §4.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Adjacency {
    /// `forward_connected`: to a directly connected BFR through `port`.
    ForwardConnected {
        /// The interface.
        port: Port,
        /// Do-not-clear: keep this bit in the copy sent over this adjacency.
        dnc: bool,
    },
    /// `forward_routed`: to a BFR `to` reached through the routing underlay (numbering is the
    /// caller's; the simulator uses node ids).
    ForwardRouted {
        /// The remote BFR.
        to: u32,
    },
    /// `local_decap`: deliver the payload here.
    LocalDecap,
    /// `ECMP`: one of these (forward_connected or forward_routed) adjacencies, chosen by
    /// entropy (RFC 9262 §4.3).
    Ecmp(Vec<Adjacency>),
}

/// The outcome of BIER-TE forwarding of one BitString.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TeDecision {
    /// Copies over forward_connected adjacencies.
    pub connected: Vec<(Port, BitString)>,
    /// Copies over forward_routed adjacencies.
    pub routed: Vec<(u32, BitString)>,
    /// The local_decap bits that were set; deliver once if non-zero.
    pub local: BitString,
}

/// A BIER-TE BIFT for one (SI, BSL): per bit position, its adjacencies at this BFR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeBift {
    si: SetId,
    bsl: Bsl,
    adjacent: BitString,
    adj: Vec<Vec<Adjacency>>,
}

impl TeBift {
    /// An empty table.
    pub fn new(si: SetId, bsl: Bsl) -> TeBift {
        TeBift {
            si,
            bsl,
            adjacent: BitString::zero(bsl),
            adj: vec![Vec::new(); bsl.bits()],
        }
    }

    /// The Set Identifier.
    pub fn si(&self) -> SetId {
        self.si
    }

    /// The BSL.
    pub fn bsl(&self) -> Bsl {
        self.bsl
    }

    /// Sets the adjacencies of a bit (replacing any). An ECMP adjacency must list at least one
    /// forward_connected or forward_routed adjacency and nothing else.
    pub fn set(&mut self, bp: BitPosition, adjs: Vec<Adjacency>) -> Result<(), BiftError> {
        let bsl = self.bsl;
        for a in &adjs {
            if let Adjacency::Ecmp(list) = a {
                let ok = !list.is_empty()
                    && list.iter().all(|m| {
                        matches!(
                            m,
                            Adjacency::ForwardConnected { .. } | Adjacency::ForwardRouted { .. }
                        )
                    });
                if !ok {
                    return Err(BiftError::BadEcmp(bp));
                }
            }
        }
        let slot = self
            .adj
            .get_mut(bp.index())
            .ok_or(BiftError::PositionOutOfRange { bp, bsl })?;
        if adjs.is_empty() {
            self.adjacent.clear(bp);
        } else {
            self.adjacent.set(bp);
        }
        *slot = adjs;
        Ok(())
    }

    /// The adjacencies of a bit.
    pub fn adjacencies(&self, bp: BitPosition) -> &[Adjacency] {
        self.adj.get(bp.index()).map_or(&[], Vec::as_slice)
    }

    /// Every bit that has an adjacency here ("AdjacentBits", RFC 9262 §4.4).
    pub fn adjacent_bits(&self) -> &BitString {
        &self.adjacent
    }

    /// Forwards `bits` (RFC 9262 §4.4). Copies whose BitString would be empty are not made:
    /// the receiver could do nothing with them.
    pub fn forward(&self, bits: &BitString, entropy: u32) -> Result<TeDecision, BiftError> {
        if bits.bsl() != self.bsl {
            return Err(BiftError::BslMismatch {
                table: self.bsl,
                got: bits.bsl(),
            });
        }
        let mut d = TeDecision {
            local: BitString::zero(self.bsl),
            ..TeDecision::default()
        };
        let interest = bits.and(&self.adjacent);
        let base = bits.and_not(&self.adjacent);
        for bp in interest.ones() {
            for a in self.adjacencies(bp) {
                let a = match a {
                    Adjacency::Ecmp(list) if !list.is_empty() => {
                        list.get(ecmp_choice(entropy, list.len() as u32))
                    }
                    Adjacency::Ecmp(_) => None,
                    a => Some(a),
                };
                match a {
                    Some(Adjacency::ForwardConnected { port, dnc }) => {
                        let mut c = base.clone();
                        if *dnc {
                            c.set(bp);
                        }
                        if !c.is_zero() {
                            d.connected.push((*port, c));
                        }
                    }
                    Some(Adjacency::ForwardRouted { to }) => {
                        if !base.is_zero() {
                            d.routed.push((*to, base.clone()));
                        }
                    }
                    Some(Adjacency::LocalDecap) => {
                        d.local.set(bp);
                    }
                    Some(Adjacency::Ecmp(_)) | None => {}
                }
            }
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bp(v: u16) -> BitPosition {
        BitPosition::new(v).unwrap()
    }

    fn bits(v: &[u16]) -> BitString {
        BitString::from_positions(Bsl::B64, v.iter().map(|&x| bp(x)))
    }

    fn table() -> TeBift {
        let mut t = TeBift::new(SetId(0), Bsl::B64);
        let fc = |p, dnc| Adjacency::ForwardConnected { port: Port(p), dnc };
        t.set(bp(1), vec![fc(1, false)]).unwrap();
        t.set(bp(2), vec![fc(2, true)]).unwrap();
        t.set(bp(3), vec![Adjacency::LocalDecap]).unwrap();
        t.set(bp(4), vec![Adjacency::ForwardRouted { to: 99 }])
            .unwrap();
        t.set(
            bp(5),
            vec![Adjacency::Ecmp(vec![fc(5, false), fc(6, false)])],
        )
        .unwrap();
        t.set(bp(6), vec![fc(7, false)]).unwrap();
        t
    }

    #[test]
    fn clears_own_bits_dnc_keeps() {
        let d = table().forward(&bits(&[1, 2, 3, 10, 11]), 0).unwrap();
        assert_eq!(
            d.connected,
            vec![(Port(1), bits(&[10, 11])), (Port(2), bits(&[2, 10, 11]))]
        );
        assert_eq!(d.local, bits(&[3]));
        assert!(d.routed.is_empty());
        // Bit 6 is ours but not set: untouched, and its adjacency unused.
    }

    #[test]
    fn routed_and_ecmp() {
        let t = table();
        let d = t.forward(&bits(&[4, 5, 20]), 0).unwrap();
        assert_eq!(d.routed, vec![(99, bits(&[20]))]);
        assert_eq!(d.connected, vec![(Port(5), bits(&[20]))]);
        let d = t.forward(&bits(&[5, 20]), 0xf_ffff).unwrap();
        assert_eq!(d.connected, vec![(Port(6), bits(&[20]))]);
    }

    #[test]
    fn empty_copies_suppressed_and_bad_ecmp_refused() {
        let d = table().forward(&bits(&[1]), 0).unwrap();
        assert!(d.connected.is_empty());
        let mut t = TeBift::new(SetId(0), Bsl::B64);
        assert_eq!(
            t.set(bp(1), vec![Adjacency::Ecmp(vec![Adjacency::LocalDecap])]),
            Err(BiftError::BadEcmp(bp(1)))
        );
        assert!(t.set(bp(1), vec![Adjacency::Ecmp(vec![])]).is_err());
        assert!(matches!(
            t.set(bp(65), vec![]),
            Err(BiftError::PositionOutOfRange { .. })
        ));
    }
}
