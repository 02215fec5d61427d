//! A packet walk over port sets: what a packet sent by one host reaches when every switch
//! forwards it, as an OpenFlow ALL group does, to its ports in the set except the port it came
//! in on (OF1.3.5 §5.6.1).
//!
//! This is the planner's own model of the data plane, used to check plans (tests, and the
//! `explain` answers of the API later); the independent check is `switch-sim`'s pipeline, which
//! runs the real OpenFlow messages. Guarantees: the walk always ends (each switch is expanded
//! at most once per arrival port, and a switch entered twice is reported as a loop); it reads
//! the live topology, so copies sent over a dead link or port are reported as lost.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use openflow::oxm::MacAddr;

use crate::topology::{Endpoint, Topology};
use crate::tree::PortSets;

/// What a walked packet did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Walk {
    /// Copies received per host (the sender included, if a copy came back to it).
    pub delivered: BTreeMap<MacAddr, usize>,
    /// Every (switch, port) a copy was sent out of.
    pub sent: BTreeSet<Endpoint>,
    /// Copies sent out of a port that holds no host and no live link peer: dropped on a dead
    /// port or link, or out of an edge port with no host.
    pub lost: Vec<Endpoint>,
    /// Copies sent out of a port more than once, or a switch entered more than once.
    pub looped: bool,
}

impl Walk {
    /// Exactly one copy to each host of `to`, nothing to anyone else, no loop, nothing lost.
    pub fn is_exact<'a>(&self, to: impl IntoIterator<Item = &'a MacAddr>) -> bool {
        let want: BTreeMap<MacAddr, usize> = to.into_iter().map(|m| (*m, 1)).collect();
        !self.looped && self.lost.is_empty() && self.delivered == want
    }
}

/// Walks a packet that `sender` sends, forwarded by `ports` on `topo`. A sender that is
/// unknown or on a dead port sends nothing.
pub fn walk(topo: &Topology, ports: &PortSets, sender: MacAddr) -> Walk {
    let mut w = Walk::default();
    let Some(h) = topo.host(sender) else {
        return w;
    };
    if !topo.is_port_live(h.at) {
        return w;
    }
    let mut entered = BTreeSet::new();
    let mut queue = VecDeque::from([h.at]);
    while let Some(inp) = queue.pop_front() {
        if !entered.insert(inp.dpid) {
            w.looped = true;
            continue;
        }
        for port in ports.get(inp.dpid) {
            if port == inp.port {
                continue;
            }
            let out = Endpoint::new(inp.dpid, port);
            if !w.sent.insert(out) {
                w.looped = true;
                continue;
            }
            if !topo.is_port_live(out) {
                w.lost.push(out);
                continue;
            }
            match topo.link_at(out) {
                Some(l) if topo.is_link_live(l) => {
                    if let Some(far) = l.peer(out) {
                        queue.push_back(far);
                    }
                }
                Some(_) => w.lost.push(out),
                None => {
                    let mut any = false;
                    for mac in topo.hosts_at(out) {
                        *w.delivered.entry(mac).or_default() += 1;
                        any = true;
                    }
                    if !any {
                        w.lost.push(out);
                    }
                }
            }
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fabrics::{graph, ring};
    use crate::topology::Dpid;
    use openflow::PortNo;

    fn ep(d: u64, p: u32) -> Endpoint {
        Endpoint::new(Dpid(d), PortNo(p))
    }

    fn mac(k: u8) -> MacAddr {
        MacAddr([2, 0, 0, 0, 0, k])
    }

    #[test]
    fn flooding_a_ring_is_a_loop() {
        // Ring of 3, each switch: ports 1 and 2 on the ring, port 3 a host.
        let t = ring(3, 1);
        let all: PortSets = (1..=3)
            .flat_map(|d| (1..=3).map(move |p| ep(d, p)))
            .collect();
        let w = walk(&t, &all, mac(1));
        assert!(w.looped);
        assert!(!w.is_exact(&[mac(2), mac(3)]));
    }

    #[test]
    fn losses_and_deliveries() {
        // 1 - 2, host 1 on 1:2, host 2 on 2:2, and an empty edge port 2:3.
        let mut t = graph(2, &[(0, 1)], &[1, 1]);
        t.port_status(ep(2, 3), true).unwrap();
        let p: PortSets = [ep(1, 1), ep(1, 2), ep(2, 1), ep(2, 2), ep(2, 3)]
            .into_iter()
            .collect();
        let w = walk(&t, &p, mac(1));
        assert_eq!(w.delivered, BTreeMap::from([(mac(2), 1)]));
        assert_eq!(w.lost, vec![ep(2, 3)]);
        assert!(!w.looped);
        // The link dies: the copy is lost on it.
        t.link_side(ep(1, 1), false).unwrap();
        let w = walk(&t, &p, mac(1));
        assert!(w.delivered.is_empty());
        assert_eq!(w.lost, vec![ep(1, 1)]);
        // An unknown sender sends nothing.
        assert_eq!(walk(&t, &p, mac(9)), Walk::default());
    }
}
