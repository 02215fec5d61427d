//! Multicast replication on veth: packets per second through a 3-bucket ALL group, switch-sim
//! against Open vSwitch's userspace datapath (`datapath_type=netdev`) on the same veth
//! topology in the same run.
//!
//! Topology: a switch namespace with four veth ports; port 1 leads to a sender namespace,
//! ports 2–4 to three receiver namespaces. The flow `udp,nw_dst=239.1.1.1 → group:1` and the
//! group `type=all, buckets output:2, output:3, output:4` are installed with `ovs-ofctl` in
//! both cases. The sender writes one 64-byte UDP frame after another through a raw packet
//! socket for a fixed time (or up to a fixed count); the receivers' kernels count what
//! arrives (`rx_packets` of each receiver's interface). Rounds alternate between the two
//! switches so that background load on the machine affects both alike.
//!
//! Reported: frames offered per second, and per switch the packets per second that got
//! through the group (the mean over the three receivers; each receives one copy per packet),
//! the copies per second, and the ratio switch-sim / Open vSwitch (median of the rounds).
//!
//! Needs root, `ip`, and Open vSwitch (`ovs-vsctl`, `ovsdb-server`, `ovs-vswitchd`,
//! `ovs-ofctl`). Run: `cargo bench -p switch-sim --bench replication [-- SECONDS ROUNDS]`.
//! Everything it creates (namespaces, interfaces, daemons, a temporary directory) carries a
//! unique name and is removed at the end, also on failure.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up stops

#[path = "common/star.rs"]
mod star;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use openflow::oxm::MacAddr;
use star::Topology;
use switch_sim::netns::Daemon;

const GROUP: &str = "group_id=1,type=all,bucket=output:2,bucket=output:3,bucket=output:4";
const FLOW: &str = "priority=100,udp,nw_dst=239.1.1.1,actions=group:1";
const MAX_PACKETS: u64 = 20_000_000;

fn wait_for<T>(what: &str, d: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + d;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One switch under test, running in the switch namespace, programmed with `ovs-ofctl`.
trait UnderTest {
    fn name(&self) -> &'static str;
}

struct SwitchSim {
    _daemon: Daemon,
}

impl UnderTest for SwitchSim {
    fn name(&self) -> &'static str {
        "switch-sim"
    }
}

impl SwitchSim {
    fn start(t: &Topology, log: &Path) -> SwitchSim {
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
        let daemon = t.sw.spawn(&[("RUST_LOG", "info")], &a, Some(log)).unwrap();
        let ofctl = |cmd: &str, arg: &str| {
            let mut v = vec!["ovs-ofctl", "-O", "OpenFlow13", cmd, "tcp:127.0.0.1:6634"];
            if !arg.is_empty() {
                v.push(arg);
            }
            t.sw.exec(&v)
        };
        wait_for("switch-sim's listener", Duration::from_secs(20), || {
            ofctl("show", "").ok()
        });
        ofctl("add-group", GROUP).unwrap();
        ofctl("add-flow", FLOW).unwrap();
        SwitchSim { _daemon: daemon }
    }
}

struct Ovs {
    // Dropped in this order: the switch daemon first, then the database.
    _vswitchd: Daemon,
    _ovsdb: Daemon,
}

impl UnderTest for Ovs {
    fn name(&self) -> &'static str {
        "ovs-netdev"
    }
}

impl Ovs {
    fn start(t: &Topology, dir: &Path) -> Ovs {
        std::fs::create_dir_all(dir).unwrap();
        let d = dir.to_str().unwrap();
        let env = [
            ("OVS_RUNDIR", d),
            ("OVS_LOGDIR", d),
            ("OVS_DBDIR", d),
            ("OVS_SYSCONFDIR", d),
        ];
        let db = format!("{d}/conf.db");
        let sock = format!("unix:{d}/db.sock");
        std::process::Command::new("ovsdb-tool")
            .args(["create", &db, "/usr/share/openvswitch/vswitch.ovsschema"])
            .status()
            .unwrap();
        let ovsdb =
            t.sw.spawn(
                &env,
                &[
                    "ovsdb-server",
                    &format!("--remote=punix:{d}/db.sock"),
                    &format!("--pidfile={d}/ovsdb.pid"),
                    &format!("--log-file={d}/ovsdb.log"),
                    &db,
                ],
                Some(&dir.join("ovsdb.out")),
            )
            .unwrap();
        let vsctl = |args: &[&str]| {
            let mut v = vec!["ovs-vsctl", "--timeout=20"];
            let db_arg = format!("--db={sock}");
            v.push(&db_arg);
            v.extend(args);
            t.sw.exec_env(&env, &v)
        };
        wait_for("ovsdb-server", Duration::from_secs(20), || {
            vsctl(&["--no-wait", "init"]).ok()
        });
        let vswitchd =
            t.sw.spawn(
                &env,
                &[
                    "ovs-vswitchd",
                    &sock,
                    &format!("--pidfile={d}/vswitchd.pid"),
                    &format!("--log-file={d}/vswitchd.log"),
                ],
                Some(&dir.join("vswitchd.out")),
            )
            .unwrap();
        let br = format!("b{}", t.tag);
        let mut add = vec![
            "add-br".to_owned(),
            br.clone(),
            "--".into(),
            "set".into(),
            "bridge".into(),
            br.clone(),
            "datapath_type=netdev".into(),
            "protocols=OpenFlow13".into(),
            "fail_mode=secure".into(),
            "other-config:disable-in-band=true".into(),
        ];
        for n in 1..=4 {
            let p = t.switch_port(n);
            add.extend([
                "--".into(),
                "add-port".into(),
                br.clone(),
                p.clone(),
                "--".into(),
                "set".into(),
                "interface".into(),
                p,
                format!("ofport_request={n}"),
            ]);
        }
        let add: Vec<&str> = add.iter().map(String::as_str).collect();
        vsctl(&add).unwrap();
        let ofctl = |cmd: &str, arg: &str| {
            let mut v = vec!["ovs-ofctl", "-O", "OpenFlow13", cmd, br.as_str()];
            if !arg.is_empty() {
                v.push(arg);
            }
            t.sw.exec_env(&env, &v)
        };
        wait_for("ovs-vswitchd", Duration::from_secs(20), || {
            ofctl("show", "").ok()
        });
        ofctl("add-group", GROUP).unwrap();
        ofctl("add-flow", FLOW).unwrap();
        Ovs {
            _vswitchd: vswitchd,
            _ovsdb: ovsdb,
        }
    }
}

/// Sends the same frame through a raw packet socket in the sender namespace for `secs` (or
/// `max` frames); returns how many were sent and how long it took.
fn send(t: &Topology, secs: Duration, max: u64) -> (u64, Duration) {
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
            // 64 bytes on the wire without the FCS: 14 + 20 + 8 + 22.
            let frame = switch_sim::packet::build::udp4(
                MacAddr([0x02, 0, 0, 0, 0, 0x64]),
                MacAddr([0x01, 0, 0x5e, 1, 1, 1]),
                Ipv4Addr::new(10, 0, 0, 100),
                Ipv4Addr::new(239, 1, 1, 1),
                4000,
                5000,
                &[0x5a; 18],
            );
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
    offered_pps: f64,
    through_pps: f64,
    per_receiver: Vec<u64>,
}

fn measure(t: &Topology, secs: Duration) -> Run {
    // Warm up: the first packet of a flow takes each switch's slow path.
    send(t, Duration::from_millis(200), 1000);
    std::thread::sleep(Duration::from_millis(300));
    let before = t.received();
    let (sent, took) = send(t, secs, MAX_PACKETS);
    // Let the queues drain.
    std::thread::sleep(Duration::from_millis(500));
    let after = t.received();
    let per_receiver: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    let mean = per_receiver.iter().sum::<u64>() as f64 / per_receiver.len() as f64;
    Run {
        offered_pps: sent as f64 / took.as_secs_f64(),
        through_pps: mean / took.as_secs_f64(),
        per_receiver,
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    // `cargo bench` passes `--bench`; numbers are SECONDS and ROUNDS.
    let nums: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let secs = Duration::from_secs(nums.first().copied().unwrap_or(3).clamp(1, 60));
    let rounds = nums.get(1).copied().unwrap_or(3).clamp(1, 10);

    let t = Topology::build("b");
    let tmp = TempDir(std::env::temp_dir().join(format!("tsm-bench-replication-{}", t.tag)));
    std::fs::create_dir_all(&tmp.0).unwrap();
    let tmp = &tmp.0;
    println!(
        "multicast replication on veth: ALL group with 3 buckets, 64-byte UDP frames, \
         {} s per run, {rounds} rounds",
        secs.as_secs()
    );
    println!(
        "{:<6} {:<11} {:>14} {:>16} {:>16}  per receiver",
        "round", "switch", "offered pkt/s", "through pkt/s", "copies/s"
    );
    let mut sim = Vec::new();
    let mut ovs = Vec::new();
    for round in 1..=rounds {
        for which in 0..2 {
            let (name, run) = if which == 0 {
                let log = tmp.join(format!("switch-sim-{round}.log"));
                let s = SwitchSim::start(&t, &log);
                let r = measure(&t, secs);
                let name = s.name();
                drop(s);
                // The switch logs its port counters when it stops.
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let keep = ["port=", "rx=", "tx=", "tx_dropped=", "rx_own="];
                for l in text.lines().filter(|l| l.contains("port counters")) {
                    let fields: Vec<&str> = l
                        .split_whitespace()
                        .filter(|w| keep.iter().any(|k| w.starts_with(k)))
                        .collect();
                    println!("{:<18} {}", "", fields.join(" "));
                }
                (name, r)
            } else {
                let o = Ovs::start(&t, &tmp.join(format!("ovs-{round}")));
                let r = measure(&t, secs);
                (o.name(), r)
            };
            println!(
                "{round:<6} {name:<11} {:>14.0} {:>16.0} {:>16.0}  {:?}",
                run.offered_pps,
                run.through_pps,
                run.through_pps * 3.0,
                run.per_receiver
            );
            if which == 0 {
                sim.push(run.through_pps);
            } else {
                ovs.push(run.through_pps);
            }
        }
    }
    let (s, o) = (median(&mut sim), median(&mut ovs));
    println!(
        "median through the group: switch-sim {s:.0} pkt/s, Open vSwitch (netdev) {o:.0} pkt/s"
    );
    println!(
        "ratio switch-sim / Open vSwitch: {:.2}x (target >= 1.0x)",
        if o > 0.0 { s / o } else { f64::INFINITY }
    );
}

/// A directory removed when dropped (also while a panic unwinds).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
