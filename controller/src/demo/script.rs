//! `tsmd demo --script`: the product's promise, checked end to end on the demo fabric.
//!
//! Through the real HTTP API (`api::Client`): a negotiating group of six hosts on three
//! leaves, a subset of three pushed with `POST …/subsets`; then datagrams from a group member,
//! from a host outside the group and from a subset member (different leaves), each of which
//! must reach exactly the subset's members (the sender excepted) once; then `DELETE` and a
//! datagram that must reach nobody. The same once more over IPv6. Every line says who
//! received what.
//!
//! Guarantees: every check runs even after one fails, and the run fails
//! ([`DemoError::Inexact`]) if any delivery was not exact; an API refusal fails it at once,
//! naming the request.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use api::{GroupName, GroupSpec, Subset, SubsetRequest, Upsert};
use tokio::time::Instant;

use super::check::Verdict;
use super::fabric::{leaf_dpid, spine_dpid};
use super::host::HostId;
use super::observe::{send_and_count, Wait};
use super::{Demo, DemoError, DISCOVERY_TIMEOUT};

/// The group's members (h1 h2 on leaf 1, h4 h5 on leaf 2, h7 h8 on leaf 3).
pub const GROUP: [u8; 6] = [1, 2, 4, 5, 7, 8];
/// The subset: one member on each of the three leaves.
pub const SUBSET: [u8; 3] = [2, 5, 7];
/// The group's own address (IPv4).
pub const GROUP_ADDR: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 1);
/// The group's own address (IPv6, organisation-local scope).
pub const GROUP_ADDR6: Ipv6Addr = Ipv6Addr::new(0xff18, 0, 0, 0, 0, 0, 0, 0x0101);
/// The first subset address the default pool hands out.
pub const FIRST_SUBSET_ADDR: Ipv4Addr = Ipv4Addr::new(239, 192, 0, 0);
/// The subsets' lease.
pub const LEASE_MS: u64 = 60_000;
/// The UDP destination port of the script's datagrams.
pub const PORT: u16 = 6000;

/// The longest wait for the expected copies, and the quiet window after them.
const WAIT_MAX: Duration = Duration::from_secs(2);
const QUIET: Duration = Duration::from_millis(200);

/// Where the script is, for a deadline's message.
#[derive(Debug, Default)]
pub struct Progress(Mutex<String>);

impl Progress {
    fn set(&self, step: impl Into<String>) {
        if let Ok(mut s) = self.0.lock() {
            *s = step.into();
        }
    }

    /// The step running now.
    pub fn step(&self) -> String {
        self.0
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|_| "unknown".to_owned())
    }
}

/// One delivery check.
#[derive(Clone, Debug)]
pub struct Check {
    pub from: HostId,
    pub to: IpAddr,
    pub verdict: Verdict,
}

/// What a successful run checked.
#[derive(Clone, Debug)]
pub struct Summary {
    pub checks: Vec<Check>,
    pub took: Duration,
}

fn ids(v: &[u8]) -> Vec<HostId> {
    v.iter().map(|n| HostId(*n)).collect()
}

fn names(v: &[HostId]) -> String {
    v.iter()
        .map(|h| h.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `spine 1`, `leaf 3`, or the datapath id.
fn switch_name(dpid: u64, spines: u32, leaves: u32) -> String {
    if let Some(s) = (1..=spines).find(|s| spine_dpid(*s) == dpid) {
        return format!("spine{s}");
    }
    if let Some(l) = (1..=leaves).find(|l| leaf_dpid(*l) == dpid) {
        return format!("leaf{l}");
    }
    format!("{dpid:016x}")
}

/// Runs the script on a started demo, writing the transcript to `out`.
pub async fn run(
    demo: &Demo,
    out: &mut (dyn Write + Send),
    progress: &Progress,
) -> Result<Summary, DemoError> {
    let started = Instant::now();
    let sh = demo.fabric.shape;
    let mut s = Script {
        demo,
        out,
        progress,
        checks: Vec::new(),
    };
    writeln!(
        s.out,
        "tsmd demo --script: tsmd and {} switch-sim switches ({} spines, {} leaves) with {} hosts in this process; API http://{}",
        sh.switches(),
        sh.spines,
        sh.leaves,
        sh.hosts(),
        demo.api_addr()
    )?;

    progress.set("discovery (switches, links and hosts in the API)");
    let d = demo.wait_discovered(DISCOVERY_TIMEOUT).await?;
    writeln!(
        s.out,
        "[1/6] discovery: {} switches, {} links, {} hosts (IPv4 and IPv6) known to the API after {:.2} s",
        d.switches,
        d.links,
        d.hosts,
        d.took.as_secs_f64()
    )?;

    let members = ids(&GROUP);
    let subset = ids(&SUBSET);
    let v4 = |v: &[HostId]| v.iter().map(|h| IpAddr::V4(h.ipv4())).collect::<Vec<_>>();
    let v6 = |v: &[HostId]| v.iter().map(|h| IpAddr::V6(h.ipv6())).collect::<Vec<_>>();

    // IPv4.
    let group = s
        .put_group("[2/6]", "storage", IpAddr::V4(GROUP_ADDR), v4(&members))
        .await?;
    let sub = s.post_subset("[3/6]", &group, v4(&subset)).await?;
    let addr = sub.address;
    writeln!(
        s.out,
        "[4/6] datagrams to {addr}: each must reach {} (not the sender) exactly once, nobody else",
        names(&subset)
    )?;
    // A group member outside the subset, a host outside the group, a subset member: each
    // on a different leaf.
    for (from, role) in [
        (HostId(1), "group member"),
        (HostId(10), "not in the group"),
        (HostId(5), "subset member"),
    ] {
        s.deliver(from, role, addr, &subset).await?;
    }
    s.delete_subset("[5/6]", addr).await?;
    s.deliver(HostId(1), "group member", addr, &[]).await?;

    // IPv6: the same, shorter.
    let group6 = s
        .put_group(
            "[6/6] IPv6:",
            "storage6",
            IpAddr::V6(GROUP_ADDR6),
            v6(&members),
        )
        .await?;
    let sub6 = s.post_subset("      IPv6:", &group6, v6(&subset)).await?;
    s.deliver(HostId(10), "not in the group", sub6.address, &subset)
        .await?;
    s.delete_subset("      IPv6:", sub6.address).await?;
    s.deliver(HostId(10), "not in the group", sub6.address, &[])
        .await?;

    let took = started.elapsed();
    let failures: Vec<String> = s
        .checks
        .iter()
        .filter(|c| !c.verdict.is_exact())
        .map(|c| format!("{} -> {}: {}", c.from, c.to, c.verdict))
        .collect();
    let n = s.checks.len();
    if failures.is_empty() {
        writeln!(
            s.out,
            "result: PASS, delivery was exact in {n} of {n} checks ({:.2} s)",
            took.as_secs_f64()
        )?;
        Ok(Summary {
            checks: s.checks,
            took,
        })
    } else {
        writeln!(
            s.out,
            "result: FAIL, delivery was not exact in {} of {n} checks: {}",
            failures.len(),
            failures.join("; ")
        )?;
        Err(DemoError::Inexact { failures })
    }
}

struct Script<'a> {
    demo: &'a Demo,
    out: &'a mut (dyn Write + Send),
    progress: &'a Progress,
    checks: Vec<Check>,
}

impl Script<'_> {
    fn api_err(step: String) -> impl FnOnce(api::ClientError) -> DemoError {
        move |source| DemoError::Api { step, source }
    }

    async fn put_group(
        &mut self,
        tag: &str,
        name: &str,
        address: IpAddr,
        members: Vec<IpAddr>,
    ) -> Result<GroupName, DemoError> {
        let step = format!("PUT /v1/groups/{name}");
        self.progress.set(step.clone());
        let g: GroupName = name
            .parse()
            .map_err(|e| DemoError::Usage(format!("group name {name:?}: {e}")))?;
        let shown: Vec<HostId> = self.hosts_of(&members);
        let r = self
            .demo
            .client
            .put_group(
                &g,
                &GroupSpec {
                    address,
                    members: members.into(),
                },
            )
            .await
            .map_err(Self::api_err(step.clone()))?;
        let (how, v) = match &r {
            Upsert::Created(g) => ("201 created", g.version),
            Upsert::Replaced(g) => ("200 replaced", g.version),
        };
        writeln!(
            self.out,
            "{tag} {step} address {address}, members {}: {how}, version {v}",
            names(&shown)
        )?;
        Ok(g)
    }

    async fn post_subset(
        &mut self,
        tag: &str,
        group: &GroupName,
        members: Vec<IpAddr>,
    ) -> Result<Subset, DemoError> {
        let step = format!("POST /v1/groups/{group}/subsets");
        self.progress.set(step.clone());
        let shown = self.hosts_of(&members);
        let t = Instant::now();
        let sub = self
            .demo
            .client
            .create_subset(
                group,
                &SubsetRequest {
                    members,
                    lease_ms: LEASE_MS,
                },
            )
            .await
            .map_err(Self::api_err(step.clone()))?;
        let took = t.elapsed();
        let sh = self.demo.fabric.shape;
        let switches: Vec<String> = sub
            .switches
            .iter()
            .map(|d| switch_name(d.0, sh.spines, sh.leaves))
            .collect();
        writeln!(
            self.out,
            "{tag} {step} members {}, lease {} s: 201 address {}, rules confirmed by {} switches ({}) in {} ms, trace id {}",
            names(&shown),
            LEASE_MS / 1000,
            sub.address,
            switches.len(),
            switches.join(" "),
            took.as_millis(),
            sub.trace_id
        )?;
        Ok(sub)
    }

    async fn delete_subset(&mut self, tag: &str, addr: IpAddr) -> Result<(), DemoError> {
        let step = format!("DELETE /v1/subsets/{addr}");
        self.progress.set(step.clone());
        self.demo
            .client
            .delete_subset(addr)
            .await
            .map_err(Self::api_err(step.clone()))?;
        writeln!(
            self.out,
            "{tag} {step}: 204; the address must now reach nobody"
        )?;
        Ok(())
    }

    /// Sends from `from` to `addr` and checks that exactly `want` minus the sender got it.
    async fn deliver(
        &mut self,
        from: HostId,
        role: &str,
        addr: IpAddr,
        want: &[HostId],
    ) -> Result<(), DemoError> {
        let expected: BTreeSet<HostId> = want.iter().copied().filter(|h| *h != from).collect();
        self.progress.set(format!("datagram from {from} to {addr}"));
        let host = self.demo.host(from)?;
        let payload = format!(
            "tsmd demo: datagram {} from {from} to {addr}",
            self.checks.len() + 1
        );
        let got: BTreeMap<HostId, usize> = send_and_count(
            &self.demo.fabric.hosts,
            host,
            SocketAddr::new(addr, PORT),
            payload.into_bytes(),
            &Wait {
                expected: Some(expected.clone()),
                max: WAIT_MAX,
                quiet: QUIET,
            },
        )
        .await?;
        let verdict = Verdict::new(expected, got);
        let who = format!("{from} ({role}, leaf {})", host.at.leaf);
        writeln!(
            self.out,
            "      {who:<30} -> {addr}: received by {}: {}",
            verdict.receivers(),
            verdict
        )?;
        self.checks.push(Check {
            from,
            to: addr,
            verdict,
        });
        Ok(())
    }

    /// The demo hosts that have these addresses (for printing).
    fn hosts_of(&self, ips: &[IpAddr]) -> Vec<HostId> {
        self.demo
            .fabric
            .hosts
            .iter()
            .filter(|h| {
                ips.contains(&IpAddr::V4(h.id.ipv4())) || ips.contains(&IpAddr::V6(h.id.ipv6()))
            })
            .map(|h| h.id)
            .collect()
    }
}
