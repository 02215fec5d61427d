//! Random fabrics for the property tests: trees, rings, meshes and leaf-spine with hosts.

// Test code: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use bier::{NodeId, Topology};
use proptest::prelude::*;
use proptest::sample::Index;

/// A topology and the nodes that may be BFERs.
#[derive(Clone, Debug)]
pub struct Spec {
    pub kind: &'static str,
    pub topo: Topology,
    pub edge: Vec<NodeId>,
}

fn all_nodes(t: &Topology) -> Vec<NodeId> {
    t.nodes().collect()
}

pub fn tree(max: usize) -> impl Strategy<Value = Spec> {
    (2..=max)
        .prop_flat_map(|n| prop::collection::vec(any::<Index>(), n - 1))
        .prop_map(|parents| {
            let mut t = Topology::new(parents.len() + 1);
            for (i, p) in parents.iter().enumerate() {
                let child = i + 1;
                t.add_link(NodeId(p.index(child) as u32), NodeId(child as u32))
                    .unwrap();
            }
            let edge = all_nodes(&t);
            Spec {
                kind: "tree",
                topo: t,
                edge,
            }
        })
}

pub fn ring(max: usize) -> impl Strategy<Value = Spec> {
    (3..=max).prop_map(|n| {
        let mut t = Topology::new(n);
        for i in 0..n {
            t.add_link(NodeId(i as u32), NodeId(((i + 1) % n) as u32))
                .unwrap();
        }
        let edge = all_nodes(&t);
        Spec {
            kind: "ring",
            topo: t,
            edge,
        }
    })
}

/// A random spanning tree plus random extra links (parallel links included).
pub fn mesh(max: usize) -> impl Strategy<Value = Spec> {
    (3..=max)
        .prop_flat_map(|n| {
            (
                prop::collection::vec(any::<Index>(), n - 1),
                prop::collection::vec((any::<Index>(), any::<Index>()), 0..=2 * n),
            )
        })
        .prop_map(|(parents, extra)| {
            let n = parents.len() + 1;
            let mut t = Topology::new(n);
            for (i, p) in parents.iter().enumerate() {
                t.add_link(NodeId(p.index(i + 1) as u32), NodeId(i as u32 + 1))
                    .unwrap();
            }
            for (a, b) in extra {
                let (a, b) = (a.index(n), b.index(n));
                if a != b {
                    t.add_link(NodeId(a as u32), NodeId(b as u32)).unwrap();
                }
            }
            let edge = all_nodes(&t);
            Spec {
                kind: "mesh",
                topo: t,
                edge,
            }
        })
}

/// Spines, leaves (each linked to every spine) and hosts on leaves; hosts are the BFERs.
pub fn leaf_spine(
    max_spines: usize,
    max_leaves: usize,
    max_hosts: usize,
) -> impl Strategy<Value = Spec> {
    (
        1..=max_spines,
        prop::collection::vec(1..=max_hosts, 2..=max_leaves),
    )
        .prop_map(|(spines, hosts)| {
            let leaves = hosts.len();
            let mut t = Topology::new(spines + leaves);
            for l in 0..leaves {
                for s in 0..spines {
                    t.add_link(NodeId((spines + l) as u32), NodeId(s as u32))
                        .unwrap();
                }
            }
            let mut edge = Vec::new();
            for (l, &h) in hosts.iter().enumerate() {
                for _ in 0..h {
                    let host = t.add_node();
                    t.add_link(NodeId((spines + l) as u32), host).unwrap();
                    edge.push(host);
                }
            }
            Spec {
                kind: "leaf-spine",
                topo: t,
                edge,
            }
        })
}

/// Any of the four shapes.
pub fn fabric(max_nodes: usize) -> impl Strategy<Value = Spec> {
    prop_oneof![
        tree(max_nodes),
        ring(max_nodes),
        mesh(max_nodes),
        leaf_spine(4, 8, max_nodes / 8 + 1),
    ]
}
