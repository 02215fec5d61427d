//! Packets as the pipeline sees them: the flow key of a frame (`FlowKey`), header parsing,
//! rewriting by OpenFlow actions, and builders for well-formed test frames.
//!
//! Guarantees: parsing and rewriting never panic on any bytes; a rewrite keeps every checksum
//! it covers correct if it was correct before (incremental update, RFC 1624).

pub mod build;
pub(crate) mod edit;
mod key;
pub(crate) mod parse;

pub use key::FlowKey;
pub(crate) use key::{mac_u64, place, KEY_WORDS};
