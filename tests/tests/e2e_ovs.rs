//! tsmd end to end on real Open vSwitch: the real daemon in this process, bridges in a private
//! namespace, real UDP between host namespaces. The scenarios are `tsm_tests::scenarios`
//! (see there for what each checks); `tests/e2e_sim.rs` runs the same ones on switch-sim.
//!
//! Random choices come from a seed printed at the start; `TSM_E2E_SEED=N` replays it.
#![allow(clippy::unwrap_used)]

use tsm_tests::{scenarios, OvsFabric, TopologySpec};

#[test]
fn e2e_single_switch() {
    scenarios::subsets_expiry_delete::<OvsFabric>(TopologySpec::single(6)).unwrap();
}

#[test]
fn e2e_line_of_three() {
    scenarios::subsets_expiry_delete::<OvsFabric>(TopologySpec::line(3, 2)).unwrap();
}

#[test]
fn e2e_leaf_spine() {
    scenarios::subsets_expiry_delete::<OvsFabric>(TopologySpec::leaf_spine(2, 4, 2)).unwrap();
}

#[test]
fn e2e_ring() {
    scenarios::subsets_expiry_delete::<OvsFabric>(TopologySpec::ring(4, 2)).unwrap();
}

#[test]
fn e2e_ring_link_failure_recomputes() {
    scenarios::ring_link_failure::<OvsFabric>().unwrap();
}

#[test]
fn e2e_bad_input_is_refused_and_leaves_nothing() {
    scenarios::bad_input::<OvsFabric>().unwrap();
}

#[test]
fn e2e_restart_reconciles_without_touching_live_subsets() {
    scenarios::restart_reconciles::<OvsFabric>().unwrap();
}
