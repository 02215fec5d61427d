//! switch-sim: an OpenFlow 1.3 switch model.
//!
//! - [`Pipeline`]: one switch's flow tables, group table and ports, pure (no I/O, no clock:
//!   time is passed in as [`Time`]). It applies controller messages by the OF1.3.5 rules (and
//!   Open vSwitch's answers where the spec leaves room), forwards packets, expires flows, and
//!   answers multipart requests. [`Pipeline::trace`] forwards a packet without changing any
//!   state, which makes the pipeline a checker for the controller's rules.
//! - [`Fabric`]: several pipelines joined by links, with hosts; [`Fabric::trace`] follows a
//!   packet through the whole fabric and reports deliveries, loops and duplicates.
//! - [`packet`]: flow keys, header rewriting, and builders for test frames.

pub mod packet;
pub mod pipeline;
pub mod trace;

pub use packet::FlowKey;
pub use pipeline::{
    Config, DropCounters, DropReason, FlowSummary, Pipeline, PortError, Processed, Time,
};
pub use trace::{Delivery, Edge, Fabric, FabricError, Host, Ingress, Loop, TraceReport};
