//! OpenFlow 1.3.5 (wire version 0x04): every message a controller and a switch exchange, exact
//! to the byte, with no I/O.
//!
//! Guarantees: decoding never panics, whatever the bytes; every decode error names the
//! structure and offset that were wrong; protocol numbers are open enums, so values this crate
//! does not know survive a round trip; `emit` writes every byte, padding included.

mod macros;

pub mod action;
pub mod error;
pub mod error_msg;
pub mod experimenter;
pub mod ext;
pub mod framer;
pub mod group;
pub mod header;
pub mod hello;
pub mod instruction;
pub mod message;
pub mod meter;
pub mod msg;
pub mod multipart;
pub mod oxm;
pub mod port;
pub mod types;
pub mod wire;

pub use action::Action;
pub use error::{DecodeError, EncodeError};
pub use error_msg::{ErrorCode, ErrorMsg, ErrorType};
pub use experimenter::{Experimenter, ExperimenterMessage, ExperimenterRegistry};
pub use framer::{Frame, Framer, FramerError};
pub use group::Bucket;
pub use header::{Header, HeaderRepr, MsgType};
pub use hello::{negotiate, Hello, HelloElement, NegotiationError};
pub use instruction::Instruction;
pub use message::{Body, Message};
pub use meter::MeterMod;
pub use msg::{
    AsyncConfig, ControllerRole, FlowMod, FlowModCommand, FlowModFlags, FlowRemoved,
    FlowRemovedReason, GroupMod, GroupModCommand, PacketIn, PacketInReason, PacketOut, PortMod,
    PortReason, PortStatus, Role, SwitchConfig, SwitchFeatures, TableMod,
};
pub use multipart::{
    Assembler, FixedStr, MultipartReply, MultipartReplyBody, MultipartReplyFlags, MultipartRequest,
    MultipartRequestBody, MultipartRequestFlags, MultipartType,
};
pub use oxm::{MacAddr, Match, Oxm, OxmField};
pub use port::Port;
pub use types::*;
pub use wire::{Reader, Wire, Writer};
