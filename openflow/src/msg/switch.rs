//! Handshake and switch configuration: `ofp_switch_features` (OF1.3.5 §7.3.1) and
//! `ofp_switch_config` (OF1.3.5 §7.3.2).

use bitflags::bitflags;

use crate::error::DecodeError;
use crate::types::DatapathId;
use crate::wire::{Reader, Wire, Writer};

bitflags! {
    /// Switch capabilities — `ofp_capabilities` (OF1.3.5 §7.3.1).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Capabilities: u32 {
        /// `OFPC_FLOW_STATS`.
        const FLOW_STATS = 1 << 0;
        /// `OFPC_TABLE_STATS`.
        const TABLE_STATS = 1 << 1;
        /// `OFPC_PORT_STATS`.
        const PORT_STATS = 1 << 2;
        /// `OFPC_GROUP_STATS`.
        const GROUP_STATS = 1 << 3;
        /// `OFPC_IP_REASM`: can reassemble IP fragments.
        const IP_REASM = 1 << 5;
        /// `OFPC_QUEUE_STATS`.
        const QUEUE_STATS = 1 << 6;
        /// `OFPC_PORT_BLOCKED`: the switch blocks looping ports.
        const PORT_BLOCKED = 1 << 8;
    }
}

bitflags! {
    /// Switch configuration flags — `ofp_config_flags` (OF1.3.5 §7.3.2). `OFPC_FRAG_NORMAL`
    /// is the absence of both fragment bits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct ConfigFlags: u16 {
        /// `OFPC_FRAG_DROP`: drop IP fragments.
        const FRAG_DROP = 1 << 0;
        /// `OFPC_FRAG_REASM`: reassemble IP fragments (only with `OFPC_IP_REASM`).
        const FRAG_REASM = 1 << 1;
        /// `OFPC_FRAG_MASK`: the fragment handling bits.
        const FRAG_MASK = 3;
    }
}

/// `OFPT_FEATURES_REPLY` body — `ofp_switch_features` after the header (24 bytes).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SwitchFeatures {
    /// `datapath_id`.
    pub datapath_id: DatapathId,
    /// `n_buffers`: packets the switch can buffer at once.
    pub n_buffers: u32,
    /// `n_tables`: flow tables.
    pub n_tables: u8,
    /// `auxiliary_id`: 0 on the main connection.
    pub auxiliary_id: u8,
    /// `capabilities`.
    pub capabilities: Capabilities,
    /// `reserved`.
    pub reserved: u32,
}

impl Wire for SwitchFeatures {
    fn wire_len(&self) -> usize {
        24
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u64(self.datapath_id.0);
        w.u32(self.n_buffers);
        w.u8(self.n_tables);
        w.u8(self.auxiliary_id);
        w.zeros(2);
        w.u32(self.capabilities.bits());
        w.u32(self.reserved);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let datapath_id = DatapathId(r.u64()?);
        let n_buffers = r.u32()?;
        let n_tables = r.u8()?;
        let auxiliary_id = r.u8()?;
        r.skip(2)?;
        Ok(SwitchFeatures {
            datapath_id,
            n_buffers,
            n_tables,
            auxiliary_id,
            capabilities: Capabilities::from_bits_retain(r.u32()?),
            reserved: r.u32()?,
        })
    }
}

/// `OFPT_GET_CONFIG_REPLY` and `OFPT_SET_CONFIG` body — `ofp_switch_config` after the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SwitchConfig {
    /// `flags`.
    pub flags: ConfigFlags,
    /// `miss_send_len`: bytes of a table-miss packet sent to the controller
    /// (`OFPCML_NO_BUFFER` for all of it).
    pub miss_send_len: u16,
}

impl Default for SwitchConfig {
    /// Normal fragment handling, `OFP_DEFAULT_MISS_SEND_LEN` (128).
    fn default() -> Self {
        SwitchConfig {
            flags: ConfigFlags::empty(),
            miss_send_len: super::DEFAULT_MISS_SEND_LEN,
        }
    }
}

impl Wire for SwitchConfig {
    fn wire_len(&self) -> usize {
        4
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u16(self.flags.bits());
        w.u16(self.miss_send_len);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SwitchConfig {
            flags: ConfigFlags::from_bits_retain(r.u16()?),
            miss_send_len: r.u16()?,
        })
    }
}

#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    use super::*;
    use proptest::prelude::*;

    pub fn switch_features() -> impl Strategy<Value = SwitchFeatures> {
        (
            any::<u64>(),
            any::<u32>(),
            any::<u8>(),
            any::<u8>(),
            any::<u32>(),
            any::<u32>(),
        )
            .prop_map(|(d, n_buffers, n_tables, auxiliary_id, c, reserved)| {
                SwitchFeatures {
                    datapath_id: DatapathId(d),
                    n_buffers,
                    n_tables,
                    auxiliary_id,
                    capabilities: Capabilities::from_bits_retain(c),
                    reserved,
                }
            })
    }

    pub fn switch_config() -> impl Strategy<Value = SwitchConfig> {
        (any::<u16>(), any::<u16>()).prop_map(|(f, miss_send_len)| SwitchConfig {
            flags: ConfigFlags::from_bits_retain(f),
            miss_send_len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::parse_all;
    use proptest::prelude::*;

    #[test]
    fn truncated_features() {
        assert!(matches!(
            parse_all::<SwitchFeatures>(&[0; 23]),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            parse_all::<SwitchConfig>(&[0; 5]),
            Err(DecodeError::TrailingBytes { .. })
        ));
    }

    proptest! {
        #[test]
        fn features_round_trip(v in arb::switch_features()) {
            prop_assert_eq!(parse_all::<SwitchFeatures>(&v.to_vec()).unwrap(), v);
        }

        #[test]
        fn config_round_trip(v in arb::switch_config()) {
            prop_assert_eq!(parse_all::<SwitchConfig>(&v.to_vec()).unwrap(), v);
        }
    }
}
