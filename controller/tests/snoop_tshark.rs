//! Our IGMP and MLD frames read by a decoder we did not write: Wireshark's dissectors (tshark)
//! over a pcap of frames `controller::snoop::parse` emits — every message kind, every record
//! type, sources, auxiliary data, Router Alert in IPv4 options and in an IPv6 hop-by-hop
//! header. tshark must find every checksum good (IPv4 header, IGMP, ICMPv6 with its
//! pseudo-header), nothing malformed, and the fields we meant.
//!
//! The test command installs tshark and text2pcap; a missing tool fails the test with the
//! package to install.

#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use controller::snoop::parse::{self, GroupRecord, Message, Packet, Query, RecordType, Version};
use openflow::oxm::MacAddr;

fn tool(cmd: &str) -> Command {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{cmd}` is missing: apt-get install tshark (it brings text2pcap)"
    );
    Command::new(cmd)
}

fn run(mut c: Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const HOST: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x05]);

fn rec(kind: RecordType, g: &str, sources: &[&str], aux: usize) -> GroupRecord {
    GroupRecord {
        kind,
        group: ip(g),
        sources: sources.iter().map(|s| ip(s)).collect(),
        aux: vec![0xa5; aux],
    }
}

/// One frame per message kind, and what tshark should say about it.
struct Case {
    packet: Packet,
    /// tshark's `igmp.type` or `icmpv6.type`.
    kind: u8,
    /// Group addresses it should show (record groups, or the one group), in order.
    groups: Vec<IpAddr>,
    /// Record types, in order.
    records: Vec<u8>,
}

fn cases() -> Vec<Case> {
    let h4 = ip("10.0.0.5");
    let h6 = ip("fe80::5");
    let all_types = [
        RecordType::ModeIsInclude,
        RecordType::ModeIsExclude,
        RecordType::ChangeToInclude,
        RecordType::ChangeToExclude,
        RecordType::AllowNewSources,
        RecordType::BlockOldSources,
    ];
    let v3_records: Vec<GroupRecord> = all_types
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let g = format!("239.1.2.{}", i + 1);
            let srcs: &[&str] = if i % 2 == 0 {
                &["10.9.9.9", "10.9.9.8"]
            } else {
                &[]
            };
            rec(*k, &g, srcs, if i == 3 { 4 } else { 0 })
        })
        .collect();
    let v6_records: Vec<GroupRecord> = all_types
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let g = format!("ff1e::1:{}", i + 1);
            let srcs: &[&str] = if i % 2 == 1 { &["fd00::9"] } else { &[] };
            rec(*k, &g, srcs, if i == 2 { 8 } else { 0 })
        })
        .collect();
    let groups = |rs: &[GroupRecord]| rs.iter().map(|r| r.group).collect::<Vec<_>>();
    let types = |rs: &[GroupRecord]| rs.iter().map(|r| u8::from(r.kind)).collect::<Vec<_>>();
    let me = MacAddr([0x02, 0x74, 0x73, 0x6d, 0, 1]);
    let mut out = vec![
        Case {
            packet: parse::host_packet(
                HOST,
                h4,
                ip("239.1.2.3"),
                Message::Report {
                    version: Version::Igmp1,
                    group: ip("239.1.2.3"),
                },
            ),
            kind: 0x12,
            groups: vec![ip("239.1.2.3")],
            records: vec![],
        },
        Case {
            packet: parse::host_packet(
                HOST,
                h4,
                ip("239.1.2.3"),
                Message::Report {
                    version: Version::Igmp2,
                    group: ip("239.1.2.3"),
                },
            ),
            kind: 0x16,
            groups: vec![ip("239.1.2.3")],
            records: vec![],
        },
        Case {
            packet: parse::host_packet(
                HOST,
                h4,
                ip("224.0.0.2"),
                Message::Leave {
                    version: Version::Igmp2,
                    group: ip("239.1.2.3"),
                },
            ),
            kind: 0x17,
            groups: vec![ip("239.1.2.3")],
            records: vec![],
        },
        Case {
            packet: parse::host_packet(
                HOST,
                h4,
                ip("224.0.0.22"),
                Message::ReportV3 {
                    version: Version::Igmp3,
                    records: v3_records.clone(),
                },
            ),
            kind: 0x22,
            groups: groups(&v3_records),
            records: types(&v3_records),
        },
        Case {
            packet: parse::host_packet(
                HOST,
                h4,
                ip("224.0.0.1"),
                Message::Query(Query {
                    version: Version::Igmp2,
                    group: None,
                    max_resp_code: 100,
                    suppress: false,
                    qrv: 0,
                    qqic: 0,
                    sources: vec![],
                }),
            ),
            kind: 0x11,
            groups: vec![ip("0.0.0.0")],
            records: vec![],
        },
        Case {
            packet: parse::query(
                me,
                ip("0.0.0.0"),
                None,
                Duration::from_secs(10),
                2,
                Duration::from_secs(125),
            ),
            kind: 0x11,
            groups: vec![ip("0.0.0.0")],
            records: vec![],
        },
        Case {
            packet: parse::query(
                me,
                ip("0.0.0.0"),
                Some(ip("239.1.2.3")),
                Duration::from_secs(1),
                2,
                Duration::from_secs(125),
            ),
            kind: 0x11,
            groups: vec![ip("239.1.2.3")],
            records: vec![],
        },
        Case {
            packet: parse::host_packet(
                HOST,
                h6,
                ip("ff1e::1:2"),
                Message::Report {
                    version: Version::Mld1,
                    group: ip("ff1e::1:2"),
                },
            ),
            kind: 131,
            groups: vec![ip("ff1e::1:2")],
            records: vec![],
        },
        Case {
            packet: parse::host_packet(
                HOST,
                h6,
                ip("ff02::2"),
                Message::Leave {
                    version: Version::Mld1,
                    group: ip("ff1e::1:2"),
                },
            ),
            kind: 132,
            groups: vec![ip("ff1e::1:2")],
            records: vec![],
        },
        Case {
            packet: parse::host_packet(
                HOST,
                h6,
                ip("ff02::16"),
                Message::ReportV3 {
                    version: Version::Mld2,
                    records: v6_records.clone(),
                },
            ),
            kind: 143,
            groups: groups(&v6_records),
            records: types(&v6_records),
        },
        Case {
            packet: parse::query(
                me,
                ip("fe80::74:73ff:fe6d:1"),
                None,
                Duration::from_secs(10),
                2,
                Duration::from_secs(125),
            ),
            kind: 130,
            groups: vec![ip("::")],
            records: vec![],
        },
        Case {
            packet: parse::query(
                me,
                ip("fe80::74:73ff:fe6d:1"),
                Some(ip("ff1e::1:2")),
                Duration::from_secs(1),
                2,
                Duration::from_secs(125),
            ),
            kind: 130,
            groups: vec![ip("ff1e::1:2")],
            records: vec![],
        },
    ];
    // A v3 query with sources (group-and-source-specific).
    if let Message::Query(q) = &mut out[6].packet.msg {
        q.sources = vec![ip("10.9.9.9")];
    }
    out
}

/// Every frame as text2pcap input (each block restarts at offset 0).
fn hexdump(frames: &[Vec<u8>]) -> String {
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
    s
}

#[test]
fn tshark_reads_our_igmp_and_mld_frames_as_meant() {
    let cases = cases();
    let frames: Vec<Vec<u8>> = cases.iter().map(|c| c.packet.emit().unwrap()).collect();
    // Our own parser agrees with itself first.
    for (c, f) in cases.iter().zip(&frames) {
        assert_eq!(Packet::parse(f).unwrap(), c.packet);
    }
    let dir = tempfile::tempdir().unwrap();
    let txt = dir.path().join("frames.txt");
    let pcap = dir.path().join("frames.pcap");
    std::fs::write(&txt, hexdump(&frames)).unwrap();
    let mut t2p = tool("text2pcap");
    t2p.arg("-q").arg(&txt).arg(&pcap);
    run(t2p);

    // Nothing malformed, no warning (a bad checksum is one), with IPv4 header checks on.
    let mut bad = tool("tshark");
    bad.arg("-r")
        .arg(&pcap)
        .args(["-o", "ip.check_checksum:TRUE"])
        .args(["-Y", "_ws.malformed || _ws.expert.severity >= \"warning\""]);
    let complaints = run(bad);
    assert!(
        complaints.trim().is_empty(),
        "tshark complains:\n{complaints}"
    );

    let fields = [
        "frame.number",
        "ip.checksum.status",
        "ip.opt.ra",
        "igmp.type",
        "igmp.checksum.status",
        "igmp.maddr",
        "igmp.record_type",
        "igmp.num_src",
        "ipv6.opt.router_alert",
        "icmpv6.type",
        "icmpv6.checksum.status",
        "icmpv6.mld.multicast_address",
        "icmpv6.mldr.mar.multicast_address",
        "icmpv6.mldr.mar.record_type",
    ];
    let mut read = tool("tshark");
    read.arg("-r")
        .arg(&pcap)
        .args(["-o", "ip.check_checksum:TRUE"])
        .args(["-T", "fields", "-E", "separator=|", "-E", "occurrence=a"])
        .args(["-E", "aggregator=,"]);
    for f in fields {
        read.args(["-e", f]);
    }
    let out = run(read);
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), cases.len(), "{out}");
    let list = |s: &str| -> Vec<String> {
        if s.is_empty() {
            Vec::new()
        } else {
            s.split(',').map(str::to_owned).collect()
        }
    };
    for (i, (c, row)) in cases.iter().zip(&rows).enumerate() {
        let col = |name: &str| row[fields.iter().position(|f| *f == name).unwrap()];
        let ctx = format!("frame {} ({:?}): {row:?}", i + 1, c.packet.msg);
        let groups: Vec<IpAddr> = c.groups.clone();
        let records: Vec<String> = c.records.iter().map(u8::to_string).collect();
        let num = |s: &str| -> u8 {
            s.strip_prefix("0x")
                .map(|h| u8::from_str_radix(h, 16).unwrap())
                .unwrap_or_else(|| s.parse().unwrap())
        };
        if c.packet.msg.version().is_mld() {
            assert_eq!(num(col("icmpv6.type")), c.kind, "{ctx}");
            // Wireshark: 1 = good.
            assert_eq!(col("icmpv6.checksum.status"), "1", "{ctx}");
            assert!(!col("ipv6.opt.router_alert").is_empty(), "{ctx}");
            let shown: Vec<IpAddr> = if c.kind == 143 {
                list(col("icmpv6.mldr.mar.multicast_address"))
            } else {
                list(col("icmpv6.mld.multicast_address"))
            }
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
            assert_eq!(shown, groups, "{ctx}");
            assert_eq!(list(col("icmpv6.mldr.mar.record_type")), records, "{ctx}");
        } else {
            assert_eq!(num(col("igmp.type")), c.kind, "{ctx}");
            assert_eq!(col("ip.checksum.status"), "1", "{ctx}");
            assert_eq!(col("igmp.checksum.status"), "1", "{ctx}");
            assert!(!col("ip.opt.ra").is_empty(), "{ctx}");
            let shown: Vec<IpAddr> = list(col("igmp.maddr"))
                .iter()
                .map(|s| s.parse().unwrap())
                .collect();
            assert_eq!(shown, groups, "{ctx}");
            assert_eq!(list(col("igmp.record_type")), records, "{ctx}");
        }
    }
}
