//! BIER through the running switch (`Switch`, in-memory ports) driven by a controller over a
//! real TCP OpenFlow channel: the capability reply, tables pushed and read back, BIER frames
//! delivered decapsulated to the BFER ports, TSM_EVENT sent to the controller as an
//! asynchronous message, counters through the switch handle, a SLAVE refused state changes,
//! and staged transactions dropped when their channel closes.
#![allow(clippy::unwrap_used)]

mod switch_common;

use std::collections::BTreeMap;

use bier::{BierRepr, BiftId, BitPosition, BitString};
use openflow::error_msg::BadRequestCode;
use openflow::ext::bier::{
    BfrCommand, BfrMod, BierAction, BierMessage, BiftCommand, BiftSelector, BiftTable, Bsl,
    CapsRequest, Hop, LocalBfr, TableEntries, TableKey, TsmConfig, TsmEventKind, TsmFlags,
};
use openflow::{
    Body, ControllerRole, FlowMod, GroupId, Instruction, Match, Message, Oxm, PortNo, Role, TableId,
};
use switch_common::*;
use switch_sim::ports::{memory_link, MemoryEnd, PortSpec};
use switch_sim::Switch;

const KEY: TableKey = TableKey {
    bift_id: 0x1_0000,
    sub_domain: 0,
    bsl: Bsl::B64,
    si: 0,
};

fn bits(v: &[u16]) -> BitString {
    BitString::from_positions(
        bier::Bsl::B64,
        v.iter().map(|&b| BitPosition::new(b).unwrap()),
    )
}

fn ours(m: &Message) -> Option<BierMessage> {
    match &m.body {
        Body::Experimenter(e) => BierMessage::from_experimenter(e)?.ok(),
        _ => None,
    }
}

/// Bits 1–3 local (BFR-ids 1–3 on ports 2–4), bit 10 to port 5.
fn table() -> BiftTable {
    let mut m = BTreeMap::new();
    for b in 1..=3 {
        m.insert(b, Hop::LocalDecap);
    }
    m.insert(10, Hop::Forward(vec![(PortNo(5), bits(&[10]).to_bytes())]));
    BiftTable {
        key: KEY,
        entries: TableEntries::Bier(m),
    }
}

fn bier_frame(b: &[u16]) -> Vec<u8> {
    let repr = BierRepr::new(BiftId::new(KEY.bift_id).unwrap(), bits(b));
    bier::encapsulate(&udp(9, [239, 1, 1, 1], b"through the switch"), &repr).unwrap()
}

async fn program(c: &mut Ctl) {
    for m in table().bift_mods(1, BiftCommand::Replace).unwrap() {
        c.request(BierMessage::BiftMod(m).to_experimenter()).await;
    }
    let bfrs = (1..=3)
        .map(|i| LocalBfr {
            bfr_id: i,
            decap: true,
            port: PortNo(u32::from(i) + 1),
        })
        .collect();
    c.request(
        BierMessage::BfrMod(BfrMod {
            command: BfrCommand::Replace,
            sub_domain: 0,
            bfrs,
        })
        .to_experimenter(),
    )
    .await;
    c.request(FlowMod::add(
        TableId(0),
        10,
        Match::new().with(Oxm::EthType(0xab37)),
        vec![Instruction::ApplyActions(vec![
            BierAction::Forward.to_action()
        ])],
    ))
    .await;
    let tsm = TsmConfig {
        flags: TsmFlags::ENABLE | TsmFlags::NOTIFY,
        threshold: 2,
        window_ms: 60_000,
        idle_timeout_ms: 60_000,
        max_groups: 8,
        group_id_first: GroupId(0xf000_0000),
        group_id_last: GroupId(0xf000_00ff),
    };
    c.request(BierMessage::TsmConfig(tsm).to_experimenter())
        .await;
    let replies = c.barrier().await;
    assert_eq!(replies.len(), 1, "refused: {replies:?}");
}

#[tokio::test]
async fn bier_through_the_running_switch() {
    let mut hosts: BTreeMap<u32, MemoryEnd> = BTreeMap::new();
    let mut b = Switch::builder().dpid(7).listen("ptcp:0:127.0.0.1");
    for n in 1..=5 {
        let (h, s) = memory_link();
        hosts.insert(n, h);
        b = b.port(n, PortSpec::memory(s));
    }
    let sw = b.start().unwrap();
    let addr = sw.listen_addrs()[0];
    let mut a = Ctl::connect(addr).await;

    a.request(BierMessage::CapsRequest(CapsRequest::default()).to_experimenter())
        .await;
    let caps = a.reply().await;
    assert!(
        matches!(ours(&caps), Some(BierMessage::CapsReply(_))),
        "{caps:?}"
    );
    program(&mut a).await;
    let xid = a
        .request(BierMessage::BiftQuery(BiftSelector::ALL).to_experimenter())
        .await;
    let r = a.reply().await;
    assert_eq!(r.xid, xid);
    match ours(&r) {
        Some(BierMessage::BiftReply(r)) => {
            assert!(!r.more);
            assert_eq!(r.bift.unwrap().resolve().unwrap(), table());
        }
        other => panic!("{other:?}"),
    }

    // A BIER frame from the neighbour on port 5 with bits 1 and 2: hosts 2 and 3 get the
    // datagram decapsulated; twice, and the second time the switch caches the BitString.
    let plain = udp(9, [239, 1, 1, 1], b"through the switch");
    for _ in 0..2 {
        assert!(hosts[&5].send(bier_frame(&[1, 2])));
        for h in [2, 3] {
            let got = hosts.get_mut(&h).unwrap().recv_timeout(WAIT).await;
            assert_eq!(got.as_ref(), Some(&plain), "host on port {h}");
        }
    }
    let ev = a
        .async_msg(WAIT, |m| matches!(ours(m), Some(BierMessage::TsmEvent(_))))
        .await
        .expect("TSM_EVENT");
    let Some(BierMessage::TsmEvent(ev)) = ours(&ev) else {
        unreachable!()
    };
    assert_eq!(ev.event, TsmEventKind::Installed);
    assert_eq!(ev.ports, vec![PortNo(2), PortNo(3)]);
    // Now by the local group.
    assert!(hosts[&5].send(bier_frame(&[1, 2])));
    for h in [2, 3] {
        let got = hosts.get_mut(&h).unwrap().recv_timeout(WAIT).await;
        assert_eq!(got.as_ref(), Some(&plain), "host on port {h}, cached");
    }
    let c = eventually(WAIT, "the cached packet counted", || async {
        let c = sw.counters().await.unwrap();
        let b = c.bier.clone().unwrap();
        (b.tsm.hits == 1).then_some(c)
    })
    .await;
    let b = c.bier.unwrap();
    assert_eq!(
        (b.tsm.installed, b.port_deliveries(2), b.port_deliveries(3)),
        (1, 3, 3)
    );
    assert_eq!(b.port_deliveries(4), 0);
    // Exactly what the counters say left the switch: two copies per frame, none elsewhere.
    for n in [1, 4, 5] {
        assert_eq!(
            c.ports.iter().find(|p| p.port_no == n).unwrap().tx_frames,
            0,
            "port {n}"
        );
    }

    // A second controller, made SLAVE, may read but not write.
    let mut s = Ctl::connect(addr).await;
    a.request(Body::RoleRequest(Role::new(ControllerRole::Master, 1)))
        .await;
    assert!(matches!(a.reply().await.body, Body::RoleReply(_)));
    s.request(Body::RoleRequest(Role::new(ControllerRole::Slave, 1)))
        .await;
    assert!(matches!(s.reply().await.body, Body::RoleReply(_)));
    let part = table()
        .bift_mods(2, BiftCommand::Replace)
        .unwrap()
        .remove(0);
    s.request(BierMessage::BiftMod(part).to_experimenter())
        .await;
    assert_eq!(
        error_of(&s.reply().await),
        Some(BadRequestCode::IsSlave.into())
    );
    s.request(BierMessage::CapsRequest(CapsRequest::default()).to_experimenter())
        .await;
    assert!(matches!(
        ours(&s.reply().await),
        Some(BierMessage::CapsReply(_))
    ));

    // A transaction staged on a channel that closes is dropped.
    let mut parts = table().bift_mods(3, BiftCommand::Replace).unwrap();
    parts[0].more = true;
    a.request(BierMessage::BiftMod(parts.remove(0)).to_experimenter())
        .await;
    a.barrier().await;
    assert_eq!(
        sw.inspect(|p| p.bier().unwrap().open_transactions())
            .await
            .unwrap(),
        1
    );
    drop(a);
    eventually(WAIT, "the staged transaction dropped", || async {
        let n = sw
            .inspect(|p| p.bier().unwrap().open_transactions())
            .await
            .unwrap();
        (n == 0).then_some(())
    })
    .await;
    drop(s);
    sw.shutdown().await;
}
