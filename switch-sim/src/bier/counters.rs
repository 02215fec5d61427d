//! BIER counters of one switch: packets per BIFT (so per sub-domain and SI), copies and
//! deliveries per port, drops by reason, and the BIER→TSM cache's activity.
//!
//! Guarantees: counters only grow (until the pipeline is dropped); they change only when a
//! packet is processed for real (`Pipeline::process`, PACKET_OUT), never in `trace`; a table's
//! counters outlive the table (a BIFT_CLEAR does not reset them).

use std::collections::BTreeMap;

use openflow::ext::bier::Bsl;

/// Why (part of) a BIER packet was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum BierDrop {
    /// The frame ends inside its Ethernet header, or inside the BIER header (RFC 8296 §2.1.2).
    Truncated,
    /// The Nibble field is not 0101.
    WrongNibble,
    /// A BIER version other than 0.
    UnsupportedVersion,
    /// A BSL code RFC 8296 does not define.
    BadBsl,
    /// `bier_forward` or `bier_decap` on a frame whose EtherType is not 0xAB37.
    NotBier,
    /// No BIFT for the header's BIFT-id.
    UnknownBift,
    /// The BIFT has another BSL than the packet ("a BSL the BIFT does not have").
    BslMismatch,
    /// The packet arrived with TTL 0 (RFC 8296 §2.1.2).
    TtlZero,
    /// A copy whose TTL would have left at 0 (per copy).
    TtlExpired,
    /// A BitString with no bit set (RFC 8279 §6.5: nothing to do).
    EmptyBitString,
    /// Bits without a BIFT entry ("no BFR-NBR", RFC 8279 §6.5); counted per bit.
    UnknownBfrId,
    /// LOCAL_DECAP bits whose BFR-id has no BFR_MOD record (draft §8); counted per bit.
    NoBfrRecord,
    /// `bier_encap` on a frame that is not IPv4 or IPv6 (draft §10.1).
    EncapNotIp,
    /// Decapsulation of a packet whose Proto is neither IPv4 nor IPv6 (draft §10.2).
    DecapUnsupportedProto,
    /// A local delivery to the port the packet came in by (never sent back, like an ALL
    /// group's copy, OF1.3.5 §5.6.1).
    IngressPort,
    /// A local delivery to `OFPP_LOCAL` (this switch has no stack of its own).
    LocalPort,
    /// A BIER-TE forward_routed adjacency (not supported: no routing underlay).
    Routed,
    /// A BIER action on a pipeline without BIER, or one that no longer decodes.
    Disabled,
}

impl BierDrop {
    /// Every reason, in counter order.
    pub const ALL: [BierDrop; 18] = [
        BierDrop::Truncated,
        BierDrop::WrongNibble,
        BierDrop::UnsupportedVersion,
        BierDrop::BadBsl,
        BierDrop::NotBier,
        BierDrop::UnknownBift,
        BierDrop::BslMismatch,
        BierDrop::TtlZero,
        BierDrop::TtlExpired,
        BierDrop::EmptyBitString,
        BierDrop::UnknownBfrId,
        BierDrop::NoBfrRecord,
        BierDrop::EncapNotIp,
        BierDrop::DecapUnsupportedProto,
        BierDrop::IngressPort,
        BierDrop::LocalPort,
        BierDrop::Routed,
        BierDrop::Disabled,
    ];
}

impl From<&bier::HeaderError> for BierDrop {
    fn from(e: &bier::HeaderError) -> BierDrop {
        match e {
            bier::HeaderError::WrongNibble(_) => BierDrop::WrongNibble,
            bier::HeaderError::UnsupportedVersion(_) => BierDrop::UnsupportedVersion,
            bier::HeaderError::BadBsl(_) => BierDrop::BadBsl,
            _ => BierDrop::Truncated,
        }
    }
}

/// Packets one BIFT handled.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableCounters {
    /// The table's sub-domain, SI and BSL, and whether it is BIER-TE.
    pub sub_domain: u8,
    pub si: u16,
    pub bsl: Bsl,
    pub te: bool,
    /// Packets that reached the table (valid header, TTL ≥ 1, BSL matching).
    pub packets_in: u64,
    /// Copies sent to neighbours.
    pub copies_out: u64,
    /// Local deliveries (one per port a packet was delivered to).
    pub deliveries: u64,
    /// Packets forwarded by a BIER→TSM cached group instead of the table.
    pub cache_hits: u64,
}

/// BIER frames one port sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PortBierCounters {
    /// Copies to a neighbour (BIER frames).
    pub copies: u64,
    /// Local deliveries (decapsulated or not) by the BIFT.
    pub deliveries: u64,
}

/// What the BIER→TSM cache did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TsmCounters {
    /// Local groups installed.
    pub installed: u64,
    /// Local groups removed (idle, BIFT or BFR change, configuration, capacity).
    pub removed: u64,
    /// Packets forwarded by a local group.
    pub hits: u64,
    /// Installations refused: the TSM budget (`max_groups`) or the switch's group table full.
    pub refused: u64,
}

/// The BIER counters of one switch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BierCounters {
    /// Per BIFT-id.
    pub tables: BTreeMap<u32, TableCounters>,
    /// Per output port number.
    pub ports: BTreeMap<u32, PortBierCounters>,
    /// Packets encapsulated by `bier_encap` (this switch as BFIR).
    pub encapsulated: u64,
    /// Packets decapsulated by `bier_decap` (cached groups included).
    pub decapsulated: u64,
    /// Drops by reason (per bit for `UnknownBfrId` and `NoBfrRecord`, per copy for
    /// `TtlExpired`, per packet otherwise).
    pub drops: BTreeMap<BierDrop, u64>,
    /// The BIER→TSM cache.
    pub tsm: TsmCounters,
}

impl BierCounters {
    /// Drops for one reason.
    pub fn dropped(&self, r: BierDrop) -> u64 {
        self.drops.get(&r).copied().unwrap_or(0)
    }

    /// Drops for every reason.
    pub fn total_drops(&self) -> u64 {
        self.drops.values().sum()
    }

    /// (packets in, copies out, deliveries) summed over the BIFTs of one (sub-domain, SI).
    pub fn per_si(&self, sub_domain: u8, si: u16) -> (u64, u64, u64) {
        self.tables
            .values()
            .filter(|t| t.sub_domain == sub_domain && t.si == si)
            .fold((0, 0, 0), |(a, b, c), t| {
                (a + t.packets_in, b + t.copies_out, c + t.deliveries)
            })
    }

    /// Copies (to neighbours) a port sent.
    pub fn port_copies(&self, port: u32) -> u64 {
        self.ports.get(&port).map_or(0, |p| p.copies)
    }

    /// Local deliveries a port sent.
    pub fn port_deliveries(&self, port: u32) -> u64 {
        self.ports.get(&port).map_or(0, |p| p.deliveries)
    }

    /// Copies over every port.
    pub fn total_copies(&self) -> u64 {
        self.ports.values().map(|p| p.copies).sum()
    }

    pub(crate) fn drop(&mut self, r: BierDrop, n: u64) {
        if n > 0 {
            *self.drops.entry(r).or_insert(0) += n;
        }
    }
}
