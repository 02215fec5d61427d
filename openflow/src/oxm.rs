//! OXM match fields and `ofp_match` (OF1.3.5 §7.2.3). PLACEHOLDER: being written.

use crate::error::DecodeError;
use crate::types::PortNo;
use crate::wire::{Reader, Wire, Writer};
use std::net::Ipv4Addr;

/// One OXM TLV.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Oxm {
    /// `OFPXMT_OFB_IN_PORT`.
    InPort(PortNo),
    /// `OFPXMT_OFB_ETH_TYPE`.
    EthType(u16),
    /// `OFPXMT_OFB_IPV4_DST`, maskable.
    Ipv4Dst { value: Ipv4Addr, mask: Option<Ipv4Addr> },
}

/// `ofp_match` of type `OFPMT_OXM`: OXM fields, padded to 8 bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Match {
    pub fields: Vec<Oxm>,
}

impl Wire for Match {
    fn wire_len(&self) -> usize {
        8
    }
    fn emit(&self, w: &mut Writer<'_>) {
        w.u16(1);
        w.u16(4);
        w.zeros(4);
    }
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.skip(8)?;
        Ok(Match::default())
    }
}
