//! The BIER→TSM step (draft §9) on virtual time: a last-hop switch that sees the same
//! BitString `threshold` times within the window installs a local ALL group for it (TSM_EVENT
//! INSTALLED), forwards by the group, removes it after the idle timeout (REMOVED, IDLE), on a
//! BIFT change (BIFT_CHANGED), or to make room (CAPACITY); delivery is exact before, during
//! and after, with the same bytes.
#![allow(clippy::unwrap_used)]

mod bier_common;

use std::time::Duration;

use bier::NodeId;
use bier_common::{bier, drain, ours, Net};
use openflow::ext::bier::{
    BierMessage, BiftCommand, BiftTable, Entropy, Hop, TableEntries, TsmConfig, TsmEvent,
    TsmEventKind, TsmFlags, TsmReason,
};
use openflow::{GroupId, PortNo};

const FIRST: u32 = 0xf000_0000;

fn config(threshold: u32, window_ms: u32, idle_ms: u32, max_groups: u32) -> TsmConfig {
    TsmConfig {
        flags: TsmFlags::ENABLE | TsmFlags::NOTIFY,
        threshold,
        window_ms,
        idle_timeout_ms: idle_ms,
        max_groups,
        group_id_first: GroupId(FIRST),
        group_id_last: GroupId(FIRST + 0xff),
    }
}

/// 2 spines, 3 leaves (nodes 2, 3, 4) with 4 hosts each; TSM on every switch.
fn net(c: TsmConfig) -> Net {
    let mut net = Net::leaf_spine(2, 3, 4, bier::Bsl::B64);
    net.setup();
    for n in 0..net.nodes {
        let x = net.xid();
        net.apply_ok(NodeId(n as u32), &[bier(x, c)]);
    }
    net
}

fn events(net: &mut Net, node: NodeId) -> Vec<TsmEvent> {
    drain(net.pipeline_mut(node))
        .iter()
        .filter_map(|m| match ours(m) {
            Some(BierMessage::TsmEvent(e)) => Some(e),
            _ => None,
        })
        .collect()
}

/// Runs every switch's timers up to `net.now`.
fn tick(net: &mut Net) {
    let now = net.now;
    for n in 0..net.nodes {
        let p = net.pipeline_mut(NodeId(n as u32));
        while p.poll_timeout().is_some_and(|t| t <= now) {
            p.handle_timeout(now);
        }
    }
}

fn advance(net: &mut Net, ms: u64) {
    net.now = net.now + Duration::from_millis(ms);
    tick(net);
}

fn cached(net: &Net, node: NodeId) -> Vec<(u32, Vec<(PortNo, bool)>)> {
    net.pipeline(node)
        .bier()
        .unwrap()
        .cached_groups()
        .map(|g| (g.group_id, g.ports.clone()))
        .collect()
}

const LEAF_B: NodeId = NodeId(3);
const LEAF_C: NodeId = NodeId(4);

#[test]
fn installs_after_n_repeats_delivers_exactly_throughout_and_ages_out() {
    let mut net = net(config(3, 1000, 500, 4));
    // Host 0 on leaf A sends to hosts 4 and 6 (leaf B, ports 3 and 5) and 9 (leaf C).
    let members = vec![4, 6, 9];
    let addr = net.bfir(0, 0, &members, Entropy::Fixed(0));
    let mut delivered = Vec::new();
    let mut send = |net: &mut Net, what: &str| {
        let (sent, r) = net.send(0, addr);
        net.assert_exact(&sent, &r, &members, what);
        let mut d: Vec<(String, Vec<u8>)> = r
            .deliveries
            .iter()
            .map(|d| (d.host.clone().unwrap(), d.packet.clone()))
            .collect();
        d.sort();
        delivered.push(d);
        advance(net, 10);
    };
    send(&mut net, "packet 1");
    send(&mut net, "packet 2");
    assert!(
        cached(&net, LEAF_B).is_empty(),
        "two repeats are not enough"
    );
    assert!(events(&mut net, LEAF_B).is_empty());
    send(&mut net, "packet 3 (installs)");
    let b = cached(&net, LEAF_B);
    assert_eq!(b, vec![(FIRST, vec![(PortNo(3), true), (PortNo(5), true)])]);
    assert!(
        net.pipeline(LEAF_B).has_group(FIRST),
        "a real group in the group table"
    );
    assert_eq!(cached(&net, LEAF_C).len(), 1);
    // Switches that make copies never cache.
    for n in [0, 1, 2] {
        assert!(cached(&net, NodeId(n)).is_empty(), "switch {n}");
    }
    let ev = events(&mut net, LEAF_B);
    assert_eq!(ev.len(), 1);
    assert_eq!(
        (
            ev[0].event,
            ev[0].reason,
            ev[0].group_id,
            ev[0].packet_count
        ),
        (TsmEventKind::Installed, TsmReason::None, GroupId(FIRST), 3)
    );
    assert_eq!(ev[0].ports, vec![PortNo(3), PortNo(5)]);
    assert_eq!(
        ev[0].bitstring,
        net.bitstrings(&[4, 6])[&bier::SetId(0)].to_bytes()
    );

    let before = net.pipeline(LEAF_B).bier_counters().unwrap().clone();
    for i in 4..=10 {
        send(&mut net, &format!("packet {i} (by the group)"));
    }
    let after = net.pipeline(LEAF_B).bier_counters().unwrap().clone();
    let id = net.key(0).bift_id;
    assert_eq!(after.tsm.hits - before.tsm.hits, 7);
    assert_eq!(
        after.tables[&id].cache_hits - before.tables[&id].cache_hits,
        7
    );
    assert_eq!(after.port_deliveries(3) - before.port_deliveries(3), 7);
    // The trace (pure) takes the group too, and changes nothing.
    let (sent, r) = net.trace(0, addr);
    net.assert_exact(&sent, &r, &members, "trace while cached");
    assert_eq!(net.pipeline(LEAF_B).bier_counters().unwrap(), &after);

    // Unused for longer than the idle timeout: removed, and the BIFT takes over again.
    advance(&mut net, 600);
    assert!(cached(&net, LEAF_B).is_empty());
    assert!(!net.pipeline(LEAF_B).has_group(FIRST));
    let ev = events(&mut net, LEAF_B);
    assert_eq!(ev.len(), 1);
    assert_eq!(
        (ev[0].event, ev[0].reason, ev[0].packet_count),
        (TsmEventKind::Removed, TsmReason::Idle, 7)
    );
    send(&mut net, "packet 11 (by the BIFT again)");
    assert!(cached(&net, LEAF_B).is_empty());

    // The same bytes reached the same hosts before, during and after.
    for d in &delivered {
        assert_eq!(d, &delivered[0]);
    }
}

#[test]
fn a_bift_change_removes_the_group_at_once() {
    let mut net = net(config(2, 1000, 60_000, 4));
    let members = vec![4, 5];
    let addr = net.bfir(0, 0, &members, Entropy::Fixed(0));
    for i in 0..3 {
        let (sent, r) = net.send(0, addr);
        net.assert_exact(&sent, &r, &members, &format!("packet {i}"));
        advance(&mut net, 1);
    }
    assert_eq!(cached(&net, LEAF_B).len(), 1);
    let _ = events(&mut net, LEAF_B);
    // A MODIFY of leaf B's table (bit 64, which nothing uses) is a BIFT change.
    let mut m = std::collections::BTreeMap::new();
    m.insert(
        64u16,
        Hop::Forward(vec![(PortNo(1), bier_common::wire_bsl_bits(64))]),
    );
    let update = BiftTable {
        key: net.key(0),
        entries: TableEntries::Bier(m),
    };
    let part = update.bift_mods(99, BiftCommand::Modify).unwrap().remove(0);
    let now = net.now;
    net.pipeline_mut(LEAF_B).handle_message(now, &bier(7, part));
    assert!(cached(&net, LEAF_B).is_empty());
    let ev = events(&mut net, LEAF_B);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(
        (ev[0].event, ev[0].reason),
        (TsmEventKind::Removed, TsmReason::BiftChanged)
    );
    let (sent, r) = net.send(0, addr);
    net.assert_exact(&sent, &r, &members, "after the BIFT change");
    // Recomputed tables pushed everywhere: removed too.
    advance(&mut net, 1);
    let (_, _) = net.send(0, addr);
    assert_eq!(
        cached(&net, LEAF_B).len(),
        1,
        "{:?}",
        net.pipeline(LEAF_B).bier_counters()
    );
    let removed = net.pipeline(LEAF_B).bier_counters().unwrap().tsm.removed;
    net.push_bifts();
    assert!(cached(&net, LEAF_B).is_empty());
    assert_eq!(
        net.pipeline(LEAF_B).bier_counters().unwrap().tsm.removed,
        removed + 1
    );
    // A new TSM_CONFIG removes what is cached too.
    for _ in 0..2 {
        advance(&mut net, 1);
        let (sent, r) = net.send(0, addr);
        net.assert_exact(&sent, &r, &members, "after the push");
    }
    assert_eq!(cached(&net, LEAF_B).len(), 1);
    let x = net.xid();
    net.apply_ok(LEAF_B, &[bier(x, config(2, 1000, 60_000, 4))]);
    assert!(cached(&net, LEAF_B).is_empty());
}

#[test]
fn repeats_spread_wider_than_the_window_never_install() {
    let mut net = net(config(3, 100, 60_000, 4));
    let members = vec![4];
    let addr = net.bfir(0, 0, &members, Entropy::Fixed(0));
    for i in 0..6 {
        let (sent, r) = net.send(0, addr);
        net.assert_exact(&sent, &r, &members, &format!("packet {i}"));
        advance(&mut net, 60); // two packets per window at most
    }
    assert!(cached(&net, LEAF_B).is_empty());
}

#[test]
fn the_group_budget_is_respected() {
    // One local group at most; the idle timeout is long, the window short.
    let mut net = net(config(2, 100, 60_000, 1));
    let a = net.bfir(0, 0, &[4], Entropy::Fixed(0));
    let b = net.bfir(1, 0, &[5], Entropy::Fixed(0));
    for _ in 0..3 {
        let (sent, r) = net.send(0, a);
        net.assert_exact(&sent, &r, &[4], "subset a");
        advance(&mut net, 1);
    }
    assert_eq!(cached(&net, LEAF_B).len(), 1);
    // b repeats while a is in use: refused, b goes by the BIFT.
    for _ in 0..3 {
        let (sent, r) = net.send(0, b);
        net.assert_exact(&sent, &r, &[5], "subset b, budget full");
        let (sent, r) = net.send(0, a);
        net.assert_exact(&sent, &r, &[4], "subset a, cached");
        advance(&mut net, 1);
    }
    let c = net.pipeline(LEAF_B).bier_counters().unwrap();
    assert!(c.tsm.refused >= 1, "{:?}", c.tsm);
    assert_eq!(cached(&net, LEAF_B)[0].1, vec![(PortNo(3), true)]);
    let _ = events(&mut net, LEAF_B);
    // a idle for a whole window: b takes its place.
    advance(&mut net, 200);
    for _ in 0..2 {
        let (sent, r) = net.send(0, b);
        net.assert_exact(&sent, &r, &[5], "subset b, replacing a");
        advance(&mut net, 1);
    }
    assert_eq!(cached(&net, LEAF_B)[0].1, vec![(PortNo(4), true)]);
    let ev = events(&mut net, LEAF_B);
    let kinds: Vec<_> = ev.iter().map(|e| (e.event, e.reason)).collect();
    assert_eq!(
        kinds,
        vec![
            (TsmEventKind::Removed, TsmReason::Capacity),
            (TsmEventKind::Installed, TsmReason::None)
        ]
    );
    let (sent, r) = net.send(0, a);
    net.assert_exact(&sent, &r, &[4], "subset a after eviction");
}
