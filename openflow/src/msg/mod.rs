//! The bodies of the OpenFlow 1.3.5 messages that have a fixed structure of their own
//! (OF1.3.5 §7.3 controller-to-switch, §7.4 asynchronous): everything but HELLO, ERROR,
//! EXPERIMENTER, METER_MOD (their own modules) and the multipart bodies (`crate::multipart`).
//!
//! Each body implements `Wire` for the bytes after the 8-byte OpenFlow header. `parse` reads
//! the body up to the end of the message (the caller's reader ends there) and the caller
//! checks that nothing is left over. Guarantees: parsing never panics; flag words keep
//! unknown bits (`from_bits_retain`); protocol numbers are open enums.

mod flow;
mod group_mod;
mod packet;
mod port_msg;
mod queue;
mod role;
mod switch;
mod table;

pub use flow::{FlowMod, FlowModCommand, FlowModFlags, FlowRemoved, FlowRemovedReason};
pub use group_mod::{GroupMod, GroupModCommand};
pub use packet::{PacketIn, PacketInReason, PacketOut};
pub use port_msg::{PortMod, PortReason, PortStatus};
pub use queue::{PacketQueue, QueueGetConfigReply, QueueGetConfigRequest, QueueProp};
pub use role::{AsyncConfig, ControllerRole, FlowRemovedMask, PacketInMask, PortStatusMask, Role};
pub use switch::{Capabilities, ConfigFlags, SwitchConfig, SwitchFeatures};
pub use table::TableMod;

/// `OFP_DEFAULT_PRIORITY`: priority of a flow entry when none is given.
pub const DEFAULT_PRIORITY: u16 = 0x8000;

/// `OFP_DEFAULT_MISS_SEND_LEN`: bytes of a table-miss packet sent to the controller.
pub const DEFAULT_MISS_SEND_LEN: u16 = 128;

/// Proptest strategies for every body in this module.
#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    pub use super::flow::arb::*;
    pub use super::group_mod::arb::*;
    pub use super::packet::arb::*;
    pub use super::port_msg::arb::*;
    pub use super::queue::arb::*;
    pub use super::role::arb::*;
    pub use super::switch::arb::*;
    pub use super::table::arb::*;
}

/// Parses a whole body with `parse` and checks that nothing is left over.
#[cfg(test)]
pub(crate) fn parse_all<T: crate::wire::Wire>(bytes: &[u8]) -> Result<T, crate::DecodeError> {
    let mut r = crate::wire::Reader::new(bytes, "test");
    let v = T::parse(&mut r)?;
    r.finish()?;
    Ok(v)
}
