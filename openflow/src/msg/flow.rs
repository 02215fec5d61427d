//! Flow entries: `ofp_flow_mod` (OF1.3.5 §7.3.4.1) and `ofp_flow_removed` (OF1.3.5 §7.4.2).

use bitflags::bitflags;

use crate::error::DecodeError;
use crate::instruction::{parse_instructions, Instruction};
use crate::macros::open_enum;
use crate::oxm::Match;
use crate::types::{BufferId, Cookie, GroupId, PortNo, TableId};
use crate::wire::{emit_list, list_len, Reader, Wire, Writer};

open_enum! {
    /// Flow mod command — `ofp_flow_mod_command` (OF1.3.5 §7.3.4.1).
    pub enum FlowModCommand: u8 {
        /// `OFPFC_ADD`: new flow.
        Add = 0,
        /// `OFPFC_MODIFY`: modify all matching flows.
        Modify = 1,
        /// `OFPFC_MODIFY_STRICT`: modify the entry with exactly this match and priority.
        ModifyStrict = 2,
        /// `OFPFC_DELETE`: delete all matching flows.
        Delete = 3,
        /// `OFPFC_DELETE_STRICT`: delete the entry with exactly this match and priority.
        DeleteStrict = 4,
    }
}

bitflags! {
    /// Flow mod flags — `ofp_flow_mod_flags` (OF1.3.5 §7.3.4.1).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct FlowModFlags: u16 {
        /// `OFPFF_SEND_FLOW_REM`: send a flow removed message when the entry goes.
        const SEND_FLOW_REM = 1 << 0;
        /// `OFPFF_CHECK_OVERLAP`: refuse an add that overlaps an entry of equal priority.
        const CHECK_OVERLAP = 1 << 1;
        /// `OFPFF_RESET_COUNTS`: reset the entry's counters.
        const RESET_COUNTS = 1 << 2;
        /// `OFPFF_NO_PKT_COUNTS`: do not count packets.
        const NO_PKT_COUNTS = 1 << 3;
        /// `OFPFF_NO_BYT_COUNTS`: do not count bytes.
        const NO_BYT_COUNTS = 1 << 4;
    }
}

/// `OFPT_FLOW_MOD` body: a 40-byte fixed part, the match, then the instructions to the end of
/// the message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FlowMod {
    /// `cookie`: opaque to the switch; the controller puts its trace id here.
    pub cookie: Cookie,
    /// `cookie_mask`: the cookie bits that must match for MODIFY and DELETE (0: any cookie).
    pub cookie_mask: u64,
    /// `table_id`: `TableId::ALL` is allowed for deletes.
    pub table_id: TableId,
    /// `command`.
    pub command: FlowModCommand,
    /// `idle_timeout` in seconds (0: none).
    pub idle_timeout: u16,
    /// `hard_timeout` in seconds (0: none).
    pub hard_timeout: u16,
    /// `priority`.
    pub priority: u16,
    /// `buffer_id`: a buffered packet to run through the new entry, or `BufferId::NO_BUFFER`.
    pub buffer_id: BufferId,
    /// `out_port`: for deletes, only entries that output to this port (`PortNo::ANY`: all).
    pub out_port: PortNo,
    /// `out_group`: for deletes, only entries that output to this group (`GroupId::ANY`: all).
    pub out_group: GroupId,
    /// `flags`.
    pub flags: FlowModFlags,
    /// `match`.
    pub match_: Match,
    /// `instructions`.
    pub instructions: Vec<Instruction>,
}

impl FlowMod {
    /// A flow mod with the spec's defaults: cookie 0 and no cookie mask, table 0, no
    /// timeouts, `OFP_DEFAULT_PRIORITY`, `OFP_NO_BUFFER`, `OFPP_ANY`, `OFPG_ANY`, no flags,
    /// the empty match (every packet), no instructions.
    pub fn new(command: FlowModCommand) -> FlowMod {
        FlowMod {
            cookie: Cookie(0),
            cookie_mask: 0,
            table_id: TableId(0),
            command,
            idle_timeout: 0,
            hard_timeout: 0,
            priority: super::DEFAULT_PRIORITY,
            buffer_id: BufferId::NO_BUFFER,
            out_port: PortNo::ANY,
            out_group: GroupId::ANY,
            flags: FlowModFlags::empty(),
            match_: Match::default(),
            instructions: Vec::new(),
        }
    }

    /// `OFPFC_ADD` of an entry.
    pub fn add(
        table_id: TableId,
        priority: u16,
        match_: Match,
        instructions: Vec<Instruction>,
    ) -> FlowMod {
        FlowMod {
            table_id,
            priority,
            match_,
            instructions,
            ..FlowMod::new(FlowModCommand::Add)
        }
    }

    /// `OFPFC_MODIFY_STRICT` of the entry with this match and priority.
    pub fn modify_strict(
        table_id: TableId,
        priority: u16,
        match_: Match,
        instructions: Vec<Instruction>,
    ) -> FlowMod {
        FlowMod {
            command: FlowModCommand::ModifyStrict,
            ..FlowMod::add(table_id, priority, match_, instructions)
        }
    }

    /// `OFPFC_DELETE` of every entry in `table_id` (`TableId::ALL`: every table) that the
    /// match covers.
    pub fn delete(table_id: TableId, match_: Match) -> FlowMod {
        FlowMod {
            table_id,
            match_,
            ..FlowMod::new(FlowModCommand::Delete)
        }
    }

    /// `OFPFC_DELETE_STRICT` of the entry with exactly this match and priority.
    pub fn delete_strict(table_id: TableId, priority: u16, match_: Match) -> FlowMod {
        FlowMod {
            table_id,
            priority,
            match_,
            ..FlowMod::new(FlowModCommand::DeleteStrict)
        }
    }

    /// `OFPFC_DELETE` of every entry, in every table, whose cookie is `cookie`.
    pub fn delete_by_cookie(cookie: Cookie) -> FlowMod {
        FlowMod {
            cookie,
            cookie_mask: u64::MAX,
            ..FlowMod::delete(TableId::ALL, Match::default())
        }
    }

    /// With `cookie`.
    #[must_use]
    pub fn with_cookie(mut self, cookie: Cookie) -> FlowMod {
        self.cookie = cookie;
        self
    }

    /// With `cookie_mask`.
    #[must_use]
    pub fn with_cookie_mask(mut self, mask: u64) -> FlowMod {
        self.cookie_mask = mask;
        self
    }

    /// With `hard_timeout` (seconds).
    #[must_use]
    pub fn with_hard_timeout(mut self, secs: u16) -> FlowMod {
        self.hard_timeout = secs;
        self
    }

    /// With `idle_timeout` (seconds).
    #[must_use]
    pub fn with_idle_timeout(mut self, secs: u16) -> FlowMod {
        self.idle_timeout = secs;
        self
    }

    /// With these flags added.
    #[must_use]
    pub fn with_flags(mut self, flags: FlowModFlags) -> FlowMod {
        self.flags |= flags;
        self
    }

    /// With `out_port` (delete filters).
    #[must_use]
    pub fn with_out_port(mut self, port: PortNo) -> FlowMod {
        self.out_port = port;
        self
    }

    /// With `out_group` (delete filters).
    #[must_use]
    pub fn with_out_group(mut self, group: GroupId) -> FlowMod {
        self.out_group = group;
        self
    }

    /// With `buffer_id`.
    #[must_use]
    pub fn with_buffer_id(mut self, buffer_id: BufferId) -> FlowMod {
        self.buffer_id = buffer_id;
        self
    }
}

/// Bytes of `ofp_flow_mod` before the match.
const FIXED_LEN: usize = 40;

/// A flow mod from its fixed part, read field by field from `r`, and its match and
/// instructions. Always inlined, so that over a reader of exactly the fixed part (see
/// `Reader::split_fixed`) the per-field bounds checks go.
#[inline(always)]
fn with_fixed(
    r: &mut Reader<'_>,
    match_: Match,
    instructions: Vec<Instruction>,
) -> Result<FlowMod, DecodeError> {
    let f = FlowMod {
        cookie: Cookie(r.u64()?),
        cookie_mask: r.u64()?,
        table_id: TableId(r.u8()?),
        command: FlowModCommand::from(r.u8()?),
        idle_timeout: r.u16()?,
        hard_timeout: r.u16()?,
        priority: r.u16()?,
        buffer_id: BufferId(r.u32()?),
        out_port: PortNo(r.u32()?),
        out_group: GroupId(r.u32()?),
        flags: FlowModFlags::from_bits_retain(r.u16()?),
        match_,
        instructions,
    };
    r.skip(2)?; // pad[2]
    Ok(f)
}

impl Wire for FlowMod {
    fn wire_len(&self) -> usize {
        FIXED_LEN + self.match_.wire_len() + list_len(&self.instructions)
    }

    fn emit(&self, w: &mut Writer<'_>) {
        // The 40-byte fixed part is filled in place: one bounds check for all of it.
        let b = w.take_array::<FIXED_LEN>();
        b[0..8].copy_from_slice(&self.cookie.0.to_be_bytes());
        b[8..16].copy_from_slice(&self.cookie_mask.to_be_bytes());
        b[16] = self.table_id.0;
        b[17] = self.command.value();
        b[18..20].copy_from_slice(&self.idle_timeout.to_be_bytes());
        b[20..22].copy_from_slice(&self.hard_timeout.to_be_bytes());
        b[22..24].copy_from_slice(&self.priority.to_be_bytes());
        b[24..28].copy_from_slice(&self.buffer_id.0.to_be_bytes());
        b[28..32].copy_from_slice(&self.out_port.0.to_be_bytes());
        b[32..36].copy_from_slice(&self.out_group.0.to_be_bytes());
        b[36..38].copy_from_slice(&self.flags.bits().to_be_bytes());
        b[38..40].fill(0); // pad[2]
        self.match_.emit(w);
        emit_list(&self.instructions, w);
    }

    /// Parses the rest of the message as a flow mod body.
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        // With all of the fixed part there, its fields are decoded last, from the message
        // bytes straight into the result, instead of being held across the calls below. Cut
        // short, it is read field by field from `r`, which fails (fewer than 40 bytes) exactly
        // where that reading fails.
        let Some(mut fixed) = r.split_fixed::<FIXED_LEN>() else {
            return with_fixed(r, Match::default(), Vec::new());
        };
        let match_ = Match::parse(r)?;
        let instructions = parse_instructions(r)?;
        with_fixed(&mut fixed, match_, instructions)
    }
}

open_enum! {
    /// Why a flow entry was removed — `ofp_flow_removed_reason` (OF1.3.5 §7.4.2).
    pub enum FlowRemovedReason: u8 {
        /// `OFPRR_IDLE_TIMEOUT`.
        IdleTimeout = 0,
        /// `OFPRR_HARD_TIMEOUT`.
        HardTimeout = 1,
        /// `OFPRR_DELETE`: evicted by a delete flow mod.
        Delete = 2,
        /// `OFPRR_GROUP_DELETE`: its group was removed.
        GroupDelete = 3,
        /// `OFPRR_METER_DELETE`: its meter was removed.
        MeterDelete = 4,
    }
}

/// `OFPT_FLOW_REMOVED` body: a 40-byte fixed part, then the match.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FlowRemoved {
    /// `cookie`.
    pub cookie: Cookie,
    /// `priority`.
    pub priority: u16,
    /// `reason`.
    pub reason: FlowRemovedReason,
    /// `table_id`.
    pub table_id: TableId,
    /// `duration_sec`: time the entry was alive, seconds part.
    pub duration_sec: u32,
    /// `duration_nsec`: nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
    /// `idle_timeout` from the flow mod.
    pub idle_timeout: u16,
    /// `hard_timeout` from the flow mod.
    pub hard_timeout: u16,
    /// `packet_count`.
    pub packet_count: u64,
    /// `byte_count`.
    pub byte_count: u64,
    /// `match`.
    pub match_: Match,
}

impl Wire for FlowRemoved {
    fn wire_len(&self) -> usize {
        40 + self.match_.wire_len()
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u64(self.cookie.0);
        w.u16(self.priority);
        w.u8(self.reason.value());
        w.u8(self.table_id.0);
        w.u32(self.duration_sec);
        w.u32(self.duration_nsec);
        w.u16(self.idle_timeout);
        w.u16(self.hard_timeout);
        w.u64(self.packet_count);
        w.u64(self.byte_count);
        self.match_.emit(w);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(FlowRemoved {
            cookie: Cookie(r.u64()?),
            priority: r.u16()?,
            reason: FlowRemovedReason::from(r.u8()?),
            table_id: TableId(r.u8()?),
            duration_sec: r.u32()?,
            duration_nsec: r.u32()?,
            idle_timeout: r.u16()?,
            hard_timeout: r.u16()?,
            packet_count: r.u64()?,
            byte_count: r.u64()?,
            match_: Match::parse(r)?,
        })
    }
}

#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    use super::*;
    use proptest::prelude::*;

    pub fn flow_mod() -> impl Strategy<Value = FlowMod> {
        (
            (any::<u64>(), any::<u64>(), any::<u8>(), any::<u8>()),
            (any::<u16>(), any::<u16>(), any::<u16>()),
            (any::<u32>(), any::<u32>(), any::<u32>(), any::<u16>()),
            crate::oxm::arb::match_(),
            crate::instruction::arb::instructions(),
        )
            .prop_map(
                |(
                    (cookie, cookie_mask, t, c),
                    (idle_timeout, hard_timeout, priority),
                    (b, p, g, f),
                    match_,
                    instructions,
                )| FlowMod {
                    cookie: Cookie(cookie),
                    cookie_mask,
                    table_id: TableId(t),
                    command: FlowModCommand::from(c),
                    idle_timeout,
                    hard_timeout,
                    priority,
                    buffer_id: BufferId(b),
                    out_port: PortNo(p),
                    out_group: GroupId(g),
                    flags: FlowModFlags::from_bits_retain(f),
                    match_,
                    instructions,
                },
            )
    }

    pub fn flow_removed() -> impl Strategy<Value = FlowRemoved> {
        (
            (any::<u64>(), any::<u16>(), any::<u8>(), any::<u8>()),
            (any::<u32>(), any::<u32>(), any::<u16>(), any::<u16>()),
            (any::<u64>(), any::<u64>()),
            crate::oxm::arb::match_(),
        )
            .prop_map(
                |(
                    (cookie, priority, reason, t),
                    (duration_sec, duration_nsec, idle_timeout, hard_timeout),
                    (packet_count, byte_count),
                    match_,
                )| FlowRemoved {
                    cookie: Cookie(cookie),
                    priority,
                    reason: FlowRemovedReason::from(reason),
                    table_id: TableId(t),
                    duration_sec,
                    duration_nsec,
                    idle_timeout,
                    hard_timeout,
                    packet_count,
                    byte_count,
                    match_,
                },
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::parse_all;
    use proptest::prelude::*;

    #[test]
    fn builders_use_spec_defaults() {
        let f = FlowMod::add(TableId(1), 100, Match::default(), vec![])
            .with_cookie(Cookie(7))
            .with_hard_timeout(30)
            .with_flags(FlowModFlags::SEND_FLOW_REM);
        assert_eq!(f.command, FlowModCommand::Add);
        assert_eq!(f.buffer_id, BufferId::NO_BUFFER);
        assert_eq!(f.out_port, PortNo::ANY);
        assert_eq!(f.out_group, GroupId::ANY);
        assert_eq!(f.cookie_mask, 0);
        let d = FlowMod::delete_by_cookie(Cookie(7));
        assert_eq!(d.command, FlowModCommand::Delete);
        assert_eq!(d.table_id, TableId::ALL);
        assert_eq!(d.cookie_mask, u64::MAX);
        assert_eq!(
            FlowMod::delete_strict(TableId(0), 5, Match::default()).command,
            FlowModCommand::DeleteStrict
        );
        assert_eq!(
            FlowMod::modify_strict(TableId(0), 5, Match::default(), vec![]).command,
            FlowModCommand::ModifyStrict
        );
    }

    #[test]
    fn flow_removed_trailing_bytes() {
        let mut b = FlowMod::new(FlowModCommand::Add).to_vec();
        assert!(parse_all::<FlowMod>(&b).is_ok());
        b.truncate(40);
        assert!(matches!(
            parse_all::<FlowMod>(&b),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn truncated_fixed_part_names_the_field_that_does_not_fit() {
        // The fixed part is read with one bounds check when it is all there; cut short, the
        // error must still name the first field that does not fit, as field-by-field reading
        // does. Field sizes of ofp_flow_mod before the match, pad[2] included.
        let b = FlowMod::new(FlowModCommand::Add).to_vec();
        let sizes = [8, 8, 1, 1, 2, 2, 2, 4, 4, 4, 2, 2];
        for n in 0..FIXED_LEN {
            let mut start = 0;
            let field = sizes
                .iter()
                .find(|&&size| {
                    start += size;
                    start > n
                })
                .unwrap();
            let offset = start - field;
            assert_eq!(
                parse_all::<FlowMod>(&b[..n]),
                Err(DecodeError::Truncated {
                    ctx: "test",
                    offset,
                    need: *field,
                    have: n - offset,
                }),
                "cut at {n}"
            );
        }
    }

    proptest! {
        #[test]
        fn flow_mod_round_trip(v in arb::flow_mod()) {
            prop_assert_eq!(parse_all::<FlowMod>(&v.to_vec()).unwrap(), v);
        }

        #[test]
        fn flow_removed_round_trip(v in arb::flow_removed()) {
            prop_assert_eq!(parse_all::<FlowRemoved>(&v.to_vec()).unwrap(), v);
        }
    }
}
