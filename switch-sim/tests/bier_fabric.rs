//! BIER through fabrics of pipelines: BIFTs computed by `bier::topo::compute_bifts`, pushed as
//! BIFT_MOD / BFR_MOD messages, a BFIR flow per subset at the sender's switch; every subset
//! reaches exactly its members, once each, with the datagram that was sent; also after a link
//! fails and the BIFTs are recomputed and pushed again; with several SIs; with ECMP.
#![allow(clippy::unwrap_used)]

mod bier_common;

use std::collections::{BTreeMap, BTreeSet};

use bier_common::{dpid, Net, Rng};
use openflow::ext::bier::Entropy;
use switch_sim::Edge;

const SUBSETS: usize = 200;

/// Installs `SUBSETS` random subsets (random sender, random members among the others) and
/// returns them with their group addresses.
fn subsets(net: &mut Net, rng: &mut Rng) -> Vec<(usize, Vec<usize>, std::net::Ipv4Addr)> {
    let n = net.hosts.len();
    (0..SUBSETS)
        .map(|i| {
            let sender = rng.below(n);
            let others: Vec<usize> = (0..n).filter(|&h| h != sender).collect();
            let members = rng.subset(&others);
            let entropy = Entropy::Fixed((rng.next() & 0xf_ffff) as u32);
            let addr = net.bfir(i, sender, &members, entropy);
            (sender, members, addr)
        })
        .collect()
}

fn all_exact(net: &Net, subsets: &[(usize, Vec<usize>, std::net::Ipv4Addr)], what: &str) {
    for (i, (sender, members, addr)) in subsets.iter().enumerate() {
        let (sent, r) = net.trace(*sender, *addr);
        net.assert_exact(&sent, &r, members, &format!("{what}, subset {i}"));
    }
}

fn how_many_exact(net: &Net, subsets: &[(usize, Vec<usize>, std::net::Ipv4Addr)]) -> usize {
    subsets
        .iter()
        .filter(|(sender, members, addr)| {
            let (_, r) = net.trace(*sender, *addr);
            let names = net.names(members);
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            r.delivered_exactly_once_to(&refs)
        })
        .count()
}

/// The failure drill: exact, then a link goes down (stale tables lose some subsets), then
/// recomputed tables are exact again and nothing crosses the dead link.
fn drill(mut net: Net, seed: u64, fail: usize, what: &str) {
    net.setup();
    let mut rng = Rng::new(seed);
    let subsets = subsets(&mut net, &mut rng);
    all_exact(&net, &subsets, what);

    net.link_down(fail);
    let stale = how_many_exact(&net, &subsets);
    assert!(
        stale < SUBSETS,
        "{what}: the dead link should have cost some subsets before recomputation"
    );
    net.push_bifts();
    all_exact(&net, &subsets, &format!("{what} after the link failed"));
    let (a, pa, b, pb) = net.links[fail];
    for (sender, _, addr) in &subsets {
        let (_, r) = net.trace(*sender, *addr);
        for e in [Edge::new(dpid(a).0, pa), Edge::new(dpid(b).0, pb)] {
            assert!(
                !r.link_copies.contains_key(&e),
                "{what}: a copy went over {e}"
            );
        }
    }
}

#[test]
fn leaf_spine_delivers_exactly_before_and_after_a_link_failure() {
    // 2 spines, 4 leaves, 4 hosts each; BSL 256.
    let net = Net::leaf_spine(2, 4, 4, bier::Bsl::B256);
    drill(net, 0x5eed_0001, 0, "leaf-spine");
}

#[test]
fn ring_delivers_exactly_before_and_after_a_link_failure() {
    // 6 switches, 3 hosts each; BSL 64. Opposite switches are reached both ways (ECMP).
    let net = Net::ring(6, 3, bier::Bsl::B64);
    drill(net, 0x5eed_0002, 2, "ring");
}

#[test]
fn several_sis_at_bsl_64_one_copy_per_si() {
    // 72 BFERs: BFR-ids 1..=64 are SI 0, 65..=72 SI 1 (RFC 8279 §3).
    let mut net = Net::leaf_spine(2, 4, 18, bier::Bsl::B64);
    net.setup();
    let mut rng = Rng::new(0x5eed_0003);
    let subsets = subsets(&mut net, &mut rng);
    let multi = subsets
        .iter()
        .filter(|(_, m, _)| net.bitstrings(m).len() > 1)
        .count();
    assert!(
        multi > SUBSETS / 2,
        "most subsets should span both SIs ({multi})"
    );
    all_exact(&net, &subsets, "two SIs");

    // For real: the BFIR sends one packet per SI, each forwarded by its own BIFT.
    // Host 0 sends (leaf 0); members on the three other leaves, in both SIs (hosts 66 and
    // 70 have BFR-ids 67 and 71).
    let (sender, members) = (0, vec![20, 40, 60, 66, 70]);
    assert_eq!(net.bitstrings(&members).len(), 2);
    let addr = net.bfir(SUBSETS, sender, &members, Entropy::Fixed(7));
    let node = net.hosts[sender].node;
    let (sent, r) = net.send(sender, addr);
    net.assert_exact(&sent, &r, &members, "two SIs, processed");
    let c = net.pipeline(node).bier_counters().unwrap().clone();
    assert_eq!(c.encapsulated, 2, "one encapsulation per SI");
    for si in [0, 1] {
        let (inn, out, local) = c.per_si(0, si);
        assert_eq!((inn, local), (1, 0), "SI {si} at the BFIR");
        assert!(out >= 1, "SI {si}: copies out");
    }
    // Every member's leaf got its SI's packets only.
    let per_leaf: BTreeSet<_> = members.iter().map(|&m| net.hosts[m].node).collect();
    for leaf in per_leaf {
        let lc = net.pipeline(leaf).bier_counters().unwrap();
        let sis: BTreeSet<u16> = members
            .iter()
            .filter(|&&m| net.hosts[m].node == leaf)
            .map(|&m| net.hosts[m].bfr.locate(bier::Bsl::B64).0 .0)
            .collect();
        for si in [0u16, 1] {
            let (inn, _, local) = lc.per_si(0, si);
            assert_eq!(inn, u64::from(sis.contains(&si)), "leaf {leaf:?} SI {si}");
            let want = members
                .iter()
                .filter(|&&m| {
                    net.hosts[m].node == leaf && net.hosts[m].bfr.locate(bier::Bsl::B64).0 .0 == si
                })
                .count() as u64;
            assert_eq!(local, want, "leaf {leaf:?} SI {si} deliveries");
        }
    }
}

#[test]
fn ecmp_follows_the_entropy_and_stays_exact() {
    // 4 spines: a leaf reaches another leaf over any of them.
    let mut net = Net::leaf_spine(4, 3, 2, bier::Bsl::B64);
    net.setup();
    let sender = 0; // on leaf 0 (node 4)
    let members: Vec<usize> = (2..6).collect(); // leaves 1 and 2
    let node = net.hosts[sender].node;
    let mut used = BTreeMap::new();
    for k in 0..32u32 {
        let entropy = k << 15; // spread over the 20 bits
        let addr = net.bfir(k as usize, sender, &members, Entropy::Fixed(entropy));
        let (sent, r) = net.trace(sender, addr);
        net.assert_exact(&sent, &r, &members, &format!("entropy {entropy:#x}"));
        let ups: Vec<u32> = (1..=4)
            .filter(|p| r.link_copies.contains_key(&Edge::new(dpid(node).0, *p)))
            .collect();
        // The F-BM of every uplink holds every remote BFER: one copy goes up, by the uplink
        // RFC 8279 §6.7's choice names, which the controller can predict.
        assert_eq!(ups.len(), 1, "entropy {entropy:#x}: uplinks {ups:?}");
        let want = bier::ecmp_choice(entropy, 4) as u32 + 1;
        assert_eq!(ups[0], want, "entropy {entropy:#x}");
        *used.entry(ups[0]).or_insert(0) += 1;
    }
    assert_eq!(
        used.len(),
        4,
        "every spine carries some entropies: {used:?}"
    );

    // FLOW_HASH: flows that differ in their source port spread too, and stay exact.
    let addr = net.bfir(100, sender, &members, Entropy::FlowHash { seed: 0x1234 });
    let mut spines = BTreeSet::new();
    for sport in 0..64u16 {
        let h = &net.hosts[sender];
        let o = addr.octets();
        let f = switch_sim::packet::build::udp4(
            h.mac,
            openflow::oxm::MacAddr([0x01, 0, 0x5e, o[1] & 0x7f, o[2], o[3]]),
            h.ip,
            addr,
            10_000 + sport,
            5000,
            b"flow",
        );
        let r = net.fabric.trace(h.name.as_str(), &f).unwrap();
        net.assert_exact(&f, &r, &members, &format!("flow hash, source port {sport}"));
        for p in 1..=4 {
            if r.link_copies.contains_key(&Edge::new(dpid(node).0, p)) {
                spines.insert(p);
            }
        }
    }
    assert!(spines.len() >= 3, "64 flows used only spines {spines:?}");
}
