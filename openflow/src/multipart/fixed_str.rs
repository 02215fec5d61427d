//! `FixedStr<N>`: a NUL-padded text field of exactly `N` bytes, as in `ofp_desc` and
//! `ofp_table_features` (OF1.3.5 §7.3.5.1, §7.3.5.18).
//!
//! The field is kept as its raw `N` bytes, so every received value, including bytes after the
//! NUL terminator or text that is not UTF-8, survives a decode/encode round trip unchanged.
//! Reading it as text stops at the first NUL.

use crate::error::DecodeError;
use crate::wire::{Reader, Wire, Writer};
use std::borrow::Cow;

/// `N` bytes of NUL-terminated, NUL-padded text (`char name[N]`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FixedStr<const N: usize>([u8; N]);

impl<const N: usize> FixedStr<N> {
    /// The text `s`, cut to at most `N - 1` bytes on a character boundary so that a NUL
    /// terminator always follows (the spec's strings are "null-terminated"), NUL-padded.
    pub fn new(s: &str) -> Self {
        let mut end = s.len().min(N.saturating_sub(1));
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let mut b = [0u8; N];
        b[..end].copy_from_slice(&s.as_bytes()[..end]);
        FixedStr(b)
    }

    /// A field holding exactly these bytes.
    pub const fn from_bytes(bytes: [u8; N]) -> Self {
        FixedStr(bytes)
    }

    /// All `N` bytes as on the wire.
    pub const fn as_bytes(&self) -> &[u8; N] {
        &self.0
    }

    /// The text bytes: everything before the first NUL (all `N` bytes if there is none).
    pub fn text_bytes(&self) -> &[u8] {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(N);
        &self.0[..end]
    }

    /// The text, with any invalid UTF-8 replaced.
    pub fn to_str_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.text_bytes())
    }

    /// Whether every byte after the text is NUL, as senders are meant to pad.
    pub fn is_canonical(&self) -> bool {
        self.0[self.text_bytes().len()..].iter().all(|&b| b == 0)
    }
}

impl<const N: usize> Default for FixedStr<N> {
    fn default() -> Self {
        FixedStr([0; N])
    }
}

impl<const N: usize> From<&str> for FixedStr<N> {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl<const N: usize> core::fmt::Display for FixedStr<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.to_str_lossy())
    }
}

impl<const N: usize> core::fmt::Debug for FixedStr<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.is_canonical() {
            write!(f, "{:?}", self.to_str_lossy())
        } else {
            // Show what follows the terminator too: two values that print alike must be equal.
            write!(
                f,
                "{:?}+{:02x?}",
                self.to_str_lossy(),
                &self.0[self.text_bytes().len()..]
            )
        }
    }
}

impl<const N: usize> Wire for FixedStr<N> {
    fn wire_len(&self) -> usize {
        N
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.bytes(&self.0);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(FixedStr(r.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_truncates_and_terminates() {
        let s = FixedStr::<4>::new("abcdef");
        assert_eq!(s.as_bytes(), b"abc\0");
        assert_eq!(s.to_str_lossy(), "abc");
        // "é" is two bytes: cutting must not split it.
        let s = FixedStr::<3>::new("aé");
        assert_eq!(s.as_bytes(), b"a\0\0");
        assert_eq!(FixedStr::<0>::new("x").as_bytes(), b"");
    }

    #[test]
    fn raw_bytes_survive() {
        let s = FixedStr::from_bytes(*b"ab\0z");
        assert_eq!(s.to_str_lossy(), "ab");
        assert!(!s.is_canonical());
        assert_eq!(s.to_vec(), b"ab\0z");
        assert_eq!(format!("{s:?}"), "\"ab\"+[00, 7a]");
        let full = FixedStr::from_bytes(*b"abcd");
        assert_eq!(full.text_bytes(), b"abcd");
    }
}
