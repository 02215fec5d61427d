//! OpenFlow 1.3.5 (wire version 0x04): every message a controller and a switch exchange, exact
//! to the byte, with no I/O.
//!
//! Guarantees: decoding never panics, whatever the bytes; every decode error names the
//! structure and offset that were wrong; protocol numbers are open enums, so values this crate
//! does not know survive a round trip; `emit` writes every byte, padding included.

mod macros;

pub mod action;
pub mod error;
pub mod group;
pub mod instruction;
pub mod multipart;
pub mod oxm;
pub mod port;
pub mod types;
pub mod wire;

pub use action::Action;
pub use error::{DecodeError, EncodeError};
pub use group::Bucket;
pub use instruction::Instruction;
pub use oxm::{Match, Oxm};
pub use port::Port;
pub use types::*;
pub use wire::{Reader, Wire, Writer};
