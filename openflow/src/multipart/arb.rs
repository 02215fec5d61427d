//! Proptest strategies for multipart requests and replies: every body type, every table
//! feature property, unknown types and flag bits. Values keep the invariants the codec
//! documents (unknown types are never known ones, OXM ids carry an experimenter id exactly for
//! class 0xffff, element sizes stay 8-byte aligned), so they round-trip exactly.

use super::*;
use crate::group::arb::buckets;
use crate::instruction::arb::instructions;
use crate::meter::arb::meter_band;
use crate::oxm::arb::{match_, oxm};
use crate::port::arb::port;
use crate::types::GroupType;
use proptest::collection::vec;
use proptest::prelude::*;

/// Any `N`-byte text field: usually text, sometimes raw bytes (garbage after the NUL, no NUL).
pub fn fixed_str<const N: usize>() -> impl Strategy<Value = FixedStr<N>> {
    prop_oneof![
        4 => "[ -~]{0,40}".prop_map(|s| FixedStr::new(&s)),
        1 => vec(any::<u8>(), N..=N).prop_map(|v| {
            let mut a = [0u8; N];
            a.copy_from_slice(&v);
            FixedStr::from_bytes(a)
        }),
    ]
}

pub fn desc() -> impl Strategy<Value = Desc> {
    (
        fixed_str::<256>(),
        fixed_str::<256>(),
        fixed_str::<256>(),
        fixed_str::<32>(),
        fixed_str::<256>(),
    )
        .prop_map(|(mfr_desc, hw_desc, sw_desc, serial_num, dp_desc)| Desc {
            mfr_desc,
            hw_desc,
            sw_desc,
            serial_num,
            dp_desc,
        })
}

pub fn flow_stats_request() -> impl Strategy<Value = FlowStatsRequest> {
    (
        any::<u8>(),
        any::<u32>(),
        any::<u32>(),
        any::<u64>(),
        any::<u64>(),
        match_(),
    )
        .prop_map(|(t, p, g, cookie, cookie_mask, match_)| FlowStatsRequest {
            table_id: TableId(t),
            out_port: PortNo(p),
            out_group: GroupId(g),
            cookie: Cookie(cookie),
            cookie_mask,
            match_,
        })
}

pub fn flow_stats() -> impl Strategy<Value = FlowStats> {
    (
        (any::<u8>(), any::<u32>(), any::<u32>(), any::<u16>()),
        (any::<u16>(), any::<u16>(), any::<u16>(), any::<u64>()),
        (any::<u64>(), any::<u64>(), match_(), instructions()),
    )
        .prop_map(
            |(
                (t, duration_sec, duration_nsec, priority),
                (idle_timeout, hard_timeout, flags, cookie),
                (packet_count, byte_count, match_, instructions),
            )| FlowStats {
                table_id: TableId(t),
                duration_sec,
                duration_nsec,
                priority,
                idle_timeout,
                hard_timeout,
                flags: crate::msg::FlowModFlags::from_bits_retain(flags),
                cookie: Cookie(cookie),
                packet_count,
                byte_count,
                match_,
                instructions,
            },
        )
}

pub fn aggregate_stats() -> impl Strategy<Value = AggregateStats> {
    (any::<u64>(), any::<u64>(), any::<u32>()).prop_map(|(packet_count, byte_count, flow_count)| {
        AggregateStats {
            packet_count,
            byte_count,
            flow_count,
        }
    })
}

pub fn table_stats() -> impl Strategy<Value = TableStats> {
    (any::<u8>(), any::<u32>(), any::<u64>(), any::<u64>()).prop_map(|(t, a, l, m)| TableStats {
        table_id: TableId(t),
        active_count: a,
        lookup_count: l,
        matched_count: m,
    })
}

pub fn port_stats() -> impl Strategy<Value = PortStats> {
    (any::<u32>(), any::<[u64; 12]>(), any::<u32>(), any::<u32>()).prop_map(|(p, c, s, ns)| {
        PortStats {
            port_no: PortNo(p),
            rx_packets: c[0],
            tx_packets: c[1],
            rx_bytes: c[2],
            tx_bytes: c[3],
            rx_dropped: c[4],
            tx_dropped: c[5],
            rx_errors: c[6],
            tx_errors: c[7],
            rx_frame_err: c[8],
            rx_over_err: c[9],
            rx_crc_err: c[10],
            collisions: c[11],
            duration_sec: s,
            duration_nsec: ns,
        }
    })
}

pub fn queue_stats() -> impl Strategy<Value = QueueStats> {
    (
        any::<u32>(),
        any::<u32>(),
        any::<[u64; 3]>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(p, q, c, s, ns)| QueueStats {
            port_no: PortNo(p),
            queue_id: QueueId(q),
            tx_bytes: c[0],
            tx_packets: c[1],
            tx_errors: c[2],
            duration_sec: s,
            duration_nsec: ns,
        })
}

pub fn group_stats() -> impl Strategy<Value = GroupStats> {
    (
        (any::<u32>(), any::<u32>(), any::<u64>(), any::<u64>()),
        (any::<u32>(), any::<u32>()),
        vec(any::<(u64, u64)>(), 0..4),
    )
        .prop_map(
            |((g, ref_count, packet_count, byte_count), (duration_sec, duration_nsec), b)| {
                GroupStats {
                    group_id: GroupId(g),
                    ref_count,
                    packet_count,
                    byte_count,
                    duration_sec,
                    duration_nsec,
                    bucket_stats: b
                        .into_iter()
                        .map(|(packet_count, byte_count)| BucketCounter {
                            packet_count,
                            byte_count,
                        })
                        .collect(),
                }
            },
        )
}

pub fn group_desc() -> impl Strategy<Value = GroupDesc> {
    (any::<u8>(), any::<u32>(), buckets()).prop_map(|(t, g, buckets)| GroupDesc {
        group_type: GroupType::from(t),
        group_id: GroupId(g),
        buckets,
    })
}

pub fn group_features() -> impl Strategy<Value = GroupFeatures> {
    (
        any::<u32>(),
        any::<u32>(),
        any::<[u32; 4]>(),
        any::<[u32; 4]>(),
    )
        .prop_map(|(t, c, max_groups, actions)| GroupFeatures {
            types: GroupTypes::from_bits_retain(t),
            capabilities: GroupCapabilities::from_bits_retain(c),
            max_groups,
            actions,
        })
}

pub fn meter_stats() -> impl Strategy<Value = MeterStats> {
    (
        (any::<u32>(), any::<u32>(), any::<u64>(), any::<u64>()),
        (any::<u32>(), any::<u32>()),
        vec(any::<(u64, u64)>(), 0..4),
    )
        .prop_map(
            |(
                (m, flow_count, packet_in_count, byte_in_count),
                (duration_sec, duration_nsec),
                b,
            )| {
                MeterStats {
                    meter_id: MeterId(m),
                    flow_count,
                    packet_in_count,
                    byte_in_count,
                    duration_sec,
                    duration_nsec,
                    band_stats: b
                        .into_iter()
                        .map(|(packet_band_count, byte_band_count)| MeterBandStats {
                            packet_band_count,
                            byte_band_count,
                        })
                        .collect(),
                }
            },
        )
}

pub fn meter_config() -> impl Strategy<Value = MeterConfig> {
    (any::<u16>(), any::<u32>(), vec(meter_band(), 0..4)).prop_map(|(f, m, bands)| MeterConfig {
        flags: MeterFlags::from_bits_retain(f),
        meter_id: MeterId(m),
        bands,
    })
}

pub fn meter_features() -> impl Strategy<Value = MeterFeatures> {
    (
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u8>(),
        any::<u8>(),
    )
        .prop_map(
            |(max_meter, b, capabilities, max_bands, max_color)| MeterFeatures {
                max_meter,
                band_types: MeterBandTypes::from_bits_retain(b),
                capabilities,
                max_bands,
                max_color,
            },
        )
}

/// An instruction or action id: a standard 4-byte one or an experimenter one.
pub fn feature_id<T: Copy + From<u16> + Into<u16> + core::fmt::Debug>(
) -> impl Strategy<Value = FeatureId<T>> {
    prop_oneof![
        3 => any::<u16>().prop_map(|t| FeatureId::new(T::from(t))),
        1 => any::<u32>().prop_map(FeatureId::experimenter),
        1 => (any::<u16>(), vec(any::<u8>(), 0..12))
            .prop_map(|(t, data)| FeatureId { ty: T::from(t), data }),
    ]
}

/// An OXM id: a bare header, or an experimenter header with its experimenter id.
pub fn oxm_id() -> impl Strategy<Value = OxmId> {
    prop_oneof![
        3 => oxm().prop_map(|o| OxmId::from(&o)),
        1 => any::<u32>().prop_map(|h| {
            let id = OxmId::new(h);
            if id.class() == crate::oxm::OXM_CLASS_EXPERIMENTER {
                OxmId::new(h & 0x7fff_ffff)
            } else {
                id
            }
        }),
        1 => (any::<u16>(), any::<u32>()).prop_map(|(low, e)| OxmId {
            header: 0xffff_0000 | u32::from(low),
            experimenter: Some(e),
        }),
    ]
}

/// Any table feature property, unknown types included.
pub fn table_feature_prop() -> impl Strategy<Value = TableFeatureProp> {
    use TableFeatureProp as P;
    let ins = || vec(feature_id::<crate::instruction::InstructionType>(), 0..5);
    let acts = || vec(feature_id::<crate::action::ActionType>(), 0..5);
    let tables = || vec(any::<u8>().prop_map(TableId), 0..9);
    let oxms = || vec(oxm_id(), 0..6);
    let exp = || (any::<u32>(), any::<u32>(), vec(any::<u8>(), 0..12));
    prop_oneof![
        ins().prop_map(P::Instructions),
        ins().prop_map(P::InstructionsMiss),
        tables().prop_map(P::NextTables),
        tables().prop_map(P::NextTablesMiss),
        acts().prop_map(P::WriteActions),
        acts().prop_map(P::WriteActionsMiss),
        acts().prop_map(P::ApplyActions),
        acts().prop_map(P::ApplyActionsMiss),
        oxms().prop_map(P::Match),
        oxms().prop_map(P::Wildcards),
        oxms().prop_map(P::WriteSetfield),
        oxms().prop_map(P::WriteSetfieldMiss),
        oxms().prop_map(P::ApplySetfield),
        oxms().prop_map(P::ApplySetfieldMiss),
        exp().prop_map(|(experimenter, exp_type, data)| P::Experimenter {
            experimenter,
            exp_type,
            data
        }),
        exp().prop_map(|(experimenter, exp_type, data)| P::ExperimenterMiss {
            experimenter,
            exp_type,
            data
        }),
        (
            any::<u16>().prop_filter("unknown property type", |t| matches!(
                TableFeaturePropType::from(*t),
                TableFeaturePropType::Other(_)
            )),
            vec(any::<u8>(), 0..12)
        )
            .prop_map(|(t, data)| P::Unknown {
                ty: TableFeaturePropType::from(t),
                data
            }),
    ]
}

pub fn table_features() -> impl Strategy<Value = TableFeatures> {
    (
        (any::<u8>(), fixed_str::<32>(), any::<u64>(), any::<u64>()),
        (any::<u32>(), any::<u32>(), vec(table_feature_prop(), 0..6)),
    )
        .prop_map(
            |((t, name, metadata_match, metadata_write), (config, max_entries, properties))| {
                TableFeatures {
                    table_id: TableId(t),
                    name,
                    metadata_match,
                    metadata_write,
                    config,
                    max_entries,
                    properties,
                }
            },
        )
}

pub fn experimenter_body() -> impl Strategy<Value = ExperimenterBody> {
    (any::<u32>(), any::<u32>(), vec(any::<u8>(), 0..24)).prop_map(
        |(experimenter, exp_type, data)| ExperimenterBody {
            experimenter,
            exp_type,
            data,
        },
    )
}

/// A multipart type this crate does not know.
pub fn unknown_type() -> impl Strategy<Value = MultipartType> {
    any::<u16>()
        .prop_map(MultipartType::from)
        .prop_filter("unknown multipart type", |t| {
            matches!(t, MultipartType::Other(_))
        })
}

/// Any request body.
pub fn request_body() -> impl Strategy<Value = MultipartRequestBody> {
    use MultipartRequestBody as B;
    prop_oneof![
        Just(B::Desc),
        flow_stats_request().prop_map(B::Flow),
        flow_stats_request().prop_map(B::Aggregate),
        Just(B::Table),
        any::<u32>().prop_map(|p| B::PortStats { port_no: PortNo(p) }),
        (any::<u32>(), any::<u32>()).prop_map(|(p, q)| B::Queue {
            port_no: PortNo(p),
            queue_id: QueueId(q)
        }),
        any::<u32>().prop_map(|g| B::Group {
            group_id: GroupId(g)
        }),
        Just(B::GroupDesc),
        Just(B::GroupFeatures),
        any::<u32>().prop_map(|m| B::Meter {
            meter_id: MeterId(m)
        }),
        any::<u32>().prop_map(|m| B::MeterConfig {
            meter_id: MeterId(m)
        }),
        Just(B::MeterFeatures),
        vec(table_features(), 0..3).prop_map(B::TableFeatures),
        Just(B::PortDesc),
        experimenter_body().prop_map(B::Experimenter),
        (unknown_type(), vec(any::<u8>(), 0..24))
            .prop_map(|(mp_type, body)| B::Other { mp_type, body }),
    ]
}

/// Any reply body.
pub fn reply_body() -> impl Strategy<Value = MultipartReplyBody> {
    use MultipartReplyBody as B;
    prop_oneof![
        desc().prop_map(|d| B::Desc(Box::new(d))),
        vec(flow_stats(), 0..4).prop_map(B::Flow),
        aggregate_stats().prop_map(B::Aggregate),
        vec(table_stats(), 0..4).prop_map(B::Table),
        vec(port_stats(), 0..4).prop_map(B::PortStats),
        vec(queue_stats(), 0..4).prop_map(B::Queue),
        vec(group_stats(), 0..4).prop_map(B::Group),
        vec(group_desc(), 0..4).prop_map(B::GroupDesc),
        group_features().prop_map(B::GroupFeatures),
        vec(meter_stats(), 0..4).prop_map(B::Meter),
        vec(meter_config(), 0..4).prop_map(B::MeterConfig),
        meter_features().prop_map(B::MeterFeatures),
        vec(table_features(), 0..3).prop_map(B::TableFeatures),
        vec(port(), 0..4).prop_map(B::PortDesc),
        experimenter_body().prop_map(B::Experimenter),
        (unknown_type(), vec(any::<u8>(), 0..24))
            .prop_map(|(mp_type, body)| B::Other { mp_type, body }),
    ]
}

/// Any multipart request.
pub fn request() -> impl Strategy<Value = MultipartRequest> {
    (any::<u16>(), request_body()).prop_map(|(f, body)| MultipartRequest {
        flags: MultipartRequestFlags::from_bits_retain(f),
        body,
    })
}

/// Any multipart reply.
pub fn reply() -> impl Strategy<Value = MultipartReply> {
    (any::<u16>(), reply_body()).prop_map(|(f, body)| MultipartReply {
        flags: MultipartReplyFlags::from_bits_retain(f),
        body,
    })
}
