//! A running software switch: the [`Pipeline`] with ports, an OpenFlow agent and timers.
//!
//! ```no_run
//! use switch_sim::{ports::{memory_link, PortSpec}, Switch};
//! # fn main() -> Result<(), switch_sim::SwitchError> {
//! let (port1, host1) = memory_link();
//! let sw = Switch::builder()
//!     .dpid(1)
//!     .controller("tcp:127.0.0.1:6653")
//!     .listen("ptcp:0:127.0.0.1")
//!     .port(1, PortSpec::memory(port1))
//!     .port(2, PortSpec::interface("veth-b"))
//!     .start()?;
//! println!("ovs-ofctl -O OpenFlow13 dump-flows tcp:{}", sw.listen_addrs()[0]);
//! # drop(host1); Ok(()) }
//! ```
//!
//! Each switch runs on a thread of its own with a single-threaded tokio runtime: the core task
//! (owning the pipeline and reading the ports), one task per controller connection, one per
//! listener and one per active controller target. Many switches (a whole fabric with
//! in-memory links) run side by side in one process. Pipeline timeouts run on tokio's clock.
//!
//! Guarantees: `start` returns only once every port is open and every listener bound (or
//! the first error, with nothing left running); dropping the [`SwitchHandle`] stops the
//! switch and waits for its thread; the tables survive controller disconnections
//! (fail-secure, no forwarding of its own).

pub(crate) mod core;
mod roles;

use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use openflow::port::PortState;
use openflow::{ControllerRole, DatapathId, PortNo};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::Instrument;

use self::core::{Command, Core, CoreInput, PortIo, PortSlot};
use crate::agent::conn::{run_active, run_listener, AgentCtx};
use crate::agent::{Backoff, SessionConfig, Target, TargetError};
use crate::ports::raw::{carriers, RawConfig, RawPort};
use crate::ports::{PortKind, PortOpenError, PortSpec};
use crate::{Config, DropCounters, Pipeline};

/// Entry point: `Switch::builder()`.
#[derive(Debug)]
pub struct Switch;

impl Switch {
    /// A builder with datapath id 1, no ports, no controllers.
    pub fn builder() -> SwitchBuilder {
        SwitchBuilder::default()
    }
}

/// How to build a switch.
#[derive(Debug)]
pub struct SwitchBuilder {
    config: Config,
    controllers: Vec<String>,
    listeners: Vec<String>,
    ports: Vec<(u32, PortSpec)>,
    session: SessionConfig,
    backoff: (Duration, Duration),
    carrier_poll: Duration,
    out_queue: usize,
    raw: RawConfig,
}

impl Default for SwitchBuilder {
    fn default() -> Self {
        SwitchBuilder {
            config: Config::default(),
            controllers: Vec::new(),
            listeners: Vec::new(),
            ports: Vec::new(),
            session: SessionConfig::default(),
            backoff: (Duration::from_secs(1), Duration::from_secs(8)),
            carrier_poll: Duration::from_millis(200),
            out_queue: 4096,
            raw: RawConfig::default(),
        }
    }
}

impl SwitchBuilder {
    /// The datapath id.
    pub fn dpid(mut self, dpid: u64) -> Self {
        self.config.datapath_id = DatapathId(dpid);
        self
    }

    /// The pipeline's configuration (its datapath id is replaced by a later `dpid`).
    pub fn pipeline_config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// A controller to connect to, `tcp:HOST:PORT`; may be given several times.
    pub fn controller(mut self, target: impl Into<String>) -> Self {
        self.controllers.push(target.into());
        self
    }

    /// Where to accept controller connections (and `ovs-ofctl`), `ptcp:PORT[:IP]`; may be
    /// given several times. Port 0 picks a free port: see [`SwitchHandle::listen_addrs`].
    pub fn listen(mut self, target: impl Into<String>) -> Self {
        self.listeners.push(target.into());
        self
    }

    /// A port with OpenFlow number `no` (1..=0xffffff00).
    pub fn port(mut self, no: u32, spec: PortSpec) -> Self {
        self.ports.push((no, spec));
        self
    }

    /// Idle time before an echo probe, and time allowed for its answer (default 5 s).
    pub fn probe_interval(mut self, d: Duration) -> Self {
        self.session.probe_interval = d;
        self
    }

    /// Reconnection backoff for active controllers (default 1 s to 8 s).
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff = (min, max);
        self
    }

    /// How often real interfaces' carrier is checked (default 200 ms).
    pub fn carrier_poll(mut self, d: Duration) -> Self {
        self.carrier_poll = d;
        self
    }

    /// Asynchronous messages (PACKET_IN, FLOW_REMOVED, PORT_STATUS) queued for one
    /// controller before further ones are dropped and counted (default 4096). Replies are
    /// never dropped.
    pub fn async_queue(mut self, n: usize) -> Self {
        self.out_queue = n.max(1);
        self
    }

    /// Starts the switch on a thread of its own.
    pub fn start(self) -> Result<SwitchHandle, SwitchError> {
        let mut active = Vec::new();
        for t in &self.controllers {
            match t.parse::<Target>() {
                Ok(Target::Active { host, port }) => active.push((host, port)),
                Ok(_) => {
                    return Err(SwitchError::TargetKind {
                        target: t.clone(),
                        expected: "tcp:HOST:PORT",
                    })
                }
                Err(source) => {
                    return Err(SwitchError::Target {
                        target: t.clone(),
                        source,
                    })
                }
            }
        }
        let mut passive = Vec::new();
        for t in &self.listeners {
            match t.parse::<Target>() {
                Ok(Target::Passive { port, ip }) => {
                    passive.push((t.clone(), SocketAddr::new(ip, port)))
                }
                Ok(_) => {
                    return Err(SwitchError::TargetKind {
                        target: t.clone(),
                        expected: "ptcp:PORT[:IP]",
                    })
                }
                Err(source) => {
                    return Err(SwitchError::Target {
                        target: t.clone(),
                        source,
                    })
                }
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (no, _) in &self.ports {
            if !PortNo(*no).is_physical() {
                return Err(SwitchError::PortNumber(*no));
            }
            if !seen.insert(*no) {
                return Err(SwitchError::DuplicatePort(*no));
            }
        }
        let dpid = self.config.datapath_id;
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name(format!("switch-{:x}", dpid.0))
            .spawn(move || run_thread(self, active, passive, cmd_rx, ready_tx))
            .map_err(SwitchError::Thread)?;
        match ready_rx.recv() {
            Ok(Ok(listen_addrs)) => Ok(SwitchHandle {
                dpid,
                listen_addrs,
                commands: cmd_tx,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(SwitchError::Stopped)
            }
        }
    }
}

/// Why a switch could not start, or a request to it failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SwitchError {
    #[error("bad target {target:?}: {source}")]
    Target { target: String, source: TargetError },
    #[error("target {target:?} is not of the form {expected}")]
    TargetKind {
        target: String,
        expected: &'static str,
    },
    #[error("port number {0} is not a physical port (1..=0xffffff00)")]
    PortNumber(u32),
    #[error("port {0} given twice")]
    DuplicatePort(u32),
    #[error("port {port}: {source}")]
    Port { port: u32, source: PortOpenError },
    #[error("listening on {target}: {source}")]
    Listen {
        target: String,
        source: std::io::Error,
    },
    #[error("starting the switch thread: {0}")]
    Thread(std::io::Error),
    #[error("the switch has stopped")]
    Stopped,
}

/// Counters of one port, kept by the switch around the pipeline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PortCounters {
    pub port_no: u32,
    pub name: String,
    /// Link (carrier) up.
    pub up: bool,
    /// Frames handed to the pipeline, and their bytes.
    pub rx_frames: u64,
    pub rx_bytes: u64,
    /// Dropped: shorter than an Ethernet header.
    pub rx_runt: u64,
    /// Dropped: a VLAN tag cut short.
    pub rx_malformed: u64,
    /// Dropped: longer than a receive slot.
    pub rx_truncated: u64,
    /// Skipped: frames this host sent on the interface (the switch's own output included).
    pub rx_own: u64,
    /// Frames written, and their bytes.
    pub tx_frames: u64,
    pub tx_bytes: u64,
    /// Frames that could not be written (queue full, link down, too long).
    pub tx_dropped: u64,
}

impl PortCounters {
    fn count_tx_failures(&mut self, n: u64) {
        self.tx_dropped += n;
        self.tx_frames = self.tx_frames.saturating_sub(n);
    }
}

/// A controller connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    pub peer: SocketAddr,
    /// Accepted on a listener (rather than connected to a controller target).
    pub passive: bool,
    pub role: ControllerRole,
}

/// A snapshot of a switch's state.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    pub ports: Vec<PortCounters>,
    /// Open OpenFlow channels.
    pub connections: Vec<ConnectionInfo>,
    pub pipeline_drops: DropCounters,
    /// Flow entries in all tables, and groups.
    pub flows: usize,
    pub groups: usize,
    /// BIER counters (`None` when the pipeline has no BIER).
    pub bier: Option<crate::bier::BierCounters>,
    /// Asynchronous messages not delivered because a controller's queue was full.
    pub async_dropped: u64,
    /// The master election's newest generation id.
    pub generation_id: Option<u64>,
}

impl Counters {
    /// The counters of port `no`.
    pub fn port(&self, no: u32) -> Option<&PortCounters> {
        self.ports.iter().find(|p| p.port_no == no)
    }
}

/// A running switch.
#[derive(Debug)]
pub struct SwitchHandle {
    dpid: DatapathId,
    listen_addrs: Vec<SocketAddr>,
    commands: mpsc::UnboundedSender<Command>,
    thread: Option<JoinHandle<()>>,
}

impl SwitchHandle {
    /// The datapath id.
    pub fn dpid(&self) -> DatapathId {
        self.dpid
    }

    /// The addresses the listeners are bound to, in the order given.
    pub fn listen_addrs(&self) -> &[SocketAddr] {
        &self.listen_addrs
    }

    /// A snapshot of the counters.
    pub async fn counters(&self) -> Result<Counters, SwitchError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Counters(tx))
            .map_err(|_| SwitchError::Stopped)?;
        rx.await.map_err(|_| SwitchError::Stopped)
    }

    /// Runs `f` on the pipeline, between two events of the switch (for example
    /// `|p| p.trace(port, &frame)` or `|p| p.flow_count(TableId(0))`).
    pub async fn inspect<R, F>(&self, f: F) -> Result<R, SwitchError>
    where
        R: Send + 'static,
        F: FnOnce(&Pipeline) -> R + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job = move |p: &Pipeline| {
            let _ = tx.send(f(p));
        };
        self.commands
            .send(Command::Inspect(Box::new(job)))
            .map_err(|_| SwitchError::Stopped)?;
        rx.await.map_err(|_| SwitchError::Stopped)
    }

    /// Asks the switch to stop and returns at once.
    pub fn stop(&self) {
        let _ = self.commands.send(Command::Stop);
    }

    /// Stops the switch and waits for its thread without blocking the async runtime.
    pub async fn shutdown(mut self) {
        self.stop();
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }

    /// Stops the switch and waits for its thread (blocking).
    pub fn join(mut self) {
        self.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Whether the switch thread is still running.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for SwitchHandle {
    fn drop(&mut self) {
        self.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Ready = std::sync::mpsc::SyncSender<Result<Vec<SocketAddr>, SwitchError>>;

fn run_thread(
    b: SwitchBuilder,
    active: Vec<(String, u16)>,
    passive: Vec<(String, SocketAddr)>,
    commands: mpsc::UnboundedReceiver<Command>,
    ready: Ready,
) {
    let dpid = b.config.datapath_id;
    let span = tracing::info_span!("switch", dpid = %dpid);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(SwitchError::Thread(e)));
            return;
        }
    };
    rt.block_on(run(b, active, passive, commands, ready).instrument(span));
    // Connection tasks still sending their last bytes are cut here.
    rt.shutdown_timeout(Duration::from_millis(200));
}

async fn run(
    b: SwitchBuilder,
    active: Vec<(String, u16)>,
    passive: Vec<(String, SocketAddr)>,
    commands: mpsc::UnboundedReceiver<Command>,
    ready: Ready,
) {
    let dpid = b.config.datapath_id;
    let mut pipeline = Pipeline::new(b.config.clone());
    let mut slots = Vec::new();
    let mut raw_names = Vec::new();
    let mut mem_watches = Vec::new();
    for (no, spec) in b.ports {
        let port_no = PortNo(no);
        let mut desc = Pipeline::default_port(dpid, port_no);
        let (io, up, name) = match spec.kind {
            PortKind::Interface(ifname) => match RawPort::open(&ifname, b.raw) {
                Ok((raw, info)) => {
                    desc.hw_addr = info.hw_addr;
                    raw_names.push((port_no, ifname.clone()));
                    (PortIo::Raw(raw), info.up, ifname)
                }
                Err(source) => {
                    let _ = ready.send(Err(SwitchError::Port { port: no, source }));
                    return;
                }
            },
            PortKind::Memory(end) => {
                let up = end.carrier();
                mem_watches.push((port_no, end.carrier_watch()));
                (PortIo::Memory(end), up, format!("p{no}"))
            }
        };
        let name = spec.name.unwrap_or(name);
        desc.name = openflow::FixedStr::new(&name);
        desc.state.set(PortState::LINK_DOWN, !up);
        desc.state.set(PortState::LIVE, up);
        // Numbers were checked physical and unique in `start`.
        let _ = pipeline.add_port(desc);
        slots.push(PortSlot {
            no: port_no,
            io,
            stats: crate::switch::PortCounters {
                port_no: no,
                name,
                up,
                ..Default::default()
            },
            dead: false,
        });
    }

    let mut listeners = Vec::new();
    let mut addrs = Vec::new();
    for (target, addr) in passive {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => {
                addrs.push(l.local_addr().unwrap_or(addr));
                listeners.push(l);
            }
            Err(source) => {
                let _ = ready.send(Err(SwitchError::Listen { target, source }));
                return;
            }
        }
    }

    let (in_tx, in_rx) = mpsc::channel::<CoreInput>(1024);
    let (stop_tx, stop_rx) = watch::channel(false);
    let ctx = AgentCtx {
        core: in_tx.clone(),
        session: b.session,
        stop: stop_rx.clone(),
    };
    for l in listeners {
        tokio::spawn(run_listener(l, ctx.clone()).in_current_span());
    }
    for (host, port) in active {
        let backoff = Backoff::new(b.backoff.0, b.backoff.1);
        tokio::spawn(run_active(host, port, ctx.clone(), backoff).in_current_span());
    }
    for (port, mut w) in mem_watches {
        let tx = in_tx.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
                    r = w.changed() => {
                        if r.is_err() {
                            return;
                        }
                        let up = *w.borrow_and_update();
                        if tx.send(CoreInput::Carrier { port, up }).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
    if !raw_names.is_empty() {
        spawn_carrier_poller(raw_names, b.carrier_poll, in_tx.clone(), stop_rx.clone());
    }

    let core = Core::new(
        pipeline,
        slots,
        in_rx,
        in_tx,
        commands,
        b.raw.batch,
        b.out_queue,
    );
    let _ = ready.send(Ok(addrs));
    core.run().await;
    let _ = stop_tx.send(true);
    // Let connection tasks see the stop and close their sockets.
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// Polls the carrier of real interfaces on a plain thread (the netlink dump blocks briefly)
/// and reports changes to the core.
fn spawn_carrier_poller(
    ports: Vec<(PortNo, String)>,
    every: Duration,
    tx: mpsc::Sender<CoreInput>,
    stop: watch::Receiver<bool>,
) {
    let names: Vec<String> = ports.iter().map(|(_, n)| n.clone()).collect();
    let mut last = carriers(&names);
    let span = tracing::Span::current();
    let _ = std::thread::Builder::new()
        .name("carrier".into())
        .spawn(move || {
            let _g = span.enter();
            loop {
                std::thread::sleep(every);
                if *stop.borrow() || tx.is_closed() {
                    return;
                }
                let now = carriers(&names);
                for (i, (&was, &is)) in last.iter().zip(now.iter()).enumerate() {
                    if was != is {
                        if let Some((port, _)) = ports.get(i) {
                            let _ = tx.blocking_send(CoreInput::Carrier {
                                port: *port,
                                up: is,
                            });
                        }
                    }
                }
                last = now;
            }
        });
}
