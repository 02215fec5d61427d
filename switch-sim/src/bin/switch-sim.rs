//! `switch-sim`: a software OpenFlow 1.3 switch on real interfaces.
//!
//! `main` is short: flags (each also from an environment variable) → validation (`--check`
//! stops there) → logging → the switch → wait for SIGINT or SIGTERM → stop it cleanly.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use switch_sim::agent::Target;
use switch_sim::ports::PortSpec;
use switch_sim::Switch;
use tracing::info;

/// A software OpenFlow 1.3 switch (OpenFlow 1.3 only, version 0x04).
///
/// It connects to each controller given with --controller (reconnecting with backoff when one
/// goes away, keeping its tables: it never forwards on its own), and accepts controllers and
/// `ovs-ofctl -O OpenFlow13 ... tcp:IP:PORT` on each --listen address. Ports are network
/// interfaces (for example veth ends) read and written through AF_PACKET sockets, which needs
/// root or CAP_NET_RAW.
///
/// Example:
///   switch-sim --dpid 1 --controller tcp:127.0.0.1:6653 --listen ptcp:6634 \
///              --port 1=veth-a --port 2=veth-b
#[derive(Parser, Debug)]
#[command(name = "switch-sim", version, verbatim_doc_comment)]
struct Args {
    /// Datapath id: decimal, or hexadecimal with 0x.
    #[arg(long, env = "SWITCH_SIM_DPID", value_parser = parse_dpid, value_name = "ID")]
    dpid: u64,

    /// Controller to connect to, tcp:HOST:PORT. Repeat the flag (or separate with commas in
    /// the variable) for several controllers.
    #[arg(
        long = "controller",
        env = "SWITCH_SIM_CONTROLLER",
        value_delimiter = ',',
        value_name = "tcp:HOST:PORT"
    )]
    controllers: Vec<Target>,

    /// Address to accept controllers and ovs-ofctl on, ptcp:PORT[:IP] (all addresses by
    /// default). Repeatable.
    #[arg(
        long = "listen",
        env = "SWITCH_SIM_LISTEN",
        value_delimiter = ',',
        value_name = "ptcp:PORT[:IP]"
    )]
    listen: Vec<Target>,

    /// A port, NUMBER=INTERFACE (OpenFlow port number and interface name). Repeatable.
    #[arg(long = "port", env = "SWITCH_SIM_PORT", value_delimiter = ',', value_parser = parse_port, value_name = "N=IFACE")]
    ports: Vec<(u32, String)>,

    /// Seconds of silence before an echo probe, and allowed for its answer.
    #[arg(long, env = "SWITCH_SIM_PROBE_INTERVAL", default_value = "5", value_parser = parse_secs, value_name = "SECS")]
    probe_interval: Duration,

    /// Longest wait between reconnection attempts, in seconds (the first waits 1 s).
    #[arg(long, env = "SWITCH_SIM_MAX_BACKOFF", default_value = "8", value_parser = parse_secs, value_name = "SECS")]
    max_backoff: Duration,

    /// Log format on stderr (RUST_LOG sets the level, default info).
    #[arg(long, env = "SWITCH_SIM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// Check the configuration (targets, ports, interfaces present) and exit.
    #[arg(long, env = "SWITCH_SIM_CHECK")]
    check: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn parse_dpid(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("datapath id {s:?}: {e}"))
}

fn parse_port(s: &str) -> Result<(u32, String), String> {
    let (n, name) = s
        .split_once('=')
        .ok_or_else(|| format!("port {s:?}: expected NUMBER=INTERFACE"))?;
    let n: u32 = n
        .parse()
        .map_err(|e| format!("port {s:?}: number {n:?}: {e}"))?;
    if name.is_empty() || name.len() > 15 {
        return Err(format!("port {s:?}: interface name must be 1 to 15 bytes"));
    }
    Ok((n, name.to_owned()))
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    if !(v > 0.0 && v < 1e6) {
        return Err(format!("{s:?}: expected a positive number of seconds"));
    }
    Ok(Duration::from_secs_f64(v))
}

fn validate(args: &Args) -> anyhow::Result<()> {
    for t in &args.controllers {
        if !matches!(t, Target::Active { .. }) {
            bail!("--controller {t}: expected tcp:HOST:PORT");
        }
    }
    for t in &args.listen {
        if !matches!(t, Target::Passive { .. }) {
            bail!("--listen {t}: expected ptcp:PORT[:IP]");
        }
    }
    if args.controllers.is_empty() && args.listen.is_empty() {
        bail!("nothing would program this switch: give --controller or --listen");
    }
    let mut seen = std::collections::BTreeSet::new();
    for (n, name) in &args.ports {
        if !seen.insert(*n) {
            bail!("port number {n} given twice");
        }
        if *n == 0 || *n > 0xffff_ff00 {
            bail!("port {n}={name}: numbers go from 1 to 4294967040");
        }
    }
    Ok(())
}

fn run(args: Args) -> anyhow::Result<()> {
    validate(&args)?;
    if args.check {
        let ifaces = pnet::datalink::interfaces();
        for (n, name) in &args.ports {
            if !ifaces.iter().any(|i| &i.name == name) {
                bail!("port {n}: no interface {name:?} in this network namespace");
            }
        }
        println!("configuration ok");
        return Ok(());
    }
    let mut b = Switch::builder()
        .dpid(args.dpid)
        .probe_interval(args.probe_interval)
        .backoff(
            Duration::from_secs(1).min(args.max_backoff),
            args.max_backoff,
        );
    for t in &args.controllers {
        b = b.controller(t.to_string());
    }
    for t in &args.listen {
        b = b.listen(t.to_string());
    }
    for (n, name) in &args.ports {
        b = b.port(*n, PortSpec::interface(name.clone()));
    }
    // Signal handlers first: a signal that arrives once the switch runs must stop it cleanly.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the signal runtime")?;
    let (mut int, mut term) = rt
        .block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            Ok::<_, std::io::Error>((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            ))
        })
        .context("installing signal handlers")?;
    let sw = b.start().context("starting the switch")?;
    info!(
        dpid = %format!("{:016x}", args.dpid),
        listen = ?sw.listen_addrs(),
        controllers = ?args.controllers.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "switch-sim running"
    );
    let signal = rt.block_on(async {
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    });
    info!(signal, "stopping");
    sw.join();
    info!("stopped");
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match args.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switch-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}
