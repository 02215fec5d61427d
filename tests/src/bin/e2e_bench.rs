//! Benchmark: latency of `POST /v1/groups/{name}/subsets` until ready (the 201), on the
//! leaf-spine OVS fabric (2 spines, 4 leaves, 2 hosts per leaf) with the real tsmd in this
//! process, and in the same run the raw floor: the same messages (per switch: ALL group add,
//! barrier, flow add, barrier) sent by a minimal OpenFlow client over persistent connections
//! to the same bridges, timed until every switch's last barrier reply is back.
//!
//! Every subset has 3 members on 3 different leaves; the floor writes to the same switches
//! tsmd wrote to for the same request, with the tree's ports through spine s1. Each is removed after its measurement (not timed), so the tables stay at steady state.
//!
//! Run (root, Open vSwitch installed): `cargo run --release -p tsm-tests --bin e2e_bench
//! [-- REQUESTS]` (default 1000). Prints p50, p90, p99, max for both and the p50 ratio.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use controller::rules::{group_add, group_delete, Rule};
use openflow::{Body, Framer, GroupId, Hello, Message, PortNo, Xid};
use tsm_tests::e2e::{E2e, E2eError, E2eResult, Rng};
use tsm_tests::{Topology, TopologySpec};

const WARMUP: usize = 20;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn report(what: &str, lat: &mut [Duration]) -> Duration {
    lat.sort_unstable();
    let n = lat.len().max(1) as u32;
    let p50 = percentile(lat, 0.50);
    println!(
        "{what}: n={}  p50 {:?}  p90 {:?}  p99 {:?}  max {:?}  mean {:?}",
        lat.len(),
        p50,
        percentile(lat, 0.90),
        percentile(lat, 0.99),
        lat.last().copied().unwrap_or_default(),
        lat.iter().sum::<Duration>() / n
    );
    p50
}

fn bad(what: impl Into<String>) -> E2eError {
    E2eError::Invalid(what.into())
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> E2eError + '_ {
    move |source| E2eError::Io {
        what: what.to_owned(),
        source,
    }
}

/// Three hosts on three different leaves, chosen at random.
fn pick(rng: &mut Rng, leaves: &[Vec<String>]) -> Vec<String> {
    let picked = rng.choose(leaves, 3);
    picked.iter().map(|l| rng.pick(l).clone()).collect()
}

/// Phase 1: tsmd, POST until 201.
fn tsmd_phase(
    e: &E2e,
    requests: usize,
    leaves: &[Vec<String>],
) -> E2eResult<(Vec<Duration>, Vec<Vec<u64>>)> {
    let mut rng = Rng::new(1);
    let mut lat = Vec::with_capacity(requests);
    let mut switches = 0usize;
    let mut spans = Vec::with_capacity(requests + WARMUP);
    for i in 0..requests + WARMUP {
        let chosen = pick(&mut rng, leaves);
        let refs: Vec<&str> = chosen.iter().map(String::as_str).collect();
        let t = Instant::now();
        let s = e
            .create_subset("bench", &refs, 60_000)?
            .map_err(E2eError::Api)?;
        let took = t.elapsed();
        if i >= WARMUP {
            lat.push(took);
            switches += s.switches.len();
        }
        spans.push(s.switches.iter().map(|d| d.0).collect());
        e.delete_subset(s.address)?;
    }
    println!(
        "tsmd subsets span {:.2} switches on average",
        switches as f64 / requests.max(1) as f64
    );
    Ok((lat, spans))
}

/// One switch connection of the minimal client.
struct OfConn {
    stream: TcpStream,
    framer: Framer,
    dpid: u64,
}

impl OfConn {
    /// Accepts a switch: hello, features; answers echo.
    fn accept(listener: &TcpListener) -> E2eResult<OfConn> {
        let (stream, _) = listener.accept().map_err(io("accepting a switch"))?;
        stream.set_nodelay(true).map_err(io("TCP_NODELAY"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(io("read timeout"))?;
        let mut c = OfConn {
            stream,
            framer: Framer::new(),
            dpid: 0,
        };
        c.send(&[
            Message::new(Xid(1), Body::Hello(Hello::ofp13())),
            Message::features_request(Xid(2)),
        ])?;
        loop {
            let m = c.next()?;
            if let Body::FeaturesReply(f) = m.body {
                c.dpid = f.datapath_id.0;
                return Ok(c);
            }
        }
    }

    fn send(&mut self, msgs: &[Message]) -> E2eResult<()> {
        let mut buf = Vec::new();
        for m in msgs {
            m.encode_into(&mut buf)
                .map_err(|e| bad(format!("encoding: {e}")))?;
        }
        self.stream.write_all(&buf).map_err(io("writing"))
    }

    fn next(&mut self) -> E2eResult<Message> {
        let mut buf = [0u8; 65536];
        loop {
            if let Some(r) = self.framer.next_message() {
                let m = r.map_err(|e| bad(format!("framing: {e}")))?;
                if let Some(reply) = m.echo_reply_to() {
                    self.send(&[reply])?;
                    continue;
                }
                return Ok(m);
            }
            let n = self.stream.read(&mut buf).map_err(io("reading"))?;
            if n == 0 {
                return Err(bad(format!("switch {} closed the connection", self.dpid)));
            }
            self.framer.extend(&buf[..n]);
        }
    }

    /// Reads until the barrier reply `xid`; an OFPT_ERROR fails.
    fn wait_barrier(&mut self, xid: Xid) -> E2eResult<()> {
        loop {
            let m = self.next()?;
            match m.body {
                Body::BarrierReply if m.xid == xid => return Ok(()),
                Body::Error(e) => return Err(bad(format!("switch {}: {e:?}", self.dpid))),
                _ => {}
            }
        }
    }
}

/// The output ports of a subset's tree through spine `s1`: `dpid -> ports`.
fn tree_ports(topo: &Topology, members: &[String]) -> E2eResult<BTreeMap<u64, Vec<PortNo>>> {
    let mut out: BTreeMap<u64, Vec<PortNo>> = BTreeMap::new();
    let spine = 1u64;
    for m in members {
        let h = topo.host(m)?;
        let leaf = h.attach.dpid;
        let link = topo
            .links
            .iter()
            .find(|l| {
                (l.a.dpid == leaf && l.b.dpid == spine) || (l.b.dpid == leaf && l.a.dpid == spine)
            })
            .ok_or_else(|| bad(format!("no link s{leaf}-s{spine}")))?;
        let (leaf_end, spine_end) = if link.a.dpid == leaf {
            (&link.a, &link.b)
        } else {
            (&link.b, &link.a)
        };
        let l = out.entry(leaf).or_default();
        l.push(PortNo(h.attach.port));
        l.push(PortNo(leaf_end.port));
        out.entry(spine).or_default().push(PortNo(spine_end.port));
    }
    Ok(out)
}

/// Phase 2: the minimal client. The bridges are pointed at it (tsmd stopped first).
fn floor_phase(
    e: &E2e,
    requests: usize,
    leaves: &[Vec<String>],
    spans: &[Vec<u64>],
) -> E2eResult<Vec<Duration>> {
    let listener = e.fabric.listen_tcp(0)?;
    let port = listener
        .local_addr()
        .map_err(io("listener address"))?
        .port();
    e.fabric
        .set_controller(Some(&format!("tcp:127.0.0.1:{port}")))?;
    let mut conns: BTreeMap<u64, OfConn> = BTreeMap::new();
    while conns.len() < e.fabric.topology().switches.len() {
        let c = OfConn::accept(&listener)?;
        conns.insert(c.dpid, c);
    }
    let topo = e.fabric.topology();
    let dst: IpAddr = "239.192.255.1".parse().map_err(|_| bad("address"))?;
    let group = GroupId(1);
    let mut rng = Rng::new(1);
    let mut xid = 100u32;
    let mut lat = Vec::with_capacity(requests);
    for i in 0..requests + WARMUP {
        let chosen = pick(&mut rng, leaves);
        let mut ports = tree_ports(topo, &chosen)?;
        // The same switches tsmd wrote to for this request (its tree spans every switch a
        // sender may be on); a switch without members forwards on one port.
        for dpid in spans.get(i).into_iter().flatten() {
            ports.entry(*dpid).or_insert_with(|| vec![PortNo(1)]);
        }
        let rule = Rule::new(dst, i as u64 + 1, Duration::from_secs(60))
            .map_err(|e| bad(e.to_string()))?;
        let t = Instant::now();
        let mut waits = Vec::new();
        for (dpid, ports) in &ports {
            let c = conns
                .get_mut(dpid)
                .ok_or_else(|| bad(format!("no connection to {dpid}")))?;
            let msgs = [
                Message::new(Xid(xid), Body::GroupMod(group_add(group, ports))),
                Message::barrier_request(Xid(xid + 1)),
                Message::new(Xid(xid + 2), Body::FlowMod(rule.flow_add(group))),
                Message::barrier_request(Xid(xid + 3)),
            ];
            c.send(&msgs)?;
            waits.push((*dpid, Xid(xid + 1), Xid(xid + 3)));
            xid += 4;
        }
        for (dpid, b1, b2) in &waits {
            let c = conns
                .get_mut(dpid)
                .ok_or_else(|| bad(format!("no connection to {dpid}")))?;
            c.wait_barrier(*b1)?;
            c.wait_barrier(*b2)?;
        }
        let took = t.elapsed();
        if i >= WARMUP {
            lat.push(took);
        }
        // Remove it again (not timed).
        let mut waits = Vec::new();
        for dpid in ports.keys() {
            let c = conns
                .get_mut(dpid)
                .ok_or_else(|| bad(format!("no connection to {dpid}")))?;
            c.send(&[
                Message::new(Xid(xid), Body::FlowMod(rule.flow_delete())),
                Message::barrier_request(Xid(xid + 1)),
                Message::new(Xid(xid + 2), Body::GroupMod(group_delete(group))),
                Message::barrier_request(Xid(xid + 3)),
            ])?;
            waits.push((*dpid, Xid(xid + 3)));
            xid += 4;
        }
        for (dpid, b) in &waits {
            let c = conns
                .get_mut(dpid)
                .ok_or_else(|| bad(format!("no connection to {dpid}")))?;
            c.wait_barrier(*b)?;
        }
    }
    Ok(lat)
}

fn run(requests: usize) -> E2eResult<()> {
    let spec = TopologySpec::leaf_spine(2, 4, 2);
    let mut e = E2e::new(&spec, |_| {})?;
    let topo = e.fabric.topology();
    let hosts: Vec<String> = topo.host_names().into_iter().map(str::to_owned).collect();
    let refs: Vec<&str> = hosts.iter().map(String::as_str).collect();
    e.put_group(
        "bench",
        "239.1.1.1".parse().map_err(|_| bad("group"))?,
        &refs,
    )?;
    let mut by_leaf: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for h in &topo.hosts {
        by_leaf
            .entry(h.attach.dpid)
            .or_default()
            .push(h.name.clone());
    }
    let leaves: Vec<Vec<String>> = by_leaf.into_values().collect();

    let (mut tsmd, spans) = tsmd_phase(&e, requests, &leaves)?;
    e.tsmd.stop()?;
    let mut floor = floor_phase(&e, requests, &leaves, &spans)?;
    let t50 = report("tsmd POST /v1/groups/bench/subsets until 201", &mut tsmd);
    let f50 = report(
        "floor: group+barrier+flow+barrier to the same switches",
        &mut floor,
    );
    println!(
        "ratio p50 tsmd / floor: {:.2} (target <= 2); tsmd p99 {:?} (target <= 1 ms)",
        t50.as_secs_f64() / f50.as_secs_f64().max(1e-9),
        percentile(&tsmd, 0.99)
    );
    Ok(())
}

fn main() -> ExitCode {
    if let Err(e) = tsm_tests::check_environment() {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    let requests = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    match run(requests) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("e2e_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
