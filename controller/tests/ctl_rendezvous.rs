//! Rendezvous groups on virtual time (issue 5): plans installed in bulk into switch-sim
//! pipelines, every address of every copy of every k-subset traced through the installed rules
//! (switch-sim's Fabric checker) to its members exactly; budgets that refuse with the numbers
//! and install nothing; re-plans on membership change that send only what changed; reroutes
//! after a link failure; a switch refusal that rolls the plan back; claims and blocks that are
//! exclusive under many interleaved claimers, expire, renew and release; and a restore from
//! the snapshot (plus the claim journal) that keeps plans and claims and sends no rule.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use common::net::Net;
use common::{boot, check_exact, config, ip_of, put_group};
use controller::fabrics::leaf_spine;
use controller::rank;
use controller::rendezvous::{
    JournalEntry, JournalOp, LeaseEnd, PlanInfo, PlanSpec, PlanStatus, RvCommand, RvError, RvReply,
    BARRIER_EVERY, RENDEZVOUS_PRIORITY,
};
use controller::{Command, CommandError, Config, EventKind, Reply, Topology};
use openflow::msg::{FlowModCommand, GroupModCommand};
use openflow::Body;

const BASE: &str = "239.2.0.0";
const Y: &str = "239.1.1.1";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Host IPs of the topology, ascending, with their host names (MAC text).
fn hosts(topo: &Topology) -> Vec<(IpAddr, String)> {
    let mut v: Vec<(IpAddr, String)> = topo
        .hosts()
        .map(|h| (ip_of(topo, h.mac), h.mac.to_string()))
        .collect();
    v.sort();
    v
}

fn rv(net: &mut Net, c: RvCommand) -> Result<RvReply, CommandError> {
    net.exec(Command::Rendezvous(c)).map(|r| match r {
        Reply::Rendezvous(r) => r,
        other => panic!("not a rendezvous reply: {other:?}"),
    })
}

fn put_plan(net: &mut Net, k: u32, copies: u32) -> Result<RvReply, CommandError> {
    rv(
        net,
        RvCommand::PutPlan {
            group: "y".into(),
            spec: PlanSpec {
                k,
                copies,
                base: ip(BASE),
            },
        },
    )
}

fn plan(net: &Net) -> PlanInfo {
    net.ctl().rendezvous_plan("y").unwrap()
}

/// Runs until the plan is ready (panics otherwise).
fn wait_ready(net: &mut Net) -> PlanInfo {
    let ok = net.run_until(Duration::from_secs(10), |n| {
        n.ctl()
            .rendezvous_plan("y")
            .is_some_and(|p| p.state == PlanStatus::Ready)
    });
    assert!(ok, "plan not ready: {:?}", plan(net));
    plan(net)
}

/// Every address of every copy of the plan delivers exactly to its subset, from every host.
fn check_plan_delivers(net: &Net, members: &[(IpAddr, String)], p: &PlanInfo) {
    let p_y = net.ctl().group_tree("y").unwrap().ports().clone();
    let n = members.len();
    let k = p.spec.k as usize;
    assert_eq!(p.members, members.iter().map(|m| m.0).collect::<Vec<_>>());
    let count = rank::subset_count(n, k).unwrap();
    assert_eq!(p.subsets, count);
    for r in 0..count {
        let idx = rank::unrank(n, k, r).unwrap();
        let to: BTreeSet<String> = idx.iter().map(|i| members[*i].1.clone()).collect();
        let subset: Vec<IpAddr> = idx.iter().map(|i| members[*i].0).collect();
        for c in 0..p.spec.copies {
            let addr = rank::address(p.spec.base, n, k, c, r).unwrap();
            assert_eq!(
                rank::subset_address(p.spec.base, &p.members, &subset, c).unwrap(),
                addr
            );
            if let Err(e) = check_exact(net, addr, &to, Some(&p_y)) {
                panic!("copy {c} of rank {r} ({subset:?}) at {addr}: {e}");
            }
        }
    }
}

/// Plan flows and groups on a switch.
fn plan_rules(net: &mut Net, dpid: u64) -> (usize, usize) {
    let (flows, groups) = net.tables(dpid);
    (
        flows
            .iter()
            .filter(|f| f.priority == RENDEZVOUS_PRIORITY)
            .count(),
        groups.len(),
    )
}

/// Group and flow mods the controller sent to a switch, and its barrier requests.
fn mods_sent(net: &Net, dpid: u64) -> (usize, usize, usize) {
    let mut mods = (0, 0, 0);
    for m in net.sent(dpid) {
        match &m.body {
            Body::FlowMod(_) => mods.0 += 1,
            Body::GroupMod(_) => mods.1 += 1,
            Body::BarrierRequest => mods.2 += 1,
            _ => {}
        }
    }
    mods
}

fn setup(cfg: Config) -> (Net, Topology, Vec<(IpAddr, String)>) {
    let topo = leaf_spine(2, 4, 2);
    let net = boot(&topo, cfg);
    let hs = hosts(&topo);
    (net, topo, hs)
}

#[test]
fn a_plan_of_8_choose_3_times_2_installs_in_bulk_and_every_address_delivers_exactly() {
    let (mut net, topo, hs) = setup(config());
    put_group(&mut net, "y", ip(Y), hs.iter().map(|h| h.0).collect());
    net.clear_sent();
    let r = put_plan(&mut net, 3, 2).unwrap();
    let RvReply::Plan(first) = r else {
        panic!("{r:?}")
    };
    assert_eq!((first.version, first.members_version), (1, 1));
    assert_eq!((first.subsets, first.addresses), (56, 112));
    let p = wait_ready(&mut net);
    assert_eq!(p.progress.messages_done, p.progress.messages_total);
    assert_eq!(p.progress.switches_done, p.progress.switches_total);
    assert!(p.progress.messages_total >= 2 * 112, "{:?}", p.progress);
    assert!(p.budget.iter().all(|b| b.fits()));
    assert!(net.ctl().rendezvous_idle());
    check_plan_delivers(&net, &hs, &p);

    // Pipelined: a barrier per chunk and per phase, not per message; the switches hold
    // exactly one plan group and flow per address whose subset crosses them.
    let entries = net.ctl().rendezvous_entries("y").unwrap().clone();
    let dpids: Vec<u64> = topo.switches().map(|d| d.0).collect();
    for d in dpids {
        let want = entries
            .values()
            .filter(|sw| sw.contains_key(&controller::Dpid(d)))
            .count();
        let (flows, groups, barriers) = mods_sent(&net, d);
        assert_eq!((flows, groups), (want, want), "switch {d}");
        assert!(
            barriers <= want.div_ceil(BARRIER_EVERY) * 2 + 2,
            "switch {d}: {barriers} barriers for {} mods",
            flows + groups
        );
        assert_eq!(plan_rules(&mut net, d), (want, want), "switch {d}");
    }
    // Events: installing, then ready.
    let states: Vec<PlanStatus> = net
        .events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::PlanChanged { state, .. } => Some(*state),
            _ => None,
        })
        .collect();
    assert_eq!(states, vec![PlanStatus::Installing, PlanStatus::Ready]);

    // The same request again changes nothing; another shape is a new version.
    net.clear_sent();
    put_plan(&mut net, 3, 2).unwrap();
    assert_eq!(plan(&net).version, 1);
    assert!(net
        .sent(1)
        .iter()
        .all(|m| !matches!(m.body, Body::FlowMod(_))));

    // DELETE removes every plan rule.
    let r = rv(&mut net, RvCommand::DeletePlan { group: "y".into() }).unwrap();
    assert!(matches!(r, RvReply::PlanDeleted { .. }));
    assert!(net.run_until(Duration::from_secs(5), |n| n.ctl().rendezvous_idle()));
    for d in topo.switches() {
        assert_eq!(plan_rules(&mut net, d.0), (0, 0), "switch {d}");
        assert_eq!(net.ctl().group_ids_in_use(d), 0);
    }
    assert!(common::reaches_nobody(&net, ip("239.2.0.7")).is_ok());
}

#[test]
fn bad_plans_are_refused_with_the_numbers_and_nothing_is_installed() {
    let cfg = Config {
        rendezvous_budget: controller::rendezvous::Budget {
            max_groups: Some(40),
            max_flows: None,
        },
        ..config()
    };
    let (mut net, topo, hs) = setup(cfg);
    put_group(&mut net, "y", ip(Y), hs.iter().map(|h| h.0).collect());
    net.clear_sent();
    // k > n names both.
    match put_plan(&mut net, 9, 1) {
        Err(CommandError::Rendezvous(RvError::KOutOfRange { k: 9, n: 8, .. })) => {}
        r => panic!("{r:?}"),
    }
    // 112 addresses need more than 40 groups on some switches.
    match put_plan(&mut net, 3, 2) {
        Err(CommandError::Rendezvous(RvError::OverBudget { group, switches })) => {
            assert_eq!(group, "y");
            assert!(!switches.is_empty());
            for b in &switches {
                assert_eq!(b.groups_available, Some(40), "{b:?}");
                assert!(b.groups_needed > 40, "{b:?}");
                assert_eq!(b.flows_needed, b.groups_needed);
            }
        }
        r => panic!("{r:?}"),
    }
    // Overlapping the subset pool, unknown members, a base of the other family.
    let bad = |base: &str| RvCommand::PutPlan {
        group: "y".into(),
        spec: PlanSpec {
            k: 1,
            copies: 1,
            base: ip(base),
        },
    };
    assert!(matches!(
        rv(&mut net, bad("239.192.0.0")),
        Err(CommandError::Rendezvous(RvError::RangeOverlap { .. }))
    ));
    assert!(matches!(
        rv(&mut net, bad("ff3e::1")),
        Err(CommandError::Rendezvous(RvError::BadBase { .. }))
    ));
    assert!(matches!(
        rv(
            &mut net,
            RvCommand::PutPlan {
                group: "nope".into(),
                spec: PlanSpec {
                    k: 1,
                    copies: 1,
                    base: ip(BASE)
                }
            }
        ),
        Err(CommandError::Rendezvous(RvError::UnknownGroup { .. }))
    ));
    assert!(net.ctl().rendezvous_plan("y").is_none());
    for d in topo.switches() {
        let (f, g, _) = mods_sent(&net, d.0);
        assert_eq!((f, g), (0, 0), "switch {d} got rules");
    }
    // On-demand subsets keep working; a smaller plan fits.
    common::subset(
        &mut net,
        "y",
        vec![hs[0].0, hs[5].0],
        Duration::from_secs(30),
    );
    put_plan(&mut net, 1, 2).unwrap();
    let p = wait_ready(&mut net);
    check_plan_delivers(&net, &hs, &p);
}

#[test]
fn a_switch_that_reports_few_groups_limits_the_plan() {
    let topo = leaf_spine(2, 4, 2);
    let mut net = Net::from_topology(&topo, config());
    // Both spines (switches 1 and 2) hold 10 groups: the root of the group's tree is one.
    for d in [1, 2] {
        net.set_switch_config(switch_sim::Config {
            max_groups: 10,
            ..switch_sim::Config::with_dpid(d)
        });
    }
    net.connect_all();
    net.announce_all();
    assert!(net.run_until(Duration::from_secs(30), |n| common::discovered(n, &topo)));
    let hs = hosts(&topo);
    put_group(&mut net, "y", ip(Y), hs.iter().map(|h| h.0).collect());
    let root = net.ctl().group_tree("y").unwrap().tree().root();
    match put_plan(&mut net, 3, 2) {
        Err(CommandError::Rendezvous(RvError::OverBudget { switches, .. })) => {
            // The spines that carry the plan (the tree's root at least) are named, with the
            // numbers; no leaf is (they have room).
            let named: Vec<u64> = switches.iter().map(|b| b.dpid.0).collect();
            assert!(named.contains(&root.0), "root {root}: {switches:?}");
            assert!(named.iter().all(|d| *d == 1 || *d == 2), "{switches:?}");
            for b in &switches {
                assert_eq!((b.groups_needed, b.groups_available), (112, Some(10)));
            }
        }
        r => panic!("{r:?}"),
    }
    assert!(net.ctl().rendezvous_plan("y").is_none());
    // k = 1, one copy: 8 addresses fit.
    put_plan(&mut net, 1, 1).unwrap();
    let p = wait_ready(&mut net);
    check_plan_delivers(&net, &hs, &p);
}

#[test]
fn a_membership_change_replans_with_a_new_version_sending_only_what_changed() {
    let (mut net, _topo, hs) = setup(config());
    // Seven members first; the eighth (highest address) joins later.
    let seven: Vec<IpAddr> = hs[..7].iter().map(|h| h.0).collect();
    put_group(&mut net, "y", ip(Y), seven.clone());
    put_plan(&mut net, 2, 1).unwrap();
    let p1 = wait_ready(&mut net);
    assert_eq!((p1.version, p1.members_version, p1.addresses), (1, 1, 21));
    check_plan_delivers(&net, &hs[..7], &p1);
    let before = net.ctl().rendezvous_entries("y").unwrap().clone();

    net.clear_sent();
    put_group(&mut net, "y", ip(Y), hs.iter().map(|h| h.0).collect());
    assert_eq!(net.ctl().group("y").unwrap().version, 2);
    let p2 = wait_ready(&mut net);
    assert_eq!((p2.version, p2.members_version, p2.addresses), (2, 2, 28));
    check_plan_delivers(&net, &hs, &p2);
    // Colex ranks of the old subsets do not change when the new member sorts last, and with
    // one copy their addresses stay: only the 7 new subsets' rules went out.
    let after = net.ctl().rendezvous_entries("y").unwrap().clone();
    let mut new_pairs = 0;
    for (addr, sw) in &after {
        match before.get(addr) {
            Some(old) => assert_eq!(old, sw, "{addr} changed"),
            None => new_pairs += sw.len(),
        }
    }
    let (mut flows, mut groups) = (0, 0);
    for d in 1..=6 {
        for m in net.sent(d) {
            match &m.body {
                Body::FlowMod(f) if f.priority == RENDEZVOUS_PRIORITY => {
                    assert_eq!(f.command, FlowModCommand::Add);
                    flows += 1;
                }
                Body::GroupMod(g) => {
                    assert_eq!(g.command, GroupModCommand::Add);
                    groups += 1;
                }
                _ => {}
            }
        }
    }
    assert_eq!((flows, groups), (new_pairs, new_pairs));
    assert!(net.events().iter().any(|e| matches!(
        &e.kind,
        EventKind::PlanChanged {
            version: 2,
            members_version: 2,
            ..
        }
    )));

    // A member leaves: version 3, still exact.
    let without: Vec<IpAddr> = hs.iter().map(|h| h.0).filter(|a| *a != hs[3].0).collect();
    put_group(&mut net, "y", ip(Y), without);
    let p3 = wait_ready(&mut net);
    assert_eq!((p3.version, p3.members_version, p3.addresses), (3, 3, 21));
    let left: Vec<(IpAddr, String)> = hs.iter().filter(|h| h.0 != hs[3].0).cloned().collect();
    check_plan_delivers(&net, &left, &p3);
}

#[test]
fn a_link_failure_reroutes_the_plan_and_it_still_delivers_exactly() {
    let (mut net, topo, hs) = setup(config());
    put_group(&mut net, "y", ip(Y), hs.iter().map(|h| h.0).collect());
    put_plan(&mut net, 3, 1).unwrap();
    let p = wait_ready(&mut net);
    check_plan_delivers(&net, &hs, &p);
    // Take down a link of the group's tree: a leaf's uplink to the root.
    let root = net.ctl().group_tree("y").unwrap().tree().root();
    let link = topo
        .links()
        .find(|l| l.a.dpid == root || l.b.dpid == root)
        .unwrap();
    net.set_link_up(link.a, false);
    assert!(net.run_until(Duration::from_secs(10), |n| {
        n.ctl().rendezvous_idle() && n.ctl().links().iter().any(|l| !l.live)
    }));
    let p2 = wait_ready(&mut net);
    assert_eq!(p2.version, 1, "a reroute keeps the addressing");
    check_plan_delivers(&net, &hs, &p2);
    net.set_link_up(link.a, true);
    net.run_for(Duration::from_secs(5));
    let p3 = wait_ready(&mut net);
    check_plan_delivers(&net, &hs, &p3);
}

#[test]
fn a_switch_that_refuses_fails_the_plan_and_nothing_stays() {
    let topo = leaf_spine(2, 4, 2);
    let mut net = Net::from_topology(&topo, config());
    // Leaf 3 (switch 3) holds only 5 flows: it answers OFPFMFC_TABLE_FULL.
    net.set_switch_config(switch_sim::Config {
        table_capacity: 5,
        ..switch_sim::Config::with_dpid(3)
    });
    net.connect_all();
    net.announce_all();
    assert!(net.run_until(Duration::from_secs(30), |n| common::discovered(n, &topo)));
    let hs = hosts(&topo);
    put_group(&mut net, "y", ip(Y), hs.iter().map(|h| h.0).collect());
    put_plan(&mut net, 3, 2).unwrap();
    let ok = net.run_until(Duration::from_secs(10), |n| {
        n.ctl()
            .rendezvous_plan("y")
            .is_some_and(|p| p.state == PlanStatus::Failed)
            && n.ctl().rendezvous_idle()
    });
    let p = plan(&net);
    assert!(ok, "{p:?}");
    let why = p.error.unwrap();
    assert!(
        why.contains("0000000000000003") && why.contains("TABLE_FULL"),
        "{why}"
    );
    for d in topo.switches() {
        assert_eq!(plan_rules(&mut net, d.0), (0, 0), "switch {d}");
    }
    // Claims are refused while it stands failed.
    let r = rv(
        &mut net,
        RvCommand::Claim {
            group: "y".into(),
            members: hs[..3].iter().map(|h| h.0).collect(),
            lease: Duration::from_secs(5),
            owner: None,
        },
    );
    assert!(
        matches!(r, Err(CommandError::Rendezvous(RvError::NotReady { .. }))),
        "{r:?}"
    );
}

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn claims_are_exclusive_under_many_interleaved_claimers() {
    let (mut net, _topo, hs) = setup(config());
    let members: Vec<IpAddr> = hs.iter().map(|h| h.0).collect();
    put_group(&mut net, "y", ip(Y), members.clone());
    put_plan(&mut net, 3, 2).unwrap();
    let p = wait_ready(&mut net);
    let mut rng = Rng(7);
    // Copy 1 goes to a block: per-address claims only ever get copy 0.
    let block = match rv(
        &mut net,
        RvCommand::TakeBlock {
            group: "y".into(),
            copies: 1,
            lease: Duration::from_secs(600),
            owner: None,
        },
    )
    .unwrap()
    {
        RvReply::Block(b) => b,
        r => panic!("{r:?}"),
    };
    assert_eq!(block.copies, vec![0]);
    assert!(matches!(
        rv(
            &mut net,
            RvCommand::TakeBlock {
                group: "y".into(),
                copies: 2,
                lease: Duration::from_secs(600),
                owner: None,
            }
        ),
        Err(CommandError::Rendezvous(RvError::BlockExhausted {
            wanted: 2,
            free: 1,
            ..
        }))
    ));
    let block_range = (
        rank::address(p.spec.base, 8, 3, 0, 0).unwrap(),
        rank::address(p.spec.base, 8, 3, 0, 55).unwrap(),
    );
    let mut held: BTreeMap<IpAddr, u64> = BTreeMap::new();
    let mut exhausted = 0;
    for round in 0..40 {
        // A burst of claims at one instant (the claimers' requests interleave in the core
        // in arrival order), then some releases.
        let mut ids = Vec::new();
        for _ in 0..12 {
            let r = rng.below(56);
            let subset: Vec<IpAddr> = rank::unrank(8, 3, r)
                .unwrap()
                .iter()
                .map(|i| members[*i])
                .collect();
            let mut shuffled = subset.clone();
            shuffled.rotate_left(rng.below(3) as usize);
            ids.push((
                net.command(Command::Rendezvous(RvCommand::Claim {
                    group: "y".into(),
                    members: shuffled,
                    lease: Duration::from_secs(3600),
                    owner: None,
                })),
                subset,
            ));
        }
        for (id, subset) in ids {
            match net.answer(id).cloned().unwrap() {
                Ok(Reply::Rendezvous(RvReply::Claim(c))) => {
                    assert!(
                        held.insert(c.addr, c.id).is_none(),
                        "round {round}: {} given twice",
                        c.addr
                    );
                    assert!(
                        !(block_range.0 <= c.addr && c.addr <= block_range.1),
                        "{} is in the block",
                        c.addr
                    );
                    assert_eq!(c.copy, 1);
                    assert_eq!(
                        rank::subset_address(p.spec.base, &members, &subset, c.copy).unwrap(),
                        c.addr
                    );
                    assert_eq!(c.members, subset);
                }
                Err(CommandError::Rendezvous(RvError::Exhausted { copies: 2, .. })) => {
                    exhausted += 1
                }
                r => panic!("{r:?}"),
            }
        }
        for _ in 0..rng.below(6) {
            if held.is_empty() {
                break;
            }
            let i = rng.below(held.len() as u64) as usize;
            let (addr, id) = held.iter().nth(i).map(|(a, i)| (*a, *i)).unwrap();
            let r = rv(&mut net, RvCommand::ReleaseClaim { id }).unwrap();
            assert_eq!(r, RvReply::ClaimReleased { id });
            held.remove(&addr);
        }
        let live: BTreeMap<IpAddr, u64> =
            net.ctl().claims().iter().map(|c| (c.addr, c.id)).collect();
        assert_eq!(live, held, "round {round}");
    }
    assert!(exhausted > 0, "the test never exhausted a subset");
    // Releasing the block frees its copy for claims.
    rv(&mut net, RvCommand::ReleaseBlock { id: block.id }).unwrap();
    let taken = held.keys().next().copied().unwrap();
    let (_, r) = rank::locate(p.spec.base, 8, 3, 2, taken).unwrap();
    let subset: Vec<IpAddr> = rank::unrank(8, 3, r)
        .unwrap()
        .iter()
        .map(|i| members[*i])
        .collect();
    match rv(
        &mut net,
        RvCommand::Claim {
            group: "y".into(),
            members: subset,
            lease: Duration::from_secs(5),
            owner: None,
        },
    )
    .unwrap()
    {
        RvReply::Claim(c) => assert_eq!(c.copy, 0),
        r => panic!("{r:?}"),
    }
}

#[test]
fn claims_and_blocks_expire_renew_and_release_on_the_controllers_timer() {
    let (mut net, _topo, hs) = setup(config());
    let members: Vec<IpAddr> = hs.iter().map(|h| h.0).collect();
    put_group(&mut net, "y", ip(Y), members.clone());
    put_plan(&mut net, 2, 1).unwrap();
    wait_ready(&mut net);
    let claim = |net: &mut Net, lease_ms| {
        rv(
            net,
            RvCommand::Claim {
                group: "y".into(),
                members: vec![members[1], members[4]],
                lease: Duration::from_millis(lease_ms),
                owner: None,
            },
        )
    };
    let c = match claim(&mut net, 2000).unwrap() {
        RvReply::Claim(c) => c,
        r => panic!("{r:?}"),
    };
    let start = net.now();
    assert_eq!(c.expires_at, start + Duration::from_millis(2000));
    // Held: the only copy is taken.
    assert!(matches!(
        claim(&mut net, 100),
        Err(CommandError::Rendezvous(RvError::Exhausted { .. }))
    ));
    net.run_for(Duration::from_millis(1500));
    let r = rv(
        &mut net,
        RvCommand::RenewClaim {
            id: c.id,
            lease: Duration::from_millis(1500),
        },
    )
    .unwrap();
    let RvReply::Claim(renewed) = r else {
        panic!("{r:?}")
    };
    assert_eq!(renewed.expires_at, net.now() + Duration::from_millis(1500));
    net.run_for(Duration::from_millis(1000));
    assert!(
        net.ctl().claim(c.id).is_some(),
        "renewed past its first end"
    );
    net.run_for(Duration::from_millis(600));
    assert!(net.ctl().claim(c.id).is_none(), "expired on time");
    assert!(net.events().iter().any(|e| matches!(
        e.kind,
        EventKind::ClaimEnded {
            id,
            reason: LeaseEnd::Expired,
            ..
        } if id == c.id
    )));
    // Renewing or releasing an expired claim is refused and changes nothing.
    let seq = net.events().len();
    for cmd in [
        RvCommand::RenewClaim {
            id: c.id,
            lease: Duration::from_secs(1),
        },
        RvCommand::ReleaseClaim { id: c.id },
    ] {
        match rv(&mut net, cmd) {
            Err(CommandError::Rendezvous(RvError::Expired { id, block: false })) => {
                assert_eq!(id, c.id)
            }
            r => panic!("{r:?}"),
        }
    }
    assert_eq!(net.events().len(), seq);
    // The address is free again; release works once.
    let c2 = match claim(&mut net, 5000).unwrap() {
        RvReply::Claim(c2) => c2,
        r => panic!("{r:?}"),
    };
    assert_eq!(c2.addr, c.addr);
    assert_ne!(c2.id, c.id);
    rv(&mut net, RvCommand::ReleaseClaim { id: c2.id }).unwrap();
    assert!(rv(&mut net, RvCommand::ReleaseClaim { id: c2.id }).is_err());
    // A block's lease ends the same way.
    let b = match rv(
        &mut net,
        RvCommand::TakeBlock {
            group: "y".into(),
            copies: 1,
            lease: Duration::from_millis(700),
            owner: None,
        },
    )
    .unwrap()
    {
        RvReply::Block(b) => b,
        r => panic!("{r:?}"),
    };
    assert!(matches!(
        claim(&mut net, 100),
        Err(CommandError::Rendezvous(RvError::Exhausted { .. }))
    ));
    net.run_for(Duration::from_millis(800));
    assert!(net.ctl().blocks().is_empty());
    assert!(net.events().iter().any(|e| matches!(
        e.kind,
        EventKind::BlockEnded { id, reason: LeaseEnd::Expired, .. } if id == b.id
    )));
    assert!(claim(&mut net, 100).is_ok());
}

#[test]
fn a_restart_keeps_plans_claims_and_blocks_and_sends_no_rule() {
    let (mut net, topo, hs) = setup(config());
    let members: Vec<IpAddr> = hs.iter().map(|h| h.0).collect();
    put_group(&mut net, "y", ip(Y), members.clone());
    put_plan(&mut net, 3, 2).unwrap();
    let p = wait_ready(&mut net);
    let before_claims = net.ctl().snapshot();
    let mut claims = Vec::new();
    for r in [0u64, 17, 55] {
        let subset: Vec<IpAddr> = rank::unrank(8, 3, r)
            .unwrap()
            .iter()
            .map(|i| members[*i])
            .collect();
        match rv(
            &mut net,
            RvCommand::Claim {
                group: "y".into(),
                members: subset,
                lease: Duration::from_secs(600),
                owner: Some(format!("t{r}")),
            },
        )
        .unwrap()
        {
            RvReply::Claim(c) => claims.push(c),
            r => panic!("{r:?}"),
        }
    }
    let block = match rv(
        &mut net,
        RvCommand::TakeBlock {
            group: "y".into(),
            copies: 1,
            lease: Duration::from_secs(600),
            owner: Some("t".into()),
        },
    )
    .unwrap()
    {
        RvReply::Block(b) => b,
        r => panic!("{r:?}"),
    };
    let snap = net.ctl().snapshot();
    assert_eq!(snap.rendezvous.claims.len(), 3);
    let text = serde_json::to_string(&snap).unwrap();
    let snap: controller::Snapshot = serde_json::from_str(&text).unwrap();
    net.clear_sent();
    net.restart_controller(&snap);
    net.announce_all();
    assert!(net.run_until(Duration::from_secs(30), |n| common::discovered(n, &topo)));
    net.run_for(Duration::from_secs(12)); // past restore_settle: re-planned on the fabric
    assert_eq!(net.ctl().claims(), claims);
    assert_eq!(net.ctl().blocks(), vec![block.clone()]);
    assert_eq!(plan(&net).state, PlanStatus::Ready);
    for d in topo.switches() {
        let (f, g, _) = mods_sent(&net, d.0);
        assert_eq!(
            (f, g),
            (0, 0),
            "switch {d}: rules were sent after the restart"
        );
    }
    check_plan_delivers(&net, &hs, &plan(&net));
    // Exclusivity holds across the restart: the other copy of a claimed subset is the
    // block's, so the subset is exhausted.
    let subset = claims[0].members.clone();
    assert!(matches!(
        rv(
            &mut net,
            RvCommand::Claim {
                group: "y".into(),
                members: subset,
                lease: Duration::from_secs(5),
                owner: None,
            }
        ),
        Err(CommandError::Rendezvous(RvError::Exhausted { .. }))
    ));

    // The journal: a snapshot from before the claims plus the journal of what followed
    // gives the same claims (and a released one stays released).
    let mut journal: Vec<JournalEntry> = Vec::new();
    let mut seq = before_claims.rendezvous.journal_seq;
    for c in &snap.rendezvous.claims {
        seq += 1;
        journal.push(JournalEntry {
            seq,
            op: JournalOp::Claim { claim: c.clone() },
        });
    }
    for b in &snap.rendezvous.blocks {
        seq += 1;
        journal.push(JournalEntry {
            seq,
            op: JournalOp::Block { block: b.clone() },
        });
    }
    seq += 1;
    journal.push(JournalEntry {
        seq,
        op: JournalOp::Release { id: claims[1].id },
    });
    let mut ctl = controller::Controller::restore(config(), &before_claims, net.now()).unwrap();
    assert!(ctl.claims().is_empty());
    assert_eq!(ctl.replay_journal(&journal), journal.len());
    assert_eq!(ctl.replay_journal(&journal), 0, "replay is idempotent");
    let ids: Vec<u64> = ctl.claims().iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![claims[0].id, claims[2].id]);
    assert_eq!(ctl.blocks().len(), 1);
    // Owners come back from the journal too (the snapshot's are checked above).
    let owners: Vec<Option<String>> = ctl.claims().into_iter().map(|c| c.owner).collect();
    assert_eq!(owners, [Some("t0".to_owned()), Some("t55".to_owned())]);
    assert_eq!(ctl.blocks()[0].owner.as_deref(), Some("t"));
    let _ = p;
}

#[test]
fn a_reconnect_fixes_exactly_the_plan_rules_that_are_wrong() {
    use controller::rendezvous::{flow_add, plan_cookie};
    use openflow::msg::FlowMod;
    use openflow::{GroupId, PortNo};
    let (mut net, _topo, hs) = setup(config());
    put_group(&mut net, "y", ip(Y), hs.iter().map(|h| h.0).collect());
    put_plan(&mut net, 2, 1).unwrap();
    let p = wait_ready(&mut net);
    // A leaf (switch 3) and two addresses it carries.
    let entries = net.ctl().rendezvous_entries("y").unwrap().clone();
    let on3: Vec<(IpAddr, GroupId)> = entries
        .iter()
        .filter_map(|(a, sw)| sw.get(&controller::Dpid(3)).map(|i| (*a, i.group)))
        .collect();
    assert!(on3.len() >= 2);
    let (a, _) = on3[0];
    let (_, gb) = on3[1];
    let cookie = net
        .tables(3)
        .0
        .iter()
        .find(|f| f.priority == RENDEZVOUS_PRIORITY)
        .unwrap()
        .cookie;
    net.disconnect(3);
    // While away: a's flow vanishes, b's group gets a wrong bucket, a stale plan flow (a plan
    // cookie, an address no plan has) appears.
    let stale: IpAddr = ip("239.2.9.9");
    let errors = net.tamper(
        3,
        vec![
            Body::FlowMod(FlowMod {
                cookie_mask: 0,
                ..FlowMod::delete_strict(
                    openflow::TableId(0),
                    RENDEZVOUS_PRIORITY,
                    controller::rules::dst_match(a),
                )
            }),
            Body::GroupMod(controller::rules::group_modify(gb, &[PortNo(9)])),
            Body::GroupMod(controller::rules::group_add(
                GroupId(0x5453_ff00),
                &[PortNo(1)],
            )),
            Body::FlowMod(flow_add(stale, GroupId(0x5453_ff00), plan_cookie(999))),
        ],
    );
    assert!(errors.is_empty(), "{errors:?}");
    net.clear_sent();
    net.connect(3);
    assert!(net.run_until(Duration::from_secs(5), |n| n
        .ctl()
        .is_ready(controller::Dpid(3))));
    net.run_for(Duration::from_secs(1));
    let mut flows: Vec<(FlowModCommand, IpAddr)> = Vec::new();
    let mut groups: Vec<(GroupModCommand, GroupId)> = Vec::new();
    for m in net.sent(3) {
        match &m.body {
            Body::FlowMod(f) if f.priority == RENDEZVOUS_PRIORITY => {
                let dst = f
                    .match_
                    .fields
                    .iter()
                    .find_map(|o| match o {
                        openflow::Oxm::Ipv4Dst { value, .. } => Some(IpAddr::V4(*value)),
                        _ => None,
                    })
                    .unwrap();
                flows.push((f.command, dst));
            }
            Body::GroupMod(g) => groups.push((g.command, g.group_id)),
            _ => {}
        }
    }
    flows.sort_by_key(|f| f.1);
    assert_eq!(
        flows,
        vec![
            (FlowModCommand::Add, a),
            (FlowModCommand::DeleteStrict, stale)
        ]
    );
    groups.sort_by_key(|g| g.1);
    assert_eq!(
        groups,
        vec![
            (GroupModCommand::Modify, gb),
            (GroupModCommand::Delete, GroupId(0x5453_ff00))
        ]
    );
    assert_eq!(cookie, plan_cookie(1));
    check_plan_delivers(&net, &hs, &p);
}
