//! Harnesses for end-to-end tests: real Open vSwitch or switch-sim fabrics in private network
//! namespaces, with hosts as namespaces that send and receive real UDP.
//!
//! - [`netns`]: [`Netns`], a namespace owned by the test (unique name, deleted on drop), with
//!   [`Netns::run`] to create sockets inside it.
//! - [`topology`]: [`TopologySpec`] (single switch, line, leaf-spine, ring) and the built
//!   [`Topology`] as data (dpids, ports, links, host addresses).
//! - [`ovs`]: [`OvsFabric`], the fabric itself: its own ovsdb-server and ovs-vswitchd,
//!   bridges, veths, hosts, `ovs-ofctl` introspection, link up/down, teardown on drop.
//! - [`simfab`]: [`SimFabric`], the same fabrics with every switch a `switch-sim` process.
//! - [`dataplane`]: [`DataPlane`], what both fabrics offer the end-to-end code.
//! - [`traffic`]: UDP probes from a host to a group or host address and where they arrived.
//! - [`e2e`]: the real tsmd in this process over a fabric; [`scenarios`]: the end-to-end
//!   scenarios, written once for every [`DataPlane`].
//!
//! Everything here needs root, `ip` (iproute2) and `ovs-ofctl`; [`OvsFabric`] also
//! `openvswitch-switch`, [`SimFabric`] the `switch-sim` binary. Every name it makes
//! on the machine starts with `tsmt-<pid>-`, and everything is removed by pid and by name when
//! the owning value drops, also when a test panics; leftovers of a process that was killed
//! outright are reaped by the next test process (see [`netns::reap_stale`]).

pub mod bier_e2e;
pub(crate) mod cmd;
pub mod dataplane;
pub mod e2e;
pub mod error;
pub mod netns;
pub mod ovs;
pub mod scenarios;
pub mod simfab;
pub mod topology;
pub mod traffic;

pub use dataplane::DataPlane;
pub use error::{Error, Result};
pub use netns::Netns;
pub use ovs::{FabricOptions, OvsFabric, PortCounters};
pub use simfab::{SimFabric, SimOptions, SimSwitch};
pub use topology::{Endpoint, Host, Link, Switch, Topology, TopologySpec};
pub use traffic::{Collect, Delivery, HostNs, Probe, Reception};

/// Whether this process can build fabrics: root, `ip` and Open vSwitch present. Tests that
/// need OVS call this and fail with its message rather than skip silently.
pub fn check_environment() -> std::result::Result<(), String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Err("the OVS harness needs root (network namespaces, veths)".into());
    }
    for program in [
        "ip",
        "ovs-vsctl",
        "ovs-vswitchd",
        "ovsdb-server",
        "ovsdb-tool",
        "ovs-ofctl",
    ] {
        let found = std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
        });
        if !found {
            return Err(format!(
                "`{program}` not found: install iproute2 and openvswitch-switch (scripts/test does)"
            ));
        }
    }
    Ok(())
}
