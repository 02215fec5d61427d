//! The BIFT body `ofp_bier_bift` (draft §6.1) and the messages that carry or select it:
//! BIFT_MOD (§6.2), BIFT_CLEAR / BIFT_QUERY selectors and BIFT_REPLY (§7).
//!
//! Guarantees: parsing reads exactly what the counts announce and never reserves more than
//! the bytes left could hold; `Bift::validate` applies every per-message rule of §6.1 (the
//! per-transaction rules live in `table`).

use std::collections::BTreeSet;

use super::{check_bift_id, check_bits, check_count, emit_bits, test_bit, BierError, Bsl};
use crate::error::DecodeError;
use crate::macros::open_enum;
use crate::types::PortNo;
use crate::wire::{round8, Reader, Wire, Writer};

/// Which forwarding a BIFT does (`kind`, draft §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableKind {
    /// 0: RFC 8279 BIER.
    Bier,
    /// 1: RFC 9262 BIER-TE.
    BierTe,
}

impl TableKind {
    /// The wire code.
    pub const fn code(self) -> u8 {
        match self {
            TableKind::Bier => 0,
            TableKind::BierTe => 1,
        }
    }

    /// `None` for codes the draft does not define (the entries' layout depends on it).
    pub const fn from_code(code: u8) -> Option<TableKind> {
        match code {
            0 => Some(TableKind::Bier),
            1 => Some(TableKind::BierTe),
            _ => None,
        }
    }

    fn parse(code: u8, ctx: &'static str) -> Result<TableKind, DecodeError> {
        TableKind::from_code(code).ok_or(DecodeError::BadValue {
            ctx,
            field: "kind",
            value: code.into(),
        })
    }
}

/// What names a BIFT: its BIFT-id (unique on a switch) and the (sub-domain, BSL, SI) it serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableKey {
    /// The 20-bit BIFT-id of the RFC 8296 header (RFC 8296 §2.2).
    pub bift_id: u32,
    /// Sub-domain.
    pub sub_domain: u8,
    /// BitString Length.
    pub bsl: Bsl,
    /// Set Identifier.
    pub si: u16,
}

/// `ofp_bier_next_hop`: a neighbour's port and F-BM, referred to by id within one message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NextHop {
    /// `nh_id`, unique within its message.
    pub id: u16,
    /// The OpenFlow port copies leave by.
    pub port: PortNo,
    /// The F-BM, BSL/8 bytes in wire order.
    pub fbm: Vec<u8>,
}

impl NextHop {
    fn wire_len(bsl: Bsl) -> usize {
        8 + bsl.bytes()
    }

    fn emit(&self, bsl: Bsl, w: &mut Writer<'_>) {
        w.u16(self.id);
        w.zeros(2);
        w.u32(self.port.0);
        emit_bits(w, &self.fbm, bsl.bytes());
    }

    fn parse(bsl: Bsl, r: &mut Reader<'_>) -> Result<NextHop, DecodeError> {
        let id = r.u16()?;
        r.skip(2)?;
        Ok(NextHop {
            id,
            port: PortNo(r.u32()?),
            fbm: r.bytes(bsl.bytes())?.to_vec(),
        })
    }
}

open_enum! {
    /// `action` of a BIER entry (draft §6.1).
    pub enum EntryAction: u8 {
        /// REMOVE: delete the bit's entry (MODIFY only).
        Remove = 0,
        /// FORWARD: to the listed next hop(s), RFC 8279 §6.5.
        Forward = 1,
        /// LOCAL_DECAP: the bit's BFR-id is delivered here (draft §8).
        LocalDecap = 2,
    }
}

/// `ofp_bier_entry`: one bit position of a BIER table.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BierEntry {
    /// Bit position, 1…BSL.
    pub bit: u16,
    /// What to do with the bit.
    pub action: EntryAction,
    /// Next-hop ids (FORWARD: one, or several ECMP alternatives).
    pub next_hops: Vec<u16>,
}

impl BierEntry {
    fn count(&self) -> usize {
        self.next_hops.len().min(usize::from(u8::MAX))
    }

    fn wire_len(&self) -> usize {
        round8(4 + 2 * self.count())
    }

    fn emit(&self, w: &mut Writer<'_>) {
        let n = self.count();
        w.u16(self.bit);
        w.u8(self.action.value());
        // n ≤ 255 by `count`.
        w.u8(n as u8);
        for id in self.next_hops.iter().take(n) {
            w.u16(*id);
        }
        w.zeros(self.wire_len() - 4 - 2 * n);
    }

    fn parse(r: &mut Reader<'_>) -> Result<BierEntry, DecodeError> {
        let bit = r.u16()?;
        let action = EntryAction::from(r.u8()?);
        let n = usize::from(r.u8()?);
        let mut next_hops = Vec::with_capacity(n);
        for _ in 0..n {
            next_hops.push(r.u16()?);
        }
        r.skip(round8(4 + 2 * n) - 4 - 2 * n)?;
        Ok(BierEntry {
            bit,
            action,
            next_hops,
        })
    }
}

/// A BIER-TE adjacency (RFC 9262 §4.3), `ofp_bier_te_adj` (draft §6.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Adjacency {
    /// Type 1, `forward_connected` through `port`; `dnc` keeps the bit in the copy.
    ForwardConnected {
        /// The port.
        port: PortNo,
        /// Do-not-clear (flag 0x01).
        dnc: bool,
    },
    /// Type 2, `forward_routed` to the BFR the controller numbers `to`.
    ForwardRouted {
        /// The remote BFR.
        to: u32,
    },
    /// Type 3, `local_decap`, delivering through `port` (`OFPP_LOCAL` for the switch itself).
    LocalDecap {
        /// The port.
        port: PortNo,
    },
    /// Type 4, ECMP: one of the members, chosen by entropy. Members are forward adjacencies.
    Ecmp(Vec<Adjacency>),
    /// A type this codec does not know, kept as received (switches refuse it).
    Other {
        /// `type`.
        kind: u8,
        /// `flags`.
        flags: u8,
        /// `value`.
        value: u32,
    },
}

impl Adjacency {
    fn members(list: &[Adjacency]) -> usize {
        list.len().min(usize::from(u16::MAX))
    }

    /// Records this adjacency takes on the wire (an ECMP one: itself and its members).
    fn records(&self) -> usize {
        match self {
            Adjacency::Ecmp(list) => 1 + Adjacency::members(list),
            _ => 1,
        }
    }

    fn emit(&self, w: &mut Writer<'_>) {
        let (kind, flags, n, value) = match self {
            Adjacency::ForwardConnected { port, dnc } => (1, u8::from(*dnc), 0, port.0),
            Adjacency::ForwardRouted { to } => (2, 0, 0, *to),
            Adjacency::LocalDecap { port } => (3, 0, 0, port.0),
            Adjacency::Ecmp(list) => (4, 0, Adjacency::members(list), 0),
            Adjacency::Other { kind, flags, value } => (*kind, *flags, 0, *value),
        };
        w.u8(kind);
        w.u8(flags);
        // n ≤ 65535 by `members`.
        w.u16(n as u16);
        w.u32(value);
        if let Adjacency::Ecmp(list) = self {
            for m in list.iter().take(n) {
                // A member's own members are not written: members are single records (a
                // nested ECMP is refused by `validate`, and would read back as an empty one).
                m.emit_record(w);
            }
        }
    }

    // One 8-byte record, without members.
    fn emit_record(&self, w: &mut Writer<'_>) {
        match self {
            Adjacency::Ecmp(_) => {
                w.u8(4);
                w.zeros(7);
            }
            a => a.emit(w),
        }
    }

    fn parse(r: &mut Reader<'_>, member: bool) -> Result<Adjacency, DecodeError> {
        let kind = r.u8()?;
        let flags = r.u8()?;
        let n = r.u16()?;
        let value = r.u32()?;
        Ok(match kind {
            1 => Adjacency::ForwardConnected {
                port: PortNo(value),
                dnc: flags & 0x01 != 0,
            },
            2 => Adjacency::ForwardRouted { to: value },
            3 => Adjacency::LocalDecap {
                port: PortNo(value),
            },
            // Members are single records: one level, whatever the bytes say.
            4 if member => Adjacency::Ecmp(Vec::new()),
            4 => {
                let n = usize::from(n);
                let mut list = Vec::with_capacity(n.min(r.remaining() / 8));
                for _ in 0..n {
                    list.push(Adjacency::parse(r, true)?);
                }
                Adjacency::Ecmp(list)
            }
            kind => Adjacency::Other { kind, flags, value },
        })
    }

    fn validate(&self, bit: u16, member: bool) -> Result<(), BierError> {
        let bad = |why| Err(BierError::BadAdjacency { bit, why });
        match self {
            Adjacency::Ecmp(_) if member => bad("an ECMP member is itself ECMP"),
            Adjacency::Ecmp(list) if list.is_empty() => bad("empty ECMP"),
            Adjacency::Ecmp(list) => {
                check_count("ECMP members", list.len(), usize::from(u16::MAX))?;
                for m in list {
                    if matches!(m, Adjacency::LocalDecap { .. }) {
                        return bad("a local_decap ECMP member");
                    }
                    m.validate(bit, true)?;
                }
                Ok(())
            }
            Adjacency::Other { .. } => bad("unknown adjacency type"),
            _ => Ok(()),
        }
    }
}

/// `ofp_bier_te_entry`: the adjacencies of one bit of a BIER-TE table.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TeEntry {
    /// Bit position, 1…BSL.
    pub bit: u16,
    /// Its adjacencies here; empty: none (in a MODIFY, the bit's entry is removed).
    pub adjacencies: Vec<Adjacency>,
}

impl TeEntry {
    fn count(&self) -> usize {
        self.adjacencies.len().min(usize::from(u16::MAX))
    }

    fn wire_len(&self) -> usize {
        8 + 8 * self
            .adjacencies
            .iter()
            .take(self.count())
            .map(Adjacency::records)
            .sum::<usize>()
    }

    fn emit(&self, w: &mut Writer<'_>) {
        let n = self.count();
        w.u16(self.bit);
        // n ≤ 65535 by `count`.
        w.u16(n as u16);
        w.zeros(4);
        for a in self.adjacencies.iter().take(n) {
            a.emit(w);
        }
    }

    fn parse(r: &mut Reader<'_>) -> Result<TeEntry, DecodeError> {
        let bit = r.u16()?;
        let n = usize::from(r.u16()?);
        r.skip(4)?;
        let mut adjacencies = Vec::with_capacity(n.min(r.remaining() / 8));
        for _ in 0..n {
            adjacencies.push(Adjacency::parse(r, false)?);
        }
        Ok(TeEntry { bit, adjacencies })
    }
}

/// The entries of a BIFT body, by kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BiftEntries {
    /// A BIER table: next-hop records, then entries referring to them.
    Bier {
        /// `next_hops`.
        next_hops: Vec<NextHop>,
        /// `entries`.
        entries: Vec<BierEntry>,
    },
    /// A BIER-TE table: adjacencies per bit.
    BierTe(Vec<TeEntry>),
}

/// `ofp_bier_bift`: one BIFT, or one fragment of one (draft §6.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bift {
    /// Which table.
    pub key: TableKey,
    /// Its entries (the kind follows from the variant).
    pub entries: BiftEntries,
}

/// Bytes of the fixed part of `ofp_bier_bift`.
pub(crate) const BIFT_FIXED_LEN: usize = 16;

const MAX16: usize = u16::MAX as usize;

impl Bift {
    /// The table's kind.
    pub fn kind(&self) -> TableKind {
        match self.entries {
            BiftEntries::Bier { .. } => TableKind::Bier,
            BiftEntries::BierTe(_) => TableKind::BierTe,
        }
    }

    /// Per message rules of draft §6.1: BIFT-id within 20 bits; positions in 1…BSL and
    /// unique; next-hop ids unique, defined, F-BMs of the BSL's length that contain the bits
    /// of the entries using them; FORWARD with 1…255 next hops, other actions with none;
    /// BIER-TE adjacencies well formed; counts within their fields.
    pub fn validate(&self) -> Result<(), BierError> {
        let key = &self.key;
        check_bift_id(key.bift_id)?;
        let bits = key.bsl.bits();
        let mut seen = BTreeSet::new();
        let mut position = |bit: u16| {
            if bit == 0 || usize::from(bit) > bits {
                return Err(BierError::BitPosition {
                    bit,
                    bsl_bits: bits,
                });
            }
            if !seen.insert(bit) {
                return Err(BierError::DuplicateBit {
                    bit,
                    bift_id: key.bift_id,
                });
            }
            Ok(())
        };
        match &self.entries {
            BiftEntries::Bier { next_hops, entries } => {
                check_count("next hops", next_hops.len(), MAX16)?;
                check_count("entries", entries.len(), MAX16)?;
                let mut ids = std::collections::BTreeMap::new();
                for nh in next_hops {
                    check_bits("F-BM", &nh.fbm, key.bsl)?;
                    if ids.insert(nh.id, nh).is_some() {
                        return Err(BierError::DuplicateNextHop { id: nh.id });
                    }
                }
                for e in entries {
                    position(e.bit)?;
                    if e.next_hops.len() > usize::from(u8::MAX) {
                        return Err(BierError::TooManyNextHops {
                            bit: e.bit,
                            n: e.next_hops.len(),
                        });
                    }
                    match e.action {
                        EntryAction::Forward if e.next_hops.is_empty() => {
                            return Err(BierError::ForwardWithoutNextHop { bit: e.bit })
                        }
                        EntryAction::Forward => {}
                        EntryAction::Remove | EntryAction::LocalDecap if e.next_hops.is_empty() => {
                        }
                        action => {
                            return Err(BierError::BadEntry {
                                bit: e.bit,
                                action,
                                next_hops: e.next_hops.len(),
                            })
                        }
                    }
                    for id in &e.next_hops {
                        let nh = ids.get(id).ok_or(BierError::UnknownNextHop {
                            bit: e.bit,
                            id: *id,
                        })?;
                        if !test_bit(&nh.fbm, e.bit) {
                            return Err(BierError::FbmLacksBit {
                                bit: e.bit,
                                port: nh.port.0,
                            });
                        }
                    }
                }
            }
            BiftEntries::BierTe(entries) => {
                check_count("entries", entries.len(), MAX16)?;
                for e in entries {
                    position(e.bit)?;
                    check_count("adjacencies", e.adjacencies.len(), MAX16)?;
                    for a in &e.adjacencies {
                        a.validate(e.bit, false)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn counts(&self) -> (usize, usize) {
        match &self.entries {
            BiftEntries::Bier { next_hops, entries } => {
                (next_hops.len().min(MAX16), entries.len().min(MAX16))
            }
            BiftEntries::BierTe(entries) => (0, entries.len().min(MAX16)),
        }
    }
}

impl Wire for Bift {
    fn wire_len(&self) -> usize {
        let (h, e) = self.counts();
        BIFT_FIXED_LEN
            + match &self.entries {
                BiftEntries::Bier { entries, .. } => {
                    h * NextHop::wire_len(self.key.bsl)
                        + entries
                            .iter()
                            .take(e)
                            .map(BierEntry::wire_len)
                            .sum::<usize>()
                }
                BiftEntries::BierTe(entries) => {
                    entries.iter().take(e).map(TeEntry::wire_len).sum::<usize>()
                }
            }
    }

    fn emit(&self, w: &mut Writer<'_>) {
        let (h, e) = self.counts();
        let k = &self.key;
        w.u8(self.kind().code());
        w.u8(k.bsl.code());
        w.u16(k.si);
        w.u32(k.bift_id);
        w.u8(k.sub_domain);
        w.zeros(1);
        // h, e ≤ 65535 by `counts`.
        w.u16(h as u16);
        w.u16(e as u16);
        w.zeros(2);
        match &self.entries {
            BiftEntries::Bier { next_hops, entries } => {
                for nh in next_hops.iter().take(h) {
                    nh.emit(k.bsl, w);
                }
                for en in entries.iter().take(e) {
                    en.emit(w);
                }
            }
            BiftEntries::BierTe(entries) => {
                for en in entries.iter().take(e) {
                    en.emit(w);
                }
            }
        }
    }

    fn parse(r: &mut Reader<'_>) -> Result<Bift, DecodeError> {
        const CTX: &str = "BIER BIFT";
        let kind = TableKind::parse(r.u8()?, CTX)?;
        let bsl = Bsl::parse(r, CTX)?;
        let si = r.u16()?;
        let bift_id = r.u32()?;
        let sub_domain = r.u8()?;
        r.skip(1)?;
        let h = usize::from(r.u16()?);
        let e = usize::from(r.u16()?);
        r.skip(2)?;
        let key = TableKey {
            bift_id,
            sub_domain,
            bsl,
            si,
        };
        let entries = match kind {
            TableKind::Bier => {
                let mut next_hops =
                    Vec::with_capacity(h.min(r.remaining() / NextHop::wire_len(bsl)));
                for _ in 0..h {
                    next_hops.push(NextHop::parse(bsl, r)?);
                }
                let mut entries = Vec::with_capacity(e.min(r.remaining() / 8));
                for _ in 0..e {
                    entries.push(BierEntry::parse(r)?);
                }
                BiftEntries::Bier { next_hops, entries }
            }
            TableKind::BierTe => {
                if h != 0 {
                    return Err(DecodeError::BadValue {
                        ctx: CTX,
                        field: "n_next_hops (BIER-TE)",
                        value: h as u64,
                    });
                }
                let mut entries = Vec::with_capacity(e.min(r.remaining() / 8));
                for _ in 0..e {
                    entries.push(TeEntry::parse(r)?);
                }
                BiftEntries::BierTe(entries)
            }
        };
        Ok(Bift { key, entries })
    }
}

open_enum! {
    /// BIFT_MOD `command` (draft §6.2).
    pub enum BiftCommand: u8 {
        /// REPLACE: the table becomes exactly the transaction's entries.
        Replace = 1,
        /// MODIFY: the listed bits change, others stay.
        Modify = 2,
    }
}

const FLAG_MORE: u16 = 0x0001;

/// BIFT_MOD: one part of a transaction that writes a BIFT (draft §6.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BiftMod {
    /// `txn`: the transaction.
    pub txn: u32,
    /// `seq`: this part's number, from 0.
    pub seq: u16,
    /// MORE: parts follow; clear on the commit.
    pub more: bool,
    /// REPLACE or MODIFY.
    pub command: BiftCommand,
    /// The table (fragment).
    pub bift: Bift,
}

impl BiftMod {
    /// Bytes of the fixed part before the BIFT body.
    pub const FIXED_LEN: usize = 16;

    /// The BIFT's rules, and no REMOVE in a REPLACE.
    pub fn validate(&self) -> Result<(), BierError> {
        self.bift.validate()?;
        if self.command == BiftCommand::Replace {
            if let BiftEntries::Bier { entries, .. } = &self.bift.entries {
                if let Some(e) = entries.iter().find(|e| e.action == EntryAction::Remove) {
                    return Err(BierError::RemoveInReplace { bit: e.bit });
                }
            }
        }
        Ok(())
    }
}

impl Wire for BiftMod {
    fn wire_len(&self) -> usize {
        Self::FIXED_LEN + self.bift.wire_len()
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u32(self.txn);
        w.u16(self.seq);
        w.u16(if self.more { FLAG_MORE } else { 0 });
        w.u8(self.command.value());
        w.zeros(7);
        self.bift.emit(w);
    }

    fn parse(r: &mut Reader<'_>) -> Result<BiftMod, DecodeError> {
        let txn = r.u32()?;
        let seq = r.u16()?;
        let more = r.u16()? & FLAG_MORE != 0;
        let command = BiftCommand::from(r.u8()?);
        r.skip(7)?;
        Ok(BiftMod {
            txn,
            seq,
            more,
            command,
            bift: Bift::parse(r)?,
        })
    }
}

const ALL_BIFT_IDS: u16 = 0x0001;
const ANY_SUB_DOMAIN: u16 = 0x0002;
const ANY_KIND: u16 = 0x0004;

/// `ofp_bier_bift_selector` of BIFT_CLEAR and BIFT_QUERY (draft §7): `None` is a wildcard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BiftSelector {
    /// One table, or all (ALL_BIFT_IDS).
    pub bift_id: Option<u32>,
    /// One sub-domain, or any (ANY_SUB_DOMAIN).
    pub sub_domain: Option<u8>,
    /// One kind, or any (ANY_KIND).
    pub kind: Option<TableKind>,
}

impl BiftSelector {
    /// Every table.
    pub const ALL: BiftSelector = BiftSelector {
        bift_id: None,
        sub_domain: None,
        kind: None,
    };

    /// Exactly the table with this BIFT-id.
    pub fn table(bift_id: u32) -> BiftSelector {
        BiftSelector {
            bift_id: Some(bift_id),
            ..BiftSelector::ALL
        }
    }

    /// Whether the table with this key and kind is selected.
    pub fn matches(&self, key: &TableKey, kind: TableKind) -> bool {
        self.bift_id.is_none_or(|b| b == key.bift_id)
            && self.sub_domain.is_none_or(|s| s == key.sub_domain)
            && self.kind.is_none_or(|k| k == kind)
    }

    /// The BIFT-id, if one is given, fits 20 bits.
    pub fn validate(&self) -> Result<(), BierError> {
        self.bift_id.map_or(Ok(()), check_bift_id)
    }
}

impl Wire for BiftSelector {
    fn wire_len(&self) -> usize {
        8
    }

    fn emit(&self, w: &mut Writer<'_>) {
        let mut flags = 0;
        flags |= if self.bift_id.is_none() {
            ALL_BIFT_IDS
        } else {
            0
        };
        flags |= if self.sub_domain.is_none() {
            ANY_SUB_DOMAIN
        } else {
            0
        };
        flags |= if self.kind.is_none() { ANY_KIND } else { 0 };
        w.u32(self.bift_id.unwrap_or(0));
        w.u8(self.sub_domain.unwrap_or(0));
        w.u8(self.kind.map_or(0, TableKind::code));
        w.u16(flags);
    }

    fn parse(r: &mut Reader<'_>) -> Result<BiftSelector, DecodeError> {
        let bift_id = r.u32()?;
        let sub_domain = r.u8()?;
        let kind = r.u8()?;
        let flags = r.u16()?;
        Ok(BiftSelector {
            bift_id: (flags & ALL_BIFT_IDS == 0).then_some(bift_id),
            sub_domain: (flags & ANY_SUB_DOMAIN == 0).then_some(sub_domain),
            kind: if flags & ANY_KIND == 0 {
                Some(TableKind::parse(kind, "BIER BIFT selector")?)
            } else {
                None
            },
        })
    }
}

/// BIFT_REPLY: one message of the answer to a BIFT_QUERY (draft §7).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BiftReply {
    /// `seq`: this message's number within the reply, from 0.
    pub seq: u16,
    /// MORE: messages of this reply follow.
    pub more: bool,
    /// One table or fragment; `None` when nothing matched.
    pub bift: Option<Bift>,
}

impl BiftReply {
    /// Bytes of the fixed part before the BIFT body.
    pub const FIXED_LEN: usize = 8;
}

impl Wire for BiftReply {
    fn wire_len(&self) -> usize {
        Self::FIXED_LEN + self.bift.as_ref().map_or(0, Wire::wire_len)
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u16(self.seq);
        w.u16(if self.more { FLAG_MORE } else { 0 });
        w.zeros(4);
        if let Some(b) = &self.bift {
            b.emit(w);
        }
    }

    fn parse(r: &mut Reader<'_>) -> Result<BiftReply, DecodeError> {
        let seq = r.u16()?;
        let more = r.u16()? & FLAG_MORE != 0;
        r.skip(4)?;
        let bift = if r.is_empty() {
            None
        } else {
            Some(Bift::parse(r)?)
        };
        Ok(BiftReply { seq, more, bift })
    }
}
