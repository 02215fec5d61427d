//! The ordered event stream: membership, subset, switch and link changes, each with a
//! sequence number one higher than the one before (the API's server-sent events), so a reader
//! sees every change in one order and can tell when it missed one.

use std::net::IpAddr;

use openflow::error_msg::ErrorCode;
use openflow::oxm::MacAddr;

use crate::reconcile::Summary;
use crate::time::Time;
use crate::topology::{Dpid, Endpoint, Link};

/// One change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Increases by one per event. After a restore it continues from the snapshot's value;
    /// [`EventKind::Restored`] comes first, so a reader knows to resynchronise.
    pub seq: u64,
    pub at: Time,
    pub kind: EventKind,
}

/// Why a subset went away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemovalReason {
    Deleted,
    Expired,
    GroupDeleted,
    /// Every member of a snooped group's subset left the group.
    MembersLeft,
}

/// What changed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// The controller was restored from a snapshot.
    Restored,
    /// The switch connected and was reconciled (what changed on it is summarised).
    SwitchUp {
        dpid: Dpid,
        reconciled: Summary,
    },
    SwitchDown {
        dpid: Dpid,
        reason: &'static str,
    },
    PortUp {
        at: Endpoint,
    },
    PortDown {
        at: Endpoint,
    },
    LinkUp {
        link: Link,
    },
    LinkDown {
        link: Link,
    },
    HostAdded {
        mac: MacAddr,
        at: Endpoint,
        ips: Vec<IpAddr>,
    },
    HostMoved {
        mac: MacAddr,
        from: Endpoint,
        to: Endpoint,
    },
    HostAddrs {
        mac: MacAddr,
        ips: Vec<IpAddr>,
    },
    HostRemoved {
        mac: MacAddr,
    },
    GroupPut {
        name: String,
        addr: IpAddr,
        members: Vec<IpAddr>,
    },
    GroupDeleted {
        name: String,
    },
    /// A snooped group's members changed (IGMP / MLD joins, leaves, timeouts).
    GroupMembers {
        name: String,
        addr: IpAddr,
        joined: Vec<IpAddr>,
        left: Vec<IpAddr>,
        /// Every member now, in address order.
        members: Vec<IpAddr>,
    },
    SubsetReady {
        addr: IpAddr,
        group: String,
        trace_id: u64,
    },
    SubsetRemoved {
        addr: IpAddr,
        reason: RemovalReason,
    },
    /// A recompute moved the subset's rules (new tree after a fabric change).
    SubsetRerouted {
        addr: IpAddr,
    },
    /// A recompute found no plan; the old rules stay.
    SubsetDegraded {
        addr: IpAddr,
        why: String,
    },
    /// A switch refused a message that was not part of a subset install (an update, a
    /// removal, reconciliation).
    SwitchError {
        dpid: Dpid,
        code: ErrorCode,
    },
    /// A rendezvous plan was put, re-planned (new `version`), rerouted, became ready, failed
    /// or went over budget.
    PlanChanged {
        group: String,
        version: u64,
        members_version: u64,
        state: crate::rendezvous::PlanStatus,
    },
    PlanDeleted {
        group: String,
    },
    ClaimTaken {
        id: u64,
        group: String,
        addr: IpAddr,
        members_version: u64,
    },
    ClaimRenewed {
        id: u64,
        expires_at: Time,
    },
    ClaimEnded {
        id: u64,
        group: String,
        addr: IpAddr,
        reason: crate::rendezvous::LeaseEnd,
    },
    BlockTaken {
        id: u64,
        group: String,
        copies: Vec<u32>,
    },
    BlockRenewed {
        id: u64,
        expires_at: Time,
    },
    BlockEnded {
        id: u64,
        group: String,
        reason: crate::rendezvous::LeaseEnd,
    },
}
