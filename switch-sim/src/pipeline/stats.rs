//! Multipart requests (OF1.3.5 §7.3.5) answered from the pipeline's own state, split into
//! several replies with `OFPMPF_REPLY_MORE` when one message would exceed 64 KiB.
//!
//! Unknown multipart types are `OFPBRC_BAD_MULTIPART`, experimenter ones
//! `OFPBRC_BAD_EXPERIMENTER`; setting table features is refused with `OFPTFFC_EPERM` (the
//! tables are fixed). Meters are accepted but not modelled, so meter statistics are empty.

use openflow::action::ActionType;
use openflow::error_msg::{BadRequestCode, ErrorCode, TableFeaturesFailedCode};
use openflow::instruction::InstructionType;
use openflow::multipart::{
    ActionId, AggregateStats, BucketCounter, Desc, FixedStr, FlowStats, FlowStatsRequest,
    GroupCapabilities, GroupDesc, GroupFeatures, GroupStats, GroupTypes, InstructionId,
    MeterFeatures, MultipartReply, MultipartReplyBody, MultipartRequest, MultipartRequestBody,
    OxmId, PortStats, TableFeatureProp, TableFeatures, TableStats,
};
use openflow::oxm::{field_is_maskable, OxmField, OXM_CLASS_OPENFLOW_BASIC};
use openflow::{Body, GroupId, Message, PortNo, TableId, Xid};

use super::flow_match::{compile, width};
use super::flows::Selector;
use super::{Pipeline, Time};
use crate::packet::place;

fn secs_nsecs(d: std::time::Duration) -> (u32, u32) {
    (
        u32::try_from(d.as_secs()).unwrap_or(u32::MAX),
        d.subsec_nanos(),
    )
}

/// Action types this switch executes (GROUP_FEATURES `actions`, TABLE_FEATURES).
const ACTIONS: [ActionType; 14] = [
    ActionType::Output,
    ActionType::CopyTtlOut,
    ActionType::CopyTtlIn,
    ActionType::SetMplsTtl,
    ActionType::DecMplsTtl,
    ActionType::PushVlan,
    ActionType::PopVlan,
    ActionType::PushMpls,
    ActionType::PopMpls,
    ActionType::SetQueue,
    ActionType::Group,
    ActionType::SetNwTtl,
    ActionType::DecNwTtl,
    ActionType::SetField,
];

const INSTRUCTIONS: [InstructionType; 6] = [
    InstructionType::GotoTable,
    InstructionType::WriteMetadata,
    InstructionType::WriteActions,
    InstructionType::ApplyActions,
    InstructionType::ClearActions,
    InstructionType::Meter,
];

fn oxm_id(f: OxmField, masked: bool) -> OxmId {
    let len = width(f).div_ceil(8) * if masked { 2 } else { 1 };
    let header = (u32::from(OXM_CLASS_OPENFLOW_BASIC) << 16)
        | (u32::from(f.value()) << 9)
        | (u32::from(masked) << 8)
        | len;
    OxmId::new(header)
}

/// The basic fields this pipeline matches on.
fn match_fields() -> impl Iterator<Item = OxmField> {
    OxmField::KNOWN
        .iter()
        .copied()
        .filter(|f| place(*f).is_some())
}

impl Pipeline {
    pub(crate) fn multipart(
        &mut self,
        now: Time,
        xid: Xid,
        req: &MultipartRequest,
    ) -> Result<(), ErrorCode> {
        use MultipartReplyBody as R;
        use MultipartRequestBody as Q;
        let body = match &req.body {
            Q::Desc => R::Desc(Box::new(Desc {
                mfr_desc: FixedStr::new(&self.config.mfr_desc),
                hw_desc: FixedStr::new(&self.config.hw_desc),
                sw_desc: FixedStr::new(&self.config.sw_desc),
                serial_num: FixedStr::new(&self.config.serial_num),
                dp_desc: FixedStr::new(&self.config.dp_desc),
            })),
            Q::Flow(r) => R::Flow(self.flow_stats(now, r)?),
            Q::Aggregate(r) => {
                let flows = self.flow_stats(now, r)?;
                R::Aggregate(AggregateStats {
                    packet_count: flows.iter().map(|f| f.packet_count).sum(),
                    byte_count: flows.iter().map(|f| f.byte_count).sum(),
                    flow_count: u32::try_from(flows.len()).unwrap_or(u32::MAX),
                })
            }
            Q::Table => R::Table(
                self.tables
                    .iter()
                    .enumerate()
                    .map(|(i, t)| TableStats {
                        table_id: TableId(u8::try_from(i).unwrap_or(u8::MAX)),
                        active_count: u32::try_from(t.count).unwrap_or(u32::MAX),
                        lookup_count: t.lookups,
                        matched_count: t.matched,
                    })
                    .collect(),
            ),
            Q::PortStats { port_no } => R::PortStats(self.port_stats(now, *port_no)),
            Q::Queue { .. } => R::Queue(Vec::new()),
            Q::Group { group_id } => R::Group(self.group_stats(now, *group_id)),
            Q::GroupDesc => R::GroupDesc(
                self.groups
                    .iter()
                    .map(|(id, g)| GroupDesc {
                        group_type: g.kind,
                        group_id: GroupId(*id),
                        buckets: g.buckets.clone(),
                    })
                    .collect(),
            ),
            Q::GroupFeatures => R::GroupFeatures(self.group_features()),
            Q::Meter { .. } => R::Meter(Vec::new()),
            Q::MeterConfig { .. } => R::MeterConfig(Vec::new()),
            Q::MeterFeatures => R::MeterFeatures(MeterFeatures {
                max_meter: 0,
                band_types: Default::default(),
                capabilities: 0,
                max_bands: 0,
                max_color: 0,
            }),
            Q::TableFeatures(set) if set.is_empty() => R::TableFeatures(self.table_features()),
            Q::TableFeatures(_) => return Err(TableFeaturesFailedCode::Eperm.into()),
            Q::PortDesc => R::PortDesc(self.ports.values().map(|p| p.desc.clone()).collect()),
            Q::Experimenter(_) => return Err(BadRequestCode::BadExperimenter.into()),
            _ => return Err(BadRequestCode::BadMultipart.into()),
        };
        let replies = MultipartReply::new(body)
            .split(MultipartReply::MAX_LEN)
            .map_err(|_| ErrorCode::from(BadRequestCode::MultipartBufferOverflow))?;
        for r in replies {
            self.out.push_back(Message {
                xid,
                body: Body::MultipartReply(r),
            });
        }
        Ok(())
    }

    fn flow_stats(&self, now: Time, r: &FlowStatsRequest) -> Result<Vec<FlowStats>, ErrorCode> {
        if r.table_id != TableId::ALL && usize::from(r.table_id.0) >= self.tables.len() {
            return Err(BadRequestCode::BadTableId.into());
        }
        let (m, _) = compile(&r.match_).map_err(ErrorCode::from)?;
        let ids = self.select(&Selector {
            table: r.table_id,
            m: &m,
            strict_priority: None,
            cookie: r.cookie,
            cookie_mask: r.cookie_mask,
            out_port: r.out_port,
            out_group: r.out_group,
        });
        Ok(ids
            .into_iter()
            .filter_map(|id| self.flow(id))
            .map(|e| {
                let (duration_sec, duration_nsec) = secs_nsecs(e.duration(now));
                FlowStats {
                    table_id: TableId(e.table),
                    duration_sec,
                    duration_nsec,
                    priority: e.priority,
                    idle_timeout: e.idle_timeout,
                    hard_timeout: e.hard_timeout,
                    flags: e.flags,
                    cookie: e.cookie,
                    packet_count: e.packets,
                    byte_count: e.bytes,
                    match_: e.match_.clone(),
                    instructions: e.instructions.clone(),
                }
            })
            .collect())
    }

    fn port_stats(&self, now: Time, port_no: PortNo) -> Vec<PortStats> {
        self.ports
            .iter()
            .filter(|(n, _)| port_no == PortNo::ANY || **n == port_no.0)
            .map(|(n, p)| {
                let c = p.counters;
                let (duration_sec, duration_nsec) = secs_nsecs(now.saturating_since(p.added));
                PortStats {
                    rx_packets: c.rx_packets,
                    tx_packets: c.tx_packets,
                    rx_bytes: c.rx_bytes,
                    tx_bytes: c.tx_bytes,
                    rx_dropped: c.rx_dropped,
                    tx_dropped: c.tx_dropped,
                    duration_sec,
                    duration_nsec,
                    ..PortStats::new(PortNo(*n))
                }
            })
            .collect()
    }

    fn group_stats(&self, now: Time, group_id: GroupId) -> Vec<GroupStats> {
        self.groups
            .iter()
            .filter(|(id, _)| group_id == GroupId::ALL || **id == group_id.0)
            .map(|(id, g)| {
                let (duration_sec, duration_nsec) = secs_nsecs(now.saturating_since(g.created));
                GroupStats {
                    group_id: GroupId(*id),
                    ref_count: self.group_ref_count(*id),
                    packet_count: g.packets,
                    byte_count: g.bytes,
                    duration_sec,
                    duration_nsec,
                    bucket_stats: g
                        .bucket_counts
                        .iter()
                        .map(|(p, b)| BucketCounter {
                            packet_count: *p,
                            byte_count: *b,
                        })
                        .collect(),
                }
            })
            .collect()
    }

    fn group_features(&self) -> GroupFeatures {
        let actions = ACTIONS
            .iter()
            .fold(0u32, |acc, a| acc | (1u32 << (a.value() & 31)));
        GroupFeatures {
            types: GroupTypes::ALL | GroupTypes::SELECT | GroupTypes::INDIRECT | GroupTypes::FF,
            capabilities: GroupCapabilities::SELECT_WEIGHT
                | GroupCapabilities::SELECT_LIVENESS
                | GroupCapabilities::CHAINING
                | GroupCapabilities::CHAINING_CHECKS,
            max_groups: [self.config.max_groups; 4],
            actions: [actions; 4],
        }
    }

    fn table_features(&self) -> Vec<TableFeatures> {
        let n = self.tables.len();
        let instructions: Vec<InstructionId> = INSTRUCTIONS
            .iter()
            .map(|i| InstructionId::new(*i))
            .collect();
        let actions: Vec<ActionId> = ACTIONS.iter().map(|a| ActionId::new(*a)).collect();
        let matchable: Vec<OxmId> = match_fields()
            .map(|f| oxm_id(f, field_is_maskable(f.value())))
            .collect();
        let wildcards: Vec<OxmId> = match_fields().map(|f| oxm_id(f, false)).collect();
        let settable: Vec<OxmId> = match_fields()
            .filter(|f| {
                !matches!(
                    f,
                    OxmField::InPort | OxmField::EthType | OxmField::IpProto | OxmField::MplsBos
                )
            })
            .map(|f| oxm_id(f, false))
            .collect();
        (0..n)
            .map(|i| {
                let t = u8::try_from(i).unwrap_or(u8::MAX);
                let next: Vec<TableId> = (i + 1..n)
                    .map(|j| TableId(u8::try_from(j).unwrap_or(u8::MAX)))
                    .collect();
                let mut ins = instructions.clone();
                if next.is_empty() {
                    ins.retain(|i| i.ty != InstructionType::GotoTable);
                }
                TableFeatures {
                    table_id: TableId(t),
                    name: FixedStr::new(&format!("table{t}")),
                    metadata_match: u64::MAX,
                    metadata_write: u64::MAX,
                    config: 0,
                    max_entries: self.config.table_capacity,
                    properties: vec![
                        TableFeatureProp::Instructions(ins),
                        TableFeatureProp::NextTables(next),
                        TableFeatureProp::WriteActions(actions.clone()),
                        TableFeatureProp::ApplyActions(actions.clone()),
                        TableFeatureProp::Match(matchable.clone()),
                        TableFeatureProp::Wildcards(wildcards.clone()),
                        TableFeatureProp::WriteSetfield(settable.clone()),
                        TableFeatureProp::ApplySetfield(settable.clone()),
                    ],
                }
            })
            .collect()
    }
}
