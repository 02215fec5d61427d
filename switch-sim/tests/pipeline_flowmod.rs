//! FLOW_MOD and GROUP_MOD by the OF1.3.5 rules: every refusal answered with the type and code
//! Open vSwitch answers, the offending bytes as data, and no change; replace/modify/delete
//! semantics; timeouts on a virtual clock with FLOW_REMOVED; idempotent batches; multipart.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed assertion

mod pipeline_common;
use pipeline_common::*;

use openflow::error_msg::{
    BadActionCode, BadInstructionCode, BadMatchCode, BadRequestCode, ErrorCode, FlowModFailedCode,
    GroupModFailedCode,
};
use openflow::msg::{FlowModFlags, FlowRemoved};
use openflow::multipart::{
    FlowStats, GroupDesc, MultipartReply, MultipartReplyBody, MultipartReplyFlags, MultipartRequest,
};
use openflow::{
    Action, Body, Bucket, Cookie, FlowMod, FlowModCommand, FlowRemovedReason, GroupId, GroupMod,
    GroupModCommand, GroupType, Instruction, Match, Message, Oxm, PortNo, TableId,
};
use switch_sim::{Config, Pipeline, Time};

/// What a controller can read back: flows (without durations) and groups.
fn dump(p: &mut Pipeline) -> (Vec<FlowStats>, Vec<GroupDesc>) {
    let req = |r| msg(r);
    let out = send(
        p,
        Time::ZERO,
        vec![
            req(MultipartRequest::flows(
                TableId::ALL,
                Match::new(),
                Cookie(0),
                0,
            )),
            req(MultipartRequest::groups_desc()),
        ],
    );
    let mut flows = Vec::new();
    let mut groups = Vec::new();
    for m in out {
        let Body::MultipartReply(MultipartReply { body, .. }) = m.body else {
            panic!("unexpected {m:?}")
        };
        match body {
            MultipartReplyBody::Flow(f) => flows.extend(f.into_iter().map(|mut f| {
                f.duration_sec = 0;
                f.duration_nsec = 0;
                f
            })),
            MultipartReplyBody::GroupDesc(g) => groups.extend(g),
            other => panic!("unexpected {other:?}"),
        }
    }
    (flows, groups)
}

fn base() -> Pipeline {
    let mut p = Pipeline::with_ports(
        Config {
            n_tables: 4,
            table_capacity: 3,
            max_groups: 2,
            ..Config::default()
        },
        4,
    );
    ok(
        &mut p,
        vec![
            group(GroupType::All, 1, vec![Bucket::new(vec![out(1)])]),
            flow(100, ip_dst([10, 0, 0, 1]), to_group(1)),
            flow(0, Match::new(), apply(vec![Action::output_to_controller()])),
        ],
    );
    p
}

fn expect_refused(m: Message, code: impl Into<ErrorCode>) {
    let mut p = base();
    let before = dump(&mut p);
    let probe = udp([10, 0, 0, 1], 1);
    let fwd_before = p.trace(PortNo(2), &probe);
    let bytes = m.encode().unwrap();
    let e = refused(&mut p, m);
    let code = code.into();
    assert_eq!(e.typed(), code, "{e:?}");
    // OF1.3.5 §7.4.4: the data is the start of the offending message, at most 64 bytes.
    assert_eq!(e.data, bytes[..bytes.len().min(64)]);
    assert_eq!(dump(&mut p), before, "refused {code} changed the tables");
    assert_eq!(p.trace(PortNo(2), &probe), fwd_before);
}

#[test]
fn missing_group_is_bad_out_group() {
    expect_refused(
        flow(5, ip_dst([1, 1, 1, 1]), to_group(9)),
        BadActionCode::BadOutGroup,
    );
    let chained = group(
        GroupType::All,
        2,
        vec![Bucket::new(vec![Action::Group(GroupId(9))])],
    );
    expect_refused(chained, BadActionCode::BadOutGroup);
}

#[test]
fn overlap_with_check_overlap() {
    let wide = Match::new().with(Oxm::EthType(0x0800)).with(Oxm::Ipv4Dst {
        value: [10, 0, 0, 0].into(),
        mask: Some([255, 0, 0, 0].into()),
    });
    let fm = FlowMod::add(TableId(0), 100, wide, apply(vec![out(2)]))
        .with_flags(FlowModFlags::CHECK_OVERLAP);
    expect_refused(msg(fm.clone()), FlowModFailedCode::Overlap);
    // Another priority does not overlap.
    let mut p = base();
    ok(&mut p, vec![msg(FlowMod { priority: 99, ..fm })]);
}

#[test]
fn bad_ports() {
    expect_refused(
        flow(5, Match::new(), apply(vec![Action::output(PortNo::ANY)])),
        BadActionCode::BadOutPort,
    );
    expect_refused(
        flow(5, Match::new(), apply(vec![Action::output(PortNo::TABLE)])),
        BadActionCode::BadOutPort,
    );
    expect_refused(
        flow(
            5,
            Match::new(),
            apply(vec![Action::output(PortNo(0xffff_ff01))]),
        ),
        BadActionCode::BadOutPort,
    );
    // Port 9 does not exist: accepted like Open vSwitch does, refused when strict.
    let mut p = base();
    ok(&mut p, vec![flow(5, Match::new(), apply(vec![out(9)]))]);
    let mut strict = Pipeline::with_ports(
        Config {
            strict_ports: true,
            ..Config::default()
        },
        2,
    );
    let e = refused(&mut strict, flow(5, Match::new(), apply(vec![out(9)])));
    assert_eq!(e.typed(), BadActionCode::BadOutPort.into());
}

#[test]
fn group_loops() {
    let self_loop = GroupMod::modify(
        GroupType::All,
        GroupId(1),
        vec![Bucket::new(vec![Action::Group(GroupId(1))])],
    );
    expect_refused(msg(self_loop), GroupModFailedCode::Loop);
    // 2 → 1 is fine; then 1 → 2 closes a loop.
    let mut p = base();
    ok(
        &mut p,
        vec![group(
            GroupType::All,
            2,
            vec![Bucket::new(vec![Action::Group(GroupId(1))])],
        )],
    );
    let before = dump(&mut p);
    let e = refused(
        &mut p,
        msg(GroupMod::modify(
            GroupType::All,
            GroupId(1),
            vec![Bucket::new(vec![Action::Group(GroupId(2))])],
        )),
    );
    assert_eq!(e.typed(), GroupModFailedCode::Loop.into());
    assert_eq!(dump(&mut p), before);
}

#[test]
fn table_full_and_out_of_groups() {
    // Capacity 3, two entries installed: one more fits, the next does not.
    let mut p = base();
    ok(&mut p, vec![flow(7, ip_dst([2, 2, 2, 2]), vec![])]);
    let before = dump(&mut p);
    let e = refused(&mut p, flow(7, ip_dst([3, 3, 3, 3]), vec![]));
    assert_eq!(e.typed(), FlowModFailedCode::TableFull.into());
    // Replacing an existing entry still works when the table is full.
    ok(
        &mut p,
        vec![flow(7, ip_dst([2, 2, 2, 2]), apply(vec![out(2)]))],
    );
    assert_eq!(dump(&mut p).0.len(), before.0.len());
    // Two ALL groups at most.
    let mut p = base();
    ok(&mut p, vec![group(GroupType::All, 2, vec![])]);
    let e = refused(&mut p, group(GroupType::All, 3, vec![]));
    assert_eq!(e.typed(), GroupModFailedCode::OutOfGroups.into());
    ok(
        &mut p,
        vec![group(
            GroupType::Indirect,
            3,
            vec![Bucket::new(vec![out(2)])],
        )],
    );
}

#[test]
fn group_exists_unknown_group_and_invalid_groups() {
    expect_refused(
        group(GroupType::All, 1, vec![]),
        GroupModFailedCode::GroupExists,
    );
    expect_refused(
        msg(GroupMod::modify(GroupType::All, GroupId(7), vec![])),
        GroupModFailedCode::UnknownGroup,
    );
    expect_refused(
        group(
            GroupType::Indirect,
            7,
            vec![Bucket::new(vec![]), Bucket::new(vec![])],
        ),
        GroupModFailedCode::InvalidGroup,
    );
    expect_refused(
        group(GroupType::All, GroupId::ALL.0, vec![]),
        GroupModFailedCode::InvalidGroup,
    );
    expect_refused(
        group(GroupType::FastFailover, 7, vec![Bucket::new(vec![out(1)])]),
        GroupModFailedCode::InvalidGroup,
    );
    expect_refused(
        group(GroupType::Other(9), 7, vec![]),
        GroupModFailedCode::BadType,
    );
    expect_refused(
        msg(GroupMod {
            command: GroupModCommand::Other(7),
            ..GroupMod::delete(GroupId(1))
        }),
        GroupModFailedCode::BadCommand,
    );
}

#[test]
fn bad_tables_and_instructions() {
    expect_refused(
        msg(FlowMod::add(TableId(9), 1, Match::new(), vec![])),
        BadRequestCode::BadTableId,
    );
    expect_refused(
        msg(FlowMod::add(TableId::ALL, 1, Match::new(), vec![])),
        FlowModFailedCode::BadTableId,
    );
    let back = FlowMod::add(
        TableId(2),
        1,
        Match::new(),
        vec![Instruction::GotoTable(TableId(1))],
    );
    expect_refused(msg(back), BadInstructionCode::BadTableId);
    let past = FlowMod::add(
        TableId(2),
        1,
        Match::new(),
        vec![Instruction::GotoTable(TableId(8))],
    );
    expect_refused(msg(past), BadRequestCode::BadTableId);
    expect_refused(
        msg(FlowMod::new(FlowModCommand::Other(9))),
        FlowModFailedCode::BadCommand,
    );
    expect_refused(
        flow(
            1,
            Match::new(),
            vec![Instruction::ClearActions, Instruction::ClearActions],
        ),
        ErrorCode::Experimenter {
            exp_type: 2600,
            experimenter: 0x4f4e_4600,
        },
    );
}

#[test]
fn bad_matches_and_inconsistent_actions() {
    expect_refused(
        flow(1, Match::new().with(Oxm::TcpDst(80)), vec![]),
        BadMatchCode::BadPrereq,
    );
    expect_refused(
        flow(
            1,
            Match::new()
                .with(Oxm::EthType(0x0800))
                .with(Oxm::EthType(0x0800)),
            vec![],
        ),
        BadMatchCode::DupField,
    );
    expect_refused(
        flow(
            1,
            Match::new().with(Oxm::EthType(0x0800)).with(Oxm::Ipv4Dst {
                value: [10, 0, 0, 1].into(),
                mask: Some([255, 255, 255, 0].into()),
            }),
            vec![],
        ),
        BadMatchCode::BadWildcards,
    );
    expect_refused(
        flow(
            1,
            Match::new(),
            apply(vec![Action::SetField(Oxm::Ipv4Dst {
                value: [1, 1, 1, 1].into(),
                mask: None,
            })]),
        ),
        BadActionCode::MatchInconsistent,
    );
    expect_refused(
        flow(1, Match::new(), apply(vec![Action::PushVlan(0x0800)])),
        BadActionCode::BadArgument,
    );
}

#[test]
fn unexpected_messages() {
    expect_refused(msg(Body::BarrierReply), BadRequestCode::BadType);
}

#[test]
fn same_batch_twice_leaves_tables_unchanged() {
    let batch = || {
        vec![
            group(
                GroupType::All,
                10,
                vec![Bucket::new(vec![out(1)]), Bucket::new(vec![out(2)])],
            ),
            msg(Body::BarrierRequest),
            flow(200, ip_dst([239, 0, 0, 1]), to_group(10)),
            msg(
                FlowMod::add(TableId(1), 5, ip_dst([1, 2, 3, 4]), apply(vec![out(3)]))
                    .with_cookie(Cookie(0xfeed))
                    .with_hard_timeout(30),
            ),
            msg(Body::BarrierRequest),
        ]
    };
    let mut p = base();
    ok(&mut p, batch());
    let once = dump(&mut p);
    let probe = udp([239, 0, 0, 1], 1);
    let fwd = p.trace(PortNo(3), &probe);
    // The group ADD is refused the second time (it exists); flows are replaced by identical
    // ones: nothing changes.
    let errs = errors(&mut p, batch());
    assert_eq!(errs, vec![GroupModFailedCode::GroupExists.into()]);
    assert_eq!(dump(&mut p), once);
    assert_eq!(p.trace(PortNo(3), &probe), fwd);
    // With MODIFY for the group the batch is idempotent without errors.
    let modify_batch = || {
        let mut b = batch();
        b[0] = msg(GroupMod::modify(
            GroupType::All,
            GroupId(10),
            vec![Bucket::new(vec![out(1)]), Bucket::new(vec![out(2)])],
        ));
        b
    };
    ok(&mut p, modify_batch());
    ok(&mut p, modify_batch());
    assert_eq!(dump(&mut p), once);
}

#[test]
fn add_replaces_and_keeps_counters_unless_reset() {
    let mut p = base();
    let pkt = udp([10, 0, 0, 1], 1);
    p.process(Time::ZERO, PortNo(2), &pkt);
    let count = |p: &mut Pipeline| {
        dump(p)
            .0
            .into_iter()
            .find(|f| f.priority == 100)
            .map(|f| f.packet_count)
    };
    assert_eq!(count(&mut p), Some(1));
    ok(
        &mut p,
        vec![flow(100, ip_dst([10, 0, 0, 1]), apply(vec![out(3)]))],
    );
    assert_eq!(count(&mut p), Some(1));
    assert_eq!(p.trace(PortNo(2), &pkt).ports(), ports(&[3]));
    ok(
        &mut p,
        vec![msg(FlowMod::add(
            TableId(0),
            100,
            ip_dst([10, 0, 0, 1]),
            apply(vec![out(3)]),
        )
        .with_flags(FlowModFlags::RESET_COUNTS))],
    );
    assert_eq!(count(&mut p), Some(0));
}

#[test]
fn modify_and_delete_select_by_match_cookie_and_out_port() {
    let mut p = sw(4);
    let add = |last: u8, cookie: u64, port: u32| {
        msg(FlowMod::add(
            TableId(0),
            10,
            ip_dst([10, 0, 0, last]),
            apply(vec![out(port)]),
        )
        .with_cookie(Cookie(cookie))
        .with_flags(FlowModFlags::SEND_FLOW_REM))
    };
    ok(
        &mut p,
        vec![add(1, 0x100, 1), add(2, 0x101, 2), add(3, 0x200, 2)],
    );
    // Non-strict MODIFY with a cookie mask: entries 0x100 and 0x101 go to port 4.
    let modify = FlowMod {
        command: FlowModCommand::Modify,
        ..FlowMod::add(TableId(0), 0, Match::new(), apply(vec![out(4)]))
    }
    .with_cookie(Cookie(0x100))
    .with_cookie_mask(0xf00);
    ok(&mut p, vec![msg(modify)]);
    let to = |p: &Pipeline, last| p.trace(PortNo(3), &udp([10, 0, 0, last], 1)).ports();
    assert_eq!(
        (to(&p, 1), to(&p, 2), to(&p, 3)),
        (ports(&[4]), ports(&[4]), ports(&[2]))
    );
    // MODIFY_STRICT needs the exact match and priority; a wrong priority changes nothing.
    let strict = FlowMod::modify_strict(TableId(0), 11, ip_dst([10, 0, 0, 3]), apply(vec![out(1)]));
    ok(&mut p, vec![msg(strict)]);
    assert_eq!(to(&p, 3), ports(&[2]));
    // DELETE filtered by out_port: only the entry that outputs to port 2.
    let del = FlowMod::delete(TableId::ALL, Match::new()).with_out_port(PortNo(2));
    let out = send(&mut p, Time::from_secs(2), vec![msg(del)]);
    let removed: Vec<&FlowRemoved> = out
        .iter()
        .filter_map(|m| match &m.body {
            Body::FlowRemoved(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].cookie, Cookie(0x200));
    assert_eq!(removed[0].reason, FlowRemovedReason::Delete);
    assert_eq!(removed[0].duration_sec, 2);
    assert_eq!(p.flow_count(TableId(0)), 2);
    // DELETE_STRICT by cookie.
    let del = FlowMod::delete_strict(TableId(0), 10, ip_dst([10, 0, 0, 1]))
        .with_cookie(Cookie(0x999))
        .with_cookie_mask(u64::MAX);
    ok(&mut p, vec![msg(del)]);
    assert_eq!(p.flow_count(TableId(0)), 2, "cookie does not match");
    let out = send(
        &mut p,
        Time::ZERO,
        vec![msg(FlowMod::delete_by_cookie(Cookie(0x100)))],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(p.flow_count(TableId(0)), 1);
}

#[test]
fn group_delete_removes_its_flows() {
    let mut p = base();
    ok(
        &mut p,
        vec![msg(FlowMod::add(
            TableId(0),
            50,
            ip_dst([10, 0, 0, 5]),
            to_group(1),
        )
        .with_flags(FlowModFlags::SEND_FLOW_REM))],
    );
    let out = send(&mut p, Time::ZERO, vec![msg(GroupMod::delete(GroupId(1)))]);
    let reasons: Vec<_> = out
        .iter()
        .filter_map(|m| match &m.body {
            Body::FlowRemoved(f) => Some(f.reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, vec![FlowRemovedReason::GroupDelete]);
    assert_eq!(p.group_count(), 0);
    // Both flows that named group 1 are gone; the table-miss entry stays.
    assert_eq!(p.flow_count(TableId(0)), 1);
    // Deleting again is not an error.
    ok(&mut p, vec![msg(GroupMod::delete(GroupId(1)))]);
}

#[test]
fn idle_and_hard_timeouts_on_a_virtual_clock() {
    let mut p = sw(2);
    let f = |last: u8| {
        FlowMod::add(
            TableId(0),
            10,
            ip_dst([10, 0, 0, last]),
            apply(vec![out(2)]),
        )
    };
    let rem = FlowModFlags::SEND_FLOW_REM;
    ok(
        &mut p,
        vec![
            msg(f(1)
                .with_idle_timeout(10)
                .with_flags(rem)
                .with_cookie(Cookie(1))),
            msg(f(2)
                .with_hard_timeout(5)
                .with_flags(rem)
                .with_cookie(Cookie(2))),
            msg(f(3)
                .with_idle_timeout(3)
                .with_hard_timeout(100)
                .with_cookie(Cookie(3))),
        ],
    );
    assert_eq!(p.poll_timeout(), Some(Time::from_secs(3)));
    // A packet at t=2 keeps flow 3 alive until t=5.
    p.process(Time::from_secs(2), PortNo(1), &udp([10, 0, 0, 3], 1));
    p.handle_timeout(Time::from_secs(3));
    assert_eq!(p.flow_count(TableId(0)), 3);
    assert!(drain(&mut p).is_empty());
    assert_eq!(p.poll_timeout(), Some(Time::from_secs(5)));
    p.handle_timeout(Time::from_secs(5));
    // Flow 2 (hard) and flow 3 (idle, no SEND_FLOW_REM) are gone; one FLOW_REMOVED.
    assert_eq!(p.flow_count(TableId(0)), 1);
    let out = drain(&mut p);
    let [Message {
        body: Body::FlowRemoved(fr),
        ..
    }] = out.as_slice()
    else {
        panic!("{out:?}")
    };
    assert_eq!(
        (fr.cookie, fr.reason, fr.duration_sec),
        (Cookie(2), FlowRemovedReason::HardTimeout, 5)
    );
    p.handle_timeout(Time::from_secs(10));
    let out = drain(&mut p);
    let [Message {
        body: Body::FlowRemoved(fr),
        ..
    }] = out.as_slice()
    else {
        panic!("{out:?}")
    };
    assert_eq!(
        (fr.cookie, fr.reason),
        (Cookie(1), FlowRemovedReason::IdleTimeout)
    );
    assert_eq!(p.poll_timeout(), None);
    assert_eq!(p.flow_count(TableId(0)), 0);
}

#[test]
fn big_replies_are_split_with_reply_more() {
    let mut p = sw(2);
    let replies = send(
        &mut p,
        Time::ZERO,
        vec![msg(MultipartRequest::table_features())],
    );
    assert!(
        replies.len() > 1,
        "254 tables of features need several messages"
    );
    let mut tables = 0;
    for (i, m) in replies.iter().enumerate() {
        assert!(m.encode().unwrap().len() <= 65535);
        let Body::MultipartReply(r) = &m.body else {
            panic!()
        };
        let more = r.flags.contains(MultipartReplyFlags::REPLY_MORE);
        assert_eq!(more, i + 1 < replies.len());
        if let MultipartReplyBody::TableFeatures(t) = &r.body {
            tables += t.len();
        }
    }
    assert_eq!(tables, 254);
    // Flow stats of many entries also split.
    for i in 0..2000u32 {
        let b = i.to_be_bytes();
        ok(
            &mut p,
            vec![flow(
                10,
                ip_dst([10, b[1], b[2], b[3]]),
                apply(vec![out(2)]),
            )],
        );
    }
    let replies = send(
        &mut p,
        Time::ZERO,
        vec![msg(MultipartRequest::flows(
            TableId::ALL,
            Match::new(),
            Cookie(0),
            0,
        ))],
    );
    let n: usize = replies
        .iter()
        .map(|m| match &m.body {
            Body::MultipartReply(MultipartReply {
                body: MultipartReplyBody::Flow(f),
                ..
            }) => f.len(),
            _ => 0,
        })
        .sum();
    assert!(replies.len() > 1);
    assert_eq!(n, 2000);
}
