//! The `tsm-agent` command line: claim an address (`claim`), renew or release a claim or
//! block by id, print the controller's events (`follow`), and the benchmark (`bench`).
//!
//! Exit status (as `tsmctl`): 0 success; 1 the controller refused (one line naming the
//! culprit) or answered something unexpected; 2 no controller could be reached, a URL is
//! unusable, or the command line is wrong.

use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

use api::events::{Received, Reconnect};
use api::{BlockId, ClaimId, ClientError, RenewRequest};
use clap::{Args, Parser, Subcommand};

use crate::bench::{self, BenchArgs};
use crate::error::AgentError;
use crate::failover::{Attempt, EndpointOptions, Endpoints, FailoverError};
use crate::tsmctl::describe;
use crate::{Agent, AgentOptions};

/// The controller tried when neither `--url` nor `TSM_URL` is given.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

const EXAMPLES: &str = "\
Examples:
  tsm-agent claim --group storage --members 10.0.0.2,10.0.0.3,10.0.0.5
  tsm-agent --json claim --group storage --members 10.0.0.2,10.0.0.3,10.0.0.5 --lease-ms 60000
  tsm-agent claim --group storage --members 10.0.0.2,10.0.0.3,10.0.0.5 --hold
  tsm-agent renew c-00000000000000a1 --lease-ms 60000
  tsm-agent release c-00000000000000a1
  tsm-agent --url http://10.0.0.1:8080 --url http://10.0.0.2:8080 follow
  tsm-agent bench
  tsm-agent bier-send --group storage --members 10.0.0.2,10.0.0.5 --port 5000 --iface eth0 hello

Exit status: 0 success; 1 the controller refused (the message names the culprit) or answered
something unexpected; 2 no controller could be reached, or the command line is wrong.";

/// The sender's agent of tsmd: claims rendezvous addresses, follows events, benchmarks.
#[derive(Debug, Parser)]
#[command(name = "tsm-agent", version, after_help = EXAMPLES)]
pub struct Cli {
    /// Controller URL; repeat it or separate with commas: the next is tried when one is
    /// unreachable or failing, and a follower's pointer to the leader is followed.
    #[arg(
        long = "url",
        value_name = "URL",
        env = "TSM_URL",
        value_delimiter = ',',
        default_value = DEFAULT_URL,
        global = true
    )]
    pub urls: Vec<String>,

    /// Bearer token sent with every request.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "TSM_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,

    /// Print the API's JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Time limit of one request, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000, global = true)]
    pub timeout_ms: u64,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// A `tsm-agent` subcommand.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// Claim the address that reaches exactly these members of a group's rendezvous plan;
    /// prints the address (`--json`: the whole claim).
    Claim(ClaimArgs),
    /// Renew a claim (`c-…`) or block (`b-…`).
    Renew {
        /// The claim or block id.
        id: LeaseRef,
        /// The new lease from now, in ms.
        #[arg(long, value_name = "N", default_value_t = 30_000)]
        lease_ms: u64,
    },
    /// Release a claim (`c-…`) or block (`b-…`).
    Release {
        /// The claim or block id.
        id: LeaseRef,
    },
    /// Print the controller's events as they come (`SEQ TYPE EVENT-JSON`; `--json`: the
    /// event, one JSON document per line).
    Follow {
        /// Resume after this sequence number (`Last-Event-ID`).
        #[arg(long, value_name = "SEQ")]
        after: Option<u64>,
        /// Stop after this many events.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
    },
    /// Measure local claims from a held block and claims over HTTP (see the README).
    Bench(BenchArgs),
    /// Send one UDP datagram as BIER from this host (a BFIR, RFC 8296 over Ethernet on
    /// `--iface`; needs root or CAP_NET_RAW), with the header the controller gives for
    /// `--members` of `--group`, or for `--bfr-ids`.
    BierSend(crate::bfir::BierSendArgs),
}

/// `tsm-agent claim`.
#[derive(Debug, Args)]
pub struct ClaimArgs {
    /// The negotiating group (it needs a rendezvous plan).
    #[arg(long, value_name = "NAME")]
    pub group: String,
    /// The receivers, comma-separated: exactly the plan's k members of the group.
    #[arg(long, value_name = "IP,IP", value_delimiter = ',', required = true)]
    pub members: Vec<IpAddr>,
    /// The lease, in ms.
    #[arg(long, value_name = "N", default_value_t = 30_000)]
    pub lease_ms: u64,
    /// Keep the claim: renew it in the background until interrupted (Ctrl-C, SIGTERM), then
    /// release it. Without it, the claim lasts its lease.
    #[arg(long)]
    pub hold: bool,
}

/// A claim or block id on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseRef {
    /// `c-…`.
    Claim(ClaimId),
    /// `b-…`.
    Block(BlockId),
}

impl std::str::FromStr for LeaseRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with("b-") {
            s.parse().map(LeaseRef::Block).map_err(|e| e.to_string())
        } else if s.starts_with("c-") {
            s.parse().map(LeaseRef::Claim).map_err(|e| e.to_string())
        } else {
            Err(format!(
                "{s:?} is neither a claim id (c-<16 hex digits>) nor a block id (b-<16 hex digits>)"
            ))
        }
    }
}

/// A failed command: the message and the exit status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    /// One line.
    pub message: String,
    /// 1 or 2.
    pub code: u8,
}

impl From<AgentError> for CliError {
    fn from(e: AgentError) -> Self {
        let message = match &e {
            AgentError::Refused { error, .. } => describe(error),
            AgentError::Answer { source, .. } => source.to_string(),
            other => other.to_string(),
        };
        CliError {
            message,
            code: e.exit_code(),
        }
    }
}

impl From<FailoverError> for CliError {
    fn from(e: FailoverError) -> Self {
        AgentError::from(e).into()
    }
}

fn output(e: impl std::fmt::Display) -> CliError {
    CliError {
        message: format!("cannot print the answer: {e}"),
        code: 1,
    }
}

fn lease(ms: u64) -> Result<Duration, CliError> {
    if ms == 0 {
        return Err(CliError {
            message: "--lease-ms must be at least 1".to_owned(),
            code: 2,
        });
    }
    Ok(Duration::from_millis(ms))
}

/// Runs `cli`, writing what it prints to `out`.
pub async fn run(cli: &Cli, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    let timeout = Duration::from_millis(cli.timeout_ms.max(1));
    match &cli.command {
        Command::Claim(args) => claim(cli, args, timeout, out).await,
        Command::Renew { id, lease_ms } => {
            let endpoints = endpoints(cli, timeout)?;
            let req = &RenewRequest {
                lease_ms: lease(*lease_ms)?.as_millis() as u64,
            };
            let text = match *id {
                LeaseRef::Claim(id) => {
                    let c = endpoints
                        .call(|c| async move { c.renew_claim(id, req).await })
                        .await?;
                    render(cli.json, &c, format!("{} until {}\n", c.id, c.expires_at))?
                }
                LeaseRef::Block(id) => {
                    let b = endpoints
                        .call(|c| async move { c.renew_block(id, req).await })
                        .await?;
                    render(cli.json, &b, format!("{} until {}\n", b.id, b.expires_at))?
                }
            };
            out.write_all(text.as_bytes()).map_err(output)
        }
        Command::Release { id } => {
            let endpoints = endpoints(cli, timeout)?;
            match *id {
                LeaseRef::Claim(id) => {
                    endpoints
                        .call(|c| async move { c.release_claim(id).await })
                        .await?
                }
                LeaseRef::Block(id) => {
                    endpoints
                        .call(|c| async move { c.release_block(id).await })
                        .await?
                }
            }
            if !cli.json {
                let id = match id {
                    LeaseRef::Claim(id) => id.to_string(),
                    LeaseRef::Block(id) => id.to_string(),
                };
                writeln!(out, "released {id}").map_err(output)?;
            }
            Ok(())
        }
        Command::Follow { after, count } => follow(cli, timeout, *after, *count, out).await,
        Command::Bench(args) => {
            let text = bench::run(cli, args).await?;
            out.write_all(text.as_bytes()).map_err(output)
        }
        Command::BierSend(args) => crate::bfir::run_cli(cli, args, out).await,
    }
}

fn endpoints(cli: &Cli, timeout: Duration) -> Result<Endpoints, CliError> {
    let options = EndpointOptions::new(timeout).token(cli.token.as_deref());
    Ok(Endpoints::new(&cli.urls, &options)?)
}

fn render<T: serde::Serialize>(json: bool, value: &T, text: String) -> Result<String, CliError> {
    if json {
        let mut s = serde_json::to_string_pretty(value).map_err(output)?;
        s.push('\n');
        Ok(s)
    } else {
        Ok(text)
    }
}

async fn claim(
    cli: &Cli,
    args: &ClaimArgs,
    timeout: Duration,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let options = AgentOptions::new(&cli.urls)
        .token(cli.token.as_deref())
        .timeout(timeout)
        .follow_events(false);
    let agent = Agent::with_options(options)?;
    let claim = agent
        .claim_for(&args.group, &args.members, lease(args.lease_ms)?)
        .await?;
    let info = claim.info();
    let text = render(cli.json, &info, format!("{}\n", info.address))?;
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(output)?;
    if !args.hold {
        claim.detach();
        return Ok(());
    }
    let mut claim = claim;
    tokio::select! {
        () = stop_signal() => {
            claim.release().await?;
            Ok(())
        }
        reason = claim.lost() => Err(CliError {
            message: format!("lost claim {}: {reason}", info.id),
            code: 1,
        }),
    }
}

/// Resolves on SIGINT or SIGTERM (never, if the handlers cannot be set up).
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

async fn follow(
    cli: &Cli,
    timeout: Duration,
    after: Option<u64>,
    count: Option<u64>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let endpoints = endpoints(cli, timeout)?;
    let mut last = after;
    let mut seen = 0u64;
    let mut ever_connected = false;
    loop {
        let mut attempts = Vec::new();
        for client in endpoints.stream_clients() {
            let mut stream = match client.events_with(last, Reconnect::never()).await {
                Ok(s) => s,
                Err(ClientError::Transport { source, .. }) => {
                    attempts.push(Attempt {
                        url: client.base_url().to_string(),
                        why: crate::failover::root_cause(&source),
                    });
                    continue;
                }
                Err(source) => {
                    return Err(AgentError::from(FailoverError::Answer {
                        url: client.base_url().to_string(),
                        source,
                    })
                    .into())
                }
            };
            ever_connected = true;
            while let Some(Ok(item)) = stream.next().await {
                if let (Received::Event(ev), Some(p)) = (&item, stream.position_before_last_event())
                {
                    // Above the position + 1: events this token may see never arrived (the
                    // server marks what it withholds, so this is a loss, not the scope).
                    if ev.seq > p + 1 {
                        let (first, last) = (p + 1, ev.seq - 1);
                        let note = if cli.json {
                            serde_json::json!({"type": "skipped", "first": first, "last": last})
                                .to_string()
                        } else {
                            format!("- skipped: events {first}..{last} did not arrive")
                        };
                        writeln!(out, "{note}").map_err(output)?;
                    }
                }
                let line = match &item {
                    Received::Event(ev) => {
                        last = Some(ev.seq);
                        let json = serde_json::to_string(ev).map_err(output)?;
                        if cli.json {
                            json
                        } else {
                            format!("{} {} {json}", ev.seq, ev.kind.type_name())
                        }
                    }
                    Received::Gap(gap) => {
                        last = gap.first_available.checked_sub(1);
                        if cli.json {
                            serde_json::json!({"type": "gap", "after": gap.after,
                                "first_available": gap.first_available})
                            .to_string()
                        } else {
                            format!(
                                "- gap: events {}..{} are lost",
                                gap.after + 1,
                                gap.first_available.saturating_sub(1)
                            )
                        }
                    }
                };
                writeln!(out, "{line}")
                    .and_then(|()| out.flush())
                    .map_err(output)?;
                seen += 1;
                if count.is_some_and(|c| seen >= c) {
                    return Ok(());
                }
            }
            break;
        }
        if !ever_connected {
            return Err(AgentError::Unreachable { attempts }.into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn ids_and_members_are_checked_before_any_request() {
        for args in [
            &["tsm-agent", "release", "x-0000000000000001"][..],
            &["tsm-agent", "renew", "c-01"],
            &[
                "tsm-agent",
                "claim",
                "--group",
                "g",
                "--members",
                "10.0.0.1,nope",
            ],
            &["tsm-agent", "claim", "--members", "10.0.0.1"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
        let cli = Cli::try_parse_from(["tsm-agent", "release", "b-00000000000000b2"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Release {
                id: LeaseRef::Block(BlockId(0xb2))
            }
        ));
    }
}
