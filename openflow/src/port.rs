//! A port's description — `ofp_port` (OF1.3.5 §7.2.1) — and its flag words.
//!
//! Guarantees: `Port` is exactly 64 bytes on the wire; flag words keep unknown bits
//! (`from_bits_retain`). The port name is a 16-byte NUL-padded field: it is decoded up to the
//! first NUL (or all 16 bytes if there is none), bytes that are not UTF-8 are replaced by
//! U+FFFD (port names are ASCII in practice, and a `String` is what callers want); on emit the
//! name is cut to at most 16 bytes at a character boundary and NUL-padded. So every name of at
//! most 16 bytes without NUL that is valid UTF-8 round-trips exactly; the spec asks senders for
//! at most 15 bytes so that a NUL terminates the name, which is what the generators produce.

use bitflags::bitflags;

use crate::error::DecodeError;
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
    /// `name` (see the module header for how non-UTF-8 and long names are kept).
    pub name: String,
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
    pub fn new(port_no: PortNo, hw_addr: [u8; 6], name: impl Into<String>) -> Port {
        Port {
            port_no,
            hw_addr,
            name: name.into(),
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

/// The name's bytes as written: at most 16, cut at a character boundary.
fn name_bytes(name: &str) -> &[u8] {
    let mut end = name.len().min(PORT_NAME_LEN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name.as_bytes().get(..end).unwrap_or_default()
}

/// Decodes a NUL-padded name field.
pub(crate) fn decode_name(field: &[u8]) -> String {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(field.get(..end).unwrap_or_default()).into_owned()
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
        let name = name_bytes(&self.name);
        w.bytes(name);
        w.zeros(PORT_NAME_LEN - name.len());
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
        let name = decode_name(r.bytes(PORT_NAME_LEN)?);
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

    /// Port names as switches make them: up to 15 printable ASCII characters.
    pub fn port_name() -> impl Strategy<Value = String> {
        "[ -~]{0,15}"
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
        let mut p = Port::new(PortNo(1), [0; 6], "exactly-16-bytes");
        assert_eq!(parse(&p.to_vec()).unwrap().name, "exactly-16-bytes");
        p.name = "much-longer-than-sixteen".into();
        assert_eq!(parse(&p.to_vec()).unwrap().name, "much-longer-than");
        // A multi-byte character straddling byte 16 is dropped whole.
        p.name = "abcdefghijklmno\u{e9}".into();
        assert_eq!(parse(&p.to_vec()).unwrap().name, "abcdefghijklmno");
        // Non-UTF-8 bytes become U+FFFD; bytes after the NUL are ignored.
        let mut bytes = Port::new(PortNo(1), [0; 6], "").to_vec();
        bytes[16..20].copy_from_slice(&[b'e', 0xff, 0, b'x']);
        assert_eq!(parse(&bytes).unwrap().name, "e\u{fffd}");
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
