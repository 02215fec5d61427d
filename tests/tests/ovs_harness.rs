//! Self-test of the OVS harness: every topology builds, flows installed with `ovs-ofctl`
//! deliver real UDP exactly where they say, link control and controller targets work, and
//! nothing is left behind afterwards, also when a test panics.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tsm_tests::netns::{list_names, pid_alive};
use tsm_tests::{Collect, Netns, OvsFabric, Probe, Reception, TopologySpec};

const G4: &str = "239.1.1.1";
const G6: &str = "ff0e::1:1";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Builds `spec`, printing how long it took.
fn build(spec: &TopologySpec) -> OvsFabric {
    tsm_tests::check_environment().unwrap();
    let start = Instant::now();
    let f = OvsFabric::new(spec).unwrap();
    eprintln!("built {} in {:?}", spec.name, start.elapsed());
    f
}

/// What must be gone once a fabric is dropped.
struct Traces {
    names: Vec<String>,
    pids: Vec<u32>,
    dir: std::path::PathBuf,
}

fn traces(f: &OvsFabric) -> Traces {
    Traces {
        names: f.namespace_names(),
        pids: f.daemon_pids(),
        dir: f.dir().to_owned(),
    }
}

fn assert_gone(t: &Traces) {
    let now = list_names();
    for n in &t.names {
        assert!(!now.contains(n), "namespace {n} still exists");
    }
    for &p in &t.pids {
        assert!(!pid_alive(p), "daemon pid {p} still runs");
    }
    assert!(!t.dir.exists(), "{} still exists", t.dir.display());
}

/// Drops the fabric and checks it left nothing.
fn teardown(f: OvsFabric) {
    let t = traces(&f);
    assert!(t.pids.iter().all(|&p| pid_alive(p)), "daemons died early");
    drop(f);
    assert_gone(&t);
}

fn add(f: &OvsFabric, what: &str, switch: &str, spec: &str) {
    f.ofctl(what, switch, &[spec]).unwrap();
}

/// An ALL group `id` over `ports` and flows sending both test groups (IPv4 and IPv6) to it.
fn group_to(f: &OvsFabric, switch: &str, ports: &[u32]) {
    let buckets: Vec<String> = ports.iter().map(|p| format!("bucket=output:{p}")).collect();
    let group = format!("group_id=1,type=all,{}", buckets.join(","));
    add(f, "add-group", switch, &group);
    add(
        f,
        "add-flow",
        switch,
        &format!("ip,nw_dst={G4},actions=group:1"),
    );
    add(
        f,
        "add-flow",
        switch,
        &format!("ipv6,ipv6_dst={G6},actions=group:1"),
    );
}

fn all_hosts(f: &OvsFabric) -> Vec<&str> {
    f.topology().host_names()
}

/// Hosts other than `from`.
fn others<'a>(f: &'a OvsFabric, from: &str) -> Vec<&'a str> {
    all_hosts(f).into_iter().filter(|h| *h != from).collect()
}

#[test]
fn sockets_made_inside_a_namespace_work_from_any_thread() {
    tsm_tests::check_environment().unwrap();
    let ns = Netns::new().unwrap();
    let name = ns.name().to_owned();
    assert!(list_names().contains(&name));

    let outside = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    let (inside, listener, udp) = ns
        .run(|| {
            (
                std::fs::read_link("/proc/thread-self/ns/net").unwrap(),
                TcpListener::bind("127.0.0.1:0").unwrap(),
                UdpSocket::bind("127.0.0.1:0").unwrap(),
            )
        })
        .unwrap();
    assert_ne!(inside, outside, "run() did not enter the namespace");
    // This thread never moved.
    assert_eq!(
        std::fs::read_link("/proc/thread-self/ns/net").unwrap(),
        outside
    );
    let port = listener.local_addr().unwrap().port();
    // The port is taken inside the namespace only: the same port is free out here.
    drop(TcpListener::bind(("127.0.0.1", port)).unwrap());

    // A client made inside connects to the listener, which accepts on this thread.
    let mut client = ns
        .run(|| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .unwrap();
    let (mut server, _) = listener.accept().unwrap();
    client.write_all(b"ping").unwrap();
    let mut got = [0u8; 4];
    server.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping");

    // UDP inside, used from this thread and another one.
    let to = udp.local_addr().unwrap();
    let sender = ns.run(|| UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
    std::thread::spawn(move || sender.send_to(b"pong", to).unwrap())
        .join()
        .unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 8];
    let (n, _) = udp.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"pong");

    drop(ns);
    assert!(!list_names().contains(&name));
}

#[test]
fn single_switch_group_reaches_chosen_hosts_exactly() {
    let f = build(&TopologySpec::single(6));
    let t = f.topology().clone();
    assert_eq!(t.switches.len(), 1);
    assert_eq!(t.switches[0].dpid, 1);
    assert_eq!(t.hosts.len(), 6);
    // Ports of s1 are the hosts' in order.
    for (i, h) in t.hosts.iter().enumerate() {
        assert_eq!((h.attach.dpid, h.attach.port), (1, i as u32 + 1));
    }
    // fail_mode=secure and no flows: nothing is forwarded.
    let d = f
        .send_and_collect(
            "h1",
            ip(G4),
            5000,
            b"x",
            &all_hosts(&f),
            Duration::from_secs(1),
        )
        .unwrap();
    assert!(d.received().is_empty(), "{d:?}");

    // h2, h4 and h5 (ports 2, 4, 5), and port 1 for the copy that must not go back to h1.
    group_to(&f, "s1", &[1, 2, 4, 5]);
    f.settle().unwrap();
    assert!(f.dump_groups("s1").unwrap().contains("group_id=1"));
    assert!(f
        .dump_flows("s1")
        .unwrap()
        .contains(&format!("nw_dst={G4}")));
    let expected = ["h2", "h4", "h5"];
    for reception in [Reception::Capture, Reception::Socket] {
        let opts = Collect {
            reception,
            ..Collect::default()
        };
        let probes = [
            Probe::new("h1", ip(G4), 5001),
            Probe::new("h1", ip(G6), 5002),
        ];
        for d in f.probe(&probes, &all_hosts(&f), &opts).unwrap() {
            assert!(d.is_exactly(&expected), "{reception:?}: {d:?}");
            eprintln!(
                "{reception:?}: first copy after {:?}, last after {:?}",
                d.first, d.last
            );
        }
    }
    // Sent from h5, the group's own port 5 is skipped (OF1.3 §5.6.1): h1, h2, h4.
    let d = f
        .send_and_collect(
            "h5",
            ip(G6),
            5003,
            b"y",
            &all_hosts(&f),
            Duration::from_secs(1),
        )
        .unwrap();
    assert!(d.is_exactly(&["h1", "h2", "h4"]), "{d:?}");
    // The counters saw it: port 5 received two probes of h5... at least one.
    let c = f.port_counters("s1").unwrap();
    assert_eq!(
        c.iter().map(|c| c.port).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    assert!(c[4].rx_packets >= 1, "{c:?}");
    assert_eq!(
        c[2].tx_packets, c[5].tx_packets,
        "h3 and h6 are alike: {c:?}"
    );
    teardown(f);
}

#[test]
fn group_datagrams_reach_udp_sockets_only_after_a_join() {
    let f = build(&TopologySpec::single(2));
    group_to(&f, "s1", &[2]);
    f.settle().unwrap();
    let h2 = f.host_ns("h2").unwrap();
    let mut buf = [0u8; 256];

    // Not joined: the datagram arrives at h2's interface, the kernel does not hand it to UDP.
    let unjoined = h2.receiver(ip(G4), 9000, &[]).unwrap();
    let probe = [Probe::new("h1", ip(G4), 9000)];
    let d = f.probe(&probe, &["h1", "h2"], &Collect::default()).unwrap();
    assert!(d[0].is_exactly(&["h2"]), "{d:?}");
    let err = unjoined.recv_from(&mut buf).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock, "{err}");

    // Joined on eth0: the socket gets it.
    let joined = h2.receiver(ip(G4), 9001, &[ip(G4)]).unwrap();
    let probe = [Probe::new("h1", ip(G4), 9001)];
    let d = f.probe(&probe, &["h1", "h2"], &Collect::default()).unwrap();
    assert!(d[0].is_exactly(&["h2"]), "{d:?}");
    let (n, from) = joined.recv_from(&mut buf).unwrap();
    assert_eq!(
        &buf[..probe[0].payload.len()],
        &probe[0].payload[..],
        "{n} bytes"
    );
    assert_eq!(from.ip(), IpAddr::V4(f.host("h1").unwrap().ipv4));
    teardown(f);
}

#[test]
fn broadcasts_and_announcements_leave_the_hosts() {
    let f = build(&TopologySpec::single(3));
    add(&f, "add-flow", "s1", "actions=flood");
    f.settle().unwrap();
    let probe = [Probe::new("h1", ip("10.255.255.255"), 9100)];
    let d = f
        .probe(&probe, &all_hosts(&f), &Collect::default())
        .unwrap();
    assert!(d[0].is_exactly(&["h2", "h3"]), "{d:?}");

    let rx = |port: u32| {
        let c = f.port_counters("s1").unwrap();
        c.iter().find(|c| c.port == port).unwrap().rx_packets
    };
    let before: Vec<u64> = (1..=3).map(rx).collect();
    f.announce_all(9101).unwrap();
    // Each host's port sees its two announcements (counters lag a little: poll).
    let start = Instant::now();
    while (1..=3).any(|p| rx(p) < before[p as usize - 1] + 2) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "announcements not seen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    teardown(f);
}

#[test]
fn duplicates_are_counted() {
    let f = build(&TopologySpec::single(3));
    // Two buckets to the same port: h2 gets every datagram twice.
    group_to(&f, "s1", &[2, 2, 3]);
    f.settle().unwrap();
    let d = f
        .send_and_collect(
            "h1",
            ip(G4),
            5000,
            b"dup",
            &all_hosts(&f),
            Duration::from_secs(1),
        )
        .unwrap();
    assert_eq!(
        (d.count("h1"), d.count("h2"), d.count("h3")),
        (0, 2, 1),
        "{d:?}"
    );
    assert!(!d.is_exactly(&["h2", "h3"]));
    teardown(f);
}

#[test]
fn line_of_three_floods_a_tree_and_follows_link_state() {
    let f = build(&TopologySpec::line(3, 2));
    let t = f.topology().clone();
    assert_eq!(t.link_ports(), vec![((1, 1), (2, 1)), ((2, 2), (3, 1))]);
    assert_eq!(t.host("h5").unwrap().attach.dpid, 3);
    for s in ["s1", "s2", "s3"] {
        // A line is a tree: flooding reaches every host once.
        add(&f, "add-flow", s, "actions=flood");
    }
    f.settle().unwrap();
    for from in all_hosts(&f) {
        let probes = [
            Probe::new(from, ip(G4), 6000),
            Probe::new(from, ip(G6), 6000),
        ];
        for d in f
            .probe(&probes, &all_hosts(&f), &Collect::default())
            .unwrap()
        {
            assert!(d.is_exactly(&others(&f, from)), "from {from}: {d:?}");
        }
    }
    // Link s2-s3 down: h5 and h6 (on s3) are cut off.
    let link = f.link_between("s2", "s3").unwrap();
    assert_eq!(link, 1);
    f.set_link_up(link, false).unwrap();
    let d = f
        .send_and_collect(
            "h1",
            ip(G4),
            6001,
            b"cut",
            &all_hosts(&f),
            Duration::from_secs(1),
        )
        .unwrap();
    assert!(d.is_exactly(&["h2", "h3", "h4"]), "{d:?}");
    // Back up: delivery resumes once OVS sees the carrier (polled, with a deadline).
    f.set_link_up(link, true).unwrap();
    let start = Instant::now();
    loop {
        let d = f
            .send_and_collect(
                "h1",
                ip(G4),
                6002,
                b"up",
                &all_hosts(&f),
                Duration::from_secs(1),
            )
            .unwrap();
        if d.is_exactly(&others(&f, "h1")) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "link never came back: {d:?}"
        );
    }
    teardown(f);
}

#[test]
fn leaf_spine_groups_deliver_to_a_subset_without_wasted_copies() {
    let f = build(&TopologySpec::leaf_spine(2, 4, 2));
    let t = f.topology().clone();
    assert_eq!(t.switches.len(), 6);
    assert_eq!(t.links.len(), 8);
    assert_eq!(t.hosts.len(), 8);
    // Leaves s3..s6: port 1 to spine s1, port 2 to spine s2, hosts on 3 and 4.
    // Tree through spine s1. Subset {h2, h4, h7}: h2 on s3:4, h4 on s4:4, h7 on s6:3.
    group_to(&f, "s1", &[1, 2, 4]); // to s3, s4, s6
    group_to(&f, "s3", &[1, 4]);
    group_to(&f, "s4", &[1, 4]);
    group_to(&f, "s6", &[1, 3]);
    f.settle().unwrap();
    let probes = [
        Probe::new("h1", ip(G4), 7000),
        Probe::new("h1", ip(G6), 7001),
    ];
    for d in f
        .probe(&probes, &all_hosts(&f), &Collect::default())
        .unwrap()
    {
        assert!(d.is_exactly(&["h2", "h4", "h7"]), "{d:?}");
    }
    // Spine s2 and leaf s5 are off the tree: their ports sent nothing.
    for s in ["s2", "s5"] {
        let sent: u64 = f
            .port_counters(s)
            .unwrap()
            .iter()
            .map(|c| c.tx_packets)
            .sum();
        assert_eq!(sent, 0, "{s} sent {sent} packets");
    }
    teardown(f);
}

#[test]
fn ring_with_a_loop_free_tree_delivers_once_from_every_host() {
    let f = build(&TopologySpec::ring(4, 2));
    assert_eq!(f.topology().links.len(), 4);
    // The ring s1-s2-s3-s4-s1 without link s3-s4: a tree.
    let cut = f.link_between("s3", "s4").unwrap();
    for s in ["s1", "s2", "s3", "s4"] {
        let mut ports: Vec<u32> = f
            .topology()
            .neighbours(s)
            .into_iter()
            .filter(|(_, n)| !matches!((s, *n), ("s3", "s4") | ("s4", "s3")))
            .map(|(p, _)| p)
            .collect();
        ports.extend([3, 4]);
        group_to(&f, s, &ports);
    }
    f.settle().unwrap();
    let probes: Vec<Probe> = all_hosts(&f)
        .into_iter()
        .flat_map(|h| [Probe::new(h, ip(G4), 8000), Probe::new(h, ip(G6), 8001)])
        .collect();
    let deliveries = f
        .probe(&probes, &all_hosts(&f), &Collect::default())
        .unwrap();
    for (p, d) in probes.iter().zip(&deliveries) {
        assert!(d.is_exactly(&others(&f, &p.from)), "from {}: {d:?}", p.from);
    }
    // The unused link carried nothing.
    let l = &f.topology().links[cut];
    for end in [&l.a, &l.b] {
        let c = f.port_counters(&end.switch).unwrap();
        let c = c.iter().find(|c| c.port == end.port).unwrap();
        assert_eq!(c.tx_packets, 0, "{end:?}");
    }
    teardown(f);
}

/// Accepts one connection within `timeout` and returns the first 8 bytes (an OpenFlow header).
fn first_header(mut accept: impl FnMut() -> Option<Box<dyn Read>>, timeout: Duration) -> [u8; 8] {
    let start = Instant::now();
    loop {
        if let Some(mut s) = accept() {
            let mut h = [0u8; 8];
            s.read_exact(&mut h).unwrap();
            return h;
        }
        assert!(start.elapsed() < timeout, "no connection from OVS");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn switches_reach_a_controller_inside_the_namespace_or_on_a_unix_socket() {
    let f = build(&TopologySpec::line(2, 1));
    // TCP: the listener lives in the fabric's private namespace.
    let listener = f.listen_tcp(6653).unwrap();
    listener.set_nonblocking(true).unwrap();
    f.set_controller(Some("tcp:127.0.0.1:6653")).unwrap();
    let accepted = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..2 {
        let keep = accepted.clone();
        let h = first_header(
            || {
                let (s, _) = listener.accept().ok()?;
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                keep.lock().unwrap().push(s.try_clone().unwrap());
                Some(Box::new(s))
            },
            Duration::from_secs(10),
        );
        // OFPT_HELLO, version 0x04 (OpenFlow 1.3).
        assert_eq!((h[0], h[1]), (0x04, 0x00), "{h:?}");
    }
    // Answer HELLO on both: OVS then reports both switches connected.
    for s in accepted.lock().unwrap().iter_mut() {
        s.write_all(&[4, 0, 0, 8, 0, 0, 0, 1]).unwrap();
    }
    f.wait_connected(Duration::from_secs(10)).unwrap();

    // unix: works as a controller target too, and does not care about namespaces.
    let path = f.dir().join("ctl.sock");
    let unix = UnixListener::bind(&path).unwrap();
    unix.set_nonblocking(true).unwrap();
    f.set_controller(Some(&format!("unix:{}", path.display())))
        .unwrap();
    let h = first_header(
        || {
            let (s, _) = unix.accept().ok()?;
            s.set_nonblocking(false).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            Some(Box::new(s))
        },
        Duration::from_secs(10),
    );
    assert_eq!((h[0], h[1]), (0x04, 0x00), "{h:?}");
    drop(accepted);
    teardown(f);
}

#[test]
fn a_panicking_test_leaves_nothing_behind() {
    let seen: Arc<Mutex<Option<Traces>>> = Arc::new(Mutex::new(None));
    let keep = seen.clone();
    let result = std::thread::spawn(move || {
        let f = build(&TopologySpec::single(2));
        *keep.lock().unwrap() = Some(traces(&f));
        panic!("a failed assertion while the fabric is up");
    })
    .join();
    assert!(result.is_err());
    let t = seen.lock().unwrap().take().unwrap();
    assert!(!t.names.is_empty() && t.pids.len() == 2);
    assert_gone(&t);
}
