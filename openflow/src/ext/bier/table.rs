//! BIFTs as tables ([`BiftTable`]: per bit position, what happens), independent of how they
//! were cut into messages: splitting into BIFT_MOD parts and BIFT_REPLY fragments that fit
//! 64 KiB, the switch's staging and commit of a transaction (draft §6.2, [`BiftTxn`]), merging
//! a query's reply (draft §7, [`collect_replies`]), and the MODIFY that turns one table into
//! another (reconciliation).
//!
//! Guarantees: `fragments` / `bift_mods` / `bift_replies` produce messages that each validate,
//! each fit one OpenFlow message, and resolve and merge back to the same table; a transaction
//! either commits whole or not at all (any error discards it).

use std::collections::{BTreeMap, HashMap};

use super::bift::BIFT_FIXED_LEN;
use super::Adjacency;
use super::{
    BierEntry, BierError, Bift, BiftCommand, BiftEntries, BiftMod, BiftReply, EntryAction, NextHop,
    TableKey, TableKind, TeEntry, HEADER_LEN, MAX_MESSAGE_LEN,
};
use crate::types::PortNo;
use crate::wire::{round8, Wire};

/// What a BIER table does with one bit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Hop {
    /// To one of these (port, F-BM) next hops (several: ECMP, RFC 8279 §6.7).
    Forward(Vec<(PortNo, Vec<u8>)>),
    /// Delivered here (draft §8).
    LocalDecap,
    /// In a MODIFY: delete the bit's entry.
    Remove,
}

/// The entries of a table, by bit position.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TableEntries {
    /// BIER: per bit, what happens.
    Bier(BTreeMap<u16, Hop>),
    /// BIER-TE: per bit, its adjacencies (empty in a MODIFY: delete the bit's entry).
    BierTe(BTreeMap<u16, Vec<Adjacency>>),
}

/// A BIFT with its next hops resolved: what a switch holds and a controller computes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BiftTable {
    /// Which table.
    pub key: TableKey,
    /// Its entries.
    pub entries: TableEntries,
}

impl Bift {
    /// Validates this message's table (fragment) and resolves its next-hop ids.
    pub fn resolve(&self) -> Result<BiftTable, BierError> {
        self.validate()?;
        let entries = match &self.entries {
            BiftEntries::Bier { next_hops, entries } => {
                let by_id: HashMap<u16, &NextHop> = next_hops.iter().map(|n| (n.id, n)).collect();
                let mut out = BTreeMap::new();
                for e in entries {
                    let hop = match e.action {
                        EntryAction::Forward => Hop::Forward(
                            e.next_hops
                                .iter()
                                .filter_map(|id| by_id.get(id))
                                .map(|n| (n.port, n.fbm.clone()))
                                .collect(),
                        ),
                        EntryAction::LocalDecap => Hop::LocalDecap,
                        // `validate` refused unknown actions.
                        _ => Hop::Remove,
                    };
                    out.insert(e.bit, hop);
                }
                TableEntries::Bier(out)
            }
            BiftEntries::BierTe(entries) => TableEntries::BierTe(
                entries
                    .iter()
                    .map(|e| (e.bit, e.adjacencies.clone()))
                    .collect(),
            ),
        };
        Ok(BiftTable {
            key: self.key,
            entries,
        })
    }
}

// Bytes of a BIER entry with k next hops, and of a next-hop record.
fn entry_len(k: usize) -> usize {
    round8(4 + 2 * k)
}

impl BiftTable {
    /// An empty table.
    pub fn new(key: TableKey, kind: TableKind) -> BiftTable {
        BiftTable {
            key,
            entries: match kind {
                TableKind::Bier => TableEntries::Bier(BTreeMap::new()),
                TableKind::BierTe => TableEntries::BierTe(BTreeMap::new()),
            },
        }
    }

    /// The kind.
    pub fn kind(&self) -> TableKind {
        match self.entries {
            TableEntries::Bier(_) => TableKind::Bier,
            TableEntries::BierTe(_) => TableKind::BierTe,
        }
    }

    /// Number of bit positions with an entry.
    pub fn len(&self) -> usize {
        match &self.entries {
            TableEntries::Bier(m) => m.len(),
            TableEntries::BierTe(m) => m.len(),
        }
    }

    /// Whether no bit has an entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The table as BIFT bodies of at most `max_body` bytes each (the 16-byte fixed part
    /// included), in bit order; each carries only the next-hop records its entries use. An
    /// empty table is one empty body.
    pub fn fragments(&self, max_body: usize) -> Result<Vec<Bift>, BierError> {
        match &self.entries {
            TableEntries::Bier(m) => self.bier_fragments(m, max_body),
            TableEntries::BierTe(m) => self.te_fragments(m, max_body),
        }
    }

    fn bier_fragments(
        &self,
        m: &BTreeMap<u16, Hop>,
        max_body: usize,
    ) -> Result<Vec<Bift>, BierError> {
        let nh_len = 8 + self.key.bsl.bytes();
        let mut out = Vec::new();
        let mut next_hops: Vec<NextHop> = Vec::new();
        let mut ids: HashMap<(PortNo, &[u8]), u16> = HashMap::new();
        let mut entries: Vec<BierEntry> = Vec::new();
        let mut size = BIFT_FIXED_LEN;
        let flush =
            |next_hops: &mut Vec<NextHop>, entries: &mut Vec<BierEntry>, out: &mut Vec<Bift>| {
                out.push(Bift {
                    key: self.key,
                    entries: BiftEntries::Bier {
                        next_hops: std::mem::take(next_hops),
                        entries: std::mem::take(entries),
                    },
                });
            };
        for (&bit, hop) in m {
            let (action, hops): (EntryAction, &[(PortNo, Vec<u8>)]) = match hop {
                Hop::Forward(h) => (EntryAction::Forward, h),
                Hop::LocalDecap => (EntryAction::LocalDecap, &[]),
                Hop::Remove => (EntryAction::Remove, &[]),
            };
            if action == EntryAction::Forward && hops.is_empty() {
                return Err(BierError::ForwardWithoutNextHop { bit });
            }
            if hops.len() > usize::from(u8::MAX) {
                return Err(BierError::TooManyNextHops { bit, n: hops.len() });
            }
            // Distinct (port, F-BM) pairs of this entry.
            let mut distinct: Vec<(PortNo, &[u8])> = Vec::new();
            for (p, f) in hops {
                if !distinct.contains(&(*p, f.as_slice())) {
                    distinct.push((*p, f.as_slice()));
                }
            }
            let fresh = entry_len(hops.len()) + distinct.len() * nh_len;
            if BIFT_FIXED_LEN + fresh > max_body {
                return Err(BierError::TooLarge {
                    what: "a BIER entry with its next hops",
                    len: BIFT_FIXED_LEN + fresh,
                    max: max_body,
                });
            }
            let new = distinct.iter().filter(|k| !ids.contains_key(*k)).count();
            if size + entry_len(hops.len()) + new * nh_len > max_body {
                flush(&mut next_hops, &mut entries, &mut out);
                ids.clear();
                size = BIFT_FIXED_LEN;
            }
            let mut list = Vec::with_capacity(hops.len());
            for (p, f) in hops {
                let key = (*p, f.as_slice());
                let id = match ids.get(&key) {
                    Some(id) => *id,
                    None => {
                        // At most max_body / 16 < 65536 records per fragment.
                        let id =
                            u16::try_from(next_hops.len() + 1).map_err(|_| BierError::TooMany {
                                what: "next hops in one message",
                                len: next_hops.len() + 1,
                                max: usize::from(u16::MAX),
                            })?;
                        ids.insert(key, id);
                        next_hops.push(NextHop {
                            id,
                            port: *p,
                            fbm: f.clone(),
                        });
                        size += nh_len;
                        id
                    }
                };
                list.push(id);
            }
            size += entry_len(list.len());
            entries.push(BierEntry {
                bit,
                action,
                next_hops: list,
            });
        }
        if !entries.is_empty() || out.is_empty() {
            flush(&mut next_hops, &mut entries, &mut out);
        }
        Ok(out)
    }

    fn te_fragments(
        &self,
        m: &BTreeMap<u16, Vec<Adjacency>>,
        max_body: usize,
    ) -> Result<Vec<Bift>, BierError> {
        let mut out = Vec::new();
        let mut entries: Vec<TeEntry> = Vec::new();
        let mut size = BIFT_FIXED_LEN;
        for (&bit, adjacencies) in m {
            let e = TeEntry {
                bit,
                adjacencies: adjacencies.clone(),
            };
            let len = Bift {
                key: self.key,
                entries: BiftEntries::BierTe(vec![e.clone()]),
            }
            .wire_len()
                - BIFT_FIXED_LEN;
            if BIFT_FIXED_LEN + len > max_body {
                return Err(BierError::TooLarge {
                    what: "a BIER-TE entry",
                    len: BIFT_FIXED_LEN + len,
                    max: max_body,
                });
            }
            if size + len > max_body {
                out.push(Bift {
                    key: self.key,
                    entries: BiftEntries::BierTe(std::mem::take(&mut entries)),
                });
                size = BIFT_FIXED_LEN;
            }
            size += len;
            entries.push(e);
        }
        if !entries.is_empty() || out.is_empty() {
            out.push(Bift {
                key: self.key,
                entries: BiftEntries::BierTe(entries),
            });
        }
        Ok(out)
    }

    /// The BIFT_MOD parts of one transaction writing this table (draft §6.2): seq 0, 1, …,
    /// MORE on all but the last, each a valid message of at most 65535 bytes.
    pub fn bift_mods(&self, txn: u32, command: BiftCommand) -> Result<Vec<BiftMod>, BierError> {
        let frags = self.fragments(MAX_MESSAGE_LEN - HEADER_LEN - BiftMod::FIXED_LEN)?;
        let last = frags.len().saturating_sub(1);
        let mut out = Vec::with_capacity(frags.len());
        for (i, bift) in frags.into_iter().enumerate() {
            let m = BiftMod {
                txn,
                seq: seq16(i)?,
                more: i < last,
                command,
                bift,
            };
            m.validate()?;
            out.push(m);
        }
        Ok(out)
    }

    /// Merges a fragment of the same table (disjoint bit positions).
    pub fn merge(&mut self, part: BiftTable) -> Result<(), BierError> {
        self.same_table(&part)?;
        let id = self.key.bift_id;
        let dup = |bit| BierError::DuplicateBit { bit, bift_id: id };
        match (&mut self.entries, part.entries) {
            (TableEntries::Bier(a), TableEntries::Bier(b)) => {
                for (bit, h) in b {
                    if a.insert(bit, h).is_some() {
                        return Err(dup(bit));
                    }
                }
            }
            (TableEntries::BierTe(a), TableEntries::BierTe(b)) => {
                for (bit, h) in b {
                    if a.insert(bit, h).is_some() {
                        return Err(dup(bit));
                    }
                }
            }
            _ => return Err(self.mismatch("kinds differ")),
        }
        Ok(())
    }

    /// Applies a committed update (draft §6.2): REPLACE makes this table the update; MODIFY
    /// changes the listed bits (REMOVE / empty adjacencies delete).
    pub fn apply(&mut self, command: BiftCommand, update: BiftTable) -> Result<(), BierError> {
        self.same_table(&update)?;
        match command {
            BiftCommand::Replace => {
                if let TableEntries::Bier(m) = &update.entries {
                    if let Some((&bit, _)) = m.iter().find(|(_, h)| **h == Hop::Remove) {
                        return Err(BierError::RemoveInReplace { bit });
                    }
                }
                let mut update = update;
                if let TableEntries::BierTe(m) = &mut update.entries {
                    m.retain(|_, a| !a.is_empty());
                }
                *self = update;
            }
            BiftCommand::Modify | BiftCommand::Other(_) => {
                match (&mut self.entries, update.entries) {
                    (TableEntries::Bier(a), TableEntries::Bier(b)) => {
                        for (bit, h) in b {
                            if h == Hop::Remove {
                                a.remove(&bit);
                            } else {
                                a.insert(bit, h);
                            }
                        }
                    }
                    (TableEntries::BierTe(a), TableEntries::BierTe(b)) => {
                        for (bit, adj) in b {
                            if adj.is_empty() {
                                a.remove(&bit);
                            } else {
                                a.insert(bit, adj);
                            }
                        }
                    }
                    _ => return Err(self.mismatch("kinds differ")),
                }
            }
        }
        Ok(())
    }

    /// The MODIFY that turns this table into `want` (reconciliation, draft §7): `None` when
    /// they are equal. Tables of different keys or kinds need a REPLACE instead.
    pub fn modify_to(&self, want: &BiftTable) -> Result<Option<BiftTable>, BierError> {
        self.same_table(want)?;
        let entries = match (&self.entries, &want.entries) {
            (TableEntries::Bier(have), TableEntries::Bier(want)) => {
                TableEntries::Bier(diff(have, want, Hop::Remove))
            }
            (TableEntries::BierTe(have), TableEntries::BierTe(want)) => {
                TableEntries::BierTe(diff(have, want, Vec::new()))
            }
            _ => return Err(self.mismatch("kinds differ")),
        };
        let update = BiftTable {
            key: self.key,
            entries,
        };
        Ok((!update.is_empty()).then_some(update))
    }

    fn same_table(&self, other: &BiftTable) -> Result<(), BierError> {
        if self.key != other.key {
            return Err(self.mismatch("sub-domain, BSL or SI differ for one BIFT-id"));
        }
        if self.kind() != other.kind() {
            return Err(self.mismatch("kinds differ"));
        }
        Ok(())
    }

    fn mismatch(&self, why: &'static str) -> BierError {
        BierError::KeyMismatch {
            bift_id: self.key.bift_id,
            why,
        }
    }
}

fn seq16(i: usize) -> Result<u16, BierError> {
    u16::try_from(i).map_err(|_| BierError::TooMany {
        what: "messages in one transaction or reply",
        len: i + 1,
        max: usize::from(u16::MAX) + 1,
    })
}

// Entries of `want` that `have` lacks or holds differently, and `removed` for bits only in
// `have`.
fn diff<V: Clone + PartialEq>(
    have: &BTreeMap<u16, V>,
    want: &BTreeMap<u16, V>,
    removed: V,
) -> BTreeMap<u16, V> {
    let mut out: BTreeMap<u16, V> = want
        .iter()
        .filter(|(bit, v)| have.get(bit) != Some(v))
        .map(|(bit, v)| (*bit, v.clone()))
        .collect();
    for bit in have.keys().filter(|b| !want.contains_key(b)) {
        out.insert(*bit, removed.clone());
    }
    out
}

/// The BIFT_REPLY messages answering a query with these tables (draft §7): one table or
/// fragment per message, seq 0, 1, …, MORE on all but the last; one empty reply if none.
pub fn bift_replies(tables: &[BiftTable]) -> Result<Vec<BiftReply>, BierError> {
    let mut bodies = Vec::new();
    for t in tables {
        bodies.extend(t.fragments(MAX_MESSAGE_LEN - HEADER_LEN - BiftReply::FIXED_LEN)?);
    }
    if bodies.is_empty() {
        return Ok(vec![BiftReply {
            seq: 0,
            more: false,
            bift: None,
        }]);
    }
    let last = bodies.len() - 1;
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            Ok(BiftReply {
                seq: seq16(i)?,
                more: i < last,
                bift: Some(b),
            })
        })
        .collect()
}

impl BiftTable {
    /// [`bift_replies`] for one table.
    pub fn bift_replies(&self) -> Result<Vec<BiftReply>, BierError> {
        bift_replies(std::slice::from_ref(self))
    }
}

/// The tables of a complete reply (seq 0, 1, … with MORE on all but the last), fragments
/// merged by BIFT-id, in BIFT-id order.
pub fn collect_replies(replies: &[BiftReply]) -> Result<Vec<BiftTable>, BierError> {
    let mut tables: BTreeMap<u32, BiftTable> = BTreeMap::new();
    let last = replies.len().saturating_sub(1);
    for (i, r) in replies.iter().enumerate() {
        let bift_id = r.bift.as_ref().map_or(0, |b| b.key.bift_id);
        let bad = |why| BierError::Sequence {
            bift_id,
            txn: 0,
            seq: r.seq,
            why,
        };
        if usize::from(r.seq) != i {
            return Err(bad("reply messages out of order"));
        }
        if r.more != (i < last) {
            return Err(bad("MORE flag does not match the end of the reply"));
        }
        if let Some(b) = &r.bift {
            let part = b.resolve()?;
            match tables.get_mut(&part.key.bift_id) {
                Some(t) => t.merge(part)?,
                None => {
                    tables.insert(part.key.bift_id, part);
                }
            }
        }
    }
    Ok(tables.into_values().collect())
}

/// A transaction being staged (draft §6.2).
#[derive(Clone, Debug)]
struct Staged {
    txn: u32,
    command: BiftCommand,
    next_seq: u16,
    table: BiftTable,
}

/// A committed transaction: apply `table` with `command` in one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    /// The transaction.
    pub txn: u32,
    /// REPLACE or MODIFY.
    pub command: BiftCommand,
    /// The whole update.
    pub table: BiftTable,
}

/// A switch's staging of BIFT_MOD transactions on one OpenFlow connection (draft §6.2): parts
/// are validated as they come and nothing is applied until the commit; any error discards the
/// transaction, and its later parts are `BAD_SEQUENCE`.
#[derive(Clone, Debug, Default)]
pub struct BiftTxn {
    open: BTreeMap<u32, Staged>,
}

impl BiftTxn {
    /// No open transaction.
    pub fn new() -> BiftTxn {
        BiftTxn::default()
    }

    /// Takes one part. `Ok(Some(commit))` when it completes its transaction, `Ok(None)` when
    /// more parts are expected, `Err` (answer with `err.code()`) when the transaction is
    /// discarded.
    pub fn handle(&mut self, m: &BiftMod) -> Result<Option<Commit>, BierError> {
        let bift_id = m.bift.key.bift_id;
        let bad = |why| BierError::Sequence {
            bift_id,
            txn: m.txn,
            seq: m.seq,
            why,
        };
        if m.seq == 0 {
            // A new transaction replaces an open one on the same table.
            self.open.remove(&bift_id);
            m.validate()?;
            let table = m.bift.resolve()?;
            return Ok(self.stage(m, table, 1));
        }
        // Taken out: an error below leaves it discarded.
        let Some(mut st) = self.open.remove(&bift_id) else {
            return Err(bad(
                "no open transaction for this table (never started or discarded)",
            ));
        };
        if st.txn != m.txn {
            return Err(bad("txn differs from the open transaction's"));
        }
        if st.command != m.command {
            return Err(bad("command differs from part 0's"));
        }
        if st.next_seq != m.seq {
            return Err(bad("seq is not the next part"));
        }
        if st.table.key != m.bift.key || st.table.kind() != m.bift.kind() {
            return Err(bad("table key or kind differs from part 0's"));
        }
        m.validate()?;
        st.table.merge(m.bift.resolve()?)?;
        let next = st
            .next_seq
            .checked_add(1)
            .ok_or_else(|| bad("too many parts"))?;
        Ok(self.stage(m, st.table, next))
    }

    fn stage(&mut self, m: &BiftMod, table: BiftTable, next_seq: u16) -> Option<Commit> {
        if m.more {
            self.open.insert(
                table.key.bift_id,
                Staged {
                    txn: m.txn,
                    command: m.command,
                    next_seq,
                    table,
                },
            );
            None
        } else {
            Some(Commit {
                txn: m.txn,
                command: m.command,
                table,
            })
        }
    }

    /// Discards the open transaction of a table (BIFT_CLEAR).
    pub fn discard(&mut self, bift_id: u32) {
        self.open.remove(&bift_id);
    }

    /// Discards everything (connection closed).
    pub fn clear(&mut self) {
        self.open.clear();
    }

    /// Number of open transactions.
    pub fn open(&self) -> usize {
        self.open.len()
    }
}
