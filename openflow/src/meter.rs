//! `OFPT_METER_MOD` — `ofp_meter_mod` — and meter bands — `ofp_meter_band_*` (OF1.3.5
//! §7.3.4.4).
//!
//! Guarantees: every band type is kept, unknown ones with their bytes; flag bits this crate
//! has no name for survive a round trip. The band codec is shared with the multipart meter
//! configuration (`crate::multipart::MeterBand`): a band's `len` must be at least 16 and a
//! multiple of 8, and `DROP`/`DSCP_REMARK` bands exactly 16 bytes.

use crate::error::DecodeError;
use crate::macros::open_enum;
use crate::types::MeterId;
use crate::wire::{list_len, parse_list, Reader, Wire, Writer};

// One band type for the whole crate: `ofp_meter_config` in multipart replies carries the same
// bands as a meter mod.
pub use crate::multipart::{MeterBand, MeterBandType, MeterFlags};

open_enum! {
    /// Meter command — `ofp_meter_mod_command`.
    pub enum MeterModCommand: u16 {
        /// `OFPMC_ADD`: new meter.
        Add = 0,
        /// `OFPMC_MODIFY`: modify the meter.
        Modify = 1,
        /// `OFPMC_DELETE`: delete the meter.
        Delete = 2,
    }
}

/// `OFPT_METER_MOD` body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MeterMod {
    /// `command`.
    pub command: MeterModCommand,
    /// `flags`.
    pub flags: MeterFlags,
    /// `meter_id`.
    pub meter_id: MeterId,
    /// `bands`, to the end of the message.
    pub bands: Vec<MeterBand>,
}

impl MeterMod {
    /// `OFPMC_ADD` of a meter.
    pub fn add(meter_id: MeterId, flags: MeterFlags, bands: Vec<MeterBand>) -> MeterMod {
        MeterMod {
            command: MeterModCommand::Add,
            flags,
            meter_id,
            bands,
        }
    }

    /// `OFPMC_DELETE` of a meter (`MeterId::ALL` for every meter).
    pub fn delete(meter_id: MeterId) -> MeterMod {
        MeterMod {
            command: MeterModCommand::Delete,
            flags: MeterFlags::empty(),
            meter_id,
            bands: Vec::new(),
        }
    }
}

impl Wire for MeterMod {
    fn wire_len(&self) -> usize {
        8 + list_len(&self.bands)
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u16(self.command.value());
        w.u16(self.flags.bits());
        w.u32(self.meter_id.0);
        crate::wire::emit_list(&self.bands, w);
    }

    /// Parses the rest of the message as the meter mod body.
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(MeterMod {
            command: MeterModCommand::from(r.u16()?),
            flags: MeterFlags::from_bits_retain(r.u16()?),
            meter_id: MeterId(r.u32()?),
            bands: parse_list(r)?,
        })
    }
}

/// Proptest strategies.
#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    use super::*;
    use proptest::prelude::*;

    pub fn meter_band() -> impl Strategy<Value = MeterBand> {
        let data = proptest::collection::vec(any::<u8>(), 0..3)
            .prop_map(|words| words.iter().flat_map(|w| [*w; 8]).collect::<Vec<u8>>());
        prop_oneof![
            (any::<u32>(), any::<u32>())
                .prop_map(|(rate, burst_size)| MeterBand::Drop { rate, burst_size }),
            (any::<u32>(), any::<u32>(), any::<u8>()).prop_map(|(rate, burst_size, prec_level)| {
                MeterBand::DscpRemark {
                    rate,
                    burst_size,
                    prec_level,
                }
            }),
            (any::<u32>(), any::<u32>(), any::<u32>(), data.clone()).prop_map(
                |(rate, burst_size, experimenter, data)| MeterBand::Experimenter {
                    rate,
                    burst_size,
                    experimenter,
                    data,
                }
            ),
            (
                any::<u16>().prop_filter("unknown band type", |k| matches!(
                    MeterBandType::from(*k),
                    MeterBandType::Other(_)
                )),
                any::<u32>(),
                any::<u32>(),
                data.prop_map(|mut d| {
                    d.extend_from_slice(&[1, 2, 3, 4]);
                    d
                })
            )
                .prop_map(|(kind, rate, burst_size, data)| MeterBand::Other {
                    band_type: MeterBandType::from(kind),
                    rate,
                    burst_size,
                    data,
                }),
        ]
    }

    pub fn meter_mod() -> impl Strategy<Value = MeterMod> {
        (
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            proptest::collection::vec(meter_band(), 0..4),
        )
            .prop_map(|(c, f, id, bands)| MeterMod {
                command: MeterModCommand::from(c),
                flags: MeterFlags::from_bits_retain(f),
                meter_id: MeterId(id),
                bands,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(bytes: &[u8]) -> Result<MeterMod, DecodeError> {
        let mut r = Reader::new(bytes, "meter_mod");
        let m = MeterMod::parse(&mut r)?;
        r.finish()?;
        Ok(m)
    }

    #[test]
    fn band_length_checks() {
        // command ADD, flags KBPS, meter 1, DROP band with len 12 (< 16).
        let short = [
            0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert!(matches!(
            parse(&short),
            Err(DecodeError::BadLength { min: 16, .. })
        ));
        // DROP band with len 24: trailing bytes inside the band.
        let mut long = vec![0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 24];
        long.extend_from_slice(&[0; 20]);
        assert!(matches!(
            parse(&long),
            Err(DecodeError::TrailingBytes { .. })
        ));
        // Band running past the end.
        let past = [0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 16, 0, 0, 0, 1];
        assert!(matches!(parse(&past), Err(DecodeError::Truncated { .. })));
    }

    proptest! {
        #[test]
        fn round_trip(m in arb::meter_mod()) {
            prop_assert_eq!(parse(&m.to_vec()).unwrap(), m);
        }
    }
}
