//! `tools/wireshark/bier.lua` read against our own bytes, with tshark 4.0:
//!
//! (a) RFC 8296 BIER headers over Ethernet (EtherType 0xAB37), hand-assembled from the RFC's
//!     field layout: tshark must show every field with the value we put there, the BitString
//!     as hex and as its set positions, and hand the payload to IPv4 / IPv6 / Ethernet by
//!     Proto. Headers built with the `bier` crate's `BierRepr` are checked in
//!     `bier/tests/wireshark.rs`.
//! (b) Our experimenter messages and actions over TCP port 6653: the draft's examples, a full
//!     BSL-4096 table, generated messages and flows with our actions, and an error with our
//!     code: every field tshark shows must equal the typed value, and no field may show up
//!     where the message has none.
//!
//! Both captures must be clean: no malformed packet, no expert warning. Broken inputs, in
//! separate captures, must raise the dissectors' expert infos, so the clean check can fail.
//! The test command installs tshark and text2pcap; a missing tool fails with the package.

// A test helper that fails is a failed test: unwrap is the assertion here.
#![allow(clippy::unwrap_used)]

#[path = "ext_golden.rs"]
mod golden;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use openflow::ext::bier::*;
use openflow::instruction::Instruction;
use openflow::*;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

const LUA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/wireshark/bier.lua");

fn tool(cmd: &str, package: &str) -> Command {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{cmd}` is missing: apt-get install {package} (scripts/test does this)"
    );
    Command::new(cmd)
}

fn run(mut c: Command) -> String {
    let out = c.output().expect("spawn");
    assert!(
        out.status.success(),
        "{c:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A Lua error does not fail tshark; it prints it and goes on without the dissector.
    assert!(
        !stderr.contains("Lua:") && !stderr.contains(".lua:"),
        "the Lua dissector failed: {stderr}"
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// One text2pcap block per packet (each restarts at offset 0).
fn hexdump(packets: &[Vec<u8>]) -> String {
    let mut s = String::new();
    for p in packets {
        for (i, chunk) in p.chunks(16).enumerate() {
            write!(s, "{:06x}", i * 16).unwrap();
            for b in chunk {
                write!(s, " {b:02x}").unwrap();
            }
            s.push('\n');
        }
    }
    s
}

/// A private directory, removed when the test ends (also on failure).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("ofbier-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// Writes a pcap: Ethernet frames as given, or (with `tcp`) each payload in its own TCP
/// segment from port 40000 to 6653.
fn pcap(dir: &Path, name: &str, packets: &[Vec<u8>], tcp: bool) -> PathBuf {
    let txt = dir.join(format!("{name}.txt"));
    let out = dir.join(format!("{name}.pcap"));
    std::fs::write(&txt, hexdump(packets)).unwrap();
    let mut c = tool("text2pcap", "wireshark-common");
    c.arg("-q");
    if tcp {
        c.args(["-T", "40000,6653"]);
    }
    c.arg(&txt).arg(&out);
    run(c);
    out
}

fn tshark(file: &Path, extra: &[&str]) -> String {
    let mut c = tool("tshark", "tshark");
    c.arg("-X")
        .arg(format!("lua_script:{LUA}"))
        .arg("-r")
        .arg(file)
        .args(["-d", "tcp.port==6653,openflow"])
        .args(extra);
    run(c)
}

/// One row per frame, one column per field; several occurrences joined with '|'.
fn fields(file: &Path, names: &[&str]) -> Vec<Vec<String>> {
    let mut args = vec!["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"];
    for n in names {
        args.extend(["-e", n]);
    }
    tshark(file, &args)
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

fn assert_clean(file: &Path) {
    let filter = "_ws.malformed || _ws.expert.severity >= \"warning\"";
    let bad = tshark(file, &["-Y", filter]);
    if !bad.trim().is_empty() {
        let detail = tshark(file, &["-Y", filter, "-O", "bier8296,ofbier"]);
        panic!(
            "malformed packets or expert warnings:\n{bad}\n{}",
            &detail[..detail.len().min(20_000)]
        );
    }
}

/// Expected values by field; a repeated field collects its occurrences in order.
#[derive(Default)]
struct Expect(BTreeMap<&'static str, String>);

impl Expect {
    fn put(&mut self, field: &'static str, v: impl ToString) {
        let v = v.to_string();
        self.0
            .entry(field)
            .and_modify(|s| {
                s.push('|');
                s.push_str(&v);
            })
            .or_insert(v);
    }
}

fn x8(v: u8) -> String {
    format!("{v:#04x}")
}
fn x16(v: u16) -> String {
    format!("{v:#06x}")
}
fn x32(v: u32) -> String {
    format!("{v:#010x}")
}
fn flag(v: bool) -> &'static str {
    if v {
        "1"
    } else {
        "0"
    }
}
fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
fn positions(b: &[u8]) -> String {
    let p: Vec<String> = bit_positions(b).iter().map(u16::to_string).collect();
    p.join(",")
}

// ---------------------------------------------------------------------------------------
// (a) RFC 8296 headers

/// The BIER fields tshark is asked for.
const BIER_FIELDS: &[&str] = &[
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
    "bier8296.bitstring",
    "bier8296.bitstring.positions",
    "bier8296.bitstring.count",
    "bier8296.bitstring.bit",
    "ip.dst",
    "ipv6.dst",
    "eth.type",
    "frame.protocols",
];

/// Header field values, written into the RFC 8296 §2.1.2 layout by `header()`.
#[derive(Clone)]
struct Fields {
    bift_id: u32,
    tc: u8,
    s: bool,
    ttl: u8,
    nibble: u8,
    version: u8,
    bsl_code: u8,
    entropy: u32,
    oam: u8,
    rsv: u8,
    dscp: u8,
    proto: u8,
    bfir_id: u16,
    bits: Vec<u16>,
}

impl Fields {
    fn bsl_bytes(&self) -> usize {
        8 << (self.bsl_code - 1)
    }

    /// The header, word by word, as RFC 8296 §2.1.2 draws it.
    #[rustfmt::skip]
    fn header(&self) -> Vec<u8> {
        let word0 = self.bift_id << 12 // BIFT-id, 20 bits
            | u32::from(self.tc) << 9 // TC, 3 bits
            | u32::from(self.s) << 8 // S, 1 bit
            | u32::from(self.ttl); // TTL, 8 bits
        let word1 = u32::from(self.nibble) << 28 // Nibble, 4 bits
            | u32::from(self.version) << 24 // Ver, 4 bits
            | u32::from(self.bsl_code) << 20 // BSL, 4 bits
            | self.entropy; // Entropy, 20 bits
        let half2 = u16::from(self.oam) << 14 // OAM, 2 bits
            | u16::from(self.rsv) << 12 // Rsv, 2 bits
            | u16::from(self.dscp) << 6 // DSCP, 6 bits
            | u16::from(self.proto); // Proto, 6 bits
        let mut h = Vec::new();
        h.extend(word0.to_be_bytes());
        h.extend(word1.to_be_bytes());
        h.extend(half2.to_be_bytes());
        h.extend(self.bfir_id.to_be_bytes()); // BFIR-id, 16 bits
        let mut bs = vec![0u8; self.bsl_bytes()];
        for &p in &self.bits {
            // Bit position 1 is the low-order bit of the last byte (RFC 8279 §3).
            let i = usize::from(p - 1);
            let n = bs.len();
            bs[n - 1 - i / 8] |= 1 << (i % 8);
        }
        h.extend(bs);
        h
    }

    fn expect(&self) -> Expect {
        let mut e = Expect::default();
        e.put("bier8296.bift_id", x32(self.bift_id));
        e.put("bier8296.tc", self.tc);
        e.put("bier8296.s", u8::from(self.s));
        e.put("bier8296.ttl", self.ttl);
        e.put("bier8296.nibble", x32(u32::from(self.nibble)));
        e.put("bier8296.version", self.version);
        e.put("bier8296.bsl", self.bsl_code);
        e.put("bier8296.entropy", x32(self.entropy));
        e.put("bier8296.oam", self.oam);
        e.put("bier8296.rsv", self.rsv);
        e.put("bier8296.dscp", self.dscp);
        e.put("bier8296.proto", self.proto);
        e.put("bier8296.bfir_id", self.bfir_id);
        let h = self.header();
        e.put("bier8296.bitstring", hex(&h[12..]));
        let mut sorted = self.bits.clone();
        sorted.sort_unstable();
        let list: Vec<String> = sorted.iter().map(u16::to_string).collect();
        e.put("bier8296.bitstring.positions", list.join(","));
        e.put("bier8296.bitstring.count", sorted.len());
        for p in &sorted {
            e.put("bier8296.bitstring.bit", p);
        }
        e
    }
}

const ETH_HEADER: [u8; 14] = [
    0x01, 0x00, 0x5e, 0x01, 0x01, 0x01, // dst: 239.1.1.1's multicast MAC
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src
    0xab, 0x37, // EtherType BIER
];

/// IPv4 + UDP to 239.1.1.1 (header checksum computed, UDP checksum 0 is allowed in IPv4).
fn ipv4_udp() -> Vec<u8> {
    let mut ip = vec![
        0x45, 0x00, 0x00, 0x20, // version 4, IHL 5, total length 32
        0x00, 0x01, 0x00, 0x00, // id 1, no fragment
        0x40, 0x11, 0x00, 0x00, // TTL 64, UDP, checksum (below)
        10, 0, 0, 1, // source
        239, 1, 1, 1, // destination
    ];
    let sum: u32 = ip
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    let folded = (sum & 0xffff) + (sum >> 16);
    ip[10..12].copy_from_slice(&(!(folded as u16)).to_be_bytes());
    ip.extend([
        0x9c, 0x41, 0x9c, 0x42, // ports 40001 → 40002 (no dissector claims them)
        0x00, 0x0c, 0x00, 0x00, // length 12, no checksum
        b't', b's', b'm', b'!',
    ]);
    ip
}

/// IPv6 to ff0e::1 with No Next Header (59), so nothing after it needs a checksum.
fn ipv6_none() -> Vec<u8> {
    let mut p = vec![
        0x60, 0x00, 0x00, 0x00, // version 6
        0x00, 0x00, 0x3b, 0x40, // payload length 0, next header 59, hop limit 64
    ];
    p.extend([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]); // fd00::1
    p.extend([0xff, 0x0e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]); // ff0e::1
    p
}

fn base_fields() -> Fields {
    Fields {
        bift_id: 0xabcde,
        tc: 5,
        s: true,
        ttl: 17,
        nibble: 0b0101,
        version: 0,
        bsl_code: 1,
        entropy: 0x12345,
        oam: 2,
        rsv: 1,
        dscp: 46,
        proto: 4,
        bfir_id: 0xbeef,
        bits: vec![1, 3, 64],
    }
}

/// The first case, byte by byte: the header of `base_fields()` as RFC 8296 §2.1.2 draws it.
#[rustfmt::skip]
const LITERAL_HEADER: [u8; 20] = [
    0xab, 0xcd, 0xe0 | 0b1011, 0x11, // BIFT-id 0xabcde | TC 5 (101) S 1 | TTL 17
    0x50, 0x10 | 0x01, 0x23, 0x45, // Nibble 0101 Ver 0 | BSL 1 (64) | Entropy 0x12345
    0b1001_1011, 0b1000_0100, // OAM 10 Rsv 01 DSCP 101110 Proto 000100 (IPv4)
    0xbe, 0xef, // BFIR-id 0xbeef
    0x80, 0, 0, 0, 0, 0, 0, 0x05, // BitString: bits 64, 3, 1
];

#[test]
fn rfc8296_headers_read_back_field_by_field() {
    assert_eq!(
        base_fields().header(),
        LITERAL_HEADER,
        "the layout matches the literal"
    );
    let mut cases: Vec<(Fields, Vec<u8>, &str, &str, &str)> = vec![
        // Fields, payload, then what the payload dissectors show: ip.dst, ipv6.dst, eth.type.
        (base_fields(), ipv4_udp(), "239.1.1.1", "", "0xab37"),
        (
            Fields {
                bift_id: 0x3_0001,
                tc: 0,
                s: false,
                ttl: 255,
                bsl_code: 3,
                entropy: 0xf_ffff,
                oam: 0,
                rsv: 0,
                dscp: 0,
                proto: 6,
                bfir_id: 0,
                bits: vec![1, 100, 256],
                ..base_fields()
            },
            ipv6_none(),
            "",
            "ff0e::1",
            "0xab37",
        ),
        (
            // Proto 3: an Ethernet frame inside.
            Fields {
                bsl_code: 7,
                proto: 3,
                bits: vec![1, 2048, 4096],
                ..base_fields()
            },
            [&ETH_HEADER[..12], &[0x08, 0x00], &ipv4_udp()].concat(),
            "239.1.1.1",
            "",
            "0xab37|0x0800",
        ),
        (
            // Proto 5: OAM, no dissector here, just data; no bit set.
            Fields {
                bsl_code: 2,
                proto: 5,
                bits: vec![],
                ..base_fields()
            },
            vec![0xde, 0xad, 0xbe, 0xef],
            "",
            "",
            "0xab37",
        ),
    ];
    for code in [4u8, 5, 6] {
        let bsl = 64u16 << (code - 1);
        cases.push((
            Fields {
                bsl_code: code,
                bits: vec![1, bsl / 2, bsl],
                bift_id: u32::from(code) << 16,
                ..base_fields()
            },
            ipv4_udp(),
            "239.1.1.1",
            "",
            "0xab37",
        ));
    }
    let frames: Vec<Vec<u8>> = cases
        .iter()
        .map(|(f, payload, ..)| [&ETH_HEADER[..], &f.header(), payload].concat())
        .collect();
    let dir = TempDir::new("rfc8296");
    let file = pcap(&dir.0, "bier", &frames, false);
    let rows = fields(&file, BIER_FIELDS);
    assert_eq!(rows.len(), cases.len());
    for (i, ((f, _, ip, ip6, eth), row)) in cases.iter().zip(&rows).enumerate() {
        let mut want = f.expect();
        want.put("ip.dst", ip);
        want.put("ipv6.dst", ip6);
        want.put("eth.type", eth);
        for (name, got) in BIER_FIELDS.iter().zip(row) {
            if *name == "frame.protocols" {
                let next = match f.proto {
                    4 => ":bier8296:ip:udp",
                    6 => ":bier8296:ipv6",
                    3 => ":bier8296:eth:ethertype:ip:udp",
                    _ => ":bier8296:data",
                };
                assert!(got.contains(next), "frame {}: protocols {got}", i + 1);
                continue;
            }
            let expected = want.0.get(name).map_or("", String::as_str);
            assert_eq!(got, expected, "frame {}: {name}", i + 1);
        }
    }
    assert_clean(&file);
}

#[test]
fn broken_bier_headers_raise_expert_infos() {
    let good = base_fields();
    let mut undefined_bsl = good.header();
    undefined_bsl[5] &= 0x0f; // BSL code 0
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            Fields {
                nibble: 4,
                ..good.clone()
            }
            .header(),
            "Nibble is not 0101",
        ),
        (
            Fields {
                version: 1,
                ..good.clone()
            }
            .header(),
            "version other than 0",
        ),
        (
            Fields {
                ttl: 0,
                ..good.clone()
            }
            .header(),
            "TTL 0",
        ),
        (undefined_bsl, "Undefined BSL code"),
        (good.header()[..16].to_vec(), "Truncated BIER header"),
        (good.header()[..6].to_vec(), "Truncated BIER header"),
    ];
    let frames: Vec<Vec<u8>> = cases
        .iter()
        .map(|(h, _)| [&ETH_HEADER[..], h].concat())
        .collect();
    let wants: Vec<&str> = cases.iter().map(|(_, w)| *w).collect();
    let dir = TempDir::new("rfc8296-bad");
    let file = pcap(&dir.0, "bad", &frames, false);
    let rows = fields(&file, &["_ws.expert.message"]);
    assert_eq!(rows.len(), wants.len());
    for (i, (row, want)) in rows.iter().zip(wants).enumerate() {
        assert!(
            row[0].contains(want),
            "frame {}: {want:?} not in {:?}",
            i + 1,
            row[0]
        );
    }
}

// ---------------------------------------------------------------------------------------
// (b) OpenFlow experimenter messages and actions

const OF_FIELDS: &[&str] = &[
    "ofbier.type",
    "ofbier.caps.version",
    "ofbier.caps.max_ecmp",
    "ofbier.caps.capabilities",
    "ofbier.caps.bier",
    "ofbier.caps.bier_te",
    "ofbier.caps.ecmp",
    "ofbier.caps.encap",
    "ofbier.caps.decap",
    "ofbier.caps.tsm",
    "ofbier.caps.te_routed",
    "ofbier.caps.bsls",
    "ofbier.caps.bsl_list",
    "ofbier.caps.max_si",
    "ofbier.caps.max_bifts",
    "ofbier.caps.max_local_bfrs",
    "ofbier.caps.n_sub_domains",
    "ofbier.caps.sub_domain",
    "ofbier.txn",
    "ofbier.seq",
    "ofbier.flags",
    "ofbier.flags.more",
    "ofbier.command",
    "ofbier.bift.kind",
    "ofbier.bift.bsl",
    "ofbier.bift.si",
    "ofbier.bift.bift_id",
    "ofbier.bift.sub_domain",
    "ofbier.bift.n_next_hops",
    "ofbier.bift.n_entries",
    "ofbier.nh.id",
    "ofbier.nh.port",
    "ofbier.nh.fbm",
    "ofbier.nh.fbm.positions",
    "ofbier.entry.bit",
    "ofbier.entry.action",
    "ofbier.entry.n_nh",
    "ofbier.entry.nh_id",
    "ofbier.entry.nh_list",
    "ofbier.te.bit",
    "ofbier.te.n_adj",
    "ofbier.adj.type",
    "ofbier.adj.flags",
    "ofbier.adj.dnc",
    "ofbier.adj.n_members",
    "ofbier.adj.value",
    "ofbier.sel.bift_id",
    "ofbier.sel.sub_domain",
    "ofbier.sel.kind",
    "ofbier.sel.flags",
    "ofbier.sel.all_bift_ids",
    "ofbier.sel.any_sub_domain",
    "ofbier.sel.any_kind",
    "ofbier.bfr.command",
    "ofbier.bfr.sub_domain",
    "ofbier.bfr.n",
    "ofbier.bfr.any_sub_domain",
    "ofbier.bfr.bfr_id",
    "ofbier.bfr.flags",
    "ofbier.bfr.decap",
    "ofbier.bfr.port",
    "ofbier.tsm.flags",
    "ofbier.tsm.enable",
    "ofbier.tsm.notify",
    "ofbier.tsm.threshold",
    "ofbier.tsm.window_ms",
    "ofbier.tsm.idle_timeout_ms",
    "ofbier.tsm.max_groups",
    "ofbier.tsm.group_id_first",
    "ofbier.tsm.group_id_last",
    "ofbier.tsm.event",
    "ofbier.tsm.reason",
    "ofbier.tsm.bsl",
    "ofbier.tsm.group_id",
    "ofbier.tsm.bift_id",
    "ofbier.tsm.n_ports",
    "ofbier.tsm.packet_count",
    "ofbier.tsm.bitstring",
    "ofbier.tsm.bitstring.positions",
    "ofbier.tsm.port",
    "ofbier.action.subtype",
    "ofbier.encap.flags",
    "ofbier.encap.copy_dscp",
    "ofbier.encap.entropy_source",
    "ofbier.encap.bift_id",
    "ofbier.encap.sub_domain",
    "ofbier.encap.bsl",
    "ofbier.encap.si",
    "ofbier.encap.bfir_id",
    "ofbier.encap.ttl",
    "ofbier.encap.tc",
    "ofbier.encap.entropy",
    "ofbier.encap.bitstring",
    "ofbier.encap.bitstring.positions",
    "ofbier.error.code",
];

fn expect_more(e: &mut Expect, more: bool) {
    e.put("ofbier.flags.more", flag(more));
    e.put("ofbier.flags", x16(u16::from(more)));
}

fn expect_adjacency(e: &mut Expect, a: &Adjacency) {
    let (kind, flags, n, value) = match a {
        Adjacency::ForwardConnected { port, dnc } => (1u8, u8::from(*dnc), 0, port.0),
        Adjacency::ForwardRouted { to } => (2, 0, 0, *to),
        Adjacency::LocalDecap { port } => (3, 0, 0, port.0),
        Adjacency::Ecmp(list) => (4, 0, list.len(), 0),
        Adjacency::Other { kind, flags, value } => (*kind, *flags, 0, *value),
    };
    e.put("ofbier.adj.type", kind);
    e.put("ofbier.adj.dnc", flag(flags & 1 == 1));
    e.put("ofbier.adj.flags", x8(flags));
    e.put("ofbier.adj.n_members", n);
    e.put("ofbier.adj.value", value);
    if let Adjacency::Ecmp(list) = a {
        for m in list {
            expect_adjacency(e, m);
        }
    }
}

fn expect_bift(e: &mut Expect, b: &Bift) {
    e.put("ofbier.bift.kind", b.kind().code());
    e.put("ofbier.bift.bsl", b.key.bsl.code());
    e.put("ofbier.bift.si", b.key.si);
    e.put("ofbier.bift.bift_id", x32(b.key.bift_id));
    e.put("ofbier.bift.sub_domain", b.key.sub_domain);
    match &b.entries {
        BiftEntries::Bier { next_hops, entries } => {
            e.put("ofbier.bift.n_next_hops", next_hops.len());
            e.put("ofbier.bift.n_entries", entries.len());
            for nh in next_hops {
                e.put("ofbier.nh.id", nh.id);
                e.put("ofbier.nh.port", nh.port.0);
                e.put("ofbier.nh.fbm", hex(&nh.fbm));
                e.put("ofbier.nh.fbm.positions", positions(&nh.fbm));
            }
            for en in entries {
                e.put("ofbier.entry.bit", en.bit);
                e.put("ofbier.entry.action", en.action.value());
                e.put("ofbier.entry.n_nh", en.next_hops.len());
                for id in &en.next_hops {
                    e.put("ofbier.entry.nh_id", id);
                }
                let list: Vec<String> = en.next_hops.iter().map(u16::to_string).collect();
                e.put("ofbier.entry.nh_list", list.join(","));
            }
        }
        BiftEntries::BierTe(entries) => {
            e.put("ofbier.bift.n_next_hops", 0);
            e.put("ofbier.bift.n_entries", entries.len());
            for en in entries {
                e.put("ofbier.te.bit", en.bit);
                e.put("ofbier.te.n_adj", en.adjacencies.len());
                for a in &en.adjacencies {
                    expect_adjacency(e, a);
                }
            }
        }
    }
}

fn expect_selector(e: &mut Expect, s: &BiftSelector) {
    e.put("ofbier.sel.bift_id", x32(s.bift_id.unwrap_or(0)));
    e.put("ofbier.sel.sub_domain", s.sub_domain.unwrap_or(0));
    e.put("ofbier.sel.kind", s.kind.map_or(0, TableKind::code));
    let flags = u16::from(s.bift_id.is_none())
        | u16::from(s.sub_domain.is_none()) << 1
        | u16::from(s.kind.is_none()) << 2;
    e.put("ofbier.sel.all_bift_ids", flag(s.bift_id.is_none()));
    e.put("ofbier.sel.any_sub_domain", flag(s.sub_domain.is_none()));
    e.put("ofbier.sel.any_kind", flag(s.kind.is_none()));
    e.put("ofbier.sel.flags", x16(flags));
}

fn expect_bfrs(e: &mut Expect, bfrs: &[LocalBfr]) {
    e.put("ofbier.bfr.n", bfrs.len());
    for b in bfrs {
        e.put("ofbier.bfr.bfr_id", b.bfr_id);
        e.put("ofbier.bfr.decap", flag(b.decap));
        e.put("ofbier.bfr.flags", x16(u16::from(b.decap)));
        e.put("ofbier.bfr.port", b.port.0);
    }
}

fn expect_message(m: &BierMessage) -> Expect {
    let mut e = Expect::default();
    e.put("ofbier.type", m.kind().value());
    match m {
        BierMessage::CapsRequest(c) => e.put("ofbier.caps.version", c.version),
        BierMessage::CapsReply(c) => {
            e.put("ofbier.caps.version", c.version);
            e.put("ofbier.caps.max_ecmp", c.max_ecmp);
            let bits = c.capabilities.bits();
            for (i, name) in [
                "ofbier.caps.bier",
                "ofbier.caps.bier_te",
                "ofbier.caps.ecmp",
                "ofbier.caps.encap",
                "ofbier.caps.decap",
                "ofbier.caps.tsm",
                "ofbier.caps.te_routed",
            ]
            .into_iter()
            .enumerate()
            {
                e.put(name, flag(bits >> i & 1 == 1));
            }
            e.put("ofbier.caps.capabilities", x16(bits));
            e.put("ofbier.caps.bsls", x16(c.bsls.0));
            let list: Vec<String> = c.bsls.iter().map(|b| b.bits().to_string()).collect();
            e.put("ofbier.caps.bsl_list", list.join(","));
            e.put("ofbier.caps.max_si", c.max_si);
            e.put("ofbier.caps.max_bifts", c.max_bifts);
            e.put("ofbier.caps.max_local_bfrs", c.max_local_bfrs);
            e.put("ofbier.caps.n_sub_domains", c.sub_domains.len());
            for sd in &c.sub_domains {
                e.put("ofbier.caps.sub_domain", sd);
            }
        }
        BierMessage::BiftMod(b) => {
            e.put("ofbier.txn", b.txn);
            e.put("ofbier.seq", b.seq);
            expect_more(&mut e, b.more);
            e.put("ofbier.command", b.command.value());
            expect_bift(&mut e, &b.bift);
        }
        BierMessage::BiftClear(s) | BierMessage::BiftQuery(s) => expect_selector(&mut e, s),
        BierMessage::BiftReply(r) => {
            e.put("ofbier.seq", r.seq);
            expect_more(&mut e, r.more);
            if let Some(b) = &r.bift {
                expect_bift(&mut e, b);
            }
        }
        BierMessage::BfrMod(b) => {
            e.put("ofbier.bfr.command", b.command.value());
            e.put("ofbier.bfr.sub_domain", b.sub_domain);
            expect_bfrs(&mut e, &b.bfrs);
        }
        BierMessage::BfrQuery(q) => {
            e.put("ofbier.bfr.sub_domain", q.sub_domain.unwrap_or(0));
            e.put("ofbier.bfr.any_sub_domain", flag(q.sub_domain.is_none()));
            e.put("ofbier.flags", x16(u16::from(q.sub_domain.is_none())));
        }
        BierMessage::BfrReply(r) => {
            expect_more(&mut e, r.more);
            e.put("ofbier.bfr.sub_domain", r.sub_domain);
            expect_bfrs(&mut e, &r.bfrs);
        }
        BierMessage::TsmConfig(c) => {
            let bits = c.flags.bits();
            e.put("ofbier.tsm.enable", flag(bits & 1 == 1));
            e.put("ofbier.tsm.notify", flag(bits & 2 == 2));
            e.put("ofbier.tsm.flags", x16(bits));
            e.put("ofbier.tsm.threshold", c.threshold);
            e.put("ofbier.tsm.window_ms", c.window_ms);
            e.put("ofbier.tsm.idle_timeout_ms", c.idle_timeout_ms);
            e.put("ofbier.tsm.max_groups", c.max_groups);
            e.put("ofbier.tsm.group_id_first", x32(c.group_id_first.0));
            e.put("ofbier.tsm.group_id_last", x32(c.group_id_last.0));
        }
        BierMessage::TsmEvent(t) => {
            e.put("ofbier.tsm.event", t.event.value());
            e.put("ofbier.tsm.reason", t.reason.value());
            e.put("ofbier.tsm.bsl", t.bsl.code());
            e.put("ofbier.tsm.group_id", x32(t.group_id.0));
            e.put("ofbier.tsm.bift_id", x32(t.bift_id));
            e.put("ofbier.tsm.n_ports", t.ports.len());
            e.put("ofbier.tsm.packet_count", t.packet_count);
            e.put("ofbier.tsm.bitstring", hex(&t.bitstring));
            e.put("ofbier.tsm.bitstring.positions", positions(&t.bitstring));
            for p in &t.ports {
                e.put("ofbier.tsm.port", p.0);
            }
        }
        other => panic!("no expectation for {other:?}"),
    }
    e
}

fn expect_actions(actions: &[BierAction]) -> Expect {
    let mut e = Expect::default();
    for a in actions {
        e.put("ofbier.action.subtype", a.subtype().value());
        if let BierAction::Encap(x) = a {
            let (source, value) = match x.entropy {
                Entropy::Fixed(v) => (0u8, v),
                Entropy::FlowHash { seed } => (1, seed),
                Entropy::Other { source, value } => (source, value),
            };
            e.put("ofbier.encap.flags", x8(u8::from(x.copy_dscp)));
            e.put("ofbier.encap.copy_dscp", flag(x.copy_dscp));
            e.put("ofbier.encap.entropy_source", source);
            e.put("ofbier.encap.bift_id", x32(x.bift_id));
            e.put("ofbier.encap.sub_domain", x.sub_domain);
            e.put("ofbier.encap.bsl", x.bsl.code());
            e.put("ofbier.encap.si", x.si);
            e.put("ofbier.encap.bfir_id", x.bfir_id);
            e.put("ofbier.encap.ttl", x.ttl);
            e.put("ofbier.encap.tc", x.tc);
            e.put("ofbier.encap.entropy", x32(value));
            e.put("ofbier.encap.bitstring", hex(&x.bitstring));
            e.put("ofbier.encap.bitstring.positions", positions(&x.bitstring));
        }
    }
    e
}

/// A flow mod applying these actions (the BFIR and transit flows of draft §10.3).
fn flow_with(actions: &[BierAction]) -> Vec<u8> {
    let fm = FlowMod::add(
        TableId(0),
        100,
        Match::new().with(Oxm::EthType(0x0800)),
        vec![Instruction::ApplyActions(
            actions.iter().map(BierAction::to_action).collect(),
        )],
    );
    Message::new(Xid(77), fm).encode().unwrap()
}

#[test]
fn experimenter_messages_and_actions_read_back_field_by_field() {
    let mut packets: Vec<Vec<u8>> = Vec::new();
    let mut wants: Vec<(String, Expect)> = Vec::new();
    for g in golden::goldens() {
        wants.push((g.name.to_owned(), expect_message(&g.msg)));
        packets.push(g.bytes);
    }
    // A whole BSL-4096 table with 16 neighbours: one 41 136-byte BIFT_MOD (draft §12).
    let mut fbm: BTreeMap<u32, Vec<u16>> = BTreeMap::new();
    for b in 1..=4096u16 {
        fbm.entry(u32::from(b % 16) + 1).or_default().push(b);
    }
    let big = BiftTable {
        key: TableKey {
            bift_id: 0x7_0000,
            sub_domain: 0,
            bsl: Bsl::B4096,
            si: 0,
        },
        entries: TableEntries::Bier(
            (1..=4096u16)
                .map(|b| {
                    let p = u32::from(b % 16) + 1;
                    let f = bits_from_positions(Bsl::B4096, fbm[&p].iter().copied());
                    (b, Hop::Forward(vec![(PortNo(p), f)]))
                })
                .collect(),
        ),
    };
    for m in big.bift_mods(42, BiftCommand::Replace).unwrap() {
        let m = BierMessage::BiftMod(m);
        wants.push(("BSL 4096 table".into(), expect_message(&m)));
        packets.push(m.to_message(Xid(42)).encode().unwrap());
    }
    // Generated messages (deterministic, so a failure names the same ones every run).
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    for i in 0..200 {
        let m = arb::bier_message().new_tree(&mut runner).unwrap().current();
        wants.push((format!("generated #{i}: {m:?}"), expect_message(&m)));
        packets.push(m.to_message(Xid(1000 + i)).encode().unwrap());
    }
    // Flows with our actions: the draft's BFIR and transit flows, then generated lists.
    let mut lists = vec![
        vec![golden::a11_encap(), BierAction::Forward],
        vec![BierAction::Forward],
        vec![BierAction::Decap],
    ];
    for _ in 0..30 {
        let n = 1 + lists.len() % 3;
        lists.push(
            (0..n)
                .map(|_| arb::bier_action().new_tree(&mut runner).unwrap().current())
                .collect(),
        );
    }
    for l in &lists {
        wants.push((format!("flow with {l:?}"), expect_actions(l)));
        packets.push(flow_with(l));
    }
    // The draft's A.12 error.
    let err = Message::error_for(&packets[2], BierErrorCode::BadBitPosition);
    let mut e = Expect::default();
    e.put("ofbier.error.code", BierErrorCode::BadBitPosition.value());
    wants.push(("A.12 error".into(), e));
    packets.push(err.encode().unwrap());

    let dir = TempDir::new("of");
    let file = pcap(&dir.0, "of", &packets, true);
    let rows = fields(&file, OF_FIELDS);
    assert_eq!(rows.len(), packets.len(), "one frame per message");
    for (i, ((name, want), row)) in wants.iter().zip(&rows).enumerate() {
        for (field, got) in OF_FIELDS.iter().zip(row) {
            let expected = want.0.get(field).map_or("", String::as_str);
            assert_eq!(got, expected, "frame {} ({name}): {field}", i + 1);
        }
    }
    assert_clean(&file);
}

#[test]
fn broken_experimenter_messages_raise_expert_infos() {
    let g = golden::goldens();
    let mut a3 = g[2].bytes.clone();
    a3[45] = 6; // n_entries 6, but five are there
    let mut trailing = g[0].bytes.clone(); // CAPS_REQUEST with 8 bytes too many
    trailing.extend([0; 8]);
    trailing[3] = 32;
    let mut bad_bsl = g[2].bytes.clone();
    bad_bsl[33] = 9;
    let mut unknown = g[0].bytes.clone();
    unknown[15] = 99; // exp_type 99
    let mut encap = golden::action_goldens()[0].2.clone();
    encap[17] = 0; // BSL code 0 in bier_encap
    let fm = FlowMod::add(TableId(0), 1, Match::new(), vec![]);
    let mut flow = Message::new(Xid(5), fm).encode().unwrap();
    let inst_len = (8 + encap.len()) as u16;
    flow.extend([0x00, 0x04]);
    flow.extend(inst_len.to_be_bytes());
    flow.extend([0, 0, 0, 0]);
    flow.extend(&encap);
    let len = flow.len() as u16;
    flow[2..4].copy_from_slice(&len.to_be_bytes());
    let cases = [
        (a3, "needs"),
        (trailing, "bytes after the end"),
        (bad_bsl, "Undefined BSL code 9"),
        (unknown, "Unknown BIER extension type"),
        (flow, "Undefined BSL code 0"),
    ];
    let packets: Vec<Vec<u8>> = cases.iter().map(|(p, _)| p.clone()).collect();
    let dir = TempDir::new("of-bad");
    let file = pcap(&dir.0, "bad", &packets, true);
    let rows = fields(&file, &["_ws.expert.message"]);
    assert_eq!(rows.len(), cases.len());
    for (i, (row, (_, want))) in rows.iter().zip(&cases).enumerate() {
        assert!(
            row[0].contains(want),
            "frame {}: {want:?} not in {:?}",
            i + 1,
            row[0]
        );
    }
}
