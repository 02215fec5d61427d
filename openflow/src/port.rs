//! A port's description — `ofp_port` (OF1.3.5 §7.2.1) — and its flag words.
//!
//! Guarantees: `Port` is exactly 64 bytes on the wire; flag words keep unknown bits
//! (`from_bits_retain`). The port name is the 16-byte NUL-padded field kept byte for byte
//! (`FixedStr<16>`), so whatever a switch sends, valid UTF-8 or not, round-trips exactly;
//! `Port::new` cuts a name to 15 bytes so that a NUL terminates it, as the spec asks.

use bitflags::bitflags;

use crate::error::DecodeError;
use crate::multipart::FixedStr;
use crate::types::PortNo;
use crate::wire::{Reader, Wire, Writer};

/// `OFP_MAX_PORT_NAME_LEN`.
pub const PORT_NAME_LEN: usize = 16;

/// Bytes of an `ofp_port`.
pub const PORT_LEN: usize = 64;

bitflags! {
    /// Port configuration — `ofp_port_config` (OF1.3.5 §7.2.1).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct PortConfig: u32 {
        /// `OFPPC_PORT_DOWN`: administratively down.
        const PORT_DOWN = 1 << 0;
        /// `OFPPC_NO_RECV`: drop all packets received by the port.
        const NO_RECV = 1 << 2;
        /// `OFPPC_NO_FWD`: drop packets forwarded to the port.
        const NO_FWD = 1 << 5;
        /// `OFPPC_NO_PACKET_IN`: no packet-in messages for the port.
        const NO_PACKET_IN = 1 << 6;
    }
}

bitflags! {
    /// Port state — `ofp_port_state` (OF1.3.5 §7.2.1). Not configurable by the controller.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct PortState: u32 {
        /// `OFPPS_LINK_DOWN`: no physical link present.
        const LINK_DOWN = 1 << 0;
        /// `OFPPS_BLOCKED`: blocked (e.g. by spanning tree).
        const BLOCKED = 1 << 1;
        /// `OFPPS_LIVE`: live for fast failover groups.
        const LIVE = 1 << 2;
    }
}

bitflags! {
    /// Port features — `ofp_port_features` (OF1.3.5 §7.2.1).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct PortFeatures: u32 {
        /// `OFPPF_10MB_HD`.
        const RATE_10MB_HD = 1 << 0;
        /// `OFPPF_10MB_FD`.
        const RATE_10MB_FD = 1 << 1;
        /// `OFPPF_100MB_HD`.
        const RATE_100MB_HD = 1 << 2;
        /// `OFPPF_100MB_FD`.
        const RATE_100MB_FD = 1 << 3;
        /// `OFPPF_1GB_HD`.
        const RATE_1GB_HD = 1 << 4;
        /// `OFPPF_1GB_FD`.
        const RATE_1GB_FD = 1 << 5;
        /// `OFPPF_10GB_FD`.
        const RATE_10GB_FD = 1 << 6;
        /// `OFPPF_40GB_FD`.
        const RATE_40GB_FD = 1 << 7;
        /// `OFPPF_100GB_FD`.
        const RATE_100GB_FD = 1 << 8;
        /// `OFPPF_1TB_FD`.
        const RATE_1TB_FD = 1 << 9;
        /// `OFPPF_OTHER`: another rate, not in the list.
        const OTHER = 1 << 10;
        /// `OFPPF_COPPER`.
        const COPPER = 1 << 11;
        /// `OFPPF_FIBER`.
        const FIBER = 1 << 12;
        /// `OFPPF_AUTONEG`.
        const AUTONEG = 1 << 13;
        /// `OFPPF_PAUSE`.
        const PAUSE = 1 << 14;
        /// `OFPPF_PAUSE_ASYM`.
        const PAUSE_ASYM = 1 << 15;
    }
}

/// A port's description — `ofp_port`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Port {
    /// `port_no`.
    pub port_no: PortNo,
    /// `hw_addr`.
    pub hw_addr: [u8; 6],
    /// `name`: display it with `to_str_lossy()` or `{}`.
    pub name: FixedStr<PORT_NAME_LEN>,
    /// `config`.
    pub config: PortConfig,
    /// `state`.
    pub state: PortState,
    /// `curr`: current features.
    pub curr: PortFeatures,
    /// `advertised`: features being advertised by the port.
    pub advertised: PortFeatures,
    /// `supported`: features supported by the port.
    pub supported: PortFeatures,
    /// `peer`: features advertised by the peer.
    pub peer: PortFeatures,
    /// `curr_speed`: current bitrate in kbps.
    pub curr_speed: u32,
    /// `max_speed`: maximum bitrate in kbps.
    pub max_speed: u32,
}

impl Port {
    /// A port with the given number, address and name, everything else zero.
    pub fn new(port_no: PortNo, hw_addr: [u8; 6], name: impl AsRef<str>) -> Port {
        Port {
            port_no,
            hw_addr,
            name: FixedStr::new(name.as_ref()),
            config: PortConfig::empty(),
            state: PortState::empty(),
            curr: PortFeatures::empty(),
            advertised: PortFeatures::empty(),
            supported: PortFeatures::empty(),
            peer: PortFeatures::empty(),
            curr_speed: 0,
            max_speed: 0,
        }
    }

    /// The link is up and the port not administratively down.
    pub fn is_up(&self) -> bool {
        !self.state.contains(PortState::LINK_DOWN) && !self.config.contains(PortConfig::PORT_DOWN)
    }
}

impl Wire for Port {
    fn wire_len(&self) -> usize {
        PORT_LEN
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u32(self.port_no.0);
        w.zeros(4);
        w.bytes(&self.hw_addr);
        w.zeros(2);
        w.bytes(self.name.as_bytes());
        w.u32(self.config.bits());
        w.u32(self.state.bits());
        w.u32(self.curr.bits());
        w.u32(self.advertised.bits());
        w.u32(self.supported.bits());
        w.u32(self.peer.bits());
        w.u32(self.curr_speed);
        w.u32(self.max_speed);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut r = r.sub(PORT_LEN, "ofp_port")?;
        let port_no = PortNo(r.u32()?);
        r.skip(4)?;
        let hw_addr = r.array()?;
        r.skip(2)?;
        let name = FixedStr::from_bytes(r.array()?);
        Ok(Port {
            port_no,
            hw_addr,
            name,
            config: PortConfig::from_bits_retain(r.u32()?),
            state: PortState::from_bits_retain(r.u32()?),
            curr: PortFeatures::from_bits_retain(r.u32()?),
            advertised: PortFeatures::from_bits_retain(r.u32()?),
            supported: PortFeatures::from_bits_retain(r.u32()?),
            peer: PortFeatures::from_bits_retain(r.u32()?),
            curr_speed: r.u32()?,
            max_speed: r.u32()?,
        })
    }
}

/// Proptest strategies.
#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    use super::*;
    use proptest::prelude::*;

    /// Port names: mostly as switches make them (printable ASCII), and any 16 bytes.
    pub fn port_name() -> impl Strategy<Value = FixedStr<PORT_NAME_LEN>> {
        prop_oneof![
            "[ -~]{0,15}".prop_map(|s| FixedStr::new(&s)),
            any::<[u8; PORT_NAME_LEN]>().prop_map(FixedStr::from_bytes),
        ]
    }

    pub fn port_no() -> impl Strategy<Value = PortNo> {
        prop_oneof![
            (1u32..64).prop_map(PortNo),
            any::<u32>().prop_map(PortNo),
            Just(PortNo::LOCAL),
        ]
    }

    pub fn port() -> impl Strategy<Value = Port> {
        (
            (port_no(), any::<[u8; 6]>(), port_name()),
            any::<[u32; 8]>(),
        )
            .prop_map(|((port_no, hw_addr, name), w)| Port {
                port_no,
                hw_addr,
                name,
                config: PortConfig::from_bits_retain(w[0]),
                state: PortState::from_bits_retain(w[1]),
                curr: PortFeatures::from_bits_retain(w[2]),
                advertised: PortFeatures::from_bits_retain(w[3]),
                supported: PortFeatures::from_bits_retain(w[4]),
                peer: PortFeatures::from_bits_retain(w[5]),
                curr_speed: w[6],
                max_speed: w[7],
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(bytes: &[u8]) -> Result<Port, DecodeError> {
        let mut r = Reader::new(bytes, "test");
        let p = Port::parse(&mut r)?;
        r.finish()?;
        Ok(p)
    }

    #[test]
    fn names() {
        let p = Port::new(PortNo(1), [0; 6], "s1-eth1");
        assert_eq!(parse(&p.to_vec()).unwrap().name.to_string(), "s1-eth1");
        // Cut to 15 bytes so that a NUL ends it (OF1.3.5 §7.2.1: null-terminated).
        let p = Port::new(PortNo(1), [0; 6], "much-longer-than-sixteen");
        assert_eq!(
            parse(&p.to_vec()).unwrap().name.to_string(),
            "much-longer-tha"
        );
        // Whatever bytes a switch sends survive, and display lossily.
        let mut bytes = Port::new(PortNo(1), [0; 6], "").to_vec();
        bytes[16..20].copy_from_slice(&[b'e', 0xff, 0, b'x']);
        let p = parse(&bytes).unwrap();
        assert_eq!(p.name.to_str_lossy(), "e\u{fffd}");
        assert_eq!(p.to_vec(), bytes);
    }

    #[test]
    fn truncated() {
        let bytes = Port::new(PortNo(1), [0; 6], "p").to_vec();
        assert!(matches!(
            parse(&bytes[..63]),
            Err(DecodeError::Truncated { ctx: "test", .. })
        ));
    }

    proptest! {
        #[test]
        fn round_trip(p in arb::port()) {
            let bytes = p.to_vec();
            prop_assert_eq!(bytes.len(), 64);
            prop_assert_eq!(parse(&bytes).unwrap(), p);
        }
    }
}
