//! Test packets: well-formed Ethernet frames with correct checksums, for tests and traces
//! (`udp4(...)` is what a controller test sends through a `Fabric`).

use super::edit::crc32c;
use openflow::oxm::MacAddr;
use std::net::{Ipv4Addr, Ipv6Addr};

fn csum(parts: &[&[u8]]) -> u16 {
    let mut s: u32 = 0;
    let mut odd: Option<u8> = None;
    for p in parts {
        for &b in *p {
            match odd.take() {
                Some(hi) => s += u32::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        s += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn eth(dst: MacAddr, src: MacAddr, eth_type: u16) -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(&dst.0);
    v.extend_from_slice(&src.0);
    v.extend_from_slice(&eth_type.to_be_bytes());
    v
}

fn ipv4_header(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload_len: usize, ttl: u8) -> [u8; 20] {
    let total = u16::try_from(20 + payload_len).unwrap_or(u16::MAX);
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[6] = 0x40; // don't fragment
    h[8] = ttl;
    h[9] = proto;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = csum(&[&h]);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

fn ipv6_header(src: Ipv6Addr, dst: Ipv6Addr, next: u8, payload_len: usize) -> [u8; 40] {
    let mut h = [0u8; 40];
    h[0] = 0x60;
    h[4..6].copy_from_slice(&u16::try_from(payload_len).unwrap_or(u16::MAX).to_be_bytes());
    h[6] = next;
    h[7] = 64;
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(&dst.octets());
    h
}

fn pseudo4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(12);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&[0, proto]);
    p.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
    p
}

fn pseudo6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(40);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, next]);
    p
}

fn udp_segment(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&u16::try_from(8 + payload.len()).unwrap_or(0).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn tcp_segment(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&1u32.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = 0x18; // PSH, ACK
    t[14..16].copy_from_slice(&0xffffu16.to_be_bytes());
    t.extend_from_slice(payload);
    t
}

/// An Ethernet + IPv4 + UDP frame (TTL 64, checksums set).
pub fn udp4(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut u = udp_segment(sport, dport, payload);
    let mut c = csum(&[&pseudo4(src, dst, 17, u.len()), &u]);
    if c == 0 {
        c = 0xffff;
    }
    u[6..8].copy_from_slice(&c.to_be_bytes());
    let mut f = eth(dst_mac, src_mac, 0x0800);
    f.extend_from_slice(&ipv4_header(src, dst, 17, u.len(), 64));
    f.extend_from_slice(&u);
    f
}

/// An Ethernet + IPv4 + TCP frame (TTL 64, checksums set).
pub fn tcp4(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut t = tcp_segment(sport, dport, payload);
    let c = csum(&[&pseudo4(src, dst, 6, t.len()), &t]);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    let mut f = eth(dst_mac, src_mac, 0x0800);
    f.extend_from_slice(&ipv4_header(src, dst, 6, t.len(), 64));
    f.extend_from_slice(&t);
    f
}

/// An Ethernet + IPv4 + SCTP frame with one empty DATA-less common header (CRC32c set).
pub fn sctp4(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
) -> Vec<u8> {
    let mut s = vec![0u8; 12];
    s[0..2].copy_from_slice(&sport.to_be_bytes());
    s[2..4].copy_from_slice(&dport.to_be_bytes());
    let crc = crc32c(&s);
    s[8..12].copy_from_slice(&crc.to_le_bytes());
    let mut f = eth(dst_mac, src_mac, 0x0800);
    f.extend_from_slice(&ipv4_header(src, dst, 132, s.len(), 64));
    f.extend_from_slice(&s);
    f
}

/// An Ethernet + IPv4 + ICMP echo request frame.
pub fn icmp4_echo(src_mac: MacAddr, dst_mac: MacAddr, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let mut m = vec![8u8, 0, 0, 0, 0, 1, 0, 1];
    m.extend_from_slice(b"ping");
    let c = csum(&[&m]);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let mut f = eth(dst_mac, src_mac, 0x0800);
    f.extend_from_slice(&ipv4_header(src, dst, 1, m.len(), 64));
    f.extend_from_slice(&m);
    f
}

/// An Ethernet + IPv6 + UDP frame (hop limit 64, checksum set).
pub fn udp6(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut u = udp_segment(sport, dport, payload);
    let mut c = csum(&[&pseudo6(src, dst, 17, u.len()), &u]);
    if c == 0 {
        c = 0xffff;
    }
    u[6..8].copy_from_slice(&c.to_be_bytes());
    let mut f = eth(dst_mac, src_mac, 0x86dd);
    f.extend_from_slice(&ipv6_header(src, dst, 17, u.len()));
    f.extend_from_slice(&u);
    f
}

/// An Ethernet + IPv6 + ICMPv6 neighbour solicitation for `target` with a source link-layer
/// address option.
pub fn ndp_solicit(src_mac: MacAddr, src: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let t = target.octets();
    // RFC 4291 §2.7.1: the solicited-node multicast address of the target.
    let dst = Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, t[13], t[14], t[15],
    ]);
    let dst_mac = MacAddr([0x33, 0x33, 0xff, t[13], t[14], t[15]]);
    let mut m = vec![135u8, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&t);
    m.extend_from_slice(&[1, 1]);
    m.extend_from_slice(&src_mac.0);
    let c = csum(&[&pseudo6(src, dst, 58, m.len()), &m]);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let mut f = eth(dst_mac, src_mac, 0x86dd);
    let mut ip = ipv6_header(src, dst, 58, m.len());
    ip[7] = 255;
    f.extend_from_slice(&ip);
    f.extend_from_slice(&m);
    f
}

/// A broadcast ARP request from (`sha`, `spa`) for `tpa`.
pub fn arp_request(sha: MacAddr, spa: Ipv4Addr, tpa: Ipv4Addr) -> Vec<u8> {
    let mut f = eth(MacAddr::BROADCAST, sha, 0x0806);
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend_from_slice(&sha.0);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&tpa.octets());
    f
}

/// `frame` with an 802.1Q tag (VID `vid`, PCP `pcp`) inserted after the source address.
pub fn with_vlan(frame: &[u8], vid: u16, pcp: u8) -> Vec<u8> {
    let mut f = frame.to_vec();
    if f.len() >= 12 {
        let tci = (u16::from(pcp & 7) << 13) | (vid & 0x0fff);
        let mut tag = [0x81u8, 0x00, 0, 0];
        tag[2..].copy_from_slice(&tci.to_be_bytes());
        f.splice(12..12, tag);
    }
    f
}

/// Whether every checksum in `frame` (IPv4 header, TCP, UDP, ICMP, ICMPv6, SCTP) is right.
/// For tests of rewriting actions.
pub fn checksums_ok(frame: &[u8]) -> bool {
    use super::parse::{parse, L3, L4};
    let mut key = super::FlowKey::default();
    let lay = parse(frame, &mut key);
    let l3 = lay.l3_at;
    let (pseudo, end) = match lay.l3 {
        L3::Ipv4 { header_len } => {
            let Some(h) = frame.get(l3..l3 + header_len) else {
                return false;
            };
            if csum(&[h]) != 0 {
                return false;
            }
            let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
            let l4_len = total.saturating_sub(header_len);
            (
                pseudo4(key.ipv4_src(), key.ipv4_dst(), key.ip_proto(), l4_len),
                l3 + total,
            )
        }
        L3::Ipv6 => {
            let plen = frame
                .get(l3 + 4..l3 + 6)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                .unwrap_or(0);
            let end = l3 + 40 + plen;
            let l4_len = end.saturating_sub(lay.l4_at);
            (
                pseudo6(key.ipv6_src(), key.ipv6_dst(), key.ip_proto(), l4_len),
                end,
            )
        }
        _ => return true,
    };
    let Some(seg) = frame.get(lay.l4_at..end.min(frame.len())) else {
        return false;
    };
    match lay.l4 {
        L4::Tcp | L4::Icmp6 => csum(&[&pseudo, seg]) == 0,
        L4::Udp => {
            let stored = seg.get(6..8).map(|b| [b[0], b[1]]) == Some([0, 0]);
            (stored && matches!(lay.l3, L3::Ipv4 { .. })) || csum(&[&pseudo, seg]) == 0
        }
        L4::Icmp4 => csum(&[seg]) == 0,
        L4::Sctp => {
            let mut s = seg.to_vec();
            let Some(stored) = s.get(8..12).map(|b| [b[0], b[1], b[2], b[3]]) else {
                return false;
            };
            s[8..12].copy_from_slice(&[0; 4]);
            crc32c(&s).to_le_bytes() == stored
        }
        L4::None => true,
    }
}
