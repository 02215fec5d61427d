//! Byte-level reading and writing shared by every codec in this crate.
//!
//! `Reader` never panics: every read is bounds-checked and fails with a `DecodeError` naming the
//! structure being read (`ctx`) and the offset. `Writer` writes into a slice that the caller sized
//! with `Wire::wire_len`; every byte, padding included, is written explicitly, so an encoder that
//! forgets a field leaves the caller's fill pattern visible (the 0xa5 emit tests rely on this).

use crate::error::DecodeError;

/// A bounds-checked cursor over received bytes.
#[derive(Clone)]
pub struct Reader<'a> {
    /// Everything this reader covers (for `pos` and `Debug`).
    buf: &'a [u8],
    /// The bytes not consumed yet, a suffix of `buf`. Keeping the suffix rather than an offset
    /// makes each read one length comparison and no `offset ≤ len` check.
    rest: &'a [u8],
    ctx: &'static str,
}

impl core::fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Reader")
            .field("buf", &self.buf)
            .field("pos", &self.pos())
            .field("ctx", &self.ctx)
            .finish()
    }
}

/// `DecodeError::Truncated`, built out of line and only when it happens: the success path of
/// every read is then a compare and a pointer bump, small enough to inline everywhere. Values,
/// not `&Reader`, so the reader itself can stay in registers.
#[cold]
#[inline(never)]
fn truncated(ctx: &'static str, offset: usize, need: usize, have: usize) -> DecodeError {
    DecodeError::Truncated {
        ctx,
        offset,
        need,
        have,
    }
}

impl<'a> Reader<'a> {
    /// A reader over `buf`; `ctx` names what is being decoded, for errors.
    #[inline]
    pub fn new(buf: &'a [u8], ctx: &'static str) -> Self {
        Reader {
            buf,
            rest: buf,
            ctx,
        }
    }

    /// The structure this reader decodes.
    #[inline]
    pub fn ctx(&self) -> &'static str {
        self.ctx
    }

    /// Bytes consumed so far.
    #[inline]
    pub fn pos(&self) -> usize {
        self.buf.len() - self.rest.len()
    }

    /// Bytes not consumed yet.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    #[inline(always)]
    fn truncated(&self, need: usize) -> DecodeError {
        self.truncated_as(self.ctx, need)
    }

    /// `Truncated` for a structure named `ctx` that needs `need` bytes from here.
    #[inline(always)]
    pub(crate) fn truncated_as(&self, ctx: &'static str, need: usize) -> DecodeError {
        truncated(ctx, self.pos(), need, self.remaining())
    }

    /// The bytes not consumed yet.
    #[inline(always)]
    pub(crate) fn unread(&self) -> &'a [u8] {
        self.rest
    }

    /// Takes the next `n` bytes if there are that many (the caller builds the error, e.g.
    /// with `truncated_as`, only when there are not).
    #[inline(always)]
    pub(crate) fn try_bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let (s, rest) = self.rest.split_at_checked(n)?;
        self.rest = rest;
        Some(s)
    }

    /// Takes the next `n` bytes.
    #[inline]
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        match self.try_bytes(n) {
            Some(s) => Ok(s),
            None => Err(self.truncated(n)),
        }
    }

    /// Takes the next `n` bytes of a structure named `ctx` that announced `n` bytes: running
    /// past the end is `Truncated` naming that structure, not the reader's.
    #[inline]
    pub(crate) fn bytes_as(
        &mut self,
        n: usize,
        ctx: &'static str,
    ) -> Result<&'a [u8], DecodeError> {
        match self.try_bytes(n) {
            Some(s) => Ok(s),
            None => Err(self.truncated_as(ctx, n)),
        }
    }

    /// Takes the next `N` bytes as an array.
    #[inline(always)]
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        match self.rest.split_first_chunk::<N>() {
            Some((a, rest)) => {
                self.rest = rest;
                Ok(*a)
            }
            None => Err(self.truncated(N)),
        }
    }

    /// The next `N` bytes as a reader of their own (consumed from this one), if there are
    /// that many: for a fixed-size part read field by field. Over a reader of known length
    /// the compiler sees every read of an inlined field parser in bounds and drops the checks.
    /// When it is `None`, parse from `self` instead: that fails exactly where reading field by
    /// field fails (same error, same offset).
    #[inline(always)]
    pub(crate) fn split_fixed<const N: usize>(&mut self) -> Option<Reader<'a>> {
        let (part, rest) = self.rest.split_first_chunk::<N>()?;
        self.rest = rest;
        Some(Reader::new(part, self.ctx))
    }

    /// Looks at the next `n` bytes without consuming them.
    #[inline]
    pub fn peek(&self, n: usize) -> Result<&'a [u8], DecodeError> {
        match self.unread().get(..n) {
            Some(s) => Ok(s),
            None => Err(self.truncated(n)),
        }
    }

    #[inline(always)]
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    #[inline(always)]
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    #[inline(always)]
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    #[inline(always)]
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Skips `n` bytes (padding). Receivers ignore pad contents (OF1.3.5 §7: pads are
    /// "set to zero" by senders; we do not reject non-zero pads from peers).
    #[inline(always)]
    pub fn skip(&mut self, n: usize) -> Result<(), DecodeError> {
        self.bytes(n).map(|_| ())
    }

    /// Everything not consumed yet.
    #[inline]
    pub fn rest(&mut self) -> &'a [u8] {
        let s = self.rest;
        self.rest = &s[s.len()..];
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
        let consumed = self.pos() - start;
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
            Err(self.trailing())
        }
    }

    #[cold]
    #[inline(never)]
    fn trailing(&self) -> DecodeError {
        DecodeError::TrailingBytes {
            ctx: self.ctx,
            offset: self.pos(),
            extra: self.remaining(),
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
        self.take(b.len()).copy_from_slice(b);
    }

    /// The next `n` bytes of the buffer, counted as written: the caller fills every one (so
    /// a structure can be assembled in place, with its bounds checked once).
    #[inline]
    pub(crate) fn take(&mut self, n: usize) -> &mut [u8] {
        let (pos, len) = (self.pos, self.buf.len());
        match self.buf.get_mut(pos..).and_then(|t| t.get_mut(..n)) {
            Some(out) => {
                self.pos = pos + n;
                out
            }
            None => overrun(pos + n, len),
        }
    }

    /// The next `N` bytes as an array to fill in place (see `take`).
    #[inline]
    pub(crate) fn take_array<const N: usize>(&mut self) -> &mut [u8; N] {
        let (pos, len) = (self.pos, self.buf.len());
        match self
            .buf
            .get_mut(pos..)
            .and_then(|t| t.first_chunk_mut::<N>())
        {
            Some(out) => {
                self.pos = pos + N;
                out
            }
            None => overrun(pos + N, len),
        }
    }

    /// Overwrites the 16-bit length field written earlier at `at` (a length known only once
    /// the structure's contents are written: one pass instead of a `wire_len` walk first).
    #[inline]
    pub(crate) fn patch_u16(&mut self, at: usize, v: u16) {
        let len = self.buf.len();
        match self
            .buf
            .get_mut(at..)
            .and_then(|t| t.first_chunk_mut::<2>())
        {
            Some(out) => *out = v.to_be_bytes(),
            None => overrun(at + 2, len),
        }
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
        self.take(n).fill(0);
    }

    /// Pads with zeros so that the bytes written since `start` are a multiple of 8.
    #[inline]
    pub fn pad8_from(&mut self, start: usize) {
        let n = pad8(self.pos - start);
        self.zeros(n);
    }
}

/// Writing past the end of the buffer: a `wire_len`/`emit` pair that disagree (our bug).
#[cold]
#[inline(never)]
#[track_caller]
fn overrun(end: usize, len: usize) -> ! {
    panic!("openflow: emit wrote past wire_len ({end} > {len})")
}

/// Padding that brings `len` to a multiple of 8.
#[inline]
pub const fn pad8(len: usize) -> usize {
    (8 - len % 8) % 8
}

/// `len` rounded up to a multiple of 8.
#[inline]
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

/// How many elements a list of TLVs holds, each with a 16-bit length (of the whole element) at
/// byte `len_at`, as a capacity for the vector they decode into: exact for a well-formed list,
/// and never more than `1 + bytes.len() / min` whatever the bytes (a length below `min` counts
/// as `min`), so hostile input cannot make us reserve much.
#[inline]
pub(crate) fn count_tlv16(mut bytes: &[u8], len_at: usize, min: usize) -> usize {
    let mut n = 0;
    while let Some(&[a, b]) = bytes.get(len_at..len_at + 2) {
        n += 1;
        let len = usize::from(u16::from_be_bytes([a, b])).max(min);
        bytes = bytes.get(len..).unwrap_or_default();
    }
    n
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
