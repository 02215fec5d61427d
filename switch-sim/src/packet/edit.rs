//! Packet rewriting: set-field, VLAN and MPLS push/pop, TTL actions (OF1.3.5 §7.2.5), with the
//! IPv4 header, TCP, UDP and ICMP checksums updated incrementally (RFC 1624) and the SCTP
//! CRC32c recomputed.
//!
//! Guarantees: never panics; an edit that does not apply to the packet (a VLAN field on an
//! untagged packet, a port on a packet without that transport header, a header cut short) leaves
//! the bytes unchanged. Callers re-parse the packet after an edit.

use super::parse::{be16, be32, Layout, ETH_TYPE_MPLS, ETH_TYPE_MPLS_MC, L3, L4};
use openflow::oxm::Oxm;

/// The outcome of a TTL decrement (OF1.3.5 §5.12: a packet whose TTL would reach zero is not
/// forwarded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ttl {
    Ok,
    Invalid,
}

fn put(d: &mut [u8], at: usize, bytes: &[u8]) -> bool {
    match d.get_mut(at..at + bytes.len()) {
        Some(s) => {
            s.copy_from_slice(bytes);
            true
        }
        None => false,
    }
}

fn sum_words(bytes: &[u8]) -> u32 {
    bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum()
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), over the 16-bit words of `old` and `new`.
fn adjust(d: &mut [u8], csum_at: usize, old: &[u8], new: &[u8], zero_means_none: bool) {
    let Some(hc) = be16(d, csum_at) else {
        return;
    };
    if zero_means_none && hc == 0 {
        // RFC 768: a UDP/IPv4 checksum of zero means none was computed.
        return;
    }
    let not_old: u32 = old
        .chunks(2)
        .map(|c| u32::from(!u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    let s = u32::from(!hc) + not_old + sum_words(new);
    let mut out = !fold(s);
    if zero_means_none && out == 0 {
        out = 0xffff;
    }
    put(d, csum_at, &out.to_be_bytes());
}

/// Offset of the transport checksum, and whether zero means "no checksum" (UDP over IPv4).
fn l4_csum(lay: &Layout) -> Option<(usize, bool)> {
    let v4 = matches!(lay.l3, L3::Ipv4 { .. });
    match lay.l4 {
        L4::Tcp => Some((lay.l4_at + 16, false)),
        L4::Udp => Some((lay.l4_at + 6, v4)),
        L4::Icmp4 | L4::Icmp6 => Some((lay.l4_at + 2, false)),
        L4::Sctp | L4::None => None,
    }
}

/// Replaces `new.len()` bytes at `at` (an even offset within every checksummed region it
/// belongs to) and fixes the checksums that cover them: the IPv4 header's when `ip_header`,
/// the transport one when `l4`, or the transport one through the pseudo-header when `pseudo`.
fn rewrite(d: &mut [u8], lay: &Layout, at: usize, new: &[u8], ip_header: bool, l4: bool) {
    let Some(old) = d.get(at..at + new.len()).map(<[u8]>::to_vec) else {
        return;
    };
    if old == new {
        return;
    }
    put(d, at, new);
    if ip_header {
        if let L3::Ipv4 { .. } = lay.l3 {
            adjust(d, lay.l3_at + 10, &old, new, false);
        }
    }
    if l4 {
        if let Some((c, z)) = l4_csum(lay) {
            adjust(d, c, &old, new, z);
        }
        if lay.l4 == L4::Sctp {
            fix_sctp(d, lay);
        }
    }
}

/// Like `rewrite` for one byte, through its aligned 16-bit word.
fn rewrite_byte(d: &mut [u8], lay: &Layout, base: usize, at: usize, v: u8, ip: bool, l4: bool) {
    let word = at - ((at - base) % 2);
    let Some(mut w) = d.get(word..word + 2).map(|s| [s[0], s[1]]) else {
        return;
    };
    w[at - word] = v;
    rewrite(d, lay, word, &w, ip, l4);
}

/// End of the network payload (IPv4 total length or IPv6 payload length; Ethernet padding
/// excluded).
fn ip_end(d: &[u8], lay: &Layout) -> usize {
    let end = match lay.l3 {
        L3::Ipv4 { .. } => be16(d, lay.l3_at + 2).map(|l| lay.l3_at + usize::from(l)),
        L3::Ipv6 => be16(d, lay.l3_at + 4).map(|l| lay.l3_at + 40 + usize::from(l)),
        _ => None,
    };
    end.unwrap_or(d.len()).min(d.len())
}

/// RFC 4960 appendix B: CRC32c over the SCTP packet with the checksum field zeroed.
fn fix_sctp(d: &mut [u8], lay: &Layout) {
    let at = lay.l4_at;
    let end = ip_end(d, lay);
    if end < at + 12 {
        return;
    }
    put(d, at + 8, &[0; 4]);
    let crc = d.get(at..end).map(crc32c).unwrap_or(0);
    put(d, at + 8, &crc.to_le_bytes());
}

pub(crate) fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            let m = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0x82f6_3b78 & m);
        }
    }
    !crc
}

/// `OFPAT_SET_FIELD` for a packet field (pipeline fields are the caller's).
pub(crate) fn set_field(d: &mut [u8], lay: &Layout, oxm: &Oxm) {
    let l3 = lay.l3_at;
    let l4 = lay.l4_at;
    let ip4 = matches!(lay.l3, L3::Ipv4 { .. });
    let ip6 = lay.l3 == L3::Ipv6;
    match oxm {
        Oxm::EthDst { value, .. } => {
            put(d, 0, &value.0);
        }
        Oxm::EthSrc { value, .. } => {
            put(d, 6, &value.0);
        }
        Oxm::VlanVid { value, .. } if lay.vlans > 0 => {
            if let Some(tci) = be16(d, 14) {
                put(d, 14, &((tci & 0xf000) | (value & 0x0fff)).to_be_bytes());
            }
        }
        Oxm::VlanPcp(p) if lay.vlans > 0 => {
            if let Some(tci) = be16(d, 14) {
                let v = (tci & 0x1fff) | (u16::from(*p & 7) << 13);
                put(d, 14, &v.to_be_bytes());
            }
        }
        Oxm::IpDscp(_) | Oxm::IpEcn(_) if ip4 => {
            if let Some(tos) = d.get(l3 + 1).copied() {
                let tos = match oxm {
                    Oxm::IpDscp(v) => (tos & 0x03) | (v << 2),
                    Oxm::IpEcn(v) => (tos & 0xfc) | (v & 3),
                    _ => tos,
                };
                rewrite_byte(d, lay, l3, l3 + 1, tos, true, false);
            }
        }
        Oxm::IpDscp(_) | Oxm::IpEcn(_) if ip6 => {
            if let Some(w) = be32(d, l3) {
                let tc = ((w >> 20) & 0xff) as u8;
                let tc = match oxm {
                    Oxm::IpDscp(v) => (tc & 0x03) | (v << 2),
                    Oxm::IpEcn(v) => (tc & 0xfc) | (v & 3),
                    _ => tc,
                };
                let w = (w & 0xf00f_ffff) | (u32::from(tc) << 20);
                put(d, l3, &w.to_be_bytes());
            }
        }
        Oxm::Ipv6Flabel { value, .. } if ip6 => {
            if let Some(w) = be32(d, l3) {
                put(
                    d,
                    l3,
                    &((w & 0xfff0_0000) | (value & 0x000f_ffff)).to_be_bytes(),
                );
            }
        }
        Oxm::Ipv4Src { value, .. } if ip4 => rewrite(d, lay, l3 + 12, &value.octets(), true, true),
        Oxm::Ipv4Dst { value, .. } if ip4 => rewrite(d, lay, l3 + 16, &value.octets(), true, true),
        Oxm::Ipv6Src { value, .. } if ip6 => rewrite(d, lay, l3 + 8, &value.octets(), false, true),
        Oxm::Ipv6Dst { value, .. } if ip6 => rewrite(d, lay, l3 + 24, &value.octets(), false, true),
        Oxm::TcpSrc(p) if lay.l4 == L4::Tcp => rewrite(d, lay, l4, &p.to_be_bytes(), false, true),
        Oxm::TcpDst(p) if lay.l4 == L4::Tcp => {
            rewrite(d, lay, l4 + 2, &p.to_be_bytes(), false, true)
        }
        Oxm::UdpSrc(p) if lay.l4 == L4::Udp => rewrite(d, lay, l4, &p.to_be_bytes(), false, true),
        Oxm::UdpDst(p) if lay.l4 == L4::Udp => {
            rewrite(d, lay, l4 + 2, &p.to_be_bytes(), false, true)
        }
        Oxm::SctpSrc(p) if lay.l4 == L4::Sctp => rewrite(d, lay, l4, &p.to_be_bytes(), false, true),
        Oxm::SctpDst(p) if lay.l4 == L4::Sctp => {
            rewrite(d, lay, l4 + 2, &p.to_be_bytes(), false, true)
        }
        Oxm::Icmpv4Type(v) if lay.l4 == L4::Icmp4 => rewrite_byte(d, lay, l4, l4, *v, false, true),
        Oxm::Icmpv4Code(v) if lay.l4 == L4::Icmp4 => {
            rewrite_byte(d, lay, l4, l4 + 1, *v, false, true)
        }
        Oxm::Icmpv6Type(v) if lay.l4 == L4::Icmp6 => rewrite_byte(d, lay, l4, l4, *v, false, true),
        Oxm::Icmpv6Code(v) if lay.l4 == L4::Icmp6 => {
            rewrite_byte(d, lay, l4, l4 + 1, *v, false, true)
        }
        Oxm::Ipv6NdTarget(t) if lay.l4 == L4::Icmp6 => {
            rewrite(d, lay, l4 + 8, &t.octets(), false, true)
        }
        Oxm::Ipv6NdSll(m) | Oxm::Ipv6NdTll(m) => {
            if let Some(at) = lay.nd_ll_at {
                // The option starts on an 8-byte boundary, so its address is word-aligned.
                rewrite(d, lay, at, &m.0, false, true);
            }
        }
        Oxm::ArpOp(op) if lay.l3 == L3::Arp => {
            put(d, l3 + 6, &op.to_be_bytes());
        }
        Oxm::ArpSha { value, .. } if lay.l3 == L3::Arp => {
            put(d, l3 + 8, &value.0);
        }
        Oxm::ArpSpa { value, .. } if lay.l3 == L3::Arp => {
            put(d, l3 + 14, &value.octets());
        }
        Oxm::ArpTha { value, .. } if lay.l3 == L3::Arp => {
            put(d, l3 + 18, &value.0);
        }
        Oxm::ArpTpa { value, .. } if lay.l3 == L3::Arp => {
            put(d, l3 + 24, &value.octets());
        }
        Oxm::MplsLabel(_) | Oxm::MplsTc(_) | Oxm::MplsBos(_) if lay.l3 == L3::Mpls => {
            if let Some(lse) = be32(d, l3) {
                let lse = match oxm {
                    Oxm::MplsLabel(v) => (lse & 0xfff) | ((v & 0x000f_ffff) << 12),
                    Oxm::MplsTc(v) => (lse & !0xe00) | (u32::from(v & 7) << 9),
                    Oxm::MplsBos(v) => (lse & !0x100) | (u32::from(v & 1) << 8),
                    _ => lse,
                };
                put(d, l3, &lse.to_be_bytes());
            }
        }
        _ => {}
    }
}

/// `OFPAT_PUSH_VLAN`: a new outer tag after the source address; its VID and PCP are copied
/// from the tag it covers, or zero (OF1.3.5 §7.2.5).
pub(crate) fn push_vlan(d: &mut Vec<u8>, lay: &Layout, tpid: u16) {
    if d.len() < 14 {
        return;
    }
    let tci = if lay.vlans > 0 {
        be16(d, 14).unwrap_or(0) & 0xefff
    } else {
        0
    };
    let mut tag = [0u8; 4];
    tag[..2].copy_from_slice(&tpid.to_be_bytes());
    tag[2..].copy_from_slice(&tci.to_be_bytes());
    d.splice(12..12, tag);
}

/// `OFPAT_POP_VLAN`: removes the outer tag.
pub(crate) fn pop_vlan(d: &mut Vec<u8>, lay: &Layout) {
    if lay.vlans > 0 && d.len() >= 18 {
        d.drain(12..16);
    }
}

fn ip_ttl(d: &[u8], lay: &Layout) -> Option<u8> {
    match lay.l3 {
        L3::Ipv4 { .. } => d.get(lay.l3_at + 8).copied(),
        L3::Ipv6 => d.get(lay.l3_at + 7).copied(),
        _ => None,
    }
}

/// `OFPAT_PUSH_MPLS`: a new outer label stack entry after the Ethernet header and tags.
pub(crate) fn push_mpls(d: &mut Vec<u8>, lay: &Layout, eth_type: u16) {
    let at = lay.l3_at;
    if d.len() < at || !put(d, lay.eth_type_at, &eth_type.to_be_bytes()) {
        return;
    }
    let lse = if lay.l3 == L3::Mpls {
        // Copy label, TC and TTL of the entry below; bottom-of-stack is 0 above another label.
        be32(d, at).unwrap_or(0) & !0x100
    } else {
        let ttl = ip_ttl(d, lay).unwrap_or(64);
        0x100 | u32::from(ttl)
    };
    d.splice(at..at, lse.to_be_bytes());
}

/// `OFPAT_POP_MPLS`: removes the outer label stack entry; `eth_type` names what follows.
pub(crate) fn pop_mpls(d: &mut Vec<u8>, lay: &Layout, eth_type: u16) {
    if lay.l3 != L3::Mpls || d.len() < lay.l3_at + 4 {
        return;
    }
    put(d, lay.eth_type_at, &eth_type.to_be_bytes());
    d.drain(lay.l3_at..lay.l3_at + 4);
}

fn set_ip_ttl(d: &mut [u8], lay: &Layout, ttl: u8) {
    match lay.l3 {
        L3::Ipv4 { .. } => rewrite_byte(d, lay, lay.l3_at, lay.l3_at + 8, ttl, true, false),
        L3::Ipv6 => {
            put(d, lay.l3_at + 7, &[ttl]);
        }
        _ => {}
    }
}

/// `OFPAT_DEC_NW_TTL`.
pub(crate) fn dec_nw_ttl(d: &mut [u8], lay: &Layout) -> Ttl {
    match ip_ttl(d, lay) {
        Some(t) if t > 1 => {
            set_ip_ttl(d, lay, t - 1);
            Ttl::Ok
        }
        Some(_) => Ttl::Invalid,
        None => Ttl::Ok,
    }
}

/// `OFPAT_SET_NW_TTL`.
pub(crate) fn set_nw_ttl(d: &mut [u8], lay: &Layout, ttl: u8) {
    set_ip_ttl(d, lay, ttl);
}

/// `OFPAT_DEC_MPLS_TTL`.
pub(crate) fn dec_mpls_ttl(d: &mut [u8], lay: &Layout) -> Ttl {
    if lay.l3 != L3::Mpls {
        return Ttl::Ok;
    }
    match d.get(lay.l3_at + 3).copied() {
        Some(t) if t > 1 => {
            put(d, lay.l3_at + 3, &[t - 1]);
            Ttl::Ok
        }
        Some(_) => Ttl::Invalid,
        None => Ttl::Ok,
    }
}

/// `OFPAT_SET_MPLS_TTL`.
pub(crate) fn set_mpls_ttl(d: &mut [u8], lay: &Layout, ttl: u8) {
    if lay.l3 == L3::Mpls {
        put(d, lay.l3_at + 3, &[ttl]);
    }
}

/// The IP header right under a bottom-of-stack MPLS entry: (offset, is IPv4).
fn inner_ip(d: &[u8], lay: &Layout) -> Option<(usize, bool)> {
    let lse = be32(d, lay.l3_at)?;
    if lay.l3 != L3::Mpls || lse & 0x100 == 0 {
        return None;
    }
    let at = lay.l3_at + 4;
    match d.get(at)? >> 4 {
        4 => Some((at, true)),
        6 => Some((at, false)),
        _ => None,
    }
}

/// `OFPAT_COPY_TTL_OUT`: outermost TTL from the next-to-outermost (IP under MPLS).
pub(crate) fn copy_ttl_out(d: &mut [u8], lay: &Layout) {
    if let Some((at, v4)) = inner_ip(d, lay) {
        if let Some(t) = d.get(at + if v4 { 8 } else { 7 }).copied() {
            put(d, lay.l3_at + 3, &[t]);
        }
    }
}

/// `OFPAT_COPY_TTL_IN`: next-to-outermost TTL from the outermost (MPLS onto the IP under it).
pub(crate) fn copy_ttl_in(d: &mut [u8], lay: &Layout) {
    let Some((at, v4)) = inner_ip(d, lay) else {
        return;
    };
    let Some(t) = d.get(lay.l3_at + 3).copied() else {
        return;
    };
    if v4 {
        let inner = Layout {
            l3: L3::Ipv4 { header_len: 20 },
            l3_at: at,
            l4: L4::None,
            ..*lay
        };
        rewrite_byte(d, &inner, at, at + 8, t, true, false);
    } else {
        put(d, at + 7, &[t]);
    }
}

/// Whether an EtherType is an MPLS one.
pub(crate) fn is_mpls(et: u16) -> bool {
    et == ETH_TYPE_MPLS || et == ETH_TYPE_MPLS_MC
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_known_answer() {
        // RFC 3720 appendix B.4: 32 bytes of zeros.
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
    }

    #[test]
    fn incremental_matches_full() {
        // An IPv4 header with a correct checksum, then a changed TTL.
        let mut h = [
            0x45u8, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let c = !fold(sum_words(&h));
        h[10..12].copy_from_slice(&c.to_be_bytes());
        let lay = Layout {
            l3: L3::Ipv4 { header_len: 20 },
            l3_at: 0,
            ..Layout::default()
        };
        rewrite_byte(&mut h, &lay, 0, 8, 63, true, false);
        assert_eq!(h[8], 63);
        assert_eq!(fold(sum_words(&h)), 0xffff);
    }
}
