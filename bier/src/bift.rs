//! The Bit Index Forwarding Table of one (SI, BSL) and the forwarding procedure of RFC 8279 §6.5,
//! with ECMP entries chosen by entropy (RFC 8279 §6.7).
//!
//! Guarantees of [`Bift::forward_into`]: the copies' BitStrings are pairwise disjoint and,
//! together with the local and unknown bits, exactly the packet's bits; every bit goes to one
//! of the next hops its entry lists. With ECMP it iterates set bits word-wise
//! (`trailing_zeros`) and clears a whole F-BM per copy, so its cost grows with the number of
//! copies, not with the BSL. Without ECMP the F-BMs partition the bits, and the same result
//! is one AND per neighbour's F-BM, with no loads that depend on the previous bit.

use std::collections::BTreeMap;

use crate::bitstring::{BitString, Bsl};
use crate::id::{BitPosition, SetId};

/// The interface a copy leaves by; in a fabric of point-to-point links it names the BFR-NBR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Port(pub u32);

/// What was wrong with a BIFT or its use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BiftError {
    /// A BitString of the wrong length.
    #[error("BitString of {got} bits given to a BIFT of {table} bits")]
    BslMismatch {
        /// The table's BSL.
        table: Bsl,
        /// The BitString's BSL.
        got: Bsl,
    },
    /// A position beyond the BSL.
    #[error("bit position {bp} beyond BSL {bsl}")]
    PositionOutOfRange {
        /// The position.
        bp: BitPosition,
        /// The table's BSL.
        bsl: Bsl,
    },
    /// An F-BM must contain the bit of its own entry, or that bit would never be forwarded.
    #[error("F-BM for bit {bp} via port {port:?} lacks bit {bp}")]
    FbmLacksOwnBit {
        /// The entry.
        bp: BitPosition,
        /// The next hop.
        port: Port,
    },
    /// A bit is both local and forwarded.
    #[error("bit {0} is both local and forwarded")]
    LocalAndForwarded(BitPosition),
    /// A BIER-TE ECMP adjacency that is empty or lists something other than forward
    /// adjacencies.
    #[error("bad ECMP adjacency for bit {0}")]
    BadEcmp(BitPosition),
}

/// Which of `n` equal-cost choices a packet takes (RFC 8279 §6.7 leaves the function to the
/// implementation): the 20-bit entropy scaled to `0..n`, `(entropy * n) >> 20`. A multiply,
/// not a division, since it sits on the forwarding loop's critical path; flows with nearby
/// entropies share a choice, so BFIRs should hash flows over all 20 bits.
pub fn ecmp_choice(entropy: u32, n: u32) -> usize {
    ((u64::from(entropy & 0xf_ffff) * u64::from(n)) >> 20) as usize
}

/// The entry of one bit: no next hop (`len` 0), one F-BM (`at` indexes `fbms`), or an ECMP
/// list (`at` starts `len` indices in `choices`); one lookup for the common case.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Slot {
    at: u32,
    len: u32,
}

/// One BIFT: per bit position, the next hops with their F-BMs; plus the bits delivered here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bift {
    si: SetId,
    bsl: Bsl,
    local: BitString,
    // Distinct (port, F-BM) pairs, and their words again, flat, for the forwarding loop.
    fbms: Vec<(Port, BitString)>,
    fbm_words: Vec<u64>,
    fbm_ports: Vec<Port>,
    choices: Vec<u32>,
    slots: Vec<Slot>,
    // Set when the F-BMs partition the forwarded bits (no ECMP): then forwarding is one AND
    // per F-BM, with no dependent loads from bit to entry to F-BM.
    partition: bool,
    known: BitString,
}

/// The outcome of forwarding one BitString. Reused across calls of
/// [`Bift::forward_into`]: the copies are overwritten in place, so a steady stream of
/// decisions allocates nothing.
#[derive(Clone, Default)]
pub struct Decision {
    local: BitString,
    unknown: BitString,
    copies: Vec<(Port, BitString)>,
    len: usize,
}

impl core::fmt::Debug for Decision {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decision")
            .field("local", &self.local)
            .field("unknown", &self.unknown)
            .field("copies", &self.copies())
            .finish()
    }
}

impl Decision {
    /// Bits delivered here (RFC 8279 §6.5: the BFR's own BFR-ids, "local_decap").
    pub fn local(&self) -> &BitString {
        &self.local
    }

    /// Bits the table has no entry for; they are dropped.
    pub fn unknown(&self) -> &BitString {
        &self.unknown
    }

    /// One copy per next hop chosen, with its BitString (packet AND F-BM).
    pub fn copies(&self) -> &[(Port, BitString)] {
        self.copies.get(..self.len).unwrap_or(&[])
    }

    fn reset(&mut self, bits: &BitString, local: &BitString) {
        self.len = 0;
        self.local.clone_from(bits);
        self.local.and_assign(local);
        self.unknown.reset(bits.bsl());
    }

    fn push<const N: usize>(&mut self, bsl: Bsl, port: Port, w: &[u64; N]) {
        match self.copies.get_mut(self.len) {
            Some((p, b)) if b.bsl() == bsl => {
                *p = port;
                // A fixed-size copy: a few moves, not a call to memcpy.
                if let Ok(a) = <&mut [u64; N]>::try_from(b.words_mut()) {
                    *a = *w;
                }
            }
            Some(slot) => *slot = (port, BitString::from_array(bsl, w)),
            None => self.copies.push((port, BitString::from_array(bsl, w))),
        }
        self.len += 1;
    }
}

impl Bift {
    /// A table from explicit entries: `local` bits, and per bit the ECMP list of (port, F-BM)
    /// (one element when there is no ECMP). Every F-BM must contain its own bit.
    pub fn from_entries(
        si: SetId,
        local: BitString,
        entries: impl IntoIterator<Item = (BitPosition, Vec<(Port, BitString)>)>,
    ) -> Result<Bift, BiftError> {
        let bsl = local.bsl();
        let mut t = Bift {
            si,
            bsl,
            local,
            fbms: Vec::new(),
            fbm_words: Vec::new(),
            fbm_ports: Vec::new(),
            choices: Vec::new(),
            slots: vec![Slot::default(); bsl.bits()],
            partition: false,
            known: BitString::zero(bsl),
        };
        let mut index: BTreeMap<(Port, Vec<u64>), u32> = BTreeMap::new();
        let mut per_bit: BTreeMap<BitPosition, Vec<u32>> = BTreeMap::new();
        for (bp, hops) in entries {
            if bp.index() >= bsl.bits() {
                return Err(BiftError::PositionOutOfRange { bp, bsl });
            }
            if t.local.test(bp) && !hops.is_empty() {
                return Err(BiftError::LocalAndForwarded(bp));
            }
            let list = per_bit.entry(bp).or_default();
            for (port, fbm) in hops {
                if fbm.bsl() != bsl {
                    return Err(BiftError::BslMismatch {
                        table: bsl,
                        got: fbm.bsl(),
                    });
                }
                if !fbm.test(bp) {
                    return Err(BiftError::FbmLacksOwnBit { bp, port });
                }
                let next = t.fbms.len() as u32;
                let i = *index
                    .entry((port, fbm.words().to_vec()))
                    .or_insert_with(|| {
                        t.fbm_words.extend_from_slice(fbm.words());
                        t.fbm_ports.push(port);
                        t.fbms.push((port, fbm));
                        next
                    });
                if !list.contains(&i) {
                    list.push(i);
                }
            }
        }
        for (bp, list) in per_bit {
            if let Some(slot) = t.slots.get_mut(bp.index()) {
                *slot = match list[..] {
                    [] => Slot::default(),
                    [one] => Slot { at: one, len: 1 },
                    _ => {
                        let at = t.choices.len() as u32;
                        t.choices.extend(&list);
                        Slot {
                            at,
                            len: list.len() as u32,
                        }
                    }
                };
            }
        }
        t.partition = t.is_partition();
        Ok(t)
    }

    // The F-BMs are pairwise disjoint and every non-local bit of each has a single-choice
    // entry (necessarily that F-BM). Then "for each set bit, send bits AND its F-BM and clear
    // the F-BM" (RFC 8279 §6.5) sends exactly `bits AND F-BM` for each F-BM, in any order.
    fn is_partition(&mut self) -> bool {
        let mut union = BitString::zero(self.bsl);
        for (_, f) in &self.fbms {
            if union.intersects(f) {
                return false;
            }
            union.or_assign(f);
        }
        let single = union
            .and_not(&self.local)
            .ones()
            .all(|bp| self.slots.get(bp.index()).is_some_and(|s| s.len == 1));
        self.known = union;
        single
    }

    /// A table from next hops alone: the F-BM of a port is every bit that lists that port
    /// (RFC 8279 §6.5), so with ECMP a copy may carry bits for which that port is one of several
    /// equal choices. Positions beyond `bsl` are ignored.
    pub fn from_next_hops(
        si: SetId,
        bsl: Bsl,
        local: impl IntoIterator<Item = BitPosition>,
        next_hops: impl IntoIterator<Item = (BitPosition, Vec<Port>)>,
    ) -> Bift {
        let local = BitString::from_positions(bsl, local);
        let mut hops: BTreeMap<BitPosition, Vec<Port>> = BTreeMap::new();
        let mut fbm: BTreeMap<Port, BitString> = BTreeMap::new();
        for (bp, ports) in next_hops {
            if bp.index() >= bsl.bits() || local.test(bp) {
                continue;
            }
            let list = hops.entry(bp).or_default();
            for p in ports {
                if !list.contains(&p) {
                    list.push(p);
                    fbm.entry(p).or_insert_with(|| BitString::zero(bsl)).set(bp);
                }
            }
        }
        let entries = hops.into_iter().map(|(bp, ports)| {
            let list = ports
                .into_iter()
                .filter_map(|p| Some((p, fbm.get(&p)?.clone())))
                .collect();
            (bp, list)
        });
        // Cannot fail: positions are in range, F-BMs hold their bits, local bits were skipped.
        Bift::from_entries(si, local, entries).unwrap_or_else(|_| Bift::empty(si, bsl))
    }

    /// A table with no entries.
    pub fn empty(si: SetId, bsl: Bsl) -> Bift {
        Bift {
            si,
            bsl,
            local: BitString::zero(bsl),
            fbms: Vec::new(),
            fbm_words: Vec::new(),
            fbm_ports: Vec::new(),
            choices: Vec::new(),
            slots: vec![Slot::default(); bsl.bits()],
            partition: true,
            known: BitString::zero(bsl),
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

    /// Bits delivered locally.
    pub fn local(&self) -> &BitString {
        &self.local
    }

    /// The ECMP list of a bit: (port, F-BM) pairs, empty if the bit has no entry.
    pub fn entry(&self, bp: BitPosition) -> impl Iterator<Item = (Port, &BitString)> + '_ {
        let slot = self.slots.get(bp.index()).copied().unwrap_or_default();
        let at = slot.at as usize;
        let (one, list): (Option<u32>, &[u32]) = match slot.len {
            0 => (None, &[]),
            1 => (Some(slot.at), &[]),
            n => (None, self.choices.get(at..at + n as usize).unwrap_or(&[])),
        };
        one.into_iter()
            .chain(list.iter().copied())
            .filter_map(|i| self.fbms.get(i as usize).map(|(p, f)| (*p, f)))
    }

    /// Positions that have a forwarding entry, lowest first.
    pub fn positions(&self) -> impl Iterator<Item = BitPosition> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.len > 0)
            .filter_map(|(i, _)| BitPosition::from_index(i))
    }

    /// Forwards `bits` (RFC 8279 §6.5); see [`forward_into`](Self::forward_into).
    pub fn forward(&self, bits: &BitString, entropy: u32) -> Result<Decision, BiftError> {
        let mut d = Decision::default();
        self.forward_into(bits, entropy, &mut d)?;
        Ok(d)
    }

    /// Forwards `bits` into `d`, reusing its allocation. For each set bit, lowest first: pick
    /// the entry's next hop (see [`ecmp_choice`] among `n` ECMP choices), send `bits AND F-BM`, and
    /// clear the F-BM from the bits still to forward, so no bit leaves twice.
    pub fn forward_into(
        &self,
        bits: &BitString,
        entropy: u32,
        d: &mut Decision,
    ) -> Result<(), BiftError> {
        if bits.bsl() != self.bsl {
            return Err(BiftError::BslMismatch {
                table: self.bsl,
                got: bits.bsl(),
            });
        }
        d.reset(bits, &self.local);
        // Fixed-size words per BSL, so the compiler unrolls the AND / AND-NOT of each copy.
        match self.bsl {
            Bsl::B64 => self.run::<1>(bits, entropy, d),
            Bsl::B128 => self.run::<2>(bits, entropy, d),
            Bsl::B256 => self.run::<4>(bits, entropy, d),
            Bsl::B512 => self.run::<8>(bits, entropy, d),
            Bsl::B1024 => self.run::<16>(bits, entropy, d),
            Bsl::B2048 => self.run::<32>(bits, entropy, d),
            Bsl::B4096 => self.run::<64>(bits, entropy, d),
        }
        Ok(())
    }

    // RFC 8279 §6.5 over `N` words; `bits` has this table's BSL, which is `N` words.
    fn run<const N: usize>(&self, bits: &BitString, entropy: u32, d: &mut Decision) {
        if self.partition {
            return self.run_partition::<N>(bits, d);
        }
        let mut rem = [0u64; N];
        for ((r, b), l) in rem.iter_mut().zip(bits.words()).zip(self.local.words()) {
            *r = b & !l;
        }
        let mut unknown = [0u64; N];
        for w in 0..N {
            loop {
                let word = rem[w];
                if word == 0 {
                    break;
                }
                let tz = word.trailing_zeros() as usize;
                let lowest = 1u64 << tz;
                // Always progress, whatever the F-BM holds.
                rem[w] = word & !lowest;
                let slot = self.slots.get(w * 64 + tz).copied().unwrap_or_default();
                let fbm = match slot.len {
                    0 => None,
                    1 => Some(slot.at),
                    n => self
                        .choices
                        .get(slot.at as usize + ecmp_choice(entropy, n))
                        .copied(),
                };
                let i = fbm.map_or(usize::MAX, |i| i as usize);
                let words = self
                    .fbm_words
                    .get(i.wrapping_mul(N)..i.wrapping_mul(N).wrapping_add(N))
                    .and_then(|s| <&[u64; N]>::try_from(s).ok());
                match (words, self.fbm_ports.get(i)) {
                    (Some(f), Some(port)) => {
                        let mut copy = [0u64; N];
                        copy[w] = lowest;
                        for k in 0..N {
                            copy[k] |= rem[k] & f[k];
                            rem[k] &= !f[k];
                        }
                        d.push(self.bsl, *port, &copy);
                    }
                    _ => unknown[w] |= lowest,
                }
            }
        }
        if let Ok(u) = <&mut [u64; N]>::try_from(d.unknown.words_mut()) {
            *u = unknown;
        }
    }

    // The same result when the F-BMs partition the bits (see `is_partition`).
    fn run_partition<const N: usize>(&self, bits: &BitString, d: &mut Decision) {
        let (Ok(w), Ok(l), Ok(k)) = (
            <&[u64; N]>::try_from(bits.words()),
            <&[u64; N]>::try_from(self.local.words()),
            <&[u64; N]>::try_from(self.known.words()),
        ) else {
            return;
        };
        let mut b = [0u64; N];
        for i in 0..N {
            b[i] = w[i] & !l[i];
        }
        for (f, port) in self.fbm_words.chunks_exact(N).zip(&self.fbm_ports) {
            let Ok(f) = <&[u64; N]>::try_from(f) else {
                continue;
            };
            let mut copy = [0u64; N];
            let mut any = 0;
            for i in 0..N {
                copy[i] = b[i] & f[i];
                any |= copy[i];
            }
            if any != 0 {
                d.push(self.bsl, *port, &copy);
            }
        }
        if let Ok(u) = <&mut [u64; N]>::try_from(d.unknown.words_mut()) {
            for i in 0..N {
                u[i] = b[i] & !k[i];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bp(v: u16) -> BitPosition {
        BitPosition::new(v).unwrap()
    }

    fn bits(bsl: Bsl, v: &[u16]) -> BitString {
        BitString::from_positions(bsl, v.iter().map(|&x| bp(x)))
    }

    #[test]
    fn rfc8279_style_example() {
        // Bits 1, 2 via port 1; bit 3 via port 2; bit 4 is ours.
        let t = Bift::from_next_hops(
            SetId(0),
            Bsl::B64,
            [bp(4)],
            [
                (bp(1), vec![Port(1)]),
                (bp(2), vec![Port(1)]),
                (bp(3), vec![Port(2)]),
            ],
        );
        let d = t.forward(&bits(Bsl::B64, &[1, 2, 3, 4, 9]), 0).unwrap();
        assert_eq!(d.local(), &bits(Bsl::B64, &[4]));
        assert_eq!(
            d.copies(),
            vec![
                (Port(1), bits(Bsl::B64, &[1, 2])),
                (Port(2), bits(Bsl::B64, &[3]))
            ]
        );
        assert_eq!(d.unknown(), &bits(Bsl::B64, &[9]));
    }

    #[test]
    fn ecmp_by_entropy() {
        let t = Bift::from_next_hops(
            SetId(0),
            Bsl::B128,
            [],
            [(bp(100), vec![Port(7), Port(8)]), (bp(5), vec![Port(8)])],
        );
        let b = bits(Bsl::B128, &[5, 100]);
        // Bit 5 first: only port 8, whose F-BM also holds 100.
        for e in 0..4 {
            let d = t.forward(&b, e).unwrap();
            assert_eq!(d.copies(), &[(Port(8), b.clone())]);
        }
        let only = bits(Bsl::B128, &[100]);
        assert_eq!(t.forward(&only, 0).unwrap().copies()[0].0, Port(7));
        assert_eq!(t.forward(&only, 0x8_0000).unwrap().copies()[0].0, Port(8));
        assert_eq!(ecmp_choice(0xf_ffff, 3), 2);
        assert_eq!(ecmp_choice(u32::MAX, 1), 0);
    }

    #[test]
    fn refuses_bad_tables_and_lengths() {
        let t = Bift::empty(SetId(0), Bsl::B64);
        assert!(matches!(
            t.forward(&BitString::zero(Bsl::B128), 0),
            Err(BiftError::BslMismatch { .. })
        ));
        let r = Bift::from_entries(
            SetId(0),
            BitString::zero(Bsl::B64),
            [(bp(2), vec![(Port(1), bits(Bsl::B64, &[3]))])],
        );
        assert!(matches!(r, Err(BiftError::FbmLacksOwnBit { .. })));
        let r = Bift::from_entries(SetId(0), BitString::zero(Bsl::B64), [(bp(65), vec![])]);
        assert!(matches!(r, Err(BiftError::PositionOutOfRange { .. })));
    }

    #[test]
    fn partition_path_matches_rfc_loop() {
        // The one-AND-per-F-BM path must give the copies of the RFC 8279 §6.5 loop.
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for bsl in Bsl::ALL {
            let n = bsl.bits() as u16;
            let hops = (1..=n)
                .filter(|v| v % 5 != 0)
                .map(|v| (bp(v), vec![Port((next() % 9) as u32)]));
            let fast = Bift::from_next_hops(SetId(0), bsl, [bp(5)], hops);
            assert!(fast.partition);
            let mut slow = fast.clone();
            slow.partition = false;
            for _ in 0..50 {
                let w: Vec<u64> = (0..bsl.words()).map(|_| next() & next()).collect();
                let b = BitString::from_words(bsl, &w).unwrap();
                let (f, s) = (fast.forward(&b, 0).unwrap(), slow.forward(&b, 0).unwrap());
                let mut fc = f.copies().to_vec();
                let mut sc = s.copies().to_vec();
                fc.sort_by_key(|c| c.0);
                sc.sort_by_key(|c| c.0);
                assert_eq!(fc, sc);
                assert_eq!((f.local(), f.unknown()), (s.local(), s.unknown()));
            }
        }
    }

    #[test]
    fn overlapping_fbms_take_the_rfc_loop() {
        let f12 = bits(Bsl::B64, &[1, 2]);
        let t = Bift::from_entries(
            SetId(0),
            BitString::zero(Bsl::B64),
            [
                (bp(1), vec![(Port(1), f12.clone())]),
                (bp(2), vec![(Port(2), bits(Bsl::B64, &[2]))]),
            ],
        )
        .unwrap();
        assert!(!t.partition);
        // Bit 1 first: its F-BM takes bit 2 along, so port 2 gets nothing.
        assert_eq!(t.forward(&f12, 0).unwrap().copies(), &[(Port(1), f12)]);
    }

    #[test]
    fn decision_reuse_across_lengths() {
        let mut d = Decision::default();
        let a = Bift::from_next_hops(SetId(0), Bsl::B4096, [], [(bp(4000), vec![Port(1)])]);
        let b = Bift::from_next_hops(SetId(0), Bsl::B64, [], [(bp(3), vec![Port(2)])]);
        a.forward_into(&bits(Bsl::B4096, &[4000]), 0, &mut d)
            .unwrap();
        b.forward_into(&bits(Bsl::B64, &[3]), 0, &mut d).unwrap();
        assert_eq!(d.copies(), &[(Port(2), bits(Bsl::B64, &[3]))]);
        a.forward_into(&bits(Bsl::B4096, &[4000, 9]), 0, &mut d)
            .unwrap();
        assert_eq!(d.copies(), &[(Port(1), bits(Bsl::B4096, &[4000]))]);
        assert_eq!(d.unknown(), &bits(Bsl::B4096, &[9]));
    }

    #[test]
    fn entries_read_back() {
        let t = Bift::from_next_hops(
            SetId(3),
            Bsl::B256,
            [bp(1)],
            [(bp(200), vec![Port(2), Port(3)]), (bp(201), vec![Port(3)])],
        );
        assert_eq!(t.positions().collect::<Vec<_>>(), vec![bp(200), bp(201)]);
        let e: Vec<_> = t.entry(bp(200)).map(|(p, f)| (p, f.clone())).collect();
        assert_eq!(
            e,
            vec![
                (Port(2), bits(Bsl::B256, &[200])),
                (Port(3), bits(Bsl::B256, &[200, 201]))
            ]
        );
        assert_eq!(t.si(), SetId(3));
    }
}
