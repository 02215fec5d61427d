//! End-to-end support: the real tsmd daemon in this process, controlling a fabric of either
//! kind ([`DataPlane`]: [`OvsFabric`] or [`crate::SimFabric`]).
//!
//! [`Tsmd`] runs the daemon on its own tokio runtime, with its OpenFlow listener created inside
//! the fabric's private namespace (where the switches' `tcp:127.0.0.1:PORT` target reaches) and
//! its HTTP API on loopback in the test's own namespace. [`E2e`] is a fabric plus a tsmd that
//! has discovered it: every link and host the harness built is in `GET /v1/links` and
//! `GET /v1/hosts`. `E2e::new` builds Open vSwitch (`E2e` defaults to `E2e<OvsFabric>`);
//! `E2e::<F>::start` builds any [`DataPlane`], `E2e::with_fabric` takes one already built.
//! [`Rng`] is a small seeded generator, so a failing random run can be repeated with the seed
//! it printed.
//!
//! Guarantees: tsmd is stopped before the fabric is torn down (field order), and both go away
//! on drop, also while a failing test unwinds; the state directory lives in the fabric's
//! private directory, which the fabric deletes.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use api::{Client, ClientError, GroupName, GroupSpec, Subset, SubsetRequest};
use controller::daemon::{self, Handle, Settings};

use crate::{Collect, DataPlane, Delivery, Netns, OvsFabric, Probe, TopologySpec};

/// What went wrong in an end-to-end step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum E2eError {
    #[error(transparent)]
    Harness(#[from] crate::Error),
    #[error("tsmd: {0}")]
    Daemon(#[from] daemon::DaemonError),
    #[error("API: {0}")]
    Api(#[from] ClientError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("timed out after {after:?} waiting for {what}; last seen: {last}")]
    Timeout {
        what: String,
        after: Duration,
        last: String,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Links as `((dpid, port), (dpid, port))`, lower end first.
pub type LinkSet = BTreeSet<((u64, u32), (u64, u32))>;
/// Hosts as `(ip, mac, dpid, port)`.
pub type HostSet = BTreeSet<(IpAddr, [u8; 6], u64, u32)>;

/// Results of this module.
pub type E2eResult<T> = std::result::Result<T, E2eError>;

/// A seeded generator (SplitMix64): deterministic, good enough for picking test cases.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The seed from environment variable `var` if set (decimal), else from the clock; the
    /// caller prints it so that a failure can be replayed.
    pub fn seed_from_env(var: &str) -> u64 {
        std::env::var(var)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// One element of `items` (non-empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A random non-empty subset of `items`, in their order.
    pub fn subset<T: Clone>(&mut self, items: &[T]) -> Vec<T> {
        loop {
            let mask = self.next_u64();
            let s: Vec<T> = items
                .iter()
                .enumerate()
                .filter(|(i, _)| mask >> (i % 64) & 1 == 1)
                .map(|(_, t)| t.clone())
                .collect();
            if !s.is_empty() {
                return s;
            }
        }
    }

    /// `k` distinct elements of `items`, in their order.
    pub fn choose<T: Clone>(&mut self, items: &[T], k: usize) -> Vec<T> {
        let mut idx: Vec<usize> = (0..items.len()).collect();
        for i in 0..k.min(idx.len()) {
            let j = i + self.below(idx.len() - i);
            idx.swap(i, j);
        }
        let mut chosen: Vec<usize> = idx.into_iter().take(k).collect();
        chosen.sort_unstable();
        chosen.into_iter().map(|i| items[i].clone()).collect()
    }
}

/// Settings for end-to-end runs: fast discovery, a short settle after restart, state in
/// `state_dir`.
pub fn test_settings(state_dir: PathBuf) -> Settings {
    let mut s = Settings::default();
    // The claim journal's stage inside the test's own directory, not in /dev/shm.
    s.journal_stage_dir = Some(state_dir.join("stage"));
    s.state_dir = state_dir;
    s.lldp_interval = Duration::from_millis(300);
    s.link_timeout = Duration::from_secs(3);
    s.restore_settle = Duration::from_secs(2);
    s.request_timeout = Duration::from_secs(5);
    s
}

/// The real tsmd on its own runtime.
pub struct Tsmd {
    // Dropped first: the handle signals shutdown while the runtime still runs its tasks.
    handle: Option<Handle>,
    client: Client,
    of_port: u16,
    settings: Settings,
    rt: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Tsmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tsmd")
            .field("of_port", &self.of_port)
            .field("api", &self.client.base_url().as_str())
            .finish()
    }
}

impl Tsmd {
    /// Starts tsmd with its OpenFlow listener on `127.0.0.1:of_port` (0: any free port) in
    /// `fabric`'s private namespace and its API on 127.0.0.1 here.
    pub fn start(fabric: &impl DataPlane, settings: Settings, of_port: u16) -> E2eResult<Tsmd> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|source| E2eError::Io {
                what: "building the tokio runtime".into(),
                source,
            })?;
        let (handle, of_port) = Self::launch(&rt, fabric.netns(), settings.clone(), of_port)?;
        let client = Client::new(&handle.base_url())?;
        Ok(Tsmd {
            handle: Some(handle),
            client,
            of_port,
            settings,
            rt,
        })
    }

    fn launch(
        rt: &tokio::runtime::Runtime,
        netns: &Netns,
        settings: Settings,
        of_port: u16,
    ) -> E2eResult<(Handle, u16)> {
        let rth = rt.handle().clone();
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), of_port);
        // Bound inside the namespace (with SO_REUSEADDR, so a restart gets the port back while
        // the old connections linger in TIME_WAIT); the reactor registration needs the
        // runtime's context on that thread.
        let of = netns.run(move || {
            let _guard = rth.enter();
            daemon::bind("OpenFlow", addr)
        })??;
        let of_port = of.local_addr().map_err(|source| E2eError::Io {
            what: "the OpenFlow listener's address".into(),
            source,
        })?;
        let handle = rt.block_on(async move {
            let http = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|source| E2eError::Io {
                    what: "binding the API on 127.0.0.1:0".into(),
                    source,
                })?;
            Ok::<_, E2eError>(daemon::start(settings, of, http).await?)
        })?;
        Ok((handle, of_port.port()))
    }

    /// The API client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The daemon's handle (events, addresses).
    pub fn handle(&self) -> E2eResult<&Handle> {
        self.handle
            .as_ref()
            .ok_or_else(|| E2eError::Invalid("tsmd is stopped".into()))
    }

    /// The running tsmd's events from its start (once per start; see
    /// `Handle::events_from_start`).
    pub fn events_from_start(
        &mut self,
    ) -> E2eResult<tokio::sync::broadcast::Receiver<controller::event::Event>> {
        self.handle
            .as_mut()
            .and_then(Handle::events_from_start)
            .ok_or_else(|| {
                E2eError::Invalid("tsmd is stopped, or its first events were taken".into())
            })
    }

    /// The OpenFlow port inside the fabric's namespace.
    pub fn of_port(&self) -> u16 {
        self.of_port
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Runs `f` on the daemon's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Graceful shutdown (switches keep their rules).
    pub fn stop(&mut self) -> E2eResult<()> {
        if let Some(h) = self.handle.take() {
            self.rt.block_on(h.shutdown())?;
        }
        Ok(())
    }

    /// Stops (if running) and starts a new daemon with the same settings (the same state
    /// directory) on the same OpenFlow port; the API gets a new port and a new client.
    pub fn restart(&mut self, fabric: &impl DataPlane) -> E2eResult<()> {
        self.stop()?;
        let (handle, _) = Self::launch(
            &self.rt,
            fabric.netns(),
            self.settings.clone(),
            self.of_port,
        )?;
        self.client = Client::new(&handle.base_url())?;
        self.handle = Some(handle);
        Ok(())
    }
}

/// A fabric under tsmd's control, discovered.
pub struct E2e<F = OvsFabric> {
    // Field order is drop order: tsmd first, then the fabric.
    pub tsmd: Tsmd,
    pub fabric: F,
}

impl<F: DataPlane> std::fmt::Debug for E2e<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("E2e")
            .field("fabric", &self.fabric.kind())
            .field("topology", &self.fabric.topology().name)
            .field("tsmd", &self.tsmd)
            .finish()
    }
}

/// How long discovery may take (LLDP every 300 ms, hosts announced every second).
pub const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(20);

impl E2e<OvsFabric> {
    /// Builds `spec` on Open vSwitch, starts tsmd with [`test_settings`] changed by `tune`,
    /// points every bridge at it and waits until discovery matches the topology.
    pub fn new(spec: &TopologySpec, tune: impl FnOnce(&mut Settings)) -> E2eResult<Self> {
        Self::start(spec, tune)
    }
}

impl<F: DataPlane> E2e<F> {
    /// Builds `spec` as an `F` fabric, then as [`E2e::with_fabric`].
    pub fn start(spec: &TopologySpec, tune: impl FnOnce(&mut Settings)) -> E2eResult<Self> {
        Self::with_fabric(F::build(spec)?, tune)
    }

    /// Starts tsmd with [`test_settings`] (state in the fabric's directory) changed by
    /// `tune`, points every switch of `fabric` at it and waits until discovery matches the
    /// topology.
    pub fn with_fabric(fabric: F, tune: impl FnOnce(&mut Settings)) -> E2eResult<Self> {
        let mut settings = test_settings(fabric.dir().join("tsmd-state"));
        tune(&mut settings);
        let tsmd = Tsmd::start(&fabric, settings, 0)?;
        let e = E2e { tsmd, fabric };
        e.fabric
            .set_controller(Some(&format!("tcp:127.0.0.1:{}", e.tsmd.of_port())))?;
        e.wait_discovered(DISCOVERY_TIMEOUT)?;
        Ok(e)
    }

    /// The client of the running tsmd.
    pub fn client(&self) -> &Client {
        self.tsmd.client()
    }

    /// Links the harness built: `((dpid, port), (dpid, port))`, lower end first.
    pub fn expected_links(&self) -> LinkSet {
        self.fabric
            .topology()
            .link_ports()
            .into_iter()
            .map(|(a, b)| if a <= b { (a, b) } else { (b, a) })
            .collect()
    }

    /// Hosts the harness built, as the API shows them: `(ipv4, mac, dpid, port)`.
    pub fn expected_hosts(&self) -> HostSet {
        self.fabric
            .topology()
            .hosts
            .iter()
            .map(|h| (IpAddr::V4(h.ipv4), h.mac, h.attach.dpid, h.attach.port))
            .collect()
    }

    /// Links tsmd reports up.
    pub fn api_links(&self) -> E2eResult<LinkSet> {
        let links = self.tsmd.block_on(self.client().links())?;
        Ok(links
            .into_iter()
            .filter(|l| l.state == api::LinkState::Up)
            .map(|l| {
                let a = (l.a.dpid.0, l.a.port);
                let b = (l.b.dpid.0, l.b.port);
                if a <= b {
                    (a, b)
                } else {
                    (b, a)
                }
            })
            .collect())
    }

    /// Hosts tsmd reports (every address family).
    pub fn api_hosts(&self) -> E2eResult<HostSet> {
        let hosts = self.tsmd.block_on(self.client().hosts())?;
        Ok(hosts
            .into_iter()
            .map(|h| (h.ip, h.mac.0, h.dpid.0, h.port))
            .collect())
    }

    /// Waits until tsmd reports every switch, exactly the built links (up), and every host
    /// at its port; re-announces the hosts every second meanwhile (a host heard before its
    /// switch's table-miss flow existed is heard again). A host reported on a wrong port, or
    /// an address no built host has, fails at once.
    pub fn wait_discovered(&self, timeout: Duration) -> E2eResult<()> {
        let want_links = self.expected_links();
        let want_hosts = self.expected_hosts();
        let by_mac: std::collections::BTreeMap<[u8; 6], (u64, u32)> = want_hosts
            .iter()
            .map(|&(_, mac, dpid, port)| (mac, (dpid, port)))
            .collect();
        let n_switches = self.fabric.topology().switches.len();
        let start = Instant::now();
        let mut last_announce: Option<Instant> = None;
        loop {
            let switches = self.tsmd.block_on(self.client().switches())?.len();
            if switches == n_switches
                && last_announce.is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
            {
                self.fabric.announce_all(9)?;
                last_announce = Some(Instant::now());
            }
            let links = self.api_links()?;
            let hosts = self.api_hosts()?;
            for h in &hosts {
                if by_mac.get(&h.1) != Some(&(h.2, h.3)) {
                    return Err(E2eError::Invalid(format!(
                        "tsmd reports host {h:?} (ip, mac, dpid, port), which the harness did not \
                         build there; built: {want_hosts:?}"
                    )));
                }
            }
            let v4: BTreeSet<_> = hosts.iter().filter(|h| h.0.is_ipv4()).cloned().collect();
            if switches == n_switches && links == want_links && v4 == want_hosts {
                return Ok(());
            }
            let last = format!(
                "{switches}/{n_switches} switches; links missing {:?}, extra {:?}; hosts missing \
                 {:?}",
                want_links.difference(&links).collect::<Vec<_>>(),
                links.difference(&want_links).collect::<Vec<_>>(),
                want_hosts.difference(&v4).collect::<Vec<_>>(),
            );
            if start.elapsed() > timeout {
                return Err(E2eError::Timeout {
                    what: format!("discovery of {}", self.fabric.topology().name),
                    after: timeout,
                    last,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Host `name`'s IPv4 address.
    pub fn ip(&self, name: &str) -> E2eResult<IpAddr> {
        Ok(IpAddr::V4(self.fabric.host(name)?.ipv4))
    }

    /// The host named by address `ip`.
    pub fn name_of(&self, ip: IpAddr) -> E2eResult<String> {
        self.fabric
            .topology()
            .host_by_ip(ip)
            .map(|h| h.name.clone())
            .ok_or_else(|| E2eError::Invalid(format!("no host has address {ip}")))
    }

    /// `PUT /v1/groups/{name}` with these member hosts.
    pub fn put_group(&self, name: &str, address: IpAddr, members: &[&str]) -> E2eResult<()> {
        let members = members
            .iter()
            .map(|m| self.ip(m))
            .collect::<E2eResult<Vec<_>>>()?;
        let name = group_name(name)?;
        self.tsmd.block_on(self.client().put_group(
            &name,
            &GroupSpec {
                address,
                members: members.into(),
            },
        ))?;
        Ok(())
    }

    /// `POST /v1/groups/{group}/subsets` for these member hosts.
    pub fn create_subset(
        &self,
        group: &str,
        members: &[&str],
        lease_ms: u64,
    ) -> E2eResult<std::result::Result<Subset, ClientError>> {
        let members = members
            .iter()
            .map(|m| self.ip(m))
            .collect::<E2eResult<Vec<_>>>()?;
        let group = group_name(group)?;
        Ok(self.tsmd.block_on(
            self.client()
                .create_subset(&group, &SubsetRequest { members, lease_ms }),
        ))
    }

    /// `DELETE /v1/subsets/{address}`.
    pub fn delete_subset(&self, address: IpAddr) -> E2eResult<()> {
        self.tsmd.block_on(self.client().delete_subset(address))?;
        Ok(())
    }

    /// Sends `probes` and collects at every host.
    pub fn probe(&self, probes: &[Probe]) -> E2eResult<Vec<Delivery>> {
        let hosts = self.fabric.topology().host_names();
        Ok(self.fabric.probe(probes, &hosts, &Collect::default())?)
    }
}

/// A group name, checked.
pub fn group_name(name: &str) -> E2eResult<GroupName> {
    name.parse()
        .map_err(|e| E2eError::Invalid(format!("group name {name:?}: {e:?}")))
}

/// One probe case: a subset, who sends, and who must receive.
#[derive(Debug, Clone)]
pub struct Case {
    pub address: IpAddr,
    pub members: Vec<String>,
    pub sender: String,
    /// Members other than the sender.
    pub expected: Vec<String>,
}

impl Case {
    /// The probe for this case (port 5000).
    pub fn probe(&self) -> Probe {
        Probe::new(&self.sender, self.address, 5000)
    }

    /// Empty when `d` is exactly `expected`, each once; else what went wrong.
    pub fn check(&self, d: &Delivery) -> Option<String> {
        if d.is_exactly(&self.expected) {
            return None;
        }
        let got: Vec<String> = d
            .counts
            .iter()
            .filter(|(_, &n)| n > 0)
            .map(|(h, n)| format!("{h}×{n}"))
            .collect();
        Some(format!(
            "subset {} {:?} from {}: expected each of {:?} once, got [{}]",
            self.address,
            self.members,
            self.sender,
            self.expected,
            got.join(", ")
        ))
    }
}

/// Probes every case in one batch; the failures, one line each.
pub fn check_cases<F: DataPlane>(e: &E2e<F>, cases: &[Case]) -> E2eResult<Vec<String>> {
    let probes: Vec<Probe> = cases.iter().map(Case::probe).collect();
    let deliveries = e.probe(&probes)?;
    Ok(cases
        .iter()
        .zip(&deliveries)
        .filter_map(|(c, d)| c.check(d))
        .collect())
}

/// Probes until every case is exact (a fresh batch each round), or fails after `within` with
/// the last round's failures. For waiting out a recompute without sleeping.
pub fn wait_exact<F: DataPlane>(
    e: &E2e<F>,
    cases: &[Case],
    within: Duration,
) -> E2eResult<Duration> {
    let start = Instant::now();
    loop {
        let failures = check_cases(e, cases)?;
        if failures.is_empty() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > within {
            return Err(E2eError::Timeout {
                what: "exact delivery of every subset".into(),
                after: within,
                last: failures.join("; "),
            });
        }
    }
}
