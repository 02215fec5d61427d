//! Packet parsing: Ethernet, up to two VLAN tags, MPLS (outer label), ARP, IPv4, IPv6 (with its
//! extension headers skipped), TCP, UDP, SCTP, ICMPv4, ICMPv6 and neighbour discovery.
//!
//! Guarantees: never panics, whatever the bytes; a header cut short leaves its fields (and
//! those of the layers inside it) at zero, as Open vSwitch's flow extraction does; an IPv4
//! fragment other than the first has no transport fields.

use super::key::FlowKey;
use openflow::oxm::{OxmField as F, OFPVID_PRESENT};

pub(crate) const ETH_TYPE_IPV4: u16 = 0x0800;
pub(crate) const ETH_TYPE_ARP: u16 = 0x0806;
pub(crate) const ETH_TYPE_VLAN: u16 = 0x8100;
pub(crate) const ETH_TYPE_QINQ: u16 = 0x88a8;
pub(crate) const ETH_TYPE_IPV6: u16 = 0x86dd;
pub(crate) const ETH_TYPE_MPLS: u16 = 0x8847;
pub(crate) const ETH_TYPE_MPLS_MC: u16 = 0x8848;

pub(crate) const PROTO_ICMP: u8 = 1;
pub(crate) const PROTO_TCP: u8 = 6;
pub(crate) const PROTO_UDP: u8 = 17;
pub(crate) const PROTO_ICMPV6: u8 = 58;
pub(crate) const PROTO_SCTP: u8 = 132;

/// Network layer of a parsed packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum L3 {
    #[default]
    None,
    Ipv4 {
        header_len: usize,
    },
    Ipv6,
    Arp,
    Mpls,
}

/// Transport layer of a parsed packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum L4 {
    #[default]
    None,
    Tcp,
    Udp,
    Sctp,
    Icmp4,
    Icmp6,
}

/// Where the headers are, for rewriting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Number of VLAN tags found (0..=2).
    pub vlans: usize,
    /// Offset of the EtherType that names the network layer (after the tags).
    pub eth_type_at: usize,
    /// Offset of the network header.
    pub l3_at: usize,
    pub l3: L3,
    /// Offset of the transport header (when `l4` is not `None`).
    pub l4_at: usize,
    pub l4: L4,
    /// Offset of the ND source/target link-layer address option's address.
    pub nd_ll_at: Option<usize>,
}

pub(crate) fn be16(d: &[u8], at: usize) -> Option<u16> {
    let b = d.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

pub(crate) fn be32(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

pub(crate) fn be48(d: &[u8], at: usize) -> Option<u64> {
    let b = d.get(at..at + 6)?;
    Some(u64::from_be_bytes([
        0, 0, b[0], b[1], b[2], b[3], b[4], b[5],
    ]))
}

pub(crate) fn be128(d: &[u8], at: usize) -> Option<u128> {
    let b: [u8; 16] = d.get(at..at + 16)?.try_into().ok()?;
    Some(u128::from_be_bytes(b))
}

/// Fills the packet fields of `key` (pipeline fields are left as they are; packet fields
/// must be zero on entry) and returns where the headers are.
pub(crate) fn parse(d: &[u8], key: &mut FlowKey) -> Layout {
    let mut lay = Layout::default();
    let (Some(dst), Some(src)) = (be48(d, 0), be48(d, 6)) else {
        return lay;
    };
    key.set_field(F::EthDst, dst.into());
    key.set_field(F::EthSrc, src.into());
    let mut at = 12;
    let Some(mut et) = be16(d, at) else {
        return lay;
    };
    // OF1.3.5 §7.2.3.8: VLAN_VID and VLAN_PCP describe the outermost tag.
    while (et == ETH_TYPE_VLAN || et == ETH_TYPE_QINQ) && lay.vlans < 2 {
        let (Some(tci), Some(inner)) = (be16(d, at + 2), be16(d, at + 4)) else {
            return lay;
        };
        if lay.vlans == 0 {
            key.set_field(F::VlanVid, u128::from(OFPVID_PRESENT | (tci & 0x0fff)));
            key.set_field(F::VlanPcp, u128::from(tci >> 13));
        }
        lay.vlans += 1;
        at += 4;
        et = inner;
    }
    lay.eth_type_at = at;
    lay.l3_at = at + 2;
    key.set_field(F::EthType, et.into());
    let l3 = lay.l3_at;
    match et {
        ETH_TYPE_IPV4 => parse_ipv4(d, l3, key, &mut lay),
        ETH_TYPE_IPV6 => parse_ipv6(d, l3, key, &mut lay),
        ETH_TYPE_ARP => parse_arp(d, l3, key, &mut lay),
        ETH_TYPE_MPLS | ETH_TYPE_MPLS_MC => {
            if let Some(lse) = be32(d, l3) {
                lay.l3 = L3::Mpls;
                key.set_field(F::MplsLabel, (lse >> 12).into());
                key.set_field(F::MplsTc, ((lse >> 9) & 7).into());
                key.set_field(F::MplsBos, ((lse >> 8) & 1).into());
            }
        }
        _ => {}
    }
    lay
}

fn parse_ipv4(d: &[u8], l3: usize, key: &mut FlowKey, lay: &mut Layout) {
    let Some(vihl) = d.get(l3).copied() else {
        return;
    };
    let header_len = usize::from(vihl & 0x0f) * 4;
    if vihl >> 4 != 4 || header_len < 20 || d.len() < l3 + header_len {
        return;
    }
    let (Some(tos), Some(frag), Some(proto), Some(src), Some(dst)) = (
        d.get(l3 + 1).copied(),
        be16(d, l3 + 6),
        d.get(l3 + 9).copied(),
        be32(d, l3 + 12),
        be32(d, l3 + 16),
    ) else {
        return;
    };
    lay.l3 = L3::Ipv4 { header_len };
    key.set_field(F::IpDscp, (tos >> 2).into());
    key.set_field(F::IpEcn, (tos & 3).into());
    key.set_field(F::IpProto, proto.into());
    key.set_field(F::Ipv4Src, src.into());
    key.set_field(F::Ipv4Dst, dst.into());
    // A later fragment carries no transport header.
    if frag & 0x1fff != 0 {
        return;
    }
    parse_l4(d, l3 + header_len, proto, false, key, lay);
}

fn parse_ipv6(d: &[u8], l3: usize, key: &mut FlowKey, lay: &mut Layout) {
    let (Some(vtf), Some(next), Some(src), Some(dst)) = (
        be32(d, l3),
        d.get(l3 + 6).copied(),
        be128(d, l3 + 8),
        be128(d, l3 + 24),
    ) else {
        return;
    };
    if vtf >> 28 != 6 {
        return;
    }
    lay.l3 = L3::Ipv6;
    let tc = ((vtf >> 20) & 0xff) as u8;
    key.set_field(F::IpDscp, (tc >> 2).into());
    key.set_field(F::IpEcn, (tc & 3).into());
    key.set_field(F::Ipv6Flabel, (vtf & 0x000f_ffff).into());
    key.set_field(F::Ipv6Src, src);
    key.set_field(F::Ipv6Dst, dst);
    // Skip extension headers (RFC 8200 §4): hop-by-hop, routing, destination options,
    // fragment; IP_PROTO is the first upper-layer protocol, as in Open vSwitch.
    let mut proto = next;
    let mut at = l3 + 40;
    for _ in 0..8 {
        match proto {
            0 | 43 | 60 => {
                let (Some(n), Some(len)) = (d.get(at).copied(), d.get(at + 1).copied()) else {
                    return;
                };
                proto = n;
                at += (usize::from(len) + 1) * 8;
            }
            44 => {
                let (Some(n), Some(off)) = (d.get(at).copied(), be16(d, at + 2)) else {
                    return;
                };
                proto = n;
                at += 8;
                if off & 0xfff8 != 0 {
                    key.set_field(F::IpProto, proto.into());
                    return;
                }
            }
            _ => break,
        }
    }
    key.set_field(F::IpProto, proto.into());
    parse_l4(d, at, proto, true, key, lay);
}

fn parse_l4(d: &[u8], at: usize, proto: u8, v6: bool, key: &mut FlowKey, lay: &mut Layout) {
    match proto {
        PROTO_TCP | PROTO_UDP | PROTO_SCTP => {
            let need = match proto {
                PROTO_TCP => 20,
                PROTO_UDP => 8,
                _ => 12,
            };
            let (Some(sp), Some(dp)) = (be16(d, at), be16(d, at + 2)) else {
                return;
            };
            if d.len() < at + need {
                return;
            }
            let (s, t, kind) = match proto {
                PROTO_TCP => (F::TcpSrc, F::TcpDst, L4::Tcp),
                PROTO_UDP => (F::UdpSrc, F::UdpDst, L4::Udp),
                _ => (F::SctpSrc, F::SctpDst, L4::Sctp),
            };
            key.set_field(s, sp.into());
            key.set_field(t, dp.into());
            lay.l4 = kind;
            lay.l4_at = at;
        }
        PROTO_ICMP if !v6 => {
            let (Some(t), Some(c)) = (d.get(at).copied(), d.get(at + 1).copied()) else {
                return;
            };
            if d.len() < at + 4 {
                return;
            }
            key.set_field(F::Icmpv4Type, t.into());
            key.set_field(F::Icmpv4Code, c.into());
            lay.l4 = L4::Icmp4;
            lay.l4_at = at;
        }
        PROTO_ICMPV6 if v6 => {
            let (Some(t), Some(c)) = (d.get(at).copied(), d.get(at + 1).copied()) else {
                return;
            };
            if d.len() < at + 4 {
                return;
            }
            key.set_field(F::Icmpv6Type, t.into());
            key.set_field(F::Icmpv6Code, c.into());
            lay.l4 = L4::Icmp6;
            lay.l4_at = at;
            // RFC 4861 §4.3/4.4: neighbour solicitation (135) and advertisement (136).
            if t == 135 || t == 136 {
                if let Some(target) = be128(d, at + 8) {
                    key.set_field(F::Ipv6NdTarget, target);
                }
                let want = if t == 135 { 1 } else { 2 };
                let mut opt = at + 24;
                while let (Some(ty), Some(len)) = (d.get(opt).copied(), d.get(opt + 1).copied()) {
                    if len == 0 {
                        break;
                    }
                    if ty == want {
                        if let Some(ll) = be48(d, opt + 2) {
                            let f = if t == 135 { F::Ipv6NdSll } else { F::Ipv6NdTll };
                            key.set_field(f, ll.into());
                            lay.nd_ll_at = Some(opt + 2);
                        }
                        break;
                    }
                    opt += usize::from(len) * 8;
                }
            }
        }
        _ => {}
    }
}

fn parse_arp(d: &[u8], l3: usize, key: &mut FlowKey, lay: &mut Layout) {
    // Ethernet/IPv4 ARP only (RFC 826 with htype 1, ptype 0x0800, hlen 6, plen 4).
    let (Some(htype), Some(ptype), Some(hlen), Some(plen), Some(op)) = (
        be16(d, l3),
        be16(d, l3 + 2),
        d.get(l3 + 4).copied(),
        d.get(l3 + 5).copied(),
        be16(d, l3 + 6),
    ) else {
        return;
    };
    if htype != 1 || ptype != ETH_TYPE_IPV4 || hlen != 6 || plen != 4 {
        return;
    }
    let (Some(sha), Some(spa), Some(tha), Some(tpa)) = (
        be48(d, l3 + 8),
        be32(d, l3 + 14),
        be48(d, l3 + 18),
        be32(d, l3 + 24),
    ) else {
        return;
    };
    lay.l3 = L3::Arp;
    // OpenFlow matches the low 8 bits of the ARP opcode only in OF1.0; OF1.3 has 16 bits.
    key.set_field(F::ArpOp, op.into());
    key.set_field(F::ArpSha, sha.into());
    key.set_field(F::ArpSpa, spa.into());
    key.set_field(F::ArpTha, tha.into());
    key.set_field(F::ArpTpa, tpa.into());
}
