//! IGMP and MLD messages in Ethernet frames, read and written: IGMPv1 (RFC 1112 appendix I),
//! IGMPv2 (RFC 2236 §2), IGMPv3 (RFC 3376 §4) over IPv4, with the IP Router Alert option
//! (RFC 2113); MLDv1 (RFC 2710 §3) and MLDv2 (RFC 3810 §5) over IPv6, with the hop-by-hop
//! Router Alert option (RFC 2711). Pure: bytes in, values out, and back.
//!
//! [`Packet::parse`] takes a whole Ethernet frame (one 802.1Q tag allowed) and checks, in
//! order: the EtherType; the IPv4 header (version, header length, options, total length, no
//! fragment, header checksum) or the IPv6 header and its extension headers (hop-by-hop first,
//! destination options; a routing or fragment header is refused); then the IGMP checksum
//! (RFC 3376 §4.1.2: the whole message) or the ICMPv6 checksum over the pseudo-header
//! (RFC 8200 §8.1); then the message by type and length (RFC 3376 §7.1 tells the query
//! versions apart by length and Max Resp Code; RFC 3810 §8.1 the same for MLD). Group
//! addresses of reports and leaves must be multicast. A frame that is not IGMP or MLD at all
//! (ARP, UDP, other ICMPv6) is [`SnoopError::NotMembership`], which callers tell apart from
//! the malformed ones with [`SnoopError::is_malformed`].
//!
//! [`Packet::emit`] writes the frame back: TTL / hop limit as given, Router Alert when asked,
//! IPv4 TOS 0xc0 (internetwork control, as hosts send it), every checksum computed. Unknown
//! record types (RFC 3376 §4.2.12: ignored, not refused) and auxiliary data survive a round
//! trip. [`query`] builds the queries a querier sends.
//!
//! Guarantees: parsing never panics and never reads outside the frame, whatever the bytes
//! (a proptest feeds it random and mutated frames); a parsed packet emits the same message
//! bytes, and an emitted packet parses to itself.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use openflow::oxm::MacAddr;

/// IP protocol number of IGMP.
pub const IP_PROTO_IGMP: u8 = 2;
/// IPv6 next header of ICMPv6.
pub const IP_PROTO_ICMPV6: u8 = 58;
/// IGMP types (RFC 3376 §4, RFC 2236 §2.1).
pub const IGMP_QUERY: u8 = 0x11;
pub const IGMP_V1_REPORT: u8 = 0x12;
pub const IGMP_V2_REPORT: u8 = 0x16;
pub const IGMP_V2_LEAVE: u8 = 0x17;
pub const IGMP_V3_REPORT: u8 = 0x22;
/// MLD ICMPv6 types (RFC 2710 §3, RFC 3810 §5).
pub const MLD_QUERY: u8 = 130;
pub const MLD_V1_REPORT: u8 = 131;
pub const MLD_V1_DONE: u8 = 132;
pub const MLD_V2_REPORT: u8 = 143;
/// Every ICMPv6 type that is MLD.
pub const MLD_TYPES: [u8; 4] = [MLD_QUERY, MLD_V1_REPORT, MLD_V1_DONE, MLD_V2_REPORT];

/// 224.0.0.1: all systems, where IGMP general queries go.
pub const ALL_SYSTEMS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);
/// 224.0.0.22: where IGMPv3 reports go (RFC 3376 §4.2.14).
pub const IGMPV3_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 22);
/// 224.0.0.2: all routers, where IGMPv2 leaves go (RFC 2236 §3).
pub const ALL_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 2);
/// ff02::1: all nodes, where MLD general queries go.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// ff02::2: all routers, where MLDv1 dones go (RFC 2710 §4).
pub const ALL_ROUTERS_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
/// ff02::16: all MLDv2-capable routers, where MLDv2 reports go (RFC 3810 §5.2.14).
pub const MLDV2_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16);

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_VLAN: u16 = 0x8100;
/// IPv4 option Router Alert (RFC 2113): copied flag, class 0, number 20.
const IPV4_OPT_RA: u8 = 148;
/// IPv6 hop-by-hop option Router Alert (RFC 2711).
const IPV6_OPT_RA: u8 = 5;
/// IPv4 TOS of IGMP as hosts send it (internetwork control).
const IGMP_TOS: u8 = 0xc0;
/// At most this many IPv6 extension headers are walked.
const MAX_EXT_HEADERS: usize = 8;

/// Why a frame is not a usable IGMP or MLD message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnoopError {
    /// Not IGMP or MLD at all (another EtherType, protocol or ICMPv6 type).
    #[error("not an IGMP or MLD message")]
    NotMembership,
    #[error("{what} needs {need} bytes, the frame has {have}")]
    Truncated {
        what: &'static str,
        need: usize,
        have: usize,
    },
    #[error("bad {what}: {value:#x}")]
    BadField { what: &'static str, value: u32 },
    #[error("{what} checksum is wrong (the sum folds to {sum:#06x}, not 0xffff)")]
    Checksum { what: &'static str, sum: u16 },
    #[error("{what} of {len} bytes fits no version")]
    BadLength { what: &'static str, len: usize },
    #[error("{addr} in {what} is not a multicast address")]
    NotMulticast { what: &'static str, addr: IpAddr },
    #[error("a fragment of an IP packet (IGMP and MLD are never fragmented)")]
    Fragment,
    #[error("IPv6 extension header {0} is not supported before MLD")]
    UnsupportedHeader(u8),
    #[error("cannot emit: {0}")]
    Unrepresentable(&'static str),
}

impl SnoopError {
    /// Whether the frame claimed to be IGMP or MLD but could not be read (as opposed to
    /// [`SnoopError::NotMembership`]).
    pub fn is_malformed(&self) -> bool {
        !matches!(self, SnoopError::NotMembership)
    }
}

/// The protocol version of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    Igmp1,
    Igmp2,
    Igmp3,
    Mld1,
    Mld2,
}

impl Version {
    /// Whether the message travels in IPv6 (MLD).
    pub fn is_mld(self) -> bool {
        matches!(self, Version::Mld1 | Version::Mld2)
    }
}

/// A group record's type (RFC 3376 §4.2.12, RFC 3810 §5.2.12); an open enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordType {
    /// `MODE_IS_INCLUDE` (1): current state, include these sources.
    ModeIsInclude,
    /// `MODE_IS_EXCLUDE` (2): current state, all but these sources.
    ModeIsExclude,
    /// `CHANGE_TO_INCLUDE_MODE` (3); with no source it is a leave.
    ChangeToInclude,
    /// `CHANGE_TO_EXCLUDE_MODE` (4); with no source it is a join.
    ChangeToExclude,
    /// `ALLOW_NEW_SOURCES` (5).
    AllowNewSources,
    /// `BLOCK_OLD_SOURCES` (6).
    BlockOldSources,
    /// Anything else: receivers ignore the record (RFC 3376 §4.2.12).
    Unknown(u8),
}

impl From<u8> for RecordType {
    fn from(v: u8) -> Self {
        match v {
            1 => RecordType::ModeIsInclude,
            2 => RecordType::ModeIsExclude,
            3 => RecordType::ChangeToInclude,
            4 => RecordType::ChangeToExclude,
            5 => RecordType::AllowNewSources,
            6 => RecordType::BlockOldSources,
            x => RecordType::Unknown(x),
        }
    }
}

impl From<RecordType> for u8 {
    fn from(r: RecordType) -> u8 {
        match r {
            RecordType::ModeIsInclude => 1,
            RecordType::ModeIsExclude => 2,
            RecordType::ChangeToInclude => 3,
            RecordType::ChangeToExclude => 4,
            RecordType::AllowNewSources => 5,
            RecordType::BlockOldSources => 6,
            RecordType::Unknown(x) => x,
        }
    }
}

/// One group record of an IGMPv3 or MLDv2 report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRecord {
    pub kind: RecordType,
    /// The multicast address.
    pub group: IpAddr,
    /// The source list.
    pub sources: Vec<IpAddr>,
    /// Auxiliary data (a multiple of 4 bytes; none is defined, kept as is).
    pub aux: Vec<u8>,
}

/// A membership query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub version: Version,
    /// `None` for a general query, else the group of a group(-and-source)-specific query.
    pub group: Option<IpAddr>,
    /// Max Resp Code as on the wire (IGMP: 8 bits, MLD: 16 bits); see [`Query::max_resp`].
    pub max_resp_code: u16,
    /// IGMPv3 / MLDv2 only: suppress router-side processing (S flag).
    pub suppress: bool,
    /// IGMPv3 / MLDv2 only: the querier's robustness variable (QRV, 3 bits).
    pub qrv: u8,
    /// IGMPv3 / MLDv2 only: Querier's Query Interval Code (QQIC).
    pub qqic: u8,
    /// IGMPv3 / MLDv2 only: sources of a group-and-source-specific query.
    pub sources: Vec<IpAddr>,
}

impl Query {
    /// The maximum response time this query allows. IGMPv1 queries carry none: RFC 2236
    /// §4 has hosts use 10 s.
    pub fn max_resp(&self) -> Duration {
        match self.version {
            Version::Igmp1 => Duration::from_secs(10),
            Version::Igmp2 => Duration::from_millis(u64::from(self.max_resp_code) * 100),
            Version::Igmp3 => Duration::from_millis(decode_code8(self.max_resp_code as u8) * 100),
            Version::Mld1 => Duration::from_millis(u64::from(self.max_resp_code)),
            Version::Mld2 => Duration::from_millis(decode_mld_code(self.max_resp_code)),
        }
    }

    /// The querier's query interval (QQIC), for IGMPv3 and MLDv2 queries; zero otherwise.
    pub fn query_interval(&self) -> Duration {
        match self.version {
            Version::Igmp3 | Version::Mld2 => Duration::from_secs(decode_code8(self.qqic)),
            _ => Duration::ZERO,
        }
    }
}

/// What an IGMP or MLD message says.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    Query(Query),
    /// IGMPv1 or v2 membership report, MLDv1 report: the sender listens to `group`.
    Report {
        version: Version,
        group: IpAddr,
    },
    /// IGMPv2 leave group, MLDv1 done: the sender stops listening to `group`.
    Leave {
        version: Version,
        group: IpAddr,
    },
    /// IGMPv3 or MLDv2 report: the sender's state (or state changes) per group.
    ReportV3 {
        version: Version,
        records: Vec<GroupRecord>,
    },
}

impl Message {
    /// The protocol version.
    pub fn version(&self) -> Version {
        match self {
            Message::Query(q) => q.version,
            Message::Report { version, .. }
            | Message::Leave { version, .. }
            | Message::ReportV3 { version, .. } => *version,
        }
    }
}

/// An IGMP or MLD message with the headers around it that matter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    /// IP source and destination (IPv4 for IGMP, IPv6 for MLD).
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit (1 from a conforming sender).
    pub ttl: u8,
    /// Whether the IP Router Alert option was present.
    pub router_alert: bool,
    pub msg: Message,
}

// ---------------------------------------------------------------------------------------------
// Reading.

/// A bounds-checked view of the frame.
#[derive(Clone, Copy)]
struct Bytes<'a> {
    data: &'a [u8],
    what: &'static str,
}

impl<'a> Bytes<'a> {
    fn new(data: &'a [u8], what: &'static str) -> Self {
        Bytes { data, what }
    }
    fn get(&self, from: usize, len: usize) -> Result<&'a [u8], SnoopError> {
        let end = from.checked_add(len).ok_or(SnoopError::Truncated {
            what: self.what,
            need: usize::MAX,
            have: self.data.len(),
        })?;
        self.data.get(from..end).ok_or(SnoopError::Truncated {
            what: self.what,
            need: end,
            have: self.data.len(),
        })
    }
    fn u8(&self, at: usize) -> Result<u8, SnoopError> {
        Ok(self.get(at, 1)?[0])
    }
    fn u16(&self, at: usize) -> Result<u16, SnoopError> {
        let b = self.get(at, 2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn v4(&self, at: usize) -> Result<Ipv4Addr, SnoopError> {
        let b = self.get(at, 4)?;
        Ok(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    }
    fn v6(&self, at: usize) -> Result<Ipv6Addr, SnoopError> {
        let b = self.get(at, 16)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        Ok(Ipv6Addr::from(a))
    }
}

/// The Internet checksum's folded one's complement sum of `parts` (RFC 1071).
fn ones_sum(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    for p in parts {
        let mut chunks = p.chunks_exact(2);
        for c in &mut chunks {
            sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u64::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

fn verify(what: &'static str, parts: &[&[u8]]) -> Result<(), SnoopError> {
    match ones_sum(parts) {
        0xffff => Ok(()),
        sum => Err(SnoopError::Checksum { what, sum }),
    }
}

fn mac_at(b: &Bytes<'_>, at: usize) -> Result<MacAddr, SnoopError> {
    let s = b.get(at, 6)?;
    let mut m = [0u8; 6];
    m.copy_from_slice(s);
    Ok(MacAddr(m))
}

fn multicast(what: &'static str, addr: IpAddr) -> Result<IpAddr, SnoopError> {
    if addr.is_multicast() {
        Ok(addr)
    } else {
        Err(SnoopError::NotMulticast { what, addr })
    }
}

/// The floating-point codes of IGMPv3 and MLDv2: below `1 << (mant_bits + 3)` the value
/// itself, else `1 exp(3) mant(mant_bits)` meaning `(mant | 1 << mant_bits) << (exp + 3)`.
fn decode_float(code: u64, mant_bits: u32) -> u64 {
    if code < 1 << (mant_bits + 3) {
        code
    } else {
        let exp = (code >> mant_bits) & 0x7;
        let mant = code & ((1 << mant_bits) - 1);
        (mant | 1 << mant_bits) << (exp + 3)
    }
}

/// The code of `value` in [`decode_float`]'s format, rounded down (the largest code when
/// `value` is beyond it).
fn encode_float(value: u64, mant_bits: u32) -> u64 {
    let plain = 1u64 << (mant_bits + 3);
    if value < plain {
        return value;
    }
    for exp in 0u64..8 {
        let mant = value >> (exp + 3);
        if mant < 2 << mant_bits {
            return plain | exp << mant_bits | (mant & ((1 << mant_bits) - 1));
        }
    }
    (plain << 1) - 1
}

/// IGMPv3 8-bit codes (Max Resp Code, QQIC; RFC 3376 §4.1.1, §4.1.7): below 128 the value
/// itself, else `1 exp(3) mant(4)` meaning `(mant | 0x10) << (exp + 3)`.
pub fn decode_code8(code: u8) -> u64 {
    decode_float(u64::from(code), 4)
}

/// The 8-bit code of `value` (rounded down to what the code can say; at most 31744).
pub fn encode_code8(value: u64) -> u8 {
    u8::try_from(encode_float(value, 4)).unwrap_or(u8::MAX)
}

/// MLDv2's 16-bit Max Resp Code (RFC 3810 §5.1.3), in milliseconds: below 32768 the value,
/// else `1 exp(3) mant(12)` meaning `(mant | 0x1000) << (exp + 3)`.
pub fn decode_mld_code(code: u16) -> u64 {
    decode_float(u64::from(code), 12)
}

/// The 16-bit code of `ms` (rounded down; at most 8387584 ms).
pub fn encode_mld_code(ms: u64) -> u16 {
    u16::try_from(encode_float(ms, 12)).unwrap_or(u16::MAX)
}

impl Packet {
    /// Reads an IGMP or MLD message from a whole Ethernet frame (see the module header).
    pub fn parse(frame: &[u8]) -> Result<Packet, SnoopError> {
        let b = Bytes::new(frame, "Ethernet header");
        let dst_mac = mac_at(&b, 0)?;
        let src_mac = mac_at(&b, 6)?;
        let mut eth_type = b.u16(12)?;
        let mut at = 14;
        if eth_type == ETH_VLAN {
            eth_type = b.u16(16)?;
            at = 18;
        }
        let ip = frame.get(at..).unwrap_or_default();
        match eth_type {
            ETH_IPV4 => parse_v4(src_mac, dst_mac, ip),
            ETH_IPV6 => parse_v6(src_mac, dst_mac, ip),
            _ => Err(SnoopError::NotMembership),
        }
    }

    /// The whole Ethernet frame (see the module header).
    pub fn emit(&self) -> Result<Vec<u8>, SnoopError> {
        let mut f = Vec::with_capacity(128);
        f.extend_from_slice(&self.dst_mac.0);
        f.extend_from_slice(&self.src_mac.0);
        match (self.src, self.dst, self.msg.version().is_mld()) {
            (IpAddr::V4(src), IpAddr::V4(dst), false) => {
                let body = emit_igmp(&self.msg)?;
                f.extend_from_slice(&ETH_IPV4.to_be_bytes());
                let hlen = if self.router_alert { 24 } else { 20 };
                let total = u16::try_from(hlen + body.len())
                    .map_err(|_| SnoopError::Unrepresentable("IPv4 packet over 64 KiB"))?;
                let mut h = Vec::with_capacity(hlen);
                h.push(0x40 | (hlen / 4) as u8);
                h.push(IGMP_TOS);
                h.extend_from_slice(&total.to_be_bytes());
                h.extend_from_slice(&[0, 0, 0, 0]); // identification, flags, fragment offset
                h.push(self.ttl);
                h.push(IP_PROTO_IGMP);
                h.extend_from_slice(&[0, 0]);
                h.extend_from_slice(&src.octets());
                h.extend_from_slice(&dst.octets());
                if self.router_alert {
                    h.extend_from_slice(&[IPV4_OPT_RA, 4, 0, 0]);
                }
                let c = !ones_sum(&[&h]);
                h[10..12].copy_from_slice(&c.to_be_bytes());
                f.extend_from_slice(&h);
                f.extend_from_slice(&body);
            }
            (IpAddr::V6(src), IpAddr::V6(dst), true) => {
                let mut body = emit_mld(&self.msg)?;
                let c = !icmpv6_sum(&src, &dst, &body);
                body[2..4].copy_from_slice(&c.to_be_bytes());
                f.extend_from_slice(&ETH_IPV6.to_be_bytes());
                let ext = if self.router_alert { 8 } else { 0 };
                let plen = u16::try_from(ext + body.len())
                    .map_err(|_| SnoopError::Unrepresentable("IPv6 payload over 64 KiB"))?;
                f.extend_from_slice(&[0x60, 0, 0, 0]);
                f.extend_from_slice(&plen.to_be_bytes());
                f.push(if self.router_alert {
                    0
                } else {
                    IP_PROTO_ICMPV6
                });
                f.push(self.ttl);
                f.extend_from_slice(&src.octets());
                f.extend_from_slice(&dst.octets());
                if self.router_alert {
                    // Hop-by-hop: next header, length 0 (8 bytes), Router Alert "MLD" (RFC
                    // 2711 value 0), PadN of 0 bytes.
                    f.extend_from_slice(&[IP_PROTO_ICMPV6, 0, IPV6_OPT_RA, 2, 0, 0, 1, 0]);
                }
                f.extend_from_slice(&body);
            }
            _ => {
                return Err(SnoopError::Unrepresentable(
                    "addresses of another family than the message's",
                ))
            }
        }
        Ok(f)
    }
}

fn parse_v4(src_mac: MacAddr, dst_mac: MacAddr, ip: &[u8]) -> Result<Packet, SnoopError> {
    let b = Bytes::new(ip, "IPv4 header");
    // The protocol first: anything but IGMP is not ours, however short.
    if b.u8(9)? != IP_PROTO_IGMP {
        return Err(SnoopError::NotMembership);
    }
    let vihl = b.u8(0)?;
    if vihl >> 4 != 4 || vihl & 0x0f < 5 {
        return Err(SnoopError::BadField {
            what: "IPv4 version / header length",
            value: u32::from(vihl),
        });
    }
    let hlen = usize::from(vihl & 0x0f) * 4;
    let header = b.get(0, hlen)?;
    let total = usize::from(b.u16(2)?);
    if total < hlen {
        return Err(SnoopError::BadField {
            what: "IPv4 total length",
            value: total as u32,
        });
    }
    let packet = Bytes::new(ip, "IPv4 packet").get(0, total)?;
    let frag = b.u16(6)?;
    // More fragments, or an offset: a fragment.
    if frag & 0x3fff != 0 {
        return Err(SnoopError::Fragment);
    }
    verify("IPv4 header", &[header])?;
    let router_alert = ipv4_router_alert(&header[20..])?;
    let src = IpAddr::V4(b.v4(12)?);
    let dst = IpAddr::V4(b.v4(16)?);
    let igmp = &packet[hlen..];
    verify("IGMP", &[igmp])?;
    let msg = parse_igmp(igmp)?;
    Ok(Packet {
        src_mac,
        dst_mac,
        src,
        dst,
        ttl: header[8],
        router_alert,
        msg,
    })
}

/// Walks IPv4 options (RFC 791 §3.1); whether Router Alert is among them.
fn ipv4_router_alert(opts: &[u8]) -> Result<bool, SnoopError> {
    let mut at = 0;
    let mut ra = false;
    while let Some(&kind) = opts.get(at) {
        match kind {
            0 => break,
            1 => at += 1,
            _ => {
                let len = usize::from(*opts.get(at + 1).ok_or(SnoopError::Truncated {
                    what: "IPv4 option",
                    need: at + 2,
                    have: opts.len(),
                })?);
                if len < 2 || at + len > opts.len() {
                    return Err(SnoopError::BadField {
                        what: "IPv4 option length",
                        value: len as u32,
                    });
                }
                if kind == IPV4_OPT_RA {
                    if len != 4 {
                        return Err(SnoopError::BadField {
                            what: "IPv4 Router Alert length",
                            value: len as u32,
                        });
                    }
                    ra = true;
                }
                at += len;
            }
        }
    }
    Ok(ra)
}

fn parse_igmp(m: &[u8]) -> Result<Message, SnoopError> {
    let b = Bytes::new(m, "IGMP message");
    let kind = b.u8(0)?;
    let len = m.len();
    match kind {
        IGMP_QUERY => {
            let code = b.u8(1)?;
            let g = b.v4(4)?;
            let group = (!g.is_unspecified())
                .then(|| multicast("IGMP query group", IpAddr::V4(g)))
                .transpose()?;
            // RFC 3376 §7.1: 8 bytes is v1 (code 0) or v2; 12 or more is v3; else ignored.
            if len == 8 {
                let version = if code == 0 {
                    Version::Igmp1
                } else {
                    Version::Igmp2
                };
                return Ok(Message::Query(Query {
                    version,
                    group,
                    max_resp_code: u16::from(code),
                    suppress: false,
                    qrv: 0,
                    qqic: 0,
                    sources: Vec::new(),
                }));
            }
            if len < 12 {
                return Err(SnoopError::BadLength {
                    what: "IGMP query",
                    len,
                });
            }
            let flags = b.u8(8)?;
            let qqic = b.u8(9)?;
            let n = usize::from(b.u16(10)?);
            let mut sources = Vec::with_capacity(n.min(len / 4));
            for i in 0..n {
                sources.push(IpAddr::V4(b.v4(12 + 4 * i)?));
            }
            Ok(Message::Query(Query {
                version: Version::Igmp3,
                group,
                max_resp_code: u16::from(code),
                suppress: flags & 0x08 != 0,
                qrv: flags & 0x07,
                qqic,
                sources,
            }))
        }
        IGMP_V1_REPORT | IGMP_V2_REPORT | IGMP_V2_LEAVE => {
            if len < 8 {
                return Err(SnoopError::BadLength {
                    what: "IGMP report",
                    len,
                });
            }
            let group = multicast("IGMP report group", IpAddr::V4(b.v4(4)?))?;
            Ok(match kind {
                IGMP_V1_REPORT => Message::Report {
                    version: Version::Igmp1,
                    group,
                },
                IGMP_V2_REPORT => Message::Report {
                    version: Version::Igmp2,
                    group,
                },
                _ => Message::Leave {
                    version: Version::Igmp2,
                    group,
                },
            })
        }
        IGMP_V3_REPORT => {
            let n = usize::from(b.u16(6)?);
            let records = parse_records(&b, 8, n, 4)?;
            Ok(Message::ReportV3 {
                version: Version::Igmp3,
                records,
            })
        }
        _ => Err(SnoopError::NotMembership),
    }
}

/// `n` group records from `at`, with addresses of `alen` bytes (4 or 16).
fn parse_records(
    b: &Bytes<'_>,
    mut at: usize,
    n: usize,
    alen: usize,
) -> Result<Vec<GroupRecord>, SnoopError> {
    let addr = |at: usize| -> Result<IpAddr, SnoopError> {
        Ok(if alen == 4 {
            IpAddr::V4(b.v4(at)?)
        } else {
            IpAddr::V6(b.v6(at)?)
        })
    };
    // Every record takes at least 4 + alen bytes: a bogus count cannot make us allocate.
    let mut records = Vec::with_capacity(n.min(b.data.len() / (4 + alen)));
    for _ in 0..n {
        let kind = RecordType::from(b.u8(at)?);
        let aux_words = usize::from(b.u8(at + 1)?);
        let ns = usize::from(b.u16(at + 2)?);
        let group = multicast("group record", addr(at + 4)?)?;
        at += 4 + alen;
        // The whole record must be there before the source list is allocated.
        b.get(at, ns * alen + aux_words * 4)?;
        let mut sources = Vec::with_capacity(ns);
        for _ in 0..ns {
            sources.push(addr(at)?);
            at += alen;
        }
        let aux = b.get(at, aux_words * 4)?.to_vec();
        at += aux_words * 4;
        records.push(GroupRecord {
            kind,
            group,
            sources,
            aux,
        });
    }
    Ok(records)
}

fn parse_v6(src_mac: MacAddr, dst_mac: MacAddr, ip: &[u8]) -> Result<Packet, SnoopError> {
    let b = Bytes::new(ip, "IPv6 header");
    let first = b.u8(0)?;
    let mut next = b.u8(6)?;
    // Only a packet that could be ICMPv6 is looked at further.
    if !matches!(next, 0 | 60 | 43 | 44 | IP_PROTO_ICMPV6) {
        return Err(SnoopError::NotMembership);
    }
    if first >> 4 != 6 {
        return Err(SnoopError::BadField {
            what: "IPv6 version",
            value: u32::from(first >> 4),
        });
    }
    let plen = usize::from(b.u16(4)?);
    let hop_limit = b.u8(7)?;
    let src = b.v6(8)?;
    let dst = b.v6(24)?;
    let mut at = 40;
    let mut router_alert = false;
    let mut walked = 0;
    while next != IP_PROTO_ICMPV6 {
        walked += 1;
        if walked > MAX_EXT_HEADERS {
            return Err(SnoopError::BadField {
                what: "IPv6 extension header count",
                value: walked as u32,
            });
        }
        match next {
            // RFC 8200 §4.1: hop-by-hop only right after the IPv6 header.
            0 if at != 40 => {
                return Err(SnoopError::BadField {
                    what: "hop-by-hop header position",
                    value: at as u32,
                })
            }
            0 | 60 => {
                let h = Bytes::new(ip, "IPv6 extension header");
                let nh = h.u8(at)?;
                let len = (usize::from(h.u8(at + 1)?) + 1) * 8;
                let opts = h.get(at + 2, len - 2)?;
                if next == 0 {
                    router_alert |= ipv6_router_alert(opts)?;
                } else {
                    ipv6_router_alert(opts)?;
                }
                next = nh;
                at += len;
            }
            44 => return Err(SnoopError::Fragment),
            43 | 51 | 50 => return Err(SnoopError::UnsupportedHeader(next)),
            _ => return Err(SnoopError::NotMembership),
        }
    }
    if plen == 0 {
        // A jumbogram (RFC 2675) or nothing: never MLD.
        return Err(SnoopError::BadField {
            what: "IPv6 payload length",
            value: 0,
        });
    }
    let end = 40 + plen;
    let packet = Bytes::new(ip, "IPv6 packet").get(0, end)?;
    let icmp = packet.get(at..).ok_or(SnoopError::Truncated {
        what: "ICMPv6 message",
        need: at,
        have: end,
    })?;
    let t = Bytes::new(icmp, "ICMPv6 message").u8(0)?;
    if !MLD_TYPES.contains(&t) {
        return Err(SnoopError::NotMembership);
    }
    let sum = icmpv6_sum(&src, &dst, icmp);
    if sum != 0xffff {
        return Err(SnoopError::Checksum {
            what: "ICMPv6",
            sum,
        });
    }
    let msg = parse_mld(icmp)?;
    Ok(Packet {
        src_mac,
        dst_mac,
        src: IpAddr::V6(src),
        dst: IpAddr::V6(dst),
        ttl: hop_limit,
        router_alert,
        msg,
    })
}

/// The folded sum of the ICMPv6 pseudo-header (RFC 8200 §8.1) and `msg`.
fn icmpv6_sum(src: &Ipv6Addr, dst: &Ipv6Addr, msg: &[u8]) -> u16 {
    let len = (msg.len() as u32).to_be_bytes();
    ones_sum(&[
        &src.octets(),
        &dst.octets(),
        &len,
        &[0, 0, 0, IP_PROTO_ICMPV6],
        msg,
    ])
}

/// Walks IPv6 TLV options (RFC 8200 §4.2); whether Router Alert is among them.
fn ipv6_router_alert(opts: &[u8]) -> Result<bool, SnoopError> {
    let mut at = 0;
    let mut ra = false;
    while let Some(&kind) = opts.get(at) {
        if kind == 0 {
            at += 1; // Pad1
            continue;
        }
        let len = usize::from(*opts.get(at + 1).ok_or(SnoopError::Truncated {
            what: "IPv6 option",
            need: at + 2,
            have: opts.len(),
        })?);
        if at + 2 + len > opts.len() {
            return Err(SnoopError::BadField {
                what: "IPv6 option length",
                value: len as u32,
            });
        }
        if kind == IPV6_OPT_RA {
            if len != 2 {
                return Err(SnoopError::BadField {
                    what: "IPv6 Router Alert length",
                    value: len as u32,
                });
            }
            ra = true;
        }
        at += 2 + len;
    }
    Ok(ra)
}

fn parse_mld(m: &[u8]) -> Result<Message, SnoopError> {
    let b = Bytes::new(m, "MLD message");
    let kind = b.u8(0)?;
    let len = m.len();
    match kind {
        MLD_QUERY => {
            if len < 24 {
                return Err(SnoopError::BadLength {
                    what: "MLD query",
                    len,
                });
            }
            let code = b.u16(4)?;
            let g = b.v6(8)?;
            let group = (!g.is_unspecified())
                .then(|| multicast("MLD query group", IpAddr::V6(g)))
                .transpose()?;
            // RFC 3810 §8.1: 24 bytes is MLDv1, 28 or more MLDv2, else ignored.
            if len == 24 {
                return Ok(Message::Query(Query {
                    version: Version::Mld1,
                    group,
                    max_resp_code: code,
                    suppress: false,
                    qrv: 0,
                    qqic: 0,
                    sources: Vec::new(),
                }));
            }
            if len < 28 {
                return Err(SnoopError::BadLength {
                    what: "MLD query",
                    len,
                });
            }
            let flags = b.u8(24)?;
            let qqic = b.u8(25)?;
            let n = usize::from(b.u16(26)?);
            b.get(28, n * 16)?;
            let mut sources = Vec::with_capacity(n);
            for i in 0..n {
                sources.push(IpAddr::V6(b.v6(28 + 16 * i)?));
            }
            Ok(Message::Query(Query {
                version: Version::Mld2,
                group,
                max_resp_code: code,
                suppress: flags & 0x08 != 0,
                qrv: flags & 0x07,
                qqic,
                sources,
            }))
        }
        MLD_V1_REPORT | MLD_V1_DONE => {
            if len < 24 {
                return Err(SnoopError::BadLength {
                    what: "MLDv1 message",
                    len,
                });
            }
            let group = multicast("MLD report group", IpAddr::V6(b.v6(8)?))?;
            Ok(if kind == MLD_V1_REPORT {
                Message::Report {
                    version: Version::Mld1,
                    group,
                }
            } else {
                Message::Leave {
                    version: Version::Mld1,
                    group,
                }
            })
        }
        MLD_V2_REPORT => {
            let n = usize::from(b.u16(6)?);
            let records = parse_records(&b, 8, n, 16)?;
            Ok(Message::ReportV3 {
                version: Version::Mld2,
                records,
            })
        }
        _ => Err(SnoopError::NotMembership),
    }
}

// ---------------------------------------------------------------------------------------------
// Writing.

fn v4_of(a: IpAddr) -> Result<Ipv4Addr, SnoopError> {
    match a {
        IpAddr::V4(v) => Ok(v),
        IpAddr::V6(_) => Err(SnoopError::Unrepresentable("an IPv6 address in IGMP")),
    }
}

fn v6_of(a: IpAddr) -> Result<Ipv6Addr, SnoopError> {
    match a {
        IpAddr::V6(v) => Ok(v),
        IpAddr::V4(_) => Err(SnoopError::Unrepresentable("an IPv4 address in MLD")),
    }
}

fn count16(n: usize, what: &'static str) -> Result<[u8; 2], SnoopError> {
    u16::try_from(n)
        .map(u16::to_be_bytes)
        .map_err(|_| SnoopError::Unrepresentable(what))
}

fn emit_records(out: &mut Vec<u8>, records: &[GroupRecord], v6: bool) -> Result<(), SnoopError> {
    out.extend_from_slice(&count16(records.len(), "more than 65535 records")?);
    for r in records {
        if r.aux.len() % 4 != 0 || r.aux.len() / 4 > 255 {
            return Err(SnoopError::Unrepresentable(
                "auxiliary data not a multiple of 4 bytes (at most 1020)",
            ));
        }
        out.push(r.kind.into());
        out.push((r.aux.len() / 4) as u8);
        out.extend_from_slice(&count16(r.sources.len(), "more than 65535 sources")?);
        for a in std::iter::once(&r.group).chain(&r.sources) {
            if v6 {
                out.extend_from_slice(&v6_of(*a)?.octets());
            } else {
                out.extend_from_slice(&v4_of(*a)?.octets());
            }
        }
        out.extend_from_slice(&r.aux);
    }
    Ok(())
}

/// The IGMP message with its checksum.
fn emit_igmp(msg: &Message) -> Result<Vec<u8>, SnoopError> {
    let mut m = Vec::with_capacity(32);
    let group4 = |g: Option<IpAddr>| -> Result<[u8; 4], SnoopError> {
        Ok(match g {
            None => [0; 4],
            Some(a) => v4_of(a)?.octets(),
        })
    };
    match msg {
        Message::Query(q) => {
            let code = u8::try_from(q.max_resp_code)
                .map_err(|_| SnoopError::Unrepresentable("IGMP Max Resp Code over 255"))?;
            m.extend_from_slice(&[IGMP_QUERY, code, 0, 0]);
            m.extend_from_slice(&group4(q.group)?);
            match q.version {
                Version::Igmp1 | Version::Igmp2 => {}
                Version::Igmp3 => {
                    m.push((u8::from(q.suppress) << 3) | (q.qrv & 0x07));
                    m.push(q.qqic);
                    m.extend_from_slice(&count16(q.sources.len(), "more than 65535 sources")?);
                    for s in &q.sources {
                        m.extend_from_slice(&v4_of(*s)?.octets());
                    }
                }
                _ => return Err(SnoopError::Unrepresentable("an MLD query in IGMP")),
            }
        }
        Message::Report { version, group } | Message::Leave { version, group } => {
            let kind = match (msg, version) {
                (Message::Report { .. }, Version::Igmp1) => IGMP_V1_REPORT,
                (Message::Report { .. }, Version::Igmp2) => IGMP_V2_REPORT,
                (Message::Leave { .. }, Version::Igmp2) => IGMP_V2_LEAVE,
                _ => return Err(SnoopError::Unrepresentable("no such IGMP report or leave")),
            };
            m.extend_from_slice(&[kind, 0, 0, 0]);
            m.extend_from_slice(&group4(Some(*group))?);
        }
        Message::ReportV3 { version, records } => {
            if *version != Version::Igmp3 {
                return Err(SnoopError::Unrepresentable("an MLDv2 report in IGMP"));
            }
            m.extend_from_slice(&[IGMP_V3_REPORT, 0, 0, 0, 0, 0]);
            emit_records(&mut m, records, false)?;
        }
    }
    let c = !ones_sum(&[&m]);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    Ok(m)
}

/// The MLD message with a zero checksum (it needs the pseudo-header).
fn emit_mld(msg: &Message) -> Result<Vec<u8>, SnoopError> {
    let mut m = Vec::with_capacity(48);
    let group6 = |g: Option<IpAddr>| -> Result<[u8; 16], SnoopError> {
        Ok(match g {
            None => [0; 16],
            Some(a) => v6_of(a)?.octets(),
        })
    };
    match msg {
        Message::Query(q) => {
            m.extend_from_slice(&[MLD_QUERY, 0, 0, 0]);
            m.extend_from_slice(&q.max_resp_code.to_be_bytes());
            m.extend_from_slice(&[0, 0]);
            m.extend_from_slice(&group6(q.group)?);
            match q.version {
                Version::Mld1 => {}
                Version::Mld2 => {
                    m.push((u8::from(q.suppress) << 3) | (q.qrv & 0x07));
                    m.push(q.qqic);
                    m.extend_from_slice(&count16(q.sources.len(), "more than 65535 sources")?);
                    for s in &q.sources {
                        m.extend_from_slice(&v6_of(*s)?.octets());
                    }
                }
                _ => return Err(SnoopError::Unrepresentable("an IGMP query in MLD")),
            }
        }
        Message::Report { version, group } | Message::Leave { version, group } => {
            if *version != Version::Mld1 {
                return Err(SnoopError::Unrepresentable("no such MLD report or done"));
            }
            let kind = if matches!(msg, Message::Report { .. }) {
                MLD_V1_REPORT
            } else {
                MLD_V1_DONE
            };
            m.extend_from_slice(&[kind, 0, 0, 0, 0, 0, 0, 0]);
            m.extend_from_slice(&group6(Some(*group))?);
        }
        Message::ReportV3 { version, records } => {
            if *version != Version::Mld2 {
                return Err(SnoopError::Unrepresentable("an IGMPv3 report in MLD"));
            }
            m.extend_from_slice(&[MLD_V2_REPORT, 0, 0, 0, 0, 0]);
            emit_records(&mut m, records, true)?;
        }
    }
    Ok(m)
}

/// The Ethernet group address an IP multicast address maps to (RFC 1112 §6.4, RFC 2464 §7).
pub fn multicast_mac(group: IpAddr) -> MacAddr {
    match group {
        IpAddr::V4(a) => {
            let o = a.octets();
            MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
        }
        IpAddr::V6(a) => {
            let o = a.octets();
            MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
        }
    }
}

/// A querier's query from `src_mac` / `src`: IGMPv3 for an IPv4 source, MLDv2 for an IPv6
/// one (which RFC 3810 §5.1.14 wants link-local). General (to all systems / all nodes) when
/// `group` is `None`, else group-specific (to the group). TTL / hop limit 1, Router Alert,
/// QRV `robustness`, QQIC from `interval`, Max Resp Code from `max_resp`; a v3 query
/// answers v2 hosts too (RFC 3376 §7.2.1).
pub fn query(
    src_mac: MacAddr,
    src: IpAddr,
    group: Option<IpAddr>,
    max_resp: Duration,
    robustness: u8,
    interval: Duration,
) -> Packet {
    let qrv = if robustness > 7 { 0 } else { robustness };
    let qqic = encode_code8(interval.as_secs());
    let (version, dst, code) = match src {
        IpAddr::V4(_) => (
            Version::Igmp3,
            group.unwrap_or(IpAddr::V4(ALL_SYSTEMS)),
            u16::from(encode_code8((max_resp.as_millis() / 100) as u64)),
        ),
        IpAddr::V6(_) => (
            Version::Mld2,
            group.unwrap_or(IpAddr::V6(ALL_NODES)),
            encode_mld_code(max_resp.as_millis() as u64),
        ),
    };
    Packet {
        src_mac,
        dst_mac: multicast_mac(dst),
        src,
        dst,
        ttl: 1,
        router_alert: true,
        msg: Message::Query(Query {
            version,
            group,
            max_resp_code: code,
            suppress: false,
            qrv,
            qqic,
            sources: Vec::new(),
        }),
    }
}

/// A host's packet carrying `msg` from `src_mac` / `src` to `dst`, as a conforming host sends
/// it (TTL / hop limit 1, Router Alert).
pub fn host_packet(src_mac: MacAddr, src: IpAddr, dst: IpAddr, msg: Message) -> Packet {
    Packet {
        src_mac,
        dst_mac: multicast_mac(dst),
        src,
        dst,
        ttl: 1,
        router_alert: true,
        msg,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    const HOST: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x05]);

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse().unwrap())
    }
    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse().unwrap())
    }

    // Golden frames, laid out field by field from the RFCs' diagrams. The checksums were
    // worked out separately (one's complement sums by hand, checked with a script) and the
    // frames were read by tshark as good (tests/snoop_tshark.rs reads our emitted ones).

    /// IGMPv2 membership report (RFC 2236 §2) for 239.1.2.3 from 10.0.0.5, with Router Alert.
    const IGMPV2_REPORT: &str = "
        01 00 5e 01 02 03  02 00 00 00 00 05  08 00
        46 c0 00 20  00 00 00 00  01 02 29 0f  0a 00 00 05  ef 01 02 03  94 04 00 00
        16 00 f8 fa  ef 01 02 03";

    /// IGMPv3 report (RFC 3376 §4.2) to 224.0.0.22 from 10.0.0.5: two records,
    /// CHANGE_TO_EXCLUDE_MODE 239.1.2.3 (no source) and ALLOW_NEW_SOURCES 232.1.1.1
    /// {10.9.9.9}.
    const IGMPV3_REPORT: &str = "
        01 00 5e 00 00 16  02 00 00 00 00 05  08 00
        46 c0 00 34  00 00 00 00  01 02 39 e9  0a 00 00 05  e0 00 00 16  94 04 00 00
        22 00 e7 e2  00 00 00 02
        04 00 00 00  ef 01 02 03
        05 00 00 01  e8 01 01 01  0a 09 09 09";

    /// MLDv2 report (RFC 3810 §5.2) to ff02::16 from fe80::5: one record
    /// CHANGE_TO_INCLUDE_MODE ff1e::1:2 with no source (a leave), hop-by-hop Router Alert.
    const MLDV2_REPORT: &str = "
        33 33 00 00 00 16  02 00 00 00 00 05  86 dd
        60 00 00 00  00 24 00 01
        fe 80 00 00 00 00 00 00 00 00 00 00 00 00 00 05
        ff 02 00 00 00 00 00 00 00 00 00 00 00 00 00 16
        3a 00 05 02 00 00 01 00
        8f 00 70 e7  00 00 00 01
        03 00 00 00  ff 1e 00 00 00 00 00 00 00 00 00 00 00 01 00 02";

    /// MLDv1 done (RFC 2710 §3) for ff1e::1:2 from fe80::5 to ff02::2.
    const MLDV1_DONE: &str = "
        33 33 00 00 00 02  02 00 00 00 00 05  86 dd
        60 00 00 00  00 20 00 01
        fe 80 00 00 00 00 00 00 00 00 00 00 00 00 00 05
        ff 02 00 00 00 00 00 00 00 00 00 00 00 00 00 02
        3a 00 05 02 00 00 01 00
        84 00 7f 00  00 00 00 00
        ff 1e 00 00 00 00 00 00 00 00 00 00 00 01 00 02";

    #[test]
    fn golden_igmpv2_report() {
        let f = hex(IGMPV2_REPORT);
        let p = Packet::parse(&f).unwrap();
        assert_eq!(
            p,
            host_packet(
                HOST,
                v4("10.0.0.5"),
                v4("239.1.2.3"),
                Message::Report {
                    version: Version::Igmp2,
                    group: v4("239.1.2.3")
                }
            )
        );
        assert_eq!(p.emit().unwrap(), f);
    }

    #[test]
    fn golden_igmpv3_report() {
        let f = hex(IGMPV3_REPORT);
        let p = Packet::parse(&f).unwrap();
        let want = Message::ReportV3 {
            version: Version::Igmp3,
            records: vec![
                GroupRecord {
                    kind: RecordType::ChangeToExclude,
                    group: v4("239.1.2.3"),
                    sources: vec![],
                    aux: vec![],
                },
                GroupRecord {
                    kind: RecordType::AllowNewSources,
                    group: v4("232.1.1.1"),
                    sources: vec![v4("10.9.9.9")],
                    aux: vec![],
                },
            ],
        };
        assert_eq!(p.msg, want);
        assert_eq!(
            (p.src, p.dst, p.ttl, p.router_alert),
            (v4("10.0.0.5"), v4("224.0.0.22"), 1, true)
        );
        assert_eq!(p.emit().unwrap(), f);
    }

    #[test]
    fn golden_mldv2_report_and_mldv1_done() {
        let f = hex(MLDV2_REPORT);
        let p = Packet::parse(&f).unwrap();
        assert_eq!(
            p.msg,
            Message::ReportV3 {
                version: Version::Mld2,
                records: vec![GroupRecord {
                    kind: RecordType::ChangeToInclude,
                    group: v6("ff1e::1:2"),
                    sources: vec![],
                    aux: vec![],
                }]
            }
        );
        assert_eq!(
            (p.src, p.dst, p.ttl, p.router_alert),
            (v6("fe80::5"), v6("ff02::16"), 1, true)
        );
        assert_eq!(p.emit().unwrap(), f);

        let f = hex(MLDV1_DONE);
        let p = Packet::parse(&f).unwrap();
        assert_eq!(
            p.msg,
            Message::Leave {
                version: Version::Mld1,
                group: v6("ff1e::1:2")
            }
        );
        assert_eq!(p.emit().unwrap(), f);
    }

    #[test]
    fn checksums_are_verified() {
        for (golden, at) in [
            (IGMPV2_REPORT, 14 + 24 + 2), // IGMP checksum
            (IGMPV2_REPORT, 14 + 10),     // IPv4 header checksum
            (MLDV2_REPORT, 14 + 48 + 2),  // ICMPv6 checksum
            (MLDV2_REPORT, 14 + 8 + 15),  // the source address (pseudo-header)
        ] {
            let mut f = hex(golden);
            f[at] ^= 0x40;
            assert!(
                matches!(Packet::parse(&f), Err(SnoopError::Checksum { .. })),
                "byte {at} of {golden}"
            );
        }
    }

    #[test]
    fn query_versions_are_told_apart_by_length_and_code() {
        // RFC 3376 §7.1.
        let base = host_packet(
            HOST,
            v4("10.0.0.1"),
            v4("224.0.0.1"),
            Message::Query(Query {
                version: Version::Igmp2,
                group: None,
                max_resp_code: 100,
                suppress: false,
                qrv: 0,
                qqic: 0,
                sources: vec![],
            }),
        );
        let f = base.emit().unwrap();
        assert_eq!(Packet::parse(&f).unwrap(), base);
        let Message::Query(q) = &base.msg else {
            unreachable!()
        };
        assert_eq!(q.max_resp(), Duration::from_secs(10));
        let mut v1 = base.clone();
        if let Message::Query(q) = &mut v1.msg {
            q.version = Version::Igmp1;
            q.max_resp_code = 0;
        }
        assert_eq!(Packet::parse(&v1.emit().unwrap()).unwrap(), v1);
        // An IGMP query of 10 bytes fits no version.
        let mut bad = f.clone();
        bad.extend_from_slice(&[0, 0]);
        bad[14 + 3] += 2; // total length
        let mut hdr = bad[14..14 + 24].to_vec();
        hdr[10] = 0;
        hdr[11] = 0;
        let c = !ones_sum(&[&hdr]);
        bad[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
        let igmp_at = 14 + 24;
        bad[igmp_at + 2] = 0;
        bad[igmp_at + 3] = 0;
        let c = !ones_sum(&[&bad[igmp_at..]]);
        bad[igmp_at + 2..igmp_at + 4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(
            Packet::parse(&bad),
            Err(SnoopError::BadLength {
                what: "IGMP query",
                len: 10
            })
        );
    }

    #[test]
    fn our_queries() {
        let me = MacAddr([0x02, 0x74, 0x73, 0x6d, 0, 1]);
        let q = query(
            me,
            v4("0.0.0.0"),
            None,
            Duration::from_secs(10),
            2,
            Duration::from_secs(125),
        );
        let f = q.emit().unwrap();
        let p = Packet::parse(&f).unwrap();
        assert_eq!(p.dst, v4("224.0.0.1"));
        assert_eq!(p.dst_mac, MacAddr([1, 0, 0x5e, 0, 0, 1]));
        let Message::Query(q) = p.msg else { panic!() };
        assert_eq!(q.version, Version::Igmp3);
        assert_eq!(q.max_resp(), Duration::from_secs(10));
        assert_eq!(q.query_interval(), Duration::from_secs(125));
        assert_eq!(q.qrv, 2);
        let g = v6("ff1e::1:2");
        let q = query(
            me,
            v6("fe80::74:73ff:fe6d:1"),
            Some(g),
            Duration::from_secs(1),
            2,
            Duration::from_secs(125),
        );
        let p = Packet::parse(&q.emit().unwrap()).unwrap();
        assert_eq!((p.dst, p.dst_mac), (g, MacAddr([0x33, 0x33, 0, 1, 0, 2])));
        let Message::Query(q) = p.msg else { panic!() };
        assert_eq!((q.version, q.group), (Version::Mld2, Some(g)));
        assert_eq!(q.max_resp(), Duration::from_secs(1));
    }

    #[test]
    fn codes() {
        for v in [0u64, 1, 127, 128, 129, 1000, 3174, 31744] {
            let c = encode_code8(v);
            let d = decode_code8(c);
            assert!(d <= v && v - d < (v / 16).max(1), "{v} → {c:#x} → {d}");
        }
        assert_eq!(decode_code8(0xff), 31744);
        // Beyond what a code can say: the largest code.
        assert_eq!(encode_code8(1_000_000), 0xff);
        assert_eq!(encode_mld_code(1 << 40), 0xffff);
        for v in [0u64, 32767, 32768, 100_000, 8_387_584] {
            let c = encode_mld_code(v);
            let d = decode_mld_code(c);
            assert!(
                d <= v && v - d < (v / 4096).max(1) * 8,
                "{v} → {c:#x} → {d}"
            );
        }
    }

    #[test]
    fn not_membership_versus_malformed() {
        let arp = switch_sim::packet::build::arp_request(
            HOST,
            Ipv4Addr::new(10, 0, 0, 5),
            Ipv4Addr::new(10, 0, 0, 1),
        );
        assert_eq!(Packet::parse(&arp), Err(SnoopError::NotMembership));
        let udp = switch_sim::packet::build::udp4(
            HOST,
            MacAddr([1, 0, 0x5e, 1, 1, 1]),
            Ipv4Addr::new(10, 0, 0, 5),
            Ipv4Addr::new(239, 1, 1, 1),
            1,
            2,
            b"x",
        );
        assert_eq!(Packet::parse(&udp), Err(SnoopError::NotMembership));
        // Truncated UDP (a 128-byte table-miss packet-in) is still just not ours.
        assert_eq!(Packet::parse(&udp[..30]), Err(SnoopError::NotMembership));
        let ns = switch_sim::packet::build::ndp_solicit(
            HOST,
            "fd00::5".parse().unwrap(),
            "fd00::1".parse().unwrap(),
        );
        assert_eq!(Packet::parse(&ns), Err(SnoopError::NotMembership));
        let f = hex(IGMPV3_REPORT);
        for n in 24..f.len() {
            let e = Packet::parse(&f[..n]).unwrap_err();
            assert!(e.is_malformed(), "cut at {n}: {e:?}");
        }
        // A fragment.
        let mut frag = f.clone();
        frag[14 + 6] = 0x20;
        assert_eq!(Packet::parse(&frag), Err(SnoopError::Fragment));
    }

    fn arb_v4() -> impl Strategy<Value = IpAddr> {
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o)))
    }
    fn arb_v6() -> impl Strategy<Value = IpAddr> {
        any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o)))
    }
    fn arb_group(v6: bool) -> BoxedStrategy<IpAddr> {
        if v6 {
            any::<[u8; 15]>()
                .prop_map(|o| {
                    let mut a = [0xffu8; 16];
                    a[1..].copy_from_slice(&o);
                    IpAddr::V6(Ipv6Addr::from(a))
                })
                .boxed()
        } else {
            any::<[u8; 3]>()
                .prop_map(|o| IpAddr::V4(Ipv4Addr::new(224 | (o[0] & 0x0f), o[1], o[2], 7)))
                .boxed()
        }
    }
    fn arb_record(v6: bool) -> impl Strategy<Value = GroupRecord> {
        let src = if v6 {
            arb_v6().boxed()
        } else {
            arb_v4().boxed()
        };
        (
            any::<u8>(),
            arb_group(v6),
            prop::collection::vec(src, 0..4),
            prop::collection::vec(any::<[u8; 4]>(), 0..2),
        )
            .prop_map(|(k, group, sources, aux)| GroupRecord {
                kind: RecordType::from(k),
                group,
                sources,
                aux: aux.concat(),
            })
    }
    fn arb_message(v6: bool) -> impl Strategy<Value = Message> {
        let (r1, r3, q1, q3) = if v6 {
            (Version::Mld1, Version::Mld2, Version::Mld1, Version::Mld2)
        } else {
            (
                Version::Igmp2,
                Version::Igmp3,
                Version::Igmp2,
                Version::Igmp3,
            )
        };
        let src = if v6 {
            arb_v6().boxed()
        } else {
            arb_v4().boxed()
        };
        let code_max: u16 = if v6 { u16::MAX } else { 255 };
        prop_oneof![
            (arb_group(v6), any::<bool>()).prop_map(move |(group, leave)| if leave {
                Message::Leave { version: r1, group }
            } else {
                Message::Report { version: r1, group }
            }),
            prop::collection::vec(arb_record(v6), 0..4).prop_map(move |records| {
                Message::ReportV3 {
                    version: r3,
                    records,
                }
            }),
            (
                prop::option::of(arb_group(v6)),
                1..=code_max,
                any::<bool>(),
                0u8..8,
                any::<u8>(),
                prop::collection::vec(src, 0..3),
                any::<bool>(),
            )
                .prop_map(move |(group, code, s, qrv, qqic, sources, old)| {
                    Message::Query(if old {
                        Query {
                            version: q1,
                            group,
                            max_resp_code: code,
                            suppress: false,
                            qrv: 0,
                            qqic: 0,
                            sources: vec![],
                        }
                    } else {
                        Query {
                            version: q3,
                            group,
                            max_resp_code: code,
                            suppress: s,
                            qrv,
                            qqic,
                            sources,
                        }
                    })
                }),
        ]
    }
    fn arb_packet() -> impl Strategy<Value = Packet> {
        (any::<bool>(), any::<[u8; 6]>(), any::<u8>(), any::<bool>()).prop_flat_map(
            |(v6, mac, ttl, ra)| {
                let (s, d) = if v6 {
                    (arb_v6().boxed(), arb_v6().boxed())
                } else {
                    (arb_v4().boxed(), arb_v4().boxed())
                };
                (s, d, arb_message(v6)).prop_map(move |(src, dst, msg)| Packet {
                    src_mac: MacAddr(mac),
                    dst_mac: multicast_mac(dst),
                    src,
                    dst,
                    ttl,
                    router_alert: ra,
                    msg,
                })
            },
        )
    }

    proptest! {
        #[test]
        fn emitted_packets_parse_to_themselves(p in arb_packet()) {
            let f = p.emit().unwrap();
            prop_assert_eq!(Packet::parse(&f), Ok(p));
        }

        #[test]
        fn random_bytes_never_panic(f in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = Packet::parse(&f);
        }

        #[test]
        fn mutated_frames_never_panic(
            p in arb_packet(),
            flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
            cut in any::<usize>(),
        ) {
            let mut f = p.emit().unwrap();
            for (at, x) in flips {
                let n = f.len();
                f[at % n] ^= x;
            }
            f.truncate(cut % (f.len() + 1));
            let _ = Packet::parse(&f);
            // Headers claiming more than there is.
            let mut g = p.emit().unwrap();
            if g.len() > 20 {
                g[17] = 0xff;
                g[18] = 0xff;
            }
            let _ = Packet::parse(&g);
        }
    }
}
