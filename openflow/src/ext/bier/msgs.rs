//! The fixed-layout messages of the extension: capability query (draft §5), local BFR-ids and
//! BFER ports (§8), BIER→TSM caching (§9).
//!
//! Guarantees: flags and masks keep bits this codec does not name, so they round-trip; lists
//! are read exactly as their counts say.

use std::collections::BTreeSet;

use bitflags::bitflags;

use super::{check_bits, check_count, emit_bits, BierError, Bsl};
use crate::error::DecodeError;
use crate::macros::open_enum;
use crate::types::{GroupId, PortNo};
use crate::wire::{pad8, round8, Reader, Wire, Writer};

/// CAPS_REQUEST (draft §5.1): the controller asks whether, and how, a switch does BIER.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CapsRequest {
    /// Highest extension version the controller speaks.
    pub version: u8,
}

impl Default for CapsRequest {
    fn default() -> CapsRequest {
        CapsRequest {
            version: super::EXT_VERSION,
        }
    }
}

impl CapsRequest {
    /// Version 0 does not exist.
    pub fn validate(&self) -> Result<(), BierError> {
        if self.version == 0 {
            Err(BierError::BadExtVersion)
        } else {
            Ok(())
        }
    }
}

impl Wire for CapsRequest {
    fn wire_len(&self) -> usize {
        8
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u8(self.version);
        w.zeros(7);
    }

    fn parse(r: &mut Reader<'_>) -> Result<CapsRequest, DecodeError> {
        let version = r.u8()?;
        r.skip(7)?;
        Ok(CapsRequest { version })
    }
}

bitflags! {
    /// CAPS_REPLY `capabilities` (draft §5.2). Unnamed bits are kept.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Capabilities: u16 {
        /// RFC 8279 forwarding by BIFT.
        const BIER = 0x0001;
        /// RFC 9262 BIER-TE forwarding.
        const BIER_TE = 0x0002;
        /// Entries with ECMP alternatives.
        const ECMP = 0x0004;
        /// The bier_encap action (a BFIR).
        const ENCAP = 0x0008;
        /// The bier_decap action and BFER ports.
        const DECAP = 0x0010;
        /// BIER→TSM caching.
        const TSM = 0x0020;
        /// BIER-TE forward_routed adjacencies.
        const TE_ROUTED = 0x0040;
    }
}

/// CAPS_REPLY `bsls`: bit c set ⇔ BSL code c supported. Other bits are kept as received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BslSet(pub u16);

impl BslSet {
    /// The set of these BSLs.
    pub fn of(bsls: impl IntoIterator<Item = Bsl>) -> BslSet {
        BslSet(bsls.into_iter().fold(0, |m, b| m | 1 << b.code()))
    }

    /// Whether `bsl` is in the set.
    pub fn contains(self, bsl: Bsl) -> bool {
        self.0 >> bsl.code() & 1 == 1
    }

    /// The BSLs in the set, shortest first.
    pub fn iter(self) -> impl Iterator<Item = Bsl> {
        Bsl::ALL.into_iter().filter(move |b| self.contains(*b))
    }
}

/// CAPS_REPLY (draft §5.2): what a BIER-capable switch can do.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CapsReply {
    /// The extension version both sides use.
    pub version: u8,
    /// Most next hops / ECMP members per entry.
    pub max_ecmp: u8,
    /// What the switch does.
    pub capabilities: Capabilities,
    /// BSLs supported.
    pub bsls: BslSet,
    /// Highest SI.
    pub max_si: u16,
    /// How many BIFTs it holds.
    pub max_bifts: u32,
    /// How many local BFR-ids per sub-domain it holds.
    pub max_local_bfrs: u16,
    /// Sub-domains supported.
    pub sub_domains: Vec<u8>,
}

impl CapsReply {
    fn count(&self) -> usize {
        self.sub_domains.len().min(usize::from(u16::MAX))
    }
}

impl Wire for CapsReply {
    fn wire_len(&self) -> usize {
        16 + round8(self.count())
    }

    fn emit(&self, w: &mut Writer<'_>) {
        let n = self.count();
        w.u8(self.version);
        w.u8(self.max_ecmp);
        w.u16(self.capabilities.bits());
        w.u16(self.bsls.0);
        w.u16(self.max_si);
        w.u32(self.max_bifts);
        w.u16(self.max_local_bfrs);
        // n ≤ 65535 by `count`.
        w.u16(n as u16);
        w.bytes(self.sub_domains.get(..n).unwrap_or_default());
        w.zeros(pad8(n));
    }

    fn parse(r: &mut Reader<'_>) -> Result<CapsReply, DecodeError> {
        let version = r.u8()?;
        let max_ecmp = r.u8()?;
        let capabilities = Capabilities::from_bits_retain(r.u16()?);
        let bsls = BslSet(r.u16()?);
        let max_si = r.u16()?;
        let max_bifts = r.u32()?;
        let max_local_bfrs = r.u16()?;
        let n = usize::from(r.u16()?);
        let sub_domains = r.bytes(n)?.to_vec();
        r.skip(pad8(n))?;
        Ok(CapsReply {
            version,
            max_ecmp,
            capabilities,
            bsls,
            max_si,
            max_bifts,
            max_local_bfrs,
            sub_domains,
        })
    }
}

open_enum! {
    /// BFR_MOD `command` (draft §8.1).
    pub enum BfrCommand: u8 {
        /// The sub-domain's records become exactly these.
        Replace = 1,
        /// Add or overwrite these BFR-ids.
        Add = 2,
        /// Remove these BFR-ids.
        Delete = 3,
    }
}

const FLAG_DECAP: u16 = 0x0001;
const FLAG_MORE: u16 = 0x0001;
const FLAG_ANY_SUB_DOMAIN: u16 = 0x0001;

/// `ofp_bier_local_bfr` (draft §8): a BFR-id this switch delivers, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalBfr {
    /// The BFR-id, 1…65535.
    pub bfr_id: u16,
    /// DECAP: strip the Ethernet+BIER encapsulation before output.
    pub decap: bool,
    /// Output port (`OFPP_LOCAL`, `OFPP_CONTROLLER` allowed).
    pub port: PortNo,
}

impl LocalBfr {
    fn emit(&self, w: &mut Writer<'_>) {
        w.u16(self.bfr_id);
        w.u16(if self.decap { FLAG_DECAP } else { 0 });
        w.u32(self.port.0);
    }

    fn parse(r: &mut Reader<'_>) -> Result<LocalBfr, DecodeError> {
        Ok(LocalBfr {
            bfr_id: r.u16()?,
            decap: r.u16()? & FLAG_DECAP != 0,
            port: PortNo(r.u32()?),
        })
    }
}

fn bfr_count(bfrs: &[LocalBfr]) -> usize {
    bfrs.len().min(usize::from(u16::MAX))
}

fn emit_bfrs(bfrs: &[LocalBfr], w: &mut Writer<'_>) {
    for b in bfrs.iter().take(bfr_count(bfrs)) {
        b.emit(w);
    }
}

fn parse_bfrs(n: usize, r: &mut Reader<'_>) -> Result<Vec<LocalBfr>, DecodeError> {
    let mut out = Vec::with_capacity(n.min(r.remaining() / 8));
    for _ in 0..n {
        out.push(LocalBfr::parse(r)?);
    }
    Ok(out)
}

/// BFR-ids are 1…65535, listed once, and leave by a real or an allowed reserved port.
pub(crate) fn validate_bfrs(bfrs: &[LocalBfr]) -> Result<(), BierError> {
    check_count("local BFR-ids", bfrs.len(), usize::from(u16::MAX))?;
    let mut seen = BTreeSet::new();
    for b in bfrs {
        let bad = |why| {
            Err(BierError::BadBfrId {
                bfr_id: b.bfr_id,
                why,
            })
        };
        if b.bfr_id == 0 {
            return bad("BFR-id 0 is invalid (RFC 8279 §3)");
        }
        if !seen.insert(b.bfr_id) {
            return bad("listed twice");
        }
        let port = b.port;
        if port > PortNo::MAX && port != PortNo::LOCAL && port != PortNo::CONTROLLER {
            return bad("a reserved port other than LOCAL or CONTROLLER");
        }
        if port == PortNo(0) {
            return bad("port 0");
        }
    }
    Ok(())
}

/// BFR_MOD (draft §8.1): sets the BFR-ids a switch owns in a sub-domain.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BfrMod {
    /// REPLACE, ADD or DELETE.
    pub command: BfrCommand,
    /// The sub-domain.
    pub sub_domain: u8,
    /// The records.
    pub bfrs: Vec<LocalBfr>,
}

impl BfrMod {
    /// Records valid (for DELETE only the BFR-ids matter), and a known command.
    pub fn validate(&self) -> Result<(), BierError> {
        match self.command {
            BfrCommand::Delete => {
                let ids: Vec<LocalBfr> = self
                    .bfrs
                    .iter()
                    .map(|b| LocalBfr {
                        port: PortNo(1),
                        ..*b
                    })
                    .collect();
                validate_bfrs(&ids)
            }
            BfrCommand::Replace | BfrCommand::Add => validate_bfrs(&self.bfrs),
            BfrCommand::Other(_) => Err(BierError::BadBfrId {
                bfr_id: 0,
                why: "unknown BFR_MOD command",
            }),
        }
    }
}

impl Wire for BfrMod {
    fn wire_len(&self) -> usize {
        8 + 8 * bfr_count(&self.bfrs)
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u8(self.command.value());
        w.u8(self.sub_domain);
        // ≤ 65535 by `bfr_count`.
        w.u16(bfr_count(&self.bfrs) as u16);
        w.zeros(4);
        emit_bfrs(&self.bfrs, w);
    }

    fn parse(r: &mut Reader<'_>) -> Result<BfrMod, DecodeError> {
        let command = BfrCommand::from(r.u8()?);
        let sub_domain = r.u8()?;
        let n = usize::from(r.u16()?);
        r.skip(4)?;
        Ok(BfrMod {
            command,
            sub_domain,
            bfrs: parse_bfrs(n, r)?,
        })
    }
}

/// BFR_QUERY (draft §8.2): `None` asks for every sub-domain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BfrQuery {
    /// The sub-domain, or any.
    pub sub_domain: Option<u8>,
}

impl Wire for BfrQuery {
    fn wire_len(&self) -> usize {
        8
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u8(self.sub_domain.unwrap_or(0));
        w.zeros(1);
        w.u16(if self.sub_domain.is_none() {
            FLAG_ANY_SUB_DOMAIN
        } else {
            0
        });
        w.zeros(4);
    }

    fn parse(r: &mut Reader<'_>) -> Result<BfrQuery, DecodeError> {
        let sd = r.u8()?;
        r.skip(1)?;
        let flags = r.u16()?;
        r.skip(4)?;
        Ok(BfrQuery {
            sub_domain: (flags & FLAG_ANY_SUB_DOMAIN == 0).then_some(sd),
        })
    }
}

/// BFR_REPLY (draft §8.3): one sub-domain's records (or part of them).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BfrReply {
    /// MORE: messages of this reply follow.
    pub more: bool,
    /// The sub-domain.
    pub sub_domain: u8,
    /// The records.
    pub bfrs: Vec<LocalBfr>,
}

impl Wire for BfrReply {
    fn wire_len(&self) -> usize {
        8 + 8 * bfr_count(&self.bfrs)
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u16(if self.more { FLAG_MORE } else { 0 });
        w.u8(self.sub_domain);
        w.zeros(1);
        // ≤ 65535 by `bfr_count`.
        w.u16(bfr_count(&self.bfrs) as u16);
        w.zeros(2);
        emit_bfrs(&self.bfrs, w);
    }

    fn parse(r: &mut Reader<'_>) -> Result<BfrReply, DecodeError> {
        let more = r.u16()? & FLAG_MORE != 0;
        let sub_domain = r.u8()?;
        r.skip(1)?;
        let n = usize::from(r.u16()?);
        r.skip(2)?;
        Ok(BfrReply {
            more,
            sub_domain,
            bfrs: parse_bfrs(n, r)?,
        })
    }
}

bitflags! {
    /// TSM_CONFIG `flags` (draft §9.1). Unnamed bits are kept.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct TsmFlags: u16 {
        /// Caching on.
        const ENABLE = 0x0001;
        /// Send TSM_EVENT messages.
        const NOTIFY = 0x0002;
    }
}

/// TSM_CONFIG (draft §9.1): when a last-hop switch caches a recurring BitString as a local
/// group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TsmConfig {
    /// ENABLE, NOTIFY.
    pub flags: TsmFlags,
    /// N: packets with the same BitString …
    pub threshold: u32,
    /// … within T milliseconds install a local group.
    pub window_ms: u32,
    /// A local group unused this long is removed.
    pub idle_timeout_ms: u32,
    /// Most local groups at once.
    pub max_groups: u32,
    /// First group id the switch may use.
    pub group_id_first: GroupId,
    /// Last group id the switch may use.
    pub group_id_last: GroupId,
}

impl TsmConfig {
    /// Caching off.
    pub const DISABLED: TsmConfig = TsmConfig {
        flags: TsmFlags::empty(),
        threshold: 0,
        window_ms: 0,
        idle_timeout_ms: 0,
        max_groups: 0,
        group_id_first: GroupId(0),
        group_id_last: GroupId(0),
    };

    /// The rules of draft §9.1 (checked only when ENABLE is set).
    pub fn validate(&self) -> Result<(), BierError> {
        if !self.flags.contains(TsmFlags::ENABLE) {
            return Ok(());
        }
        let bad = |why| Err(BierError::BadTsmConfig(why));
        if self.threshold == 0 {
            return bad("threshold 0");
        }
        if self.idle_timeout_ms == 0 {
            return bad("idle timeout 0");
        }
        if self.group_id_first > self.group_id_last {
            return bad("group id range first > last");
        }
        if self.group_id_last > GroupId::MAX {
            return bad("group id range above OFPG_MAX");
        }
        Ok(())
    }
}

impl Wire for TsmConfig {
    fn wire_len(&self) -> usize {
        32
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u16(self.flags.bits());
        w.zeros(2);
        w.u32(self.threshold);
        w.u32(self.window_ms);
        w.u32(self.idle_timeout_ms);
        w.u32(self.max_groups);
        w.u32(self.group_id_first.0);
        w.u32(self.group_id_last.0);
        w.zeros(4);
    }

    fn parse(r: &mut Reader<'_>) -> Result<TsmConfig, DecodeError> {
        let flags = TsmFlags::from_bits_retain(r.u16()?);
        r.skip(2)?;
        let c = TsmConfig {
            flags,
            threshold: r.u32()?,
            window_ms: r.u32()?,
            idle_timeout_ms: r.u32()?,
            max_groups: r.u32()?,
            group_id_first: GroupId(r.u32()?),
            group_id_last: GroupId(r.u32()?),
        };
        r.skip(4)?;
        Ok(c)
    }
}

open_enum! {
    /// TSM_EVENT `event` (draft §9.2).
    pub enum TsmEventKind: u8 {
        /// A local group was installed.
        Installed = 1,
        /// A local group was removed.
        Removed = 2,
    }
}

open_enum! {
    /// TSM_EVENT `reason` (draft §9.2).
    pub enum TsmReason: u8 {
        /// With INSTALLED.
        None = 0,
        /// Unused for the idle timeout.
        Idle = 1,
        /// The BIFT or the BFR table changed.
        BiftChanged = 2,
        /// TSM_CONFIG changed.
        Config = 3,
        /// Room was needed for another group.
        Capacity = 4,
    }
}

/// TSM_EVENT (draft §9.2): a switch reports a local group it installed or removed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TsmEvent {
    /// INSTALLED or REMOVED.
    pub event: TsmEventKind,
    /// Why it was removed.
    pub reason: TsmReason,
    /// The BSL of `bitstring`.
    pub bsl: Bsl,
    /// The local group.
    pub group_id: GroupId,
    /// The BIFT the BitString belongs to.
    pub bift_id: u32,
    /// Packets the group forwarded (INSTALLED: the N that triggered it).
    pub packet_count: u64,
    /// The cached BitString.
    pub bitstring: Vec<u8>,
    /// The group's output ports.
    pub ports: Vec<PortNo>,
}

impl TsmEvent {
    fn count(&self) -> usize {
        self.ports.len().min(usize::from(u16::MAX))
    }

    /// The BitString matches the BSL, the BIFT-id fits 20 bits.
    pub fn validate(&self) -> Result<(), BierError> {
        super::check_bift_id(self.bift_id)?;
        check_bits("TSM_EVENT BitString", &self.bitstring, self.bsl)?;
        check_count("TSM_EVENT ports", self.ports.len(), usize::from(u16::MAX))
    }
}

impl Wire for TsmEvent {
    fn wire_len(&self) -> usize {
        24 + self.bsl.bytes() + round8(4 * self.count())
    }

    fn emit(&self, w: &mut Writer<'_>) {
        let n = self.count();
        w.u8(self.event.value());
        w.u8(self.reason.value());
        w.u8(self.bsl.code());
        w.zeros(1);
        w.u32(self.group_id.0);
        w.u32(self.bift_id);
        // n ≤ 65535 by `count`.
        w.u16(n as u16);
        w.zeros(2);
        w.u64(self.packet_count);
        emit_bits(w, &self.bitstring, self.bsl.bytes());
        for p in self.ports.iter().take(n) {
            w.u32(p.0);
        }
        w.zeros(pad8(4 * n));
    }

    fn parse(r: &mut Reader<'_>) -> Result<TsmEvent, DecodeError> {
        let event = TsmEventKind::from(r.u8()?);
        let reason = TsmReason::from(r.u8()?);
        let bsl = Bsl::parse(r, "BIER TSM_EVENT")?;
        r.skip(1)?;
        let group_id = GroupId(r.u32()?);
        let bift_id = r.u32()?;
        let n = usize::from(r.u16()?);
        r.skip(2)?;
        let packet_count = r.u64()?;
        let bitstring = r.bytes(bsl.bytes())?.to_vec();
        let mut ports = Vec::with_capacity(n.min(r.remaining() / 4));
        for _ in 0..n {
            ports.push(PortNo(r.u32()?));
        }
        r.skip(pad8(4 * n))?;
        Ok(TsmEvent {
            event,
            reason,
            bsl,
            group_id,
            bift_id,
            packet_count,
            bitstring,
            ports,
        })
    }
}
