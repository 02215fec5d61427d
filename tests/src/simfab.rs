//! [`SimFabric`]: the fabrics of [`crate::OvsFabric`], with every switch a `switch-sim`
//! process instead of an Open vSwitch bridge.
//!
//! Layout (the same as [`crate::OvsFabric`], so the same traffic, probe and end-to-end code
//! runs on it through [`DataPlane`]):
//! - a private namespace `tsmt-<pid>-<n>` (IPv6 off, so the switch-side veth ends send
//!   nothing of their own) holds every switch-side veth end and runs one `switch-sim` process
//!   per switch, started with `ip netns exec` (which execs it, so the child's pid is the
//!   switch's): `switch-sim --dpid N --listen ptcp:PORT:127.0.0.1 --port P=sN-ethP ...
//!   --max-backoff 1 [--controller TARGET]`. Switch `sN` listens on `127.0.0.1:` +
//!   [`SimOptions::listen_base`] + `N - 1` inside the private namespace; `ovs-ofctl` reaches
//!   it there ([`DataPlane::ofctl_with`]) and so can a later test that reads counters;
//! - hosts `hK` are namespaces whose `eth0` is one end of a veth pair, the other end `sX-ethP`
//!   being OpenFlow port P of switch sX; inter-switch links are veth pairs inside the private
//!   namespace. Numbering and addresses are [`crate::topology`]'s.
//!
//! Each switch is fail-secure (it forwards nothing until rules are installed), keeps its tables
//! while its controller is away and reconnects to it every second. Its BIER capability is on
//! (switch-sim's default). Its stderr (`RUST_LOG` = [`SimOptions::log_filter`]) goes to
//! `<dir>/<switch>.<k>.log` for its k-th start; a switch stopped with SIGTERM logs its port
//! counters there on the way out.
//!
//! The `switch-sim` binary comes from [`SimOptions::binary`], else `$SWITCH_SIM_BIN`, else from
//! the target directory of the profile the running test was built with: used as it is when it
//! is newer than every source file cargo's dep-info lists for it, otherwise (re)built once per
//! process with `cargo build -p switch-sim --bin switch-sim` (integration tests of another
//! package get no `CARGO_BIN_EXE_` path for it).
//!
//! Drop (also while a failed test unwinds) stops the switches by pid (SIGTERM to all, then
//! SIGKILL to any that lingers), deletes the host and private namespaces (which destroys every
//! veth) and removes the private directory.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cmd;
use crate::dataplane::DataPlane;
use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::ovs::{cabled_namespaces, parse_dump_ports, wait_operstate, Daemon, PrivateDir};
use crate::topology::{Host, Topology, TopologySpec};
use crate::traffic::HostNs;
use crate::PortCounters;

/// How to build a [`SimFabric`].
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Controller target for every switch (`tcp:127.0.0.1:PORT` inside the private
    /// namespace), or none. Also settable later with [`DataPlane::set_controller`].
    pub controller: Option<String>,
    /// switch-sim's reconnection backoff cap in seconds (`--max-backoff`); its default is 8,
    /// tests that restart the controller want 1 (the first retry waits 1 s anyway).
    pub max_backoff_secs: u32,
    /// Switch `sN` listens on `127.0.0.1:(listen_base + N - 1)` in the private namespace.
    pub listen_base: u16,
    /// `RUST_LOG` for the switches.
    pub log_filter: String,
    /// The `switch-sim` binary; `None`: `$SWITCH_SIM_BIN`, else built (see the module header).
    pub binary: Option<PathBuf>,
    /// How long to wait for links and for each switch to listen.
    pub timeout: Duration,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            controller: None,
            max_backoff_secs: 1,
            listen_base: 6634,
            log_filter: "info".into(),
            binary: None,
            timeout: Duration::from_secs(20),
        }
    }
}

/// One switch of a [`SimFabric`], as [`SimFabric::switches`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSwitch {
    /// `sN`.
    pub name: String,
    /// Its datapath id (N).
    pub dpid: u64,
    /// Its passive OpenFlow listener, inside the private namespace (`ptcp:PORT:127.0.0.1`).
    pub listen: SocketAddr,
    /// Its OpenFlow ports: number and the switch-side veth end in the private namespace.
    pub ports: Vec<(u32, String)>,
    /// The pid of its `switch-sim` process while it runs.
    pub pid: Option<u32>,
    /// The stderr log of its current (or last) process.
    pub log: PathBuf,
    /// How many times its process was started.
    pub starts: u32,
}

/// The running state of one switch.
#[derive(Debug)]
struct Proc {
    info: SimSwitch,
    controller: Option<String>,
    daemon: Option<Daemon>,
}

/// A running switch-sim fabric. See the module header for what it is made of.
#[derive(Debug)]
pub struct SimFabric {
    topology: Topology,
    opts: SimOptions,
    binary: PathBuf,
    // Fields drop in declaration order: the switches stop first, then the namespaces go
    // (destroying the veths), then the directory.
    switches: Mutex<Vec<Proc>>,
    hosts: Vec<Netns>,
    private: Netns,
    dir: PrivateDir,
}

impl SimFabric {
    /// Builds `spec` with default options (no controller).
    pub fn new(spec: &TopologySpec) -> Result<SimFabric> {
        SimFabric::with_options(spec, &SimOptions::default())
    }

    /// Builds `spec` and waits until every switch listens. On error, whatever was already
    /// made is torn down before returning.
    pub fn with_options(spec: &TopologySpec, opts: &SimOptions) -> Result<SimFabric> {
        let topology = spec.layout()?;
        let binary = match &opts.binary {
            Some(b) => b.clone(),
            None => switch_sim_binary()?,
        };
        let n = topology.switches.len();
        if usize::from(opts.listen_base) + n > usize::from(u16::MAX) {
            return Err(Error::BadTopology {
                name: topology.name.clone(),
                reason: format!(
                    "listen ports {}+{n} do not fit in 16 bits",
                    opts.listen_base
                ),
            });
        }
        // Locals drop in reverse order on an early return, which is the teardown order.
        let (dir, private, hosts) = cabled_namespaces(&topology, opts.timeout)?;

        let procs = topology
            .switches
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut ports: Vec<(u32, String)> = topology
                    .links
                    .iter()
                    .flat_map(|l| [&l.a, &l.b])
                    .chain(topology.hosts.iter().map(|h| &h.attach))
                    .filter(|e| e.switch == s.name)
                    .map(|e| (e.port, e.ifname.clone()))
                    .collect();
                ports.sort();
                Proc {
                    info: SimSwitch {
                        name: s.name.clone(),
                        dpid: s.dpid,
                        listen: SocketAddr::new(
                            IpAddr::V4(Ipv4Addr::LOCALHOST),
                            opts.listen_base + i as u16,
                        ),
                        ports,
                        pid: None,
                        log: dir.path.join(format!("{}.0.log", s.name)),
                        starts: 0,
                    },
                    controller: opts.controller.clone(),
                    daemon: None,
                }
            })
            .collect();
        let fabric = SimFabric {
            topology,
            opts: opts.clone(),
            binary,
            switches: Mutex::new(procs),
            hosts,
            private,
            dir,
        };
        {
            let mut procs = fabric.procs();
            let all: Vec<usize> = (0..procs.len()).collect();
            fabric.start(&mut procs, &all)?;
        }
        Ok(fabric)
    }

    fn procs(&self) -> MutexGuard<'_, Vec<Proc>> {
        // A panic while the lock was held left the list consistent (every change is one
        // assignment), so a poisoned lock is still usable.
        self.switches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn index(&self, switch: &str) -> Result<usize> {
        self.topology
            .switches
            .iter()
            .position(|s| s.name == switch)
            .ok_or_else(|| Error::UnknownSwitch(switch.to_owned()))
    }

    /// Starts the processes of switches `which` (not running) and waits until each listens.
    fn start(&self, procs: &mut [Proc], which: &[usize]) -> Result<()> {
        for &i in which {
            let p = &mut procs[i];
            if p.daemon.is_some() {
                continue;
            }
            p.info.starts += 1;
            p.info.log = self
                .dir
                .path
                .join(format!("{}.{}.log", p.info.name, p.info.starts));
            let mut c = self.private.command(&self.binary.to_string_lossy());
            c.env("RUST_LOG", &self.opts.log_filter)
                .arg("--dpid")
                .arg(p.info.dpid.to_string())
                .arg("--listen")
                .arg(format!("ptcp:{}:127.0.0.1", p.info.listen.port()))
                .arg("--max-backoff")
                .arg(self.opts.max_backoff_secs.max(1).to_string());
            if let Some(t) = &p.controller {
                c.arg("--controller").arg(t);
            }
            for (no, ifname) in &p.info.ports {
                c.arg("--port").arg(format!("{no}={ifname}"));
            }
            let daemon = Daemon::spawn("switch-sim", &mut c, &p.info.log.to_string_lossy())?;
            p.info.pid = Some(daemon.child.id());
            p.daemon = Some(daemon);
        }
        self.wait_listening(procs, which)
    }

    /// Polls until each of `which` accepts a TCP connection on its listener (the switch
    /// binds its listeners after opening every port, so its ports are open then too). A
    /// process that exits meanwhile fails at once with the end of its log.
    fn wait_listening(&self, procs: &mut [Proc], which: &[usize]) -> Result<()> {
        let mut pending: Vec<usize> = which.to_vec();
        let start = Instant::now();
        while !pending.is_empty() {
            for &i in &pending {
                let p = &mut procs[i];
                let exited = match p.daemon.as_mut() {
                    Some(d) => d
                        .child
                        .try_wait()
                        .map_err(|e| Error::io(format!("waiting for {}", p.info.name), e))?,
                    None => continue,
                };
                if let Some(status) = exited {
                    p.daemon = None;
                    p.info.pid = None;
                    return Err(Error::Command {
                        command: format!(
                            "switch-sim for {} ({})",
                            p.info.name,
                            self.binary.display()
                        ),
                        status: status.to_string(),
                        stderr: log_tail(&p.info.log),
                    });
                }
            }
            let addrs: Vec<SocketAddr> = pending.iter().map(|&i| procs[i].info.listen).collect();
            let up: Vec<bool> = self.private.run(move || {
                addrs
                    .iter()
                    .map(|a| TcpStream::connect_timeout(a, Duration::from_millis(200)).is_ok())
                    .collect()
            })?;
            pending = pending
                .iter()
                .zip(up)
                .filter(|(_, up)| !up)
                .map(|(&i, _)| i)
                .collect();
            if pending.is_empty() {
                break;
            }
            if start.elapsed() > self.opts.timeout {
                let names: Vec<&str> = pending
                    .iter()
                    .map(|&i| procs[i].info.name.as_str())
                    .collect();
                return Err(Error::Timeout {
                    what: format!("switch-sim listeners of {}", names.join(", ")),
                    waited: self.opts.timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Stops the processes of switches `which`: SIGTERM to all first, then each is waited
    /// for (SIGKILL after 3 s).
    fn stop(procs: &mut [Proc], which: &[usize]) {
        for &i in which {
            if let Some(d) = &procs[i].daemon {
                let _ = kill(Pid::from_raw(d.child.id() as i32), Signal::SIGTERM);
            }
        }
        for &i in which {
            if let Some(mut d) = procs[i].daemon.take() {
                d.stop();
            }
            procs[i].info.pid = None;
        }
    }

    /// Every switch: name, dpid, listener, ports, pid, log.
    pub fn switches(&self) -> Vec<SimSwitch> {
        self.procs().iter().map(|p| p.info.clone()).collect()
    }

    /// Switch `name`'s current state.
    pub fn switch(&self, name: &str) -> Result<SimSwitch> {
        let i = self.index(name)?;
        Ok(self.procs()[i].info.clone())
    }

    /// Pids of the running `switch-sim` processes.
    pub fn pids(&self) -> Vec<u32> {
        self.procs().iter().filter_map(|p| p.info.pid).collect()
    }

    /// `tcp:127.0.0.1:PORT`: switch `name`'s listener as an `ovs-ofctl` target (to be used
    /// inside [`DataPlane::netns`], e.g. `fabric.netns().exec("ovs-ofctl", ...)`).
    pub fn ofctl_target(&self, name: &str) -> Result<String> {
        let s = self.switch(name)?;
        Ok(format!("tcp:{}", s.listen))
    }

    /// A TCP connection to switch `name`'s listener, made inside the private namespace (usable
    /// from any thread): an OpenFlow channel for a test's own client.
    pub fn connect(&self, name: &str) -> Result<TcpStream> {
        let addr = self.switch(name)?.listen;
        self.private
            .run(move || TcpStream::connect(addr))?
            .map_err(|e| Error::io(format!("connecting to {name}'s listener {addr}"), e))
    }

    /// The `switch-sim` binary in use.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Stops switch `name`'s process (SIGTERM; its tables are gone). Its veth ends stay up,
    /// so the hosts and neighbours see no carrier change; its controller sees the channel
    /// close.
    pub fn stop_switch(&self, name: &str) -> Result<()> {
        let i = self.index(name)?;
        SimFabric::stop(&mut self.procs(), &[i]);
        Ok(())
    }

    /// Starts switch `name`'s process again (empty tables, the current controller target)
    /// and waits until it listens. Nothing happens if it runs.
    pub fn start_switch(&self, name: &str) -> Result<()> {
        let i = self.index(name)?;
        self.start(&mut self.procs(), &[i])
    }

    /// [`SimFabric::stop_switch`] then [`SimFabric::start_switch`]: the switch comes back
    /// with empty tables and connects to its controller within about a second.
    pub fn restart_switch(&self, name: &str) -> Result<()> {
        let i = self.index(name)?;
        let mut procs = self.procs();
        SimFabric::stop(&mut procs, &[i]);
        self.start(&mut procs, &[i])
    }

    /// Host `name`'s namespace.
    pub fn host_netns(&self, name: &str) -> Result<&Netns> {
        let i = self
            .topology
            .hosts
            .iter()
            .position(|h| h.name == name)
            .ok_or_else(|| Error::UnknownHost(name.to_owned()))?;
        Ok(&self.hosts[i])
    }

    /// Host `name` with its namespace.
    pub fn host_ns(&self, name: &str) -> Result<HostNs<'_>> {
        Ok(HostNs {
            info: self.topology.host(name)?,
            netns: self.host_netns(name)?,
        })
    }

    /// Names of every namespace the fabric made (private first, then hosts in order).
    pub fn namespace_names(&self) -> Vec<String> {
        std::iter::once(&self.private)
            .chain(&self.hosts)
            .map(|n| n.name().to_owned())
            .collect()
    }

    /// Per-port packet counters of `switch` (`ovs-ofctl dump-ports` through its listener).
    pub fn port_counters(&self, switch: &str) -> Result<Vec<PortCounters>> {
        parse_dump_ports(&self.ofctl_with(&["--no-names"], "dump-ports", switch, &[])?)
    }

    /// Takes host `name`'s cable down or up (the switch-side veth end); returns once the
    /// kernel reports the new state on both ends.
    pub fn set_host_link_up(&self, name: &str, up: bool) -> Result<()> {
        let host: &Host = self.topology.host(name)?;
        let state = if up { "up" } else { "down" };
        self.private
            .ip(&["link", "set", &host.attach.ifname, state])?;
        wait_operstate(&self.private, &[&host.attach.ifname], up, LINK_TIMEOUT)?;
        wait_operstate(self.host_netns(name)?, &["eth0"], up, LINK_TIMEOUT)
    }
}

/// How long link state changes may take to show.
const LINK_TIMEOUT: Duration = Duration::from_secs(5);

impl DataPlane for SimFabric {
    fn check_environment() -> std::result::Result<(), String> {
        if !nix::unistd::Uid::effective().is_root() {
            return Err("the switch-sim fabric needs root (network namespaces, veths)".into());
        }
        for program in ["ip", "ovs-ofctl"] {
            let found = std::env::var_os("PATH").is_some_and(|path| {
                std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
            });
            if !found {
                return Err(format!(
                    "`{program}` not found: install iproute2 and openvswitch-common \
                     (scripts/test does)"
                ));
            }
        }
        Ok(())
    }

    fn build(spec: &TopologySpec) -> Result<Self> {
        SimFabric::new(spec)
    }

    fn kind(&self) -> &'static str {
        "switch-sim"
    }

    fn topology(&self) -> &Topology {
        &self.topology
    }

    fn netns(&self) -> &Netns {
        &self.private
    }

    fn dir(&self) -> &Path {
        &self.dir.path
    }

    fn host_namespaces(&self) -> Vec<HostNs<'_>> {
        self.topology
            .hosts
            .iter()
            .zip(&self.hosts)
            .map(|(info, netns)| HostNs { info, netns })
            .collect()
    }

    /// switch-sim takes its controllers on the command line: every switch is restarted with
    /// the new target (losing its tables, as a bridge's first controller does on OVS).
    fn set_controller(&self, target: Option<&str>) -> Result<()> {
        let mut procs = self.procs();
        let all: Vec<usize> = (0..procs.len()).collect();
        SimFabric::stop(&mut procs, &all);
        for p in procs.iter_mut() {
            p.controller = target.map(str::to_owned);
        }
        self.start(&mut procs, &all)
    }

    fn ofctl_with(
        &self,
        options: &[&str],
        command: &str,
        switch: &str,
        args: &[&str],
    ) -> Result<String> {
        let target = self.ofctl_target(switch)?;
        cmd::run(
            self.private
                .command("ovs-ofctl")
                .args(["-O", "OpenFlow13", "--timeout=10"])
                .args(options)
                .args([command, &target])
                .args(args),
        )
    }

    fn set_link_up(&self, index: usize, up: bool) -> Result<()> {
        let link = self.topology.links.get(index).ok_or(Error::UnknownLink {
            index,
            count: self.topology.links.len(),
        })?;
        let state = if up { "up" } else { "down" };
        self.private.ip_batch(&[
            format!("link set {} {state}", link.a.ifname),
            format!("link set {} {state}", link.b.ifname),
        ])?;
        wait_operstate(
            &self.private,
            &[&link.a.ifname, &link.b.ifname],
            up,
            LINK_TIMEOUT,
        )
    }

    /// switch-sim applies each rule change before it answers the next request (its barrier
    /// reply follows the change): nothing to wait for.
    fn settle(&self) -> Result<()> {
        Ok(())
    }
}

/// The last lines of a log file, for an error message.
fn log_tail(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(20);
            format!("{}:\n{}", path.display(), lines[from..].join("\n"))
        }
        Err(e) => format!("cannot read {}: {e}", path.display()),
    }
}

/// The `switch-sim` binary: `$SWITCH_SIM_BIN`, else built once per process (see the module
/// header). The answer (or the error) is kept for the process's lifetime.
pub fn switch_sim_binary() -> Result<PathBuf> {
    static BINARY: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    BINARY
        .get_or_init(|| locate_or_build().map_err(|e| e.to_string()))
        .clone()
        .map_err(|stderr| Error::Command {
            command: "locating or building switch-sim".into(),
            status: "failed".into(),
            stderr,
        })
}

fn locate_or_build() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("SWITCH_SIM_BIN") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Error::io(
                format!("SWITCH_SIM_BIN={}", p.display()),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ))
        };
    }
    // A test runs from <target>/<profile>/deps/, a binary of this crate from
    // <target>/<profile>/: the profile directory is where cargo puts switch-sim too.
    let exe = std::env::current_exe().map_err(|e| Error::io("finding this executable", e))?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    let profile = match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_owned(),
        Some(other) => other.to_owned(),
        None => {
            return Err(Error::io(
                format!("no profile directory above {}", exe.display()),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ))
        }
    };
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin = dir.join("switch-sim");
    if is_fresh(&bin, &workspace) {
        return Ok(bin);
    }
    let manifest = workspace.join("Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    cmd::run(
        Command::new(cargo)
            .arg("build")
            .arg("--quiet")
            .arg("--manifest-path")
            .arg(&manifest)
            .args([
                "-p",
                "switch-sim",
                "--bin",
                "switch-sim",
                "--profile",
                &profile,
            ]),
    )?;
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(Error::io(
            format!(
                "cargo built switch-sim but {} is missing (set SWITCH_SIM_BIN)",
                bin.display()
            ),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ))
    }
}

impl Drop for SimFabric {
    fn drop(&mut self) {
        let procs = self
            .switches
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let all: Vec<usize> = (0..procs.len()).collect();
        SimFabric::stop(procs, &all);
    }
}

/// Whether `bin` is newer than what cargo would rebuild it for: every source file its
/// dep-info (`<bin>.d`, written by cargo next to it) lists, and switch-sim's manifest. Cargo
/// decides freshness of path dependencies by the same mtimes; asking it costs a wait for its
/// build lock whenever another build runs. The workspace's lock file is left out: other
/// crates' dependency changes touch it without changing switch-sim (a new version of one of
/// switch-sim's own dependencies goes unnoticed until a source of it changes).
fn is_fresh(bin: &Path, workspace: &Path) -> bool {
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let Some(built) = mtime(bin) else {
        return false;
    };
    let Ok(depinfo) = std::fs::read_to_string(bin.with_extension("d")) else {
        return false;
    };
    // `target: dep dep ...`, spaces inside a path escaped as `\ `.
    let Some((_, deps)) = depinfo.split_once(": ") else {
        return false;
    };
    let mut inputs: Vec<PathBuf> = deps
        .replace("\\ ", "\u{0}")
        .split_whitespace()
        .map(|d| PathBuf::from(d.replace('\u{0}', " ")))
        .collect();
    if inputs.is_empty() {
        return false;
    }
    inputs.push(workspace.join("switch-sim/Cargo.toml"));
    inputs.iter().all(|p| mtime(p).is_some_and(|m| m <= built))
}
