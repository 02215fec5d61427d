//! Benchmark: latency of `POST /v1/groups/{name}/subsets` until ready (the 201), on the
//! leaf-spine OVS fabric (2 spines, 4 leaves, 2 hosts per leaf) with the real tsmd in this
//! process, against the raw floor measured in the same run: the same messages (per switch: ALL
//! group add, barrier, flow add, barrier) sent by a minimal OpenFlow client over persistent
//! connections to the same bridges, timed until every switch's last barrier reply is back.
//!
//! Every subset has 3 members on 3 different leaves. tsmd and the floor alternate request by
//! request, so both see the same machine load: the bridges get the floor client as a second
//! controller (OpenFlow "equal" role), and for every request the floor writes to exactly the
//! switches tsmd wrote to, with the same bucket counts (the member leaves: host port and
//! uplink; the root spine: one downlink per member leaf; a leaf holding senders only: its
//! uplink). Each subset is removed after its measurement (not timed), so the tables stay at
//! steady state, and the next measurement starts once Open vSwitch has reported the removal
//! on every switch (FLOW_REMOVED, which it sends to both controllers when it is done with it):
//! neither side's install shares the switch with the other's removal. `GET /healthz` (HTTP
//! plus one round trip through the core task) is timed too, as the share of the API in tsmd's
//! figure, and so is tsmd's time beyond the floor's in the same round.
//!
//! Each round POSTs the same subset twice, through two clients on this thread: the typed
//! `api::Client` (reqwest, on its own single-threaded runtime, as the agent uses it) and a
//! minimal blocking HTTP/1.1 client over one persistent connection (the API's counterpart of
//! the floor's minimal OpenFlow client: the same JSON body and `Idempotency-Key`, so tsmd does
//! the same work). The targets are judged on the minimal client, which measures tsmd rather
//! than a client library; the typed client's figures are printed beside them. The daemon's
//! threads serve only the daemon. Discovery runs with the daemon's default LLDP interval
//! (5 s), as deployed.
//!
//! The floor blocks on one switch at a time (in dpid order) until its last barrier reply, so
//! the replies of the other switches do not wake it; `--floor-poll` makes it wait on every
//! switch at once with poll(2) and read each reply as it comes, as a controller that serves
//! many switches must (and tsmd does). The difference between the two floors is what that
//! reading costs on the switch side. The CPU time each thread used per round is printed too.
//!
//! Run (root, Open vSwitch installed): `cargo run --release -p tsm-tests --bin e2e_bench
//! [-- REQUESTS] [--floor-poll]` (default 1000). Prints p50, p90, p99, max for each, the p50
//! ratio and whether the targets (p50 <= 2x floor, p99 <= 1 ms) are met.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use api::GroupName;
use controller::rules::{group_add, group_delete, Rule};
use openflow::{Body, Framer, GroupId, Hello, Message, PortNo, Xid};
use tsm_tests::e2e::{E2e, E2eError, E2eResult, Rng};
use tsm_tests::{Topology, TopologySpec};

const WARMUP: usize = 20;
/// The floor's group id and addresses: outside what tsmd allocates (ids from 1, addresses
/// from its 239.192.0.0/16 pool).
const FLOOR_GROUP: GroupId = GroupId(0x7f00_0001);
const FLOOR_COOKIE: u64 = 0x666c_6f6f_7200_0000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn report(what: &str, lat: &mut [Duration]) -> (Duration, Duration) {
    lat.sort_unstable();
    let n = lat.len().max(1) as u32;
    let (p50, p99) = (percentile(lat, 0.50), percentile(lat, 0.99));
    println!(
        "{what}: n={}  p50 {:?}  p90 {:?}  p99 {:?}  max {:?}  mean {:?}",
        lat.len(),
        p50,
        percentile(lat, 0.90),
        p99,
        lat.last().copied().unwrap_or_default(),
        lat.iter().sum::<Duration>() / n
    );
    (p50, p99)
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

/// The API client on its own single-threaded runtime in this thread.
struct Agent {
    rt: tokio::runtime::Runtime,
    client: api::Client,
    group: GroupName,
}

impl Agent {
    fn new(e: &E2e, group: &str) -> E2eResult<Agent> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(io("building the client runtime"))?;
        let client = api::Client::new(&e.tsmd.handle()?.base_url())?;
        let group = group.parse().map_err(|_| bad("group name"))?;
        Ok(Agent { rt, client, group })
    }

    fn create(&self, members: Vec<IpAddr>) -> E2eResult<api::Subset> {
        let req = api::SubsetRequest {
            members,
            lease_ms: 60_000,
        };
        Ok(self
            .rt
            .block_on(self.client.create_subset(&self.group, &req))?)
    }

    fn delete(&self, addr: IpAddr) -> E2eResult<()> {
        Ok(self.rt.block_on(self.client.delete_subset(addr))?)
    }

    fn health(&self) -> E2eResult<()> {
        self.rt.block_on(self.client.healthz())?;
        Ok(())
    }
}

/// A minimal blocking HTTP/1.1 client over one persistent connection: the API's side of
/// the measurement without a client library, as the floor is OpenFlow without a controller.
/// It sends what the typed client sends (JSON body, an `Idempotency-Key`), so tsmd does the
/// same work either way.
struct RawHttp {
    stream: TcpStream,
    host: String,
    buf: Vec<u8>,
    keys: u64,
}

impl RawHttp {
    fn connect(e: &E2e) -> E2eResult<RawHttp> {
        let addr = e.tsmd.handle()?.http_addr();
        let stream = TcpStream::connect(addr).map_err(io("connecting to the API"))?;
        stream.set_nodelay(true).map_err(io("TCP_NODELAY"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(io("read timeout"))?;
        Ok(RawHttp {
            stream,
            host: addr.to_string(),
            buf: Vec::with_capacity(4096),
            keys: 0,
        })
    }

    /// One request; the status and the body of the answer.
    fn request(&mut self, method: &str, path: &str, body: &[u8]) -> E2eResult<(u16, Vec<u8>)> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nhost: {}\r\n", self.host);
        if method == "POST" {
            self.keys += 1;
            req.push_str(&format!(
                "content-type: application/json\r\nidempotency-key: raw-{}-{}\r\n",
                std::process::id(),
                self.keys
            ));
        }
        req.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
        let mut out = req.into_bytes();
        out.extend_from_slice(body);
        self.stream
            .write_all(&out)
            .map_err(io("writing a request"))?;
        self.buf.clear();
        let end = loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            self.read_more()?;
        };
        let head = String::from_utf8_lossy(self.buf.get(..end).unwrap_or_default()).into_owned();
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("bad status line in {head:?}")))?;
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .ok_or_else(|| bad(format!("no content-length in {head:?}")))?;
        let start = end + 4;
        while self.buf.len() < start + len {
            self.read_more()?;
        }
        let body = self
            .buf
            .get(start..start + len)
            .unwrap_or_default()
            .to_vec();
        Ok((status, body))
    }

    /// One read from the connection, appended to the buffer.
    fn read_more(&mut self) -> E2eResult<()> {
        let mut chunk = [0u8; 4096];
        let n = self
            .stream
            .read(&mut chunk)
            .map_err(io("reading an answer"))?;
        if n == 0 {
            return Err(bad("the API closed the connection"));
        }
        self.buf
            .extend_from_slice(chunk.get(..n).unwrap_or_default());
        Ok(())
    }

    fn create(&mut self, members: &[IpAddr]) -> E2eResult<api::Subset> {
        let body = serde_json::to_vec(&api::SubsetRequest {
            members: members.to_vec(),
            lease_ms: 60_000,
        })
        .map_err(|e| bad(format!("encoding a request: {e}")))?;
        let (status, answer) = self.request("POST", "/v1/groups/bench/subsets", &body)?;
        if status != 201 {
            return Err(bad(format!(
                "POST subsets: {status} {}",
                String::from_utf8_lossy(&answer)
            )));
        }
        serde_json::from_slice(&answer).map_err(|e| bad(format!("decoding a subset: {e}")))
    }

    fn health(&mut self) -> E2eResult<()> {
        match self.request("GET", "/healthz", b"")? {
            (200, _) => Ok(()),
            (s, b) => Err(bad(format!("healthz: {s} {}", String::from_utf8_lossy(&b)))),
        }
    }
}

/// One switch connection of the minimal client.
struct OfConn {
    stream: TcpStream,
    framer: Framer,
    buf: Vec<u8>,
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
            buf: vec![0; 64 * 1024],
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

    /// Writes `msgs` in one write.
    fn send(&mut self, msgs: &[Message]) -> E2eResult<()> {
        let mut out = Vec::new();
        for m in msgs {
            m.encode_into(&mut out)
                .map_err(|e| bad(format!("encoding: {e}")))?;
        }
        self.stream.write_all(&out).map_err(io("writing"))
    }

    fn next(&mut self) -> E2eResult<Message> {
        loop {
            if let Some(r) = self.framer.next_message() {
                let m = r.map_err(|e| bad(format!("framing: {e}")))?;
                if let Some(reply) = m.echo_reply_to() {
                    self.send(&[reply])?;
                    continue;
                }
                return Ok(m);
            }
            let n = self.stream.read(&mut self.buf).map_err(io("reading"))?;
            if n == 0 {
                return Err(bad(format!("switch {} closed the connection", self.dpid)));
            }
            self.framer.extend(self.buf.get(..n).unwrap_or_default());
        }
    }

    /// One read (the socket is readable) and every message it completes; whether the barrier
    /// reply `xid` was among them. An OFPT_ERROR fails.
    fn pump(&mut self, xid: Xid) -> E2eResult<bool> {
        let n = self.stream.read(&mut self.buf).map_err(io("reading"))?;
        if n == 0 {
            return Err(bad(format!("switch {} closed the connection", self.dpid)));
        }
        self.framer.extend(self.buf.get(..n).unwrap_or_default());
        let mut seen = false;
        while let Some(r) = self.framer.next_message() {
            let m = r.map_err(|e| bad(format!("framing: {e}")))?;
            match m.body {
                Body::BarrierReply if m.xid == xid => seen = true,
                Body::Error(e) => return Err(bad(format!("switch {}: {e:?}", self.dpid))),
                Body::EchoRequest(_) => {
                    if let Some(reply) = m.echo_reply_to() {
                        self.send(&[reply])?;
                    }
                }
                _ => {}
            }
        }
        Ok(seen)
    }

    /// Reads until OVS reports the flow with `cookie` removed, or `within` passes (then
    /// `false`).
    fn wait_removed(&mut self, cookie: u64, within: Duration) -> E2eResult<bool> {
        let deadline = Instant::now() + within;
        let r = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Ok(false);
            }
            self.stream
                .set_read_timeout(Some(left))
                .map_err(io("read timeout"))?;
            match self.next() {
                Ok(m) => match m.body {
                    Body::FlowRemoved(fr) if fr.cookie.0 == cookie => break Ok(true),
                    _ => {}
                },
                Err(E2eError::Io { source, .. })
                    if matches!(
                        source.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break Ok(false)
                }
                Err(e) => break Err(e),
            }
        };
        self.stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(io("read timeout"))?;
        r
    }

    /// Reads until the barrier reply `xid` (packet-ins and flow-removed messages meant for
    /// every controller are skipped); an OFPT_ERROR fails.
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

/// The minimal client: one persistent connection per bridge.
struct Floor {
    conns: BTreeMap<u64, OfConn>,
    xid: u32,
    /// Wait for the replies with poll(2) over every switch (`--floor-poll`).
    poll: bool,
    /// Removals not reported by FLOW_REMOVED within a second (expected: none).
    unsettled: usize,
}

impl Floor {
    /// Adds a controller of ours to every bridge (tsmd stays connected) and accepts them.
    fn connect(e: &E2e, poll: bool) -> E2eResult<Floor> {
        let listener = e.fabric.listen_tcp(0)?;
        let port = listener
            .local_addr()
            .map_err(io("listener address"))?
            .port();
        let mut vsctl = e.fabric.vsctl();
        vsctl.arg("--timeout=20");
        for (i, s) in e.fabric.topology().switches.iter().enumerate() {
            vsctl.args([
                "--".to_owned(),
                format!("--id=@floor{i}"),
                "create".to_owned(),
                "Controller".to_owned(),
                format!("target=\"tcp:127.0.0.1:{port}\""),
                "--".to_owned(),
                "add".to_owned(),
                "Bridge".to_owned(),
                s.name.clone(),
                "controller".to_owned(),
                format!("@floor{i}"),
            ]);
        }
        let out = vsctl.output().map_err(io("ovs-vsctl"))?;
        if !out.status.success() {
            return Err(bad(format!(
                "ovs-vsctl adding the floor controller: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let mut conns = BTreeMap::new();
        while conns.len() < e.fabric.topology().switches.len() {
            let c = OfConn::accept(&listener)?;
            conns.insert(c.dpid, c);
        }
        Ok(Floor {
            conns,
            xid: 100,
            poll,
            unsettled: 0,
        })
    }

    /// Sends `per_switch(dpid, xid)` to every switch in `ports` (one write each, all writes
    /// before the first read), then waits for each one's last barrier.
    fn round(
        &mut self,
        ports: &BTreeMap<u64, Vec<PortNo>>,
        per_switch: impl Fn(&[PortNo], u32) -> [Message; 4],
    ) -> E2eResult<()> {
        let mut waits = Vec::with_capacity(ports.len());
        for (dpid, p) in ports {
            let c = self
                .conns
                .get_mut(dpid)
                .ok_or_else(|| bad(format!("no connection to {dpid}")))?;
            c.send(&per_switch(p, self.xid))?;
            waits.push((*dpid, Xid(self.xid + 3)));
            self.xid += 4;
        }
        if self.poll {
            return self.wait_any(waits);
        }
        for (dpid, last) in waits {
            if let Some(c) = self.conns.get_mut(&dpid) {
                c.wait_barrier(last)?;
            }
        }
        Ok(())
    }

    /// Waits for every `(switch, barrier xid)` with poll(2) over all of them, reading each
    /// switch's messages as they come (as an event-driven controller does), instead of
    /// blocking on one switch at a time.
    fn wait_any(&mut self, mut pending: Vec<(u64, Xid)>) -> E2eResult<()> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        while !pending.is_empty() {
            let readable: Vec<bool> = {
                let mut fds = Vec::with_capacity(pending.len());
                for (d, _) in &pending {
                    let c = self
                        .conns
                        .get(d)
                        .ok_or_else(|| bad(format!("no connection to {d}")))?;
                    fds.push(PollFd::new(c.stream.as_fd(), PollFlags::POLLIN));
                }
                let n = poll(&mut fds, PollTimeout::from(5000u16))
                    .map_err(|e| bad(format!("poll: {e}")))?;
                if n == 0 {
                    return Err(bad("no barrier reply within 5 s"));
                }
                fds.iter()
                    .map(|f| f.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
                    .collect()
            };
            let mut done = Vec::new();
            for ((d, xid), ready) in pending.iter().zip(readable) {
                if let (true, Some(c)) = (ready, self.conns.get_mut(d)) {
                    if c.pump(*xid)? {
                        done.push(*d);
                    }
                }
            }
            pending.retain(|(d, _)| !done.contains(d));
        }
        Ok(())
    }

    /// Waits until every switch of `switches` has reported the flow with `cookie` removed:
    /// Open vSwitch sends FLOW_REMOVED (to every controller) once it has finished with the
    /// removal, so the next measured install does not share the switch with its tail. Returns
    /// how many switches did not report it within a second.
    fn settle(&mut self, switches: impl IntoIterator<Item = u64>, cookie: u64) -> E2eResult<usize> {
        let mut missing = 0;
        for d in switches {
            if let Some(c) = self.conns.get_mut(&d) {
                if !c.wait_removed(cookie, Duration::from_secs(1))? {
                    missing += 1;
                }
            }
        }
        Ok(missing)
    }

    /// Installs a subset the raw way (timed), then removes it (not timed) and waits until
    /// the removal has settled.
    fn install(&mut self, ports: &BTreeMap<u64, Vec<PortNo>>, n: u64) -> E2eResult<Duration> {
        let dst = IpAddr::V4(Ipv4Addr::new(239, 193, 255, 1));
        let rule = Rule::new(dst, FLOOR_COOKIE | n, Duration::from_secs(60))
            .map_err(|e| bad(e.to_string()))?;
        let t = Instant::now();
        self.round(ports, |p, x| {
            [
                Message::new(Xid(x), Body::GroupMod(group_add(FLOOR_GROUP, p))),
                Message::barrier_request(Xid(x + 1)),
                Message::new(Xid(x + 2), Body::FlowMod(rule.flow_add(FLOOR_GROUP))),
                Message::barrier_request(Xid(x + 3)),
            ]
        })?;
        let took = t.elapsed();
        self.round(ports, |_, x| {
            [
                Message::new(Xid(x), Body::FlowMod(rule.flow_delete())),
                Message::barrier_request(Xid(x + 1)),
                Message::new(Xid(x + 2), Body::GroupMod(group_delete(FLOOR_GROUP))),
                Message::barrier_request(Xid(x + 3)),
            ]
        })?;
        self.unsettled += self.settle(ports.keys().copied(), FLOOR_COOKIE | n)?;
        Ok(took)
    }
}

/// The port on switch `from` of the link to switch `to`.
fn port_toward(topo: &Topology, from: u64, to: u64) -> Option<PortNo> {
    topo.links.iter().find_map(|l| {
        if l.a.dpid == from && l.b.dpid == to {
            Some(PortNo(l.a.port))
        } else if l.b.dpid == from && l.a.dpid == to {
            Some(PortNo(l.b.port))
        } else {
            None
        }
    })
}

/// The buckets tsmd gives a subset of `members` on `switches`: its one spine is the root;
/// a member leaf sends to its member and up, the root down to each member leaf, any other
/// leaf (senders only) up.
fn floor_ports(
    topo: &Topology,
    members: &[String],
    switches: &[u64],
) -> E2eResult<BTreeMap<u64, Vec<PortNo>>> {
    let is_leaf = |d: u64| topo.hosts.iter().any(|h| h.attach.dpid == d);
    let root = switches
        .iter()
        .copied()
        .find(|d| !is_leaf(*d))
        .ok_or_else(|| bad(format!("no spine among {switches:?}")))?;
    let mut out: BTreeMap<u64, Vec<PortNo>> = BTreeMap::new();
    for m in members {
        let h = topo.host(m)?;
        let leaf = h.attach.dpid;
        let up = port_toward(topo, leaf, root).ok_or_else(|| bad("no uplink"))?;
        let down = port_toward(topo, root, leaf).ok_or_else(|| bad("no downlink"))?;
        out.entry(leaf)
            .or_default()
            .extend([PortNo(h.attach.port), up]);
        out.entry(root).or_default().push(down);
    }
    for d in switches {
        if !out.contains_key(d) {
            let up = port_toward(topo, *d, root).unwrap_or(PortNo(1));
            out.insert(*d, vec![up]);
        }
    }
    for p in out.values_mut() {
        p.sort_unstable();
        p.dedup();
    }
    if out.keys().ne(switches.iter()) {
        return Err(bad(format!(
            "floor switches {:?} differ from tsmd's {switches:?}",
            out.keys().collect::<Vec<_>>()
        )));
    }
    Ok(out)
}

/// CPU time so far (ns) of each thread of process `pid`, summed by thread name (Linux
/// `/proc/PID/task/*/schedstat`, first field). Threads that ended are not counted.
fn cpu_by_thread(pid: u32) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let p = t.path();
        let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
        let ns = std::fs::read_to_string(p.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0);
        *out.entry(comm.trim().to_owned()).or_default() += ns;
    }
    out
}

/// CPU used between two [`cpu_by_thread`] readings, per round, in µs, largest first.
fn cpu_per_round(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
    rounds: usize,
) -> String {
    let mut used: Vec<(u64, &str)> = after
        .iter()
        .map(|(k, v)| {
            (
                v.saturating_sub(before.get(k).copied().unwrap_or(0)),
                k.as_str(),
            )
        })
        .filter(|(d, _)| *d > 0)
        .collect();
    used.sort_unstable_by(|a, b| b.cmp(a));
    used.iter()
        .map(|(d, k)| format!("{k} {:.0}", *d as f64 / 1e3 / rounds.max(1) as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

struct Figures {
    tsmd: Vec<Duration>,
    raw: Vec<Duration>,
    floor: Vec<Duration>,
    health: Vec<Duration>,
    raw_health: Vec<Duration>,
    switches: usize,
    unsettled: usize,
}

/// tsmd and the floor, alternating request by request.
fn measure(e: &E2e, requests: usize, leaves: &[Vec<String>], poll: bool) -> E2eResult<Figures> {
    let agent = Agent::new(e, "bench")?;
    let mut http = RawHttp::connect(e)?;
    let mut floor = Floor::connect(e, poll)?;
    let topo = e.fabric.topology();
    let mut rng = Rng::new(1);
    let mut f = Figures {
        tsmd: Vec::with_capacity(requests),
        raw: Vec::with_capacity(requests),
        floor: Vec::with_capacity(requests),
        health: Vec::with_capacity(requests),
        raw_health: Vec::with_capacity(requests),
        switches: 0,
        unsettled: 0,
    };
    for i in 0..requests + WARMUP {
        let chosen = pick(&mut rng, leaves);
        let ips = chosen
            .iter()
            .map(|h| e.ip(h))
            .collect::<E2eResult<Vec<_>>>()?;

        // The two clients take turns going first, so neither always follows the floor's
        // install (whose tail Open vSwitch is still working off).
        let api_first = i % 2 == 0;
        let mut spans: Vec<u64> = Vec::new();
        let (mut took, mut took_raw) = (Duration::ZERO, Duration::ZERO);
        for step in 0..2 {
            if (step == 0) == api_first {
                let t = Instant::now();
                let s = agent.create(ips.clone())?;
                took = t.elapsed();
                agent.delete(s.address)?;
                spans = s.switches.iter().map(|d| d.0).collect();
                // The floor's connections see tsmd's FLOW_REMOVED too (equal role).
                floor.unsettled += floor.settle(spans.iter().copied(), s.trace_id.get())?;
            } else {
                let t = Instant::now();
                let s = http.create(&ips)?;
                took_raw = t.elapsed();
                agent.delete(s.address)?;
                floor.unsettled +=
                    floor.settle(s.switches.iter().map(|d| d.0), s.trace_id.get())?;
            }
        }

        let ports = floor_ports(topo, &chosen, &spans)?;
        let raw = floor.install(&ports, i as u64)?;

        let (mut health, mut raw_health) = (Duration::ZERO, Duration::ZERO);
        for step in 0..2 {
            let t = Instant::now();
            if (step == 0) == api_first {
                agent.health()?;
                health = t.elapsed();
            } else {
                http.health()?;
                raw_health = t.elapsed();
            }
        }
        if i >= WARMUP {
            f.tsmd.push(took);
            f.raw.push(took_raw);
            f.floor.push(raw);
            f.health.push(health);
            f.raw_health.push(raw_health);
            f.switches += spans.len();
        }
    }
    f.unsettled = floor.unsettled;
    Ok(f)
}

fn run(requests: usize, poll: bool) -> E2eResult<bool> {
    let spec = TopologySpec::leaf_spine(2, 4, 2);
    let mut e = E2e::new(&spec, |s| {
        // As deployed: LLDP rounds every 5 s, not the tests' fast discovery.
        let d = controller::daemon::Settings::default();
        s.lldp_interval = d.lldp_interval;
        s.link_timeout = d.link_timeout;
    })?;
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

    let pids: Vec<u32> = std::iter::once(std::process::id())
        .chain(e.fabric.daemon_pids())
        .collect();
    let before: Vec<_> = pids.iter().map(|p| cpu_by_thread(*p)).collect();
    let mut f = measure(&e, requests, &leaves, poll)?;
    let after: Vec<_> = pids.iter().map(|p| cpu_by_thread(*p)).collect();
    e.tsmd.stop()?;
    // Per round, what tsmd took beyond the floor (the same switches, the same moment).
    let mut excess: Vec<Duration> = f
        .tsmd
        .iter()
        .zip(&f.floor)
        .map(|(t, fl)| t.saturating_sub(*fl))
        .collect();
    println!(
        "{requests} subsets of 3 members on 3 leaves, {:.2} switches each (tsmd and floor alternating)",
        f.switches as f64 / requests.max(1) as f64
    );
    if f.unsettled > 0 {
        println!(
            "note: {} removals were not confirmed by FLOW_REMOVED within 1 s",
            f.unsettled
        );
    }
    let (t50, t99) = report(
        "tsmd POST /v1/groups/bench/subsets until 201 (api::Client)",
        &mut f.tsmd,
    );
    let (r50, r99) = report(
        "tsmd POST /v1/groups/bench/subsets until 201 (minimal HTTP client)",
        &mut f.raw,
    );
    let (f50, _) = report(
        if poll {
            "floor (poll on every switch): group+barrier+flow+barrier to the same switches"
        } else {
            "floor: group+barrier+flow+barrier to the same switches"
        },
        &mut f.floor,
    );
    report("GET /healthz (api::Client)", &mut f.health);
    report("GET /healthz (minimal HTTP client)", &mut f.raw_health);
    report("tsmd (api::Client) minus floor, same round", &mut excess);
    // A round: two POSTs and DELETEs, two GET /healthz, the floor's install and removal.
    let rounds = requests + WARMUP;
    println!(
        "CPU per round (µs): this process: {}; Open vSwitch: {}",
        cpu_per_round(&before[0], &after[0], rounds),
        before
            .iter()
            .zip(&after)
            .skip(1)
            .map(|(b, a)| cpu_per_round(b, a, rounds))
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    );
    let verdict = |client: &str, p50: Duration, p99: Duration| {
        let ratio = p50.as_secs_f64() / f50.as_secs_f64().max(1e-9);
        let met = ratio <= 2.0 && p99 <= Duration::from_millis(1);
        println!(
            "{client}: ratio p50 tsmd / floor {ratio:.2} (target <= 2); p99 {p99:?} (target <= 1 ms); targets {}",
            if met { "met" } else { "NOT met" }
        );
        met
    };
    let met = verdict("minimal HTTP client", r50, r99);
    verdict("api::Client", t50, t99);
    Ok(met)
}

fn main() -> ExitCode {
    if let Err(e) = tsm_tests::check_environment() {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let poll = args.iter().any(|a| a == "--floor-poll");
    let requests = args.iter().find_map(|a| a.parse().ok()).unwrap_or(1000);
    match run(requests, poll) {
        // A missed target is a measurement, not a failure of the run.
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("e2e_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
