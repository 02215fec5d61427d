//! The host as BIER ingress router (BFIR, RFC 8279 §6.1): a UDP datagram to a group address,
//! encapsulated with the RFC 8296 non-MPLS header for a member set, sent as raw Ethernet frames
//! through an `AF_PACKET` socket on the host's interface.
//!
//! - [`BierHeaderSpec`]: the header fields of one Set Identifier, from the controller's answer
//!   to `POST /v1/groups/{name}/bier` ([`BierHeaderSpec::from_fields`]) or computed from
//!   BFR-ids ([`BierHeaderSpec::for_bfr_ids`], one per SI with members).
//! - [`frames`]: Ethernet (group MAC, interface MAC) + EtherType 0xAB37 + BIER header + IPv4 or
//!   IPv6 + UDP, one frame per SI (RFC 8279 §6.1: a BFIR sends one copy per SI). The IP and
//!   UDP headers are built here with their checksums; the BIER header comes from the `bier`
//!   crate ([`bier::BierRepr`], [`bier::encapsulate`]), which also sets Proto from the EtherType
//!   (IANA "BIER Next Protocol Identifiers": 4 IPv4, 6 IPv6).
//! - [`BfirSocket`]: the packet socket on one interface (needs root or `CAP_NET_RAW`; it is
//!   created in the network namespace of the calling thread).
//! - [`fetch_headers`] / [`headers_from_subset`]: the header(s) from the controller's answer
//!   (`api::Client::assign_bier`), BIER or BIER-TE.
//! - [`BierSendArgs`] / [`run_cli`]: the `tsm-agent bier-send` command: asks the controller
//!   (with the CLI's failover over its URLs) for the header, or takes BFR-ids, and sends
//!   ([`send_resolved`]).
//!
//! Guarantees: every frame built here has a valid BIER header (nibble 0101, version 0, S = 1,
//! TTL ≥ 1, the BSL of its BitString) and valid IPv4 header and UDP checksums; no input makes
//! these functions panic; nothing is sent unless every frame could be built.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bier::{encapsulate, BfrId, BierRepr, BiftId, BitString, Bsl, SetId};

/// RFC 8296 §2.1.2: a BFIR's TTL; more hops than any fabric here has.
pub const DEFAULT_BIER_TTL: u8 = 64;
/// The sub-domain of shortest-path BIER (the controller's layout).
pub const BIER_SUB_DOMAIN: u8 = 0;
/// IPv4 and UDP protocol numbers.
const IPPROTO_UDP: u8 = 17;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const UDP_HEADER: usize = 8;
const IPV4_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;

/// What went wrong building or sending BIER frames.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BfirError {
    /// A BSL that RFC 8296 does not define.
    #[error("BSL {0} is none of 64, 128, 256, 512, 1024, 2048, 4096 bits (nor a code 1..=7)")]
    BadBsl(u32),
    /// A BitString that does not fit.
    #[error("bitstring {hex:?}: {why}")]
    BadBitString {
        /// The text given.
        hex: String,
        /// What was wrong.
        why: String,
    },
    /// A BIFT-id wider than 20 bits.
    #[error("BIFT-id {0:#x} does not fit 20 bits")]
    BadBiftId(u32),
    /// An SI too large for the BIFT-id layout BSL | sub-domain | SI.
    #[error("SI {0} does not fit the BIFT-id layout (at most 255)")]
    BadSetId(u16),
    /// BFR-id 0 or an empty member set.
    #[error("no BIER header to send: {0}")]
    NoHeaders(String),
    /// A BIER TTL of 0 would be dropped by the first BFR (RFC 8296 §2.1.2).
    #[error("BIER TTL 0: the first BFR would drop the packet")]
    ZeroTtl,
    /// Source and group of different families.
    #[error("source {src} and group {group} are not of the same IP version")]
    MixedFamilies {
        /// Source address.
        src: IpAddr,
        /// Group address.
        group: IpAddr,
    },
    /// The destination is not a multicast address.
    #[error("group address {0} is not multicast")]
    NotMulticast(IpAddr),
    /// More payload than a UDP datagram holds.
    #[error("payload of {0} bytes does not fit one UDP datagram")]
    TooLong(usize),
    /// The `bier` crate refused the frame.
    #[error("encapsulation: {0}")]
    Encap(#[from] bier::EncapError),
    /// No such interface in this network namespace.
    #[error("interface {0:?} not found in this network namespace")]
    NoSuchInterface(String),
    /// The interface has no MAC address.
    #[error("interface {0:?} has no hardware address")]
    NoHardwareAddress(String),
    /// No source address of the group's family on the interface.
    #[error("interface {iface:?} has no {family} address to send from; give --source")]
    NoSourceAddress {
        /// The interface.
        iface: String,
        /// "IPv4" or "IPv6".
        family: &'static str,
    },
    /// The packet socket could not be opened.
    #[error("packet socket on {iface:?}: {source}")]
    Socket {
        /// The interface.
        iface: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A frame could not be written.
    #[error("sending a {len}-byte frame on {iface:?}: {source}")]
    Send {
        /// The interface.
        iface: String,
        /// The frame's length.
        len: usize,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The controller refused or could not be reached.
    #[error("controller: {0}")]
    Api(#[from] api::ClientError),
    /// A command-line value that does not make sense.
    #[error("{0}")]
    Usage(String),
}

/// The BIER header fields of one SI for a member set: what the controller answers to
/// `POST /v1/groups/{name}/bier`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BierHeaderSpec {
    /// The sub-domain.
    pub sub_domain: u8,
    /// The Set Identifier.
    pub si: SetId,
    /// The BIFT-id the first BFR forwards by (RFC 8296 §2.1.2).
    pub bift_id: BiftId,
    /// The members' bits in this SI; its length is the BSL.
    pub bitstring: BitString,
}

/// A BSL given as bits (64…4096) or as its RFC 8296 code (1…7); the two ranges do not overlap.
pub fn parse_bsl(v: u32) -> Result<Bsl, BfirError> {
    let by_code = u8::try_from(v).ok().and_then(Bsl::from_code);
    let by_bits = usize::try_from(v).ok().and_then(Bsl::from_bits);
    by_code.or(by_bits).ok_or(BfirError::BadBsl(v))
}

/// A BitString from hex (optionally `0x`-prefixed, `_`/`:`/space separators allowed), most
/// significant byte first as on the wire; shorter input is padded with leading zeros.
pub fn parse_bitstring(bsl: Bsl, hex: &str) -> Result<BitString, BfirError> {
    let bad = |why: String| BfirError::BadBitString {
        hex: hex.to_owned(),
        why,
    };
    let t = hex.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let digits: Vec<u8> = t
        .chars()
        .filter(|c| !matches!(c, '_' | ':' | ' '))
        .map(|c| {
            c.to_digit(16)
                .and_then(|d| u8::try_from(d).ok())
                .ok_or_else(|| bad(format!("{c:?} is not a hex digit")))
        })
        .collect::<Result<_, _>>()?;
    let want = bsl.bytes() * 2;
    if digits.len() > want {
        // Leading zeros beyond the BSL are harmless; a set bit is not.
        let (extra, _) = digits.split_at(digits.len() - want);
        if extra.iter().any(|d| *d != 0) {
            return Err(bad(format!(
                "{} hex digits with bits beyond BSL {}",
                digits.len(),
                bsl.bits()
            )));
        }
    }
    let mut padded = vec![0u8; want.saturating_sub(digits.len())];
    padded.extend(digits.iter().skip(digits.len().saturating_sub(want)));
    let bytes: Vec<u8> = padded.chunks(2).map(|p| (p[0] << 4) | p[1]).collect();
    BitString::from_bytes(bsl, &bytes).ok_or_else(|| bad("wrong length".into()))
}

impl BierHeaderSpec {
    /// From the controller's answer fields: BSL in bits (or code), BitString in hex.
    pub fn from_fields(
        sub_domain: u8,
        bsl: u32,
        si: u16,
        bift_id: u32,
        bitstring_hex: &str,
    ) -> Result<BierHeaderSpec, BfirError> {
        let bsl = parse_bsl(bsl)?;
        Ok(BierHeaderSpec {
            sub_domain,
            si: SetId(si),
            bift_id: BiftId::new(bift_id).ok_or(BfirError::BadBiftId(bift_id))?,
            bitstring: parse_bitstring(bsl, bitstring_hex)?,
        })
    }

    /// One header per SI that has members (RFC 8279 §3: BFR-id n is SI (n−1) div BSL, bit
    /// (n−1) mod BSL + 1), in SI order, with the BIFT-id layout BSL | sub-domain | SI of
    /// draft-ietf-bier-non-mpls-bift-encoding, which the controller and switch-sim use.
    pub fn for_bfr_ids(
        ids: &[BfrId],
        bsl: Bsl,
        sub_domain: u8,
    ) -> Result<Vec<BierHeaderSpec>, BfirError> {
        if ids.is_empty() {
            return Err(BfirError::NoHeaders("no BFR-ids given".into()));
        }
        let mut per_si: BTreeMap<SetId, BitString> = BTreeMap::new();
        for id in ids {
            let (si, bp) = id.locate(bsl);
            per_si
                .entry(si)
                .or_insert_with(|| BitString::zero(bsl))
                .set(bp);
        }
        per_si
            .into_iter()
            .map(|(si, bitstring)| {
                Ok(BierHeaderSpec {
                    sub_domain,
                    si,
                    bift_id: BiftId::from_bsl_sd_si(bsl, sub_domain, si)
                        .ok_or(BfirError::BadSetId(si.0))?,
                    bitstring,
                })
            })
            .collect()
    }

    /// The BSL.
    pub fn bsl(&self) -> Bsl {
        self.bitstring.bsl()
    }
}

/// The per-packet BIER fields a BFIR chooses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BfirOptions {
    /// BFIR-id: the sender's own BFR-id in the sub-domain, 0 if it has none.
    pub bfir_id: u16,
    /// BIER TTL (≥ 1).
    pub ttl: u8,
    /// Traffic Class (3 bits).
    pub tc: u8,
    /// DSCP of the BIER header (6 bits); also written into the IP header.
    pub dscp: u8,
    /// Entropy (20 bits); `None`: a hash of the flow (RFC 8279 §6.7: packets of one flow
    /// take one path, flows spread over ECMP paths).
    pub entropy: Option<u32>,
    /// TTL / hop limit of the inner IP packet (BFRs do not touch it).
    pub ip_ttl: u8,
}

impl Default for BfirOptions {
    fn default() -> Self {
        BfirOptions {
            bfir_id: 0,
            ttl: DEFAULT_BIER_TTL,
            tc: 0,
            dscp: 0,
            entropy: None,
            ip_ttl: 64,
        }
    }
}

impl BfirOptions {
    /// Defaults with this BFIR-id.
    pub fn with_bfir_id(mut self, id: u16) -> Self {
        self.bfir_id = id;
        self
    }
    /// With this BIER TTL.
    pub fn with_ttl(mut self, ttl: u8) -> Self {
        self.ttl = ttl;
        self
    }
    /// With this fixed entropy.
    pub fn with_entropy(mut self, e: u32) -> Self {
        self.entropy = Some(e);
        self
    }
    /// With this traffic class and DSCP.
    pub fn with_tc_dscp(mut self, tc: u8, dscp: u8) -> Self {
        self.tc = tc;
        self.dscp = dscp;
        self
    }
}

/// A UDP datagram to a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// Source address and port.
    pub src: SocketAddr,
    /// Group address and port.
    pub group: SocketAddr,
    /// The UDP payload.
    pub payload: &'a [u8],
}

/// The Ethernet group address of an IP multicast address (RFC 1112 §6.4, RFC 2464 §7), so the
/// decapsulated copies reach receivers that joined the group.
pub fn multicast_mac(group: IpAddr) -> [u8; 6] {
    match group {
        IpAddr::V4(a) => {
            let o = a.octets();
            [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]
        }
        IpAddr::V6(a) => {
            let o = a.octets();
            [0x33, 0x33, o[12], o[13], o[14], o[15]]
        }
    }
}

/// A 20-bit entropy from the flow's addresses, protocol and ports (FNV-1a, folded).
pub fn flow_entropy(src: SocketAddr, group: SocketAddr) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for a in [src, group] {
        match a.ip() {
            IpAddr::V4(v) => eat(&v.octets()),
            IpAddr::V6(v) => eat(&v.octets()),
        }
        eat(&a.port().to_be_bytes());
    }
    eat(&[IPPROTO_UDP]);
    ((h ^ (h >> 20) ^ (h >> 40)) & u64::from(BiftId::MAX)) as u32
}

/// One's-complement sum of 16-bit words (RFC 1071), not yet inverted.
fn sum16(mut acc: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        acc = acc.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
    }
    if let [last] = chunks.remainder() {
        acc = acc.wrapping_add(u32::from(*last) << 8);
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The IP packet (IPv4 or IPv6 + UDP) of a datagram, with its EtherType. IPv4 header checksum
/// (RFC 791) and UDP checksum over the pseudo-header (RFC 768, RFC 8200 §8.1; a computed 0 is
/// sent as 0xffff) are filled in.
pub fn ip_udp(d: &Datagram<'_>, ip_ttl: u8, dscp: u8) -> Result<(u16, Vec<u8>), BfirError> {
    if !d.group.ip().is_multicast() {
        return Err(BfirError::NotMulticast(d.group.ip()));
    }
    let udp_len = UDP_HEADER + d.payload.len();
    let udp_len16 = u16::try_from(udp_len).map_err(|_| BfirError::TooLong(d.payload.len()))?;
    let mut udp = Vec::with_capacity(udp_len);
    udp.extend(d.src.port().to_be_bytes());
    udp.extend(d.group.port().to_be_bytes());
    udp.extend(udp_len16.to_be_bytes());
    udp.extend([0, 0]);
    udp.extend_from_slice(d.payload);
    let tos = (dscp & 0x3f) << 2;
    match (d.src.ip(), d.group.ip()) {
        (IpAddr::V4(s), IpAddr::V4(g)) => {
            let total = u16::try_from(IPV4_HEADER + udp_len)
                .map_err(|_| BfirError::TooLong(d.payload.len()))?;
            let pseudo = [&s.octets()[..], &g.octets()[..], &[0, IPPROTO_UDP]].concat();
            let c = !fold(sum16(sum16(u32::from(udp_len16), &pseudo), &udp));
            udp[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
            let mut p = Vec::with_capacity(IPV4_HEADER + udp_len);
            p.extend([0x45, tos]);
            p.extend(total.to_be_bytes());
            // An atomic datagram: DF set, so the ID may be 0 (RFC 6864 §4.1), and the same
            // datagram always gives the same bytes.
            p.extend([0, 0, 0x40, 0]);
            p.extend([ip_ttl, IPPROTO_UDP, 0, 0]);
            p.extend(s.octets());
            p.extend(g.octets());
            let hc = !fold(sum16(0, &p));
            p[10..12].copy_from_slice(&hc.to_be_bytes());
            p.extend(udp);
            Ok((ETHERTYPE_IPV4, p))
        }
        (IpAddr::V6(s), IpAddr::V6(g)) => {
            let len32 = u32::from(udp_len16);
            let mut pseudo = Vec::with_capacity(40);
            pseudo.extend(s.octets());
            pseudo.extend(g.octets());
            pseudo.extend(len32.to_be_bytes());
            pseudo.extend([0, 0, 0, IPPROTO_UDP]);
            let c = !fold(sum16(sum16(0, &pseudo), &udp));
            udp[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
            let mut p = Vec::with_capacity(IPV6_HEADER + udp_len);
            // Version 6, traffic class (DSCP, ECN 0), flow label 0.
            p.extend([0x60 | (tos >> 4), (tos & 0x0f) << 4, 0, 0]);
            p.extend(udp_len16.to_be_bytes());
            p.extend([IPPROTO_UDP, ip_ttl]);
            p.extend(s.octets());
            p.extend(g.octets());
            p.extend(udp);
            Ok((ETHERTYPE_IPV6, p))
        }
        (src, group) => Err(BfirError::MixedFamilies { src, group }),
    }
}

/// The plain (not yet encapsulated) Ethernet frame of a datagram: to the group's MAC, from
/// `src_mac`.
pub fn plain_frame(
    src_mac: [u8; 6],
    d: &Datagram<'_>,
    opts: &BfirOptions,
) -> Result<Vec<u8>, BfirError> {
    let (et, ip) = ip_udp(d, opts.ip_ttl, opts.dscp)?;
    let mut f = Vec::with_capacity(14 + ip.len());
    f.extend(multicast_mac(d.group.ip()));
    f.extend(src_mac);
    f.extend(et.to_be_bytes());
    f.extend(ip);
    Ok(f)
}

/// The BIER header a BFIR writes for one SI: S = 1 (no MPLS label follows, RFC 8296 §2.2),
/// OAM and Rsv 0, Proto set by [`bier::encapsulate`] from the EtherType.
pub fn header_repr(h: &BierHeaderSpec, d: &Datagram<'_>, opts: &BfirOptions) -> BierRepr {
    let mut r = BierRepr::new(h.bift_id, h.bitstring.clone());
    r.tc = opts.tc & 0x07;
    r.s = true;
    r.ttl = opts.ttl;
    r.entropy = opts.entropy.unwrap_or_else(|| flow_entropy(d.src, d.group)) & BiftId::MAX;
    r.dscp = opts.dscp & 0x3f;
    r.bfir_id = opts.bfir_id;
    r
}

/// The BIER frames of a datagram, one per header (one per SI, RFC 8279 §6.1). Headers with an
/// empty BitString are skipped (nobody to deliver to in that SI); no headers at all, or only
/// empty ones, is an error.
pub fn frames(
    src_mac: [u8; 6],
    headers: &[BierHeaderSpec],
    d: &Datagram<'_>,
    opts: &BfirOptions,
) -> Result<Vec<Vec<u8>>, BfirError> {
    if opts.ttl == 0 {
        return Err(BfirError::ZeroTtl);
    }
    let plain = plain_frame(src_mac, d, opts)?;
    let out: Vec<Vec<u8>> = headers
        .iter()
        .filter(|h| !h.bitstring.is_zero())
        .map(|h| encapsulate(&plain, &header_repr(h, d, opts)))
        .collect::<Result<_, _>>()?;
    if out.is_empty() {
        return Err(BfirError::NoHeaders("every BitString is empty".into()));
    }
    Ok(out)
}

/// An `AF_PACKET` socket bound to one interface, for sending whole Ethernet frames.
pub struct BfirSocket {
    iface: String,
    mac: [u8; 6],
    ipv4: Option<Ipv4Addr>,
    ipv6: Option<Ipv6Addr>,
    tx: Box<dyn pnet::datalink::DataLinkSender>,
}

impl fmt::Debug for BfirSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BfirSocket")
            .field("iface", &self.iface)
            .field("mac", &self.mac)
            .field("ipv4", &self.ipv4)
            .field("ipv6", &self.ipv6)
            .finish_non_exhaustive()
    }
}

impl BfirSocket {
    /// Opens a packet socket on `iface` in the calling thread's network namespace.
    pub fn open(iface: &str) -> Result<BfirSocket, BfirError> {
        let i = pnet::datalink::interfaces()
            .into_iter()
            .find(|i| i.name == iface)
            .ok_or_else(|| BfirError::NoSuchInterface(iface.to_owned()))?;
        let mac = i
            .mac
            .map(|m| m.octets())
            .ok_or_else(|| BfirError::NoHardwareAddress(iface.to_owned()))?;
        let ipv4 = i.ips.iter().find_map(|n| match n.ip() {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        });
        // Prefer a global IPv6 address over the link-local one.
        let v6: Vec<Ipv6Addr> = i
            .ips
            .iter()
            .filter_map(|n| match n.ip() {
                IpAddr::V6(a) => Some(a),
                IpAddr::V4(_) => None,
            })
            .collect();
        let ipv6 = v6
            .iter()
            .find(|a| (a.segments()[0] & 0xffc0) != 0xfe80)
            .or(v6.first())
            .copied();
        let cfg = pnet::datalink::Config {
            // A BSL-4096 header plus a 1500-byte datagram is about 2 KiB; jumbo frames more.
            write_buffer_size: 65536,
            read_buffer_size: 2048,
            promiscuous: false,
            ..Default::default()
        };
        let tx = match pnet::datalink::channel(&i, cfg) {
            Ok(pnet::datalink::Channel::Ethernet(tx, _rx)) => tx,
            Ok(_) => {
                return Err(BfirError::Socket {
                    iface: iface.to_owned(),
                    source: io::Error::other("not an Ethernet channel"),
                })
            }
            Err(source) => {
                return Err(BfirError::Socket {
                    iface: iface.to_owned(),
                    source,
                })
            }
        };
        Ok(BfirSocket {
            iface: iface.to_owned(),
            mac,
            ipv4,
            ipv6,
            tx,
        })
    }

    /// The interface's name.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// The interface's MAC address (the frames' source).
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// An address of the interface of the group's family, to send from.
    pub fn source_for(&self, group: IpAddr) -> Result<IpAddr, BfirError> {
        let (a, family) = match group {
            IpAddr::V4(_) => (self.ipv4.map(IpAddr::V4), "IPv4"),
            IpAddr::V6(_) => (self.ipv6.map(IpAddr::V6), "IPv6"),
        };
        a.ok_or_else(|| BfirError::NoSourceAddress {
            iface: self.iface.clone(),
            family,
        })
    }

    /// Writes one frame as it is.
    pub fn send_frame(&mut self, frame: &[u8]) -> Result<(), BfirError> {
        let err = |source| BfirError::Send {
            iface: self.iface.clone(),
            len: frame.len(),
            source,
        };
        match self.tx.send_to(frame, None) {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(err(e)),
            None => Err(err(io::Error::other("the channel refused the frame"))),
        }
    }

    /// Encapsulates and sends a datagram: one frame per header; returns the frames' lengths.
    /// Nothing is sent if any frame cannot be built.
    pub fn send(
        &mut self,
        headers: &[BierHeaderSpec],
        d: &Datagram<'_>,
        opts: &BfirOptions,
    ) -> Result<Vec<usize>, BfirError> {
        let fs = frames(self.mac, headers, d, opts)?;
        for f in &fs {
            self.send_frame(f)?;
        }
        Ok(fs.iter().map(Vec::len).collect())
    }
}

/// `tsm-agent bier-send`: send one UDP datagram as BIER from this host.
///
/// With `--group` and `--members` the controller (the global `--url`s) says the header for
/// the members (`POST /v1/groups/{name}/bier`) and the group's address (unless `--address`);
/// with `--bfr-ids` and `--address` no controller is asked.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
#[non_exhaustive]
pub struct BierSendArgs {
    /// The negotiating group whose members receive.
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,
    /// The members (host IPs, comma-separated) that receive this datagram.
    #[arg(long, value_name = "IP,IP", value_delimiter = ',')]
    pub members: Vec<IpAddr>,
    /// BIER-TE: ask the controller for its tree from this host (the source address).
    #[arg(long)]
    pub te: bool,
    /// Instead of asking the controller: the members' BFR-ids (comma-separated).
    #[arg(long, value_name = "ID,ID", value_delimiter = ',')]
    pub bfr_ids: Vec<u16>,
    /// With --bfr-ids: the BSL in bits.
    #[arg(long, value_name = "BITS", default_value_t = 256)]
    pub bsl: u32,
    /// With --bfr-ids: the sub-domain.
    #[arg(long, value_name = "N", default_value_t = BIER_SUB_DOMAIN)]
    pub sub_domain: u8,
    /// The group address (default: the group's, from the controller).
    #[arg(long, value_name = "IP")]
    pub address: Option<IpAddr>,
    /// Destination UDP port.
    #[arg(long, value_name = "PORT")]
    pub port: u16,
    /// Source UDP port (default: the destination port).
    #[arg(long, value_name = "PORT")]
    pub source_port: Option<u16>,
    /// Source IP address (default: the interface's address of the group's family).
    #[arg(long, value_name = "IP")]
    pub source: Option<IpAddr>,
    /// The interface to send on (the host's link to its edge switch).
    #[arg(long, value_name = "IF")]
    pub iface: String,
    /// This host's BFR-id, the header's BFIR-id (default: the controller's answer, else 0).
    #[arg(long, value_name = "ID")]
    pub bfir_id: Option<u16>,
    /// BIER TTL.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BIER_TTL)]
    pub ttl: u8,
    /// Fixed entropy (20 bits; default: a hash of the flow).
    #[arg(long, value_name = "N")]
    pub entropy: Option<u32>,
    /// How many times to send the datagram.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub count: u32,
    /// The UDP payload.
    pub payload: String,
}

impl BierSendArgs {
    /// A command without controller: BFR-ids, group address, port, interface, payload; the
    /// other fields at their command-line defaults.
    pub fn offline(
        bfr_ids: Vec<u16>,
        address: IpAddr,
        port: u16,
        iface: &str,
        payload: &str,
    ) -> BierSendArgs {
        BierSendArgs {
            group: None,
            members: Vec::new(),
            te: false,
            bfr_ids,
            bsl: 256,
            sub_domain: BIER_SUB_DOMAIN,
            address: Some(address),
            port,
            source_port: None,
            source: None,
            iface: iface.to_owned(),
            bfir_id: None,
            ttl: DEFAULT_BIER_TTL,
            entropy: None,
            count: 1,
            payload: payload.to_owned(),
        }
    }
}

/// What [`send_resolved`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendReport {
    /// The headers used (one per SI).
    pub headers: Vec<BierHeaderSpec>,
    /// The datagram's source.
    pub src: SocketAddr,
    /// Its group address and port.
    pub group: SocketAddr,
    /// Frames written.
    pub frames: usize,
    /// Bytes written.
    pub bytes: usize,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl fmt::Display for SendReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent {} BIER frame(s), {} bytes, {} -> {}",
            self.frames, self.bytes, self.src, self.group
        )?;
        for h in &self.headers {
            write!(
                f,
                "; SI {} BIFT-id {:#07x} bits {}",
                h.si.0,
                h.bift_id.get(),
                hex(&h.bitstring.to_bytes())
            )?;
        }
        Ok(())
    }
}

impl SendReport {
    /// The report as JSON (`--json`), BitStrings in the API's hex form.
    pub fn to_json(&self) -> serde_json::Value {
        let headers: Vec<serde_json::Value> = self
            .headers
            .iter()
            .map(|h| {
                serde_json::json!({
                    "sub_domain": h.sub_domain,
                    "bsl": h.bsl().bits(),
                    "si": h.si.0,
                    "bift_id": h.bift_id.get(),
                    "bitstring": hex(&h.bitstring.to_bytes()),
                })
            })
            .collect();
        serde_json::json!({
            "src": self.src.to_string(),
            "group": self.group.to_string(),
            "frames": self.frames,
            "bytes": self.bytes,
            "headers": headers,
        })
    }
}

/// The header(s) of a [`BierSendArgs`] with `--bfr-ids` (no controller).
pub fn offline_headers(args: &BierSendArgs) -> Result<Vec<BierHeaderSpec>, BfirError> {
    let ids: Vec<BfrId> = args
        .bfr_ids
        .iter()
        .map(|i| BfrId::new(*i).ok_or_else(|| BfirError::Usage("BFR-id 0 does not exist".into())))
        .collect::<Result<_, _>>()?;
    BierHeaderSpec::for_bfr_ids(&ids, parse_bsl(args.bsl)?, args.sub_domain)
}

/// The headers of a controller answer (`POST /v1/groups/{name}/bier`), one per SI, in SI
/// order (the top-level fields when an older controller sent no `headers` list).
pub fn headers_from_subset(s: &api::BierSubset) -> Result<Vec<BierHeaderSpec>, BfirError> {
    let bsl = u32::from(s.bsl);
    if s.headers.is_empty() {
        return Ok(vec![BierHeaderSpec::from_fields(
            s.sub_domain,
            bsl,
            s.si,
            s.bift_id,
            &s.bitstring,
        )?]);
    }
    s.headers
        .iter()
        .map(|h| BierHeaderSpec::from_fields(s.sub_domain, bsl, h.si, h.bift_id, &h.bitstring))
        .collect()
}

/// Asks the controller for the BIER header(s) of `members` of group `name`: BIER, or BIER-TE
/// along the controller's tree from `te_sender` (RFC 9262). Returns the headers and the
/// BFIR-id the controller gave the sender, if any.
pub async fn fetch_headers(
    client: &api::Client,
    name: &api::GroupName,
    members: &[IpAddr],
    te_sender: Option<IpAddr>,
) -> Result<(Vec<BierHeaderSpec>, Option<u16>), BfirError> {
    let answer = client
        .assign_bier(name, &bier_request(members, te_sender))
        .await?;
    Ok((headers_from_subset(&answer)?, answer.bfir_id))
}

fn bier_request(members: &[IpAddr], te_sender: Option<IpAddr>) -> api::BierRequest {
    let mut req = api::BierRequest::new(members.to_vec());
    if let Some(sender) = te_sender {
        req.te = true;
        req.sender = Some(sender);
    }
    req
}

/// Where and with which header(s) to send.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resolved {
    /// One per SI.
    pub headers: Vec<BierHeaderSpec>,
    /// The group address.
    pub address: IpAddr,
    /// The BFIR-id the controller gave this sender (BIER-TE), if any.
    pub bfir_id: Option<u16>,
}

/// Builds the frames of `args` for `r` and writes them `count` times on `sock`.
pub fn send_resolved(
    sock: &mut BfirSocket,
    args: &BierSendArgs,
    r: &Resolved,
) -> Result<SendReport, BfirError> {
    let src_ip = match args.source {
        Some(s) => s,
        None => sock.source_for(r.address)?,
    };
    let src = SocketAddr::new(src_ip, args.source_port.unwrap_or(args.port));
    let group = SocketAddr::new(r.address, args.port);
    let mut opts = BfirOptions::default()
        .with_bfir_id(args.bfir_id.or(r.bfir_id).unwrap_or(0))
        .with_ttl(args.ttl);
    opts.entropy = args.entropy;
    let d = Datagram {
        src,
        group,
        payload: args.payload.as_bytes(),
    };
    let fs = frames(sock.mac(), &r.headers, &d, &opts)?;
    let mut bytes = 0;
    for _ in 0..args.count {
        for f in &fs {
            sock.send_frame(f)?;
            bytes += f.len();
        }
    }
    Ok(SendReport {
        headers: r.headers.clone(),
        src,
        group,
        frames: fs.len() * args.count as usize,
        bytes,
    })
}

impl From<BfirError> for crate::cli::CliError {
    fn from(e: BfirError) -> Self {
        let code = match &e {
            BfirError::Usage(_) => 2,
            BfirError::Api(c) if c.status().is_none() => 2,
            _ => 1,
        };
        crate::cli::CliError {
            message: e.to_string(),
            code,
        }
    }
}

/// `tsm-agent bier-send`: opens the interface (in this process's network namespace), resolves
/// the header(s) and address (through the controllers of `cli`, with their failover, or from
/// `--bfr-ids`), sends, and prints what it sent (`--json`: as JSON).
pub async fn run_cli(
    cli: &crate::cli::Cli,
    args: &BierSendArgs,
    out: &mut (dyn std::io::Write + Send),
) -> Result<(), crate::cli::CliError> {
    let mut sock = BfirSocket::open(&args.iface)?;
    run_cli_with(cli, args, &mut sock, out).await
}

/// [`run_cli`] on a socket opened beforehand (`args.iface` is not used): the socket may live
/// in another network namespace than the one the controller is reached from.
pub async fn run_cli_with(
    cli: &crate::cli::Cli,
    args: &BierSendArgs,
    sock: &mut BfirSocket,
    out: &mut (dyn std::io::Write + Send),
) -> Result<(), crate::cli::CliError> {
    let resolved = if args.bfr_ids.is_empty() {
        let name = args
            .group
            .as_deref()
            .ok_or_else(|| BfirError::Usage("give --group (or --bfr-ids and --address)".into()))?;
        if args.members.is_empty() {
            return Err(BfirError::Usage("give --members".into()).into());
        }
        let name: api::GroupName = name.parse().map_err(|e| BfirError::Usage(format!("{e}")))?;
        let timeout = std::time::Duration::from_millis(cli.timeout_ms.max(1));
        let opts = crate::failover::EndpointOptions::new(timeout).token(cli.token.as_deref());
        let endpoints = crate::failover::Endpoints::new(&cli.urls, &opts)?;
        let name = &name;
        let address = match args.address {
            Some(a) => a,
            None => {
                endpoints
                    .call(|c| async move { c.group(name).await })
                    .await?
                    .address
            }
        };
        let te = match (args.te, args.source) {
            (false, _) => None,
            (true, Some(s)) => Some(s),
            (true, None) => Some(sock.source_for(address)?),
        };
        let req = &bier_request(&args.members, te);
        let answer = endpoints
            .call(|c| async move { c.assign_bier(name, req).await })
            .await?;
        Resolved {
            headers: headers_from_subset(&answer)?,
            address,
            bfir_id: answer.bfir_id,
        }
    } else {
        Resolved {
            headers: offline_headers(args)?,
            address: args
                .address
                .ok_or_else(|| BfirError::Usage("--bfr-ids needs --address".into()))?,
            bfir_id: None,
        }
    };
    let report = send_resolved(sock, args, &resolved)?;
    let text = if cli.json {
        format!("{}\n", report.to_json())
    } else {
        format!("{report}\n")
    };
    out.write_all(text.as_bytes())
        .map_err(|e| crate::cli::CliError {
            message: format!("cannot print the report: {e}"),
            code: 1,
        })
}

#[cfg(test)]
mod tests {
    //! The frames are read back by decoders that share no code with this module: tshark with
    //! the project's Lua dissector (`tools/wireshark/bier.lua`) for the BIER header and
    //! tshark's own IPv4/IPv6/UDP dissectors with checksum validation on, and etherparse for
    //! the inner IP/UDP. The raw socket is checked on a veth pair between two namespaces.

    // A test helper that fails is a failed test: unwrap is the assertion here.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::fmt::Write as _;
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::time::{Duration, Instant};

    use bier::BitPosition;

    const LUA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/wireshark/bier.lua");
    const MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x07];

    fn ids(v: &[u16]) -> Vec<BfrId> {
        v.iter().map(|i| BfrId::new(*i).unwrap()).collect()
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn bsl_by_bits_or_code() {
        assert_eq!(parse_bsl(256).unwrap(), Bsl::B256);
        assert_eq!(parse_bsl(3).unwrap(), Bsl::B256);
        assert_eq!(parse_bsl(4096).unwrap(), Bsl::B4096);
        assert_eq!(parse_bsl(7).unwrap(), Bsl::B4096);
        for bad in [0, 8, 100, 8192, u32::MAX] {
            assert!(matches!(parse_bsl(bad), Err(BfirError::BadBsl(b)) if b == bad));
        }
    }

    #[test]
    fn bitstring_hex_is_wire_order_and_padded() {
        let b = parse_bitstring(Bsl::B64, "0x0000000000000105").unwrap();
        assert_eq!(
            b.ones().map(BitPosition::get).collect::<Vec<_>>(),
            [1, 3, 9]
        );
        // Short input: leading zeros implied; separators ignored.
        assert_eq!(parse_bitstring(Bsl::B64, "01:05").unwrap(), b);
        // Leading zero digits beyond the BSL are harmless, set bits are not.
        assert_eq!(
            parse_bitstring(Bsl::B64, "000000000000000000105").unwrap(),
            b
        );
        let e = parse_bitstring(Bsl::B64, "10000000000000000").unwrap_err();
        assert!(e.to_string().contains("beyond BSL 64"), "{e}");
        let e = parse_bitstring(Bsl::B64, "0xg1").unwrap_err();
        assert!(e.to_string().contains("'g' is not a hex digit"), "{e}");
        // The highest position is the top bit of the first byte (RFC 8279 §3).
        let top = parse_bitstring(Bsl::B256, &format!("80{}", "00".repeat(31))).unwrap();
        assert_eq!(top.ones().map(BitPosition::get).collect::<Vec<_>>(), [256]);
    }

    #[test]
    fn from_fields_checks_every_field() {
        let h = BierHeaderSpec::from_fields(0, 256, 0, 0x30000, "0x06").unwrap();
        assert_eq!(h.bsl(), Bsl::B256);
        assert_eq!(h.bift_id.get(), 0x30000);
        assert_eq!(
            h.bitstring.ones().map(BitPosition::get).collect::<Vec<_>>(),
            [2, 3]
        );
        assert!(matches!(
            BierHeaderSpec::from_fields(0, 256, 0, 0x10_0000, "01"),
            Err(BfirError::BadBiftId(0x10_0000))
        ));
        assert!(matches!(
            BierHeaderSpec::from_fields(0, 300, 0, 1, "01"),
            Err(BfirError::BadBsl(300))
        ));
    }

    #[test]
    fn bfr_ids_split_into_one_header_per_si() {
        // RFC 8279 §3 at BSL 64: ids 1..=64 are SI 0, 65..=128 SI 1, 129 is SI 2 bit 1.
        let hs = BierHeaderSpec::for_bfr_ids(&ids(&[1, 64, 65, 129, 3]), Bsl::B64, 0).unwrap();
        let got: Vec<(u16, u32, Vec<u16>)> = hs
            .iter()
            .map(|h| {
                (
                    h.si.0,
                    h.bift_id.get(),
                    h.bitstring.ones().map(BitPosition::get).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (0, 0x10000, vec![1, 3, 64]),
                (1, 0x10001, vec![1]),
                (2, 0x10002, vec![1])
            ]
        );
        assert!(matches!(
            BierHeaderSpec::for_bfr_ids(&[], Bsl::B64, 0),
            Err(BfirError::NoHeaders(_))
        ));
        // SI 256 does not fit the 8-bit SI of the BIFT-id layout.
        assert!(matches!(
            BierHeaderSpec::for_bfr_ids(&ids(&[64 * 256 + 1]), Bsl::B64, 0),
            Err(BfirError::BadSetId(256))
        ));
    }

    #[test]
    fn controller_answers_become_one_header_per_si() {
        let answer: api::BierSubset = serde_json::from_value(serde_json::json!({
            "group": "g", "sub_domain": 0, "bsl": 64, "si": 0,
            "bitstring": "0000000000000005", "bift_id": 0x10000,
            "headers": [
                {"si": 0, "bift_id": 0x10000, "bitstring": "0000000000000005"},
                {"si": 1, "bift_id": 0x10001, "bitstring": "8000000000000000"}
            ],
            "members": [], "te": false
        }))
        .unwrap();
        let hs = headers_from_subset(&answer).unwrap();
        let got: Vec<(u16, u32, Vec<u16>)> = hs
            .iter()
            .map(|h| {
                (
                    h.si.0,
                    h.bift_id.get(),
                    h.bitstring.ones().map(BitPosition::get).collect(),
                )
            })
            .collect();
        assert_eq!(got, [(0, 0x10000, vec![1, 3]), (1, 0x10001, vec![64])]);
        // Without the list: the top-level fields.
        let mut old = answer.clone();
        old.headers.clear();
        assert_eq!(headers_from_subset(&old).unwrap(), hs[..1].to_vec());
        // A BitString longer than the BSL is refused, naming it.
        old.bitstring = "010000000000000005".into();
        let e = headers_from_subset(&old).unwrap_err();
        assert!(e.to_string().contains("beyond BSL 64"), "{e}");
    }

    #[test]
    fn multicast_macs() {
        assert_eq!(
            multicast_mac("239.129.2.3".parse().unwrap()),
            [0x01, 0x00, 0x5e, 0x01, 0x02, 0x03]
        );
        assert_eq!(
            multicast_mac("ff0e::1:2:3:4".parse().unwrap()),
            [0x33, 0x33, 0x00, 0x03, 0x00, 0x04]
        );
    }

    #[test]
    fn entropy_is_20_bits_and_spreads_flows() {
        let g = sa("239.1.1.1:5000");
        let mut seen = std::collections::BTreeSet::new();
        for port in 1000..1064 {
            let e = flow_entropy(sa(&format!("10.0.0.1:{port}")), g);
            assert!(e <= BiftId::MAX);
            seen.insert(bier::ecmp_choice(e, 4));
        }
        assert_eq!(seen.len(), 4, "64 flows must use all four ECMP choices");
        assert_eq!(
            flow_entropy(sa("10.0.0.1:1"), g),
            flow_entropy(sa("10.0.0.1:1"), g)
        );
    }

    #[test]
    fn bad_datagrams_are_refused() {
        let h = BierHeaderSpec::for_bfr_ids(&ids(&[1]), Bsl::B64, 0).unwrap();
        let o = BfirOptions::default();
        let d = |src: &str, g: &str, p: &'static [u8]| Datagram {
            src: sa(src),
            group: sa(g),
            payload: p,
        };
        let e = frames(MAC, &h, &d("10.0.0.1:1", "10.0.0.2:2", b"x"), &o).unwrap_err();
        assert!(matches!(e, BfirError::NotMulticast(_)), "{e}");
        let e = frames(MAC, &h, &d("[fd00::1]:1", "239.1.1.1:2", b"x"), &o).unwrap_err();
        assert!(matches!(e, BfirError::MixedFamilies { .. }), "{e}");
        let big = vec![0u8; 65536];
        let dg = Datagram {
            src: sa("10.0.0.1:1"),
            group: sa("239.1.1.1:2"),
            payload: &big,
        };
        assert!(matches!(
            frames(MAC, &h, &dg, &o),
            Err(BfirError::TooLong(65536))
        ));
        let ok = d("10.0.0.1:1", "239.1.1.1:2", b"x");
        assert!(matches!(
            frames(MAC, &h, &ok, &o.with_ttl(0)),
            Err(BfirError::ZeroTtl)
        ));
        let empty = BierHeaderSpec {
            bitstring: BitString::zero(Bsl::B64),
            ..h[0].clone()
        };
        assert!(matches!(
            frames(MAC, &[empty], &ok, &o),
            Err(BfirError::NoHeaders(_))
        ));
    }

    /// The inner IP/UDP of a frame, read by etherparse: (src, dst, ports, payload), with both
    /// checksums recomputed by etherparse and compared.
    fn etherparse_udp(frame: &[u8], bsl: Bsl) -> (IpAddr, IpAddr, u16, u16, Vec<u8>) {
        use etherparse::{NetSlice, SlicedPacket, TransportSlice};
        // Ethernet 14 + BIER fixed 12 + BitString.
        let ip = &frame[14 + 12 + bsl.bytes()..];
        let p = SlicedPacket::from_ip(ip).unwrap();
        let Some(TransportSlice::Udp(u)) = &p.transport else {
            panic!("not UDP: {:?}", p.transport)
        };
        let hdr = u.to_header();
        let (src, dst, want) = match &p.net {
            Some(NetSlice::Ipv4(v4)) => {
                let h = v4.header().to_header();
                assert_eq!(h.header_checksum, h.calc_header_checksum(), "IPv4 checksum");
                (
                    IpAddr::V4(h.source.into()),
                    IpAddr::V4(h.destination.into()),
                    hdr.calc_checksum_ipv4(&h, u.payload()).unwrap(),
                )
            }
            Some(NetSlice::Ipv6(v6)) => {
                let h = v6.header().to_header();
                (
                    IpAddr::V6(h.source.into()),
                    IpAddr::V6(h.destination.into()),
                    hdr.calc_checksum_ipv6(&h, u.payload()).unwrap(),
                )
            }
            other => panic!("not IP: {other:?}"),
        };
        assert_eq!(hdr.checksum, want, "UDP checksum");
        (
            src,
            dst,
            hdr.source_port,
            hdr.destination_port,
            u.payload().to_vec(),
        )
    }

    struct TempDir(PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            std::fs::remove_dir_all(&self.0).ok();
        }
    }

    fn run(c: &mut Command) -> String {
        let out = c.output().expect("spawn (is tshark/text2pcap installed?)");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{c:?} failed: {stderr}");
        assert!(
            !stderr.contains(".lua:"),
            "the Lua dissector failed: {stderr}"
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn write_pcap(tag: &str, frames: &[Vec<u8>]) -> (TempDir, PathBuf) {
        let dir = TempDir(
            std::env::temp_dir().join(format!("bfir-ws-{tag}-{}", switch_sim::netns::unique_tag())),
        );
        std::fs::create_dir_all(&dir.0).unwrap();
        let mut s = String::new();
        for f in frames {
            for (i, chunk) in f.chunks(16).enumerate() {
                write!(s, "{:06x}", i * 16).unwrap();
                for b in chunk {
                    write!(s, " {b:02x}").unwrap();
                }
                s.push('\n');
            }
        }
        let txt = dir.0.join("frames.txt");
        let pcap = dir.0.join("frames.pcap");
        std::fs::write(&txt, s).unwrap();
        run(Command::new("text2pcap").arg("-q").arg(&txt).arg(&pcap));
        (dir, pcap)
    }

    fn tshark(pcap: &Path, extra: &[&str]) -> String {
        run(Command::new("tshark")
            .arg("-X")
            .arg(format!("lua_script:{LUA}"))
            // Checksums are validated, so a wrong one is an expert warning.
            .args([
                "-o",
                "ip.check_checksum:TRUE",
                "-o",
                "udp.check_checksum:TRUE",
            ])
            .arg("-r")
            .arg(pcap)
            .args(extra))
    }

    const FIELDS: &[&str] = &[
        "eth.dst",
        "eth.type",
        "bier8296.bift_id",
        "bier8296.tc",
        "bier8296.s",
        "bier8296.ttl",
        "bier8296.nibble",
        "bier8296.version",
        "bier8296.bsl",
        "bier8296.entropy",
        "bier8296.oam",
        "bier8296.rsv",
        "bier8296.dscp",
        "bier8296.proto",
        "bier8296.bfir_id",
        "bier8296.bitstring.positions",
        "ip.src",
        "ip.dst",
        "ip.checksum.status",
        "ipv6.src",
        "ipv6.dst",
        "udp.srcport",
        "udp.dstport",
        "udp.checksum.status",
        "data.data",
    ];

    /// Frames of many shapes, dissected by tshark: every field as built, checksums good, no
    /// malformed packet or expert warning; the inner IP/UDP also read by etherparse.
    #[test]
    fn frames_read_back_in_tshark_and_etherparse() {
        let mut all = Vec::new();
        let mut want: Vec<Vec<String>> = Vec::new();
        let cases: &[(&str, &str, Bsl, &[u16])] = &[
            ("10.0.0.1:40001", "239.1.1.1:40002", Bsl::B64, &[1, 5, 64]),
            (
                "10.0.0.9:5000",
                "239.200.3.4:6000",
                Bsl::B256,
                &[2, 200, 256],
            ),
            ("10.1.2.3:1", "224.0.1.2:65535", Bsl::B4096, &[4096, 1, 77]),
            // Several SIs: one frame each.
            (
                "10.0.0.1:7000",
                "239.0.0.7:7001",
                Bsl::B64,
                &[3, 70, 140, 141],
            ),
            ("[fd00::1]:40001", "[ff0e::1:2]:40002", Bsl::B128, &[1, 128]),
            (
                "[fd00::2]:9",
                "[ff05::abcd]:10",
                Bsl::B512,
                &[300, 1, 2, 1000],
            ),
        ];
        for (i, (src, group, bsl, members)) in cases.iter().enumerate() {
            let i = u16::try_from(i).unwrap();
            let payload = format!("bfir payload {i} {}", "x".repeat(usize::from(i) * 7));
            let d = Datagram {
                src: sa(src),
                group: sa(group),
                payload: payload.as_bytes(),
            };
            let headers = BierHeaderSpec::for_bfr_ids(&ids(members), *bsl, 0).unwrap();
            let mut opts = BfirOptions::default()
                .with_bfir_id(100 + i)
                .with_ttl(u8::try_from(10 + i).unwrap())
                .with_tc_dscp(u8::try_from(i % 8).unwrap(), u8::try_from(i * 9).unwrap());
            if i % 2 == 0 {
                opts = opts.with_entropy(0xabcde - u32::from(i));
            }
            let fs = frames(MAC, &headers, &d, &opts).unwrap();
            assert_eq!(fs.len(), headers.len());
            let entropy = opts.entropy.unwrap_or_else(|| flow_entropy(d.src, d.group));
            for (f, h) in fs.iter().zip(&headers) {
                let (s, g, sp, dp, p) = etherparse_udp(f, *bsl);
                assert_eq!(
                    (s, g, sp, dp, p.as_slice()),
                    (
                        d.src.ip(),
                        d.group.ip(),
                        d.src.port(),
                        d.group.port(),
                        payload.as_bytes()
                    )
                );
                let mac = multicast_mac(d.group.ip());
                let v4 = d.group.is_ipv4();
                let ip = |a: SocketAddr, want_v4: bool| {
                    if want_v4 == v4 {
                        a.ip().to_string()
                    } else {
                        String::new()
                    }
                };
                want.push(vec![
                    mac.iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":"),
                    "0xab37".into(),
                    format!("{:#010x}", h.bift_id.get()),
                    (i % 8).to_string(),
                    "1".into(),
                    (10 + i).to_string(),
                    "0x00000005".into(),
                    "0".into(),
                    bsl.code().to_string(),
                    format!("{entropy:#010x}"),
                    "0".into(),
                    "0".into(),
                    (i * 9).to_string(),
                    // IANA: 4 IPv4, 6 IPv6 (RFC 8296 §3).
                    if v4 { "4" } else { "6" }.into(),
                    (100 + i).to_string(),
                    h.bitstring
                        .ones()
                        .map(|p| p.get().to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                    ip(d.src, true),
                    ip(d.group, true),
                    // tshark's checksum status: 0 bad, 1 good, 2 unverified.
                    if v4 { "1" } else { "" }.into(),
                    ip(d.src, false),
                    ip(d.group, false),
                    d.src.port().to_string(),
                    d.group.port().to_string(),
                    "1".into(),
                    payload.bytes().map(|b| format!("{b:02x}")).collect(),
                ]);
                all.push(f.clone());
            }
        }
        let (_dir, pcap) = write_pcap("fields", &all);
        let mut args = vec!["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"];
        for f in FIELDS {
            args.extend(["-e", f]);
        }
        let out = tshark(&pcap, &args);
        let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!(rows.len(), all.len(), "one row per frame:\n{out}");
        for (i, (row, want)) in rows.iter().zip(&want).enumerate() {
            for ((name, got), want) in FIELDS.iter().zip(row).zip(want) {
                assert_eq!(got, want, "frame {}: {name}", i + 1);
            }
        }
        let bad = tshark(
            &pcap,
            &["-Y", "_ws.malformed || _ws.expert.severity >= \"warning\""],
        );
        assert!(
            bad.trim().is_empty(),
            "malformed or expert warnings:\n{bad}"
        );
    }

    /// A broken checksum must show in tshark, or the clean run above proves nothing.
    #[test]
    fn tshark_flags_a_corrupted_udp_checksum() {
        let h = BierHeaderSpec::for_bfr_ids(&ids(&[1]), Bsl::B64, 0).unwrap();
        let d = Datagram {
            src: sa("10.0.0.1:40001"),
            group: sa("239.1.1.1:40002"),
            payload: b"checksum",
        };
        let mut f = frames(MAC, &h, &d, &BfirOptions::default())
            .unwrap()
            .remove(0);
        let last = f.len() - 1;
        f[last] ^= 0x01;
        let (_dir, pcap) = write_pcap("bad", &[f]);
        let out = tshark(&pcap, &["-T", "fields", "-e", "udp.checksum.status"]);
        assert_eq!(out.trim(), "0", "tshark must call the checksum bad");
    }

    /// The packet socket: frames sent in one namespace arrive byte for byte at the other end of
    /// a veth pair; `send_resolved` with BFR-ids sends `count` copies from the interface's address.
    #[test]
    fn raw_socket_sends_the_frames_over_veth() {
        use switch_sim::netns::{unique_tag, veth, Netns};
        let a = Netns::create("bfa").unwrap();
        let b = Netns::create("bfb").unwrap();
        let tag = unique_tag();
        let (ia, ib) = (format!("bfa{tag}"), format!("bfb{tag}"));
        veth(&ia, &a, &ib, &b).unwrap();
        a.exec(&["ip", "addr", "add", "10.77.0.1/24", "dev", &ia])
            .unwrap();

        // The receiver: a packet socket on the far end, reading until it has what it wants.
        let ib2 = ib.clone();
        let rx = b
            .spawn_thread(move || {
                let i = pnet::datalink::interfaces()
                    .into_iter()
                    .find(|i| i.name == ib2)
                    .unwrap();
                let cfg = pnet::datalink::Config {
                    read_timeout: Some(Duration::from_millis(100)),
                    read_buffer_size: 65536,
                    ..Default::default()
                };
                let pnet::datalink::Channel::Ethernet(_, mut rx) =
                    pnet::datalink::channel(&i, cfg).unwrap()
                else {
                    panic!("not Ethernet")
                };
                let mut got = Vec::new();
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline && got.len() < 6 {
                    if let Ok(f) = rx.next() {
                        if f.get(12..14) == Some(&[0xab, 0x37][..]) {
                            got.push(f.to_vec());
                        }
                    }
                }
                got
            })
            .unwrap();
        // Let the receiver's socket exist before anything is sent.
        std::thread::sleep(Duration::from_millis(300));

        let ia2 = ia.clone();
        let (sent, mac) = a
            .run(move || {
                let mut s = BfirSocket::open(&ia2).unwrap();
                assert_eq!(
                    s.source_for("239.1.1.1".parse().unwrap()).unwrap(),
                    "10.77.0.1".parse::<IpAddr>().unwrap()
                );
                let h = BierHeaderSpec::for_bfr_ids(&ids(&[2, 9]), Bsl::B256, 0).unwrap();
                let d = Datagram {
                    src: sa("10.77.0.1:4000"),
                    group: sa("239.1.1.1:4001"),
                    payload: b"over veth",
                };
                let opts = BfirOptions::default().with_bfir_id(1);
                let sent = frames(s.mac(), &h, &d, &opts).unwrap();
                assert_eq!(s.send(&h, &d, &opts).unwrap(), vec![sent[0].len()]);
                // The CLI path, offline (BFR-ids given): 4 copies.
                let mut args =
                    BierSendArgs::offline(vec![3], "239.5.5.5".parse().unwrap(), 5005, &ia2, "cli");
                args.bsl = 64;
                args.source_port = Some(5004);
                args.bfir_id = Some(1);
                args.ttl = 9;
                args.entropy = Some(7);
                args.count = 4;
                let r = Resolved {
                    headers: offline_headers(&args).unwrap(),
                    address: args.address.unwrap(),
                    bfir_id: None,
                };
                let rep = send_resolved(&mut s, &args, &r).unwrap();
                assert_eq!(rep.frames, 4);
                assert_eq!(rep.src, sa("10.77.0.1:5004"));
                assert!(
                    rep.to_string()
                        .contains("BIFT-id 0x10000 bits 0000000000000004"),
                    "{rep}"
                );
                assert_eq!(rep.to_json()["headers"][0]["bitstring"], "0000000000000004");
                // The `tsm-agent bier-send` command line, parsed by clap with the global
                // options, without controller (no URL is contacted).
                let cli = <crate::cli::Cli as clap::Parser>::try_parse_from([
                    "tsm-agent",
                    "--json",
                    "bier-send",
                    "--bfr-ids",
                    "3,200",
                    "--address",
                    "239.5.5.5",
                    "--port",
                    "5005",
                    "--iface",
                    &ia2,
                    "--bsl",
                    "256",
                    "--ttl",
                    "3",
                    "cli",
                ])
                .unwrap();
                let mut out = Vec::new();
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(crate::cli::run(&cli, &mut out)).unwrap();
                let j: serde_json::Value = serde_json::from_slice(&out).unwrap();
                assert_eq!(
                    (j["frames"].as_u64(), j["src"].as_str()),
                    (Some(1), Some("10.77.0.1:5005"))
                );
                (sent, s.mac())
            })
            .unwrap();
        let got = rx.join().unwrap();
        assert_eq!(
            got.len(),
            6,
            "one frame, four copies, one from the command line"
        );
        assert_eq!(got[0], sent[0], "the frame arrives byte for byte");
        let r = BierRepr::parse_bytes(&got[5][14..]).unwrap();
        assert_eq!((r.ttl, r.bfir_id, r.bsl()), (3, 0, Bsl::B256));
        assert_eq!(
            r.bitstring.ones().map(BitPosition::get).collect::<Vec<_>>(),
            [3, 200]
        );
        for f in &got[1..5] {
            let r = BierRepr::parse_bytes(&f[14..]).unwrap();
            assert_eq!((r.ttl, r.entropy, r.bfir_id), (9, 7, 1));
            assert_eq!(
                r.bitstring.ones().map(BitPosition::get).collect::<Vec<_>>(),
                [3]
            );
            assert_eq!(&f[6..12], &mac[..]);
            let (s, g, sp, dp, p) = etherparse_udp(f, Bsl::B64);
            assert_eq!(
                (s.to_string(), g.to_string(), sp, dp, p.as_slice()),
                (
                    "10.77.0.1".into(),
                    "239.5.5.5".into(),
                    5004,
                    5005,
                    &b"cli"[..]
                )
            );
        }
    }
}
