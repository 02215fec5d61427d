//! BIER in the switch model: the control plane of `drafts/bier-openflow.md` (our OpenFlow
//! experimenter extension, `openflow::ext::bier`) and the data plane of RFC 8279 (BIER),
//! RFC 8296 (its non-MPLS encapsulation, EtherType 0xAB37) and RFC 9262 (BIER-TE), built on
//! the `bier` crate, plus the BIER→TSM step (draft §9).
//!
//! How it plugs into the [`Pipeline`](crate::Pipeline): every pipeline whose
//! [`Config::bier`](crate::Config::bier) is `Some` (the default) is a BFR.
//! - Controller messages with our experimenter id go to [`control`]: CAPS_REQUEST is
//!   answered; BIFT_MOD (multi-part transactions per channel, applied in one step at the
//!   commit), BIFT_CLEAR, BFR_MOD and TSM_CONFIG change state; BIFT_QUERY and BFR_QUERY are
//!   answered with replies split under 64 KiB. Refusals are `OFPT_ERROR`s with the draft's
//!   `OFPET_EXPERIMENTER` codes (or the standard ones the draft names) and change nothing.
//! - The experimenter actions `bier_encap`, `bier_decap` and `bier_forward` are checked when a
//!   flow, group or PACKET_OUT is installed and executed by [`dataplane`] when a packet runs.
//! - [`BierCounters`] count packets per BIFT, copies and deliveries per port, and drops by
//!   [`BierDrop`] reason; `Pipeline::bier_counters` and the switch's `Counters::bier` show them.
//! - [`tsm`]: a last-hop switch that sees the same (BIFT-id, BitString) `threshold` times
//!   within `window_ms` installs a local ALL group for it, forwards further such packets by
//!   the group, and removes it after `idle_timeout_ms` without use.
//!
//! Guarantees: nothing here panics on any message or packet; a bad packet is counted under a
//! [`BierDrop`] and no copy of it leaves the switch; `Pipeline::trace` stays pure (BIER counters
//! and the TSM cache change only in `process`); a BIFT is replaced in one step, so a packet is
//! forwarded by the old table or the new one, never by a mix; a cached group delivers exactly
//! what the BIFT would have (it is built from the BIFT's own decision and dropped on any change
//! to the BIFT, the BFR table or the TSM configuration).

pub mod control;
pub mod convert;
mod counters;
pub(crate) mod dataplane;
mod state;
pub mod tsm;

use std::collections::BTreeSet;

use openflow::ext::bier::{BierMessage, BierType, Bsl, EXPERIMENTER_ID};
use openflow::Experimenter;

pub use counters::{BierCounters, BierDrop, PortBierCounters, TableCounters, TsmCounters};
pub use state::{BierState, CachedGroup, InstalledTable};

/// What a BIER-capable pipeline announces in CAPS_REPLY (draft §5.2) and enforces.
///
/// Construct with `BierConfig::default()` and change fields: the struct may grow.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BierConfig {
    /// BitString lengths accepted in BIFTs and `bier_encap`.
    pub bsls: BTreeSet<Bsl>,
    /// Highest Set Identifier of a BIFT.
    pub max_si: u16,
    /// Most BIFTs at once (`TABLE_FULL` past it).
    pub max_bifts: u32,
    /// Most local BFR-ids per sub-domain (`TABLE_FULL` past it).
    pub max_local_bfrs: u16,
    /// Most next hops (BIER) or ECMP members (BIER-TE) per entry (`BAD_ENTRY` past it).
    pub max_ecmp: u8,
    /// Sub-domains accepted (`UNSUPPORTED_SUB_DOMAIN` for others).
    pub sub_domains: BTreeSet<u8>,
    /// BIER-TE tables (`TE_UNSUPPORTED` when off).
    pub te: bool,
    /// The BIER→TSM cache (`BAD_TSM_CONFIG` for an enabling TSM_CONFIG when off).
    pub tsm: bool,
}

impl Default for BierConfig {
    /// Every RFC 8296 BSL (64…4096), SIs up to 1023 (BFR-id 65535 at BSL 64), 1024 BIFTs,
    /// 4096 local BFR-ids per sub-domain, ECMP up to 16, sub-domains 0…15, BIER-TE and TSM on.
    fn default() -> Self {
        BierConfig {
            bsls: Bsl::ALL.into_iter().collect(),
            max_si: 1023,
            max_bifts: 1024,
            max_local_bfrs: 4096,
            max_ecmp: 16,
            sub_domains: (0..16).collect(),
            te: true,
            tsm: true,
        }
    }
}

/// Whether an `OFPT_EXPERIMENTER` message is one of ours that changes switch state (BIFT_MOD,
/// BIFT_CLEAR, BFR_MOD, TSM_CONFIG): a SLAVE controller is refused these (draft §4).
pub fn is_state_changing(e: &Experimenter) -> bool {
    e.experimenter == EXPERIMENTER_ID
        && matches!(
            BierType::from(e.exp_type),
            BierType::BiftMod | BierType::BiftClear | BierType::BfrMod | BierType::TsmConfig
        )
}

/// Whether an `OFPT_EXPERIMENTER` message is a TSM_EVENT (an asynchronous message the switch
/// sends to every controller).
pub fn is_tsm_event(e: &Experimenter) -> bool {
    e.experimenter == EXPERIMENTER_ID && BierType::from(e.exp_type) == BierType::TsmEvent
}

/// Decodes one of our messages from an experimenter body (`None` for another experimenter's).
pub fn decode(e: &Experimenter) -> Option<Result<BierMessage, openflow::DecodeError>> {
    BierMessage::from_experimenter(e)
}

/// The `bier` crate's BSL for a wire BSL (the codes are the same, RFC 8296 §2.1.2).
pub(crate) fn bsl_of(b: Bsl) -> bier::Bsl {
    match b {
        Bsl::B64 => bier::Bsl::B64,
        Bsl::B128 => bier::Bsl::B128,
        Bsl::B256 => bier::Bsl::B256,
        Bsl::B512 => bier::Bsl::B512,
        Bsl::B1024 => bier::Bsl::B1024,
        Bsl::B2048 => bier::Bsl::B2048,
        Bsl::B4096 => bier::Bsl::B4096,
    }
}

/// The wire BSL for a `bier` crate BSL.
pub(crate) fn wire_bsl(b: bier::Bsl) -> Bsl {
    match b {
        bier::Bsl::B64 => Bsl::B64,
        bier::Bsl::B128 => Bsl::B128,
        bier::Bsl::B256 => Bsl::B256,
        bier::Bsl::B512 => Bsl::B512,
        bier::Bsl::B1024 => Bsl::B1024,
        bier::Bsl::B2048 => Bsl::B2048,
        bier::Bsl::B4096 => Bsl::B4096,
    }
}
