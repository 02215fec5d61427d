//! Multipart requests and replies — `OFPT_MULTIPART_REQUEST` / `OFPT_MULTIPART_REPLY`
//! (OF1.3.5 §7.3.5): switch description, flow/aggregate/table/port/queue/group/meter
//! statistics, group and meter descriptions and features, table features, port descriptions and
//! experimenter bodies.
//!
//! Guarantees:
//! - `MultipartRequest::parse` / `MultipartReply::parse` take the message body after the 8-byte
//!   OpenFlow header and consume all of it; they never panic on any input.
//! - Every list element carries its own length field, and each one is checked: a length below
//!   the element's fixed part is `BadLength`, one that is not a multiple of 8 where the spec
//!   aligns the element is `Unaligned`, one past the end of the body is `Truncated`; each error
//!   names the element (`ctx` "flow_stats", "group_desc", "table_features", ...).
//! - Unknown multipart types, table-feature properties and flag bits survive a round trip, as do
//!   the fixed NUL-padded strings of `OFPMP_DESC` and `ofp_table_features` (kept as raw bytes).
//! - Long replies can be cut into several messages with `OFPMPF_REPLY_MORE`
//!   (`MultipartReply::split`) and put back together by xid with a bound on memory
//!   (`Assembler`).

mod assemble;
mod fixed_str;
mod group;
mod meter;
mod stats;
mod table_features;

#[cfg(any(test, feature = "proptest"))]
pub mod arb;
#[cfg(test)]
mod tests;

pub use assemble::{AssembleError, Assembler};
pub use fixed_str::FixedStr;
pub use group::{
    BucketCounter, GroupCapabilities, GroupDesc, GroupFeatures, GroupStats, GroupTypes,
};
pub use meter::{
    MeterBand, MeterBandStats, MeterBandType, MeterBandTypes, MeterConfig, MeterFeatures,
    MeterFlags, MeterStats,
};
pub use stats::{
    AggregateStats, Desc, FlowStats, FlowStatsRequest, PortStats, QueueStats, TableStats,
};
pub use table_features::{
    ActionId, FeatureId, InstructionId, OxmId, TableFeatureProp, TableFeaturePropType,
    TableFeatures,
};

use crate::error::{DecodeError, EncodeError};
use crate::macros::open_enum;
use crate::oxm::Match;
use crate::port::{Port, PORT_LEN};
use crate::types::{Cookie, GroupId, MeterId, PortNo, QueueId, TableId};
use crate::wire::{emit_list, list_len, Reader, Wire, Writer};

open_enum! {
    /// Multipart message type — `ofp_multipart_type` (OF1.3.5 §7.3.5).
    pub enum MultipartType: u16 {
        /// `OFPMP_DESC`: switch description.
        Desc = 0,
        /// `OFPMP_FLOW`: individual flow statistics.
        Flow = 1,
        /// `OFPMP_AGGREGATE`: aggregate flow statistics.
        Aggregate = 2,
        /// `OFPMP_TABLE`: flow table statistics.
        Table = 3,
        /// `OFPMP_PORT_STATS`: port statistics.
        PortStats = 4,
        /// `OFPMP_QUEUE`: queue statistics.
        Queue = 5,
        /// `OFPMP_GROUP`: group counters.
        Group = 6,
        /// `OFPMP_GROUP_DESC`: group descriptions.
        GroupDesc = 7,
        /// `OFPMP_GROUP_FEATURES`: group features.
        GroupFeatures = 8,
        /// `OFPMP_METER`: meter statistics.
        Meter = 9,
        /// `OFPMP_METER_CONFIG`: meter configuration.
        MeterConfig = 10,
        /// `OFPMP_METER_FEATURES`: meter features.
        MeterFeatures = 11,
        /// `OFPMP_TABLE_FEATURES`: table features (query or set).
        TableFeatures = 12,
        /// `OFPMP_PORT_DESC`: port descriptions.
        PortDesc = 13,
        /// `OFPMP_EXPERIMENTER`: experimenter extension.
        Experimenter = 0xffff,
    }
}

bitflags::bitflags! {
    /// Request flags — `ofp_multipart_request_flags` (OF1.3.5 §7.3.5). Unknown bits are kept.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct MultipartRequestFlags: u16 {
        /// `OFPMPF_REQ_MORE`: more requests follow.
        const REQ_MORE = 1 << 0;
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// Reply flags — `ofp_multipart_reply_flags` (OF1.3.5 §7.3.5). Unknown bits are kept.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct MultipartReplyFlags: u16 {
        /// `OFPMPF_REPLY_MORE`: more replies follow.
        const REPLY_MORE = 1 << 0;
        const _ = !0;
    }
}

/// `type`, `flags` and `pad[4]` of `ofp_multipart_request` / `ofp_multipart_reply`.
const MP_HEADER_LEN: usize = 8;

/// An `OFPMP_EXPERIMENTER` body — `ofp_experimenter_multipart_header` and the data after it
/// (OF1.3.5 §7.3.5.16).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExperimenterBody {
    /// Experimenter id (the IEEE OUI in the low 24 bits when the high byte is zero).
    pub experimenter: u32,
    /// Experimenter-defined type.
    pub exp_type: u32,
    /// Experimenter-defined data, kept as received.
    pub data: Vec<u8>,
}

impl ExperimenterBody {
    const FIXED_LEN: usize = 8;

    fn wire_len(&self) -> usize {
        Self::FIXED_LEN + self.data.len()
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u32(self.experimenter);
        w.u32(self.exp_type);
        w.bytes(&self.data);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ExperimenterBody {
            experimenter: r.u32()?,
            exp_type: r.u32()?,
            data: r.rest().to_vec(),
        })
    }
}

/// What a multipart request asks for (OF1.3.5 §7.3.5), one variant per `OFPMP_*` type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MultipartRequestBody {
    /// `OFPMP_DESC`: empty body.
    Desc,
    /// `OFPMP_FLOW` — `ofp_flow_stats_request`.
    Flow(FlowStatsRequest),
    /// `OFPMP_AGGREGATE` — `ofp_aggregate_stats_request` (same layout as the flow request).
    Aggregate(FlowStatsRequest),
    /// `OFPMP_TABLE`: empty body.
    Table,
    /// `OFPMP_PORT_STATS` — `ofp_port_stats_request`; `PortNo::ANY` for every port.
    PortStats { port_no: PortNo },
    /// `OFPMP_QUEUE` — `ofp_queue_stats_request`; `PortNo::ANY` / `QueueId::ALL` as wildcards.
    Queue { port_no: PortNo, queue_id: QueueId },
    /// `OFPMP_GROUP` — `ofp_group_stats_request`; `GroupId::ALL` for every group.
    Group { group_id: GroupId },
    /// `OFPMP_GROUP_DESC`: empty body.
    GroupDesc,
    /// `OFPMP_GROUP_FEATURES`: empty body.
    GroupFeatures,
    /// `OFPMP_METER` — `ofp_meter_multipart_request`; `MeterId::ALL` for every meter.
    Meter { meter_id: MeterId },
    /// `OFPMP_METER_CONFIG` — `ofp_meter_multipart_request`.
    MeterConfig { meter_id: MeterId },
    /// `OFPMP_METER_FEATURES`: empty body.
    MeterFeatures,
    /// `OFPMP_TABLE_FEATURES`: empty to query, or the tables to set (OF1.3.5 §7.3.5.18).
    TableFeatures(Vec<TableFeatures>),
    /// `OFPMP_PORT_DESC`: empty body.
    PortDesc,
    /// `OFPMP_EXPERIMENTER`.
    Experimenter(ExperimenterBody),
    /// A type this crate does not know, with its body as received. `mp_type` is never one of
    /// `MultipartType::KNOWN` in a decoded value (a known type would decode as its variant).
    Other {
        mp_type: MultipartType,
        body: Vec<u8>,
    },
}

/// What a multipart reply carries (OF1.3.5 §7.3.5), one variant per `OFPMP_*` type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MultipartReplyBody {
    /// `OFPMP_DESC` — `ofp_desc` (boxed: 1056 bytes).
    Desc(Box<Desc>),
    /// `OFPMP_FLOW` — `ofp_flow_stats[]`.
    Flow(Vec<FlowStats>),
    /// `OFPMP_AGGREGATE` — `ofp_aggregate_stats_reply`.
    Aggregate(AggregateStats),
    /// `OFPMP_TABLE` — `ofp_table_stats[]`.
    Table(Vec<TableStats>),
    /// `OFPMP_PORT_STATS` — `ofp_port_stats[]`.
    PortStats(Vec<PortStats>),
    /// `OFPMP_QUEUE` — `ofp_queue_stats[]`.
    Queue(Vec<QueueStats>),
    /// `OFPMP_GROUP` — `ofp_group_stats[]`.
    Group(Vec<GroupStats>),
    /// `OFPMP_GROUP_DESC` — `ofp_group_desc[]`.
    GroupDesc(Vec<GroupDesc>),
    /// `OFPMP_GROUP_FEATURES` — `ofp_group_features`.
    GroupFeatures(GroupFeatures),
    /// `OFPMP_METER` — `ofp_meter_stats[]`.
    Meter(Vec<MeterStats>),
    /// `OFPMP_METER_CONFIG` — `ofp_meter_config[]`.
    MeterConfig(Vec<MeterConfig>),
    /// `OFPMP_METER_FEATURES` — `ofp_meter_features`.
    MeterFeatures(MeterFeatures),
    /// `OFPMP_TABLE_FEATURES` — `ofp_table_features[]`.
    TableFeatures(Vec<TableFeatures>),
    /// `OFPMP_PORT_DESC` — `ofp_port[]`.
    PortDesc(Vec<Port>),
    /// `OFPMP_EXPERIMENTER`.
    Experimenter(ExperimenterBody),
    /// A type this crate does not know, with its body as received (see the request's `Other`).
    Other {
        mp_type: MultipartType,
        body: Vec<u8>,
    },
}

/// An `OFPT_MULTIPART_REQUEST` body — `ofp_multipart_request` after the OpenFlow header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MultipartRequest {
    pub flags: MultipartRequestFlags,
    pub body: MultipartRequestBody,
}

/// An `OFPT_MULTIPART_REPLY` body — `ofp_multipart_reply` after the OpenFlow header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MultipartReply {
    pub flags: MultipartReplyFlags,
    pub body: MultipartReplyBody,
}

// ---------------------------------------------------------------------------------------------
// Element framing shared by the submodules.

/// Takes a fixed-size element of `size` bytes; too few bytes is `Truncated` naming `ctx`.
pub(crate) fn take_fixed<'a>(
    r: &mut Reader<'a>,
    size: usize,
    ctx: &'static str,
) -> Result<Reader<'a>, DecodeError> {
    if r.remaining() < size {
        return Err(DecodeError::Truncated {
            ctx,
            offset: r.pos(),
            need: size,
            have: r.remaining(),
        });
    }
    r.sub(size, ctx)
}

/// Takes a variable-length element whose 16-bit length field sits `len_at` bytes into it and
/// counts the whole element: at least `min` bytes (its fixed part), a multiple of 8, and no
/// longer than what is left. The returned reader starts at the element's first byte.
pub(crate) fn take_framed<'a>(
    r: &mut Reader<'a>,
    len_at: usize,
    min: usize,
    ctx: &'static str,
) -> Result<Reader<'a>, DecodeError> {
    let have = r.remaining();
    if have < min {
        return Err(DecodeError::Truncated {
            ctx,
            offset: r.pos(),
            need: min,
            have,
        });
    }
    let mut head = Reader::new(r.peek(len_at + 2)?, ctx);
    head.skip(len_at)?;
    let len = usize::from(head.u16()?);
    if len < min {
        return Err(DecodeError::BadLength { ctx, len, min });
    }
    if len % 8 != 0 {
        return Err(DecodeError::Unaligned { ctx, len });
    }
    if len > have {
        return Err(DecodeError::Truncated {
            ctx,
            offset: r.pos(),
            need: len,
            have,
        });
    }
    r.sub(len, ctx)
}

/// Parses fixed-size elements of `size` bytes back to back until `r` is empty.
pub(crate) fn parse_fixed_list<T>(
    r: &mut Reader<'_>,
    size: usize,
    ctx: &'static str,
    parse: impl Fn(&mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let mut out = Vec::new();
    while !r.is_empty() {
        let mut e = take_fixed(r, size, ctx)?;
        out.push(parse(&mut e)?);
        e.finish()?;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Requests.

impl MultipartRequestBody {
    /// The `OFPMP_*` type this body is sent as.
    pub fn mp_type(&self) -> MultipartType {
        use MultipartRequestBody as B;
        match self {
            B::Desc => MultipartType::Desc,
            B::Flow(_) => MultipartType::Flow,
            B::Aggregate(_) => MultipartType::Aggregate,
            B::Table => MultipartType::Table,
            B::PortStats { .. } => MultipartType::PortStats,
            B::Queue { .. } => MultipartType::Queue,
            B::Group { .. } => MultipartType::Group,
            B::GroupDesc => MultipartType::GroupDesc,
            B::GroupFeatures => MultipartType::GroupFeatures,
            B::Meter { .. } => MultipartType::Meter,
            B::MeterConfig { .. } => MultipartType::MeterConfig,
            B::MeterFeatures => MultipartType::MeterFeatures,
            B::TableFeatures(_) => MultipartType::TableFeatures,
            B::PortDesc => MultipartType::PortDesc,
            B::Experimenter(_) => MultipartType::Experimenter,
            B::Other { mp_type, .. } => *mp_type,
        }
    }

    fn wire_len(&self) -> usize {
        use MultipartRequestBody as B;
        match self {
            B::Desc
            | B::Table
            | B::GroupDesc
            | B::GroupFeatures
            | B::MeterFeatures
            | B::PortDesc => 0,
            B::Flow(f) | B::Aggregate(f) => f.wire_len(),
            // ofp_port_stats_request, ofp_queue_stats_request, ofp_group_stats_request and
            // ofp_meter_multipart_request are all 8 bytes (OF1.3.5 §7.3.5.6-12).
            B::PortStats { .. }
            | B::Queue { .. }
            | B::Group { .. }
            | B::Meter { .. }
            | B::MeterConfig { .. } => 8,
            B::TableFeatures(t) => list_len(t),
            B::Experimenter(e) => e.wire_len(),
            B::Other { body, .. } => body.len(),
        }
    }

    fn emit(&self, w: &mut Writer<'_>) {
        use MultipartRequestBody as B;
        match self {
            B::Desc
            | B::Table
            | B::GroupDesc
            | B::GroupFeatures
            | B::MeterFeatures
            | B::PortDesc => {}
            B::Flow(f) | B::Aggregate(f) => f.emit(w),
            B::PortStats { port_no } => {
                w.u32(port_no.0);
                w.zeros(4);
            }
            B::Queue { port_no, queue_id } => {
                w.u32(port_no.0);
                w.u32(queue_id.0);
            }
            B::Group { group_id } => {
                w.u32(group_id.0);
                w.zeros(4);
            }
            B::Meter { meter_id } | B::MeterConfig { meter_id } => {
                w.u32(meter_id.0);
                w.zeros(4);
            }
            B::TableFeatures(t) => emit_list(t, w),
            B::Experimenter(e) => e.emit(w),
            B::Other { body, .. } => w.bytes(body),
        }
    }

    /// Parses the body of a request of type `t` from all of `r`.
    fn parse(t: MultipartType, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        use MultipartRequestBody as B;
        let body = match t {
            MultipartType::Desc => B::Desc,
            MultipartType::Flow => B::Flow(FlowStatsRequest::parse_body(r, "flow_stats_request")?),
            MultipartType::Aggregate => {
                B::Aggregate(FlowStatsRequest::parse_body(r, "aggregate_stats_request")?)
            }
            MultipartType::Table => B::Table,
            MultipartType::PortStats => {
                let mut b = take_fixed(r, 8, "port_stats_request")?;
                let port_no = PortNo(b.u32()?);
                b.skip(4)?;
                B::PortStats { port_no }
            }
            MultipartType::Queue => {
                let mut b = take_fixed(r, 8, "queue_stats_request")?;
                B::Queue {
                    port_no: PortNo(b.u32()?),
                    queue_id: QueueId(b.u32()?),
                }
            }
            MultipartType::Group => {
                let mut b = take_fixed(r, 8, "group_stats_request")?;
                let group_id = GroupId(b.u32()?);
                b.skip(4)?;
                B::Group { group_id }
            }
            MultipartType::Meter | MultipartType::MeterConfig => {
                let mut b = take_fixed(r, 8, "meter_multipart_request")?;
                let meter_id = MeterId(b.u32()?);
                b.skip(4)?;
                if t == MultipartType::Meter {
                    B::Meter { meter_id }
                } else {
                    B::MeterConfig { meter_id }
                }
            }
            MultipartType::GroupDesc => B::GroupDesc,
            MultipartType::GroupFeatures => B::GroupFeatures,
            MultipartType::MeterFeatures => B::MeterFeatures,
            MultipartType::TableFeatures => B::TableFeatures(TableFeatures::parse_list(r)?),
            MultipartType::PortDesc => B::PortDesc,
            MultipartType::Experimenter => {
                let mut b = take_fixed(r, r.remaining(), "experimenter_multipart")?;
                B::Experimenter(ExperimenterBody::parse(&mut b)?)
            }
            MultipartType::Other(_) => B::Other {
                mp_type: t,
                body: r.rest().to_vec(),
            },
        };
        // Bodies the spec defines as empty or fixed-size must not carry more.
        r.finish()?;
        Ok(body)
    }
}

impl MultipartRequest {
    /// A request with no flags.
    pub fn new(body: MultipartRequestBody) -> Self {
        MultipartRequest {
            flags: MultipartRequestFlags::empty(),
            body,
        }
    }

    /// The `OFPMP_*` type of this request.
    pub fn mp_type(&self) -> MultipartType {
        self.body.mp_type()
    }

    /// `OFPMP_DESC`: the switch's manufacturer, hardware, software, serial and datapath text.
    pub fn desc() -> Self {
        Self::new(MultipartRequestBody::Desc)
    }

    /// `OFPMP_FLOW`: the flows of `table` (`TableId::ALL` for all) matching `m` whose cookie
    /// agrees with `cookie` on the bits of `cookie_mask` (0: any cookie), on any out port and
    /// out group.
    pub fn flows(table: TableId, m: Match, cookie: Cookie, cookie_mask: u64) -> Self {
        Self::new(MultipartRequestBody::Flow(FlowStatsRequest::new(
            table,
            m,
            cookie,
            cookie_mask,
        )))
    }

    /// `OFPMP_AGGREGATE` over the same selection as [`MultipartRequest::flows`].
    pub fn aggregate(table: TableId, m: Match, cookie: Cookie, cookie_mask: u64) -> Self {
        Self::new(MultipartRequestBody::Aggregate(FlowStatsRequest::new(
            table,
            m,
            cookie,
            cookie_mask,
        )))
    }

    /// `OFPMP_TABLE`: statistics of every table.
    pub fn table_stats() -> Self {
        Self::new(MultipartRequestBody::Table)
    }

    /// `OFPMP_PORT_STATS` for `port_no` (`PortNo::ANY`: every port).
    pub fn port_stats(port_no: PortNo) -> Self {
        Self::new(MultipartRequestBody::PortStats { port_no })
    }

    /// `OFPMP_QUEUE` for `queue_id` on `port_no` (`PortNo::ANY`, `QueueId::ALL` as wildcards).
    pub fn queue_stats(port_no: PortNo, queue_id: QueueId) -> Self {
        Self::new(MultipartRequestBody::Queue { port_no, queue_id })
    }

    /// `OFPMP_GROUP` counters for `group_id` (`GroupId::ALL`: every group).
    pub fn group_stats(group_id: GroupId) -> Self {
        Self::new(MultipartRequestBody::Group { group_id })
    }

    /// `OFPMP_GROUP_DESC`: every group with its type and buckets.
    pub fn groups_desc() -> Self {
        Self::new(MultipartRequestBody::GroupDesc)
    }

    /// `OFPMP_GROUP_FEATURES`: the switch's group capabilities and limits.
    pub fn group_features() -> Self {
        Self::new(MultipartRequestBody::GroupFeatures)
    }

    /// `OFPMP_METER` statistics for `meter_id` (`MeterId::ALL`: every meter).
    pub fn meter_stats(meter_id: MeterId) -> Self {
        Self::new(MultipartRequestBody::Meter { meter_id })
    }

    /// `OFPMP_METER_CONFIG` for `meter_id` (`MeterId::ALL`: every meter).
    pub fn meter_config(meter_id: MeterId) -> Self {
        Self::new(MultipartRequestBody::MeterConfig { meter_id })
    }

    /// `OFPMP_METER_FEATURES`.
    pub fn meter_features() -> Self {
        Self::new(MultipartRequestBody::MeterFeatures)
    }

    /// `OFPMP_TABLE_FEATURES` with an empty body: a query that changes nothing.
    pub fn table_features() -> Self {
        Self::new(MultipartRequestBody::TableFeatures(Vec::new()))
    }

    /// `OFPMP_PORT_DESC`: every port's description.
    pub fn port_desc() -> Self {
        Self::new(MultipartRequestBody::PortDesc)
    }
}

impl Wire for MultipartRequest {
    fn wire_len(&self) -> usize {
        MP_HEADER_LEN + self.body.wire_len()
    }

    fn emit(&self, w: &mut Writer<'_>) {
        // OF1.3.5 §7.3.5: type, flags, pad[4], body.
        w.u16(self.body.mp_type().value());
        w.u16(self.flags.bits());
        w.zeros(4);
        self.body.emit(w);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut h = take_fixed(r, MP_HEADER_LEN, "multipart_request")?;
        let mp_type = MultipartType::from(h.u16()?);
        let flags = MultipartRequestFlags::from_bits_retain(h.u16()?);
        h.skip(4)?;
        let body = MultipartRequestBody::parse(mp_type, r)?;
        Ok(MultipartRequest { flags, body })
    }
}

// ---------------------------------------------------------------------------------------------
// Replies.

impl MultipartReplyBody {
    /// The `OFPMP_*` type this body is sent as.
    pub fn mp_type(&self) -> MultipartType {
        use MultipartReplyBody as B;
        match self {
            B::Desc(_) => MultipartType::Desc,
            B::Flow(_) => MultipartType::Flow,
            B::Aggregate(_) => MultipartType::Aggregate,
            B::Table(_) => MultipartType::Table,
            B::PortStats(_) => MultipartType::PortStats,
            B::Queue(_) => MultipartType::Queue,
            B::Group(_) => MultipartType::Group,
            B::GroupDesc(_) => MultipartType::GroupDesc,
            B::GroupFeatures(_) => MultipartType::GroupFeatures,
            B::Meter(_) => MultipartType::Meter,
            B::MeterConfig(_) => MultipartType::MeterConfig,
            B::MeterFeatures(_) => MultipartType::MeterFeatures,
            B::TableFeatures(_) => MultipartType::TableFeatures,
            B::PortDesc(_) => MultipartType::PortDesc,
            B::Experimenter(_) => MultipartType::Experimenter,
            B::Other { mp_type, .. } => *mp_type,
        }
    }

    fn wire_len(&self) -> usize {
        use MultipartReplyBody as B;
        match self {
            B::Desc(d) => d.wire_len(),
            B::Flow(v) => list_len(v),
            B::Aggregate(a) => a.wire_len(),
            B::Table(v) => list_len(v),
            B::PortStats(v) => list_len(v),
            B::Queue(v) => list_len(v),
            B::Group(v) => list_len(v),
            B::GroupDesc(v) => list_len(v),
            B::GroupFeatures(g) => g.wire_len(),
            B::Meter(v) => list_len(v),
            B::MeterConfig(v) => list_len(v),
            B::MeterFeatures(m) => m.wire_len(),
            B::TableFeatures(v) => list_len(v),
            B::PortDesc(v) => list_len(v),
            B::Experimenter(e) => e.wire_len(),
            B::Other { body, .. } => body.len(),
        }
    }

    fn emit(&self, w: &mut Writer<'_>) {
        use MultipartReplyBody as B;
        match self {
            B::Desc(d) => d.emit(w),
            B::Flow(v) => emit_list(v, w),
            B::Aggregate(a) => a.emit(w),
            B::Table(v) => emit_list(v, w),
            B::PortStats(v) => emit_list(v, w),
            B::Queue(v) => emit_list(v, w),
            B::Group(v) => emit_list(v, w),
            B::GroupDesc(v) => emit_list(v, w),
            B::GroupFeatures(g) => g.emit(w),
            B::Meter(v) => emit_list(v, w),
            B::MeterConfig(v) => emit_list(v, w),
            B::MeterFeatures(m) => m.emit(w),
            B::TableFeatures(v) => emit_list(v, w),
            B::PortDesc(v) => emit_list(v, w),
            B::Experimenter(e) => e.emit(w),
            B::Other { body, .. } => w.bytes(body),
        }
    }

    /// Parses the body of a reply of type `t` from all of `r`.
    fn parse(t: MultipartType, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        use MultipartReplyBody as B;
        let body = match t {
            MultipartType::Desc => B::Desc(Box::new(Desc::parse_whole(r)?)),
            MultipartType::Flow => B::Flow(FlowStats::parse_list(r)?),
            MultipartType::Aggregate => B::Aggregate(AggregateStats::parse_whole(r)?),
            MultipartType::Table => B::Table(TableStats::parse_list(r)?),
            MultipartType::PortStats => B::PortStats(PortStats::parse_list(r)?),
            MultipartType::Queue => B::Queue(QueueStats::parse_list(r)?),
            MultipartType::Group => B::Group(GroupStats::parse_list(r)?),
            MultipartType::GroupDesc => B::GroupDesc(GroupDesc::parse_list(r)?),
            MultipartType::GroupFeatures => B::GroupFeatures(GroupFeatures::parse_whole(r)?),
            MultipartType::Meter => B::Meter(MeterStats::parse_list(r)?),
            MultipartType::MeterConfig => B::MeterConfig(MeterConfig::parse_list(r)?),
            MultipartType::MeterFeatures => B::MeterFeatures(MeterFeatures::parse_whole(r)?),
            MultipartType::TableFeatures => B::TableFeatures(TableFeatures::parse_list(r)?),
            MultipartType::PortDesc => {
                B::PortDesc(parse_fixed_list(r, PORT_LEN, "port", Port::parse)?)
            }
            MultipartType::Experimenter => {
                let mut b = take_fixed(r, r.remaining(), "experimenter_multipart")?;
                B::Experimenter(ExperimenterBody::parse(&mut b)?)
            }
            MultipartType::Other(_) => B::Other {
                mp_type: t,
                body: r.rest().to_vec(),
            },
        };
        r.finish()?;
        Ok(body)
    }

    /// Whether a reply of this type is a list the switch may cut into several messages
    /// (`OFPMPF_REPLY_MORE`). Single-structure replies (desc, aggregate, features) are not;
    /// experimenter and unknown bodies are opaque, and continue by concatenation.
    pub fn is_list(&self) -> bool {
        use MultipartReplyBody as B;
        matches!(
            self,
            B::Flow(_)
                | B::Table(_)
                | B::PortStats(_)
                | B::Queue(_)
                | B::Group(_)
                | B::GroupDesc(_)
                | B::Meter(_)
                | B::MeterConfig(_)
                | B::TableFeatures(_)
                | B::PortDesc(_)
        )
    }
}

impl MultipartReply {
    /// The largest `wire_len` of a reply that fits one OpenFlow message: 65535 minus the 8-byte
    /// OpenFlow header (OF1.3.5 §7.1).
    pub const MAX_LEN: usize = u16::MAX as usize - 8;

    /// A reply with no flags.
    pub fn new(body: MultipartReplyBody) -> Self {
        MultipartReply {
            flags: MultipartReplyFlags::empty(),
            body,
        }
    }

    /// The `OFPMP_*` type of this reply.
    pub fn mp_type(&self) -> MultipartType {
        self.body.mp_type()
    }

    /// Whether more parts of this reply follow (`OFPMPF_REPLY_MORE`).
    pub fn more(&self) -> bool {
        self.flags.contains(MultipartReplyFlags::REPLY_MORE)
    }

    /// Cuts a reply into parts whose `wire_len()` is at most `max_len` (use
    /// [`MultipartReply::MAX_LEN`] for whole OpenFlow messages), in order, with
    /// `OFPMPF_REPLY_MORE` on every part but the last (OF1.3.5 §7.3.5: a reply that does not fit
    /// one message is sent as several, the last one without the flag). The last part keeps this
    /// reply's flags; the others add `REPLY_MORE` to them. A list body is cut between elements
    /// (an empty list gives one part); any other body must fit whole.
    ///
    /// Fails with `EncodeError::TooLong` naming the element when one element (or a non-list
    /// body) does not fit in `max_len` on its own.
    pub fn split(self, max_len: usize) -> Result<Vec<MultipartReply>, EncodeError> {
        use MultipartReplyBody as B;
        let budget = max_len.checked_sub(MP_HEADER_LEN);
        let flags = self.flags;
        let bodies = match self.body {
            B::Flow(v) => chunk(v, budget, "flow_stats", B::Flow)?,
            B::Table(v) => chunk(v, budget, "table_stats", B::Table)?,
            B::PortStats(v) => chunk(v, budget, "port_stats", B::PortStats)?,
            B::Queue(v) => chunk(v, budget, "queue_stats", B::Queue)?,
            B::Group(v) => chunk(v, budget, "group_stats", B::Group)?,
            B::GroupDesc(v) => chunk(v, budget, "group_desc", B::GroupDesc)?,
            B::Meter(v) => chunk(v, budget, "meter_stats", B::Meter)?,
            B::MeterConfig(v) => chunk(v, budget, "meter_config", B::MeterConfig)?,
            B::TableFeatures(v) => chunk(v, budget, "table_features", B::TableFeatures)?,
            B::PortDesc(v) => chunk(v, budget, "port", B::PortDesc)?,
            body => {
                let len = MP_HEADER_LEN + body.wire_len();
                if len > max_len {
                    return Err(EncodeError::TooLong {
                        ctx: "multipart_reply",
                        len,
                    });
                }
                vec![body]
            }
        };
        let last = bodies.len().saturating_sub(1);
        Ok(bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| MultipartReply {
                flags: if i == last {
                    flags
                } else {
                    flags | MultipartReplyFlags::REPLY_MORE
                },
                body,
            })
            .collect())
    }
}

/// Groups `items` into runs whose encoded size is at most `budget`, each wrapped by `wrap`.
fn chunk<T: Wire>(
    items: Vec<T>,
    budget: Option<usize>,
    ctx: &'static str,
    wrap: fn(Vec<T>) -> MultipartReplyBody,
) -> Result<Vec<MultipartReplyBody>, EncodeError> {
    let Some(budget) = budget else {
        return Err(EncodeError::TooLong {
            ctx: "multipart_reply",
            len: MP_HEADER_LEN,
        });
    };
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut used = 0usize;
    for item in items {
        let len = item.wire_len();
        if len > budget {
            return Err(EncodeError::TooLong {
                ctx,
                len: MP_HEADER_LEN + len,
            });
        }
        if used + len > budget {
            out.push(wrap(std::mem::take(&mut cur)));
            used = 0;
        }
        used += len;
        cur.push(item);
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(wrap(cur));
    }
    Ok(out)
}

impl Wire for MultipartReply {
    fn wire_len(&self) -> usize {
        MP_HEADER_LEN + self.body.wire_len()
    }

    fn emit(&self, w: &mut Writer<'_>) {
        // OF1.3.5 §7.3.5: type, flags, pad[4], body.
        w.u16(self.body.mp_type().value());
        w.u16(self.flags.bits());
        w.zeros(4);
        self.body.emit(w);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut h = take_fixed(r, MP_HEADER_LEN, "multipart_reply")?;
        let mp_type = MultipartType::from(h.u16()?);
        let flags = MultipartReplyFlags::from_bits_retain(h.u16()?);
        h.skip(4)?;
        let body = MultipartReplyBody::parse(mp_type, r)?;
        Ok(MultipartReply { flags, body })
    }
}
