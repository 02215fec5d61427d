//! The OpenFlow agent as a controller sees it, over real loopback TCP: HELLO and version
//! negotiation, echo both ways, barrier ordering, roles and the master election, asynchronous
//! messages per role and async configuration, PACKET_OUT, malformed messages, and
//! reconnection with backoff while the tables stay and nothing is forwarded by the switch on
//! its own. Ports are in-memory links whose far ends the test holds as hosts.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed assertion

mod switch_common;

use std::time::{Duration, Instant};

use openflow::error_msg::{
    BadActionCode, BadRequestCode, ErrorCode, HelloFailedCode, RoleRequestFailedCode,
};
use openflow::msg::{FlowRemovedMask, PacketInMask, PortStatusMask};
use openflow::port::PortState;
use openflow::{
    Action, AsyncConfig, Body, ControllerRole, Cookie, DatapathId, FlowModFlags, FlowRemovedReason,
    GroupId, Match, Message, MultipartReplyBody, MultipartRequest, PacketOut, PortNo, PortReason,
    Role, TableId, Xid,
};
use switch_common::*;
use switch_sim::ports::{memory_link, MemoryEnd, PortSpec};
use switch_sim::{Switch, SwitchBuilder, SwitchHandle};
use tokio::net::{TcpListener, TcpStream};

fn with_hosts(mut b: SwitchBuilder, n: u32) -> (SwitchBuilder, Vec<MemoryEnd>) {
    let mut hosts = Vec::new();
    for i in 1..=n {
        let (port, host) = memory_link();
        b = b.port(i, PortSpec::memory(port));
        hosts.push(host);
    }
    (b, hosts)
}

fn listening(n_ports: u32) -> (SwitchHandle, Vec<MemoryEnd>) {
    let (b, hosts) = with_hosts(
        Switch::builder().dpid(0xabc).listen("ptcp:0:127.0.0.1"),
        n_ports,
    );
    (b.start().unwrap(), hosts)
}

async fn role(c: &mut Ctl, role: ControllerRole, gen: u64) -> Message {
    c.request(Body::RoleRequest(Role::new(role, gen))).await;
    c.reply().await
}

fn role_reply(m: &Message) -> Role {
    match &m.body {
        Body::RoleReply(r) => *r,
        other => panic!("expected ROLE_REPLY, got {other:?}"),
    }
}

async fn flow_stats(c: &mut Ctl) -> Vec<openflow::multipart::FlowStats> {
    let xid = c
        .request(MultipartRequest::flows(
            TableId::ALL,
            Match::new(),
            Cookie(0),
            0,
        ))
        .await;
    let mut all = Vec::new();
    for m in c.barrier().await {
        if let (true, Body::MultipartReply(r)) = (m.xid == xid, &m.body) {
            if let MultipartReplyBody::Flow(f) = &r.body {
                all.extend(f.iter().cloned());
            }
        }
    }
    all
}

#[tokio::test]
async fn hello_at_once_and_negotiation() {
    let (sw, _hosts) = listening(1);
    let addr = sw.listen_addrs()[0];

    // The switch speaks first: our side has sent nothing yet.
    let mut c = Ctl::raw(TcpStream::connect(addr).await.unwrap());
    match c.recv().await.unwrap().body {
        Body::Hello(h) => assert_eq!(h.versions(), Some(vec![4])),
        other => panic!("expected HELLO, got {other:?}"),
    }
    // HELLO and a request in one segment.
    let mut both = Message::hello(Xid(1)).encode().unwrap();
    both.extend(Message::features_request(Xid(2)).encode().unwrap());
    c.send_raw(&both).await;
    let r = c.reply().await;
    assert_eq!(r.xid, Xid(2));
    match r.body {
        Body::FeaturesReply(f) => {
            assert_eq!(f.datapath_id, DatapathId(0xabc));
            assert_eq!(f.n_buffers, 0);
        }
        other => panic!("{other:?}"),
    }

    // A peer that speaks OpenFlow 1.0 only: HELLO_FAILED/INCOMPATIBLE, then closed.
    let mut old = Ctl::raw(TcpStream::connect(addr).await.unwrap());
    old.recv().await.unwrap();
    old.send_raw(&[0x01, 0, 0, 8, 0, 0, 0, 1]).await;
    let e = old.recv().await.unwrap();
    assert_eq!(
        error_of(&e),
        Some(ErrorCode::HelloFailed(HelloFailedCode::Incompatible))
    );
    old.expect_closed(WAIT).await;

    // A request before HELLO: refused and closed.
    let mut rude = Ctl::raw(TcpStream::connect(addr).await.unwrap());
    rude.recv().await.unwrap();
    rude.send(&Message::features_request(Xid(3))).await;
    let e = rude.recv().await.unwrap();
    assert!(
        matches!(error_of(&e), Some(ErrorCode::HelloFailed(_))),
        "{e:?}"
    );
    rude.expect_closed(WAIT).await;

    // The first controller never noticed.
    assert_eq!(c.barrier().await.len(), 1);
    sw.shutdown().await;
}

#[tokio::test]
async fn echo_both_ways_and_silent_controller_dropped() {
    let probe = Duration::from_millis(300);
    let (b, _hosts) = with_hosts(
        Switch::builder()
            .listen("ptcp:0:127.0.0.1")
            .probe_interval(probe),
        1,
    );
    let sw = b.start().unwrap();
    let mut c = Ctl::connect(sw.listen_addrs()[0]).await;

    // Taken before sending: the switch cannot hear it earlier, however the threads run.
    let sent = Instant::now();
    c.send(&Message::echo_request(Xid(9), b"abc".to_vec()))
        .await;
    assert_eq!(
        c.reply().await,
        Message::new(Xid(9), Body::EchoReply(b"abc".to_vec()))
    );

    // Silence: the switch probes after the idle interval.
    let p = c.recv().await.unwrap();
    assert!(matches!(p.body, Body::EchoRequest(_)), "{p:?}");
    assert!(sent.elapsed() >= probe, "probed after {:?}", sent.elapsed());
    let answered = Instant::now();
    c.send(&Message::new(p.xid, Body::EchoReply(vec![]))).await;

    // Answered, so the channel stays; the next probe goes unanswered and the channel closes.
    let p2 = c.recv().await.unwrap();
    assert!(matches!(p2.body, Body::EchoRequest(_)), "{p2:?}");
    assert!(answered.elapsed() >= probe);
    // The probe left before we read it, by an unknown delay on a loaded machine: the
    // bound only shows the switch waited rather than closing at once.
    let probed = Instant::now();
    c.expect_closed(probe * 10).await;
    assert!(
        probed.elapsed() >= probe / 2,
        "closed after {:?}",
        probed.elapsed()
    );
    eventually(WAIT, "the connection to be forgotten", || async {
        sw.counters()
            .await
            .unwrap()
            .connections
            .is_empty()
            .then_some(())
    })
    .await;
    sw.shutdown().await;
}

#[tokio::test]
async fn barrier_reply_follows_every_earlier_reply() {
    let (sw, _hosts) = listening(2);
    let mut c = Ctl::connect(sw.listen_addrs()[0]).await;
    let mut bad = Xid(0);
    for i in 0u16..300 {
        if i == 150 {
            // A group the switch does not have: refused with an error.
            bad = c
                .request(flow(
                    5,
                    ip_dst([10, 9, 9, 9]),
                    vec![Action::Group(GroupId(99))],
                ))
                .await;
        } else {
            c.request(flow(
                10,
                ip_dst([10, 1, (i >> 8) as u8, i as u8]),
                vec![out(1)],
            ))
            .await;
        }
    }
    let stats = c
        .request(MultipartRequest::flows(
            TableId::ALL,
            Match::new(),
            Cookie(0),
            0,
        ))
        .await;
    let replies = c.barrier().await;
    // The error, then the statistics (possibly in several parts), then the barrier reply.
    assert_eq!(replies[0].xid, bad);
    assert_eq!(
        error_of(&replies[0]),
        Some(ErrorCode::BadAction(BadActionCode::BadOutGroup))
    );
    let (parts, last) = replies[1..].split_at(replies.len() - 2);
    let mut n = 0;
    for m in parts {
        assert_eq!(m.xid, stats);
        match &m.body {
            Body::MultipartReply(r) => match &r.body {
                MultipartReplyBody::Flow(f) => n += f.len(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(n, 299);
    assert_eq!(last[0].body, Body::BarrierReply);
    assert_eq!(sw.counters().await.unwrap().flows, 299);
    sw.shutdown().await;
}

#[tokio::test]
async fn roles_generation_and_async_filters() {
    let (sw, mut hosts) = listening(2);
    let addr = sw.listen_addrs()[0];
    let mut a = Ctl::connect(addr).await;
    let mut b = Ctl::connect(addr).await;

    assert_eq!(
        role_reply(&role(&mut a, ControllerRole::Master, 5).await),
        Role::new(ControllerRole::Master, 5)
    );
    // An older generation is stale, and changes nothing.
    let e = role(&mut b, ControllerRole::Master, 4).await;
    assert_eq!(
        error_of(&e),
        Some(ErrorCode::RoleRequestFailed(RoleRequestFailedCode::Stale))
    );
    assert_eq!(
        role_reply(&role(&mut b, ControllerRole::NoChange, 0).await).role,
        ControllerRole::Equal
    );
    assert_eq!(
        role_reply(&role(&mut b, ControllerRole::Slave, 5).await),
        Role::new(ControllerRole::Slave, 5)
    );

    // A slave may read but not write.
    let xid = b.request(flow(1, Match::new(), vec![out(1)])).await;
    let e = b.reply().await;
    assert_eq!(e.xid, xid);
    assert_eq!(
        error_of(&e),
        Some(ErrorCode::BadRequest(BadRequestCode::IsSlave))
    );
    b.request(PacketOut::new(vec![out(2)], udp(1, [10, 0, 0, 2], b"x")))
        .await;
    assert_eq!(
        error_of(&b.reply().await),
        Some(ErrorCode::BadRequest(BadRequestCode::IsSlave))
    );
    assert!(
        hosts[1]
            .recv_timeout(Duration::from_millis(100))
            .await
            .is_none(),
        "a slave's PACKET_OUT was sent"
    );
    b.request(MultipartRequest::desc()).await;
    assert!(matches!(b.reply().await.body, Body::MultipartReply(_)));

    // A newer master takes over; the old one becomes a slave.
    assert_eq!(
        role_reply(&role(&mut b, ControllerRole::Master, 6).await),
        Role::new(ControllerRole::Master, 6)
    );
    assert_eq!(
        role_reply(&role(&mut a, ControllerRole::NoChange, 0).await),
        Role::new(ControllerRole::Slave, 6)
    );
    a.request(flow(1, Match::new(), vec![out(1)])).await;
    assert_eq!(
        error_of(&a.reply().await),
        Some(ErrorCode::BadRequest(BadRequestCode::IsSlave))
    );
    // EQUAL ignores the generation id; an unknown role is refused.
    assert_eq!(
        role_reply(&role(&mut a, ControllerRole::Equal, 0).await),
        Role::new(ControllerRole::Equal, 6)
    );
    assert_eq!(
        error_of(&role(&mut a, ControllerRole::Other(7), 9).await),
        Some(ErrorCode::RoleRequestFailed(RoleRequestFailedCode::BadRole))
    );
    assert_eq!(
        role_reply(&role(&mut a, ControllerRole::Slave, 6).await).role,
        ControllerRole::Slave
    );

    // Asynchronous messages: the master gets PACKET_IN, the slave does not by default.
    b.request(flow(0, Match::new(), vec![Action::output_to_controller()]))
        .await;
    b.barrier().await;
    let frame = udp(1, [10, 0, 0, 9], b"to the controller");
    assert!(hosts[0].send(frame.clone()));
    let pi = b
        .async_msg(WAIT, |m| matches!(m.body, Body::PacketIn(_)))
        .await
        .expect("the master got no PACKET_IN");
    match pi.body {
        Body::PacketIn(p) => {
            assert_eq!(p.in_port(), Some(PortNo(1)));
            assert_eq!(p.data, frame);
        }
        _ => unreachable!(),
    }
    assert!(a
        .async_msg(Duration::from_millis(200), |m| matches!(
            m.body,
            Body::PacketIn(_)
        ))
        .await
        .is_none());

    // Both get PORT_STATUS.
    hosts[1].set_carrier(false);
    for c in [&mut a, &mut b] {
        let ps = c
            .async_msg(WAIT, |m| matches!(m.body, Body::PortStatus(_)))
            .await
            .expect("no PORT_STATUS");
        match ps.body {
            Body::PortStatus(s) => {
                assert_eq!(s.reason, PortReason::Modify);
                assert_eq!(s.desc.port_no, PortNo(2));
                assert!(s.desc.state.contains(PortState::LINK_DOWN));
            }
            _ => unreachable!(),
        }
    }

    // SET_ASYNC lets the slave see PACKET_INs too; GET_ASYNC reads it back.
    let mut cfg = AsyncConfig {
        packet_in_mask: [PacketInMask::NO_MATCH | PacketInMask::ACTION; 2],
        port_status_mask: [PortStatusMask::all(); 2],
        flow_removed_mask: [FlowRemovedMask::all(), FlowRemovedMask::empty()],
    };
    a.request(Body::SetAsync(cfg)).await;
    a.request(Body::GetAsyncRequest).await;
    assert_eq!(a.reply().await.body, Body::GetAsyncReply(cfg));
    assert!(hosts[0].send(frame.clone()));
    assert!(a
        .async_msg(WAIT, |m| matches!(m.body, Body::PacketIn(_)))
        .await
        .is_some());
    // And turns them off for the master.
    cfg.packet_in_mask[0] = PacketInMask::empty();
    b.request(Body::SetAsync(cfg)).await;
    b.barrier().await;
    b.held.clear();
    assert!(hosts[0].send(frame.clone()));
    assert!(a
        .async_msg(WAIT, |m| matches!(m.body, Body::PacketIn(_)))
        .await
        .is_some());
    assert!(b
        .async_msg(Duration::from_millis(200), |m| matches!(
            m.body,
            Body::PacketIn(_)
        ))
        .await
        .is_none());

    let counters = sw.counters().await.unwrap();
    let mut roles: Vec<ControllerRole> = counters.connections.iter().map(|c| c.role).collect();
    roles.sort();
    assert_eq!(roles, vec![ControllerRole::Master, ControllerRole::Slave]);
    assert_eq!(counters.generation_id, Some(6));
    sw.shutdown().await;
}

/// What `ovs-ofctl ofp-print` says Open vSwitch answers for these bytes (`None` if it
/// decodes them or the tool is missing).
fn ovs_decode_error(bytes: &[u8]) -> Option<String> {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let out = std::process::Command::new("ovs-ofctl")
        .args(["ofp-print", &hex])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let at = text.find("decode error: ")?;
    Some(
        text[at + 14..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect(),
    )
}

#[tokio::test]
async fn malformed_messages_get_errors_and_nothing_breaks() {
    let (sw, mut hosts) = listening(2);
    let mut c = Ctl::connect(sw.listen_addrs()[0]).await;
    c.request(flow(10, ip_dst([239, 1, 1, 1]), vec![out(2)]))
        .await;
    c.barrier().await;

    let mut cut_action = Message::new(Xid(54), flow(10, Match::new(), vec![out(1)]))
        .encode()
        .unwrap();
    // The OUTPUT action (at byte 64: header, flow_mod fields, empty match, instruction
    // header) claims 24 bytes where 16 remain.
    assert_eq!(&cut_action[64..68], &[0, 0, 0, 16]);
    cut_action[67] = 24;

    let cases: Vec<(&str, Vec<u8>, ErrorCode)> = vec![
        (
            "version 1",
            vec![0x01, 5, 0, 8, 0, 0, 0, 51],
            BadRequestCode::BadVersion.into(),
        ),
        (
            "unknown type",
            vec![0x04, 200, 0, 8, 0, 0, 0, 52],
            BadRequestCode::BadType.into(),
        ),
        (
            "barrier with a body",
            vec![0x04, 20, 0, 12, 0, 0, 0, 53, 1, 2, 3, 4],
            BadRequestCode::BadLen.into(),
        ),
        (
            "action longer than its instruction",
            cut_action,
            BadActionCode::BadLen.into(),
        ),
        (
            "unknown multipart type",
            vec![0x04, 18, 0, 16, 0, 0, 0, 55, 0x12, 0x34, 0, 0, 0, 0, 0, 0],
            BadRequestCode::BadMultipart.into(),
        ),
    ];
    for (what, bytes, want) in cases {
        c.send_raw(&bytes).await;
        let e = c.reply().await;
        assert_eq!(error_of(&e), Some(want), "{what}: {e:?}");
        assert_eq!(
            e.xid.0,
            u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            "{what}"
        );
        // The error quotes the request (OF1.3.5 §7.4.4).
        assert_eq!(err(&e).data, bytes[..bytes.len().min(64)], "{what}");
        // Open vSwitch reads these bytes the same way.
        if let Some(ovs) = ovs_decode_error(&bytes) {
            // Open vSwitch keeps OpenFlow 1.0's name for code 2 of OFPET_BAD_REQUEST.
            let ovs = if ovs == "OFPBRC_BAD_STAT" {
                "OFPBRC_BAD_MULTIPART"
            } else {
                &ovs
            };
            assert_eq!(Some(ovs), want.spec_name(), "{what}");
        }
    }

    // Connection and tables intact: the flow still forwards, the channel still answers.
    assert_eq!(c.barrier().await.len(), 1);
    assert_eq!(sw.counters().await.unwrap().flows, 1);
    let f = udp(1, [239, 1, 1, 1], b"still here");
    assert!(hosts[0].send(f.clone()));
    assert_eq!(hosts[1].recv_timeout(WAIT).await, Some(f));

    // A length below the header cannot be framed: error, then the channel closes; the tables
    // stay and a new channel works.
    c.send_raw(&[0x04, 2, 0, 4, 0, 0, 0, 56]).await;
    let e = c.recv().await.unwrap();
    assert_eq!(error_of(&e), Some(BadRequestCode::BadLen.into()));
    c.expect_closed(WAIT).await;
    let mut c2 = Ctl::connect(sw.listen_addrs()[0]).await;
    assert_eq!(flow_stats(&mut c2).await.len(), 1);
    sw.shutdown().await;
}

#[tokio::test]
async fn controller_loss_backoff_and_tables_kept() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("tcp:{}", l.local_addr().unwrap());
    let (b, mut hosts) = with_hosts(
        Switch::builder()
            .controller(target)
            .backoff(Duration::from_millis(200), Duration::from_millis(1600)),
        2,
    );
    let sw = b.start().unwrap();
    let mut c = Ctl::accept(&l).await;
    c.request(flow(10, ip_dst([239, 1, 1, 1]), vec![out(2)]).with_cookie(Cookie(0xfeed)))
        .await;
    c.barrier().await;
    drop(c);

    // The controller is gone: the switch keeps retrying. Accept and hang up at once, and
    // time the attempts: 200 ms after a connection that worked, then doubling to 1.6 s,
    // each shortened by at most a quarter.
    let mut at = Vec::new();
    for _ in 0..6 {
        let (s, _) = tokio::time::timeout(Duration::from_secs(10), l.accept())
            .await
            .expect("no reconnection attempt")
            .unwrap();
        at.push(Instant::now());
        drop(s);
    }
    let nominal_ms = [400u64, 800, 1600, 1600, 1600];
    for (gap, nominal) in at.windows(2).map(|w| w[1] - w[0]).zip(nominal_ms) {
        let nominal = Duration::from_millis(nominal);
        assert!(
            gap >= nominal * 3 / 4 - Duration::from_millis(20),
            "retried after {gap:?}, nominal {nominal:?}"
        );
        assert!(
            gap <= nominal + Duration::from_millis(1000),
            "retried after {gap:?}, nominal {nominal:?}"
        );
    }

    // Meanwhile the tables stay and keep forwarding; the switch adds no behaviour of its own
    // (fail-secure): a packet no flow matches goes nowhere.
    let kept = udp(1, [239, 1, 1, 1], b"kept");
    assert!(hosts[0].send(kept.clone()));
    assert_eq!(hosts[1].recv_timeout(WAIT).await, Some(kept));
    assert!(hosts[0].send(udp(1, [239, 2, 2, 2], b"no flow")));
    assert!(hosts[1]
        .recv_timeout(Duration::from_millis(200))
        .await
        .is_none());
    let counters = sw.counters().await.unwrap();
    assert_eq!(counters.flows, 1);
    assert!(counters.pipeline_drops.table_miss >= 1);

    // The controller comes back and finds its flow.
    let mut c = Ctl::accept(&l).await;
    let flows = flow_stats(&mut c).await;
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].cookie, Cookie(0xfeed));
    sw.shutdown().await;
}

#[tokio::test]
async fn packet_out_flow_removed_port_status() {
    let (sw, mut hosts) = listening(2);
    let mut c = Ctl::connect(sw.listen_addrs()[0]).await;

    // PACKET_OUT leaves on the port its actions name.
    let f = udp(9, [10, 0, 0, 2], b"from the controller");
    c.request(PacketOut::new(vec![out(2)], f.clone())).await;
    assert_eq!(hosts[1].recv_timeout(WAIT).await, Some(f));
    assert!(hosts[0].try_recv().is_none());

    // FLOW_REMOVED when a hard timeout expires (on tokio's clock).
    let installed = Instant::now();
    c.request(
        flow(10, ip_dst([10, 0, 0, 7]), vec![out(2)])
            .with_hard_timeout(1)
            .with_flags(FlowModFlags::SEND_FLOW_REM)
            .with_cookie(Cookie(77)),
    )
    .await;
    let fr = c
        .async_msg(Duration::from_secs(5), |m| {
            matches!(m.body, Body::FlowRemoved(_))
        })
        .await
        .expect("no FLOW_REMOVED");
    assert!(installed.elapsed() >= Duration::from_millis(950));
    match fr.body {
        Body::FlowRemoved(r) => {
            assert_eq!(r.cookie, Cookie(77));
            assert_eq!(r.reason, FlowRemovedReason::HardTimeout);
        }
        _ => unreachable!(),
    }
    assert_eq!(sw.counters().await.unwrap().flows, 0);

    // PORT_STATUS when a link goes down and up.
    for up in [false, true] {
        hosts[0].set_carrier(up);
        let ps = c
            .async_msg(WAIT, |m| matches!(m.body, Body::PortStatus(_)))
            .await
            .expect("no PORT_STATUS");
        match ps.body {
            Body::PortStatus(s) => {
                assert_eq!(s.desc.port_no, PortNo(1));
                assert_eq!(s.desc.state.contains(PortState::LINK_DOWN), !up);
                assert_eq!(s.desc.state.contains(PortState::LIVE), up);
            }
            _ => unreachable!(),
        }
        assert_eq!(sw.counters().await.unwrap().port(1).unwrap().up, up);
    }
    sw.shutdown().await;
}

#[tokio::test]
async fn short_frames_are_counted_and_dropped() {
    let (sw, mut hosts) = listening(2);
    let mut c = Ctl::connect(sw.listen_addrs()[0]).await;
    // Everything from port 1 to port 2.
    c.request(flow(
        1,
        Match::new().with(openflow::Oxm::InPort(PortNo(1))),
        vec![out(2)],
    ))
    .await;
    c.barrier().await;

    assert!(hosts[0].send(vec![0xff; 10]));
    let mut cut_tag = vec![0xff; 12];
    cut_tag.extend([0x81, 0x00, 0x00]);
    assert!(hosts[0].send(cut_tag));
    let good = udp(1, [10, 0, 0, 2], b"ok");
    assert!(hosts[0].send(good.clone()));
    // Only the good one is forwarded.
    assert_eq!(hosts[1].recv_timeout(WAIT).await, Some(good));
    assert!(hosts[1].try_recv().is_none());
    let p1 = sw.counters().await.unwrap().port(1).cloned().unwrap();
    assert_eq!((p1.rx_runt, p1.rx_malformed, p1.rx_frames), (1, 1, 1));
    sw.shutdown().await;
}

#[tokio::test]
async fn pipelined_requests_all_answered_in_order_with_a_small_queue() {
    let (b, _hosts) = with_hosts(
        Switch::builder().listen("ptcp:0:127.0.0.1").async_queue(16),
        1,
    );
    let sw = b.start().unwrap();
    let c = Ctl::connect(sw.listen_addrs()[0]).await;
    const N: u32 = 5000;
    let mut bytes = Vec::new();
    for i in 0..N {
        let m = if i % 2 == 0 {
            Message::new(Xid(i), MultipartRequest::desc())
        } else {
            Message::new(Xid(i), Body::BarrierRequest)
        };
        m.encode_into(&mut bytes).unwrap();
    }
    // Write everything from another task while this one reads the replies.
    let (mut rd, mut wr) = c.stream.into_split();
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        wr.write_all(&bytes).await.unwrap();
        wr
    });
    let mut framer = openflow::Framer::new();
    let mut buf = vec![0u8; 65536];
    let mut next = 0u32;
    while next < N {
        use tokio::io::AsyncReadExt;
        let n = tokio::time::timeout(WAIT, rd.read(&mut buf))
            .await
            .expect("replies stopped")
            .unwrap();
        assert!(n > 0, "switch closed the channel after {next} replies");
        framer.extend(&buf[..n]);
        while let Some(m) = framer.next_message() {
            let m = m.unwrap();
            assert_eq!(m.xid, Xid(next), "replies out of order");
            next += 1;
        }
    }
    writer.await.unwrap();
    sw.shutdown().await;
}
