//! The state machine's side of rendezvous groups ([`crate::rendezvous`]): commands, queries,
//! the bulk sender's pump, barrier replies and errors of plan messages, re-plans after
//! membership and fabric changes, lease timers, reconciliation's desired state, snapshot and
//! journal. A child module of `machine`, so the controller's fields stay private; `machine.rs`
//! only calls in at a few points (commands, barriers, errors, joins and drops, recompute,
//! timers, snapshot).
//!
//! Guarantees (on top of the module's):
//! - A refused command changes nothing (validation, budget and planning happen before any
//!   allocation or message).
//! - The claim path never talks to a switch and never builds a snapshot: it checks the plan,
//!   takes the lowest free copy, and emits one [`Output::Journal`] entry before the answer
//!   (the daemon writes it before answering).
//! - A plan's desired state (`entries`) is updated when its messages are queued, so a switch
//!   that reconnects is reconciled to it, and its lane is then cleared.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use openflow::{Body, ErrorMsg, GroupId, PortNo, Xid};

use super::{Controller, Output};
use crate::command::{CommandError, Reply, RequestId};
use crate::event::EventKind;
use crate::plan::plan_subset;
use crate::rank;
use crate::reconcile::Desired;
use crate::rendezvous::{
    self as rv, budget, diff_entry, flow_add, overlaps, plan_cookie, plan_range, remove_entry,
    BlockInfo, Capacity, ClaimInfo, Entries, Holds, JournalEntry, JournalOp, LaneBatch, LeaseEnd,
    Plan, PlanInfo, PlanSpec, PlanStatus, Progress, RendezvousRecord, Retired, RvCommand, RvError,
    RvReply, SwitchBudget,
};
use crate::rules::InstalledSwitch;
use crate::snapshot::RestoreError;
use crate::topology::Dpid;

type Desired2 = rv::DesiredPorts;

/// A computed plan version before it is applied.
struct Computed {
    members: Vec<IpAddr>,
    count: u64,
    desired: Desired2,
    undeliverable: BTreeSet<u64>,
    why: Option<String>,
}

impl Controller {
    // ---------------------------------------------------------------------------------------
    // Queries.

    /// Every rendezvous plan, in group order.
    pub fn rendezvous_plans(&self) -> Vec<PlanInfo> {
        self.rv.plans.iter().map(|(g, p)| p.info(g)).collect()
    }

    /// The group's plan.
    pub fn rendezvous_plan(&self, group: &str) -> Option<PlanInfo> {
        self.rv.plans.get(group).map(|p| p.info(group))
    }

    /// The addresses of a plan with their per-switch installs (for tests and tools).
    pub fn rendezvous_entries(&self, group: &str) -> Option<&Entries> {
        self.rv.plans.get(group).map(|p| &p.entries)
    }

    /// Whether no plan message is queued or in flight on any switch.
    pub fn rendezvous_idle(&self) -> bool {
        self.rv.lanes.values().all(rv::Lane::is_idle)
    }

    /// Every live claim, in id order.
    pub fn claims(&self) -> Vec<ClaimInfo> {
        self.rv
            .holds
            .claims()
            .map(|(id, c)| self.claim_info(id, c))
            .collect()
    }

    /// One live claim.
    pub fn claim(&self, id: u64) -> Option<ClaimInfo> {
        self.rv.holds.claim(id).map(|c| self.claim_info(id, c))
    }

    /// Every live block, in id order.
    pub fn blocks(&self) -> Vec<BlockInfo> {
        self.rv
            .holds
            .blocks()
            .map(|(id, b)| self.block_info(id, b))
            .collect()
    }

    fn members_version(&self, group: &str) -> u64 {
        self.groups.get(group).map_or(0, |g| g.version)
    }

    fn claim_info(&self, id: u64, c: &rv::Claim) -> ClaimInfo {
        ClaimInfo {
            id,
            group: c.group.clone(),
            addr: c.addr,
            members: c.members.clone(),
            copy: c.copy,
            plan_version: c.plan_version,
            members_version: self.members_version(&c.group),
            expires_at: c.lease_end,
            owner: c.owner.clone(),
        }
    }

    fn block_info(&self, id: u64, b: &rv::Block) -> BlockInfo {
        BlockInfo {
            id,
            group: b.group.clone(),
            base: b.base,
            k: b.k,
            members: b.members.clone(),
            members_version: self.members_version(&b.group),
            plan_version: b.plan_version,
            copies: b.copies.clone(),
            expires_at: b.lease_end,
            owner: b.owner.clone(),
        }
    }

    // ---------------------------------------------------------------------------------------
    // Commands.

    pub(super) fn rv_command(&mut self, id: RequestId, command: RvCommand) {
        let r = match command {
            RvCommand::PutPlan { group, spec } => self.rv_put(&group, spec),
            RvCommand::DeletePlan { group } => self.rv_delete(&group, LeaseEnd::PlanDeleted),
            RvCommand::Claim {
                group,
                members,
                lease,
                owner,
            } => self.rv_claim(&group, members, lease, owner),
            RvCommand::RenewClaim { id, lease } => self.rv_renew(id, lease, false),
            RvCommand::ReleaseClaim { id } => self.rv_release(id, false),
            RvCommand::TakeBlock {
                group,
                copies,
                lease,
                owner,
            } => self.rv_take_block(&group, copies, lease, owner),
            RvCommand::RenewBlock { id, lease } => self.rv_renew(id, lease, true),
            RvCommand::ReleaseBlock { id } => self.rv_release(id, true),
        };
        self.complete(
            id,
            r.map(Reply::Rendezvous).map_err(CommandError::Rendezvous),
        );
    }

    fn check_lease(&self, lease: Duration) -> Result<(), RvError> {
        if lease.is_zero() || lease > self.config.max_lease {
            return Err(RvError::BadLease {
                lease,
                max: self.config.max_lease,
            });
        }
        Ok(())
    }

    /// The plan of `group`, usable for claims.
    fn usable_plan(&self, group: &str) -> Result<&Plan, RvError> {
        let Some(p) = self.rv.plans.get(group) else {
            return Err(if self.groups.contains_key(group) {
                RvError::NoPlan {
                    group: group.to_owned(),
                }
            } else {
                RvError::UnknownGroup {
                    group: group.to_owned(),
                }
            });
        };
        if !p.usable {
            let pr = p.info(group).progress;
            return Err(RvError::NotReady {
                group: group.to_owned(),
                version: p.version,
                state: p.status,
                detail: p.error.clone().unwrap_or_else(|| {
                    format!(
                        "{} of {} messages acknowledged",
                        pr.messages_done, pr.messages_total
                    )
                }),
            });
        }
        Ok(p)
    }

    fn emit_journal(&mut self, op: JournalOp) {
        let e = self.rv.journal(op);
        self.out.push_back(Output::Journal(e));
    }

    fn rv_claim(
        &mut self,
        group: &str,
        mut members: Vec<IpAddr>,
        lease: Duration,
        owner: Option<String>,
    ) -> Result<RvReply, RvError> {
        self.check_lease(lease)?;
        let p = self.usable_plan(group)?;
        if members.len() != p.spec.k as usize {
            return Err(RvError::WrongSize {
                group: group.to_owned(),
                size: members.len(),
                k: p.spec.k,
            });
        }
        members.sort_unstable();
        members.dedup();
        let mut idx = Vec::with_capacity(members.len());
        let mut outside = Vec::new();
        for m in &members {
            match p.members.binary_search(m) {
                Ok(i) => idx.push(i),
                Err(_) => outside.push(*m),
            }
        }
        if !outside.is_empty() {
            return Err(RvError::NotMembers {
                group: group.to_owned(),
                members: outside,
            });
        }
        let n = p.members.len();
        let k = p.spec.k as usize;
        let r = rank::rank(n, k, &idx).map_err(|_| RvError::WrongSize {
            group: group.to_owned(),
            size: members.len(),
            k: p.spec.k,
        })?;
        if p.undeliverable.contains(&r) {
            return Err(RvError::NotReady {
                group: group.to_owned(),
                version: p.version,
                state: p.status,
                detail: format!(
                    "subset {members:?} cannot be delivered on the current fabric; use an \
                     on-demand subset"
                ),
            });
        }
        let mut found = None;
        for c in 0..p.spec.copies {
            let Ok(addr) = p.address(c, r) else {
                continue;
            };
            if !self.rv.holds.is_held(addr) {
                found = Some((c, addr));
                break;
            }
        }
        let Some((copy, addr)) = found else {
            return Err(RvError::Exhausted {
                group: group.to_owned(),
                members,
                copies: p.spec.copies,
            });
        };
        let claim = rv::Claim {
            group: group.to_owned(),
            addr,
            members,
            copy,
            plan_version: p.version,
            members_version: p.members_version,
            lease_end: self.now + lease,
            owner,
        };
        let id = self.rv.holds.next_id();
        self.emit_journal(JournalOp::Claim {
            claim: Holds::claim_record(id, &claim),
        });
        let info = self.claim_info(id, &claim);
        self.rv.holds.insert_claim(id, claim);
        self.event(EventKind::ClaimTaken {
            id,
            group: group.to_owned(),
            addr,
            members_version: info.members_version,
        });
        Ok(RvReply::Claim(info))
    }

    fn rv_take_block(
        &mut self,
        group: &str,
        copies: u32,
        lease: Duration,
        owner: Option<String>,
    ) -> Result<RvReply, RvError> {
        self.check_lease(lease)?;
        if copies == 0 {
            return Err(RvError::NoCopies);
        }
        let p = self.usable_plan(group)?;
        let mut free = Vec::new();
        for c in 0..p.spec.copies {
            if let Some(range) = p.copy_range(c) {
                if !self.rv.holds.any_held(range) {
                    free.push((c, range));
                }
            }
        }
        if (free.len() as u64) < u64::from(copies) {
            return Err(RvError::BlockExhausted {
                group: group.to_owned(),
                wanted: copies,
                free: free.len() as u32,
            });
        }
        free.truncate(copies as usize);
        let block = rv::Block {
            group: group.to_owned(),
            base: p.spec.base,
            k: p.spec.k,
            members: p.members.clone(),
            members_version: p.members_version,
            plan_version: p.version,
            copies: free.iter().map(|(c, _)| *c).collect(),
            ranges: free.iter().map(|(_, r)| *r).collect(),
            lease_end: self.now + lease,
            owner,
        };
        let id = self.rv.holds.next_id();
        self.emit_journal(JournalOp::Block {
            block: Holds::block_record(id, &block),
        });
        let info = self.block_info(id, &block);
        self.rv.holds.insert_block(id, block);
        self.event(EventKind::BlockTaken {
            id,
            group: group.to_owned(),
            copies: info.copies.clone(),
        });
        Ok(RvReply::Block(info))
    }

    fn rv_renew(&mut self, id: u64, lease: Duration, block: bool) -> Result<RvReply, RvError> {
        self.check_lease(lease)?;
        let live = if block {
            self.rv.holds.block(id).is_some()
        } else {
            self.rv.holds.claim(id).is_some()
        };
        if !live {
            return Err(RvError::Expired { id, block });
        }
        let until = self.now + lease;
        self.rv.holds.renew(id, until);
        self.emit_journal(JournalOp::Renew {
            id,
            lease_end: until.since_epoch(),
        });
        if block {
            self.event(EventKind::BlockRenewed {
                id,
                expires_at: until,
            });
            let b = self.rv.holds.block(id).cloned();
            b.map(|b| RvReply::Block(self.block_info(id, &b)))
        } else {
            self.event(EventKind::ClaimRenewed {
                id,
                expires_at: until,
            });
            let c = self.rv.holds.claim(id).cloned();
            c.map(|c| RvReply::Claim(self.claim_info(id, &c)))
        }
        .ok_or(RvError::Expired { id, block })
    }

    fn rv_release(&mut self, id: u64, block: bool) -> Result<RvReply, RvError> {
        let ok = if block {
            self.rv.holds.block(id).is_some()
        } else {
            self.rv.holds.claim(id).is_some()
        };
        if !ok {
            return Err(RvError::Expired { id, block });
        }
        self.emit_journal(JournalOp::Release { id });
        self.end_hold(id, LeaseEnd::Released);
        Ok(if block {
            RvReply::BlockReleased { id }
        } else {
            RvReply::ClaimReleased { id }
        })
    }

    /// Ends a claim or block (no journal entry: the caller writes one where it matters).
    fn end_hold(&mut self, id: u64, reason: LeaseEnd) {
        if let Some(c) = self.rv.holds.remove_claim(id) {
            self.event(EventKind::ClaimEnded {
                id,
                group: c.group,
                addr: c.addr,
                reason,
            });
        } else if let Some(b) = self.rv.holds.remove_block(id) {
            self.event(EventKind::BlockEnded {
                id,
                group: b.group,
                reason,
            });
        }
    }

    /// Ends every claim and block of a group's plan, journaled.
    fn end_holds_of(&mut self, group: &str, reason: LeaseEnd) {
        let (claims, blocks) = self.rv.holds.of_group(group);
        for id in claims.into_iter().chain(blocks) {
            self.emit_journal(JournalOp::Release { id });
            self.end_hold(id, reason);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Plans.

    fn rv_put(&mut self, group: &str, spec: PlanSpec) -> Result<RvReply, RvError> {
        let Some(g) = self.groups.get(group) else {
            return Err(RvError::UnknownGroup {
                group: group.to_owned(),
            });
        };
        let members: Vec<IpAddr> = g.members.iter().copied().collect();
        let (gaddr, gversion) = (g.addr, g.version);
        let (range, _) = plan_range(group, spec, members.len())?;
        if spec.base.is_ipv4() != gaddr.is_ipv4() {
            return Err(RvError::BadBase {
                base: spec.base,
                why: format!("not the address family of the group's address {gaddr}"),
            });
        }
        self.check_overlap(group, range)?;
        if let Some(p) = self.rv.plans.get(group) {
            let same = p.spec == spec && p.members == members;
            if same && matches!(p.status, PlanStatus::Ready | PlanStatus::Installing) {
                return Ok(RvReply::Plan(p.info(group)));
            }
            let (c, b) = self.rv.holds.of_group(group);
            if p.spec != spec && (!c.is_empty() || !b.is_empty()) {
                return Err(RvError::PlanInUse {
                    group: group.to_owned(),
                    claims: c.len(),
                    blocks: b.len(),
                });
            }
        }
        let computed = self.rv_compute(group, spec, true)?;
        let lines = self.rv_budget(group, &computed.desired);
        let over: Vec<SwitchBudget> = lines.iter().filter(|b| !b.fits()).copied().collect();
        if !over.is_empty() {
            return Err(RvError::OverBudget {
                group: group.to_owned(),
                switches: over,
            });
        }
        self.rv_apply(group, spec, gversion, computed, true, lines);
        let info = self.rendezvous_plan(group).ok_or_else(|| RvError::NoPlan {
            group: group.to_owned(),
        })?;
        Ok(RvReply::Plan(info))
    }

    /// Refuses a plan range that overlaps the subset pool, a group address, or another plan.
    fn check_overlap(&self, group: &str, range: (IpAddr, IpAddr)) -> Result<(), RvError> {
        let err = |with: String| RvError::RangeOverlap {
            first: range.0,
            last: range.1,
            with,
        };
        for r in [self.config.pool_v4, self.config.pool_v6]
            .into_iter()
            .flatten()
        {
            if overlaps(range, (r.first(), r.last())) {
                return Err(err(format!(
                    "the subset address pool {} - {}",
                    r.first(),
                    r.last()
                )));
            }
        }
        for (name, g) in &self.groups {
            if overlaps(range, (g.addr, g.addr)) {
                return Err(err(format!("the address of group {name:?}")));
            }
        }
        for (name, p) in &self.rv.plans {
            if name == group {
                continue;
            }
            if let Some(first) = p.copy_range(0) {
                let last = p
                    .copy_range(p.spec.copies.saturating_sub(1))
                    .map_or(first.1, |r| r.1);
                if overlaps(range, (first.0, last)) {
                    return Err(err(format!("the rendezvous plan of group {name:?}")));
                }
            }
        }
        Ok(())
    }

    /// Plans every address of the group's plan on the current fabric. `strict`: any member
    /// unknown or any subset that cannot be planned refuses; otherwise those subsets are
    /// marked undeliverable.
    fn rv_compute(&self, group: &str, spec: PlanSpec, strict: bool) -> Result<Computed, RvError> {
        let g = self
            .groups
            .get(group)
            .ok_or_else(|| RvError::UnknownGroup {
                group: group.to_owned(),
            })?;
        let members: Vec<IpAddr> = g.members.iter().copied().collect();
        let (_, count) = plan_range(group, spec, members.len())?;
        let n = members.len();
        let k = spec.k as usize;
        // The first host in MAC order owns an address two hosts claim (as elsewhere).
        let mut by_ip = BTreeMap::new();
        for h in self.topo.hosts() {
            for a in &h.addrs {
                by_ip.entry(*a).or_insert(h.mac);
            }
        }
        let macs: Vec<Option<_>> = members.iter().map(|m| by_ip.get(m).copied()).collect();
        let unknown: Vec<IpAddr> = members
            .iter()
            .zip(&macs)
            .filter(|(_, m)| m.is_none())
            .map(|(ip, _)| *ip)
            .collect();
        if strict && !unknown.is_empty() {
            return Err(RvError::UnknownHosts {
                group: group.to_owned(),
                hosts: unknown,
            });
        }
        let tree = self.trees.get(&g.addr);
        if strict && tree.is_none() {
            return Err(RvError::Unplannable {
                group: group.to_owned(),
                why: "no tree: no switch is connected".to_owned(),
            });
        }
        // Every address of the plan is in its family and range (checked once: the last).
        if let Some(last) = count.checked_sub(1) {
            rank::address(spec.base, n, k, spec.copies.saturating_sub(1), last).map_err(|e| {
                RvError::BadBase {
                    base: spec.base,
                    why: e.to_string(),
                }
            })?;
        }
        let mut desired = Desired2 {
            base: spec.base,
            n,
            k,
            copies: spec.copies,
            ports: Vec::new(),
        };
        let mut undeliverable = BTreeSet::new();
        let mut why = None;
        for r in 0..count {
            let idx = rank::unrank(n, k, r).map_err(|e| RvError::Unplannable {
                group: group.to_owned(),
                why: e.to_string(),
            })?;
            let set: Option<BTreeSet<_>> = idx
                .iter()
                .map(|i| macs.get(*i).copied().flatten())
                .collect();
            let planned = match (set, tree) {
                (Some(set), Some(tree)) => {
                    plan_subset(&self.topo, tree, &set).map_err(|e| e.to_string())
                }
                (None, _) => Err(format!("members not seen on any edge port: {unknown:?}")),
                (_, None) => Err("no tree: no switch is connected".to_owned()),
            };
            let ports: Arc<BTreeMap<Dpid, Vec<PortNo>>> = match planned {
                Ok(p) => Arc::new(p.switches().map(|s| (s.dpid, s.buckets)).collect()),
                Err(e) => {
                    if strict {
                        return Err(RvError::Unplannable {
                            group: group.to_owned(),
                            why: e,
                        });
                    }
                    why.get_or_insert(e);
                    undeliverable.insert(r);
                    desired.ports.push(None);
                    continue;
                }
            };
            desired.ports.push(Some(ports));
        }
        let why = why.map(|w| {
            format!(
                "{} subsets cannot be delivered on the current fabric: {w}",
                undeliverable.len()
            )
        });
        Ok(Computed {
            members,
            count,
            desired,
            undeliverable,
            why,
        })
    }

    /// The budget lines of a desired plan version (its own current rules count as free).
    fn rv_budget(&self, group: &str, desired: &Desired2) -> Vec<SwitchBudget> {
        let needed = desired.per_switch();
        let own = self
            .rv
            .plans
            .get(group)
            .map(Plan::per_switch)
            .unwrap_or_default();
        let others: Vec<BTreeMap<Dpid, u64>> = self
            .rv
            .plans
            .iter()
            .filter(|(n, _)| n.as_str() != group)
            .map(|(_, p)| p.per_switch())
            .collect();
        let (first, last) = self.config.group_ids;
        let id_range = u64::from(last.0.saturating_sub(first.0)) + 1;
        let cfg = self.config.rendezvous_budget;
        budget(&needed, |dpid| {
            let mine = own.get(&dpid).copied().unwrap_or(0);
            let reported = self
                .switches
                .get(&dpid)
                .and_then(|r| r.max_groups)
                .map(u64::from);
            let max_groups = [Some(id_range), reported, cfg.max_groups]
                .into_iter()
                .flatten()
                .min();
            let subset_flows = self
                .subsets
                .values()
                .filter(|s| s.inst.switches().contains_key(&dpid))
                .count() as u64;
            let plan_flows: u64 = others.iter().filter_map(|m| m.get(&dpid)).sum();
            Capacity {
                max_groups,
                max_flows: cfg.max_flows,
                groups_used: (self.ids.in_use(dpid) as u64).saturating_sub(mine),
                flows_used: subset_flows + plan_flows,
            }
        })
    }

    /// Moves the group's plan to `computed` (a new version when `bump`, else a reroute of the
    /// same addressing): sets it up, then applies the first [`rv::FIRST_SLICE`] addresses (the
    /// rest follows on the next turns, [`rv::SLICE`] at a time, `rv_timers`).
    fn rv_apply(
        &mut self,
        group: &str,
        spec: PlanSpec,
        members_version: u64,
        computed: Computed,
        bump: bool,
        lines: Vec<SwitchBudget>,
    ) {
        // A version still being applied is finished first (its diff is what is installed).
        while self
            .rv
            .plans
            .get(group)
            .is_some_and(|p| p.pending.is_some())
        {
            if self.rv_apply_slice(group, rv::SLICE) {
                break;
            }
        }
        if !self.rv.plans.contains_key(group) {
            let id = self.rv.new_plan_id();
            self.rv.names.insert(id, group.to_owned());
            self.rv.plans.insert(
                group.to_owned(),
                Plan {
                    id,
                    spec,
                    version: 0,
                    members_version,
                    members: computed.members.clone(),
                    count: computed.count,
                    entries: Entries::new(),
                    status: PlanStatus::Installing,
                    error: None,
                    budget: Vec::new(),
                    usable: false,
                    undeliverable: BTreeSet::new(),
                    progress: Progress::default(),
                    outstanding: BTreeMap::new(),
                    touched: BTreeSet::new(),
                    pending: None,
                },
            );
        }
        let Some(p) = self.rv.plans.get_mut(group) else {
            return;
        };
        p.spec = spec;
        p.members = computed.members;
        p.members_version = members_version;
        p.count = computed.count;
        p.undeliverable = computed.undeliverable;
        p.error = computed.why;
        p.budget = lines;
        if bump {
            p.version += 1;
            p.usable = false;
        }
        // Progress restarts: what is still outstanding plus what is queued from now on.
        p.progress = Progress {
            messages_total: p.outstanding.values().sum(),
            ..Progress::default()
        };
        p.touched = p.outstanding.keys().copied().collect();
        p.status = PlanStatus::Installing;
        p.pending = Some(rv::PendingApply {
            desired: computed.desired,
            next: 0,
            bump,
            failed: None,
        });
        let (version, members_version) = (p.version, p.members_version);
        // Persisted once installed (`rv_plan_idle`): a snapshot of 25,000 addresses costs
        // tens of ms of encoding that would compete with the switches for the CPU now. A
        // restart before that forgets the install; reconciliation removes its rules.
        if self.rv_apply_slice(group, rv::FIRST_SLICE) {
            self.rv_plan_idle(group);
        } else {
            self.event(EventKind::PlanChanged {
                group: group.to_owned(),
                version,
                members_version,
                state: PlanStatus::Installing,
            });
        }
    }

    /// Applies the next `step` addresses of the plan's pending version: queues the
    /// differences from what is installed, updates the desired state, pumps. The last step
    /// also removes the addresses the version does not have. True when the plan has nothing
    /// left to apply and nothing outstanding.
    fn rv_apply_slice(&mut self, group: &str, step: usize) -> bool {
        let ids = &mut self.ids;
        let topo = &self.topo;
        let Some(p) = self.rv.plans.get_mut(group) else {
            return false;
        };
        let Some(mut pend) = p.pending.take() else {
            return p.outstanding.is_empty();
        };
        let (id, cookie) = (p.id, plan_cookie(p.id));
        let mut lanes: BTreeMap<Dpid, LaneBatch> = BTreeMap::new();
        // A switch that is away keeps its rules (it is reconciled to them when it returns):
        // no new group ids, so a switch's blip does not rewrite every flow it carries.
        let away = |d: Dpid| !topo.is_switch_live(d);
        let end = pend
            .next
            .saturating_add(step as u64)
            .min(pend.desired.numbers());
        for i in pend.next..end {
            let Some((addr, ports)) = pend.desired.get(i) else {
                // An undeliverable subset's copy: nothing to install.
                continue;
            };
            match diff_entry(
                addr,
                cookie,
                id,
                p.entries.get(&addr),
                ports,
                &mut lanes,
                |d| ids.alloc(d).ok(),
                away,
            ) {
                Ok(inst) => {
                    p.entries.insert(addr, inst);
                }
                Err(d) => {
                    pend.failed.get_or_insert(d);
                }
            }
        }
        pend.next = end;
        if pend.next >= pend.desired.numbers() {
            let stale: Vec<IpAddr> = p
                .entries
                .keys()
                .filter(|a| !pend.desired.contains(**a))
                .copied()
                .collect();
            for addr in stale {
                // A reroute keeps the rules of subsets it cannot plan now (like degraded
                // subsets); a new version removes every address it does not have.
                let keep = !pend.bump
                    && rank::locate(
                        p.spec.base,
                        p.members.len(),
                        p.spec.k as usize,
                        p.spec.copies,
                        addr,
                    )
                    .is_some_and(|(_, r)| p.undeliverable.contains(&r));
                if !keep {
                    if let Some(inst) = p.entries.remove(&addr) {
                        remove_entry(addr, cookie, id, &inst, &mut lanes);
                    }
                }
            }
            if let Some(d) = pend.failed {
                p.error = Some(format!(
                    "switch {d} has no free group id left; some addresses are not installed"
                ));
            }
        } else {
            p.pending = Some(pend);
        }
        for (dpid, batch) in lanes {
            self.rv.enqueue(dpid, batch, Some(group));
        }
        self.rv_pump_all();
        self.rv
            .plans
            .get(group)
            .is_some_and(|p| p.pending.is_none() && p.outstanding.is_empty())
    }

    /// A plan has nothing outstanding: an install is done.
    fn rv_plan_idle(&mut self, group: &str) {
        let Some(p) = self.rv.plans.get_mut(group) else {
            return;
        };
        if p.status != PlanStatus::Installing || p.pending.is_some() {
            return;
        }
        p.status = PlanStatus::Ready;
        p.usable = true;
        let (version, members_version) = (p.version, p.members_version);
        // Saved on the next turn (`rv_timers`): the event goes out first.
        self.rv.persist_due = true;
        self.event(EventKind::PlanChanged {
            group: group.to_owned(),
            version,
            members_version,
            state: PlanStatus::Ready,
        });
    }

    /// Removes a plan, its rules (clean-up messages) and its holds.
    fn rv_delete(&mut self, group: &str, reason: LeaseEnd) -> Result<RvReply, RvError> {
        if !self.rv.plans.contains_key(group) {
            return Err(if self.groups.contains_key(group) {
                RvError::NoPlan {
                    group: group.to_owned(),
                }
            } else {
                RvError::UnknownGroup {
                    group: group.to_owned(),
                }
            });
        }
        self.end_holds_of(group, reason);
        let Some(p) = self.rv.plans.remove(group) else {
            return Err(RvError::NoPlan {
                group: group.to_owned(),
            });
        };
        self.rv.drop_adds(p.id);
        self.rv.names.remove(&p.id);
        let cookie = plan_cookie(p.id);
        let mut lanes: BTreeMap<Dpid, LaneBatch> = BTreeMap::new();
        for (addr, inst) in &p.entries {
            remove_entry(*addr, cookie, 0, inst, &mut lanes);
        }
        for (dpid, batch) in lanes {
            self.rv.enqueue(dpid, batch, None);
        }
        self.dirty = true;
        self.event(EventKind::PlanDeleted {
            group: group.to_owned(),
        });
        self.rv_pump_all();
        Ok(RvReply::PlanDeleted {
            group: group.to_owned(),
        })
    }

    /// A plan that cannot stand: its rules go, its holds end, it shows `status` and `why`.
    fn rv_fail(&mut self, group: &str, status: PlanStatus, why: String, lines: Vec<SwitchBudget>) {
        let Some(p) = self.rv.plans.get(group) else {
            return;
        };
        let id = p.id;
        self.end_holds_of(group, LeaseEnd::PlanFailed);
        self.rv.drop_adds(id);
        let Some(p) = self.rv.plans.get_mut(group) else {
            return;
        };
        let entries = std::mem::take(&mut p.entries);
        p.pending = None;
        p.status = status;
        p.usable = false;
        p.error = Some(why);
        if !lines.is_empty() {
            p.budget = lines;
        }
        let (version, members_version) = (p.version, p.members_version);
        let cookie = plan_cookie(id);
        let mut lanes: BTreeMap<Dpid, LaneBatch> = BTreeMap::new();
        for (addr, inst) in &entries {
            remove_entry(*addr, cookie, 0, inst, &mut lanes);
        }
        for (dpid, batch) in lanes {
            self.rv.enqueue(dpid, batch, None);
        }
        self.dirty = true;
        self.event(EventKind::PlanChanged {
            group: group.to_owned(),
            version,
            members_version,
            state: status,
        });
        self.rv_pump_all();
    }

    /// After a fabric or group change (from `refresh_forwarding`): plans of deleted groups
    /// go, plans whose membership changed get a new version, plans whose tree changed (all
    /// with `force`) are rerouted.
    pub(super) fn rv_refresh(&mut self, force: bool, changed: &BTreeSet<IpAddr>) {
        // Holds of groups that are gone (a plan's own are ended with it below).
        let orphans: Vec<String> = self
            .rv
            .holds
            .claims()
            .map(|(_, c)| c.group.clone())
            .chain(self.rv.holds.blocks().map(|(_, b)| b.group.clone()))
            .filter(|g| !self.groups.contains_key(g) && !self.rv.plans.contains_key(g))
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect();
        for g in orphans {
            self.end_holds_of(&g, LeaseEnd::PlanDeleted);
        }
        let names: Vec<String> = self.rv.plans.keys().cloned().collect();
        for group in names {
            let Some(g) = self.groups.get(&group) else {
                let _ = self.rv_delete(&group, LeaseEnd::PlanDeleted);
                continue;
            };
            let (gaddr, mut gversion) = (g.addr, g.version);
            let members: Vec<IpAddr> = g.members.iter().copied().collect();
            let Some(p) = self.rv.plans.get(&group) else {
                continue;
            };
            if p.members != members && p.members_version == gversion {
                // Members changed without a version bump (snooping changes them in place):
                // the plan's holders must see a new version.
                gversion += 1;
                if let Some(g) = self.groups.get_mut(&group) {
                    g.version = gversion;
                }
            }
            let (spec, status) = (p.spec, p.status);
            let replan = p.members != members || p.members_version != gversion;
            let reroute = force || changed.contains(&gaddr);
            if status == PlanStatus::Failed && !replan {
                continue;
            }
            if !(replan || reroute || status == PlanStatus::OverBudget) {
                continue;
            }
            if status == PlanStatus::OverBudget && !(replan || reroute) {
                continue;
            }
            let range = plan_range(&group, spec, members.len());
            let checked = range.and_then(|(r, _)| {
                if spec.base.is_ipv4() != gaddr.is_ipv4() {
                    return Err(RvError::BadBase {
                        base: spec.base,
                        why: "the group's address family changed".to_owned(),
                    });
                }
                self.check_overlap(&group, r)?;
                self.rv_compute(&group, spec, false)
            });
            let computed = match checked {
                Ok(c) => c,
                Err(e) => {
                    self.rv_fail(&group, PlanStatus::Failed, e.to_string(), Vec::new());
                    continue;
                }
            };
            let lines = self.rv_budget(&group, &computed.desired);
            let over: Vec<SwitchBudget> = lines.iter().filter(|b| !b.fits()).copied().collect();
            if !over.is_empty() {
                let why = RvError::OverBudget {
                    group: group.clone(),
                    switches: over,
                };
                let text = format!("{why}: {}", budget_text(&lines));
                self.rv_fail(&group, PlanStatus::OverBudget, text, lines);
                continue;
            }
            let bump = replan || status != PlanStatus::Ready && status != PlanStatus::Installing;
            self.rv_apply(&group, spec, gversion, computed, bump, lines);
        }
    }

    // ---------------------------------------------------------------------------------------
    // The bulk sender.

    /// Sends what the switch's window allows.
    fn rv_pump(&mut self, dpid: Dpid) {
        let Some(conn) = self.ready_conn(dpid) else {
            return;
        };
        for _ in 0..rv::BURST {
            let Some(mut p) = self.rv.lanes.get_mut(&dpid).and_then(rv::Lane::prepare) else {
                return;
            };
            let bodies = std::mem::take(&mut p.bodies);
            let mut first = None;
            for body in bodies {
                let x = self.send(conn, body);
                first = first.or(x);
            }
            let barrier = self.send(conn, Body::BarrierRequest);
            match (first, barrier, self.rv.lanes.get_mut(&dpid)) {
                (Some(f), Some(b), Some(lane)) => lane.sent(p, f, b),
                _ => return,
            }
        }
    }

    fn rv_pump_all(&mut self) {
        let busy: Vec<Dpid> = self
            .rv
            .lanes
            .iter()
            .filter(|(_, l)| l.has_queued())
            .map(|(d, _)| *d)
            .collect();
        for d in busy {
            self.rv_pump(d);
        }
    }

    fn rv_retired(&mut self, dpid: Dpid, r: Retired) {
        for g in &r.released {
            self.ids.release(dpid, *g);
        }
        for group in self.rv.account(dpid, &r) {
            self.rv_plan_idle(&group);
        }
    }

    /// A barrier reply: true when it was one of a plan lane's.
    pub(super) fn rv_on_barrier(&mut self, dpid: Dpid, xid: Xid) -> bool {
        let Some(r) = self.rv.lanes.get_mut(&dpid).and_then(|l| l.on_barrier(xid)) else {
            return false;
        };
        self.rv_retired(dpid, r);
        self.rv_pump(dpid);
        true
    }

    /// An OFPT_ERROR: true when it is about a plan message (the plan fails, rolled back).
    pub(super) fn rv_on_error(&mut self, dpid: Dpid, xid: Xid, e: &ErrorMsg) -> bool {
        let Some(lane) = self.rv.lanes.get(&dpid) else {
            return false;
        };
        if !lane.owns(xid) {
            return false;
        }
        self.counters.switch_errors += 1;
        let code = e.typed();
        match lane.attribute(xid) {
            Some((plan, addr)) if plan != 0 => {
                let group = self.rv.names.get(&plan).cloned();
                let live = group
                    .as_ref()
                    .and_then(|g| self.rv.plans.get(g))
                    .is_some_and(|p| {
                        matches!(p.status, PlanStatus::Installing | PlanStatus::Ready)
                    });
                // Later refusals of a plan that already failed change nothing more.
                if let (Some(group), true) = (group, live) {
                    let why = format!("switch {dpid} refused a message for {addr}: {code}");
                    self.rv_fail(&group, PlanStatus::Failed, why, Vec::new());
                }
            }
            // A clean-up message (or a barrier): nothing depends on it.
            _ => self.event(EventKind::SwitchError { dpid, code }),
        }
        true
    }

    /// The switch joined and was reconciled to the desired state, plans included: what its
    /// lane still held is covered.
    pub(super) fn rv_switch_ready(&mut self, dpid: Dpid) {
        if let Some(r) = self.rv.lanes.get_mut(&dpid).map(rv::Lane::purge) {
            self.rv_retired(dpid, r);
        }
    }

    /// The switch is gone: its lane is dropped (reconciled when it returns).
    pub(super) fn rv_switch_gone(&mut self, dpid: Dpid) {
        if let Some(r) = self.rv.lanes.remove(&dpid).map(|mut l| l.purge()) {
            self.rv_retired(dpid, r);
        }
    }

    /// Adds every plan rule of the switch to what reconciliation makes it have.
    pub(super) fn rv_desired(&self, dpid: Dpid, d: &mut Desired) {
        for p in self.rv.plans.values() {
            let cookie = plan_cookie(p.id);
            for (addr, sw) in &p.entries {
                if let Some(i) = sw.get(&dpid) {
                    d.groups.insert(i.group, i.buckets.clone());
                    d.flows.push(flow_add(*addr, i.group, cookie));
                }
            }
        }
    }

    /// Groups of ours on the switch used by plans (for budgets and tests).
    pub fn rendezvous_groups_on(&self, dpid: Dpid) -> u64 {
        self.rv
            .plans
            .values()
            .map(|p| p.per_switch().get(&dpid).copied().unwrap_or(0))
            .sum()
    }

    // ---------------------------------------------------------------------------------------
    // Timers.

    pub(super) fn rv_timers(&mut self) {
        if std::mem::take(&mut self.rv.persist_due) {
            self.dirty = true;
        }
        for id in self.rv.holds.due(self.now) {
            self.end_hold(id, LeaseEnd::Expired);
        }
        // The next step of every plan being applied (one per turn: the shell carries out
        // the outputs of each, so the switches start on the first while the rest is built).
        let applying: Vec<String> = self
            .rv
            .plans
            .iter()
            .filter(|(_, p)| p.pending.is_some())
            .map(|(g, _)| g.clone())
            .collect();
        for g in applying {
            if self.rv_apply_slice(&g, rv::SLICE) {
                self.rv_plan_idle(&g);
            }
        }
    }

    pub(super) fn rv_next_timeout(&self) -> Option<crate::time::Time> {
        if self.rv.persist_due || self.rv.plans.values().any(|p| p.pending.is_some()) {
            return Some(self.now);
        }
        self.rv.holds.next_expiry()
    }

    // ---------------------------------------------------------------------------------------
    // Snapshot, restore, journal.

    pub(super) fn rv_record(&self) -> RendezvousRecord {
        RendezvousRecord {
            next_id: self.rv.holds.id_counter(),
            next_plan_id: self.rv.next_plan_id,
            journal_seq: self.rv.journal_seq,
            plans: self.rv.plans.iter().map(|(g, p)| p.record(g)).collect(),
            claims: self
                .rv
                .holds
                .claims()
                .map(|(id, c)| Holds::claim_record(id, c))
                .collect(),
            blocks: self
                .rv
                .holds
                .blocks()
                .map(|(id, b)| Holds::block_record(id, b))
                .collect(),
        }
    }

    pub(super) fn rv_restore(&mut self, r: &RendezvousRecord) -> Result<(), RestoreError> {
        self.rv.next_plan_id = r.next_plan_id;
        self.rv.journal_seq = r.journal_seq;
        self.rv.holds.set_id_counter(r.next_id);
        for pr in &r.plans {
            let why = |w: String| RestoreError::Rendezvous {
                group: pr.group.clone(),
                why: w,
            };
            let Some(g) = self.groups.get(&pr.group) else {
                return Err(why("its group does not exist".to_owned()));
            };
            let gaddr = g.addr;
            if self.rv.names.contains_key(&pr.id) || pr.id == 0 {
                return Err(why(format!("plan id {} used twice", pr.id)));
            }
            let (range, count) =
                plan_range(&pr.group, pr.spec, pr.members.len()).map_err(|e| why(e.to_string()))?;
            if pr.spec.base.is_ipv4() != gaddr.is_ipv4() {
                return Err(why("address family differs from the group's".to_owned()));
            }
            let mut entries = Entries::new();
            for e in &pr.entries {
                if !overlaps(range, (e.addr, e.addr)) {
                    return Err(why(format!("address {} is outside the plan", e.addr)));
                }
                let mut sw = BTreeMap::new();
                for i in &e.switches {
                    let (dpid, group) = (Dpid(i.dpid), GroupId(i.group_id));
                    if !self.ids.reserve(dpid, group) {
                        return Err(why(format!(
                            "group id {:#x} of switch {dpid} is outside the range or used twice",
                            i.group_id
                        )));
                    }
                    sw.insert(
                        dpid,
                        InstalledSwitch {
                            group,
                            buckets: i.ports.iter().map(|p| PortNo(*p)).collect(),
                        },
                    );
                }
                entries.insert(e.addr, sw);
            }
            let usable = matches!(pr.status, PlanStatus::Ready | PlanStatus::Installing);
            self.rv.names.insert(pr.id, pr.group.clone());
            self.rv.plans.insert(
                pr.group.clone(),
                Plan {
                    id: pr.id,
                    spec: pr.spec,
                    version: pr.version,
                    members_version: pr.members_version,
                    members: pr.members.clone(),
                    count,
                    entries,
                    // Switches keep their rules and are reconciled to these on reconnect.
                    status: if usable { PlanStatus::Ready } else { pr.status },
                    error: pr.error.clone(),
                    budget: Vec::new(),
                    usable,
                    undeliverable: BTreeSet::new(),
                    progress: Progress::default(),
                    outstanding: BTreeMap::new(),
                    touched: BTreeSet::new(),
                    pending: None,
                },
            );
        }
        for c in &r.claims {
            self.restore_claim(c);
        }
        for b in &r.blocks {
            self.restore_block(b);
        }
        Ok(())
    }

    fn restore_claim(&mut self, c: &rv::ClaimRecord) -> bool {
        let claim = Holds::claim_from(c);
        // The group, not the plan: a plan's snapshot may not have reached the disk when its
        // first claims were journaled; the claim still holds its address.
        if claim.lease_end <= self.now
            || !self.groups.contains_key(&c.group)
            || self.rv.holds.is_held(c.addr)
        {
            self.rv.holds.set_id_counter(c.id + 1);
            return false;
        }
        self.rv.holds.insert_claim(c.id, claim);
        true
    }

    fn restore_block(&mut self, b: &rv::BlockRecord) -> bool {
        let block = Holds::block_from(b);
        if block.lease_end <= self.now
            || !self.groups.contains_key(&b.group)
            || b.ranges.iter().any(|r| self.rv.holds.any_held(*r))
        {
            self.rv.holds.set_id_counter(b.id + 1);
            return false;
        }
        self.rv.holds.insert_block(b.id, block);
        true
    }

    /// Applies journal entries written after the restored snapshot (sequence numbers above
    /// its `journal_seq`), in order; returns how many were applied. Call right after
    /// [`Controller::restore`], before any input. Leases that ended meanwhile are dropped.
    pub fn replay_journal(&mut self, entries: &[JournalEntry]) -> usize {
        let mut applied = 0;
        for e in entries {
            if e.seq <= self.rv.journal_seq {
                continue;
            }
            self.rv.journal_seq = e.seq;
            applied += 1;
            match &e.op {
                JournalOp::Claim { claim } => {
                    self.restore_claim(claim);
                }
                JournalOp::Block { block } => {
                    self.restore_block(block);
                }
                JournalOp::Renew { id, lease_end } => {
                    let until = crate::time::Time::from_duration(*lease_end);
                    if until <= self.now {
                        self.rv.holds.remove_claim(*id);
                        self.rv.holds.remove_block(*id);
                    } else {
                        self.rv.holds.renew(*id, until);
                    }
                }
                JournalOp::Release { id } => {
                    self.rv.holds.remove_claim(*id);
                    self.rv.holds.remove_block(*id);
                }
            }
        }
        applied
    }
}

/// The budget lines as text, for a plan's `error`.
pub(crate) fn budget_text(lines: &[SwitchBudget]) -> String {
    let avail = |a: Option<u64>| a.map_or_else(|| "unlimited".to_owned(), |a| a.to_string());
    lines
        .iter()
        .filter(|b| !b.fits())
        .map(|b| {
            format!(
                "switch {} needs {} groups ({} available) and {} flows ({} available)",
                b.dpid,
                b.groups_needed,
                avail(b.groups_available),
                b.flows_needed,
                avail(b.flows_available)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}
