//! switch-sim on veth: packets per second for BIER against plain ALL-group replication, side
//! by side in the same run, on the same switch process and the same veths.
//!
//! Topology: a switch namespace running the `switch-sim` binary with four veth ports; port 1
//! leads to a sender namespace, ports 2–4 to three receiver namespaces. Installed over
//! OpenFlow (our BIFT_MOD / BFR_MOD and ordinary flows and groups), all at once:
//! - ALL group: `udp,nw_dst=239.1.1.1 → group:1`, buckets `output:2`, `output:3`, `output:4`;
//! - BIER transit: `eth_type=0xAB37 → bier_forward`, a BSL-64 BIFT with bits 1, 2, 3 to ports
//!   2, 3, 4 (each F-BM its own bit); the frames carry bits {1, 2, 3}: three rewritten copies;
//! - BIER egress (BFER): the same BIFT's bits 4, 5, 6 are LOCAL_DECAP for BFR-ids 4–6 on ports
//!   2–4; frames with bits {4, 5, 6} leave as the plain UDP datagram, three times.
//!
//! The sender writes one frame after another through a raw packet socket for a fixed time: a
//! 64-byte UDP frame for the ALL group; the same datagram behind a 20-byte BIER header (84
//! bytes) for BIER. The receivers' kernels count what arrives (`rx_packets`). "Through" is
//! packets per second that made it through the switch (mean over the three receivers; each
//! gets one copy per packet). Cases alternate within each round so background load on the
//! machine affects all alike.
//!
//! Needs root and `ip`. Run: `cargo bench -p switch-sim --bench bier_veth [-- SECONDS ROUNDS]`
//! (default 2 s per case, 2 rounds: about 15 s). Everything it creates carries a unique name
//! and is removed at the end, also on failure.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up stops

#[path = "common/star.rs"]
mod star;

#[path = "../tests/bier_common/ofclient.rs"]
mod ofclient;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bier::{BierRepr, BiftId, BitPosition, BitString};
use ofclient::OfClient;
use openflow::ext::bier::{
    BfrCommand, BfrMod, BierAction, BierMessage, BiftCommand, BiftTable, Hop, LocalBfr,
    TableEntries,
};
use openflow::oxm::MacAddr;
use openflow::{
    Action, Bucket, FlowMod, GroupId, GroupMod, GroupType, Instruction, Match, Message, Oxm,
    PortNo, TableId, Xid,
};
use star::Topology;
use switch_sim::bier::convert::table_key;
use switch_sim::netns::Daemon;

const BSL: bier::Bsl = bier::Bsl::B64;

fn bits(v: &[u16]) -> BitString {
    BitString::from_positions(BSL, v.iter().map(|&b| BitPosition::new(b).unwrap()))
}

fn udp() -> Vec<u8> {
    // 64 bytes on the wire without the FCS: 14 + 20 + 8 + 22.
    switch_sim::packet::build::udp4(
        MacAddr([0x02, 0, 0, 0, 0, 0x64]),
        MacAddr([0x01, 0, 0x5e, 1, 1, 1]),
        Ipv4Addr::new(10, 0, 0, 100),
        Ipv4Addr::new(239, 1, 1, 1),
        4000,
        5000,
        &[0x5a; 22],
    )
}

fn bier_frame(b: &[u16]) -> Vec<u8> {
    let key = table_key(BSL, 0, bier::SetId(0)).unwrap();
    let repr = BierRepr::new(BiftId::new(key.bift_id).unwrap(), bits(b));
    bier::encapsulate(&udp(), &repr).unwrap()
}

/// Programs the switch for all three cases (from inside its namespace).
fn program() {
    let key = table_key(BSL, 0, bier::SetId(0)).unwrap();
    let mut entries = BTreeMap::new();
    for (b, p) in [(1u16, 2u32), (2, 3), (3, 4)] {
        entries.insert(b, Hop::Forward(vec![(PortNo(p), bits(&[b]).to_bytes())]));
    }
    for b in 4..=6 {
        entries.insert(b, Hop::LocalDecap);
    }
    let table = BiftTable {
        key,
        entries: TableEntries::Bier(entries),
    };
    let mut msgs: Vec<Message> = table
        .bift_mods(1, BiftCommand::Replace)
        .unwrap()
        .into_iter()
        .map(|m| BierMessage::BiftMod(m).to_message(Xid(2)))
        .collect();
    let bfrs = (4..=6)
        .map(|b| LocalBfr {
            bfr_id: b,
            decap: true,
            port: PortNo(u32::from(b) - 2),
        })
        .collect();
    msgs.push(
        BierMessage::BfrMod(BfrMod {
            command: BfrCommand::Replace,
            sub_domain: 0,
            bfrs,
        })
        .to_message(Xid(3)),
    );
    msgs.push(Message::new(
        Xid(4),
        GroupMod::add(
            GroupType::All,
            GroupId(1),
            (2..=4)
                .map(|p| Bucket::new(vec![Action::output(PortNo(p))]))
                .collect(),
        ),
    ));
    let udp_match = Match::new()
        .with(Oxm::EthType(0x0800))
        .with(Oxm::IpProto(17))
        .with(Oxm::Ipv4Dst {
            value: Ipv4Addr::new(239, 1, 1, 1),
            mask: None,
        });
    let flow = |prio, m, a: Vec<Action>| {
        Message::new(
            Xid(5),
            FlowMod::add(TableId(0), prio, m, vec![Instruction::ApplyActions(a)]),
        )
    };
    msgs.push(flow(100, udp_match, vec![Action::Group(GroupId(1))]));
    msgs.push(flow(
        100,
        Match::new().with(Oxm::EthType(0xab37)),
        vec![BierAction::Forward.to_action()],
    ));
    let mut c = OfClient::connect(
        SocketAddr::from(([127, 0, 0, 1], 6634)),
        Duration::from_secs(20),
    );
    c.apply(&msgs);
}

/// Sends `frame` through a raw packet socket in the sender namespace for `secs` (or at most
/// `max` frames); returns how many were sent and how long it took.
fn send(t: &Topology, frame: Vec<u8>, secs: Duration, max: u64) -> (u64, Duration) {
    let ifname = t.host_if(1);
    t.sender
        .run(move || {
            let iface = pnet::datalink::interfaces()
                .into_iter()
                .find(|i| i.name == ifname)
                .expect("sender interface");
            let cfg = pnet::datalink::Config {
                write_timeout: Some(Duration::from_millis(100)),
                ..Default::default()
            };
            let mut tx = match pnet::datalink::channel(&iface, cfg).expect("packet socket") {
                pnet::datalink::Channel::Ethernet(tx, _) => tx,
                _ => panic!("not an Ethernet channel"),
            };
            let start = Instant::now();
            let mut n = 0u64;
            while n < max {
                if let Some(Ok(())) = tx.send_to(&frame, None) {
                    n += 1;
                }
                if n & 255 == 0 && start.elapsed() >= secs {
                    break;
                }
            }
            (n, start.elapsed())
        })
        .unwrap()
}

struct Run {
    offered: f64,
    through: f64,
    per_receiver: Vec<u64>,
}

/// Waits until the receivers' counters stop moving (the switch has drained its queues).
fn settle(t: &Topology) -> Vec<u64> {
    let mut last = t.received();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = t.received();
        if now == last || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

fn measure(t: &Topology, frame: &[u8], secs: Duration) -> Run {
    send(t, frame.to_vec(), Duration::from_millis(100), 1000);
    let before = settle(t);
    let (sent, took) = send(t, frame.to_vec(), secs, 50_000_000);
    let after = settle(t);
    let per_receiver: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    let mean = per_receiver.iter().sum::<u64>() as f64 / per_receiver.len() as f64;
    Run {
        offered: sent as f64 / took.as_secs_f64(),
        through: mean / took.as_secs_f64(),
        per_receiver,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn main() {
    let nums: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let secs = Duration::from_secs(nums.first().copied().unwrap_or(2).clamp(1, 30));
    let rounds = nums.get(1).copied().unwrap_or(2).clamp(1, 10);

    let t = Topology::build("bb");
    let mut args = vec![
        env!("CARGO_BIN_EXE_switch-sim").to_owned(),
        "--dpid".into(),
        "1".into(),
        "--listen".into(),
        "ptcp:6634:127.0.0.1".into(),
    ];
    for n in 1..=4 {
        args.push("--port".into());
        args.push(format!("{n}={}", t.switch_port(n)));
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let _switch: Daemon = t.sw.spawn(&[("RUST_LOG", "warn")], &a, None).unwrap();
    t.sw.run(program).unwrap();

    let cases: [(&str, Vec<u8>); 3] = [
        ("ALL group", udp()),
        ("BIER transit", bier_frame(&[1, 2, 3])),
        ("BIER egress", bier_frame(&[4, 5, 6])),
    ];
    println!(
        "switch-sim on veth, 1 in → 3 out, {} s per case, {rounds} rounds \
         (UDP 64 B; BIER 84 B = the same datagram + 20-byte header)",
        secs.as_secs()
    );
    println!(
        "{:<6} {:<13} {:>14} {:>14} {:>13}  per receiver",
        "round", "case", "offered pkt/s", "through pkt/s", "copies/s"
    );
    let mut through: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for round in 1..=rounds {
        for (name, frame) in &cases {
            let r = measure(&t, frame, secs);
            println!(
                "{round:<6} {name:<13} {:>14.0} {:>14.0} {:>13.0}  {:?}",
                r.offered,
                r.through,
                r.through * 3.0,
                r.per_receiver
            );
            through.entry(name).or_default().push(r.through);
        }
    }
    let all = median(through.get("ALL group").cloned().unwrap_or_default());
    for (name, _) in &cases {
        let m = median(through.get(name).cloned().unwrap_or_default());
        println!(
            "median through, {name:<13}: {m:>9.0} pkt/s ({:.2}x the ALL group)",
            if all > 0.0 { m / all } else { 0.0 }
        );
    }
}
