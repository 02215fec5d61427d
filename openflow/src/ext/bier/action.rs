//! The experimenter actions `bier_encap`, `bier_decap` and `bier_forward` (draft §10), carried
//! in [`Action::Experimenter`] with our experimenter id and a 16-bit subtype.
//!
//! Guarantees: every action's data is a multiple of 8 bytes, so it round-trips exactly through
//! the crate's action codec (which pads experimenter data to 8); parsing never panics and
//! refuses trailing bytes.

use super::{check_bift_id, emit_bits, BierError, Bsl, EXPERIMENTER_ID};
use crate::action::Action;
use crate::error::DecodeError;
use crate::macros::open_enum;
use crate::wire::{Reader, Writer};

open_enum! {
    /// The subtype after the experimenter id (draft §10).
    pub enum ActionSubtype: u16 {
        /// bier_encap.
        Encap = 1,
        /// bier_decap.
        Decap = 2,
        /// bier_forward.
        Forward = 3,
    }
}

/// How a BFIR fills the Entropy field (draft §10.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Entropy {
    /// 0, FIXED: this value.
    Fixed(u32),
    /// 1, FLOW_HASH: a hash of the IP 5-tuple, XOR `seed`, in 20 bits.
    FlowHash {
        /// XORed into the hash.
        seed: u32,
    },
    /// A source this codec does not know, kept as received.
    Other {
        /// `entropy_source`.
        source: u8,
        /// `entropy`.
        value: u32,
    },
}

impl Entropy {
    fn parts(self) -> (u8, u32) {
        match self {
            Entropy::Fixed(v) => (0, v),
            Entropy::FlowHash { seed } => (1, seed),
            Entropy::Other { source, value } => (source, value),
        }
    }

    fn from_parts(source: u8, value: u32) -> Entropy {
        match source {
            0 => Entropy::Fixed(value),
            1 => Entropy::FlowHash { seed: value },
            source => Entropy::Other { source, value },
        }
    }
}

const FLAG_COPY_DSCP: u8 = 0x01;

/// bier_encap (draft §10.1): the fields of the RFC 8296 header a BFIR writes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BierEncap {
    /// Header BIFT-id (20 bits).
    pub bift_id: u32,
    /// The sub-domain of the BIFT.
    pub sub_domain: u8,
    /// BitString Length.
    pub bsl: Bsl,
    /// Set Identifier.
    pub si: u16,
    /// Header BFIR-id (0 if none).
    pub bfir_id: u16,
    /// Header TTL (≥ 1).
    pub ttl: u8,
    /// Header TC (3 bits).
    pub tc: u8,
    /// COPY_DSCP: the BIER DSCP is the IP header's.
    pub copy_dscp: bool,
    /// Entropy source.
    pub entropy: Entropy,
    /// The BitString, BSL/8 bytes in wire order.
    pub bitstring: Vec<u8>,
}

impl BierEncap {
    /// The rules of draft §10.1.
    pub fn validate(&self) -> Result<(), BierError> {
        check_bift_id(self.bift_id)?;
        if self.bitstring.len() != self.bsl.bytes() {
            return Err(BierError::BadEncap(
                "BitString length differs from the BSL's",
            ));
        }
        if self.ttl == 0 {
            return Err(BierError::BadEncap("TTL 0"));
        }
        if self.tc > 7 {
            return Err(BierError::BadEncap("TC wider than 3 bits"));
        }
        if self.entropy.parts().1 > 0xf_ffff {
            return Err(BierError::BadEncap("entropy wider than 20 bits"));
        }
        if let Entropy::Other { .. } = self.entropy {
            return Err(BierError::BadEncap("unknown entropy source"));
        }
        Ok(())
    }
}

/// One of our actions.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BierAction {
    /// bier_encap.
    Encap(BierEncap),
    /// bier_decap.
    Decap,
    /// bier_forward.
    Forward,
}

impl BierAction {
    /// The subtype.
    pub fn subtype(&self) -> ActionSubtype {
        match self {
            BierAction::Encap(_) => ActionSubtype::Encap,
            BierAction::Decap => ActionSubtype::Decap,
            BierAction::Forward => ActionSubtype::Forward,
        }
    }

    /// Bytes after the experimenter id (the `data` of `Action::Experimenter`): a multiple of 8.
    pub fn data_len(&self) -> usize {
        match self {
            BierAction::Encap(e) => 24 + e.bsl.bytes(),
            BierAction::Decap | BierAction::Forward => 8,
        }
    }

    /// Writes exactly `data_len()` bytes.
    pub fn emit_data(&self, w: &mut Writer<'_>) {
        w.u16(self.subtype().value());
        match self {
            BierAction::Encap(e) => {
                let (source, value) = e.entropy.parts();
                w.u8(if e.copy_dscp { FLAG_COPY_DSCP } else { 0 });
                w.u8(source);
                w.u32(e.bift_id);
                w.u8(e.sub_domain);
                w.u8(e.bsl.code());
                w.u16(e.si);
                w.u16(e.bfir_id);
                w.u8(e.ttl);
                w.u8(e.tc);
                w.u32(value);
                w.zeros(4);
                emit_bits(w, &e.bitstring, e.bsl.bytes());
            }
            BierAction::Decap | BierAction::Forward => w.zeros(6),
        }
    }

    /// Reads the data of one of our actions (everything after the experimenter id).
    pub fn parse_data(data: &[u8]) -> Result<BierAction, DecodeError> {
        const CTX: &str = "BIER action";
        let mut r = Reader::new(data, CTX);
        let a = match ActionSubtype::from(r.u16()?) {
            ActionSubtype::Encap => {
                let copy_dscp = r.u8()? & FLAG_COPY_DSCP != 0;
                let source = r.u8()?;
                let bift_id = r.u32()?;
                let sub_domain = r.u8()?;
                let bsl = Bsl::parse(&mut r, CTX)?;
                let si = r.u16()?;
                let bfir_id = r.u16()?;
                let ttl = r.u8()?;
                let tc = r.u8()?;
                let value = r.u32()?;
                r.skip(4)?;
                let bitstring = r.bytes(bsl.bytes())?.to_vec();
                BierAction::Encap(BierEncap {
                    bift_id,
                    sub_domain,
                    bsl,
                    si,
                    bfir_id,
                    ttl,
                    tc,
                    copy_dscp,
                    entropy: Entropy::from_parts(source, value),
                    bitstring,
                })
            }
            ActionSubtype::Decap => {
                r.skip(6)?;
                BierAction::Decap
            }
            ActionSubtype::Forward => {
                r.skip(6)?;
                BierAction::Forward
            }
            ActionSubtype::Other(v) => {
                return Err(DecodeError::BadValue {
                    ctx: CTX,
                    field: "subtype",
                    value: v.into(),
                })
            }
        };
        r.finish()?;
        Ok(a)
    }

    /// The OpenFlow action.
    pub fn to_action(&self) -> Action {
        let mut data = vec![0u8; self.data_len()];
        self.emit_data(&mut Writer::new(&mut data));
        Action::Experimenter {
            experimenter: EXPERIMENTER_ID,
            data,
        }
    }

    /// Decodes an action: `None` unless it is an experimenter action with our id.
    pub fn from_action(a: &Action) -> Option<Result<BierAction, DecodeError>> {
        match a {
            Action::Experimenter {
                experimenter: EXPERIMENTER_ID,
                data,
            } => Some(BierAction::parse_data(data)),
            _ => None,
        }
    }

    /// bier_encap's rules; the others have none.
    pub fn validate(&self) -> Result<(), BierError> {
        match self {
            BierAction::Encap(e) => e.validate(),
            BierAction::Decap | BierAction::Forward => Ok(()),
        }
    }
}

impl From<&BierAction> for Action {
    fn from(a: &BierAction) -> Action {
        a.to_action()
    }
}

impl From<BierAction> for Action {
    fn from(a: BierAction) -> Action {
        a.to_action()
    }
}
