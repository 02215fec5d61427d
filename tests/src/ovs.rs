//! [`OvsFabric`]: real Open vSwitch bridges (userspace datapath) in a private network
//! namespace, hosts as further namespaces on veth pairs.
//!
//! Layout of one fabric (all names unique per fabric, see [`crate::netns`]):
//! - a private namespace `tsmt-<pid>-<n>` runs this fabric's own `ovsdb-server` and
//!   `ovs-vswitchd` (`datapath_type=netdev`), with `OVS_RUNDIR`/`OVS_LOGDIR`/`OVS_DBDIR`/
//!   `OVS_SYSCONFDIR` set to a private directory `$TMPDIR/tsmt-<pid>-<n>` for these processes
//!   only, never the system's. Two userspace vswitchd in one namespace collide (each makes a
//!   tap `ovs-netdev`), hence the namespace. IPv6 is off in it, so the switch-side veth ends
//!   send nothing of their own.
//! - each host `hK` is a namespace `tsmt-<pid>-<n>-hK` whose `eth0` is one end of a veth pair;
//!   the other end `sX-ethP` sits in the private namespace as OpenFlow port P of bridge sX;
//! - inter-switch links are veth pairs with both ends in the private namespace;
//! - bridges: `protocols=OpenFlow13 fail_mode=secure other-config:disable-in-band=true`,
//!   `other-config:datapath-id` set to the switch number, ports pinned with `ofport_request`.
//!   So a bridge forwards nothing until a controller or `ovs-ofctl` installs flows.
//! - `other_config:userspace-tso-enable=true`: without it, UDP datagrams between hosts arrive
//!   with a wrong checksum and the receiving kernel drops them (the sender's veth leaves the
//!   checksum to an offload that the userspace datapath never performs; `InCsumErrors` counts
//!   them). With it, OVS carries the offload metadata through and the receiver accepts them.
//!
//! A controller reaches the switches only inside the private namespace: `tcp:127.0.0.1:PORT`
//! means the controller must listen there ([`OvsFabric::listen_tcp`], or a process started
//! with [`OvsFabric::netns`]`.command(..)`). A `unix:PATH` target is namespace-independent.
//!
//! Drop (also while a failed test unwinds) stops the daemons by their pids, deletes the host
//! and private namespaces (which destroys every veth) and removes the private directory.
//!
//! [`OvsFabric`] implements [`crate::DataPlane`], as [`crate::SimFabric`] does with
//! `switch-sim` processes in the same layout.

use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cmd;
use crate::error::{Error, Result};
use crate::netns::{unique_name, Netns};
use crate::topology::{Host, Link, Topology, TopologySpec};
use crate::traffic::{Collect, Delivery, Probe};

/// The OVSDB schema shipped with `openvswitch-switch`.
const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// How to build a fabric.
#[derive(Debug, Clone)]
pub struct FabricOptions {
    /// Controller target for every bridge (`tcp:127.0.0.1:6653` inside the private namespace,
    /// or `unix:/path`), or none (flows come from `ovs-ofctl`). Also settable later with
    /// [`OvsFabric::set_controller`].
    pub controller: Option<String>,
    /// OVS's reconnection backoff cap in milliseconds (`Controller:max_backoff`). OVS's
    /// default is 8000; tests that restart the controller want the minimum, 1000.
    pub max_backoff_ms: u32,
    /// How long to wait for the daemons and the bridge configuration.
    pub timeout: Duration,
}

impl Default for FabricOptions {
    fn default() -> Self {
        FabricOptions {
            controller: None,
            max_backoff_ms: 1000,
            timeout: Duration::from_secs(20),
        }
    }
}

/// Counters of one port (`ovs-ofctl dump-ports`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortCounters {
    /// OpenFlow port number.
    pub port: u32,
    /// Packets received on the port.
    pub rx_packets: u64,
    /// Packets sent out of the port.
    pub tx_packets: u64,
}

/// A running OVS fabric. See the module header for what it is made of.
#[derive(Debug)]
pub struct OvsFabric {
    topology: Topology,
    max_backoff_ms: u32,
    // Fields drop in declaration order: the daemons stop first, then the namespaces go
    // (destroying the veths), then the directory.
    daemons: Vec<Daemon>,
    hosts: Vec<Netns>,
    private: Netns,
    dir: PrivateDir,
}

impl OvsFabric {
    /// Builds `spec` with default options (no controller).
    pub fn new(spec: &TopologySpec) -> Result<OvsFabric> {
        OvsFabric::with_options(spec, &FabricOptions::default())
    }

    /// Builds `spec`. On error, whatever was already made is torn down before returning.
    pub fn with_options(spec: &TopologySpec, opts: &FabricOptions) -> Result<OvsFabric> {
        let topology = spec.layout()?;
        // Locals drop in reverse order on an early return, which is the teardown order.
        let (dir, private, hosts) = cabled_namespaces(&topology, opts.timeout)?;

        let mut daemons = Vec::new();
        let ovs = OvsEnv {
            dir: dir.path.clone(),
        };
        cmd::run(Command::new("ovsdb-tool").args(["create", &ovs.file("conf.db"), SCHEMA]))?;
        daemons.push(Daemon::spawn(
            "ovsdb-server",
            ovs.command(private.command("ovsdb-server")).args([
                format!("--remote=punix:{}", ovs.file("db.sock")),
                format!("--pidfile={}", ovs.file("ovsdb.pid")),
                format!("--log-file={}", ovs.file("ovsdb.log")),
                format!("--unixctl={}", ovs.file("ovsdb.ctl")),
                ovs.file("conf.db"),
            ]),
            &ovs.file("ovsdb.stderr"),
        )?);
        // ovs-vsctl's own --retry sleeps a whole second; the server listens within
        // milliseconds.
        let timeout_arg = format!("--timeout={}", opts.timeout.as_secs().max(1));
        cmd::retry(opts.timeout, || {
            cmd::run(ovs.vsctl().args([
                &timeout_arg,
                "--no-wait",
                "init",
                "--",
                "set",
                "Open_vSwitch",
                ".",
                "other_config:userspace-tso-enable=true",
            ]))
        })?;
        daemons.push(Daemon::spawn(
            "ovs-vswitchd",
            ovs.command(private.command("ovs-vswitchd")).args([
                format!("unix:{}", ovs.file("db.sock")),
                format!("--pidfile={}", ovs.file("vswitchd.pid")),
                format!("--log-file={}", ovs.file("vswitchd.log")),
                format!("--unixctl={}", ovs.file("vswitchd.ctl")),
            ]),
            &ovs.file("vswitchd.stderr"),
        )?);

        let fabric = OvsFabric {
            topology,
            max_backoff_ms: opts.max_backoff_ms,
            daemons,
            hosts,
            private,
            dir,
        };
        fabric.add_bridges(opts)?;
        fabric.check_ports()?;
        Ok(fabric)
    }

    /// One `ovs-vsctl` transaction for every bridge, port and controller; without `--no-wait`
    /// it returns once ovs-vswitchd has applied it.
    fn add_bridges(&self, opts: &FabricOptions) -> Result<()> {
        let mut args: Vec<String> = vec![format!("--timeout={}", opts.timeout.as_secs().max(1))];
        let mut push = |words: &[&str]| {
            args.push("--".into());
            args.extend(words.iter().map(|w| (*w).to_owned()));
        };
        for s in &self.topology.switches {
            let dpid = format!("other-config:datapath-id={:016x}", s.dpid);
            push(&["add-br", &s.name]);
            push(&[
                "set",
                "bridge",
                &s.name,
                "datapath_type=netdev",
                "protocols=OpenFlow13",
                "fail_mode=secure",
                "other-config:disable-in-band=true",
                &dpid,
            ]);
        }
        let ends = self
            .topology
            .links
            .iter()
            .flat_map(|l| [&l.a, &l.b])
            .chain(self.topology.hosts.iter().map(|h| &h.attach));
        for e in ends {
            let ofport = format!("ofport_request={}", e.port);
            push(&["add-port", &e.switch, &e.ifname]);
            push(&["set", "interface", &e.ifname, &ofport]);
        }
        if let Some(target) = &opts.controller {
            args.extend(self.controller_args(Some(target)));
        }
        // The first word is "--timeout", not a "--" separator.
        cmd::run(self.vsctl().args(&args))?;
        Ok(())
    }

    /// Checks every port got the OpenFlow number asked for and no interface has an error.
    fn check_ports(&self) -> Result<()> {
        let out = cmd::run(self.vsctl().args([
            "--format=csv",
            "--data=bare",
            "--no-headings",
            "--columns=name,ofport,error",
            "list",
            "Interface",
        ]))?;
        let mut got = std::collections::HashMap::new();
        for line in out.lines() {
            let mut cols = line.splitn(3, ',');
            let (Some(name), Some(ofport), err) = (cols.next(), cols.next(), cols.next()) else {
                return Err(Error::Parse {
                    what: "interface list".into(),
                    text: line.into(),
                });
            };
            if let Some(err) = err.filter(|e| !e.trim().trim_matches('"').is_empty()) {
                return Err(Error::BadTopology {
                    name: self.topology.name.clone(),
                    reason: format!("interface {name}: {err}"),
                });
            }
            got.insert(name.to_owned(), ofport.to_owned());
        }
        let ends = self
            .topology
            .links
            .iter()
            .flat_map(|l| [&l.a, &l.b])
            .chain(self.topology.hosts.iter().map(|h| &h.attach));
        for e in ends {
            let want = e.port.to_string();
            if got.get(&e.ifname) != Some(&want) {
                return Err(Error::BadTopology {
                    name: self.topology.name.clone(),
                    reason: format!(
                        "interface {} has ofport {:?}, wanted {want}",
                        e.ifname,
                        got.get(&e.ifname)
                    ),
                });
            }
        }
        Ok(())
    }

    /// `ovs-vsctl` arguments that give every bridge its own Controller row for `target` (or
    /// none), with this fabric's backoff cap.
    fn controller_args(&self, target: Option<&str>) -> Vec<String> {
        let mut args = Vec::new();
        for (i, s) in self.topology.switches.iter().enumerate() {
            match target {
                Some(t) => {
                    let id = format!("@c{i}");
                    args.extend([
                        "--".into(),
                        format!("--id={id}"),
                        "create".into(),
                        "Controller".into(),
                        format!("target=\"{t}\""),
                        format!("max_backoff={}", self.max_backoff_ms),
                        "--".into(),
                        "set".into(),
                        "bridge".into(),
                        s.name.clone(),
                        format!("controller={id}"),
                    ]);
                }
                None => args.extend(["--".into(), "del-controller".into(), s.name.clone()]),
            }
        }
        args
    }

    /// Points every bridge at `target` (`tcp:127.0.0.1:PORT`, `unix:PATH`), or at none.
    /// Setting a controller for the first time makes OVS delete all flows and groups.
    pub fn set_controller(&self, target: Option<&str>) -> Result<()> {
        let mut args = vec!["--timeout=20".to_owned()];
        args.extend(self.controller_args(target));
        cmd::run(self.vsctl().args(&args))?;
        Ok(())
    }

    /// How many bridges' controller connections OVS reports as connected.
    pub fn connected_switches(&self) -> Result<usize> {
        let out = cmd::run(self.vsctl().args([
            "--format=csv",
            "--data=bare",
            "--no-headings",
            "--columns=is_connected",
            "list",
            "Controller",
        ]))?;
        Ok(out.lines().filter(|l| l.trim() == "true").count())
    }

    /// Waits until every bridge reports its controller connection up (OVS updates this
    /// status within about a second of a change).
    pub fn wait_connected(&self, timeout: Duration) -> Result<()> {
        let n = self.topology.switches.len();
        cmd::poll_until(
            &format!("{n} switches connected to the controller"),
            timeout,
            || match self.connected_switches() {
                Ok(c) if c == n => Some(()),
                _ => None,
            },
        )
    }

    /// A TCP listener on `127.0.0.1:port` inside the private namespace, where the bridges'
    /// `tcp:127.0.0.1:PORT` controller target reaches. Port 0 picks a free port; the
    /// namespace has its own port space, so 6653 is always free here.
    pub fn listen_tcp(&self, port: u16) -> Result<TcpListener> {
        self.private
            .run(|| TcpListener::bind(("127.0.0.1", port)))?
            .map_err(|e| {
                Error::io(
                    format!("binding 127.0.0.1:{port} in {}", self.private.name()),
                    e,
                )
            })
    }

    /// The topology as built.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The private namespace (where ovs-vswitchd runs and the controller must listen).
    pub fn netns(&self) -> &Netns {
        &self.private
    }

    /// The private directory (OVS logs `vswitchd.log`, `ovsdb.log`, sockets).
    pub fn dir(&self) -> &Path {
        &self.dir.path
    }

    /// Host `name`'s info.
    pub fn host(&self, name: &str) -> Result<&Host> {
        self.topology.host(name)
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

    /// Every host with its namespace, in host order (for [`crate::traffic`]).
    pub fn host_namespaces(&self) -> Vec<crate::traffic::HostNs<'_>> {
        self.topology
            .hosts
            .iter()
            .zip(&self.hosts)
            .map(|(info, netns)| crate::traffic::HostNs { info, netns })
            .collect()
    }

    /// Host `name` with its namespace.
    pub fn host_ns(&self, name: &str) -> Result<crate::traffic::HostNs<'_>> {
        Ok(crate::traffic::HostNs {
            info: self.topology.host(name)?,
            netns: self.host_netns(name)?,
        })
    }

    /// Sends one UDP datagram from host `from` to `dst:port` and reports which of
    /// `receivers` got it and how often (packet capture, no joins; collection ends 300 ms
    /// after the last arrival or at `deadline`, see [`crate::traffic`]).
    pub fn send_and_collect(
        &self,
        from: &str,
        dst: IpAddr,
        port: u16,
        payload: &[u8],
        receivers: &[&str],
        deadline: Duration,
    ) -> Result<Delivery> {
        let probe = Probe {
            from: from.to_owned(),
            dst,
            port,
            payload: payload.to_vec(),
        };
        let opts = Collect {
            deadline,
            ..Collect::default()
        };
        let mut out = self.probe(std::slice::from_ref(&probe), receivers, &opts)?;
        out.pop()
            .ok_or_else(|| Error::BadProbe("no delivery for the probe".into()))
    }

    /// Sends every probe at once and collects them together (one quiet period for all).
    pub fn probe(
        &self,
        probes: &[Probe],
        receivers: &[&str],
        opts: &Collect,
    ) -> Result<Vec<Delivery>> {
        crate::traffic::send_and_collect(&self.host_namespaces(), probes, receivers, opts)
    }

    /// Makes every host send one IPv4 broadcast and one IPv6 all-nodes UDP datagram (to
    /// `port`) from its own addresses, so a controller that learns hosts from packet-ins
    /// sees them all. Hosts talk on their own only when their link comes up, which is
    /// before any controller is connected.
    pub fn announce_all(&self, port: u16) -> Result<()> {
        for h in self.host_namespaces() {
            h.announce(port)?;
        }
        Ok(())
    }

    /// Pids of the fabric's ovsdb-server and ovs-vswitchd.
    pub fn daemon_pids(&self) -> Vec<u32> {
        self.daemons.iter().map(|d| d.child.id()).collect()
    }

    /// Names of every namespace the fabric made (private first, then hosts in order).
    pub fn namespace_names(&self) -> Vec<String> {
        std::iter::once(&self.private)
            .chain(&self.hosts)
            .map(|n| n.name().to_owned())
            .collect()
    }

    /// `ovs-appctl -t DIR/vswitchd.ctl ARGS...` (this fabric's ovs-vswitchd).
    pub fn appctl(&self, args: &[&str]) -> Result<String> {
        let env = OvsEnv {
            dir: self.dir.path.clone(),
        };
        cmd::run(
            env.command(Command::new("ovs-appctl"))
                .args(["-t", &env.file("vswitchd.ctl")])
                .args(args),
        )
    }

    /// Waits until ovs-vswitchd has revalidated its datapath flow cache against the current
    /// OpenFlow tables (`revalidator/wait`).
    ///
    /// Why: the first packets of a flow leave a cached datapath flow behind, often a wide
    /// one ("drop everything from this port" while the table was empty). A later rule change
    /// reaches packets matching that cache entry only when a revalidator has run, a few
    /// milliseconds later, or longer on a loaded machine (NOTES.md). A test that installs
    /// rules with `ovs-ofctl` and then sends calls this in between; a controller's barrier
    /// reply does not wait for it either.
    pub fn settle(&self) -> Result<()> {
        self.appctl(&["revalidator/wait"]).map(|_| ())
    }

    /// `ovs-vsctl --db=unix:DIR/db.sock` with this fabric's environment.
    pub fn vsctl(&self) -> Command {
        OvsEnv {
            dir: self.dir.path.clone(),
        }
        .vsctl()
    }

    /// `ovs-ofctl -O OpenFlow13 COMMAND SWITCH ARGS...` and its output. `ovs-ofctl` reaches
    /// the bridge through its management socket in the private directory.
    pub fn ofctl(&self, command: &str, switch: &str, args: &[&str]) -> Result<String> {
        self.ofctl_with(&[], command, switch, args)
    }

    /// Like [`OvsFabric::ofctl`] with extra options before the command (`--no-names`, ...).
    pub fn ofctl_with(
        &self,
        options: &[&str],
        command: &str,
        switch: &str,
        args: &[&str],
    ) -> Result<String> {
        self.topology.switch(switch)?;
        let env = OvsEnv {
            dir: self.dir.path.clone(),
        };
        cmd::run(
            env.command(Command::new("ovs-ofctl"))
                .args(["-O", "OpenFlow13"])
                .args(options)
                .args([command, switch])
                .args(args),
        )
    }

    /// `ovs-ofctl dump-flows SWITCH`.
    pub fn dump_flows(&self, switch: &str) -> Result<String> {
        self.ofctl("dump-flows", switch, &[])
    }

    /// `ovs-ofctl dump-groups SWITCH`.
    pub fn dump_groups(&self, switch: &str) -> Result<String> {
        self.ofctl("dump-groups", switch, &[])
    }

    /// `ovs-ofctl dump-ports SWITCH` as printed.
    pub fn dump_ports(&self, switch: &str) -> Result<String> {
        self.ofctl("dump-ports", switch, &[])
    }

    /// Per-port packet counters of `switch` (the LOCAL port left out).
    pub fn port_counters(&self, switch: &str) -> Result<Vec<PortCounters>> {
        parse_dump_ports(&self.ofctl_with(&["--no-names"], "dump-ports", switch, &[])?)
    }

    /// Takes inter-switch link `index` (an index into `topology().links`) down or up:
    /// `ip link set ... down|up` on both veth ends, so both bridges see the port's link go
    /// down (OFPPS_LINK_DOWN) at once. Returns once the kernel reports the new state on both
    /// ends (see [`wait_operstate`]); OVS learns it from the kernel right after.
    pub fn set_link_up(&self, index: usize, up: bool) -> Result<()> {
        let link: &Link = self.topology.links.get(index).ok_or(Error::UnknownLink {
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

    /// Takes host `name`'s cable down or up (the switch-side veth end; the host's `eth0`
    /// loses its carrier). Returns once the kernel reports the new state on both ends.
    pub fn set_host_link_up(&self, name: &str, up: bool) -> Result<()> {
        let host = self.topology.host(name)?;
        let state = if up { "up" } else { "down" };
        self.private
            .ip(&["link", "set", &host.attach.ifname, state])?;
        wait_operstate(&self.private, &[&host.attach.ifname], up, LINK_TIMEOUT)?;
        wait_operstate(self.host_netns(name)?, &["eth0"], up, LINK_TIMEOUT)
    }

    /// The index of the link between switches `a` and `b` (either order).
    pub fn link_between(&self, a: &str, b: &str) -> Option<usize> {
        self.topology.links.iter().position(|l| {
            (l.a.switch == a && l.b.switch == b) || (l.a.switch == b && l.b.switch == a)
        })
    }
}

impl crate::DataPlane for OvsFabric {
    fn check_environment() -> std::result::Result<(), String> {
        crate::check_environment()
    }

    fn build(spec: &TopologySpec) -> Result<Self> {
        OvsFabric::new(spec)
    }

    fn kind(&self) -> &'static str {
        "ovs"
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

    fn host_namespaces(&self) -> Vec<crate::traffic::HostNs<'_>> {
        OvsFabric::host_namespaces(self)
    }

    fn set_controller(&self, target: Option<&str>) -> Result<()> {
        OvsFabric::set_controller(self, target)
    }

    fn ofctl_with(
        &self,
        options: &[&str],
        command: &str,
        switch: &str,
        args: &[&str],
    ) -> Result<String> {
        OvsFabric::ofctl_with(self, options, command, switch, args)
    }

    fn set_link_up(&self, index: usize, up: bool) -> Result<()> {
        OvsFabric::set_link_up(self, index, up)
    }

    fn settle(&self) -> Result<()> {
        OvsFabric::settle(self)
    }
}

/// Parses `ovs-ofctl --no-names dump-ports` (OpenFlow 1.3) output.
pub(crate) fn parse_dump_ports(text: &str) -> Result<Vec<PortCounters>> {
    let mut out: Vec<PortCounters> = Vec::new();
    let mut current: Option<PortCounters> = None;
    let bad = |line: &str| Error::Parse {
        what: "port counters".into(),
        text: line.to_owned(),
    };
    let pkts = |line: &str| -> Option<u64> {
        line.split("pkts=")
            .nth(1)?
            .split(',')
            .next()?
            .trim()
            .parse()
            .ok()
    };
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("port ") {
            if let Some(done) = current.take() {
                out.push(done);
            }
            let number = rest.trim_start().split(':').next().unwrap_or("").trim();
            // LOCAL and other reserved ports are left out.
            current = number.parse().ok().map(|port| PortCounters {
                port,
                ..PortCounters::default()
            });
            if let Some(c) = current.as_mut() {
                c.rx_packets = pkts(t).ok_or_else(|| bad(line))?;
            }
        } else if t.starts_with("tx ") {
            if let Some(c) = current.as_mut() {
                c.tx_packets = pkts(t).ok_or_else(|| bad(line))?;
            }
        }
    }
    if let Some(done) = current {
        out.push(done);
    }
    out.sort_by_key(|c| c.port);
    Ok(out)
}

/// Under one unique name: a private directory, the fabric's namespace (IPv6 off) and one
/// namespace per host, cabled as `topology` says with every link up (within `timeout`).
/// Destructure the result into locals: they then drop in teardown order.
pub(crate) fn cabled_namespaces(
    topology: &Topology,
    timeout: Duration,
) -> Result<(PrivateDir, Netns, Vec<Netns>)> {
    let base = unique_name();
    let dir = PrivateDir::create(std::env::temp_dir().join(&base))?;
    let private = Netns::create(&base)?;
    private.exec(
        "sysctl",
        &[
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ],
    )?;
    let mut hosts = Vec::with_capacity(topology.hosts.len());
    for h in &topology.hosts {
        hosts.push(Netns::create(&format!("{base}-{}", h.name))?);
    }
    cable(topology, &private, &hosts)?;
    wait_links_up(topology, &private, &hosts, timeout)?;
    Ok((dir, private, hosts))
}

/// Creates every veth and configures the hosts: one `ip -batch` in the private namespace
/// and one per host.
pub(crate) fn cable(topology: &Topology, private: &Netns, hosts: &[Netns]) -> Result<()> {
    let mut lines = Vec::new();
    for (h, ns) in topology.hosts.iter().zip(hosts) {
        // The peer is created directly inside the host namespace, so no name ever appears
        // in the machine's own namespace.
        lines.push(format!(
            "link add {} type veth peer name eth0 netns {}",
            h.attach.ifname,
            ns.name()
        ));
    }
    for l in &topology.links {
        lines.push(format!(
            "link add {} type veth peer name {}",
            l.a.ifname, l.b.ifname
        ));
    }
    let ends = topology
        .links
        .iter()
        .flat_map(|l| [&l.a, &l.b])
        .chain(topology.hosts.iter().map(|h| &h.attach));
    for e in ends {
        lines.push(format!("link set {} up", e.ifname));
    }
    private.ip_batch(&lines)?;
    for (h, ns) in topology.hosts.iter().zip(hosts) {
        ns.ip_batch(&[
            format!("link set eth0 address {}", h.mac_string()),
            format!("addr add {}/8 dev eth0", h.ipv4),
            // nodad: usable at once instead of after duplicate address detection (~1-2 s).
            format!("addr add {}/64 dev eth0 nodad", h.ipv6),
            "link set eth0 up".into(),
            // Without these, sending to a group address fails (no route) since there is no
            // default route.
            "route add 224.0.0.0/4 dev eth0".into(),
            "route add ff00::/8 dev eth0".into(),
        ])?;
    }
    Ok(())
}

/// How long link state changes may take to show (the kernel applies carrier changes in
/// batches at most once a second).
const LINK_TIMEOUT: Duration = Duration::from_secs(5);

/// Waits until every switch-side interface and every host's `eth0` is up.
pub(crate) fn wait_links_up(
    topology: &Topology,
    private: &Netns,
    hosts: &[Netns],
    timeout: Duration,
) -> Result<()> {
    let ends: Vec<&str> = topology
        .links
        .iter()
        .flat_map(|l| [l.a.ifname.as_str(), l.b.ifname.as_str()])
        .chain(topology.hosts.iter().map(|h| h.attach.ifname.as_str()))
        .collect();
    wait_operstate(private, &ends, true, timeout)?;
    for ns in hosts {
        wait_operstate(ns, &["eth0"], true, timeout)?;
    }
    Ok(())
}

/// Waits until each of `ifnames` in `ns` is operationally up with a queueing discipline
/// attached (`up`), or not up (`!up`), as `ip link show` reports.
///
/// Frames sent out of an interface whose carrier change the kernel has not yet applied go to
/// the `noop` queueing discipline and are dropped. For veth pairs the kernel applies carrier
/// changes at once (checked here: the state reads UP on the first look), so this is a cheap
/// confirmation; after taking a link down it also confirms the peer lost its carrier
/// (`LOWERLAYERDOWN`), which is what OVS reports as OFPPS_LINK_DOWN.
pub fn wait_operstate(ns: &Netns, ifnames: &[&str], up: bool, timeout: Duration) -> Result<()> {
    let what = format!(
        "{} {} in {}",
        ifnames.join(", "),
        if up { "up" } else { "down" },
        ns.name()
    );
    let mut last = String::new();
    let result = cmd::poll_until(&what, timeout, || {
        let out = ns.ip(&["-o", "link", "show"]).ok()?;
        let ready = ifnames.iter().all(|name| {
            out.lines()
                .find(|line| link_name(line) == Some(*name))
                .is_some_and(|line| {
                    let is_up = line.contains(" state UP ") && !line.contains(" qdisc noop ");
                    is_up == up
                })
        });
        if ready {
            Some(())
        } else {
            last = out;
            None
        }
    });
    result.map_err(|e| match e {
        Error::Timeout { what, waited } => Error::Timeout {
            what: format!("{what}; last seen:\n{last}"),
            waited,
        },
        other => other,
    })
}

/// The interface name in one line of `ip -o link show` (`7: s1-eth1@s2-eth1: <...> ...`).
fn link_name(line: &str) -> Option<&str> {
    let field = line.split(": ").nth(1)?;
    Some(field.split('@').next().unwrap_or(field))
}

/// The environment that points OVS programs at one fabric's private directory.
struct OvsEnv {
    dir: PathBuf,
}

impl OvsEnv {
    fn file(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    fn command(&self, mut c: Command) -> Command {
        for var in ["OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"] {
            c.env(var, &self.dir);
        }
        c
    }

    fn vsctl(&self) -> Command {
        let mut c = self.command(Command::new("ovs-vsctl"));
        c.arg(format!("--db=unix:{}", self.file("db.sock")));
        c
    }
}

/// A daemon started by this fabric (through `ip netns exec`, which execs it, so the child's
/// pid is the daemon's). Stopped by that pid on drop: SIGTERM, then SIGKILL if it lingers.
#[derive(Debug)]
pub(crate) struct Daemon {
    name: &'static str,
    pub(crate) child: Child,
}

impl Daemon {
    pub(crate) fn spawn(
        name: &'static str,
        cmd: &mut Command,
        stderr_file: &str,
    ) -> Result<Daemon> {
        let command = cmd::describe(cmd);
        let stderr = std::fs::File::create(stderr_file)
            .map_err(|e| Error::io(format!("creating {stderr_file}"), e))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|source| Error::Spawn { command, source })?;
        Ok(Daemon { name, child })
    }

    pub(crate) fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        eprintln!(
            "tsm-tests: {} (pid {}) ignored SIGTERM; killing it",
            self.name,
            self.child.id()
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A directory removed with everything in it on drop.
#[derive(Debug)]
pub(crate) struct PrivateDir {
    pub(crate) path: PathBuf,
}

impl PrivateDir {
    pub(crate) fn create(path: PathBuf) -> Result<PrivateDir> {
        std::fs::create_dir(&path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        Ok(PrivateDir { path })
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            eprintln!("tsm-tests: cannot remove {}: {e}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_names_are_read_without_the_peer() {
        let line =
            "7: s1-eth1@s2-eth1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP";
        assert_eq!(link_name(line), Some("s1-eth1"));
        assert_eq!(link_name("1: lo: <LOOPBACK> mtu 65536"), Some("lo"));
        assert_eq!(link_name("garbage"), None);
    }

    #[test]
    fn dump_ports_parses_numbers_and_skips_local() {
        let text = "OFPST_PORT reply (OF1.3) (xid=0x2): 3 ports
  port LOCAL: rx pkts=0, bytes=0, drop=0, errs=0, frame=0, over=0, crc=0
           tx pkts=0, bytes=0, drop=0, errs=0, coll=0
           duration=1.2s
  port  2: rx pkts=5, bytes=300, drop=0, errs=0, frame=0, over=0, crc=0
           tx pkts=7, bytes=420, drop=0, errs=0, coll=0
           duration=1.2s
  port  1: rx pkts=1, bytes=60, drop=0, errs=0, frame=0, over=0, crc=0
           tx pkts=0, bytes=0, drop=0, errs=0, coll=0
           duration=1.2s
";
        let c = parse_dump_ports(text).unwrap();
        assert_eq!(
            c,
            vec![
                PortCounters {
                    port: 1,
                    rx_packets: 1,
                    tx_packets: 0
                },
                PortCounters {
                    port: 2,
                    rx_packets: 5,
                    tx_packets: 7
                }
            ]
        );
    }
}
