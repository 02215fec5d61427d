//! The frames the controller builds and reads itself: LLDP for link discovery (IEEE 802.1AB)
//! and the source of ARP / IPv4 / IPv6 frames for host learning.
//!
//! Our LLDP frame: destination 01:80:c2:00:00:0e (nearest bridge), EtherType 0x88cc, TLVs
//! Chassis ID (subtype 7 "locally assigned", text `dpid:<16 hex digits>`), Port ID (subtype 2
//! "port component", the 32-bit OpenFlow port number), TTL, one organizationally specific TLV
//! (type 127, our OUI [`TSM_OUI`], subtype 1, the controller's 64-bit LLDP id), End.
//! A frame without that TLV, or with another controller's id, is *foreign*: it was not sent by
//! us and is ignored (a neighbour's LLDP must never become a link).
//!
//! Guarantees: parsing never panics and never reads past the frame; every way a frame can be
//! wrong is a [`FrameError`], so the caller can count it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use openflow::oxm::MacAddr;
use openflow::PortNo;

use crate::topology::Dpid;

/// EtherType of LLDP.
pub const ETH_TYPE_LLDP: u16 = 0x88cc;
/// LLDP's nearest-bridge group address.
pub const LLDP_DST: MacAddr = MacAddr([0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e]);
/// The OUI of our organizationally specific TLV (a locally administered CID-style value).
pub const TSM_OUI: [u8; 3] = [0x0a, 0x74, 0x73];
/// Subtype of our TLV: discovery probe.
pub const TSM_SUBTYPE_PROBE: u8 = 1;

const ETH_HDR: usize = 14;
const TLV_END: u8 = 0;
const TLV_CHASSIS: u8 = 1;
const TLV_PORT: u8 = 2;
const TLV_TTL: u8 = 3;
const TLV_ORG: u8 = 127;
const CHASSIS_LOCAL: u8 = 7;
const PORT_COMPONENT: u8 = 2;

/// Why a frame could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    #[error("frame of {len} bytes is shorter than its {what}")]
    Truncated { what: &'static str, len: usize },
    #[error("bad {what}")]
    Bad { what: &'static str },
    /// A well-formed LLDP frame that we did not send.
    #[error("LLDP frame from another sender")]
    Foreign,
}

/// What one of our probes says: it left switch `dpid` by `port`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    pub dpid: Dpid,
    pub port: PortNo,
}

fn tlv(out: &mut Vec<u8>, kind: u8, value: &[u8]) {
    let len = u16::try_from(value.len()).unwrap_or(0x1ff).min(0x1ff);
    let head = (u16::from(kind) << 9) | len;
    out.extend_from_slice(&head.to_be_bytes());
    out.extend_from_slice(value.get(..usize::from(len)).unwrap_or(value));
}

/// Our LLDP probe out of `port` of `dpid`, from `src` (the port's address), announcing a TTL
/// of `ttl_secs`, tagged with the controller's `lldp_id`.
pub fn lldp_probe(dpid: Dpid, port: PortNo, src: MacAddr, ttl_secs: u16, lldp_id: u64) -> Vec<u8> {
    let mut f = Vec::with_capacity(80);
    f.extend_from_slice(&LLDP_DST.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&ETH_TYPE_LLDP.to_be_bytes());
    let mut chassis = vec![CHASSIS_LOCAL];
    chassis.extend_from_slice(format!("dpid:{:016x}", dpid.0).as_bytes());
    tlv(&mut f, TLV_CHASSIS, &chassis);
    let mut p = vec![PORT_COMPONENT];
    p.extend_from_slice(&port.0.to_be_bytes());
    tlv(&mut f, TLV_PORT, &p);
    tlv(&mut f, TLV_TTL, &ttl_secs.to_be_bytes());
    let mut org = TSM_OUI.to_vec();
    org.push(TSM_SUBTYPE_PROBE);
    org.extend_from_slice(&lldp_id.to_be_bytes());
    tlv(&mut f, TLV_ORG, &org);
    tlv(&mut f, TLV_END, &[]);
    f
}

/// The EtherType of a frame (after at most one 802.1Q tag) and the offset of its payload.
fn eth_type(frame: &[u8]) -> Result<(u16, usize), FrameError> {
    let t = |at: usize| -> Result<u16, FrameError> {
        match frame.get(at..at + 2) {
            Some(b) => Ok(u16::from_be_bytes([b[0], b[1]])),
            None => Err(FrameError::Truncated {
                what: "Ethernet header",
                len: frame.len(),
            }),
        }
    };
    let first = t(12)?;
    if first == 0x8100 {
        Ok((t(16)?, ETH_HDR + 4))
    } else {
        Ok((first, ETH_HDR))
    }
}

/// Whether the frame is LLDP (so it must be ours or ignored, never learned from).
pub fn is_lldp(frame: &[u8]) -> bool {
    eth_type(frame).is_ok_and(|(t, _)| t == ETH_TYPE_LLDP)
}

/// Reads one of our probes. Malformed LLDP is an error; well-formed LLDP that is not ours (no
/// TLV of ours, or another `lldp_id`) is `FrameError::Foreign`.
pub fn parse_probe(frame: &[u8], lldp_id: u64) -> Result<Probe, FrameError> {
    let (kind, mut at) = eth_type(frame)?;
    if kind != ETH_TYPE_LLDP {
        return Err(FrameError::Bad { what: "EtherType" });
    }
    let mut chassis: Option<&[u8]> = None;
    let mut port: Option<&[u8]> = None;
    let mut ttl = false;
    let mut ours: Option<bool> = None;
    let mut index = 0;
    loop {
        let head = frame.get(at..at + 2).ok_or(FrameError::Truncated {
            what: "LLDP TLV header",
            len: frame.len(),
        })?;
        let h = u16::from_be_bytes([head[0], head[1]]);
        let kind = (h >> 9) as u8;
        let len = usize::from(h & 0x1ff);
        let value = frame
            .get(at + 2..at + 2 + len)
            .ok_or(FrameError::Truncated {
                what: "LLDP TLV",
                len: frame.len(),
            })?;
        at += 2 + len;
        // 802.1AB §8.2: Chassis ID, Port ID and TTL come first, in that order.
        let expected = match index {
            0 => Some(TLV_CHASSIS),
            1 => Some(TLV_PORT),
            2 => Some(TLV_TTL),
            _ => None,
        };
        if let Some(e) = expected {
            if kind != e {
                return Err(FrameError::Bad {
                    what: "LLDP mandatory TLV order",
                });
            }
        }
        index += 1;
        match kind {
            TLV_END => break,
            TLV_CHASSIS => {
                if value.len() < 2 {
                    return Err(FrameError::Bad { what: "chassis id" });
                }
                chassis = Some(value);
            }
            TLV_PORT => {
                if value.len() < 2 {
                    return Err(FrameError::Bad { what: "port id" });
                }
                port = Some(value);
            }
            TLV_TTL => {
                if value.len() != 2 {
                    return Err(FrameError::Bad { what: "LLDP TTL" });
                }
                ttl = true;
            }
            TLV_ORG if value.len() >= 4 && value[..3] == TSM_OUI => {
                if value[3] != TSM_SUBTYPE_PROBE || value.len() != 12 {
                    return Err(FrameError::Bad { what: "TSM TLV" });
                }
                let mut id = [0u8; 8];
                id.copy_from_slice(&value[4..12]);
                ours = Some(u64::from_be_bytes(id) == lldp_id);
            }
            _ => {}
        }
    }
    let (Some(chassis), Some(port), true) = (chassis, port, ttl) else {
        return Err(FrameError::Bad {
            what: "LLDP without its mandatory TLVs",
        });
    };
    if ours != Some(true) {
        return Err(FrameError::Foreign);
    }
    // Our own TLV is there: the rest must be exactly as we build it.
    let dpid = chassis
        .strip_prefix(&[CHASSIS_LOCAL])
        .and_then(|c| c.strip_prefix(b"dpid:"))
        .filter(|hex| hex.len() == 16)
        .and_then(|hex| std::str::from_utf8(hex).ok())
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .ok_or(FrameError::Bad { what: "chassis id" })?;
    let port = match port {
        [PORT_COMPONENT, a, b, c, d] => PortNo(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => return Err(FrameError::Bad { what: "port id" }),
    };
    Ok(Probe {
        dpid: Dpid(dpid),
        port,
    })
}

/// The sender of an ARP, IPv4 or IPv6 frame: its MAC and, when the frame names a usable
/// unicast one, its IP address. `Ok(None)` for other frames and for group source MACs.
pub fn source(frame: &[u8]) -> Result<Option<(MacAddr, Option<IpAddr>)>, FrameError> {
    let (kind, at) = eth_type(frame)?;
    let mut mac = [0u8; 6];
    mac.copy_from_slice(frame.get(6..12).unwrap_or(&[0; 6]));
    let mac = MacAddr(mac);
    if mac.is_multicast() || mac == MacAddr::ZERO {
        return Ok(None);
    }
    let body = frame.get(at..).unwrap_or_default();
    let ip = match kind {
        0x0806 => {
            // RFC 826 for Ethernet/IPv4: htype 1, ptype 0x0800, hlen 6, plen 4.
            if body.len() < 28 {
                return Err(FrameError::Truncated {
                    what: "ARP packet",
                    len: frame.len(),
                });
            }
            if body[..6] != [0, 1, 0x08, 0x00, 6, 4] {
                return Err(FrameError::Bad { what: "ARP header" });
            }
            let spa = Ipv4Addr::new(body[14], body[15], body[16], body[17]);
            usable4(spa)
        }
        0x0800 => {
            if body.len() < 20 {
                return Err(FrameError::Truncated {
                    what: "IPv4 header",
                    len: frame.len(),
                });
            }
            if body[0] >> 4 != 4 || body[0] & 0x0f < 5 {
                return Err(FrameError::Bad {
                    what: "IPv4 version or header length",
                });
            }
            usable4(Ipv4Addr::new(body[12], body[13], body[14], body[15]))
        }
        0x86dd => {
            if body.len() < 40 {
                return Err(FrameError::Truncated {
                    what: "IPv6 header",
                    len: frame.len(),
                });
            }
            if body[0] >> 4 != 6 {
                return Err(FrameError::Bad {
                    what: "IPv6 version",
                });
            }
            let mut a = [0u8; 16];
            a.copy_from_slice(&body[8..24]);
            let a = Ipv6Addr::from(a);
            (!a.is_unspecified() && !a.is_multicast() && !a.is_loopback()).then_some(IpAddr::V6(a))
        }
        _ => return Ok(None),
    };
    Ok(Some((mac, ip)))
}

fn usable4(a: Ipv4Addr) -> Option<IpAddr> {
    (!a.is_unspecified() && !a.is_broadcast() && !a.is_multicast() && !a.is_loopback())
        .then_some(IpAddr::V4(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: u64 = 0x1234_5678_9abc_def0;

    #[test]
    fn probe_round_trip() {
        let f = lldp_probe(Dpid(0xab), PortNo(7), MacAddr([2, 0, 0, 0, 0, 1]), 15, ID);
        assert!(is_lldp(&f));
        assert_eq!(
            parse_probe(&f, ID),
            Ok(Probe {
                dpid: Dpid(0xab),
                port: PortNo(7)
            })
        );
        assert_eq!(parse_probe(&f, ID + 1), Err(FrameError::Foreign));
        // Every truncation is an error, never a panic.
        for n in 0..f.len() {
            assert!(parse_probe(&f[..n], ID).is_err(), "cut at {n}");
        }
    }

    #[test]
    fn foreign_lldp_is_told_apart() {
        // Chassis (MAC subtype), port (name), TTL, end: a switch's own LLDP.
        let mut f = LLDP_DST.0.to_vec();
        f.extend_from_slice(&[2, 0, 0, 0, 0, 9]);
        f.extend_from_slice(&ETH_TYPE_LLDP.to_be_bytes());
        tlv(&mut f, TLV_CHASSIS, &[4, 2, 0, 0, 0, 0, 9]);
        tlv(&mut f, TLV_PORT, b"\x05eth0");
        tlv(&mut f, TLV_TTL, &[0, 120]);
        tlv(&mut f, TLV_END, &[]);
        assert_eq!(parse_probe(&f, ID), Err(FrameError::Foreign));
        // Mandatory TLVs out of order: malformed.
        let mut g = LLDP_DST.0.to_vec();
        g.extend_from_slice(&[2, 0, 0, 0, 0, 9]);
        g.extend_from_slice(&ETH_TYPE_LLDP.to_be_bytes());
        tlv(&mut g, TLV_TTL, &[0, 120]);
        tlv(&mut g, TLV_END, &[]);
        assert!(matches!(parse_probe(&g, ID), Err(FrameError::Bad { .. })));
    }

    #[test]
    fn sources() {
        let mac = MacAddr([2, 0, 0, 0, 0, 5]);
        let arp = switch_sim::packet::build::arp_request(
            mac,
            Ipv4Addr::new(10, 0, 0, 5),
            Ipv4Addr::new(10, 0, 0, 1),
        );
        assert_eq!(
            source(&arp),
            Ok(Some((mac, Some("10.0.0.5".parse().unwrap()))))
        );
        let udp = switch_sim::packet::build::udp4(
            mac,
            MacAddr([1, 0, 0x5e, 1, 1, 1]),
            Ipv4Addr::new(10, 0, 0, 5),
            Ipv4Addr::new(239, 1, 1, 1),
            1,
            2,
            b"x",
        );
        assert_eq!(
            source(&udp),
            Ok(Some((mac, Some("10.0.0.5".parse().unwrap()))))
        );
        let v6: Ipv6Addr = "fd00::5".parse().unwrap();
        let ns = switch_sim::packet::build::ndp_solicit(mac, v6, "fd00::1".parse().unwrap());
        assert_eq!(source(&ns), Ok(Some((mac, Some(IpAddr::V6(v6))))));
        assert!(source(&arp[..20]).is_err());
        assert!(source(&udp[..30]).is_err());
        assert!(source(&[0; 5]).is_err());
        // A group source MAC is nobody.
        let mut bad = arp.clone();
        bad[6] = 1;
        assert_eq!(source(&bad), Ok(None));
    }
}
