//! Meter statistics, configuration and features (OF1.3.5 §7.3.5.13-7.3.5.15), with the meter
//! bands of `ofp_meter_config` (OF1.3.5 §7.3.4.4).
//!
//! `ofp_meter_stats`, `ofp_meter_config` and each band are checked against their own length
//! field; unknown band types keep their bytes.

use super::{parse_fixed_list, take_fixed, take_framed};
use crate::error::DecodeError;
use crate::macros::open_enum;
use crate::types::MeterId;
use crate::wire::{emit_list, len16, list_len, parse_list, Reader, Wire, Writer};

/// Counters of one band — `ofp_meter_band_stats` (OF1.3.5 §7.3.5.13).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MeterBandStats {
    pub packet_band_count: u64,
    pub byte_band_count: u64,
}

impl MeterBandStats {
    pub const LEN: usize = 16;
}

impl Wire for MeterBandStats {
    fn wire_len(&self) -> usize {
        Self::LEN
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u64(self.packet_band_count);
        w.u64(self.byte_band_count);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(MeterBandStats {
            packet_band_count: r.u64()?,
            byte_band_count: r.u64()?,
        })
    }
}

/// One meter's counters — `ofp_meter_stats` (OF1.3.5 §7.3.5.13).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MeterStats {
    pub meter_id: MeterId,
    /// Flows bound to the meter.
    pub flow_count: u32,
    pub packet_in_count: u64,
    pub byte_in_count: u64,
    pub duration_sec: u32,
    pub duration_nsec: u32,
    /// One counter per band, in band order.
    pub band_stats: Vec<MeterBandStats>,
}

impl MeterStats {
    const FIXED_LEN: usize = 40;

    pub(super) fn parse_list(r: &mut Reader<'_>) -> Result<Vec<Self>, DecodeError> {
        parse_list(r)
    }
}

impl Wire for MeterStats {
    fn wire_len(&self) -> usize {
        Self::FIXED_LEN + list_len(&self.band_stats)
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u32(self.meter_id.0);
        w.u16(len16(self.wire_len()));
        w.zeros(6);
        w.u32(self.flow_count);
        w.u64(self.packet_in_count);
        w.u64(self.byte_in_count);
        w.u32(self.duration_sec);
        w.u32(self.duration_nsec);
        emit_list(&self.band_stats, w);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        // The length field follows the 4-byte meter id here (OF1.3.5 §7.3.5.13).
        let mut e = take_framed(r, 4, Self::FIXED_LEN, "meter_stats")?;
        let meter_id = MeterId(e.u32()?);
        e.skip(8)?; // len (checked), pad[6]
        let flow_count = e.u32()?;
        let packet_in_count = e.u64()?;
        let byte_in_count = e.u64()?;
        let duration_sec = e.u32()?;
        let duration_nsec = e.u32()?;
        let band_stats = parse_fixed_list(
            &mut e,
            MeterBandStats::LEN,
            "meter_band_stats",
            MeterBandStats::parse,
        )?;
        Ok(MeterStats {
            meter_id,
            flow_count,
            packet_in_count,
            byte_in_count,
            duration_sec,
            duration_nsec,
            band_stats,
        })
    }
}

bitflags::bitflags! {
    /// Meter configuration flags — `ofp_meter_flags` (OF1.3.5 §7.3.4.4). Unknown bits are kept.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct MeterFlags: u16 {
        /// `OFPMF_KBPS`: rates in kb/s.
        const KBPS = 1 << 0;
        /// `OFPMF_PKTPS`: rates in packets/s.
        const PKTPS = 1 << 1;
        /// `OFPMF_BURST`: burst sizes apply.
        const BURST = 1 << 2;
        /// `OFPMF_STATS`: collect statistics.
        const STATS = 1 << 3;
        const _ = !0;
    }
}

open_enum! {
    /// Meter band type — `ofp_meter_band_type` (OF1.3.5 §7.3.4.4).
    pub enum MeterBandType: u16 {
        /// `OFPMBT_DROP`: drop the packet.
        Drop = 1,
        /// `OFPMBT_DSCP_REMARK`: raise the drop precedence of the DSCP.
        DscpRemark = 2,
        /// `OFPMBT_EXPERIMENTER`.
        Experimenter = 0xffff,
    }
}

/// One meter band — `ofp_meter_band_header` and its type's body (OF1.3.5 §7.3.4.4).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MeterBand {
    /// `OFPMBT_DROP` — `ofp_meter_band_drop`.
    Drop { rate: u32, burst_size: u32 },
    /// `OFPMBT_DSCP_REMARK` — `ofp_meter_band_dscp_remark`.
    DscpRemark {
        rate: u32,
        burst_size: u32,
        /// Drop precedence levels to add.
        prec_level: u8,
    },
    /// `OFPMBT_EXPERIMENTER` — `ofp_meter_band_experimenter`, with any data after the
    /// experimenter id kept as received.
    Experimenter {
        rate: u32,
        burst_size: u32,
        experimenter: u32,
        data: Vec<u8>,
    },
    /// A band type this crate does not know: the bytes after `burst_size`, as received.
    Other {
        band_type: MeterBandType,
        rate: u32,
        burst_size: u32,
        data: Vec<u8>,
    },
}

impl MeterBand {
    /// type, len, rate, burst_size.
    const HEADER_LEN: usize = 12;

    /// The band's `OFPMBT_*` type.
    pub fn band_type(&self) -> MeterBandType {
        match self {
            MeterBand::Drop { .. } => MeterBandType::Drop,
            MeterBand::DscpRemark { .. } => MeterBandType::DscpRemark,
            MeterBand::Experimenter { .. } => MeterBandType::Experimenter,
            MeterBand::Other { band_type, .. } => *band_type,
        }
    }

    fn rate_burst(&self) -> (u32, u32) {
        match *self {
            MeterBand::Drop { rate, burst_size }
            | MeterBand::DscpRemark {
                rate, burst_size, ..
            }
            | MeterBand::Experimenter {
                rate, burst_size, ..
            }
            | MeterBand::Other {
                rate, burst_size, ..
            } => (rate, burst_size),
        }
    }
}

impl Wire for MeterBand {
    fn wire_len(&self) -> usize {
        Self::HEADER_LEN
            + match self {
                // pad[4]; prec_level + pad[3]; experimenter.
                MeterBand::Drop { .. } | MeterBand::DscpRemark { .. } => 4,
                MeterBand::Experimenter { data, .. } => 4 + data.len(),
                MeterBand::Other { data, .. } => data.len(),
            }
    }

    fn emit(&self, w: &mut Writer<'_>) {
        let (rate, burst_size) = self.rate_burst();
        w.u16(self.band_type().value());
        w.u16(len16(self.wire_len()));
        w.u32(rate);
        w.u32(burst_size);
        match self {
            MeterBand::Drop { .. } => w.zeros(4),
            MeterBand::DscpRemark { prec_level, .. } => {
                w.u8(*prec_level);
                w.zeros(3);
            }
            MeterBand::Experimenter {
                experimenter, data, ..
            } => {
                w.u32(*experimenter);
                w.bytes(data);
            }
            MeterBand::Other { data, .. } => w.bytes(data),
        }
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        // Every band is at least 16 bytes, and bands keep 64-bit alignment (OF1.3.5 §7.3.4.4).
        let mut e = take_framed(r, 2, 16, "meter_band")?;
        let band_type = MeterBandType::from(e.u16()?);
        e.skip(2)?; // len, checked by take_framed
        let rate = e.u32()?;
        let burst_size = e.u32()?;
        let band = match band_type {
            MeterBandType::Drop => {
                e.skip(4)?;
                MeterBand::Drop { rate, burst_size }
            }
            MeterBandType::DscpRemark => {
                let prec_level = e.u8()?;
                e.skip(3)?;
                MeterBand::DscpRemark {
                    rate,
                    burst_size,
                    prec_level,
                }
            }
            MeterBandType::Experimenter => MeterBand::Experimenter {
                rate,
                burst_size,
                experimenter: e.u32()?,
                data: e.rest().to_vec(),
            },
            MeterBandType::Other(_) => MeterBand::Other {
                band_type,
                rate,
                burst_size,
                data: e.rest().to_vec(),
            },
        };
        e.finish()?;
        Ok(band)
    }
}

/// One meter's configuration — `ofp_meter_config` (OF1.3.5 §7.3.5.14).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MeterConfig {
    pub flags: MeterFlags,
    pub meter_id: MeterId,
    pub bands: Vec<MeterBand>,
}

impl MeterConfig {
    const FIXED_LEN: usize = 8;

    pub(super) fn parse_list(r: &mut Reader<'_>) -> Result<Vec<Self>, DecodeError> {
        parse_list(r)
    }
}

impl Wire for MeterConfig {
    fn wire_len(&self) -> usize {
        Self::FIXED_LEN + list_len(&self.bands)
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u16(len16(self.wire_len()));
        w.u16(self.flags.bits());
        w.u32(self.meter_id.0);
        emit_list(&self.bands, w);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut e = take_framed(r, 0, Self::FIXED_LEN, "meter_config")?;
        e.skip(2)?; // length, checked by take_framed
        let flags = MeterFlags::from_bits_retain(e.u16()?);
        let meter_id = MeterId(e.u32()?);
        let bands = parse_list(&mut e)?;
        Ok(MeterConfig {
            flags,
            meter_id,
            bands,
        })
    }
}

bitflags::bitflags! {
    /// A set of band types — bit `1 << t` for each `ofp_meter_band_type` `t`
    /// (OF1.3.5 §7.3.5.15). Unknown bits are kept.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct MeterBandTypes: u32 {
        /// `1 << OFPMBT_DROP`.
        const DROP = 1 << 1;
        /// `1 << OFPMBT_DSCP_REMARK`.
        const DSCP_REMARK = 1 << 2;
        const _ = !0;
    }
}

/// The switch's meter support — `ofp_meter_features` (OF1.3.5 §7.3.5.15).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MeterFeatures {
    /// Most meters.
    pub max_meter: u32,
    pub band_types: MeterBandTypes,
    /// Supported `OFPMF_*` flags, in the low 16 bits of the 32-bit field.
    pub capabilities: u32,
    /// Most bands per meter.
    pub max_bands: u8,
    /// Most colour values.
    pub max_color: u8,
}

impl MeterFeatures {
    pub const LEN: usize = 16;

    pub(super) fn parse_whole(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut b = take_fixed(r, Self::LEN, "meter_features")?;
        Self::parse(&mut b)
    }
}

impl Wire for MeterFeatures {
    fn wire_len(&self) -> usize {
        Self::LEN
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u32(self.max_meter);
        w.u32(self.band_types.bits());
        w.u32(self.capabilities);
        w.u8(self.max_bands);
        w.u8(self.max_color);
        w.zeros(2);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let max_meter = r.u32()?;
        let band_types = MeterBandTypes::from_bits_retain(r.u32()?);
        let capabilities = r.u32()?;
        let max_bands = r.u8()?;
        let max_color = r.u8()?;
        r.skip(2)?;
        Ok(MeterFeatures {
            max_meter,
            band_types,
            capabilities,
            max_bands,
            max_color,
        })
    }
}
