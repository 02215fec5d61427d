//! Helpers shared by the pipeline tests: message builders and packets.
#![allow(dead_code, clippy::unwrap_used)]

use openflow::error_msg::ErrorCode;
use openflow::oxm::MacAddr;
use openflow::{
    Action, Body, Bucket, ErrorMsg, FlowMod, GroupId, GroupMod, GroupType, Instruction, Match,
    Message, Oxm, PortNo, TableId, Xid,
};
use std::net::Ipv4Addr;
use switch_sim::{Config, Pipeline, Time};

pub fn sw(ports: u32) -> Pipeline {
    Pipeline::with_ports(Config::default(), ports)
}

pub fn msg(body: impl Into<Body>) -> Message {
    Message::new(Xid(7), body)
}

/// Feeds messages and returns everything the switch answered.
pub fn send(p: &mut Pipeline, now: Time, msgs: Vec<Message>) -> Vec<Message> {
    for m in &msgs {
        p.handle_message(now, m);
    }
    drain(p)
}

pub fn drain(p: &mut Pipeline) -> Vec<Message> {
    std::iter::from_fn(|| p.poll_output()).collect()
}

/// Feeds messages and returns the errors (typed codes).
pub fn errors(p: &mut Pipeline, msgs: Vec<Message>) -> Vec<ErrorCode> {
    send(p, Time::ZERO, msgs)
        .into_iter()
        .filter_map(|m| match m.body {
            Body::Error(e) => Some(e.typed()),
            _ => None,
        })
        .collect()
}

/// Feeds one message that must be refused; returns the error.
pub fn refused(p: &mut Pipeline, m: Message) -> ErrorMsg {
    let out = send(p, Time::ZERO, vec![m]);
    match out.as_slice() {
        [Message {
            body: Body::Error(e),
            ..
        }] => e.clone(),
        other => panic!("expected one error, got {other:?}"),
    }
}

pub fn ok(p: &mut Pipeline, msgs: Vec<Message>) {
    let e = errors(p, msgs);
    assert!(e.is_empty(), "unexpected errors: {e:?}");
}

pub fn out(port: u32) -> Action {
    Action::output(PortNo(port))
}

pub fn apply(actions: Vec<Action>) -> Vec<Instruction> {
    vec![Instruction::ApplyActions(actions)]
}

pub fn ip_dst(a: [u8; 4]) -> Match {
    Match::new().with(Oxm::EthType(0x0800)).with(Oxm::Ipv4Dst {
        value: Ipv4Addr::from(a),
        mask: None,
    })
}

pub fn flow(prio: u16, m: Match, instructions: Vec<Instruction>) -> Message {
    msg(FlowMod::add(TableId(0), prio, m, instructions))
}

pub fn group(kind: GroupType, id: u32, buckets: Vec<Bucket>) -> Message {
    msg(GroupMod::add(kind, GroupId(id), buckets))
}

pub fn to_group(id: u32) -> Vec<Instruction> {
    apply(vec![Action::Group(GroupId(id))])
}

pub fn mac(n: u8) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 0, n])
}

/// A UDP/IPv4 packet from 10.0.0.1 to `dst` with ports (sport, 5000).
pub fn udp(dst: [u8; 4], sport: u16) -> Vec<u8> {
    switch_sim::packet::build::udp4(
        mac(1),
        mac(2),
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::from(dst),
        sport,
        5000,
        b"payload",
    )
}

pub fn ports(v: &[u32]) -> Vec<PortNo> {
    v.iter().map(|p| PortNo(*p)).collect()
}
