//! This project's OpenFlow experimenter extensions, plugged into the codec through
//! [`ExperimenterMessage`](crate::experimenter::ExperimenterMessage) and experimenter actions.
//!
//! - [`bier`]: BIER and BIER-TE tables, local BFR-ids, BIER→TSM caching and the
//!   encap/decap/forward actions, as specified in `drafts/bier-openflow.md`.
//!
//! Guarantees: the same as the rest of the crate — decoding never panics, unknown values
//! survive where the layout allows, and every byte (padding included) is written on emit.

pub mod bier;
