//! Our bytes, read by decoders we did not write: Wireshark's OpenFlow 1.3 dissector (tshark)
//! over a pcap of generated messages, and Open vSwitch's `ovs-ofctl ofp-print` over FLOW_MOD and
//! GROUP_MOD messages whose meaning we state in OVS's own words.
//!
//! The test command installs tshark, text2pcap and ovs-ofctl; a missing tool fails the test
//! with the package to install.

// A test helper that fails is a failed test: unwrap is the assertion here.
#![allow(clippy::unwrap_used)]

use openflow::message::arb;
use openflow::{Body, Message};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;

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
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Message type (header byte 1) and, for multipart, the multipart type.
fn kind(bytes: &[u8]) -> (u8, Option<u16>) {
    let t = bytes[1];
    let mp = (t == 18 || t == 19).then(|| u16::from_be_bytes([bytes[8], bytes[9]]));
    (t, mp)
}

/// Writes one TCP segment per message as text2pcap input (each block restarts at offset 0).
fn hexdump(msgs: &[Vec<u8>]) -> String {
    let mut s = String::new();
    for m in msgs {
        for (i, chunk) in m.chunks(16).enumerate() {
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
fn tshark_decodes_generated_messages_cleanly() {
    // Deterministic generation: a failure names the same messages on every run.
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let strategy = arb::message();
    let mut msgs = Vec::new();
    let mut seen: BTreeMap<(u8, Option<u16>), usize> = BTreeMap::new();
    // Every OF1.3 message type 0..=29 (but the multipart ones counted by body) and every
    // multipart body type 0..=13 on both sides.
    let mut want: Vec<(u8, Option<u16>)> = (0u8..=29)
        .filter(|t| *t != 18 && *t != 19)
        .map(|t| (t, None))
        .collect();
    for mp in 0u16..=13 {
        want.push((18, Some(mp)));
        want.push((19, Some(mp)));
    }
    want.push((4, None)); // experimenter messages with opaque data do decode
    let mut attempts = 0;
    while msgs.len() < 1200 || want.iter().any(|k| !seen.contains_key(k)) {
        attempts += 1;
        assert!(
            attempts < 50_000,
            "the generator never produced {:?}",
            want.iter()
                .filter(|k| !seen.contains_key(k))
                .collect::<Vec<_>>()
        );
        let mut m: Message = strategy.new_tree(&mut runner).unwrap().current();
        if let Body::Error(e) = &mut m.body {
            // An error quotes the request it refuses (OF1.3.5 §7.4.4), and tshark dissects the
            // quote as a message: quote a real one, whole, as a switch does for short requests.
            let quoted: Message = strategy.new_tree(&mut runner).unwrap().current();
            e.data = match quoted.encode() {
                Ok(b) if b.len() <= 64 => b,
                _ => Message::barrier_request(quoted.xid).encode().unwrap(),
            };
        }
        if !tshark_walks(&mut m) {
            continue;
        }
        let bytes = m.encode().expect("generated messages encode");
        let k = kind(&bytes);
        // Keep the pcap small: at most 60 of one kind.
        let n = seen.entry(k).or_default();
        if *n < 60 {
            *n += 1;
            msgs.push(bytes);
        }
    }

    let dir = std::env::temp_dir().join(format!("of-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let txt = dir.join("msgs.txt");
    let pcap = dir.join("msgs.pcap");
    std::fs::write(&txt, hexdump(&msgs)).unwrap();
    let mut t2p = tool("text2pcap", "wireshark-common");
    t2p.args(["-q", "-T", "40000,6653"]).arg(&txt).arg(&pcap);
    run(t2p);

    let tshark = |extra: &[&str]| {
        let mut c = tool("tshark", "tshark");
        c.arg("-r")
            .arg(&pcap)
            .args(["-d", "tcp.port==6653,openflow"])
            .args(extra);
        run(c)
    };
    // One line per frame: the protocol stack and the OpenFlow 1.3 type tshark read.
    let fields = tshark(&[
        "-T",
        "fields",
        "-e",
        "frame.protocols",
        "-e",
        "openflow_v4.type",
    ]);
    let lines: Vec<&str> = fields.lines().collect();
    assert_eq!(lines.len(), msgs.len(), "one frame per message");
    for (i, (line, bytes)) in lines.iter().zip(&msgs).enumerate() {
        let mut cols = line.split('\t');
        let protos = cols.next().unwrap_or("");
        // An ERROR lists its quoted message's type second.
        let ty = cols.next().unwrap_or("").split(',').next().unwrap_or("");
        assert!(
            protos.contains(":tcp:openflow:openflow_v4"),
            "frame {} not decoded as openflow_v4 ({protos}): {}",
            i + 1,
            hexdump(std::slice::from_ref(bytes))
        );
        assert_eq!(
            ty.parse::<u8>().ok(),
            Some(bytes[1]),
            "frame {}: tshark read another message type",
            i + 1
        );
    }
    let bad = tshark(&["-Y", "_ws.malformed || _ws.expert.severity >= \"warning\""]);
    if !bad.trim().is_empty() {
        let detail = tshark(&[
            "-Y",
            "_ws.malformed || _ws.expert.severity >= \"warning\"",
            "-O",
            "openflow_v4",
        ]);
        panic!(
            "tshark found malformed messages or expert warnings:\n{bad}\n{}",
            &detail[..detail.len().min(20_000)]
        );
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(msgs.len() >= 1000, "{} messages", msgs.len());
}

/// Prepares a generated message for tshark 4.0, or says it cannot be read there.
///
/// Packet data becomes a real Ethernet/IPv4/UDP frame: tshark dissects it, and random bytes
/// would be a malformed *Ethernet* frame, not a malformed OpenFlow message. tshark stops at
/// opaque experimenter bodies inside meter bands, multipart experimenter bodies and table
/// feature properties, and at multipart types it has no name for, then reports the bytes that
/// follow as malformed; those layouts are covered by golden tests built from the spec instead.
fn tshark_walks(m: &mut Message) -> bool {
    use openflow::multipart::{
        MeterBand, MultipartReplyBody as Rep, MultipartRequestBody as Req, TableFeatureProp,
        TableFeatures,
    };
    fn bands_ok(bands: &[MeterBand]) -> bool {
        bands
            .iter()
            .all(|b| matches!(b, MeterBand::Drop { .. } | MeterBand::DscpRemark { .. }))
    }
    fn features_ok(tables: &[TableFeatures]) -> bool {
        tables.iter().flat_map(|t| &t.properties).all(|p| match p {
            // Ids with a body (unknown or experimenter types) derail tshark's id lists.
            TableFeatureProp::Instructions(ids) | TableFeatureProp::InstructionsMiss(ids) => {
                ids.iter().all(|id| id.data.is_empty())
            }
            TableFeatureProp::WriteActions(ids)
            | TableFeatureProp::WriteActionsMiss(ids)
            | TableFeatureProp::ApplyActions(ids)
            | TableFeatureProp::ApplyActionsMiss(ids) => ids.iter().all(|id| id.data.is_empty()),
            TableFeatureProp::Experimenter { .. }
            | TableFeatureProp::ExperimenterMiss { .. }
            | TableFeatureProp::Unknown { .. } => false,
            TableFeatureProp::Match(ids)
            | TableFeatureProp::Wildcards(ids)
            | TableFeatureProp::WriteSetfield(ids)
            | TableFeatureProp::WriteSetfieldMiss(ids)
            | TableFeatureProp::ApplySetfield(ids)
            | TableFeatureProp::ApplySetfieldMiss(ids) => {
                ids.iter().all(|id| id.header >> 16 == 0x8000)
            }
            _ => true,
        })
    }
    match &mut m.body {
        Body::PacketIn(p) => p.data = udp_frame(p.data.len()),
        Body::PacketOut(p) => p.data = udp_frame(p.data.len()),
        Body::MeterMod(mm) => return bands_ok(&mm.bands),
        Body::MultipartRequest(r) => {
            return match &r.body {
                Req::TableFeatures(t) => features_ok(t),
                Req::Experimenter(_) => false,
                _ => r.body.mp_type().value() <= 13,
            }
        }
        Body::MultipartReply(r) => {
            return match &r.body {
                Rep::TableFeatures(t) => features_ok(t),
                Rep::MeterConfig(c) => c.iter().all(|c| bands_ok(&c.bands)),
                Rep::Experimenter(_) => false,
                _ => r.body.mp_type().value() <= 13,
            }
        }
        _ => {}
    }
    true
}

/// A well-formed Ethernet + IPv4 + UDP frame with `payload` bytes of UDP payload (0 for none).
fn udp_frame(payload: usize) -> Vec<u8> {
    let payload = payload.min(200);
    let ip_len = 20 + 8 + payload;
    let mut f = vec![
        0x01,
        0x00,
        0x5e,
        0x01,
        0x01,
        0x01, // dst: 239.1.1.1's multicast MAC
        0x02,
        0x00,
        0x00,
        0x00,
        0x00,
        0x01, // src
        0x08,
        0x00, // IPv4
        0x45,
        0x00,
        (ip_len >> 8) as u8,
        ip_len as u8,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0, // header
        10,
        0,
        0,
        1,
        239,
        1,
        1,
        1, // 10.0.0.1 -> 239.1.1.1
    ];
    let sum = f[14..34]
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum::<u32>();
    let sum = !((sum & 0xffff) + (sum >> 16)) as u16;
    f[24..26].copy_from_slice(&sum.to_be_bytes());
    let udp_len = (8 + payload) as u16;
    // Ports no tshark dissector claims, so the payload stays plain data.
    f.extend_from_slice(&[0xee, 0x48, 0xee, 0x49]);
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]); // no UDP checksum (RFC 768 allows it over IPv4)
    f.extend(std::iter::repeat_n(0u8, payload));
    f
}

/// `ovs-ofctl ofp-print` output for one message.
fn ofp_print(m: &Message) -> String {
    let hex: String = m
        .encode()
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut c = tool("ovs-ofctl", "openvswitch-switch");
    c.args(["ofp-print", &hex]);
    let out = run(c);
    assert!(
        !out.contains("***decode error") && !out.contains("(***"),
        "ovs-ofctl could not decode {hex}:\n{out}"
    );
    out
}

fn assert_prints(m: &Message, expected: &[&str]) {
    let out = ofp_print(m);
    for e in expected {
        assert!(out.contains(e), "ovs-ofctl printed\n{out}\nwithout `{e}`");
    }
}

mod ovs {
    use super::*;
    use openflow::msg::{FlowMod, FlowModFlags, GroupMod};
    use openflow::{
        Action, Bucket, Cookie, GroupId, GroupType, Instruction, MacAddr, Match, Oxm, PortNo,
        TableId, Xid,
    };
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn msg(body: impl Into<Body>) -> Message {
        Message::new(Xid(0x42), body)
    }

    fn group_flow(dst: Ipv4Addr, group: u32) -> FlowMod {
        FlowMod::add(
            TableId(0),
            1000,
            Match::new().with(Oxm::EthType(0x0800)).with(Oxm::Ipv4Dst {
                value: dst,
                mask: None,
            }),
            vec![Instruction::ApplyActions(vec![Action::Group(GroupId(
                group,
            ))])],
        )
    }

    #[test]
    fn subset_flow_mod_reads_as_meant() {
        let fm = group_flow(Ipv4Addr::new(239, 1, 1, 1), 7)
            .with_cookie(Cookie(0xabc0_0000_0000_0001))
            .with_hard_timeout(30)
            .with_flags(FlowModFlags::SEND_FLOW_REM);
        assert_prints(
            &msg(fm),
            &[
                "OFPT_FLOW_MOD (OF1.3) (xid=0x42): ADD",
                "priority=1000",
                "cookie:0xabc0000000000001",
                "hard:30",
                "send_flow_rem",
                "ip,nw_dst=239.1.1.1",
                "actions=group:7",
            ],
        );
    }

    #[test]
    fn masked_matches_and_several_instructions_read_as_meant() {
        let m = Match::new()
            .with(Oxm::InPort(PortNo(3)))
            .with(Oxm::EthSrc {
                value: MacAddr([0x02, 0, 0, 0, 0, 0]),
                mask: Some(MacAddr([0xff, 0xff, 0xff, 0, 0, 0])),
            })
            .with(Oxm::EthType(0x86dd))
            .with(Oxm::Ipv6Dst {
                value: "ff02::".parse::<Ipv6Addr>().unwrap(),
                mask: Some("ffff:ffff::".parse().unwrap()),
            })
            .with(Oxm::IpProto(17))
            .with(Oxm::UdpDst(5000));
        let fm = FlowMod::add(
            TableId(2),
            50,
            m,
            vec![
                Instruction::WriteMetadata {
                    metadata: 0x10,
                    mask: 0xff,
                },
                Instruction::ApplyActions(vec![
                    Action::PushVlan(0x8100),
                    Action::SetField(Oxm::VlanVid {
                        value: 0x1000 | 10,
                        mask: None,
                    }),
                    Action::output(PortNo(4)),
                ]),
                Instruction::GotoTable(TableId(3)),
            ],
        )
        .with_idle_timeout(10);
        assert_prints(
            &msg(fm),
            &[
                "ADD table:2 priority=50",
                "idle:10",
                "udp6,in_port=3,dl_src=02:00:00:00:00:00/ff:ff:ff:00:00:00,ipv6_dst=ff02::/32,tp_dst=5000",
                "actions=push_vlan:0x8100,set_field:4106->vlan_vid,output:4",
                "write_metadata:0x10/0xff",
                "goto_table:3",
            ],
        );
    }

    #[test]
    fn delete_by_cookie_reads_as_meant() {
        let fm = FlowMod::delete_by_cookie(Cookie(0x77)).with_out_port(PortNo(9));
        assert_prints(
            &msg(fm),
            &[
                "DEL table:255",
                "cookie:0x77/0xffffffffffffffff",
                "out_port:9",
            ],
        );
    }

    fn out(ports: &[u32]) -> Vec<Bucket> {
        ports
            .iter()
            .map(|p| Bucket::new(vec![Action::output(PortNo(*p))]))
            .collect()
    }

    #[test]
    fn all_group_with_buckets_reads_as_meant() {
        let gm = GroupMod::add(GroupType::All, GroupId(7), out(&[1, 2, 5]));
        assert_prints(
            &msg(gm),
            &[
                "OFPT_GROUP_MOD (OF1.3) (xid=0x42):",
                "ADD group_id=7,type=all,bucket=actions=output:1,bucket=actions=output:2,bucket=actions=output:5",
            ],
        );
    }

    #[test]
    fn select_group_with_weights_reads_as_meant() {
        let mut buckets = out(&[1, 2]);
        buckets[0].weight = 3;
        buckets[1].weight = 2;
        let gm = GroupMod::add(GroupType::Select, GroupId(8), buckets);
        assert_prints(
            &msg(gm),
            &[
                "group_id=8,type=select",
                "bucket=weight:3,actions=output:1",
                "bucket=weight:2,actions=output:2",
            ],
        );
    }

    #[test]
    fn fast_failover_group_reads_as_meant() {
        let mut buckets = out(&[1, 2]);
        buckets[0].watch_port = PortNo(1);
        buckets[1].watch_port = PortNo(2);
        let gm = GroupMod::add(GroupType::FastFailover, GroupId(9), buckets);
        assert_prints(
            &msg(gm),
            &[
                "group_id=9,type=ff",
                "bucket=watch_port:1,actions=output:1",
                "bucket=watch_port:2,actions=output:2",
            ],
        );
    }

    #[test]
    fn group_delete_and_modify_read_as_meant() {
        assert_prints(&msg(GroupMod::delete(GroupId(7))), &["DEL group_id=7"]);
        let gm = GroupMod::modify(GroupType::Indirect, GroupId(3), out(&[6]));
        assert_prints(
            &msg(gm),
            &["MOD group_id=3,type=indirect,bucket=actions=output:6"],
        );
    }
}
