//! The flow key: every OpenFlow-basic field the pipeline matches on, packed into 64-bit words.
//!
//! A flow entry's match is a pair of keys (mask, value), so matching a packet is a word-wise AND
//! and compare, and the classifier can hash just the words a mask touches. Every field lies in
//! one word (IPv6 addresses take two whole words), so reading or writing a field is one shift
//! and mask. A field the packet does not carry reads as zero; OXM prerequisites (checked when a
//! flow is added) make that exact, since no entry can test a field its packets cannot have.

use openflow::oxm::{MacAddr, OxmField};
use openflow::PortNo;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Number of 64-bit words in a key.
pub(crate) const KEY_WORDS: usize = 21;

/// Where a field lives in the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// `bits` wide at `shift` in word `word`.
    One { word: u8, shift: u8, bits: u8 },
    /// 128 bits over words `word` (high half) and `word + 1`.
    Two { word: u8 },
}

const fn one(word: u8, shift: u8, bits: u8) -> Option<Place> {
    Some(Place::One { word, shift, bits })
}

/// The place of a basic field; `None` for fields this pipeline does not match (like Open
/// vSwitch: IN_PHY_PORT, PBB_ISID, IPV6_EXTHDR and unnamed ones).
pub(crate) fn place(field: OxmField) -> Option<Place> {
    use OxmField as F;
    match field {
        F::InPort => one(0, 0, 32),
        F::Metadata => one(1, 0, 64),
        F::EthDst => one(2, 16, 48),
        F::EthType => one(2, 0, 16),
        F::EthSrc => one(3, 16, 48),
        F::VlanVid => one(3, 0, 16),
        F::Ipv4Src => one(4, 32, 32),
        F::Ipv4Dst => one(4, 0, 32),
        F::VlanPcp => one(5, 56, 8),
        F::IpDscp => one(5, 48, 8),
        F::IpEcn => one(5, 40, 8),
        F::IpProto => one(5, 32, 8),
        F::TcpSrc => one(5, 16, 16),
        F::TcpDst => one(5, 0, 16),
        F::UdpSrc => one(6, 48, 16),
        F::UdpDst => one(6, 32, 16),
        F::SctpSrc => one(6, 16, 16),
        F::SctpDst => one(6, 0, 16),
        F::Icmpv4Type => one(7, 56, 8),
        F::Icmpv4Code => one(7, 48, 8),
        F::ArpOp => one(7, 32, 16),
        F::Icmpv6Type => one(7, 24, 8),
        F::Icmpv6Code => one(7, 16, 8),
        F::MplsTc => one(7, 8, 8),
        F::MplsBos => one(7, 0, 8),
        F::ArpSpa => one(8, 32, 32),
        F::ArpTpa => one(8, 0, 32),
        F::ArpSha => one(9, 16, 48),
        F::ArpTha => one(10, 16, 48),
        F::Ipv6Src => Some(Place::Two { word: 11 }),
        F::Ipv6Dst => Some(Place::Two { word: 13 }),
        F::Ipv6NdTarget => Some(Place::Two { word: 15 }),
        F::Ipv6NdSll => one(17, 16, 48),
        F::Ipv6NdTll => one(18, 16, 48),
        F::Ipv6Flabel => one(19, 32, 32),
        F::MplsLabel => one(19, 0, 32),
        F::TunnelId => one(20, 0, 64),
        _ => None,
    }
}

/// The flow fields of one packet (and of the pipeline: in_port, metadata, tunnel_id).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    pub(crate) w: [u64; KEY_WORDS],
}

impl core::fmt::Debug for FlowKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "FlowKey(")?;
        for (i, w) in self.w.iter().enumerate() {
            if *w != 0 {
                write!(f, " w{i}={w:#x}")?;
            }
        }
        write!(f, " )")
    }
}

impl FlowKey {
    /// The key of `packet` arriving on `in_port` (metadata and tunnel id zero).
    pub fn from_packet(in_port: PortNo, packet: &[u8]) -> FlowKey {
        let mut key = FlowKey::default();
        key.set_in_port(in_port);
        super::parse::parse(packet, &mut key);
        key
    }

    pub(crate) fn set(&mut self, place: Place, value: u128) {
        match place {
            Place::One { word, shift, bits } => {
                let m = field_mask(bits) << shift;
                if let Some(w) = self.w.get_mut(usize::from(word)) {
                    *w = (*w & !m) | (((value as u64) << shift) & m);
                }
            }
            Place::Two { word } => {
                let i = usize::from(word);
                if let Some(w) = self.w.get_mut(i) {
                    *w = (value >> 64) as u64;
                }
                if let Some(w) = self.w.get_mut(i + 1) {
                    *w = value as u64;
                }
            }
        }
    }

    pub(crate) fn get(&self, place: Place) -> u128 {
        match place {
            Place::One { word, shift, bits } => {
                let w = self.w.get(usize::from(word)).copied().unwrap_or(0);
                u128::from((w >> shift) & field_mask(bits))
            }
            Place::Two { word } => {
                let i = usize::from(word);
                let hi = self.w.get(i).copied().unwrap_or(0);
                let lo = self.w.get(i + 1).copied().unwrap_or(0);
                (u128::from(hi) << 64) | u128::from(lo)
            }
        }
    }

    /// The value of a basic field (zero when the packet does not carry it); `None` for a
    /// field the pipeline does not know.
    pub fn field(&self, field: OxmField) -> Option<u128> {
        place(field).map(|p| self.get(p))
    }

    pub(crate) fn set_field(&mut self, field: OxmField, value: u128) {
        if let Some(p) = place(field) {
            self.set(p, value);
        }
    }

    /// `IN_PORT`.
    pub fn in_port(&self) -> PortNo {
        PortNo(self.w[0] as u32)
    }

    pub(crate) fn set_in_port(&mut self, p: PortNo) {
        self.set_field(OxmField::InPort, u128::from(p.0));
    }

    /// `METADATA`.
    pub fn metadata(&self) -> u64 {
        self.w[1]
    }

    pub(crate) fn set_metadata(&mut self, v: u64) {
        self.w[1] = v;
    }

    /// `TUNNEL_ID`.
    pub fn tunnel_id(&self) -> u64 {
        self.w[20]
    }

    pub(crate) fn set_tunnel_id(&mut self, v: u64) {
        self.w[20] = v;
    }

    /// `ETH_TYPE` (after any VLAN tags).
    pub fn eth_type(&self) -> u16 {
        self.w[2] as u16
    }

    /// `ETH_DST`.
    pub fn eth_dst(&self) -> MacAddr {
        mac_of(self.w[2] >> 16)
    }

    /// `ETH_SRC`.
    pub fn eth_src(&self) -> MacAddr {
        mac_of(self.w[3] >> 16)
    }

    /// `VLAN_VID` with `OFPVID_PRESENT` set when the packet has a tag, 0 when it has none.
    pub fn vlan_vid(&self) -> u16 {
        self.w[3] as u16
    }

    /// `IP_PROTO` (0 for packets that are not IP).
    pub fn ip_proto(&self) -> u8 {
        (self.w[5] >> 32) as u8
    }

    /// `IPV4_SRC`.
    pub fn ipv4_src(&self) -> Ipv4Addr {
        Ipv4Addr::from((self.w[4] >> 32) as u32)
    }

    /// `IPV4_DST`.
    pub fn ipv4_dst(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.w[4] as u32)
    }

    /// `IPV6_SRC`.
    pub fn ipv6_src(&self) -> Ipv6Addr {
        Ipv6Addr::from((u128::from(self.w[11]) << 64) | u128::from(self.w[12]))
    }

    /// `IPV6_DST`.
    pub fn ipv6_dst(&self) -> Ipv6Addr {
        Ipv6Addr::from((u128::from(self.w[13]) << 64) | u128::from(self.w[14]))
    }
}

pub(crate) fn field_mask(bits: u8) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

pub(crate) fn mac_of(v: u64) -> MacAddr {
    let b = v.to_be_bytes();
    MacAddr([b[2], b[3], b[4], b[5], b[6], b[7]])
}

pub(crate) fn mac_u64(m: MacAddr) -> u64 {
    let o = m.0;
    u64::from_be_bytes([0, 0, o[0], o[1], o[2], o[3], o[4], o[5]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_do_not_overlap() {
        let mut used = [0u64; KEY_WORDS];
        for code in 0u8..=39 {
            let Some(p) = place(OxmField::from(code)) else {
                continue;
            };
            match p {
                Place::One { word, shift, bits } => {
                    let m = field_mask(bits) << shift;
                    let w = &mut used[usize::from(word)];
                    assert_eq!(*w & m, 0, "field {code} overlaps");
                    *w |= m;
                }
                Place::Two { word } => {
                    for i in [usize::from(word), usize::from(word) + 1] {
                        assert_eq!(used[i], 0, "field {code} overlaps");
                        used[i] = u64::MAX;
                    }
                }
            }
        }
    }

    #[test]
    fn set_and_get_round_trip() {
        let mut k = FlowKey::default();
        k.set_field(OxmField::EthDst, 0x0102_0304_0506);
        k.set_field(OxmField::EthType, 0x0800);
        k.set_field(OxmField::Ipv6Src, 0x2001_0db8 << 96 | 7);
        assert_eq!(k.field(OxmField::EthDst), Some(0x0102_0304_0506));
        assert_eq!(k.eth_type(), 0x0800);
        assert_eq!(k.ipv6_src(), "2001:db8::7".parse::<Ipv6Addr>().unwrap());
        assert_eq!(k.eth_dst(), MacAddr([1, 2, 3, 4, 5, 6]));
    }
}
