//! Rendezvous groups (design, "Rendezvous groups"; issue 5): plans that enumerate every
//! k-subset of a negotiating group ahead of time, the bulk sender that installs them, the
//! budgets they must fit, and the claims and block leases senders hold on their addresses.
//! Pure bookkeeping: the state machine (`machine`) computes trees and plans, sends, and feeds
//! barrier replies and errors back; nothing here does I/O or reads a clock.
//!
//! **Addresses.** Copy `c` of subset `S` of a plan with base `b` over a group of `n` members is
//! `b + c·C(n,k) + rank(S)` ([`crate::rank`]); every address gets an on-demand-style install
//! along the group's tree: per switch of the subset's plan one ALL group (one bucket per port
//! of P_S(s), checked ⊆ P_Y(s) by [`crate::plan::plan_subset`]) and one flow in table 0
//! matching the address. Plan flows are long-lived: no hard or idle timeout, no
//! `OFPFF_SEND_FLOW_REM`, priority [`RENDEZVOUS_PRIORITY`] and a cookie of our own
//! ([`plan_cookie`]: `"tsmr"` in the high 32 bits, the plan's id in the low), which is how
//! reconciliation tells them apart from subset flows and from other applications' flows.
//!
//! **Bulk install.** OpenFlow 1.3 has no bundles (`OFPT_BUNDLE_CONTROL` and
//! `OFPT_BUNDLE_ADD_MESSAGE` first appear in OpenFlow 1.4), so a plan goes out pipelined: per
//! switch a [`Lane`] queue of group and flow mods in the safe order (flow deletes, group
//! deletes, group adds and modifies, flow adds, each phase closed by a barrier), cut into
//! chunks of at most [`BARRIER_EVERY`] messages that each end with a barrier request, at most
//! [`WINDOW`] messages sent and not yet covered by a barrier reply, and at most [`BURST`]
//! chunks sent at a time (so the switch starts early and the queue refills while it works). A
//! version is applied [`SLICE`] addresses per step, one step per turn of the controller. No
//! message waits for its own answer; a barrier reply retires its chunk and every chunk before
//! it (OF1.3.5 §6.2) and counts its messages as done (the progress report).
//! An `OFPT_ERROR` is attributed to its message by xid (chunks are sent back to back, so a
//! chunk's xids are contiguous).
//!
//! **Budgets.** Per switch, a plan needs one group and one flow per address whose subset plan
//! touches the switch; a switch holds at most `max_groups` of GROUP_FEATURES, the configured
//! [`Budget`], and what is left of our group-id range, minus what else of ours it holds. A plan
//! that does not fit is refused with the numbers per switch and nothing is installed.
//!
//! **Claims and blocks.** A claim is an exclusive lease on one address; a block is an
//! exclusive lease on whole copies (every address of copy `c`). Guarantees: an address is held
//! by at most one claim or block at any time (held ranges are stored as absolute address
//! ranges, so this holds across re-plans that move the copies); leases end on the
//! controller's timer; ids never repeat (a counter in the snapshot). Each carries the name of
//! the token that took it (its owner), in the snapshot and the journal alike, so the owner
//! survives a restart; the core only keeps it, tsmd enforces it (`daemon/scope.rs`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use openflow::msg::FlowMod;
use openflow::{Action, Body, Cookie, GroupId, Instruction, PortNo, Xid};
use serde::{Deserialize, Serialize};

use crate::rank;
use crate::rules::{dst_match, InstalledSwitch, SUBSET_TABLE};
use crate::snapshot::InstalledRecord;
use crate::time::Time;
use crate::topology::Dpid;

/// Priority of plan flows: below the on-demand subsets' (0x9000), above
/// `OFP_DEFAULT_PRIORITY`. Plan ranges never overlap the subset pool, so the two never meet.
pub const RENDEZVOUS_PRIORITY: u16 = 0x8f00;
/// The high 32 bits of every plan flow's cookie: "tsmr".
pub const COOKIE_TAG: u64 = 0x7473_6d72_0000_0000;
const COOKIE_TAG_MASK: u64 = 0xffff_ffff_0000_0000;
/// A barrier request after this many messages (the progress granularity).
pub const BARRIER_EVERY: usize = 1024;
/// Most messages per switch sent and not yet covered by a barrier reply.
pub const WINDOW: usize = 64 * 1024;
/// Addresses planned into lanes per step: a big plan is applied in steps, one per turn of the
/// controller, so its first messages go out while the rest is being built.
pub const SLICE: usize = 4096;
/// Addresses in a version's first step: small, so the first messages reach the switch (and
/// `PUT` is answered) while the rest is still being built.
pub const FIRST_SLICE: usize = 512;
/// Most chunks sent per switch at one time (a command, a barrier reply): small bursts get the
/// first bytes to the switch early and keep it busy while the rest is built, instead of one
/// burst of the whole window that the switch waits for.
pub const BURST: usize = 16;
/// The most addresses one plan may have.
pub const MAX_ADDRESSES: u64 = 1 << 20;

/// The cookie of plan `id`'s flows.
pub fn plan_cookie(id: u32) -> Cookie {
    Cookie(COOKIE_TAG | u64::from(id))
}

/// The cookie mask of a plan flow's strict delete: every bit but bit 31, which plan ids never
/// use ([`Rendezvous::new_plan_id`]), so it checks the cookie as exactly as all ones would.
/// Open vSwitch finds a strict delete whose mask is all ones through its cookie index and
/// compares every flow with that cookie: all of a plan's, so each delete costs O(plan) (a
/// 25,000-flow plan went at about 450 deletes/s, the switch too busy to answer echoes
/// meanwhile). With any other mask it looks the match up in the classifier and then checks
/// the cookie (OF1.3.5 §7.3.4.1 allows any mask).
pub const PLAN_DELETE_COOKIE_MASK: u64 = !(1 << 31);
/// Plan ids stay below bit 31 (see [`PLAN_DELETE_COOKIE_MASK`]).
const MAX_PLAN_ID: u32 = (1 << 31) - 1;

/// Whether a flow cookie is a plan cookie.
pub fn is_plan_cookie(c: Cookie) -> bool {
    c.0 & COOKIE_TAG_MASK == COOKIE_TAG
}

/// `OFPFC_ADD` of a plan flow: `addr` → `group`, no timeouts, no flags.
pub fn flow_add(addr: IpAddr, group: GroupId, cookie: Cookie) -> FlowMod {
    FlowMod {
        cookie,
        ..FlowMod::add(
            SUBSET_TABLE,
            RENDEZVOUS_PRIORITY,
            dst_match(addr),
            vec![Instruction::ApplyActions(vec![Action::Group(group)])],
        )
    }
}

/// `OFPFC_DELETE_STRICT` of a plan flow, only while it carries the plan's cookie.
pub fn flow_delete(addr: IpAddr, cookie: Cookie) -> FlowMod {
    FlowMod {
        cookie,
        cookie_mask: PLAN_DELETE_COOKIE_MASK,
        ..FlowMod::delete_strict(SUBSET_TABLE, RENDEZVOUS_PRIORITY, dst_match(addr))
    }
}

/// Configured per-switch limits for rendezvous plans (`None`: no limit of this kind beyond
/// what the switch reports and our group-id range).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Budget {
    /// Most groups of ours a switch may hold.
    pub max_groups: Option<u64>,
    /// Most flows of ours a switch may hold.
    pub max_flows: Option<u64>,
}

/// What a plan asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSpec {
    pub k: u32,
    pub copies: u32,
    pub base: IpAddr,
}

/// Where a plan stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    Installing,
    Ready,
    Failed,
    OverBudget,
}

/// Install progress over every switch of the plan (since its last version or reroute).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub switches_total: u64,
    pub switches_done: u64,
    pub messages_total: u64,
    pub messages_done: u64,
}

/// One switch's share of a plan and what it can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwitchBudget {
    pub dpid: Dpid,
    pub groups_needed: u64,
    /// `None`: unlimited.
    pub groups_available: Option<u64>,
    pub flows_needed: u64,
    pub flows_available: Option<u64>,
}

impl SwitchBudget {
    pub fn fits(&self) -> bool {
        self.groups_available
            .is_none_or(|a| self.groups_needed <= a)
            && self.flows_available.is_none_or(|a| self.flows_needed <= a)
    }
}

/// What a switch can give a plan: its limits and what else of ours it holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capacity {
    /// Most groups (the smallest of GROUP_FEATURES, the configured budget and our id range).
    pub max_groups: Option<u64>,
    /// Most flows of ours (configured).
    pub max_flows: Option<u64>,
    /// Groups of ours it holds that the plan does not own.
    pub groups_used: u64,
    /// Flows of ours it holds that the plan does not own.
    pub flows_used: u64,
}

/// The budget lines of a desired plan: every switch it needs, with what it can hold.
pub fn budget(
    needed: &BTreeMap<Dpid, u64>,
    capacity: impl Fn(Dpid) -> Capacity,
) -> Vec<SwitchBudget> {
    needed
        .iter()
        .map(|(dpid, n)| {
            let c = capacity(*dpid);
            SwitchBudget {
                dpid: *dpid,
                groups_needed: *n,
                groups_available: c.max_groups.map(|m| m.saturating_sub(c.groups_used)),
                flows_needed: *n,
                flows_available: c.max_flows.map(|m| m.saturating_sub(c.flows_used)),
            }
        })
        .collect()
}

/// Why a rendezvous command was refused. Nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RvError {
    #[error("unknown group {group:?}")]
    UnknownGroup { group: String },
    #[error("k = {k} is out of range: group {group:?} has {n} members")]
    KOutOfRange { group: String, k: u32, n: usize },
    #[error("copies must be at least 1")]
    NoCopies,
    #[error("base {base}: {why}")]
    BadBase { base: IpAddr, why: String },
    #[error("the plan's range {first} - {last} overlaps {with}")]
    RangeOverlap {
        first: IpAddr,
        last: IpAddr,
        with: String,
    },
    #[error("group {group:?}: {addresses} addresses are more than a plan may have ({max})")]
    TooManyAddresses {
        group: String,
        addresses: u128,
        max: u64,
    },
    #[error("the plan of group {group:?} does not fit the switches' budgets")]
    OverBudget {
        group: String,
        switches: Vec<SwitchBudget>,
    },
    #[error("group {group:?}: members not seen on any edge port: {hosts:?}")]
    UnknownHosts { group: String, hosts: Vec<IpAddr> },
    #[error("group {group:?}: a subset cannot be planned: {why}")]
    Unplannable { group: String, why: String },
    #[error("group {group:?} has no rendezvous plan")]
    NoPlan { group: String },
    #[error("the plan of group {group:?} (version {version}) is {state:?}; {detail}")]
    NotReady {
        group: String,
        version: u64,
        state: PlanStatus,
        detail: String,
    },
    #[error("a claim on group {group:?} needs exactly {k} members, not {size}")]
    WrongSize { group: String, size: usize, k: u32 },
    #[error("not members of group {group:?}: {members:?}")]
    NotMembers { group: String, members: Vec<IpAddr> },
    #[error("every one of the {copies} copies of subset {members:?} of group {group:?} is held")]
    Exhausted {
        group: String,
        members: Vec<IpAddr>,
        copies: u32,
    },
    #[error("group {group:?}: {wanted} copies asked for, {free} free")]
    BlockExhausted {
        group: String,
        wanted: u32,
        free: u32,
    },
    #[error("{} {id:#x} has expired, was released, or never existed", if *block { "block" } else { "claim" })]
    Expired { id: u64, block: bool },
    #[error("the plan of group {group:?} has {claims} claims and {blocks} blocks: it cannot change shape")]
    PlanInUse {
        group: String,
        claims: usize,
        blocks: usize,
    },
    #[error("lease {lease:?} is not in 1 ms ..= {max:?}")]
    BadLease { lease: Duration, max: Duration },
    #[error("switch {dpid} has no free group id left")]
    GroupIds { dpid: Dpid },
}

/// A rendezvous command (`Command::Rendezvous`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RvCommand {
    /// Create or replace the group's plan; answered at once (state `installing`).
    PutPlan {
        group: String,
        spec: PlanSpec,
    },
    DeletePlan {
        group: String,
    },
    Claim {
        group: String,
        members: Vec<IpAddr>,
        lease: Duration,
        /// The name of the token taking it (`None` without authentication): kept with the
        /// claim, so only its taker (or an admin) renews or releases it, also after a
        /// restart.
        owner: Option<String>,
    },
    RenewClaim {
        id: u64,
        lease: Duration,
    },
    ReleaseClaim {
        id: u64,
    },
    TakeBlock {
        group: String,
        copies: u32,
        lease: Duration,
        /// As for [`RvCommand::Claim`].
        owner: Option<String>,
    },
    RenewBlock {
        id: u64,
        lease: Duration,
    },
    ReleaseBlock {
        id: u64,
    },
}

/// A rendezvous command's answer (`Reply::Rendezvous`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RvReply {
    Plan(PlanInfo),
    PlanDeleted { group: String },
    Claim(ClaimInfo),
    ClaimReleased { id: u64 },
    Block(BlockInfo),
    BlockReleased { id: u64 },
}

/// A plan as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanInfo {
    pub group: String,
    pub version: u64,
    pub members_version: u64,
    pub spec: PlanSpec,
    /// Ascending; index i is `members[i]`.
    pub members: Vec<IpAddr>,
    pub subsets: u64,
    pub addresses: u64,
    pub state: PlanStatus,
    pub progress: Progress,
    pub error: Option<String>,
    pub budget: Vec<SwitchBudget>,
}

/// A claim as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimInfo {
    pub id: u64,
    pub group: String,
    pub addr: IpAddr,
    pub members: Vec<IpAddr>,
    pub copy: u32,
    pub plan_version: u64,
    /// The group's current membership version.
    pub members_version: u64,
    pub expires_at: Time,
    /// The token that took it (`None`: taken without authentication, or restored from a
    /// record written before owners were kept).
    pub owner: Option<String>,
}

/// A block as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    pub id: u64,
    pub group: String,
    pub base: IpAddr,
    pub k: u32,
    /// The members the block's plan version enumerates, ascending.
    pub members: Vec<IpAddr>,
    /// The group's current membership version.
    pub members_version: u64,
    pub plan_version: u64,
    pub copies: Vec<u32>,
    pub expires_at: Time,
    /// As for [`ClaimInfo::owner`].
    pub owner: Option<String>,
}

/// Why a claim or block ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseEnd {
    Released,
    Expired,
    /// Its plan was deleted (or its group).
    PlanDeleted,
    /// Its plan failed (a switch refused, or a re-plan did not fit) and its rules were removed.
    PlanFailed,
}

/// A claim, durable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRecord {
    pub id: u64,
    pub group: String,
    pub addr: IpAddr,
    pub members: Vec<IpAddr>,
    pub copy: u32,
    pub plan_version: u64,
    pub members_version: u64,
    /// When it ends, on the controller's clock.
    pub lease_end: Duration,
    /// The token that took it; absent in records written without tokens or before owners
    /// were kept (anyone allowed the group may then renew or release it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// A block, durable. `ranges` are the absolute addresses it holds (inclusive), one range per
/// copy, as computed for its plan version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRecord {
    pub id: u64,
    pub group: String,
    pub base: IpAddr,
    pub k: u32,
    pub members: Vec<IpAddr>,
    pub members_version: u64,
    pub plan_version: u64,
    pub copies: Vec<u32>,
    pub ranges: Vec<(IpAddr, IpAddr)>,
    pub lease_end: Duration,
    /// As for [`ClaimRecord::owner`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// One address of a plan, durable: its group and buckets per switch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryRecord {
    pub addr: IpAddr,
    pub switches: Vec<InstalledRecord>,
}

/// A plan, durable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRecord {
    pub group: String,
    pub id: u32,
    pub spec: PlanSpec,
    pub version: u64,
    pub members_version: u64,
    pub members: Vec<IpAddr>,
    pub status: PlanStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub entries: Vec<EntryRecord>,
}

/// Everything durable of rendezvous groups (a `#[serde(default)]` part of the snapshot).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RendezvousRecord {
    /// The next claim or block id.
    pub next_id: u64,
    pub next_plan_id: u32,
    /// The last journal entry this state includes.
    pub journal_seq: u64,
    pub plans: Vec<PlanRecord>,
    pub claims: Vec<ClaimRecord>,
    pub blocks: Vec<BlockRecord>,
}

/// A change of claims or blocks, appended to the daemon's journal before the answer goes out
/// (cheaper than a whole snapshot per claim). Replayed after a restore: entries with a
/// sequence number above the snapshot's `journal_seq`, in order. Expiry is not journaled:
/// a lease that ended is dropped on replay by its end time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub seq: u64,
    #[serde(flatten)]
    pub op: JournalOp,
}

/// What a journal entry records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum JournalOp {
    Claim { claim: ClaimRecord },
    Block { block: BlockRecord },
    Renew { id: u64, lease_end: Duration },
    Release { id: u64 },
}

/// A plan's install state per address: its group and buckets per switch. The desired state:
/// updated when the messages are queued, so reconciliation after a reconnect installs it.
pub type Entries = BTreeMap<IpAddr, BTreeMap<Dpid, InstalledSwitch>>;

/// A plan, live.
#[derive(Clone, Debug)]
pub struct Plan {
    pub id: u32,
    pub spec: PlanSpec,
    pub version: u64,
    pub members_version: u64,
    pub members: Vec<IpAddr>,
    /// C(n, k).
    pub count: u64,
    pub entries: Entries,
    pub status: PlanStatus,
    pub error: Option<String>,
    pub budget: Vec<SwitchBudget>,
    /// The current version's addressing is installed (once): claims may be taken.
    pub usable: bool,
    /// Ranks of subsets that could not be planned on the current fabric.
    pub undeliverable: BTreeSet<u64>,
    pub progress: Progress,
    /// Per switch, messages of this plan queued or in flight.
    pub outstanding: BTreeMap<Dpid, u64>,
    /// Switches that got messages since the progress was reset.
    pub touched: BTreeSet<Dpid>,
    /// The rest of a version being applied ([`SLICE`] addresses per step).
    pub pending: Option<PendingApply>,
}

/// P_S(s) per switch of one subset: the buckets of its group there.
pub type SubsetPorts = std::sync::Arc<BTreeMap<Dpid, Vec<PortNo>>>;

/// A plan version's desired install, per rank rather than per address: P_S(s) per switch of
/// every subset (`None`: it cannot be delivered now), shared by its copies. Address number `i`
/// (`0 ≤ i < copies·count`) is copy `i / count` of rank `i % count`, so ascending `i` is
/// ascending address ([`crate::rank::address`]). A plan of 25,000 addresses is then 56
/// entries, not a map of 25,000 built and taken apart again while its first messages wait.
#[derive(Clone, Debug)]
pub struct DesiredPorts {
    pub base: IpAddr,
    pub n: usize,
    pub k: usize,
    pub copies: u32,
    /// Per rank (`0..count`).
    pub ports: Vec<Option<SubsetPorts>>,
}

impl DesiredPorts {
    /// copies · count: how many address numbers there are.
    pub fn numbers(&self) -> u64 {
        (self.ports.len() as u64).saturating_mul(u64::from(self.copies))
    }

    /// Address number `i` and its ports, if its subset can be delivered.
    pub fn get(&self, i: u64) -> Option<(IpAddr, &BTreeMap<Dpid, Vec<PortNo>>)> {
        let count = self.ports.len() as u64;
        let r = i.checked_rem(count)?;
        let copy = u32::try_from(i / count).ok()?;
        let ports = self.ports.get(usize::try_from(r).ok()?)?.as_deref()?;
        let addr = rank::address(self.base, self.n, self.k, copy, r).ok()?;
        Some((addr, ports))
    }

    /// Whether the version installs `addr` (a deliverable subset's copy).
    pub fn contains(&self, addr: IpAddr) -> bool {
        rank::locate(self.base, self.n, self.k, self.copies, addr)
            .and_then(|(_, r)| self.ports.get(usize::try_from(r).ok()?))
            .is_some_and(Option::is_some)
    }

    /// Per switch, how many addresses need a group and a flow there.
    pub fn per_switch(&self) -> BTreeMap<Dpid, u64> {
        let mut m = BTreeMap::new();
        for sw in self.ports.iter().flatten() {
            for d in sw.keys() {
                *m.entry(*d).or_insert(0) += u64::from(self.copies);
            }
        }
        m
    }
}

/// What is left of applying a plan version.
#[derive(Clone, Debug)]
pub struct PendingApply {
    /// Every address of the version.
    pub desired: DesiredPorts,
    /// The next address number to apply (those before it are applied).
    pub next: u64,
    /// A new version (else a reroute, which keeps undeliverable subsets' rules).
    pub bump: bool,
    /// A switch that ran out of group ids.
    pub failed: Option<Dpid>,
}

impl Plan {
    /// The address of copy `copy` of rank `r`.
    pub fn address(&self, copy: u32, r: u64) -> Result<IpAddr, rank::RankError> {
        rank::address(
            self.spec.base,
            self.members.len(),
            self.spec.k as usize,
            copy,
            r,
        )
    }

    /// copies · C(n, k).
    pub fn addresses(&self) -> u64 {
        self.count.saturating_mul(u64::from(self.spec.copies))
    }

    /// The inclusive address range of copy `c`.
    pub fn copy_range(&self, c: u32) -> Option<(IpAddr, IpAddr)> {
        let first = self.address(c, 0).ok()?;
        let last = self.address(c, self.count.checked_sub(1)?).ok()?;
        Some((first, last))
    }

    pub fn info(&self, group: &str) -> PlanInfo {
        let mut progress = self.progress;
        progress.switches_total = self.touched.len() as u64;
        progress.switches_done = self
            .touched
            .iter()
            .filter(|d| self.outstanding.get(d).copied().unwrap_or(0) == 0)
            .count() as u64;
        PlanInfo {
            group: group.to_owned(),
            version: self.version,
            members_version: self.members_version,
            spec: self.spec,
            members: self.members.clone(),
            subsets: self.count,
            addresses: self.addresses(),
            state: self.status,
            progress,
            error: self.error.clone(),
            budget: self.budget.clone(),
        }
    }

    /// Groups (and flows) per switch the plan holds now.
    pub fn per_switch(&self) -> BTreeMap<Dpid, u64> {
        let mut m = BTreeMap::new();
        for sw in self.entries.values() {
            for d in sw.keys() {
                *m.entry(*d).or_insert(0) += 1;
            }
        }
        m
    }

    pub fn record(&self, group: &str) -> PlanRecord {
        PlanRecord {
            group: group.to_owned(),
            id: self.id,
            spec: self.spec,
            version: self.version,
            members_version: self.members_version,
            members: self.members.clone(),
            status: self.status,
            error: self.error.clone(),
            entries: self
                .entries
                .iter()
                .map(|(addr, sw)| EntryRecord {
                    addr: *addr,
                    switches: sw
                        .iter()
                        .map(|(d, i)| InstalledRecord {
                            dpid: d.0,
                            group_id: i.group.0,
                            ports: i.buckets.iter().map(|p| p.0).collect(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// Numeric value of an address (for range arithmetic within one family).
pub fn addr_num(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => u128::from(v),
    }
}

/// Whether two inclusive ranges of the same family overlap.
pub fn overlaps(a: (IpAddr, IpAddr), b: (IpAddr, IpAddr)) -> bool {
    a.0.is_ipv4() == b.0.is_ipv4()
        && addr_num(a.0) <= addr_num(b.1)
        && addr_num(b.0) <= addr_num(a.1)
}

/// The kind of a queued message (which ones a failed plan can drop before they go out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgKind {
    Add,
    Delete,
}

/// A queued message, compact: its `Body` is built only when it goes out (a plan of 25,000
/// addresses queues 50,000 of these at once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    GroupAdd { group: GroupId, ports: Vec<PortNo> },
    GroupModify { group: GroupId, ports: Vec<PortNo> },
    GroupDelete { group: GroupId },
    FlowAdd { group: GroupId, cookie: Cookie },
    FlowDelete { cookie: Cookie },
}

/// One queued message and what it belongs to.
#[derive(Clone, Debug)]
pub struct Queued {
    pub op: Op,
    /// The plan it counts for (0: a clean-up that counts for nobody).
    pub plan: u32,
    pub addr: IpAddr,
    /// A group id to give back once the switch confirmed this message (a group delete).
    pub release: Option<GroupId>,
}

impl Queued {
    /// Adds and modifies (which a failed plan drops before they go out) or deletes.
    pub fn kind(&self) -> MsgKind {
        match self.op {
            Op::GroupDelete { .. } | Op::FlowDelete { .. } => MsgKind::Delete,
            _ => MsgKind::Add,
        }
    }

    /// The message.
    pub fn body(&self) -> Body {
        match &self.op {
            Op::GroupAdd { group, ports } => crate::rules::group_add(*group, ports).into(),
            Op::GroupModify { group, ports } => crate::rules::group_modify(*group, ports).into(),
            Op::GroupDelete { group } => crate::rules::group_delete(*group).into(),
            Op::FlowAdd { group, cookie } => flow_add(self.addr, *group, *cookie).into(),
            Op::FlowDelete { cookie } => flow_delete(self.addr, *cookie).into(),
        }
    }
}

#[derive(Clone, Debug)]
enum Item {
    Msg(Queued),
    /// A phase boundary: a barrier must separate what comes before from what follows.
    Fence,
}

/// Per message of a sent chunk: plan, address, release.
#[derive(Clone, Copy, Debug)]
struct Meta {
    plan: u32,
    addr: IpAddr,
    release: Option<GroupId>,
}

#[derive(Clone, Debug)]
struct Chunk {
    first: Xid,
    barrier: Xid,
    meta: Vec<Meta>,
}

/// One switch's send queue. See the module header.
#[derive(Clone, Debug, Default)]
pub struct Lane {
    queue: VecDeque<Item>,
    inflight: VecDeque<Chunk>,
    unacked: usize,
}

/// Messages to one switch in the safe order, built phase by phase.
#[derive(Clone, Debug, Default)]
pub struct LaneBatch {
    pub flow_deletes: Vec<Queued>,
    pub group_deletes: Vec<Queued>,
    pub group_mods: Vec<Queued>,
    pub flow_adds: Vec<Queued>,
}

impl LaneBatch {
    pub fn len(&self) -> usize {
        self.flow_deletes.len()
            + self.group_deletes.len()
            + self.group_mods.len()
            + self.flow_adds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Messages that a barrier reply (or a disconnect) retired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retired {
    /// Per plan id, how many of its messages.
    pub per_plan: BTreeMap<u32, u64>,
    /// Group ids to give back.
    pub released: Vec<GroupId>,
}

impl Retired {
    fn count(&mut self, plan: u32, release: Option<GroupId>) {
        *self.per_plan.entry(plan).or_insert(0) += 1;
        self.released.extend(release);
    }
}

/// A chunk ready to go out: its bodies (the caller sends each, then a barrier request) and
/// what they are.
#[derive(Debug)]
pub struct Prepared {
    pub bodies: Vec<Body>,
    meta: Vec<Meta>,
}

impl Lane {
    /// Appends a batch, phase by phase, each non-empty phase followed by a fence.
    pub fn push(&mut self, batch: LaneBatch) {
        for phase in [
            batch.flow_deletes,
            batch.group_deletes,
            batch.group_mods,
            batch.flow_adds,
        ] {
            if phase.is_empty() {
                continue;
            }
            self.queue.extend(phase.into_iter().map(Item::Msg));
            self.queue.push_back(Item::Fence);
        }
    }

    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.inflight.is_empty()
    }

    pub fn has_queued(&self) -> bool {
        self.queue.iter().any(|i| matches!(i, Item::Msg(_)))
    }

    /// The next chunk if the window allows: up to [`BARRIER_EVERY`] messages, never across a
    /// fence.
    pub fn prepare(&mut self) -> Option<Prepared> {
        while matches!(self.queue.front(), Some(Item::Fence)) {
            self.queue.pop_front();
        }
        if self.queue.is_empty() || self.unacked + BARRIER_EVERY > WINDOW {
            return None;
        }
        // Sized once: growing by doubling moved every body built so far (about 100 bytes
        // each) ten times per chunk.
        let cap = BARRIER_EVERY.min(self.queue.len());
        let mut bodies = Vec::with_capacity(cap);
        let mut meta = Vec::with_capacity(cap);
        while bodies.len() < BARRIER_EVERY {
            match self.queue.pop_front() {
                Some(Item::Msg(q)) => {
                    meta.push(Meta {
                        plan: q.plan,
                        addr: q.addr,
                        release: q.release,
                    });
                    bodies.push(q.body());
                }
                Some(Item::Fence) | None => break,
            }
        }
        Some(Prepared { bodies, meta })
    }

    /// The chunk went out with xids `first..` (contiguous) and its barrier `barrier`.
    pub fn sent(&mut self, p: Prepared, first: Xid, barrier: Xid) {
        self.unacked += p.meta.len();
        self.inflight.push_back(Chunk {
            first,
            barrier,
            meta: p.meta,
        });
    }

    /// A barrier reply: retires its chunk and every one before it. `None` when the xid is not
    /// one of this lane's barriers.
    pub fn on_barrier(&mut self, xid: Xid) -> Option<Retired> {
        let pos = self.inflight.iter().position(|c| c.barrier == xid)?;
        let mut r = Retired::default();
        for c in self.inflight.drain(..=pos) {
            self.unacked = self.unacked.saturating_sub(c.meta.len());
            for m in c.meta {
                r.count(m.plan, m.release);
            }
        }
        Some(r)
    }

    /// The plan and address of the message with this xid, if it is in flight here.
    pub fn attribute(&self, xid: Xid) -> Option<(u32, IpAddr)> {
        let c = self
            .inflight
            .iter()
            .find(|c| c.first.0 <= xid.0 && xid.0 < c.barrier.0)?;
        let m = c.meta.get((xid.0 - c.first.0) as usize)?;
        Some((m.plan, m.addr))
    }

    /// Whether the xid is one of this lane's messages or barriers in flight.
    pub fn owns(&self, xid: Xid) -> bool {
        self.inflight
            .iter()
            .any(|c| c.first.0 <= xid.0 && xid.0 <= c.barrier.0)
    }

    /// Drops everything (the switch is gone, or reconciliation covered it).
    pub fn purge(&mut self) -> Retired {
        let mut r = Retired::default();
        for c in self.inflight.drain(..) {
            for m in c.meta {
                r.count(m.plan, m.release);
            }
        }
        for i in self.queue.drain(..) {
            if let Item::Msg(q) = i {
                r.count(q.plan, q.release);
            }
        }
        self.unacked = 0;
        r
    }

    /// Drops the plan's queued adds and modifies (not yet sent): it failed or is going away.
    /// Its deletes stay (they free what earlier versions installed).
    pub fn drop_adds(&mut self, plan: u32) -> u64 {
        let before = self.queue.len();
        self.queue
            .retain(|i| !matches!(i, Item::Msg(q) if q.plan == plan && q.kind() == MsgKind::Add));
        (before - self.queue.len()) as u64
    }
}

/// A claim, live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub group: String,
    pub addr: IpAddr,
    pub members: Vec<IpAddr>,
    pub copy: u32,
    pub plan_version: u64,
    pub members_version: u64,
    pub lease_end: Time,
    /// The token that took it.
    pub owner: Option<String>,
}

/// A block, live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub group: String,
    pub base: IpAddr,
    pub k: u32,
    pub members: Vec<IpAddr>,
    pub members_version: u64,
    pub plan_version: u64,
    pub copies: Vec<u32>,
    pub ranges: Vec<(IpAddr, IpAddr)>,
    pub lease_end: Time,
    /// The token that took it.
    pub owner: Option<String>,
}

/// The claims and blocks: who holds which address until when. See the module header.
#[derive(Clone, Debug, Default)]
pub struct Holds {
    claims: BTreeMap<u64, Claim>,
    by_addr: BTreeMap<IpAddr, u64>,
    blocks: BTreeMap<u64, Block>,
    expiry: BTreeSet<(Time, u64)>,
    next_id: u64,
}

impl Holds {
    /// A fresh id (claims and blocks share the counter).
    pub fn next_id(&mut self) -> u64 {
        self.next_id = self.next_id.max(1);
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub fn id_counter(&self) -> u64 {
        self.next_id
    }

    pub fn set_id_counter(&mut self, n: u64) {
        self.next_id = self.next_id.max(n);
    }

    /// Whether an address is held by a claim or a block.
    pub fn is_held(&self, addr: IpAddr) -> bool {
        self.by_addr.contains_key(&addr)
            || self
                .blocks
                .values()
                .any(|b| b.ranges.iter().any(|r| overlaps(*r, (addr, addr))))
    }

    /// Whether any address of the inclusive range is held.
    pub fn any_held(&self, range: (IpAddr, IpAddr)) -> bool {
        if addr_num(range.0) > addr_num(range.1) {
            return false;
        }
        self.by_addr.range(range.0..=range.1).next().is_some()
            || self
                .blocks
                .values()
                .any(|b| b.ranges.iter().any(|r| overlaps(*r, range)))
    }

    pub fn insert_claim(&mut self, id: u64, c: Claim) {
        self.next_id = self.next_id.max(id + 1);
        self.by_addr.insert(c.addr, id);
        self.expiry.insert((c.lease_end, id));
        if let Some(old) = self.claims.insert(id, c) {
            self.expiry.remove(&(old.lease_end, id));
        }
    }

    pub fn insert_block(&mut self, id: u64, b: Block) {
        self.next_id = self.next_id.max(id + 1);
        self.expiry.insert((b.lease_end, id));
        if let Some(old) = self.blocks.insert(id, b) {
            self.expiry.remove(&(old.lease_end, id));
        }
    }

    pub fn claim(&self, id: u64) -> Option<&Claim> {
        self.claims.get(&id)
    }

    pub fn block(&self, id: u64) -> Option<&Block> {
        self.blocks.get(&id)
    }

    pub fn claims(&self) -> impl Iterator<Item = (u64, &Claim)> + '_ {
        self.claims.iter().map(|(i, c)| (*i, c))
    }

    pub fn blocks(&self) -> impl Iterator<Item = (u64, &Block)> + '_ {
        self.blocks.iter().map(|(i, b)| (*i, b))
    }

    /// Moves a claim's or block's lease end. False when there is no such id.
    pub fn renew(&mut self, id: u64, until: Time) -> bool {
        if let Some(c) = self.claims.get_mut(&id) {
            self.expiry.remove(&(c.lease_end, id));
            c.lease_end = until;
            self.expiry.insert((until, id));
            return true;
        }
        if let Some(b) = self.blocks.get_mut(&id) {
            self.expiry.remove(&(b.lease_end, id));
            b.lease_end = until;
            self.expiry.insert((until, id));
            return true;
        }
        false
    }

    pub fn remove_claim(&mut self, id: u64) -> Option<Claim> {
        let c = self.claims.remove(&id)?;
        self.by_addr.remove(&c.addr);
        self.expiry.remove(&(c.lease_end, id));
        Some(c)
    }

    pub fn remove_block(&mut self, id: u64) -> Option<Block> {
        let b = self.blocks.remove(&id)?;
        self.expiry.remove(&(b.lease_end, id));
        Some(b)
    }

    /// The earliest lease end.
    pub fn next_expiry(&self) -> Option<Time> {
        self.expiry.first().map(|(t, _)| *t)
    }

    /// Ids whose lease ended by `now`, earliest first.
    pub fn due(&self, now: Time) -> Vec<u64> {
        self.expiry
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, id)| *id)
            .collect()
    }

    /// Claims and blocks of a group.
    pub fn of_group(&self, group: &str) -> (Vec<u64>, Vec<u64>) {
        (
            self.claims
                .iter()
                .filter(|(_, c)| c.group == group)
                .map(|(i, _)| *i)
                .collect(),
            self.blocks
                .iter()
                .filter(|(_, b)| b.group == group)
                .map(|(i, _)| *i)
                .collect(),
        )
    }

    pub fn claim_record(id: u64, c: &Claim) -> ClaimRecord {
        ClaimRecord {
            id,
            group: c.group.clone(),
            addr: c.addr,
            members: c.members.clone(),
            copy: c.copy,
            plan_version: c.plan_version,
            members_version: c.members_version,
            lease_end: c.lease_end.since_epoch(),
            owner: c.owner.clone(),
        }
    }

    pub fn block_record(id: u64, b: &Block) -> BlockRecord {
        BlockRecord {
            id,
            group: b.group.clone(),
            base: b.base,
            k: b.k,
            members: b.members.clone(),
            members_version: b.members_version,
            plan_version: b.plan_version,
            copies: b.copies.clone(),
            ranges: b.ranges.clone(),
            lease_end: b.lease_end.since_epoch(),
            owner: b.owner.clone(),
        }
    }

    pub fn claim_from(r: &ClaimRecord) -> Claim {
        Claim {
            group: r.group.clone(),
            addr: r.addr,
            members: r.members.clone(),
            copy: r.copy,
            plan_version: r.plan_version,
            members_version: r.members_version,
            lease_end: Time::from_duration(r.lease_end),
            owner: r.owner.clone(),
        }
    }

    pub fn block_from(r: &BlockRecord) -> Block {
        Block {
            group: r.group.clone(),
            base: r.base,
            k: r.k,
            members: r.members.clone(),
            members_version: r.members_version,
            plan_version: r.plan_version,
            copies: r.copies.clone(),
            ranges: r.ranges.clone(),
            lease_end: Time::from_duration(r.lease_end),
            owner: r.owner.clone(),
        }
    }
}

/// Every plan, the send lanes and the holds: the controller's rendezvous state.
#[derive(Clone, Debug, Default)]
pub struct Rendezvous {
    pub plans: BTreeMap<String, Plan>,
    /// Plan id → group name.
    pub names: BTreeMap<u32, String>,
    pub lanes: BTreeMap<Dpid, Lane>,
    pub holds: Holds,
    pub next_plan_id: u32,
    /// The last journal entry emitted (or restored).
    pub journal_seq: u64,
    /// A plan finished installing: the snapshot is taken on the next turn, so the
    /// `PlanChanged … Ready` event and the answers waiting for it are not held up by encoding
    /// every entry of the plan.
    pub persist_due: bool,
}

impl Rendezvous {
    /// A fresh plan id: never 0 (0 tags clean-up messages), never above [`MAX_PLAN_ID`].
    pub fn new_plan_id(&mut self) -> u32 {
        loop {
            self.next_plan_id = if self.next_plan_id >= MAX_PLAN_ID {
                1
            } else {
                self.next_plan_id + 1
            };
            if !self.names.contains_key(&self.next_plan_id) {
                return self.next_plan_id;
            }
        }
    }

    /// The next journal entry.
    pub fn journal(&mut self, op: JournalOp) -> JournalEntry {
        self.journal_seq += 1;
        JournalEntry {
            seq: self.journal_seq,
            op,
        }
    }

    /// Counts retired messages into their plans' progress. Returns the plans that have
    /// nothing outstanding any more.
    pub fn account(&mut self, dpid: Dpid, r: &Retired) -> Vec<String> {
        let mut idle = Vec::new();
        for (plan, n) in &r.per_plan {
            let Some(name) = self.names.get(plan) else {
                continue;
            };
            let Some(p) = self.plans.get_mut(name) else {
                continue;
            };
            p.progress.messages_done = p.progress.messages_done.saturating_add(*n);
            if let Some(o) = p.outstanding.get_mut(&dpid) {
                *o = o.saturating_sub(*n);
                if *o == 0 {
                    p.outstanding.remove(&dpid);
                }
            }
            if p.outstanding.is_empty() {
                idle.push(name.clone());
            }
        }
        idle
    }

    /// Queues a batch for a switch, counting it into `plan`'s progress.
    pub fn enqueue(&mut self, dpid: Dpid, batch: LaneBatch, plan: Option<&str>) {
        if batch.is_empty() {
            return;
        }
        if let Some(p) = plan.and_then(|n| self.plans.get_mut(n)) {
            let counted = [
                &batch.flow_deletes,
                &batch.group_deletes,
                &batch.group_mods,
                &batch.flow_adds,
            ]
            .iter()
            .flat_map(|v| v.iter())
            .filter(|q| q.plan == p.id)
            .count() as u64;
            if counted > 0 {
                p.progress.messages_total += counted;
                *p.outstanding.entry(dpid).or_insert(0) += counted;
                p.touched.insert(dpid);
            }
        }
        self.lanes.entry(dpid).or_default().push(batch);
    }

    /// Drops a plan's unsent adds everywhere (it failed or goes away); counts them done.
    pub fn drop_adds(&mut self, plan: u32) {
        let mut dropped: BTreeMap<Dpid, u64> = BTreeMap::new();
        for (d, lane) in &mut self.lanes {
            let n = lane.drop_adds(plan);
            if n > 0 {
                dropped.insert(*d, n);
            }
        }
        for (d, n) in dropped {
            let mut r = Retired::default();
            r.per_plan.insert(plan, n);
            self.account(d, &r);
        }
    }
}

/// Builds the messages that move one address's install from `old` to `new` buckets per
/// switch, allocating group ids with `alloc` (all or nothing is the caller's concern: it
/// checks the budget first). A switch that leaves the address but for which `keep` holds (a
/// switch that is away: it cannot be told, and it is reconciled to this state when it
/// returns) keeps its install. Returns the new per-switch install.
#[allow(clippy::too_many_arguments)]
pub fn diff_entry(
    addr: IpAddr,
    cookie: Cookie,
    plan: u32,
    old: Option<&BTreeMap<Dpid, InstalledSwitch>>,
    new: &BTreeMap<Dpid, Vec<PortNo>>,
    lanes: &mut BTreeMap<Dpid, LaneBatch>,
    mut alloc: impl FnMut(Dpid) -> Option<GroupId>,
    keep: impl Fn(Dpid) -> bool,
) -> Result<BTreeMap<Dpid, InstalledSwitch>, Dpid> {
    let mut out = BTreeMap::new();
    let q = |op: Op, release: Option<GroupId>| Queued {
        op,
        plan,
        addr,
        release,
    };
    for (dpid, ports) in new {
        match old.and_then(|o| o.get(dpid)) {
            Some(have) if &have.buckets == ports => {
                out.insert(*dpid, have.clone());
            }
            Some(have) => {
                let b = lanes.entry(*dpid).or_default();
                b.group_mods.push(q(
                    Op::GroupModify {
                        group: have.group,
                        ports: ports.clone(),
                    },
                    None,
                ));
                out.insert(
                    *dpid,
                    InstalledSwitch {
                        group: have.group,
                        buckets: ports.clone(),
                    },
                );
            }
            None => {
                let group = alloc(*dpid).ok_or(*dpid)?;
                let b = lanes.entry(*dpid).or_default();
                b.group_mods.push(q(
                    Op::GroupAdd {
                        group,
                        ports: ports.clone(),
                    },
                    None,
                ));
                b.flow_adds.push(q(Op::FlowAdd { group, cookie }, None));
                out.insert(
                    *dpid,
                    InstalledSwitch {
                        group,
                        buckets: ports.clone(),
                    },
                );
            }
        }
    }
    if let Some(old) = old {
        for (dpid, have) in old {
            if new.contains_key(dpid) {
                continue;
            }
            if keep(*dpid) {
                out.insert(*dpid, have.clone());
                continue;
            }
            let b = lanes.entry(*dpid).or_default();
            b.flow_deletes.push(q(Op::FlowDelete { cookie }, None));
            b.group_deletes
                .push(q(Op::GroupDelete { group: have.group }, Some(have.group)));
        }
    }
    Ok(out)
}

/// The messages that remove one address's install from every switch (tagged `plan`).
pub fn remove_entry(
    addr: IpAddr,
    cookie: Cookie,
    plan: u32,
    old: &BTreeMap<Dpid, InstalledSwitch>,
    lanes: &mut BTreeMap<Dpid, LaneBatch>,
) {
    // Infallible: nothing is allocated.
    let _ = diff_entry(
        addr,
        cookie,
        plan,
        Some(old),
        &BTreeMap::new(),
        lanes,
        |_| None,
        |_| false,
    );
}

/// The address range of a plan over `n` members: `(first, last)`, checked to stay multicast
/// and in `base`'s family.
pub fn plan_range(
    group: &str,
    spec: PlanSpec,
    n: usize,
) -> Result<((IpAddr, IpAddr), u64), RvError> {
    let k = spec.k as usize;
    if spec.k == 0 || k > n {
        return Err(RvError::KOutOfRange {
            group: group.to_owned(),
            k: spec.k,
            n,
        });
    }
    if spec.copies == 0 {
        return Err(RvError::NoCopies);
    }
    if !spec.base.is_multicast() {
        return Err(RvError::BadBase {
            base: spec.base,
            why: "not a multicast address".to_owned(),
        });
    }
    let count = rank::subset_count(n, k).map_err(|e| RvError::TooManyAddresses {
        group: group.to_owned(),
        addresses: match e {
            rank::RankError::TooMany { .. } => u128::MAX,
            _ => 0,
        },
        max: MAX_ADDRESSES,
    })?;
    let total = u128::from(count) * u128::from(spec.copies);
    if total > u128::from(MAX_ADDRESSES) {
        return Err(RvError::TooManyAddresses {
            group: group.to_owned(),
            addresses: total,
            max: MAX_ADDRESSES,
        });
    }
    let last = rank::offset_addr(spec.base, total - 1).map_err(|e| RvError::BadBase {
        base: spec.base,
        why: e.to_string(),
    })?;
    if !last.is_multicast() {
        return Err(RvError::BadBase {
            base: spec.base,
            why: format!("the range ends at {last}, outside the multicast addresses"),
        });
    }
    Ok(((spec.base, last), count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cookies_are_tagged() {
        assert!(is_plan_cookie(plan_cookie(7)));
        assert!(!is_plan_cookie(Cookie(7)));
        assert_eq!(plan_cookie(1).0, 0x7473_6d72_0000_0001);
        let f = flow_add(ip("239.2.0.1"), GroupId(5), plan_cookie(1));
        assert_eq!((f.hard_timeout, f.idle_timeout), (0, 0));
        assert_eq!(f.priority, RENDEZVOUS_PRIORITY);
        assert!(f.flags.is_empty());
    }

    #[test]
    fn plan_deletes_check_the_whole_cookie_and_ids_stay_below_bit_31() {
        let d = flow_delete(ip("239.2.0.1"), plan_cookie(9));
        assert_eq!(d.command, openflow::msg::FlowModCommand::DeleteStrict);
        assert_eq!(
            (d.cookie, d.cookie_mask),
            (plan_cookie(9), PLAN_DELETE_COOKIE_MASK)
        );
        assert_ne!(d.cookie_mask, u64::MAX, "Open vSwitch's O(plan) lookup");
        // Exact on plan cookies: two ids differ under the mask.
        for (a, b) in [(1, 2), (1, MAX_PLAN_ID), (0x4000_0000, 0x4000_0001)] {
            assert_ne!(
                plan_cookie(a).0 & PLAN_DELETE_COOKIE_MASK,
                plan_cookie(b).0 & PLAN_DELETE_COOKIE_MASK
            );
        }
        let mut rv = Rendezvous {
            next_plan_id: MAX_PLAN_ID - 1,
            ..Rendezvous::default()
        };
        rv.names.insert(1, "live".into());
        assert_eq!(rv.new_plan_id(), MAX_PLAN_ID);
        // Wraps to the lowest free id, skipping 0 and live ones.
        assert_eq!(rv.new_plan_id(), 2);
        // A restored counter above the range (an older build) comes back into it.
        rv.next_plan_id = u32::MAX;
        assert_eq!(rv.new_plan_id(), 2);
    }

    #[test]
    fn ranges_are_checked() {
        let spec = PlanSpec {
            k: 3,
            copies: 2,
            base: ip("239.2.0.0"),
        };
        let ((a, b), count) = plan_range("g", spec, 8).unwrap();
        assert_eq!((a, b, count), (ip("239.2.0.0"), ip("239.2.0.111"), 56));
        assert!(matches!(
            plan_range("g", PlanSpec { k: 9, ..spec }, 8),
            Err(RvError::KOutOfRange { k: 9, n: 8, .. })
        ));
        assert!(matches!(
            plan_range("g", PlanSpec { k: 0, ..spec }, 8),
            Err(RvError::KOutOfRange { .. })
        ));
        assert!(matches!(
            plan_range(
                "g",
                PlanSpec {
                    base: ip("10.0.0.1"),
                    ..spec
                },
                8
            ),
            Err(RvError::BadBase { .. })
        ));
        assert!(matches!(
            plan_range(
                "g",
                PlanSpec {
                    base: ip("239.255.255.200"),
                    ..spec
                },
                8
            ),
            Err(RvError::BadBase { .. })
        ));
        assert!(matches!(
            plan_range(
                "g",
                PlanSpec {
                    k: 20,
                    copies: 1,
                    ..spec
                },
                40
            ),
            Err(RvError::TooManyAddresses { .. })
        ));
    }

    fn q(plan: u32, n: u8) -> Queued {
        Queued {
            op: Op::FlowAdd {
                group: GroupId(1),
                cookie: plan_cookie(plan),
            },
            plan,
            addr: IpAddr::V4(Ipv4Addr::new(239, 2, 0, n)),
            release: None,
        }
    }

    #[test]
    fn lanes_chunk_at_fences_and_respect_the_window() {
        let mut lane = Lane::default();
        lane.push(LaneBatch {
            group_mods: (0..3).map(|i| q(1, i)).collect(),
            flow_adds: (0..3).map(|i| q(1, i)).collect(),
            ..LaneBatch::default()
        });
        let p1 = lane.prepare().unwrap();
        assert_eq!(p1.bodies.len(), 3, "a chunk never crosses a fence");
        lane.sent(p1, Xid(10), Xid(13));
        let p2 = lane.prepare().unwrap();
        assert_eq!(p2.bodies.len(), 3);
        lane.sent(p2, Xid(14), Xid(17));
        assert!(lane.prepare().is_none());
        assert_eq!(lane.attribute(Xid(15)).map(|a| a.1), Some(ip("239.2.0.1")));
        assert_eq!(lane.attribute(Xid(13)), None, "a barrier is no message");
        // The second barrier retires both chunks.
        let r = lane.on_barrier(Xid(17)).unwrap();
        assert_eq!(r.per_plan[&1], 6);
        assert!(lane.is_idle());
        assert!(lane.on_barrier(Xid(17)).is_none());

        lane.push(LaneBatch {
            flow_adds: (0..(WINDOW + 10)).map(|_| q(2, 1)).collect(),
            ..LaneBatch::default()
        });
        let mut xid = 100;
        let mut sent = 0;
        while let Some(p) = lane.prepare() {
            let n = p.bodies.len() as u32;
            assert!(n as usize <= BARRIER_EVERY);
            sent += n as usize;
            lane.sent(p, Xid(xid), Xid(xid + n));
            xid += n + 1;
        }
        assert!(sent <= WINDOW, "{sent} in flight");
        assert_eq!(lane.drop_adds(2), (WINDOW + 10 - sent) as u64);
        assert_eq!(lane.purge().per_plan[&2], sent as u64);
    }

    #[test]
    fn holds_are_exclusive_and_expire_in_order() {
        let mut h = Holds::default();
        let c = |addr: &str, end: u64| Claim {
            group: "g".into(),
            addr: ip(addr),
            members: vec![],
            copy: 0,
            plan_version: 1,
            members_version: 1,
            lease_end: Time::from_secs(end),
            owner: None,
        };
        let a = h.next_id();
        h.insert_claim(a, c("239.2.0.5", 10));
        let b = h.next_id();
        h.insert_block(
            b,
            Block {
                group: "g".into(),
                base: ip("239.2.0.0"),
                k: 3,
                members: vec![],
                members_version: 1,
                plan_version: 1,
                copies: vec![1],
                ranges: vec![(ip("239.2.0.56"), ip("239.2.0.111"))],
                lease_end: Time::from_secs(5),
                owner: None,
            },
        );
        assert!(h.is_held(ip("239.2.0.5")));
        assert!(h.is_held(ip("239.2.0.60")));
        assert!(!h.is_held(ip("239.2.0.6")));
        assert!(h.any_held((ip("239.2.0.0"), ip("239.2.0.55"))));
        assert!(!h.any_held((ip("239.2.0.6"), ip("239.2.0.55"))));
        assert_eq!(h.next_expiry(), Some(Time::from_secs(5)));
        assert_eq!(h.due(Time::from_secs(10)), vec![b, a]);
        assert!(h.renew(b, Time::from_secs(20)));
        assert_eq!(h.due(Time::from_secs(10)), vec![a]);
        assert!(h.remove_claim(a).is_some());
        assert!(!h.is_held(ip("239.2.0.5")));
        assert!(!h.renew(a, Time::from_secs(30)));
        assert_ne!(h.next_id(), a);
    }

    #[test]
    fn journal_entries_round_trip() {
        let e = JournalEntry {
            seq: 3,
            op: JournalOp::Renew {
                id: 9,
                lease_end: Duration::from_millis(1500),
            },
        };
        let text = serde_json::to_string(&e).unwrap();
        assert!(text.contains("\"op\":\"renew\""), "{text}");
        assert_eq!(serde_json::from_str::<JournalEntry>(&text).unwrap(), e);
    }

    #[test]
    fn owners_are_kept_and_old_records_have_none() {
        // A claim line and a block record as written before owners were kept.
        let old_claim = r#"{"seq":4,"op":"claim","claim":{"id":7,"group":"g",
            "addr":"239.2.0.5","members":["10.0.0.1","10.0.0.2"],"copy":0,
            "plan_version":1,"members_version":1,"lease_end":{"secs":90,"nanos":0}}}"#;
        let e: JournalEntry = serde_json::from_str(old_claim).unwrap();
        let JournalOp::Claim { claim } = &e.op else {
            panic!("{e:?}")
        };
        assert_eq!((claim.id, claim.owner.as_deref()), (7, None));
        assert_eq!(Holds::claim_from(claim).owner, None);
        let old_block = r#"{"id":8,"group":"g","base":"239.2.0.0","k":2,
            "members":["10.0.0.1","10.0.0.2"],"members_version":1,"plan_version":1,
            "copies":[1],"ranges":[["239.2.0.1","239.2.0.1"]],
            "lease_end":{"secs":90,"nanos":0}}"#;
        let b: BlockRecord = serde_json::from_str(old_block).unwrap();
        assert_eq!((b.id, b.owner.as_deref()), (8, None));
        // Without an owner nothing is written for it: old readers still read new records.
        assert!(!serde_json::to_string(&b).unwrap().contains("owner"));

        // With one, it survives the journal line and the snapshot record.
        let mut owned = claim.clone();
        owned.owner = Some("a".into());
        let e = JournalEntry {
            seq: 5,
            op: JournalOp::Claim {
                claim: owned.clone(),
            },
        };
        let text = serde_json::to_string(&e).unwrap();
        assert!(text.contains("\"owner\":\"a\""), "{text}");
        assert_eq!(serde_json::from_str::<JournalEntry>(&text).unwrap(), e);
        let live = Holds::claim_from(&owned);
        assert_eq!(live.owner.as_deref(), Some("a"));
        assert_eq!(Holds::claim_record(7, &live), owned);
        let mut b = b;
        b.owner = Some("a".into());
        let back: BlockRecord = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        assert_eq!(Holds::block_record(8, &Holds::block_from(&back)), b);
    }
}
