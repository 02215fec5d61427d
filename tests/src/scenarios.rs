//! The end-to-end scenarios of tsmd, written once for every [`DataPlane`]: `tests/e2e_ovs.rs`
//! runs them on Open vSwitch, `tests/e2e_sim.rs` on switch-sim, with the same seeds and the
//! same expectations.
//!
//! - [`subsets_expiry_delete`]: discovery matches the built fabric; ≥ 50 random subsets of a
//!   6-member group deliver a datagram from a random host exactly to the other subset
//!   members, right after the 201; after lease expiry and after DELETE the address reaches
//!   nobody and no switch holds a flow for it;
//! - [`ring_link_failure`]: an inter-switch link in use goes down, and live subsets deliver
//!   exactly again after the recompute (probed until exact, with a deadline); new subsets too;
//! - [`bad_input`]: each refusal is a problem naming the culprit, and the switches hold
//!   nothing of the refused request;
//! - [`restart_reconciles`]: tsmd restarted on its state directory adopts the switches' rules
//!   without touching them, and delivery stays exact throughout.
//!
//! Each returns an error for a harness failure and panics (a failed assertion) when tsmd or
//! the switches do something else than expected. Random choices come from a seed printed at
//! the start; `TSM_E2E_SEED=N` replays it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use api::{ApiError, ClientError, Subset};
use controller::daemon::Settings;
use controller::{AddrRange, EventKind};
use tokio::sync::broadcast::error::RecvError;

use crate::e2e::{check_cases, group_name, wait_exact, Case, E2e, E2eError, E2eResult, Rng};
use crate::{DataPlane, TopologySpec};

/// The negotiating group's address.
pub const GROUP: &str = "239.1.1.1";
/// Subsets per topology.
pub const SUBSETS: usize = 50;
/// How many subsets are live at once (one probe batch).
pub const BATCH: usize = 10;
/// How soon after a removal the data plane must have stopped delivering (Open vSwitch
/// applies a removal to datapath flows it has cached once its revalidators run, which a
/// barrier reply does not wait for: NOTES ~0.3 ms, more under load).
pub const REMOVAL_BOUND: Duration = Duration::from_millis(500);

fn ip(s: &str) -> E2eResult<IpAddr> {
    s.parse()
        .map_err(|_| E2eError::Invalid(format!("{s:?} is not an IP address")))
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Every host's name, in host order.
pub fn host_names<F: DataPlane>(e: &E2e<F>) -> Vec<String> {
    e.fabric
        .topology()
        .host_names()
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// Builds `spec` as an `F` fabric under a discovered tsmd (tuned by `tune`) and a seeded
/// generator; prints the seed and how long it took.
pub fn setup<F: DataPlane>(
    spec: &TopologySpec,
    tune: impl FnOnce(&mut Settings),
) -> E2eResult<(E2e<F>, Rng, u64)> {
    F::check_environment().map_err(E2eError::Invalid)?;
    let seed = Rng::seed_from_env("TSM_E2E_SEED");
    eprintln!(
        "{}: seed {seed} (TSM_E2E_SEED={seed} replays it)",
        spec.name
    );
    let start = Instant::now();
    let e = E2e::<F>::start(spec, tune)?;
    eprintln!(
        "{} on {}: built and discovered ({} links, {} hosts) in {:?}",
        spec.name,
        e.fabric.kind(),
        e.fabric.topology().links.len(),
        e.fabric.topology().hosts.len(),
        start.elapsed()
    );
    Ok((e, Rng::new(seed), seed))
}

/// A random 6-member group `g` at [`GROUP`]; its members.
pub fn random_group<F: DataPlane>(e: &E2e<F>, rng: &mut Rng) -> E2eResult<Vec<String>> {
    let members = rng.choose(&host_names(e), 6);
    e.put_group("g", ip(GROUP)?, &refs(&members))?;
    Ok(members)
}

/// A live subset of `members` of group `g` with a random sender (any of `hosts`), as a probe
/// case. The 201 must name exactly the members asked for.
pub fn subset_case<F: DataPlane>(
    e: &E2e<F>,
    rng: &mut Rng,
    members: &[String],
    hosts: &[String],
    lease_ms: u64,
) -> E2eResult<Case> {
    let chosen = rng.subset(members);
    let sender = rng.pick(hosts).clone();
    let s = e
        .create_subset("g", &refs(&chosen), lease_ms)?
        .unwrap_or_else(|err| panic!("POST subset {chosen:?}: {err}"));
    let want = chosen
        .iter()
        .map(|h| e.ip(h))
        .collect::<E2eResult<BTreeSet<IpAddr>>>()?;
    let got: BTreeSet<IpAddr> = s.members.iter().copied().collect();
    assert_eq!(got, want, "the 201 names other members");
    Ok(Case {
        address: s.address,
        expected: chosen.iter().filter(|h| **h != sender).cloned().collect(),
        members: chosen,
        sender,
    })
}

/// `n` live subsets (lease 60 s).
pub fn subset_cases<F: DataPlane>(
    e: &E2e<F>,
    rng: &mut Rng,
    members: &[String],
    n: usize,
) -> E2eResult<Vec<Case>> {
    let hosts = host_names(e);
    (0..n)
        .map(|_| subset_case(e, rng, members, &hosts, 60_000))
        .collect()
}

/// Discovery, [`SUBSETS`] random subsets (batches of [`BATCH`] live subsets, deleted after
/// each batch so later batches reuse pool addresses), then [`expiry_and_delete`].
pub fn subsets_expiry_delete<F: DataPlane>(spec: TopologySpec) -> E2eResult<()> {
    let (e, mut rng, seed) = setup::<F>(&spec, |_| {})?;
    let members = random_group(&e, &mut rng)?;
    eprintln!("{}: group members {members:?}", spec.name);

    let start = Instant::now();
    let mut failures = Vec::new();
    for batch in 0..SUBSETS / BATCH {
        let cases = subset_cases(&e, &mut rng, &members, BATCH)?;
        let bad = check_cases(&e, &cases)?;
        if !bad.is_empty() {
            // Diagnosis, not a retry: the failure stands. Exact after `settle` (OVS:
            // `revalidator/wait`) means a stale datapath flow of the address's previous
            // subset (NOTES.md).
            e.fabric.settle()?;
            let after = check_cases(&e, &cases)?;
            for f in bad {
                failures.push(format!(
                    "batch {batch}: {f} (after settle: {})",
                    if after.is_empty() {
                        "exact"
                    } else {
                        "still wrong"
                    }
                ));
            }
        }
        for c in &cases {
            e.delete_subset(c.address)?;
        }
    }
    eprintln!(
        "{} on {}: {SUBSETS} subsets probed in {:?}",
        spec.name,
        e.fabric.kind(),
        start.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} on {} (seed {seed}): {} of {SUBSETS} subsets not exact:\n{}",
        spec.name,
        e.fabric.kind(),
        failures.len(),
        failures.join("\n")
    );

    expiry_and_delete(&e, &mut rng, &members, seed)
}

/// A short lease and a DELETE: exact while live, nobody afterwards (within
/// [`REMOVAL_BOUND`]), and no flow left for either address on any switch.
pub fn expiry_and_delete<F: DataPlane>(
    e: &E2e<F>,
    rng: &mut Rng,
    members: &[String],
    seed: u64,
) -> E2eResult<()> {
    let hosts = host_names(e);
    let short = subset_case(e, rng, members, &hosts, 1_500)?;
    let long = subset_case(e, rng, members, &hosts, 60_000)?;
    let live = check_cases(e, &[short.clone(), long.clone()])?;
    assert!(live.is_empty(), "seed {seed}: {live:?}");

    e.delete_subset(long.address)?;
    let gone = Case {
        expected: vec![],
        ..long.clone()
    };
    // The address must reach nobody within a short bound, not at the very instant of the
    // 204 (see REMOVAL_BOUND).
    let took = wait_exact(e, &[gone], REMOVAL_BOUND)
        .unwrap_or_else(|err| panic!("seed {seed}: after DELETE: {err}"));
    eprintln!("after DELETE the address reached nobody within {took:?}");

    // The lease ends 1.5 s after the 201: wait for tsmd to drop it.
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        let listed = e.tsmd.block_on(e.client().subsets())?;
        if !listed.iter().any(|s| s.address == short.address) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "subset {} still listed 6 s after a 1.5 s lease",
            short.address
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let expired = Case {
        expected: vec![],
        ..short.clone()
    };
    wait_exact(e, &[expired], REMOVAL_BOUND)
        .unwrap_or_else(|err| panic!("seed {seed}: after expiry: {err}"));
    for s in &e.fabric.topology().switches {
        let flows = e.fabric.dump_flows(&s.name)?;
        for a in [short.address, long.address] {
            assert!(
                !flows.contains(&format!("={a},")) && !flows.contains(&format!("={a} ")),
                "{}: a flow for {a} is left:\n{flows}",
                s.name
            );
        }
    }
    Ok(())
}

/// An inter-switch link (index into `topology().links`) that some installed group outputs
/// to, as `ovs-ofctl dump-groups` shows the buckets (`bucket=actions=output:N`).
pub fn link_in_use<F: DataPlane>(e: &E2e<F>) -> E2eResult<Option<usize>> {
    let topo = e.fabric.topology();
    for (i, l) in topo.links.iter().enumerate() {
        for end in [&l.a, &l.b] {
            let groups = e
                .fabric
                .ofctl_with(&["--no-names"], "dump-groups", &end.switch, &[])?;
            let out = end.port.to_string();
            if groups.split([',', ' ', '\n']).any(|tok| {
                tok.split_once("output:")
                    .is_some_and(|(_, p)| p == out.as_str())
            }) {
                return Ok(Some(i));
            }
        }
    }
    Ok(None)
}

/// Waits for the next event of `e`'s tsmd that `pick` accepts, up to `within`.
fn wait_event<F: DataPlane, T>(
    e: &E2e<F>,
    events: &mut tokio::sync::broadcast::Receiver<controller::Event>,
    within: Duration,
    what: &str,
    mut pick: impl FnMut(&EventKind) -> Option<T>,
) -> E2eResult<T> {
    let got = e.tsmd.block_on(async {
        tokio::time::timeout(within, async {
            loop {
                match events.recv().await {
                    Ok(ev) => {
                        if let Some(t) = pick(&ev.kind) {
                            return Ok(t);
                        }
                    }
                    Err(RecvError::Lagged(_)) => {}
                    Err(err) => return Err(format!("event stream: {err}")),
                }
            }
        })
        .await
    });
    match got {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(err)) => Err(E2eError::Invalid(err)),
        Err(_) => Err(E2eError::Timeout {
            what: what.into(),
            after: within,
            last: "no such event".into(),
        }),
    }
}

/// The ring (4 switches, 2 hosts each): [`BATCH`] live subsets; an inter-switch link that an
/// installed group outputs to goes down; after tsmd's `LinkDown` event, probing until exact
/// (10 s deadline); no group outputs to the dead link; new subsets on the cut ring are exact.
pub fn ring_link_failure<F: DataPlane>() -> E2eResult<()> {
    let spec = TopologySpec::ring(4, 2);
    let (e, mut rng, seed) = setup::<F>(&spec, |_| {})?;
    let members = random_group(&e, &mut rng)?;
    let cases = subset_cases(&e, &mut rng, &members, BATCH)?;
    let before = check_cases(&e, &cases)?;
    assert!(before.is_empty(), "seed {seed}: before: {before:?}");

    let Some(index) = link_in_use(&e)? else {
        panic!(
            "no group outputs to an inter-switch link; s1 groups:\n{}",
            e.fabric
                .ofctl_with(&["--no-names"], "dump-groups", "s1", &[])?
        )
    };
    let link = e.fabric.topology().links[index].clone();
    eprintln!(
        "{}: taking down {} – {}",
        e.fabric.kind(),
        link.a.ifname,
        link.b.ifname
    );
    let mut events = e.tsmd.handle()?.subscribe();
    let down_at = Instant::now();
    e.fabric.set_link_up(index, false)?;

    // tsmd sees it (PORT_STATUS), then recomputes; probe until exact.
    wait_event(
        &e,
        &mut events,
        Duration::from_secs(5),
        "a LinkDown event",
        |k| matches!(k, EventKind::LinkDown { .. }).then_some(()),
    )?;
    let took = wait_exact(&e, &cases, Duration::from_secs(10))
        .unwrap_or_else(|err| panic!("seed {seed}: after the link went down: {err}"));
    eprintln!(
        "link down: tsmd saw it and delivery was exact {:?} after the cut (probing took {took:?})",
        down_at.elapsed()
    );
    assert!(
        link_in_use(&e)? != Some(index),
        "groups still output to the dead link"
    );
    let again = check_cases(&e, &cases)?;
    assert!(again.is_empty(), "seed {seed}: second round: {again:?}");

    // New subsets are planned around the dead link, too.
    let fresh = subset_cases(&e, &mut rng, &members, BATCH)?;
    let f = check_cases(&e, &fresh)?;
    assert!(
        f.is_empty(),
        "seed {seed}: new subsets on the cut ring: {f:?}"
    );
    Ok(())
}

/// Nothing of a refused request: no subset listed, no flow for a pool address
/// (`239.192.*`), no group on any switch other than `planted`.
pub fn assert_nothing_installed<F: DataPlane>(
    e: &E2e<F>,
    what: &str,
    planted: Option<u32>,
) -> E2eResult<()> {
    let listed = e.tsmd.block_on(e.client().subsets())?;
    assert!(listed.is_empty(), "{what}: subsets listed: {listed:?}");
    for s in &e.fabric.topology().switches {
        let flows = e.fabric.dump_flows(&s.name)?;
        assert!(
            !flows.contains("239.192."),
            "{what}: {} holds a subset flow:\n{flows}",
            s.name
        );
        let groups = e
            .fabric
            .ofctl_with(&["--no-names"], "dump-groups", &s.name, &[])?;
        for line in groups.lines().filter(|l| l.contains("group_id=")) {
            let id: Option<u32> = line
                .split("group_id=")
                .nth(1)
                .and_then(|r| r.split(',').next())
                .and_then(|n| n.parse().ok());
            assert!(
                id.is_some() && id == planted,
                "{what}: {} holds group {id:?}:\n{groups}",
                s.name
            );
        }
    }
    Ok(())
}

/// The API problem in a refused request (which must be refused with a 4xx/5xx
/// problem+json).
fn refusal(r: Result<Subset, ClientError>) -> ApiError {
    let err = match r {
        Ok(s) => panic!("accepted: {s:?}"),
        Err(err) => err,
    };
    assert!(
        matches!(err.status(), Some(400..=599)),
        "status {:?}",
        err.status()
    );
    err.api_error()
        .cloned()
        .unwrap_or_else(|| panic!("not a problem+json answer: {err}"))
}

/// Bad input on a line of 2 switches (3 hosts each), tsmd with a 10 s lease cap and a pool of
/// 2 addresses: problem+json naming the culprit for a member not in the group, an unknown
/// host, an unknown group, a unicast group address, lease 0 and max+1, the pool exhausted
/// (the live subsets still exact), and a switch refusing with OFPT_ERROR (a group planted
/// with the id tsmd allocates first: `OFPGMFC_GROUP_EXISTS`); after each, nothing installed.
pub fn bad_input<F: DataPlane>() -> E2eResult<()> {
    let spec = TopologySpec::line(2, 3);
    let pool = AddrRange::new(ip("239.192.0.1")?, ip("239.192.0.2")?)
        .map_err(|e| E2eError::Invalid(format!("pool: {e:?}")))?;
    let (e, _, _) = setup::<F>(&spec, |s| {
        s.max_lease = Duration::from_secs(10);
        s.pool_v4 = Some(pool);
    })?;
    e.put_group("g", ip(GROUP)?, &["h1", "h2", "h4", "h5"])?;

    // A member not in the group.
    let err = refusal(e.create_subset("g", &["h1", "h3"], 1000)?);
    let h3 = ip("10.0.0.3")?;
    assert!(
        matches!(&err, ApiError::NotGroupMembers { group, members } if group == "g" && members == &[h3]),
        "{err:?}"
    );
    assert_nothing_installed(&e, "not a member", None)?;

    // An unknown host: refused when the group is defined, or when a subset names it.
    let h99 = ip("10.0.0.99")?;
    let name = group_name("u")?;
    let spec_u = api::GroupSpec {
        address: ip("239.1.1.2")?,
        members: vec![ip("10.0.0.1")?, h99].into(),
    };
    match e.tsmd.block_on(e.client().put_group(&name, &spec_u)) {
        Err(err) => {
            let api = err
                .api_error()
                .cloned()
                .unwrap_or_else(|| panic!("not a problem+json answer: {err}"));
            assert!(
                matches!(&api, ApiError::UnknownHosts { hosts } if hosts == &[h99]),
                "{api:?}"
            );
        }
        Ok(_) => {
            let r = e.tsmd.block_on(e.client().create_subset(
                &name,
                &api::SubsetRequest {
                    members: vec![ip("10.0.0.1")?, h99],
                    lease_ms: 1000,
                },
            ));
            let err = refusal(r);
            assert!(
                matches!(&err, ApiError::UnknownHosts { hosts } if hosts == &[h99]),
                "{err:?}"
            );
        }
    }
    assert_nothing_installed(&e, "unknown host", None)?;

    // An unknown group.
    let err = refusal(e.create_subset("nope", &["h1"], 1000)?);
    assert!(
        matches!(&err, ApiError::UnknownGroup { group } if group == "nope"),
        "{err:?}"
    );

    // A unicast group address.
    let bad = group_name("bad")?;
    let unicast = ip("10.1.2.3")?;
    let r = e.tsmd.block_on(e.client().put_group(
        &bad,
        &api::GroupSpec {
            address: unicast,
            members: vec![ip("10.0.0.1")?].into(),
        },
    ));
    let api = match r {
        Ok(g) => panic!("unicast group address accepted: {g:?}"),
        Err(err) => err
            .api_error()
            .cloned()
            .unwrap_or_else(|| panic!("not a problem+json answer: {err}")),
    };
    assert!(
        matches!(&api, ApiError::NotMulticast { address } if *address == unicast),
        "{api:?}"
    );

    // Leases out of range.
    for lease in [0, 10_001] {
        let err = refusal(e.create_subset("g", &["h1", "h2"], lease)?);
        assert!(
            matches!(&err, ApiError::LeaseOutOfRange { lease_ms, max_lease_ms: 10_000 } if *lease_ms == lease),
            "{err:?}"
        );
    }
    assert_nothing_installed(&e, "lease", None)?;

    // The pool (2 addresses) exhausted.
    let accepted = |r: Result<Subset, ClientError>| match r {
        Ok(s) => s,
        Err(err) => panic!("refused: {err}"),
    };
    let a = accepted(e.create_subset("g", &["h1", "h4"], 10_000)?);
    let b = accepted(e.create_subset("g", &["h2", "h5"], 10_000)?);
    let err = refusal(e.create_subset("g", &["h1", "h5"], 10_000)?);
    assert!(
        matches!(&err, ApiError::PoolExhausted { size: 2, .. }),
        "{err:?}"
    );
    // The two live ones still deliver exactly.
    let live = [
        Case {
            address: a.address,
            members: vec!["h1".into(), "h4".into()],
            sender: "h1".into(),
            expected: vec!["h4".into()],
        },
        Case {
            address: b.address,
            members: vec!["h2".into(), "h5".into()],
            sender: "h6".into(),
            expected: vec!["h2".into(), "h5".into()],
        },
    ];
    let f = check_cases(&e, &live)?;
    assert!(f.is_empty(), "{f:?}");
    e.delete_subset(a.address)?;
    e.delete_subset(b.address)?;
    assert_nothing_installed(&e, "pool exhausted", None)?;

    // A switch refusing: a group already holds the id tsmd allocates first on s2
    // (0x54530000), so its GROUP_MOD add fails with OFPGMFC_GROUP_EXISTS.
    let planted = 0x5453_0000u32;
    e.fabric.ofctl(
        "add-group",
        "s2",
        &[&format!("group_id={planted},type=all")],
    )?;
    let err = refusal(e.create_subset("g", &["h1", "h4"], 5_000)?);
    assert!(
        matches!(&err, ApiError::SwitchRefused { dpid, .. } if dpid.0 == 2),
        "{err:?}"
    );
    eprintln!("{}: refused: {err}", e.fabric.kind());
    assert_nothing_installed(&e, "switch refused", Some(planted))
}

/// Subset flows of every switch: `(switch, cookie, match and actions) -> (duration s,
/// n_packets)`, as [`subset_flows`] reads them.
pub type FlowTable = BTreeMap<(String, String, String), (f64, u64)>;

/// Subset flows of every switch, parsed from `ovs-ofctl dump-flows`.
pub fn subset_flows<F: DataPlane>(e: &E2e<F>) -> E2eResult<FlowTable> {
    let mut out = BTreeMap::new();
    for s in &e.fabric.topology().switches {
        let flows = e.fabric.dump_flows(&s.name)?;
        for line in flows.lines().filter(|l| l.contains("239.192.")) {
            let field = |name: &str| -> E2eResult<String> {
                line.split([',', ' '])
                    .find_map(|t| t.trim().strip_prefix(name))
                    .map(str::to_owned)
                    .ok_or_else(|| E2eError::Invalid(format!("no {name} in {line}")))
            };
            let cookie = field("cookie=")?;
            let duration: f64 = field("duration=")?
                .trim_end_matches('s')
                .parse()
                .map_err(|_| E2eError::Invalid(format!("duration in {line}")))?;
            let packets: u64 = field("n_packets=")?
                .parse()
                .map_err(|_| E2eError::Invalid(format!("n_packets in {line}")))?;
            let rule = line
                .split_once("priority=")
                .map(|(_, r)| r.to_owned())
                .ok_or_else(|| E2eError::Invalid(format!("no priority in {line}")))?;
            out.insert((s.name.clone(), cookie, rule), (duration, packets));
        }
    }
    Ok(out)
}

/// A line of 3 switches: 8 live subsets; tsmd stopped (delivery stays exact without it),
/// restarted on the same state directory and port: every switch's reconciliation deletes or
/// replaces nothing; exact throughout rediscovery and past the restore settle; the subset
/// flows are the same (cookies, rules) with durations and packet counters continued; restored
/// subsets can be deleted and new ones created.
pub fn restart_reconciles<F: DataPlane>() -> E2eResult<()> {
    let spec = TopologySpec::line(3, 2);
    let (mut e, mut rng, seed) = setup::<F>(&spec, |_| {})?;
    let members = random_group(&e, &mut rng)?;
    let cases = subset_cases(&e, &mut rng, &members, 8)?;
    let f = check_cases(&e, &cases)?;
    assert!(f.is_empty(), "seed {seed}: before: {f:?}");
    let before = subset_flows(&e)?;
    assert!(!before.is_empty(), "no subset flow on any switch");

    // tsmd gone: the switches keep forwarding (fail-secure keeps the flows).
    e.tsmd.stop()?;
    let f = check_cases(&e, &cases)?;
    assert!(f.is_empty(), "seed {seed}: while tsmd is down: {f:?}");

    let fabric = &e.fabric;
    e.tsmd.restart(fabric)?;
    let restarted = Instant::now();
    // From the start: switches queued on the listener may be up before a later subscribe.
    let mut events = e.tsmd.events_from_start()?;
    let n = e.fabric.topology().switches.len();
    let mut ups = Vec::new();
    while ups.len() < n {
        let up = wait_event(
            &e,
            &mut events,
            Duration::from_secs(15),
            "every switch back after the restart",
            |k| match k {
                EventKind::SwitchUp { dpid, reconciled } => Some((*dpid, *reconciled)),
                _ => None,
            },
        )?;
        ups.push(up);
    }
    for (dpid, s) in &ups {
        eprintln!("reconciled {dpid:?}: {s:?}");
        assert!(
            s.flows_deleted == 0
                && s.flows_replaced == 0
                && s.groups_deleted == 0
                && s.groups_modified == 0,
            "{dpid:?} reconciliation removed or replaced rules: {s:?}"
        );
    }
    let listed = e.tsmd.block_on(e.client().subsets())?;
    assert_eq!(listed.len(), cases.len(), "restored subsets: {listed:?}");

    // Exact throughout rediscovery and the re-plan that follows the settle time.
    let settle = e.tsmd.settings().restore_settle + Duration::from_millis(1500);
    let mut rounds = 0;
    while restarted.elapsed() < settle || rounds < 2 {
        let f = check_cases(&e, &cases)?;
        assert!(
            f.is_empty(),
            "seed {seed}: {:?} after restart: {f:?}",
            restarted.elapsed()
        );
        rounds += 1;
    }
    e.wait_discovered(Duration::from_secs(10))?;

    // The very same flows: same cookies and rules, durations and counters continued.
    let after = subset_flows(&e)?;
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "the subset flows changed"
    );
    for (k, (d0, p0)) in &before {
        let (d1, p1) = after[k];
        assert!(
            d1 >= *d0 && p1 >= *p0,
            "{k:?} was re-added: duration {d0}s -> {d1}s, n_packets {p0} -> {p1}"
        );
    }

    // The new tsmd manages restored and new subsets.
    e.delete_subset(cases[0].address)?;
    let gone = Case {
        expected: vec![],
        ..cases[0].clone()
    };
    let f = check_cases(&e, &[gone])?;
    assert!(f.is_empty(), "seed {seed}: deleted after restart: {f:?}");
    let fresh = subset_case(&e, &mut rng, &members, &host_names(&e), 60_000)?;
    let f = check_cases(&e, &[fresh])?;
    assert!(f.is_empty(), "seed {seed}: after restart: {f:?}");
    Ok(())
}
