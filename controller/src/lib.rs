//! The TSM controller core: a state machine fed with switch messages, timers and commands. No I/O.
//!
//! Part 1, the pure forwarding core: the fabric model ([`topology`]), group trees
//! ([`tree`]), the subset planner ([`plan`]), the OpenFlow rule builder ([`rules`]) and the
//! recomputation after a topology change ([`mod@recompute`]), with a packet walk over plans
//! ([`mod@walk`]) and fabric builders ([`fabrics`]). Everything here is deterministic:
//! no clock, no I/O, no hash-map order in any output.

pub mod fabrics;
pub mod plan;
pub mod recompute;
pub mod rules;
pub mod topology;
pub mod tree;
pub mod walk;

pub use plan::{plan_subset, PlanDiff, PlanError, SubsetPlan, SwitchPlan};
pub use recompute::{recompute, Recomputation, ReplanError, Replanned};
pub use rules::{Batch, GroupIds, Installation, Rule, RuleError, SwitchBatch};
pub use topology::{Change, Dpid, Endpoint, Host, Link, Topology, TopologyError};
pub use tree::{GroupTree, NegotiatingGroup, PortSets, Tree};
