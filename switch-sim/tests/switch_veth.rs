//! Real packets on veth: the `switch-sim` binary runs in a network namespace of its own with
//! five ports, each a veth pair to a host namespace. An ALL group (installed over OpenFlow
//! with `ovs-ofctl` through the switch's listener) replicates a multicast address to three
//! of the hosts; UDP datagrams sent from host 1 with an ordinary socket must arrive exactly
//! once at hosts 2, 3 and 4, never at host 5, and never back at host 1.
//!
//! Needs root (namespaces, packet sockets) and `ovs-ofctl`; the test command runs as root
//! and installs `openvswitch-switch`. Every namespace, interface and process is named
//! uniquely and removed when the test ends, also when it fails.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed assertion

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use switch_sim::netns::{unique_tag, veth, Netns};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 1);
const PORT: u16 = 5000;

fn wait_for<T>(what: &str, d: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + d;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Receives datagrams on `GROUP:PORT` inside a host namespace until `quiet` passes without
/// one (or `limit` passes in all); returns their payloads.
fn receiver(
    ns: &Netns,
    addr: Ipv4Addr,
    ready: std::sync::mpsc::Sender<()>,
) -> switch_sim::netns::NsThread<Vec<String>> {
    ns.spawn_thread(move || {
        let s = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT)).unwrap();
        s.join_multicast_v4(&GROUP, &addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        ready.send(()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        let start = Instant::now();
        let mut last = Instant::now();
        while last.elapsed() < Duration::from_millis(1500)
            && start.elapsed() < Duration::from_secs(20)
        {
            if let Ok(n) = s.recv(&mut buf) {
                got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                last = Instant::now();
            }
        }
        got
    })
    .unwrap()
}

#[test]
fn udp_multicast_through_an_all_group_on_veth() {
    let tag = unique_tag();
    let sw = Netns::create("sw").unwrap();
    let hosts: Vec<Netns> = (1..=5)
        .map(|i| Netns::create(&format!("h{i}")).unwrap())
        .collect();
    let mut args = vec![
        env!("CARGO_BIN_EXE_switch-sim").to_owned(),
        "--dpid".into(),
        "0x51".into(),
        "--listen".into(),
        "ptcp:6634:127.0.0.1".into(),
    ];
    for (i, h) in hosts.iter().enumerate() {
        let n = i + 1;
        let (sp, hp) = (format!("s{tag}p{n}"), format!("h{tag}e{n}"));
        veth(&sp, &sw, &hp, h).unwrap();
        let addr = format!("10.0.0.{n}/24");
        h.exec(&["ip", "addr", "add", &addr, "dev", &hp]).unwrap();
        h.exec(&["ip", "route", "add", "224.0.0.0/4", "dev", &hp])
            .unwrap();
        args.push("--port".into());
        args.push(format!("{n}={sp}"));
    }
    let log = std::env::temp_dir().join(format!("switch-sim-veth-{tag}.log"));
    let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut sim = sw
        .spawn(&[("RUST_LOG", "info")], &args_ref, Some(&log))
        .unwrap();

    let ofctl = |cmd: &str, arg: Option<&str>| {
        let mut a = vec!["ovs-ofctl", "-O", "OpenFlow13", cmd, "tcp:127.0.0.1:6634"];
        a.extend(arg);
        sw.exec(&a)
    };
    let ports = wait_for("the switch's listener", Duration::from_secs(20), || {
        ofctl("dump-ports-desc", None).ok()
    });
    let ports = String::from_utf8_lossy(&ports.stdout).into_owned();
    for n in 1..=5 {
        assert!(ports.contains(&format!("{n}(s{tag}p{n})")), "{ports}");
    }
    ofctl(
        "add-group",
        Some("group_id=1,type=all,bucket=output:2,bucket=output:3,bucket=output:4"),
    )
    .unwrap();
    ofctl(
        "add-flow",
        Some("priority=100,udp,nw_dst=239.1.1.1,actions=group:1"),
    )
    .unwrap();

    // Receivers on every host, the sender's own included.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let receivers: Vec<_> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| receiver(h, Ipv4Addr::new(10, 0, 0, i as u8 + 1), ready_tx.clone()))
        .collect();
    for _ in 0..receivers.len() {
        ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }

    const N: usize = 50;
    hosts[0]
        .run(|| {
            let s = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 0)).unwrap();
            s.set_multicast_loop_v4(false).unwrap();
            for k in 0..N {
                s.send_to(
                    format!("datagram {k}").as_bytes(),
                    SocketAddrV4::new(GROUP, PORT),
                )
                .unwrap();
                // Paced, so no socket buffer on the way can overflow.
                std::thread::sleep(Duration::from_millis(2));
            }
        })
        .unwrap();

    let got: Vec<Vec<String>> = receivers.into_iter().map(|r| r.join().unwrap()).collect();
    let want: Vec<String> = (0..N).map(|k| format!("datagram {k}")).collect();
    for (i, g) in got.iter().enumerate() {
        let host = i + 1;
        match host {
            2..=4 => assert_eq!(
                g, &want,
                "host {host} must get every datagram once, in order"
            ),
            _ => assert!(g.is_empty(), "host {host} got {} datagrams", g.len()),
        }
    }

    // The switch skipped its own output on every port, and counted the group's copies.
    let dump = ofctl("dump-ports", None).unwrap();
    let dump = String::from_utf8_lossy(&dump.stdout).into_owned();
    for n in 2..=4 {
        let line = dump
            .lines()
            .skip_while(|l| !l.trim_start().starts_with(&format!("port  {n}:")))
            .nth(1)
            .unwrap_or_else(|| panic!("no port {n} in {dump}"));
        let tx: u64 = line
            .split("pkts=")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no tx count in {line:?}"));
        assert!(tx >= N as u64, "port {n} sent {tx}: {line}");
    }

    // Carrier: host 5 takes its end down; the switch's port 5 follows (PORT_STATUS, and the
    // port description), and comes back with it.
    let h5 = format!("h{tag}e5");
    for (updown, want) in [("down", "LINK_DOWN"), ("up", "LIVE")] {
        hosts[4].exec(&["ip", "link", "set", &h5, updown]).unwrap();
        wait_for(&format!("port 5 {want}"), Duration::from_secs(10), || {
            let out = ofctl("dump-ports-desc", None).ok()?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let state = text
                .lines()
                .skip_while(|l| !l.contains(&format!(" 5(s{tag}p5)")))
                .find(|l| l.trim_start().starts_with("state:"))?
                .to_owned();
            state.contains(want).then_some(())
        });
    }

    // SIGTERM stops the switch cleanly.
    let status = sim.terminate(Duration::from_secs(5)).unwrap();
    assert!(
        status.is_some_and(|s| s.success()),
        "switch-sim did not exit cleanly on SIGTERM: {status:?}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("stopped"), "{text}");
    let _ = std::fs::remove_file(&log);
}
