//! Commands the controller takes (from the API, through the shell), their answers, and the
//! views the API's queries read.
//!
//! Guarantees: a command that fails validation changes nothing (no address taken, no group id,
//! no message sent); every failure is a typed [`CommandError`] naming the culprit.

use std::net::IpAddr;
use std::time::Duration;

use openflow::error_msg::ErrorCode;
use openflow::msg::Capabilities;
use openflow::oxm::MacAddr;
use openflow::PortNo;

use crate::plan::PlanError;
use crate::time::Time;
use crate::topology::{Dpid, Endpoint};

/// The shell's id of a command; its answer carries it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// A command.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// Create or replace negotiating group `name`: a multicast address and its members by IP.
    PutGroup {
        name: String,
        addr: IpAddr,
        members: Vec<IpAddr>,
    },
    /// Delete a group (and every subset of it).
    DeleteGroup { name: String },
    /// Create or replace group `name` whose members are the hosts that joined `addr`
    /// (IGMP / MLD snooping); they follow joins and leaves from then on.
    PutSnoopedGroup { name: String, addr: IpAddr },
    /// Create a subset of `group` for `lease`; answered when every switch has it.
    CreateSubset {
        group: String,
        members: Vec<IpAddr>,
        lease: Duration,
        /// The transaction's trace id (the flows' cookie); one is made when absent.
        trace_id: Option<u64>,
        /// Who creates it (a bearer token's name); kept with the subset.
        owner: Option<String>,
    },
    /// Delete the subset with this address; answered when every switch removed it.
    DeleteSubset { addr: IpAddr },
    /// BIER: header fields and BFIR leases (`bier_state`).
    Bier(crate::machine::bier_state::BierCommand),
    /// Rendezvous plans, claims and blocks (`rendezvous`).
    Rendezvous(crate::rendezvous::RvCommand),
}

/// A successful command's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    Group(GroupInfo),
    GroupDeleted {
        name: String,
    },
    /// The subset is ready: every switch on its tree acknowledged its barrier.
    Subset(SubsetInfo),
    SubsetDeleted {
        addr: IpAddr,
    },
    Bier(crate::machine::bier_state::BierReply),
    Rendezvous(crate::rendezvous::RvReply),
}

/// Why a command failed. Nothing stays changed or installed after any of these.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    #[error("unknown group {name:?}")]
    UnknownGroup { name: String },
    #[error("group name {name:?} is not 1-64 characters of letters, digits, '.', '_', '-'")]
    BadGroupName { name: String },
    #[error("{addr} is not a multicast address")]
    NotMulticast { addr: IpAddr },
    #[error("group address {addr} lies in the subset address pool")]
    AddrInPool { addr: IpAddr },
    #[error("address {addr} is already group {by:?}'s")]
    AddrInUse { addr: IpAddr, by: String },
    #[error("{ip} cannot be a member (not a unicast host address)")]
    BadMember { ip: IpAddr },
    #[error("group {name:?} has live subset {subset}: {what}")]
    GroupInUse {
        name: String,
        subset: IpAddr,
        what: &'static str,
    },
    #[error("a subset needs at least one member")]
    EmptySubset,
    #[error("{ip} is not a member of group {group:?}")]
    NotAMember { group: String, ip: IpAddr },
    #[error("no known host has address {ip}")]
    UnknownHost { ip: IpAddr },
    #[error("a lease of zero is not a lease")]
    ZeroLease,
    #[error("lease {lease:?} is longer than the maximum {max:?}")]
    LeaseTooLong { lease: Duration, max: Duration },
    #[error("trace id {trace_id:#x} is reserved (0 and all-ones cannot be flow cookies)")]
    BadTraceId { trace_id: u64 },
    #[error("trace id {trace_id:#x} is already used by subset {by}")]
    TraceIdInUse { trace_id: u64, by: IpAddr },
    #[error("the {family} subset address pool is exhausted (or not configured)")]
    PoolExhausted { family: &'static str },
    #[error("group {group:?} has no tree: no switch is connected")]
    NoFabric { group: String },
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("switch {dpid} has no free group id left")]
    GroupIdsExhausted { dpid: Dpid },
    #[error("switch {dpid} refused: {code}")]
    SwitchRefused { dpid: Dpid, code: ErrorCode },
    #[error("switch {dpid} disconnected during the install")]
    SwitchDisconnected { dpid: Dpid },
    #[error("no subset has address {addr}")]
    UnknownSubset { addr: IpAddr },
    #[error("the lease ended before every switch acknowledged the install")]
    LeaseEnded,
    #[error("the subset was deleted before it was ready")]
    Cancelled,
    #[error("group {name:?} cannot be snooped: IGMP / MLD snooping is disabled")]
    SnoopingDisabled { name: String },
    #[error(transparent)]
    Bier(#[from] crate::machine::bier_state::BierCommandError),
    #[error(transparent)]
    Rendezvous(#[from] crate::rendezvous::RvError),
}

/// A negotiating group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    pub name: String,
    pub addr: IpAddr,
    /// In address order.
    pub members: Vec<IpAddr>,
    /// Membership version: 1 at creation, +1 per change of `members`.
    pub version: u64,
    /// Members follow IGMP / MLD snooping.
    pub snooped: bool,
}

/// Whether a subset can be used yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubsetState {
    /// Sent, waiting for barriers.
    Installing,
    /// Every switch acknowledged.
    Ready,
}

/// A subset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubsetInfo {
    pub addr: IpAddr,
    pub group: String,
    /// In address order.
    pub members: Vec<IpAddr>,
    /// The lease as asked (`expires_at` is when it ends).
    pub lease: Duration,
    pub expires_at: Time,
    /// The switches that carry its rules, in dpid order.
    pub switches: Vec<Dpid>,
    pub trace_id: u64,
    pub state: SubsetState,
    /// The last recompute could not plan it on the current fabric (a member unreachable):
    /// its previous rules are kept until the fabric allows a plan again.
    pub degraded: bool,
    /// Who created it (`Command::CreateSubset::owner`).
    pub owner: Option<String>,
}

/// A switch port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortInfo {
    pub port: PortNo,
    pub name: String,
    pub hw_addr: MacAddr,
    pub up: bool,
}

/// A switch the controller knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwitchInfo {
    pub dpid: Dpid,
    /// Connected and reconciled (its rules are managed).
    pub connected: bool,
    /// When the current (or last) connection became ready.
    pub connected_since: Option<Time>,
    pub ports: Vec<PortInfo>,
    pub capabilities: Capabilities,
    pub n_tables: u8,
    /// `max_groups` for ALL groups from `OFPMP_GROUP_FEATURES`, when the switch answered.
    pub max_groups: Option<u32>,
    /// BIER-capable on its current connection (answered CAPS_REPLY, draft §5).
    pub bier: bool,
}

/// A link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    pub a: Endpoint,
    pub b: Endpoint,
    pub live: bool,
}

/// A host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostInfo {
    pub mac: MacAddr,
    /// In address order.
    pub ips: Vec<IpAddr>,
    pub dpid: Dpid,
    pub port: PortNo,
}
