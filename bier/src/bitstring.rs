//! BitString lengths and bit strings (RFC 8296 §2.1.2, RFC 8279 §3).
//!
//! A [`BitString`] holds exactly `bsl` bits. Bit position 1 is the low-order bit of the last
//! byte on the wire (RFC 8279 §3), so internally word 0 holds positions 1..=64. Strings up to
//! 256 bits (the common BSL) live inline, so a copy on the forwarding path allocates nothing
//! and stays small; longer ones live on the heap.
//! No operation panics: out-of-range positions are refused, and binary operations between
//! strings of different lengths treat missing words as zero.

use core::fmt;

use crate::id::BitPosition;

/// BitString length, with its 4-bit wire code (RFC 8296 §2.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Bsl {
    /// 64 bits, code 1.
    B64 = 1,
    /// 128 bits, code 2.
    B128 = 2,
    /// 256 bits, code 3.
    B256 = 3,
    /// 512 bits, code 4.
    B512 = 4,
    /// 1024 bits, code 5.
    B1024 = 5,
    /// 2048 bits, code 6.
    B2048 = 6,
    /// 4096 bits, code 7.
    B4096 = 7,
}

impl Bsl {
    /// Every length RFC 8296 defines, shortest first.
    pub const ALL: [Bsl; 7] = [
        Bsl::B64,
        Bsl::B128,
        Bsl::B256,
        Bsl::B512,
        Bsl::B1024,
        Bsl::B2048,
        Bsl::B4096,
    ];

    /// The length for a wire code; `None` for 0 and 8..=15, which RFC 8296 leaves undefined.
    pub const fn from_code(code: u8) -> Option<Bsl> {
        match code {
            1 => Some(Bsl::B64),
            2 => Some(Bsl::B128),
            3 => Some(Bsl::B256),
            4 => Some(Bsl::B512),
            5 => Some(Bsl::B1024),
            6 => Some(Bsl::B2048),
            7 => Some(Bsl::B4096),
            _ => None,
        }
    }

    /// The length for a number of bits, if it is one RFC 8296 defines.
    pub const fn from_bits(bits: usize) -> Option<Bsl> {
        match bits {
            64 => Some(Bsl::B64),
            128 => Some(Bsl::B128),
            256 => Some(Bsl::B256),
            512 => Some(Bsl::B512),
            1024 => Some(Bsl::B1024),
            2048 => Some(Bsl::B2048),
            4096 => Some(Bsl::B4096),
            _ => None,
        }
    }

    /// The 4-bit wire code.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// Length in bits: 2^(code + 5).
    pub const fn bits(self) -> usize {
        32 << self.code()
    }

    /// Length in bytes on the wire.
    pub const fn bytes(self) -> usize {
        self.bits() / 8
    }

    /// Length in 64-bit words.
    pub const fn words(self) -> usize {
        self.bits() / 64
    }
}

impl fmt::Display for Bsl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.bits())
    }
}

const INLINE_WORDS: usize = 4;

// Unused inline words stay zero, so the derived equality and hash are exact.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Words {
    Inline([u64; INLINE_WORDS]),
    Heap(Box<[u64]>),
}

/// A BIER BitString of one of the RFC 8296 lengths.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BitString {
    bsl: Bsl,
    words: Words,
}

impl Default for BitString {
    /// An empty 64-bit string.
    fn default() -> Self {
        BitString::zero(Bsl::B64)
    }
}

impl BitString {
    /// All bits clear.
    pub fn zero(bsl: Bsl) -> Self {
        let words = if bsl.words() <= INLINE_WORDS {
            Words::Inline([0; INLINE_WORDS])
        } else {
            Words::Heap(vec![0; bsl.words()].into_boxed_slice())
        };
        BitString { bsl, words }
    }

    /// Clears every bit and sets the length, reusing the storage when it can.
    pub fn reset(&mut self, bsl: Bsl) {
        if self.bsl == bsl {
            self.words_mut().fill(0);
        } else {
            *self = BitString::zero(bsl);
        }
    }

    /// From 64-bit words, word 0 holding positions 1..=64; `None` unless `words.len()` fits `bsl`.
    pub fn from_words(bsl: Bsl, words: &[u64]) -> Option<Self> {
        if words.len() != bsl.words() {
            return None;
        }
        let mut s = BitString::zero(bsl);
        s.words_mut().copy_from_slice(words);
        Some(s)
    }

    /// A string with the given positions set; positions beyond `bsl` are left out.
    pub fn from_positions(bsl: Bsl, positions: impl IntoIterator<Item = BitPosition>) -> Self {
        let mut s = BitString::zero(bsl);
        for p in positions {
            s.set(p);
        }
        s
    }

    /// From wire bytes (network order); `None` unless `bytes.len()` is `bsl.bytes()`.
    pub fn from_bytes(bsl: Bsl, bytes: &[u8]) -> Option<Self> {
        if bytes.len() != bsl.bytes() {
            return None;
        }
        let mut s = BitString::zero(bsl);
        // The last 8 bytes on the wire carry positions 1..=64 (RFC 8279 §3).
        for (w, chunk) in s.words_mut().iter_mut().zip(bytes.rchunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *w = u64::from_be_bytes(b);
        }
        Some(s)
    }

    /// From wire bytes, the length telling the BSL.
    pub fn from_wire(bytes: &[u8]) -> Option<Self> {
        BitString::from_bytes(Bsl::from_bits(bytes.len() * 8)?, bytes)
    }

    /// Writes the wire form into `out`; `false` (nothing written) unless `out.len()` is `bsl.bytes()`.
    pub fn write_bytes(&self, out: &mut [u8]) -> bool {
        if out.len() != self.bsl.bytes() {
            return false;
        }
        for (chunk, w) in out.rchunks_exact_mut(8).zip(self.words()) {
            chunk.copy_from_slice(&w.to_be_bytes());
        }
        true
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0; self.bsl.bytes()];
        self.write_bytes(&mut out);
        out
    }

    /// The length.
    pub fn bsl(&self) -> Bsl {
        self.bsl
    }

    /// The 64-bit words, word 0 holding positions 1..=64.
    pub fn words(&self) -> &[u64] {
        let n = self.bsl.words();
        match &self.words {
            Words::Inline(w) => w.get(..n).unwrap_or(&[]),
            Words::Heap(w) => w,
        }
    }

    pub(crate) fn words_mut(&mut self) -> &mut [u64] {
        let n = self.bsl.words();
        match &mut self.words {
            Words::Inline(w) => w.get_mut(..n).unwrap_or(&mut []),
            Words::Heap(w) => w,
        }
    }

    fn locate(&self, p: BitPosition) -> Option<(usize, u64)> {
        let idx = usize::from(p.get()) - 1;
        (idx < self.bsl.bits()).then_some((idx / 64, 1u64 << (idx % 64)))
    }

    /// Sets a position; `false` if it lies beyond the length.
    pub fn set(&mut self, p: BitPosition) -> bool {
        let Some((w, m)) = self.locate(p) else {
            return false;
        };
        match self.words_mut().get_mut(w) {
            Some(x) => {
                *x |= m;
                true
            }
            None => false,
        }
    }

    /// Clears a position (nothing happens beyond the length).
    pub fn clear(&mut self, p: BitPosition) {
        if let Some((w, m)) = self.locate(p) {
            if let Some(x) = self.words_mut().get_mut(w) {
                *x &= !m;
            }
        }
    }

    /// Whether a position is set (`false` beyond the length).
    pub fn test(&self, p: BitPosition) -> bool {
        self.locate(p)
            .and_then(|(w, m)| self.words().get(w).map(|x| x & m != 0))
            .unwrap_or(false)
    }

    /// No bit set.
    pub fn is_zero(&self) -> bool {
        self.words().iter().all(|&w| w == 0)
    }

    /// Number of set bits.
    pub fn count_ones(&self) -> u32 {
        self.words().iter().map(|w| w.count_ones()).sum()
    }

    /// Whether the two strings share a set bit.
    pub fn intersects(&self, other: &BitString) -> bool {
        self.words()
            .iter()
            .zip(other.words())
            .any(|(a, b)| a & b != 0)
    }

    /// `self & other`, with `self`'s length.
    pub fn and(&self, other: &BitString) -> BitString {
        let mut r = self.clone();
        r.and_assign(other);
        r
    }

    /// `self &= other`; words `other` lacks count as zero.
    pub fn and_assign(&mut self, other: &BitString) {
        let o = other.words();
        for (i, a) in self.words_mut().iter_mut().enumerate() {
            *a &= o.get(i).copied().unwrap_or(0);
        }
    }

    /// `self & !other`, with `self`'s length.
    pub fn and_not(&self, other: &BitString) -> BitString {
        let mut r = self.clone();
        r.and_not_assign(other);
        r
    }

    /// `self &= !other`.
    pub fn and_not_assign(&mut self, other: &BitString) {
        for (a, b) in self.words_mut().iter_mut().zip(other.words()) {
            *a &= !b;
        }
    }

    /// `self | other`, with `self`'s length.
    pub fn or(&self, other: &BitString) -> BitString {
        let mut r = self.clone();
        r.or_assign(other);
        r
    }

    /// `self |= other`; bits of `other` beyond `self`'s length are dropped.
    pub fn or_assign(&mut self, other: &BitString) {
        for (a, b) in self.words_mut().iter_mut().zip(other.words()) {
            *a |= b;
        }
    }

    /// From `N` words, `N` being `bsl.words()` (the forwarding fast path).
    pub(crate) fn from_array<const N: usize>(bsl: Bsl, w: &[u64; N]) -> BitString {
        if N <= INLINE_WORDS {
            let mut a = [0; INLINE_WORDS];
            for (x, y) in a.iter_mut().zip(w) {
                *x = *y;
            }
            BitString {
                bsl,
                words: Words::Inline(a),
            }
        } else {
            BitString {
                bsl,
                words: Words::Heap(w.to_vec().into_boxed_slice()),
            }
        }
    }

    /// The set positions, lowest first, found word by word.
    pub fn ones(&self) -> Ones<'_> {
        let words = self.words();
        Ones {
            words,
            w: 0,
            cur: words.first().copied().unwrap_or(0),
        }
    }
}

impl fmt::Debug for BitString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BitString<{}>", self.bsl)?;
        f.debug_set().entries(self.ones().map(|p| p.get())).finish()
    }
}

/// Iterator over the set positions of a [`BitString`], lowest first.
#[derive(Clone, Debug)]
pub struct Ones<'a> {
    words: &'a [u64],
    w: usize,
    cur: u64,
}

impl Iterator for Ones<'_> {
    type Item = BitPosition;

    fn next(&mut self) -> Option<BitPosition> {
        while self.cur == 0 {
            self.w += 1;
            self.cur = *self.words.get(self.w)?;
        }
        let tz = self.cur.trailing_zeros() as usize;
        self.cur &= self.cur - 1;
        BitPosition::from_index(self.w * 64 + tz)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bp(v: u16) -> BitPosition {
        BitPosition::new(v).unwrap()
    }

    #[test]
    fn bsl_codes() {
        for (i, b) in Bsl::ALL.iter().enumerate() {
            assert_eq!(b.code() as usize, i + 1);
            assert_eq!(Bsl::from_code(b.code()), Some(*b));
            assert_eq!(Bsl::from_bits(b.bits()), Some(*b));
        }
        assert_eq!(Bsl::B64.bits(), 64);
        assert_eq!(Bsl::B4096.bits(), 4096);
        assert_eq!(Bsl::from_code(0), None);
        assert_eq!(Bsl::from_code(8), None);
    }

    #[test]
    fn position_one_is_last_wire_bit() {
        let mut s = BitString::zero(Bsl::B128);
        assert!(s.set(bp(1)));
        assert!(s.set(bp(128)));
        let b = s.to_bytes();
        assert_eq!(b[15], 0x01);
        assert_eq!(b[0], 0x80);
        assert_eq!(BitString::from_wire(&b), Some(s));
    }

    #[test]
    fn out_of_range_refused() {
        let mut s = BitString::zero(Bsl::B64);
        assert!(!s.set(bp(65)));
        assert!(!s.test(bp(65)));
        s.clear(bp(65));
        assert!(s.is_zero());
    }

    #[test]
    fn ops_every_length() {
        for bsl in Bsl::ALL {
            let n = bsl.bits() as u16;
            let a = BitString::from_positions(bsl, [1, 2, n / 2, n].map(bp));
            let b = BitString::from_positions(bsl, [2, n].map(bp));
            assert_eq!(a.and(&b), b);
            assert_eq!(
                a.and_not(&b).ones().map(|p| p.get()).collect::<Vec<_>>(),
                vec![1, n / 2]
            );
            assert_eq!(a.or(&b), a);
            assert!(a.intersects(&b));
            assert_eq!(a.count_ones(), 4);
            assert_eq!(BitString::from_wire(&a.to_bytes()), Some(a.clone()));
        }
    }

    #[test]
    fn mixed_lengths_do_not_panic() {
        let a = BitString::from_positions(Bsl::B64, [bp(3)]);
        let b = BitString::from_positions(Bsl::B4096, [bp(3), bp(4000)]);
        assert_eq!(a.and(&b), a);
        assert_eq!(b.and(&a).count_ones(), 1);
        assert_eq!(a.or(&b).count_ones(), 1);
        assert!(b.and_not(&a).test(bp(4000)));
    }
}
