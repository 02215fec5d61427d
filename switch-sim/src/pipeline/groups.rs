//! The group table (OF1.3.5 §5.6) and `OFPT_GROUP_MOD` (§6.5, §7.3.4.2).
//!
//! Checks, with Open vSwitch's codes: an unknown command `OFPGMFC_BAD_COMMAND`, type
//! `OFPGMFC_BAD_TYPE`; a group id above `OFPG_MAX`, an INDIRECT group without exactly one
//! bucket, a weight outside a SELECT group, a FAST_FAILOVER bucket that watches nothing, or a
//! DELETE that carries buckets (OF1.3.5) `OFPGMFC_INVALID_GROUP`; a watch in an ALL or INDIRECT
//! group `OFPGMFC_WATCH_UNSUPPORTED`; bucket actions as for flows (no match to check against,
//! and a chained group must exist); a chain that leads back to the group `OFPGMFC_LOOP`; ADD of
//! an existing id `OFPGMFC_GROUP_EXISTS`; more groups of a type than configured
//! `OFPGMFC_OUT_OF_GROUPS`; MODIFY of a missing id `OFPGMFC_UNKNOWN_GROUP`.
//!
//! Deleting a group removes the flow entries that name it (FLOW_REMOVED reason GROUP_DELETE);
//! buckets of other groups that chain to it are left dangling and drop at forwarding time, as
//! in Open vSwitch. Deleting a group that does not exist is not an error.

use std::collections::BTreeSet;

use openflow::error_msg::{ErrorCode, GroupModFailedCode};
use openflow::{Bucket, FlowRemovedReason, GroupId, GroupMod, GroupModCommand, GroupType, PortNo};

use super::flow_match::Known;
use super::hash::{finish, mix};
use super::validate::{groups_of, Site};
use super::{Pipeline, Time};
use crate::packet::FlowKey;

/// One group entry with its counters.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub kind: GroupType,
    pub buckets: Vec<Bucket>,
    pub packets: u64,
    pub bytes: u64,
    /// (packets, bytes) per bucket.
    pub bucket_counts: Vec<(u64, u64)>,
    pub created: Time,
}

impl Group {
    /// Groups this group's buckets chain to.
    pub fn children(&self) -> impl Iterator<Item = u32> + '_ {
        self.buckets.iter().flat_map(|b| groups_of(&b.actions))
    }
}

/// Deepest group chain followed when forwarding or checking liveness (a guard: GROUP_MOD
/// refuses loops, so a chain is never longer than the number of groups).
pub(crate) const MAX_CHAIN: u8 = 32;

impl Pipeline {
    pub(crate) fn group_mod(&mut self, now: Time, gm: &GroupMod) -> Result<(), ErrorCode> {
        let gerr = |c: GroupModFailedCode| Err(ErrorCode::from(c));
        let kind_ok = matches!(
            gm.group_type,
            GroupType::All | GroupType::Select | GroupType::Indirect | GroupType::FastFailover
        );
        match gm.command {
            GroupModCommand::Add | GroupModCommand::Modify | GroupModCommand::Delete => {}
            GroupModCommand::Other(_) => return gerr(GroupModFailedCode::BadCommand),
        }
        if !kind_ok && gm.command != GroupModCommand::Delete {
            return gerr(GroupModFailedCode::BadType);
        }
        if gm.command == GroupModCommand::Delete {
            if !gm.buckets.is_empty() {
                return gerr(GroupModFailedCode::InvalidGroup);
            }
            self.group_delete(now, gm.group_id);
            return Ok(());
        }
        if gm.group_type == GroupType::Indirect && gm.buckets.len() != 1 {
            return gerr(GroupModFailedCode::InvalidGroup);
        }
        for b in &gm.buckets {
            if b.weight != 0 && gm.group_type != GroupType::Select {
                return gerr(GroupModFailedCode::InvalidGroup);
            }
            let watches = b.watch_port != PortNo::ANY || b.watch_group != GroupId::ANY;
            match gm.group_type {
                GroupType::FastFailover if !watches => {
                    return gerr(GroupModFailedCode::InvalidGroup)
                }
                GroupType::All | GroupType::Indirect if watches => {
                    return gerr(GroupModFailedCode::WatchUnsupported)
                }
                _ => {}
            }
        }
        let id = gm.group_id.0;
        if id > GroupId::MAX.0 {
            return gerr(GroupModFailedCode::InvalidGroup);
        }
        for b in &gm.buckets {
            // A bucket naming its own group is a loop, not a missing group.
            if groups_of(&b.actions).any(|g| g == id) {
                return gerr(GroupModFailedCode::Loop);
            }
            self.check_actions(&b.actions, Site::Bucket, None::<&mut Known>)?;
        }
        let exists = self.groups.contains_key(&id);
        match gm.command {
            GroupModCommand::Add if exists => return gerr(GroupModFailedCode::GroupExists),
            GroupModCommand::Modify if !exists => return gerr(GroupModFailedCode::UnknownGroup),
            _ => {}
        }
        if self.would_loop(id, &gm.buckets) {
            return gerr(GroupModFailedCode::Loop);
        }
        let same_kind = self
            .groups
            .get(&id)
            .is_some_and(|g| g.kind == gm.group_type);
        let of_kind = self
            .groups
            .values()
            .filter(|g| g.kind == gm.group_type)
            .count();
        if !same_kind && of_kind >= self.config.max_groups as usize {
            return gerr(GroupModFailedCode::OutOfGroups);
        }
        let (packets, bytes, created) = match self.groups.get(&id) {
            Some(g) => (g.packets, g.bytes, g.created),
            None => (0, 0, now),
        };
        self.groups.insert(
            id,
            Group {
                kind: gm.group_type,
                buckets: gm.buckets.clone(),
                packets,
                bytes,
                bucket_counts: vec![(0, 0); gm.buckets.len()],
                created,
            },
        );
        Ok(())
    }

    /// Whether giving group `id` these buckets would let a chain of groups reach `id` again.
    fn would_loop(&self, id: u32, buckets: &[Bucket]) -> bool {
        let mut todo: Vec<u32> = buckets.iter().flat_map(|b| groups_of(&b.actions)).collect();
        let mut seen = BTreeSet::new();
        while let Some(g) = todo.pop() {
            if g == id {
                return true;
            }
            if !seen.insert(g) {
                continue;
            }
            if let Some(grp) = self.groups.get(&g) {
                todo.extend(grp.children());
            }
        }
        false
    }

    fn group_delete(&mut self, now: Time, id: GroupId) {
        let ids: Vec<u32> = if id == GroupId::ALL {
            self.groups.keys().copied().collect()
        } else if self.groups.contains_key(&id.0) {
            vec![id.0]
        } else {
            return;
        };
        for g in ids {
            // OF1.3.5 §6.5: flow entries that forward to a deleted group are removed too.
            let flows: Vec<u32> = self
                .group_refs
                .range((g, 0)..=(g, u32::MAX))
                .map(|(_, f)| *f)
                .collect();
            for f in flows {
                self.remove_flow(now, f, Some(FlowRemovedReason::GroupDelete));
            }
            self.groups.remove(&g);
        }
    }

    /// Flow entries and groups that forward to group `id` directly (`ref_count`).
    pub(crate) fn group_ref_count(&self, id: u32) -> u32 {
        let flows = self.group_refs.range((id, 0)..=(id, u32::MAX)).count();
        let groups = self
            .groups
            .values()
            .filter(|g| g.children().any(|c| c == id))
            .count();
        u32::try_from(flows + groups).unwrap_or(u32::MAX)
    }

    /// Whether a group is live: it exists and one of its buckets is live (OF1.3.5 §6.5).
    pub(crate) fn group_is_live(&self, id: u32, depth: u8) -> bool {
        if depth >= MAX_CHAIN {
            return false;
        }
        self.groups
            .get(&id)
            .is_some_and(|g| g.buckets.iter().any(|b| self.bucket_is_live(b, depth + 1)))
    }

    /// Whether a bucket is live: its watched port and group (those it watches) are.
    pub(crate) fn bucket_is_live(&self, b: &Bucket, depth: u8) -> bool {
        (b.watch_port == PortNo::ANY || self.port_is_live(b.watch_port))
            && (b.watch_group == GroupId::ANY || self.group_is_live(b.watch_group.0, depth))
    }

    /// The bucket a group sends a packet to: ALL is handled by the caller; SELECT hashes the
    /// packet's flow fields over the live buckets with a non-zero weight, in proportion to the
    /// weights (the same flow always takes the same bucket while the group and the liveness of
    /// its buckets stay the same); INDIRECT takes its bucket; FAST_FAILOVER the first live one.
    pub(crate) fn pick_bucket(&self, g: &Group, key: &FlowKey, depth: u8) -> Option<usize> {
        match g.kind {
            GroupType::Indirect => (!g.buckets.is_empty()).then_some(0),
            GroupType::FastFailover => g
                .buckets
                .iter()
                .position(|b| self.bucket_is_live(b, depth + 1)),
            GroupType::Select => {
                let live: Vec<(usize, u64)> = g
                    .buckets
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b.weight > 0 && self.bucket_is_live(b, depth + 1))
                    .map(|(i, b)| (i, u64::from(b.weight)))
                    .collect();
                let total: u64 = live.iter().map(|(_, w)| w).sum();
                if total == 0 {
                    return None;
                }
                let mut point = select_hash(key) % total;
                for (i, w) in live {
                    if point < w {
                        return Some(i);
                    }
                    point -= w;
                }
                None
            }
            _ => None,
        }
    }
}

/// The hash a SELECT group uses: the addresses, protocol and ports of the packet (symmetric
/// flows are not required to share a bucket).
fn select_hash(k: &FlowKey) -> u64 {
    // Words: Ethernet addresses and type, VLAN, IPv4 addresses, protocol and TCP ports, UDP and
    // SCTP ports, IPv6 addresses.
    let mut h = 0u64;
    for i in [2usize, 3, 4, 5, 6, 11, 12, 13, 14] {
        h = mix(h, k.w[i]);
    }
    finish(h)
}
