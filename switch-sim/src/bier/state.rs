//! The BIER state of one pipeline: installed BIFTs (as written and as compiled for
//! forwarding), local BFR-ids per sub-domain, BIFT_MOD transactions staged per channel, the
//! BIER→TSM cache and the counters.
//!
//! Guarantees: an installed table's wire form and its compiled form always describe the same
//! forwarding (both are replaced together, at a transaction's commit); read access only from
//! outside the crate.

use std::collections::BTreeMap;
use std::time::Duration;

use openflow::ext::bier::{BiftTable, BiftTxn, LocalBfr, TableKey, TableKind, TsmConfig};
use openflow::PortNo;

use super::counters::BierCounters;
use super::tsm::TsmState;
use super::BierConfig;
use crate::pipeline::Time;

/// A table compiled for forwarding.
#[derive(Clone, Debug)]
pub(crate) enum Fwd {
    /// RFC 8279.
    Bier(bier::Bift),
    /// RFC 9262, with the output ports of each local_decap bit (draft §6.1: a local_decap
    /// adjacency names the port the decapsulated payload leaves by).
    Te {
        table: bier::TeBift,
        decap: BTreeMap<u16, Vec<PortNo>>,
    },
}

/// One installed BIFT.
#[derive(Clone, Debug)]
pub struct InstalledTable {
    pub(crate) wire: BiftTable,
    pub(crate) fwd: Fwd,
}

impl InstalledTable {
    /// The table's BIFT-id, sub-domain, BSL and SI.
    pub fn key(&self) -> &TableKey {
        &self.wire.key
    }

    /// BIER or BIER-TE.
    pub fn kind(&self) -> TableKind {
        self.wire.kind()
    }

    /// The table as the controller wrote it (what BIFT_QUERY answers).
    pub fn wire(&self) -> &BiftTable {
        &self.wire
    }

    /// The compiled BIER table (`None` for BIER-TE).
    pub fn bift(&self) -> Option<&bier::Bift> {
        match &self.fwd {
            Fwd::Bier(t) => Some(t),
            Fwd::Te { .. } => None,
        }
    }
}

/// A local group the BIER→TSM cache installed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CachedGroup {
    /// The OpenFlow group id (in the TSM_CONFIG range).
    pub group_id: u32,
    /// The BIFT and BitString it stands for.
    pub bift_id: u32,
    pub bitstring: bier::BitString,
    /// Its buckets: output port and whether the payload is decapsulated there.
    pub ports: Vec<(PortNo, bool)>,
    /// When it was installed and last used.
    pub installed: Time,
    pub last_used: Time,
    /// Packets it forwarded.
    pub packets: u64,
}

impl CachedGroup {
    /// When it ages out if unused.
    pub fn deadline(&self, idle: Duration) -> Time {
        self.last_used + idle
    }
}

/// The BIER state of a pipeline.
#[derive(Debug)]
pub struct BierState {
    pub(crate) config: BierConfig,
    pub(crate) tables: BTreeMap<u32, InstalledTable>,
    pub(crate) bfrs: BTreeMap<u8, BTreeMap<u16, LocalBfr>>,
    pub(crate) txns: BTreeMap<u64, BiftTxn>,
    pub(crate) tsm: TsmState,
    pub(crate) counters: BierCounters,
    pub(crate) last_refusal: Option<String>,
}

impl BierState {
    pub(crate) fn new(config: BierConfig) -> BierState {
        BierState {
            config,
            tables: BTreeMap::new(),
            bfrs: BTreeMap::new(),
            txns: BTreeMap::new(),
            tsm: TsmState::default(),
            counters: BierCounters::default(),
            last_refusal: None,
        }
    }

    /// What the switch announces and enforces.
    pub fn config(&self) -> &BierConfig {
        &self.config
    }

    /// Every installed table, by BIFT-id.
    pub fn tables(&self) -> impl Iterator<Item = &InstalledTable> + '_ {
        self.tables.values()
    }

    /// The table with this BIFT-id.
    pub fn table(&self, bift_id: u32) -> Option<&InstalledTable> {
        self.tables.get(&bift_id)
    }

    /// The local BFR-ids of a sub-domain (BFR_MOD), by BFR-id.
    pub fn local_bfrs(&self, sub_domain: u8) -> impl Iterator<Item = &LocalBfr> + '_ {
        self.bfrs
            .get(&sub_domain)
            .into_iter()
            .flat_map(|m| m.values())
    }

    pub(crate) fn bfr(&self, sub_domain: u8, bfr_id: u16) -> Option<&LocalBfr> {
        self.bfrs.get(&sub_domain)?.get(&bfr_id)
    }

    /// The counters.
    pub fn counters(&self) -> &BierCounters {
        &self.counters
    }

    /// The TSM configuration in force (`TsmConfig::DISABLED` until a TSM_CONFIG).
    pub fn tsm_config(&self) -> &TsmConfig {
        self.tsm.config()
    }

    /// The local groups the BIER→TSM cache holds, by group id.
    pub fn cached_groups(&self) -> impl Iterator<Item = &CachedGroup> + '_ {
        self.tsm.groups()
    }

    /// BIFT_MOD transactions staged and not yet committed, over every channel.
    pub fn open_transactions(&self) -> usize {
        self.txns.values().map(BiftTxn::open).sum()
    }

    /// Why the last refused BIER message was refused (the error code alone goes to the
    /// controller; this says which field).
    pub fn last_refusal(&self) -> Option<&str> {
        self.last_refusal.as_deref()
    }
}
