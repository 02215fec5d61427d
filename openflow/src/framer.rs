//! Cutting a byte stream (TCP or TLS, OF1.3.5 §6.3) into whole OpenFlow messages.
//!
//! `Framer::extend` takes bytes as they arrive, in pieces of any size; `Framer::next_frame`
//! gives one whole message at a time, borrowed from the framer's buffer, and `next_message`
//! decodes it. Bytes are copied once into the buffer and once more at most when the consumed
//! front is dropped (only after at least half the buffer has been consumed), so the work is
//! linear in the bytes received however they are split.
//!
//! Errors, and where the framer stands after each:
//! - `BadVersion` (a version other than 0x04, except HELLO, which any version may send for
//!   negotiation, OF1.3.5 §6.3.1), `TooLong` (above the configured maximum) and `Decode` (from
//!   `next_message`: framed correctly, body invalid) skip exactly the bad message, using its
//!   length field; bytes of it that have not arrived yet are dropped as they come. The next
//!   call continues with the following message.
//! - `BadLength` (a length field below 8, the header's own size) is fatal: the length field is
//!   the only delimiter in an OpenFlow stream, so the framer cannot know where the next message
//!   starts, and any guess would read payload bytes as headers. Every later call returns the
//!   same error and further bytes are ignored; the connection must be closed (after an
//!   `OFPBRC_BAD_LEN` error reply, see `FramerError::error_reply`).

use crate::error::DecodeError;
use crate::error_msg::{BadRequestCode, MAX_OFFENDING_LEN};
use crate::header::{Header, HeaderRepr, MsgType, HEADER_LEN, MAX_MESSAGE_LEN};
use crate::message::Message;
use crate::types::OFP_VERSION;

/// Why the stream could not give a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramerError {
    /// A length field below 8. Fatal to the stream (see the module header).
    #[error("OpenFlow length field {length} is below the 8-byte header: stream cannot be framed")]
    BadLength {
        /// The announced length.
        length: u16,
        /// The offending header.
        header: [u8; 8],
    },
    /// A version this codec does not speak; the message was skipped.
    #[error("unsupported OpenFlow version {:#04x} in {} (xid {}), message skipped", header.version, header.kind, header.xid.0)]
    BadVersion {
        header: HeaderRepr,
        /// The message's first bytes (at most 64), for the error reply.
        head: Vec<u8>,
    },
    /// A message longer than the framer's maximum; it was skipped.
    #[error("{} of {} bytes exceeds the {max}-byte limit, message skipped", header.kind, header.length)]
    TooLong {
        header: HeaderRepr,
        max: usize,
        /// The message's first bytes (at most 64).
        head: Vec<u8>,
    },
    /// A whole message whose body is invalid (`next_message` only); it was skipped.
    #[error("{} (xid {}): {error}", header.kind, header.xid.0)]
    Decode {
        header: HeaderRepr,
        error: DecodeError,
        /// The message's first bytes (at most 64).
        head: Vec<u8>,
    },
}

impl FramerError {
    /// Whether the stream is lost (only `BadLength`).
    pub fn is_fatal(&self) -> bool {
        matches!(self, FramerError::BadLength { .. })
    }

    /// The first bytes (at most 64) of the offending message.
    pub fn offending(&self) -> &[u8] {
        match self {
            FramerError::BadLength { header, .. } => header,
            FramerError::BadVersion { head, .. }
            | FramerError::TooLong { head, .. }
            | FramerError::Decode { head, .. } => head,
        }
    }

    /// The error a switch sends back for a framing error (OF1.3.5 §7.4.4): `OFPBRC_BAD_VERSION`
    /// or `OFPBRC_BAD_LEN`, with the offending bytes and the offending xid. `None` for
    /// `Decode`, whose right answer depends on what was wrong in the body.
    pub fn error_reply(&self) -> Option<Message> {
        let code = match self {
            FramerError::BadVersion { .. } => BadRequestCode::BadVersion,
            FramerError::BadLength { .. } | FramerError::TooLong { .. } => BadRequestCode::BadLen,
            FramerError::Decode { .. } => return None,
        };
        Some(Message::error_for(self.offending(), code))
    }
}

/// One whole message in the framer's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    header: HeaderRepr,
    bytes: &'a [u8],
}

impl<'a> Frame<'a> {
    /// The header (its version is 0x04, or anything for a HELLO).
    pub fn header(&self) -> HeaderRepr {
        self.header
    }

    /// The whole message, header included.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Decodes the message.
    pub fn message(&self) -> Result<Message, DecodeError> {
        Message::decode(self.bytes)
    }
}

/// Reassembles OpenFlow messages from a byte stream.
#[derive(Debug, Clone)]
pub struct Framer {
    buf: Vec<u8>,
    /// First byte of `buf` not yet handed out.
    start: usize,
    /// Bytes of a skipped message that have not arrived yet; dropped as they come.
    discard: usize,
    max_len: usize,
    fatal: Option<FramerError>,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new()
    }
}

impl Framer {
    /// A framer that accepts messages up to 65535 bytes (the protocol's maximum).
    pub fn new() -> Framer {
        Framer {
            buf: Vec::new(),
            start: 0,
            discard: 0,
            max_len: MAX_MESSAGE_LEN,
            fatal: None,
        }
    }

    /// A framer that skips (with `TooLong`) messages longer than `max` bytes, so a peer
    /// cannot make it buffer more than that. `max` is taken as at least 8.
    pub fn with_max_message_len(max: usize) -> Framer {
        Framer {
            max_len: max.clamp(HEADER_LEN, MAX_MESSAGE_LEN),
            ..Framer::new()
        }
    }

    /// Bytes received and not yet handed out.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The fatal error, once one has happened.
    pub fn fatal_error(&self) -> Option<&FramerError> {
        self.fatal.as_ref()
    }

    /// Takes received bytes.
    pub fn extend(&mut self, data: &[u8]) {
        if self.fatal.is_some() {
            return;
        }
        let skip = self.discard.min(data.len());
        self.discard -= skip;
        let data = data.get(skip..).unwrap_or_default();
        if data.is_empty() {
            return;
        }
        // Drop the consumed front only once it is at least half the buffer: each byte is then
        // moved at most once on average.
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Consumes `n` bytes of the current message, including ones not yet received.
    fn skip(&mut self, n: usize) {
        let have = self.buffered();
        if have >= n {
            self.start += n;
        } else {
            self.start = self.buf.len();
            self.discard = n - have;
        }
    }

    /// The first bytes of the message at `start`, for error replies.
    fn head(&self, len: usize) -> Vec<u8> {
        let end = self.start + len.min(MAX_OFFENDING_LEN).min(self.buffered());
        self.buf.get(self.start..end).unwrap_or_default().to_vec()
    }

    /// The next whole message: `None` until one has fully arrived.
    pub fn next_frame(&mut self) -> Option<Result<Frame<'_>, FramerError>> {
        if let Some(e) = &self.fatal {
            return Some(Err(e.clone()));
        }
        let avail = self.buf.get(self.start..).unwrap_or_default();
        let Ok(view) = Header::new_checked(avail) else {
            return None;
        };
        let length = view.length();
        let len = usize::from(length);
        if len < HEADER_LEN {
            let mut header = [0u8; HEADER_LEN];
            header.copy_from_slice(avail.get(..HEADER_LEN).unwrap_or(&[0; HEADER_LEN]));
            let e = FramerError::BadLength { length, header };
            self.fatal = Some(e.clone());
            self.buf = Vec::new();
            self.start = 0;
            return Some(Err(e));
        }
        let header = HeaderRepr {
            version: view.version(),
            kind: view.msg_type(),
            length,
            xid: view.xid(),
        };
        let bad_version = header.version != OFP_VERSION && header.kind != MsgType::Hello;
        if bad_version || len > self.max_len {
            // Report once the bytes an error reply quotes are here, then skip the rest.
            if self.buffered() < len.min(MAX_OFFENDING_LEN) {
                return None;
            }
            let head = self.head(len);
            self.skip(len);
            let e = if bad_version {
                FramerError::BadVersion { header, head }
            } else {
                FramerError::TooLong {
                    header,
                    max: self.max_len,
                    head,
                }
            };
            return Some(Err(e));
        }
        if self.buffered() < len {
            return None;
        }
        let from = self.start;
        self.start += len;
        let bytes = self.buf.get(from..from + len).unwrap_or_default();
        Some(Ok(Frame { header, bytes }))
    }

    /// The next whole message, decoded. A message that does not decode is skipped and
    /// reported as `FramerError::Decode`.
    pub fn next_message(&mut self) -> Option<Result<Message, FramerError>> {
        let frame = match self.next_frame()? {
            Ok(f) => f,
            Err(e) => return Some(Err(e)),
        };
        Some(frame.message().map_err(|error| {
            FramerError::Decode {
                header: frame.header,
                error,
                head: frame
                    .bytes
                    .get(..frame.bytes.len().min(MAX_OFFENDING_LEN))
                    .unwrap_or_default()
                    .to_vec(),
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_msg::ErrorMsg;
    use crate::types::Xid;
    use proptest::prelude::*;

    fn drain(f: &mut Framer) -> Vec<Result<Message, FramerError>> {
        let mut out = Vec::new();
        while let Some(r) = f.next_message() {
            let fatal = matches!(&r, Err(e) if e.is_fatal());
            out.push(r);
            if fatal {
                break;
            }
        }
        out
    }

    #[test]
    fn compaction_keeps_unconsumed_bytes() {
        let m = Message::echo_request(Xid(1), vec![9; 100])
            .encode()
            .unwrap();
        let mut f = Framer::new();
        for _ in 0..50 {
            f.extend(&m);
            f.extend(&m[..30]);
            assert!(matches!(f.next_message(), Some(Ok(_))));
            f.extend(&m[30..]);
            assert!(matches!(f.next_message(), Some(Ok(_))));
            assert!(f.next_message().is_none());
            assert_eq!(f.buffered(), 0);
        }
        // The buffer does not grow with the number of messages.
        assert!(f.buf.capacity() < 8 * m.len());
    }

    #[test]
    fn too_long_is_skipped_as_it_arrives() {
        let big = Message::echo_request(Xid(1), vec![0; 1000])
            .encode()
            .unwrap();
        let small = Message::barrier_request(Xid(2)).encode().unwrap();
        let mut f = Framer::with_max_message_len(512);
        f.extend(&big[..100]);
        match f.next_frame() {
            Some(Err(FramerError::TooLong { max: 512, head, .. })) => assert_eq!(head.len(), 64),
            other => panic!("{other:?}"),
        }
        assert_eq!(f.buffered(), 0);
        f.extend(&big[100..]);
        assert_eq!(f.buffered(), 0);
        f.extend(&small);
        assert_eq!(drain(&mut f), vec![Ok(Message::barrier_request(Xid(2)))]);
    }

    #[test]
    fn error_replies() {
        let mut f = Framer::new();
        f.extend(&[1, 5, 0, 8, 0, 0, 0, 7]);
        let e = f.next_frame().unwrap().unwrap_err();
        let reply = e.error_reply().unwrap();
        assert_eq!(reply.xid, Xid(7));
        assert_eq!(
            reply.body,
            crate::message::Body::Error(ErrorMsg::bad_request(
                BadRequestCode::BadVersion,
                &[1, 5, 0, 8, 0, 0, 0, 7]
            ))
        );
    }

    proptest! {
        #[test]
        fn any_messages_any_chunking(
            msgs in proptest::collection::vec(crate::message::arb::message(), 1..6),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
            flip in proptest::option::of((any::<prop::sample::Index>(), any::<u8>())),
        ) {
            let mut bytes = Vec::new();
            for m in &msgs {
                m.encode_into(&mut bytes).unwrap();
            }
            if let Some((i, v)) = flip {
                let i = i.index(bytes.len());
                bytes[i] = v;
            }
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
            points.extend([0, bytes.len()]);
            points.sort_unstable();
            let mut f = Framer::new();
            let mut got = Vec::new();
            for w in points.windows(2) {
                f.extend(&bytes[w[0]..w[1]]);
                got.extend(drain(&mut f));
            }
            if flip.is_none() {
                prop_assert_eq!(got, msgs.into_iter().map(Ok).collect::<Vec<_>>());
            }
        }

        #[test]
        fn never_panics(chunks in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..40), 0..10)) {
            let mut f = Framer::new();
            for c in &chunks {
                f.extend(c);
                let _ = drain(&mut f);
            }
        }
    }
}
