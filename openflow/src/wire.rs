//! Byte-level reading and writing shared by every codec in this crate.
//!
//! `Reader` never panics: every read is bounds-checked and fails with a `DecodeError` naming the
//! structure being read (`ctx`) and the offset. `Writer` writes into a slice that the caller sized
//! with `Wire::wire_len`; every byte, padding included, is written explicitly, so an encoder that
//! forgets a field leaves the caller's fill pattern visible (the 0xa5 emit tests rely on this).

use crate::error::DecodeError;

/// A bounds-checked cursor over received bytes.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    ctx: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`; `ctx` names what is being decoded, for errors.
    #[inline]
    pub fn new(buf: &'a [u8], ctx: &'static str) -> Self {
        Reader { buf, pos: 0, ctx }
    }

    /// The structure this reader decodes.
    #[inline]
    pub fn ctx(&self) -> &'static str {
        self.ctx
    }

    /// Bytes consumed so far.
    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not consumed yet.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    #[inline]
    fn truncated(&self, need: usize) -> DecodeError {
        DecodeError::Truncated {
            ctx: self.ctx,
            offset: self.pos,
            need,
            have: self.remaining(),
        }
    }

    /// Takes the next `n` bytes.
    #[inline]
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(self.truncated(n));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Takes the next `N` bytes as an array.
    #[inline]
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.bytes(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Looks at the next `n` bytes without consuming them.
    #[inline]
    pub fn peek(&self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(self.truncated(n));
        }
        Ok(&self.buf[self.pos..self.pos + n])
    }

    #[inline]
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    #[inline]
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    #[inline]
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    #[inline]
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Skips `n` bytes (padding). Receivers ignore pad contents (OF1.3.5 §7: pads are
    /// "set to zero" by senders; we do not reject non-zero pads from peers).
    #[inline]
    pub fn skip(&mut self, n: usize) -> Result<(), DecodeError> {
        self.bytes(n).map(|_| ())
    }

    /// Everything not consumed yet.
    #[inline]
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// A reader over the next `len` bytes, which it consumes from this one.
    #[inline]
    pub fn sub(&mut self, len: usize, ctx: &'static str) -> Result<Reader<'a>, DecodeError> {
        let s = self.bytes(len)?;
        Ok(Reader::new(s, ctx))
    }

    /// A structure announced `len` bytes including a header of `header` bytes already read
    /// at `start`: gives a reader over the rest of it, checking the length is sane.
    #[inline]
    pub fn sub_after_header(
        &mut self,
        start: usize,
        len: usize,
        header: usize,
        ctx: &'static str,
    ) -> Result<Reader<'a>, DecodeError> {
        let consumed = self.pos - start;
        if len < header || len < consumed {
            return Err(DecodeError::BadLength {
                ctx,
                len,
                min: header.max(consumed),
            });
        }
        self.sub(len - consumed, ctx)
    }

    /// Fails unless every byte was consumed ("nothing left over").
    #[inline]
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                ctx: self.ctx,
                offset: self.pos,
                extra: self.remaining(),
            })
        }
    }
}

/// A cursor that writes into a slice pre-sized by `Wire::wire_len`.
///
/// Writing past the end is a bug in a `wire_len`/`emit` pair, never a property of input; it
/// panics with a message naming that bug (the round-trip proptests keep the pairs consistent).
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    #[inline]
    pub fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    /// Bytes written so far.
    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }

    #[inline]
    pub fn bytes(&mut self, b: &[u8]) {
        let end = self.pos + b.len();
        assert!(
            end <= self.buf.len(),
            "openflow: emit wrote past wire_len ({end} > {})",
            self.buf.len()
        );
        self.buf[self.pos..end].copy_from_slice(b);
        self.pos = end;
    }

    #[inline]
    pub fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }

    #[inline]
    pub fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }

    #[inline]
    pub fn u32(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }

    #[inline]
    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_be_bytes());
    }

    /// Writes `n` zero bytes (padding).
    #[inline]
    pub fn zeros(&mut self, n: usize) {
        const Z: [u8; 64] = [0; 64];
        let mut left = n;
        while left > 0 {
            let k = left.min(Z.len());
            self.bytes(&Z[..k]);
            left -= k;
        }
    }

    /// Pads with zeros so that the bytes written since `start` are a multiple of 8.
    #[inline]
    pub fn pad8_from(&mut self, start: usize) {
        let n = pad8(self.pos - start);
        self.zeros(n);
    }
}

/// Padding that brings `len` to a multiple of 8.
pub const fn pad8(len: usize) -> usize {
    (8 - len % 8) % 8
}

/// `len` rounded up to a multiple of 8.
pub const fn round8(len: usize) -> usize {
    len + pad8(len)
}

/// A structure with an exact wire form.
pub trait Wire: Sized {
    /// Bytes `emit` writes.
    fn wire_len(&self) -> usize;
    /// Writes exactly `wire_len()` bytes.
    fn emit(&self, w: &mut Writer<'_>);
    /// Reads one value, consuming exactly its bytes.
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// The encoding as a new vector.
    fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.wire_len()];
        self.emit(&mut Writer::new(&mut v));
        v
    }
}

/// Parses values back to back until the reader is empty (action lists, bucket lists, ...).
pub fn parse_list<T: Wire>(r: &mut Reader<'_>) -> Result<Vec<T>, DecodeError> {
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(T::parse(r)?);
    }
    Ok(out)
}

/// Total wire length of a list.
pub fn list_len<T: Wire>(items: &[T]) -> usize {
    items.iter().map(Wire::wire_len).sum()
}

/// Emits a list back to back.
pub fn emit_list<T: Wire>(items: &[T], w: &mut Writer<'_>) {
    for i in items {
        i.emit(w);
    }
}

/// Narrows a computed length into a u16 length field. Callers check the total message size
/// (≤ 65535) before emitting, so inner lengths fit too.
pub(crate) fn len16(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_reports_truncation_with_context() {
        let mut r = Reader::new(&[1, 2, 3], "flow_mod");
        assert_eq!(r.u16().unwrap(), 0x0102);
        let e = r.u32().unwrap_err();
        assert_eq!(
            e,
            DecodeError::Truncated {
                ctx: "flow_mod",
                offset: 2,
                need: 4,
                have: 1
            }
        );
    }

    #[test]
    fn finish_rejects_leftovers() {
        let mut r = Reader::new(&[0; 4], "bucket");
        r.u16().unwrap();
        assert!(matches!(
            r.finish(),
            Err(DecodeError::TrailingBytes { extra: 2, .. })
        ));
    }

    #[test]
    fn padding() {
        assert_eq!(pad8(0), 0);
        assert_eq!(pad8(4), 4);
        assert_eq!(round8(9), 16);
    }
}
