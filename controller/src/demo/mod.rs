//! `tsmd demo`: the whole product in one process, for a newcomer with nothing but cargo (no
//! root, no switches, no setup).
//!
//! ```text
//!  curl / api::Client ──HTTP──► tsmd (the real daemon: core task, OpenFlow listener, API)
//!                                  ▲ OpenFlow 1.3 over loopback TCP, one connection per switch
//!          ┌──────────────┬────────┴─────┬──────────────┐
//!       spine 1        spine 2         (switch-sim software switches, in-memory links)
//!     leaf 1 … leaf 4, three simulated hosts each (h1..h12: 10.0.0.N, fd00::N)
//!  curl ──HTTP──► /demo/* (demo-only: send from a host, who received what)
//! ```
//!
//! - [`Demo::start`] starts the daemon ([`crate::daemon::start_with_store`], in-memory store)
//!   on the given listeners, then the fabric ([`fabric`]) whose switches connect to it;
//!   [`Demo::wait_discovered`] returns once the API shows every switch, link and host.
//! - [`script`] is `tsmd demo --script`: a group, a subset pushed through the real HTTP API,
//!   datagrams from a member and a non-member, the subset deleted; exact delivery or failure.
//! - [`web`] serves the demo-only endpoints (`/demo/send`, `/demo/received`, `/demo/hosts`)
//!   on a listener of their own, outside the tsmd API.
//! - [`main`] is the subcommand: logging, runtime, signals (Ctrl-C or SIGTERM stop everything:
//!   the demo endpoints, the daemon, the switches and hosts), exit code.
//!
//! Guarantees: the scripted mode finishes within [`SCRIPT_DEADLINE`] whatever happens, and
//! exits 0 only if every delivery it checked was exact; everything started is stopped on
//! every path out (errors, deadline, signal).

pub mod check;
pub mod fabric;
pub mod host;
pub mod observe;
pub mod script;
pub mod web;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use api::{Client, ClientError, LinkState};
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::daemon::{self, DaemonError, Handle, MemoryStore, Settings};

pub use check::Verdict;
pub use fabric::{Fabric, FabricError, Shape};
pub use host::{Host, HostError, HostFaults, HostId};

/// The scripted mode's overall deadline: start, discovery, every step and the checks.
pub const SCRIPT_DEADLINE: Duration = Duration::from_secs(30);
/// The longest wait for discovery.
pub const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest wait for a graceful stop.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// What went wrong, with the step it happened in.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    #[error("{0}")]
    Daemon(#[from] DaemonError),
    #[error("{0}")]
    Fabric(#[from] FabricError),
    #[error("{0}")]
    Host(#[from] HostError),
    #[error("{step}: {source}")]
    Api {
        step: String,
        #[source]
        source: ClientError,
    },
    #[error("discovery did not finish within {after:?}: {seen}")]
    Discovery { after: Duration, seen: String },
    #[error("{0}")]
    Usage(String),
    #[error("did not finish within {after:?}; stuck at: {step}")]
    Deadline { after: Duration, step: String },
    #[error("delivery was not exact: {}", failures.join("; "))]
    Inexact { failures: Vec<String> },
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    #[error("signal handler: {0}")]
    Signal(std::io::Error),
    #[error("interrupted")]
    Interrupted,
}

/// How to run the demo.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// The tsmd HTTP API.
    pub api_listen: SocketAddr,
    /// Where the fabric's switches connect.
    pub openflow_listen: SocketAddr,
    /// The demo-only endpoints (`None`: not served).
    pub demo_listen: Option<SocketAddr>,
    pub shape: Shape,
    /// Deliberate host faults (tests prove the checks catch them).
    pub faults: BTreeMap<HostId, HostFaults>,
    /// tsmd's state directory (snapshots and the claim journal, as `tsmd run` keeps them);
    /// `None`: state in memory, gone with the process.
    pub state_dir: Option<std::path::PathBuf>,
}

impl Default for DemoConfig {
    /// The API on 127.0.0.1:8080, the demo endpoints on 127.0.0.1:8081, OpenFlow on any free
    /// loopback port, the default shape, no faults.
    fn default() -> DemoConfig {
        DemoConfig {
            api_listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            openflow_listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            demo_listen: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 8081))),
            shape: Shape::default(),
            faults: BTreeMap::new(),
            state_dir: None,
        }
    }
}

impl DemoConfig {
    /// For the scripted mode and tests: every listener on a free loopback port, no demo
    /// endpoints.
    pub fn ephemeral() -> DemoConfig {
        DemoConfig {
            api_listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            demo_listen: None,
            ..DemoConfig::default()
        }
    }
}

/// The daemon settings of the demo: the defaults, with discovery fast enough that the fabric
/// is known within a second or two.
pub fn settings(config: &DemoConfig) -> Settings {
    let mut s = Settings::default();
    s.openflow_listen = config.openflow_listen;
    s.api_listen = config.api_listen;
    s.lldp_interval = Duration::from_millis(1000);
    s.link_timeout = Duration::from_millis(3500);
    s.log_level = "warn".to_owned();
    s
}

/// An address a client can reach: the unspecified address becomes loopback.
fn reachable(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::from((Ipv4Addr::LOCALHOST, a.port())),
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, a.port()))
        }
        _ => a,
    }
}

/// What discovery found.
#[derive(Clone, Debug)]
pub struct Discovered {
    pub switches: usize,
    pub links: usize,
    /// Hosts with both their addresses known at the right port.
    pub hosts: usize,
    pub took: Duration,
}

/// The daemon and its fabric, running.
#[derive(Debug)]
pub struct Demo {
    handle: Handle,
    pub client: Client,
    pub fabric: Fabric,
    started: Instant,
}

impl Demo {
    /// Binds the listeners and starts the daemon and the fabric.
    pub async fn start(config: &DemoConfig) -> Result<Demo, DemoError> {
        let started = Instant::now();
        let of = daemon::bind("OpenFlow", config.openflow_listen)?;
        let http = daemon::bind("HTTP API", config.api_listen)?;
        Demo::start_on(config, of, http, started).await
    }

    async fn start_on(
        config: &DemoConfig,
        of: TcpListener,
        http: TcpListener,
        started: Instant,
    ) -> Result<Demo, DemoError> {
        let store: Box<dyn daemon::Store> = match &config.state_dir {
            Some(dir) => Box::new(daemon::FileStore::open(dir).map_err(DaemonError::from)?),
            None => Box::new(MemoryStore::new()),
        };
        let handle = daemon::start_with_store(settings(config), store, of, http).await?;
        let base = format!("http://{}", reachable(handle.http_addr()));
        let client = Client::new(&base).map_err(|source| DemoError::Api {
            step: "API client".to_owned(),
            source,
        })?;
        let target = format!("tcp:{}", reachable(handle.of_addr()));
        let fabric = Fabric::start(config.shape, &target, &config.faults)?;
        Ok(Demo {
            handle,
            client,
            fabric,
            started,
        })
    }

    /// The daemon.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The API's address as a client reaches it.
    pub fn api_addr(&self) -> SocketAddr {
        reachable(self.handle.http_addr())
    }

    /// Host `id`, or a usage error naming the hosts there are.
    pub fn host(&self, id: HostId) -> Result<&Host, DemoError> {
        self.fabric.host(id).ok_or_else(|| {
            DemoError::Usage(format!(
                "there is no host {id}: the hosts are h1..h{}",
                self.fabric.hosts.len()
            ))
        })
    }

    /// Waits until the API shows every switch connected, every link up and every host
    /// (IPv4 and IPv6 address) where it is attached. Hosts announce themselves again every
    /// 500 ms meanwhile, as hosts that talk would.
    pub async fn wait_discovered(&self, within: Duration) -> Result<Discovered, DemoError> {
        let deadline = Instant::now() + within;
        let mut next_announce = Instant::now();
        loop {
            if Instant::now() >= next_announce {
                for h in &self.fabric.hosts {
                    h.announce().await?;
                }
                next_announce = Instant::now() + Duration::from_millis(500);
            }
            let seen = self.discovery_state().await;
            if let Ok(d) = &seen {
                if d.complete {
                    return Ok(Discovered {
                        switches: d.switches,
                        links: d.links,
                        hosts: d.hosts,
                        took: self.started.elapsed(),
                    });
                }
            }
            if Instant::now() >= deadline {
                return Err(DemoError::Discovery {
                    after: within,
                    seen: match seen {
                        Ok(d) => d.summary,
                        Err(e) => format!("the API did not answer: {e}"),
                    },
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn discovery_state(&self) -> Result<DiscoveryState, ClientError> {
        let c = &self.client;
        let switches = c.switches().await?;
        let links = c.links().await?;
        let hosts = c.hosts().await?;
        let f = &self.fabric;
        let n_sw = switches
            .iter()
            .filter(|s| f.switches.contains_key(&s.dpid.0))
            .count();
        let up: BTreeSet<((u64, u32), (u64, u32))> = links
            .iter()
            .filter(|l| l.state == LinkState::Up)
            .flat_map(|l| {
                let (a, b) = ((l.a.dpid.0, l.a.port), (l.b.dpid.0, l.b.port));
                [(a, b), (b, a)]
            })
            .collect();
        let n_links = f.links.iter().filter(|l| up.contains(&(l.a, l.b))).count();
        let at = |ip: IpAddr, h: &Host| {
            hosts.iter().any(|x| {
                x.ip == ip
                    && x.mac.0 == h.id.mac().0
                    && x.dpid.0 == h.at.dpid
                    && x.port == h.at.port
            })
        };
        let missing: Vec<String> = f
            .hosts
            .iter()
            .filter(|h| !(at(IpAddr::V4(h.id.ipv4()), h) && at(IpAddr::V6(h.id.ipv6()), h)))
            .map(|h| h.id.to_string())
            .collect();
        let n_hosts = f.hosts.len() - missing.len();
        let complete = n_sw == f.switches.len() && n_links == f.links.len() && missing.is_empty();
        let mut summary = format!(
            "{n_sw}/{} switches, {n_links}/{} links, {n_hosts}/{} hosts",
            f.switches.len(),
            f.links.len(),
            f.hosts.len()
        );
        if !missing.is_empty() {
            let _ = write!(summary, " (missing {})", missing.join(" "));
        }
        Ok(DiscoveryState {
            switches: n_sw,
            links: n_links,
            hosts: n_hosts,
            complete,
            summary,
        })
    }

    /// Stops the fabric and the daemon (which saves nothing: the store is in memory).
    pub async fn shutdown(self) -> Result<(), DemoError> {
        let Demo { handle, fabric, .. } = self;
        // The daemon first, so it does not log every switch going away.
        let r = handle.shutdown().await;
        fabric.shutdown().await;
        r.map_err(DemoError::Daemon)
    }
}

struct DiscoveryState {
    switches: usize,
    links: usize,
    hosts: usize,
    complete: bool,
    summary: String,
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
async fn stop_signal() -> Result<(), DemoError> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(DemoError::Signal)?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.map_err(DemoError::Signal),
        _ = term.recv() => Ok(()),
    }
}

/// Shuts the demo down, bounded by [`SHUTDOWN_TIMEOUT`].
async fn stop(demo: Demo) -> Result<(), DemoError> {
    match tokio::time::timeout(SHUTDOWN_TIMEOUT, demo.shutdown()).await {
        Ok(r) => r,
        Err(_) => Err(DemoError::Deadline {
            after: SHUTDOWN_TIMEOUT,
            step: "shutting down".to_owned(),
        }),
    }
}

/// `tsmd demo --script`: starts everything, runs [`script::run`], stops everything; all
/// within `deadline` ([`SCRIPT_DEADLINE`] in the binary), or earlier if `stop_when`
/// resolves (Ctrl-C). Writes the transcript to `out`.
pub async fn run_script(
    config: &DemoConfig,
    deadline: Duration,
    out: &mut (dyn Write + Send),
    stop_when: impl std::future::Future<Output = Result<(), DemoError>>,
) -> Result<script::Summary, DemoError> {
    let until = Instant::now() + deadline;
    let demo = match tokio::time::timeout_at(until, Demo::start(config)).await {
        Ok(d) => d?,
        Err(_) => {
            return Err(DemoError::Deadline {
                after: deadline,
                step: "starting the daemon and the fabric".to_owned(),
            })
        }
    };
    let progress = script::Progress::default();
    let r = tokio::select! {
        r = tokio::time::timeout_at(until, script::run(&demo, out, &progress)) => match r {
            Ok(r) => r,
            Err(_) => Err(DemoError::Deadline {
                after: deadline,
                step: progress.step(),
            }),
        },
        r = stop_when => r.and(Err(DemoError::Interrupted)),
    };
    let stopped = stop(demo).await;
    let summary = r?;
    stopped?;
    Ok(summary)
}

/// `tsmd demo`: starts everything, waits for discovery, serves the demo endpoints, prints
/// what to try, and runs until `stop_when` resolves (Ctrl-C or SIGTERM in the binary).
pub async fn run_interactive(
    config: &DemoConfig,
    out: &mut (dyn Write + Send),
    stop_when: impl std::future::Future<Output = Result<(), DemoError>>,
) -> Result<(), DemoError> {
    // Bind everything first: a busy port is reported before anything starts.
    let web_listener = match config.demo_listen {
        Some(a) => Some(TcpListener::bind(a).await.map_err(|source| {
            DemoError::Daemon(DaemonError::Bind {
                what: "demo endpoints",
                addr: a,
                source,
            })
        })?),
        None => None,
    };
    let demo = Demo::start(config).await?;
    let sh = config.shape;
    writeln!(
        out,
        "tsmd demo: tsmd and {} switch-sim switches with {} simulated hosts in this process; waiting for discovery ...",
        sh.switches(),
        sh.hosts()
    )?;
    out.flush()?;
    tokio::pin!(stop_when);
    let ready = tokio::select! {
        r = demo.wait_discovered(DISCOVERY_TIMEOUT) => r.map(Some),
        r = &mut stop_when => r.map(|()| None),
    };
    let ready = match ready {
        Ok(Some(d)) => d,
        Ok(None) => {
            writeln!(out, "stopped before discovery finished")?;
            return stop(demo).await;
        }
        Err(e) => {
            let _ = stop(demo).await;
            return Err(e);
        }
    };
    let web = match web_listener {
        Some(l) => Some(web::serve(l, demo.fabric.hosts.clone())?),
        None => None,
    };
    let text = guide(&demo, &ready, web.as_ref().map(web::Web::addr));
    out.write_all(text.as_bytes())?;
    out.flush()?;
    let r = stop_when.await;
    writeln!(out, "stopping")?;
    if let Some(w) = web {
        w.shutdown().await;
    }
    let stopped = stop(demo).await;
    r?;
    stopped?;
    writeln!(out, "stopped")?;
    Ok(())
}

/// What the interactive demo prints once the fabric is known.
pub fn guide(demo: &Demo, d: &Discovered, web: Option<SocketAddr>) -> String {
    let api = demo.api_addr();
    let f = &demo.fabric;
    let sh = f.shape;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "ready: {} switches, {} links, {} hosts discovered in {:.1} s",
        d.switches,
        d.links,
        d.hosts,
        d.took.as_secs_f64()
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "  fabric   {} spines (dpid {}), {} leaves (dpid {:#x}..{:#x}), OpenFlow over loopback TCP to {}",
        sh.spines,
        (1..=sh.spines)
            .map(|n| format!("{:#x}", fabric::spine_dpid(n)))
            .collect::<Vec<_>>()
            .join(", "),
        sh.leaves,
        fabric::leaf_dpid(1),
        fabric::leaf_dpid(sh.leaves),
        reachable(demo.handle.of_addr()),
    );
    let per_leaf: Vec<String> = (1..=sh.leaves)
        .map(|l| {
            let hs: Vec<String> = f
                .hosts
                .iter()
                .filter(|h| h.at.leaf == l)
                .map(|h| h.id.to_string())
                .collect();
            format!("leaf {l}: {}", hs.join(" "))
        })
        .collect();
    let _ = writeln!(s, "  hosts    {}", per_leaf.join(" | "));
    let _ = writeln!(
        s,
        "           hN is 10.0.0.N and fd00::N (N in hex there and in its MAC: h12 is fd00::c, 02:00:00:00:00:0c)"
    );
    let _ = writeln!(
        s,
        "  API      http://{api}  (Swagger UI: http://{api}{})",
        api::DOCS_PATH
    );
    if let Some(w) = web {
        let _ = writeln!(
            s,
            "  demo     http://{w}/demo/...  (demo-only endpoints for the simulated hosts; not part of the tsmd API)"
        );
    }
    let members: Vec<HostId> = script::GROUP.iter().map(|n| HostId(*n)).collect();
    let subset: Vec<HostId> = script::SUBSET.iter().map(|n| HostId(*n)).collect();
    let ips = |v: &[HostId]| {
        v.iter()
            .map(|h| format!("\"{}\"", h.ipv4()))
            .collect::<Vec<_>>()
            .join(",")
    };
    let names = |v: &[HostId]| {
        v.iter()
            .map(|h| h.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let json = "-H 'content-type: application/json'";
    let _ = writeln!(s);
    let _ = writeln!(s, "Try (without jq, drop the \"| jq\"):");
    let _ = writeln!(s, "  curl -s {api}/v1/switches | jq");
    let _ = writeln!(s, "  curl -s {api}/v1/links | jq");
    let _ = writeln!(s, "  curl -s {api}/v1/hosts | jq");
    let _ = writeln!(
        s,
        "  # a negotiating group: {} (on leaves 1-3)",
        names(&members)
    );
    let _ = writeln!(
        s,
        "  curl -s -X PUT {api}/v1/groups/storage {json} -d '{{\"address\":\"{}\",\"members\":[{}]}}' | jq",
        script::GROUP_ADDR,
        ips(&members)
    );
    let _ = writeln!(
        s,
        "  # push a subset of 3 members; the answer names its address (the first is {})",
        script::FIRST_SUBSET_ADDR
    );
    let _ = writeln!(
        s,
        "  curl -s -X POST {api}/v1/groups/storage/subsets {json} -d '{{\"members\":[{}],\"lease_ms\":600000}}' | jq",
        ips(&subset)
    );
    let _ = writeln!(s, "  curl -s {api}/v1/subsets | jq");
    if let Some(w) = web {
        let _ = writeln!(
            s,
            "  # demo-only: send a UDP datagram from a simulated host; the answer says who received it"
        );
        let _ = writeln!(
            s,
            "  curl -s -X POST {w}/demo/send {json} -d '{{\"from\":\"h10\",\"to\":\"{}\"}}' | jq",
            script::FIRST_SUBSET_ADDR
        );
        let _ = writeln!(
            s,
            "  curl -s {w}/demo/received | jq      # every datagram each host received (DELETE clears)"
        );
        let _ = writeln!(s, "  curl -s {w}/demo/hosts | jq");
    }
    let _ = writeln!(
        s,
        "  curl -s -X DELETE {api}/v1/subsets/{}   # then send again: it reaches nobody",
        script::FIRST_SUBSET_ADDR
    );
    if let Some(leaf1) = f.listen_addr(fabric::leaf_dpid(1)) {
        let _ = writeln!(
            s,
            "  ovs-ofctl -O OpenFlow13 dump-flows tcp:{leaf1}   # leaf 1's flow table, if you have ovs-ofctl"
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "The operator CLI over the same API (cargo build -p tsm-agent; then target/debug/tsmctl):"
    );
    let _ = writeln!(s, "  tsmctl --url http://{api} switches");
    let _ = writeln!(s, "  tsmctl --url http://{api} hosts");
    let _ = writeln!(s, "  tsmctl --url http://{api} groups");
    let _ = writeln!(s, "  tsmctl --url http://{api} subsets");
    let _ = writeln!(
        s,
        "  tsmctl --url http://{api} rules {:016x}   # what tsmd installed on leaf 1",
        fabric::leaf_dpid(1)
    );
    let _ = writeln!(
        s,
        "  tsmctl --url http://{api} switches --json   # any list as JSON"
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "The scripted version of this: tsmd demo --script");
    let _ = writeln!(s, "Ctrl-C stops everything.");
    s
}

/// The `tsmd demo` subcommand with its arguments ([`DemoArgs`]).
pub fn subcommand() -> clap::Command {
    <DemoArgs as clap::Args>::augment_args(clap::Command::new("demo"))
        .about("Run the controller and an in-memory leaf-spine fabric (6 switches, 12 hosts) in this process: no root, no setup")
        .long_about(
            "Run the controller and an in-memory leaf-spine fabric in this process: 2 spines and \
             4 leaves of switch-sim software switches, connected to tsmd over loopback TCP with \
             OpenFlow 1.3, and 12 simulated hosts (h1..h12, 10.0.0.N). Once discovery is done \
             it prints what to try (curl lines) and runs until Ctrl-C. With --script it runs a \
             scripted tour and exits 0 only if every delivery was exact. No root, no setup.",
        )
}

/// The `tsmd demo` subcommand's arguments.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct DemoArgs {
    /// Run the scripted tour (group, subset, datagrams, delete) and exit: 0 only if every
    /// delivery was exact.
    #[arg(long)]
    pub script: bool,
    /// The tsmd HTTP API [default: 127.0.0.1:8080; with --script, a free port].
    #[arg(long, env = "TSMD_DEMO_HTTP", value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// The demo-only endpoints for the simulated hosts (/demo/send, /demo/received,
    /// /demo/hosts) [default: 127.0.0.1:8081; not served with --script].
    #[arg(long, env = "TSMD_DEMO_HOSTS_HTTP", value_name = "ADDR")]
    pub demo_http: Option<SocketAddr>,
    /// Where the fabric's switches connect [default: 127.0.0.1:0, a free port].
    #[arg(long, env = "TSMD_DEMO_OPENFLOW", value_name = "ADDR")]
    pub openflow: Option<SocketAddr>,
    /// Log filter in RUST_LOG syntax (RUST_LOG itself counts when this is not given)
    /// [default: warn].
    #[arg(long, env = "TSMD_LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,
    /// For tests of the checks: `deaf:hN` makes host hN drop what it receives.
    #[arg(long, hide = true, value_name = "FAULT")]
    pub fault: Vec<String>,
}

impl DemoArgs {
    /// The configuration these arguments give.
    pub fn config(&self) -> Result<DemoConfig, DemoError> {
        let mut c = if self.script {
            DemoConfig::ephemeral()
        } else {
            DemoConfig::default()
        };
        if let Some(a) = self.http {
            c.api_listen = a;
        }
        if let Some(a) = self.openflow {
            c.openflow_listen = a;
        }
        if let Some(a) = self.demo_http {
            if self.script {
                return Err(DemoError::Usage(
                    "--demo-http has no use with --script (the script sends itself)".to_owned(),
                ));
            }
            c.demo_listen = Some(a);
        }
        for f in &self.fault {
            let (kind, host) = f.split_once(':').unwrap_or((f.as_str(), ""));
            let id: HostId = host
                .parse()
                .map_err(|e| DemoError::Usage(format!("--fault {f:?}: {e}")))?;
            match kind {
                "deaf" => c.faults.entry(id).or_default().deaf = true,
                _ => {
                    return Err(DemoError::Usage(format!(
                        "--fault {f:?}: unknown fault {kind:?} (known: deaf:hN)"
                    )))
                }
            }
        }
        Ok(c)
    }
}

/// `tsmd demo [--script]`: the whole subcommand. Exit 0 on success (the script: every
/// delivery exact; interactive: a clean stop), 1 otherwise with the reason on stderr.
pub fn main(args: &DemoArgs) -> ExitCode {
    let config = match args.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tsmd demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let level = args
        .log_level
        .clone()
        .or_else(|| std::env::var("RUST_LOG").ok().filter(|s| !s.is_empty()))
        // At shutdown the switches stop one after another, and each that is still running
        // warns that a neighbour's end of a link went away: expected here, so not shown.
        .unwrap_or_else(|| "warn,switch_sim::switch::core=error".to_owned());
    if let Err(e) = daemon::logging::init(daemon::LogFormat::Text, &level) {
        eprintln!("tsmd demo: {e}");
        return ExitCode::FAILURE;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tsmd demo: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout();
    let r = rt.block_on(async {
        if args.script {
            run_script(&config, SCRIPT_DEADLINE, &mut out, stop_signal())
                .await
                .map(|_| ())
        } else {
            run_interactive(&config, &mut out, stop_signal()).await
        }
    });
    let _ = out.flush();
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tsmd demo: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
