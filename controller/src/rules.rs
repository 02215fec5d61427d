//! The OpenFlow rules of a subset plan, as pure functions (Faucet style: messages are return
//! values; sending them is someone else's job).
//!
//! On each switch of a plan, a subset is one ALL group with one output bucket per port of
//! P_S(s), and one flow in table 0 that sends packets to the subset's address into that group
//! (DESIGN "Forwarding"). The flow carries the transaction's trace id as cookie, a hard timeout
//! of the lease rounded up to whole seconds (so a switch whose controller died still drops the
//! rule) and `OFPFF_SEND_FLOW_REM` (so the controller hears when it goes).
//!
//! Guarantees: the messages of a switch come in an order that is safe without relying on the
//! switch to keep message order (OF1.3.5 §6.2: without a barrier a switch may reorder): flow
//! deletes, barrier, group deletes, barrier, group adds and modifies, barrier, flow adds,
//! barrier, leaving out the phases that are empty. A flow never refers to a group that is not
//! yet installed and a group is never deleted while our flow still points to it. Group ids are
//! allocated per switch, lowest free first, so the same history gives the same ids. Bodies are
//! returned without xids: the session that sends them numbers them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use openflow::msg::{FlowMod, FlowModFlags, GroupMod};
use openflow::{Action, Body, Bucket, Cookie, GroupId, GroupType, Instruction, Match, Oxm};
use openflow::{PortNo, TableId};

use crate::plan::{PlanDiff, SubsetPlan};
use crate::topology::Dpid;

/// The table of the subset flows.
pub const SUBSET_TABLE: TableId = TableId(0);

/// Priority of the subset flows: above `OFP_DEFAULT_PRIORITY` (0x8000), so a subset address
/// wins over any default or learned rule for the same destination.
pub const SUBSET_PRIORITY: u16 = 0x9000;

/// `ETH_TYPE` of IPv4.
pub const ETH_TYPE_IPV4: u16 = 0x0800;
/// `ETH_TYPE` of IPv6.
pub const ETH_TYPE_IPV6: u16 = 0x86dd;

/// Why rules could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// A zero lease would become `hard_timeout` 0, which means "never expire".
    #[error("a lease of zero cannot be installed")]
    ZeroLease,
    #[error("lease of {lease:?} is longer than the longest hard_timeout (65535 s)")]
    LeaseTooLong { lease: Duration },
    /// Cookie 0 is every other application's default; all-ones is reserved (Open vSwitch
    /// reads it as "no cookie" and installs the flow with cookie 0).
    #[error("trace id {0:#x} cannot be used as a flow cookie")]
    ReservedTraceId(u64),
    #[error("switch {dpid} has no free group id left")]
    GroupIdsExhausted { dpid: Dpid },
    #[error("group id {group:?} of switch {dpid} is outside the range or already in use")]
    GroupIdTaken { dpid: Dpid, group: GroupId },
}

/// `hard_timeout` for a lease: whole seconds, rounded up.
pub fn hard_timeout(lease: Duration) -> Result<u16, RuleError> {
    if lease.is_zero() {
        return Err(RuleError::ZeroLease);
    }
    let secs = lease.as_secs() + u64::from(lease.subsec_nanos() > 0);
    u16::try_from(secs).map_err(|_| RuleError::LeaseTooLong { lease })
}

/// The match of a subset flow: `eth_type` first, as the prerequisite of the address field
/// (OF1.3.5 §7.2.3.8), then the destination address.
pub fn dst_match(dst: IpAddr) -> Match {
    match dst {
        IpAddr::V4(a) => Match::new()
            .with(Oxm::EthType(ETH_TYPE_IPV4))
            .with(Oxm::Ipv4Dst {
                value: a,
                mask: None,
            }),
        IpAddr::V6(a) => Match::new()
            .with(Oxm::EthType(ETH_TYPE_IPV6))
            .with(Oxm::Ipv6Dst {
                value: a,
                mask: None,
            }),
    }
}

/// `OFPGC_ADD` of an ALL group with one output bucket per port (OF1.3.5 §7.3.4.2).
pub fn group_add(group: GroupId, ports: &[PortNo]) -> GroupMod {
    GroupMod::add(GroupType::All, group, buckets(ports))
}

/// `OFPGC_MODIFY` of the group: the same ALL group with new buckets.
pub fn group_modify(group: GroupId, ports: &[PortNo]) -> GroupMod {
    GroupMod::modify(GroupType::All, group, buckets(ports))
}

/// `OFPGC_DELETE` of the group.
pub fn group_delete(group: GroupId) -> GroupMod {
    GroupMod::delete(group)
}

fn buckets(ports: &[PortNo]) -> Vec<Bucket> {
    ports
        .iter()
        .map(|p| Bucket::new(vec![Action::output(*p)]))
        .collect()
}

/// The parameters every switch's flow of one subset transaction shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    dst: IpAddr,
    cookie: Cookie,
    hard_timeout: u16,
}

impl Rule {
    /// A rule for packets to `dst`, tagged with `trace_id`, expiring after `lease` (rounded
    /// up to seconds).
    pub fn new(dst: IpAddr, trace_id: u64, lease: Duration) -> Result<Rule, RuleError> {
        if trace_id == 0 || trace_id == u64::MAX {
            return Err(RuleError::ReservedTraceId(trace_id));
        }
        Ok(Rule {
            dst,
            cookie: Cookie(trace_id),
            hard_timeout: hard_timeout(lease)?,
        })
    }

    pub fn dst(&self) -> IpAddr {
        self.dst
    }

    pub fn cookie(&self) -> Cookie {
        self.cookie
    }

    pub fn hard_timeout(&self) -> u16 {
        self.hard_timeout
    }

    /// The same rule with the hard timeout of what is left of the lease (for switches that
    /// join a subset later).
    pub fn with_remaining(self, left: Duration) -> Result<Rule, RuleError> {
        Ok(Rule {
            hard_timeout: hard_timeout(left)?,
            ..self
        })
    }

    /// `OFPFC_ADD` of the subset flow into `group` (OF1.3.5 §7.3.4.1).
    pub fn flow_add(&self, group: GroupId) -> FlowMod {
        FlowMod {
            cookie: self.cookie,
            hard_timeout: self.hard_timeout,
            flags: FlowModFlags::SEND_FLOW_REM,
            ..FlowMod::add(
                SUBSET_TABLE,
                SUBSET_PRIORITY,
                dst_match(self.dst),
                vec![Instruction::ApplyActions(vec![Action::Group(group)])],
            )
        }
    }

    /// `OFPFC_DELETE_STRICT` of the subset flow, only if it still carries this rule's cookie
    /// (a full cookie mask, OF1.3.5 §6.4), so a later transaction's flow for the same address
    /// is left alone.
    pub fn flow_delete(&self) -> FlowMod {
        FlowMod {
            cookie: self.cookie,
            cookie_mask: u64::MAX,
            ..FlowMod::delete_strict(SUBSET_TABLE, SUBSET_PRIORITY, dst_match(self.dst))
        }
    }
}

/// Group ids of one switch: `first..=last`, the lowest free id first.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pool {
    /// Every id below `next` that is not in `free` is in use.
    next: u32,
    free: BTreeSet<u32>,
}

/// Per-switch group id allocation (deterministic: lowest free id first, freed ids reused).
///
/// Release an id only once the switch confirmed its delete (barrier reply): a new group with
/// the same id must not race the old one's removal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupIds {
    first: u32,
    last: u32,
    pools: BTreeMap<Dpid, Pool>,
}

impl Default for GroupIds {
    fn default() -> Self {
        GroupIds::new()
    }
}

impl GroupIds {
    /// Ids 1 to `OFPG_MAX`.
    pub fn new() -> Self {
        GroupIds::with_range(GroupId(1), GroupId::MAX)
    }

    /// Ids `first..=last` (clamped to `OFPG_MAX`), leaving the others to other uses.
    pub fn with_range(first: GroupId, last: GroupId) -> Self {
        GroupIds {
            first: first.0,
            last: last.0.min(GroupId::MAX.0),
            pools: BTreeMap::new(),
        }
    }

    /// The lowest free id of the switch.
    pub fn alloc(&mut self, dpid: Dpid) -> Result<GroupId, RuleError> {
        let (first, last) = (self.first, self.last);
        let pool = self.pools.entry(dpid).or_insert(Pool {
            next: first,
            free: BTreeSet::new(),
        });
        if let Some(id) = pool.free.pop_first() {
            return Ok(GroupId(id));
        }
        if pool.next > last || pool.next < first {
            return Err(RuleError::GroupIdsExhausted { dpid });
        }
        let id = pool.next;
        pool.next = pool.next.saturating_add(1);
        if id == u32::MAX {
            // Unreachable with `last` clamped to OFPG_MAX; keeps `next` from wrapping.
            return Err(RuleError::GroupIdsExhausted { dpid });
        }
        Ok(GroupId(id))
    }

    /// Marks a given id as in use (restoring allocations from a snapshot). False when the id
    /// is outside the range or already in use.
    pub fn reserve(&mut self, dpid: Dpid, id: GroupId) -> bool {
        if id.0 < self.first || id.0 > self.last {
            return false;
        }
        let first = self.first;
        let pool = self.pools.entry(dpid).or_insert(Pool {
            next: first,
            free: BTreeSet::new(),
        });
        if id.0 >= pool.next {
            pool.free.extend(pool.next..id.0);
            pool.next = id.0 + 1;
            true
        } else {
            pool.free.remove(&id.0)
        }
    }

    /// Whether `id` is in the range these ids come from.
    pub fn in_range(&self, id: GroupId) -> bool {
        id.0 >= self.first && id.0 <= self.last
    }

    /// Give an id back. Ids not allocated (or already free) are ignored.
    pub fn release(&mut self, dpid: Dpid, id: GroupId) {
        let Some(pool) = self.pools.get_mut(&dpid) else {
            return;
        };
        if id.0 < self.first || id.0 >= pool.next {
            return;
        }
        pool.free.insert(id.0);
        // Keep the pool small: free ids at the top lower `next` instead.
        while pool.next > self.first && pool.free.remove(&(pool.next - 1)) {
            pool.next -= 1;
        }
        if pool.next == self.first {
            self.pools.remove(&dpid);
        }
    }

    /// How many ids of the switch are in use.
    pub fn in_use(&self, dpid: Dpid) -> usize {
        self.pools
            .get(&dpid)
            .map_or(0, |p| (p.next - self.first) as usize - p.free.len())
    }

    /// Forget a switch (its groups are gone, e.g. after a wipe).
    pub fn forget(&mut self, dpid: Dpid) {
        self.pools.remove(&dpid);
    }
}

/// The messages for one switch, by phase. See the module header for the order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SwitchBatch {
    pub flow_deletes: Vec<FlowMod>,
    pub group_deletes: Vec<GroupMod>,
    /// Adds and modifies.
    pub group_mods: Vec<GroupMod>,
    pub flow_adds: Vec<FlowMod>,
}

impl SwitchBatch {
    pub fn is_empty(&self) -> bool {
        self.flow_deletes.is_empty()
            && self.group_deletes.is_empty()
            && self.group_mods.is_empty()
            && self.flow_adds.is_empty()
    }

    /// The bodies to send, in order, each non-empty phase followed by a barrier request, and
    /// a long phase (a reconciliation after a big plan) also after every
    /// [`BARRIER_EVERY`](crate::rendezvous::BARRIER_EVERY) bodies: a switch answers in order,
    /// so its barrier replies are what shows it alive while it works through them.
    pub fn messages(&self) -> Vec<Body> {
        let mut out = Vec::new();
        let mut phase = |bodies: Vec<Body>| {
            for chunk in bodies.chunks(crate::rendezvous::BARRIER_EVERY) {
                out.extend_from_slice(chunk);
                out.push(Body::BarrierRequest);
            }
        };
        phase(self.flow_deletes.iter().cloned().map(Body::from).collect());
        phase(self.group_deletes.iter().cloned().map(Body::from).collect());
        phase(self.group_mods.iter().cloned().map(Body::from).collect());
        phase(self.flow_adds.iter().cloned().map(Body::from).collect());
        out
    }

    fn append(&mut self, other: SwitchBatch) {
        self.flow_deletes.extend(other.flow_deletes);
        self.group_deletes.extend(other.group_deletes);
        self.group_mods.extend(other.group_mods);
        self.flow_adds.extend(other.flow_adds);
    }
}

/// Messages for several switches (each switch's are independent of the others').
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub switches: BTreeMap<Dpid, SwitchBatch>,
}

impl Batch {
    /// Adds another batch's messages (e.g. several subsets sent together: still one barrier
    /// per phase per switch).
    pub fn merge(&mut self, other: Batch) {
        for (dpid, b) in other.switches {
            self.switches.entry(dpid).or_default().append(b);
        }
    }

    /// Per switch, the bodies to send in order.
    pub fn messages(&self) -> BTreeMap<Dpid, Vec<Body>> {
        self.switches
            .iter()
            .filter(|(_, b)| !b.is_empty())
            .map(|(d, b)| (*d, b.messages()))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.switches.values().all(SwitchBatch::is_empty)
    }

    fn at(&mut self, dpid: Dpid) -> &mut SwitchBatch {
        self.switches.entry(dpid).or_default()
    }
}

/// One switch's part of an installed subset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledSwitch {
    pub group: GroupId,
    pub buckets: Vec<PortNo>,
}

/// A subset as installed (or being installed): its rule and, per switch, its group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installation {
    rule: Rule,
    switches: BTreeMap<Dpid, InstalledSwitch>,
}

/// The result of moving an installation to a new plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    pub installation: Installation,
    pub batch: Batch,
    /// Group ids the batch deletes: release them (`GroupIds::release`) once the switch has
    /// answered the batch's last barrier.
    pub released: Vec<(Dpid, GroupId)>,
}

impl Installation {
    /// Allocates a group on every switch of the plan. All or nothing: on failure no id stays
    /// allocated.
    pub fn new(plan: &SubsetPlan, rule: Rule, ids: &mut GroupIds) -> Result<Self, RuleError> {
        let mut switches = BTreeMap::new();
        for sp in plan.switches() {
            match ids.alloc(sp.dpid) {
                Ok(group) => {
                    switches.insert(
                        sp.dpid,
                        InstalledSwitch {
                            group,
                            buckets: sp.buckets,
                        },
                    );
                }
                Err(e) => {
                    for (dpid, s) in &switches {
                        ids.release(*dpid, s.group);
                    }
                    return Err(e);
                }
            }
        }
        Ok(Installation { rule, switches })
    }

    /// An installation as recorded earlier (a snapshot): the ids are reserved in `ids`. All
    /// or nothing: an id outside the range or already in use fails with the switch named.
    pub fn restore(
        rule: Rule,
        switches: BTreeMap<Dpid, InstalledSwitch>,
        ids: &mut GroupIds,
    ) -> Result<Self, RuleError> {
        let mut done: Vec<(Dpid, GroupId)> = Vec::new();
        for (dpid, s) in &switches {
            if !ids.reserve(*dpid, s.group) {
                for (d, g) in done {
                    ids.release(d, g);
                }
                return Err(RuleError::GroupIdTaken {
                    dpid: *dpid,
                    group: s.group,
                });
            }
            done.push((*dpid, s.group));
        }
        Ok(Installation { rule, switches })
    }

    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    /// The per-switch changes that turn this installation into `plan` (switches whose
    /// buckets already match get nothing). Unlike [`PlanDiff::between`] this starts from what
    /// is installed, so it also serves an installation restored from a snapshot.
    pub fn diff_to(&self, plan: &SubsetPlan) -> PlanDiff {
        let mut d = PlanDiff::default();
        for sp in plan.switches() {
            match self.switches.get(&sp.dpid) {
                None => {
                    d.add.insert(sp.dpid, sp.buckets);
                }
                Some(s) if s.buckets != sp.buckets => {
                    d.modify.insert(sp.dpid, sp.buckets);
                }
                Some(_) => {}
            }
        }
        for dpid in self.switches.keys() {
            if plan.buckets(*dpid).is_empty() {
                d.remove.insert(*dpid);
            }
        }
        d
    }

    pub fn switches(&self) -> &BTreeMap<Dpid, InstalledSwitch> {
        &self.switches
    }

    /// Install everything: per switch, group add, barrier, flow add, barrier.
    pub fn install(&self) -> Batch {
        let mut batch = Batch::default();
        for (dpid, s) in &self.switches {
            let b = batch.at(*dpid);
            b.group_mods.push(group_add(s.group, &s.buckets));
            b.flow_adds.push(self.rule.flow_add(s.group));
        }
        batch
    }

    /// Remove everything: per switch, flow delete, barrier, group delete, barrier. The ids
    /// are for `GroupIds::release` once the switch answered.
    pub fn remove(&self) -> (Batch, Vec<(Dpid, GroupId)>) {
        let mut batch = Batch::default();
        let mut released = Vec::new();
        for (dpid, s) in &self.switches {
            let b = batch.at(*dpid);
            b.flow_deletes.push(self.rule.flow_delete());
            b.group_deletes.push(group_delete(s.group));
            released.push((*dpid, s.group));
        }
        (batch, released)
    }

    /// Move to a new plan of the same subset (after a topology change): new switches get a
    /// group and a flow whose hard timeout is what is left of the lease, changed switches a
    /// group modify, and switches that left the plan lose flow and group. Switches whose
    /// buckets did not change get nothing.
    pub fn update(
        &self,
        diff: &PlanDiff,
        lease_left: Duration,
        ids: &mut GroupIds,
    ) -> Result<Update, RuleError> {
        let mut next = self.clone();
        let mut batch = Batch::default();
        let mut fresh = Vec::new();
        // A switch to modify that this installation does not have is added instead (the diff
        // was made against another plan); either way the result matches the new plan.
        let mut add: Vec<(Dpid, &Vec<PortNo>)> = diff.add.iter().map(|(d, p)| (*d, p)).collect();
        add.extend(
            diff.modify
                .iter()
                .filter(|(d, _)| !self.switches.contains_key(d))
                .map(|(d, p)| (*d, p)),
        );
        add.sort();
        let late = if add.is_empty() {
            self.rule
        } else {
            self.rule.with_remaining(lease_left)?
        };
        for (dpid, ports) in add {
            let group = match ids.alloc(dpid) {
                Ok(g) => g,
                Err(e) => {
                    for (d, g) in fresh {
                        ids.release(d, g);
                    }
                    return Err(e);
                }
            };
            fresh.push((dpid, group));
            let b = batch.at(dpid);
            b.group_mods.push(group_add(group, ports));
            b.flow_adds.push(late.flow_add(group));
            next.switches.insert(
                dpid,
                InstalledSwitch {
                    group,
                    buckets: ports.clone(),
                },
            );
        }
        for (dpid, ports) in &diff.modify {
            if !self.switches.contains_key(dpid) {
                continue; // added above
            }
            if let Some(s) = next.switches.get_mut(dpid) {
                batch
                    .at(*dpid)
                    .group_mods
                    .push(group_modify(s.group, ports));
                s.buckets = ports.clone();
            }
        }
        let mut released = Vec::new();
        for dpid in &diff.remove {
            if let Some(s) = next.switches.remove(dpid) {
                let b = batch.at(*dpid);
                b.flow_deletes.push(self.rule.flow_delete());
                b.group_deletes.push(group_delete(s.group));
                released.push((*dpid, s.group));
            }
        }
        Ok(Update {
            installation: next,
            batch,
            released,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openflow::msg::{FlowModCommand, GroupModCommand};
    use std::net::{Ipv4Addr, Ipv6Addr};

    const X: IpAddr = IpAddr::V4(Ipv4Addr::new(239, 1, 2, 3));

    #[test]
    fn hard_timeout_rounds_up() {
        assert_eq!(hard_timeout(Duration::ZERO), Err(RuleError::ZeroLease));
        assert_eq!(hard_timeout(Duration::from_nanos(1)), Ok(1));
        assert_eq!(hard_timeout(Duration::from_millis(1000)), Ok(1));
        assert_eq!(hard_timeout(Duration::from_millis(1001)), Ok(2));
        assert_eq!(hard_timeout(Duration::from_secs(65535)), Ok(65535));
        let long = Duration::from_millis(65_535_001);
        assert_eq!(
            hard_timeout(long),
            Err(RuleError::LeaseTooLong { lease: long })
        );
    }

    #[test]
    fn flow_add_and_delete() {
        let r = Rule::new(X, 0xabcd, Duration::from_millis(2500)).unwrap();
        let f = r.flow_add(GroupId(7));
        assert_eq!(f.command, FlowModCommand::Add);
        assert_eq!(f.table_id, TableId(0));
        assert_eq!(f.priority, SUBSET_PRIORITY);
        assert_eq!(f.cookie, Cookie(0xabcd));
        assert_eq!(f.hard_timeout, 3);
        assert_eq!(f.idle_timeout, 0);
        assert_eq!(f.flags, FlowModFlags::SEND_FLOW_REM);
        assert_eq!(
            f.match_.fields,
            vec![
                Oxm::EthType(0x0800),
                Oxm::Ipv4Dst {
                    value: Ipv4Addr::new(239, 1, 2, 3),
                    mask: None
                }
            ]
        );
        assert_eq!(
            f.instructions,
            vec![Instruction::ApplyActions(vec![Action::Group(GroupId(7))])]
        );
        let d = r.flow_delete();
        assert_eq!(d.command, FlowModCommand::DeleteStrict);
        assert_eq!((d.cookie, d.cookie_mask), (Cookie(0xabcd), u64::MAX));
        assert_eq!((d.priority, d.match_), (SUBSET_PRIORITY, f.match_));
        assert_eq!((d.out_port, d.out_group), (PortNo::ANY, GroupId::ANY));

        let v6: IpAddr = "ff3e::8000:1".parse().unwrap();
        let m = dst_match(v6);
        assert_eq!(
            m.fields,
            vec![
                Oxm::EthType(0x86dd),
                Oxm::Ipv6Dst {
                    value: "ff3e::8000:1".parse::<Ipv6Addr>().unwrap(),
                    mask: None
                }
            ]
        );
        assert_eq!(
            Rule::new(X, 0, Duration::from_secs(1)),
            Err(RuleError::ReservedTraceId(0))
        );
        assert_eq!(
            Rule::new(X, u64::MAX, Duration::from_secs(1)),
            Err(RuleError::ReservedTraceId(u64::MAX))
        );
    }

    #[test]
    fn groups() {
        let g = group_add(GroupId(3), &[PortNo(1), PortNo(4)]);
        assert_eq!(g.command, GroupModCommand::Add);
        assert_eq!(g.group_type, GroupType::All);
        assert_eq!(
            g.buckets,
            vec![
                Bucket::new(vec![Action::output(PortNo(1))]),
                Bucket::new(vec![Action::output(PortNo(4))]),
            ]
        );
        assert_eq!(
            group_modify(GroupId(3), &[PortNo(2)]).command,
            GroupModCommand::Modify
        );
        let d = group_delete(GroupId(3));
        assert_eq!(
            (d.command, d.group_id),
            (GroupModCommand::Delete, GroupId(3))
        );
    }

    #[test]
    fn group_ids_lowest_free_first() {
        let mut ids = GroupIds::with_range(GroupId(10), GroupId(12));
        let a = Dpid(1);
        assert_eq!(ids.alloc(a), Ok(GroupId(10)));
        assert_eq!(ids.alloc(a), Ok(GroupId(11)));
        assert_eq!(ids.alloc(Dpid(2)), Ok(GroupId(10)), "per switch");
        ids.release(a, GroupId(10));
        assert_eq!(ids.in_use(a), 1);
        assert_eq!(ids.alloc(a), Ok(GroupId(10)), "freed id reused");
        assert_eq!(ids.alloc(a), Ok(GroupId(12)));
        assert_eq!(ids.alloc(a), Err(RuleError::GroupIdsExhausted { dpid: a }));
        ids.release(a, GroupId(99)); // never allocated: ignored
        ids.release(a, GroupId(11));
        ids.release(a, GroupId(11)); // twice: ignored
        assert_eq!(ids.in_use(a), 2);
        ids.release(a, GroupId(12));
        ids.release(a, GroupId(10));
        assert_eq!(ids.in_use(a), 0);
        assert_eq!(ids.alloc(a), Ok(GroupId(10)));
        assert_eq!(GroupIds::new().alloc(a), Ok(GroupId(1)));
    }

    #[test]
    fn reserve_marks_ids_in_use() {
        let mut ids = GroupIds::with_range(GroupId(10), GroupId(20));
        let a = Dpid(1);
        assert!(ids.reserve(a, GroupId(12)));
        assert!(!ids.reserve(a, GroupId(12)), "twice");
        assert!(!ids.reserve(a, GroupId(9)), "outside");
        assert_eq!(ids.alloc(a), Ok(GroupId(10)));
        assert_eq!(ids.alloc(a), Ok(GroupId(11)));
        assert_eq!(ids.alloc(a), Ok(GroupId(13)));
        assert!(ids.reserve(a, GroupId(14)));
        assert_eq!(ids.in_use(a), 5);
        ids.release(a, GroupId(12));
        assert!(ids.reserve(a, GroupId(12)));
    }

    #[test]
    fn batch_order_and_merge() {
        let r = Rule::new(X, 5, Duration::from_secs(1)).unwrap();
        let mut b = Batch::default();
        b.at(Dpid(1))
            .group_mods
            .push(group_add(GroupId(1), &[PortNo(1)]));
        b.at(Dpid(1)).flow_adds.push(r.flow_add(GroupId(1)));
        let mut other = Batch::default();
        other.at(Dpid(1)).flow_deletes.push(r.flow_delete());
        other
            .at(Dpid(1))
            .group_deletes
            .push(group_delete(GroupId(2)));
        other.at(Dpid(2));
        b.merge(other);
        let m = b.messages();
        assert_eq!(m.len(), 1, "switch 2 has nothing to send");
        let kinds: Vec<&str> = m[&Dpid(1)]
            .iter()
            .map(|b| match b {
                Body::FlowMod(f) if f.command == FlowModCommand::Add => "flow+",
                Body::FlowMod(_) => "flow-",
                Body::GroupMod(g) if g.command == GroupModCommand::Delete => "group-",
                Body::GroupMod(_) => "group+",
                Body::BarrierRequest => "|",
                _ => "?",
            })
            .collect();
        assert_eq!(
            kinds,
            vec!["flow-", "|", "group-", "|", "group+", "|", "flow+", "|"]
        );

        // A long phase gets a barrier after every BARRIER_EVERY bodies too.
        let every = crate::rendezvous::BARRIER_EVERY;
        let long = SwitchBatch {
            flow_deletes: vec![r.flow_delete(); 2 * every + 3],
            group_deletes: vec![group_delete(GroupId(2))],
            ..SwitchBatch::default()
        };
        let m = long.messages();
        let barriers: Vec<usize> = m
            .iter()
            .enumerate()
            .filter(|(_, b)| matches!(b, Body::BarrierRequest))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            barriers,
            [every, 2 * every + 1, 2 * every + 5, 2 * every + 7]
        );
    }

    #[test]
    fn update_adds_modifies_and_removes() {
        use crate::plan::PlanDiff;
        let r = Rule::new(X, 9, Duration::from_secs(30)).unwrap();
        let mut ids = GroupIds::new();
        let mut switches = BTreeMap::new();
        for d in [1, 2] {
            switches.insert(
                Dpid(d),
                InstalledSwitch {
                    group: ids.alloc(Dpid(d)).unwrap(),
                    buckets: vec![PortNo(1), PortNo(2)],
                },
            );
        }
        let inst = Installation { rule: r, switches };
        let diff = PlanDiff {
            add: BTreeMap::from([(Dpid(3), vec![PortNo(5)])]),
            modify: BTreeMap::from([
                (Dpid(1), vec![PortNo(1)]),
                (Dpid(4), vec![PortNo(7)]), // not installed: added instead
            ]),
            remove: BTreeSet::from([Dpid(2), Dpid(9)]),
        };
        let up = inst
            .update(&diff, Duration::from_millis(1500), &mut ids)
            .unwrap();
        let m = up.batch.messages();
        assert_eq!(
            m.keys().copied().collect::<Vec<_>>(),
            [1, 2, 3, 4].map(Dpid)
        );
        assert_eq!(
            m[&Dpid(1)],
            vec![
                Body::from(group_modify(GroupId(1), &[PortNo(1)])),
                Body::BarrierRequest
            ]
        );
        assert_eq!(
            m[&Dpid(2)],
            vec![
                Body::from(r.flow_delete()),
                Body::BarrierRequest,
                Body::from(group_delete(GroupId(1))),
                Body::BarrierRequest
            ]
        );
        // Late joiners get what is left of the lease, rounded up.
        let late = r.with_remaining(Duration::from_millis(1500)).unwrap();
        assert_eq!(late.hard_timeout(), 2);
        assert_eq!(
            m[&Dpid(3)],
            vec![
                Body::from(group_add(GroupId(1), &[PortNo(5)])),
                Body::BarrierRequest,
                Body::from(late.flow_add(GroupId(1))),
                Body::BarrierRequest
            ]
        );
        assert_eq!(m[&Dpid(4)].len(), 4);
        assert_eq!(up.released, vec![(Dpid(2), GroupId(1))]);
        let now: Vec<_> = up
            .installation
            .switches()
            .iter()
            .map(|(d, s)| (d.0, s.buckets.clone()))
            .collect();
        assert_eq!(
            now,
            vec![
                (1, vec![PortNo(1)]),
                (3, vec![PortNo(5)]),
                (4, vec![PortNo(7)])
            ]
        );
        // Removal of the whole installation.
        let (rm, released) = up.installation.remove();
        assert_eq!(rm.messages().len(), 3);
        assert_eq!(released.len(), 3);
    }

    #[test]
    fn allocation_is_all_or_nothing() {
        use crate::fabrics::ring;
        use crate::plan::plan_subset;
        use crate::tree::{GroupTree, NegotiatingGroup};
        let t = ring(3, 1);
        let hosts: Vec<_> = t.hosts().map(|h| h.mac).collect();
        let g = NegotiatingGroup::new(X, hosts.iter().copied());
        let y = GroupTree::compute(&t, &g).unwrap();
        let plan = plan_subset(&t, &y, &g.members).unwrap();
        let r = Rule::new(X, 1, Duration::from_secs(1)).unwrap();
        let mut ids = GroupIds::with_range(GroupId(1), GroupId(1));
        ids.alloc(Dpid(3)).unwrap(); // switch 3 is full
        assert_eq!(
            Installation::new(&plan, r, &mut ids),
            Err(RuleError::GroupIdsExhausted { dpid: Dpid(3) })
        );
        assert_eq!((ids.in_use(Dpid(1)), ids.in_use(Dpid(2))), (0, 0));
        let inst = Installation::new(&plan, r, &mut GroupIds::new()).unwrap();
        assert_eq!(inst.install().messages().len(), 3);
    }
}
