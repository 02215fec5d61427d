//! BIER-TE (RFC 9262) through fabrics of pipelines: one bit per inter-switch link (shared by
//! both ends), one local_decap bit per host (to its port); a subset's BitString names the
//! edges of a tree the "controller" chose. The switches' per-port BIER counters show that the
//! packet crossed exactly those edges, once each, and reached exactly the members.
#![allow(clippy::unwrap_used)]

mod bier_common;

use std::collections::{BTreeMap, BTreeSet};

use bier::{BitPosition, BitString, NodeId, SetId, TeAssignment, Topology};
use bier_common::{bier, dpid, wire, wire_bsl, Net, Rng};
use openflow::ext::bier::{BierAction, BierEncap, BiftCommand, Entropy};
use openflow::{FlowMod, Instruction, Match, Message, Oxm, PortNo, TableId, Xid};
use switch_sim::bier::convert::{table_key, te_table};
use switch_sim::bier::BierCounters;

const BSL: bier::Bsl = bier::Bsl::B64;

/// BIER-TE bits for a test fabric: the links from `TeAssignment`, then one decap bit per host.
struct Te {
    a: TeAssignment,
    host_bit: Vec<BitPosition>,
    topo: Topology,
}

fn te_setup(net: &mut Net) -> Te {
    let topo = net.topology();
    let a = TeAssignment::assign(&topo, &[], BSL).unwrap();
    let first = topo.links().len() as u16 + 1;
    let host_bit: Vec<BitPosition> = (0..net.hosts.len() as u16)
        .map(|i| BitPosition::new(first + i).unwrap())
        .collect();
    let mut tables = a.bifts(&topo).unwrap();
    for (i, h) in net.hosts.iter().enumerate() {
        tables[h.node.0 as usize]
            .set(host_bit[i], vec![bier::Adjacency::LocalDecap])
            .unwrap();
    }
    let key = table_key(BSL, 1, SetId(0)).unwrap();
    for (n, t) in tables.iter().enumerate() {
        let port_of = |bp: BitPosition| {
            let i = host_bit.iter().position(|b| *b == bp).unwrap();
            PortNo(net.hosts[i].port)
        };
        let wire_table = te_table(key, t, port_of);
        let msgs: Vec<Message> = wire_table
            .bift_mods(n as u32 + 1, BiftCommand::Replace)
            .unwrap()
            .into_iter()
            .enumerate()
            .map(|(k, m)| bier(k as u32 + 1, m))
            .collect();
        net.apply_ok(NodeId(n as u32), &msgs);
    }
    net.forward_flows();
    Te { a, host_bit, topo }
}

/// The BFIR flow at the sender's switch for a TE BitString.
fn te_bfir(net: &mut Net, idx: usize, sender: usize, bits: &BitString) -> std::net::Ipv4Addr {
    let addr = Net::group_addr(idx);
    let h = net.hosts[sender].clone();
    let key = table_key(BSL, 1, SetId(0)).unwrap();
    let encap = BierAction::Encap(BierEncap {
        bift_id: key.bift_id,
        sub_domain: 1,
        bsl: wire_bsl(BSL),
        si: 0,
        bfir_id: 0,
        ttl: 32,
        tc: 0,
        copy_dscp: false,
        entropy: Entropy::Fixed(0),
        bitstring: bits.to_bytes(),
    });
    let m = Match::new()
        .with(Oxm::InPort(PortNo(h.port)))
        .with(Oxm::EthType(0x0800))
        .with(Oxm::Ipv4Dst {
            value: addr,
            mask: None,
        });
    let fm = FlowMod::add(
        TableId(0),
        100,
        m,
        vec![Instruction::ApplyActions(vec![
            encap.to_action(),
            BierAction::Forward.to_action(),
        ])],
    );
    let x = net.xid();
    net.apply_ok(h.node, &[wire(Message::new(Xid(x), fm))]);
    addr
}

fn snapshot(net: &Net) -> Vec<BierCounters> {
    (0..net.nodes)
        .map(|n| {
            net.pipeline(NodeId(n as u32))
                .bier_counters()
                .unwrap()
                .clone()
        })
        .collect()
}

/// Copies per (node, port) and deliveries per (node, port) between two snapshots.
type PerPort = BTreeMap<(NodeId, u32), u64>;

fn diff(before: &[BierCounters], after: &[BierCounters]) -> (PerPort, PerPort) {
    let mut copies = BTreeMap::new();
    let mut delivered = BTreeMap::new();
    for (n, (b, a)) in before.iter().zip(after).enumerate() {
        for (&port, pc) in &a.ports {
            let old = b.ports.get(&port).copied().unwrap_or_default();
            let node = NodeId(n as u32);
            if pc.copies > old.copies {
                copies.insert((node, port), pc.copies - old.copies);
            }
            if pc.deliveries > old.deliveries {
                delivered.insert((node, port), pc.deliveries - old.deliveries);
            }
        }
    }
    (copies, delivered)
}

/// Sends one datagram along `edges` to `members` and checks the counters and deliveries.
fn check_tree(
    net: &mut Net,
    te: &Te,
    idx: usize,
    sender: usize,
    members: &[usize],
    edges: &[(NodeId, bier::Port)],
) {
    let member_nodes: Vec<NodeId> = members.iter().map(|&m| net.hosts[m].node).collect();
    let mut bits = te.a.tree_bitstring(edges, &[]).unwrap();
    for &m in members {
        bits.set(te.host_bit[m]);
    }
    let addr = te_bfir(net, idx, sender, &bits);
    let before = snapshot(net);
    let (sent, r) = net.send(sender, addr);
    net.assert_exact(&sent, &r, members, &format!("TE subset {idx}"));
    let (copies, delivered) = diff(&before, &snapshot(net));
    let want: PerPort = edges.iter().map(|(n, p)| ((*n, p.0), 1)).collect();
    assert_eq!(
        copies, want,
        "TE subset {idx}: copies per port must be exactly the tree's edges (members on {member_nodes:?})"
    );
    let want: PerPort = members
        .iter()
        .map(|&m| ((net.hosts[m].node, net.hosts[m].port), 1))
        .collect();
    assert_eq!(delivered, want, "TE subset {idx}: deliveries");
    // No switch made a copy off the tree, and the trace agrees with the counters.
    let links: BTreeSet<(u64, u32)> = r.link_copies.keys().map(|e| (e.dpid.0, e.port.0)).collect();
    let tree: BTreeSet<(u64, u32)> = edges.iter().map(|(n, p)| (dpid(*n).0, p.0)).collect();
    assert_eq!(links, tree, "TE subset {idx}: links used");
}

#[test]
fn bier_te_follows_shortest_path_trees_exactly() {
    let mut net = Net::leaf_spine(2, 3, 3, BSL);
    let te = te_setup(&mut net);
    let mut rng = Rng::new(0x7e_0001);
    let n = net.hosts.len();
    for idx in 0..60 {
        let sender = rng.below(n);
        let others: Vec<usize> = (0..n).filter(|&h| h != sender).collect();
        let members = rng.subset(&others);
        let root = net.hosts[sender].node;
        let targets: Vec<NodeId> = members.iter().map(|&m| net.hosts[m].node).collect();
        let edges = te.topo.shortest_path_tree(root, &targets).unwrap();
        check_tree(&mut net, &te, idx, sender, &members, &edges);
    }
}

#[test]
fn bier_te_follows_a_tree_that_is_not_the_shortest() {
    // A ring of 5: from switch 0 to switch 1 the long way round, 0 → 4 → 3 → 2 → 1 (port 1 of
    // each switch leads to the previous one). BIER would take the direct link; BIER-TE
    // follows the BitString.
    let mut net = Net::ring(5, 1, BSL);
    let te = te_setup(&mut net);
    let edges: Vec<(NodeId, bier::Port)> = [0, 4, 3, 2]
        .into_iter()
        .map(|n| (NodeId(n), bier::Port(1)))
        .collect();
    check_tree(&mut net, &te, 0, 0, &[1], &edges);
    // And a tree with a branch: to switches 1 (directly) and 3 (via 4).
    let edges = vec![
        (NodeId(0), bier::Port(2)),
        (NodeId(0), bier::Port(1)),
        (NodeId(4), bier::Port(1)),
    ];
    check_tree(&mut net, &te, 1, 0, &[1, 3], &edges);
}
