//! The BIER experimenter extension of `drafts/bier-openflow.md`: the controller as the control
//! plane of RFC 8279 BIER and RFC 9262 BIER-TE on OpenFlow 1.3 switches.
//!
//! - Messages ([`BierMessage`], experimenter id [`EXPERIMENTER_ID`]): capability query
//!   ([`CapsRequest`], [`CapsReply`]), BIFT write ([`BiftMod`]), clear/query/reply
//!   ([`BiftSelector`], [`BiftReply`]), local BFR-ids and BFER ports ([`BfrMod`], [`BfrQuery`],
//!   [`BfrReply`]), BIER→TSM caching ([`TsmConfig`], [`TsmEvent`]).
//! - Actions ([`BierAction`]): `bier_encap`, `bier_decap`, `bier_forward`, carried in
//!   [`Action::Experimenter`](crate::Action::Experimenter).
//! - Tables ([`BiftTable`]): a BIFT resolved from its wire form, split into messages that fit
//!   64 KiB ([`BiftTable::bift_mods`]), staged and committed by a switch ([`BiftTxn`]), read back
//!   from replies ([`collect_replies`]).
//! - Errors: [`BierErrorCode`] (the `OFPET_EXPERIMENTER` codes of draft §11) and [`BierError`]
//!   (what `validate` found, with the code a switch answers).
//!
//! Guarantees: decoding never panics and names the structure that was wrong; the codec is
//! structural (it reads what the layout says), and `validate` adds the draft's semantic rules.
//! Emit never panics either and stays consistent with `data_len` whatever the values: a
//! BitString of the wrong length is written right-aligned in the BSL's bytes, a list longer
//! than its count field can say is cut at that count; `validate` refuses both, so call it (a
//! switch does) before sending values that were not decoded.
//!
//! This crate does not depend on the `bier` crate: BitStrings are the RFC 8296 wire bytes
//! (`Vec<u8>`, bit position 1 = lowest bit of the last byte), which convert to and from
//! `bier::BitString` without loss.

mod action;
mod bift;
mod msgs;
mod table;

#[cfg(any(test, feature = "proptest"))]
pub mod arb;

pub use action::{ActionSubtype, BierAction, BierEncap, Entropy};
pub use bift::{
    Adjacency, BierEntry, Bift, BiftCommand, BiftEntries, BiftMod, BiftReply, BiftSelector,
    EntryAction, NextHop, TableKey, TableKind, TeEntry,
};
pub use msgs::{
    BfrCommand, BfrMod, BfrQuery, BfrReply, BslSet, Capabilities, CapsReply, CapsRequest, LocalBfr,
    TsmConfig, TsmEvent, TsmEventKind, TsmFlags, TsmReason,
};
pub use table::{bift_replies, collect_replies, BiftTable, BiftTxn, Commit, Hop, TableEntries};

use crate::error::DecodeError;
use crate::error_msg::ErrorCode;
use crate::experimenter::{Experimenter, ExperimenterMessage};
use crate::macros::open_enum;
use crate::message::Message;
use crate::types::Xid;
use crate::wire::{Reader, Wire, Writer};

/// Our experimenter id, `0x00424945`: "OUI" 42-49-45 is locally administered (U/L bit set,
/// SLAP quadrant AAI), which the IEEE never assigns as an OUI or CID, and its top byte is zero,
/// outside the ONF range (draft §3).
pub const EXPERIMENTER_ID: u32 = 0x0042_4945;

/// The version of the extension this codec speaks (CAPS_REQUEST `ext_version`).
pub const EXT_VERSION: u8 = 1;

/// Largest OpenFlow message (16-bit length, OF1.3.5 §7.1).
pub const MAX_MESSAGE_LEN: usize = 65535;

/// Bytes before the data of every message of ours: `ofp_header` + experimenter + exp_type.
pub const HEADER_LEN: usize = 16;

open_enum! {
    /// `exp_type` of our messages (draft §4).
    pub enum BierType: u32 {
        /// CAPS_REQUEST, controller → switch.
        CapsRequest = 1,
        /// CAPS_REPLY, switch → controller.
        CapsReply = 2,
        /// BIFT_MOD, controller → switch.
        BiftMod = 3,
        /// BIFT_CLEAR, controller → switch.
        BiftClear = 4,
        /// BIFT_QUERY, controller → switch.
        BiftQuery = 5,
        /// BIFT_REPLY, switch → controller.
        BiftReply = 6,
        /// BFR_MOD, controller → switch.
        BfrMod = 7,
        /// BFR_QUERY, controller → switch.
        BfrQuery = 8,
        /// BFR_REPLY, switch → controller.
        BfrReply = 9,
        /// TSM_CONFIG, controller → switch.
        TsmConfig = 10,
        /// TSM_EVENT, switch → controller.
        TsmEvent = 11,
    }
}

/// BitString Length, by its RFC 8296 code (1 = 64 … 7 = 4096 bits). Closed: the length of
/// every BitString and F-BM on the wire follows from it, so an unknown code cannot be skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bsl {
    /// 64 bits, code 1.
    B64,
    /// 128 bits, code 2.
    B128,
    /// 256 bits, code 3.
    B256,
    /// 512 bits, code 4.
    B512,
    /// 1024 bits, code 5.
    B1024,
    /// 2048 bits, code 6.
    B2048,
    /// 4096 bits, code 7.
    B4096,
}

impl Bsl {
    /// Every BSL, shortest first.
    pub const ALL: [Bsl; 7] = [
        Bsl::B64,
        Bsl::B128,
        Bsl::B256,
        Bsl::B512,
        Bsl::B1024,
        Bsl::B2048,
        Bsl::B4096,
    ];

    /// The RFC 8296 code, 1…7.
    pub const fn code(self) -> u8 {
        match self {
            Bsl::B64 => 1,
            Bsl::B128 => 2,
            Bsl::B256 => 3,
            Bsl::B512 => 4,
            Bsl::B1024 => 5,
            Bsl::B2048 => 6,
            Bsl::B4096 => 7,
        }
    }

    /// `None` outside 1…7.
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

    /// Bits, 64 << (code - 1).
    pub const fn bits(self) -> usize {
        64 << (self.code() - 1)
    }

    /// Bytes of a BitString of this length.
    pub const fn bytes(self) -> usize {
        self.bits() / 8
    }

    /// Reads a BSL code, refusing unknown ones (the length of what follows depends on it).
    pub(crate) fn parse(r: &mut Reader<'_>, ctx: &'static str) -> Result<Bsl, DecodeError> {
        let code = r.u8()?;
        Bsl::from_code(code).ok_or(DecodeError::BadValue {
            ctx,
            field: "bsl",
            value: code.into(),
        })
    }
}

/// A BitString of `bsl` with the given positions set (1…BSL; others are ignored), in RFC 8296
/// wire order.
pub fn bits_from_positions(bsl: Bsl, positions: impl IntoIterator<Item = u16>) -> Vec<u8> {
    let mut out = vec![0u8; bsl.bytes()];
    for p in positions {
        set_bit(&mut out, p);
    }
    out
}

/// Sets position `p` (1-based) in wire bytes; nothing if out of range.
pub fn set_bit(bytes: &mut [u8], p: u16) {
    if let Some((i, mask)) = locate(bytes.len(), p) {
        if let Some(b) = bytes.get_mut(i) {
            *b |= mask;
        }
    }
}

/// Whether position `p` (1-based) is set in wire bytes.
pub fn test_bit(bytes: &[u8], p: u16) -> bool {
    locate(bytes.len(), p)
        .and_then(|(i, mask)| bytes.get(i).map(|b| b & mask != 0))
        .unwrap_or(false)
}

/// The set positions of wire bytes, lowest first.
pub fn bit_positions(bytes: &[u8]) -> Vec<u16> {
    let mut out = Vec::new();
    for (i, b) in bytes.iter().rev().enumerate() {
        for bit in 0..8 {
            if b >> bit & 1 == 1 {
                // i < 512 for any BitString; wider inputs stop at u16::MAX.
                if let Ok(p) = u16::try_from(i * 8 + bit + 1) {
                    out.push(p);
                }
            }
        }
    }
    out
}

// Byte index and mask of position `p` in a BitString of `len` bytes (RFC 8279 §3: position 1
// is the low-order bit of the last byte).
fn locate(len: usize, p: u16) -> Option<(usize, u8)> {
    let i = usize::from(p).checked_sub(1)?;
    let from_end = i / 8;
    (from_end < len).then(|| (len - 1 - from_end, 1u8 << (i % 8)))
}

/// Writes `bytes` as exactly `n` bytes, right-aligned (bit 1 stays bit 1): zeros in front of a
/// short one, the high-order bytes of a long one dropped. `validate` refuses both cases.
pub(crate) fn emit_bits(w: &mut Writer<'_>, bytes: &[u8], n: usize) {
    if bytes.len() >= n {
        w.bytes(bytes.get(bytes.len() - n..).unwrap_or_default());
    } else {
        w.zeros(n - bytes.len());
        w.bytes(bytes);
    }
}

/// Every message of the extension (the typed form of our `OFPT_EXPERIMENTER` bodies).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BierMessage {
    /// CAPS_REQUEST (draft §5.1).
    CapsRequest(CapsRequest),
    /// CAPS_REPLY (draft §5.2).
    CapsReply(CapsReply),
    /// BIFT_MOD (draft §6.2).
    BiftMod(BiftMod),
    /// BIFT_CLEAR (draft §7).
    BiftClear(BiftSelector),
    /// BIFT_QUERY (draft §7).
    BiftQuery(BiftSelector),
    /// BIFT_REPLY (draft §7).
    BiftReply(BiftReply),
    /// BFR_MOD (draft §8.1).
    BfrMod(BfrMod),
    /// BFR_QUERY (draft §8.2).
    BfrQuery(BfrQuery),
    /// BFR_REPLY (draft §8.3).
    BfrReply(BfrReply),
    /// TSM_CONFIG (draft §9.1).
    TsmConfig(TsmConfig),
    /// TSM_EVENT (draft §9.2).
    TsmEvent(TsmEvent),
}

impl BierMessage {
    /// The message type.
    pub fn kind(&self) -> BierType {
        match self {
            BierMessage::CapsRequest(_) => BierType::CapsRequest,
            BierMessage::CapsReply(_) => BierType::CapsReply,
            BierMessage::BiftMod(_) => BierType::BiftMod,
            BierMessage::BiftClear(_) => BierType::BiftClear,
            BierMessage::BiftQuery(_) => BierType::BiftQuery,
            BierMessage::BiftReply(_) => BierType::BiftReply,
            BierMessage::BfrMod(_) => BierType::BfrMod,
            BierMessage::BfrQuery(_) => BierType::BfrQuery,
            BierMessage::BfrReply(_) => BierType::BfrReply,
            BierMessage::TsmConfig(_) => BierType::TsmConfig,
            BierMessage::TsmEvent(_) => BierType::TsmEvent,
        }
    }

    /// The draft's semantic rules for this message (what a switch checks before acting).
    pub fn validate(&self) -> Result<(), BierError> {
        match self {
            BierMessage::CapsRequest(m) => m.validate(),
            BierMessage::CapsReply(_) | BierMessage::BiftQuery(_) | BierMessage::BfrQuery(_) => {
                Ok(())
            }
            BierMessage::BiftClear(s) => s.validate(),
            BierMessage::BiftMod(m) => m.validate(),
            BierMessage::BiftReply(m) => m.bift.as_ref().map_or(Ok(()), Bift::validate),
            BierMessage::BfrMod(m) => m.validate(),
            BierMessage::BfrReply(m) => msgs::validate_bfrs(&m.bfrs),
            BierMessage::TsmConfig(m) => m.validate(),
            BierMessage::TsmEvent(m) => m.validate(),
        }
    }

    /// The `OFPT_EXPERIMENTER` body.
    pub fn to_experimenter(&self) -> Experimenter {
        Experimenter::from_typed(self)
    }

    /// A whole OpenFlow message with this body.
    pub fn to_message(&self, xid: Xid) -> Message {
        Message::new(xid, self.to_experimenter())
    }

    /// Decodes a received experimenter body: `None` if it is another experimenter's.
    pub fn from_experimenter(e: &Experimenter) -> Option<Result<BierMessage, DecodeError>> {
        e.decode_as::<BierMessage>()
    }

    fn ctx(kind: BierType) -> &'static str {
        match kind {
            BierType::CapsRequest => "BIER CAPS_REQUEST",
            BierType::CapsReply => "BIER CAPS_REPLY",
            BierType::BiftMod => "BIER BIFT_MOD",
            BierType::BiftClear => "BIER BIFT_CLEAR",
            BierType::BiftQuery => "BIER BIFT_QUERY",
            BierType::BiftReply => "BIER BIFT_REPLY",
            BierType::BfrMod => "BIER BFR_MOD",
            BierType::BfrQuery => "BIER BFR_QUERY",
            BierType::BfrReply => "BIER BFR_REPLY",
            BierType::TsmConfig => "BIER TSM_CONFIG",
            BierType::TsmEvent => "BIER TSM_EVENT",
            BierType::Other(_) => "BIER experimenter message",
        }
    }
}

impl ExperimenterMessage for BierMessage {
    const EXPERIMENTER: u32 = EXPERIMENTER_ID;

    fn exp_type(&self) -> u32 {
        self.kind().value()
    }

    fn data_len(&self) -> usize {
        match self {
            BierMessage::CapsRequest(m) => m.wire_len(),
            BierMessage::CapsReply(m) => m.wire_len(),
            BierMessage::BiftMod(m) => m.wire_len(),
            BierMessage::BiftClear(m) | BierMessage::BiftQuery(m) => m.wire_len(),
            BierMessage::BiftReply(m) => m.wire_len(),
            BierMessage::BfrMod(m) => m.wire_len(),
            BierMessage::BfrQuery(m) => m.wire_len(),
            BierMessage::BfrReply(m) => m.wire_len(),
            BierMessage::TsmConfig(m) => m.wire_len(),
            BierMessage::TsmEvent(m) => m.wire_len(),
        }
    }

    fn emit_data(&self, w: &mut Writer<'_>) {
        match self {
            BierMessage::CapsRequest(m) => m.emit(w),
            BierMessage::CapsReply(m) => m.emit(w),
            BierMessage::BiftMod(m) => m.emit(w),
            BierMessage::BiftClear(m) | BierMessage::BiftQuery(m) => m.emit(w),
            BierMessage::BiftReply(m) => m.emit(w),
            BierMessage::BfrMod(m) => m.emit(w),
            BierMessage::BfrQuery(m) => m.emit(w),
            BierMessage::BfrReply(m) => m.emit(w),
            BierMessage::TsmConfig(m) => m.emit(w),
            BierMessage::TsmEvent(m) => m.emit(w),
        }
    }

    fn parse_data(exp_type: u32, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let kind = BierType::from(exp_type);
        // A reader named after the message, so errors say which one was wrong.
        let mut r = Reader::new(r.rest(), BierMessage::ctx(kind));
        let r = &mut r;
        let m = match kind {
            BierType::CapsRequest => BierMessage::CapsRequest(CapsRequest::parse(r)?),
            BierType::CapsReply => BierMessage::CapsReply(CapsReply::parse(r)?),
            BierType::BiftMod => BierMessage::BiftMod(BiftMod::parse(r)?),
            BierType::BiftClear => BierMessage::BiftClear(BiftSelector::parse(r)?),
            BierType::BiftQuery => BierMessage::BiftQuery(BiftSelector::parse(r)?),
            BierType::BiftReply => BierMessage::BiftReply(BiftReply::parse(r)?),
            BierType::BfrMod => BierMessage::BfrMod(BfrMod::parse(r)?),
            BierType::BfrQuery => BierMessage::BfrQuery(BfrQuery::parse(r)?),
            BierType::BfrReply => BierMessage::BfrReply(BfrReply::parse(r)?),
            BierType::TsmConfig => BierMessage::TsmConfig(TsmConfig::parse(r)?),
            BierType::TsmEvent => BierMessage::TsmEvent(TsmEvent::parse(r)?),
            BierType::Other(v) => {
                return Err(DecodeError::BadValue {
                    ctx: "BIER experimenter message",
                    field: "exp_type",
                    value: v.into(),
                })
            }
        };
        r.finish()?;
        Ok(m)
    }
}

macro_rules! from_variant {
    ($($t:ident),*) => {$(
        impl From<$t> for BierMessage {
            fn from(m: $t) -> BierMessage {
                BierMessage::$t(m)
            }
        }
    )*};
}
from_variant!(
    CapsRequest,
    CapsReply,
    BiftMod,
    BiftReply,
    BfrMod,
    BfrQuery,
    BfrReply,
    TsmConfig,
    TsmEvent
);

open_enum! {
    /// The `exp_code` of our `OFPET_EXPERIMENTER` errors (draft §11).
    pub enum BierErrorCode: u16 {
        /// CAPS_REQUEST with ext_version 0.
        BadExtVersion = 1,
        /// A BSL outside 1…7 or not supported.
        UnsupportedBsl = 2,
        /// A sub-domain the switch does not support.
        UnsupportedSubDomain = 3,
        /// SI above max_si.
        BadSi = 4,
        /// BIFT-id above 20 bits or used by another table.
        BadBiftId = 5,
        /// Bit position 0, above BSL, or twice in one update.
        BadBitPosition = 6,
        /// Unknown or duplicate next-hop id, F-BM without the entry's bit, invalid port.
        BadNextHop = 7,
        /// Unknown action, FORWARD without next hops, REMOVE in a REPLACE, too much ECMP.
        BadEntry = 8,
        /// A BIER-TE adjacency that breaks the draft's rules.
        BadAdjacency = 9,
        /// BIER-TE on a switch without it.
        TeUnsupported = 10,
        /// A transaction part out of order or not matching its transaction.
        BadSequence = 11,
        /// MODIFY of an absent table.
        NoSuchBift = 12,
        /// More than the switch holds.
        TableFull = 13,
        /// BFR-id 0, duplicate record or invalid port.
        BadBfrId = 14,
        /// Invalid TSM_CONFIG.
        BadTsmConfig = 15,
        /// Inconsistent bier_encap fields.
        BadEncap = 16,
    }
}

impl BierErrorCode {
    /// The draft's name (`BAD_BIT_POSITION`), or `None` for an unknown code.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            BierErrorCode::BadExtVersion => "BAD_EXT_VERSION",
            BierErrorCode::UnsupportedBsl => "UNSUPPORTED_BSL",
            BierErrorCode::UnsupportedSubDomain => "UNSUPPORTED_SUB_DOMAIN",
            BierErrorCode::BadSi => "BAD_SI",
            BierErrorCode::BadBiftId => "BAD_BIFT_ID",
            BierErrorCode::BadBitPosition => "BAD_BIT_POSITION",
            BierErrorCode::BadNextHop => "BAD_NEXT_HOP",
            BierErrorCode::BadEntry => "BAD_ENTRY",
            BierErrorCode::BadAdjacency => "BAD_ADJACENCY",
            BierErrorCode::TeUnsupported => "TE_UNSUPPORTED",
            BierErrorCode::BadSequence => "BAD_SEQUENCE",
            BierErrorCode::NoSuchBift => "NO_SUCH_BIFT",
            BierErrorCode::TableFull => "TABLE_FULL",
            BierErrorCode::BadBfrId => "BAD_BFR_ID",
            BierErrorCode::BadTsmConfig => "BAD_TSM_CONFIG",
            BierErrorCode::BadEncap => "BAD_ENCAP",
            BierErrorCode::Other(_) => return None,
        })
    }

    /// Our code in an error received from a switch: `None` for any other error.
    pub fn from_error_code(code: ErrorCode) -> Option<BierErrorCode> {
        match code {
            ErrorCode::Experimenter {
                exp_type,
                experimenter: EXPERIMENTER_ID,
            } => Some(BierErrorCode::from(exp_type)),
            _ => None,
        }
    }
}

impl From<BierErrorCode> for ErrorCode {
    /// `OFPET_EXPERIMENTER` with our id: use with `Message::error_for`.
    fn from(code: BierErrorCode) -> ErrorCode {
        ErrorCode::Experimenter {
            exp_type: code.value(),
            experimenter: EXPERIMENTER_ID,
        }
    }
}

/// What `validate` (or table assembly) found wrong, with the error code a switch answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BierError {
    /// A CAPS_REQUEST with version 0.
    #[error("extension version 0 in CAPS_REQUEST")]
    BadExtVersion,
    /// A BIFT-id wider than 20 bits.
    #[error("BIFT-id {bift_id:#x} is wider than 20 bits")]
    BiftIdTooWide {
        /// The value.
        bift_id: u32,
    },
    /// A bit position that is 0 or beyond the BSL.
    #[error("bit position {bit} outside 1..={bsl_bits}")]
    BitPosition {
        /// The position.
        bit: u16,
        /// The table's BSL in bits.
        bsl_bits: usize,
    },
    /// A bit listed twice in one update.
    #[error("bit position {bit} listed twice in BIFT {bift_id:#x}")]
    DuplicateBit {
        /// The position.
        bit: u16,
        /// The table.
        bift_id: u32,
    },
    /// Two next-hop records with one id.
    #[error("next-hop id {id} defined twice")]
    DuplicateNextHop {
        /// The id.
        id: u16,
    },
    /// An entry names a next-hop id its message does not define.
    #[error("bit {bit} uses next-hop id {id}, which its message does not define")]
    UnknownNextHop {
        /// The entry.
        bit: u16,
        /// The id.
        id: u16,
    },
    /// An F-BM or BitString of the wrong length.
    #[error("{what} is {len} bytes, the BSL needs {want}")]
    BitStringLength {
        /// Which BitString.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The BSL's length.
        want: usize,
    },
    /// A next hop's F-BM lacks the bit of an entry that uses it (RFC 8279 §6.5: the bit
    /// would never leave).
    #[error("bit {bit} goes to port {port:#x}, whose F-BM lacks bit {bit}")]
    FbmLacksBit {
        /// The entry.
        bit: u16,
        /// The next hop's port.
        port: u32,
    },
    /// A FORWARD entry with no next hop.
    #[error("bit {bit}: FORWARD without a next hop")]
    ForwardWithoutNextHop {
        /// The entry.
        bit: u16,
    },
    /// A REMOVE or LOCAL_DECAP entry that lists next hops, or an unknown action.
    #[error("bit {bit}: action {action:?} with {next_hops} next hops")]
    BadEntry {
        /// The entry.
        bit: u16,
        /// Its action.
        action: EntryAction,
        /// How many next hops it lists.
        next_hops: usize,
    },
    /// An entry with more next hops than its count field (255) can say.
    #[error("bit {bit}: {n} next hops, at most 255")]
    TooManyNextHops {
        /// The entry.
        bit: u16,
        /// How many it lists.
        n: usize,
    },
    /// REMOVE entries belong in a MODIFY only.
    #[error("bit {bit}: REMOVE in a REPLACE")]
    RemoveInReplace {
        /// The entry.
        bit: u16,
    },
    /// A BIER-TE adjacency that breaks the rules of draft §6.1.
    #[error("bit {bit}: bad BIER-TE adjacency: {why}")]
    BadAdjacency {
        /// The entry.
        bit: u16,
        /// What is wrong.
        why: &'static str,
    },
    /// A list longer than its count field can say.
    #[error("{what}: {len} items, the count field holds at most {max}")]
    TooMany {
        /// Which list.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The count field's maximum.
        max: usize,
    },
    /// Something that cannot fit in one message, however the table is split.
    #[error("{what} needs {len} bytes, more than one message holds ({max})")]
    TooLarge {
        /// What.
        what: &'static str,
        /// Bytes it needs.
        len: usize,
        /// Bytes available.
        max: usize,
    },
    /// A transaction part that does not continue its transaction (draft §6.2).
    #[error("BIFT {bift_id:#x}, txn {txn}, seq {seq}: {why}")]
    Sequence {
        /// The table.
        bift_id: u32,
        /// The transaction.
        txn: u32,
        /// The part.
        seq: u16,
        /// What is wrong.
        why: &'static str,
    },
    /// Tables or parts that should share a key do not.
    #[error("BIFT {bift_id:#x}: {why}")]
    KeyMismatch {
        /// The table.
        bift_id: u32,
        /// What differs.
        why: &'static str,
    },
    /// A local BFR-id record that breaks the rules of draft §8.
    #[error("BFR-id {bfr_id}: {why}")]
    BadBfrId {
        /// The BFR-id.
        bfr_id: u16,
        /// What is wrong.
        why: &'static str,
    },
    /// A TSM_CONFIG that breaks the rules of draft §9.1.
    #[error("bad TSM_CONFIG: {0}")]
    BadTsmConfig(&'static str),
    /// A bier_encap action that breaks the rules of draft §10.1.
    #[error("bad bier_encap: {0}")]
    BadEncap(&'static str),
}

impl BierError {
    /// The error code a switch answers with (draft §11).
    pub fn code(&self) -> BierErrorCode {
        match self {
            BierError::BadExtVersion => BierErrorCode::BadExtVersion,
            BierError::BiftIdTooWide { .. } | BierError::KeyMismatch { .. } => {
                BierErrorCode::BadBiftId
            }
            BierError::BitPosition { .. } | BierError::DuplicateBit { .. } => {
                BierErrorCode::BadBitPosition
            }
            BierError::DuplicateNextHop { .. }
            | BierError::UnknownNextHop { .. }
            | BierError::FbmLacksBit { .. } => BierErrorCode::BadNextHop,
            BierError::BitStringLength { .. } => BierErrorCode::BadNextHop,
            BierError::ForwardWithoutNextHop { .. }
            | BierError::TooManyNextHops { .. }
            | BierError::BadEntry { .. }
            | BierError::RemoveInReplace { .. } => BierErrorCode::BadEntry,
            BierError::BadAdjacency { .. } => BierErrorCode::BadAdjacency,
            BierError::TooMany { .. } | BierError::TooLarge { .. } => BierErrorCode::TableFull,
            BierError::Sequence { .. } => BierErrorCode::BadSequence,
            BierError::BadBfrId { .. } => BierErrorCode::BadBfrId,
            BierError::BadTsmConfig(_) => BierErrorCode::BadTsmConfig,
            BierError::BadEncap(_) => BierErrorCode::BadEncap,
        }
    }
}

/// Refuses a list longer than a count field of `max` can say.
pub(crate) fn check_count(what: &'static str, len: usize, max: usize) -> Result<(), BierError> {
    if len > max {
        Err(BierError::TooMany { what, len, max })
    } else {
        Ok(())
    }
}

/// Refuses a BitString whose length is not the BSL's.
pub(crate) fn check_bits(what: &'static str, bytes: &[u8], bsl: Bsl) -> Result<(), BierError> {
    if bytes.len() != bsl.bytes() {
        Err(BierError::BitStringLength {
            what,
            len: bytes.len(),
            want: bsl.bytes(),
        })
    } else {
        Ok(())
    }
}

/// Refuses a BIFT-id wider than 20 bits (RFC 8296 §2.2).
pub(crate) fn check_bift_id(bift_id: u32) -> Result<(), BierError> {
    if bift_id > 0xf_ffff {
        Err(BierError::BiftIdTooWide { bift_id })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_order_is_rfc8279() {
        let b = bits_from_positions(Bsl::B64, [1, 9, 64, 65, 0]);
        assert_eq!(b, [0x80, 0, 0, 0, 0, 0, 0x01, 0x01]);
        assert_eq!(bit_positions(&b), vec![1, 9, 64]);
        assert!(test_bit(&b, 64) && !test_bit(&b, 2) && !test_bit(&b, 0) && !test_bit(&b, 65));
    }

    #[test]
    fn bsl_codes() {
        for (i, bsl) in Bsl::ALL.iter().enumerate() {
            assert_eq!(usize::from(bsl.code()), i + 1);
            assert_eq!(Bsl::from_code(bsl.code()), Some(*bsl));
        }
        assert_eq!(Bsl::B4096.bytes(), 512);
        assert_eq!(Bsl::from_code(0), None);
        assert_eq!(Bsl::from_code(8), None);
    }

    #[test]
    fn error_codes_convert() {
        let c: ErrorCode = BierErrorCode::BadSequence.into();
        assert_eq!(
            BierErrorCode::from_error_code(c),
            Some(BierErrorCode::BadSequence)
        );
        assert_eq!(
            BierErrorCode::from_error_code(ErrorCode::Experimenter {
                exp_type: 11,
                experimenter: 0x2320
            }),
            None
        );
        assert_eq!(BierErrorCode::from(99).name(), None);
    }
}
