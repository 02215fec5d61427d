//! The TSM controller core: a state machine fed with switch messages, timers and commands. No I/O.
//!
//! Part 1, the pure forwarding core: the fabric model ([`topology`]), group trees
//! ([`tree`]), the subset planner ([`plan`]), the OpenFlow rule builder ([`rules`]) and the
//! recomputation after a topology change ([`mod@recompute`]), with a packet walk over plans
//! ([`mod@walk`]) and fabric builders ([`fabrics`]).
//!
//! Part 2, the state machine ([`machine::Controller`]): switch sessions ([`session`]), LLDP
//! and host learning ([`frames`]), the subset address pool ([`pool`]), reconciliation
//! ([`reconcile`]), commands and queries ([`command`]), the event stream ([`event`]) and the
//! durable snapshot ([`snapshot`]), on virtual time ([`time`]). The integration tests' `Net`
//! (`tests/common/net.rs`) wires switch-sim pipelines to a controller on virtual time.
//! IGMP / MLD snooping ([`snoop`]) makes groups declared snooped follow the hosts' joins.
//!
//! With feature `daemon` (default), [`daemon`] is `tsmd`, the tokio shell around the core:
//! OpenFlow connections, the HTTP API (`api::Service`), the store, the clock and signals.
//!
//! Everything in the core is deterministic: no clock, no I/O, no hash-map order in any output.

pub mod bier_plane;
pub mod command;
#[cfg(feature = "daemon")]
pub mod daemon;
#[cfg(feature = "daemon")]
pub mod demo;
pub mod event;
pub mod fabrics;
pub mod frames;
pub mod machine;
pub mod plan;
pub mod pool;
pub mod rank;
pub mod recompute;
pub mod reconcile;
pub mod rendezvous;
pub mod rules;
mod session;
pub mod snapshot;
pub mod snoop;
pub mod time;
pub mod topology;
pub mod tree;
pub mod walk;

pub use command::{
    Command, CommandError, GroupInfo, HostInfo, LinkInfo, PortInfo, Reply, RequestId, SubsetInfo,
    SubsetState, SwitchInfo,
};
pub use event::{Event, EventKind, RemovalReason};
pub use machine::bier_state;
pub use machine::{Config, ConfigError, ConnId, Controller, Counters, Input, OpId, Output};
pub use plan::{plan_subset, PlanDiff, PlanError, SubsetPlan, SwitchPlan};
pub use pool::{AddrPool, AddrRange};
pub use recompute::{recompute, Recomputation, ReplanError, Replanned};
pub use rules::{Batch, GroupIds, Installation, Rule, RuleError, SwitchBatch};
pub use snapshot::{RestoreError, Snapshot};
pub use time::Time;
pub use topology::{Change, Dpid, Endpoint, Host, Link, Topology, TopologyError};
pub use tree::{GroupTree, NegotiatingGroup, PortSets, Tree};
