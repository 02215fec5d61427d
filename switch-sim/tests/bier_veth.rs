//! Real packets through BIER on veth: three `switch-sim` processes (a spine and two leaves)
//! in a fabric namespace, joined by veth pairs, four host namespaces. BIFTs computed by
//! `bier::topo::compute_bifts` are pushed over OpenFlow (our BIFT_MOD and BFR_MOD), the
//! sender's leaf encapsulates plain UDP multicast (`bier_encap`, `bier_forward`), the spine
//! forwards 0xAB37 frames by its BIFT, the leaves decapsulate to their host ports. Hosts
//! receive with ordinary UDP sockets joined to every group: each gets exactly the datagrams
//! of the subsets it is in, once each, and its interface saw nothing else.
//!
//! Needs root (namespaces, packet sockets). Every namespace, interface and process is named
//! uniquely and removed when the test ends, also when it fails.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed assertion

mod bier_common;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use bier::{BfrId, NodeId, SetId, Topology};
use bier_common::ofclient::OfClient;
use bier_common::wire_bsl;
use openflow::ext::bier::{
    BfrCommand, BfrMod, BierAction, BierEncap, BierMessage, BiftCommand, Entropy, LocalBfr,
};
use openflow::{FlowMod, Instruction, Match, Message, Oxm, PortNo, TableId, Xid};
use switch_sim::bier::convert::{bier_table, table_key};
use switch_sim::netns::{unique_tag, veth, Daemon, Netns};

const PORT: u16 = 5000;
const BSL: bier::Bsl = bier::Bsl::B64;
const PER_SUBSET: usize = 3;
const MARKER: usize = 100;

fn group(k: usize) -> Ipv4Addr {
    Ipv4Addr::new(239, 1, 0, k as u8)
}

/// (switch node, port) of each host: h0, h1 on leaf 1; h2, h3 on leaf 2.
const HOSTS: [(u32, u32); 4] = [(1, 2), (1, 3), (2, 2), (2, 3)];
/// Links: spine port 1 – leaf 1 port 1, spine port 2 – leaf 2 port 1.
const LINKS: [(u32, u32, u32, u32); 2] = [(0, 1, 1, 1), (0, 2, 2, 1)];

fn receiver(
    ns: &Netns,
    addr: Ipv4Addr,
    ready: std::sync::mpsc::Sender<()>,
) -> switch_sim::netns::NsThread<Vec<(usize, usize)>> {
    ns.spawn_thread(move || {
        let s = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT)).unwrap();
        for k in (1..8).chain([MARKER]) {
            s.join_multicast_v4(&group(k), &addr).unwrap();
        }
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        ready.send(()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        let deadline = Instant::now() + Duration::from_secs(20);
        // Every receiver is in the marker's subset and each path is FIFO, so the marker
        // arrives after everything sent to this host before it.
        while Instant::now() < deadline {
            if let Ok(n) = s.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                let (k, seq) = text.split_once(':').unwrap();
                let k: usize = k.parse().unwrap();
                if k == MARKER {
                    break;
                }
                got.push((k, seq.parse().unwrap()));
            }
        }
        got.sort_unstable();
        got
    })
    .unwrap()
}

#[test]
fn bier_multicast_through_switch_sims_on_veth() {
    let tag = unique_tag();
    let fab = Netns::create("bfab").unwrap();
    let hosts: Vec<Netns> = (0..HOSTS.len())
        .map(|i| Netns::create(&format!("bh{i}")).unwrap())
        .collect();
    let sw_if = |n: u32, p: u32| format!("b{tag}s{n}{p}");
    let host_if = |i: usize| format!("b{tag}h{i}");
    let mut ports: BTreeMap<u32, Vec<(u32, String)>> = BTreeMap::new();
    for (a, pa, b, pb) in LINKS {
        veth(&sw_if(a, pa), &fab, &sw_if(b, pb), &fab).unwrap();
        ports.entry(a).or_default().push((pa, sw_if(a, pa)));
        ports.entry(b).or_default().push((pb, sw_if(b, pb)));
    }
    for (i, (n, p)) in HOSTS.iter().enumerate() {
        veth(&sw_if(*n, *p), &fab, &host_if(i), &hosts[i]).unwrap();
        ports.entry(*n).or_default().push((*p, sw_if(*n, *p)));
        let h = &hosts[i];
        h.exec(&[
            "ip",
            "addr",
            "add",
            &format!("10.0.0.{}/24", i + 1),
            "dev",
            &host_if(i),
        ])
        .unwrap();
        h.exec(&["ip", "route", "add", "224.0.0.0/4", "dev", &host_if(i)])
            .unwrap();
    }
    let mut daemons: Vec<Daemon> = Vec::new();
    let mut logs = Vec::new();
    for (n, ps) in &ports {
        let mut args = vec![
            env!("CARGO_BIN_EXE_switch-sim").to_owned(),
            "--dpid".into(),
            format!("{}", n + 1),
            "--listen".into(),
            format!("ptcp:{}:127.0.0.1", 6641 + n),
        ];
        for (p, name) in ps {
            args.push("--port".into());
            args.push(format!("{p}={name}"));
        }
        let log = std::env::temp_dir().join(format!("switch-sim-bier-veth-{tag}-{n}.log"));
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        daemons.push(fab.spawn(&[("RUST_LOG", "info")], &a, Some(&log)).unwrap());
        logs.push(log);
    }

    // The subsets of {h1, h2, h3}: subset k has host i iff bit i-1 of k is set.
    let subsets: BTreeMap<usize, Vec<usize>> = (1..8usize)
        .map(|k| (k, (1..4).filter(|i| k >> (i - 1) & 1 == 1).collect()))
        .chain([(MARKER, vec![1, 2, 3])])
        .collect();

    // The controller's work, from inside the fabric namespace.
    let subsets_c = subsets.clone();
    fab.run(move || program(&subsets_c)).unwrap();

    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let receivers: Vec<_> = (1..HOSTS.len())
        .map(|i| {
            let addr = Ipv4Addr::new(10, 0, 0, i as u8 + 1);
            receiver(&hosts[i], addr, ready_tx.clone())
        })
        .collect();
    for _ in 1..HOSTS.len() {
        ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }
    let sent = hosts[0]
        .run(|| {
            let s = UdpSocket::bind("10.0.0.1:0").unwrap();
            let mut n = 0;
            for k in 1..8 {
                for seq in 0..PER_SUBSET {
                    s.send_to(format!("{k}:{seq}").as_bytes(), (group(k), PORT))
                        .unwrap();
                    n += 1;
                }
            }
            s.send_to(format!("{MARKER}:0").as_bytes(), (group(MARKER), PORT))
                .unwrap();
            n + 1
        })
        .unwrap();
    assert_eq!(sent, 7 * PER_SUBSET + 1);

    for (r, i) in receivers.into_iter().zip(1..) {
        let got = r.join().unwrap();
        let want: Vec<(usize, usize)> = subsets
            .iter()
            .filter(|(k, m)| **k != MARKER && m.contains(&i))
            .flat_map(|(k, _)| (0..PER_SUBSET).map(move |s| (*k, s)))
            .collect();
        assert_eq!(got, want, "host h{i}");
        // Nothing else reached the host: no BIER frame, no stray copy.
        let rx = hosts[i].counter(&host_if(i), "rx_packets").unwrap();
        assert_eq!(
            rx as usize,
            want.len() + 1,
            "h{i}'s interface received {rx} frames"
        );
    }
    assert_eq!(
        hosts[0].counter(&host_if(0), "rx_packets").unwrap(),
        0,
        "the sender"
    );
    drop(daemons);
    // Kept when the test fails (a panic above), for the post-mortem.
    for l in logs {
        let _ = std::fs::remove_file(l);
    }
}

/// Pushes BIFTs, BFR-ids, the forwarding flows and the BFIR flows to the three switches.
fn program(subsets: &BTreeMap<usize, Vec<usize>>) {
    let mut topo = Topology::new(3);
    for (a, pa, b, pb) in LINKS {
        topo.add_link_ports(NodeId(a), bier::Port(pa), NodeId(b), bier::Port(pb))
            .unwrap();
    }
    let bfr = |i: usize| BfrId::new(i as u16 + 1).unwrap();
    let ids: BTreeMap<BfrId, NodeId> = HOSTS
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (bfr(i), NodeId(*n)))
        .collect();
    let bifts = bier::compute_bifts(&topo, &ids, BSL).unwrap();
    let key = table_key(BSL, 0, SetId(0)).unwrap();
    for (n, tables) in bifts.iter().enumerate() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 6641 + n as u16));
        let mut c = OfClient::connect(addr, Duration::from_secs(20));
        let mut msgs = Vec::new();
        for m in bier_table(key, &tables[&SetId(0)])
            .bift_mods(1, BiftCommand::Replace)
            .unwrap()
        {
            msgs.push(BierMessage::BiftMod(m).to_message(Xid(2)));
        }
        let bfrs = HOSTS
            .iter()
            .enumerate()
            .filter(|(_, (node, _))| *node == n as u32)
            .map(|(i, (_, p))| LocalBfr {
                bfr_id: bfr(i).get(),
                decap: true,
                port: PortNo(*p),
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
            FlowMod::add(
                TableId(0),
                10,
                Match::new().with(Oxm::EthType(0xab37)),
                vec![Instruction::ApplyActions(vec![
                    BierAction::Forward.to_action()
                ])],
            ),
        ));
        if n == 1 {
            // The BFIR: h0 (port 2) sends plain UDP multicast.
            for (k, members) in subsets {
                let mut bits = bier::BitString::zero(BSL);
                for m in members {
                    bits.set(bfr(*m).locate(BSL).1);
                }
                let encap = BierAction::Encap(BierEncap {
                    bift_id: key.bift_id,
                    sub_domain: 0,
                    bsl: wire_bsl(BSL),
                    si: 0,
                    bfir_id: bfr(0).get(),
                    ttl: 16,
                    tc: 0,
                    copy_dscp: true,
                    entropy: Entropy::FlowHash { seed: 0 },
                    bitstring: bits.to_bytes(),
                });
                let m = Match::new()
                    .with(Oxm::InPort(PortNo(2)))
                    .with(Oxm::EthType(0x0800))
                    .with(Oxm::Ipv4Dst {
                        value: group(*k),
                        mask: None,
                    });
                msgs.push(Message::new(
                    Xid(5),
                    FlowMod::add(
                        TableId(0),
                        100,
                        m,
                        vec![Instruction::ApplyActions(vec![
                            encap.to_action(),
                            BierAction::Forward.to_action(),
                        ])],
                    ),
                ));
            }
        }
        c.apply(&msgs);
    }
}
