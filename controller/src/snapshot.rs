//! The durable state: what must survive a restart of the controller (groups, live subsets
//! with their absolute lease ends and per-switch group ids, the address allocations they
//! imply, trace ids, the event sequence). Serde data; the shell picks the format and the
//! store. Topology is not in it: it is rediscovered.
//!
//! Guarantees: [`crate::Controller::restore`] either accepts a snapshot whole or refuses it
//! with a [`RestoreError`] naming what is inconsistent; a snapshot taken and restored gives
//! the same groups, subsets, addresses and group ids.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The format version of [`Snapshot`].
pub const SNAPSHOT_VERSION: u32 = 1;

/// Everything durable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    /// The next event's sequence number.
    pub next_seq: u64,
    /// The counter trace ids are made from.
    pub trace_counter: u64,
    pub groups: Vec<GroupRecord>,
    pub subsets: Vec<SubsetRecord>,
    /// BFR-ids and BIER leases (absent in snapshots from before BIER: none).
    #[serde(default)]
    pub bier: crate::machine::bier_state::BierSnapshot,
    /// Rendezvous plans, claims and blocks (absent in older snapshots: none).
    #[serde(default)]
    pub rendezvous: crate::rendezvous::RendezvousRecord,
}

/// A negotiating group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    pub name: String,
    pub addr: IpAddr,
    pub members: Vec<IpAddr>,
    /// Members follow IGMP / MLD snooping (absent in older snapshots: no).
    #[serde(default)]
    pub snooped: bool,
    /// Membership version (absent in older snapshots: 0, read as 1).
    #[serde(default)]
    pub version: u64,
}

/// A ready subset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubsetRecord {
    pub addr: IpAddr,
    pub group: String,
    pub members: Vec<IpAddr>,
    /// The lease as asked.
    pub lease: Duration,
    /// When it ends, on the controller's clock (since the shell's epoch).
    pub lease_end: Duration,
    pub trace_id: u64,
    pub switches: Vec<InstalledRecord>,
    /// Who created it (absent in older snapshots and without tokens: nobody).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// One switch's part of a subset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledRecord {
    pub dpid: u64,
    pub group_id: u32,
    pub ports: Vec<u32>,
}

/// Why a snapshot was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    #[error("snapshot version {0} is not {SNAPSHOT_VERSION}")]
    Version(u32),
    #[error("configuration: {0}")]
    Config(#[from] crate::machine::ConfigError),
    #[error("group {name:?}: {why}")]
    Group { name: String, why: String },
    #[error("subset {addr}: {why}")]
    Subset { addr: IpAddr, why: String },
    #[error("rendezvous plan of group {group:?}: {why}")]
    Rendezvous { group: String, why: String },
}
