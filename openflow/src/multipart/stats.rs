//! Switch description and flow, aggregate, table, port and queue statistics
//! (OF1.3.5 §7.3.5.1-7.3.5.9).
//!
//! Fixed-size structures are checked for truncation, `ofp_flow_stats` also for its own length
//! field (at least the fixed part plus an empty match, a multiple of 8, inside the body).

use super::{parse_fixed_list, take_fixed, take_framed, FixedStr};
use crate::error::DecodeError;
use crate::instruction::Instruction;
use crate::msg::FlowModFlags;
use crate::oxm::Match;
use crate::types::{Cookie, GroupId, PortNo, QueueId, TableId};
use crate::wire::{emit_list, len16, list_len, parse_list, Reader, Wire, Writer};

/// Switch description — `ofp_desc` (OF1.3.5 §7.3.5.1): five NUL-padded text fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Desc {
    /// `mfr_desc`: manufacturer.
    pub mfr_desc: FixedStr<256>,
    /// `hw_desc`: hardware revision.
    pub hw_desc: FixedStr<256>,
    /// `sw_desc`: software revision.
    pub sw_desc: FixedStr<256>,
    /// `serial_num`: serial number.
    pub serial_num: FixedStr<32>,
    /// `dp_desc`: human-readable datapath description.
    pub dp_desc: FixedStr<256>,
}

impl Desc {
    /// `sizeof(struct ofp_desc)`.
    pub const LEN: usize = 256 * 4 + 32;

    pub(super) fn parse_whole(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut b = take_fixed(r, Self::LEN, "desc")?;
        Self::parse(&mut b)
    }
}

impl Wire for Desc {
    fn wire_len(&self) -> usize {
        Self::LEN
    }

    fn emit(&self, w: &mut Writer<'_>) {
        self.mfr_desc.emit(w);
        self.hw_desc.emit(w);
        self.sw_desc.emit(w);
        self.serial_num.emit(w);
        self.dp_desc.emit(w);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Desc {
            mfr_desc: FixedStr::parse(r)?,
            hw_desc: FixedStr::parse(r)?,
            sw_desc: FixedStr::parse(r)?,
            serial_num: FixedStr::parse(r)?,
            dp_desc: FixedStr::parse(r)?,
        })
    }
}

/// Which flows an `OFPMP_FLOW` or `OFPMP_AGGREGATE` request selects —
/// `ofp_flow_stats_request` / `ofp_aggregate_stats_request` (OF1.3.5 §7.3.5.2-3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FlowStatsRequest {
    /// Table to read, or `TableId::ALL`.
    pub table_id: TableId,
    /// Only flows with an output action to this port; `PortNo::ANY` for no restriction.
    pub out_port: PortNo,
    /// Only flows with a group action to this group; `GroupId::ANY` for no restriction.
    pub out_group: GroupId,
    /// Only flows whose cookie equals this one on the bits of `cookie_mask`.
    pub cookie: Cookie,
    /// Cookie bits that must match; 0 for no restriction.
    pub cookie_mask: u64,
    /// Fields to match (a flow is selected if it is at least as specific).
    pub match_: Match,
}

impl FlowStatsRequest {
    /// Fixed part before the match.
    const FIXED_LEN: usize = 32;

    /// Flows of `table_id` matching `match_` and the cookie filter, on any port and group.
    pub fn new(table_id: TableId, match_: Match, cookie: Cookie, cookie_mask: u64) -> Self {
        FlowStatsRequest {
            table_id,
            out_port: PortNo::ANY,
            out_group: GroupId::ANY,
            cookie,
            cookie_mask,
            match_,
        }
    }

    /// Parses the request from a whole multipart body, which must hold nothing else.
    pub(super) fn parse_body(r: &mut Reader<'_>, ctx: &'static str) -> Result<Self, DecodeError> {
        let mut b = take_fixed(r, r.remaining(), ctx)?;
        if b.remaining() < Self::FIXED_LEN {
            return Err(DecodeError::Truncated {
                ctx,
                offset: 0,
                need: Self::FIXED_LEN,
                have: b.remaining(),
            });
        }
        let req = Self::parse(&mut b)?;
        b.finish()?;
        Ok(req)
    }
}

impl Wire for FlowStatsRequest {
    fn wire_len(&self) -> usize {
        Self::FIXED_LEN + self.match_.wire_len()
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u8(self.table_id.0);
        w.zeros(3);
        w.u32(self.out_port.0);
        w.u32(self.out_group.0);
        w.zeros(4);
        w.u64(self.cookie.0);
        w.u64(self.cookie_mask);
        self.match_.emit(w);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let table_id = TableId(r.u8()?);
        r.skip(3)?;
        let out_port = PortNo(r.u32()?);
        let out_group = GroupId(r.u32()?);
        r.skip(4)?;
        let cookie = Cookie(r.u64()?);
        let cookie_mask = r.u64()?;
        let match_ = Match::parse(r)?;
        Ok(FlowStatsRequest {
            table_id,
            out_port,
            out_group,
            cookie,
            cookie_mask,
            match_,
        })
    }
}

/// One flow entry with its counters — `ofp_flow_stats` (OF1.3.5 §7.3.5.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FlowStats {
    pub table_id: TableId,
    /// Time the flow has been alive: seconds, and nanoseconds beyond them.
    pub duration_sec: u32,
    pub duration_nsec: u32,
    pub priority: u16,
    /// Seconds idle before expiry (0: none).
    pub idle_timeout: u16,
    /// Seconds before expiry (0: none).
    pub hard_timeout: u16,
    /// The `OFPFF_*` flags the entry was added with.
    pub flags: FlowModFlags,
    pub cookie: Cookie,
    pub packet_count: u64,
    pub byte_count: u64,
    pub match_: Match,
    pub instructions: Vec<Instruction>,
}

impl FlowStats {
    /// Fixed part before the match.
    const FIXED_LEN: usize = 48;
    /// The fixed part plus the smallest `ofp_match` (8 bytes with its padding).
    const MIN_LEN: usize = Self::FIXED_LEN + 8;

    /// How long the flow has been installed.
    pub fn duration(&self) -> std::time::Duration {
        std::time::Duration::new(u64::from(self.duration_sec), self.duration_nsec)
    }

    pub(super) fn parse_list(r: &mut Reader<'_>) -> Result<Vec<Self>, DecodeError> {
        let mut out = Vec::new();
        while !r.is_empty() {
            out.push(Self::parse(r)?);
        }
        Ok(out)
    }
}

impl Wire for FlowStats {
    fn wire_len(&self) -> usize {
        Self::FIXED_LEN + self.match_.wire_len() + list_len(&self.instructions)
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u16(len16(self.wire_len()));
        w.u8(self.table_id.0);
        w.zeros(1);
        w.u32(self.duration_sec);
        w.u32(self.duration_nsec);
        w.u16(self.priority);
        w.u16(self.idle_timeout);
        w.u16(self.hard_timeout);
        w.u16(self.flags.bits());
        w.zeros(4);
        w.u64(self.cookie.0);
        w.u64(self.packet_count);
        w.u64(self.byte_count);
        self.match_.emit(w);
        emit_list(&self.instructions, w);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut e = take_framed(r, 0, Self::MIN_LEN, "flow_stats")?;
        e.skip(2)?; // length, checked by take_framed
        let table_id = TableId(e.u8()?);
        e.skip(1)?;
        let duration_sec = e.u32()?;
        let duration_nsec = e.u32()?;
        let priority = e.u16()?;
        let idle_timeout = e.u16()?;
        let hard_timeout = e.u16()?;
        let flags = FlowModFlags::from_bits_retain(e.u16()?);
        e.skip(4)?;
        let cookie = Cookie(e.u64()?);
        let packet_count = e.u64()?;
        let byte_count = e.u64()?;
        let match_ = Match::parse(&mut e)?;
        // The instructions run to the end of the entry (OF1.3.5 §7.3.5.2).
        let instructions = parse_list(&mut e)?;
        Ok(FlowStats {
            table_id,
            duration_sec,
            duration_nsec,
            priority,
            idle_timeout,
            hard_timeout,
            flags,
            cookie,
            packet_count,
            byte_count,
            match_,
            instructions,
        })
    }
}

/// Totals over the selected flows — `ofp_aggregate_stats_reply` (OF1.3.5 §7.3.5.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AggregateStats {
    pub packet_count: u64,
    pub byte_count: u64,
    pub flow_count: u32,
}

impl AggregateStats {
    pub const LEN: usize = 24;

    pub(super) fn parse_whole(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut b = take_fixed(r, Self::LEN, "aggregate_stats_reply")?;
        Self::parse(&mut b)
    }
}

impl Wire for AggregateStats {
    fn wire_len(&self) -> usize {
        Self::LEN
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u64(self.packet_count);
        w.u64(self.byte_count);
        w.u32(self.flow_count);
        w.zeros(4);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let packet_count = r.u64()?;
        let byte_count = r.u64()?;
        let flow_count = r.u32()?;
        r.skip(4)?;
        Ok(AggregateStats {
            packet_count,
            byte_count,
            flow_count,
        })
    }
}

/// One table's counters — `ofp_table_stats` (OF1.3.5 §7.3.5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TableStats {
    pub table_id: TableId,
    /// Active entries.
    pub active_count: u32,
    /// Packets looked up in the table.
    pub lookup_count: u64,
    /// Packets that hit the table.
    pub matched_count: u64,
}

impl TableStats {
    pub const LEN: usize = 24;

    pub(super) fn parse_list(r: &mut Reader<'_>) -> Result<Vec<Self>, DecodeError> {
        parse_fixed_list(r, Self::LEN, "table_stats", Self::parse)
    }
}

impl Wire for TableStats {
    fn wire_len(&self) -> usize {
        Self::LEN
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u8(self.table_id.0);
        w.zeros(3);
        w.u32(self.active_count);
        w.u64(self.lookup_count);
        w.u64(self.matched_count);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let table_id = TableId(r.u8()?);
        r.skip(3)?;
        Ok(TableStats {
            table_id,
            active_count: r.u32()?,
            lookup_count: r.u64()?,
            matched_count: r.u64()?,
        })
    }
}

/// One port's counters — `ofp_port_stats` (OF1.3.5 §7.3.5.6). A counter the switch does not
/// keep is all ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortStats {
    pub port_no: PortNo,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_frame_err: u64,
    pub rx_over_err: u64,
    pub rx_crc_err: u64,
    pub collisions: u64,
    pub duration_sec: u32,
    pub duration_nsec: u32,
}

impl PortStats {
    pub const LEN: usize = 112;

    /// Counters of `port_no`, all zero.
    pub fn new(port_no: PortNo) -> Self {
        PortStats {
            port_no,
            rx_packets: 0,
            tx_packets: 0,
            rx_bytes: 0,
            tx_bytes: 0,
            rx_dropped: 0,
            tx_dropped: 0,
            rx_errors: 0,
            tx_errors: 0,
            rx_frame_err: 0,
            rx_over_err: 0,
            rx_crc_err: 0,
            collisions: 0,
            duration_sec: 0,
            duration_nsec: 0,
        }
    }

    pub(super) fn parse_list(r: &mut Reader<'_>) -> Result<Vec<Self>, DecodeError> {
        parse_fixed_list(r, Self::LEN, "port_stats", Self::parse)
    }
}

impl Wire for PortStats {
    fn wire_len(&self) -> usize {
        Self::LEN
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u32(self.port_no.0);
        w.zeros(4);
        for v in [
            self.rx_packets,
            self.tx_packets,
            self.rx_bytes,
            self.tx_bytes,
            self.rx_dropped,
            self.tx_dropped,
            self.rx_errors,
            self.tx_errors,
            self.rx_frame_err,
            self.rx_over_err,
            self.rx_crc_err,
            self.collisions,
        ] {
            w.u64(v);
        }
        w.u32(self.duration_sec);
        w.u32(self.duration_nsec);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let port_no = PortNo(r.u32()?);
        r.skip(4)?;
        Ok(PortStats {
            port_no,
            rx_packets: r.u64()?,
            tx_packets: r.u64()?,
            rx_bytes: r.u64()?,
            tx_bytes: r.u64()?,
            rx_dropped: r.u64()?,
            tx_dropped: r.u64()?,
            rx_errors: r.u64()?,
            tx_errors: r.u64()?,
            rx_frame_err: r.u64()?,
            rx_over_err: r.u64()?,
            rx_crc_err: r.u64()?,
            collisions: r.u64()?,
            duration_sec: r.u32()?,
            duration_nsec: r.u32()?,
        })
    }
}

/// One queue's counters — `ofp_queue_stats` (OF1.3.5 §7.3.5.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QueueStats {
    pub port_no: PortNo,
    pub queue_id: QueueId,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub duration_sec: u32,
    pub duration_nsec: u32,
}

impl QueueStats {
    pub const LEN: usize = 40;

    pub(super) fn parse_list(r: &mut Reader<'_>) -> Result<Vec<Self>, DecodeError> {
        parse_fixed_list(r, Self::LEN, "queue_stats", Self::parse)
    }
}

impl Wire for QueueStats {
    fn wire_len(&self) -> usize {
        Self::LEN
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u32(self.port_no.0);
        w.u32(self.queue_id.0);
        w.u64(self.tx_bytes);
        w.u64(self.tx_packets);
        w.u64(self.tx_errors);
        w.u32(self.duration_sec);
        w.u32(self.duration_nsec);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(QueueStats {
            port_no: PortNo(r.u32()?),
            queue_id: QueueId(r.u32()?),
            tx_bytes: r.u64()?,
            tx_packets: r.u64()?,
            tx_errors: r.u64()?,
            duration_sec: r.u32()?,
            duration_nsec: r.u32()?,
        })
    }
}
