//! Shared support of the integration tests: the virtual-time network (`net::Net`), booting a
//! fabric until the controller has discovered it, and the delivery check every subset test
//! makes.

// Helpers panic on misuse: a panic in a test is a failed assertion.
#![allow(clippy::unwrap_used, dead_code)]

pub mod net;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use controller::{Command, Config, Endpoint, Link, Reply, SubsetInfo, Topology};
use openflow::oxm::MacAddr;
use switch_sim::Edge;

use net::Net;

/// The configuration the tests run with: probes every 2 s, links age out after 7 s.
pub fn config() -> Config {
    Config {
        lldp_interval: Duration::from_secs(2),
        link_timeout: Duration::from_secs(7),
        ..Config::default()
    }
}

/// Links of a topology.
pub fn links_of(t: &Topology) -> BTreeSet<Link> {
    t.links().collect()
}

/// Hosts of a topology: MAC → (attachment, addresses).
pub fn hosts_of(t: &Topology) -> BTreeMap<MacAddr, (Endpoint, BTreeSet<IpAddr>)> {
    t.hosts()
        .map(|h| (h.mac, (h.at, h.addrs.clone())))
        .collect()
}

/// Whether the controller knows every link and host of `want` (and nothing else), all live.
pub fn discovered(net: &Net, want: &Topology) -> bool {
    let t = net.ctl().topology();
    let live: BTreeSet<Link> = t.links().filter(|l| t.is_link_live(*l)).collect();
    let hosts: BTreeMap<MacAddr, Endpoint> = t.hosts().map(|h| (h.mac, h.at)).collect();
    let want_hosts: BTreeMap<MacAddr, Endpoint> = want.hosts().map(|h| (h.mac, h.at)).collect();
    live == links_of(want) && links_of(t) == links_of(want) && hosts == want_hosts
}

/// A network built from `topo`, every switch connected, every host announced, and the
/// controller's view equal to `topo` (panics otherwise).
pub fn boot(topo: &Topology, config: Config) -> Net {
    let mut net = Net::from_topology(topo, config);
    net.connect_all();
    net.announce_all();
    let ok = net.run_until(Duration::from_secs(30), |n| discovered(n, topo));
    assert!(
        ok,
        "discovery incomplete: links {:?} want {:?}; hosts {} want {}",
        net.ctl().links(),
        links_of(topo),
        net.ctl().hosts().len(),
        topo.hosts().count()
    );
    net
}

/// The IPv4 address of a host of the topology.
pub fn ip_of(t: &Topology, mac: MacAddr) -> IpAddr {
    *t.host(mac).unwrap().addrs.iter().next().unwrap()
}

/// Puts a group; panics on failure.
pub fn put_group(net: &mut Net, name: &str, addr: IpAddr, members: Vec<IpAddr>) {
    let r = net.exec(Command::PutGroup {
        name: name.into(),
        addr,
        members,
    });
    assert!(matches!(r, Ok(Reply::Group(_))), "{r:?}");
}

/// Creates a subset; panics on failure.
pub fn subset(net: &mut Net, group: &str, members: Vec<IpAddr>, lease: Duration) -> SubsetInfo {
    match net.exec(Command::CreateSubset {
        group: group.into(),
        members,
        lease,
        trace_id: None,
        owner: None,
    }) {
        Ok(Reply::Subset(s)) => s,
        r => panic!("create subset: {r:?}"),
    }
}

/// From every host of the fabric, a datagram to `addr` reaches each of `to` (by host name)
/// except the sender exactly once, nobody else, without a loop, without two copies on a link,
/// and every copy leaves by a port of `allowed` (P_Y) when given.
pub fn check_exact(
    net: &Net,
    addr: IpAddr,
    to: &BTreeSet<String>,
    allowed: Option<&controller::PortSets>,
) -> Result<(), String> {
    let names: Vec<String> = net.fabric().hosts().map(|h| h.name.clone()).collect();
    check_exact_from(net, &names, addr, to, allowed)
}

/// `check_exact` for datagrams sent by `senders` only.
pub fn check_exact_from(
    net: &Net,
    senders: &[String],
    addr: IpAddr,
    to: &BTreeSet<String>,
    allowed: Option<&controller::PortSets>,
) -> Result<(), String> {
    for from in senders {
        let r = net.trace(from, addr);
        let want: Vec<&str> = to
            .iter()
            .filter(|n| *n != from)
            .map(String::as_str)
            .collect();
        if !r.delivered_exactly_once_to(&want) {
            return Err(format!(
                "from {from} to {addr}: want {want:?}, got {:?}, loops {:?}",
                r.hosts(),
                r.loops
            ));
        }
        if !r.link_duplicates().is_empty() {
            return Err(format!(
                "from {from}: link duplicates {:?}",
                r.link_duplicates()
            ));
        }
        if let Some(allowed) = allowed {
            let used: Vec<Edge> = r
                .link_copies
                .keys()
                .copied()
                .chain(r.deliveries.iter().map(|d| d.at))
                .collect();
            for e in used {
                let ep = Endpoint::new(controller::Dpid(e.dpid.0), e.port);
                if !allowed.contains(ep) {
                    return Err(format!("from {from}: a copy left by {ep}, outside P_Y"));
                }
            }
        }
    }
    Ok(())
}

/// A datagram to `addr` from any host reaches no host.
pub fn reaches_nobody(net: &Net, addr: IpAddr) -> Result<(), String> {
    for h in net.fabric().hosts() {
        let r = net.trace(&h.name, addr);
        if !r.deliveries.is_empty() || r.has_loop() {
            return Err(format!(
                "from {} to {addr}: delivered {:?}",
                h.name,
                r.hosts()
            ));
        }
    }
    Ok(())
}

/// Host names of MACs.
pub fn names(macs: &BTreeSet<MacAddr>) -> BTreeSet<String> {
    macs.iter().map(|m| m.to_string()).collect()
}

/// Subset flows (table 0 at the subset priority) and groups a pipeline holds.
pub fn subset_rules(net: &mut Net, dpid: u64) -> (usize, usize) {
    let (flows, groups) = net.tables(dpid);
    let flows = flows
        .iter()
        .filter(|f| f.priority == controller::rules::SUBSET_PRIORITY)
        .count();
    (flows, groups.len())
}

/// Subset flows and groups on every switch of the network, summed.
pub fn all_subset_rules(net: &mut Net) -> (usize, usize) {
    let dpids: Vec<u64> = net.fabric().dpids().iter().map(|d| d.0).collect();
    let mut sum = (0, 0);
    for d in dpids {
        let (f, g) = subset_rules(net, d);
        sum.0 += f;
        sum.1 += g;
    }
    sum
}
