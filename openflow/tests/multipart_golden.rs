//! Golden bytes of every multipart body, request and reply (OF1.3.5 §7.3.5), assembled by hand
//! from the spec's struct layouts, one annotated line per field. Each is a whole
//! `OFPT_MULTIPART_*` message, checked three ways:
//! - the independent decoder `ovs-ofctl ofp-print` reads it as intended (skipped, with a note,
//!   where Open vSwitch is not installed);
//! - decoding the body (after the 8-byte OpenFlow header) gives the expected value;
//! - emitting that value into a buffer pre-filled with 0xa5 gives the golden body exactly (so
//!   every pad byte is written).

// The helpers below are test code too: a panic there is a failed assertion (see clippy.toml).
#![allow(clippy::unwrap_used)]

use openflow::action::Action;
use openflow::group::Bucket;
use openflow::instruction::{Instruction, InstructionType};
use openflow::multipart::*;
use openflow::oxm::{Match, Oxm};
use openflow::port::{Port, PortConfig, PortFeatures, PortState};
use openflow::{
    Body, Cookie, DecodeError, FlowModFlags, GroupId, GroupType, Message, MeterId, PortNo, QueueId,
    Reader, TableId, Wire, Writer, Xid,
};
use std::process::Command;

/// Bytes from hex digits; `//` starts a comment to the end of the line.
fn hex(s: &str) -> Vec<u8> {
    let digits: String = s
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    assert_eq!(digits.len() % 2, 0, "odd number of hex digits");
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect()
}

/// `s` NUL-padded to `n` bytes, as a `char[n]` field.
fn text(s: &str, n: usize) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.resize(n, 0);
    v
}

/// What `ovs-ofctl ofp-print` makes of `msg`, or `None` if it is not installed.
fn ofp_print(msg: &[u8]) -> Option<String> {
    let hex: String = msg.iter().map(|b| format!("{b:02x}")).collect();
    let out = Command::new("ovs-ofctl")
        .args(["ofp-print", &hex])
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

/// Checks that Open vSwitch decodes `msg` cleanly and prints every one of `want`.
fn check_ovs(msg: &[u8], want: &[&str]) {
    let Some(out) = ofp_print(msg) else {
        eprintln!("ovs-ofctl not installed: independent check skipped");
        return;
    };
    println!("{out}");
    for bad in [
        "decode error",
        "***",
        "OFPBRC_",
        "OFPBMC_",
        "OFPBIC_",
        "OFPBAC_",
    ] {
        assert!(!out.contains(bad), "ovs-ofctl: {out}");
    }
    for w in want {
        assert!(out.contains(w), "ovs-ofctl output lacks {w:?}:\n{out}");
    }
}

/// The OpenFlow header is right for a message of `msg_type` and the body is what follows it.
fn body(msg: &[u8], msg_type: u8) -> &[u8] {
    assert_eq!(msg[0], 0x04, "version");
    assert_eq!(msg[1], msg_type, "message type");
    assert_eq!(
        usize::from(u16::from_be_bytes([msg[2], msg[3]])),
        msg.len(),
        "length field"
    );
    &msg[8..]
}

fn emit_a5<T: Wire>(v: &T) -> Vec<u8> {
    let mut buf = vec![0xa5; v.wire_len()];
    v.emit(&mut Writer::new(&mut buf));
    buf
}

fn check_request(msg: &[u8], want: &MultipartRequest, ovs: &[&str]) {
    let b = body(msg, 0x12);
    let mut r = Reader::new(b, "multipart_request");
    assert_eq!(&MultipartRequest::parse(&mut r).unwrap(), want);
    assert!(r.is_empty());
    assert_eq!(emit_a5(want), b);
    check_message(msg, Body::MultipartRequest(want.clone()));
    check_ovs(msg, ovs);
}

/// The whole message decodes and encodes through `Message` too.
fn check_message(msg: &[u8], body: Body) {
    let xid = Xid(u32::from_be_bytes([msg[4], msg[5], msg[6], msg[7]]));
    let m = Message::new(xid, body);
    assert_eq!(Message::decode(msg).unwrap(), m);
    assert_eq!(m.encode().unwrap(), msg);
}

fn check_reply(msg: &[u8], want: &MultipartReply, ovs: &[&str]) {
    let b = body(msg, 0x13);
    let mut r = Reader::new(b, "multipart_reply");
    assert_eq!(&MultipartReply::parse(&mut r).unwrap(), want);
    assert!(r.is_empty());
    assert_eq!(emit_a5(want), b);
    check_message(msg, Body::MultipartReply(want.clone()));
    check_ovs(msg, ovs);
}

fn reply(body: MultipartReplyBody) -> MultipartReply {
    MultipartReply::new(body)
}

fn eth_type_ipv4() -> Match {
    Match {
        fields: vec![Oxm::EthType(0x0800)],
    }
}

const ETH_TYPE_IPV4_MATCH: &str = "
    0001 000a               // ofp_match: type OFPMT_OXM, length 10
    80000a02 0800           // OXM ETH_TYPE (class 0x8000, field 5, len 2) = 0x0800
    000000000000            // pad to 8
";

#[test]
fn desc() {
    let req = hex("
        04 12 0010 00000001     // version 4, OFPT_MULTIPART_REQUEST, length 16, xid 1
        0000 0000 00000000      // type OFPMP_DESC, flags 0, pad[4]
    ");
    check_request(&req, &MultipartRequest::desc(), &["OFPST_DESC request"]);

    let mut rep = hex("
        04 13 0430 00000001     // OFPT_MULTIPART_REPLY, length 1072, xid 1
        0000 0000 00000000      // type OFPMP_DESC, flags 0, pad[4]
    ");
    rep.extend(text("Acme Networks", 256)); // mfr_desc[256]
    rep.extend(text("Model 7", 256)); // hw_desc[256]
    rep.extend(text("tsm 0.1", 256)); // sw_desc[256]
    rep.extend(text("SN-0042", 32)); // serial_num[32]
    rep.extend(text("rack 3 leaf 1", 256)); // dp_desc[256]
    let want = reply(MultipartReplyBody::Desc(Box::new(Desc {
        mfr_desc: "Acme Networks".into(),
        hw_desc: "Model 7".into(),
        sw_desc: "tsm 0.1".into(),
        serial_num: "SN-0042".into(),
        dp_desc: "rack 3 leaf 1".into(),
    })));
    check_reply(
        &rep,
        &want,
        &[
            "OFPST_DESC reply",
            "Manufacturer: Acme Networks",
            "Hardware: Model 7",
            "Software: tsm 0.1",
            "Serial Num: SN-0042",
            "DP Description: rack 3 leaf 1",
        ],
    );
}

#[test]
fn flow() {
    let mut req = hex("
        04 12 0040 00000002     // OFPT_MULTIPART_REQUEST, length 64, xid 2
        0001 0000 00000000      // type OFPMP_FLOW, flags 0, pad[4]
        01 000000               // table_id 1, pad[3]
        ffffffff                // out_port OFPP_ANY
        ffffffff                // out_group OFPG_ANY
        00000000                // pad2[4]
        0000000000000abc        // cookie
        ffffffffffffffff        // cookie_mask
    ");
    req.extend(hex(ETH_TYPE_IPV4_MATCH));
    let want = MultipartRequest::flows(TableId(1), eth_type_ipv4(), Cookie(0xabc), u64::MAX);
    check_request(&req, &want, &["OFPST_FLOW request", "table=1 ip"]);

    let mut rep = hex("
        04 13 0070 00000002     // OFPT_MULTIPART_REPLY, length 112, xid 2
        0001 0001 00000000      // type OFPMP_FLOW, flags OFPMPF_REPLY_MORE, pad[4]
        0060 00 00              // ofp_flow_stats: length 96, table_id 0, pad
        0000000a                // duration_sec 10
        1dcd6500                // duration_nsec 500000000
        8000                    // priority 32768
        003c 0078               // idle_timeout 60, hard_timeout 120
        0001                    // flags OFPFF_SEND_FLOW_REM
        00000000                // pad2[4]
        0000000000000abc        // cookie
        0000000000000064        // packet_count 100
        0000000000001900        // byte_count 6400
    ");
    rep.extend(hex(ETH_TYPE_IPV4_MATCH));
    rep.extend(hex("
        0001 0008 01 000000     // OFPIT_GOTO_TABLE, len 8, table 1, pad[3]
        0004 0018 00000000      // OFPIT_APPLY_ACTIONS, len 24, pad[4]
        0000 0010 00000002      // OFPAT_OUTPUT, len 16, port 2
        ffe5 000000000000       // max_len OFPCML_MAX, pad[6]
    "));
    let want = MultipartReply {
        flags: MultipartReplyFlags::REPLY_MORE,
        body: MultipartReplyBody::Flow(vec![FlowStats {
            table_id: TableId(0),
            duration_sec: 10,
            duration_nsec: 500_000_000,
            priority: 0x8000,
            idle_timeout: 60,
            hard_timeout: 120,
            flags: FlowModFlags::SEND_FLOW_REM,
            cookie: Cookie(0xabc),
            packet_count: 100,
            byte_count: 6400,
            match_: eth_type_ipv4(),
            instructions: vec![
                Instruction::GotoTable(TableId(1)),
                Instruction::ApplyActions(vec![Action::Output {
                    port: PortNo(2),
                    max_len: 0xffe5,
                }]),
            ],
        }]),
    };
    check_reply(
        &rep,
        &want,
        &[
            "OFPST_FLOW reply",
            "flags=[more]",
            "cookie=0xabc, duration=10.500s, table=0, n_packets=100, n_bytes=6400",
            "idle_timeout=60, hard_timeout=120, send_flow_rem ip",
            // OVS prints priority only when not the default 32768, and instructions in its
            // own order.
            "actions=output:2,goto_table:1",
        ],
    );
}

#[test]
fn aggregate() {
    let req = hex("
        04 12 0038 00000003     // OFPT_MULTIPART_REQUEST, length 56, xid 3
        0002 0000 00000000      // type OFPMP_AGGREGATE, flags 0, pad[4]
        ff 000000               // table_id OFPTT_ALL, pad[3]
        ffffffff                // out_port OFPP_ANY
        ffffffff                // out_group OFPG_ANY
        00000000                // pad2[4]
        0000000000000000        // cookie
        0000000000000000        // cookie_mask (any cookie)
        0001 0004 00000000      // ofp_match: OXM, length 4 (no fields), pad[4]
    ");
    let want = MultipartRequest::aggregate(TableId::ALL, Match::default(), Cookie(0), 0);
    check_request(&req, &want, &["OFPST_AGGREGATE request"]);

    let rep = hex("
        04 13 0028 00000003     // OFPT_MULTIPART_REPLY, length 40, xid 3
        0002 0000 00000000      // type OFPMP_AGGREGATE, flags 0, pad[4]
        0000000000000064        // packet_count 100
        0000000000001900        // byte_count 6400
        00000003                // flow_count 3
        00000000                // pad[4]
    ");
    let want = reply(MultipartReplyBody::Aggregate(AggregateStats {
        packet_count: 100,
        byte_count: 6400,
        flow_count: 3,
    }));
    check_reply(
        &rep,
        &want,
        &[
            "OFPST_AGGREGATE reply",
            "packet_count=100 byte_count=6400 flow_count=3",
        ],
    );
}

#[test]
fn table() {
    let req = hex("
        04 12 0010 00000004     // OFPT_MULTIPART_REQUEST, length 16, xid 4
        0003 0000 00000000      // type OFPMP_TABLE, flags 0, pad[4]
    ");
    check_request(
        &req,
        &MultipartRequest::table_stats(),
        &["OFPST_TABLE request"],
    );

    let rep = hex("
        04 13 0040 00000004     // OFPT_MULTIPART_REPLY, length 64, xid 4
        0003 0000 00000000      // type OFPMP_TABLE, flags 0, pad[4]
        00 000000               // ofp_table_stats: table_id 0, pad[3]
        00000005                // active_count 5
        0000000000000064        // lookup_count 100
        0000000000000050        // matched_count 80
        01 000000               // ofp_table_stats: table_id 1, pad[3]
        00000000                // active_count 0
        0000000000000050        // lookup_count 80
        0000000000000000        // matched_count 0
    ");
    let want = reply(MultipartReplyBody::Table(vec![
        TableStats {
            table_id: TableId(0),
            active_count: 5,
            lookup_count: 100,
            matched_count: 80,
        },
        TableStats {
            table_id: TableId(1),
            active_count: 0,
            lookup_count: 80,
            matched_count: 0,
        },
    ]));
    check_reply(
        &rep,
        &want,
        &[
            "OFPST_TABLE reply",
            "table 0:",
            "active=5, lookup=100, matched=80",
            "table 1:",
        ],
    );
}

#[test]
fn port_stats() {
    let req = hex("
        04 12 0018 00000005     // OFPT_MULTIPART_REQUEST, length 24, xid 5
        0004 0000 00000000      // type OFPMP_PORT_STATS, flags 0, pad[4]
        ffffffff 00000000       // port_no OFPP_ANY, pad[4]
    ");
    check_request(
        &req,
        &MultipartRequest::port_stats(PortNo::ANY),
        &["OFPST_PORT request", "port_no=ANY"],
    );

    let rep = hex("
        04 13 0080 00000005     // OFPT_MULTIPART_REPLY, length 128, xid 5
        0004 0000 00000000      // type OFPMP_PORT_STATS, flags 0, pad[4]
        00000001 00000000       // ofp_port_stats: port_no 1, pad[4]
        0000000000000010        // rx_packets 16
        0000000000000020        // tx_packets 32
        0000000000001000        // rx_bytes 4096
        0000000000002000        // tx_bytes 8192
        0000000000000001        // rx_dropped 1
        0000000000000002        // tx_dropped 2
        0000000000000003        // rx_errors 3
        0000000000000004        // tx_errors 4
        0000000000000005        // rx_frame_err 5
        0000000000000006        // rx_over_err 6
        0000000000000007        // rx_crc_err 7
        ffffffffffffffff        // collisions: not counted
        0000003c                // duration_sec 60
        00000000                // duration_nsec 0
    ");
    let want = reply(MultipartReplyBody::PortStats(vec![PortStats {
        rx_packets: 16,
        tx_packets: 32,
        rx_bytes: 4096,
        tx_bytes: 8192,
        rx_dropped: 1,
        tx_dropped: 2,
        rx_errors: 3,
        tx_errors: 4,
        rx_frame_err: 5,
        rx_over_err: 6,
        rx_crc_err: 7,
        collisions: u64::MAX,
        duration_sec: 60,
        ..PortStats::new(PortNo(1))
    }]));
    check_reply(
        &rep,
        &want,
        &[
            "OFPST_PORT reply",
            "port  1: rx pkts=16, bytes=4096, drop=1, errs=3, frame=5, over=6, crc=7",
            "tx pkts=32, bytes=8192, drop=2, errs=4, coll=?",
            "duration=60s",
        ],
    );
}

#[test]
fn queue() {
    let req = hex("
        04 12 0018 00000006     // OFPT_MULTIPART_REQUEST, length 24, xid 6
        0005 0000 00000000      // type OFPMP_QUEUE, flags 0, pad[4]
        00000001                // port_no 1
        ffffffff                // queue_id OFPQ_ALL
    ");
    check_request(
        &req,
        &MultipartRequest::queue_stats(PortNo(1), QueueId::ALL),
        &["OFPST_QUEUE request", "port=1 queue=ALL"],
    );

    let rep = hex("
        04 13 0038 00000006     // OFPT_MULTIPART_REPLY, length 56, xid 6
        0005 0000 00000000      // type OFPMP_QUEUE, flags 0, pad[4]
        00000001                // ofp_queue_stats: port_no 1
        00000002                // queue_id 2
        0000000000001000        // tx_bytes 4096
        0000000000000010        // tx_packets 16
        0000000000000000        // tx_errors 0
        0000000a                // duration_sec 10
        00000000                // duration_nsec 0
    ");
    let want = reply(MultipartReplyBody::Queue(vec![QueueStats {
        port_no: PortNo(1),
        queue_id: QueueId(2),
        tx_bytes: 4096,
        tx_packets: 16,
        tx_errors: 0,
        duration_sec: 10,
        duration_nsec: 0,
    }]));
    check_reply(
        &rep,
        &want,
        &[
            "OFPST_QUEUE reply",
            "port 1 queue 2: bytes=4096, pkts=16, errors=0, duration=10s",
        ],
    );
}

#[test]
fn group() {
    let req = hex("
        04 12 0018 00000007     // OFPT_MULTIPART_REQUEST, length 24, xid 7
        0006 0000 00000000      // type OFPMP_GROUP, flags 0, pad[4]
        fffffffc 00000000       // group_id OFPG_ALL, pad[4]
    ");
    check_request(
        &req,
        &MultipartRequest::group_stats(GroupId::ALL),
        &["OFPST_GROUP request", "group_id=ALL"],
    );

    let rep = hex("
        04 13 0058 00000007     // OFPT_MULTIPART_REPLY, length 88, xid 7
        0006 0000 00000000      // type OFPMP_GROUP, flags 0, pad[4]
        0048 0000               // ofp_group_stats: length 72, pad[2]
        00000001                // group_id 1
        00000002                // ref_count 2
        00000000                // pad2[4]
        0000000000000020        // packet_count 32
        0000000000002000        // byte_count 8192
        00000005                // duration_sec 5
        00000000                // duration_nsec 0
        0000000000000010        // bucket 0: packet_count 16
        0000000000001000        //           byte_count 4096
        0000000000000010        // bucket 1: packet_count 16
        0000000000001000        //           byte_count 4096
    ");
    let bucket = BucketCounter {
        packet_count: 16,
        byte_count: 4096,
    };
    let want = reply(MultipartReplyBody::Group(vec![GroupStats {
        group_id: GroupId(1),
        ref_count: 2,
        packet_count: 32,
        byte_count: 8192,
        duration_sec: 5,
        duration_nsec: 0,
        bucket_stats: vec![bucket, bucket],
    }]));
    check_reply(
        &rep,
        &want,
        &[
            "OFPST_GROUP reply",
            "group_id=1,duration=5s,ref_count=2,packet_count=32,byte_count=8192",
            "bucket0:packet_count=16,byte_count=4096",
            "bucket1:packet_count=16,byte_count=4096",
        ],
    );
}

#[test]
fn group_desc() {
    let req = hex("
        04 12 0010 00000008     // OFPT_MULTIPART_REQUEST, length 16, xid 8
        0007 0000 00000000      // type OFPMP_GROUP_DESC, flags 0, pad[4]
    ");
    check_request(
        &req,
        &MultipartRequest::groups_desc(),
        &["OFPST_GROUP_DESC request"],
    );

    let rep = hex("
        04 13 0058 00000008     // OFPT_MULTIPART_REPLY, length 88, xid 8
        0007 0000 00000000      // type OFPMP_GROUP_DESC, flags 0, pad[4]
        0048 00 00              // ofp_group_desc: length 72, type OFPGT_ALL, pad
        00000001                // group_id 1
        0020 0000               // ofp_bucket: len 32, weight 0
        ffffffff ffffffff       // watch_port OFPP_ANY, watch_group OFPG_ANY
        00000000                // pad[4]
        0000 0010 00000001      // OFPAT_OUTPUT, len 16, port 1
        ffe5 000000000000       // max_len OFPCML_MAX, pad[6]
        0020 0000               // ofp_bucket: len 32, weight 0
        ffffffff ffffffff       // watch_port OFPP_ANY, watch_group OFPG_ANY
        00000000                // pad[4]
        0000 0010 00000002      // OFPAT_OUTPUT, len 16, port 2
        ffe5 000000000000       // max_len OFPCML_MAX, pad[6]
    ");
    let bucket = |port| Bucket {
        weight: 0,
        watch_port: PortNo::ANY,
        watch_group: GroupId::ANY,
        actions: vec![Action::Output {
            port: PortNo(port),
            max_len: 0xffe5,
        }],
    };
    let want = reply(MultipartReplyBody::GroupDesc(vec![GroupDesc {
        group_type: GroupType::All,
        group_id: GroupId(1),
        buckets: vec![bucket(1), bucket(2)],
    }]));
    check_reply(
        &rep,
        &want,
        &[
            "OFPST_GROUP_DESC reply",
            "group_id=1,type=all,bucket=actions=output:1,bucket=actions=output:2",
        ],
    );
}

#[test]
fn group_features() {
    let req = hex("
        04 12 0010 00000009     // OFPT_MULTIPART_REQUEST, length 16, xid 9
        0008 0000 00000000      // type OFPMP_GROUP_FEATURES, flags 0, pad[4]
    ");
    check_request(
        &req,
        &MultipartRequest::group_features(),
        &["OFPST_GROUP_FEATURES request"],
    );

    let rep = hex("
        04 13 0038 00000009     // OFPT_MULTIPART_REPLY, length 56, xid 9
        0008 0000 00000000      // type OFPMP_GROUP_FEATURES, flags 0, pad[4]
        0000000f                // types: ALL, SELECT, INDIRECT, FF
        00000005                // capabilities: SELECT_WEIGHT, CHAINING
        00000400                // max_groups[ALL] 1024
        00000100                // max_groups[SELECT] 256
        00000100                // max_groups[INDIRECT] 256
        00000010                // max_groups[FF] 16
        00400001                // actions[ALL]: OUTPUT, GROUP
        00000001                // actions[SELECT]: OUTPUT
        00000001                // actions[INDIRECT]: OUTPUT
        00000001                // actions[FF]: OUTPUT
    ");
    let features = GroupFeatures {
        types: GroupTypes::ALL | GroupTypes::SELECT | GroupTypes::INDIRECT | GroupTypes::FF,
        capabilities: GroupCapabilities::SELECT_WEIGHT | GroupCapabilities::CHAINING,
        max_groups: [1024, 256, 256, 16],
        actions: [0x0040_0001, 1, 1, 1],
    };
    assert_eq!(features.max_groups_of(GroupType::All), Some(1024));
    assert!(features.types.has(GroupType::FastFailover));
    let want = reply(MultipartReplyBody::GroupFeatures(features));
    check_reply(
        &rep,
        &want,
        &[
            "OFPST_GROUP_FEATURES reply",
            "Group table:",
            "Types:  0xf",
            "Capabilities:  0x5",
            "all group:",
            "max_groups=0x400",
            "actions: output group",
            "fast failover group:",
            "max_groups=0x10",
        ],
    );
}

#[test]
fn meter() {
    let req = hex("
        04 12 0018 0000000a     // OFPT_MULTIPART_REQUEST, length 24, xid 10
        0009 0000 00000000      // type OFPMP_METER, flags 0, pad[4]
        00000001 00000000       // meter_id 1, pad[4]
    ");
    check_request(
        &req,
        &MultipartRequest::meter_stats(MeterId(1)),
        &["OFPST_METER request", "meter=1"],
    );

    let rep = hex("
        04 13 0048 0000000a     // OFPT_MULTIPART_REPLY, length 72, xid 10
        0009 0000 00000000      // type OFPMP_METER, flags 0, pad[4]
        00000001                // ofp_meter_stats: meter_id 1
        0038 000000000000       // len 56, pad[6]
        00000002                // flow_count 2
        0000000000000064        // packet_in_count 100
        0000000000001900        // byte_in_count 6400
        0000000a                // duration_sec 10
        00000000                // duration_nsec 0
        0000000000000005        // band 0: packet_band_count 5
        0000000000000500        //         byte_band_count 1280
    ");
    let want = reply(MultipartReplyBody::Meter(vec![MeterStats {
        meter_id: MeterId(1),
        flow_count: 2,
        packet_in_count: 100,
        byte_in_count: 6400,
        duration_sec: 10,
        duration_nsec: 0,
        band_stats: vec![MeterBandStats {
            packet_band_count: 5,
            byte_band_count: 1280,
        }],
    }]));
    check_reply(
        &rep,
        &want,
        &[
            "OFPST_METER reply",
            "meter:1 flow_count:2 packet_in_count:100 byte_in_count:6400 duration:10s",
            "0: packet_count:5 byte_count:1280",
        ],
    );
}

#[test]
fn meter_config() {
    let req = hex("
        04 12 0018 0000000b     // OFPT_MULTIPART_REQUEST, length 24, xid 11
        000a 0000 00000000      // type OFPMP_METER_CONFIG, flags 0, pad[4]
        ffffffff 00000000       // meter_id OFPM_ALL, pad[4]
    ");
    check_request(
        &req,
        &MultipartRequest::meter_config(MeterId::ALL),
        &["OFPST_METER_CONFIG request"],
    );

    let rep = hex("
        04 13 0038 0000000b     // OFPT_MULTIPART_REPLY, length 56, xid 11
        000a 0000 00000000      // type OFPMP_METER_CONFIG, flags 0, pad[4]
        0028                    // ofp_meter_config: length 40
        0009                    // flags OFPMF_KBPS | OFPMF_STATS
        00000001                // meter_id 1
        0001 0010               // band: type OFPMBT_DROP, len 16
        000003e8 00000000       // rate 1000, burst_size 0
        00000000                // pad[4]
        0002 0010               // band: type OFPMBT_DSCP_REMARK, len 16
        00002710 00000000       // rate 10000, burst_size 0
        02 000000               // prec_level 2, pad[3]
    ");
    let want = reply(MultipartReplyBody::MeterConfig(vec![MeterConfig {
        flags: MeterFlags::KBPS | MeterFlags::STATS,
        meter_id: MeterId(1),
        bands: vec![
            MeterBand::Drop {
                rate: 1000,
                burst_size: 0,
            },
            MeterBand::DscpRemark {
                rate: 10000,
                burst_size: 0,
                prec_level: 2,
            },
        ],
    }]));
    check_reply(
        &rep,
        &want,
        &[
            "OFPST_METER_CONFIG reply",
            "meter=1 kbps stats bands=",
            "type=drop rate=1000",
            "type=dscp_remark rate=10000 prec_level=2",
        ],
    );
}

#[test]
fn meter_features() {
    let req = hex("
        04 12 0010 0000000c     // OFPT_MULTIPART_REQUEST, length 16, xid 12
        000b 0000 00000000      // type OFPMP_METER_FEATURES, flags 0, pad[4]
    ");
    check_request(
        &req,
        &MultipartRequest::meter_features(),
        &["OFPST_METER_FEATURES request"],
    );

    let rep = hex("
        04 13 0020 0000000c     // OFPT_MULTIPART_REPLY, length 32, xid 12
        000b 0000 00000000      // type OFPMP_METER_FEATURES, flags 0, pad[4]
        00000400                // max_meter 1024
        00000006                // band_types: 1<<DROP | 1<<DSCP_REMARK
        0000000f                // capabilities: KBPS, PKTPS, BURST, STATS
        02                      // max_bands 2
        00                      // max_color 0
        0000                    // pad[2]
    ");
    let want = reply(MultipartReplyBody::MeterFeatures(MeterFeatures {
        max_meter: 1024,
        band_types: MeterBandTypes::DROP | MeterBandTypes::DSCP_REMARK,
        capabilities: 0xf,
        max_bands: 2,
        max_color: 0,
    }));
    check_reply(
        &rep,
        &want,
        &[
            "OFPST_METER_FEATURES reply",
            "max_meter:1024 max_bands:2 max_color:0",
            "band_types: drop dscp_remark",
            "capabilities: kbps pktps burst stats",
        ],
    );
}

/// One table with every property type the spec defines and one it does not. Open vSwitch
/// refuses table features that lack any of the eight non-miss properties other than
/// experimenter ("missing required properties"), so a switch must send all of them.
fn classifier_features() -> (Vec<u8>, TableFeatures) {
    let mut b = hex("
        00b8                    // ofp_table_features: length 184
        00                      // table_id 0
        0000000000              // pad[5]
    ");
    b.extend(text("classifier", 32)); // name[32]
    b.extend(hex("
        ffffffffffffffff        // metadata_match
        ffffffffffffffff        // metadata_write
        00000003                // config OFPTC_DEPRECATED_MASK
        000f4240                // max_entries 1000000
        0000 000c               // OFPTFPT_INSTRUCTIONS, length 12
        0001 0004               //   GOTO_TABLE, len 4
        0004 0004               //   APPLY_ACTIONS, len 4
        00000000                //   pad to 8
        0001 0008               // OFPTFPT_INSTRUCTIONS_MISS, length 8
        0001 0004               //   GOTO_TABLE, len 4
        0002 0007               // OFPTFPT_NEXT_TABLES, length 7
        01 02 03 00             //   tables 1, 2, 3; pad
        0004 0008               // OFPTFPT_WRITE_ACTIONS, length 8
        0000 0004               //   OUTPUT, len 4
        0006 000c               // OFPTFPT_APPLY_ACTIONS, length 12
        0000 0004               //   OUTPUT, len 4
        0016 0004               //   GROUP, len 4
        00000000                //   pad to 8
        0008 000c               // OFPTFPT_MATCH, length 12
        80000004                //   IN_PORT (class 0x8000, field 0, len 4)
        80000a02                //   ETH_TYPE (field 5, len 2)
        00000000                //   pad to 8
        000a 0008               // OFPTFPT_WILDCARDS, length 8
        80000a02                //   ETH_TYPE
        000c 0008               // OFPTFPT_WRITE_SETFIELD, length 8
        80000606                //   ETH_DST
        000e 0008               // OFPTFPT_APPLY_SETFIELD, length 8
        80000606                //   ETH_DST (field 3, len 6)
        fffe 0010               // OFPTFPT_EXPERIMENTER, length 16
        00002320                //   experimenter (Nicira)
        00000001                //   exp_type 1
        00000002                //   experimenter_data[0]
        0009 0006               // type 9 (unassigned), length 6
        abcd 0000               //   2 bytes, kept as received; pad to 8
    "));
    let ids = |v: &[u16]| {
        v.iter()
            .map(|&t| FeatureId::new(t.into()))
            .collect::<Vec<_>>()
    };
    let oxms = |v: &[u32]| v.iter().map(|&h| OxmId::new(h)).collect::<Vec<_>>();
    let t = TableFeatures {
        table_id: TableId(0),
        name: "classifier".into(),
        metadata_match: u64::MAX,
        metadata_write: u64::MAX,
        config: 3,
        max_entries: 1_000_000,
        properties: vec![
            TableFeatureProp::Instructions(vec![
                InstructionId::new(InstructionType::GotoTable),
                InstructionId::new(InstructionType::ApplyActions),
            ]),
            TableFeatureProp::InstructionsMiss(vec![InstructionId::new(
                InstructionType::GotoTable,
            )]),
            TableFeatureProp::NextTables(vec![TableId(1), TableId(2), TableId(3)]),
            TableFeatureProp::WriteActions(ids(&[0])),
            TableFeatureProp::ApplyActions(ids(&[0, 22])),
            TableFeatureProp::Match(oxms(&[0x8000_0004, 0x8000_0a02])),
            TableFeatureProp::Wildcards(oxms(&[0x8000_0a02])),
            TableFeatureProp::WriteSetfield(oxms(&[0x8000_0606])),
            TableFeatureProp::ApplySetfield(oxms(&[0x8000_0606])),
            TableFeatureProp::Experimenter {
                experimenter: 0x2320,
                exp_type: 1,
                data: vec![0, 0, 0, 2],
            },
            TableFeatureProp::Unknown {
                ty: TableFeaturePropType::Other(9),
                data: vec![0xab, 0xcd],
            },
        ],
    };
    (b, t)
}

#[test]
fn table_features() {
    // What `ovs-ofctl` sends before most commands: a query with an empty body.
    let req = hex("
        04 12 0010 0000000d     // OFPT_MULTIPART_REQUEST, length 16, xid 13
        000c 0000 00000000      // type OFPMP_TABLE_FEATURES, flags 0, pad[4]
    ");
    check_request(
        &req,
        &MultipartRequest::table_features(),
        &["OFPST_TABLE_FEATURES request"],
    );

    let (t_bytes, t) = classifier_features();
    assert_eq!(t.missing_required(), vec![]);
    let mut rep = hex("
        04 13 00c8 0000000d     // OFPT_MULTIPART_REPLY, length 200, xid 13
        000c 0000 00000000      // type OFPMP_TABLE_FEATURES, flags 0, pad[4]
    ");
    rep.extend(&t_bytes);
    let want = reply(MultipartReplyBody::TableFeatures(vec![t.clone()]));
    check_reply(
        &rep,
        &want,
        &[
            "OFPST_TABLE_FEATURES reply",
            "table 0 (\"classifier\"):",
            "metadata: match=0xffffffffffffffff write=0xffffffffffffffff",
            "max_entries=1000000",
            "instructions (other than table miss):",
            "next tables: 1-3",
            "instructions: apply_actions goto_table",
            "instructions (table miss):",
            "instructions: goto_table",
            "actions: output group",
            "supported on Set-Field: eth_dst",
            "exact match or wildcard: eth_type",
            "must exact match: in_port_oxm",
        ],
    );

    // A request that sets the table's features, with OFPMPF_REQ_MORE.
    let mut set = hex("
        04 12 00c8 0000000e     // OFPT_MULTIPART_REQUEST, length 200, xid 14
        000c 0001 00000000      // type OFPMP_TABLE_FEATURES, flags OFPMPF_REQ_MORE, pad[4]
    ");
    set.extend(&t_bytes);
    let want = MultipartRequest {
        flags: MultipartRequestFlags::REQ_MORE,
        body: MultipartRequestBody::TableFeatures(vec![t]),
    };
    check_request(
        &set,
        &want,
        &[
            "OFPST_TABLE_FEATURES request",
            "flags=[more]",
            "table 0 (\"classifier\"):",
        ],
    );
}

#[test]
fn port_desc() {
    let req = hex("
        04 12 0010 0000000f     // OFPT_MULTIPART_REQUEST, length 16, xid 15
        000d 0000 00000000      // type OFPMP_PORT_DESC, flags 0, pad[4]
    ");
    check_request(
        &req,
        &MultipartRequest::port_desc(),
        &["OFPST_PORT_DESC request"],
    );

    let mut rep = hex("
        04 13 0050 0000000f     // OFPT_MULTIPART_REPLY, length 80, xid 15
        000d 0000 00000000      // type OFPMP_PORT_DESC, flags 0, pad[4]
        00000001 00000000       // ofp_port: port_no 1, pad[4]
        0a0000000001 0000       // hw_addr 0a:00:00:00:00:01, pad2[2]
    ");
    rep.extend(text("eth1", 16)); // name[16]
    rep.extend(hex("
        00000000                // config 0
        00000004                // state OFPPS_LIVE
        00002840                // curr: 10GB_FD | COPPER | AUTONEG
        00000000                // advertised
        00000000                // supported
        00000000                // peer
        00989680                // curr_speed 10000000 kbps
        00989680                // max_speed 10000000 kbps
    "));
    let mut port = Port::new(PortNo(1), [0x0a, 0, 0, 0, 0, 1], "eth1");
    port.config = PortConfig::empty();
    port.state = PortState::LIVE;
    port.curr = PortFeatures::from_bits_retain(0x2840);
    port.advertised = PortFeatures::empty();
    port.supported = PortFeatures::empty();
    port.peer = PortFeatures::empty();
    port.curr_speed = 10_000_000;
    port.max_speed = 10_000_000;
    let want = reply(MultipartReplyBody::PortDesc(vec![port]));
    check_reply(
        &rep,
        &want,
        &[
            "OFPST_PORT_DESC reply",
            "1(eth1): addr:0a:00:00:00:00:01",
            "state:      LIVE",
            "current:    10GB-FD COPPER AUTO_NEG",
            "speed: 10000 Mbps now, 10000 Mbps max",
        ],
    );
}

#[test]
fn experimenter() {
    let req = hex("
        04 12 001c 00000010     // OFPT_MULTIPART_REQUEST, length 28, xid 16
        ffff 0000 00000000      // type OFPMP_EXPERIMENTER, flags 0, pad[4]
        00abcdef                // experimenter 0xabcdef
        00000007                // exp_type 7
        01020304                // data
    ");
    let body = ExperimenterBody {
        experimenter: 0xabcdef,
        exp_type: 7,
        data: vec![1, 2, 3, 4],
    };
    let want = MultipartRequest::new(MultipartRequestBody::Experimenter(body.clone()));
    // OVS does not know this experimenter: only our own decode applies.
    let b = self::body(&req, 0x12);
    assert_eq!(
        MultipartRequest::parse(&mut Reader::new(b, "t")).unwrap(),
        want
    );
    assert_eq!(emit_a5(&want), b);

    let rep = hex("
        04 13 001c 00000010     // OFPT_MULTIPART_REPLY, length 28, xid 16
        ffff 0000 00000000      // type OFPMP_EXPERIMENTER, flags 0, pad[4]
        00abcdef                // experimenter 0xabcdef
        00000007                // exp_type 7
        01020304                // data
    ");
    let want = reply(MultipartReplyBody::Experimenter(body));
    let b = self::body(&rep, 0x13);
    assert_eq!(
        MultipartReply::parse(&mut Reader::new(b, "t")).unwrap(),
        want
    );
    assert_eq!(emit_a5(&want), b);
}

#[test]
fn unknown_type_keeps_its_body() {
    let rep = hex("
        04 13 0014 00000011     // OFPT_MULTIPART_REPLY, length 20, xid 17
        0020 0003 00000000      // type 0x20 (unknown), flags REPLY_MORE | bit 1, pad[4]
        deadbeef                // body, kept as received
    ");
    let want = MultipartReply {
        flags: MultipartReplyFlags::REPLY_MORE | MultipartReplyFlags::from_bits_retain(2),
        body: MultipartReplyBody::Other {
            mp_type: MultipartType::Other(0x20),
            body: vec![0xde, 0xad, 0xbe, 0xef],
        },
    };
    let b = body(&rep, 0x13);
    assert_eq!(
        MultipartReply::parse(&mut Reader::new(b, "t")).unwrap(),
        want
    );
    assert_eq!(emit_a5(&want), b);
}

#[test]
fn bad_lengths_are_typed_errors() {
    // The flow reply of `flow()` with its ofp_flow_stats length set to 88: the element claims
    // less than it holds, and the next "element" is 8 bytes of instructions.
    let mut b = hex("
        0001 0000 00000000      // type OFPMP_FLOW, flags 0, pad[4]
        0058 00 00              // ofp_flow_stats: length 88 (really 96)
    ");
    b.extend(vec![0; 44]);
    b.extend(hex(ETH_TYPE_IPV4_MATCH));
    b.extend(hex("
        0001 0008 01 000000     // OFPIT_GOTO_TABLE
        0004 0018 00000000      // OFPIT_APPLY_ACTIONS, len 24 (cut by the bad length)
        0000 0010 00000002 ffe5 000000000000
    "));
    let err = MultipartReply::parse(&mut Reader::new(&b, "multipart_reply")).unwrap_err();
    assert!(matches!(err, DecodeError::Truncated { .. }), "{err:?}");

    // Every prefix of every golden body is an error or a shorter valid list, never a panic.
    let (t, _) = classifier_features();
    let mut tf = hex("000c 0000 00000000");
    tf.extend(&t);
    for cut in 0..tf.len() {
        let r = MultipartReply::parse(&mut Reader::new(&tf[..cut], "multipart_reply"));
        if cut != 8 {
            assert!(r.is_err(), "prefix of {cut} bytes decoded");
        }
    }
}
