//! `ofp_port` (OF1.3.5 §7.2.1). PLACEHOLDER: being written.

use crate::error::DecodeError;
use crate::types::PortNo;
use crate::wire::{Reader, Wire, Writer};

/// A port's description.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Port {
    pub port_no: PortNo,
    pub hw_addr: [u8; 6],
    pub name: String,
}

impl Wire for Port {
    fn wire_len(&self) -> usize {
        64
    }
    fn emit(&self, w: &mut Writer<'_>) {
        w.zeros(64);
    }
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.skip(64)?;
        Ok(Port { port_no: PortNo(0), hw_addr: [0; 6], name: String::new() })
    }
}
