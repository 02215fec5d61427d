//! Controller roles and asynchronous message filters: `ofp_role_request` (OF1.3.5 §7.3.9)
//! and `ofp_async_config` (OF1.3.5 §7.3.10).

use bitflags::bitflags;

use crate::error::DecodeError;
use crate::macros::open_enum;
use crate::wire::{Reader, Wire, Writer};

open_enum! {
    /// Controller role — `ofp_controller_role` (OF1.3.5 §7.3.9).
    pub enum ControllerRole: u32 {
        /// `OFPCR_ROLE_NOCHANGE`: query the current role.
        NoChange = 0,
        /// `OFPCR_ROLE_EQUAL`: full access (the default).
        Equal = 1,
        /// `OFPCR_ROLE_MASTER`: full access, at most one master.
        Master = 2,
        /// `OFPCR_ROLE_SLAVE`: read-only access.
        Slave = 3,
    }
}

/// `OFPT_ROLE_REQUEST` and `OFPT_ROLE_REPLY` body (16 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Role {
    /// `role`.
    pub role: ControllerRole,
    /// `generation_id`: the master election generation; the switch refuses a MASTER or
    /// SLAVE request with an older one (`OFPRRFC_STALE`).
    pub generation_id: u64,
}

impl Role {
    /// A request for `role` at `generation_id`.
    pub fn new(role: ControllerRole, generation_id: u64) -> Role {
        Role {
            role,
            generation_id,
        }
    }
}

impl Wire for Role {
    fn wire_len(&self) -> usize {
        16
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u32(self.role.value());
        w.zeros(4);
        w.u64(self.generation_id);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let role = ControllerRole::from(r.u32()?);
        r.skip(4)?;
        Ok(Role {
            role,
            generation_id: r.u64()?,
        })
    }
}

bitflags! {
    /// Packet-in reasons a controller receives: bit `1 << r` for `OFPR_*` value `r`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct PacketInMask: u32 {
        /// `1 << OFPR_NO_MATCH`.
        const NO_MATCH = 1 << 0;
        /// `1 << OFPR_ACTION`.
        const ACTION = 1 << 1;
        /// `1 << OFPR_INVALID_TTL`.
        const INVALID_TTL = 1 << 2;
    }
}

bitflags! {
    /// Port status reasons a controller receives: bit `1 << r` for `OFPPR_*` value `r`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct PortStatusMask: u32 {
        /// `1 << OFPPR_ADD`.
        const ADD = 1 << 0;
        /// `1 << OFPPR_DELETE`.
        const DELETE = 1 << 1;
        /// `1 << OFPPR_MODIFY`.
        const MODIFY = 1 << 2;
    }
}

bitflags! {
    /// Flow removed reasons a controller receives: bit `1 << r` for `OFPRR_*` value `r`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct FlowRemovedMask: u32 {
        /// `1 << OFPRR_IDLE_TIMEOUT`.
        const IDLE_TIMEOUT = 1 << 0;
        /// `1 << OFPRR_HARD_TIMEOUT`.
        const HARD_TIMEOUT = 1 << 1;
        /// `1 << OFPRR_DELETE`.
        const DELETE = 1 << 2;
        /// `1 << OFPRR_GROUP_DELETE`.
        const GROUP_DELETE = 1 << 3;
        /// `1 << OFPRR_METER_DELETE`.
        const METER_DELETE = 1 << 4;
    }
}

/// `OFPT_GET_ASYNC_REPLY` and `OFPT_SET_ASYNC` body — `ofp_async_config` after the header
/// (24 bytes). In each pair, element 0 applies when the controller is MASTER or EQUAL,
/// element 1 when it is SLAVE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AsyncConfig {
    /// `packet_in_mask`.
    pub packet_in_mask: [PacketInMask; 2],
    /// `port_status_mask`.
    pub port_status_mask: [PortStatusMask; 2],
    /// `flow_removed_mask`.
    pub flow_removed_mask: [FlowRemovedMask; 2],
}

impl Wire for AsyncConfig {
    fn wire_len(&self) -> usize {
        24
    }

    fn emit(&self, w: &mut Writer<'_>) {
        for m in self.packet_in_mask {
            w.u32(m.bits());
        }
        for m in self.port_status_mask {
            w.u32(m.bits());
        }
        for m in self.flow_removed_mask {
            w.u32(m.bits());
        }
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(AsyncConfig {
            packet_in_mask: [
                PacketInMask::from_bits_retain(r.u32()?),
                PacketInMask::from_bits_retain(r.u32()?),
            ],
            port_status_mask: [
                PortStatusMask::from_bits_retain(r.u32()?),
                PortStatusMask::from_bits_retain(r.u32()?),
            ],
            flow_removed_mask: [
                FlowRemovedMask::from_bits_retain(r.u32()?),
                FlowRemovedMask::from_bits_retain(r.u32()?),
            ],
        })
    }
}

#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    use super::*;
    use proptest::prelude::*;

    pub fn role() -> impl Strategy<Value = Role> {
        (any::<u32>(), any::<u64>()).prop_map(|(r, generation_id)| Role {
            role: ControllerRole::from(r),
            generation_id,
        })
    }

    pub fn async_config() -> impl Strategy<Value = AsyncConfig> {
        any::<[u32; 6]>().prop_map(|w| AsyncConfig {
            packet_in_mask: [
                PacketInMask::from_bits_retain(w[0]),
                PacketInMask::from_bits_retain(w[1]),
            ],
            port_status_mask: [
                PortStatusMask::from_bits_retain(w[2]),
                PortStatusMask::from_bits_retain(w[3]),
            ],
            flow_removed_mask: [
                FlowRemovedMask::from_bits_retain(w[4]),
                FlowRemovedMask::from_bits_retain(w[5]),
            ],
        })
    }
}
