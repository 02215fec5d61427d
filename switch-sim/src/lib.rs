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
//! - [`Switch`]: the software switch around a pipeline: an OpenFlow agent ([`agent`]: active
//!   controller connections with backoff, a passive listener for `ovs-ofctl`, echo, barrier,
//!   roles, asynchronous messages), [`ports`] on real interfaces (pnet, veth) or in memory,
//!   and flow timeouts on tokio's clock. The `switch-sim` binary runs one from the command
//!   line.
//! - [`bier`]: BIER in the pipeline: our OpenFlow experimenter extension's control plane
//!   (BIFTs, BFR-ids, BIER→TSM caching) and the RFC 8279 / RFC 8296 / RFC 9262 data plane
//!   (`bier_encap`, `bier_forward`, `bier_decap`), with counters.
//! - [`netns`]: network namespaces and veth pairs for tests and benchmarks that run switches
//!   on real interfaces (needs root).

pub mod agent;
pub mod bier;
pub mod netns;
pub mod packet;
pub mod pipeline;
pub mod ports;
pub mod switch;
pub mod trace;

pub use packet::FlowKey;
pub use pipeline::{
    Config, DropCounters, DropReason, FlowSummary, Pipeline, PortError, Processed, Time,
};
pub use switch::{
    ConnectionInfo, Counters, PortCounters, Switch, SwitchBuilder, SwitchError, SwitchHandle,
};
pub use trace::{Delivery, Edge, Fabric, FabricError, Host, Ingress, Loop, TraceReport};
