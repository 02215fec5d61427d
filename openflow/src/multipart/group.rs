//! Group counters, descriptions and features (OF1.3.5 §7.3.5.10-7.3.5.12).
//!
//! `ofp_group_stats` and `ofp_group_desc` are checked against their own length field; buckets
//! are decoded by `Bucket` inside the description's bounds.

use super::{parse_fixed_list, take_fixed, take_framed};
use crate::error::DecodeError;
use crate::group::Bucket;
use crate::types::{GroupId, GroupType};
use crate::wire::{emit_list, len16, list_len, parse_list, Reader, Wire, Writer};

/// Counters of one bucket — `ofp_bucket_counter` (OF1.3.5 §7.3.5.10).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BucketCounter {
    pub packet_count: u64,
    pub byte_count: u64,
}

impl BucketCounter {
    pub const LEN: usize = 16;
}

impl Wire for BucketCounter {
    fn wire_len(&self) -> usize {
        Self::LEN
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u64(self.packet_count);
        w.u64(self.byte_count);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BucketCounter {
            packet_count: r.u64()?,
            byte_count: r.u64()?,
        })
    }
}

/// One group's counters — `ofp_group_stats` (OF1.3.5 §7.3.5.10).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupStats {
    pub group_id: GroupId,
    /// Flows or groups that forward to this group.
    pub ref_count: u32,
    pub packet_count: u64,
    pub byte_count: u64,
    pub duration_sec: u32,
    pub duration_nsec: u32,
    /// One counter per bucket, in bucket order.
    pub bucket_stats: Vec<BucketCounter>,
}

impl GroupStats {
    const FIXED_LEN: usize = 40;

    pub(super) fn parse_list(r: &mut Reader<'_>) -> Result<Vec<Self>, DecodeError> {
        parse_list(r)
    }
}

impl Wire for GroupStats {
    fn wire_len(&self) -> usize {
        Self::FIXED_LEN + list_len(&self.bucket_stats)
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u16(len16(self.wire_len()));
        w.zeros(2);
        w.u32(self.group_id.0);
        w.u32(self.ref_count);
        w.zeros(4);
        w.u64(self.packet_count);
        w.u64(self.byte_count);
        w.u32(self.duration_sec);
        w.u32(self.duration_nsec);
        emit_list(&self.bucket_stats, w);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut e = take_framed(r, 0, Self::FIXED_LEN, "group_stats")?;
        e.skip(4)?; // length (checked), pad[2]
        let group_id = GroupId(e.u32()?);
        let ref_count = e.u32()?;
        e.skip(4)?;
        let packet_count = e.u64()?;
        let byte_count = e.u64()?;
        let duration_sec = e.u32()?;
        let duration_nsec = e.u32()?;
        let bucket_stats = parse_fixed_list(
            &mut e,
            BucketCounter::LEN,
            "bucket_counter",
            BucketCounter::parse,
        )?;
        Ok(GroupStats {
            group_id,
            ref_count,
            packet_count,
            byte_count,
            duration_sec,
            duration_nsec,
            bucket_stats,
        })
    }
}

/// One group's type and buckets — `ofp_group_desc` (OF1.3.5 §7.3.5.11).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupDesc {
    pub group_type: GroupType,
    pub group_id: GroupId,
    pub buckets: Vec<Bucket>,
}

impl GroupDesc {
    const FIXED_LEN: usize = 8;

    pub(super) fn parse_list(r: &mut Reader<'_>) -> Result<Vec<Self>, DecodeError> {
        parse_list(r)
    }
}

impl Wire for GroupDesc {
    fn wire_len(&self) -> usize {
        Self::FIXED_LEN + list_len(&self.buckets)
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u16(len16(self.wire_len()));
        w.u8(self.group_type.value());
        w.zeros(1);
        w.u32(self.group_id.0);
        emit_list(&self.buckets, w);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut e = take_framed(r, 0, Self::FIXED_LEN, "group_desc")?;
        e.skip(2)?; // length, checked by take_framed
        let group_type = GroupType::from(e.u8()?);
        e.skip(1)?;
        let group_id = GroupId(e.u32()?);
        // The buckets run to the end of the description.
        let buckets = crate::group::parse_buckets(&mut e)?;
        Ok(GroupDesc {
            group_type,
            group_id,
            buckets,
        })
    }
}

bitflags::bitflags! {
    /// A set of group types — bit `1 << t` for each `ofp_group_type` `t` (OF1.3.5 §7.3.5.12).
    /// Unknown bits are kept.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct GroupTypes: u32 {
        /// `1 << OFPGT_ALL`.
        const ALL = 1 << 0;
        /// `1 << OFPGT_SELECT`.
        const SELECT = 1 << 1;
        /// `1 << OFPGT_INDIRECT`.
        const INDIRECT = 1 << 2;
        /// `1 << OFPGT_FF`.
        const FF = 1 << 3;
        const _ = !0;
    }
}

impl GroupTypes {
    /// Whether the set holds `t`.
    pub fn has(self, t: GroupType) -> bool {
        let v = u32::from(t.value());
        v < 32 && self.bits() & (1 << v) != 0
    }
}

bitflags::bitflags! {
    /// Group capabilities — `ofp_group_capabilities` (OF1.3.5 §7.3.5.12). Unknown bits are kept.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct GroupCapabilities: u32 {
        /// `OFPGFC_SELECT_WEIGHT`: weights on select buckets.
        const SELECT_WEIGHT = 1 << 0;
        /// `OFPGFC_SELECT_LIVENESS`: liveness on select buckets.
        const SELECT_LIVENESS = 1 << 1;
        /// `OFPGFC_CHAINING`: groups may forward to groups.
        const CHAINING = 1 << 2;
        /// `OFPGFC_CHAINING_CHECKS`: the switch checks chaining for loops and deletes.
        const CHAINING_CHECKS = 1 << 3;
        const _ = !0;
    }
}

/// The switch's group support — `ofp_group_features` (OF1.3.5 §7.3.5.12).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GroupFeatures {
    /// Supported group types.
    pub types: GroupTypes,
    pub capabilities: GroupCapabilities,
    /// Most groups of each type, indexed by `ofp_group_type` (ALL, SELECT, INDIRECT, FF).
    pub max_groups: [u32; 4],
    /// Actions supported in each group type, as bitmaps of `1 << ofp_action_type`.
    pub actions: [u32; 4],
}

impl GroupFeatures {
    pub const LEN: usize = 40;

    /// The most groups of type `t` the switch holds, if `t` is one of the four the spec
    /// defines.
    pub fn max_groups_of(&self, t: GroupType) -> Option<u32> {
        self.max_groups.get(usize::from(t.value())).copied()
    }

    pub(super) fn parse_whole(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut b = take_fixed(r, Self::LEN, "group_features")?;
        Self::parse(&mut b)
    }
}

impl Wire for GroupFeatures {
    fn wire_len(&self) -> usize {
        Self::LEN
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u32(self.types.bits());
        w.u32(self.capabilities.bits());
        for v in self.max_groups {
            w.u32(v);
        }
        for v in self.actions {
            w.u32(v);
        }
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let types = GroupTypes::from_bits_retain(r.u32()?);
        let capabilities = GroupCapabilities::from_bits_retain(r.u32()?);
        let mut max_groups = [0u32; 4];
        for v in &mut max_groups {
            *v = r.u32()?;
        }
        let mut actions = [0u32; 4];
        for v in &mut actions {
            *v = r.u32()?;
        }
        Ok(GroupFeatures {
            types,
            capabilities,
            max_groups,
            actions,
        })
    }
}
