//! Completing checksums the sending host left to "hardware".
//!
//! A veth peer (like any interface with checksum offload) passes TCP and UDP segments up with
//! only the pseudo-header part of the checksum filled in (`CHECKSUM_PARTIAL`): the kernel
//! writes `fold(pseudo-header sum)`, not complemented, and expects the NIC to finish. A packet
//! socket sees the bytes as they are; forwarded unchanged through another interface they
//! arrive with a wrong checksum and the receiving stack drops them. Open vSwitch finishes such
//! checksums in software from the virtio-net header; we recognise them by that exact value
//! (a correct checksum equals it only by a 1 in 65536 accident, and then the recomputed one is
//! still correct) and compute the real checksum.
//!
//! Guarantees: only IPv4 (unfragmented) and IPv6 TCP and UDP segments that lie whole inside
//! the frame are touched, and only when the checksum field holds the partial value; every
//! other frame is left byte for byte as it was.

fn add(sum: u32, b: &[u8]) -> u32 {
    let mut s = sum;
    let mut chunks = b.chunks_exact(2);
    for c in &mut chunks {
        s = s.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
        // Keep the carries from overflowing on long segments.
        s = (s & 0xffff) + (s >> 16);
    }
    if let [last] = chunks.remainder() {
        s = s.wrapping_add(u32::from(*last) << 8);
    }
    s
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    d.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]))
}

/// Finishes a partial TCP or UDP checksum in place. Returns whether it changed the frame.
pub(crate) fn complete_partial_checksum(frame: &mut [u8]) -> bool {
    let mut at = 12;
    let mut ty = match be16(frame, at) {
        Some(t) => t,
        None => return false,
    };
    for _ in 0..2 {
        if ty != 0x8100 && ty != 0x88a8 {
            break;
        }
        at += 4;
        ty = match be16(frame, at) {
            Some(t) => t,
            None => return false,
        };
    }
    let l3 = at + 2;
    let (proto, l4, l4_len, pseudo) = match ty {
        0x0800 => {
            let Some(&vihl) = frame.get(l3) else {
                return false;
            };
            let ihl = usize::from(vihl & 0x0f) * 4;
            let (Some(total), Some(frag), Some(&proto)) =
                (be16(frame, l3 + 2), be16(frame, l3 + 6), frame.get(l3 + 9))
            else {
                return false;
            };
            // A fragment's checksum covers the whole datagram, which is not here.
            if vihl >> 4 != 4 || ihl < 20 || frag & 0x3fff != 0 {
                return false;
            }
            let Some(l4_len) = usize::from(total).checked_sub(ihl) else {
                return false;
            };
            let Some(addrs) = frame.get(l3 + 12..l3 + 20) else {
                return false;
            };
            let pseudo = add(0, addrs) + u32::from(proto) + l4_len as u32;
            (proto, l3 + ihl, l4_len, pseudo)
        }
        0x86dd => {
            let (Some(plen), Some(&next)) = (be16(frame, l3 + 4), frame.get(l3 + 6)) else {
                return false;
            };
            let Some(addrs) = frame.get(l3 + 8..l3 + 40) else {
                return false;
            };
            let l4_len = usize::from(plen);
            let pseudo = add(0, addrs) + u32::from(next) + l4_len as u32;
            (next, l3 + 40, l4_len, pseudo)
        }
        _ => return false,
    };
    let field = match proto {
        6 => l4 + 16,
        17 => l4 + 6,
        _ => return false,
    };
    if l4 + l4_len > frame.len() || field + 2 > l4 + l4_len {
        return false;
    }
    let partial = fold(pseudo);
    if be16(frame, field) != Some(partial) || partial == 0 {
        return false;
    }
    let Some(seg) = frame.get_mut(l4..l4 + l4_len) else {
        return false;
    };
    let off = field - l4;
    seg[off] = 0;
    seg[off + 1] = 0;
    let mut c = !fold(add(pseudo, seg));
    // UDP sends a computed zero as all ones (zero means "no checksum", RFC 768).
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    seg[off..off + 2].copy_from_slice(&c.to_be_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::build::{checksums_ok, tcp4, udp4, udp6, with_vlan};
    use openflow::oxm::MacAddr;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// The checksum field as an offloading sender leaves it.
    fn make_partial(f: &mut [u8], l3: usize, l4: usize, field: usize, v6: bool) {
        let proto = f[if v6 { l3 + 6 } else { l3 + 9 }];
        let len = if v6 {
            usize::from(be16(f, l3 + 4).unwrap())
        } else {
            f.len() - l4
        };
        let addrs = if v6 {
            &f[l3 + 8..l3 + 40]
        } else {
            &f[l3 + 12..l3 + 20]
        };
        let p = fold(add(0, addrs) + u32::from(proto) + len as u32);
        f[field..field + 2].copy_from_slice(&p.to_be_bytes());
    }

    #[test]
    fn completes_udp_tcp_v4_v6_and_tagged() {
        let m = MacAddr([2, 0, 0, 0, 0, 1]);
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 1, 1, 1));
        let cases: Vec<(Vec<u8>, usize, usize, usize, bool)> = vec![
            (udp4(m, m, a, b, 1, 2, b"odd length"), 14, 34, 40, false),
            (tcp4(m, m, a, b, 1, 2, b"tcp"), 14, 34, 50, false),
            (
                udp6(
                    m,
                    m,
                    Ipv6Addr::LOCALHOST,
                    Ipv6Addr::UNSPECIFIED,
                    1,
                    2,
                    b"v6",
                ),
                14,
                54,
                60,
                true,
            ),
            (
                with_vlan(&udp4(m, m, a, b, 1, 2, b"tag"), 5, 0),
                18,
                38,
                44,
                false,
            ),
        ];
        for (good, l3, l4, field, v6) in cases {
            assert!(checksums_ok(&good));
            let mut f = good.clone();
            assert!(
                !complete_partial_checksum(&mut f),
                "a correct frame is left alone"
            );
            assert_eq!(f, good);
            make_partial(&mut f, l3, l4, field, v6);
            assert!(!checksums_ok(&f));
            assert!(complete_partial_checksum(&mut f));
            assert_eq!(f, good);
        }
    }

    #[test]
    fn leaves_other_frames_alone() {
        let m = MacAddr([2, 0, 0, 0, 0, 1]);
        let mut f = udp4(m, m, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 1, 2, b"x");
        // A fragment.
        f[20] = 0x20;
        let before = f.clone();
        make_partial(&mut f, 14, 34, 40, false);
        let partial = f.clone();
        assert!(!complete_partial_checksum(&mut f));
        assert_eq!(f, partial);
        // Cut short.
        let mut short = before[..38].to_vec();
        assert!(!complete_partial_checksum(&mut short));
        for n in 0..40 {
            let mut g = before[..n].to_vec();
            complete_partial_checksum(&mut g);
        }
    }
}
