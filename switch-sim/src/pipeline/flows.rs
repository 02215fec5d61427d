//! Flow entries and `OFPT_FLOW_MOD` (OF1.3.5 §6.4), timeouts (§5.5) and `OFPT_FLOW_REMOVED`
//! (§7.4.2).
//!
//! - ADD replaces an entry with the same match and priority (no FLOW_REMOVED for it); its
//!   counters carry over unless `OFPFF_RESET_COUNTS`; its duration and timeouts restart.
//!   `OFPFF_CHECK_OVERLAP` refuses an entry that overlaps one of the same priority (an
//!   identical one included, as in Open vSwitch).
//! - MODIFY and MODIFY_STRICT replace the instructions of the entries they select (never add
//!   one: OF1.3 dropped OF1.0's modify-as-add), and keep cookie, timeouts, flags and counters
//!   (counters reset with `OFPFF_RESET_COUNTS`).
//! - DELETE and DELETE_STRICT remove the entries they select, filtered by `out_port`,
//!   `out_group` and `cookie`/`cookie_mask`, with FLOW_REMOVED (reason DELETE) for entries
//!   that asked for it.
//! - Non-strict commands select every entry the request's match covers (at least as specific);
//!   strict ones the entry with exactly that match and priority.
//! - A refused request changes nothing: every check runs before the first change.

use openflow::error_msg::{BadRequestCode, ErrorCode, FlowModFailedCode};
use openflow::msg::{FlowModFlags, FlowRemovedMask};
use openflow::{
    BufferId, Cookie, FlowMod, FlowModCommand, FlowRemoved, FlowRemovedReason, GroupId,
    Instruction, Match, Message, PortNo, TableId, Xid,
};
use std::time::Duration;

use super::flow_match::{compile, Compiled};
use super::validate::Program;
use super::{Pipeline, Time};

/// One flow entry (OF1.3.5 §5.2).
#[derive(Clone, Debug)]
pub(crate) struct FlowEntry {
    pub table: u8,
    pub priority: u16,
    pub match_: Match,
    pub m: Compiled,
    pub instructions: Vec<Instruction>,
    pub prog: Program,
    pub groups: Vec<u32>,
    pub cookie: Cookie,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub flags: FlowModFlags,
    pub created: Time,
    pub used: Time,
    pub packets: u64,
    pub bytes: u64,
    /// Insertion order: among equal priorities the older entry wins, and replies list
    /// entries in this order.
    pub seq: u64,
    /// The deadline under which the entry sits in `Pipeline::deadlines`.
    pub scheduled: Option<Time>,
}

impl FlowEntry {
    /// The table-miss entry of its table: priority 0, matching everything (OF1.3.5 §5.4).
    pub fn is_table_miss(&self) -> bool {
        self.priority == 0 && self.m.is_catch_all()
    }

    /// When the entry expires at the earliest, if it has a timeout.
    fn deadline(&self) -> Option<Time> {
        let hard = (self.hard_timeout > 0)
            .then(|| self.created + Duration::from_secs(self.hard_timeout.into()));
        let idle = (self.idle_timeout > 0)
            .then(|| self.used + Duration::from_secs(self.idle_timeout.into()));
        match (hard, idle) {
            (Some(h), Some(i)) => Some(h.min(i)),
            (h, i) => h.or(i),
        }
    }

    /// Why the entry has expired at `now`, if it has (the hard timeout is checked first).
    fn expired(&self, now: Time) -> Option<FlowRemovedReason> {
        let hard = Duration::from_secs(self.hard_timeout.into());
        let idle = Duration::from_secs(self.idle_timeout.into());
        if self.hard_timeout > 0 && now >= self.created + hard {
            Some(FlowRemovedReason::HardTimeout)
        } else if self.idle_timeout > 0 && now >= self.used + idle {
            Some(FlowRemovedReason::IdleTimeout)
        } else {
            None
        }
    }

    pub fn duration(&self, now: Time) -> Duration {
        now.saturating_since(self.created)
    }
}

/// The entries a request selects: table, match (covering or exact), cookie, out_port,
/// out_group.
pub(crate) struct Selector<'a> {
    pub table: TableId,
    pub m: &'a Compiled,
    pub strict_priority: Option<u16>,
    pub cookie: Cookie,
    pub cookie_mask: u64,
    pub out_port: PortNo,
    pub out_group: GroupId,
}

impl Pipeline {
    pub(crate) fn flow_mod(&mut self, now: Time, fm: &FlowMod) -> Result<(), ErrorCode> {
        match fm.command {
            FlowModCommand::Add => self.flow_add(now, fm),
            FlowModCommand::Modify => self.flow_modify(fm, false),
            FlowModCommand::ModifyStrict => self.flow_modify(fm, true),
            FlowModCommand::Delete => self.flow_delete(now, fm, false),
            FlowModCommand::DeleteStrict => self.flow_delete(now, fm, true),
            FlowModCommand::Other(_) => Err(FlowModFailedCode::BadCommand.into()),
        }
    }

    fn check_flags(fm: &FlowMod) -> Result<(), ErrorCode> {
        if FlowModFlags::from_bits(fm.flags.bits()).is_none() {
            return Err(FlowModFailedCode::BadFlags.into());
        }
        Ok(())
    }

    fn check_table(&self, t: TableId) -> Result<(), ErrorCode> {
        if t != TableId::ALL && usize::from(t.0) >= self.tables.len() {
            // Open vSwitch's answer for a table it does not have.
            return Err(BadRequestCode::BadTableId.into());
        }
        Ok(())
    }

    fn flow_add(&mut self, now: Time, fm: &FlowMod) -> Result<(), ErrorCode> {
        if fm.table_id == TableId::ALL {
            return Err(FlowModFailedCode::BadTableId.into());
        }
        let (m, known) = compile(&fm.match_).map_err(ErrorCode::from)?;
        Self::check_flags(fm)?;
        let prog = self.check_instructions(Some(fm.table_id.0), &fm.instructions, known)?;
        self.check_table(fm.table_id)?;
        if fm.buffer_id != BufferId::NO_BUFFER {
            // No packet is ever buffered (n_buffers = 0).
            return Err(BadRequestCode::BufferUnknown.into());
        }
        let Some(table) = self.tables.get(usize::from(fm.table_id.0)) else {
            return Err(BadRequestCode::BadTableId.into());
        };
        let existing = table.find_exact(fm.priority, &m, &self.flows);
        if fm.flags.contains(FlowModFlags::CHECK_OVERLAP)
            && table.overlapping(fm.priority, &m, &self.flows)
        {
            return Err(FlowModFailedCode::Overlap.into());
        }
        if existing.is_none() && table.count >= self.config.table_capacity as usize {
            return Err(FlowModFailedCode::TableFull.into());
        }
        let mut entry = FlowEntry {
            table: fm.table_id.0,
            priority: fm.priority,
            match_: fm.match_.clone(),
            m,
            instructions: fm.instructions.clone(),
            groups: prog.groups(),
            prog,
            cookie: fm.cookie,
            idle_timeout: fm.idle_timeout,
            hard_timeout: fm.hard_timeout,
            flags: fm.flags,
            created: now,
            used: now,
            packets: 0,
            bytes: 0,
            seq: 0,
            scheduled: None,
        };
        if let Some(old) = existing {
            if let Some(o) = self.flow(old) {
                if !fm.flags.contains(FlowModFlags::RESET_COUNTS) {
                    entry.packets = o.packets;
                    entry.bytes = o.bytes;
                }
            }
            self.remove_flow(now, old, None);
        }
        self.insert_flow(entry);
        Ok(())
    }

    fn flow_modify(&mut self, fm: &FlowMod, strict: bool) -> Result<(), ErrorCode> {
        let (m, known) = compile(&fm.match_).map_err(ErrorCode::from)?;
        Self::check_flags(fm)?;
        let table = (fm.table_id != TableId::ALL).then_some(fm.table_id.0);
        let prog = self.check_instructions(table, &fm.instructions, known)?;
        self.check_table(fm.table_id)?;
        // OF1.3.5 §6.4: out_port and out_group are ignored by MODIFY.
        let ids = self.select(&Selector {
            table: fm.table_id,
            m: &m,
            strict_priority: strict.then_some(fm.priority),
            cookie: fm.cookie,
            cookie_mask: fm.cookie_mask,
            out_port: PortNo::ANY,
            out_group: GroupId::ANY,
        });
        let groups = prog.groups();
        for id in ids {
            let Some(e) = self.flows.get_mut(id as usize).and_then(Option::as_mut) else {
                continue;
            };
            for g in &e.groups {
                self.group_refs.remove(&(*g, id));
            }
            e.prog = prog.clone();
            e.instructions = fm.instructions.clone();
            e.groups = groups.clone();
            if fm.flags.contains(FlowModFlags::RESET_COUNTS) {
                e.packets = 0;
                e.bytes = 0;
            }
            for g in &groups {
                self.group_refs.insert((*g, id));
            }
        }
        Ok(())
    }

    fn flow_delete(&mut self, now: Time, fm: &FlowMod, strict: bool) -> Result<(), ErrorCode> {
        let (m, _) = compile(&fm.match_).map_err(ErrorCode::from)?;
        self.check_table(fm.table_id)?;
        let ids = self.select(&Selector {
            table: fm.table_id,
            m: &m,
            strict_priority: strict.then_some(fm.priority),
            cookie: fm.cookie,
            cookie_mask: fm.cookie_mask,
            out_port: fm.out_port,
            out_group: fm.out_group,
        });
        for id in ids {
            self.remove_flow(now, id, Some(FlowRemovedReason::Delete));
        }
        Ok(())
    }

    /// The entries a request selects, by table, priority (highest first) and age.
    pub(crate) fn select(&self, s: &Selector<'_>) -> Vec<u32> {
        let tables = if s.table == TableId::ALL {
            0..self.tables.len()
        } else {
            let t = usize::from(s.table.0);
            t..(t + 1).min(self.tables.len())
        };
        let keep = |e: &FlowEntry| {
            (e.cookie.0 & s.cookie_mask) == (s.cookie.0 & s.cookie_mask)
                && (s.out_port == PortNo::ANY || e.prog.outputs_to(s.out_port))
                && (s.out_group == GroupId::ANY || e.groups.contains(&s.out_group.0))
        };
        let mut out: Vec<(u8, std::cmp::Reverse<u16>, u64, u32)> = Vec::new();
        match s.strict_priority {
            Some(prio) => {
                for t in tables {
                    let Some(id) = self.tables[t].find_exact(prio, s.m, &self.flows) else {
                        continue;
                    };
                    if let Some(e) = self.flow(id).filter(|e| keep(e)) {
                        out.push((e.table, std::cmp::Reverse(e.priority), e.seq, id));
                    }
                }
            }
            None => {
                for (id, e) in self.flows.iter().enumerate() {
                    let Some(e) = e else { continue };
                    if tables.contains(&usize::from(e.table)) && s.m.covers(&e.m) && keep(e) {
                        let id = u32::try_from(id).unwrap_or(u32::MAX);
                        out.push((e.table, std::cmp::Reverse(e.priority), e.seq, id));
                    }
                }
            }
        }
        out.sort_unstable();
        out.into_iter().map(|(.., id)| id).collect()
    }

    fn insert_flow(&mut self, mut entry: FlowEntry) -> u32 {
        entry.seq = self.next_seq;
        self.next_seq += 1;
        let id = match self.free_ids.pop() {
            Some(id) => id,
            None => {
                self.flows.push(None);
                u32::try_from(self.flows.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let (t, prio, m) = (usize::from(entry.table), entry.priority, entry.m);
        for g in &entry.groups {
            self.group_refs.insert((*g, id));
        }
        if let Some(d) = entry.deadline() {
            entry.scheduled = Some(d);
            self.deadlines.insert((d, id));
        }
        if let Some(slot) = self.flows.get_mut(id as usize) {
            *slot = Some(entry);
        }
        if let Some(table) = self.tables.get_mut(t) {
            table.insert(id, prio, &m, &self.flows);
        }
        id
    }

    /// Removes an entry; with a reason, sends FLOW_REMOVED if the entry asked for it.
    pub(crate) fn remove_flow(&mut self, now: Time, id: u32, reason: Option<FlowRemovedReason>) {
        let Some(e) = self.flows.get_mut(id as usize).and_then(Option::take) else {
            return;
        };
        self.free_ids.push(id);
        if let Some(t) = self.tables.get_mut(usize::from(e.table)) {
            t.remove(id, e.priority, &e.m);
        }
        if let Some(d) = e.scheduled {
            self.deadlines.remove(&(d, id));
        }
        for g in &e.groups {
            self.group_refs.remove(&(*g, id));
        }
        let Some(reason) = reason else { return };
        let bit = match reason {
            FlowRemovedReason::IdleTimeout => FlowRemovedMask::IDLE_TIMEOUT,
            FlowRemovedReason::HardTimeout => FlowRemovedMask::HARD_TIMEOUT,
            FlowRemovedReason::Delete => FlowRemovedMask::DELETE,
            FlowRemovedReason::GroupDelete => FlowRemovedMask::GROUP_DELETE,
            _ => FlowRemovedMask::METER_DELETE,
        };
        if !e.flags.contains(FlowModFlags::SEND_FLOW_REM)
            || !self.async_config.flow_removed_mask[0].contains(bit)
        {
            return;
        }
        let d = e.duration(now);
        let fr = FlowRemoved {
            cookie: e.cookie,
            priority: e.priority,
            reason,
            table_id: TableId(e.table),
            duration_sec: u32::try_from(d.as_secs()).unwrap_or(u32::MAX),
            duration_nsec: d.subsec_nanos(),
            idle_timeout: e.idle_timeout,
            hard_timeout: e.hard_timeout,
            packet_count: e.packets,
            byte_count: e.bytes,
            match_: e.match_,
        };
        self.out.push_back(Message::new(Xid(0), fr));
    }

    pub(crate) fn expire(&mut self, now: Time) {
        while let Some(&(t, id)) = self.deadlines.first() {
            if t > now {
                break;
            }
            self.deadlines.pop_first();
            let Some(e) = self.flows.get_mut(id as usize).and_then(Option::as_mut) else {
                continue;
            };
            e.scheduled = None;
            match e.expired(now) {
                Some(reason) => self.remove_flow(now, id, Some(reason)),
                None => {
                    // An idle entry was used since it was scheduled: wait for its new deadline.
                    if let Some(d) = e.deadline() {
                        e.scheduled = Some(d);
                        self.deadlines.insert((d, id));
                    }
                }
            }
        }
    }
}
