//! Topologies: what to build ([`TopologySpec`]) and what was built ([`Topology`]).
//!
//! Numbering is deterministic, so a test can name what it expects:
//! - switches `s1..sN` with datapath ids `1..N` in spec order;
//! - on each switch, OpenFlow ports `1, 2, ...` go first to its inter-switch links in the order
//!   of [`TopologySpec::links`], then to its hosts in host order;
//! - hosts `h1..hM`: MAC `02:00:00:00:HH:LL`, IPv4 `10.0.H.L/8`, IPv6 `fd00::M/64`, where
//!   `M = 256·H + L` is the host number (so h1 is `10.0.0.1`, `fd00::1`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};

/// What to build: switches, links between them, and which switch each host hangs off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologySpec {
    /// A short name for messages.
    pub name: String,
    /// Number of switches.
    pub switches: usize,
    /// Inter-switch links as pairs of switch indices (0-based).
    pub links: Vec<(usize, usize)>,
    /// For each host (in order), the index of the switch it attaches to.
    pub hosts: Vec<usize>,
}

impl TopologySpec {
    /// One switch with `hosts` hosts.
    pub fn single(hosts: usize) -> Self {
        TopologySpec {
            name: format!("single-{hosts}"),
            switches: 1,
            links: Vec::new(),
            hosts: vec![0; hosts],
        }
    }

    /// `switches` switches in a line, `hosts_per_switch` hosts on each.
    pub fn line(switches: usize, hosts_per_switch: usize) -> Self {
        TopologySpec {
            name: format!("line-{switches}"),
            switches,
            links: (1..switches).map(|i| (i - 1, i)).collect(),
            hosts: spread(switches, hosts_per_switch),
        }
    }

    /// Leaf-spine: switches `0..spines` are spines, the next `leaves` are leaves, every leaf is
    /// linked to every spine, and every leaf has `hosts_per_leaf` hosts.
    pub fn leaf_spine(spines: usize, leaves: usize, hosts_per_leaf: usize) -> Self {
        let mut links = Vec::new();
        for leaf in 0..leaves {
            for spine in 0..spines {
                links.push((spines + leaf, spine));
            }
        }
        TopologySpec {
            name: format!("leafspine-{spines}x{leaves}"),
            switches: spines + leaves,
            links,
            hosts: (0..leaves)
                .flat_map(|leaf| std::iter::repeat_n(spines + leaf, hosts_per_leaf))
                .collect(),
        }
    }

    /// A ring of `switches` switches (a loop), `hosts_per_switch` hosts on each.
    pub fn ring(switches: usize, hosts_per_switch: usize) -> Self {
        TopologySpec {
            name: format!("ring-{switches}"),
            switches,
            links: (0..switches).map(|i| (i, (i + 1) % switches)).collect(),
            hosts: spread(switches, hosts_per_switch),
        }
    }

    /// The four topologies of the OVS end-to-end tests, each with at least 6 hosts: one switch
    /// with 6 hosts, a line of 3 switches (2 hosts each), leaf-spine with 2 spines and 4 leaves
    /// (2 hosts per leaf), a ring of 4 switches (2 hosts each).
    pub fn standard() -> Vec<TopologySpec> {
        vec![
            TopologySpec::single(6),
            TopologySpec::line(3, 2),
            TopologySpec::leaf_spine(2, 4, 2),
            TopologySpec::ring(4, 2),
        ]
    }

    /// Checks the spec can be built: indices in range, no self-loop, host numbers fit the
    /// addressing plan.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Error::BadTopology {
            name: self.name.clone(),
            reason,
        };
        if self.switches == 0 {
            return Err(bad("no switches".into()));
        }
        for &(a, b) in &self.links {
            if a >= self.switches || b >= self.switches {
                return Err(bad(format!(
                    "link ({a}, {b}) names a switch beyond {}",
                    self.switches
                )));
            }
            if a == b {
                return Err(bad(format!("link ({a}, {b}) is a self-loop")));
            }
        }
        if let Some(&s) = self.hosts.iter().find(|&&s| s >= self.switches) {
            return Err(bad(format!(
                "a host attaches to switch {s}, which does not exist"
            )));
        }
        if self.hosts.len() >= 0xff00 {
            return Err(bad(format!("{} hosts is too many", self.hosts.len())));
        }
        Ok(())
    }

    /// The topology this spec builds: names, dpids, port numbers and addresses.
    pub fn layout(&self) -> Result<Topology> {
        self.validate()?;
        let switches: Vec<Switch> = (0..self.switches)
            .map(|i| Switch {
                name: format!("s{}", i + 1),
                dpid: i as u64 + 1,
            })
            .collect();
        let mut next_port = vec![1u32; self.switches];
        let mut take_port = |s: usize| {
            let p = next_port[s];
            next_port[s] += 1;
            p
        };
        let end = |s: usize, port: u32| Endpoint {
            switch: switches[s].name.clone(),
            dpid: switches[s].dpid,
            port,
            ifname: format!("{}-eth{port}", switches[s].name),
        };
        let links = self
            .links
            .iter()
            .map(|&(a, b)| Link {
                a: end(a, take_port(a)),
                b: end(b, take_port(b)),
            })
            .collect();
        let hosts = self
            .hosts
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let number = i as u16 + 1;
                let [hi, lo] = number.to_be_bytes();
                Host {
                    name: format!("h{number}"),
                    mac: [0x02, 0, 0, 0, hi, lo],
                    ipv4: Ipv4Addr::new(10, 0, hi, lo),
                    ipv6: Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, number),
                    attach: end(s, take_port(s)),
                }
            })
            .collect();
        Ok(Topology {
            name: self.name.clone(),
            switches,
            links,
            hosts,
        })
    }
}

/// `hosts_per_switch` hosts on each of `switches` switches, in switch order.
fn spread(switches: usize, hosts_per_switch: usize) -> Vec<usize> {
    (0..switches)
        .flat_map(|s| std::iter::repeat_n(s, hosts_per_switch))
        .collect()
}

/// A built fabric as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// The spec's name.
    pub name: String,
    /// Switches in order (`s1` first).
    pub switches: Vec<Switch>,
    /// Inter-switch links in spec order (the index is the link's id for
    /// [`crate::OvsFabric::set_link_up`]).
    pub links: Vec<Link>,
    /// Hosts in order (`h1` first).
    pub hosts: Vec<Host>,
}

/// One OVS bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    /// Bridge name (`s1`).
    pub name: String,
    /// Datapath id, set explicitly (`other-config:datapath-id`).
    pub dpid: u64,
}

/// One side of a veth pair attached to a bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Bridge name.
    pub switch: String,
    /// The bridge's datapath id.
    pub dpid: u64,
    /// OpenFlow port number (`ofport_request`).
    pub port: u32,
    /// The interface name in the fabric's private namespace (`s1-eth3`).
    pub ifname: String,
}

/// An inter-switch link: a veth pair with both ends on bridges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The end on the first switch of the spec's pair.
    pub a: Endpoint,
    /// The end on the second switch.
    pub b: Endpoint,
}

/// A host: its own namespace with `eth0` cabled to a bridge port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Host name (`h1`).
    pub name: String,
    /// MAC address of its `eth0`.
    pub mac: [u8; 6],
    /// IPv4 address (prefix /8).
    pub ipv4: Ipv4Addr,
    /// IPv6 address (prefix /64).
    pub ipv6: Ipv6Addr,
    /// The bridge port its `eth0` is cabled to.
    pub attach: Endpoint,
}

impl Host {
    /// Its address of the same family as `like`.
    pub fn ip_like(&self, like: IpAddr) -> IpAddr {
        match like {
            IpAddr::V4(_) => IpAddr::V4(self.ipv4),
            IpAddr::V6(_) => IpAddr::V6(self.ipv6),
        }
    }

    /// The MAC as `02:00:00:00:00:01`.
    pub fn mac_string(&self) -> String {
        mac_to_string(&self.mac)
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_to_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl Topology {
    /// The host called `name`.
    pub fn host(&self, name: &str) -> Result<&Host> {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .ok_or_else(|| Error::UnknownHost(name.to_owned()))
    }

    /// The switch called `name`.
    pub fn switch(&self, name: &str) -> Result<&Switch> {
        self.switches
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::UnknownSwitch(name.to_owned()))
    }

    /// The host whose IPv4 or IPv6 address is `ip`.
    pub fn host_by_ip(&self, ip: IpAddr) -> Option<&Host> {
        self.hosts.iter().find(|h| match ip {
            IpAddr::V4(v4) => h.ipv4 == v4,
            IpAddr::V6(v6) => h.ipv6 == v6,
        })
    }

    /// Host names in order.
    pub fn host_names(&self) -> Vec<&str> {
        self.hosts.iter().map(|h| h.name.as_str()).collect()
    }

    /// Inter-switch links as `((dpid, port), (dpid, port))`, each link once, in spec order.
    pub fn link_ports(&self) -> Vec<((u64, u32), (u64, u32))> {
        self.links
            .iter()
            .map(|l| ((l.a.dpid, l.a.port), (l.b.dpid, l.b.port)))
            .collect()
    }

    /// Switch names adjacent to `switch` with the local port towards each, in link order.
    pub fn neighbours(&self, switch: &str) -> Vec<(u32, &str)> {
        let mut out = Vec::new();
        for l in &self.links {
            if l.a.switch == switch {
                out.push((l.a.port, l.b.switch.as_str()));
            } else if l.b.switch == switch {
                out.push((l.b.port, l.a.switch.as_str()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_spine_ports_and_addresses() {
        let t = TopologySpec::leaf_spine(2, 4, 2).layout().unwrap();
        assert_eq!(t.switches.len(), 6);
        assert_eq!(t.links.len(), 8);
        assert_eq!(t.hosts.len(), 8);
        // Leaf s3: uplinks on ports 1 (to s1) and 2 (to s2), hosts on 3 and 4.
        assert_eq!(t.neighbours("s3"), vec![(1, "s1"), (2, "s2")]);
        let h1 = t.host("h1").unwrap();
        assert_eq!((h1.attach.switch.as_str(), h1.attach.port), ("s3", 3));
        assert_eq!(h1.ipv4, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(h1.mac_string(), "02:00:00:00:00:01");
        let h8 = t.host("h8").unwrap();
        assert_eq!((h8.attach.switch.as_str(), h8.attach.port), ("s6", 4));
        // Spine s1: one port per leaf, in leaf order.
        assert_eq!(
            t.neighbours("s1"),
            vec![(1, "s3"), (2, "s4"), (3, "s5"), (4, "s6")]
        );
    }

    #[test]
    fn ring_closes_the_loop() {
        let t = TopologySpec::ring(4, 2).layout().unwrap();
        assert_eq!(t.links.len(), 4);
        assert_eq!(t.neighbours("s1"), vec![(1, "s2"), (2, "s4")]);
        assert_eq!(t.host("h1").unwrap().attach.port, 3);
    }

    #[test]
    fn standard_topologies_have_six_hosts_or_more() {
        for spec in TopologySpec::standard() {
            assert!(spec.layout().unwrap().hosts.len() >= 6, "{}", spec.name);
        }
    }

    #[test]
    fn bad_specs_are_refused_with_a_reason() {
        let mut spec = TopologySpec::line(2, 1);
        spec.links.push((0, 0));
        let err = spec.layout().unwrap_err().to_string();
        assert!(err.contains("self-loop"), "{err}");
        spec.links = vec![(0, 5)];
        assert!(spec.layout().is_err());
    }
}
