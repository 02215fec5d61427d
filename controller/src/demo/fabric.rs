//! The demo's data plane: a leaf-spine fabric of switch-sim software switches in this
//! process, joined by in-memory links, each switch connected to the controller over real
//! loopback TCP with real OpenFlow 1.3, and a simulated host on every leaf edge port.
//!
//! Numbering (what the API shows): spines have datapath ids 1..=S, leaves 0x101..; on a leaf,
//! port s goes to spine s and ports S+1.. to its hosts; on a spine, port l goes to leaf l.
//! Hosts are h1.. in leaf order. Ports are named after what they lead to (`spine1`, `leaf3`,
//! `h7`), so `/v1/switches` reads like the drawing.
//!
//! Guarantees: `start` returns with every switch running (or the first error, with the
//! switches started so far stopped); every switch also listens on 127.0.0.1 (an ephemeral
//! port) so `ovs-ofctl` can read its tables; `shutdown` stops every switch and host.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use switch_sim::ports::{memory_link, PortSpec};
use switch_sim::{Switch, SwitchError, SwitchHandle};
use tokio::task::JoinHandle;

use super::host::{Attachment, Host, HostFaults, HostId};

/// The shape of the fabric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub spines: u32,
    pub leaves: u32,
    pub hosts_per_leaf: u32,
}

impl Default for Shape {
    /// 2 spines, 4 leaves, 3 hosts per leaf: 6 switches, 8 links, 12 hosts.
    fn default() -> Shape {
        Shape {
            spines: 2,
            leaves: 4,
            hosts_per_leaf: 3,
        }
    }
}

impl Shape {
    pub fn switches(&self) -> usize {
        (self.spines + self.leaves) as usize
    }

    pub fn links(&self) -> usize {
        (self.spines * self.leaves) as usize
    }

    pub fn hosts(&self) -> usize {
        (self.leaves * self.hosts_per_leaf) as usize
    }
}

/// The datapath id of spine `s` (1-based).
pub fn spine_dpid(s: u32) -> u64 {
    u64::from(s)
}

/// The datapath id of leaf `l` (1-based).
pub fn leaf_dpid(l: u32) -> u64 {
    0x100 + u64::from(l)
}

/// A link between two switches, as the API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct WiredLink {
    pub a: (u64, u32),
    pub b: (u64, u32),
}

/// Why the fabric could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FabricError {
    #[error("the fabric must have 1..=8 spines, 1..=16 leaves and 1..=15 hosts per leaf (at most 250 hosts), not {0:?}")]
    Shape(Shape),
    #[error("switch {dpid:#x} did not start: {source}")]
    Switch { dpid: u64, source: SwitchError },
}

/// The running fabric.
#[derive(Debug)]
pub struct Fabric {
    pub shape: Shape,
    /// By datapath id.
    pub switches: BTreeMap<u64, SwitchHandle>,
    pub links: Vec<WiredLink>,
    /// h1.. in order.
    pub hosts: Vec<Host>,
    host_tasks: Vec<JoinHandle<()>>,
}

impl Fabric {
    /// Builds the fabric and starts every switch (connecting to `controller`, a
    /// `tcp:HOST:PORT` target) and every host. Must run inside a tokio runtime (hosts are
    /// tasks).
    pub fn start(
        shape: Shape,
        controller: &str,
        faults: &BTreeMap<HostId, HostFaults>,
    ) -> Result<Fabric, FabricError> {
        if !(1..=8).contains(&shape.spines)
            || !(1..=16).contains(&shape.leaves)
            || !(1..=15).contains(&shape.hosts_per_leaf)
            || shape.hosts() > 250
        {
            return Err(FabricError::Shape(shape));
        }
        let mut ports: BTreeMap<u64, Vec<(u32, PortSpec)>> = BTreeMap::new();
        let mut links = Vec::new();
        for s in 1..=shape.spines {
            for l in 1..=shape.leaves {
                let (at_spine, at_leaf) = memory_link();
                ports
                    .entry(spine_dpid(s))
                    .or_default()
                    .push((l, PortSpec::memory(at_spine).named(format!("leaf{l}"))));
                ports
                    .entry(leaf_dpid(l))
                    .or_default()
                    .push((s, PortSpec::memory(at_leaf).named(format!("spine{s}"))));
                links.push(WiredLink {
                    a: (spine_dpid(s), l),
                    b: (leaf_dpid(l), s),
                });
            }
        }
        let mut host_ends = Vec::new();
        for l in 1..=shape.leaves {
            for k in 0..shape.hosts_per_leaf {
                let n = (l - 1) * shape.hosts_per_leaf + k + 1;
                let id = HostId(u8::try_from(n).map_err(|_| FabricError::Shape(shape))?);
                let (at_switch, at_host) = memory_link();
                let port = shape.spines + 1 + k;
                ports
                    .entry(leaf_dpid(l))
                    .or_default()
                    .push((port, PortSpec::memory(at_switch).named(id.to_string())));
                let at = Attachment {
                    dpid: leaf_dpid(l),
                    port,
                    leaf: l,
                };
                host_ends.push((id, at, at_host));
            }
        }
        let mut switches = BTreeMap::new();
        for (dpid, ps) in ports {
            let mut b = Switch::builder()
                .dpid(dpid)
                .controller(controller)
                .listen("ptcp:0:127.0.0.1")
                // The controller is up before the switches: connect at once, and come
                // back quickly if it restarts.
                .backoff(Duration::from_millis(50), Duration::from_secs(1));
            for (no, p) in ps {
                b = b.port(no, p);
            }
            // On error, the switches already started stop when `switches` drops.
            let sw = b
                .start()
                .map_err(|source| FabricError::Switch { dpid, source })?;
            switches.insert(dpid, sw);
        }
        let (hosts, host_tasks) = host_ends
            .into_iter()
            .map(|(id, at, end)| {
                let f = faults.get(&id).copied().unwrap_or_default();
                Host::spawn(id, at, end, f)
            })
            .unzip();
        Ok(Fabric {
            shape,
            switches,
            links,
            hosts,
            host_tasks,
        })
    }

    /// Host `id`, if the fabric has it.
    pub fn host(&self, id: HostId) -> Option<&Host> {
        self.hosts.iter().find(|h| h.id == id)
    }

    /// Where `dpid` accepts OpenFlow connections (for `ovs-ofctl`).
    pub fn listen_addr(&self, dpid: u64) -> Option<SocketAddr> {
        self.switches
            .get(&dpid)
            .and_then(|s| s.listen_addrs().first().copied())
    }

    /// Stops every host and switch and waits for the switch threads.
    pub async fn shutdown(mut self) {
        for t in &self.host_tasks {
            t.abort();
        }
        for s in self.switches.values() {
            s.stop();
        }
        for (_, s) in std::mem::take(&mut self.switches) {
            s.shutdown().await;
        }
    }
}

impl Drop for Fabric {
    fn drop(&mut self) {
        // Switch handles stop their switches when they drop; hosts are tasks.
        for t in &self.host_tasks {
            t.abort();
        }
    }
}
