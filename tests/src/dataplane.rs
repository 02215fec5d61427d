//! [`DataPlane`]: what the end-to-end tests need from a fabric, whatever switches it is made
//! of. [`crate::OvsFabric`] (Open vSwitch bridges) and [`crate::SimFabric`] (`switch-sim`
//! processes) implement it, so [`crate::e2e::E2e`] and the scenarios in
//! [`crate::scenarios`] run unchanged on either.
//!
//! Both fabrics share the layout the trait relies on: a private namespace ([`DataPlane::netns`])
//! in which the switches run and a controller must listen (`tcp:127.0.0.1:PORT`), hosts as
//! namespaces on veth pairs numbered as [`Topology`] says, and a private directory for logs
//! and state that goes away with the fabric. Introspection goes through `ovs-ofctl`, whose
//! output reads the same for both switches (OVS through its management socket, switch-sim
//! through its passive listener), so checks that parse it need no variant per switch.

use std::net::IpAddr;
use std::path::Path;

use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::topology::{Host, Topology, TopologySpec};
use crate::traffic::{Collect, Delivery, HostNs, Probe};

/// A fabric of OpenFlow 1.3 switches and host namespaces that a controller can drive.
pub trait DataPlane {
    /// Whether this process can build such fabrics (root, the programs they need); the
    /// message says what is missing. Tests fail with it rather than skip.
    fn check_environment() -> std::result::Result<(), String>
    where
        Self: Sized;

    /// Builds `spec` with no controller: the switches forward nothing until `ovs-ofctl` or a
    /// controller (see [`DataPlane::set_controller`]) installs rules.
    fn build(spec: &TopologySpec) -> Result<Self>
    where
        Self: Sized;

    /// The switch software, for messages (`"ovs"`, `"switch-sim"`).
    fn kind(&self) -> &'static str;

    /// The topology as built.
    fn topology(&self) -> &Topology;

    /// The private namespace: where the switches run and where a controller listens.
    fn netns(&self) -> &Netns;

    /// The fabric's private directory (logs; deleted with the fabric).
    fn dir(&self) -> &Path;

    /// Every host with its namespace, in host order.
    fn host_namespaces(&self) -> Vec<HostNs<'_>>;

    /// Points every switch at controller `target` (`tcp:127.0.0.1:PORT` inside
    /// [`DataPlane::netns`]), or at none. The first time, the switches lose their rules
    /// (as Open vSwitch does when a bridge gets its first controller).
    fn set_controller(&self, target: Option<&str>) -> Result<()>;

    /// `ovs-ofctl -O OpenFlow13 OPTIONS... COMMAND <switch> ARGS...` and its output.
    fn ofctl_with(
        &self,
        options: &[&str],
        command: &str,
        switch: &str,
        args: &[&str],
    ) -> Result<String>;

    /// Takes inter-switch link `index` (into `topology().links`) down or up on both veth
    /// ends; returns once the kernel shows the new state on both.
    fn set_link_up(&self, index: usize, up: bool) -> Result<()>;

    /// Waits until rule changes already acknowledged by the switches apply to every packet
    /// (Open vSwitch: its datapath flow cache revalidated; switch-sim: at once, nothing to
    /// wait for).
    fn settle(&self) -> Result<()>;

    /// `ovs-ofctl -O OpenFlow13 COMMAND <switch> ARGS...`.
    fn ofctl(&self, command: &str, switch: &str, args: &[&str]) -> Result<String> {
        self.ofctl_with(&[], command, switch, args)
    }

    /// `ovs-ofctl dump-flows <switch>`.
    fn dump_flows(&self, switch: &str) -> Result<String> {
        self.ofctl("dump-flows", switch, &[])
    }

    /// `ovs-ofctl dump-groups <switch>`.
    fn dump_groups(&self, switch: &str) -> Result<String> {
        self.ofctl("dump-groups", switch, &[])
    }

    /// Host `name`'s info.
    fn host(&self, name: &str) -> Result<&Host> {
        self.topology().host(name)
    }

    /// The index of the inter-switch link between switches `a` and `b` (either order).
    fn link_between(&self, a: &str, b: &str) -> Option<usize> {
        self.topology().links.iter().position(|l| {
            (l.a.switch == a && l.b.switch == b) || (l.a.switch == b && l.b.switch == a)
        })
    }

    /// Sends every probe at once and collects them together at `receivers` (see
    /// [`crate::traffic`]).
    fn probe(&self, probes: &[Probe], receivers: &[&str], opts: &Collect) -> Result<Vec<Delivery>> {
        crate::traffic::send_and_collect(&self.host_namespaces(), probes, receivers, opts)
    }

    /// One UDP datagram from host `from` to `dst:port`, collected at `receivers`.
    fn send_and_collect(
        &self,
        from: &str,
        dst: IpAddr,
        port: u16,
        payload: &[u8],
        receivers: &[&str],
        deadline: std::time::Duration,
    ) -> Result<Delivery> {
        let probe = Probe {
            from: from.to_owned(),
            dst,
            port,
            payload: payload.to_vec(),
        };
        let opts = Collect {
            deadline,
            ..Collect::default()
        };
        let mut out = self.probe(std::slice::from_ref(&probe), receivers, &opts)?;
        out.pop()
            .ok_or_else(|| Error::BadProbe("no delivery for the probe".into()))
    }

    /// Makes every host send one IPv4 broadcast and one IPv6 all-nodes datagram (to `port`),
    /// so a controller learning hosts from packet-ins sees them all.
    fn announce_all(&self, port: u16) -> Result<()> {
        for h in self.host_namespaces() {
            h.announce(port)?;
        }
        Ok(())
    }
}
