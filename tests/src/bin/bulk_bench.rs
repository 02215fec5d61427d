//! Benchmark: bulk install of a rendezvous plan into one Open vSwitch bridge (issue 5: "a
//! plan totalling 50,000 groups+flows into one OVS bridge, measured in the same run as a raw
//! pipelined client sending the same messages; target ≥ 90 % of the raw client's rate").
//!
//! One bridge with 8 hosts; group `bench` of all 8; plan k = 3 with enough copies for
//! 25,032 addresses (447 copies of C(8,3) = 56), so 25,032 group adds and 25,032 flow adds.
//! Every round runs both sides one after the other, so they see the same machine load (tsmd
//! first in odd rounds, the raw client first in even ones, so neither always meets the same
//! moment of Open vSwitch's slow spells):
//! 1. tsmd: `PUT /v1/groups/bench/rendezvous` until the core's `PlanChanged … Ready` event
//!    (every message covered by a barrier reply), timed from before the request; then DELETE
//!    and wait until the bridge's flows and groups are back at their baseline (untimed). The
//!    first round also times 2,000 claims over HTTP on loopback (each journaled before its
//!    answer).
//! 2. A minimal client on one persistent connection, a second (passive, `ptcp:`) controller
//!    target of the bridge, so OpenFlow over TCP like tsmd and next to it, sends the same kind
//!    and number of messages, encoded before the clock starts, and waits for its last barrier
//!    reply, twice: `AllAtOnce` (every group add, a barrier, every flow add, a barrier, in one
//!    write: 2 barriers) and `Windowed` (tsmd's cadence: a barrier every `BARRIER_EVERY`
//!    messages, at most `WINDOW` not covered by a barrier reply). It removes them (untimed)
//!    after each.
//!
//! Printed: each round's rates and tsmd's share of each raw rate; the medians; tsmd's median
//! against the faster raw median (the figure for the target); and the median of the per-round
//! ratios against the round's faster raw run; and each side's best round (the least disturbed
//! one) against the faster raw best. OpenFlow 1.3 has no bundles, so neither side
//! uses them. Run (root, Open vSwitch installed): `cargo build --release -p tsm-tests --bin
//! bulk_bench && target/release/bulk_bench [COPIES [ROUNDS]]` (447 copies, 9 rounds).

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use api::{ClaimRequest, GroupSpec, RendezvousRequest};
use controller::event::EventKind;
use controller::rank;
use controller::rendezvous::{flow_add, PlanStatus};
use controller::rules::group_add;
use openflow::msg::{FlowMod, GroupMod};
use openflow::{Body, Cookie, Framer, GroupId, Hello, Message, PortNo, Xid};
use tsm_tests::e2e::{group_name, E2e, E2eError, E2eResult};
use tsm_tests::TopologySpec;

/// The minimal client's flow cookie (not a plan cookie: tsmd leaves such flows alone).
const RAW_COOKIE: Cookie = Cookie(0x7261_7700_0000_0001);

fn bad(what: impl Into<String>) -> E2eError {
    E2eError::Invalid(what.into())
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> E2eError + '_ {
    move |source| E2eError::Io {
        what: what.to_owned(),
        source,
    }
}

/// The minimal client's connection to the bridge: OpenFlow over TCP, as tsmd's (a second,
/// passive controller target of the bridge).
struct Raw {
    stream: TcpStream,
    framer: Framer,
    rbuf: Vec<u8>,
}

impl Raw {
    fn connect(e: &E2e, port: u16) -> E2eResult<Raw> {
        // Inside the fabric's namespace, where the bridge listens.
        let stream = e
            .fabric
            .netns()
            .run(move || TcpStream::connect(("127.0.0.1", port)))?
            .map_err(io("connecting to the bridge"))?;
        stream.set_nodelay(true).map_err(io("TCP_NODELAY"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(io("read timeout"))?;
        let mut r = Raw {
            stream,
            framer: Framer::new(),
            rbuf: vec![0u8; 1 << 16],
        };
        r.write(&[
            Message::new(Xid(1), Body::Hello(Hello::ofp13())),
            Message::features_request(Xid(2)),
        ])?;
        loop {
            if let Body::FeaturesReply(_) = r.next()?.body {
                return Ok(r);
            }
        }
    }

    fn write(&mut self, msgs: &[Message]) -> E2eResult<()> {
        let mut buf = Vec::with_capacity(msgs.len() * 96);
        for m in msgs {
            m.encode_into(&mut buf)
                .map_err(|e| bad(format!("encoding: {e}")))?;
        }
        self.stream.write_all(&buf).map_err(io("writing"))
    }

    fn next(&mut self) -> E2eResult<Message> {
        loop {
            if let Some(r) = self.framer.next_message() {
                let m = r.map_err(|e| bad(format!("framing: {e}")))?;
                if let Some(reply) = m.echo_reply_to() {
                    self.write(&[reply])?;
                    continue;
                }
                return Ok(m);
            }
            let n = self.stream.read(&mut self.rbuf).map_err(io("reading"))?;
            if n == 0 {
                return Err(bad("the bridge closed the connection"));
            }
            self.framer.extend(self.rbuf.get(..n).unwrap_or_default());
        }
    }

    /// Removes the client's flows and every group (tsmd holds none between rounds).
    fn wipe(&mut self, xid: &mut u32) -> E2eResult<()> {
        let b = Xid(*xid + 2);
        self.write(&[
            Message::new(
                Xid(*xid),
                Body::FlowMod(FlowMod::delete_by_cookie(RAW_COOKIE)),
            ),
            Message::new(
                Xid(*xid + 1),
                Body::GroupMod(GroupMod::delete(GroupId::ALL)),
            ),
            Message::barrier_request(b),
        ])?;
        *xid += 3;
        self.wait_barrier(b)
    }

    fn wait_barrier(&mut self, xid: Xid) -> E2eResult<()> {
        loop {
            let m = self.next()?;
            match m.body {
                Body::BarrierReply if m.xid == xid => return Ok(()),
                Body::Error(e) => return Err(bad(format!("OFPT_ERROR: {e:?}"))),
                _ => {}
            }
        }
    }
}

/// The plan's messages as the minimal client sends them: (group adds, flow adds).
fn plan_messages(
    base: IpAddr,
    members_ports: &[PortNo],
    copies: u32,
) -> E2eResult<(Vec<Body>, Vec<Body>)> {
    let n = members_ports.len();
    let count = rank::subset_count(n, 3).map_err(|e| bad(e.to_string()))?;
    let mut groups = Vec::new();
    let mut flows = Vec::new();
    let cookie = RAW_COOKIE;
    let mut gid = 1u32;
    for c in 0..copies {
        for r in 0..count {
            let idx = rank::unrank(n, 3, r).map_err(|e| bad(e.to_string()))?;
            let mut ports: Vec<PortNo> = idx.iter().map(|i| members_ports[*i]).collect();
            ports.sort();
            let addr = rank::address(base, n, 3, c, r).map_err(|e| bad(e.to_string()))?;
            groups.push(Body::GroupMod(group_add(GroupId(gid), &ports)));
            flows.push(Body::FlowMod(flow_add(addr, GroupId(gid), cookie)));
            gid += 1;
        }
    }
    Ok((groups, flows))
}

/// How the minimal client paces itself.
#[derive(Clone, Copy, Debug)]
enum Pacing {
    /// Everything in one write: group adds, barrier, flow adds, barrier.
    AllAtOnce,
    /// As tsmd does: a barrier every `BARRIER_EVERY` messages, at most `WINDOW` messages not
    /// covered by a barrier reply.
    Windowed,
}

/// The minimal client's messages, encoded before any round is timed: one buffer per write,
/// each with its closing barrier's xid and how many mods it carries. The same bytes go out
/// every round (each round starts after the previous one's last barrier reply, so xids may
/// repeat across rounds).
struct Encoded {
    writes: Vec<(Vec<u8>, Xid, usize)>,
}

impl Encoded {
    /// `AllAtOnce`: one write. `Windowed`: chunks of `BARRIER_EVERY` messages each closed by
    /// a barrier, never across the phase boundary (tsmd's cadence).
    fn new(groups: &[Body], flows: &[Body], pacing: Pacing) -> E2eResult<Encoded> {
        use controller::rendezvous::BARRIER_EVERY;
        let per = match pacing {
            Pacing::AllAtOnce => usize::MAX,
            Pacing::Windowed => BARRIER_EVERY,
        };
        let mut xid = 1000u32;
        let mut writes: Vec<(Vec<u8>, Xid, usize)> = Vec::new();
        let mut buf = Vec::new();
        let mut mods = 0;
        for phase in [groups, flows] {
            for chunk in phase.chunks(per.min(phase.len().max(1))) {
                for body in chunk {
                    Message::new(Xid(xid), body.clone())
                        .encode_into(&mut buf)
                        .map_err(|e| bad(format!("encoding: {e}")))?;
                    xid += 1;
                }
                Message::barrier_request(Xid(xid))
                    .encode_into(&mut buf)
                    .map_err(|e| bad(format!("encoding: {e}")))?;
                mods += chunk.len();
                if let Pacing::Windowed = pacing {
                    writes.push((std::mem::take(&mut buf), Xid(xid), mods));
                    mods = 0;
                }
                xid += 1;
            }
        }
        if let Pacing::AllAtOnce = pacing {
            writes.push((buf, Xid(xid - 1), mods));
        }
        Ok(Encoded { writes })
    }
}

/// One timed run: writes each pre-encoded buffer, keeping at most `WINDOW` mods not covered
/// by a barrier reply, and waits for the last barrier reply.
fn raw_run(raw: &mut Raw, enc: &Encoded) -> E2eResult<Duration> {
    use controller::rendezvous::WINDOW;
    use std::collections::VecDeque;
    let t = Instant::now();
    let mut outstanding: VecDeque<(Xid, usize)> = VecDeque::new();
    let mut in_flight = 0usize;
    for (bytes, barrier, n) in &enc.writes {
        while in_flight > 0 && in_flight + n > WINDOW {
            let (b, k) = outstanding.pop_front().ok_or_else(|| bad("window"))?;
            raw.wait_barrier(b)?;
            in_flight -= k;
        }
        raw.stream.write_all(bytes).map_err(io("writing"))?;
        outstanding.push_back((*barrier, *n));
        in_flight += n;
    }
    if let Some((last, _)) = outstanding.back() {
        raw.wait_barrier(*last)?;
    }
    Ok(t.elapsed())
}

/// Flows on the bridge, from `ovs-ofctl dump-aggregate`.
fn flow_count(e: &E2e) -> E2eResult<u64> {
    let out = e.fabric.ofctl("dump-aggregate", "s1", &[])?;
    out.split_whitespace()
        .find_map(|w| w.strip_prefix("flow_count="))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| bad(format!("dump-aggregate: {out}")))
}

/// The first few flows of the bridge without their counters, for an error.
fn some_flows(e: &E2e) -> E2eResult<String> {
    let out = e
        .fabric
        .ofctl_with(&["--no-stats"], "dump-flows", "s1", &[])?;
    Ok(out.lines().take(12).collect::<Vec<_>>().join(" | "))
}

/// Groups on the bridge, from `ovs-ofctl dump-groups`.
fn group_count(e: &E2e) -> E2eResult<usize> {
    Ok(e.fabric
        .ofctl("dump-groups", "s1", &[])?
        .matches("group_id=")
        .count())
}

/// CPU time this process used so far (user + system, from `/proc/self/stat`, 10 ms ticks).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the name.
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn run(copies: u32, rounds: usize) -> E2eResult<()> {
    let spec = TopologySpec::single(8);
    let e = E2e::new(&spec, |_| {})?;
    let topo = e.fabric.topology().clone();
    let mut hosts: Vec<(IpAddr, PortNo)> = topo
        .hosts
        .iter()
        .map(|h| (IpAddr::V4(h.ipv4), PortNo(h.attach.port)))
        .collect();
    hosts.sort();
    let members: Vec<IpAddr> = hosts.iter().map(|h| h.0).collect();
    let ports: Vec<PortNo> = hosts.iter().map(|h| h.1).collect();
    let name = group_name("bench")?;
    let client = e.client().clone();
    e.tsmd.block_on(client.put_group(
        &name,
        &GroupSpec {
            address: "239.1.1.1".parse().map_err(|_| bad("address"))?,
            members: members.clone().into(),
        },
    ))?;
    let base: IpAddr = "239.4.0.0".parse().map_err(|_| bad("address"))?;
    let raw_base: IpAddr = "239.5.0.0".parse().map_err(|_| bad("address"))?;
    let addresses = 56 * u64::from(copies);
    let mods = 2 * addresses;
    // The minimal client: a second controller target of the bridge, passive (the bridge
    // listens), so it talks OpenFlow over TCP next to tsmd.
    let raw_port = 6699;
    let out = e
        .fabric
        .vsctl()
        .args([
            "--",
            "--id=@raw",
            "create",
            "Controller",
            &format!("target=\"ptcp:{raw_port}:127.0.0.1\""),
            // It is idle while tsmd works: no echo probes, so no disconnect.
            "inactivity_probe=0",
            "--",
            "add",
            "bridge",
            "s1",
            "controller",
            "@raw",
        ])
        .output()
        .map_err(io("ovs-vsctl"))?;
    if !out.status.success() {
        return Err(bad(format!(
            "ovs-vsctl: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let t = Instant::now();
    let mut raw = loop {
        match Raw::connect(&e, raw_port) {
            Ok(r) => break r,
            Err(err) if t.elapsed() > Duration::from_secs(10) => return Err(err),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let baseline = flow_count(&e)?;
    let baseline_groups = group_count(&e)?;
    let (groups, flows) = plan_messages(raw_base, &ports, copies)?;
    let all_at_once = Encoded::new(&groups, &flows, Pacing::AllAtOnce)?;
    let windowed = Encoded::new(&groups, &flows, Pacing::Windowed)?;
    drop((groups, flows));
    let mut xid = 100;
    let (mut tsmd_rates, mut all_rates, mut win_rates, mut ratios) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let tsmd = TsmdSide {
        e: &e,
        client: &client,
        name: &name,
        req: RendezvousRequest { k: 3, copies, base },
        mods,
        addresses,
        baseline,
        baseline_groups,
        members: &members,
    };
    for round in 1..=rounds {
        // Odd rounds time tsmd first, even rounds the raw client first: whichever goes first
        // does not always meet the same moment of Open vSwitch's (or the host's) slow spells.
        let (rate, all, win) = if round % 2 == 1 {
            let rate = tsmd.round(round)?;
            let (all, win) = raw_round(&mut raw, &all_at_once, &windowed, &mut xid, round, mods)?;
            (rate, all, win)
        } else {
            let (all, win) = raw_round(&mut raw, &all_at_once, &windowed, &mut xid, round, mods)?;
            (tsmd.round(round)?, all, win)
        };
        println!(
            "round {round}: tsmd at {:.1} % of raw all at once, {:.1} % of raw windowed",
            100.0 * rate / all,
            100.0 * rate / win
        );
        tsmd_rates.push(rate);
        all_rates.push(all);
        win_rates.push(win);
        ratios.push(rate / all.max(win));
    }
    let t = median(&mut tsmd_rates);
    let (a, w) = (median(&mut all_rates), median(&mut win_rates));
    println!(
        "median over {rounds} rounds: tsmd {t:.0} mods/s; raw all at once {a:.0} mods/s \
         ({:.1} %), raw windowed {w:.0} mods/s ({:.1} %): tsmd at {:.1} % of the faster raw \
         median (target >= 90 %); median of per-round ratios (tsmd / faster raw of the \
         round) {:.1} %",
        100.0 * t / a,
        100.0 * t / w,
        100.0 * t / a.max(w),
        100.0 * median(&mut ratios)
    );
    // Noise here only ever slows a side down, so each side's best round is its speed with the
    // least interference (the same number of rounds per side and pacing).
    let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let (bt, ba, bw) = (best(&tsmd_rates), best(&all_rates), best(&win_rates));
    println!(
        "best round: tsmd {bt:.0} mods/s; raw all at once {ba:.0} mods/s ({:.1} %), raw \
         windowed {bw:.0} mods/s ({:.1} %): tsmd at {:.1} % of the faster raw best",
        100.0 * bt / ba,
        100.0 * bt / bw,
        100.0 * bt / ba.max(bw)
    );
    Ok(())
}

/// What a tsmd round needs.
struct TsmdSide<'a> {
    e: &'a E2e,
    client: &'a api::Client,
    name: &'a api::GroupName,
    req: RendezvousRequest,
    mods: u64,
    addresses: u64,
    baseline: u64,
    baseline_groups: usize,
    members: &'a [IpAddr],
}

impl TsmdSide<'_> {
    /// tsmd's install rate in mods/s: `PUT` until the core's `PlanChanged … Ready`; then the
    /// plan deleted and the bridge back at its baseline (untimed).
    fn round(&self, round: usize) -> E2eResult<f64> {
        let (e, client, name, mods) = (self.e, self.client, self.name, self.mods);
        let mut events = e.tsmd.handle()?.subscribe();
        let cpu = cpu_time();
        let t = Instant::now();
        let plan = e.tsmd.block_on(client.put_rendezvous(name, &self.req))?;
        let answered = t.elapsed();
        let ready = e.tsmd.block_on(async {
            loop {
                match events.recv().await {
                    Ok(ev) => {
                        // A reconnect mid-install (reconciliation) would distort the figure.
                        if let EventKind::SwitchDown { .. } | EventKind::SwitchUp { .. } = &ev.kind
                        {
                            println!("  during the install: {:?}", ev.kind);
                        }
                        if let EventKind::PlanChanged { group, state, .. } = &ev.kind {
                            if group == "bench" && *state == PlanStatus::Ready {
                                return Ok(t.elapsed());
                            }
                            if group == "bench" && *state != PlanStatus::Installing {
                                return Err(bad(format!("plan ended {state:?}")));
                            }
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(err) => return Err(bad(format!("events: {err}"))),
                }
            }
        })?;
        let done = e.tsmd.block_on(client.rendezvous(name))?;
        if done.progress.messages_done != mods || plan.addresses != self.addresses {
            return Err(bad(format!(
                "expected {mods} messages for {} addresses, got {:?}",
                self.addresses, done.progress
            )));
        }
        let installed = flow_count(e)?;
        if installed < self.baseline + self.addresses {
            return Err(bad(format!(
                "{installed} flows on the bridge after the install"
            )));
        }
        let used = cpu_time().saturating_sub(cpu);
        let rate = mods as f64 / ready.as_secs_f64();
        println!(
            "round {round} tsmd: {mods} mods in {ready:?} ({rate:.0} mods/s; PUT answered after \
             {answered:?}; tsmd CPU {used:?})"
        );
        if round == 1 {
            claims_over_http(e, client, name, self.members)?;
        }
        e.tsmd.block_on(client.delete_rendezvous(name))?;
        let t = Instant::now();
        // Flows first, then groups (tsmd deletes in that order): the next side must not find
        // the bridge still busy with tsmd's clean-up.
        while flow_count(e)? > self.baseline || group_count(e)? > self.baseline_groups {
            if t.elapsed() > Duration::from_secs(30) {
                return Err(bad(format!(
                    "tsmd's plan rules did not go: {} flows (baseline {}), {} groups (baseline \
                     {}); plan: {:?}; some flows left: {}",
                    flow_count(e)?,
                    self.baseline,
                    group_count(e)?,
                    self.baseline_groups,
                    e.tsmd.block_on(client.rendezvous_plans()),
                    some_flows(e)?
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        println!(
            "round {round} tsmd: the plan's rules gone {:?} after DELETE",
            t.elapsed()
        );
        std::thread::sleep(Duration::from_secs(1));
        Ok(rate)
    }
}

/// The raw client's rates in mods/s (all at once, windowed): the same messages, as fast as
/// it can, each removed again (untimed) before the next.
fn raw_round(
    raw: &mut Raw,
    all_at_once: &Encoded,
    windowed: &Encoded,
    xid: &mut u32,
    round: usize,
    mods: u64,
) -> E2eResult<(f64, f64)> {
    let mut rates = [0.0; 2];
    for (i, (pacing, enc)) in [
        (Pacing::AllAtOnce, all_at_once),
        (Pacing::Windowed, windowed),
    ]
    .into_iter()
    .enumerate()
    {
        let cpu = cpu_time();
        let took = raw_run(raw, enc)?;
        let used = cpu_time().saturating_sub(cpu);
        rates[i] = mods as f64 / took.as_secs_f64();
        println!(
            "round {round} raw ({pacing:?}): {mods} mods in {took:?} ({:.0} mods/s; client CPU \
             {used:?})",
            rates[i]
        );
        raw.wipe(xid)?;
        std::thread::sleep(Duration::from_secs(1));
    }
    Ok((rates[0], rates[1]))
}

/// Claims over HTTP on loopback (each answered after its journal entry is written).
fn claims_over_http(
    e: &E2e,
    client: &api::Client,
    name: &api::GroupName,
    members: &[IpAddr],
) -> E2eResult<()> {
    let mut lat = Vec::new();
    let mut held = Vec::new();
    for i in 0..2000u64 {
        let r = i % 56;
        let subset: Vec<IpAddr> = rank::unrank(8, 3, r)
            .map_err(|e| bad(e.to_string()))?
            .iter()
            .map(|i| members[*i])
            .collect();
        let t = Instant::now();
        let c = e.tsmd.block_on(client.claim(
            name,
            &ClaimRequest {
                members: subset,
                lease_ms: 60_000,
            },
        ))?;
        lat.push(t.elapsed());
        held.push(c.id);
    }
    for id in held {
        e.tsmd.block_on(client.release_claim(id))?;
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "claims over HTTP (POST /v1/groups/bench/claims, journaled, 2000): p50 {:?}, p99 {:?}, \
         max {:?} (target p99 <= 500 us)",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    Ok(())
}

fn main() -> ExitCode {
    if let Err(e) = tsm_tests::check_environment() {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    // tsmd's logs on standard error when asked for (`RUST_LOG=info`).
    if let Ok(directive) = std::env::var("RUST_LOG") {
        if let Err(e) =
            controller::daemon::logging::init(controller::daemon::LogFormat::Text, &directive)
        {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    }
    let copies = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(447);
    let rounds = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(9);
    match run(copies, rounds) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bulk_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
