//! Reassembly of multipart replies sent in several messages (`OFPMPF_REPLY_MORE`,
//! OF1.3.5 §7.3.5): the parts of one request share its xid, and the last one lacks the flag.
//!
//! Guarantee: the bytes held for unfinished replies never exceed the bound given to
//! `Assembler::new`, whatever a peer sends; a part that would pass it fails with
//! `AssembleError::TooLarge` and drops that xid's partial reply.

use super::{MultipartReply, MultipartReplyBody, MultipartType};
use crate::types::Xid;
use crate::wire::Wire;
use std::collections::HashMap;

/// Why a reply part could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssembleError {
    /// The unfinished replies would hold more than the assembler's bound. The xid's partial
    /// reply is dropped.
    #[error("multipart reply {xid:?}: {held} bytes of unfinished replies would exceed the {max}-byte bound")]
    TooLarge { xid: Xid, held: usize, max: usize },
    /// A part whose type (or, for experimenter bodies, experimenter id and type) differs from
    /// the first part's. The xid's partial reply is dropped.
    #[error("multipart reply {xid:?}: part of type {got:?} continues a reply of type {first:?}")]
    Mismatch {
        xid: Xid,
        first: MultipartType,
        got: MultipartType,
    },
    /// `OFPMPF_REPLY_MORE` on a reply that is a single structure (desc, aggregate, group or meter
    /// features), which the spec never splits.
    #[error("multipart reply {xid:?}: {mp_type:?} reply cannot continue in another message")]
    NotContinuable { xid: Xid, mp_type: MultipartType },
}

#[derive(Debug)]
struct Pending {
    reply: MultipartReply,
    /// Sum of the parts' `wire_len`.
    held: usize,
}

/// Collects the parts of multipart replies by xid and hands back each whole reply once its last
/// part (no `REPLY_MORE`) arrives.
#[derive(Debug)]
pub struct Assembler {
    max_held: usize,
    held: usize,
    pending: HashMap<Xid, Pending>,
}

impl Assembler {
    /// An assembler holding at most `max_held` bytes (sum of the parts' `wire_len`) of
    /// unfinished replies across all xids.
    pub fn new(max_held: usize) -> Self {
        Assembler {
            max_held,
            held: 0,
            pending: HashMap::new(),
        }
    }

    /// Adds one received part. Returns the whole reply when `part` completes it (a reply that
    /// came in one message is returned at once), `None` while more parts are expected. The
    /// whole reply has the flags of its last part.
    pub fn push(
        &mut self,
        xid: Xid,
        part: MultipartReply,
    ) -> Result<Option<MultipartReply>, AssembleError> {
        let more = part.more();
        let len = part.wire_len();
        let Some(mut p) = self.pending.remove(&xid) else {
            if !more {
                return Ok(Some(part));
            }
            if !continuable(&part.body) {
                return Err(AssembleError::NotContinuable {
                    xid,
                    mp_type: part.mp_type(),
                });
            }
            return self
                .hold(
                    xid,
                    Pending {
                        reply: part,
                        held: len,
                    },
                )
                .map(|()| None);
        };
        self.held -= p.held;
        let (first, got) = (p.reply.mp_type(), part.mp_type());
        if !append(&mut p.reply.body, part.body) {
            return Err(AssembleError::Mismatch { xid, first, got });
        }
        p.held += len;
        if more {
            self.hold(xid, p).map(|()| None)
        } else {
            p.reply.flags = part.flags;
            Ok(Some(p.reply))
        }
    }

    /// Drops the unfinished reply of `xid` (e.g. after an error reply to its request); whether
    /// there was one.
    pub fn abandon(&mut self, xid: Xid) -> bool {
        match self.pending.remove(&xid) {
            Some(p) => {
                self.held -= p.held;
                true
            }
            None => false,
        }
    }

    /// Xids with an unfinished reply.
    pub fn pending(&self) -> impl Iterator<Item = Xid> + '_ {
        self.pending.keys().copied()
    }

    /// Bytes held for unfinished replies.
    pub fn held(&self) -> usize {
        self.held
    }

    fn hold(&mut self, xid: Xid, p: Pending) -> Result<(), AssembleError> {
        let held = self.held + p.held;
        if held > self.max_held {
            return Err(AssembleError::TooLarge {
                xid,
                held,
                max: self.max_held,
            });
        }
        self.held = held;
        self.pending.insert(xid, p);
        Ok(())
    }
}

fn continuable(body: &MultipartReplyBody) -> bool {
    use MultipartReplyBody as B;
    body.is_list() || matches!(body, B::Experimenter(_) | B::Other { .. })
}

/// Appends `more` to `acc` if they are parts of the same reply; false if they are not.
fn append(acc: &mut MultipartReplyBody, more: MultipartReplyBody) -> bool {
    use MultipartReplyBody as B;
    match (acc, more) {
        (B::Flow(a), B::Flow(b)) => a.extend(b),
        (B::Table(a), B::Table(b)) => a.extend(b),
        (B::PortStats(a), B::PortStats(b)) => a.extend(b),
        (B::Queue(a), B::Queue(b)) => a.extend(b),
        (B::Group(a), B::Group(b)) => a.extend(b),
        (B::GroupDesc(a), B::GroupDesc(b)) => a.extend(b),
        (B::Meter(a), B::Meter(b)) => a.extend(b),
        (B::MeterConfig(a), B::MeterConfig(b)) => a.extend(b),
        (B::TableFeatures(a), B::TableFeatures(b)) => a.extend(b),
        (B::PortDesc(a), B::PortDesc(b)) => a.extend(b),
        // Opaque bodies continue by concatenation of their data.
        (B::Experimenter(a), B::Experimenter(b))
            if a.experimenter == b.experimenter && a.exp_type == b.exp_type =>
        {
            a.data.extend(b.data)
        }
        (
            B::Other {
                mp_type: ta,
                body: a,
            },
            B::Other {
                mp_type: tb,
                body: b,
            },
        ) if *ta == tb => a.extend(b),
        _ => return false,
    }
    true
}
