//! Actions (OF1.3.5 §7.2.5). PLACEHOLDER: being written.

use crate::error::DecodeError;
use crate::oxm::Oxm;
use crate::types::{GroupId, PortNo};
use crate::wire::{Reader, Wire, Writer};

/// One action.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// `OFPAT_OUTPUT`.
    Output { port: PortNo, max_len: u16 },
    /// `OFPAT_GROUP`.
    Group(GroupId),
    /// `OFPAT_SET_FIELD`.
    SetField(Oxm),
}

impl Wire for Action {
    fn wire_len(&self) -> usize {
        16
    }
    fn emit(&self, w: &mut Writer<'_>) {
        w.zeros(16);
    }
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.skip(16)?;
        Ok(Action::Group(GroupId(0)))
    }
}
