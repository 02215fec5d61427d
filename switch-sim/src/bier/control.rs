//! The switch side of our experimenter messages (draft §4–§9): capability reply, BIFT
//! transactions, clear and query, local BFR-ids, TSM configuration.
//!
//! Checks, in the order a part meets them, each refusal answered with the draft's code and
//! the first 64 bytes of the message, and nothing changed:
//! - a body that does not decode: an unknown exp_type `OFPBRC_BAD_EXP_TYPE`, a BSL code
//!   outside 1…7 `UNSUPPORTED_BSL`, an unknown table kind `BAD_ENTRY`, anything else the wrong
//!   size `OFPBRC_BAD_LEN`; a message only a switch sends (CAPS_REPLY, BIFT_REPLY, BFR_REPLY,
//!   TSM_EVENT) `OFPBRC_BAD_EXP_TYPE`;
//! - BIFT_MOD, per part: a BSL this switch lacks `UNSUPPORTED_BSL`, a sub-domain
//!   `UNSUPPORTED_SUB_DOMAIN`, an SI above `max_si` `BAD_SI`, BIER-TE when off
//!   `TE_UNSUPPORTED`, a BIFT-id held by a table of another key or kind `BAD_BIFT_ID`, a
//!   command other than REPLACE/MODIFY `BAD_ENTRY`, MODIFY of an absent table `NO_SUCH_BIFT`,
//!   more alternatives than `max_ecmp` `BAD_ENTRY`, a next hop on a port that cannot carry a
//!   copy `BAD_NEXT_HOP`, a forward_routed adjacency `BAD_ADJACENCY`; then the codec's rules
//!   and the transaction's sequence (`BiftTxn`); at the commit, more tables than `max_bifts`
//!   `TABLE_FULL`. Any refusal discards the part's whole transaction.
//! - BFR_MOD: the codec's rules `BAD_BFR_ID`, a sub-domain `UNSUPPORTED_SUB_DOMAIN`, a port
//!   the pipeline does not have (when strict) `BAD_BFR_ID`, more than `max_local_bfrs`
//!   `TABLE_FULL`.
//! - TSM_CONFIG: the codec's rules, or enabling on a switch without TSM, `BAD_TSM_CONFIG`.
//!
//! Staging is per OpenFlow channel (draft §6.2 rule 4): `Pipeline::handle_message_on` names
//! the channel, `Pipeline::close_channel` drops what it staged.

use std::collections::BTreeMap;

use openflow::error_msg::{BadRequestCode, ErrorCode};
use openflow::ext::bier::{
    bift_replies, BfrCommand, BfrMod, BfrQuery, BfrReply, BierError, BierErrorCode, BierMessage,
    BiftCommand, BiftEntries, BiftMod, BiftSelector, BiftTable, BslSet, Capabilities, CapsReply,
    CapsRequest, Hop, LocalBfr, TableEntries, TableKind, TsmConfig, TsmFlags, TsmReason,
    EXT_VERSION, HEADER_LEN, MAX_MESSAGE_LEN,
};
use openflow::{DecodeError, Experimenter, Message, PortNo};

use super::convert::compile;
use super::state::InstalledTable;
use crate::pipeline::{Pipeline, Time};

/// Why a BIER message was refused; [`Refusal::code`] is what the controller is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The body does not decode.
    #[error("undecodable BIER message: {0}")]
    Decode(DecodeError),
    /// A message type a switch does not accept.
    #[error("BIER exp_type {0} is not a request a switch accepts")]
    NotARequest(u32),
    /// One of the codec's rules (draft §6–§10).
    #[error(transparent)]
    Rule(#[from] BierError),
    /// Beyond what this switch does, or inconsistent with its state.
    #[error("{why}")]
    Semantic {
        /// The draft's code.
        code: BierErrorCode,
        /// What was wrong.
        why: String,
    },
}

impl Refusal {
    /// The `OFPT_ERROR` code the switch answers.
    pub fn code(&self) -> ErrorCode {
        match self {
            Refusal::Decode(DecodeError::BadValue { field, .. }) => match *field {
                "exp_type" => BadRequestCode::BadExpType.into(),
                "bsl" => BierErrorCode::UnsupportedBsl.into(),
                "kind" => BierErrorCode::BadEntry.into(),
                _ => BadRequestCode::BadLen.into(),
            },
            Refusal::Decode(_) => BadRequestCode::BadLen.into(),
            Refusal::NotARequest(_) => BadRequestCode::BadExpType.into(),
            Refusal::Rule(e) => e.code().into(),
            Refusal::Semantic { code, .. } => (*code).into(),
        }
    }

    fn new(code: BierErrorCode, why: impl Into<String>) -> Refusal {
        Refusal::Semantic {
            code,
            why: why.into(),
        }
    }
}

/// Records per BFR_REPLY message: what fits 64 KiB after the 24-byte header.
const BFRS_PER_REPLY: usize = (MAX_MESSAGE_LEN - HEADER_LEN - 8) / 8;

impl Pipeline {
    /// Handles one of our experimenter messages on `channel`; `Err` is answered as an error.
    pub(crate) fn bier_message(
        &mut self,
        now: Time,
        channel: u64,
        msg: &Message,
        e: &Experimenter,
    ) -> Result<(), ErrorCode> {
        let r = match BierMessage::from_experimenter(e) {
            Some(Ok(m)) => self.bier_request(now, channel, msg, m),
            Some(Err(d)) => Err(Refusal::Decode(d)),
            None => Err(Refusal::NotARequest(e.exp_type)),
        };
        r.map_err(|refusal| {
            let code = refusal.code();
            if let Some(b) = self.bier.as_deref_mut() {
                b.last_refusal = Some(refusal.to_string());
            }
            code
        })
    }

    fn bier_request(
        &mut self,
        now: Time,
        channel: u64,
        msg: &Message,
        m: BierMessage,
    ) -> Result<(), Refusal> {
        match m {
            BierMessage::CapsRequest(r) => self.caps(msg, &r),
            BierMessage::BiftMod(m) => self.bift_mod(now, channel, &m),
            BierMessage::BiftClear(s) => self.bift_clear(now, &s),
            BierMessage::BiftQuery(s) => self.bift_query(msg, &s),
            BierMessage::BfrMod(m) => self.bfr_mod(now, &m),
            BierMessage::BfrQuery(q) => self.bfr_query(msg, &q),
            BierMessage::TsmConfig(c) => self.tsm_config(now, &c),
            other => Err(Refusal::NotARequest(other.kind().value())),
        }
    }

    fn caps(&mut self, msg: &Message, r: &CapsRequest) -> Result<(), Refusal> {
        r.validate()?;
        let Some(b) = self.bier.as_deref() else {
            return Ok(());
        };
        let c = &b.config;
        let mut capabilities =
            Capabilities::BIER | Capabilities::ECMP | Capabilities::ENCAP | Capabilities::DECAP;
        if c.te {
            capabilities |= Capabilities::BIER_TE;
        }
        if c.tsm {
            capabilities |= Capabilities::TSM;
        }
        let reply = CapsReply {
            version: r.version.min(EXT_VERSION),
            max_ecmp: c.max_ecmp,
            capabilities,
            bsls: BslSet::of(c.bsls.iter().copied()),
            max_si: c.max_si,
            max_bifts: c.max_bifts,
            max_local_bfrs: c.max_local_bfrs,
            sub_domains: c.sub_domains.iter().copied().collect(),
        };
        self.queue_output(BierMessage::CapsReply(reply).to_message(msg.xid));
        Ok(())
    }

    /// Whether a port may carry a BIER copy: a physical port, and one this pipeline has if it
    /// is strict about ports.
    fn bier_port_ok(&self, p: PortNo) -> bool {
        p.is_physical()
            && p != PortNo::MAX
            && (!self.config().strict_ports || self.port(p).is_some())
    }

    fn bift_mod(&mut self, now: Time, channel: u64, m: &BiftMod) -> Result<(), Refusal> {
        let bift_id = m.bift.key.bift_id;
        let checked = self.check_part(m);
        let Some(b) = self.bier.as_deref_mut() else {
            return Ok(());
        };
        let txn = b.txns.entry(channel).or_default();
        if let Err(e) = checked {
            // Draft §6.2 rule 3: any error discards the whole transaction.
            txn.discard(bift_id);
            return Err(e);
        }
        let Some(commit) = txn.handle(m)? else {
            return Ok(());
        };
        let old = b.tables.get(&bift_id);
        let wire = match commit.command {
            BiftCommand::Replace => {
                let mut t = BiftTable::new(commit.table.key, commit.table.kind());
                t.apply(BiftCommand::Replace, commit.table)?;
                t
            }
            _ => {
                let Some(old) = old else {
                    return Err(Refusal::new(
                        BierErrorCode::NoSuchBift,
                        format!("MODIFY of absent BIFT {bift_id:#x}"),
                    ));
                };
                let mut t = old.wire.clone();
                t.apply(BiftCommand::Modify, commit.table)?;
                t
            }
        };
        if old.is_none() && b.tables.len() >= b.config.max_bifts as usize {
            return Err(Refusal::new(
                BierErrorCode::TableFull,
                format!(
                    "{} BIFTs already, the most this switch holds",
                    b.tables.len()
                ),
            ));
        }
        let cfg = b.config.clone();
        let fwd = compile(&wire, &cfg, &|p| self.bier_port_ok(p))?;
        if let Some(b) = self.bier.as_deref_mut() {
            b.tables.insert(bift_id, InstalledTable { wire, fwd });
        }
        self.tsm_invalidate(now, |id| id == bift_id, TsmReason::BiftChanged);
        Ok(())
    }

    /// The checks of one BIFT_MOD part against this switch (module header).
    fn check_part(&self, m: &BiftMod) -> Result<(), Refusal> {
        let Some(b) = self.bier.as_deref() else {
            return Ok(());
        };
        let c = &b.config;
        let key = &m.bift.key;
        if !c.bsls.contains(&key.bsl) {
            return Err(Refusal::new(
                BierErrorCode::UnsupportedBsl,
                format!("BSL {} bits not supported", key.bsl.bits()),
            ));
        }
        if !c.sub_domains.contains(&key.sub_domain) {
            return Err(Refusal::new(
                BierErrorCode::UnsupportedSubDomain,
                format!("sub-domain {} not supported", key.sub_domain),
            ));
        }
        if key.si > c.max_si {
            return Err(Refusal::new(
                BierErrorCode::BadSi,
                format!("SI {} above {}", key.si, c.max_si),
            ));
        }
        let kind = m.bift.kind();
        if kind == TableKind::BierTe && !c.te {
            return Err(Refusal::new(BierErrorCode::TeUnsupported, "BIER-TE is off"));
        }
        if let Some(t) = b.tables.get(&key.bift_id) {
            if t.wire.key != *key || t.kind() != kind {
                return Err(Refusal::new(
                    BierErrorCode::BadBiftId,
                    format!(
                        "BIFT-id {:#x} is held by a table of another key or kind",
                        key.bift_id
                    ),
                ));
            }
        }
        match m.command {
            BiftCommand::Replace => {}
            BiftCommand::Modify => {
                if m.seq == 0 && !b.tables.contains_key(&key.bift_id) {
                    return Err(Refusal::new(
                        BierErrorCode::NoSuchBift,
                        format!("MODIFY of absent BIFT {:#x}", key.bift_id),
                    ));
                }
            }
            BiftCommand::Other(v) => {
                return Err(Refusal::new(
                    BierErrorCode::BadEntry,
                    format!("unknown BIFT_MOD command {v}"),
                ))
            }
        }
        // Per entry: the part is compiled on its own (REMOVE / empty entries skipped), which
        // checks ports, ECMP width and adjacencies exactly as the commit will.
        let mut part = BiftTable::new(*key, kind);
        if let Ok(t) = m.bift.resolve() {
            part = t;
        }
        match &mut part.entries {
            TableEntries::Bier(e) => e.retain(|_, h| *h != Hop::Remove),
            TableEntries::BierTe(e) => e.retain(|_, a| !a.is_empty()),
        }
        if let BiftEntries::Bier { next_hops, .. } = &m.bift.entries {
            if let Some(nh) = next_hops.iter().find(|n| !self.bier_port_ok(n.port)) {
                return Err(Refusal::new(
                    BierErrorCode::BadNextHop,
                    format!(
                        "next hop {} on port {:?}, which cannot carry a copy",
                        nh.id, nh.port
                    ),
                ));
            }
        }
        compile(&part, c, &|p| self.bier_port_ok(p)).map(|_| ())
    }

    fn bift_clear(&mut self, now: Time, s: &BiftSelector) -> Result<(), Refusal> {
        s.validate()?;
        let Some(b) = self.bier.as_deref_mut() else {
            return Ok(());
        };
        let gone: Vec<u32> = b
            .tables
            .values()
            .filter(|t| s.matches(&t.wire.key, t.kind()))
            .map(|t| t.wire.key.bift_id)
            .collect();
        for id in &gone {
            b.tables.remove(id);
        }
        for txn in b.txns.values_mut() {
            if *s == BiftSelector::ALL {
                txn.clear();
            } else {
                for id in gone.iter().chain(s.bift_id.as_ref()) {
                    txn.discard(*id);
                }
            }
        }
        self.tsm_invalidate(now, |id| gone.contains(&id), TsmReason::BiftChanged);
        Ok(())
    }

    fn bift_query(&mut self, msg: &Message, s: &BiftSelector) -> Result<(), Refusal> {
        s.validate()?;
        let Some(b) = self.bier.as_deref() else {
            return Ok(());
        };
        let tables: Vec<BiftTable> = b
            .tables
            .values()
            .filter(|t| s.matches(&t.wire.key, t.kind()))
            .map(|t| t.wire.clone())
            .collect();
        for r in bift_replies(&tables)? {
            self.queue_output(BierMessage::BiftReply(r).to_message(msg.xid));
        }
        Ok(())
    }

    fn bfr_mod(&mut self, now: Time, m: &BfrMod) -> Result<(), Refusal> {
        m.validate()?;
        let missing = if m.command != BfrCommand::Delete && self.config().strict_ports {
            m.bfrs
                .iter()
                .find(|r| r.port.is_physical() && self.port(r.port).is_none())
                .copied()
        } else {
            None
        };
        let Some(b) = self.bier.as_deref_mut() else {
            return Ok(());
        };
        if !b.config.sub_domains.contains(&m.sub_domain) {
            return Err(Refusal::new(
                BierErrorCode::UnsupportedSubDomain,
                format!("sub-domain {} not supported", m.sub_domain),
            ));
        }
        if let Some(r) = missing {
            return Err(Refusal::new(
                BierErrorCode::BadBfrId,
                format!("BFR-id {}: no port {:?}", r.bfr_id, r.port),
            ));
        }
        let old = b.bfrs.get(&m.sub_domain).cloned().unwrap_or_default();
        let new: BTreeMap<u16, LocalBfr> = match m.command {
            BfrCommand::Replace => m.bfrs.iter().map(|r| (r.bfr_id, *r)).collect(),
            BfrCommand::Add => {
                let mut n = old;
                n.extend(m.bfrs.iter().map(|r| (r.bfr_id, *r)));
                n
            }
            _ => {
                let mut n = old;
                for r in &m.bfrs {
                    n.remove(&r.bfr_id);
                }
                n
            }
        };
        if new.len() > usize::from(b.config.max_local_bfrs) {
            return Err(Refusal::new(
                BierErrorCode::TableFull,
                format!(
                    "{} local BFR-ids in sub-domain {}, this switch holds {}",
                    new.len(),
                    m.sub_domain,
                    b.config.max_local_bfrs
                ),
            ));
        }
        if new.is_empty() {
            b.bfrs.remove(&m.sub_domain);
        } else {
            b.bfrs.insert(m.sub_domain, new);
        }
        let sd = m.sub_domain;
        let of_sd: Vec<u32> = b
            .tables
            .values()
            .filter(|t| t.wire.key.sub_domain == sd)
            .map(|t| t.wire.key.bift_id)
            .collect();
        self.tsm_invalidate(now, |id| of_sd.contains(&id), TsmReason::BiftChanged);
        Ok(())
    }

    fn bfr_query(&mut self, msg: &Message, q: &BfrQuery) -> Result<(), Refusal> {
        let Some(b) = self.bier.as_deref() else {
            return Ok(());
        };
        let mut replies = Vec::new();
        for (sd, records) in &b.bfrs {
            if q.sub_domain.is_some_and(|want| want != *sd) || records.is_empty() {
                continue;
            }
            let all: Vec<LocalBfr> = records.values().copied().collect();
            for chunk in all.chunks(BFRS_PER_REPLY) {
                replies.push(BfrReply {
                    more: true,
                    sub_domain: *sd,
                    bfrs: chunk.to_vec(),
                });
            }
        }
        if replies.is_empty() {
            replies.push(BfrReply {
                more: false,
                sub_domain: q.sub_domain.unwrap_or(0),
                bfrs: Vec::new(),
            });
        }
        if let Some(last) = replies.last_mut() {
            last.more = false;
        }
        for r in replies {
            self.queue_output(BierMessage::BfrReply(r).to_message(msg.xid));
        }
        Ok(())
    }

    fn tsm_config(&mut self, now: Time, c: &TsmConfig) -> Result<(), Refusal> {
        c.validate()?;
        let supported = self.bier.as_deref().is_some_and(|b| b.config.tsm);
        if c.flags.contains(TsmFlags::ENABLE) && !supported {
            return Err(Refusal::new(
                BierErrorCode::BadTsmConfig,
                "BIER→TSM caching is not supported here",
            ));
        }
        self.tsm_configure(now, *c);
        Ok(())
    }
}
