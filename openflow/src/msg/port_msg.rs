//! Ports: `ofp_port_status` (OF1.3.5 §7.4.3) and `ofp_port_mod` (OF1.3.5 §7.3.4.3).

use crate::error::DecodeError;
use crate::macros::open_enum;
use crate::port::{Port, PortConfig, PortFeatures};
use crate::types::PortNo;
use crate::wire::{Reader, Wire, Writer};

open_enum! {
    /// What changed about a port — `ofp_port_reason` (OF1.3.5 §7.4.3).
    pub enum PortReason: u8 {
        /// `OFPPR_ADD`: the port was added.
        Add = 0,
        /// `OFPPR_DELETE`: the port was removed.
        Delete = 1,
        /// `OFPPR_MODIFY`: some attribute of the port changed.
        Modify = 2,
    }
}

/// `OFPT_PORT_STATUS` body: `reason`, 7 bytes of padding, the port (72 bytes).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PortStatus {
    /// `reason`.
    pub reason: PortReason,
    /// `desc`.
    pub desc: Port,
}

impl Wire for PortStatus {
    fn wire_len(&self) -> usize {
        8 + self.desc.wire_len()
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u8(self.reason.value());
        w.zeros(7);
        self.desc.emit(w);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let reason = PortReason::from(r.u8()?);
        r.skip(7)?;
        Ok(PortStatus {
            reason,
            desc: Port::parse(r)?,
        })
    }
}

/// `OFPT_PORT_MOD` body (32 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortMod {
    /// `port_no`.
    pub port_no: PortNo,
    /// `hw_addr`: must be the port's address (a sanity check; it is not configurable).
    pub hw_addr: [u8; 6],
    /// `config`: the new values of the bits selected by `mask`.
    pub config: PortConfig,
    /// `mask`: the `config` bits to change.
    pub mask: PortConfig,
    /// `advertise`: features to advertise (all zero: leave unchanged).
    pub advertise: PortFeatures,
}

impl Wire for PortMod {
    fn wire_len(&self) -> usize {
        32
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u32(self.port_no.0);
        w.zeros(4);
        w.bytes(&self.hw_addr);
        w.zeros(2);
        w.u32(self.config.bits());
        w.u32(self.mask.bits());
        w.u32(self.advertise.bits());
        w.zeros(4);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let port_no = PortNo(r.u32()?);
        r.skip(4)?;
        let hw_addr = r.array()?;
        r.skip(2)?;
        let config = PortConfig::from_bits_retain(r.u32()?);
        let mask = PortConfig::from_bits_retain(r.u32()?);
        let advertise = PortFeatures::from_bits_retain(r.u32()?);
        r.skip(4)?;
        Ok(PortMod {
            port_no,
            hw_addr,
            config,
            mask,
            advertise,
        })
    }
}

#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    use super::*;
    use proptest::prelude::*;

    pub fn port_status() -> impl Strategy<Value = PortStatus> {
        (any::<u8>(), crate::port::arb::port()).prop_map(|(r, desc)| PortStatus {
            reason: PortReason::from(r),
            desc,
        })
    }

    pub fn port_mod() -> impl Strategy<Value = PortMod> {
        (
            any::<u32>(),
            any::<[u8; 6]>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
        )
            .prop_map(|(p, hw_addr, c, m, a)| PortMod {
                port_no: PortNo(p),
                hw_addr,
                config: PortConfig::from_bits_retain(c),
                mask: PortConfig::from_bits_retain(m),
                advertise: PortFeatures::from_bits_retain(a),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::parse_all;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn port_status_round_trip(v in arb::port_status()) {
            prop_assert_eq!(parse_all::<PortStatus>(&v.to_vec()).unwrap(), v);
        }

        #[test]
        fn port_mod_round_trip(v in arb::port_mod()) {
            prop_assert_eq!(parse_all::<PortMod>(&v.to_vec()).unwrap(), v);
        }
    }
}
