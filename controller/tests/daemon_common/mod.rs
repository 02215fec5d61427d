//! Support for the daemon tests: the real tsmd in-process on 127.0.0.1:0 listeners, a fabric
//! of switch-sim software switches that connect to it over TCP and speak real OpenFlow,
//! simulated hosts on in-memory ports that send and receive real frames, a minimal OpenFlow
//! client that reads a switch's tables through its passive listener (as `ovs-ofctl` would),
//! and waits that poll a condition until a deadline.

// Helpers panic on misuse: a panic in a test is a failed assertion.
#![allow(clippy::unwrap_used, dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use api::Client;
use controller::daemon::{self, Handle, Settings};
use openflow::multipart::{FlowStats, FlowStatsRequest, GroupDesc};
use openflow::oxm::MacAddr;
use openflow::{
    Body, Cookie, Framer, GroupId, Hello, Match, Message, MultipartReplyBody, MultipartReplyFlags,
    MultipartRequest, MultipartRequestBody, TableId, Xid,
};
use switch_sim::packet::build;
use switch_sim::ports::{memory_link, LinkControl, MemoryEnd, PortSpec};
use switch_sim::{SwitchBuilder, SwitchHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The priority of subset flows (`controller::rules::SUBSET_PRIORITY`).
pub const SUBSET_PRIORITY: u16 = 0x9000;
/// The controller's group id range (the default `Config::group_ids`).
pub const OUR_GROUPS: std::ops::RangeInclusive<u32> = 0x5453_0000..=0x5453_ffff;

/// Settings for tests: fast discovery, a short settle time, state in `dir`.
pub fn settings(dir: &Path) -> Settings {
    let mut s = Settings::default();
    s.state_dir = dir.to_owned();
    // The claim journal's stage inside the test's own directory, not in /dev/shm.
    s.journal_stage_dir = Some(dir.join("stage"));
    s.lldp_interval = Duration::from_millis(500);
    s.link_timeout = Duration::from_secs(3);
    s.restore_settle = Duration::from_secs(2);
    s.request_timeout = Duration::from_secs(5);
    s
}

/// Bearer secrets of the owner tests' tokens: `ops` (admin, every group), `a` and `a2`.
pub const OWNER_OPS: &str = "tsm_owner_ops_0123456789abcdef0123456789ab";
pub const OWNER_A: &str = "tsm_owner_a_0123456789abcdef0123456789abcd";
pub const OWNER_A2: &str = "tsm_owner_a2_0123456789abcdef0123456789abc";

/// The owner tests' tokens: `ops` (admin, `*`), and `a` and `a2` (group g, `right`).
pub fn owner_tokens(right: api::auth::Right) -> Vec<api::auth::TokenSpec> {
    vec![
        token("ops", OWNER_OPS, &["*"], &[api::auth::Right::Admin]),
        token("a", OWNER_A, &["g"], &[right]),
        token("a2", OWNER_A2, &["g"], &[right]),
    ]
}

/// The clients of [`owner_tokens`] on a running tsmd: (ops, a, a2).
pub fn owner_clients(d: &TestDaemon) -> (Client, Client, Client) {
    let base = d.handle().base_url();
    let c = |secret: &str| Client::new(&base).unwrap().with_bearer(secret);
    (c(OWNER_OPS), c(OWNER_A), c(OWNER_A2))
}

/// `e` is a 403 `forbidden` naming `token` and `group`, and the holder `owner` in its reason.
pub fn assert_forbidden(e: &api::ClientError, token: &str, group: &str, owner: &str, what: &str) {
    assert_eq!(e.status(), Some(403), "{what}: {e}");
    match e.api_error() {
        Some(api::ApiError::Forbidden {
            token: t,
            group: g,
            reason,
            ..
        }) => {
            assert_eq!(
                (t.as_deref(), g.as_deref()),
                (Some(token), Some(group)),
                "{what}"
            );
            assert!(reason.contains(&format!("{owner:?}")), "{what}: {reason}");
        }
        other => panic!("{what}: not forbidden: {other:?}"),
    }
}

/// The tsmd binary built for these tests.
pub const TSMD: &str = env!("CARGO_BIN_EXE_tsmd");

/// `tsmd ARGS` with a clean environment (no TSMD_* or RUST_LOG from the caller) plus `env`.
pub fn tsmd_command(args: &[&str], env: &[(&str, &str)]) -> std::process::Command {
    let mut c = std::process::Command::new(TSMD);
    c.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("TSMD_") || k == "RUST_LOG" {
            c.env_remove(k);
        }
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// `tsmd ARGS` run to its end with a clean environment plus `env`.
pub fn tsmd(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    tsmd_command(args, env).output().unwrap()
}

/// Bytes as text (lossy), for messages and assertions.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Writes `body` to `dir/name`; the path.
pub fn write(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

/// The text of an SSE response until `until` appears in it (each chunk within 5 s).
pub async fn sse_text_until(resp: &mut reqwest::Response, until: &str) -> String {
    let mut text = String::new();
    while !text.contains(until) {
        let chunk = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    text
}

/// A token for the daemon's token table: `name` with the hash of `secret`, scoped to
/// `groups` (`*` for all) with `rights`.
pub fn token(
    name: &str,
    secret: &str,
    groups: &[&str],
    rights: &[api::auth::Right],
) -> api::auth::TokenSpec {
    api::auth::TokenSpec {
        name: name.to_owned(),
        hash: api::auth::TokenHash::of(secret),
        groups: api::auth::GroupScope::from_list(groups).unwrap(),
        rights: rights.iter().copied().collect(),
    }
}

/// Polls `f` every 20 ms until it gives `Some`, or panics after `within` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(t) = f().await {
            return t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A tsmd running in this process.
pub struct TestDaemon {
    pub handle: Option<Handle>,
    pub client: Client,
}

impl TestDaemon {
    /// Starts tsmd on fresh 127.0.0.1:0 listeners.
    pub async fn start(settings: Settings) -> TestDaemon {
        let of = TcpListener::bind("127.0.0.1:0").await.unwrap();
        TestDaemon::start_on(settings, of).await
    }

    /// Starts tsmd with this OpenFlow listener (a restart reuses the port).
    pub async fn start_on(settings: Settings, of: TcpListener) -> TestDaemon {
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let handle = daemon::start(settings, of, http).await.unwrap();
        let client = Client::new(&handle.base_url()).unwrap();
        TestDaemon {
            handle: Some(handle),
            client,
        }
    }

    pub fn handle(&self) -> &Handle {
        self.handle.as_ref().unwrap()
    }

    pub fn handle_mut(&mut self) -> &mut Handle {
        self.handle.as_mut().unwrap()
    }

    pub fn of_addr(&self) -> SocketAddr {
        self.handle().of_addr()
    }

    /// Graceful shutdown; returns how long it took.
    pub async fn stop(&mut self) -> Duration {
        let t = tokio::time::Instant::now();
        self.handle.take().unwrap().shutdown().await.unwrap();
        t.elapsed()
    }
}

/// A simulated host on a switch port: it sends real frames and counts what reaches it.
pub struct SimHost {
    pub name: String,
    pub mac: MacAddr,
    pub ip: Ipv4Addr,
    pub dpid: u64,
    pub port: u32,
    end: MemoryEnd,
}

/// The destination MAC of an IPv4 multicast address (RFC 1112 §6.4).
fn multicast_mac(ip: Ipv4Addr) -> MacAddr {
    let o = ip.octets();
    MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
}

impl SimHost {
    /// A gratuitous ARP: how the controller learns the host.
    pub fn announce(&self) {
        self.end
            .send(build::arp_request(self.mac, self.ip, self.ip));
    }

    /// A UDP datagram to a multicast group.
    pub fn send_udp(&self, dst: Ipv4Addr, payload: &[u8]) {
        let f = build::udp4(
            self.mac,
            multicast_mac(dst),
            self.ip,
            dst,
            5000,
            6000,
            payload,
        );
        assert!(self.end.send(f), "{}: frame dropped at send", self.name);
    }

    /// How many queued frames are UDP datagrams carrying `payload` (the rest is dropped).
    pub fn take_matching(&mut self, payload: &[u8]) -> usize {
        let mut n = 0;
        while let Some(f) = self.end.try_recv() {
            if udp_payload(&f) == Some(payload) {
                n += 1;
            }
        }
        n
    }
}

/// The UDP payload of an Ethernet/IPv4/UDP frame.
fn udp_payload(f: &[u8]) -> Option<&[u8]> {
    if f.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ihl = usize::from(f.get(14)? & 0x0f) * 4;
    if *f.get(23)? != 17 {
        return None;
    }
    f.get(14 + ihl + 8..)
}

/// Switches (switch-sim, each on its own thread), links and hosts.
pub struct Fabric {
    pub switches: BTreeMap<u64, SwitchHandle>,
    pub hosts: Vec<SimHost>,
    /// (dpid a, port a, dpid b, port b, carrier control).
    pub links: Vec<(u64, u32, u64, u32, LinkControl)>,
}

/// A leaf-spine fabric spec: spines have dpids 1..=spines, leaves 0x101.., hosts
/// `hosts_per_leaf` per leaf, named h1.. with 10.0.0.N.
pub struct Spec {
    pub spines: u64,
    pub leaves: u64,
    pub hosts_per_leaf: u32,
}

impl Fabric {
    /// Builds and starts the fabric; every switch connects to `controller(dpid)` (a
    /// `tcp:HOST:PORT` target) and listens passively on 127.0.0.1; `tune` may change a
    /// switch's builder.
    /// One spine, two leaves, two hosts per leaf: every switch connects to tsmd at `of`.
    pub fn small(of: std::net::SocketAddr) -> Fabric {
        let spec = Spec {
            spines: 1,
            leaves: 2,
            hosts_per_leaf: 2,
        };
        Fabric::leaf_spine(&spec, |_| format!("tcp:{of}"), |_, b| b)
    }

    pub fn leaf_spine(
        spec: &Spec,
        controller: impl Fn(u64) -> String,
        tune: impl Fn(u64, SwitchBuilder) -> SwitchBuilder,
    ) -> Fabric {
        let mut ports: BTreeMap<u64, Vec<(u32, PortSpec)>> = BTreeMap::new();
        let mut links = Vec::new();
        let leaf = |l: u64| 0x100 + l;
        for s in 1..=spec.spines {
            for l in 1..=spec.leaves {
                let (a, b) = memory_link();
                let control = a.link_control();
                let (sp, lp) = (l as u32, s as u32);
                ports.entry(s).or_default().push((sp, PortSpec::memory(a)));
                ports
                    .entry(leaf(l))
                    .or_default()
                    .push((lp, PortSpec::memory(b)));
                links.push((s, sp, leaf(l), lp, control));
            }
        }
        let mut hosts = Vec::new();
        let mut n = 0u8;
        for l in 1..=spec.leaves {
            for h in 0..spec.hosts_per_leaf {
                n += 1;
                let (sw, host) = memory_link();
                let port = spec.spines as u32 + 1 + h;
                ports
                    .entry(leaf(l))
                    .or_default()
                    .push((port, PortSpec::memory(sw)));
                hosts.push(SimHost {
                    name: format!("h{n}"),
                    mac: MacAddr([2, 0, 0, 0, 0, n]),
                    ip: Ipv4Addr::new(10, 0, 0, n),
                    dpid: leaf(l),
                    port,
                    end: host,
                });
            }
        }
        let mut switches = BTreeMap::new();
        for (dpid, ps) in ports {
            let mut b = switch_sim::Switch::builder()
                .dpid(dpid)
                .controller(controller(dpid))
                .listen("ptcp:0:127.0.0.1")
                .backoff(Duration::from_millis(50), Duration::from_millis(300));
            for (no, p) in ps {
                b = b.port(no, p);
            }
            b = tune(dpid, b);
            switches.insert(dpid, b.start().unwrap());
        }
        Fabric {
            switches,
            hosts,
            links,
        }
    }

    /// Every switch's passive listener.
    pub fn listen_addr(&self, dpid: u64) -> SocketAddr {
        self.switches[&dpid].listen_addrs()[0]
    }

    pub fn host(&self, name: &str) -> &SimHost {
        self.hosts.iter().find(|h| h.name == name).unwrap()
    }

    pub fn ip(&self, name: &str) -> IpAddr {
        IpAddr::V4(self.host(name).ip)
    }

    pub fn index(&self, name: &str) -> usize {
        self.hosts.iter().position(|h| h.name == name).unwrap()
    }

    /// Number of links between switches.
    pub fn link_count(&self) -> usize {
        self.links.len()
    }

    /// Waits until tsmd shows every switch connected, every link up and every host (hosts
    /// announce themselves again on every poll, as hosts that talk would).
    pub async fn wait_discovered(&self, client: &Client) {
        let n_sw = self.switches.len();
        let n_links = self.links.len();
        let n_hosts = self.hosts.len();
        eventually(
            "discovery of every switch, link and host",
            Duration::from_secs(20),
            || async {
                for h in &self.hosts {
                    h.announce();
                }
                let sw = client.switches().await.ok()?;
                let links = client.links().await.ok()?;
                let hosts = client.hosts().await.ok()?;
                let up = links
                    .iter()
                    .filter(|l| l.state == api::LinkState::Up)
                    .count();
                (sw.len() == n_sw && up == n_links && hosts.len() == n_hosts).then_some(())
            },
        )
        .await;
    }

    /// Sends a datagram from `from` to `addr` and checks that it reaches each host of `to`
    /// (sender excluded) exactly once and no other host: after the expected copies arrived,
    /// a quiet window of 200 ms must bring no further copy anywhere.
    pub async fn check_delivery(
        &mut self,
        from: &str,
        addr: IpAddr,
        to: &BTreeSet<&str>,
    ) -> Result<(), String> {
        let IpAddr::V4(dst) = addr else {
            panic!("IPv4 only")
        };
        for h in &mut self.hosts {
            h.take_matching(&[]);
        }
        let payload = format!("probe from {from} to {addr} #{}", rand_u64()).into_bytes();
        self.host(from).send_udp(dst, &payload);
        let want: BTreeSet<String> = to
            .iter()
            .filter(|n| **n != from)
            .map(|n| (*n).to_owned())
            .collect();
        let mut got: BTreeMap<String, usize> = BTreeMap::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        loop {
            for h in &mut self.hosts {
                let n = h.take_matching(&payload);
                if n > 0 {
                    *got.entry(h.name.clone()).or_default() += n;
                }
            }
            if want.iter().all(|n| got.contains_key(n)) || tokio::time::Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The absence of further copies can only be observed over a window.
        tokio::time::sleep(Duration::from_millis(200)).await;
        for h in &mut self.hosts {
            let n = h.take_matching(&payload);
            if n > 0 {
                *got.entry(h.name.clone()).or_default() += n;
            }
        }
        let exact = got.len() == want.len() && want.iter().all(|n| got.get(n) == Some(&1));
        if exact {
            Ok(())
        } else {
            Err(format!(
                "from {from} to {addr}: want each of {want:?} once, got {got:?}"
            ))
        }
    }
}

pub fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish()
}

/// A minimal OpenFlow client of a switch's passive listener (what `ovs-ofctl dump-flows` does).
pub struct OfProbe {
    stream: TcpStream,
    framer: Framer,
    xid: u32,
}

impl OfProbe {
    pub async fn connect(addr: SocketAddr) -> OfProbe {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let hello = Message::new(Xid(1), Body::Hello(Hello::ofp13()));
        stream.write_all(&hello.encode().unwrap()).await.unwrap();
        OfProbe {
            stream,
            framer: Framer::new(),
            xid: 100,
        }
    }

    async fn next(&mut self) -> Message {
        loop {
            if let Some(r) = self.framer.next_message() {
                return r.unwrap();
            }
            let mut buf = vec![0u8; 65536];
            let n = tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut buf))
                .await
                .expect("switch answers within 5 s")
                .unwrap();
            assert!(n > 0, "switch closed the probe connection");
            self.framer.extend(&buf[..n]);
        }
    }

    async fn multipart(&mut self, body: MultipartRequestBody) -> Vec<MultipartReplyBody> {
        self.xid += 1;
        let xid = Xid(self.xid);
        let m = Message::new(xid, Body::MultipartRequest(MultipartRequest::new(body)));
        self.stream.write_all(&m.encode().unwrap()).await.unwrap();
        let mut out = Vec::new();
        loop {
            let m = self.next().await;
            if m.xid != xid {
                continue;
            }
            match m.body {
                Body::MultipartReply(r) => {
                    let more = r.flags.contains(MultipartReplyFlags::REPLY_MORE);
                    out.push(r.body);
                    if !more {
                        return out;
                    }
                }
                other => panic!("unexpected answer {other:?}"),
            }
        }
    }

    /// Every flow of table 0.
    pub async fn flows(&mut self) -> Vec<FlowStats> {
        let req = FlowStatsRequest::new(TableId(0), Match::new(), Cookie(0), 0);
        let mut v = Vec::new();
        for b in self.multipart(MultipartRequestBody::Flow(req)).await {
            if let MultipartReplyBody::Flow(f) = b {
                v.extend(f);
            }
        }
        v
    }

    /// Every group.
    pub async fn groups(&mut self) -> Vec<GroupDesc> {
        let mut v = Vec::new();
        for b in self.multipart(MultipartRequestBody::GroupDesc).await {
            if let MultipartReplyBody::GroupDesc(g) = b {
                v.extend(g);
            }
        }
        v
    }
}

/// What of ours a switch holds: subset flows (cookie, packet count) and groups in our range.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Installed {
    /// cookie → packet count, of flows at the subset priority.
    pub flows: BTreeMap<u64, u64>,
    pub groups: BTreeSet<u32>,
}

impl Installed {
    /// The same rules, whatever the counters.
    pub fn rules(&self) -> (BTreeSet<u64>, BTreeSet<u32>) {
        (self.flows.keys().copied().collect(), self.groups.clone())
    }
}

/// Reads what of ours every switch holds.
pub async fn installed(fabric: &Fabric) -> BTreeMap<u64, Installed> {
    let mut out = BTreeMap::new();
    for &dpid in fabric.switches.keys() {
        let mut p = OfProbe::connect(fabric.listen_addr(dpid)).await;
        let flows = p
            .flows()
            .await
            .into_iter()
            .filter(|f| f.priority == SUBSET_PRIORITY)
            .map(|f| (f.cookie.0, f.packet_count))
            .collect();
        let groups = p
            .groups()
            .await
            .into_iter()
            .map(|g: GroupDesc| g.group_id)
            .filter(|g: &GroupId| OUR_GROUPS.contains(&g.0))
            .map(|g| g.0)
            .collect();
        out.insert(dpid, Installed { flows, groups });
    }
    out
}

/// The switches that hold a flow with `cookie`.
pub fn holders(inst: &BTreeMap<u64, Installed>, cookie: u64) -> BTreeSet<u64> {
    inst.iter()
        .filter(|(_, i)| i.flows.contains_key(&cookie))
        .map(|(d, _)| *d)
        .collect()
}

/// A TCP proxy between switches and tsmd that can hold everything the switches send (their
/// barrier replies, echo replies, ...) while still passing tsmd's messages to them: a switch
/// that applies rules but never confirms them.
pub struct HoldProxy {
    pub addr: SocketAddr,
    hold: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl HoldProxy {
    pub async fn start(target: SocketAddr) -> HoldProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (hold, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let Ok((sw, _)) = listener.accept().await else {
                    return;
                };
                let Ok(ctl) = TcpStream::connect(target).await else {
                    continue;
                };
                let (mut sw_rd, mut sw_wr) = sw.into_split();
                let (mut ctl_rd, mut ctl_wr) = ctl.into_split();
                let mut held = rx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    while let Ok(n) = sw_rd.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        // Nothing passes while held, not even what was read before.
                        if held.wait_for(|h| !*h).await.is_err() {
                            break;
                        }
                        if ctl_wr.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = ctl_wr.shutdown().await;
                });
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut ctl_rd, &mut sw_wr).await;
                    let _ = sw_wr.shutdown().await;
                });
            }
        });
        HoldProxy { addr, hold, task }
    }

    pub fn hold(&self, on: bool) {
        self.hold.send_replace(on);
    }
}

impl Drop for HoldProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
