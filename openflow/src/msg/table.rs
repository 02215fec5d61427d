//! Flow table configuration: `ofp_table_mod` (OF1.3.5 §7.3.3).

use crate::error::DecodeError;
use crate::types::TableId;
use crate::wire::{Reader, Wire, Writer};

/// `OFPT_TABLE_MOD` body (8 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TableMod {
    /// `table_id`: `TableId::ALL` for every table.
    pub table_id: TableId,
    /// `config`: in OpenFlow 1.3 every bit is reserved (`OFPTC_DEPRECATED_MASK` = 3 holds the
    /// table-miss bits of 1.1/1.2), so the word is kept as is.
    pub config: u32,
}

impl Wire for TableMod {
    fn wire_len(&self) -> usize {
        8
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u8(self.table_id.0);
        w.zeros(3);
        w.u32(self.config);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let table_id = TableId(r.u8()?);
        r.skip(3)?;
        Ok(TableMod {
            table_id,
            config: r.u32()?,
        })
    }
}

#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    use super::*;
    use proptest::prelude::*;

    pub fn table_mod() -> impl Strategy<Value = TableMod> {
        (any::<u8>(), any::<u32>()).prop_map(|(t, config)| TableMod {
            table_id: TableId(t),
            config,
        })
    }
}
