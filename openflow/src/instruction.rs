//! Instructions (OF1.3.5 §7.2.4). PLACEHOLDER: being written.

use crate::action::Action;
use crate::error::DecodeError;
use crate::types::TableId;
use crate::wire::{Reader, Wire, Writer};

/// One instruction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Instruction {
    /// `OFPIT_GOTO_TABLE`.
    GotoTable(TableId),
    /// `OFPIT_APPLY_ACTIONS`.
    ApplyActions(Vec<Action>),
}

impl Wire for Instruction {
    fn wire_len(&self) -> usize {
        8
    }
    fn emit(&self, w: &mut Writer<'_>) {
        w.zeros(8);
    }
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.skip(8)?;
        Ok(Instruction::GotoTable(TableId(0)))
    }
}
