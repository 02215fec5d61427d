//! Flow matches: an OXM `Match` checked by the OF1.3.5 §7.2.3 rules and compiled into a
//! (mask, value) pair of flow keys; the relations between matches the flow-mod commands need.
//!
//! Checks, in Open vSwitch's order and with its codes: a field this switch does not match is
//! `OFPBMC_BAD_FIELD`; a field given twice `OFPBMC_DUP_FIELD`; a value out of the field's range
//! `OFPBMC_BAD_VALUE`; a value with 1-bits where the mask has 0-bits `OFPBMC_BAD_WILDCARDS`
//! (OF1.3.5 §7.2.3.5); a field whose prerequisites (table 12) are not matched by an earlier
//! field `OFPBMC_BAD_PREREQ` (OF1.3.5 §7.2.3.6: prerequisites come first).

use crate::packet::parse::{
    ETH_TYPE_ARP, ETH_TYPE_IPV4, ETH_TYPE_IPV6, ETH_TYPE_MPLS, ETH_TYPE_MPLS_MC, PROTO_ICMP,
    PROTO_ICMPV6, PROTO_SCTP, PROTO_TCP, PROTO_UDP,
};
use crate::packet::{mac_u64, place, FlowKey};
use openflow::error_msg::BadMatchCode;
use openflow::oxm::{Match, Oxm, OxmField, OFPVID_PRESENT};

/// A match as the classifier uses it: a packet key `k` matches when `k & mask == value`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Compiled {
    pub mask: FlowKey,
    pub value: FlowKey,
}

impl Compiled {
    /// Whether the key matches.
    #[cfg(test)]
    pub fn matches(&self, k: &FlowKey) -> bool {
        k.w.iter()
            .zip(&self.mask.w)
            .zip(&self.value.w)
            .all(|((k, m), v)| k & m == *v)
    }

    /// Whether every packet `specific` matches is matched by `self` (non-strict flow-mod and
    /// flow-stats selection, OF1.3.5 §6.4).
    pub fn covers(&self, specific: &Compiled) -> bool {
        (0..self.mask.w.len()).all(|i| {
            let gm = self.mask.w[i];
            gm & !specific.mask.w[i] == 0 && specific.value.w[i] & gm == self.value.w[i]
        })
    }

    /// Whether some packet matches both (`OFPFF_CHECK_OVERLAP`).
    pub fn overlaps(&self, other: &Compiled) -> bool {
        (0..self.mask.w.len())
            .all(|i| (self.value.w[i] ^ other.value.w[i]) & self.mask.w[i] & other.mask.w[i] == 0)
    }

    /// Whether nothing is matched (a table-miss entry's match).
    pub fn is_catch_all(&self) -> bool {
        self.mask.w.iter().all(|w| *w == 0)
    }
}

/// What every packet reaching a point of a flow's instructions is known to be: from the match,
/// then updated by the actions applied so far. Set-field and TTL actions need it (Open vSwitch
/// answers `OFPBAC_MATCH_INCONSISTENT` when a field's prerequisites are not known).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Known {
    pub eth_type: Option<u16>,
    pub ip_proto: Option<u8>,
    pub vlan: bool,
    pub icmpv6_type: Option<u8>,
}

impl Known {
    pub fn is_ip(&self) -> bool {
        matches!(self.eth_type, Some(ETH_TYPE_IPV4) | Some(ETH_TYPE_IPV6))
    }

    pub fn is_mpls(&self) -> bool {
        matches!(self.eth_type, Some(ETH_TYPE_MPLS) | Some(ETH_TYPE_MPLS_MC))
    }
}

/// Width in bits of a field's value.
pub(crate) fn width(f: OxmField) -> u32 {
    use OxmField as F;
    match f {
        F::InPort => 32,
        F::Metadata | F::TunnelId => 64,
        F::EthDst | F::EthSrc | F::ArpSha | F::ArpTha | F::Ipv6NdSll | F::Ipv6NdTll => 48,
        F::EthType | F::TcpSrc | F::TcpDst | F::UdpSrc | F::UdpDst | F::SctpSrc | F::SctpDst => 16,
        F::ArpOp => 16,
        F::VlanVid => 13,
        F::VlanPcp | F::MplsTc => 3,
        F::IpDscp => 6,
        F::IpEcn => 2,
        F::MplsBos => 1,
        F::IpProto | F::Icmpv4Type | F::Icmpv4Code | F::Icmpv6Type | F::Icmpv6Code => 8,
        F::Ipv4Src | F::Ipv4Dst | F::ArpSpa | F::ArpTpa => 32,
        F::Ipv6Src | F::Ipv6Dst | F::Ipv6NdTarget => 128,
        F::Ipv6Flabel | F::MplsLabel => 20,
        _ => 0,
    }
}

pub(crate) fn ones(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// A basic OXM as (field, value, mask); `None` for experimenter and unknown OXMs.
pub(crate) fn parts(o: &Oxm) -> Option<(OxmField, u128, Option<u128>)> {
    use OxmField as F;
    let mac = |m: &openflow::oxm::MacAddr| u128::from(mac_u64(*m));
    let v4 = |a: &std::net::Ipv4Addr| u128::from(u32::from(*a));
    let v6 = |a: &std::net::Ipv6Addr| u128::from(*a);
    Some(match o {
        Oxm::InPort(p) => (F::InPort, p.0.into(), None),
        Oxm::InPhyPort(p) => (F::InPhyPort, p.0.into(), None),
        Oxm::Metadata { value, mask } => (F::Metadata, (*value).into(), mask.map(u128::from)),
        Oxm::EthDst { value, mask } => (F::EthDst, mac(value), mask.as_ref().map(mac)),
        Oxm::EthSrc { value, mask } => (F::EthSrc, mac(value), mask.as_ref().map(mac)),
        Oxm::EthType(t) => (F::EthType, (*t).into(), None),
        Oxm::VlanVid { value, mask } => (F::VlanVid, (*value).into(), mask.map(u128::from)),
        Oxm::VlanPcp(v) => (F::VlanPcp, (*v).into(), None),
        Oxm::IpDscp(v) => (F::IpDscp, (*v).into(), None),
        Oxm::IpEcn(v) => (F::IpEcn, (*v).into(), None),
        Oxm::IpProto(v) => (F::IpProto, (*v).into(), None),
        Oxm::Ipv4Src { value, mask } => (F::Ipv4Src, v4(value), mask.as_ref().map(v4)),
        Oxm::Ipv4Dst { value, mask } => (F::Ipv4Dst, v4(value), mask.as_ref().map(v4)),
        Oxm::TcpSrc(v) => (F::TcpSrc, (*v).into(), None),
        Oxm::TcpDst(v) => (F::TcpDst, (*v).into(), None),
        Oxm::UdpSrc(v) => (F::UdpSrc, (*v).into(), None),
        Oxm::UdpDst(v) => (F::UdpDst, (*v).into(), None),
        Oxm::SctpSrc(v) => (F::SctpSrc, (*v).into(), None),
        Oxm::SctpDst(v) => (F::SctpDst, (*v).into(), None),
        Oxm::Icmpv4Type(v) => (F::Icmpv4Type, (*v).into(), None),
        Oxm::Icmpv4Code(v) => (F::Icmpv4Code, (*v).into(), None),
        Oxm::ArpOp(v) => (F::ArpOp, (*v).into(), None),
        Oxm::ArpSpa { value, mask } => (F::ArpSpa, v4(value), mask.as_ref().map(v4)),
        Oxm::ArpTpa { value, mask } => (F::ArpTpa, v4(value), mask.as_ref().map(v4)),
        Oxm::ArpSha { value, mask } => (F::ArpSha, mac(value), mask.as_ref().map(mac)),
        Oxm::ArpTha { value, mask } => (F::ArpTha, mac(value), mask.as_ref().map(mac)),
        Oxm::Ipv6Src { value, mask } => (F::Ipv6Src, v6(value), mask.as_ref().map(v6)),
        Oxm::Ipv6Dst { value, mask } => (F::Ipv6Dst, v6(value), mask.as_ref().map(v6)),
        Oxm::Ipv6Flabel { value, mask } => (F::Ipv6Flabel, (*value).into(), mask.map(u128::from)),
        Oxm::Icmpv6Type(v) => (F::Icmpv6Type, (*v).into(), None),
        Oxm::Icmpv6Code(v) => (F::Icmpv6Code, (*v).into(), None),
        Oxm::Ipv6NdTarget(a) => (F::Ipv6NdTarget, v6(a), None),
        Oxm::Ipv6NdSll(m) => (F::Ipv6NdSll, mac(m), None),
        Oxm::Ipv6NdTll(m) => (F::Ipv6NdTll, mac(m), None),
        Oxm::MplsLabel(v) => (F::MplsLabel, (*v).into(), None),
        Oxm::MplsTc(v) => (F::MplsTc, (*v).into(), None),
        Oxm::MplsBos(v) => (F::MplsBos, (*v).into(), None),
        Oxm::PbbIsid { value, mask } => (F::PbbIsid, (*value).into(), mask.map(u128::from)),
        Oxm::TunnelId { value, mask } => (F::TunnelId, (*value).into(), mask.map(u128::from)),
        Oxm::Ipv6Exthdr { value, mask } => (F::Ipv6Exthdr, (*value).into(), mask.map(u128::from)),
        _ => return None,
    })
}

/// Whether what is known about a packet satisfies a field's prerequisites (OF1.3.5 table 12).
pub(crate) fn prereq_ok(f: OxmField, k: &Known) -> bool {
    use OxmField as F;
    let et = |t: u16| k.eth_type == Some(t);
    let proto = |p: u8| k.ip_proto == Some(p);
    match f {
        F::VlanPcp => k.vlan,
        F::IpDscp | F::IpEcn | F::IpProto => k.is_ip(),
        F::Ipv4Src | F::Ipv4Dst => et(ETH_TYPE_IPV4),
        F::TcpSrc | F::TcpDst => k.is_ip() && proto(PROTO_TCP),
        F::UdpSrc | F::UdpDst => k.is_ip() && proto(PROTO_UDP),
        F::SctpSrc | F::SctpDst => k.is_ip() && proto(PROTO_SCTP),
        F::Icmpv4Type | F::Icmpv4Code => et(ETH_TYPE_IPV4) && proto(PROTO_ICMP),
        F::ArpOp | F::ArpSpa | F::ArpTpa | F::ArpSha | F::ArpTha => et(ETH_TYPE_ARP),
        F::Ipv6Src | F::Ipv6Dst | F::Ipv6Flabel => et(ETH_TYPE_IPV6),
        F::Icmpv6Type | F::Icmpv6Code => et(ETH_TYPE_IPV6) && proto(PROTO_ICMPV6),
        F::Ipv6NdTarget => et(ETH_TYPE_IPV6) && matches!(k.icmpv6_type, Some(135) | Some(136)),
        F::Ipv6NdSll => et(ETH_TYPE_IPV6) && k.icmpv6_type == Some(135),
        F::Ipv6NdTll => et(ETH_TYPE_IPV6) && k.icmpv6_type == Some(136),
        F::MplsLabel | F::MplsTc | F::MplsBos => k.is_mpls(),
        _ => true,
    }
}

/// Whether a value is in its field's range (`OFPBMC_BAD_VALUE` otherwise).
pub(crate) fn value_ok(f: OxmField, v: u128) -> bool {
    match f {
        OxmField::VlanVid => v <= 0x1fff,
        _ => v <= ones(width(f)),
    }
}

/// Checks a match and compiles it; also returns what it tells about the packets it matches.
pub(crate) fn compile(m: &Match) -> Result<(Compiled, Known), BadMatchCode> {
    let mut c = Compiled::default();
    let mut known = Known::default();
    let mut seen: u64 = 0;
    for o in &m.fields {
        let Some((f, value, mask)) = parts(o) else {
            return Err(BadMatchCode::BadField);
        };
        let Some(pl) = place(f) else {
            return Err(BadMatchCode::BadField);
        };
        let bit = 1u64 << (f.value() & 63);
        if seen & bit != 0 {
            return Err(BadMatchCode::DupField);
        }
        seen |= bit;
        if !value_ok(f, value) {
            return Err(BadMatchCode::BadValue);
        }
        let full = if f == OxmField::VlanVid {
            0x1fff
        } else {
            ones(width(f))
        };
        let mask = mask.map_or(full, |m| m & full);
        if value & !mask != 0 {
            return Err(BadMatchCode::BadWildcards);
        }
        if !prereq_ok(f, &known) {
            return Err(BadMatchCode::BadPrereq);
        }
        c.mask.set(pl, mask);
        c.value.set(pl, value);
        let exact = mask == full;
        match f {
            OxmField::EthType if exact => known.eth_type = Some(value as u16),
            OxmField::IpProto if exact => known.ip_proto = Some(value as u8),
            OxmField::Icmpv6Type if exact => known.icmpv6_type = Some(value as u8),
            OxmField::VlanVid => {
                let present = u128::from(OFPVID_PRESENT);
                known.vlan = mask & present != 0 && value & present != 0;
            }
            _ => {}
        }
    }
    Ok((c, known))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip_dst(a: [u8; 4], mask: Option<[u8; 4]>) -> Match {
        Match::new().with(Oxm::EthType(0x0800)).with(Oxm::Ipv4Dst {
            value: Ipv4Addr::from(a),
            mask: mask.map(Ipv4Addr::from),
        })
    }

    #[test]
    fn covers_and_overlaps() {
        let (wide, _) = compile(&ip_dst([10, 0, 0, 0], Some([255, 0, 0, 0]))).unwrap();
        let (narrow, _) = compile(&ip_dst([10, 1, 2, 3], None)).unwrap();
        let (other, _) = compile(&ip_dst([11, 1, 2, 3], None)).unwrap();
        assert!(wide.covers(&narrow));
        assert!(!narrow.covers(&wide));
        assert!(wide.overlaps(&narrow));
        assert!(!wide.overlaps(&other));
        let (all, _) = compile(&Match::new()).unwrap();
        assert!(all.covers(&narrow) && all.is_catch_all());
    }

    #[test]
    fn errors_in_ovs_order() {
        let dup = Match::new()
            .with(Oxm::EthType(0x0800))
            .with(Oxm::EthType(0x0800));
        assert_eq!(compile(&dup).unwrap_err(), BadMatchCode::DupField);
        let wild = ip_dst([10, 0, 0, 1], Some([255, 255, 255, 0]));
        assert_eq!(compile(&wild).unwrap_err(), BadMatchCode::BadWildcards);
        let prereq = Match::new().with(Oxm::TcpDst(80));
        assert_eq!(compile(&prereq).unwrap_err(), BadMatchCode::BadPrereq);
        let late = Match::new()
            .with(Oxm::IpProto(6))
            .with(Oxm::EthType(0x0800));
        assert_eq!(compile(&late).unwrap_err(), BadMatchCode::BadPrereq);
        let pcp = Match::new().with(Oxm::VlanPcp(9));
        assert_eq!(compile(&pcp).unwrap_err(), BadMatchCode::BadValue);
        let phy = Match::new().with(Oxm::InPhyPort(openflow::PortNo(1)));
        assert_eq!(compile(&phy).unwrap_err(), BadMatchCode::BadField);
    }

    #[test]
    fn key_matches_compiled() {
        let (c, k) = compile(&ip_dst([10, 1, 2, 3], None)).unwrap();
        assert_eq!(k.eth_type, Some(0x0800));
        let pkt = crate::packet::build::udp4(
            Default::default(),
            Default::default(),
            Ipv4Addr::new(1, 1, 1, 1),
            Ipv4Addr::new(10, 1, 2, 3),
            1,
            2,
            b"x",
        );
        let key = FlowKey::from_packet(openflow::PortNo(1), &pkt);
        assert!(c.matches(&key));
    }
}
