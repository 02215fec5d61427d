//! The BIER control plane checked with packets: the messages `bier_plane` computes, pushed over
//! the wire into switch-sim pipelines, deliver real UDP datagrams from random senders through
//! a `bier_encap` flow to exactly the members of random subsets (once each, nobody else, no
//! loop), also after a link goes down and only the recomputed diff is pushed; with several SIs;
//! and BIER-TE copies follow exactly the controller's tree (per-port counters).

// A panic in a test is a failed assertion.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use bier::{Bsl, SetId};
use controller::bier_plane::{
    compute, ingress, BfrIds, BierPlaneError, BierTables, TePlan, BIER_SUB_DOMAIN, TE_SUB_DOMAIN,
};
use controller::fabrics::{leaf_spine, ring};
use controller::{Dpid, Endpoint, Topology};
use openflow::oxm::MacAddr;
use openflow::{Body, DatapathId, GroupId, Message, Xid};
use switch_sim::packet::build::udp4;
use switch_sim::{Edge, Fabric, Host, Time, TraceReport};

/// Small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn edge(e: Endpoint) -> Edge {
    Edge::new(e.dpid.0, e.port.0)
}

/// The controller's fabric as switch-sim pipelines (BIER on by default), no rule installed.
fn sim(topo: &Topology) -> Fabric {
    let mut f = Fabric::new();
    for d in topo.switches() {
        let max = topo.ports(d).map(|(p, _)| p.0).max().unwrap_or(0);
        f.add_switch_with_ports(d.0, max).unwrap();
    }
    for l in topo.links() {
        f.link(edge(l.a), edge(l.b)).unwrap();
    }
    for h in topo.hosts() {
        let ipv4 = h.addrs.iter().find_map(|a| match a {
            IpAddr::V4(v) => Some(*v),
            IpAddr::V6(_) => None,
        });
        f.add_host(Host {
            name: h.mac.to_string(),
            mac: h.mac,
            ipv4,
            ipv6: None,
            at: edge(h.at),
        })
        .unwrap();
    }
    f
}

/// Sends bodies to a switch over the wire (encode, decode) and asserts no error came back.
fn push(f: &mut Fabric, xid: &mut u32, dpid: Dpid, bodies: Vec<Body>) {
    let msgs: Vec<Message> = bodies
        .into_iter()
        .map(|b| {
            *xid += 1;
            Message::decode(&Message::new(Xid(*xid), b).encode().unwrap()).unwrap()
        })
        .collect();
    let errors = f.apply(Time::ZERO, DatapathId(dpid.0), &msgs).unwrap();
    assert!(errors.is_empty(), "{dpid}: switch refused: {errors:?}");
}

fn push_all(f: &mut Fabric, xid: &mut u32, m: BTreeMap<Dpid, Vec<Body>>) {
    for (d, bodies) in m {
        push(f, xid, d, bodies);
    }
}

fn datagram(topo: &Topology, from: MacAddr, dst: Ipv4Addr) -> Vec<u8> {
    let h = topo.host(from).unwrap();
    let src = h
        .addrs
        .iter()
        .find_map(|a| match a {
            IpAddr::V4(v) => Some(*v),
            IpAddr::V6(_) => None,
        })
        .unwrap();
    let o = dst.octets();
    let mac = MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]);
    udp4(from, mac, src, dst, 40000 + (o[3] as u16), 5000, b"bier")
}

fn exact(r: &TraceReport, sent: &[u8], members: &BTreeSet<MacAddr>) -> Result<(), String> {
    let names: Vec<String> = members.iter().map(ToString::to_string).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    if !r.delivered_exactly_once_to(&names) {
        return Err(format!(
            "want {names:?}, got {:?} (drops {:?}, loops {:?})",
            r.hosts(),
            r.drops,
            r.loops
        ));
    }
    if let Some(d) = r.deliveries.iter().find(|d| d.packet != sent) {
        return Err(format!("{:?} got other bytes", d.host));
    }
    Ok(())
}

/// A random subset: a sender and 1..=k members (sender excluded), and its group address.
struct Subset {
    sender: MacAddr,
    members: BTreeSet<MacAddr>,
    addr: Ipv4Addr,
}

fn subsets(rng: &mut Rng, hosts: &[MacAddr], n: usize) -> Vec<Subset> {
    (0..n)
        .map(|i| {
            let sender = hosts[rng.below(hosts.len())];
            let k = 1 + rng.below(hosts.len() - 1);
            let mut members = BTreeSet::new();
            while members.len() < k {
                let m = hosts[rng.below(hosts.len())];
                if m != sender {
                    members.insert(m);
                }
            }
            Subset {
                sender,
                members,
                addr: Ipv4Addr::new(239, 9, (i >> 8) as u8, i as u8),
            }
        })
        .collect()
}

/// Installs the BFIR flows of the subsets (sub-domain 0).
fn install_ingress(
    f: &mut Fabric,
    xid: &mut u32,
    topo: &Topology,
    ids: &BfrIds,
    bsl: Bsl,
    subs: &[Subset],
) {
    for (i, s) in subs.iter().enumerate() {
        let members: Vec<MacAddr> = s.members.iter().copied().collect();
        let headers = ids.bitstring_for(&members, bsl).unwrap();
        let (d, bodies) = ingress(
            topo,
            ids,
            s.sender,
            IpAddr::V4(s.addr),
            BIER_SUB_DOMAIN,
            &headers,
            GroupId(1000 + i as u32),
        )
        .unwrap();
        push(f, xid, d, bodies);
    }
}

fn all_exact(f: &Fabric, topo: &Topology, subs: &[Subset], what: &str) {
    for (i, s) in subs.iter().enumerate() {
        let p = datagram(topo, s.sender, s.addr);
        let r = f.trace(s.sender.to_string().as_str(), &p).unwrap();
        if let Err(e) = exact(&r, &p, &s.members) {
            panic!("{what}: subset {i} from {}: {e}", s.sender);
        }
    }
}

/// The whole drill on one fabric: ids for every host, tables, 200 random subsets exact;
/// a link down, the diff names exactly the changed switches, pushed, still exact.
fn drill(topo: Topology, bsl: Bsl, seed: u64, n: usize) -> (usize, usize) {
    let mut topo = topo;
    let mut ids = BfrIds::new();
    let hosts: Vec<MacAddr> = topo.hosts().map(|h| h.mac).collect();
    for h in &hosts {
        ids.assign(*h).unwrap();
    }
    let mut f = sim(&topo);
    let (mut xid, mut txn) = (0u32, 0u32);
    let tables = compute(&topo, &ids, bsl).unwrap();
    assert_eq!(tables, compute(&topo, &ids, bsl).unwrap(), "deterministic");
    push_all(&mut f, &mut xid, tables.install_all(&mut txn).unwrap());
    let mut rng = Rng(seed);
    let subs = subsets(&mut rng, &hosts, n);
    install_ingress(&mut f, &mut xid, &topo, &ids, bsl, &subs);
    all_exact(&f, &topo, &subs, "before");

    // Nothing changed: nothing to send.
    let same = compute(&topo, &ids, bsl).unwrap();
    assert!(same.diff(&tables, &mut txn).unwrap().is_empty());

    // An inter-switch link goes down, in the fabric and in the controller's model.
    let links: Vec<_> = topo.links().collect();
    let l = links[rng.below(links.len())];
    f.set_link_up(edge(l.a), false).unwrap();
    f.set_link_up(edge(l.b), false).unwrap();
    topo.port_status(l.a, false).unwrap();
    topo.port_status(l.b, false).unwrap();
    let after = compute(&topo, &ids, bsl).unwrap();
    let diff = after.diff(&tables, &mut txn).unwrap();
    let changed: BTreeSet<Dpid> = after
        .switches
        .iter()
        .filter(|(d, t)| tables.switches.get(d) != Some(t))
        .map(|(d, _)| *d)
        .collect();
    assert_eq!(
        diff.keys().copied().collect::<BTreeSet<_>>(),
        changed,
        "diff names exactly the changed switches"
    );
    assert!(!changed.is_empty(), "a link down changes some table");
    let n_changed = changed.len();
    push_all(&mut f, &mut xid, diff);
    all_exact(&f, &topo, &subs, "after the link went down");
    (n_changed, after.switches.len())
}

#[test]
fn leaf_spine_exact_before_and_after_a_link_failure() {
    for seed in 1..=3u64 {
        let (changed, total) = drill(leaf_spine(2, 4, 3), Bsl::B64, 0x5eed + seed, 200);
        assert!(changed <= total);
    }
}

#[test]
fn ring_exact_before_and_after_a_link_failure() {
    for seed in 1..=3u64 {
        drill(ring(6, 2), Bsl::B128, 0xa11 + seed, 200);
    }
}

#[test]
fn several_sis_at_bsl_64() {
    // 4 leaves × 18 hosts = 72 BFERs: BFR-ids 65..=72 are SI 1 (RFC 8279 §3).
    let topo = leaf_spine(2, 4, 18);
    let mut ids = BfrIds::new();
    for h in topo.hosts() {
        ids.assign(h.mac).unwrap();
    }
    let t = compute(&topo, &ids, Bsl::B64).unwrap();
    let sis: BTreeSet<u16> = t
        .switches
        .values()
        .flat_map(|s| s.bifts.values().map(|b| b.key.si))
        .collect();
    assert_eq!(sis, BTreeSet::from([0, 1]));
    let hosts: Vec<MacAddr> = topo.hosts().map(|h| h.mac).collect();
    let mut rng = Rng(77);
    let subs = subsets(&mut rng, &hosts, 200);
    let multi = subs
        .iter()
        .filter(|s| {
            let m: Vec<MacAddr> = s.members.iter().copied().collect();
            ids.bitstring_for(&m, Bsl::B64).unwrap().len() > 1
        })
        .count();
    assert!(multi > 50, "subsets spanning both SIs: {multi}");
    let mut f = sim(&topo);
    let (mut xid, mut txn) = (0, 0);
    push_all(&mut f, &mut xid, t.install_all(&mut txn).unwrap());
    install_ingress(&mut f, &mut xid, &topo, &ids, Bsl::B64, &subs);
    all_exact(&f, &topo, &subs, "two SIs");
}

#[test]
fn ecmp_entries_where_paths_tie() {
    let topo = leaf_spine(3, 2, 1);
    let mut ids = BfrIds::new();
    for h in topo.hosts() {
        ids.assign(h.mac).unwrap();
    }
    let t = compute(&topo, &ids, Bsl::B64).unwrap();
    // Leaves reach the other leaf's host over any of the 3 spines.
    let widest = t
        .switches
        .values()
        .flat_map(|s| s.bifts.values())
        .flat_map(|b| match &b.entries {
            openflow::ext::bier::TableEntries::Bier(m) => m
                .values()
                .map(|h| match h {
                    openflow::ext::bier::Hop::Forward(v) => v.len(),
                    _ => 0,
                })
                .collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .max()
        .unwrap();
    assert_eq!(widest, 3);
}

#[test]
fn members_without_bfr_id_are_refused_by_name() {
    let topo = leaf_spine(1, 2, 2);
    let hosts: Vec<MacAddr> = topo.hosts().map(|h| h.mac).collect();
    let mut ids = BfrIds::new();
    ids.assign(hosts[0]).unwrap();
    ids.assign(hosts[1]).unwrap();
    let stranger = MacAddr([2, 9, 9, 9, 9, 9]);
    let err = ids
        .bitstring_for(&[hosts[0], stranger, hosts[3]], Bsl::B64)
        .unwrap_err();
    let mut want = vec![stranger, hosts[3]];
    want.sort();
    assert_eq!(err, BierPlaneError::NoBfrId(want));
    let text = err.to_string();
    assert!(text.contains(&stranger.to_string()) && text.contains(&hosts[3].to_string()));
    assert!(!text.contains(&hosts[0].to_string()), "{text}");
    assert_eq!(
        ids.bitstring_for(&[], Bsl::B64),
        Err(BierPlaneError::NoMembers)
    );
}

#[test]
fn bfr_ids_are_stable_and_never_shared() {
    let macs: Vec<MacAddr> = (1..=10u8).map(|i| MacAddr([2, 0, 0, 0, 0, i])).collect();
    let mut ids = BfrIds::new();
    let first: Vec<u16> = macs.iter().map(|m| ids.assign(*m).unwrap().get()).collect();
    assert_eq!(first, (1..=10).collect::<Vec<_>>());
    // Again: the same ids.
    for (m, i) in macs.iter().zip(&first) {
        assert_eq!(ids.assign(*m).unwrap().get(), *i);
    }
    assert_eq!(ids.release(macs[3]).map(|i| i.get()), Some(4));
    assert_eq!(ids.get(macs[3]), None);
    // A newcomer takes the freed id, nobody else's.
    let newcomer = MacAddr([2, 0, 0, 0, 1, 0]);
    assert_eq!(ids.assign(newcomer).unwrap().get(), 4);
    assert_eq!(ids.assign(macs[3]).unwrap().get(), 11);
    let all: Vec<u16> = ids.iter().map(|(_, i)| i.get()).collect();
    let distinct: BTreeSet<u16> = all.iter().copied().collect();
    assert_eq!(all.len(), distinct.len());
    // Kept across restarts: serde round trip.
    let json = serde_json::to_string(&ids).unwrap();
    let back: BfrIds = serde_json::from_str(&json).unwrap();
    assert_eq!(back, ids);
    assert!(serde_json::from_str::<BfrIds>("[[[2,0,0,0,0,1],1],[[2,0,0,0,0,2],1]]").is_err());
    assert!(serde_json::from_str::<BfrIds>("[[[2,0,0,0,0,1],0]]").is_err());
}

#[test]
fn bier_te_follows_exactly_the_chosen_tree() {
    for (topo, seed) in [(leaf_spine(2, 3, 2), 3u64), (ring(5, 2), 9)] {
        let mut ids = BfrIds::new();
        let hosts: Vec<MacAddr> = topo.hosts().map(|h| h.mac).collect();
        for h in &hosts {
            ids.assign(*h).unwrap();
        }
        let plan = TePlan::assign(&topo, &ids, Bsl::B64).unwrap();
        let mut f = sim(&topo);
        let (mut xid, mut txn) = (0, 0);
        push_all(&mut f, &mut xid, plan.install_all(&mut txn).unwrap());
        let mut rng = Rng(seed);
        let subs = subsets(&mut rng, &hosts, 60);
        let inter: BTreeSet<Endpoint> = topo.links().flat_map(|l| [l.a, l.b]).collect();
        for (i, s) in subs.iter().enumerate() {
            let members: Vec<MacAddr> = s.members.iter().copied().collect();
            let (tree, bits) = plan.tree(s.sender, &members).unwrap();
            let headers = BTreeMap::from([(SetId(0), bits)]);
            let (d, bodies) = ingress(
                &topo,
                &ids,
                s.sender,
                IpAddr::V4(s.addr),
                TE_SUB_DOMAIN,
                &headers,
                GroupId(1000 + i as u32),
            )
            .unwrap();
            push(&mut f, &mut xid, d, bodies);
            let before: BTreeMap<Endpoint, u64> =
                inter.iter().map(|e| (*e, port_copies(&f, *e))).collect();
            let p = datagram(&topo, s.sender, s.addr);
            let r = f
                .process(Time::ZERO, s.sender.to_string().as_str(), &p)
                .unwrap();
            exact(&r, &p, &s.members).unwrap_or_else(|e| panic!("TE subset {i}: {e}"));
            let tree: BTreeSet<Endpoint> = tree.into_iter().collect();
            for e in &inter {
                let n = port_copies(&f, *e) - before[e];
                let want = u64::from(tree.contains(e));
                assert_eq!(n, want, "TE subset {i}: copies out of {e} (tree {tree:?})");
            }
        }
    }
}

fn port_copies(f: &Fabric, e: Endpoint) -> u64 {
    f.switch(DatapathId(e.dpid.0))
        .unwrap()
        .bier_counters()
        .unwrap()
        .port_copies(e.port.0)
}

#[test]
fn te_refuses_members_without_bits_and_too_small_bsl() {
    let topo = leaf_spine(2, 3, 2);
    let hosts: Vec<MacAddr> = topo.hosts().map(|h| h.mac).collect();
    let mut ids = BfrIds::new();
    for h in &hosts[..4] {
        ids.assign(*h).unwrap();
    }
    let plan = TePlan::assign(&topo, &ids, Bsl::B64).unwrap();
    assert_eq!(
        plan.tree(hosts[0], &[hosts[1], hosts[5]]).unwrap_err(),
        BierPlaneError::NoBfrId(vec![hosts[5]])
    );
    let big = leaf_spine(4, 8, 8);
    let mut ids = BfrIds::new();
    for h in big.hosts() {
        ids.assign(h.mac).unwrap();
    }
    assert!(matches!(
        TePlan::assign(&big, &ids, Bsl::B64),
        Err(BierPlaneError::TooManyBits { need: 96, .. })
    ));
    let _ = BierTables::default();
}

#[test]
fn large_tables_split_into_transactions_under_64_kib() {
    // 16 spines, 4 leaves of 1000 hosts, BSL 4096: a leaf's table has 3000 bits with 16
    // ECMP next hops each, well over one message.
    let topo = leaf_spine(16, 4, 1000);
    let mut ids = BfrIds::new();
    let hosts: Vec<MacAddr> = topo.hosts().map(|h| h.mac).collect();
    for h in &hosts {
        ids.assign(*h).unwrap();
    }
    let t = compute(&topo, &ids, Bsl::B4096).unwrap();
    let (mut txn, mut xid) = (0, 0);
    let all = t.install_all(&mut txn).unwrap();
    let mut parts_max = 0;
    for bodies in all.values() {
        let mut parts = 0;
        for b in bodies {
            let len = Message::new(Xid(1), b.clone()).encode().unwrap().len();
            assert!(len <= 65535, "message of {len} bytes");
            if let Body::Experimenter(e) = b {
                if matches!(
                    openflow::ext::bier::BierMessage::from_experimenter(e),
                    Some(Ok(openflow::ext::bier::BierMessage::BiftMod(_)))
                ) {
                    parts += 1;
                }
            }
        }
        parts_max = parts_max.max(parts);
    }
    assert!(
        parts_max >= 2,
        "a leaf's table needs several parts ({parts_max})"
    );
    let mut f = sim(&topo);
    push_all(&mut f, &mut xid, all);
    let mut rng = Rng(4096);
    let subs = subsets(&mut rng, &hosts, 5);
    install_ingress(&mut f, &mut xid, &topo, &ids, Bsl::B4096, &subs);
    all_exact(&f, &topo, &subs, "BSL 4096, split tables");
}
