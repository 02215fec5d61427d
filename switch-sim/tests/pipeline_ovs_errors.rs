//! The errors the pipeline answers, checked against Open vSwitch itself: for each request that
//! OVS refuses while decoding, `ovs-ofctl ofp-print` names the error OVS would send, and the
//! pipeline must send the same one. (Errors OVS finds later, against its tables, such as a
//! missing group or a full table, are covered by `pipeline_flowmod.rs`.)
//!
//! The test command installs `openvswitch-switch`; a missing `ovs-ofctl` fails the test.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed assertion

mod pipeline_common;
use pipeline_common::*;

use openflow::error_msg::ErrorCode;
use openflow::{
    Action, Bucket, FlowMod, FlowModCommand, GroupId, GroupMod, GroupType, Instruction, Match,
    Message, MeterId, Oxm, PortNo, TableId,
};
use std::process::Command;

fn ovs_error(bytes: &[u8]) -> String {
    let found = Command::new("sh")
        .args(["-c", "command -v ovs-ofctl"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "ovs-ofctl is missing: apt-get install openvswitch-switch (scripts/test does this)"
    );
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let out = Command::new("ovs-ofctl")
        .args(["ofp-print", &hex])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(at) = text.find("decode error: ") else {
        return format!("accepted: {}", text.lines().next().unwrap_or(""));
    };
    text[at + 14..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

fn our_error(m: &Message) -> String {
    let mut p = sw(4);
    ok(&mut p, vec![flow(0, Match::new(), vec![])]);
    let e = refused(&mut p, m.clone());
    match e.typed() {
        ErrorCode::Experimenter { exp_type: 2600, .. } => "OFPBIC_DUP_INST".into(),
        ErrorCode::Experimenter { exp_type: 4250, .. } => "OFPBAC_BAD_SET_MASK".into(),
        c => c.spec_name().unwrap_or("?").to_owned(),
    }
}

fn set_ip(mask: Option<[u8; 4]>) -> Action {
    Action::SetField(Oxm::Ipv4Dst {
        value: [10, 0, 0, 1].into(),
        mask: mask.map(Into::into),
    })
}

#[test]
fn decode_time_errors_match_open_vswitch() {
    let ip = || Match::new().with(Oxm::EthType(0x0800));
    let cases: Vec<(&str, Message)> = vec![
        (
            "prerequisite missing",
            flow(1, Match::new().with(Oxm::TcpDst(80)), vec![]),
        ),
        (
            "prerequisite after its dependent",
            flow(
                1,
                Match::new()
                    .with(Oxm::IpProto(6))
                    .with(Oxm::EthType(0x0800)),
                vec![],
            ),
        ),
        (
            "duplicate field",
            flow(1, ip().with(Oxm::EthType(0x0800)), vec![]),
        ),
        (
            "value bits outside the mask",
            flow(
                1,
                ip().with(Oxm::Ipv4Dst {
                    value: [10, 0, 0, 1].into(),
                    mask: Some([255, 0, 0, 0].into()),
                }),
                vec![],
            ),
        ),
        (
            "VLAN PCP out of range",
            flow(
                1,
                Match::new()
                    .with(Oxm::VlanVid {
                        value: 0x1001,
                        mask: None,
                    })
                    .with(Oxm::VlanPcp(8)),
                vec![],
            ),
        ),
        (
            "DSCP out of range",
            flow(1, ip().with(Oxm::IpDscp(64)), vec![]),
        ),
        (
            "IN_PHY_PORT",
            flow(1, Match::new().with(Oxm::InPhyPort(PortNo(1))), vec![]),
        ),
        (
            "set-field without prerequisite",
            flow(1, Match::new(), apply(vec![set_ip(None)])),
        ),
        (
            "set-field with a mask",
            flow(1, ip(), apply(vec![set_ip(Some([255; 4]))])),
        ),
        (
            "set-field of a read-only field",
            flow(1, ip(), apply(vec![Action::SetField(Oxm::EthType(0x86dd))])),
        ),
        (
            "pop VLAN without VLAN",
            flow(1, Match::new(), apply(vec![Action::PopVlan])),
        ),
        (
            "dec TTL without IP",
            flow(1, Match::new(), apply(vec![Action::DecNwTtl])),
        ),
        (
            "push VLAN bad EtherType",
            flow(1, Match::new(), apply(vec![Action::PushVlan(0x0800)])),
        ),
        (
            "push PBB",
            flow(1, Match::new(), apply(vec![Action::PushPbb(0x88e7)])),
        ),
        (
            "output to ANY",
            flow(1, Match::new(), apply(vec![Action::output(PortNo::ANY)])),
        ),
        (
            "goto backwards",
            msg(FlowMod::add(
                TableId(3),
                1,
                Match::new(),
                vec![Instruction::GotoTable(TableId(2))],
            )),
        ),
        (
            "duplicate instruction",
            flow(
                1,
                Match::new(),
                vec![Instruction::ClearActions, Instruction::ClearActions],
            ),
        ),
        (
            "meter 0",
            flow(1, Match::new(), vec![Instruction::Meter(MeterId(0))]),
        ),
        (
            "ADD to OFPTT_ALL",
            msg(FlowMod::add(TableId::ALL, 1, Match::new(), vec![])),
        ),
        (
            "bad flow command",
            msg(FlowMod::new(FlowModCommand::Other(9))),
        ),
        (
            "INDIRECT with two buckets",
            group(
                GroupType::Indirect,
                1,
                vec![Bucket::new(vec![]), Bucket::new(vec![])],
            ),
        ),
        ("bad group type", group(GroupType::Other(7), 1, vec![])),
        (
            "weight in an ALL group",
            group(
                GroupType::All,
                1,
                vec![Bucket {
                    weight: 2,
                    ..Bucket::new(vec![out(1)])
                }],
            ),
        ),
        (
            "fast failover without watch",
            group(GroupType::FastFailover, 1, vec![Bucket::new(vec![out(1)])]),
        ),
        (
            "watch in an ALL group",
            group(
                GroupType::All,
                1,
                vec![Bucket {
                    watch_port: PortNo(1),
                    ..Bucket::new(vec![out(1)])
                }],
            ),
        ),
        (
            "delete with buckets",
            msg(GroupMod {
                buckets: vec![Bucket::new(vec![])],
                ..GroupMod::delete(GroupId(1))
            }),
        ),
    ];
    let mut mismatches = Vec::new();
    for (what, m) in &cases {
        let ours = our_error(m);
        let theirs = ovs_error(&m.encode().unwrap());
        if ours != theirs {
            mismatches.push(format!("{what}: we say {ours}, OVS says {theirs}"));
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}
