//! The BIER→TSM step (draft §9): a last-hop switch that sees the same (BIFT-id, BitString)
//! arrive `threshold` times within `window_ms` installs a local OpenFlow ALL group for it (one
//! bucket per port the BIFT and the BFR table deliver that packet to, with `bier_decap` where
//! the BFR record says so), forwards further such packets by the group instead of the BIFT,
//! and removes it once it has gone `idle_timeout_ms` unused.
//!
//! Which packets qualify: a BIER (not BIER-TE) packet whose every bit is a LOCAL_DECAP bit
//! with a BFR record delivering to a physical port other than the one it came in by, so the
//! BIFT would make no copy to a neighbour and drop nothing. Then the group's buckets are
//! exactly the BIFT's deliveries, in the same order, with the same bytes.
//!
//! Guarantees:
//! - delivery is the same before, during and after: the group is built from the BIFT's own
//!   decision for that BitString, and any BIFT change on its table, any BFR_MOD of its
//!   sub-domain and any TSM_CONFIG removes it at once (TSM_EVENT REMOVED, reason
//!   BIFT_CHANGED or CONFIG); a group the controller deleted is forgotten and the BIFT used;
//! - at most `max_groups` local groups, ids only in `[group_id_first, group_id_last]` and never
//!   one the group table already holds; when the budget is full the least recently used group
//!   is replaced only if it has been idle for a whole window (REMOVED, reason CAPACITY), else
//!   the installation is refused and counted;
//! - the repeat counts use bounded memory (at most [`SEEN_CAP`] BitStrings are tracked; beyond
//!   that, expired windows are pruned and new BitStrings are not counted);
//! - a window is "`threshold` packets within `window_ms` of the first of them": the count
//!   restarts when a packet arrives more than `window_ms` after the window opened.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bier::BitString;
use openflow::ext::bier::{
    BierAction, BierMessage, TsmConfig, TsmEvent, TsmEventKind, TsmFlags, TsmReason,
};
use openflow::{Action, Bucket, GroupId, GroupMod, GroupType, Message, PortNo, Xid};

use super::state::CachedGroup;
use super::wire_bsl;
use crate::pipeline::{Pipeline, Time};

/// Most BitStrings whose repeats are counted at once.
pub const SEEN_CAP: usize = 65_536;

#[derive(Clone, Copy, Debug)]
struct Window {
    start: Time,
    count: u32,
}

/// The cache's configuration, repeat counts and local groups.
#[derive(Debug)]
pub(crate) struct TsmState {
    config: TsmConfig,
    seen: HashMap<u32, HashMap<BitString, Window>>,
    seen_len: usize,
    groups: BTreeMap<u32, CachedGroup>,
    index: HashMap<u32, HashMap<BitString, u32>>,
}

impl Default for TsmState {
    fn default() -> Self {
        TsmState {
            config: TsmConfig::DISABLED,
            seen: HashMap::new(),
            seen_len: 0,
            groups: BTreeMap::new(),
            index: HashMap::new(),
        }
    }
}

impl TsmState {
    pub fn config(&self) -> &TsmConfig {
        &self.config
    }

    pub fn enabled(&self) -> bool {
        self.config.flags.contains(TsmFlags::ENABLE)
    }

    pub fn groups(&self) -> impl Iterator<Item = &CachedGroup> + '_ {
        self.groups.values()
    }

    fn idle(&self) -> Duration {
        Duration::from_millis(u64::from(self.config.idle_timeout_ms))
    }

    fn window(&self) -> Duration {
        Duration::from_millis(u64::from(self.config.window_ms))
    }

    /// The local group standing for this BitString, if any.
    pub fn lookup(&self, bift_id: u32, bits: &BitString) -> Option<u32> {
        self.index.get(&bift_id)?.get(bits).copied()
    }

    /// When the next local group ages out.
    pub fn next_deadline(&self) -> Option<Time> {
        let idle = self.idle();
        self.groups.values().map(|g| g.deadline(idle)).min()
    }

    /// Counts one more arrival; returns the count in the current window (0: not tracked).
    fn count(&mut self, now: Time, bift_id: u32, bits: &BitString) -> u32 {
        let window = self.window();
        if let Some(w) = self.seen.get_mut(&bift_id).and_then(|m| m.get_mut(bits)) {
            if now.saturating_since(w.start) > window {
                *w = Window {
                    start: now,
                    count: 1,
                };
            } else {
                w.count = w.count.saturating_add(1);
            }
            return w.count;
        }
        if self.seen_len >= SEEN_CAP {
            self.prune(now);
            if self.seen_len >= SEEN_CAP {
                return 0;
            }
        }
        self.seen.entry(bift_id).or_default().insert(
            bits.clone(),
            Window {
                start: now,
                count: 1,
            },
        );
        self.seen_len += 1;
        1
    }

    fn prune(&mut self, now: Time) {
        let window = self.window();
        for m in self.seen.values_mut() {
            m.retain(|_, w| now.saturating_since(w.start) <= window);
        }
        self.seen.retain(|_, m| !m.is_empty());
        self.seen_len = self.seen.values().map(HashMap::len).sum();
    }

    fn forget_seen(&mut self, bift_id: u32, bits: &BitString) {
        if let Some(m) = self.seen.get_mut(&bift_id) {
            if m.remove(bits).is_some() {
                self.seen_len = self.seen_len.saturating_sub(1);
            }
        }
    }

    fn forget_table(&mut self, bift_id: u32) {
        if let Some(m) = self.seen.remove(&bift_id) {
            self.seen_len = self.seen_len.saturating_sub(m.len());
        }
    }

    fn insert(&mut self, g: CachedGroup) {
        self.index
            .entry(g.bift_id)
            .or_default()
            .insert(g.bitstring.clone(), g.group_id);
        self.groups.insert(g.group_id, g);
    }

    fn remove(&mut self, gid: u32) -> Option<CachedGroup> {
        let g = self.groups.remove(&gid)?;
        if let Some(m) = self.index.get_mut(&g.bift_id) {
            m.remove(&g.bitstring);
            if m.is_empty() {
                self.index.remove(&g.bift_id);
            }
        }
        Some(g)
    }

    /// The least recently used group and when it was last used.
    fn lru(&self) -> Option<(u32, Time)> {
        self.groups
            .values()
            .min_by_key(|g| (g.last_used, g.group_id))
            .map(|g| (g.group_id, g.last_used))
    }
}

fn event(kind: TsmEventKind, reason: TsmReason, g: &CachedGroup, packets: u64) -> TsmEvent {
    TsmEvent {
        event: kind,
        reason,
        bsl: wire_bsl(g.bitstring.bsl()),
        group_id: GroupId(g.group_id),
        bift_id: g.bift_id,
        packet_count: packets,
        bitstring: g.bitstring.to_bytes(),
        ports: g.ports.iter().map(|(p, _)| *p).collect(),
    }
}

impl Pipeline {
    /// A packet the cache could stand for arrived (see the module header): count it, and
    /// install a local group once it has repeated often enough.
    pub(crate) fn bier_seen(
        &mut self,
        now: Time,
        bift_id: u32,
        bits: &BitString,
        ports: &[(PortNo, bool)],
    ) {
        let stale = match self.bier.as_deref() {
            Some(b) if b.tsm.enabled() => b.tsm.lookup(bift_id, bits),
            _ => return,
        };
        if let Some(gid) = stale {
            if self.has_group(gid) {
                return;
            }
            // The controller deleted our group: forget it and count afresh.
            self.tsm_remove(now, gid, TsmReason::Config);
        }
        let Some(b) = self.bier.as_deref_mut() else {
            return;
        };
        let count = b.tsm.count(now, bift_id, bits);
        let cfg = b.tsm.config;
        if count == 0 || count < cfg.threshold {
            return;
        }
        b.tsm.forget_seen(bift_id, bits);
        let window = b.tsm.window();
        if b.tsm.groups.len() >= cfg.max_groups as usize {
            match b.tsm.lru() {
                Some((gid, last)) if now.saturating_since(last) >= window => {
                    self.tsm_remove(now, gid, TsmReason::Capacity)
                }
                _ => return self.tsm_refused(),
            }
        }
        let first = cfg.group_id_first.0;
        let last = cfg.group_id_last.0.min(GroupId::MAX.0);
        // At most one probe per existing group plus one: ids in use are finitely many.
        let Some(gid) = (first..=last).find(|g| !self.has_group(*g)) else {
            return self.tsm_refused();
        };
        let buckets = ports
            .iter()
            .map(|&(port, decap)| {
                let mut actions = Vec::with_capacity(2);
                if decap {
                    actions.push(BierAction::Decap.to_action());
                }
                actions.push(Action::output(port));
                Bucket::new(actions)
            })
            .collect();
        let gm = GroupMod::add(GroupType::All, GroupId(gid), buckets);
        if self.group_mod(now, &gm).is_err() {
            // The switch's group table is full (`Config::max_groups`).
            return self.tsm_refused();
        }
        let g = CachedGroup {
            group_id: gid,
            bift_id,
            bitstring: bits.clone(),
            ports: ports.to_vec(),
            installed: now,
            last_used: now,
            packets: 0,
        };
        let ev = event(
            TsmEventKind::Installed,
            TsmReason::None,
            &g,
            u64::from(count),
        );
        if let Some(b) = self.bier.as_deref_mut() {
            b.tsm.insert(g);
            b.counters.tsm.installed += 1;
        }
        self.tsm_notify(ev);
    }

    /// A packet went through a local group.
    pub(crate) fn bier_cache_hit(&mut self, now: Time, bift_id: u32, bits: &BitString) {
        let Some(b) = self.bier.as_deref_mut() else {
            return;
        };
        let Some(gid) = b.tsm.lookup(bift_id, bits) else {
            return;
        };
        let Some(g) = b.tsm.groups.get_mut(&gid) else {
            return;
        };
        g.last_used = now;
        g.packets += 1;
        let ports: Vec<u32> = g.ports.iter().map(|(p, _)| p.0).collect();
        let c = &mut b.counters;
        c.tsm.hits += 1;
        if let Some(t) = c.tables.get_mut(&bift_id) {
            t.cache_hits += 1;
            t.deliveries += ports.len() as u64;
        }
        for p in ports {
            c.ports.entry(p).or_default().deliveries += 1;
        }
    }

    /// Removes the local groups unused for `idle_timeout_ms` at `now`.
    pub(crate) fn bier_expire(&mut self, now: Time) {
        let Some(b) = self.bier.as_deref() else {
            return;
        };
        let idle = b.tsm.idle();
        let due: Vec<u32> = b
            .tsm
            .groups
            .values()
            .filter(|g| g.deadline(idle) <= now)
            .map(|g| g.group_id)
            .collect();
        for gid in due {
            self.tsm_remove(now, gid, TsmReason::Idle);
        }
    }

    /// When the next local group ages out.
    pub(crate) fn bier_deadline(&self) -> Option<Time> {
        self.bier.as_deref()?.tsm.next_deadline()
    }

    /// Removes the local groups of the tables `which` selects (by BIFT-id) and forgets their
    /// repeat counts.
    pub(crate) fn tsm_invalidate(
        &mut self,
        now: Time,
        which: impl Fn(u32) -> bool,
        reason: TsmReason,
    ) {
        let Some(b) = self.bier.as_deref_mut() else {
            return;
        };
        let ids: Vec<u32> = b.tsm.seen.keys().copied().filter(|id| which(*id)).collect();
        for id in ids {
            b.tsm.forget_table(id);
        }
        let gids: Vec<u32> = b
            .tsm
            .groups
            .values()
            .filter(|g| which(g.bift_id))
            .map(|g| g.group_id)
            .collect();
        for gid in gids {
            self.tsm_remove(now, gid, reason);
        }
    }

    /// A new TSM_CONFIG: every local group goes (reason CONFIG), counting starts afresh.
    pub(crate) fn tsm_configure(&mut self, now: Time, config: TsmConfig) {
        self.tsm_invalidate(now, |_| true, TsmReason::Config);
        if let Some(b) = self.bier.as_deref_mut() {
            b.tsm.seen.clear();
            b.tsm.seen_len = 0;
            b.tsm.config = config;
        }
    }

    fn tsm_remove(&mut self, now: Time, gid: u32, reason: TsmReason) {
        let Some(g) = self.bier.as_deref_mut().and_then(|b| {
            let g = b.tsm.remove(gid)?;
            b.counters.tsm.removed += 1;
            Some(g)
        }) else {
            return;
        };
        // Deleting a group cannot be refused; it takes no flow with it (none names ours).
        let _ = self.group_mod(now, &GroupMod::delete(GroupId(gid)));
        self.tsm_notify(event(TsmEventKind::Removed, reason, &g, g.packets));
    }

    fn tsm_refused(&mut self) {
        if let Some(b) = self.bier.as_deref_mut() {
            b.counters.tsm.refused += 1;
        }
    }

    fn tsm_notify(&mut self, ev: TsmEvent) {
        let notify = self
            .bier
            .as_deref()
            .is_some_and(|b| b.tsm.config.flags.contains(TsmFlags::NOTIFY));
        if notify {
            let m = Message::new(Xid(0), BierMessage::TsmEvent(ev).to_experimenter());
            self.queue_output(m);
        }
    }
}
