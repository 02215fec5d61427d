//! `tsm-agent bench`: how fast a sender gets an address.
//!
//! - **Local claims** from a held block ([`crate::BlockClaimer::claim`] and the drop that
//!   gives the address back), on one thread, two ways: whole batches timed (throughput, no
//!   timer inside the loop), and one timestamp between consecutive claims (latency
//!   percentiles; each sample includes one timer read, whose cost is measured and printed).
//! - **Claims over HTTP** (`POST /v1/groups/{name}/claims` through [`crate::Agent`]), one
//!   after another on loopback; each claim is released after its timing, outside it.
//!
//! Without `--external` it starts tsmd inside this process with an in-memory switch-sim
//! leaf-spine (`tsmd demo`'s fabric: no root, no Open vSwitch), defines a group of 8 hosts,
//! installs a rendezvous plan (k = 3) and waits until it is ready. With `--external` it uses
//! the controllers of `--url` and the group of `--group`, whose plan must be ready and have
//! copies free. `--bulk` runs the bulk-install benchmark of `tsm-tests` (`bulk_bench`, root
//! and Open vSwitch) when it is built next to this executable.

use std::fmt::Write as _;
use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use crate::cli::{Cli, CliError};
use crate::{Agent, AgentError, AgentOptions, BlockClaimer};

/// `tsm-agent bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Local claims to time (per method).
    #[arg(long, value_name = "N", default_value_t = 2_000_000)]
    pub local: u64,
    /// Claims over HTTP to time.
    #[arg(long, value_name = "N", default_value_t = 2_000)]
    pub http: u64,
    /// Benchmark the controllers of --url (the group of --group) instead of an embedded tsmd.
    #[arg(long)]
    pub external: bool,
    /// The group whose rendezvous plan is used (with --external).
    #[arg(long, value_name = "NAME", default_value = "bench")]
    pub group: String,
    /// Copies of the plan held by the block of the local claims.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub block_copies: u32,
    /// Run the bulk-install benchmark instead (`bulk_bench` of tsm-tests, built next to
    /// this executable; it needs root and Open vSwitch).
    #[arg(long)]
    pub bulk: bool,
    /// Plan copies of the bulk benchmark (its default: 447 copies of C(8,3), 25,032
    /// addresses, 50,064 messages).
    #[arg(long, value_name = "N", requires = "bulk")]
    pub bulk_copies: Option<u32>,
}

/// Percentiles of a set of durations, in ns.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Samples.
    pub n: usize,
    /// Median.
    pub p50_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Largest.
    pub max_ns: u64,
    /// Mean.
    pub mean_ns: u64,
}

impl Summary {
    /// The summary of `samples` (ns); sorts them.
    pub fn of(samples: &mut [u64]) -> Summary {
        samples.sort_unstable();
        let n = samples.len();
        let at = |p: f64| -> u64 {
            if n == 0 {
                return 0;
            }
            // Nearest rank: the smallest sample with at least p of them at or below it.
            let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
            samples[rank - 1]
        };
        let sum: u128 = samples.iter().map(|s| u128::from(*s)).sum();
        Summary {
            n,
            p50_ns: at(0.50),
            p99_ns: at(0.99),
            p999_ns: at(0.999),
            max_ns: samples.last().copied().unwrap_or(0),
            mean_ns: if n == 0 { 0 } else { (sum / n as u128) as u64 },
        }
    }
}

/// Local claims, both methods.
#[derive(Clone, Debug, Serialize)]
pub struct LocalFigures {
    /// Claims per second over every batch (claim + drop, no timer in the loop).
    pub claims_per_s: f64,
    /// Mean ns per claim of each batch.
    pub batches: Summary,
    /// Claims per batch.
    pub batch_size: u64,
    /// Time between consecutive timestamps, one claim apart (includes one timer read).
    pub per_claim: Summary,
    /// The cost of one timer read (`Instant::now()`), median, ns.
    pub timer_ns: u64,
}

/// Everything measured.
#[derive(Clone, Debug, Serialize)]
pub struct Figures {
    /// Where: embedded or the URLs.
    pub target: String,
    /// The plan: members, k, copies.
    pub plan: String,
    /// Local claims.
    pub local: LocalFigures,
    /// Claims over HTTP (ns).
    pub http: Summary,
}

/// Every k-subset of `members`, in rank order.
pub fn all_subsets(members: &[IpAddr], k: usize) -> Vec<Vec<IpAddr>> {
    let n = members.len();
    let count = controller::rank::subset_count(n, k).unwrap_or(0);
    (0..count)
        .filter_map(|r| controller::rank::unrank(n, k, r).ok())
        .map(|idx| idx.into_iter().map(|i| members[i]).collect())
        .collect()
}

/// Times local claims from `claimer`, cycling over `subsets`.
pub fn measure_local(claimer: &BlockClaimer, subsets: &[Vec<IpAddr>], n: u64) -> LocalFigures {
    const BATCH: u64 = 1000;
    let pick = |i: u64| &subsets[(i % subsets.len() as u64) as usize];
    // Warm up caches and branch predictors.
    for i in 0..10_000 {
        black_box(claimer.claim(pick(i)).map(|c| c.address()).ok());
    }
    let batches = n.div_ceil(BATCH).max(1);
    let mut batch_ns = Vec::with_capacity(batches as usize);
    let mut refused = 0u64;
    let all = Instant::now();
    for b in 0..batches {
        let t = Instant::now();
        for i in b * BATCH..(b + 1) * BATCH {
            match claimer.claim(pick(i)) {
                Ok(c) => {
                    black_box(c.address());
                }
                Err(_) => refused += 1,
            }
        }
        batch_ns.push(t.elapsed().as_nanos() as u64 / BATCH);
    }
    let total = all.elapsed();
    let claims_per_s = (batches * BATCH) as f64 / total.as_secs_f64();

    // One timestamp between consecutive claims: sample i spans claim i and one timer read.
    let samples = n.max(1) as usize;
    let mut stamps: Vec<Instant> = Vec::with_capacity(samples + 1);
    stamps.push(Instant::now());
    for i in 0..samples as u64 {
        match claimer.claim(pick(i)) {
            Ok(c) => {
                black_box(c.address());
            }
            Err(_) => refused += 1,
        }
        stamps.push(Instant::now());
    }
    let mut per_claim: Vec<u64> = stamps
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).as_nanos() as u64)
        .collect();
    let mut timer: Vec<u64> = Vec::with_capacity(100_000);
    let mut prev = Instant::now();
    for _ in 0..100_000 {
        let now = Instant::now();
        timer.push(now.duration_since(prev).as_nanos() as u64);
        prev = now;
    }
    if refused > 0 {
        tracing::warn!(
            refused,
            "some local claims were refused during the benchmark"
        );
    }
    LocalFigures {
        claims_per_s,
        batches: Summary::of(&mut batch_ns),
        batch_size: BATCH,
        per_claim: Summary::of(&mut per_claim),
        timer_ns: Summary::of(&mut timer).p50_ns,
    }
}

/// Times `n` claims over HTTP, one after another, cycling over `subsets`.
pub async fn measure_http(
    agent: &Agent,
    group: &str,
    subsets: &[Vec<IpAddr>],
    n: u64,
) -> Result<Summary, AgentError> {
    let lease = Duration::from_secs(30);
    let warmup = (n / 10).clamp(10, 200);
    let mut samples = Vec::with_capacity(n as usize);
    for i in 0..warmup + n {
        let subset = &subsets[(i % subsets.len() as u64) as usize];
        let t = Instant::now();
        let claim = agent.claim_for(group, subset, lease).await?;
        let took = t.elapsed().as_nanos() as u64;
        if i >= warmup {
            samples.push(took);
        }
        claim.release().await?;
    }
    Ok(Summary::of(&mut samples))
}

fn err(message: String) -> CliError {
    CliError { message, code: 1 }
}

/// Runs the benchmark of `args`; returns the report.
pub async fn run(cli: &Cli, args: &BenchArgs) -> Result<String, CliError> {
    if args.bulk {
        return bulk(args.bulk_copies).await;
    }
    if args.external {
        let figures = bench_on(cli, &cli.urls, &args.group, args, cli.urls.join(",")).await?;
        return report(cli.json, &figures);
    }
    embedded(cli, args).await
}

const BULK: &str = "\
The bulk-install benchmark installs a rendezvous plan of about 50,000 groups+flows into one
Open vSwitch bridge and compares it with a raw pipelined OpenFlow client sending the same
messages in the same run. It needs root and Open vSwitch, so it is a binary of the tsm-tests
crate, run next to this one when it is built:

  cargo build --release -p tsm-tests --bin bulk_bench
  tsm-agent bench --bulk            # or: cargo run --release -p tsm-tests --bin bulk_bench
";

/// Runs `bulk_bench` from the directory of this executable (a cargo target directory), with
/// its output on ours; or says how to build it.
async fn bulk(copies: Option<u32>) -> Result<String, CliError> {
    let exe = std::env::current_exe().map_err(|e| err(format!("cannot find myself: {e}")))?;
    let Some(bin) = exe
        .parent()
        .map(|d| d.join("bulk_bench"))
        .filter(|p| p.exists())
    else {
        return Err(CliError {
            message: format!("bulk_bench is not built next to {}\n{BULK}", exe.display()),
            code: 2,
        });
    };
    let mut cmd = tokio::process::Command::new(&bin);
    if let Some(c) = copies {
        cmd.arg(c.to_string());
    }
    let status = cmd
        .status()
        .await
        .map_err(|e| err(format!("cannot run {}: {e}", bin.display())))?;
    if status.success() {
        Ok(String::new())
    } else {
        Err(err(format!("{} failed ({status})", bin.display())))
    }
}

#[cfg(feature = "embedded")]
async fn embedded(cli: &Cli, args: &BenchArgs) -> Result<String, CliError> {
    use controller::demo::{Demo, DemoConfig};

    // tsmd as deployed: a state directory, so each claim goes through the claim journal.
    let state = tempfile::tempdir().map_err(|e| {
        err(format!(
            "cannot create a state directory for the embedded tsmd: {e}"
        ))
    })?;
    let config = DemoConfig {
        state_dir: Some(state.path().to_owned()),
        ..DemoConfig::ephemeral()
    };
    let demo = Demo::start(&config)
        .await
        .map_err(|e| err(format!("cannot start the embedded tsmd: {e}")))?;
    let result = async {
        demo.wait_discovered(Duration::from_secs(20))
            .await
            .map_err(|e| err(format!("the embedded fabric: {e}")))?;
        let url = format!("http://{}", demo.api_addr());
        setup_group(&demo.client, &args.group).await?;
        let target = "embedded tsmd (state directory with claim journal), switch-sim leaf-spine \
                      (6 switches, 12 hosts) in memory";
        bench_on(
            cli,
            std::slice::from_ref(&url),
            &args.group,
            args,
            target.to_owned(),
        )
        .await
    }
    .await;
    if let Err(e) = demo.shutdown().await {
        tracing::warn!(error = %e, "the embedded tsmd did not stop cleanly");
    }
    report(cli.json, &result?)
}

#[cfg(not(feature = "embedded"))]
async fn embedded(_cli: &Cli, _args: &BenchArgs) -> Result<String, CliError> {
    Err(CliError {
        message: "this tsm-agent was built without the embedded tsmd: use --external".into(),
        code: 2,
    })
}

/// Defines `group` over h1..h8 of the demo fabric and installs a plan with k = 3 and 4
/// copies (224 addresses); waits until it is ready.
#[cfg(feature = "embedded")]
async fn setup_group(client: &api::Client, group: &str) -> Result<(), CliError> {
    let name: api::GroupName = group
        .parse()
        .map_err(|e| err(format!("group name {group:?}: {e}")))?;
    let api_err = |what: &str, e: api::ClientError| err(format!("{what}: {e}"));
    let spec = api::GroupSpec {
        address: "239.1.0.1".parse().map_err(|e| err(format!("{e}")))?,
        members: (1..=8)
            .map(|i| IpAddr::from([10, 0, 0, i]))
            .collect::<Vec<_>>()
            .into(),
    };
    client
        .put_group(&name, &spec)
        .await
        .map_err(|e| api_err("defining the group", e))?;
    let req = api::RendezvousRequest {
        k: 3,
        copies: 4,
        base: "239.2.0.0".parse().map_err(|e| err(format!("{e}")))?,
    };
    client
        .put_rendezvous(&name, &req)
        .await
        .map_err(|e| api_err("installing the plan", e))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let plan = client
            .rendezvous(&name)
            .await
            .map_err(|e| api_err("reading the plan", e))?;
        match plan.state {
            api::PlanState::Ready => return Ok(()),
            api::PlanState::Installing if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => {
                return Err(err(format!(
                    "the plan did not become ready: {other:?} {}",
                    plan.error.unwrap_or_default()
                )))
            }
        }
    }
}

async fn bench_on(
    cli: &Cli,
    urls: &[String],
    group: &str,
    args: &BenchArgs,
    target: String,
) -> Result<Figures, CliError> {
    let options = AgentOptions::new(urls)
        .token(cli.token.as_deref())
        .timeout(Duration::from_millis(cli.timeout_ms.max(1)))
        .follow_events(false);
    let agent = Agent::with_options(options.clone())?;
    let name: api::GroupName = group
        .parse()
        .map_err(|e| err(format!("group name {group:?}: {e}")))?;
    let name = &name;
    let plan = agent
        .endpoints()
        .call(|c| async move { c.rendezvous(name).await })
        .await?;
    let subsets = all_subsets(&plan.members, plan.k as usize);
    if subsets.is_empty() {
        return Err(err(format!("the plan of group {group} has no subsets")));
    }
    // The sender on a thread and runtime of its own, as a sender program beside tsmd would
    // be: sharing the embedded tsmd's two workers added their hand-offs to every claim.
    let http = {
        let (group, subsets, n) = (group.to_owned(), subsets.clone(), args.http);
        tokio::task::spawn_blocking(move || -> Result<Summary, CliError> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| err(format!("cannot start the sender's runtime: {e}")))?;
            rt.block_on(async {
                let agent = Agent::with_options(options)?;
                Ok(measure_http(&agent, &group, &subsets, n).await?)
            })
        })
        .await
        .map_err(|e| err(format!("the HTTP benchmark failed: {e}")))??
    };
    let block = agent
        .hold_block(group, args.block_copies, Duration::from_secs(120))
        .await?;
    let claimer = block.claimer();
    let n = args.local;
    let subsets_for_local = subsets.clone();
    // On a thread of its own: the runtime's threads stay free for the renewal task.
    let local = tokio::task::spawn_blocking(move || measure_local(&claimer, &subsets_for_local, n))
        .await
        .map_err(|e| err(format!("the local benchmark failed: {e}")))?;
    block.release().await?;
    Ok(Figures {
        target,
        plan: format!(
            "n = {}, k = {}, copies = {} ({} addresses); block of {} copies",
            plan.members.len(),
            plan.k,
            plan.copies,
            plan.addresses,
            args.block_copies
        ),
        local,
        http,
    })
}

fn us(ns: u64) -> String {
    if ns < 10_000 {
        format!("{ns} ns")
    } else {
        format!("{:.1} µs", ns as f64 / 1000.0)
    }
}

fn report(json: bool, f: &Figures) -> Result<String, CliError> {
    if json {
        let mut s = serde_json::to_string_pretty(f).map_err(|e| err(e.to_string()))?;
        s.push('\n');
        return Ok(s);
    }
    let l = &f.local;
    let mut s = String::new();
    let _ = writeln!(s, "target: {}", f.target);
    let _ = writeln!(s, "plan:   {}", f.plan);
    let _ = writeln!(s, "local claims (claim + drop, one thread):");
    let _ = writeln!(
        s,
        "  batches of {}: {:.2} M claims/s; mean per claim by batch: p50 {}, p99 {}, max {}",
        l.batch_size,
        l.claims_per_s / 1e6,
        us(l.batches.p50_ns),
        us(l.batches.p99_ns),
        us(l.batches.max_ns)
    );
    let _ = writeln!(
        s,
        "  per-claim timestamps (n = {}, each includes one timer read of ~{} ns): \
         p50 {}, p99 {}, p99.9 {}, max {}",
        l.per_claim.n,
        l.timer_ns,
        us(l.per_claim.p50_ns),
        us(l.per_claim.p99_ns),
        us(l.per_claim.p999_ns),
        us(l.per_claim.max_ns)
    );
    let h = &f.http;
    let _ = writeln!(
        s,
        "claims over HTTP (sequential, n = {}): p50 {}, p99 {}, p99.9 {}, max {}, mean {}",
        h.n,
        us(h.p50_ns),
        us(h.p99_ns),
        us(h.p999_ns),
        us(h.max_ns),
        us(h.mean_ns)
    );
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        let s = Summary::of(&mut v);
        assert_eq!((s.p50_ns, s.p99_ns, s.max_ns, s.mean_ns), (50, 99, 100, 50));
        assert_eq!(Summary::of(&mut []).n, 0);
    }

    #[test]
    fn subsets_are_enumerated_in_rank_order() {
        let members: Vec<IpAddr> = (1..=5).map(|i| IpAddr::from([10, 0, 0, i])).collect();
        let all = all_subsets(&members, 2);
        assert_eq!(all.len(), 10);
        assert_eq!(all[0], vec![members[0], members[1]]);
        assert_eq!(all[9], vec![members[3], members[4]]);
    }
}
