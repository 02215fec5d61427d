//! The controller as BIER control plane, on virtual time with switch-sim pipelines (BIER data
//! plane on) in memory: capability exchange and BIFTs after discovery (read back from the
//! switches and compared), BFIR leases whose plain UDP datagrams reach exactly the members
//! through BIER (200 random subsets on a leaf-spine and on a ring, before and after an
//! inter-switch link fails and the changed tables are re-pushed), several SIs through a BFIR
//! group, BIER-TE copies on exactly the controller's tree (per-port BIER counters), BFR-ids
//! and leases across a controller restart with nothing re-sent, a switch without BIER routed
//! around, lease expiry and release, and every refusal naming its culprits.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use common::net::Net;
use common::{boot, config, ip_of, put_group};
use controller::bier_state::{
    BierAssignment, BierCommand, BierCommandError, BierConfig, BierReply, BierRequest, BIER_COOKIE,
};
use controller::fabrics::{leaf_spine, ring};
use controller::{Command, CommandError, Config, Dpid, Endpoint, Reply, Topology};
use openflow::ext::bier::{
    collect_replies, BfrQuery, BierMessage, BiftReply, BiftSelector, BiftTable, LocalBfr,
};
use openflow::oxm::MacAddr;
use openflow::{Body, Message};
use switch_sim::Edge;

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

const LEASE: Duration = Duration::from_secs(1800);

fn bier_body(m: BierMessage) -> Body {
    Body::Experimenter(m.to_experimenter())
}

fn bier_of(m: &Message) -> Option<BierMessage> {
    match &m.body {
        Body::Experimenter(e) => BierMessage::from_experimenter(e).and_then(Result::ok),
        _ => None,
    }
}

/// The BIFTs a pipeline holds, read with BIFT_QUERY behind the controller's back.
fn switch_tables(net: &mut Net, dpid: u64) -> Vec<BiftTable> {
    let replies: Vec<BiftReply> = net
        .query(dpid, bier_body(BierMessage::BiftQuery(BiftSelector::ALL)))
        .iter()
        .filter_map(|m| match bier_of(m) {
            Some(BierMessage::BiftReply(r)) => Some(r),
            _ => None,
        })
        .collect();
    collect_replies(&replies).unwrap()
}

/// The BFR records (sub-domain 0) a pipeline holds.
fn switch_bfrs(net: &mut Net, dpid: u64) -> Vec<LocalBfr> {
    let q = BfrQuery {
        sub_domain: Some(0),
    };
    let mut v: Vec<LocalBfr> = net
        .query(dpid, bier_body(BierMessage::BfrQuery(q)))
        .iter()
        .filter_map(|m| match bier_of(m) {
            Some(BierMessage::BfrReply(r)) => Some(r.bfrs),
            _ => None,
        })
        .flatten()
        .collect();
    v.sort_by_key(|b| b.bfr_id);
    v
}

fn assign(net: &mut Net, req: BierRequest) -> Result<BierAssignment, CommandError> {
    match net.exec(Command::Bier(BierCommand::Assign(req))) {
        Ok(Reply::Bier(BierReply::Assigned(a))) => Ok(*a),
        Ok(r) => panic!("unexpected answer {r:?}"),
        Err(e) => Err(e),
    }
}

fn request(group: &str, members: Vec<IpAddr>) -> BierRequest {
    BierRequest {
        group: group.into(),
        members,
        lease: None,
        te: false,
        sender: None,
        owner: None,
    }
}

/// Boots the fabric and puts group "all" of every host.
fn fabric(topo: &Topology, cfg: Config) -> Net {
    let mut net = boot(topo, cfg);
    let ips: Vec<IpAddr> = topo.hosts().map(|h| ip_of(topo, h.mac)).collect();
    put_group(&mut net, "all", "239.1.0.1".parse().unwrap(), ips);
    net
}

/// A lease from `sender` to `members` (the sender excluded) and its address.
struct Leased {
    sender: MacAddr,
    members: BTreeSet<MacAddr>,
    addr: IpAddr,
}

/// Datagrams from the sender to the lease's address reach exactly its members, byte for byte,
/// without a loop or a copy over `dead`.
fn exact(net: &Net, l: &Leased, dead: &[Edge]) -> Result<(), String> {
    let from = l.sender.to_string();
    let sent = net.datagram(&from, l.addr);
    let r = net.trace(&from, l.addr);
    let want: Vec<String> = l
        .members
        .iter()
        .filter(|m| **m != l.sender)
        .map(ToString::to_string)
        .collect();
    let want: Vec<&str> = want.iter().map(String::as_str).collect();
    if !r.delivered_exactly_once_to(&want) || r.has_loop() {
        return Err(format!(
            "{} from {from}: want {want:?}, got {:?} (drops {:?}, loops {:?})",
            l.addr,
            r.hosts(),
            r.drops,
            r.loops
        ));
    }
    if let Some(d) = r.deliveries.iter().find(|d| d.packet != sent) {
        return Err(format!("{:?} got other bytes than were sent", d.host));
    }
    if let Some(e) = dead.iter().find(|e| r.link_copies.contains_key(e)) {
        return Err(format!("a copy crossed the dead link at {e:?}"));
    }
    Ok(())
}

/// `n` leases of random subsets, each from one random sender.
fn random_leases(net: &mut Net, topo: &Topology, rng: &mut Rng, n: usize) -> Vec<Leased> {
    let hosts: Vec<MacAddr> = topo.hosts().map(|h| h.mac).collect();
    (0..n)
        .map(|_| {
            let sender = hosts[rng.below(hosts.len())];
            let k = 1 + rng.below(hosts.len() - 1);
            let mut members = BTreeSet::new();
            while members.len() < k {
                let m = hosts[rng.below(hosts.len())];
                if m != sender {
                    members.insert(m);
                }
            }
            let req = BierRequest {
                lease: Some(LEASE),
                sender: Some(ip_of(topo, sender)),
                ..request("all", members.iter().map(|m| ip_of(topo, *m)).collect())
            };
            let a = assign(net, req).unwrap();
            let lease = a.lease.unwrap();
            assert!(lease.ready);
            let at = topo.host(sender).unwrap().at;
            assert_eq!(lease.bfirs, vec![at], "the sender's edge port encapsulates");
            Leased {
                sender,
                members,
                addr: lease.addr,
            }
        })
        .collect()
}

/// Every BIER message the controller sent to any switch since the last `clear_sent`.
fn bier_sent(net: &Net, topo: &Topology) -> BTreeMap<u64, Vec<BierMessage>> {
    topo.switches()
        .map(|d| (d.0, net.sent(d.0).iter().filter_map(bier_of).collect()))
        .collect()
}

#[test]
fn bifts_installed_after_discovery_match_what_the_controller_computed() {
    let topo = leaf_spine(2, 4, 3);
    let mut net = fabric(&topo, config());
    // Every host has a distinct BFR-id; every switch is BIER-capable.
    let ids = net.ctl().bfr_ids();
    assert_eq!(ids.len(), topo.hosts().count());
    let distinct: BTreeSet<u16> = ids.iter().map(|i| i.bfr_id.get()).collect();
    assert_eq!(distinct.len(), ids.len());
    for i in &ids {
        assert_eq!(i.at, Some(topo.host(i.mac).unwrap().at), "{i:?}");
    }
    for s in net.ctl().switches() {
        assert!(s.bier, "{} not marked BIER-capable", s.dpid);
    }
    // What each switch holds is exactly what the controller says it installed.
    let dpids: Vec<Dpid> = topo.switches().collect();
    for d in dpids {
        let view = net.ctl().bier_switch(d).unwrap();
        assert!(view.capable && view.te, "{view:?}");
        let held = switch_tables(&mut net, d.0);
        assert_eq!(held, view.tables, "{d}: tables");
        // BIER (sub-domain 0) and BIER-TE (sub-domain 1), one SI each at BSL 256.
        let sds: BTreeSet<u8> = held.iter().map(|t| t.key.sub_domain).collect();
        assert_eq!(sds, BTreeSet::from([0, 1]), "{d}");
        assert_eq!(switch_bfrs(&mut net, d.0), view.bfrs, "{d}: BFR records");
        let hosts_here = topo.hosts().filter(|h| h.at.dpid == d).count();
        assert_eq!(view.bfrs.len(), hosts_here, "{d}: one BFER per host port");
        // The bier_forward flow, with our cookie.
        let (flows, _) = net.tables(d.0);
        assert!(
            flows.iter().any(|f| f.cookie == BIER_COOKIE
                && f.priority == controller::bier_plane::BIER_FORWARD_PRIORITY),
            "{d}: no bier_forward flow"
        );
    }
    // A second pass changes nothing: the fabric is quiet, nothing more is pushed.
    net.clear_sent();
    net.run_for(Duration::from_secs(10));
    for (d, m) in bier_sent(&net, &topo) {
        assert!(m.is_empty(), "{d:#x}: {m:?}");
    }
}

/// The drill of the issue on one fabric: 200 random subsets by BIER; an inter-switch link
/// down; the re-push; still exact and nothing over the dead link.
fn drill(topo: Topology, seed: u64) {
    let mut net = fabric(&topo, config());
    let mut rng = Rng(seed);
    let leases = random_leases(&mut net, &topo, &mut rng, 200);
    for (i, l) in leases.iter().enumerate() {
        exact(&net, l, &[]).unwrap_or_else(|e| panic!("before, lease {i}: {e}"));
    }
    let before: BTreeMap<Dpid, Vec<BiftTable>> = topo
        .switches()
        .map(|d| (d, net.ctl().bier_switch(d).unwrap().tables))
        .collect();
    net.clear_sent();
    let links: Vec<_> = topo.links().collect();
    let l = links[rng.below(links.len())];
    net.set_link_up(l.a, false);
    net.run_for(Duration::from_secs(1));
    assert!(
        !net.ctl().topology().is_link_live(l),
        "the controller saw the link go down"
    );
    // Exactly the switches whose tables changed got BIFT_MOD, and they hold the new ones.
    let sent = bier_sent(&net, &topo);
    let mut changed = 0;
    for d in topo.switches() {
        let now = net.ctl().bier_switch(d).unwrap().tables;
        let pushed = sent[&d.0]
            .iter()
            .any(|m| matches!(m, BierMessage::BiftMod(_)));
        assert_eq!(pushed, now != before[&d], "{d}: re-pushed iff changed");
        changed += usize::from(pushed);
        assert_eq!(
            switch_tables(&mut net, d.0),
            now,
            "{d}: holds the new tables"
        );
    }
    assert!(changed > 0, "a link down changes some tables");
    let dead = [
        Edge::new(l.a.dpid.0, l.a.port.0),
        Edge::new(l.b.dpid.0, l.b.port.0),
    ];
    for (i, le) in leases.iter().enumerate() {
        exact(&net, le, &dead).unwrap_or_else(|e| panic!("after {l:?} down, lease {i}: {e}"));
    }
    // And back up: still exact.
    net.set_link_up(l.a, true);
    net.run_for(Duration::from_secs(5));
    assert!(net.ctl().topology().is_link_live(l));
    for (i, le) in leases.iter().enumerate() {
        exact(&net, le, &[]).unwrap_or_else(|e| panic!("link back, lease {i}: {e}"));
    }
}

#[test]
fn leaf_spine_200_random_subsets_exact_before_and_after_a_link_failure() {
    drill(leaf_spine(2, 4, 3), 0x5eed);
}

#[test]
fn ring_200_random_subsets_exact_before_and_after_a_link_failure() {
    drill(ring(6, 2), 0xa11);
}

#[test]
fn subsets_spanning_two_sis_go_through_a_bfir_group() {
    // BSL 64 and 72 hosts: BFR-ids 65..=72 are SI 1 (RFC 8279 §3).
    let topo = leaf_spine(2, 4, 18);
    let cfg = Config {
        bier: BierConfig {
            bsl: bier::Bsl::B64,
            te_bsl: bier::Bsl::B128,
            ..BierConfig::default()
        },
        ..config()
    };
    let mut net = fabric(&topo, cfg);
    let mut rng = Rng(72);
    let leases = random_leases(&mut net, &topo, &mut rng, 30);
    let mut two = 0;
    for (i, l) in leases.iter().enumerate() {
        exact(&net, l, &[]).unwrap_or_else(|e| panic!("lease {i}: {e}"));
        let ids: BTreeSet<u16> = l
            .members
            .iter()
            .map(|m| (net.ctl().bfr_id(*m).unwrap().get() - 1) / 64)
            .collect();
        two += usize::from(ids.len() == 2);
    }
    assert!(two > 10, "subsets spanning both SIs: {two}");
    // Their ingress uses groups in the BIER range.
    let cfg = *net.ctl().bier_config();
    let groups: usize = topo
        .switches()
        .map(|d| {
            net.tables(d.0)
                .1
                .iter()
                .filter(|g| (cfg.group_ids.0 .0..=cfg.group_ids.1 .0).contains(&g.group_id.0))
                .count()
        })
        .sum();
    assert_eq!(groups, two, "one BFIR group per two-SI lease");
}

#[test]
fn bier_te_copies_follow_exactly_the_controllers_tree() {
    for (topo, seed) in [(leaf_spine(2, 3, 2), 3u64), (ring(5, 2), 9)] {
        let mut net = fabric(&topo, config());
        let hosts: Vec<MacAddr> = topo.hosts().map(|h| h.mac).collect();
        let inter: BTreeSet<Endpoint> = topo.links().flat_map(|l| [l.a, l.b]).collect();
        let mut rng = Rng(seed);
        for i in 0..20 {
            let sender = hosts[rng.below(hosts.len())];
            let mut members = BTreeSet::new();
            let k = 1 + rng.below(hosts.len() - 1);
            while members.len() < k {
                let m = hosts[rng.below(hosts.len())];
                if m != sender {
                    members.insert(m);
                }
            }
            let req = BierRequest {
                lease: Some(LEASE),
                te: true,
                sender: Some(ip_of(&topo, sender)),
                ..request("all", members.iter().map(|m| ip_of(&topo, *m)).collect())
            };
            let a = assign(&mut net, req).unwrap();
            assert_eq!((a.te, a.sub_domain, a.headers.len()), (true, 1, 1));
            assert_eq!(a.bfir_id, net.ctl().bfr_id(sender));
            let addr = a.lease.as_ref().unwrap().addr;
            let tree: BTreeSet<Endpoint> = a.tree.iter().copied().collect();
            let copies = |net: &Net| -> BTreeMap<Endpoint, u64> {
                inter
                    .iter()
                    .map(|e| {
                        let c = net.pipeline(e.dpid.0).bier_counters().unwrap();
                        (*e, c.port_copies(e.port.0))
                    })
                    .collect()
            };
            let before = copies(&net);
            let from = sender.to_string();
            let frame = net.datagram(&from, addr);
            let r = net.send_from_host(&from, &frame);
            let want: Vec<String> = members.iter().map(ToString::to_string).collect();
            let want: Vec<&str> = want.iter().map(String::as_str).collect();
            assert!(
                r.delivered_exactly_once_to(&want),
                "TE lease {i}: want {want:?}, got {:?}",
                r.hosts()
            );
            let after = copies(&net);
            for e in &inter {
                let n = after[e] - before[e];
                assert_eq!(
                    n,
                    u64::from(tree.contains(e)),
                    "TE lease {i}: copies out of {e} (tree {tree:?})"
                );
            }
        }
    }
}

#[test]
fn bfr_ids_and_leases_survive_a_restart_and_nothing_is_resent() {
    let topo = leaf_spine(2, 3, 2);
    let mut net = fabric(&topo, config());
    let mut rng = Rng(7);
    let leases = random_leases(&mut net, &topo, &mut rng, 5);
    let ids: Vec<(MacAddr, u16)> = net
        .ctl()
        .bfr_ids()
        .iter()
        .map(|i| (i.mac, i.bfr_id.get()))
        .collect();
    let snap = net.persisted().unwrap().clone();
    assert_eq!(snap.bier.bfr_ids.len(), ids.len());
    assert_eq!(snap.bier.leases.len(), 5);
    // The snapshot survives its serialised form; one from before BIER still loads.
    let json = serde_json::to_value(&snap).unwrap();
    let back: controller::Snapshot = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, snap);
    let mut old = json;
    old.as_object_mut().unwrap().remove("bier");
    let old: controller::Snapshot = serde_json::from_value(old).unwrap();
    assert!(old.bier.bfr_ids.is_empty());

    net.clear_sent();
    net.restart_controller(&snap);
    net.run_for(Duration::from_secs(20));
    let again: Vec<(MacAddr, u16)> = net
        .ctl()
        .bfr_ids()
        .iter()
        .map(|i| (i.mac, i.bfr_id.get()))
        .collect();
    assert_eq!(again, ids, "BFR-ids kept");
    assert_eq!(net.ctl().bier_leases().len(), 5);
    // The switches kept their tables: only the capability exchange and the reads went out.
    for (d, msgs) in bier_sent(&net, &topo) {
        for m in msgs {
            assert!(
                matches!(
                    m,
                    BierMessage::CapsRequest(_)
                        | BierMessage::BiftQuery(_)
                        | BierMessage::BfrQuery(_)
                ),
                "{d:#x}: {m:?} sent after the restart"
            );
        }
        let flow_mods = net
            .sent(d)
            .iter()
            .filter(|m| matches!(&m.body, Body::FlowMod(f) if f.cookie == BIER_COOKIE))
            .count();
        assert_eq!(flow_mods, 0, "{d:#x}: BIER flows re-sent");
    }
    for (i, l) in leases.iter().enumerate() {
        exact(&net, l, &[]).unwrap_or_else(|e| panic!("after restart, lease {i}: {e}"));
    }
}

#[test]
fn a_switch_without_bier_is_marked_and_routed_around() {
    // Ring of 6; switch 4 does not speak BIER (as Open vSwitch).
    let topo = ring(6, 2);
    let off: Dpid = topo.switches().nth(3).unwrap();
    let mut net = Net::from_topology(&topo, config());
    net.set_switch_config(switch_sim::Config {
        bier: None,
        ..switch_sim::Config::with_dpid(off.0)
    });
    net.connect_all();
    net.announce_all();
    assert!(net.run_until(Duration::from_secs(30), |n| common::discovered(n, &topo)));
    let ips: Vec<IpAddr> = topo.hosts().map(|h| ip_of(&topo, h.mac)).collect();
    put_group(&mut net, "all", "239.1.0.1".parse().unwrap(), ips);
    for s in net.ctl().switches() {
        assert_eq!(s.bier, s.dpid != off, "{}", s.dpid);
    }
    let v = net.ctl().bier_switch(off).unwrap();
    assert!(!v.capable && v.tables.is_empty(), "{v:?}");
    assert!(
        v.why_not
            .as_deref()
            .unwrap()
            .contains("OFPBRC_BAD_EXPERIMENTER"),
        "{v:?}"
    );
    // Members behind it are refused, named.
    let behind: Vec<IpAddr> = topo
        .hosts()
        .filter(|h| h.at.dpid == off)
        .map(|h| ip_of(&topo, h.mac))
        .collect();
    let others: Vec<MacAddr> = topo
        .hosts()
        .filter(|h| h.at.dpid != off)
        .map(|h| h.mac)
        .collect();
    let mut members = behind.clone();
    members.push(ip_of(&topo, others[0]));
    let err = assign(&mut net, request("all", members)).unwrap_err();
    assert_eq!(
        err,
        CommandError::Bier(BierCommandError::NotBierReachable { ips: behind })
    );
    // The others are served, around the ring the other way: nothing enters switch 4.
    let dead: Vec<Edge> = topo
        .links()
        .flat_map(|l| [l.a, l.b])
        .filter(|e| e.dpid == off)
        .map(|e| Edge::new(e.dpid.0, e.port.0))
        .collect();
    let mut rng = Rng(4);
    for i in 0..40 {
        let sender = others[rng.below(others.len())];
        let mut m = BTreeSet::new();
        for _ in 0..1 + rng.below(others.len() - 1) {
            let x = others[rng.below(others.len())];
            if x != sender {
                m.insert(x);
            }
        }
        if m.is_empty() {
            continue;
        }
        let req = BierRequest {
            lease: Some(LEASE),
            sender: Some(ip_of(&topo, sender)),
            ..request("all", m.iter().map(|x| ip_of(&topo, *x)).collect())
        };
        let a = assign(&mut net, req).unwrap();
        let l = Leased {
            sender,
            members: m,
            addr: a.lease.unwrap().addr,
        };
        // Copies toward switch 4 would be dropped there: none may go.
        let r = net.trace(&sender.to_string(), l.addr);
        assert!(
            dead.iter()
                .all(|e| !r.link_copies.contains_key(&net.fabric().peer(*e).unwrap())),
            "lease {i}: a copy went into the switch without BIER"
        );
        exact(&net, &l, &[]).unwrap_or_else(|e| panic!("lease {i}: {e}"));
    }
}

#[test]
fn leases_end_on_time_or_on_release_and_leave_nothing() {
    let topo = leaf_spine(2, 2, 2);
    let mut net = fabric(&topo, config());
    let hosts: Vec<MacAddr> = topo.hosts().map(|h| h.mac).collect();
    let ips: Vec<IpAddr> = hosts.iter().map(|m| ip_of(&topo, *m)).collect();
    // Without a sender: every member of the group encapsulates.
    let req = BierRequest {
        lease: Some(Duration::from_secs(3)),
        ..request("all", ips[1..].to_vec())
    };
    let a = assign(&mut net, req).unwrap();
    let lease = a.lease.unwrap();
    let mut bfirs = lease.bfirs.clone();
    bfirs.sort();
    let mut want: Vec<Endpoint> = topo.hosts().map(|h| h.at).collect();
    want.sort();
    assert_eq!(bfirs, want, "every member's port encapsulates");
    let l = Leased {
        sender: hosts[0],
        members: hosts[1..].iter().copied().collect(),
        addr: lease.addr,
    };
    exact(&net, &l, &[]).unwrap();
    assert!(net.ctl().pool().is_used(lease.addr));
    net.run_for(Duration::from_secs(4));
    assert!(net.ctl().bier_leases().is_empty());
    assert!(!net.ctl().pool().is_used(lease.addr), "address freed");
    common::reaches_nobody(&net, lease.addr).unwrap();
    for d in topo.switches() {
        assert!(net.ctl().bier_switch(d).unwrap().bfirs.is_empty());
        let (flows, groups) = net.tables(d.0);
        let bfir = flows
            .iter()
            .filter(|f| f.priority == controller::bier_plane::BFIR_PRIORITY)
            .count();
        assert_eq!((bfir, groups.len()), (0, 0), "{d}: left behind");
    }
    assert!(net.persisted().unwrap().bier.leases.is_empty());

    // Released early: answered once the flows are gone.
    let req = BierRequest {
        lease: Some(LEASE),
        sender: Some(ips[0]),
        ..request("all", ips[2..].to_vec())
    };
    let addr = assign(&mut net, req).unwrap().lease.unwrap().addr;
    let r = net.exec(Command::Bier(BierCommand::Release { addr }));
    assert_eq!(r, Ok(Reply::Bier(BierReply::Released { addr })));
    common::reaches_nobody(&net, addr).unwrap();
    let r = net.exec(Command::Bier(BierCommand::Release { addr }));
    assert_eq!(
        r,
        Err(CommandError::Bier(BierCommandError::UnknownLease { addr }))
    );
    // Deleting the group ends its leases too.
    let req = BierRequest {
        lease: Some(LEASE),
        ..request("all", ips[2..].to_vec())
    };
    let addr = assign(&mut net, req).unwrap().lease.unwrap().addr;
    net.exec(Command::DeleteGroup { name: "all".into() })
        .unwrap();
    net.run_for(Duration::from_millis(100));
    assert!(net.ctl().bier_leases().is_empty());
    common::reaches_nobody(&net, addr).unwrap();
}

#[test]
fn header_fields_follow_rfc_8279_and_refusals_name_their_culprits() {
    let topo = leaf_spine(2, 2, 3);
    let mut net = fabric(&topo, config());
    let hosts: Vec<MacAddr> = topo.hosts().map(|h| h.mac).collect();
    let ips: Vec<IpAddr> = hosts.iter().map(|m| ip_of(&topo, *m)).collect();
    // Header fields only: each member's bit at its BFR-id (RFC 8279 §3), BIFT-id by layout.
    let a = assign(&mut net, request("all", vec![ips[4], ips[1]])).unwrap();
    assert_eq!((a.sub_domain, a.te, a.headers.len()), (0, false, 1));
    assert!(a.lease.is_none());
    let h = &a.headers[0];
    assert_eq!(h.bift_id, 3 << 16, "BSL 256 (code 3), sub-domain 0, SI 0");
    let mut want = bier::BitString::zero(bier::Bsl::B256);
    for m in &a.members {
        let (si, bp) = m.bfr_id.locate(bier::Bsl::B256);
        assert_eq!(si.0, 0);
        want.set(bp);
        assert_eq!(Some(m.bfr_id), net.ctl().bfr_id(m.mac));
    }
    assert_eq!(h.bitstring, want);
    assert_eq!(
        a.members.iter().map(|m| m.ip).collect::<Vec<_>>(),
        vec![ips[4], ips[1]],
        "request order"
    );

    // A group with members the controller never learned: no BFR-id, both named.
    let ghost1: IpAddr = "10.200.0.1".parse().unwrap();
    let ghost2: IpAddr = "10.200.0.2".parse().unwrap();
    let mut g = ips.clone();
    g.extend([ghost1, ghost2]);
    put_group(&mut net, "wide", "239.1.0.2".parse().unwrap(), g);
    let err = assign(&mut net, request("wide", vec![ghost1, ips[0], ghost2])).unwrap_err();
    assert_eq!(
        err,
        CommandError::Bier(BierCommandError::NoBfrId {
            ips: vec![ghost1, ghost2]
        })
    );
    assert!(err.to_string().contains("10.200.0.1") && err.to_string().contains("10.200.0.2"));
    // Outside the group, all named.
    put_group(
        &mut net,
        "two",
        "239.1.0.3".parse().unwrap(),
        ips[..2].to_vec(),
    );
    let err = assign(&mut net, request("two", vec![ips[0], ips[3], ips[5]])).unwrap_err();
    assert_eq!(
        err,
        CommandError::Bier(BierCommandError::NotMembers {
            group: "two".into(),
            ips: vec![ips[3], ips[5]]
        })
    );
    // Unknown group, empty members, TE without a sender, an unknown sender, bad leases.
    assert_eq!(
        assign(&mut net, request("nope", vec![ips[0]])).unwrap_err(),
        CommandError::UnknownGroup {
            name: "nope".into()
        }
    );
    assert_eq!(
        assign(&mut net, request("all", vec![])).unwrap_err(),
        CommandError::EmptySubset
    );
    let te = BierRequest {
        te: true,
        ..request("all", vec![ips[0]])
    };
    assert_eq!(
        assign(&mut net, te).unwrap_err(),
        CommandError::Bier(BierCommandError::TeNeedsSender)
    );
    let stranger = BierRequest {
        sender: Some(ghost1),
        ..request("all", vec![ips[0]])
    };
    assert_eq!(
        assign(&mut net, stranger).unwrap_err(),
        CommandError::Bier(BierCommandError::UnknownSender { ip: ghost1 })
    );
    let zero = BierRequest {
        lease: Some(Duration::ZERO),
        ..request("all", vec![ips[0]])
    };
    assert_eq!(assign(&mut net, zero).unwrap_err(), CommandError::ZeroLease);
    // Nothing was taken by the refusals.
    assert!(net.ctl().bier_leases().is_empty());
    assert_eq!(net.ctl().pool().used().count(), 0);
}
