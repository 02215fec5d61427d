//! The fabric as the controller knows it: switches and their ports, links between switch
//! ports, and hosts attached to edge ports.
//!
//! Guarantees: every mutation returns the list of what changed (empty when nothing did), in a
//! deterministic order, including the *liveness* transitions it caused (a port going down
//! reports `PortDown` and `LinkDown` for the link on it), so the caller knows whether the live
//! graph moved and which hosts did. Queries never depend on hash order: everything is kept in
//! `BTreeMap`s. A port holds at most one link; a host sits on an edge port (a port without a
//! link); reserved port numbers (`OFPP_LOCAL`, ...) are not part of the fabric and are ignored.
//!
//! Liveness: a switch is live while connected; a port is live when its switch is live and the
//! port is up; a link is live when both its ports are live and both of its sides are up (a side
//! is one direction, as discovery or port status saw it).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use openflow::oxm::MacAddr;
use openflow::{DatapathId, PortNo};

/// Datapath id of a switch (`datapath_id`, OF1.3.5 §7.3.1).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dpid(pub u64);

impl core::fmt::Debug for Dpid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Dpid({:#x})", self.0)
    }
}

impl core::fmt::Display for Dpid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl From<DatapathId> for Dpid {
    fn from(d: DatapathId) -> Self {
        Dpid(d.0)
    }
}

impl From<Dpid> for DatapathId {
    fn from(d: Dpid) -> Self {
        DatapathId(d.0)
    }
}

/// One port of one switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub dpid: Dpid,
    pub port: PortNo,
}

impl Endpoint {
    pub const fn new(dpid: Dpid, port: PortNo) -> Self {
        Endpoint { dpid, port }
    }
}

impl core::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}:{}", self.dpid, self.port.0)
    }
}

/// A link between two switch ports, named by its ends in order (`a < b`), so the same cable
/// always has the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Link {
    pub a: Endpoint,
    pub b: Endpoint,
}

impl Link {
    /// The link between `x` and `y`, in either order.
    pub fn new(x: Endpoint, y: Endpoint) -> Self {
        if x <= y {
            Link { a: x, b: y }
        } else {
            Link { a: y, b: x }
        }
    }

    /// The other end of the link seen from `e`, if `e` is one of its ends.
    pub fn peer(&self, e: Endpoint) -> Option<Endpoint> {
        if e == self.a {
            Some(self.b)
        } else if e == self.b {
            Some(self.a)
        } else {
            None
        }
    }
}

/// A host: a MAC address, its IP addresses, and the edge port it is attached to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    pub mac: MacAddr,
    pub addrs: BTreeSet<IpAddr>,
    pub at: Endpoint,
}

/// What a mutation changed. Liveness transitions of links are reported as `LinkUp`/`LinkDown`
/// whatever caused them (a port, a switch or the link's own side).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    SwitchAdded(Dpid),
    SwitchUp(Dpid),
    SwitchDown(Dpid),
    SwitchRemoved(Dpid),
    PortAdded(Endpoint),
    PortUp(Endpoint),
    PortDown(Endpoint),
    PortRemoved(Endpoint),
    LinkAdded(Link),
    LinkRemoved(Link),
    /// The link became live.
    LinkUp(Link),
    /// The link stopped being live.
    LinkDown(Link),
    HostAdded(MacAddr),
    HostMoved {
        mac: MacAddr,
        from: Endpoint,
        to: Endpoint,
    },
    HostRemoved(MacAddr),
    /// The host's set of IP addresses changed.
    HostAddrs(MacAddr),
}

impl Change {
    /// Whether the change can move a tree: the live graph (switches, ports, links) or the
    /// place of a host (which decides the core switches and delivery ports) changed.
    pub fn affects_forwarding(&self) -> bool {
        !matches!(self, Change::HostAddrs(_))
    }
}

/// A topology mutation that could not be applied. The topology is unchanged when one is
/// returned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopologyError {
    #[error("unknown switch {0}")]
    UnknownSwitch(Dpid),
    #[error("unknown port {0}")]
    UnknownPort(Endpoint),
    #[error("port {0:?} is a reserved port, not part of the fabric")]
    ReservedPort(PortNo),
    #[error("a link cannot join a switch to itself ({a} - {b})")]
    SelfLink { a: Endpoint, b: Endpoint },
    #[error("no link on port {0}")]
    NoLink(Endpoint),
    #[error("host {mac} cannot attach to {at}: the port holds a link")]
    HostOnLinkPort { mac: MacAddr, at: Endpoint },
    #[error("unknown host {0}")]
    UnknownHost(MacAddr),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct SwitchState {
    live: bool,
    /// Port number → up.
    ports: BTreeMap<PortNo, bool>,
}

/// Each side of a link: whether that direction is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LinkSides {
    a_up: bool,
    b_up: bool,
}

/// The fabric. See the module header for the guarantees.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Topology {
    switches: BTreeMap<Dpid, SwitchState>,
    links: BTreeMap<Link, LinkSides>,
    /// Each end of each link → its link, for lookups by port.
    link_at: BTreeMap<Endpoint, Link>,
    hosts: BTreeMap<MacAddr, Host>,
    hosts_at: BTreeMap<Endpoint, BTreeSet<MacAddr>>,
}

impl Topology {
    pub fn new() -> Self {
        Topology::default()
    }

    // ---- queries ----

    /// Every known switch, live or not, in dpid order.
    pub fn switches(&self) -> impl Iterator<Item = Dpid> + '_ {
        self.switches.keys().copied()
    }

    /// Every live switch, in dpid order.
    pub fn live_switches(&self) -> impl Iterator<Item = Dpid> + '_ {
        self.switches
            .iter()
            .filter(|(_, s)| s.live)
            .map(|(d, _)| *d)
    }

    pub fn has_switch(&self, dpid: Dpid) -> bool {
        self.switches.contains_key(&dpid)
    }

    pub fn is_switch_live(&self, dpid: Dpid) -> bool {
        self.switches.get(&dpid).is_some_and(|s| s.live)
    }

    /// The ports of a switch with their up flag, in port order (empty for an unknown switch).
    pub fn ports(&self, dpid: Dpid) -> impl Iterator<Item = (PortNo, bool)> + '_ {
        self.switches
            .get(&dpid)
            .into_iter()
            .flat_map(|s| s.ports.iter().map(|(p, up)| (*p, *up)))
    }

    pub fn has_port(&self, e: Endpoint) -> bool {
        self.switches
            .get(&e.dpid)
            .is_some_and(|s| s.ports.contains_key(&e.port))
    }

    /// The port exists, is up, and its switch is live.
    pub fn is_port_live(&self, e: Endpoint) -> bool {
        self.switches
            .get(&e.dpid)
            .is_some_and(|s| s.live && s.ports.get(&e.port).copied().unwrap_or(false))
    }

    /// Every link, live or not, in order.
    pub fn links(&self) -> impl Iterator<Item = Link> + '_ {
        self.links.keys().copied()
    }

    /// The link on a port, live or not.
    pub fn link_at(&self, e: Endpoint) -> Option<Link> {
        self.link_at.get(&e).copied()
    }

    /// The far end of the link on `e`, live or not.
    pub fn peer(&self, e: Endpoint) -> Option<Endpoint> {
        self.link_at(e).and_then(|l| l.peer(e))
    }

    /// Both ports live and both sides up.
    pub fn is_link_live(&self, l: Link) -> bool {
        self.links
            .get(&l)
            .is_some_and(|s| s.a_up && s.b_up && self.is_port_live(l.a) && self.is_port_live(l.b))
    }

    /// The live links of a switch as (local port, far end), in local port order. Empty when
    /// the switch is not live.
    pub fn live_neighbors(&self, dpid: Dpid) -> Vec<(PortNo, Endpoint)> {
        let Some(s) = self.switches.get(&dpid) else {
            return Vec::new();
        };
        s.ports
            .keys()
            .filter_map(|p| {
                let e = Endpoint::new(dpid, *p);
                let l = self.link_at(e)?;
                if self.is_link_live(l) {
                    l.peer(e).map(|far| (*p, far))
                } else {
                    None
                }
            })
            .collect()
    }

    /// Ports of a switch without a link (where hosts attach), in port order.
    pub fn edge_ports(&self, dpid: Dpid) -> Vec<PortNo> {
        self.ports(dpid)
            .map(|(p, _)| p)
            .filter(|p| !self.link_at.contains_key(&Endpoint::new(dpid, *p)))
            .collect()
    }

    pub fn is_edge_port(&self, e: Endpoint) -> bool {
        self.has_port(e) && !self.link_at.contains_key(&e)
    }

    /// Every host, in MAC order.
    pub fn hosts(&self) -> impl Iterator<Item = &Host> + '_ {
        self.hosts.values()
    }

    pub fn host(&self, mac: MacAddr) -> Option<&Host> {
        self.hosts.get(&mac)
    }

    /// The hosts attached to a port, in MAC order.
    pub fn hosts_at(&self, e: Endpoint) -> impl Iterator<Item = MacAddr> + '_ {
        self.hosts_at.get(&e).into_iter().flatten().copied()
    }

    /// Whether any host is attached to the switch (live or not).
    pub fn has_hosts(&self, dpid: Dpid) -> bool {
        let lo = Endpoint::new(dpid, PortNo(0));
        let hi = Endpoint::new(dpid, PortNo(u32::MAX));
        self.hosts_at.range(lo..=hi).any(|(_, h)| !h.is_empty())
    }

    /// The host that owns an IP address (the first in MAC order if several claim it).
    pub fn host_by_ip(&self, ip: IpAddr) -> Option<&Host> {
        self.hosts.values().find(|h| h.addrs.contains(&ip))
    }

    /// Live switches without hosts: where the roots of the group trees go. All live switches
    /// when every one has hosts. In dpid order.
    pub fn core_switches(&self) -> Vec<Dpid> {
        let live: Vec<Dpid> = self.live_switches().collect();
        let core: Vec<Dpid> = live
            .iter()
            .copied()
            .filter(|d| !self.has_hosts(*d))
            .collect();
        if core.is_empty() {
            live
        } else {
            core
        }
    }

    // ---- mutations: switches and ports ----

    /// A switch connected (or reconnected) with this port list (port number, up). Ports it no
    /// longer lists are removed with their links and hosts. Reserved ports are ignored.
    pub fn switch_connected(
        &mut self,
        dpid: Dpid,
        ports: impl IntoIterator<Item = (PortNo, bool)>,
    ) -> Vec<Change> {
        let new_ports: BTreeMap<PortNo, bool> =
            ports.into_iter().filter(|(p, _)| p.is_physical()).collect();
        let watch = self.watch_switch(dpid);
        let mut out = Vec::new();
        match self.switches.get_mut(&dpid) {
            None => {
                self.switches.insert(
                    dpid,
                    SwitchState {
                        live: true,
                        ports: BTreeMap::new(),
                    },
                );
                out.push(Change::SwitchAdded(dpid));
            }
            Some(s) => {
                if !s.live {
                    s.live = true;
                    out.push(Change::SwitchUp(dpid));
                }
            }
        }
        let old: Vec<PortNo> = self.ports(dpid).map(|(p, _)| p).collect();
        for p in old {
            if !new_ports.contains_key(&p) {
                self.drop_port(Endpoint::new(dpid, p), &mut out);
            }
        }
        for (p, up) in new_ports {
            self.put_port(Endpoint::new(dpid, p), up, &mut out);
        }
        self.finish_watch(watch, &mut out);
        out
    }

    /// The switch disconnected: it and its links stop being live; what is known is kept.
    pub fn switch_disconnected(&mut self, dpid: Dpid) -> Vec<Change> {
        let watch = self.watch_switch(dpid);
        let mut out = Vec::new();
        if let Some(s) = self.switches.get_mut(&dpid) {
            if s.live {
                s.live = false;
                out.push(Change::SwitchDown(dpid));
            }
        }
        self.finish_watch(watch, &mut out);
        out
    }

    /// Forget a switch with its ports, links and hosts.
    pub fn remove_switch(&mut self, dpid: Dpid) -> Vec<Change> {
        let watch = self.watch_switch(dpid);
        let mut out = Vec::new();
        let ports: Vec<PortNo> = self.ports(dpid).map(|(p, _)| p).collect();
        for p in ports {
            self.drop_port(Endpoint::new(dpid, p), &mut out);
        }
        if self.switches.remove(&dpid).is_some() {
            out.push(Change::SwitchRemoved(dpid));
        }
        self.finish_watch(watch, &mut out);
        out
    }

    /// A port was added or changed state (`OFPT_PORT_STATUS` ADD/MODIFY, OF1.3.5 §7.4.3).
    pub fn port_status(&mut self, e: Endpoint, up: bool) -> Result<Vec<Change>, TopologyError> {
        self.check_switch_port(e)?;
        let watch = self.watch_port(e);
        let mut out = Vec::new();
        self.put_port(e, up, &mut out);
        self.finish_watch(watch, &mut out);
        Ok(out)
    }

    /// A port was deleted (`OFPT_PORT_STATUS` DELETE): its link and hosts go with it.
    pub fn remove_port(&mut self, e: Endpoint) -> Vec<Change> {
        let watch = self.watch_port(e);
        let mut out = Vec::new();
        self.drop_port(e, &mut out);
        self.finish_watch(watch, &mut out);
        out
    }

    // ---- mutations: links ----

    /// Discovery saw a link between `x` and `y`; both sides start up. A link that was on
    /// either port before is replaced (the cabling changed), and hosts on either port are
    /// removed (they were learned on what is an inter-switch port).
    pub fn add_link(&mut self, x: Endpoint, y: Endpoint) -> Result<Vec<Change>, TopologyError> {
        self.check_port(x)?;
        self.check_port(y)?;
        if x.dpid == y.dpid {
            return Err(TopologyError::SelfLink { a: x, b: y });
        }
        let link = Link::new(x, y);
        let mut watch = self.watch_port(x);
        watch.extend(self.watch_port(y));
        watch.push((link, false));
        let mut out = Vec::new();
        let fresh = self.link_at(x) != Some(link);
        for e in [x, y] {
            if let Some(old) = self.link_at(e) {
                if old != link {
                    self.drop_link(old, &mut out);
                }
            }
            self.drop_hosts_at(e, &mut out);
        }
        if fresh {
            self.links.insert(
                link,
                LinkSides {
                    a_up: true,
                    b_up: true,
                },
            );
            self.link_at.insert(link.a, link);
            self.link_at.insert(link.b, link);
            out.push(Change::LinkAdded(link));
        } else if let Some(s) = self.links.get_mut(&link) {
            s.a_up = true;
            s.b_up = true;
        }
        self.finish_watch(watch, &mut out);
        Ok(out)
    }

    /// One side of the link on `e` (the direction that leaves `e`) went up or down.
    pub fn link_side(&mut self, e: Endpoint, up: bool) -> Result<Vec<Change>, TopologyError> {
        let link = self.link_at(e).ok_or(TopologyError::NoLink(e))?;
        let watch = vec![(link, self.is_link_live(link))];
        if let Some(s) = self.links.get_mut(&link) {
            if e == link.a {
                s.a_up = up;
            } else {
                s.b_up = up;
            }
        }
        let mut out = Vec::new();
        self.finish_watch(watch, &mut out);
        Ok(out)
    }

    /// Forget the link on `e`.
    pub fn remove_link(&mut self, e: Endpoint) -> Result<Vec<Change>, TopologyError> {
        let link = self.link_at(e).ok_or(TopologyError::NoLink(e))?;
        let watch = vec![(link, self.is_link_live(link))];
        let mut out = Vec::new();
        self.drop_link(link, &mut out);
        self.finish_watch(watch, &mut out);
        Ok(out)
    }

    // ---- mutations: hosts ----

    /// A host was seen on `at` (configured, or learned from a packet-in). Adds it, moves it,
    /// or adds `addrs` to the addresses it already has.
    pub fn host_seen(
        &mut self,
        mac: MacAddr,
        at: Endpoint,
        addrs: impl IntoIterator<Item = IpAddr>,
    ) -> Result<Vec<Change>, TopologyError> {
        self.check_port(at)?;
        if self.link_at.contains_key(&at) {
            return Err(TopologyError::HostOnLinkPort { mac, at });
        }
        let mut out = Vec::new();
        match self.hosts.get_mut(&mac) {
            None => {
                self.hosts.insert(
                    mac,
                    Host {
                        mac,
                        addrs: addrs.into_iter().collect(),
                        at,
                    },
                );
                self.hosts_at.entry(at).or_default().insert(mac);
                out.push(Change::HostAdded(mac));
            }
            Some(h) => {
                let before = h.addrs.len();
                h.addrs.extend(addrs);
                let grew = h.addrs.len() != before;
                let from = h.at;
                if from != at {
                    h.at = at;
                    Self::unindex(&mut self.hosts_at, from, mac);
                    self.hosts_at.entry(at).or_default().insert(mac);
                    out.push(Change::HostMoved { mac, from, to: at });
                }
                if grew {
                    out.push(Change::HostAddrs(mac));
                }
            }
        }
        Ok(out)
    }

    /// Replace the host's IP addresses.
    pub fn set_host_addrs(
        &mut self,
        mac: MacAddr,
        addrs: impl IntoIterator<Item = IpAddr>,
    ) -> Result<Vec<Change>, TopologyError> {
        let h = self
            .hosts
            .get_mut(&mac)
            .ok_or(TopologyError::UnknownHost(mac))?;
        let addrs: BTreeSet<IpAddr> = addrs.into_iter().collect();
        if h.addrs == addrs {
            return Ok(Vec::new());
        }
        h.addrs = addrs;
        Ok(vec![Change::HostAddrs(mac)])
    }

    pub fn remove_host(&mut self, mac: MacAddr) -> Vec<Change> {
        match self.hosts.remove(&mac) {
            Some(h) => {
                Self::unindex(&mut self.hosts_at, h.at, mac);
                vec![Change::HostRemoved(mac)]
            }
            None => Vec::new(),
        }
    }

    // ---- internals ----

    fn check_switch_port(&self, e: Endpoint) -> Result<(), TopologyError> {
        if !e.port.is_physical() {
            return Err(TopologyError::ReservedPort(e.port));
        }
        if !self.switches.contains_key(&e.dpid) {
            return Err(TopologyError::UnknownSwitch(e.dpid));
        }
        Ok(())
    }

    fn check_port(&self, e: Endpoint) -> Result<(), TopologyError> {
        self.check_switch_port(e)?;
        if !self.has_port(e) {
            return Err(TopologyError::UnknownPort(e));
        }
        Ok(())
    }

    fn put_port(&mut self, e: Endpoint, up: bool, out: &mut Vec<Change>) {
        let Some(s) = self.switches.get_mut(&e.dpid) else {
            return;
        };
        match s.ports.insert(e.port, up) {
            None => {
                out.push(Change::PortAdded(e));
                if !up {
                    out.push(Change::PortDown(e));
                }
            }
            Some(was) if was != up => {
                out.push(if up {
                    Change::PortUp(e)
                } else {
                    Change::PortDown(e)
                });
            }
            Some(_) => {}
        }
    }

    fn drop_port(&mut self, e: Endpoint, out: &mut Vec<Change>) {
        if let Some(l) = self.link_at(e) {
            self.drop_link(l, out);
        }
        self.drop_hosts_at(e, out);
        if let Some(s) = self.switches.get_mut(&e.dpid) {
            if s.ports.remove(&e.port).is_some() {
                out.push(Change::PortRemoved(e));
            }
        }
    }

    fn drop_link(&mut self, l: Link, out: &mut Vec<Change>) {
        if self.links.remove(&l).is_some() {
            self.link_at.remove(&l.a);
            self.link_at.remove(&l.b);
            out.push(Change::LinkRemoved(l));
        }
    }

    fn drop_hosts_at(&mut self, e: Endpoint, out: &mut Vec<Change>) {
        if let Some(macs) = self.hosts_at.remove(&e) {
            for mac in macs {
                self.hosts.remove(&mac);
                out.push(Change::HostRemoved(mac));
            }
        }
    }

    fn unindex(idx: &mut BTreeMap<Endpoint, BTreeSet<MacAddr>>, at: Endpoint, mac: MacAddr) {
        if let Some(set) = idx.get_mut(&at) {
            set.remove(&mac);
            if set.is_empty() {
                idx.remove(&at);
            }
        }
    }

    /// The links a change to `dpid` can affect, with their liveness now.
    fn watch_switch(&self, dpid: Dpid) -> Vec<(Link, bool)> {
        self.ports(dpid)
            .filter_map(|(p, _)| self.link_at(Endpoint::new(dpid, p)))
            .map(|l| (l, self.is_link_live(l)))
            .collect()
    }

    fn watch_port(&self, e: Endpoint) -> Vec<(Link, bool)> {
        self.link_at(e)
            .map(|l| (l, self.is_link_live(l)))
            .into_iter()
            .collect()
    }

    /// Reports the liveness transitions of the watched links (a removed link that was live
    /// also went down).
    fn finish_watch(&self, watch: Vec<(Link, bool)>, out: &mut Vec<Change>) {
        let mut seen = BTreeSet::new();
        for (l, was) in watch {
            if !seen.insert(l) {
                continue;
            }
            let now = self.is_link_live(l);
            if was && !now {
                out.push(Change::LinkDown(l));
            } else if !was && now {
                out.push(Change::LinkUp(l));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(d: u64, p: u32) -> Endpoint {
        Endpoint::new(Dpid(d), PortNo(p))
    }

    fn mac(n: u8) -> MacAddr {
        MacAddr([2, 0, 0, 0, 0, n])
    }

    fn two_switches() -> Topology {
        let mut t = Topology::new();
        t.switch_connected(Dpid(1), [(PortNo(1), true), (PortNo(2), true)]);
        t.switch_connected(Dpid(2), [(PortNo(1), true), (PortNo(2), true)]);
        t
    }

    #[test]
    fn new_switch_reports_ports_and_ignores_reserved() {
        let mut t = Topology::new();
        let c = t.switch_connected(
            Dpid(7),
            [(PortNo(1), true), (PortNo(2), false), (PortNo::LOCAL, true)],
        );
        assert_eq!(
            c,
            vec![
                Change::SwitchAdded(Dpid(7)),
                Change::PortAdded(ep(7, 1)),
                Change::PortAdded(ep(7, 2)),
                Change::PortDown(ep(7, 2)),
            ]
        );
        assert_eq!(t.edge_ports(Dpid(7)), vec![PortNo(1), PortNo(2)]);
        assert!(t.is_port_live(ep(7, 1)));
        assert!(!t.is_port_live(ep(7, 2)));
        // The same again changes nothing.
        assert!(t
            .switch_connected(Dpid(7), [(PortNo(1), true), (PortNo(2), false)])
            .is_empty());
    }

    #[test]
    fn link_liveness_follows_ports_sides_and_switches() {
        let mut t = two_switches();
        let l = Link::new(ep(1, 1), ep(2, 1));
        assert_eq!(
            t.add_link(ep(2, 1), ep(1, 1)).unwrap(),
            vec![Change::LinkAdded(l), Change::LinkUp(l)]
        );
        assert_eq!(t.live_neighbors(Dpid(1)), vec![(PortNo(1), ep(2, 1))]);
        assert_eq!(t.edge_ports(Dpid(1)), vec![PortNo(2)]);

        assert_eq!(
            t.port_status(ep(2, 1), false).unwrap(),
            vec![Change::PortDown(ep(2, 1)), Change::LinkDown(l)]
        );
        assert!(t.live_neighbors(Dpid(1)).is_empty());
        assert_eq!(
            t.port_status(ep(2, 1), true).unwrap(),
            vec![Change::PortUp(ep(2, 1)), Change::LinkUp(l)]
        );

        assert_eq!(
            t.link_side(ep(1, 1), false).unwrap(),
            vec![Change::LinkDown(l)]
        );
        assert!(t.link_side(ep(2, 1), false).unwrap().is_empty());
        assert!(t.link_side(ep(1, 1), true).unwrap().is_empty());
        assert_eq!(
            t.link_side(ep(2, 1), true).unwrap(),
            vec![Change::LinkUp(l)]
        );

        assert_eq!(
            t.switch_disconnected(Dpid(2)),
            vec![Change::SwitchDown(Dpid(2)), Change::LinkDown(l)]
        );
        assert_eq!(t.core_switches(), vec![Dpid(1)]);
        assert_eq!(
            t.switch_connected(Dpid(2), [(PortNo(1), true), (PortNo(2), true)]),
            vec![Change::SwitchUp(Dpid(2)), Change::LinkUp(l)]
        );
        // The link is re-discovered: nothing new.
        assert!(t.add_link(ep(1, 1), ep(2, 1)).unwrap().is_empty());
    }

    #[test]
    fn rewiring_replaces_the_old_link() {
        let mut t = two_switches();
        t.add_link(ep(1, 1), ep(2, 1)).unwrap();
        let old = Link::new(ep(1, 1), ep(2, 1));
        let new = Link::new(ep(1, 1), ep(2, 2));
        let c = t.add_link(ep(1, 1), ep(2, 2)).unwrap();
        assert_eq!(
            c,
            vec![
                Change::LinkRemoved(old),
                Change::LinkAdded(new),
                Change::LinkDown(old),
                Change::LinkUp(new)
            ]
        );
        assert_eq!(t.links().collect::<Vec<_>>(), vec![new]);
        assert!(t.is_edge_port(ep(2, 1)));
    }

    #[test]
    fn hosts_attach_move_and_leave_with_their_port() {
        let mut t = two_switches();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            t.host_seen(mac(1), ep(1, 2), [ip]).unwrap(),
            vec![Change::HostAdded(mac(1))]
        );
        assert!(t.host_seen(mac(1), ep(1, 2), [ip]).unwrap().is_empty());
        assert_eq!(t.host_by_ip(ip).map(|h| h.mac), Some(mac(1)));
        assert_eq!(t.core_switches(), vec![Dpid(2)]);
        assert_eq!(
            t.host_seen(mac(1), ep(2, 2), []).unwrap(),
            vec![Change::HostMoved {
                mac: mac(1),
                from: ep(1, 2),
                to: ep(2, 2)
            }]
        );
        assert_eq!(t.hosts_at(ep(2, 2)).collect::<Vec<_>>(), vec![mac(1)]);
        assert_eq!(t.hosts_at(ep(1, 2)).count(), 0);
        assert_eq!(t.core_switches(), vec![Dpid(1)]);

        t.add_link(ep(1, 1), ep(2, 1)).unwrap();
        assert_eq!(
            t.host_seen(mac(2), ep(1, 1), []),
            Err(TopologyError::HostOnLinkPort {
                mac: mac(2),
                at: ep(1, 1)
            })
        );
        assert_eq!(
            t.remove_port(ep(2, 2)),
            vec![Change::HostRemoved(mac(1)), Change::PortRemoved(ep(2, 2))]
        );
        assert!(t.host(mac(1)).is_none());
    }

    #[test]
    fn a_link_found_on_a_host_port_evicts_the_host() {
        let mut t = two_switches();
        t.host_seen(mac(1), ep(1, 1), []).unwrap();
        let c = t.add_link(ep(1, 1), ep(2, 1)).unwrap();
        assert!(c.contains(&Change::HostRemoved(mac(1))));
        assert!(t.host(mac(1)).is_none());
    }

    #[test]
    fn errors_leave_the_topology_unchanged() {
        let mut t = two_switches();
        let before = t.clone();
        assert_eq!(
            t.add_link(ep(1, 1), ep(1, 2)),
            Err(TopologyError::SelfLink {
                a: ep(1, 1),
                b: ep(1, 2)
            })
        );
        assert_eq!(
            t.add_link(ep(1, 1), ep(3, 1)),
            Err(TopologyError::UnknownSwitch(Dpid(3)))
        );
        assert_eq!(
            t.add_link(ep(1, 1), ep(2, 9)),
            Err(TopologyError::UnknownPort(ep(2, 9)))
        );
        assert_eq!(
            t.port_status(Endpoint::new(Dpid(1), PortNo::LOCAL), true),
            Err(TopologyError::ReservedPort(PortNo::LOCAL))
        );
        assert_eq!(
            t.link_side(ep(1, 1), false),
            Err(TopologyError::NoLink(ep(1, 1)))
        );
        assert_eq!(t, before);
    }

    #[test]
    fn removing_a_switch_takes_its_links_and_hosts() {
        let mut t = two_switches();
        t.add_link(ep(1, 1), ep(2, 1)).unwrap();
        t.host_seen(mac(1), ep(2, 2), []).unwrap();
        let l = Link::new(ep(1, 1), ep(2, 1));
        let c = t.remove_switch(Dpid(2));
        assert_eq!(
            c,
            vec![
                Change::LinkRemoved(l),
                Change::PortRemoved(ep(2, 1)),
                Change::HostRemoved(mac(1)),
                Change::PortRemoved(ep(2, 2)),
                Change::SwitchRemoved(Dpid(2)),
                Change::LinkDown(l),
            ]
        );
        assert!(t.is_edge_port(ep(1, 1)));
        assert_eq!(t.switches().collect::<Vec<_>>(), vec![Dpid(1)]);
    }
}
